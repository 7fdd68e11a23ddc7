//! Several hosts, for real: network namespaces created by this test (a client,
//! two front doors, app hosts, a registry), joined by veth pairs to a bridge
//! that lives in a namespace of its own, with addresses only inside them. Every
//! process is the real binary (`bigstep state` as the registry, `bigstep demo`
//! apps registered by `bigstep join`, `bigstep balance` front doors); the load
//! is a small Python client (`http.client`) in the client namespace sending
//! idempotent GETs through both front doors and printing one line per request.
//!
//! Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and `ip` (iproute2). Where
//! namespaces cannot be created the tests print a loud SKIPPED message; set
//! `BIGSTEP_REQUIRE_NETNS=1` to make that a failure instead (CI does).
//! Namespace names carry the test process id, and everything is deleted on
//! drop, panics included; namespaces left by a killed run are removed by the
//! next one.

mod support;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::BIN;

/// Namespace names start with this, then the test process id.
const NS_PREFIX: &str = "bsmh";
const SUBNET: &str = "10.77.0";
const PASSWORD: &str = "multihost-registry-password";
const LIMIT: Duration = Duration::from_secs(20);

/// One scenario at a time: they share the machine's two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// === the network ===

/// Hosts on one bridge, and the processes started in them. Dropping it kills
/// the processes and deletes every namespace.
struct Net {
    tag: String,
    hosts: Vec<(String, u8)>,
    children: Vec<(String, Child)>,
    /// Config and pid files of the children (removed after they are killed).
    dirs: Vec<testkit::TempDir>,
}

impl Net {
    /// Create `hosts` (name, last octet of its address). `None`: namespaces
    /// are not available here (the caller skips, loudly).
    fn create(hosts: &[(&str, u8)]) -> Option<Net> {
        remove_stale();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = format!("{NS_PREFIX}{}x{n}", std::process::id());
        let mut net = Net {
            tag,
            hosts: Vec::new(),
            children: Vec::new(),
            dirs: Vec::new(),
        };
        let sw = net.ns("sw");
        if let Err(e) = ip(&["netns", "add", &sw]) {
            let msg = format!(
                "\n\n*** SKIPPED: cannot create network namespaces ({e}).\n*** The multi-host tests need root and iproute2; nothing was tested.\n"
            );
            assert!(std::env::var_os("BIGSTEP_REQUIRE_NETNS").is_none(), "{msg}");
            eprintln!("{msg}");
            return None;
        }
        net.hosts.push(("sw".into(), 0));
        let setup = (|| {
            ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
            ip(&["-n", &sw, "link", "set", "br0", "up"])?;
            for (i, (host, octet)) in hosts.iter().enumerate() {
                let ns = net.ns(host);
                ip(&["netns", "add", &ns])?;
                net.hosts.push((host.to_string(), *octet));
                let port = format!("p{i}");
                ip(&[
                    "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ])?;
                ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
                ip(&["-n", &sw, "link", "set", &port, "up"])?;
                ip(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{SUBNET}.{octet}/24"),
                    "dev",
                    "eth0",
                ])?;
                ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
                ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            }
            Ok::<(), String>(())
        })();
        if let Err(e) = setup {
            panic!("namespaces could be created but not wired: {e}");
        }
        Some(net)
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.tag)
    }

    fn addr(&self, host: &str) -> String {
        let octet = self.hosts.iter().find(|(h, _)| h == host).expect("host").1;
        format!("{SUBNET}.{octet}")
    }

