//! The HTTP side: CORS and anonymous read, on the `service` skeleton's accept
//! loop (backoff, a connection cap answered with S3's `SlowDown`) and shutdown
//! (stop accepting, requests in flight finish within the grace, the rest cut).
//!
//! Every request goes through [`handle`]: a browser's CORS preflight (`OPTIONS`) is
//! answered here from the bucket's CORS rules (s3s has no notion of it); everything
//! else goes to the `s3s` service, and responses to requests that carry an `Origin`
//! get the matching CORS headers added.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::path::S3Path;
use s3s::service::S3ServiceBuilder;
use s3s::{s3_error, Body, S3Result};
use tokio::net::TcpListener;

use crate::app::{App, FastPath};
use crate::config::FilesConfig;
use crate::conn::Handoff;
use crate::metrics::{Metrics, OperationLabels, RequestLabels, UNIDENTIFIED};
use crate::s3::{unquote_etag, Backend, UnquotedETag};
use crate::sigv4::Verifier;
use crate::store::{CorsRule, Store, StoreError};
use crate::vhost;

/// Failure to start or run the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be opened.
    #[error("cannot use data directory {dir}")]
    DataDir {
        /// The directory.
        dir: String,
        /// Why.
        source: StoreError,
    },
    /// Accepting connections failed.
    #[error("accept failed")]
    Accept(#[from] std::io::Error),
    /// The base domain for virtual-host-style addressing is not a domain name.
    #[error("bad base domain: {0}")]
    Domain(String),
}

/// The one key pair requests are signed with. An unknown access key is S3's
/// `InvalidAccessKeyId` (s3s's `SimpleAuth` answers `NotSignedUp`, which SDKs
/// and tools do not recognise as a credentials problem).
struct Auth {
    access_key: String,
    secret_key: SecretKey,
}

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(self.secret_key.clone())
        } else {
            Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ))
        }
    }
}

/// Lets signed requests through, and anonymous reads of objects in public buckets.
struct Access {
    public: HashSet<String>,
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // s3s calls this for every request it resolved to an operation, signed
        // or not: the one place the operation's name can be had for the metrics.
        let operation = cx.s3_op().name().to_owned();
        if let Some(progress) = cx.extensions_mut().get::<Arc<Progress>>() {
            let _ = progress.operation.set(operation);
        }
        if cx.credentials().is_some() {
            return Ok(());
        }
        let read = matches!(cx.s3_op().name(), "GetObject" | "HeadObject");
        if let S3Path::Object { bucket, .. } = cx.s3_path() {
            if read && self.public.contains(bucket.as_ref()) {
                return Ok(());
            }
        }
        Err(s3_error!(AccessDenied, "Signature is required"))
    }
}

/// What the general path learns about a request while s3s has it.
#[derive(Default)]
struct Progress {
    /// Set once the body has been read to its end (or had none).
    ended: AtomicBool,
    /// Body bytes read so far.
    received: AtomicU64,
    /// The operation s3s resolved (set by [`Access::check`]).
    operation: OnceLock<String>,
}

/// A request body that fails if the client sends nothing for `idle`: a stalled
/// upload must not hold a connection (and a temp file) forever. This covers every
/// body, including the XML ones s3s reads whole.
struct IdleBody {
    inner: Incoming,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    idle: std::time::Duration,
    progress: Arc<Progress>,
}

impl IdleBody {
    fn new(inner: Incoming, idle: std::time::Duration, progress: Arc<Progress>) -> IdleBody {
        progress
            .ended
            .store(http_body::Body::is_end_stream(&inner), Relaxed);
        IdleBody {
            inner,
            sleep: Box::pin(tokio::time::sleep(idle)),
            idle,
            progress,
        }
    }
}

