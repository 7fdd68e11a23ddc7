//! Connection and server commands: AUTH, HELLO, CLIENT, CONFIG, INFO, COMMAND, ...

use std::sync::Arc;

use bytes::Bytes;

use super::args::{int, is, syntax};
use super::client_info::{acl_log, client_line, unix_ms};
use super::ctx::{Commands, Ctx, Spec, R};
use super::params;
use crate::config::{parse_memory, Config, Fsync, Policy, REDIS_VERSION};
use crate::resp::Reply;
use crate::store::{notify, Client, Store};

/// Logs the client in as `user` if the password is right (constant-time
/// compare in [`crate::acl`]); a failure goes to ACL LOG under `cmd`, the
/// command as typed (AUTH or HELLO), as Redis logs it.
fn login(ctx: &mut Ctx<'_>, cmd: &[u8], user: &[u8], pass: &[u8]) -> bool {
    if !ctx.s.acl.authenticate(user, pass) {
        let context = if ctx.in_exec {
            crate::acl_log::Context::Multi
        } else {
            crate::acl_log::Context::Toplevel
        };
        acl_log(
            ctx,
            crate::acl_log::Reason::Auth,
            context,
            cmd.to_vec(),
            user.to_vec(),
        );
        return false;
    }
    let name: Arc<str> = Arc::from(String::from_utf8_lossy(user).as_ref());
    ctx.c.authed = true;
    ctx.c.user = name.clone();
    ctx.c.acl_gen = 0;
    if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
        e.user = name;
    }
    true
}

fn wrongpass() -> Reply {
    Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
}

pub(super) fn auth(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(syntax());
    }
    let (user, pass): (&[u8], &[u8]) = if a.len() == 2 {
        if ctx.s.acl.default_nopass() {
            return Err(Reply::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        (b"default", &a[1])
    } else {
        (&a[1], &a[2])
    };
    if login(ctx, &a[0], user, pass) {
        Ok(Reply::Ok)
    } else {
        Err(wrongpass())
    }
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn bad_name() -> Reply {
    Reply::err("Client names cannot contain spaces, newlines or special characters.")
}

pub(super) fn hello(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut ver = ctx.c.proto as i64;
    if a.len() >= 2 {
        ver = crate::resp::parse_i64(&a[1])
            .ok_or_else(|| Reply::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&ver) {
            return Err(Reply::Error("NOPROTO unsupported protocol version".into()));
        }
    }
    let mut name = None;
    let mut j = 2;
    let mut auth = None;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "auth") && more >= 2 {
            auth = Some((j + 1, j + 2));
            j += 3;
        } else if is(&a[j], "setname") && more >= 1 {
            if !valid_name(&a[j + 1]) {
                return Err(bad_name());
            }
            name = Some(a[j + 1].clone());
            j += 2;
        } else {
            return Err(Reply::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[j])
            )));
        }
    }
    // Options are all parsed before logging in, as Redis does.
    if let Some((u, p)) = auth {
        if !login(ctx, &a[0], &a[u], &a[p]) {
            return Err(wrongpass());
        }
    }
    if !ctx.c.authed {
        return Err(Reply::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    ctx.c.proto = ver as u8;
    let id = ctx.c.id;
    if let Some(e) = ctx.s.clients.get_mut(&id) {
        e.resp = ver as u8;
        if let Some(n) = name {
            e.name = if n.is_empty() { None } else { Some(n) };
        }
    }
    let s = |x: &str| Reply::bulk(x);
    Ok(Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_VERSION)),
        (s("proto"), Reply::Int(ver)),
        (s("id"), Reply::Int(id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ]))
}

pub(super) fn ping(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 2 {
        return Err(Reply::err("wrong number of arguments for 'ping' command"));
    }
    let subscribed = ctx.c.proto == 2
        && ctx.s.clients.get(&ctx.c.id).is_some_and(|e| {
            !e.channels.is_empty() || !e.patterns.is_empty() || !e.shard_channels.is_empty()
        });
    if subscribed {
        return Ok(Reply::Array(vec![
            Reply::bulk("pong"),
            Reply::Bulk(a.get(1).cloned().unwrap_or_default()),
        ]));
    }
    Ok(match a.get(1) {
        Some(m) => Reply::Bulk(m.clone()),
        None => Reply::Status("PONG".into()),
    })
}

pub(super) fn echo(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Bulk(a[1].clone()))
}

pub(super) fn quit(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    ctx.c.close = true;
    Ok(Reply::Ok)
}

pub(super) fn reset(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    ctx.s.tracking.disable(ctx.c.id);
    ctx.c.multi = None;
    ctx.c.multi_err = false;
    super::tx::unwatch_all(ctx.s, ctx.c);
    let id = ctx.c.id;
    super::pubsub::remove_all_subs(ctx.s, id);
    ctx.s.monitors.shift_remove(&id);
    ctx.c.subscriptions = 0;
    ctx.c.db = 0;
    ctx.c.proto = 2;
    ctx.c.authed = ctx.s.acl.default_auto_login();
    ctx.c.user = Arc::from("default");
    ctx.c.acl_gen = 0;
    // CLIENT REPLY OFF ends, as in Redis; a SKIP that mutes this very
    // command still does (Redis clears REPLY_OFF and SKIP_NEXT only).
    if ctx.c.replies != crate::store::Replies::Skip {
        ctx.c.replies = crate::store::Replies::On;
    }
    if let Some(e) = ctx.s.clients.get_mut(&id) {
        e.user = ctx.c.user.clone();
        e.name = None;
        e.db = 0;
        e.resp = 2;
        e.multi = false;
    }
    Ok(Reply::Status("RESET".into()))
}

