//! Accepting connections and running each client, on the `service` skeleton:
//! its listener (backoff on `EMFILE`), its cap (`maxclients`, read live so
//! `CONFIG SET maxclients` applies to the next client) answered with Redis's
//! own error, and its shutdown: on stop, clients between commands close at
//! once, a client mid-command, inside MULTI or blocked gets its answer first,
//! and whoever is still busy when the grace ends is cut. Then the log is
//! flushed and fsynced.
//!
//! The store sits behind a `std::sync::Mutex`, not a tokio one: no command
//! awaits while holding it (commands are pure in-memory work), so a blocking
//! mutex is cheaper and the lint `await_holding_lock` keeps us honest. Blocking
//! commands register under the lock and then await *outside* it.
//!
//! The one long hold is a script past `busy-reply-threshold`: then the
//! connections do not wait on the lock but answer from `cmd::busy` (BUSY,
//! SCRIPT KILL, ...) or wait for the script without holding a thread, and a
//! client arriving meanwhile is admitted from what the script left in
//! `busy::Admission`, entering the client registry at its first command
//! after the script.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use service::Gate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::aof::{self, AofError};
use crate::cmd::busy::Step;
use crate::cmd::{self, Ctx};
use crate::config::{Config, Fsync};
use crate::lua::Scripting;
use crate::resp::{Argv, Limits, Reply};
use crate::shared::{Locked, Shared, StoreGuard};
use crate::store::{now_ms, AofPending, Client, ClientEntry, ClientShared, Replies, Store};

/// A client's read buffer, as Redis's (PROTO_IOBUF_LEN).
const INBUF: usize = 16 * 1024;

