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

/// The registry: `bigstep state` or a real `redis-server` (see testkit).
#[allow(unused_imports)] // not every test file that includes this module uses it
pub use testkit::store::{Engine, StoreProc as RegistryProc};

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
