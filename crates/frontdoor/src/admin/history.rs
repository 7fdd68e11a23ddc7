//! The dashboard's chart history, kept in the front door: once a second, each
//! server's requests/s, p99 and errors/s from the same status the dashboard
//! polls, the last [`SAMPLES`] of them (five minutes). `GET /api/history` serves
//! them, so a page opened late draws the past minutes at once instead of
//! starting empty. Sampled only while the admin listener runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{Control, Status};

/// Samples kept: one a second for five minutes.
pub(crate) const SAMPLES: usize = 300;

/// One server at one moment, as the charts draw it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Point {
    /// Requests per second.
    pub(crate) rate: f64,
    /// p99 latency in ms (0 before the first request).
    pub(crate) p99_ms: f64,
    /// Errors (5xx) per second.
    pub(crate) errors: f64,
}

/// Every server at one moment, keyed as the dashboard names them
/// (`id`, or `pool / id` outside the default pool).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    /// Milliseconds since the Unix epoch.
    pub(crate) t_ms: u64,
    pub(crate) servers: BTreeMap<String, Point>,
}

/// The last [`SAMPLES`] samples. A std mutex: held to push or copy, never
/// across an `.await`.
#[derive(Default)]
pub(crate) struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// Add a sample of `status` taken at `t_ms`, dropping the oldest past [`SAMPLES`].
    pub(crate) fn record(&self, status: &Status, t_ms: u64) {
        let servers = status
            .servers
            .iter()
            .map(|s| {
                let key = if s.pool == "default" {
                    s.id.clone()
                } else {
                    format!("{} / {}", s.pool, s.id)
                };
                let point = Point {
                    rate: s.rate,
                    p99_ms: if s.requests > 0 { s.p99_ms } else { 0.0 },
                    errors: s.rate * s.error_rate,
                };
                (key, point)
            })
            .collect();
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(Sample { t_ms, servers });
    }

    /// The samples, oldest first.
    pub(crate) fn list(&self) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().cloned().collect()
    }
}

/// Sample `control`'s status once a second until `stop`.
pub(crate) async fn run(
    history: std::sync::Arc<History>,
    control: Control,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let t_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        history.record(&control.status(), t_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        Status {
            listen: "127.0.0.1:8080".into(),
            algorithm: "round-robin".into(),
            sticky: None,
            servers: Vec::new(),
            pools: Vec::new(),
            routes: Vec::new(),
            session_loss_paths: Vec::new(),
            discovery: None,
            certificates: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_last_five_minutes_oldest_first() {
        let h = History::default();
        for t in 0..(SAMPLES as u64 + 25) {
            h.record(&status(), t);
        }
        let list = h.list();
        assert_eq!(list.len(), SAMPLES);
        assert_eq!(list[0].t_ms, 25);
        assert_eq!(list[SAMPLES - 1].t_ms, SAMPLES as u64 + 24);
    }
}
