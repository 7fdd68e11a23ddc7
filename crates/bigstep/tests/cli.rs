//! The command line as an operator meets it: `--help`, `--check`, examples.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

fn run(args: &[&str]) -> (bool, String) {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().cloned())
        .env_remove("BIGSTEP_CONFIG")
        .output()
        .expect("run bigstep");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// [`run`] for a command that might start a server: killed after `limit`, so
/// a test of a refusal fails instead of hanging when the refusal is missing.
fn run_bounded(args: &[&str], limit: std::time::Duration) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("BIGSTEP_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bigstep");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_example_config_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut checked = 0;
    let mut state_examples = 0;
    for entry in std::fs::read_dir(dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
            assert!(ok, "{}: {text}", path.display());
            checked += 1;
            let src = std::fs::read_to_string(&path).unwrap();
            if src.lines().any(|l| l.trim() == "[state]") {
                // The state role also resolves the password variables the file names.
                let env: Vec<(String, String)> = src
                    .lines()
                    .filter_map(|l| l.split_once("_env = \""))
                    .map(|(_, v)| (v.trim_end_matches('"').to_string(), "test-secret".into()))
                    .collect();
                assert!(
                    !env.is_empty(),
                    "{}: passwords should come from the environment",
                    path.display()
                );
                let p = path.to_str().unwrap();
                let (ok, text) = run_env(&["state", "--config", p, "--check"], &env);
                assert!(ok && text.contains("ok"), "{}: {text}", path.display());
                // Without the variables, --check says which one is missing.
                let (ok, text) = run(&["state", "--config", p, "--check"]);
                assert!(!ok && text.contains(&env[0].0), "{text}");
                state_examples += 1;
            }
        }
    }
    assert!(checked >= 2, "examples/ should hold the documented configs");
    // The sticky example's placeholder key is fine to check, not to deploy.
    let sticky = format!("{dir}/balance-sticky.toml");
    let (ok, text) = run(&["balance", "--check", &sticky]);
    assert!(
        ok && text.contains("warning: sticky.key is the example's placeholder"),
        "{text}"
    );
    assert!(state_examples >= 1, "examples/state.toml should be checked");
}

#[test]
fn check_counts_in_words() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("one.toml");
    std::fs::write(
        &path,
        "[balance]\nlisten = \"127.0.0.1:8080\"\n[[balance.servers]]\naddress = \"127.0.0.1:9001\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains("ok (1 server, 1 pool, 0 routes)"), "{text}");
}

