//! SLOWLOG's entries and its two parameters, kept by the store; the
//! commands that fill and read it are in `cmd/slowlog.rs`. A leaf.

use std::collections::VecDeque;

use bytes::Bytes;

/// The newest entries first; ids count up from 0 since the start.
pub(crate) struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
    /// `slowlog-log-slower-than`, in microseconds; negative: off.
    pub(crate) slower_than_us: i64,
    /// `slowlog-max-len`.
    pub(crate) max_len: usize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            slower_than_us: 10_000,
            max_len: 128,
        }
    }
}

/// One slow command, as SLOWLOG GET shows it.
pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) unix_secs: i64,
    pub(crate) micros: u64,
    pub(crate) argv: Vec<Bytes>,
    pub(crate) addr: String,
    pub(crate) name: Bytes,
}

impl SlowLog {
    /// Is a command that took `ns` slow enough to keep?
    #[inline]
    pub(crate) fn wants(&self, ns: u64) -> bool {
        self.slower_than_us >= 0 && ns / 1000 >= self.slower_than_us as u64
    }

    fn trim(&mut self) {
        while self.entries.len() > self.max_len {
            self.entries.pop_back();
        }
    }

    /// Keeps `entry` (its id given here) as the newest.
    pub(crate) fn push(&mut self, mut entry: Entry) {
        entry.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(entry);
        self.trim();
    }

    /// Newest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn reset(&mut self) {
        self.entries.clear();
    }

    /// Applies CONFIG SET's values of the two parameters.
    pub(crate) fn configure(&mut self, slower_than_us: i64, max_len: usize) {
        self.slower_than_us = slower_than_us;
        self.max_len = max_len;
        self.trim();
    }
}
