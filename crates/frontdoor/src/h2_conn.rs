//! HTTP/2 to clients on our own wire layer (`h2wire`), driven inline by the
//! client connection's task, as the HTTP/1 core (`client_conn`) is: no task
//! per stream, no hand-off between tasks per frame. The default
//! (`[balance.http2] engine = "bigstep"`); hyper's server (`serve_h2` in
//! lib.rs) is `engine = "hyper"`.
//!
//! One future per connection owns the socket, the pooled read buffer, the
//! `h2wire::conn::Connection` and the streams:
//! - each request head becomes a `ProxyService::handle` future (the one seam
//!   shared with HTTP/1), polled in a `FuturesUnordered` owned here, so the
//!   open streams make progress together;
//! - a request body is fed to the proxy through an [`Inbound`] (a small queue
//!   shared with whichever task sends it upstream); its bytes are released to
//!   the client's flow-control windows only once that task has taken them;
//! - a response body is polled here and written as the stream's and the
//!   connection's send windows allow (`send_capacity`, `WindowOpened`);
//!   trailers go both ways (gRPC);
//! - RST_STREAM from the client drops the stream's proxy future (which
//!   cancels the upstream work) and its response body;
//! - WebSocket over HTTP/2 (RFC 8441), when `websocket` is on: h2wire offers
//!   SETTINGS_ENABLE_CONNECT_PROTOCOL and lets `:protocol` through; the proxy
//!   turns the extended CONNECT into an HTTP/1.1 upgrade (`ws_h2`, as for
//!   hyper's engine); once its `200` is sent, the stream becomes a byte stream
//!   (`h2_tunnel`) that `ws_h2::spawn_tunnel` copies to the server's socket;
//! - SETTINGS not acknowledged within `settings_timeout`: GOAWAY
//!   SETTINGS_TIMEOUT (RFC 9113 §6.5.3). No keep-alive PING (hyper's engine
//!   sends none either): the request-header and keep-alive timers of
//!   `ClientIo` end idle connections.
//!
//! - a panic in one stream's proxy future or response body resets that
//!   stream (INTERNAL_ERROR) and counts it; the others go on, as with
//!   hyper's engine's task per stream.
//!
//! Not here yet: no `date` is added to a response without one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};

use h2wire::conn::{Config, Connection, Event};
use h2wire::ErrorCode;

use crate::body::{lock, BoxError, Inbound, Inbox, RequestBody, ResponseBody, StreamIn};
use crate::client_conn::{give_back, poll_read_pooled};
use crate::conn::Phase;
use crate::h2_tunnel::Outbound;
use crate::proxy::{Front, ProxyService};
use crate::tunnel::TunnelHandoff;
use crate::Shared;

/// A stream's proxy future: the stream id and what became of it.
type Head = Pin<Box<dyn Future<Output = (u32, Answered<Response<ResponseBody>>)> + Send>>;

/// What a stream's proxy work came to.
#[derive(Debug)]
enum Answered<T> {
    Response(T),
    /// The client reset the stream first.
    Cancelled,
    /// The work panicked: this stream is reset, the others go on.
    Panicked,
}

/// Poll a stream's proxy work unless the stream was reset, and contain a
/// panic in it to this stream (as a task per stream would on hyper's
/// engine). `work` must not be polled again once this is Ready.
fn poll_guarded<F: Future>(
    work: Pin<&mut F>,
    cancel: &Cancel,
    cx: &mut Context<'_>,
) -> Poll<Answered<F::Output>> {
    cancel.waker.register(cx.waker());
    if cancel.cancelled.load(Ordering::Acquire) {
        return Poll::Ready(Answered::Cancelled);
    }
    // Unwinding costs nothing until it happens.
    match std::panic::catch_unwind(AssertUnwindSafe(|| work.poll(cx))) {
        Ok(p) => p.map(Answered::Response),
        Err(_) => Poll::Ready(Answered::Panicked),
    }
}

/// One stream the driver is working on.
struct Slot {
    id: u32,
    /// Cancels the proxy future, while the response head is awaited.
    abort: Option<Arc<Cancel>>,
    /// The response body (or the tunnel's bytes), once the head is sent.
    body: Option<Outgoing>,
    /// A frame's bytes the send windows did not let out yet.
    pending: Bytes,
    /// `pending` ends the body.
    pending_end: bool,
    /// The request body, while it is being read.
    inbox: Option<Arc<Mutex<Inbox>>>,
    /// An extended CONNECT's stream, kept for the tunnel its `200` opens
    /// (the proxy sees no request body: the stream's DATA is the tunnel's).
    tunnel_in: Option<Inbound>,
}

