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
    /// Everything it printed (stdout and stderr), for failure messages.
    output: Arc<Mutex<String>>,
}

impl Up {
    /// Start `bigstep up --listen 127.0.0.1:0 ARGS…` and wait for its front door line.
    fn start(args: &[&str]) -> Up {
        let mut child = Command::new(BIN)
            .arg("up")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
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
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("bigstep up: front door on http://") {
                        break url.trim().parse().expect("address in the front door line");
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "no front door line within 60 s; output:\n{}",
                        output.lock().unwrap()
                    );
                }
            }
        };
        Up {
            child,
            addr,
            output,
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
        .args(["up", "--listen", "127.0.0.1:0", "-n", "2", "--"])
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
    let mut up = Up::start(&["-n", "1", "--grace", "3s"]);
    // An SSE stream is a request in flight for as long as we like.
    let mut s = TcpStream::connect(up.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /events HTTP/1.1\r\nHost: {}\r\n\r\n", up.addr).unwrap();
    let mut seen = String::new();
    let read_until = |s: &mut TcpStream, needle: &str, seen: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.contains(needle) {
            assert!(Instant::now() < deadline, "no {needle:?} in {seen:?}");
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "stream closed before {needle:?}: {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until(&mut s, "app-1 tick 1", &mut seen);

    signal(up.child.id(), Signal::SIGTERM);
    // The front door drains: the instance is still there, and the stream goes on.
    read_until(&mut s, "app-1 tick 2", &mut seen);
    let status = up.wait_exit();
    assert!(status.success(), "{status}; output:\n{}", up.output());
}
