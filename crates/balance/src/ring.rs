//! Consistent hashing on a ring of virtual nodes, with optional bounded
//! loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded
//! Loads", 2018).
//!
//! Each server with weight `w` owns `w * VNODES_PER_WEIGHT` points, at
//! `hash_key("{id}#{i}")` for `i` in `0..`. A key belongs to the first point
//! at or after its hash, walking clockwise. Because the points depend only on
//! the server ids — never on list order, process or version — every front
//! door computes the same ring from the same membership.
//!
//! Guarantees (measured figures in the crate README):
//! - Adding a server moves only keys that go *to* it, about its fair share
//!   (`1/(N+1)` for equal weights); removing a server, or making it
//!   ineligible, moves exactly the keys it owned and nothing else.
//! - A server's share of keys stays within ±20% of `w / W` (measured worst
//!   16.8% for 2–50 equal servers; see [`VNODES_PER_WEIGHT`]).
//! - [`HashRing::lookup_bounded`] never picks a server at or above its
//!   capacity `ceil((1+ε)·(L+1)·w/W)` (for equal weights,
//!   `ceil((1+ε)·(L+1)/n)`), where `L` is the total load and `W` the total
//!   weight of eligible servers, so no server carries more than about
//!   `(1+ε)` times its share; keys overflow to the next servers clockwise,
//!   and with balanced loads it agrees with [`HashRing::lookup`].
//!
//! Lookups are O(log V) to find the key's point (binary search over sorted
//! points) plus a walk that visits each distinct server at most once, and
//! never allocate.

use crate::hash::KeyHasher;

/// Virtual nodes per unit of weight.
///
/// A server's share of the ring is a sum of `k` random arcs, with relative
/// standard deviation about `1/sqrt(k)`. ketama and nginx use 160 (~7.9%);
/// measured here that was not enough for the promise that adding a 3rd
/// server moves at most `1/3 + 2%` of keys (2 → 3 moved 36.7% with the
/// `app-N` ids). The standard deviation of the new server's share at `N = 2`
/// is `sqrt(2 / (27k))`; 512 makes the 2-point budget ~1.65σ (≈95% of
/// arbitrary id sets, and every id scheme the tests pin), at 12 bytes a
/// point: 6 KiB per unit of weight, ~15 binary-search steps for 50 servers.
/// Measured over 100,000 keys, each server stays within ±20% of its fair
/// share for the tested id sets (see the README). Changing this constant
/// moves keys, like changing [`crate::hash_key`].
pub const VNODES_PER_WEIGHT: u32 = 512;

/// Servers up to this index are de-duplicated during a walk with a bitset on
/// the stack (128 bytes); past it the walk is bounded by one turn of the ring
/// instead. Front door pools are far smaller.
const DEDUP_SERVERS: usize = 1024;

/// A consistent-hash ring over servers `0..n`, built once per membership
/// snapshot (off the request path) and shared read-only.
#[derive(Clone, Debug)]
pub struct HashRing {
    /// Sorted point hashes, kept apart from owners so the binary search
    /// touches only this array.
    points: Box<[u64]>,
    /// `owners[j]` is the server index owning `points[j]`.
    owners: Box<[u32]>,
    weights: Box<[u32]>,
    /// Servers with at least one point (weight > 0).
    on_ring: usize,
}

impl HashRing {
    /// Builds a ring from `(stable id, weight)` pairs, with
    /// [`VNODES_PER_WEIGHT`] points per unit of weight. Lookups return
    /// indices into `servers`.
    ///
    /// Ids must be unique: a duplicate id gets the same points as the
    /// earlier one and never wins one of them. Weights are relative vnode
    /// multipliers; keep them small (1–100), since the ring holds
    /// `512 · Σweight` points of 12 bytes. Weight 0 puts a server off the
    /// ring.
    #[must_use]
    pub fn new<S: AsRef<str>>(servers: &[(S, u32)]) -> Self {
        Self::with_vnodes(servers, VNODES_PER_WEIGHT)
    }

    /// Like [`HashRing::new`] with another number of points per unit of
    /// weight (for measurement; production should use the default, since
    /// every front door must agree).
    ///
    /// # Panics
    /// If there are more than `u32::MAX` servers.
    #[must_use]
    pub fn with_vnodes<S: AsRef<str>>(servers: &[(S, u32)], vnodes_per_weight: u32) -> Self {
        assert!(u32::try_from(servers.len()).is_ok(), "too many servers");
        let total: usize = servers
            .iter()
            .map(|(_, w)| *w as usize * vnodes_per_weight as usize)
            .sum();
        let mut pts: Vec<(u64, u32)> = Vec::with_capacity(total);
        for (idx, (id, w)) in servers.iter().enumerate() {
            let mut prefix = KeyHasher::new();
            prefix.write(id.as_ref().as_bytes());
            prefix.write(b"#");
            for i in 0..u64::from(*w) * u64::from(vnodes_per_weight) {
                let mut h = prefix;
                h.write_decimal(i);
                pts.push((h.finish(), idx as u32));
            }
        }
        // Ties (two ids hashing to one point, ~never) go to the smaller id,
        // not the earlier index, so list order cannot change the ring.
        pts.sort_unstable_by(|&(pa, ia), &(pb, ib)| {
            pa.cmp(&pb).then_with(|| {
                let (a, b) = (
                    servers[ia as usize].0.as_ref(),
                    servers[ib as usize].0.as_ref(),
                );
                a.cmp(b).then(ia.cmp(&ib))
            })
        });
        Self {
            points: pts.iter().map(|&(p, _)| p).collect(),
            owners: pts.iter().map(|&(_, o)| o).collect(),
            weights: servers.iter().map(|(_, w)| *w).collect(),
            on_ring: servers.iter().filter(|(_, w)| *w > 0).count(),
        }
    }