/// What a client over `maxclients` is told (Redis's words).
const MAX_CLIENTS: &str = "-ERR max number of clients reached\r\n";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bind failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Log problem.
    #[error(transparent)]
    Aof(#[from] AofError),
    /// A configured user is invalid.
    #[error("invalid user: {0}")]
    Acl(String),
    /// The `dump.rdb` found at start could not be loaded.
    #[error("cannot load {path}: {reason}")]
    Rdb {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Data directory problem.
    #[error("data directory {dir}: {source}")]
    Dir {
        /// Directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Why a running server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The append-only log could not be written or synced: the server stopped
    /// rather than acknowledge writes it could not keep.
    #[error(transparent)]
    Aof(#[from] AofError),
}

/// A bound server, ready to run.
pub struct Server {
    listener: service::Listener,
    metrics_listener: Option<service::Listener>,
    metrics: service::Metrics,
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
    addr: SocketAddr,
    grace: Duration,
}

impl Server {
    /// Loads the log (if `dir` is set) and binds the listener, with a registry
    /// of its own for metrics.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        Server::start_with(cfg, service::Metrics::new()).await
    }

    /// [`Server::start`], registering metrics in the process's `metrics`.
    pub async fn start_with(cfg: Config, metrics: service::Metrics) -> Result<Server, StartError> {
        let acl = crate::acl::Acl::from_config(cfg.requirepass.as_deref(), &cfg.users)
            .map_err(StartError::Acl)?;
        let mut store = Store::new(cfg.clone(), acl);
        let mut scripting = Scripting::default();
        let mut writer_state = None;
        if let Some(dir) = &cfg.dir {
            std::fs::create_dir_all(dir).map_err(|source| StartError::Dir {
                dir: dir.display().to_string(),
                source,
            })?;
            let path = dir.join(aof::FILE_NAME);
            let t = Instant::now();
            let report = match load_rdb_into_empty_log(&mut store, &mut scripting, dir, &path)? {
                Some(size) => aof::LoadReport {
                    size,
                    ..Default::default()
                },
                None => aof::load(&mut store, &mut scripting, &path)?,
            };
            tracing::info!(
                path = %path.display(),
                commands = report.commands,
                keys = store.key_count(),
                ms = t.elapsed().as_millis() as u64,
                "append-only log loaded"
            );
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| AofError::Io {
                    path: path.clone(),
                    source,
                })?;
            store.aof = Some(AofPending::default());
            store.aof_base_size = report.size;
            writer_state = Some(aof::Writer {
                file,
                path,
                size: report.size,
                base: report.size,
            });
        }
        crate::evict::recount(&mut store);
        let addr = format!("{}:{}", cfg.bind, cfg.port);
        let listener = bind(&addr).await?;
        let local = listener.local_addr();
        store.cfg.port = local.port();
        let metrics_listener = match &cfg.metrics_bind {
            None => None,
            Some(m) => Some(bind(m).await?),
        };
        let limits = Limits {
            max_bulk_len: cfg.proto_max_bulk_len,
            ..Limits::default()
        };
        let locked = Locked { store, scripting };
        let shared = Arc::new(Shared::new(locked, limits));
        crate::metrics::register(&metrics, &shared);
        let writer = writer_state.map(|w| {
            let sh = shared.clone();
            let h = std::thread::Builder::new()
                .name("aof-writer".into())
                .spawn(move || aof::writer_loop(sh, w))
                .expect("spawn aof writer");
            *shared.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(h.thread().clone());
            h
        });
        Ok(Server {
            listener,
            metrics_listener,
            metrics,
            shared,
            writer,
            addr: local,
            grace: cfg.shutdown_grace,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics address, if metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|l| l.local_addr())
    }

    /// Serves until `shutdown` completes (or the log fails), drains the clients
    /// within the grace, then flushes the log. An error says why the server
    /// stopped on its own: the binary decides what that means for the process.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        let Server {
            listener,
            metrics_listener,
            metrics,
            shared,
            writer,
            addr,
            grace,
        } = self;
        tracing::info!("bigstep state listening on {addr}");
        let expiry = tokio::spawn(active_expiry(shared.clone()));
        let metrics_stop = tokio_util::sync::CancellationToken::new();
        let metrics_task = metrics_listener.map(|l| {
            tracing::info!("bigstep state metrics on http://{}/metrics", l.local_addr());
            let stop = metrics_stop.clone().cancelled_owned();
            tokio::spawn(service::metrics::serve(metrics, l, stop))
        });
        let live = shared.clone();
        let counted = shared.clone();
        let server = service::Server {
            listener,
            limit: service::Limit::live(move || live.live.maxclients.load(Ordering::Relaxed)),
            reject: service::Reject::reply(MAX_CLIENTS).on_reject(move |_| {
                // Not counted while a script is busy (the counters are in the store).
                if let Ok(mut s) = counted.lock_unless_busy() {
                    s.stats.connections += 1;
                    s.stats.rejected += 1;
                }
            }),
            shutdown: service::Shutdown::gated("state"),
        };
        let sd = server.shutdown.clone();
        let failed = std::sync::atomic::AtomicBool::new(false);
        let asked = std::sync::atomic::AtomicBool::new(false);
        let shutdown_cmd = shared.lock().stop.clone();
        let stop = async {
            tokio::select! {
                () = shutdown => {}
                () = shared.failed.notified() => failed.store(true, Ordering::SeqCst),
                () = shutdown_cmd.notified() => asked.store(true, Ordering::SeqCst),
            }
        };
        let sh = shared.clone();
        server
            .accept_until(stop, move |sock, peer, drain| {
                handle(sh.clone(), sock, peer, drain)
            })
            .await;
        let failed = failed.load(Ordering::SeqCst);
        if failed {
            // Nothing more may be acknowledged: refuse further commands, cut now.
            shared.lock().shutting_down = true;
        }
        // SHUTDOWN already refuses every further command; like Redis, it
        // closes the clients at once rather than waiting for them.
        let cut = failed || asked.load(Ordering::SeqCst);
        if asked.load(Ordering::SeqCst) {
            tracing::info!("SHUTDOWN: closing every client, then flushing the log");
        }
        sd.finish(if cut { Duration::ZERO } else { grace }).await;
        expiry.abort();
        metrics_stop.cancel();
        if let Some(m) = metrics_task {
            let _ = m.await;
        }
        // No client is left to write; drain the log.
        shared.lock().shutting_down = true;
        shared.stopping.store(true, Ordering::SeqCst);
        shared.wake_writer();
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        match shared.take_fatal() {
            Some(e) => Err(RunError::Aof(e)),
            None => {
                tracing::info!("bigstep state stopped");
                Ok(())
            }
        }
    }
}

