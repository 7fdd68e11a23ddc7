//! Supervising app instances: start one, forward its output line by line under its
//! name, wait until it accepts connections, restart it with backoff when it exits,
//! and stop it (SIGTERM to its process group, SIGKILL after a grace period).
//!
//! ## Children die with `bigstep up`
//! Each instance is started through `bigstep up --supervised-by PID -- CMD…` (the
//! *launcher*, see `super::exec_supervised`): that process asks the kernel for
//! SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), checks that its parent is
//! still `PID` (closing the race with a parent that died just before), then
//! `exec`s the real command, which keeps the setting. This needs no `unsafe`
//! (`pre_exec` would, and the workspace forbids it), and it works for any command,
//! not only the built-in demo. What it cannot cover: grandchildren of an instance
//! (a shell script's children) if `bigstep up` is SIGKILLed — on a normal stop the
//! whole process group is signalled.
//!
//! The kernel sends the parent-death signal when the *thread* that spawned the
//! child exits, not the process. So every instance is spawned by one [`Spawner`]
//! thread that lives as long as the supervisors: tokio's worker threads could be
//! retired (`block_in_place`) and its blocking-pool threads come and go.
//!
//! Each instance runs in its own process group: a Ctrl-C in the terminal reaches
//! only `bigstep up`, which then stops things in order (front door drains first,
//! then the instances).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::{self, Backoff};

/// How many of an instance's last output lines are kept for error messages.
const RECENT_LINES: usize = 20;

/// What the supervisor is asked to do: keep instances running (restart them
/// when they exit), stop them gracefully (SIGTERM, then SIGKILL after the grace
/// period), or now (SIGKILL, a second Ctrl-C). The same stop the signals give.
pub(crate) use service::Stop;

/// One instance to run.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// `app-1`: the front door's server name, `BIGSTEP_INSTANCE`, the log prefix.
    pub(crate) name: String,
    /// 1-based position, given to the instance as `BIGSTEP_INSTANCE_INDEX`.
    pub(crate) index: usize,
    /// The port the instance must listen on (`PORT`), on 127.0.0.1.
    pub(crate) port: u16,
    /// The command line, `$PORT` already substituted.
    pub(crate) argv: Vec<String>,
    /// `app-1` padded so output columns line up.
    pub(crate) label: String,
    /// Environment of this instance alone (its own `HOME`, `TMPDIR`).
    pub(crate) env: Vec<(String, String)>,
    /// Extra arguments for the launcher (its view of the app directory).
    pub(crate) launcher_args: Vec<String>,
}

/// Settings shared by all instances.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Time between SIGTERM and SIGKILL when stopping.
    pub(crate) grace: Duration,
    /// When to restart an instance that exited.
    pub(crate) backoff: backoff::Policy,
    /// The `bigstep` binary, used as the launcher that ties an instance's life to
    /// ours. `None` runs `argv` directly (unit tests, where there is no such binary).
    pub(crate) launcher: Option<PathBuf>,
    /// The thread that spawns every instance.
    pub(crate) spawner: Spawner,
    /// Environment every instance gets (where the shared state and files are).
    pub(crate) env: Vec<(String, String)>,
}

type SpawnRequest = (Command, oneshot::Sender<std::io::Result<Child>>);

/// A dedicated thread that spawns the instances, so the thread the kernel sees as
/// their parent lives until every supervisor is gone (see the module docs). It
/// ends when the last [`Settings`] holding it is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Spawner {
    requests: std::sync::mpsc::Sender<SpawnRequest>,
}

impl Spawner {
    /// Start the thread. Must be called inside the tokio runtime: child processes
    /// are registered with its process driver.
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let (requests, incoming) = std::sync::mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("bigstep-up-spawner".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                for (mut cmd, reply) in incoming {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Self { requests })
    }

    async fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let (reply, child) = oneshot::channel();
        let gone = || std::io::Error::other("the spawner thread has stopped");
        self.requests.send((cmd, reply)).map_err(|_| gone())?;
        child.await.map_err(|_| gone())?
    }
}

/// What is known about a running instance. A std mutex: held only for a few
/// field updates, never across an `.await`.
#[derive(Debug, Default)]
struct Status {
    pid: Option<u32>,
    starts: u32,
    exits: u32,
    last_exit: Option<String>,
    recent: VecDeque<String>,
    /// Parked by request ([`Instance::set_running`]`(false)`): no process, none coming.
    parked: bool,
}