#[test]
fn check_names_the_bad_key_and_line() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[balance]\nlisten = \"127.0.0.1:8080\"\nretries = 3\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("retries") && text.contains("line 3"),
        "{text}"
    );

    std::fs::write(&path, "[balance.timeouts]\nconnect = \"soon\"\n").unwrap();
    let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("connect") && text.contains("line 2"),
        "{text}"
    );

    // The [state] table: unknown keys and bad values name the key and the line.
    std::fs::write(&path, "[state]\nport = 6380\nmaxmemroy = \"1gb\"\n").unwrap();
    let (ok, text) = run(&["state", "--config", path.to_str().unwrap(), "--check"]);
    assert!(
        !ok && text.contains("maxmemroy") && text.contains("line 3"),
        "{text}"
    );
    std::fs::write(
        &path,
        "[state]\n\n[state.limits]\nproto_max_bulk_len = \"lots\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["state", "--config", path.to_str().unwrap(), "--check"]);
    assert!(
        !ok && text.contains("lots") && text.contains("line 4"),
        "{text}"
    );
    std::fs::write(
        &path,
        "[state]\n[[state.users]]\nname = \"app\"\ncommands = \"+@all\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["state", "--config", path.to_str().unwrap(), "--check"]);
    assert!(
        !ok && text.contains("users.app") && text.contains("line 3"),
        "{text}"
    );
}

#[test]
fn help_reads_like_a_product() {
    let (ok, text) = run(&["--help"]);
    assert!(ok);
    for word in ["up", "balance", "state", "files", "bigstep up"] {
        assert!(text.contains(word), "{text}");
    }
    let (ok, text) = run(&["state", "--help"]);
    assert!(
        ok && text.contains("--config") && text.contains("[state]") && text.contains("--check"),
        "{text}"
    );
    let (ok, text) = run(&["balance", "--help"]);
    assert!(
        ok && text.contains("--check") && text.contains("Examples"),
        "{text}"
    );
}

/// `bigstep up --help`: every flag a newcomer can use, with what it defaults
/// to, examples, the file, the demo's pages and what runs meanwhile; no
/// internal flag shows.
#[test]
fn up_help_explains_every_flag_with_examples() {
    let (ok, text) = run(&["up", "--help"]);
    assert!(ok, "{text}");
    for flag in [
        "--instances",
        "--config",
        "--listen",
        "--app-port-base",
        "--health-path",
        "--no-health-check",
        "--ready-timeout",
        "--grace",
        "--state-port",
        "--files-port",
        "--no-state",
        "--no-files",
        "--data",
        "--ephemeral",
        "--admin",
        "--admin-token",
        "--sticky",
        "--show-keys",
        "--session-cookie",
        "--uploads-route",
        "--no-register",
        "--shared-dir",
        "--isolation",
    ] {
        assert!(text.contains(flag), "{flag} missing:\n{text}");
    }
    for word in [
        "Examples:",
        "else 127.0.0.1:8080]",
        "[default: 10s]",
        "bigstep.toml",
        "[up]",
        "[balance]",
        "bigstep ctl reload",
        "/events",
        "/lock",
        "/uploads/KEY",
        "REDIS_URL",
        "S3_ENDPOINT_URL",
        "X-Served-By",
        "some instances only",
        "-- python3",
    ] {
        assert!(text.contains(word), "{word:?} missing:\n{text}");
    }
    for internal in ["--supervised-by", "--host-app", "--host-dir"] {
        assert!(!text.contains(internal), "{internal} shown:\n{text}");
    }
}

#[test]
fn balance_without_servers_says_what_to_do() {
    let (ok, text) = run(&["balance", "--listen", "127.0.0.1:0"]);
    assert!(!ok);
    assert!(
        text.contains("--server") && text.contains("[[balance.servers]]"),
        "{text}"
    );
}

/// A port in use: the OS error once, with what to do about it.
#[test]
fn a_busy_port_is_named_once_with_a_hint() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    for flag in ["--listen", "--admin"] {
        let mut args = vec!["balance", "--server", "127.0.0.1:3001"];
        if flag == "--admin" {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        args.extend([flag, addr.as_str()]);
        let (ok, text) = run_bounded(&args, std::time::Duration::from_secs(10));
        assert!(!ok, "{text}");
        assert!(
            text.contains(&addr) && text.contains("another process"),
            "{text}"
        );
        assert_eq!(
            text.matches("Address already in use").count(),
            1,
            "the OS error repeated: {text}"
        );
    }
}

/// `--threads 0` is refused, not quietly read as 1; an absurd count is refused
/// as such, not later as "too many open files".
#[test]
fn threads_out_of_range_are_refused_by_name() {
    let dir = testkit::TempDir::new("cli");
    let files_dir = dir.join("files");
    for role in [
        &[
            "balance",
            "--server",
            "127.0.0.1:3001",
            "--listen",
            "127.0.0.1:0",
        ][..],
        &["files", "--port", "0", "--dir", files_dir.to_str().unwrap()][..],
        &["state", "--port", "0"][..],
    ] {
        for n in ["0", "100000"] {
            let mut args = role.to_vec();
            args.extend(["--threads", n]);
            let (ok, text) = run_bounded(&args, std::time::Duration::from_secs(10));
            assert!(!ok, "{args:?} started: {text}");
            assert!(
                text.contains("--threads") && text.contains("1 to 1024"),
                "{args:?}: {text}"
            );
        }
    }
}

/// `--check FILE` says "ok" only for a file `--config FILE` would start with.
#[test]
fn check_refuses_what_start_would_refuse() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("bigstep.toml");
    let p = path.to_str().unwrap();
    // Nothing to serve.
    std::fs::write(&path, "[balance]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("bigstep.toml") && text.contains("[[balance.servers]]"),
        "{text}"
    );
    // ... unless the command line brings the servers.
    let (ok, text) = run(&["balance", "--check", p, "--server", "127.0.0.1:3001"]);
    assert!(ok, "{text}");
    // An admin API open to the network without a token.
    std::fs::write(
        &path,
        "[balance]\nadmin_listen = \"0.0.0.0:9090\"\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(!ok, "{text}");
    assert!(text.contains("admin_token"), "{text}");
    let token = [(
        "BIGSTEP_ADMIN_TOKEN".to_string(),
        "0123456789abcdef0123".to_string(),
    )];
    let (ok, text) = run_env(&["balance", "--check", p], &token);
    assert!(ok, "{text}");
    let short = [("BIGSTEP_ADMIN_TOKEN".to_string(), "short".to_string())];
    let (ok, text) = run_env(&["balance", "--check", p], &short);
    assert!(!ok && text.contains("16 characters"), "{text}");
}

/// `listen = ":8080"` (Caddy's spelling) or `--listen 8080` (nginx's): the
/// error says what to write, in the file with its line.
#[test]
fn a_listen_address_without_an_ip_says_what_to_write() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("bigstep.toml");
    let p = path.to_str().unwrap();
    for (key, line) in [
        ("listen = \":8080\"", 2),
        ("admin_listen = \"localhost:9090\"", 2),
    ] {
        std::fs::write(
            &path,
            format!("[balance]\n{key}\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\n"),
        )
        .unwrap();
        let (ok, text) = run(&["balance", "--check", p]);
        assert!(!ok, "{text}");
        assert!(
            text.contains(&format!("line {line}")) && text.contains("IP:PORT"),
            "{text}"
        );
    }
    std::fs::write(
        &path,
        "[balance.tls]\nlisten = \"443\"\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(!ok && text.contains("\"0.0.0.0:443\""), "{text}");
    std::fs::write(&path, "[up]\nlisten = \"8080\"\n").unwrap();
    let (ok, text) = run(&["up", "--config", p]);
    assert!(!ok && text.contains("\"0.0.0.0:8080\""), "{text}");
    let (ok, text) = run(&["balance", "--server", "127.0.0.1:3001", "--listen", "8181"]);
    assert!(!ok && text.contains("\"127.0.0.1:8181\""), "{text}");
}

