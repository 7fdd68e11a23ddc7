//! The keyspace and everything that must change atomically with it.
//!
//! One [`Store`] sits behind one `std::sync::Mutex` (see `server.rs` for why a std
//! mutex): 16 databases, client registry, pub/sub registry, blocked clients,
//! watched keys and the pending append-only-log buffer. Scripting (the Lua
//! interpreters, script bodies, function libraries) sits beside it under the
//! same lock (`shared::Locked`); the store knows nothing of Lua. A command runs
//! with the lock held from start to end, so each command, each EXEC and each
//! script is atomic without any finer locking.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::config::Config;
pub(crate) use crate::key::Key;
use crate::resp::{encode_command, Reply};

/// Hash map with insertion-indexed storage: O(1) random sampling (RANDOMKEY,
/// SPOP, active expiry) and index cursors (SCAN).
pub(crate) type Map<K, V> = indexmap::IndexMap<K, V, ahash::RandomState>;
/// Set counterpart of [`Map`].
pub(crate) type Set<K> = indexmap::IndexSet<K, ahash::RandomState>;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    ms_of(SystemTime::now())
}

/// The wall clock in nanoseconds since the epoch (0 before it, or if it
/// cannot be read), as each request reads it: plain integers, where
/// `SystemTime` spent about 40 instructions per subtraction (callgrind).
pub(crate) fn wall_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_REALTIME) {
        Ok(t) if t.tv_sec() >= 0 => {
            (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_nsec() as u64
        }
        _ => 0,
    }
}

/// A clock reading in milliseconds since the epoch.
pub(crate) fn ms_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A total order over scores (NaN never gets in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Score(pub f64);
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Sorted set: member → score, plus (score, member) order.
#[derive(Clone, Debug, Default)]
pub(crate) struct ZSet {
    /// Member to score.
    pub(crate) scores: HashMap<Bytes, f64, ahash::RandomState>,
    /// Ordered by score then member.
    pub(crate) tree: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    /// Sets a member's score; returns true if the member is new.
    pub(crate) fn insert(&mut self, member: Bytes, score: f64) -> bool {
        let score = if score == 0.0 { 0.0 } else { score };
        match self.scores.insert(member.clone(), score) {
            Some(old) => {
                self.tree.remove(&(Score(old), member.clone()));
                self.tree.insert((Score(score), member));
                false
            }
            None => {
                self.tree.insert((Score(score), member));
                true
            }
        }
    }
    /// Removes a member.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(s) => {
                self.tree
                    .remove(&(Score(s), Bytes::copy_from_slice(member)));
                true
            }
            None => false,
        }
    }
    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }
    /// Whether empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    /// 0-based rank in ascending order.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = *self.scores.get(member)?;
        Some(
            self.tree
                .range(..(Score(s), Bytes::copy_from_slice(member)))
                .count(),
        )
    }
}

/// A value in the keyspace.
// Boxing the collections (clippy would rather not) keeps this enum at 32
// bytes instead of 40+: it sits in every one of possibly millions of entries.
#[allow(clippy::box_collection)]
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// String.
    Str(Vec<u8>),
    /// String holding a canonical integer, as INCR and friends leave it
    /// (Redis's `int` encoding): no heap, nothing to parse on the next INCR.
    /// Other string commands see its digits (`Ctx::get_str` converts).
    Int(i64),
    /// List. Collections are boxed so the common case, a string, keeps
    /// the enum (and every keyspace entry) small.
    List(Box<VecDeque<Bytes>>),
    /// Hash.
    Hash(Box<Map<Key, Bytes>>),
    /// Set.
    Set(Box<Set<Bytes>>),
    /// Sorted set.
    ZSet(Box<ZSet>),
    /// Stream.
    Stream(Box<crate::stream::Stream>),
}

