//! `bigstep up`: the whole site on this machine from one command — the front door,
//! the shared state server and the shared files server in this process, and N app
//! instances (the built-in demo, or your command) as supervised child processes.
//!
//! Order of events: watch for Ctrl-C/SIGTERM; check the listen port; start the
//! state and files servers (and create the `uploads` bucket); start the instances,
//! telling them where state and files are, and wait until each accepts
//! connections; start the front door with them as its servers; print the banner.
//! On the first signal the front door stops accepting and drains, then every
//! instance gets SIGTERM (SIGKILL after `--grace`), then the state server flushes
//! its log and stops, and the files server finishes its requests; a second signal
//! kills the instances at once. A backend that fails on its own (the state
//! server's log cannot be written) stops the site the same graceful way, and
//! `up` exits non-zero with its reason.

mod backends;
mod backoff;
pub(crate) mod file;
mod fleet;
mod hosts;
mod register;
mod shared_mount;
mod supervisor;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::watch;

use fleet::Fleet;
use supervisor::{Settings, Spec, Stop};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  bigstep up
      Front door on http://127.0.0.1:8080, dashboard on http://127.0.0.1:9090,
      shared state on 127.0.0.1:6380 (Redis protocol), shared files on
      http://127.0.0.1:9000 (S3 API, bucket `uploads`), and three instances of
      the built-in demo app. Open the URL and refresh: each page names the
      instance that served it, counts visits in shared state, keeps your login
      in shared state and your uploads in shared files, whichever instance
      serves you. Data is kept in ./bigstep-data. The demo's pages:
        /          visits, login, uploads        /events   live feed of the site
        /lock      a distributed lock at work    /uploads/KEY   served by the files server

  bigstep up -- python3 -m http.server '$PORT'
  bigstep up --health-path /healthz -- node server.js
      Your own app, three times. Each copy gets PORT (the port it must listen on,
      on 127.0.0.1) and BIGSTEP_INSTANCE (app-1, app-2, ...) in its environment;
      `$PORT` and `$BIGSTEP_INSTANCE` in the arguments are replaced too (quote them
      so your shell leaves them alone). Each copy runs as if on its own host: its
      own copy of this directory, HOME and TMPDIR (--shared-dir: not).

  bigstep up -n 5 --listen 127.0.0.1:3000
      Five instances, front door on port 3000.

  bigstep up --sticky cookie
      Keep each user on one instance (default: none, which shows single-host bugs).

  bigstep up --no-state --no-files
      Only the front door and the instances: see what breaks without them.

  bigstep up --ephemeral --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state-port 0 --files-port 0
      Everything on free ports (the banner says which), nothing kept: for tests.