/// With no log yet (or an empty one) and a `dump.rdb` in `dir` (ours or
/// redis-server's), loads it and writes what it held as the log, so the
/// log stays the one source of truth. Returns the new log's size, or None
/// when there was nothing to do.
fn load_rdb_into_empty_log(
    store: &mut Store,
    scripting: &mut Scripting,
    dir: &std::path::Path,
    log: &std::path::Path,
) -> Result<Option<u64>, StartError> {
    let log_empty = std::fs::metadata(log).map_or(true, |m| m.len() == 0);
    let rdb = dir.join(crate::rdbfile::DEFAULT_NAME);
    if !log_empty || !rdb.is_file() {
        return Ok(None);
    }
    let t = Instant::now();
    let loaded =
        crate::rdbload::load(store, scripting, &rdb).map_err(|reason| StartError::Rdb {
            path: rdb.display().to_string(),
            reason,
        })?;
    let io = |source| AofError::Io {
        path: log.to_path_buf(),
        source,
    };
    // Written beside the log and renamed over it: a crash meanwhile leaves
    // no half log, and the next start loads dump.rdb again.
    let tmp = log.with_extension("from-rdb");
    let size = aof::write_snapshot(&scripting.functions.codes(), &store.dbs, &tmp).map_err(io)?;
    std::fs::rename(&tmp, log).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    tracing::info!(
        path = %rdb.display(),
        keys = loaded.keys,
        libraries = loaded.libraries,
        ms = t.elapsed().as_millis() as u64,
        "dump.rdb loaded (no append-only log yet); written as the log"
    );
    Ok(Some(size))
}

/// Binds `addr` (`host:port`, names resolved) with the skeleton's listener.
async fn bind(addr: &str) -> Result<service::Listener, StartError> {
    let err = |source| StartError::Bind {
        addr: addr.to_string(),
        source,
    };
    let resolved = tokio::net::lookup_host(addr)
        .await
        .map_err(err)?
        .next()
        .ok_or_else(|| err(std::io::Error::other("the address resolves to nothing")))?;
    service::bind(resolved, service::listener::DEFAULT_BACKLOG).map_err(err)
}

