//! SWAPDB: two databases trade contents. Clients keep their selected index,
//! so each now sees the other's keys; WATCH and blocked clients follow the
//! keys' new values as in Redis 7.

use bytes::Bytes;

use super::ctx::{Ctx, R};
use crate::resp::{parse_i64, Reply};

fn db_index(b: &[u8], which: &str) -> Result<i64, Reply> {
    parse_i64(b)
        .filter(|&n| i32::try_from(n).is_ok())
        .ok_or_else(|| Reply::err(format!("invalid {which} DB index")))
}

pub(super) fn swapdb(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let i = db_index(&a[1], "first")?;
    let j = db_index(&a[2], "second")?;
    let n = ctx.s.dbs.len() as i64;
    if !(0..n).contains(&i) || !(0..n).contains(&j) {
        return Err(Reply::err("DB index is out of range"));
    }
    let (i, j) = (i as usize, j as usize);
    if i != j {
        let s = &mut *ctx.s;
        s.dbs.swap(i, j);
        // A watched key in either database that exists on either side of
        // the swap has changed (Redis's touchAllWatchedKeysInDb both ways).
        let touched: Vec<(usize, Bytes)> = s
            .watched
            .keys()
            .filter(|(db, k)| {
                (*db == i || *db == j)
                    && (s.dbs[i].keys.contains_key(&k[..]) || s.dbs[j].keys.contains_key(&k[..]))
            })
            .cloned()
            .collect();
        for (db, k) in touched {
            s.touch(db, &k);
        }
        // Clients blocked on a key the swap brought in may be served now
        // (the waker checks each value's type, as Redis's does).
        let ready: Vec<(usize, Bytes)> = s
            .blocking_keys
            .keys()
            .filter(|(db, k)| (*db == i || *db == j) && s.dbs[*db].keys.contains_key(&k[..]))
            .cloned()
            .collect();
        for r in ready {
            if !s.ready.contains(&r) {
                s.ready.push(r);
            }
        }
    }
    ctx.dirty(1);
    Ok(Reply::Ok)
}
