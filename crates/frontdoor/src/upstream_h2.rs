//! HTTP/2 to the servers whose entry says `protocol = "h2c"` (prior knowledge
//! over plain TCP) or `"h2"` (ALPN over TLS): what gRPC servers speak.
//!
//! Each such server has one shared, multiplexed connection ([`H2Conn`]),
//! opened by the first request that needs it (one dial however many requests
//! arrive at once) and opened again when it closes, fails or the server sends
//! GOAWAY. Unlike our HTTP/1 client (`origin`), the connection has a task of
//! its own (hyper's `client::conn::http2`): streams of many clients share it.
//!
//! Only this step differs by protocol: the proxy chooses the server, retries,
//! counts and logs as for HTTP/1. Bodies stream both ways frame by frame, so
//! trailers (gRPC's `grpc-status`) pass end to end to HTTP/2 clients; `te:
//! trailers` is passed on when the client sent it; every other
//! connection-specific header is gone before the request gets here (RFC 9113
//! §8.2.2; `headers::strip_hop_by_hop`), and `Host` becomes `:authority`.
//!
//! Failures and what they allow: a dial that fails hands the request back
//! untouched (any method may go elsewhere); a connection found closed before
//! the request left is dialed again once; `REFUSED_STREAM`, or a graceful
//! `GOAWAY` that left the stream out, means the server did not process it
//! (RFC 9113 §8.7) — [`ErrorKind::UpstreamRefused`], retried elsewhere when the
//! proxy can replay the request; anything else before the response head is
//! `UpstreamClosed` (idempotent body-less requests only). A server that dies
//! mid-body ends the client's stream with an error (a reset, for HTTP/2
//! clients): never a hang, never a clean end.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::body::{BoxError, RequestBody};
use crate::error::{ErrorKind, ProxyError};
use crate::upstream_body::UpstreamBody;
use crate::upstream_tls::{dial, UpstreamTls};

/// The request was marked by the proxy: the client sent `te: trailers`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TeTrailers;

/// Pings while streams are open, so a server that vanished without a FIN
/// (a crashed host) fails its streams instead of holding them.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames of an HTTP/1 client's body in flight to the connection's task.
const PIPE_FRAMES: usize = 4;
/// How long to wait for hyper to hand back a body it did not read.
const HAND_BACK: Duration = Duration::from_millis(500);

// === H2Conn: one server's shared connection ===

/// One server's HTTP/2 connection, while it is open.
pub(crate) struct H2Conn {
    open: Mutex<Option<Open>>,
    /// Held while dialing: requests that find no connection wait for one dial.
    dialing: tokio::sync::Mutex<()>,
}

struct Open {
    sender: SendRequest<Outgoing>,
    /// Tells this connection from the one that replaces it.
    generation: u64,
    last_used: Instant,
}

/// A request handle and the connection generation it belongs to.
struct Handle {
    sender: SendRequest<Outgoing>,
    generation: u64,
}

impl H2Conn {
    pub(crate) fn new() -> Self {
        H2Conn {
            open: Mutex::new(None),
            dialing: tokio::sync::Mutex::new(()),
        }
    }

    /// The open connection, if it has not closed.
    fn current(&self) -> Option<Handle> {
        let mut open = self.open.lock().expect("h2 lock");
        match open.as_mut() {
            Some(o) if !o.sender.is_closed() => {
                o.last_used = Instant::now();
                Some(Handle {
                    sender: o.sender.clone(),
                    generation: o.generation,
                })
            }
            Some(_) => {
                *open = None;
                None
            }
            None => None,
        }
    }

    /// The open connection, or a new one.
    async fn get(
        &self,
        address: &str,
        tls: Option<&UpstreamTls>,
        timeout: Duration,
    ) -> Result<Handle, ProxyError> {
        if let Some(h) = self.current() {
            return Ok(h);
        }
        let _dialing = self.dialing.lock().await;
        // Another request may have dialed while this one waited.
        if let Some(h) = self.current() {
            return Ok(h);
        }
        let sender = connect(address, tls, timeout).await?;
        let mut open = self.open.lock().expect("h2 lock");
        let generation = open.as_ref().map_or(0, |o| o.generation + 1);
        *open = Some(Open {
            sender: sender.clone(),
            generation,
            last_used: Instant::now(),
        });
        Ok(Handle { sender, generation })
    }