/// `ROLE`: always a primary without replicas (no replication here); client
/// libraries and sentinel-aware pools ask it before sending writes.
pub(super) fn role(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Int(0),
        Reply::Array(vec![]),
    ]))
}

pub(super) fn time(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let _ = ctx;
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::bulk(d.as_secs().to_string()),
        Reply::bulk(d.subsec_micros().to_string()),
    ]))
}

pub(super) fn readonly(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::err("This instance has cluster support disabled"))
}

pub(super) fn bgrewriteaof(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    if ctx.s.aof.is_none() {
        return Err(Reply::err(
            "bigstep state runs without a data directory (--dir); nothing to rewrite",
        ));
    }
    ctx.s.rewrite_requested = true;
    Ok(Reply::Status(
        "Background append only file rewriting started".into(),
    ))
}

// === CLIENT ===

pub(super) fn client_setname(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if !valid_name(&a[2]) {
        return Err(bad_name());
    }
    if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
        e.name = if a[2].is_empty() {
            None
        } else {
            Some(a[2].clone())
        };
    }
    Ok(Reply::Ok)
}

pub(super) fn client_getname(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(ctx
        .s
        .clients
        .get(&ctx.c.id)
        .and_then(|e| e.name.clone())
        .map_or(Reply::Nil, Reply::Bulk))
}

pub(super) fn client_id(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.c.id as i64))
}

pub(super) fn client_setinfo(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let lib_name = if is(&a[2], "lib-name") {
        true
    } else if is(&a[2], "lib-ver") {
        false
    } else {
        return Err(Reply::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(&a[2])
        )));
    };
    if !valid_name(&a[3]) {
        return Err(Reply::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            if lib_name { "lib-name" } else { "lib-ver" }
        )));
    }
    if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
        let v = if a[3].is_empty() {
            None
        } else {
            Some(a[3].clone())
        };
        if lib_name {
            e.lib_name = v;
        } else {
            e.lib_ver = v;
        }
    }
    Ok(Reply::Ok)
}

