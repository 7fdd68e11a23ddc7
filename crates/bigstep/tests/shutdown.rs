//! One SIGTERM behaviour for the three servers, each tested as the real binary:
//! work in flight when SIGTERM arrives (an HTTP upload half sent, a Redis
//! transaction opened, a blocked BLPOP) finishes; idle connections are closed;
//! new connections are refused while the work goes on; the process exits 0
//! within the grace. The client holds the work in flight itself (it sends the
//! rest only after checking the refusal), so no test guesses at timing, and
//! every wait polls with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::backend::Backend;
use testkit::process::FrontDoorProc;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
/// The grace every server gets here: long, so "within the grace" is a real check
/// and a cut would show as a slow exit.
const GRACE: &str = "20s";
const GRACE_SECS: u64 = 20;

/// A server role as a child process, killed on drop.
struct Proc {
    child: Child,
    addr: SocketAddr,
    logs: Arc<Mutex<String>>,
    /// One message from each output reader when its pipe ends.
    logs_done: mpsc::Receiver<()>,
    /// Its TMPDIR (`up --ephemeral` keeps its data there), removed even after a kill.
    _tmp: testkit::TempDir,
}

impl Proc {
    /// Starts `bigstep ARGS` and waits for its `PREFIX ADDR` line on stdout.
    fn start(args: &[&str], prefix: &'static str) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        Proc::spawn(cmd, prefix)
    }

    /// Starts `bigstep ARGS` with at most `kib` KiB per file written (a full
    /// disk, as the process sees it: writes past it fail with `EFBIG`).
    fn start_limited(args: &[&str], kib: u32, prefix: &'static str) -> Proc {
        let mut cmd = Command::new("sh");
        // Ignored, SIGXFSZ stays ignored across exec: the write fails instead
        // of killing the process. `ulimit -f` counts 512-byte blocks.
        cmd.arg("-c")
            .arg(format!(
                "trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"",
                kib * 2
            ))
            .arg(BIN)
            .args(args);
        Proc::spawn(cmd, prefix)
    }

    fn spawn(mut cmd: Command, prefix: &'static str) -> Proc {
        let args = format!("{cmd:?}");
        let tmp = testkit::TempDir::new("proc");
        let mut child = cmd
            .env("TMPDIR", &tmp)
            .env_remove("BIGSTEP_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bigstep");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let (done_tx, logs_done) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let sink = logs.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix(prefix) {
                    // `redis://ADDR/0` in `bigstep up`'s banner: keep the address.
                    let a = a.split('/').next().unwrap_or(a);
                    let _ = tx.send(a.split_whitespace().next().unwrap_or(a).to_string());
                }
                let mut l = sink.lock().expect("logs");
                l.push_str(&line);
                l.push('\n');
            }
            let _ = done.send(());
        });
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().expect("logs");
                l.push_str(&line);
                l.push('\n');
            }
            let _ = done_tx.send(());
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                panic!("{args} did not start: {}", logs.lock().unwrap());
            }
        };
        Proc {
            child,
            addr,
            logs,
            logs_done,
            _tmp: tmp,
        }
    }

    fn terminate(&self) {
        testkit::process::signal(self.child.id(), "TERM");
    }

    /// Sends SIGTERM and checks the drain's first step, the same for every
    /// role: the listener closes and the idle connection `idle` is closed.
    /// Returns when SIGTERM was sent.
    fn terminate_and_check_drain(&self, addr: SocketAddr, idle: &mut TcpStream) -> Instant {
        let stopped_at = Instant::now();
        self.terminate();
        assert!(
            refused_within(addr, Duration::from_secs(10)),
            "still accepting after SIGTERM"
        );
        assert!(closed(idle), "the idle connection was not closed");
        stopped_at
    }

    /// Waits for the exit, failing past `limit`; then for the last log lines
    /// (the readers may still hold lines the process wrote just before it
    /// exited: a test reading the logs at once could miss the final ones).
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                // Bounded: a process we started may have left a child holding the pipes.
                for _ in 0..2 {
                    let _ = self.logs_done.recv_timeout(Duration::from_secs(5));
                }
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after SIGTERM; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().expect("logs").clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until a connection to `addr` is refused (the listener is closed).
fn refused_within(addr: SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(GRACE_SECS)))
        .expect("timeout");
    s
}

/// Reads exactly `want.len()` bytes and compares.
fn expect(s: &mut TcpStream, want: &str) {
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("reading {want:?}: {e}"));
    assert_eq!(String::from_utf8_lossy(&got), want);
}

/// True when the peer closed `s` (EOF or reset) within the read timeout,
/// sending nothing first.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// A RESP command as an array of bulk strings.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    out.into_bytes()
}

