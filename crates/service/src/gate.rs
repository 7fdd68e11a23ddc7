//! A wake-up gate: poll a rarely-ready future or channel only when it has
//! asked to be polled.
//!
//! A connection's loop selects over things that almost never fire (its kill
//! signal, the shutdown drain, the cut) beside the socket, so it polls them
//! again on every request. For a tokio `Notify` waiter that is a mutex lock
//! per poll, and a fresh `notified()` per loop takes it twice more; a
//! cancellation token adds its own lock. In `bigstep state` that was about a
//! fifth of the instructions of a GET without pipelining (callgrind,
//! BENCHMARKS.md, 2026-12-04).
//!
//! A [`Gate`] stands between a task and what it polls: what is polled
//! through it sees the gate's own waker, which records that it was woken and
//! then wakes the task. The gate polls again only when that happened, when
//! the last poll was ready (so the inner has surely registered a waker before
//! it is skipped), or when the polling task changed. Otherwise a poll costs
//! one atomic load.
//!
//! A gate's flag is the connection's own, so a poll that finds it unset still
//! touches one more cache line per connection; with a few hundred connections
//! between two polls of the same one, that line has left the first-level
//! cache (in `bigstep state`, the four gates of a connection cost about 15
//! first-level misses per request: callgrind's cache simulation, BENCHMARKS.md
//! 2026-12-04 20:10). So a gate first loads a counter all gates of the
//! process share, bumped at each wake-up of any gate (rare): while it is
//! what the gate saw when it last loaded its flag, nothing woke the gate
//! and its own flag is not touched. A signal that every connection shares (the drain, the
//! cut) needs no gate of its own: a [`Trip`] is raised once for all, and its
//! [`TripWatch`] loads the one shared flag, which stays in cache.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Bumped by every gate's wake-up, after its flag is set: while it stays
/// what a gate saw when it last loaded its flag, that flag is still unset.
/// Shared and rarely written, so it stays in cache.
static WAKES: AtomicU64 = AtomicU64::new(0);

/// See the module documentation.
pub struct Gate {
    signal: Arc<Signal>,
    /// The waker handed to what is polled through the gate.
    waker: Waker,
    /// The task waker `signal` wakes (None before the first poll).
    task: Option<Waker>,
    /// The inner must be polled at the next poll: the last poll was ready,
    /// so nothing may be registered.
    must_poll: bool,
    /// `WAKES` when the flag was last loaded.
    seen: u64,
}

struct Signal {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        WAKES.fetch_add(1, Ordering::AcqRel);
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            t.wake_by_ref();
        }
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("woken", &self.signal.woken.load(Ordering::Relaxed))
            .finish()
    }
}

impl Gate {
    /// A gate that polls at its first use.
    pub fn new() -> Gate {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(false),
            task: Mutex::new(None),
        });
        Gate {
            waker: Waker::from(signal.clone()),
            signal,
            task: None,
            must_poll: true,
            seen: 0,
        }
    }

    /// Whether what is polled through the gate woke it since the gate last
    /// polled it (one load; the gate still polls it next time).
    pub fn woken(&self) -> bool {
        WAKES.load(Ordering::Acquire) != self.seen && self.signal.woken.load(Ordering::Acquire)
    }

    /// Calls `poll` with the gate's waker when it may be ready; `Pending`
    /// without calling it otherwise. `poll` must follow the `Future`
    /// contract: when it returns `Pending`, it has arranged for the waker it
    /// was given to be woken.
    pub fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let same_task = self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker()));
        if !same_task {
            *self.signal.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            self.task = Some(cx.waker().clone());
            self.must_poll = true;
        }
        // The shared count first: unchanged, nothing woke this gate since
        // its flag was last loaded. (A wake after this load wakes the task
        // again, after this poll.)
        let wakes = WAKES.load(Ordering::Acquire);
        if wakes == self.seen && !self.must_poll {
            return Poll::Pending;
        }
        self.seen = wakes;
        // A load first: the usual answer (not woken) then costs no locked
        // instruction. Cleared before polling: a wake during the poll is kept
        // for the next.
        let woken = self.signal.woken.load(Ordering::Acquire)
            && self.signal.woken.swap(false, Ordering::AcqRel);
        if !woken && !self.must_poll {
            return Poll::Pending;
        }
        let r = poll(&mut Context::from_waker(&self.waker));
        self.must_poll = r.is_ready();
        r
    }
}

