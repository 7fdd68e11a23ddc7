//! Command table, dispatch and the helpers commands share.
//!
//! [`execute`] is the front door for a client's request: it checks existence,
//! arity, auth, MULTI queueing and pub/sub context in the order Redis does, then
//! [`call`]s the handler. EXEC and scripts use [`call`] directly.

use std::collections::VecDeque;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::resp::{parse_i64, Reply};
use crate::store::{notify, BlockOp, Client, Db, Key, Map, Set, Store, Value, ZSet};

mod bits;
pub(crate) mod conn;
mod hash;
mod keys;
mod list;
mod longdouble;
mod lualib;
mod object;
mod pubsub;
mod random;
pub(crate) mod script;
mod set;
mod sort;
pub(crate) mod stream;
mod strings;
mod tx;
mod zalgebra;
mod zset;

/// A handler's result: `Err` is an error reply, so `?` works on argument parsing.
pub(crate) type R = Result<Reply, Reply>;
type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> R;
/// Finds a request's key positions (commands with movable keys).
type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Command flags.
pub(crate) mod flags {
    /// Writes the keyspace.
    pub(crate) const WRITE: u32 = 1;
    /// May grow memory.
    pub(crate) const DENYOOM: u32 = 2;
    /// Not from scripts.
    pub(crate) const NOSCRIPT: u32 = 4;
    /// Allowed before AUTH.
    pub(crate) const NOAUTH: u32 = 8;
    /// Allowed in RESP2 subscribed context.
    pub(crate) const PUBSUB: u32 = 16;
    /// May block.
    pub(crate) const BLOCKING: u32 = 32;
    /// A write that does not invalidate WATCH (Redis's group bookkeeping
    /// commands do not signal the key as modified).
    pub(crate) const NOTOUCH: u32 = 64;
}
use flags::*;

/// A command's static description.
pub(crate) struct Spec {
    /// Lowercase name (`client|setname` for subcommands).
    pub(crate) name: &'static str,
    /// Redis arity: positive = exact, negative = at least.
    pub(crate) arity: i32,
    /// See [`flags`].
    pub(crate) flags: u32,
    /// First key index (0 = no keys).
    pub(crate) first: i32,
    /// Last key index (negative counts from the end).
    pub(crate) last: i32,
    /// Key step.
    pub(crate) step: i32,
    /// Handler (None for containers).
    pub(crate) run: Option<Handler>,
    /// Subcommands.
    pub(crate) subs: &'static [Spec],
    /// Finds the keys of commands whose key positions depend on the
    /// arguments (`numkeys`, `STREAMS`); COMMAND shows them as movablekeys.
    pub(crate) keys_fn: Option<KeysFn>,
}

const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    run: Handler,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        first: keys.0,
        last: keys.1,
        step: keys.2,
        run: Some(run),
        subs: &[],
        keys_fn: None,
    }
}

/// A command with movable keys.
const fn cm(name: &'static str, arity: i32, flags: u32, keys_fn: KeysFn, run: Handler) -> Spec {
    Spec {
        name,
        arity,
        flags,
        first: 0,
        last: 0,
        step: 0,
        run: Some(run),
        subs: &[],
        keys_fn: Some(keys_fn),
    }
}

/// Keys after `STREAMS` (XREAD, XREADGROUP): the first half of the rest.
/// Options are skipped with their arguments, so a group named "streams"
/// is not taken for the keyword (Redis's `xreadGetKeys`).
fn streams_keys(a: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < a.len() {
        if is(&a[i], "block") || is(&a[i], "count") {
            i += 2;
        } else if is(&a[i], "group") {
            i += 3;
        } else if is(&a[i], "noack") {
            i += 1;
        } else if is(&a[i], "streams") {
            let first = i + 1;
            let n = (a.len() - first) / 2;
            return (first..first + n).collect();
        } else {
            break;
        }
    }
    vec![]
}

fn numkeys_at(a: &[Bytes], at: usize) -> Vec<usize> {
    let n = a
        .get(at)
        .and_then(|x| parse_i64(x))
        .filter(|&n| n > 0)
        .unwrap_or(0) as usize;
    (at + 1..(at + 1).saturating_add(n).min(a.len())).collect()
}

/// LMPOP / ZMPOP: `numkeys` is argument 1.
fn numkeys1(a: &[Bytes]) -> Vec<usize> {
    numkeys_at(a, 1)
}

/// BLMPOP / BZMPOP: `numkeys` is argument 2.
fn numkeys2(a: &[Bytes]) -> Vec<usize> {
    numkeys_at(a, 2)
}

/// ZUNIONSTORE and friends: the destination, then `numkeys` at argument 2.
fn dest_numkeys2(a: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(numkeys_at(a, 2));
    keys
}

/// Parsed `numkeys key... WHERE [COUNT n]` of the multi-pops.
pub(crate) struct MPop {
    /// The keys.
    pub(crate) keys: Vec<Bytes>,
    /// RIGHT / MAX.
    pub(crate) max: bool,
    /// How many.
    pub(crate) count: usize,
}

