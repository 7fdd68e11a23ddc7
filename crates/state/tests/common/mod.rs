//! Test harness: a real `redis-server` and an in-process `bigstep state`, and a
//! small blocking RESP client that speaks to both.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use state::resp::{encode_command, parse_frame, split_args, Frame};

/// A running redis-server, killed on drop.
pub struct Redis {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `cond` until it holds; panics naming `what` after `limit`. Tests wait
/// on the state that proves a condition, never on a sleep that guesses it.
#[allow(dead_code)] // not every test binary that includes `common` polls
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until something accepts on `addr`.
pub fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on {addr}");
}

/// Starts redis-server on a free port. Fails (not skips) if it is missing.
///
/// A port found free can be taken by another test before redis-server binds
/// it, so we check that the server answering is *this* child (INFO's
/// `process_id`) and try another port if the child exited or someone else
/// answers.
pub fn start_redis(extra: &[&str]) -> Redis {
    start_server("redis-server", extra)
}

/// Starts Debian's valkey-server (Valkey 8, from bookworm-backports; see
/// .ci/install) the same way. Fails (not skips) if it is missing.
pub fn start_valkey(extra: &[&str]) -> Redis {
    start_server("valkey-server", extra)
}

fn start_server(bin: &str, extra: &[&str]) -> Redis {
    for _attempt in 0..10 {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("{bin} must be installed (see .ci/apt-state.txt and .ci/install): {e}")
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        if is_our_redis(&mut child, addr) {
            return Redis { child, addr };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not start {bin} on a free port after 10 tries");
}

/// Waits until `addr` answers INFO with `child`'s pid; false if the child
/// exited (port taken) or another process answers.
fn is_our_redis(child: &mut Child, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = format!("process_id:{}\r\n", child.id());
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"INFO server\r\n").is_ok() {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while let Ok(n) = std::io::Read::read(&mut s, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(want.len()).any(|w| w == want.as_bytes()) {
                        return true;
                    }
                    if got.starts_with(b"-NOAUTH") {
                        // Started with a password: INFO is refused. Ours if our child
                        // is still running (a port clash makes it exit at once).
                        std::thread::sleep(Duration::from_millis(100));
                        return matches!(child.try_wait(), Ok(None));
                    }
                    if got.windows(11).any(|w| w == b"process_id:") && got.ends_with(b"\r\n\r\n") {
                        break;
                    }
                    if got.len() > 16 * 1024 {
                        break;
                    }
                }
                if got.windows(11).any(|w| w == b"process_id:") {
                    // Someone else's server holds the port.
                    return false;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// An in-process bigstep state server on a free port.
pub struct Ours {
    pub addr: SocketAddr,
    pub metrics: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Ours {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn start_ours(mut cfg: state::Config) -> Ours {
    cfg.port = 0;
    cfg.bind = "127.0.0.1".into();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = state::Server::start(cfg).await.expect("start");
            addr_tx
                .send((server.local_addr(), server.metrics_addr()))
                .expect("send addr");
            server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
        });
    });
    let (addr, metrics) = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    Ours {
        addr,
        metrics,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// A blocking RESP client.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, b: &[u8]) {
        self.stream.write_all(b).expect("write");
    }

    pub fn send_args(&mut self, args: &[Vec<u8>]) {
        let mut out = bytes::BytesMut::new();
        encode_command(args, &mut out);
        self.send_raw(&out);
    }

    /// Reads one frame; None on EOF.
    pub fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some((f, n)) = parse_frame(&self.buf).expect("valid RESP from server") {
                self.buf.drain(..n);
                return Some(f);
            }
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                // A server that died (kill -9) resets the connection: EOF to us.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Reads with a short timeout; None if nothing came.
    pub fn try_read(&mut self, wait: Duration) -> Option<Frame> {
        if let Some((f, n)) = parse_frame(&self.buf).expect("valid RESP") {
            self.buf.drain(..n);
            return Some(f);
        }
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut tmp = [0u8; 65536];
        let r = self.stream.read(&mut tmp);
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        match r {
            Ok(0) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                self.read()
            }
            Err(_) => None,
        }
    }

    /// Sends an inline-syntax command line as a multibulk request; reads the reply.
    pub fn cmd(&mut self, line: &str) -> Frame {
        let args: Vec<Vec<u8>> = split_args(line.as_bytes())
            .expect("test line parses")
            .into_iter()
            .map(|b| b.to_vec())
            .collect();
        self.send_args(&args);
        self.read().expect("reply")
    }
}

/// Sorts an array-ish reply (for commands whose order is unspecified).
pub fn sorted(f: Frame) -> Frame {
    fn key(f: &Frame) -> String {
        format!("{f:?}")
    }
    match f {
        Frame::Array(mut v) | Frame::Set(mut v) => {
            v.sort_by_key(key);
            Frame::Array(v)
        }
        Frame::Map(mut m) => {
            m.sort_by_key(|(k, _)| key(k));
            Frame::Map(m)
        }
        other => other,
    }
}

/// Sorts key/value pairs of a flat array reply (HGETALL in RESP2).
pub fn sorted_pairs(f: Frame) -> Frame {
    match f {
        Frame::Array(v) => {
            let mut pairs: Vec<(Frame, Frame)> = v
                .chunks(2)
                .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or(Frame::Null)))
                .collect();
            pairs.sort_by_key(|(k, _)| format!("{k:?}"));
            Frame::Array(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect())
        }
        other => sorted(other),
    }
}

