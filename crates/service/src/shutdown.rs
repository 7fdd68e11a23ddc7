//! One shutdown sequence for every role: stop accepting → connections in flight
//! finish within a grace → the rest are cut, with the counts logged.
//!
//! A [`Shutdown`] owns two tokens and a task tracker. Connections run under it
//! ([`Shutdown::spawn_connection`]); each sees the *drain* token ([`Drain`]) and
//! should close as soon as it has nothing in flight (an HTTP connection after
//! its response, a Redis client between commands). When the grace is over the
//! *cut* token fires and every connection future still running is dropped,
//! which closes its socket. Roles may run their own background tasks on the
//! tracker ([`Shutdown::tracker`]) so shutdown waits for them too.
//!
//! See `LIFECYCLE.md` beside this crate.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use crate::gate::{Trip, TripWatch};
use crate::limit::Permit;

/// How long tasks get to end once cut (dropping a future is immediate; this
/// covers tasks that watch the cut token themselves, such as tunnels).
const AFTER_CUT: Duration = Duration::from_secs(1);

/// The shutdown of one server. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    role: &'static str,
    drain: Trip,
    cut: Trip,
    tracker: TaskTracker,
    open: AtomicUsize,
    /// Watch the cut with a [`crate::gate::TripWatch`]: see [`Shutdown::gated`].
    gated_cut: bool,
}

/// What a connection watches to know that shutdown has begun.
#[derive(Clone, Debug)]
pub struct Drain(Trip);

impl Drain {
    /// Resolves when shutdown begins: finish what is in flight, then close.
    pub fn draining(&self) -> WaitForCancellationFutureOwned {
        self.0.token().cancelled_owned()
    }

    /// The same, for a connection that keeps it for its life and polls it
    /// at every wake-up: one load of a flag all connections share.
    pub fn watch(&self) -> TripWatch {
        self.0.watch()
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.0.is_raised()
    }
}

/// What a shutdown did, also logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Connections open when accepting stopped.
    pub open_at_stop: usize,
    /// Of those, how many closed within the grace.
    pub finished: usize,
    /// Of those, how many were cut when the grace ran out.
    pub cut: usize,
    /// From the start of the drain to the end.
    pub elapsed: Duration,
}

impl Shutdown {
    /// A shutdown for the role named `role` in logs (`"balance"`, `"state"`, …).
    pub fn new(role: &'static str) -> Shutdown {
        Shutdown::with(role, false)
    }

    /// The same, for a role whose connections wake for many small requests
    /// (the state server): each connection watches the cut through a
    /// [`TripWatch`], one load of a shared flag per wake-up instead of a
    /// cancellation future's locks, for about 50 more bytes per connection.
    /// The front door keeps the plain cut: its idle clients are counted in
    /// bytes (tests/allocations.rs).
    pub fn gated(role: &'static str) -> Shutdown {
        Shutdown::with(role, true)
    }

    fn with(role: &'static str, gated_cut: bool) -> Shutdown {
        Shutdown {
            inner: Arc::new(Inner {
                role,
                drain: Trip::new(),
                cut: Trip::new(),
                tracker: TaskTracker::new(),
                open: AtomicUsize::new(0),
                gated_cut,
            }),
        }
    }

    /// The drain signal handed to connections.
    pub fn drain(&self) -> Drain {
        Drain(self.inner.drain.clone())
    }

    /// Cancelled when shutdown begins (for roles' own background tasks).
    pub fn drain_token(&self) -> CancellationToken {
        self.inner.drain.token()
    }

    /// Cancelled when the grace is over.
    pub fn cut_token(&self) -> CancellationToken {
        self.inner.cut.token()
    }

