//! `bigstep demo`: one instance of the built-in demo web app (crate `demo`).
//!
//! `bigstep up` runs several of these behind the front door; run one alone to
//! look at it, or point `bigstep balance` at a few.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  bigstep demo --port 3000                 then open http://127.0.0.1:3000
  PORT=3001 BIGSTEP_INSTANCE=blue bigstep demo

Pages: /  /healthz  /api/whoami  /slow?ms=N  /events (the live feed; server-sent events)")]
pub(crate) struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,

    /// Name shown on every page, so you can tell instances apart.
    #[arg(long, env = "BIGSTEP_INSTANCE", default_value = "demo")]
    instance: String,

    /// Address to bind. Loopback unless you mean to expose it.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let signals = crate::signals::install()?;
    // One thread is plenty for a demo instance, and `bigstep up` runs several.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args, signals))
}

async fn serve(args: Args, signals: service::Signals) -> anyhow::Result<()> {
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another process using the port?)"))?;
    let local = listener.local_addr()?;
    tracing::info!(instance = %args.instance, "bigstep demo listening on {local}");
    demo::serve(
        listener,
        args.instance,
        async move { signals.stopped().await },
    )
    .await
    .context("demo server failed")?;
    tracing::info!("bigstep demo stopped");
    Ok(())
}
