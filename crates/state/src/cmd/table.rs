//! The command table: every command's spec and the handler that runs it,
//! and the lookup from a request to its spec.
//!
//! Adding a command is one row here (and its handler); what the command
//! does differently before or after it runs is a flag on the row
//! ([`crate::spec::flags`]), not a name matched elsewhere.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use super::ctx::{Commands, Handler, Spec, Unresolved};
use super::{
    bits, client_control, conn, dump, function, geo, hash, help, hll, info, keys, latency, list,
    memory, migrate, monitor, object, pubsub, script, set, slowlog, sort, standalone, stream,
    strings, swapdb, tracking, tx, zalgebra, zset,
};
use crate::acl::{Acl, UserConfig};
use crate::resp::Reply;
use crate::spec::flags::*;
use crate::spec::{dest_numkeys2, numkeys1, numkeys2, streams_keys, KeysFn, WhileBusy};

/// The table, for handlers that take it as a type parameter.
pub(crate) struct Table;

impl Commands for Table {
    fn all() -> &'static [Spec] {
        TABLE
    }
    fn lookup(argv: &[Bytes]) -> Result<&'static Spec, Unresolved> {
        lookup(argv)
    }
}

/// A command with fixed key positions.
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    run: Handler,
) -> Spec {
    Spec::new(name, arity, flags, keys, run)
}

/// A command with movable keys.
const fn cm(name: &'static str, arity: i32, flags: u32, keys_fn: KeysFn, run: Handler) -> Spec {
    Spec::movable(name, arity, flags, keys_fn, run)
}

/// A command with subcommands.
const fn container(name: &'static str, arity: i32, flags: u32, subs: &'static [Spec]) -> Spec {
    Spec::container(name, arity, flags, subs)
}

const NK: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const K2: (i32, i32, i32) = (2, 2, 1);
const W: u32 = WRITE;
const WM: u32 = WRITE | DENYOOM;
/// EVAL and EVALSHA.
const SCRIPT: u32 = NOSCRIPT | SCRIPT_KEYS | RUNS_OTHERS | MULTI_RECORD | MONITOR_FIRST;

