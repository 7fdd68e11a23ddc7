//! The static table (RFC 7541 Appendix A) and the dynamic table (§4), shared
//! by the decoder and the encoder (each keeps its own copy, in step with the
//! peer's).
//!
//! The dynamic table keeps every entry's bytes in one buffer, appended at the
//! end and dropped from the front as entries are evicted (the buffer is
//! compacted once its dead prefix outgrows the table): inserting an entry
//! allocates nothing once the buffer has grown to about twice the table size.

use std::collections::VecDeque;

/// RFC 7541 Appendix A, index 1 first.
pub(crate) const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The per-entry overhead the RFC counts (§4.1).
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// The static index of the first entry named `name`, if any.
pub(crate) fn static_name_index(name: &[u8]) -> Option<usize> {
    // Grouped by length first: one comparison of lengths rules most out.
    let idx = match name {
        b":authority" => 1,
        b":method" => 2,
        b":path" => 4,
        b":scheme" => 6,
        b":status" => 8,
        b"accept-charset" => 15,
        b"accept-encoding" => 16,
        b"accept-language" => 17,
        b"accept-ranges" => 18,
        b"accept" => 19,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"cookie" => 32,
        b"date" => 33,
        b"etag" => 34,
        b"expect" => 35,
        b"expires" => 36,
        b"from" => 37,
        b"host" => 38,
        b"if-match" => 39,
        b"if-modified-since" => 40,
        b"if-none-match" => 41,
        b"if-range" => 42,
        b"if-unmodified-since" => 43,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"max-forwards" => 47,
        b"proxy-authenticate" => 48,
        b"proxy-authorization" => 49,
        b"range" => 50,
        b"referer" => 51,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"user-agent" => 58,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => return None,
    };
    Some(idx)
}

/// The static index of `name: value` if the static table has that pair.
pub(crate) fn static_pair_index(name_idx: usize, value: &[u8]) -> Option<usize> {
    let found = match (name_idx, value) {
        (2, b"GET") => 2,
        (2, b"POST") => 3,
        (4, b"/") => 4,
        (4, b"/index.html") => 5,
        (6, b"http") => 6,
        (6, b"https") => 7,
        (8, b"200") => 8,
        (8, b"204") => 9,
        (8, b"206") => 10,
        (8, b"304") => 11,
        (8, b"400") => 12,
        (8, b"404") => 13,
        (8, b"500") => 14,
        (16, b"gzip, deflate") => 16,
        _ => return None,
    };
    Some(found)
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the name in `data`; the value follows it.
    start: usize,
    name_len: u32,
    value_len: u32,
}

impl Entry {
    fn size(self) -> usize {
        self.name_len as usize + self.value_len as usize + ENTRY_OVERHEAD
    }
}

/// A dynamic table: newest entry first (index 62 on the wire).
#[derive(Debug, Default)]
pub(crate) struct DynamicTable {
    data: Vec<u8>,
    entries: VecDeque<Entry>,
    /// The RFC size of the entries (bytes + 32 each).
    size: usize,
    /// The table's current maximum size.
    max: usize,
}

impl DynamicTable {
    pub(crate) fn new(max: usize) -> Self {
        DynamicTable {
            max,
            ..Default::default()
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Entry `i` (0 = newest) as (name, value).
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let e = *self.entries.get(i)?;
        let mid = e.start + e.name_len as usize;
        Some((
            &self.data[e.start..mid],
            &self.data[mid..mid + e.value_len as usize],
        ))
    }

    /// A new maximum size (a size update): entries evicted to fit.
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    /// Insert `name: value` (§4.4): evict until it fits; an entry larger than
    /// the table empties it and is not added (not an error).
    pub(crate) fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max {
            self.entries.clear();
            self.data.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max - size);
        self.compact(name.len() + value.len());
        let start = self.data.len();
        self.data.extend_from_slice(name);
        self.data.extend_from_slice(value);
        self.entries.push_front(Entry {
            start,
            name_len: name.len() as u32,
            value_len: value.len() as u32,
        });
        self.size += size;
    }

    fn evict_to(&mut self, room: usize) {
        while self.size > room {
            match self.entries.pop_back() {
                Some(e) => self.size -= e.size(),
                None => break,
            }
        }
        if self.entries.is_empty() {
            self.data.clear();
        }
    }

    /// Drop the evicted prefix of `data` once it is larger than the live part
    /// would need (so `data` stays below about twice the table size).
    fn compact(&mut self, incoming: usize) {
        let live_start = self.entries.back().map_or(self.data.len(), |e| e.start);
        if live_start == 0 || self.data.len() + incoming <= 2 * self.max.max(256) {
            return;
        }
        self.data.drain(..live_start);
        for e in &mut self.entries {
            e.start -= live_start;
        }
    }

    /// The newest entry with this name and value (`Ok`), or failing that the
    /// newest with this name (`Err(Some)`).
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> Result<usize, Option<usize>> {
        let mut by_name = None;
        for i in 0..self.entries.len() {
            let (n, v) = self.get(i).unwrap_or_default();
            if n == name {
                if v == value {
                    return Ok(i);
                }
                by_name.get_or_insert(i);
            }
        }
        Err(by_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lookups_agree_with_the_table() {
        for (i, (name, value)) in STATIC.iter().enumerate() {
            let idx = i + 1;
            let first = static_name_index(name).unwrap();
            assert_eq!(STATIC[first - 1].0, *name);
            assert!(first <= idx);
            if !value.is_empty() {
                assert_eq!(static_pair_index(first, value), Some(idx));
            }
        }
    }

    #[test]
    fn eviction_and_compaction_keep_entries_intact() {
        let mut t = DynamicTable::new(100);
        for i in 0..1000u32 {
            let v = i.to_string();
            t.insert(b"name", v.as_bytes());
            assert!(t.size() <= 100);
            assert_eq!(t.get(0).unwrap(), (&b"name"[..], v.as_bytes()));
            assert!(t.data.len() <= 2 * 256 + 40);
        }
        // Two entries of 4 + 3 + 32 = 39 fit in 100, three do not.
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1).unwrap().1, b"998");
        t.insert(&[b'x'; 100], b"");
        assert_eq!((t.len(), t.size()), (0, 0));
        t.insert(b"a", b"b");
        t.set_max(0);
        assert_eq!(t.len(), 0);
    }
}
