//! Hash commands.

use std::hash::BuildHasher;

use bytes::Bytes;
use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};

use super::args::int;
use super::ctx::{Ctx, R};
use super::keys::{parse_scan, scan_cursor, scan_range};
use crate::glob;
use crate::resp::{parse_i64, Reply};
use crate::store::{notify, Key};

fn hset_generic(ctx: &mut Ctx<'_>, a: &[Bytes], name: &str) -> Result<i64, Reply> {
    if !a.len().is_multiple_of(2) {
        return Err(Reply::err(format!(
            "wrong number of arguments for '{name}' command"
        )));
    }
    let h = ctx.hash_or_new(&a[1])?;
    let mut added = 0;
    for p in a[2..].chunks(2) {
        // One hash and one probe per field; a field already there gets the
        // new value written over its old one when it can (no allocation).
        // Copied: the arguments may be slices of the client's read buffer
        // (the table's BORROWS_ARGS).
        let field: &[u8] = &p[0];
        let hash = BuildHasher::hash_one(h.hasher(), field);
        match h.raw_entry_mut_v1().from_key_hashed_nocheck(hash, field) {
            RawEntryMut::Occupied(mut e) => overwrite(e.get_mut(), &p[1]),
            RawEntryMut::Vacant(e) => {
                e.insert_hashed_nocheck(hash, Key::new(field), Bytes::copy_from_slice(&p[1]));
                added += 1;
            }
        }
    }
    ctx.dirty(1);
    ctx.notify(notify::HASH, "hset", &a[1]);
    Ok(added)
}

/// Replaces a stored value by a copy of `new`, in the old value's own memory
/// when it is the only holder and its size fits exactly (a field rewritten
/// with a value of the same length, as sessions and counters mostly are):
/// no free and no allocation, where a fresh copy cost mimalloc about 170 ns
/// per HSET with -P 16, a tenth of the request (BENCHMARKS.md, 2026-12-05).
/// Otherwise (shared by a reply not yet written, or another size) a copy.
pub(crate) fn overwrite(v: &mut Bytes, new: &[u8]) {
    *v = match std::mem::take(v).try_into_mut() {
        Ok(mut m) if m.capacity() == new.len() => {
            m.clear();
            m.extend_from_slice(new);
            m.freeze()
        }
        _ => Bytes::copy_from_slice(new),
    };
}

pub(super) fn hset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(hset_generic(ctx, a, "hset")?))
}

pub(super) fn hmset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    hset_generic(ctx, a, "hmset")?;
    Ok(Reply::Ok)
}

pub(super) fn hsetnx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if let Some(h) = ctx.get_hash(&a[1])? {
        if h.contains_key(&a[2][..]) {
            return Ok(Reply::Int(0));
        }
    }
    let h = ctx.hash_or_new(&a[1])?;
    h.insert(Key::from(&a[2]), a[3].clone());
    ctx.dirty(1);
    ctx.notify(notify::HASH, "hset", &a[1]);
    Ok(Reply::Int(1))
}

pub(super) fn hget(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(match ctx.get_hash(&a[1])?.and_then(|h| h.get(&a[2][..])) {
        Some(v) => Reply::Bulk(v.clone()),
        None => Reply::Nil,
    })
}

pub(super) fn hmget(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let h = ctx.get_hash(&a[1])?;
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|f| match h.as_ref().and_then(|h| h.get(&f[..])) {
                Some(v) => Reply::Bulk(v.clone()),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

pub(super) fn hgetall(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Map(
        ctx.get_hash(&a[1])?
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (Reply::Bulk(k.to_bytes()), Reply::Bulk(v.clone())))
                    .collect()
            })
            .unwrap_or_default(),
    ))
}

pub(super) fn hdel(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(h) = ctx.get_hash(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0;
    for f in &a[2..] {
        if h.swap_remove(&f[..]).is_some() {
            n += 1;
        }
    }
    if n > 0 {
        ctx.dirty(1);
        ctx.notify(notify::HASH, "hdel", &a[1]);
        ctx.del_if_empty(&a[1]);
    }
    Ok(Reply::Int(n))
}

pub(super) fn hexists(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_hash(&a[1])?
            .is_some_and(|h| h.contains_key(&a[2][..])) as i64,
    ))
}

pub(super) fn hlen(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_hash(&a[1])?.map_or(0, |h| h.len()) as i64
    ))
}

pub(super) fn hstrlen(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_hash(&a[1])?
            .and_then(|h| h.get(&a[2][..]))
            .map_or(0, |v| v.len()) as i64,
    ))
}

pub(super) fn hkeys(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Array(
        ctx.get_hash(&a[1])?
            .map(|h| h.keys().map(|k| Reply::Bulk(k.to_bytes())).collect())
            .unwrap_or_default(),
    ))
}

