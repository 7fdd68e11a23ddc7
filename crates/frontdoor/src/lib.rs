//! The front door: an HTTP/1.1 load balancer built on hyper.
//!
//! A request's life: the accept loop (the `service` skeleton's: backoff on
//! `EMFILE`, a 503 past `max_connections`, one shutdown sequence) admits the
//! connection, [`conn`] enforces the request-header and keep-alive
//! timeouts, [`proxy`] picks a server from the current routing [`snapshot`],
//! forwards over a pooled upstream connection ([`pool`]), retries when that is
//! safe, and streams the response back ([`body`]). [`health`] keeps each server's
//! health current; [`tunnel`] carries WebSockets. Every failure becomes an HTTP
//! response in one place: [`error`]. See `LIFECYCLE.md` beside this crate.
#![forbid(unsafe_code)]

pub mod admin;
mod body;
mod client_conn;
mod clock;
mod compress;
pub mod config;
mod conn;
mod control;
mod discovery;
mod encoder;
mod error;
pub mod findings;
mod h2_conn;
mod h2_streams;
mod h2_tunnel;
mod headers;
mod health;
mod limit_store;
mod metrics;
mod origin;
mod pool;
mod proxy;
mod redirect;
pub mod route;
mod routing;
mod scratch;
mod snapshot;
mod stats;
mod sticky;
mod strict;
mod tls;
mod tunnel;
mod upstream;
mod upstream_body;
mod upstream_h2;
mod upstream_tls;
mod ws_h2;

pub use config::Config;
pub use control::DiscoveryStatus;
pub use control::{
    CertificateStatus, Change, ChangeError, ChangeSummary, Control, PoolStatus, RouteStatus,
    ServerStatus, Status,
};
pub use upstream::{AdminState, Health};

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::snapshot::Snapshot;
use crate::upstream::Server;

/// Load the certificates `[balance.tls]` names, as a start would (for
/// `--check`). Returns the warnings (e.g. a key readable by others).
pub fn check_certificates(config: &Config) -> Result<Vec<String>, String> {
    match &config.tls {
        Some(tls) => {
            let acme = tls.acme.as_ref().map(tls::Acme::new).transpose()?;
            tls::load(tls, true, acme.as_ref()).map(|(_, warnings)| warnings)
        }
        None => Ok(Vec::new()),
    }
}

/// Answers an ACME HTTP-01 token with its key authorization, when one is pending.
pub type Http01Answer = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// State shared by every connection and background task of one front door.
pub(crate) struct Shared {
    snapshot: ArcSwap<Snapshot>,
    /// Live state of servers, pools and routes; survives snapshot swaps. Its
    /// lock also makes changes one at a time.
    live: Mutex<snapshot::Live>,
    metrics: metrics::Metrics,
    /// The skeleton's shutdown; the three fields below are its parts.
    shutdown: service::Shutdown,
    /// Connections, health checks and tunnels, awaited at shutdown.
    tasks: TaskTracker,
    /// Cancelled when shutdown begins: stop accepting, finish in-flight work.
    stop: CancellationToken,
    /// Cancelled when the shutdown grace period is over: cut what is left.
    hard_stop: CancellationToken,
    access_log: bool,
    /// Session-loss events by (server, path); bounded, see `record_session_loss`.
    session_losses: Mutex<HashMap<(Arc<str>, String), u64>>,
    /// Servers from the registry (see `discovery.rs`); inert when not configured.
    discovery: discovery::Link,
    /// The single-host detectors, when turned on ([`FrontDoor::set_findings`]).
    findings: std::sync::OnceLock<findings::Findings>,
    /// Certificates and TLS settings, when `[balance.tls]` is set; swapped on reload.
    tls: arc_swap::ArcSwapOption<tls::Loaded>,
    /// Answers ACME HTTP-01 challenges (token → key authorization), when set.
    acme_http01: std::sync::OnceLock<Http01Answer>,
    /// Automatic certificates, when `[balance.tls.acme]` is set.
    acme: Option<tls::Acme>,
}

impl Shared {
    /// Count a session loss on `server` at `path` (at most 200 distinct pairs kept).
    fn record_session_loss(&self, server: &Arc<str>, path: &str) {
        let mut map = self.session_losses.lock().expect("session loss lock");
        let key = (server.clone(), path.to_string());
        if let Some(n) = map.get_mut(&key) {
            *n += 1;
        } else if map.len() < 200 {
            map.insert(key, 1);
        }
    }

