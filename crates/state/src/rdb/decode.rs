//! RDB values and files back into our types. Every type Redis 7.0 and 7.2
//! write, and the older encodings (ziplists, zipmaps) their files may still
//! hold. Empty collections, duplicate members and NaN scores are refused,
//! as Redis refuses them.

use std::collections::VecDeque;

use bytes::Bytes;

use super::listpack::{self, Elem};
use super::{crc64, op, types, Bad, Reader, MAX_READ_VERSION};
use crate::store::{Key, Map, Set, Value, ZSet};
use crate::stream::{Consumer, Group, Nack, Stream, StreamId};

const EMPTY: Bad = Bad("empty collection");
const DUP: Bad = Bad("duplicate member");

/// A value: its type byte, then the value.
pub(crate) fn decode_value(r: &mut Reader<'_>) -> Result<Value, Bad> {
    let ty = r.u8()?;
    decode_body(ty, r)
}

fn bytes(e: Elem<'_>) -> Bytes {
    Bytes::from(e.to_vec())
}

fn score(s: &[u8]) -> Result<f64, Bad> {
    // Redis's string2d / strtod: no spaces, the whole string, never NaN.
    let t = std::str::from_utf8(s).map_err(|_| Bad("bad score"))?;
    let lower = t.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ if t.is_empty() || t.starts_with(|c: char| c.is_whitespace()) => {
            return Err(Bad("bad score"))
        }
        _ => t.parse::<f64>().map_err(|_| Bad("bad score"))?,
    };
    if v.is_nan() {
        return Err(Bad("NaN score"));
    }
    Ok(v)
}

fn elem_score(e: Elem<'_>) -> Result<f64, Bad> {
    match e {
        Elem::Int(v) => Ok(v as f64),
        Elem::Str(s) => score(s),
    }
}

fn list_from(items: VecDeque<Bytes>) -> Result<Value, Bad> {
    if items.is_empty() {
        return Err(EMPTY);
    }
    Ok(Value::List(Box::new(items)))
}

fn set_from(items: impl IntoIterator<Item = Bytes>) -> Result<Value, Bad> {
    let mut s: Set<Bytes> = Set::default();
    for m in items {
        if !s.insert(m) {
            return Err(DUP);
        }
    }
    if s.is_empty() {
        return Err(EMPTY);
    }
    Ok(Value::Set(Box::new(s)))
}

fn hash_from(pairs: impl IntoIterator<Item = (Vec<u8>, Bytes)>) -> Result<Value, Bad> {
    let mut h: Map<Key, Bytes> = Map::default();
    for (k, v) in pairs {
        if h.insert(Key::new(&k), v).is_some() {
            return Err(DUP);
        }
    }
    if h.is_empty() {
        return Err(EMPTY);
    }
    Ok(Value::Hash(Box::new(h)))
}

fn zset_from(pairs: impl IntoIterator<Item = (Bytes, f64)>) -> Result<Value, Bad> {
    let mut z = ZSet::default();
    for (m, s) in pairs {
        if !z.insert(m, s) {
            return Err(DUP);
        }
    }
    if z.is_empty() {
        return Err(EMPTY);
    }
    Ok(Value::ZSet(Box::new(z)))
}

/// Pairs of a flat element list (hash and sorted-set listpacks).
fn pairs<'a>(elems: &'a [Elem<'a>]) -> Result<std::slice::ChunksExact<'a, Elem<'a>>, Bad> {
    if !elems.len().is_multiple_of(2) {
        return Err(Bad("odd listpack"));
    }
    Ok(elems.chunks_exact(2))
}

