//! Body types on both sides of the proxy. Bodies stream frame by frame; nothing
//! here buffers a whole body.
//!
//! [`ResponseBody`] carries a [`RequestDone`] guard: whenever hyper finishes with
//! (or drops) the response body, the request is over — in-flight counts drop, the
//! upstream connection goes back to its pool if it ended cleanly, the access log
//! line is written and the client connection's idle timer restarts.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

pub(crate) use crate::upstream_body::BoxError;
use crate::upstream_body::UpstreamBody;

// === RequestBody: what we send upstream ===

/// The client's request body on its way upstream, with the optional size limit.
pub(crate) enum RequestBody<'a> {
    Empty,
    /// From an HTTP/2 client (hyper's server or our own `h2_conn`).
    Stream {
        inner: StreamIn,
        limit: Option<u64>,
        seen: u64,
    },
    /// Read straight off the client's connection by our own HTTP/1 core, which
    /// lends it for the length of the exchange.
    Client {
        inner: &'a mut ClientSource<'a>,
        limit: Option<u64>,
        seen: u64,
    },
}

/// An HTTP/2 client's request body: owned, so it may go to another task
/// (an HTTP/2 server's connection).
pub(crate) enum StreamIn {
    Hyper(Incoming),
    /// Fed by our own HTTP/2 driver (`h2_conn`).
    Ours(Inbound),
}

impl Body for StreamIn {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            StreamIn::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            StreamIn::Ours(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            StreamIn::Hyper(b) => b.is_end_stream(),
            StreamIn::Ours(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            StreamIn::Hyper(b) => b.size_hint(),
            StreamIn::Ours(b) => b.size_hint(),
        }
    }
}

// === Inbound: a request body fed by our own HTTP/2 driver ===

/// A request body's bytes on their way from the connection's task to the
/// one sending them upstream.
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) chunks: VecDeque<Bytes>,
    pub(crate) trailers: Option<HeaderMap>,
    /// The client ended the body (END_STREAM or trailers).
    pub(crate) ended: bool,
    /// The stream was reset, or the connection is gone: the body fails.
    pub(crate) reset: bool,
    /// Bytes taken by the consumer and not yet released to the client.
    pub(crate) consumed: u32,
    /// Whoever polls the body.
    pub(crate) consumer: Option<Waker>,
    /// The connection's task, to release what was consumed.
    pub(crate) conn: Option<Waker>,
    /// `content-length`, when the client gave one.
    pub(crate) length: Option<u64>,
    /// DATA bytes received so far.
    pub(crate) received: u64,
}

/// The request body of one stream of our own HTTP/2 connection (`h2_conn`), as the proxy
/// sees it.
pub(crate) struct Inbound(pub(crate) Arc<Mutex<Inbox>>);

pub(crate) fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    inbox
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error)]
#[error("the client reset the stream")]
struct StreamReset;

impl Body for Inbound {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut b = lock(&self.0);
        if b.reset {
            return Poll::Ready(Some(Err(Box::new(StreamReset))));
        }
        if let Some(chunk) = b.chunks.pop_front() {
            b.consumed += chunk.len() as u32;
            // The connection's task gives the window back; when the consumer
            // is that same task, it looks after polling anyway.
            if let Some(w) = &b.conn {
                if !w.will_wake(cx.waker()) {
                    w.wake_by_ref();
                }
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(t) = b.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        if b.ended {
            return Poll::Ready(None);
        }
        if !b.consumer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            b.consumer = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let b = lock(&self.0);
        b.ended && b.chunks.is_empty() && b.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match lock(&self.0).length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// The client connection's body reader, as the proxy sees it.
pub(crate) type ClientSource<'a> = dyn Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'a;

/// Error raised when a streamed (chunked) request body passes `limits.max_body_bytes`.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the configured limit")]
pub(crate) struct BodyTooLarge;

/// Count a frame against the body limit.
fn limited<E>(
    frame: Option<Result<Frame<Bytes>, E>>,
    limit: Option<u64>,
    seen: &mut u64,
) -> Option<Result<Frame<Bytes>, BoxError>>
where
    E: Into<BoxError>,
{
    match frame? {
        Ok(frame) => {
            if let (Some(limit), Some(data)) = (limit, frame.data_ref()) {
                *seen += data.len() as u64;
                if *seen > limit {
                    return Some(Err(Box::new(BodyTooLarge)));
                }
            }
            Some(Ok(frame))
        }
        Err(e) => Some(Err(e.into())),
    }
}

impl Body for RequestBody<'_> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Stream { inner, limit, seen } => {
                let frame = std::task::ready!(Pin::new(inner).poll_frame(cx));
                Poll::Ready(limited(frame, *limit, seen))
            }
            RequestBody::Client { inner, limit, seen } => {
                let frame = std::task::ready!(Pin::new(&mut **inner).poll_frame(cx));
                Poll::Ready(limited(frame, *limit, seen))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Stream { inner, .. } => inner.is_end_stream(),
            RequestBody::Client { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Stream { inner, .. } => inner.size_hint(),
            RequestBody::Client { inner, .. } => inner.size_hint(),
        }
    }
}

// === ResponseBody: what we send the client ===

/// Runs when the response is finished or abandoned. Implemented by the proxy.
pub(crate) trait OnDone: Send + Sync + 'static {
    /// `complete` is true when the body reached its end cleanly.
    fn done(&mut self, complete: bool, bytes: u64);
}

