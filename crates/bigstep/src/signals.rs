//! The process's signals, in one place: installed once by the role that
//! serves, before it starts (see `service::signals`). SIGTERM/SIGINT become a
//! stop (a second one: stop now), SIGHUP a reload; roles subscribe to the
//! returned handle instead of installing handlers of their own.

/// Installs the handlers (once per process; later calls return the same handle).
pub(crate) fn install() -> anyhow::Result<service::Signals> {
    Ok(service::Signals::install()?)
}

/// Resolves on the first SIGTERM or SIGINT (the front door's, until it moves
/// to [`install`]).
pub(crate) async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
