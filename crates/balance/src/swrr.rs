//! Smooth weighted round robin, as in nginx's `ngx_http_upstream_get_peer`.
//!
//! Each pick, every eligible server's `current` grows by its weight; the
//! server with the largest `current` wins and pays back the total eligible
//! weight. With weights 5, 1, 1 this gives `a a b a c a a` rather than
//! `a a a a a b c`: the heavy server's turns are spread out, so a burst does
//! not land on one backend.
//!
//! Guarantees:
//! - Starting from a fresh (or [`reset`](SmoothWeightedRoundRobin::reset))
//!   state with a fixed eligible set of total weight `W`, every window of `W`
//!   picks aligned to the start contains each server exactly `weight` times.
//! - Ineligible servers are skipped and their `current` is frozen, so the
//!   remaining servers keep their ratios among themselves (exactly, per
//!   period, when the eligible set has been fixed since the last reset).
//!   After eligibility changes, the deviation from the ideal share is bounded
//!   and does not grow with time: measured at most `W_all / W_eligible` picks
//!   per server (total weight over eligible weight; `tests/swrr.rs` asserts
//!   twice that), because the frozen counters are bounded by the weights.
//! - Weight 0 is never chosen; no eligible server with weight > 0 gives `None`.

/// Smooth weighted round robin over a fixed list of weights.
///
/// Holds one counter per server; the caller keeps it behind a `Mutex` (a
/// pick is O(n) with no allocation, far shorter than any lock hand-off) and
/// rebuilds it when the server list or the weights change.
#[derive(Clone, Debug)]
pub struct SmoothWeightedRoundRobin {
    weights: Box<[u32]>,
    current: Box<[i64]>,
}

impl SmoothWeightedRoundRobin {
    /// Builds a selector for servers `0..weights.len()` with these weights.
    #[must_use]
    pub fn new(weights: &[u32]) -> Self {
        Self {
            weights: weights.into(),
            current: vec![0; weights.len()].into_boxed_slice(),
        }
    }

    /// Number of servers (including weight-0 ones).
    #[must_use]
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True when built from an empty weight list.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The weights this selector was built from.
    #[must_use]
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// Forgets the position in the cycle, as if freshly built.
    pub fn reset(&mut self) {
        self.current.fill(0);
    }

    /// Picks the next server among those for which `eligible(index)` is true.
    ///
    /// `eligible` is called once per server with a non-zero weight and should
    /// answer consistently during one call. Returns `None` when no eligible
    /// server has a non-zero weight. O(n), allocation-free.
    pub fn next(&mut self, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, (&w, cur)) in self.weights.iter().zip(self.current.iter_mut()).enumerate() {
            if w == 0 || !eligible(i) {
                continue;
            }
            *cur += i64::from(w);
            total += i64::from(w);
            // Strictly greater: on a tie the lowest index wins, as in nginx.
            if best.is_none_or(|(_, c)| *cur > c) {
                best = Some((i, *cur));
            }
        }
        let (chosen, _) = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }
}
