//! Conformance for the commands and script libraries the framework clients
//! (tests/frameworks.rs) and common apps need: same commands against real
//! `redis-server` and `bigstep state`, identical replies required.

mod common;

use common::Pair;

#[test]
fn script_libraries() {
    let mut p = Pair::new();
    p.script(
        r#"
        eval 'return cjson.encode({1,2,3})' 0
        eval 'return cjson.encode({a="x/y\n"})' 0
        eval 'return cjson.encode({})' 0
        eval 'return cjson.encode({1, nil, 3})' 0
        eval 'local t = {} t[1] = 1 t[3] = 3 t[10] = 10 return cjson.encode(t)' 0
        ?eval 'local t = {} t[1] = 1 t[30] = 3 return cjson.encode(t)' 0
        eval 'return cjson.encode({[1] = "a", x = "b"}):len()' 0
        eval 'return cjson.encode({{}, {1.5, -2, 1e20, 0.1}, "s", true, false})' 0
        eval 'return cjson.encode(cjson.decode("[1,2.5,\"x\",true,null,{\"k\":[]}]"))' 0
        eval 'local t = cjson.decode("{\"a\":{\"b\":[10,20]},\"u\":\"\\u00e9\\ud83d\\ude00\"}") return {t.a.b[2], t.u}' 0
        eval 'return cjson.decode("null") == cjson.null and 1 or 0' 0
        eval 'return cjson.encode(cjson.decode("  {\"esc\":\"a\\\"b\\\\c\\/d\\t\"}  "))' 0
        ?eval 'return cjson.decode("{bad")' 0
        ?eval 'return cjson.encode(function() end)' 0
        eval 'return cmsgpack.pack({1,2,3})' 0
        eval 'return cmsgpack.pack({a=1})' 0
        eval 'return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)' 0
        eval 'return cmsgpack.pack(1.5, 0.1, 1e300, -2.25, true, false)' 0
        eval 'return cmsgpack.pack(string.rep("x", 31), string.rep("y", 32), string.rep("z", 300))' 0
        eval 'local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)' 0
        eval 'local t = {cmsgpack.unpack(cmsgpack.pack(1, -5, 300, -40000, 3.5, "str", true, {1, {x = "y"}}))} for i = 1, 7 do t[i] = tostring(t[i]) end t[8] = t[8][2].x return t' 0
        eval 'local t = cmsgpack.unpack(ARGV[1]) return {t.a, t.b[1], t.b[2]}' 0 "\x82\xa1a\xa3one\xa1b\x92\x01\xcb\x40\x04\x00\x00\x00\x00\x00\x00"
        eval 'return {bit.band(255, 15), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4)}' 0
        eval 'return struct.pack(">i2 <I4 b B h H l L", 258, 16909060, -1, 255, -2, 65534, -3, 7)' 0
        eval 'return struct.pack("!4 b i4 c3 s x d", 1, 2, "abcdef", "zs", 1.5)' 0
        eval 'return struct.pack("<f d", 0.5, -2.25)' 0
        eval 'return {struct.unpack(">i2 <I4 b B h H", struct.pack(">i2 <I4 b B h H", 258, 16909060, -1, 255, -2, 65534))}' 0
        eval 'local a, b, c, d = struct.unpack("B c0 s", "\3abcxyz\0") return {a, b, c, d}' 0
        eval 'local s, n = struct.unpack("c2", "hello", 3) return {s, n}' 0
        eval 'return {struct.size("!4 b i4 d"), struct.size("<i2 c5 x")}' 0
        eval 'return tostring(struct.unpack("<d", struct.pack("<d", 3.25)))' 0
        ?eval 'return struct.size("s")' 0
        ?eval 'return struct.pack("q", 1)' 0
        ?eval 'return struct.unpack("i4", "ab")' 0
        !eval 'return struct.unpack("B c0", "\9abc")' 0
        eval 'return struct.unpack("B c0", "\2abc")' 0
        ?eval 'return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}' 0
        eval 'return type(redis.REDIS_VERSION_NUM) == "number" and redis.REDIS_VERSION_NUM >= 0x070000' 0
        eval 'return {bit.tohex(255), bit.tohex(-1, -4), bit.bnot(0), bit.tobit(2^32 + 5), bit.rol(1, 33), bit.ror(1, 1), bit.bswap(305419896)}' 0
        "#,
    );
}

