//! Stable key hashing: FNV-1a 64 over the bytes, then the murmur3 `fmix64`
//! finalizer.
//!
//! Why fixed and hand-written: several front door processes (and several
//! versions of them during a rolling upgrade) must send the same key to the
//! same server with no shared state. `std`'s `RandomState` is seeded per
//! process, and `DefaultHasher`'s algorithm is explicitly unspecified between
//! Rust releases, so neither may be used here. FNV-1a is a dozen lines anyone
//! can reimplement in another language; FNV alone mixes its last bytes poorly
//! (keys `user-1`, `user-2` land close together), which `fmix64` — a bijection
//! with full avalanche — repairs. The golden test in `tests/hash.rs` pins the
//! outputs: changing this function reshuffles every hashed-sticky user.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hashes a sticky key (session cookie, source address, header value…) to a
/// point on the ring.
///
/// The algorithm and seed are fixed forever (see the module docs): every
/// process, on every host, in every version, returns the same value for the
/// same bytes. It is not a cryptographic hash; do not hash secrets with it
/// where an attacker can see the result.
#[must_use]
pub fn hash_key(key: &[u8]) -> u64 {
    let mut h = KeyHasher::new();
    h.write(key);
    h.finish()
}

/// Streaming form of [`hash_key`], so a virtual node's name `"{id}#{i}"` can
/// be hashed without building the string.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    pub(crate) const fn new() -> Self {
        Self(FNV_OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// Writes `n` in decimal ASCII, exactly as `format!("{n}")` would.
    pub(crate) fn write_decimal(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            // `n % 10` is < 10, so the cast cannot truncate.
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.write(&buf[i..]);
    }

    pub(crate) const fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

/// murmur3's 64-bit finalizer: a bijection in which every input bit flips
/// each output bit with probability close to 1/2.
pub(crate) const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FNV-1a stage against the published FNV test vectors.
    #[test]
    fn fnv1a_reference_vectors() {
        for (input, want) in [
            (&b""[..], 0xcbf2_9ce4_8422_2325_u64),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut h = KeyHasher::new();
            h.write(input);
            assert_eq!(h.0, want, "{input:?}");
        }
        assert_eq!(fmix64(0), 0);
    }

    #[test]
    fn streaming_matches_formatted_name() {
        for (id, i) in [("app-1", 0u64), ("a", 159), ("", 12345), ("x", u64::MAX)] {
            let mut h = KeyHasher::new();
            h.write(id.as_bytes());
            h.write(b"#");
            h.write_decimal(i);
            assert_eq!(h.finish(), hash_key(format!("{id}#{i}").as_bytes()));
        }
    }
}