impl Value {
    /// The TYPE name.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
    /// Rough heap footprint, for maxmemory accounting. O(1): collections
    /// are estimated from up to 8 sampled elements.
    pub(crate) fn approx_size(&self) -> usize {
        fn est<I: Iterator<Item = usize>>(len: usize, it: I, per: usize) -> usize {
            let sample: Vec<usize> = it.take(8).collect();
            if sample.is_empty() {
                return 64;
            }
            let avg = sample.iter().sum::<usize>() / sample.len();
            64 + len * (avg + per)
        }
        match self {
            Value::Str(s) => s.capacity() + 16,
            Value::Int(_) => 16,
            Value::List(l) => est(l.len(), l.iter().map(|b| b.len()), 40),
            Value::Hash(h) => est(h.len(), h.iter().map(|(k, v)| k.len() + v.len()), 90),
            Value::Set(s) => est(s.len(), s.iter().map(|k| k.len()), 50),
            Value::ZSet(z) => est(z.len(), z.scores.keys().map(|k| k.len()), 130),
            Value::Stream(x) => x.approx_size(),
        }
    }
}

/// One of the 16 databases.
#[derive(Default, Clone)]
pub(crate) struct Db {
    /// Key to value.
    pub(crate) keys: Map<Key, Value>,
    /// Key to absolute expiry in ms.
    pub(crate) expires: Map<Key, u64>,
}

// === Clients ===

/// The part of a client other tasks may touch: its push channel and kill switch.
pub(crate) struct ClientShared {
    /// Client id.
    pub(crate) id: u64,
    /// Pub/sub messages and other out-of-band pushes.
    pub(crate) tx: mpsc::UnboundedSender<Reply>,
    /// Bytes queued in `tx` and not yet written (output-buffer limit).
    pub(crate) pending: AtomicUsize,
    /// Set when the client must be disconnected.
    pub(crate) killed: AtomicBool,
    /// Wakes the connection task when killed, where it waits outside its
    /// loop (which is woken through `tx`).
    pub(crate) kill: Notify,
}

impl ClientShared {
    /// Asks the connection to close.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
        // The connection's loop watches its push channel, not `kill`: an
        // empty push (it writes nothing) wakes it to look at the flag.
        let _ = self.tx.send(Reply::None);
    }
}

/// Registry entry for CLIENT LIST / KILL and pub/sub.
pub(crate) struct ClientEntry {
    /// Shared handle.
    pub(crate) shared: Arc<ClientShared>,
    /// Peer address.
    pub(crate) addr: String,
    /// Local address.
    pub(crate) laddr: String,
    /// The user it is logged in as (CLIENT LIST `user=`).
    pub(crate) user: Arc<str>,
    /// CLIENT SETNAME.
    pub(crate) name: Option<Bytes>,
    /// lib-name / lib-ver from CLIENT SETINFO.
    pub(crate) lib_name: Option<Bytes>,
    /// lib-ver.
    pub(crate) lib_ver: Option<Bytes>,
    /// Selected db.
    pub(crate) db: usize,
    /// Protocol.
    pub(crate) resp: u8,
    /// Connected at.
    pub(crate) created: Instant,
    /// Last command name.
    pub(crate) last_cmd: &'static str,
    /// Subscribed channels.
    pub(crate) channels: HashSet<Bytes>,
    /// Subscribed patterns.
    pub(crate) patterns: HashSet<Bytes>,
    /// Subscribed shard channels (SSUBSCRIBE).
    pub(crate) shard_channels: HashSet<Bytes>,
    /// In MULTI.
    pub(crate) multi: bool,
    /// Blocked.
    pub(crate) blocked: bool,
}

/// What a blocked command does once a key has data.
#[derive(Clone, Debug)]
pub(crate) enum BlockOp {
    /// BZPOPMIN / BZPOPMAX.
    ZPop {
        /// Pop the highest score.
        max: bool,
    },
    /// BLMPOP / BZMPOP.
    MPop {
        /// Sorted set (else list).
        zset: bool,
        /// Right end of a list / highest scores.
        max: bool,
        /// Up to this many elements.
        count: usize,
    },
    /// XREAD / XREADGROUP.
    XRead {
        /// Per key (same order as `Blocked::keys`): serve ids above this.
        ids: Vec<crate::stream::StreamId>,
        /// Entries per reply.
        count: usize,
        /// XREADGROUP: group, consumer, NOACK.
        group: Option<(Bytes, Bytes, bool)>,
    },
    /// BLPOP / BRPOP: pop from this end (true = left).
    Pop {
        /// Pop from the left.
        left: bool,
    },
    /// BLMOVE / BRPOPLPUSH.
    Move {
        /// Destination key.
        dest: Bytes,
        /// Pop from the left.
        from_left: bool,
        /// Push to the left.
        to_left: bool,
    },
}