impl http_body::Body for IdleBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + this.idle;
                this.sleep.as_mut().reset(deadline);
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(|f| f.data_ref())) {
                    let n = data.map_or(0, |d| d.len() as u64);
                    this.progress.received.fetch_add(n, Relaxed);
                }
                if frame.is_none() || this.inner.is_end_stream() {
                    this.progress.ended.store(true, Relaxed);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(crate::store::BODY_IDLE.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A files server whose data directory is open and checked, ready to serve.
pub struct FilesServer {
    pub(crate) app: App,
    pub(crate) lifecycle_day: std::time::Duration,
    pub(crate) max_connections: usize,
    pub(crate) grace: std::time::Duration,
}

/// What a client over the connection cap gets: S3's `SlowDown`, which SDKs
/// retry with backoff.
pub(crate) fn slow_down() -> service::Reject {
    const BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
<Message>Please reduce your request rate: the server is handling too many connections.</Message></Error>";
    service::Reject::reply(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\n\
content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    ))
}

impl FilesServer {
    /// Opens the data directory (creating it, checking it is writable, cleaning up
    /// after a crash) and builds the S3 service. Call this before announcing the
    /// server, so a bad directory fails start-up with a clear error. Metrics go
    /// to a registry of its own.
    pub async fn open(config: FilesConfig) -> Result<FilesServer, ServeError> {
        FilesServer::open_with(config, &service::Metrics::new()).await
    }

    /// [`FilesServer::open`], registering metrics in the process's `metrics`.
    pub async fn open_with(
        config: FilesConfig,
        metrics: &service::Metrics,
    ) -> Result<FilesServer, ServeError> {
        let domain = config
            .domain
            .as_deref()
            .map(vhost::normalise_domain)
            .transpose()
            .map_err(ServeError::Domain)?;
        let dir = config.dir.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .map_err(|e| ServeError::Accept(std::io::Error::other(e)))?
            .map_err(|source| ServeError::DataDir {
                dir: config.dir.display().to_string(),
                source,
            })?;
        let backend = Backend {
            store: store.clone(),
            max_object_size: config.max_object_size,
            max_part_size: config.max_part_size,
            idle_timeout: config.idle_timeout,
            region: config.region.clone(),
        };
        let mut builder = S3ServiceBuilder::new(backend);
        // An auth provider is always set: without one s3s would accept anything.
        builder.set_auth(Auth {
            access_key: config.access_key.clone(),
            secret_key: config.secret_key.clone().into(),
        });
        builder.set_access(Access {
            public: config.public_buckets.iter().cloned().collect(),
        });
        let mut s3config = S3Config::default();
        s3config.presigned_url_max_skew_time_secs = 900;
        builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(s3config))));
        if let Some(d) = &domain {
            builder.set_host(vhost::BaseDomain::new(d.clone()));
        }
        let metrics = Arc::new(Metrics::new(metrics));
        let public: HashSet<String> = config.public_buckets.iter().cloned().collect();
        let verifier = Verifier::new(&config.access_key, &config.secret_key);
        let fast = Arc::new(FastPath::new(public, verifier, &metrics));
        Ok(FilesServer {
            app: App {
                s3: builder.build(),
                store,
                metrics,
                idle_timeout: config.idle_timeout,
                domain: domain.map(Arc::from),
                region: Arc::from(config.region.as_str()),
                fast,
            },
            lifecycle_day: config.lifecycle_day,
            max_connections: config.max_connections,
            grace: config.shutdown_grace,
        })
    }

    /// Creates `bucket` unless it exists: for embedders (`bigstep up`) that want
    /// a bucket ready before the first client arrives.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        match self.app.store.create_bucket(bucket).await {
            Ok(()) | Err(StoreError::BucketExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting and
    /// gives requests in flight the configured grace before cutting them.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        self.serve_on(service::Listener::new(listener), shutdown)
            .await
    }

    /// [`FilesServer::serve`] on a listener bound by `service::bind`.
    pub async fn serve_on(
        self,
        listener: service::Listener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let FilesServer {
            app,
            lifecycle_day,
            max_connections,
            grace,
        } = self;
        let sweeper = tokio::spawn(sweep_forever(app.clone(), lifecycle_day));
        let server = service::Server {
            listener,
            limit: service::Limit::new(max_connections),
            reject: slow_down(),
            shutdown: service::Shutdown::new("files"),
        };
        let sd = server.shutdown.clone();
        server
            .accept_until(shutdown, |stream, peer, drain| {
                serve_connection(app.clone(), stream, peer, drain)
            })
            .await;
        sweeper.abort();
        sd.finish(grace).await;
        Ok(())
    }
}

