//! Sorted-set commands.

use bytes::Bytes;

use super::keys::{parse_scan, scan_range};
use super::{int, is, parse_float, syntax, Ctx, R};
use crate::glob;
use crate::resp::{fmt_double, Reply};
use crate::store::{notify, Score, Value, ZSet};

fn new_zset() -> Value {
    Value::ZSet(Box::default())
}

fn not_float() -> Reply {
    Reply::err("value is not a valid float")
}

pub(super) fn zadd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else if is(o, "ch") {
            ch = true;
        } else if is(o, "incr") {
            incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &a[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(syntax());
    }
    if nx && xx {
        return Err(Reply::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(Reply::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && rest.len() > 2 {
        return Err(Reply::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks(2) {
        pairs.push((parse_float(&p[0]).ok_or_else(not_float)?, p[1].clone()));
    }
    if xx && !ctx.exists(&a[1]) {
        ctx.check_type(&a[1], "zset")?;
        return Ok(if incr { Reply::Nil } else { Reply::Int(0) });
    }
    let Value::ZSet(z) = ctx.get_or_create(&a[1], new_zset)? else {
        unreachable!()
    };
    let (mut added, mut changed) = (0, 0);
    let mut result = None;
    for (score, m) in pairs {
        let cur = z.scores.get(&m[..]).copied();
        match cur {
            Some(old) => {
                if nx {
                    continue;
                }
                let new = if incr { old + score } else { score };
                if new.is_nan() {
                    return Err(Reply::err("resulting score is not a number (NaN)"));
                }
                if (gt && new <= old) || (lt && new >= old) {
                    continue;
                }
                result = Some(new);
                if new != old {
                    z.insert(m, new);
                    changed += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.insert(m, score);
                added += 1;
                result = Some(score);
            }
        }
    }
    let empty = z.is_empty();
    if empty {
        ctx.del_key(&a[1]);
    }
    if added + changed > 0 {
        ctx.dirty(1);
        ctx.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, &a[1]);
    }
    if incr {
        return Ok(result.map_or(Reply::Nil, Reply::Double));
    }
    Ok(Reply::Int(if ch { added + changed } else { added }))
}

pub(super) fn zincrby(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let by = parse_float(&a[2]).ok_or_else(not_float)?;
    let Value::ZSet(z) = ctx.get_or_create(&a[1], new_zset)? else {
        unreachable!()
    };
    let new = z.scores.get(&a[3][..]).copied().unwrap_or(0.0) + by;
    if new.is_nan() {
        ctx.del_if_empty(&a[1]);
        return Err(Reply::err("resulting score is not a number (NaN)"));
    }
    z.insert(a[3].clone(), new);
    ctx.dirty(1);
    ctx.notify(notify::ZSET, "zincr", &a[1]);
    Ok(Reply::Double(new))
}

pub(super) fn zrem(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let n = a[2..].iter().filter(|m| z.remove(m)).count();
    if n > 0 {
        ctx.dirty(1);
        ctx.notify(notify::ZSET, "zrem", &a[1]);
        ctx.del_if_empty(&a[1]);
    }
    Ok(Reply::Int(n as i64))
}

pub(super) fn zscore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(
        match ctx
            .get_zset(&a[1])?
            .and_then(|z| z.scores.get(&a[2][..]).copied())
        {
            Some(s) => Reply::Double(s),
            None => Reply::Nil,
        },
    )
}

pub(super) fn zmscore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let z = ctx.get_zset(&a[1])?;
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|m| match z.as_ref().and_then(|z| z.scores.get(&m[..])) {
                Some(&s) => Reply::Double(s),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

pub(super) fn zcard(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_zset(&a[1])?.map_or(0, |z| z.len()) as i64
    ))
}

/// A score bound: value and exclusivity.
#[derive(Clone, Copy)]
struct Bound {
    v: f64,
    ex: bool,
}

fn parse_bound(b: &[u8]) -> Result<Bound, Reply> {
    let bad = || Reply::err("min or max is not a float");
    if b.first() == Some(&b'(') {
        Ok(Bound {
            v: parse_float(&b[1..]).ok_or_else(bad)?,
            ex: true,
        })
    } else {
        Ok(Bound {
            v: parse_float(b).ok_or_else(bad)?,
            ex: false,
        })
    }
}

fn above(s: f64, b: Bound) -> bool {
    if b.ex {
        s > b.v
    } else {
        s >= b.v
    }
}
fn below(s: f64, b: Bound) -> bool {
    if b.ex {
        s < b.v
    } else {
        s <= b.v
    }
}

/// Lex bound: None = infinite (`-` or `+`).
#[derive(Clone)]
enum Lex {
    NegInf,
    PosInf,
    Incl(Bytes),
    Excl(Bytes),
}

fn parse_lex(b: &Bytes) -> Result<Lex, Reply> {
    let bad = || Reply::err("min or max not valid string range item");
    match b.first() {
        Some(b'-') if b.len() == 1 => Ok(Lex::NegInf),
        Some(b'+') if b.len() == 1 => Ok(Lex::PosInf),
        Some(b'[') => Ok(Lex::Incl(b.slice(1..))),
        Some(b'(') => Ok(Lex::Excl(b.slice(1..))),
        _ => Err(bad()),
    }
}

fn lex_gte_min(m: &[u8], min: &Lex) -> bool {
    match min {
        Lex::NegInf => true,
        Lex::PosInf => false,
        Lex::Incl(x) => m >= &x[..],
        Lex::Excl(x) => m > &x[..],
    }
}
fn lex_lte_max(m: &[u8], max: &Lex) -> bool {
    match max {
        Lex::NegInf => false,
        Lex::PosInf => true,
        Lex::Incl(x) => m <= &x[..],
        Lex::Excl(x) => m < &x[..],
    }
}

fn in_score_range(z: &ZSet, min: Bound, max: Bound, rev: bool) -> Vec<(Bytes, f64)> {
    let mut out = Vec::new();
    if !rev {
        for (s, m) in z.tree.range((Score(min.v), Bytes::new())..) {
            if !above(s.0, min) {
                continue;
            }
            if !below(s.0, max) {
                break;
            }
            out.push((m.clone(), s.0));
        }
    } else {
        let mut top: Vec<(Bytes, f64)> = z
            .tree
            .range((Score(max.v), Bytes::new())..)
            .take_while(|(s, _)| s.0 == max.v)
            .map(|(s, m)| (m.clone(), s.0))
            .collect();
        top.reverse();
        let rest = z
            .tree
            .range(..(Score(max.v), Bytes::new()))
            .rev()
            .map(|(s, m)| (m.clone(), s.0));
        for (m, s) in top.into_iter().chain(rest) {
            if !below(s, max) {
                continue;
            }
            if !above(s, min) {
                break;
            }
            out.push((m, s));
        }
    }
    out
}

pub(super) fn zcount(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let min = parse_bound(&a[2])?;
    let max = parse_bound(&a[3])?;
    Ok(Reply::Int(
        ctx.get_zset(&a[1])?
            .map_or(0, |z| in_score_range(z, min, max, false).len()) as i64,
    ))
}

fn with_scores(items: Vec<(Bytes, f64)>, ws: bool, proto: u8) -> Reply {
    if !ws {
        return Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect());
    }
    if proto >= 3 {
        Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        )
    } else {
        let mut v = Vec::with_capacity(items.len() * 2);
        for (m, s) in items {
            v.push(Reply::Bulk(m));
            v.push(Reply::Double(s));
        }
        Reply::Array(v)
    }
}

#[derive(PartialEq, Clone, Copy)]
enum By {
    Rank,
    Score,
    Lex,
}

struct RangeReq {
    by: By,
    rev: bool,
    ws: bool,
    limit: Option<(i64, i64)>,
}

fn rank_range(z: &ZSet, start: i64, stop: i64, rev: bool) -> Vec<(Bytes, f64)> {
    let len = z.len() as i64;
    let (mut s, mut e) = (start, stop);
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
        return Vec::new();
    }
    if e >= len {
        e = len - 1;
    }
    let n = (e - s + 1) as usize;
    let map = |(sc, m): &(Score, Bytes)| (m.clone(), sc.0);
    if rev {
        z.tree
            .iter()
            .rev()
            .skip(s as usize)
            .take(n)
            .map(map)
            .collect()
    } else {
        z.tree.iter().skip(s as usize).take(n).map(map).collect()
    }
}

