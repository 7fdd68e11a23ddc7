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