async fn active_expiry(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let wrote = {
            // A busy script holds the store: skip the tick.
            let Ok(mut s) = shared.lock_unless_busy() else {
                continue;
            };
            // A CLIENT PAUSE keeps expired keys (Redis deletes none then).
            let now = now_ms();
            let n = if s.paused(now) {
                0
            } else {
                s.active_expire(now, 2000)
            };
            if !s.migrate_sockets.is_empty() {
                s.migrate_sockets
                    .retain(|_, m| m.last_use.elapsed() <= crate::store::MIGRATE_SOCKET_TTL);
            }
            if s.tracking.on > 0 {
                s.tracking.flush_pending();
            }
            s.stats.peak_memory = s.stats.peak_memory.max(s.used_memory);
            s.flush_prop(false);
            n > 0
        };
        if wrote {
            shared.wake_writer();
        }
    }
}

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Writes `out` unless the client is killed meanwhile. False = close. (A
/// kill that came before is the caller's to check: see [`handle`].)
async fn flush(wr: &mut TcpStream, out: &mut BytesMut, client: &Client) -> bool {
    if out.is_empty() {
        return true;
    }
    // Replies mostly fit in the socket's buffer: one try first, without the
    // select and the write future; what is left waits for the socket.
    let ok = match wr.try_write(out) {
        Ok(n) if n == out.len() => true,
        Ok(n) => {
            out.advance(n);
            write_or_kill(wr, out, &client.shared).await
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            write_or_kill(wr, out, &client.shared).await
        }
        Err(_) => false,
    };
    out.clear();
    ok
}

/// Writes all of `out`, unless the client is killed meanwhile.
async fn write_or_kill(wr: &mut TcpStream, out: &[u8], client: &ClientShared) -> bool {
    tokio::select! {
        biased;
        r = wr.write_all(out) => r.is_ok(),
        () = killed(client) => false,
    }
}

/// Resolves once the client is killed (`ClientShared::kill`). For the waits
/// outside the connection's loop (a slow reader, a blocked command, a busy
/// script); the loop hears of a kill through its push channel.
async fn killed(client: &ClientShared) {
    // The flag is set before the notification, which is kept as a permit
    // when nobody waits: a kill between the load and the wait is not lost.
    if !client.killed.load(Ordering::SeqCst) {
        client.kill.notified().await;
    }
}

/// Whether the client was killed (the flag itself, for the rare paths).
fn is_killed(client: &Client) -> bool {
    client.shared.killed.load(Ordering::SeqCst)
}

/// Serves one client until it leaves, is killed, or — once `drain` fires — has
/// nothing in flight (see [`in_flight`]).
async fn handle(shared: Arc<Shared>, sock: TcpStream, peer: SocketAddr, drain: service::Drain) {
    let _ = sock.set_nodelay(true);
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // Not split into two halves: those share the stream behind an `Arc`,
    // one more block (and cache line) to reach at every wake-up; reads and
    // writes take turns here anyway.
    let mut sock = sock;
    let loopback = peer.ip().to_canonical().is_loopback();
    let admitted = match shared.lock_unless_busy() {
        Ok(mut s) => {
            s.stats.connections += 1;
            // Any user reachable without a password counts as "no password set".
            if s.cfg.protected_mode && s.acl.passwordless() && !loopback {
                s.stats.rejected += 1;
                Err(DENIED.to_string())
            } else {
                let (mut c, rx) = Client::new(shared.next_client_id());
                c.authed = s.acl.default_auto_login();
                s.clients.insert(c.id, client_entry(&c, peer, laddr));
                Ok((c, rx))
            }
        }
        // A script is busy: admitted as it was told, registered after it
        // (so that `redis-cli SCRIPT KILL` can connect meanwhile).
        Err(_) => {
            let a = shared.watch.admission();
            if a.loopback_only && !loopback {
                Err(DENIED.to_string())
            } else {
                let (mut c, rx) = Client::new(shared.next_client_id());
                c.authed = a.auto_login;
                c.unregistered = Some(Box::new(client_entry(&c, peer, laddr)));
                Ok((c, rx))
            }
        }
    };
    let (mut client, mut push_rx) = match admitted {
        Ok(x) => x,
        Err(msg) => {
            let _ = sock.write_all(msg.as_bytes()).await;
            return;
        }
    };
    let mut synced = shared.synced.subscribe();
    // The buffers are the thread's while the connection waits (see `Bufs`);
    // `own` holds them only while something in them is still this
    // connection's (part of a request, a request held for a busy script).
    let mut own: Option<Box<Bufs>> = None;
    let mut draining = false;
    // The drain and the push channel are polled beside the socket at every
    // wake-up and almost never fire: kept for the connection's life, the
    // drain as a watch of a flag all connections share, the push channel
    // behind a gate (`service::gate`). A kill comes through the push channel
    // too (`ClientShared::kill` sends an empty push), so one gate serves
    // both: every line of the connection's own memory touched per request
    // costs a cache miss (BENCHMARKS.md, 2026-12-04 21:00).
    let mut drained = drain.watch();
    let mut pushes = Gate::new();
    'conn: loop {
        // One future polls all three, in this order, without the state a
        // `select!` builds afresh at each turn; the buffers are taken only
        // to read into and go back to the thread when nothing was read.
        let event = std::future::poll_fn(|cx| {
            if !draining && std::pin::Pin::new(&mut drained).poll(cx).is_ready() {
                return Poll::Ready(Event::Drain);
            }
            // None never comes: the client's own handle keeps a sender.
            if let Poll::Ready(Some(push)) = pushes.poll_with(cx, |cx| push_rx.poll_recv(cx)) {
                return Poll::Ready(Event::Push(push));
            }
            let mut b = Bufs::take(&mut own);
            // Room for a whole read: when the buffer's end is near, this
            // moves what is left to its front (no request holds it any more,
            // see `run_batch`) rather than reading a few bytes at a time.
            if b.inbuf.capacity() - b.inbuf.len() < 1024 {
                b.inbuf.reserve(4 * 1024);
            }
            match tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut sock), cx, &mut b.inbuf) {
                Poll::Ready(r) => Poll::Ready(Event::Read(r, b)),
                Poll::Pending => {
                    b.settle(&mut own);
                    Poll::Pending
                }
            }
        })
        .await;
        let mut b =
            match event {
                Event::Drain => {
                    draining = true;
                    if !in_flight(&client, own.as_deref()) {
                        break 'conn;
                    }
                    continue;
                }
                Event::Push(push) => {
                    let mut b = Bufs::take(&mut own);
                    push.encode(client.proto, &mut b.out);
                    let mut n = 1;
                    while n < 1024 {
                        match push_rx.try_recv() {
                            Ok(p) => {
                                p.encode(client.proto, &mut b.out);
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    // Killed (or over its output limit): closed, not written to.
                    if is_killed(&client) {
                        break 'conn;
                    }
                    let len = b.out.len();
                    if !flush(&mut sock, &mut b.out, &client).await {
                        break 'conn;
                    }
                    let _ = client.shared.pending.fetch_update(
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                        |p| Some(p.saturating_sub(len)),
                    );
                    b.settle(&mut own);
                    continue;
                }
                Event::Read(Ok(0) | Err(_), _) => break 'conn,
                Event::Read(Ok(_), b) => b,
            };
        let Bufs { inbuf, out, req } = &mut *b;
        if inbuf.len() > shared.query_limit() {
            tracing::warn!(
                client = client.id,
                "query buffer limit reached; closing client"
            );
            break 'conn;
        }
        // Run every complete request in the buffer (pipelining).
        let mut w = Written::default();
        loop {
            let outcome = run_batch(&shared, &mut client, inbuf, req, out, &mut w);
            if w.at > 0 {
                shared.wake_writer();
            }
            match outcome {
                Batch::Done => break,
                Batch::Close => {
                    client.close = true;
                    break;
                }
                Batch::ProtocolError => {
                    let _ = flush(&mut sock, out, &client).await;
                    break 'conn;
                }
                Batch::Flush => {
                    if !wait_durable(&mut synced, w.at, w.always).await
                        || !flush(&mut sock, out, &client).await
                        || is_killed(&client)
                    {
                        break 'conn;
                    }
                }
                Batch::WaitIdle => {
                    if !wait_durable(&mut synced, w.at, w.always).await
                        || !flush(&mut sock, out, &client).await
                        || is_killed(&client)
                    {
                        break 'conn;
                    }
                    tokio::select! {
                        () = shared.watch.idle() => {}
                        () = killed(&client.shared) => break 'conn,
                    }
                }
                Batch::Paused => {
                    if !wait_durable(&mut synced, w.at, w.always).await
                        || !flush(&mut sock, out, &client).await
                        || is_killed(&client)
                    {
                        break 'conn;
                    }
                    if let Some(p) = client.postponed.take() {
                        if !pause_wait(p, &client.shared, &mut sock, inbuf).await {
                            break 'conn;
                        }
                    }
                }
                Batch::Block => {
                    if !wait_durable(&mut synced, w.at, w.always).await
                        || !flush(&mut sock, out, &client).await
                        || is_killed(&client)
                    {
                        break 'conn;
                    }
                    match block_wait(&shared, &mut client, &mut sock, inbuf).await {
                        Some(r) => answer(&mut client, &r, out),
                        None => break 'conn,
                    }
                    let s = shared.lock_idle().await;
                    w.at = w.at.max(s.aof_offset());
                    w.always = s.cfg.appendfsync == Fsync::Always;
                }
            }
        }
        // Written at once, not after the other clients woken by the
        // same readiness event (a self-wake cost ~540 instructions per
        // request and saved no syscall: bench/state_syscalls.sh,
        // BENCHMARKS.md 2026-12-04 17:00).
        // A kill meanwhile (by this very request, or from another
        // thread) woke the push gate: only then is the flag loaded.
        if !wait_durable(&mut synced, w.at, w.always).await
            || !flush(&mut sock, out, &client).await
            || client.close
            || (pushes.woken() && is_killed(&client))
        {
            break 'conn;
        }
        if draining && !in_flight(&client, Some(&b)) {
            break 'conn;
        }
        b.settle(&mut own);
    }
    let _ = sock.shutdown().await;
    disconnect(&shared, &mut client).await;
}

/// The registry entry of a new client.
fn client_entry(c: &Client, peer: SocketAddr, laddr: String) -> ClientEntry {
    ClientEntry {
        shared: c.shared.clone(),
        addr: peer.to_string(),
        laddr,
        user: c.user.clone(),
        name: None,
        lib_name: None,
        lib_ver: None,
        db: 0,
        resp: 2,
        created: Instant::now(),
        last_cmd: "",
        channels: Default::default(),
        patterns: Default::default(),
        shard_channels: Default::default(),
        multi: false,
        blocked: false,
    }
}

/// Whether a client has work under way that shutdown should let finish: part
/// of a command received, or a transaction opened and not yet run. (A blocked
/// command is waited for inside [`block_wait`]; replies are written before the
/// connection loop looks here.)
fn in_flight(client: &Client, bufs: Option<&Bufs>) -> bool {
    bufs.is_some_and(|b| !b.inbuf.is_empty() || b.req.held) || client.multi.is_some()
}

/// What woke a connection.
enum Event {
    /// The shutdown's drain.
    Drain,
    /// A push (pub/sub, invalidation, or the empty one of a kill).
    Push(Reply),
    /// A read, into these buffers.
    Read(std::io::Result<usize>, Box<Bufs>),
}

/// A connection's buffers: what it read, its replies, the arguments of the
/// request being run. They are the thread's while the connection waits: taken
/// when it has read something and given back once all of it was run and
/// written, most recently returned first. With 50 clients taking turns, a
/// connection's own buffers were cold at each of its requests (five cache
/// lines: the read and write buffers, their reference count block, the
/// argument vectors); the thread's last ones are still in cache, as Redis's
/// allocator hands a request the memory the one before freed.
struct Bufs {
    inbuf: BytesMut,
    out: BytesMut,
    req: Request,
}

/// Buffers kept per thread for the next wake-up, at most.
const POOL_MAX: usize = 64;

thread_local! {
    // Boxed: a connection holds its buffers, when it does, as one pointer
    // (they are moved in and out of the pool at every wake-up).
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<Bufs>>> = const { RefCell::new(Vec::new()) };
}

impl Bufs {
    /// The connection's own buffers if it holds some, else the thread's last.
    fn take(own: &mut Option<Box<Bufs>>) -> Box<Bufs> {
        if let Some(b) = own.take() {
            return b;
        }
        POOL.with(|p| p.borrow_mut().pop()).unwrap_or_else(|| {
            Box::new(Bufs {
                inbuf: BytesMut::with_capacity(INBUF),
                out: BytesMut::with_capacity(16 * 1024),
                req: Request::default(),
            })
        })
    }

    /// Back to the thread when nothing in them is the connection's any more
    /// (replies written, every request taken and run), else kept in `own`.
    /// The read buffer goes back only when it is its allocation's sole owner
    /// (no reply still holds a slice), starting at its front again, and
    /// neither buffer grew past a MiB (then they are dropped).
    fn settle(mut self: Box<Bufs>, own: &mut Option<Box<Bufs>>) {
        if !self.inbuf.is_empty() || !self.out.is_empty() || self.req.held {
            *own = Some(self);
            return;
        }
        if self.inbuf.capacity() > 1 << 20 || self.out.capacity() > 1 << 20 {
            return;
        }
        if self.inbuf.try_reclaim(INBUF) {
            POOL.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < POOL_MAX {
                    p.push(self);
                }
            });
        }
    }
}

