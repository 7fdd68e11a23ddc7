//! [`Key`]: how the keyspace stores a key.
//!
//! Most keys are short (`user:42`, `counter:7`, `key:000000012345`). Keeping
//! those inline in the map entry saves an allocation per key and, more to the
//! point, a pointer chase on every lookup: with a heap key, comparing the probed
//! entry against the request touches one more cache line, which measured as a
//! large share of GET/INCR time under load (bench/state.sh, BENCHMARKS.md).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Longest key stored inline: the enum stays 32 bytes, the size of the
/// `Bytes` it replaced, so map entries do not grow.
const INLINE: usize = 30;

/// A key's bytes, inline up to 30 bytes, boxed beyond.
#[derive(Clone)]
pub(crate) enum Key {
    /// Short key: `len` bytes of `buf`.
    Inline { len: u8, buf: [u8; INLINE] },
    /// Long key.
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<Key>() == 32);

impl Key {
    /// Copies `b` into a key.
    pub(crate) fn new(b: &[u8]) -> Key {
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            Key::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            Key::Heap(b.into())
        }
    }

    /// The key's bytes.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// A `Bytes` copy, for replies and the log.
    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Lookups pass `&[u8]`: `Borrow` requires Hash and Eq to agree with `[u8]`'s,
// which holds because both delegate to the bytes.
impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        Key::new(b)
    }
}

impl From<&Bytes> for Key {
    fn from(b: &Bytes) -> Key {
        Key::new(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    fn h<T: Hash + ?Sized>(t: &T) -> u64 {
        let mut s = DefaultHasher::new();
        t.hash(&mut s);
        s.finish()
    }

    proptest! {
        /// A key looks up like its bytes, inline or boxed (the `Borrow` contract).
        #[test]
        fn key_is_its_bytes(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let k = Key::new(&b);
            prop_assert_eq!(k.as_bytes(), &b[..]);
            prop_assert_eq!(h(&k), h(&b[..]));
            prop_assert_eq!(matches!(k, Key::Inline { .. }), b.len() <= INLINE);
            prop_assert_eq!(k.to_bytes(), Bytes::from(b.clone()));
        }
    }

    #[test]
    fn lookup_by_slice() {
        let mut m: indexmap::IndexMap<Key, u32, ahash::RandomState> = Default::default();
        m.insert(Key::new(b"short"), 1);
        m.insert(Key::new(&[7u8; 31]), 2);
        assert_eq!(m.get(&b"short"[..]), Some(&1));
        assert_eq!(m.get(&[7u8; 31][..]), Some(&2));
        assert_eq!(m.get(&[7u8; 30][..]), None);
    }
}
