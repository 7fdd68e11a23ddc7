//! The front door for a client's request.
//!
//! [`execute`] checks existence, arity, auth, ACLs, memory, MULTI queueing
//! and pub/sub context in the order Redis does, then [`call`]s the handler;
//! [`after_command`] then serves clients blocked on keys the command filled
//! and writes the log.

use bytes::Bytes;

use super::call::{acl_check, call};
use super::ctx::Ctx;
use super::ctx::{Spec, Unresolved};
use super::table::lookup;
use super::wake::serve_ready;
use crate::evict;
use crate::resp::Reply;
use crate::spec::flags::{
    BORROWS_ARGS, DENYOOM, KEEPS_CACHING, MULTI_RECORD, NOAUTH, NOQUEUE, NO_MULTI, PUBSUB,
    RUNS_OTHERS, WRITE,
};
use crate::store::Store;

/// Handles one client request with all of Redis's pre-checks. Error replies
/// are counted by code for INFO's errorstats: refusals here, the handlers'
/// own errors in [`call`] (so those of commands inside EXEC count too).
///
/// `argv` may be slices of the client's read buffer (`resp::Argv`): they
/// are replaced by copies before a command that may keep them runs (one not
/// flagged `BORROWS_ARGS`) or is queued by MULTI, so nothing kept pins the
/// buffer.
pub(crate) fn execute(ctx: &mut Ctx<'_>, argv: &mut [Bytes]) -> Reply {
    match execute_checked(ctx, argv) {
        Ok(reply) => reply,
        Err(refused) => {
            if let Reply::Error(e) = &refused {
                super::info::count_error(ctx.s, e);
            }
            refused
        }
    }
}

/// The reply, or the refusal that stood in for running the command.
fn execute_checked(ctx: &mut Ctx<'_>, argv: &mut [Bytes]) -> Result<Reply, Reply> {
    if ctx.s.shutting_down {
        ctx.c.close = true;
        return Err(Reply::err("server is shutting down"));
    }
    ctx.s.stats.commands += 1;
    let spec = match lookup(argv) {
        Ok(s) => s,
        Err(e) => {
            if ctx.c.multi.is_some() {
                ctx.c.multi_err = true;
            }
            // A known command with the wrong arity counts as its refusal.
            if let Unresolved::WrongArity(name) = e {
                ctx.s.stats.cmd.reject(name);
            }
            return Err(e.reply());
        }
    };
    if let Err(refused) = refuse(ctx, spec, argv) {
        if ctx.c.multi.is_some() {
            ctx.c.multi_err = true;
        }
        ctx.s.stats.cmd.reject(spec.name);
        return Err(refused);
    }
    // Checked before MULTI queues, as Redis does: a write is held even
    // on its way into a transaction.
    if ctx.s.pause.is_some() && super::client_control::postpone(ctx, spec, argv, lookup) {
        ctx.s.stats.commands -= 1; // counted when it runs
        return Ok(Reply::None);
    }
    if let Some(queue) = ctx.c.multi.as_mut() {
        if !spec.has(NOQUEUE) {
            queue.push(argv.iter().map(|a| Bytes::copy_from_slice(a)).collect());
            return Ok(Reply::Status("QUEUED".into()));
        }
    }
    if !spec.has(BORROWS_ARGS) {
        for a in argv.iter_mut() {
            *a = Bytes::copy_from_slice(a);
        }
    }
    let track = ctx.s.cfg.maxmemory > 0 && spec.has(WRITE);
    let db = ctx.c.db;
    let before = if track {
        evict::measure(ctx.s, db, spec, argv)
    } else {
        0
    };
    let reply = call(ctx, spec, argv);
    if ctx.s.tracking.on > 0 && !spec.has(KEEPS_CACHING) && ctx.c.multi.is_none() {
        ctx.s.tracking.command_done(ctx.c.id);
    }
    if track {
        evict::account(ctx.s, db, spec, argv, before);
    } else if ctx.s.cfg.maxmemory > 0 && spec.has(RUNS_OTHERS) {
        evict::recount(ctx.s);
    }
    // Commands logged as several records replay all-or-nothing, as Redis
    // wraps what one command propagates in MULTI/EXEC.
    after_command(ctx.s, spec.has(MULTI_RECORD));
    Ok(reply)
}

