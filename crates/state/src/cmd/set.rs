//! Set commands.

use bytes::Bytes;
use rand::Rng;

use super::args::int;
use super::ctx::{Ctx, R};
use super::keys::{parse_scan, scan_cursor, scan_range};
use crate::glob;
use crate::resp::Reply;
use crate::store::{notify, Set, Value};

pub(super) fn sadd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let s = ctx.set_or_new(&a[1])?;
    let mut n = 0;
    for m in &a[2..] {
        if s.insert(m.clone()) {
            n += 1;
        }
    }
    if n > 0 {
        ctx.dirty(1);
        ctx.notify(notify::SET, "sadd", &a[1]);
    } else {
        ctx.del_if_empty(&a[1]);
    }
    Ok(Reply::Int(n))
}

pub(super) fn srem(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(s) = ctx.get_set(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0;
    for m in &a[2..] {
        if s.swap_remove(&m[..]) {
            n += 1;
        }
    }
    if n > 0 {
        ctx.dirty(1);
        ctx.notify(notify::SET, "srem", &a[1]);
        ctx.del_if_empty(&a[1]);
    }
    Ok(Reply::Int(n))
}

fn members(s: Option<&mut Set<Bytes>>) -> Vec<Reply> {
    s.map(|s| s.iter().map(|m| Reply::Bulk(m.clone())).collect())
        .unwrap_or_default()
}

pub(super) fn smembers(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Set(members(ctx.get_set(&a[1])?)))
}

pub(super) fn sismember(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_set(&a[1])?.is_some_and(|s| s.contains(&a[2][..])) as i64,
    ))
}

pub(super) fn smismember(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let s = ctx.get_set(&a[1])?;
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|m| Reply::Int(s.as_ref().is_some_and(|s| s.contains(&m[..])) as i64))
            .collect(),
    ))
}

pub(super) fn scard(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(ctx.get_set(&a[1])?.map_or(0, |s| s.len()) as i64))
}

pub(super) fn spop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(crate::cmd::args::syntax());
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
    let Some(s) = ctx.get_set(&a[1])? else {
        return Ok(if count.is_some() {
            Reply::Set(vec![])
        } else {
            Reply::Nil
        });
    };
    let mut rng = rand::rng();
    let n = count.unwrap_or(1).min(s.len());
    let mut popped = Vec::with_capacity(n);
    for _ in 0..n {
        let i = rng.random_range(0..s.len());
        popped.push(s.swap_remove_index(i).expect("in range"));
    }
    if popped.is_empty() {
        return Ok(Reply::Set(vec![]));
    }
    ctx.dirty(1);
    ctx.notify(notify::SET, "spop", &a[1]);
    let mut prop = vec![Bytes::from_static(b"SREM"), a[1].clone()];
    prop.extend(popped.iter().cloned());
    ctx.propagate(prop);
    ctx.del_if_empty(&a[1]);
    Ok(match count {
        None => Reply::Bulk(popped.pop().expect("one")),
        Some(_) => Reply::Set(popped.into_iter().map(Reply::Bulk).collect()),
    })
}

pub(super) fn srandmember(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(crate::cmd::args::syntax());
    }
    let count = if a.len() == 3 {
        Some(int(&a[2])?)
    } else {
        None
    };
    // Redis refuses counts below -LONG_MAX/2.
    if count.is_some_and(|c| c < -(i64::MAX / 2)) {
        return Err(Reply::err("value is out of range"));
    }
    let Some(s) = ctx.get_set(&a[1])? else {
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
    let mut rng = rand::rng();
    match count {
        None => Ok(Reply::Bulk(
            s.get_index(rng.random_range(0..s.len()))
                .expect("nonempty")
                .clone(),
        )),
        Some(c) if c < 0 => Ok(Reply::Array(
            (0..c.unsigned_abs())
                .map(|_| {
                    Reply::Bulk(
                        s.get_index(rng.random_range(0..s.len()))
                            .expect("nonempty")
                            .clone(),
                    )
                })
                .collect(),
        )),
        Some(c) => {
            let c = (c as usize).min(s.len());
            let mut idx: Vec<usize> = (0..s.len()).collect();
            for i in 0..c {
                let j = rng.random_range(i..idx.len());
                idx.swap(i, j);
            }
            Ok(Reply::Array(
                idx[..c]
                    .iter()
                    .map(|&i| Reply::Bulk(s.get_index(i).expect("in range").clone()))
                    .collect(),
            ))
        }
    }
}