pub(super) fn hvals(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Array(
        ctx.get_hash(&a[1])?
            .map(|h| h.values().map(|k| Reply::Bulk(k.clone())).collect())
            .unwrap_or_default(),
    ))
}

pub(super) fn hincrby(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let by = int(&a[3])?;
    let cur = match ctx.get_hash(&a[1])?.and_then(|h| h.get(&a[2][..])) {
        Some(v) => parse_i64(v).ok_or_else(|| Reply::err("hash value is not an integer"))?,
        None => 0,
    };
    let n = cur
        .checked_add(by)
        .ok_or_else(|| Reply::err("increment or decrement would overflow"))?;
    let h = ctx.hash_or_new(&a[1])?;
    h.insert(Key::from(&a[2]), Bytes::from(n.to_string()));
    ctx.dirty(1);
    ctx.notify(notify::HASH, "hincrby", &a[1]);
    Ok(Reply::Int(n))
}

pub(super) fn hincrbyfloat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let by = super::longdouble::hincr_arg(&a[3]).map_err(Reply::err)?;
    let cur = ctx.get_hash(&a[1])?.and_then(|h| h.get(&a[2][..])).cloned();
    let s = super::longdouble::hincr(cur.as_deref(), by).map_err(Reply::err)?;
    let h = ctx.hash_or_new(&a[1])?;
    h.insert(Key::from(&a[2]), Bytes::from(s.clone()));
    ctx.dirty(1);
    ctx.notify(notify::HASH, "hincrbyfloat", &a[1]);
    ctx.propagate(vec![
        Bytes::from_static(b"HSET"),
        a[1].clone(),
        a[2].clone(),
        Bytes::from(s.clone()),
    ]);
    Ok(Reply::bulk(s))
}

pub(super) fn hscan(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // Redis's order: the cursor, then the key (a missing one answers an
    // empty scan before the options are parsed), then the options.
    scan_cursor(&a[2])?;
    let Some(h) = ctx.get_hash(&a[1])? else {
        return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]));
    };
    let o = parse_scan(a, 2, false)?;
    let (start, end, next) = scan_range(o.cursor, o.count, h.len());
    let mut out = Vec::new();
    for i in start..end {
        let (k, v) = h.get_index(i).expect("in range");
        if o.pattern
            .as_ref()
            .is_none_or(|p| glob::matches(p, k, false))
        {
            out.push(Reply::Bulk(k.to_bytes()));
            out.push(Reply::Bulk(v.clone()));
        }
    }
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::Array(out),
    ]))
}

pub(super) fn hrandfield(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (count, wv) = super::random::rand_args(a, "withvalues")?;
    let proto = ctx.c.proto;
    let Some(h) = ctx.get_hash(&a[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(vec![])
        } else {
            Reply::Nil
        });
    };
    // Refuse replies that could only exhaust memory (a missing key answers
    // the empty array first, as Redis).
    if count.is_some_and(|c| c < 0 && c.unsigned_abs() > 100_000_000) {
        return Err(Reply::err("value is out of range"));
    }
    let pick = |i: usize| h.get_index(i).expect("in range");
    match count {
        None => Ok(Reply::Bulk(
            pick(super::random::rand_indexes(h.len(), -1)[0])
                .0
                .to_bytes(),
        )),
        Some(c) => {
            let items = super::random::rand_indexes(h.len(), c)
                .into_iter()
                .map(|i| {
                    let (f, v) = pick(i);
                    (Reply::Bulk(f.to_bytes()), Reply::Bulk(v.clone()))
                })
                .collect();
            Ok(super::random::pair_reply(items, wv, proto))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::overwrite;

    /// A value only the hash holds, of the new value's length, is written
    /// over in its own memory; one a reply still holds is left as it was.
    #[test]
    fn overwrite_reuses_only_a_sole_same_size_value() {
        let mut v = Bytes::copy_from_slice(b"aaaa");
        let at = v.as_ptr();
        overwrite(&mut v, b"bbbb");
        assert_eq!(&v[..], b"bbbb");
        assert_eq!(v.as_ptr(), at, "written in place");

        let held = v.clone();
        overwrite(&mut v, b"cccc");
        assert_eq!(&held[..], b"bbbb", "a holder keeps what it read");
        assert_eq!(&v[..], b"cccc");
        assert_ne!(v.as_ptr(), held.as_ptr());

        overwrite(&mut v, b"dd");
        assert_eq!(&v[..], b"dd");
        overwrite(&mut v, b"");
        assert_eq!(&v[..], b"");
        overwrite(&mut v, b"eeeeee");
        assert_eq!(&v[..], b"eeeeee");
    }
}
