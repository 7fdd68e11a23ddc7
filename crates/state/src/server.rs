//! Accepting connections and running each client.
//!
//! The store sits behind a `std::sync::Mutex`, not a tokio one: no command
//! awaits while holding it (commands are pure in-memory work), so a blocking
//! mutex is cheaper and the lint `await_holding_lock` keeps us honest. Blocking
//! commands register under the lock and then await *outside* it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::aof::{self, AofError};
use crate::cmd::{self, Ctx};
use crate::config::{Config, Fsync};
use crate::resp::{parse_request, Limits, Reply};
use crate::store::{now_ms, AofPending, Client, ClientEntry, Store};

/// What is shared by all connections.
pub(crate) struct Shared {
    store: Mutex<Store>,
    /// Log offset known durable (per appendfsync).
    pub(crate) synced: watch::Sender<u64>,
    writer: Mutex<Option<std::thread::Thread>>,
    pub(crate) stopping: AtomicBool,
    limits: Limits,
    query_limit: usize,
}

impl Shared {
    /// Locks the store. A panic while holding the lock poisons it; the data is
    /// still consistent per command boundary as far as we can tell, so go on.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_writer(&self) {
        if let Some(t) = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            t.unpark();
        }
    }
}

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
    /// Data directory problem.
    #[error("data directory {dir}: {source}")]
    Dir {
        /// Directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    metrics: Option<(TcpListener, SocketAddr)>,
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
    addr: SocketAddr,
}

impl Server {
    /// Loads the log (if `dir` is set) and binds the listener.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let acl = crate::acl::Acl::from_config(cfg.requirepass.as_deref(), &cfg.users)
            .map_err(StartError::Acl)?;
        let mut store = Store::new(cfg.clone(), acl);
        let mut writer_state = None;
        if let Some(dir) = &cfg.dir {
            std::fs::create_dir_all(dir).map_err(|source| StartError::Dir {
                dir: dir.display().to_string(),
                source,
            })?;
            let path = dir.join(aof::FILE_NAME);
            let t = Instant::now();
            let report = aof::load(&mut store, &path)?;
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
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        store.cfg.port = local.port();
        let metrics = match &cfg.metrics_bind {
            None => None,
            Some(m) => {
                let l = TcpListener::bind(m)
                    .await
                    .map_err(|source| StartError::Bind {
                        addr: m.clone(),
                        source,
                    })?;
                let a = l.local_addr().map_err(|source| StartError::Bind {
                    addr: m.clone(),
                    source,
                })?;
                Some((l, a))
            }
        };
        let limits = Limits {
            max_bulk_len: cfg.proto_max_bulk_len,
            ..Limits::default()
        };
        let (synced, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            synced,
            writer: Mutex::new(None),
            stopping: AtomicBool::new(false),
            limits,
            query_limit: cfg.client_query_buffer_limit,
        });
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
            metrics,
            shared,
            writer,
            addr: local,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics address, if metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    /// Serves until `shutdown` completes, then flushes the log.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tracing::info!("bigstep state listening on {}", self.addr);
        let shared = self.shared.clone();
        let expiry = tokio::spawn(active_expiry(shared.clone()));
        let metrics = self.metrics.take().map(|(l, a)| {
            tracing::info!("bigstep state metrics on http://{a}/metrics");
            tokio::spawn(crate::metrics::serve(l, shared.clone()))
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                r = self.listener.accept() => match r {
                    Ok((sock, peer)) => {
                        let sh = shared.clone();
                        tokio::spawn(async move {
                            handle(sh, sock, peer).await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        expiry.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        tracing::info!("bigstep state shutting down");
        // Kill clients so they stop writing, then drain the log.
        {
            let mut s = shared.lock();
            s.shutting_down = true;
            for e in s.clients.values() {
                e.shared.kill();
            }
        }
        shared.stopping.store(true, Ordering::SeqCst);
        shared.wake_writer();
        if let Some(w) = self.writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        tracing::info!("bigstep state stopped");
    }
}

async fn active_expiry(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let wrote = {
            let mut s = shared.lock();
            let n = s.active_expire(now_ms(), 2000);
            s.flush_prop(false);
            n > 0
        };
        if wrote {
            shared.wake_writer();
        }
    }
}

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Writes `out` unless the client is killed meanwhile. False = close.
async fn flush(wr: &mut OwnedWriteHalf, out: &mut BytesMut, client: &Client) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = tokio::select! {
        r = wr.write_all(out) => r.is_ok(),
        _ = client.shared.kill.notified() => false,
    };
    out.clear();
    ok && !client.shared.killed.load(Ordering::SeqCst)
}

async fn handle(shared: Arc<Shared>, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (mut rd, mut wr) = sock.into_split();
    let admitted = {
        let mut s = shared.lock();
        s.stats.connections += 1;
        // Any user reachable without a password counts as "no password set".
        if s.cfg.protected_mode && s.acl.passwordless() && !peer.ip().to_canonical().is_loopback() {
            s.stats.rejected += 1;
            Err(DENIED.to_string())
        } else if s.clients.len() >= s.cfg.maxclients {
            s.stats.rejected += 1;
            Err("-ERR max number of clients reached\r\n".to_string())
        } else {
            let id = s.next_client_id;
            s.next_client_id += 1;
            let (mut c, rx) = Client::new(id);
            c.authed = s.acl.default_auto_login();
            s.clients.insert(
                id,
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
                    multi: false,
                    blocked: false,
                },
            );
            Ok((c, rx))
        }
    };
    let (mut client, mut push_rx) = match admitted {
        Ok(x) => x,
        Err(msg) => {
            let _ = wr.write_all(msg.as_bytes()).await;
            return;
        }
    };
    let mut synced = shared.synced.subscribe();
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    'conn: loop {
        tokio::select! {
            biased;
            _ = client.shared.kill.notified() => break 'conn,
            Some(push) = push_rx.recv() => {
                push.encode(client.proto, &mut out);
                let mut n = 1;
                while n < 1024 {
                    match push_rx.try_recv() {
                        Ok(p) => { p.encode(client.proto, &mut out); n += 1; }
                        Err(_) => break,
                    }
                }
                let len = out.len();
                if !flush(&mut wr, &mut out, &client).await {
                    break 'conn;
                }
                let _ = client.shared.pending.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| Some(p.saturating_sub(len)));
            }
            r = rd.read_buf(&mut inbuf) => {
                match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(_) => {}
                }
                if inbuf.len() > shared.query_limit {
                    tracing::warn!(client = client.id, "query buffer limit reached; closing client");
                    break 'conn;
                }
                // Run every complete request in the buffer (pipelining).
                let mut w = Written::default();
                loop {
                    let outcome = run_batch(&shared, &mut client, &mut inbuf, &mut out, &mut w);
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
                            let _ = flush(&mut wr, &mut out, &client).await;
                            break 'conn;
                        }
                        Batch::Flush => {
                            if !wait_durable(&mut synced, w.at, w.always).await
                                || !flush(&mut wr, &mut out, &client).await
                            {
                                break 'conn;
                            }
                        }
                        Batch::Block => {
                            if !wait_durable(&mut synced, w.at, w.always).await
                                || !flush(&mut wr, &mut out, &client).await
                            {
                                break 'conn;
                            }
                            match block_wait(&shared, &mut client, &mut rd, &mut inbuf).await {
                                Some(r) => r.encode(client.proto, &mut out),
                                None => break 'conn,
                            }
                            let s = shared.lock();
                            w.at = w.at.max(s.aof_offset());
                            w.always = s.cfg.appendfsync == Fsync::Always;
                        }
                    }
                }
                // Let the other clients woken by the same readiness event run
                // first, so replies leave in one burst (Redis writes them all
                // before it sleeps): the client then reads many per wake-up.
                if !out.is_empty() {
                    tokio::task::yield_now().await;
                }
                if !wait_durable(&mut synced, w.at, w.always).await
                    || !flush(&mut wr, &mut out, &client).await
                    || client.close
                {
                    break 'conn;
                }
                if inbuf.capacity() > 1 << 20 && inbuf.is_empty() {
                    inbuf = BytesMut::with_capacity(16 * 1024);
                }
            }
        }
    }
    let _ = wr.shutdown().await;
    disconnect(&shared, &mut client);
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
}