#[test]
fn random_members() {
    let mut p = Pair::new();
    p.script(
        r#"
        hset h f1 v1 f2 v2 f3 v3
        zadd z 1 a 2 b 3 c
        hset h1 only one
        zadd z1 5 only
        hrandfield nokey
        hrandfield nokey 3
        hrandfield nokey 3 withvalues
        ~hrandfield h 10
        %hrandfield h 10 withvalues
        ~hrandfield h 3
        hrandfield h 0
        hrandfield h1
        hrandfield h1 -3
        hrandfield h1 -3 withvalues
        hrandfield h1 1 withvalues
        ?hrandfield h 2
        ?hrandfield h -5
        !hrandfield h 1 withscores
        !hrandfield h 1 withvalues extra
        !hrandfield h abc
        !hrandfield h -9223372036854775808
        !hrandfield h -9223372036854775807 withvalues
        zrandmember nokey
        zrandmember nokey 2 withscores
        ~zrandmember z 10
        %zrandmember z 10 withscores
        zrandmember z1
        zrandmember z1 -2 withscores
        zrandmember z 0
        ?zrandmember z -7
        !zrandmember z 1 withvalues
        set s x
        !hrandfield s
        !zrandmember s 1
        "#,
    );
    // Few out of many: distinct picks, each with its own score.
    for i in 0..100 {
        for c in [&mut p.r, &mut p.o] {
            c.cmd(&format!("hset big f{i} {i}"));
            c.cmd(&format!("zadd zbig {i} m{i}"));
        }
    }
    p.script(
        r#"
        ?hrandfield big 5
        ?zrandmember zbig 5 withscores
        ?zrandmember zbig -300
        "#,
    );
    let state::resp::Frame::Array(v) = p.o.cmd("zrandmember zbig 7 withscores") else {
        panic!("array")
    };
    let mut names = std::collections::HashSet::new();
    for pair in v.chunks(2) {
        let (state::resp::Frame::Bulk(m), state::resp::Frame::Bulk(s)) = (&pair[0], &pair[1])
        else {
            panic!("member and score: {pair:?}")
        };
        assert_eq!(&m[1..], &s[..], "score belongs to its member");
        names.insert(m.clone());
    }
    assert_eq!(names.len(), 7, "distinct members");
    // RESP3: WITHSCORES / WITHVALUES pairs are nested arrays.
    p.script(
        r#"
        ?hello 3
        hrandfield h1 -2 withvalues
        zrandmember z1 -2 withscores
        "#,
    );
}