/// What the driver sends on a stream after its head.
enum Outgoing {
    Response(ResponseBody),
    /// What the WebSocket tunnel writes (`h2_tunnel`).
    Tunnel(Outbound),
}

impl Body for Outgoing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Outgoing::Response(b) => Pin::new(b).poll_frame(cx),
            Outgoing::Tunnel(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Response(b) => b.is_end_stream(),
            Outgoing::Tunnel(b) => b.is_end_stream(),
        }
    }
}

impl Slot {
    fn reset_inbox(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            let mut b = lock(&inbox);
            if !b.ended {
                b.reset = true;
                if let Some(w) = b.consumer.take() {
                    w.wake();
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(a) = self.abort.take() {
            a.cancelled.store(true, Ordering::Release);
            a.waker.wake();
        }
        self.reset_inbox();
    }
}

/// Drops a stream's proxy future (the client reset the stream): the future
/// sees it at its next poll, which the wake brings.
#[derive(Default)]
struct Cancel {
    cancelled: AtomicBool,
    waker: AtomicWaker,
}

/// Marks the connection busy while a request is in the proxy; gives the mark
/// back if the request is dropped before the proxy's own `Finish` takes it
/// over (a stream reset while its head was awaited).
struct Busy(Option<Arc<Phase>>);

impl Busy {
    /// The response's `Finish` marks the request done from here.
    fn handed_over(mut self) {
        self.0 = None;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.idle();
        }
    }
}

/// Response fields that mean nothing in HTTP/2 (RFC 9113 §8.2.2).
fn connection_specific(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

fn h2_config(c: &crate::config::Http2Config) -> Config {
    Config {
        max_concurrent_streams: c.max_concurrent_streams,
        initial_window_size: c.initial_stream_window,
        connection_window: c.initial_connection_window,
        max_frame_size: c.max_frame_bytes,
        max_header_list_size: c.max_header_list_bytes,
        // A compressed block is about as long as its decoded list at worst
        // (literals); twice that leaves room for framing overhead.
        max_header_block: (c.max_header_list_bytes as usize).max(16 * 1024) * 2,
        max_rapid_resets: u32::try_from(c.max_pending_accept_reset_streams).unwrap_or(u32::MAX),
        enable_connect_protocol: c.websocket,
        ..Config::default()
    }
}

struct Driver<S> {
    shared: Arc<Shared>,
    service: Arc<ProxyService>,
    io: S,
    rbuf: BytesMut,
    out: Vec<u8>,
    /// How much of `out` is written.
    written: usize,
    conn: Connection,
    heads: FuturesUnordered<Head>,
    slots: Vec<Slot>,
    /// A server's header names, lowercased for the response being encoded.
    names: Vec<u8>,
    /// Stop writing more than this before the socket takes it.
    high_water: usize,
    /// A connection error: its GOAWAY is in `out`; close once it is written.
    failed: Option<h2wire::conn::ConnError>,
    shutting_down: bool,
    draining: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    /// Fires `settings_timeout` after our SETTINGS went out, unless the
    /// client has acknowledged them by then.
    settings_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// This poll's bytes wait for the rest of the thread's ready work (see
    /// `Driver::poll`): set when the task yielded with `out` unwritten.
    yielded: bool,
}

/// Serve HTTP/2 on `io` with `h2wire` until the client leaves, a timer fires
/// (through `ClientIo`), the connection fails, or the drain has finished it.
pub(crate) async fn serve<S>(
    shared: Arc<Shared>,
    io: S,
    peer: SocketAddr,
    drain: service::Drain,
    service: ProxyService,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let snap = shared.snapshot.load_full();
    let mut out = Vec::new();
    let conn = Connection::new(h2_config(&snap.config.http2), &mut out);
    let high_water = snap.config.http2.max_send_buffer_bytes.max(64 * 1024);
    let settings_timer = Box::pin(tokio::time::sleep(snap.config.http2.settings_timeout));
    drop(snap);
    shared.metrics.http2_connections.inc();
    let mut d = Driver {
        shared,
        service: Arc::new(service),
        io,
        rbuf: BytesMut::new(),
        out,
        written: 0,
        conn,
        heads: FuturesUnordered::new(),
        names: Vec::new(),
        slots: Vec::new(),
        high_water,
        failed: None,
        shutting_down: false,
        draining: Box::pin(drain.draining()),
        settings_timer: Some(settings_timer),
        yielded: false,
    };
    let ended = std::future::poll_fn(|cx| d.poll(cx)).await;
    if let Err(e) = ended {
        d.shared.metrics.http2_protocol_errors.inc();
        tracing::info!(target: "bigstep::frontdoor", client = %peer, error = %e, "HTTP/2 connection closed on a protocol error");
    }
    give_back(&mut d.rbuf);
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2wire::conn::ConnError>> {
        loop {
            let mut progress = false;
            if !self.shutting_down && self.draining.as_mut().poll(cx).is_ready() {
                self.shutting_down = true;
                self.conn.begin_shutdown(&mut self.out);
            }
            if self.failed.is_none() && self.out.len() < self.high_water {
                match poll_read_pooled(&mut self.io, &mut self.rbuf, cx) {
                    // The client left (or `ClientIo`'s timer ended it).
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                    Poll::Ready(Ok(_)) => {
                        progress = true;
                        if let Err(e) = self.parse(cx) {
                            // Nothing more is served: the GOAWAY goes out, then the close.
                            self.failed = Some(e);
                            self.slots.clear();
                            self.heads = FuturesUnordered::new();
                        }
                    }
                    Poll::Pending => {}
                }
            }
            progress |= self.check_settings_ack(cx);
            while let Poll::Ready(Some((id, answered))) = self.heads.poll_next_unpin(cx) {
                progress = true;
                match answered {
                    Answered::Response(resp) => self.respond(id, resp),
                    Answered::Cancelled => {}
                    Answered::Panicked => self.panicked(id),
                }
            }
            progress |= self.pump_bodies(cx);
            self.release_consumed();
            // Written once the thread has run its other ready tasks and
            // polled its sockets once more (`yield_now` wakes us after the
            // I/O driver): every connection's answers to one batch of server
            // responses then go out together, as more of ours get gathered,
            // and the client is woken once for several connections' bytes
            // instead of once per connection (`bench/h2_syscalls.sh`: h2load
            // was woken 0.09 times per request, now 0.036; HAProxy 0.035-0.042).
            if self.written == 0 && !self.out.is_empty() && !self.yielded {
                self.yielded = true;
                if std::pin::pin!(tokio::task::yield_now())
                    .poll(cx)
                    .is_pending()
                {
                    return Poll::Pending;
                }
            }
            match self.flush_out(cx) {
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    if let Some(e) = self.failed.take() {
                        return Poll::Ready(Err(e));
                    }
                    if self.conn.is_closing() && self.slots.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    if !progress && self.slots.is_empty() && self.rbuf.is_empty() {
                        // Idle until the client speaks: the per-request
                        // buffers go back.
                        self.conn.trim();
                        give_back(&mut self.rbuf);
                        if self.out.capacity() > 64 * 1024 {
                            self.out = Vec::new();
                        }
                    }
                }
                Poll::Pending => {}
            }
            if !progress {
                self.yielded = false;
                return Poll::Pending;
            }
        }
    }

    /// Our SETTINGS unacknowledged past `settings_timeout`: a connection
    /// error (RFC 9113 §6.5.3). True if it fired.
    fn check_settings_ack(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timer) = self.settings_timer.as_mut() else {
            return false;
        };
        if !self.conn.awaiting_settings_ack() {
            self.settings_timer = None;
            return false;
        }
        if self.failed.is_some() || timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.settings_timer = None;
        self.failed = Some(self.conn.settings_timeout(&mut self.out));
        self.slots.clear();
        self.heads = FuturesUnordered::new();
        true
    }