pub(super) fn client_list(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut ids: Vec<u64> = ctx.s.clients.keys().copied().collect();
    ids.sort_unstable();
    if a.len() > 2 {
        if is(&a[2], "id") && a.len() > 3 {
            let mut want = Vec::new();
            for x in &a[3..] {
                let v = int(x).map_err(|_| Reply::err("Invalid client ID"))?;
                want.push(v as u64);
            }
            ids.retain(|i| want.contains(i));
        } else if is(&a[2], "type") && a.len() == 4 {
            let t = String::from_utf8_lossy(&a[3]).to_ascii_lowercase();
            match t.as_str() {
                "normal" | "pubsub" => {
                    let pub_only = t == "pubsub";
                    ids.retain(|i| {
                        ctx.s.clients.get(i).is_some_and(|e| {
                            (!e.channels.is_empty() || !e.patterns.is_empty()) == pub_only
                        })
                    });
                }
                "master" | "replica" | "slave" => ids.clear(),
                _ => {
                    return Err(Reply::err(format!(
                        "Unknown client type '{}'",
                        String::from_utf8_lossy(&a[3])
                    )))
                }
            }
        } else {
            return Err(syntax());
        }
    }
    let mut out = String::new();
    for id in ids {
        out.push_str(&client_line(ctx, id));
        out.push('\n');
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

pub(super) fn client_info(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let mut s = client_line(ctx, ctx.c.id);
    s.push('\n');
    Ok(Reply::Verbatim("txt", Bytes::from(s)))
}

pub(super) fn client_kill(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() == 3 {
        let addr = String::from_utf8_lossy(&a[2]).into_owned();
        let victim = ctx
            .s
            .clients
            .values()
            .find(|e| e.addr == addr)
            .map(|e| e.shared.clone());
        return match victim {
            Some(v) => {
                if v.id == ctx.c.id {
                    ctx.c.close = true;
                } else {
                    v.kill();
                }
                Ok(Reply::Ok)
            }
            None => Err(Reply::err("No such client")),
        };
    }
    if !a.len().is_multiple_of(2) {
        return Err(syntax());
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut typ, mut user) =
        (None, None, None, true, None, None);
    for p in a[2..].chunks(2) {
        let v = String::from_utf8_lossy(&p[1]).into_owned();
        if is(&p[0], "id") {
            id = Some(
                int(&p[1]).map_err(|_| Reply::err("client-id should be greater than 0"))? as u64,
            );
        } else if is(&p[0], "addr") {
            addr = Some(v);
        } else if is(&p[0], "laddr") {
            laddr = Some(v);
        } else if is(&p[0], "skipme") {
            skipme = match v.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(syntax()),
            };
        } else if is(&p[0], "type") {
            typ = Some(v.to_ascii_lowercase());
        } else if is(&p[0], "user") {
            if ctx.s.acl.get(&v).is_none() {
                return Err(Reply::err(format!("No such user '{v}'")));
            }
            user = Some(v);
        } else {
            return Err(syntax());
        }
    }
    let mut n = 0;
    let me = ctx.c.id;
    let victims: Vec<_> = ctx
        .s
        .clients
        .values()
        .filter(|e| id.is_none_or(|i| e.shared.id == i))
        .filter(|e| addr.as_ref().is_none_or(|a| &e.addr == a))
        .filter(|e| laddr.as_ref().is_none_or(|a| &e.laddr == a))
        .filter(|e| user.as_deref().is_none_or(|u| &*e.user == u))
        .filter(|e| {
            typ.as_deref().is_none_or(|t| {
                let ps = !e.channels.is_empty() || !e.patterns.is_empty();
                match t {
                    "pubsub" => ps,
                    "normal" => !ps,
                    _ => false,
                }
            })
        })
        .filter(|e| !(skipme && e.shared.id == me))
        .map(|e| e.shared.clone())
        .collect();
    for v in victims {
        if v.id == me {
            ctx.c.close = true;
        } else {
            v.kill();
        }
        n += 1;
    }
    Ok(Reply::Int(n))
}

pub(super) fn client_ok(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if is(&a[2], "on") || is(&a[2], "off") {
        Ok(Reply::Ok)
    } else {
        Err(syntax())
    }
}

// === ACL ===

/// `ACL LOG [count | RESET]`: the newest `count` (10 by default) entries.
pub(super) fn acl_log_cmd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut count: i64 = 10;
    match a.len() {
        2 => {}
        3 if is(&a[2], "reset") => {
            ctx.s.acl_log.reset();
            return Ok(Reply::Ok);
        }
        3 => count = int(&a[2])?.max(0),
        _ => {
            return Err(Reply::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&a[1])
            )))
        }
    }
    let now = unix_ms();
    let b = |k: &str| Reply::bulk(k);
    Ok(Reply::Array(
        ctx.s
            .acl_log
            .newest(count as usize)
            .map(|e| {
                Reply::Map(vec![
                    (b("count"), Reply::Int(e.count as i64)),
                    (b("reason"), b(e.reason.name())),
                    (b("context"), b(e.context.name())),
                    (b("object"), Reply::bulk(&e.object)),
                    (b("username"), Reply::bulk(&e.username)),
                    (
                        b("age-seconds"),
                        Reply::Double(now.saturating_sub(e.ms) as f64 / 1000.0),
                    ),
                    (b("client-info"), Reply::bulk(&e.client_info)),
                ])
            })
            .collect(),
    ))
}

/// `ACL GETUSER name`: the user's flags, passwords (digests), command
/// rules, key and channel patterns; nil for no such user.
pub(super) fn acl_getuser(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(u) = ctx.s.acl.getuser(&String::from_utf8_lossy(&a[2])) else {
        return Ok(Reply::Nil);
    };
    let b = |k: &str| Reply::bulk(k);
    Ok(Reply::Map(vec![
        (
            b("flags"),
            Reply::Set(u.flags.iter().map(|f| b(f)).collect()),
        ),
        (
            b("passwords"),
            Reply::Array(u.passwords.iter().map(Reply::bulk).collect()),
        ),
        (b("commands"), b(&u.commands)),
        (b("keys"), b(&u.keys)),
        (b("channels"), b(&u.channels)),
        (b("selectors"), Reply::Array(vec![])),
    ]))
}

/// `ACL DRYRUN user command [arg ...]`: whether `user` may run the
/// command: OK, or (as a bulk string, not an error) why not.
pub(super) fn acl_dryrun<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let user = String::from_utf8_lossy(&a[2]).into_owned();
    if ctx.s.acl.get(&user).is_none() {
        return Err(Reply::err(format!("User '{user}' not found")));
    }
    let argv = &a[3..];
    let spec = match T::lookup(argv) {
        Ok(spec) => spec,
        Err(super::ctx::Unresolved::WrongArity(name)) => {
            return Err(Reply::err(format!(
                "wrong number of arguments for '{name}' command"
            )))
        }
        Err(_) => {
            return Err(Reply::err(format!(
                "Command '{}' not found",
                String::from_utf8_lossy(&argv[0])
            )))
        }
    };
    match ctx.s.acl.check_at(&user, spec, argv) {
        Ok(()) => Ok(Reply::Ok),
        Err((d, at)) => {
            let arg = String::from_utf8_lossy(&argv[at]);
            Ok(Reply::bulk(match d {
                crate::acl::Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    spec.name
                ),
                crate::acl::Denied::Key => {
                    format!("This user has no permissions to access the '{arg}' key")
                }
                crate::acl::Denied::Channel => {
                    format!("This user has no permissions to access the '{arg}' channel")
                }
            }))
        }
    }
}

