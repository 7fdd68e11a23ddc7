//! CONFIG GET / CONFIG SET over every parameter redis-server 7.0 lists,
//! against redis-server: the same names, values read back, and refusals.

mod common;

use std::collections::BTreeSet;

use common::{Conn, Pair};
use state::resp::Frame;

fn config_names(c: &mut Conn) -> BTreeSet<String> {
    let f = c.cmd("config get *");
    let flat: Vec<Frame> = match f {
        Frame::Array(v) => v,
        Frame::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("CONFIG GET *: {other:?}"),
    };
    flat.iter()
        .step_by(2)
        .map(|k| match k {
            Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("name {other:?}"),
        })
        .collect()
}

#[test]
fn config_get_star_lists_the_same_names() {
    let mut p = Pair::new();
    let theirs = config_names(&mut p.r);
    let ours = config_names(&mut p.o);
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing here: {missing:?}; only here: {extra:?}"
    );
}

#[test]
fn config_set_validates_and_reports_back() {
    let mut p = Pair::new();
    for proto in ["2", "3"] {
        p.script(&format!("?hello {proto}"));
        p.script(
            r#"
            config set hash-max-ziplist-value 128
            %config get hash-max-ziplist-value
            %config get hash-max-listpack-value
            config set hash-max-listpack-entries 1000
            %config get hash-max-*
            config set list-compress-depth 2
            %config get list-compress-depth
            config set set-max-intset-entries 1024
            %config get set-max-intset-entries
            config set zset-max-ziplist-entries 64 zset-max-ziplist-value 1kb
            %config get zset-max-*
            config set list-max-ziplist-size -1
            %config get list-max-*
            config set hll-sparse-max-bytes 4k
            %config get hll-sparse-max-bytes
            config set activerehashing no lazyfree-lazy-eviction YES
            %config get activerehashing
            %config get lazyfree-lazy-eviction
            config set loglevel WARNING
            %config get loglevel
            config set slowlog-log-slower-than -1 slowlog-max-len 10
            %config get slowlog-*
            config set hz 100
            %config get hz
            config set stream-node-max-entries 50 stream-node-max-bytes 1mb
            %config get stream-node-*
            config set activerehashing maybe
            config set list-compress-depth abc
            config set list-compress-depth -1
            config set active-expire-effort 11
            config set loglevel loud
            config set hash-max-listpack-value lots
            config set daemonize yes
            config set databases 4
            config set no-such-parameter 1
            config set hz 5 activerehashing maybe
            %config get hz
            %config get activerehashing
            %config get tls-*
            %config get *-max-*-entries
            config set client-output-buffer-limit "pubsub 1mb 512kb 30 normal 0 0 0"
            %config get client-output-buffer-limit
            config set client-output-buffer-limit "replica 64mb 16mb 10"
            %config get client-output-buffer-limit
            config set client-output-buffer-limit "normal 1 2"
            config set client-output-buffer-limit "master 1 2 3"
            config set client-output-buffer-limit "pubsub x 2 3"
            config set client-output-buffer-limit "pubsub 32mb 8mb 60"
            config set proto-max-bulk-len 1000
            config set proto-max-bulk-len lots
            config set proto-max-bulk-len 2mb
            %config get proto-max-bulk-len
            config set client-query-buffer-limit 1kb
            config set client-query-buffer-limit 4mb
            %config get client-query-buffer-limit
            config set client-query-buffer-limit 1gb
            config set proto-max-bulk-len 512mb
            config set port 70000
            config set port abc
            config set dbfilename other.rdb
            config set dir /tmp
            config set rdbchecksum no
            config set jemalloc-bg-thread no
            config set jemalloc-bg-thread yes
        "#,
        );
    }
}

/// OBJECT ENCODING follows the compact-encoding limits CONFIG SET gives.
#[test]
fn object_encoding_follows_config_limits() {
    let mut p = Pair::new();
    p.script(
        r#"
        config set hash-max-listpack-entries 2 hash-max-listpack-value 8
        hset h1 a 1 b 2
        object encoding h1
        hset h2 a 1 b 2 c 3
        object encoding h2
        hset h3 a 123456789
        object encoding h3
        config set zset-max-ziplist-entries 1 zset-max-listpack-value 4
        zadd z1 1 a
        object encoding z1
        zadd z2 1 a 2 b
        object encoding z2
        zadd z3 1 abcdef
        object encoding z3
        config set set-max-intset-entries 2
        sadd s1 1 2
        object encoding s1
    "#,
    );
}

/// Every name/value pair of `CONFIG GET *`: each server is given back its
/// own value with CONFIG SET. Redis accepts every mutable parameter so, and
/// refuses the immutable and protected ones with its reasons; the replies
/// must be the same here, parameter by parameter.
#[test]
fn config_set_accepts_every_parameter_back_as_redis_does() {
    let mut p = Pair::new();
    let pairs = |c: &mut Conn| -> Vec<(String, Vec<u8>)> {
        let Frame::Array(flat) = c.cmd("config get *") else {
            panic!("CONFIG GET *")
        };
        flat.chunks(2)
            .map(|kv| match (&kv[0], &kv[1]) {
                (Frame::Bulk(k), Frame::Bulk(v)) => {
                    (String::from_utf8_lossy(k).into_owned(), v.to_vec())
                }
                other => panic!("pair {other:?}"),
            })
            .collect()
    };
    let theirs = pairs(&mut p.r);
    let ours: std::collections::BTreeMap<String, Vec<u8>> = pairs(&mut p.o).into_iter().collect();
    let mut differ = Vec::new();
    for (name, value) in &theirs {
        let own = ours
            .get(name)
            .unwrap_or_else(|| panic!("{name} not listed here"));
        let set = |c: &mut Conn, v: &[u8]| {
            c.send_args(&[
                b"config".to_vec(),
                b"set".to_vec(),
                name.clone().into_bytes(),
                v.to_vec(),
            ]);
            c.read().expect("reply")
        };
        let r = set(&mut p.r, value);
        let o = set(&mut p.o, own);
        if r != o {
            differ.push(format!("{name}: redis-server {r:?}, here {o:?}"));
        }
    }
    assert!(theirs.len() > 150, "{} parameters", theirs.len());
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// proto-max-bulk-len set with CONFIG SET applies to the next request, as
/// in Redis: a bulk longer than it is a protocol error (and the connection
/// closes); before the change the same header just waits for its data.
#[test]
fn proto_max_bulk_len_applies_at_once() {
    let p = Pair::new();
    let mut got = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut admin = Conn::connect(addr);
        let mut c = Conn::connect(addr);
        c.send_raw(b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1500000\r\n");
        let before = c.try_read(std::time::Duration::from_millis(200));
        drop(c);
        let set = admin.cmd("config set proto-max-bulk-len 1mb");
        let mut c = Conn::connect(addr);
        c.send_raw(b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1500000\r\n");
        got.push((before, set, c.read()));
    }
    assert_eq!(
        got[1].2,
        Some(Frame::Error(
            "ERR Protocol error: invalid bulk length".into()
        ))
    );
    assert_eq!(got[0], got[1], "redis-server vs bigstep state");
}
