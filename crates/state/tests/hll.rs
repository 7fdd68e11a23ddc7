//! HyperLogLog against redis-server: the same replies and the same bytes
//! (`GET` of an HLL key), in RESP2 and RESP3, errors included.

mod common;

use common::{Conn, Pair};
use state::resp::Frame;

/// Runs `body` in RESP2, then again on empty servers in RESP3.
fn both_protocols(p: &mut Pair, body: impl Fn(&mut Pair)) {
    body(p);
    p.script("?hello 3\nflushall");
    body(p);
    p.script("?hello 2");
}

#[test]
fn pf_commands_and_errors() {
    let mut p = Pair::new();
    both_protocols(&mut p, |p| {
        p.script(
            r#"
            pfadd h
            get h
            pfcount h
            get h
            pfadd h a b c d e f g
            pfadd h a b
            get h
            pfcount h
            pfcount h
            get h
            pfcount nokey
            pfcount nokey nokey2
            pfadd h2 x y z a
            pfcount h h2
            pfcount h h2 nokey
            pfmerge dst h h2
            get dst
            pfcount dst
            pfmerge dst
            pfmerge fresh
            get fresh
            pfmerge h h2
            get h
            pfadd empty
            pfcount empty
            # wrong types and values that are no HLL
            lpush l x
            pfadd l a
            pfcount l
            pfcount h l
            pfmerge h l
            pfmerge l h
            set s notanhll
            pfadd s a
            pfcount s
            pfcount s h
            pfmerge s h
            pfmerge h s
            set i 12345
            pfadd i a
            pfcount i
            set d "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
            pfadd d a
            set bad "HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
            pfcount bad
            set short "HYLL\x01\x00\x00"
            pfcount short
            # a sparse header over registers that do not add up
            set c "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe"
            pfcount c
            pfadd c a
            pfcount c h
            pfmerge x c
            set c2 "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x00"
            pfcount c2
            pfdebug encoding h
            pfdebug decode h
            pfdebug getreg dst
            pfdebug encoding dst
            pfdebug todense h
            pfdebug todense h
            pfdebug encoding h
            pfdebug decode h
            pfdebug getreg h
            get h
            pfdebug encoding nokey
            pfdebug encoding s
            pfdebug encoding l
            pfdebug nosuch h
            pfdebug decode c
            pfselftest
            ~acl cat hyperloglog
            pfadd
            pfcount
            pfmerge
            type h
            strlen h
            append h x
            pfcount h
        "#,
        );
    });
}

/// Enough elements to split and merge sparse opcodes in every way, pass
/// `hll-sparse-max-bytes` and turn dense; the bytes match at every step.
#[test]
fn sparse_growth_and_dense_promotion_match_byte_for_byte() {
    let mut p = Pair::new();
    let mut n = 0;
    for round in 0..40 {
        let batch = if round < 20 { 7 } else { 150 };
        let mut line = String::from("pfadd big");
        for _ in 0..batch {
            line.push_str(&format!(" e{n}"));
            n += 1;
        }
        p.script(&format!("{line}\nget big\npfcount big\nget big"));
        p.script(&format!(
            "pfadd small{round} e{round} x{round}\npfmerge m small{round} big"
        ));
        if round % 8 == 0 {
            p.script(&format!("get m\npfcount m small{round}\npfcount m big"));
        }
    }
    // A lower hll-sparse-max-bytes turns HLLs dense sooner.
    p.script(
        "config set hll-sparse-max-bytes 60\npfadd low a b c d e f g h i j k l m n o p\nget low",
    );
    p.script("pfadd low2 q\npfmerge low2 small3 small4 small5\nget low2\nconfig set hll-sparse-max-bytes 3000");
    // A dense source makes PFMERGE's destination dense.
    p.script("pfadd tiny a\npfmerge tiny big\nget tiny\npfcount tiny");
}

/// Copies `key` (made on `from` from `n` elements) to `to` through GET/SET.
fn copy_hll(from: &mut Conn, to: &mut Conn, key: &str, n: usize) {
    let mut args: Vec<Vec<u8>> = vec![b"pfadd".to_vec(), key.into()];
    args.extend((0..n).map(|i| format!("{key}-{i}").into_bytes()));
    from.send_args(&args);
    from.read();
    from.send_args(&[b"get".to_vec(), key.into()]);
    let Some(Frame::Bulk(bytes)) = from.read() else {
        panic!("GET {key}")
    };
    to.send_args(&[b"set".to_vec(), key.into(), bytes.to_vec()]);
    to.read();
}

/// An HLL made by redis-server (its `GET` bytes) works here, and the reverse.
#[test]
fn values_move_between_servers() {
    let mut p = Pair::new();
    let (mut r, mut o) = p.conns();
    for redis_made in [true, false] {
        for (key, n) in [("sparse", 50), ("dense", 5000)] {
            if redis_made {
                copy_hll(&mut r, &mut o, key, n);
            } else {
                copy_hll(&mut o, &mut r, key, n);
            }
        }
        p.script(
            "pfcount sparse\npfcount dense\npfadd sparse more\npfcount sparse dense\nget sparse",
        );
        p.script("flushall");
    }
}

#[test]
fn watch_sees_pfadd_cache_refresh_and_merge_destination() {
    let mut p = Pair::new();
    let (mut r2, mut o2) = p.conns();
    let both = |r2: &mut Conn, o2: &mut Conn, cmd: &str| {
        r2.cmd(cmd);
        o2.cmd(cmd);
    };
    // PFADD that changes a register.
    p.script("pfadd h a\npfcount h\nwatch h\nmulti\nping");
    both(&mut r2, &mut o2, "pfadd h b");
    p.script("exec");
    // PFADD that changes nothing.
    p.script("pfcount h\nwatch h\nmulti\nping");
    both(&mut r2, &mut o2, "pfadd h b");
    p.script("exec");
    // PFCOUNT refreshing a stale cache is a change; a fresh cache is not.
    p.script("pfadd h c\nwatch h\nmulti\nping");
    both(&mut r2, &mut o2, "pfcount h");
    p.script("exec\nwatch h\nmulti\nping");
    both(&mut r2, &mut o2, "pfcount h");
    p.script("exec");
    // PFMERGE modifies its destination only.
    p.script("pfadd src x\nwatch src\nmulti\nping");
    both(&mut r2, &mut o2, "pfmerge dst src");
    p.script("exec\nwatch dst\nmulti\nping");
    both(&mut r2, &mut o2, "pfmerge dst src");
    p.script("exec");
}