pub(crate) struct RequestDone {
    hook: Option<Box<dyn OnDone>>,
    bytes: u64,
}

impl RequestDone {
    pub(crate) fn new(hook: Box<dyn OnDone>) -> Self {
        Self {
            hook: Some(hook),
            bytes: 0,
        }
    }
    fn finish(&mut self, complete: bool) {
        if let Some(mut hook) = self.hook.take() {
            hook.done(complete, self.bytes);
        }
    }
}

impl Drop for RequestDone {
    fn drop(&mut self) {
        self.finish(false);
    }
}

pub(crate) struct ResponseBody {
    kind: Kind,
    done: Option<RequestDone>,
    /// Ends the body early (cleanly, for the client) when it fires: see [`ResponseBody::end_on`].
    until: Option<Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>>,
}

enum Kind {
    Full(Option<Bytes>),
    Upstream(UpstreamBody),
    /// A server's body through an encoder (see `compress`).
    Compressed(Box<Compressing>),
}

struct Compressing {
    inner: UpstreamBody,
    encoder: crate::encoder::Encoder,
    /// Bytes written since the encoder last produced output.
    dirty: bool,
    /// The server's body ended and the encoder's last bytes went out.
    ended: bool,
}

impl Compressing {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            let step = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        // Some input may stay inside the encoder whatever it gave back.
                        self.dirty = true;
                        self.encoder.write(&data)
                    }
                    // Trailers cannot follow an encoded body we re-framed; drop them.
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    self.ended = true;
                    self.encoder.finish()
                }
                // The server paused: send what the encoder holds, so streams stay live.
                Poll::Pending if self.dirty => {
                    self.dirty = false;
                    self.encoder.flush()
                }
                Poll::Pending => return Poll::Pending,
            };
            match step {
                Ok(out) if !out.is_empty() => return Poll::Ready(Some(Ok(Frame::data(out)))),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(Box::new(e)))),
            }
        }
    }
}

impl ResponseBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full(Some(bytes).filter(|b| !b.is_empty())),
            done: None,
            until: None,
        }
    }
    pub(crate) fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
            done: None,
            until: None,
        }
    }
    pub(crate) fn upstream(inner: UpstreamBody) -> Self {
        Self {
            kind: Kind::Upstream(inner),
            done: None,
            until: None,
        }
    }
    /// The server's head as received, when its headers are not in the
    /// response's map (only an uncompressed server body carries one).
    pub(crate) fn take_raw_head(&mut self) -> Option<Box<crate::upstream_body::RawHead>> {
        match &mut self.kind {
            Kind::Upstream(inner) => inner.take_raw_head(),
            _ => None,
        }
    }
    /// This body, compressed by `encoder` (only a server's body is ever compressed).
    pub(crate) fn compressed(self, encoder: crate::encoder::Encoder) -> Self {
        match self.kind {
            Kind::Upstream(inner) => Self {
                kind: Kind::Compressed(Box::new(Compressing {
                    inner,
                    encoder,
                    dirty: false,
                    ended: false,
                })),
                done: self.done,
                until: self.until,
            },
            kind => Self {
                kind,
                done: self.done,
                until: self.until,
            },
        }
    }

    /// End the body when `token` is cancelled: the client sees a clean end
    /// (the last chunk), the upstream connection is dropped, not pooled. For
    /// bodies that never end by themselves (server-sent events).
    pub(crate) fn end_on(&mut self, token: tokio_util::sync::CancellationToken) {
        self.until = Some(Box::pin(token.cancelled_owned()));
    }
    pub(crate) fn set_done(&mut self, done: RequestDone) {
        self.done = Some(done);
        if self.is_end_stream() {
            // hyper may never poll an empty body; finish now so pools and logs
            // do not wait for the drop.
            self.finish(true);
        }
    }
    fn finish(&mut self, complete: bool) {
        if let Some(mut d) = self.done.take() {
            d.finish(complete);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(until) = this.until.as_mut() {
            if until.as_mut().poll(cx).is_ready() {
                this.until = None;
                this.kind = Kind::Full(None);
                this.finish(false);
                return Poll::Ready(None);
            }
        }
        let polled = match &mut this.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream(inner) => Pin::new(inner).poll_frame(cx),
            Kind::Compressed(c) => c.poll(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(d), Some(data)) = (this.done.as_mut(), frame.data_ref()) {
                    d.bytes += data.len() as u64;
                }
                if this.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(inner) => inner.is_end_stream(),
            Kind::Compressed(c) => c.ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(inner) => inner.size_hint(),
            Kind::Compressed(_) => SizeHint::default(),
        }
    }
}
