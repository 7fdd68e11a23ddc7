//! The admin listener: a JSON API for live membership, Prometheus `/metrics`,
//! `/healthz`, and the dashboard at `/`.
//!
//! Every change the API makes goes through [`Control::apply`] with source
//! `admin-api`, the same typed, validated, logged path as a config reload.
//! Routes and their answers are in [`api`]; the guard in front of them is here.
//!
//! Who may call it: on loopback without a token, anyone on this machine (like
//! HAProxy's stats socket). Anywhere else a bearer token is required: the
//! front door refuses to start otherwise ([`check_exposure`]). Two more guards
//! keep a web page the operator happens to visit from driving the API through
//! their browser: a changing request whose `Origin` is not this listener is
//! refused (CSRF), and without a token a `Host` that is a DNS name other than
//! `localhost` is refused on `/` and `/api` (DNS rebinding).

mod api;
mod history;
mod instances;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ChangeError, ChangeSummary, Control};

pub use api::ApiError;
pub use instances::{InstanceError, InstanceFuture, InstanceInfo, Instances, InstancesHook};

/// Reloads the configuration from wherever the binary got it (the config file
/// and command line) and applies it with [`Control::apply`]. A file that cannot
/// be read or parsed is [`ChangeError::Invalid`]. The front door cannot read the
/// file itself, so `POST /api/reload` calls this.
pub type ReloadHook = Arc<dyn Fn() -> Result<ChangeSummary, ChangeError> + Send + Sync>;

/// Tokens shorter than this are refused: the admin API can remove every server.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why the admin listener may not start as configured.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    /// A non-loopback bind without a token.
    #[error("admin_listen {0} is not a loopback address: set admin_token in [balance] (or BIGSTEP_ADMIN_TOKEN) so the admin API is not open to the network, or bind it to 127.0.0.1")]
    NoToken(SocketAddr),
    /// A token too short to resist guessing.
    #[error("admin_token must be at least {MIN_TOKEN_LEN} characters (for example the output of `openssl rand -hex 32`)")]
    WeakToken,
}

/// Refuse an admin listener on a non-loopback address without a token, and a
/// short token anywhere. Call before binding; an empty token counts as none.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<(), ExposureError> {
    match token.filter(|t| !t.is_empty()) {
        Some(t) if t.len() < MIN_TOKEN_LEN => Err(ExposureError::WeakToken),
        Some(_) => Ok(()),
        None if addr.ip().is_loopback() => Ok(()),
        None => Err(ExposureError::NoToken(addr)),
    }
}

/// The admin routes behind their guard. `token`: when set, every route but the
/// dashboard page and `/healthz` needs `Authorization: Bearer <token>`.
/// `reload`: what `POST /api/reload` runs (501 when absent). `instances`: the
/// supervisor behind `/api/instances` (501 when absent).
pub(crate) fn router(
    control: Control,
    token: Option<String>,
    reload: Option<ReloadHook>,
    instances: Option<InstancesHook>,
    history: Arc<history::History>,
) -> Router {
    let guard = Arc::new(Guard {
        token_hash: token
            .filter(|t| !t.is_empty())
            .map(|t| Sha256::digest(t.as_bytes()).into()),
    });
    api::routes(control.clone(), reload, history)
        .merge(instances::routes(instances, control))
        .layer(middleware::from_fn_with_state(guard, check))
}

/// Connections the admin listener serves at once. Dashboards, scrapers and
/// `bigstep ctl` are few; past this it is a mistake or an attack, and the
/// proxy's own connections must not pay for it.
const MAX_CONNECTIONS: usize = 256;

/// A client that has not sent its request head by then is closed: an idle
/// socket must not hold one of the few places.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The answer past [`MAX_CONNECTIONS`].
const TOO_MANY_CONNECTIONS: &str = "HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 43\r\n\
connection: close\r\n\
retry-after: 1\r\n\
\r\n\
503 Too many admin connections. Try again.\n";

/// Serve the admin API on `listener` until `stop` is cancelled, on the
/// `service` skeleton like every listener: accept with backoff, a connection
/// cap, and at shutdown requests in flight finish within the front door's
/// `timeouts.shutdown_grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    control: Control,
    token: Option<String>,
    reload: Option<ReloadHook>,
    instances: Option<InstancesHook>,
    stop: CancellationToken,
) {
    let listener = service::Listener::new(listener);
    tracing::info!(
        target: "bigstep::frontdoor",
        listen = %listener.local_addr(),
        token = token.as_deref().is_some_and(|t| !t.is_empty()),
        "admin listening (dashboard at /, /api, /metrics, /healthz)"
    );
    // The charts' past minutes, sampled while the admin listener runs.
    let history = Arc::new(history::History::default());
    tokio::spawn(history::run(history.clone(), control.clone(), stop.clone()));
    let app = router(control.clone(), token, reload, instances, history);
    let shutdown = run(listener, app, MAX_CONNECTIONS, stop.cancelled_owned()).await;
    // The grace as configured now (a reload may have changed it).
    shutdown
        .finish(control.config().timeouts.shutdown_grace)
        .await;
}