fn apply_limit(v: Vec<(Bytes, f64)>, limit: Option<(i64, i64)>) -> Vec<(Bytes, f64)> {
    match limit {
        None => v,
        Some((off, _)) if off < 0 => Vec::new(),
        Some((off, cnt)) => {
            let it = v.into_iter().skip(off as usize);
            if cnt < 0 {
                it.collect()
            } else {
                it.take(cnt as usize).collect()
            }
        }
    }
}

fn check_limit(req: &RangeReq) -> Result<(), Reply> {
    if req.limit.is_some() && req.by == By::Rank {
        return Err(Reply::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    Ok(())
}

fn range_generic(ctx: &mut Ctx<'_>, key: &Bytes, lo: &Bytes, hi: &Bytes, req: RangeReq) -> R {
    check_limit(&req)?;
    if req.ws && req.by == By::Lex {
        return Err(Reply::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let proto = ctx.c.proto;
    let items = range_items(ctx, key, lo, hi, &req)?;
    Ok(with_scores(items, req.ws, proto))
}

/// The members (with scores) a ZRANGE-family request selects.
fn range_items(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    lo: &Bytes,
    hi: &Bytes,
    req: &RangeReq,
) -> Result<Vec<(Bytes, f64)>, Reply> {
    check_limit(req)?;
    Ok(match req.by {
        By::Rank => {
            let (s, e) = (int(lo)?, int(hi)?);
            match ctx.get_zset(key)? {
                Some(z) => rank_range(z, s, e, req.rev),
                None => Vec::new(),
            }
        }
        By::Score => {
            let (a, b) = (parse_bound(lo)?, parse_bound(hi)?);
            let (min, max) = if req.rev { (b, a) } else { (a, b) };
            match ctx.get_zset(key)? {
                Some(z) => apply_limit(in_score_range(z, min, max, req.rev), req.limit),
                None => Vec::new(),
            }
        }
        By::Lex => {
            let (a, b) = (parse_lex(lo)?, parse_lex(hi)?);
            let (min, max) = if req.rev { (b, a) } else { (a, b) };
            match ctx.get_zset(key)? {
                Some(z) => apply_limit(lex_range(z, &min, &max, req.rev), req.limit),
                None => Vec::new(),
            }
        }
    })
}

fn parse_tail(
    a: &[Bytes],
    from: usize,
    allow_by: bool,
    allow_limit: bool,
) -> Result<RangeReq, Reply> {
    let mut req = RangeReq {
        by: By::Rank,
        rev: false,
        ws: false,
        limit: None,
    };
    let mut j = from;
    while j < a.len() {
        let o = &a[j];
        if is(o, "withscores") {
            req.ws = true;
        } else if allow_limit && is(o, "limit") && j + 2 < a.len() {
            req.limit = Some((int(&a[j + 1])?, int(&a[j + 2])?));
            j += 2;
        } else if allow_by && is(o, "byscore") {
            req.by = By::Score;
        } else if allow_by && is(o, "bylex") {
            req.by = By::Lex;
        } else if allow_by && is(o, "rev") {
            req.rev = true;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    Ok(req)
}

pub(super) fn zrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let req = parse_tail(a, 4, true, true)?;
    range_generic(ctx, &a[1], &a[2], &a[3], req)
}

pub(super) fn zrevrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut req = parse_tail(a, 4, false, false)?;
    req.rev = true;
    range_generic(ctx, &a[1], &a[2], &a[3], req)
}

pub(super) fn zrangebyscore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut req = parse_tail(a, 4, false, true)?;
    req.by = By::Score;
    range_generic(ctx, &a[1], &a[2], &a[3], req)
}

pub(super) fn zrevrangebyscore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut req = parse_tail(a, 4, false, true)?;
    req.by = By::Score;
    req.rev = true;
    range_generic(ctx, &a[1], &a[2], &a[3], req)
}

pub(super) fn zrangebylex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut req = parse_tail(a, 4, false, true)?;
    if req.ws {
        return Err(syntax());
    }
    req.by = By::Lex;
    range_generic(ctx, &a[1], &a[2], &a[3], req)
}

fn rank_generic(ctx: &mut Ctx<'_>, a: &[Bytes], rev: bool) -> R {
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(Reply::Nil);
    };
    let len = z.len();
    Ok(match z.rank(&a[2]) {
        Some(r) => Reply::Int(if rev { len - 1 - r } else { r } as i64),
        None => Reply::Nil,
    })
}

