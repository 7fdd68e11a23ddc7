//! Real S3 clients (aws-cli, boto3, plain HTTP) against a real files server.
//!
//! Each test starts the server as a child process: this test binary re-executes
//! itself running only [`child_server`], which serves a temp directory on
//! 127.0.0.1 port 0 and prints the usual `bigstep files listening on ADDR` line.
//! A separate process is what lets the crash test `kill -9` it mid-upload.
//!
//! The Python scripts in `tests/py/` drive the clients; a missing client is a
//! failure, not a skip (CI installs them from `.ci/pip-files.txt`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ACCESS: &str = "BSTESTACCESSKEY00001";
const SECRET: &str = "test-secret-key-0123456789-abcdefghijkl";
const CHILD_ENV: &str = "BIGSTEP_FILES_TEST_CHILD_DIR";

/// Runs the server when this binary is re-executed as a child; a no-op otherwise.
#[test]
fn child_server() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let mut config = files::FilesConfig::new(dir, ACCESS, SECRET);
        config.public_buckets = vec!["public".to_owned()];
        let idle =
            std::env::var("BIGSTEP_FILES_TEST_IDLE").map_or(20, |v| v.parse().expect("secs"));
        config.idle_timeout = Duration::from_secs(idle);
        if let Ok(day) = std::env::var("BIGSTEP_FILES_TEST_DAY_MS") {
            config.lifecycle_day = Duration::from_millis(day.parse().expect("ms"));
        }
        // Open (and recover) the data directory before announcing, as the binary does.
        let server = files::FilesServer::open(config).await.expect("open");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "bigstep files listening on {}",
            listener.local_addr().expect("addr")
        );
        // Stop when the parent goes away (stdin closes), so no server outlives its test.
        let parent_gone = async {
            tokio::task::spawn_blocking(|| {
                let mut s = String::new();
                while std::io::stdin()
                    .read_line(&mut s)
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {}
            })
            .await
            .ok();
        };
        server.serve(listener, parent_gone).await.expect("serve");
    });
    std::process::exit(0);
}