/// Runs complete requests from `inbuf` under one lock acquisition. Sync on
/// purpose: the guard can never be held across an await.
fn run_batch(
    shared: &Shared,
    client: &mut Client,
    inbuf: &mut BytesMut,
    out: &mut BytesMut,
    w: &mut Written,
) -> Batch {
    let mut guard: Option<MutexGuard<'_, Store>> = None;
    loop {
        let (argv, used) = match parse_request(inbuf, &shared.limits) {
            Ok(Some(x)) => x,
            Ok(None) => return Batch::Done,
            Err(e) => {
                Reply::err(e.to_string()).encode(client.proto, out);
                return Batch::ProtocolError;
            }
        };
        inbuf.advance(used);
        if argv.is_empty() {
            continue;
        }
        let s = guard.get_or_insert_with(|| shared.lock());
        let mut ctx = Ctx {
            s,
            c: client,
            now: now_ms(),
            in_script: false,
            in_exec: false,
            custom_prop: false,
        };
        let reply = cmd::execute(&mut ctx, argv);
        let off = s.aof_offset();
        if off > w.at {
            w.at = off;
            w.always = s.cfg.appendfsync == Fsync::Always;
        }
        reply.encode(client.proto, out);
        if client.block.is_some() {
            return Batch::Block;
        }
        if client.close {
            return Batch::Close;
        }
        if out.len() > 64 * 1024 {
            return Batch::Flush;
        }
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
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    inbuf: &mut BytesMut,
) -> Option<Reply> {
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
            _ = client.shared.kill.notified() => {
                cmd::unblock(&mut shared.lock(), client.id);
                return None;
            }
            r = rd.read_buf(inbuf) => {
                // Keep reading while blocked (Redis does); notice disconnects.
                match r {
                    Ok(n) if n > 0 && inbuf.len() < 64 * 1024 * 1024 => {}
                    _ => {
                        cmd::unblock(&mut shared.lock(), client.id);
                        return None;
                    }
                }
            }
        }
    }
    // Timed out: leave the queues, then take a reply that raced in, if any.
    cmd::unblock(&mut shared.lock(), client.id);
    match spec.rx.try_recv() {
        Ok(r) => Some(r),
        Err(_) => Some(spec.on_timeout),
    }
}

fn disconnect(shared: &Shared, client: &mut Client) {
    let mut s = shared.lock();
    cmd::unblock(&mut s, client.id);
    crate::cmd::forget_client(&mut s, client);
}
