//! The rest of Redis 7.0's configuration parameters: every one it lists in
//! `CONFIG GET *` is accepted by CONFIG SET, validated as Redis validates
//! its kind (yes/no, integer in bounds, memory value, one of a list, free
//! string; immutable ones refused) and reported back by CONFIG GET, though
//! most change nothing here. The parameters that do something here are
//! handled in `conn.rs`; this table is only consulted for the others.

use crate::config::parse_memory;

const I32_MAX: i64 = i32::MAX as i64;
const I32_MIN: i64 = i32::MIN as i64;
const U32_MAX: i64 = u32::MAX as i64;

/// How a parameter's value is checked.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Bool,
    Int(i64, i64),
    Mem,
    Enum(&'static [&'static str]),
    Str,
}

pub(super) struct Param {
    pub(super) name: &'static str,
    kind: Kind,
    pub(super) default: &'static str,
    mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> Param {
    Param {
        name,
        kind,
        default,
        mutable,
    }
}

/// The parameter `name` (lowercase) stands for, aliases resolved.
pub(super) fn find(name: &str) -> Option<&'static Param> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, b)| b);
    PARAMS.iter().find(|x| x.name == name)
}

/// Why Redis refuses CONFIG SET of a parameter (immutable, or protected
/// while enable-protected-configs is off, as it is by default).
pub(super) fn refusal(name: &str) -> Option<&'static str> {
    match name {
        "databases" => Some("can't set immutable config"),
        // Protected in Redis 7.0 (enable-protected-configs is off by default).
        "dir" | "dbfilename" => Some("can't set protected config"),
        _ => None,
    }
}

/// Every listed name (aliases included) with the parameter it reads.
pub(super) fn all() -> impl Iterator<Item = (&'static str, &'static Param)> {
    PARAMS.iter().map(|x| (x.name, x)).chain(
        ALIASES
            .iter()
            .filter_map(|(a, b)| PARAMS.iter().find(|x| x.name == *b).map(|x| (*a, x))),
    )
}

/// The value to store, or Redis's reason for refusing it.
pub(super) fn check(param: &Param, val: &str) -> Result<String, String> {
    if !param.mutable {
        return Err("can't set immutable config".into());
    }
    match param.kind {
        Kind::Bool => {
            if val.eq_ignore_ascii_case("yes") {
                Ok("yes".into())
            } else if val.eq_ignore_ascii_case("no") {
                Ok("no".into())
            } else {
                Err("argument must be 'yes' or 'no'".into())
            }
        }
        Kind::Int(lo, hi) => {
            let n: i64 = crate::resp::parse_i64(val.as_bytes())
                .ok_or("argument couldn't be parsed into an integer")?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n.to_string())
        }
        Kind::Mem => {
            let n = parse_memory(val).ok_or("argument must be a memory value")?;
            if n > i64::MAX as u64 {
                return Err(format!(
                    "argument must be between 0 and {} inclusive",
                    i64::MAX
                ));
            }
            Ok(n.to_string())
        }
        Kind::Enum(names) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(val))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            }),
        Kind::Str => Ok(val.to_string()),
    }
}

