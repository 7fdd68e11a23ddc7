//! Our own HTTP/1 server side: one task per client connection parses each
//! request head once (the strict `h1` parser), hands the request to the proxy
//! ([`ProxyService::handle`], the seam HTTP/2 shares) with the body read
//! straight off this connection, and writes the response with the framing the
//! client can take. No second state machine, no channel, no task per request.
//!
//! Memory: between requests a connection holds no buffer. A read buffer is
//! taken from a per-thread pool when bytes arrive and given back once a
//! request is over and nothing is left in it (as HAProxy does), so an idle
//! keep-alive client costs its socket and this task's small state. The
//! per-request state (the proxy's future) is boxed for the same reason: the
//! task stays small while it waits.
//!
//! Timers (see LIFECYCLE.md): between requests the keep-alive timer runs (the
//! first request of a connection gets the request-header timeout instead) and
//! ends the connection quietly; from a request's first byte, its head must be
//! complete within the request-header timeout or the client gets a 408 (the
//! slowloris defence). While the proxy owns a request no timer runs here;
//! the upstream timeouts apply.
//!
//! Framing of responses: a known length is sent as `Content-Length`; otherwise
//! HTTP/1.1 clients get `chunked` and HTTP/1.0 clients a close-delimited body.
//! We always answer `HTTP/1.1` (RFC 9110 §6.2). A request whose body was not
//! read to its end (a server answered early) ends the connection after the
//! response, since the next request's start is unknown.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::body::{BoxError, RequestBody, ResponseBody};
use crate::error::{ErrorKind, ProxyError};
use crate::origin::write_all_vectored;
use crate::scratch::Scratch;
use crate::tunnel::TunnelHandoff;
use crate::upstream_body::RawHead;
use crate::Shared;

/// A read buffer's size: a typical head and the start of its body in one read.
const READ_SIZE: usize = 16 * 1024;
/// Buffers kept per worker thread for the next busy connection.
const POOLED_PER_THREAD: usize = 64;
/// Body bytes read per syscall once a body streams.
const BODY_READ: usize = 32 * 1024;
/// How long we keep reading (and discarding) from a client we are closing on
/// with its request unread, so our response is not lost to a TCP reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// A body this small is copied after its head and both sent in one buffer.
const JOIN_BODY_BYTES: usize = 2048;

thread_local! {
    static BUFFERS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    /// The header positions of parsed heads, pooled like the read buffers:
    /// an idle connection holds none.
    static SPANS: RefCell<Vec<Vec<h1::HeaderSpan>>> = const { RefCell::new(Vec::new()) };
}

/// Lend `spans` a pooled vector if it has none (after an idle wait).
fn take_spans(spans: &mut Vec<h1::HeaderSpan>) {
    if spans.capacity() == 0 {
        if let Some(pooled) = SPANS.with(|p| p.borrow_mut().pop()) {
            *spans = pooled;
        }
    }
}

/// Give `spans`' vector back to this thread's pool while the connection idles.
fn give_back_spans(spans: &mut Vec<h1::HeaderSpan>) {
    let mut spans = std::mem::take(spans);
    if spans.capacity() == 0 || spans.capacity() > h1::MAX_HEADERS {
        return;
    }
    spans.clear();
    SPANS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOLED_PER_THREAD {
            p.push(spans);
        }
    });
}

pub(crate) fn take_buffer() -> BytesMut {
    BUFFERS
        .with(|b| b.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(READ_SIZE))
}

/// Give an emptied buffer back to this thread's pool (or to the allocator).
pub(crate) fn give_back(buf: &mut BytesMut) {
    let mut buf = std::mem::take(buf);
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    // Reclaims the whole allocation in place when no Bytes still share it.
    buf.reserve(READ_SIZE);
    if buf.capacity() <= 2 * READ_SIZE {
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            if b.len() < POOLED_PER_THREAD {
                b.push(buf);
            }
        });
    }
}

/// Read into `buf`, taking a pooled buffer only once bytes are there to read:
/// a pending read hands the buffer straight back. `Ok(0)` is EOF.
pub(crate) fn poll_read_pooled<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() == 0 {
        let mut fresh = take_buffer();
        return match tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut fresh) {
            Poll::Pending => {
                give_back(&mut fresh);
                Poll::Pending
            }
            Poll::Ready(r) => {
                *buf = fresh;
                Poll::Ready(r)
            }
        };
    }
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_SIZE);
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

async fn read_pooled<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_pooled(io, buf, cx)).await
}