/// How to compare one reply.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    Exact,
    Sorted,
    Pairs,
    /// Only the shape: error vs not, type.
    Kind,
    /// Error replies: compare only the first word (the error code).
    ErrCode,
}

fn kind(f: &Frame) -> String {
    match f {
        Frame::Error(e) => format!("error {}", e.split(' ').next().unwrap_or("")),
        Frame::Array(v) => format!("array {}", v.len()),
        Frame::Map(_) => "map".into(),
        Frame::Set(v) => format!("set {}", v.len()),
        Frame::Integer(_) => "int".into(),
        Frame::Bulk(_) => "bulk".into(),
        Frame::Null => "null".into(),
        Frame::Simple(_) => "simple".into(),
        Frame::Double(_) => "double".into(),
        Frame::Verbatim(..) => "verbatim".into(),
        other => format!("{other:?}"),
    }
}

/// A redis-server and a bigstep state, each with a connection.
pub struct Pair {
    pub redis: Redis,
    pub ours: Ours,
    pub r: Conn,
    pub o: Conn,
    pub checked: usize,
}

impl Pair {
    pub fn new() -> Pair {
        Pair::with(&[], state::Config::default())
    }

    pub fn with(redis_args: &[&str], cfg: state::Config) -> Pair {
        let redis = start_redis(redis_args);
        let ours = start_ours(cfg);
        let r = Conn::connect(redis.addr);
        let o = Conn::connect(ours.addr);
        Pair {
            redis,
            ours,
            r,
            o,
            checked: 0,
        }
    }

    /// Sends the same command line to both and requires identical replies.
    pub fn check_mode(&mut self, line: &str, mode: Mode) -> Frame {
        let a = self.r.cmd(line);
        let b = self.o.cmd(line);
        let (x, y) = match mode {
            Mode::Exact => (a.clone(), b),
            Mode::Sorted => (sorted(a.clone()), sorted(b)),
            Mode::Pairs => (sorted_pairs(a.clone()), sorted_pairs(b)),
            Mode::Kind => (Frame::Simple(kind(&a)), Frame::Simple(kind(&b))),
            Mode::ErrCode => match (&a, &b) {
                (Frame::Error(_), Frame::Error(_)) => {
                    (Frame::Simple(kind(&a)), Frame::Simple(kind(&b)))
                }
                _ => (a.clone(), b),
            },
        };
        assert_eq!(x, y, "command `{line}`: redis-server vs bigstep state");
        self.checked += 1;
        a
    }

    /// Runs a script: one command per line. Prefixes: `~` sorted compare,
    /// `%` pairs compare, `?` kind only, `!` error code only; `#` comments.
    pub fn script(&mut self, s: &str) {
        for line in s.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (mode, l) = match line.as_bytes()[0] {
                b'~' => (Mode::Sorted, &line[1..]),
                b'%' => (Mode::Pairs, &line[1..]),
                b'?' => (Mode::Kind, &line[1..]),
                b'!' => (Mode::ErrCode, &line[1..]),
                _ => (Mode::Exact, line),
            };
            self.check_mode(l.trim(), mode);
        }
    }

    /// Opens one more connection to each server.
    pub fn conns(&self) -> (Conn, Conn) {
        (
            Conn::connect(self.redis.addr),
            Conn::connect(self.ours.addr),
        )
    }
}

/// Path of the built `bigstep` binary, if this test can find it.
pub fn bigstep_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CARGO_BIN_EXE_bigstep") {
        return PathBuf::from(p);
    }
    // tests/ of the state crate: the binary lives next to the test executable's dir.
    let exe = std::env::current_exe().expect("exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    dir.join("bigstep")
}
