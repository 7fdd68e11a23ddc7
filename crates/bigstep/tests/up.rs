//! `bigstep up` end to end: the real binary, its front door, real child processes.
//!
//! Every wait polls with a deadline; nothing sleeps hoping a condition holds.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

/// A running `bigstep up`, killed on drop if the test did not stop it.
struct Up {
    child: Child,
    addr: SocketAddr,
    /// The shared state server's port, from the banner.
    state_port: Option<u16>,
    /// The files server's access key, from the banner.
    access_key: Option<String>,
    /// The admin API, from the banner.
    admin: Option<SocketAddr>,
    /// Everything it printed (stdout and stderr), for failure messages.
    output: Arc<Mutex<String>>,
    /// Up's TMPDIR, removed with the test even when up is killed.
    _tmp: testkit::TempDir,
}

/// Port 0 for everything, and nothing kept (unless the test names a `--data` dir),
/// so tests run side by side.
fn isolated(args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = [
        "--state-port",
        "0",
        "--files-port",
        "0",
        "--admin",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !args.contains(&"--data") {
        all.push("--ephemeral".into());
    }
    // Options go before a `--` that starts the user's command.
    match args.iter().position(|a| *a == "--") {
        Some(i) => {
            let mut v: Vec<String> = args[..i].iter().map(|s| s.to_string()).collect();
            v.extend(all);
            v.extend(args[i..].iter().map(|s| s.to_string()));
            v
        }
        None => {
            let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            v.extend(all);
            v
        }
    }
}

impl Up {
    /// Start `bigstep up --listen 127.0.0.1:0 ARGS…` (every port 0, see [`isolated`])
    /// and wait for its banner.
    fn start(args: &[&str]) -> Up {
        let tmp = testkit::TempDir::new("up");
        let mut child = Command::new(BIN)
            .env("TMPDIR", &tmp)
            .arg("up")
            .args(["--listen", "127.0.0.1:0"])
            .args(isolated(args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bigstep up");
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel();
        drain(child.stdout.take().unwrap(), output.clone(), Some(lines_tx));
        drain(child.stderr.take().unwrap(), output.clone(), None);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut addr, mut state_port, mut access_key, mut admin) = (None, None, None, None);
        // The banner: the front door line first, the `Open …` line last.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("bigstep up: front door on http://") {
                        addr = Some(url.trim().parse().expect("address in the front door line"));
                    } else if let Some(rest) =
                        line.strip_prefix("bigstep up: shared state on redis://")
                    {
                        let hostport = rest.split('/').next().unwrap();
                        let a: SocketAddr = hostport.parse().expect("address of shared state");
                        state_port = Some(a.port());
                    } else if let Some(url) = line.strip_prefix("bigstep up: dashboard on http://")
                    {
                        admin = url.split_whitespace().next().and_then(|a| a.parse().ok());
                    } else if let Some(rest) = line.trim().strip_prefix("access key ") {
                        access_key = rest.split_whitespace().next().map(str::to_string);
                    } else if line.starts_with("Open http://") && addr.is_some() {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "no complete banner within 60 s; output:\n{}",
                        output.lock().unwrap()
                    );
                }
            }
        }
        Up {
            child,
            addr: addr.unwrap(),
            state_port,
            access_key,
            admin,
            output,
            _tmp: tmp,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        signal(self.child.id(), Signal::SIGTERM);
        self.wait_exit()
    }

    /// Wait (bounded) for the exit status.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "bigstep up still running 30 s after SIGTERM; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // The instances die with it (parent-death signal).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copy a pipe into `output` line by line (so the child never blocks on a full
/// pipe), sending each line to `lines` too.
fn drain(
    from: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            {
                let mut out = output.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).unwrap();
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry but is not running.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// GET `path` on its own connection; `Err` for any transport failure.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete response: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// `/api/whoami` through the front door: (instance, pid).
fn whoami(addr: SocketAddr) -> Result<(String, u32), String> {
    let (status, body) = get(addr, "/api/whoami")?;
    if status != 200 {
        return Err(format!("status {status}: {body}"));
    }
    let instance = json_field(&body, "instance")
        .ok_or_else(|| format!("no instance in {body}"))?
        .trim_matches('"')
        .to_string();
    let pid = json_field(&body, "pid")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no pid in {body}"))?;
    Ok((instance, pid))
}

/// The raw value of `"key":value` in a flat JSON object.
fn json_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let start = body.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &body[start..];
    let end = rest.find([',', '}'])?;
    Some(rest[..end].trim())
}

