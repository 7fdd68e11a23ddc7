//! Sorted-set algebra: ZUNION / ZINTER / ZDIFF, their STORE forms and
//! ZINTERCARD. Plain sets count as sorted sets with every score 1, as in Redis.

use bytes::Bytes;

use super::args::{int, is, parse_float, syntax};
use super::ctx::{Ctx, R};
use super::zset::{store_zset, with_scores};
use crate::resp::Reply;
use crate::store::{Score, Value};

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
        Some(_) => return Err(crate::cmd::ctx::wrongtype()),
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
