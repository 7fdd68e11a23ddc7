//! Framework libraries doing their real job against bigstep state: job queues
//! with real worker processes (RQ, Celery, Sidekiq, BullMQ), caches and session
//! stores (Django, django-redis, Rails, express-session + connect-redis, Predis,
//! Laravel's cache and Redis queue, Symfony's cache and session handler), and
//! ioredis, the Node client under BullMQ and many apps.
//!
//! Each scenario is a script under `tests/{py,js,rb,php}` that exits 0 when every
//! check passed. It runs first against a real `redis-server`, which proves the
//! script itself is right, then against our server. The packages come from
//! `.ci/apt-frameworks.txt`, `.ci/pip-state.txt` and `.ci/npm-frameworks.txt`;
//! a missing one fails the test, naming it.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{start_ours, start_redis};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
/// `.ci/install` puts the npm packages here.
const NODE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/node/node_modules");

/// Runs `cmd` in its own process group and kills the whole group on timeout:
/// the scripts start worker processes (celery, sidekiq) that must not outlive them.
fn run_bounded(cmd: &mut Command, limit: Duration, needs: &str) -> Output {
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (needs {needs})"));
    let deadline = Instant::now() + limit;
    // Drain the pipes on threads so a chatty worker never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let pgid = child.id();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever the script left behind in its group (a worker it failed to stop).
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let timed_out = status.is_none();
    let status = status.unwrap_or_else(|| child.wait().expect("wait"));
    let output = Output {
        status,
        stdout: out_t.join().expect("stdout thread"),
        stderr: err_t.join().expect("stderr thread"),
    };
    if timed_out {
        panic!(
            "{cmd:?} timed out after {limit:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// A scenario script and what it needs installed.
struct Scenario {
    program: &'static str,
    script: &'static str,
    needs: &'static str,
    limit: Duration,
}

impl Scenario {
    fn command(&self, port: u16) -> Command {
        let mut c = Command::new(self.program);
        c.arg(Path::new(DIR).join(self.script))
            .arg(port.to_string())
            .env("NODE_PATH", NODE_PATH)
            .current_dir(Path::new(DIR).join(self.script).parent().expect("dir"));
        c
    }

    fn run_against(&self, port: u16, server: &str) {
        let out = run_bounded(&mut self.command(port), self.limit, self.needs);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let missing = missing_commands(&stdout, &stderr);
        assert!(
            out.status.success() && stdout.contains("all checks passed"),
            "{} against {server} failed (needs {}){missing}\nstdout: {stdout}\nstderr: {}",
            self.script,
            self.needs,
            // Worker logs can be long; the failure is at the end.
            tail(&stderr, 6000)
        );
    }

    /// The reference run proves the script; the second run proves our server.
    fn run_both(&self) {
        let redis = start_redis(&[]);
        self.run_against(redis.addr.port(), "redis-server");
        drop(redis);
        let ours = start_ours(state::Config::default());
        self.run_against(ours.addr.port(), "bigstep state");
    }
}

/// Names the commands the server refused as unknown, so a failure caused by
/// a missing command says so on its first line.
fn missing_commands(stdout: &str, stderr: &str) -> String {
    let mut names: Vec<String> = Vec::new();
    for text in [stdout, stderr] {
        for part in text.split("unknown command '").skip(1) {
            let name: String = part.chars().take_while(|&c| c != '\'').collect();
            let name = name.to_ascii_uppercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if text.contains("Unknown Redis command called from script")
            && !names.iter().any(|n| n == "(from a script)")
        {
            names.push("(from a script)".into());
        }
    }
    if names.is_empty() {
        String::new()
    } else {
        format!("\nMISSING COMMANDS: {}", names.join(", "))
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

const PY: &str = "python3 with pip packages from .ci/pip-state.txt";
const NODE: &str = "node with npm packages from .ci/npm-*.txt in .ci/node";

/// RQ 2+ stores every job result in a stream (`XADD rq:results:<id>`) and
/// reads it back with XREVRANGE.
#[test]
fn rq_burst_worker() {
    Scenario {
        program: "python3",
        script: "py/rq_queue.py",
        needs: PY,
        limit: Duration::from_secs(90),
    }
    .run_both();
}

#[test]
fn celery_worker_with_redis_broker_and_backend() {
    Scenario {
        program: "python3",
        script: "py/celery_tasks.py",
        needs: PY,
        limit: Duration::from_secs(120),
    }
    .run_both();
}

#[test]
fn django_caches_and_sessions() {
    Scenario {
        program: "python3",
        script: "py/django_cache.py",
        needs: PY,
        limit: Duration::from_secs(60),
    }
    .run_both();
}

#[test]
fn sidekiq_worker_process() {
    Scenario {
        program: "ruby",
        script: "rb/sidekiq_jobs.rb",
        needs: "ruby-sidekiq from .ci/apt-frameworks.txt",
        limit: Duration::from_secs(90),
    }
    .run_both();
}

#[test]
fn rails_cache_store_and_session_store() {
    Scenario {
        program: "ruby",
        script: "rb/rails_cache.rb",
        needs: "ruby-activesupport and ruby-redis-actionpack from .ci/apt-frameworks.txt",
        limit: Duration::from_secs(60),
    }
    .run_both();
}

#[test]
fn express_session_with_connect_redis() {
    Scenario {
        program: "node",
        script: "js/express_session.cjs",
        needs: NODE,
        limit: Duration::from_secs(60),
    }
    .run_both();
}

/// BullMQ's Lua scripts write job events to a stream (XADD, XTRIM) and its
/// workers wait on a marker with BZPOPMIN. (tests/streams.rs covers its
/// QueueEvents reader.)
#[test]
fn bullmq_worker() {
    Scenario {
        program: "node",
        script: "js/bullmq_queue.cjs",
        needs: NODE,
        limit: Duration::from_secs(60),
    }
    .run_both();
}

#[test]
fn predis_session_handler() {
    Scenario {
        program: "php",
        script: "php/predis_session.php",
        needs: "php-cli and php-predis from .ci/apt-frameworks.txt",
        limit: Duration::from_secs(30),
    }
    .run_both();
}

#[test]
fn laravel_cache_and_queue() {
    Scenario {
        program: "php",
        script: "php/laravel.php",
        needs: "php-redis and php-illuminate-{redis,cache,queue} from .ci/apt-frameworks.txt",
        limit: Duration::from_secs(60),
    }
    .run_both();
}

#[test]
fn symfony_cache_and_sessions() {
    Scenario {
        program: "php",
        script: "php/symfony.php",
        needs: "php-redis, php-symfony-cache and php-symfony-http-foundation from .ci/apt-frameworks.txt",
        limit: Duration::from_secs(60),
    }
    .run_both();
}

#[test]
fn ioredis_client() {
    Scenario {
        program: "node",
        script: "js/ioredis_client.cjs",
        needs: NODE,
        limit: Duration::from_secs(60),
    }
    .run_both();
}