struct Server {
    child: Child,
    endpoint: String,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, 20)
    }

    fn start_with(dir: &Path, idle_secs: u64) -> Server {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new(exe);
        cmd.args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir)
            .env("BIGSTEP_FILES_TEST_IDLE", idle_secs.to_string());
        Server::spawn(cmd, dir)
    }

    /// The real `bigstep files` binary.
    fn start_binary(dir: &Path) -> Server {
        Server::start_binary_with(dir, &[])
    }

    /// The real `bigstep files` binary, with more flags.
    fn start_binary_with(dir: &Path, flags: &[&str]) -> Server {
        let mut cmd = Command::new(bigstep_bin());
        cmd.args(["files", "--port", "0", "--dir"])
            .arg(dir)
            .args(["--access-key", ACCESS, "--secret-key", SECRET])
            .args(flags);
        Server::spawn(cmd, dir)
    }

    fn spawn(mut cmd: Command, dir: &Path) -> Server {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print "test child_server ... " first on the same line.
                if let Some((_, addr)) = line.split_once("bigstep files listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not print its address");
        Server {
            child,
            endpoint: format!("http://{addr}"),
            dir: dir.to_owned(),
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The `bigstep` binary `cargo test --workspace` builds (for the bigstep crate's own
/// tests) next to this test's directory.
fn bigstep_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("bigstep");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p bigstep` first (cargo test --workspace does)",
        bin.display()
    );
    bin
}

fn temp_dir(tag: &str) -> testkit::TempDir {
    testkit::TempDir::new(&format!("files-{tag}"))
}

fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

/// Runs a client script with a deadline; panics with its output if it fails.
fn run_py(args: &[&str], limit: Duration) {
    // The scripts' own temporary directories go with the test even if killed.
    let tmp = testkit::TempDir::new("files-py");
    let mut child = Command::new("python3")
        .env("TMPDIR", &tmp)
        .args(args)
        .current_dir(py_dir())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required for the client tests");
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python3 {args:?} failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
}

fn boto3(scenario: &str) {
    let dir = temp_dir(scenario);
    let server = Server::start(&dir.join("data"));
    let data = server.dir.display().to_string();
    run_py(
        &["boto3_flows.py", &server.endpoint, scenario, &data],
        Duration::from_secs(240),
    );
    drop(server);
}

#[test]
fn aws_cli_cp_ls_sync_rm_and_conditional_gets() {
    let dir = temp_dir("awscli");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["awscli_flows.py", &server.endpoint],
        Duration::from_secs(400),
    );
    drop(server);
}

#[test]
fn boto3_upload_download_multipart_with_checksums() {
    boto3("transfer");
}

#[test]
fn boto3_checksums_every_algorithm_single_multipart_and_trailers() {
    let dir = temp_dir("checksums");
    let server = Server::start(&dir.join("data"));
    let data = server.dir.display().to_string();
    run_py(
        &["checksum_flows.py", &server.endpoint, &data],
        Duration::from_secs(300),
    );
    drop(server);
}

#[test]
fn boto3_virtual_host_addressing_with_the_domain_flag() {
    let dir = temp_dir("vhost");
    let server = Server::start_binary_with(
        &dir.join("data"),
        &["--domain", "localhost", "--public-bucket", "public"],
    );
    let port = server.endpoint.rsplit(':').next().expect("port").to_owned();
    run_py(&["vhost_flows.py", &port], Duration::from_secs(120));
    drop(server);
}

#[test]
fn boto3_presigned_urls_over_plain_http() {
    boto3("presigned");
}

#[test]
fn conditional_writes_default_content_type_and_error_messages() {
    boto3("conditional");
}

#[test]
fn wrong_secret_is_signature_does_not_match() {
    boto3("auth");
}

#[test]
fn traversal_keys_are_refused_and_odd_keys_are_safe() {
    boto3("traversal");
}

#[test]
fn bucket_object_list_copy_delete_and_multipart_api() {
    boto3("api");
}

#[test]
fn concurrent_puts_to_one_key_leave_one_whole_object() {
    boto3("concurrent");
}

#[test]
fn cors_config_and_preflight() {
    boto3("cors");
}

#[test]
fn fast_path_reads_agree_with_the_general_path() {
    let dir = temp_dir("fastpath");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["fast_path.py", &server.endpoint],
        Duration::from_secs(240),
    );
    drop(server);
}

#[test]
fn signed_reads_take_the_fast_path_and_bad_signatures_are_refused() {
    let dir = temp_dir("signedfast");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["signed_fast.py", &server.endpoint],
        Duration::from_secs(240),
    );
    drop(server);
}

#[test]
fn reads_after_a_put_on_one_connection_take_the_fast_path() {
    let dir = temp_dir("keepalive");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["keepalive_fast.py", &server.endpoint],
        Duration::from_secs(120),
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tagging_and_lifecycle_expiry_with_boto3_and_aws_cli() {
    let dir = temp_dir("lifecycle");
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    // A lifecycle "day" of two seconds: Days: 1 rules act while the test watches.
    cmd.args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.join("data"))
        .env("BIGSTEP_FILES_TEST_DAY_MS", "2000");
    let server = Server::spawn(cmd, &dir.join("data"));
    run_py(
        &["tagging_lifecycle.py", &server.endpoint],
        Duration::from_secs(300),
    );
    drop(server);
}

#[test]
fn boto3_get_and_head_by_part_number() {
    let dir = temp_dir("partnumber");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["part_reads.py", &server.endpoint],
        Duration::from_secs(240),
    );
    drop(server);
}

#[test]
fn object_versions_and_attributes_with_boto3_aws_cli_and_rclone() {
    let dir = temp_dir("versions");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["versions_attributes.py", &server.endpoint],
        Duration::from_secs(300),
    );
    drop(server);
}

#[test]
fn bucket_settings_acls_and_the_not_configured_answers() {
    let dir = temp_dir("acl");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["bucket_settings.py", &server.endpoint],
        Duration::from_secs(120),
    );
    drop(server);
}

#[test]
fn public_bucket_allows_anonymous_reads_only() {
    boto3("public");
}

#[test]
fn kill_9_of_the_binary_mid_upload_leaves_nothing_visible() {
    let dir = temp_dir("kill9");
    let data = dir.join("data");
    let mut server = Server::start_binary(&data);
    // Killed below, so its atexit cleanup never runs: its temp dir goes with ours.
    let mut put = Command::new("python3")
        .env("TMPDIR", &dir)
        .args(["partial_put.py", &server.endpoint, "crash", "big.bin"])
        .current_dir(py_dir())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is required");
    let stdout = put.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == "sent" {
                let _ = tx.send(());
            }
        }
    });
    let sent = rx.recv_timeout(Duration::from_secs(60));
    // The partial body is on disk, in the temporary area only.
    let tmp = data.join(".bigstep/tmp");
    let partial_seen = (0..100).any(|_| {
        let n = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
        if n == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        n > 0
    });
    let before: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    eprintln!("before kill: {before:?}");
    server.kill9();
    let _ = put.kill();
    let _ = put.wait();
    sent.expect("the partial upload did not start");
    assert!(
        partial_seen,
        "expected a partial upload in {}",
        tmp.display()
    );

    let server = Server::start_binary(&data);
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "leftovers are cleaned on start: {left:?}");
    run_py(
        &["check_absent.py", &server.endpoint, "crash", "big.bin"],
        Duration::from_secs(60),
    );
    drop(server);
}

/// PUTs from 8 threads share index commits (`store.rs`, `GroupCommit`); a
/// `kill -9` while they run must not lose one that was answered. The keys the
/// client saw acknowledged (at least 100) all read back whole after a restart.
#[test]
fn kill_9_during_concurrent_puts_loses_no_acknowledged_put() {
    let dir = temp_dir("kill9-group");
    let data = dir.join("data");
    let mut server = Server::start(&data);
    let mut put = Command::new("python3")
        .env("TMPDIR", &dir)
        .args(["acked_puts.py", &server.endpoint, "group", "4000"])
        .current_dir(py_dir())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is required");
    let stdout = put.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(key) = line.strip_prefix("acked ") {
                acked.push(key.to_owned());
                if acked.len() == 100 {
                    let _ = tx.send(());
                }
            }
        }
        acked
    });
    let enough = rx.recv_timeout(Duration::from_secs(120));
    // PUTs are in flight: kill the server under them.
    server.kill9();
    let _ = put.wait();
    let acked = reader.join().expect("reader");
    enough.expect("100 PUTs were not acknowledged in time");
    eprintln!("{} PUTs acknowledged before the kill", acked.len());
    let list = dir.join("acked.txt");
    std::fs::write(&list, acked.join("\n")).expect("write list");
    let server = Server::start(&data);
    run_py(
        &[
            "check_acked.py",
            &server.endpoint,
            "group",
            list.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(120),
    );
    drop(server);
}

#[test]
fn stalled_upload_times_out_and_leaves_nothing() {
    let dir = temp_dir("stall");
    let data = dir.join("data");
    let server = Server::start_with(&data, 2);
    run_py(
        &["stalled_put.py", &server.endpoint],
        Duration::from_secs(60),
    );
    let tmp = data.join(".bigstep/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        left.is_empty(),
        "the stalled body's temp file is removed: {left:?}"
    );
    drop(server);
}

#[test]
fn binary_keys_refusal_and_graceful_sigterm() {
    let dir = temp_dir("cli");
    // No keys on a non-loopback address: refuse to start.
    let out = Command::new(bigstep_bin())
        .args(["files", "--port", "0", "--bind", "0.0.0.0", "--dir"])
        .arg(dir.join("data"))
        .env_remove("BIGSTEP_FILES_ACCESS_KEY")
        .env_remove("BIGSTEP_FILES_SECRET_KEY")
        .output()
        .expect("run bigstep");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to listen on 0.0.0.0 without keys")
    );

    // No keys on loopback: a generated pair is printed; SIGTERM stops it cleanly.
    let mut child = Command::new(bigstep_bin())
        .args(["files", "--port", "0", "--dir"])
        .arg(dir.join("data"))
        .env_remove("BIGSTEP_FILES_ACCESS_KEY")
        .env_remove("BIGSTEP_FILES_SECRET_KEY")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn bigstep");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let done = line.starts_with("bigstep files listening on 127.0.0.1:");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(
        text.contains("access key: ") && text.contains("secret key: "),
        "{text}"
    );
    assert!(
        text.contains("bigstep files listening on 127.0.0.1:"),
        "{text}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
}

#[test]
fn rclone_copy_check_and_s3cmd_put_get() {
    let dir = temp_dir("rclone");
    let server = Server::start(&dir.join("data"));
    run_py(
        &["rclone_s3cmd.py", &server.endpoint],
        Duration::from_secs(240),
    );
    drop(server);
}

#[test]
fn binary_takes_keys_from_the_config_file() {
    let dir = temp_dir("toml");
    let config = dir.join("bigstep.toml");
    std::fs::write(
        &config,
        format!("[files]\naccess_key = \"{ACCESS}\"\nsecret_key = \"{SECRET}\"\n"),
    )
    .expect("write config");
    let mut cmd = Command::new(bigstep_bin());
    cmd.args(["files", "--port", "0", "--config"])
        .arg(&config)
        .arg("--dir")
        .arg(dir.join("data"))
        .env_remove("BIGSTEP_FILES_ACCESS_KEY")
        .env_remove("BIGSTEP_FILES_SECRET_KEY");
    let server = Server::spawn(cmd, &dir.join("data"));
    run_py(
        &["boto3_flows.py", &server.endpoint, "auth"],
        Duration::from_secs(120),
    );
    drop(server);
}

/// Why FUSE cannot be used here, if it cannot.
fn fuse_unusable() -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("/dev/fuse cannot be opened: {e}"));
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").exists()))
        .unwrap_or(false);
    (!found).then(|| "fusermount3 is missing (Debian package fuse3)".to_owned())
}

/// One `rclone mount` of the test bucket, unmounted and stopped on drop.
struct Mount {
    child: Child,
    dir: PathBuf,
}

impl Mount {
    fn start(endpoint: &str, dir: &Path, cache: &Path) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        std::fs::create_dir_all(cache).expect("cache dir");
        // rclone wants its config file to exist; everything is in the environment.
        std::fs::write(cache.join("none.conf"), "").expect("rclone config");
        let child = Command::new("rclone")
            .args(["mount", "bs:shared"])
            .arg(dir)
            // The README's recipe: writes go to a local cache file first and are
            // uploaded whole on close, so a reader never sees half a file.
            .args(["--vfs-cache-mode", "writes", "--vfs-write-back", "0s"])
            .args(["--dir-cache-time", "1s", "--poll-interval", "0"])
            .arg("--cache-dir")
            .arg(cache)
            .env("RCLONE_CONFIG", cache.join("none.conf"))
            .env("RCLONE_CONFIG_BS_TYPE", "s3")
            .env("RCLONE_CONFIG_BS_PROVIDER", "Other")
            .env("RCLONE_CONFIG_BS_ACCESS_KEY_ID", ACCESS)
            .env("RCLONE_CONFIG_BS_SECRET_ACCESS_KEY", SECRET)
            .env("RCLONE_CONFIG_BS_ENDPOINT", endpoint)
            .env("RCLONE_CONFIG_BS_REGION", "us-east-1")
            .env("RCLONE_CONFIG_BS_FORCE_PATH_STYLE", "true")
            // Set on some machines, it makes rclone refuse plain-HTTP endpoints.
            .env_remove("AWS_CA_BUNDLE")
            .stdout(Stdio::null())
            .spawn()
            .expect("rclone is required (Debian package rclone)");
        let mount = Mount {
            child,
            dir: dir.to_owned(),
        };
        let canonical = dir.canonicalize().expect("canonical");
        wait_for(Duration::from_secs(30), "the mount to appear", || {
            std::fs::read_to_string("/proc/mounts")
                .map(|m| m.contains(&format!(" {} fuse.rclone ", canonical.display())))
                .unwrap_or(false)
        });
        mount
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .arg("-uz")
            .arg(&self.dir)
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds; panics naming `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The shared-directory recipe: one bucket mounted twice with `rclone mount` (two
/// mount points stand in for two app hosts); a file written through one is read
/// through the other, also across a restart of the files server.
#[test]
fn rclone_mount_shares_a_bucket_between_two_mounts_across_a_restart() {
    if let Some(why) = fuse_unusable() {
        if std::env::var_os("BIGSTEP_ALLOW_NO_FUSE").is_some() {
            eprintln!("SKIPPED (BIGSTEP_ALLOW_NO_FUSE is set): {why}");
            return;
        }
        panic!("FUSE is not usable here: {why}. Set BIGSTEP_ALLOW_NO_FUSE=1 to skip this test on purpose.");
    }
    let dir = temp_dir("mount");
    let data = dir.join("data");
    // The server comes back on the same port after the restart, so the port is chosen here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
        .to_string();
    let start = || {
        let mut cmd = Command::new(bigstep_bin());
        cmd.args(["files", "--port", &port, "--dir"])
            .arg(&data)
            .args(["--access-key", ACCESS, "--secret-key", SECRET]);
        Server::spawn(cmd, &data)
    };
    let mut server = start();
    let endpoint = server.endpoint.clone();
    std::fs::write(dir.join("none.conf"), "").expect("rclone config");
    let status = Command::new("rclone")
        .args(["mkdir", "bs:shared"])
        .env("RCLONE_CONFIG", dir.join("none.conf"))
        .env("RCLONE_CONFIG_BS_TYPE", "s3")
        .env("RCLONE_CONFIG_BS_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BS_ACCESS_KEY_ID", ACCESS)
        .env("RCLONE_CONFIG_BS_SECRET_ACCESS_KEY", SECRET)
        .env("RCLONE_CONFIG_BS_ENDPOINT", &endpoint)
        .env("RCLONE_CONFIG_BS_REGION", "us-east-1")
        .env("RCLONE_CONFIG_BS_FORCE_PATH_STYLE", "true")
        .env_remove("AWS_CA_BUNDLE")
        .status()
        .expect("rclone");
    assert!(status.success(), "rclone mkdir failed");
    let a = Mount::start(&endpoint, &dir.join("host-a"), &dir.join("cache-a"));
    let b = Mount::start(&endpoint, &dir.join("host-b"), &dir.join("cache-b"));

    let first: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::create_dir_all(a.dir.join("uploads")).expect("mkdir through a");
    std::fs::write(a.dir.join("uploads/first.bin"), &first).expect("write through a");
    wait_for(Duration::from_secs(60), "first.bin through b", || {
        std::fs::read(b.dir.join("uploads/first.bin"))
            .ok()
            .as_deref()
            == Some(&first[..])
    });

    // Restart the files server under both mounts.
    server.kill9();
    server = start();
    let second = b"written after the restart".to_vec();
    std::fs::write(a.dir.join("uploads/second.txt"), &second)
        .expect("write through a after restart");
    wait_for(Duration::from_secs(60), "second.txt through b", || {
        std::fs::read(b.dir.join("uploads/second.txt"))
            .ok()
            .as_deref()
            == Some(&second[..])
    });
    assert_eq!(
        std::fs::read(b.dir.join("uploads/first.bin")).expect("first.bin after restart"),
        first
    );
    // The bytes are in the bucket, not only in a mount's cache.
    let mut listing = std::fs::read_dir(b.dir.join("uploads"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    listing.sort();
    assert_eq!(listing, ["first.bin", "second.txt"]);
    drop(a);
    drop(b);
    drop(server);
}

/// Sends `head` on a fresh connection and reads until the server closes it (or
/// 10 s pass): what came back, and whether the connection closed.
fn raw_exchange(endpoint: &str, head: &str) -> (String, bool) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(head.as_bytes()).expect("write head");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// A refusal sent before an `Expect: 100-continue` body (the client holds its
/// body back) says `Connection: close` and closes: the client must not write its
/// next request into a connection whose framing is lost (CI saw boto3's next
/// UploadPart fail that way). A keep-alive exchange before it, on the same
/// connection, shows the first request did not close it by itself.
#[test]
fn a_refusal_before_an_expected_body_closes_the_connection_and_says_so() {
    let dir = temp_dir("expect");
    let server = Server::start(&dir.join("data"));
    for (what, head) in [
        (
            "after a fast-path request",
            "GET /public/missing HTTP/1.1\r\nHost: h\r\n\r\n\
             PUT /nobucket/key HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\
             Expect: 100-continue\r\n\r\n",
        ),
        (
            "as the first request",
            "PUT /nobucket/key HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\
             Expect: 100-continue\r\n\r\n",
        ),
    ] {
        let (got, closed) = raw_exchange(&server.endpoint, head);
        let last = got.rfind("HTTP/1.1 ").map_or("", |i| &got[i..]);
        assert!(
            last.starts_with("HTTP/1.1 403"),
            "{what}: the anonymous PUT is refused: {got}"
        );
        assert!(
            !got.contains("HTTP/1.1 100"),
            "{what}: no 100 Continue before a refusal: {got}"
        );
        assert!(
            last.to_ascii_lowercase()
                .contains("\r\nconnection: close\r\n"),
            "{what}: the refusal says it closes: {last}"
        );
        assert!(closed, "{what}: the connection closes: {got}");
    }
    drop(server);
}