static TABLE: &[Spec] = &[
    // strings
    c("get", 2, BORROWS_ARGS, K1, strings::get),
    c("set", -3, WM | BORROWS_ARGS, K1, strings::set),
    c("setex", 4, WM | BORROWS_ARGS, K1, strings::setex),
    c("psetex", 4, WM | BORROWS_ARGS, K1, strings::psetex),
    c("setnx", 3, WM, K1, strings::setnx),
    c("getex", -2, W, K1, strings::getex),
    c("getdel", 2, W, K1, strings::getdel),
    c("getset", 3, WM, K1, strings::getset),
    c("mget", -2, BORROWS_ARGS, KALL, strings::mget),
    c("mset", -3, WM, (1, -1, 2), strings::mset),
    c("msetnx", -3, WM, (1, -1, 2), strings::msetnx),
    c("append", 3, WM, K1, strings::append),
    c("strlen", 2, BORROWS_ARGS, K1, strings::strlen),
    c("getrange", 4, 0, K1, strings::getrange),
    c("substr", 4, 0, K1, strings::getrange),
    c("lcs", -3, 0, K12, strings::lcs),
    c("setrange", 4, WM, K1, strings::setrange),
    c("incr", 2, WM | BORROWS_ARGS, K1, strings::incr),
    c("decr", 2, WM | BORROWS_ARGS, K1, strings::decr),
    c("incrby", 3, WM | BORROWS_ARGS, K1, strings::incrby),
    c("decrby", 3, WM | BORROWS_ARGS, K1, strings::decrby),
    c("incrbyfloat", 3, WM, K1, strings::incrbyfloat),
    // HyperLogLog (PFMERGE touches only its destination itself)
    c("pfadd", -2, WM, K1, hll::pfadd),
    c("pfcount", -2, MAY_REPLICATE, KALL, hll::pfcount),
    c("pfmerge", -2, WM | NOTOUCH, KALL, hll::pfmerge),
    c("pfdebug", 3, WM | ADMIN, K2, hll::pfdebug),
    c("pfselftest", 1, ADMIN, NK, hll::pfselftest),
    // GEO (sorted sets of geohash scores). The storing searches touch
    // only their destination themselves.
    c("geoadd", -5, WM, K1, geo::geoadd),
    c("geopos", -2, 0, K1, geo::geopos),
    c("geodist", -4, 0, K1, geo::geodist),
    c("geohash", -2, 0, K1, geo::geohash_cmd),
    cm(
        "georadius",
        -6,
        WM | NOTOUCH,
        geo::georadius_keys,
        geo::georadius,
    ),
    c("georadius_ro", -6, 0, K1, geo::georadius_ro),
    cm(
        "georadiusbymember",
        -5,
        WM | NOTOUCH,
        geo::georadius_keys,
        geo::georadiusbymember,
    ),
    c("georadiusbymember_ro", -5, 0, K1, geo::georadiusbymember_ro),
    c("geosearch", -7, 0, K1, geo::geosearch),
    c("geosearchstore", -8, WM | NOTOUCH, K12, geo::geosearchstore),
    // bits
    c("setbit", 4, WM, K1, bits::setbit),
    c("getbit", 3, 0, K1, bits::getbit),
    c("bitcount", -2, 0, K1, bits::bitcount),
    c("bitpos", -3, 0, K1, bits::bitpos),
    c("bitop", -4, WM, (2, -1, 1), bits::bitop),
    c("bitfield", -2, WM, K1, bits::bitfield),
    c("bitfield_ro", -2, 0, K1, bits::bitfield_ro),
    // keys
    c("del", -2, W | BORROWS_ARGS, KALL, keys::del),
    c("unlink", -2, W | BORROWS_ARGS, KALL, keys::del),
    c("exists", -2, BORROWS_ARGS, KALL, keys::exists),
    c("touch", -2, 0, KALL, keys::exists),
    c("type", 2, 0, K1, keys::type_),
    c("rename", 3, W, K12, keys::rename),
    c("renamenx", 3, W, K12, keys::renamenx),
    c("expire", -3, W, K1, keys::expire),
    c("pexpire", -3, W, K1, keys::pexpire),
    c("expireat", -3, W, K1, keys::expireat),
    c("pexpireat", -3, W, K1, keys::pexpireat),
    c("ttl", 2, BORROWS_ARGS, K1, keys::ttl),
    c("pttl", 2, BORROWS_ARGS, K1, keys::pttl),
    c("expiretime", 2, 0, K1, keys::expiretime),
    c("pexpiretime", 2, 0, K1, keys::pexpiretime),
    c("persist", 2, W, K1, keys::persist),
    c("scan", -2, 0, NK, keys::scan),
    c("keys", 2, 0, NK, keys::keys),
    c("randomkey", 1, 0, NK, keys::randomkey),
    c("copy", -3, WM, K12, keys::copy),
    c("move", 3, W, K1, keys::move_),
    c("dbsize", 1, 0, NK, keys::dbsize),
    c("flushdb", -1, W, NK, keys::flushdb),
    c("flushall", -1, W, NK, keys::flushall),
    c("select", 2, 0, NK, keys::select),
    c("swapdb", 3, W, NK, swapdb::swapdb),
    // RDB serialization: moving values to and from Redis.
    c("dump", 2, 0, K1, dump::dump),
    c("restore", -4, WM, K1, dump::restore),
    // What `redis-cli --cluster import` and MIGRATE send to a cluster node:
    // RESTORE under the ASKING flag, which means nothing off a cluster.
    c("restore-asking", -4, WM, K1, dump::restore),
    cm("migrate", -6, W, migrate::migrate_keys, migrate::migrate),
    cm("sort", -2, WM | NOTOUCH, sort::sort_keys, sort::sort).shown_keys(K1),
    c("sort_ro", -2, 0, K1, sort::sort_ro),
    container("object", -2, 0, OBJECT_SUBS),
    container("memory", -2, 0, MEMORY_SUBS),
    c("wait", 3, NOSCRIPT, NK, object::wait),
    // hashes
    c("hset", -4, WM | BORROWS_ARGS, K1, hash::hset),
    c("hmset", -4, WM | BORROWS_ARGS, K1, hash::hmset),
    c("hsetnx", 4, WM, K1, hash::hsetnx),
    c("hget", 3, BORROWS_ARGS, K1, hash::hget),
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
        W | BLOCKING | NOTOUCH | MULTI_RECORD,
        streams_keys,
        stream::xreadgroup,
    ),
    c("xack", -4, W | NOTOUCH, K1, stream::xack),
    c("xpending", -3, 0, K1, stream::xpending),
    c("xclaim", -6, W | NOTOUCH | MULTI_RECORD, K1, stream::xclaim),
    c(
        "xautoclaim",
        -6,
        W | NOTOUCH | MULTI_RECORD,
        K1,
        stream::xautoclaim,
    ),
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
    c("lpush", -3, WM | BORROWS_ARGS, K1, list::lpush),
    c("rpush", -3, WM | BORROWS_ARGS, K1, list::rpush),
    c("lpushx", -3, WM | BORROWS_ARGS, K1, list::lpushx),
    c("rpushx", -3, WM | BORROWS_ARGS, K1, list::rpushx),
    c("lpop", -2, W | BORROWS_ARGS, K1, list::lpop),
    c("rpop", -2, W | BORROWS_ARGS, K1, list::rpop),
    c("llen", 2, BORROWS_ARGS, K1, list::llen),
    c("lrange", 4, 0, K1, list::lrange),
    c("lindex", 3, 0, K1, list::lindex),
    c("lset", 4, WM, K1, list::lset),
    c("lrem", 4, W, K1, list::lrem),
    c("ltrim", 4, W, K1, list::ltrim),
    c("linsert", 5, WM, K1, list::linsert),
    c("lpos", -3, 0, K1, list::lpos),
    c("lmove", 5, WM, K12, list::lmove),
    c("rpoplpush", 3, WM, K12, list::rpoplpush),
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
    c("blmove", 6, WM | BLOCKING | NOSCRIPT, K12, list::blmove),
    c(
        "brpoplpush",
        4,
        WM | BLOCKING | NOSCRIPT,
        K12,
        list::brpoplpush,
    ),
    // transactions
    c("multi", 1, NOSCRIPT | NOQUEUE, NK, tx::multi).while_busy(WhileBusy::Wait),
    c(
        "exec",
        1,
        NOSCRIPT | NOQUEUE | RUNS_OTHERS | MULTI_RECORD | SKIP_SLOWLOG,
        NK,
        tx::exec::<Table>,
    ),
    c("discard", 1, NOSCRIPT | NOQUEUE, NK, tx::discard).while_busy(WhileBusy::Wait),
    c("watch", -2, NOSCRIPT | NOQUEUE, KALL, tx::watch).while_busy(WhileBusy::Wait),
    c("unwatch", 1, NOSCRIPT, NK, tx::unwatch).while_busy(WhileBusy::Wait),
    // scripting
    c(
        "eval",
        -3,
        SCRIPT | MAY_REPLICATE | SCRIPT_BODY_ARG,
        NK,
        script::eval::<Table>,
    ),
    c(
        "evalsha",
        -3,
        SCRIPT | MAY_REPLICATE | SCRIPT_SHA_ARG,
        NK,
        script::evalsha::<Table>,
    ),
    c(
        "eval_ro",
        -3,
        SCRIPT | SCRIPT_BODY_ARG,
        NK,
        script::eval_ro::<Table>,
    ),
    c(
        "evalsha_ro",
        -3,
        SCRIPT | SCRIPT_SHA_ARG,
        NK,
        script::evalsha_ro::<Table>,
    ),
    container("script", -2, NOSCRIPT, SCRIPT_SUBS),
    c(
        "fcall",
        -3,
        SCRIPT | MAY_REPLICATE | FUNCTION_ARG,
        NK,
        function::fcall::<Table>,
    ),
    c(
        "fcall_ro",
        -3,
        SCRIPT | FUNCTION_ARG,
        NK,
        function::fcall_ro::<Table>,
    ),
    container("function", -2, NOSCRIPT, FUNCTION_SUBS),
    // pub/sub
    c(
        "publish",
        3,
        CHANNEL_ARG | MAY_REPLICATE,
        NK,
        pubsub::publish,
    ),
    c(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | CHANNEL_ARGS,
        NK,
        pubsub::subscribe,
    ),
    c(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | PATTERN_ARGS,
        NK,
        pubsub::psubscribe,
    ),
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
    c(
        "spublish",
        3,
        CHANNEL_ARG | MAY_REPLICATE,
        NK,
        pubsub::spublish,
    ),
    c(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | CHANNEL_ARGS,
        NK,
        pubsub::ssubscribe,
    ),
    c(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT,
        NK,
        pubsub::sunsubscribe,
    ),
    container("pubsub", -2, 0, PUBSUB_SUBS),
    // connection and server
    c("auth", -2, NOAUTH | NOSCRIPT, NK, conn::auth).while_busy(WhileBusy::Wait),
    c("hello", -1, NOAUTH | NOSCRIPT, NK, conn::hello).while_busy(WhileBusy::Wait),
    c("ping", -1, PUBSUB | BORROWS_ARGS, NK, conn::ping),
    c("echo", 2, 0, NK, conn::echo),
    c("monitor", 1, ADMIN | NOSCRIPT, NK, monitor::monitor),
    c(
        "quit",
        -1,
        NOAUTH | PUBSUB | NOSCRIPT | NOQUEUE,
        NK,
        conn::quit,
    )
    .while_busy(WhileBusy::Quit),
    c(
        "reset",
        1,
        NOAUTH | PUBSUB | NOSCRIPT | NOQUEUE,
        NK,
        conn::reset,
    )
    .while_busy(WhileBusy::Wait),
    c("info", -1, 0, NK, info::info),
    c("time", 1, 0, NK, conn::time),
    c("role", 1, NOSCRIPT, NK, conn::role),
    c("lastsave", 1, 0, NK, dump::lastsave),
    c("readonly", 1, 0, NK, conn::readonly),
    c("readwrite", 1, 0, NK, conn::readonly),
    c("bgrewriteaof", 1, NOSCRIPT | ADMIN, NK, conn::bgrewriteaof),
    c("save", 1, NOSCRIPT | ADMIN, NK, dump::save),
    c("bgsave", -1, NOSCRIPT | ADMIN, NK, dump::bgsave),
    c(
        "shutdown",
        -1,
        NOSCRIPT | NO_MULTI | ADMIN,
        NK,
        dump::shutdown,
    )
    .while_busy(WhileBusy::Shutdown),
    container("client", -2, NOSCRIPT, CLIENT_SUBS),
    container("config", -2, NOSCRIPT, CONFIG_SUBS),
    container("slowlog", -2, 0, SLOWLOG_SUBS),
    container("latency", -2, 0, LATENCY_SUBS),
    Spec::container_run("command", -1, 0, COMMAND_SUBS, conn::command::<Table>),
    container("acl", -2, NOSCRIPT, ACL_SUBS),
    // What a standalone redis-server on its defaults refuses (standalone.rs).
    container("cluster", -2, 0, CLUSTER_SUBS),
    c("asking", 1, 0, NK, standalone::cluster_disabled),
    c("debug", -2, ADMIN | NOSCRIPT, NK, standalone::debug),
    container("module", -2, 0, MODULE_SUBS),
];

