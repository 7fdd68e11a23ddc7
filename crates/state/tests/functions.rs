//! Redis 7 functions against redis-server: FUNCTION LOAD / LIST / DELETE /
//! FLUSH / DUMP / RESTORE / STATS / KILL / HELP, FCALL and FCALL_RO, with the
//! same replies in RESP2 and RESP3, errors included; payloads from either
//! server restore on the other; libraries survive a restart from the log and
//! its rewrite.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{start_ours, wait_for, Conn, Pair};
use state::resp::Frame;

/// Sorts, at every depth, arrays whose elements are all aggregates: Redis
/// lists libraries and their functions in hash order, which differs from
/// run to run even on redis-server itself.
fn norm(f: Frame) -> Frame {
    match f {
        Frame::Array(v) => {
            let mut v: Vec<Frame> = v.into_iter().map(norm).collect();
            if !v.is_empty()
                && v.iter()
                    .all(|x| matches!(x, Frame::Array(_) | Frame::Map(_)))
            {
                v.sort_by_key(|x| format!("{x:?}"));
            }
            Frame::Array(v)
        }
        Frame::Map(m) => Frame::Map(m.into_iter().map(|(k, v)| (k, norm(v))).collect()),
        other => other,
    }
}

/// The same command to both, replies compared after [`norm`].
fn check_norm(p: &mut Pair, line: &str) -> Frame {
    let a = norm(p.r.cmd(line));
    let b = norm(p.o.cmd(line));
    assert_eq!(a, b, "command `{line}`: redis-server vs bigstep state");
    a
}

fn args(c: &mut Conn, a: &[&[u8]]) -> Frame {
    c.send_args(&a.iter().map(|x| x.to_vec()).collect::<Vec<_>>());
    c.read().expect("reply")
}

