//! `bigstep balance`: run the front door from a config file or flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config;

/// Run the front door: an HTTP load balancer with health checks, retries and
/// streaming, configured by the `[balance]` table of a TOML file.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  bigstep balance --config bigstep.toml
  bigstep balance --check bigstep.toml          # validate and exit
  bigstep balance --server 127.0.0.1:3001 --server 127.0.0.1:3002
  bigstep balance reload                        # re-read the file of a running front door

See examples/ for annotated configuration files.")]
pub(crate) struct Args {
    /// Configuration file (TOML; the `[balance]` table is used).
    #[arg(short, long, value_name = "FILE", env = "BIGSTEP_CONFIG")]
    config: Option<PathBuf>,

    /// Validate FILE and exit: 0 when valid, 1 with the reason when not.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check: Option<PathBuf>,

    /// Listen address (overrides `listen` in the file). Default 127.0.0.1:8080.
    #[arg(short, long, value_name = "ADDR", value_parser = frontdoor::config::parse_listen)]
    listen: Option<SocketAddr>,

    /// An upstream server `host:port`; repeat for more (added to the file's servers).
    #[arg(short, long = "server", value_name = "HOST:PORT")]
    servers: Vec<String>,

    /// Admin listener: dashboard, JSON API, /metrics, /healthz (overrides `admin_listen`).
    #[arg(long, value_name = "ADDR", value_parser = frontdoor::config::parse_listen)]
    admin: Option<SocketAddr>,

    /// Threads serving clients (default: one per core), each with its own
    /// listening socket and connections. The benchmarks use 1.
    #[arg(long, value_name = "N", value_parser = super::parse_threads)]
    threads: Option<usize>,

    #[command(subcommand)]
    action: Option<Action>,
}

/// Talk to a running front door instead of starting one.
#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Ask a running front door to re-read its config file (like SIGHUP, but it
    /// answers): prints what changed, or why the new file was refused (exit 1).
    Reload(ReloadArgs),
}

#[derive(clap::Args, Debug)]
struct ReloadArgs {
    /// The front door's admin listener. Default: `admin_listen` from the config
    /// file, else 127.0.0.1:9090.
    #[arg(long, value_name = "ADDR", value_parser = super::ctl::parse_admin)]
    admin: Option<SocketAddr>,

    /// The admin API's bearer token, when it has one (default: `admin_token` from the config file).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "BIGSTEP_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    /// Config file whose `admin_listen` (and `admin_token`) to use.
    #[arg(short, long, value_name = "FILE", env = "BIGSTEP_CONFIG")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Action::Reload(r)) = &args.action {
        return request_reload(r, args.config.as_deref());
    }
    if let Some(path) = &args.check {
        let cfg = config::load(path)?;
        let Some(b) = cfg.balance.as_ref() else {
            println!("{}: ok (no [balance] table)", path.display());
            return Ok(());
        };
        // What `--config FILE` would refuse at start, `--check FILE` refuses
        // too: a file with nothing to serve, an admin API open to the network.
        let mut startable = b.clone();
        with_flags(&mut startable, &args);
        startable_or_why(&startable).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        let servers: usize = b.servers.len()
            + b.pools
                .iter()
                .map(|p| p.get_ref().servers.len())
                .sum::<usize>();
        let mut warnings = b.warnings();
        warnings.extend(
            frontdoor::check_certificates(b)
                .map_err(|e| anyhow::anyhow!("{}: [balance.tls]: {e}", path.display()))?,
        );
        println!(
            "{}: ok ({}, {}, {})",
            path.display(),
            counted(servers, "server"),
            counted(1 + b.pools.len(), "pool"),
            counted(b.routes.len(), "route")
        );
        for w in &warnings {
            println!("warning: {w}");
        }
        return Ok(());
    }
    let cfg = build_config(&args)?;
    // What `--check` would print as advice, in the log of a start too (but
    // tls_insecure_skip_verify, which every load of the server warns about).
    for w in cfg.warnings() {
        if !w.contains("tls_insecure_skip_verify") {
            tracing::warn!("{w}");
        }
    }
    let signals = crate::signals::install()?;
    // Thread per core (see `service::threads`): this thread serves clients
    // and runs the background work; each other thread has its own runtime.
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut fd =
            frontdoor::FrontDoor::bind_threads(cfg, &service::Metrics::new(), threads).await?;
        // Machine-readable lines for scripts and tests that bind port 0 (the
        // TLS one first: a reader may stop at "listening on").
        if let Some(tls) = fd.tls_addr() {
            println!("bigstep balance listening for TLS on {tls}");
        }
        println!("bigstep balance listening on {}", fd.local_addr());
        let reloader = Reloader {
            args: Arc::new(args),
            control: fd.control(),
            listen: fd.local_addr(),
        };
        if let Some(path) = reloader.args.config.clone() {
            spawn_file_watch(path, reloader.clone());
        }
        fd.set_admin_reload(reloader.hook());
        let on_hup = reloader.clone();
        let mut reloads = signals.reloads();
        tokio::spawn(async move {
            while reloads.next().await.is_some() {
                tracing::info!("SIGHUP received: reloading configuration");
                let r = on_hup.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload("sighup")).await;
            }
        });
        fd.run(async move { signals.stopped().await }).await?;
        Ok(())
    })
}

// === reload: SIGHUP, file change, admin API ===