    fn session_loss_paths(&self) -> Vec<(String, u64)> {
        let map = self.session_losses.lock().expect("session loss lock");
        let mut v: Vec<_> = map
            .iter()
            .map(|((s, p), n)| (format!("{s} {p}"), *n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(20);
        v
    }

    /// The key authorization for an ACME HTTP-01 `token`, if one is pending.
    fn acme_http01(&self, token: &str) -> Option<String> {
        self.acme_http01.get().and_then(|f| f(token))
    }

    /// Is `server` still part of the current routing snapshot?
    fn is_current(&self, server: &Arc<Server>) -> bool {
        self.snapshot
            .load()
            .servers()
            .any(|s| Arc::ptr_eq(s, server))
    }
}

/// A front door bound to its listener, not yet serving.
pub struct FrontDoor {
    shared: Arc<Shared>,
    listener: service::Listener,
    local_addr: SocketAddr,
    /// The TLS listener, when `[balance.tls]` is set.
    tls_listener: Option<service::Listener>,
    /// The other serving threads' sockets on the same addresses (plain, TLS).
    more_listeners: Vec<(std::net::TcpListener, Option<std::net::TcpListener>)>,
    admin_reload: Option<admin::ReloadHook>,
    admin_instances: Option<admin::InstancesHook>,
    /// Bound in [`FrontDoor::bind`], so a busy port fails early and port 0 is
    /// known before serving.
    admin_listener: Option<std::net::TcpListener>,
}

/// Why the front door could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}{}", bind_hint(source))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A certificate or key could not be loaded.
    #[error("cannot load the TLS certificates: {0}")]
    Tls(String),
    /// The TLS listen address could not be bound.
    #[error("cannot listen on {addr} for TLS{}", bind_hint(source))]
    TlsBind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The admin listener would be open to the network without a token.
    #[error(transparent)]
    Admin(#[from] admin::ExposureError),
    /// The admin address could not be bound.
    #[error("cannot listen on {addr} for the admin API{}", bind_hint(source))]
    AdminBind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What to do about a failed bind, by its cause. The OS error itself is the
/// error's `source` (printed after it by `{:#}`), so it is not repeated here.
fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => " (is another process using the port?)",
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        }
        std::io::ErrorKind::AddrNotAvailable => " (no interface of this host has that address)",
        _ => "",
    }
}

impl FrontDoor {
    /// Validate `config` and bind its listener (port 0 picks a free port).
    pub async fn bind(config: Config) -> Result<FrontDoor, StartError> {
        FrontDoor::bind_with(config, &service::Metrics::new()).await
    }

    /// [`bind`](Self::bind), with the front door's metrics in the process's
    /// `registry` (shared with the other roles; the admin `/metrics` serves it).
    pub async fn bind_with(
        config: Config,
        registry: &service::Metrics,
    ) -> Result<FrontDoor, StartError> {
        FrontDoor::bind_threads(config, registry, 1).await
    }

