//! The accept loop every role runs: accept (with backoff), admit under the cap
//! or reject in the role's words, run the connection under the shutdown.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::limit::{Limit, Reject};
use crate::listener::Listener;
use crate::shutdown::{Drain, Shutdown};

/// A listener with its cap, its answer to clients over the cap, and its shutdown.
#[derive(Debug)]
pub struct Server {
    /// Where connections come from.
    pub listener: Listener,
    /// The connection cap.
    pub limit: Limit,
    /// What a client over the cap is told.
    pub reject: Reject,
    /// Connections run under this; the role calls [`Shutdown::finish`] after
    /// [`Server::accept_until`] returns.
    pub shutdown: Shutdown,
}

impl Server {
    /// Accepts until `stop` resolves, then drops the listener (new connections
    /// are refused from here on) and returns. For each admitted connection,
    /// `handler(stream, peer, drain)` gives the future that serves it; it runs
    /// on the shutdown's tracker, holding its place under the cap.
    pub async fn accept_until<S, H, F>(self, stop: S, mut handler: H)
    where
        S: Future<Output = ()>,
        H: FnMut(TcpStream, SocketAddr, Drain) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let Server {
            mut listener,
            limit,
            reject,
            shutdown,
        } = self;
        let mut stop = std::pin::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut stop => break,
                conn = listener.accept() => conn,
            };
            match limit.try_admit() {
                Some(permit) => {
                    let conn = handler(stream, peer, shutdown.drain());
                    shutdown.spawn_connection(Some(permit), conn);
                }
                None => {
                    tracing::debug!(%peer, max = limit.max(), "connection refused: at the cap");
                    let reject = reject.clone();
                    // Not tracked: bounded to about a second by `Reject::send`.
                    tokio::spawn(async move { reject.send(stream, peer).await });
                }
            }
        }
        drop(listener);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that echoes one line per connection and then waits for the drain.
    async fn start(max: usize) -> (SocketAddr, Shutdown, tokio::sync::oneshot::Sender<()>) {
        let listener = crate::listener::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.local_addr();
        let shutdown = Shutdown::new("test");
        let server = Server {
            listener,
            limit: Limit::new(max),
            reject: Reject::reply("busy\n"),
            shutdown: shutdown.clone(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.accept_until(
            async {
                let _ = rx.await;
            },
            |mut s, _, drain| async move {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = s.write_all(&buf[..n]).await;
                drain.draining().await;
            },
        ));
        (addr, shutdown, tx)
    }

    #[tokio::test]
    async fn over_the_cap_a_client_gets_the_reject_answer() {
        let (addr, shutdown, stop) = start(1).await;
        let mut a = TcpStream::connect(addr).await.unwrap();
        a.write_all(b"hi\n").await.unwrap();
        let mut buf = [0u8; 3];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi\n");
        let mut b = TcpStream::connect(addr).await.unwrap();
        b.write_all(b"hello\n").await.unwrap();
        let mut answer = String::new();
        b.read_to_string(&mut answer).await.unwrap();
        assert_eq!(answer, "busy\n");
        assert_eq!(shutdown.open_connections(), 1);
        let _ = stop.send(());
        let report = shutdown.finish(Duration::from_secs(5)).await;
        assert_eq!(
            (report.open_at_stop, report.finished, report.cut),
            (1, 1, 0)
        );
    }

    #[tokio::test]
    async fn after_stop_new_connections_are_refused() {
        let (addr, shutdown, stop) = start(10).await;
        let _ = stop.send(());
        // Poll until the listener is gone (no sleep guessing how long that takes).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "still accepting");
            tokio::task::yield_now().await;
        }
        let report = shutdown.finish(Duration::from_secs(1)).await;
        assert_eq!(report.cut, 0);
    }
}
