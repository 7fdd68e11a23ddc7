//! List commands, including the blocking ones.
//!
//! A blocking command that finds data pops at once (and is logged as the
//! non-blocking pop). Otherwise it registers the client FIFO on each key and
//! hands the connection a receiver; `serve_ready` in `cmd/mod.rs` pops on the
//! client's behalf when a push makes a key non-empty, in the order clients
//! blocked, so wake-up order matches Redis.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::store::{notify, BlockOp, BlockSpec, Blocked};

fn push_generic(ctx: &mut Ctx<'_>, a: &[Bytes], left: bool, only_existing: bool) -> R {
    if only_existing && ctx.get_list(&a[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let l = ctx.list_or_new(&a[1])?;
    // Copied: the arguments may be slices of the client's read buffer
    // (the table's BORROWS_ARGS).
    for v in &a[2..] {
        let v = Bytes::copy_from_slice(v);
        if left {
            l.push_front(v);
        } else {
            l.push_back(v);
        }
    }
    let n = l.len();
    ctx.dirty(1);
    ctx.notify(notify::LIST, if left { "lpush" } else { "rpush" }, &a[1]);
    ctx.signal_ready(&a[1]);
    Ok(Reply::Int(n as i64))
}

pub(super) fn lpush(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    push_generic(ctx, a, true, false)
}
pub(super) fn rpush(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    push_generic(ctx, a, false, false)
}
pub(super) fn lpushx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    push_generic(ctx, a, true, true)
}
pub(super) fn rpushx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    push_generic(ctx, a, false, true)
}

/// Pops one element (with events and empty-key cleanup). Caller checked type.
pub(super) fn pop_one(ctx: &mut Ctx<'_>, key: &[u8], left: bool) -> Option<Bytes> {
    let l = ctx.get_list(key).ok()??;
    let v = if left { l.pop_front() } else { l.pop_back() }?;
    ctx.dirty(1);
    ctx.notify(notify::LIST, if left { "lpop" } else { "rpop" }, key);
    ctx.del_if_empty(key);
    Some(v)
}

fn pop_generic(ctx: &mut Ctx<'_>, a: &[Bytes], left: bool) -> R {
    if a.len() > 3 {
        return Err(Reply::err(format!(
            "wrong number of arguments for '{}' command",
            if left { "lpop" } else { "rpop" }
        )));
    }
    let count = if a.len() == 3 {
        let c = int(&a[2]).map_err(|_| Reply::err("value is out of range, must be positive"))?;
        if c < 0 {
            return Err(Reply::err("value is out of range, must be positive"));
        }
        Some(c as usize)
    } else {
        None
    };
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    match count {
        None => Ok(pop_one(ctx, &a[1], left).map_or(Reply::Nil, Reply::Bulk)),
        Some(0) => Ok(Reply::Array(vec![])),
        Some(c) => {
            let n = c.min(l.len());
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let v = if left { l.pop_front() } else { l.pop_back() };
                out.push(Reply::Bulk(v.expect("counted")));
            }
            ctx.dirty(1);
            ctx.notify(notify::LIST, if left { "lpop" } else { "rpop" }, &a[1]);
            ctx.del_if_empty(&a[1]);
            Ok(Reply::Array(out))
        }
    }
}

pub(super) fn lpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    pop_generic(ctx, a, true)
}
pub(super) fn rpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    pop_generic(ctx, a, false)
}

pub(super) fn llen(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_list(&a[1])?.map_or(0, |l| l.len()) as i64
    ))
}

fn norm_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let (mut s, mut e) = (start, end);
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

pub(super) fn lrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    Ok(Reply::Array(match norm_range(s, e, l.len()) {
        Some((s, e)) => l.range(s..=e).map(|v| Reply::Bulk(v.clone())).collect(),
        None => vec![],
    }))
}

fn index_of(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    if i < 0 || i >= len as i64 {
        None
    } else {
        Some(i as usize)
    }
}

pub(super) fn lindex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // The key first: a missing key answers nil whatever the index.
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(Reply::Nil);
    };
    let i = int(&a[2])?;
    Ok(index_of(i, l.len()).map_or(Reply::Nil, |i| Reply::Bulk(l[i].clone())))
}

pub(super) fn lset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let i = int(&a[2])?;
    let Some(l) = ctx.get_list(&a[1])? else {
        return Err(Reply::err("no such key"));
    };
    let Some(i) = index_of(i, l.len()) else {
        return Err(Reply::err("index out of range"));
    };
    l[i] = a[3].clone();
    ctx.dirty(1);
    ctx.notify(notify::LIST, "lset", &a[1]);
    Ok(Reply::Ok)
}

