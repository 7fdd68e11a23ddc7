//! `bigstep state` as an operator runs it: the real binary, its flags and its
//! config file, and protected mode against a client that is really not on
//! loopback.
//!
//! A client that is not on loopback needs a second address. The test re-runs
//! itself inside a private network namespace (`unshare -rn`, no root needed)
//! where `lo` also carries 10.9.0.1: a connection from 10.9.0.1 to 10.9.0.1
//! gives the server a peer address that is not loopback, without touching the
//! host's network. Without `unshare` the test fails; it never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
/// The non-loopback address given to `lo` inside the namespace.
const OTHER: &str = "10.9.0.1";
/// Set for the copy of this test binary that runs inside the namespace.
const INSIDE: &str = "BIGSTEP_TEST_INSIDE_NETNS";
/// Printed by the inner test when every check ran, so an inner run that
/// matched no test (exit 0, nothing checked) cannot pass for a real one.
const DONE: &str = "protected-mode checks: all done";

/// A `bigstep state` child, killed on drop.
struct StateProc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for StateProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(tag: &str) -> testkit::TempDir {
    testkit::TempDir::new(&format!("state-cli-{tag}"))
}

/// Starts `bigstep state ARGS` and waits for its "listening on" line.
fn start(args: &[&str], env: &[(&str, &str)]) -> StateProc {
    let mut child = Command::new(BIN)
        .arg("state")
        .args(args)
        // Only what each case sets: none of the caller's BIGSTEP_* settings.
        .env_remove("BIGSTEP_CONFIG")
        .env_remove("BIGSTEP_STATE_PASSWORD")
        .env_remove("BIGSTEP_STATE_BIND")
        .env_remove("BIGSTEP_STATE_PORT")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bigstep state");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("bigstep state listening on ") {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    let (etx, erx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        let _ = etx.send(s);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(a) => StateProc {
            addr: a.parse().expect("listening address"),
            child,
        },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let logs = erx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            panic!("bigstep state {args:?} did not start: {logs}");
        }
    }
}

/// A line-oriented RESP client: enough for simple replies.
struct Client {
    s: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(ip: &str, port: u16) -> Client {
        let addr: SocketAddr = format!("{ip}:{port}").parse().expect("addr");
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        Client { s, r }
    }

    /// The client's own address (the server's peer address).
    fn local_ip(&self) -> IpAddr {
        self.s.local_addr().expect("local addr").ip()
    }

    /// Sends a command as an inline line; returns the first reply line (for bulk
    /// replies, the payload), or "" on EOF.
    fn cmd(&mut self, line: &str) -> String {
        // A refused client may already be closed; the reply is still readable.
        let _ = self.s.write_all(format!("{line}\r\n").as_bytes());
        let mut first = String::new();
        if self.r.read_line(&mut first).unwrap_or(0) == 0 {
            return String::new();
        }
        let first = first.trim_end().to_string();
        if let Some(n) = first
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
        {
            let mut body = vec![0u8; n + 2];
            self.r.read_exact(&mut body).expect("bulk body");
            return String::from_utf8_lossy(&body[..n]).into_owned();
        }
        first
    }

    /// True once the server has closed the connection.
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.r.read(&mut buf), Ok(0) | Err(_))
    }
}

fn port_of(p: &StateProc) -> u16 {
    p.addr.port()
}

#[test]
fn bind_defaults_to_loopback() {
    let p = start(&["--port", "0"], &[]);
    assert_eq!(p.addr.ip().to_string(), "127.0.0.1", "default --bind");
    let mut c = Client::connect("127.0.0.1", port_of(&p));
    assert_eq!(c.cmd("PING"), "+PONG");
}

