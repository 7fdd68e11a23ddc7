//! The real `bigstep` binary as a child process. It is started with a config
//! file written to a temp dir and `--listen 127.0.0.1:0`; the port is read from
//! its `... listening on ADDR` line. The child is killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct FrontDoorProc {
    pub addr: SocketAddr,
    /// The TLS listener, when the config has `[balance.tls]`.
    pub tls_addr: Option<SocketAddr>,
    pub child: Child,
    pub dir: crate::TempDir,
    /// Lines the process wrote to stderr (logs), collected in the background.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A fresh directory under the system temp dir, removed when the guard drops.
pub fn temp_dir(tag: &str) -> crate::TempDir {
    crate::TempDir::new(tag)
}

/// The environment variable that picks the HTTP/2 engine of every front door
/// the tests start (`hyper` or `bigstep`), so the HTTP/2 tests run on both.
pub const H2_ENGINE_ENV: &str = "BIGSTEP_TEST_H2_ENGINE";

/// A config file with `balance_table` as its `[balance]` table, and the
/// HTTP/2 engine from [`H2_ENGINE_ENV`] when that is set.
pub fn balance_config(balance_table: &str) -> String {
    let mut table = balance_table.to_string();
    if let Ok(engine) = std::env::var(H2_ENGINE_ENV) {
        let line = format!("engine = \"{engine}\"\n");
        match table.find("[balance.http2]\n") {
            Some(at) => table.insert_str(at + "[balance.http2]\n".len(), &line),
            None => table.push_str(&format!("\n[balance.http2]\n{line}")),
        }
    }
    format!("[balance]\n{table}")
}

impl FrontDoorProc {
    /// Start `bin balance` with `config` as the `[balance]` table body.
    pub fn start(bin: impl AsRef<Path>, balance_table: &str) -> FrontDoorProc {
        Self::start_logging(bin, balance_table, "info,bigstep::access=debug")
    }

    /// [`FrontDoorProc::start`] with `filter` as `RUST_LOG` (e.g. to see the
    /// debug lines that give a failed request's detail).
    pub fn start_logging(
        bin: impl AsRef<Path>,
        balance_table: &str,
        filter: &str,
    ) -> FrontDoorProc {
        Self::start_with_args(bin, balance_table, filter, &[])
    }

    /// [`FrontDoorProc::start_logging`] with more command-line arguments
    /// (e.g. `--threads 2`).
    pub fn start_with_args(
        bin: impl AsRef<Path>,
        balance_table: &str,
        filter: &str,
        args: &[&str],
    ) -> FrontDoorProc {
        let dir = temp_dir("fd");
        let path = dir.join("bigstep.toml");
        std::fs::write(&path, balance_config(balance_table)).expect("write config");
        let mut child = Command::new(bin.as_ref())
            .args(["balance", "--config"])
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bigstep");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tls = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("bigstep balance listening for TLS on ") {
                    tls = Some(addr.trim().to_string());
                }
                if let Some(addr) = line.strip_prefix("bigstep balance listening on ") {
                    let _ = tx.send((addr.trim().to_string(), tls.take()));
                }
            }
        });
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("logs").push(line);
            }
        });
        let (addr, tls_addr) = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok((a, t)) => (
                a.parse().expect("address"),
                t.map(|t| t.parse().expect("TLS address")),
            ),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "bigstep balance did not start; logs: {:?}",
                    logs.lock().unwrap()
                );
            }
        };
        FrontDoorProc {
            addr,
            tls_addr,
            child,
            dir,
            logs,
        }
    }

    /// Replace the `[balance]` table and send SIGHUP.
    pub fn reload(&self, balance_table: &str) {
        std::fs::write(self.dir.join("bigstep.toml"), balance_config(balance_table))
            .expect("write config");
        signal(self.child.id(), "HUP");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        signal(self.child.id(), "TERM");
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }
}

impl Drop for FrontDoorProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send a signal by name (`TERM`, `KILL`, …) with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// VmRSS of `pid` in KiB (0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
