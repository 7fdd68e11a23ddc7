//! Process signals, installed once and subscribed to by every role.
//!
//! [`Signals::install`] is called once, before a role starts serving: from then
//! on SIGTERM and SIGINT no longer kill the process but become [`Stop`] events
//! (the first asks for a graceful stop, a second for an immediate one), and
//! SIGHUP becomes a reload event. A plain thread receives them (signal-hook),
//! so they are caught even before a runtime exists — a SIGTERM that arrives
//! while the state server loads its log is kept, not lost or fatal — and
//! published on `tokio::sync::watch` channels, which any runtime can await.
//! Installing twice returns the same handle.

use std::sync::Mutex;

use tokio::sync::watch;

/// How far a stop has been asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// No stop asked for.
    Running,
    /// First SIGTERM/SIGINT: finish in-flight work within the grace.
    Graceful,
    /// Second SIGTERM/SIGINT: stop now.
    Now,
}

/// The process's signals, as events. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Signals {
    stop: watch::Receiver<Stop>,
    reload: watch::Receiver<u64>,
}

/// Why the handlers could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the signal handlers: {0}")]
pub struct InstallError(#[source] std::io::Error);

static INSTALLED: Mutex<Option<Signals>> = Mutex::new(None);

impl Signals {
    /// Installs the SIGTERM, SIGINT and SIGHUP handlers (once per process).
    pub fn install() -> Result<Signals, InstallError> {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = installed.as_ref() {
            return Ok(s.clone());
        }
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut raw =
            signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(InstallError)?;
        let (stop_tx, stop) = watch::channel(Stop::Running);
        let (reload_tx, reload) = watch::channel(0u64);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in raw.forever() {
                    match sig {
                        SIGHUP => {
                            tracing::info!("SIGHUP received: reload");
                            reload_tx.send_modify(|n| *n += 1);
                        }
                        _ => {
                            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                            let next = match *stop_tx.borrow() {
                                Stop::Running => Stop::Graceful,
                                _ => Stop::Now,
                            };
                            tracing::info!(signal = name, stop = ?next, "stop requested");
                            stop_tx.send_replace(next);
                        }
                    }
                }
            })
            .map_err(InstallError)?;
        let signals = Signals { stop, reload };
        *installed = Some(signals.clone());
        Ok(signals)
    }

    /// Resolves on the first SIGTERM/SIGINT (at once if one already came).
    pub async fn stopped(&self) {
        let mut rx = self.stop.clone();
        let _ = rx.wait_for(|s| *s >= Stop::Graceful).await;
    }

    /// Resolves on the second SIGTERM/SIGINT: stop without waiting.
    pub async fn stop_now(&self) {
        let mut rx = self.stop.clone();
        let _ = rx.wait_for(|s| *s == Stop::Now).await;
    }

    /// The stop state, to watch directly.
    pub fn stop_events(&self) -> watch::Receiver<Stop> {
        self.stop.clone()
    }

    /// One event per SIGHUP: `changed().await` on it, then reload.
    pub fn reloads(&self) -> Reloads {
        let mut rx = self.reload.clone();
        rx.mark_unchanged();
        Reloads(rx)
    }
}

/// A subscription to SIGHUP.
#[derive(Debug)]
pub struct Reloads(watch::Receiver<u64>);

impl Reloads {
    /// Waits for the next SIGHUP (several quick ones may count as one). `None`
    /// if the signal thread is gone.
    pub async fn next(&mut self) -> Option<()> {
        self.0.changed().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn sighup_is_a_reload_and_sigterm_a_stop_then_a_stop_now() {
        let signals = Signals::install().expect("install");
        let again = Signals::install().expect("install twice");
        let mut reloads = again.reloads();
        signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
        tokio::time::timeout(Duration::from_secs(10), reloads.next())
            .await
            .expect("a reload event")
            .expect("thread alive");
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        tokio::time::timeout(Duration::from_secs(10), signals.stopped())
            .await
            .expect("a stop event");
        assert_eq!(*signals.stop_events().borrow(), Stop::Graceful);
        signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
        tokio::time::timeout(Duration::from_secs(10), signals.stop_now())
            .await
            .expect("a second signal means now");
    }
}
