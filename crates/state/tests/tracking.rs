//! CLIENT TRACKING against redis-server: the subcommands and their errors in
//! RESP2 and RESP3, the invalidation messages (RESP3 pushes, BCAST prefixes,
//! OPTIN/OPTOUT, NOLOOP, REDIRECT to a RESP2 client over
//! `__redis__:invalidate`, FLUSHALL), read as raw RESP from both servers;
//! and redis-py's client-side cache on top of it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{start_ours, start_redis, Conn, Pair};
use state::resp::Frame;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec().into())
}

fn invalidate(keys: &[&str]) -> Frame {
    Frame::Push(vec![
        bulk("invalidate"),
        Frame::Array(keys.iter().map(|k| bulk(k)).collect()),
    ])
}

#[test]
fn subcommands_and_errors_match_redis() {
    let mut p = Pair::new();
    for proto in ["2", "3"] {
        p.script(&format!(
            r#"
            ?hello {proto}
            client getredir
            client trackinginfo
            client tracking on
            client getredir
            client trackinginfo
            client tracking off
            client getredir
            client trackinginfo
            client tracking on prefix a
            client tracking on bcast optin
            client tracking on bcast optout
            client tracking on optin optout
            client tracking on redirect 999999
            client tracking on redirect abc
            client tracking on redirect -1
            client tracking maybe
            client tracking on foo
            client tracking on prefix
            client tracking
            client caching yes
            client caching no
            client tracking on optin
            client caching no
            client caching maybe
            client caching yes
            client trackinginfo
            client trackinginfo
            client tracking on optout
            client tracking on bcast
            client tracking on optin noloop
            client trackinginfo
            client tracking off
            client tracking on optout
            client caching yes
            client caching no
            client trackinginfo
            client tracking off
            client tracking on bcast prefix a prefix ab
            client tracking on bcast prefix ab prefix a
            client tracking on bcast prefix b prefix a
            client trackinginfo
            client tracking on bcast prefix abc
            client tracking on bcast prefix c noloop
            client trackinginfo
            client tracking on
            client tracking off
            client tracking on bcast
            client trackinginfo
            client tracking on bcast prefix x
            client tracking off
            client trackinginfo
            client caching yes
            "#
        ));
    }
}

/// Runs `body` on a fresh pair of connections to each server, RESP3.
fn each(body: impl Fn(&mut Conn, &mut Conn) -> Vec<Frame>) {
    let redis = start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let mut got = Vec::new();
    for addr in [redis.addr, ours.addr] {
        let mut tracker = Conn::connect(addr);
        let mut writer = Conn::connect(addr);
        tracker.cmd("hello 3");
        writer.cmd("flushall");
        got.push(body(&mut tracker, &mut writer));
    }
    assert_eq!(got[0], got[1], "redis-server vs bigstep state");
    assert!(!got[0].is_empty());
}

/// Reads the next frame, or None if nothing comes soon.
fn next(c: &mut Conn) -> Option<Frame> {
    c.try_read(Duration::from_millis(300))
}

#[test]
fn default_mode_invalidates_what_was_read_once() {
    each(|t, w| {
        let mut seen = vec![t.cmd("client tracking on")];
        w.cmd("set k v");
        seen.push(t.cmd("get k"));
        seen.push(t.cmd("mget k other"));
        w.cmd("set k v2");
        // One message for the key, although it was read twice.
        seen.push(t.read().expect("invalidation"));
        w.cmd("set k v3");
        w.cmd("set other x");
        // Not read again: nothing more for k; `other` was read by MGET.
        seen.push(t.read().expect("invalidation of other"));
        seen.push(t.cmd("ping"));
        // Writes of any kind, expiry and deletion invalidate.
        t.cmd("get k");
        w.cmd("expire k 100");
        seen.push(t.read().expect("expire"));
        t.cmd("hgetall h");
        w.cmd("hset h f v");
        seen.push(t.read().expect("hset"));
        t.cmd("get k");
        w.cmd("del k");
        seen.push(t.read().expect("del"));
        // FLUSHALL: a null key list.
        t.cmd("get k");
        w.cmd("flushall");
        seen.push(t.read().expect("flushall"));
        // Its own write, without NOLOOP: told too (after or before the reply).
        t.cmd("get k");
        let mut mine = vec![t.cmd("set k mine"), next(t).expect("own invalidation")];
        mine.sort_by_key(|f| format!("{f:?}"));
        seen.extend(mine);
        assert_eq!(seen[3], invalidate(&["k"]));
        seen
    });
}

