//! Client-side caching (CLIENT TRACKING): who may hold which keys, and the
//! invalidation messages sent when those keys change.
//!
//! Two modes, as in Redis. Default: the keys a tracking client reads are
//! remembered (key → client ids, across databases, like Redis's tracking
//! table); the first write to one sends `invalidate [key]` to each and
//! forgets them. BCAST: nothing is remembered; every write to a key under
//! one of the client's prefixes (all keys without a prefix) is announced,
//! the keys of one command in one message. Messages go to the client
//! itself as a RESP3 push, or to its REDIRECT client (a RESP2 one gets them
//! as a `__redis__:invalidate` pub/sub message). Once the REDIRECT client
//! is gone, each message that would have gone to it becomes a
//! `tracking-redir-broken <id>` push to the tracking client itself (RESP3
//! only; a RESP2 client hears nothing), as Redis's sendTrackingMessage does.
//!
//! Cost when nobody tracks: the store checks `on == 0` and skips all this.
//!
//! A leaf over `resp`: it holds the clients' push senders itself, so the
//! store only calls in.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;

use crate::resp::Reply;

/// The channel RESP2 redirect targets receive invalidations on.
pub(crate) const CHANNEL: &str = "__redis__:invalidate";

/// Where a tracking client's invalidations go.
#[derive(Clone)]
pub(crate) struct Target {
    /// Its push channel.
    pub(crate) tx: UnboundedSender<Reply>,
    /// Its protocol: RESP3 gets pushes, RESP2 pub/sub messages.
    pub(crate) proto: u8,
}

/// One client's tracking settings (CLIENT TRACKING ON ...).
pub(crate) struct Tracker {
    /// REDIRECT id (0 = none).
    pub(crate) redirect: u64,
    /// BCAST mode.
    pub(crate) bcast: bool,
    /// OPTIN: only keys read right after CLIENT CACHING yes.
    pub(crate) optin: bool,
    /// OPTOUT: all keys except those read right after CLIENT CACHING no.
    pub(crate) optout: bool,
    /// NOLOOP: not told of its own writes.
    pub(crate) noloop: bool,
    /// BCAST prefixes (none = every key).
    pub(crate) prefixes: Vec<Bytes>,
    /// Where messages go.
    pub(crate) target: Target,
    /// The tracking client itself, told when its REDIRECT client is gone.
    pub(crate) own: Target,
    /// The REDIRECT client disconnected.
    gone: bool,
    /// A message found it gone (TRACKINGINFO's `broken_redirect`, which
    /// Redis sets only then).
    broken: bool,
    /// CLIENT CACHING was given; cleared after the next command that is
    /// not a CLIENT subcommand, as Redis does.
    pub(crate) caching: bool,
    /// BCAST keys changed by the current command, by prefix: sent once it
    /// ends, one message per prefix, in order (Redis keeps both in radix
    /// trees, so prefixes and keys go out sorted and deduplicated).
    pending: BTreeMap<Bytes, BTreeSet<Bytes>>,
}

impl Tracker {
    /// A tracker sending to `target` (`own` when there is no redirect),
    /// all options off.
    pub(crate) fn new(target: Target, own: Target, redirect: u64) -> Tracker {
        Tracker {
            redirect,
            bcast: false,
            optin: false,
            optout: false,
            noloop: false,
            prefixes: Vec::new(),
            target,
            own,
            gone: false,
            broken: false,
            caching: false,
            pending: BTreeMap::new(),
        }
    }

    /// TRACKINGINFO's `broken_redirect`.
    pub(crate) fn broken_redirect(&self) -> bool {
        self.broken
    }
}

/// Everything tracked.
#[derive(Default)]
pub(crate) struct Tracking {
    /// Clients with tracking on: the one number the command path checks.
    pub(crate) on: usize,
    clients: HashMap<u64, Tracker>,
    /// Default mode: key → clients that may cache it.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// The client whose command is running (NOLOOP), 0 for the server.
    pub(crate) writer: u64,
}

