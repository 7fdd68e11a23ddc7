//! Introspection of single keys: OBJECT, MEMORY USAGE; and WAIT.
//!
//! We keep one representation per type, so OBJECT ENCODING reports the name
//! Redis 7.2 (the version we announce) would use for the value's current size
//! and contents, with the `*-max-listpack-*` / `set-max-intset-entries`
//! limits CONFIG SET gave (Redis's defaults otherwise): clients and tests
//! that look at it see what they would on Redis.
//! Unlike Redis, a value that shrinks again reports the compact encoding again.

use bytes::Bytes;

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::resp::{parse_i64, Reply};
use crate::store::Value;

/// Redis's built-in defaults (not redis.conf's) for when small collections
/// stay compact: hashes up to 512 entries, sorted sets and sets up to 128.
const HASH_LISTPACK_ENTRIES: usize = 512;
const LISTPACK_ENTRIES: usize = 128;
const LISTPACK_VALUE: usize = 64;
const INTSET_ENTRIES: usize = 512;

/// When small collections stay compact (the CONFIG parameters).
struct Limits {
    hash_entries: usize,
    hash_value: usize,
    zset_entries: usize,
    zset_value: usize,
    intset_entries: usize,
}

impl Limits {
    fn of(ctx: &Ctx<'_>) -> Limits {
        let get = |name: &str, default: usize| {
            ctx.s
                .params
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Limits {
            hash_entries: get("hash-max-listpack-entries", HASH_LISTPACK_ENTRIES),
            hash_value: get("hash-max-listpack-value", LISTPACK_VALUE),
            zset_entries: get("zset-max-listpack-entries", LISTPACK_ENTRIES),
            zset_value: get("zset-max-listpack-value", LISTPACK_VALUE),
            intset_entries: get("set-max-intset-entries", INTSET_ENTRIES),
        }
    }
}
/// `list-max-listpack-size -2`: a list stays one listpack up to 8 KB.
const LIST_LISTPACK_BYTES: usize = 8192;
/// Strings up to this length live in the object allocation (`embstr`).
const EMBSTR_MAX: usize = 44;

/// Whether Redis would store `b` as an integer (canonical decimal, fits i64).
fn is_int(b: &[u8]) -> bool {
    b.len() <= 20 && parse_i64(b).is_some_and(|n| n.to_string().as_bytes() == b)
}

fn encoding(v: &Value, lim: &Limits) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::Stream(_) => "stream",
        Value::Str(s) if is_int(s) => "int",
        Value::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
        Value::Str(_) => "raw",
        Value::List(l) => {
            // Listpack size: header and end, and per entry its bytes plus the
            // encoding and back-length headers.
            let bytes = 7 + l
                .iter()
                .map(|e| e.len() + if e.len() < 64 { 2 } else { 6 })
                .sum::<usize>();
            if bytes <= LIST_LISTPACK_BYTES {
                "listpack"
            } else {
                "quicklist"
            }
        }
        Value::Hash(h) => {
            if h.len() <= lim.hash_entries
                && h.iter()
                    .all(|(k, v)| k.len() <= lim.hash_value && v.len() <= lim.hash_value)
            {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s) => {
            if s.len() <= lim.intset_entries && s.iter().all(|m| is_int(m)) {
                "intset"
            } else if s.len() <= LISTPACK_ENTRIES && s.iter().all(|m| m.len() <= LISTPACK_VALUE) {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::ZSet(z) => {
            if z.len() <= lim.zset_entries && z.scores.keys().all(|m| m.len() <= lim.zset_value) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

pub(super) fn object_encoding(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let lim = Limits::of(ctx);
    Ok(match ctx.lookup(&a[2]) {
        Some(v) => Reply::bulk(encoding(v, &lim)),
        None => Reply::Nil,
    })
}

pub(super) fn object_refcount(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let shared_ints = ctx.s.cfg.maxmemory == 0;
    Ok(match ctx.lookup(&a[2]) {
        // Redis shares the objects for 0..9999 (unless an LRU policy needs
        // per-key access times) and reports them with INT_MAX references.
        Some(Value::Str(s))
            if shared_ints
                && is_int(s)
                && parse_i64(s).is_some_and(|n| (0..10_000).contains(&n)) =>
        {
            Reply::Int(i32::MAX as i64)
        }
        Some(Value::Int(n)) if shared_ints && (0..10_000).contains(n) => {
            Reply::Int(i32::MAX as i64)
        }
        Some(_) => Reply::Int(1),
        None => Reply::Nil,
    })
}

pub(super) fn object_idletime(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // Access times are not tracked per key: every key reads as just used.
    Ok(match ctx.lookup(&a[2]) {
        Some(_) => Reply::Int(0),
        None => Reply::Nil,
    })
}

pub(super) fn object_freq(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if ctx.lookup(&a[2]).is_none() {
        return Ok(Reply::Nil);
    }
    // The LFU policies are served by the LRU approximation: no counters.
    Err(Reply::err(
        "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
    ))
}

fn help(lines: &[&str]) -> R {
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Status((*l).into())).collect(),
    ))
}

pub(super) fn object_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    help(&[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ])
}

pub(super) fn memory_usage(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    match a.len() {
        3 => {}
        5 if is(&a[3], "samples") => {
            int(&a[4])?;
        }
        _ => return Err(syntax()),
    }
    let key_len = a[2].len();
    Ok(match ctx.lookup(&a[2]) {
        // Key, value and the dictionary entry around them.
        Some(v) => Reply::Int((v.approx_size() + key_len + 24) as i64),
        None => Reply::Nil,
    })
}

pub(super) fn memory_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    help(&[
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ])
}

pub(super) fn wait(_ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    int(&a[1])?;
    if int(&a[2])? < 0 {
        return Err(Reply::err("timeout is negative"));
    }
    // A single node: no replica will ever acknowledge.
    Ok(Reply::Int(0))
}