#[test]
fn noloop_optin_optout() {
    each(|t, w| {
        let mut seen = vec![t.cmd("client tracking on noloop")];
        t.cmd("get k");
        seen.push(t.cmd("set k mine"));
        seen.push(next(t).unwrap_or(Frame::Simple("nothing".into())));
        seen.push(t.cmd("client tracking off"));
        // OPTIN: only the read right after CLIENT CACHING yes is tracked.
        seen.push(t.cmd("client tracking on optin"));
        t.cmd("get a");
        t.cmd("client caching yes");
        t.cmd("get b");
        t.cmd("get c");
        w.cmd("mset a 1 b 2 c 3");
        seen.push(t.read().expect("b"));
        seen.push(next(t).unwrap_or(Frame::Simple("nothing".into())));
        seen.push(t.cmd("client tracking off"));
        // OPTOUT: everything except the read right after CLIENT CACHING no.
        seen.push(t.cmd("client tracking on optout"));
        t.cmd("client caching no");
        t.cmd("get a");
        t.cmd("get b");
        w.cmd("mset a 1 b 2");
        seen.push(t.read().expect("b"));
        seen.push(next(t).unwrap_or(Frame::Simple("nothing".into())));
        assert_eq!(seen[5], invalidate(&["b"]));
        seen
    });
}

#[test]
fn bcast_prefixes() {
    each(|t, w| {
        let mut seen = vec![t.cmd("client tracking on bcast prefix user: prefix cfg:")];
        // Nothing read, yet announced: one message per command with its keys.
        w.cmd("mset user:1 a other b cfg:x c");
        seen.push(t.read().expect("bcast"));
        w.cmd("set other 2");
        w.cmd("del user:1");
        seen.push(t.read().expect("del"));
        seen.push(next(t).unwrap_or(Frame::Simple("nothing".into())));
        seen.push(t.cmd("client tracking off"));
        seen.push(t.cmd("client tracking on bcast"));
        w.cmd("incr n");
        seen.push(t.read().expect("every key"));
        seen
    });
}

#[test]
fn redirect_to_a_resp2_subscriber_and_to_a_resp3_client() {
    let redis = start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let mut got = Vec::new();
    for addr in [redis.addr, ours.addr] {
        let mut seen = Vec::new();
        let mut t = Conn::connect(addr);
        let mut w = Conn::connect(addr);
        let mut sink = Conn::connect(addr);
        let Frame::Integer(id) = sink.cmd("client id") else {
            panic!("client id")
        };
        seen.push(sink.cmd("subscribe __redis__:invalidate"));
        seen.push(t.cmd(&format!("client tracking on redirect {id}")));
        seen.push(t.cmd("client trackinginfo").pipe_redirect(id));
        t.cmd("get k");
        w.cmd("set k v");
        seen.push(sink.read().expect("message"));
        w.cmd("flushall");
        seen.push(sink.read().expect("flush message"));
        // A RESP3 target gets pushes.
        let mut sink3 = Conn::connect(addr);
        sink3.cmd("hello 3");
        let Frame::Integer(id3) = sink3.cmd("client id") else {
            panic!("client id")
        };
        seen.push(t.cmd(&format!("client tracking on redirect {id3}")));
        t.cmd("get k");
        w.cmd("set k v");
        seen.push(sink3.read().expect("push"));
        seen.push(next(&mut t).unwrap_or(Frame::Simple("nothing".into())));
        got.push(seen);
    }
    assert_eq!(got[0], got[1], "redis-server vs bigstep state");
}