/// Reads whatever one reply to `INFO clients` is (a bulk string).
fn info_clients(addr: SocketAddr) -> String {
    let mut s = connect(addr);
    s.write_all(&resp(&["INFO", "clients"])).expect("write");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.ends_with("\r\n\r\n") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed mid-reply: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

#[test]
fn state_finishes_transactions_and_blocked_commands_then_exits_0() {
    let mut p = Proc::start(
        &["state", "--port", "0", "--shutdown-grace", GRACE],
        "bigstep state listening on ",
    );
    let addr = p.addr;
    // A transaction opened: in flight until EXEC.
    let mut tx = connect(addr);
    tx.write_all(&resp(&["MULTI"])).unwrap();
    expect(&mut tx, "+OK\r\n");
    tx.write_all(&resp(&["SET", "k", "v"])).unwrap();
    expect(&mut tx, "+QUEUED\r\n");
    // A blocked command: in flight until its 3 s timeout answers it.
    let mut blocked = connect(addr);
    blocked.write_all(&resp(&["BLPOP", "q", "3"])).unwrap();
    // An idle client: closed as soon as the drain begins.
    let mut idle = connect(addr);
    idle.write_all(&resp(&["PING"])).unwrap();
    expect(&mut idle, "+PONG\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !info_clients(addr).contains("blocked_clients:1") {
        assert!(Instant::now() < deadline, "BLPOP never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }

    let stopped_at = p.terminate_and_check_drain(addr, &mut idle);
    tx.write_all(&resp(&["EXEC"])).unwrap();
    expect(&mut tx, "*1\r\n+OK\r\n");
    assert!(closed(&mut tx), "closed once its transaction ran");
    expect(&mut blocked, "*-1\r\n");
    let status = p.wait_exit(Duration::from_secs(GRACE_SECS));
    assert!(status.success(), "{status:?}; logs:\n{}", p.logs());
    assert!(stopped_at.elapsed() < Duration::from_secs(GRACE_SECS));
    let logs = p.logs();
    assert!(logs.contains("cut=0"), "nothing was cut:\n{logs}");
}

/// Presigned URLs (path and query) for creating `bucket` and putting `key`,
/// made by boto3 (signing is local: nothing leaves the machine).
fn presign(endpoint: &str, access: &str, secret: &str) -> (String, String) {
    let script = "
import sys, boto3
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
    aws_secret_access_key=sys.argv[3], region_name='us-east-1',
    config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
print(s3.generate_presigned_url('create_bucket', Params={'Bucket': 'drain'}, ExpiresIn=600))
print(s3.generate_presigned_url('put_object', Params={'Bucket': 'drain', 'Key': 'big'}, ExpiresIn=600))
";
    let out = Command::new("python3")
        .args(["-c", script, endpoint, access, secret])
        .output()
        .expect("python3 with boto3 (installed by .ci/install)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut urls = text.lines().map(|u| {
        u.strip_prefix(endpoint)
            .expect("endpoint prefix")
            .to_string()
    });
    (urls.next().unwrap(), urls.next().unwrap())
}

/// Reads one HTTP response whose body has a Content-Length; returns (status, body).
fn http_response(s: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("read response");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return (status, body.to_string());
            }
        }
    }
}

