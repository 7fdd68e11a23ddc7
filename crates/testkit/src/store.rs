//! A key-value store as a child process: our own `bigstep state` or the real
//! `redis-server`, on a free loopback port, nothing saved, killed on drop. The
//! discovery tests use it as the registry, the route tests as the shared
//! rate-limit store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Our own `bigstep state`.
    State,
    /// The real `redis-server`.
    Redis,
}

/// A store process, killed on drop.
pub struct StoreProc {
    pub engine: Engine,
    pub port: u16,
    bin: PathBuf,
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

impl StoreProc {
    /// Start `engine` on a free loopback port; `bin` is the `bigstep` binary
    /// (for [`Engine::State`]).
    pub fn start(bin: impl AsRef<Path>, engine: Engine) -> StoreProc {
        for _ in 0..10 {
            let mut r = StoreProc {
                engine,
                port: free_port(),
                bin: bin.as_ref().to_path_buf(),
                child: None,
            };
            // A port taken between choosing and binding: try another.
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
            Engine::State => Command::new(&self.bin)
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

    /// Kill it (SIGKILL), as a crashed or unplugged store.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:PORT`.
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

impl Drop for StoreProc {
    fn drop(&mut self) {
        self.kill();
    }
}
