//! Thread per core: the files server on several threads, each running its own
//! current-thread tokio runtime and accepting from its own listening socket on
//! the one address (`SO_REUSEPORT`, [`service::listener::bind_shared`]: the
//! kernel spreads new connections over the sockets).
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
        // Stop accepting; then, once connections are finished or cut, the
        // threads' runtimes may end.
        let stop = CancellationToken::new();
        let done = CancellationToken::new();
        let mut threads = Vec::with_capacity(listeners.len());
        let mut started = Vec::with_capacity(listeners.len());
        for (i, listener) in listeners.into_iter().enumerate() {
            let (app, limit, sd) = (app.clone(), limit.clone(), sd.clone());
            let (stop_here, done_here) = (stop.clone(), done.clone());
            let (ready, ready_rx) = tokio::sync::oneshot::channel::<std::io::Result<()>>();
            started.push(ready_rx);
            let thread = std::thread::Builder::new()
                .name(format!("files-{i}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        };
                        let _ = ready.send(Ok(()));
                        let server = service::Server {
                            listener: service::Listener::new(listener),
                            limit,
                            reject: slow_down(),
                            shutdown: sd,
                        };
                        server
                            .accept_until(stop_here.cancelled(), |stream, peer, drain| {
                                serve_connection(app.clone(), stream, peer, drain)
                            })
                            .await;
                        // Connections spawned here run on this runtime: keep
                        // it until the shutdown has finished or cut them.
                        done_here.cancelled().await;
                    });
                });
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop.cancel();
                    done.cancel();
                    return Err(ServeError::Accept(e));
                }
            }
        }
        let mut failed = None;
        for r in started {
            match r.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(e),
                Err(_) => failed = Some(std::io::Error::other("a server thread ended early")),
            }
        }
        let sweeper = tokio::spawn(sweep_forever(app.clone(), lifecycle_day));
        if failed.is_none() {
            shutdown.await;
        }
        stop.cancel();
        sweeper.abort();
        sd.finish(grace).await;
        done.cancel();
        for t in threads {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        match failed {
            Some(e) => Err(ServeError::Accept(e)),
            None => Ok(()),
        }
    }
}
