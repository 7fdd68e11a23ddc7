//! What Redis 7.0's `COMMAND INFO` shows of each command beyond its name
//! and arity: its flags (`readonly` only where Redis marks it, `loading`,
//! `stale`, `fast`, ...), legacy key range, tips and key specs, as
//! `redis-server` 7.0.15 lists them. The table is generated; `COMMAND INFO`
//! answers from it and `COMMAND GETKEYSANDFLAGS` takes the key-spec flags
//! from it. The conformance test `command_info_matches_redis` compares whole
//! replies with a running `redis-server`.
//!
//! To regenerate, start the `redis-server` to follow on port 7777 and run
//! `python3 scripts/gen_command_info.py 7777 > crates/state/src/command_info/table.rs`
//! (the script lays the table out itself; rustfmt skips it).
//!
//! The behaviour of a command is still decided by its own spec's flags
//! ([`crate::spec::flags`]); the unit test below checks that the two agree
//! on the flags both have.

mod docs;
mod table;

pub(crate) use table::COMMAND_INFO;

/// A part of a COMMAND DOCS reply, in the RESP3 type Redis sends it as
/// (`scripts/gen_command_docs.py` writes `docs.rs` from a running
/// `redis-server` the same way as the table above).
pub(crate) enum DocNode {
    /// `+text`
    Status(&'static str),
    /// Bulk string.
    Bulk(&'static str),
    /// `:n`
    Int(i64),
    /// Array.
    Array(&'static [DocNode]),
    /// Set.
    Set(&'static [DocNode]),
    /// Map with bulk-string keys, in Redis's field order.
    Map(&'static [(&'static str, DocNode)]),
}

/// `name`'s COMMAND DOCS entry without its `subcommands` field (lowercase,
/// `parent|sub` for subcommands).
pub(crate) fn docs(name: &str) -> Option<&'static DocNode> {
    docs::COMMAND_DOCS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| &docs::COMMAND_DOCS[i].1)
}

/// One command's entry (`parent|sub` for subcommands).
pub(crate) struct Info {
    /// Flags in Redis's order.
    pub(crate) flags: &'static [&'static str],
    /// The legacy `(first, last, step)` key range Redis works out from the
    /// key specs (commands with movable keys have one too, unlike their
    /// specs here, whose key finder does the work).
    pub(crate) legacy_keys: (i64, i64, i64),
    /// Tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub(crate) tips: &'static [&'static str],
    /// Key specs in order.
    pub(crate) key_specs: &'static [KeySpec],
}

/// One key spec.
pub(crate) struct KeySpec {
    /// Redis's note, where it has one.
    pub(crate) notes: Option<&'static str>,
    /// The flags joined by spaces (`RW access delete`).
    pub(crate) flags: &'static str,
    /// Where the search for keys begins.
    pub(crate) begin: Begin,
    /// How keys are found from there.
    pub(crate) find: Find,
}

/// A key spec's `begin_search`.
pub(crate) enum Begin {
    /// At a fixed argument.
    Index(i64),
    /// After a keyword, searched from `startfrom` (negative: from the end).
    Keyword(&'static str, i64),
    /// Not described (SORT's BY/GET patterns).
    Unknown,
}

/// A key spec's `find_keys`.
pub(crate) enum Find {
    /// A range of keys.
    Range { lastkey: i64, step: i64, limit: i64 },
    /// A count of keys at `index`, the keys from `first`.
    Keynum { index: i64, first: i64, step: i64 },
    /// Not described.
    Unknown,
}

/// `name`'s entry (lowercase, `parent|sub` for subcommands).
pub(crate) fn info(name: &str) -> Option<&'static Info> {
    COMMAND_INFO
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| &COMMAND_INFO[i].1)
}

/// `name`'s ACL categories in Redis's order (that of `ACL CAT`), each
/// with its `@`.
pub(crate) fn categories(name: &str) -> Vec<String> {
    crate::acl_categories::CATEGORIES
        .iter()
        .filter(|(_, cmds)| cmds.binary_search(&name).is_ok())
        .map(|(cat, _)| format!("@{cat}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_for_binary_search() {
        assert!(super::COMMAND_INFO.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(super::docs::COMMAND_DOCS
            .windows(2)
            .all(|w| w[0].0 < w[1].0));
        assert!(super::docs("get").is_some() && super::docs("client|kill").is_some());
        let get = super::info("get").expect("get");
        assert_eq!(get.flags, ["readonly", "fast"]);
        assert!(super::info("ping")
            .expect("ping")
            .flags
            .iter()
            .all(|f| *f != "readonly"));
        assert_eq!(super::categories("get"), ["@read", "@string", "@fast"]);
    }
}
