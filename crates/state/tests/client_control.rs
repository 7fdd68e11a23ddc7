//! CLIENT UNBLOCK, REPLY, PAUSE and UNPAUSE against redis-server 7.0: the
//! same commands go to both servers and the replies (and, for blocked and
//! paused clients, the order they arrive in) must match.

mod common;

use std::time::Duration;

use common::{Conn, Pair};
use state::resp::Frame;

/// Waits (bounded) until INFO reports `n` blocked clients.
fn wait_blocked(c: &mut Conn, n: usize) {
    common::wait_for(
        &format!("{n} blocked clients"),
        Duration::from_secs(10),
        || {
            let Frame::Bulk(info) = c.cmd("info clients") else {
                panic!("info")
            };
            String::from_utf8_lossy(&info).contains(&format!("blocked_clients:{n}\r\n"))
        },
    );
}

fn id_of(c: &mut Conn) -> i64 {
    match c.cmd("client id") {
        Frame::Integer(i) => i,
        f => panic!("client id answered {f:?}"),
    }
}

/// Every blocking command, released by CLIENT UNBLOCK with TIMEOUT (the
/// reply its timeout would give), the default (TIMEOUT), and ERROR.
#[test]
fn unblock_releases_blocked_clients_as_redis_does() {
    let mut p = Pair::new();
    p.script(
        r#"
        set str v
        xadd s 1-1 f v
        xgroup create s g $
        client unblock
        client unblock 1 timeout extra
        client unblock x
        client unblock 1 foo
        client unblock x foo
        client unblock -1
        client unblock 0
        client unblock 999999
        client unblock 999999 error
        "#,
    );
    let blocking = [
        "blpop q 0",
        "brpop q1 q2 0",
        "blmove q dst left right 0",
        "brpoplpush q dst 0",
        "bzpopmin z 0",
        "bzpopmax z 100",
        "blmpop 0 1 q left",
        "bzmpop 0 2 z1 z2 min count 3",
        "xread block 0 streams s $",
        "xreadgroup group g c block 0 streams s >",
    ];
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut ctl = Conn::connect(addr);
        let mut blocked = Conn::connect(addr);
        let id = id_of(&mut blocked);
        let mut got = Vec::new();
        // Not blocked: 0, also for the caller itself.
        got.push(ctl.cmd(&format!("client unblock {id}")));
        let me = id_of(&mut ctl);
        got.push(ctl.cmd(&format!("client unblock {me} error")));
        for cmd in blocking {
            for how in ["", " timeout", " TIMEOUT", " error", " Error"] {
                let args: Vec<Vec<u8>> = cmd.split(' ').map(|w| w.as_bytes().to_vec()).collect();
                blocked.send_args(&args);
                wait_blocked(&mut ctl, 1);
                got.push(ctl.cmd(&format!("client unblock {id}{how}")));
                got.push(blocked.read().expect("released client answered"));
                // Released: no longer blocked, a second UNBLOCK finds nothing,
                // and data arriving later is not taken by it.
                got.push(ctl.cmd(&format!("client unblock {id}")));
                wait_blocked(&mut ctl, 0);
            }
        }
        got.push(ctl.cmd("lpush q later"));
        got.push(ctl.cmd("lrange q 0 -1"));
        got.push(ctl.cmd("exists dst"));
        // Still a working connection.
        got.push(blocked.cmd("ping"));
        // RESP3: the timeout reply is RESP3's null.
        got.push(map_as_kind(blocked.cmd("hello 3")));
        blocked.send_raw(b"BLPOP nothing 0\r\n");
        wait_blocked(&mut ctl, 1);
        got.push(ctl.cmd(&format!("client unblock {id} timeout")));
        got.push(blocked.read().expect("released"));
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
    assert!(
        seen[0].contains(&Frame::Error(
            "UNBLOCKED client unblocked via CLIENT UNBLOCK".into()
        )),
        "{:?}",
        seen[0]
    );
}

