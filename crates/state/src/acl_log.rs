//! ACL LOG's entries, kept by the store: refused commands, keys and
//! channels, and failed logins, as Redis 7.0 keeps them. A leaf; the
//! command layer records (`cmd/call.rs`, AUTH and HELLO) and replies
//! (`ACL LOG` in `cmd/conn.rs`).
//!
//! Like Redis, an event like one of the last ten entries (same reason,
//! context, object and user, within a minute of it) is counted in that
//! entry, which moves to the front, instead of taking a new one; at most
//! `acllog-max-len` entries are kept, the newest first.

use std::collections::VecDeque;

/// Two events this far apart (ms) or more are never merged (Redis's
/// ACL_LOG_GROUPING_MAX_TIME_DELTA).
const GROUPING_MS: u64 = 60_000;
/// How many recent entries an event is compared with.
const SCAN: usize = 10;

/// Why the event was logged (ACL LOG's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the refused call came from (ACL LOG's `context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// Sent by the client (queued in MULTI included).
    Toplevel,
    /// Run by EXEC after the user's rights changed.
    Multi,
    /// Called by a script.
    Lua,
}

impl Context {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One entry, as ACL LOG shows it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) count: u64,
    pub(crate) reason: Reason,
    pub(crate) context: Context,
    /// The command's full name, the key, the channel, or for a failed
    /// login the command as typed (`AUTH`, `hello`).
    pub(crate) object: Vec<u8>,
    pub(crate) username: Vec<u8>,
    /// When it last happened (ms since the epoch).
    pub(crate) ms: u64,
    /// CLIENT INFO of the client, when it last happened.
    pub(crate) client_info: String,
}

/// The log, newest first.
#[derive(Default)]
pub(crate) struct AclLog {
    entries: VecDeque<Entry>,
}

impl AclLog {
    /// Records `e` (its `count` is ignored), keeping at most `max_len`.
    pub(crate) fn add(&mut self, e: Entry, max_len: usize) {
        let similar = self.entries.iter().take(SCAN).position(|x| {
            x.reason == e.reason
                && x.context == e.context
                && x.ms.abs_diff(e.ms) <= GROUPING_MS
                && x.object == e.object
                && x.username == e.username
        });
        if let Some(i) = similar {
            let mut x = self.entries.remove(i).expect("position found");
            x.count += 1;
            x.ms = e.ms;
            x.client_info = e.client_info;
            self.entries.push_front(x);
            return;
        }
        self.entries.push_front(Entry { count: 1, ..e });
        self.entries.truncate(max_len);
    }

    /// The newest `n` entries.
    pub(crate) fn newest(&self, n: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(n)
    }

    pub(crate) fn reset(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(object: &str, ms: u64) -> Entry {
        Entry {
            count: 0,
            reason: Reason::Key,
            context: Context::Toplevel,
            object: object.into(),
            username: b"u".to_vec(),
            ms,
            client_info: String::new(),
        }
    }

    #[test]
    fn similar_events_are_counted_and_move_to_the_front() {
        let mut log = AclLog::default();
        log.add(e("a", 0), 128);
        log.add(e("b", 1), 128);
        log.add(e("a", 2), 128);
        let v: Vec<_> = log
            .newest(10)
            .map(|x| (x.object.clone(), x.count))
            .collect();
        assert_eq!(v, vec![(b"a".to_vec(), 2), (b"b".to_vec(), 1)]);
        // A minute later it is a new entry.
        log.add(e("a", 2 + GROUPING_MS + 1), 128);
        assert_eq!(log.newest(10).count(), 3);
        log.add(e("c", 0), 2);
        assert_eq!(log.newest(10).count(), 2);
    }
}
