//! SWAPDB against redis-server: contents, errors, WATCH and blocked clients,
//! in RESP2 and RESP3.

mod common;

use std::time::Duration;

use common::{wait_for, Conn, Pair};
use state::resp::Frame;

fn blocked_clients(c: &mut Conn) -> usize {
    let Frame::Bulk(info) = c.cmd("info clients") else {
        panic!("INFO")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn swapdb_contents_and_errors() {
    let mut p = Pair::new();
    for proto in ["2", "3"] {
        p.script(&format!(
            r#"
            ?hello {proto}
            flushall
            set a in0
            rpush l x y
            expire l 1000
            select 1
            set a in1
            set b only1
            swapdb 0 1
            get a
            get b
            exists l
            select 0
            get a
            get b
            ttl l
            swapdb 1 0
            get a
            swapdb 3 3
            dbsize
            swapdb 0 16
            swapdb -1 0
            swapdb x 0
            swapdb 0 y
            swapdb 0 1.5
            swapdb 99999999999 0
            swapdb 0
            swapdb 0 1 2
            multi
            swapdb 0 1
            get a
            exec
        "#
        ));
    }
}

#[test]
fn swapdb_fails_watchers_of_keys_on_either_side() {
    let mut p = Pair::new();
    let (mut r2, mut o2) = p.conns();
    // The watched key exists only in the other database: the swap brings it in.
    p.script("flushall\nselect 1\nset k v\nselect 0\nwatch k\nmulti\nping");
    r2.cmd("swapdb 0 1");
    o2.cmd("swapdb 0 1");
    p.script("exec");
    // The watched key exists only here: the swap takes it away.
    p.script("flushall\nset k v\nwatch k\nmulti\nping");
    r2.cmd("swapdb 0 1");
    o2.cmd("swapdb 0 1");
    p.script("exec");
    // Absent on both sides: nothing changed for it.
    p.script("flushall\nset other v\nwatch k\nmulti\nping");
    r2.cmd("swapdb 0 1");
    o2.cmd("swapdb 0 1");
    p.script("exec");
    // Another pair of databases does not matter.
    p.script("flushall\nset k v\nwatch k\nmulti\nping");
    r2.cmd("swapdb 2 3");
    o2.cmd("swapdb 2 3");
    p.script("exec");
}

#[test]
fn swapdb_serves_clients_blocked_on_keys_it_brings_in() {
    let p = Pair::new();
    let (mut r_blocked, mut o_blocked) = p.conns();
    let (mut r2, mut o2) = p.conns();
    for (b, c) in [(&mut r_blocked, &mut r2), (&mut o_blocked, &mut o2)] {
        b.send_args(&[b"blpop".to_vec(), b"l".to_vec(), b"0".to_vec()]);
        wait_for("BLPOP to block", Duration::from_secs(10), || {
            blocked_clients(c) == 1
        });
        c.cmd("select 1");
        c.cmd("set l notalist");
        c.cmd("select 2");
        c.cmd("rpush l served");
        // A string arriving does not serve a list pop.
        assert_eq!(c.cmd("swapdb 0 1"), Frame::Simple("OK".into()));
        assert_eq!(blocked_clients(c), 1);
        assert_eq!(c.cmd("swapdb 0 2"), Frame::Simple("OK".into()));
        let got = b.read().expect("BLPOP reply");
        assert_eq!(
            got,
            Frame::Array(vec![Frame::Bulk("l".into()), Frame::Bulk("served".into())])
        );
        c.cmd("select 0");
        assert_eq!(c.cmd("exists l"), Frame::Integer(0));
    }
}