/// A future polled through a [`Gate`]: for one that stays pending for a
/// long time and is polled often (a kill signal, a drain), kept for the
/// connection's life and selected by `&mut`. Once it has completed it stays
/// pending, so it may stay in a `select!` loop.
pub struct Gated<F> {
    fut: Option<Pin<Box<F>>>,
    gate: Gate,
}

impl<F: Future> Gated<F> {
    /// Wraps `fut` (boxed, so the wrapper is `Unpin`).
    pub fn new(fut: F) -> Gated<F> {
        Gated {
            fut: Some(Box::pin(fut)),
            gate: Gate::new(),
        }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Pending;
        };
        let r = this.gate.poll_with(cx, |cx| fut.as_mut().poll(cx));
        if r.is_ready() {
            this.fut = None;
        }
        r
    }
}

// === impl Trip ===

/// A one-way signal that many tasks watch (a shutdown's drain or cut):
/// raised once, never lowered. Cheap to clone (shared state).
#[derive(Clone, Debug, Default)]
pub struct Trip {
    inner: Arc<TripInner>,
}

#[derive(Debug, Default)]
struct TripInner {
    /// Set before `token` is cancelled, so a watcher woken by the token
    /// sees it.
    raised: AtomicBool,
    /// Wakes the watchers (and serves those that want a token).
    token: CancellationToken,
}

impl Trip {
    /// A trip not yet raised.
    pub fn new() -> Trip {
        Trip::default()
    }

    /// Raises it: every watcher completes.
    pub fn raise(&self) {
        self.inner.raised.store(true, Ordering::Release);
        self.inner.token.cancel();
    }

    /// Whether it was raised (one load).
    pub fn is_raised(&self) -> bool {
        self.inner.raised.load(Ordering::Acquire)
    }

    /// A cancellation token cancelled when it is raised.
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// A future that completes when it is raised; polling it costs one load
    /// of the shared flag once it has registered the task's waker.
    pub fn watch(&self) -> TripWatch {
        TripWatch {
            trip: self.clone(),
            wait: None,
            registered: None,
            done: false,
        }
    }
}

/// See [`Trip::watch`]. Kept for a connection's life and selected by
/// `&mut`; once it has completed it stays pending, like [`Gated`].
pub struct TripWatch {
    trip: Trip,
    /// The token's future, polled only to register a waker.
    wait: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// The waker the token holds for us.
    registered: Option<Waker>,
    done: bool,
}

impl std::fmt::Debug for TripWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TripWatch")
            .field("raised", &self.trip.is_raised())
            .field("done", &self.done)
            .finish()
    }
}

