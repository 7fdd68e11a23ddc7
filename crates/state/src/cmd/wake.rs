//! Waking clients blocked on keys (BLPOP, BZPOPMIN, BLMOVE, XREAD BLOCK...).
//!
//! A command that gives a key data marks it ready ([`Ctx::signal_ready`]);
//! after the command, [`serve_ready`] serves the clients queued on ready
//! keys, in the order they blocked, under the same lock.

use bytes::Bytes;

use super::ctx::Ctx;
use super::{list, stream, zset};
use crate::resp::Reply;
use crate::store::{now_ms, BlockOp, Blocked, Client, Store, Value};

/// Serves clients blocked on keys that received data, in FIFO order.
///
/// Each client queued on a ready key is checked in the order it blocked; one
/// that the key can serve now (a non-empty list or sorted set, a stream with
/// entries past its id) is unblocked and served under this same lock, others
/// keep waiting. A list pop empties the key for the next ones; a stream
/// serves every reader.
pub(crate) fn serve_ready(s: &mut Store) {
    let now = now_ms();
    let mut i = 0;
    while i < s.ready.len() {
        let (db, key) = s.ready[i].clone();
        i += 1;
        let queue: Vec<u64> = match s.blocking_keys.get(&(db, key.clone())) {
            Some(q) => q.iter().copied().collect(),
            None => continue,
        };
        for cid in queue {
            if s.expire_if_needed(db, &key, now) {
                // Gone (or kept by a pause, but missing all the same).
                break;
            }
            let Some(b) = s.blocked.get(&cid) else {
                continue;
            };
            if !can_serve(s.dbs[db].keys.get(&key[..]), b, &key) {
                continue;
            }
            let b = unblock(s, cid).expect("queued client is blocked");
            if b.tx.is_closed() {
                continue;
            }
            let reply = serve_one(s, db, &key, cid, &b, now);
            if !matches!(b.op, BlockOp::XRead { .. }) {
                s.touch(db, &key);
            }
            if let BlockOp::Move { dest, .. } = &b.op {
                s.touch(db, dest);
            }
            let _ = b.tx.send(reply);
        }
    }
    s.ready.clear();
}

/// Whether `b` can be served from `v` (the value now at `key`).
fn can_serve(v: Option<&Value>, b: &Blocked, key: &Bytes) -> bool {
    match (&b.op, v) {
        (BlockOp::Pop { .. } | BlockOp::Move { .. }, Some(Value::List(l))) => !l.is_empty(),
        (BlockOp::MPop { zset: false, .. }, Some(Value::List(l))) => !l.is_empty(),
        (BlockOp::ZPop { .. } | BlockOp::MPop { zset: true, .. }, Some(Value::ZSet(z))) => {
            !z.is_empty()
        }
        (BlockOp::XRead { ids, group, .. }, Some(Value::Stream(st))) => {
            let at = b.keys.iter().position(|k| k == key).unwrap_or(0);
            stream::blocked_ready(st, ids[at], group.as_ref())
        }
        _ => false,
    }
}

/// Runs a blocked client's operation on `key` with a pseudo context in its
/// db, logging the effect as the non-blocking command.
fn serve_one(s: &mut Store, db: usize, key: &Bytes, cid: u64, b: &Blocked, now: u64) -> Reply {
    let (mut pc, _rx) = Client::new(cid);
    pc.db = db;
    pc.authed = true;
    pc.proto = s.clients.get(&cid).map_or(2, |e| e.resp);
    // Serving a pop runs no script: an empty scripting state (no
    // interpreter is created, nothing allocated) stands in.
    let mut none = crate::lua::Scripting::default();
    let mut ctx = Ctx {
        s,
        sc: &mut none,
        c: &mut pc,
        now,
        in_script: false,
        in_exec: false,
        custom_prop: false,
    };
    match &b.op {
        BlockOp::Pop { left } => {
            let v = list::pop_one(&mut ctx, key, *left);
            let name = if *left { "LPOP" } else { "RPOP" };
            ctx.propagate(vec![Bytes::from_static(name.as_bytes()), key.clone()]);
            Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(v.unwrap_or_default()),
            ])
        }
        BlockOp::Move {
            dest,
            from_left,
            to_left,
        } => match list::do_move(&mut ctx, key, dest, *from_left, *to_left) {
            Ok(Some(v)) => {
                let side = |l: bool| Bytes::from_static(if l { b"LEFT" } else { b"RIGHT" });
                ctx.propagate(vec![
                    Bytes::from_static(b"LMOVE"),
                    key.clone(),
                    dest.clone(),
                    side(*from_left),
                    side(*to_left),
                ]);
                Reply::Bulk(v)
            }
            Ok(None) => Reply::Nil,
            Err(e) => e,
        },
        BlockOp::ZPop { max } => {
            let items = zset::pop_items(&mut ctx, key, *max, 1);
            ctx.propagate(zset::pop_prop(key, *max, None));
            zset::bzpop_reply(key, items)
        }
        BlockOp::MPop {
            zset: true,
            max,
            count,
        } => {
            let items = zset::pop_items(&mut ctx, key, *max, *count);
            ctx.propagate(zset::pop_prop(key, *max, Some(items.len())));
            zset::zmpop_reply(key, items)
        }
        BlockOp::MPop {
            zset: false,
            max,
            count,
        } => {
            let items = list::pop_many(&mut ctx, key, !*max, *count);
            ctx.propagate(vec![
                Bytes::from_static(if *max { b"RPOP" } else { b"LPOP" }),
                key.clone(),
                Bytes::from(items.len().to_string()),
            ]);
            list::mpop_reply(key, items)
        }
        BlockOp::XRead { ids, count, group } => {
            let at = b.keys.iter().position(|k| k == key).unwrap_or(0);
            stream::serve_blocked(&mut ctx, key, ids[at], *count, group.as_ref())
        }
    }
}

/// Releases a blocked client as if its timeout had expired: it leaves the
/// key queues and is sent its timeout reply, or `error` instead (CLIENT
/// UNBLOCK ERROR). The one way out other than being served: the
/// connection's own timer and CLIENT UNBLOCK both come here. Answers
/// whether the client was blocked.
pub(crate) fn time_out(s: &mut Store, cid: u64, error: Option<Reply>) -> bool {
    let Some(b) = unblock(s, cid) else {
        return false;
    };
    let _ = b.tx.send(error.unwrap_or(b.on_timeout));
    true
}

/// Removes a client from the blocked registry and all key queues.
pub(crate) fn unblock(s: &mut Store, cid: u64) -> Option<Blocked> {
    let b = s.blocked.remove(&cid)?;
    for k in &b.keys {
        let kk = (b.db, k.clone());
        if let Some(q) = s.blocking_keys.get_mut(&kk) {
            q.retain(|&c| c != cid);
            if q.is_empty() {
                s.blocking_keys.remove(&kk);
            }
        }
    }
    if let Some(e) = s.clients.get_mut(&cid) {
        e.blocked = false;
    }
    Some(b)
}