fn decode_body(ty: u8, r: &mut Reader<'_>) -> Result<Value, Bad> {
    match ty {
        types::STRING => {
            let s = r.string()?;
            Ok(match listpack::as_int(&s) {
                Some(v) if s.len() <= 20 => Value::Int(v),
                _ => Value::Str(s.into_owned()),
            })
        }
        types::LIST | types::SET => {
            let n = r.count()?;
            let mut items = VecDeque::new();
            for _ in 0..n {
                items.push_back(Bytes::from(r.string()?.into_owned()));
            }
            if ty == types::LIST {
                list_from(items)
            } else {
                set_from(items)
            }
        }
        types::ZSET | types::ZSET_2 => {
            let n = r.count()?;
            let mut v = Vec::new();
            for _ in 0..n {
                let m = Bytes::from(r.string()?.into_owned());
                let s = if ty == types::ZSET_2 {
                    let d = f64::from_bits(r.u64_le()?);
                    if d.is_nan() {
                        return Err(Bad("NaN score"));
                    }
                    d
                } else {
                    // Length byte; 253 nan, 254 +inf, 255 -inf.
                    match r.u8()? {
                        253 => return Err(Bad("NaN score")),
                        254 => f64::INFINITY,
                        255 => f64::NEG_INFINITY,
                        l => score(r.take(l as usize)?)?,
                    }
                };
                v.push((m, s));
            }
            zset_from(v)
        }
        types::HASH => {
            let n = r.count()?;
            let mut v = Vec::new();
            for _ in 0..n {
                let k = r.string()?.into_owned();
                let val = Bytes::from(r.string()?.into_owned());
                v.push((k, val));
            }
            hash_from(v)
        }
        types::SET_INTSET => {
            let b = r.string()?;
            let vals = listpack::decode_intset(&b)?;
            set_from(vals.into_iter().map(|v| Bytes::from(v.to_string())))
        }
        types::SET_LISTPACK => {
            let b = r.string()?;
            set_from(listpack::decode(&b)?.into_iter().map(bytes))
        }
        types::LIST_ZIPLIST => {
            let b = r.string()?;
            list_from(
                listpack::decode_ziplist(&b)?
                    .into_iter()
                    .map(bytes)
                    .collect(),
            )
        }
        types::HASH_LISTPACK | types::HASH_ZIPLIST => {
            let b = r.string()?;
            let elems = if ty == types::HASH_LISTPACK {
                listpack::decode(&b)?
            } else {
                listpack::decode_ziplist(&b)?
            };
            hash_from(pairs(&elems)?.map(|p| (p[0].to_vec(), bytes(p[1]))))
        }
        types::ZSET_LISTPACK | types::ZSET_ZIPLIST => {
            let b = r.string()?;
            let elems = if ty == types::ZSET_LISTPACK {
                listpack::decode(&b)?
            } else {
                listpack::decode_ziplist(&b)?
            };
            let mut v = Vec::new();
            for p in pairs(&elems)? {
                v.push((bytes(p[0]), elem_score(p[1])?));
            }
            zset_from(v)
        }
        types::HASH_ZIPMAP => {
            let b = r.string()?;
            hash_from(zipmap(&b)?)
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut items = VecDeque::new();
            for _ in 0..nodes {
                let container = if ty == types::LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    2
                };
                let b = r.string()?;
                match container {
                    // A plain node: one element, as is.
                    1 => items.push_back(Bytes::from(b.into_owned())),
                    2 => {
                        let elems = if ty == types::LIST_QUICKLIST_2 {
                            listpack::decode(&b)?
                        } else {
                            listpack::decode_ziplist(&b)?
                        };
                        items.extend(elems.into_iter().map(bytes));
                    }
                    _ => return Err(Bad("unknown quicklist container")),
                }
            }
            list_from(items)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            decode_stream(ty, r).map(|s| Value::Stream(Box::new(s)))
        }
        _ => Err(Bad("unknown type")),
    }
}

/// Redis 2.x's zipmap (`zipmap.c`): length-prefixed keys and values.
fn zipmap(b: &[u8]) -> Result<Vec<(Vec<u8>, Bytes)>, Bad> {
    const BAD: Bad = Bad("corrupt zipmap");
    let mut r = Reader::new(b);
    r.u8()?; // count hint
    let len = |r: &mut Reader<'_>| -> Result<Option<usize>, Bad> {
        match r.u8()? {
            255 => Ok(None),
            254 => Ok(Some(
                u32::from_le_bytes(r.take(4)?.try_into().expect("4")) as usize
            )),
            l => Ok(Some(l as usize)),
        }
    };
    let mut out = Vec::new();
    while let Some(kl) = len(&mut r)? {
        let k = r.take(kl)?.to_vec();
        let vl = len(&mut r)?.ok_or(BAD)?;
        let free = r.u8()? as usize;
        let v = Bytes::copy_from_slice(r.take(vl)?);
        r.take(free)?;
        out.push((k, v));
    }
    if r.remaining() != 0 {
        return Err(BAD);
    }
    Ok(out)
}

