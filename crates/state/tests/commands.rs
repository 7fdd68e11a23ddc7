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
