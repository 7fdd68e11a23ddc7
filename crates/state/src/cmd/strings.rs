//! String commands.

use std::hash::BuildHasher;

use bytes::Bytes;
use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::store::{notify, Key, Value};

const MAX_STRING: usize = 512 * 1024 * 1024;

fn invalid_expire(cmd: &str) -> Reply {
    Reply::err(format!("invalid expire time in '{cmd}' command"))
}

/// Converts an expire argument to an absolute ms time, with Redis's checks.
pub(super) fn expire_at(
    ctx: &Ctx<'_>,
    arg: &[u8],
    unit_secs: bool,
    absolute: bool,
    cmd: &str,
) -> Result<u64, Reply> {
    let v = int(arg)?;
    if v <= 0 {
        return Err(invalid_expire(cmd));
    }
    let ms = if unit_secs {
        v.checked_mul(1000).ok_or_else(|| invalid_expire(cmd))?
    } else {
        v
    };
    let at = if absolute {
        ms
    } else {
        ms.checked_add(ctx.now as i64)
            .ok_or_else(|| invalid_expire(cmd))?
    };
    Ok(at as u64)
}

fn str_value(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    Ok(ctx.get_str(key)?.map(|v| v.clone()))
}

pub(super) fn get(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // A counter read stays integer-encoded (get_str would convert it).
    if let Some(Value::Int(i)) = ctx.lookup(&a[1]) {
        let r = Reply::bulk(itoa::Buffer::new().format(*i));
        ctx.s.stats.hits += 1;
        return Ok(r);
    }
    match ctx.get_str(&a[1])? {
        Some(v) => {
            let r = Reply::bulk(&v[..]);
            ctx.s.stats.hits += 1;
            Ok(r)
        }
        None => {
            ctx.s.stats.misses += 1;
            Ok(Reply::Nil)
        }
    }
}

fn do_set(ctx: &mut Ctx<'_>, key: &Bytes, val: &[u8], expire: Option<u64>, keep_ttl: bool) {
    ctx.set_key(key, Value::Str(val.to_vec()), keep_ttl);
    if let Some(at) = expire {
        ctx.set_expire(key, at);
    }
    ctx.dirty(1);
    ctx.notify(notify::STRING, "set", key);
    if expire.is_some() {
        ctx.notify(notify::GENERIC, "expire", key);
    }
}

fn prop_set(ctx: &mut Ctx<'_>, key: &Bytes, val: &Bytes, at: Option<u64>, keep_ttl: bool) {
    let mut v = vec![Bytes::from_static(b"SET"), key.clone(), val.clone()];
    if let Some(at) = at {
        v.push(Bytes::from_static(b"PXAT"));
        v.push(Bytes::from(at.to_string()));
    } else if keep_ttl {
        v.push(Bytes::from_static(b"KEEPTTL"));
    }
    ctx.propagate(v);
}

pub(super) fn set(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut exp: Option<(usize, bool, bool)> = None; // (arg index, secs, absolute)
    let mut j = 3;
    while j < a.len() {
        let o = &a[j];
        let has_next = j + 1 < a.len();
        if is(o, "nx") && !xx {
            nx = true;
        } else if is(o, "xx") && !nx {
            xx = true;
        } else if is(o, "get") {
            get = true;
        } else if is(o, "keepttl") && exp.is_none() {
            keepttl = true;
        } else if !keepttl
            && has_next
            && (is(o, "ex") || is(o, "px") || is(o, "exat") || is(o, "pxat"))
        {
            let secs = is(o, "ex") || is(o, "exat");
            let abs = is(o, "exat") || is(o, "pxat");
            if let Some((_, s, ab)) = exp {
                if s != secs || ab != abs {
                    return Err(syntax());
                }
            }
            exp = Some((j + 1, secs, abs));
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let at = match exp {
        Some((i, secs, abs)) => Some(expire_at(ctx, &a[i], secs, abs, "set")?),
        None => None,
    };
    let key = &a[1];
    let old = if get {
        Some(str_value(ctx, key)?)
    } else {
        None
    };
    let found = ctx.exists(key);
    if (nx && found) || (xx && !found) {
        return Ok(match old {
            Some(Some(v)) => Reply::bulk(v),
            _ => Reply::Nil,
        });
    }
    do_set(ctx, key, &a[2], at, keepttl);
    if at.is_some() {
        prop_set(ctx, key, &a[2], at, false);
    }
    Ok(match old {
        Some(Some(v)) => Reply::bulk(v),
        Some(None) => Reply::Nil,
        None => Reply::Ok,
    })
}

fn setex_generic(ctx: &mut Ctx<'_>, a: &[Bytes], secs: bool, name: &str) -> R {
    let at = expire_at(ctx, &a[2], secs, false, name)?;
    do_set(ctx, &a[1], &a[3], Some(at), false);
    prop_set(ctx, &a[1], &a[3], Some(at), false);
    Ok(Reply::Ok)
}

pub(super) fn setex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    setex_generic(ctx, a, true, "setex")
}

pub(super) fn psetex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    setex_generic(ctx, a, false, "psetex")
}

