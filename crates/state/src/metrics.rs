//! Prometheus metrics over a tiny HTTP endpoint (`GET /metrics`), text format.
//!
//! Hand-written exposition: every figure already lives in the store, read under
//! the lock at scrape time, so there is nothing to register or keep in sync.

use std::fmt::Write as _;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::server::Shared;

/// Renders the current metrics.
pub(crate) fn render(shared: &Shared) -> String {
    let s = shared.lock();
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP bigstep_state_{name} {help}");
        let _ = writeln!(out, "# TYPE bigstep_state_{name} {kind}");
        for (labels, v) in lines {
            let _ = writeln!(out, "bigstep_state_{name}{labels} {v}");
        }
    };
    let one = |v: u64| vec![(String::new(), v)];
    metric(
        "connected_clients",
        "gauge",
        "Connected clients.",
        &one(s.clients.len() as u64),
    );
    metric(
        "blocked_clients",
        "gauge",
        "Clients blocked in BLPOP and friends.",
        &one(s.blocked.len() as u64),
    );
    metric(
        "commands_total",
        "counter",
        "Commands processed.",
        &one(s.stats.commands),
    );
    metric(
        "connections_total",
        "counter",
        "Connections accepted.",
        &one(s.stats.connections),
    );
    metric(
        "rejected_connections_total",
        "counter",
        "Connections refused (protected mode, maxclients).",
        &one(s.stats.rejected),
    );
    metric(
        "expired_keys_total",
        "counter",
        "Keys removed by expiry.",
        &one(s.stats.expired),
    );
    metric(
        "evicted_keys_total",
        "counter",
        "Keys evicted by maxmemory.",
        &one(s.stats.evicted),
    );
    metric(
        "keyspace_hits_total",
        "counter",
        "GET hits.",
        &one(s.stats.hits),
    );
    metric(
        "keyspace_misses_total",
        "counter",
        "GET misses.",
        &one(s.stats.misses),
    );
    let keys: Vec<(String, u64)> = s
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.keys.is_empty())
        .map(|(i, d)| (format!("{{db=\"{i}\"}}"), d.keys.len() as u64))
        .collect();
    metric("keys", "gauge", "Keys per database.", &keys);
    metric(
        "pubsub_channels",
        "gauge",
        "Channels with subscribers.",
        &one(s.channels.len() as u64),
    );
    metric(
        "pubsub_patterns",
        "gauge",
        "Subscribed patterns.",
        &one(s.patterns.len() as u64),
    );
    metric(
        "used_memory_bytes",
        "gauge",
        "Estimated data memory (tracked when maxmemory is set).",
        &one(s.used_memory as u64),
    );
    metric(
        "maxmemory_bytes",
        "gauge",
        "Configured maxmemory (0 = none).",
        &one(s.cfg.maxmemory),
    );
    metric(
        "resident_memory_bytes",
        "gauge",
        "Process RSS.",
        &one(crate::evict::rss_bytes()),
    );
    metric(
        "aof_size_bytes",
        "gauge",
        "Append-only log size.",
        &one(s.aof_current_size),
    );
    metric(
        "changes_total",
        "counter",
        "Keyspace changes since start.",
        &one(s.dirty),
    );
    out
}

/// Serves `GET /metrics` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            // Read the request head (bounded), then answer and close.
            while n < buf.len() {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sock.read(&mut buf[n..]),
                )
                .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                    Ok(Ok(k)) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let ok = head.starts_with("GET /metrics ") || head.starts_with("GET / ");
            let (status, body) = if ok {
                ("200 OK", render(&shared))
            } else {
                ("404 Not Found", "try GET /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
