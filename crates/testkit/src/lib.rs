//! Test-only helpers: real backend HTTP servers with scriptable behaviour, the
//! real `bigstep` binary started on port 0, and small clients. Everything binds
//! 127.0.0.1 and is bounded in time; nothing touches the network.

#![forbid(unsafe_code)]
#![allow(unreachable_pub)]

pub mod backend;
pub mod browser;
pub mod client;
pub mod h2backend;
pub mod metrics;
pub mod process;
pub mod store;
pub mod tls;
pub mod tmp;

pub use tmp::TempDir;

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

/// An address that swallows connection attempts, like a firewalled host: a
/// listener that never accepts, with its accept queue already full, so the
/// kernel drops further SYNs and `connect` hangs until the caller gives up.
pub struct Blackhole {
    /// Where to point a server entry.
    pub addr: std::net::SocketAddr,
    _listener: tokio::net::TcpListener,
    _queued: Vec<tokio::net::TcpStream>,
}

impl Blackhole {
    /// Binds 127.0.0.1:0 with a backlog of 0 and fills the queue.
    pub async fn new() -> Blackhole {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = sock.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let mut queued = Vec::new();
        loop {
            let attempt = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(300), attempt).await {
                Ok(Ok(s)) => queued.push(s),
                // Timed out: the queue is full and SYNs are being dropped.
                Err(_) => break,
                Ok(Err(e)) => panic!("blackhole: connect failed instead of hanging: {e}"),
            }
            assert!(
                queued.len() < 64,
                "blackhole: the accept queue never filled"
            );
        }
        Blackhole {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }
}
