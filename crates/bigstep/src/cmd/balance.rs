//! `bigstep balance`: run the front door from a config file or flags.

use std::net::SocketAddr;
use std::path::PathBuf;

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

See examples/ for annotated configuration files.")]
pub(crate) struct Args {
    /// Configuration file (TOML; the `[balance]` table is used).
    #[arg(short, long, value_name = "FILE", env = "BIGSTEP_CONFIG")]
    config: Option<PathBuf>,

    /// Validate FILE and exit: 0 when valid, 1 with the reason when not.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check: Option<PathBuf>,

    /// Listen address (overrides `listen` in the file). Default 127.0.0.1:8080.
    #[arg(short, long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// An upstream server `host:port`; repeat for more (added to the file's servers).
    #[arg(short, long = "server", value_name = "HOST:PORT")]
    servers: Vec<String>,

    /// Admin listener for /metrics and /healthz (overrides `admin_listen`).
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,

    /// Worker threads (default: one per core). The benchmark uses 1.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.check {
        let cfg = config::load(path)?;
        let n = cfg.balance.as_ref().map_or(0, |b| b.servers.len());
        println!("{}: ok ({n} servers)", path.display());
        return Ok(());
    }
    let cfg = build_config(&args)?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let fd = frontdoor::FrontDoor::bind(cfg).await?;
        // Machine-readable line for scripts and tests that bind port 0.
        println!("bigstep balance listening on {}", fd.local_addr());
        let control = fd.control();
        let listen = fd.local_addr();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP received: reloading configuration");
                match build_config(&args) {
                    Ok(mut cfg) => {
                        // Port 0 was resolved at start; a reload keeps the bound address.
                        if cfg.listen.port() == 0 {
                            cfg.listen = listen;
                        }
                        if let Err(e) = control.apply(frontdoor::Change::Reload(Box::new(cfg)), "sighup") {
                            tracing::error!(error = %e, "reload refused; the running configuration stays");
                        }
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "reload refused; the running configuration stays"),
                }
            }
        });
        fd.run(crate::signals::shutdown()).await?;
        Ok(())
    })
}

/// The file's `[balance]` table with the command-line overrides applied.
fn build_config(args: &Args) -> anyhow::Result<frontdoor::Config> {
    let mut cfg = match &args.config {
        Some(path) => config::load(path)?
            .balance
            .unwrap_or_else(|| frontdoor::Config::with_servers(default_listen(), vec![])),
        None => frontdoor::Config::with_servers(default_listen(), vec![]),
    };
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(admin) = args.admin {
        cfg.admin_listen = Some(admin);
    }
    for address in &args.servers {
        cfg.servers.push(toml::Spanned::new(
            0..0,
            frontdoor::config::ServerConfig {
                name: None,
                address: address.clone(),
                weight: 1,
            },
        ));
    }
    if cfg.servers.is_empty() {
        anyhow::bail!(
            "no servers configured: add [[balance.servers]] entries to the config file or pass --server HOST:PORT"
        );
    }
    cfg.validate(None).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
