//! Prometheus metrics, on the process's `prometheus-client` registry
//! (`service::Metrics`), like every other role's.
//!
//! Counters stay plain atomics owned by the thing they count (the process, a
//! [`Server`](crate::upstream::Server), a pool, a route), so the request path
//! never allocates a label set or takes a lock. One collector per front door
//! reads them at scrape time, walking the current snapshot: a server, pool or
//! route a reload removed simply stops being reported, with nothing to
//! unregister. Names, labels and types are the ones dashboards and tests read;
//! the registry renders them as OpenMetrics text.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::stats::{Counter, ServerStats, BUCKETS};
use crate::upstream::{AdminState, Server};
use crate::Shared;

/// Process-wide counters.
pub(crate) struct Metrics {
    pub(crate) retries: Counter,
    pub(crate) ejections: Counter,
    pub(crate) health_transitions: Counter,
    pub(crate) connections_accepted: Counter,
    pub(crate) connections_rejected: Counter,
    pub(crate) header_timeouts: Counter,
    pub(crate) config_changes: Counter,
    pub(crate) config_changes_refused: Counter,
    pub(crate) open_connections: AtomicU64,
    pub(crate) tls_handshakes: Counter,
    pub(crate) tls_handshake_failures: Counter,
    pub(crate) tls_handshake_timeouts: Counter,
    pub(crate) http2_connections: Counter,
    pub(crate) http2_protocol_errors: Counter,
    pub(crate) http2_websockets: Counter,
    pub(crate) http2_stream_panics: Counter,
    pub(crate) redirects: Counter,
    /// Responses by status class (index 1..=5), as sent to clients.
    responses: [Counter; 6],
    /// Responses the front door generated itself (errors), not a server.
    pub(crate) local_errors: Counter,
    /// The registry these are reported in (shared with the other roles of the
    /// process when the binary passes one in).
    registry: service::Metrics,
}

impl Metrics {
    /// Counters reported in `registry` once [`register`] has run.
    pub(crate) fn new(registry: &service::Metrics) -> Metrics {
        Metrics {
            retries: Counter::default(),
            ejections: Counter::default(),
            health_transitions: Counter::default(),
            connections_accepted: Counter::default(),
            connections_rejected: Counter::default(),
            header_timeouts: Counter::default(),
            config_changes: Counter::default(),
            config_changes_refused: Counter::default(),
            open_connections: AtomicU64::new(0),
            tls_handshakes: Counter::default(),
            tls_handshake_failures: Counter::default(),
            tls_handshake_timeouts: Counter::default(),
            http2_connections: Counter::default(),
            http2_protocol_errors: Counter::default(),
            http2_websockets: Counter::default(),
            http2_stream_panics: Counter::default(),
            redirects: Counter::default(),
            responses: Default::default(),
            local_errors: Counter::default(),
            registry: registry.clone(),
        }
    }

    pub(crate) fn record(&self, status: u16, local: bool) {
        self.responses[usize::from(status / 100).min(5)].inc();
        if local {
            self.local_errors.inc();
        }
    }

    /// The text exposition (OpenMetrics) of the whole registry.
    pub(crate) fn render(&self) -> String {
        self.registry.render()
    }

    /// The content type of [`render`](Self::render)'s text.
    pub(crate) const CONTENT_TYPE: &'static str = service::metrics::CONTENT_TYPE;
}

/// Registers `shared`'s collector in its registry (once, when the front door
/// is built). The collector holds the front door weakly: once it is gone the
/// registry reports nothing for it.
pub(crate) fn register(shared: &Arc<Shared>) {
    let collector = FrontDoorCollector(Arc::downgrade(shared));
    shared
        .metrics
        .registry
        .register("bigstep", |r| r.register_collector(Box::new(collector)));
}

struct FrontDoorCollector(Weak<Shared>);

impl std::fmt::Debug for FrontDoorCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrontDoorCollector")
    }
}

/// `code` label values by status class.
const CODES: [&str; 6] = ["", "1xx", "2xx", "3xx", "4xx", "5xx"];

type Fmt = Result<(), std::fmt::Error>;

