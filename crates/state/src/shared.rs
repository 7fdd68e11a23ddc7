//! What every connection, the log writer and the metrics collector share: the
//! store behind its lock, the durable log offset, and the log's fatal error.
//!
//! A leaf: `server`, `aof` and `metrics` all import it and it imports none of
//! them, so the three no longer import each other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify};

use crate::aof::error::AofError;
use crate::config::LiveLimits;
use crate::lua::Scripting;
use crate::resp::Limits;
use crate::store::Store;

/// What the one lock guards: the keyspace and, beside it, scripting (which
/// the store does not own). Derefs to the store, which most users want.
pub(crate) struct Locked {
    /// The keyspace and everything about clients.
    pub(crate) store: Store,
    /// The Lua interpreters, script bodies and function libraries.
    pub(crate) scripting: Scripting,
}

impl std::ops::Deref for Locked {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl std::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

/// What is shared by all connections.
pub(crate) struct Shared {
    store: Mutex<Locked>,
    /// Log offset known durable (per appendfsync).
    pub(crate) synced: watch::Sender<u64>,
    /// The log writer thread, woken when there is something to write.
    pub(crate) writer: Mutex<Option<std::thread::Thread>>,
    /// Set at shutdown: the writer flushes, fsyncs and returns.
    pub(crate) stopping: AtomicBool,
    /// Protocol limits for parsing requests (the bulk length is read from
    /// `live` for each request).
    pub(crate) limits: Limits,
    /// The limits CONFIG SET changes: the same as the store's.
    pub(crate) live: Arc<LiveLimits>,
    /// The log failed: the server must stop (set once, by the writer).
    fatal: Mutex<Option<AofError>>,
    /// Wakes the server when `fatal` is set.
    pub(crate) failed: Notify,
}

impl Shared {
    pub(crate) fn new(locked: Locked, limits: Limits) -> Shared {
        let live = locked.store.live.clone();
        let (synced, _) = watch::channel(0);
        Shared {
            store: Mutex::new(locked),
            synced,
            writer: Mutex::new(None),
            stopping: AtomicBool::new(false),
            limits,
            live,
            fatal: Mutex::new(None),
            failed: Notify::new(),
        }
    }

    /// The limits for parsing the next request.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_bulk_len: self.live.max_bulk_len.load(Ordering::Relaxed),
            ..self.limits
        }
    }

    /// Largest unparsed input per client, now.
    pub(crate) fn query_limit(&self) -> usize {
        self.live.query_limit.load(Ordering::Relaxed)
    }

    /// Locks the store. A panic while holding the lock poisons it; the data is
    /// still consistent per command boundary as far as we can tell, so go on.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Locked> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the log writer.
    pub(crate) fn wake_writer(&self) {
        if let Some(t) = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            t.unpark();
        }
    }

    /// Records the log's fatal error (the first one wins) and wakes the server.
    pub(crate) fn fail(&self, e: AofError) {
        let mut fatal = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if fatal.is_none() {
            tracing::error!(error = %e, "append-only log failed; stopping the server");
            *fatal = Some(e);
        }
        drop(fatal);
        // A permit is kept if the server is not waiting yet.
        self.failed.notify_one();
    }

    /// Takes the fatal error, if the log failed.
    pub(crate) fn take_fatal(&self) -> Option<AofError> {
        self.fatal.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
