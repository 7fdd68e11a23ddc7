//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::call::{acl_check, call};
use super::ctx::{Commands, Ctx, Unresolved, R};
use crate::resp::Reply;
use crate::store::{Client, Store};

pub(super) fn multi(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    if ctx.c.multi.is_some() {
        return Err(Reply::err("MULTI calls can not be nested"));
    }
    ctx.c.multi = Some(Vec::new());
    ctx.c.multi_err = false;
    set_flag(ctx, true);
    Ok(Reply::Ok)
}

fn set_flag(ctx: &mut Ctx<'_>, on: bool) {
    if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
        e.multi = on;
    }
}

/// Forgets all keys a client watches.
pub(crate) fn unwatch_all(s: &mut Store, c: &mut Client) {
    for k in c.watched.drain(..) {
        if let Some(v) = s.watched.get_mut(&k) {
            v.retain(|(id, _)| *id != c.id);
            if v.is_empty() {
                s.watched.remove(&k);
            }
        }
    }
    c.watch_dirty.store(false, Ordering::SeqCst);
}

fn watched_expired(ctx: &mut Ctx<'_>) -> bool {
    let now = ctx.now;
    ctx.c.watched.iter().any(|(db, k)| {
        ctx.s.dbs[*db]
            .expires
            .get(&k[..])
            .is_some_and(|&at| at <= now)
    })
}

pub(super) fn exec<T: Commands>(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let Some(queue) = ctx.c.multi.take() else {
        return Err(Reply::err("EXEC without MULTI"));
    };
    set_flag(ctx, false);
    if ctx.c.multi_err {
        ctx.c.multi_err = false;
        unwatch_all(ctx.s, ctx.c);
        return Err(Reply::Error(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    if ctx.c.watch_dirty.load(Ordering::SeqCst) || watched_expired(ctx) {
        unwatch_all(ctx.s, ctx.c);
        return Ok(Reply::NilArray);
    }
    unwatch_all(ctx.s, ctx.c);
    let was = ctx.in_exec;
    ctx.in_exec = true;
    let mut out = Vec::with_capacity(queue.len());
    for argv in queue {
        // Permissions are checked again: they may have changed since queueing.
        let r = match T::lookup(&argv) {
            Ok(spec) => match acl_check(ctx, spec, &argv) {
                Ok(()) => call(ctx, spec, &argv),
                Err(d) => Reply::Error(d.in_exec()),
            },
            Err(e) => Unresolved::reply(e),
        };
        out.push(r);
    }
    ctx.in_exec = was;
    Ok(Reply::Array(out))
}

pub(super) fn discard(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    if ctx.c.multi.take().is_none() {
        return Err(Reply::err("DISCARD without MULTI"));
    }
    ctx.c.multi_err = false;
    set_flag(ctx, false);
    unwatch_all(ctx.s, ctx.c);
    Ok(Reply::Ok)
}

pub(super) fn watch(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if ctx.c.multi.is_some() {
        return Err(Reply::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.c.db;
    for k in &a[1..] {
        let key = (db, k.clone());
        if ctx.c.watched.contains(&key) {
            continue;
        }
        // Expire now, so a key already logically gone is not counted later.
        ctx.lookup(k);
        ctx.s
            .watched
            .entry(key.clone())
            .or_default()
            .push((ctx.c.id, ctx.c.watch_dirty.clone()));
        ctx.c.watched.push(key);
    }
    Ok(Reply::Ok)
}

pub(super) fn unwatch(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    unwatch_all(ctx.s, ctx.c);
    Ok(Reply::Ok)
}
