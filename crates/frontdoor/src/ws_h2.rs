//! WebSocket over HTTP/2 (RFC 8441): an extended CONNECT with
//! `:protocol = websocket` from an HTTP/2 client becomes an HTTP/1.1 upgrade
//! (`GET` + `Upgrade: websocket`) to the chosen server, through the one proxy
//! path. The server's `101` becomes the client's `200`, and the h2 stream's
//! data is then tunnelled both ways to the upgraded server socket.
//!
//! The HTTP/2 side carries no `Sec-WebSocket-Key` and no
//! `Sec-WebSocket-Accept` (RFC 8441 §5): we make up the key the server needs
//! and check the accept it answers, so a server (or a cache in between) that
//! did not really switch to WebSocket cannot become a tunnel.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use sha1::Digest as _;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::body::ResponseBody;
use crate::conn::Phase;
use crate::error::{ErrorKind, ProxyError};
use crate::pool::Connection;
use crate::Shared;

/// RFC 6455 §1.3: appended to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` a server must answer to the key we sent.
#[derive(Debug)]
pub(crate) struct Expected(HeaderValue);

/// Turn an HTTP/2 CONNECT into the HTTP/1.1 request a WebSocket server
/// expects, in place. `Ok(None)`: a plain CONNECT (no `:protocol`), left as it
/// is for the usual rules to judge. Another `:protocol` than `websocket` is
/// refused (501): we tunnel nothing else.
pub(crate) fn to_upgrade(parts: &mut Parts) -> Result<Option<Expected>, ProxyError> {
    let Some(protocol) = parts.extensions.remove::<hyper::ext::Protocol>() else {
        return Ok(None);
    };
    if !protocol.as_str().eq_ignore_ascii_case("websocket") {
        return Err(ProxyError::with_detail(
            ErrorKind::UnsupportedProtocol,
            format!("extended CONNECT for :protocol {:?}", protocol.as_str()),
        ));
    }
    let mut nonce = [0u8; 16];
    crate::upstream_tls::provider()
        .secure_random
        .fill(&mut nonce)
        .map_err(|_| ProxyError::with_detail(ErrorKind::NoServer, "no randomness for a key"))?;
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let expected = accept_for(key.as_bytes());
    parts.method = Method::GET;
    let h = &mut parts.headers;
    // `Connection` and `Upgrade` are forbidden in HTTP/2: anything here came
    // from no client; ours replace it.
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_KEY,
        HeaderValue::from_str(&key).expect("base64 is a header value"),
    );
    // RFC 8441 §5 keeps `sec-websocket-version` (and protocol, extensions)
    // on the HTTP/2 side; a client that left it out gets the only version.
    h.entry(header::SEC_WEBSOCKET_VERSION)
        .or_insert(HeaderValue::from_static("13"));
    Ok(Some(Expected(expected)))
}

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
fn accept_for(key: &[u8]) -> HeaderValue {
    let mut sha = sha1::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    HeaderValue::from_str(&accept).expect("base64 is a header value")
}

/// What became of the server's answer to a WebSocket upgrade.
pub(crate) enum Answer {
    /// It switched protocols with the right accept: the client gets `200` and a tunnel.
    Tunnel,
    /// It answered without switching (a 403, a 404…): the client gets that answer.
    Plain,
    /// It claimed to switch (or answered 2xx) without the accept our key asks
    /// for: the client gets this error instead.
    Refused(ProxyError),
}

/// Turn the server's answer into the HTTP/2 client's: `101` → `200` without
/// the HTTP/1.1 upgrade headers; check the accept. `switched`: the proxy made
/// a tunnel of the server's connection.
pub(crate) fn answer(
    resp: &mut Response<ResponseBody>,
    switched: bool,
    expected: &Expected,
) -> Answer {
    if !switched {
        // A 2xx to an extended CONNECT means "tunnel open" (RFC 8441 §5).
        return if resp.status().is_success() {
            Answer::Refused(ProxyError::with_detail(
                ErrorKind::WebSocketRefused,
                format!(
                    "the server answered {} to a WebSocket upgrade",
                    resp.status()
                ),
            ))
        } else {
            Answer::Plain
        };
    }
    let h = resp.headers_mut();
    if h.get(header::SEC_WEBSOCKET_ACCEPT) != Some(&expected.0) {
        return Answer::Refused(ProxyError::with_detail(
            ErrorKind::WebSocketRefused,
            "the server's Sec-WebSocket-Accept does not match our key",
        ));
    }
    for name in [
        header::SEC_WEBSOCKET_ACCEPT,
        header::CONNECTION,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
    ] {
        h.remove(name);
    }
    *resp.status_mut() = StatusCode::OK;
    Answer::Tunnel
}