One file for the team: ./bigstep.toml (or --config FILE) with an [up] table
(every flag has its key; flags win), and a [balance] table for the front door:
  [up]
  command = [\"python3\", \"app.py\"]
  instances = 3
  health_path = \"/healthz\"
  [up.env]
  APP_ENV = \"development\"
`bigstep ctl reload` (or SIGHUP) re-reads [balance] while the site runs.

Every instance also gets, unless --no-state / --no-files:
  REDIS_URL, BIGSTEP_STATE_URL   redis://127.0.0.1:6380/0
  S3_ENDPOINT_URL, AWS_ENDPOINT_URL   http://127.0.0.1:9000
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   generated once, kept in DATA/files-keys.toml
  AWS_REGION=us-east-1, BIGSTEP_BUCKET=uploads
Point your Redis client and S3 client (path-style addressing) at them; in production
the same variables name Redis/Valkey and any S3 store.

While it runs: the dashboard (servers, charts, instances with Add/Stop/Restart/
Remove, single-host findings) and `bigstep ctl ls|add|drain|undrain|stop|restart|rm`.
Responses carry X-Served-By: app-N. What would break on a second server —
sessions lost between instances, files on one instance only, requests failing on
some instances only — is shown on the dashboard and summed up when `up` stops.

Instances that exit are restarted (after 0.5 s, doubling up to 30 s while they keep
crashing). Their output is shown prefixed with their name. Ctrl-C stops everything
(a second Ctrl-C kills the instances at once).")]
pub(crate) struct Args {
    /// How many app instances to run [default: 3, or `instances` in the file].
    #[arg(short = 'n', long = "instances",
          value_parser = clap::value_parser!(u16).range(1..=100))]
    instances: Option<u16>,

    /// The `[up]` table (app command, instances, env, health path, sticky, ...)
    /// is read from this file; flags win over it. Default: ./bigstep.toml if it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address the front door listens on (port 0 picks a free port)
    /// [default: `listen` in [up], else in [balance], else 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", value_parser = frontdoor::config::parse_listen)]
    listen: Option<SocketAddr>,

    /// Give instances the ports BASE, BASE+1, ... instead of free ports picked for you.
    #[arg(long, value_name = "BASE")]
    app_port_base: Option<u16>,

    /// Path the front door's health checks GET on each instance; 2xx/3xx is healthy.
    /// Default: /healthz for the demo app; for your command, `/` where any answer
    /// below 500 counts as healthy (so an app without a health page still works).
    #[arg(long, value_name = "PATH")]
    health_path: Option<String>,

    /// No active health checks: instances are taken as healthy, and failed requests
    /// are retried on another instance.
    #[arg(long, conflicts_with = "health_path")]
    no_health_check: bool,

    /// How long each instance gets to start accepting connections [default: 30s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    ready_timeout: Option<Duration>,

    /// On stop: how long in-flight requests, then instances, get to finish before
    /// they are cut off [default: 10s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    grace: Option<Duration>,

    /// Port of the shared state server (Redis protocol) on 127.0.0.1; 0 picks a
    /// free one [default: 6380].
    #[arg(long, value_name = "PORT")]
    state_port: Option<u16>,

    /// Port of the shared files server (S3 API) on 127.0.0.1; 0 picks a free one
    /// [default: 9000].
    #[arg(long, value_name = "PORT")]
    files_port: Option<u16>,

    /// Do not run the shared state server (instances get no REDIS_URL).
    #[arg(long)]
    no_state: bool,

    /// Do not run the shared files server (instances get no S3_ENDPOINT_URL).
    #[arg(long)]
    no_files: bool,

    /// Where state and files keep their data: DIR/state, DIR/files, and the files
    /// server's keys in DIR/files-keys.toml [default: bigstep-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,

    /// Keep nothing: state in memory, files in a temporary directory removed on
    /// exit, new keys each run.
    #[arg(long, conflicts_with = "data")]
    ephemeral: bool,

    /// Admin listener: the dashboard, the JSON API (`bigstep ctl` talks to it),
    /// /metrics. Anywhere but loopback it needs --admin-token
    /// [default: `admin` in [up], else `admin_listen` in [balance], else 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR", value_parser = frontdoor::config::parse_listen)]
    admin: Option<SocketAddr>,

    /// Bearer token the admin API requires (at least 16 characters).
    #[arg(
        long,
        env = "BIGSTEP_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,

    /// Keep each user on one instance: `none` (default: every request may land
    /// anywhere, which is what shows single-host bugs), `cookie` (a signed cookie
    /// of the front door's), or `app-cookie:NAME` (hash your app's session cookie).
    #[arg(long, value_name = "MODE", value_parser = parse_sticky)]
    sticky: Option<StickyArg>,

    /// Print the files server's secret key in the banner even when it was kept
    /// from an earlier run (it is shown once, when created; masked afterwards).
    #[arg(long)]
    show_keys: bool,

    /// A cookie that is a session, for the session-loss detector (repeat for
    /// more). Default: every cookie is watched, and one that its own instance
    /// keeps replacing is learned to be a rotating token, not a session.
    #[arg(long = "session-cookie", value_name = "NAME")]
    session_cookies: Vec<String>,

    /// A request header that carries a session, such as `Authorization` or
    /// `X-Session`, for the session-loss detector (repeat for more): a value one
    /// instance issued or accepted, refused (401) or replaced by another.
    #[arg(long = "session-header", value_name = "NAME", value_parser = parse_header_name)]
    session_headers: Vec<String>,

    /// Serve the shared bucket at /uploads/ on the front door: `GET /uploads/KEY`
    /// is answered by the files server straight from the bucket `uploads`, which
    /// then lets anyone read its objects (no listing, no writes without the
    /// keys). `auto`: on for the built-in demo, off for your command (your app
    /// may have /uploads/ pages of its own).
    #[arg(long, value_enum, value_name = "WHEN")]
    uploads_route: Option<UploadsRoute>,

    /// Do not register the instances in the shared state (by default they are,
    /// under the discovery convention `bigstep:svc:<name>`, so another front door
    /// with `[balance.discovery] registry = "redis://…"` finds them).
    #[arg(long)]
    no_register: bool,

    /// Let the instances share the app directory, HOME and TMPDIR, as processes
    /// on one host do. Files written by one are then seen by all: the single-host
    /// bug `up` exists to show stays hidden. For apps that need it.
    #[arg(long)]
    shared_dir: bool,

    /// How each instance gets its own view of the app directory: `overlay`
    /// (copy-on-write, in a private mount namespace; root only), `copy`, or
    /// `auto` (overlay as root, else copy) [default: auto].
    #[arg(long, value_enum, conflicts_with = "shared_dir")]
    isolation: Option<hosts::Isolation>,

    /// Mount the shared bucket `uploads` as a directory for each instance, at
    /// DIR/app-N (`rclone mount`, FUSE; given as BIGSTEP_SHARED_DIR): one shared
    /// directory for apps that cannot use S3 yet. Keep DIR outside the app directory.
    #[arg(long, value_name = "DIR", conflicts_with = "no_files")]
    shared_mount: Option<PathBuf>,

    /// Internal: run CMD as an instance of the `bigstep up` with this pid, dying with it.
    #[arg(long, hide = true, value_name = "PID")]
    supervised_by: Option<u32>,

    /// Internal (launcher): the app directory to give the instance a view of.
    #[arg(long, hide = true, requires = "host_dir")]
    host_app: Option<PathBuf>,

    /// Internal (launcher): the instance's own directory.
    #[arg(long, hide = true)]
    host_dir: Option<PathBuf>,

    /// Internal (launcher): directories left out of a copy.
    #[arg(long, hide = true)]
    host_skip: Vec<PathBuf>,

    /// Internal (launcher): try a copy-on-write overlay first.
    #[arg(long, hide = true)]
    host_overlay: bool,

    /// Your app's command and arguments (after `--`). Without it: the built-in demo.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// The settings with their defaults, once flags and the file were read
