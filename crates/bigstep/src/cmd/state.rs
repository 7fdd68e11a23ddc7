//! `bigstep state`: the Redis-protocol shared-state server.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::config;

/// Run the shared state server: sessions, caches, counters, locks, queues and
/// pub/sub over the Redis protocol (RESP2 and RESP3). Point any Redis client at it.
///
/// Settings come from, highest first: flags, their BIGSTEP_STATE_* environment
/// variables, the `[state]` table of the --config file, the defaults shown here.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  bigstep state --port 6380 --dir /var/lib/bigstep/state --appendfsync always
  bigstep state --config bigstep.toml                 # the [state] table
  bigstep state --config bigstep.toml --check         # validate and exit
  redis-cli -p 6380 ping

Precedence: command-line flag > its environment variable > the config file's
[state] table > the default. The file may also define ACL users
([[state.users]]: name, password_env, commands such as \"-@all +@read\"); with
users defined and no requirepass, the passwordless default user is off, so
every client must AUTH. See examples/state.toml.

Protected mode (on by default) refuses clients that are not on loopback while
some user can log in without a password.")]
pub(crate) struct Args {
    /// Configuration file (TOML); its `[state]` table is used (see Precedence below).
    #[arg(short, long, value_name = "FILE", env = "BIGSTEP_CONFIG")]
    config: Option<PathBuf>,

    /// Validate the config file, including the password environment variables it
    /// names, and exit: prints `ok`, or the error naming the key and line (exit 1).
    #[arg(long, requires = "config")]
    check: bool,

    /// TCP port to listen on (0 picks a free port; the line "listening on" says
    /// which) [default: 6380].
    #[arg(long, env = "BIGSTEP_STATE_PORT")]
    port: Option<u16>,

    /// Address to bind [default: 127.0.0.1]. Clients not on loopback are refused
    /// unless every user needs a password (see protected mode).
    #[arg(long, env = "BIGSTEP_STATE_BIND")]
    bind: Option<String>,

    /// Data directory for the append-only log. Without it, data lives in memory only
    /// and is lost on exit.
    #[arg(long, env = "BIGSTEP_STATE_DIR")]
    dir: Option<PathBuf>,

    /// Password for the default user (AUTH / HELLO AUTH). Prefer the environment
    /// variable so it does not show in `ps`.
    #[arg(long, env = "BIGSTEP_STATE_PASSWORD", hide_env_values = true)]
    requirepass: Option<String>,

    /// When to fsync the log: `always` (every acknowledged write survives a crash),
    /// `everysec` (lose at most ~1 s), `no` (leave it to the OS) [default: everysec].
    #[arg(long, value_parser = ["always", "everysec", "no"])]
    appendfsync: Option<String>,

    /// Memory limit for data, e.g. `512mb`, `2gb` (0 = no limit) [default: 0].
    #[arg(long)]
    maxmemory: Option<String>,

    /// What to do at the memory limit: noeviction, allkeys-lru, volatile-lru,
    /// volatile-ttl, allkeys-random, volatile-random [default: noeviction].
    #[arg(long)]
    maxmemory_policy: Option<String>,

    /// Keyspace notifications to publish, as in Redis (e.g. `Ex`, `KEA`; empty = none).
    #[arg(long)]
    notify_keyspace_events: Option<String>,

    /// Number of databases (SELECT 0..N-1) [default: 16].
    #[arg(long)]
    databases: Option<usize>,

    /// Maximum simultaneous clients [default: 10000].
    #[arg(long)]
    maxclients: Option<usize>,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9122). Off by default.
    #[arg(long, env = "BIGSTEP_STATE_METRICS")]
    metrics_bind: Option<String>,

    /// Accept clients from other hosts even when a user needs no password (dangerous).
    #[arg(long)]
    no_protected_mode: bool,

    /// On SIGTERM: how long clients with a command in flight (a partial command,
    /// an open MULTI, a blocked BLPOP) get to finish before they are cut; idle
    /// clients close at once [default: 30s].
    #[arg(long, value_parser = service::config::parse_duration, value_name = "DURATION")]
    shutdown_grace: Option<Duration>,

    /// Threads serving clients. 1 (the default) runs commands like Redis does, on one
    /// thread with no lock contention; more threads overlap socket I/O on busy
    /// many-core hosts, but commands still run one at a time.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        env = "BIGSTEP_STATE_THREADS",
        value_parser = super::parse_threads
    )]
    threads: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let cfg = build_config(&args)?;
    if args.check {
        let path = args.config.as_deref().unwrap_or(Path::new("")).display();
        println!(
            "{path}: ok (state on {}:{}, {} users besides default)",
            cfg.bind,
            cfg.port,
            cfg.users.len()
        );
        return Ok(());
    }
    // Before the log loads: a SIGTERM meanwhile is kept, not fatal.
    let signals = crate::signals::install()?;
    // One worker by default: the store is behind one lock, so extra workers mostly
    // add futex hand-offs (measured in bench/state.sh). A multi-thread runtime even
    // then, because a script running past busy-reply-threshold hands the worker's
    // other clients to a fresh thread (tokio's block_in_place), which is how they
    // get BUSY and can SCRIPT KILL it; a current-thread runtime cannot do that.
    // (A current-thread runtime would save ~100 of ~4,300 user-space
    // instructions per request and no syscall: bench/state_callgrind.sh and
    // bench/state_syscalls.sh, BENCHMARKS.md 2026-12-04.)
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .thread_name("state")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let server = state::Server::start_with(cfg, service::Metrics::new()).await?;
        // Machine-readable line for scripts and tests that bind port 0.
        println!("bigstep state listening on {}", server.local_addr());
        let _ = std::io::stdout().flush();
        server
            .run(async move { signals.stopped().await })
            .await
            .context("the state server stopped")?;
        Ok(())
    })
}