/// How far this client's writes reach into the log.
#[derive(Default)]
struct Written {
    /// Log offset after the client's last write (0 = none).
    at: u64,
    /// Whether replies must wait for fsync.
    always: bool,
}

/// Why [`run_batch`] stopped.
enum Batch {
    /// No complete request left.
    Done,
    /// QUIT / killed: reply, then close.
    Close,
    /// Malformed input: the error is in `out`; close.
    ProtocolError,
    /// Output is large: write it, then continue.
    Flush,
    /// A blocking command is waiting.
    Block,
    /// A script is busy and the next request must wait for it (it is
    /// left in the buffer).
    WaitIdle,
    /// CLIENT PAUSE holds the request (kept in `Request`) until the pause
    /// ends or its queue moves (`Client::postponed`).
    Paused,
}

/// The request being run: its arguments (reused from request to request,
/// see [`Argv`]), and whether they wait for a busy script to end (taken off
/// the read buffer already, run at the next [`run_batch`]).
#[derive(Default)]
struct Request {
    argv: Argv,
    held: bool,
}

/// Runs complete requests from `inbuf` under one lock acquisition. Sync on
/// purpose: the guard can never be held across an await.
fn run_batch(
    shared: &Shared,
    client: &mut Client,
    inbuf: &mut BytesMut,
    req: &mut Request,
    out: &mut BytesMut,
    w: &mut Written,
) -> Batch {
    let mut guard: Option<StoreGuard<'_>> = None;
    let mut carried = 0u64;
    loop {
        if !std::mem::take(&mut req.held) {
            match req.argv.take(inbuf, &shared.limits()) {
                Ok(true) => {}
                Ok(false) => return Batch::Done,
                Err(e) => {
                    Reply::err(e.to_string()).encode(client.proto, out);
                    return Batch::ProtocolError;
                }
            }
        }
        let argv = &mut req.argv.args;
        if argv.is_empty() {
            continue;
        }
        if guard.is_none() {
            match shared.lock_unless_busy() {
                Ok(g) => guard = Some(g),
                Err(kind) => match cmd::busy::serve(&shared.watch, client, kind, argv) {
                    Step::Reply(reply) => {
                        answer(client, &reply, out);
                        if client.close {
                            return Batch::Close;
                        }
                        continue;
                    }
                    Step::Wait => {
                        req.held = true;
                        return Batch::WaitIdle;
                    }
                    Step::Close => return Batch::Close,
                },
            }
        }
        let Some(locked) = guard.as_mut() else {
            return Batch::Done; // locked just above
        };
        let Locked {
            store: s,
            scripting,
        } = &mut **locked;
        if let Some(entry) = client.unregistered.take() {
            s.stats.connections += 1;
            s.clients.insert(client.id, *entry);
        }
        // One clock reading for the request's `now` and the start of its
        // timing (Store::request_clock): the one the request before it in
        // this batch ended on (Store::clock_after; the lock was held since,
        // so only that request's reply and this one's parse lie between),
        // else a fresh one. With -P 16 that is 17 readings per 16 requests,
        // not 32: at ~40 ns each in this VM, 4-6 % of a pipelined GET.
        let clock = match carried {
            0 => crate::store::wall_ns(),
            t => t,
        };
        s.request_clock = Some(clock);
        let mut ctx = Ctx {
            s,
            sc: scripting,
            c: client,
            now: clock / 1_000_000,
            in_script: false,
            in_exec: false,
            custom_prop: false,
        };
        let reply = cmd::execute(&mut ctx, argv);
        s.request_clock = None;
        // Taken, so a reading left by an earlier batch is never reused.
        carried = std::mem::take(&mut s.clock_after);
        if client.postponed.is_some() {
            // CLIENT PAUSE holds it: kept, and run again after the wait.
            req.held = true;
            return Batch::Paused;
        }
        argv.clear();
        let off = s.aof_offset();
        if off > w.at {
            w.at = off;
            w.always = s.cfg.appendfsync == Fsync::Always;
        }
        // A blocked command is answered when it is released (Batch::Block).
        if client.block.is_some() {
            return Batch::Block;
        }
        answer(client, &reply, out);
        if client.close {
            return Batch::Close;
        }
        if out.len() > 64 * 1024 {
            return Batch::Flush;
        }
    }
}

