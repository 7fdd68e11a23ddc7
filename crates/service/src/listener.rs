//! Binding a listening socket and accepting from it without ever spinning.
//!
//! [`bind`] sets `SO_REUSEADDR` (a restarted server can bind while old
//! connections sit in `TIME_WAIT`) and an explicit backlog. [`Listener::accept`]
//! never returns an error: a failure that belongs to one connection (the client
//! reset before we accepted it) is skipped at once, because the queue moved on;
//! a failure that will repeat until something changes — out of file
//! descriptors (`EMFILE`, `ENFILE`), out of memory or buffers, anything unknown —
//! waits, doubling from 10 ms to 1 s, because retrying at once would burn a core
//! while the same connection stays queued. The backoff resets on the next success.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Default listen backlog: the kernel caps it at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// Binds `addr` with `SO_REUSEADDR` and `backlog` (port 0 picks a free port).
/// Must be called inside a tokio runtime.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Listener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(Listener::new(TcpListener::from_std(socket.into())?))
}

/// Binds `n` (at least one) listening sockets to `addr` with `SO_REUSEPORT` as
/// well, for a server with an accept loop per thread: the kernel spreads new
/// connections over the sockets, and a connection stays with the thread whose
/// socket took it. With port 0 the first socket picks the port and the others
/// share it. A port another process already listens on is refused
/// (`EADDRINUSE`), as [`bind`] would. Needs no runtime: each thread registers
/// its socket with its own (`tokio::net::TcpListener::from_std`, then
/// [`Listener::new`]).
pub fn bind_shared(
    addr: SocketAddr,
    backlog: u32,
    n: usize,
) -> io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        // `SO_REUSEPORT` would let these sockets join another server of the
        // same user already listening here, and share its traffic in silence.
        // A plain bind fails on a port that is listened on: then say so.
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        probe.set_reuse_address(true)?;
        probe.bind(&addr.into())?;
        drop(probe);
    }
    let mut addr = addr;
    let mut out = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// A bound listener whose [`accept`](Listener::accept) backs off on errors.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    local: SocketAddr,
    backoff: Backoff,
}

impl Listener {
    /// Wraps a listener bound elsewhere (tests, or a socket handed over).
    pub fn new(inner: TcpListener) -> Listener {
        let local = inner
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Listener {
            inner,
            local,
            backoff: Backoff::default(),
        }
    }

    /// The address really bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection. Errors are logged and waited out (see the module doc).
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let inner = &self.inner;
        accept_with(&mut self.backoff, || inner.accept()).await
    }
}

/// What an accept error means for the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Belongs to one connection that is gone now: try the next one at once.
    Connection,
    /// Will repeat until resources free up (or is unknown): wait before retrying.
    Persistent,
}

/// Sorts an accept error into a [`Fault`].
pub fn classify(e: &io::Error) -> Fault {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock => Fault::Connection,
        // EPROTO and EPERM (a firewall rule) also concern only the connection at hand.
        _ if matches!(e.raw_os_error(), Some(71) | Some(1)) => Fault::Connection,
        _ => Fault::Persistent,
    }
}

/// The wait between accept attempts after persistent errors: 10 ms doubling to 1 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    /// Errors seen since the last success (for the log).
    failures: u64,
}

impl Backoff {
    /// First wait after a persistent error.
    pub const MIN: Duration = Duration::from_millis(10);
    /// Longest wait.
    pub const MAX: Duration = Duration::from_secs(1);

    /// How long to wait after `e` (`None`: retry now), and grow the next wait.
    pub fn on_error(&mut self, e: &io::Error) -> Option<Duration> {
        self.failures += 1;
        match classify(e) {
            Fault::Connection => None,
            Fault::Persistent => {
                let wait = self.next;
                self.next = (self.next * 2).min(Self::MAX);
                Some(wait)
            }
        }
    }

    /// A connection was accepted: start again from the shortest wait.
    pub fn on_success(&mut self) {
        self.next = Self::MIN;
        self.failures = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Self::MIN,
            failures: 0,
        }
    }
}

