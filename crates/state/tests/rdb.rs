//! Redis's own serialization, against a real redis-server 7: DUMP/RESTORE
//! both ways for every type (small values in listpacks, large ones in the
//! plain encodings), RESTORE's errors, `dump.rdb` from SAVE/BGSAVE loaded
//! by redis-server and passed by redis-check-rdb, MIGRATE to redis-server,
//! and `redis-cli --cluster import` into a three-node Redis Cluster.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    sorted, sorted_pairs, start_ours, start_redis, start_valkey, wait_for, wait_listening, Conn,
    Pair,
};
use state::resp::Frame;

fn call(c: &mut Conn, parts: &[&[u8]]) -> Frame {
    let args: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
    c.send_args(&args);
    c.read().expect("reply")
}

fn bulk(f: Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

fn int(f: Frame) -> i64 {
    match f {
        Frame::Integer(i) => i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn ok(f: Frame) {
    assert_eq!(f, Frame::Simple("OK".into()));
}

/// Runs several command lines, requiring no error.
fn run(c: &mut Conn, lines: &str) {
    for l in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let r = c.cmd(l);
        assert!(!matches!(r, Frame::Error(_)), "`{l}`: {r:?}");
    }
}

/// Keys of every type, small (listpack/intset encodings) and large
/// (quicklist nodes, hashtables, skiplists, multi-node streams), some
/// with TTLs.
fn populate(c: &mut Conn, prefix: &str) {
    let p = prefix;
    run(
        c,
        &format!(
            "set {p}str:small hello
            set {p}str:int 42
            set {p}str:neg -7
            set {p}str:bigint 1099511627776
            set {p}str:float 3.25
            set {p}str:zero 007
            set {p}str:long {}
            set {p}str:mixed {}
            pexpire {p}str:small 500000
            rpush {p}list:small a b 1 2 -3 300000 12345678901
            sadd {p}set:ints 1 2 3 -5 100000
            sadd {p}set:strs a b c
            hset {p}hash:small f1 v1 f2 2 f3 -40000
            hset {p}hash:longval f {}
            pexpire {p}hash:small 700000
            zadd {p}zset:small 1 a 2.5 b -inf c +inf d 0 e
            zadd {p}zset:longmember 1 {}
            xadd {p}stream:small 1-1 a 1 b 2
            xadd {p}stream:small 1-2 a 3 b 4
            xadd {p}stream:small 2-0 c 5
            xadd {p}stream:small 3-0 a 6 b 7
            xdel {p}stream:small 1-2
            xgroup create {p}stream:small g1 0
            xreadgroup group g1 alice count 2 streams {p}stream:small >
            xgroup createconsumer {p}stream:small g1 bob
            xgroup create {p}stream:small g2 $
            pexpire {p}stream:small 800000
            xgroup create {p}stream:empty g $ mkstream",
            "abc".repeat(1000),
            (0..400)
                .map(|i| (i * 7919 % 1000).to_string())
                .collect::<Vec<_>>()
                .join("-"),
            "v".repeat(100),
            "m".repeat(100),
        ),
    );
    let mut big = |cmd: &str, key: &str, items: Vec<String>| {
        for chunk in items.chunks(200) {
            let mut parts: Vec<Vec<u8>> = vec![cmd.into(), format!("{p}{key}").into()];
            parts.extend(chunk.iter().map(|s| s.as_bytes().to_vec()));
            c.send_args(&parts);
            let r = c.read().expect("reply");
            assert!(!matches!(r, Frame::Error(_)), "{cmd} {key}: {r:?}");
        }
    };
    big(
        "rpush",
        "list:large",
        (0..3000)
            .map(|i| {
                if i % 3 == 0 {
                    i.to_string()
                } else {
                    format!("item-{i}-{}", "x".repeat(i % 50))
                }
            })
            .collect(),
    );
    big(
        "sadd",
        "set:large",
        (0..1000).map(|i| format!("m{i}")).collect(),
    );
    big(
        "sadd",
        "set:intslarge",
        (0..600).map(|i| (i * 1_000_003).to_string()).collect(),
    );
    big(
        "hset",
        "hash:large",
        (0..300)
            .flat_map(|i| [format!("f{i}"), format!("v{i}")])
            .collect(),
    );
    big(
        "zadd",
        "zset:large",
        (0..300)
            .flat_map(|i| [format!("{}", i as f64 * 0.37 - 20.0), format!("m{i}")])
            .collect(),
    );
    for i in 1..=250 {
        let f = if i % 10 == 0 { "other" } else { "f" };
        run(c, &format!("xadd {p}stream:large {i}-1 {f} v{i} n {i}"));
    }
    run(c, &format!("xgroup create {p}stream:large g 0\nxreadgroup group g c1 count 120 streams {p}stream:large >\npexpire {p}list:large 600000"));
}

/// XINFO-style flat arrays as a map (RESP2), for picking fields.
fn fields(f: Frame) -> BTreeMap<String, Frame> {
    let Frame::Array(v) = f else {
        panic!("expected an array, got {f:?}")
    };
    v.chunks(2)
        .map(|p| match &p[0] {
            Frame::Bulk(b) => (String::from_utf8_lossy(b).into_owned(), p[1].clone()),
            other => panic!("field name {other:?}"),
        })
        .collect()
}

/// Everything the type's read commands say about a key (times left out).
fn snapshot(c: &mut Conn, key: &[u8]) -> Vec<Frame> {
    let ty = match call(c, &[b"type", key]) {
        Frame::Simple(s) => s,
        other => panic!("TYPE: {other:?}"),
    };
    let mut out = vec![Frame::Simple(ty.clone())];
    match ty.as_str() {
        "string" => out.push(call(c, &[b"get", key])),
        "list" => out.push(call(c, &[b"lrange", key, b"0", b"-1"])),
        "set" => out.push(sorted(call(c, &[b"smembers", key]))),
        "hash" => out.push(sorted_pairs(call(c, &[b"hgetall", key]))),
        "zset" => out.push(call(c, &[b"zrange", key, b"0", b"-1", b"withscores"])),
        "stream" => {
            out.push(call(c, &[b"xrange", key, b"-", b"+"]));
            let mut info = fields(call(c, &[b"xinfo", b"stream", key]));
            info.remove("radix-tree-keys");
            info.remove("radix-tree-nodes");
            out.push(Frame::Array(
                info.into_iter()
                    .flat_map(|(k, v)| [Frame::Simple(k), v])
                    .collect(),
            ));
            let Frame::Array(groups) = call(c, &[b"xinfo", b"groups", key]) else {
                panic!("XINFO GROUPS")
            };
            for g in groups {
                let g = fields(g);
                let Frame::Bulk(name) = g["name"].clone() else {
                    panic!("group name")
                };
                out.push(Frame::Array(
                    g.into_iter()
                        .flat_map(|(k, v)| [Frame::Simple(k), v])
                        .collect(),
                ));
                out.push(call(c, &[b"xpending", key, &name]));
                let Frame::Array(cons) = call(c, &[b"xinfo", b"consumers", key, &name]) else {
                    panic!("XINFO CONSUMERS")
                };
                for cons in cons {
                    let f = fields(cons);
                    out.push(f["name"].clone());
                    out.push(f["pending"].clone());
                }
                // Delivery counts (the idle times are clocks, left out).
                let Frame::Array(pel) = call(c, &[b"xpending", key, &name, b"-", b"+", b"1000"])
                else {
                    panic!("XPENDING")
                };
                for e in pel {
                    let Frame::Array(e) = e else {
                        panic!("PEL entry")
                    };
                    out.extend([e[0].clone(), e[1].clone(), e[3].clone()]);
                }
            }
        }
        other => panic!("type {other}"),
    }
    out
}

fn keys(c: &mut Conn) -> Vec<Vec<u8>> {
    let Frame::Array(v) = c.cmd("keys *") else {
        panic!("KEYS")
    };
    let mut k: Vec<Vec<u8>> = v.into_iter().map(bulk).collect();
    k.sort();
    k
}

fn pttl(c: &mut Conn, key: &[u8]) -> i64 {
    int(call(c, &[b"pttl", key]))
}

/// TTLs agree within the time the test itself takes.
fn assert_ttl_close(a: i64, b: i64, what: &str) {
    assert_eq!(a < 0, b < 0, "{what}: PTTL {a} vs {b}");
    assert!((a - b).abs() < 20_000, "{what}: PTTL {a} vs {b}");
}

#[test]
fn values_dumped_by_redis_restore_here_and_back() {
    let redis = start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let mut r = Conn::connect(redis.addr);
    let mut o = Conn::connect(ours.addr);
    populate(&mut r, "");
    let all = keys(&mut r);
    assert_eq!(all.len(), 23);
    for k in &all {
        let name = String::from_utf8_lossy(k).into_owned();
        // Redis → here.
        let payload = bulk(call(&mut r, &[b"dump", k]));
        let ttl = pttl(&mut r, k).max(0);
        ok(call(
            &mut o,
            &[b"restore", k, ttl.to_string().as_bytes(), &payload],
        ));
        assert_eq!(
            snapshot(&mut r, k),
            snapshot(&mut o, k),
            "{name}: redis vs restored here"
        );
        assert_ttl_close(pttl(&mut r, k), pttl(&mut o, k), &name);
        // Here → Redis, under another name; Redis builds the encoding it
        // would have built itself.
        let ours_payload = bulk(call(&mut o, &[b"dump", k]));
        let back = [b"back:".as_slice(), k].concat();
        let ttl = pttl(&mut o, k).max(0);
        ok(call(
            &mut r,
            &[b"restore", &back, ttl.to_string().as_bytes(), &ours_payload],
        ));
        assert_eq!(
            snapshot(&mut r, k),
            snapshot(&mut r, &back),
            "{name}: dumped here, restored in redis"
        );
        assert_eq!(
            call(&mut r, &[b"object", b"encoding", k]),
            call(&mut r, &[b"object", b"encoding", &back]),
            "{name}: encoding"
        );
        assert_ttl_close(pttl(&mut r, k), pttl(&mut r, &back), &name);
        if name.starts_with("str:") && !name.contains("long") && !name.contains("mixed") {
            // Short strings: byte for byte what Redis dumps.
            assert_eq!(payload, ours_payload, "{name}: DUMP bytes");
        }
    }
}

#[test]
fn restore_answers_like_redis() {
    let mut p = Pair::new();
    p.script(
        r#"
        flushall
        set src hello
        rpush lsrc a b c
        dump nosuchkey
        dump src
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 "
        get dst
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 "
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace
        restore dst -1 "\x00\x05hello\n\x00cr\xdfve4 " replace
        restore dst x "\x00\x05hello\n\x00cr\xdfve4 " replace
        restore dst 0 garbage replace
        restore dst 0 "" replace
        restore dst 0 "\x00\x05hellp\n\x00cr\xdfve4 " replace
        restore dst 0 "\x00\x05hello\x0b\x00cr\xdfve4 " replace
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace idletime -1
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace freq 256
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace idletime 5 freq 5
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace freq 5 idletime 5
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace idletime
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace bogus
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace idletime 1000
        restore dst 0 "\x00\x05hello\n\x00cr\xdfve4 " replace freq 100
        exists dst
        restore dst 1 "\x00\x05hello\n\x00cr\xdfve4 " replace absttl
        exists dst
        restore dst2 1 "\x00\x05hello\n\x00cr\xdfve4 " absttl
        exists dst2
        restore dst3 4102444800000 "\x00\x05hello\n\x00cr\xdfve4 " absttl
        pexpiretime dst3
        restore
        restore k
        restore k 0
        "#,
    );
    // Well-sealed payloads (right version and CRC) whose value is bad:
    // an unknown type, a set claiming 2^62 members, a string claiming more
    // bytes than there are, an LZF string claiming 1 TiB, an empty set, a
    // listpack whose header lies. Both servers refuse them alike.
    for body in [
        &b"\x63\x00"[..],
        b"\x02\x81\x40\x00\x00\x00\x00\x00\x00\x00\x01a",
        b"\x00\x80\xff\xff\xff\xffabc",
        b"\x00\xc3\x02\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00a",
        b"\x02\x00",
        b"\x10\x0c\xff\x00\x00\x00\x01\x00\x81a\x02\xff",
    ] {
        let payload = seal(body);
        let a = call(&mut p.r, &[b"restore", b"bad", b"0", &payload]);
        let b = call(&mut p.o, &[b"restore", b"bad", b"0", &payload]);
        assert_eq!(a, b, "payload body {body:?}");
        assert_eq!(b, Frame::Error("ERR Bad data format".into()));
    }
}

/// Redis's CRC-64 (Jones, reflected), written out again so the test does not
/// trust the code it checks.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A value body with RDB version 10 and its CRC.
fn seal(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&[10, 0]);
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// A fresh directory under the system temp dir, removed when dropped.
fn temp_dir(tag: &str) -> testkit::TempDir {
    testkit::TempDir::new(&format!("rdb-{tag}"))
}

fn check_rdb(path: &Path) -> String {
    check_rdb_with("redis-check-rdb", path)
}

/// `redis-check-rdb` or `valkey-check-rdb` on `path`; it must pass.
fn check_rdb_with(bin: &str, path: &Path) -> String {
    let out = Command::new(bin)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{bin} must be installed (.ci/apt-state.txt): {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb:\n{text}"
    );
    text
}

/// Every key of the given databases, read on both sides.
fn assert_same_keyspace(a: &mut Conn, b: &mut Conn, dbs: &[usize]) {
    same_keyspace(a, b, dbs, |f| f);
}

/// Valkey 8 prints doubles in their shortest form (`-19.63`, where Redis
/// 7.0 prints `-19.629999999999999`): the same numbers, so sorted-set
/// scores and GEO positions are compared as numbers.
fn same_number_text(frames: Vec<Frame>) -> Vec<Frame> {
    fn norm(f: Frame) -> Frame {
        match f {
            Frame::Bulk(b) => match std::str::from_utf8(&b)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
            {
                Some(x) => Frame::Bulk(format!("{x}").into_bytes().into()),
                None => Frame::Bulk(b),
            },
            Frame::Array(v) => Frame::Array(v.into_iter().map(norm).collect()),
            other => other,
        }
    }
    frames.into_iter().map(norm).collect()
}

fn same_keyspace(a: &mut Conn, b: &mut Conn, dbs: &[usize], norm: fn(Vec<Frame>) -> Vec<Frame>) {
    for db in dbs {
        ok(a.cmd(&format!("select {db}")));
        ok(b.cmd(&format!("select {db}")));
        let ka = keys(a);
        assert_eq!(ka, keys(b), "db {db}: keys");
        assert!(!ka.is_empty());
        for k in &ka {
            let name = format!("db {db} {}", String::from_utf8_lossy(k));
            assert_eq!(norm(snapshot(a, k)), norm(snapshot(b, k)), "{name}");
            assert_ttl_close(pttl(a, k), pttl(b, k), &name);
        }
    }
    ok(a.cmd("select 0"));
    ok(b.cmd("select 0"));
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let info = String::from_utf8_lossy(&bulk(c.cmd(&format!("info {section}")))).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .to_string()
}

#[test]
fn save_writes_a_dump_rdb_that_redis_loads() {
    let dir = temp_dir("save");
    let ours = start_ours(state::Config {
        dir: Some(dir.to_path_buf()),
        ..state::Config::default()
    });
    let mut o = Conn::connect(ours.addr);
    for db in [0, 3, 15] {
        ok(o.cmd(&format!("select {db}")));
        populate(&mut o, &format!("db{db}:"));
    }
    ok(o.cmd("select 0"));
    run(&mut o, "set gone soon\npexpire gone 1");
    wait_for("the short TTL to pass", Duration::from_secs(5), || {
        int(o.cmd("exists gone")) == 0
    });
    let before = int(o.cmd("lastsave"));
    ok(o.cmd("save"));
    assert!(int(o.cmd("lastsave")) >= before);
    assert_eq!(
        info_field(&mut o, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    let file = dir.join("dump.rdb");
    let report = check_rdb(&file);
    assert!(
        report.contains("69 keys read"),
        "redis-check-rdb:\n{report}"
    );

    let redis = start_redis(&[
        "--dir",
        dir.to_str().expect("utf-8"),
        "--dbfilename",
        "dump.rdb",
    ]);
    let mut r = Conn::connect(redis.addr);
    assert_same_keyspace(&mut r, &mut o, &[0, 3, 15]);
    drop(r);
    drop(redis);

    // BGSAVE: the change made before it is in the file once it finishes.
    // (dbfilename is a protected config, refused by CONFIG SET as in Redis
    // 7.0: the same file is written again.)
    run(&mut o, "set after-save yes");
    assert_eq!(
        info_field(&mut o, "persistence", "rdb_changes_since_last_save"),
        "1"
    );
    assert_eq!(
        o.cmd("bgsave"),
        Frame::Simple("Background saving started".into())
    );
    wait_for("BGSAVE to finish", Duration::from_secs(30), || {
        info_field(&mut o, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    check_rdb(&dir.join("dump.rdb"));
    assert_eq!(
        info_field(&mut o, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    let redis = start_redis(&[
        "--dir",
        dir.to_str().expect("utf-8"),
        "--dbfilename",
        "dump.rdb",
    ]);
    let mut r = Conn::connect(redis.addr);
    assert_eq!(r.cmd("get after-save"), Frame::Bulk("yes".into()));
    assert_same_keyspace(&mut r, &mut o, &[0, 3, 15]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_without_a_data_directory_is_refused() {
    let ours = start_ours(state::Config::default());
    let mut o = Conn::connect(ours.addr);
    for cmd in ["save", "bgsave"] {
        match o.cmd(cmd) {
            Frame::Error(e) => assert!(e.contains("data directory"), "{e}"),
            other => panic!("{cmd}: {other:?}"),
        }
    }
    assert!(matches!(o.cmd("bgsave now"), Frame::Error(_)));
}

/// MIGRATE from bigstep state, checked against MIGRATE from a real
/// redis-server holding the same keys: same replies, same data arriving.
#[test]
fn migrate_moves_keys_to_redis() {
    let target = start_redis(&["--requirepass", "sekret"]);
    let mut t = Conn::connect(target.addr);
    ok(t.cmd("auth sekret"));
    ok(t.cmd("acl setuser mover on >pw2 ~* +@all"));
    let reference = start_redis(&[]);
    let mut a = Conn::connect(reference.addr);
    let ours = start_ours(state::Config::default());
    let mut o = Conn::connect(ours.addr);
    populate(&mut o, "m:");
    populate(&mut a, "ref:");
    let (host, port) = ("127.0.0.1", target.addr.port());
    let expected: Vec<(Vec<u8>, Vec<Frame>, i64)> = keys(&mut o)
        .into_iter()
        .map(|k| {
            let snap = snapshot(&mut o, &k);
            let ttl = pttl(&mut o, &k);
            (k, snap, ttl)
        })
        .collect();

    // One key, AUTH: it arrives with its TTL and leaves here.
    ok(o.cmd(&format!(
        "migrate {host} {port} m:str:small 0 5000 auth sekret"
    )));
    assert_eq!(int(o.cmd("exists m:str:small")), 0);
    // The rest with KEYS, COPY and AUTH2: they stay here too.
    let rest: Vec<String> = expected
        .iter()
        .map(|(k, _, _)| String::from_utf8_lossy(k).into_owned())
        .filter(|k| k != "m:str:small")
        .collect();
    ok(o.cmd(&format!(
        "migrate {host} {port} \"\" 0 5000 copy auth2 mover pw2 keys {}",
        rest.join(" ")
    )));
    assert_eq!(int(o.cmd("dbsize")), rest.len() as i64);
    for (k, snap, ttl) in &expected {
        let name = String::from_utf8_lossy(k);
        assert_eq!(&snapshot(&mut t, k), snap, "{name} on the target");
        assert_ttl_close(pttl(&mut t, k), *ttl, &name);
    }

    // Replies and errors as redis-server's own MIGRATE gives them.
    let both = |a: &mut Conn, o: &mut Conn, tail: &str| {
        let ra = a.cmd(&format!(
            "migrate {host} {port} {}",
            tail.replace("KEY", "ref:list:small")
        ));
        let ro = o.cmd(&format!(
            "migrate {host} {port} {}",
            tail.replace("KEY", "m:list:small")
        ));
        let norm = |f: Frame| match f {
            Frame::Error(e) => Frame::Error(e.replace("ref:", "m:")),
            other => other,
        };
        assert_eq!(norm(ra), norm(ro.clone()), "MIGRATE ... {tail}");
        ro
    };
    ok(t.cmd("rename m:list:small ref:list:small"));
    run(&mut t, "rpush m:list:small taken");
    let busy = both(&mut a, &mut o, "KEY 0 5000 copy auth sekret");
    assert_eq!(
        busy,
        Frame::Error(
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
                .into()
        )
    );
    // Both keep their connection to the target for the next MIGRATE, so
    // the AUTH given on it stays in force: without AUTH it works now.
    let connections = |t: &mut Conn| info_field(t, "stats", "total_connections_received");
    let before = connections(&mut t);
    ok(both(&mut a, &mut o, "KEY 0 5000 copy replace"));
    ok(both(&mut a, &mut o, "KEY 0 5000 copy replace"));
    assert_eq!(
        connections(&mut t),
        before,
        "no new connection to the target"
    );
    for c in [&mut a, &mut o] {
        assert_eq!(info_field(c, "stats", "migrate_cached_sockets"), "1");
    }
    both(&mut a, &mut o, "KEY 0 5000 copy auth wrong");
    both(&mut a, &mut o, "nosuchkey 0 5000 auth sekret");
    both(&mut a, &mut o, "KEY 0 5000 copy bogus");
    both(&mut a, &mut o, "KEY 0 5000 auth");
    both(&mut a, &mut o, "KEY 0 5000 keys x");
    both(&mut a, &mut o, "KEY x 5000");
    both(&mut a, &mut o, "KEY 0 x");
    ok(both(&mut a, &mut o, "KEY 0 5000 replace copy auth sekret"));
    // Into another database.
    ok(both(&mut a, &mut o, "KEY 5 5000 copy auth sekret"));
    ok(t.cmd("select 5"));
    assert_eq!(
        snapshot(&mut t, b"m:list:small"),
        snapshot(&mut o, b"m:list:small")
    );
    // The target restarted behind the kept connection: the next MIGRATE
    // finds it closed and connects again, on both.
    ok(t.cmd("select 0"));
    let Frame::Integer(killed) = t.cmd("client kill type normal skipme yes") else {
        panic!("client kill")
    };
    assert_eq!(killed, 2, "the two MIGRATE connections");
    let moved = both(&mut a, &mut o, "KEY 0 5000 copy replace auth sekret");
    assert_eq!(moved, Frame::Simple("OK".into()));
    // Unused for 10 s, the connection is closed, as Redis closes it.
    for c in [&mut a, &mut o] {
        wait_for(
            "the idle MIGRATE connection to close",
            Duration::from_secs(20),
            || info_field(c, "stats", "migrate_cached_sockets") == "0",
        );
    }
}

/// A target that accepts the connection and never answers: the error is
/// Redis's IOERR, and it comes once the timeout has passed.
#[test]
fn migrate_to_a_silent_target_times_out_with_ioerr() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let reference = start_redis(&[]);
    let mut a = Conn::connect(reference.addr);
    let ours = start_ours(state::Config::default());
    let mut o = Conn::connect(ours.addr);
    for c in [&mut a, &mut o] {
        ok(c.cmd("set k v"));
        let started = Instant::now();
        assert_eq!(
            c.cmd(&format!("migrate 127.0.0.1 {port} k 0 300")),
            Frame::Error("IOERR error or timeout reading to target instance".into())
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Nothing moved: the key is still here.
        assert_eq!(int(c.cmd("exists k")), 1);
        // A refused connection shows on the first write in Redis's
        // non-blocking connect, so that is the error it names.
        assert_eq!(
            c.cmd(&format!("migrate 127.0.0.1 {closed_port} k 0 300")),
            Frame::Error("IOERR error or timeout writing to target instance".into())
        );
    }
    drop(silent);
}

// === Redis Cluster ===

/// A process killed (and its directory removed) on drop.
struct Node {
    child: Child,
    port: u16,
    _dir: testkit::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn cluster_port() -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        if p < 55000 && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
    panic!("no port pair free for a cluster node");
}

fn start_cluster_node(bin: &str) -> Node {
    let port = cluster_port();
    let dir = temp_dir(&format!("cluster-{port}"));
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
        .args([
            "--dir",
            dir.to_str().expect("utf-8"),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} must be installed (.ci/apt-state.txt): {e}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    wait_listening(addr);
    Node {
        child,
        port,
        _dir: dir,
    }
}

/// `redis-cli` or `valkey-cli` with `args`; it must succeed.
fn cli(bin: &str, args: &[String]) -> String {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{bin} must be installed (.ci/apt-state.txt): {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{bin} {args:?}:\n{text}");
    text
}

/// The documented move: a three-node Redis Cluster on loopback, then
/// `redis-cli --cluster import` from a running bigstep state. Every key,
/// type and TTL arrives on the node that owns its slot.
#[test]
fn cluster_import_moves_every_key_type_and_ttl() {
    cluster_import("redis-server", "redis-cli", |f| f);
}

/// Builds a cluster of three `server` nodes with `cli --cluster create` and
/// imports a populated bigstep state into it with `cli --cluster import`.
fn cluster_import(server: &str, cli_bin: &str, norm: fn(Vec<Frame>) -> Vec<Frame>) {
    let nodes: Vec<Node> = (0..3).map(|_| start_cluster_node(server)).collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut create = vec!["--cluster".to_string(), "create".into()];
    create.extend(addrs.iter().cloned());
    create.extend([
        "--cluster-replicas".into(),
        "0".into(),
        "--cluster-yes".into(),
    ]);
    cli(cli_bin, &create);
    let mut conns: Vec<Conn> = nodes
        .iter()
        .map(|n| Conn::connect(format!("127.0.0.1:{}", n.port).parse().expect("addr")))
        .collect();
    for c in conns.iter_mut() {
        wait_for("the cluster to be ok", Duration::from_secs(30), || {
            info_cluster_ok(c)
        });
    }

    let ours = start_ours(state::Config::default());
    let mut o = Conn::connect(ours.addr);
    populate(&mut o, "");
    for i in 0..300 {
        run(&mut o, &format!("set user:{i} {i}"));
        if i % 3 == 0 {
            run(&mut o, &format!("pexpire user:{i} {}", 600_000 + i));
        }
    }
    let want = keys(&mut o);
    assert_eq!(want.len(), 323);

    let out = cli(
        cli_bin,
        &[
            "--cluster".into(),
            "import".into(),
            addrs[0].clone(),
            "--cluster-from".into(),
            ours.addr.to_string(),
            "--cluster-copy".into(),
        ],
    );
    assert!(!out.contains("ERR"), "import:\n{out}");

    let mut got = Vec::new();
    for c in conns.iter_mut() {
        let here = keys(c);
        assert!(!here.is_empty(), "every node owns some keys");
        for k in &here {
            let name = String::from_utf8_lossy(k).into_owned();
            assert_eq!(norm(snapshot(c, k)), norm(snapshot(&mut o, k)), "{name}");
            assert_ttl_close(pttl(c, k), pttl(&mut o, k), &name);
        }
        got.extend(here);
    }
    got.sort();
    assert_eq!(got, want, "every key arrived once");
    // --cluster-copy: the source keeps its data.
    assert_eq!(keys(&mut o), want);
}

fn info_cluster_ok(c: &mut Conn) -> bool {
    let info = String::from_utf8_lossy(&bulk(c.cmd("cluster info"))).into_owned();
    info.contains("cluster_state:ok")
}

/// RESTORE and MIGRATE go through the append-only log like any write: after
/// a restart the restored keys are back with their absolute expiry, and a
/// migrated key stays gone.
#[test]
fn restore_and_migrate_survive_a_restart() {
    let dir = temp_dir("aof");
    let cfg = || state::Config {
        dir: Some(dir.to_path_buf()),
        ..state::Config::default()
    };
    let target = start_redis(&[]);
    let ours = start_ours(cfg());
    let mut o = Conn::connect(ours.addr);
    run(&mut o, "rpush src a b c\nhset h f v\nset moving yes");
    let payload = bulk(o.cmd("dump src"));
    ok(call(&mut o, &[b"restore", b"copy", b"900000", &payload]));
    ok(call(&mut o, &[b"restore", b"forever", b"0", &payload]));
    let expiry = int(o.cmd("pexpiretime copy"));
    ok(o.cmd(&format!(
        "migrate 127.0.0.1 {} moving 0 5000",
        target.addr.port()
    )));
    drop(o);
    drop(ours);

    let ours = start_ours(cfg());
    let mut o = Conn::connect(ours.addr);
    for k in ["copy", "forever"] {
        assert_eq!(
            o.cmd(&format!("lrange {k} 0 -1")),
            o.cmd("lrange src 0 -1"),
            "{k}"
        );
    }
    assert_eq!(int(o.cmd("pexpiretime copy")), expiry);
    assert_eq!(int(o.cmd("pttl forever")), -1);
    assert_eq!(int(o.cmd("exists moving")), 0);
    let mut t = Conn::connect(target.addr);
    assert_eq!(t.cmd("get moving"), Frame::Bulk("yes".into()));
    drop(o);
    drop(ours);
    let _ = std::fs::remove_dir_all(&dir);
}

const LIB_A: &str = "#!lua name=liba\nredis.register_function('geta', function(keys, args) return redis.call('get', keys[1]) end)";
const LIB_B: &str = "#!lua name=libb\nredis.register_function{function_name='twice', callback=function(keys, args) return tonumber(args[1]) * 2 end, flags={'no-writes'}}";

fn fcall(c: &mut Conn, line: &str) -> Frame {
    c.cmd(line)
}

fn file_holds(path: &Path, needle: &[u8]) -> bool {
    let data = std::fs::read(path).expect("read rdb");
    data.windows(needle.len()).any(|w| w == needle)
}

/// Function libraries travel in `dump.rdb` (opcode FUNCTION2) both ways, with
/// LZF-compressed strings: redis-server's file loads here at start (FCALL
/// works, the values are there, and the data is then in our log: a restart
/// without the file keeps it); our SAVE writes a file redis-server loads
/// (FCALL works there) and redis-check-rdb accepts, compressed unless
/// `rdbcompression no`.
#[test]
fn functions_and_compressed_strings_travel_in_dump_rdb() {
    let long_a = "a compressible value, ".repeat(10);
    let long_b = "another compressible value; ".repeat(12);

    // redis-server writes a dump.rdb with a library and a long string.
    let rdir = temp_dir("fn-redis");
    let redis = start_redis(&["--dir", rdir.to_str().expect("utf-8")]);
    let mut r = Conn::connect(redis.addr);
    call(&mut r, &[b"FUNCTION", b"LOAD", LIB_A.as_bytes()]);
    call(&mut r, &[b"SET", b"long", long_a.as_bytes()]);
    run(&mut r, "set short v\nset ttl x\nexpire ttl 5000\nsave");
    drop(r);
    drop(redis);
    let rfile = rdir.join("dump.rdb");
    assert!(
        !file_holds(&rfile, long_a.as_bytes()),
        "redis-server compressed the long string"
    );

    // It loads into an empty bigstep state.
    let odir = temp_dir("fn-ours");
    std::fs::copy(&rfile, odir.join("dump.rdb")).expect("copy");
    let cfg = state::Config {
        dir: Some(odir.to_path_buf()),
        ..state::Config::default()
    };
    let ours = start_ours(cfg.clone());
    let mut o = Conn::connect(ours.addr);
    assert_eq!(
        fcall(&mut o, "fcall geta 1 long"),
        Frame::Bulk(long_a.clone().into())
    );
    assert_eq!(o.cmd("get short"), Frame::Bulk("v".into()));
    let ttl = int(o.cmd("ttl ttl"));
    assert!((4900..=5000).contains(&ttl), "{ttl}");
    drop(o);
    drop(ours);

    // Now the log holds it: the file is not needed any more.
    std::fs::remove_file(odir.join("dump.rdb")).expect("rm");
    let ours = start_ours(cfg.clone());
    let mut o = Conn::connect(ours.addr);
    assert_eq!(
        fcall(&mut o, "fcall geta 1 long"),
        Frame::Bulk(long_a.clone().into())
    );

    // Our SAVE: both libraries and the long strings, compressed.
    call(&mut o, &[b"FUNCTION", b"LOAD", LIB_B.as_bytes()]);
    call(&mut o, &[b"SET", b"long2", long_b.as_bytes()]);
    ok(o.cmd("save"));
    let ofile = odir.join("dump.rdb");
    check_rdb(&ofile);
    assert!(!file_holds(&ofile, long_a.as_bytes()));
    assert!(!file_holds(&ofile, long_b.as_bytes()));

    // redis-server loads our file: FCALL and the values work there.
    let rdir2 = temp_dir("fn-redis2");
    std::fs::copy(&ofile, rdir2.join("dump.rdb")).expect("copy");
    let redis = start_redis(&["--dir", rdir2.to_str().expect("utf-8")]);
    let mut r = Conn::connect(redis.addr);
    assert_eq!(
        fcall(&mut r, "fcall geta 1 long2"),
        Frame::Bulk(long_b.clone().into())
    );
    assert_eq!(fcall(&mut r, "fcall_ro twice 0 21"), Frame::Integer(42));
    assert_same_keyspace(&mut r, &mut o, &[0]);
    drop(r);
    drop(redis);

    // Our own file, alone in a new directory, restarts us the same (SAVE,
    // restart: what DEBUG RELOAD checks in Redis).
    let odir2 = temp_dir("fn-ours2");
    std::fs::copy(&ofile, odir2.join("dump.rdb")).expect("copy");
    let again = start_ours(state::Config {
        dir: Some(odir2.to_path_buf()),
        ..state::Config::default()
    });
    let mut a = Conn::connect(again.addr);
    assert_eq!(fcall(&mut a, "fcall_ro twice 0 5"), Frame::Integer(10));
    assert_same_keyspace(&mut a, &mut o, &[0]);
    assert_eq!(
        sorted(a.cmd("function list")),
        sorted(o.cmd("function list"))
    );

    // rdbcompression no: stored plain.
    ok(o.cmd("config set rdbcompression no"));
    ok(o.cmd("save"));
    check_rdb(&ofile);
    assert!(file_holds(&ofile, long_a.as_bytes()));
    for d in [rdir, rdir2, odir, odir2] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A dump.rdb that cannot be read stops the start with the file and the
/// reason, rather than starting empty and overwriting nothing.
#[test]
fn an_unreadable_dump_rdb_refuses_the_start() {
    let dir = temp_dir("bad-rdb");
    std::fs::write(dir.join("dump.rdb"), b"REDIS0010\xfe\x00garbage").expect("write");
    let cfg = state::Config {
        dir: Some(dir.to_path_buf()),
        ..state::Config::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(state::Server::start(cfg))
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("dump.rdb") && msg.contains("not a readable RDB file"),
        "{msg}"
    );
    assert!(
        !dir.join("appendonly.aof").exists()
            || std::fs::metadata(dir.join("appendonly.aof"))
                .map(|m| m.len())
                .unwrap_or(0)
                == 0
    );
    let _ = std::fs::remove_dir_all(dir);
}

// === Valkey ===

/// The same ways out, into Valkey 8 (Debian's valkey-server, from
/// bookworm-backports): valkey-check-rdb accepts our `dump.rdb` (functions
/// included) and valkey-server loads it with every key, type and TTL;
/// MIGRATE moves keys to it; and `valkey-cli --cluster import` copies a
/// running bigstep state into a three-node Valkey cluster.
#[test]
fn the_ways_out_work_into_valkey() {
    let dir = temp_dir("valkey");
    let ours = start_ours(state::Config {
        dir: Some(dir.to_path_buf()),
        ..state::Config::default()
    });
    let mut o = Conn::connect(ours.addr);
    for db in [0, 7] {
        ok(o.cmd(&format!("select {db}")));
        populate(&mut o, &format!("db{db}:"));
    }
    ok(o.cmd("select 0"));
    call(&mut o, &[b"FUNCTION", b"LOAD", LIB_B.as_bytes()]);
    call(
        &mut o,
        &[b"SET", b"long", "compress me, ".repeat(20).as_bytes()],
    );
    ok(o.cmd("save"));
    check_rdb_with("valkey-check-rdb", &dir.join("dump.rdb"));
    let valkey = start_valkey(&["--dir", dir.to_str().expect("utf-8")]);
    let mut v = Conn::connect(valkey.addr);
    assert!(
        info_field(&mut v, "server", "valkey_version").starts_with('8'),
        "a Valkey 8 server"
    );
    same_keyspace(&mut v, &mut o, &[0, 7], same_number_text);
    assert_eq!(v.cmd("fcall_ro twice 0 21"), Frame::Integer(42));
    drop(v);
    drop(valkey);

    // MIGRATE: one key leaves, the rest are copied with KEYS.
    let target = start_valkey(&[]);
    let mut t = Conn::connect(target.addr);
    let all = keys(&mut o);
    let port = target.addr.port();
    ok(o.cmd(&format!("migrate 127.0.0.1 {port} long 0 5000")));
    assert_eq!(int(o.cmd("exists long")), 0);
    let rest: Vec<String> = all
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .filter(|k| k != "long")
        .collect();
    ok(o.cmd(&format!(
        "migrate 127.0.0.1 {port} \"\" 0 5000 copy keys {}",
        rest.join(" ")
    )));
    assert_eq!(
        bulk(t.cmd("get long")),
        "compress me, ".repeat(20).into_bytes()
    );
    for k in keys(&mut o) {
        let name = String::from_utf8_lossy(&k).into_owned();
        assert_eq!(
            same_number_text(snapshot(&mut t, &k)),
            same_number_text(snapshot(&mut o, &k)),
            "{name}"
        );
        assert_ttl_close(pttl(&mut t, &k), pttl(&mut o, &k), &name);
    }
    drop(o);
    drop(ours);
    let _ = std::fs::remove_dir_all(&dir);

    cluster_import("valkey-server", "valkey-cli", same_number_text);
}
