//! Rate limits as GCRA (the generic cell rate algorithm): a token bucket kept as
//! one number per key, the *theoretical arrival time* (TAT) of the next request.
//! One integer per client is what lets millions of keys fit, and what lets
//! several front doors share a limit through the state server with one atomic
//! compare-and-set per request. Pure: the caller passes the clock.
//!
//! A limit of `rate` requests per `period` with `burst` allows `burst` requests
//! at once, then one every `period / rate`. A refused request learns how long to
//! wait (`Retry-After`).

use std::time::Duration;

/// A rate limit's parameters, in nanoseconds so the arithmetic is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Time between requests at the steady rate.
    interval_ns: u64,
    /// How far ahead of `now` the TAT may run: `(burst - 1) * interval`.
    tolerance_ns: u64,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it through and store this TAT for the key.
    Allow {
        /// The key's new theoretical arrival time (ns on the caller's clock).
        tat: u64,
    },
    /// Refuse it; the client may retry after this long. Store nothing.
    Deny {
        /// Until the next request would be allowed.
        retry_after: Duration,
    },
}

impl Gcra {
    /// `rate` requests per `period`, up to `burst` at once. `None` when
    /// `rate` or `burst` is zero or `period` is empty (a config error).
    pub fn new(rate: u32, period: Duration, burst: u32) -> Option<Gcra> {
        if rate == 0 || burst == 0 || period.is_zero() {
            return None;
        }
        let interval_ns = u64::try_from(period.as_nanos() / u128::from(rate))
            .ok()?
            .max(1);
        Some(Gcra {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(u64::from(burst - 1)),
        })
    }

    /// Decides one request for a key whose stored TAT is `tat` (0 for a key
    /// never seen), at time `now` (ns, monotonic).
    pub fn check(&self, tat: u64, now: u64) -> Decision {
        let tat = tat.max(now);
        let allow_at = tat.saturating_sub(self.tolerance_ns);
        if now < allow_at {
            Decision::Deny {
                retry_after: Duration::from_nanos(allow_at - now),
            }
        } else {
            Decision::Allow {
                tat: tat.saturating_add(self.interval_ns),
            }
        }
    }

    /// Time between requests at the steady rate, in nanoseconds.
    pub fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    /// How far ahead of now a key's TAT may run, in nanoseconds.
    pub fn tolerance_ns(&self) -> u64 {
        self.tolerance_ns
    }

    /// When a key's TAT is at or before `now`, its bucket is full again and
    /// the key can be forgotten (how the local table stays bounded).
    pub fn forgettable(tat: u64, now: u64) -> bool {
        tat <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn burst_then_steady_rate() {
        let g = Gcra::new(10, Duration::from_secs(1), 5).unwrap();
        let mut tat = 0;
        let now = 100 * S;
        for i in 0..5 {
            match g.check(tat, now) {
                Decision::Allow { tat: t } => tat = t,
                d => panic!("request {i} of the burst refused: {d:?}"),
            }
        }
        let Decision::Deny { retry_after } = g.check(tat, now) else {
            panic!("the sixth request at once must be refused")
        };
        assert_eq!(retry_after, Duration::from_millis(100));
        assert!(matches!(g.check(tat, now + S / 10), Decision::Allow { .. }));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(Gcra::new(0, Duration::from_secs(1), 1).is_none());
        assert!(Gcra::new(1, Duration::ZERO, 1).is_none());
        assert!(Gcra::new(1, Duration::from_secs(1), 0).is_none());
    }

    proptest! {
        /// Over any window, allowed requests never exceed burst + window / interval,
        /// and a client that keeps to the rate is never refused.
        #[test]
        fn never_more_than_burst_plus_rate(
            rate in 1u32..50,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..200_000_000, 1..300),
        ) {
            let g = Gcra::new(rate, Duration::from_secs(1), burst).unwrap();
            let (mut tat, mut now, mut allowed) = (0u64, S, 0u64);
            let start = now;
            for gap in gaps {
                now += gap;
                if let Decision::Allow { tat: t } = g.check(tat, now) {
                    tat = t;
                    allowed += 1;
                }
            }
            let window_ns = now - start;
            // The steady interval is period / rate rounded down to a nanosecond.
            let cap = u64::from(burst) + window_ns / (S / u64::from(rate));
            prop_assert!(allowed <= cap, "{allowed} allowed, cap {cap}");
        }

        #[test]
        fn keeping_to_the_rate_is_never_refused(rate in 1u32..1000, burst in 1u32..5, n in 1usize..200) {
            let g = Gcra::new(rate, Duration::from_secs(1), burst).unwrap();
            let step = S / u64::from(rate) + 1;
            let (mut tat, mut now) = (0u64, S);
            for _ in 0..n {
                match g.check(tat, now) {
                    Decision::Allow { tat: t } => tat = t,
                    Decision::Deny { .. } => prop_assert!(false, "refused at the steady rate"),
                }
                now += step;
            }
        }
    }
}
