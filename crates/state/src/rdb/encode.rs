//! Values and whole files in RDB form, the way Redis 7.0 writes them.

use bytes::Bytes;

use super::listpack::{self, as_int};
use super::{crc64, op, types, RDB_VERSION};
use crate::resp::fmt_double;
use crate::store::{Db, Value};
use crate::stream::{Stream, StreamId};

/// `hash-max-listpack-entries`, `zset-max-listpack-entries` (defaults).
const LISTPACK_MAX_ENTRIES: usize = 128;
/// `hash-max-listpack-value`, `zset-max-listpack-value` (defaults).
const LISTPACK_MAX_VALUE: usize = 64;
/// `set-max-intset-entries` (default).
const INTSET_MAX_ENTRIES: usize = 512;
/// `list-max-listpack-size -2`: 8 KiB per quicklist node.
const LIST_NODE_BYTES: usize = 8192;
/// Stream node limits (`stream-node-max-entries`).
const STREAM_NODE_ENTRIES: usize = 100;
/// Quicklist node container: a listpack.
const QUICKLIST_PACKED: u64 = 2;
/// Stream entry flag: fields are the node's master fields.
const STREAM_SAMEFIELDS: i64 = 2;

/// `rdbSaveLen`.
pub(super) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A 32-bit integer in Redis's integer string encoding.
fn put_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(v) = i8::try_from(v) {
        out.push(0xc0);
        out.push(v as u8);
    } else if let Ok(v) = i16::try_from(v) {
        out.push(0xc1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(v) {
        out.push(0xc2);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// `rdbSaveRawString`: short canonical integers as integers; with `lzf`
/// (`rdbcompression yes`) a string over 20 bytes LZF-compressed when that
/// saves at least 4 bytes; the rest length-prefixed.
pub(super) fn put_string(out: &mut Vec<u8>, lzf: bool, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = as_int(s) {
            if put_int_encoded(out, v) {
                return;
            }
        }
    }
    if lzf && s.len() > 20 {
        if let Some(c) = super::lzf::compress(s, s.len() - 4) {
            // RDB_ENCVAL << 6 | RDB_ENC_LZF, compressed then original length.
            out.push(0xC3);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A 16-byte stream id as Redis keys its radix tree: big-endian ms, seq.
fn raw_id(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

/// Redis's `d2string` (7.0): integral values in ±2^52 as integers, else %.17g.
fn score_string(d: f64) -> String {
    if d > -4503599627370495.0 && d < 4503599627370496.0 && d == (d as i64) as f64 && d != 0.0 {
        return itoa::Buffer::new().format(d as i64).to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    fmt_double(d)
}

/// The type byte and value.
pub(crate) fn encode_value(v: &Value, out: &mut Vec<u8>, lzf: bool) {
    match v {
        Value::Str(s) => {
            out.push(types::STRING);
            put_string(out, lzf, s);
        }
        Value::Int(i) => {
            out.push(types::STRING);
            if !put_int_encoded(out, *i) {
                put_string(out, lzf, itoa::Buffer::new().format(*i).as_bytes());
            }
        }
        Value::List(l) => {
            out.push(types::LIST_QUICKLIST_2);
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut b = listpack::Builder::new();
            for e in l.iter() {
                // A new node once this one would pass its size.
                if b.count() > 0 && b.len() + e.len() + 11 > LIST_NODE_BYTES {
                    nodes.push(std::mem::replace(&mut b, listpack::Builder::new()).finish());
                }
                b.push(e);
            }
            if b.count() > 0 {
                nodes.push(b.finish());
            }
            put_len(out, nodes.len() as u64);
            for n in nodes {
                put_len(out, QUICKLIST_PACKED);
                put_string(out, lzf, &n);
            }
        }
        Value::Set(s) => {
            let ints: Option<Vec<i64>> = if s.len() <= INTSET_MAX_ENTRIES {
                s.iter().map(|m| as_int(m)).collect()
            } else {
                None
            };
            match ints {
                Some(mut ints) => {
                    ints.sort_unstable();
                    out.push(types::SET_INTSET);
                    put_string(out, lzf, &listpack::intset(&ints));
                }
                None => {
                    out.push(types::SET);
                    put_len(out, s.len() as u64);
                    for m in s.iter() {
                        put_string(out, lzf, m);
                    }
                }
            }
        }
        Value::Hash(h) => {
            let small = h.len() <= LISTPACK_MAX_ENTRIES
                && h.iter()
                    .all(|(k, v)| k.len() <= LISTPACK_MAX_VALUE && v.len() <= LISTPACK_MAX_VALUE);
            if small {
                out.push(types::HASH_LISTPACK);
                let mut b = listpack::Builder::new();
                for (k, v) in h.iter() {
                    b.push(k);
                    b.push(v);
                }
                put_string(out, lzf, &b.finish());
            } else {
                out.push(types::HASH);
                put_len(out, h.len() as u64);
                for (k, v) in h.iter() {
                    put_string(out, lzf, k);
                    put_string(out, lzf, v);
                }
            }
        }
        Value::ZSet(z) => {
            let small = z.len() <= LISTPACK_MAX_ENTRIES
                && z.scores.keys().all(|m| m.len() <= LISTPACK_MAX_VALUE);
            if small {
                // In score order: Redis reads a listpack sorted set in place.
                out.push(types::ZSET_LISTPACK);
                let mut b = listpack::Builder::new();
                for (score, m) in z.tree.iter() {
                    b.push(m);
                    b.push(score_string(score.0).as_bytes());
                }
                put_string(out, lzf, &b.finish());
            } else {
                // Highest first, as Redis writes its skiplist (from the tail).
                out.push(types::ZSET_2);
                put_len(out, z.len() as u64);
                for (score, m) in z.tree.iter().rev() {
                    put_string(out, lzf, m);
                    out.extend_from_slice(&score.0.to_le_bytes());
                }
            }
        }
        Value::Stream(s) => {
            out.push(types::STREAM_LISTPACKS_2);
            encode_stream(s, out, lzf);
        }
    }
}

fn encode_stream(s: &Stream, out: &mut Vec<u8>, lzf: bool) {
    let entries: Vec<(&StreamId, &Vec<(Bytes, Bytes)>)> = s.entries.iter().collect();
    let chunks: Vec<_> = entries.chunks(STREAM_NODE_ENTRIES).collect();
    put_len(out, chunks.len() as u64);
    for chunk in chunks {
        let (&master, first_fields) = chunk[0];
        let mut b = listpack::Builder::new();
        // Master entry: count, deleted, fields, terminator.
        b.push_int(chunk.len() as i64);
        b.push_int(0);
        b.push_int(first_fields.len() as i64);
        for (f, _) in first_fields {
            b.push(f);
        }
        b.push_int(0);
        for (&id, fields) in chunk {
            let same = fields.len() == first_fields.len()
                && fields
                    .iter()
                    .zip(first_fields.iter())
                    .all(|(a, m)| a.0 == m.0);
            b.push_int(if same { STREAM_SAMEFIELDS } else { 0 });
            b.push_int(id.ms.wrapping_sub(master.ms) as i64);
            b.push_int(id.seq.wrapping_sub(master.seq) as i64);
            if same {
                for (_, v) in fields.iter() {
                    b.push(v);
                }
                b.push_int(fields.len() as i64 + 3);
            } else {
                b.push_int(fields.len() as i64);
                for (f, v) in fields.iter() {
                    b.push(f);
                    b.push(v);
                }
                b.push_int(2 * fields.len() as i64 + 4);
            }
        }
        put_string(out, lzf, &raw_id(master));
        put_string(out, lzf, &b.finish());
    }
    put_len(out, s.len() as u64);
    put_len(out, s.last_id.ms);
    put_len(out, s.last_id.seq);
    let first = s.first_id();
    put_len(out, first.ms);
    put_len(out, first.seq);
    put_len(out, s.max_deleted.ms);
    put_len(out, s.max_deleted.seq);
    put_len(out, s.entries_added);
    put_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_string(out, lzf, name);
        put_len(out, g.last_id.ms);
        put_len(out, g.last_id.seq);
        // -1 (unknown) is written as 2^64-1, as Redis does.
        put_len(out, g.entries_read as u64);
        put_len(out, g.pel.len() as u64);
        for (&id, nack) in &g.pel {
            out.extend_from_slice(&raw_id(id));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            put_len(out, nack.delivery_count);
        }
        put_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_string(out, lzf, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            put_len(out, c.pel.len() as u64);
            for &id in &c.pel {
                out.extend_from_slice(&raw_id(id));
            }
        }
    }
}

/// An auxiliary field.
fn put_aux(out: &mut Vec<u8>, k: &str, v: &str) {
    let lzf = false;
    out.push(op::AUX);
    put_string(out, lzf, k.as_bytes());
    put_string(out, lzf, v.as_bytes());
}

/// What a `dump.rdb` holds besides the keyspace, and how it is written.
pub(crate) struct FileMeta<'a> {
    /// The function libraries' source code (FUNCTION LOAD's argument).
    pub(crate) functions: &'a [bytes::Bytes],
    /// When it is written (expired keys are left out; `ctime`).
    pub(crate) now_ms: u64,
    /// `redis-ver` aux field.
    pub(crate) redis_ver: &'a str,
    /// `rdbcompression`: LZF-compress strings over 20 bytes.
    pub(crate) lzf: bool,
}

/// A whole `dump.rdb`: header, aux fields, the function libraries (one
/// `FUNCTION2` opcode and its code each, where Redis 7.0 puts them), each
/// non-empty database with its keys and expiry times, EOF and the CRC-64 of
/// everything before it.
pub(crate) fn encode_file(dbs: &[Db], meta: &FileMeta<'_>) -> Vec<u8> {
    let FileMeta {
        functions,
        now_ms,
        redis_ver,
        lzf,
    } = *meta;
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    put_aux(&mut out, "redis-ver", redis_ver);
    put_aux(&mut out, "redis-bits", "64");
    put_aux(&mut out, "ctime", &(now_ms / 1000).to_string());
    put_aux(&mut out, "used-mem", "0");
    put_aux(&mut out, "aof-base", "0");
    for code in functions {
        out.push(op::FUNCTION2);
        put_string(&mut out, lzf, code);
    }
    for (i, db) in dbs.iter().enumerate() {
        if db.keys.is_empty() {
            continue;
        }
        out.push(op::SELECTDB);
        put_len(&mut out, i as u64);
        out.push(op::RESIZEDB);
        put_len(&mut out, db.keys.len() as u64);
        put_len(&mut out, db.expires.len() as u64);
        let mut scratch = Vec::new();
        for (k, v) in &db.keys {
            if let Some(&at) = db.expires.get(k.as_bytes()) {
                if at <= now_ms {
                    continue;
                }
                out.push(op::EXPIRETIME_MS);
                out.extend_from_slice(&at.to_le_bytes());
            }
            // The type byte comes before the key, the value after it.
            scratch.clear();
            encode_value(v, &mut scratch, lzf);
            out.push(scratch[0]);
            put_string(&mut out, lzf, k);
            out.extend_from_slice(&scratch[1..]);
        }
    }
    out.push(op::EOF);
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