/// The cluster subcommands clients probe with; cluster support is off.
static CLUSTER_SUBS: &[Spec] = &[
    c("cluster|info", 2, 0, NK, standalone::cluster_disabled),
    c("cluster|slots", 2, 0, NK, standalone::cluster_disabled),
    c("cluster|shards", 2, 0, NK, standalone::cluster_disabled),
    c("cluster|nodes", 2, 0, NK, standalone::cluster_disabled),
    c("cluster|myid", 2, 0, NK, standalone::cluster_disabled),
    c("cluster|links", 2, 0, NK, standalone::cluster_disabled),
    c("cluster|keyslot", 3, 0, NK, standalone::cluster_disabled),
    c(
        "cluster|countkeysinslot",
        3,
        0,
        NK,
        standalone::cluster_disabled,
    ),
    c(
        "cluster|getkeysinslot",
        4,
        0,
        NK,
        standalone::cluster_disabled,
    ),
    c(
        "cluster|replicas",
        3,
        ADMIN,
        NK,
        standalone::cluster_disabled,
    ),
    c("cluster|slaves", 3, ADMIN, NK, standalone::cluster_disabled),
    c("cluster|help", 2, 0, NK, standalone::cluster_disabled),
];

static MODULE_SUBS: &[Spec] = &[
    c(
        "module|list",
        2,
        ADMIN | NOSCRIPT,
        NK,
        standalone::module_list,
    ),
    c("module|help", 2, 0, NK, standalone::module_help),
    c(
        "module|load",
        -3,
        ADMIN | NOSCRIPT,
        NK,
        standalone::module_refused,
    ),
    c(
        "module|loadex",
        -3,
        ADMIN | NOSCRIPT,
        NK,
        standalone::module_refused,
    ),
    c(
        "module|unload",
        3,
        ADMIN | NOSCRIPT,
        NK,
        standalone::module_refused,
    ),
];

