//! least_in_flight and power of two choices.

use balance::{least_in_flight, p2c_candidates, power_of_two_choices};
use proptest::prelude::*;

/// (eligible, in flight, weight) per server.
fn pool(max: usize) -> impl Strategy<Value = Vec<(bool, u32, u32)>> {
    prop::collection::vec((any::<bool>(), 0u32..20, 0u32..5), 0..max)
}

proptest! {
    #[test]
    fn least_in_flight_picks_the_exact_minimum(servers in pool(24), start in any::<usize>()) {
        let n = servers.len();
        let got = least_in_flight(n, |i| servers[i].0, |i| servers[i].1, |i| servers[i].2, start);
        let usable = |i: usize| servers[i].0 && servers[i].2 > 0;
        match got {
            None => prop_assert!((0..n).all(|i| !usable(i))),
            Some(c) => {
                prop_assert!(usable(c), "chose unusable {}", c);
                // No usable server is strictly less loaded per unit of weight.
                let (cl, cw) = (u64::from(servers[c].1), u64::from(servers[c].2));
                for i in (0..n).filter(|&i| usable(i)) {
                    let (l, w) = (u64::from(servers[i].1), u64::from(servers[i].2));
                    prop_assert!(cl * w <= l * cw, "{} ({}/{}) beats {} ({}/{})", i, l, w, c, cl, cw);
                }
                // Among equals, the first one scanning from `start` wins.
                let s = start % n;
                for k in 0..n {
                    let i = (s + k) % n;
                    if i == c { break; }
                    if usable(i) {
                        let (l, w) = (u64::from(servers[i].1), u64::from(servers[i].2));
                        prop_assert!(l * cw > cl * w, "{} ties {} but comes first from {}", i, c, s);
                    }
                }
            }
        }
    }

    #[test]
    fn p2c_never_picks_ineligible_or_the_more_loaded(
        servers in pool(24),
        a in any::<u64>(),
        b in any::<u64>(),
    ) {
        let n = servers.len();
        let up = |i: usize| servers[i].0;
        let load = |i: usize| servers[i].1;
        let m = (0..n).filter(|&i| up(i)).count();
        let got = power_of_two_choices(n, up, load, a, b);
        let cands = p2c_candidates(n, up, a, b);
        match (got, cands) {
            (None, None) => prop_assert_eq!(m, 0),
            (Some(c), Some((x, y))) => {
                prop_assert!(up(c) && up(x) && up(y));
                prop_assert!(c == x || c == y);
                prop_assert!(load(c) <= load(x) && load(c) <= load(y));
                if m >= 2 { prop_assert_ne!(x, y); } else { prop_assert_eq!(x, y); }
                // Whatever the draw, the single most loaded server never wins
                // when there is a choice.
                let max = (0..n).filter(|&i| up(i)).map(load).max().unwrap();
                let at_max = (0..n).filter(|&i| up(i) && load(i) == max).count();
                if m >= 2 && at_max == 1 { prop_assert!(load(c) < max); }
            }
            other => prop_assert!(false, "inconsistent {:?}", other),
        }
    }
}

#[test]
fn empty_and_all_down_give_none() {
    assert_eq!(least_in_flight(0, |_| true, |_| 0, |_| 1, 7), None);
    assert_eq!(least_in_flight(3, |_| false, |_| 0, |_| 1, 0), None);
    assert_eq!(least_in_flight(3, |_| true, |_| 0, |_| 0, 0), None);
    assert_eq!(power_of_two_choices(0, |_| true, |_| 0, 1, 2), None);
    assert_eq!(power_of_two_choices(4, |_| false, |_| 0, 1, 2), None);
}

#[test]
fn one_server_works() {
    for r in [0, 1, u64::MAX, 0x1234_5678_9abc_def0] {
        assert_eq!(power_of_two_choices(1, |_| true, |_| 9, r, !r), Some(0));
        assert_eq!(power_of_two_choices(5, |i| i == 3, |_| 9, r, !r), Some(3));
    }
    assert_eq!(least_in_flight(1, |_| true, |_| 100, |_| 1, 5), Some(0));
}

#[test]
fn least_in_flight_weights_and_ties() {
    // 4 in flight on weight 4 (1 per unit) beats 2 on weight 1.
    assert_eq!(
        least_in_flight(2, |_| true, |i| [4, 2][i], |i| [4, 1][i], 0),
        Some(0)
    );
    // All idle: a rotating start visits every server once per turn.
    let picks: Vec<_> = (0..5)
        .map(|s| least_in_flight(5, |_| true, |_| 0, |_| 1, s).unwrap())
        .collect();
    assert_eq!(picks, [0, 1, 2, 3, 4]);
    // A down server is skipped, even if idle.
    assert_eq!(
        least_in_flight(3, |i| i != 1, |i| [5, 0, 6][i], |_| 1, 1),
        Some(0)
    );
}

/// Candidates are spread evenly over eligible servers, on the O(1) path and
/// on the fallback path alike.
#[test]
fn p2c_candidates_are_uniform() {
    let n = 10;
    let up = |i: usize| !i.is_multiple_of(3); // 6 of 10 eligible: both paths used
    let mut seen = [0u32; 10];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let draws = 60_000;
    for _ in 0..draws {
        let (a, b) = p2c_candidates(n, up, next(), next()).unwrap();
        seen[a] += 1;
        seen[b] += 1;
    }
    let fair = 2 * draws / 6;
    for (i, &c) in seen.iter().enumerate() {
        if up(i) {
            assert!(
                c.abs_diff(fair) * 20 < fair,
                "server {i}: {c} vs fair {fair}"
            );
        } else {
            assert_eq!(c, 0);
        }
    }
}
