//! Generic key commands and database commands.

use bytes::Bytes;
use rand::Rng;

use super::args::{int, is, not_int, syntax};
use super::ctx::{Ctx, R};
use crate::glob;
use crate::resp::Reply;
use crate::store::notify;

pub(super) fn del(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut n = 0;
    for k in &a[1..] {
        if ctx.exists(k) && ctx.del_key(k) {
            n += 1;
            ctx.dirty(1);
            ctx.notify(notify::GENERIC, "del", k);
        }
    }
    Ok(Reply::Int(n))
}

pub(super) fn exists(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut n = 0;
    for k in &a[1..] {
        if ctx.exists(k) {
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

pub(super) fn type_(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Status(
        ctx.lookup(&a[1]).map_or("none", |v| v.type_name()).into(),
    ))
}

fn rename_generic(ctx: &mut Ctx<'_>, a: &[Bytes], nx: bool) -> R {
    if !ctx.exists(&a[1]) {
        return Err(Reply::err("no such key"));
    }
    if a[1] == a[2] {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    if ctx.exists(&a[2]) {
        if nx {
            return Ok(Reply::Int(0));
        }
        ctx.del_key(&a[2]);
    }
    let exp = ctx.get_expire(&a[1]);
    let db = ctx.c.db;
    let v = ctx.s.dbs[db].keys.swap_remove(&a[1][..]).expect("exists");
    ctx.s.dbs[db].expires.swap_remove(&a[1][..]);
    ctx.set_key(&a[2], v, false);
    if let Some(at) = exp {
        ctx.set_expire(&a[2], at);
    }
    ctx.dirty(1);
    ctx.notify(notify::GENERIC, "rename_from", &a[1]);
    ctx.notify(notify::GENERIC, "rename_to", &a[2]);
    // Any type: clients blocked on lists, sorted sets or streams may wake.
    ctx.signal_ready(&a[2]);
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

pub(super) fn rename(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    rename_generic(ctx, a, false)
}
pub(super) fn renamenx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    rename_generic(ctx, a, true)
}

fn expire_generic(ctx: &mut Ctx<'_>, a: &[Bytes], secs: bool, absolute: bool, name: &str) -> R {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            return Err(Reply::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(o)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let bad = || Reply::err(format!("invalid expire time in '{name}' command"));
    let mut when = int(&a[2])?;
    if secs {
        when = when.checked_mul(1000).ok_or_else(bad)?;
    }
    if !absolute {
        when = when.checked_add(ctx.now as i64).ok_or_else(bad)?;
    }
    let key = &a[1];
    if !ctx.exists(key) {
        return Ok(Reply::Int(0));
    }
    let cur = ctx.get_expire(key).map(|x| x as i64);
    if (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|c| when <= c))
        || (lt && cur.is_some_and(|c| when >= c))
    {
        return Ok(Reply::Int(0));
    }
    if when <= ctx.now as i64 && !ctx.s.loading {
        ctx.del_key(key);
        ctx.dirty(1);
        ctx.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
        ctx.notify(notify::GENERIC, "del", key);
    } else {
        ctx.set_expire(key, when.max(0) as u64);
        ctx.dirty(1);
        ctx.propagate(vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(when.to_string()),
        ]);
        ctx.notify(notify::GENERIC, "expire", key);
    }
    Ok(Reply::Int(1))
}

pub(super) fn expire(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    expire_generic(ctx, a, true, false, "expire")
}
pub(super) fn pexpire(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    expire_generic(ctx, a, false, false, "pexpire")
}
pub(super) fn expireat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    expire_generic(ctx, a, true, true, "expireat")
}
pub(super) fn pexpireat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    expire_generic(ctx, a, false, true, "pexpireat")
}

fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], ms: bool, abs: bool) -> R {
    if !ctx.exists(key) {
        return Ok(Reply::Int(-2));
    }
    let Some(at) = ctx.get_expire(key) else {
        return Ok(Reply::Int(-1));
    };
    let v = if abs {
        if ms {
            at as i64
        } else {
            (at / 1000) as i64
        }
    } else {
        let left = at.saturating_sub(ctx.now) as i64;
        if ms {
            left
        } else {
            (left + 500) / 1000
        }
    };
    Ok(Reply::Int(v))
}

pub(super) fn ttl(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    ttl_generic(ctx, &a[1], false, false)
}
pub(super) fn pttl(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    ttl_generic(ctx, &a[1], true, false)
}
pub(super) fn expiretime(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    ttl_generic(ctx, &a[1], false, true)
}
pub(super) fn pexpiretime(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    ttl_generic(ctx, &a[1], true, true)
}