/// Serves one accepted connection to its end.
pub(crate) async fn serve_connection(
    app: App,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    drain: service::shutdown::Drain,
) {
    let _ = stream.set_nodelay(true);
    // The read fast path answers what it can and hands the rest to hyper and
    // s3s: one request at a time when it can frame them, so the connection
    // comes back to it.
    let mut conn = crate::conn::Conn::new(&app, stream);
    loop {
        match crate::conn::serve(&app, conn, peer, &drain).await {
            Handoff::Closed => return,
            Handoff::One(one) => match serve_one(&app, one, peer).await {
                Some(back) => conn = back,
                None => return,
            },
            Handoff::Life(io) => {
                serve_general(app, io, peer, drain).await;
                return;
            }
        }
    }
}

/// Applies the buckets' lifecycle rules, 24 times a "day" (hourly; more often
/// only with a shortened test day), until the server stops.
pub(crate) async fn sweep_forever(app: App, day: std::time::Duration) {
    let every = (day / 24).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(3600),
    );
    let day_ms = i64::try_from(day.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
        match app.store.sweep(now_ms, day_ms).await {
            Ok((0, 0)) => {}
            Ok((objects, uploads)) => {
                app.metrics.expired.inc_by(objects as u64);
                tracing::info!(
                    objects,
                    uploads,
                    "lifecycle: expired objects and aborted uploads"
                );
            }
            Err(e) => tracing::warn!(error = %e, "lifecycle sweep failed; will try again"),
        }
    }
}

/// Serves one request with hyper and s3s, then gives the connection back for
/// the fast path (`None`: it is closed, or hyper ended it early).
async fn serve_one(
    app: &App,
    one: Box<crate::conn::OneRequest>,
    peer: std::net::SocketAddr,
) -> Option<crate::conn::Conn> {
    let app = app.clone();
    let idle_timeout = app.idle_timeout;
    // Boxed, so the connection is `Unpin` and can be taken apart afterwards.
    let service = service_fn(move |req| {
        let app = app.clone();
        Box::pin(async move { Ok::<_, Infallible>(handle(app, req).await) })
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .keep_alive(true)
        // The end of input after the request is ours, not the client's: a
        // request in progress must still get its answer.
        .half_close(true)
        .serve_connection(TokioIo::new(one), service);
    // A drain needs nothing here: the exchange ends after this one answer,
    // and the fast path closes the connection if the server is draining.
    match conn.without_shutdown().await {
        Ok(parts) => parts.io.into_inner().finish(&parts.read_buf),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
            None
        }
    }
}

/// Serves a connection with hyper and s3s to its end: a request the fast path
/// could not frame, and whatever follows it.
pub(crate) async fn serve_general(
    app: App,
    io: crate::conn::Prefixed,
    peer: std::net::SocketAddr,
    drain: service::shutdown::Drain,
) {
    let idle_timeout = app.idle_timeout;
    let service = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle(app, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    // On drain: idle keep-alive connections close now, a request
    // in progress gets its response first.
    if let Err(e) = service::http::serve_until_drained(conn, drain).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Runs the files server on `listener` until `shutdown` resolves: [`FilesServer::open`]
/// then [`FilesServer::serve`].
pub async fn serve(
    listener: TcpListener,
    config: FilesConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    FilesServer::open(config)
        .await?
        .serve(listener, shutdown)
        .await
}

async fn handle(app: App, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() == "/-/metrics" && req.method() == Method::GET {
        let mut r = Response::new(Body::from(app.metrics.render()));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        return r;
    }
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let metrics = &app.metrics;
    metrics.in_flight.inc();
    let progress = Arc::new(Progress::default());
    let resp = handle_s3(&app, req, &progress).await;
    metrics.in_flight.dec();
    metrics.duration.observe(started.elapsed().as_secs_f64());
    let operation: std::borrow::Cow<'static, str> = match progress.operation.get() {
        Some(op) => op.clone().into(),
        None => UNIDENTIFIED.into(),
    };
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            status: resp.status().as_u16(),
            operation: operation.clone(),
        })
        .inc();
    let bytes = OperationLabels { operation };
    metrics
        .received_bytes
        .get_or_create(&bytes)
        .inc_by(progress.received.load(Relaxed));
    let sent = metrics.sent_bytes.get_or_create(&bytes).clone();
    resp.map(|body| Body::http_body(Counted { inner: body, sent }))
}