    /// Stop using connection `generation` (it got GOAWAY or failed): the next
    /// request dials. Streams still open on it finish on their own.
    fn retire(&self, generation: u64) {
        let mut open = self.open.lock().expect("h2 lock");
        if open.as_ref().is_some_and(|o| o.generation == generation) {
            *open = None;
        }
    }

    /// Let go of the connection (the server was ejected or went down).
    pub(crate) fn clear(&self) {
        *self.open.lock().expect("h2 lock") = None;
    }

    /// Let go of a connection no request used for `idle` (called periodically).
    pub(crate) fn evict_idle(&self, idle: Duration) {
        let mut open = self.open.lock().expect("h2 lock");
        if open
            .as_ref()
            .is_some_and(|o| o.last_used.elapsed() >= idle || o.sender.is_closed())
        {
            *open = None;
        }
    }
}

/// Dial `address` and start HTTP/2 on it, within `timeout`. Over TLS the
/// server must choose `h2` by ALPN.
async fn connect(
    address: &str,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
) -> Result<SendRequest<Outgoing>, ProxyError> {
    let open = async {
        let stream = dial(address, tls).await?;
        if tls.is_some() && !stream.negotiated_h2() {
            return Err(format!(
                "{address}: the server did not choose HTTP/2 (ALPN h2) in the TLS handshake"
            ));
        }
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
        let (sender, conn) = builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{address}: HTTP/2 handshake: {e}"))?;
        let address = address.to_string();
        // Runs until the server closes it, or every handle is gone and its
        // last stream ended.
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(target: "bigstep::proxy", server = %address, error = %e, "HTTP/2 connection to the server ended");
            }
        });
        Ok(sender)
    };
    match tokio::time::timeout(timeout, open).await {
        Err(_) => Err(ProxyError::with_detail(
            ErrorKind::ConnectTimeout,
            address.to_string(),
        )),
        Ok(Err(e)) => Err(ProxyError::with_detail(ErrorKind::ConnectFailed, e)),
        Ok(Ok(s)) => Ok(s),
    }
}

// === One exchange ===

/// What the proxy gets back when an exchange fails: the error, and the request
/// when nothing of it left (it may go to another server).
pub(crate) type Failed<'a> = (ProxyError, Option<(Parts, RequestBody<'a>)>);

/// Where the server is and how to reach it.
pub(crate) struct Target<'s> {
    pub(crate) conn: &'s H2Conn,
    pub(crate) address: &'s str,
    pub(crate) tls: Option<&'s UpstreamTls>,
    pub(crate) connect_timeout: Duration,
    /// The response head must arrive by then (else 504).
    pub(crate) deadline: Instant,
}

/// Send one request as a stream on the server's shared connection and wait
/// for the response head.
pub(crate) async fn exchange<'a>(
    to: Target<'_>,
    parts: Parts,
    body: RequestBody<'a>,
) -> Result<Response<UpstreamBody>, Failed<'a>> {
    let handle = match to.conn.get(to.address, to.tls, to.connect_timeout).await {
        Ok(h) => h,
        Err(e) => return Err((e, Some((parts, body)))),
    };
    let client_fault = Arc::new(Mutex::new(None));
    // An HTTP/2 client's body is hyper's own and can go to the connection's
    // task as it is; an HTTP/1 client's is read off its connection by this
    // task, so it goes through a pipe fed while the head is awaited.
    let (outgoing, piped) = match body {
        RequestBody::Empty => (
            Outgoing::new(Source::Direct(RequestBody::Empty), &client_fault),
            None,
        ),
        RequestBody::Stream { inner, limit, seen } => (
            Outgoing::new(
                Source::Direct(RequestBody::Stream { inner, limit, seen }),
                &client_fault,
            ),
            None,
        ),
        client @ RequestBody::Client { .. } => {
            let (tx, rx) = mpsc::channel(PIPE_FRAMES);
            (
                Outgoing::new(Source::Piped(rx), &client_fault),
                Some((client, tx)),
            )
        }
    };
    let parts = to_http2(parts, to.tls.is_some(), to.address);
    // Kept to send the request again should it meet a GOAWAY the connection
    // got before the request left (its body comes back unread, see `Outgoing`).
    let spare = Spare {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
    };
    let req = Request::from_parts(parts, outgoing);
    let send = send(
        to.conn,
        to.address,
        to.tls,
        to.connect_timeout,
        handle,
        req,
        spare,
    );
    let sent = tokio::time::timeout_at(to.deadline, async {
        match piped {
            None => send.await,
            Some((client, tx)) => {
                let pump = pump(client, tx, client_fault.clone());
                tokio::pin!(send, pump);
                let mut pumped = false;
                loop {
                    tokio::select! {
                        biased;
                        r = &mut send => break r,
                        () = &mut pump, if !pumped => pumped = true,
                    }
                }
                // A head before the whole body: the rest is not sent (the
                // pipe ends in an error, so the server sees a reset, not a
                // short body), and the client connection closes after the
                // response, as with an HTTP/1 server that answers early.
            }
        }
    })
    .await;
    let fault = client_fault.lock().expect("fault lock").take();
    match sent {
        Err(_elapsed) => Err((ProxyError::new(ErrorKind::UpstreamTimeout), None)),
        Ok(Ok(resp)) => Ok(resp.map(UpstreamBody::http2)),
        // The client's body failed or was too long: its fault, whatever the
        // stream's reset looked like.
        Ok(Err(_)) if fault.is_some() => Err((fault.expect("checked"), None)),
        Ok(Err(e)) => Err((e, None)),
    }
}

