//! When to restart an instance that exited: exponential backoff with a cap, reset
//! once the instance has stayed up for a while. Pure arithmetic, no timers, so the
//! rules are tested without waiting.

use std::time::Duration;

/// The restart policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Delay before the first restart.
    pub(crate) initial: Duration,
    /// The delay doubles after each quick exit, up to this.
    pub(crate) max: Duration,
    /// An instance that ran at least this long before exiting starts again from `initial`.
    pub(crate) reset_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(30),
        }
    }
}

/// The backoff state of one instance.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: Policy,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(policy: Policy) -> Self {
        Self {
            next: policy.initial,
            policy,
        }
    }

    /// The instance exited after running for `uptime`: how long to wait before
    /// starting it again.
    pub(crate) fn after_exit(&mut self, uptime: Duration) -> Duration {
        if uptime >= self.policy.reset_after {
            self.next = self.policy.initial;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.policy.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_millis(10);

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(Policy::default());
        let delays: Vec<u64> = (0..10)
            .map(|_| b.after_exit(QUICK).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
        );
    }

    #[test]
    fn resets_after_a_long_run() {
        let mut b = Backoff::new(Policy::default());
        for _ in 0..5 {
            b.after_exit(QUICK);
        }
        assert_eq!(
            b.after_exit(Duration::from_secs(31)),
            Duration::from_millis(500)
        );
        assert_eq!(b.after_exit(QUICK), Duration::from_secs(1));
    }

    #[test]
    fn a_run_just_short_of_reset_keeps_growing() {
        let mut b = Backoff::new(Policy::default());
        b.after_exit(QUICK);
        assert_eq!(
            b.after_exit(Duration::from_secs(29)),
            Duration::from_secs(1)
        );
    }
}
