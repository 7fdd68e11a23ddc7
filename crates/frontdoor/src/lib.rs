//! The front door: an HTTP/1.1 load balancer built on hyper.
//!
//! A request's life: the accept loop here admits the connection (up to
//! `max_connections`), [`conn`] enforces the request-header and keep-alive
//! timeouts, [`proxy`] picks a server from the current routing [`snapshot`],
//! forwards over a pooled upstream connection ([`pool`]), retries when that is
//! safe, and streams the response back ([`body`]). [`health`] keeps each server's
//! health current; [`tunnel`] carries WebSockets. Every failure becomes an HTTP
//! response in one place: [`error`]. See `LIFECYCLE.md` beside this crate.
#![forbid(unsafe_code)]

pub mod admin;
mod body;
mod clock;
pub mod config;
mod conn;
mod control;
mod error;
mod headers;
mod health;
mod metrics;
mod pool;
mod proxy;
pub mod route;
mod snapshot;
mod stats;
mod sticky;
mod tunnel;
mod upstream;

pub use config::Config;
pub use control::{Change, ChangeError, ChangeSummary, Control, ServerStatus, Status};
pub use upstream::{AdminState, Health};

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::snapshot::Snapshot;
use crate::upstream::Server;

/// State shared by every connection and background task of one front door.
pub(crate) struct Shared {
    snapshot: ArcSwap<Snapshot>,
    /// Live per-server state by stable id; survives snapshot swaps.
    servers: Mutex<HashMap<Arc<str>, Arc<Server>>>,
    metrics: metrics::Metrics,
    /// Connections, health checks and tunnels, awaited at shutdown.
    tasks: TaskTracker,
    /// Cancelled when shutdown begins: stop accepting, finish in-flight work.
    stop: CancellationToken,
    /// Cancelled when the shutdown grace period is over: cut what is left.
    hard_stop: CancellationToken,
    access_log: bool,
    /// Session-loss events by (server, path); bounded, see `record_session_loss`.
    session_losses: Mutex<HashMap<(Arc<str>, String), u64>>,
}

impl Shared {
    fn tunnel_idle(&self) -> Duration {
        self.snapshot.load().config.timeouts.tunnel_idle
    }

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

    /// Is `server` still part of the current routing snapshot?
    fn is_current(&self, server: &Arc<Server>) -> bool {
        self.snapshot
            .load()
            .servers
            .iter()
            .any(|s| Arc::ptr_eq(s, server))
    }
}

/// A front door bound to its listener, not yet serving.
pub struct FrontDoor {
    shared: Arc<Shared>,
    listener: TcpListener,
    local_addr: SocketAddr,
    admin_reload: Option<admin::ReloadHook>,
}

/// Why the front door could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The admin listener would be open to the network without a token.
    #[error(transparent)]
    Admin(#[from] admin::ExposureError),
}