/// A response body that counts its bytes as they are handed to hyper.
struct Counted {
    inner: Body,
    sent: prometheus_client::metrics::counter::Counter,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &frame {
            if let Some(data) = f.data_ref() {
                this.sent.inc_by(data.len() as u64);
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn handle_s3(app: &App, req: Request<Incoming>, progress: &Arc<Progress>) -> Response<Body> {
    let origin = req.headers().get(http::header::ORIGIN).cloned();
    let bucket = request_bucket(app.domain.as_deref(), &req);
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return preflight(app, bucket.as_deref(), origin.as_ref(), req.headers()).await;
    }
    if let Some(region) = unreadable_region(&req) {
        return wrong_region(&region, &app.region);
    }
    let idle = app.idle_timeout;
    let mut req = req.map(|b| Body::http_body(IdleBody::new(b, idle, progress.clone())));
    req.extensions_mut().insert(progress.clone());
    let resp = match app.s3.call(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = ?e, "request failed");
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    };
    let resp = if resp.status() == StatusCode::NOT_MODIFIED {
        // s3s answers 304 as an error, with an XML content type; a 304 has no body.
        let (mut parts, _) = resp.into_parts();
        parts.headers.remove(http::header::CONTENT_TYPE);
        Response::from_parts(parts, Body::empty())
    } else {
        resp
    };
    let resp = with_error_message(resp);
    let resp = unquoted_etag(resp);
    let mut resp = add_cors(app, bucket.as_deref(), origin.as_ref(), &method, resp).await;
    if !progress.ended.load(Relaxed) {
        // Answered before the whole body was read (a refusal, often before an
        // `Expect: 100-continue` client sent any of it): what follows on the
        // connection cannot be framed, so it closes, and the client is told so
        // rather than finding out by writing its next request into a closed socket.
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// GetObjectAttributes' body with its ETag unquoted, as S3 sends it (the
/// operation marks its response with [`UnquotedETag`]); any other response is
/// left be.
fn unquoted_etag(resp: Response<Body>) -> Response<Body> {
    if resp.extensions().get::<UnquotedETag>().is_none() {
        return resp;
    }
    let Some(out) = resp.body().bytes().and_then(|b| unquote_etag(&b)) else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    // hyper sets it from the new body.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes::Bytes::from(out)))
}

/// The region a SigV4 request signed for (`Authorization` header or presigned
/// `X-Amz-Credential`), when it is not one s3s can read (`[a-z0-9-]+`): s3cmd
/// signs for `US` by default. s3s would answer InvalidRequest, which clients
/// cannot act on; S3 answers AuthorizationHeaderMalformed naming the region
/// it expects, and s3cmd retries there.
fn unreadable_region<B>(req: &Request<B>) -> Option<String> {
    let from_header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("AWS4-HMAC-SHA256"))
        .and_then(|v| v.split_once("Credential="))
        .map(|(_, rest)| rest.split([',', ' ']).next().unwrap_or(""));
    let credential = from_header.or_else(|| {
        req.uri()
            .query()?
            .split('&')
            .find_map(|kv| kv.strip_prefix("X-Amz-Credential="))
    })?;
    let region = crate::sigv4::scope_region(credential)?;
    let readable = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (!readable).then(|| region.to_owned())
}

/// S3's answer to a request signed for the wrong region.
fn wrong_region(got: &str, expected: &str) -> Response<Body> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\'', "&apos;")
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationHeaderMalformed</Code>\
         <Message>The authorization header is malformed; the region &apos;{}&apos; is wrong; \
         expecting &apos;{}&apos;</Message><Region>{}</Region></Error>",
        esc(got),
        esc(expected),
        esc(expected)
    );
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// S3's message for an error code s3s answers with none (its request parsing
/// and signature checks). S3 always sends one, and clients show it: without
/// it aws-cli says "An error occurred (SignatureDoesNotMatch) ...: Unknown".
fn s3_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method."
        }
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "KeyTooLongError" => "Your key is too long",
        "AccessDenied" => "Access Denied",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "InvalidRange" => "The requested range is not satisfiable",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        _ => return None,
    })
}

