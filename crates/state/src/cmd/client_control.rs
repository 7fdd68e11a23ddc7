//! CLIENT subcommands that steer other connections or this one's replies:
//! UNBLOCK (release a client blocked in BLPOP & co.), REPLY (mute this
//! connection's replies, as mass-insert tools do), PAUSE and UNPAUSE (hold
//! every command, or the writes, of every client for a while).
//!
//! A paused command is not refused: [`postpone`] leaves it with its
//! connection, which keeps the request and runs it again once the pause
//! ends; held commands then run in the order they arrived.

use bytes::Bytes;

use super::args::{int, is};
use super::ctx::{Ctx, Spec, Unresolved, R};
use crate::resp::Reply;
use crate::spec::flags::{MAY_REPLICATE, NOQUEUE, RUNS_OTHERS, SCRIPT_KEYS, WRITE};
use crate::store::{Pause, Postponed, Replies, Store};

/// What a client released by CLIENT UNBLOCK ... ERROR is answered (Redis's
/// words and error code).
const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: releases a client blocked on keys as
/// if its timeout had expired, or with an error; 1 if it was blocked.
///
/// A client held by CLIENT PAUSE is not blocked on keys: the answer is 0
/// and it stays held until the pause ends (CLIENT UNPAUSE is the way).
/// redis-server 7.0.15 differs and is not followed: on TIMEOUT it stops
/// ("Unknown btype in replyToBlockedClientTimedOut()"), on ERROR it sends
/// the held client an UNBLOCKED error and later, for the same command, its
/// reply (one reply too many for the client). Valkey made both answer 0
/// (valkey-io/valkey#2117), as here; `tests/client_control.rs` checks it.
pub(super) fn client_unblock(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 4 {
        return Err(subcommand_syntax(a));
    }
    let error = match a.get(3) {
        None => false,
        Some(w) if is(w, "timeout") => false,
        Some(w) if is(w, "error") => true,
        Some(_) => {
            return Err(Reply::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = int(&a[2])?;
    let error = error.then(|| Reply::Error(UNBLOCKED.into()));
    let released = u64::try_from(id).is_ok_and(|id| super::time_out(ctx.s, id, error));
    Ok(Reply::Int(i64::from(released)))
}

/// CLIENT REPLY ON|OFF|SKIP. ON answers OK; OFF and SKIP answer nothing
/// (the connection writes no reply while `replies` is not `On`, see
/// `server::answer`). SKIP while OFF changes nothing, as in Redis.
pub(super) fn client_reply(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let w = &a[2];
    if is(w, "on") {
        ctx.c.replies = Replies::On;
        Ok(Reply::Ok)
    } else if is(w, "off") {
        ctx.c.replies = Replies::Off;
        Ok(Reply::None)
    } else if is(w, "skip") {
        if ctx.c.replies != Replies::Off {
            ctx.c.replies = Replies::SkipNext;
        }
        Ok(Reply::None)
    } else {
        Err(super::args::syntax())
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]: holds other clients' commands (ALL,
/// the default) or their writes for `timeout` ms. A pause already in force
/// is extended and made stricter, never shortened, as in Redis 7.0.
pub(super) fn client_pause(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 4 {
        return Err(subcommand_syntax(a));
    }
    let all = match a.get(3) {
        None => true,
        Some(w) if is(w, "all") => true,
        Some(w) if is(w, "write") => false,
        Some(_) => return Err(Reply::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = crate::resp::parse_i64(&a[2])
        .ok_or_else(|| Reply::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Reply::err("timeout is negative"));
    }
    let until = ctx
        .now
        .checked_add(ms as u64)
        .filter(|&u| u <= i64::MAX as u64)
        .ok_or_else(|| Reply::err("timeout is out of range"))?;
    let now = ctx.now;
    match ctx.s.pause.as_mut() {
        Some(p) if p.active(now) => {
            p.until_ms = p.until_ms.max(until);
            p.all |= all;
        }
        Some(p) => {
            p.until_ms = until;
            p.all = all;
        }
        None => {
            ctx.s.pause = Some(Box::new(Pause {
                until_ms: until,
                all,
                queue: Default::default(),
                moved: tokio::sync::watch::Sender::new(0),
            }))
        }
    }
    Ok(Reply::Ok)
}

/// CLIENT UNPAUSE: ends the pause; the held commands run, in order.
pub(super) fn client_unpause(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    if let Some(p) = ctx.s.pause.as_mut() {
        p.until_ms = 0;
        p.bump();
        if p.queue.is_empty() {
            ctx.s.pause = None;
        }
    }
    Ok(Reply::Ok)
}

/// Whether a pause (or the queue it left) holds this command back; if so
/// the client is queued and `ctx.c.postponed` tells its connection what to
/// wait for. After the pause the queue drains in order: the client at its
/// front runs and lets the next go, and a held-back kind of command from
/// anyone else queues behind them. Called only when `s.pause` is set.
/// `lookup` resolves the queued commands of an EXEC (the command table's
/// lookup, passed in: the table names this module's handlers).
pub(super) fn postpone(
    ctx: &mut Ctx<'_>,
    spec: &Spec,
    argv: &[Bytes],
    lookup: fn(&[Bytes]) -> Result<&'static Spec, Unresolved>,
) -> bool {
    let now = ctx.now;
    let id = ctx.c.id;
    // EXEC (the one command that runs others and is never queued) waits
    // when what it would run writes, as Redis looks at its queued flags.
    // A script that declared `no-writes` does not, whatever its command's
    // flags say (Redis's getCommandFlags).
    let may_write = |ctx: &Ctx<'_>, spec: &Spec, argv: &[Bytes]| {
        spec.has(WRITE | MAY_REPLICATE)
            && !(spec.has(SCRIPT_KEYS) && super::script::declared_no_writes(ctx, spec.flags, argv))
    };
    let writes = may_write(ctx, spec, argv)
        || (spec.has(RUNS_OTHERS)
            && spec.has(NOQUEUE)
            && ctx.c.multi.as_ref().is_some_and(|q| {
                q.iter()
                    .any(|argv| lookup(argv).is_ok_and(|s| may_write(ctx, s, argv)))
            }));
    let Some(p) = ctx.s.pause.as_mut() else {
        return false;
    };
    let active = p.active(now);
    if !active && p.queue.is_empty() {
        ctx.s.pause = None;
        return false;
    }
    if !p.all && !writes {
        return false;
    }
    if active || p.queue.front().is_some_and(|&f| f != id) {
        if !p.queue.contains(&id) {
            p.queue.push_back(id);
            if let Some(e) = ctx.s.clients.get_mut(&id) {
                e.blocked = true;
            }
        }
        ctx.c.postponed = Some(Postponed {
            until_ms: if active { p.until_ms } else { 0 },
            moved: p.moved.subscribe(),
        });
        return true;
    }
    // Over, and this client is first: it runs and lets the next one go.
    if p.queue.front() == Some(&id) {
        p.queue.pop_front();
        p.bump();
        if let Some(e) = ctx.s.clients.get_mut(&id) {
            e.blocked = false;
        }
    }
    if p.queue.is_empty() {
        ctx.s.pause = None;
    }
    false
}

/// A client that goes away while held leaves the queue, so the ones behind
/// it do not wait for it.
pub(crate) fn leave_pause_queue(s: &mut Store, id: u64) {
    if let Some(p) = s.pause.as_mut() {
        if let Some(i) = p.queue.iter().position(|&c| c == id) {
            p.queue.remove(i);
            p.bump();
        }
    }
}

/// Redis's answer to a CLIENT subcommand with a wrong number of arguments
/// its arity lets through.
fn subcommand_syntax(a: &[Bytes]) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
        String::from_utf8_lossy(&a[1])
    ))
}
