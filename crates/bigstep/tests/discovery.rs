//! Discovery end to end: the real `bigstep balance`, `bigstep join` and a real
//! registry — `bigstep state` and `redis-server`, the same tests against both.
//! Servers join with no file edited, leave on SIGTERM or when their TTL runs
//! out, a drain issued on one front door is honoured by another, and front
//! doors keep serving (no failed request) while the registry is gone.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{api, server, status, wait_until, Engine, JoinProc, RegistryProc, BIN};
use testkit::backend::Backend;
use testkit::process::FrontDoorProc;

const LIMIT: Duration = Duration::from_secs(15);

/// The `[balance]` table of a front door that watches `reg`, plus `extra` lines.
fn table(reg: &RegistryProc, extra: &str) -> String {
    format!(
        "admin_listen = \"127.0.0.1:0\"\n{extra}\n\
         [balance.health]\ninterval = \"200ms\"\ntimeout = \"1s\"\nrise = 1\nfall = 2\n\
         [balance.discovery]\nregistry = \"{}\"\npoll = \"500ms\"\n",
        reg.url()
    )
}

/// A front door with an admin listener that watches `reg`, plus `extra` lines.
fn front_door(reg: &RegistryProc, extra: &str) -> (FrontDoorProc, SocketAddr) {
    let fd = FrontDoorProc::start(BIN, &table(reg, extra));
    let admin = support::admin_addr(&fd);
    (fd, admin)
}

/// Which backend answered each of `n` GETs (`"error"` for failures).
async fn spread(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        // A paced loop, not a flood: the machine is shared.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let who = match testkit::client::get(addr, "/").await {
            Ok(r) if r.status == 200 => r.header("x-backend").unwrap_or("?").to_string(),
            Ok(r) => format!("status {}", r.status),
            Err(_) => "error".to_string(),
        };
        *seen.entry(who).or_default() += 1;
    }
    seen
}

async fn has_server(admin: SocketAddr, id: &str) -> bool {
    server(&status(admin).await, id).is_some()
}

