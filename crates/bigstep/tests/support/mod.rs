//! Shared by the discovery tests: a registry process (`bigstep state` or a
//! real `redis-server`), `bigstep join` processes, and admin API helpers. Every
//! child is killed on drop.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

pub const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

/// Which engine plays the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Our own `bigstep state`.
    State,
    /// The real `redis-server`.
    Redis,
}

/// A registry process, killed on drop.
pub struct RegistryProc {
    pub engine: Engine,
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Wait until something answers PING on `port` (true) or `limit` passes.
fn answers(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "PING"])
            .output();
        if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl RegistryProc {
    /// Start `engine` on a free loopback port.
    pub fn start(engine: Engine) -> RegistryProc {
        for _ in 0..10 {
            let mut r = RegistryProc {
                engine,
                port: free_port(),
                child: None,
            };
            if r.restart() {
                return r;
            }
        }
        panic!("{engine:?} did not start");
    }

    /// (Re)start on the same port, empty. Returns whether it answers.
    pub fn restart(&mut self) -> bool {
        self.kill();
        let port = self.port.to_string();
        let child = match self.engine {
            Engine::State => Command::new(BIN)
                .args(["state", "--bind", "127.0.0.1", "--port", &port])
                .env_remove("BIGSTEP_CONFIG")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn bigstep state"),
            Engine::Redis => Command::new("redis-server")
                .args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (see .ci/apt-state.txt)"),
        };
        self.child = Some(child);
        answers(self.port, Duration::from_secs(10))
    }

    /// Kill it (SIGKILL), as a crashed or unplugged registry.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Run redis-cli against it and return its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for RegistryProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `bigstep join` process, killed on drop.
pub struct JoinProc {
    pub child: Child,
}

impl JoinProc {
    /// Start `bigstep join` and wait for its "registered" line.
    pub fn start(registry: &str, name: &str, address: SocketAddr, extra: &[&str]) -> JoinProc {
        // The app's health path: /healthz unless the test names its own.
        let health: &[&str] = if extra.contains(&"--health") {
            &[]
        } else {
            &["--health", "/healthz"]
        };
        let mut child = Command::new(BIN)
            .args(["join", "--registry", registry, "--name", name])
            .args(["--address", &address.to_string()])
            .args(health)
            .args(extra)
            .env_remove("BIGSTEP_REGISTRY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bigstep join");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("bigstep join {name} did not register"));
        assert!(line.contains("registered"), "{line}");
        JoinProc { child }
    }

    /// SIGTERM and wait for it to exit (it deregisters first).
    pub fn stop(mut self) {
        testkit::process::signal(self.child.id(), "TERM");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "bigstep join exited with {status}");
    }

    /// SIGKILL: no deregistration, the entry must expire.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for JoinProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin address from the `admin listening ... listen=ADDR` log line.
pub fn admin_addr(fd: &testkit::process::FrontDoorProc) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for line in fd.logs() {
            if line.contains("admin listening") {
                if let Some(rest) = line.split("listen=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("");
                    return addr.parse().expect("admin address");
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no admin listener: {:#?}",
            fd.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One admin API call; returns (status, body).
pub async fn api(admin: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", admin.to_string());
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .expect("request");
    let r = testkit::client::send(admin, req)
        .await
        .expect("admin API answers");
    (r.status.as_u16(), r.text())
}

/// `GET /api/status` as JSON.
pub async fn status(admin: SocketAddr) -> serde_json::Value {
    let (code, body) = api(admin, "GET", "/api/status", None).await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

/// One server's entry in the status, if the front door has it.
pub fn server<'a>(status: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    status["servers"].as_array()?.iter().find(|s| s["id"] == id)
}

/// Poll `cond` (async) every 50 ms until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
