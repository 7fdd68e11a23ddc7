//! Redis 7.0's key-spec flags: for every command with keys, the flags of
//! each of its key specs in order (`RW access delete`, ...), as
//! `redis-server` 7.0.15 lists them in `COMMAND`. Generated; do not edit by
//! hand. `COMMAND GETKEYSANDFLAGS` answers from it; the conformance test
//! `command_getkeys` compares the answers with a running `redis-server`.
//!
//! To regenerate, start the `redis-server` to follow on port 7777, and from
//! its `COMMAND` reply take each entry (and subcommand entry) with key specs:
//! its name and each spec's `flags` joined by spaces, sorted by name
//! (the script that did it: a raw-RESP read of `COMMAND`, element 8 of each
//! entry, element 9 for the subcommands), then `rustfmt`.

/// Command name (`parent|sub` for subcommands) to its key specs' flags,
/// sorted by name for a binary search.
pub(crate) static KEY_FLAGS: &[(&str, &[&str])] = &[
    ("append", &["RW insert"]),
    ("bitcount", &["RO access"]),
    ("bitfield", &["RW access update variable_flags"]),
    ("bitfield_ro", &["RO access"]),
    ("bitop", &["OW update", "RO access"]),
    ("bitpos", &["RO access"]),
    ("blmove", &["RW access delete", "RW insert"]),
    ("blmpop", &["RW access delete"]),
    ("blpop", &["RW access delete"]),
    ("brpop", &["RW access delete"]),
    ("brpoplpush", &["RW access delete", "RW insert"]),
    ("bzmpop", &["RW access delete"]),
    ("bzpopmax", &["RW access delete"]),
    ("bzpopmin", &["RW access delete"]),
    ("copy", &["RO access", "OW update"]),
    ("decr", &["RW access update"]),
    ("decrby", &["RW access update"]),
    ("del", &["RM delete"]),
    ("dump", &["RO access"]),
    ("eval", &["RW access update"]),
    ("eval_ro", &["RO access"]),
    ("evalsha", &["RW access update"]),
    ("evalsha_ro", &["RO access"]),
    ("exists", &["RO"]),
    ("expire", &["RW update"]),
    ("expireat", &["RW update"]),
    ("expiretime", &["RO access"]),
    ("fcall", &["RW access update"]),
    ("fcall_ro", &["RO access"]),
    ("geoadd", &["RW update"]),
    ("geodist", &["RO access"]),
    ("geohash", &["RO access"]),
    ("geopos", &["RO access"]),
    ("georadius", &["RO access", "OW update", "OW update"]),
    ("georadius_ro", &["RO access"]),
    (
        "georadiusbymember",
        &["RO access", "OW update", "OW update"],
    ),
    ("georadiusbymember_ro", &["RO access"]),
    ("geosearch", &["RO access"]),
    ("geosearchstore", &["OW update", "RO access"]),
    ("get", &["RO access"]),
    ("getbit", &["RO access"]),
    ("getdel", &["RW access delete"]),
    ("getex", &["RW access update"]),
    ("getrange", &["RO access"]),
    ("getset", &["RW access update"]),
    ("hdel", &["RW delete"]),
    ("hexists", &["RO"]),
    ("hget", &["RO access"]),
    ("hgetall", &["RO access"]),
    ("hincrby", &["RW access update"]),
    ("hincrbyfloat", &["RW access update"]),
    ("hkeys", &["RO access"]),
    ("hlen", &["RO"]),
    ("hmget", &["RO access"]),
    ("hmset", &["RW update"]),
    ("hrandfield", &["RO access"]),
    ("hscan", &["RO access"]),
    ("hset", &["RW update"]),
    ("hsetnx", &["RW insert"]),
    ("hstrlen", &["RO"]),
    ("hvals", &["RO access"]),
    ("incr", &["RW access update"]),
    ("incrby", &["RW access update"]),
    ("incrbyfloat", &["RW access update"]),
    ("lcs", &["RO access"]),
    ("lindex", &["RO access"]),
    ("linsert", &["RW insert"]),
    ("llen", &["RO"]),
    ("lmove", &["RW access delete", "RW insert"]),
    ("lmpop", &["RW access delete"]),
    ("lpop", &["RW access delete"]),
    ("lpos", &["RO access"]),
    ("lpush", &["RW insert"]),
    ("lpushx", &["RW insert"]),
    ("lrange", &["RO access"]),
    ("lrem", &["RW delete"]),
    ("lset", &["RW update"]),
    ("ltrim", &["RW delete"]),
    ("memory|usage", &["RO"]),
    ("mget", &["RO access"]),
    (
        "migrate",
        &["RW access delete", "RW access delete incomplete"],
    ),
    ("move", &["RW access update"]),
    ("mset", &["OW update"]),
    ("msetnx", &["OW insert"]),
    ("object|encoding", &["RO"]),
    ("object|freq", &["RO"]),
    ("object|idletime", &["RO"]),
    ("object|refcount", &["RO"]),
    ("persist", &["RW update"]),
    ("pexpire", &["RW update"]),
    ("pexpireat", &["RW update"]),
    ("pexpiretime", &["RO access"]),
    ("pfadd", &["RW insert"]),
    ("pfcount", &["RW access"]),
    ("pfdebug", &["RW access"]),
    ("pfmerge", &["RW access insert", "RO access"]),
    ("psetex", &["OW update"]),
    ("pttl", &["RO access"]),
    ("rename", &["RW access delete", "OW update"]),
    ("renamenx", &["RW access delete", "OW insert"]),
    ("restore", &["OW update"]),
    ("restore-asking", &["OW update"]),
    ("rpop", &["RW access delete"]),
    ("rpoplpush", &["RW access delete", "RW insert"]),
    ("rpush", &["RW insert"]),
    ("rpushx", &["RW insert"]),
    ("sadd", &["RW insert"]),
    ("scard", &["RO"]),
    ("sdiff", &["RO access"]),
    ("sdiffstore", &["OW update", "RO access"]),
    ("set", &["RW access update variable_flags"]),
    ("setbit", &["RW access update"]),
    ("setex", &["OW update"]),
    ("setnx", &["OW insert"]),
    ("setrange", &["RW update"]),
    ("sinter", &["RO access"]),
    ("sintercard", &["RO access"]),
    ("sinterstore", &["RW update", "RO access"]),
    ("sismember", &["RO"]),
    ("smembers", &["RO access"]),
    ("smismember", &["RO access"]),
    ("smove", &["RW access delete", "RW insert"]),
    ("sort", &["RO access", "RO access", "OW update"]),
    ("sort_ro", &["RO access", "RO access"]),
    ("spop", &["RW access delete"]),
    ("spublish", &["not_key"]),
    ("srandmember", &["RO access"]),
    ("srem", &["RW delete"]),
    ("sscan", &["RO access"]),
    ("ssubscribe", &["not_key"]),
    ("strlen", &["RO"]),
    ("substr", &["RO access"]),
    ("sunion", &["RO access"]),
    ("sunionstore", &["OW update", "RO access"]),
    ("sunsubscribe", &["not_key"]),
    ("touch", &["RO"]),
    ("ttl", &["RO access"]),
    ("type", &["RO"]),
    ("unlink", &["RM delete"]),
    ("watch", &["RO"]),
    ("xack", &["RW update"]),
    ("xadd", &["RW update"]),
    ("xautoclaim", &["RW delete"]),
    ("xclaim", &["RW update"]),
    ("xdel", &["RW delete"]),
    ("xgroup|create", &["RW insert"]),
    ("xgroup|createconsumer", &["RW insert"]),
    ("xgroup|delconsumer", &["RW delete"]),
    ("xgroup|destroy", &["RW delete"]),
    ("xgroup|setid", &["RW update"]),
    ("xinfo|consumers", &["RO access"]),
    ("xinfo|groups", &["RO access"]),
    ("xinfo|stream", &["RO access"]),
    ("xlen", &["RO"]),
    ("xpending", &["RO access"]),
    ("xrange", &["RO access"]),
    ("xread", &["RO access"]),
    ("xreadgroup", &["RO access"]),
    ("xrevrange", &["RO access"]),
    ("xsetid", &["RW update"]),
    ("xtrim", &["RW delete"]),
    ("zadd", &["RW update"]),
    ("zcard", &["RO"]),
    ("zcount", &["RO access"]),
    ("zdiff", &["RO access"]),
    ("zdiffstore", &["OW update", "RO access"]),
    ("zincrby", &["RW access update"]),
    ("zinter", &["RO access"]),
    ("zintercard", &["RO access"]),
    ("zinterstore", &["OW update", "RO access"]),
    ("zlexcount", &["RO access"]),
    ("zmpop", &["RW access delete"]),
    ("zmscore", &["RO access"]),
    ("zpopmax", &["RW access delete"]),
    ("zpopmin", &["RW access delete"]),
    ("zrandmember", &["RO access"]),
    ("zrange", &["RO access"]),
    ("zrangebylex", &["RO access"]),
    ("zrangebyscore", &["RO access"]),
    ("zrangestore", &["OW update", "RO access"]),
    ("zrank", &["RO access"]),
    ("zrem", &["RW delete"]),
    ("zremrangebylex", &["RW delete"]),
    ("zremrangebyrank", &["RW delete"]),
    ("zremrangebyscore", &["RW delete"]),
    ("zrevrange", &["RO access"]),
    ("zrevrangebylex", &["RO access"]),
    ("zrevrangebyscore", &["RO access"]),
    ("zrevrank", &["RO access"]),
    ("zscan", &["RO access"]),
    ("zscore", &["RO access"]),
    ("zunion", &["RO access"]),
    ("zunionstore", &["OW update", "RO access"]),
];