async fn field(admin: SocketAddr, id: &str, key: &str) -> String {
    let s = status(admin).await;
    match server(&s, id).map(|s| &s[key]) {
        Some(serde_json::Value::String(v)) => v.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

async fn metric(admin: SocketAddr, name: &str) -> Option<String> {
    let (_, body) = api(admin, "GET", "/metrics", None).await;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
}

// === join, leave, expiry ===

async fn join_and_leave(engine: Engine) {
    let reg = RegistryProc::start(BIN, engine);
    let (fd, admin) = front_door(&reg, "");
    let (b1, b2, b3) = (
        Backend::start("web-1").await,
        Backend::start("web-2").await,
        Backend::start("web-3").await,
    );
    let url = reg.url();

    let j1 = JoinProc::start(&url, "web-1", b1.addr, &["--ttl", "2s"]);
    let t = Instant::now();
    assert!(
        wait_until(LIMIT, || async {
            spread(fd.addr, 1).await.contains_key("web-1")
        })
        .await,
        "a joined server gets traffic; status: {}",
        status(admin).await
    );
    eprintln!(
        "{engine:?}: join -> first request served in {:?}",
        t.elapsed()
    );

    // Registered but failing its health checks: listed, and gets nothing.
    b3.set_healthy(false);
    let _j3 = JoinProc::start(&url, "web-3", b3.addr, &["--ttl", "2s"]);
    assert!(wait_until(LIMIT, || has_server(admin, "web-3")).await);
    assert!(
        wait_until(LIMIT, || async {
            field(admin, "web-3", "health").await == "down"
        })
        .await
    );
    let seen = spread(fd.addr, 30).await;
    assert_eq!(seen.get("web-1"), Some(&30), "{seen:?}");

    let j2 = JoinProc::start(&url, "web-2", b2.addr, &["--ttl", "2s"]);
    assert!(
        wait_until(LIMIT, || async {
            spread(fd.addr, 2).await.contains_key("web-2")
        })
        .await,
        "the second server gets traffic"
    );

    // SIGTERM: deregistered at once, removed without waiting for the TTL.
    j1.stop();
    assert_eq!(reg.cli(&["EXISTS", "bigstep:svc:web-1"]), "0");
    assert!(
        wait_until(LIMIT, || async { !has_server(admin, "web-1").await }).await,
        "a server that left is removed"
    );
    let seen = spread(fd.addr, 20).await;
    assert_eq!(seen.get("web-2"), Some(&20), "{seen:?}");

    // Crash: no deregistration; the entry expires and the server goes.
    j2.crash();
    assert!(
        wait_until(LIMIT, || async { !has_server(admin, "web-2").await }).await,
        "a server whose entry expired is removed"
    );
    assert!(has_server(admin, "web-3").await, "the live one stays");
    let d = &status(admin).await["discovery"];
    assert_eq!(d["up"], true, "{d}");
    assert_eq!(d["members"], serde_json::json!(["web-3"]), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_leave_and_expiry_with_bigstep_state() {
    join_and_leave(Engine::State).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_leave_and_expiry_with_redis_server() {
    join_and_leave(Engine::Redis).await;
}

// === several front doors agree ===

async fn drain_is_shared(engine: Engine) {
    let reg = RegistryProc::start(BIN, engine);
    let (b0, b1, b2) = (
        Backend::start("fixed").await,
        Backend::start("web-1").await,
        Backend::start("web-2").await,
    );
    // Both front doors also have a server of their own file, named alike.
    let file = format!(
        "[[balance.servers]]\nname = \"fixed\"\naddress = \"{}\"\n",
        b0.addr
    );
    let (_a, admin_a) = front_door(&reg, &file);
    let (b, admin_b) = front_door(&reg, &file);
    let url = reg.url();
    let _j1 = JoinProc::start(&url, "web-1", b1.addr, &[]);
    let _j2 = JoinProc::start(&url, "web-2", b2.addr, &[]);
    for admin in [admin_a, admin_b] {
        for id in ["web-1", "web-2"] {
            assert!(wait_until(LIMIT, || async { field(admin, id, "health").await == "up" }).await);
        }
    }

    let (code, body) = api(admin_a, "POST", "/api/servers/web-1/drain", None).await;
    assert_eq!(code, 200, "{body}");
    let t = Instant::now();
    assert!(
        wait_until(LIMIT, || async {
            field(admin_b, "web-1", "admin_state").await == "draining"
        })
        .await,
        "a drain on A is honoured by B"
    );
    eprintln!("{engine:?}: drain on A seen by B after {:?}", t.elapsed());
    assert_eq!(
        reg.cli(&["HGET", "bigstep:admin:web-1", "state"]),
        "draining"
    );
    let seen = spread(b.addr, 20).await;
    assert!(
        !seen.contains_key("web-1"),
        "a draining server takes no new users: {seen:?}"
    );

    // Servers from the file too, and the other way round.
    let (code, _) = api(admin_b, "POST", "/api/servers/fixed/maintenance", None).await;
    assert_eq!(code, 200);
    assert!(
        wait_until(LIMIT, || async {
            field(admin_a, "fixed", "admin_state").await == "maintenance"
        })
        .await
    );

    let (code, _) = api(
        admin_a,
        "PUT",
        "/api/servers/web-2/weight",
        Some(r#"{"weight":5}"#),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        wait_until(LIMIT, || async {
            field(admin_b, "web-2", "weight").await == "5"
        })
        .await
    );

    let (code, _) = api(admin_b, "POST", "/api/servers/web-1/undrain", None).await;
    assert_eq!(code, 200);
    assert!(
        wait_until(LIMIT, || async {
            field(admin_a, "web-1", "admin_state").await == "active"
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_on_one_front_door_applies_on_another_with_bigstep_state() {
    drain_is_shared(Engine::State).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_on_one_front_door_applies_on_another_with_redis_server() {
    drain_is_shared(Engine::Redis).await;
}

// === the registry goes away ===

async fn registry_loss(engine: Engine) {
    let mut reg = RegistryProc::start(BIN, engine);
    let (fd, admin) = front_door(&reg, "");
    let (b1, b2) = (Backend::start("web-1").await, Backend::start("web-2").await);
    let url = reg.url();
    let _j1 = JoinProc::start(&url, "web-1", b1.addr, &["--ttl", "3s"]);
    let _j2 = JoinProc::start(&url, "web-2", b2.addr, &["--ttl", "3s"]);
    assert!(
        wait_until(LIMIT, || async {
            let s = spread(fd.addr, 4).await;
            s.contains_key("web-1") && s.contains_key("web-2")
        })
        .await
    );

    let mut sent = 0;
    let mut failed = 0;
    let mut load = |seen: HashMap<String, usize>| {
        for (who, n) in seen {
            sent += n;
            if who != "web-1" && who != "web-2" {
                failed += n;
            }
        }
    };
    load(spread(fd.addr, 50).await);
    reg.kill();
    let deadline = Instant::now() + LIMIT;
    while metric(admin, "bigstep_discovery_registry_up")
        .await
        .as_deref()
        != Some("0")
    {
        assert!(
            Instant::now() < deadline,
            "the front door says the registry is down"
        );
        load(spread(fd.addr, 10).await);
    }
    // Longer than the instances' TTL: nothing may expire inside the front door.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        load(spread(fd.addr, 10).await);
    }
    let s = status(admin).await;
    assert_eq!(s["discovery"]["up"], false, "{s}");
    assert!(s["discovery"]["last_error"].is_string(), "{s}");
    assert!(
        server(&s, "web-1").is_some() && server(&s, "web-2").is_some(),
        "{s}"
    );

    // Back, and empty: the instances register again; nobody was removed meanwhile.
    assert!(reg.restart(), "registry restarts");
    assert!(
        wait_until(LIMIT, || async {
            metric(admin, "bigstep_discovery_registry_up")
                .await
                .as_deref()
                == Some("1")
        })
        .await
    );
    assert!(
        wait_until(LIMIT, || async {
            reg.cli(&["EXISTS", "bigstep:svc:web-1", "bigstep:svc:web-2"]) == "2"
        })
        .await,
        "instances register again"
    );
    load(spread(fd.addr, 50).await);
    let s = status(admin).await;
    assert!(
        server(&s, "web-1").is_some() && server(&s, "web-2").is_some(),
        "{s}"
    );
    eprintln!("{engine:?}: registry lost and back: {failed} failed of {sent} requests");
    assert_eq!(failed, 0, "requests failed while the registry was away");
    assert!(sent > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_doors_keep_serving_without_the_registry_bigstep_state() {
    registry_loss(Engine::State).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_doors_keep_serving_without_the_registry_redis_server() {
    registry_loss(Engine::Redis).await;
}

/// A registry that comes back empty (restarted without persistence) removes
/// nobody: leaves are held after an outage until instances had time to
/// register again (here they heartbeat only every 20 s, so the registry stays
/// empty throughout the check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_restarts_empty_removes_nobody() {
    let mut reg = RegistryProc::start(BIN, Engine::Redis);
    let (fd, admin) = front_door(&reg, "");
    let (b1, b2) = (Backend::start("web-1").await, Backend::start("web-2").await);
    let _j1 = JoinProc::start(&reg.url(), "web-1", b1.addr, &["--ttl", "60s"]);
    let _j2 = JoinProc::start(&reg.url(), "web-2", b2.addr, &["--ttl", "60s"]);
    for id in ["web-1", "web-2"] {
        assert!(wait_until(LIMIT, || async { field(admin, id, "health").await == "up" }).await);
    }
    reg.kill();
    assert!(
        wait_until(LIMIT, || async {
            metric(admin, "bigstep_discovery_registry_up")
                .await
                .as_deref()
                == Some("0")
        })
        .await
    );
    assert!(reg.restart());
    assert!(
        wait_until(LIMIT, || async {
            metric(admin, "bigstep_discovery_registry_up")
                .await
                .as_deref()
                == Some("1")
        })
        .await
    );
    // Several reads of the empty registry.
    let reads = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let first = reads(metric(admin, "bigstep_discovery_reads_total").await);
    let mut failed = 0;
    while reads(metric(admin, "bigstep_discovery_reads_total").await) < first + 4 {
        let seen = spread(fd.addr, 10).await;
        failed += seen
            .iter()
            .filter(|(w, _)| !w.starts_with("web-"))
            .map(|(_, n)| n)
            .sum::<usize>();
    }
    assert_eq!(reg.cli(&["DBSIZE"]), "0", "the registry is still empty");
    let s = status(admin).await;
    assert!(
        server(&s, "web-1").is_some() && server(&s, "web-2").is_some(),
        "{s}"
    );
    assert_eq!(failed, 0);
}

// === file reloads ===

/// A reload of the file replaces its server list; servers from the registry
/// stay, with their live state (health stays up, no new warm-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_reload_keeps_discovered_servers() {
    let reg = RegistryProc::start(BIN, Engine::State);
    let (b0, b1, b2) = (
        Backend::start("fixed").await,
        Backend::start("web-1").await,
        Backend::start("fixed-2").await,
    );
    let one = format!(
        "[[balance.servers]]\nname = \"fixed\"\naddress = \"{}\"\n",
        b0.addr
    );
    let (fd, admin) = front_door(&reg, &one);
    let _j1 = JoinProc::start(&reg.url(), "web-1", b1.addr, &[]);
    assert!(
        wait_until(LIMIT, || async {
            field(admin, "web-1", "health").await == "up"
        })
        .await
    );
    let requests_before = field(admin, "web-1", "requests").await;

    let two = format!(
        "{one}[[balance.servers]]\nname = \"fixed-2\"\naddress = \"{}\"\n",
        b2.addr
    );
    fd.reload(&table(&reg, &two));
    assert!(
        wait_until(LIMIT, || has_server(admin, "fixed-2")).await,
        "the reload applied; logs: {:#?}",
        fd.logs()
    );
    let s = status(admin).await;
    assert_eq!(
        server(&s, "web-1").map(|w| w["health"].clone()),
        Some("up".into()),
        "{s}"
    );
    assert_eq!(
        field(admin, "web-1", "requests").await,
        requests_before,
        "the same live server"
    );
    assert_eq!(
        s["discovery"]["members"],
        serde_json::json!(["web-1"]),
        "{s}"
    );
}

/// A weight an operator sets in the registry on a server of the front door's
/// own file: applied; applied again after a file reload (which puts the
/// file's weight back); and the file's weight is back once the registry's
/// weight is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_weight_on_a_file_server_survives_reloads_and_can_be_removed() {
    let reg = RegistryProc::start(BIN, Engine::State);
    let (b0, b1) = (
        Backend::start("fixed").await,
        Backend::start("fixed-2").await,
    );
    let one = format!(
        "[[balance.servers]]\nname = \"fixed\"\naddress = \"{}\"\nweight = 3\n",
        b0.addr
    );
    let (fd, admin) = front_door(&reg, &one);
    assert_eq!(field(admin, "fixed", "weight").await, "3");

    reg.cli(&["HSET", "bigstep:admin:fixed", "weight", "7"]);
    assert!(
        wait_until(LIMIT, || async {
            field(admin, "fixed", "weight").await == "7"
        })
        .await,
        "the registry's weight applies"
    );

    let two = format!(
        "{one}[[balance.servers]]\nname = \"fixed-2\"\naddress = \"{}\"\n",
        b1.addr
    );
    fd.reload(&table(&reg, &two));
    assert!(
        wait_until(LIMIT, || has_server(admin, "fixed-2")).await,
        "the reload applied; logs: {:#?}",
        fd.logs()
    );
    // The file watcher reloads the written file too, within about a second:
    // once it has, no later reload can stand in for what is tested next.
    assert!(
        wait_until(LIMIT, || async {
            fd.logs()
                .iter()
                .any(|l| l.contains("change applied") && l.contains("file-change"))
        })
        .await,
        "logs: {:#?}",
        fd.logs()
    );
    assert!(
        wait_until(LIMIT, || async {
            field(admin, "fixed", "weight").await == "7"
        })
        .await,
        "the registry's weight is applied again after the reloads; logs: {:#?}",
        fd.logs()
    );

    reg.cli(&["HDEL", "bigstep:admin:fixed", "weight"]);
    assert!(
        wait_until(LIMIT, || async {
            field(admin, "fixed", "weight").await == "3"
        })
        .await,
        "back to the file's weight; logs: {:#?}",
        fd.logs()
    );
}

// === configuration ===

#[test]
fn a_bad_registry_url_is_refused_with_its_key() {
    let dir = testkit::process::temp_dir("disc-cfg");
    let path = dir.join("bigstep.toml");
    std::fs::write(
        &path,
        "[balance]\n[balance.discovery]\nregistry = \"http://:secret@10.0.0.5:6379\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["balance", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("discovery.registry"), "{err}");
    assert!(
        !err.contains("secret"),
        "the password is not printed: {err}"
    );
    // Discovery alone is a valid front door (no static servers needed).
    std::fs::write(
        &path,
        "[balance]\n[balance.discovery]\nregistry = \"redis://10.0.0.5:6379\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["balance", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A registered health path is the one checked: an entry whose own path
/// fails gets nothing even though the pool's path answers, and an entry whose
/// own path answers gets traffic even though the pool's path fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_registered_health_path_is_the_one_checked() {
    let reg = RegistryProc::start(BIN, Engine::Redis);
    let (fd, admin) = front_door(&reg, "");
    let (b1, b2) = (Backend::start("web-1").await, Backend::start("web-2").await);
    let url = reg.url();
    // web-1: the pool's /healthz answers 200, but it registered /status/503.
    let _j1 = JoinProc::start(
        &url,
        "web-1",
        b1.addr,
        &["--ttl", "2s", "--health", "/status/503"],
    );
    // web-2: /healthz answers 503, but it registered a path that answers 200.
    b2.set_healthy(false);
    let _j2 = JoinProc::start(
        &url,
        "web-2",
        b2.addr,
        &["--ttl", "2s", "--health", "/ready"],
    );
    assert!(wait_until(LIMIT, || has_server(admin, "web-1")).await);
    assert!(
        wait_until(LIMIT, || async {
            field(admin, "web-1", "health").await == "down"
                && field(admin, "web-2", "health").await == "up"
        })
        .await,
        "status: {}",
        status(admin).await
    );
    let seen = spread(fd.addr, 20).await;
    assert_eq!(seen.get("web-2"), Some(&20), "{seen:?}");
}
