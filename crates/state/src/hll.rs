//! HyperLogLog in Redis's own byte layout, so a value written here reads the
//! same through `GET` as one written by redis-server, and the reverse.
//!
//! A leaf: no keyspace, no I/O; `cmd/hll.rs` runs the commands on it.
//!
//! Layout (16-byte header, then registers): `"HYLL"`, one encoding byte
//! (0 dense, 1 sparse), three unused bytes, the cached cardinality as
//! 8 little-endian bytes whose top bit set means "stale". Dense: 16384
//! registers of 6 bits, packed little-endian. Sparse: run-length opcodes
//! (`00xxxxxx` ZERO of up to 64 registers, `01xxxxxx xxxxxxxx` XZERO of up
//! to 16384, `1vvvvvxx` VAL: up to 4 registers of value 1..=32). A sparse
//! value turns dense when a register passes 32 or the bytes would pass
//! `hll-sparse-max-bytes`, exactly where Redis turns it, since `GET` shows
//! the difference.
//!
//! The hash (MurmurHash64A, seed `0xadc83b19`) and the estimator (Ertl's,
//! as Redis 5+ uses) must stay Redis's: counts are compared with
//! redis-server for the same inputs, and HLLs move between the two.

/// Header bytes before the registers.
pub(crate) const HDR: usize = 16;
/// Index bits of the hash.
const P: u32 = 14;
/// Bits left for the run of zeroes.
const Q: usize = 64 - P as usize;
/// Number of registers.
pub(crate) const REGISTERS: usize = 1 << P;
/// Largest register value (6 bits).
const REGISTER_MAX: u32 = 63;
/// Byte length of a dense HLL.
pub(crate) const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// Redis's default `hll-sparse-max-bytes`.
pub(crate) const SPARSE_MAX_BYTES: usize = 3000;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln 2, the estimator's constant for unbounded hashes.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why bytes cannot be used as an HLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HllError {
    /// Not an HLL at all (wrong magic, encoding or length): Redis answers
    /// with a WRONGTYPE error.
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// An HLL header over registers that do not add up.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Corrupt,
}

/// MurmurHash2, 64-bit, reading words little-endian (Redis's endian-neutral
/// variant).
pub(crate) fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and its run length (1..=Q+1).
pub(crate) fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HLL: sparse, one XZERO covering every register.
pub(crate) fn new_sparse() -> Vec<u8> {
    let mut h = vec![0u8; HDR];
    h[..4].copy_from_slice(b"HYLL");
    h[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(SPARSE_XZERO_MAX_LEN);
        h.extend_from_slice(&xzero(n));
        left -= n;
    }
    h
}

/// Whether `h` has an HLL's header (Redis's `isHLLObjectOrReply`). Sparse
/// registers are checked only when read.
pub(crate) fn validate(h: &[u8]) -> Result<(), HllError> {
    if h.len() < HDR || &h[..4] != b"HYLL" || h[4] > SPARSE {
        return Err(HllError::NotHll);
    }
    if h[4] == DENSE && h.len() != DENSE_SIZE {
        return Err(HllError::NotHll);
    }
    Ok(())
}

/// Whether a (validated) HLL is dense.
pub(crate) fn is_dense(h: &[u8]) -> bool {
    h[4] == DENSE
}

/// The cached cardinality, if it is not stale.
pub(crate) fn cached(h: &[u8]) -> Option<u64> {
    if h[HDR - 1] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[8..HDR]);
    Some(u64::from_le_bytes(b))
}