/// The instance named on the HTML page.
fn page_instance(body: &str) -> Option<String> {
    let start = body.find("id=\"instance\">")? + "id=\"instance\">".len();
    let end = body[start..].find('<')?;
    Some(body[start..start + end].to_string())
}

/// GET `/` `n` times; the instance names that served them.
fn spread(addr: SocketAddr, n: usize, out: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let (status, body) = get(addr, "/").unwrap_or_else(|e| panic!("GET /: {e}\n{out}"));
        assert_eq!(status, 200, "{body}");
        let name = page_instance(&body).expect("instance on the page");
        *seen.entry(name).or_insert(0) += 1;
    }
    seen
}

/// The pid of every instance, learnt through the front door.
fn pids(addr: SocketAddr, n: usize) -> HashMap<String, u32> {
    let mut pids = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.len() < n {
        assert!(Instant::now() < deadline, "saw only {pids:?}");
        let (name, pid) = whoami(addr).unwrap();
        pids.insert(name, pid);
    }
    pids
}

fn names(n: usize) -> HashSet<String> {
    (1..=n).map(|i| format!("app-{i}")).collect()
}

#[test]
fn up_spreads_over_three_restarts_a_killed_one_and_stops_cleanly() {
    let mut up = Up::start(&["--grace", "5s"]);
    let addr = up.addr;

    let seen = spread(addr, 30, &up.output());
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        names(3),
        "{seen:?}"
    );

    let before = pids(addr, 3);
    let victim = before["app-2"];
    signal(victim, Signal::SIGKILL);

    // Until app-2 answers again with a new pid, every request must still succeed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut requests = 0;
    let new_pid = loop {
        assert!(
            Instant::now() < deadline,
            "app-2 not back within 30 s; output:\n{}",
            up.output()
        );
        let (name, pid) = whoami(addr).unwrap_or_else(|e| {
            panic!(
                "request {requests} failed while app-2 was down: {e}\n{}",
                up.output()
            )
        });
        requests += 1;
        if name == "app-2" && pid != victim {
            break pid;
        }
    };
    assert!(!alive(victim));
    let out = up.output();
    assert!(out.contains("app-2 exited"), "{out}");
    assert!(out.contains("app-2 restarted"), "{out}");

    let status = up.terminate();
    assert!(status.success(), "{status}; output:\n{}", up.output());
    for pid in before.values().copied().chain([new_pid]) {
        assert!(!alive(pid), "instance pid {pid} outlived bigstep up");
    }
}

#[test]
fn up_n5_serves_from_five() {
    let mut up = Up::start(&["-n", "5"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = HashSet::new();
    while seen.len() < 5 {
        assert!(Instant::now() < deadline, "saw only {seen:?}");
        let (status, body) = get(up.addr, "/").unwrap();
        assert_eq!(status, 200, "{body}");
        seen.insert(page_instance(&body).unwrap());
    }
    assert_eq!(seen, names(5));
    let pids = pids(up.addr, 5);
    assert!(up.terminate().success());
    for pid in pids.values() {
        assert!(!alive(*pid), "instance pid {pid} outlived bigstep up");
    }
}

#[test]
fn user_command_gets_port_and_instance() {
    // The demo app reads PORT and BIGSTEP_INSTANCE from its environment: run as a
    // user command, it shows the names `bigstep up` gave it.
    let mut up = Up::start(&["-n", "2", "--", BIN, "demo"]);
    let seen = spread(up.addr, 10, &up.output());
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        names(2),
        "{seen:?}"
    );
    assert!(up.terminate().success());
}

#[test]
fn user_command_port_is_substituted_in_arguments() {
    let mut up = Up::start(&[
        "-n",
        "2",
        "--health-path",
        "/healthz",
        "--",
        BIN,
        "demo",
        "--port",
        "$PORT",
        "--instance",
        "web-${BIGSTEP_INSTANCE_INDEX}",
    ]);
    let seen = spread(up.addr, 10, &up.output());
    let want: HashSet<String> = ["web-1".to_string(), "web-2".to_string()].into();
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), want);
    assert!(up.terminate().success());
}

