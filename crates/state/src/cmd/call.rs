//! Running a resolved command: the handler plus its bookkeeping (WATCH
//! touches, the log, MONITOR), and the ACL check every caller makes first. Client
//! requests ([`super::dispatch`]), EXEC and scripts all come through here.

use bytes::Bytes;

use super::ctx::{Ctx, Spec, Unresolved};
use crate::acl::Denied;
use crate::acl_log::{Context, Reason};
use crate::resp::Reply;
use crate::spec::flags::{MONITOR_FIRST, NOQUEUE, NOTOUCH, SKIP_SLOWLOG, WRITE};

/// Runs a resolved command: the handler plus bookkeeping (watch touches, log).
pub(crate) fn call(ctx: &mut Ctx<'_>, spec: &'static Spec, argv: &[Bytes]) -> Reply {
    let dirty = ctx.s.dirty;
    let saved_prop = ctx.custom_prop;
    ctx.custom_prop = false;
    let db = ctx.c.db;
    // Client-side caching: one counter check when nobody tracks.
    let tracking = ctx.s.tracking.on > 0;
    let writer = if tracking {
        std::mem::replace(&mut ctx.s.tracking.writer, ctx.c.id)
    } else {
        0
    };
    // Timed as Redis times it (commandstats, latencystats): the handler
    // alone; EXEC and scripts include the commands they run, which are
    // counted on their own too. Not while replaying the log. A client's
    // request starts from the reading its `now` came from (the wall clock,
    // as Redis's `ustime`; a step back counts as zero).
    let started = ctx
        .s
        .request_clock
        .take()
        .unwrap_or_else(crate::store::wall_ns);
    // MONITOR: one emptiness check when nobody monitors.
    if spec.has(MONITOR_FIRST) && !ctx.s.monitors.is_empty() {
        super::monitor::feed(ctx, spec, argv);
    }
    let reply = match spec.run {
        Some(run) => run(ctx, argv).unwrap_or_else(|e| e),
        // Unreachable by construction: a container without a handler has an
        // arity of at least two, so lookup resolves it to a subcommand or
        // refuses it. Answered as that refusal all the same.
        None => Unresolved::WrongArity(spec.name).reply(),
    };
    if !spec.has(MONITOR_FIRST) && !ctx.s.monitors.is_empty() {
        super::monitor::feed(ctx, spec, argv);
    }
    if !ctx.s.loading {
        let end = crate::store::wall_ns();
        ctx.s.clock_after = end;
        let ns = end.saturating_sub(started);
        let failed = match &reply {
            Reply::Error(e) => {
                // A script's failing redis.call reaches the client as the
                // script's error: counted there, once.
                if !ctx.in_script {
                    super::info::count_error(ctx.s, e);
                }
                true
            }
            _ => false,
        };
        ctx.s.stats.cmd.call(spec.name, ns, failed);
        if ctx.s.slowlog.wants(ns) && !spec.has(SKIP_SLOWLOG) {
            super::slowlog::record(ctx, spec, argv, ns);
        }
        // One compare while the monitor is off (the default).
        if ctx.s.latency.threshold_ms > 0 {
            ctx.s
                .latency
                .sample_if_needed("command", ns / 1_000_000, end / 1_000_000_000);
        }
    }
    if ctx.s.dirty != dirty {
        if (!ctx.s.watched.is_empty() || tracking) && !spec.has(NOTOUCH) {
            for i in spec.key_indexes(argv) {
                ctx.s.touch(db, &argv[i]);
            }
        }
        if spec.has(WRITE) && !ctx.custom_prop && !ctx.s.loading && ctx.s.aof.is_some() {
            ctx.s.prop.push((db, argv.to_vec()));
        }
    }
    if tracking {
        // Keys a read-only command read may now be cached by its client
        // (Redis's READONLY commands; WATCH reads nothing).
        if !spec.has(WRITE | NOQUEUE) {
            for i in spec.key_indexes(argv) {
                ctx.s.tracking.remember(ctx.c.id, &argv[i]);
            }
        }
        ctx.s.tracking.writer = writer;
    }
    ctx.custom_prop = saved_prop;
    // The registry (CLIENT LIST) is looked up only when the name changes:
    // a client mostly repeats its command.
    if !std::ptr::eq(ctx.c.last_cmd, spec.name) {
        ctx.c.last_cmd = spec.name;
        if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
            e.last_cmd = spec.name;
        }
    }
    reply
}

/// The caller's user may run `spec` with `argv`. Costs one integer compare for
/// an unrestricted user; the user is looked up only after an ACL change.
pub(crate) fn acl_check(ctx: &mut Ctx<'_>, spec: &Spec, argv: &[Bytes]) -> Result<(), Denied> {
    if ctx.c.replay {
        return Ok(());
    }
    if ctx.c.acl_gen != ctx.s.acl.generation {
        ctx.c.acl_gen = ctx.s.acl.generation;
        ctx.c.unrestricted = ctx.s.acl.get(&ctx.c.user).is_some_and(|u| u.unrestricted());
    }
    if ctx.c.unrestricted {
        return Ok(());
    }
    ctx.s
        .acl
        .check_at(&ctx.c.user, spec, argv)
        .map_err(|(d, at)| {
            let (reason, object) = match d {
                Denied::Command => (Reason::Command, spec.name.as_bytes()),
                Denied::Key => (Reason::Key, &argv[at][..]),
                Denied::Channel => (Reason::Channel, &argv[at][..]),
            };
            let context = if ctx.in_script {
                Context::Lua
            } else if ctx.in_exec {
                Context::Multi
            } else {
                Context::Toplevel
            };
            let user = ctx.c.user.as_bytes().to_vec();
            super::client_info::acl_log(ctx, reason, context, object.to_vec(), user);
            d
        })
}