pub(super) fn lrem(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let count = int(&a[2])?;
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0i64;
    // unsigned_abs: LREM key -9223372036854775808 x removes all (abs overflowed).
    let limit = if count == 0 {
        i64::MAX
    } else {
        i64::try_from(count.unsigned_abs()).unwrap_or(i64::MAX)
    };
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < limit {
            if l[i] == a[3] {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < limit {
            i -= 1;
            if l[i] == a[3] {
                l.remove(i);
                removed += 1;
            }
        }
    }
    if removed > 0 {
        ctx.dirty(1);
        ctx.notify(notify::LIST, "lrem", &a[1]);
        ctx.del_if_empty(&a[1]);
    }
    Ok(Reply::Int(removed))
}

pub(super) fn ltrim(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(Reply::Ok);
    };
    match norm_range(s, e, l.len()) {
        Some((s, e)) => {
            l.truncate(e + 1);
            l.drain(..s);
        }
        None => l.clear(),
    }
    ctx.dirty(1);
    ctx.notify(notify::LIST, "ltrim", &a[1]);
    ctx.del_if_empty(&a[1]);
    Ok(Reply::Ok)
}

pub(super) fn linsert(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let after = if is(&a[2], "after") {
        true
    } else if is(&a[2], "before") {
        false
    } else {
        return Err(syntax());
    };
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(i) = l.iter().position(|v| *v == a[3]) else {
        return Ok(Reply::Int(-1));
    };
    l.insert(if after { i + 1 } else { i }, a[4].clone());
    let n = l.len();
    ctx.dirty(1);
    ctx.notify(notify::LIST, "linsert", &a[1]);
    Ok(Reply::Int(n as i64))
}

/// LMOVE core: pops from `src`, pushes to `dst`. `Ok(None)` if src is empty.
pub(super) fn do_move(
    ctx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Result<Option<Bytes>, Reply> {
    if ctx.get_list(src)?.is_none() {
        return Ok(None);
    }
    ctx.get_list(dst)?;
    let l = ctx.get_list(src)?.expect("checked");
    let v = if from_left {
        l.pop_front()
    } else {
        l.pop_back()
    }
    .expect("non-empty");
    let d = ctx.list_or_new(dst)?;
    if to_left {
        d.push_front(v.clone());
    } else {
        d.push_back(v.clone());
    }
    ctx.notify(notify::LIST, if to_left { "lpush" } else { "rpush" }, dst);
    ctx.signal_ready(dst);
    ctx.notify(notify::LIST, if from_left { "lpop" } else { "rpop" }, src);
    ctx.del_if_empty(src);
    ctx.dirty(1);
    Ok(Some(v))
}

fn side(b: &[u8]) -> Result<bool, Reply> {
    if is(b, "left") {
        Ok(true)
    } else if is(b, "right") {
        Ok(false)
    } else {
        Err(syntax())
    }
}

pub(super) fn lmove(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (f, t) = (side(&a[3])?, side(&a[4])?);
    Ok(do_move(ctx, &a[1], &a[2], f, t)?.map_or(Reply::Nil, Reply::Bulk))
}

pub(super) fn rpoplpush(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(do_move(ctx, &a[1], &a[2], false, true)?.map_or(Reply::Nil, Reply::Bulk))
}

/// Parses a blocking timeout (seconds, may be fractional) to ms.
pub(super) fn timeout_ms(b: &[u8]) -> Result<u64, Reply> {
    let t = crate::cmd::args::parse_float(b)
        .filter(|t| t.is_finite())
        .ok_or_else(|| Reply::err("timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(Reply::err("timeout is negative"));
    }
    Ok((t * 1000.0).ceil() as u64)
}

pub(super) fn block(
    ctx: &mut Ctx<'_>,
    keys: Vec<Bytes>,
    op: BlockOp,
    timeout: u64,
    on_timeout: Reply,
) {
    let (tx, rx) = oneshot::channel();
    let db = ctx.c.db;
    let id = ctx.c.id;
    for k in &keys {
        let q = ctx.s.blocking_keys.entry((db, k.clone())).or_default();
        if !q.contains(&id) {
            q.push_back(id);
        }
    }
    ctx.s.blocked.insert(
        id,
        Blocked {
            db,
            keys,
            op,
            tx,
            on_timeout,
        },
    );
    if let Some(e) = ctx.s.clients.get_mut(&id) {
        e.blocked = true;
    }
    ctx.c.block = Some(BlockSpec {
        rx,
        timeout_ms: timeout,
    });
}

fn bpop(ctx: &mut Ctx<'_>, a: &[Bytes], left: bool) -> R {
    let timeout = timeout_ms(&a[a.len() - 1])?;
    let keys = &a[1..a.len() - 1];
    for k in keys {
        if ctx.get_list(k)?.is_some() {
            let v = pop_one(ctx, k, left).expect("non-empty list");
            ctx.propagate(vec![
                Bytes::from_static(if left { b"LPOP" } else { b"RPOP" }),
                k.clone(),
            ]);
            return Ok(Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Bulk(v)]));
        }
    }
    if !ctx.can_block() {
        return Ok(Reply::NilArray);
    }
    block(
        ctx,
        keys.to_vec(),
        BlockOp::Pop { left },
        timeout,
        Reply::NilArray,
    );
    Ok(Reply::None)
}

