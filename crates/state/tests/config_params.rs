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