/// Whether the operator wants the instance's process running (`bigstep ctl stop`
/// says no; the supervisor then stops it and does not restart it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Run,
    Parked,
    /// Removed: stop the process and end the supervisor (also when the
    /// [`Instance`] is dropped).
    Gone,
}

/// Wait until the wish changes away from `from`; a dropped sender means [`Want::Gone`].
async fn changed_from(want: &mut watch::Receiver<Want>, from: Want) -> Want {
    match want.wait_for(|w| *w != from).await {
        Ok(w) => *w,
        Err(_) => Want::Gone,
    }
}

/// A supervised instance.
pub(crate) struct Instance {
    pub(crate) spec: Arc<Spec>,
    status: Arc<Mutex<Status>>,
    want: watch::Sender<Want>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A snapshot of an instance's process, for the admin API.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub(crate) pid: Option<u32>,
    /// `running`, `starting`, `stopping`, `stopped` or `crashed`.
    pub(crate) state: &'static str,
    pub(crate) starts: u32,
    pub(crate) exits: u32,
}

impl Instance {
    /// Start supervising: spawn the instance now, and again whenever it exits,
    /// until `stop` leaves [`Stop::Running`].
    pub(crate) fn start(spec: Spec, settings: Arc<Settings>, stop: watch::Receiver<Stop>) -> Self {
        let spec = Arc::new(spec);
        let status = Arc::new(Mutex::new(Status::default()));
        let (want, wanted) = watch::channel(Want::Run);
        let task = tokio::spawn(supervise(
            spec.clone(),
            settings,
            status.clone(),
            stop,
            wanted,
        ));
        Self {
            spec,
            status,
            want,
            task: Mutex::new(Some(task)),
        }
    }

