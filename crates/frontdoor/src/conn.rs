//! The client connection's I/O, wrapped to enforce the timeouts hyper leaves to us.
//!
//! A client connection is in one of three phases (see LIFECYCLE.md):
//! `Idle` (between requests: the keep-alive timer runs; when it fires the
//! connection ends quietly), `Head` (the first bytes of a request arrived: the
//! request-header timer runs; when it fires the client gets a 408 and the
//! connection closes — the slowloris defence), and `Busy` (the proxy owns a
//! request: no timer here; upstream timeouts apply). The proxy moves the phase to
//! `Busy` when hyper hands it a request and back to `Idle` when the response ends.
//!
//! The timers live inside `poll_read`, so they cost no extra task per connection.
//!
//! An HTTP/2 connection (ALPN `h2`, or h2c with prior knowledge)
//! carries many requests at once: it is `Busy` while any stream is open, has no
//! `Head` phase (frames such as PING arrive while idle), and when a timer fires
//! it ends without the HTTP/1 408.

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
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// The phase shared between a connection's I/O and the requests on it.
#[derive(Default)]
pub(crate) struct Phase {
    state: AtomicU8,
    /// Requests in progress (at most one on HTTP/1).
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

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 50\r\n\
connection: close\r\n\
x-bigstep-reason: request-header-timeout\r\n\
\r\n\
408 The request head did not arrive in time.     \n";

pub(crate) struct ClientIo<S = TcpStream> {
    inner: S,
    /// HTTP/2: no `Head` phase, no 408 (see the module docs).
    h2: bool,

    phase: Arc<Phase>,
    timer: Pin<Box<Sleep>>,
    /// The phase the timer was armed for.
    armed: u8,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// Bytes of the 408 written so far, once the header timer fired.
    sending_408: Option<usize>,
    on_header_timeout: Option<Box<dyn FnOnce() + Send>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ClientIo<S> {
    pub(crate) fn new(
        inner: S,
        phase: Arc<Phase>,
        header_timeout: Duration,
        idle_timeout: Duration,
        on_header_timeout: Box<dyn FnOnce() + Send>,
    ) -> Self {
        Self {
            inner,
            h2: false,
            phase,
            // A connection that never sends a byte is closed quietly after the
            // request-header timeout, not the (longer) keep-alive one.
            timer: Box::pin(tokio::time::sleep(header_timeout)),
            armed: IDLE,
            header_timeout,
            idle_timeout,
            sending_408: None,
            on_header_timeout: Some(on_header_timeout),
        }
    }

    /// The connection speaks HTTP/2 (negotiated by ALPN).
    pub(crate) fn http2(mut self) -> Self {
        self.h2 = true;
        self
    }

    fn arm(&mut self, phase: u8) {
        let after = if phase == HEAD {
            self.header_timeout
        } else {
            self.idle_timeout
        };
        self.timer.as_mut().reset(Instant::now() + after);
        self.armed = phase;
    }

    /// Write the 408, then report EOF so hyper closes the connection.
    fn poll_send_408(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(written) = self.sending_408 {
            if written == RESPONSE_408.len() {
                let _ = std::task::ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
                return Poll::Ready(Ok(()));
            }
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &RESPONSE_408[written..])
            )?;
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            self.sending_408 = Some(written + n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.sending_408.is_some() {
            return this.poll_send_408(cx);
        }
        let phase = this.phase.state.load(Relaxed);
        if phase == BUSY {
            this.armed = BUSY;
            this.phase.reader.register(cx.waker());
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if phase == IDLE && this.armed != IDLE {
            this.arm(IDLE);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if phase == IDLE && buf.filled().len() > before && !this.h2 {
                    this.phase.state.store(HEAD, Relaxed);
                    this.arm(HEAD);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if this.armed == HEAD && !this.h2 {
                    if let Some(f) = this.on_header_timeout.take() {
                        f();
                    }
                    this.sending_408 = Some(0);
                    this.poll_send_408(cx)
                } else {
                    // Keep-alive idle timeout: end quietly, as if the client closed.
                    Poll::Ready(Ok(()))
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