    /// A command run inside `host`.
    fn cmd(&self, host: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Start `args` of the bigstep binary in `host`; killed on drop.
    fn spawn(&mut self, host: &str, label: &str, args: &[&str]) {
        let child = self
            .cmd(host, BIN)
            .args(args)
            .env_remove("BIGSTEP_CONFIG")
            .env("BIGSTEP_STATE_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in namespace");
        self.children.push((label.to_string(), child));
    }

    /// Kill (SIGKILL) the process started as `label`.
    fn kill(&mut self, label: &str) {
        if let Some(i) = self.children.iter().position(|(l, _)| l == label) {
            let (_, mut c) = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the process started as `label` and wait for it.
    fn stop(&mut self, label: &str) {
        if let Some(i) = self.children.iter().position(|(l, _)| l == label) {
            let (_, mut c) = self.children.remove(i);
            testkit::process::signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }

    /// (RSS in KiB, open file descriptors) of the process started as `label`.
    fn sample(&self, label: &str) -> (u64, usize) {
        let Some((_, c)) = self.children.iter().find(|(l, _)| l == label) else {
            return (0, 0);
        };
        let fds = std::fs::read_dir(format!("/proc/{}/fd", c.id())).map_or(0, |d| d.count());
        (testkit::process::rss_kib(c.id()), fds)
    }

    /// Cut (or restore) `host`'s only link.
    fn link(&self, host: &str, up: bool) {
        ip(&[
            "-n",
            &self.ns(host),
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ])
        .expect("link");
    }

    /// `curl` inside `host`: (HTTP status, body); status 0 when it failed.
    fn curl(&self, host: &str, method: &str, url: &str) -> (u16, String) {
        let out = self
            .cmd(host, "curl")
            .args(["-s", "-m", "3", "-X", method, "-w", "\n%{http_code}", url])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// A front door's `/api/status` (its admin listener is on its own loopback).
    fn status(&self, fd: &str) -> serde_json::Value {
        let (code, body) = self.curl(fd, "GET", "http://127.0.0.1:9090/api/status");
        if code != 200 {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    fn server_field(&self, fd: &str, id: &str, key: &str) -> String {
        let s = self.status(fd);
        let found = s["servers"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == id).map(|x| x[key].clone()));
        match found {
            Some(serde_json::Value::String(v)) => v,
            Some(v) => v.to_string(),
            None => "absent".into(),
        }
    }

    /// Poll `cond` until it holds; panics naming `what` after `limit`.
    fn wait(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Net) -> bool) -> Duration {
        let t = Instant::now();
        while !cond(self) {
            assert!(t.elapsed() < limit, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
        t.elapsed()
    }

    // --- the roles ---

    fn start_registry(&mut self) {
        let bind = self.addr("registry");
        self.spawn(
            "registry",
            "registry",
            &["state", "--bind", &bind, "--port", "6380"],
        );
        self.wait("registry listening", LIMIT, |n| {
            n.cmd("registry", "bash")
                .args(["-c", &format!("exec 3<>/dev/tcp/{bind}/6380")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    fn registry_url(&self) -> String {
        format!("redis://:{PASSWORD}@{}:6380", self.addr("registry"))
    }

    /// A demo app on `host` registered by `bigstep join`.
    fn start_app(&mut self, host: &str) {
        let bind = self.addr(host);
        self.spawn(
            host,
            &format!("{host}-app"),
            &[
                "demo",
                "--bind",
                &bind,
                "--port",
                "8080",
                "--instance",
                host,
            ],
        );
        self.wait(&format!("{host} app up"), LIMIT, |n| {
            n.curl(host, "GET", &format!("http://{bind}:8080/healthz"))
                .0
                == 200
        });
        let url = self.registry_url();
        let address = format!("{bind}:8080");
        self.spawn(
            host,
            &format!("{host}-join"),
            &[
                "join",
                "--registry",
                &url,
                "--name",
                host,
                "--address",
                &address,
                "--health",
                "/healthz",
                "--ttl",
                "3s",
            ],
        );
    }

    fn start_front_door(&mut self, host: &str, extra: &str) {
        let listen = self.addr(host);
        let dir = testkit::process::temp_dir(&format!("mh-{host}"));
        let path = dir.join("bigstep.toml");
        std::fs::write(
            &path,
            format!(
                "[balance]\n{}admin_listen = \"127.0.0.1:9090\"\n{extra}\n\
                 [balance.timeouts]\nconnect = \"300ms\"\nupstream_response = \"2s\"\n\
                 [balance.health]\ninterval = \"250ms\"\ntimeout = \"500ms\"\nrise = 1\nfall = 2\n\
                 [balance.discovery]\nregistry = \"{}\"\npoll = \"500ms\"\n",
                if extra.contains("listen =") {
                    String::new()
                } else {
                    format!("listen = \"{listen}:8080\"\n")
                },
                self.registry_url()
            ),
        )
        .expect("config");
        let path = path.to_string_lossy().to_string();
        self.dirs.push(dir);
        self.spawn(host, host, &["balance", "--config", &path]);
        self.wait(&format!("{host} listening"), LIMIT, |n| {
            n.curl(host, "GET", "http://127.0.0.1:9090/healthz").0 == 200
        });
    }

    /// Every front door sees `id` up.
    fn wait_up(&self, id: &str) -> Duration {
        self.wait(&format!("{id} up on both front doors"), LIMIT, |n| {
            ["fd-a", "fd-b"]
                .iter()
                .all(|fd| n.server_field(fd, id, "health") == "up")
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for (host, _) in &self.hosts {
            let _ = ip(&["netns", "del", &self.ns(host)]);
        }
    }
}

/// Delete namespaces left by a run that was killed (its process is gone).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid: u32 = rest
            .split('x')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

// === the load ===

const LOAD: &str = r#"
import http.client, json, sys, threading, time
workers, limit, targets = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
out = threading.Lock()
deadline = time.time() + limit
def run(w):
    conns = [None] * len(targets)
    i = w
    while not stop.is_set() and time.time() < deadline:
        k = i % len(targets)
        i += 1
        started = int(time.time() * 1000)
        host, port = targets[k].split(":")
        status, who = 0, "-"
        try:
            if conns[k] is None:
                conns[k] = http.client.HTTPConnection(host, int(port), timeout=5)
            conns[k].request("GET", "/api/whoami")
            r = conns[k].getresponse()
            body = r.read()
            status = r.status
            if status == 200:
                who = json.loads(body)["instance"]
        except Exception as e:
            who = type(e).__name__
            try: conns[k].close()
            except Exception: pass
            conns[k] = None
        with out:
            print(started, int(time.time() * 1000), k, status, who, flush=True)
        time.sleep(0.01)
ts = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
for t in ts: t.start()
for t in ts: t.join()
"#;

/// How long a load client may run: 90 s, or the soak's length and a margin.
fn load_limit_secs() -> u64 {
    std::env::var("BIGSTEP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(90, |s| s + 120)
}

/// One request as the client saw it.
#[derive(Debug, Clone)]
struct Req {
    /// When it was sent (ms since the epoch).
    at_ms: u64,
    /// When its answer (or error) came.
    done_ms: u64,
    target: usize,
    status: u16,
    who: String,
}

impl Req {
    fn failed(&self) -> bool {
        self.status != 200
    }
}

/// The client's load, running until dropped or `finish`ed.
struct Load {
    child: Child,
    seen: Arc<Mutex<Vec<Req>>>,
}

impl Load {
    /// Requests from the client host, alternating between `front_doors`.
    fn start(net: &Net, front_doors: &[&str]) -> Load {
        Load::with_workers(net, front_doors, 1)
    }

    /// `workers` clients at once, each one request at a time.
    fn with_workers(net: &Net, front_doors: &[&str], workers: usize) -> Load {
        let targets: Vec<String> = front_doors
            .iter()
            .map(|f| format!("{}:8080", net.addr(f)))
            .collect();
        Load::to(net, &targets, workers)
    }

    /// `workers` clients at once sending to `targets` (`ip:port`).
    fn to(net: &Net, targets: &[String], workers: usize) -> Load {
        let mut child = net
            .cmd("client", "python3")
            .arg("-c")
            .arg(LOAD)
            .arg(workers.to_string())
            // The client stops by itself after this long, whatever happens here.
            .arg(load_limit_secs().to_string())
            .args(targets)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let stdout = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let [at, done, k, status, who] = f[..] {
                    sink.lock().unwrap().push(Req {
                        at_ms: at.parse().unwrap_or(0),
                        done_ms: done.parse().unwrap_or(0),
                        target: k.parse().unwrap_or(0),
                        status: status.parse().unwrap_or(0),
                        who: who.to_string(),
                    });
                }
            }
        });
        let load = Load { child, seen };
        let t = Instant::now();
        while load.count() < 20 {
            assert!(t.elapsed() < LIMIT, "the client sends nothing");
            std::thread::sleep(Duration::from_millis(50));
        }
        load
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn since(&self, ms: u64) -> Vec<Req> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.at_ms >= ms)
            .cloned()
            .collect()
    }

    /// Wait for `n` more requests.
    fn more(&self, n: usize) {
        let target = self.count() + n;
        let t = Instant::now();
        while self.count() < target {
            assert!(t.elapsed() < LIMIT, "the client stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop and return every request.
    fn finish(mut self) -> Vec<Req> {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let v = self.seen.lock().unwrap().clone();
        v
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn failures(reqs: &[Req]) -> Vec<&Req> {
    reqs.iter().filter(|r| r.failed()).collect()
}

fn share(reqs: &[Req], who: &str) -> usize {
    reqs.iter().filter(|r| r.who == who).count()
}

/// The usual site: registry, two front doors, three app hosts (and room for a fourth).
fn site() -> Option<Net> {
    site_with(["", ""])
}

/// The site with extra `[balance]` lines for fd-a and fd-b.
fn site_with(extra: [&str; 2]) -> Option<Net> {
    let mut net = Net::create(&[
        ("client", 10),
        ("fd-a", 21),
        ("fd-b", 22),
        ("app-1", 31),
        ("app-2", 32),
        ("app-3", 33),
        ("app-4", 34),
        ("registry", 40),
    ])?;
    net.start_registry();
    for app in ["app-1", "app-2", "app-3"] {
        net.start_app(app);
    }
    net.start_front_door("fd-a", extra[0]);
    net.start_front_door("fd-b", extra[1]);
    for app in ["app-1", "app-2", "app-3"] {
        net.wait_up(app);
    }
    Some(net)
}

// === scenarios ===

/// Scenario 1: a fourth app host runs `bigstep join`: it takes traffic within seconds,
/// with no file edited anywhere, and no request fails.
#[test]
fn a_fourth_host_joins() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut net) = site() else { return };
    let load = Load::start(&net, &["fd-a", "fd-b"]);
    let joined = now_ms();
    net.start_app("app-4");
    let t = Instant::now();
    net.wait("app-4 answers the client", LIMIT, |_| {
        share(&load.since(joined), "app-4") > 0
    });
    let first = t.elapsed();
    load.more(100);
    let reqs = load.finish();
    let late = reqs
        .iter()
        .filter(|r| r.at_ms >= joined)
        .collect::<Vec<_>>();
    let via: Vec<usize> = (0..2)
        .map(|k| {
            late.iter()
                .filter(|r| r.target == k && r.who == "app-4")
                .count()
        })
        .collect();
    eprintln!(
        "scenario 1: app-4 served its first client request {first:?} after its app started; {} requests, {} failed, app-4 via fd-a/fd-b: {via:?}",
        reqs.len(),
        failures(&reqs).len()
    );
    assert!(
        via.iter().all(|n| *n > 0),
        "both front doors send to app-4: {via:?}"
    );
    assert!(failures(&reqs).is_empty(), "failed: {:?}", failures(&reqs));
}

/// Scenario 2: an app host's link is cut: ejected within fall × interval, no failed
/// request after that; the link comes back: it takes traffic again.
#[test]
fn a_cut_link_ejects_and_a_restored_link_rejoins() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = site() else { return };
    let load = Load::start(&net, &["fd-a", "fd-b"]);
    load.more(30);
    let cut = now_ms();
    net.link("app-2", false);
    let ejected = net.wait("app-2 ejected on both front doors", LIMIT, |n| {
        ["fd-a", "fd-b"].iter().all(|fd| {
            let h = n.server_field(fd, "app-2", "health");
            h == "down" || h == "absent"
        })
    });
    let after_eject = now_ms();
    load.more(150);
    let restored = now_ms();
    net.link("app-2", true);
    net.wait("app-2 takes traffic again", LIMIT, |_| {
        share(&load.since(restored), "app-2") > 0
    });
    load.more(50);
    let reqs = load.finish();
    // Counted by when each request was sent: one in flight to app-2 at the cut
    // may fail later, and is counted before the ejection.
    let during: Vec<Req> = reqs
        .iter()
        .filter(|r| r.at_ms >= cut && r.at_ms < after_eject)
        .cloned()
        .collect();
    let after: Vec<Req> = reqs
        .iter()
        .filter(|r| r.at_ms >= after_eject)
        .cloned()
        .collect();
    let slowest = during
        .iter()
        .map(|r| r.done_ms - r.at_ms)
        .max()
        .unwrap_or(0);
    eprintln!(
        "scenario 2: ejected {ejected:?} after the cut; sent before ejection: {} failed of {} (slowest answer {slowest} ms); sent after: {} failed of {}; {} requests in all",
        failures(&during).len(),
        during.len(),
        failures(&after).len(),
        after.len(),
        reqs.len()
    );
    let window: Vec<Req> = after
        .iter()
        .filter(|r| r.at_ms < restored)
        .cloned()
        .collect();
    assert_eq!(
        share(&window, "app-2"),
        0,
        "nothing reaches a cut host after ejection"
    );
    assert!(
        failures(&after).is_empty(),
        "failed after ejection: {:?}",
        failures(&after)
    );
}

/// Scenario 4: the registry host is partitioned from everyone: front doors keep the last
/// membership (longer than the instances' TTL), say so, and lose no request.
#[test]
fn a_partitioned_registry_keeps_the_last_membership() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = site() else { return };
    let load = Load::start(&net, &["fd-a", "fd-b"]);
    load.more(30);
    net.link("registry", false);
    let cut = now_ms();
    net.wait("both front doors say the registry is down", LIMIT, |n| {
        ["fd-a", "fd-b"]
            .iter()
            .all(|fd| n.status(fd)["discovery"]["up"] == false)
    });
    // Past the entries' 3 s TTL.
    std::thread::sleep(Duration::from_secs(4));
    load.more(50);
    let partitioned = load.since(cut);
    for fd in ["fd-a", "fd-b"] {
        for app in ["app-1", "app-2", "app-3"] {
            assert_ne!(
                net.server_field(fd, app, "health"),
                "absent",
                "{fd} kept {app}"
            );
        }
    }
    net.link("registry", true);
    net.wait("both front doors read the registry again", LIMIT, |n| {
        ["fd-a", "fd-b"]
            .iter()
            .all(|fd| n.status(fd)["discovery"]["up"] == true)
    });
    load.more(100);
    for fd in ["fd-a", "fd-b"] {
        for app in ["app-1", "app-2", "app-3"] {
            assert_ne!(
                net.server_field(fd, app, "health"),
                "absent",
                "{fd} kept {app} after the partition"
            );
        }
    }
    let reqs = load.finish();
    let apps: Vec<usize> = ["app-1", "app-2", "app-3"]
        .iter()
        .map(|a| share(&partitioned, a))
        .collect();
    eprintln!(
        "scenario 4: {} requests, {} failed; during the partition {} requests to app-1/2/3: {apps:?}",
        reqs.len(),
        failures(&reqs).len(),
        partitioned.len()
    );
    assert!(
        apps.iter().all(|n| *n > 0),
        "every app kept serving: {apps:?}"
    );
    assert!(failures(&reqs).is_empty(), "failed: {:?}", failures(&reqs));
}

/// Scenario 6: a drain issued on front door A is honoured by front door B.
#[test]
fn a_drain_on_front_door_a_is_honoured_by_b() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = site() else { return };
    let load = Load::start(&net, &["fd-a", "fd-b"]);
    load.more(30);
    let (code, body) = net.curl(
        "fd-a",
        "POST",
        "http://127.0.0.1:9090/api/servers/app-1/drain",
    );
    assert_eq!(code, 200, "{body}");
    let seen = net.wait("fd-b sees app-1 draining", LIMIT, |n| {
        n.server_field("fd-b", "app-1", "admin_state") == "draining"
    });
    let drained = now_ms();
    load.more(150);
    let reqs = load.finish();
    let after: Vec<Req> = reqs.iter().filter(|r| r.at_ms > drained).cloned().collect();
    let via_b = after
        .iter()
        .filter(|r| r.target == 1 && r.who == "app-1")
        .count();
    eprintln!(
        "scenario 6: fd-b applied the drain issued on fd-a within {seen:?} (measured by polling every 100 ms); {} requests, {} failed; after: {via_b} to app-1 via fd-b",
        reqs.len(),
        failures(&reqs).len()
    );
    assert_eq!(
        via_b, 0,
        "fd-b sends no new requests to a server drained on fd-a"
    );
    assert_eq!(share(&after, "app-1"), 0, "nor does fd-a");
    assert!(failures(&reqs).is_empty(), "failed: {:?}", failures(&reqs));
}

/// Scenario 3: latency and loss on one app host (`tc netem`): least-in-flight
/// (fd-a) and power-of-two choices (fd-b) move load away from it. Reports the
/// share it kept; asserts it fell.
#[test]
fn a_slow_lossy_host_loses_its_share() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = site_with([
        "algorithm = \"least-in-flight\"",
        "algorithm = \"power-of-two\"",
    ]) else {
        return;
    };
    let load = Load::with_workers(&net, &["fd-a", "fd-b"], 8);
    load.more(50);
    let before_t = now_ms();
    load.more(600);
    let before = load.since(before_t);
    // netem needs the sch_netem module; where the kernel lacks it (this
    // machine's does), a token bucket slows the host instead: its answers queue
    // behind a 64 kbit/s rate and are dropped past 200 ms.
    let netem = [
        "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "100ms", "loss", "5%",
    ];
    let tbf = [
        "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "64kbit", "burst", "1600", "latency",
        "200ms",
    ];
    let how = if net
        .cmd("app-3", "tc")
        .args(netem)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        "netem 100 ms + 5% loss"
    } else {
        assert!(
            std::env::var_os("BIGSTEP_REQUIRE_NETEM").is_none(),
            "tc netem is not available (kernel module sch_netem)"
        );
        eprintln!("*** scenario 3: tc netem is not available in this kernel; slowing app-3 with tbf (64 kbit/s, 200 ms queue) instead");
        let ok = net.cmd("app-3", "tc").args(tbf).status().expect("tc");
        assert!(ok.success(), "tc tbf failed too");
        "tbf 64 kbit/s"
    };
    let slow_t = now_ms();
    load.more(1200);
    let slowed = load.since(slow_t);
    let reqs = load.finish();
    let share3 = |reqs: &[Req], k: usize| {
        let via: Vec<&Req> = reqs
            .iter()
            .filter(|r| r.target == k && !r.failed())
            .collect();
        via.iter().filter(|r| r.who == "app-3").count() as f64 / via.len().max(1) as f64
    };
    let (b_a, b_b, s_a, s_b) = (
        share3(&before, 0),
        share3(&before, 1),
        share3(&slowed, 0),
        share3(&slowed, 1),
    );
    eprintln!(
        "scenario 3: app-3 share before/after {how}: least-in-flight {:.1}% -> {:.1}%, power-of-two {:.1}% -> {:.1}%; {} requests ({} failed) by 8 clients",
        b_a * 100.0, s_a * 100.0, b_b * 100.0, s_b * 100.0,
        reqs.len(),
        failures(&reqs).len()
    );
    assert!(
        s_a < b_a / 2.0,
        "least-in-flight moved load away from the slow host"
    );
    assert!(
        s_b < b_b / 2.0,
        "power-of-two moved load away from the slow host"
    );
}

/// The floating address for scenario 5.
const VIP: &str = "10.77.0.100";

/// keepalived for `host`: VRRP v3 on eth0, the floating address, `priority`.
fn start_keepalived(net: &mut Net, host: &str, priority: u32) {
    let dir = testkit::process::temp_dir(&format!("mh-ka-{host}"));
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id {host}\n  vrrp_version 3\n}}\n\
             vrrp_instance front {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  advert_int 0.2\n  virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n"
        ),
    )
    .expect("keepalived.conf");
    let d = |f: &str| dir.join(f).to_string_lossy().to_string();
    let child = net
        .cmd(host, "keepalived")
        .args(["--dont-fork", "--log-console", "--vrrp", "--use-file"])
        .arg(d("keepalived.conf"))
        .args(["--pid", &d("keepalived.pid"), "--vrrp_pid", &d("vrrp.pid")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepalived");
    net.children.push((format!("{host}-keepalived"), child));
    net.dirs.push(dir);
}

fn holds_vip(net: &Net, host: &str) -> bool {
    let out = net
        .cmd(host, "ip")
        .args(["-4", "addr", "show", "dev", "eth0"])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout).contains(&format!("{VIP}/"))
}

/// Scenario 5: two front doors share a floating address (keepalived, VRRP).
/// The active one dies (its link cut, its processes killed): the address moves
/// and requests continue. Reports how many failed during the move.
#[test]
fn a_floating_address_moves_when_the_active_front_door_dies() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        let msg = "\n\n*** SKIPPED: keepalived is not installed (apt package `keepalived`); scenario 5 not tested.\n";
        assert!(std::env::var_os("BIGSTEP_REQUIRE_NETNS").is_none(), "{msg}");
        eprintln!("{msg}");
        return;
    }
    let any = "listen = \"0.0.0.0:8080\"";
    let Some(mut net) = site_with([any, any]) else {
        return;
    };
    start_keepalived(&mut net, "fd-a", 150);
    start_keepalived(&mut net, "fd-b", 100);
    net.wait("fd-a holds the floating address", LIMIT, |n| {
        holds_vip(n, "fd-a") && !holds_vip(n, "fd-b")
    });
    let load = Load::to(&net, &[format!("{VIP}:8080")], 4);
    load.more(100);
    let died = now_ms();
    net.link("fd-a", false);
    net.kill("fd-a-keepalived");
    net.kill("fd-a");
    let moved = net.wait("fd-b takes the floating address", LIMIT, |n| {
        holds_vip(n, "fd-b")
    });
    let moved_at = now_ms();
    load.more(900);
    let reqs = load.finish();
    let during: Vec<Req> = reqs
        .iter()
        .filter(|r| r.at_ms >= died && r.at_ms < moved_at + 1000)
        .cloned()
        .collect();
    let after: Vec<Req> = reqs
        .iter()
        .filter(|r| r.at_ms >= moved_at + 1000)
        .cloned()
        .collect();
    let before: Vec<Req> = reqs.iter().filter(|r| r.at_ms < died).cloned().collect();
    eprintln!(
        "scenario 5: the address moved {moved:?} after fd-a died; failed: {} of {} before, {} of {} sent during the move (until 1 s after), {} of {} after; 4 clients",
        failures(&before).len(), before.len(),
        failures(&during).len(), during.len(),
        failures(&after).len(), after.len()
    );
    assert!(failures(&before).is_empty(), "{:?}", failures(&before));
    assert!(
        failures(&after).is_empty(),
        "requests fail after the move: {:?}",
        failures(&after)
    );
    assert!(!after.is_empty());
}

/// The soak: scenarios 1–3 over and over on one site for `BIGSTEP_SOAK_SECS`
/// (default 600), with the memory and open files of every long-lived process
/// sampled each cycle. Not part of the suite (`--ignored`); run it with
/// `bench/soak-multihost.sh`. Prints one line per cycle and the first and last
/// samples; fails if a process's descriptors grew by more than 32 or its RSS
/// more than doubled.
#[test]
#[ignore = "a 10-minute soak: bench/soak-multihost.sh"]
fn soak() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let secs: u64 = std::env::var("BIGSTEP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let Some(mut net) = site_with([
        "algorithm = \"least-in-flight\"",
        "algorithm = \"power-of-two\"",
    ]) else {
        return;
    };
    let watched = [
        "registry",
        "fd-a",
        "fd-b",
        "app-1-app",
        "app-1-join",
        "app-2-app",
        "app-3-app",
    ];
    let load = Load::with_workers(&net, &["fd-a", "fd-b"], 2);
    let start = Instant::now();
    let mut first: Vec<(u64, usize)> = Vec::new();
    let mut cycle = 0;
    let tbf = [
        "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "64kbit", "burst", "1600", "latency",
        "200ms",
    ];
    let netem = [
        "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "100ms", "loss", "5%",
    ];
    while start.elapsed() < Duration::from_secs(secs) {
        cycle += 1;
        let t0 = now_ms();
        // 1: a fourth host joins, takes traffic, leaves.
        net.start_app("app-4");
        net.wait("app-4 serves", LIMIT, |_| {
            share(&load.since(t0), "app-4") > 0
        });
        net.stop("app-4-join");
        net.wait("app-4 gone", LIMIT, |n| {
            n.server_field("fd-a", "app-4", "health") == "absent"
                && n.server_field("fd-b", "app-4", "health") == "absent"
        });
        net.kill("app-4-app");
        // 2: app-2's link cut and restored.
        net.link("app-2", false);
        net.wait("app-2 ejected", LIMIT, |n| {
            ["fd-a", "fd-b"]
                .iter()
                .all(|fd| n.server_field(fd, "app-2", "health") != "up")
        });
        let back = now_ms();
        net.link("app-2", true);
        net.wait("app-2 back", LIMIT, |_| {
            share(&load.since(back), "app-2") > 0
        });
        // 3: app-3 slowed, then not.
        if !net
            .cmd("app-3", "tc")
            .args(netem)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(net
                .cmd("app-3", "tc")
                .args(tbf)
                .status()
                .expect("tc")
                .success());
        }
        load.more(200);
        let ok = net
            .cmd("app-3", "tc")
            .args(["qdisc", "del", "dev", "eth0", "root"])
            .status()
            .expect("tc");
        assert!(ok.success());
        load.more(100);
        let samples: Vec<(u64, usize)> = watched.iter().map(|l| net.sample(l)).collect();
        if first.is_empty() {
            first = samples.clone();
        }
        let reqs = load.since(t0);
        eprintln!(
            "soak cycle {cycle} at {:>4}s: {} requests, {} failed; RSS KiB / fds: {}",
            start.elapsed().as_secs(),
            reqs.len(),
            failures(&reqs).len(),
            watched
                .iter()
                .zip(&samples)
                .map(|(l, (rss, fds))| format!("{l} {rss}/{fds}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for ((label, (rss0, fd0)), (rss, fds)) in watched.iter().zip(&first).zip(&samples) {
            assert!(
                *fds <= fd0 + 32,
                "{label}: descriptors grew from {fd0} to {fds}"
            );
            assert!(
                *rss <= rss0 * 2 + 4096,
                "{label}: RSS grew from {rss0} to {rss} KiB"
            );
        }
    }
    let reqs = load.finish();
    eprintln!(
        "soak: {cycle} cycles in {:?}, {} requests, {} failed",
        start.elapsed(),
        reqs.len(),
        failures(&reqs).len()
    );
}
