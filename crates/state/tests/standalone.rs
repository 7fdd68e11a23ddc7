//! What a standalone redis-server 7.0 on its defaults answers and bigstep state
//! answers the same: MOVE between databases, EVAL_RO / EVALSHA_RO, and the
//! refusals clients probe with (cluster support off, DEBUG and MODULE LOAD
//! not enabled, no modules loaded).

mod common;

use common::Pair;

#[test]
fn move_between_databases() {
    let mut p = Pair::new();
    p.script(
        r#"
        set k v
        pexpire k 100000
        move k 1
        exists k
        select 1
        get k
        ?pttl k
        move k 1
        move k 16
        move k -1
        move k x
        move nokey 0
        set k2 here
        select 0
        set k2 there
        move k2 1
        get k2
        rpush l a b c
        move l 1
        select 1
        lrange l 0 -1
        type l
        ttl k2
        move
        move k
        move k 0 extra
        "#,
    );
    // A WATCH in the destination database sees the key arrive.
    p.script(
        r#"
        select 2
        watch arriving
        "#,
    );
    let (mut r2, mut o2) = p.conns();
    for c in [&mut r2, &mut o2] {
        c.cmd("set arriving 1");
        c.cmd("move arriving 2");
    }
    p.script(
        r#"
        multi
        get arriving
        exec
        get arriving
        "#,
    );
}

#[test]
fn read_only_scripts() {
    let mut p = Pair::new();
    p.script(
        r#"
        set a 1
        eval_ro "return redis.call('get', KEYS[1])" 1 a
        eval_ro "return redis.call('set', KEYS[1], 'x')" 1 a
        eval_ro "return redis.pcall('incr', KEYS[1])" 1 a
        get a
        script load "return redis.call('get', KEYS[1])"
        evalsha_ro 3b8b5a1f4df6a8b2d9f5cf3ee0a60fd6d1a2a1cb 1 a
        evalsha_ro nosuchsha 0
        eval_ro "return 1" -1
        eval_ro "return 1"
        evalsha "4e6d8fc8bb01276962cce5371fa795a7763657ae" 1 a
        "#,
    );
    // EVALSHA_RO of a script EVAL loaded: the same SHA on both servers.
    let body = "return redis.call('get', KEYS[1])";
    let sha = p.check_mode(&format!("script load \"{body}\""), common::Mode::Exact);
    let sha = match sha {
        state::resp::Frame::Bulk(b) => String::from_utf8(b.to_vec()).expect("sha"),
        other => panic!("SCRIPT LOAD answered {other:?}"),
    };
    p.script(&format!(
        "evalsha_ro {sha} 1 a\nevalsha_ro {} 1 a\n",
        sha.to_uppercase()
    ));
}

#[test]
fn what_a_standalone_server_refuses() {
    let mut p = Pair::new();
    p.script(
        r#"
        cluster info
        cluster slots
        cluster shards
        cluster nodes
        cluster myid
        cluster keyslot foo
        cluster help
        cluster nosuchsub
        cluster
        asking
        asking x
        debug sleep 0
        debug object k
        debug
        module list
        module list x
        module help
        module load /tmp/nosuch.so
        module loadex /tmp/nosuch.so
        module unload nosuch
        module
        command getkeys move k 1
        command getkeys eval_ro "return 1" 2 a b
        command getkeysandflags move k 1
        command getkeys cluster info
        command getkeys xread foo streams a b
        command getkeys xread count 2 streams a b 0 0
        command getkeys xreadgroup group g c streams s 0
        set src v
        dump nosuch
        restore-asking r2 0 "\x00\x01v\n\x00\x9b\x8d\x9c\x84\x8a\x02\xe1\xd7"
        restore-asking
        ~command list filterby pattern module*
        ~command list filterby pattern slowlog*
        ~command list filterby pattern *|help
        acl help
        client help
        command help
        config help
        pubsub help
        script help
        ~command list filterby aclcat keyspace
        "#,
    );
}
