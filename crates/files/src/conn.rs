//! One client connection: reads served by the fast path, everything else by
//! hyper and s3s.
//!
//! The connection starts in our own loop. It reads a request head, and if
//! [`fast::classify`] takes it (an anonymous GET/HEAD of a public object, or
//! one whose SigV4 signature it verified) and the answer is 200, 206 or 304,
//! it answers with a head written once into a reused buffer and the object's
//! bytes sent by `sendfile(2)` straight from the data file to the socket; then
//! it reads the next head (keep-alive, pipelined requests included).
//!
//! A request it does not take — a PUT, a signature it is not sure of, an
//! error to report — goes to hyper and s3s ([`Handoff`]). If `h1` (the front
//! door's strict framing rules) can frame it and the client keeps the
//! connection, hyper gets exactly that one request through [`OneRequest`],
//! which ends its input at the request's last byte; when hyper has answered,
//! the connection comes back to this loop, so a GET after a PUT on one
//! keep-alive connection is fast again. A head `h1` refuses, an upgrade, or a
//! last request goes to hyper with the connection for the rest of its life
//! (hyper says what is wrong). Either way one HTTP implementation answers at
//! a time, and everything the fast path does not know stays with the general
//! path.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use nix::sys::socket::MsgFlags;
use service::shutdown::Drain;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::app::App;
use crate::fast;
use crate::sigv4::Verifier;
use crate::store::Scratch;

/// The largest request head the fast path reads; a longer one goes to hyper,
/// which has its own limit and error for it.
const MAX_HEAD: usize = 16 * 1024;

/// Headers the fast path parses; a request with more goes to hyper.
const MAX_HEADERS: usize = 32;

/// Where a connection goes after the fast path.
pub(crate) enum Handoff {
    /// Closed: the client went away or asked to, or the server is draining.
    Closed,
    /// One request for hyper; [`OneRequest::finish`] gives the connection back.
    /// (Boxed: it holds the connection's buffers.)
    One(Box<OneRequest>),
    /// Hyper serves the connection to its end.
    Life(Prefixed),
}

/// A connection the fast path serves.
pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed: the next request's head, perhaps more.
    buf: BytesMut,
    reply: Reply,
}

/// What the fast path reuses from one answer to the next on a connection.
struct Reply {
    /// The response head being written.
    out: Vec<u8>,
    scratch: Scratch,
    date: DateCache,
    /// Our key (its caches shared with the other connections).
    verifier: Verifier,
}

impl Conn {
    pub(crate) fn new(app: &App, stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            reply: Reply {
                out: Vec::with_capacity(1024),
                scratch: Scratch::default(),
                date: DateCache::default(),
                verifier: app.fast.verifier.clone(),
            },
        }
    }
}

/// Serves `conn` with the fast path until it closes or the drain ends it, or
/// until a request the fast path does not take: that one is handed over.
pub(crate) async fn serve(app: &App, mut conn: Conn, peer: SocketAddr, drain: &Drain) -> Handoff {
    loop {
        match conn.next(app, drain).await {
            Ok(Step::Again) => continue,
            Ok(Step::Close) => return Handoff::Closed,
            Ok(Step::General) => break,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
                return Handoff::Closed;
            }
        }
    }
    let limits = h1::Limits {
        max_head_bytes: MAX_HEAD,
        ..h1::Limits::default()
    };
    match h1::parse_request(&conn.buf, &limits) {
        Ok(Some(head)) if head.keep_alive && !head.upgrade && !head.connect => {
            let body = match head.body {
                h1::RequestBody::None => BodyLeft::Length(0),
                h1::RequestBody::Length(n) => BodyLeft::Length(n),
                h1::RequestBody::Chunked => BodyLeft::Chunked(h1::ChunkedDecoder::default()),
            };
            Handoff::One(Box::new(OneRequest {
                conn,
                head_left: head.head_len,
                body,
                expect_continue: head.expect_continue,
                body_started: false,
                abandoned: false,
            }))
        }
        _ => Handoff::Life(Prefixed {
            pre: conn.buf,
            io: conn.stream,
        }),
    }
}

