//! A client's request while a script is busy, answered without the store
//! lock (the script holds it).
//!
//! Redis's checks before its BUSY refusal that need no store run here in its
//! order (unknown command, arity, authentication); then the command's
//! [`WhileBusy`] row decides. ACL and pub/sub-context refusals need the
//! store, so a restricted or subscribed client is answered BUSY instead, as
//! any other client. Commands Redis lets through but that need the store
//! here (AUTH, HELLO, MULTI, WATCH, FUNCTION STATS...) wait for the script.

use bytes::Bytes;

use super::args::is;
use super::table::lookup;
use crate::busy::{KillReply, Kind, ScriptWatch};
use crate::resp::Reply;
use crate::spec::flags::NOAUTH;
use crate::spec::WhileBusy;
use crate::store::Client;

/// What to do with the request.
pub(crate) enum Step {
    /// Answer this (the request is consumed).
    Reply(Reply),
    /// Leave the request unread until the script ends, then run it.
    Wait,
    /// Close the connection with no answer (SHUTDOWN NOSAVE).
    Close,
}

/// Answers `argv` from `client` while a script of `kind` is busy.
pub(crate) fn serve(watch: &ScriptWatch, client: &mut Client, kind: Kind, argv: &[Bytes]) -> Step {
    let spec = match lookup(argv) {
        Ok(s) => s,
        Err(e) => {
            if client.multi.is_some() {
                client.multi_err = true;
            }
            return Step::Reply(e.reply());
        }
    };
    if !client.authed && !spec.has(NOAUTH) {
        return Step::Reply(Reply::Error("NOAUTH Authentication required.".into()));
    }
    let refuse = |client: &mut Client, kind: Kind| {
        if client.multi.is_some() {
            client.multi_err = true;
        }
        watch.refused(spec.name);
        Step::Reply(Reply::Error(kind.busy_error().into()))
    };
    let killed = |by| match watch.kill(by) {
        KillReply::Ok => Step::Reply(Reply::Ok),
        KillReply::NotBusy => Step::Reply(Reply::Error(crate::busy::NOTBUSY.into())),
        KillReply::Unkillable => Step::Reply(Reply::Error(crate::busy::UNKILLABLE.into())),
        KillReply::WrongKind(running) => Step::Reply(Reply::Error(running.busy_error().into())),
    };
    match spec.while_busy {
        WhileBusy::Refuse => refuse(client, kind),
        WhileBusy::KillScript => killed(Kind::Eval),
        WhileBusy::KillFunction => killed(Kind::Function),
        WhileBusy::Quit => {
            client.close = true;
            Step::Reply(Reply::Ok)
        }
        WhileBusy::Wait => Step::Wait,
        WhileBusy::Shutdown => {
            let nosave = argv[1..].iter().any(|a| is(a, "nosave"));
            let abort = argv[1..].iter().any(|a| is(a, "abort"));
            if !nosave || abort || !watch.admission().shutdown_allowed {
                // Refusals and syntax errors come from SHUTDOWN itself,
                // after the script.
                if nosave || abort {
                    return Step::Wait;
                }
                return refuse(client, kind);
            }
            if watch.kill_for_shutdown() {
                tracing::warn!(client = client.id, "SHUTDOWN NOSAVE while a script is busy");
                Step::Close
            } else {
                Step::Wait
            }
        }
    }
}