/// What answers a connection's requests: the proxy, or (on the plain
/// listener when TLS is on) the redirect to HTTPS.
pub(crate) trait Handler: Send + Sync {
    /// `upgrade`: the client asked to switch protocols.
    fn handle<'a>(
        &'a self,
        parts: http::request::Parts,
        body: RequestBody<'a>,
        upgrade: bool,
    ) -> impl Future<Output = Response<ResponseBody>> + Send + 'a;
}

/// Serve HTTP/1.x on `io` until the client leaves, a timer fires, or the drain.
///
/// A plain function returning its future, not an `async fn`: an `async fn`
/// keeps each argument twice in its future (as argument, then as local),
/// and this future is most of what an idle connection costs.
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub(crate) fn serve<S, H>(
    shared: Arc<Shared>,
    peer: SocketAddr,
    handler: H,
    mut io: S,
    drain: service::Drain,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    async move {
        let mut buf = BytesMut::new();
        let mut head = h1::RequestHead::default();
        let mut first = true;
        // Both kept for the connection's life, so waiting for the next request
        // takes no lock: the drain is one load of a flag all connections share
        // (a fresh `cancelled()` future registers and removes a waiter under the
        // token's lock each time), and the keep-alive timer is moved forward (a
        // later deadline is one atomic store in tokio's timer, where a fresh
        // timeout inserts its entry under the timer's lock and removes it again).
        let mut draining = drain.watch();
        let idle_timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(idle_timer);
        loop {
            let (limits, header_timeout, idle_timeout) = {
                let snap = shared.snapshot.load();
                let c = &snap.config;
                (
                    h1::Limits {
                        max_head_bytes: c.limits.max_header_bytes,
                        max_headers: h1::MAX_HEADERS,
                        max_target_bytes: c.limits.max_uri_bytes,
                    },
                    c.timeouts.request_header,
                    c.timeouts.keepalive_idle,
                )
            };
            // Idle: wait for the next request's first byte, holding no buffer.
            if buf.is_empty() {
                give_back(&mut buf);
                give_back_spans(&mut head.headers);
                // A connection that never sends a byte gets the (shorter) header timeout.
                let wait = if first { header_timeout } else { idle_timeout };
                idle_timer.as_mut().reset(Instant::now() + wait);
                let read = tokio::select! {
                    biased;
                    r = read_pooled(&mut io, &mut buf) => r,
                    () = &mut idle_timer => return,
                    () = &mut draining => return,
                };
                match read {
                    Ok(n) if n > 0 => {}
                    // The client left: end quietly.
                    _ => return,
                }
            }
            first = false;
            take_spans(&mut head.headers);
            // A head: complete within the request-header timeout of its first
            // byte (counted from the first read that left it incomplete: most
            // heads arrive whole, and then no clock is read here).
            let mut timed = false;
            loop {
                match h1::parse_request_into(&buf, &limits, &mut head) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => {
                        // Boxed, like every other branch that is rare or lives
                        // only while a request does: the task is as large as its
                        // largest await, for as long as the connection lives.
                        Box::pin(refuse(&shared, &mut io, &mut buf, peer, e)).await;
                        return;
                    }
                }
                if !timed {
                    timed = true;
                    // The connection's one timer serves here too (the task stays
                    // smaller than with a timeout of its own for this wait).
                    idle_timer.as_mut().reset(Instant::now() + header_timeout);
                }
                let read = tokio::select! {
                    biased;
                    r = read_pooled(&mut io, &mut buf) => Some(r),
                    () = &mut idle_timer => None,
                };
                match read {
                    Some(Ok(n)) if n > 0 => {}
                    Some(_) => return,
                    None => {
                        Box::pin(header_timeout_408(&shared, &mut io, peer)).await;
                        return;
                    }
                }
            }
            // One allocation per request holds all of its state: the proxy's
            // future, then the response being written.
            let next = Box::pin(exchange(
                &shared, &handler, &mut io, &mut buf, &head, peer, &drain,
            ))
            .await;
            match next {
                Next::KeepAlive => {}
                Next::Close => {
                    // For the next connection (a new connection per request
                    // would otherwise allocate and free a buffer each time).
                    give_back(&mut buf);
                    give_back_spans(&mut head.headers);
                    return;
                }
            }
        }
    }
}

/// After a response: serve the next request, or the connection is over.
enum Next {
    KeepAlive,
    Close,
}

