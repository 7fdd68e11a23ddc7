//! One `prometheus-client` registry per process, and the `/metrics` endpoint.
//!
//! The binary makes one [`Metrics`] and hands it to each role it runs; a role
//! registers its metrics (or a collector that reads live state at scrape time)
//! under its own prefix. [`serve`] answers `GET /metrics` on a listener of its
//! own, built from the same skeleton as the roles (backoff, cap, shutdown).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;

use crate::limit::{Limit, Reject};
use crate::listener::Listener;
use crate::server::Server;
use crate::shutdown::Shutdown;

/// The content type of the text the registry renders.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The process's registry. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Registers under `prefix` (e.g. `bigstep_files`): `f` gets the sub-registry.
    pub fn register(&self, prefix: &str, f: impl FnOnce(&mut Registry)) {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        f(reg.sub_registry_with_prefix(prefix));
    }

    /// The text exposition (OpenMetrics) of everything registered.
    pub fn render(&self) -> String {
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(4096);
        let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        out
    }

    /// The HTTP answer to a scrape.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from(self.render())));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(CONTENT_TYPE),
        );
        r
    }
}

/// Scrapers are few; more than this at once is a mistake or an attack.
const MAX_SCRAPERS: usize = 64;

/// Serves `GET /metrics` (and `/`) on `listener` until `stop` resolves.
pub async fn serve(
    metrics: Metrics,
    listener: Listener,
    stop: impl std::future::Future<Output = ()>,
) {
    let shutdown = Shutdown::new("metrics");
    let server = Server {
        listener,
        limit: Limit::new(MAX_SCRAPERS),
        reject: Reject::close(),
        shutdown: shutdown.clone(),
    };
    server
        .accept_until(stop, |stream, _peer, drain| {
            let metrics = metrics.clone();
            async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(answer(&metrics, &req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service);
                let _ = crate::http::serve_until_drained(conn, drain).await;
            }
        })
        .await;
    shutdown.finish(Duration::from_secs(1)).await;
}

fn answer(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() == Method::GET && (path == "/metrics" || path == "/") {
        return metrics.response();
    }
    let mut r = Response::new(Full::new(Bytes::from_static(b"try GET /metrics\n")));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn scrapes_see_what_roles_registered() {
        let metrics = Metrics::new();
        let hits = Counter::<u64>::default();
        metrics.register("bigstep_test", |r| {
            r.register("hits", "Hits.", hits.clone())
        });
        hits.inc();
        let listener = crate::listener::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(metrics, listener, async {
            let _ = rx.await;
        }));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        assert!(body.contains("bigstep_test_hits_total 1"), "{body}");
        let _ = tx.send(());
        task.await.unwrap();
    }
}