pub(super) fn zrank(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    rank_generic(ctx, a, false)
}
pub(super) fn zrevrank(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    rank_generic(ctx, a, true)
}

fn remove_all(ctx: &mut Ctx<'_>, key: &Bytes, victims: Vec<(Bytes, f64)>, event: &str) -> R {
    let n = victims.len();
    if n > 0 {
        if let Some(z) = ctx.get_zset(key)? {
            for (m, _) in &victims {
                z.remove(m);
            }
        }
        ctx.dirty(1);
        ctx.notify(notify::ZSET, event, key);
        ctx.del_if_empty(key);
    }
    Ok(Reply::Int(n as i64))
}

pub(super) fn zremrangebyscore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let min = parse_bound(&a[2])?;
    let max = parse_bound(&a[3])?;
    let victims = match ctx.get_zset(&a[1])? {
        Some(z) => in_score_range(z, min, max, false),
        None => return Ok(Reply::Int(0)),
    };
    remove_all(ctx, &a[1], victims, "zremrangebyscore")
}

pub(super) fn zremrangebyrank(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let victims = match ctx.get_zset(&a[1])? {
        Some(z) => rank_range(z, s, e, false),
        None => return Ok(Reply::Int(0)),
    };
    remove_all(ctx, &a[1], victims, "zremrangebyrank")
}