/// Writes a command's reply unless CLIENT REPLY holds it back, and moves
/// SKIP on: CLIENT REPLY SKIP mutes the command after it, as Redis's
/// `resetClient` does. Pushes are not written through here.
fn answer(client: &mut Client, reply: &Reply, out: &mut BytesMut) {
    match client.replies {
        Replies::On => reply.encode(client.proto, out),
        Replies::Off => {}
        Replies::SkipNext => {
            reply.encode(client.proto, out);
            client.replies = Replies::Skip;
        }
        Replies::Skip => client.replies = Replies::On,
    }
}

/// With `appendfsync always`, waits until the log is fsynced past `off`.
async fn wait_durable(synced: &mut watch::Receiver<u64>, off: u64, always: bool) -> bool {
    if !always || off == 0 {
        return true;
    }
    synced.wait_for(|&v| v >= off).await.is_ok()
}

/// Waits for a blocked command's reply, its timeout, or disconnect.
async fn block_wait(
    shared: &Shared,
    client: &mut Client,
    sock: &mut TcpStream,
    inbuf: &mut BytesMut,
) -> Option<Reply> {
    let me = client.shared.clone();
    let mut spec = client.block.take()?;
    let deadline = (spec.timeout_ms > 0)
        .then(|| tokio::time::Instant::now() + Duration::from_millis(spec.timeout_ms));
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            r = &mut spec.rx => return r.ok(),
            _ = &mut sleep => break,
            () = killed(&me) => {
                cmd::unblock(&mut shared.lock_idle().await.store, client.id);
                return None;
            }
            r = sock.read_buf(inbuf) => {
                // Keep reading while blocked (Redis does); notice disconnects.
                match r {
                    Ok(n) if n > 0 && inbuf.len() < 64 * 1024 * 1024 => {}
                    _ => {
                        cmd::unblock(&mut shared.lock_idle().await.store, client.id);
                        return None;
                    }
                }
            }
        }
    }
    // Timed out: leave the queues with the timeout reply, unless a reply
    // (served, or CLIENT UNBLOCK's) raced in first; either is in `rx` now.
    cmd::time_out(&mut shared.lock_idle().await.store, client.id, None);
    spec.rx.try_recv().ok()
}

