//! Prometheus metrics: a `prometheus-client` collector in the process's
//! registry (served at `/metrics` by the `service` crate).
//!
//! Every figure already lives in the store, so the collector reads them under
//! the lock at scrape time: nothing to update on the command path, nothing to
//! keep in sync. It holds the server weakly: a stopped server reports nothing.

use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::shared::Shared;

/// Registers the state server's metrics (prefix `bigstep_state`) in `metrics`.
pub(crate) fn register(metrics: &service::Metrics, shared: &Arc<Shared>) {
    let collector = StateCollector(Arc::downgrade(shared));
    metrics.register("bigstep_state", |r| {
        r.register_collector(Box::new(collector))
    });
}

struct StateCollector(Weak<Shared>);

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

/// One figure read from the store.
enum Figure {
    Counter(u64),
    Gauge(i64),
    /// A gauge per database: `(db, value)`.
    PerDb(Vec<(String, i64)>),
}

fn gauge(v: u64) -> Figure {
    Figure::Gauge(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(shared) = self.0.upgrade() else {
            return Ok(());
        };
        // Read everything under one short lock, encode after releasing it.
        let figures: Vec<(&str, &str, Figure)> = {
            // A busy script holds the store: this scrape has no figures
            // (waiting would hold the metrics server's thread).
            let Ok(s) = shared.lock_unless_busy() else {
                return Ok(());
            };
            let keys = s
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.keys.is_empty())
                .map(|(i, d)| (i.to_string(), d.keys.len() as i64))
                .collect();
            vec![
                (
                    "connected_clients",
                    "Connected clients.",
                    gauge(s.clients.len() as u64),
                ),
                (
                    "blocked_clients",
                    "Clients blocked in BLPOP and friends.",
                    gauge(s.blocked.len() as u64),
                ),
                (
                    "commands",
                    "Commands processed.",
                    Figure::Counter(s.stats.commands),
                ),
                (
                    "connections",
                    "Connections accepted.",
                    Figure::Counter(s.stats.connections),
                ),
                (
                    "rejected_connections",
                    "Connections refused (protected mode, maxclients).",
                    Figure::Counter(s.stats.rejected),
                ),
                (
                    "expired_keys",
                    "Keys removed by expiry.",
                    Figure::Counter(s.stats.expired),
                ),
                (
                    "evicted_keys",
                    "Keys evicted by maxmemory.",
                    Figure::Counter(s.stats.evicted),
                ),
                ("keyspace_hits", "GET hits.", Figure::Counter(s.stats.hits)),
                (
                    "keyspace_misses",
                    "GET misses.",
                    Figure::Counter(s.stats.misses),
                ),
                ("keys", "Keys per database.", Figure::PerDb(keys)),
                (
                    "pubsub_channels",
                    "Channels with subscribers.",
                    gauge(s.channels.len() as u64),
                ),
                (
                    "pubsub_patterns",
                    "Subscribed patterns.",
                    gauge(s.patterns.len() as u64),
                ),
                (
                    "used_memory_bytes",
                    "Estimated data memory (tracked when maxmemory is set).",
                    gauge(s.used_memory as u64),
                ),
                (
                    "maxmemory_bytes",
                    "Configured maxmemory (0 = none).",
                    gauge(s.cfg.maxmemory),
                ),
                (
                    "aof_size_bytes",
                    "Append-only log size.",
                    gauge(s.aof_current_size),
                ),
                (
                    "changes",
                    "Keyspace changes since start.",
                    Figure::Counter(s.dirty),
                ),
            ]
        };
        for (name, help, figure) in figures {
            match figure {
                Figure::Counter(v) => {
                    let m = ConstCounter::new(v);
                    m.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
                }
                Figure::Gauge(v) => {
                    let m = ConstGauge::new(v);
                    m.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
                }
                Figure::PerDb(per_db) => {
                    let mut family =
                        encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                    for (db, v) in per_db {
                        let labels = [("db", db)];
                        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        // Outside the lock: reading /proc.
        let rss = ConstGauge::new(i64::try_from(crate::evict::rss_bytes()).unwrap_or(i64::MAX));
        rss.encode(encoder.encode_descriptor(
            "resident_memory_bytes",
            "Process RSS.",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}
