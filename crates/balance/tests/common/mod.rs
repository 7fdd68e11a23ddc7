//! Helpers shared by the integration tests.
#![allow(dead_code)]

use balance::{hash_key, HashRing};

/// Keys hashed as a front door would hash session cookies.
pub(crate) fn keys(count: usize) -> Vec<u64> {
    (0..count)
        .map(|i| hash_key(format!("session-{i}").as_bytes()))
        .collect()
}

/// Servers `app-1..=app-n`, weight 1: how `bigstep up` names instances.
pub(crate) fn servers(n: usize) -> Vec<(String, u32)> {
    (1..=n).map(|i| (format!("app-{i}"), 1)).collect()
}

/// The id each key maps to (plain lookup, all eligible).
pub(crate) fn assign<'a>(ring: &HashRing, ids: &'a [(String, u32)], keys: &[u64]) -> Vec<&'a str> {
    keys.iter()
        .map(|&k| {
            ids[ring.lookup(k, |_| true).expect("non-empty ring")]
                .0
                .as_str()
        })
        .collect()
}

/// Keys per server index.
pub(crate) fn counts(ring: &HashRing, keys: &[u64]) -> Vec<usize> {
    let mut c = vec![0; ring.len()];
    for &k in keys {
        c[ring.lookup(k, |_| true).expect("non-empty ring")] += 1;
    }
    c
}