/// One request on the connection, its head parsed: hand it to the handler with
/// its body, write the answer, run a tunnel if it became one.
async fn exchange<S, H>(
    shared: &Arc<Shared>,
    handler: &H,
    io: &mut S,
    buf: &mut BytesMut,
    head: &h1::RequestHead,
    peer: SocketAddr,
    drain: &service::Drain,
) -> Next
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    let head_bytes = buf.split_to(head.head_len).freeze();
    let parts = match request_parts(head, &head_bytes) {
        Ok(p) => p,
        Err(e) => {
            refuse(shared, io, buf, peer, e).await;
            return Next::Close;
        }
    };
    let is_head = parts.method == Method::HEAD;
    let http10 = head.version == h1::Version::Http10;
    let mut keep_alive = head.keep_alive;
    let framing = match head.body {
        h1::RequestBody::None => None,
        h1::RequestBody::Length(0) => None,
        h1::RequestBody::Length(n) => Some(Framing::Length(n)),
        h1::RequestBody::Chunked => Some(Framing::Chunked(Box::default())),
    };
    let mut reader = framing.map(|framing| ClientBody {
        io: &mut *io,
        buf: &mut *buf,
        framing,
        // An HTTP/1.0 client cannot take a 100 (RFC 9110 §10.1.1).
        send_continue: (head.expect_continue && !http10).then_some(0),
        failed: false,
    });
    let body = match reader.as_mut() {
        Some(r) => RequestBody::Client {
            inner: r,
            limit: None,
            seen: 0,
        },
        None => RequestBody::Empty,
    };
    let resp = handler.handle(parts, body, head.upgrade).await;
    let body_done = reader.as_ref().is_none_or(|r| r.is_done());
    drop(reader);
    drop(head_bytes);
    if !body_done || drain.is_draining() {
        keep_alive = false;
    }
    let tunnel = resp.extensions().get::<TunnelHandoff>().cloned();
    if write_response(io, resp, is_head, http10, &mut keep_alive)
        .await
        .is_err()
    {
        return Next::Close;
    }
    if let Some((upstream, idle)) = tunnel.and_then(|t| t.take()) {
        // Bytes the client sent past the upgrade request belong to the tunnel.
        let client = Prefixed { inner: io, buf };
        // Boxed, as every rare branch of the per-request future: the future
        // is copied whole into its box for every request, so its size is
        // paid on the common path.
        Box::pin(crate::tunnel::run(shared, client, upstream, idle)).await;
        return Next::Close;
    }
    if keep_alive {
        return Next::KeepAlive;
    }
    if body_done {
        let _ = io.shutdown().await;
    } else {
        Box::pin(linger(io, buf)).await;
    }
    Next::Close
}

/// The request's method, target, version and headers, sharing the head's bytes.
fn request_parts(head: &h1::RequestHead, bytes: &Bytes) -> Result<http::request::Parts, h1::Error> {
    let method = Method::from_bytes(head.method.get(bytes)).map_err(|_| h1::Error::BadSyntax)?;
    let uri = Uri::from_maybe_shared(bytes.slice(head.target.range()))
        .map_err(|_| h1::Error::BadTarget)?;
    // Room for the forwarding headers the proxy adds, so the map never grows.
    let mut headers = crate::scratch::header_map(head.headers.len() + 8);
    for h in &head.headers {
        let name = HeaderName::from_bytes(h.name.get(bytes)).map_err(|_| h1::Error::BadSyntax)?;
        let value = HeaderValue::from_maybe_shared(bytes.slice(h.value.range()))
            .map_err(|_| h1::Error::BadSyntax)?;
        headers.append(name, value);
    }
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = match head.version {
        h1::Version::Http10 => Version::HTTP_10,
        h1::Version::Http11 => Version::HTTP_11,
    };
    parts.headers = headers;
    Ok(parts)
}

/// Answer a request refused before the proxy saw it, count it, and close.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    io: &mut S,
    buf: &mut BytesMut,
    peer: SocketAddr,
    e: h1::Error,
) {
    let e = ProxyError::new(ErrorKind::Malformed(e));
    let status = e.status().as_u16();
    let reason = e.reason();
    shared.metrics.record(status, true);
    if shared.access_log {
        tracing::info!(target: "bigstep::access", client = %peer.ip(), status, reason, "request refused");
    }
    let mut keep_alive = false;
    let _ = write_response(io, e.into_response(), false, false, &mut keep_alive).await;
    linger(io, buf).await;
}

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 50\r\n\
connection: close\r\n\
x-bigstep-reason: request-header-timeout\r\n\
\r\n\
408 The request head did not arrive in time.     \n";