    /// [`bind_with`](Self::bind_with), serving clients on `threads` threads
    /// (thread per core, [`service::threads`]): the caller's runtime is one,
    /// each other runs its own runtime and listening sockets on the same
    /// addresses (`SO_REUSEPORT`), and a connection stays on the thread that
    /// accepted it. The caller's runtime should be a current-thread one.
    pub async fn bind_threads(
        mut config: Config,
        registry: &service::Metrics,
        threads: usize,
    ) -> Result<FrontDoor, StartError> {
        let threads = threads.max(1);
        config.validate(None)?;
        let mut admin_listener = None;
        if let Some(admin) = config.admin_listen {
            admin::check_exposure(admin, config.admin_token.as_deref())?;
            let bound = std::net::TcpListener::bind(admin)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| StartError::AdminBind {
                    addr: admin,
                    source,
                })?;
            // `admin_listen` stays as configured (port 0 included): reloads
            // compare against the file, and admin_addr() says what was bound.
            admin_listener = Some(bound);
        }
        let addr = config.listen;
        let (listener, more_plain) =
            bind_listeners(addr, threads).map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener.local_addr();
        // Port 0 resolved: reloads compare against the address really bound.
        config.listen = local_addr;
        let mut tls_listener = None;
        let mut more_tls = Vec::new();
        let mut tls_loaded = None;
        let mut acme = None;
        if let Some(tls_cfg) = config.tls.as_mut() {
            acme = tls_cfg
                .acme
                .as_ref()
                .map(tls::Acme::new)
                .transpose()
                .map_err(StartError::Tls)?;
            let (loaded, warnings) =
                tls::load(tls_cfg, true, acme.as_ref()).map_err(StartError::Tls)?;
            for w in warnings {
                tracing::warn!(target: "bigstep::tls", "{w}");
            }
            let addr = tls_cfg.listen;
            let (bound, more) = bind_listeners(addr, threads)
                .map_err(|source| StartError::TlsBind { addr, source })?;
            tls_cfg.listen = bound.local_addr();
            tls_listener = Some(bound);
            more_tls = more;
            tls_loaded = Some(Arc::new(loaded));
        }
        let access_log = config.access_log;
        let discovery = discovery::Link::new(&config);
        let snapshot = Snapshot::build(config, &snapshot::Live::default());
        let live = snapshot.live();
        let shutdown = service::Shutdown::new("balance");
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            live: Mutex::new(live),
            metrics: metrics::Metrics::new(registry),
            tasks: shutdown.tracker().clone(),
            stop: shutdown.drain_token(),
            hard_stop: shutdown.cut_token(),
            shutdown,
            access_log,
            session_losses: Mutex::new(HashMap::new()),
            discovery,
            findings: std::sync::OnceLock::new(),
            tls: arc_swap::ArcSwapOption::new(tls_loaded),
            acme_http01: std::sync::OnceLock::new(),
            acme,
        });
        metrics::register(&shared);
        let mut more_tls = more_tls.into_iter();
        let more_listeners = more_plain
            .into_iter()
            .map(|plain| (plain, more_tls.next()))
            .collect();
        Ok(FrontDoor {
            shared,
            listener,
            local_addr,
            tls_listener,
            more_listeners,
            admin_reload: None,
            admin_instances: None,
            admin_listener,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TLS listener's address, when `[balance.tls]` is set.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_listener.as_ref().map(|l| l.local_addr())
    }

    /// What `POST /api/reload` on the admin listener runs (re-read the config file).
    pub fn set_admin_reload(&mut self, hook: admin::ReloadHook) {
        self.admin_reload = Some(hook);
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Turn on the single-host detectors ([`findings`]): every response is
    /// looked at; `GET /api/findings` and [`Control::findings`] report.
    pub fn set_findings(&mut self, config: findings::FindingsConfig) {
        let _ = self.shared.findings.set(findings::Findings::new(config));
    }

    /// The supervisor behind `/api/instances` (`bigstep up`).
    pub fn set_admin_instances(&mut self, hook: admin::InstancesHook) {
        self.admin_instances = Some(hook);
    }

    /// A handle to reload the configuration and read metrics while running.
    pub fn control(&self) -> Control {
        Control(self.shared.clone())
    }

    /// Serve until `shutdown` resolves, then stop accepting and give in-flight
    /// requests up to `timeouts.shutdown_grace` to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let FrontDoor {
            shared,
            listener,
            local_addr,
            tls_listener,
            more_listeners,
            admin_reload,
            admin_instances,
            admin_listener,
        } = self;
        let snap = shared.snapshot.load_full();
        for pool in &snap.pools {
            if pool.config.health.is_some() {
                for server in &pool.servers {
                    health::spawn(&shared, server.clone());
                }
            }
        }
        spawn_housekeeping(&shared);
        if let Some(acme) = shared.acme.clone() {
            spawn_acme(&shared, acme);
        }
        if let Some(cfg) = snap.config.discovery.clone() {
            discovery::spawn(&shared, cfg);
        }
        if let Some(bound) = admin_listener {
            let admin_listener = TcpListener::from_std(bound)?;
            tokio::spawn(admin::serve(
                admin_listener,
                Control(shared.clone()),
                snap.config.admin_token.clone(),
                admin_reload,
                admin_instances,
                shared.stop.clone(),
            ));
        }
        let counted = shared.clone();
        let limit = service::Limit::new(snap.config.max_connections);
        let reject = service::Reject::reply(TOO_MANY_CONNECTIONS).on_reject(move |_| {
            counted.metrics.connections_accepted.inc();
            counted.metrics.connections_rejected.inc();
        });
        let tls_addr = tls_listener.as_ref().map(|l| l.local_addr());
        tracing::info!(
            target: "bigstep::frontdoor",
            listen = %local_addr,
            // The address, or `off`: not Rust's `Some(..)`/`None`.
            tls = %tls_addr.map_or_else(|| "off".to_string(), |a| a.to_string()),
            threads = 1 + more_listeners.len(),
            servers = snap.servers().count(),
            pools = snap.pools.len(),
            routes = snap.routes.all().len(),
            algorithm = snap.config.algorithm.as_str(),
            "front door listening"
        );
        drop(snap);

        // Every listener on every thread stops together, under one connection cap.
        let stop = CancellationToken::new();
        let accepting = Accepting {
            shared: shared.clone(),
            limit,
            reject,
        };
        let workers = {
            let accepting = accepting.clone();
            service::threads::Workers::spawn(
                "balance",
                more_listeners,
                stop.clone(),
                move |(plain, tls), stop| {
                    let plain = service::Listener::new(TcpListener::from_std(plain)?);
                    let tls = tls
                        .map(|l| TcpListener::from_std(l).map(service::Listener::new))
                        .transpose()?;
                    Ok(accepting.clone().run(plain, tls, stop))
                },
            )
            .await?
        };
        let signal = async {
            shutdown.await;
            stop.cancel();
        };
        tokio::join!(accepting.run(listener, tls_listener, stop.clone()), signal);
        // The grace as configured now (a reload may have changed it).
        let grace = shared.snapshot.load().config.timeouts.shutdown_grace;
        shared.shutdown.finish(grace).await;
        workers.finish().await;
        tracing::info!(target: "bigstep::frontdoor", "front door stopped");
        Ok(())
    }
}