fn pop_generic(ctx: &mut Ctx<'_>, a: &[Bytes], max: bool) -> R {
    if a.len() > 3 {
        return Err(syntax());
    }
    let count = if a.len() == 3 {
        let c = int(&a[2])?;
        if c < 0 {
            return Err(Reply::err("value is out of range, must be positive"));
        }
        Some(c as usize)
    } else {
        None
    };
    let proto = ctx.c.proto;
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    let n = count.unwrap_or(1).min(z.len());
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let first = if max {
            z.tree.iter().next_back().cloned()
        } else {
            z.tree.iter().next().cloned()
        };
        let Some((s, m)) = first else { break };
        z.remove(&m);
        items.push((m, s.0));
    }
    if !items.is_empty() {
        ctx.dirty(1);
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, &a[1]);
        ctx.del_if_empty(&a[1]);
    }
    if count.is_none() || proto < 3 {
        let mut v = Vec::new();
        for (m, s) in items {
            v.push(Reply::Bulk(m));
            v.push(Reply::Double(s));
        }
        return Ok(Reply::Array(v));
    }
    Ok(with_scores(items, true, proto))
}

pub(super) fn zpopmin(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    pop_generic(ctx, a, false)
}
pub(super) fn zpopmax(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    pop_generic(ctx, a, true)
}

pub(super) fn zscan(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let o = parse_scan(a, 2, false)?;
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]));
    };
    let all: Vec<_> = z.tree.iter().collect();
    let (start, end, next) = scan_range(o.cursor, o.count, all.len());
    let mut out = Vec::new();
    for (s, m) in &all[start..end] {
        if o.pattern
            .as_ref()
            .is_none_or(|p| glob::matches(p, m, false))
        {
            out.push(Reply::Bulk(m.clone()));
            out.push(Reply::bulk(fmt_double(s.0)));
        }
    }
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::Array(out),
    ]))
}

// === lex ranges ===

fn lex_range(z: &ZSet, min: &Lex, max: &Lex, rev: bool) -> Vec<(Bytes, f64)> {
    let f = |(s, m): &(Score, Bytes)| {
        (lex_gte_min(m, min) && lex_lte_max(m, max)).then(|| (m.clone(), s.0))
    };
    if rev {
        z.tree.iter().rev().filter_map(f).collect()
    } else {
        z.tree.iter().filter_map(f).collect()
    }
}