/// A request's head, kept to send it again.
struct Spare {
    method: http::Method,
    uri: Uri,
    headers: http::HeaderMap,
}

impl Spare {
    fn request(&self, body: Outgoing) -> Request<Outgoing> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        *req.version_mut() = http::Version::HTTP_2;
        req
    }
}

/// Send on `handle`. When its connection closed before the request left, or
/// the server's GOAWAY turned it away before its body was read, dial once
/// more and send it there: a server restarting gracefully costs no request.
async fn send(
    conn: &H2Conn,
    address: &str,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
    mut handle: Handle,
    mut req: Request<Outgoing>,
    spare: Spare,
) -> Result<Response<hyper::body::Incoming>, ProxyError> {
    let mut redialed = false;
    loop {
        let (back, unread) = tokio::sync::oneshot::channel();
        req.body_mut().back = Some(back);
        let mut e = match handle.sender.try_send_request(req).await {
            Ok(resp) => return Ok(resp),
            Err(e) => e,
        };
        if let (Some(back), false) = (e.take_message(), redialed) {
            conn.retire(handle.generation);
            handle = conn.get(address, tls, timeout).await?;
            req = back;
            redialed = true;
            continue;
        }
        let (err, going_away) = classify(e.into_error());
        // After GOAWAY the connection takes no new stream: the next request
        // dials. A connection that failed is found closed by the next
        // request; a refused or reset stream leaves it usable.
        if going_away {
            conn.retire(handle.generation);
        }
        if !(going_away && !redialed && err.kind == ErrorKind::UpstreamRefused) {
            return Err(err);
        }
        // hyper drops a request it could not open a stream for just after
        // saying so; a body it started reading does not come back.
        let body = match tokio::time::timeout(HAND_BACK, unread).await {
            Ok(Ok(body)) => body,
            _ => return Err(err),
        };
        handle = conn.get(address, tls, timeout).await?;
        req = spare.request(body);
        redialed = true;
    }
}

/// What a failed stream means for the proxy, and whether the server is going
/// away (GOAWAY) from this connection.
fn classify(e: hyper::Error) -> (ProxyError, bool) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            if h2.is_remote() && h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM) {
                let e = ProxyError::with_detail(
                    ErrorKind::UpstreamRefused,
                    "the server refused the stream (REFUSED_STREAM)",
                );
                return (e, false);
            }
            // A graceful GOAWAY fails only the streams it left out, and those
            // sent after it: none was processed. One with an error code may
            // also fail streams the server was working on: not safe to resend.
            if h2.is_remote() && h2.is_go_away() {
                let e = if h2.reason() == Some(h2::Reason::NO_ERROR) {
                    ProxyError::with_detail(
                        ErrorKind::UpstreamRefused,
                        "the server is going away (GOAWAY) and did not process the stream",
                    )
                } else {
                    ProxyError::with_detail(ErrorKind::UpstreamClosed, format!("HTTP/2: {e}"))
                };
                return (e, true);
            }
            break;
        }
        source = s.source();
    }
    let e = ProxyError::with_detail(ErrorKind::UpstreamClosed, format!("HTTP/2: {e}"));
    (e, false)
}