/// A client blocked with a timeout and released by UNBLOCK does not get a
/// second answer when its timer would have fired; nor does a client served
/// before the UNBLOCK get a timeout reply.
#[test]
fn unblock_then_timer_answers_once() {
    let p = Pair::new();
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut ctl = Conn::connect(addr);
        let mut blocked = Conn::connect(addr);
        let id = id_of(&mut blocked);
        blocked.send_raw(b"BLPOP q 0.2\r\n");
        wait_blocked(&mut ctl, 1);
        let mut got = vec![ctl.cmd(&format!("client unblock {id} error"))];
        got.push(blocked.read().expect("released"));
        // Past the timer (0.2 s): no second answer arrives.
        assert_eq!(blocked.try_read(Duration::from_millis(500)), None);
        got.push(blocked.cmd("echo next"));
        // Served first, then UNBLOCK finds nothing.
        blocked.send_raw(b"BLPOP q 0\r\n");
        wait_blocked(&mut ctl, 1);
        got.push(ctl.cmd("rpush q a"));
        got.push(blocked.read().expect("served"));
        got.push(ctl.cmd(&format!("client unblock {id}")));
        got.push(blocked.cmd("echo after"));
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}

/// CLIENT REPLY OFF / ON / SKIP, pipelined as mass-insert tools send them:
/// everything muted is still run, the first reply after ON is its OK, and
/// pushes (pub/sub, RESP3 invalidations) are delivered while replies are
/// off, as redis-server 7.0 does.
#[test]
fn client_reply_mutes_replies_not_pushes() {
    let p = Pair::new();
    let mut seen = Vec::new();
    let script: &[&[u8]] = &[
        b"CLIENT REPLY OFF\r\nSET a 1\r\nINCR a\r\nUNKNOWNCMD\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n",
        b"CLIENT REPLY SKIP\r\nPING x\r\nPING y\r\n",
        b"CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING z\r\n",
        b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING 1\r\nPING 2\r\n",
        b"CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING 3\r\nCLIENT REPLY ON\r\nPING 4\r\n",
        b"CLIENT REPLY OFF\r\nRESET\r\nPING 5\r\n",
        b"CLIENT REPLY SKIP\r\nRESET\r\nPING 6\r\n",
        b"CLIENT REPLY foo\r\nCLIENT REPLY\r\nCLIENT REPLY on x\r\nPING 7\r\n",
        b"CLIENT REPLY SKIP\r\nEVAL \"return 1\" 0\r\nEVAL \"redis.call('client','reply','off')\" 0\r\n",
    ];
    for addr in [p.redis.addr, p.ours.addr] {
        let mut c = Conn::connect(addr);
        let mut other = Conn::connect(addr);
        let mut got = Vec::new();
        for s in script {
            c.send_raw(s);
            // Each batch ends in a command that answers: read until it.
            got.push(c.read().expect("reply"));
            while let Some(f) = c.try_read(Duration::from_millis(200)) {
                got.push(f);
            }
            got.push(Frame::Simple("--".into()));
        }
        // A blocked command after SKIP is muted when it is served.
        c.send_raw(b"CLIENT REPLY SKIP\r\nBLPOP q 0\r\n");
        wait_blocked(&mut other, 1);
        got.push(other.cmd("rpush q v"));
        wait_blocked(&mut other, 0);
        got.push(c.cmd("lrange q 0 -1"));
        // Pushes while replies are off.
        got.push(map_as_kind(c.cmd("hello 3")));
        c.send_raw(b"SUBSCRIBE ch\r\n");
        got.push(c.read().expect("subscribed"));
        c.send_raw(b"CLIENT TRACKING ON\r\n");
        got.push(c.read().expect("tracking"));
        got.push(c.cmd("get tk"));
        c.send_raw(b"CLIENT REPLY OFF\r\nPING\r\n");
        got.push(other.cmd("publish ch hi"));
        got.push(other.cmd("set tk 1"));
        got.push(c.read().expect("message while off"));
        got.push(c.read().expect("invalidation while off"));
        got.push(c.cmd("client reply on"));
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}

/// A map (HELLO's server details differ between the servers) as "map".
fn map_as_kind(f: Frame) -> Frame {
    match f {
        Frame::Map(_) => Frame::Simple("map".into()),
        f => f,
    }
}

#[test]
fn client_pause_arguments_as_redis() {
    let mut p = Pair::new();
    p.script(
        r#"
        client unpause
        client pause
        client pause x
        client pause -1
        client pause 1.5
        client pause 99999999999999999999
        client pause 10 foo
        client pause 10 write x
        client unpause x
        client pause 0
        client pause 0 write
        client pause 0 ALL
        client unpause
        "#,
    );
}

/// CLIENT PAUSE WRITE: writes and commands that may propagate (PUBLISH,
/// PFCOUNT, EVAL) wait, in the order they came, also the pausing client's
/// own; reads, EVAL_RO and a read-only EXEC run; expired keys are not
/// deleted meanwhile; a held client that disconnects does not hold up
/// the ones behind it; UNPAUSE releases them all.
#[test]
fn client_pause_write_holds_writes_in_order() {
    let p = Pair::new();
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut ctl = Conn::connect(addr);
        let mut reader = Conn::connect(addr);
        let mut got = vec![ctl.cmd("set e 1 px 1"), ctl.cmd("set k 0")];
        got.push(ctl.cmd("client pause 60000 write"));
        let mut held = Vec::new();
        let mut gone = Conn::connect(addr);
        for (n, cmd) in [
            "rpush l a",
            "rpush l b",
            "publish ch x",
            "pfcount h",
            "eval \"return redis.call('incr', KEYS[1])\" 1 k",
            "gone",
            "set k 5",
        ]
        .into_iter()
        .enumerate()
        {
            if cmd == "gone" {
                gone.send_raw(b"SET k 100\r\n");
            } else {
                let mut c = Conn::connect(addr);
                let args: Vec<Vec<u8>> = common_split(cmd);
                c.send_args(&args);
                held.push(c);
            }
            wait_blocked(&mut reader, n + 1);
        }
        // The one that disconnects leaves the queue.
        drop(gone);
        wait_blocked(&mut reader, 6);
        // Reads run meanwhile; the expired key is not deleted.
        std::thread::sleep(Duration::from_millis(300));
        for cmd in [
            "get k",
            "lrange l 0 -1",
            "eval_ro \"return redis.call('get', KEYS[1])\" 1 k",
            "dbsize",
            "multi",
            "get k",
            "exec",
            "ping",
        ] {
            got.push(reader.cmd(cmd));
        }
        // The pausing client's own writes wait too.
        ctl.send_raw(b"SET mine 1\r\n");
        wait_blocked(&mut reader, 7);
        assert_eq!(ctl.try_read(Duration::from_millis(200)), None);
        got.push(reader.cmd("client unpause"));
        got.push(ctl.read().expect("own write after unpause"));
        for c in &mut held {
            got.push(c.read().expect("held command ran"));
        }
        got.push(reader.cmd("lrange l 0 -1"));
        got.push(reader.cmd("get k"));
        wait_blocked(&mut reader, 0);
        common::wait_for("expired key deleted", Duration::from_secs(10), || {
            reader.cmd("dbsize") == Frame::Integer(4)
        });
        reader.cmd("flushall");
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}

/// CLIENT PAUSE ALL holds every command, the pausing client's own too,
/// until it ends by itself; then they run.
#[test]
fn client_pause_all_holds_everything_until_it_ends() {
    let p = Pair::new();
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut ctl = Conn::connect(addr);
        let mut other = Conn::connect(addr);
        let mut got = vec![ctl.cmd("client pause 3000")];
        other.send_raw(b"GET k\r\n");
        ctl.send_raw(b"CLIENT UNPAUSE\r\n");
        assert_eq!(other.try_read(Duration::from_millis(300)), None);
        assert_eq!(ctl.try_read(Duration::from_millis(100)), None);
        got.push(other.read().expect("after the pause"));
        got.push(ctl.read().expect("after the pause"));
        got.push(other.cmd("ping"));
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}

/// Splits a test command line as redis-cli would.
fn common_split(line: &str) -> Vec<Vec<u8>> {
    state::resp::split_args(line.as_bytes())
        .expect("test line parses")
        .into_iter()
        .map(|b| b.to_vec())
        .collect()
}

/// CLIENT UNBLOCK of a client held by CLIENT PAUSE answers 0 and leaves it
/// held, with TIMEOUT and ERROR alike; the command runs once the pause
/// ends and gets its one reply. Not compared with redis-server 7.0.15, which
/// stops ("Unknown btype in replyToBlockedClientTimedOut()") on TIMEOUT and
/// on ERROR sends the held client an UNBLOCKED error and later, for the same
/// command, its reply (one reply too many); valkey-io/valkey#2117 made both
/// answer 0, as here.
#[test]
fn unblock_leaves_a_paused_client_held() {
    let p = Pair::new();
    let mut ctl = Conn::connect(p.ours.addr);
    for mode in ["write", "all"] {
        let mut held = Conn::connect(p.ours.addr);
        let id = id_of(&mut held);
        let ms = if mode == "all" { 500 } else { 60000 };
        assert_eq!(
            ctl.cmd(&format!("client pause {ms} {mode}")),
            Frame::Simple("OK".into())
        );
        held.send_raw(b"SET k v\r\n");
        if mode == "write" {
            wait_blocked(&mut ctl, 1);
            for how in ["", " timeout", " error"] {
                assert_eq!(
                    ctl.cmd(&format!("client unblock {id}{how}")),
                    Frame::Integer(0),
                    "client unblock{how}"
                );
            }
            assert_eq!(held.try_read(Duration::from_millis(200)), None);
            assert_eq!(ctl.cmd("get k"), Frame::Null);
            assert_eq!(ctl.cmd("client unpause"), Frame::Simple("OK".into()));
        } else {
            // Under PAUSE ALL the UNBLOCK itself waits (as does any
            // UNPAUSE), as in Redis 7.0; it runs after the SET it names,
            // once the pause ends by itself.
            ctl.send_raw(format!("CLIENT UNBLOCK {id} ERROR\r\n").as_bytes());
            assert_eq!(held.try_read(Duration::from_millis(100)), None);
        }
        assert_eq!(held.read(), Some(Frame::Simple("OK".into())));
        if mode == "all" {
            assert_eq!(ctl.read(), Some(Frame::Integer(0)));
        }
        assert_eq!(held.cmd("ping"), Frame::Simple("PONG".into()));
        wait_blocked(&mut ctl, 0);
        ctl.cmd("del k");
    }
}

/// A WRITE pause holds scripts that may write, not the ones that cannot:
/// EVAL / EVALSHA of a script whose shebang says `flags=no-writes`, FCALL
/// of a function flagged `no-writes`, EVAL_RO and FCALL_RO run at once,
/// in a transaction too; a script with a shebang without `no-writes`, and
/// one without a shebang, wait for the pause, as in Redis 7.0.
#[test]
fn client_pause_write_runs_no_writes_scripts() {
    let p = Pair::new();
    let ro = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    let rw = "#!lua\nreturn redis.call('get', KEYS[1])";
    let lib = "#!lua name=lib\nredis.register_function{function_name='ro', callback=function(k) return redis.call('get', k[1]) end, flags={'no-writes'}}\nredis.register_function('rw', function(k) return redis.call('get', k[1]) end)";
    let eval = |body: &str| {
        vec![
            b"EVAL".to_vec(),
            body.as_bytes().to_vec(),
            b"1".to_vec(),
            b"k".to_vec(),
        ]
    };
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut ctl = Conn::connect(addr);
        let mut c = Conn::connect(addr);
        ctl.cmd("set k v");
        ctl.send_args(&[
            b"FUNCTION".to_vec(),
            b"LOAD".to_vec(),
            lib.as_bytes().to_vec(),
        ]);
        let mut got = vec![ctl.read().expect("function load")];
        ctl.send_args(&[b"SCRIPT".to_vec(), b"LOAD".to_vec(), ro.as_bytes().to_vec()]);
        let sha = match ctl.read() {
            Some(Frame::Bulk(sha)) => sha,
            other => panic!("script load: {other:?} ({got:?})"),
        };
        got.push(ctl.cmd("client pause 60000 write"));
        c.send_args(&eval(ro));
        got.push(c.read().expect("no-writes EVAL runs"));
        got.push(c.cmd(&format!("evalsha {} 1 k", String::from_utf8_lossy(&sha))));
        got.push(c.cmd("eval_ro \"return redis.call('get', KEYS[1])\" 1 k"));
        got.push(c.cmd("fcall ro 1 k"));
        got.push(c.cmd("fcall_ro ro 1 k"));
        got.push(c.cmd("multi"));
        c.send_args(&eval(ro));
        got.push(c.read().expect("queued"));
        got.push(c.cmd("fcall ro 1 k"));
        got.push(c.cmd("exec"));
        // These may write: held until the pause ends.
        let mut held = Vec::new();
        for (n, argv) in [
            eval(rw),
            eval("return redis.call('get', KEYS[1])"),
            common_split("fcall rw 1 k"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut h = Conn::connect(addr);
            h.send_args(&argv);
            wait_blocked(&mut ctl, n + 1);
            held.push(h);
        }
        got.push(ctl.cmd("client unpause"));
        for h in &mut held {
            got.push(h.read().expect("held script ran"));
        }
        wait_blocked(&mut ctl, 0);
        ctl.cmd("function flush");
        ctl.cmd("script flush");
        ctl.cmd("flushall");
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}

/// The `field:value` of an INFO line, or "" if INFO has no such field.
fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let Frame::Bulk(b) = c.cmd(&format!("info {section}")) else {
        panic!("info")
    };
    String::from_utf8_lossy(&b)
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or("")
        .to_string()
}

/// During a CLIENT PAUSE a key whose TTL has passed reads as missing but is
/// not deleted, as in Redis 7.0: DBSIZE, INFO keyspace and `expired_keys`
/// stay as they were until the pause ends; then it goes.
#[test]
fn client_pause_keeps_expired_keys_until_it_ends() {
    let p = Pair::new();
    let mut seen = Vec::new();
    for addr in [p.redis.addr, p.ours.addr] {
        let mut c = Conn::connect(addr);
        let mut got = vec![
            c.cmd("config set hz 1"),
            c.cmd("config resetstat"),
            c.cmd("set keep 1"),
            c.cmd("set gone v px 1"),
            c.cmd("rpush l a"),
            c.cmd("pexpire l 1"),
            c.cmd("client pause 60000 write"),
        ];
        // Past both TTLs (the pause holds the server's own expiry).
        common::wait_for("TTLs passed", Duration::from_secs(5), || {
            c.cmd("pttl gone") == Frame::Integer(-2) && c.cmd("pttl l") == Frame::Integer(-2)
        });
        for cmd in [
            "get gone",
            "exists gone l",
            "ttl gone",
            "pttl l",
            "type gone",
            "strlen gone",
            "lrange l 0 -1",
            "llen l",
            "keys *",
            "scan 0",
            "get gone",
            "dbsize",
        ] {
            got.push(c.cmd(cmd));
        }
        got.push(Frame::Simple(info_field(&mut c, "keyspace", "db0")));
        got.push(Frame::Simple(info_field(&mut c, "stats", "expired_keys")));
        got.push(c.cmd("client unpause"));
        got.push(c.cmd("get gone"));
        got.push(c.cmd("llen l"));
        common::wait_for("expired keys deleted", Duration::from_secs(10), || {
            c.cmd("dbsize") == Frame::Integer(1)
        });
        got.push(Frame::Simple(info_field(&mut c, "stats", "expired_keys")));
        got.push(c.cmd("config set hz 10"));
        c.cmd("flushall");
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "redis-server vs bigstep state");
}
