//! Thread per core: the files server on several threads, each running its own
//! current-thread tokio runtime and accepting from its own listening socket on
//! the one address (`SO_REUSEPORT`, [`service::listener::bind_shared`]: the
//! kernel spreads new connections over the sockets), started by the
//! skeleton's [`service::threads::Workers`] as the front door's are.
//!
//! Why: on a multi-thread runtime the thread that sees a socket become ready,
//! and the one that runs the task serving it, are often not the same, and
//! waking a parked worker is a context switch. The 64 KiB GET profile put 18 %
//! of the server's CPU there (BENCHMARKS.md, "Shared files"), where nginx's
//! worker never hands a request to another thread. Here a connection lives and
//! ends on the thread that accepted it. Blocking work (the store's writes and
//! fsyncs) still goes to each runtime's blocking pool.
//!
//! What the threads share: the store, the metrics, the connection cap and the
//! shutdown (one drain, one grace for all connections). The lifecycle sweeper
//! and the shutdown's bookkeeping run on the caller's runtime.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::server::{serve_connection, slow_down, sweep_forever, FilesServer, ServeError};

impl FilesServer {
    /// Serves with one thread per listener (see the module doc) until
    /// `shutdown` resolves, then stops accepting on all of them and gives
    /// requests in flight the configured grace before cutting them. Call it
    /// inside a runtime (any flavour); it returns when every thread has ended.
    pub async fn serve_threads(
        self,
        listeners: Vec<std::net::TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let FilesServer {
            app,
            lifecycle_day,
            max_connections,
            grace,
        } = self;
        let limit = service::Limit::new(max_connections);
        let sd = service::Shutdown::new("files");
        // Stop accepting on every thread; their runtimes end after the drain.
        let stop = CancellationToken::new();
        let serving = {
            let (app, limit, sd) = (app.clone(), limit.clone(), sd.clone());
            service::threads::Workers::spawn("files", listeners, stop.clone(), move |l, stop| {
                let server = service::Server {
                    listener: service::Listener::new(tokio::net::TcpListener::from_std(l)?),
                    limit: limit.clone(),
                    reject: slow_down(),
                    shutdown: sd.clone(),
                };
                let app = app.clone();
                Ok(async move {
                    server
                        .accept_until(stop.cancelled(), |stream, peer, drain| {
                            serve_connection(app.clone(), stream, peer, drain)
                        })
                        .await;
                })
            })
            .await
        };
        let workers = match serving {
            Ok(w) => w,
            Err(e) => return Err(ServeError::Accept(e)),
        };
        let sweeper = tokio::spawn(sweep_forever(app.clone(), lifecycle_day));
        shutdown.await;
        stop.cancel();
        sweeper.abort();
        sd.finish(grace).await;
        workers.finish().await;
        Ok(())
    }
}