/// Re-reads the file and command line into a [`frontdoor::Change::Reload`]: the
/// one way SIGHUP, a file change and `POST /api/reload` reload.
#[derive(Clone)]
struct Reloader {
    args: Arc<Args>,
    control: frontdoor::Control,
    /// The address really bound (port 0 resolved at start).
    listen: SocketAddr,
}

impl Reloader {
    /// Build the configuration again and apply it; `source` names the trigger
    /// in the log. A refusal leaves the running configuration as it is.
    fn reload(&self, source: &str) -> Result<frontdoor::ChangeSummary, frontdoor::ChangeError> {
        let mut cfg = build_config(&self.args).map_err(|e| {
            let e = frontdoor::ChangeError::Invalid(format!("{e:#}"));
            tracing::error!(source, error = %e, "reload refused; the running configuration stays");
            e
        })?;
        // Port 0 was resolved at start; a reload keeps the bound address.
        if cfg.listen.port() == 0 {
            cfg.listen = self.listen;
        }
        self.control
            .apply(frontdoor::Change::Reload(Box::new(cfg)), source)
    }

    /// What the admin API's `POST /api/reload` runs.
    fn hook(
        &self,
    ) -> Arc<dyn Fn() -> Result<frontdoor::ChangeSummary, frontdoor::ChangeError> + Send + Sync>
    {
        let r = self.clone();
        Arc::new(move || r.reload("admin-api"))
    }
}

/// Reload when the config file changes: its modification time, length or inode
/// (editors that save by renaming) differ from the last look, once a second.
/// Polling needs no platform watcher and cannot miss an event. A file still
/// being written is left for the next look; one that fails validation is
/// refused and the running configuration stays.
fn spawn_file_watch(path: PathBuf, reloader: Reloader) {
    fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64, u64)> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        Some((m.modified().ok()?, m.len(), m.ino()))
    }
    tokio::spawn(async move {
        let mut last = stamp(&path);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = stamp(&path);
            // Missing for a moment (mid-rename) is not a change to act on.
            if now.is_none() || now == last {
                continue;
            }
            // Let a save in progress finish: act once the file held still for a moment.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stamp(&path) != now {
                continue;
            }
            last = now;
            tracing::info!(file = %path.display(), "config file changed: reloading configuration");
            let r = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload("file-change")).await;
        }
    });
}

/// `bigstep balance reload`: `POST /api/reload` to the admin listener and print
/// the answer. One request over a plain socket: no HTTP client library needed.
fn request_reload(r: &ReloadArgs, parent_config: Option<&Path>) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let file = match r.config.as_deref().or(parent_config) {
        Some(path) => config::load(path)?.balance,
        None => None,
    };
    let admin = r
        .admin
        .or_else(|| file.as_ref().and_then(|b| b.admin_listen))
        .unwrap_or_else(default_admin);
    let token = r
        .token
        .clone()
        .or_else(|| file.as_ref().and_then(|b| b.admin_token.clone()))
        .filter(|t| !t.is_empty());
    let timeout = Duration::from_secs(30);
    let mut stream = std::net::TcpStream::connect_timeout(&admin, Duration::from_secs(5))
        .with_context(|| {
            format!("cannot reach the admin listener at {admin} (is `bigstep balance` running with admin_listen set? pass --admin ADDR)")
        })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST /api/reload HTTP/1.1\r\nHost: {admin}\r\nAccept: text/plain\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("no complete answer from {admin}"))?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{admin} did not answer in HTTP"))?;
    let body = body.trim_end();
    match status {
        200..=299 => {
            println!("{body}");
            Ok(())
        }
        401 => {
            anyhow::bail!("{admin} needs the admin token: pass --token or set BIGSTEP_ADMIN_TOKEN")
        }
        _ => anyhow::bail!("{body}"),
    }
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

/// The file's `[balance]` table with the command-line overrides applied.
fn build_config(args: &Args) -> anyhow::Result<frontdoor::Config> {
    let mut cfg = match &args.config {
        Some(path) => config::load(path)?
            .balance
            .unwrap_or_else(|| frontdoor::Config::with_servers(default_listen(), vec![])),
        None => frontdoor::Config::with_servers(default_listen(), vec![]),
    };
    with_flags(&mut cfg, args);
    startable_or_why(&cfg)?;
    cfg.validate(None).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

/// The command line's overrides (and `BIGSTEP_ADMIN_TOKEN`) on the file's table.
fn with_flags(cfg: &mut frontdoor::Config, args: &Args) {
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(admin) = args.admin {
        cfg.admin_listen = Some(admin);
    }
    if let Some(token) = std::env::var("BIGSTEP_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        cfg.admin_token = Some(token);
    }
    for address in &args.servers {
        cfg.servers.push(toml::Spanned::new(
            0..0,
            frontdoor::config::ServerConfig::plain(None, address.clone(), 1),
        ));
    }
}

/// Why the front door would refuse to start with `cfg`, beyond the file's own
/// validation: nothing to serve, or an admin API open to the network.
fn startable_or_why(cfg: &frontdoor::Config) -> anyhow::Result<()> {
    let pooled = cfg.pools.iter().any(|p| !p.get_ref().servers.is_empty());
    if cfg.servers.is_empty() && cfg.discovery.is_none() && !pooled {
        anyhow::bail!(
            "no servers configured: add [[balance.servers]] (or [[balance.pools]] with servers) to the config file, pass --server HOST:PORT, or set [balance.discovery] registry"
        );
    }
    if let Some(admin) = cfg.admin_listen {
        frontdoor::admin::check_exposure(admin, cfg.admin_token.as_deref())?;
    }
    Ok(())
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// "1 server", "2 servers".
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