/// The checks a known command must pass before it runs or is queued, in
/// Redis's order; the error is the refusal (counted as `rejected_calls`).
fn refuse(ctx: &mut Ctx<'_>, spec: &'static Spec, argv: &[Bytes]) -> Result<(), Reply> {
    if !ctx.c.authed && !spec.has(NOAUTH) {
        return Err(Reply::Error("NOAUTH Authentication required.".into()));
    }
    // AUTH, HELLO, QUIT and RESET are exempt, as in Redis (they are how you log in).
    if !spec.has(NOAUTH) {
        acl_check(ctx, spec, argv).map_err(|d| Reply::Error(d.message(spec.name)))?;
    }
    if spec.has(DENYOOM) && ctx.s.cfg.maxmemory > 0 && !evict::make_room(ctx.s) {
        return Err(Reply::Error(
            "OOM command not allowed when used memory > 'maxmemory'.".into(),
        ));
    }
    if super::monitor::is_monitor(ctx.s, ctx.c.id) {
        super::monitor::refuse_keyspace(spec)?;
    }
    if ctx.c.proto == 2 && !spec.has(PUBSUB) && ctx.c.subscriptions > 0 {
        if let Some(e) = ctx.s.clients.get(&ctx.c.id) {
            if !e.channels.is_empty() || !e.patterns.is_empty() || !e.shard_channels.is_empty() {
                return Err(Reply::err(format!(
                    "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    spec.name
                )));
            }
        }
    }
    if ctx.c.multi.is_some() && spec.has(NO_MULTI) {
        return Err(Reply::err("Command not allowed inside a transaction"));
    }
    Ok(())
}

/// Work after each top-level command: serve blocked clients, write the log.
pub(crate) fn after_command(s: &mut Store, wrap: bool) {
    if !s.ready.is_empty() {
        serve_ready(s);
    }
    if s.tracking.on > 0 {
        s.tracking.flush_pending();
    }
    s.flush_prop(wrap);
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::execute;
    use crate::acl::Acl;
    use crate::cmd::Ctx;
    use crate::config::Config;
    use crate::lua::Scripting;
    use crate::resp::{encode_command, split_args, Argv, Limits, Reply};
    use crate::store::{now_ms, AofPending, Client, Store};

    /// Requests taken from a client's read buffer are slices of it; whatever
    /// a command keeps (values, queued commands, scripts, the log) must be a
    /// copy, or one kept value would pin the whole buffer. Each request here
    /// runs from its own buffer, which must be reclaimable afterwards.
    #[test]
    fn nothing_kept_pins_the_read_buffer() {
        let mut s = Store::new(Config::default(), Acl::from_config(None, &[]).expect("acl"));
        s.aof = Some(AofPending::default());
        let mut sc = Scripting::default();
        let (mut c, _rx) = Client::new(1);
        c.authed = true;
        let mut argv = Argv::default();
        let requests = [
            "SET k value",
            "SET k2 value EX 100",
            "SETEX k3 100 value",
            "GET k",
            "MGET k k2",
            "INCR n",
            "INCRBY n 5",
            "LPUSH l a b",
            "RPUSH l c",
            "LPUSHX l d",
            "LPOP l",
            "RPOP l",
            "HSET h f v",
            "HMSET h f2 v2",
            "HGET h f",
            "SADD s m",
            "ZADD z 1 m",
            "XADD x * f v",
            "MSET a 1 b 2",
            "APPEND k more",
            "GETSET k2 other",
            "PING hello",
            "ECHO hello",
            "CLIENT SETNAME conn",
            "WATCH k",
            "MULTI",
            "SET k queued",
            "LPUSH l queued",
            "EXEC",
            "EVAL \"return redis.call('set', KEYS[1], ARGV[1])\" 1 k4 v",
            "SCRIPT LOAD \"return 1\"",
            "DEL a b",
        ];
        for line in requests {
            let args = split_args(line.as_bytes()).expect("split");
            let mut buf = BytesMut::with_capacity(4096);
            encode_command(&args, &mut buf);
            assert!(argv.take(&mut buf, &Limits::default()).expect("parse"));
            let mut ctx = Ctx {
                s: &mut s,
                sc: &mut sc,
                c: &mut c,
                now: now_ms(),
                in_script: false,
                in_exec: false,
                custom_prop: false,
            };
            let reply = execute(&mut ctx, &mut argv.args);
            assert!(!matches!(reply, Reply::Error(_)), "{line}: {reply:?}");
            // The server encodes a reply and drops it at once (ECHO's
            // reply is a slice of the request until then).
            drop(reply);
            argv.args.clear();
            assert!(
                buf.try_reclaim(4096),
                "{line} kept a slice of the read buffer"
            );
        }
    }
}
