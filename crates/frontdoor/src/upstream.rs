//! The upstream servers: each one's address and live state (health, ejection,
//! admin state, in-flight count, the connection pool, sticky users). Keyed by
//! the server's stable id, it outlives routing snapshots, so a reload that
//! keeps a server keeps its health, counters and warm connections.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::config::Protocol;
use crate::pool::Pool;
use crate::stats::ServerStats;
use crate::sticky::ServerSticky;
use crate::upstream_h2::H2Conn;
use crate::upstream_tls::UpstreamTls;

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

/// Operator-set state of a server, separate from its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdminState {
    /// Takes new and existing users.
    Active,
    /// Keeps its existing sticky users, takes no new ones; ends at the drain deadline.
    Draining,
    /// Takes no traffic at all.
    Maintenance,
}

impl AdminState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => AdminState::Draining,
            2 => AdminState::Maintenance,
            _ => AdminState::Active,
        }
    }
    /// Lower-case name for logs, metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Draining => "draining",
            AdminState::Maintenance => "maintenance",
        }
    }
}

/// One upstream server's static identity and live state.
pub(crate) struct Server {
    pub(crate) id: Arc<str>,
    /// The pool it serves in (the same host may serve in several, as separate servers).
    pub(crate) pool_name: Arc<str>,
    pub(crate) address: String,
    /// Its own health-check path (a discovered server's), else the pool's.
    pub(crate) health_path: Option<String>,
    /// Its TLS client when the entry says `tls = true`; part of its identity:
    /// different TLS settings make a different server with a fresh pool.
    pub(crate) tls: Option<Arc<UpstreamTls>>,
    /// What we speak to it; part of its identity like `tls`.
    pub(crate) protocol: Protocol,
    /// HTTP/1.1 connections, idle between requests.
    pub(crate) pool: Arc<Pool>,
    /// The shared HTTP/2 connection of an `h2c`/`h2` server.
    pub(crate) h2: Option<H2Conn>,
    pub(crate) stats: ServerStats,
    in_flight: AtomicU32,
    health: AtomicU8,
    /// Consecutive passes (positive) or failures (negative) of active checks.
    check_streak: std::sync::atomic::AtomicI32,
    passive_failures: AtomicU32,
    /// Passive ejection end (`now_ms`), 0 when not ejected.
    ejected_until: AtomicU64,
    ejections: AtomicU32,
    admin: AtomicU8,
    /// When draining began (`now_ms`), 0 when not draining.
    drain_started: AtomicU64,
    /// When the server last became available (joined, came up, left maintenance),
    /// for slow start. 0 = long ago.
    available_since: AtomicU64,
    /// Sticky users and counters (see `sticky/`).
    pub(crate) sticky: ServerSticky,
}

impl Server {
    pub(crate) fn new(
        pool: &Arc<str>,
        id: &str,
        address: &str,
        health_path: Option<&str>,
        tls: Option<Arc<UpstreamTls>>,
        protocol: Protocol,
        initial: Health,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: Arc::from(id),
            pool_name: pool.clone(),
            address: address.to_string(),
            health_path: health_path.map(str::to_string),
            tls,
            protocol,
            pool: Arc::new(Pool::new()),
            h2: protocol.is_http2().then(H2Conn::new),
            stats: ServerStats::default(),
            in_flight: AtomicU32::new(0),
            health: AtomicU8::new(initial as u8),
            check_streak: Default::default(),
            passive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            admin: AtomicU8::new(AdminState::Active as u8),
            drain_started: AtomicU64::new(0),
            // 0: present since start-up, no ramp. Servers added later are marked on join.
            available_since: AtomicU64::new(0),
            sticky: ServerSticky::default(),
        })
    }

    /// Close what is idle and stop reusing what is open (the server was
    /// ejected or went down); streams and requests under way finish.
    pub(crate) fn drop_connections(&self) {
        self.pool.clear();
        if let Some(h2) = &self.h2 {
            h2.clear();
        }
    }

    /// Drop connections idle for `idle` (called periodically).
    pub(crate) fn evict_idle(&self, idle: std::time::Duration) {
        self.pool.evict_stale(idle);
        if let Some(h2) = &self.h2 {
            h2.evict_idle(idle);
        }
    }

    pub(crate) fn health(&self) -> Health {
        Health::from_u8(self.health.load(Relaxed))
    }

    /// Upstream faults since the last success, ejection or passed check.
    pub(crate) fn passive_failures(&self) -> u32 {
        self.passive_failures.load(Relaxed)
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

    /// Healthy and not ejected: able to serve, whatever its admin state.
    pub(crate) fn is_available(&self, now: u64, unknown_ok: bool) -> bool {
        let healthy = match self.health() {
            Health::Up => true,
            Health::Unknown => unknown_ok,
            Health::Down => false,
        };
        healthy && !self.is_ejected(now)
    }

    pub(crate) fn admin_state(&self) -> AdminState {
        AdminState::from_u8(self.admin.load(Relaxed))
    }

    /// Set the admin state; returns the previous one.
    pub(crate) fn set_admin_state(&self, state: AdminState) -> AdminState {
        let old = AdminState::from_u8(self.admin.swap(state as u8, Relaxed));
        if state == AdminState::Draining && old != AdminState::Draining {
            self.drain_started.store(now_ms(), Relaxed);
        } else if state != AdminState::Draining {
            self.drain_started.store(0, Relaxed);
        }
        if old == AdminState::Maintenance && state == AdminState::Active {
            self.mark_available();
        }
        old
    }

    /// Milliseconds since draining began, if draining.
    pub(crate) fn draining_for(&self, now: u64) -> Option<u64> {
        let start = self.drain_started.load(Relaxed);
        (start != 0).then(|| now.saturating_sub(start))
    }

    /// Restart the slow-start ramp (server joined or came back).
    pub(crate) fn mark_available(&self) {
        self.available_since.store(now_ms(), Relaxed);
    }

    /// Slow-start factor in (0, 1]: the share of its weight a server takes now.
    pub(crate) fn ramp(&self, now: u64, slow_start_ms: u64) -> f64 {
        if slow_start_ms == 0 {
            return 1.0;
        }
        let since = now.saturating_sub(self.available_since.load(Relaxed));
        if self.available_since.load(Relaxed) == 0 {
            return 1.0;
        }
        if since >= slow_start_ms {
            1.0
        } else {
            // Start at 10% so a returning server is exercised at once, not starved.
            (0.1 + 0.9 * since as f64 / slow_start_ms as f64).min(1.0)
        }
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
            // Slow start after an outage, or for a server added while running;
            // not for the servers the front door started with.
            if new == Health::Up && (old == Health::Down || self.available_since.load(Relaxed) != 0)
            {
                self.mark_available();
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ejection_ends_on_time_and_the_next_one_lasts_twice_as_long() {
        let s = Server::new(
            &Arc::from("default"),
            "a",
            "127.0.0.1:1",
            None,
            None,
            Protocol::Http1,
            Health::Up,
        );
        let fail = || {
            s.record_failure(2, Duration::from_secs(10), Duration::from_secs(300), || {
                true
            })
        };
        assert_eq!(fail(), None);
        assert_eq!(fail(), Some(Duration::from_secs(10)));
        assert!(s.is_ejected(now_ms()));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(s.is_ejected(now_ms()));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(!s.is_ejected(now_ms()));
        assert_eq!(fail(), None);
        assert_eq!(fail(), Some(Duration::from_secs(20)));
    }
}