async fn header_timeout_408<S: AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    io: &mut S,
    peer: SocketAddr,
) {
    shared.metrics.header_timeouts.inc();
    tracing::info!(target: "bigstep::access", client = %peer.ip(), status = 408, reason = "request-header-timeout", "request head not received in time");
    let _ = tokio::time::timeout(LINGER, async {
        io.write_all(RESPONSE_408).await?;
        io.shutdown().await
    })
    .await;
}

/// Close our side, then read and drop what the client still sends for a
/// moment: closing with unread bytes would reset the connection and could
/// destroy the response we just wrote.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, buf: &mut BytesMut) {
    let _ = io.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut dropped = 0;
        loop {
            buf.clear();
            match read_pooled(io, buf).await {
                Ok(n) if n > 0 && dropped < LINGER_BYTES => dropped += n,
                _ => return,
            }
        }
    })
    .await;
    give_back(buf);
}

// === The request body, read off the client's connection ===

enum Framing {
    Length(u64),
    Chunked(Box<h1::ChunkedDecoder>),
    Done,
}

/// The request body as the proxy reads it: borrows the connection and its
/// buffer for the length of one exchange.
struct ClientBody<'c, S> {
    io: &'c mut S,
    buf: &'c mut BytesMut,
    framing: Framing,
    /// `Expect: 100-continue`: bytes of the interim response written so far,
    /// sent when the body is first read (a server is ready for it).
    send_continue: Option<usize>,
    failed: bool,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl<S> ClientBody<'_, S> {
    fn is_done(&self) -> bool {
        matches!(self.framing, Framing::Done) && !self.failed
    }
    fn fail(&mut self, e: impl Into<BoxError>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.failed = true;
        self.framing = Framing::Done;
        Poll::Ready(Some(Err(e.into())))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Body for ClientBody<'_, S> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        while let Some(written) = this.send_continue {
            // Only when the client has not already sent the body.
            if written == CONTINUE.len() || !this.buf.is_empty() {
                this.send_continue = None;
                break;
            }
            match std::task::ready!(Pin::new(&mut *this.io).poll_write(cx, &CONTINUE[written..])) {
                Ok(0) => return this.fail(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => this.send_continue = Some(written + n),
                Err(e) => return this.fail(e),
            }
        }
        loop {
            match &mut this.framing {
                Framing::Done => return Poll::Ready(None),
                Framing::Length(left) => {
                    if !this.buf.is_empty() {
                        let n = this
                            .buf
                            .len()
                            .min(usize::try_from(*left).unwrap_or(usize::MAX));
                        let data = this.buf.split_to(n).freeze();
                        *left -= n as u64;
                        if *left == 0 {
                            this.framing = Framing::Done;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::Chunked(decoder) => {
                    if !this.buf.is_empty() {
                        let step = match decoder.decode(this.buf) {
                            Ok(step) => step,
                            Err(e) => return this.fail(e),
                        };
                        if let Some(range) = step.data {
                            this.buf.advance(range.start);
                            let data = this.buf.split_to(range.len()).freeze();
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                        this.buf.advance(step.consumed);
                        if step.done {
                            this.framing = Framing::Done;
                            return Poll::Ready(None);
                        }
                        if !this.buf.is_empty() {
                            continue;
                        }
                    }
                }
            }
            this.buf.reserve(BODY_READ);
            match std::task::ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut *this.io),
                cx,
                this.buf
            )) {
                Ok(0) => {
                    return this.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection before the end of the body",
                    ))
                }
                Ok(_) => {}
                Err(e) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.framing, Framing::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Done => SizeHint::with_exact(0),
            Framing::Chunked(_) => SizeHint::default(),
        }
    }
}

// === The response ===

enum Out {
    /// No body may follow (HEAD, 1xx, 204, 304).
    None,
    Length,
    Chunked,
    /// Until we close (HTTP/1.0 client, length unknown).
    Close,
}

