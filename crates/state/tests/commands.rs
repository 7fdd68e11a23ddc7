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
