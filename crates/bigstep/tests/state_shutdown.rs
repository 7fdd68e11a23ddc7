//! `SHUTDOWN` as Redis users send it, against the real `bigstep state` binary
//! and, side by side, the real `redis-server` 7.0: `redis-cli shutdown` and
//! redis-py's `shutdown()` stop the server with exit 0, the data written and
//! acknowledged before it is all there after a restart on the same directory
//! (the append-only log flushed), and `SHUTDOWN SAVE` leaves a `dump.rdb`
//! that `redis-check-rdb` accepts. Waits poll with deadlines.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
/// Keys redis-py writes and has acknowledged before the shutdown.
const KEYS: usize = 3000;

#[derive(Clone, Copy, Debug)]
enum Engine {
    Ours,
    Redis,
}

/// A server process on a data directory, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(tag: &str) -> testkit::TempDir {
    testkit::TempDir::new(&format!("shutdown-{tag}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `engine` on `dir` with the append-only log on, `appendfsync` as given.
fn start(engine: Engine, dir: &Path, fsync: &str) -> Server {
    match engine {
        Engine::Ours => {
            let mut child = Command::new(BIN)
                .args(["state", "--port", "0", "--appendfsync", fsync, "--dir"])
                .arg(dir)
                .env_remove("BIGSTEP_CONFIG")
                .env_remove("BIGSTEP_STATE_PORT")
                .env_remove("BIGSTEP_STATE_DIR")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn bigstep state");
            let out = child.stdout.take().expect("stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(a) = line.strip_prefix("bigstep state listening on ") {
                        let _ = tx.send(a.trim().to_string());
                    }
                }
            });
            let addr: SocketAddr = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("bigstep state started")
                .parse()
                .expect("address");
            Server {
                child,
                port: addr.port(),
            }
        }
        Engine::Redis => {
            // A port found free may be taken before redis-server binds it:
            // try again if the child exits at once.
            for _ in 0..10 {
                let port = free_port();
                let mut child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "yes", "--appendfsync", fsync])
                    .arg("--dir")
                    .arg(dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server (apt package redis-server)");
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    if child.try_wait().expect("try_wait").is_some() {
                        break;
                    }
                    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        return Server { child, port };
                    }
                    assert!(Instant::now() < deadline, "redis-server did not start");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            panic!("could not start redis-server on a free port");
        }
    }
}