#[test]
fn help_mentions_the_config_file_and_precedence() {
    let out = Command::new(BIN)
        .args(["state", "--help"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for want in [
        "--config",
        "[state]",
        "--check",
        "Precedence",
        "[[state.users]]",
    ] {
        assert!(text.contains(want), "`{want}` missing from help:\n{text}");
    }
}

#[test]
fn config_file_settings_and_flag_precedence() {
    let dir = temp_dir("prec");
    let path = dir.join("bigstep.toml");
    std::fs::write(
        &path,
        "[state]\nport = 1\nrequirepass_env = \"TEST_STATE_PW\"\ndatabases = 4\nmaxmemory_policy = \"allkeys-lru\"\n",
    )
    .unwrap();
    let p = start(
        &["--config", path.to_str().unwrap(), "--port", "0"],
        &[("TEST_STATE_PW", "from-env")],
    );
    // --port 0 beat the file's port 1; the file's password and settings apply.
    assert_ne!(p.addr.port(), 1);
    let mut c = Client::connect("127.0.0.1", port_of(&p));
    assert!(c.cmd("PING").starts_with("-NOAUTH"));
    assert_eq!(c.cmd("AUTH from-env"), "+OK");
    assert_eq!(c.cmd("SELECT 3"), "+OK");
    assert!(c.cmd("SELECT 4").starts_with("-ERR"));
    assert_eq!(c.cmd("CONFIG GET maxmemory-policy"), "*2");
    drop(c);
    drop(p);

    // A flag's environment variable beats the file too.
    let p = start(
        &["--config", path.to_str().unwrap(), "--port", "0"],
        &[
            ("TEST_STATE_PW", "from-env"),
            ("BIGSTEP_STATE_PASSWORD", "from-flag-env"),
        ],
    );
    let mut c = Client::connect("127.0.0.1", port_of(&p));
    assert!(c.cmd("AUTH from-env").starts_with("-WRONGPASS"));
    assert_eq!(c.cmd("AUTH from-flag-env"), "+OK");
}

/// Re-runs this test in a fresh user + network namespace, where it runs
/// [`protected_mode_checks`].
#[test]
fn protected_mode_refuses_other_hosts_until_a_password_is_set() {
    if std::env::var_os(INSIDE).is_some() {
        protected_mode_checks();
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let script = format!(
        "export PATH=\"$PATH:/usr/sbin:/sbin\"; ip link set lo up && ip addr add {OTHER}/32 dev lo && exec \"$0\" \"$@\""
    );
    let mut child = match Command::new("unshare")
        .args(["-rn", "sh", "-c", &script])
        .arg(&exe)
        .args([
            "protected_mode_refuses_other_hosts_until_a_password_is_set",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "this test needs `unshare` (util-linux) and `ip` (iproute2): {e}. \
             Run .ci/install, or apt-get install util-linux iproute2"
        ),
    };
    // Bounded: the inner checks take a second or two.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the namespace test did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(
        status.success() && out.contains(DONE),
        "protected-mode test inside `unshare -rn` failed ({status}). It needs unprivileged \
         user namespaces, util-linux `unshare` and iproute2 `ip`.\nstdout:\n{out}\nstderr:\n{err}"
    );
}

/// The checks themselves, inside the namespace: `lo` has 127.0.0.1 and 10.9.0.1.
fn protected_mode_checks() {
    let other: IpAddr = OTHER.parse().unwrap();
    let dir = temp_dir("netns");

    // 1. No password: the other host is refused with Redis's DENIED; loopback is served.
    let p = start(&["--port", "0", "--bind", "0.0.0.0"], &[]);
    let port = port_of(&p);
    let mut c = Client::connect(OTHER, port);
    assert_eq!(c.local_ip(), other, "the client must not be on loopback");
    let reply = c.cmd("PING");
    assert!(
        reply.starts_with("-DENIED Redis is running in protected mode"),
        "{reply}"
    );
    assert!(c.closed(), "a refused client is disconnected");
    let mut local = Client::connect("127.0.0.1", port);
    assert_eq!(local.cmd("PING"), "+PONG");
    drop(p);

    // 2. requirepass (from its environment variable): admitted, must AUTH.
    let p = start(
        &["--port", "0", "--bind", "0.0.0.0"],
        &[("BIGSTEP_STATE_PASSWORD", "s3cret-pass")],
    );
    let port = port_of(&p);
    let mut c = Client::connect(OTHER, port);
    assert!(c.cmd("PING").starts_with("-NOAUTH"));
    assert!(c.cmd("AUTH wrong").starts_with("-WRONGPASS"));
    assert_eq!(c.cmd("AUTH s3cret-pass"), "+OK");
    assert_eq!(c.cmd("PING"), "+PONG");
    assert!(c.cmd("CLIENT INFO").contains(&format!("addr={OTHER}:")));
    let mut local = Client::connect("127.0.0.1", port);
    assert!(local.cmd("PING").starts_with("-NOAUTH"));
    assert_eq!(local.cmd("AUTH default s3cret-pass"), "+OK");
    drop(p);

    // 3. Only an ACL user with a password, from the config file (bound to the
    //    non-loopback address itself): admitted; the default user is off.
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!(
            "[state]\nbind = \"{OTHER}\"\nport = 0\n\n[[state.users]]\nname = \"app\"\npassword_env = \"TEST_APP_PW\"\n"
        ),
    )
    .unwrap();
    let p = start(
        &["--config", path.to_str().unwrap()],
        &[("TEST_APP_PW", "app-pass")],
    );
    assert_eq!(p.addr.ip(), other);
    let mut c = Client::connect(OTHER, port_of(&p));
    assert!(c.cmd("PING").starts_with("-NOAUTH"));
    assert!(c
        .cmd("AUTH anything")
        .starts_with("-ERR AUTH <password> called without"));
    assert!(c.cmd("AUTH default anything").starts_with("-WRONGPASS"));
    assert_eq!(c.cmd("AUTH app app-pass"), "+OK");
    assert_eq!(c.cmd("SET k v"), "+OK");
    assert_eq!(c.cmd("GET k"), "v");
    assert!(c.cmd("CLIENT INFO").contains(" user=app "));
    drop(p);

    // 4. A user without a password still counts as "no password": refused.
    std::fs::write(
        &path,
        "[state]\nbind = \"0.0.0.0\"\nport = 0\n\n[[state.users]]\nname = \"guest\"\nnopass = true\n",
    )
    .unwrap();
    let p = start(&["--config", path.to_str().unwrap()], &[]);
    let mut c = Client::connect(OTHER, port_of(&p));
    assert!(c.cmd("PING").starts_with("-DENIED"));
    drop(p);

    // 5. --no-protected-mode: the operator's explicit choice is honoured.
    let p = start(
        &["--port", "0", "--bind", "0.0.0.0", "--no-protected-mode"],
        &[],
    );
    let mut c = Client::connect(OTHER, port_of(&p));
    assert_eq!(c.cmd("PING"), "+PONG");
    drop(p);

    println!("{DONE}");
}

/// The binary's own runtime (one worker by default): a script past
/// busy-reply-threshold leaves the other clients answered (BUSY), a client
/// connecting meanwhile can SCRIPT KILL it, and the server goes on.
#[test]
fn a_busy_script_can_be_killed_with_the_default_threads() {
    let p = start(&["--port", "0"], &[]);
    let port = port_of(&p);
    let mut a = Client::connect("127.0.0.1", port);
    let mut b = Client::connect("127.0.0.1", port);
    assert_eq!(b.cmd("CONFIG SET busy-reply-threshold 50"), "+OK");
    let _ =
        a.s.write_all(b"EVAL \"local i = 0 while true do i = i + 1 end\" 0\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = b.cmd("GET k");
        if r.starts_with("-BUSY") {
            assert_eq!(
                r,
                "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            );
            break;
        }
        assert!(Instant::now() < deadline, "no BUSY reply: {r:?}");
    }
    let mut c = Client::connect("127.0.0.1", port);
    assert_eq!(c.cmd("SCRIPT KILL"), "+OK");
    let mut killed = String::new();
    a.r.read_line(&mut killed).expect("the script's reply");
    assert!(
        killed.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{killed:?}"
    );
    assert_eq!(b.cmd("PING"), "+PONG");
    assert_eq!(
        c.cmd("SCRIPT KILL"),
        "-NOTBUSY No scripts in execution right now."
    );
}

/// Memory the server frees goes back to the system while it is idle, as Redis's
/// jemalloc background thread gives it back: 300,000 keys of 100 bytes
/// (about 60 MiB resident), then FLUSHALL, then nothing. Without the
/// allocator's housekeeping thread (main.rs) the RSS stays at the loaded
/// figure for good, because nothing enters the allocator again to purge.
#[test]
fn memory_freed_by_flushall_returns_to_the_system_while_idle() {
    let p = start(&["--port", "0"], &[]);
    let rss_kib = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    };
    let base = rss_kib();
    let mut c = Client::connect("127.0.0.1", port_of(&p));
    let value = "v".repeat(100);
    const KEYS: usize = 300_000;
    // One pipelined write per 10,000 SETs, then their 10,000 "+OK" lines.
    for chunk in 0..KEYS / 10_000 {
        let mut batch = String::new();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            batch.push_str(&format!("SET key:{i} {value}\r\n"));
        }
        c.s.write_all(batch.as_bytes()).expect("write the SETs");
        for _ in 0..10_000 {
            let mut line = String::new();
            c.r.read_line(&mut line).expect("a SET reply");
            assert_eq!(line, "+OK\r\n");
        }
    }
    assert_eq!(c.cmd("DBSIZE"), format!(":{KEYS}"));
    // INFO names the allocator the binary runs on (it said libc).
    assert!(
        c.cmd("INFO memory").contains("mem_allocator:mimalloc\r\n"),
        "INFO memory names mimalloc"
    );
    let loaded = rss_kib();
    assert!(
        loaded > base + 40 * 1024,
        "the keys should take more than 40 MiB: base {base} KiB, loaded {loaded} KiB"
    );
    assert_eq!(c.cmd("FLUSHALL"), "+OK");
    // Given back within a few seconds: below a quarter of what the keys took.
    let target = base + (loaded - base) / 4;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = rss_kib();
    while now > target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now = rss_kib();
    }
    assert!(
        now <= target,
        "RSS still {now} KiB 10 s after FLUSHALL (base {base} KiB, loaded {loaded} KiB)"
    );
}
