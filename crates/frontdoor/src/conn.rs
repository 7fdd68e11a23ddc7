//! An HTTP/2 client connection's I/O, wrapped to enforce the timers hyper
//! leaves to us. (HTTP/1 connections run on our own core, `client_conn`, which
//! keeps its timers itself.)
//!
//! An HTTP/2 connection carries many requests at once: it is `Busy` while any
//! stream is open and `Idle` otherwise (frames such as PING arrive while
//! idle). While idle, the keep-alive timer runs; when it fires the connection
//! ends quietly. A connection that never becomes busy is held no longer than
//! the request-header timeout. The timers live inside `poll_read`, so they
//! cost no extra task per connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

const IDLE: u8 = 0;
const BUSY: u8 = 2;

/// The phase shared between a connection's I/O and the requests on it.
#[derive(Default)]
pub(crate) struct Phase {
    state: AtomicU8,
    /// Requests in progress.
    active: AtomicUsize,
    /// The reader parked while Busy: woken on the way back to Idle so it arms
    /// the keep-alive timer (its pending read only waits for the socket).
    reader: AtomicWaker,
}

impl Phase {
    pub(crate) fn busy(&self) {
        self.active.fetch_add(1, Relaxed);
        self.state.store(BUSY, Relaxed);
    }
    pub(crate) fn idle(&self) {
        let was = self
            .active
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)))
            .unwrap_or(0);
        if was <= 1 {
            self.state.store(IDLE, Relaxed);
            self.reader.wake();
        }
    }
}

pub(crate) struct ClientIo<S = TcpStream> {
    inner: S,
    phase: Arc<Phase>,
    timer: Pin<Box<Sleep>>,
    /// The phase the timer was armed for.
    armed: u8,
    idle_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ClientIo<S> {
    pub(crate) fn new(
        inner: S,
        phase: Arc<Phase>,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            phase,
            // A connection that never sends a request is closed after the
            // request-header timeout, not the (longer) keep-alive one.
            timer: Box::pin(tokio::time::sleep(header_timeout)),
            armed: IDLE,
            idle_timeout,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.phase.state.load(Relaxed) == BUSY {
            this.armed = BUSY;
            this.phase.reader.register(cx.waker());
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.armed != IDLE {
            this.timer
                .as_mut()
                .reset(Instant::now() + this.idle_timeout);
            this.armed = IDLE;
        }
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Idle too long: end quietly, as if the client closed.
                Poll::Ready(Ok(()))
            }
            ready => ready,
        }
    }
}

service::forward_async_write!(impl[S: AsyncRead + AsyncWrite + Unpin] ClientIo<S>, inner);
