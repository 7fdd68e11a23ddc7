//! Active health checks: one task per server sends `GET path` every `interval`
//! over a fresh connection (TLS for a `tls = true` server; HTTP/2 for an
//! `h2c`/`h2` server, in the protocol it serves) and moves the
//! server between up and down with rise/fall hysteresis (see
//! [`Server::record_check`]), so one lost probe never flips a server. Passive
//! health lives in the proxy (real request failures).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use crate::config::HealthCheck;
use crate::upstream::{Health, Server};
use crate::Shared;

/// Run checks for `server` until it leaves the configuration or the process stops.
pub(crate) fn spawn(shared: &Arc<Shared>, server: Arc<Server>) {
    let stop = shared.stop.clone();
    let weak_shared = Arc::downgrade(shared);
    shared.tasks.spawn(async move {
        // Spread the first probes of many servers over one interval.
        let jitter = Duration::from_millis(u64::from(server.id.len() as u32 * 7) % 100);
        tokio::time::sleep(jitter).await;
        loop {
            // Read the check settings afresh each round, so a reload that changes
            // them applies to servers it kept. The pool's own, else [balance]'s.
            let Some(check) = weak_shared.upgrade().and_then(|s| {
                let snap = s.snapshot.load();
                snap.pool_of(&server).and_then(|p| p.config.health.clone())
            }) else {
                return;
            };
            let passed = probe(&server, &check).await;
            let Some(shared) = weak_shared.upgrade() else { return };
            if let Some(new) = server.record_check(passed.is_ok(), check.rise, check.fall) {
                shared.metrics.health_transitions.inc();
                match (&new, &passed) {
                    (Health::Up, _) => tracing::info!(target: "bigstep::health", server = %server.id, "server is up"),
                    (_, Err(why)) => tracing::warn!(target: "bigstep::health", server = %server.id, reason = %why, "server is down"),
                    _ => {}
                }
                if new == Health::Down {
                    server.drop_connections();
                }
            }
            if passed.is_ok() {
                server.forgive_ejections();
            }
            if !shared.is_current(&server) {
                return;
            }
            drop(shared);
            tokio::select! {
                () = tokio::time::sleep(check.interval) => {}
                () = stop.cancelled() => return,
            }
        }
    });
}

async fn probe(server: &Server, check: &HealthCheck) -> Result<(), String> {
    let run = async {
        // Over TLS when the server says so: a probe proves the handshake too.
        let stream = crate::upstream_tls::dial(&server.address, server.tls.as_deref())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let path = server.health_path.as_deref().unwrap_or(&check.path);
        // A server reached by a name it was told to expect knows itself by it.
        let host = server
            .tls
            .as_ref()
            .and_then(|t| t.explicit_name())
            .unwrap_or(&server.address);
        let resp = if server.protocol.is_http2() {
            if server.tls.is_some() && !stream.negotiated_h2() {
                return Err("the server did not choose HTTP/2 (ALPN h2)".into());
            }
            let (mut sender, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
                hyper_util::rt::TokioExecutor::new(),
                TokioIo::new(stream),
            )
            .await
            .map_err(|e| format!("handshake: {e}"))?;
            let conn = tokio::spawn(conn);
            let scheme = if server.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let req = Request::get(format!("{scheme}://{host}{path}"))
                .header(header::USER_AGENT, "bigstep-health-check")
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"));
            conn.abort();
            resp?
        } else {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
            let conn = tokio::spawn(conn);
            let req = Request::get(path)
                .header(header::HOST, host)
                .header(header::USER_AGENT, "bigstep-health-check")
                .header(header::CONNECTION, "close")
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            conn.abort();
            resp
        };
        let status = resp.status().as_u16();
        if check.expect_status.contains(status) {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    };
    match tokio::time::timeout(check.timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("no response within {:?}", check.timeout)),
    }
}