/// Stores a freshly computed cardinality in the header.
pub(crate) fn set_cache(h: &mut [u8], card: u64) {
    h[8..HDR].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale (only the top bit changes, as in Redis).
pub(crate) fn invalidate(h: &mut [u8]) {
    h[HDR - 1] |= 0x80;
}

// === dense registers ===

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(regs[byte]);
    // The last register's neighbour is past the end (Redis reads the
    // string's terminating zero there).
    let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(v);
    regs[byte] &= !((REGISTER_MAX << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((REGISTER_MAX >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` to `v`; true if it changed.
fn dense_raise(h: &mut [u8], i: usize, v: u8) -> bool {
    let regs = &mut h[HDR..];
    if v > dense_get(regs, i) {
        dense_set(regs, i, v);
        true
    } else {
        false
    }
}

/// Every register of a dense HLL (PFDEBUG GETREG).
pub(crate) fn dense_registers(h: &[u8]) -> Vec<u8> {
    (0..REGISTERS).map(|i| dense_get(&h[HDR..], i)).collect()
}

// === sparse opcodes ===

/// One decoded sparse opcode.
#[derive(Clone, Copy)]
enum Op {
    /// A run of zero registers (`ZERO` or `XZERO`).
    Zeros { len: usize, xzero: bool },
    /// A run of registers holding `value`.
    Val { value: u8, len: usize },
}

impl Op {
    /// Decodes the opcode at `p`. A truncated XZERO reads a zero second byte,
    /// as Redis reads the string's terminator.
    fn at(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & 0xc0 == 0 {
            Op::Zeros {
                len: usize::from(b & 0x3f) + 1,
                xzero: false,
            }
        } else if b & 0x80 != 0 {
            Op::Val {
                value: ((b >> 2) & 0x1f) + 1,
                len: usize::from(b & 0x3) + 1,
            }
        } else {
            let lo = usize::from(s.get(p + 1).copied().unwrap_or(0));
            Op::Zeros {
                len: ((usize::from(b & 0x3f) << 8) | lo) + 1,
                xzero: true,
            }
        }
    }
    fn bytes(self) -> usize {
        match self {
            Op::Zeros { xzero: true, .. } => 2,
            _ => 1,
        }
    }
    fn span(self) -> usize {
        match self {
            Op::Zeros { len, .. } | Op::Val { len, .. } => len,
        }
    }
}

fn val(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | (l >> 8) as u8, (l & 0xff) as u8]
}

/// Appends the shortest zero-run opcode for `len` registers (1..=16384).
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero(len));
    } else {
        seq.push((len - 1) as u8);
    }
}

/// Calls `f(first_register, op)` for each opcode; the register count seen.
fn sparse_walk(h: &[u8], mut f: impl FnMut(usize, Op) -> bool) -> usize {
    let mut p = HDR;
    let mut idx = 0;
    while p < h.len() {
        let op = Op::at(h, p);
        if !f(idx, op) {
            break;
        }
        idx += op.span();
        p += op.bytes();
    }
    idx
}

/// The sparse opcodes as Redis's PFDEBUG DECODE prints them
/// (`Z:` XZERO, `z:` ZERO, `v:value,len`).
pub(crate) fn decode_sparse(h: &[u8]) -> String {
    let mut out = Vec::new();
    sparse_walk(h, |_, op| {
        out.push(match op {
            Op::Zeros { len, xzero: true } => format!("Z:{len}"),
            Op::Zeros { len, xzero: false } => format!("z:{len}"),
            Op::Val { value, len } => format!("v:{value},{len}"),
        });
        true
    });
    out.join(" ")
}

/// Rewrites a sparse HLL as dense (a no-op on a dense one).
pub(crate) fn to_dense(h: &mut Vec<u8>) -> Result<(), HllError> {
    if is_dense(h) {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&h[..HDR]);
    dense[4] = DENSE;
    let mut overflow = false;
    let idx = sparse_walk(h, |first, op| {
        if let Op::Val { value, len } = op {
            if first + len > REGISTERS {
                overflow = true;
                return false;
            }
            for i in first..first + len {
                dense_set(&mut dense[HDR..], i, value);
            }
        }
        true
    });
    if overflow || idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    *h = dense;
    Ok(())
}

/// Raises sparse register `index` to `count`, splitting and merging opcodes
/// exactly as Redis's `hllSparseSet` does (the bytes are visible to `GET`),
/// turning dense when the sparse form cannot hold the result.
fn sparse_raise(
    h: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, HllError> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(h, index, count);
    }
    // Step 1: the opcode covering `index`.
    let mut p = HDR;
    let mut first = 0;
    let mut prev = None;
    let mut found = None;
    while p < h.len() {
        let op = Op::at(h, p);
        if index < first + op.span() {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.bytes();
        first += op.span();
    }
    let Some(op) = found else {
        return Err(HllError::Corrupt);
    };
    // Step 2: the trivial in-place updates, else the replacement sequence.
    let last = first + op.span() - 1;
    match op {
        Op::Val { value, .. } if value >= count => return Ok(false),
        Op::Val { len: 1, .. }
        | Op::Zeros {
            len: 1,
            xzero: false,
        } => {
            h[p] = val(count, 1);
        }
        _ => {
            let mut seq = Vec::with_capacity(5);
            match op {
                Op::Zeros { .. } => {
                    if index != first {
                        push_zeros(&mut seq, index - first);
                    }
                    seq.push(val(count, 1));
                    if index != last {
                        push_zeros(&mut seq, last - index);
                    }
                }
                Op::Val { value, .. } => {
                    if index != first {
                        seq.push(val(value, index - first));
                    }
                    seq.push(val(count, 1));
                    if index != last {
                        seq.push(val(value, last - index));
                    }
                }
            }
            // Step 3: splice it in, unless that passes the size limit.
            let old = op.bytes();
            if seq.len() > old && h.len() + seq.len() - old > max_bytes {
                return promote(h, index, count);
            }
            let end = (p + old).min(h.len());
            h.splice(p..end, seq);
        }
    }
    // Step 4: merge adjacent equal VAL opcodes, scanning up to five opcodes
    // from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < h.len() && scan > 0 {
        scan -= 1;
        match Op::at(h, p) {
            Op::Zeros { xzero, .. } => {
                p += if xzero { 2 } else { 1 };
                continue;
            }
            Op::Val { value: v1, len: l1 } => {
                if p + 1 < h.len() {
                    if let Op::Val { value: v2, len: l2 } = Op::at(h, p + 1) {
                        if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                            h[p + 1] = val(v1, l1 + l2);
                            h.remove(p);
                            continue;
                        }
                    }
                }
            }
        }
        p += 1;
    }
    invalidate(h);
    Ok(true)
}

fn promote(h: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    to_dense(h)?;
    Ok(dense_raise(h, index, count))
}

/// Raises register `index` to `count` in either encoding; true if it changed.
pub(crate) fn raise(
    h: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, HllError> {
    if is_dense(h) {
        Ok(dense_raise(h, index, count))
    } else {
        sparse_raise(h, index, count, max_bytes)
    }
}

/// Adds an element (PFADD); true if a register changed. The caller
/// invalidates the cached count.
pub(crate) fn add(h: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, HllError> {
    let (index, count) = pat_len(ele);
    raise(h, index, count, max_bytes)
}

/// Takes the register-wise maximum of `max` and a validated HLL.
pub(crate) fn merge_into(max: &mut [u8; REGISTERS], h: &[u8]) -> Result<(), HllError> {
    if is_dense(h) {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&h[HDR..], i));
        }
        return Ok(());
    }
    let mut overflow = false;
    let idx = sparse_walk(h, |first, op| {
        if let Op::Val { value, len } = op {
            if first + len > REGISTERS {
                overflow = true;
                return false;
            }
            for m in &mut max[first..first + len] {
                *m = (*m).max(value);
            }
        }
        true
    });
    if overflow || idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    Ok(())
}

// === counting ===

/// How many registers hold each value.
type Histogram = [u32; 64];

/// The cardinality of a validated HLL (not using the cache).
pub(crate) fn count(h: &[u8]) -> Result<u64, HllError> {
    let mut histo: Histogram = [0; 64];
    if is_dense(h) {
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(&h[HDR..], i))] += 1;
        }
    } else {
        let idx = sparse_walk(h, |_, op| {
            match op {
                Op::Zeros { len, .. } => histo[0] += len as u32,
                Op::Val { value, len } => histo[usize::from(value)] += len as u32,
            }
            true
        });
        if idx != REGISTERS {
            return Err(HllError::Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The cardinality of raw one-byte registers (PFCOUNT over several keys).
pub(crate) fn count_raw(regs: &[u8; REGISTERS]) -> u64 {
    let mut histo: Histogram = [0; 64];
    for &r in regs {
        histo[usize::from(r & 63)] += 1;
    }
    estimate(&histo)
}

/// Ertl's estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", arXiv:1702.01284), in Redis's order of operations so the
/// rounding matches.
fn estimate(histo: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filled(n: usize, prefix: &str) -> Vec<u8> {
        let mut h = new_sparse();
        for i in 0..n {
            add(&mut h, format!("{prefix}{i}").as_bytes(), SPARSE_MAX_BYTES).unwrap();
        }
        h
    }

    #[test]
    fn empty_is_18_bytes_and_counts_zero() {
        let h = new_sparse();
        assert_eq!(h.len(), 18);
        assert_eq!(&h[16..], &[0x7f, 0xff]);
        assert_eq!(count(&h), Ok(0));
    }

    #[test]
    fn murmur_mixes_tail_and_words() {
        // With seed 0 the empty input stays 0; every length class differs.
        assert_eq!(murmur64a(b"", 0), 0);
        let hs: Vec<u64> = (0..17)
            .map(|n| murmur64a(&vec![7u8; n], 0xadc8_3b19))
            .collect();
        for (i, a) in hs.iter().enumerate() {
            assert!(hs[i + 1..].iter().all(|b| b != a));
        }
    }

    #[test]
    fn estimator_small_counts_are_exact() {
        for n in [1, 2, 3, 10, 100] {
            assert_eq!(count(&filled(n, "e")).unwrap(), n as u64);
        }
    }

    #[test]
    fn estimator_within_two_percent() {
        let h = filled(20_000, "x");
        assert!(is_dense(&h));
        let c = count(&h).unwrap() as f64;
        assert!((c - 20_000.0).abs() / 20_000.0 < 0.02, "{c}");
    }

    #[test]
    fn corrupt_sparse_is_refused() {
        let mut h = new_sparse();
        h.truncate(17);
        assert_eq!(validate(&h), Ok(()));
        assert_eq!(count(&h), Err(HllError::Corrupt));
        assert_eq!(validate(b"HYLL\x00"), Err(HllError::NotHll));
        assert_eq!(validate(&[b'H'; 16]), Err(HllError::NotHll));
    }

    fn registers(h: &[u8]) -> Box<[u8; REGISTERS]> {
        let mut m = Box::new([0u8; REGISTERS]);
        merge_into(&mut m, h).unwrap();
        m
    }

    proptest! {
        #[test]
        fn sparse_and_dense_agree(elems in proptest::collection::vec(any::<u32>(), 0..300)) {
            let mut s = new_sparse();
            let mut d = new_sparse();
            to_dense(&mut d).unwrap();
            for e in &elems {
                let a = add(&mut s, &e.to_le_bytes(), SPARSE_MAX_BYTES).unwrap();
                let b = add(&mut d, &e.to_le_bytes(), SPARSE_MAX_BYTES).unwrap();
                prop_assert_eq!(a, b);
            }
            prop_assert_eq!(registers(&s), registers(&d));
            prop_assert_eq!(count(&s).unwrap(), count(&d).unwrap());
        }

        #[test]
        fn merge_is_commutative(a in proptest::collection::vec(any::<u16>(), 0..200),
                                b in proptest::collection::vec(any::<u16>(), 0..200)) {
            let ha = filled(0, "");
            let (mut ha, mut hb) = (ha.clone(), ha);
            for e in &a { add(&mut ha, &e.to_le_bytes(), SPARSE_MAX_BYTES).unwrap(); }
            for e in &b { add(&mut hb, &e.to_le_bytes(), SPARSE_MAX_BYTES).unwrap(); }
            let mut ab = Box::new([0u8; REGISTERS]);
            merge_into(&mut ab, &ha).unwrap();
            merge_into(&mut ab, &hb).unwrap();
            let mut ba = Box::new([0u8; REGISTERS]);
            merge_into(&mut ba, &hb).unwrap();
            merge_into(&mut ba, &ha).unwrap();
            prop_assert_eq!(&ab, &ba);
            prop_assert_eq!(count_raw(&ab), count_raw(&ba));
        }
    }
}
