//! The connection cap, and what a client over it is told.
//!
//! A [`Limit`] counts open connections; [`Limit::try_admit`] hands out a
//! [`Permit`] while the count is under the maximum, and the permit gives its
//! place back when dropped (when the connection's task ends). The maximum is
//! read at each admission, so a role whose limit changes live (the state
//! server's `CONFIG SET maxclients`) passes a function instead of a number.
//!
//! A client over the cap is not left hanging: [`Reject`] writes the role's own
//! answer (the front door's 503, the state server's Redis error, the files
//! server's S3 `SlowDown`), closes its side, and reads what the client sent for
//! a moment so the kernel does not answer the unread request with a reset that
//! would destroy the answer before the client reads it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the maximum is known.
#[derive(Clone)]
enum Max {
    Fixed(usize),
    Live(Arc<dyn Fn() -> usize + Send + Sync>),
}

/// Counts open connections against a maximum. Cheap to clone (shared count).
#[derive(Clone)]
pub struct Limit {
    max: Max,
    inner: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    rejected: AtomicU64,
}

impl std::fmt::Debug for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limit")
            .field("max", &self.max())
            .field("open", &self.open())
            .finish()
    }
}

impl Limit {
    /// At most `max` connections at once.
    pub fn new(max: usize) -> Limit {
        Limit {
            max: Max::Fixed(max),
            inner: Arc::default(),
        }
    }

    /// A maximum read at each admission (it may change while running).
    pub fn live(max: impl Fn() -> usize + Send + Sync + 'static) -> Limit {
        Limit {
            max: Max::Live(Arc::new(max)),
            inner: Arc::default(),
        }
    }

    /// The maximum now.
    pub fn max(&self) -> usize {
        match &self.max {
            Max::Fixed(n) => *n,
            Max::Live(f) => f(),
        }
    }

    /// Connections holding a permit now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// Connections refused since start.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// A place for one more connection, or `None` at the maximum.
    pub fn try_admit(&self) -> Option<Permit> {
        let max = self.max();
        let admitted = self
            .inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            Some(Permit {
                inner: self.inner.clone(),
            })
        } else {
            self.inner.rejected.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// One admitted connection's place under the cap; given back on drop.
#[derive(Debug)]
pub struct Permit {
    inner: Arc<Counts>,
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A role's answer to a client over the cap.
#[derive(Clone)]
pub struct Reject {
    message: Bytes,
    hook: Option<Arc<dyn Fn(SocketAddr) + Send + Sync>>,
}

impl std::fmt::Debug for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reject")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl Reject {
    /// Send `message` (a complete answer in the role's protocol), then close.
    pub fn reply(message: impl Into<Bytes>) -> Reject {
        Reject {
            message: message.into(),
            hook: None,
        }
    }

    /// Close without a word (for endpoints with no protocol to answer in).
    pub fn close() -> Reject {
        Reject::reply(Bytes::new())
    }

    /// Also run `hook` for each refused client (the role's own counters and logs).
    pub fn on_reject(mut self, hook: impl Fn(SocketAddr) + Send + Sync + 'static) -> Reject {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The bytes sent to a refused client.
    pub fn message(&self) -> &Bytes {
        &self.message
    }

    /// Answer and close `stream`; bounded to about a second in all.
    pub async fn send(&self, mut stream: TcpStream, peer: SocketAddr) {
        if let Some(hook) = &self.hook {
            hook(peer);
        }
        let msg = self.message.clone();
        let _ = tokio::time::timeout(Duration::from_secs(1), async move {
            if !msg.is_empty() {
                stream.write_all(&msg).await?;
            }
            stream.shutdown().await?;
            // Read (and drop) what the client sent until it closes, so closing
            // with unread bytes does not reset the connection under our answer.
            let mut sink = [0u8; 4096];
            let mut budget: usize = 64 * 1024;
            while budget > 0 {
                let n = stream.read(&mut sink).await?;
                if n == 0 {
                    break;
                }
                budget = budget.saturating_sub(n);
            }
            std::io::Result::Ok(())
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_capped_and_given_back() {
        let limit = Limit::new(2);
        let a = limit.try_admit().expect("first");
        let _b = limit.try_admit().expect("second");
        assert!(limit.try_admit().is_none(), "third is over the cap");
        assert_eq!(limit.rejected(), 1);
        assert_eq!(limit.open(), 2);
        drop(a);
        assert_eq!(limit.open(), 1);
        assert!(limit.try_admit().is_some(), "a freed place is reused");
    }

    #[test]
    fn a_live_maximum_is_read_at_each_admission() {
        let max = Arc::new(AtomicUsize::new(1));
        let m = max.clone();
        let limit = Limit::live(move || m.load(Ordering::Relaxed));
        let _a = limit.try_admit().expect("first");
        assert!(limit.try_admit().is_none());
        max.store(2, Ordering::Relaxed);
        assert!(limit.try_admit().is_some(), "raised live");
    }
}
