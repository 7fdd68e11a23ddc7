//! Upgraded connections (WebSocket and friends): once both sides have switched
//! protocols, bytes are copied both ways until either side closes or nothing
//! moves for `timeouts.tunnel_idle`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::now_ms;
use crate::pool::Connection;
use crate::upstream_body::TunnelIo;
use crate::Shared;

/// A server's connection handed to the client's task after a 101: our HTTP/1
/// core finds it in the response's extensions, writes the 101 and runs the
/// tunnel itself.
#[derive(Clone)]
pub(crate) struct TunnelHandoff(Arc<std::sync::Mutex<Option<Handoff>>>);

/// The server's side of a tunnel and its idle timeout.
type Handoff = (Box<Connection>, Duration);

impl TunnelHandoff {
    pub(crate) fn new(upstream: Box<Connection>, idle: Duration) -> Self {
        TunnelHandoff(Arc::new(std::sync::Mutex::new(Some((upstream, idle)))))
    }

    /// The server's connection and the tunnel's idle timeout (once).
    pub(crate) fn take(&self) -> Option<Handoff> {
        self.0.lock().ok()?.take()
    }
}

/// Copy bytes both ways between the client and the server until either side
/// closes, nothing moves for `idle`, or the shutdown's hard deadline comes.
/// Runs on the client connection's own task.
pub(crate) async fn run<C>(
    shared: &Arc<Shared>,
    client: C,
    upstream: Box<Connection>,
    idle: Duration,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let stop = shared.hard_stop.clone();
    let last = Arc::new(AtomicU64::new(now_ms()));
    let mut client = Activity {
        inner: client,
        last: last.clone(),
    };
    let mut upstream = Activity {
        inner: TunnelIo::new(upstream),
        last: last.clone(),
    };
    let watchdog = async {
        loop {
            let quiet = Duration::from_millis(now_ms().saturating_sub(last.load(Relaxed)));
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        res = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = res {
                tracing::debug!(target: "bigstep::proxy", error = %e, "tunnel ended with an error");
            }
        }
        () = watchdog => tracing::debug!(target: "bigstep::proxy", "tunnel closed after idle timeout"),
        () = stop.cancelled() => tracing::debug!(target: "bigstep::proxy", "tunnel closed at shutdown deadline"),
    }
}

/// Marks the shared clock on every read, so the watchdog sees traffic either way.
struct Activity<T> {
    inner: T,
    last: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.store(now_ms(), Relaxed);
        }
        res
    }
}

// Writes are forwarded whole (vectored ones too): activity is marked on reads.
service::forward_async_write!(impl[T: AsyncWrite + Unpin] Activity<T>, inner);