impl Future for TripWatch {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Pending;
        }
        if this.trip.is_raised() {
            this.done = true;
            this.wait = None;
            return Poll::Ready(());
        }
        // Raised after the load above: the token wakes the waker it holds,
        // and this poll's waker is that one.
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let token = &this.trip.inner.token;
        let wait = this
            .wait
            .get_or_insert_with(|| Box::pin(token.clone().cancelled_owned()));
        match wait.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.done = true;
                this.wait = None;
                Poll::Ready(())
            }
            Poll::Pending => {
                this.registered = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Counts its polls; ready once `ready` is set, waking the stored waker
    /// when set through `fire`.
    #[derive(Default)]
    struct Probe {
        polls: AtomicUsize,
        ready: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    impl Probe {
        fn fire(&self) {
            self.ready.store(true, Ordering::SeqCst);
            if let Some(w) = self.waker.lock().unwrap().take() {
                w.wake();
            }
        }
        fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn polls_the_inner_only_when_it_woke() {
        let probe = Arc::new(Probe::default());
        let p = probe.clone();
        let mut gate = Gate::new();
        let mut other = 0;
        // Another branch makes the task poll often; the probe is polled once
        // to register, then not again until it fires. In a spawned task, as
        // a connection is (its waker is the same at every poll; `block_on`'s
        // need not be, and then the gate polls every time).
        let done = std::future::poll_fn(move |cx| {
            if gate.poll_with(cx, |cx| p.poll(cx)).is_ready() {
                return Poll::Ready(other);
            }
            other += 1;
            if other == 100 {
                let p = p.clone();
                tokio::spawn(async move { p.fire() });
            }
            if other <= 100 {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        });
        let polled = tokio::time::timeout(Duration::from_secs(10), tokio::spawn(done))
            .await
            .expect("the gate lost the wake-up")
            .unwrap();
        assert!(polled >= 100);
        assert_eq!(probe.polls.load(Ordering::SeqCst), 2);
    }

    /// The wake count is shared by every gate: another gate's wake-up
    /// makes this one load its own flag, which is unset, so its inner is
    /// still not polled; its own wake-up is seen through `woken` and polls.
    #[tokio::test]
    async fn another_gates_wake_does_not_poll_this_inner() {
        let (a, b) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
        let (pa, pb) = (a.clone(), b.clone());
        let (mut ga, mut gb) = (Gate::new(), Gate::new());
        let mut turns = 0;
        let done = std::future::poll_fn(move |cx| {
            let _ = ga.poll_with(cx, |cx| pa.poll(cx));
            turns += 1;
            if turns == 1 {
                assert!(!ga.woken());
            }
            if turns == 2 {
                let pb = pb.clone();
                tokio::spawn(async move { pb.fire() });
            }
            if gb.poll_with(cx, |cx| pb.poll(cx)).is_ready() {
                assert!(!ga.woken(), "only the other gate woke");
                return Poll::Ready(());
            }
            if turns < 50 {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        });
        tokio::time::timeout(Duration::from_secs(10), tokio::spawn(done))
            .await
            .expect("the gate lost the wake-up")
            .unwrap();
        assert_eq!(
            a.polls.load(Ordering::SeqCst),
            1,
            "registered once, never woken"
        );
        assert_eq!(b.polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn after_a_ready_poll_polls_again_until_pending() {
        // An inner that is ready twice in a row without registering (a
        // channel with two messages), then pending: every message arrives.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut gate = Gate::new();
        let mut got = Vec::new();
        for _ in 0..2 {
            let v = std::future::poll_fn(|cx| gate.poll_with(cx, |cx| rx.poll_recv(cx))).await;
            got.extend(v);
        }
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(3).unwrap();
            tx
        });
        let v = tokio::time::timeout(
            Duration::from_secs(10),
            std::future::poll_fn(|cx| gate.poll_with(cx, |cx| rx.poll_recv(cx))),
        )
        .await
        .expect("the gate lost the wake-up");
        got.extend(v);
        drop(late.await);
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_gated_notify_sees_a_notification_sent_between_polls() {
        let notify = Arc::new(tokio::sync::Notify::new());
        let n = notify.clone();
        let mut kill = Gated::new(async move { n.notified().await });
        // Registered, then pending.
        assert!(futures_poll_once(&mut kill).await.is_pending());
        notify.notify_one();
        tokio::time::timeout(Duration::from_secs(10), &mut kill)
            .await
            .expect("the gated future missed the notification");
    }

    #[tokio::test]
    async fn a_trip_wakes_every_watcher_once() {
        let trip = Trip::new();
        let mut watchers = Vec::new();
        for _ in 0..3 {
            let mut w = trip.watch();
            // Registered, then pending (twice: the second poll is the load only).
            assert!(futures_poll_once(&mut w).await.is_pending());
            assert!(futures_poll_once(&mut w).await.is_pending());
            watchers.push(tokio::spawn(async move {
                (&mut w).await;
                // Completed once; then pending again, as a gated future.
                futures_poll_once(&mut w).await.is_pending()
            }));
        }
        tokio::task::yield_now().await;
        assert!(!trip.is_raised());
        trip.raise();
        assert!(trip.token().is_cancelled());
        for w in watchers {
            let stays_pending = tokio::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("a watcher missed the trip")
                .unwrap();
            assert!(stays_pending);
        }
        // A watch made after the trip completes at once.
        tokio::time::timeout(Duration::from_secs(10), trip.watch())
            .await
            .expect("raised already");
    }

    async fn futures_poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
    }
}
