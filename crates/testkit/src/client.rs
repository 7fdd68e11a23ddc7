//! Small clients: one HTTP request per connection through hyper, and raw bytes
//! over TCP for what well-behaved clients never send.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A complete response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Send `req` on a fresh connection to `addr`; 10 s limit.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Resp, String> {
    let run = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let resp = tx.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// GET `path` from `addr`.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Resp, String> {
    let req = Request::get(path)
        .header("host", "site.test")
        .body(Full::new(Bytes::new()))
        .expect("request");
    send(addr, req).await
}

/// Write `bytes`, then read until the peer closes or `wait` passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_until_close(&mut s, wait).await
}

/// Read until EOF or `wait` passes; returns what arrived.
pub async fn read_until_close(s: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// GET `path` `n` times on fresh connections and count the answers by their
/// `x-backend` header. Every answer must be a 200.
pub async fn spread(
    addr: SocketAddr,
    n: usize,
    path: &str,
) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for _ in 0..n {
        let r = get(addr, path)
            .await
            .expect("request through the front door");
        assert_eq!(r.status, 200, "body: {}", r.text());
        *seen
            .entry(r.header("x-backend").unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    seen
}

/// Like [`spread`] on `/`, but only 200s are counted (while health settles).
pub async fn spread_ok(addr: SocketAddr, n: usize) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for _ in 0..n {
        if let Ok(r) = get(addr, "/").await {
            if r.status == 200 {
                *seen
                    .entry(r.header("x-backend").unwrap_or("?").to_string())
                    .or_insert(0) += 1;
            }
        }
    }
    seen
}