    /// Number of servers the ring was built from (including weight 0).
    #[must_use]
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True when built from no servers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Number of points (virtual nodes) on the ring.
    #[must_use]
    pub fn points(&self) -> usize {
        self.points.len()
    }

    /// Plain consistent hashing: the owner of the first point clockwise from
    /// `key_hash` (see [`crate::hash_key`]) for which `eligible` is true.
    ///
    /// `None` when no server with weight > 0 is eligible. Making a server
    /// ineligible moves exactly its own keys, the same as removing it.
    #[must_use]
    pub fn lookup(&self, key_hash: u64, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        self.walk(key_hash, eligible)
    }

    /// Consistent hashing with bounded loads: walks clockwise from the key's
    /// point and returns the first eligible server whose load is below its
    /// capacity.
    ///
    /// Capacity of server `i` is `ceil((1+ε) · (L+1) · wᵢ / W)`, where `L`
    /// and `W` are the total load and total weight of the eligible servers
    /// with weight > 0; with equal weights that is
    /// `ceil((1+ε) · (L+1) / n_eligible)`. `loads(i)` is what the caller
    /// balances (sticky sessions assigned, requests in flight). `ε` is
    /// applied in millionths, in integer arithmetic, so every process agrees
    /// on capacities; NaN or negative `ε` counts as 0. Since the capacities
    /// add up to more than `L`, some eligible server is always below its
    /// capacity: this returns `Some` whenever [`HashRing::lookup`] does.
    ///
    /// O(n) to total the loads, then O(log V) plus a walk visiting each
    /// server at most once. Smaller `ε` balances tighter but moves more keys
    /// off their home server; 0.25 is the paper's and HAProxy's
    /// (`hash-balance-factor 125`) usual choice.
    #[must_use]
    pub fn lookup_bounded(
        &self,
        key_hash: u64,
        eligible: impl Fn(usize) -> bool,
        loads: impl Fn(usize) -> u32,
        epsilon: f64,
    ) -> Option<usize> {
        let mut total_load: u64 = 0;
        let mut total_weight: u64 = 0;
        for (i, &w) in self.weights.iter().enumerate() {
            if w > 0 && eligible(i) {
                total_load += u64::from(loads(i));
                total_weight += u64::from(w);
            }
        }
        if total_weight == 0 {
            return None;
        }
        const MICRO: u128 = 1_000_000;
        let eps_micro = if epsilon > 0.0 {
            // Saturating float-to-int cast; 1e12 (ε = a million) is plenty.
            (epsilon * 1e6).round().min(1e12) as u128
        } else {
            0 // also NaN
        };
        let num_factor = (MICRO + eps_micro) * u128::from(total_load + 1);
        let den = MICRO * u128::from(total_weight);
        let found = self.walk(key_hash, |i| {
            if !eligible(i) {
                return false;
            }
            // load < ceil(x/den)  <=>  load * den < x   (integers)
            let x = num_factor * u128::from(self.weights[i]);
            u128::from(loads(i)) * den < x
        });
        // Only closures that change their answers mid-call can leave nothing
        // under capacity; fall back to plain hashing rather than fail.
        found.or_else(|| self.walk(key_hash, eligible))
    }

    /// Walks clockwise from `key_hash`, returning the first owner that
    /// `accept`s, asking about each distinct server once.
    fn walk(&self, key_hash: u64, mut accept: impl FnMut(usize) -> bool) -> Option<usize> {
        let len = self.points.len();
        if len == 0 {
            return None;
        }
        let start = self.points.partition_point(|&p| p < key_hash);
        let mut seen = [0u64; DEDUP_SERVERS / 64];
        let mut distinct = 0;
        let dedup_all = self.weights.len() <= DEDUP_SERVERS;
        for k in 0..len {
            let pos = if k < len - start {
                start + k
            } else {
                start + k - len
            };
            let s = self.owners[pos] as usize;
            if s < DEDUP_SERVERS {
                let (word, bit) = (s / 64, 1u64 << (s % 64));
                if seen[word] & bit != 0 {
                    continue;
                }
                seen[word] |= bit;
                distinct += 1;
            }
            if accept(s) {
                return Some(s);
            }
            if dedup_all && distinct == self.on_ring {
                return None;
            }
        }
        None
    }
}
