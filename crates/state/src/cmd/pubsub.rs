//! Pub/sub commands. Messages travel on each client's push channel; in RESP3
//! they are push frames, in RESP2 plain arrays.

use std::sync::Arc;

use bytes::Bytes;

use super::ctx::{Ctx, R};
use crate::glob;
use crate::resp::Reply;
use crate::store::{ClientShared, Map, Store};

/// The three kinds of subscription. Shard channels (SSUBSCRIBE, Redis 7.0) are a
/// namespace of their own: SPUBLISH reaches only them, PUBLISH never does. On one
/// node there is one shard, so every shard channel is here.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn set(self, e: &mut crate::store::ClientEntry) -> &mut std::collections::HashSet<Bytes> {
        match self {
            Kind::Channel => &mut e.channels,
            Kind::Pattern => &mut e.patterns,
            Kind::Shard => &mut e.shard_channels,
        }
    }

    fn registry(self, s: &mut Store) -> &mut Map<Bytes, Map<u64, Arc<ClientShared>>> {
        match self {
            Kind::Channel => &mut s.channels,
            Kind::Pattern => &mut s.patterns,
            Kind::Shard => &mut s.shard_channels,
        }
    }

    fn words(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// The count a (un)subscribe confirmation carries: channels and patterns
/// together, as Redis counts them; shard channels on their own.
fn count(ctx: &Ctx<'_>, kind: Kind) -> i64 {
    ctx.s.clients.get(&ctx.c.id).map_or(0, |e| match kind {
        Kind::Shard => e.shard_channels.len(),
        _ => e.channels.len() + e.patterns.len(),
    }) as i64
}

/// Every subscription of the client: in RESP2 any of them puts it in the
/// subscribed state, where only (un)subscribe, PING, QUIT and RESET run.
fn all_subs(ctx: &Ctx<'_>) -> usize {
    ctx.s.clients.get(&ctx.c.id).map_or(0, |e| {
        e.channels.len() + e.patterns.len() + e.shard_channels.len()
    })
}

fn confirm(kind: &str, ch: Option<Bytes>, n: i64) -> Reply {
    Reply::Push(vec![
        Reply::bulk(kind),
        ch.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(n),
    ])
}

fn sub_generic(ctx: &mut Ctx<'_>, a: &[Bytes], kind: Kind) -> R {
    let id = ctx.c.id;
    let shared = ctx.c.shared.clone();
    let mut out = Vec::new();
    for ch in &a[1..] {
        let Some(e) = ctx.s.clients.get_mut(&id) else {
            break;
        };
        if kind.set(e).insert(ch.clone()) {
            kind.registry(ctx.s)
                .entry(ch.clone())
                .or_default()
                .insert(id, shared.clone());
        }
        ctx.c.subscriptions = all_subs(ctx);
        out.push(confirm(kind.words().0, Some(ch.clone()), count(ctx, kind)));
    }
    Ok(Reply::Multi(out))
}

pub(super) fn subscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sub_generic(ctx, a, Kind::Channel)
}
pub(super) fn psubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sub_generic(ctx, a, Kind::Pattern)
}
pub(super) fn ssubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sub_generic(ctx, a, Kind::Shard)
}

/// Removes every subscription of client `id`.
pub(crate) fn remove_all_subs(s: &mut Store, id: u64) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let Some(e) = s.clients.get_mut(&id) else {
            return;
        };
        let chans: Vec<Bytes> = kind.set(e).iter().cloned().collect();
        for ch in chans {
            remove_sub(s, id, &ch, kind);
        }
    }
}

/// Removes one subscription; true if it existed.
pub(crate) fn remove_sub(s: &mut Store, id: u64, ch: &Bytes, kind: Kind) -> bool {
    let Some(e) = s.clients.get_mut(&id) else {
        return false;
    };
    if !kind.set(e).remove(ch) {
        return false;
    }
    let reg = kind.registry(s);
    if let Some(m) = reg.get_mut(ch) {
        // Each channel's subscribers stay in subscription order (delivery order).
        m.shift_remove(&id);
        if m.is_empty() {
            // Only patterns are matched in order; channels are looked up.
            if kind == Kind::Pattern {
                reg.shift_remove(ch);
            } else {
                reg.swap_remove(ch);
            }
        }
    }
    true
}

fn unsub_generic(ctx: &mut Ctx<'_>, a: &[Bytes], kind: Kind) -> R {
    let id = ctx.c.id;
    let word = kind.words().1;
    let targets: Vec<Bytes> = if a.len() > 1 {
        a[1..].to_vec()
    } else {
        ctx.s
            .clients
            .get_mut(&id)
            .map(|e| kind.set(e).iter().cloned().collect())
            .unwrap_or_default()
    };
    if targets.is_empty() {
        return Ok(Reply::Multi(vec![confirm(word, None, count(ctx, kind))]));
    }
    let mut out = Vec::new();
    for ch in targets {
        remove_sub(ctx.s, id, &ch, kind);
        ctx.c.subscriptions = all_subs(ctx);
        out.push(confirm(word, Some(ch), count(ctx, kind)));
    }
    Ok(Reply::Multi(out))
}

pub(super) fn unsubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    unsub_generic(ctx, a, Kind::Channel)
}
pub(super) fn punsubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    unsub_generic(ctx, a, Kind::Pattern)
}
pub(super) fn sunsubscribe(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    unsub_generic(ctx, a, Kind::Shard)
}

pub(super) fn spublish(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.s.spublish(&a[1], &a[2])))
}

pub(super) fn publish(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.s.publish(&a[1], &a[2])))
}

pub(super) fn channels(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    list_channels(ctx, a, Kind::Channel)
}
pub(super) fn shardchannels(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    list_channels(ctx, a, Kind::Shard)
}

fn list_channels(ctx: &mut Ctx<'_>, a: &[Bytes], kind: Kind) -> R {
    if a.len() > 3 {
        let name = if kind == Kind::Shard {
            "shardchannels"
        } else {
            "channels"
        };
        return Err(Reply::err(format!(
            "wrong number of arguments for 'pubsub|{name}' command"
        )));
    }
    let pat = a.get(2);
    Ok(Reply::Array(
        kind.registry(ctx.s)
            .keys()
            .filter(|c| pat.is_none_or(|p| glob::matches(p, c, false)))
            .map(|c| Reply::Bulk(c.clone()))
            .collect(),
    ))
}

pub(super) fn numsub(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    count_subs(ctx, a, Kind::Channel)
}
pub(super) fn shardnumsub(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    count_subs(ctx, a, Kind::Shard)
}

fn count_subs(ctx: &mut Ctx<'_>, a: &[Bytes], kind: Kind) -> R {
    let reg = kind.registry(ctx.s);
    let mut out = Vec::new();
    for ch in &a[2..] {
        out.push(Reply::Bulk(ch.clone()));
        out.push(Reply::Int(reg.get(ch).map_or(0, |m| m.len()) as i64));
    }
    Ok(Reply::Array(out))
}

pub(super) fn numpat(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.s.patterns.len() as i64))
}