    /// Write `out` and flush; Ready(Ok) once all of it is out.
    fn flush_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.written > 0 {
            self.out.clear();
            self.written = 0;
            self.conn.flushed();
            // Free on plain TCP; over TLS it sends what rustls still holds.
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hand what was read to the connection until it wants more bytes.
    fn parse(&mut self, cx: &mut Context<'_>) -> Result<(), h2wire::conn::ConnError> {
        let mut at = 0;
        let rbuf = std::mem::take(&mut self.rbuf);
        let r = loop {
            match self.conn.recv(&rbuf[at..], &mut self.out) {
                Ok(Some((event, used))) => {
                    at += used;
                    self.on_event(event, cx);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.rbuf = rbuf;
        self.rbuf.advance(at);
        r
    }

    fn slot(&mut self, id: u32) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.id == id)
    }

    fn remove(&mut self, id: u32) {
        if let Some(i) = self.slots.iter().position(|s| s.id == id) {
            self.slots.swap_remove(i);
        }
    }

    fn on_event(&mut self, event: Event<'_>, cx: &mut Context<'_>) {
        match event {
            Event::Request {
                stream,
                pseudo,
                end_stream,
            } => self.on_request(stream, pseudo, end_stream, cx),
            Event::HeadersTooLarge { stream, .. } => {
                self.conn.send_response(
                    stream,
                    431,
                    [(&b"content-length"[..], &b"0"[..])],
                    true,
                    &mut self.out,
                );
                self.end_unread(stream);
            }
            Event::Trailers { stream } => {
                let trailers = fields(self.conn.headers(), 0);
                if let Some(inbox) = self.slot(stream).and_then(|s| s.inbox.clone()) {
                    let mut b = lock(&inbox);
                    b.trailers = trailers;
                    b.ended = true;
                    if let Some(w) = b.consumer.take() {
                        w.wake();
                    }
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                let n = data.len() as u32;
                let inbox = self.slot(stream).and_then(|s| s.inbox.clone());
                // Nobody reads this body any more (the proxy dropped it, or
                // the response is over): the window goes back at once.
                match inbox.filter(|i| Arc::strong_count(i) > 2) {
                    Some(inbox) => {
                        let mut b = lock(&inbox);
                        b.received += u64::from(n);
                        // A body longer or shorter than its content-length is
                        // malformed (RFC 9113 §8.1.1): it must not reach an
                        // HTTP/1 server that frames by that length.
                        if b.length
                            .is_some_and(|l| b.received > l || (end_stream && b.received != l))
                        {
                            drop(b);
                            self.conn
                                .reset(stream, ErrorCode::PROTOCOL_ERROR, &mut self.out);
                            self.remove(stream);
                            return;
                        }
                        if !data.is_empty() {
                            b.chunks.push_back(Bytes::copy_from_slice(data));
                        }
                        b.ended |= end_stream;
                        if let Some(w) = b.consumer.take() {
                            w.wake();
                        }
                    }
                    None if n > 0 => self.conn.release(stream, n, &mut self.out),
                    None => {}
                }
            }
            Event::Reset { stream, .. } => self.remove(stream),
            Event::WindowOpened { .. }
            | Event::GoAway { .. }
            | Event::PingAck { .. }
            | Event::Nothing => {}
        }
    }

    /// The response is out but the client's body is not over: tell it to stop
    /// sending (RFC 9113 §8.1).
    fn end_unread(&mut self, stream: u32) {
        if self.conn.is_open(stream) {
            self.conn.reset(stream, ErrorCode::NO_ERROR, &mut self.out);
        }
    }

    fn on_request(
        &mut self,
        id: u32,
        pseudo: h2wire::fields::RequestPseudo,
        end_stream: bool,
        cx: &mut Context<'_>,
    ) {
        let list = self.conn.headers();
        let bytes = list.bytes();
        let Some(parts) = request_parts(list, &pseudo, bytes) else {
            self.conn
                .reset(id, ErrorCode::PROTOCOL_ERROR, &mut self.out);
            return;
        };
        // h2wire let `:protocol` through only if we offered it (`websocket`).
        let extended_connect = pseudo.protocol.is_some();
        let mut tunnel_in = None;
        let (body, inbox) = if extended_connect {
            // The stream's DATA is for the tunnel, if one opens: kept here
            // (its window given back as the tunnel reads), not the proxy's.
            let inbox = Arc::new(Mutex::new(Inbox {
                conn: Some(cx.waker().clone()),
                ended: end_stream,
                ..Inbox::default()
            }));
            tunnel_in = Some(Inbound(inbox.clone()));
            (RequestBody::Empty, Some(inbox))
        } else if end_stream {
            (RequestBody::Empty, None)
        } else {
            let length = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let inbox = Arc::new(Mutex::new(Inbox {
                conn: Some(cx.waker().clone()),
                length,
                ..Inbox::default()
            }));
            (
                RequestBody::Stream {
                    inner: StreamIn::Ours(Inbound(inbox.clone())),
                    limit: None,
                    seen: 0,
                },
                Some(inbox),
            )
        };
        let service = self.service.clone();
        service.phase.busy();
        let busy = Busy(Some(service.phase.clone()));
        let abort = Arc::new(Cancel::default());
        let cancel = abort.clone();
        // One async block, boxed where it is made, the proxy's future pinned
        // inside it: that future is large, and wrapping it (`Abortable`)
        // before boxing cost a copy of all of it per request (~10,000
        // instructions of memcpy, counted).
        self.heads.push(Box::pin(async move {
            let work = service.handle(parts, body, false, Front::Http2Wire);
            let mut work = std::pin::pin!(work);
            let answered =
                std::future::poll_fn(|cx| poll_guarded(work.as_mut(), &cancel, cx)).await;
            if matches!(answered, Answered::Response(_)) {
                busy.handed_over();
            }
            (id, answered)
        }));
        self.slots.push(Slot {
            id,
            abort: Some(abort),
            body: None,
            pending: Bytes::new(),
            pending_end: false,
            inbox,
            tunnel_in,
        });
    }

    /// Stream `id`'s proxy work (or its response body) panicked: reset it,
    /// count it, go on with the others.
    fn panicked(&mut self, id: u32) {
        self.shared.metrics.http2_stream_panics.inc();
        tracing::error!(target: "bigstep::frontdoor", stream = id, "an HTTP/2 stream's proxy work panicked; the stream is reset, the connection goes on");
        self.conn
            .reset(id, ErrorCode::INTERNAL_ERROR, &mut self.out);
        self.remove(id);
    }

    /// The proxy answered stream `id`: send the head, keep the body.
    fn respond(&mut self, id: u32, resp: Response<ResponseBody>) {
        let Some(i) = self.slots.iter().position(|s| s.id == id) else {
            return;
        };
        self.slots[i].abort = None;
        let (parts, mut body) = resp.into_parts();
        let tunnel_in = self.slots[i].tunnel_in.take();
        // A WebSocket server switched protocols (`ws_h2::answer` made its
        // 101 our 200): the stream stays open for the tunnel.
        let handoff = parts
            .extensions
            .get::<TunnelHandoff>()
            .and_then(TunnelHandoff::take);
        let end = body.is_end_stream() && handoff.is_none();
        // The server's head as received, if its headers are not in the map
        // (the map then holds only what the proxy added).
        let raw = body.take_raw_head();
        let added = parts
            .headers
            .iter()
            .filter(|(n, _)| !connection_specific(n))
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
        let status = parts.status.as_u16();
        let sent = match &raw {
            None => self
                .conn
                .send_response(id, status, added, end, &mut self.out),
            Some(raw) => {
                // HTTP/2 names are lowercase (RFC 9113 §8.2.1): the server's,
                // lowercased here one after another, then taken back in the
                // same order (a name keeps its length).
                let names = &mut self.names;
                names.clear();
                for (name, _) in raw.kept_headers(&parts.headers) {
                    names.extend(name.iter().map(u8::to_ascii_lowercase));
                }
                let mut at = 0;
                let servers = raw.kept_headers(&parts.headers).map(|(name, value)| {
                    let lower = &names[at..at + name.len()];
                    at += name.len();
                    (lower, value)
                });
                self.conn
                    .send_response(id, status, servers.chain(added), end, &mut self.out)
            }
        };
        if let Some(raw) = raw {
            raw.give_back();
        }
        if let Some((upstream, idle)) = handoff {
            // Dropping the (empty) body logs the request; the connection
            // stays busy until the tunnel ends, as on hyper's engine.
            drop(body);
            let phase = self.service.phase.clone();
            match tunnel_in.filter(|_| sent) {
                Some(inbound) => {
                    let (io, out) = crate::h2_tunnel::stream(inbound);
                    self.slots[i].body = Some(Outgoing::Tunnel(out));
                    let opened = std::future::ready(Ok::<_, std::convert::Infallible>(io));
                    crate::ws_h2::spawn_tunnel(&self.shared, opened, upstream, idle, phase);
                }
                None => {
                    drop(upstream);
                    phase.idle();
                    self.finish(i);
                }
            }
            return;
        }
        if !sent || end {
            // Dropping the body finishes the request (logs, pools, counts).
            drop(body);
            self.finish(i);
            return;
        }
        self.slots[i].body = Some(Outgoing::Response(body));
    }

    /// The response on slot `i` is over (or abandoned).
    fn finish(&mut self, i: usize) {
        let id = self.slots[i].id;
        let mut unread = false;
        if let Some(inbox) = &self.slots[i].inbox {
            // What was received and not sent upstream is given back: the
            // exchange is over.
            let mut b = lock(inbox);
            let n = std::mem::take(&mut b.consumed)
                + b.chunks.drain(..).map(|c| c.len() as u32).sum::<u32>();
            unread = !b.ended;
            drop(b);
            if n > 0 {
                self.conn.release(id, n, &mut self.out);
            }
        }
        self.slots.swap_remove(i);
        if unread {
            self.end_unread(id);
        }
    }

    /// Move response bodies to the client as the send windows allow.
    /// True if any frame went out.
    fn pump_bodies(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.slots.len() {
            if self.slots[i].body.is_none() {
                i += 1;
                continue;
            }
            match self.pump(i, cx) {
                Pumped::Done => {
                    progress = true;
                    self.finish(i);
                }
                Pumped::Panicked => {
                    progress = true;
                    let id = self.slots[i].id;
                    self.panicked(id);
                }
                Pumped::Sent => {
                    progress = true;
                    i += 1;
                }
                Pumped::Waiting => i += 1,
            }
        }
        progress
    }

    fn pump(&mut self, i: usize, cx: &mut Context<'_>) -> Pumped {
        let mut sent = false;
        let slot = &mut self.slots[i];
        let id = slot.id;
        loop {
            if !slot.pending.is_empty() {
                let n = self
                    .conn
                    .send_data(id, &slot.pending, slot.pending_end, &mut self.out);
                if n > 0 {
                    sent = true;
                    slot.pending.advance(n);
                }
                if !slot.pending.is_empty() {
                    return if sent { Pumped::Sent } else { Pumped::Waiting };
                }
                if slot.pending_end {
                    return Pumped::Done;
                }
            }
            if self.out.len() >= self.high_water {
                return if sent { Pumped::Sent } else { Pumped::Waiting };
            }
            let Some(body) = slot.body.as_mut() else {
                return Pumped::Done;
            };
            let polled =
                std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(body).poll_frame(cx)));
            let Ok(polled) = polled else {
                return Pumped::Panicked;
            };
            match polled {
                Poll::Pending => return if sent { Pumped::Sent } else { Pumped::Waiting },
                Poll::Ready(None) => {
                    self.conn.send_data(id, &[], true, &mut self.out);
                    return Pumped::Done;
                }
                Poll::Ready(Some(Err(_))) => {
                    // A tunnel that timed out or was stopped is cancelled; a
                    // response body that failed is our error.
                    let code = match slot.body {
                        Some(Outgoing::Tunnel(_)) => ErrorCode::CANCEL,
                        _ => ErrorCode::INTERNAL_ERROR,
                    };
                    self.conn.reset(id, code, &mut self.out);
                    return Pumped::Done;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let end = slot.body.as_ref().is_some_and(Body::is_end_stream);
                        if data.is_empty() && !end {
                            continue;
                        }
                        if data.is_empty() {
                            self.conn.send_data(id, &[], true, &mut self.out);
                            return Pumped::Done;
                        }
                        slot.pending = data;
                        slot.pending_end = end;
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let fields = trailers
                                .iter()
                                .filter(|(n, _)| !connection_specific(n))
                                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                            self.conn.send_trailers(id, fields, &mut self.out);
                        } else {
                            self.conn.send_data(id, &[], true, &mut self.out);
                        }
                        return Pumped::Done;
                    }
                },
            }
        }
    }

    /// Give the client back the window of what the proxy sent upstream.
    fn release_consumed(&mut self) {
        for slot in &mut self.slots {
            let Some(inbox) = &slot.inbox else { continue };
            let mut b = lock(inbox);
            let mut n = std::mem::take(&mut b.consumed);
            if Arc::strong_count(inbox) == 1 {
                // The proxy let go of the body: what it left is released too.
                n += b.chunks.drain(..).map(|c| c.len() as u32).sum::<u32>();
            }
            drop(b);
            if n > 0 {
                self.conn.release(slot.id, n, &mut self.out);
            }
        }
    }
}

