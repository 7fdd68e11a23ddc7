//! What a client looks like from the outside: its CLIENT INFO line, and the
//! ACL LOG entry a refused call or failed login makes of it. A leaf below the
//! command handlers (`conn.rs` answers CLIENT and ACL, `call.rs` records
//! refusals), so neither imports the other.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::Ctx;

/// A client's CLIENT INFO / CLIENT LIST line.
pub(super) fn client_line(ctx: &Ctx<'_>, id: u64) -> String {
    let Some(e) = ctx.s.clients.get(&id) else {
        return String::new();
    };
    let b = |x: &Option<Bytes>| {
        x.as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let mut flags = String::new();
    if super::monitor::is_monitor(ctx.s, id) {
        flags.push('O');
    }
    if !e.channels.is_empty() || !e.patterns.is_empty() {
        flags.push('P');
    }
    if e.multi {
        flags.push('x');
    }
    if e.blocked {
        flags.push('b');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let age = e.created.elapsed().as_secs();
    format!(
        "id={id} addr={} laddr={} fd=8 name={} age={age} idle=0 flags={flags} db={} sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        e.addr,
        e.laddr,
        b(&e.name),
        e.db,
        e.channels.len(),
        e.patterns.len(),
        e.shard_channels.len(),
        if e.multi { 0 } else { -1 },
        e.shared.pending.load(Ordering::Relaxed),
        if e.last_cmd.is_empty() { "NULL" } else { e.last_cmd },
        e.user,
        e.resp,
        b(&e.lib_name),
        b(&e.lib_ver),
    )
}

/// Records a refused call or a failed login in ACL LOG, with the client's
/// CLIENT INFO as it is now.
pub(super) fn acl_log(
    ctx: &mut Ctx<'_>,
    reason: crate::acl_log::Reason,
    context: crate::acl_log::Context,
    object: Vec<u8>,
    username: Vec<u8>,
) {
    let max_len = ctx
        .s
        .params
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let entry = crate::acl_log::Entry {
        count: 1,
        reason,
        context,
        object,
        username,
        ms: unix_ms(),
        client_info: client_line(ctx, ctx.c.id),
    };
    ctx.s.acl_log.add(entry, max_len);
}

/// Wall-clock ms since the epoch (ACL LOG ages are wall-clock, as in Redis).
pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