/// A client waiting in BLPOP & co.
pub(crate) struct Blocked {
    /// Database.
    pub(crate) db: usize,
    /// Keys it waits on, in argument order.
    pub(crate) keys: Vec<Bytes>,
    /// What to do.
    pub(crate) op: BlockOp,
    /// Where the reply goes.
    pub(crate) tx: oneshot::Sender<Reply>,
    /// What it is answered when its timeout expires (or CLIENT UNBLOCK
    /// releases it as if it had).
    pub(crate) on_timeout: Reply,
}

/// A command registered the client as blocked: the connection waits on `rx`.
pub(crate) struct BlockSpec {
    /// Receives the reply when a key is served.
    pub(crate) rx: oneshot::Receiver<Reply>,
    /// 0 = forever.
    pub(crate) timeout_ms: u64,
}

/// A CLIENT PAUSE in force, or one that ended while postponed commands
/// still wait their turn.
pub(crate) struct Pause {
    /// When it ends (ms since the epoch); 0 once CLIENT UNPAUSE ended it.
    pub(crate) until_ms: u64,
    /// ALL (every command waits), else WRITE (writes and commands that may
    /// propagate wait).
    pub(crate) all: bool,
    /// Clients whose command waits, in arrival order: after the pause they
    /// run in this order, each letting the next go.
    pub(crate) queue: VecDeque<u64>,
    /// Bumped when the pause ends early or the queue moves: the waiting
    /// connections look again.
    pub(crate) moved: watch::Sender<u64>,
}

impl Pause {
    /// Whether commands are held at `now`.
    pub(crate) fn active(&self, now: u64) -> bool {
        now < self.until_ms
    }