#[test]
fn files_finishes_an_upload_in_flight_then_exits_0() {
    const ACCESS: &str = "BSTESTDRAINACCESS001";
    const SECRET: &str = "drain-test-secret-0123456789-abcdefghij";
    let dir = testkit::process::temp_dir("files-drain");
    let data = dir.join("data");
    let mut p = Proc::start(
        &[
            "files",
            "--port",
            "0",
            "--dir",
            data.to_str().unwrap(),
            "--access-key",
            ACCESS,
            "--secret-key",
            SECRET,
            "--shutdown-grace",
            GRACE,
        ],
        "bigstep files listening on ",
    );
    let addr = p.addr;
    let (create, put) = presign(&format!("http://{addr}"), ACCESS, SECRET);
    let mut c = connect(addr);
    write!(
        c,
        "PUT {create} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (status, body) = http_response(&mut c);
    assert_eq!(status, 200, "{body}");

    // Half an upload sent: the request is in flight until the rest arrives.
    let size = 256 * 1024;
    let payload = vec![b'x'; size];
    let mut upload = connect(addr);
    write!(
        upload,
        "PUT {put} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {size}\r\n\r\n"
    )
    .unwrap();
    upload.write_all(&payload[..size / 2]).unwrap();
    // An idle keep-alive connection: closed at once by the drain.
    let mut idle = connect(addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut m = connect(addr);
        write!(
            m,
            "GET /-/metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        let _ = m.read_to_string(&mut text);
        if text.contains("bigstep_files_in_flight 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upload never started: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let stopped_at = p.terminate_and_check_drain(addr, &mut idle);
    upload.write_all(&payload[size / 2..]).unwrap();
    let (status, body) = http_response(&mut upload);
    assert_eq!(status, 200, "the upload in flight completes: {body}");
    let status = p.wait_exit(Duration::from_secs(GRACE_SECS));
    assert!(status.success(), "{status:?}; logs:\n{}", p.logs());
    assert!(stopped_at.elapsed() < Duration::from_secs(GRACE_SECS));
    assert!(p.logs().contains("cut=0"), "{}", p.logs());
    drop(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_finishes_an_upload_in_flight_then_exits_0() {
    let a = Backend::start("a").await;
    let mut fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[[balance.servers]]\nname = \"a\"\naddress = \"{}\"\n\n[balance.timeouts]\nshutdown_grace = \"{GRACE}\"\n",
            a.addr
        ),
    );
    let addr = fd.addr;
    let body = vec![b'y'; 1000];
    let (mut upload, mut idle) = tokio::task::spawn_blocking(move || {
        let mut upload = connect(addr);
        write!(
            upload,
            "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"
        )
        .unwrap();
        upload.write_all(&[b'y'; 500]).unwrap();
        (upload, connect(addr))
    })
    .await
    .unwrap();
    assert!(
        testkit::eventually(Duration::from_secs(10), || a.in_flight() == 1).await,
        "the upload never reached the server"
    );

    let stopped_at = Instant::now();
    fd.terminate();
    let done = tokio::task::spawn_blocking(move || {
        assert!(
            refused_within(addr, Duration::from_secs(10)),
            "still accepting after SIGTERM"
        );
        assert!(closed(&mut idle), "the idle connection was not closed");
        upload.write_all(&body[500..]).unwrap();
        http_response(&mut upload)
    })
    .await
    .unwrap();
    assert_eq!(
        done,
        (200, "1000".to_string()),
        "the upload in flight completes"
    );
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(GRACE_SECS);
        loop {
            if let Some(s) = fd.child.try_wait().unwrap() {
                return (s, fd);
            }
            assert!(Instant::now() < deadline, "no exit within the grace");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "{:?}; logs: {:?}",
        status.0,
        status.1.logs()
    );
    assert!(stopped_at.elapsed() < Duration::from_secs(GRACE_SECS));
    assert!(
        status.1.logs().iter().any(|l| l.contains("cut=0")),
        "{:?}",
        status.1.logs()
    );
}

// ---- a log that cannot be written: an error, not an exit from a library -----

/// SET of a value bigger than the file-size limit: the log write fails.
fn set_big(addr: SocketAddr, bytes: usize) -> String {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let value = "v".repeat(bytes);
    s.write_all(&resp(&["SET", "big", &value])).unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

#[test]
fn state_exits_non_zero_with_the_reason_when_its_log_cannot_be_written() {
    let dir = testkit::process::temp_dir("state-efbig");
    let mut p = Proc::start_limited(
        &[
            "state",
            "--port",
            "0",
            "--dir",
            dir.to_str().unwrap(),
            "--appendfsync",
            "always",
        ],
        64,
        "bigstep state listening on ",
    );
    let reply = set_big(p.addr, 256 * 1024);
    // `always`: the reply waits for the log, so the write is never acknowledged.
    assert!(
        !reply.contains("+OK"),
        "acknowledged a lost write: {reply:?}"
    );
    let status = p.wait_exit(Duration::from_secs(20));
    let logs = p.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("bigstep: error: the state server stopped: append-only log")
            && logs.contains("write failed"),
        "the reason is printed:\n{logs}"
    );
    drop(p);
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn up_stops_the_site_cleanly_when_the_state_log_fails() {
    let dir = testkit::process::temp_dir("up-efbig");
    let mut p = Proc::start_limited(
        &[
            "up",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--state-port",
            "0",
            "--no-files",
            "-n",
            "1",
            "--grace",
            "5s",
            "--data",
            dir.to_str().unwrap(),
        ],
        1024,
        "bigstep up: shared state on redis://",
    );
    let banner = p.logs();
    let pid: u32 = banner
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an instance pid in the banner:\n{banner}"));
    assert!(alive(pid));
    let _ = set_big(p.addr, 2 * 1024 * 1024);
    let status = p.wait_exit(Duration::from_secs(30));
    let logs = p.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("bigstep: error: the shared state server stopped: append-only log"),
        "the reason is printed:\n{logs}"
    );
    assert!(
        logs.contains("front door stopped"),
        "the front door drained and stopped, it was not killed:\n{logs}"
    );
    assert!(!alive(pid), "the instance was stopped with the site");
    drop(p);
}
