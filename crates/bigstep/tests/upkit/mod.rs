//! A running `bigstep up` for the operator tests (`up_ctl.rs`, `up_hosts.rs`):
//! every port 0, nothing kept, the banner parsed for the front door and the
//! dashboard, `bigstep ctl` run against it, and a blocking HTTP client.
//! Waits poll with a deadline.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

pub struct Up {
    pub child: Child,
    /// The front door.
    pub addr: SocketAddr,
    /// The admin API and dashboard.
    pub admin: SocketAddr,
    output: Arc<Mutex<String>>,
    /// Up's TMPDIR: what it keeps there (ephemeral data, the instances'
    /// hosts) goes with the test even when it is killed.
    _tmp: testkit::TempDir,
}

impl Up {
    /// `bigstep up --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state-port 0
    /// --files-port 0 --ephemeral ARGS…` (options before a `--` in `args`).
    pub fn start(args: &[&str]) -> Up {
        Self::start_env(args, &[])
    }

    /// [`Up::start`] with `dir` as the working directory.
    pub fn start_in(args: &[&str], dir: &std::path::Path) -> Up {
        Self::launch(args, &[], Some(dir))
    }

    /// [`Up::start`] with `--data DIR` in `args`: keys and data kept there.
    pub fn start_kept(args: &[&str]) -> Up {
        Self::launch(args, &[], None)
    }

    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Up {
        Self::launch(args, env, None)
    }