/// The request as an HTTP/2 server takes it: an absolute URI (its scheme
/// and authority become `:scheme` and `:authority`; `Host` is dropped, RFC
/// 9113 §8.3.1), `te: trailers` when the client accepts trailers, and no
/// connection-specific field (§8.2.2).
fn to_http2(mut parts: Parts, tls: bool, address: &str) -> Parts {
    let host = parts.headers.remove(header::HOST);
    let authority = host
        .as_ref()
        .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok())
        .or_else(|| http::uri::Authority::try_from(address).ok());
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(if tls {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    });
    uri.authority = authority;
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    if let Ok(u) = Uri::from_parts(uri) {
        parts.uri = u;
    }
    // An HTTP/1 client's upgrade request keeps these for an HTTP/1 server;
    // HTTP/2 has no such thing (and hyper would drop them with a warning).
    parts.headers.remove(header::CONNECTION);
    parts.headers.remove(header::UPGRADE);
    if parts.extensions.remove::<TeTrailers>().is_some() {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    parts.version = http::Version::HTTP_2;
    parts
}

/// Feed an HTTP/1 client's body into the pipe. The pipe ends cleanly only
/// when the body did.
async fn pump(
    mut body: RequestBody<'_>,
    tx: mpsc::Sender<Piece>,
    fault: Arc<Mutex<Option<ProxyError>>>,
) {
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if tx.send(Piece::Frame(f)).await.is_err() {
                    return; // the stream is gone
                }
            }
            Err(e) => {
                *fault.lock().expect("fault lock") = Some(client_error(&e));
                let _ = tx.send(Piece::Failed).await;
                return;
            }
        }
    }
    let _ = tx.send(Piece::End).await;
}

// === Outgoing: the request body on its way to the connection's task ===

enum Piece {
    Frame(Frame<Bytes>),
    End,
    Failed,
}

enum Source {
    /// Nothing, or an HTTP/2 client's body (hyper's own, with the body limit):
    /// it can go to the connection's task as it is.
    Direct(RequestBody<'static>),
    /// An HTTP/1 client's body, through [`pump`].
    Piped(mpsc::Receiver<Piece>),
}

/// The request body as the connection's task sends it. A failure of the
/// client's side is noted, so the proxy can tell it from the server's; a body
/// dropped before it was read at all goes back through `back`, so the request
/// can be sent again whole.
pub(crate) struct Outgoing {
    source: Option<Source>,
    ended: bool,
    read: bool,
    client_fault: Arc<Mutex<Option<ProxyError>>>,
    back: Option<tokio::sync::oneshot::Sender<Outgoing>>,
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        if self.read {
            return;
        }
        if let (Some(back), Some(source)) = (self.back.take(), self.source.take()) {
            let _ = back.send(Outgoing {
                source: Some(source),
                ended: self.ended,
                read: false,
                client_fault: self.client_fault.clone(),
                back: None,
            });
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the client's request body ended early")]
struct CutShort;

/// A client body failure as the proxy reports it (413 past the limit).
fn client_error(e: &BoxError) -> ProxyError {
    if e.is::<crate::body::BodyTooLarge>() {
        ProxyError::new(ErrorKind::BodyTooLarge)
    } else {
        ProxyError::with_detail(ErrorKind::ClientBodyFailed, e.to_string())
    }
}

impl Outgoing {
    fn new(source: Source, fault: &Arc<Mutex<Option<ProxyError>>>) -> Self {
        Outgoing {
            ended: matches!(source, Source::Direct(RequestBody::Empty)),
            source: Some(source),
            read: false,
            client_fault: fault.clone(),
            back: None,
        }
    }
}

impl Body for Outgoing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        this.read = true;
        if this.ended {
            return Poll::Ready(None);
        }
        let Some(source) = this.source.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = match source {
            Source::Direct(body) => {
                let polled = Pin::new(body).poll_frame(cx);
                if let Poll::Ready(Some(Err(e))) = &polled {
                    *this.client_fault.lock().expect("fault lock") = Some(client_error(e));
                }
                polled
            }
            Source::Piped(rx) => match std::task::ready!(rx.poll_recv(cx)) {
                Some(Piece::Frame(f)) => Poll::Ready(Some(Ok(f))),
                Some(Piece::End) => Poll::Ready(None),
                Some(Piece::Failed) | None => {
                    Poll::Ready(Some(Err(Box::new(CutShort) as BoxError)))
                }
            },
        };
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || matches!(&self.source, Some(Source::Direct(b)) if b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Some(Source::Direct(b)) => b.size_hint(),
            Some(Source::Piped(_)) | None => SizeHint::default(),
        }
    }
}
