//! `bigstep join`: register an app instance in the registry and keep it there
//! while this process runs. It runs beside the app on its host; the front doors
//! that watch the registry start sending it traffic once their health checks
//! pass. On SIGTERM/SIGINT it deregisters, so front doors stop at once instead
//! of waiting for the TTL.
//!
//! It does nothing an app could not do itself: see the registry convention in
//! the `discovery` crate and the README ("Past one machine").

use std::time::Duration;

use anyhow::Context as _;
use discovery::{Entry, Keys, Registry};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  bigstep join --registry redis://10.0.0.5:6380 --name web-7 --address 10.0.0.17:8080 --health /healthz
  BIGSTEP_REGISTRY=redis://10.0.0.5:6379 bigstep join --name api-2 --address 10.0.0.18:3000 --pool api

It writes the hash <prefix>:svc:<name> with a TTL, renews it every third of the
TTL, and deletes it on SIGTERM.")]
pub(crate) struct Args {
    /// The registry: `bigstep state`, Redis or Valkey (`redis://[:password@]host:port`).
    #[arg(long, value_name = "URL", env = "BIGSTEP_REGISTRY")]
    registry: String,

    /// This instance's name: its server id in every front door (letters, digits, `._-`).
    #[arg(long)]
    name: String,

    /// Where front doors reach the app: `host:port` (an address they can route to).
    #[arg(long, value_name = "HOST:PORT")]
    address: String,

    /// The app's health-check path, recorded in the entry.
    #[arg(long, value_name = "PATH")]
    health: Option<String>,

    /// Relative share of traffic (0 to 10000).
    #[arg(long, default_value_t = 1)]
    weight: u32,

    /// The pool this instance serves (default: the default pool).
    #[arg(long)]
    pool: Option<String>,

    /// The entry expires this long after the last heartbeat (e.g. `10s`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    ttl: Duration,

    /// Key prefix shared with the front doors' `[balance.discovery] prefix`.
    #[arg(long, default_value = discovery::convention::DEFAULT_PREFIX)]
    prefix: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    discovery::convention::check_name(&args.name)?;
    let entry = Entry {
        address: args.address.clone(),
        health: args.health.clone(),
        weight: args.weight,
        pool: args.pool.clone(),
    };
    entry.validate().context("invalid instance entry")?;
    if args.ttl < Duration::from_secs(1) {
        anyhow::bail!("--ttl must be at least 1s");
    }
    let keys = Keys::new(&args.prefix)?;
    let signals = crate::signals::install()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(heartbeat(args, entry, keys, signals))
}

async fn heartbeat(
    args: Args,
    entry: Entry,
    keys: Keys,
    signals: service::Signals,
) -> anyhow::Result<()> {
    let period = args.ttl / 3;
    // A call may take at most a period, so a slow registry never lets the entry lapse unseen.
    let mut reg = Registry::open(&args.registry, keys, period.min(Duration::from_secs(2)))?;
    let shown = discovery::registry::redact(&args.registry);
    let mut registered = false;
    let mut reachable = true;
    let stop = signals.stopped();
    tokio::pin!(stop);
    loop {
        let result = if registered {
            reg.heartbeat(&args.name, args.ttl).await
        } else {
            reg.register(&args.name, &entry, args.ttl)
                .await
                .map(|()| true)
        };
        match result {
            Ok(true) => {
                if !reachable {
                    tracing::info!(registry = %shown, "registry reachable again");
                    reachable = true;
                }
                if !registered {
                    registered = true;
                    tracing::info!(name = %args.name, address = %args.address, registry = %shown, ttl = ?args.ttl, "registered");
                    // Machine-readable line for scripts and tests.
                    println!("bigstep join: registered {} at {}", args.name, args.address);
                }
            }
            Ok(false) => {
                tracing::warn!(name = %args.name, "the entry was gone (expired, or the registry restarted): registering again");
                registered = false;
                continue;
            }
            Err(e) => {
                if reachable {
                    tracing::warn!(registry = %shown, error = %e, "registry unreachable; retrying every {period:?}");
                    reachable = false;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = &mut stop => break,
        }
    }
    match reg.deregister(&args.name).await {
        Ok(()) => {
            tracing::info!(name = %args.name, "deregistered");
            println!("bigstep join: deregistered {}", args.name);
        }
        Err(e) => {
            tracing::warn!(name = %args.name, error = %e, "could not deregister; the entry expires within the TTL")
        }
    }
    Ok(())
}