fn gauge_value(v: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

/// One unlabelled counter (`name` without `_total`: the encoder adds it).
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Fmt {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// One family: `series` gives each label set and its value.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl Iterator<Item = (L, M)>,
) -> Fmt {
    let mut f = e.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in series {
        m.encode(f.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A family with one series per server (`server`, `pool` labels).
fn per_server(
    e: &mut DescriptorEncoder,
    servers: &[(&Server, &str, bool)],
    name: &str,
    help: &str,
    kind: MetricType,
    f: &dyn Fn(&Server) -> u64,
) -> Fmt {
    let series = servers
        .iter()
        .map(|(s, pool, _)| ([("server", &*s.id), ("pool", *pool)], f(s)));
    if matches!(kind, MetricType::Counter) {
        family(
            e,
            name,
            help,
            kind,
            series.map(|(l, v)| (l, ConstCounter::new(v))),
        )
    } else {
        family(
            e,
            name,
            help,
            kind,
            series.map(|(l, v)| (l, gauge_value(v))),
        )
    }
}

/// One histogram family from [`ServerStats`] (its buckets are not cumulative;
/// the encoder sums them, and everything past the last bound is `+Inf`).
fn histogram<'a, L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, &'a ServerStats)>,
) -> Fmt {
    let mut f = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, st) in series {
        let mut buckets = [(0.0, 0); BUCKETS.len() + 1];
        let mut within = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = st.buckets[i].get();
            within += n;
            buckets[i] = (*b, n);
        }
        // Read after the buckets, which are bumped first: never short.
        let count = st.count.get();
        buckets[BUCKETS.len()] = (f64::MAX, count.saturating_sub(within));
        f.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            st.sum_micros.get() as f64 / 1e6,
            count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

impl Collector for FrontDoorCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Fmt {
        let Some(shared) = self.0.upgrade() else {
            return Ok(());
        };
        let m = &shared.metrics;
        let e = &mut e;
        for (name, help, c) in [
            ("retries", "Requests retried on another server.", &m.retries),
            ("ejections", "Servers ejected by passive health checks.", &m.ejections),
            ("health_transitions", "Active health state changes.", &m.health_transitions),
            ("connections_accepted", "Client connections accepted.", &m.connections_accepted),
            (
                "connections_rejected",
                "Client connections refused because max_connections was reached.",
                &m.connections_rejected,
            ),
            (
                "request_header_timeouts",
                "Clients sent a 408 for a slow request head.",
                &m.header_timeouts,
            ),
            (
                "config_changes",
                "Changes applied (reloads, API and `bigstep up` changes, certificate reloads).",
                &m.config_changes,
            ),
            (
                "config_changes_refused",
                "Changes refused; the running configuration stayed.",
                &m.config_changes_refused,
            ),
            ("tls_handshakes", "TLS handshakes completed.", &m.tls_handshakes),
            (
                "tls_handshake_failures",
                "TLS handshakes that failed (bad ClientHello, unknown name refused, no common version, timeout).",
                &m.tls_handshake_failures,
            ),
            (
                "tls_handshake_timeouts",
                "TLS handshakes not finished within timeouts.request_header.",
                &m.tls_handshake_timeouts,
            ),
            (
                "http2_connections",
                "Client connections that spoke HTTP/2 (ALPN h2 or h2c).",
                &m.http2_connections,
            ),
            (
                "http2_protocol_errors",
                "HTTP/2 connections closed for a protocol error or a flood limit (rapid reset, oversized header list, too many streams).",
                &m.http2_protocol_errors,
            ),
            (
                "http2_websockets",
                "WebSocket tunnels opened over HTTP/2 (RFC 8441 extended CONNECT).",
                &m.http2_websockets,
            ),
            (
                "http2_stream_panics",
                "HTTP/2 streams ended by a panic in their proxy work: the stream is reset (INTERNAL_ERROR), the connection's other streams go on.",
                &m.http2_stream_panics,
            ),
            (
                "https_redirects",
                "Plain-HTTP requests answered with a redirect to HTTPS (or an ACME challenge).",
                &m.redirects,
            ),
            (
                "local_errors",
                "Error responses generated by the front door itself.",
                &m.local_errors,
            ),
        ] {
            counter(e, name, help, c.get())?;
        }
        gauge_value(m.open_connections.load(Relaxed)).encode(e.encode_descriptor(
            "client_connections",
            "Open client connections.",
            None,
            MetricType::Gauge,
        )?)?;
        family(
            e,
            "responses",
            "Responses sent to clients by status class.",
            MetricType::Counter,
            (1..=5).map(|c| {
                (
                    [("code", CODES[c])],
                    ConstCounter::new(m.responses[c].get()),
                )
            }),
        )?;

        let snap = shared.snapshot.load();
        // Every server is labelled with its pool: one host may serve in several.
        let servers: Vec<(&Server, &str, bool)> = snap
            .pools
            .iter()
            .flat_map(|p| {
                p.servers
                    .iter()
                    .map(move |s| (&**s, &*p.name, p.unknown_ok()))
            })
            .collect();
        let per_server = |e: &mut DescriptorEncoder<'_>,
                          name: &str,
                          help: &str,
                          kind: MetricType,
                          f: &dyn Fn(&Server) -> u64| {
            per_server(e, &servers, name, help, kind, f)
        };
        family(
            e,
            "server_responses",
            "Responses from each server by status class.",
            MetricType::Counter,
            servers.iter().flat_map(|(s, pool, _)| {
                (1..=5).map(move |c| {
                    (
                        [("server", &*s.id), ("pool", *pool), ("code", CODES[c])],
                        ConstCounter::new(s.stats.responses(c)),
                    )
                })
            }),
        )?;
        per_server(
            e,
            "sticky_hits",
            "Requests routed to their sticky server.",
            MetricType::Counter,
            &|s| s.sticky.hits.get(),
        )?;
        per_server(
            e,
            "sticky_reroutes",
            "Sticky users re-routed away from this server (down, removed, maintenance).",
            MetricType::Counter,
            &|s| s.sticky.reroutes_out.get(),
        )?;
        per_server(
            e,
            "session_loss",
            "Responses that replaced the session cookie the request carried.",
            MetricType::Counter,
            &|s| s.sticky.session_losses.get(),
        )?;
        per_server(
            e,
            "server_draining",
            "1 while the server drains.",
            MetricType::Gauge,
            &|s| u64::from(s.admin_state() == AdminState::Draining),
        )?;
        per_server(
            e,
            "server_maintenance",
            "1 while the server is in maintenance.",
            MetricType::Gauge,
            &|s| u64::from(s.admin_state() == AdminState::Maintenance),
        )?;
        per_server(
            e,
            "server_in_flight",
            "Requests in flight per server.",
            MetricType::Gauge,
            &|s| u64::from(s.in_flight()),
        )?;
        let now = crate::clock::now_ms();
        family(
            e,
            "server_up",
            "Whether a server takes traffic (healthy and not ejected).",
            MetricType::Gauge,
            servers.iter().map(|(s, pool, unknown_ok)| {
                (
                    [
                        ("server", &*s.id),
                        ("pool", *pool),
                        ("health", s.health().as_str()),
                    ],
                    gauge_value(u64::from(s.is_available(now, *unknown_ok))),
                )
            }),
        )?;
        histogram(
            e,
            "server_request_duration_seconds",
            "Time from request to end of response, per server.",
            servers
                .iter()
                .map(|(s, pool, _)| ([("server", &*s.id), ("pool", *pool)], &s.stats)),
        )?;

        family(
            e,
            "pool_responses",
            "Responses of each pool by status class.",
            MetricType::Counter,
            snap.pools.iter().flat_map(|p| {
                (1..=5).map(move |c| {
                    (
                        [("pool", &*p.name), ("code", CODES[c])],
                        ConstCounter::new(p.stats.responses(c)),
                    )
                })
            }),
        )?;
        histogram(
            e,
            "pool_request_duration_seconds",
            "Time from request to end of response, per pool.",
            snap.pools.iter().map(|p| ([("pool", &*p.name)], &*p.stats)),
        )?;
        let routes = snap.routes.all();
        family(
            e,
            "route_responses",
            "Responses of each route by status class.",
            MetricType::Counter,
            routes.iter().flat_map(|r| {
                (1..=5).map(move |c| {
                    (
                        [("route", &*r.name), ("code", CODES[c])],
                        ConstCounter::new(r.live.stats.responses(c)),
                    )
                })
            }),
        )?;
        family(
            e,
            "route_rate_limited",
            "Requests a route's rate limit refused (429).",
            MetricType::Counter,
            routes.iter().map(|r| {
                (
                    [("route", &*r.name)],
                    ConstCounter::new(r.live.limited.get()),
                )
            }),
        )?;
        if let Some(store) = &snap.routes.store {
            counter(
                e,
                "rate_limit_store_errors",
                "Shared rate-limit checks the store did not answer (the requests were let through).",
                store.errors.get(),
            )?;
        }
        histogram(
            e,
            "route_request_duration_seconds",
            "Time from request to end of response, per route.",
            routes
                .iter()
                .map(|r| ([("route", &*r.name)], &r.live.stats)),
        )?;

        if let Some(d) = shared.discovery.figures() {
            gauge_value(u64::from(d.up)).encode(e.encode_descriptor(
                "discovery_registry_up",
                "Whether the last read of the registry succeeded.",
                None,
                MetricType::Gauge,
            )?)?;
            gauge_value(d.members as u64).encode(e.encode_descriptor(
                "discovery_members",
                "Servers added from the registry.",
                None,
                MetricType::Gauge,
            )?)?;
            counter(e, "discovery_reads", "Full reads of the registry.", d.reads)?;
            counter(
                e,
                "discovery_read_errors",
                "Reads of the registry that failed.",
                d.read_errors,
            )?;
        }
        drop(snap);

        // An ACME certificate not obtained yet has no line.
        let certs = crate::Control(shared.clone()).certificates();
        if !certs.is_empty() {
            let names: Vec<(String, i64)> = certs
                .iter()
                .filter_map(|c| {
                    let days = c.expires_in_days?;
                    Some((
                        c.name.replace(['"', '\\', '\n'], "_"),
                        (days * 86_400.0).round() as i64,
                    ))
                })
                .collect();
            family(
                e,
                "tls_cert_expiry_seconds",
                "Seconds until the certificate expires (negative: expired).",
                MetricType::Gauge,
                names
                    .iter()
                    .map(|(name, secs)| ([("name", name.as_str())], ConstGauge::new(*secs))),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter as PromCounter;

    use crate::{Config, FrontDoor};

    /// One registry for the process: the front door's families render beside
    /// another role's, with the names, labels and types dashboards read.
    #[tokio::test]
    async fn a_shared_registry_renders_every_role() {
        let registry = service::Metrics::new();
        let other = PromCounter::<u64>::default();
        registry.register("bigstep_files", |r| {
            r.register("requests", "Requests.", other.clone())
        });
        other.inc();
        let cfg = Config::from_toml(
            "listen = \"127.0.0.1:0\"\n[[servers]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n\
             [[pools]]\nname = \"api\"\n[[pools.servers]]\nname = \"b\"\naddress = \"127.0.0.1:2\"\n\
             [[routes]]\nname = \"r1\"\npath_prefix = \"/api\"\npool = \"api\"\n",
        )
        .unwrap();
        let fd = FrontDoor::bind_with(cfg, &registry).await.unwrap();
        {
            let control = fd.control();
            let m = &control.0.metrics;
            m.retries.inc();
            m.record(503, true);
            m.open_connections.fetch_add(2, super::Relaxed);
        }
        let text = fd.control().metrics();
        assert_eq!(text, registry.render());
        for line in [
            "bigstep_files_requests_total 1",
            "# TYPE bigstep_retries counter",
            "bigstep_retries_total 1",
            "bigstep_local_errors_total 1",
            "bigstep_responses_total{code=\"5xx\"} 1",
            "bigstep_client_connections 2",
            "# TYPE bigstep_server_up gauge",
            "bigstep_server_up{server=\"a\",pool=\"default\",health=\"up\"} 1",
            "bigstep_server_responses_total{server=\"b\",pool=\"api\",code=\"2xx\"} 0",
            "# TYPE bigstep_server_request_duration_seconds histogram",
            "bigstep_server_request_duration_seconds_bucket{le=\"+Inf\",server=\"b\",pool=\"api\"} 0",
            "bigstep_pool_responses_total{pool=\"api\",code=\"5xx\"} 0",
            "bigstep_route_rate_limited_total{route=\"r1\"} 0",
            "bigstep_route_request_duration_seconds_count{route=\"r1\"} 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        // Off unless configured.
        assert!(!text.contains("bigstep_discovery_"), "{text}");
        assert!(!text.contains("bigstep_tls_cert_expiry_seconds"), "{text}");
        // The front door gone, the registry reports nothing of it.
        drop(fd);
        let after = registry.render();
        assert!(after.contains("bigstep_files_requests_total 1"), "{after}");
        assert!(!after.contains("bigstep_retries_total"), "{after}");
    }
}