impl FrontDoor {
    /// Validate `config` and bind its listener (port 0 picks a free port).
    pub async fn bind(mut config: Config) -> Result<FrontDoor, StartError> {
        config.validate(None)?;
        if let Some(admin) = config.admin_listen {
            admin::check_exposure(admin, config.admin_token.as_deref())?;
        }
        let addr = config.listen;
        let listener = bind_listener(addr).map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        // Port 0 resolved: reloads compare against the address really bound.
        config.listen = local_addr;
        let access_log = config.access_log;
        let snapshot = Snapshot::build(config, &HashMap::new());
        let servers = snapshot
            .servers
            .iter()
            .map(|s| (s.id.clone(), s.clone()))
            .collect();
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            servers: Mutex::new(servers),
            metrics: metrics::Metrics::default(),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            access_log,
            session_losses: Mutex::new(HashMap::new()),
        });
        Ok(FrontDoor {
            shared,
            listener,
            local_addr,
            admin_reload: None,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What `POST /api/reload` on the admin listener runs (re-read the config file).
    pub fn set_admin_reload(&mut self, hook: admin::ReloadHook) {
        self.admin_reload = Some(hook);
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
            admin_reload,
        } = self;
        let snap = shared.snapshot.load_full();
        if snap.config.health.is_some() {
            for server in &snap.servers {
                health::spawn(&shared, server.clone());
            }
        }
        spawn_housekeeping(&shared);
        if let Some(addr) = snap.config.admin_listen {
            let admin_listener = TcpListener::bind(addr).await?;
            tokio::spawn(admin::serve(
                admin_listener,
                Control(shared.clone()),
                snap.config.admin_token.clone(),
                admin_reload,
                shared.stop.clone(),
            ));
        }
        let limit = Arc::new(Semaphore::new(snap.config.max_connections));
        tracing::info!(
            target: "bigstep::frontdoor",
            listen = %local_addr,
            servers = snap.servers.len(),
            algorithm = ?snap.config.algorithm,
            "front door listening"
        );
        drop(snap);

        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(target: "bigstep::frontdoor", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            shared.metrics.connections_accepted.inc();
            match limit.clone().try_acquire_owned() {
                Ok(permit) => serve_connection(&shared, stream, peer, permit),
                Err(_) => {
                    shared.metrics.connections_rejected.inc();
                    tokio::spawn(reject_connection(stream));
                }
            }
        }

        drop(listener);
        let grace = shared.snapshot.load().config.timeouts.shutdown_grace;
        tracing::info!(target: "bigstep::frontdoor", grace_s = grace.as_secs_f64(), "shutting down: no new connections, finishing in-flight requests");
        shared.stop.cancel();
        shared.tasks.close();
        if tokio::time::timeout(grace, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(target: "bigstep::frontdoor", "shutdown grace period over: closing remaining connections");
            shared.hard_stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.tasks.wait()).await;
        }
        tracing::info!(target: "bigstep::frontdoor", "front door stopped");
        Ok(())
    }
}

fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

fn serve_connection(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let snap = shared.snapshot.load();
    let t = &snap.config.timeouts;
    let phase = Arc::new(conn::Phase::default());
    let on_timeout = {
        let shared = shared.clone();
        Box::new(move || {
            shared.metrics.header_timeouts.inc();
            tracing::info!(target: "bigstep::access", client = %peer.ip(), status = 408, reason = "request-header-timeout", "request head not received in time");
        })
    };
    let io = conn::ClientIo::new(
        stream,
        phase.clone(),
        t.request_header,
        t.keepalive_idle,
        on_timeout,
    );
    let service = proxy::ProxyService {
        shared: shared.clone(),
        client: peer,
        phase,
        client_headers: Arc::new(headers::ClientHeaders::new(peer.ip(), "http")),
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .max_header_size(snap.config.limits.max_header_bytes)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let stop = shared.stop.clone();
    let hard_stop = shared.hard_stop.clone();
    let shared2 = shared.clone();
    shared2.metrics.open_connections.fetch_add(1, Relaxed);
    shared.tasks.spawn(async move {
        let _permit = permit;
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    r = conn.as_mut() => r,
                    () = hard_stop.cancelled() => Ok(()),
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(target: "bigstep::frontdoor", client = %peer, error = %e, "client connection error");
        }
        shared2.metrics.open_connections.fetch_sub(1, Relaxed);
    });
}

/// Over `max_connections`: say so in HTTP and close, rather than leave the client hanging.
async fn reject_connection(mut stream: TcpStream) {
    const BODY: &str =
        "503 The server is handling too many connections. Please try again shortly.\n";
    let msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\nx-bigstep-reason: too-many-connections\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(msg.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Once a second: rate windows, drain deadlines; every 5 s: stale pooled connections.
fn spawn_housekeeping(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let stop = shared.stop.clone();
    shared.tasks.spawn(async move {
        let mut tick: u64 = 0;
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => return,
            }
            tick += 1;
            let Some(shared) = weak.upgrade() else { return };
            let snap = shared.snapshot.load();
            let now = crate::clock::now_ms();
            let drain_ms = snap.config.drain_timeout.as_millis() as u64;
            for s in &snap.servers {
                s.stats.sample(now);
                if s.draining_for(now).is_some_and(|d| d >= drain_ms) {
                    s.set_admin_state(AdminState::Maintenance);
                    tracing::info!(target: "bigstep::frontdoor", server = %s.id, "drain deadline reached: server is now in maintenance");
                }
                if tick.is_multiple_of(5) {
                    s.pool.evict_stale(snap.config.timeouts.upstream_idle);
                }
            }
        }
    });
}