/// Defaults, then the file's `[state]` table, then flags and their variables.
fn build_config(args: &Args) -> anyhow::Result<state::Config> {
    let mut cfg = state::Config::default();
    if let Some(path) = &args.config {
        let (file, src) = config::load_with_source(path)?;
        if let Some(table) = &file.state {
            table
                .apply(&mut cfg, &src, |var| std::env::var(var).ok())
                .map_err(|e| anyhow::anyhow!("{}: [state] {e}", path.display()))?;
            if table.has_inline_password() {
                tracing::warn!(
                    file = %path.display(),
                    "the config file holds a password in clear; prefer requirepass_env / password_env"
                );
            }
        }
    }
    if let Some(p) = args.port {
        cfg.port = p;
    }
    if let Some(b) = &args.bind {
        cfg.bind = b.clone();
    }
    if let Some(d) = &args.dir {
        cfg.dir = Some(d.clone());
    }
    if let Some(p) = &args.requirepass {
        cfg.requirepass = Some(p.clone()).filter(|p| !p.is_empty());
    }
    if let Some(f) = &args.appendfsync {
        cfg.appendfsync = state::Fsync::parse(f).context("invalid --appendfsync")?;
    }
    if let Some(m) = &args.maxmemory {
        cfg.maxmemory = state::parse_memory(m)
            .with_context(|| format!("invalid --maxmemory {m:?} (try 512mb or 2gb)"))?;
    }
    if let Some(p) = &args.maxmemory_policy {
        cfg.maxmemory_policy =
            state::Policy::parse(p).with_context(|| format!("invalid --maxmemory-policy {p:?}"))?;
    }
    if let Some(n) = &args.notify_keyspace_events {
        cfg.notify_keyspace_events = n.clone();
    }
    if let Some(n) = args.databases {
        cfg.databases = n.max(1);
    }
    if let Some(n) = args.maxclients {
        cfg.maxclients = n;
    }
    if let Some(m) = &args.metrics_bind {
        cfg.metrics_bind = Some(m.clone());
    }
    if args.no_protected_mode {
        cfg.protected_mode = false;
    }
    if let Some(g) = args.shutdown_grace {
        cfg.shutdown_grace = g;
    }
    Ok(cfg)
}
