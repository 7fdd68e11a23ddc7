//! The process's signals, in one place: installed once by the role that
//! serves, before it starts (see `service::signals`). SIGTERM/SIGINT become a
//! stop (a second one: stop now), SIGHUP a reload; roles subscribe to the
//! returned handle instead of installing handlers of their own.

/// Installs the handlers (once per process; later calls return the same handle).
pub(crate) fn install() -> anyhow::Result<service::Signals> {
    Ok(service::Signals::install()?)
}
