//! `bigstep state`: the Redis-protocol shared-state server.

use std::path::PathBuf;

use anyhow::Context as _;

/// Run the shared state server: sessions, caches, counters, locks, queues and
/// pub/sub over the Redis protocol (RESP2 and RESP3). Point any Redis client at it.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:  bigstep state --port 6380 --dir /var/lib/bigstep/state --appendfsync always\n          redis-cli -p 6380 ping"
)]
pub(crate) struct Args {
    /// TCP port to listen on (0 picks a free port; the log line says which).
    #[arg(long, default_value_t = 6380, env = "BIGSTEP_STATE_PORT")]
    port: u16,

    /// Address to bind. Clients not on loopback are refused unless a password is set.
    #[arg(long, default_value = "127.0.0.1", env = "BIGSTEP_STATE_BIND")]
    bind: String,

    /// Data directory for the append-only log. Without it, data lives in memory only
    /// and is lost on exit.
    #[arg(long, env = "BIGSTEP_STATE_DIR")]
    dir: Option<PathBuf>,

    /// Password for the default user (AUTH / HELLO AUTH). Prefer the environment
    /// variable so it does not show in `ps`.
    #[arg(long, env = "BIGSTEP_STATE_PASSWORD", hide_env_values = true)]
    requirepass: Option<String>,

    /// When to fsync the log: `always` (every acknowledged write survives a crash),
    /// `everysec` (lose at most ~1 s), `no` (leave it to the OS).
    #[arg(long, default_value = "everysec", value_parser = ["always", "everysec", "no"])]
    appendfsync: String,

    /// Memory limit for data, e.g. `512mb`, `2gb` (0 = no limit).
    #[arg(long, default_value = "0")]
    maxmemory: String,

    /// What to do at the memory limit: noeviction, allkeys-lru, volatile-lru,
    /// volatile-ttl, allkeys-random, volatile-random.
    #[arg(long, default_value = "noeviction")]
    maxmemory_policy: String,

    /// Keyspace notifications to publish, as in Redis (e.g. `Ex`, `KEA`; empty = none).
    #[arg(long, default_value = "")]
    notify_keyspace_events: String,

    /// Number of databases (SELECT 0..N-1).
    #[arg(long, default_value_t = 16)]
    databases: usize,

    /// Maximum simultaneous clients.
    #[arg(long, default_value_t = 10000)]
    maxclients: usize,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9122). Off by default.
    #[arg(long, env = "BIGSTEP_STATE_METRICS")]
    metrics_bind: Option<String>,

    /// Accept clients from other hosts even without a password (dangerous).
    #[arg(long)]
    no_protected_mode: bool,

    /// Threads serving clients. 1 (the default) runs commands like Redis does, on one
    /// thread with no lock contention; more threads overlap socket I/O on busy
    /// many-core hosts, but commands still run one at a time.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        env = "BIGSTEP_STATE_THREADS"
    )]
    threads: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let cfg = state::Config {
        bind: args.bind,
        port: args.port,
        dir: args.dir,
        requirepass: args.requirepass.filter(|p| !p.is_empty()),
        appendfsync: state::Fsync::parse(&args.appendfsync).context("invalid --appendfsync")?,
        maxmemory: state::parse_memory(&args.maxmemory).with_context(|| {
            format!(
                "invalid --maxmemory {:?} (try 512mb or 2gb)",
                args.maxmemory
            )
        })?,
        maxmemory_policy: state::Policy::parse(&args.maxmemory_policy)
            .with_context(|| format!("invalid --maxmemory-policy {:?}", args.maxmemory_policy))?,
        notify_keyspace_events: args.notify_keyspace_events,
        databases: args.databases.max(1),
        maxclients: args.maxclients,
        protected_mode: !args.no_protected_mode,
        metrics_bind: args.metrics_bind,
        ..state::Config::default()
    };
    // One thread by default: the store is behind one lock, so extra workers mostly
    // add futex hand-offs (measured in bench/state.sh).
    let mut rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = rt
        .enable_all()
        .thread_name("state")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let server = state::Server::start(cfg).await?;
        server.run(shutdown_signal()).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
