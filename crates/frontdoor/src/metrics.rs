//! Prometheus metrics. Counters are plain atomics owned by the thing they count
//! (the process, or a [`Server`](crate::server::Server)), so the request path never
//! allocates label sets or takes a lock; [`render`] writes the text exposition
//! format at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::snapshot::Snapshot;

/// A monotonically increasing counter.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Process-wide counters.
#[derive(Default)]
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
    /// Responses by status class (index 1..=5), as sent to clients.
    responses: [Counter; 6],
    /// Responses the front door generated itself (errors), not a server.
    pub(crate) local_errors: Counter,
}

impl Metrics {
    pub(crate) fn record(&self, status: u16, local: bool) {
        self.responses[usize::from(status / 100).min(5)].inc();
        if local {
            self.local_errors.inc();
        }
    }
}

/// Latency histogram buckets, in seconds (upper bounds).
pub(crate) const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Per-server counters, recorded when a response finishes.
#[derive(Default)]
pub(crate) struct ServerStats {
    responses: [Counter; 6],
    buckets: [Counter; BUCKETS.len()],
    count: Counter,
    sum_micros: Counter,
    /// Once-a-second samples (ms, count, 5xx, buckets) for rates and recent percentiles.
    window: std::sync::Mutex<std::collections::VecDeque<Sample>>,
}

#[derive(Clone)]
struct Sample {
    at: u64,
    count: u64,
    errors: u64,
    buckets: [u64; BUCKETS.len()],
}

/// Recent figures for one server (last 10 s where a window exists).
pub(crate) struct Summary {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) rate: f64,
    pub(crate) error_rate: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

impl ServerStats {
    pub(crate) fn record(&self, status: u16, elapsed: Duration) {
        self.responses[usize::from(status / 100).min(5)].inc();
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].inc();
        }
        self.count.inc();
        self.sum_micros
            .0
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    fn snapshot(&self, at: u64) -> Sample {
        let mut buckets = [0; BUCKETS.len()];
        for (b, c) in buckets.iter_mut().zip(&self.buckets) {
            *b = c.get();
        }
        Sample {
            at,
            count: self.count.get(),
            errors: self.responses[5].get(),
            buckets,
        }
    }

    /// Take a once-a-second sample (keeps 11: a 10-second window).
    pub(crate) fn sample(&self, now: u64) {
        let s = self.snapshot(now);
        let mut w = self.window.lock().expect("window lock");
        w.push_back(s);
        while w.len() > 11 {
            w.pop_front();
        }
    }

    pub(crate) fn summary(&self, now: u64) -> Summary {
        let cur = self.snapshot(now);
        let oldest = self.window.lock().expect("window lock").front().cloned();
        let base = oldest.unwrap_or(Sample {
            at: 0,
            count: 0,
            errors: 0,
            buckets: [0; BUCKETS.len()],
        });
        let secs = (now.saturating_sub(base.at) as f64 / 1000.0).max(1.0);
        let n = cur.count - base.count;
        let errors = cur.errors - base.errors;
        let mut recent = [0u64; BUCKETS.len()];
        for (i, r) in recent.iter_mut().enumerate() {
            *r = cur.buckets[i] - base.buckets[i];
        }
        Summary {
            requests: cur.count,
            errors: cur.errors,
            rate: n as f64 / secs,
            error_rate: if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            },
            p50_ms: quantile(&recent, 0.5) * 1000.0,
            p99_ms: quantile(&recent, 0.99) * 1000.0,
        }
    }

    /// Responses with status class `class` (2 for 2xx, …).
    pub(crate) fn responses(&self, class: usize) -> u64 {
        self.responses[class.min(5)].get()
    }
}

/// Upper bound of the bucket holding quantile `q` (0 when empty).
fn quantile(buckets: &[u64; BUCKETS.len()], q: f64) -> f64 {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = (q * total as f64).ceil() as u64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return BUCKETS[i];
        }
    }
    BUCKETS[BUCKETS.len() - 1]
}

