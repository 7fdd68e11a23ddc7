//! Shared by HRANDFIELD and ZRANDMEMBER: argument parsing, index picking and
//! the reply shape.

use bytes::Bytes;

use super::args::{int, is, syntax};
use crate::resp::Reply;

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