/// ([`file::apply`] fills what the file says where no flag was given).
impl Args {
    fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
    fn admin(&self) -> SocketAddr {
        self.admin
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9090)))
    }
    fn grace(&self) -> Duration {
        self.grace.unwrap_or(Duration::from_secs(10))
    }
    fn ready_timeout(&self) -> Duration {
        self.ready_timeout.unwrap_or(Duration::from_secs(30))
    }
    fn data(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| "bigstep-data".into())
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(parent) = args.supervised_by {
        if let (Some(app), Some(dir)) = (&args.host_app, &args.host_dir) {
            hosts::enter(app, dir, args.host_overlay, &args.host_skip)?;
        }
        return exec_supervised(parent, &args.command);
    }
    let signals = crate::signals::install()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(up(args, signals))
}

/// The launcher side of "children die with `bigstep up`" (see `supervisor`): set
/// the parent-death signal, make sure the parent is still the one that started
/// us, then become the instance's command.
fn exec_supervised(parent: u32, command: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("cannot set the parent-death signal")?;
    if std::os::unix::process::parent_id() != parent {
        bail!("bigstep up (pid {parent}) has already exited");
    }
    let Some((program, rest)) = command.split_first() else {
        bail!("no command to run");
    };
    // `exec` only returns on failure.
    let err = std::process::Command::new(program).args(rest).exec();
    Err(err).with_context(|| format!("cannot run `{program}`"))
}