/// One invalidation message for tracker `t`.
fn send(t: &mut Tracker, keys: Option<Vec<Bytes>>) {
    if t.gone {
        t.broken = true;
        if t.own.proto >= 3 {
            let _ = t.own.tx.send(Reply::Push(vec![
                Reply::bulk("tracking-redir-broken"),
                Reply::Int(t.redirect as i64),
            ]));
        }
        return;
    }
    let t = &t.target;
    let payload = match keys {
        Some(k) => Reply::Array(k.into_iter().map(Reply::Bulk).collect()),
        None => Reply::NilArray,
    };
    let msg = if t.proto >= 3 {
        Reply::Push(vec![Reply::bulk("invalidate"), payload])
    } else {
        Reply::Push(vec![Reply::bulk("message"), Reply::bulk(CHANNEL), payload])
    };
    let _ = t.tx.send(msg);
}

impl Tracking {
    /// A client's settings, if it tracks.
    pub(crate) fn get(&self, id: u64) -> Option<&Tracker> {
        self.clients.get(&id)
    }

    /// A client's settings, mutable.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Tracker> {
        self.clients.get_mut(&id)
    }

    /// Turns tracking on (or updates it) for `id`.
    pub(crate) fn enable(&mut self, id: u64, t: Tracker) {
        if self.clients.insert(id, t).is_none() {
            self.on += 1;
        }
    }

    /// Turns tracking off for `id` (also on disconnect). Its remembered
    /// keys are dropped lazily: invalidating them skips unknown clients.
    pub(crate) fn disable(&mut self, id: u64) {
        if self.clients.remove(&id).is_some() {
            self.on -= 1;
        }
    }

    /// Client `id` disconnected: whoever redirected to it is broken from
    /// now on (a client that reuses nothing: ids are never given twice).
    pub(crate) fn client_gone(&mut self, id: u64) {
        for t in self.clients.values_mut() {
            if t.redirect == id {
                t.gone = true;
            }
        }
    }

    /// Number of keys in the default-mode table (INFO tracking_total_keys).
    pub(crate) fn total_keys(&self) -> usize {
        self.keys.len()
    }

    /// Number of BCAST prefixes registered.
    pub(crate) fn total_prefixes(&self) -> usize {
        self.clients.values().map(|t| t.prefixes.len()).sum()
    }

    /// Remembers that `id` read `key`.
    pub(crate) fn remember(&mut self, id: u64, key: &[u8]) {
        let Some(t) = self.clients.get(&id) else {
            return;
        };
        if t.bcast {
            return;
        }
        if (t.optin && !t.caching) || (t.optout && t.caching) {
            return;
        }
        self.keys
            .entry(Bytes::copy_from_slice(key))
            .or_default()
            .insert(id);
    }

    /// A key changed: tell whoever may cache it.
    pub(crate) fn invalidate(&mut self, key: &[u8]) {
        let writer = self.writer;
        if let Some(ids) = self.keys.remove(key) {
            for id in ids {
                let Some(t) = self.clients.get_mut(&id) else {
                    continue;
                };
                if t.bcast || (t.noloop && id == writer) {
                    continue;
                }
                send(t, Some(vec![Bytes::copy_from_slice(key)]));
            }
        }
        for (&id, t) in self.clients.iter_mut() {
            if !t.bcast || (t.noloop && id == writer) {
                continue;
            }
            // Prefixes of one client never overlap: at most one matches.
            if let Some(p) = t.prefixes.iter().find(|p| key.starts_with(p)) {
                t.pending
                    .entry(p.clone())
                    .or_default()
                    .insert(Bytes::copy_from_slice(key));
            }
        }
    }

    /// A command of `id` finished: CLIENT CACHING applied to it.
    pub(crate) fn command_done(&mut self, id: u64) {
        if let Some(t) = self.clients.get_mut(&id) {
            t.caching = false;
        }
    }

    /// Sends the BCAST keys the command just run changed.
    pub(crate) fn flush_pending(&mut self) {
        for t in self.clients.values_mut() {
            for (_, keys) in std::mem::take(&mut t.pending) {
                send(t, Some(keys.into_iter().collect()));
            }
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client is told to drop everything.
    pub(crate) fn invalidate_all(&mut self) {
        self.keys.clear();
        for t in self.clients.values_mut() {
            t.pending.clear();
            send(t, None);
        }
    }
}
