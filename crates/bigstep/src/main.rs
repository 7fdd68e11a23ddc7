//! `bigstep`: one binary, four roles. This file only parses the command line and
//! hands off to the role's module in `cmd/`.

mod cmd;
mod config;
mod logging;
mod signals;

use clap::{Parser, Subcommand};

/// Every role allocates per request (a front door request's state, a state
/// command's reply): mimalloc's per-thread free lists serve that faster than
/// glibc's malloc, whose thread cache stops at 1 KiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Take a web application from one server to many.
///
/// bigstep replaces the shortcuts a single-host web app leans on with real network
/// services: a load balancer in front (balance), shared state speaking the Redis
/// protocol (state), and shared files speaking the S3 API (files). `bigstep up`
/// runs the whole multi-server site on this machine from one command.
#[derive(Parser, Debug)]
#[command(name = "bigstep", version, propagate_version = true)]
#[command(after_help = "Start here:  bigstep up        (then open http://127.0.0.1:8080)")]
struct Cli {
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "BIGSTEP_LOG_FORMAT"
    )]
    log_format: logging::Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole site on this machine: front door, shared state, shared files and N app instances.
    Up(cmd::up::Args),
    /// Run the front door: an HTTP load balancer with health checks and retries.
    Balance(cmd::balance::Args),
    /// Run the shared state server (Redis protocol).
    State(cmd::state::Args),
    /// Run the shared files server (S3 API over a directory).
    Files(cmd::files::Args),
    /// Run one instance of the built-in demo web app.
    Demo(cmd::demo::Args),
    /// Register an app instance in the registry and heartbeat until stopped.
    Join(cmd::join::Args),
    /// Control a running front door (`up`'s or a stand-alone one): ls, add, drain, undrain, stop, restart, rm.
    Ctl(cmd::ctl::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    start_allocator_housekeeping();
    state::set_allocator_name("mimalloc");
    let result = match cli.command {
        Command::Up(args) => cmd::up::run(args),
        Command::Balance(args) => cmd::balance::run(args),
        Command::State(args) => cmd::state::run(args),
        Command::Files(args) => cmd::files::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Join(args) => cmd::join::run(args),
        Command::Ctl(args) => cmd::ctl::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bigstep: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// mimalloc returns freed memory to the system lazily: a range is purged only
/// when the allocator next runs its arena collection, 10 ms or more after the
/// free. A server that goes quiet right after a large free (FLUSHALL, or the
/// state server's key table doubling as a bulk load ends) would keep it all
/// resident for good: 1,000,000 keys read 264 instead of 197 bytes per key in
/// half the runs. Purging at every free instead costs a `madvise` per few
/// dozen front door requests. So once a second a short-lived thread allocates
/// and exits: a thread's exit runs that collection (mimalloc abandons the
/// thread's heap through `mi_heap_collect_ex`), which calls it without
/// `unsafe` FFI. Redis does the same for jemalloc (`jemalloc-bg-thread`).
fn start_allocator_housekeeping() {
    let spawned = std::thread::Builder::new()
        .name("bigstep-mem".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let collector = std::thread::Builder::new()
                .name("bigstep-mem-gc".into())
                .spawn(|| drop(std::hint::black_box(Box::new(0u64))));
            if let Ok(collector) = collector {
                let _ = collector.join();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the allocator's housekeeping thread; freed memory may stay resident");
    }
}
