//! Per-server live state: health, ejection, in-flight count and the connection
//! pool. Keyed by the server's stable id, it outlives routing snapshots, so a
//! reload that keeps a server keeps its health, counters and warm connections.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::metrics::ServerStats;
use crate::pool::Pool;

/// Active-check health of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No check has passed yet (or checks are configured and none has run).
    Unknown,
    /// Passing checks.
    Up,
    /// Failing checks.
    Down,
}

impl Health {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Health::Up,
            2 => Health::Down,
            _ => Health::Unknown,
        }
    }
    /// Lower-case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// Milliseconds on a process-local monotonic clock; cheap to store in atomics.
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// One upstream server's static identity and live state.
pub(crate) struct Server {
    pub(crate) id: Arc<str>,
    pub(crate) address: String,
    pub(crate) pool: Pool,
    pub(crate) stats: ServerStats,
    in_flight: AtomicU32,
    health: AtomicU8,
    /// Consecutive passes (positive) or failures (negative) of active checks.
    check_streak: std::sync::atomic::AtomicI32,
    passive_failures: AtomicU32,
    /// Passive ejection end (`now_ms`), 0 when not ejected.
    ejected_until: AtomicU64,
    ejections: AtomicU32,
}

impl Server {
    pub(crate) fn new(id: &str, address: &str, initial: Health) -> Arc<Self> {
        Arc::new(Self {
            id: Arc::from(id),
            address: address.to_string(),
            pool: Pool::new(),
            stats: ServerStats::default(),
            in_flight: AtomicU32::new(0),
            health: AtomicU8::new(initial as u8),
            check_streak: Default::default(),
            passive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
        })
    }

    pub(crate) fn health(&self) -> Health {
        Health::from_u8(self.health.load(Relaxed))
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    pub(crate) fn begin_request(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(crate) fn end_request(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }

    pub(crate) fn is_ejected(&self, now: u64) -> bool {
        let until = self.ejected_until.load(Relaxed);
        until != 0 && now < until
    }

    /// May new requests go here? `unknown_ok`: whether unchecked servers count as up.
    pub(crate) fn is_available(&self, now: u64, unknown_ok: bool) -> bool {
        let healthy = match self.health() {
            Health::Up => true,
            Health::Unknown => unknown_ok,
            Health::Down => false,
        };
        healthy && !self.is_ejected(now)
    }

    /// Record an active check result; returns the new health if it changed.
    pub(crate) fn record_check(&self, passed: bool, rise: u32, fall: u32) -> Option<Health> {
        let streak = self.check_streak.load(Relaxed);
        let streak = match (passed, streak >= 0) {
            (true, true) => streak.saturating_add(1),
            (true, false) => 1,
            (false, true) => -1,
            (false, false) => streak.saturating_sub(1),
        };
        self.check_streak.store(streak, Relaxed);
        let old = self.health();
        // A server never checked before comes up on its first pass: waiting for
        // `rise` passes would only delay a fresh deploy.
        let new = match old {
            Health::Unknown if passed => Health::Up,
            Health::Unknown if streak <= -(fall as i32) => Health::Down,
            Health::Down if streak >= rise as i32 => Health::Up,
            Health::Up if streak <= -(fall as i32) => Health::Down,
            _ => old,
        };
        if new != old {
            self.health.store(new as u8, Relaxed);
            if new == Health::Up {
                // A server that passes active checks again gets a clean slate.
                self.passive_failures.store(0, Relaxed);
            }
            Some(new)
        } else {
            None
        }
    }

    /// A real request succeeded: the passive failure streak ends.
    pub(crate) fn record_success(&self) {
        if self.passive_failures.load(Relaxed) != 0 {
            self.passive_failures.store(0, Relaxed);
        }
    }

    /// A real request failed (connect error, 5xx, timeout). Returns the ejection
    /// length if this failure ejected the server. `may_eject` is decided by the
    /// caller from the share of servers already ejected.
    pub(crate) fn record_failure(
        &self,
        threshold: u32,
        base: Duration,
        max: Duration,
        may_eject: impl FnOnce() -> bool,
    ) -> Option<Duration> {
        if threshold == 0 {
            return None;
        }
        let n = self.passive_failures.fetch_add(1, Relaxed) + 1;
        let now = now_ms();
        if n < threshold || self.is_ejected(now) || !may_eject() {
            return None;
        }
        let times = self.ejections.fetch_add(1, Relaxed);
        let length = base.saturating_mul(1u32 << times.min(16)).min(max);
        self.ejected_until
            .store(now + length.as_millis() as u64, Relaxed);
        self.passive_failures.store(0, Relaxed);
        Some(length)
    }

    /// The server has been fine for a while: later ejections start short again.
    pub(crate) fn forgive_ejections(&self) {
        if !self.is_ejected(now_ms()) {
            self.ejections.store(0, Relaxed);
        }
    }
}