/// `ACL GENPASS [bits]`: `bits` (256 by default) random bits as hex digits,
/// rounded up to whole digits, from the thread's CSPRNG (ChaCha, seeded by
/// the OS), as Redis draws them from its own.
pub(super) fn acl_genpass(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    use rand::Rng as _;
    let bits = match a.len() {
        2 => 256,
        3 => int(&a[2])?,
        _ => {
            return Err(Reply::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&a[1])
            )))
        }
    };
    if !(1..=4096).contains(&bits) {
        return Err(Reply::err(
            "ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
        ));
    }
    let digits = (bits as usize).div_ceil(4);
    let mut rng = rand::rng();
    let hex: String = (0..digits)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect();
    Ok(Reply::bulk(hex))
}

pub(super) fn acl_whoami(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::bulk(&*ctx.c.user))
}

pub(super) fn acl_users(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(
        ctx.s.acl.names().into_iter().map(Reply::bulk).collect(),
    ))
}

pub(super) fn acl_list(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(
        ctx.s.acl.list().into_iter().map(Reply::bulk).collect(),
    ))
}

pub(super) fn acl_setuser(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    ctx.s.acl.setuser(&a[2], &a[3..]).map_err(Reply::err)?;
    Ok(Reply::Ok)
}

pub(super) fn acl_deluser(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let gone = ctx.s.acl.deluser(&a[2..]).map_err(Reply::err)?;
    // As Redis does: connections logged in as a deleted user are closed.
    let me = ctx.c.id;
    for e in ctx.s.clients.values() {
        if gone.iter().any(|g| **g == *e.user) {
            if e.shared.id == me {
                ctx.c.close = true;
            } else {
                e.shared.kill();
            }
        }
    }
    Ok(Reply::Int(gone.len() as i64))
}

pub(super) fn acl_cat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(Reply::err(
            "wrong number of arguments for 'acl|cat' command",
        ));
    }
    let names: Vec<&str> = match a.get(2) {
        None => crate::acl::category_names(),
        Some(c) => {
            let c = String::from_utf8_lossy(c);
            ctx.s
                .acl
                .category(&c)
                .ok_or_else(|| Reply::err(format!("Unknown category '{c}'")))?
        }
    };
    Ok(Reply::Array(names.into_iter().map(Reply::bulk).collect()))
}

// === CONFIG ===

fn config_pairs(ctx: &Ctx<'_>) -> Vec<(&'static str, String)> {
    let c = &ctx.s.cfg;
    let mut pairs = vec![
        ("maxmemory", c.maxmemory.to_string()),
        ("maxmemory-policy", c.maxmemory_policy.name().to_string()),
        ("notify-keyspace-events", notify::format(ctx.s.notify_flags)),
        ("appendfsync", c.appendfsync.name().to_string()),
        (
            "appendonly",
            if c.dir.is_some() { "yes" } else { "no" }.to_string(),
        ),
        ("requirepass", c.requirepass.clone().unwrap_or_default()),
        ("port", c.port.to_string()),
        ("bind", c.bind.clone()),
        (
            "dir",
            c.dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        ),
        ("databases", c.databases.to_string()),
        ("save", String::new()),
        ("timeout", c.timeout.to_string()),
        ("maxclients", c.maxclients.to_string()),
        ("proto-max-bulk-len", c.proto_max_bulk_len.to_string()),
        (
            "client-query-buffer-limit",
            c.client_query_buffer_limit.to_string(),
        ),
        (
            "protected-mode",
            if c.protected_mode { "yes" } else { "no" }.to_string(),
        ),
        ("maxmemory-samples", "5".to_string()),
        ("lua-time-limit", c.busy_reply_threshold_ms.to_string()),
        (
            "busy-reply-threshold",
            c.busy_reply_threshold_ms.to_string(),
        ),
        (
            "auto-aof-rewrite-min-size",
            c.auto_aof_rewrite_min_size.to_string(),
        ),
        (
            "auto-aof-rewrite-percentage",
            c.auto_aof_rewrite_percentage.to_string(),
        ),
        (
            "client-output-buffer-limit",
            format_output_limits(&output_limits(&[], ctx.s, c)),
        ),
    ];
    pairs.extend(params::all().map(|(name, p)| {
        let v = ctx.s.params.get(p.name).map_or(p.default, |v| v.as_str());
        (name, v.to_string())
    }));
    pairs
}

/// The params key under which CONFIG SET keeps client-output-buffer-limit.
const OUTPUT_LIMITS: &str = "client-output-buffer-limit";

/// client-output-buffer-limit as [hard, soft, soft seconds] for the normal,
/// replica and pub/sub classes: a value staged by this CONFIG SET, else the
/// one set before, else Redis's defaults with our pub/sub hard limit (the
/// one limit enforced here).
fn output_limits(staged: &[(&str, String)], s: &Store, c: &Config) -> [[u64; 3]; 3] {
    let mut classes = [
        [0, 0, 0],
        [268_435_456, 67_108_864, 60],
        [c.pubsub_output_limit as u64, 8_388_608, 60],
    ];
    let set = staged
        .iter()
        .rev()
        .find(|(n, _)| *n == OUTPUT_LIMITS)
        .map(|(_, v)| v.as_str())
        .or_else(|| s.params.get(OUTPUT_LIMITS).map(String::as_str));
    if let Some(v) = set {
        let _ = set_output_limits(&mut classes, v);
    }
    classes[2][0] = c.pubsub_output_limit as u64;
    classes
}