    /// Wakes the waiting connections to look again.
    pub(crate) fn bump(&self) {
        self.moved.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A command held by CLIENT PAUSE: the connection keeps the request and
/// runs it again when the pause ends (`until_ms`, 0 = no timer) or moves.
pub(crate) struct Postponed {
    /// When the pause ends, if it was in force.
    pub(crate) until_ms: u64,
    /// Changes when the pause ends early or the queue moves.
    pub(crate) moved: watch::Receiver<u64>,
}

/// CLIENT REPLY: whether a connection's command replies are written.
/// Pushes (pub/sub messages, invalidations) are written either way, as
/// redis-server 7.0 does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Replies {
    /// Every reply (the default, and CLIENT REPLY ON).
    #[default]
    On,
    /// None until CLIENT REPLY ON (CLIENT REPLY OFF).
    Off,
    /// CLIENT REPLY SKIP was the command just run: the next one is muted.
    SkipNext,
    /// This command's reply is muted; the one after is written.
    Skip,
}

/// Connection-local client state.
pub(crate) struct Client {
    /// Id.
    pub(crate) id: u64,
    /// Selected db.
    pub(crate) db: usize,
    /// Protocol version (2 or 3).
    pub(crate) proto: u8,
    /// Passed AUTH (or no password needed).
    pub(crate) authed: bool,
    /// The user it runs as.
    pub(crate) user: Arc<str>,
    /// The ACL generation `unrestricted` was computed for.
    pub(crate) acl_gen: u64,
    /// The user may run anything: skip per-command checks.
    pub(crate) unrestricted: bool,
    /// Queued commands when in MULTI.
    pub(crate) multi: Option<Vec<Vec<Bytes>>>,
    /// A queued command was rejected: EXEC must abort.
    pub(crate) multi_err: bool,
    /// WATCHed keys.
    pub(crate) watched: Vec<(usize, Bytes)>,
    /// Set when a watched key changes.
    pub(crate) watch_dirty: Arc<AtomicBool>,
    /// Shared handle.
    pub(crate) shared: Arc<ClientShared>,
    /// Close after replying (QUIT).
    pub(crate) close: bool,
    /// Set by a blocking command that found nothing.
    pub(crate) block: Option<BlockSpec>,
    /// Whether this is the log-replay pseudo client.
    pub(crate) replay: bool,
    /// Channels + patterns subscribed (mirrors the registry, read per command).
    pub(crate) subscriptions: usize,
    /// Its registry entry, when it connected while a script was busy: put
    /// in the registry by its first command after the script.
    pub(crate) unregistered: Option<Box<ClientEntry>>,
    /// The last command it ran, as its registry entry has it.
    pub(crate) last_cmd: &'static str,
    /// CLIENT REPLY's setting.
    pub(crate) replies: Replies,
    /// Set by a command that CLIENT PAUSE holds back.
    pub(crate) postponed: Option<Postponed>,
}

impl Client {
    /// A client with its push channel.
    pub(crate) fn new(id: u64) -> (Client, mpsc::UnboundedReceiver<Reply>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(ClientShared {
            id,
            tx,
            pending: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        });
        (
            Client {
                id,
                db: 0,
                proto: 2,
                authed: false,
                user: Arc::from("default"),
                acl_gen: 0,
                unrestricted: false,
                multi: None,
                multi_err: false,
                watched: Vec::new(),
                watch_dirty: Arc::new(AtomicBool::new(false)),
                shared,
                close: false,
                block: None,
                replay: false,
                subscriptions: 0,
                unregistered: None,
                last_cmd: "",
                replies: Replies::On,
                postponed: None,
            },
            rx,
        )
    }
}

// === Notifications ===

/// Keyspace-notification classes (`notify-keyspace-events`).
pub(crate) mod notify {
    /// K
    pub(crate) const KEYSPACE: u32 = 1 << 0;
    /// E
    pub(crate) const KEYEVENT: u32 = 1 << 1;
    /// g
    pub(crate) const GENERIC: u32 = 1 << 2;
    /// $
    pub(crate) const STRING: u32 = 1 << 3;
    /// l
    pub(crate) const LIST: u32 = 1 << 4;
    /// s
    pub(crate) const SET: u32 = 1 << 5;
    /// h
    pub(crate) const HASH: u32 = 1 << 6;
    /// z
    pub(crate) const ZSET: u32 = 1 << 7;
    /// x
    pub(crate) const EXPIRED: u32 = 1 << 8;
    /// e
    pub(crate) const EVICTED: u32 = 1 << 9;
    /// t
    pub(crate) const STREAM: u32 = 1 << 10;
    /// m
    pub(crate) const KEYMISS: u32 = 1 << 11;
    /// d
    pub(crate) const MODULE: u32 = 1 << 12;
    /// n
    pub(crate) const NEW: u32 = 1 << 13;
    /// A
    pub(crate) const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Parses the config string; None if a character is unknown.
    pub(crate) fn parse(s: &str) -> Option<u32> {
        let mut f = 0;
        for c in s.chars() {
            f |= match c {
                'A' => ALL,
                'g' => GENERIC,
                '$' => STRING,
                'l' => LIST,
                's' => SET,
                'h' => HASH,
                'z' => ZSET,
                'x' => EXPIRED,
                'e' => EVICTED,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                't' => STREAM,
                'm' => KEYMISS,
                'd' => MODULE,
                'n' => NEW,
                _ => return None,
            };
        }
        Some(f)
    }

