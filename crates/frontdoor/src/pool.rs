//! Upstream connections, pooled per server.
//!
//! We keep our own small pool instead of hyper-util's `Client` because the proxy
//! must know *where* a request failed: a failed connect, or a pooled connection
//! that turned out closed before the request was written, leaves the request
//! untouched and safe to send elsewhere — even a POST with a streaming body.
//! hyper's `try_send_request` hands the unsent request back for exactly that.

use std::sync::Mutex;
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::error::{ErrorKind, ProxyError};

pub(crate) type Sender = SendRequest<RequestBody>;

struct Idle {
    sender: Sender,
    since: Instant,
}

/// Idle connections to one server, most recently used last (LIFO keeps few warm).
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    pub(crate) fn new() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection that is not known to be closed. The caller still awaits
    /// `ready()`, and `try_send_request` catches one that closed in the meantime.
    pub(crate) fn take_idle(&self, idle_timeout: Duration) -> Option<Sender> {
        let mut idle = self.idle.lock().expect("pool lock");
        while let Some(conn) = idle.pop() {
            if !conn.sender.is_closed() && conn.since.elapsed() < idle_timeout {
                return Some(conn.sender);
            }
            // Closed or stale: dropping the sender lets its connection task end.
        }
        None
    }

    /// Return a connection whose last response ended cleanly.
    pub(crate) fn put(&self, sender: Sender, max_idle: usize) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < max_idle {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Drop connections idle longer than `idle_timeout` (called periodically).
    pub(crate) fn evict_stale(&self, idle_timeout: Duration) {
        let mut idle = self.idle.lock().expect("pool lock");
        idle.retain(|c| !c.sender.is_closed() && c.since.elapsed() < idle_timeout);
    }

    pub(crate) fn clear(&self) {
        self.idle.lock().expect("pool lock").clear();
    }
}

/// Open a new HTTP/1.1 connection to `address`.
pub(crate) async fn connect(address: &str, timeout: Duration) -> Result<Sender, ProxyError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => {
            return Err(ProxyError::with_detail(
                ErrorKind::ConnectTimeout,
                address.to_string(),
            ))
        }
        Ok(Err(e)) => {
            return Err(ProxyError::with_detail(
                ErrorKind::ConnectFailed,
                format!("{address}: {e}"),
            ))
        }
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProxyError::with_detail(ErrorKind::ConnectFailed, e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