/// Waits until a pause holding this client's request ends or its queue
/// moves (then the request is tried again); false if the client is killed
/// or disconnects meanwhile (reading on, as Redis does, so a held client
/// that goes away leaves the queue).
async fn pause_wait(
    p: crate::store::Postponed,
    me: &ClientShared,
    sock: &mut TcpStream,
    inbuf: &mut BytesMut,
) -> bool {
    let mut moved = p.moved;
    let sleep = async {
        match p.until_ms {
            0 => std::future::pending().await,
            t => tokio::time::sleep(Duration::from_millis(t.saturating_sub(now_ms()))).await,
        }
    };
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            // An error: the pause is gone altogether; look again as well.
            _ = moved.changed() => return true,
            () = &mut sleep => return true,
            () = killed(me) => return false,
            r = sock.read_buf(inbuf) => match r {
                Ok(n) if n > 0 && inbuf.len() < 64 * 1024 * 1024 => {}
                _ => return false,
            },
        }
    }
}

async fn disconnect(shared: &Shared, client: &mut Client) {
    let mut s = shared.lock_idle().await;
    cmd::unblock(&mut s, client.id);
    crate::cmd::forget_client(&mut s, client);
}

#[cfg(test)]
mod tests {
    use super::{Bufs, POOL};

    fn pooled() -> usize {
        POOL.with(|p| p.borrow().len())
    }

