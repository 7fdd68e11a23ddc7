//! The command layer: what runs a client's request.
//!
//! From the bottom up: [`args`] parses arguments; [`ctx`] is what a handler
//! sees (the locked store, the client, the clock); the handler modules
//! (`strings`, `list`, `zset`, `stream`, ...) implement commands; [`table`]
//! lists every command with its flags and handler; [`call`](mod@call) runs a resolved
//! command with its bookkeeping; [`wake`] serves clients blocked on keys;
//! [`dispatch`] is the front door, doing Redis's checks before `call`.
//! Each module imports only those below it.

mod args;
mod bits;
pub(crate) mod busy;
mod call;
mod client_control;
mod client_info;
pub(crate) mod conn;
mod ctx;
mod dispatch;
mod dump;
mod function;
mod geo;
mod hash;
mod help;
mod hll;
mod info;
mod keys;
mod latency;
mod list;
mod longdouble;
mod memory;
mod migrate;
mod monitor;
mod object;
mod params;
mod pubsub;
mod random;
pub(crate) mod script;
mod set;
mod slowlog;
mod sort;
mod standalone;
pub(crate) mod stream;
mod strings;
mod swapdb;
mod table;
mod tracking;
mod tx;
mod wake;
mod zalgebra;
mod zset;

pub(crate) use call::call;
pub(crate) use conn::forget_client;
pub(crate) use ctx::Ctx;
pub(crate) use dispatch::execute;
pub(crate) use table::resolve;
pub(crate) use wake::{time_out, unblock};
