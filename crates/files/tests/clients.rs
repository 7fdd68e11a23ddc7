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

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bigstep-files-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

/// Runs a client script with a deadline; panics with its output if it fails.
fn run_py(args: &[&str], limit: Duration) {
    let mut child = Command::new("python3")
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn boto3_presigned_urls_over_plain_http() {
    boto3("presigned");
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let mut put = Command::new("python3")
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
}
