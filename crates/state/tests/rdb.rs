//! Redis's own serialization, against a real redis-server 7: DUMP/RESTORE
//! both ways for every type (small values in listpacks, large ones in the
//! plain encodings), RESTORE's errors, `dump.rdb` from SAVE/BGSAVE loaded
//! by redis-server and passed by redis-check-rdb, MIGRATE to redis-server,
//! and `redis-cli --cluster import` into a three-node Redis Cluster.

mod common;

use std::collections::BTreeMap;

use common::{sorted, sorted_pairs, start_ours, start_redis, Conn, Pair};
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