    /// Formats like Redis's CONFIG GET.
    pub(crate) fn format(f: u32) -> String {
        let mut s = String::new();
        if f & ALL == ALL {
            s.push('A');
        } else {
            for (bit, c) in [
                (GENERIC, 'g'),
                (STRING, '$'),
                (LIST, 'l'),
                (SET, 's'),
                (HASH, 'h'),
                (ZSET, 'z'),
                (EXPIRED, 'x'),
                (EVICTED, 'e'),
                (STREAM, 't'),
                (MODULE, 'd'),
                (NEW, 'n'),
            ] {
                if f & bit != 0 {
                    s.push(c);
                }
            }
        }
        if f & KEYSPACE != 0 {
            s.push('K');
        }
        if f & KEYEVENT != 0 {
            s.push('E');
        }
        if f & KEYMISS != 0 {
            s.push('m');
        }
        s
    }
}

/// Counters for INFO.
#[derive(Default)]
pub(crate) struct Stats {
    /// total_connections_received
    pub(crate) connections: u64,
    /// total_commands_processed
    pub(crate) commands: u64,
    /// expired_keys
    pub(crate) expired: u64,
    /// evicted_keys
    pub(crate) evicted: u64,
    /// keyspace_hits
    pub(crate) hits: u64,
    /// keyspace_misses
    pub(crate) misses: u64,
    /// rejected_connections
    pub(crate) rejected: u64,
    /// Error replies by code (errorstats, total_error_replies).
    pub(crate) errors: HashMap<String, u64>,
    /// used_memory_peak (as sampled by the expiry tick and INFO).
    pub(crate) peak_memory: usize,
    /// Per-command calls, time, refusals and latency (commandstats,
    /// latencystats).
    pub(crate) cmd: crate::cmdstats::CmdStats,
}

/// The append-only-log buffer: filled under the lock, drained by the writer thread.
#[derive(Default)]
pub(crate) struct AofPending {
    /// Encoded commands not yet handed to the writer.
    pub(crate) buf: BytesMut,
    /// Db the log's reader will be in after `buf`.
    pub(crate) selected_db: Option<usize>,
    /// Total bytes ever appended (offset of the end of `buf`).
    pub(crate) offset: u64,
}

/// A WATCHing client: id and its dirty flag.
pub(crate) type Watcher = (u64, Arc<AtomicBool>);

/// Everything guarded by the one lock.
pub(crate) struct Store {
    /// The databases.
    pub(crate) dbs: Vec<Db>,
    /// Settings that CONFIG SET may change.
    pub(crate) cfg: Config,
    /// Users and their permissions.
    pub(crate) acl: crate::acl::Acl,
    /// Parsed notify-keyspace-events.
    pub(crate) notify_flags: u32,
    /// Connected clients.
    pub(crate) clients: HashMap<u64, ClientEntry, ahash::RandomState>,
    /// Channel → subscribers in subscription order.
    pub(crate) channels: Map<Bytes, Map<u64, Arc<ClientShared>>>,
    /// Clients in MONITOR mode.
    pub(crate) monitors: Map<u64, Arc<ClientShared>>,
    /// SLOWLOG's entries and its two parameters.
    pub(crate) slowlog: crate::slowlog::SlowLog,
    /// ACL LOG.
    pub(crate) acl_log: crate::acl_log::AclLog,
    /// The latency monitor (LATENCY).
    pub(crate) latency: crate::latency::Latency,
    /// Shard channel (SSUBSCRIBE) → subscribers in subscription order.
    pub(crate) shard_channels: Map<Bytes, Map<u64, Arc<ClientShared>>>,
    /// Pattern → subscribers.
    pub(crate) patterns: Map<Bytes, Map<u64, Arc<ClientShared>>>,
    /// (db, key) → blocked client ids, FIFO.
    pub(crate) blocking_keys: HashMap<(usize, Bytes), VecDeque<u64>>,
    /// Blocked clients.
    pub(crate) blocked: HashMap<u64, Blocked>,
    /// CLIENT PAUSE, while in force or while held commands drain (None
    /// otherwise: the one check a command pays).
    pub(crate) pause: Option<Box<Pause>>,
    /// Keys that received a push while clients were blocked on them.
    pub(crate) ready: Vec<(usize, Bytes)>,
    /// (db, key) → watchers.
    pub(crate) watched: HashMap<(usize, Bytes), Vec<Watcher>>,
    /// Client-side caching (CLIENT TRACKING).
    pub(crate) tracking: crate::tracking::Tracking,
    /// Changes since start.
    pub(crate) dirty: u64,
    /// Commands to write to the log once the current command finishes.
    pub(crate) prop: Vec<(usize, Vec<Bytes>)>,
    /// The log buffer, if persistence is on.
    pub(crate) aof: Option<AofPending>,
    /// Counters.
    pub(crate) stats: Stats,
    /// Started at.
    pub(crate) started: Instant,
    /// Approximate memory used by values (maxmemory).
    pub(crate) used_memory: usize,
    /// Whether a log rewrite was requested (BGREWRITEAOF).
    pub(crate) rewrite_requested: bool,
    /// Log size after the last rewrite/load, for INFO.
    pub(crate) aof_base_size: u64,
    /// Current log size, for INFO.
    pub(crate) aof_current_size: u64,
    /// Replaying the log: no notifications, no propagation.
    pub(crate) loading: bool,
    /// Shutdown began: no more commands, so the final log flush is final.
    pub(crate) shutting_down: bool,
    /// Notified by SHUTDOWN: the server stops (it waits on this beside the
    /// signal), closing every client at once as Redis does.
    pub(crate) stop: Arc<tokio::sync::Notify>,
    /// Values CONFIG SET gave the Redis parameters that change nothing
    /// here (the others live in `cfg`); unset ones read as their default.
    pub(crate) params: HashMap<&'static str, String>,
    /// SAVE/BGSAVE bookkeeping (shared with the BGSAVE thread).
    pub(crate) save: Arc<crate::rdbfile::SaveStatus>,
    /// MIGRATE's connections by "host:port", kept for reuse as Redis keeps
    /// them (closed after `MIGRATE_SOCKET_TTL` unused).
    pub(crate) migrate_sockets: HashMap<String, MigrateSocket>,
    /// Protocol limits CONFIG SET changes live (shared with the connections).
    pub(crate) live: Arc<crate::config::LiveLimits>,
    /// The clock as the server read it for a client's request (its `now`),
    /// taken by the command's timing (`cmd::call`): a request then reads
    /// the clock twice, not three times. None outside a request.
    pub(crate) request_clock: Option<u64>,
    /// The clock as `cmd::call` read it when the last timed command ended
    /// (0 = none since the server took it): the next request of the same
    /// batch starts from it, so pipelined requests read the clock once
    /// each, not twice (`server::run_batch`).
    pub(crate) clock_after: u64,
}

/// How long an unused MIGRATE connection is kept (Redis's
/// MIGRATE_SOCKET_CACHE_TTL).
pub(crate) const MIGRATE_SOCKET_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// A connection MIGRATE keeps to a target.
pub(crate) struct MigrateSocket {
    /// The connection.
    pub(crate) stream: std::net::TcpStream,
    /// The database last selected on it; -1 = unknown, send SELECT.
    pub(crate) last_dbid: i64,
    /// When a MIGRATE last used it.
    pub(crate) last_use: Instant,
}

impl Store {
    /// An empty store.
    pub(crate) fn new(cfg: Config, acl: crate::acl::Acl) -> Store {
        let notify_flags = notify::parse(&cfg.notify_keyspace_events).unwrap_or(0);
        let live = Arc::new(crate::config::LiveLimits::new(&cfg));
        Store {
            dbs: (0..cfg.databases.max(1)).map(|_| Db::default()).collect(),
            cfg,
            acl,
            notify_flags,
            clients: HashMap::default(),
            channels: Map::default(),
            shard_channels: Map::default(),
            monitors: Map::default(),
            slowlog: Default::default(),
            acl_log: Default::default(),
            latency: Default::default(),
            patterns: Map::default(),
            blocking_keys: HashMap::new(),
            blocked: HashMap::new(),
            pause: None,
            ready: Vec::new(),
            watched: HashMap::new(),
            tracking: Default::default(),
            dirty: 0,
            prop: Vec::new(),
            aof: None,
            stats: Stats::default(),
            started: Instant::now(),
            used_memory: 0,
            rewrite_requested: false,
            aof_base_size: 0,
            aof_current_size: 0,
            loading: false,
            shutting_down: false,
            stop: Arc::new(tokio::sync::Notify::new()),
            params: HashMap::new(),
            save: Arc::new(crate::rdbfile::SaveStatus::new(now_ms() / 1000)),
            migrate_sockets: HashMap::new(),
            live,
            request_clock: None,
            clock_after: 0,
        }
    }

