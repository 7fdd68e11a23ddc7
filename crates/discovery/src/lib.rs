//! Discovery through a registry users already run: `bigstep state` on one
//! machine, Redis or Valkey past it. Everything here is a plain Redis
//! convention, so any app can register itself without our binary:
//!
//! | key | type | owner | what |
//! |---|---|---|---|
//! | `<prefix>:svc:<name>` | hash, with a TTL | the instance | `address` (host:port, required), `health` (path), `weight`, `pool` |
//! | `<prefix>:admin:<name>` | hash, no TTL | operators, front doors | `state` (`active`, `draining`, `maintenance`), `weight` (overrides the instance's) |
//! | `<prefix>:events` | pub/sub channel | everyone | a message (the name) after any change, so watchers re-read at once |
//!
//! An instance registers with `HSET` + `PEXPIRE`, renews with `PEXPIRE` every
//! third of the TTL (registering again when the key is gone, e.g. after the
//! registry restarted), and deregisters with `DEL`; each write is followed by a
//! `PUBLISH`. Watchers subscribe for speed and read everything periodically
//! (`SCAN` + `HGETALL`) for safety: a lost message or an expired key (which
//! announces nothing) is caught by the next full read.
//!
//! The split keeps each writer on its own key: a heartbeat never overwrites a
//! drain, and a drain outlives a restart of the instance.
//!
//! [`convention`] is the key layout and the entry encoding, [`view`] the pure
//! "registry snapshot → membership changes" diff (no I/O), [`registry`] the
//! client that reads and writes it.
#![forbid(unsafe_code)]

pub mod convention;
pub mod registry;
pub mod view;

pub use convention::{AdminRecord, AdminState, Entry, EntryError, Keys};
pub use registry::{Registry, RegistryError};
pub use view::{diff, view, Member, Op, Snapshot, View};