    fn launch(args: &[&str], env: &[(&str, &str)], dir: Option<&std::path::Path>) -> Up {
        let ours = [
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--state-port",
            "0",
            "--files-port",
            "0",
        ];
        // Nothing kept unless the test names a data directory.
        let ephemeral = (!args.contains(&"--data")).then_some("--ephemeral");
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let tmp = testkit::TempDir::new("up");
        let mut cmd = Command::new(BIN);
        cmd.env("TMPDIR", &tmp);
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let mut child = cmd
            .arg("up")
            .args(ours)
            .args(ephemeral)
            .args(&args[..split])
            .args(&args[split..])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bigstep up");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stdout.take().unwrap(), output.clone(), Some(tx));
        drain(child.stderr.take().unwrap(), output.clone(), None);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut addr, mut admin) = (None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("bigstep up: front door on http://") {
                        addr = url.split_whitespace().next().and_then(|a| a.parse().ok());
                    } else if let Some(url) = line.strip_prefix("bigstep up: dashboard on http://")
                    {
                        admin = url.split_whitespace().next().and_then(|a| a.parse().ok());
                    } else if line.starts_with("Open http://") && addr.is_some() {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no banner within 60 s; output:\n{}", output.lock().unwrap());
                }
            }
        }
        Up {
            child,
            addr: addr.expect("front door address"),
            admin: admin.expect("dashboard line in the banner"),
            output,
            _tmp: tmp,
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// `bigstep ctl --admin ADMIN ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> Ctl {
        ctl(self.admin, args)
    }

    /// Send `sig` and wait (bounded) for the exit.
    pub fn signal_and_wait(&mut self, sig: &str, limit: Duration) -> Option<ExitStatus> {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until `cond` holds for the output (bounded).
    pub fn wait_output(&self, what: &str, cond: impl Fn(&str) -> bool) {
        wait_for(Duration::from_secs(30), what, || cond(&self.output()));
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `bigstep ctl` did.
pub struct Ctl {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub fn ctl(admin: SocketAddr, args: &[&str]) -> Ctl {
    let out = Command::new(BIN)
        .args(["ctl", "--admin", &admin.to_string()])
        .args(args)
        .env_remove("BIGSTEP_ADMIN_TOKEN")
        .output()
        .expect("run bigstep ctl");
    Ctl {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Ctl {
    /// The stdout of a command that must succeed.
    pub fn expect_ok(self, what: &str) -> String {
        assert!(
            self.ok,
            "{what}: bigstep ctl failed: {}{}",
            self.stdout, self.stderr
        );
        self.stdout
    }
}

/// `ctl ls` rows as (id, columns).
pub fn ls_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn drain(
    from: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            {
                let mut out = output.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

/// Poll `cond` every 20 ms for up to `limit`; panic naming `what` if it never holds.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A response: status, head (lower-cased header names), body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("set-cookie")
                    .then(|| v.trim().to_string())
            })
            .collect()
    }
}

/// One request on its own connection; `Err` for any transport failure.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete response: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok(Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

pub fn get(addr: SocketAddr, path: &str) -> Result<Resp, String> {
    request(addr, "GET", path, &[], b"")
}

/// `n` GETs of `path`: how many each instance (`X-Served-By`) answered.
pub fn spread(addr: SocketAddr, path: &str, n: usize) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for _ in 0..n {
        let r = get(addr, path).expect("GET through the front door");
        assert_eq!(r.status, 200, "{r:?}");
        let by = r.header("x-served-by").unwrap_or_else(|| "?".into());
        *seen.entry(by).or_insert(0) += 1;
    }
    seen
}

/// Clients in `threads` threads GET `path` in a loop until `stop` is set (or
/// `max` requests in all): the bounded load the control tests run under.
/// Each request has a connection of its own and is sent once (no client retry).
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Requests answered so far, any answer (progress, for tests that act mid-run).
    done: Arc<std::sync::atomic::AtomicU64>,
    /// 200s per instance (`X-Served-By`).
    served: Arc<Mutex<std::collections::HashMap<String, u64>>>,
    threads: Vec<std::thread::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    pub fn start(addr: SocketAddr, path: &'static str, threads: usize, max: u64) -> Load {
        Self::start_paths(addr, &[path], threads, max)
    }

    /// [`Load::start`] over several paths, each client taking them in turn.
    pub fn start_paths(addr: SocketAddr, paths: &[&'static str], threads: usize, max: u64) -> Load {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let served = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let paths: Arc<[&'static str]> = paths.into();
        let threads = (0..threads)
            .map(|t| {
                let stop = stop.clone();
                let sent = sent.clone();
                let done = done.clone();
                let served = served.clone();
                let paths = paths.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    let mut failures = Vec::new();
                    let mut turn = t;
                    while !stop.load(Ordering::Relaxed)
                        && sent.fetch_add(1, Ordering::Relaxed) < max
                    {
                        let path = paths[turn % paths.len()];
                        turn += 1;
                        match get(addr, path) {
                            Ok(r) if r.status == 200 => {
                                ok += 1;
                                let by = r.header("x-served-by").unwrap_or_else(|| "?".into());
                                *served.lock().unwrap().entry(by).or_insert(0) += 1;
                            }
                            Ok(r) => {
                                failures.push(format!("{path}: {} {}", r.status, r.body.trim()))
                            }
                            Err(e) => failures.push(format!("{path}: {e}")),
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    (ok, failures)
                })
            })
            .collect();
        Load {
            stop,
            done,
            served,
            threads,
        }
    }

    /// Requests answered (or failed) so far.
    pub fn done(&self) -> u64 {
        self.done.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// 200s per instance so far.
    pub fn served(&self) -> std::collections::HashMap<String, u64> {
        self.served.lock().unwrap().clone()
    }

    /// Wait (bounded) until `n` more requests than now have been answered:
    /// the load is still running when this returns.
    pub fn wait_more(&self, n: u64, what: &str) {
        let target = self.done() + n;
        wait_for(Duration::from_secs(60), what, || self.done() >= target);
    }

    /// Stop and return (successes, failures).
    pub fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut ok = 0;
        let mut failures = Vec::new();
        for t in self.threads {
            let (o, f) = t.join().unwrap();
            ok += o;
            failures.extend(f);
        }
        (ok, failures)
    }
}

/// A directory with `app.py` in it: a small app of the test's own, run by
/// `bigstep up -- python3 app.py` with that directory as the working directory.
pub struct App {
    pub dir: testkit::TempDir,
}

impl App {
    pub fn write(tag: &str, source: &str) -> App {
        let dir = testkit::process::temp_dir(tag);
        std::fs::write(dir.join("app.py"), source).expect("write app.py");
        App { dir }
    }

    /// `bigstep up ARGS… -- python3 app.py` in the app's directory.
    pub fn up(&self, args: &[&str]) -> Up {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--", "python3", "app.py"]);
        Up::start_in(&all, &self.dir)
    }
}

/// The start of every test app: the instance's name and port from `bigstep up`,
/// a handler base that answers with `X-Instance`, and a threaded server.
pub const PY_PRELUDE: &str = r#"
import http.server, os, sys
PORT = int(os.environ["PORT"])
NAME = os.environ["BIGSTEP_INSTANCE"]

class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, body, headers=()):
        b = body.encode()
        self.send_response(code)
        self.send_header("X-Instance", NAME)
        self.send_header("Content-Length", str(len(b)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b)
    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))
    def cookie(self, name):
        for part in self.headers.get("Cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
        return None
    def log_message(self, *a):
        pass

def serve(handler):
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), handler).serve_forever()
"#;
