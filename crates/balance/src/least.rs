//! Load-aware choices: least in flight, and power of two choices.
//!
//! Both read the caller's live counters through closures, so the crate owns
//! no state and the same functions serve any counter type (atomics, plain
//! slices in tests).
//!
//! - [`least_in_flight`] scans every server: the exact minimum of
//!   `in_flight / weight`, ties spread by a caller-rotated start. O(n).
//! - [`power_of_two_choices`] looks at two random eligible servers and takes
//!   the less loaded: nearly as good as the global minimum in practice
//!   (max load `ln ln n / ln 2` above average instead of `ln n / ln ln n`
//!   for one random choice, Mitzenmacher 2001), and it avoids the herd
//!   effect of every front door sending to the same "least loaded" server
//!   when their counters are stale. O(1) when both sampled servers are
//!   eligible, otherwise one O(n) pass.

use crate::hash::fmix64;

/// Chooses the eligible server with the fewest requests in flight relative to
/// its weight.
///
/// `in_flight(a) / weight(a) < in_flight(b) / weight(b)` is compared as
/// `in_flight(a) * weight(b) < in_flight(b) * weight(a)` in `u64`: exact, no
/// floats. Servers with weight 0 are never chosen. Among equal ratios the
/// first one met scanning from `start % n` (wrapping) wins, so a caller that
/// increments `start` on every request spreads ties (e.g. all idle) round
/// robin instead of always hitting server 0. Note that when every server is
/// idle the weights play no part; they matter once requests queue up.
///
/// Returns `None` when `n == 0` or no server is both eligible and weighted.
/// O(n), allocation-free.
#[must_use]
pub fn least_in_flight(
    n: usize,
    eligible: impl Fn(usize) -> bool,
    in_flight: impl Fn(usize) -> u32,
    weight: impl Fn(usize) -> u32,
    start: usize,
) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let start = start % n;
    let mut best: Option<(usize, u64, u64)> = None; // (index, in flight, weight)
    for k in 0..n {
        let i = if k < n - start {
            start + k
        } else {
            start + k - n
        };
        let w = u64::from(weight(i));
        if w == 0 || !eligible(i) {
            continue;
        }
        let load = u64::from(in_flight(i));
        match best {
            // Strictly less: ties keep the earlier server in scan order.
            Some((_, bl, bw)) if load * bw >= bl * w => {}
            _ => best = Some((i, load, w)),
        }
    }
    best.map(|(i, _, _)| i)
}

/// Picks two distinct eligible servers at random: the candidates that
/// [`power_of_two_choices`] compares.
///
/// `rand_a` and `rand_b` should be independent uniform random numbers (the
/// caller's RNG: keeping randomness outside makes this deterministic and
/// testable). Returns `None` with no eligible server, `(i, i)` with exactly
/// one, and otherwise an ordered pair of distinct eligible servers, every
/// pair about equally likely.
///
/// First tries the pair the randoms name directly (O(1)); if either is
/// ineligible, counts the eligible servers and picks by rank (O(n)), using
/// re-mixed randoms so the second try is independent of the first.
/// `eligible` should answer consistently during one call.
#[must_use]
pub fn p2c_candidates(
    n: usize,
    eligible: impl Fn(usize) -> bool,
    rand_a: u64,
    rand_b: u64,
) -> Option<(usize, usize)> {
    if n >= 2 {
        let a = reduce(rand_a, n);
        let b = skip(reduce(rand_b, n - 1), a);
        if eligible(a) && eligible(b) {
            return Some((a, b));
        }
    }
    let m = (0..n).filter(|&i| eligible(i)).count();
    match m {
        0 => None,
        1 => (0..n).find(|&i| eligible(i)).map(|i| (i, i)),
        _ => {
            let ra = reduce(fmix64(rand_a ^ 0x9e37_79b9_7f4a_7c15), m);
            let rb = skip(reduce(fmix64(rand_b ^ 0x6a09_e667_f3bc_c909), m - 1), ra);
            let a = nth_eligible(n, &eligible, ra);
            let b = nth_eligible(n, &eligible, rb);
            // Only an `eligible` that changed its answers mid-call can make a
            // rank vanish; degrade to fewer candidates rather than panic.
            match (a, b) {
                (Some(a), Some(b)) => Some((a, b)),
                (Some(x), None) | (None, Some(x)) => Some((x, x)),
                (None, None) => None,
            }
        }
    }
}

/// Power of two choices: of two distinct random eligible servers (see
/// [`p2c_candidates`]), returns the one with fewer requests in flight (the
/// first candidate on a tie). With one eligible server returns it; with none,
/// `None`. Never returns the more loaded of its two candidates.
#[must_use]
pub fn power_of_two_choices(
    n: usize,
    eligible: impl Fn(usize) -> bool,
    in_flight: impl Fn(usize) -> u32,
    rand_a: u64,
    rand_b: u64,
) -> Option<usize> {
    let (a, b) = p2c_candidates(n, eligible, rand_a, rand_b)?;
    if a != b && in_flight(b) < in_flight(a) {
        Some(b)
    } else {
        Some(a)
    }
}

/// Maps a uniform `u64` onto `0..n` without division (Lemire's
/// multiply-shift); uses the high bits, which is fine for any decent RNG.
fn reduce(r: u64, n: usize) -> usize {
    // The product's high word is < n, so it fits back in usize.
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// Turns a draw from `0..m-1` into a draw from `0..m` that is never `taken`.
fn skip(x: usize, taken: usize) -> usize {
    if x >= taken {
        x + 1
    } else {
        x
    }
}

fn nth_eligible(n: usize, eligible: &impl Fn(usize) -> bool, rank: usize) -> Option<usize> {
    (0..n).filter(|&i| eligible(i)).nth(rank)
}