pub(super) fn persist(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if !ctx.exists(&a[1]) {
        return Ok(Reply::Int(0));
    }
    if ctx.persist(&a[1]) {
        ctx.dirty(1);
        ctx.notify(notify::GENERIC, "persist", &a[1]);
        Ok(Reply::Int(1))
    } else {
        Ok(Reply::Int(0))
    }
}

/// Parsed SCAN-family options.
pub(super) struct ScanOpts {
    pub(super) cursor: u64,
    pub(super) pattern: Option<Bytes>,
    pub(super) count: usize,
    pub(super) type_: Option<String>,
}

/// A SCAN cursor as Redis reads it (`strtoul`): an optional sign, then
/// decimal digits; a negative cursor wraps, the empty string is 0; leading
/// whitespace, other characters and overflow are refused.
pub(super) fn scan_cursor(b: &[u8]) -> Result<u64, Reply> {
    let bad = || Reply::err("invalid cursor");
    // A C string: an embedded NUL ends it.
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    if b.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

pub(super) fn parse_scan(
    a: &[Bytes],
    cursor_at: usize,
    allow_type: bool,
) -> Result<ScanOpts, Reply> {
    let cursor = scan_cursor(&a[cursor_at])?;
    let mut o = ScanOpts {
        cursor,
        pattern: None,
        count: 10,
        type_: None,
    };
    let mut j = cursor_at + 1;
    while j < a.len() {
        let has_next = j + 1 < a.len();
        if is(&a[j], "count") && has_next {
            let c = int(&a[j + 1])?;
            if c < 1 {
                return Err(syntax());
            }
            o.count = c as usize;
        } else if is(&a[j], "match") && has_next {
            o.pattern = Some(a[j + 1].clone());
        } else if allow_type && is(&a[j], "type") && has_next {
            o.type_ = Some(String::from_utf8_lossy(&a[j + 1]).to_ascii_lowercase());
        } else {
            return Err(syntax());
        }
        j += 2;
    }
    Ok(o)
}

/// The slice of slots `[start, end)` to visit for `cursor`, and the next cursor.
///
/// Slots are walked from the top index down. Deleting uses swap-remove, which
/// only ever moves the *last* element, and the last element is always in the
/// part already visited, so an element present for the whole scan is never
/// skipped (Redis's SCAN guarantee); it may at worst be returned twice.
/// Cursor 0 starts at the top; a returned 0 means done.
pub(super) fn scan_range(cursor: u64, count: usize, len: usize) -> (usize, usize, u64) {
    let end = if cursor == 0 {
        len
    } else {
        (cursor as usize).min(len)
    };
    let start = end.saturating_sub(count);
    (start, end, start as u64)
}

pub(super) fn scan(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let o = parse_scan(a, 1, true)?;
    let db = ctx.c.db;
    let len = ctx.s.dbs[db].keys.len();
    let (start, end, next) = scan_range(o.cursor, o.count, len);
    let mut keys = Vec::new();
    for i in start..end {
        let Some((k, v)) = ctx.s.dbs[db].keys.get_index(i) else {
            break;
        };
        if let Some(t) = &o.type_ {
            if v.type_name() != t {
                continue;
            }
        }
        if let Some(p) = &o.pattern {
            if !glob::matches(p, k, false) {
                continue;
            }
        }
        keys.push(k.to_bytes());
    }
    let mut out = Vec::new();
    for k in keys {
        if !ctx.s.expire_if_needed(db, &k, ctx.now) {
            out.push(Reply::Bulk(k));
        }
    }
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::Array(out),
    ]))
}

pub(super) fn keys(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let db = ctx.c.db;
    let now = ctx.now;
    let d = &ctx.s.dbs[db];
    let all = a[1].as_ref() == b"*";
    let out = d
        .keys
        .keys()
        .filter(|k| all || glob::matches(&a[1], k, false))
        .filter(|k| d.expires.get(*k).is_none_or(|&at| at > now))
        .map(|k| Reply::Bulk(k.to_bytes()))
        .collect();
    Ok(Reply::Array(out))
}

pub(super) fn randomkey(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let db = ctx.c.db;
    let mut rng = rand::rng();
    for _ in 0..100 {
        let n = ctx.s.dbs[db].keys.len();
        if n == 0 {
            return Ok(Reply::Nil);
        }
        let k = ctx.s.dbs[db]
            .keys
            .get_index(rng.random_range(0..n))
            .map(|(k, _)| k.to_bytes())
            .expect("in range");
        if !ctx.s.expire_if_needed(db, &k, ctx.now) {
            return Ok(Reply::Bulk(k));
        }
    }
    Ok(Reply::Nil)
}