/// Applies `<class> <hard> <soft> <seconds>`... as Redis's
/// setConfigClientOutputBufferLimitOption: all checked before any is set.
fn set_output_limits(classes: &mut [[u64; 3]; 3], val: &str) -> Result<(), &'static str> {
    let words: Vec<&str> = val.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    let mut out = *classes;
    for w in words.chunks(4) {
        let class = match w[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration."),
        };
        let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(w[1]).ok_or(bad)?;
        let soft = parse_memory(w[2]).ok_or(bad)?;
        let secs: u64 = w[3].parse().map_err(|_| bad)?;
        out[class] = [hard, soft, secs];
    }
    *classes = out;
    Ok(())
}

fn format_output_limits(c: &[[u64; 3]; 3]) -> String {
    format!(
        "normal {} {} {} slave {} {} {} pubsub {} {} {}",
        c[0][0], c[0][1], c[0][2], c[1][0], c[1][1], c[1][2], c[2][0], c[2][1], c[2][2]
    )
}

pub(super) fn config_get(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let pairs = config_pairs(ctx);
    let mut out: Vec<(Reply, Reply)> = Vec::new();
    for (k, v) in &pairs {
        if a[2..]
            .iter()
            .any(|p| crate::glob::matches(&p.to_ascii_lowercase(), k.as_bytes(), true))
        {
            out.push((Reply::bulk(k), Reply::bulk(v)));
        }
    }
    Ok(Reply::Map(out))
}

