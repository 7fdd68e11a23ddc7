//! The server's settings and the words they are written in: what the
//! command line, the config file and `CONFIG SET` all produce.

use std::path::PathBuf;
use std::time::Duration;

use crate::acl::UserConfig;

/// The version INFO and HELLO report. Clients gate features on it.
pub const REDIS_VERSION: &str = "7.2.4";

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// fsync before acknowledging each write.
    Always,
    /// fsync once a second.
    Everysec,
    /// Leave it to the OS.
    No,
}

impl Fsync {
    /// Parses `always|everysec|no`.
    pub fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::Everysec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Refuse writes with OOM.
    NoEviction,
    /// Evict any key (approximated LRU).
    AllkeysLru,
    /// Evict keys with a TTL (approximated LRU).
    VolatileLru,
    /// Evict the key with the nearest expiry among a sample.
    VolatileTtl,
    /// Evict random keys.
    AllkeysRandom,
    /// Evict random keys with a TTL.
    VolatileRandom,
}

impl Policy {
    /// Parses a Redis policy name.
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s.to_ascii_lowercase().as_str() {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" | "allkeys-lfu" => Policy::AllkeysLru,
            "volatile-lru" | "volatile-lfu" => Policy::VolatileLru,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-random" => Policy::AllkeysRandom,
            "volatile-random" => Policy::VolatileRandom,
            _ => return None,
        })
    }
    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::VolatileRandom => "volatile-random",
        }
    }
}

/// Server settings. `CONFIG SET` changes some of them live.
#[derive(Clone)]
pub struct Config {
    /// Address to bind.
    pub bind: String,
    /// Port (0 = pick a free one).
    pub port: u16,
    /// Data directory for the append-only log; None = memory only.
    pub dir: Option<PathBuf>,
    /// Password for the default user.
    pub requirepass: Option<String>,
    /// fsync policy.
    pub appendfsync: Fsync,
    /// Memory limit in bytes (0 = none).
    pub maxmemory: u64,
    /// What to do at the limit.
    pub maxmemory_policy: Policy,
    /// `notify-keyspace-events`.
    pub notify_keyspace_events: String,
    /// Number of databases.
    pub databases: usize,
    /// Max clients.
    pub maxclients: usize,
    /// Idle timeout in seconds (0 = none).
    pub timeout: u64,
    /// Hard output-buffer limit for pub/sub clients, bytes (0 = none).
    pub pubsub_output_limit: usize,
    /// Largest bulk string.
    pub proto_max_bulk_len: i64,
    /// Largest unparsed input per client.
    pub client_query_buffer_limit: usize,
    /// Refuse non-loopback clients when no password is set.
    pub protected_mode: bool,
    /// Rewrite the log once it is at least this big...
    pub auto_aof_rewrite_min_size: u64,
    /// ...and this many percent bigger than after the last rewrite.
    pub auto_aof_rewrite_percentage: u64,
    /// Where to serve Prometheus metrics (`GET /metrics`); None = off.
    pub metrics_bind: Option<String>,
    /// ACL users besides `default` (see [`crate::acl`]).
    pub users: Vec<UserConfig>,
    /// On stop: how long clients with a command in flight get to finish
    /// before they are cut.
    pub shutdown_grace: Duration,
    /// Why a client's `SHUTDOWN` is refused, if it is: a process that embeds
    /// the server (`bigstep up`, which also runs the front door and the app)
    /// owns its lifecycle, and a Redis client must not stop the whole site.
    /// `None` (stand-alone `bigstep state`): SHUTDOWN stops the server.
    pub shutdown_refused: Option<String>,
    /// `busy-reply-threshold` (alias `lua-time-limit`), in milliseconds: a
    /// script running longer makes other clients get `-BUSY` and becomes
    /// killable with SCRIPT KILL / FUNCTION KILL.
    pub busy_reply_threshold_ms: u64,
}

// Written out so a debug log line can never show the password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field(
                "requirepass",
                &self.requirepass.as_ref().map(|_| "<redacted>"),
            )
            .field("appendfsync", &self.appendfsync)
            .field("maxmemory", &self.maxmemory)
            .field("maxmemory_policy", &self.maxmemory_policy)
            .field("notify_keyspace_events", &self.notify_keyspace_events)
            .field("databases", &self.databases)
            .field("maxclients", &self.maxclients)
            .field("timeout", &self.timeout)
            .field("pubsub_output_limit", &self.pubsub_output_limit)
            .field("proto_max_bulk_len", &self.proto_max_bulk_len)
            .field("client_query_buffer_limit", &self.client_query_buffer_limit)
            .field("protected_mode", &self.protected_mode)
            .field("auto_aof_rewrite_min_size", &self.auto_aof_rewrite_min_size)
            .field(
                "auto_aof_rewrite_percentage",
                &self.auto_aof_rewrite_percentage,
            )
            .field("metrics_bind", &self.metrics_bind)
            .field("users", &self.users)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("shutdown_refused", &self.shutdown_refused)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6380,
            dir: None,
            requirepass: None,
            appendfsync: Fsync::Everysec,
            maxmemory: 0,
            maxmemory_policy: Policy::NoEviction,
            notify_keyspace_events: String::new(),
            databases: 16,
            maxclients: 10000,
            timeout: 0,
            pubsub_output_limit: 32 * 1024 * 1024,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            protected_mode: true,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            auto_aof_rewrite_percentage: 100,
            metrics_bind: None,
            users: Vec::new(),
            shutdown_grace: service::DEFAULT_GRACE,
            shutdown_refused: None,
            busy_reply_threshold_ms: 5000,
        }
    }
}

/// Parses a memory amount like `100mb` or `1gb` (`CONFIG SET maxmemory`,
/// `--maxmemory`).
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = if let Some(n) = l.strip_suffix("gb") {
        (n, 1u64 << 30)
    } else if let Some(n) = l.strip_suffix("mb") {
        (n, 1 << 20)
    } else if let Some(n) = l.strip_suffix("kb") {
        (n, 1 << 10)
    } else if let Some(n) = l.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = l.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = l.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = l.strip_suffix('b') {
        (n, 1)
    } else {
        (l.as_str(), 1)
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// The protocol limits CONFIG SET may change (`proto-max-bulk-len`,
/// `client-query-buffer-limit`): connection tasks read them outside the
/// store lock, once per request parsed and per read, so they are atomics
/// shared by the store (which CONFIG SET reaches) and the connections.
#[derive(Debug)]
pub(crate) struct LiveLimits {
    /// Largest bulk string accepted.
    pub(crate) max_bulk_len: std::sync::atomic::AtomicI64,
    /// Largest unparsed input per client.
    pub(crate) query_limit: std::sync::atomic::AtomicUsize,
    /// `maxclients`, read by the listener without the store lock.
    pub(crate) maxclients: std::sync::atomic::AtomicUsize,
}

impl LiveLimits {
    /// The limits a configuration starts with.
    pub(crate) fn new(cfg: &Config) -> LiveLimits {
        LiveLimits {
            max_bulk_len: cfg.proto_max_bulk_len.into(),
            query_limit: cfg.client_query_buffer_limit.into(),
            maxclients: cfg.maxclients.into(),
        }
    }
}