/// Once the engine has sent the `200`, copy the h2 stream (`client`, once it
/// resolves) to the server's socket and back until either side ends. Its own
/// task: the connection keeps serving other streams meanwhile; the stream
/// counts as busy until the tunnel ends. Both HTTP/2 engines come here:
/// hyper's with its upgraded stream, ours (`h2_conn`) with `h2_tunnel`'s.
pub(crate) fn spawn_tunnel<C, E>(
    shared: &Arc<Shared>,
    client: impl Future<Output = Result<C, E>> + Send + 'static,
    upstream: Box<Connection>,
    idle: Duration,
    phase: Arc<Phase>,
) where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let shared2 = shared.clone();
    shared.tasks.spawn(async move {
        match client.await {
            Ok(stream) => {
                shared2.metrics.http2_websockets.inc();
                crate::tunnel::run(&shared2, stream, upstream, idle).await;
            }
            Err(e) => {
                tracing::debug!(target: "bigstep::proxy", error = %e, "HTTP/2 WebSocket stream ended before the tunnel opened");
            }
        }
        phase.idle();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matches_rfc_6455_example() {
        // RFC 6455 §1.3's worked example.
        assert_eq!(
            accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn connect(protocol: Option<&'static str>) -> Parts {
        let mut req = http::Request::connect("https://app.test/chat")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        if let Some(p) = protocol {
            req.extensions_mut()
                .insert(hyper::ext::Protocol::from_static(p));
        }
        req.into_parts().0
    }

    #[test]
    fn websocket_connect_becomes_an_http1_upgrade_with_a_fresh_key() {
        let mut a = connect(Some("websocket"));
        let mut b = connect(Some("websocket"));
        let ea = to_upgrade(&mut a).unwrap().unwrap();
        let eb = to_upgrade(&mut b).unwrap().unwrap();
        assert_eq!(a.method, Method::GET);
        assert_eq!(a.headers["upgrade"], "websocket");
        assert_eq!(a.headers["connection"], "upgrade");
        let key = a.headers["sec-websocket-key"].clone();
        assert_eq!(key.len(), 24);
        assert_ne!(key, b.headers["sec-websocket-key"], "keys are random");
        assert_eq!(ea.0, accept_for(key.as_bytes()));
        assert_ne!(ea.0, eb.0);
    }

    #[test]
    fn plain_connect_is_left_alone_and_other_protocols_refused() {
        let mut plain = connect(None);
        assert!(to_upgrade(&mut plain).unwrap().is_none());
        assert_eq!(plain.method, Method::CONNECT);
        let err = to_upgrade(&mut connect(Some("connect-udp"))).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_IMPLEMENTED);
    }

    #[test]
    fn only_the_right_accept_opens_the_tunnel() {
        let mut parts = connect(Some("websocket"));
        let expected = to_upgrade(&mut parts).unwrap().unwrap();
        let switched = |accept: &HeaderValue| {
            let mut r = Response::new(ResponseBody::empty());
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut()
                .insert("upgrade", HeaderValue::from_static("websocket"));
            r.headers_mut()
                .insert("sec-websocket-accept", accept.clone());
            r
        };
        let mut good = switched(&expected.0);
        assert!(matches!(answer(&mut good, true, &expected), Answer::Tunnel));
        assert_eq!(good.status(), StatusCode::OK);
        assert!(good.headers().get("upgrade").is_none());
        assert!(good.headers().get("sec-websocket-accept").is_none());
        let mut bad = switched(&HeaderValue::from_static("bm9wZQ=="));
        assert!(matches!(
            answer(&mut bad, true, &expected),
            Answer::Refused(_)
        ));
        let mut ok200 = Response::new(ResponseBody::empty());
        assert!(matches!(
            answer(&mut ok200, false, &expected),
            Answer::Refused(_)
        ));
        let mut forbidden = Response::new(ResponseBody::empty());
        *forbidden.status_mut() = StatusCode::FORBIDDEN;
        assert!(matches!(
            answer(&mut forbidden, false, &expected),
            Answer::Plain
        ));
    }
}
