//! Pools and routes end to end: the real `bigstep balance` binary on port 0 in
//! front of real backends (testkit), with host and path routes to several
//! pools, prefix rewriting, redirects, fixed responses, header rules, rate
//! limits, path-normalisation bypass attempts and a reload under load.
//! Assertions are on counts, statuses and bytes, never on wall-clock speed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use testkit::backend::Backend;
use testkit::client::{raw, send, Resp};
use testkit::process::FrontDoorProc;
use testkit::store::{Engine, StoreProc};
use testkit::{closed_port, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

/// GET `path` with `Host: host` and extra headers, on a fresh connection.
async fn get_h(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::get(path).header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(addr, b.body(Full::new(Bytes::new())).unwrap())
        .await
        .expect("request through the front door")
}

/// The request line the backend last saw.
fn first_line(b: &Backend) -> String {
    b.last_head().lines().next().unwrap_or("").to_string()
}

async fn metric(admin: SocketAddr, series: &str) -> Option<u64> {
    Some(testkit::metrics::metric(admin, series).await? as u64)
}

/// GET from the admin listener, named by its own address (it refuses other hosts).
async fn admin_get(admin: SocketAddr, path: &str) -> Result<Resp, String> {
    let req = Request::get(path)
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(admin, req).await
}

/// `/api/status`, once the admin listener (started beside the data plane) answers.
async fn admin_status(admin: SocketAddr) -> serde_json::Value {
    for _ in 0..100 {
        if let Ok(r) = admin_get(admin, "/api/status").await {
            return serde_json::from_slice(&r.body).expect("status JSON");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the admin API at {admin} never answered");
}

fn three_pools(www: &Backend, api: &Backend, files: &Backend, admin: SocketAddr) -> String {
    format!(
        r#"admin_listen = "{admin}"

[[balance.servers]]
name = "www"
address = "{www}"

[[balance.pools]]
name = "api"
algorithm = "least-in-flight"
[[balance.pools.servers]]
name = "api-1"
address = "{api}"

[[balance.pools]]
name = "files"
[[balance.pools.servers]]
name = "files-1"
address = "{files}"

[[balance.routes]]
name = "api"
host = ["api.site.test", "*.api.site.test"]
pool = "api"

[[balance.routes]]
name = "uploads"
path_prefix = "/uploads/"
replace_prefix = "/bucket/"
pool = "files"

[[balance.routes]]
name = "v1"
host = "www.site.test"
path_prefix = "/v1"
strip_prefix = true
pool = "api"
"#,
        www = www.addr,
        api = api.addr,
        files = files.addr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_path_routes_reach_three_pools_with_prefixes_rewritten() {
    let (www, api, files) = (
        Backend::start("www").await,
        Backend::start("api").await,
        Backend::start("files").await,
    );
    let admin = closed_port();
    let fd = FrontDoorProc::start(BIN, &three_pools(&www, &api, &files, admin));
    let by = |r: &Resp| r.header("x-backend").unwrap_or("?").to_string();

    let r = get_h(fd.addr, "API.site.test:8080", "/users", &[]).await;
    assert_eq!(
        (r.status.as_u16(), by(&r)),
        (200, "api".into()),
        "host match ignores case and port"
    );
    let r = get_h(fd.addr, "eu.api.site.test", "/users", &[]).await;
    assert_eq!(by(&r), "api", "wildcard host");
    let r = get_h(fd.addr, "www.site.test", "/", &[]).await;
    assert_eq!(by(&r), "www", "no route matches: the default pool");
    let r = get_h(fd.addr, "x.test", "/uploadsx/a.png", &[]).await;
    assert_eq!(by(&r), "www", "prefixes match at segment boundaries only");

    let r = get_h(fd.addr, "x.test", "/uploads/cat.png?size=2", &[]).await;
    assert_eq!(by(&r), "files");
    assert_eq!(first_line(&files), "GET /bucket/cat.png?size=2 HTTP/1.1");
    let r = get_h(fd.addr, "www.site.test", "/v1/orders/7", &[]).await;
    assert_eq!(by(&r), "api");
    assert_eq!(
        first_line(&api),
        "GET /orders/7 HTTP/1.1",
        "prefix stripped"
    );
    let r = get_h(fd.addr, "www.site.test", "/v1", &[]).await;
    assert_eq!(by(&r), "api");
    assert_eq!(first_line(&api), "GET / HTTP/1.1");

    // Counters per route and pool, in the admin API and in metrics.
    let status = admin_status(admin).await;
    let routes: HashMap<String, u64> = status["routes"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"))
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(routes["api"], 2, "{status}");
    assert_eq!(routes["uploads"], 1, "{status}");
    assert_eq!(routes["v1"], 2, "{status}");
    let pools: Vec<&str> = status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pools, ["default", "api", "files"]);
    assert_eq!(
        metric(
            admin,
            "bigstep_pool_responses_total{pool=\"api\",code=\"2xx\"}"
        )
        .await,
        Some(4)
    );
    assert_eq!(
        metric(
            admin,
            "bigstep_route_responses_total{route=\"uploads\",code=\"2xx\"}"
        )
        .await,
        Some(1)
    );
    assert_eq!(
        metric(admin, "bigstep_server_up{server=\"files-1\",pool=\"files\"").await,
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_and_fixed_response_routes_answer_without_a_server() {
    let www = Backend::start("www").await;
    let cfg = format!(
        r#"[[balance.servers]]
address = "{}"

[[balance.routes]]
host = "old.site.test"
path_prefix = "/shop"
redirect = "https://www.site.test/store{{rest}}{{query}}"
status = 301

[[balance.routes]]
path_prefix = "/maintenance"
respond = 503
body = "<h1>Back soon</h1>"
content_type = "text/html; charset=utf-8"
response_headers = {{ set = {{ "retry-after" = "120" }} }}

[[balance.routes]]
path = "/robots.txt"
respond = 200
body = "User-agent: *\nDisallow: /\n"
"#,
        www.addr
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let r = get_h(fd.addr, "old.site.test", "/shop/boots/9?color=red", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://www.site.test/store/boots/9?color=red")
    );
    let r = get_h(fd.addr, "old.site.test", "/shop", &[]).await;
    assert_eq!(r.header("location"), Some("https://www.site.test/store/"));
    let r = get_h(fd.addr, "any.test", "/maintenance/x", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "<h1>Back soon</h1>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("retry-after"), Some("120"));
    let r = get_h(fd.addr, "any.test", "/robots.txt", &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (200, "User-agent: *\nDisallow: /\n")
    );
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(www.hits(), 0, "no request reached the server");
    // The same answers with curl, the client people use.
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .args(["-H", "Host: old.site.test"])
        .arg(format!("http://{}/shop/a?b=1", fd.addr))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "301 https://www.site.test/store/a?b=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_rules_set_add_and_remove_with_variables() {
    let (www, api) = (Backend::start("www").await, Backend::start("api").await);
    let cfg = format!(
        r#"[[balance.servers]]
address = "{}"

[[balance.pools]]
name = "api"
[[balance.pools.servers]]
address = "{}"

[[balance.routes]]
path_prefix = "/headers"
pool = "api"
request_headers = {{ set = {{ "x-env" = "prod", "x-client" = "{{client_ip}}" }}, add = {{ "x-tag" = "routed-{{host}}" }}, remove = ["x-debug"] }}
response_headers = {{ set = {{ "x-request" = "{{request_id}}", "x-frame-options" = "DENY" }}, remove = ["x-backend"] }}
"#,
        www.addr, api.addr
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let r = get_h(
        fd.addr,
        "shop.test",
        "/headers",
        &[("x-debug", "1"), ("x-env", "dev"), ("x-tag", "client")],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = r.text();
    assert!(
        seen.contains("x-env: prod\n") && !seen.contains("x-env: dev"),
        "{seen}"
    );
    assert!(seen.contains("x-client: 127.0.0.1\n"), "{seen}");
    assert!(
        seen.contains("x-tag: client\n") && seen.contains("x-tag: routed-shop.test\n"),
        "{seen}"
    );
    assert!(!seen.contains("x-debug"), "{seen}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-backend"), None, "removed from the response");
    let id = r.header("x-request").expect("request id filled in");
    assert!(
        seen.contains(&format!("x-request-id: {id}\n")),
        "the same id the server saw: {seen}"
    );
    // Another route (none: the default pool) has no rules.
    let r = get_h(fd.addr, "shop.test", "/other", &[]).await;
    assert_eq!(r.header("x-backend"), Some("www"));
    assert_eq!(r.header("x-frame-options"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_route_refuses_a_flood_and_spares_everyone_else() {
    let www = Backend::start("www").await;
    let admin = closed_port();
    let cfg = format!(
        r#"admin_listen = "{admin}"

[[balance.servers]]
address = "{www}"

[[balance.routes]]
name = "login"
path = "/login"
pool = "default"
rate_limit = {{ rate = "5/m", burst = 5, key = "header:x-user" }}
"#,
        www = www.addr
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    // A bounded flood from one user, 8 at a time.
    let mut statuses: HashMap<u16, u64> = HashMap::new();
    let mut retry_after = Vec::new();
    for _ in 0..5 {
        let batch = (0..8).map(|_| get_h(fd.addr, "s.test", "/login", &[("x-user", "mallory")]));
        for r in futures_util::future::join_all(batch).await {
            *statuses.entry(r.status.as_u16()).or_default() += 1;
            if r.status == 429 {
                retry_after.push(r.header("retry-after").unwrap_or("").to_string());
            }
        }
    }
    assert_eq!(statuses.get(&200), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&35), "{statuses:?}");
    // 5 per minute: the next token is up to 12 s away, never 0.
    assert!(
        retry_after
            .iter()
            .all(|s| s.parse::<u64>().is_ok_and(|n| (1..=12).contains(&n))),
        "{retry_after:?}"
    );
    // Other users and other paths are unaffected.
    for _ in 0..5 {
        assert_eq!(
            get_h(fd.addr, "s.test", "/login", &[("x-user", "alice")])
                .await
                .status,
            200
        );
        assert_eq!(
            get_h(fd.addr, "s.test", "/", &[("x-user", "mallory")])
                .await
                .status,
            200
        );
    }
    admin_status(admin).await;
    assert_eq!(
        metric(admin, "bigstep_route_rate_limited_total{route=\"login\"}").await,
        Some(35)
    );
    assert_eq!(www.hits(), 15, "refused requests never reach the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let www = Backend::start("www").await;
    let table = |trusted: &str| {
        format!(
            r#"{trusted}
[[balance.servers]]
address = "{}"

[[balance.routes]]
path_prefix = "/"
pool = "default"
rate_limit = {{ rate = "1/m", burst = 1 }}
"#,
            www.addr
        )
    };
    // Untrusted peer: X-Forwarded-For is ignored, every request is 127.0.0.1's.
    let fd = FrontDoorProc::start(BIN, &table(""));
    let a = get_h(fd.addr, "s", "/", &[("x-forwarded-for", "203.0.113.1")]).await;
    let b = get_h(fd.addr, "s", "/", &[("x-forwarded-for", "203.0.113.2")]).await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 429));
    drop(fd);
    // Trusted peer (our own front door on loopback): each forwarded client has its bucket.
    let fd = FrontDoorProc::start(BIN, &table("trusted_proxies = [\"127.0.0.0/8\"]"));
    let a = get_h(fd.addr, "s", "/", &[("x-forwarded-for", "203.0.113.1")]).await;
    let b = get_h(fd.addr, "s", "/", &[("x-forwarded-for", "203.0.113.2")]).await;
    let a2 = get_h(fd.addr, "s", "/", &[("x-forwarded-for", "203.0.113.1")]).await;
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16(), a2.status.as_u16()),
        (200, 200, 429)
    );
    // A client cannot dodge its bucket by prepending a made-up address.
    let spoof = get_h(
        fd.addr,
        "s",
        "/",
        &[("x-forwarded-for", "1.2.3.4, 203.0.113.1")],
    )
    .await;
    assert_eq!(spoof.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_cannot_walk_around_a_guarded_prefix() {
    let (www, admin_app) = (Backend::start("www").await, Backend::start("admin").await);
    let cfg = format!(
        r#"[[balance.servers]]
address = "{}"

[[balance.pools]]
name = "admin"
[[balance.pools.servers]]
address = "{}"

[[balance.routes]]
path_prefix = "/admin"
respond = 403
body = "forbidden"

[[balance.routes]]
host = "internal.test"
pool = "admin"
"#,
        www.addr, admin_app.addr
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let ask = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n");
        let addr = fd.addr;
        async move { raw(addr, req.as_bytes(), Duration::from_secs(5)).await }
    };
    for path in [
        "/admin",
        "/admin/users",
        "/a/../admin/users",
        "/%61dmin/users",
        "/%61%64%6D%69%6E",
        "//admin",
        "/./admin",
        "/static/../../admin",
        "/admin/x/..",
    ] {
        let resp = ask(path).await;
        assert!(resp.starts_with("HTTP/1.1 403"), "{path}: {resp}");
    }
    for path in [
        "/admin%2Fusers",
        "/admin%2fusers",
        "/x/..%2Fadmin",
        "/admin%5Cx",
        "/a%00",
        "/%zz",
    ] {
        let resp = ask(path).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{path}: {resp}");
        assert!(
            resp.contains("x-bigstep-reason: bad-path"),
            "{path}: {resp}"
        );
    }
    assert_eq!(www.hits(), 0, "no trick reached a server");
    // What the server is sent is the path the route matched.
    let resp = ask("/shop//cart/./items/../checkout?x=%2F").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(first_line(&www), "GET /shop/cart/checkout?x=%2F HTTP/1.1");
    let resp = ask("/%7Euser/caf%c3%a9").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(first_line(&www), "GET /~user/caf%C3%A9 HTTP/1.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_a_pool_and_moves_a_route_under_load_with_no_failed_request() {
    let (www, old_api, new_api) = (
        Backend::start("www").await,
        Backend::start("old-api").await,
        Backend::start("new-api").await,
    );
    let table = |pool: &str, extra: &str| {
        format!(
            r#"[[balance.servers]]
name = "www"
address = "{www}"

[[balance.pools]]
name = "api"
[[balance.pools.servers]]
name = "old-api"
address = "{old}"
{extra}
[[balance.routes]]
path_prefix = "/api"
pool = "{pool}"
"#,
            www = www.addr,
            old = old_api.addr,
        )
    };
    let fd = FrontDoorProc::start(BIN, &table("api", ""));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let new_hits = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (stop, ok, failed, new_hits) =
            (stop.clone(), ok.clone(), failed.clone(), new_hits.clone());
        let addr = fd.addr;
        load.push(tokio::spawn(async move {
            // Bounded: at most 3000 requests per worker.
            for i in 0..3000 {
                if stop.load(SeqCst) {
                    break;
                }
                let path = if (i + worker) % 2 == 0 {
                    "/api/x"
                } else {
                    "/page"
                };
                let req = Request::get(path)
                    .header("host", "s.test")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                match send(addr, req).await {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, SeqCst);
                        if r.header("x-backend") == Some("new-api") {
                            new_hits.fetch_add(1, SeqCst);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, SeqCst);
                    }
                }
            }
        }));
    }
    assert!(eventually(Duration::from_secs(10), || ok.load(SeqCst) > 100).await);
    let pool = format!(
        "\n[[balance.pools]]\nname = \"api-v2\"\n[[balance.pools.servers]]\nname = \"new-api\"\naddress = \"{}\"\n",
        new_api.addr
    );
    fd.reload(&table("api-v2", &pool));
    let moved = eventually(Duration::from_secs(10), || new_hits.load(SeqCst) > 100).await;
    stop.store(true, SeqCst);
    for l in load {
        l.await.unwrap();
    }
    assert!(moved, "the route moved to the new pool: {:#?}", fd.logs());
    assert_eq!(failed.load(SeqCst), 0, "{} ok", ok.load(SeqCst));
    // Once moved, nothing more goes to the old pool.
    let before = old_api.hits();
    for _ in 0..10 {
        let r = get_h(fd.addr, "s.test", "/api/y", &[]).await;
        assert_eq!(r.header("x-backend"), Some("new-api"));
    }
    assert_eq!(old_api.hits(), before);
}

#[test]
fn check_reports_dead_routes_unused_pools_and_bad_keys_with_lines() {
    let dir = testkit::process::temp_dir("routes-check");
    let path = dir.join("bigstep.toml");
    std::fs::write(
        &path,
        r#"[balance]
[[balance.servers]]
address = "127.0.0.1:1"

[[balance.pools]]
name = "api"
[[balance.pools.servers]]
address = "127.0.0.1:2"

[[balance.pools]]
name = "spare"

[[balance.routes]]
path_prefix = "/api"
pool = "api"

[[balance.routes]]
path_prefix = "/api/v2"
pool = "api"
"#,
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["balance", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok (2 servers, 3 pools, 2 routes)"), "{text}");
    assert!(
        text.contains("warning: route 2 (route-2) can never match"),
        "{text}"
    );
    assert!(
        text.contains("warning: pool `spare` is not used by any route"),
        "{text}"
    );

    std::fs::write(
        &path,
        "[balance]\n[[balance.servers]]\naddress = \"127.0.0.1:1\"\n\n[[balance.routes]]\npath_prefix = \"/x\"\npool = \"nope\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["balance", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("routes.pool") && err.contains("line 5") && err.contains("nope"),
        "{err}"
    );
}

/// `curl` with `args` against the front door; (response headers, body, bytes on the wire).
fn curl(addr: SocketAddr, path: &str, args: &[&str]) -> (String, Vec<u8>, u64) {
    let dir = testkit::process::temp_dir("curl");
    let head = dir.join("head");
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-D"])
        .arg(&head)
        .args(["-w", "%{size_download}", "-o"])
        .arg(dir.join("body"))
        .args(args)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl failed: {out:?}");
    let wire = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let headers = std::fs::read_to_string(&head).unwrap().to_ascii_lowercase();
    let body = std::fs::read(dir.join("body")).unwrap();
    (headers, body, wire)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_responses_are_compressed_for_clients_that_ask_and_nothing_else_is() {
    let www = Backend::start("www").await;
    let cfg = format!(
        r#"[balance.compression]
enabled = true

[[balance.servers]]
address = "{}"

[[balance.routes]]
path_prefix = "/raw"
strip_prefix = true
pool = "default"
compress = false
"#,
        www.addr
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let addr = fd.addr;
    let text = "/download?bytes=300000&text=1";
    let expected = vec![b'x'; 300_000];
    // curl decodes what it asked for: brotli first, then gzip alone.
    let (h, body, wire) = tokio::task::spawn_blocking(move || curl(addr, text, &["--compressed"]))
        .await
        .unwrap();
    assert!(h.contains("content-encoding: br"), "{h}");
    assert!(
        h.contains("vary: accept-encoding") && !h.contains("content-length"),
        "{h}"
    );
    assert_eq!(body, expected);
    assert!(
        wire < 3_000,
        "300 kB of text went over the wire as {wire} bytes"
    );
    let (h, body, wire) = tokio::task::spawn_blocking(move || {
        curl(addr, text, &["--compressed", "-H", "Accept-Encoding: gzip"])
    })
    .await
    .unwrap();
    assert!(h.contains("content-encoding: gzip"), "{h}");
    assert_eq!(body, expected);
    assert!(wire < 3_000, "{wire}");
    // zstd for a client that asks for it (curl decodes it: libcurl has zstd).
    let (h, body, wire) = tokio::task::spawn_blocking(move || {
        curl(addr, text, &["--compressed", "-H", "Accept-Encoding: zstd"])
    })
    .await
    .unwrap();
    assert!(h.contains("content-encoding: zstd"), "{h}");
    assert_eq!(body, expected);
    assert!(wire < 3_000, "{wire}");
    // And brotli still first for a browser that offers all three.
    let (h, _, _) = tokio::task::spawn_blocking(move || {
        curl(
            addr,
            text,
            &[
                "--compressed",
                "-H",
                "Accept-Encoding: gzip, deflate, br, zstd",
            ],
        )
    })
    .await
    .unwrap();
    assert!(h.contains("content-encoding: br"), "{h}");
    // Not compressed: a client that did not ask, binary types, small bodies,
    // HEAD, ranges, and a route that says no.
    for (path, args) in [
        (text, vec![]),
        ("/download?bytes=300000", vec!["--compressed"]),
        ("/", vec!["--compressed"]),
        (text, vec!["--compressed", "-I"]),
        (text, vec!["--compressed", "-r", "0-99"]),
        ("/raw/download?bytes=300000&text=1", vec!["--compressed"]),
        ("/sse?events=1", vec!["--compressed"]),
    ] {
        let (h, _, _) = tokio::task::spawn_blocking(move || curl(addr, path, &args))
            .await
            .unwrap();
        assert!(!h.contains("content-encoding"), "{path}: {h}");
    }
}

/// A `path_regex` route takes the paths its pattern matches whole, as
/// normalised (the server is sent that path too), and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_route_matches_whole_normalised_paths() {
    let (www, img) = (Backend::start("www").await, Backend::start("img").await);
    let cfg = format!(
        r#"[[balance.servers]]
address = "{www}"

[[balance.pools]]
name = "img"
[[balance.pools.servers]]
address = "{img}"

[[balance.routes]]
path_regex = '/users/[0-9]+/avatar(\.png)?'
pool = "img"
"#,
        www = www.addr,
        img = img.addr,
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let by = |r: &Resp| r.header("x-backend").unwrap_or("?").to_string();
    for (path, want) in [
        ("/users/42/avatar", "img"),
        ("/users/42/avatar.png", "img"),
        ("/users/42/avatar?size=2", "img"),
        ("/users/42/avatar/more", "www"),
        ("/x/users/42/avatar", "www"),
        ("/users/abc/avatar", "www"),
        ("/users/42/avatarxpng", "www"),
        ("/users/x/../7/avatar", "img"),
    ] {
        let r = get_h(fd.addr, "s.test", path, &[]).await;
        assert_eq!(by(&r), want, "{path}");
    }
    assert_eq!(first_line(&img), "GET /users/7/avatar HTTP/1.1");
    assert_eq!((img.hits(), www.hits()), (4, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_stream_still_streams() {
    use http_body_util::BodyExt;
    use std::io::Write;
    let www = Backend::start("www").await;
    let cfg = format!(
        "[balance.compression]\nenabled = true\nmin_length = 0\n[[balance.servers]]\naddress = \"{}\"\n",
        www.addr
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let stream = tokio::net::TcpStream::connect(fd.addr).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/sse?events=2&text=1")
        .header("host", "s.test")
        .header("accept-encoding", "gzip")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut body = resp.into_body();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    // The second event waits for `release_event`: the first must arrive, decodable, before it.
    let first = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let frame = body.frame().await.expect("a frame").expect("body ok");
            decoder.write_all(frame.data_ref().unwrap()).unwrap();
            decoder.flush().unwrap();
            if decoder.get_ref().ends_with(b"\n\n") {
                break;
            }
        }
    })
    .await;
    assert!(first.is_ok(), "the first event stayed in the encoder");
    assert_eq!(decoder.get_ref().as_slice(), b"data: event 0\n\n");
    www.release_event();
    while let Some(frame) = body.frame().await {
        decoder
            .write_all(frame.unwrap().data_ref().unwrap())
            .unwrap();
    }
    let all = decoder.finish().unwrap();
    assert_eq!(all, b"data: event 0\n\ndata: event 1\n\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_arrives_compressed_and_renders_in_chromium() {
    // A small static site served by Python's http.server (a real app server
    // that knows nothing of compression), behind the front door with it on.
    let site = testkit::process::temp_dir("compressed-site");
    let filler = |c: &str| c.repeat(40);
    std::fs::write(
        site.join("index.html"),
        format!(
            "<!doctype html><html><head><meta charset=utf-8><title>compressed</title>\
             <link rel=stylesheet href=style.css></head><body><h1>Through the front door</h1>\
             <p id=out>waiting</p><script src=app.js></script>\n<!-- {} --></body></html>\n",
            filler("padding ")
        ),
    )
    .unwrap();
    std::fs::write(
        site.join("style.css"),
        format!("body {{ background: rgb(10, 20, 30); color: #eee; font: 20px sans-serif; }}\n/* {} */\n", filler("rule ")),
    )
    .unwrap();
    std::fs::write(
        site.join("app.js"),
        format!(
            "// {}\ndocument.getElementById('out').textContent = 'rendered by app.js';\n",
            filler("comment ")
        ),
    )
    .unwrap();
    let port = closed_port();
    let mut python = std::process::Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.port().to_string())
        .arg("--directory")
        .arg(&site)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let up = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(port).is_ok()
    })
    .await;
    assert!(up, "python http.server did not start");
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.compression]\nenabled = true\n[[balance.servers]]\naddress = \"{port}\"\n"
        ),
    );
    let browser = testkit::browser::prepare("compressed-page.png");
    let url = format!("http://{}/", fd.addr);
    let (passed, log) = browser
        .run_async(
            "compressed.mjs",
            vec![url.into(), browser.screenshot.clone().into()],
        )
        .await;
    let _ = python.kill();
    let _ = python.wait();
    assert!(passed, "compressed page test failed:\n{log}");
    assert!(browser.screenshot.is_file(), "{log}");
}

/// Two front doors share one limit through `store`: 6 allowed in all, not 6 each.
async fn two_front_doors_share_a_limit(store: SocketAddr) {
    let www = Backend::start("www").await;
    let table = format!(
        r#"rate_limit_store = "redis://{store}"
[[balance.servers]]
address = "{}"

[[balance.routes]]
name = "signup"
path = "/signup"
pool = "default"
rate_limit = {{ rate = "6/m", burst = 6, key = "header:x-user", shared = true }}
"#,
        www.addr
    );
    let (a, b) = (
        FrontDoorProc::start(BIN, &table),
        FrontDoorProc::start(BIN, &table),
    );
    let mut allowed = 0;
    let mut refused = 0;
    for i in 0..20 {
        let fd = if i % 2 == 0 { &a } else { &b };
        match get_h(fd.addr, "s", "/signup", &[("x-user", "eve")])
            .await
            .status
            .as_u16()
        {
            200 => allowed += 1,
            429 => refused += 1,
            other => panic!("status {other}"),
        }
    }
    assert_eq!(
        (allowed, refused),
        (6, 14),
        "one limit across both front doors"
    );
    // Another user has a bucket of their own.
    assert_eq!(
        get_h(b.addr, "s", "/signup", &[("x-user", "bob")])
            .await
            .status,
        200
    );
    assert_eq!(www.hits(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_front_doors_share_a_limit_through_bigstep_state() {
    let state = StoreProc::start(BIN, Engine::State);
    two_front_doors_share_a_limit(state.addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_front_doors_share_a_limit_through_redis() {
    let redis = StoreProc::start(BIN, Engine::Redis);
    two_front_doors_share_a_limit(redis.addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_limit_fails_open_when_its_store_is_down() {
    let www = Backend::start("www").await;
    let admin = closed_port();
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "admin_listen = \"{admin}\"\nrate_limit_store = \"redis://{}\"\n[[balance.servers]]\naddress = \"{}\"\n\
             [[balance.routes]]\npath = \"/x\"\npool = \"default\"\nrate_limit = {{ rate = \"1/m\", shared = true }}\n",
            closed_port(),
            www.addr
        ),
    );
    for _ in 0..5 {
        assert_eq!(
            get_h(fd.addr, "s", "/x", &[]).await.status,
            200,
            "a dead store never takes the site down"
        );
    }
    admin_status(admin).await;
    assert_eq!(
        metric(admin, "bigstep_rate_limit_store_errors_total").await,
        Some(5)
    );
    // The log is read from the child's stderr by a thread: wait for the line.
    assert!(
        eventually(Duration::from_secs(5), || fd
            .logs()
            .iter()
            .any(|l| l.contains("shared rate-limit store failed")))
        .await,
        "the store failure was not logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_of_named_pools_alone_starts_and_unrouted_requests_get_503() {
    let api = Backend::start("api").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[[balance.pools]]\nname = \"api\"\n[[balance.pools.servers]]\naddress = \"{}\"\n\
             [[balance.routes]]\nhost = \"api.test\"\npool = \"api\"\n",
            api.addr
        ),
    );
    assert_eq!(
        get_h(fd.addr, "api.test", "/", &[])
            .await
            .header("x-backend"),
        Some("api")
    );
    let r = get_h(fd.addr, "other.test", "/", &[]).await;
    assert_eq!(r.status, 503, "the default pool is empty");
    assert_eq!(r.header("x-bigstep-reason"), Some("no-healthy-server"));
}