#[test]
fn an_app_that_exits_at_start_is_reported_by_name() {
    let out = Command::new(BIN)
        .args(["up", "--listen", "127.0.0.1:0", "-n", "2", "--ephemeral"])
        .args(["--admin", "127.0.0.1:0"])
        .args(["--state-port", "0", "--files-port", "0", "--"])
        .args([
            "sh",
            "-c",
            "echo \"no database for $BIGSTEP_INSTANCE\"; exit 7",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("app-1 exited (exit status: 7) before accepting connections"),
        "{stderr}"
    );
    assert!(stderr.contains("app-1 | no database for app-1"), "{stderr}");
}

#[test]
fn instances_die_when_up_is_killed() {
    let mut up = Up::start(&["-n", "2"]);
    let pids = pids(up.addr, 2);
    // SIGKILL: no chance to stop anything; the kernel's parent-death signal must.
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.values().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "instances {pids:?} outlived a SIGKILLed bigstep up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_the_front_door_before_stopping_instances() {
    let mut up = Up::start(&["-n", "1", "--grace", "10s"]);
    // A slow request in flight (event streams are ended at once on a stop, so
    // they cannot show the drain).
    let mut s = TcpStream::connect(up.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "GET /slow?ms=1500 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        up.addr
    )
    .unwrap();
    // Wait until the front door counts it in flight, i.e. it reached the instance.
    let admin = up.admin.expect("dashboard line");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get(admin, "/api/servers").unwrap();
        if body.contains("\"in_flight\":1") {
            break;
        }
        assert!(Instant::now() < deadline, "never in flight: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }

    signal(up.child.id(), Signal::SIGTERM);
    // The front door drains: the instance is still there and answers.
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("app-1 slept 1500 ms"), "{reply}");
    let status = up.wait_exit();
    assert!(status.success(), "{status}; output:\n{}", up.output());
}

// ---- the whole picture: shared state and shared files -------------------------

/// A response read to the end: status, head (lower-cased names kept as sent), body.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send `head` (without the final blank line; `Connection: close` is added) and
/// `body` on a connection of its own; read the whole response.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(s, "{head}Host: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("incomplete response: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let reply = Reply { status, head, body };
    if reply
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        body = dechunk(&reply.body);
        return Reply { body, ..reply };
    }
    reply
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// GET `path` with an optional cookie.
fn fetch(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Reply {
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    exchange(addr, &format!("GET {path} HTTP/1.1\r\n{cookie}"), b"")
}

/// The text of the element with this id on the page.
fn element(page: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('<')?;
    Some(page[start..start + end].to_string())
}

/// `GET /`: (instance, shared visit count) from the page.
fn visit(addr: SocketAddr) -> (String, u64) {
    let r = fetch(addr, "/", None);
    let page = r.text();
    assert_eq!(r.status, 200, "{page}");
    let instance = page_instance(&page).expect("instance on the page");
    let visits = element(&page, "visits")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no shared visit count on the page:\n{page}"));
    (instance, visits)
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (apt package redis-tools, see .ci/apt-state.txt)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_shared_counter_counts_every_visit_on_every_instance() {
    let mut up = Up::start(&[]);
    let (_, first) = visit(up.addr);
    const N: u64 = 30;
    let mut served = HashSet::new();
    let mut seen = Vec::new();
    for _ in 0..N {
        let (instance, visits) = visit(up.addr);
        served.insert(instance);
        seen.push(visits);
    }
    assert_eq!(served, names(3), "{}", up.output());
    // Each visit is counted once, in order: first+1, first+2, ... first+N.
    let want: Vec<u64> = (first + 1..=first + N).collect();
    assert_eq!(seen, want);
    let port = up.state_port.expect("shared state port in the banner");
    assert_eq!(
        redis_cli(port, &["GET", "demo:visits"]),
        (first + N).to_string()
    );
    // A Redis client's SHUTDOWN does not stop the site (or half of it): it is
    // refused with the reason, and the site goes on counting.
    assert!(redis_cli(port, &["SHUTDOWN"])
        .contains("SHUTDOWN refused: this state server is part of `bigstep up`"));
    let (_, after) = visit(up.addr);
    assert_eq!(after, first + N + 1);
    assert!(up.terminate().success(), "{}", up.output());
}

/// Sum of the samples of the series named `name` (any labels) in a scrape.
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let samples: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum())
}