/// The text exposition of every front door metric.
pub(crate) fn render(m: &Metrics, snap: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        "bigstep_retries_total",
        "Requests retried on another server.",
        m.retries.get(),
    );
    counter(
        "bigstep_ejections_total",
        "Servers ejected by passive health checks.",
        m.ejections.get(),
    );
    counter(
        "bigstep_health_transitions_total",
        "Active health state changes.",
        m.health_transitions.get(),
    );
    counter(
        "bigstep_connections_accepted_total",
        "Client connections accepted.",
        m.connections_accepted.get(),
    );
    counter(
        "bigstep_connections_rejected_total",
        "Client connections refused because max_connections was reached.",
        m.connections_rejected.get(),
    );
    counter(
        "bigstep_request_header_timeouts_total",
        "Clients sent a 408 for a slow request head.",
        m.header_timeouts.get(),
    );
    counter(
        "bigstep_local_errors_total",
        "Error responses generated by the front door itself.",
        m.local_errors.get(),
    );
    let _ = writeln!(
        out,
        "# HELP bigstep_client_connections Open client connections.\n# TYPE bigstep_client_connections gauge\nbigstep_client_connections {}",
        m.open_connections.load(Relaxed)
    );
    let _ = writeln!(out, "# HELP bigstep_responses_total Responses sent to clients by status class.\n# TYPE bigstep_responses_total counter");
    for class in 1..=5 {
        let _ = writeln!(
            out,
            "bigstep_responses_total{{code=\"{class}xx\"}} {}",
            m.responses[class].get()
        );
    }
    let _ = writeln!(out, "# HELP bigstep_server_responses_total Responses from each server by status class.\n# TYPE bigstep_server_responses_total counter");
    for s in &snap.servers {
        for class in 1..=5 {
            let _ = writeln!(
                out,
                "bigstep_server_responses_total{{server=\"{}\",code=\"{class}xx\"}} {}",
                s.id,
                s.stats.responses(class)
            );
        }
    }
    let per_server = |out: &mut String,
                      name: &str,
                      help: &str,
                      kind: &str,
                      f: &dyn Fn(&crate::server::Server) -> u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in &snap.servers {
            let _ = writeln!(out, "{name}{{server=\"{}\"}} {}", s.id, f(s));
        }
    };
    per_server(
        &mut out,
        "bigstep_sticky_hits_total",
        "Requests routed to their sticky server.",
        "counter",
        &|s| s.sticky_hits.get(),
    );
    per_server(
        &mut out,
        "bigstep_sticky_reroutes_total",
        "Sticky users re-routed away from this server (down, removed, maintenance).",
        "counter",
        &|s| s.sticky_reroutes_out.get(),
    );
    per_server(
        &mut out,
        "bigstep_session_loss_total",
        "Responses that replaced the session cookie the request carried.",
        "counter",
        &|s| s.session_losses.get(),
    );
    per_server(
        &mut out,
        "bigstep_server_draining",
        "1 while the server drains.",
        "gauge",
        &|s| u64::from(s.admin_state() == crate::server::AdminState::Draining),
    );
    per_server(
        &mut out,
        "bigstep_server_maintenance",
        "1 while the server is in maintenance.",
        "gauge",
        &|s| u64::from(s.admin_state() == crate::server::AdminState::Maintenance),
    );
    let _ = writeln!(out, "# HELP bigstep_server_in_flight Requests in flight per server.\n# TYPE bigstep_server_in_flight gauge");
    for s in &snap.servers {
        let _ = writeln!(
            out,
            "bigstep_server_in_flight{{server=\"{}\"}} {}",
            s.id,
            s.in_flight()
        );
    }
    let _ = writeln!(out, "# HELP bigstep_server_up Whether a server takes traffic (healthy and not ejected).\n# TYPE bigstep_server_up gauge");
    let now = crate::server::now_ms();
    for s in &snap.servers {
        let _ = writeln!(
            out,
            "bigstep_server_up{{server=\"{}\",health=\"{}\"}} {}",
            s.id,
            s.health().as_str(),
            u8::from(s.is_available(now, snap.unknown_ok()))
        );
    }
    let _ = writeln!(out, "# HELP bigstep_server_request_duration_seconds Time from request to end of response, per server.\n# TYPE bigstep_server_request_duration_seconds histogram");
    for s in &snap.servers {
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += s.stats.buckets[i].get();
            let _ = writeln!(out, "bigstep_server_request_duration_seconds_bucket{{server=\"{}\",le=\"{b}\"}} {cumulative}", s.id);
        }
        let _ = writeln!(
            out,
            "bigstep_server_request_duration_seconds_bucket{{server=\"{}\",le=\"+Inf\"}} {}",
            s.id,
            s.stats.count.get()
        );
        let _ = writeln!(
            out,
            "bigstep_server_request_duration_seconds_sum{{server=\"{}\"}} {}",
            s.id,
            s.stats.sum_micros.get() as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "bigstep_server_request_duration_seconds_count{{server=\"{}\"}} {}",
            s.id,
            s.stats.count.get()
        );
    }
    out
}
