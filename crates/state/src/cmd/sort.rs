//! SORT and SORT_RO: sort a list, set or sorted set, optionally by external
//! keys (`BY weight_*`, `BY h_*->field`), fetching external values (`GET`),
//! and storing the result as a list (`STORE`). Follows Redis's sortCommand,
//! including its quirks: `BY` without `*` means "don't sort", a set is still
//! sorted (ALPHA) when the result is stored or the caller is a script, so the
//! logged effect is deterministic.

use std::cmp::Ordering;
use std::collections::VecDeque;

use bytes::Bytes;

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::store::{notify, Score, Value};

/// Resolves a SORT pattern for one element: `#` is the element itself,
/// `*` is replaced by it, and `key->field` reads a hash field.
fn by_pattern(ctx: &mut Ctx<'_>, pat: &[u8], elem: &[u8]) -> Option<Bytes> {
    if pat == b"#" {
        return Some(Bytes::copy_from_slice(elem));
    }
    let star = pat.iter().position(|&c| c == b'*')?;
    let after = &pat[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(pat.len() + elem.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    match (ctx.lookup(&key)?, field) {
        (Value::Str(s), None) => Some(Bytes::copy_from_slice(s)),
        (Value::Hash(h), Some(f)) => h.get(f).cloned(),
        _ => None,
    }
}

/// `strtod` as SORT uses it: leading blanks allowed, the whole rest must parse;
/// an empty string is 0.
fn sort_score(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?.trim_start();
    if s.is_empty() {
        return Some(0.0);
    }
    let l = s.to_ascii_lowercase();
    let v = match l.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

struct Item {
    elem: Bytes,
    score: f64,
    cmp: Option<Bytes>,
}

fn sort_generic(ctx: &mut Ctx<'_>, a: &[Bytes], read_only: bool) -> R {
    let (mut desc, mut alpha) = (false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<Bytes> = None;
    let mut by: Option<Bytes> = None;
    let mut dontsort = false;
    let mut gets: Vec<Bytes> = Vec::new();
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let o = &a[j];
        if is(o, "asc") {
            desc = false;
        } else if is(o, "desc") {
            desc = true;
        } else if is(o, "alpha") {
            alpha = true;
        } else if is(o, "limit") && left >= 2 {
            limit_start = int(&a[j + 1])?;
            limit_count = int(&a[j + 2])?;
            j += 2;
        } else if !read_only && is(o, "store") && left >= 1 {
            store = Some(a[j + 1].clone());
            j += 1;
        } else if is(o, "by") && left >= 1 {
            dontsort = !a[j + 1].contains(&b'*');
            by = Some(a[j + 1].clone());
            j += 1;
        } else if is(o, "get") && left >= 1 {
            gets.push(a[j + 1].clone());
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let (elems, is_set): (Vec<Bytes>, bool) = match ctx.lookup(&a[1]) {
        None => (Vec::new(), false),
        Some(Value::List(l)) => (l.iter().cloned().collect(), false),
        Some(Value::Set(s)) => (s.iter().cloned().collect(), true),
        Some(Value::ZSet(z)) => (z.tree.iter().map(|(_, m)| m.clone()).collect(), false),
        Some(_) => return Err(crate::cmd::ctx::wrongtype()),
    };
    if dontsort && is_set && (store.is_some() || ctx.in_script) {
        dontsort = false;
        alpha = true;
        by = None;
    }
    let len = elems.len() as i64;
    let mut start = limit_start.max(0);
    // Saturating: LIMIT 1 9223372036854775807 must not overflow.
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count).saturating_sub(1)
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    if dontsort {
        // Lists and sorted sets keep their order, walked from the tail for
        // DESC as Redis's direct load does; a set stays in its own order.
        if desc && !is_set {
            items.reverse();
        }
    } else {
        let mut bad_score = false;
        for it in items.iter_mut() {
            let val = match &by {
                Some(p) => match by_pattern(ctx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.cmp = Some(val);
                }
            } else {
                match sort_score(&val) {
                    Some(s) => it.score = s,
                    None => bad_score = true,
                }
            }
        }
        if bad_score {
            return Err(Reply::err(
                "One or more scores can't be converted into double",
            ));
        }
        let by_set = by.is_some();
        items.sort_by(|x, y| {
            let c = if !alpha {
                Score(x.score)
                    .partial_cmp(&Score(y.score))
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.elem.cmp(&y.elem))
            } else if by_set {
                x.cmp.cmp(&y.cmp)
            } else {
                x.elem.cmp(&y.elem)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }
    let range: &[Item] = if start <= end && start >= 0 {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut out: Vec<Option<Bytes>> = Vec::new();
    for it in range {
        if gets.is_empty() {
            out.push(Some(it.elem.clone()));
        }
        for g in &gets {
            out.push(by_pattern(ctx, g, &it.elem));
        }
    }
    let Some(dst) = store else {
        return Ok(Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        ));
    };
    let n = out.len();
    // The table row is NOTOUCH: the destination, not the source, is what
    // a WATCH must see modified (the destination is not a fixed key position).
    let db = ctx.c.db;
    if n == 0 {
        if ctx.del_key(&dst) {
            ctx.s.touch(db, &dst);
            ctx.notify(notify::GENERIC, "del", &dst);
            ctx.dirty(1);
        }
    } else {
        ctx.s.touch(db, &dst);
        let list: VecDeque<Bytes> = out.into_iter().map(Option::unwrap_or_default).collect();
        ctx.set_key(&dst, Value::List(Box::new(list)), false);
        ctx.notify(notify::LIST, "sortstore", &dst);
        ctx.signal_ready(&dst);
        ctx.dirty(n as u64);
    }
    Ok(Reply::Int(n as i64))
}

pub(super) fn sort(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sort_generic(ctx, a, false)
}

pub(super) fn sort_ro(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    sort_generic(ctx, a, true)
}

/// SORT's keys, as Redis's `sortGetKeys`: the source, and the `STORE`
/// destination if any (the last one given wins); the options' arguments
/// are skipped so a `BY store` pattern is not taken for the keyword. The
/// ACL key check and COMMAND GETKEYS see the destination through this.
pub(super) fn sort_keys(a: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut stored = None;
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "limit") {
            i += 2;
        } else if is(&a[i], "get") || is(&a[i], "by") {
            i += 1;
        } else if is(&a[i], "store") && i + 1 < a.len() {
            stored = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(stored);
    keys
}
