//! Live membership end to end: the real `bigstep balance` binary with its admin
//! listener on 127.0.0.1:0 (the address is read from its log), real backends
//! (testkit), changes through the admin API, `bigstep balance reload` and file
//! edits, and the dashboard driven by headless Chromium.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use testkit::backend::Backend;
use testkit::client::{get, send, Resp};
use testkit::process::FrontDoorProc;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
const TOKEN: &str = "test-admin-token-0123456789";

fn servers(list: &[(&str, SocketAddr, u32)]) -> String {
    list.iter()
        .map(|(name, addr, w)| {
            format!("[[balance.servers]]\nname = \"{name}\"\naddress = \"{addr}\"\nweight = {w}\n")
        })
        .collect()
}

/// A front door whose admin listener is on a free loopback port.
fn start(table_head: &str, list: &[(&str, SocketAddr, u32)]) -> (FrontDoorProc, SocketAddr) {
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "admin_listen = \"127.0.0.1:0\"\n{table_head}{}",
            servers(list)
        ),
    );
    let admin = admin_addr(&fd);
    (fd, admin)
}

/// The admin address from the `admin listening ... listen=ADDR` log line.
fn admin_addr(fd: &FrontDoorProc) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for line in fd.logs() {
            if line.contains("admin listening") {
                if let Some(rest) = line.split("listen=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("");
                    return addr
                        .parse()
                        .unwrap_or_else(|_| panic!("admin address in {line:?}"));
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no admin listener; logs: {:#?}",
            fd.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Rewrite the config file the way a careful editor does (write, then rename),
/// so the file watcher never sees half a file.
fn write_config(fd: &FrontDoorProc, table: &str) {
    let tmp = fd.dir.join("bigstep.toml.tmp");
    std::fs::write(&tmp, format!("[balance]\n{table}")).expect("write config");
    std::fs::rename(&tmp, fd.dir.join("bigstep.toml")).expect("rename config");
}

async fn call(
    admin: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", admin.to_string());
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .expect("request");
    send(admin, req).await.expect("admin API answers")
}

async fn api(admin: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    call(admin, method, path, body, None).await
}

/// `admin_state` of every server, from `GET /api/servers`.
async fn states(admin: SocketAddr) -> HashMap<String, String> {
    let r = api(admin, "GET", "/api/servers", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json::parse(&r.text());
    v.array()
        .iter()
        .map(|s| {
            (
                s.get("id").str().to_string(),
                s.get("admin_state").str().to_string(),
            )
        })
        .collect()
}

async fn count(fd: &FrontDoorProc, n: usize) -> HashMap<String, usize> {
    testkit::client::spread(fd.addr, n, "/").await
}

fn run_reload(admin: SocketAddr, token: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["balance", "reload", "--admin", &admin.to_string()])
        .env_remove("BIGSTEP_CONFIG")
        .env_remove("BIGSTEP_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let out = cmd.output().expect("run bigstep balance reload");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_maintenance_and_undrain_steer_traffic() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let (fd, admin) = start("", &[("a", a.addr, 1), ("b", b.addr, 1), ("c", c.addr, 1)]);

    let r = api(admin, "POST", "/api/servers/a/drain", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("a: active -> draining"), "{}", r.text());
    let r = api(admin, "POST", "/api/servers/b/maintenance", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let st = states(admin).await;
    assert_eq!(
        (st["a"].as_str(), st["b"].as_str(), st["c"].as_str()),
        ("draining", "maintenance", "active")
    );

    // Without stickiness a draining server has no users to keep: only c takes requests.
    let seen = count(&fd, 20).await;
    assert_eq!(seen.get("c"), Some(&20), "{seen:?}");

    let r = api(admin, "POST", "/api/servers/a/undrain", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = count(&fd, 20).await;
    assert_eq!(
        (seen.get("a"), seen.get("b"), seen.get("c")),
        (Some(&10), None, Some(&10)),
        "{seen:?}"
    );

    let r = api(admin, "POST", "/api/servers/b/ready", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = count(&fd, 30).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        fd.logs()
            .iter()
            .any(|l| l.contains("change applied") && l.contains("admin-api")),
        "changes are logged with their source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_are_added_removed_and_weighted() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let (fd, admin) = start("", &[("a", a.addr, 1), ("b", b.addr, 1)]);

    let body = format!(r#"{{"name": "c", "address": "{}", "weight": 2}}"#, c.addr);
    let r = api(admin, "POST", "/api/servers", Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = json::parse(&r.text());
    assert_eq!(v.get("added").array()[0].str(), "c");
    let seen = count(&fd, 40).await;
    assert_eq!(
        (seen.get("a"), seen.get("b"), seen.get("c")),
        (Some(&10), Some(&10), Some(&20)),
        "{seen:?}"
    );

    // A second entry at c's address is accepted (HAProxy accepts it too) and
    // the answer and the log say what it does: c's host takes both shares.
    let body = format!(r#"{{"name": "c2", "address": "{}"}}"#, c.addr);
    let r = api(admin, "POST", "/api/servers", Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = json::parse(&r.text());
    let warning = format!("servers `c` and `c2` of pool `default` are both {}", c.addr);
    assert!(
        v.get("warnings").array()[0].str().contains(&warning),
        "{}",
        r.text()
    );
    assert!(v.get("message").str().contains(&warning), "{}", r.text());
    let r = api(admin, "DELETE", "/api/servers/c2", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        json::parse(&r.text()).get("warnings").array().is_empty(),
        "removing it clears the advice: {}",
        r.text()
    );
    assert!(
        fd.logs()
            .iter()
            .any(|l| l.contains("change applied") && l.contains(&warning)),
        "the log carries the warning"
    );

    let r = api(
        admin,
        "PUT",
        "/api/servers/c/weight",
        Some(r#"{"weight": 0}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The answer says what changed (it read "kept 3 (a, b, c)", nothing more).
    let v = json::parse(&r.text());
    assert_eq!(v.get("message").str(), "kept 3 (a, b, c); c: weight 2 -> 0");
    let seen = count(&fd, 20).await;
    assert_eq!(
        seen.get("c"),
        None,
        "weight 0 takes c out of rotation: {seen:?}"
    );

    let r = api(admin, "DELETE", "/api/servers/a", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = count(&fd, 20).await;
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");
    let mut ids: Vec<_> = states(admin).await.into_keys().collect();
    ids.sort();
    assert_eq!(ids, ["b", "c"]);

    let status = json::parse(&api(admin, "GET", "/api/status", None).await.text());
    let b_status = status
        .get("servers")
        .array()
        .iter()
        .find(|s| s.get("id").str() == "b")
        .cloned()
        .expect("b");
    assert!(b_status.get("requests").num() >= 20.0, "{b_status:?}");
    // Spelled as the config file spells it, not as Rust's Debug ("RoundRobin").
    assert_eq!(status.get("algorithm").str(), "round-robin", "{status:?}");
    assert_eq!(
        status.get("pools").array()[0].get("algorithm").str(),
        "round-robin"
    );
    let metrics = api(admin, "GET", "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("# TYPE"), "{}", metrics.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_reason() {
    let a = Backend::start("a").await;
    let (_fd, admin) = start("", &[("a", a.addr, 1)]);

    for (method, path, body, status) in [
        ("POST", "/api/servers/nope/drain", None, 404),
        ("DELETE", "/api/servers/nope", None, 404),
        ("GET", "/api/servers/nope", None, 404),
        (
            "PUT",
            "/api/servers/nope/weight",
            Some(r#"{"weight": 2}"#),
            404,
        ),
        (
            "PUT",
            "/api/servers/a/weight",
            Some(r#"{"weight": -1}"#),
            400,
        ),
        (
            "PUT",
            "/api/servers/a/weight",
            Some(r#"{"weight": "heavy"}"#),
            400,
        ),
        ("PUT", "/api/servers/a/weight", Some("not json"), 400),
        (
            "POST",
            "/api/servers",
            Some(r#"{"name": "x", "address": "no-port-here"}"#),
            400,
        ),
        (
            "POST",
            "/api/servers",
            Some(r#"{"name": "a", "address": "127.0.0.1:1"}"#),
            400,
        ),
        (
            "POST",
            "/api/servers",
            Some(r#"{"name": "bad name", "address": "127.0.0.1:1"}"#),
            400,
        ),
        (
            "POST",
            "/api/servers",
            Some(r#"{"adress": "127.0.0.1:1"}"#),
            400,
        ),
        ("GET", "/api/nothing-here", None, 404),
    ] {
        let r = api(admin, method, path, body).await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{method} {path} {body:?}: {}",
            r.text()
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
        let v = json::parse(&r.text());
        assert!(
            !v.get("error").str().is_empty(),
            "{method} {path}: {}",
            r.text()
        );
    }
    // A wrong type says what to write, not the Rust type serde wanted.
    let r = api(
        admin,
        "PUT",
        "/api/servers/a/weight",
        Some(r#"{"weight": -1}"#),
    )
    .await;
    let error = json::parse(&r.text()).get("error").str().to_string();
    assert!(
        error.contains("expected a whole number") && !error.contains("u32"),
        "{error}"
    );
    // Nothing changed.
    assert_eq!(
        states(admin).await,
        HashMap::from([("a".to_string(), "active".to_string())])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_when_set() {
    let a = Backend::start("a").await;
    let (fd, admin) = start(&format!("admin_token = \"{TOKEN}\"\n"), &[("a", a.addr, 1)]);

    for path in ["/api/status", "/api/servers", "/metrics"] {
        assert_eq!(
            call(admin, "GET", path, None, None).await.status,
            401,
            "{path}"
        );
        assert_eq!(
            call(admin, "GET", path, None, Some("wrong-token-0123456789"))
                .await
                .status,
            401,
            "{path}"
        );
        assert_eq!(
            call(admin, "GET", path, None, Some(TOKEN)).await.status,
            200,
            "{path}"
        );
    }
    let r = call(admin, "POST", "/api/servers/a/drain", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(states_with(admin, TOKEN).await["a"], "active");
    // Liveness and the dashboard page (which holds no data) need no token.
    assert_eq!(call(admin, "GET", "/healthz", None, None).await.status, 200);
    let page = call(admin, "GET", "/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("bigstep front door"));
    // The CLI passes the token on.
    assert!(!run_reload(admin, None).0);
    let (ok, out) = run_reload(admin, Some(TOKEN));
    assert!(ok, "{out}");
    // ... or reads it from the config file.
    let out = Command::new(BIN)
        .args([
            "balance",
            "reload",
            "--admin",
            &admin.to_string(),
            "--config",
        ])
        .arg(fd.dir.join("bigstep.toml"))
        .env_remove("BIGSTEP_ADMIN_TOKEN")
        .output()
        .expect("run bigstep balance reload");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn states_with(admin: SocketAddr, token: &str) -> HashMap<String, String> {
    let r = call(admin, "GET", "/api/servers", None, Some(token)).await;
    json::parse(&r.text())
        .array()
        .iter()
        .map(|s| {
            (
                s.get("id").str().to_string(),
                s.get("admin_state").str().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_on_other_sites_cannot_drive_the_api() {
    let a = Backend::start("a").await;
    let (_fd, admin) = start("", &[("a", a.addr, 1)]);
    let send_with = |method: &'static str,
                     path: &'static str,
                     headers: Vec<(&'static str, String)>| async move {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        send(admin, req.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap()
    };
    // CSRF: a page elsewhere posting to the loopback admin API.
    let r = send_with(
        "POST",
        "/api/servers/a/drain",
        vec![
            ("host", admin.to_string()),
            ("origin", "http://evil.example".into()),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    // DNS rebinding: a name that resolves to 127.0.0.1.
    let r = send_with(
        "GET",
        "/api/status",
        vec![("host", format!("evil.example:{}", admin.port()))],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    // The dashboard itself (same origin) may.
    let r = send_with(
        "POST",
        "/api/servers/a/drain",
        vec![
            ("host", admin.to_string()),
            ("origin", format!("http://{admin}")),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_non_loopback_admin_listener_needs_a_token() {
    let mut child = Command::new(BIN)
        .args([
            "balance",
            "--server",
            "127.0.0.1:1",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "0.0.0.0:0",
        ])
        .env_remove("BIGSTEP_CONFIG")
        .env_remove("BIGSTEP_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bigstep");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bigstep started an admin API open to the network without a token");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("admin_token"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_reload_applies_the_edited_file_or_says_why_not() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let head = "admin_listen = \"127.0.0.1:0\"\n";
    let (fd, admin) = start("", &[("a", a.addr, 1), ("b", b.addr, 1)]);

    write_config(
        &fd,
        &format!(
            "{head}{}",
            servers(&[("a", a.addr, 1), ("b", b.addr, 1), ("c", c.addr, 1)])
        ),
    );
    let (ok, out) = run_reload(admin, None);
    assert!(ok, "{out}");
    // The file watcher may have got there first: then c is kept rather than added.
    assert!(out.starts_with("reloaded: ") && out.contains('c'), "{out}");
    let seen = count(&fd, 30).await;
    assert_eq!(seen.get("c"), Some(&10), "{seen:?}");

    // Invalid: refused with the reason, the old configuration keeps serving.
    write_config(
        &fd,
        &format!("{head}{}", servers(&[("a", a.addr, 1), ("a", b.addr, 1)])),
    );
    let (ok, out) = run_reload(admin, None);
    assert!(!ok, "{out}");
    assert!(
        out.contains("refused") && out.contains("used by two servers"),
        "{out}"
    );
    // Needs a restart: refused (409) and said so.
    write_config(
        &fd,
        &format!(
            "{head}max_connections = 7\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    let (ok, out) = run_reload(admin, None);
    assert!(!ok, "{out}");
    assert!(out.contains("restart"), "{out}");
    let seen = count(&fd, 30).await;
    assert_eq!(seen.len(), 3, "{seen:?}");

    // No admin listener there: a clear error.
    let (ok, out) = run_reload(testkit::closed_port(), None);
    assert!(
        !ok && out.contains("cannot reach the admin listener"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_file_reloads_it() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (fd, admin) = start("", &[("a", a.addr, 1)]);
    write_config(
        &fd,
        &format!(
            "admin_listen = \"127.0.0.1:0\"\n{}",
            servers(&[("a", a.addr, 1), ("b", b.addr, 1)])
        ),
    );
    let mut reloaded = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !reloaded {
        reloaded = states(admin).await.contains_key("b");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reloaded,
        "no reload after the file changed; logs: {:#?}",
        fd.logs()
    );
    let seen = count(&fd, 20).await;
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&10), Some(&10)),
        "{seen:?}"
    );
    assert!(
        fd.logs().iter().any(|l| l.contains("file-change")),
        "the change is logged with its source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_under_load_fail_no_request() {
    let backends = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
        Backend::start("d").await,
    ];
    let addr = |i: usize| backends[i].addr;
    let head = "admin_listen = \"127.0.0.1:0\"\n";
    let (fd, admin) = start(
        "",
        &[("a", addr(0), 1), ("b", addr(1), 1), ("c", addr(2), 1)],
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, failures, target) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            failures.clone(),
            fd.addr,
        );
        clients.push(tokio::spawn(async move {
            // Bounded: at most 10,000 requests per client.
            for _ in 0..10_000 {
                if stop.load(SeqCst) {
                    break;
                }
                match get(target, "/").await {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, SeqCst),
                    Ok(r) => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} {}", r.status, r.text()));
                        failed.fetch_add(1, SeqCst)
                    }
                    Err(e) => {
                        failures.lock().unwrap().push(e);
                        failed.fetch_add(1, SeqCst)
                    }
                };
            }
        }));
    }

    // 20 rounds of: the file changes (new weights; the watcher reloads it), an API
    // reload, add d, drain or undrain b, remove d.
    let mut changes = 0;
    for i in 0..20u32 {
        let w = 2 + i % 3;
        write_config(
            &fd,
            &format!(
                "{head}{}",
                servers(&[("a", addr(0), w), ("b", addr(1), 1), ("c", addr(2), 1)])
            ),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let list = json::parse(&api(admin, "GET", "/api/servers", None).await.text());
            if list
                .array()
                .iter()
                .any(|s| s.get("id").str() == "a" && s.get("weight").num() == f64::from(w))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {i}: the file change was not applied"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        changes += 1;
        let add = format!(r#"{{"name": "d", "address": "{}"}}"#, addr(3));
        let b_state = if i % 2 == 0 {
            "/api/servers/b/drain"
        } else {
            "/api/servers/b/undrain"
        };
        for (method, path, body, want) in [
            ("POST", "/api/reload", None, 200),
            ("POST", "/api/servers", Some(add.as_str()), 201),
            ("POST", b_state, None, 200),
            ("DELETE", "/api/servers/d", None, 200),
        ] {
            let r = api(admin, method, path, body).await;
            assert_eq!(r.status, want, "round {i}: {method} {path}: {}", r.text());
            changes += 1;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    stop.store(true, SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(SeqCst), failed.load(SeqCst));
    assert_eq!(
        failed,
        0,
        "{failed} failed requests of {}: {:?}",
        ok + failed,
        failures.lock().unwrap().iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        ok >= 200,
        "the load ran alongside the changes: {ok} requests"
    );
    assert_eq!(changes, 100);
}

// === dashboard in headless Chromium ===

/// Load the dashboard, see the servers, press Drain on one, see it draining.
/// Needs `node`, `/usr/bin/chromium` and playwright-core in `.ci/node`
/// (`.ci/install` puts them there); without them this test fails, it does not skip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_drains_a_server_in_chromium() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (fd, admin) = start(
        &format!("admin_token = \"{TOKEN}\"\n"),
        &[("a", a.addr, 1), ("b", b.addr, 1)],
    );
    // Traffic throughout, so the page shows live rates and latencies.
    let target = fd.addr;
    let traffic = tokio::spawn(async move {
        loop {
            let _ = get(target, "/").await;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    let browser = testkit::browser::prepare("dashboard.png");
    let url = format!("http://{admin}/#token={TOKEN}");
    let (passed, log) = browser
        .run_async(
            "drain.mjs",
            vec![url.into(), "a".into(), browser.screenshot.clone().into()],
        )
        .await;
    traffic.abort();
    assert!(passed, "dashboard test failed:\n{log}");
    assert_eq!(states_with(admin, TOKEN).await["a"], "draining");
    assert_eq!(states_with(admin, TOKEN).await["b"], "active");
    assert!(browser.screenshot.is_file(), "no screenshot; {log}");
}

/// Just enough JSON to read the admin API's answers (the test crate has no JSON library).
mod json {
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Value {
        Null,
        Bool(bool),
        Num(f64),
        Str(String),
        Arr(Vec<Value>),
        Obj(Vec<(String, Value)>),
    }

    static NULL: Value = Value::Null;

    impl Value {
        pub(crate) fn get(&self, key: &str) -> &Value {
            match self {
                Value::Obj(m) => m.iter().find(|(k, _)| k == key).map_or(&NULL, |(_, v)| v),
                _ => &NULL,
            }
        }
        pub(crate) fn str(&self) -> &str {
            match self {
                Value::Str(s) => s,
                _ => "",
            }
        }
        pub(crate) fn num(&self) -> f64 {
            match self {
                Value::Num(n) => *n,
                _ => f64::NAN,
            }
        }
        pub(crate) fn array(&self) -> &[Value] {
            match self {
                Value::Arr(a) => a,
                _ => &[],
            }
        }
    }

    pub(crate) fn parse(s: &str) -> Value {
        let mut p = Parser {
            b: s.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.b.len(), "trailing bytes in JSON: {s}");
        v
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) {
            self.ws();
            assert_eq!(
                self.b.get(self.i),
                Some(&c),
                "expected {:?} at {}",
                c as char,
                self.i
            );
            self.i += 1;
        }
        fn value(&mut self) -> Value {
            self.ws();
            match self.b[self.i] {
                b'{' => {
                    self.i += 1;
                    let mut m = Vec::new();
                    self.ws();
                    if self.b[self.i] == b'}' {
                        self.i += 1;
                        return Value::Obj(m);
                    }
                    loop {
                        self.ws();
                        let Value::Str(k) = self.value() else {
                            panic!("object key")
                        };
                        self.eat(b':');
                        m.push((k, self.value()));
                        self.ws();
                        self.i += 1;
                        if self.b[self.i - 1] == b'}' {
                            return Value::Obj(m);
                        }
                    }
                }
                b'[' => {
                    self.i += 1;
                    let mut a = Vec::new();
                    self.ws();
                    if self.b[self.i] == b']' {
                        self.i += 1;
                        return Value::Arr(a);
                    }
                    loop {
                        a.push(self.value());
                        self.ws();
                        self.i += 1;
                        if self.b[self.i - 1] == b']' {
                            return Value::Arr(a);
                        }
                    }
                }
                b'"' => {
                    self.i += 1;
                    let mut out = String::new();
                    loop {
                        let c = self.b[self.i];
                        self.i += 1;
                        match c {
                            b'"' => return Value::Str(out),
                            b'\\' => {
                                let e = self.b[self.i];
                                self.i += 1;
                                match e {
                                    b'n' => out.push('\n'),
                                    b't' => out.push('\t'),
                                    b'r' => out.push('\r'),
                                    b'u' => {
                                        let hex = std::str::from_utf8(&self.b[self.i..self.i + 4])
                                            .unwrap();
                                        self.i += 4;
                                        out.push(
                                            char::from_u32(u32::from_str_radix(hex, 16).unwrap())
                                                .unwrap_or('?'),
                                        );
                                    }
                                    other => out.push(other as char),
                                }
                            }
                            _ => {
                                // Copy a UTF-8 sequence whole.
                                let start = self.i - 1;
                                while self.i < self.b.len() && (self.b[self.i] & 0xC0) == 0x80 {
                                    self.i += 1;
                                }
                                out.push_str(std::str::from_utf8(&self.b[start..self.i]).unwrap());
                            }
                        }
                    }
                }
                b't' => {
                    self.i += 4;
                    Value::Bool(true)
                }
                b'f' => {
                    self.i += 5;
                    Value::Bool(false)
                }
                b'n' => {
                    self.i += 4;
                    Value::Null
                }
                _ => {
                    let start = self.i;
                    while self.i < self.b.len() && b"+-0123456789.eE".contains(&self.b[self.i]) {
                        self.i += 1;
                    }
                    Value::Num(
                        std::str::from_utf8(&self.b[start..self.i])
                            .unwrap()
                            .parse()
                            .expect("number"),
                    )
                }
            }
        }
    }
}

/// The charts' last minutes are kept by the front door (`GET /api/history`,
/// one sample a second): the traffic is there after it stopped, oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_history_is_kept_by_the_front_door() {
    let a = Backend::start("a").await;
    let (fd, admin) = start("", &[("a", a.addr, 1)]);
    let history = || async {
        let r = api(admin, "GET", "/api/history", None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_str::<serde_json::Value>(&r.text()).expect("JSON")
    };
    // Rates count from the first once-a-second sample on: send the traffic after it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while history().await["samples"]
        .as_array()
        .expect("samples")
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "the history is not sampled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = count(&fd, 40).await;
    assert_eq!(seen.get("a"), Some(&40), "{seen:?}");
    // Wait for a sample that saw the requests and one after it.
    loop {
        let v = history().await;
        let samples = v["samples"].as_array().expect("samples").clone();
        let times: Vec<u64> = samples
            .iter()
            .map(|s| s["t_ms"].as_u64().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "oldest first: {times:?}"
        );
        let busy = samples
            .iter()
            .position(|s| s["servers"]["a"]["rate"].as_f64().unwrap_or(0.0) > 0.0);
        if busy.is_some_and(|i| i + 1 < samples.len()) {
            let p = &samples[busy.unwrap()]["servers"]["a"];
            assert!(p["p99_ms"].as_f64().unwrap() > 0.0, "{p}");
            assert_eq!(p["errors"].as_f64(), Some(0.0), "{p}");
            break;
        }
        assert!(Instant::now() < deadline, "no sample with the traffic: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `bigstep ctl add HOST:PORT` on a stand-alone front door says that its next
/// reload removes the server again (the file is the whole list); the reload
/// does, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_add_says_a_reload_removes_it() {
    let (a, c) = (Backend::start("a").await, Backend::start("c").await);
    let (fd, admin) = start("", &[("a", a.addr, 1)]);
    // The start line reads `tls=off` (it read Rust's `tls=None`).
    let started = fd
        .logs()
        .into_iter()
        .find(|l| l.contains("front door listening"));
    assert!(
        started.as_deref().is_some_and(|l| l.contains(" tls=off ")),
        "{started:?}"
    );
    let out = Command::new(BIN)
        .args(["ctl", "--admin", &admin.to_string(), "add"])
        .arg(c.addr.to_string())
        .args(["--name", "c"])
        .env_remove("BIGSTEP_ADMIN_TOKEN")
        .output()
        .expect("run bigstep ctl add");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("added 1 (c)"), "{text}");
    assert!(
        text.contains("note: it serves until the front door's next reload"),
        "{text}"
    );
    let (ok, out) = run_reload(admin, None);
    assert!(ok && out.contains("removed 1 (c)"), "{out}");
}
