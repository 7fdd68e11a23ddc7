//! Conformance: the same commands against real `redis-server` and `bigstep
//! state`; replies must be identical (parsed frames; unordered replies sorted).

mod common;

use std::time::Duration;

use common::{wait_for, Conn, Mode, Pair};
use state::resp::Frame;

#[test]
fn strings() {
    let mut p = Pair::new();
    p.script(
        r#"
        get nosuch
        set foo bar
        get foo
        set foo baz xx
        get foo
        set foo qux nx
        set new 1 nx
        set new 2 xx get
        set nx1 v nx get
        set foo bar ex 100
        ttl foo
        set foo bar px 100000
        ?pttl foo
        set foo bar keepttl
        ttl foo
        set foo bar
        ttl foo
        set foo bar ex 0
        set foo bar ex -5
        set foo bar ex abc
        set foo bar ex 10 px 100
        set foo bar nx xx
        set foo bar keepttl ex 10
        set foo bar ex
        set foo bar badopt
        set foo bar exat 99999999999
        ttl foo
        set foo bar pxat 99999999999000
        expiretime foo
        pexpiretime foo
        set foo bar ex 9223372036854775807
        setex s 100 v
        ttl s
        setex s 0 v
        setex s abc v
        psetex s 100000 v
        ?pttl s
        setnx s v
        setnx s2 v
        getset s2 w
        getset nokey w
        getdel s2
        getdel s2
        set g v
        getex g
        getex g ex 100
        ttl g
        getex g persist
        ttl g
        getex g px 0
        getex g ex 10 px 10
        getex g foo
        getex nokey ex 10
        mset a 1 b 2 c 3
        mget a b c nokey
        mset a 1 b
        msetnx a 1 z 2
        msetnx y 1 z 2
        mget y z
        append ap hello
        append ap " world"
        get ap
        strlen ap
        strlen nokey
        getrange ap 0 4
        getrange ap -5 -1
        getrange ap 5 2
        getrange ap 0 -100
        getrange ap -100 -1
        getrange ap 100 200
        getrange nokey 0 -1
        substr ap 0 3
        setrange ap 6 WORLD
        get ap
        setrange sr 5 x
        get sr
        setrange sr -1 x
        setrange ap 0 ""
        setrange empty 0 ""
        exists empty
        incr n
        incr n
        incrby n 10
        decr n
        decrby n 5
        incrby n abc
        incr ap
        set big 9223372036854775807
        incr big
        set small -9223372036854775808
        decr small
        decrby n -9223372036854775808
        set sp " 1"
        incr sp
        set lz 01
        incr lz
        incrbyfloat f 10.5
        incrbyfloat f 0.25
        incrbyfloat f -5
        incrbyfloat f 3.0e3
        incrbyfloat f abc
        incrbyfloat ap 1
        set f 5
        incrbyfloat f 1.5
        incrbyfloat f inf
        get
        set x
        getrange ap 0
        lpush lst a
        get lst
        set lst v get
        append lst x
        strlen lst
        incr lst
    "#,
    );
}

/// Counters are stored as integers (like Redis's `int` encoding); every other
/// string command must still see their digits, and long keys (stored on the
/// heap rather than inline) must behave like short ones.
#[test]
fn integer_encoded_strings() {
    let mut p = Pair::new();
    p.script(
        r#"
        incr n
        incrby n 41
        get n
        mget n nosuch n
        strlen n
        getrange n 0 0
        append n 7
        get n
        incr n
        setrange n 0 9
        get n
        incr n
        incrbyfloat n 0.5
        get n
        incr n
        decrby n 9223372036854775807
        decrby n 10
        incr n
        getset n 5
        incr n
        getdel n
        exists n
        set m 00
        incr m
        set m " 1"
        incr m
        set m 9223372036854775807
        incr m
        get m
        decr fresh
        type fresh
        copy fresh fresh2
        incr fresh2
        get fresh
        rename fresh2 fresh3
        get fresh3
        lpush fresh 1
        set fresh 1
        eval "return redis.call('incr', KEYS[1])" 1 fresh
        eval "return redis.call('get', KEYS[1])" 1 fresh
        incr this:key:is:longer:than:thirty:bytes:for:sure
        incr this:key:is:longer:than:thirty:bytes:for:sure
        get this:key:is:longer:than:thirty:bytes:for:sure
        set exactly30bytes_______________ v
        get exactly30bytes_______________
        set exactly31bytes________________ w
        get exactly31bytes________________
        ~keys exactly*
        del exactly30bytes_______________ exactly31bytes________________ this:key:is:longer:than:thirty:bytes:for:sure
        "#,
    );
}

#[test]
fn keys_and_expiry() {
    let mut p = Pair::new();
    p.script(
        r#"
        mset a 1 b 2 c 3
        del a b nokey
        exists a b c c
        type c
        type nokey
        lpush l x
        type l
        hset h f v
        type h
        sadd s m
        type s
        zadd z 1 m
        type z
        ~keys *
        ~keys ?
        ~keys [hl]
        keys nomatch*
        dbsize
        rename c c2
        get c2
        rename nokey x
        rename c2 c2
        renamenx c2 l
        renamenx c2 c3
        renamenx nokey x
        set e v
        expire e 100
        ttl e
        expire e 50 gt
        expire e 150 gt
        ttl e
        expire e 200 lt
        expire e 50 lt
        ttl e
        expire e 10 nx
        expire e 10 xx
        ttl e
        persist e
        persist e
        ttl e
        expire e 10 xx
        expire e 10 nx gt
        expire e 10 gt lt
        expire e 10 foo
        expire e abc
        expire nokey 10
        expire e 9223372036854775807
        pexpire e 100000
        ?pttl e
        expireat e 99999999999
        expiretime e
        pexpireat e 99999999999000
        pexpiretime e
        ttl nokey
        pttl nokey
        expiretime nokey
        ttl c3
        expiretime c3
        expire e -1
        exists e
        set e v
        pexpire e 0
        get e
        set e v
        expireat e 1
        get e
        set k1 v
        copy k1 k2
        get k2
        copy k1 k2
        copy k1 k2 replace
        copy k1 k1
        copy nokey k9
        copy k1 k3 db 1
        copy k1 k3 db 99
        copy k1 k3 badopt
        select 1
        get k3
        select 0
        select 16
        select -1
        select abc
        set r v
        ?randomkey
        touch r nokey
        unlink r k1 k2 nokey
        del
        flushdb
        dbsize
        randomkey
        flushdb async
        flushdb bad
        flushall
        flushall sync
        dbsize
    "#,
    );
    // SCAN: walk to completion on both, compare the sets of keys.
    for i in 0..50 {
        p.check_mode(&format!("set key:{i} v"), Mode::Exact);
    }
    p.check_mode("hset notkey f v", Mode::Exact);
    let walk = |c: &mut Conn, extra: &str| {
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let r = c.cmd(&format!("scan {cursor} {extra}"));
            let Frame::Array(v) = r else {
                panic!("scan: {r:?}")
            };
            let Frame::Bulk(cur) = &v[0] else { panic!() };
            if let Frame::Array(ks) = &v[1] {
                keys.extend(ks.iter().cloned());
            }
            cursor = String::from_utf8_lossy(cur).into_owned();
            if cursor == "0" {
                break;
            }
        }
        keys.sort_by_key(|k| format!("{k:?}"));
        keys.dedup();
        keys
    };
    for extra in [
        "",
        "count 7",
        "match key:1*",
        "type hash",
        "type string count 3",
    ] {
        let a = walk(&mut p.r, extra);
        let b = walk(&mut p.o, extra);
        assert_eq!(a, b, "scan {extra}");
    }
    p.script(
        r#"
        scan abc
        scan 0 count 0
        scan 0 count abc
        scan 0 match
        scan 0 foo bar
    "#,
    );
}