pub(super) fn zrevrangebylex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut req = parse_tail(a, 4, false, true)?;
    if req.ws {
        return Err(syntax());
    }
    req.by = By::Lex;
    req.rev = true;
    range_generic(ctx, &a[1], &a[2], &a[3], req)
}

pub(super) fn zlexcount(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (min, max) = (parse_lex(&a[2])?, parse_lex(&a[3])?);
    Ok(Reply::Int(
        ctx.get_zset(&a[1])?
            .map_or(0, |z| lex_range(z, &min, &max, false).len()) as i64,
    ))
}

pub(super) fn zremrangebylex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (min, max) = (parse_lex(&a[2])?, parse_lex(&a[3])?);
    let victims = match ctx.get_zset(&a[1])? {
        Some(z) => lex_range(z, &min, &max, false),
        None => return Ok(Reply::Int(0)),
    };
    remove_all(ctx, &a[1], victims, "zremrangebylex")
}

/// Replaces `dst` with `items` (deletes it when empty); returns the count.
fn store_zset(ctx: &mut Ctx<'_>, dst: &[u8], items: Vec<(Bytes, f64)>, event: &str) -> R {
    let n = items.len();
    if n == 0 {
        if ctx.exists(dst) {
            ctx.del_key(dst);
            ctx.notify(notify::GENERIC, "del", dst);
            ctx.dirty(1);
        }
    } else {
        let mut z = ZSet::default();
        for (m, s) in items {
            z.insert(m, s);
        }
        ctx.set_key(dst, Value::ZSet(Box::new(z)), false);
        ctx.notify(notify::ZSET, event, dst);
        ctx.dirty(1);
    }
    Ok(Reply::Int(n as i64))
}

pub(super) fn zrangestore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // Same options as ZRANGE, minus WITHSCORES.
    let req = parse_tail(a, 5, true, true)?;
    if req.ws {
        return Err(syntax());
    }
    let items = range_items(ctx, &a[2], &a[3], &a[4], &req)?;
    store_zset(ctx, &a[1], items, "zrangestore")
}

// === random members ===

/// Parses the count of ZRANDMEMBER / HRANDFIELD and the WITH* flag.
pub(super) fn rand_args(a: &[Bytes], with: &str) -> Result<(Option<i64>, bool), Reply> {
    if a.len() < 3 {
        return Ok((None, false));
    }
    let c = int(&a[2])?;
    if c == i64::MIN {
        return Err(Reply::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if a.len() > 4 || (a.len() == 4 && !is(&a[3], with)) {
        return Err(syntax());
    }
    let w = a.len() == 4;
    if w && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&c) {
        return Err(Reply::err("value is out of range"));
    }
    Ok((Some(c), w))
}

/// Picks indexes for a random-members reply: distinct for a positive count,
/// with repeats for a negative one. A few out of many are drawn by rejection,
/// so `HRANDFIELD big 1` does not allocate for every field.
pub(super) fn rand_indexes(len: usize, count: i64) -> Vec<usize> {
    use rand::Rng;
    let mut rng = rand::rng();
    if count < 0 {
        return (0..count.unsigned_abs())
            .map(|_| rng.random_range(0..len))
            .collect();
    }
    let c = (count as usize).min(len);
    if c * 3 < len {
        let mut seen = std::collections::HashSet::with_capacity(c);
        let mut out = Vec::with_capacity(c);
        while out.len() < c {
            let i = rng.random_range(0..len);
            if seen.insert(i) {
                out.push(i);
            }
        }
        return out;
    }
    let mut idx: Vec<usize> = (0..len).collect();
    for i in 0..c {
        let j = rng.random_range(i..len);
        idx.swap(i, j);
    }
    idx.truncate(c);
    idx
}

/// Pairs as RESP2 flat or RESP3 nested, values already encoded.
pub(super) fn pair_reply(items: Vec<(Reply, Reply)>, with: bool, proto: u8) -> Reply {
    if !with {
        return Reply::Array(items.into_iter().map(|(m, _)| m).collect());
    }
    if proto >= 3 {
        return Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![m, s]))
                .collect(),
        );
    }
    Reply::Array(items.into_iter().flat_map(|(m, s)| [m, s]).collect())
}