/// The accept loop over any `accept` function: retries until it yields a
/// connection, waiting per [`Backoff`]. Generic so tests can feed it errors.
pub async fn accept_with<T, F, Fut>(backoff: &mut Backoff, mut accept: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    loop {
        match accept().await {
            Ok(conn) => {
                backoff.on_success();
                return conn;
            }
            Err(e) => match backoff.on_error(&e) {
                None => {
                    tracing::debug!(error = %e, "accept: connection gone before it was accepted")
                }
                Some(wait) => {
                    // Once per doubling is enough: at 1 s this logs once a second.
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = wait.as_millis() as u64,
                        failures = backoff.failures,
                        "accept failed (out of file descriptors?); backing off"
                    );
                    tokio::time::sleep(wait).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio::time::Instant;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[test]
    fn bind_shared_refuses_a_port_another_server_listens_on() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = bind_shared(any, 16, 2).unwrap();
        let addr = first[0].local_addr().unwrap();
        assert_eq!(first[1].local_addr().unwrap(), addr, "one port for all");
        // A second server with SO_REUSEPORT would be let in by the kernel.
        let err = bind_shared(addr, 16, 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let plain = std::net::TcpListener::bind(any).unwrap();
        let err = bind_shared(plain.local_addr().unwrap(), 16, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // Once the first server is gone the port binds again.
        drop(first);
        assert_eq!(bind_shared(addr, 16, 3).unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn emfile_backs_off_doubling_to_a_cap_then_resets() {
        let calls = Cell::new(0u32);
        let mut backoff = Backoff::default();
        let start = Instant::now();
        // Twelve EMFILEs, then a connection.
        let got = accept_with(&mut backoff, || {
            let n = calls.get();
            calls.set(n + 1);
            async move {
                if n < 12 {
                    Err(emfile())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got, 12);
        // 10+20+40+...+640 ms (7 waits) then 1 s five times: no hot loop.
        let expected: u64 = (0..7).map(|i| 10u64 << i).sum::<u64>() + 5 * 1000;
        assert_eq!(start.elapsed(), Duration::from_millis(expected));
        assert_eq!(backoff.next, Backoff::MIN, "reset after a success");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_gone_before_accept_is_skipped_without_waiting() {
        let calls = Cell::new(0u32);
        let mut backoff = Backoff::default();
        let start = Instant::now();
        let got = accept_with(&mut backoff, || {
            let n = calls.get();
            calls.set(n + 1);
            async move {
                if n < 3 {
                    Err(io::Error::from(io::ErrorKind::ConnectionAborted))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got, 3);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn classification() {
        assert_eq!(classify(&emfile()), Fault::Persistent);
        assert_eq!(
            classify(&io::Error::from_raw_os_error(23)),
            Fault::Persistent
        ); // ENFILE
        assert_eq!(
            classify(&io::Error::from_raw_os_error(105)),
            Fault::Persistent
        ); // ENOBUFS
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::ConnectionReset)),
            Fault::Connection
        );
    }

    #[tokio::test]
    async fn shared_sockets_take_one_port_and_all_accept() {
        let socks = bind_shared("127.0.0.1:0".parse().unwrap(), 16, 3).unwrap();
        let addr = socks[0].local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let mut ls = Vec::new();
        for s in socks {
            assert_eq!(s.local_addr().unwrap(), addr);
            ls.push(Listener::new(TcpListener::from_std(s).unwrap()));
        }
        let [a, b, c] = &mut ls[..] else {
            unreachable!("three sockets")
        };
        // Each connection is accepted by one of the sockets (which one is the
        // kernel's choice).
        for _ in 0..6 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (_s, peer) = tokio::select! {
                conn = a.accept() => conn,
                conn = b.accept() => conn,
                conn = c.accept() => conn,
            };
            assert_eq!(peer, client.local_addr().unwrap());
        }
    }

    #[tokio::test]
    async fn bind_reuses_the_address_and_accepts() {
        let mut l = bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = l.local_addr();
        assert_ne!(addr.port(), 0);
        let c = TcpStream::connect(addr).await.unwrap();
        let (_s, peer) = l.accept().await;
        assert_eq!(peer, c.local_addr().unwrap());
    }
}
