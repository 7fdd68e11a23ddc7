//! One client connection: reads served by the fast path, everything else by
//! hyper and s3s.
//!
//! The connection starts in our own loop. It reads a request head, and if
//! [`fast::classify`] takes it (an anonymous GET/HEAD of a public object, or
//! one whose SigV4 signature it verified) and
//! the answer is 200, 206 or 304, it answers with a head written once into a
//! reused buffer and the object's bytes sent by `sendfile(2)` straight from
//! the data file to the socket; then it reads the next head (keep-alive,
//! pipelined requests included). The first request it does not take — a
//! signature it is not sure of, a PUT, an error to report — hands the connection, with the
//! bytes already read, to hyper for the rest of its life. So a connection only
//! ever has one HTTP implementation answering at a time, and everything the
//! fast path does not know stays with the general path.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
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

/// Serves one connection until it closes or the drain ends it (`None`), or
/// until a request the fast path does not take: then the connection, with
/// the bytes already read, is returned for the general path.
pub(crate) async fn serve(
    app: &App,
    stream: TcpStream,
    peer: SocketAddr,
    drain: &Drain,
) -> Option<Prefixed> {
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(4096),
        out: Vec::with_capacity(1024),
        scratch: Scratch::default(),
        date: DateCache::default(),
        verifier: app.fast.verifier.clone(),
    };
    loop {
        match conn.next(app, drain).await {
            Ok(Step::Again) => continue,
            Ok(Step::Close) => return None,
            Ok(Step::General) => break,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
                return None;
            }
        }
    }
    Some(Prefixed {
        pre: conn.buf,
        io: conn.stream,
    })
}

enum Step {
    /// Answered; read the next request.
    Again,
    /// The client went away, asked to close, or the server is draining.
    Close,
    /// The request in the buffer is the general path's.
    General,
}

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed: the next request's head, perhaps more.
    buf: BytesMut,
    /// The response head being written.
    out: Vec<u8>,
    scratch: Scratch,
    date: DateCache,
    /// Our key, with this connection's cached signing key.
    verifier: Verifier,
}

/// What the fast path decided for the request at the front of the buffer.
enum Plan {
    Answer {
        /// Bytes of the request head to consume.
        consumed: usize,
        file: std::fs::File,
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
        // Read until the buffer holds a whole head (or proves it is not ours).
        loop {
            if !self.buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&self.buf) {
                    Ok(httparse::Status::Complete(_)) => break,
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
        }
        let started = Instant::now();
        let Plan::Answer {
            consumed,
            file,
            body,
            close,
            head_only,
            signed,
            status,
        } = self.plan(app)
        else {
            return Ok(Step::General);
        };
        let metrics = &app.metrics;
        metrics.in_flight.inc();
        let sent = self.send(&file, body).await;
        metrics.in_flight.dec();
        metrics.duration.observe(started.elapsed().as_secs_f64());
        metrics.fast_reads.inc();
        if signed {
            metrics.fast_signed_reads.inc();
        }
        app.fast.count(head_only, status);
        sent?;
        self.buf.advance(consumed);
        Ok(if close || drain.is_draining() {
            Step::Close
        } else {
            Step::Again
        })
    }

    /// Parses the head at the front of the buffer, looks the object up and
    /// writes the response head, or says the request is the general path's.
    fn plan(&mut self, app: &App) -> Plan {
        let fast = &app.fast;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(consumed)) = req.parse(&self.buf) else {
            return Plan::General;
        };
        let now = time::OffsetDateTime::now_utc();
        let Some(get) = fast::classify(
            &req,
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

    /// Sends the head in `out`, then `body.len` bytes of `file` from `body.start`.
    async fn send(&self, file: &std::fs::File, body: fast::Body) -> io::Result<()> {
        // MSG_MORE holds the head back so it leaves in one segment with the
        // start of the body, as nginx's `tcp_nopush` does.
        let flags = if body.len > 0 {
            // nix names no MSG_MORE; the bit is libc's.
            MsgFlags::from_bits_retain(libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL
        } else {
            MsgFlags::MSG_NOSIGNAL
        };
        let mut head = &self.out[..];
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

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