/// Binds `addr` for `threads` serving threads: the first socket on this
/// runtime, the others (`SO_REUSEPORT`, same port) for the other threads.
/// One thread binds the plain way.
fn bind_listeners(
    addr: SocketAddr,
    threads: usize,
) -> std::io::Result<(service::Listener, Vec<std::net::TcpListener>)> {
    if threads <= 1 {
        return Ok((
            service::bind(addr, service::listener::DEFAULT_BACKLOG)?,
            Vec::new(),
        ));
    }
    let mut all =
        service::listener::bind_shared(addr, service::listener::DEFAULT_BACKLOG, threads)?
            .into_iter();
    let first = all.next().expect("bind_shared binds at least one");
    Ok((
        service::Listener::new(TcpListener::from_std(first)?),
        all.collect(),
    ))
}

/// What every serving thread's accept loops share: the cap and its answer.
#[derive(Clone)]
struct Accepting {
    shared: Arc<Shared>,
    limit: service::Limit,
    reject: service::Reject,
}

impl Accepting {
    /// Accept on this thread's plain and TLS listeners until `stop`.
    async fn run(
        self,
        plain: service::Listener,
        tls: Option<service::Listener>,
        stop: CancellationToken,
    ) {
        let Accepting {
            shared,
            limit,
            reject,
        } = self;
        let server = service::Server {
            listener: plain,
            limit: limit.clone(),
            reject: reject.clone(),
            shutdown: shared.shutdown.clone(),
        };
        let plain = server.accept_until(stop.clone().cancelled_owned(), |stream, peer, drain| {
            shared.metrics.connections_accepted.inc();
            serve_connection(&shared, stream, peer, drain)
        });
        let secure = async {
            let Some(listener) = tls else { return };
            let server = service::Server {
                listener,
                limit,
                reject,
                shutdown: shared.shutdown.clone(),
            };
            server
                .accept_until(stop.clone().cancelled_owned(), |stream, peer, drain| {
                    shared.metrics.connections_accepted.inc();
                    serve_tls_connection(&shared, stream, peer, drain)
                })
                .await;
        };
        tokio::join!(plain, secure);
    }
}

/// Counts a client connection as open while it lives, however it ends (even
/// when the shutdown cuts it by dropping its future).
struct Open(Arc<Shared>);

