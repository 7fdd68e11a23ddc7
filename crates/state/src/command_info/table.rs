//! The generated table; see the parent module.

use super::{Begin, Find, Info, KeySpec};

#[rustfmt::skip]
pub(crate) static COMMAND_INFO: &[(&str, Info)] = &[
    ("acl", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|cat", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|deluser", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|dryrun", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|genpass", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|getuser", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|list", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|load", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|log", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|save", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|setuser", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|users", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("acl|whoami", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("append", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("asking", Info {
        flags: &["fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("auth", Info {
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("bgrewriteaof", Info {
        flags: &["admin", "noscript", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("bgsave", Info {
        flags: &["admin", "noscript", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("bitcount", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("bitfield", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("This command allows both access and modification of the key"), flags: "RW access update variable_flags", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("bitfield_ro", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("bitop", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (2, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(3), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("bitpos", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("blmove", Info {
        flags: &["write", "denyoom", "noscript", "blocking"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("blmpop", Info {
        flags: &["write", "blocking", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("blpop", Info {
        flags: &["write", "noscript", "blocking"],
        legacy_keys: (1, -2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 } },
        ],
    }),
    ("brpop", Info {
        flags: &["write", "noscript", "blocking"],
        legacy_keys: (1, -2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 } },
        ],
    }),
    ("brpoplpush", Info {
        flags: &["write", "denyoom", "noscript", "blocking"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("bzmpop", Info {
        flags: &["write", "blocking", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("bzpopmax", Info {
        flags: &["write", "noscript", "blocking", "fast"],
        legacy_keys: (1, -2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 } },
        ],
    }),
    ("bzpopmin", Info {
        flags: &["write", "noscript", "blocking", "fast"],
        legacy_keys: (1, -2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 } },
        ],
    }),
    ("client", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|caching", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|getname", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|getredir", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|id", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|info", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("client|kill", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|list", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("client|no-evict", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|pause", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|reply", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|setname", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|tracking", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|trackinginfo", Info {
        flags: &["noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|unblock", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("client|unpause", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|addslots", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|addslotsrange", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|bumpepoch", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|count-failure-reports", Info {
        flags: &["admin", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|countkeysinslot", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|delslots", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|delslotsrange", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|failover", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|flushslots", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|forget", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|getkeysinslot", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|info", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|keyslot", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|links", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|meet", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|myid", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|nodes", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|replicas", Info {
        flags: &["admin", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|replicate", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|reset", Info {
        flags: &["admin", "noscript", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|saveconfig", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|set-config-epoch", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|setslot", Info {
        flags: &["admin", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("cluster|shards", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|slaves", Info {
        flags: &["admin", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("cluster|slots", Info {
        flags: &["stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("command", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("command|count", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("command|docs", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("command|getkeys", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("command|getkeysandflags", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("command|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("command|info", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("command|list", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("config", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("config|get", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("config|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("config|resetstat", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("config|rewrite", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("config|set", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("copy", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("dbsize", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:agg_sum"],
        key_specs: &[],
    }),
    ("debug", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("decr", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("decrby", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("del", Info {
        flags: &["write"],
        legacy_keys: (1, -1, 1),
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[
            KeySpec { notes: None, flags: "RM delete", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("discard", Info {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("dump", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("echo", Info {
        flags: &["loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("eval", Info {
        flags: &["noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"), flags: "RW access update", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("eval_ro", Info {
        flags: &["readonly", "noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"), flags: "RO access", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("evalsha", Info {
        flags: &["noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("evalsha_ro", Info {
        flags: &["readonly", "noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("exec", Info {
        flags: &["noscript", "loading", "stale", "skip_slowlog"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("exists", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, -1, 1),
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("expire", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("expireat", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("expiretime", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("failover", Info {
        flags: &["admin", "noscript", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("fcall", Info {
        flags: &["noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"), flags: "RW access update", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("fcall_ro", Info {
        flags: &["readonly", "noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"), flags: "RO access", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("flushall", Info {
        flags: &["write"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("flushdb", Info {
        flags: &["write"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("function", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("function|delete", Info {
        flags: &["write", "noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("function|dump", Info {
        flags: &["noscript"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("function|flush", Info {
        flags: &["write", "noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("function|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("function|kill", Info {
        flags: &["noscript", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
        key_specs: &[],
    }),
    ("function|list", Info {
        flags: &["noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("function|load", Info {
        flags: &["write", "denyoom", "noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("function|restore", Info {
        flags: &["write", "denyoom", "noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("function|stats", Info {
        flags: &["noscript", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        key_specs: &[],
    }),
    ("geoadd", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("geodist", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("geohash", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("geopos", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("georadius", Info {
        flags: &["write", "denyoom", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW update", begin: Begin::Keyword("STORE", 6), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW update", begin: Begin::Keyword("STOREDIST", 6), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("georadius_ro", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("georadiusbymember", Info {
        flags: &["write", "denyoom", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW update", begin: Begin::Keyword("STORE", 5), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW update", begin: Begin::Keyword("STOREDIST", 5), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("georadiusbymember_ro", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("geosearch", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("geosearchstore", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("get", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("getbit", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("getdel", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("getex", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("RW and UPDATE because it changes the TTL"), flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("getrange", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("getset", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hdel", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hello", Info {
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("hexists", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hget", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hgetall", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hincrby", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hincrbyfloat", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hkeys", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hlen", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hmget", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hmset", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hrandfield", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hscan", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hset", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hsetnx", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hstrlen", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("hvals", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("incr", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("incrby", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("incrbyfloat", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("info", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        key_specs: &[],
    }),
    ("keys", Info {
        flags: &["readonly"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("lastsave", Info {
        flags: &["loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("latency", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("latency|doctor", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        key_specs: &[],
    }),
    ("latency|graph", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        key_specs: &[],
    }),
    ("latency|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("latency|histogram", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        key_specs: &[],
    }),
    ("latency|history", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        key_specs: &[],
    }),
    ("latency|latest", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        key_specs: &[],
    }),
    ("latency|reset", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("lcs", Info {
        flags: &["readonly"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 1, step: 1, limit: 0 } },
        ],
    }),
    ("lindex", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("linsert", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("llen", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lmove", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lmpop", Info {
        flags: &["write", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("lolwut", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("lpop", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lpos", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lpush", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lpushx", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lrange", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lrem", Info {
        flags: &["write"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("lset", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("ltrim", Info {
        flags: &["write"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("memory", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("memory|doctor", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        key_specs: &[],
    }),
    ("memory|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("memory|malloc-stats", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        key_specs: &[],
    }),
    ("memory|purge", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("memory|stats", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        key_specs: &[],
    }),
    ("memory|usage", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("mget", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, -1, 1),
        tips: &["request_policy:multi_shard"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("migrate", Info {
        flags: &["write", "movablekeys"],
        legacy_keys: (3, 3, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(3), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RW access delete incomplete", begin: Begin::Keyword("KEYS", -2), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("module", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("module|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("module|list", Info {
        flags: &["admin", "noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
    }),
    ("module|load", Info {
        flags: &["admin", "noscript", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("module|loadex", Info {
        flags: &["admin", "noscript", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("module|unload", Info {
        flags: &["admin", "noscript", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("monitor", Info {
        flags: &["admin", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("move", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("mset", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, -1, 2),
        tips: &["request_policy:multi_shard", "response_policy:all_succeeded"],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 2, limit: 0 } },
        ],
    }),
    ("msetnx", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, -1, 2),
        tips: &["request_policy:multi_shard", "response_policy:agg_min"],
        key_specs: &[
            KeySpec { notes: None, flags: "OW insert", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 2, limit: 0 } },
        ],
    }),
    ("multi", Info {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("object", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("object|encoding", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("object|freq", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("object|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("object|idletime", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("object|refcount", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("persist", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("pexpire", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("pexpireat", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("pexpiretime", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("pfadd", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("pfcount", Info {
        flags: &["readonly"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("RW because it may change the internal representation of the key, and propagate to replicas"), flags: "RW access", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("pfdebug", Info {
        flags: &["write", "denyoom", "admin"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("pfmerge", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("pfselftest", Info {
        flags: &["admin"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("ping", Info {
        flags: &["fast"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("psetex", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("psubscribe", Info {
        flags: &["pubsub", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("psync", Info {
        flags: &["admin", "noscript", "no_async_loading", "no_multi"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pttl", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("publish", Info {
        flags: &["pubsub", "loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub|channels", Info {
        flags: &["pubsub", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub|numpat", Info {
        flags: &["pubsub", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub|numsub", Info {
        flags: &["pubsub", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub|shardchannels", Info {
        flags: &["pubsub", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("pubsub|shardnumsub", Info {
        flags: &["pubsub", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("punsubscribe", Info {
        flags: &["pubsub", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("quit", Info {
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("randomkey", Info {
        flags: &["readonly"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "nondeterministic_output"],
        key_specs: &[],
    }),
    ("readonly", Info {
        flags: &["loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("readwrite", Info {
        flags: &["loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("rename", Info {
        flags: &["write"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("renamenx", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "OW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("replconf", Info {
        flags: &["admin", "noscript", "loading", "stale", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("replicaof", Info {
        flags: &["admin", "noscript", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("reset", Info {
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("restore", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("restore-asking", Info {
        flags: &["write", "denyoom", "asking"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("role", Info {
        flags: &["noscript", "loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("rpop", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("rpoplpush", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("rpush", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("rpushx", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("sadd", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("save", Info {
        flags: &["admin", "noscript", "no_async_loading", "no_multi"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("scan", Info {
        flags: &["readonly"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output", "request_policy:special"],
        key_specs: &[],
    }),
    ("scard", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("script", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("script|debug", Info {
        flags: &["noscript"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("script|exists", Info {
        flags: &["noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:agg_logical_and"],
        key_specs: &[],
    }),
    ("script|flush", Info {
        flags: &["noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("script|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("script|kill", Info {
        flags: &["noscript", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
        key_specs: &[],
    }),
    ("script|load", Info {
        flags: &["noscript", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("sdiff", Info {
        flags: &["readonly"],
        legacy_keys: (1, -1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("sdiffstore", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("select", Info {
        flags: &["loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("set", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: Some("RW and ACCESS due to the optional `GET` argument"), flags: "RW access update variable_flags", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("setbit", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("setex", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("setnx", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW insert", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("setrange", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("shutdown", Info {
        flags: &["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("sinter", Info {
        flags: &["readonly"],
        legacy_keys: (1, -1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("sintercard", Info {
        flags: &["readonly", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("sinterstore", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("sismember", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("slaveof", Info {
        flags: &["admin", "noscript", "stale", "no_async_loading"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("slowlog", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("slowlog|get", Info {
        flags: &["admin", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "nondeterministic_output"],
        key_specs: &[],
    }),
    ("slowlog|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("slowlog|len", Info {
        flags: &["admin", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"],
        key_specs: &[],
    }),
    ("slowlog|reset", Info {
        flags: &["admin", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
    }),
    ("smembers", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("smismember", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("smove", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("sort", Info {
        flags: &["write", "denyoom", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: Some("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), flags: "RO access", begin: Begin::Unknown, find: Find::Unknown },
            KeySpec { notes: Some("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array"), flags: "OW update", begin: Begin::Unknown, find: Find::Unknown },
        ],
    }),
    ("sort_ro", Info {
        flags: &["readonly", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: Some("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), flags: "RO access", begin: Begin::Unknown, find: Find::Unknown },
        ],
    }),
    ("spop", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("spublish", Info {
        flags: &["pubsub", "loading", "stale", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "not_key", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("srandmember", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("srem", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("sscan", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("ssubscribe", Info {
        flags: &["pubsub", "noscript", "loading", "stale"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "not_key", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("strlen", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("subscribe", Info {
        flags: &["pubsub", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("substr", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("sunion", Info {
        flags: &["readonly"],
        legacy_keys: (1, -1, 1),
        tips: &["nondeterministic_output_order"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("sunionstore", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("sunsubscribe", Info {
        flags: &["pubsub", "noscript", "loading", "stale"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "not_key", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("swapdb", Info {
        flags: &["write", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("sync", Info {
        flags: &["admin", "noscript", "no_async_loading", "no_multi"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("time", Info {
        flags: &["loading", "stale", "fast"],
        legacy_keys: (0, 0, 0),
        tips: &["nondeterministic_output"],
        key_specs: &[],
    }),
    ("touch", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, -1, 1),
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("ttl", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("type", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("unlink", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, -1, 1),
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[
            KeySpec { notes: None, flags: "RM delete", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("unsubscribe", Info {
        flags: &["pubsub", "noscript", "loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("unwatch", Info {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("wait", Info {
        flags: &["noscript"],
        legacy_keys: (0, 0, 0),
        tips: &["request_policy:all_shards", "response_policy:agg_min"],
        key_specs: &[],
    }),
    ("watch", Info {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        legacy_keys: (1, -1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 } },
        ],
    }),
    ("xack", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xadd", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: Some("UPDATE instead of INSERT because of the optional trimming feature"), flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xautoclaim", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xclaim", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xdel", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xgroup", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("xgroup|create", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xgroup|createconsumer", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW insert", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xgroup|delconsumer", Info {
        flags: &["write"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xgroup|destroy", Info {
        flags: &["write"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xgroup|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("xgroup|setid", Info {
        flags: &["write"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xinfo", Info {
        flags: &[],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("xinfo|consumers", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xinfo|groups", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xinfo|help", Info {
        flags: &["loading", "stale"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[],
    }),
    ("xinfo|stream", Info {
        flags: &["readonly"],
        legacy_keys: (2, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xlen", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xpending", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xrange", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xread", Info {
        flags: &["readonly", "blocking", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Keyword("STREAMS", 1), find: Find::Range { lastkey: -1, step: 1, limit: 2 } },
        ],
    }),
    ("xreadgroup", Info {
        flags: &["write", "blocking", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Keyword("STREAMS", 4), find: Find::Range { lastkey: -1, step: 1, limit: 2 } },
        ],
    }),
    ("xrevrange", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xsetid", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("xtrim", Info {
        flags: &["write"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zadd", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zcard", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zcount", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zdiff", Info {
        flags: &["readonly", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zdiffstore", Info {
        flags: &["write", "denyoom", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zincrby", Info {
        flags: &["write", "denyoom", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zinter", Info {
        flags: &["readonly", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zintercard", Info {
        flags: &["readonly", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zinterstore", Info {
        flags: &["write", "denyoom", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zlexcount", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zmpop", Info {
        flags: &["write", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zmscore", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zpopmax", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zpopmin", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW access delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrandmember", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrange", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrangebylex", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrangebyscore", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrangestore", Info {
        flags: &["write", "denyoom"],
        legacy_keys: (1, 2, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrank", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrem", Info {
        flags: &["write", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zremrangebylex", Info {
        flags: &["write"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zremrangebyrank", Info {
        flags: &["write"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zremrangebyscore", Info {
        flags: &["write"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RW delete", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrevrange", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrevrangebylex", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrevrangebyscore", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zrevrank", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zscan", Info {
        flags: &["readonly"],
        legacy_keys: (1, 1, 1),
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zscore", Info {
        flags: &["readonly", "fast"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
        ],
    }),
    ("zunion", Info {
        flags: &["readonly", "movablekeys"],
        legacy_keys: (0, 0, 0),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(1), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
    ("zunionstore", Info {
        flags: &["write", "denyoom", "movablekeys"],
        legacy_keys: (1, 1, 1),
        tips: &[],
        key_specs: &[
            KeySpec { notes: None, flags: "OW update", begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 } },
            KeySpec { notes: None, flags: "RO access", begin: Begin::Index(2), find: Find::Keynum { index: 0, first: 1, step: 1 } },
        ],
    }),
];
