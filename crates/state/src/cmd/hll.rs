//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE) over string values in
//! Redis's byte layout ([`crate::hll`]).

use bytes::Bytes;

use super::ctx::{Ctx, R};
use crate::hll::{self, HllError, REGISTERS};
use crate::resp::Reply;
use crate::store::{notify, Value};

impl From<HllError> for Reply {
    fn from(e: HllError) -> Reply {
        Reply::Error(e.to_string())
    }
}

/// The HLL under `key`, validated; `Ok(None)` if the key is missing. Another
/// type is the usual WRONGTYPE, a string that is no HLL Redis's HLL one.
fn hll_of<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a mut Vec<u8>>, Reply> {
    match ctx.get_str(key)? {
        None => Ok(None),
        Some(h) => {
            hll::validate(h)?;
            Ok(Some(h))
        }
    }
}

/// `hll-sparse-max-bytes`: past it a sparse HLL turns dense.
fn sparse_max(ctx: &Ctx<'_>) -> usize {
    ctx.s
        .params
        .get("hll-sparse-max-bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(hll::SPARSE_MAX_BYTES)
}

pub(super) fn pfadd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let created = hll_of(ctx, &a[1])?.is_none();
    if created {
        ctx.set_key(&a[1], Value::Str(hll::new_sparse()), false);
    }
    let mut updated = u64::from(created);
    let max_bytes = sparse_max(ctx);
    {
        let Some(h) = hll_of(ctx, &a[1])? else {
            return Ok(Reply::Int(0));
        };
        for e in &a[2..] {
            if hll::add(h, e, max_bytes)? {
                updated += 1;
            }
        }
        if updated > 0 {
            hll::invalidate(h);
        }
    }
    if updated > 0 {
        ctx.dirty(updated);
        ctx.notify(notify::STRING, "pfadd", &a[1]);
    }
    Ok(Reply::Int((updated > 0) as i64))
}

pub(super) fn pfcount(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        for k in &a[1..] {
            if let Some(h) = hll_of(ctx, k)? {
                hll::merge_into(&mut max, h)?;
            }
        }
        return Ok(Reply::Int(hll::count_raw(&max) as i64));
    }
    let (card, refreshed) = {
        let Some(h) = hll_of(ctx, &a[1])? else {
            return Ok(Reply::Int(0));
        };
        match hll::cached(h) {
            Some(c) => (c, false),
            None => {
                let c = hll::count(h)?;
                hll::set_cache(h, c);
                (c, true)
            }
        }
    };
    if refreshed {
        // Redis counts the cache refresh as a change: WATCH sees it and the
        // log replays it, so the stored bytes stay the same after a restart.
        ctx.dirty(1);
        ctx.propagate(a.to_vec());
    }
    Ok(Reply::Int(card as i64))
}

pub(super) fn pfmerge(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    for k in &a[1..] {
        if let Some(h) = hll_of(ctx, k)? {
            dense |= hll::is_dense(h);
            hll::merge_into(&mut max, h)?;
        }
    }
    let max_bytes = sparse_max(ctx);
    if !ctx.exists(&a[1]) {
        ctx.set_key(&a[1], Value::Str(hll::new_sparse()), false);
    }
    {
        let Some(h) = hll_of(ctx, &a[1])? else {
            return Ok(Reply::Int(0));
        };
        if dense {
            hll::to_dense(h)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                hll::raise(h, i, m, max_bytes)?;
            }
        }
        hll::invalidate(h);
    }
    // Only the destination is modified (the table row is NOTOUCH, so the
    // sources' watchers are not told).
    let db = ctx.c.db;
    ctx.s.touch(db, &a[1]);
    ctx.dirty(1);
    ctx.notify(notify::STRING, "pfadd", &a[1]);
    Ok(Reply::Ok)
}

pub(super) fn pfselftest(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    // The register packing is covered by the unit tests; nothing to fail here.
    Ok(Reply::Ok)
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key.
pub(super) fn pfdebug(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let cmd = String::from_utf8_lossy(&a[1]).into_owned();
    let (reply, converted) = {
        let Some(h) = hll_of(ctx, &a[2])? else {
            return Err(Reply::err("The specified key does not exist"));
        };
        let sub = cmd.to_ascii_lowercase();
        match sub.as_str() {
            "getreg" | "todense" => {
                let converted = !hll::is_dense(h);
                hll::to_dense(h)?;
                let reply = if sub == "getreg" {
                    Reply::Array(
                        hll::dense_registers(h)
                            .into_iter()
                            .map(|r| Reply::Int(i64::from(r)))
                            .collect(),
                    )
                } else {
                    Reply::Int(i64::from(converted))
                };
                (reply, converted)
            }
            "decode" if hll::is_dense(h) => {
                return Err(Reply::err("HLL encoding is not sparse"));
            }
            "decode" => (Reply::bulk(hll::decode_sparse(h)), false),
            "encoding" => {
                let name = if hll::is_dense(h) { "dense" } else { "sparse" };
                (Reply::Status(name.into()), false)
            }
            _ => return Err(Reply::err(format!("Unknown PFDEBUG subcommand '{cmd}'"))),
        }
    };
    if converted {
        // A changed encoding is a change: logged, so a replay converts too.
        ctx.dirty(1);
    }
    Ok(reply)
}
