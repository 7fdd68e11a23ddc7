//! Sessions across servers: strong (signed cookie) and hashed stickiness, re-routing
//! when the sticky server is gone, the session-loss detector, slow start and
//! bounded loads — against the real binary and real backends.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use testkit::backend::Backend;
use testkit::client::{get, send, Resp};
use testkit::process::FrontDoorProc;
use testkit::{closed_port, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
const KEY: &str = "test-key-0123456789abcdef";

fn servers(list: &[&Backend]) -> String {
    list.iter()
        .map(|b| {
            format!(
                "[[balance.servers]]\nname = \"{}\"\naddress = \"{}\"\n",
                b.name(),
                b.addr
            )
        })
        .collect()
}

fn cookie_config(admin: std::net::SocketAddr, list: &[&Backend]) -> String {
    format!(
        "admin_listen = \"{admin}\"\n[balance.sticky]\nmode = \"cookie\"\nkey = \"{KEY}\"\n{}",
        servers(list)
    )
}

async fn get_with_cookie(addr: std::net::SocketAddr, path: &str, cookie: &str) -> Resp {
    let req = Request::get(path)
        .header("host", "t")
        .header("cookie", cookie)
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(addr, req).await.expect("request")
}

/// `name=value` of our Set-Cookie, if the response has one.
fn sticky_cookie(r: &Resp) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bigstep_sticky="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// The sticky cookie of a new user that round robin placed on `server`.
async fn cookie_for(fd: &FrontDoorProc, server: &str) -> String {
    for _ in 0..8 {
        let r = get(fd.addr, "/").await.unwrap();
        if r.header("x-backend") == Some(server) {
            return sticky_cookie(&r).expect("a new user gets a sticky cookie");
        }
    }
    panic!("round robin never placed a new user on {server}");
}

async fn metric(admin: std::net::SocketAddr, series: &str) -> Option<u64> {
    Some(testkit::metrics::metric(admin, series).await? as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_round_trip_keeps_a_user_on_one_server() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let fd = FrontDoorProc::start(BIN, &cookie_config(closed_port(), &[&a, &b, &c]));
    let first = get(fd.addr, "/").await.unwrap();
    let cookie = sticky_cookie(&first).expect("a new user gets a sticky cookie");
    let set = first.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    let home = first.header("x-backend").unwrap().to_string();
    assert!(
        !cookie.contains("127.0.0.1"),
        "the cookie names the server by id, not address: {cookie}"
    );
    for _ in 0..20 {
        let r = get_with_cookie(fd.addr, "/", &cookie).await;
        assert_eq!(r.header("x-backend"), Some(home.as_str()));
        assert!(
            sticky_cookie(&r).is_none(),
            "a stuck user is not sent a new cookie"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cookies_are_ignored() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let fd = FrontDoorProc::start(BIN, &cookie_config(closed_port(), &[&a, &b]));
    let cookie = sticky_cookie(&get(fd.addr, "/").await.unwrap()).unwrap();
    let home = if cookie.contains("=a.") { "a" } else { "b" };
    let other = if home == "a" { "b" } else { "a" };
    // Point the cookie at the other server without the key: the MAC no longer matches.
    let forged = cookie.replacen(&format!("={home}."), &format!("={other}."), 1);
    let mut seen = HashMap::new();
    for _ in 0..10 {
        let r = get_with_cookie(fd.addr, "/", &forged).await;
        assert!(
            sticky_cookie(&r).is_some(),
            "a forged cookie is replaced by a valid one"
        );
        *seen
            .entry(r.header("x-backend").unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        seen.len(),
        2,
        "a forged cookie steers nothing: requests are balanced as usual {seen:?}"
    );
    for junk in [
        "bigstep_sticky=a",
        "bigstep_sticky=a.1.deadbeef",
        "bigstep_sticky=...",
    ] {
        assert_eq!(get_with_cookie(fd.addr, "/", junk).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_front_doors_with_one_key_route_a_user_identically() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let fd1 = FrontDoorProc::start(BIN, &cookie_config(closed_port(), &[&a, &b, &c]));
    let fd2 = FrontDoorProc::start(BIN, &cookie_config(closed_port(), &[&a, &b, &c]));
    for _ in 0..5 {
        let first = get(fd1.addr, "/").await.unwrap();
        let cookie = sticky_cookie(&first).unwrap();
        let home = first.header("x-backend").unwrap().to_string();
        for _ in 0..5 {
            let r = get_with_cookie(fd2.addr, "/", &cookie).await;
            assert_eq!(
                r.header("x-backend"),
                Some(home.as_str()),
                "the other front door agrees"
            );
            assert!(sticky_cookie(&r).is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_sticky_server_reroutes_and_restics_without_an_error() {
    let (mut a, b) = (Backend::start("a").await, Backend::start("b").await);
    let admin = closed_port();
    let fd = FrontDoorProc::start(BIN, &cookie_config(admin, &[&a, &b]));
    // Find a user stuck to a.
    let cookie = cookie_for(&fd, "a").await;
    a.stop();
    let r = get_with_cookie(fd.addr, "/", &cookie).await;
    assert_eq!(
        r.status, 200,
        "never a 502 because the cookie names a dead server"
    );
    assert_eq!(r.header("x-backend"), Some("b"));
    let new_cookie = sticky_cookie(&r).expect("re-stuck to the server that answered");
    assert!(new_cookie.contains("=b."), "{new_cookie}");
    for _ in 0..5 {
        assert_eq!(
            get_with_cookie(fd.addr, "/", &new_cookie)
                .await
                .header("x-backend"),
            Some("b")
        );
    }
    assert_eq!(
        metric(
            admin,
            "bigstep_sticky_reroutes_total{server=\"a\",pool=\"default\"}"
        )
        .await,
        Some(1)
    );
    // a comes back: the user stays on b (no flapping).
    a.restart().await;
    assert_eq!(
        get_with_cookie(fd.addr, "/", &new_cookie)
            .await
            .header("x-backend"),
        Some("b")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_sticky_server_means_a_stale_cookie_that_is_replaced() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let fd = FrontDoorProc::start(BIN, &cookie_config(closed_port(), &[&a, &b]));
    let cookie = cookie_for(&fd, "a").await;
    // Reload without a (keeping the admin address: it cannot change live).
    let cfg = std::fs::read_to_string(fd.dir.join("bigstep.toml")).unwrap();
    let admin = cfg.lines().find(|l| l.starts_with("admin_listen")).unwrap();
    fd.reload(&format!(
        "{admin}\n[balance.sticky]\nmode = \"cookie\"\nkey = \"{KEY}\"\n{}",
        servers(&[&b])
    ));
    let ok = eventually(Duration::from_secs(5), || {
        fd.logs().iter().any(|l| l.contains("change applied"))
    })
    .await;
    assert!(ok, "{:#?}", fd.logs());
    let r = get_with_cookie(fd.addr, "/", &cookie).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-backend"), Some("b"));
    assert!(sticky_cookie(&r).unwrap().contains("=b."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_cookie_keeps_parallel_first_requests_together() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let cfg = format!(
        "[balance.sticky]\nmode = \"app-cookie\"\napp_cookie = \"PHPSESSID\"\n{}",
        servers(&[&a, &b, &c])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let mut homes = HashMap::new();
    for user in 0..30 {
        let cookie = format!("PHPSESSID=session-{user}");
        // Six parallel requests of one user (a browser's connection count),
        // before any of them has an answer.
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (addr, cookie) = (fd.addr, cookie.clone());
            tasks.push(tokio::spawn(async move {
                get_with_cookie(addr, "/", &cookie).await
            }));
        }
        let mut seen = std::collections::HashSet::new();
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, 200);
            seen.insert(r.header("x-backend").unwrap().to_string());
        }
        assert_eq!(
            seen.len(),
            1,
            "user {user}'s parallel requests split over {seen:?}"
        );
        *homes.entry(seen.into_iter().next().unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        homes.len(),
        3,
        "different sessions spread over all servers: {homes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_loads_cap_in_flight_under_a_skewed_key() {
    let bs = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ];
    for b in &bs {
        b.set_delay(Duration::from_millis(600));
    }
    let cfg = format!(
        "[balance.sticky]\nmode = \"header\"\nheader = \"x-user\"\n{}",
        servers(&[&bs[0], &bs[1], &bs[2]])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    // 24 concurrent requests, 20 of them for one hot user: bounded loads spill it over.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let addr = fd.addr;
        let user = if i < 20 {
            "hot".to_string()
        } else {
            format!("cold-{i}")
        };
        tasks.push(tokio::spawn(async move {
            let req = Request::get("/")
                .header("host", "t")
                .header("x-user", user)
                .body(Full::new(Bytes::new()))
                .unwrap();
            send(addr, req).await.unwrap().status
        }));
        // Each request reaches its backend before the next is routed, so every
        // routing decision sees the loads the earlier ones made.
        assert!(
            eventually(Duration::from_secs(20), || {
                bs.iter().map(|b| b.hits()).sum::<u64>() > i
            })
            .await,
            "request {i} never reached a backend"
        );
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let peaks: Vec<u64> = bs.iter().map(|b| b.peak_in_flight()).collect();
    let cap = (1.25f64 * 24.0 / 3.0).ceil() as u64;
    assert!(
        peaks.iter().all(|&p| p <= cap),
        "peak in-flight {peaks:?} must stay within ceil(1.25 x average) = {cap}"
    );
    assert_eq!(bs.iter().map(|b| b.hits()).sum::<u64>(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_loss_detector_counts_a_reset_session_not_a_kept_one() {
    let a = Backend::start("a").await;
    let admin = closed_port();
    let fd = FrontDoorProc::start(
        BIN,
        &format!("admin_listen = \"{admin}\"\n{}", servers(&[&a])),
    );
    // The app sets the same session id the user sent: kept, not a loss.
    get_with_cookie(fd.addr, "/set-cookie?v=abc", "PHPSESSID=abc").await;
    // A first visit without a session: not a loss either.
    get(fd.addr, "/set-cookie?v=first").await.unwrap();
    assert_eq!(
        metric(
            admin,
            "bigstep_session_loss_total{server=\"a\",pool=\"default\"}"
        )
        .await,
        Some(0)
    );
    // The user sent abc; the app answered with a new id: its session was lost.
    get_with_cookie(fd.addr, "/set-cookie?v=xyz", "PHPSESSID=abc").await;
    assert_eq!(
        metric(
            admin,
            "bigstep_session_loss_total{server=\"a\",pool=\"default\"}"
        )
        .await,
        Some(1)
    );
    let logged = eventually(Duration::from_secs(5), || {
        fd.logs().iter().any(|l| l.contains("session was lost"))
    })
    .await;
    assert!(logged, "{:#?}", fd.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_start_ramps_a_returning_server_up() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    b.set_healthy(false);
    let cfg = format!(
        "slow_start = \"3s\"\n[balance.health]\ninterval = \"50ms\"\nrise = 1\nfall = 1\n{}",
        servers(&[&a, &b])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let mut ready = false;
    for _ in 0..200 {
        if get(fd.addr, "/")
            .await
            .map(|r| r.status == 200)
            .unwrap_or(false)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready);
    // b failed its checks: down. Servers present at start-up get no ramp; one
    // that comes back from down does.
    assert!(
        eventually(Duration::from_secs(5), || fd
            .logs()
            .iter()
            .any(|l| l.contains("server is down") && l.contains("server=b")))
        .await
    );
    b.set_healthy(true);
    assert!(
        eventually(Duration::from_secs(5), || fd
            .logs()
            .iter()
            .any(|l| l.contains("server is up") && l.contains("server=b")))
        .await
    );
    let before = b.hits();
    for _ in 0..40 {
        get(fd.addr, "/").await.unwrap();
    }
    let early = b.hits() - before;
    assert!(
        early < 16,
        "right after coming up b should get well under half: {early}/40"
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let before = b.hits();
    for _ in 0..40 {
        get(fd.addr, "/").await.unwrap();
    }
    let late = b.hits() - before;
    assert_eq!(
        late, 20,
        "after the ramp, round robin is even again: {late}/40"
    );
}

async fn admin_call(admin: std::net::SocketAddr, method: &str, path: &str) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(admin, req).await.expect("admin request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_keeps_existing_users_takes_no_new_ones_and_ends_at_the_deadline() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let admin = closed_port();
    let cfg = format!(
        "drain_timeout = \"2s\"\n{}",
        cookie_config(admin, &[&a, &b])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    // A user stuck to a.
    let cookie = cookie_for(&fd, "a").await;
    assert_eq!(
        admin_call(admin, "POST", "/api/servers/a/drain")
            .await
            .status,
        200
    );

    // The existing user stays on a; every new user goes to b.
    for _ in 0..10 {
        assert_eq!(
            get_with_cookie(fd.addr, "/", &cookie)
                .await
                .header("x-backend"),
            Some("a")
        );
        let fresh = get(fd.addr, "/").await.unwrap();
        assert_eq!(
            fresh.header("x-backend"),
            Some("b"),
            "a draining server takes no new users"
        );
    }
    let status = admin_call(admin, "GET", "/api/status").await.text();
    assert!(status.contains("\"draining\""), "{status}");
    assert!(
        status.contains("\"sticky_users\":1"),
        "the operator sees a's one live sticky user: {status}"
    );

    // At the deadline the drain ends: a is in maintenance, its user moves and is re-stuck.
    let mut moved = None;
    for _ in 0..100 {
        let r = get_with_cookie(fd.addr, "/", &cookie).await;
        if r.header("x-backend") == Some("b") {
            moved = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = moved.expect("after drain_timeout the user leaves a");
    assert_eq!(r.status, 200);
    assert!(sticky_cookie(&r).unwrap().contains("=b."));
    let status = admin_call(admin, "GET", "/api/status").await.text();
    assert!(status.contains("\"maintenance\""), "{status}");
}