pub(super) fn setnx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if ctx.exists(&a[1]) {
        return Ok(Reply::Int(0));
    }
    do_set(ctx, &a[1], &a[2], None, false);
    Ok(Reply::Int(1))
}

pub(super) fn getex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut exp: Option<(usize, bool, bool)> = None;
    let mut persist = false;
    let mut j = 2;
    while j < a.len() {
        let o = &a[j];
        let has_next = j + 1 < a.len();
        if is(o, "persist") && exp.is_none() {
            persist = true;
        } else if !persist
            && has_next
            && (is(o, "ex") || is(o, "px") || is(o, "exat") || is(o, "pxat"))
        {
            let secs = is(o, "ex") || is(o, "exat");
            let abs = is(o, "exat") || is(o, "pxat");
            if let Some((_, s, ab)) = exp {
                if s != secs || ab != abs {
                    return Err(syntax());
                }
            }
            exp = Some((j + 1, secs, abs));
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let key = &a[1];
    let Some(v) = str_value(ctx, key)? else {
        return Ok(Reply::Nil);
    };
    // The time is checked after the lookup, as Redis: a missing key is nil
    // whatever the value.
    let at = match exp {
        Some((i, secs, abs)) => Some(expire_at(ctx, &a[i], secs, abs, "getex")?),
        None => None,
    };
    if let Some(at) = at {
        if at <= ctx.now {
            ctx.del_key(key);
            ctx.dirty(1);
            ctx.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.notify(notify::GENERIC, "del", key);
        } else {
            ctx.set_expire(key, at);
            ctx.dirty(1);
            ctx.propagate(vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ]);
            ctx.notify(notify::GENERIC, "expire", key);
        }
    } else if persist {
        if ctx.persist(key) {
            ctx.dirty(1);
            ctx.propagate(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
            ctx.notify(notify::GENERIC, "persist", key);
        }
    } else {
        ctx.custom_prop = true;
    }
    Ok(Reply::bulk(v))
}

pub(super) fn getdel(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(v) = str_value(ctx, &a[1])? else {
        return Ok(Reply::Nil);
    };
    ctx.del_key(&a[1]);
    ctx.dirty(1);
    ctx.notify(notify::GENERIC, "del", &a[1]);
    Ok(Reply::bulk(v))
}

pub(super) fn getset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let old = str_value(ctx, &a[1])?;
    do_set(ctx, &a[1], &a[2], None, false);
    Ok(old.map_or(Reply::Nil, Reply::bulk))
}

pub(super) fn mget(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut out = Vec::with_capacity(a.len() - 1);
    for k in &a[1..] {
        out.push(match ctx.lookup(k) {
            Some(Value::Str(v)) => Reply::bulk(&v[..]),
            Some(Value::Int(i)) => Reply::bulk(itoa::Buffer::new().format(*i)),
            _ => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

pub(super) fn mset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() % 2 != 1 {
        return Err(Reply::err("wrong number of arguments for 'mset' command"));
    }
    for p in a[1..].chunks(2) {
        do_set(ctx, &p[0], &p[1], None, false);
    }
    Ok(Reply::Ok)
}

pub(super) fn msetnx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() % 2 != 1 {
        return Err(Reply::err("wrong number of arguments for 'msetnx' command"));
    }
    for p in a[1..].chunks(2) {
        if ctx.exists(&p[0]) {
            return Ok(Reply::Int(0));
        }
    }
    for p in a[1..].chunks(2) {
        do_set(ctx, &p[0], &p[1], None, false);
    }
    Ok(Reply::Int(1))
}

fn check_len(len: usize) -> Result<(), Reply> {
    if len > MAX_STRING {
        Err(Reply::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ))
    } else {
        Ok(())
    }
}

pub(super) fn append(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let len = match ctx.get_str(&a[1])? {
        Some(v) => {
            check_len(v.len() + a[2].len())?;
            v.extend_from_slice(&a[2]);
            v.len()
        }
        None => {
            ctx.set_key(&a[1], Value::Str(a[2].to_vec()), false);
            a[2].len()
        }
    };
    ctx.dirty(1);
    ctx.notify(notify::STRING, "append", &a[1]);
    Ok(Reply::Int(len as i64))
}

pub(super) fn strlen(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.get_str(&a[1])?.map_or(0, |v| v.len()) as i64))
}

