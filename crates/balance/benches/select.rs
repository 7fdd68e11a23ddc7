//! A small std-only micro bench: `cargo bench -p balance`.
//!
//! Prints nanoseconds per selection for each algorithm over a 16-server pool
//! (one server down), so a regression on the request path is visible.

use std::hint::black_box;
use std::time::Instant;

use balance::{
    hash_key, least_in_flight, power_of_two_choices, HashRing, SmoothWeightedRoundRobin,
};

const N: usize = 16;
const ITERS: u64 = 2_000_000;

fn bench(name: &str, mut f: impl FnMut(u64) -> Option<usize>) {
    // Warm up, then time.
    for i in 0..ITERS / 10 {
        black_box(f(i));
    }
    let t = Instant::now();
    for i in 0..ITERS {
        black_box(f(black_box(i)));
    }
    let ns = t.elapsed().as_nanos() as f64 / ITERS as f64;
    println!("{name:<28} {ns:>8.1} ns/op");
}

fn main() {
    let eligible = |i: usize| i != 3;
    let in_flight: Vec<u32> = (0..N as u32).map(|i| (i * 7) % 5).collect();
    let weights: Vec<u32> = (0..N as u32).map(|i| 1 + i % 3).collect();
    let ids: Vec<(String, u32)> = (0..N).map(|i| (format!("app-{i}"), 1)).collect();
    let ring = HashRing::new(&ids);
    let mut swrr = SmoothWeightedRoundRobin::new(&weights);

    bench("hash_key (32 bytes)", |i| {
        let mut key = *b"0123456789abcdef0123456789abcdef";
        key[..8].copy_from_slice(&i.to_le_bytes());
        Some(hash_key(&key) as usize)
    });
    bench("swrr next", |_| swrr.next(eligible));
    bench("least_in_flight", |i| {
        least_in_flight(N, eligible, |s| in_flight[s], |s| weights[s], i as usize)
    });
    bench("power_of_two_choices", |i| {
        let r = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        power_of_two_choices(N, eligible, |s| in_flight[s], r, r.rotate_left(32))
    });
    bench("ring lookup", |i| {
        ring.lookup(hash_key(&i.to_le_bytes()), eligible)
    });
    bench("ring lookup_bounded", |i| {
        ring.lookup_bounded(hash_key(&i.to_le_bytes()), eligible, |s| in_flight[s], 0.25)
    });
}
