//! GEO commands: members of a sorted set whose scores are Redis's 52-bit
//! geohashes ([`crate::geohash`]), so ZRANGE WITHSCORES shows the same
//! numbers as redis-server.

use bytes::Bytes;

use super::args::{int, is, parse_float, syntax};
use super::ctx::{Ctx, R};
use super::zset;
use crate::geohash::{self, Shape};
use crate::resp::Reply;
use crate::store::{notify, Score, Value, ZSet};

fn float_or(b: &[u8], msg: &str) -> Result<f64, Reply> {
    parse_float(b).ok_or_else(|| Reply::err(msg))
}

/// Longitude and latitude arguments, range-checked as Redis does.
fn lon_lat(a: &[Bytes]) -> Result<(f64, f64), Reply> {
    let lon = float_or(&a[0], "value is not a valid float")?;
    let lat = float_or(&a[1], "value is not a valid float")?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Reply::err(format!(
            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(b: &[u8]) -> Result<f64, Reply> {
    if is(b, "m") {
        Ok(1.0)
    } else if is(b, "km") {
        Ok(1000.0)
    } else if is(b, "ft") {
        Ok(0.3048)
    } else if is(b, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// A radius and its unit: `(radius, metres per unit)`.
fn radius(a: &[Bytes]) -> Result<(f64, f64), Reply> {
    let r = float_or(&a[0], "need numeric radius")?;
    if r < 0.0 {
        return Err(Reply::err("radius cannot be negative"));
    }
    Ok((r, unit(&a[1])?))
}

fn human(x: f64) -> Reply {
    Reply::DoubleText(geohash::human(x))
}

fn distance_reply(d: f64) -> Reply {
    Reply::bulk(format!("{d:.4}"))
}

fn score_of(ctx: &mut Ctx<'_>, key: &[u8], member: &[u8]) -> Result<Option<f64>, Reply> {
    Ok(ctx
        .get_zset(key)?
        .and_then(|z| z.scores.get(member).copied()))
}

pub(super) fn geoadd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut nx, mut xx) = (false, false);
    let mut at = 2;
    while at < a.len() {
        if is(&a[at], "nx") {
            nx = true;
        } else if is(&a[at], "xx") {
            xx = true;
        } else if !is(&a[at], "ch") {
            break;
        }
        at += 1;
    }
    if !(a.len() - at).is_multiple_of(3) || (nx && xx) {
        return Err(syntax());
    }
    // GEOADD is ZADD with the coordinates turned into scores.
    let mut z: Vec<Bytes> = Vec::with_capacity(at + (a.len() - at) / 3 * 2);
    z.push(Bytes::from_static(b"zadd"));
    z.extend(a[1..at].iter().cloned());
    for t in a[at..].chunks(3) {
        let (lon, lat) = lon_lat(t)?;
        let score = geohash::encode_wgs84(lon, lat).unwrap_or(0);
        z.push(Bytes::from(score.to_string()));
        z.push(t[2].clone());
    }
    zset::zadd(ctx, &z)
}

pub(super) fn geopos(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let z = ctx.get_zset(&a[1])?;
    let out = a[2..]
        .iter()
        .map(|m| match z.as_ref().and_then(|z| z.scores.get(&m[..])) {
            None => Reply::NilArray,
            Some(&s) => {
                let (lon, lat) = geohash::decode_score(s);
                Reply::Array(vec![human(lon), human(lat)])
            }
        })
        .collect();
    Ok(Reply::Array(out))
}

pub(super) fn geodist(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let to_m = match a.len() {
        5 => unit(&a[4])?,
        n if n > 5 => return Err(syntax()),
        _ => 1.0,
    };
    let Some(z) = ctx.get_zset(&a[1])? else {
        return Ok(Reply::Nil);
    };
    let (Some(&s1), Some(&s2)) = (z.scores.get(&a[2][..]), z.scores.get(&a[3][..])) else {
        return Ok(Reply::Nil);
    };
    let (lon1, lat1) = geohash::decode_score(s1);
    let (lon2, lat2) = geohash::decode_score(s2);
    Ok(distance_reply(
        geohash::distance(lon1, lat1, lon2, lat2) / to_m,
    ))
}

pub(super) fn geohash_cmd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let z = ctx.get_zset(&a[1])?;
    let out = a[2..]
        .iter()
        .map(|m| match z.as_ref().and_then(|z| z.scores.get(&m[..])) {
            None => Reply::Nil,
            Some(&s) => Reply::bulk(geohash::geohash_string(s)),
        })
        .collect();
    Ok(Reply::Array(out))
}

// === searches ===

/// Which command is searching: where its arguments are and what it may take.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    Radius { store: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    ByMember { store: bool },
    /// GEOSEARCH key ... / GEOSEARCHSTORE dst key ...
    Search { store: bool },
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

struct Found {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

fn no_member() -> Reply {
    Reply::err("could not decode requested zset member")
}

fn search(ctx: &mut Ctx<'_>, a: &[Bytes], kind: Kind) -> R {
    let src = match kind {
        Kind::Search { store: true } => 2,
        _ => 1,
    };
    let exists = ctx.get_zset(&a[src])?.is_some();
    let mut centre: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let base = match kind {
        Kind::Radius { .. } => {
            centre = Some(lon_lat(&a[2..4])?);
            let (r, conv) = radius(&a[4..6])?;
            shape = Some((Shape::Radius(r * conv), conv));
            6
        }
        Kind::ByMember { .. } => {
            if exists {
                let s = score_of(ctx, &a[src], &a[2])?.ok_or_else(no_member)?;
                centre = Some(geohash::decode_score(s));
                let (r, conv) = radius(&a[3..5])?;
                shape = Some((Shape::Radius(r * conv), conv));
            }
            5
        }
        Kind::Search { store } => 2 + usize::from(store),
    };
    let searching = matches!(kind, Kind::Search { .. });
    let may_store = matches!(
        kind,
        Kind::Radius { store: true } | Kind::ByMember { store: true }
    );
    let mut store_key: Option<Bytes> = match kind {
        Kind::Search { store: true } => Some(a[1].clone()),
        _ => None,
    };
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut storedist = false;
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let rest = &a[base..];
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        let left = rest.len() - i - 1;
        if is(arg, "withdist") {
            withdist = true;
        } else if is(arg, "withhash") {
            withhash = true;
        } else if is(arg, "withcoord") {
            withcoord = true;
        } else if is(arg, "any") {
            any = true;
        } else if is(arg, "asc") {
            sort = Sort::Asc;
        } else if is(arg, "desc") {
            sort = Sort::Desc;
        } else if is(arg, "count") && left >= 1 {
            count = int(&rest[i + 1])?;
            if count <= 0 {
                return Err(Reply::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && may_store {
            store_key = Some(rest[i + 1].clone());
            storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && matches!(kind, Kind::Search { store: true }) {
            storedist = true;
        } else if is(arg, "frommember") && left >= 1 && searching && !fromloc {
            if exists {
                let s = score_of(ctx, &a[src], &rest[i + 1])?.ok_or_else(no_member)?;
                centre = Some(geohash::decode_score(s));
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && left >= 2 && searching && !frommember {
            centre = Some(lon_lat(&rest[i + 1..i + 3])?);
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && left >= 2 && searching && !bybox {
            let (r, conv) = radius(&rest[i + 1..i + 3])?;
            shape = Some((Shape::Radius(r * conv), conv));
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && left >= 3 && searching && !byradius {
            let w = float_or(&rest[i + 1], "need numeric width")?;
            let h = float_or(&rest[i + 2], "need numeric height")?;
            if w < 0.0 || h < 0.0 {
                return Err(Reply::err("height or width cannot be negative"));
            }
            let conv = unit(&rest[i + 3])?;
            shape = Some((Shape::Box(w * conv, h * conv), conv));
            bybox = true;
            i += 3;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if store_key.is_some() && (withdist || withhash || withcoord) {
        let what = if searching {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::err(format!(
            "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(&a[0]).into_owned();
    if searching && !(frommember || fromloc) {
        return Err(Reply::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if searching && !(byradius || bybox) {
        return Err(Reply::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Reply::err("the ANY argument requires COUNT argument"));
    }
    let (Some((lon, lat)), Some((shape, conv)), true) = (centre, shape, exists) else {
        return match store_key {
            Some(k) => {
                delete_store(ctx, &k);
                Ok(Reply::Int(0))
            }
            None => Ok(Reply::Array(vec![])),
        };
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut found = Vec::new();
    if let Some(z) = ctx.get_zset(&a[src])? {
        for (min, max) in geohash::search_ranges(shape, lon, lat) {
            if limit != 0 && found.len() >= limit {
                break;
            }
            let from = (Score(min as f64), Bytes::new());
            for (s, m) in z.tree.range(from..) {
                if s.0 >= max as f64 {
                    break;
                }
                let (plon, plat) = geohash::decode_score(s.0);
                if let Some(dist) = shape.contains((lon, lat), (plon, plat)) {
                    found.push(Found {
                        member: m.clone(),
                        score: s.0,
                        lon: plon,
                        lat: plat,
                        dist,
                    });
                    if limit != 0 && found.len() >= limit {
                        break;
                    }
                }
            }
        }
    }
    match sort {
        Sort::Asc => found.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Sort::Desc => found.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Sort::None => {}
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    match store_key {
        None => {
            let opts = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
            let out = found
                .into_iter()
                .map(|f| {
                    if opts == 0 {
                        return Reply::Bulk(f.member);
                    }
                    let mut v = vec![Reply::Bulk(f.member)];
                    if withdist {
                        v.push(distance_reply(f.dist / conv));
                    }
                    if withhash {
                        v.push(Reply::Int(f.score as i64));
                    }
                    if withcoord {
                        v.push(Reply::Array(vec![human(f.lon), human(f.lat)]));
                    }
                    Reply::Array(v)
                })
                .collect();
            Ok(Reply::Array(out))
        }
        Some(k) => {
            let n = found.len();
            if n == 0 {
                delete_store(ctx, &k);
                return Ok(Reply::Int(0));
            }
            let mut z = ZSet::default();
            for f in found {
                z.insert(f.member, if storedist { f.dist / conv } else { f.score });
            }
            ctx.set_key(&k, Value::ZSet(Box::new(z)), false);
            let db = ctx.c.db;
            ctx.s.touch(db, &k);
            let event = if searching {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            ctx.notify(notify::ZSET, event, &k);
            ctx.dirty(n as u64);
            Ok(Reply::Int(n as i64))
        }
    }
}

/// An empty result deletes the destination.
fn delete_store(ctx: &mut Ctx<'_>, k: &[u8]) {
    if ctx.del_key(k) {
        let db = ctx.c.db;
        ctx.s.touch(db, k);
        ctx.notify(notify::GENERIC, "del", k);
        ctx.dirty(1);
    }
}

pub(super) fn georadius(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    search(ctx, a, Kind::Radius { store: true })
}
pub(super) fn georadius_ro(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    search(ctx, a, Kind::Radius { store: false })
}
pub(super) fn georadiusbymember(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    search(ctx, a, Kind::ByMember { store: true })
}
pub(super) fn georadiusbymember_ro(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    search(ctx, a, Kind::ByMember { store: false })
}
pub(super) fn geosearch(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    search(ctx, a, Kind::Search { store: false })
}
pub(super) fn geosearchstore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    search(ctx, a, Kind::Search { store: true })
}

/// GEORADIUS[BYMEMBER]'s keys, as Redis 7.0's key specs find them (COMMAND
/// GETKEYS and ACL checks use those): the source, then the key after the
/// first STORE and the key after the first STOREDIST, each searched from the
/// first option on. The search never looks at the last argument, so a
/// trailing keyword names no key. If STORE or STOREDIST is given more than
/// once, the last one is where the command writes (as Redis parses it); that
/// key is added too, so WATCH and tracking see the write (Redis's specs
/// would leave it out).
pub(super) fn georadius_keys(a: &[Bytes]) -> Vec<usize> {
    // GEORADIUS key lon lat radius unit / GEORADIUSBYMEMBER key member radius unit.
    let options = if a.len() > 1 && is(&a[0], "georadiusbymember") {
        5
    } else {
        6
    };
    let mut keys = vec![1];
    let end = a.len().saturating_sub(1);
    for kw in ["store", "storedist"] {
        if let Some(i) = (options..end).find(|&i| is(&a[i], kw)) {
            keys.push(i + 1);
        }
    }
    let mut written = None;
    let mut i = options;
    while i < end {
        if is(&a[i], "store") || is(&a[i], "storedist") {
            written = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(w) = written.filter(|w| !keys.contains(w)) {
        keys.push(w);
    }
    keys
}