impl Open {
    fn new(shared: &Arc<Shared>) -> Open {
        shared.metrics.open_connections.fetch_add(1, Relaxed);
        Open(shared.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.open_connections.fetch_sub(1, Relaxed);
    }
}

/// The future that serves one plain-TCP client connection; the skeleton runs it.
fn serve_connection(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    drain: service::Drain,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let shared = shared.clone();
    let open = Open::new(&shared);
    async move {
        let _open = open;
        let snap = shared.snapshot.load_full();
        if snap.config.tls.as_ref().is_some_and(|t| t.redirect_http) {
            // Boxed, like every rarely taken branch here: a connection task
            // is as large as its largest branch, for as long as it lives.
            return Box::pin(redirect::serve(&shared, stream, peer, drain)).await;
        }
        let h2 = if snap.config.http2.h2c {
            let wait = snap.config.timeouts.request_header;
            drop(snap);
            match tls::h2c_preface(&stream, wait).await {
                Some(h2) => h2,
                // Nothing arrived in time, or the client left: end quietly.
                None => return,
            }
        } else {
            false
        };
        serve_http(&shared, stream, peer, drain, h2, None).await;
    }
}

/// The future that serves one TLS client connection: the handshake (bounded
/// by the request-header timeout), then HTTP/1.1 or HTTP/2 as ALPN chose.
fn serve_tls_connection(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    drain: service::Drain,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let shared = shared.clone();
    let open = Open::new(&shared);
    async move {
        let _open = open;
        let Some(loaded) = shared.tls.load_full() else {
            return;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(loaded.server_config.clone());
        drop(loaded);
        let timeout = shared.snapshot.load().config.timeouts.request_header;
        // A failed or late handshake is counted before its socket closes, so
        // a client that sees the close also sees the count.
        let accept = acceptor.accept(stream).into_fallible();
        tokio::pin!(accept);
        let handshake = tokio::select! {
            r = &mut accept => Some(r),
            () = tokio::time::sleep(timeout) => None,
            () = drain.draining() => return,
        };
        let stream = match handshake {
            Some(Ok(s)) => s,
            Some(Err((e, stream))) => {
                shared.metrics.tls_handshake_failures.inc();
                tracing::debug!(target: "bigstep::tls", client = %peer, error = %e, "TLS handshake failed");
                drop(stream);
                return;
            }
            None => {
                shared.metrics.tls_handshake_failures.inc();
                shared.metrics.tls_handshake_timeouts.inc();
                tracing::debug!(target: "bigstep::tls", client = %peer, "TLS handshake not finished in time");
                return;
            }
        };
        let (_, conn) = stream.get_ref();
        if tls::is_acme_validation(conn) {
            // The ACME server only checks the certificate it was shown.
            return;
        }
        shared.metrics.tls_handshakes.inc();
        let h2 = tls::negotiated_h2(conn);
        let info = Arc::new(tls::TlsInfo::of(conn));
        serve_http(&shared, stream, peer, drain, h2, Some(info)).await;
    }
}

/// Serve HTTP/1.x (our own core, `client_conn`) or HTTP/2 on a connection
/// until it ends. Both reach the proxy through `ProxyService::handle`.
///
/// The HTTP/1 future is returned as it is, not awaited in a future of this
/// function's own, so an idle connection's task holds it and nothing around
/// it (this function's arguments would otherwise stay in the task too); the
/// HTTP/2 engines, with their own large state, are boxed.
fn serve_http<S>(
    shared: &Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    drain: service::Drain,
    h2: bool,
    tls: Option<Arc<tls::TlsInfo>>,
) -> futures_util::future::Either<
    impl std::future::Future<Output = ()> + Send,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use futures_util::future::Either;
    let phase = Arc::new(conn::Phase::default());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let service = proxy::ProxyService {
        shared: shared.clone(),
        client: peer,
        phase: phase.clone(),
        client_headers: headers::ClientHeaders::for_connection(peer.ip(), scheme),
        tls,
    };
    if !h2 {
        return Either::Left(client_conn::serve(
            shared.clone(),
            peer,
            service,
            stream,
            drain,
        ));
    }
    let shared = shared.clone();
    Either::Right(Box::pin(async move {
        let snap = shared.snapshot.load_full();
        if snap.config.http2.engine == config::Http2Engine::Bigstep {
            let t = &snap.config.timeouts;
            let io = conn::ClientIo::new(stream, phase, t.request_header, t.keepalive_idle);
            drop(snap);
            return h2_conn::serve(shared.clone(), io, peer, drain, service).await;
        }
        drop(snap);
        serve_h2(&shared, stream, peer, drain, phase, service).await;
    }))
}

/// HTTP/2 on hyper: many streams on one connection, each through the same
/// `ProxyService` as an HTTP/1 request.
async fn serve_h2<S>(
    shared: &Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    drain: service::Drain,
    phase: Arc<conn::Phase>,
    service: proxy::ProxyService,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let snap = shared.snapshot.load_full();
    let t = &snap.config.timeouts;
    let io = conn::ClientIo::new(stream, phase, t.request_header, t.keepalive_idle);
    shared.metrics.http2_connections.inc();
    let c = &snap.config.http2;
    let streams = h2_streams::Streams::new(shared);
    let mut builder = hyper::server::conn::http2::Builder::new(streams.clone());
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(c.max_concurrent_streams)
        .max_pending_accept_reset_streams(c.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(c.max_local_error_reset_streams)
        .max_header_list_size(c.max_header_list_bytes)
        .initial_stream_window_size(c.initial_stream_window)
        .initial_connection_window_size(c.initial_connection_window)
        .max_frame_size(c.max_frame_bytes)
        .max_send_buf_size(c.max_send_buffer_bytes);
    if c.websocket {
        builder.enable_connect_protocol();
    }
    let conn = builder.serve_connection(TokioIo::new(io), service);
    drop(snap);
    let conn = h2_streams::Driven::new(conn, &streams);
    // Past the grace the skeleton drops this future, which closes the socket.
    if let Err(e) = service::http::serve_until_drained(conn, drain).await {
        shared.metrics.http2_protocol_errors.inc();
        tracing::info!(target: "bigstep::frontdoor", client = %peer, error = %e, "HTTP/2 connection closed on a protocol error");
    }
}

/// Over `max_connections`: say so in HTTP and close, rather than leave the client hanging.
const TOO_MANY_CONNECTIONS: &str = "HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 75\r\n\
connection: close\r\n\
retry-after: 1\r\n\
x-bigstep-reason: too-many-connections\r\n\
\r\n\
503 The server is handling too many connections. Please try again shortly.\n";

/// Obtain and renew the ACME certificate in the background (see `certs::run`).
fn spawn_acme(shared: &Arc<Shared>, acme: tls::Acme) {
    let challenges = acme.challenges.clone();
    let _ = shared
        .acme_http01
        .set(Box::new(move |token| challenges.http01(token)));
    let slot = acme.slot.clone();
    let stop = shared.stop.child_token();
    shared.tasks.spawn(async move {
        let on_issued = move |issued: certs::Issued| match slot.set(&issued) {
            Ok(()) => tracing::info!(target: "bigstep::tls", names = ?issued.domains, "acme: certificate installed"),
            Err(e) => tracing::warn!(target: "bigstep::tls", error = %e, "acme: the new certificate could not be installed; the previous one keeps serving"),
        };
        if let Err(e) = certs::run(acme.config, acme.challenges, on_issued, stop).await {
            tracing::error!(target: "bigstep::tls", error = %e, "acme: stopped; no certificate will be obtained or renewed until the configuration is fixed and bigstep restarted");
        }
    });
}

/// Reload the certificates when their files change (every `tls.watch`). A
/// refused reload (say the certificate was written but not yet its key) is
/// logged once and tried again when the files change again.
fn watch_certificates(
    shared: &Arc<Shared>,
    tick: u64,
    refused: &mut Option<Vec<Option<std::time::SystemTime>>>,
) {
    let every = shared
        .snapshot
        .load()
        .config
        .tls
        .as_ref()
        .map_or(0, |t| t.watch.as_secs().max(1));
    if every == 0 || !tick.is_multiple_of(every) {
        return;
    }
    let Some(loaded) = shared.tls.load_full() else {
        return;
    };
    let now = loaded.stamps_now();
    if now == loaded.stamps_loaded() || refused.as_ref() == Some(&now) {
        return;
    }
    match Control(shared.clone()).apply(Change::ReloadCertificates, "certificate files changed") {
        Ok(_) => *refused = None,
        Err(_) => *refused = Some(now),
    }
}

/// Once a second: rate windows, drain deadlines; every 5 s: stale pooled connections.
fn spawn_housekeeping(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let stop = shared.stop.clone();
    shared.tasks.spawn(async move {
        let mut tick: u64 = 0;
        // Certificate files as they were when a reload of them was last refused.
        let mut refused_stamps = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => return,
            }
            tick += 1;
            let Some(shared) = weak.upgrade() else { return };
            watch_certificates(&shared, tick, &mut refused_stamps);
            let snap = shared.snapshot.load();
            let now = crate::clock::now_ms();
            let drain_ms = snap.config.drain_timeout.as_millis() as u64;
            for p in &snap.pools {
                p.stats.sample(now);
            }
            for r in snap.routes.all() {
                r.live.stats.sample(now);
            }
            for s in snap.servers() {
                s.stats.sample(now);
                if s.draining_for(now).is_some_and(|d| d >= drain_ms) {
                    s.set_admin_state(AdminState::Maintenance);
                    tracing::info!(target: "bigstep::frontdoor", server = %s.id, "drain deadline reached: server is now in maintenance");
                }
                if tick.is_multiple_of(5) {
                    s.evict_idle(snap.config.timeouts.upstream_idle);
                }
            }
        }
    });
}
