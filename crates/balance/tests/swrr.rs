//! Smooth weighted round robin: exact shares, skipping, weight 0, no panics.

use balance::SmoothWeightedRoundRobin;
use proptest::prelude::*;

fn pick_counts(
    s: &mut SmoothWeightedRoundRobin,
    picks: u64,
    eligible: impl Fn(usize) -> bool,
) -> Vec<u64> {
    let mut counts = vec![0; s.len()];
    for _ in 0..picks {
        counts[s.next(&eligible).expect("an eligible weighted server")] += 1;
    }
    counts
}

#[test]
fn nginx_sequence_is_smooth() {
    // The sequence nginx documents for weights 5, 1, 1.
    let mut s = SmoothWeightedRoundRobin::new(&[5, 1, 1]);
    let seq: Vec<usize> = (0..14).map(|_| s.next(|_| true).unwrap()).collect();
    assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn empty_zero_and_all_down_give_none() {
    assert_eq!(SmoothWeightedRoundRobin::new(&[]).next(|_| true), None);
    assert_eq!(SmoothWeightedRoundRobin::new(&[0, 0]).next(|_| true), None);
    assert_eq!(SmoothWeightedRoundRobin::new(&[3, 1]).next(|_| false), None);
    // Only the weight-0 server is up: still nothing to pick.
    assert_eq!(
        SmoothWeightedRoundRobin::new(&[0, 4]).next(|i| i == 0),
        None
    );
}

#[test]
fn huge_weights_do_not_overflow() {
    let mut s = SmoothWeightedRoundRobin::new(&[u32::MAX, u32::MAX, 1]);
    for _ in 0..10_000 {
        assert!(s.next(|_| true).is_some());
    }
}

proptest! {
    /// Over k full periods each server gets exactly k·weight picks; weight 0
    /// gets none.
    #[test]
    fn exact_share_over_full_periods(
        weights in prop::collection::vec(0u32..12, 1..10),
        k in 1u64..4,
    ) {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut s = SmoothWeightedRoundRobin::new(&weights);
        if total == 0 {
            prop_assert_eq!(s.next(|_| true), None);
            return Ok(());
        }
        let counts = pick_counts(&mut s, total * k, |_| true);
        for (i, &w) in weights.iter().enumerate() {
            prop_assert_eq!(counts[i], u64::from(w) * k, "server {} of {:?}", i, weights);
        }
    }

    /// With a fixed set of servers down, the rest keep their exact ratios and
    /// the down ones are never picked.
    #[test]
    fn ineligible_servers_are_skipped_exactly(
        servers in prop::collection::vec((0u32..12, any::<bool>()), 1..10),
        k in 1u64..4,
    ) {
        let weights: Vec<u32> = servers.iter().map(|s| s.0).collect();
        let up: Vec<bool> = servers.iter().map(|s| s.1).collect();
        let total: u64 = servers.iter().filter(|s| s.1).map(|s| u64::from(s.0)).sum();
        let mut s = SmoothWeightedRoundRobin::new(&weights);
        if total == 0 {
            prop_assert_eq!(s.next(|i| up[i]), None);
            return Ok(());
        }
        let counts = pick_counts(&mut s, total * k, |i| up[i]);
        for i in 0..weights.len() {
            let want = if up[i] { u64::from(weights[i]) * k } else { 0 };
            prop_assert_eq!(counts[i], want, "server {}", i);
        }
    }

    /// After servers flap, the deviation from the ideal share stays bounded
    /// by a couple of picks per server however long the run: skipping does
    /// not distort ratios over time.
    #[test]
    fn flapping_leaves_bounded_deviation(
        weights in prop::collection::vec(1u32..10, 2..8),
        flaps in prop::collection::vec(any::<u16>(), 1..60),
        up_mask in any::<u16>(),
        periods in 5u64..40,
    ) {
        let n = weights.len();
        let mut s = SmoothWeightedRoundRobin::new(&weights);
        for mask in &flaps {
            let _ = s.next(|i| mask & (1 << i) != 0);
        }
        let up = |i: usize| up_mask & (1 << i) != 0;
        let total: u64 = (0..n).filter(|&i| up(i)).map(|i| u64::from(weights[i])).sum();
        if total == 0 {
            prop_assert_eq!(s.next(up), None);
            return Ok(());
        }
        let w_all: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let counts = pick_counts(&mut s, total * periods, up);
        for i in 0..n {
            let want = if up(i) { u64::from(weights[i]) * periods } else { 0 };
            let dev = counts[i].abs_diff(want);
            // Frozen counters are bounded by the total weight of all servers,
            // so the error in picks is bounded by all/eligible weight, not by time.
            prop_assert!(
                dev * total <= 2 * w_all,
                "server {} got {} want {} (weights {:?})", i, counts[i], want, weights
            );
        }
    }
}
