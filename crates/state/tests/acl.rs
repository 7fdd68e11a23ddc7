//! ACL users against a real `redis-server`: the same AUTH / HELLO / ACL
//! commands to both, identical replies required (Redis 7.0 wording).

mod common;

use common::{start_ours, start_redis, Conn, Pair};
use state::resp::Frame;

fn bulk_text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Simple(s) | Frame::Error(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn names(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v.iter().map(bulk_text).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Creates the users the permission tests log in as, on both servers.
fn users(p: &mut Pair) {
    p.script(
        r#"
        acl setuser alice on >pw1 ~* +@all
        acl setuser carol on nopass
        acl setuser dave on >x ~* &* -@all +@read
        acl setuser eve on >p ~* &* +@all -@dangerous
        acl setuser frank on >p &* +@all
        acl setuser gina on >p ~* &news.* +@all
        "#,
    );
}

#[test]
fn acl_commands() {
    let mut p = Pair::new();
    p.script(
        r#"
        acl whoami
        acl users
        acl list
        acl setuser alice on >pw1 ~* +@all
        acl setuser bob
        acl setuser carol on nopass
        acl setuser dave on >x ~* &* -@all +@read
        acl setuser eve on >p ~* +@all -@dangerous
        acl setuser gina on >a >b <a ~k:* ~j:* &news.* allkeys
        acl setuser hal reset
        acl setuser ivy on #c592df4a86933b92addc9842402ddf198c638ea9be58916ee6e3734e1e3152f8 nocommands +get +@hash
        acl list
        acl users
        acl setuser x +nosuchcommand
        acl setuser x +@nosuchcategory
        acl setuser x bogus
        acl setuser x #abc
        acl setuser x !abc
        acl setuser x <neverset
        acl setuser "a b"
        acl users
        acl deluser bob nosuch
        acl deluser default
        acl users
        ~acl cat
        acl cat nosuch
        acl whoami extra
        acl setuser
        acl nosuchsub
        auth alice wrong
        auth nobody x
        auth bob x
        auth ivy pw1
        acl whoami
        get k
        auth alice pw1
        acl whoami
        hello 3 auth nobody x
        acl whoami
        "#,
    );
    assert!(p.checked > 30);
}

#[test]
fn categories_are_a_subset_of_redis() {
    let mut p = Pair::new();
    let cats = names(p.r.cmd("acl cat"));
    assert_eq!(cats.len(), 21);
    for cat in cats {
        let theirs = names(p.r.cmd(&format!("acl cat {cat}")));
        let ours = names(p.o.cmd(&format!("acl cat {cat}")));
        for c in &ours {
            assert!(theirs.contains(c), "{c} is not in @{cat} in redis-server");
        }
        // Every command we have that Redis puts in this category is there too.
        let all_ours = names(p.o.cmd("command list"));
        // (Containers like `client` are listed by Redis but run only as `client|...`.)
        let container = |c: &str| theirs.iter().any(|t| t.starts_with(&format!("{c}|")));
        for c in theirs.iter().filter(|c| !c.contains('|') && !container(c)) {
            if all_ours.contains(c) {
                assert!(ours.contains(c), "{c} is missing from our @{cat}");
            }
        }
    }
}

#[test]
fn permissions() {
    let mut p = Pair::new();
    users(&mut p);
    p.script("set k v\nset news.1 x");
    let (mut r, mut o) = p.conns();
    let both = |lines: &str, r: &mut Conn, o: &mut Conn| {
        for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (a, b) = (r.cmd(line), o.cmd(line));
            match (&a, &b) {
                // Script errors carry the sha and line number in Redis; compare the code.
                (Frame::Error(x), Frame::Error(y)) if x != y && line.starts_with("eval") => {
                    assert_eq!(
                        x.split(' ').next(),
                        y.split(' ').next(),
                        "`{line}`: {x} vs {y}"
                    );
                    assert!(y.contains("user executing the script"), "{y}");
                }
                _ => assert_eq!(a, b, "`{line}`: redis-server vs bigstep state"),
            }
        }
    };
    // Read-only: no writes, no PING (not in @read), no CONFIG.
    both(
        "auth dave x
         set k v2
         get k
         ping
         config get maxmemory
         subscribe ch
         eval \"return 1\" 0",
        &mut r,
        &mut o,
    );
    // Everything but @dangerous.
    both(
        "auth eve p
         set k v3
         config set maxmemory 0
         keys *
         flushall
         info
         client list
         acl list
         acl whoami
         dbsize",
        &mut r,
        &mut o,
    );
    // No key patterns: commands with key arguments are refused, others run.
    both(
        "auth frank p
         get k
         ping
         dbsize
         eval \"return 1\" 1 k
         eval \"return redis.call('get','k')\" 0
         multi
         get k
         ping
         exec",
        &mut r,
        &mut o,
    );
    // Channel patterns: news.* only; PSUBSCRIBE needs the literal pattern.
    both(
        "auth gina p
         publish other x
         publish news.today x
         psubscribe other.*",
        &mut r,
        &mut o,
    );
    // -@all still logs in and may switch users: AUTH/HELLO/RESET are exempt.
    both(
        "auth carol anything
         ping
         acl whoami
         auth alice pw1
         acl whoami
         auth carol x
         reset
         acl whoami",
        &mut r,
        &mut o,
    );
}

#[test]
fn client_list_names_the_user_and_deluser_disconnects() {
    let mut p = Pair::new();
    users(&mut p);
    let (mut r, mut o) = p.conns();
    for c in [&mut r, &mut o] {
        assert_eq!(c.cmd("auth alice pw1"), Frame::Simple("OK".into()));
        let info = bulk_text(&c.cmd("client info"));
        assert!(info.contains(" user=alice "), "{info}");
    }
    let list_r = bulk_text(&p.r.cmd("client list"));
    let list_o = bulk_text(&p.o.cmd("client list"));
    assert!(
        list_r.contains("user=alice") && list_o.contains("user=alice"),
        "{list_o}"
    );
    p.check_mode("client kill user nosuch", common::Mode::Exact);
    p.check_mode("acl deluser alice", common::Mode::Exact);
    // The deleted user's connection is closed by both servers.
    for c in [&mut r, &mut o] {
        c.send_raw(b"PING\r\n");
        assert_eq!(c.read(), None, "connection of a deleted user should close");
    }
}

#[test]
fn requirepass_is_the_default_users_password() {
    let cfg = state::Config {
        requirepass: Some("sekret".into()),
        ..Default::default()
    };
    let mut p = Pair::with(&["--requirepass", "sekret"], cfg);
    p.script(
        r#"
        acl whoami
        hello 3 auth default wrong
        auth default sekret
        acl list
        acl whoami
        config set requirepass newpass
        acl list
        acl setuser default >second
        acl list
        config get requirepass
        "#,
    );
    let (mut r, mut o) = p.conns();
    for c in [&mut r, &mut o] {
        assert!(matches!(c.cmd("auth sekret"), Frame::Error(e) if e.starts_with("WRONGPASS")));
        assert_eq!(c.cmd("auth second"), Frame::Simple("OK".into()));
        assert_eq!(c.cmd("auth newpass"), Frame::Simple("OK".into()));
    }
}

/// Users from the config file behave like `user` lines in redis.conf, and the
/// passwordless default user is switched off once users are configured.
#[test]
fn configured_users() {
    let redis = start_redis(&[
        "--user",
        "default",
        "off",
        "nopass",
        "~*",
        "&*",
        "+@all",
        "--user",
        "app",
        "on",
        ">app-pass",
        "~*",
        "&*",
        "+@all",
        "--user",
        "reader",
        "on",
        ">r",
        "~*",
        "&*",
        "-@all",
        "+@read",
    ]);
    let mut reader = state::UserConfig::new("reader", "r");
    reader.commands = "-@all +@read".into();
    let ours = start_ours(state::Config {
        users: vec![state::UserConfig::new("app", "app-pass"), reader],
        ..Default::default()
    });
    let mut r = Conn::connect(redis.addr);
    let mut o = Conn::connect(ours.addr);
    for line in [
        "ping",
        "auth x",
        "auth default x",
        "auth app wrong",
        "auth reader r",
        "set k v",
        "get k",
        "auth app app-pass",
        "set k v",
        "acl whoami",
        "acl list",
    ] {
        // redis.conf `user` lines mark the default user sanitize-payload; a display detail.
        let plain = |f: Frame| match f {
            Frame::Array(v) => Frame::Array(
                v.iter()
                    .map(|x| Frame::Bulk(bulk_text(x).replace(" sanitize-payload", "").into()))
                    .collect(),
            ),
            other => other,
        };
        assert_eq!(
            plain(r.cmd(line)),
            plain(o.cmd(line)),
            "`{line}`: redis-server vs bigstep state"
        );
    }
}

/// A bad user in the config is refused at start, naming the user, never the password.
#[test]
fn bad_configured_user_is_refused_without_leaking_the_password() {
    let mut u = state::UserConfig::new("app", "do-not-print-me");
    u.commands = "+@all +nosuchcommand".into();
    let cfg = state::Config {
        users: vec![u],
        port: 0,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = match rt.block_on(state::Server::start(cfg)) {
        Ok(_) => panic!("a user with an unknown command rule must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("app") && err.contains("nosuchcommand"),
        "{err}"
    );
    assert!(!err.contains("do-not-print-me"), "{err}");
}

/// Permissions are checked when a command is queued and again at EXEC.
#[test]
fn exec_rechecks_permissions() {
    let mut p = Pair::new();
    p.script("acl setuser tx on >p ~* &* +@all");
    let (mut r, mut o) = p.conns();
    for c in [&mut r, &mut o] {
        for line in ["auth tx p", "multi", "set k v", "get k"] {
            c.cmd(line);
        }
    }
    p.script("acl setuser tx -set");
    assert_eq!(r.cmd("exec"), o.cmd("exec"));
    // A command refused while queueing aborts the transaction, as in Redis.
    for c in [&mut r, &mut o] {
        c.cmd("multi");
    }
    for line in ["set k v", "get k", "exec"] {
        assert_eq!(r.cmd(line), o.cmd(line), "`{line}`");
    }
}
