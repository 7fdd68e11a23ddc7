//! Upstream writes of one burst of requests sent back to back, after the
//! client's responses.
//!
//! An HTTP/2 client sends requests in bursts (h2load's ten streams, a
//! browser's page of assets), and each becomes an exchange on its own
//! HTTP/1.1 connection to a server. Polled one after another, each exchange
//! did its routing and head building, then its write, and the connection's
//! responses went out after all of them: the server, a few microseconds of
//! work behind each write, had often gone back to sleep between two of them
//! and was woken once per request (`bench/h2_syscalls.sh` counts it: about
//! twice HAProxy's wake-ups of the backend; HAProxy writes a loop's
//! responses, then its requests, each kind in a row). A wake-up costs the
//! waker microseconds on a VM.
//!
//! While a [`gather`] is on, an exchange that reaches its request write waits
//! there ([`turn`]) instead of writing; the driver (`h2_conn`) runs every
//! ready stream to that point, writes the client's bytes, then ends the
//! gather, which wakes the held exchanges, and polls them: their writes go
//! out in a row. A thread-local: the driver polls its streams inline on its
//! own thread, and nothing else is polled while a gather is on.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

thread_local! {
    static GATHERING: Cell<bool> = const { Cell::new(false) };
    /// The exchanges waiting for the gather to end.
    static HELD: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

/// Hold upstream request writes until the guard is dropped.
pub(crate) fn gather() -> Gathering {
    GATHERING.with(|g| g.set(true));
    Gathering(())
}

/// Ends a [`gather`] (also when a poll unwinds): the held exchanges are
/// woken, to be polled again.
pub(crate) struct Gathering(());

impl Drop for Gathering {
    fn drop(&mut self) {
        GATHERING.with(|g| g.set(false));
        HELD.with(|h| {
            for w in h.borrow_mut().drain(..) {
                w.wake();
            }
        });
    }
}

/// Await before an upstream request write: Pending while a [`gather`] is
/// on (woken when it ends), Ready otherwise.
pub(crate) fn turn() -> Turn {
    Turn(())
}

pub(crate) struct Turn(());

impl Future for Turn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !GATHERING.with(Cell::get) {
            return Poll::Ready(());
        }
        HELD.with(|h| h.borrow_mut().push(cx.waker().clone()));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_turn_waits_only_while_gathering_and_is_woken_when_it_ends() {
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = Waker::from(Arc::new(Count(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut t = std::pin::pin!(turn());
        assert!(t.as_mut().poll(&mut cx).is_ready(), "no gather: no wait");

        let g = gather();
        let mut t = std::pin::pin!(turn());
        assert!(t.as_mut().poll(&mut cx).is_pending());
        assert_eq!(woken.load(Ordering::Relaxed), 0);
        drop(g);
        assert_eq!(
            woken.load(Ordering::Relaxed),
            1,
            "woken when the gather ends"
        );
        assert!(t.as_mut().poll(&mut cx).is_ready());
    }

    /// The driver's order (`h2_conn`): a burst of exchanges, each doing its
    /// own work and then its write, polled under a gather with a waker that
    /// does nothing, then the client's bytes, then the gather's end and a
    /// poll with the task's waker: every write comes after all the work and
    /// after the client's bytes, in a row.
    #[test]
    fn a_burst_of_exchanges_writes_in_a_row_after_the_client_s_bytes() {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        use std::sync::Mutex;

        let log = Arc::new(Mutex::new(Vec::new()));
        let mut set = FuturesUnordered::new();
        for i in 0..10 {
            let log = log.clone();
            set.push(async move {
                log.lock().unwrap().push(format!("work {i}"));
                turn().await;
                log.lock().unwrap().push(format!("write {i}"));
                std::future::pending::<()>().await;
            });
        }
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = Waker::from(Arc::new(Count(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        {
            let _held = gather();
            let mut quiet = Context::from_waker(futures_util::task::noop_waker_ref());
            assert!(set.poll_next_unpin(&mut quiet).is_pending());
            log.lock().unwrap().push("client".to_string());
        }
        // The held exchanges' wakes went to the quiet waker, not the task's.
        assert_eq!(woken.load(Ordering::Relaxed), 0);
        assert!(set.poll_next_unpin(&mut cx).is_pending());
        let log = log.lock().unwrap();
        let mut want: Vec<String> = (0..10).map(|i| format!("work {i}")).collect();
        want.push("client".to_string());
        want.extend((0..10).map(|i| format!("write {i}")));
        assert_eq!(*log, want);
    }

    struct Count(Arc<AtomicUsize>);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