/// The flags of `name`'s key specs, if Redis gives it any.
pub(crate) fn key_flags(name: &str) -> Option<&'static [&'static str]> {
    KEY_FLAGS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| KEY_FLAGS[i].1)
}

/// The flags Redis shows for the `n`th key of a request to `name`, whose
/// key specs' flags are `specs`: the first key's spec is the first, later
/// keys' the last. `incomplete` and `variable_flags` describe the spec, not
/// the key, and are dropped; the `variable_flags` commands (SET, BITFIELD)
/// get the flags Redis's `setGetKeys` / `bitfieldGetKeys` work out from the
/// arguments.
pub(crate) fn flags_for(
    name: &str,
    specs: &[&'static str],
    n: usize,
    argv: &[bytes::Bytes],
) -> Vec<&'static str> {
    let Some(spec) = (if n == 0 { specs.first() } else { specs.last() }) else {
        return Vec::new();
    };
    if spec.contains("variable_flags") {
        let is = |b: &bytes::Bytes, w: &str| b.eq_ignore_ascii_case(w.as_bytes());
        let rw = match name {
            // SET ... GET reads the old value.
            "set" => argv.iter().skip(3).any(|x| is(x, "get")),
            // BITFIELD with only GET (and OVERFLOW) subcommands is a read.
            _ => {
                let mut i = 2;
                let mut write = false;
                while i < argv.len() {
                    let rem = argv.len() - i - 1;
                    if is(&argv[i], "get") && rem >= 2 {
                        i += 3;
                    } else if is(&argv[i], "overflow") && rem >= 1 {
                        i += 2;
                    } else {
                        // SET / INCRBY, or a syntax error: Redis assumes a write.
                        write = true;
                        break;
                    }
                }
                return if write {
                    vec!["RW", "access", "update"]
                } else {
                    vec!["RO", "access"]
                };
            }
        };
        return if rw {
            vec!["RW", "access", "update"]
        } else {
            vec!["OW", "update"]
        };
    }
    spec.split(' ')
        .filter(|f| *f != "incomplete" && *f != "variable_flags")
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_for_binary_search() {
        assert!(super::KEY_FLAGS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            super::key_flags("lmove"),
            Some(&["RW access delete", "RW insert"][..])
        );
        assert_eq!(super::key_flags("ping"), None);
    }
}
