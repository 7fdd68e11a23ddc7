//! Per-thread scratch buffers for bytes that live only until they are written
//! or copied: a request head on its way to a server, a response head on its
//! way to the client, a forwarding value being put together. Taken from this
//! worker thread's few, given back when dropped, so the common path of a
//! request allocates none of them.
//!
//! Header maps are kept the same way: a request's map is given back once its
//! head went to a server, a response's once its head went to the client, and
//! the next request's head is parsed into one of them (a map is two
//! allocations that a keep-alive request would otherwise make and free twice).

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

/// Buffers kept per thread: a task holds at most two at once, and a worker
/// runs one task at a time, so a few cover every interleaving.
const KEPT: usize = 8;
/// Capacity a new buffer starts with: most heads fit.
const START: usize = 512;
/// A buffer grown past this (a huge head) goes back to the allocator.
const MAX_KEPT_CAPACITY: usize = 16 * 1024;

/// Header maps kept per thread: a request's map is held until its server
/// answers, and an HTTP/2 client keeps many in flight (h2load's 8 x 10 on one
/// thread missed a pool of 16 on most requests).
const KEPT_MAPS: usize = 128;
/// A map that grew past this many headers goes back to the allocator.
const MAX_KEPT_HEADERS: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static MAPS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty header map with room for `n` headers, reused when one is kept.
pub(crate) fn header_map(n: usize) -> HeaderMap {
    match MAPS.with(|m| m.borrow_mut().pop()) {
        Some(mut map) => {
            map.reserve(n);
            map
        }
        None => HeaderMap::with_capacity(n),
    }
}

/// Give a map that is done with back for the next `header_map`.
pub(crate) fn give_header_map(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_KEPT_HEADERS {
        return;
    }
    map.clear();
    let _ = MAPS.try_with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < KEPT_MAPS {
            m.push(map);
        }
    });
}

/// An empty buffer, back to its thread's free list when dropped.
pub(crate) struct Scratch(Vec<u8>);

impl Scratch {
    pub(crate) fn take() -> Scratch {
        let buf = FREE
            .with(|f| f.borrow_mut().pop())
            .unwrap_or_else(|| Vec::with_capacity(START));
        Scratch(buf)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if buf.capacity() == 0 || buf.capacity() > MAX_KEPT_CAPACITY {
            return;
        }
        buf.clear();
        // `try_with`: a buffer dropped while the thread exits just goes.
        let _ = FREE.try_with(|f| {
            let mut f = f.borrow_mut();
            if f.len() < KEPT {
                f.push(buf);
            }
        });
    }
}

/// Size of the chunk small per-request values are carved from.
const SMALL_CHUNK: usize = 4096;
/// Values longer than this get their own allocation. An HTTP/2 request's
/// decoded header block is carved whole (`h2_conn::request_parts`), and
/// most are well under it.
const MAX_SMALL: usize = 1024;

thread_local! {
    static SMALL: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// `src` as `Bytes` carved from this thread's current chunk: a value made for
/// every request (its id, the `Forwarded` value, an HTTP/2 request's decoded
/// fields) then costs no allocation of its own, and its clones and slices
/// share it. A chunk is freed once its last value is dropped.
pub(crate) fn small_bytes(src: &[u8]) -> Bytes {
    if src.len() > MAX_SMALL {
        return Bytes::copy_from_slice(src);
    }
    SMALL.with(|chunk| {
        let mut chunk = chunk.borrow_mut();
        if chunk.capacity() < src.len() {
            *chunk = BytesMut::with_capacity(SMALL_CHUNK);
        }
        chunk.extend_from_slice(src);
        chunk.split().freeze()
    })
}

impl Deref for Scratch {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_empty_and_is_reused() {
        let mut a = Scratch::take();
        a.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let ptr = a.as_ptr();
        drop(a);
        let b = Scratch::take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "the same allocation, reused");
    }

    #[test]
    fn a_header_map_comes_back_empty() {
        let mut m = header_map(4);
        m.insert(http::header::HOST, "a".parse().unwrap());
        give_header_map(m);
        let m = header_map(8);
        assert!(m.is_empty());
        assert!(m.capacity() >= 8);
    }

    #[test]
    fn small_values_share_a_chunk_and_keep_their_bytes() {
        let a = small_bytes(b"for=10.0.0.1;proto=http");
        let b = small_bytes(b"0123456789abcdef0123456789abcdef");
        assert_eq!(&a[..], b"for=10.0.0.1;proto=http");
        assert_eq!(&b[..], b"0123456789abcdef0123456789abcdef");
        assert_eq!(a.as_ptr().wrapping_add(a.len()), b.as_ptr(), "one chunk");
        // Past the chunk's end: a new chunk, the old values intact.
        let many: Vec<Bytes> = (0..200).map(|i| small_bytes(&[i as u8; 40])).collect();
        for (i, v) in many.iter().enumerate() {
            assert_eq!(&v[..], &[i as u8; 40][..]);
        }
        assert_eq!(&a[..], b"for=10.0.0.1;proto=http");
        let big = small_bytes(&[7; MAX_SMALL + 1]);
        assert_eq!(big.len(), MAX_SMALL + 1);
    }

    #[test]
    fn a_grown_buffer_is_not_kept() {
        let mut a = Scratch::take();
        a.resize(MAX_KEPT_CAPACITY + 1, 0);
        drop(a);
        assert!(Scratch::take().capacity() <= MAX_KEPT_CAPACITY);
    }
}
