//! The streams of one HTTP/2 client connection, run inside the connection's
//! own task instead of a tokio task each.
//!
//! hyper's HTTP/2 server hands every new stream (the request's future, then
//! the piping of its response body) to an executor. `TokioExecutor` spawns a
//! task per stream: an allocation, a trip through the scheduler, and a
//! hand-off between the stream's task and the connection's task for every
//! frame the stream sends. Here the executor only queues the stream; the
//! connection's future (`Driven`) polls the hyper connection and then its
//! streams, so a request costs no task and its response is flushed by the
//! same task that produced it (counted in BENCHMARKS.md, "HTTP/2 to clients,
//! counted"). The streams also end with the connection's future: when the
//! skeleton drops it past the drain grace, nothing of the connection is left
//! running.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;

/// One stream's work, as hyper hands it over: the request's future and its
/// response body, or (after an extended CONNECT) the upgraded stream's pipe.
type Stream = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor given to hyper: queues each stream for the connection's future.
#[derive(Clone)]
pub(crate) struct Streams {
    queue: Arc<Mutex<Vec<Stream>>>,
    /// For `bigstep_http2_stream_panics_total`.
    shared: Arc<crate::Shared>,
}

impl Streams {
    pub(crate) fn new(shared: &Arc<crate::Shared>) -> Self {
        Streams {
            queue: Arc::default(),
            shared: shared.clone(),
        }
    }
}

impl<F: Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for Streams {
    fn execute(&self, fut: F) {
        // A panic in one stream ends that stream, as it would in a task of
        // its own, not the connection and its other streams (unwinding
        // costs nothing until it happens).
        let shared = self.shared.clone();
        let fut = AssertUnwindSafe(fut).catch_unwind().map(move |r| {
            if r.is_err() {
                shared.metrics.http2_stream_panics.inc();
            }
        });
        // hyper calls this from inside the connection's poll (or a stream's),
        // and `Driven::poll` drains the queue right after: no wake-up is needed.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::pin(fut));
    }
}

pin_project_lite::pin_project! {
    /// A hyper HTTP/2 connection with its streams: ends when the connection
    /// has ended and its last stream is done.
    pub(crate) struct Driven<C> {
        #[pin]
        conn: C,
        queue: Arc<Mutex<Vec<Stream>>>,
        running: FuturesUnordered<Stream>,
        ended: Option<hyper::Result<()>>,
    }
}

impl<C> Driven<C> {
    pub(crate) fn new(conn: C, streams: &Streams) -> Self {
        Driven {
            conn,
            queue: streams.queue.clone(),
            running: FuturesUnordered::new(),
            ended: None,
        }
    }
}

impl<C: Future<Output = hyper::Result<()>>> Future for Driven<C> {
    type Output = hyper::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.ended.is_none() {
            // Reads frames, accepts streams (queued by `execute`), writes
            // what the streams sent since the last poll.
            if let Poll::Ready(r) = this.conn.as_mut().poll(cx) {
                *this.ended = Some(r);
            }
        }
        loop {
            // A stream that sends a frame wakes the connection (this task),
            // so the connection is polled again to write it.
            while let Poll::Ready(Some(())) = this.running.poll_next_unpin(cx) {}
            // New streams (from the connection's poll above, or, should a
            // stream ever start one, from a stream): run them now too.
            let mut queue = this
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if queue.is_empty() {
                break;
            }
            this.running.extend(queue.drain(..));
        }
        if this.running.is_empty() {
            if let Some(r) = this.ended.take() {
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    }
}

impl<C: service::http::Graceful> service::http::Graceful for Driven<C> {
    fn close_when_idle(self: Pin<&mut Self>) {
        self.project().conn.close_when_idle();
    }
}
