//! The skeleton every bigstep server role is built from. It knows no role.
//!
//! - [`listener`]: bind with `SO_REUSEADDR` and a backlog; accept with backoff
//!   on `EMFILE`/`ENFILE` and other persistent errors, never a hot loop.
//! - [`limit`]: the connection cap, and the role's answer to a client over it.
//! - [`shutdown`]: one sequence — stop accepting, in-flight connections finish
//!   within a grace, the rest are cut, counts logged.
//! - [`server`]: the accept loop that puts those three together.
//! - [`http`]: an HTTP/1 connection that closes when drained, for HTTP roles.
//! - [`signals`]: SIGTERM/SIGINT/SIGHUP installed once per process, as events.
//! - [`metrics`]: one `prometheus-client` registry per process and `/metrics`.
//! - [`config`]: a config file read once, typed, errors by line.
//! - [`io`]: `forward_async_write!`, the write side of read-only wrappers.
//! - [`gate`]: poll a rarely-ready future (a kill signal) only when it woke; a
//!   [`Trip`] for a signal every connection shares (the drain, the cut).
//! - [`threads`]: thread per core, each serving thread on its own runtime and socket.
//!
//! A role builds a [`Server`], calls [`Server::accept_until`] with its stop
//! signal and a connection handler that watches [`Drain`], then
//! [`Shutdown::finish`] with its grace. `LIFECYCLE.md` beside this crate tells
//! the life of a listener and of a shutdown.

#![forbid(unsafe_code)]

pub mod config;
pub mod gate;
pub mod http;
pub mod io;
pub mod limit;
pub mod listener;
pub mod metrics;
pub mod server;
pub mod shutdown;
pub mod signals;
pub mod threads;

pub use gate::{Gate, Gated, Trip, TripWatch};
pub use limit::{Limit, Permit, Reject};
pub use listener::{bind, Listener};
pub use metrics::Metrics;
pub use server::Server;
pub use shutdown::{Drain, Report, Shutdown};
pub use signals::{Signals, Stop};

/// The grace every role gives connections in flight unless configured.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
