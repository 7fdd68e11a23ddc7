//! The front door's clock: milliseconds on a process-local monotonic clock,
//! cheap to store in atomics (ejection deadlines, drain starts, slow start,
//! sticky users' last visits). A leaf every other module may read.
//!
//! It runs on `tokio::time`, so tests pause and advance it
//! (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`) instead of
//! sleeping; outside a paused runtime it is the system's monotonic clock.

use std::sync::OnceLock;

use tokio::time::Instant;

/// Milliseconds since the clock was first read, plus one (0 means "never").
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Nanoseconds on the same clock (rate limits need finer steps than a millisecond).
pub(crate) fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}