enum Pumped {
    /// The body is over (or failed): the stream is done on our side.
    Done,
    /// Frames went out; more may follow.
    Sent,
    /// Nothing to send now (no data, no window, or `out` is full).
    Waiting,
    /// Polling the body panicked.
    Panicked,
}

/// The regular fields of a decoded list from index `from`, as a map.
fn fields(list: &h2wire::hpack::HeaderList, from: usize) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(list.len().saturating_sub(from));
    for (name, value) in list.iter().skip(from) {
        let name = HeaderName::from_bytes(name).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        map.append(name, value);
    }
    Some(map)
}

/// A request head as the proxy takes it: an origin-form target, `Host` from
/// `:authority` (a different `Host` field is kept beside it, so the strict
/// checks refuse the pair as they refuse two Host fields).
///
/// The decoded block is copied once, into this thread's chunk, and the target
/// and every value are slices of that copy: no allocation per field, and the
/// clones the proxy makes later (the target for the log, `Host`) share it.
fn request_parts(
    list: &h2wire::hpack::HeaderList,
    pseudo: &h2wire::fields::RequestPseudo,
    bytes: &[u8],
) -> Option<http::request::Parts> {
    let method = Method::from_bytes(pseudo.method.get(bytes)).ok()?;
    let block = crate::scratch::small_bytes(bytes);
    let shared = |span: h2wire::Span| block.slice(span.range());
    let uri = match pseudo.path {
        Some(p) => Uri::from_maybe_shared(shared(p)).ok()?,
        // CONNECT: the authority is the target.
        None => Uri::from_maybe_shared(shared(pseudo.authority?)).ok()?,
    };
    let fields = list
        .fields()
        .get(pseudo.regular_start..)
        .unwrap_or_default();
    let mut headers = crate::scratch::header_map(fields.len() + crate::headers::ADDED_HEADERS);
    for f in fields {
        let name = HeaderName::from_bytes(f.name.get(bytes)).ok()?;
        let value = HeaderValue::from_maybe_shared(shared(f.value)).ok()?;
        headers.append(name, value);
    }
    if let Some(a) = pseudo.authority {
        let same = headers
            .get(http::header::HOST)
            .map(|h| h.as_bytes().eq_ignore_ascii_case(a.get(bytes)));
        if same != Some(true) {
            headers.append(
                http::header::HOST,
                HeaderValue::from_maybe_shared(shared(a)).ok()?,
            );
        }
    }
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = Version::HTTP_2;
    parts.headers = headers;
    if let Some(p) = pseudo.protocol {
        // An extended CONNECT is marked as hyper's engine marks it, so
        // `ws_h2::to_upgrade` reads both the same way.
        let p = String::from_utf8_lossy(p.get(bytes));
        parts.extensions.insert(hyper::ext::Protocol::from(&*p));
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_stream_s_work_stays_in_that_stream() {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let cancel = Cancel::default();
        let mut bad = std::pin::pin!(async {
            if cancel.cancelled.load(Ordering::Relaxed) {
                return 0u8;
            }
            panic!("a bug in one stream's proxy work")
        });
        // Contained: the driver resets this stream and goes on.
        assert!(matches!(
            poll_guarded(bad.as_mut(), &cancel, &mut cx),
            Poll::Ready(Answered::Panicked)
        ));
        // Another stream's work on the same connection is answered.
        let other = Cancel::default();
        let mut good = std::pin::pin!(async { 7u8 });
        assert!(matches!(
            poll_guarded(good.as_mut(), &other, &mut cx),
            Poll::Ready(Answered::Response(7))
        ));
        // A reset stream's work is not polled at all.
        let reset = Cancel::default();
        reset.cancelled.store(true, Ordering::Release);
        let mut never = std::pin::pin!(async { unreachable!("polled after a reset") });
        assert!(matches!(
            poll_guarded::<_>(never.as_mut(), &reset, &mut cx),
            Poll::Ready(Answered::<()>::Cancelled)
        ));
    }
}