#[test]
fn one_metrics_endpoint_serves_the_front_door_state_and_files() {
    let mut up = Up::start(&["-n", "2"]);
    for _ in 0..4 {
        visit(up.addr);
    }
    let admin = up.admin.expect("dashboard line");
    // One scrape of up's admin /metrics holds all three roles.
    let (status, text) = get(admin, "/metrics").unwrap();
    assert_eq!(status, 200, "{text}");
    let answered = metric_sum(&text, "bigstep_server_responses_total")
        .unwrap_or_else(|| panic!("no front door series:\n{text}"));
    assert!(answered >= 4.0, "{answered} responses counted:\n{text}");
    let commands = metric_sum(&text, "bigstep_state_commands_total")
        .unwrap_or_else(|| panic!("no state server series:\n{text}"));
    assert!(
        commands >= 4.0,
        "{commands} state commands (a visit INCRs):\n{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("bigstep_files_")),
        "no files server series:\n{text}"
    );
    assert!(up.terminate().success(), "{}", up.output());
}

#[test]
fn a_login_on_one_instance_is_known_on_the_others() {
    let mut up = Up::start(&[]);
    let login = fetch(up.addr, "/login?name=Ada%20L", None);
    assert_eq!(login.status, 303, "{}", login.text());
    let logged_on = login.header("x-served-by").expect("X-Served-By");
    let cookie = login.header("set-cookie").expect("a session cookie");
    let sid = cookie.split(';').next().unwrap().to_string();
    assert!(sid.starts_with("sid="), "{cookie}");

    let port = up.state_port.unwrap();
    let key = format!("session:{}", &sid["sid=".len()..]);
    assert_eq!(redis_cli(port, &["HGET", &key, "name"]), "Ada L");
    let ttl: u64 = redis_cli(port, &["TTL", &key]).parse().unwrap();
    assert!((1700..=1800).contains(&ttl), "TTL {ttl}");

    let mut served = HashSet::new();
    for _ in 0..30 {
        let r = fetch(up.addr, "/", Some(&sid));
        let page = r.text();
        let instance = page_instance(&page).unwrap();
        assert_eq!(element(&page, "name").as_deref(), Some("Ada L"), "{page}");
        assert_eq!(element(&page, "login-instance"), Some(logged_on.clone()));
        served.insert(instance);
        if served.len() == 3 {
            break;
        }
    }
    assert_eq!(served, names(3));
    // Without the cookie nobody is logged in.
    assert!(element(&fetch(up.addr, "/", None).text(), "name").is_none());
    assert!(up.terminate().success(), "{}", up.output());
}

#[test]
fn an_upload_is_served_byte_exact_by_another_instance() {
    let mut up = Up::start(&[]);
    // Every byte value, and then some: 300 KiB.
    let data: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i % 251) as u8 ^ (i >> 8) as u8)
        .collect();
    let boundary = "----bigstep-test-7d1f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"photo 1.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let up_reply = exchange(
        up.addr,
        &format!(
            "POST /upload HTTP/1.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\n",
            body.len()
        ),
        &body,
    );
    let text = up_reply.text();
    assert_eq!(up_reply.status, 303, "{text}\n{}", up.output());
    let uploaded_on = up_reply.header("x-served-by").unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("/uploads/"))
        .unwrap_or_else(|| panic!("no /uploads/ link in {text:?}"))
        .to_string();

    // The page lists it, with the instance that took it.
    let page = fetch(up.addr, "/", None).text();
    assert!(
        page.contains(&format!("<a href=\"{link}\">photo 1.bin</a>")),
        "{page}"
    );
    // The link is answered by the files server at the front door (up_uploads.rs);
    // here the app's own path shows any instance can fetch it from the bucket.
    let path = link.replacen("/uploads/", "/files/", 1);
    assert!(
        page.contains(&format!("uploaded on {uploaded_on}")),
        "{page}"
    );

    let mut tries = 0;
    loop {
        tries += 1;
        assert!(tries <= 30, "no other instance served {path}");
        let r = fetch(up.addr, &path, None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("x-uploaded-on").as_deref(),
            Some(uploaded_on.as_str())
        );
        assert!(
            r.body == data,
            "{path}: {} bytes differ from the upload",
            r.body.len()
        );
        if r.header("x-served-by").unwrap() != uploaded_on {
            break;
        }
    }
    assert_eq!(fetch(up.addr, "/files/no-such-file", None).status, 404);
    assert!(up.terminate().success(), "{}", up.output());
}