async fn up(args: Args, signals: service::Signals) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let (args, from_file) = file::apply(args)?;
    // Two stop channels, so the order holds: signals stop the front door first;
    // the instances are told only once it has drained (or a second signal says now).
    let (signal_tx, signal_rx) = watch::channel(Stop::Running);
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    watch_signals(&signals, signal_tx.clone());
    let reloads = signals.reloads();
    // A second signal kills the instances at once, even while the front door drains
    // (their in-flight requests then fail, which ends the drain too).
    let mut signals = signal_rx.clone();
    let stop_now = stop_tx.clone();
    tokio::spawn(async move {
        if signals.wait_for(|s| *s == Stop::Now).await.is_ok() {
            stop_now.send_replace(Stop::Now);
        }
    });

    if args.listen().port() != 0 {
        // Fail before starting anything if the front door cannot have its port.
        drop(TcpListener::bind(args.listen()).with_context(|| {
            format!(
                "cannot listen on {} (is another process using the port? try --listen 127.0.0.1:8081)",
                args.listen()
            )
        })?);
    }
    // Refuse a bad sticky setting before anything starts.
    sticky_config(
        args.sticky.as_ref().unwrap_or(&StickyArg::None),
        &args.session_cookies,
    )?;
    frontdoor::admin::check_exposure(args.admin(), args.admin_token.as_deref())
        .map_err(|e| anyhow::anyhow!("--admin {}: {e}", args.admin()))?;
    if args.admin().port() != 0 {
        drop(TcpListener::bind(args.admin()).with_context(|| {
            format!(
                "cannot listen on {} for the admin API (is another `bigstep up` or `balance` running? try --admin 127.0.0.1:9091)",
                args.admin()
            )
        })?);
    }
    let data_dir = (!args.ephemeral).then(|| args.data());
    let data = if args.ephemeral {
        backends::Data::ephemeral()?
    } else {
        backends::Data::Dir(args.data())
    };
    let backends = backends::Backends::start(
        (!args.no_state).then_some(args.state_port.unwrap_or(6380)),
        (!args.no_files).then_some(args.files_port.unwrap_or(9000)),
        data,
        args.grace(),
        match args.uploads_route.unwrap_or(UploadsRoute::Auto) {
            UploadsRoute::On => true,
            UploadsRoute::Off => false,
            UploadsRoute::Auto => args.command.is_empty(),
        },
        &from_file.tables,
    )
    .await?;
    // A backend that fails stops the site like a first signal would.
    let mut failure = backends.failure();
    tokio::spawn(async move {
        if failure.wait_for(Option::is_some).await.is_ok() {
            tracing::error!("a shared backend failed: stopping the site");
            signal_tx.send_if_modified(|s| {
                let running = *s == Stop::Running;
                if running {
                    *s = Stop::Graceful;
                }
                running
            });
        }
    });

    let n = usize::from(args.instances.unwrap_or(3));
    let ports = pick_ports(n, args.app_port_base)?;
    let user_command = !args.command.is_empty();
    let exe = std::env::current_exe().context("cannot find the bigstep binary")?;
    let width = format!("app-{n}").len();
    let hosts = if args.shared_dir {
        None
    } else {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let app_dir = user_command.then(|| cwd.clone());
        // bigstep's data directory is the site's shared state, not the app's disk.
        let skip = match &data_dir {
            Some(d) => vec![cwd.join(d)],
            None => Vec::new(),
        };
        Some(Arc::new(hosts::Hosts::new(
            app_dir,
            args.isolation.unwrap_or(hosts::Isolation::Auto),
            skip,
        )?))
    };
    let isolation = match &hosts {
        Some(h) => format!("bigstep up: separate hosts: {}\n", h.describe()),
        None => {
            tracing::warn!("--shared-dir: the instances share the working directory, HOME and TMPDIR; a file one writes is seen by all, which hides the bug a second server would show");
            "bigstep up: shared directory (--shared-dir): files one instance writes are seen by all\n".to_string()
        }
    };
    let mounts = match (&args.shared_mount, &backends.files) {
        (Some(dir), Some(files)) => {
            let names: Vec<String> = (1..=n).map(|i| format!("app-{i}")).collect();
            let m = tokio::task::block_in_place(|| {
                shared_mount::SharedMounts::start(dir, &names, files, &exe)
            })?;
            Some(m)
        }
        _ => None,
    };
    let isolation = isolation + &mounts.as_ref().map(|m| m.describe()).unwrap_or_default();
    let template: fleet::Template = {
        let exe = exe.clone();
        let command = args.command.clone();
        let hosts = hosts.clone();
        let mount_paths = mounts.as_ref().map(shared_mount::SharedMounts::paths);
        Box::new(move |index: usize, port: u16| {
            let name = format!("app-{index}");
            let mut host = match &hosts {
                Some(h) => h.host(&name)?,
                None => hosts::Host::default(),
            };
            if let Some(p) = &mount_paths {
                let dir = p.of(&name).to_string_lossy().into_owned();
                host.env.push((shared_mount::ENV.into(), dir));
            }
            let argv = if command.is_empty() {
                vec![
                    exe.to_string_lossy().into_owned(),
                    "demo".into(),
                    "--port".into(),
                    port.to_string(),
                    "--instance".into(),
                    name.clone(),
                ]
            } else {
                substitute(&command, port, &name, index)
            };
            Ok(Spec {
                label: format!("{name:width$}"),
                name,
                index,
                port,
                argv,
                env: host.env,
                launcher_args: host.launcher_args,
            })
        })
    };
    let settings = Arc::new(Settings {
        grace: args.grace(),
        backoff: backoff::Policy::default(),
        launcher: Some(exe),
        spawner: supervisor::Spawner::start().context("cannot start the spawner thread")?,
        env: backends
            .env()
            .into_iter()
            .chain(from_file.env.clone())
            .collect(),
    });
    let fleet = Fleet::start(
        &ports,
        template,
        settings,
        stop_rx.clone(),
        args.ready_timeout(),
    )?;

    let served = serve(
        &args,
        &fleet,
        &backends,
        Events {
            stop: signal_rx.clone(),
            reloads,
        },
        &isolation,
        started,
        &from_file,
    )
    .await;

    // However we got here (signal, error), stop every instance and wait for it.
    stop_tx.send_if_modified(|s| {
        let running = *s == Stop::Running;
        if running {
            *s = Stop::Graceful;
        }
        running
    });
    fleet.finished().await;
    if let Some(m) = mounts {
        tokio::task::block_in_place(|| drop(m));
    }
    if let Some(h) = &hosts {
        h.remove();
    }
    // Last, once no instance can write any more: the state server flushes its log.
    let failed = backends.stop().await;
    served?;
    if let Some(reason) = failed {
        bail!("{reason}");
    }
    println!("bigstep up: stopped");
    Ok(())
}

/// What the running site listens for: a stop (a signal or a failed backend),
/// and SIGHUP.
struct Events {
    stop: watch::Receiver<Stop>,
    reloads: service::signals::Reloads,
}