/// Adds S3's `<Message>` to an error body s3s wrote without one (its error
/// XML is one line, `<Error><Code>X</Code></Error>`; any other body is left be).
fn with_error_message(resp: Response<Body>) -> Response<Body> {
    const OPEN: &[u8] = b"<Error><Code>";
    const CLOSE: &[u8] = b"</Code></Error>";
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let Some(body) = resp.body().bytes() else {
        return resp;
    };
    let Some(start) = body.windows(OPEN.len()).position(|w| w == OPEN) else {
        return resp;
    };
    let rest = &body[start + OPEN.len()..];
    if !rest.ends_with(CLOSE) {
        return resp;
    }
    let code = &rest[..rest.len() - CLOSE.len()];
    let Some(msg) = std::str::from_utf8(code).ok().and_then(s3_message) else {
        return resp;
    };
    let mut out = Vec::with_capacity(body.len() + msg.len() + 20);
    out.extend_from_slice(&body[..start + OPEN.len()]);
    out.extend_from_slice(code);
    out.extend_from_slice(b"</Code><Message>");
    out.extend_from_slice(msg.as_bytes());
    out.extend_from_slice(b"</Message></Error>");
    let (mut parts, _) = resp.into_parts();
    // hyper sets it from the new body.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes::Bytes::from(out)))
}

/// The bucket a request addresses (for CORS rules): from the `Host` under the base
/// domain, else the first path segment.
fn request_bucket<B>(domain: Option<&str>, req: &Request<B>) -> Option<String> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    match domain
        .zip(host)
        .and_then(|(d, h)| vhost::bucket_in_host(d, h))
    {
        Some(b) => Some(b.to_ascii_lowercase()),
        None => first_segment(req.uri().path()),
    }
}

fn first_segment(path: &str) -> Option<String> {
    let seg = path.trim_start_matches('/').split('/').next()?;
    (!seg.is_empty()).then(|| seg.to_owned())
}

/// Matches `*`-wildcard patterns, as S3 does for origins and headers (one `*` at most).
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len()
                && value[..pre.len()].eq_ignore_ascii_case(pre)
                && value[value.len() - post.len()..].eq_ignore_ascii_case(post)
        }
    }
}

fn matching_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin))
            && r.allowed_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard(a, h.trim())))
    })
}

async fn rules_for(app: &App, bucket: Option<&str>) -> Option<Vec<CorsRule>> {
    app.store.bucket(bucket?).await.ok()?.cors
}

