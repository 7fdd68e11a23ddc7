//! Thread per core: a server's extra serving threads, each running its own
//! current-thread tokio runtime and accepting from its own listening socket on
//! the one address ([`bind_shared`](crate::listener::bind_shared), `SO_REUSEPORT`:
//! the kernel spreads new connections over the sockets).
//!
//! Why: on a multi-thread runtime the thread that sees a socket become ready
//! and the one that runs the task serving it are often not the same, and
//! waking a parked worker is a context switch; the work-stealing queues cost
//! atomics on every wake-up even on one thread. Here a connection lives and
//! ends on the thread that accepted it, as in nginx's and HAProxy's workers.
//!
//! The caller's runtime is the first serving thread (so one thread means no
//! extra thread at all) and keeps the role's background work (health checks,
//! admin, housekeeping). [`Workers::spawn`] starts the others; each runs the
//! role's accept loops until the stop signal, then keeps its runtime turning
//! until [`Workers::finish`], so the connections it spawned can end within
//! the shutdown's grace (the skeleton's [`Shutdown`](crate::Shutdown) tracks
//! them across threads).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// This serving thread's number: 0 on the caller's thread (and any thread
/// that is not a worker), `i` on the worker named `{name}-{i}`. Lets per-thread
/// state (pools of upstream connections) stay with the thread using it.
pub fn index() -> usize {
    INDEX.with(Cell::get)
}

/// Serving threads started by [`Workers::spawn`].
#[derive(Debug)]
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
    /// Cancelled by [`Workers::finish`]: the threads' runtimes may end.
    done: CancellationToken,
}

impl Workers {
    /// Starts one thread per item of `parts` (named `{name}-{i}`, counting from
    /// 1: the caller's thread is 0). Each builds a current-thread runtime and
    /// runs `serve(part, stop)` on it; `serve` should accept until `stop` is
    /// cancelled and return. `parts` carries what must be registered on that
    /// runtime (its listening sockets, still `std`). Returns once every thread
    /// has its runtime and listeners up, or with the first error (the threads
    /// started are then stopped).
    pub async fn spawn<T, F, Fut>(
        name: &str,
        parts: Vec<T>,
        stop: CancellationToken,
        serve: F,
    ) -> io::Result<Workers>
    where
        T: Send + 'static,
        F: Fn(T, CancellationToken) -> io::Result<Fut> + Send + Sync + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let done = CancellationToken::new();
        let mut workers = Workers {
            threads: Vec::with_capacity(parts.len()),
            done: done.clone(),
        };
        let mut started = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let (serve, stop_here, done) = (serve.clone(), stop.clone(), done.clone());
            let (ready, ready_rx) = tokio::sync::oneshot::channel::<io::Result<()>>();
            started.push(ready_rx);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{}", i + 1))
                .spawn(move || {
                    INDEX.with(|n| n.set(i + 1));
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
                        // Registering the sockets needs this runtime: inside it.
                        let accepting = match serve(part, stop_here) {
                            Ok(f) => f,
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        };
                        let _ = ready.send(Ok(()));
                        accepting.await;
                        // Connections spawned here run on this runtime: keep
                        // it until the shutdown has finished or cut them.
                        done.cancelled().await;
                    });
                });
            match spawned {
                Ok(t) => workers.threads.push(t),
                Err(e) => {
                    stop.cancel();
                    workers.finish().await;
                    return Err(e);
                }
            }
        }
        let mut failed = None;
        for r in started {
            let r = r
                .await
                .unwrap_or_else(|_| Err(io::Error::other("a serving thread ended early")));
            if let Err(e) = r {
                failed.get_or_insert(e);
            }
        }
        match failed {
            None => Ok(workers),
            Some(e) => {
                stop.cancel();
                workers.finish().await;
                Err(e)
            }
        }
    }

    /// How many threads were started.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// No thread was started (one serving thread: the caller's).
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Lets the threads' runtimes end and waits for the threads. Call it after
    /// the shutdown has finished (or cut) their connections.
    pub async fn finish(self) {
        self.done.cancel();
        for t in self.threads {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Each thread answers with its own name: connections spread over the
    /// threads and are served there, and all of them stop and end.
    #[tokio::test]
    async fn each_thread_serves_its_own_listener_and_all_end() {
        let listeners =
            crate::listener::bind_shared("127.0.0.1:0".parse().unwrap(), 64, 3).unwrap();
        let addr = listeners[0].local_addr().unwrap();
        let stop = CancellationToken::new();
        let workers = Workers::spawn("t", listeners, stop.clone(), |l, stop| {
            let l = tokio::net::TcpListener::from_std(l)?;
            Ok(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        Ok((mut s, _)) = l.accept() => {
                            let name = std::thread::current().name().unwrap_or("?").to_string();
                            tokio::spawn(async move {
                                let _ = s.write_all(name.as_bytes()).await;
                            });
                        }
                    }
                }
            })
        })
        .await
        .unwrap();
        assert_eq!(workers.len(), 3);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut name = String::new();
            s.read_to_string(&mut name).await.unwrap();
            seen.insert(name);
            if seen.len() == 3 {
                break;
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            ["t-1", "t-2", "t-3"],
            "the kernel spreads connections over every thread's socket"
        );
        stop.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(10), workers.finish())
            .await
            .expect("every thread ends once stopped and finished");
    }

    #[tokio::test]
    async fn a_thread_that_cannot_start_stops_the_others() {
        let listeners =
            crate::listener::bind_shared("127.0.0.1:0".parse().unwrap(), 64, 2).unwrap();
        let stop = CancellationToken::new();
        let r = Workers::spawn("t", listeners, stop.clone(), |_listener, stop| {
            if std::thread::current().name() == Some("t-2") {
                return Err(io::Error::other("no"));
            }
            Ok(async move { stop.cancelled().await })
        })
        .await;
        assert_eq!(r.unwrap_err().to_string(), "no");
        assert!(stop.is_cancelled());
    }
}
