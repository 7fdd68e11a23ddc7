//! One stream of our own HTTP/2 connection (`h2_conn`) as a byte stream, for
//! the WebSocket tunnel (RFC 8441) that `ws_h2::spawn_tunnel` runs in its own
//! task, as it does with hyper's upgraded stream.
//!
//! Reading takes the stream's DATA from its [`Inbound`] (the request body
//! queue the driver fills; each chunk taken gives its window back to the
//! client). Writing queues bytes in an [`Outbox`] that the driver sends as
//! DATA through [`Outbound`], a response body like any other, so the send
//! windows pace it. At most [`MAX_QUEUED`] bytes wait there: past that the
//! writer waits, which in turn stops the tunnel reading the server.
//!
//! Ends: a shut-down writer is END_STREAM; a writer dropped without shutting
//! down (tunnel idle timeout, hard stop) resets the stream (CANCEL); a client
//! END_STREAM is end-of-file for the reader; a client RST_STREAM (or the
//! connection's end) fails both sides.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::body::{BoxError, Inbound};

/// Bytes written by the tunnel and not yet taken by the driver, at most.
const MAX_QUEUED: usize = 64 * 1024;

/// Bytes on their way from the tunnel's task to the connection's.
#[derive(Default)]
struct Outbox {
    chunks: VecDeque<Bytes>,
    queued: usize,
    /// The tunnel shut its writing side down: END_STREAM after the chunks.
    shut: bool,
    /// The tunnel went away without shutting down: reset the stream.
    abandoned: bool,
    /// The driver dropped the stream (reset, connection gone).
    gone: bool,
    writer: Option<Waker>,
    driver: Option<Waker>,
}

fn lock(o: &Mutex<Outbox>) -> MutexGuard<'_, Outbox> {
    o.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stream and the body that sends what is written to it: the first goes to
/// the tunnel's task, the second stays with the driver.
pub(crate) fn stream(inbound: Inbound) -> (StreamIo, Outbound) {
    let outbox = Arc::new(Mutex::new(Outbox::default()));
    (
        StreamIo {
            inbound,
            left: Bytes::new(),
            eof: false,
            outbox: outbox.clone(),
        },
        Outbound(outbox),
    )
}

/// The tunnel's side of the stream.
pub(crate) struct StreamIo {
    inbound: Inbound,
    /// Part of a DATA chunk the reader's buffer had no room for.
    left: Bytes,
    eof: bool,
    outbox: Arc<Mutex<Outbox>>,
}

impl AsyncRead for StreamIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.left.is_empty() && !this.eof {
            match Pin::new(&mut this.inbound).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.eof = true,
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, e)))
                }
                // Trailers mean nothing to a tunnel; they end it as END_STREAM does.
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.left = data,
                    Err(_) => this.eof = true,
                },
            }
        }
        let n = this.left.len().min(buf.remaining());
        buf.put_slice(&this.left[..n]);
        this.left.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut o = lock(&self.outbox);
        if o.gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if o.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if o.queued >= MAX_QUEUED {
            o.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = data.len().min(MAX_QUEUED - o.queued);
        o.chunks.push_back(Bytes::copy_from_slice(&data[..n]));
        o.queued += n;
        if let Some(w) = o.driver.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut o = lock(&self.outbox);
        o.shut = true;
        if let Some(w) = o.driver.take() {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for StreamIo {
    fn drop(&mut self) {
        let mut o = lock(&self.outbox);
        if !o.shut {
            o.abandoned = true;
        }
        if let Some(w) = o.driver.take() {
            w.wake();
        }
    }
}

/// The tunnel ended without closing its side of the stream.
#[derive(Debug, thiserror::Error)]
#[error("the tunnel was abandoned")]
pub(crate) struct Abandoned;

/// The driver's side: what the tunnel wrote, as a response body.
pub(crate) struct Outbound(Arc<Mutex<Outbox>>);

impl Body for Outbound {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut o = lock(&self.0);
        if let Some(chunk) = o.chunks.pop_front() {
            o.queued -= chunk.len();
            if let Some(w) = o.writer.take() {
                w.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if o.shut {
            return Poll::Ready(None);
        }
        if o.abandoned {
            return Poll::Ready(Some(Err(Box::new(Abandoned))));
        }
        if !o.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            o.driver = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let o = lock(&self.0);
        o.shut && o.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        let mut o = lock(&self.0);
        o.gone = true;
        o.chunks.clear();
        if let Some(w) = o.writer.take() {
            w.wake();
        }
    }
}