static PARAMS: &[Param] = &[
    p(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        true,
    ),
    p("aclfile", Kind::Str, "", false),
    p("acllog-max-len", Kind::Int(0, i64::MAX), "128", true),
    p("active-defrag-cycle-max", Kind::Int(1, 99), "25", true),
    p("active-defrag-cycle-min", Kind::Int(1, 99), "1", true),
    p("active-defrag-ignore-bytes", Kind::Mem, "104857600", true),
    p(
        "active-defrag-max-scan-fields",
        Kind::Int(1, i64::MAX),
        "1000",
        true,
    ),
    p(
        "active-defrag-threshold-lower",
        Kind::Int(0, 1000),
        "10",
        true,
    ),
    p(
        "active-defrag-threshold-upper",
        Kind::Int(0, 1000),
        "100",
        true,
    ),
    p("active-expire-effort", Kind::Int(1, 10), "1", true),
    p("activedefrag", Kind::Bool, "no", true),
    p("activerehashing", Kind::Bool, "yes", true),
    p("always-show-logo", Kind::Bool, "no", false),
    p("aof-disable-auto-gc", Kind::Bool, "no", true),
    p("aof-load-truncated", Kind::Bool, "yes", true),
    p("aof-rewrite-incremental-fsync", Kind::Bool, "yes", true),
    p("aof-timestamp-enabled", Kind::Bool, "no", true),
    p("aof-use-rdb-preamble", Kind::Bool, "yes", true),
    p("aof_rewrite_cpulist", Kind::Str, "", false),
    p("appenddirname", Kind::Str, "appendonlydir", false),
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("bgsave_cpulist", Kind::Str, "", false),
    p("bind-source-addr", Kind::Str, "", true),
    p("bio_cpulist", Kind::Str, "", false),
    p(
        "cluster-allow-pubsubshard-when-down",
        Kind::Bool,
        "yes",
        true,
    ),
    p("cluster-allow-reads-when-down", Kind::Bool, "no", true),
    p("cluster-allow-replica-migration", Kind::Bool, "yes", true),
    p("cluster-announce-bus-port", Kind::Int(0, 65535), "0", true),
    p("cluster-announce-hostname", Kind::Str, "", true),
    p("cluster-announce-ip", Kind::Str, "", true),
    p("cluster-announce-port", Kind::Int(0, 65535), "0", true),
    p("cluster-announce-tls-port", Kind::Int(0, 65535), "0", true),
    p("cluster-config-file", Kind::Str, "nodes.conf", false),
    p("cluster-enabled", Kind::Bool, "no", false),
    p("cluster-link-sendbuf-limit", Kind::Mem, "0", true),
    p(
        "cluster-migration-barrier",
        Kind::Int(0, I32_MAX),
        "1",
        true,
    ),
    p(
        "cluster-node-timeout",
        Kind::Int(0, i64::MAX),
        "15000",
        true,
    ),
    p("cluster-port", Kind::Int(0, 65535), "0", false),
    p(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
        true,
    ),
    p("cluster-replica-no-failover", Kind::Bool, "no", true),
    p(
        "cluster-replica-validity-factor",
        Kind::Int(0, I32_MAX),
        "10",
        true,
    ),
    p("cluster-require-full-coverage", Kind::Bool, "yes", true),
    p("crash-log-enabled", Kind::Bool, "yes", true),
    p("crash-memcheck-enabled", Kind::Bool, "yes", true),
    p("daemonize", Kind::Bool, "no", false),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    p("disable-thp", Kind::Bool, "yes", false),
    p("dynamic-hz", Kind::Bool, "yes", true),
    p("enable-debug-command", Kind::Bool, "no", false),
    p("enable-module-command", Kind::Bool, "no", false),
    p("enable-protected-configs", Kind::Bool, "no", false),
    p(
        "hash-max-listpack-entries",
        Kind::Int(0, i64::MAX),
        "512",
        true,
    ),
    p("hash-max-listpack-value", Kind::Mem, "64", true),
    p("hll-sparse-max-bytes", Kind::Mem, "3000", true),
    p("hz", Kind::Int(0, I32_MAX), "10", true),
    p("ignore-warnings", Kind::Str, "", true),
    p("io-threads", Kind::Int(1, 128), "1", false),
    p("io-threads-do-reads", Kind::Bool, "no", false),
    p("jemalloc-bg-thread", Kind::Bool, "yes", true),
    p(
        "latency-monitor-threshold",
        Kind::Int(0, i64::MAX),
        "0",
        true,
    ),
    p("latency-tracking", Kind::Bool, "yes", true),
    p(
        "latency-tracking-info-percentiles",
        Kind::Str,
        "50 99 99.9",
        true,
    ),
    p("lazyfree-lazy-eviction", Kind::Bool, "no", true),
    p("lazyfree-lazy-expire", Kind::Bool, "no", true),
    p("lazyfree-lazy-server-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-flush", Kind::Bool, "no", true),
    p("lfu-decay-time", Kind::Int(0, I32_MAX), "1", true),
    p("lfu-log-factor", Kind::Int(0, I32_MAX), "10", true),
    p("list-compress-depth", Kind::Int(0, I32_MAX), "0", true),
    p(
        "list-max-listpack-size",
        Kind::Int(I32_MIN, I32_MAX),
        "-2",
        true,
    ),
    p("logfile", Kind::Str, "", false),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        true,
    ),
    p("masterauth", Kind::Str, "", true),
    p("masteruser", Kind::Str, "", true),
    p("maxmemory-clients", Kind::Mem, "0", true),
    p("maxmemory-eviction-tenacity", Kind::Int(0, 100), "10", true),
    p("min-replicas-max-lag", Kind::Int(0, I32_MAX), "10", true),
    p("min-replicas-to-write", Kind::Int(0, I32_MAX), "0", true),
    p("no-appendfsync-on-rewrite", Kind::Bool, "no", true),
    p(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
        true,
    ),
    p("oom-score-adj-values", Kind::Str, "0 200 800", true),
    p("pidfile", Kind::Str, "", false),
    p(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
        true,
    ),
    p(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        true,
    ),
    p("rdb-del-sync-files", Kind::Bool, "no", true),
    p("rdb-save-incremental-fsync", Kind::Bool, "yes", true),
    p("rdbchecksum", Kind::Bool, "yes", false),
    p("rdbcompression", Kind::Bool, "yes", true),
    p("repl-backlog-size", Kind::Mem, "1048576", true),
    p("repl-backlog-ttl", Kind::Int(0, I32_MAX), "3600", true),
    p("repl-disable-tcp-nodelay", Kind::Bool, "no", true),
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        true,
    ),
    p("repl-diskless-sync", Kind::Bool, "yes", true),
    p("repl-diskless-sync-delay", Kind::Int(0, I32_MAX), "5", true),
    p(
        "repl-diskless-sync-max-replicas",
        Kind::Int(0, I32_MAX),
        "0",
        true,
    ),
    p(
        "repl-ping-replica-period",
        Kind::Int(1, I32_MAX),
        "10",
        true,
    ),
    p("repl-timeout", Kind::Int(1, I32_MAX), "60", true),
    p("replica-announce-ip", Kind::Str, "", true),
    p("replica-announce-port", Kind::Int(0, 65535), "0", true),
    p("replica-announced", Kind::Bool, "yes", true),
    p("replica-ignore-disk-write-errors", Kind::Bool, "no", true),
    p("replica-ignore-maxmemory", Kind::Bool, "yes", true),
    p("replica-lazy-flush", Kind::Bool, "no", true),
    p("replica-priority", Kind::Int(0, I32_MAX), "100", true),
    p("replica-read-only", Kind::Bool, "yes", true),
    p("replica-serve-stale-data", Kind::Bool, "yes", true),
    p("replicaof", Kind::Str, "", false),
    p(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
        true,
    ),
    p("server_cpulist", Kind::Str, "", false),
    p(
        "set-max-intset-entries",
        Kind::Int(0, i64::MAX),
        "512",
        true,
    ),
    p("set-proc-title", Kind::Bool, "yes", false),
    p("shutdown-on-sigint", Kind::Str, "default", true),
    p("shutdown-on-sigterm", Kind::Str, "default", true),
    p("shutdown-timeout", Kind::Int(0, I32_MAX), "10", true),
    p(
        "slowlog-log-slower-than",
        Kind::Int(-1, i64::MAX),
        "10000",
        true,
    ),
    p("slowlog-max-len", Kind::Int(0, i64::MAX), "128", true),
    p("socket-mark-id", Kind::Int(0, U32_MAX), "0", false),
    p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true),
    p("stream-node-max-bytes", Kind::Mem, "4096", true),
    p(
        "stream-node-max-entries",
        Kind::Int(0, i64::MAX),
        "100",
        true,
    ),
    p(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        false,
    ),
    p("syslog-enabled", Kind::Bool, "no", false),
    p(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
        false,
    ),
    p("syslog-ident", Kind::Str, "redis", false),
    p("tcp-backlog", Kind::Int(0, I32_MAX), "511", false),
    p("tcp-keepalive", Kind::Int(0, I32_MAX), "300", true),
    p("tls-auth-clients", Kind::Bool, "yes", true),
    p("tls-ca-cert-dir", Kind::Str, "", true),
    p("tls-ca-cert-file", Kind::Str, "", true),
    p("tls-cert-file", Kind::Str, "", true),
    p("tls-ciphers", Kind::Str, "", true),
    p("tls-ciphersuites", Kind::Str, "", true),
    p("tls-client-cert-file", Kind::Str, "", true),
    p("tls-client-key-file", Kind::Str, "", true),
    p("tls-client-key-file-pass", Kind::Str, "", true),
    p("tls-cluster", Kind::Bool, "no", true),
    p("tls-dh-params-file", Kind::Str, "", true),
    p("tls-key-file", Kind::Str, "", true),
    p("tls-key-file-pass", Kind::Str, "", true),
    p("tls-port", Kind::Int(0, 65535), "0", true),
    p("tls-prefer-server-ciphers", Kind::Bool, "no", true),
    p("tls-protocols", Kind::Str, "", true),
    p("tls-replication", Kind::Bool, "no", true),
    p(
        "tls-session-cache-size",
        Kind::Int(0, I32_MAX),
        "20480",
        true,
    ),
    p(
        "tls-session-cache-timeout",
        Kind::Int(0, I32_MAX),
        "300",
        true,
    ),
    p("tls-session-caching", Kind::Bool, "yes", true),
    p(
        "tracking-table-max-keys",
        Kind::Int(0, i64::MAX),
        "1000000",
        true,
    ),
    p("unixsocket", Kind::Str, "", false),
    p("unixsocketperm", Kind::Int(0, 0o777), "0", false),
    p(
        "zset-max-listpack-entries",
        Kind::Int(0, i64::MAX),
        "128",
        true,
    ),
    p("zset-max-listpack-value", Kind::Mem, "64", true),
];

/// Old names Redis still accepts and lists, and the parameter each is.
static ALIASES: &[(&str, &str)] = &[
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slaveof", "replicaof"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];