pub(super) fn copy(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut dst_db = ctx.c.db;
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "db") && j + 1 < a.len() {
            let d = int(&a[j + 1]).map_err(|_| not_int())?;
            if d < 0 || d as usize >= ctx.s.dbs.len() {
                return Err(Reply::err("DB index is out of range"));
            }
            dst_db = d as usize;
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    if a[1] == a[2] && dst_db == ctx.c.db {
        return Err(Reply::err("source and destination objects are the same"));
    }
    let Some(v) = ctx.lookup(&a[1]).cloned() else {
        return Ok(Reply::Int(0));
    };
    let exp = ctx.get_expire(&a[1]);
    let src_db = ctx.c.db;
    ctx.c.db = dst_db;
    let exists = ctx.exists(&a[2]);
    if exists && !replace {
        ctx.c.db = src_db;
        return Ok(Reply::Int(0));
    }
    ctx.set_key(&a[2], v, false);
    if let Some(at) = exp {
        ctx.set_expire(&a[2], at);
    }
    ctx.notify(notify::GENERIC, "copy_to", &a[2]);
    ctx.signal_ready(&a[2]);
    ctx.s.touch(dst_db, &a[2]);
    ctx.c.db = src_db;
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

/// MOVE key db: the key, with its TTL, to another database of this server;
/// 0 when it is missing here or already there.
pub(super) fn move_(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let dst = int(&a[2]).map_err(|_| not_int())?;
    if dst < 0 || dst as usize >= ctx.s.dbs.len() {
        return Err(Reply::err("DB index is out of range"));
    }
    let (src, dst) = (ctx.c.db, dst as usize);
    if src == dst {
        return Err(Reply::err("source and destination objects are the same"));
    }
    let key = &a[1];
    if !ctx.exists(key) {
        return Ok(Reply::Int(0));
    }
    ctx.c.db = dst;
    let taken = ctx.exists(key);
    ctx.c.db = src;
    if taken {
        return Ok(Reply::Int(0));
    }
    let exp = ctx.get_expire(key);
    let Some(v) = ctx.s.dbs[src].keys.swap_remove(&key[..]) else {
        return Ok(Reply::Int(0));
    };
    ctx.persist(key);
    ctx.c.db = dst;
    ctx.set_key(key, v, false);
    if let Some(at) = exp {
        ctx.set_expire(key, at);
    }
    // A client blocked on the key in the other database gets it now.
    ctx.signal_ready(key);
    ctx.c.db = src;
    // The source key is touched by the call path (it is the key argument);
    // the destination's watchers are touched here.
    ctx.s.touch(dst, key);
    ctx.s.notify(src, notify::GENERIC, "move_from", key);
    ctx.s.notify(dst, notify::GENERIC, "move_to", key);
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

pub(super) fn dbsize(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.db().keys.len() as i64))
}

fn flush_opt(a: &[Bytes]) -> Result<(), Reply> {
    match a.len() {
        1 => Ok(()),
        2 if is(&a[1], "async") || is(&a[1], "sync") => Ok(()),
        _ => Err(syntax()),
    }
}

pub(super) fn flushdb(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    flush_opt(a)?;
    let db = ctx.c.db;
    ctx.s.touch_all(Some(db));
    let d = ctx.db();
    d.keys = Default::default();
    d.expires = Default::default();
    ctx.dirty(1);
    crate::evict::recount(ctx.s);
    Ok(Reply::Ok)
}

pub(super) fn flushall(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    flush_opt(a)?;
    ctx.s.touch_all(None);
    for d in ctx.s.dbs.iter_mut() {
        d.keys = Default::default();
        d.expires = Default::default();
    }
    ctx.dirty(1);
    crate::evict::recount(ctx.s);
    Ok(Reply::Ok)
}

pub(super) fn select(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let d = int(&a[1])?;
    if d < 0 || d as usize >= ctx.s.dbs.len() || d > i32::MAX as i64 {
        return Err(Reply::err("DB index is out of range"));
    }
    ctx.c.db = d as usize;
    if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
        e.db = d as usize;
    }
    Ok(Reply::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursors_read_as_strtoul() {
        assert_eq!(scan_cursor(b"").ok(), Some(0));
        assert_eq!(scan_cursor(b"-1").ok(), Some(u64::MAX));
        assert_eq!(scan_cursor(b"+7").ok(), Some(7));
        assert!(scan_cursor(b" 1").is_err());
        assert!(scan_cursor(b"18446744073709551616").is_err());
    }
}