    /// Marks watchers of a key dirty.
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if self.tracking.on > 0 {
            self.tracking.invalidate(key);
        }
        if self.watched.is_empty() {
            return;
        }
        if let Some(ws) = self.watched.get(&(db, Bytes::copy_from_slice(key))) {
            for (_, f) in ws {
                f.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Marks every watcher of keys in `db` (or all dbs) dirty, if the key exists.
    pub(crate) fn touch_all(&mut self, db: Option<usize>) {
        if self.tracking.on > 0 {
            self.tracking.invalidate_all();
        }
        for ((d, k), ws) in &self.watched {
            if db.is_some_and(|x| x != *d) {
                continue;
            }
            if self.dbs[*d].keys.contains_key(&k[..]) {
                for (_, f) in ws {
                    f.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// Publishes a message; returns the number of receivers.
    pub(crate) fn publish(&mut self, channel: &[u8], msg: &[u8]) -> i64 {
        let mut n = 0;
        let limit = self.cfg.pubsub_output_limit;
        let send = |c: &Arc<ClientShared>, r: Reply, size: usize| {
            let p = c.pending.fetch_add(size, Ordering::SeqCst) + size;
            if limit > 0 && p > limit {
                c.kill();
            } else {
                let _ = c.tx.send(r);
            }
        };
        if let Some(subs) = self.channels.get(channel) {
            for c in subs.values() {
                let r = Reply::Push(vec![
                    Reply::bulk("message"),
                    Reply::bulk(channel),
                    Reply::bulk(msg),
                ]);
                send(c, r, channel.len() + msg.len() + 32);
                n += 1;
            }
        }
        for (pat, subs) in &self.patterns {
            if crate::glob::matches(pat, channel, false) {
                for c in subs.values() {
                    let r = Reply::Push(vec![
                        Reply::bulk("pmessage"),
                        Reply::Bulk(pat.clone()),
                        Reply::bulk(channel),
                        Reply::bulk(msg),
                    ]);
                    send(c, r, pat.len() + channel.len() + msg.len() + 48);
                    n += 1;
                }
            }
        }
        n
    }

    /// Publishes to a shard channel (SPUBLISH); returns the number of receivers.
    /// Only SSUBSCRIBE subscribers receive it, as `smessage`.
    pub(crate) fn spublish(&mut self, channel: &[u8], msg: &[u8]) -> i64 {
        let limit = self.cfg.pubsub_output_limit;
        let Some(subs) = self.shard_channels.get(channel) else {
            return 0;
        };
        for c in subs.values() {
            let r = Reply::Push(vec![
                Reply::bulk("smessage"),
                Reply::bulk(channel),
                Reply::bulk(msg),
            ]);
            let size = channel.len() + msg.len() + 32;
            let p = c.pending.fetch_add(size, Ordering::SeqCst) + size;
            if limit > 0 && p > limit {
                c.kill();
            } else {
                let _ = c.tx.send(r);
            }
        }
        subs.len() as i64
    }

    /// Sends a keyspace / keyevent notification if configured.
    pub(crate) fn notify(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        let f = self.notify_flags;
        if self.loading || f & class == 0 {
            return;
        }
        if f & notify::KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{db}__:").into_bytes();
            ch.extend_from_slice(key);
            self.publish(&ch, event.as_bytes());
        }
        if f & notify::KEYEVENT != 0 {
            let ch = format!("__keyevent@{db}__:{event}");
            self.publish(ch.as_bytes(), key);
        }
    }

    /// Whether a CLIENT PAUSE is in force: expiry and eviction delete
    /// nothing then, as in Redis.
    pub(crate) fn paused(&self, now: u64) -> bool {
        self.pause.as_ref().is_some_and(|p| p.active(now))
    }

    /// Whether a key's time has come; if so it is deleted, unless a CLIENT
    /// PAUSE is in force: then it is kept (DBSIZE, INFO keyspace and
    /// `expired_keys` do not change) but reads must treat it as missing, as
    /// Redis 7.0's `expireIfNeeded` does, until the pause ends.
    pub(crate) fn expire_if_needed(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        let d = &mut self.dbs[db];
        if d.expires.is_empty() {
            return false;
        }
        match d.expires.get(key) {
            Some(&at) if at <= now => {}
            _ => return false,
        }
        if !self.paused(now) {
            self.delete_expired(db, key);
        }
        true
    }

    /// Before a write to `key`: deletes it if its time has come, pause or
    /// not. Writes wait out a pause, so this deletes nothing a pause keeps;
    /// if one ever ran in a pause, it must not see the old value.
    pub(crate) fn expire_before_write(&mut self, db: usize, key: &[u8], now: u64) {
        if self.expire_if_needed(db, key, now) && self.dbs[db].keys.contains_key(key) {
            self.delete_expired(db, key);
        }
    }

    /// Removes an expired key with all side effects.
    pub(crate) fn delete_expired(&mut self, db: usize, key: &[u8]) {
        let d = &mut self.dbs[db];
        d.expires.swap_remove(key);
        if let Some(v) = d.keys.swap_remove(key) {
            self.used_memory = self
                .used_memory
                .saturating_sub(v.approx_size() + key.len() + 64);
        }
        self.stats.expired += 1;
        let kb = Bytes::copy_from_slice(key);
        if !self.loading {
            self.prop
                .push((db, vec![Bytes::from_static(b"DEL"), kb.clone()]));
            self.dirty += 1;
        }
        self.touch(db, key);
        self.notify(db, notify::EXPIRED, "expired", key);
    }

    /// One round of active expiry, like Redis's: sample keys with a TTL, delete
    /// expired ones, repeat while more than a quarter of the sample was expired.
    /// Bounded by `budget` deletions.
    pub(crate) fn active_expire(&mut self, now: u64, budget: usize) -> usize {
        use rand::Rng;
        let mut deleted = 0;
        let mut rng = rand::rng();
        for db in 0..self.dbs.len() {
            loop {
                let n = self.dbs[db].expires.len();
                if n == 0 || deleted >= budget {
                    break;
                }
                let sample = n.min(20);
                let mut expired = Vec::new();
                for _ in 0..sample {
                    let i = rng.random_range(0..n);
                    if let Some((k, &at)) = self.dbs[db].expires.get_index(i) {
                        if at <= now {
                            expired.push(k.clone());
                        }
                    }
                }
                expired.sort();
                expired.dedup();
                let e = expired.len();
                for k in expired {
                    if self.expire_if_needed(db, &k, now) {
                        deleted += 1;
                    }
                }
                if e * 4 <= sample {
                    break;
                }
            }
        }
        deleted
    }

    /// Appends propagated commands to the log buffer; called after each
    /// top-level command. `wrap` puts several commands in MULTI/EXEC.
    pub(crate) fn flush_prop(&mut self, wrap: bool) {
        if self.prop.is_empty() {
            return;
        }
        let prop = std::mem::take(&mut self.prop);
        let Some(aof) = self.aof.as_mut() else {
            return;
        };
        let before = aof.buf.len();
        let wrap = wrap && prop.len() > 1;
        if wrap {
            encode_command(&[b"MULTI"], &mut aof.buf);
        }
        for (db, argv) in prop {
            if aof.selected_db != Some(db) {
                encode_command(
                    &[b"SELECT".to_vec(), db.to_string().into_bytes()],
                    &mut aof.buf,
                );
                aof.selected_db = Some(db);
            }
            encode_command(&argv, &mut aof.buf);
        }
        if wrap {
            encode_command(&[b"EXEC"], &mut aof.buf);
        }
        aof.offset += (aof.buf.len() - before) as u64;
    }

    /// Current log offset (end of buffered data), 0 without a log.
    pub(crate) fn aof_offset(&self) -> u64 {
        self.aof.as_ref().map_or(0, |a| a.offset)
    }

    /// Total keys across dbs.
    pub(crate) fn key_count(&self) -> usize {
        self.dbs.iter().map(|d| d.keys.len()).sum()
    }
}
