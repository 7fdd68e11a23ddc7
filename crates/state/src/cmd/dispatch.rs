//! The front door for a client's request.
//!
//! [`execute`] checks existence, arity, auth, ACLs, memory, MULTI queueing
//! and pub/sub context in the order Redis does, then [`call`]s the handler;
//! [`after_command`] then serves clients blocked on keys the command filled
//! and writes the log.

use bytes::Bytes;

use super::call::{acl_check, call};
use super::ctx::Ctx;
use super::table::resolve;
use super::wake::serve_ready;
use crate::evict;
use crate::resp::Reply;
use crate::spec::flags::{
    DENYOOM, KEEPS_CACHING, MULTI_RECORD, NOAUTH, NOQUEUE, NO_MULTI, PUBSUB, RUNS_OTHERS, WRITE,
};
use crate::store::Store;

/// Handles one client request with all of Redis's pre-checks; error replies
/// are counted by code for INFO's errorstats.
pub(crate) fn execute(ctx: &mut Ctx<'_>, argv: Vec<Bytes>) -> Reply {
    let reply = execute_checked(ctx, argv);
    if let Reply::Error(e) = &reply {
        super::info::count_error(ctx.s, e);
    }
    reply
}

fn execute_checked(ctx: &mut Ctx<'_>, argv: Vec<Bytes>) -> Reply {
    if ctx.s.shutting_down {
        ctx.c.close = true;
        return Reply::err("server is shutting down");
    }
    ctx.s.stats.commands += 1;
    let spec = match resolve(&argv) {
        Ok(s) => s,
        Err(e) => {
            if ctx.c.multi.is_some() {
                ctx.c.multi_err = true;
            }
            return e;
        }
    };
    if !ctx.c.authed && !spec.has(NOAUTH) {
        if ctx.c.multi.is_some() {
            ctx.c.multi_err = true;
        }
        return Reply::Error("NOAUTH Authentication required.".into());
    }
    // AUTH, HELLO, QUIT and RESET are exempt, as in Redis (they are how you log in).
    if !spec.has(NOAUTH) {
        if let Err(d) = acl_check(ctx, spec, &argv) {
            if ctx.c.multi.is_some() {
                ctx.c.multi_err = true;
            }
            return Reply::Error(d.message(spec.name));
        }
    }
    if spec.has(DENYOOM) && ctx.s.cfg.maxmemory > 0 && !evict::make_room(ctx.s) {
        if ctx.c.multi.is_some() {
            ctx.c.multi_err = true;
        }
        return Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into());
    }
    if ctx.c.proto == 2 && !spec.has(PUBSUB) && ctx.c.subscriptions > 0 {
        if let Some(e) = ctx.s.clients.get(&ctx.c.id) {
            if !e.channels.is_empty() || !e.patterns.is_empty() {
                return Reply::err(format!(
                    "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    spec.name
                ));
            }
        }
    }
    if let Some(queue) = ctx.c.multi.as_mut() {
        if spec.has(NO_MULTI) {
            ctx.c.multi_err = true;
            return Reply::err("Command not allowed inside a transaction");
        }
        if !spec.has(NOQUEUE) {
            queue.push(argv);
            return Reply::Status("QUEUED".into());
        }
    }
    let track = ctx.s.cfg.maxmemory > 0 && spec.has(WRITE);
    let db = ctx.c.db;
    let before = if track {
        evict::measure(ctx.s, db, spec, &argv)
    } else {
        0
    };
    let reply = call(ctx, spec, &argv);
    if ctx.s.tracking.on > 0 && !spec.has(KEEPS_CACHING) && ctx.c.multi.is_none() {
        ctx.s.tracking.command_done(ctx.c.id);
    }
    if track {
        evict::account(ctx.s, db, spec, &argv, before);
    } else if ctx.s.cfg.maxmemory > 0 && spec.has(RUNS_OTHERS) {
        evict::recount(ctx.s);
    }
    // Commands logged as several records replay all-or-nothing, as Redis
    // wraps what one command propagates in MULTI/EXEC.
    after_command(ctx.s, spec.has(MULTI_RECORD));
    reply
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