static ACL_SUBS: &[Spec] = &[
    c("acl|help", 2, 0, NK, help::help),
    c("acl|whoami", 2, NOSCRIPT, NK, conn::acl_whoami),
    c("acl|users", 2, NOSCRIPT | ADMIN, NK, conn::acl_users),
    c("acl|list", 2, NOSCRIPT | ADMIN, NK, conn::acl_list),
    c("acl|setuser", -3, NOSCRIPT | ADMIN, NK, conn::acl_setuser),
    c("acl|deluser", -3, NOSCRIPT | ADMIN, NK, conn::acl_deluser),
    c("acl|cat", -2, NOSCRIPT, NK, conn::acl_cat),
    c("acl|getuser", 3, NOSCRIPT | ADMIN, NK, conn::acl_getuser),
    c("acl|genpass", -2, NOSCRIPT, NK, conn::acl_genpass),
    c("acl|log", -2, NOSCRIPT | ADMIN, NK, conn::acl_log_cmd),
    c(
        "acl|dryrun",
        -4,
        NOSCRIPT | ADMIN,
        NK,
        conn::acl_dryrun::<Table>,
    ),
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
    c("memory|stats", 2, 0, NK, memory::stats),
    c("memory|doctor", 2, 0, NK, memory::doctor),
    c("memory|malloc-stats", 2, 0, NK, memory::malloc_stats),
    c("memory|purge", 2, 0, NK, memory::purge),
    c("memory|help", 2, 0, NK, object::memory_help),
];
static SCRIPT_SUBS: &[Spec] = &[
    c("script|help", 2, 0, NK, help::help),
    c("script|load", 3, NOSCRIPT | MAY_REPLICATE, NK, script::load),
    c("script|exists", -3, NOSCRIPT, NK, script::exists),
    c(
        "script|flush",
        -2,
        NOSCRIPT | MAY_REPLICATE,
        NK,
        script::flush,
    ),
    c("script|kill", 2, NOSCRIPT, NK, script::kill).while_busy(WhileBusy::KillScript),
];
static FUNCTION_SUBS: &[Spec] = &[
    c("function|load", -3, WM | NOSCRIPT, NK, function::load),
    c("function|delete", 3, W | NOSCRIPT, NK, function::delete),
    c("function|flush", -2, W | NOSCRIPT, NK, function::flush),
    c("function|restore", -3, WM | NOSCRIPT, NK, function::restore),
    c("function|list", -2, NOSCRIPT, NK, function::list),
    c("function|dump", 2, NOSCRIPT, NK, function::dump),
    c("function|stats", 2, NOSCRIPT, NK, function::stats).while_busy(WhileBusy::Wait),
    c("function|kill", 2, NOSCRIPT, NK, function::kill).while_busy(WhileBusy::KillFunction),
    c("function|help", 2, 0, NK, function::help),
];
static PUBSUB_SUBS: &[Spec] = &[
    c("pubsub|help", 2, 0, NK, help::help),
    c("pubsub|channels", -2, PUBSUB, NK, pubsub::channels),
    c("pubsub|numsub", -2, PUBSUB, NK, pubsub::numsub),
    c("pubsub|numpat", 2, PUBSUB, NK, pubsub::numpat),
    c(
        "pubsub|shardchannels",
        -2,
        PUBSUB,
        NK,
        pubsub::shardchannels,
    ),
    c("pubsub|shardnumsub", -2, PUBSUB, NK, pubsub::shardnumsub),
];
/// CLIENT subcommands.
const CLIENT_SUB: u32 = NOSCRIPT | KEEPS_CACHING;
static CLIENT_SUBS: &[Spec] = &[
    c("client|help", 2, 0, NK, help::help),
    c("client|setname", 3, CLIENT_SUB, NK, conn::client_setname),
    c("client|getname", 2, CLIENT_SUB, NK, conn::client_getname),
    c("client|id", 2, CLIENT_SUB, NK, conn::client_id),
    c("client|setinfo", 4, CLIENT_SUB, NK, conn::client_setinfo),
    c("client|list", -2, CLIENT_SUB | ADMIN, NK, conn::client_list),
    c("client|info", 2, CLIENT_SUB, NK, conn::client_info),
    c("client|kill", -3, CLIENT_SUB | ADMIN, NK, conn::client_kill),
    c(
        "client|unblock",
        -3,
        CLIENT_SUB | ADMIN,
        NK,
        client_control::client_unblock,
    ),
    c(
        "client|reply",
        3,
        CLIENT_SUB,
        NK,
        client_control::client_reply,
    ),
    c(
        "client|pause",
        -3,
        CLIENT_SUB | ADMIN,
        NK,
        client_control::client_pause,
    ),
    c(
        "client|unpause",
        2,
        CLIENT_SUB | ADMIN,
        NK,
        client_control::client_unpause,
    ),
    c(
        "client|no-evict",
        3,
        CLIENT_SUB | ADMIN,
        NK,
        conn::client_ok,
    ),
    c("client|no-touch", 3, CLIENT_SUB, NK, conn::client_ok),
    c(
        "client|tracking",
        -3,
        CLIENT_SUB,
        NK,
        tracking::client_tracking,
    ),
    c(
        "client|caching",
        3,
        CLIENT_SUB,
        NK,
        tracking::client_caching,
    ),
    c(
        "client|getredir",
        2,
        CLIENT_SUB,
        NK,
        tracking::client_getredir,
    ),
    c(
        "client|trackinginfo",
        2,
        CLIENT_SUB,
        NK,
        tracking::client_trackinginfo,
    ),
];
static SLOWLOG_SUBS: &[Spec] = &[
    c("slowlog|get", -2, ADMIN, NK, slowlog::get),
    c("slowlog|len", 2, ADMIN, NK, slowlog::len),
    c("slowlog|reset", 2, ADMIN, NK, slowlog::reset),
    c("slowlog|help", 2, 0, NK, slowlog::help),
];
static LATENCY_SUBS: &[Spec] = &[
    c("latency|latest", 2, ADMIN | NOSCRIPT, NK, latency::latest),
    c("latency|history", 3, ADMIN | NOSCRIPT, NK, latency::history),
    c("latency|reset", -2, ADMIN | NOSCRIPT, NK, latency::reset),
    c("latency|doctor", 2, ADMIN | NOSCRIPT, NK, latency::doctor),
    c("latency|graph", 3, ADMIN | NOSCRIPT, NK, latency::graph),
    c(
        "latency|histogram",
        -2,
        ADMIN | NOSCRIPT,
        NK,
        latency::histogram::<Table>,
    ),
    c("latency|help", 2, 0, NK, latency::help),
];
static CONFIG_SUBS: &[Spec] = &[
    c("config|help", 2, 0, NK, help::help),
    c("config|get", -3, NOSCRIPT | ADMIN, NK, conn::config_get),
    c("config|set", -4, NOSCRIPT | ADMIN, NK, conn::config_set),
    c(
        "config|resetstat",
        2,
        NOSCRIPT | ADMIN,
        NK,
        conn::config_resetstat,
    ),
    c(
        "config|rewrite",
        2,
        NOSCRIPT | ADMIN,
        NK,
        conn::config_rewrite,
    ),
];
static COMMAND_SUBS: &[Spec] = &[
    c("command|help", 2, 0, NK, help::help),
    c("command|count", 2, 0, NK, conn::command_count::<Table>),
    c("command|getkeys", -4, 0, NK, conn::command_getkeys::<Table>),
    c(
        "command|getkeysandflags",
        -4,
        0,
        NK,
        conn::command_getkeysandflags::<Table>,
    ),
    c("command|docs", -2, 0, NK, conn::command_docs::<Table>),
    c("command|info", -2, 0, NK, conn::command_info::<Table>),
    c("command|list", -2, 0, NK, conn::command_list::<Table>),
];

