//! A server's response body, read straight off its socket (or an HTTP/2
//! stream's), and a tunnel's server side. Below the proxy's error and body types (it names neither), so
//! the response body can hold it without an import circle.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::pool::{Connection, Pool};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Read size for bodies: large enough that a big body takes few reads.
const BODY_READ: usize = 32 * 1024;

/// Where a clean connection goes back to.
pub(crate) struct Home {
    pub(crate) pool: Arc<Pool>,
    pub(crate) max_idle: usize,
}

// === UpstreamBody: the server's response body, read straight off its socket ===

pub(crate) enum Framing {
    Length(u64),
    Chunked(Box<h1::ChunkedDecoder>),
    /// Until the server closes (never reused).
    Close,
    /// 101 or 2xx to CONNECT: no body; the connection becomes a tunnel.
    Tunnel,
    /// A stream on a shared HTTP/2 connection (`upstream_h2`): its data and
    /// trailers frames pass as they come. No connection of ours to return:
    /// dropping it early resets the stream (CANCEL), not the connection.
    Http2(Box<hyper::body::Incoming>),
    Done,
}

/// A server's response head as received, when nothing on the way needs its
/// headers as a map (see `proxy::ProxyService::handle`): the client's head
/// is then copied from these bytes, hop-by-hop lines left out, with no map
/// built and encoded again.
pub(crate) struct RawHead {
    pub(crate) bytes: Bytes,
    pub(crate) head: h1::ResponseHead,
}

/// Heads kept per thread for reuse: a task holds one at a time, and a thread
/// runs one task at a time.
const KEPT_HEADS: usize = 8;

thread_local! {
    // Boxed on purpose: a head moves between the pool, the response body
    // and back as one pointer; unboxed, taking one would allocate the box.
    #[allow(clippy::vec_box)]
    static RAW_HEADS: std::cell::RefCell<Vec<Box<RawHead>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl RawHead {
    /// An empty head to parse into: this thread's, so a response allocates
    /// neither the box nor its header vector.
    pub(crate) fn take() -> Box<RawHead> {
        RAW_HEADS.with(|h| h.borrow_mut().pop()).unwrap_or_else(|| {
            Box::new(RawHead {
                bytes: Bytes::new(),
                head: h1::ResponseHead::default(),
            })
        })
    }

    /// Whether the server's header line `i`, named `name`, reaches the
    /// client: not when hop-by-hop, nor when the proxy set that header itself
    /// in `added` (where `Set-Cookie` only adds). Both client protocols ask
    /// this of every line.
    #[inline]
    pub(crate) fn keeps(&self, i: usize, name: &[u8], added: &http::HeaderMap) -> bool {
        self.head.hop_by_hop & (1 << i) == 0 && (added.is_empty() || !replaced(name, added))
    }

    /// The lines [`RawHead::keeps`], as (name, value).
    pub(crate) fn kept_headers<'a>(
        &'a self,
        added: &'a http::HeaderMap,
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let bytes = &self.bytes[..];
        self.head
            .headers
            .iter()
            .enumerate()
            .map(move |(i, h)| (i, h.name.get(bytes), h.value.get(bytes)))
            .filter(move |(i, name, _)| self.keeps(*i, name, added))
            .map(|(_, name, value)| (name, value))
    }

    /// Done with: back to this thread's few (the bytes are let go now).
    pub(crate) fn give_back(mut self: Box<Self>) {
        self.bytes = Bytes::new();
        if self.head.headers.capacity() > h1::MAX_HEADERS {
            return;
        }
        // `try_with`: a head dropped while the thread exits just goes.
        let _ = RAW_HEADS.try_with(|h| {
            let mut h = h.borrow_mut();
            if h.len() < KEPT_HEADS {
                h.push(self);
            }
        });
    }

    /// The first value of header `name` (lowercase), as received.
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.head
            .headers
            .iter()
            .find(|h| h.name.get(&self.bytes).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(&self.bytes))
    }
}

/// A server's response body. Owns the connection: returns it to the pool when
/// the body ends cleanly and the server allows reuse, closes it otherwise
/// (dropped early, an error, a close-delimited body).
pub(crate) struct UpstreamBody {
    conn: Option<Box<Connection>>,
    framing: Framing,
    keep_alive: bool,
    home: Option<Home>,
    /// The head's headers, when the response carries none in its map.
    raw: Option<Box<RawHead>>,
}

impl UpstreamBody {
    pub(crate) fn new(
        conn: Box<Connection>,
        framing: Framing,
        keep_alive: bool,
        home: Home,
    ) -> Self {
        let mut body = UpstreamBody {
            conn: Some(conn),
            framing,
            keep_alive,
            home: Some(home),
            raw: None,
        };
        if matches!(body.framing, Framing::Done) {
            body.release();
        }
        body
    }

    /// A response body that is an HTTP/2 stream.
    pub(crate) fn http2(body: hyper::body::Incoming) -> Self {
        UpstreamBody {
            conn: None,
            framing: Framing::Http2(Box::new(body)),
            keep_alive: false,
            home: None,
            raw: None,
        }
    }

