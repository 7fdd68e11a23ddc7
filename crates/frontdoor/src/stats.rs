//! Counters and per-server request statistics: plain atomics (and a small
//! once-a-second window) that the request path bumps without allocating. A leaf:
//! the servers own these, [`metrics`](crate::metrics) and the admin status read them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

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

/// Latency histogram buckets, in seconds (upper bounds).
pub(crate) const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Per-server counters, recorded when a response finishes.
#[derive(Default)]
pub(crate) struct ServerStats {
    responses: [Counter; 6],
    pub(crate) buckets: [Counter; BUCKETS.len()],
    pub(crate) count: Counter,
    pub(crate) sum_micros: Counter,
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