    /// Buffers go back to the thread only when nothing in them is the
    /// connection's: part of a request or an unwritten reply stays with it,
    /// and a read buffer a reply still holds a slice of is not handed to
    /// another connection. What goes back reads at its front again.
    #[test]
    fn buffers_go_back_to_the_thread_only_when_empty_and_unshared() {
        let mut own = None;
        let mut b = Bufs::take(&mut own);
        b.inbuf.extend_from_slice(b"*1\r\n$4\r\nPI");
        b.settle(&mut own);
        assert!(own.is_some(), "part of a request stays with the connection");
        assert_eq!(pooled(), 0);

        let mut b = Bufs::take(&mut own);
        assert_eq!(&b.inbuf[..], b"*1\r\n$4\r\nPI", "its own buffers come back");
        b.inbuf.extend_from_slice(b"NG\r\n");
        let request = b.inbuf.split_to(14).freeze();
        b.out.extend_from_slice(b"+PONG\r\n");
        b.settle(&mut own);
        assert!(own.is_some(), "an unwritten reply stays too");

        let mut b = Bufs::take(&mut own);
        b.out.clear();
        b.settle(&mut own);
        assert!(own.is_none());
        assert_eq!(pooled(), 0, "not pooled while a slice of it is held");
        drop(request);

        let mut b = Bufs::take(&mut own);
        let front = b.inbuf.as_ptr();
        b.inbuf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        drop(b.inbuf.split_to(14));
        b.settle(&mut own);
        assert!(own.is_none());
        assert_eq!(pooled(), 1);
        let b = Bufs::take(&mut own);
        assert_eq!(pooled(), 0);
        assert_eq!(b.inbuf.as_ptr(), front, "reclaimed to its front");
        assert!(b.inbuf.capacity() >= super::INBUF);
    }
}