enum Step {
    /// Answered; read the next request.
    Again,
    /// The client went away, asked to close, or the server is draining.
    Close,
    /// The request in the buffer is the general path's.
    General,
}

/// What the fast path decided for the request at the front of the buffer.
enum Plan {
    Answer {
        /// Bytes of the request head to consume.
        consumed: usize,
        /// The data file, perhaps shared with other readers (sendfile reads at an offset).
        file: std::sync::Arc<std::fs::File>,
        body: fast::Body,
        close: bool,
        head_only: bool,
        signed: bool,
        status: u16,
    },
    General,
}

impl Conn {
    async fn next(&mut self, app: &App, drain: &Drain) -> io::Result<Step> {
        let idle = app.idle_timeout;
        // Read until the buffer holds a whole head (or proves it is not ours),
        // and plan the answer from that one parse.
        let (started, plan) = loop {
            if !self.buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&self.buf) {
                    Ok(httparse::Status::Complete(consumed)) => {
                        break (Instant::now(), self.reply.plan(app, &req, consumed));
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD => {}
                    // Too long, too many headers, or malformed: hyper says why.
                    _ => return Ok(Step::General),
                }
            } else if drain.is_draining() {
                return Ok(Step::Close);
            }
            self.buf.reserve(4096);
            let idle_between = self.buf.is_empty();
            let read = tokio::time::timeout(idle, self.stream.read_buf(&mut self.buf));
            let n = if idle_between {
                // Idle between requests: shutdown closes the connection now.
                tokio::select! {
                    r = read => r,
                    () = drain.draining() => return Ok(Step::Close),
                }
            } else {
                read.await
            };
            match n {
                Ok(Ok(0)) | Err(_) => return Ok(Step::Close),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        };
        let Plan::Answer {
            consumed,
            file,
            body,
            close,
            head_only,
            signed,
            status,
        } = plan
        else {
            return Ok(Step::General);
        };
        let metrics = &app.metrics;
        metrics.in_flight.inc();
        let body_len = body.len;
        let sent = self.send(&file, body).await;
        metrics.in_flight.dec();
        metrics.duration.observe(started.elapsed().as_secs_f64());
        metrics.fast_reads.inc();
        if signed {
            metrics.fast_signed_reads.inc();
        }
        // A body cut short by the client is not counted as sent.
        app.fast
            .count(head_only, status, if sent.is_ok() { body_len } else { 0 });
        sent?;
        self.buf.advance(consumed);
        Ok(if close || drain.is_draining() {
            Step::Close
        } else {
            Step::Again
        })
    }