#[test]
fn expiry_is_real() {
    let mut p = Pair::new();
    p.script(
        r#"
        set a v px 50
        set b v px 50
        hset h f v
        pexpire h 50
    "#,
    );
    std::thread::sleep(Duration::from_millis(120));
    p.script(
        r#"
        get a
        exists b
        hgetall h
        dbsize
    "#,
    );
    // Active expiry: keys nobody touches still go away.
    for i in 0..30 {
        p.check_mode(&format!("set t{i} v px 30"), Mode::Exact);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let a = p.r.cmd("dbsize");
        let b = p.o.cmd("dbsize");
        if a == Frame::Integer(0) && b == Frame::Integer(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "active expiry: redis {a:?}, ours {b:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Requests pipelined in one write run in one batch, each from the clock
/// reading the one before it ended on (server::run_batch): a key that
/// expires during a slow request of the batch is gone for the next one.
#[test]
fn a_pipelined_request_sees_the_time_after_a_slow_one() {
    let p = Pair::new();
    // A script that runs for 150 ms (TIME is the real clock inside it).
    let slow = "local t = redis.call('time') \
        local t0 = t[1] * 1000000 + t[2] \
        repeat t = redis.call('time') until t[1] * 1000000 + t[2] - t0 >= 150000 \
        return 1";
    let mut req = Vec::new();
    for args in [
        vec!["set", "k", "v", "px", "50"],
        vec!["get", "k"],
        vec!["eval", slow, "0"],
        vec!["get", "k"],
        vec!["exists", "k"],
    ] {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let mut b = bytes::BytesMut::new();
        state::resp::encode_command(&args, &mut b);
        req.extend_from_slice(&b);
    }
    let (mut r, mut o) = p.conns();
    r.send_raw(&req);
    o.send_raw(&req);
    let mut got = (Vec::new(), Vec::new());
    for _ in 0..5 {
        got.0.push(r.read().expect("redis reply"));
        got.1.push(o.read().expect("our reply"));
    }
    assert_eq!(got.0, got.1, "redis-server vs bigstep state");
    assert_eq!(
        got.1[3],
        Frame::Null,
        "expired during the script: {:?}",
        got.1
    );
}

#[test]
fn hashes() {
    let mut p = Pair::new();
    p.script(
        r#"
        # Fields up to 30 bytes are stored inline, longer ones on the heap.
        hset long field:exactly:30:bytes:long:xx a field:thirty-one:bytes:long:xxx b
        hget long field:exactly:30:bytes:long:xx
        hget long field:thirty-one:bytes:long:xxx
        %hgetall long
        hdel long field:thirty-one:bytes:long:xxx
        ~hkeys long
        hset h a 1 b 2
        hset h a 3 c 4
        hset h a
        hget h a
        hget h nof
        hget nokey a
        hmget h a b nof
        hmget nokey a
        %hgetall h
        hgetall nokey
        hlen h
        hlen nokey
        ~hkeys h
        ~hvals h
        hexists h a
        hexists h z
        hstrlen h a
        hsetnx h a 9
        hsetnx h z 9
        hmset h x 1 y 2
        hmset h x
        hdel h x y nof
        hdel h a b c z
        exists h
        hincrby hi f 5
        hincrby hi f -10
        hincrby hi f abc
        hset hi s str
        hincrby hi s 1
        hset hi big 9223372036854775807
        hincrby hi big 1
        hincrbyfloat hi fl 1.5
        hincrbyfloat hi fl 0.25
        hincrbyfloat hi s 1
        hincrbyfloat hi fl abc
        set str v
        hget str a
        hset str a b
        hgetall str
        hscan nokey 0
        hdel nokey a
        # A value rewritten in place (same length) while EXEC still holds
        # the reply that read it, then with other lengths and repeated fields.
        hset ow f aaaa g x
        multi
        hget ow f
        hset ow f bbbb
        hget ow f
        hset ow f cc g yyyyyy f dddd
        hmget ow f g
        exec
        hset ow f eeee f ffff
        hmget ow f g
        hlen ow
    "#,
    );
    for i in 0..20 {
        p.check_mode(&format!("hset big f{i} v{i}"), Mode::Exact);
    }
    let a = p.r.cmd("hscan big 0 count 100");
    let b = p.o.cmd("hscan big 0 count 100");
    let pick = |f: Frame| match f {
        Frame::Array(v) => common::sorted_pairs(v[1].clone()),
        o => o,
    };
    assert_eq!(pick(a), pick(b));
}

#[test]
fn sets() {
    let mut p = Pair::new();
    p.script(
        r#"
        sadd s a b c
        sadd s a d
        scard s
        scard nokey
        ~smembers s
        smembers nokey
        sismember s a
        sismember s z
        smismember s a z b
        srem s a z
        srem nokey a
        sadd t c d e
        ~sinter s t
        ~sunion s t
        ~sdiff s t
        ~sdiff t s
        sinter s nokey
        ~sunion s nokey
        sinterstore dst s t
        ~smembers dst
        sunionstore dst s t
        sdiffstore dst s t
        sinterstore dst s nokey
        exists dst
        smove s t b
        smove s t nosuch
        smove nokey t a
        ~smembers t
        set str v
        sadd str a
        smembers str
        sinter s str
        smove s str c
        spop nokey
        spop nokey 3
        spop s -1
        srandmember nokey
        srandmember nokey 5
        sadd one x
        spop one
        exists one
        sadd one x
        srandmember one
        srandmember one 3
        srandmember one -3
        srandmember one 0
        spop one 0
        spop one 5
        exists one
        sscan nokey 0
        sadd two a b
        ?srandmember two 2
        ?spop two 5
        spop s 1 2
    "#,
    );
}

#[test]
fn sorted_sets() {
    let mut p = Pair::new();
    p.script(
        r#"
        zadd z 1 a 2 b 3 c
        zadd z 1.5 a
        zadd z ch 1 a 5 d
        zadd z nx 10 a 6 e
        zadd z xx 11 a 7 f
        zadd z gt 1 a
        zadd z gt ch 20 a
        zadd z lt ch 1 a
        zadd z incr 2 a
        zadd z nx incr 2 a
        zadd z xx nx 1 a
        zadd z gt lt 1 a
        zadd z gt nx 1 a
        zadd z incr 1 a 2 b
        zadd z 1
        zadd z abc a
        zadd z nan a
        zadd z inf inf -inf ninf
        zscore z a
        zscore z inf
        zscore z nosuch
        zscore nokey a
        zmscore z a nosuch b
        zincrby z 1.1 b
        zincrby z 1 newm
        zincrby z abc b
        zcard z
        zcard nokey
        zrange z 0 -1
        zrange z 0 -1 withscores
        zrange z 1 2
        zrange z -2 -1
        zrange z 5 1
        zrange z 0 -1 rev
        zrange z 0 -1 rev withscores
        zrange z 1 3 byscore
        zrange z (1 3 byscore withscores
        zrange z -inf +inf byscore limit 1 2
        zrange z 3 1 byscore rev
        zrange z +inf -inf byscore rev limit 0 2 withscores
        zrange z 0 -1 limit 0 1
        zrange z a b byscore
        zrange z a b
        zrange z 0 -1 foo
        zrangebyscore z 1 3
        zrangebyscore z (1 (3 withscores
        zrangebyscore z -inf +inf limit 2 3
        zrangebyscore z -inf +inf limit 0 -1
        zrevrangebyscore z 3 1
        zrevrangebyscore z +inf -inf withscores limit 1 1
        zrevrange z 0 1
        zrevrange z 0 1 withscores
        zcount z 1 3
        zcount z (1 +inf
        zcount z x y
        zrank z b
        zrank z nosuch
        zrevrank z b
        zrank nokey a
        zrem z ninf inf nosuch
        zrem nokey a
        zpopmin z
        zpopmax z
        zpopmin z 2
        zpopmax z 0
        zpopmin z -1
        zpopmin nokey
        zadd lex 0 a 0 b 0 c 0 d
        zrangebylex lex - +
        zrangebylex lex [b (d
        zrangebylex lex (a [c limit 1 1
        zrange lex [b + bylex
        zrange lex + - bylex rev
        zrange lex - + bylex withscores
        zrangebylex lex a b
        zremrangebyscore z 1 2
        zremrangebyrank z 0 0
        zrange z 0 -1 withscores
        zremrangebyrank nokey 0 1
        set str v
        zadd str 1 a
        zrange str 0 1
        zscore str a
        zscan nokey 0
        zadd small 1.5 a 2 b
        zscan small 0
        zadd small 0.1 c
        zrange small 0 -1 withscores
        zadd neg -0 zero
        zscore neg zero
    "#,
    );
}

#[test]
fn lists() {
    let mut p = Pair::new();
    p.script(
        r#"
        lpush l a b c
        rpush l d e
        lrange l 0 -1
        llen l
        llen nokey
        lpushx nokey a
        rpushx nokey a
        lpushx l z
        rpushx l y
        lrange l 0 -1
        lrange l -3 -2
        lrange l 5 1
        lrange l 0 100
        lrange nokey 0 -1
        lindex l 0
        lindex l -1
        lindex l 100
        lindex nokey 0
        lindex l abc
        lset l 0 Z
        lset l 100 x
        lset nokey 0 x
        lpop l
        rpop l
        lpop l 2
        rpop l 0
        lpop l -1
        lpop nokey
        lpop nokey 2
        lpop l 1 2
        rpush r a b a c a
        lrem r 2 a
        lrange r 0 -1
        rpush r a a
        lrem r -1 a
        lrange r 0 -1
        lrem r 0 a
        lrange r 0 -1
        lrem nokey 0 a
        rpush t 1 2 3 4 5
        ltrim t 1 -2
        lrange t 0 -1
        ltrim t 5 10
        exists t
        ltrim nokey 0 1
        rpush ins a c
        linsert ins before c b
        linsert ins after c d
        linsert ins before zz x
        linsert ins middle c x
        linsert nokey before a b
        lrange ins 0 -1
        rpush src 1 2 3
        lmove src dst left right
        lmove src dst right left
        lmove src dst up down
        lrange src 0 -1
        lrange dst 0 -1
        rpoplpush src dst
        rpoplpush src dst
        exists src
        rpoplpush nokey dst
        lmove dst dst left right
        lrange dst 0 -1
        set str v
        lpush str a
        lrange str 0 1
        lmove dst str left left
        lmove str dst left left
        blpop nokey 0.01
        blpop str 0.01
        blpop dst 0
        brpop dst nokey 0
        blpop dst abc
        blpop dst -1
        blmove dst d2 left left 0
        brpoplpush dst d2 0.01
        blmove nokey d2 left left 0.01
        brpoplpush nokey d2 0.01
        lpush one x
        lpop one
        exists one
        rpush p a b c 1 2 3 c c
        lpos p c
        lpos p c rank 2
        lpos p c rank -1
        lpos p c rank -2
        lpos p c count 0
        lpos p c count 2
        lpos p c count 0 rank -1
        lpos p c count 0 maxlen 3
        lpos p c rank -1 maxlen 2
        lpos p nosuch
        lpos p nosuch count 0
        lpos nokey a
        lpos nokey a count 0
        lpos p c rank 0
        lpos p c count -1
        lpos p c maxlen -1
        lpos p c foo 1
        lpos p c rank
        lpos p c rank x
        lpos str a
    "#,
    );
}

/// Polls INFO until `n` clients are blocked (no sleeps guessing at ordering).
fn wait_blocked(c: &mut Conn, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let Frame::Bulk(info) = c.cmd("info clients") else {
            panic!("info")
        };
        if String::from_utf8_lossy(&info).contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} clients never blocked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn blocking_wakeup_order() {
    let p = Pair::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut c1 = Conn::connect(addr);
        let mut c2 = Conn::connect(addr);
        let mut c3 = Conn::connect(addr);
        let mut pusher = Conn::connect(addr);
        c1.send_raw(b"BLPOP q1 q2 0\r\n");
        wait_blocked(&mut pusher, 1);
        c2.send_raw(b"BRPOP q2 0\r\n");
        wait_blocked(&mut pusher, 2);
        c3.send_raw(b"BLMOVE q2 dst LEFT RIGHT 0\r\n");
        wait_blocked(&mut pusher, 3);
        assert_eq!(pusher.cmd("rpush q2 a b c"), Frame::Integer(3));
        assert_eq!(
            c1.read(),
            Some(Frame::Array(vec![
                Frame::Bulk("q2".into()),
                Frame::Bulk("a".into())
            ]))
        );
        assert_eq!(
            c2.read(),
            Some(Frame::Array(vec![
                Frame::Bulk("q2".into()),
                Frame::Bulk("c".into())
            ]))
        );
        assert_eq!(c3.read(), Some(Frame::Bulk("b".into())));
        assert_eq!(
            pusher.cmd("lrange dst 0 -1"),
            Frame::Array(vec![Frame::Bulk("b".into())])
        );
        // Timeout returns a null array.
        assert_eq!(c1.cmd("blpop empty 0.05"), Frame::Null);
        assert_eq!(c1.cmd("blmove empty x left left 0.05"), Frame::Null);
        // A push inside MULTI wakes the waiter only after EXEC.
        c2.send_raw(b"BLPOP mq 0\r\n");
        wait_blocked(&mut pusher, 1);
        assert_eq!(pusher.cmd("multi"), Frame::Simple("OK".into()));
        assert_eq!(pusher.cmd("rpush mq 1"), Frame::Simple("QUEUED".into()));
        assert_eq!(pusher.cmd("rpush mq 2"), Frame::Simple("QUEUED".into()));
        assert_eq!(
            pusher.cmd("exec"),
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
        );
        assert_eq!(
            c2.read(),
            Some(Frame::Array(vec![
                Frame::Bulk("mq".into()),
                Frame::Bulk("1".into())
            ]))
        );
        assert_eq!(
            pusher.cmd("lrange mq 0 -1"),
            Frame::Array(vec![Frame::Bulk("2".into())])
        );
        // BLPOP inside MULTI does not block.
        pusher.cmd("multi");
        pusher.cmd("blpop nothing 0");
        assert_eq!(pusher.cmd("exec"), Frame::Array(vec![Frame::Null]));
        pusher.cmd("flushall");
    }
}

#[test]
fn transactions() {
    let mut p = Pair::new();
    p.script(
        r#"
        multi
        set a 1
        incr a
        lpush a x
        get a
        exec
        exec
        discard
        multi
        multi
        set a 2
        discard
        get a
        multi
        set a 3
        nosuchcommand
        exec
        get a
        multi
        get
        exec
        watch a
        multi
        watch b
        discard
        unwatch
    "#,
    );
    // WATCH: a change from another client aborts EXEC.
    let (mut r2, mut o2) = p.conns();
    p.script("watch w\nmulti\nset w mine");
    r2.cmd("set w theirs");
    o2.cmd("set w theirs");
    p.script("exec\nget w");
    // An unrelated change does not.
    p.script("watch w\nmulti\nset w mine");
    r2.cmd("set other x");
    o2.cmd("set other x");
    p.script("exec\nget w");
    // Touching the key without changing type still counts; so does DEL and EXPIRE.
    for cmd in ["del w", "expire w 100", "append w x", "flushall"] {
        p.script("set w v\nwatch w\nmulti\nping");
        r2.cmd(cmd);
        o2.cmd(cmd);
        p.check_mode("exec", Mode::Exact);
    }
    // A key that expires after WATCH aborts. The TTL leaves a loaded machine a
    // second to reach WATCH; then each server's own clock (TIME, from another
    // connection: reading `w` there would delete it, a different path) must pass
    // the key's expiry time before EXEC.
    p.script("set w v px 1000\nwatch w\nmulti\nping");
    for c in [&mut r2, &mut o2] {
        let Frame::Integer(expires_at) = c.cmd("pexpiretime w") else {
            panic!("PEXPIRETIME")
        };
        wait_for(
            "the watched key's expiry time",
            Duration::from_secs(20),
            || server_time_ms(c) > expires_at,
        );
    }
    p.check_mode("exec", Mode::Exact);
}

/// The server's clock (TIME) in milliseconds.
fn server_time_ms(c: &mut Conn) -> i64 {
    let Frame::Array(t) = c.cmd("time") else {
        panic!("TIME")
    };
    let part = |f: &Frame| match f {
        Frame::Bulk(b) => std::str::from_utf8(b)
            .expect("digits")
            .parse::<i64>()
            .expect("number"),
        other => panic!("TIME part {other:?}"),
    };
    part(&t[0]) * 1000 + part(&t[1]) / 1000
}

#[test]
fn pubsub() {
    let p = Pair::new();
    for (i, addr) in [p.redis.addr, p.ours.addr].into_iter().enumerate() {
        let who = if i == 0 { "redis" } else { "ours" };
        let mut sub = Conn::connect(addr);
        let mut publ = Conn::connect(addr);
        assert_eq!(
            sub.cmd("subscribe ch1 ch2"),
            Frame::Array(vec![
                Frame::Bulk("subscribe".into()),
                Frame::Bulk("ch1".into()),
                Frame::Integer(1)
            ]),
            "{who}"
        );
        assert_eq!(
            sub.read(),
            Some(Frame::Array(vec![
                Frame::Bulk("subscribe".into()),
                Frame::Bulk("ch2".into()),
                Frame::Integer(2)
            ]))
        );
        assert_eq!(
            sub.cmd("psubscribe ch*"),
            Frame::Array(vec![
                Frame::Bulk("psubscribe".into()),
                Frame::Bulk("ch*".into()),
                Frame::Integer(3)
            ])
        );
        assert_eq!(publ.cmd("publish ch1 hello"), Frame::Integer(2), "{who}");
        assert_eq!(
            sub.read(),
            Some(Frame::Array(vec![
                Frame::Bulk("message".into()),
                Frame::Bulk("ch1".into()),
                Frame::Bulk("hello".into())
            ]))
        );
        assert_eq!(
            sub.read(),
            Some(Frame::Array(vec![
                Frame::Bulk("pmessage".into()),
                Frame::Bulk("ch*".into()),
                Frame::Bulk("ch1".into()),
                Frame::Bulk("hello".into())
            ]))
        );
        assert_eq!(
            sub.cmd("get x"),
            Frame::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into()),
            "{who}"
        );
        assert_eq!(
            sub.cmd("ping"),
            Frame::Array(vec![Frame::Bulk("pong".into()), Frame::Bulk("".into())])
        );
        assert_eq!(
            publ.cmd("pubsub numsub ch1 nochan"),
            Frame::Array(vec![
                Frame::Bulk("ch1".into()),
                Frame::Integer(1),
                Frame::Bulk("nochan".into()),
                Frame::Integer(0)
            ])
        );
        assert_eq!(publ.cmd("pubsub numpat"), Frame::Integer(1));
        assert_eq!(
            common::sorted(publ.cmd("pubsub channels")),
            Frame::Array(vec![Frame::Bulk("ch1".into()), Frame::Bulk("ch2".into())])
        );
        assert_eq!(
            publ.cmd("pubsub channels ch2*"),
            Frame::Array(vec![Frame::Bulk("ch2".into())])
        );
        assert_eq!(
            sub.cmd("unsubscribe ch1"),
            Frame::Array(vec![
                Frame::Bulk("unsubscribe".into()),
                Frame::Bulk("ch1".into()),
                Frame::Integer(2)
            ])
        );
        assert_eq!(
            sub.cmd("punsubscribe"),
            Frame::Array(vec![
                Frame::Bulk("punsubscribe".into()),
                Frame::Bulk("ch*".into()),
                Frame::Integer(1)
            ])
        );
        assert_eq!(
            sub.cmd("unsubscribe"),
            Frame::Array(vec![
                Frame::Bulk("unsubscribe".into()),
                Frame::Bulk("ch2".into()),
                Frame::Integer(0)
            ])
        );
        assert_eq!(
            sub.cmd("unsubscribe"),
            Frame::Array(vec![
                Frame::Bulk("unsubscribe".into()),
                Frame::Null,
                Frame::Integer(0)
            ])
        );
        assert_eq!(sub.cmd("set x 1"), Frame::Simple("OK".into()));
        // RESP3: pushes, and commands still work while subscribed.
        let mut s3 = Conn::connect(addr);
        assert!(matches!(s3.cmd("hello 3"), Frame::Map(_)));
        assert_eq!(
            s3.cmd("subscribe c3"),
            Frame::Push(vec![
                Frame::Bulk("subscribe".into()),
                Frame::Bulk("c3".into()),
                Frame::Integer(1)
            ])
        );
        assert_eq!(s3.cmd("get x"), Frame::Bulk("1".into()), "{who}");
        publ.cmd("publish c3 m");
        assert_eq!(
            s3.read(),
            Some(Frame::Push(vec![
                Frame::Bulk("message".into()),
                Frame::Bulk("c3".into()),
                Frame::Bulk("m".into())
            ]))
        );
        publ.cmd("flushall");
    }
}

/// Sharded pub/sub (Redis 7.0): SSUBSCRIBE channels are a namespace of their
/// own, counted on their own; SPUBLISH reaches only them, PUBLISH never does.
/// The same transcript from both servers must be identical.
#[test]
fn sharded_pubsub() {
    let p = Pair::new();
    let story = |addr| {
        let mut out = Vec::new();
        let mut sub = Conn::connect(addr);
        let mut publ = Conn::connect(addr);
        out.push(sub.cmd("ssubscribe sh1 sh2"));
        out.push(sub.read().expect("a push"));
        out.push(sub.cmd("subscribe sh1"));
        out.push(sub.cmd("get x"));
        out.push(publ.cmd("spublish sh1 hello"));
        out.push(sub.read().expect("a push"));
        out.push(publ.cmd("publish sh2 plain"));
        out.push(publ.cmd("publish sh1 plain"));
        out.push(sub.read().expect("a push"));
        out.push(publ.cmd("spublish nobody m"));
        out.push(common::sorted(publ.cmd("pubsub shardchannels")));
        out.push(publ.cmd("pubsub shardchannels sh2*"));
        out.push(publ.cmd("pubsub shardnumsub sh1 sh2 none"));
        out.push(publ.cmd("pubsub numsub sh1 sh2"));
        out.push(publ.cmd("pubsub channels"));
        out.push(sub.cmd("sunsubscribe sh1"));
        out.push(publ.cmd("spublish sh1 gone"));
        out.push(sub.cmd("unsubscribe"));
        out.push(sub.cmd("sunsubscribe"));
        out.push(sub.cmd("sunsubscribe"));
        out.push(sub.cmd("set x 1"));
        // A subscriber that disconnects is no longer counted.
        let mut gone = Conn::connect(addr);
        out.push(gone.cmd("ssubscribe sh9"));
        drop(gone);
        wait_for(
            "the closed subscriber to go",
            Duration::from_secs(5),
            || {
                publ.cmd("pubsub shardnumsub sh9")
                    == Frame::Array(vec![Frame::Bulk("sh9".into()), Frame::Integer(0)])
            },
        );
        // RESP3: smessage pushes; commands still run while subscribed.
        let mut s3 = Conn::connect(addr);
        s3.cmd("hello 3");
        out.push(s3.cmd("ssubscribe c3"));
        out.push(s3.cmd("get x"));
        out.push(publ.cmd("spublish c3 m"));
        out.push(s3.read().expect("a push"));
        out.push(publ.cmd("flushall"));
        out
    };
    let theirs = story(p.redis.addr);
    let ours = story(p.ours.addr);
    for (i, (t, o)) in theirs.iter().zip(&ours).enumerate() {
        assert_eq!(t, o, "step {i}: redis-server vs ours");
    }
    assert_eq!(theirs.len(), ours.len());
}

#[test]
fn keyspace_notifications() {
    let p = Pair::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut admin = Conn::connect(addr);
        assert_eq!(
            admin.cmd("config set notify-keyspace-events KEA"),
            Frame::Simple("OK".into())
        );
        assert_eq!(
            admin.cmd("config get notify-keyspace-events"),
            Frame::Array(vec![
                Frame::Bulk("notify-keyspace-events".into()),
                Frame::Bulk("AKE".into())
            ])
        );
        let mut sub = Conn::connect(addr);
        sub.cmd("psubscribe __key*__:*");
        let script = [
            "set k v",
            "expire k 100",
            "persist k",
            "append k x",
            "incr n",
            "del k n",
            "lpush l a",
            "rpop l",
            "hset h f v",
            "hdel h f",
            "sadd s a",
            "zadd z 1 a",
            "rename z z2",
            "set e v px 20",
        ];
        for c in script {
            admin.cmd(c);
        }
        std::thread::sleep(Duration::from_millis(100));
        admin.cmd("get e");
        let mut events = Vec::new();
        while let Some(f) = sub.try_read(Duration::from_millis(300)) {
            events.push(f);
        }
        let text: Vec<String> = events
            .iter()
            .map(|f| match f {
                Frame::Array(v) => format!("{:?} {:?}", v[2], v[3]),
                o => format!("{o:?}"),
            })
            .collect();
        let expected = [
            "set",
            "expire",
            "persist",
            "append",
            "incrby",
            "del",
            "del",
            "lpush",
            "rpop",
            "del",
            "hset",
            "hdel",
            "del",
            "sadd",
            "zadd",
            "rename_from",
            "rename_to",
            "set",
            "expire",
            "expired",
        ];
        let events_seen: Vec<&str> = text
            .iter()
            .filter(|t| t.contains("__keyevent@0__"))
            .map(|t| {
                let s = t.split("__keyevent@0__:").nth(1).unwrap_or("");
                s.split('"').next().unwrap_or("")
            })
            .collect();
        assert_eq!(events_seen, expected, "events on {addr}: {text:#?}");
        assert_eq!(
            text.iter().filter(|t| t.contains("__keyspace@0__")).count(),
            expected.len()
        );
    }
}

#[test]
fn connection_and_server() {
    let mut p = Pair::new();
    p.script(
        r#"
        ping
        ping hello
        ping a b
        echo hi
        echo
        nosuchcmd a b
        nosuchcmd
        NoSuchCmd "with space" x
        client nosuch
        client
        client setname myname
        client getname
        client setname "bad name"
        client setname ""
        client getname
        ?client id
        ?client list
        ?client info
        client kill 1.2.3.4:5
        client kill id 999999
        role
        role extra
        select 3
        set k v
        select 0
        get k
        dbsize
        ?time
        readonly
        config get maxmemory
        config get maxmemory-policy
        config set maxmemory-policy allkeys-lru
        config get maxmemory-policy
        config set maxmemory-policy noeviction
        config set maxmemory-policy bogus
        config set nosuchparam 1
        config get nosuchparam
        config set notify-keyspace-events Egx
        config get notify-keyspace-events
        config set notify-keyspace-events ""
        config get appendfsync
        config set appendfsync everysec
        config get
        auth foo
        auth default foo
        auth a b c
        hello 4
        hello abc
        ?hello 2
        ?hello 2 auth default wrong
        hello 2 setname "a b"
        hello 2 foo
        ?command count
        ?command info get
        ?command docs get
        info nosuchsection
        quit
    "#,
    );
    p.o = Conn::connect(p.ours.addr);
    let a = p.o.cmd("info server");
    let Frame::Bulk(b) = a else { panic!("{a:?}") };
    let text = String::from_utf8_lossy(&b);
    assert!(text.contains("redis_version:7.2"), "{text}");
    let a = p.o.cmd("info");
    let Frame::Bulk(b) = a else { panic!() };
    let text = String::from_utf8_lossy(&b);
    for s in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Keyspace",
    ] {
        assert!(text.contains(s), "{s} missing");
    }
}

#[test]
fn resp3() {
    let mut p = Pair::new();
    p.script(
        r#"
        ?hello 3
        hset h a 1
        hgetall h
        hgetall nokey
        sadd s x
        smembers s
        zadd z 1.5 a 2 b
        zscore z a
        zrange z 0 -1 withscores
        zpopmin z
        zadd z 1.5 a
        zpopmin z 2
        zmscore z a b
        zincrby z 1 b
        get nokey
        mget nokey
        lpop nokey 2
        blpop nokey 0.01
        config get maxmemory
        exists s
        zrangebyscore z -inf +inf withscores
    "#,
    );
    // Protocol switch back.
    p.script("?hello 2\nhgetall h\nzscore z b");
}

#[test]
fn auth_required() {
    let cfg = state::Config {
        requirepass: Some("sekret".into()),
        ..Default::default()
    };
    let mut p = Pair::with(&["--requirepass", "sekret"], cfg);
    p.script(
        r#"
        get a
        set a b
        nosuchcmd
        ping
        hello 3
        auth wrong
        auth default wrong
        auth sekret
        set a b
        get a
        ?hello 2 auth default sekret
        reset
        get a
        auth default sekret
        get a
    "#,
    );
    // MULTI with a command rejected by NOAUTH.
    let (mut r2, mut o2) = p.conns();
    for c in [&mut r2, &mut o2] {
        assert!(matches!(c.cmd("multi"), Frame::Error(_)));
    }
}

#[test]
fn scripting() {
    let mut p = Pair::new();
    p.script(
        r#"
        eval "return 1" 0
        eval "return 'x'" 0
        eval "return {1, 'a', {2}}" 0
        eval "return nil" 0
        eval "return true" 0
        eval "return false" 0
        eval "return 3.99" 0
        eval "return {1, nil, 3}" 0
        eval "return redis.status_reply('FINE')" 0
        eval "return redis.error_reply('MYERR bad')" 0
        eval "return {err='ERR x'}" 0
        eval "return redis.call('set', KEYS[1], ARGV[1])" 1 k v
        eval "return redis.call('get', KEYS[1])" 1 k
        eval "return redis.call('get', 'nokey')" 0
        eval "return redis.call('incr', 'n')" 0
        eval "return redis.call('hgetall', 'nokey')" 0
        eval "return redis.sha1hex('')" 0
        eval "return KEYS[1] .. ARGV[1]" 1 a b
        eval "return #KEYS + #ARGV" 2 a b c
        eval "return redis.pcall('incr', 'k')" 0
        !eval "return redis.call('incr', 'k')" 0
        !eval "return redis.call('nosuch')" 0
        !eval "return x" 0
        !eval "syntax error here" 0
        eval "return 1" -1
        eval "return 1" 5 a
        eval "return 1" abc
        script load "return 'loaded'"
        evalsha 0bf5f7e0a5a5b8e6e6ae0bbdfefc3a0e0e4ff4d2 0
        script exists 0bf5f7e0a5a5b8e6e6ae0bbdfefc3a0e0e4ff4d2 nosuch
        script flush
        script exists 0bf5f7e0a5a5b8e6e6ae0bbdfefc3a0e0e4ff4d2
        !evalsha 0bf5f7e0a5a5b8e6e6ae0bbdfefc3a0e0e4ff4d2 0
        !evalsha nosuch 0
        set lock tok
        eval "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end" 1 lock tok
        exists lock
        eval "redis.call('rpush', 'q', 'a'); return redis.call('lrange', 'q', 0, -1)" 0
        !eval "return redis.call('blpop', 'q', 0)" 0
        eval "return redis.call('zscore', 'nokey', 'a')" 0
        zadd z 1.5 a
        eval "return redis.call('zscore', 'z', 'a')" 0
        eval "return redis.call('ping')" 0
        eval "return {redis.call('type', 'z')}" 0
    "#,
    );
    let sha = p.check_mode("script load \"return 'loaded'\"", Mode::Exact);
    let Frame::Bulk(sha) = sha else { panic!() };
    let sha = String::from_utf8_lossy(&sha).into_owned();
    p.check_mode(&format!("evalsha {sha} 0"), Mode::Exact);
    p.check_mode(&format!("evalsha {} 0", sha.to_uppercase()), Mode::Exact);
}

#[test]
fn protocol_edges() {
    let p = Pair::new();
    for addr in [p.redis.addr, p.ours.addr] {
        // Pipelining, inline commands, empty lines.
        let mut c = Conn::connect(addr);
        c.send_raw(b"set a 1\r\n\r\nincr a\r\n*2\r\n$3\r\nget\r\n$1\r\na\r\nPING\n");
        assert_eq!(c.read(), Some(Frame::Simple("OK".into())));
        assert_eq!(c.read(), Some(Frame::Integer(2)));
        assert_eq!(c.read(), Some(Frame::Bulk("2".into())));
        assert_eq!(c.read(), Some(Frame::Simple("PONG".into())));
        // Quotes in inline commands.
        c.send_raw(b"set q \"a\\x41 b\"\r\nget q\r\n");
        assert_eq!(c.read(), Some(Frame::Simple("OK".into())));
        assert_eq!(c.read(), Some(Frame::Bulk("aA b".into())));
        // Byte-by-byte delivery.
        for b in b"*1\r\n$4\r\nPING\r\n" {
            c.send_raw(&[*b]);
        }
        assert_eq!(c.read(), Some(Frame::Simple("PONG".into())));
        // Protocol errors close the connection.
        for bad in [
            &b"*2\r\n:1\r\n"[..],
            b"*abc\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$abc\r\n",
            b"*1\r\n$2147483648000\r\n",
            b"set \"unbalanced\r\n",
        ] {
            let mut c = Conn::connect(addr);
            c.send_raw(bad);
            let f = c.read();
            assert!(
                matches!(&f, Some(Frame::Error(e)) if e.starts_with("ERR Protocol error")),
                "{addr} {bad:?}: {f:?}"
            );
            assert_eq!(c.read(), None, "connection closed after protocol error");
        }
        // Unbalanced quotes error text must match.
        let mut c1 = Conn::connect(addr);
        c1.send_raw(b"set \"unbalanced\r\n");
        assert_eq!(
            c1.read(),
            Some(Frame::Error(
                "ERR Protocol error: unbalanced quotes in request".into()
            ))
        );
        let mut c2 = Conn::connect(addr);
        c2.send_raw(b"*2\r\n:1\r\n");
        assert_eq!(
            c2.read(),
            Some(Frame::Error(
                "ERR Protocol error: expected '$', got ':'".into()
            ))
        );
        // Others are unaffected.
        let mut ok = Conn::connect(addr);
        assert_eq!(ok.cmd("get a"), Frame::Bulk("2".into()));
        ok.cmd("flushall");
    }
}

#[test]
fn scan_survives_deletes() {
    // Keys present for the whole scan must all be returned, even when other keys
    // are deleted between SCAN calls.
    let srv = common::start_ours(state::Config::default());
    let mut c = Conn::connect(srv.addr);
    for i in 0..200 {
        c.cmd(&format!("set keep:{i} v"));
        c.cmd(&format!("set drop:{i} v"));
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut dropped = 0;
    loop {
        let Frame::Array(v) = c.cmd(&format!("scan {cursor} count 15")) else {
            panic!()
        };
        let Frame::Bulk(cur) = &v[0] else { panic!() };
        if let Frame::Array(ks) = &v[1] {
            for k in ks {
                if let Frame::Bulk(k) = k {
                    seen.insert(String::from_utf8_lossy(k).into_owned());
                }
            }
        }
        for _ in 0..7 {
            if dropped < 200 {
                c.cmd(&format!("del drop:{dropped}"));
                dropped += 1;
            }
        }
        cursor = String::from_utf8_lossy(cur).into_owned();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..200 {
        assert!(
            seen.contains(&format!("keep:{i}")),
            "keep:{i} missed by SCAN"
        );
    }
}

/// Spring Session's indexed repository (Java; no Maven registry here to run
/// the library itself): the commands it sends, in its order, from
/// `RedisIndexedSessionRepository` and `ConfigureNotifyKeyspaceEventsAction`.
/// Its session-expired events rest on `__keyevent@*__:expired` for the
/// `…:sessions:expires:<id>` key, so both servers must publish the same events.
#[test]
fn spring_session_command_sequence() {
    let mut p = Pair::new();
    let (mut sub_r, mut sub_o) = p.conns();
    // One PSUBSCRIBE per pattern, as Lettuce sends them.
    for sub in [&mut sub_r, &mut sub_o] {
        sub.cmd("psubscribe __keyevent@*__:del");
        sub.cmd("psubscribe __keyevent@*__:expired");
        sub.cmd("psubscribe spring:session:event:0:created:*");
    }
    let id = "2c8e8bd4-6a4b-4c77-9d4f-0d5b8b1f2a10";
    p.script(&format!(
        r#"
        config get notify-keyspace-events
        config set notify-keyspace-events Egx
        # save a new session
        hmset spring:session:sessions:{id} creationTime 1764230400000 maxInactiveInterval 1800 lastAccessedTime 1764230400000 sessionAttr:user alice
        publish spring:session:event:0:created:{id} created
        sadd spring:session:expirations:1764232200000 expires:{id}
        pexpire spring:session:expirations:1764232200000 2100000
        append spring:session:sessions:expires:{id} ""
        pexpire spring:session:sessions:expires:{id} 1500
        pexpire spring:session:sessions:{id} 2100000
        # read it back, change an attribute
        %hgetall spring:session:sessions:{id}
        hmset spring:session:sessions:{id} lastAccessedTime 1764230460000 sessionAttr:cart 3
        hget spring:session:sessions:{id} sessionAttr:user
        # change the session id (login)
        rename spring:session:sessions:{id} spring:session:sessions:new-{id}
        rename spring:session:sessions:expires:{id} spring:session:sessions:expires:new-{id}
        exists spring:session:sessions:new-{id}
        "#
    ));
    // Let the short-lived `expires` key lapse, and make each server notice it with
    // an explicit read (PTTL expires a due key on access). When a key with a TTL
    // expires by itself, relative to the next command, is up to each server's
    // expiry cycle; reading it first makes the order of the `expired` and `del`
    // events the same on both, so the comparison below checks behaviour, not luck.
    // (The TTL is 1.5 s, not Spring's real value, so the renames above certainly
    // run before it lapses even on a loaded machine.)
    let expires_key = format!("pttl spring:session:sessions:expires:new-{id}");
    for c in [&mut p.r, &mut p.o] {
        wait_for("the expires key to lapse", Duration::from_secs(20), || {
            c.cmd(&expires_key) == Frame::Integer(-2)
        });
    }
    // The cleanup task: expire what is due by touching it.
    p.script(&format!(
        r#"
        smembers spring:session:expirations:1764232200000
        del spring:session:expirations:1764232200000
        exists spring:session:sessions:expires:new-{id}
        hget spring:session:sessions:new-{id} sessionAttr:user
        del spring:session:sessions:new-{id}
        "#
    ));
    // Four events reach each subscriber: created, expired, and two dels. Wait for
    // them, then for a quiet moment so an extra event on one side shows too.
    let drain = |c: &mut Conn| {
        let mut out = Vec::new();
        while out.len() < 4 {
            match c.try_read(Duration::from_secs(10)) {
                Some(f) => out.push(f),
                None => break,
            }
        }
        while let Some(f) = c.try_read(Duration::from_millis(100)) {
            out.push(f);
        }
        out
    };
    let (theirs, ours) = (drain(&mut sub_r), drain(&mut sub_o));
    assert_eq!(theirs, ours, "pub/sub traffic differs");
    let text = format!("{ours:?}");
    for want in [
        "__keyevent@0__:expired",
        &format!("spring:session:sessions:expires:new-{id}"),
        &format!("spring:session:event:0:created:{id}"),
        "__keyevent@0__:del",
    ] {
        assert!(text.contains(want), "missing {want} in {text}");
    }
}

/// SHUTDOWN's refusals, as Redis 7.0 words them (neither server stops here).
#[test]
fn shutdown_refusals() {
    let mut p = Pair::new();
    p.script(
        r#"
        set k v
        shutdown foo
        shutdown abort
        shutdown abort now
        shutdown nosave save
        shutdown save abort
        multi
        shutdown
        set k w
        exec
        get k
        eval "redis.call('shutdown')" 0
        get k
        "#,
    );
}

/// Without a data directory there is nowhere to save: SHUTDOWN SAVE is refused
/// (the server keeps serving); SHUTDOWN SAVE FORCE stops it anyway.
#[test]
fn shutdown_without_a_directory() {
    let ours = common::start_ours(state::Config::default());
    let mut c = Conn::connect(ours.addr);
    assert_eq!(
        c.cmd("shutdown save"),
        Frame::Error("ERR Errors trying to SHUTDOWN. Check logs.".into())
    );
    assert_eq!(c.cmd("ping"), Frame::Simple("PONG".into()));
    c.send_raw(b"SHUTDOWN SAVE FORCE\r\n");
    assert_eq!(c.read(), None, "no reply: the connection closes");
    wait_for("the port to close", Duration::from_secs(10), || {
        std::net::TcpStream::connect(ours.addr).is_err()
    });
}

/// Waits until `c` is answered BUSY (a script on another connection has run
/// past busy-reply-threshold) and returns that reply. Before then the probe
/// waits, on both servers, as any command behind a running script does.
fn wait_busy(c: &mut Conn) -> Frame {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.cmd("get busyprobe") {
            Frame::Error(e) if e.starts_with("BUSY") => return Frame::Error(e),
            other => assert!(
                std::time::Instant::now() < deadline,
                "no BUSY reply while a script runs: {other:?}"
            ),
        }
    }
}

/// One run of the busy-script story against `addr`; the replies, in order.
fn busy_story(addr: std::net::SocketAddr) -> Vec<Option<Frame>> {
    let mut t = Vec::new();
    let mut a = Conn::connect(addr);
    let mut b = Conn::connect(addr);
    for line in [
        "config set busy-reply-threshold 100",
        "config get lua-time-limit",
        "config set lua-time-limit 50",
        "config get busy-reply-threshold",
        "config set lua-time-limit abc",
        "config set busy-reply-threshold -1",
        "script kill",
        "function kill",
        "function load \"#!lua name=busylib\nredis.register_function('spin', function(k, a) local i = 0 while true do i = i + 1 end end)\"",
    ] {
        t.push(Some(b.cmd(line)));
    }
    // A read-only EVAL: BUSY for others, killable with SCRIPT KILL only.
    a.send_raw(b"EVAL \"local i = 0 while true do i = i + 1 end\" 0\r\n");
    t.push(Some(wait_busy(&mut b)));
    for line in ["function kill", "ping", "nosuchcommand", "get", "shutdown"] {
        t.push(Some(b.cmd(line)));
    }
    // A client that connects while the script is busy can still kill it.
    let mut c = Conn::connect(addr);
    t.push(Some(c.cmd("ping")));
    t.push(Some(c.cmd("script kill")));
    t.push(a.read());
    t.push(Some(b.cmd("ping")));
    t.push(Some(c.cmd("script kill")));
    // A function: FUNCTION KILL, not SCRIPT KILL.
    a.send_raw(b"FCALL spin 0\r\n");
    t.push(Some(wait_busy(&mut b)));
    t.push(Some(b.cmd("script kill")));
    t.push(Some(b.cmd("function kill")));
    t.push(a.read());
    t.push(Some(b.cmd("function kill")));
    // A script that wrote cannot be killed; SHUTDOWN NOSAVE stops it and
    // the server, and its write never reaches the log.
    a.send_raw(b"EVAL \"redis.call('set', 'x', '1') while true do end\" 0\r\n");
    t.push(Some(wait_busy(&mut b)));
    t.push(Some(b.cmd("script kill")));
    b.send_raw(b"SHUTDOWN NOSAVE\r\n");
    t.push(b.read());
    t.push(a.read());
    t
}

#[test]
fn busy_scripts_are_killable() {
    let redis = common::start_redis(&[]);
    let dir = std::env::temp_dir().join(format!("bigstep-busy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ours = common::start_ours(state::Config {
        dir: Some(dir.clone()),
        appendfsync: state::Fsync::Always,
        ..Default::default()
    });
    let want = busy_story(redis.addr);
    let got = busy_story(ours.addr);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w, g, "reply {i}: redis-server vs bigstep state");
    }
    assert_eq!(want.len(), got.len());
    // Both servers stopped on SHUTDOWN NOSAVE.
    wait_for("redis-server to stop", Duration::from_secs(10), || {
        std::net::TcpStream::connect(redis.addr).is_err()
    });
    wait_for("bigstep state to stop", Duration::from_secs(10), || {
        std::net::TcpStream::connect(ours.addr).is_err()
    });
    drop(ours);
    // The unkillable script's SET was stopped with it: not in the log.
    let log = std::fs::read(dir.join("appendonly.aof")).expect("log");
    assert!(
        !log.windows(7).any(|w| w == b"$1\r\nx\r\n"),
        "a write of the script SHUTDOWN NOSAVE stopped reached the log"
    );
    assert!(
        log.windows(7).any(|w| w == b"busylib"),
        "the log holds what was acknowledged (the library)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// === MONITOR ===

/// A MONITOR line with its timestamp checked and masked (`T`), and each
/// client address replaced by a letter in order of first appearance, so the
/// lines of two servers compare.
fn mask_monitor_line(line: &str, addrs: &mut Vec<String>) -> String {
    let (ts, rest) = line.split_once(' ').expect("timestamp first");
    let (secs, usecs) = ts.split_once('.').expect("secs.usecs");
    assert!(
        secs.parse::<u64>().is_ok() && usecs.len() == 6 && usecs.parse::<u32>().is_ok(),
        "timestamp {ts:?} in {line:?}"
    );
    let rest = rest.strip_prefix('[').expect("[db source]");
    let (source, args) = rest.split_once(']').expect("]");
    let (db, who) = source.split_once(' ').expect("db and source");
    let who = if who == "lua" {
        "lua".to_string()
    } else {
        let i = addrs.iter().position(|a| a == who).unwrap_or_else(|| {
            addrs.push(who.to_string());
            addrs.len() - 1
        });
        format!("client{i}")
    };
    format!("T [{db} {who}]{args}")
}

/// What a monitor saw, and what its own requests got, for one server.
fn monitor_story(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut addrs = Vec::new();
    let mut m = Conn::connect(addr);
    let mut c = Conn::connect(addr);
    let mut d = Conn::connect(addr);
    let count_monitors = |c: &mut Conn| match c.cmd("client list") {
        Frame::Bulk(b) => String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| l.contains(" flags=O"))
            .count(),
        other => panic!("client list: {other:?}"),
    };
    out.push(format!("monitor: {:?}", m.cmd("monitor")));
    out.push(format!("monitors listed: {}", count_monitors(&mut c)));
    let session = [
        "set k v",
        "GET k",
        "multi",
        "set a 1",
        "incr a",
        "exec",
        "eval \"redis.call('set', KEYS[1], 'x'); return redis.call('get', KEYS[1])\" 1 k",
        "select 2",
        "auth pw",
        "auth someone pw",
        "hello 3 auth default pw setname n1",
        "hello 2",
        "config get maxmemory",
        "client setname nm",
        "client list",
        "nosuch a",
        "get",
        "function load \"#!lua name=l\\nredis.register_function('f', function(k, a) return redis.call('ping') end)\"",
        "fcall f 0",
        "set k v EX 100",
        "publish ch m",
        "watch k",
        "multi",
        "get k",
        "discard",
        "multi",
        "nosuch",
        "exec",
        "multi",
        "monitor",
        "exec",
        "lastsave",
        "migrate 127.0.0.1 1 nokey 0 100 AUTH secret",
        "migrate 127.0.0.1 1 nokey 0 100 AUTH2 user secret",
        "blpop nolist 0.01",
    ];
    for line in session {
        c.cmd(line);
    }
    let Frame::Bulk(sha) = c.cmd("script load \"return redis.call('echo', 'e')\"") else {
        panic!("script load")
    };
    c.cmd(&format!("evalsha {} 0", String::from_utf8_lossy(&sha)));
    // Bytes that need quoting, sent as they are.
    c.send_args(&[
        b"set".to_vec(),
        b"b".to_vec(),
        b"q\"\\\n\r\t\x01\xff z".to_vec(),
    ]);
    c.read();
    // A blocked BLPOP is shown once, when it blocks, not again when served.
    d.cmd("select 2");
    d.send_args(&[b"blpop".to_vec(), b"l".to_vec(), b"0".to_vec()]);
    wait_blocked(&mut c, 1);
    c.cmd("rpush l x");
    d.read();
    c.cmd("echo end-of-session");
    loop {
        match m.read().expect("monitor line") {
            // Polling for the blocked client is not part of the story.
            Frame::Simple(s) if s.ends_with("\"info\" \"clients\"") => {}
            Frame::Simple(s) => {
                let done = s.ends_with("\"echo\" \"end-of-session\"");
                out.push(mask_monitor_line(&s, &mut addrs));
                if done {
                    break;
                }
            }
            other => panic!("monitor got {other:?}"),
        }
    }
    // What a monitor may still send: its reply, then its own line (if
    // shown), then the ECHO that another client sends to mark the step.
    for (i, line) in [
        "ping",
        "get k",
        "publish ch m",
        "eval \"return 1\" 0",
        "dbsize",
        "monitor",
        "client getname",
        "subscribe news",
    ]
    .into_iter()
    .enumerate()
    {
        if line == "monitor" {
            // A second MONITOR gets no reply at all.
            m.send_args(&[b"monitor".to_vec()]);
        } else {
            out.push(format!("{line}: {:?}", m.cmd(line)));
        }
        let mark = format!("step-{i}");
        c.cmd(&format!("echo {mark}"));
        loop {
            match m.read().expect("monitor line") {
                Frame::Simple(s) => {
                    out.push(mask_monitor_line(&s, &mut addrs));
                    if s.ends_with(&format!("\"{mark}\"")) {
                        break;
                    }
                }
                other => panic!("monitor got {other:?}"),
            }
        }
    }
    // RESET ends the mode: the SET that follows is not shown, so PING's
    // reply is the next thing the old monitor reads.
    out.push(format!("reset: {:?}", m.cmd("reset")));
    c.cmd("set after reset");
    out.push(format!("ping after reset: {:?}", m.cmd("ping")));
    out.push(format!("monitors listed: {}", count_monitors(&mut c)));
    // A monitor that disconnects is forgotten.
    let mut gone = Conn::connect(addr);
    gone.cmd("monitor");
    assert_eq!(count_monitors(&mut c), 1);
    drop(gone);
    wait_for("the closed monitor to go", Duration::from_secs(10), || {
        count_monitors(&mut c) == 0
    });
    out
}

/// MONITOR shows the same lines as redis-server 7.0 for the same session:
/// after each command, EVAL and FCALL before their script's calls, EXEC
/// after its commands, secrets redacted, admin commands, refused and queued
/// ones hidden; and a monitor may only run what leaves the keyspace alone.
#[test]
fn monitor() {
    same_story(monitor_story);
}

/// Runs `story` against redis-server and bigstep state and requires the same
/// lines, the first difference named.
fn same_story(story: fn(std::net::SocketAddr) -> Vec<String>) {
    let p = Pair::new();
    let redis = story(p.redis.addr);
    let ours = story(p.ours.addr);
    for (i, (r, o)) in redis.iter().zip(&ours).enumerate() {
        assert_eq!(r, o, "line {i}: redis-server vs bigstep state");
    }
    assert_eq!(
        redis.len(),
        ours.len(),
        "redis: {redis:#?}\nours: {ours:#?}"
    );
}

/// Commands Redis flags `admin` (never shown by MONITOR) are flagged so here
/// too, read from COMMAND on both servers; a new command added without its
/// flag fails here.
#[test]
fn admin_flags_match_redis() {
    fn admin_flags(c: &mut Conn) -> std::collections::BTreeMap<String, bool> {
        fn walk(f: &Frame, out: &mut std::collections::BTreeMap<String, bool>) {
            let Frame::Array(e) = f else {
                panic!("COMMAND entry {f:?}")
            };
            let Frame::Bulk(name) = &e[0] else {
                panic!("name {:?}", e[0])
            };
            let admin = match &e[2] {
                Frame::Array(fl) | Frame::Set(fl) => fl
                    .iter()
                    .any(|x| matches!(x, Frame::Simple(s) if s == "admin")),
                other => panic!("flags {other:?}"),
            };
            out.insert(String::from_utf8_lossy(name).into_owned(), admin);
            if let Some(Frame::Array(subs)) = e.get(9) {
                for s in subs {
                    walk(s, out);
                }
            }
        }
        let Frame::Array(all) = c.cmd("command") else {
            panic!("COMMAND")
        };
        let mut out = std::collections::BTreeMap::new();
        for e in &all {
            walk(e, &mut out);
        }
        out
    }
    let mut p = Pair::new();
    let redis = admin_flags(&mut p.r);
    let ours = admin_flags(&mut p.o);
    let differ: Vec<_> = ours
        .iter()
        .filter(|(name, admin)| redis.get(*name).is_some_and(|r| r != *admin))
        .collect();
    assert!(
        differ.is_empty(),
        "admin flag differs from Redis: {differ:?}"
    );
    assert!(ours["config|get"] && ours["monitor"] && !ours["get"]);
}

/// SLOWLOG on both servers for the same session, every command logged
/// (threshold 0): the same entries (ids, arguments as cut and redacted,
/// client names), with time, duration and client port masked.
fn slowlog_story(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Conn::connect(addr);
    let mut run = |c: &mut Conn, line: &str| out.push(format!("{line}: {:?}", c.cmd(line)));
    run(&mut c, "slowlog reset");
    run(&mut c, "config set slowlog-log-slower-than 0");
    run(&mut c, "client setname sl");
    run(&mut c, "set a b");
    run(&mut c, "multi");
    run(&mut c, "set x 1");
    run(&mut c, "exec");
    run(&mut c, "eval \"redis.call('set', 'k', 'v')\" 0");
    run(&mut c, "auth pw");
    run(&mut c, "hello 2 auth nobody pw");
    let many: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    run(&mut c, &format!("rpush l {}", many.join(" ")));
    run(&mut c, &format!("set big {}", "x".repeat(200)));
    run(&mut c, "config set slowlog-log-slower-than -1");
    run(&mut c, "get a");
    run(&mut c, "slowlog len");
    let Frame::Array(entries) = c.cmd("slowlog get -1") else {
        panic!("slowlog get")
    };
    for e in entries {
        let Frame::Array(f) = e else {
            panic!("entry {e:?}")
        };
        let addr = match &f[4] {
            Frame::Bulk(b) => {
                let a = String::from_utf8_lossy(b).into_owned();
                a.rsplit_once(':')
                    .map_or(a.clone(), |(ip, _)| format!("{ip}:PORT"))
            }
            other => format!("{other:?}"),
        };
        let addr = if addr == "?:PORT" {
            "?:0".to_owned()
        } else {
            addr
        };
        out.push(format!(
            "id {:?} args {:?} addr {addr} name {:?} ({} fields)",
            f[0],
            f[3],
            f[5],
            f.len()
        ));
    }
    for line in [
        "slowlog get 2",
        "slowlog get -2",
        "slowlog get x",
        "slowlog get 1 2",
        "slowlog len extra",
        "slowlog nosuch",
        "slowlog",
        "slowlog help",
        "slowlog reset",
        "slowlog len",
        "config set slowlog-max-len 3",
        "config get slowlog-max-len",
        "config set slowlog-log-slower-than 0",
        "ping",
        "ping",
        "ping",
        "ping",
        "config set slowlog-log-slower-than 10000",
        "slowlog len",
    ] {
        let got = c.cmd(line);
        // Entries carry times: only their count is the same on both.
        let got = match (line, got) {
            ("slowlog get 2", Frame::Array(e)) => format!("{} entries", e.len()),
            (_, got) => format!("{got:?}"),
        };
        out.push(format!("{line}: {got}"));
    }
    out
}

#[test]
fn slowlog() {
    same_story(slowlog_story);
}

/// Runs `lines` in RESP2, then again after HELLO 3, on both servers.
fn both_protocols(p: &mut Pair, lines: &str) {
    p.script(lines);
    p.script("?hello 3");
    p.script(lines);
    p.script("?hello 2");
}

/// LCS: the string, LEN, IDX with MINMATCHLEN and WITHMATCHLEN (a map in
/// RESP3), the option errors, wrong types, missing keys, and the
/// proto-max-bulk-len bound on the transient table.
#[test]
fn lcs() {
    let mut p = Pair::new();
    p.script(
        r#"
        mset a ohmytext b mynewtext n 12345 m 2354
        lpush l x
        config set proto-max-bulk-len 1mb
        setrange big 1000 x
        "#,
    );
    both_protocols(
        &mut p,
        r#"
        lcs a b
        lcs b a
        lcs a b len
        lcs a b idx
        lcs a b idx withmatchlen
        lcs a b idx minmatchlen 4
        lcs a b idx minmatchlen 4 withmatchlen
        lcs a b idx minmatchlen -3 withmatchlen
        lcs a b IDX MinMatchLen 2 WITHMATCHLEN
        lcs a b idx len
        lcs a b idx minmatchlen x
        lcs a b minmatchlen
        lcs a b foo
        lcs a a idx withmatchlen
        lcs n m
        lcs n m idx withmatchlen
        lcs a nosuch
        lcs nosuch nosuch idx
        lcs nosuch nosuch len
        lcs a l
        lcs l nosuch idx len
        lcs big big
        lcs big a len
        lcs a
        "#,
    );
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS: keys (and their key-spec flags)
/// for fixed, stepped, destination-first and `numkeys` key lists, scripts,
/// subcommands and the variable-flag commands; and Redis's errors for an
/// unknown command, a command without keys, the wrong arity and a bad
/// `numkeys`.
#[test]
fn command_getkeys() {
    let mut p = Pair::new();
    let mut lines = String::new();
    for req in [
        "get a",
        "set a b",
        "set a b get",
        "set a b ex 10 GET",
        "mset a 1 b 2 c 3",
        "mset a b c",
        "del a b c",
        "rename a b",
        "renamenx a b",
        "copy a b",
        "lmove a b left right",
        "blmove a b left right 0",
        "rpoplpush a b",
        "smove a b m",
        "blpop a b 0",
        "bitop and d a b",
        "bitfield k get u8 0",
        "bitfield k get u8 0 overflow wrap get u8 8",
        "bitfield k set u8 0 1",
        "bitfield k incrby u8 0 1",
        "bitfield k",
        "bitfield_ro k get u8 0",
        "pfmerge d a b",
        "sinterstore d a b",
        "sunionstore d a b",
        "sdiffstore d a",
        "zunionstore d 2 a b",
        "zunionstore d 1 a weights 1",
        "zinterstore d 2 a b aggregate sum",
        "zdiffstore d 1 a",
        "zrangestore d s 0 -1",
        "geosearchstore d s fromlonlat 0 0 byradius 1 km",
        "zunion 2 a b",
        "zintercard 1 a",
        "sintercard 2 a b limit 1",
        "lmpop 2 a b left",
        "zmpop 1 a min",
        "blmpop 0 2 a b left",
        "bzmpop 0 1 a max",
        "xread count 1 streams a b 0 0",
        "xreadgroup group g c streams a b 0 0",
        "georadius k 0 0 1 km",
        "georadius k 0 0 1 km store d",
        "georadiusbymember k m 1 km storedist d",
        "georadius k 0 0 1 km store d storedist e",
        "georadius k 0 0 1 km storedist e store d",
        "georadius k 0 0 1 km count 1 store d withdist storedist e",
        "georadiusbymember k m 1 km store d storedist e",
        "georadiusbymember k m 1 km storedist e store d",
        "georadius k 0 0 1 km store",
        "georadius k 0 0 1 km store d store",
        "sort k",
        "sort k store d",
        "sort k by store get # limit 0 1 store d",
        "sort_ro k",
        "eval x 0",
        "eval x 2 a b",
        "eval x 5 a",
        "eval x -1 a",
        "evalsha x 1 a",
        "fcall f 1 k",
        "fcall_ro f 2 k l",
        "object encoding k",
        "memory usage k",
        "xgroup create k g 0",
        "xinfo stream k",
        "migrate h p k 0 0",
        "migrate h p \"\" 0 0 keys a b",
        "watch a b",
        "lcs a b",
        "GET a",
        "Object Encoding k",
    ] {
        lines.push_str(&format!(
            "command getkeys {req}\ncommand getkeysandflags {req}\n"
        ));
    }
    for bad in [
        "command getkeys",
        "command getkeys get",
        "command getkeys ping",
        "command getkeys ping x",
        "command getkeys get a b",
        "command getkeys nosuch a",
        "command getkeys client list",
        "command getkeys client",
        "command getkeys client nosuch",
        "command getkeys object help",
        "command getkeys object encoding",
        "command getkeys command info get",
        "command getkeys zunionstore d 5 a b",
        "command getkeys zunionstore d 0 a",
        "command getkeys zunionstore d x a b",
        "command getkeys zunionstore d -1 a",
        "command getkeys zunion 0 a",
        "command getkeys lmpop 0 a left",
        "command getkeys sintercard 3 a b",
        "command getkeys zmpop 9223372036854775807 a MIN",
        "command getkeysandflags",
        "command getkeysandflags get",
        "command getkeysandflags ping x",
        "command getkeysandflags nosuch",
    ] {
        lines.push_str(bad);
        lines.push('\n');
    }
    both_protocols(&mut p, &lines);
}

/// ACL GENPASS: Redis's errors in both protocols; passwords of Redis's length
/// and alphabet, two in a row unlike.
#[test]
fn acl_genpass() {
    let mut p = Pair::new();
    both_protocols(
        &mut p,
        "acl genpass 0\nacl genpass -1\nacl genpass 4097\nacl genpass abc\nacl genpass 1 2\n",
    );
    // Random either way: compared by shape (length, lowercase hex) and told apart.
    for (bits, digits) in [
        (None, 64),
        (Some(1), 1),
        (Some(4), 1),
        (Some(5), 2),
        (Some(4096), 1024),
    ] {
        let line = match bits {
            Some(b) => format!("acl genpass {b}"),
            None => "acl genpass".to_string(),
        };
        let mut seen = Vec::new();
        for ours in [false, true, true] {
            let c = if ours { &mut p.o } else { &mut p.r };
            let Frame::Bulk(pw) = c.cmd(&line) else {
                panic!("{line}")
            };
            assert_eq!(pw.len(), digits, "{line}: {pw:?}");
            assert!(
                pw.iter()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{line}: {pw:?}"
            );
            seen.push(pw);
        }
        if digits >= 16 {
            assert_ne!(seen[1], seen[2], "{line}: two passwords alike");
        }
    }
}

/// ACL GETUSER and ACL DRYRUN for users with and without rules, in both
/// protocols, with Redis's errors.
#[test]
fn acl_getuser_and_dryrun() {
    let mut p = Pair::new();
    p.script(
        r#"
        acl setuser u1 on >pw ~a* ~b:* &ch +@hash -hget
        acl setuser u5 on >pw ~a* ~b:* &ch +get +@hash -hget +publish +client|id +subscribe +psubscribe
        acl setuser u2
        acl setuser u3 on nopass allkeys allchannels allcommands
        acl setuser u4 on #5e884898da28047151d0e56f8dc6292773603d0d6aca6b4b4b4b4b4b4b4b4b4b resetchannels &x:* -@all +set
        acl setuser u6 on >p1 ~k* &ch* +get +@hash -hdel nopass resetpass >p2 allchannels resetchannels &x
        acl setuser u6 +set -@all +ping skip-sanitize-payload >p3 ~z
        acl setuser u7 on nopass skip-sanitize-payload ~a
        acl setuser u7 sanitize-payload ~b resetpass >x nopass allkeys
        acl setuser u8 on nopass
        acl setuser u8 >pw off sanitize-payload
        acl setuser u8 allkeys &a allcommands -flushall
        acl setuser u9 reset on nopass skip-sanitize-payload
        acl setuser r1 +@read -get +@write +get -@string +client|id
        acl setuser r1 -@all +@read -@hash +hget +get -get
        acl setuser r2 allcommands -debug +@dangerous -flushall -@keyspace +del
        acl setuser r3 +config|get +client|id +get +config|set -config|get
        acl setuser r4 +@all -config +config|get -@slow +client
        acl setuser r5 +@hash +@string -@write +@list
        acl setuser r6 +@all -@admin -@dangerous +info
        acl setuser r7 +@fast +@connection -@pubsub
        "#,
    );
    // Redis 7.0 lists single-command rules in its command table's hash
    // order, seeded afresh at each start: they are compared sorted.
    let list = |c: &mut Conn| match c.cmd("acl list") {
        Frame::Array(v) => v
            .into_iter()
            .map(|l| {
                let Frame::Bulk(l) = l else { panic!("{l:?}") };
                let l = String::from_utf8_lossy(&l).into_owned();
                let (mut rest, mut single): (Vec<&str>, Vec<&str>) = l
                    .split(' ')
                    .partition(|w| !w.starts_with(['+', '-']) || w.contains('@'));
                single.sort();
                rest.extend(single);
                rest.join(" ")
            })
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(list(&mut p.r), list(&mut p.o));
    // GETUSER's commands field likewise.
    for u in ["r1", "r2", "r3", "r4", "r5", "r6", "r7"] {
        let commands = |c: &mut Conn| match c.cmd(&format!("acl getuser {u}")) {
            Frame::Array(v) => {
                let Frame::Bulk(b) = &v[5] else {
                    panic!("{v:?}")
                };
                let mut w: Vec<String> = String::from_utf8_lossy(b)
                    .split(' ')
                    .map(String::from)
                    .collect();
                let at = w.iter().position(|r| !r.contains('@')).unwrap_or(w.len());
                w[at..].sort();
                w.join(" ")
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(commands(&mut p.r), commands(&mut p.o), "acl getuser {u}");
    }
    both_protocols(
        &mut p,
        r#"
        acl getuser u1
        acl getuser u2
        acl getuser u3
        acl getuser u4
        acl getuser u6
        acl getuser u7
        acl getuser u8
        acl getuser u9
        acl setuser u9 sanitize-payload
        acl getuser u9
        acl getuser default
        acl getuser nosuch
        acl getuser
        acl getuser u1 u2
        acl dryrun u5 get ab
        acl dryrun u5 get b
        acl dryrun u5 get b:1
        acl dryrun u1 set a b
        acl dryrun u1 hget a f
        acl dryrun u1 hset a f v
        acl dryrun u1 hset z f v
        acl dryrun u5 publish ch x
        acl dryrun u5 publish zz x
        acl dryrun u5 subscribe ch zz yy
        acl dryrun u5 psubscribe ch zz
        acl dryrun u5 psubscribe c*
        acl dryrun u5 client id
        acl dryrun u5 client list
        acl dryrun u5 client nosuch
        acl dryrun u4 set x:1 v
        acl dryrun u3 flushall
        acl dryrun u2 ping
        acl dryrun nosuch get a
        acl dryrun u1 nosuch
        acl dryrun u1 get
        acl dryrun u1
        "#,
    );
}

/// ACL LOG on both servers for the same session: failed AUTH and HELLO,
/// refused commands, keys and channels, at top level, in EXEC (rights
/// changed after queueing) and from a script, similar events counted in one
/// entry, `acllog-max-len`, the count argument and RESET. `age-seconds`
/// (a double, a bulk string in RESP2) and `client-info` (a CLIENT INFO
/// line: ids, ports and buffer sizes differ) are masked to their types.
fn acl_log_story(addr: std::net::SocketAddr) -> Vec<String> {
    fn show(f: Frame) -> String {
        let Frame::Array(entries) = f else {
            return format!("{f:?}");
        };
        let mut out = Vec::new();
        for e in entries {
            let fields: Vec<(Frame, Frame)> = match e {
                Frame::Map(m) => m,
                Frame::Array(v) => v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
                other => panic!("entry {other:?}"),
            };
            let shown: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| {
                    let masked = match (&k, v) {
                        (Frame::Bulk(k), Frame::Bulk(_)) if k == "age-seconds" => "bulk".into(),
                        (Frame::Bulk(k), Frame::Double(_)) if k == "age-seconds" => "double".into(),
                        (Frame::Bulk(k), Frame::Bulk(v)) if k == "client-info" => {
                            let v = String::from_utf8_lossy(&v);
                            assert!(v.starts_with("id=") && v.contains(" user="), "{v}");
                            "CLIENT INFO".into()
                        }
                        (_, v) => format!("{v:?}"),
                    };
                    format!("{k:?}={masked}")
                })
                .collect();
            out.push(shown.join(" "));
        }
        format!("{} entries: {}", out.len(), out.join(" | "))
    }
    let mut out = Vec::new();
    let mut admin = Conn::connect(addr);
    let mut user = Conn::connect(addr);
    for (who, line) in [
        ("admin", "acl log reset"),
        (
            "admin",
            "acl setuser u1 on >pw ~a* &ch +get +publish +multi +exec +eval +auth +hello",
        ),
        ("user", "auth u1 wrong"),
        ("user", "AUTH nosuch x"),
        ("user", "hello 2 auth u1 bad"),
        ("user", "auth u1 pw"),
        ("user", "set b 1"),
        ("user", "get b"),
        ("user", "get b"),
        ("user", "get b"),
        ("user", "publish zz x"),
        ("user", "publish ch x"),
        ("user", "publish ch zz"),
        ("user", "multi"),
        ("user", "get a"),
        ("admin", "acl setuser u1 resetkeys ~z*"),
        ("user", "exec"),
        ("user", "eval \"return redis.call('get', 'b')\" 0"),
        ("user", "eval \"return redis.call('set', 'z', 'v')\" 0"),
        ("admin", "acl log"),
        ("admin", "acl log 2"),
        ("admin", "acl log 0"),
        ("admin", "acl log -1"),
        ("admin", "acl log x"),
        ("admin", "acl log 1 2"),
        ("admin", "ACL LOG 1 2"),
        ("admin", "hello 3"),
        ("admin", "acl log 3"),
        ("admin", "hello 2"),
        ("admin", "acl log reset"),
        ("admin", "acl log"),
        ("admin", "config set acllog-max-len 2"),
        ("user", "get b1"),
        ("user", "get b2"),
        ("user", "get b3"),
        ("admin", "acl log"),
        ("admin", "config set acllog-max-len 128"),
    ] {
        let c = if who == "admin" {
            &mut admin
        } else {
            &mut user
        };
        let got = c.cmd(line);
        let shown = if line.starts_with("acl log") || line.starts_with("ACL LOG") {
            show(got)
        } else if line.starts_with("hello") {
            match got {
                Frame::Error(e) => e,
                _ => "hello reply".into(),
            }
        } else {
            format!("{got:?}")
        };
        out.push(format!("{who}: {line}: {shown}"));
    }
    out
}

#[test]
fn acl_log() {
    same_story(acl_log_story);
}

/// A map reply as pairs, whether RESP3 sent a map or RESP2 a flat array.
fn pairs(f: Frame) -> Vec<(Frame, Frame)> {
    match f {
        Frame::Map(m) => m,
        Frame::Array(v) => v
            .chunks(2)
            .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or(Frame::Null)))
            .collect(),
        other => panic!("not a map: {other:?}"),
    }
}

/// LATENCY on both servers for the same session: the monitor off (Redis
/// 7.0's default threshold 0) and its answers, then on (CONFIG SET
/// latency-monitor-threshold 1) with a script that runs for milliseconds
/// on either server, RESET, and HISTOGRAM, in RESP2 and RESP3. Times and
/// latencies differ: samples are masked to "at least the threshold",
/// histograms to their commands, call counts and shape (cumulative counts
/// that grow to the calls).
fn latency_story(addr: std::net::SocketAddr) -> Vec<String> {
    fn histogram(f: Frame) -> String {
        let mut cmds: Vec<String> = pairs(f)
            .into_iter()
            .map(|(name, h)| {
                let h = pairs(h);
                assert_eq!(h.len(), 2, "{h:?}");
                assert_eq!(h[0].0, Frame::Bulk("calls".into()));
                assert_eq!(h[1].0, Frame::Bulk("histogram_usec".into()));
                let Frame::Integer(calls) = h[0].1 else {
                    panic!("calls {:?}", h[0].1)
                };
                let cdf: Vec<(i64, i64)> = pairs(h[1].1.clone())
                    .into_iter()
                    .map(|(us, n)| match (us, n) {
                        (Frame::Integer(us), Frame::Integer(n)) => (us, n),
                        other => panic!("bucket {other:?}"),
                    })
                    .collect();
                assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
                assert_eq!(cdf.last().map(|x| x.1), Some(calls), "{cdf:?}");
                format!("{name:?} calls={calls}")
            })
            .collect();
        cmds.sort();
        cmds.join(", ")
    }
    let mut out = Vec::new();
    let mut c = Conn::connect(addr);
    for proto in ["2", "3"] {
        for line in [
            "hello PROTO",
            "latency reset",
            "config resetstat",
            "latency latest",
            "latency history command",
            "latency reset",
            "latency reset command foo",
            "latency doctor",
            "latency graph command",
            "latency help",
            "latency nosuch",
            "latency history",
            "latency latest x",
            "latency graph",
            "set a 1",
            "set a 2",
            "get a",
            "get nosuch",
            "lpush l x",
            "get l",
            "config get maxmemory",
            "latency histogram set get",
            "latency histogram GET set",
            "latency histogram",
            "latency histogram config",
            "latency histogram config|get",
            "latency histogram nosuch",
            "latency histogram set nosuch set",
            // While the monitor is on (1 ms) any command may be sampled if
            // the machine stalls it, so only the script is sure to be: the
            // history is read as "has samples", and the monitor is off again
            // before the reset whose aftermath is compared exactly.
            "config set latency-monitor-threshold 1",
            "eval \"local t = {} for i = 1, 1000000 do t[i] = i end return 1\" 0",
            "latency latest",
            "latency history command",
            "config set latency-monitor-threshold 0",
            "latency reset command",
            "latency latest",
            "latency history command",
            "latency doctor",
        ] {
            let line = line.replace("PROTO", proto);
            let got = c.cmd(&line);
            let shown = if line.starts_with("latency histogram") {
                histogram(got)
            } else if line == "hello 3" || line == "hello 2" {
                "hello".into()
            } else {
                match got {
                    // [event, time, latest ms, max ms]
                    Frame::Array(events) if line == "latency latest" => events
                        .into_iter()
                        .map(|e| match e {
                            Frame::Array(f) => match &f[..] {
                                [name, Frame::Integer(_), Frame::Integer(ms), Frame::Integer(max)] => {
                                    format!("{name:?} {} {}", *ms >= 1, max >= ms)
                                }
                                other => panic!("event {other:?}"),
                            },
                            other => panic!("event {other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    // [[time, ms], ...]: the eval's sample, and any command
                    // a loaded machine stalled past 1 ms meanwhile.
                    Frame::Array(samples) if line == "latency history command" => {
                        format!("has samples: {}", !samples.is_empty())
                    }
                    other => format!("{other:?}"),
                }
            };
            out.push(format!("RESP{proto} {line}: {shown}"));
        }
    }
    // The monitor did see the script, in both protocols.
    let seen = out
        .iter()
        .filter(|l| l.ends_with("latency latest: Bulk(b\"command\") true true"))
        .count();
    assert_eq!(seen, 2, "{out:#?}");
    out
}

#[test]
fn latency() {
    same_story(latency_story);
}

/// MEMORY STATS, DOCTOR, MALLOC-STATS and PURGE in RESP2 and RESP3.
/// Memory numbers cannot be the same (different allocators, and ours are
/// partly estimates: see cmd/memory.rs), so STATS is compared by shape:
/// the same field names in the same order with the same reply types (a
/// map per database holding keys, integers, doubles). DOCTOR's answer for
/// a small dataset is Redis's word for word. MALLOC-STATS is a text on
/// both (redis-server's jemalloc report, our "not supported" answer, which
/// is Redis's own when built without jemalloc).
#[test]
fn memory_stats_doctor_purge() {
    fn shape(f: &Frame) -> String {
        match f {
            Frame::Map(m) => {
                let fields: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k:?}: {}", shape(v)))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            // RESP2: a flat array of names and values.
            Frame::Array(v) if v.len() % 2 == 0 && matches!(v.first(), Some(Frame::Bulk(_))) => {
                let fields: Vec<String> = v
                    .chunks(2)
                    .map(|c| format!("{:?}: {}", c[0], shape(&c[1])))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            Frame::Integer(_) => "int".into(),
            Frame::Double(_) => "double".into(),
            // A RESP2 double: a number as a bulk string.
            Frame::Bulk(b) => {
                let t = String::from_utf8_lossy(b);
                assert!(t.parse::<f64>().is_ok(), "{t}");
                "number text".into()
            }
            other => format!("{other:?}"),
        }
    }
    let mut p = Pair::new();
    p.script("mset a 1 b 2 c 3\nexpire a 100\nselect 3\nset x y\nselect 0");
    for proto in ["2", "3"] {
        p.check_mode(&format!("hello {proto}"), Mode::Kind);
        let r = p.r.cmd("memory stats");
        let o = p.o.cmd("memory stats");
        assert_eq!(shape(&r), shape(&o), "MEMORY STATS in RESP{proto}");
        assert!(shape(&o).contains("\"db.3\""), "{o:?}");
        p.script(
            r#"
            memory doctor
            memory purge
            memory stats x
            memory doctor x
            memory purge x
            memory malloc-stats x
            memory nosuch
            memory help
            "#,
        );
        let r = p.r.cmd("memory malloc-stats");
        let o = p.o.cmd("memory malloc-stats");
        let text = |f: &Frame| matches!(f, Frame::Bulk(_) | Frame::Verbatim(..));
        assert!(text(&r) && text(&o), "{r:?} / {o:?}");
    }
}

/// The whole COMMAND INFO entry of every command and subcommand we
/// implement is Redis's: flags (`readonly` only where Redis has it), legacy
/// key range, ACL categories, tips and key specs included, in RESP2 and
/// RESP3; so is its COMMAND DOCS entry. A container's list of subcommands is compared by name (Redis
/// lists them in its hash table's order, seeded afresh at each start), each
/// subcommand on its own; the ones only one side has are listed below.
#[test]
fn command_info_matches_redis() {
    /// A COMMAND DOCS reply for one command without its `subcommands`
    /// field (a map in RESP3, pairs in a flat array in RESP2).
    fn without_subcommands(f: Frame) -> Frame {
        let sub = |k: &Frame| *k == Frame::Bulk("subcommands".into());
        match f {
            Frame::Map(mut m) if m.len() == 1 => {
                if let Frame::Map(doc) = &mut m[0].1 {
                    doc.retain(|(k, _)| !sub(k));
                }
                Frame::Map(m)
            }
            Frame::Array(mut v) if v.len() == 2 => {
                if let Frame::Array(doc) = &mut v[1] {
                    if let Some(i) = doc.iter().position(sub) {
                        doc.drain(i..i + 2);
                    }
                }
                Frame::Array(v)
            }
            other => other,
        }
    }
    fn names(f: &Frame) -> Vec<String> {
        let Frame::Array(v) = f else { return vec![] };
        v.iter()
            .filter_map(|e| match e {
                Frame::Array(e) => match &e[0] {
                    Frame::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
    let mut p = Pair::new();
    p.script("command docs nosuch\ncommand docs GET nosuch set\ncommand docs Config|Get");
    // Every command and subcommand (`parent|sub`) we have.
    let Frame::Array(all) = p.o.cmd("command list") else {
        panic!("command list")
    };
    let all: Vec<String> = all
        .into_iter()
        .map(|n| match n {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(all.len() > 250, "{}", all.len());
    let mut differ = Vec::new();
    let mut only = std::collections::BTreeSet::new();
    for resp in [2, 3] {
        let (mut r, mut o) = p.conns();
        r.cmd(&format!("hello {resp}"));
        o.cmd(&format!("hello {resp}"));
        for name in &all {
            let line = format!("command info {name}");
            let (Frame::Array(mut a), Frame::Array(mut b)) = (r.cmd(&line), o.cmd(&line)) else {
                panic!("{line}")
            };
            let (Frame::Array(mut a), Frame::Array(mut b)) = (a.remove(0), b.remove(0)) else {
                only.insert(format!("ours {name}"));
                continue;
            };
            let (ra, rb) = (names(&a[9]), names(&b[9]));
            if !ra.is_empty() || !rb.is_empty() {
                only.extend(
                    rb.iter()
                        .filter(|n| !ra.contains(n))
                        .map(|n| format!("ours {n}")),
                );
                only.extend(
                    ra.iter()
                        .filter(|n| !rb.contains(n))
                        .map(|n| format!("redis {n}")),
                );
                a[9] = Frame::Null;
                b[9] = Frame::Null;
            }
            if a != b {
                differ.push(format!(
                    "RESP{resp} {name}:\n  redis: {a:?}\n  ours:  {b:?}"
                ));
            }
            // COMMAND DOCS, its subcommands' entries compared on their own.
            let line = format!("command docs {name}");
            let (a, b) = (
                without_subcommands(r.cmd(&line)),
                without_subcommands(o.cmd(&line)),
            );
            if a != b {
                differ.push(format!(
                    "RESP{resp} docs {name}:\n  redis: {a:?}\n  ours:  {b:?}"
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // Redis 7.2's subcommands we have; what is not built (README).
    let mut expected: Vec<String> = ["client|no-touch", "client|setinfo"]
        .iter()
        .map(|n| format!("ours {n}"))
        .collect();
    expected.extend(
        [
            "acl|load",
            "acl|save",
            "cluster|addslots",
            "cluster|addslotsrange",
            "cluster|bumpepoch",
            "cluster|count-failure-reports",
            "cluster|delslots",
            "cluster|delslotsrange",
            "cluster|failover",
            "cluster|flushslots",
            "cluster|forget",
            "cluster|meet",
            "cluster|replicate",
            "cluster|reset",
            "cluster|saveconfig",
            "cluster|set-config-epoch",
            "cluster|setslot",
            "script|debug",
        ]
        .iter()
        .map(|n| format!("redis {n}")),
    );
    expected.sort();
    assert_eq!(only.into_iter().collect::<Vec<_>>(), expected);
}

/// EVAL scripts with a shebang (`#!lua flags=...`): the flags declared,
/// what `no-writes` refuses, EVAL_RO of a script that may write, errors in
/// the shebang, line numbers after it, and SCRIPT LOAD / EVALSHA of one.
#[test]
fn eval_shebang_flags() {
    let mut p = Pair::new();
    both_protocols(
        &mut p,
        r##"
        set k v
        eval "#!lua\nreturn redis.call('set', KEYS[1], 'x')" 1 k
        eval "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'y')" 1 k
        eval "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])" 1 k
        eval_ro "#!lua\nreturn redis.call('get', KEYS[1])" 1 k
        eval_ro "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])" 1 k
        eval_ro "return redis.call('get', KEYS[1])" 1 k
        eval "#!lua flags=no-writes,allow-oom\nreturn 1" 0
        eval "#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys\nreturn 2" 0
        eval "#!lua flags=\nreturn 1" 0
        eval "#!lua    flags=no-writes   \nreturn 3" 0
        eval "#!lua flags=bogus\nreturn 1" 0
        eval "#!lua flags=no-writes,,allow-oom\nreturn 1" 0
        eval "#!lua other=1\nreturn 1" 0
        eval "#!lua name=x\nreturn 1" 0
        eval "#!python\nreturn 1" 0
        eval "#! \nreturn 1" 0
        eval "#!lua" 0
        eval "#!lua\nreturn nosuch" 0
        eval "#!lua\n\n  syntax error" 0
        eval "#!lua flags=bogus\nreturn 1" 5
        eval "#!lua flags=no-writes\nreturn 1" -1
        script load "#!lua flags=bogus\nreturn 1"
        script load "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"
        evalsha 8822dee64c14b51d475f4b45eb44843318ccc8e1 1 k
        evalsha_ro 8822dee64c14b51d475f4b45eb44843318ccc8e1 1 k
        get k
        "##,
    );
}
