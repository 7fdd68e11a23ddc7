//! Sorted-set commands.

use bytes::Bytes;

use super::args::{int, is, parse_float, parse_range_float, syntax};
use super::ctx::{Ctx, R};
use super::keys::{parse_scan, scan_cursor, scan_range};
use super::random::{pair_reply, rand_args, rand_indexes};
use crate::glob;
use crate::resp::{fmt_double, Reply};
use crate::store::{notify, BlockOp, Score, Value, ZSet};

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
    let z = ctx.zset_or_new(&a[1])?;
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
        ctx.signal_ready(&a[1]);
    }
    if incr {
        return Ok(result.map_or(Reply::Nil, Reply::Double));
    }
    Ok(Reply::Int(if ch { added + changed } else { added }))
}

pub(super) fn zincrby(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let by = parse_float(&a[2]).ok_or_else(not_float)?;
    let z = ctx.zset_or_new(&a[1])?;
    let new = z.scores.get(&a[3][..]).copied().unwrap_or(0.0) + by;
    if new.is_nan() {
        ctx.del_if_empty(&a[1]);
        return Err(Reply::err("resulting score is not a number (NaN)"));
    }
    z.insert(a[3].clone(), new);
    ctx.dirty(1);
    ctx.notify(notify::ZSET, "zincr", &a[1]);
    ctx.signal_ready(&a[1]);
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
            v: parse_range_float(&b[1..]).ok_or_else(bad)?,
            ex: true,
        })
    } else {
        Ok(Bound {
            v: parse_range_float(b).ok_or_else(bad)?,
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

pub(super) fn with_scores(items: Vec<(Bytes, f64)>, ws: bool, proto: u8) -> Reply {
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
    let mut by_set = false;
    let mut j = from;
    while j < a.len() {
        let o = &a[j];
        if is(o, "withscores") {
            req.ws = true;
        } else if allow_limit && is(o, "limit") && j + 2 < a.len() {
            req.limit = Some((int(&a[j + 1])?, int(&a[j + 2])?));
            j += 2;
        } else if allow_by && !by_set && is(o, "byscore") {
            // Each of BYSCORE/BYLEX and REV at most once, as Redis.
            req.by = By::Score;
            by_set = true;
        } else if allow_by && !by_set && is(o, "bylex") {
            req.by = By::Lex;
            by_set = true;
        } else if allow_by && !req.rev && is(o, "rev") {
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
    if ctx.get_zset(&a[1])?.is_none() {
        return Ok(Reply::Array(vec![]));
    }
    let items = pop_items(ctx, &a[1], max, count.unwrap_or(1));
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
    // Redis's order: the cursor, then the key (a missing one answers an
    // empty scan before the options are parsed), then the options.
    scan_cursor(&a[2])?;
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]));
    };
    let o = parse_scan(a, 2, false)?;
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

/// Pops up to `count` lowest (or highest) members, with events and
/// empty-key cleanup. Caller checked the type.
pub(super) fn pop_items(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Vec<(Bytes, f64)> {
    let Ok(Some(z)) = ctx.get_zset(key) else {
        return vec![];
    };
    let n = count.min(z.len());
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
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        ctx.del_if_empty(key);
    }
    items
}

/// BZPOPMIN's reply: `[key, member, score]`.
pub(super) fn bzpop_reply(key: &Bytes, items: Vec<(Bytes, f64)>) -> Reply {
    let mut v = vec![Reply::Bulk(key.clone())];
    for (m, s) in items {
        v.push(Reply::Bulk(m));
        v.push(Reply::Double(s));
    }
    Reply::Array(v)
}

/// ZMPOP's reply: `[key, [[member, score], ...]]`.
pub(super) fn zmpop_reply(key: &Bytes, items: Vec<(Bytes, f64)>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        ),
    ])
}

/// Log record of a pop: `ZPOPMIN key [count]`.
pub(super) fn pop_prop(key: &Bytes, max: bool, count: Option<usize>) -> Vec<Bytes> {
    let mut v = vec![
        Bytes::from_static(if max { b"ZPOPMAX" } else { b"ZPOPMIN" }),
        key.clone(),
    ];
    if let Some(c) = count {
        v.push(Bytes::from(c.to_string()));
    }
    v
}

fn bzpop(ctx: &mut Ctx<'_>, a: &[Bytes], max: bool) -> R {
    let timeout = super::list::timeout_ms(&a[a.len() - 1])?;
    let keys = &a[1..a.len() - 1];
    for k in keys {
        if ctx.get_zset(k)?.is_some_and(|z| !z.is_empty()) {
            let items = pop_items(ctx, k, max, 1);
            ctx.propagate(pop_prop(k, max, None));
            return Ok(bzpop_reply(k, items));
        }
    }
    if !ctx.can_block() {
        return Ok(Reply::NilArray);
    }
    super::list::block(
        ctx,
        keys.to_vec(),
        BlockOp::ZPop { max },
        timeout,
        Reply::NilArray,
    );
    Ok(Reply::None)
}

pub(super) fn bzpopmin(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bzpop(ctx, a, false)
}
pub(super) fn bzpopmax(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bzpop(ctx, a, true)
}

fn zmpop_generic(ctx: &mut Ctx<'_>, a: &[Bytes], numkeys_idx: usize, block: bool) -> R {
    let m = crate::cmd::args::parse_mpop(a, numkeys_idx, "min", "max")?;
    let timeout = if block {
        Some(super::list::timeout_ms(&a[1])?)
    } else {
        None
    };
    for k in &m.keys {
        if ctx.get_zset(k)?.is_some_and(|z| !z.is_empty()) {
            let items = pop_items(ctx, k, m.max, m.count);
            ctx.propagate(pop_prop(k, m.max, Some(items.len())));
            return Ok(zmpop_reply(k, items));
        }
    }
    let Some(timeout) = timeout else {
        return Ok(Reply::NilArray);
    };
    if !ctx.can_block() {
        return Ok(Reply::NilArray);
    }
    let op = BlockOp::MPop {
        zset: true,
        max: m.max,
        count: m.count,
    };
    super::list::block(ctx, m.keys, op, timeout, Reply::NilArray);
    Ok(Reply::None)
}

pub(super) fn zmpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    zmpop_generic(ctx, a, 1, false)
}
pub(super) fn bzmpop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    zmpop_generic(ctx, a, 2, true)
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
pub(super) fn store_zset(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    items: Vec<(Bytes, f64)>,
    event: &str,
) -> R {
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

pub(super) fn zrandmember(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (count, ws) = rand_args(a, "withscores")?;
    let proto = ctx.c.proto;
    let Some(z) = ctx.get_zset(&a[1])? else {
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