/// Wait for the instances, then run the front door until a stop is requested.
async fn serve(
    args: &Args,
    fleet: &Arc<Fleet>,
    backends: &backends::Backends,
    events: Events,
    isolation: &str,
    started: tokio::time::Instant,
    from_file: &file::FromFile,
) -> anyhow::Result<()> {
    let Events {
        mut stop,
        mut reloads,
    } = events;
    let user_command = !args.command.is_empty();
    let instances = fleet.instances();
    let deadline = tokio::time::Instant::now() + args.ready_timeout();
    let ready = async {
        for instance in &instances {
            instance.wait_ready(deadline).await?;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        r = ready => r?,
        _ = stop.wait_for(|s| *s != Stop::Running) => return Ok(()),
    }

    let servers = instances
        .iter()
        .map(|i| {
            toml::Spanned::new(
                0..0,
                frontdoor::config::ServerConfig::plain(
                    Some(i.spec.name.clone()),
                    format!("127.0.0.1:{}", i.spec.port),
                    1,
                ),
            )
        })
        .collect();
    // Computed once: a reload must not change the sticky cookie's key.
    let sticky = sticky_config(
        args.sticky.as_ref().unwrap_or(&StickyArg::None),
        &args.session_cookies,
    )?;
    let front = Arc::new(Front {
        listen: args.listen(),
        admin: args.admin(),
        admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
        grace: args.grace(),
        health: health_check(args, user_command),
        health_from_flags: args.health_path.is_some() || args.no_health_check,
        sticky,
        sticky_from_flags: args.sticky.is_some(),
        uploads: backends.files.as_ref().filter(|f| f.public).map(|f| f.addr),
    });
    let cfg = front.config(from_file.balance.clone(), servers)?;
    if let Some(b) = &from_file.balance {
        if !b.servers.is_empty() || b.discovery.is_some() {
            tracing::info!(
                "[balance] servers and discovery are left out: the servers are up's instances"
            );
        }
    }
    // One registry, one /metrics: the front door's series beside the state
    // and files servers'.
    let mut fd = frontdoor::FrontDoor::bind_with(cfg, backends.metrics())
        .await
        .context("cannot start the front door")?;
    fleet.attach(fd.control());
    fd.set_findings(frontdoor::findings::FindingsConfig {
        session_cookies: args.session_cookies.clone(),
        session_headers: args.session_headers.clone(),
        ..Default::default()
    });
    let control = fd.control();
    fd.set_admin_instances(Arc::new(fleet::Hook(fleet.clone())));
    if let Some(path) = from_file.path.clone() {
        fd.set_admin_reload(front.clone().reload_hook(path.clone(), control.clone()));
    }
    // SIGHUP re-reads the file like `POST /api/reload` (`bigstep ctl reload`).
    let on_hup = (front.clone(), from_file.path.clone(), control.clone());
    tokio::spawn(async move {
        while reloads.next().await.is_some() {
            let (front, path, control) = on_hup.clone();
            let Some(path) = path else {
                tracing::warn!("SIGHUP received: no config file to re-read (start with --config FILE or a ./bigstep.toml)");
                continue;
            };
            tracing::info!(file = %path.display(), "SIGHUP received: re-reading [balance]");
            let done =
                tokio::task::spawn_blocking(move || front.reload(&path, &control, "sighup")).await;
            match done {
                Ok(Ok(summary)) => tracing::info!(?summary, "reloaded"),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reload refused; the running configuration stays")
                }
                Err(e) => tracing::error!(error = %e, "reload failed"),
            }
        }
    });
    let addr = fd.local_addr();
    // From `bigstep up` to every instance accepting connections (and so in
    // rotation: the first health check is not waited for).
    let ready_in = started.elapsed();
    tracing::info!(
        instances = instances.len(),
        ms = ready_in.as_millis() as u64,
        "all instances ready"
    );
    print_banner(
        addr,
        fd.admin_addr(),
        &instances,
        backends,
        &format!(
            "{isolation}bigstep up: {} instances ready {:.2} s after start\n",
            instances.len(),
            ready_in.as_secs_f64()
        ),
        args.show_keys,
    );

    let registrar = match (&backends.state, args.no_register) {
        (Some(state), false) => {
            let url = format!("redis://{}/0", state.addr);
            println!(
                "bigstep up: instances registered in shared state ({}:svc:*): another front door with [balance.discovery] registry = \"{url}\" finds them",
                discovery::convention::DEFAULT_PREFIX
            );
            let health = health_check(args, user_command).map(|h| h.path);
            Some(tokio::spawn(register::run(
                fleet.clone(),
                url,
                health,
                stop.clone(),
            )))
        }
        _ => None,
    };
    let mut stop_fd = stop.clone();
    fd.run(async move {
        let _ = stop_fd.wait_for(|s| *s != Stop::Running).await;
    })
    .await
    .context("front door failed")?;
    if let Some(r) = registrar {
        // Deregistered before the state server stops.
        let _ = r.await;
    }
    print_findings(&control);
    Ok(())
}

/// What `up` decides about its front door, whatever `[balance]` says: built
/// once at start, applied again to a re-read `[balance]` on a reload.
struct Front {
    listen: SocketAddr,
    admin: SocketAddr,
    admin_token: Option<String>,
    grace: Duration,
    /// Up's health check for the instances.
    health: Option<frontdoor::config::HealthCheck>,
    /// `--health-path` / `--no-health-check` (or `[up] health_path`) was given:
    /// it wins over `[balance.health]`.
    health_from_flags: bool,
    sticky: Option<frontdoor::config::Sticky>,
    /// `--sticky` (or `[up] sticky`) was given: it wins over `[balance.sticky]`.
    sticky_from_flags: bool,
    /// The files server, when `/uploads/` is routed to it.
    uploads: Option<SocketAddr>,
}