pub(super) fn smove(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // A missing source answers 0 before the destination's type is checked.
    if ctx.get_set(&a[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    ctx.get_set(&a[2])?;
    if a[1] == a[2] {
        let has = ctx.get_set(&a[1])?.is_some_and(|s| s.contains(&a[3][..]));
        return Ok(Reply::Int(has as i64));
    }
    let removed = ctx
        .get_set(&a[1])?
        .is_some_and(|s| s.swap_remove(&a[3][..]));
    if !removed {
        return Ok(Reply::Int(0));
    }
    ctx.notify(notify::SET, "srem", &a[1]);
    ctx.del_if_empty(&a[1]);
    let d = ctx.set_or_new(&a[2])?;
    if d.insert(a[3].clone()) {
        ctx.notify(notify::SET, "sadd", &a[2]);
    }
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

fn compute(ctx: &mut Ctx<'_>, keys: &[Bytes], op: Op) -> Result<Set<Bytes>, Reply> {
    let mut sets: Vec<Option<Set<Bytes>>> = Vec::with_capacity(keys.len());
    for k in keys {
        sets.push(ctx.get_set(k)?.map(|s| s.clone()));
    }
    Ok(match op {
        Op::Union => {
            let mut out = Set::default();
            for s in sets.into_iter().flatten() {
                out.extend(s);
            }
            out
        }
        Op::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return Ok(Set::default());
            }
            let mut sets: Vec<Set<Bytes>> = sets.into_iter().flatten().collect();
            sets.sort_by_key(|s| s.len());
            let (first, rest) = sets.split_first().expect("at least one key");
            first
                .iter()
                .filter(|m| rest.iter().all(|s| s.contains(*m)))
                .cloned()
                .collect()
        }
        Op::Diff => {
            let mut it = sets.into_iter();
            let mut out = it.next().flatten().unwrap_or_default();
            for s in it.flatten() {
                out.retain(|m| !s.contains(m));
            }
            out
        }
    })
}

fn reply_set(s: Set<Bytes>) -> Reply {
    Reply::Set(s.into_iter().map(Reply::Bulk).collect())
}

pub(super) fn sinter(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(reply_set(compute(ctx, &a[1..], Op::Inter)?))
}
pub(super) fn sunion(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(reply_set(compute(ctx, &a[1..], Op::Union)?))
}
pub(super) fn sdiff(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(reply_set(compute(ctx, &a[1..], Op::Diff)?))
}

fn store(ctx: &mut Ctx<'_>, a: &[Bytes], op: Op, event: &str) -> R {
    let s = compute(ctx, &a[2..], op)?;
    let n = s.len();
    let existed = ctx.exists(&a[1]);
    if n == 0 {
        if existed {
            ctx.del_key(&a[1]);
            ctx.notify(notify::GENERIC, "del", &a[1]);
        }
    } else {
        ctx.set_key(&a[1], Value::Set(Box::new(s)), false);
        ctx.notify(notify::SET, event, &a[1]);
    }
    ctx.dirty(1);
    Ok(Reply::Int(n as i64))
}

pub(super) fn sinterstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    store(ctx, a, Op::Inter, "sinterstore")
}
pub(super) fn sunionstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    store(ctx, a, Op::Union, "sunionstore")
}
pub(super) fn sdiffstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    store(ctx, a, Op::Diff, "sdiffstore")
}

pub(super) fn sscan(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // Redis's order: the cursor, then the key (a missing one answers an
    // empty scan before the options are parsed), then the options.
    scan_cursor(&a[2])?;
    let Some(s) = ctx.get_set(&a[1])? else {
        return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]));
    };
    let o = parse_scan(a, 2, false)?;
    let (start, end, next) = scan_range(o.cursor, o.count, s.len());
    let out = (start..end)
        .filter_map(|i| s.get_index(i))
        .filter(|m| {
            o.pattern
                .as_ref()
                .is_none_or(|p| glob::matches(p, m, false))
        })
        .map(|m| Reply::Bulk(m.clone()))
        .collect();
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::Array(out),
    ]))
}

pub(super) fn sintercard(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let n = int(&a[1]).map_err(|_| Reply::err("numkeys should be greater than 0"))?;
    if n < 1 {
        return Err(Reply::err("numkeys should be greater than 0"));
    }
    if n as usize > a.len() - 2 {
        return Err(Reply::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let keys = &a[2..2 + n as usize];
    let mut limit = 0usize;
    let mut j = 2 + n as usize;
    while j < a.len() {
        if crate::cmd::args::is(&a[j], "limit") && j + 1 < a.len() {
            let l = int(&a[j + 1]).map_err(|_| Reply::err("LIMIT can't be negative"))?;
            if l < 0 {
                return Err(Reply::err("LIMIT can't be negative"));
            }
            limit = l as usize;
            j += 2;
        } else {
            return Err(crate::cmd::args::syntax());
        }
    }
    let s = compute(ctx, keys, Op::Inter)?;
    Ok(Reply::Int(if limit > 0 {
        s.len().min(limit)
    } else {
        s.len()
    } as i64))
}
