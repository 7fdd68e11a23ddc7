//! The stream value: entries by id, consumer groups, pending-entry lists.
//!
//! No I/O and no replies: `cmd/stream.rs` turns commands into calls here.
//! Redis keeps entries in listpack "nodes" of at most 100 entries and 4096
//! bytes and trims with `~` only whole nodes. We keep the node boundaries,
//! computing each node's listpack size as Redis encodes it, so approximate
//! trimming (and XINFO's radix-tree-keys) match redis-server exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use bytes::Bytes;

/// Entries per node before a new one starts (`stream-node-max-entries`).
pub(crate) const NODE_MAX_ENTRIES: u64 = 100;
/// Listpack bytes per node (`stream-node-max-bytes`).
const NODE_MAX_BYTES: usize = 4096;
/// Entry flag: the fields are the node's master fields.
const FLAG_SAMEFIELDS: i64 = 2;

/// Bytes of a listpack element's back-length for an element of `l` bytes.
fn lp_backlen(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// Bytes of an integer element in a listpack.
fn lp_int_size(v: i64) -> usize {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// Listpack stores strings that look like integers (`string2ll`) as such.
fn lp_as_int(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' || (digits == b"0" && digits.len() != b.len()) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Bytes of a string element in a listpack.
fn lp_str_size(b: &[u8]) -> usize {
    if let Some(v) = lp_as_int(b) {
        return lp_int_size(v);
    }
    let enc = match b.len() {
        0..64 => 1 + b.len(),
        64..4096 => 2 + b.len(),
        _ => 5 + b.len(),
    };
    enc + lp_backlen(enc)
}

/// A stream entry id `ms-seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId {
    /// Milliseconds part.
    pub(crate) ms: u64,
    /// Sequence part.
    pub(crate) seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub(crate) const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub(crate) const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// A new id.
    pub(crate) const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next id, None at the maximum.
    pub(crate) fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous id, None at zero.
    pub(crate) fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// Whether this is `0-0`.
    pub(crate) fn is_zero(self) -> bool {
        self == StreamId::ZERO
    }

    /// As a bulk-string-ready byte string.
    pub(crate) fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// `-1` in Redis: the group's read counter is unknown.
pub(crate) const ENTRIES_READ_INVALID: i64 = -1;

/// A pending (delivered, not acknowledged) entry.
#[derive(Clone, Debug)]
pub(crate) struct Nack {
    /// Owning consumer.
    pub(crate) consumer: Bytes,
    /// Last delivery, ms.
    pub(crate) delivery_time: u64,
    /// Deliveries so far.
    pub(crate) delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default)]
pub(crate) struct Consumer {
    /// Last time it was seen, ms.
    pub(crate) seen_time: u64,
    /// Its pending ids (the NACKs live in the group's PEL).
    pub(crate) pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    /// Last delivered id.
    pub(crate) last_id: StreamId,
    /// Logical read counter, [`ENTRIES_READ_INVALID`] if unknown.
    pub(crate) entries_read: i64,
    /// Pending entries of all consumers.
    pub(crate) pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name (byte order, like Redis's radix tree).
    pub(crate) consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// Looks a consumer up or creates it; true if created.
    pub(crate) fn consumer_mut(&mut self, name: &Bytes, now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self.consumers.entry(name.clone()).or_default();
        c.seen_time = now;
        (c, created)
    }

    /// Removes a pending entry from the group and its consumer.
    pub(crate) fn remove_nack(&mut self, id: StreamId) -> Option<Nack> {
        let n = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        Some(n)
    }

    /// Gives a pending entry to `consumer` (which must exist).
    pub(crate) fn assign(&mut self, id: StreamId, consumer: &Bytes) {
        let Some(n) = self.pel.get_mut(&id) else {
            return;
        };
        if n.consumer != *consumer {
            if let Some(old) = self.consumers.get_mut(&n.consumer) {
                old.pel.remove(&id);
            }
            n.consumer = consumer.clone();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// One listpack node's bookkeeping.
#[derive(Clone, Debug)]
struct Node {
    /// Master id (first id inserted).
    first: StreamId,
    /// Last id inserted (deleted or not).
    last: StreamId,
    /// Entries ever inserted (live + deleted).
    total: u64,
    /// Live entries.
    live: u64,
    /// Listpack size in bytes (Redis's `lpBytes`).
    bytes: usize,
    /// Field names of the master entry.
    master_fields: Vec<Bytes>,
}

/// Nodes of the compressed trie over sorted, distinct `keys` from `depth`.
fn rax_count(keys: &[[u8; 16]], depth: usize) -> usize {
    if keys.len() == 1 {
        // A compressed node for the rest of the key, then the leaf.
        return if depth < 16 { 2 } else { 1 };
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let common = (depth..16).take_while(|&i| first[i] == last[i]).count();
    let mut nodes = usize::from(common > 0);
    let depth = depth + common;
    // The branching node, then one subtree per distinct next byte.
    nodes += 1;
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][depth];
        let j = i + keys[i..].iter().take_while(|k| k[depth] == b).count();
        nodes += rax_count(&keys[i..j], depth + 1);
        i = j;
    }
    nodes
}

/// How to trim.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries below this id.
    MinId(StreamId),
}

/// A stream.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stream {
    /// Entries by id.
    pub(crate) entries: BTreeMap<StreamId, Vec<(Bytes, Bytes)>>,
    /// Node boundaries, oldest first.
    nodes: VecDeque<Node>,
    /// Last id ever generated.
    pub(crate) last_id: StreamId,
    /// Largest id deleted by XDEL.
    pub(crate) max_deleted: StreamId,
    /// Entries ever added.
    pub(crate) entries_added: u64,
    /// Groups by name.
    pub(crate) groups: BTreeMap<Bytes, Group>,
    /// Heap held by the entries (kept as they come and go, so the memory
    /// estimate is O(1) in the entries).
    heap: usize,
}

/// Heap of one entry in our map: id, vector, and per field two `Bytes`.
fn entry_heap(fields: &[(Bytes, Bytes)]) -> usize {
    80 + fields
        .iter()
        .map(|(f, v)| 64 + f.len() + v.len())
        .sum::<usize>()
}

impl Stream {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// First live id, 0-0 if empty (Redis's `first_id`).
    pub(crate) fn first_id(&self) -> StreamId {
        self.entries
            .keys()
            .next()
            .copied()
            .unwrap_or(StreamId::ZERO)
    }

    /// Last live id, 0-0 if empty.
    pub(crate) fn last_valid_id(&self) -> StreamId {
        self.entries
            .keys()
            .next_back()
            .copied()
            .unwrap_or(StreamId::ZERO)
    }

    /// Number of nodes (XINFO's radix-tree-keys).
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Nodes of Redis's radix tree over the node keys (XINFO's
    /// radix-tree-nodes): keys are 16-byte big-endian ids, and for keys of
    /// one length the tree's shape is the compressed trie of the set.
    pub(crate) fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self
            .nodes
            .iter()
            .map(|n| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&n.first.ms.to_be_bytes());
                k[8..].copy_from_slice(&n.first.seq.to_be_bytes());
                k
            })
            .collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// Appends an entry; the id must be greater than `last_id`.
    pub(crate) fn append(&mut self, id: StreamId, fields: Vec<(Bytes, Bytes)>) {
        // As `streamAppendItem`: a new node once the tail is full by count
        // or would pass the byte limit.
        let total_len: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        let full = match self.nodes.back() {
            Some(n) => n.bytes + total_len >= NODE_MAX_BYTES || n.total >= NODE_MAX_ENTRIES,
            None => true,
        };
        let numfields = fields.len() as i64;
        if full {
            // Header + end, count, deleted, num-fields, fields, terminator.
            let bytes = 7
                + lp_int_size(1)
                + lp_int_size(0)
                + lp_int_size(numfields)
                + fields.iter().map(|(f, _)| lp_str_size(f)).sum::<usize>()
                + lp_int_size(0);
            self.nodes.push_back(Node {
                first: id,
                last: id,
                total: 0,
                live: 0,
                bytes,
                master_fields: fields.iter().map(|(f, _)| f.clone()).collect(),
            });
        }
        let n = self.nodes.back_mut().expect("tail node");
        let same = n.master_fields.len() == fields.len()
            && n.master_fields
                .iter()
                .zip(&fields)
                .all(|(m, (f, _))| m == f);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        let mut bytes = lp_int_size(flags)
            + lp_int_size(id.ms.wrapping_sub(n.first.ms) as i64)
            + lp_int_size(id.seq.wrapping_sub(n.first.seq) as i64);
        let mut lp_count = numfields + 3;
        if !same {
            bytes += lp_int_size(numfields);
            bytes += fields.iter().map(|(f, _)| lp_str_size(f)).sum::<usize>();
            lp_count += numfields + 1;
        }
        bytes += fields.iter().map(|(_, v)| lp_str_size(v)).sum::<usize>();
        bytes += lp_int_size(lp_count);
        n.bytes += bytes;
        n.total += 1;
        n.live += 1;
        n.last = id;
        self.heap += entry_heap(&fields);
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Index of the node holding `id`.
    fn node_of(&self, id: StreamId) -> Option<usize> {
        let i = self.nodes.partition_point(|n| n.first <= id);
        i.checked_sub(1)
    }

    /// Removes one entry (XDEL); true if it existed.
    pub(crate) fn delete(&mut self, id: StreamId) -> bool {
        let Some(fields) = self.entries.remove(&id) else {
            return false;
        };
        self.heap -= entry_heap(&fields);
        if let Some(i) = self.node_of(id) {
            self.nodes[i].live -= 1;
            if self.nodes[i].live == 0 {
                self.nodes.remove(i);
            }
        }
        true
    }

    /// Trims like Redis's `streamTrim`: whole nodes first; with `approx`
    /// only whole nodes; `limit` caps the entries removed (0 = none).
    /// Returns the number removed.
    pub(crate) fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        match how {
            Trim::MaxLen(max) if self.len() as u64 <= max => return 0,
            _ => {}
        }
        let mut deleted = 0u64;
        while let Some(n) = self.nodes.front() {
            if limit > 0 && deleted + NODE_MAX_ENTRIES > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.len() as u64 - n.live >= max,
                Trim::MinId(min) => n.last < min,
            };
            if remove_node {
                let n = self.nodes.pop_front().expect("front");
                let keep = match n.last.incr() {
                    Some(next) => self.entries.split_off(&next),
                    None => BTreeMap::new(),
                };
                let gone = std::mem::replace(&mut self.entries, keep);
                deleted += gone.len() as u64;
                self.heap -= gone.values().map(|f| entry_heap(f)).sum::<usize>();
                continue;
            }
            if approx {
                break;
            }
            // Trim inside the node; it keeps its bookkeeping (the deleted
            // entries are only marked in Redis).
            while let Some((&id, _)) = self.entries.iter().next() {
                let stop = match how {
                    Trim::MaxLen(max) => self.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if let Some(f) = self.entries.remove(&id) {
                    self.heap -= entry_heap(&f);
                }
                self.nodes[0].live -= 1;
                deleted += 1;
            }
            break;
        }
        deleted
    }

    /// Whether an entry exists.
    pub(crate) fn contains(&self, id: StreamId) -> bool {
        self.entries.contains_key(&id)
    }

    /// Redis's `streamRangeHasTombstones(start, end = max)`.
    pub(crate) fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id() > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`.
    pub(crate) fn estimate_read_counter(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.entries.is_empty() && id <= self.last_id {
            return self.entries_added as i64;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return self.entries_added as i64,
            std::cmp::Ordering::Greater => return ENTRIES_READ_INVALID,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted.is_zero() || self.max_deleted < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => {
                    return (self.entries_added - self.len() as u64) as i64;
                }
                std::cmp::Ordering::Equal => {
                    return (self.entries_added - self.len() as u64 + 1) as i64;
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        ENTRIES_READ_INVALID
    }

    /// The group's lag, None when it cannot be known.
    pub(crate) fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let r = self.estimate_read_counter(g.last_id);
        (r != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - r)
    }

    /// Moves a group's last delivered id forward to `id`, keeping its read
    /// counter as Redis does when XREADGROUP delivers `id`.
    pub(crate) fn advance_group(&mut self, group: &Bytes, id: StreamId) {
        let tomb = self.has_tombstones_from(id);
        let est = self.estimate_read_counter(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if id <= g.last_id {
            return;
        }
        if g.entries_read != ENTRIES_READ_INVALID && !tomb {
            g.entries_read += 1;
        } else if added > 0 {
            g.entries_read = est;
        }
        g.last_id = id;
    }

    /// Heap footprint estimate: entries, nodes, groups.
    pub(crate) fn approx_size(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| {
                128 + name.len()
                    + g.pel.len() * 96
                    + g.consumers.keys().map(|k| k.len() + 64).sum::<usize>()
            })
            .sum();
        128 + self.heap + self.nodes.len() * 64 + groups
    }
}

/// Parses a Redis stream id. `missing_seq` fills `ms` alone; `strict`
/// refuses `-`/`+`; `allow_star_seq` accepts `ms-*` (returns seq_given =
/// false). Returns (id, seq_given).
pub(crate) fn parse_id(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star_seq: bool,
) -> Option<(StreamId, bool)> {
    if b.len() > 127 {
        return None;
    }
    // Redis reads the id as a C string: an embedded NUL ends it.
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    match b {
        b"-" if !strict => return Some((StreamId::ZERO, true)),
        b"+" if !strict => return Some((StreamId::MAX, true)),
        b"-" | b"+" => return None,
        _ => {}
    }
    let (ms, seq) = match b.iter().position(|&c| c == b'-') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let ms = parse_u64(ms)?;
    match seq {
        None => Some((StreamId::new(ms, missing_seq), true)),
        Some(b"*") if allow_star_seq => Some((StreamId::new(ms, 0), false)),
        Some(s) => Some((StreamId::new(ms, parse_u64(s)?), true)),
    }
}

/// Redis's `string2ull`: a canonical integer (refused if negative), else
/// what `strtoull` reads over the whole text: leading space, an optional
/// sign (a negative wraps), at least one digit, no overflow.
fn parse_u64(b: &[u8]) -> Option<u64> {
    if let Some(v) = crate::resp::parse_i64(b) {
        return u64::try_from(v).ok();
    }
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let rest = &b[start..];
    let (neg, digits) = match rest[0] {
        b'-' => (true, &rest[1..]),
        b'+' => (false, &rest[1..]),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Vec<(Bytes, Bytes)> {
        vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))]
    }

    #[test]
    fn ids_parse_like_string2ull() {
        let id = |b: &[u8]| parse_id(b, 0, true, false).map(|(i, _)| i);
        assert_eq!(id(b" 1"), Some(StreamId::new(1, 0)));
        assert_eq!(id(b"+1-+2"), Some(StreamId::new(1, 2)));
        assert_eq!(id(b"1--0"), Some(StreamId::new(1, 0)));
        assert_eq!(id(b"3\0-junk"), Some(StreamId::new(3, 0)));
        assert_eq!(id(b"1--1"), None);
        assert_eq!(id(b"-1"), None);
        assert_eq!(id(b"18446744073709551616"), None);
        assert_eq!(id(b"1 "), None);
    }

    #[test]
    fn approx_trim_removes_only_whole_nodes() {
        let mut s = Stream::default();
        for i in 1..=250 {
            s.append(StreamId::new(i, 0), f());
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.len(), 120);
        assert_eq!(s.first_id(), StreamId::new(131, 0));
    }

    #[test]
    fn big_entries_fill_nodes_by_bytes() {
        let mut s = Stream::default();
        let v = Bytes::from(vec![b'x'; 1000]);
        for i in 1..=10 {
            s.append(
                StreamId::new(i, 0),
                vec![(Bytes::from_static(b"f"), v.clone())],
            );
        }
        // 4096-byte nodes hold four 1 KB entries (as redis-server does).
        assert_eq!(s.node_count(), 3);
        assert_eq!(lp_str_size(b"123"), 2);
        assert_eq!(lp_str_size(b"0123"), 6);
        assert_eq!(lp_str_size(b"-0"), 4);
    }

    #[test]
    fn memory_estimate_follows_entries() {
        let mut s = Stream::default();
        let empty = s.approx_size();
        for i in 1..=300 {
            s.append(StreamId::new(i, 0), f());
        }
        let full = s.approx_size();
        assert!(full > empty + 300 * 100, "{empty} -> {full}");
        s.delete(StreamId::new(300, 0));
        s.trim(Trim::MaxLen(0), false, 0);
        assert_eq!(s.approx_size(), empty);
    }

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(
            parse_id(b"5", 0, true, false),
            Some((StreamId::new(5, 0), true))
        );
        assert_eq!(
            parse_id(b"5-*", 0, true, true),
            Some((StreamId::new(5, 0), false))
        );
        assert_eq!(parse_id(b"5-*", 0, true, false), None);
        assert_eq!(parse_id(b"-", 0, true, false), None);
        assert_eq!(parse_id(b"+", 0, false, false), Some((StreamId::MAX, true)));
        assert_eq!(parse_id(b"1-", 0, true, false), None);
        assert_eq!(parse_id(b"-1", 0, true, false), None);
    }
}