/// Parses LMPOP/ZMPOP arguments from `numkeys_idx`, in Redis's order.
pub(crate) fn parse_mpop(
    a: &[Bytes],
    numkeys_idx: usize,
    low: &str,
    high: &str,
) -> Result<MPop, Reply> {
    let numkeys = parse_i64(&a[numkeys_idx])
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::err("numkeys should be greater than 0"))?;
    let where_idx = (numkeys_idx as i64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= a.len() as i64 {
        return Err(syntax());
    }
    let where_idx = where_idx as usize;
    let max = if is(&a[where_idx], low) {
        false
    } else if is(&a[where_idx], high) {
        true
    } else {
        return Err(syntax());
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && is(&a[j], "count") && j + 1 < a.len() {
            j += 1;
            let c = parse_i64(&a[j])
                .filter(|&n| n >= 1)
                .ok_or_else(|| Reply::err("count should be greater than 0"))?;
            count = Some(c as usize);
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    Ok(MPop {
        keys: a[numkeys_idx + 1..where_idx].to_vec(),
        max,
        count: count.unwrap_or(1),
    })
}

const fn container(name: &'static str, arity: i32, flags: u32, subs: &'static [Spec]) -> Spec {
    Spec {
        name,
        arity,
        flags,
        first: 0,
        last: 0,
        step: 0,
        run: None,
        subs,
        keys_fn: None,
    }
}

const NK: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const K2: (i32, i32, i32) = (2, 2, 1);
const W: u32 = WRITE;
const WM: u32 = WRITE | DENYOOM;

static TABLE: &[Spec] = &[
    // strings
    c("get", 2, 0, K1, strings::get),
    c("set", -3, WM, K1, strings::set),
    c("setex", 4, WM, K1, strings::setex),
    c("psetex", 4, WM, K1, strings::psetex),
    c("setnx", 3, WM, K1, strings::setnx),
    c("getex", -2, W, K1, strings::getex),
    c("getdel", 2, W, K1, strings::getdel),
    c("getset", 3, WM, K1, strings::getset),
    c("mget", -2, 0, KALL, strings::mget),
    c("mset", -3, WM, (1, -1, 2), strings::mset),
    c("msetnx", -3, WM, (1, -1, 2), strings::msetnx),
    c("append", 3, WM, K1, strings::append),
    c("strlen", 2, 0, K1, strings::strlen),
    c("getrange", 4, 0, K1, strings::getrange),
    c("substr", 4, 0, K1, strings::getrange),
    c("setrange", 4, WM, K1, strings::setrange),
    c("incr", 2, WM, K1, strings::incr),
    c("decr", 2, WM, K1, strings::decr),
    c("incrby", 3, WM, K1, strings::incrby),
    c("decrby", 3, WM, K1, strings::decrby),
    c("incrbyfloat", 3, WM, K1, strings::incrbyfloat),
    // bits
    c("setbit", 4, WM, K1, bits::setbit),
    c("getbit", 3, 0, K1, bits::getbit),
    c("bitcount", -2, 0, K1, bits::bitcount),
    c("bitpos", -3, 0, K1, bits::bitpos),
    c("bitop", -4, WM, (2, -1, 1), bits::bitop),
    c("bitfield", -2, WM, K1, bits::bitfield),
    c("bitfield_ro", -2, 0, K1, bits::bitfield_ro),
    // keys
    c("del", -2, W, KALL, keys::del),
    c("unlink", -2, W, KALL, keys::del),
    c("exists", -2, 0, KALL, keys::exists),
    c("touch", -2, 0, KALL, keys::exists),
    c("type", 2, 0, K1, keys::type_),
    c("rename", 3, W, K12, keys::rename),
    c("renamenx", 3, W, K12, keys::renamenx),
    c("expire", -3, W, K1, keys::expire),
    c("pexpire", -3, W, K1, keys::pexpire),
    c("expireat", -3, W, K1, keys::expireat),
    c("pexpireat", -3, W, K1, keys::pexpireat),
    c("ttl", 2, 0, K1, keys::ttl),
    c("pttl", 2, 0, K1, keys::pttl),
    c("expiretime", 2, 0, K1, keys::expiretime),
    c("pexpiretime", 2, 0, K1, keys::pexpiretime),
    c("persist", 2, W, K1, keys::persist),
    c("scan", -2, 0, NK, keys::scan),
    c("keys", 2, 0, NK, keys::keys),
    c("randomkey", 1, 0, NK, keys::randomkey),
    c("copy", -3, WM, K12, keys::copy),
    c("dbsize", 1, 0, NK, keys::dbsize),
    c("flushdb", -1, W, NK, keys::flushdb),
    c("flushall", -1, W, NK, keys::flushall),
    c("select", 2, 0, NK, keys::select),
    c("sort", -2, WM, K1, sort::sort),
    c("sort_ro", -2, 0, K1, sort::sort_ro),
    container("object", -2, 0, OBJECT_SUBS),
    container("memory", -2, 0, MEMORY_SUBS),
    c("wait", 3, NOSCRIPT, NK, object::wait),
    // hashes
    c("hset", -4, WM, K1, hash::hset),
    c("hmset", -4, WM, K1, hash::hmset),
    c("hsetnx", 4, WM, K1, hash::hsetnx),
    c("hget", 3, 0, K1, hash::hget),
    c("hmget", -3, 0, K1, hash::hmget),
    c("hgetall", 2, 0, K1, hash::hgetall),
    c("hdel", -3, W, K1, hash::hdel),
    c("hexists", 3, 0, K1, hash::hexists),
    c("hlen", 2, 0, K1, hash::hlen),
    c("hstrlen", 3, 0, K1, hash::hstrlen),
    c("hkeys", 2, 0, K1, hash::hkeys),
    c("hvals", 2, 0, K1, hash::hvals),
    c("hincrby", 4, WM, K1, hash::hincrby),
    c("hincrbyfloat", 4, WM, K1, hash::hincrbyfloat),
    c("hscan", -3, 0, K1, hash::hscan),
    c("hrandfield", -2, 0, K1, hash::hrandfield),
    // sets
    c("sadd", -3, WM, K1, set::sadd),
    c("srem", -3, W, K1, set::srem),
    c("smembers", 2, 0, K1, set::smembers),
    c("sismember", 3, 0, K1, set::sismember),
    c("smismember", -3, 0, K1, set::smismember),
    c("scard", 2, 0, K1, set::scard),
    c("spop", -2, W, K1, set::spop),
    c("srandmember", -2, 0, K1, set::srandmember),
    c("smove", 4, W, K12, set::smove),
    c("sinter", -2, 0, KALL, set::sinter),
    c("sunion", -2, 0, KALL, set::sunion),
    c("sdiff", -2, 0, KALL, set::sdiff),
    c("sinterstore", -3, WM, KALL, set::sinterstore),
    c("sunionstore", -3, WM, KALL, set::sunionstore),
    c("sdiffstore", -3, WM, KALL, set::sdiffstore),
    c("sscan", -3, 0, K1, set::sscan),
    cm("sintercard", -3, 0, numkeys1, set::sintercard),
    // sorted sets
    c("zadd", -4, WM, K1, zset::zadd),
    c("zincrby", 4, WM, K1, zset::zincrby),
    c("zrem", -3, W, K1, zset::zrem),
    c("zscore", 3, 0, K1, zset::zscore),
    c("zmscore", -3, 0, K1, zset::zmscore),
    c("zcard", 2, 0, K1, zset::zcard),
    c("zcount", 4, 0, K1, zset::zcount),
    c("zrange", -4, 0, K1, zset::zrange),
    c("zrangebyscore", -4, 0, K1, zset::zrangebyscore),
    c("zrevrangebyscore", -4, 0, K1, zset::zrevrangebyscore),
    c("zrevrange", -4, 0, K1, zset::zrevrange),
    c("zrangebylex", -4, 0, K1, zset::zrangebylex),
    c("zrank", 3, 0, K1, zset::zrank),
    c("zrevrank", 3, 0, K1, zset::zrevrank),
    c("zremrangebyscore", 4, W, K1, zset::zremrangebyscore),
    c("zremrangebyrank", 4, W, K1, zset::zremrangebyrank),
    c("zpopmin", -2, W, K1, zset::zpopmin),
    c("zpopmax", -2, W, K1, zset::zpopmax),
    c("zscan", -3, 0, K1, zset::zscan),
    cm("zmpop", -4, W, numkeys1, zset::zmpop),
    c(
        "bzpopmin",
        -3,
        W | BLOCKING | NOSCRIPT,
        (1, -2, 1),
        zset::bzpopmin,
    ),
    c(
        "bzpopmax",
        -3,
        W | BLOCKING | NOSCRIPT,
        (1, -2, 1),
        zset::bzpopmax,
    ),
    cm("bzmpop", -5, W | BLOCKING, numkeys2, zset::bzmpop),
    // streams
    c("xadd", -5, WM, K1, stream::xadd),
    c("xlen", 2, 0, K1, stream::xlen),
    c("xrange", -4, 0, K1, stream::xrange),
    c("xrevrange", -4, 0, K1, stream::xrevrange),
    c("xdel", -3, W, K1, stream::xdel),
    c("xtrim", -4, W, K1, stream::xtrim),
    cm("xread", -4, BLOCKING, streams_keys, stream::xread),
    cm(
        "xreadgroup",
        -7,
        W | BLOCKING | NOTOUCH,
        streams_keys,
        stream::xreadgroup,
    ),
    c("xack", -4, W | NOTOUCH, K1, stream::xack),
    c("xpending", -3, 0, K1, stream::xpending),
    c("xclaim", -6, W | NOTOUCH, K1, stream::xclaim),
    c("xautoclaim", -6, W | NOTOUCH, K1, stream::xautoclaim),
    c("xsetid", -3, WM, K1, stream::xsetid),
    container("xgroup", -2, 0, XGROUP_SUBS),
    container("xinfo", -2, 0, XINFO_SUBS),
    c("zrevrangebylex", -4, 0, K1, zset::zrevrangebylex),
    c("zlexcount", 4, 0, K1, zset::zlexcount),
    c("zremrangebylex", 4, W, K1, zset::zremrangebylex),
    c("zrangestore", -5, WM, K12, zset::zrangestore),
    c("zrandmember", -2, 0, K1, zset::zrandmember),
    // Key lists after numkeys (WATCH, ACL key patterns and eviction see them).
    cm("zunionstore", -4, WM, dest_numkeys2, zalgebra::zunionstore),
    cm("zinterstore", -4, WM, dest_numkeys2, zalgebra::zinterstore),
    cm("zdiffstore", -4, WM, dest_numkeys2, zalgebra::zdiffstore),
    cm("zunion", -3, 0, numkeys1, zalgebra::zunion),
    cm("zinter", -3, 0, numkeys1, zalgebra::zinter),
    cm("zdiff", -3, 0, numkeys1, zalgebra::zdiff),
    cm("zintercard", -3, 0, numkeys1, zalgebra::zintercard),
    // lists
    c("lpush", -3, WM, K1, list::lpush),
    c("rpush", -3, WM, K1, list::rpush),
    c("lpushx", -3, WM, K1, list::lpushx),
    c("rpushx", -3, WM, K1, list::rpushx),
    c("lpop", -2, W, K1, list::lpop),
    c("rpop", -2, W, K1, list::rpop),
    c("llen", 2, 0, K1, list::llen),
    c("lrange", 4, 0, K1, list::lrange),
    c("lindex", 3, 0, K1, list::lindex),
    c("lset", 4, WM, K1, list::lset),
    c("lrem", 4, W, K1, list::lrem),
    c("ltrim", 4, W, K1, list::ltrim),
    c("linsert", 5, WM, K1, list::linsert),
    c("lpos", -3, 0, K1, list::lpos),
    c("lmove", 5, W, K12, list::lmove),
    c("rpoplpush", 3, W, K12, list::rpoplpush),
    cm("lmpop", -4, W, numkeys1, list::lmpop),
    cm("blmpop", -5, W | BLOCKING, numkeys2, list::blmpop),
    c(
        "blpop",
        -3,
        W | BLOCKING | NOSCRIPT,
        (1, -2, 1),
        list::blpop,
    ),
    c(
        "brpop",
        -3,
        W | BLOCKING | NOSCRIPT,
        (1, -2, 1),
        list::brpop,
    ),
    c("blmove", 6, W | BLOCKING | NOSCRIPT, K12, list::blmove),
    c(
        "brpoplpush",
        4,
        W | BLOCKING | NOSCRIPT,
        K12,
        list::brpoplpush,
    ),
    // transactions
    c("multi", 1, NOSCRIPT, NK, tx::multi),
    c("exec", 1, NOSCRIPT, NK, tx::exec),
    c("discard", 1, NOSCRIPT, NK, tx::discard),
    c("watch", -2, NOSCRIPT, KALL, tx::watch),
    c("unwatch", 1, NOSCRIPT, NK, tx::unwatch),
    // scripting
    c("eval", -3, NOSCRIPT, NK, script::eval),
    c("evalsha", -3, NOSCRIPT, NK, script::evalsha),
    container("script", -2, NOSCRIPT, SCRIPT_SUBS),
    // pub/sub
    c("publish", 3, 0, NK, pubsub::publish),
    c("subscribe", -2, PUBSUB | NOSCRIPT, NK, pubsub::subscribe),
    c("psubscribe", -2, PUBSUB | NOSCRIPT, NK, pubsub::psubscribe),
    c(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT,
        NK,
        pubsub::unsubscribe,
    ),
    c(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT,
        NK,
        pubsub::punsubscribe,
    ),
    container("pubsub", -2, 0, PUBSUB_SUBS),
    // connection and server
    c("auth", -2, NOAUTH | NOSCRIPT, NK, conn::auth),
    c("hello", -1, NOAUTH | NOSCRIPT, NK, conn::hello),
    c("ping", -1, PUBSUB, NK, conn::ping),
    c("echo", 2, 0, NK, conn::echo),
    c("quit", -1, NOAUTH | PUBSUB | NOSCRIPT, NK, conn::quit),
    c("reset", 1, NOAUTH | PUBSUB | NOSCRIPT, NK, conn::reset),
    c("info", -1, 0, NK, conn::info),
    c("time", 1, 0, NK, conn::time),
    c("lastsave", 1, 0, NK, conn::lastsave),
    c("readonly", 1, 0, NK, conn::readonly),
    c("readwrite", 1, 0, NK, conn::readonly),
    c("bgrewriteaof", 1, NOSCRIPT, NK, conn::bgrewriteaof),
    c("save", 1, NOSCRIPT, NK, conn::save),
    c("bgsave", -1, NOSCRIPT, NK, conn::save),
    container("client", -2, NOSCRIPT, CLIENT_SUBS),
    container("config", -2, NOSCRIPT, CONFIG_SUBS),
    container("command", -1, 0, COMMAND_SUBS),
    container("acl", -2, NOSCRIPT, ACL_SUBS),
];

static ACL_SUBS: &[Spec] = &[
    c("acl|whoami", 2, NOSCRIPT, NK, conn::acl_whoami),
    c("acl|users", 2, NOSCRIPT, NK, conn::acl_users),
    c("acl|list", 2, NOSCRIPT, NK, conn::acl_list),
    c("acl|setuser", -3, NOSCRIPT, NK, conn::acl_setuser),
    c("acl|deluser", -3, NOSCRIPT, NK, conn::acl_deluser),
    c("acl|cat", -2, NOSCRIPT, NK, conn::acl_cat),
];

static XGROUP_SUBS: &[Spec] = &[
    c("xgroup|create", -5, WM | NOTOUCH, K2, stream::xgroup_create),
    c("xgroup|setid", -5, W | NOTOUCH, K2, stream::xgroup_setid),
    c("xgroup|destroy", 4, W | NOTOUCH, K2, stream::xgroup_destroy),
    c(
        "xgroup|createconsumer",
        5,
        WM | NOTOUCH,
        K2,
        stream::xgroup_createconsumer,
    ),
    c(
        "xgroup|delconsumer",
        5,
        W | NOTOUCH,
        K2,
        stream::xgroup_delconsumer,
    ),
    c("xgroup|help", 2, 0, NK, stream::xgroup_help),
];
static XINFO_SUBS: &[Spec] = &[
    c("xinfo|stream", -3, 0, K2, stream::xinfo_stream),
    c("xinfo|groups", 3, 0, K2, stream::xinfo_groups),
    c("xinfo|consumers", 4, 0, K2, stream::xinfo_consumers),
    c("xinfo|help", 2, 0, NK, stream::xinfo_help),
];
static OBJECT_SUBS: &[Spec] = &[
    c("object|encoding", 3, 0, K2, object::object_encoding),
    c("object|refcount", 3, 0, K2, object::object_refcount),
    c("object|idletime", 3, 0, K2, object::object_idletime),
    c("object|freq", 3, 0, K2, object::object_freq),
    c("object|help", 2, 0, NK, object::object_help),
];
static MEMORY_SUBS: &[Spec] = &[
    c("memory|usage", -3, 0, K2, object::memory_usage),
    c("memory|help", 2, 0, NK, object::memory_help),
];
static SCRIPT_SUBS: &[Spec] = &[
    c("script|load", 3, NOSCRIPT, NK, script::load),
    c("script|exists", -3, NOSCRIPT, NK, script::exists),
    c("script|flush", -2, NOSCRIPT, NK, script::flush),
];
static PUBSUB_SUBS: &[Spec] = &[
    c("pubsub|channels", -2, PUBSUB, NK, pubsub::channels),
    c("pubsub|numsub", -2, PUBSUB, NK, pubsub::numsub),
    c("pubsub|numpat", 2, PUBSUB, NK, pubsub::numpat),
];
static CLIENT_SUBS: &[Spec] = &[
    c("client|setname", 3, NOSCRIPT, NK, conn::client_setname),
    c("client|getname", 2, NOSCRIPT, NK, conn::client_getname),
    c("client|id", 2, NOSCRIPT, NK, conn::client_id),
    c("client|setinfo", 4, NOSCRIPT, NK, conn::client_setinfo),
    c("client|list", -2, NOSCRIPT, NK, conn::client_list),
    c("client|info", 2, NOSCRIPT, NK, conn::client_info),
    c("client|kill", -3, NOSCRIPT, NK, conn::client_kill),
    c("client|no-evict", 3, NOSCRIPT, NK, conn::client_ok),
    c("client|no-touch", 3, NOSCRIPT, NK, conn::client_ok),
];
static CONFIG_SUBS: &[Spec] = &[
    c("config|get", -3, NOSCRIPT, NK, conn::config_get),
    c("config|set", -4, NOSCRIPT, NK, conn::config_set),
    c("config|resetstat", 2, NOSCRIPT, NK, conn::config_resetstat),
    c("config|rewrite", 2, NOSCRIPT, NK, conn::config_rewrite),
];
static COMMAND_SUBS: &[Spec] = &[
    c("command|count", 2, 0, NK, conn::command_count),
    c("command|docs", -2, 0, NK, conn::command_docs),
    c("command|info", -2, 0, NK, conn::command_info),
    c("command|list", -2, 0, NK, conn::command_list),
];

fn index() -> &'static std::collections::HashMap<&'static str, &'static Spec> {
    static IDX: OnceLock<std::collections::HashMap<&'static str, &'static Spec>> = OnceLock::new();
    IDX.get_or_init(|| TABLE.iter().map(|s| (s.name, s)).collect())
}

/// All top-level commands.
pub(crate) fn table() -> &'static [Spec] {
    TABLE
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Finds the spec for a request, or the error Redis gives.
pub(crate) fn resolve(argv: &[Bytes]) -> Result<&'static Spec, Reply> {
    // Lowercase into a stack buffer: this runs for every command.
    let mut buf = [0u8; 32];
    let found = if argv[0].len() <= buf.len() {
        let n = argv[0].len();
        for (d, s) in buf[..n].iter_mut().zip(argv[0].iter()) {
            *d = s.to_ascii_lowercase();
        }
        std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|name| index().get(name).copied())
    } else {
        None
    };
    let Some(spec) = found else {
        let mut args = String::new();
        for a in &argv[1..] {
            if args.len() >= 128 {
                break;
            }
            let room = 128 - args.len();
            let s = String::from_utf8_lossy(a);
            let s: String = s.chars().take(room).collect();
            args.push_str(&format!("'{s}' "));
        }
        let shown: String = String::from_utf8_lossy(&argv[0])
            .chars()
            .take(128)
            .collect();
        return Err(Reply::err(format!(
            "unknown command '{shown}', with args beginning with: {args}"
        )));
    };
    let spec = if spec.subs.is_empty() || argv.len() < 2 {
        spec
    } else {
        let sub = format!("{}|{}", spec.name, lower(&argv[1]));
        match spec.subs.iter().find(|s| s.name == sub) {
            Some(s) => s,
            None => {
                let shown: String = String::from_utf8_lossy(&argv[1])
                    .chars()
                    .take(128)
                    .collect();
                return Err(Reply::err(format!(
                    "unknown subcommand '{shown}'. Try {} HELP.",
                    spec.name.to_ascii_uppercase()
                )));
            }
        }
    };
    let n = argv.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || n < -spec.arity {
        return Err(Reply::err(format!(
            "wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    Ok(spec)
}

/// Key positions of a request per its spec.
pub(crate) fn key_indexes(spec: &Spec, argv: &[Bytes]) -> Vec<usize> {
    if let Some(f) = spec.keys_fn {
        return f(argv);
    }
    let argc = argv.len();
    if spec.first <= 0 {
        return Vec::new();
    }
    let last = if spec.last < 0 {
        argc as i32 + spec.last
    } else {
        spec.last.min(argc as i32 - 1)
    };
    let mut v = Vec::new();
    let mut i = spec.first;
    while i <= last {
        v.push(i as usize);
        i += spec.step.max(1);
    }
    v
}

/// Execution context: the locked store, the calling client, and the clock.
pub(crate) struct Ctx<'a> {
    /// The store (lock held).
    pub(crate) s: &'a mut Store,
    /// The calling client.
    pub(crate) c: &'a mut Client,
    /// Command time in ms (frozen for a script).
    pub(crate) now: u64,
    /// Running inside a script.
    pub(crate) in_script: bool,
    /// Running inside EXEC.
    pub(crate) in_exec: bool,
    /// The handler propagated its own effects to the log.
    pub(crate) custom_prop: bool,
}

/// The WRONGTYPE error.
pub(crate) fn wrongtype() -> Reply {
    Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
}
/// Syntax error.
pub(crate) fn syntax() -> Reply {
    Reply::err("syntax error")
}
/// Not an integer.
pub(crate) fn not_int() -> Reply {
    Reply::err("value is not an integer or out of range")
}

/// Parses an integer argument.
pub(crate) fn int(b: &[u8]) -> Result<i64, Reply> {
    parse_i64(b).ok_or_else(not_int)
}

/// Parses a float as Redis's `getDoubleFromObject` does: the whole argument
/// as C `strtod` reads it (hex included), no leading or trailing space, no
/// NaN, and no overflow to infinity or underflow to zero.
pub(crate) fn parse_float(b: &[u8]) -> Option<f64> {
    if b.first().is_some_and(|c| c_space(*c)) {
        return None;
    }
    let (v, range_err) = strtod_all(b)?;
    (!range_err && !v.is_nan()).then_some(v)
}

/// Parses a score-range bound as Redis's `zslParseRange` does: plain
/// `strtod` over the whole argument, so leading space, overflow to
/// infinity and the empty string (0) are accepted; NaN is not.
pub(crate) fn parse_range_float(b: &[u8]) -> Option<f64> {
    // A C string: an embedded NUL ends it.
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b.iter().position(|c| !c_space(*c))?;
    let (v, _) = strtod_all(&b[start..])?;
    (!v.is_nan()).then_some(v)
}

/// C `isspace`.
fn c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtod` that must consume all of `b` (no leading space): the value and
/// whether it is out of range (finite text overflowing to infinity, or
/// non-zero text underflowing to zero).
fn strtod_all(b: &[u8]) -> Option<(f64, bool)> {
    let s = std::str::from_utf8(b).ok()?;
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => {
            return Some((
                if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                false,
            ))
        }
        "nan" => return Some((f64::NAN, false)),
        _ => {
            if let Some(hex) = lower.strip_prefix("0x") {
                parse_hex_float(hex)?
            } else {
                // Rust's grammar is C's for decimals, minus inf/nan handled above.
                if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                    return None;
                }
                body.parse::<f64>().ok()?
            }
        }
    };
    let nonzero_text = lower.split(['e', 'p']).next().is_some_and(|m| {
        m.trim_start_matches("0x")
            .bytes()
            .any(|c| c.is_ascii_hexdigit() && c != b'0')
    });
    let range_err = v.is_infinite() || (v == 0.0 && nonzero_text);
    Some((if neg { -v } else { v }, range_err))
}

/// The digits of a C hex float after `0x`: `h[.h][p[+-]d]`.
fn parse_hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = match h.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (h, 0),
    };
    let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Case-insensitive argument match.
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

macro_rules! typed {
    ($get:ident, $variant:ident, $t:ty) => {
        /// Typed lookup: `Err(WRONGTYPE)` if the key holds another type.
        pub(crate) fn $get(&mut self, key: &[u8]) -> Result<Option<&mut $t>, Reply> {
            match self.lookup(key) {
                None => Ok(None),
                Some(Value::$variant(x)) => Ok(Some(&mut **x)),
                Some(_) => Err(wrongtype()),
            }
        }
    };
}

impl Ctx<'_> {
    /// The selected database.
    pub(crate) fn db(&mut self) -> &mut Db {
        &mut self.s.dbs[self.c.db]
    }

    /// Looks a key up, expiring it first if due.
    pub(crate) fn lookup(&mut self, key: &[u8]) -> Option<&mut Value> {
        let db = self.c.db;
        self.s.expire_if_needed(db, key, self.now);
        self.s.dbs[db].keys.get_mut(key)
    }

    /// Whether a key exists (after expiry).
    pub(crate) fn exists(&mut self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    /// Typed lookup: `Err(WRONGTYPE)` if the key holds another type.
    /// An integer-encoded string becomes plain bytes here, since the caller may
    /// change them.
    pub(crate) fn get_str(&mut self, key: &[u8]) -> Result<Option<&mut Vec<u8>>, Reply> {
        let Some(v) = self.lookup(key) else {
            return Ok(None);
        };
        if let Value::Int(i) = *v {
            *v = Value::Str(itoa::Buffer::new().format(i).as_bytes().to_vec());
        }
        match v {
            Value::Str(x) => Ok(Some(x)),
            _ => Err(wrongtype()),
        }
    }
    typed!(get_list, List, VecDeque<Bytes>);
    typed!(get_hash, Hash, Map<Key, Bytes>);
    typed!(get_set, Set, Set<Bytes>);
    typed!(get_zset, ZSet, ZSet);
    typed!(get_stream, Stream, crate::stream::Stream);

    /// Checks a key's type without borrowing it.
    pub(crate) fn check_type(&mut self, key: &[u8], want: &str) -> Result<bool, Reply> {
        match self.lookup(key) {
            None => Ok(false),
            Some(v) if v.type_name() == want => Ok(true),
            Some(_) => Err(wrongtype()),
        }
    }

    /// Gets or creates a collection of the given kind.
    /// `kind` is the TYPE name `empty()` makes; `empty` runs only for a new key.
    pub(crate) fn get_or_create(
        &mut self,
        key: &[u8],
        kind: &str,
        empty: fn() -> Value,
    ) -> Result<&mut Value, Reply> {
        let db = self.c.db;
        self.s.expire_if_needed(db, key, self.now);
        let keys = &mut self.s.dbs[db].keys;
        // One probe when the key exists, the common case for HSET, LPUSH, ZADD.
        let i = match keys.get_index_of(key) {
            Some(i) if keys[i].type_name() != kind => return Err(wrongtype()),
            Some(i) => i,
            None => keys.insert_full(Key::new(key), empty()).0,
        };
        Ok(&mut keys[i])
    }

    /// Sets a key (new value replaces any old one). Keeps the TTL only if asked.
    pub(crate) fn set_key(&mut self, key: &[u8], v: Value, keep_ttl: bool) {
        let db = self.c.db;
        let d = &mut self.s.dbs[db];
        d.keys.insert(Key::new(key), v);
        if !keep_ttl && !d.expires.is_empty() {
            d.expires.swap_remove(key);
        }
    }

    /// Deletes a key; true if it existed.
    pub(crate) fn del_key(&mut self, key: &[u8]) -> bool {
        let db = self.c.db;
        let d = &mut self.s.dbs[db];
        if !d.expires.is_empty() {
            d.expires.swap_remove(key);
        }
        d.keys.swap_remove(key).is_some()
    }

    /// Deletes a collection key left empty; true if deleted.
    pub(crate) fn del_if_empty(&mut self, key: &[u8]) -> bool {
        let db = self.c.db;
        let empty = match self.s.dbs[db].keys.get(key) {
            Some(Value::List(l)) => l.is_empty(),
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::Set(s)) => s.is_empty(),
            Some(Value::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.del_key(key);
            self.notify(notify::GENERIC, "del", key);
        }
        empty
    }

    /// Absolute expiry of a key, if any.
    pub(crate) fn get_expire(&mut self, key: &[u8]) -> Option<u64> {
        let db = self.c.db;
        self.s.dbs[db].expires.get(key).copied()
    }

    /// Sets a key's absolute expiry.
    pub(crate) fn set_expire(&mut self, key: &[u8], at: u64) {
        let db = self.c.db;
        self.s.dbs[db].expires.insert(Key::new(key), at);
    }

    /// Removes a key's expiry; true if it had one.
    pub(crate) fn persist(&mut self, key: &[u8]) -> bool {
        let db = self.c.db;
        self.s.dbs[db].expires.swap_remove(key).is_some()
    }

    /// Keyspace notification in the current db.
    pub(crate) fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.c.db;
        self.s.notify(db, class, event, key);
    }

    /// A list got elements: wake clients blocked on it.
    pub(crate) fn signal_ready(&mut self, key: &[u8]) {
        if self.s.blocking_keys.is_empty() {
            return;
        }
        let k = (self.c.db, Bytes::copy_from_slice(key));
        if self.s.blocking_keys.contains_key(&k) && !self.s.ready.contains(&k) {
            self.s.ready.push(k);
        }
    }

    /// Counts a change.
    pub(crate) fn dirty(&mut self, n: u64) {
        self.s.dirty += n;
    }

    /// Logs `argv` instead of the command as sent.
    pub(crate) fn propagate(&mut self, argv: Vec<Bytes>) {
        self.custom_prop = true;
        if !self.s.loading && self.s.aof.is_some() {
            self.s.prop.push((self.c.db, argv));
        }
    }

    /// Whether blocking commands may block (not in MULTI or scripts).
    pub(crate) fn can_block(&self) -> bool {
        !self.in_exec && !self.in_script
    }
}

/// Runs a resolved command: the handler plus bookkeeping (watch touches, log).
pub(crate) fn call(ctx: &mut Ctx<'_>, spec: &'static Spec, argv: &[Bytes]) -> Reply {
    let dirty = ctx.s.dirty;
    let saved_prop = ctx.custom_prop;
    ctx.custom_prop = false;
    let db = ctx.c.db;
    let reply = match spec.run {
        Some(run) => run(ctx, argv).unwrap_or_else(|e| e),
        // Only COMMAND is callable bare (its arity allows no subcommand).
        None => conn::command_all(),
    };
    if ctx.s.dirty != dirty {
        if !ctx.s.watched.is_empty() && spec.flags & NOTOUCH == 0 {
            for i in key_indexes(spec, argv) {
                ctx.s.touch(db, &argv[i]);
            }
        }
        if spec.flags & WRITE != 0 && !ctx.custom_prop && !ctx.s.loading && ctx.s.aof.is_some() {
            ctx.s.prop.push((db, argv.to_vec()));
        }
    }
    ctx.custom_prop = saved_prop;
    if let Some(e) = ctx.s.clients.get_mut(&ctx.c.id) {
        e.last_cmd = spec.name;
    }
    reply
}

/// Handles one client request with all of Redis's pre-checks.
pub(crate) fn execute(ctx: &mut Ctx<'_>, argv: Vec<Bytes>) -> Reply {
    if ctx.s.shutting_down {
        ctx.c.close = true;
        return Reply::err("server is shutting down");
    }
    ctx.s.stats.commands += 1;
    let spec = match resolve(&argv) {
        Ok(s) => s,
        Err(e) => {
            if ctx.c.multi.is_some() {
                ctx.c.multi_err = true;
            }
            return e;
        }
    };
    if !ctx.c.authed && spec.flags & NOAUTH == 0 {
        if ctx.c.multi.is_some() {
            ctx.c.multi_err = true;
        }
        return Reply::Error("NOAUTH Authentication required.".into());
    }
    // AUTH, HELLO, QUIT and RESET are exempt, as in Redis (they are how you log in).
    if spec.flags & NOAUTH == 0 {
        if let Err(d) = acl_check(ctx, spec, &argv) {
            if ctx.c.multi.is_some() {
                ctx.c.multi_err = true;
            }
            return Reply::Error(d.message(spec.name));
        }
    }
    if spec.flags & DENYOOM != 0 && ctx.s.cfg.maxmemory > 0 && !crate::evict::make_room(ctx.s) {
        if ctx.c.multi.is_some() {
            ctx.c.multi_err = true;
        }
        return Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into());
    }
    if ctx.c.proto == 2 && spec.flags & PUBSUB == 0 && ctx.c.subscriptions > 0 {
        if let Some(e) = ctx.s.clients.get(&ctx.c.id) {
            if !e.channels.is_empty() || !e.patterns.is_empty() {
                return Reply::err(format!(
                    "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    spec.name
                ));
            }
        }
    }
    if let Some(queue) = ctx.c.multi.as_mut() {
        if !matches!(
            spec.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        ) {
            queue.push(argv);
            return Reply::Status("QUEUED".into());
        }
    }
    let track = ctx.s.cfg.maxmemory > 0 && spec.flags & WRITE != 0;
    let db = ctx.c.db;
    let before = if track {
        crate::evict::measure(ctx.s, db, spec, &argv)
    } else {
        0
    };
    let reply = call(ctx, spec, &argv);
    if track {
        crate::evict::account(ctx.s, db, spec, &argv, before);
    } else if ctx.s.cfg.maxmemory > 0
        && matches!(
            spec.name,
            "exec" | "eval" | "evalsha" | "flushdb" | "flushall"
        )
    {
        crate::evict::recount(ctx.s);
    }
    // Commands logged as several records replay all-or-nothing, as Redis
    // wraps what one command propagates in MULTI/EXEC.
    let wrap = matches!(
        spec.name,
        "exec" | "eval" | "evalsha" | "xreadgroup" | "xclaim" | "xautoclaim"
    );
    after_command(ctx.s, wrap);
    reply
}

/// The caller's user may run `spec` with `argv`. Costs one integer compare for
/// an unrestricted user; the user is looked up only after an ACL change.
pub(crate) fn acl_check(
    ctx: &mut Ctx<'_>,
    spec: &Spec,
    argv: &[Bytes],
) -> Result<(), crate::acl::Denied> {
    if ctx.c.replay {
        return Ok(());
    }
    if ctx.c.acl_gen != ctx.s.acl.generation {
        ctx.c.acl_gen = ctx.s.acl.generation;
        ctx.c.unrestricted = ctx.s.acl.get(&ctx.c.user).is_some_and(|u| u.unrestricted());
    }
    if ctx.c.unrestricted {
        return Ok(());
    }
    ctx.s.acl.check(&ctx.c.user, spec, argv)
}

/// Work after each top-level command: serve blocked clients, write the log.
pub(crate) fn after_command(s: &mut Store, wrap: bool) {
    if !s.ready.is_empty() {
        serve_ready(s);
    }
    s.flush_prop(wrap);
}

/// Serves clients blocked on keys that received data, in FIFO order.
///
/// Each client queued on a ready key is checked in the order it blocked; one
/// that the key can serve now (a non-empty list or sorted set, a stream with
/// entries past its id) is unblocked and served under this same lock, others
/// keep waiting. A list pop empties the key for the next ones; a stream
/// serves every reader.
pub(crate) fn serve_ready(s: &mut Store) {
    let now = crate::store::now_ms();
    let mut i = 0;
    while i < s.ready.len() {
        let (db, key) = s.ready[i].clone();
        i += 1;
        let queue: Vec<u64> = match s.blocking_keys.get(&(db, key.clone())) {
            Some(q) => q.iter().copied().collect(),
            None => continue,
        };
        for cid in queue {
            s.expire_if_needed(db, &key, now);
            let Some(b) = s.blocked.get(&cid) else {
                continue;
            };
            if !can_serve(s.dbs[db].keys.get(&key[..]), b, &key) {
                continue;
            }
            let b = unblock(s, cid).expect("queued client is blocked");
            if b.tx.is_closed() {
                continue;
            }
            let reply = serve_one(s, db, &key, cid, &b, now);
            if !matches!(b.op, BlockOp::XRead { .. }) {
                s.touch(db, &key);
            }
            if let BlockOp::Move { dest, .. } = &b.op {
                s.touch(db, dest);
            }
            let _ = b.tx.send(reply);
        }
    }
    s.ready.clear();
}

/// Whether `b` can be served from `v` (the value now at `key`).
fn can_serve(v: Option<&Value>, b: &crate::store::Blocked, key: &Bytes) -> bool {
    match (&b.op, v) {
        (BlockOp::Pop { .. } | BlockOp::Move { .. }, Some(Value::List(l))) => !l.is_empty(),
        (BlockOp::MPop { zset: false, .. }, Some(Value::List(l))) => !l.is_empty(),
        (BlockOp::ZPop { .. } | BlockOp::MPop { zset: true, .. }, Some(Value::ZSet(z))) => {
            !z.is_empty()
        }
        (BlockOp::XRead { ids, group, .. }, Some(Value::Stream(st))) => {
            let at = b.keys.iter().position(|k| k == key).unwrap_or(0);
            stream::blocked_ready(st, ids[at], group.as_ref())
        }
        _ => false,
    }
}

/// Runs a blocked client's operation on `key` with a pseudo context in its
/// db, logging the effect as the non-blocking command.
fn serve_one(
    s: &mut Store,
    db: usize,
    key: &Bytes,
    cid: u64,
    b: &crate::store::Blocked,
    now: u64,
) -> Reply {
    let (mut pc, _rx) = Client::new(cid);
    pc.db = db;
    pc.authed = true;
    pc.proto = s.clients.get(&cid).map_or(2, |e| e.resp);
    let mut ctx = Ctx {
        s,
        c: &mut pc,
        now,
        in_script: false,
        in_exec: false,
        custom_prop: false,
    };
    match &b.op {
        BlockOp::Pop { left } => {
            let v = list::pop_one(&mut ctx, key, *left);
            let name = if *left { "LPOP" } else { "RPOP" };
            ctx.propagate(vec![Bytes::from_static(name.as_bytes()), key.clone()]);
            Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(v.unwrap_or_default()),
            ])
        }
        BlockOp::Move {
            dest,
            from_left,
            to_left,
        } => match list::do_move(&mut ctx, key, dest, *from_left, *to_left) {
            Ok(Some(v)) => {
                let side = |l: bool| Bytes::from_static(if l { b"LEFT" } else { b"RIGHT" });
                ctx.propagate(vec![
                    Bytes::from_static(b"LMOVE"),
                    key.clone(),
                    dest.clone(),
                    side(*from_left),
                    side(*to_left),
                ]);
                Reply::Bulk(v)
            }
            Ok(None) => Reply::Nil,
            Err(e) => e,
        },
        BlockOp::ZPop { max } => {
            let items = zset::pop_items(&mut ctx, key, *max, 1);
            ctx.propagate(zset::pop_prop(key, *max, None));
            zset::bzpop_reply(key, items)
        }
        BlockOp::MPop {
            zset: true,
            max,
            count,
        } => {
            let items = zset::pop_items(&mut ctx, key, *max, *count);
            ctx.propagate(zset::pop_prop(key, *max, Some(items.len())));
            zset::zmpop_reply(key, items)
        }
        BlockOp::MPop {
            zset: false,
            max,
            count,
        } => {
            let items = list::pop_many(&mut ctx, key, !*max, *count);
            ctx.propagate(vec![
                Bytes::from_static(if *max { b"RPOP" } else { b"LPOP" }),
                key.clone(),
                Bytes::from(items.len().to_string()),
            ]);
            list::mpop_reply(key, items)
        }
        BlockOp::XRead { ids, count, group } => {
            let at = b.keys.iter().position(|k| k == key).unwrap_or(0);
            stream::serve_blocked(&mut ctx, key, ids[at], *count, group.as_ref())
        }
    }
}

/// Removes a client from the blocked registry and all key queues.
pub(crate) fn unblock(s: &mut Store, cid: u64) -> Option<crate::store::Blocked> {
    let b = s.blocked.remove(&cid)?;
    for k in &b.keys {
        let kk = (b.db, k.clone());
        if let Some(q) = s.blocking_keys.get_mut(&kk) {
            q.retain(|&c| c != cid);
            if q.is_empty() {
                s.blocking_keys.remove(&kk);
            }
        }
    }
    if let Some(e) = s.clients.get_mut(&cid) {
        e.blocked = false;
    }
    Some(b)
}

/// Parses a memory amount (`100mb`).
pub(crate) fn parse_memory_arg(s: &str) -> Option<u64> {
    conn::parse_memory_arg(s)
}

/// Removes every trace of a disconnected client.
pub(crate) fn forget_client(s: &mut Store, c: &mut Client) {
    tx::unwatch_all(s, c);
    if let Some(e) = s.clients.get(&c.id) {
        let chans: Vec<Bytes> = e.channels.iter().cloned().collect();
        let pats: Vec<Bytes> = e.patterns.iter().cloned().collect();
        for ch in chans {
            pubsub::remove_sub(s, c.id, &ch, false);
        }
        for p in pats {
            pubsub::remove_sub(s, c.id, &p, true);
        }
    }
    s.clients.remove(&c.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|x| Bytes::copy_from_slice(x.as_bytes()))
            .collect()
    }

    #[test]
    fn c_number_parsing() {
        // getDoubleFromObject: strtod over the whole text, range errors refused.
        assert_eq!(parse_float(b"0x10"), Some(16.0));
        assert_eq!(parse_float(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_float(b"1e308"), Some(1e308));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [
            &b"1e309"[..],
            b"1e-400",
            b" 1",
            b"1 ",
            b"",
            b"nan",
            b"0x",
            b"1x",
        ] {
            assert_eq!(parse_float(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // zslParseRange: plain strtod.
        assert_eq!(parse_range_float(b""), Some(0.0));
        assert_eq!(parse_range_float(b" 1"), Some(1.0));
        assert_eq!(parse_range_float(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_float(b"2\0junk"), Some(2.0));
        assert_eq!(parse_range_float(b"1 "), None);
        assert_eq!(parse_range_float(b"nan"), None);
        // SCAN cursors: strtoul.
        assert_eq!(keys::scan_cursor(b"").ok(), Some(0));
        assert_eq!(keys::scan_cursor(b"-1").ok(), Some(u64::MAX));
        assert_eq!(keys::scan_cursor(b"+7").ok(), Some(7));
        assert!(keys::scan_cursor(b" 1").is_err());
        assert!(keys::scan_cursor(b"18446744073709551616").is_err());
    }

    #[test]
    fn movable_keys() {
        let a = argv("XREADGROUP GROUP streams c COUNT 5 STREAMS k1 k2 > >");
        assert_eq!(streams_keys(&a), vec![7, 8]);
        assert_eq!(streams_keys(&argv("XREAD STREAMS k 0")), vec![2]);
        assert_eq!(numkeys2(&argv("BLMPOP 0 2 a b LEFT")), vec![3, 4]);
        assert_eq!(numkeys1(&argv("ZMPOP 5 a MIN")), vec![2, 3]);
        assert!(numkeys1(&argv("ZMPOP x a MIN")).is_empty());
        assert_eq!(
            numkeys1(&argv("ZMPOP 9223372036854775807 a MIN")),
            vec![2, 3]
        );
    }
}
