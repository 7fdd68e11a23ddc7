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
    DENYOOM, KEEPS_CACHING, MULTI_RECORD, NOAUTH, NOQUEUE, NO_MULTI, PUBSUB, RUNS_OTHERS, WRITE,
};
use crate::store::Store;

/// Handles one client request with all of Redis's pre-checks. Error replies
/// are counted by code for INFO's errorstats: refusals here, the handlers'
/// own errors in [`call`] (so those of commands inside EXEC count too).
pub(crate) fn execute(ctx: &mut Ctx<'_>, argv: Vec<Bytes>) -> Reply {
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
fn execute_checked(ctx: &mut Ctx<'_>, argv: Vec<Bytes>) -> Result<Reply, Reply> {
    if ctx.s.shutting_down {
        ctx.c.close = true;
        return Err(Reply::err("server is shutting down"));
    }
    ctx.s.stats.commands += 1;
    let spec = match lookup(&argv) {
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
    if let Err(refused) = refuse(ctx, spec, &argv) {
        if ctx.c.multi.is_some() {
            ctx.c.multi_err = true;
        }
        ctx.s.stats.cmd.reject(spec.name);
        return Err(refused);
    }
    if let Some(queue) = ctx.c.multi.as_mut() {
        if !spec.has(NOQUEUE) {
            queue.push(argv);
            return Ok(Reply::Status("QUEUED".into()));
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
    if ctx.c.proto == 2 && !spec.has(PUBSUB) && ctx.c.subscriptions > 0 {
        if let Some(e) = ctx.s.clients.get(&ctx.c.id) {
            if !e.channels.is_empty() || !e.patterns.is_empty() {
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
