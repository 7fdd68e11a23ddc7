//! MONITOR: every command the server runs, as Redis prints it
//! (`+1700000000.123456 [0 127.0.0.1:5000] "set" "k" "v"`), to each client
//! that asked. Costs one emptiness check per command while nobody monitors.
//!
//! As in Redis 7.0: a command is shown once it has run (EVAL and FCALL
//! before, so the calls their script makes follow them, shown as `[db lua]`);
//! commands inside EXEC are shown as they run, then EXEC; queued, unknown
//! and refused commands are not shown; `admin` commands never are. A
//! monitoring client may still run commands that leave the keyspace alone
//! (PING, CLIENT ID, SUBSCRIBE, ...); RESET or QUIT end the mode.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use bytes::Bytes;

use super::ctx::{Ctx, Spec, R};
use crate::resp::Reply;
use crate::spec::flags::{ADMIN, CHANNEL_ARG, SCRIPT_KEYS};

pub(super) fn monitor(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    // Redis refuses it inside EXEC: the client expects one reply per command.
    if ctx.in_exec {
        return Err(Reply::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    // A second MONITOR is ignored without a reply, as Redis does.
    if ctx
        .s
        .monitors
        .insert(ctx.c.id, ctx.c.shared.clone())
        .is_some()
    {
        return Ok(Reply::None);
    }
    Ok(Reply::Ok)
}

/// Whether the client is in MONITOR mode.
pub(crate) fn is_monitor(s: &crate::store::Store, id: u64) -> bool {
    !s.monitors.is_empty() && s.monitors.contains_key(&id)
}

/// Redis treats a monitor as a replica, which may not read or write keys
/// (nor publish or run scripts, which may replicate): `Err` is its refusal.
pub(crate) fn refuse_keyspace(spec: &Spec) -> Result<(), Reply> {
    /// Redis's read and write commands: its `@read` and `@write` categories
    /// are exactly its `readonly` and `write` flags.
    static KEYSPACE: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let keyspace = KEYSPACE.get_or_init(|| {
        crate::acl_categories::CATEGORIES
            .iter()
            .filter(|(c, _)| matches!(*c, "read" | "write"))
            .flat_map(|(_, cmds)| cmds.iter().copied())
            .collect()
    });
    if spec.has(SCRIPT_KEYS | CHANNEL_ARG) || keyspace.contains(spec.name) {
        return Err(Reply::err("Replica can't interact with the keyspace"));
    }
    Ok(())
}

/// Sends `argv` to the monitors, as client `ctx.c` ran it (`lua` for a
/// script's calls). The caller checks first that someone monitors.
pub(crate) fn feed(ctx: &Ctx<'_>, spec: &Spec, argv: &[Bytes]) {
    if ctx.s.loading || ctx.c.replay || spec.has(ADMIN) {
        return;
    }
    let line = format_line(ctx, spec, argv);
    let limit = ctx.s.cfg.pubsub_output_limit;
    for m in ctx.s.monitors.values() {
        // A monitor that does not read is closed like a slow subscriber.
        let size = line.len() + 3;
        let pending = m.pending.fetch_add(size, Ordering::SeqCst) + size;
        if limit > 0 && pending > limit {
            m.kill();
        } else {
            let _ = m.tx.send(Reply::Status(line.clone()));
        }
    }
}

fn format_line(ctx: &Ctx<'_>, spec: &Spec, argv: &[Bytes]) -> String {
    use std::fmt::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!("{}.{:06} ", now.as_secs(), now.subsec_micros());
    if ctx.in_script {
        let _ = write!(line, "[{} lua]", ctx.c.db);
    } else {
        let addr = ctx.s.clients.get(&ctx.c.id).map_or("", |e| e.addr.as_str());
        let _ = write!(line, "[{} {addr}]", ctx.c.db);
    }
    let secret = secret_args(spec, argv);
    for (i, a) in argv.iter().enumerate() {
        line.push(' ');
        if secret.contains(&i) {
            line.push_str("\"(redacted)\"");
        } else {
            repr(&mut line, a);
        }
    }
    line
}

/// The arguments Redis shows as `"(redacted)"`: AUTH's user and password,
/// HELLO's after `AUTH`, MIGRATE's after `AUTH` or `AUTH2`. (Each command
/// lays its secrets out differently; Redis redacts them in each handler.)
pub(super) fn secret_args(spec: &Spec, argv: &[Bytes]) -> std::ops::Range<usize> {
    let after = |word: &[u8], n: usize| {
        argv.iter()
            .position(|a| a.eq_ignore_ascii_case(word))
            .map_or(0..0, |i| i + 1..i + 1 + n)
    };
    match spec.name {
        "auth" => 1..argv.len(),
        "hello" => after(b"auth", 2),
        "migrate" => match after(b"auth", 1) {
            r if !r.is_empty() => r,
            _ => after(b"auth2", 2),
        },
        _ => 0..0,
    }
}

/// Redis's `sdscatrepr`: a quoted string with C escapes.
fn repr(out: &mut String, b: &[u8]) {
    use std::fmt::Write;
    out.push('"');
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::repr;

    /// Byte for byte as `sdscatrepr` prints it (checked against redis-server
    /// in tests/conformance.rs `monitor`; these are the rarer bytes).
    #[test]
    fn arguments_are_quoted_like_sdscatrepr() {
        let mut s = String::new();
        repr(&mut s, b"a\"b\\c\n\r\t\x07\x08\x00\xff~ z");
        assert_eq!(s, r#""a\"b\\c\n\r\t\a\b\x00\xff~ z""#);
    }
}
