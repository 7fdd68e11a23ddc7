//! SLOWLOG: the commands that ran longer than `slowlog-log-slower-than`
//! microseconds (-1 off, 0 every command), newest first, the last
//! `slowlog-max-len` kept, as Redis keeps them: at most 32 arguments, each
//! cut to 128 bytes, secrets redacted as MONITOR redacts them, a script's
//! calls under the address `?:0`. Costs one comparison per command.

use bytes::Bytes;

use super::args::int;
use super::ctx::{Ctx, Spec, R};
use crate::resp::Reply;
use crate::slowlog::Entry;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;

/// Keeps `argv`, run by `ctx.c` (or its script), which took `ns`.
pub(crate) fn record(ctx: &mut Ctx<'_>, spec: &Spec, argv: &[Bytes], ns: u64) {
    let secret = super::monitor::secret_args(spec, argv);
    let shown = if argv.len() > MAX_ARGS {
        MAX_ARGS - 1
    } else {
        argv.len()
    };
    let mut args: Vec<Bytes> = argv[..shown]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if secret.contains(&i) {
                Bytes::from_static(b"(redacted)")
            } else if a.len() > MAX_ARG_BYTES {
                let mut cut = a[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                );
                Bytes::from(cut)
            } else {
                // A copy: the argument may be a slice of the client's read buffer.
                Bytes::copy_from_slice(a)
            }
        })
        .collect();
    if argv.len() > MAX_ARGS {
        args.push(Bytes::from(format!(
            "... ({} more arguments)",
            argv.len() - MAX_ARGS + 1
        )));
    }
    let (addr, name) = if ctx.in_script {
        ("?:0".to_owned(), Bytes::new())
    } else {
        ctx.s.clients.get(&ctx.c.id).map_or_else(
            || (String::new(), Bytes::new()),
            |e| (e.addr.clone(), e.name.clone().unwrap_or_default()),
        )
    };
    let unix_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    ctx.s.slowlog.push(Entry {
        id: 0,
        unix_secs,
        micros: ns / 1000,
        argv: args,
        addr,
        name,
    });
}

pub(super) fn get(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(Reply::err(
            "unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.",
        ));
    }
    // Redis answers a count that is not a number as it answers -2.
    let count = match a.get(2).map(|n| int(n).ok()) {
        None => 10,
        Some(Some(-1)) => usize::MAX,
        Some(Some(n)) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(_) => return Err(Reply::err("count should be greater than or equal to -1")),
    };
    Ok(Reply::Array(
        ctx.s
            .slowlog
            .entries()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.unix_secs),
                    Reply::Int(e.micros as i64),
                    Reply::Array(e.argv.iter().map(|x| Reply::Bulk(x.clone())).collect()),
                    Reply::bulk(e.addr.clone()),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    ))
}

pub(super) fn len(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.s.slowlog.len() as i64))
}

pub(super) fn reset(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    ctx.s.slowlog.reset();
    Ok(Reply::Ok)
}

pub(super) fn help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(
        [
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ]
        .iter()
        .map(|l| Reply::Status((*l).into()))
        .collect(),
    ))
}