/// Accepts until `stop`, serving `app` over HTTP/1.1 with at most `max`
/// connections; returns the shutdown to finish.
async fn run(
    listener: service::Listener,
    app: Router,
    max: usize,
    stop: impl std::future::Future<Output = ()>,
) -> service::Shutdown {
    let shutdown = service::Shutdown::new("admin");
    let server = service::Server {
        listener,
        limit: service::Limit::new(max),
        reject: service::Reject::reply(TOO_MANY_CONNECTIONS),
        shutdown: shutdown.clone(),
    };
    server
        .accept_until(stop, |stream, peer, drain| {
            let _ = stream.set_nodelay(true);
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = service::http::serve_until_drained(conn, drain).await {
                    tracing::debug!(target: "bigstep::frontdoor", client = %peer, error = %e, "admin connection error");
                }
            }
        })
        .await;
    shutdown
}

// === guard ===

struct Guard {
    /// SHA-256 of the token: comparing fixed-length digests in constant time
    /// reveals neither the token's bytes nor its length.
    token_hash: Option<[u8; 32]>,
}

async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let open = path == "/healthz" || path == "/";
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());

    // Scrapers and probes may name the host as they like; what a rebinding page
    // could exploit (the API and the page that drives it) answers only to local names.
    let machine_read = path == "/healthz" || path == "/metrics";
    if guard.token_hash.is_none() && !machine_read {
        if let Some(h) = host {
            if !is_local_host(h) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("host `{h}` refused: without an admin token the admin API answers only to 127.0.0.1, [::1] or localhost"),
                )
                .into_response();
            }
        }
    }
    if is_change(req.method()) {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let same = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://").map(|(_, authority)| authority))
                .is_some_and(|authority| Some(authority) == host);
            if !same {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "cross-origin request refused: changes come from the dashboard on this listener or from a non-browser client",
                )
                .into_response();
            }
        }
    }
    if let (Some(want), false) = (&guard.token_hash, open) {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Sha256::digest(t.trim().as_bytes()));
        let ok = given.is_some_and(|g| bool::from(g.as_slice().ct_eq(want)));
        if !ok {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this admin API needs `Authorization: Bearer <admin_token>` (in the dashboard: open /#token=<admin_token>)",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return resp;
        }
    }
    next.run(req).await
}

fn is_change(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// An IP literal (any: a non-loopback bind needs a token anyway) or `localhost`.
fn is_local_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:9090`, `127.0.0.1:9090`, `localhost:9090`; a bare `::1` has several colons.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_rules() {
        let lo: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert!(check_exposure(lo, None).is_ok());
        assert!(check_exposure(lo, Some("")).is_ok());
        assert!(matches!(
            check_exposure(any, None),
            Err(ExposureError::NoToken(_))
        ));
        assert!(matches!(
            check_exposure(any, Some("")),
            Err(ExposureError::NoToken(_))
        ));
        assert!(matches!(
            check_exposure(any, Some("short")),
            Err(ExposureError::WeakToken)
        ));
        assert!(check_exposure(any, Some("0123456789abcdef")).is_ok());
    }

    /// The admin listener on the skeleton: past the cap a client gets the 503
    /// answer; at stop new connections are refused and the request in flight
    /// still gets its whole answer.
    #[tokio::test]
    async fn admin_listener_caps_connections_and_drains() {
        use std::time::Duration;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpStream;
        use tokio::sync::Notify;

        let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (s, r) = (started.clone(), release.clone());
        let app = Router::new().route(
            "/slow",
            axum::routing::get(move || {
                let (s, r) = (s.clone(), r.clone());
                async move {
                    s.notify_one();
                    r.notified().await;
                    "done"
                }
            }),
        );
        let listener = service::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(listener, app, 1, stop.clone().cancelled_owned()));

        let mut a = TcpStream::connect(addr).await.unwrap();
        a.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        started.notified().await;
        let mut b = TcpStream::connect(addr).await.unwrap();
        let mut refused = String::new();
        b.read_to_string(&mut refused).await.unwrap();
        assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
        assert!(refused.ends_with("Too many admin connections. Try again.\n"));

        stop.cancel();
        let shutdown = task.await.unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
        release.notify_one();
        let report = shutdown.finish(Duration::from_secs(10)).await;
        let mut reply = String::new();
        a.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("done"), "{reply}");
        assert_eq!(
            (report.open_at_stop, report.finished, report.cut),
            (1, 1, 0)
        );
    }

    #[test]
    fn local_hosts() {
        for h in [
            "127.0.0.1:9090",
            "localhost:9090",
            "LOCALHOST",
            "[::1]:9090",
            "::1",
            "10.0.0.5:9090",
        ] {
            assert!(is_local_host(h), "{h}");
        }
        for h in [
            "evil.example:9090",
            "evil.example",
            "localhost.evil.example:9090",
        ] {
            assert!(!is_local_host(h), "{h}");
        }
    }
}