/// The REDIRECT client disconnects: each invalidation that would have gone
/// to it becomes a `tracking-redir-broken <id>` push to the tracking client
/// (RESP3), every time; a RESP2 tracking client hears nothing and its next
/// reply is just its own.
#[test]
fn a_redirect_client_that_left_is_reported_to_resp3_trackers() {
    let redis = start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let mut got = Vec::new();
    for addr in [redis.addr, ours.addr] {
        let mut seen = Vec::new();
        let mut t3 = Conn::connect(addr);
        let mut t2 = Conn::connect(addr);
        let mut w = Conn::connect(addr);
        t3.cmd("hello 3");
        let mut sink = Conn::connect(addr);
        let Frame::Integer(id) = sink.cmd("client id") else {
            panic!("client id")
        };
        for t in [&mut t3, &mut t2] {
            seen.push(t.cmd(&format!("client tracking on redirect {id}")));
            t.cmd("get k");
        }
        drop(sink);
        common::wait_for(
            "the redirect client to be gone",
            Duration::from_secs(5),
            || w.cmd(&format!("client list id {id}")) == Frame::Bulk(Vec::new().into()),
        );
        for t in [&mut t3, &mut t2] {
            seen.push(t.cmd("client trackinginfo").pipe_redirect(id));
        }
        w.cmd("set k v");
        seen.push(t3.read().expect("broken-redirect push").pipe_redirect(id));
        // Only now, a message having found it gone, is the redirect broken.
        for t in [&mut t3, &mut t2] {
            seen.push(t.cmd("client trackinginfo").pipe_redirect(id));
        }
        // Told again on the next invalidation, not only once.
        t3.cmd("get k");
        w.cmd("set k v2");
        seen.push(t3.read().expect("second push").pipe_redirect(id));
        w.cmd("flushall");
        seen.push(t3.read().expect("push on flush").pipe_redirect(id));
        seen.push(next(&mut t3).unwrap_or(Frame::Simple("nothing".into())));
        seen.push(t2.cmd("ping"));
        got.push(seen);
    }
    assert_eq!(
        got[1][4],
        Frame::Push(vec![bulk("tracking-redir-broken"), Frame::Integer(-99)])
    );
    assert!(format!("{:?}", got[1][5]).contains("broken_redirect"));
    assert_eq!(got[0], got[1], "redis-server vs bigstep state");
}

trait RedirectMask {
    /// TRACKINGINFO with the redirect id (different per server) masked.
    fn pipe_redirect(self, id: i64) -> Frame;
}

impl RedirectMask for Frame {
    fn pipe_redirect(self, id: i64) -> Frame {
        let m = |f: Frame| f.pipe_redirect(id);
        match self {
            Frame::Integer(i) if i == id => Frame::Integer(-99),
            Frame::Push(v) => Frame::Push(v.into_iter().map(m).collect()),
            Frame::Array(v) => Frame::Array(v.into_iter().map(m).collect()),
            Frame::Map(v) => Frame::Map(v.into_iter().map(|(k, x)| (m(k), m(x))).collect()),
            other => other,
        }
    }
}

#[test]
fn tracking_counts_in_info() {
    let srv = start_ours(state::Config::default());
    let mut t = Conn::connect(srv.addr);
    let mut w = Conn::connect(srv.addr);
    let field = |c: &mut Conn, name: &str| -> String {
        let Frame::Bulk(b) = c.cmd("info everything") else {
            panic!("info")
        };
        let text = String::from_utf8_lossy(&b).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
            .expect(name)
    };
    assert_eq!(field(&mut w, "tracking_clients"), "0");
    t.cmd("hello 3");
    t.cmd("client tracking on");
    t.cmd("mget a b c");
    assert_eq!(field(&mut w, "tracking_clients"), "1");
    assert_eq!(field(&mut w, "tracking_total_keys"), "3");
    drop(t);
    common::wait_for("the tracking client to go", Duration::from_secs(10), || {
        field(&mut w, "tracking_clients") == "0"
    });
}

/// redis-py's own client-side cache (RESP3, `cache_config`), run against
/// redis-server first to show the script checks real behaviour, then here.
#[test]
fn redis_py_client_side_cache() {
    let redis = start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redis_py_cache.py");
    for (who, port) in [
        ("redis-server", redis.addr.port()),
        ("bigstep state", ours.addr.port()),
    ] {
        let out = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .output()
            .expect("python3 (with redis-py >= 5.1, .ci/pip-state.txt)");
        assert!(
            out.status.success(),
            "redis-py cache against {who}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
