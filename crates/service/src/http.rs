//! HTTP/1 connections under the skeleton's drain: one way for every HTTP role
//! (the front door, the files server, `/metrics`) to finish the exchange in
//! progress and close when shutdown begins.

use std::future::Future;
use std::pin::Pin;

use hyper::body::{Body, Incoming};
use hyper::rt::{Read, Write};
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;

use crate::shutdown::Drain;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTP connection that can be told to close after the exchange in progress.
pub trait Graceful: Future<Output = hyper::Result<()>> {
    /// Close once the response in progress is sent (at once when idle).
    fn close_when_idle(self: Pin<&mut Self>);
}

impl<I, B, S> Graceful for http1::Connection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    fn close_when_idle(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, B, S> Graceful for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    fn close_when_idle(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, B, S, E> Graceful for http2::Connection<I, S, E>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    /// Sends GOAWAY: streams in progress finish, no new ones start.
    fn close_when_idle(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Serves `conn` until it ends. When `drain` fires it is asked to close after
/// the response in progress (an idle keep-alive connection closes at once), and
/// awaited; past the grace the skeleton drops it, which closes the socket.
pub async fn serve_until_drained<C: Graceful>(conn: C, drain: Drain) -> hyper::Result<()> {
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        () = drain.draining() => {
            conn.as_mut().close_when_idle();
            conn.await
        }
    }
}
