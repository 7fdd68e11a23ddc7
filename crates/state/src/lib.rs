//! `bigstep state`: a single-node server speaking the Redis protocol (RESP2 and
//! RESP3), for sessions, caches, counters, locks, queues and pub/sub.
//!
//! Layout: [`resp`] is the codec; `store` holds the keyspace behind one lock;
//! `cmd` is the command table and handlers; `server` accepts connections (on
//! the `service` skeleton); `aof` is the append-only log; `metrics` is the
//! Prometheus collector; `shared` is what those three share (a leaf, so none of
//! them imports another's internals back); `evict` is maxmemory; [`acl`] is
//! users and permissions; `file` is the `[state]` table of the config file;
//! [`rdb`] is Redis's RDB serialization (DUMP/RESTORE, `dump.rdb`).

#![forbid(unsafe_code)]

pub mod acl;
mod acl_categories;
mod acl_log;
pub mod aof;
mod busy;
mod cmd;
mod cmdstats;
mod command_info;
mod config;
mod evict;
mod file;
mod funcdump;
mod geohash;
mod glob;
mod hll;
mod key;
mod key_flags;
mod latency;
mod lua;
mod metrics;
pub mod rdb;
mod rdbfile;
mod rdbload;
pub mod resp;
mod server;
mod shared;
mod slowlog;
mod spec;
mod store;
mod stream;
mod tracking;

pub use acl::UserConfig;
pub use config::{parse_memory, Config, Fsync, Policy, REDIS_VERSION};
pub use file::{LimitsToml, Secret, StateToml, UserToml};
pub use server::{RunError, Server, StartError};

static ALLOCATOR: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names the process's memory allocator for INFO's `mem_allocator`: the binary
/// chooses the global allocator, and a library cannot see which. `libc` until set.
pub fn set_allocator_name(name: &'static str) {
    let _ = ALLOCATOR.set(name);
}

pub(crate) fn allocator_name() -> &'static str {
    ALLOCATOR.get().copied().unwrap_or("libc")
}