pub(super) fn zrandmember(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (count, ws) = rand_args(a, "withscores")?;
    // Refuse replies that could only exhaust memory.
    if count.is_some_and(|c| c.unsigned_abs() > 100_000_000 && c < 0) {
        return Err(Reply::err("value is out of range"));
    }
    let proto = ctx.c.proto;
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(vec![])
        } else {
            Reply::Nil
        });
    };
    // The tree has no random access: one ordered walk serves every pick.
    let picks = rand_indexes(z.len(), count.unwrap_or(-1));
    let mut order: Vec<usize> = (0..picks.len()).collect();
    order.sort_unstable_by_key(|&k| picks[k]);
    let mut items: Vec<(Reply, Reply)> = vec![(Reply::Nil, Reply::Nil); picks.len()];
    let mut it = z.tree.iter().enumerate();
    let mut cur = it.next();
    for k in order {
        while let Some((i, _)) = cur {
            if i == picks[k] {
                break;
            }
            cur = it.next();
        }
        let (_, (s, m)) = cur.expect("index below the length");
        items[k] = (Reply::Bulk(m.clone()), Reply::Double(s.0));
    }
    match count {
        None => Ok(items.swap_remove(0).0),
        Some(_) => Ok(pair_reply(items, ws, proto)),
    }
}

// === set algebra: ZUNION / ZINTER / ZDIFF (+STORE), ZINTERCARD ===

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