    /// Keep the server's head with the body (its headers are not in the map).
    pub(crate) fn with_raw_head(mut self, raw: Box<RawHead>) -> Self {
        self.raw = Some(raw);
        self
    }

    pub(crate) fn raw_head(&self) -> Option<&RawHead> {
        self.raw.as_deref()
    }

    pub(crate) fn take_raw_head(&mut self) -> Option<Box<RawHead>> {
        self.raw.take()
    }

    /// The connection, for a tunnel (101 Switching Protocols): with any bytes
    /// the server already sent past the head.
    pub(crate) fn into_tunnel(mut self) -> Option<Box<Connection>> {
        match self.framing {
            Framing::Tunnel => self.conn.take(),
            _ => None,
        }
    }

    /// The body ended cleanly: the connection goes home if it may.
    fn release(&mut self) {
        self.framing = Framing::Done;
        let (Some(conn), Some(home)) = (self.conn.take(), self.home.take()) else {
            return;
        };
        if self.keep_alive {
            home.pool.put(conn, home.max_idle);
        }
    }

    fn fail(&mut self, e: impl Into<BoxError>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.conn = None;
        self.framing = Framing::Done;
        Poll::Ready(Some(Err(e.into())))
    }
}

/// Read more of the body into the connection's buffer. `Ready(Ok(0))` is EOF.
fn poll_fill(conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    conn.buf.reserve(BODY_READ);
    tokio_util::io::poll_read_buf(Pin::new(&mut conn.stream), cx, &mut conn.buf)
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Framing::Http2(body) = &mut this.framing {
            return Pin::new(&mut **body)
                .poll_frame(cx)
                .map_err(|e| Box::new(e) as BoxError);
        }
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.framing {
                Framing::Done | Framing::Tunnel | Framing::Http2(_) => return Poll::Ready(None),
                Framing::Length(left) => {
                    if !conn.buf.is_empty() {
                        let n = conn
                            .buf
                            .len()
                            .min(usize::try_from(*left).unwrap_or(usize::MAX));
                        let data = conn.buf.split_to(n).freeze();
                        *left -= n as u64;
                        if *left == 0 {
                            this.release();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match std::task::ready!(poll_fill(conn, cx)) {
                        Ok(0) => {
                            return this.fail(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the server closed the connection before the end of the body",
                            ))
                        }
                        Ok(_) => {}
                        Err(e) => return this.fail(e),
                    }
                }
                Framing::Chunked(decoder) => {
                    if !conn.buf.is_empty() {
                        let step = match decoder.decode(&conn.buf) {
                            Ok(step) => step,
                            Err(e) => return this.fail(e),
                        };
                        if let Some(range) = step.data {
                            conn.buf.advance(range.start);
                            let data = conn.buf.split_to(range.len()).freeze();
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                        conn.buf.advance(step.consumed);
                        if step.done {
                            this.release();
                            return Poll::Ready(None);
                        }
                        if !conn.buf.is_empty() {
                            continue;
                        }
                    }
                    match std::task::ready!(poll_fill(conn, cx)) {
                        Ok(0) => {
                            return this.fail(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the server closed the connection inside a chunked body",
                            ))
                        }
                        Ok(_) => {}
                        Err(e) => return this.fail(e),
                    }
                }
                Framing::Close => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match std::task::ready!(poll_fill(conn, cx)) {
                        Ok(0) => {
                            // The end of a close-delimited body; the socket is spent.
                            this.conn = None;
                            this.framing = Framing::Done;
                            return Poll::Ready(None);
                        }
                        Ok(_) => {}
                        Err(e) => return this.fail(e),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.framing {
            Framing::Done | Framing::Tunnel => true,
            Framing::Http2(body) => body.is_end_stream(),
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.framing {
            Framing::Done | Framing::Tunnel => SizeHint::with_exact(0),
            Framing::Length(n) => SizeHint::with_exact(*n),
            Framing::Http2(body) => body.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

/// A tunnel's server side: the bytes already read past the 101 head first,
/// then the socket.
pub(crate) struct TunnelIo {
    conn: Box<Connection>,
}

impl TunnelIo {
    pub(crate) fn new(conn: Box<Connection>) -> Self {
        TunnelIo { conn }
    }
}

impl AsyncRead for TunnelIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let conn = &mut self.conn;
        if !conn.buf.is_empty() {
            let n = conn.buf.len().min(out.remaining());
            out.put_slice(&conn.buf[..n]);
            conn.buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut conn.stream).poll_read(cx, out)
    }
}

impl AsyncWrite for TunnelIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.conn.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn.stream).poll_shutdown(cx)
    }
}

/// Is the server's header `name` one the proxy set in `added`?
fn replaced(name: &[u8], added: &http::HeaderMap) -> bool {
    !name.eq_ignore_ascii_case(b"set-cookie")
        && added
            .keys()
            .any(|k| k.as_str().as_bytes().eq_ignore_ascii_case(name))
}