pub(super) fn config_set(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if !a.len().is_multiple_of(2) {
        return Err(Reply::err(
            "wrong number of arguments for 'config|set' command",
        ));
    }
    // Validate everything first so a failing pair changes nothing.
    let mut cfg = ctx.s.cfg.clone();
    let mut flags = ctx.s.notify_flags;
    let mut new_pass = None;
    let mut staged = Vec::new();
    for p in a[2..].chunks(2) {
        let name = String::from_utf8_lossy(&p[0]).to_ascii_lowercase();
        let val = String::from_utf8_lossy(&p[1]).into_owned();
        let fail = |why: &str| {
            Reply::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        match name.as_str() {
            "maxmemory" => {
                cfg.maxmemory = parse_memory(&val).ok_or_else(|| fail("argument must be a memory value"))?
            }
            "maxmemory-policy" => {
                cfg.maxmemory_policy = Policy::parse(&val).ok_or_else(|| fail("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"))?
            }
            "notify-keyspace-events" => {
                flags = notify::parse(&val).ok_or_else(|| fail("Invalid event class character. Use 'Ag$lshzxeKEtmd'."))?
            }
            "appendfsync" => {
                cfg.appendfsync = Fsync::parse(&val).ok_or_else(|| fail("argument(s) must be one of the following: always, everysec, no"))?
            }
            "requirepass" => {
                cfg.requirepass = if val.is_empty() { None } else { Some(val) };
                new_pass = Some(cfg.requirepass.clone());
            }
            "timeout" => cfg.timeout = val.parse().map_err(|_| fail("argument couldn't be parsed into an integer"))?,
            "maxclients" => cfg.maxclients = val.parse().map_err(|_| fail("argument couldn't be parsed into an integer"))?,
            "auto-aof-rewrite-min-size" => {
                cfg.auto_aof_rewrite_min_size = parse_memory(&val).ok_or_else(|| fail("argument must be a memory value"))?
            }
            "auto-aof-rewrite-percentage" => {
                cfg.auto_aof_rewrite_percentage = val.parse().map_err(|_| fail("argument couldn't be parsed into an integer"))?
            }
            "lua-time-limit" | "busy-reply-threshold" => {
                let n = crate::resp::parse_i64(val.as_bytes()).ok_or_else(|| fail("argument couldn't be parsed into an integer"))?;
                cfg.busy_reply_threshold_ms = u64::try_from(n).map_err(|_| fail("argument must be between 0 and 9223372036854775807 inclusive"))?;
            }
            "save" | "appendonly" | "maxmemory-samples" | "protected-mode" => {}
            // The listener does not move while running: its own address is
            // accepted (Redis's port and bind are then unchanged too), any
            // other is refused with the way to get it.
            "port" => {
                let n: i64 = crate::resp::parse_i64(val.as_bytes()).ok_or_else(|| fail("argument couldn't be parsed into an integer"))?;
                if !(0..=65535).contains(&n) {
                    return Err(fail("argument must be between 0 and 65535 inclusive"));
                }
                if n != i64::from(cfg.port) {
                    return Err(fail("bigstep state does not move its listener while running; restart it with --port"));
                }
            }
            "bind" => {
                let addrs: Vec<&str> = val.split_whitespace().collect();
                if addrs.len() > 16 {
                    return Err(fail("Too many bind addresses specified."));
                }
                if addrs != cfg.bind.split_whitespace().collect::<Vec<_>>() {
                    return Err(fail("bigstep state does not move its listener while running; restart it with --bind"));
                }
            }
            "proto-max-bulk-len" => {
                let n = parse_memory(&val).ok_or_else(|| fail("argument must be a memory value"))?;
                cfg.proto_max_bulk_len = i64::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1024 * 1024)
                    .ok_or_else(|| fail(&format!("argument must be between 1048576 and {} inclusive", i64::MAX)))?;
            }
            "client-query-buffer-limit" => {
                let n = parse_memory(&val).ok_or_else(|| fail("argument must be a memory value"))?;
                cfg.client_query_buffer_limit = usize::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1024 * 1024 && n <= i64::MAX as usize)
                    .ok_or_else(|| fail(&format!("argument must be between 1048576 and {} inclusive", i64::MAX)))?;
            }
            "client-output-buffer-limit" => {
                let mut classes = output_limits(&staged, ctx.s, &cfg);
                set_output_limits(&mut classes, &val).map_err(&fail)?;
                cfg.pubsub_output_limit = usize::try_from(classes[2][0]).unwrap_or(usize::MAX);
                staged.retain(|(n, _)| *n != OUTPUT_LIMITS);
                staged.push((OUTPUT_LIMITS, format_output_limits(&classes)));
            }
            other if params::refusal(other).is_some() => {
                return Err(fail(params::refusal(other).unwrap_or_default()))
            }
            other => match params::find(other) {
                Some(param) => staged.push((param.name, params::check(param, &val).map_err(|e| fail(&e))?)),
                None if params::refusal(other).is_some() => {
                    return Err(fail(params::refusal(other).unwrap_or_default()))
                }
                None => {
                    return Err(Reply::err(format!(
                        "Unknown option or number of arguments for CONFIG SET - '{}'",
                        String::from_utf8_lossy(&p[0])
                    )))
                }
            },
        }
    }
    ctx.s
        .live
        .max_bulk_len
        .store(cfg.proto_max_bulk_len, std::sync::atomic::Ordering::Relaxed);
    ctx.s.live.query_limit.store(
        cfg.client_query_buffer_limit,
        std::sync::atomic::Ordering::Relaxed,
    );
    ctx.s
        .live
        .maxclients
        .store(cfg.maxclients, std::sync::atomic::Ordering::Relaxed);
    ctx.s.cfg = cfg;
    ctx.s.notify_flags = flags;
    ctx.s.params.extend(staged);
    let param = |s: &Store, name: &str, default: i64| {
        s.params
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let slower_than = param(ctx.s, "slowlog-log-slower-than", 10_000);
    let max_len = usize::try_from(param(ctx.s, "slowlog-max-len", 128)).unwrap_or(usize::MAX);
    ctx.s.slowlog.configure(slower_than, max_len);
    ctx.s.latency.threshold_ms = param(ctx.s, "latency-monitor-threshold", 0).max(0) as u64;
    if let Some(p) = new_pass {
        // As in Redis: requirepass is the default user's password.
        ctx.s.acl.set_requirepass(p.as_deref());
    }
    crate::evict::recount(ctx.s);
    Ok(Reply::Ok)
}

pub(super) fn config_resetstat(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    ctx.s.stats = Default::default();
    Ok(Reply::Ok)
}

pub(super) fn config_rewrite(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::err("The server is running without a config file"))
}

// === COMMAND ===

/// Flags for a command Redis does not have (none today): worked out from
/// its spec, `readonly` only if it reads keys.
fn own_flags(s: &Spec) -> Vec<&'static str> {
    use crate::spec::flags;
    let mut v = Vec::new();
    if !s.subs.is_empty() {
        // Containers have no flags of their own in Redis.
        return v;
    }
    if s.flags & flags::WRITE != 0 {
        v.push("write");
    } else if s.first > 0 {
        v.push("readonly");
    }
    for (flag, name) in [
        (flags::DENYOOM, "denyoom"),
        (flags::ADMIN, "admin"),
        (flags::PUBSUB, "pubsub"),
        (flags::NOSCRIPT, "noscript"),
        (flags::BLOCKING, "blocking"),
    ] {
        if s.flags & flag != 0 {
            v.push(name);
        }
    }
    if s.keys_fn.is_some() {
        v.push("movablekeys");
    }
    v
}