    /// Sends the head in `reply.out`, then `body.len` bytes of `file` from `body.start`.
    async fn send(&self, file: &std::fs::File, body: fast::Body) -> io::Result<()> {
        // MSG_MORE holds the head back so it leaves in one segment with the
        // start of the body, as nginx's `tcp_nopush` does.
        let flags = if body.len > 0 {
            // nix names no MSG_MORE; the bit is libc's.
            MsgFlags::from_bits_retain(libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL
        } else {
            MsgFlags::MSG_NOSIGNAL
        };
        let mut head = &self.reply.out[..];
        while !head.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_io(Interest::WRITABLE, || {
                nix::sys::socket::send(self.stream.as_raw_fd(), head, flags)
                    .map_err(io::Error::from)
            }) {
                Ok(n) => head = &head[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        let end = body.start + body.len;
        let mut offset = i64::try_from(body.start).map_err(io::Error::other)?;
        while u64::try_from(offset).unwrap_or(u64::MAX) < end {
            let left = end - u64::try_from(offset).unwrap_or(end);
            // Linux sends at most 0x7ffff000 bytes per call.
            let count = usize::try_from(left.min(0x7fff_f000)).unwrap_or(0x7fff_f000);
            self.stream.writable().await?;
            match self.stream.try_io(Interest::WRITABLE, || {
                nix::sys::sendfile::sendfile(&self.stream, file, Some(&mut offset), count)
                    .map_err(io::Error::from)
            }) {
                // The file is shorter than its record says: never happens to a
                // committed object; stop rather than spin.
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Reply {
    /// Looks up the object of the parsed request `req` (whose head is
    /// `consumed` bytes) and writes the response head, or says the request
    /// is the general path's.
    fn plan(&mut self, app: &App, req: &httparse::Request<'_, '_>, consumed: usize) -> Plan {
        let fast = &app.fast;
        let now = time::OffsetDateTime::now_utc();
        let Some(get) = fast::classify(
            req,
            app.domain.as_deref(),
            &fast.public,
            &mut self.verifier,
            now.unix_timestamp(),
        ) else {
            return Plan::General;
        };
        let date = self.date.at(now);
        let out = &mut self.out;
        let found = app
            .store
            .with_object(&get.bucket, &get.key, &mut self.scratch, |obj, file| {
                fast::respond(&get, obj, date, out).map(|body| (body, file))
            });
        match found {
            Ok(Some((body, file))) => {
                let status = if out.starts_with(b"HTTP/1.1 304") {
                    304
                } else if out.starts_with(b"HTTP/1.1 206") {
                    206
                } else {
                    200
                };
                Plan::Answer {
                    consumed,
                    file,
                    body,
                    close: get.close,
                    head_only: get.head_only,
                    signed: get.signed,
                    status,
                }
            }
            // No such key, a failed precondition, an unsatisfiable range, a
            // disk error: the general path answers (and logs) those.
            Ok(None) | Err(_) => Plan::General,
        }
    }
}

/// The `Date` header value, formatted once a second.
#[derive(Default)]
struct DateCache {
    secs: i64,
    text: Vec<u8>,
}

impl DateCache {
    fn at(&mut self, now: time::OffsetDateTime) -> &[u8] {
        if now.unix_timestamp() != self.secs || self.text.is_empty() {
            self.secs = now.unix_timestamp();
            self.text.clear();
            fast::write_http_date(&mut self.text, now);
        }
        &self.text
    }
}

/// The rest of one request's bytes for hyper: the head, then the body as `h1`
/// frames it. Past the body it reads as end of input, so hyper ends the
/// connection after answering — without shutting the socket (the caller uses
/// `poll_without_shutdown`) — and [`OneRequest::finish`] hands it back, with
/// any bytes of later requests already read, to the fast path.
pub(crate) struct OneRequest {
    conn: Conn,
    /// Bytes of the head not yet given to hyper.
    head_left: usize,
    body: BodyLeft,
    /// `Expect: 100-continue`: the client may hold its body back until told.
    expect_continue: bool,
    /// Some of the body was given to hyper.
    body_started: bool,
    /// A final answer went out to an `Expect: 100-continue` request before
    /// any of its body: the client may never send it, or send it late, so
    /// what follows on the connection cannot be framed. It closes.
    abandoned: bool,
}

/// What is left of the request's body.
enum BodyLeft {
    /// This many bytes (0: the request is all given).
    Length(u64),
    /// Chunked, until the decoder says the body (and its trailers) ended.
    Chunked(h1::ChunkedDecoder),
    /// A chunked body `h1` refused: hyper reads on and reports it; the
    /// connection does not come back.
    Refused,
}

impl OneRequest {
    /// The connection, if hyper read the whole request (its answer sent): the
    /// fast path serves what follows. `None` when hyper stopped early (an
    /// error, a body it did not read): the connection closes.
    pub(crate) fn finish(self, hyper_unread: &[u8]) -> Option<Conn> {
        (!self.abandoned && self.done() && hyper_unread.is_empty()).then_some(self.conn)
    }

    /// How many of the bytes in `buf` (at most `room`) belong to the request:
    /// head and body together, so hyper holds all of a small request at once
    /// (and can drain a body s3s answered without reading).
    fn ours(&mut self, room: usize) -> usize {
        let avail = self.conn.buf.len().min(room);
        let head = avail.min(self.head_left);
        let rest = &self.conn.buf[head..avail];
        let mut next = None;
        let body = match &mut self.body {
            BodyLeft::Length(n) => rest.len().min(usize::try_from(*n).unwrap_or(usize::MAX)),
            BodyLeft::Refused => rest.len(),
            BodyLeft::Chunked(dec) => {
                let mut at = 0;
                while at < rest.len() {
                    match dec.decode(&rest[at..]) {
                        Ok(step) => {
                            at += step.consumed;
                            if step.done {
                                next = Some(BodyLeft::Length(0));
                                break;
                            }
                            if step.consumed == 0 {
                                break;
                            }
                        }
                        Err(_) => {
                            next = Some(BodyLeft::Refused);
                            at = rest.len();
                            break;
                        }
                    }
                }
                at
            }
        };
        if let Some(b) = next {
            self.body = b;
        }
        head + body
    }

    /// Counts `n` bytes given to hyper.
    fn gave(&mut self, n: usize) {
        let head = n.min(self.head_left);
        self.head_left -= head;
        if n > head {
            self.body_started = true;
        }
        if let BodyLeft::Length(left) = &mut self.body {
            *left -= u64::try_from(n - head).unwrap_or(0).min(*left);
        }
    }

    /// hyper writes `bytes`: a final answer before any body of an
    /// `Expect: 100-continue` request abandons the connection (see `abandoned`).
    fn note_answer(&mut self, bytes: &[u8]) {
        if self.expect_continue
            && !self.body_started
            && !self.done()
            && bytes.starts_with(b"HTTP/1.1 ")
            && !bytes.starts_with(b"HTTP/1.1 1")
        {
            self.abandoned = true;
        }
    }

    fn done(&self) -> bool {
        self.head_left == 0 && matches!(self.body, BodyLeft::Length(0))
    }
}

impl AsyncRead for OneRequest {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.done() || this.abandoned {
                // The end of this request: hyper sees the end of input.
                return Poll::Ready(Ok(()));
            }
            if !this.conn.buf.is_empty() {
                let n = this.ours(buf.remaining());
                if n > 0 || this.done() {
                    buf.put_slice(&this.conn.buf[..n]);
                    this.conn.buf.advance(n);
                    this.gave(n);
                    return Poll::Ready(Ok(()));
                }
            }
            // A body of known length with nothing buffered: straight into
            // hyper's buffer, never past the request's end.
            if this.head_left == 0 && this.conn.buf.is_empty() {
                if let BodyLeft::Length(left) = this.body {
                    let cap = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(buf.remaining());
                    let mut limited = ReadBuf::new(buf.initialize_unfilled_to(cap));
                    ready!(Pin::new(&mut this.conn.stream).poll_read(cx, &mut limited))?;
                    let n = limited.filled().len();
                    buf.advance(n);
                    this.gave(n);
                    return Poll::Ready(Ok(()));
                }
            }
            // Otherwise read into our buffer and decide how much is the request's.
            this.conn.buf.reserve(8192);
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.conn.stream),
                cx,
                &mut this.conn.buf
            ))?;
            if n == 0 {
                // The client went away mid-request: hyper reports it.
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for OneRequest {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.note_answer(buf);
        Pin::new(&mut self.conn.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            self.note_answer(first);
        }
        Pin::new(&mut self.conn.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.conn.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn.stream).poll_shutdown(cx)
    }
}

/// The socket with the bytes the fast path read but did not consume in front,
/// for hyper to read first.
pub(crate) struct Prefixed {
    pre: BytesMut,
    io: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

service::forward_async_write!(impl Prefixed, io);