pub(super) fn blpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bpop(ctx, a, true)
}
pub(super) fn brpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bpop(ctx, a, false)
}

fn bmove(ctx: &mut Ctx<'_>, src: &Bytes, dst: &Bytes, f: bool, t: bool, timeout: &[u8]) -> R {
    let timeout = timeout_ms(timeout)?;
    if let Some(v) = do_move(ctx, src, dst, f, t)? {
        let s = |l: bool| Bytes::from_static(if l { b"LEFT" } else { b"RIGHT" });
        ctx.propagate(vec![
            Bytes::from_static(b"LMOVE"),
            src.clone(),
            dst.clone(),
            s(f),
            s(t),
        ]);
        return Ok(Reply::Bulk(v));
    }
    if !ctx.can_block() {
        return Ok(Reply::Nil);
    }
    let op = BlockOp::Move {
        dest: dst.clone(),
        from_left: f,
        to_left: t,
    };
    block(ctx, vec![src.clone()], op, timeout, Reply::Nil);
    Ok(Reply::None)
}

pub(super) fn blmove(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (f, t) = (side(&a[3])?, side(&a[4])?);
    bmove(ctx, &a[1], &a[2], f, t, &a[5])
}

pub(super) fn brpoplpush(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bmove(ctx, &a[1], &a[2], false, true, &a[3])
}

pub(super) fn lpos(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < a.len() {
        if j + 1 >= a.len() {
            return Err(syntax());
        }
        let v = int(&a[j + 1])?;
        if is(&a[j], "rank") {
            if v == 0 {
                return Err(Reply::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            if v == i64::MIN {
                return Err(Reply::err("value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
            }
            rank = v;
        } else if is(&a[j], "count") {
            if v < 0 {
                return Err(Reply::err("COUNT can't be negative"));
            }
            count = Some(v);
        } else if is(&a[j], "maxlen") {
            if v < 0 {
                return Err(Reply::err("MAXLEN can't be negative"));
            }
            maxlen = v;
        } else {
            return Err(syntax());
        }
        j += 2;
    }
    let Some(l) = ctx.get_list(&a[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(vec![])
        } else {
            Reply::Nil
        });
    };
    let len = l.len();
    let want = match count {
        Some(0) => usize::MAX,
        Some(c) => c as usize,
        None => 1,
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    for step in 0..len {
        if maxlen > 0 && step as i64 >= maxlen {
            break;
        }
        let i = if rank > 0 { step } else { len - 1 - step };
        if l[i] == a[2] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(i as i64);
            if found.len() >= want {
                break;
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
    })
}

/// Pops up to `count` elements from one end (events and empty-key cleanup
/// included). Caller checked the type; empty if the key is missing.
pub(super) fn pop_many(ctx: &mut Ctx<'_>, key: &[u8], left: bool, count: usize) -> Vec<Bytes> {
    let Ok(Some(l)) = ctx.get_list(key) else {
        return vec![];
    };
    let n = count.min(l.len());
    let out: Vec<Bytes> = if left {
        l.drain(..n).collect()
    } else {
        let at = l.len() - n;
        l.drain(at..).rev().collect()
    };
    if !out.is_empty() {
        ctx.dirty(1);
        ctx.notify(notify::LIST, if left { "lpop" } else { "rpop" }, key);
        ctx.del_if_empty(key);
    }
    out
}

/// LMPOP's reply: `[key, [elements]]`.
pub(super) fn mpop_reply(key: &Bytes, items: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
    ])
}

fn lmpop_generic(ctx: &mut Ctx<'_>, a: &[Bytes], numkeys_idx: usize, blocking: bool) -> R {
    let m = crate::cmd::args::parse_mpop(a, numkeys_idx, "left", "right")?;
    let left = !m.max;
    let timeout = if blocking {
        Some(timeout_ms(&a[1])?)
    } else {
        None
    };
    for k in &m.keys {
        if ctx.get_list(k)?.is_some() {
            let items = pop_many(ctx, k, left, m.count);
            ctx.propagate(vec![
                Bytes::from_static(if left { b"LPOP" } else { b"RPOP" }),
                k.clone(),
                Bytes::from(items.len().to_string()),
            ]);
            return Ok(mpop_reply(k, items));
        }
    }
    let Some(timeout) = timeout else {
        return Ok(Reply::NilArray);
    };
    if !ctx.can_block() {
        return Ok(Reply::NilArray);
    }
    let op = BlockOp::MPop {
        zset: false,
        max: m.max,
        count: m.count,
    };
    block(ctx, m.keys, op, timeout, Reply::NilArray);
    Ok(Reply::None)
}

pub(super) fn lmpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    lmpop_generic(ctx, a, 1, false)
}
pub(super) fn blmpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    lmpop_generic(ctx, a, 2, true)
}