/// One key spec as COMMAND shows it.
fn key_spec(k: &crate::command_info::KeySpec) -> Reply {
    use crate::command_info::{Begin, Find};
    let b = Reply::bulk;
    let map = |fields: Vec<(&'static str, Reply)>| {
        Reply::Map(
            fields
                .into_iter()
                .map(|(k, v)| (Reply::bulk(k), v))
                .collect(),
        )
    };
    let (begin, begin_spec) = match k.begin {
        Begin::Index(i) => ("index", vec![("index", Reply::Int(i))]),
        Begin::Keyword(kw, from) => (
            "keyword",
            vec![("keyword", b(kw)), ("startfrom", Reply::Int(from))],
        ),
        Begin::Unknown => ("unknown", vec![]),
    };
    let (find, find_spec) = match k.find {
        Find::Range {
            lastkey,
            step,
            limit,
        } => (
            "range",
            vec![
                ("lastkey", Reply::Int(lastkey)),
                ("keystep", Reply::Int(step)),
                ("limit", Reply::Int(limit)),
            ],
        ),
        Find::Keynum { index, first, step } => (
            "keynum",
            vec![
                ("keynumidx", Reply::Int(index)),
                ("firstkey", Reply::Int(first)),
                ("keystep", Reply::Int(step)),
            ],
        ),
        Find::Unknown => ("unknown", vec![]),
    };
    let mut fields = Vec::new();
    if let Some(notes) = k.notes {
        fields.push(("notes", b(notes)));
    }
    fields.push((
        "flags",
        Reply::Set(
            k.flags
                .split(' ')
                .map(|f| Reply::Status(f.into()))
                .collect(),
        ),
    ));
    fields.push((
        "begin_search",
        map(vec![("type", b(begin)), ("spec", map(begin_spec))]),
    ));
    fields.push((
        "find_keys",
        map(vec![("type", b(find)), ("spec", map(find_spec))]),
    ));
    map(fields)
}

/// A command's COMMAND INFO entry: name, arity, flags, legacy key range,
/// ACL categories, tips, key specs and subcommands. All but the name,
/// arity and subcommands come from Redis's own table.
fn spec_info(s: &Spec) -> Reply {
    let status = |x: &str| Reply::Status(x.into());
    let table = crate::command_info::info(s.name);
    let flags = table.map_or_else(|| own_flags(s), |i| i.flags.to_vec());
    let (first, last, step) = table.map_or((s.first.into(), s.last.into(), s.step.into()), |i| {
        i.legacy_keys
    });
    Reply::Array(vec![
        Reply::bulk(s.name),
        Reply::Int(s.arity as i64),
        Reply::Set(flags.into_iter().map(status).collect()),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Set(
            crate::command_info::categories(s.name)
                .iter()
                .map(|c| status(c))
                .collect(),
        ),
        Reply::Set(table.map_or(vec![], |i| i.tips.iter().map(|t| Reply::bulk(*t)).collect())),
        // Redis sends the key specs as a set, and the subcommands as a set
        // when there are none, an array otherwise (RESP3 shows it).
        Reply::Set(table.map_or(vec![], |i| i.key_specs.iter().map(key_spec).collect())),
        if s.subs.is_empty() {
            Reply::Set(vec![])
        } else {
            Reply::Array(s.subs.iter().map(spec_info).collect())
        },
    ])
}

pub(super) fn command_count<T: Commands>(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(T::all().len() as i64))
}

/// `COMMAND` with no subcommand.
pub(super) fn command<T: Commands>(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(command_all::<T>())
}

fn command_all<T: Commands>() -> Reply {
    Reply::Array(T::all().iter().map(spec_info).collect())
}

/// A command by name, or a subcommand by its full name (`config|get`),
/// as Redis's COMMAND INFO and DOCS find them.
fn find<T: Commands>(name: &[u8]) -> Option<&'static Spec> {
    find_any::<T>(&String::from_utf8_lossy(name).to_ascii_lowercase())
}

pub(super) fn command_info<T: Commands>(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() == 2 {
        return Ok(command_all::<T>());
    }
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|n| find::<T>(n).map_or(Reply::NilArray, spec_info))
            .collect(),
    ))
}

pub(super) fn command_docs<T: Commands>(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let specs: Vec<&Spec> = if a.len() == 2 {
        T::all().iter().collect()
    } else {
        a[2..].iter().filter_map(|n| find::<T>(n)).collect()
    };
    Ok(Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::bulk(s.name), spec_docs(s)))
            .collect(),
    ))
}

