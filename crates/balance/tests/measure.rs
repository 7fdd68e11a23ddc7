//! Measurements behind the tolerances in README.md. Not assertions:
//! `cargo test -p balance --release --test measure -- --ignored --nocapture`.

mod common;

use balance::HashRing;
use common::{assign, counts, keys};

fn named(scheme: usize, n: usize) -> Vec<(String, u32)> {
    (1..=n)
        .map(|i| {
            let id = match scheme {
                0 => format!("app-{i}"),
                1 => format!("10.0.{}.{}:8080", i / 200, i % 200 + 10),
                2 => format!("web{i:02}.prod.example"),
                _ => format!(
                    "srv-{scheme}-{:x}",
                    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40
                ),
            };
            (id, 1)
        })
        .collect()
}

#[test]
#[ignore = "prints measurements"]
fn ring_measurements() {
    let ks = keys(100_000);
    for vnodes in [160, 512] {
        let mut worst_spread: f64 = 0.0;
        let mut worst_move_excess: f64 = f64::MIN;
        let mut fails = 0;
        let mut trials = 0;
        for scheme in 0..40 {
            for n in 2..=20 {
                let ids = named(scheme, n);
                let ring = HashRing::with_vnodes(&ids, vnodes);
                let fair = ks.len() as f64 / n as f64;
                let spread = counts(&ring, &ks)
                    .iter()
                    .map(|&c| (c as f64 - fair).abs() / fair)
                    .fold(0.0, f64::max);
                worst_spread = worst_spread.max(spread);
                if n < 20 {
                    let before = assign(&ring, &ids, &ks);
                    let ids2 = named(scheme, n + 1);
                    let after = assign(&HashRing::with_vnodes(&ids2, vnodes), &ids2, &ks);
                    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
                    let frac = moved as f64 / ks.len() as f64;
                    let excess = frac - 1.0 / (n as f64 + 1.0);
                    trials += 1;
                    if excess > 0.02 {
                        fails += 1;
                        if scheme == 0 {
                            println!(
                                "  vnodes {vnodes} scheme {scheme}: N={n} excess {:+.2} pts",
                                excess * 100.0
                            );
                        }
                    }
                    worst_move_excess = worst_move_excess.max(excess);
                    if scheme == 0 && n == 10 {
                        println!("vnodes {vnodes}: app-1..10 -> 11 moved {moved} keys ({:.2}%, ideal {:.2}%)", frac * 100.0, 100.0 / 11.0);
                    }
                }
            }
        }
        println!(
            "vnodes {vnodes}: worst spread n=2..20 {:.1}%, worst move excess {:+.2} pts, {fails}/{trials} over +2",
            worst_spread * 100.0,
            worst_move_excess * 100.0
        );
    }
}
