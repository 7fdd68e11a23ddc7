//! Upstream connections, pooled per server.
//!
//! A connection is a socket (plain or TLS, see `upstream_tls`) and the bytes
//! read from it but not yet used; it has no task of its own. The client's task
//! drives it for one exchange (see `origin`) and hands it back here when the
//! response ended cleanly. While it sits idle nothing reads it, so a connection
//! the server closed in the meantime is found when it is taken: the runtime has
//! recorded the socket as readable (EOF, a TLS close_notify or stray bytes),
//! and [`Connection::is_reusable`] asks without a syscall.

use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;

use crate::upstream_tls::Stream;

/// One HTTP/1.1 connection to a server.
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    /// Bytes read past what the last exchange used (always empty when pooled).
    pub(crate) buf: BytesMut,
    /// Taken from the pool (it served a request before): a failure to write the
    /// request head may just mean the server closed it while it was idle.
    pub(crate) reused: bool,
}

impl Connection {
    /// Neither closed by the server nor holding bytes nobody asked for.
    fn is_reusable(&mut self) -> bool {
        self.stream.is_reusable()
    }
}

struct Idle {
    conn: Box<Connection>,
    since: Instant,
}

/// Stripes of a pool: one per serving thread (thread `i` uses `i % STRIPES`).
const STRIPES: usize = 8;

/// Idle connections to one server, most recently used last (LIFO keeps few warm).
///
/// One stripe per serving thread ([`service::threads`]): a socket is
/// registered with the runtime of the thread that opened it, so a request on
/// another thread would be woken across threads. A connection goes back to
/// the stripe of the thread that used it, which is the one that opened it.
pub(crate) struct Pool {
    idle: [Mutex<Vec<Idle>>; STRIPES],
}

impl Pool {
    pub(crate) fn new() -> Self {
        Self {
            idle: std::array::from_fn(|_| Mutex::new(Vec::new())),
        }
    }

    /// This thread's stripe.
    fn mine(&self) -> &Mutex<Vec<Idle>> {
        &self.idle[service::threads::index() % STRIPES]
    }

    /// An idle connection that is not known to be closed. One that closes
    /// between this check and the write is caught by the exchange, which hands
    /// the request back unsent.
    pub(crate) fn take_idle(&self, idle_timeout: Duration) -> Option<Box<Connection>> {
        let mut idle = self.mine().lock().expect("pool lock");
        while let Some(c) = idle.pop() {
            let mut conn = c.conn;
            if c.since.elapsed() < idle_timeout && conn.is_reusable() {
                conn.reused = true;
                return Some(conn);
            }
            // Closed or stale: dropping it closes the socket.
        }
        None
    }

    /// Return a connection whose last response ended cleanly.
    pub(crate) fn put(&self, conn: Box<Connection>, max_idle: usize) {
        if !conn.buf.is_empty() {
            return;
        }
        let mut idle = self.mine().lock().expect("pool lock");
        if idle.len() < max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Drop connections idle longer than `idle_timeout` or closed by their
    /// server (called periodically).
    pub(crate) fn evict_stale(&self, idle_timeout: Duration) {
        for stripe in &self.idle {
            let mut idle = stripe.lock().expect("pool lock");
            idle.retain_mut(|c| c.since.elapsed() < idle_timeout && c.conn.is_reusable());
        }
    }

    pub(crate) fn clear(&self) {
        for stripe in &self.idle {
            stripe.lock().expect("pool lock").clear();
        }
    }
}
