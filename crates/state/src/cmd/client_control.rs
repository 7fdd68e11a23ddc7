//! CLIENT subcommands that steer other connections or this one's replies:
//! UNBLOCK (release a client blocked in BLPOP & co.) and REPLY (mute this
//! connection's replies, as mass-insert tools do).

use bytes::Bytes;

use super::args::{int, is};
use super::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::store::Replies;

/// What a client released by CLIENT UNBLOCK ... ERROR is answered (Redis's
/// words and error code).
const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: releases a client blocked on keys as
/// if its timeout had expired, or with an error; 1 if it was blocked.
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

/// Redis's answer to a CLIENT subcommand with a wrong number of arguments
/// its arity lets through.
fn subcommand_syntax(a: &[Bytes]) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
        String::from_utf8_lossy(&a[1])
    ))
}