/// `interval = 5` (seconds? HAProxy's milliseconds?) and `"soon"`: refused
/// with the value, the line and what to write.
#[test]
fn a_duration_without_a_unit_says_what_to_write() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("bigstep.toml");
    let p = path.to_str().unwrap();
    for (value, want) in [
        ("5", "\"5s\" for seconds or \"5ms\""),
        ("\"2000\"", "\"2000ms\""),
        ("\"soon\"", "\"500ms\", \"2s\""),
    ] {
        std::fs::write(
            &path,
            format!("[balance]\n[balance.health]\ninterval = {value}\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\n"),
        )
        .unwrap();
        let (ok, text) = run(&["balance", "--check", p]);
        assert!(!ok, "{text}");
        assert!(text.contains("line 3") && text.contains(want), "{text}");
    }
}

#[test]
fn ctl_admin_takes_a_host_name_and_says_what_to_write() {
    // A client may name a host: `localhost:PORT` is dialled (nothing listens
    // on port 1, so the answer is that it cannot be reached, by address).
    let (ok, text) = run(&["ctl", "--admin", "localhost:1", "ls"]);
    assert!(!ok, "{text}");
    assert!(text.contains("cannot reach the admin API at"), "{text}");
    assert!(!text.contains("invalid socket address syntax"), "{text}");
    // A bare port says what to write instead.
    let (ok, text) = run(&["ctl", "--admin", "9090", "ls"]);
    assert!(!ok && text.contains("write 127.0.0.1:9090"), "{text}");
    let (ok, text) = run(&["balance", "reload", "--admin", "9091"]);
    assert!(!ok && text.contains("write 127.0.0.1:9091"), "{text}");
}

/// A pool whose servers all have weight 0 serves nothing: every request is a
/// 503 while each server shows "up". `--check` said "ok" and nothing more.
#[test]
fn check_warns_about_a_pool_of_weight_zero() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("bigstep.toml");
    let p = path.to_str().unwrap();
    std::fs::write(
        &path,
        "[balance]\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\nweight = 0\n\
         [[balance.pools]]\nname = \"api\"\n[[balance.pools.servers]]\naddress = \"127.0.0.1:3002\"\nweight = 0\n\
         [[balance.pools.servers]]\naddress = \"127.0.0.1:3003\"\nweight = 0\n\
         [[balance.routes]]\npath_prefix = \"/api\"\npool = \"api\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(ok, "{text}");
    for pool in ["default", "api"] {
        assert!(
            text.contains(&format!(
                "warning: every server of pool `{pool}` has weight 0"
            )),
            "{text}"
        );
    }
    // One server with a weight is enough.
    std::fs::write(
        &path,
        "[balance]\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\nweight = 0\n\
         [[balance.servers]]\naddress = \"127.0.0.1:3002\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(ok && !text.contains("weight 0"), "{text}");
}

/// A key given the wrong shape (a string for a list of tables, a number for a
/// table) reads in TOML's words, not serde's ("expected a sequence",
/// "expected struct HealthCheck").
#[test]
fn a_wrong_shape_is_named_in_toml_words() {
    let dir = testkit::TempDir::new("cli");
    let path = dir.join("bigstep.toml");
    let p = path.to_str().unwrap();
    std::fs::write(&path, "[balance]\nservers = \"127.0.0.1:3001\"\n").unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(!ok && text.contains("line 2"), "{text}");
    assert!(text.contains("expected a list"), "{text}");
    assert!(!text.contains("sequence"), "{text}");
    std::fs::write(
        &path,
        "[balance]\nhealth = 5\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(!ok && text.contains("line 2"), "{text}");
    assert!(text.contains("expected a table"), "{text}");
    assert!(!text.contains("struct"), "{text}");
    // And what was found instead, in the same words.
    std::fs::write(
        &path,
        "[balance]\nlisten = [1]\n[[balance.servers]]\naddress = \"127.0.0.1:3001\"\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", p]);
    assert!(!ok && text.contains("invalid type: a list"), "{text}");
}