/// A command's COMMAND DOCS entry: Redis's own, with the subcommands we
/// have; a command Redis 7.0 lacks gets its name for a summary.
fn spec_docs(s: &Spec) -> Reply {
    let mut fields = match crate::command_info::docs(s.name) {
        Some(crate::command_info::DocNode::Map(m)) => m
            .iter()
            .map(|(k, v)| (Reply::bulk(*k), doc_reply(v)))
            .collect(),
        _ => vec![
            (
                Reply::bulk("summary"),
                Reply::bulk(format!("{} command", s.name.to_ascii_uppercase())),
            ),
            (Reply::bulk("since"), Reply::bulk("7.2.0")),
            (Reply::bulk("group"), Reply::bulk("generic")),
        ],
    };
    if !s.subs.is_empty() {
        fields.push((
            Reply::bulk("subcommands"),
            Reply::Map(
                s.subs
                    .iter()
                    .map(|x| (Reply::bulk(x.name), spec_docs(x)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

fn doc_reply(d: &crate::command_info::DocNode) -> Reply {
    use crate::command_info::DocNode;
    match d {
        DocNode::Status(x) => Reply::Status((*x).into()),
        DocNode::Bulk(x) => Reply::bulk(*x),
        DocNode::Int(n) => Reply::Int(*n),
        DocNode::Array(v) => Reply::Array(v.iter().map(doc_reply).collect()),
        DocNode::Set(v) => Reply::Set(v.iter().map(doc_reply).collect()),
        DocNode::Map(m) => Reply::Map(
            m.iter()
                .map(|(k, v)| (Reply::bulk(*k), doc_reply(v)))
                .collect(),
        ),
    }
}

pub(super) fn command_list<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // `[FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`, parsed
    // as Redis does: anything else is a syntax error.
    let keep: Box<dyn Fn(&str) -> bool> = match &a[2..] {
        [] => Box::new(|_| true),
        [f, kind, arg] if is(f, "filterby") => {
            if is(kind, "module") {
                Box::new(|_| false)
            } else if is(kind, "aclcat") {
                let cat = ctx
                    .s
                    .acl
                    .category(&String::from_utf8_lossy(arg))
                    .unwrap_or_default();
                Box::new(move |n| cat.contains(&n))
            } else if is(kind, "pattern") {
                let pat = arg.clone();
                Box::new(move |n| crate::glob::matches(&pat, n.as_bytes(), true))
            } else {
                return Err(syntax());
            }
        }
        _ => return Err(syntax()),
    };
    // Subcommands are listed too (`config|get`), as Redis 7 lists them.
    Ok(Reply::Array(
        T::all()
            .iter()
            .flat_map(|s| std::iter::once(s).chain(s.subs.iter()))
            .filter(|s| keep(s.name))
            .map(|s| Reply::bulk(s.name))
            .collect(),
    ))
}

/// A command or subcommand by its full name (`object|encoding`).
fn find_any<T: Commands>(name: &str) -> Option<&'static Spec> {
    T::all()
        .iter()
        .flat_map(|s| std::iter::once(s).chain(s.subs.iter()))
        .find(|s| s.name == name)
}

/// Whether Redis would say `spec` has key arguments (a key spec, a key
/// finder, or a script's `numkeys`).
fn has_keys(spec: &Spec) -> bool {
    spec.first > 0 || spec.keys_fn.is_some() || spec.has(crate::spec::flags::SCRIPT_KEYS)
}

/// `COMMAND GETKEYS` and `GETKEYSANDFLAGS`, as Redis 7.0's
/// `getKeysSubcommandImpl`: the command named by the rest of the request
/// must exist, have keys and fit its arity; its keys are found as for the
/// ACL check. A request whose keys cannot be found (a bad `numkeys`) is
/// invalid, except for scripts, whose keys are optional (an empty list).
fn getkeys<T: Commands>(a: &[Bytes], with_flags: bool) -> R {
    let argv = &a[2..];
    let no_keys = || Reply::err("The command has no key arguments");
    let spec = match T::lookup(argv) {
        Ok(spec) => spec,
        Err(super::ctx::Unresolved::WrongArity(name)) => {
            return Err(match find_any::<T>(name) {
                Some(s) if has_keys(s) => {
                    Reply::err("Invalid number of arguments specified for command")
                }
                _ => no_keys(),
            });
        }
        Err(_) => return Err(Reply::err("Invalid command specified")),
    };
    if !has_keys(spec) {
        return Err(no_keys());
    }
    let keys = if spec.has(crate::spec::flags::SCRIPT_KEYS) {
        crate::spec::numkeys_at(argv, 2)
    } else {
        let keys = spec.key_indexes(argv);
        if keys.is_empty() {
            return Err(Reply::err("Invalid arguments specified for command"));
        }
        keys
    };
    let specs = crate::key_flags::key_flags(spec.name);
    Ok(Reply::Array(
        keys.iter()
            .enumerate()
            .map(|(n, &i)| {
                let key = Reply::Bulk(argv[i].clone());
                if !with_flags {
                    return key;
                }
                // The first key comes from the first spec; later ones from
                // the last (a destination or the rest of a key list), which
                // is how Redis's specs for our multi-key commands line up.
                let flags = crate::key_flags::flags_for(spec.name, &specs, n, argv);
                Reply::Array(vec![
                    key,
                    Reply::Set(flags.into_iter().map(|f| Reply::Status(f.into())).collect()),
                ])
            })
            .collect(),
    ))
}

pub(super) fn command_getkeys<T: Commands>(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    getkeys::<T>(a, false)
}

pub(super) fn command_getkeysandflags<T: Commands>(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    getkeys::<T>(a, true)
}

// === INFO ===

/// Removes every trace of a disconnected client.
pub(crate) fn forget_client(s: &mut Store, c: &mut Client) {
    super::client_control::leave_pause_queue(s, c.id);
    if s.tracking.on > 0 {
        s.tracking.disable(c.id);
        s.tracking.client_gone(c.id);
    }
    super::tx::unwatch_all(s, c);
    super::pubsub::remove_all_subs(s, c.id);
    s.monitors.shift_remove(&c.id);
    s.clients.remove(&c.id);
}