/// Name to command. ahash, not the std SipHash: this is looked up for every
/// command, and SipHash was about 160 instructions of a GET (callgrind).
/// Keyed by bytes: the request's name is looked up without a UTF-8 check
/// (about 50 instructions per command).
fn index() -> &'static HashMap<&'static [u8], &'static Spec, ahash::RandomState> {
    static IDX: OnceLock<HashMap<&'static [u8], &'static Spec, ahash::RandomState>> =
        OnceLock::new();
    IDX.get_or_init(|| TABLE.iter().map(|s| (s.name.as_bytes(), s)).collect())
}

/// Every runnable name, top-level commands and `parent|sub`, in table order.
fn command_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| TABLE.iter().flat_map(Spec::runnable_names).collect())
}

impl Acl {
    /// [`Acl::new`] over this table's commands. It lives here, not in
    /// `acl`, because only the command layer knows which commands exist.
    pub(crate) fn from_config(
        requirepass: Option<&str>,
        users: &[UserConfig],
    ) -> Result<Acl, String> {
        Acl::new(command_names(), requirepass, users)
    }
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Finds the spec for a request, or the error Redis gives.
pub(crate) fn resolve(argv: &[Bytes]) -> Result<&'static Spec, Reply> {
    lookup(argv).map_err(Unresolved::reply)
}