#[test]
fn sorted_set_lex_and_store() {
    let mut p = Pair::new();
    p.script(
        r#"
        zadd l 0 a 0 b 0 c 0 d 0 e 0 f
        zlexcount l - +
        zlexcount l [b (e
        zlexcount l (a [a
        zlexcount nokey - +
        !zlexcount l a b
        zrevrangebylex l + -
        zrevrangebylex l [e (b
        zrevrangebylex l + - limit 1 2
        !zrevrangebylex l + - withscores
        !zrevrangebylex l b a
        zremrangebylex l [b (d
        zrange l 0 -1
        zremrangebylex l - +
        exists l
        zremrangebylex nokey - +
        zadd src 1 a 2 b 3 c 4 d
        zrangestore dst src 1 2
        zrange dst 0 -1 withscores
        zrangestore dst src 2 3 byscore limit 1 1
        zrange dst 0 -1 withscores
        zrangestore dst src (4 -inf byscore rev
        zrange dst 0 -1 withscores
        zrangestore dst src [d [b bylex rev limit 0 2
        zrange dst 0 -1 withscores
        zrangestore dst src 10 20
        exists dst
        zrangestore dst nokey 0 -1
        !zrangestore dst src 0 -1 withscores
        !zrangestore dst src 0 -1 limit 0 1
        set str x
        !zrangestore dst str 0 -1
        zrangestore str src 0 0
        type str
        "#,
    );
}

#[test]
fn sorted_set_algebra() {
    let mut p = Pair::new();
    p.script(
        r#"
        zadd z1 1 a 2 b 3 c
        zadd z2 10 b 20 c 30 d
        sadd s1 a d x
        zunion 2 z1 z2 withscores
        zunion 2 z1 z2
        zinter 2 z1 z2 withscores
        zdiff 2 z1 z2 withscores
        zdiff 2 z2 z1
        zunion 2 z1 z2 weights 2 0.5 withscores
        zunion 2 z1 z2 aggregate min withscores
        zunion 2 z1 z2 aggregate max withscores
        zinter 2 z1 z2 weights 1 -1 aggregate sum withscores
        zinter 3 z1 z2 nokey withscores
        zunion 3 z1 z2 nokey withscores
        zunion 2 z1 s1 withscores
        zinter 2 s1 z2 withscores
        zdiff 2 s1 z1 withscores
        zunionstore out 2 z1 z2
        zrange out 0 -1 withscores
        zinterstore out 2 z1 z2 weights 2 3
        zrange out 0 -1 withscores
        zdiffstore out 2 z1 z2
        zrange out 0 -1 withscores
        zinterstore out 2 z1 nokey
        exists out
        zunionstore z1 2 z1 z2 aggregate max
        zrange z1 0 -1 withscores
        zadd inf 1 a
        zadd ninf 1 a
        zunion 2 inf ninf weights inf -inf withscores
        zintercard 2 z1 z2
        zintercard 2 z1 z2 limit 1
        zintercard 2 z1 z2 limit 0
        zintercard 1 nokey
        !zunion 0 z1
        !zunion -1 z1
        !zunion 3 z1 z2
        !zunion x z1
        !zunion 2 z1 z2 weights 1
        !zunion 2 z1 z2 weights 1 x
        !zunion 2 z1 z2 aggregate avg
        !zdiff 2 z1 z2 weights 1 1
        !zdiff 2 z1 z2 aggregate min
        !zunionstore out 2 z1 z2 withscores
        !zintercard 0 z1
        !zintercard 1 z1 limit -1
        !zintercard 1 z1 withscores
        !zunionstore out 0 z1
        set str x
        !zunion 2 z1 str
        !zunionstore out 1 str
        !zintercard 1 str limit -1
        "#,
    );
    // RESP3: scores are doubles, WITHSCORES pairs nested.
    p.script(
        r#"
        ?hello 3
        zunion 2 z1 z2 withscores
        zinter 2 z1 z2 weights 0.5 0.5 withscores
        zdiff 2 z2 z1 withscores
        zunion 2 z1 z2
        zrangestore out z1 0 -1
        zrange out 0 -1 withscores
        sort out by nosort
        bitfield bf set u8 0 255 get i8 0
        object help
        "#,
    );
}

#[test]
fn set_intercard() {
    let mut p = Pair::new();
    p.script(
        r#"
        sadd a 1 2 3 4
        sadd b 2 3 4 5
        sintercard 2 a b
        sintercard 2 a b limit 2
        sintercard 2 a b limit 0
        sintercard 2 a nokey
        sintercard 1 a
        !sintercard 0 a
        !sintercard abc a
        !sintercard 3 a b
        !sintercard 1 a limit -1
        !sintercard 1 a limit x
        !sintercard 1 a foo
        set str x
        !sintercard 1 str
        sinterstore d a b
        smembers d
        smove a b 1
        sismember b 1
        "#,
    );
}

#[test]
fn bits() {
    let mut p = Pair::new();
    p.script(
        r#"
        setbit b 7 1
        get b
        setbit b 7 0
        setbit b 100 1
        strlen b
        getbit b 100
        getbit b 101
        getbit b 100000
        getbit nokey 3
        !setbit b -1 1
        !setbit b 4294967296 1
        !setbit b 1 2
        !setbit b x 1
        !getbit b -1
        set s foobar
        bitcount s
        bitcount s 0 0
        bitcount s 1 1
        bitcount s 1 -2
        bitcount s -100 100
        bitcount s 5 1
        bitcount s -1 -2
        bitcount s 5 30 bit
        bitcount s 0 -1 bit
        bitcount s 3 3 bit
        bitcount s 1 1 byte
        bitcount nokey
        bitcount nokey 0 5
        !bitcount s 0
        !bitcount s 0 1 bits
        !bitcount s a b
        set z "\xff\xf0\x00"
        bitpos z 0
        bitpos z 1
        bitpos z 0 2
        bitpos z 1 2
        bitpos z 0 0 0
        bitpos z 1 -1
        bitpos z 0 7 15 bit
        bitpos z 1 7 15 bit
        bitpos z 0 0 3 bit
        bitpos z 1 12 -1 bit
        bitpos z 0 0 1
        set ones "\xff\xff"
        bitpos ones 0
        bitpos ones 0 0
        bitpos ones 0 0 -1
        bitpos ones 0 0 1 bit
        bitpos ones 1 5 3
        bitpos nokey 0
        bitpos nokey 1
        set empty ""
        bitpos empty 0
        bitpos empty 1
        !bitpos z 2
        !bitpos z 1 0 1 bad
        set k1 foobar
        set k2 abcdef
        bitop and dest k1 k2
        get dest
        bitop or dest k1 k2 nokey
        get dest
        bitop xor dest k1 k2
        get dest
        bitop not dest k1
        get dest
        set short ab
        bitop or dest k1 short
        get dest
        bitop and dest nokey nokey2
        exists dest
        !bitop not dest k1 k2
        !bitop nand dest k1
        lpush lst x
        !bitop and dest k1 lst
        !setbit lst 0 1
        !bitcount lst
        "#,
    );
}

#[test]
fn bitfield() {
    let mut p = Pair::new();
    p.script(
        r#"
        bitfield bf set i8 0 100 get i8 0
        bitfield bf incrby i8 0 100
        bitfield bf overflow sat incrby i8 0 100
        bitfield bf overflow fail incrby i8 0 100
        bitfield bf get i8 0
        bitfield bf overflow sat incrby i8 0 -300
        bitfield bf set u4 #1 15 get u4 #1 get u4 4 get u8 0
        bitfield bf overflow wrap set u4 0 20 get u4 0
        bitfield bf overflow sat set u4 0 20 get u4 0
        bitfield bf overflow sat set u4 0 -1 get u4 0
        bitfield bf overflow wrap set i4 0 -20 get i4 0
        bitfield bf overflow fail set u2 0 7
        bitfield bf incrby u2 100 1 incrby u2 100 1 incrby u2 100 1 incrby u2 100 1
        bitfield bf set i64 0 -1 get i64 0 get u63 0
        bitfield bf overflow wrap incrby i64 0 -9223372036854775808
        bitfield bf overflow sat incrby i64 0 -9223372036854775807
        bitfield bf get u1 0 get i1 0 get i32 3
        get bf
        bitfield nokey get u8 0 get i16 100
        exists nokey
        bitfield nokey
        bitfield_ro bf get u8 0 get i8 #2
        !bitfield_ro bf set u8 0 1
        !bitfield bf get u64 0
        !bitfield bf get i65 0
        !bitfield bf get x8 0
        !bitfield bf get i0 0
        !bitfield bf get u8 -1
        !bitfield bf get u8
        !bitfield bf set u8 0 x
        !bitfield bf overflow maybe
        !bitfield bf foo
        lpush lst x
        !bitfield lst get u8 0
        "#,
    );
}

#[test]
fn object_memory_wait() {
    let mut p = Pair::new();
    let long = "x".repeat(45);
    let big = "y".repeat(65);
    p.script(&format!(
        r#"
        set int 12345
        set neg -7
        set notint 0123
        set emb hello
        set raw {long}
        set e44 {e44}
        object encoding int
        object encoding neg
        object encoding notint
        object encoding emb
        object encoding raw
        object encoding e44
        object encoding nokey
        incr counter
        object encoding counter
        object refcount int
        object refcount counter
        object refcount raw
        object refcount nokey
        object idletime emb
        object idletime nokey
        !object freq emb
        object freq nokey
        object help
        hset h a 1
        object encoding h
        hset hbig f {big}
        object encoding hbig
        zadd z 1 a
        object encoding z
        zadd zbig 1 {big}
        object encoding zbig
        sadd si 1 2 3
        object encoding si
        !object encoding
        !object foo
        !object encoding a b
        ?memory usage emb
        ?memory usage h
        ?memory usage z samples 0
        memory usage nokey
        !memory usage emb samples
        !memory usage emb samples x
        !memory usage emb foo 1
        wait 0 0
        wait 1 10
        !wait x 0
        !wait 0 -1
        touch emb int nokey
        "#,
        e44 = "z".repeat(44),
    ));
    // Many fields turn a hash, sorted set or int set into the big encoding.
    for i in 0..513 {
        p.o.cmd(&format!("hset hmany f{i} v"));
        p.r.cmd(&format!("hset hmany f{i} v"));
    }
    for i in 0..129 {
        p.o.cmd(&format!("zadd zmany {i} m{i}"));
        p.r.cmd(&format!("zadd zmany {i} m{i}"));
    }
    for i in 0..513 {
        p.o.cmd(&format!("sadd smany {i}"));
        p.r.cmd(&format!("sadd smany {i}"));
    }
    p.script(
        r#"
        object encoding hmany
        object encoding zmany
        object encoding smany
        "#,
    );
}

/// Lists and non-integer sets: we announce Redis 7.2, which keeps small ones
/// as listpacks; the reference redis-server here may be 7.0 (quicklist /
/// hashtable), so these are checked against 7.2's documented behaviour.
#[test]
fn object_encoding_7_2_lists_and_sets() {
    let srv = common::start_ours(state::Config::default());
    let mut c = common::Conn::connect(srv.addr);
    use state::resp::Frame;
    let enc = |c: &mut common::Conn, k: &str| c.cmd(&format!("object encoding {k}"));
    c.cmd("rpush small a b c");
    assert_eq!(enc(&mut c, "small"), Frame::Bulk("listpack".into()));
    for _ in 0..100 {
        c.cmd(&format!("rpush big {}", "v".repeat(100)));
    }
    assert_eq!(enc(&mut c, "big"), Frame::Bulk("quicklist".into()));
    c.cmd("sadd sstr a b");
    assert_eq!(enc(&mut c, "sstr"), Frame::Bulk("listpack".into()));
    c.cmd(&format!("sadd slong {}", "w".repeat(65)));
    assert_eq!(enc(&mut c, "slong"), Frame::Bulk("hashtable".into()));
}

#[test]
fn sort() {
    let mut p = Pair::new();
    p.script(
        r#"
        rpush l 3 1 2 10 -5 2.5
        sort l
        sort l desc
        sort l limit 1 2
        sort l limit 1 -1
        sort l limit -1 2
        sort l limit 10 2
        sort l desc limit 0 3
        sort l alpha
        sort l alpha desc
        rpush words banana apple cherry
        sort words alpha
        !sort words
        sort words by nosort
        sort words by nosort limit 1 1
        sort words by nosort desc limit 0 2
        sort words by nosort desc
        mset w_banana 2 w_apple 3 w_cherry 1
        sort words by w_*
        sort words by w_* desc
        sort words by w_* get # get w_*
        sort words by w_* get nokey_* get #
        hset h_apple name A weight 9
        hset h_banana name B weight 1
        sort words by h_*->weight get h_*->name get #
        sort words by h_*->weight alpha
        sort words by missing_* alpha
        sort words by nosort get w_*
        sadd s 5 3 9 1
        sort s
        sort s desc limit 1 2
        ~sort s by nosort
        sort s by nosort store dst
        lrange dst 0 -1
        zadd z 3 c 1 a 2 b
        sort z alpha
        sort z by nosort limit 0 2
        sort z by nosort desc limit 0 2
        ~sort z by nosort
        sort l store out
        lrange out 0 -1
        sort words by w_* get # get w_* store out
        lrange out 0 -1
        sort words by w_* get nokey_* store out
        lrange out 0 -1
        sort nokey store out
        exists out
        sort nokey
        rpush ties 2 1 2 1
        sort ties
        sort ties desc
        rpush mixed 1 x 2
        !sort mixed
        rpush sp " 4" "" 3
        sort sp
        set str x
        !sort str
        !sort l limit 0
        !sort l foo
        !sort l limit a b
        sort_ro l desc
        !sort_ro l store out
        sort_ro words by w_* get w_*
        "#,
    );
}

/// Redis adds in 80-bit long double and prints `%.17Lf`: the exact strings
/// matter because clients store and compare them.
#[test]
fn float_increments() {
    let mut p = Pair::new();
    p.script(
        r#"
        set k 0.001474
        incrbyfloat k 0.004716
        set k 1000000.7
        incrbyfloat k 0.1
        set k 12345678.9
        incrbyfloat k 0.01
        set k 100
        incrbyfloat k 0.1
        incrbyfloat k -100.1
        incrbyfloat k 3.0e3
        incrbyfloat k 1.5e-20
        incrbyfloat n1 -0.0
        incrbyfloat n2 0x10
        incrbyfloat n2 0x1.8p1
        incrbyfloat n3 1e300
        incrbyfloat n3 1e300
        incrbyfloat n4 1e4000
        incrbyfloat n4 1e4000
        incrbyfloat n5 0.1
        incrbyfloat n5 0.2
        incrbyfloat n5 -0.30000000000000004
        !incrbyfloat k inf
        !incrbyfloat k abc
        !incrbyfloat k " 1"
        !incrbyfloat k 1e-5000
        !incrbyfloat k nan
        set bad inf
        !incrbyfloat bad 1
        hincrbyfloat h f 0.001474
        hincrbyfloat h f 0.004716
        hincrbyfloat h g 1000000.7
        hincrbyfloat h g 0.1
        hincrbyfloat h g -1000000.8
        !hincrbyfloat h f inf
        !hincrbyfloat h f abc
        hset h s inf x abc
        !hincrbyfloat h s 1
        !hincrbyfloat h x 1
        set str x
        !hincrbyfloat str f abc
        !hincrbyfloat str f 1
        !incrbyfloat str 1
        "#,
    );
}

/// The new writing commands publish the keyspace events Redis does, in order.
#[test]
fn notifications_of_new_commands() {
    use state::resp::Frame;
    use std::time::Duration;
    let p = Pair::new();
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut admin = common::Conn::connect(addr);
        admin.cmd("config set notify-keyspace-events KEA");
        let mut sub = common::Conn::connect(addr);
        sub.cmd("psubscribe __keyevent@0__:*");
        for c in [
            "zadd z1 1 a 2 b",
            "zadd z2 2 b 3 c",
            "zunionstore zu 2 z1 z2",
            "zinterstore zi 2 z1 z2",
            "zdiffstore zd 2 z1 z2",
            "zinterstore zd 2 z1 nokey",
            "zrangestore zr z1 0 -1",
            "zadd lex 0 a 0 b 0 c",
            "zremrangebylex lex [a [b",
            "setbit bits 3 1",
            "bitop or bits2 bits nokey",
            "bitfield bits incrby u8 0 1",
            "rpush l 3 1 2",
            "sort l store sorted",
            "sort nokey store sorted",
            "set f 1.5",
            "incrbyfloat f 1",
            "hincrbyfloat h f 1",
        ] {
            admin.cmd(c);
        }
        let mut events = Vec::new();
        while let Some(f) = sub.try_read(Duration::from_millis(300)) {
            if let Frame::Array(v) = f {
                events.push(format!("{:?} {:?}", v[2], v[3]));
            }
        }
        seen.push(events);
    }
    assert!(seen[0].len() > 15, "events arrived: {:?}", seen[0]);
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}

/// The log replays the new writing commands to the same state.
#[test]
fn new_writes_survive_restart() {
    let dir = testkit::TempDir::new("state-cmds");
    let cfg = state::Config {
        dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let reads = [
        "zrange zu 0 -1 withscores",
        "zrange zi 0 -1 withscores",
        "zrange zd 0 -1 withscores",
        "zrange zr 0 -1 withscores",
        "zrange lex 0 -1",
        "get bits",
        "get bits2",
        "lrange sorted 0 -1",
        "smembers sset",
        "lrange sset_sorted 0 -1",
        "get f",
        "hget h f",
    ];
    let before: Vec<_> = {
        let srv = common::start_ours(cfg.clone());
        let mut c = common::Conn::connect(srv.addr);
        for w in [
            "zadd z1 1 a 2 b",
            "zadd z2 2 b 3 c",
            "zunionstore zu 2 z1 z2 weights 2 3 aggregate max",
            "zinterstore zi 2 z1 z2",
            "zdiffstore zd 2 z1 z2",
            "zrangestore zr z1 0 0",
            "zadd lex 0 a 0 b 0 c",
            "zremrangebylex lex [a [b",
            "setbit bits 3 1",
            "bitfield bits set u8 8 200 overflow sat incrby u8 8 100",
            "bitop not bits2 bits",
            "rpush l 3 1 2",
            "sort l desc store sorted",
            "sadd sset x y z",
            "sort sset by nosort store sset_sorted",
            "incrbyfloat f 1000000.7",
            "incrbyfloat f 0.1",
            "hincrbyfloat h f 0.001474",
            "hincrbyfloat h f 0.004716",
        ] {
            assert!(!matches!(c.cmd(w), state::resp::Frame::Error(_)), "{w}");
        }
        reads.iter().map(|r| common::sorted(c.cmd(r))).collect()
    };
    let srv = common::start_ours(cfg);
    let mut c = common::Conn::connect(srv.addr);
    let after: Vec<_> = reads.iter().map(|r| common::sorted(c.cmd(r))).collect();
    assert_eq!(before, after);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn list_positions_and_inserts() {
    let mut p = Pair::new();
    p.script(
        r#"
        rpush l a b c b d b
        lpos l b
        lpos l b rank 2
        lpos l b rank -1
        lpos l b rank -2 count 0
        lpos l b count 0
        lpos l b count 2
        lpos l b count 0 maxlen 3
        lpos l b rank 2 maxlen 2
        lpos l nope
        lpos l nope count 0
        lpos nokey a
        lpos nokey a count 0
        !lpos l b rank 0
        !lpos l b count -1
        !lpos l b maxlen -1
        !lpos l b rank x
        !lpos l b foo
        linsert l before c X
        linsert l after d Y
        linsert l before nope Z
        lrange l 0 -1
        linsert nokey before a b
        !linsert l middle c X
        set s x
        !linsert s before a b
        !lpos s a
        hset h f hello
        hstrlen h f
        hstrlen h nope
        hstrlen nokey f
        touch h s nokey
        "#,
    );
}

/// Script errors name the script line, as Redis 7 does (`on @user_script:N.`).
/// (A library call in tail position, `return cjson.decode(x)`, loses the line
/// here: our libraries raise from a Lua wrapper, which a tail call replaces.)
#[test]
fn script_error_replies() {
    let mut p = Pair::new();
    p.script(
        r#"
        set str x
        eval "return x" 0
        eval "error('boom')" 0
        eval "local a = 1\nlocal b = 2\nreturn redis.call('incr', KEYS[1])" 1 str
        eval "return redis.call('nosuch')" 0
        eval "\n\nreturn redis.call('set')" 0
        eval "return redis.pcall('incr', KEYS[1])" 1 str
        eval "return redis.pcall('set')" 0
        eval "return redis.call('client', 'nosuch')" 0
        eval "return redis.call('blpop', 'q', 0)" 0
        eval "local x = 1\nlocal r = struct.unpack('i4', 'ab') return r" 0
        ?eval "return struct.unpack('i4', 'ab')" 0
        eval "local ok, e = pcall(struct.unpack, 'i4', 'ab') return {type(e), e:find('data string too short') ~= nil}" 0
        eval "local ok, e = pcall(cjson.decode, '[1') return {type(e), 'bad json: ' .. e ~= nil}" 0
        eval "local ok, e = pcall(struct.unpack, 'i4', 'ab') return tostring(ok)" 0
        ?eval "return cjson.decode('[1')" 0
        "#,
    );
}

/// Error-vs-success differences the command fuzzer (tests/command_fuzz.rs)
/// found against redis-server: argument order (key lookup before or after
/// parsing) and C-library number parsing (`strtod`, `strtoul`, `strtoull`).
#[test]
fn fuzz_regressions() {
    let mut p = Pair::new();
    p.script(
        r#"
        ~command list filterby pattern zsc*
        command list filterby module nosuch
        command list filterby aclcat nosuchcat
        !command list iset
        !command list filterby nosuch x
        !command list filterby pattern
        !xtrim fz:none bogus
        !xtrim fz:none maxlen 1 extra
        lindex fz:none notanint
        sadd fz:set a
        set fz:str x
        smove fz:none fz:str a
        !smove fz:set fz:str a
        getex fz:none ex notanint
        getex fz:none px 0
        !getex fz:str px 0
        !zrange fz:z +inf -inf byscore byscore
        !zrange fz:z 0 -1 rev rev
        !zrange fz:z - + bylex byscore
        zadd fz:z 1 a 2 b
        !zadd fz:z 1e309 c
        !zadd fz:z 1e-400 c
        zadd fz:z 0x10 c
        zscore fz:z c
        zcount fz:z ( 5
        zcount fz:z "" 5
        zcount fz:z " 1" +inf
        zcount fz:z 1e400 -1e400
        zcount fz:z "1\x00junk" +inf
        !zcount fz:z 1x +inf
        xadd fz:s " 1" f v
        xadd fz:s "+2" f v
        xrange fz:s " 1" +
        !xrange fz:s -1 +
        ?scan -1
        ?scan ""
        !scan " 1"
        !scan 18446744073709551616
        hscan fz:none 0 count 0
        hscan fz:none "" bogus
        sscan fz:none 0 count 0
        zscan fz:none "\x00" bogus
        !hscan fz:none x
        hrandfield fz:none -9223372036854775807
        zrandmember fz:none -9223372036854775807
        # LIMIT start + count overflowed (a panic with the store lock held).
        rpush fz:l 3 1 2
        sort fz:l limit 1 9223372036854775807
        sort fz:l by nosort limit 1 9223372036854775807
        sort fz:l desc limit 9223372036854775807 9223372036854775807
        sort fz:l limit -9223372036854775808 9223372036854775807
        # abs(i64::MIN) overflowed.
        rpush fz:l 1 1
        lrem fz:l -9223372036854775808 1
        lrange fz:l 0 -1
        "#,
    );
}