fn raw_id(r: &mut Reader<'_>) -> Result<StreamId, Bad> {
    let b = r.take(16)?;
    Ok(StreamId::new(
        u64::from_be_bytes(b[..8].try_into().expect("8")),
        u64::from_be_bytes(b[8..].try_into().expect("8")),
    ))
}

fn id_pair(r: &mut Reader<'_>) -> Result<StreamId, Bad> {
    Ok(StreamId::new(r.len()?, r.len()?))
}

/// One stream node (`streamValidateListpackIntegrity`'s walk): the live
/// entries it holds, appended to `out`.
fn stream_node(
    master: StreamId,
    lp: &[u8],
    out: &mut Vec<(StreamId, Vec<(Bytes, Bytes)>)>,
) -> Result<(), Bad> {
    const BAD: Bad = Bad("corrupt stream node");
    let elems = listpack::decode(lp)?;
    let mut it = elems.into_iter();
    let mut next = || it.next().ok_or(BAD);
    let count = next()?.int()?;
    let deleted = next()?.int()?;
    let nfields = next()?.int()?;
    if count < 0 || deleted < 0 || nfields < 0 || count.checked_add(deleted).is_none() {
        return Err(BAD);
    }
    if count + deleted == 0 {
        return Err(BAD);
    }
    let mut master_fields = Vec::new();
    for _ in 0..nfields {
        master_fields.push(bytes(next()?));
    }
    if next()?.int()? != 0 {
        return Err(BAD);
    }
    let mut live = 0;
    for _ in 0..count + deleted {
        let flags = next()?.int()?;
        let id = StreamId::new(
            master.ms.wrapping_add(next()?.int()? as u64),
            master.seq.wrapping_add(next()?.int()? as u64),
        );
        let mut fields = Vec::new();
        let lp_count = if flags & 2 != 0 {
            for f in &master_fields {
                fields.push((f.clone(), bytes(next()?)));
            }
            nfields + 3
        } else {
            let n = next()?.int()?;
            if n < 0 {
                return Err(BAD);
            }
            for _ in 0..n {
                let f = bytes(next()?);
                fields.push((f, bytes(next()?)));
            }
            2 * n + 4
        };
        if next()?.int()? != lp_count {
            return Err(BAD);
        }
        if flags & 1 == 0 {
            live += 1;
            out.push((id, fields));
        }
    }
    if live != count || it.next().is_some() {
        return Err(BAD);
    }
    Ok(())
}

fn decode_stream(ty: u8, r: &mut Reader<'_>) -> Result<Stream, Bad> {
    let nodes = r.count()?;
    let mut entries = Vec::new();
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(Bad("stream node key is not an id"));
        }
        let master = raw_id(&mut Reader::new(&key))?;
        let lp = r.string()?;
        stream_node(master, &lp, &mut entries)?;
    }
    if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(Bad("stream ids out of order"));
    }
    let length = r.len()?;
    let last_id = id_pair(r)?;
    let (max_deleted, entries_added) = if ty >= types::STREAM_LISTPACKS_2 {
        let _first = id_pair(r)?;
        (id_pair(r)?, r.len()?)
    } else {
        (StreamId::ZERO, entries.len() as u64)
    };
    if length != entries.len() as u64 {
        return Err(Bad("stream length does not match its entries"));
    }
    if entries.last().is_some_and(|(id, _)| *id > last_id) {
        return Err(Bad("stream entry past the last id"));
    }
    let mut s = Stream::default();
    for (id, fields) in entries {
        s.append(id, fields);
    }
    s.last_id = last_id;
    s.max_deleted = max_deleted;
    s.entries_added = entries_added;
    let groups = r.count()?;
    for _ in 0..groups {
        let name = Bytes::from(r.string()?.into_owned());
        let last = id_pair(r)?;
        let entries_read = if ty >= types::STREAM_LISTPACKS_2 {
            r.len()? as i64
        } else {
            crate::stream::ENTRIES_READ_INVALID
        };
        let mut g = Group {
            last_id: last,
            entries_read,
            ..Group::default()
        };
        let pel = r.count()?;
        // Owners are filled in from the consumers' lists below.
        let mut unowned = std::collections::BTreeMap::new();
        for _ in 0..pel {
            let id = raw_id(r)?;
            let time = r.u64_le()?;
            let count = r.len()?;
            if unowned.insert(id, (time, count)).is_some() {
                return Err(Bad("duplicate PEL entry"));
            }
        }
        let consumers = r.count()?;
        for _ in 0..consumers {
            let cname = Bytes::from(r.string()?.into_owned());
            let seen = r.u64_le()?;
            if ty >= types::STREAM_LISTPACKS_3 {
                r.u64_le()?; // active time (7.2)
            }
            let mut c = Consumer {
                seen_time: seen,
                ..Consumer::default()
            };
            let n = r.count()?;
            for _ in 0..n {
                let id = raw_id(r)?;
                let Some((time, count)) = unowned.remove(&id) else {
                    return Err(Bad("consumer PEL entry not in the group PEL"));
                };
                c.pel.insert(id);
                g.pel.insert(
                    id,
                    Nack {
                        consumer: cname.clone(),
                        delivery_time: time,
                        delivery_count: count,
                    },
                );
            }
            if g.consumers.insert(cname, c).is_some() {
                return Err(Bad("duplicate consumer"));
            }
        }
        if !unowned.is_empty() {
            return Err(Bad("PEL entry without a consumer"));
        }
        if s.groups.insert(name, g).is_some() {
            return Err(Bad("duplicate consumer group"));
        }
    }
    Ok(s)
}