    /// The pid of the running process, if one is running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.status().pid
    }

    /// Ask for the process to run (start it if parked) or to be parked (stop it
    /// gracefully and keep it stopped). Returns at once: see [`Instance::parked`].
    pub(crate) fn set_running(&self, run: bool) {
        if *self.want.borrow() == Want::Gone {
            return;
        }
        self.want
            .send_replace(if run { Want::Run } else { Want::Parked });
    }

    /// Stop the process for good (gracefully) and end the supervisor; await
    /// [`Instance::finished`] for it.
    pub(crate) fn remove(&self) {
        self.want.send_replace(Want::Gone);
    }

    /// Parked by request and its process gone.
    pub(crate) fn parked(&self) -> bool {
        let st = self.status();
        st.parked && st.pid.is_none()
    }

    /// How many times its process exited on its own so far (a baseline for [`Instance::wait_ready`]).
    pub(crate) fn exits(&self) -> u32 {
        self.status().exits
    }

    /// What the process is doing now.
    pub(crate) fn process(&self) -> Process {
        let want = *self.want.borrow();
        let st = self.status();
        let state = match (want, st.pid, st.parked) {
            (Want::Parked | Want::Gone, None, _) => "stopped",
            (Want::Parked | Want::Gone, Some(_), _) => "stopping",
            (Want::Run, Some(_), _) => "running",
            (Want::Run, None, _) if st.starts > 0 && st.last_exit.is_some() => "crashed",
            (Want::Run, None, _) => "starting",
        };
        Process {
            pid: st.pid,
            state,
            starts: st.starts,
            exits: st.exits,
        }
    }

    /// How many times the instance has been started (1 + restarts).
    #[cfg(test)]
    pub(crate) fn starts(&self) -> u32 {
        self.status().starts
    }

    /// The instance's last output lines.
    #[cfg(test)]
    pub(crate) fn recent_lines(&self) -> Vec<String> {
        self.status().recent.iter().cloned().collect()
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until the instance accepts TCP connections on its port. Fails with a
    /// message naming the instance and quoting its last output if it exits first
    /// or is still not listening at `deadline`.
    pub(crate) async fn wait_ready(&self, deadline: Instant) -> anyhow::Result<()> {
        self.wait_ready_after(0, deadline).await
    }

    /// [`Instance::wait_ready`] for a process started after it had exited `exits`
    /// times on its own (a restart: earlier exits are history).
    pub(crate) async fn wait_ready_after(
        &self,
        exits: u32,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.spec.port));
        let name = &self.spec.name;
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            );
            // Accepting is only ours if our process is still running: after it
            // exited, whatever answers on the port is someone else.
            if let Ok(Ok(_)) = attempt.await {
                let st = self.status();
                if st.exits == exits && st.pid.is_some() {
                    return Ok(());
                }
            }
            {
                let st = self.status();
                if st.exits > exits {
                    bail!(
                        "{name} exited ({}) before accepting connections on {addr}; {}",
                        st.last_exit.as_deref().unwrap_or("unknown status"),
                        recent_output(&st.recent, &self.spec.label),
                    );
                }
            }
            if Instant::now() >= deadline {
                let st = self.status();
                bail!(
                    "{name} did not accept connections on {addr} in time (an app run by \
                     `bigstep up` must listen on 127.0.0.1, port $PORT); {}",
                    recent_output(&st.recent, &self.spec.label),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for the supervisor to finish (after `stop` was set): the instance's
    /// process has exited and been reaped.
    pub(crate) async fn finished(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn recent_output(lines: &VecDeque<String>, label: &str) -> String {
    if lines.is_empty() {
        return "it printed nothing".into();
    }
    let mut out = String::from("its last output:");
    for l in lines {
        out.push_str(&format!("\n  {label} | {l}"));
    }
    out
}

/// The supervision loop of one instance.
async fn supervise(
    spec: Arc<Spec>,
    settings: Arc<Settings>,
    status: Arc<Mutex<Status>>,
    mut stop: watch::Receiver<Stop>,
    mut want: watch::Receiver<Want>,
) {
    let mut backoff = Backoff::new(settings.backoff);
    let name = &spec.name;
    let set_parked = |parked: bool| {
        status.lock().unwrap_or_else(|e| e.into_inner()).parked = parked;
    };
    loop {
        if *stop.borrow() != Stop::Running {
            return;
        }
        let wish = *want.borrow();
        if wish == Want::Gone {
            return;
        }
        if wish == Want::Parked {
            set_parked(true);
            tracing::info!(instance = %name, "{name} stopped on request; it stays stopped until restarted");
            tokio::select! {
                w = changed_from(&mut want, Want::Parked) => if w == Want::Gone { return },
                _ = stop.wait_for(|s| *s != Stop::Running) => return,
            }
            set_parked(false);
            // Asked for, not a crash: start at once, with a fresh backoff.
            backoff = Backoff::new(settings.backoff);
            continue;
        }
        let started = Instant::now();
        let (exit, forwarders) = match spawn(&spec, &settings, &status).await {
            Ok((mut child, forwarders)) => {
                let pid = child.id();
                let restart = {
                    let mut st = status.lock().unwrap_or_else(|e| e.into_inner());
                    st.pid = pid;
                    st.starts += 1;
                    st.starts > 1
                };
                if restart {
                    tracing::info!(
                        instance = %name,
                        "{name} restarted (pid {})",
                        pid.map_or("?".into(), |p| p.to_string())
                    );
                }
                let exited = tokio::select! {
                    r = child.wait() => Some(Ok(r)),
                    _ = stop.wait_for(|s| *s != Stop::Running) => None,
                    w = changed_from(&mut want, Want::Run) => Some(Err(w)),
                };
                let exit = match exited {
                    Some(Ok(exit)) => exit,
                    // Parked or removed on request: stop it the graceful way,
                    // then park (above) or end.
                    Some(Err(w)) => {
                        terminate(&mut child, &spec, settings.grace, &mut stop).await;
                        status.lock().unwrap_or_else(|e| e.into_inner()).pid = None;
                        let _ =
                            tokio::time::timeout(Duration::from_secs(1), futures_join(forwarders))
                                .await;
                        if w == Want::Gone {
                            return;
                        }
                        continue;
                    }
                    None => {
                        terminate(&mut child, &spec, settings.grace, &mut stop).await;
                        status.lock().unwrap_or_else(|e| e.into_inner()).pid = None;
                        return;
                    }
                };
                // The instance exited by itself: clear out anything it left in its group.
                if let Some(pid) = pid {
                    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
                (exit.map(describe), forwarders)
            }
            Err(e) => (Err(e), Vec::new()),
        };
        // Let the output forwarders reach the end of the pipes, so the last lines
        // (often the reason for the exit) are in `recent` before the exit is counted.
        let _ = tokio::time::timeout(Duration::from_secs(1), futures_join(forwarders)).await;
        let uptime = started.elapsed();
        let delay = backoff.after_exit(uptime);
        let what = match exit {
            Ok(s) => s,
            Err(e) => format!("could not start: {e}"),
        };
        {
            let mut st = status.lock().unwrap_or_else(|e| e.into_inner());
            st.pid = None;
            st.exits += 1;
            st.last_exit = Some(what.clone());
        }
        tracing::warn!(
            instance = %name,
            "{name} exited ({what}) after {uptime:.1?}; restarting in {delay:.1?}"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s != Stop::Running) => return,
            w = changed_from(&mut want, Want::Run) => if w == Want::Gone { return },
        }
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

fn describe(status: ExitStatus) -> String {
    status.to_string()
}

/// Spawn the instance's process and its two output forwarders.
async fn spawn(
    spec: &Spec,
    settings: &Settings,
    status: &Arc<Mutex<Status>>,
) -> std::io::Result<(Child, Vec<JoinHandle<()>>)> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    };
    let mut cmd = match &settings.launcher {
        Some(launcher) => {
            let mut c = Command::new(launcher);
            c.arg("up")
                .arg("--supervised-by")
                .arg(std::process::id().to_string())
                .args(&spec.launcher_args)
                .arg("--")
                .arg(program)
                .args(args);
            c
        }
        None => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    };
    cmd.envs(settings.env.iter().map(|(k, v)| (k, v)))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("PORT", spec.port.to_string())
        .env("BIGSTEP_INSTANCE", &spec.name)
        .env("BIGSTEP_INSTANCE_INDEX", spec.index.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = settings.spawner.spawn(cmd).await?;
    let mut forwarders = Vec::new();
    if let Some(out) = child.stdout.take() {
        forwarders.push(forward(out, prefix(spec, false), false, status.clone()));
    }
    if let Some(err) = child.stderr.take() {
        forwarders.push(forward(err, prefix(spec, true), true, status.clone()));
    }
    Ok((child, forwarders))
}

/// `app-1 |`, in a colour of its own when the output is a terminal.
fn prefix(spec: &Spec, to_stderr: bool) -> String {
    use std::io::IsTerminal;
    const COLOURS: [u8; 6] = [36, 35, 33, 32, 34, 31];
    let terminal = if to_stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    if terminal {
        let colour = COLOURS[(spec.index.max(1) - 1) % COLOURS.len()];
        format!("\x1b[{colour}m{} |\x1b[0m", spec.label)
    } else {
        format!("{} |", spec.label)
    }
}

/// Copy `from` line by line to our stdout (or stderr), each line prefixed with the
/// instance's `prefix`, keeping the last few for error messages.
fn forward<R>(
    from: R,
    prefix: String,
    to_stderr: bool,
    status: Arc<Mutex<Status>>,
) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        use std::io::Write;
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            // Errors writing our own output (a closed pipe) must not stop the app.
            let _ = if to_stderr {
                writeln!(std::io::stderr().lock(), "{prefix} {line}")
            } else {
                writeln!(std::io::stdout().lock(), "{prefix} {line}")
            };
            let mut st = status.lock().unwrap_or_else(|e| e.into_inner());
            if st.recent.len() == RECENT_LINES {
                st.recent.pop_front();
            }
            st.recent.push_back(line.to_string());
        }
    })
}

/// Stop a running instance: SIGTERM to its process group, then SIGKILL if it has
/// not exited within `grace` (or at once when asked to stop [`Stop::Now`]).
async fn terminate(
    child: &mut Child,
    spec: &Spec,
    grace: Duration,
    stop: &mut watch::Receiver<Stop>,
) {
    let name = &spec.name;
    let Some(pid) = child.id() else {
        // Already exited and reaped.
        return;
    };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    let why_kill = tokio::select! {
        r = tokio::time::timeout(grace, child.wait()) => match r {
            Ok(Ok(_)) => None,
            _ => Some("did not stop within the grace period"),
        },
        _ = stop.wait_for(|s| *s == Stop::Now) => Some("asked to stop now"),
    };
    if let Some(why) = why_kill {
        tracing::warn!(instance = %name, "{name} {why}: killing it");
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.kill().await;
    }
    // Whatever the instance started in its group goes with it.
    let _ = killpg(group, Signal::SIGKILL);
    tracing::debug!(instance = %name, "{name} stopped");
}