impl Front {
    /// The front door's configuration: the file's `[balance]` (or defaults)
    /// with `servers` as its default pool, and up's own settings on top.
    fn config(
        &self,
        balance: Option<frontdoor::Config>,
        servers: Vec<toml::Spanned<frontdoor::config::ServerConfig>>,
    ) -> anyhow::Result<frontdoor::Config> {
        let from_file = balance.is_some();
        let mut cfg =
            balance.unwrap_or_else(|| frontdoor::Config::with_servers(self.listen, Vec::new()));
        cfg.listen = self.listen;
        cfg.admin_listen = Some(self.admin);
        cfg.admin_token = self.admin_token.clone();
        cfg.servers = servers;
        // Up registers its instances itself; a front door following the registry
        // it writes would list them twice.
        cfg.discovery = None;
        if !from_file || self.health_from_flags || cfg.health.is_none() {
            cfg.health = self.health.clone();
        }
        if !from_file {
            cfg.timeouts.shutdown_grace = self.grace;
            // Instances here restart within a second or two, so a passive ejection
            // (after a burst of refused connections to a crashed one) should not
            // keep a restarted instance out for the default 10 s.
            cfg.passive.base_ejection = Duration::from_secs(1);
            cfg.passive.max_ejection = Duration::from_secs(10);
        }
        if !from_file || self.sticky_from_flags || cfg.sticky.is_none() {
            cfg.sticky = self.sticky.clone();
        }
        // Your app need not say which instance answered: the front door does.
        if cfg.server_header.is_none() {
            cfg.server_header = Some("X-Served-By".into());
        }
        if let Some(files) = self.uploads {
            let tables = uploads_route(files)?;
            cfg.pools.extend(tables.pools);
            // Up's route first: a file's catch-all route must not hide it.
            let mut routes = tables.routes;
            routes.append(&mut cfg.routes);
            cfg.routes = routes;
        }
        cfg.validate(None)
            .map_err(|e| anyhow::anyhow!("[balance] with up's instances: {e}"))?;
        Ok(cfg)
    }

    /// `POST /api/reload` (`bigstep balance reload`, `bigstep ctl reload`):
    /// re-read `[balance]` and apply it around the instances running now.
    fn reload_hook(
        self: Arc<Self>,
        path: PathBuf,
        control: frontdoor::Control,
    ) -> frontdoor::admin::ReloadHook {
        Arc::new(move || self.reload(&path, &control, "reload"))
    }

    /// Re-read `[balance]` of `path` and apply it around the running instances.
    fn reload(
        &self,
        path: &std::path::Path,
        control: &frontdoor::Control,
        source: &str,
    ) -> Result<frontdoor::ChangeSummary, frontdoor::ChangeError> {
        let invalid = |e: anyhow::Error| frontdoor::ChangeError::Invalid(format!("{e:#}"));
        let balance = file::reread_balance(path).map_err(invalid)?;
        let running = control.config();
        let mut cfg = self.config(balance, running.servers).map_err(invalid)?;
        // Port 0 was resolved at start; a reload keeps the bound addresses.
        cfg.listen = running.listen;
        cfg.admin_listen = running.admin_listen;
        control.apply(frontdoor::Change::Reload(Box::new(cfg)), source)
    }
}

/// The `files` pool (the shared files server) and the route that sends
/// `GET`/`HEAD /uploads/KEY` to it, as the `[balance]` tables a user would write
/// (parsed from TOML, so they pass the same checks as a config file's).
///
/// The path stays as it is: path-style S3 addressing reads `/uploads/KEY` as the
/// object KEY of the bucket `uploads`, which the files server lets anyone read
/// (objects only: listing and writes still need the keys). The responses are
/// sandboxed: an uploaded HTML page is the site's origin, and must not run
/// script there.
fn uploads_route(files: SocketAddr) -> anyhow::Result<Tables> {
    let bucket = backends::BUCKET;
    let text = format!(
        r#"
[[pools]]
name = "files"
# Any HTTP answer means the files server is up (its root needs the keys: 403).
# It is listening already (it started before the instances): no wait for a check.
health = {{ path = "/", expect_status = "200-499", interval = "2s", rise = 1, wait_for_first_check = false }}
servers = [{{ name = "files", address = "{files}" }}]

[[routes]]
name = "uploads"
path_prefix = "/uploads/"
replace_prefix = "/{bucket}/"
methods = ["GET", "HEAD"]
pool = "files"
response_headers = {{ set = {{ "content-security-policy" = "sandbox", "x-content-type-options" = "nosniff" }} }}
"#
    );
    toml::from_str(&text).context("the /uploads/ route")
}

/// `[[balance.pools]]` and `[[balance.routes]]` as `up` writes them.
#[derive(serde::Deserialize)]
struct Tables {
    pools: Vec<toml::Spanned<frontdoor::config::PoolConfig>>,
    routes: Vec<toml::Spanned<frontdoor::config::RouteConfig>>,
}