/// One key of a `dump.rdb`.
// Read by the tests; the fuzz target only checks that files parse.
#[allow(dead_code)]
#[derive(Debug)]
pub(crate) struct FileEntry {
    /// Database number.
    pub(crate) db: usize,
    /// The key.
    pub(crate) key: Vec<u8>,
    /// The value.
    pub(crate) value: Value,
    /// Absolute expiry in ms.
    pub(crate) expire_ms: Option<u64>,
}

/// A whole `dump.rdb`, read.
#[derive(Debug, Default)]
pub(crate) struct RdbFile {
    /// Every key, in file order.
    pub(crate) entries: Vec<FileEntry>,
    /// Function libraries' code (`FUNCTION2` opcodes), in file order.
    pub(crate) functions: Vec<Vec<u8>>,
}

/// Reads a whole `dump.rdb` (header, opcodes, values, EOF and its CRC-64;
/// a zero CRC means the writer did not compute one).
pub(crate) fn decode_file(data: &[u8]) -> Result<RdbFile, Bad> {
    let mut r = Reader::new(data);
    let magic = r.take(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(Bad("not an RDB file"));
    }
    let version: u16 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(Bad("bad RDB version"))?;
    if version > MAX_READ_VERSION {
        return Err(Bad("RDB version too new"));
    }
    let mut out = Vec::new();
    let mut functions = Vec::new();
    let mut db = 0usize;
    let mut expire = None;
    loop {
        let t = r.u8()?;
        match t {
            op::EOF => break,
            op::SELECTDB => db = usize::try_from(r.len()?).map_err(|_| Bad("bad db"))?,
            op::RESIZEDB => {
                r.len()?;
                r.len()?;
            }
            op::AUX => {
                r.string()?;
                r.string()?;
            }
            op::EXPIRETIME_MS => expire = Some(r.u64_le()?),
            op::EXPIRETIME => {
                let b = r.take(4)?;
                expire = Some(u32::from_le_bytes(b.try_into().expect("4")) as u64 * 1000);
            }
            op::IDLE => {
                r.len()?;
            }
            op::FREQ => {
                r.u8()?;
            }
            op::FUNCTION2 => functions.push(r.string()?.into_owned()),
            // Redis 7.0's release candidates wrote functions another way,
            // which 7.0 itself refuses too; modules are not supported.
            op::MODULE_AUX | op::FUNCTION_PRE_GA => {
                return Err(Bad("module data or pre-7.0 functions are not supported"))
            }
            ty => {
                let key = r.string()?.into_owned();
                let value = decode_body(ty, &mut r)?;
                out.push(FileEntry {
                    db,
                    key,
                    value,
                    expire_ms: expire.take(),
                });
            }
        }
    }
    let end = r.pos();
    if version >= 5 {
        let crc = r.u64_le()?;
        if crc != 0 && crc != crc64(0, &data[..end]) {
            return Err(Bad("RDB checksum mismatch"));
        }
    }
    Ok(RdbFile {
        entries: out,
        functions,
    })
}
