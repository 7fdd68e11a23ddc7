//! Test-only helpers: real backend HTTP servers with scriptable behaviour, the
//! real `bigstep` binary started on port 0, and small clients. Everything binds
//! 127.0.0.1 and is bounded in time; nothing touches the network.

#![forbid(unsafe_code)]
#![allow(unreachable_pub)]

pub mod backend;
pub mod client;
pub mod process;

use std::time::{Duration, Instant};

/// Poll `cond` until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port on 127.0.0.1 that refuses connections (bound, then released).
pub fn closed_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}
