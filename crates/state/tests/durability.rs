//! Durability: kill -9 under write load with `appendfsync always`, truncated
//! tails, corrupt logs, compaction.
//!
//! The server under test runs in a separate process (this test binary
//! re-executed with `STATE_CHILD_DIR` set), so `kill -9` is a real crash.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Conn;
use state::resp::Frame;

fn tmpdir(name: &str) -> testkit::TempDir {
    testkit::TempDir::new(&format!("state-{name}"))
}

/// When re-executed as the child, run a server and never return.
#[test]
fn child_server() {
    let Ok(dir) = std::env::var("STATE_CHILD_DIR") else {
        return;
    };
    let fsync = std::env::var("STATE_CHILD_FSYNC").unwrap_or_else(|_| "always".into());
    let cfg = state::Config {
        port: 0,
        dir: Some(PathBuf::from(dir)),
        appendfsync: state::Fsync::parse(&fsync).expect("fsync"),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async move {
        let server = state::Server::start(cfg).await.expect("start");
        println!("LISTENING {}", server.local_addr());
        std::io::stdout().flush().expect("flush");
        server.run(std::future::pending()).await.expect("serve");
    });
}

struct Child9 {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Child9 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_child(dir: &Path, fsync: &str) -> Child9 {
    let exe = std::env::current_exe().expect("exe");
    let child = Command::new(exe)
        .args([
            "--exact",
            "child_server",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("STATE_CHILD_DIR", dir)
        .env("STATE_CHILD_FSYNC", fsync)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    // Owned by the guard at once, so every path kills and reaps it.
    let mut guard = Child9 {
        child,
        addr: "127.0.0.1:0".parse().expect("addr"),
    };
    let out = guard.child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    loop {
        let line = lines.next().expect("child output").expect("line");
        // The test harness prints "test child_server ... " before our line.
        if let Some((_, a)) = line.split_once("LISTENING ") {
            guard.addr = a.trim().parse().expect("addr");
            // Keep draining stdout so the child never blocks on it.
            std::thread::spawn(move || for _ in lines {});
            return guard;
        }
    }
}

#[test]
fn kill_9_under_load_keeps_every_acknowledged_write() {
    let dir = tmpdir("kill9");
    let srv = spawn_child(&dir, "always");
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..4 {
        let addr = srv.addr;
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(addr);
            let mut acked_sets = 0u64;
            let mut acked_incrs = 0i64;
            let mut acked_pushes = 0i64;
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                // A small pipeline: three writes, then their replies.
                let req =
                    format!("SET k:{t}:{i} v{i}\r\nINCR counter:{t}\r\nRPUSH list:{t} {i}\r\n");
                if c.stream.write_all(req.as_bytes()).is_err() {
                    break;
                }
                match c.read() {
                    Some(Frame::Simple(s)) if s == "OK" => acked_sets = i,
                    _ => break,
                }
                match c.read() {
                    Some(Frame::Integer(n)) => acked_incrs = n,
                    _ => break,
                }
                match c.read() {
                    Some(Frame::Integer(n)) => acked_pushes = n,
                    _ => break,
                }
            }
            (t, acked_sets, acked_incrs, acked_pushes)
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut srv = srv;
    srv.child.kill().expect("kill -9");
    let _ = srv.child.wait();
    stop.store(true, Ordering::SeqCst);
    let results: Vec<_> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let total: u64 = results.iter().map(|r| r.1).sum();
    assert!(total > 0, "no write was acknowledged before the kill");
    eprintln!("{total} acknowledged SETs (plus INCRs and RPUSHes) before kill -9");

    let srv2 = spawn_child(&dir, "always");
    let mut c = Conn::connect(srv2.addr);
    for (t, sets, incrs, pushes) in results {
        for i in 1..=sets {
            assert_eq!(
                c.cmd(&format!("get k:{t}:{i}")),
                Frame::Bulk(format!("v{i}").into()),
                "acknowledged SET k:{t}:{i} lost"
            );
        }
        let Frame::Bulk(n) = c.cmd(&format!("get counter:{t}")) else {
            panic!("counter:{t} lost")
        };
        let n: i64 = String::from_utf8_lossy(&n).parse().expect("int");
        assert!(
            n >= incrs,
            "counter:{t} is {n}, {incrs} increments were acknowledged"
        );
        let Frame::Integer(len) = c.cmd(&format!("llen list:{t}")) else {
            panic!()
        };
        assert!(
            len >= pushes,
            "list:{t} has {len}, {pushes} pushes acknowledged"
        );
    }
    drop(srv2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clean_shutdown_and_restart_keep_data() {
    let dir = tmpdir("restart");
    for fsync in ["everysec", "no"] {
        let cfg = state::Config {
            dir: Some(dir.to_path_buf()),
            appendfsync: state::Fsync::parse(fsync).expect("fsync"),
            ..Default::default()
        };
        {
            let srv = common::start_ours(cfg.clone());
            let mut c = Conn::connect(srv.addr);
            c.cmd(&format!("set {fsync} yes"));
            c.cmd("hset h f v");
            c.cmd("zadd z 1.5 a");
            c.cmd("sadd s a b");
            c.cmd("rpush l a b c");
            c.cmd("set gone v px 1");
            c.cmd("set later v ex 1000");
            c.cmd("select 3");
            c.cmd("set indb3 x");
            c.cmd("eval \"redis.call('set', 'fromlua', 'y'); return 1\" 0");
            c.cmd("incrbyfloat fl 1.5");
            c.cmd("multi");
            c.cmd("incr tx");
            c.cmd("incr tx");
            c.cmd("exec");
        } // dropped: graceful stop flushes the log
        let srv = common::start_ours(cfg);
        let mut c = Conn::connect(srv.addr);
        assert_eq!(c.cmd(&format!("get {fsync}")), Frame::Bulk("yes".into()));
        assert_eq!(c.cmd("hget h f"), Frame::Bulk("v".into()));
        assert_eq!(c.cmd("zscore z a"), Frame::Bulk("1.5".into()));
        assert_eq!(c.cmd("scard s"), Frame::Integer(2));
        assert_eq!(
            c.cmd("lrange l 0 -1").to_owned(),
            Frame::Array(vec![
                Frame::Bulk("a".into()),
                Frame::Bulk("b".into()),
                Frame::Bulk("c".into())
            ])
        );
        assert_eq!(c.cmd("exists gone"), Frame::Integer(0));
        assert!(matches!(c.cmd("ttl later"), Frame::Integer(n) if n > 900));
        assert_eq!(c.cmd("get fromlua"), Frame::Null, "lua write was in db 3");
        c.cmd("select 3");
        assert_eq!(c.cmd("get indb3"), Frame::Bulk("x".into()));
        assert_eq!(c.cmd("get fromlua"), Frame::Bulk("y".into()));
        assert_eq!(c.cmd("get fl"), Frame::Bulk("1.5".into()));
        assert_eq!(c.cmd("get tx"), Frame::Bulk("2".into()));
        c.cmd("flushall");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// PFADD, PFMERGE and PFCOUNT's cache refresh are logged: after a restart
/// the HLL values are the same bytes. GEOADD and a storing GEO search too.
#[test]
fn hyperloglog_and_geo_survive_restart() {
    let dir = tmpdir("hll");
    let cfg = state::Config {
        dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let keys = ["h", "m", "big"];
    let zsets = ["g", "near", "gs"];
    let before: Vec<Frame> = {
        let srv = common::start_ours(cfg.clone());
        let mut c = Conn::connect(srv.addr);
        c.cmd("pfadd h a b c");
        c.cmd("pfadd other x y");
        c.cmd("pfmerge m h other");
        let mut line = String::from("pfadd big");
        for i in 0..3000 {
            line.push_str(&format!(" e{i}"));
        }
        c.cmd(&line);
        c.cmd("pfcount h");
        c.cmd("pfcount big");
        c.cmd("geoadd g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
        c.cmd("georadius g 15 37 200 km storedist near");
        c.cmd("geosearchstore gs g fromlonlat 15 37 byradius 100 km");
        let mut v: Vec<Frame> = keys.iter().map(|k| c.cmd(&format!("get {k}"))).collect();
        v.extend(
            zsets
                .iter()
                .map(|k| c.cmd(&format!("zrange {k} 0 -1 withscores"))),
        );
        v
    };
    let srv = common::start_ours(cfg);
    let mut c = Conn::connect(srv.addr);
    let mut after: Vec<Frame> = keys.iter().map(|k| c.cmd(&format!("get {k}"))).collect();
    after.extend(
        zsets
            .iter()
            .map(|k| c.cmd(&format!("zrange {k} 0 -1 withscores"))),
    );
    for (b, a) in before.into_iter().zip(after) {
        assert_eq!(a, b);
    }
    assert_eq!(c.cmd("zcard gs"), Frame::Integer(1));
    assert_eq!(c.cmd("pfcount m"), Frame::Integer(5));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join(state::aof::FILE_NAME)
}

#[test]
fn truncated_tail_is_repaired() {
    let dir = tmpdir("trunc");
    let cfg = state::Config {
        dir: Some(dir.to_path_buf()),
        appendfsync: state::Fsync::Always,
        ..Default::default()
    };
    {
        let srv = common::start_ours(cfg.clone());
        let mut c = Conn::connect(srv.addr);
        c.cmd("set a 1");
        c.cmd("set b 2");
    }
    let good_len = std::fs::metadata(log_path(&dir)).expect("log").len();
    // A crash in the middle of a record, and one in the middle of a MULTI.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(log_path(&dir))
        .expect("open");
    f.write_all(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$2\r\n4")
        .expect("append");
    drop(f);
    {
        let srv = common::start_ours(cfg.clone());
        let mut c = Conn::connect(srv.addr);
        assert_eq!(c.cmd("get a"), Frame::Bulk("1".into()));
        assert_eq!(c.cmd("get b"), Frame::Bulk("2".into()));
        assert_eq!(
            c.cmd("get c"),
            Frame::Null,
            "half a transaction must not apply"
        );
        assert_eq!(c.cmd("dbsize"), Frame::Integer(2));
        c.cmd("set e 5");
    }
    assert!(std::fs::metadata(log_path(&dir)).expect("log").len() > good_len);
    let srv = common::start_ours(cfg);
    let mut c = Conn::connect(srv.addr);
    assert_eq!(c.cmd("get e"), Frame::Bulk("5".into()));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_middle_is_refused() {
    let dir = tmpdir("corrupt");
    std::fs::write(
        log_path(&dir),
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\nGARBAGE!!\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n",
    )
    .expect("write");
    let cfg = state::Config {
        dir: Some(dir.to_path_buf()),
        port: 0,
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let err = match rt.block_on(state::Server::start(cfg)) {
        Ok(_) => panic!("a corrupt log must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("corrupt at byte 27"), "{err}");
    assert!(err.contains("Refusing to start"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rewrite_compacts_and_keeps_data() {
    let dir = tmpdir("rewrite");
    let cfg = state::Config {
        dir: Some(dir.to_path_buf()),
        appendfsync: state::Fsync::Always,
        ..Default::default()
    };
    {
        let srv = common::start_ours(cfg.clone());
        let mut c = Conn::connect(srv.addr);
        for i in 0..2000 {
            c.send_raw(format!("SET hot {i}\r\n").as_bytes());
        }
        for _ in 0..2000 {
            c.read();
        }
        c.cmd("rpush l a b c");
        c.cmd("set ttl v ex 1000");
        // Integer-encoded strings and a key too long to store inline.
        for _ in 0..5 {
            c.cmd("incr counter");
        }
        c.cmd("incrby neg -7");
        c.cmd("incr session:0123456789abcdef0123456789abcdef");
        let before = std::fs::metadata(log_path(&dir)).expect("log").len();
        assert!(matches!(c.cmd("bgrewriteaof"), Frame::Simple(_)));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Writes during the rewrite must survive it.
            c.cmd("incr during");
            let now = std::fs::metadata(log_path(&dir)).expect("log").len();
            if now < before / 4 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "log was not compacted: {before} -> {now}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        c.cmd("incr during");
    }
    let srv = common::start_ours(cfg);
    let mut c = Conn::connect(srv.addr);
    assert_eq!(c.cmd("get hot"), Frame::Bulk("1999".into()));
    assert_eq!(c.cmd("llen l"), Frame::Integer(3));
    assert_eq!(c.cmd("get counter"), Frame::Bulk("5".into()));
    assert_eq!(c.cmd("incr neg"), Frame::Integer(-6));
    assert_eq!(
        c.cmd("get session:0123456789abcdef0123456789abcdef"),
        Frame::Bulk("1".into())
    );
    assert!(matches!(c.cmd("ttl ttl"), Frame::Integer(n) if n > 900));
    let Frame::Bulk(d) = c.cmd("get during") else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&d).parse::<i64>().expect("int") >= 2);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