/// What the single-host detectors saw, printed when `up` stops.
fn print_findings(control: &frontdoor::Control) {
    use std::io::Write;
    let Some(findings) = control.findings() else {
        return;
    };
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("bigstep up: single-host findings: none (no session lost, no file found on one instance only, no request failing on some instances only)\n");
    } else {
        out.push_str("bigstep up: single-host findings (what would break on two servers):\n");
        for f in findings.iter().take(20) {
            out.push_str(&format!(
                "  {} ×{}  {} {}\n    cause: {}\n    fix: {}\n",
                f.title, f.count, f.server, f.path, f.cause, f.fix
            ));
        }
        if findings.len() > 20 {
            out.push_str(&format!(
                "  … and {} more on the dashboard\n",
                findings.len() - 20
            ));
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// Active health checks for the instances. They were seen accepting connections
/// before the front door starts, so they take traffic at once
/// (`wait_for_first_check = false`); a crashed one is taken out after two failed
/// checks a second apart, and back in after one good one — meanwhile the front
/// door retries refused connections on another instance.
fn health_check(args: &Args, user_command: bool) -> Option<frontdoor::config::HealthCheck> {
    use frontdoor::config::{HealthCheck, StatusRange};
    if args.no_health_check {
        return None;
    }
    let (path, expect_status) = match (&args.health_path, user_command) {
        (Some(p), _) => (
            p.clone(),
            StatusRange {
                low: 200,
                high: 399,
            },
        ),
        (None, false) => (
            "/healthz".into(),
            StatusRange {
                low: 200,
                high: 399,
            },
        ),
        (None, true) => (
            "/".into(),
            StatusRange {
                low: 200,
                high: 499,
            },
        ),
    };
    Some(HealthCheck {
        path,
        expect_status,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        rise: 1,
        fall: 2,
        wait_for_first_check: false,
    })
}

fn print_banner(
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    instances: &[Arc<supervisor::Instance>],
    backends: &backends::Backends,
    isolation: &str,
    show_keys: bool,
) {
    use std::io::Write;
    let mut out = String::new();
    // The first line is a contract: scripts and tests parse the URL from it. So are
    // the `bigstep up: shared state on` and `shared files on` lines.
    out.push_str(&format!("bigstep up: front door on http://{addr}\n"));
    for i in instances {
        let pid = i.pid().map_or("?".into(), |p| p.to_string());
        out.push_str(&format!(
            "  {}  http://127.0.0.1:{}  (pid {pid})\n",
            i.spec.label, i.spec.port
        ));
    }
    if let Some(admin) = admin {
        // A contract too: tests and `bigstep ctl --admin` take the address from it.
        out.push_str(&format!(
            "bigstep up: dashboard on http://{admin}  (bigstep ctl ls|add|drain|undrain|stop|restart|rm)\n"
        ));
    }
    if let Some(s) = &backends.state {
        out.push_str(&format!(
            "bigstep up: shared state on redis://{}/0  (Redis protocol; {}; try redis-cli -p {})\n",
            s.addr,
            s.data,
            s.addr.port()
        ));
    }
    if let Some(f) = &backends.files {
        out.push_str(&format!(
            "bigstep up: shared files on http://{}  (S3 API, bucket {}; {})\n",
            f.addr,
            backends::BUCKET,
            f.data
        ));
        if f.public {
            out.push_str(&format!(
                "bigstep up: http://{addr}/uploads/KEY serves the bucket's objects from the files server (--uploads-route off: not)\n"
            ));
        }
        out.push_str(&format!(
            "  access key {}  secret key {}  ({})\n",
            f.access_key,
            shown(&f.secret_key, f.keys_new || show_keys),
            if f.keys_from_file {
                "from [files] in the config file; --show-keys prints it"
            } else if f.ephemeral {
                "new: --ephemeral keeps nothing, so new keys each run"
            } else if f.keys_new {
                "new: shown this once, kept in the data directory"
            } else {
                "kept from the last run; --show-keys prints it"
            }
        ));
    }
    out.push_str(isolation);
    let env = backends.env();
    if !env.is_empty() {
        let reveal = show_keys || backends.files.as_ref().is_some_and(|f| f.keys_new);
        out.push_str("Your app gets these in its environment:\n");
        for (k, v) in env {
            let v = if k == "AWS_SECRET_ACCESS_KEY" {
                shown(&v, reveal)
            } else {
                v
            };
            out.push_str(&format!("  {k}={v}\n"));
        }
    }
    out.push_str(&format!(
        "Open http://{addr} and refresh to see requests spread over {} instances. Ctrl-C to stop.\n",
        instances.len()
    ));
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// A secret as the banner shows it: whole, or its first four characters.
fn shown(secret: &str, reveal: bool) -> String {
    if reveal {
        secret.to_string()
    } else {
        let head: String = secret.chars().take(4).collect();
        format!("{head}…(hidden)")
    }
}

/// First SIGINT/SIGTERM: stop gracefully. Second: stop now. (The handlers are
/// the process's, installed once; this only relays and explains them.)
fn watch_signals(signals: &service::Signals, stop: watch::Sender<Stop>) {
    let mut events = signals.stop_events();
    tokio::spawn(async move {
        while events.changed().await.is_ok() {
            let next = *events.borrow_and_update();
            let changed = stop.send_if_modified(|s| {
                // Only forward: a backend failure may already have asked for a stop.
                let forward = next > *s;
                if forward {
                    *s = next;
                }
                forward
            });
            match next {
                Stop::Graceful if changed => tracing::info!(
                    "stopping: the front door drains, then the instances stop (Ctrl-C again to kill them now)"
                ),
                Stop::Now => tracing::warn!("stopping now: killing the instances"),
                _ => {}
            }
            if next == Stop::Now {
                return;
            }
        }
    });
}

/// A `--session-header` name: refused at start if no header can have it.
fn parse_header_name(s: &str) -> Result<String, String> {
    // A header name is an RFC 9110 token.
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if s.is_empty() || !s.bytes().all(token) {
        return Err(format!("`{s}` is not a header name"));
    }
    Ok(s.to_string())
}

/// Ports for `n` instances: `base`, `base+1`, ... (each checked free), or free
/// ports chosen by the OS. All listeners are held until every port is chosen so
/// the ports are distinct, then released for the instances to bind.
fn pick_ports(n: usize, base: Option<u16>) -> anyhow::Result<Vec<u16>> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let port = match base {
            Some(b) => match b.checked_add(i as u16) {
                Some(p) if p != 0 => p,
                _ => bail!("--app-port-base {b} leaves no room for {n} instances"),
            },
            None => 0,
        };
        let l = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("port {port} for app-{} is not free on 127.0.0.1", i + 1))?;
        held.push(l);
    }
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// `$PORT`, `$BIGSTEP_INSTANCE`, `$BIGSTEP_INSTANCE_INDEX` (also as `${NAME}`) in
/// the user's arguments, replaced: the instance's values are not in our own
/// environment, so a shell cannot do it.
fn substitute(command: &[String], port: u16, name: &str, index: usize) -> Vec<String> {
    let port = port.to_string();
    let index = index.to_string();
    // Longest name first, so `$BIGSTEP_INSTANCE` does not eat `$BIGSTEP_INSTANCE_INDEX`.
    let vars = [
        ("BIGSTEP_INSTANCE_INDEX", index.as_str()),
        ("BIGSTEP_INSTANCE", name),
        ("PORT", port.as_str()),
    ];
    command
        .iter()
        .map(|arg| {
            let mut arg = arg.clone();
            for (var, value) in vars {
                arg = arg
                    .replace(&format!("${{{var}}}"), value)
                    .replace(&format!("${var}"), value);
            }
            arg
        })
        .collect()
}

/// `--uploads-route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum UploadsRoute {
    Auto,
    On,
    Off,
}