async fn preflight(
    app: &App,
    bucket: Option<&str>,
    origin: Option<&HeaderValue>,
    h: &HeaderMap,
) -> Response<Body> {
    let forbidden = || {
        let mut r = Response::new(Body::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessForbidden</Code><Message>CORSResponse: This CORS request is not allowed.</Message></Error>".to_owned(),
        ));
        *r.status_mut() = StatusCode::FORBIDDEN;
        r
    };
    let (Some(origin), Some(method)) = (
        origin.and_then(|o| o.to_str().ok()),
        h.get(http::header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok()),
    ) else {
        return forbidden();
    };
    let req_headers: Vec<&str> = h
        .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let Some(rules) = rules_for(app, bucket).await else {
        return forbidden();
    };
    let Some(rule) = matching_rule(&rules, origin, method, &req_headers) else {
        return forbidden();
    };
    let mut r = Response::new(Body::empty());
    let hm = r.headers_mut();
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    let set = |hm: &mut HeaderMap, name: http::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            hm.insert(name, v);
        }
    };
    set(
        hm,
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        if any_origin { "*" } else { origin },
    );
    set(
        hm,
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        &rule.allowed_methods.join(", "),
    );
    if !req_headers.is_empty() {
        set(
            hm,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            &req_headers.join(", "),
        );
    }
    if !rule.expose_headers.is_empty() {
        set(
            hm,
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set(hm, http::header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
    }
    if !any_origin {
        set(
            hm,
            http::header::VARY,
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
    r
}

async fn add_cors(
    app: &App,
    bucket: Option<&str>,
    origin: Option<&HeaderValue>,
    method: &Method,
    mut resp: Response<Body>,
) -> Response<Body> {
    let Some(origin) = origin.and_then(|o| o.to_str().ok()) else {
        return resp;
    };
    let Some(rules) = rules_for(app, bucket).await else {
        return resp;
    };
    let Some(rule) = matching_rule(&rules, origin, method.as_str(), &[]) else {
        return resp;
    };
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    let hm = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(if any_origin { "*" } else { origin }) {
        hm.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if let Ok(v) = HeaderValue::from_str(&rule.allowed_methods.join(", ")) {
        hm.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !rule.expose_headers.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&rule.expose_headers.join(", ")) {
            hm.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
    if !any_origin {
        hm.append(http::header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_s3s_cannot_read_are_found() {
        let signed = |region: &str| {
            Request::builder()
                .header(
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential=app/20261205/{region}/s3/aws4_request, \
                         SignedHeaders=host, Signature=00"
                    ),
                )
                .body(())
                .unwrap()
        };
        assert_eq!(unreadable_region(&signed("US")), Some("US".to_owned()));
        assert_eq!(unreadable_region(&signed("")), Some(String::new()));
        assert_eq!(unreadable_region(&signed("us-east-1")), None);
        assert_eq!(unreadable_region(&signed("eu-west-3")), None);
        let presigned = |region: &str| {
            Request::builder()
                .uri(format!(
                    "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=app%2F20261205%2F{region}%2Fs3%2Faws4_request&X-Amz-Signature=00"
                ))
                .body(())
                .unwrap()
        };
        assert_eq!(unreadable_region(&presigned("EU")), Some("EU".to_owned()));
        assert_eq!(unreadable_region(&presigned("us-east-1")), None);
        // Unsigned and V2-signed requests are left to s3s.
        let plain = Request::builder().uri("/b/k").body(()).unwrap();
        assert_eq!(unreadable_region(&plain), None);
        let v2 = Request::builder()
            .header("authorization", "AWS app:c2lnbmF0dXJl")
            .body(())
            .unwrap();
        assert_eq!(unreadable_region(&v2), None);
        let r = wrong_region("US", "us-east-1");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = String::from_utf8(r.body().bytes().unwrap().to_vec()).unwrap();
        assert!(
            body.contains("<Code>AuthorizationHeaderMalformed</Code>")
                && body.contains("<Region>us-east-1</Region>"),
            "{body}"
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "https://a.example"));
        assert!(wildcard("https://*.example", "https://a.example"));
        assert!(!wildcard("https://*.example", "http://a.example"));
        assert!(wildcard("x-amz-*", "X-Amz-Date"));
        assert!(!wildcard("a*a", "a"));
    }
}
