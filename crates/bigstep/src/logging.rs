//! Structured logs through `tracing`. `RUST_LOG` filters (default `info`).
//!
//! s3s (the files server's protocol layer) logs every refused request at
//! ERROR: a client's missing signature, a missing key, a health check's 403.
//! Those are the client's doings, not failures of ours, and under `bigstep up`
//! the files pool's health check alone wrote two ERROR lines every 2 s. Its
//! log is off unless `RUST_LOG` names it (`RUST_LOG=info,s3s=debug`); the
//! files server logs its own storage failures itself.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

pub(crate) fn init(format: Format) {
    let asked = std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_default();
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if !asked.contains("s3s") {
        filter = filter.add_directive("s3s=off".parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        Format::Text => builder.init(),
        Format::Json => builder.json().flatten_event(true).init(),
    }
}