/// Longest name [`LAST`] keeps.
const LAST_MAX: usize = 16;

thread_local! {
    /// The last command name found, as the client spelled it, and its
    /// spec: clients mostly repeat a command, and comparing its few bytes
    /// costs less than lowercasing and hashing them (about 100 instructions
    /// of the 140 a lookup took, callgrind).
    static LAST: Cell<Option<(&'static Spec, [u8; LAST_MAX], usize)>> = const { Cell::new(None) };
}

/// The spec of `name` if it is spelled as the last one found.
fn last_lookup(name: &[u8]) -> Option<&'static Spec> {
    let (spec, bytes, len) = LAST.get()?;
    (bytes[..len] == *name).then_some(spec)
}

fn remember_lookup(name: &[u8], spec: &'static Spec) {
    if name.len() <= LAST_MAX {
        let mut bytes = [0u8; LAST_MAX];
        bytes[..name.len()].copy_from_slice(name);
        LAST.set(Some((spec, bytes, name.len())));
    }
}

/// Finds the spec for a request, or why there is none.
pub(crate) fn lookup(argv: &[Bytes]) -> Result<&'static Spec, Unresolved> {
    // Lowercase into a stack buffer: this runs for every command.
    let mut buf = [0u8; 32];
    let found = if let Some(spec) = last_lookup(&argv[0]) {
        Some(spec)
    } else if argv[0].len() <= buf.len() {
        let n = argv[0].len();
        for (d, s) in buf[..n].iter_mut().zip(argv[0].iter()) {
            *d = s.to_ascii_lowercase();
        }
        let found = index().get(&buf[..n]).copied();
        if let Some(spec) = found {
            remember_lookup(&argv[0], spec);
        }
        found
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
        return Err(Unresolved::UnknownCommand(format!(
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
                return Err(Unresolved::UnknownSubcommand(format!(
                    "unknown subcommand '{shown}'. Try {} HELP.",
                    spec.name.to_ascii_uppercase()
                )));
            }
        }
    };
    let n = argv.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || n < -spec.arity {
        return Err(Unresolved::WrongArity(spec.name));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use crate::spec::flags::{ADMIN, BLOCKING, DENYOOM, NOSCRIPT, WRITE};

    /// What COMMAND INFO shows (Redis's table) and what the server does
    /// (the spec's flags) agree on the flags both have. (Our `PUBSUB` is
    /// another thing than Redis's `pubsub`: allowed while subscribed.)
    #[test]
    fn specs_agree_with_redis_command_info() {
        let mut differ = Vec::new();
        for spec in super::TABLE
            .iter()
            .flat_map(|s| std::iter::once(s).chain(s.subs.iter()))
        {
            let Some(info) = crate::command_info::info(spec.name) else {
                continue;
            };
            for (bit, name) in [
                (WRITE, "write"),
                (DENYOOM, "denyoom"),
                (ADMIN, "admin"),
                (NOSCRIPT, "noscript"),
                (BLOCKING, "blocking"),
            ] {
                if spec.subs.is_empty() && spec.has(bit) != info.flags.contains(&name) {
                    differ.push(format!("{} {name}", spec.name));
                }
            }
        }
        assert!(differ.is_empty(), "{differ:?}");
    }
}