impl Server {
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit after SHUTDOWN"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs a redis-py script with `PORT` and `KEYS` set; returns its stdout.
fn python(port: u16, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .env("KEYS", KEYS.to_string())
        .output()
        .expect("python3 with redis-py (see .ci/pip-state.txt)");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const WRITE: &str = r#"
import os, redis
r = redis.Redis(port=int(os.environ["PORT"]))
n = int(os.environ["KEYS"])
p = r.pipeline(transaction=False)
for i in range(n):
    p.set(f"k:{i}", f"v{i}" * 10)
acked = sum(1 for x in p.execute() if x is True)
r.hset("h", mapping={"a": "1", "b": "2"})
r.rpush("l", *range(100))
r.zadd("z", {"m1": 1.5, "m2": 2.5})
r.set("ttl", "x", ex=3600)
# The very last write, acknowledged just before the shutdown.
r.incr("last")
print(acked)
"#;

const CHECK: &str = r#"
import os, redis
r = redis.Redis(port=int(os.environ["PORT"]), decode_responses=True)
n = int(os.environ["KEYS"])
bad = [i for i in range(n) if r.get(f"k:{i}") != f"v{i}" * 10]
assert not bad, f"{len(bad)} keys lost or wrong, first {bad[:5]}"
assert r.hgetall("h") == {"a": "1", "b": "2"}
assert r.lrange("l", 0, -1) == [str(i) for i in range(100)]
assert r.zrange("z", 0, -1, withscores=True) == [("m1", 1.5), ("m2", 2.5)]
assert 3500 < r.ttl("ttl") <= 3600, r.ttl("ttl")
assert r.get("last") == "1"
print(r.dbsize())
"#;

/// redis-py's own shutdown(): it treats the closed connection as success and
/// raises if the server answered instead.
const PY_SHUTDOWN_SAVE: &str = r#"
import os, redis
r = redis.Redis(port=int(os.environ["PORT"]))
r.shutdown(save=True)
print("stopped")
"#;

fn redis_cli(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (apt package redis-tools)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string(),
    )
}

/// The whole sequence on one engine: write, `redis-cli shutdown`, restart,
/// check; then redis-py `shutdown(save=True)`, check `dump.rdb`, restart, check.
fn shutdown_keeps_every_acknowledged_write(engine: Engine, fsync: &str) {
    let dir = temp_dir(&format!("{engine:?}-{fsync}"));
    let mut s = start(engine, &dir, fsync);
    assert_eq!(python(s.port, WRITE), KEYS.to_string());

    let (ok, out) = redis_cli(s.port, &["shutdown"]);
    assert!(
        ok && out.is_empty(),
        "{engine:?}: redis-cli shutdown: {out}"
    );
    let st = s.wait_exit();
    assert!(st.success(), "{engine:?}: exit status {st}");
    drop(s);

    let mut s = start(engine, &dir, fsync);
    let total = KEYS + 5;
    assert_eq!(python(s.port, CHECK), total.to_string(), "{engine:?}");

    assert_eq!(python(s.port, PY_SHUTDOWN_SAVE), "stopped", "{engine:?}");
    let st = s.wait_exit();
    assert!(st.success(), "{engine:?}: exit status {st}");
    drop(s);
    let rdb = dir.join("dump.rdb");
    assert!(rdb.exists(), "{engine:?}: SHUTDOWN SAVE wrote no dump.rdb");
    let check = Command::new("redis-check-rdb")
        .arg(&rdb)
        .output()
        .expect("redis-check-rdb (apt package redis-tools)");
    assert!(
        check.status.success(),
        "{engine:?}: redis-check-rdb refused our dump.rdb: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let s = start(engine, &dir, fsync);
    assert_eq!(python(s.port, CHECK), total.to_string(), "{engine:?}");
    drop(s);
}

#[test]
fn shutdown_with_redis_cli_and_redis_py_loses_no_acknowledged_write_bigstep() {
    // `no`: nothing but the shutdown itself puts the log on disk.
    shutdown_keeps_every_acknowledged_write(Engine::Ours, "no");
    shutdown_keeps_every_acknowledged_write(Engine::Ours, "always");
}

#[test]
fn shutdown_with_redis_cli_and_redis_py_loses_no_acknowledged_write_redis() {
    shutdown_keeps_every_acknowledged_write(Engine::Redis, "no");
}

/// A refused SHUTDOWN (here: a failing save) leaves the server serving; with
/// FORCE the same failure does not stop the shutdown.
#[test]
fn a_failed_save_refuses_the_shutdown_unless_forced() {
    let dir = temp_dir("failed-save");
    let mut s = start(Engine::Ours, &dir, "everysec");
    assert_eq!(redis_cli(s.port, &["set", "a", "1"]).1, "OK");
    // dbfilename with a directory in it cannot be written.
    std::fs::create_dir_all(dir.join("dump.rdb")).expect("dir in the way");
    let (_, out) = redis_cli(s.port, &["shutdown", "save"]);
    assert_eq!(out, "ERR Errors trying to SHUTDOWN. Check logs.");
    assert_eq!(redis_cli(s.port, &["get", "a"]).1, "1");
    let (ok, out) = redis_cli(s.port, &["shutdown", "save", "force"]);
    assert!(ok && out.is_empty(), "{out}");
    assert!(s.wait_exit().success());
    drop(s);
    let s = start(Engine::Ours, &dir, "everysec");
    assert_eq!(redis_cli(s.port, &["get", "a"]).1, "1");
    drop(s);
}