/// Write the head and stream the body. `keep_alive` comes in as what the
/// request allows and goes out as what the response allowed.
async fn write_response<S: AsyncWrite + Unpin>(
    io: &mut S,
    resp: Response<ResponseBody>,
    is_head: bool,
    http10: bool,
    keep_alive: &mut bool,
) -> io::Result<()> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let mut headers = parts.headers;
    // The server's head as received, if its headers are not in the map (the
    // map then holds only what the proxy added).
    let raw = body.take_raw_head();
    // One pass over the names instead of a lookup for each (a proxied
    // response has neither `Connection` nor `Transfer-Encoding` left).
    let (mut connection, mut transfer_encoding, mut content_length) = (
        false,
        false,
        raw.as_ref()
            .is_some_and(|r| matches!(r.head.body, h1::ResponseBody::Length(_))),
    );
    for name in headers.keys() {
        if name == header::CONNECTION {
            connection = true;
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
        } else if name == header::CONTENT_LENGTH {
            content_length = true;
        }
    }
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    if connection {
        // Our own error answers ask to close when framing is in doubt.
        if headers
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
        {
            *keep_alive = false;
        }
        if !switching {
            headers.remove(header::CONNECTION);
        }
    }
    if transfer_encoding {
        headers.remove(header::TRANSFER_ENCODING);
    }
    let out = if is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Out::None
    } else if content_length {
        Out::Length
    } else if let Some(n) = body.size_hint().exact() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        Out::Length
    } else if http10 {
        *keep_alive = false;
        Out::Close
    } else {
        Out::Chunked
    };

    let mut head = Scratch::take();
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    if let Some(raw) = &raw {
        write_raw_headers(&mut head, raw, &headers);
    }
    for (name, value) in &headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if matches!(out, Out::Chunked) {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !switching {
        if !*keep_alive {
            head.extend_from_slice(b"connection: close\r\n");
        } else if http10 {
            head.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    // The head is encoded: the map and the server's head serve the next response.
    crate::scratch::give_header_map(headers);
    if let Some(raw) = raw {
        raw.give_back();
    }

    if matches!(out, Out::None) {
        io.write_all(&head).await?;
        io.flush().await?;
        // Finish the body so the request's bookkeeping runs now.
        drop(body);
        return Ok(());
    }
    // The first frame is often ready (a small response read with its head):
    // then head and body go out in one write.
    let mut pending_head = Some(head);
    loop {
        let frame = match body.frame().now_or_never() {
            Some(f) => f,
            None => {
                if let Some(h) = pending_head.take() {
                    io.write_all(&h).await?;
                }
                io.flush().await?;
                body.frame().await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => {
                // The server failed mid-body: the client must see a broken
                // response, never a clean end.
                *keep_alive = false;
                if let Some(h) = pending_head.take() {
                    io.write_all(&h).await?;
                }
                return Err(io::Error::other(e));
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) => d,
                Err(_trailers) => continue,
            },
        };
        let mut head = pending_head.take();
        if let Some(h) = head.as_mut() {
            // A small body joins its head: one send(2) of one buffer, where a
            // writev(2) of two pieces costs the kernel more per call.
            if !matches!(out, Out::Chunked) && data.len() <= JOIN_BODY_BYTES {
                h.extend_from_slice(&data);
                io.write_all(h).await?;
                continue;
            }
        }
        let head: &[u8] = head.as_deref().map_or(&[], |h| h.as_slice());
        let last = body.is_end_stream();
        match out {
            Out::Chunked => {
                if data.is_empty() && !last {
                    continue;
                }
                let size = h1::chunked::ChunkHeader::new(data.len() as u64);
                let (size, crlf): (&[u8], &[u8]) = if data.is_empty() {
                    (b"", b"")
                } else {
                    (size.as_bytes(), b"\r\n")
                };
                let end: &[u8] = if last { b"0\r\n\r\n" } else { b"" };
                write_all_vectored(
                    io,
                    &mut [
                        IoSlice::new(head),
                        IoSlice::new(size),
                        IoSlice::new(&data),
                        IoSlice::new(crlf),
                        IoSlice::new(end),
                    ],
                )
                .await?;
                if last {
                    io.flush().await?;
                    return Ok(());
                }
            }
            _ => {
                write_all_vectored(io, &mut [IoSlice::new(head), IoSlice::new(&data)]).await?;
            }
        }
    }
    if let Some(h) = pending_head.take() {
        io.write_all(&h).await?;
    }
    if matches!(out, Out::Chunked) {
        io.write_all(b"0\r\n\r\n").await?;
    }
    io.flush().await
}

/// The server's header lines into `head`, as received but for the hop-by-hop
/// ones, and those the proxy set itself in `added` (`Set-Cookie` only adds).
fn write_raw_headers(head: &mut Vec<u8>, raw: &RawHead, added: &http::HeaderMap) {
    // A loop of its own, not `kept_headers`: the adapters cost this path
    // about 70 instructions a response more (callgrind, keep-alive).
    let bytes = &raw.bytes[..];
    for (i, h) in raw.head.headers.iter().enumerate() {
        let name = h.name.get(bytes);
        if !raw.keeps(i, name, added) {
            continue;
        }
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(h.value.get(bytes));
        head.extend_from_slice(b"\r\n");
    }
}

/// The client's side of a tunnel: bytes already read past the upgrade request
/// first, then the socket.
struct Prefixed<'c, S> {
    inner: &'c mut S,
    buf: &'c mut BytesMut,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.buf.is_empty() {
            let n = this.buf.len().min(out.remaining());
            out.put_slice(&this.buf[..n]);
            this.buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *this.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `name: value` lines of a written head, names lowercased, sorted.
    fn lines(head: &[u8]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::str::from_utf8(head)
            .unwrap()
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        v.sort();
        v
    }

    proptest! {
        /// The head copied from the server's bytes carries exactly the
        /// headers the map path keeps after stripping hop-by-hop ones, and
        /// a header the proxy set replaces the server's (Set-Cookie adds).
        #[test]
        fn raw_head_keeps_what_the_map_path_keeps(
            names in proptest::collection::vec(
                "(Connection|connection|Keep-Alive|TE|Trailer|Transfer-Encoding|Upgrade|Proxy-[a-z]{1,3}|Proxy|X-[a-z]{1,2}|x-[A-Z]{1,2}|close|Server|Set-Cookie|Content-Type)",
                0..12,
            ),
            listed in proptest::collection::vec("(X-[a-z]{1,2}|close|keep-alive|server|upgrade| x-a |[a-z]{1,2})", 0..4),
            add_server in any::<bool>(),
            add_cookie in any::<bool>(),
        ) {
            let mut text = String::from("HTTP/1.1 200 OK\r\n");
            for (i, n) in names.iter().enumerate() {
                if n.eq_ignore_ascii_case("connection") {
                    text.push_str(&format!("{n}: {}\r\n", listed.join(",")));
                } else if n.eq_ignore_ascii_case("transfer-encoding") {
                    // Framing is not what this test is about.
                    continue;
                } else {
                    text.push_str(&format!("{n}: v{i}\r\n"));
                }
            }
            text.push_str("Content-Length: 0\r\n\r\n");
            let kind = h1::RequestKind::default();
            let head = h1::parse_response(text.as_bytes(), &h1::Limits::default(), kind)
                .unwrap()
                .unwrap();
            let bytes = Bytes::from(text);

            let mut added = http::HeaderMap::new();
            if add_server {
                added.insert(header::SERVER, HeaderValue::from_static("ours"));
            }
            if add_cookie {
                added.append(header::SET_COOKIE, HeaderValue::from_static("s=1"));
            }

            // The map path: every line into a map, hop-by-hop stripped, the
            // proxy's headers set (Set-Cookie appended).
            let mut map = http::HeaderMap::new();
            for h in &head.headers {
                map.append(
                    HeaderName::from_bytes(h.name.get(&bytes)).unwrap(),
                    HeaderValue::from_bytes(h.value.get(&bytes)).unwrap(),
                );
            }
            crate::headers::strip_hop_by_hop(&mut map, false);
            for (name, value) in &added {
                if name == header::SET_COOKIE {
                    map.append(name, value.clone());
                } else {
                    map.insert(name, value.clone());
                }
            }
            let mut want = Vec::new();
            for (name, value) in &map {
                want.extend_from_slice(name.as_str().as_bytes());
                want.extend_from_slice(b": ");
                want.extend_from_slice(value.as_bytes());
                want.extend_from_slice(b"\r\n");
            }

            let raw = RawHead { bytes, head };
            let mut got = Vec::new();
            write_raw_headers(&mut got, &raw, &added);
            // HTTP/2's iterator keeps the same lines, in the same order.
            let mut iterated = Vec::new();
            for (name, value) in raw.kept_headers(&added) {
                iterated.extend_from_slice(name);
                iterated.extend_from_slice(b": ");
                iterated.extend_from_slice(value);
                iterated.extend_from_slice(b"\r\n");
            }
            prop_assert_eq!(&iterated, &got);
            for (name, value) in &added {
                got.extend_from_slice(name.as_str().as_bytes());
                got.extend_from_slice(b": ");
                got.extend_from_slice(value.as_bytes());
                got.extend_from_slice(b"\r\n");
            }
            prop_assert_eq!(lines(&got), lines(&want));
        }
    }
}