#[test]
fn state_and_keys_survive_a_restart_with_the_same_data_dir() {
    let tmp = testkit::TempDir::new("up-data");
    let dir = tmp.join("data");
    let dir_s = dir.to_str().unwrap();
    let mut up = Up::start(&["-n", "1", "--data", dir_s]);
    let (_, a) = visit(up.addr);
    let (_, b) = visit(up.addr);
    assert_eq!(b, a + 1);
    let key = up.access_key.clone().expect("access key in the banner");
    assert!(up.terminate().success(), "{}", up.output());

    let mut again = Up::start(&["-n", "1", "--data", dir_s]);
    let (_, c) = visit(again.addr);
    assert_eq!(c, b + 1, "the counter was not kept");
    assert_eq!(again.access_key, Some(key), "the files keys were not kept");
    assert!(again.output().contains("kept from the last run"));
    assert!(again.terminate().success(), "{}", again.output());
}

/// A newcomer's first run: nothing at ERROR while nothing is wrong, and the
/// banner does not promise to keep what `--ephemeral` throws away.
#[test]
fn a_quiet_first_run_logs_no_errors_and_ephemeral_keys_are_not_kept() {
    let mut up = Up::start(&["-n", "1"]);
    // The files pool's health check (a GET of / without keys, answered 403)
    // has run once when the server is up; s3s logged each at ERROR before.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !up.output().contains("server is up server=files") {
        assert!(
            Instant::now() < deadline,
            "files not checked; output:\n{}",
            up.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, a) = visit(up.addr);
    let (_, b) = visit(up.addr);
    assert_eq!(b, a + 1);
    let out = up.output();
    assert!(!out.contains("ERROR"), "an error on a quiet run:\n{out}");
    let keys = out
        .lines()
        .find(|l| l.trim_start().starts_with("access key "))
        .expect("access key line");
    assert!(!keys.contains("kept"), "{keys}");
    assert!(keys.contains("--ephemeral"), "{keys}");
    // No bigstep.toml: `ctl reload` says there is no file and what to do.
    let admin = up.admin.expect("admin address in the banner").to_string();
    let out = Command::new(BIN)
        .args(["ctl", "--admin", &admin, "reload"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("without a config file") && text.contains("bigstep.toml"),
        "{text}"
    );
    assert!(up.terminate().success(), "{}", up.output());
}

#[test]
fn without_state_and_files_the_demo_says_what_it_misses() {
    let mut up = Up::start(&["-n", "2", "--no-state", "--no-files"]);
    assert!(up.state_port.is_none());
    let page = fetch(up.addr, "/", None).text();
    assert!(page.contains("not counted: no shared state"), "{page}");
    assert!(page.contains("No shared files"), "{page}");
    assert!(!up.output().contains("REDIS_URL="), "{}", up.output());
    assert!(up.terminate().success(), "{}", up.output());
}

#[test]
fn a_busy_state_or_files_port_fails_before_any_instance_starts() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    for (flag, hint) in [
        ("--state-port", "--no-state"),
        ("--files-port", "--no-files"),
    ] {
        let other = if flag == "--state-port" {
            "--files-port"
        } else {
            "--state-port"
        };
        let out = Command::new(BIN)
            .args(["up", "--listen", "127.0.0.1:0", "--ephemeral"])
            .args(["--admin", "127.0.0.1:0"])
            .args([flag, port.as_str(), other, "0"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&port) && stderr.contains(hint), "{stderr}");
        assert!(!stderr.contains("app-1 |"), "an instance started: {stderr}");
    }
}