    /// The tracker shutdown waits on; spawn background tasks on it.
    pub fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }

    /// Connections running now.
    pub fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Runs one connection: counted, awaited at shutdown, dropped when cut.
    /// The permit (its place under the cap) is given back when it ends.
    pub fn spawn_connection<F>(&self, permit: Option<Permit>, conn: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Boxed before it is captured: an async block keeps a captured future
        // and the copy it awaits side by side, which would double the memory
        // of every idle connection.
        let conn = Box::pin(conn);
        let inner = self.inner.clone();
        inner.open.fetch_add(1, Ordering::AcqRel);
        if inner.gated_cut {
            // The cut is polled beside the connection at every wake-up, and a
            // cancellation future takes two locks per poll: watched, it does not.
            let cut = inner.cut.watch();
            self.inner.tracker.spawn(async move {
                let _permit = permit;
                tokio::select! {
                    biased;
                    () = conn => {}
                    () = cut => {}
                }
                inner.open.fetch_sub(1, Ordering::AcqRel);
            });
        } else {
            let cut = inner.cut.token();
            self.inner.tracker.spawn(async move {
                let _permit = permit;
                tokio::select! {
                    biased;
                    () = conn => {}
                    () = cut.cancelled() => {}
                }
                inner.open.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }

    /// The sequence, once accepting has stopped: tell connections to drain,
    /// wait up to `grace` for them (and tracked tasks), cut the rest, log counts.
    pub async fn finish(&self, grace: Duration) -> Report {
        let inner = &self.inner;
        let started = Instant::now();
        let open_at_stop = self.open_connections();
        tracing::info!(
            role = inner.role,
            open = open_at_stop,
            grace_ms = grace.as_millis() as u64,
            "shutting down: no new connections; those in flight get the grace to finish"
        );
        inner.drain.raise();
        inner.tracker.close();
        let mut cut = 0;
        if tokio::time::timeout(grace, inner.tracker.wait())
            .await
            .is_err()
        {
            cut = self.open_connections();
            tracing::warn!(
                role = inner.role,
                cut,
                "shutdown grace over: cutting the connections still open"
            );
            inner.cut.raise();
            if tokio::time::timeout(AFTER_CUT, inner.tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(role = inner.role, "tasks still running after the cut");
            }
        } else {
            // Nothing left to cut; tasks that watch the token still end.
            inner.cut.raise();
        }
        let report = Report {
            open_at_stop,
            finished: open_at_stop.saturating_sub(cut),
            cut,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            role = inner.role,
            open_at_stop = report.open_at_stop,
            finished = report.finished,
            cut = report.cut,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "stopped"
        );
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn connections_that_drain_finish_and_the_rest_are_cut_at_the_grace() {
        let sd = Shutdown::new("test");
        // Closes as soon as the drain begins (an idle keep-alive connection).
        let d = sd.drain();
        sd.spawn_connection(None, async move { d.draining().await });
        // Finishes its request 2 s into the drain (within the grace).
        let d = sd.drain();
        sd.spawn_connection(None, async move {
            d.draining().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        // Ignores the drain (a stuck upload): cut.
        let cut_seen = Arc::new(AtomicUsize::new(0));
        let guard = DropFlag(cut_seen.clone());
        sd.spawn_connection(None, async move {
            let _g = guard;
            std::future::pending::<()>().await
        });
        assert_eq!(sd.open_connections(), 3);
        let report = sd.finish(Duration::from_secs(5)).await;
        assert_eq!(
            report,
            Report {
                open_at_stop: 3,
                finished: 2,
                cut: 1,
                elapsed: Duration::from_secs(5),
            }
        );
        assert_eq!(
            cut_seen.load(Ordering::SeqCst),
            1,
            "the cut future was dropped"
        );
        assert_eq!(sd.open_connections(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_server_stops_at_once() {
        let sd = Shutdown::new("test");
        let report = sd.finish(Duration::from_secs(30)).await;
        assert_eq!(report.open_at_stop, 0);
        assert_eq!(report.elapsed, Duration::ZERO);
        assert!(sd.cut_token().is_cancelled());
    }

    struct DropFlag(Arc<AtomicUsize>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