pub(super) fn getrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut start = int(&a[2])?;
    let mut end = int(&a[3])?;
    let Some(v) = ctx.get_str(&a[1])? else {
        return Ok(Reply::bulk(""));
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk(""));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::bulk(""));
    }
    Ok(Reply::bulk(&v[start as usize..=end as usize]))
}

pub(super) fn setrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let off = int(&a[2])?;
    if off < 0 {
        return Err(Reply::err("offset is out of range"));
    }
    let off = off as usize;
    let val = &a[3];
    match ctx.get_str(&a[1])? {
        Some(v) => {
            if val.is_empty() {
                return Ok(Reply::Int(v.len() as i64));
            }
            check_len(off + val.len())?;
            if v.len() < off + val.len() {
                v.resize(off + val.len(), 0);
            }
            v[off..off + val.len()].copy_from_slice(val);
            let n = v.len();
            ctx.dirty(1);
            ctx.notify(notify::STRING, "setrange", &a[1]);
            Ok(Reply::Int(n as i64))
        }
        None => {
            if val.is_empty() {
                return Ok(Reply::Int(0));
            }
            check_len(off + val.len())?;
            let mut v = vec![0u8; off + val.len()];
            v[off..].copy_from_slice(val);
            let n = v.len();
            ctx.set_key(&a[1], Value::Str(v), false);
            ctx.dirty(1);
            ctx.notify(notify::STRING, "setrange", &a[1]);
            Ok(Reply::Int(n as i64))
        }
    }
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> R {
    let overflow = || Reply::err("increment or decrement would overflow");
    // One hash, one probe and no allocation, a new key included (over
    // 40 % of a 200,000-request redis-benchmark INCR run create one): the result
    // stays integer-encoded.
    let db = ctx.c.db;
    let k: &[u8] = key;
    ctx.s.expire_before_write(db, k, ctx.now);
    let d = &mut ctx.s.dbs[db];
    let hash = BuildHasher::hash_one(d.keys.hasher(), k);
    let n = match d.keys.raw_entry_mut_v1().from_key_hashed_nocheck(hash, k) {
        RawEntryMut::Occupied(mut e) => {
            let v = e.get_mut();
            let cur = match v {
                Value::Int(i) => *i,
                Value::Str(s) => crate::resp::parse_i64(s).ok_or_else(crate::cmd::args::not_int)?,
                _ => return Err(crate::cmd::ctx::wrongtype()),
            };
            let n = cur.checked_add(by).ok_or_else(overflow)?;
            *v = Value::Int(n);
            n
        }
        RawEntryMut::Vacant(e) => {
            e.insert_hashed_nocheck(hash, Key::new(k), Value::Int(by));
            // As `Ctx::set_key`: a new value has no TTL.
            if !d.expires.is_empty() {
                d.expires.swap_remove(k);
            }
            by
        }
    };
    ctx.dirty(1);
    ctx.notify(notify::STRING, "incrby", key);
    Ok(Reply::Int(n))
}

pub(super) fn incr(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    incr_generic(ctx, &a[1], 1)
}
pub(super) fn decr(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    incr_generic(ctx, &a[1], -1)
}
pub(super) fn incrby(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let by = int(&a[2])?;
    incr_generic(ctx, &a[1], by)
}
pub(super) fn decrby(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let by = int(&a[2])?;
    if by == i64::MIN {
        return Err(Reply::err("decrement would overflow"));
    }
    incr_generic(ctx, &a[1], -by)
}