fn aggregate(agg: Agg, acc: f64, v: f64) -> f64 {
    match agg {
        Agg::Sum => {
            let s = acc + v;
            // inf + -inf: Redis stores 0, not NaN.
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Agg::Min => acc.min(v),
        Agg::Max => acc.max(v),
    }
}

/// One input: a sorted set, or a plain set whose members all score 1.
fn input_pairs(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Vec<(Bytes, f64)>>, Reply> {
    Ok(match ctx.lookup(key) {
        None => None,
        Some(Value::ZSet(z)) => Some(z.tree.iter().map(|(s, m)| (m.clone(), s.0)).collect()),
        Some(Value::Set(s)) => Some(s.iter().map(|m| (m.clone(), 1.0)).collect()),
        Some(_) => return Err(super::wrongtype()),
    })
}

struct AlgebraReq {
    op: SetOp,
    store: bool,
    card: bool,
}

struct AlgebraOut {
    items: Vec<(Bytes, f64)>,
    ws: bool,
}

/// Parses `numkeys key... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES] [LIMIT n]`
/// starting at `a[nk]` and computes the result, in Redis's order of checks.
fn algebra(
    ctx: &mut Ctx<'_>,
    a: &[Bytes],
    nk: usize,
    req: AlgebraReq,
) -> Result<AlgebraOut, Reply> {
    let name = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
    let n = int(&a[nk])?;
    if n < 1 {
        return Err(Reply::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as usize > a.len() - nk - 1 {
        return Err(syntax());
    }
    let n = n as usize;
    let keys = &a[nk + 1..nk + 1 + n];
    let mut inputs = Vec::with_capacity(n);
    for k in keys {
        inputs.push(input_pairs(ctx, k)?);
    }
    let mut weights = vec![1.0; n];
    let mut agg = Agg::Sum;
    let (mut ws, mut limit) = (false, 0usize);
    let mut j = nk + 1 + n;
    while j < a.len() {
        let rest = a.len() - j;
        let o = &a[j];
        let full = req.op != SetOp::Diff && !req.card;
        if full && rest > n && is(o, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_float(&a[j + 1 + i])
                    .ok_or_else(|| Reply::err("weight value is not a float"))?;
            }
            j += 1 + n;
        } else if full && rest >= 2 && is(o, "aggregate") {
            let v = &a[j + 1];
            agg = if is(v, "sum") {
                Agg::Sum
            } else if is(v, "min") {
                Agg::Min
            } else if is(v, "max") {
                Agg::Max
            } else {
                return Err(syntax());
            };
            j += 2;
        } else if !req.store && !req.card && is(o, "withscores") {
            ws = true;
            j += 1;
        } else if req.card && rest >= 2 && is(o, "limit") {
            let l = int(&a[j + 1]).map_err(|_| Reply::err("LIMIT can't be negative"))?;
            if l < 0 {
                return Err(Reply::err("LIMIT can't be negative"));
            }
            limit = l as usize;
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    let weigh = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut acc: Vec<(Bytes, f64)> = Vec::new();
    match req.op {
        SetOp::Union => {
            let mut idx: std::collections::HashMap<Bytes, usize> = Default::default();
            for (input, &w) in inputs.iter().zip(&weights) {
                for (m, s) in input.iter().flatten() {
                    let v = weigh(*s, w);
                    match idx.get(m) {
                        Some(&i) => acc[i].1 = aggregate(agg, acc[i].1, v),
                        None => {
                            idx.insert(m.clone(), acc.len());
                            acc.push((m.clone(), v));
                        }
                    }
                }
            }
        }
        SetOp::Inter => {
            if inputs.iter().all(|i| i.is_some()) {
                let maps: Vec<std::collections::HashMap<&Bytes, f64>> = inputs
                    .iter()
                    .map(|i| i.iter().flatten().map(|(m, s)| (m, *s)).collect())
                    .collect();
                // Walk the smallest input, as Redis does.
                let small = (0..n).min_by_key(|&i| maps[i].len()).unwrap_or(0);
                for (m, _) in inputs[small].iter().flatten() {
                    if req.card && limit > 0 && acc.len() >= limit {
                        break;
                    }
                    let mut score = None;
                    for i in 0..n {
                        match maps[i].get(m) {
                            Some(&s) => {
                                let v = weigh(s, weights[i]);
                                score = Some(score.map_or(v, |a| aggregate(agg, a, v)));
                            }
                            None => {
                                score = None;
                                break;
                            }
                        }
                    }
                    if let Some(s) = score {
                        acc.push((m.clone(), s));
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Some(first) = &inputs[0] {
                let others: Vec<std::collections::HashSet<&Bytes>> = inputs[1..]
                    .iter()
                    .map(|i| i.iter().flatten().map(|(m, _)| m).collect())
                    .collect();
                acc = first
                    .iter()
                    .filter(|(m, _)| !others.iter().any(|o| o.contains(m)))
                    .cloned()
                    .collect();
            }
        }
    }
    acc.sort_by(|x, y| Score(x.1).cmp(&Score(y.1)).then_with(|| x.0.cmp(&y.0)));
    Ok(AlgebraOut { items: acc, ws })
}

fn algebra_reply(ctx: &mut Ctx<'_>, a: &[Bytes], op: SetOp) -> R {
    let out = algebra(
        ctx,
        a,
        1,
        AlgebraReq {
            op,
            store: false,
            card: false,
        },
    )?;
    Ok(with_scores(out.items, out.ws, ctx.c.proto))
}

fn algebra_store(ctx: &mut Ctx<'_>, a: &[Bytes], op: SetOp, event: &str) -> R {
    let out = algebra(
        ctx,
        a,
        2,
        AlgebraReq {
            op,
            store: true,
            card: false,
        },
    )?;
    store_zset(ctx, &a[1], out.items, event)
}

pub(super) fn zunion(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    algebra_reply(ctx, a, SetOp::Union)
}
pub(super) fn zinter(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    algebra_reply(ctx, a, SetOp::Inter)
}
pub(super) fn zdiff(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    algebra_reply(ctx, a, SetOp::Diff)
}
pub(super) fn zunionstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    algebra_store(ctx, a, SetOp::Union, "zunionstore")
}
pub(super) fn zinterstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    algebra_store(ctx, a, SetOp::Inter, "zinterstore")
}
pub(super) fn zdiffstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    algebra_store(ctx, a, SetOp::Diff, "zdiffstore")
}
pub(super) fn zintercard(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let out = algebra(
        ctx,
        a,
        1,
        AlgebraReq {
            op: SetOp::Inter,
            store: false,
            card: true,
        },
    )?;
    Ok(Reply::Int(out.items.len() as i64))
}