fn bulk(f: Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

/// Redis's crc64 (Jones, reflected), to build payloads with a valid footer.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A payload body with RDB version 10 and its checksum.
fn payload(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(&10u16.to_le_bytes());
    let c = crc64(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

const LIB: &str = r##""#!lua name=mylib\nredis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)\nredis.register_function{function_name='f2', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}""##;

const ERRLIB: &str = r##""#!lua name=t\nlocal function helper() return 'h' end\nredis.register_function('ok', function(k, a) return helper() end)\nredis.register_function('boom', function(k, a) return nosuch end)\nredis.register_function('err', function(k, a) return redis.call('incr', 'str') end)\nredis.register_function('perr', function(k, a) return redis.pcall('incr', 'str') end)\nredis.register_function('errtab', function(k, a) return redis.error_reply('MY custom') end)\nredis.register_function('rt', function(k, a) error('plain') end)\nredis.register_function{function_name='ro', callback=function(k, a) return redis.call('set', 'x', 1) end, flags={'no-writes'}}\nredis.register_function{function_name='all', callback=function(k, a) return {k, a, 1, 2.5, false, true, {ok='fine'}} end, flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}\nredis.register_function('glob', function() y = 1 end)""##;

fn body(p: &mut Pair) {
    p.script(&format!(
        r##"
        function flush
        function list
        function stats
        function dump
        function load {LIB}
        function stats
        fcall f1 1 k v
        get k
        fcall F1 1 k v2
        fcall_ro f2 1 k
        fcall f2 1 k
        fcall_ro f1 1 k v
        fcall nosuch 0
        fcall f1 x
        fcall f1 -1
        fcall f1 5 a
        fcall f1 1.5 a b
        fcall
        fcall f1
        fcall_ro nosuch 0
        function load {LIB}
        function load replace {LIB}
        function load REPLACE {LIB}
        function load bogus {LIB}
        function load replace
        function load replace x y
        function load {ERRLIB}
        set str abc
        fcall ok 0
        fcall boom 0
        fcall err 0
        fcall perr 0
        fcall errtab 0
        fcall rt 0
        fcall ro 0
        fcall_ro ro 0
        fcall all 2 a b c d
        fcall_ro all 1 a b
        fcall glob 0
        function stats
        # libraries refused whole, with Redis's words
        function load "#!lua name=x\nredis.register_function('z', function() end) syntax error"
        function load "#!lua name=x\nredis.register_function('z', function() end)\nredis.register_function('z', function() end)"
        function load "#!lua name=x\nredis.register_function('z', function() end)\nredis.register_function('F1', function() end)"
        fcall z 0
        function load "#!lua name=x\nredis.call('set','x',1)"
        function load "#!lua name=x\nredis.register_function('f')"
        function load "#!lua name=x\nredis.register_function('f', 1)"
        function load "#!lua name=x\nredis.register_function(1)"
        function load "#!lua name=x\nredis.register_function('f', function() end, 3)"
        function load "#!lua name=x\nredis.register_function()"
        function load "#!lua name=x\nredis.register_function({{function_name='f'}})"
        function load "#!lua name=x\nredis.register_function({{callback=function() end}})"
        function load "#!lua name=x\nredis.register_function({{function_name='f', callback=function() end, flags={{'bad'}}}})"
        function load "#!lua name=x\nredis.register_function({{function_name='f', callback=function() end, flags='no-writes'}})"
        function load "#!lua name=x\nredis.register_function({{function_name='f', callback=function() end, other=1}})"
        function load "#!lua name=x\nredis.register_function({{function_name={{}}, callback=function() end}})"
        function load "#!lua name=x\nredis.register_function({{function_name='f', callback=1}})"
        function load "#!lua name=x\nredis.register_function({{function_name='f', callback=function() end, description={{}}}})"
        function load "#!lua name=x\nredis.register_function('bad-name', function() end)"
        function load "#!lua name=x\nredis.register_function('', function() end)"
        function load "#!lua name=x\nx = 5"
        function load "#!lua name=x\nlocal v = string.format('%d', 1)"
        function load "#!lua name=x\nlocal v = redis.sha1hex('a')"
        function load "#!lua name=x\nredis.log(1)"
        function load "#!lua name=x\nlocal a = 1"
        function load "#!lua name=bad-lib\nredis.register_function('q', function() end)"
        function load "#!lua name=\nredis.register_function('q', function() end)"
        function load "#!lua name=a name=b\nredis.register_function('q', function() end)"
        function load "#!lua name=a foo=bar\nredis.register_function('q', function() end)"
        function load "#!lua\nredis.register_function('q', function() end)"
        function load "#!lua name=nonl"
        function load "#!python name=py\nredis.register_function('q', function() end)"
        function load "no shebang"
        function load ""
        function stats
        # a library's top level sees only the load API
        function load "#!LUA name=up\nredis.log(redis.LOG_WARNING, 'loading')\nlocal v = redis.REDIS_VERSION_NUM\nredis.register_function('v', function() return redis.REDIS_VERSION end)\nredis.register_function{{function_name=2, callback=function() return redis.setresp ~= nil end, description=3}}"
        ?fcall v 0
        fcall 2 0
        function delete up
        function delete up
        function delete nosuch
        function delete MYLIB
        fcall 2 0
        # argument errors
        function list bad
        function list libraryname
        function list withcode withcode
        function list libraryname a libraryname b
        function stats extra
        function restore
        function dump extra
        function kill
        function kill x
        function flush bad
        function flush sync extra
        function flush sync
        function flush async
        function flush
        function stats
        function help
        function nosuch
        function
        function load {LIB}
        function restore x badpolicy
        function restore x flush extra
        function restore "short"
        function restore "0123456789abcdef"
        "##
    ));
}

fn lists(p: &mut Pair) {
    for line in [
        "function list",
        "function list withcode",
        "function list libraryname my*",
        "function list libraryname MY*",
        "function list libraryname nomatch withcode",
        "function list withcode libraryname t",
    ] {
        check_norm(p, line);
    }
}

#[test]
fn function_commands_match_redis() {
    let mut p = Pair::new();
    for proto in ["2", "3"] {
        p.script(&format!("?hello {proto}"));
        body(&mut p);
        p.script(&format!("function load {ERRLIB}"));
        lists(&mut p);
    }
}

#[test]
fn restore_payload_errors_match_redis() {
    let mut p = Pair::new();
    for proto in ["2", "3"] {
        p.script(&format!("?hello {proto}\nfunction flush"));
        let lib = b"#!lua name=pl\nredis.register_function('pf', function() return 7 end)";
        let body: &[u8] = b"redis.register_function('pre', function() return 8 end)";
        let mut good = vec![0xf5, lib.len() as u8];
        good.extend_from_slice(lib);
        let mut two = good.clone();
        two.extend_from_slice(&good);
        let mut newer = good.clone();
        newer.extend_from_slice(&11u16.to_le_bytes());
        let c = crc64(&newer);
        newer.extend_from_slice(&c.to_le_bytes());
        let mut badcrc = payload(&good);
        *badcrc.last_mut().unwrap() ^= 1;
        let cases: Vec<Vec<u8>> = vec![
            payload(&[0x00, 1, b'a']),
            // The release candidates' format, which 7.0 still reads.
            payload(&[0xf6, 1, b'a']),
            payload(&[0xf6]),
            payload(&[0xf6, 0x80, 0xff, 0xff, 0xff, 0xff]),
            payload(&[0xf6, 2, b'p', b'g', 3, b'L', b'U', b'A']),
            payload(&[0xf6, 2, b'p', b'g', 3, b'L', b'U', b'A', 0]),
            payload(&[
                0xf6, 2, b'p', b'g', 3, b'L', b'U', b'A', 0x80, 0xff, 0xff, 0xff, 0xff,
            ]),
            payload(&[0xf6, 2, b'p', b'g', 2, b'p', b'y', 0, 1, b'x']),
            payload(
                &[
                    &[
                        0xf6,
                        3,
                        b'p',
                        b'r',
                        b'e',
                        3,
                        b'L',
                        b'U',
                        b'A',
                        1,
                        1,
                        b'd',
                        body.len() as u8,
                    ][..],
                    body,
                ]
                .concat(),
            ),
            payload(&[0xf5, 0x80, 0xff, 0xff, 0xff, 0xff]),
            payload(&[0xf5, 0xc3, 2, 0x80, 0xff, 0xff, 0xff, 0xff, 0, b'a']),
            payload(&[0xf5, 5, b'#', b'!', b'l', b'u', b'a']),
            payload(&two),
            newer,
            badcrc,
            payload(&good),
            payload(&good),
        ];
        for case in &cases {
            let a = args(&mut p.r, &[b"function", b"restore", case]);
            let b = args(&mut p.o, &[b"function", b"restore", case]);
            assert_eq!(a, b, "FUNCTION RESTORE {case:?}");
        }
        for policy in [&b"append"[..], b"REPLACE", b"flush"] {
            let case = payload(&good);
            let a = args(&mut p.r, &[b"function", b"restore", &case, policy]);
            let b = args(&mut p.o, &[b"function", b"restore", &case, policy]);
            assert_eq!(a, b, "FUNCTION RESTORE ... {policy:?}");
        }
        p.script("fcall pf 0\nfcall pre 0");
        check_norm(&mut p, "function list withcode");
    }
}

#[test]
fn dumps_restore_across_servers() {
    let mut p = Pair::new();
    let setup = format!("function flush\nfunction load {LIB}\nfunction load {ERRLIB}");
    p.script(&setup);
    // redis-server's payload (LZF-compressed strings) restores here...
    let from_redis = bulk(p.r.cmd("function dump"));
    p.script("function flush");
    assert_eq!(p.r.cmd("function list"), Frame::Array(vec![]));
    assert_eq!(
        args(&mut p.o, &[b"function", b"restore", &from_redis]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        args(&mut p.r, &[b"function", b"restore", &from_redis]),
        Frame::Simple("OK".into())
    );
    check_norm(&mut p, "function list withcode");
    p.script("fcall f1 1 k v\nfcall_ro f2 1 k");
    // ...and ours restores there.
    let from_ours = bulk(p.o.cmd("function dump"));
    p.script("function flush");
    for c in [&mut p.r, &mut p.o] {
        assert_eq!(
            args(c, &[b"function", b"restore", &from_ours]),
            Frame::Simple("OK".into())
        );
    }
    check_norm(&mut p, "function list withcode");
    // Policies against a library already there, on each server's own payload.
    p.script(&format!("function flush\nfunction load {LIB}"));
    let rp = bulk(p.r.cmd("function dump"));
    let op = bulk(p.o.cmd("function dump"));
    for policy in [&b"append"[..], b"replace", b"flush"] {
        let a = args(&mut p.r, &[b"function", b"restore", &rp, policy]);
        let b = args(&mut p.o, &[b"function", b"restore", &op, policy]);
        assert_eq!(a, b, "restore policy {policy:?}");
    }
    // A payload whose library clashes on a function name with another
    // library refuses the whole payload, even with REPLACE.
    p.script("function flush\nfunction load \"#!lua name=other\\nredis.register_function('f1', function() return 1 end)\"");
    let a = args(&mut p.r, &[b"function", b"restore", &rp, b"replace"]);
    let b = args(&mut p.o, &[b"function", b"restore", &op, b"replace"]);
    assert_eq!(a, b);
    check_norm(&mut p, "function list withcode");
}

fn tmpdir(name: &str) -> testkit::TempDir {
    testkit::TempDir::new(&format!("functions-{name}"))
}

fn with_dir(dir: &Path) -> state::Config {
    state::Config {
        dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

#[test]
fn functions_survive_restart_and_rewrite() {
    let dir = tmpdir("aof");
    let listed;
    {
        let srv = start_ours(with_dir(&dir));
        let mut c = Conn::connect(srv.addr);
        assert_eq!(
            c.cmd(&format!("function load {LIB}")),
            Frame::Bulk("mylib".into())
        );
        c.cmd(&format!("function load {ERRLIB}"));
        c.cmd("function delete t");
        assert_eq!(c.cmd("fcall f1 1 k v1"), Frame::Simple("OK".into()));
        listed = c.cmd("function list withcode");
    }
    // Restart: the log replays the library, FCALL works.
    {
        let srv = start_ours(with_dir(&dir));
        let mut c = Conn::connect(srv.addr);
        assert_eq!(c.cmd("function list withcode"), listed);
        assert_eq!(c.cmd("fcall_ro f2 1 k"), Frame::Bulk("v1".into()));
        assert_eq!(c.cmd("fcall f1 1 k v2"), Frame::Simple("OK".into()));
        // The rewrite writes the libraries first.
        assert_eq!(
            c.cmd("bgrewriteaof"),
            Frame::Simple("Background append only file rewriting started".into())
        );
        let log = dir.join("appendonly.aof");
        wait_for("the rewritten log", Duration::from_secs(20), || {
            std::fs::read(&log)
                .map(|d| d.starts_with(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n"))
                .unwrap_or(false)
        });
        assert_eq!(c.cmd("fcall f1 1 k v3"), Frame::Simple("OK".into()));
    }
    {
        let srv = start_ours(with_dir(&dir));
        let mut c = Conn::connect(srv.addr);
        assert_eq!(c.cmd("function list withcode"), listed);
        assert_eq!(c.cmd("fcall_ro f2 1 k"), Frame::Bulk("v3".into()));
        // FLUSH is logged too.
        assert_eq!(c.cmd("function flush"), Frame::Simple("OK".into()));
    }
    {
        let srv = start_ours(with_dir(&dir));
        let mut c = Conn::connect(srv.addr);
        assert_eq!(c.cmd("function list"), Frame::Array(vec![]));
        assert_eq!(c.cmd("get k"), Frame::Bulk("v3".into()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