pub(super) fn incrbyfloat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let cur = ctx.get_str(&a[1])?.map(|v| v.clone());
    let s = super::longdouble::incr(cur.as_deref(), &a[2]).map_err(Reply::err)?;
    match ctx.get_str(&a[1])? {
        Some(v) => *v = s.clone().into_bytes(),
        None => ctx.set_key(&a[1], Value::Str(s.clone().into_bytes()), false),
    }
    ctx.dirty(1);
    ctx.notify(notify::STRING, "incrbyfloat", &a[1]);
    ctx.propagate(vec![
        Bytes::from_static(b"SET"),
        a[1].clone(),
        Bytes::from(s.clone()),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    Ok(Reply::bulk(s))
}

// === LCS ===

/// A key's string for LCS: missing keys are empty strings, other types an
/// error (Redis checks both keys before reading any option).
fn lcs_operand(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    match ctx.lookup(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(Value::Int(i)) => Ok(Some(itoa::Buffer::new().format(*i).as_bytes().to_vec())),
        Some(_) => Err(()),
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`, as Redis
/// 7.0's `lcsCommand`: the dynamic-programming table of (len1+1)*(len2+1)
/// 32-bit cells, refused when it would exceed proto-max-bulk-len (Redis's
/// bound on this transient memory), then walked back from the end to
/// build the string and the matching ranges (last match first).
pub(super) fn lcs(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (x, y) = match (lcs_operand(ctx, &a[1]), lcs_operand(ctx, &a[2])) {
        (Ok(x), Ok(y)) => (x.unwrap_or_default(), y.unwrap_or_default()),
        _ => return Err(Reply::err("The specified keys must contain string values")),
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if is(&a[j], "idx") {
            getidx = true;
        } else if is(&a[j], "len") {
            getlen = true;
        } else if is(&a[j], "withmatchlen") {
            withmatchlen = true;
        } else if is(&a[j], "minmatchlen") && more {
            minmatchlen = int(&a[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(Reply::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    if x.len() >= u32::MAX as usize - 1 || y.len() >= u32::MAX as usize - 1 {
        return Err(Reply::err("String too long for LCS"));
    }
    let (alen, blen) = (x.len(), y.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > ctx.s.cfg.proto_max_bulk_len.max(0) as u64 {
        return Err(Reply::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(Reply::err(
            "Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for k in 1..=blen {
            table[i * w + k] = if x[i - 1] == y[k - 1] {
                table[(i - 1) * w + k - 1] + 1
            } else {
                table[(i - 1) * w + k].max(table[i * w + k - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    if getlen {
        return Ok(Reply::Int(total as i64));
    }
    let mut result = vec![0u8; total as usize];
    let mut matches = Vec::new();
    // `arange_start == alen` means no range is open, as in Redis.
    let (mut astart, mut aend, mut bstart, mut bend) = (alen, 0, 0, 0);
    let (mut i, mut k, mut idx) = (alen, blen, total as usize);
    while i > 0 && k > 0 {
        let mut emit = false;
        if x[i - 1] == y[k - 1] {
            result[idx - 1] = x[i - 1];
            if astart == alen {
                (astart, aend, bstart, bend) = (i - 1, i - 1, k - 1, k - 1);
            } else if astart == i && bstart == k {
                astart -= 1;
                bstart -= 1;
            } else {
                emit = true;
            }
            if astart == 0 || bstart == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if table[(i - 1) * w + k] > table[i * w + k - 1] {
                i -= 1;
            } else {
                k -= 1;
            }
            if astart != alen {
                emit = true;
            }
        }
        if emit {
            // A range is always open here (astart < alen).
            let match_len = (aend - astart + 1) as i64;
            if getidx && (minmatchlen == 0 || match_len >= minmatchlen) {
                let range = |s: usize, e: usize| {
                    Reply::Array(vec![Reply::Int(s as i64), Reply::Int(e as i64)])
                };
                let mut m = vec![range(astart, aend), range(bstart, bend)];
                if withmatchlen {
                    m.push(Reply::Int(match_len));
                }
                matches.push(Reply::Array(m));
            }
            astart = alen;
        }
    }
    if getidx {
        return Ok(Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Int(total as i64)),
        ]));
    }
    Ok(Reply::bulk(result))
}
