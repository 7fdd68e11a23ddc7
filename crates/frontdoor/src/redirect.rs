//! The plain listener when TLS is on and `redirect_http` is set: every request
//! gets a 308 to the same host, path and query over HTTPS, except ACME HTTP-01
//! challenges, which must be answered over plain HTTP.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};
use tokio::net::TcpStream;

use crate::body::{RequestBody, ResponseBody};
use crate::Shared;

/// Where ACME HTTP-01 challenge tokens are asked for (RFC 8555 §8.3).
pub(crate) const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Serve one plain connection with redirects until it ends (on the same
/// HTTP/1 core as the proxy).
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    drain: service::Drain,
) {
    let redirect = Redirect(shared.clone());
    crate::client_conn::serve(shared.clone(), peer, redirect, stream, drain).await;
}

struct Redirect(Arc<Shared>);

impl crate::client_conn::Handler for Redirect {
    fn handle<'a>(
        &'a self,
        parts: Parts,
        _body: RequestBody<'a>,
        _upgrade: bool,
    ) -> Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send + 'a>> {
        let resp = answer(&self.0, &parts);
        self.0.metrics.record(resp.status().as_u16(), true);
        self.0.metrics.redirects.inc();
        // A body is never read: the core closes a connection whose request
        // body was left, so none of it is taken for the next request.
        Box::pin(std::future::ready(resp))
    }
}

fn answer(shared: &Shared, req: &Parts) -> Response<ResponseBody> {
    let path = req.uri.path();
    if let Some(token) = path.strip_prefix(ACME_CHALLENGE_PREFIX) {
        return match shared.acme_http01(token) {
            Some(key_authorization) => plain(StatusCode::OK, key_authorization),
            None => plain(StatusCode::NOT_FOUND, "no such ACME challenge\n".into()),
        };
    }
    let snap = shared.snapshot.load();
    let Some(tls) = &snap.config.tls else {
        return plain(StatusCode::MISDIRECTED_REQUEST, "no TLS listener\n".into());
    };
    let host = req
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host());
    let Some(host) = host.map(strip_port).filter(|h| !h.is_empty()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "a Host header is needed to redirect to HTTPS\n".into(),
        );
    };
    let port = tls.https_port.unwrap_or(tls.listen.port());
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let pq = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{pq}");
    let mut resp = plain(
        StatusCode::PERMANENT_REDIRECT,
        format!("Moved to {location}\n"),
    );
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => plain(StatusCode::BAD_REQUEST, "bad Host header\n".into()),
    }
}

/// `example.com:80` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

fn plain(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
