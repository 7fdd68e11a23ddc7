//! Pub/sub commands. Messages travel on each client's push channel; in RESP3
//! they are push frames, in RESP2 plain arrays.

use bytes::Bytes;

use super::ctx::{Ctx, R};
use crate::glob;
use crate::resp::Reply;
use crate::store::Store;

fn count(ctx: &Ctx<'_>) -> i64 {
    ctx.s
        .clients
        .get(&ctx.c.id)
        .map_or(0, |e| (e.channels.len() + e.patterns.len()) as i64)
}

fn confirm(kind: &str, ch: Option<Bytes>, n: i64) -> Reply {
    Reply::Push(vec![
        Reply::bulk(kind),
        ch.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(n),
    ])
}

fn sub_generic(ctx: &mut Ctx<'_>, a: &[Bytes], pattern: bool) -> R {
    let id = ctx.c.id;
    let shared = ctx.c.shared.clone();
    let mut out = Vec::new();
    for ch in &a[1..] {
        let Some(e) = ctx.s.clients.get_mut(&id) else {
            break;
        };
        let set = if pattern {
            &mut e.patterns
        } else {
            &mut e.channels
        };
        if set.insert(ch.clone()) {
            let subs = if pattern {
                ctx.s.patterns.entry(ch.clone()).or_default()
            } else {
                ctx.s.channels.entry(ch.clone()).or_default()
            };
            subs.insert(id, shared.clone());
        }
        let n = count(ctx);
        ctx.c.subscriptions = n as usize;
        out.push(confirm(
            if pattern { "psubscribe" } else { "subscribe" },
            Some(ch.clone()),
            n,
        ));
    }
    Ok(Reply::Multi(out))
}

pub(super) fn subscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sub_generic(ctx, a, false)
}
pub(super) fn psubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sub_generic(ctx, a, true)
}

/// Removes every channel and pattern subscription of client `id`.
pub(crate) fn remove_all_subs(s: &mut Store, id: u64) {
    let Some(e) = s.clients.get(&id) else {
        return;
    };
    let chans: Vec<Bytes> = e.channels.iter().cloned().collect();
    let pats: Vec<Bytes> = e.patterns.iter().cloned().collect();
    for ch in chans {
        remove_sub(s, id, &ch, false);
    }
    for p in pats {
        remove_sub(s, id, &p, true);
    }
}

/// Removes one subscription; true if it existed.
pub(crate) fn remove_sub(s: &mut Store, id: u64, ch: &Bytes, pattern: bool) -> bool {
    let Some(e) = s.clients.get_mut(&id) else {
        return false;
    };
    let set = if pattern {
        &mut e.patterns
    } else {
        &mut e.channels
    };
    if !set.remove(ch) {
        return false;
    }
    if pattern {
        if let Some(m) = s.patterns.get_mut(ch) {
            m.shift_remove(&id);
            if m.is_empty() {
                s.patterns.shift_remove(ch);
            }
        }
    } else if let Some(m) = s.channels.get_mut(ch) {
        m.shift_remove(&id);
        if m.is_empty() {
            s.channels.remove(ch);
        }
    }
    true
}

fn unsub_generic(ctx: &mut Ctx<'_>, a: &[Bytes], pattern: bool) -> R {
    let id = ctx.c.id;
    let kind = if pattern {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let targets: Vec<Bytes> = if a.len() > 1 {
        a[1..].to_vec()
    } else {
        ctx.s
            .clients
            .get(&id)
            .map(|e| {
                let set = if pattern { &e.patterns } else { &e.channels };
                set.iter().cloned().collect()
            })
            .unwrap_or_default()
    };
    if targets.is_empty() {
        return Ok(Reply::Multi(vec![confirm(kind, None, count(ctx))]));
    }
    let mut out = Vec::new();
    for ch in targets {
        remove_sub(ctx.s, id, &ch, pattern);
        let n = count(ctx);
        ctx.c.subscriptions = n as usize;
        out.push(confirm(kind, Some(ch), n));
    }
    Ok(Reply::Multi(out))
}

pub(super) fn unsubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    unsub_generic(ctx, a, false)
}
pub(super) fn punsubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    unsub_generic(ctx, a, true)
}

pub(super) fn publish(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.s.publish(&a[1], &a[2])))
}

pub(super) fn channels(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(Reply::err(
            "wrong number of arguments for 'pubsub|channels' command",
        ));
    }
    let pat = a.get(2);
    Ok(Reply::Array(
        ctx.s
            .channels
            .keys()
            .filter(|c| pat.is_none_or(|p| glob::matches(p, c, false)))
            .map(|c| Reply::Bulk(c.clone()))
            .collect(),
    ))
}

pub(super) fn numsub(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut out = Vec::new();
    for ch in &a[2..] {
        out.push(Reply::Bulk(ch.clone()));
        out.push(Reply::Int(
            ctx.s.channels.get(ch).map_or(0, |m| m.len()) as i64
        ));
    }
    Ok(Reply::Array(out))
}

pub(super) fn numpat(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.s.patterns.len() as i64))
}
