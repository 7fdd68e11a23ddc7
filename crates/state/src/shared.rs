//! What every connection, the log writer and the metrics collector share: the
//! store behind its lock, the durable log offset, and the log's fatal error.
//!
//! A leaf: `server`, `aof` and `metrics` all import it and it imports none of
//! them, so the three no longer import each other.
//!
//! A script past `busy-reply-threshold` holds the lock for as long as it
//! runs, so the connections never wait on the lock blindly:
//! [`Shared::lock_unless_busy`] waits for it in short slices (a
//! `parking_lot` timed lock), and when a busy script has it says so instead
//! (the caller then answers BUSY, or waits for [`ScriptWatch::idle`] without
//! holding a thread).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::aof::error::AofError;
use crate::busy::{Kind, ScriptWatch};
use crate::config::LiveLimits;
use crate::lua::Scripting;
use crate::resp::Limits;
use crate::store::Store;

/// The store lock held.
pub(crate) type StoreGuard<'a> = parking_lot::MutexGuard<'a, Locked>;

/// How long a connection waits for the store before it looks again whether
/// a script holding it has become busy. A script is busy after
/// `busy-reply-threshold` (5 s by default), so this only bounds how late
/// after that a waiting client notices.
const BUSY_RECHECK: Duration = Duration::from_millis(10);

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
    store: parking_lot::Mutex<Locked>,
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
    /// The running script as seen from outside the lock (the same as
    /// scripting's).
    pub(crate) watch: Arc<ScriptWatch>,
    /// The next client id (taken without the lock: a client may arrive
    /// while a script is busy).
    next_client_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(locked: Locked, limits: Limits) -> Shared {
        let live = locked.store.live.clone();
        let script_watch = locked.scripting.watch.clone();
        let (synced, _) = watch::channel(0);
        Shared {
            store: parking_lot::Mutex::new(locked),
            synced,
            writer: Mutex::new(None),
            stopping: AtomicBool::new(false),
            limits,
            live,
            fatal: Mutex::new(None),
            failed: Notify::new(),
            watch: script_watch,
            next_client_id: AtomicU64::new(1),
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

    /// Locks the store, waiting as long as it takes (the log writer, and
    /// paths that run when no script can: start, stop). A panic while holding
    /// the lock does not poison it (parking_lot): the data is consistent per
    /// command boundary as far as we can tell, so go on.
    pub(crate) fn lock(&self) -> StoreGuard<'_> {
        self.store.lock()
    }

    /// Locks the store, unless a busy script holds it: then its kind. Waits
    /// while another command (or a script not yet busy) holds it.
    pub(crate) fn lock_unless_busy(&self) -> Result<StoreGuard<'_>, Kind> {
        if let Some(g) = self.store.try_lock() {
            return Ok(g);
        }
        loop {
            if let Some(kind) = self.watch.busy() {
                return Err(kind);
            }
            if let Some(g) = self.store.try_lock_for(BUSY_RECHECK) {
                return Ok(g);
            }
        }
    }

    /// Locks the store, first waiting (without a thread) for a busy script
    /// to end. For connection tasks, which must not block their thread.
    pub(crate) async fn lock_idle(&self) -> StoreGuard<'_> {
        loop {
            if let Ok(g) = self.lock_unless_busy() {
                return g;
            }
            self.watch.idle().await;
        }
    }

    /// A new client id.
    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
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