/// `--sticky`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StickyArg {
    None,
    Cookie,
    AppCookie(Option<String>),
}

fn parse_sticky(s: &str) -> Result<StickyArg, String> {
    match s.split_once(':') {
        None if s == "none" => Ok(StickyArg::None),
        None if s == "cookie" => Ok(StickyArg::Cookie),
        None if s == "app-cookie" => Ok(StickyArg::AppCookie(None)),
        Some(("app-cookie", name)) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !b"=;,".contains(&b)) => {
            Ok(StickyArg::AppCookie(Some(name.to_string())))
        }
        _ => Err("expected none, cookie, app-cookie or app-cookie:NAME (NAME: your app's session cookie, e.g. PHPSESSID)".into()),
    }
}

/// The front door's `[balance.sticky]` for `--sticky`. The strong cookie's key
/// is new each run: users are re-stuck after a restart of `up`, which is fine here.
fn sticky_config(
    arg: &StickyArg,
    session_cookies: &[String],
) -> anyhow::Result<Option<frontdoor::config::Sticky>> {
    let table = match arg {
        StickyArg::None => return Ok(None),
        StickyArg::Cookie => {
            use std::io::Read;
            let mut key = [0u8; 16];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .context("cannot read /dev/urandom for the sticky cookie's key")?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            format!("mode = \"cookie\"\nkey = \"{hex}\"\n")
        }
        StickyArg::AppCookie(name) => {
            let Some(name) = name.clone().or_else(|| session_cookies.first().cloned()) else {
                bail!("--sticky app-cookie needs your app's session cookie: --sticky app-cookie:NAME (or --session-cookie NAME)");
            };
            format!("mode = \"app-cookie\"\napp_cookie = \"{name}\"\n")
        }
    };
    Ok(Some(toml::from_str(&table).context("sticky settings")?))
}

/// `500ms`, `2s`, `1m`, or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    service::config::parse_duration(s)
}

#[cfg(test)]
mod tests;
