//! `maxmemory` accounting and eviction.
//!
//! Memory is an estimate of what values and keys occupy (not allocator truth:
//! the workspace forbids the `unsafe` a counting allocator needs). Accounting
//! only runs while `maxmemory` is set, so the default path pays nothing.
//! Collection sizes are estimated from a sample of their elements, so
//! measuring a key is O(1).
//! LRU policies are approximated by random sampling: we keep no per-key
//! access clock yet.

use bytes::Bytes;
use rand::Rng;

use crate::config::Policy;
use crate::spec::Spec;
use crate::store::{notify, now_ms, Store};

const ENTRY_OVERHEAD: usize = 64;

fn key_size(s: &Store, db: usize, key: &[u8]) -> usize {
    s.dbs[db]
        .keys
        .get(key)
        .map_or(0, |v| v.approx_size() + key.len() + ENTRY_OVERHEAD)
}

/// Recomputes the estimate from scratch.
pub(crate) fn recount(s: &mut Store) {
    if s.cfg.maxmemory == 0 {
        s.used_memory = 0;
        return;
    }
    s.used_memory = s
        .dbs
        .iter()
        .flat_map(|d| d.keys.iter())
        .map(|(k, v)| k.len() + v.approx_size() + ENTRY_OVERHEAD)
        .sum();
}

/// Sizes of a command's keys (call before and after a write).
pub(crate) fn measure<H>(s: &Store, db: usize, spec: &Spec<H>, argv: &[Bytes]) -> usize {
    spec.key_indexes(argv)
        .into_iter()
        .map(|i| key_size(s, db, &argv[i]))
        .sum()
}

/// Updates the estimate after a write: `before` is [`measure`] taken before it.
pub(crate) fn account<H>(s: &mut Store, db: usize, spec: &Spec<H>, argv: &[Bytes], before: usize) {
    let after = measure(s, db, spec, argv);
    s.used_memory = (s.used_memory + after).saturating_sub(before);
}

/// Evicts until under `maxmemory`. False if the policy cannot free enough.
pub(crate) fn make_room(s: &mut Store) -> bool {
    if s.cfg.maxmemory == 0 {
        return true;
    }
    if s.used_memory as u64 > s.cfg.maxmemory {
        recount(s);
    }
    // CLIENT PAUSE: nothing is evicted while it holds (as in Redis).
    if s.paused(now_ms()) {
        return s.used_memory as u64 <= s.cfg.maxmemory;
    }
    let mut rng = rand::rng();
    let mut guard = 0;
    while s.used_memory as u64 > s.cfg.maxmemory {
        guard += 1;
        if guard > 100_000 {
            return false;
        }
        let policy = s.cfg.maxmemory_policy;
        let mut victim: Option<(usize, Bytes)> = None;
        let mut best_ttl = u64::MAX;
        for db in 0..s.dbs.len() {
            let d = &s.dbs[db];
            match policy {
                Policy::NoEviction => return false,
                Policy::AllkeysLru | Policy::AllkeysRandom => {
                    if !d.keys.is_empty() {
                        let i = rng.random_range(0..d.keys.len());
                        victim = Some((db, d.keys.get_index(i).expect("in range").0.to_bytes()));
                        break;
                    }
                }
                Policy::VolatileLru | Policy::VolatileRandom => {
                    if !d.expires.is_empty() {
                        let i = rng.random_range(0..d.expires.len());
                        victim = Some((db, d.expires.get_index(i).expect("in range").0.to_bytes()));
                        break;
                    }
                }
                Policy::VolatileTtl => {
                    for _ in 0..5.min(d.expires.len()) {
                        let i = rng.random_range(0..d.expires.len());
                        let (k, &at) = d.expires.get_index(i).expect("in range");
                        if at < best_ttl {
                            best_ttl = at;
                            victim = Some((db, k.to_bytes()));
                        }
                    }
                }
            }
        }
        let Some((db, key)) = victim else {
            return false;
        };
        let freed = key_size(s, db, &key);
        s.dbs[db].keys.swap_remove(&key[..]);
        s.dbs[db].expires.swap_remove(&key[..]);
        s.used_memory = s.used_memory.saturating_sub(freed);
        s.stats.evicted += 1;
        s.prop
            .push((db, vec![Bytes::from_static(b"DEL"), key.clone()]));
        s.dirty += 1;
        s.touch(db, &key);
        s.notify(db, notify::EVICTED, "evicted", &key);
    }
    s.flush_prop(false);
    true
}

/// Resident set size of this process, from /proc (0 elsewhere).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
