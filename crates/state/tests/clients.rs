//! Real clients against bigstep state: redis-py (sessions, Lock, pipelines,
//! pub/sub, RESP3), redis-cli, redis-benchmark. Plus bad input and limits.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{start_ours, wait_for, Conn};
use state::resp::Frame;

fn run_with_timeout(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    wait_with_timeout(child, limit)
}

/// The clients other than `c` as (id, last command) from CLIENT LIST, oldest first.
fn other_clients(c: &mut Conn) -> Vec<(i64, String)> {
    let Frame::Integer(me) = c.cmd("client id") else {
        panic!("CLIENT ID")
    };
    let list = match c.cmd("client list") {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("CLIENT LIST: {other:?}"),
    };
    let field = |line: &str, name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let mut others: Vec<(i64, String)> = list
        .lines()
        .filter_map(|l| Some((field(l, "id")?.parse::<i64>().ok()?, field(l, "cmd")?)))
        .filter(|(id, _)| *id != me)
        .collect();
    others.sort();
    others
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "child process timed out after {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_py() {
    let srv = start_ours(state::Config::default());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redis_py.py");
    let out = run_with_timeout(
        Command::new("python3")
            .arg(script)
            .arg(srv.addr.port().to_string()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "redis-py suite failed (pip install redis — see .ci/pip-state.txt)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn node_redis_resp3() {
    let srv = start_ours(state::Config::default());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/node_redis.cjs");
    // .ci/install puts npm packages (.ci/npm-state.txt) in .ci/node.
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/node/node_modules");
    let out = run_with_timeout(
        Command::new("node")
            .arg(script)
            .arg(srv.addr.port().to_string())
            .env("NODE_PATH", modules),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "node-redis suite failed (npm package `redis` in .ci/node — see .ci/npm-state.txt)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn php_sessions_with_locking() {
    let srv = start_ours(state::Config::default());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/php/session.php");
    let php = |release: Option<&str>| {
        let mut c = Command::new("php");
        c.args([
            "-d",
            "session.save_handler=redis",
            "-d",
            &format!("session.save_path=tcp://127.0.0.1:{}", srv.addr.port()),
            "-d",
            "redis.session.locking_enabled=1",
            "-d",
            "redis.session.lock_retries=400",
            "-d",
            "redis.session.lock_wait_time=20000",
            "-d",
            "redis.session.lock_expire=30",
            script,
            "sess1",
        ])
        .args(release)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        c
    };
    // The first request holds the session lock until the test releases it; the
    // second starts only once the lock key exists, and must wait for it (and so
    // see count 1) instead of reading the old session. Each step waits on the
    // state that proves it, so a slow PHP start cannot reorder them.
    let tmp = testkit::TempDir::new("php-lock");
    let release_file = tmp.join("release");
    let release_arg = release_file.to_str().expect("utf-8 path");
    let first = php(Some(release_arg))
        .spawn()
        .expect("php (apt install php-cli php-redis)");
    let mut c = Conn::connect(srv.addr);
    wait_for(
        "the first request to take the lock",
        Duration::from_secs(30),
        || c.cmd("exists PHPREDIS_SESSION:sess1_LOCK") == Frame::Integer(1),
    );
    let mut second = php(None).spawn().expect("php");
    // phpredis retries `SET key_LOCK … NX` while it waits: the second request's
    // connection (the newer of the two) showing SET as its last command proves
    // it is waiting.
    wait_for(
        "the second request to wait for the lock",
        Duration::from_secs(30),
        || {
            let others = other_clients(&mut c);
            others.len() == 2 && others[1].1 == "set"
        },
    );
    assert!(
        second.try_wait().expect("wait").is_none(),
        "the second request finished while the first held the lock"
    );
    std::fs::write(&release_file, b"").expect("release");
    let second = wait_with_timeout(second, Duration::from_secs(30));
    let first = first.wait_with_output().expect("php");
    let a = String::from_utf8_lossy(&first.stdout).trim().to_string();
    let b = String::from_utf8_lossy(&second.stdout).trim().to_string();
    assert!(
        first.status.success() && second.status.success(),
        "php failed: {} {}",
        String::from_utf8_lossy(&first.stderr),
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        (a.as_str(), b.as_str()),
        ("1", "2"),
        "session lock must serialize the two requests"
    );
    let mut c = Conn::connect(srv.addr);
    let Frame::Integer(ttl) = c.cmd("ttl PHPREDIS_SESSION:sess1") else {
        panic!()
    };
    assert!(ttl > 0, "session has a TTL");
    assert_eq!(
        c.cmd("exists PHPREDIS_SESSION:sess1_LOCK"),
        Frame::Integer(0),
        "lock released"
    );
}

#[test]
fn redis_cli_and_benchmark() {
    let srv = start_ours(state::Config::default());
    let port = srv.addr.port().to_string();
    let cli = |args: &[&str]| {
        let out = run_with_timeout(
            Command::new("redis-cli").args(["-p", &port]).args(args),
            Duration::from_secs(20),
        );
        assert!(out.status.success(), "redis-cli {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["ping"]), "PONG");
    assert_eq!(cli(&["set", "k", "v"]), "OK");
    assert_eq!(cli(&["get", "k"]), "v");
    assert_eq!(cli(&["-3", "hset", "h", "f", "v"]), "1");
    // redis-cli prints a RESP3 map entry as "key value" on one line.
    assert_eq!(cli(&["-3", "hgetall", "h"]), "f v");
    assert!(cli(&["info", "server"]).contains("redis_version:7."));
    let out = run_with_timeout(
        Command::new("redis-benchmark").args([
            "-p",
            &port,
            "-q",
            "-n",
            "2000",
            "-c",
            "10",
            "-t",
            "set,get,incr,lpush,lpop,hset,sadd,zadd,mset",
        ]),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "redis-benchmark failed: {text}");
    assert!(!text.contains("ERR"), "redis-benchmark saw errors: {text}");
    assert!(text.contains("SET:") && text.contains("LPOP:"), "{text}");
}

/// What `redis-cli monitor` prints while another client runs a few
/// commands, with timestamps checked and removed and the client's port
/// masked. The child is killed once the last line has come.
fn redis_cli_monitor(addr: std::net::SocketAddr) -> Vec<String> {
    use std::io::BufRead;
    let mut child = Command::new("redis-cli")
        .args(["-p", &addr.port().to_string(), "monitor"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run redis-cli");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.expect("utf-8 line")).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a line from redis-cli monitor")
    };
    let mut lines = vec![next()];
    let mut c = Conn::connect(addr);
    // The monitor is registered once its OK came; wait for it in the list.
    wait_for(
        "redis-cli to monitor",
        Duration::from_secs(10),
        || matches!(c.cmd("client list"), Frame::Bulk(b) if String::from_utf8_lossy(&b).contains("flags=O")),
    );
    c.cmd("set greeting \"hello world\"");
    c.send_args(&[b"set".to_vec(), b"bin".to_vec(), b"\x00\n\"".to_vec()]);
    c.cmd("hset h f v");
    c.cmd("eval \"return redis.call('hget', KEYS[1], 'f')\" 1 h");
    c.cmd("echo done");
    loop {
        let line = next();
        let (ts, rest) = line.split_once(' ').expect("timestamp first");
        assert!(
            ts.split_once('.')
                .is_some_and(|(s, u)| s.parse::<u64>().is_ok() && u.len() == 6),
            "{line}"
        );
        let port_at = rest.find("127.0.0.1:").map(|i| i + "127.0.0.1:".len());
        let masked = match port_at {
            Some(i) => {
                let end = rest[i..].find(']').expect("]") + i;
                format!("{}PORT{}", &rest[..i], &rest[end..])
            }
            None => rest.to_string(),
        };
        lines.push(masked);
        if line.ends_with("\"done\"") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// `redis-cli monitor`, the way operators watch a server, prints the same
/// against bigstep state as against redis-server.
#[test]
fn redis_cli_monitor_matches_redis_server() {
    let redis = common::start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let want = redis_cli_monitor(redis.addr);
    let got = redis_cli_monitor(ours.addr);
    assert_eq!(got, want, "bigstep state vs redis-server");
    assert_eq!(got.first().map(String::as_str), Some("OK"));
    assert_eq!(got.len(), 7, "{got:#?}");
}

#[test]
fn bad_input_does_not_hurt_others() {
    let srv = start_ours(state::Config::default());
    let mut good = Conn::connect(srv.addr);
    good.cmd("set alive yes");
    let garbage: Vec<&[u8]> = vec![
        b"\x00\x01\x02\xff\xfe garbage\r\n",
        b"*999999999999\r\n",
        b"*1\r\n$999999999999999\r\n",
        b"*1\r\n$536870913\r\n",
        b"*-1\r\n*1\r\n$4\r\nPING\r\n",
        b"*2\r\n*1\r\n$1\r\na\r\n",
        b"****************************************\r\n",
        b"$5\r\nhello\r\n",
        b"\"\r\n",
    ];
    for g in garbage {
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = s.write_all(g);
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        assert_eq!(
            good.cmd("get alive"),
            Frame::Bulk("yes".into()),
            "after {g:?}"
        );
    }
    // A huge inline line with no newline is refused, not buffered forever.
    let mut c = Conn::connect(srv.addr);
    let _ = c.stream.write_all(&vec![b'a'; 70 * 1024]);
    assert_eq!(
        c.read(),
        Some(Frame::Error(
            "ERR Protocol error: too big inline request".into()
        ))
    );
    // Half-closed sockets: the server answers and closes.
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.write_all(b"PING\r\n").expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut out = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.read_to_end(&mut out);
    assert_eq!(out, b"+PONG\r\n");
    // Many idle clients.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(srv.addr).expect("connect"))
        .collect();
    assert_eq!(good.cmd("get alive"), Frame::Bulk("yes".into()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Frame::Bulk(info) = good.cmd("info clients") else {
            panic!()
        };
        if String::from_utf8_lossy(&info).contains("connected_clients:1001") {
            break;
        }
        assert!(Instant::now() < deadline, "idle clients not all accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(idle);
    // Unknown commands never hang.
    assert!(
        matches!(good.cmd("definitely-not-a-command"), Frame::Error(e) if e.starts_with("ERR unknown command"))
    );
}

#[test]
fn slow_subscriber_is_disconnected() {
    let srv = start_ours(state::Config {
        pubsub_output_limit: 256 * 1024,
        ..Default::default()
    });
    let mut sub = Conn::connect(srv.addr);
    sub.cmd("subscribe firehose");
    // The subscriber never reads again. Publish until the server gives up on it.
    let mut publ = Conn::connect(srv.addr);
    let payload = "x".repeat(16 * 1024);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let Frame::Integer(n) = publ.cmd(&format!("publish firehose {payload}")) else {
            panic!()
        };
        if n == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slow subscriber was never disconnected"
        );
    }
    assert_eq!(
        publ.cmd("pubsub numsub firehose"),
        Frame::Array(vec![Frame::Bulk("firehose".into()), Frame::Integer(0)])
    );
    assert_eq!(publ.cmd("ping"), Frame::Simple("PONG".into()));
}

#[test]
fn maxmemory_policies() {
    let srv = start_ours(state::Config {
        maxmemory: 200 * 1024,
        ..Default::default()
    });
    let mut c = Conn::connect(srv.addr);
    let v = "v".repeat(1000);
    let mut oom = false;
    for i in 0..1000 {
        match c.cmd(&format!("set k{i} {v}")) {
            Frame::Simple(_) => {}
            Frame::Error(e) => {
                assert_eq!(e, "OOM command not allowed when used memory > 'maxmemory'.");
                oom = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(oom, "noeviction must refuse writes past maxmemory");
    // Reads and deletes still work.
    assert_eq!(c.cmd("get k0"), Frame::Bulk(v.clone().into()));
    assert_eq!(c.cmd("del k0"), Frame::Integer(1));
    // allkeys-random: writes succeed, old keys go.
    assert_eq!(
        c.cmd("config set maxmemory-policy allkeys-random"),
        Frame::Simple("OK".into())
    );
    for i in 0..1000 {
        assert_eq!(c.cmd(&format!("set n{i} {v}")), Frame::Simple("OK".into()));
    }
    let Frame::Integer(n) = c.cmd("dbsize") else {
        panic!()
    };
    assert!(
        n < 400,
        "eviction must keep the key count bounded, have {n}"
    );
    let Frame::Bulk(info) = c.cmd("info stats") else {
        panic!()
    };
    assert!(!String::from_utf8_lossy(&info).contains("evicted_keys:0\r"));
    // volatile-ttl with no volatile keys: OOM again.
    c.cmd("config set maxmemory-policy volatile-ttl");
    assert!(matches!(c.cmd(&format!("set more {v}")), Frame::Error(e) if e.starts_with("OOM")));
    c.cmd("flushall");
    for i in 0..500 {
        c.cmd(&format!("set t{i} {v} ex {}", 1000 + i));
    }
    assert_eq!(
        c.cmd("exists t0"),
        Frame::Integer(0),
        "nearest expiry evicted first"
    );
}

/// CLIENT KILL closes a client wherever it waits: idle between commands
/// (our connection loop hears of it through its push channel, not a signal
/// of its own), blocked in BLPOP, or the caller itself, which gets its reply
/// first. The same against redis-server.
#[test]
fn client_kill_closes_idle_blocked_and_self() {
    let reference = common::start_redis(&[]);
    let ours = start_ours(state::Config::default());
    for addr in [reference.addr, ours.addr] {
        let mut admin = Conn::connect(addr);
        let mut idle = Conn::connect(addr);
        let mut blocked = Conn::connect(addr);
        let id = |c: &mut Conn| match c.cmd("client id") {
            Frame::Integer(n) => n,
            other => panic!("CLIENT ID: {other:?}"),
        };
        let (idle_id, blocked_id, me) = (id(&mut idle), id(&mut blocked), id(&mut admin));
        blocked.send_args(&[b"blpop".to_vec(), b"nothing".to_vec(), b"0".to_vec()]);
        wait_for(
            "the client to block",
            Duration::from_secs(10),
            || match admin.cmd("info clients") {
                Frame::Bulk(b) | Frame::Verbatim(_, b) => {
                    String::from_utf8_lossy(&b).contains("blocked_clients:1\r\n")
                }
                other => panic!("INFO: {other:?}"),
            },
        );
        let kill = |c: &mut Conn, id: i64, more: &str| c.cmd(&format!("client kill id {id}{more}"));
        assert_eq!(kill(&mut admin, idle_id, ""), Frame::Integer(1), "{addr}");
        assert_eq!(idle.read(), None, "{addr}: the idle client is closed");
        assert_eq!(
            kill(&mut admin, blocked_id, ""),
            Frame::Integer(1),
            "{addr}"
        );
        assert_eq!(blocked.read(), None, "{addr}: the blocked client is closed");
        assert_eq!(
            kill(&mut admin, me, " skipme no"),
            Frame::Integer(1),
            "{addr}"
        );
        assert_eq!(
            admin.read(),
            None,
            "{addr}: the caller is closed after its reply"
        );
    }
}

#[test]
fn runaway_script_is_killed_even_through_pcall() {
    let srv = start_ours(state::Config::default());
    let mut c = Conn::connect(srv.addr);
    let mut other = Conn::connect(srv.addr);
    c.cmd("set before 1");
    other.cmd("config set busy-reply-threshold 20");
    // The loop catches every error it can: the kill must still end it.
    c.send_raw(b"EVAL \"while true do pcall(function() while true do end end) end\" 0\r\n");
    let mut refused = 0;
    wait_for("BUSY", Duration::from_secs(20), || {
        let busy = matches!(other.cmd("get before"), Frame::Error(e) if e.starts_with("BUSY"));
        refused += busy as usize;
        busy
    });
    assert_eq!(other.cmd("script kill"), Frame::Simple("OK".into()));
    let r = c.read().expect("the script's reply");
    assert!(
        matches!(&r, Frame::Error(e) if e.starts_with("ERR Script killed by user with SCRIPT KILL...")),
        "{r:?}"
    );
    assert_eq!(other.cmd("get before"), Frame::Bulk("1".into()));
    assert_eq!(c.cmd("eval \"return 1\" 0"), Frame::Integer(1));
    // The refusals are counted as Redis counts them.
    let Frame::Bulk(info) = other.cmd("info errorstats") else {
        panic!("INFO is a bulk string")
    };
    let want = format!("errorstat_BUSY:count={refused}");
    assert!(
        String::from_utf8_lossy(&info).contains(&want),
        "{want} in {}",
        String::from_utf8_lossy(&info)
    );
}

#[test]
fn prometheus_metrics() {
    let srv = start_ours(state::Config {
        metrics_bind: Some("127.0.0.1:0".into()),
        ..Default::default()
    });
    let mut c = Conn::connect(srv.addr);
    c.cmd("set a 1");
    c.cmd("get a");
    c.cmd("get nokey");
    let mut s = TcpStream::connect(srv.metrics.expect("metrics on")).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    for line in [
        "bigstep_state_connected_clients 1",
        "bigstep_state_keys{db=\"0\"} 1",
        "bigstep_state_keyspace_hits_total 1",
        "bigstep_state_keyspace_misses_total 1",
        // OpenMetrics names the counter family without `_total`.
        "# TYPE bigstep_state_commands counter",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
}
