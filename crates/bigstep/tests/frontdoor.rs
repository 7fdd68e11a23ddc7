//! The front door end to end: the real `bigstep balance` binary on port 0 in
//! front of real HTTP backends (testkit), driven by real clients and raw sockets.
//! Assertions are on counts and bytes, never on wall-clock speed.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use http_body_util::Full;
use testkit::backend::Backend;
use testkit::client::{get, raw, send};
use testkit::process::FrontDoorProc;
use testkit::{closed_port, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

fn servers(list: &[(&str, std::net::SocketAddr, u32)]) -> String {
    list.iter()
        .map(|(name, addr, w)| {
            format!("[[balance.servers]]\nname = \"{name}\"\naddress = \"{addr}\"\nweight = {w}\n")
        })
        .collect()
}

/// Like `count_backends` but tolerates error responses (while health settles).
async fn count_ok(fd: &FrontDoorProc, n: usize) -> HashMap<String, usize> {
    testkit::client::spread_ok(fd.addr, n).await
}

async fn count_backends(fd: &FrontDoorProc, n: usize, path: &str) -> HashMap<String, usize> {
    testkit::client::spread(fd.addr, n, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let fd = FrontDoorProc::start(
        BIN,
        &servers(&[("a", a.addr, 1), ("b", b.addr, 1), ("c", c.addr, 1)]),
    );
    let seen = count_backends(&fd, 30, "/").await;
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("c"), Some(&10), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_respects_weights_exactly() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let fd = FrontDoorProc::start(
        BIN,
        &servers(&[("a", a.addr, 1), ("b", b.addr, 2), ("c", c.addr, 3)]),
    );
    let seen = count_backends(&fd, 60, "/").await;
    assert_eq!((seen["a"], seen["b"], seen["c"]), (10, 20, 30), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_in_flight_avoids_a_slow_server() {
    let (slow, fast) = (Backend::start("slow").await, Backend::start("fast").await);
    slow.set_delay(Duration::from_millis(400));
    let cfg = format!(
        "algorithm = \"least-in-flight\"\n{}",
        servers(&[("slow", slow.addr, 1), ("fast", fast.addr, 1)])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    // 4 concurrent clients, 10 requests each: the slow server holds its requests
    // long, so least-in-flight sends nearly everything to the fast one.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let addr = fd.addr;
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                assert_eq!(get(addr, "/").await.unwrap().status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (s, f) = (slow.hits(), fast.hits());
    assert_eq!(s + f, 40);
    assert!(
        f >= 3 * s,
        "fast={f} slow={s}: least-in-flight should favour the fast server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_health_check_ejects_and_restores_with_rise_fall() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let cfg = format!(
        "[balance.health]\npath = \"/healthz\"\ninterval = \"50ms\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2\n{}",
        servers(&[("a", a.addr, 1), ("b", b.addr, 1)])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    // New servers get traffic only once their first check passes.
    let mut both = false;
    for _ in 0..200 {
        let seen = count_ok(&fd, 4).await;
        if seen.len() == 2 {
            both = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(both, "both servers should come up");

    a.set_healthy(false);
    let mut only_b = false;
    for _ in 0..200 {
        let seen = count_ok(&fd, 6).await;
        if seen.get("b") == Some(&6) {
            only_b = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(only_b, "a should be taken out after failing checks");
    let hits_a = a.hits();
    let seen = count_backends(&fd, 20, "/").await;
    assert_eq!(seen.get("b"), Some(&20), "a is down: {seen:?}");
    assert_eq!(a.hits(), hits_a);

    a.set_healthy(true);
    let mut back = false;
    for _ in 0..200 {
        let seen = count_ok(&fd, 4).await;
        if seen.contains_key("a") {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "a should return after passing checks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_failing_its_first_check_never_gets_traffic() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    a.set_healthy(false);
    let cfg = format!(
        "[balance.health]\ninterval = \"50ms\"\n{}",
        servers(&[("a", a.addr, 1), ("b", b.addr, 1)])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    // Until b's first check passes the front door answers 503; then only b serves.
    let mut ok = 0;
    for _ in 0..100 {
        let r = get(fd.addr, "/").await.unwrap();
        if r.status == 200 {
            ok += 1;
            assert_eq!(r.header("x-backend"), Some("b"));
        } else {
            assert_eq!(r.status, 503);
            assert_eq!(r.header("x-bigstep-reason"), Some("no-healthy-server"));
        }
        if ok >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok >= 20);
    assert_eq!(
        a.hits(),
        0,
        "a never passed a check, so it must get no request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_health_ejects_a_failing_server() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    a.set_fail_all(true);
    let cfg = format!(
        "[balance.passive]\nconsecutive_failures = 3\nbase_ejection = \"30s\"\n{}",
        servers(&[("a", a.addr, 1), ("b", b.addr, 1)])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    for _ in 0..10 {
        let _ = get(fd.addr, "/").await.unwrap();
    }
    // Three 500s from a ejected it: from now on only b answers.
    let hits_a = a.hits();
    assert_eq!(
        hits_a, 3,
        "a is ejected after exactly 3 consecutive failures"
    );
    let seen = count_backends(&fd, 20, "/").await;
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");
    assert_eq!(a.hits(), hits_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_ejection_never_takes_out_more_than_the_cap() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    a.set_fail_all(true);
    b.set_fail_all(true);
    let cfg = format!(
        "[balance.passive]\nconsecutive_failures = 2\nmax_ejected_percent = 50\n{}",
        servers(&[("a", a.addr, 1), ("b", b.addr, 1)])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    for _ in 0..20 {
        assert_eq!(get(fd.addr, "/").await.unwrap().status, 500);
    }
    // One of the two is ejected; the other keeps answering (its 500s reach the client).
    let (ha, hb) = (a.hits(), b.hits());
    assert_eq!(ha + hb, 20);
    assert!(
        ha == 2 || hb == 2,
        "exactly one server ejected after 2 failures: a={ha} b={hb}"
    );
}

/// The admin address from the `admin listening ... listen=ADDR` log line.
async fn admin_addr(fd: &FrontDoorProc) -> std::net::SocketAddr {
    let mut found = None;
    let up = eventually(Duration::from_secs(10), || {
        found = fd.logs().iter().find_map(|line| {
            let rest = line
                .split("admin listening")
                .nth(1)?
                .split("listen=")
                .nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        });
        found.is_some()
    })
    .await;
    assert!(up, "no admin listener; logs: {:#?}", fd.logs());
    found.unwrap()
}

async fn admin_get(admin: std::net::SocketAddr, path: &str) -> String {
    let req = Request::get(path)
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send(admin, req).await.expect("admin API answers");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text()
}

/// Every server as `GET /api/servers` shows it, by id.
async fn admin_servers(admin: std::net::SocketAddr) -> HashMap<String, serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&admin_get(admin, "/api/servers").await).expect("JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

/// The value of an unlabelled counter in the Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_aborting_uploads_eject_nobody() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let cfg = format!(
        "admin_listen = \"127.0.0.1:0\"\n[balance.passive]\nconsecutive_failures = 3\nbase_ejection = \"30s\"\n{}",
        servers(&[("a", a.addr, 1), ("b", b.addr, 1)])
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    let admin = admin_addr(&fd).await;

    // 100 clients announce a 1 MB upload, send 4 KiB of it, and hang up once
    // every request has reached a server (the proxy is streaming their bodies).
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(fd.addr).await.unwrap();
        s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
            .await
            .unwrap();
        s.write_all(&[b'u'; 4096]).await.unwrap();
        clients.push(s);
    }
    assert!(
        eventually(Duration::from_secs(10), || a.hits() + b.hits() == 100).await,
        "every upload should reach a server: a={} b={}",
        a.hits(),
        b.hits()
    );
    drop(clients);
    // The front door has dealt with every abort once no request is in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let servers = admin_servers(admin).await;
        if servers.values().all(|s| s["in_flight"] == 0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{servers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let servers = admin_servers(admin).await;
    for (id, s) in &servers {
        assert_eq!(s["passive_failures"], 0, "{id}: the client's fault: {s}");
        assert_eq!(s["ejected"], false, "{id}: {s}");
        assert_eq!(s["available"], true, "{id}: {s}");
    }
    assert_eq!(
        metric(
            &admin_get(admin, "/metrics").await,
            "bigstep_ejections_total"
        ),
        0
    );
    let seen = count_backends(&fd, 4, "/").await;
    assert_eq!((seen["a"], seen["b"]), (2, 2), "both still serve: {seen:?}");

    // Control: a server that hangs up on uploads is at fault, and is ejected.
    for _ in 0..6 {
        let req = Request::post("/close-before-response")
            .header("host", "t")
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        assert_eq!(send(fd.addr, req).await.unwrap().status, 502);
    }
    assert_eq!(
        metric(
            &admin_get(admin, "/metrics").await,
            "bigstep_ejections_total"
        ),
        1,
        "three upstream faults in a row eject the server"
    );
    let ejected = admin_servers(admin)
        .await
        .values()
        .filter(|s| s["ejected"] == true)
        .count();
    assert_eq!(ejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_invisibly() {
    let (b, c) = (Backend::start("b").await, Backend::start("c").await);
    let dead = closed_port();
    let fd = FrontDoorProc::start(
        BIN,
        &servers(&[("dead", dead, 1), ("b", b.addr, 1), ("c", c.addr, 1)]),
    );
    for i in 0..30 {
        let r = get(fd.addr, "/").await.unwrap();
        assert_eq!(r.status, 200, "GET {i} failed: {}", r.text());
    }
    // Nothing was sent to the dead server, so even a POST with a body is retried.
    for _ in 0..6 {
        let req = Request::post("/upload")
            .header("host", "t")
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        let r = send(fd.addr, req).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "5");
    }
    assert_eq!(b.hits() + c.hits(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_requests_retry_when_the_server_closes_before_answering() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1), ("b", b.addr, 1)]));
    // Each backend closes without answering; a GET tries both (2 attempts), then 502.
    let r = get(fd.addr, "/close-before-response").await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-bigstep-reason"), Some("upstream-closed"));
    assert_eq!(
        a.hits() + b.hits(),
        2,
        "a GET is retried once on the other server"
    );
    // A POST was sent, may have had effects: never retried.
    let req = Request::post("/close-before-response")
        .header("host", "t")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    let r = send(fd.addr, req).await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(a.hits() + b.hits(), 3, "a POST is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_once_the_response_has_started() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1), ("b", b.addr, 1)]));
    let r = get(fd.addr, "/die-mid-response").await;
    assert!(
        r.is_err(),
        "the client must see the truncated body as an error, got {r:?}"
    );
    assert_eq!(
        a.hits() + b.hits(),
        1,
        "a started response is never retried"
    );
    // The front door keeps serving.
    assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_available_gives_a_clear_503() {
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.health]\ninterval = \"50ms\"\n{}",
            servers(&[("x", closed_port(), 1)])
        ),
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-bigstep-reason"), Some("no-healthy-server"));
    assert!(r.text().contains("No server is available"), "{}", r.text());
}

/// A server address that swallows SYNs (testkit::Blackhole): the connect
/// timeout fires, nothing was sent, so the request moves on to another server;
/// with no other server the client gets a clear error naming the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_moves_on_to_another_server() {
    let hole = testkit::Blackhole::new().await;
    let b = Backend::start("b").await;
    let timeouts = "[balance.timeouts]\nconnect = \"200ms\"\n";
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "{timeouts}{}",
            servers(&[("hole", hole.addr, 1), ("b", b.addr, 1)])
        ),
    );
    for i in 0..8 {
        let r = get(fd.addr, "/").await.unwrap();
        assert_eq!(r.status, 200, "GET {i}: {}", r.text());
    }
    assert_eq!(b.hits(), 8, "every request was answered by b");

    let alone = FrontDoorProc::start(
        BIN,
        &format!("{timeouts}{}", servers(&[("hole", hole.addr, 1)])),
    );
    let r = get(alone.addr, "/").await.unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("x-bigstep-reason"),
        Some("upstream-connect-timeout")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upstream_gives_504() {
    let a = Backend::start("a").await;
    a.set_delay(Duration::from_secs(3));
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.timeouts]\nupstream_response = \"300ms\"\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 504);
    assert_eq!(r.header("x-bigstep-reason"), Some("upstream-timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_stripped_and_forwarding_headers_added() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let req = "GET /headers HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n\
               Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
               X-Forwarded-For: 203.0.113.9\r\nX-End: kept\r\nConnection: close\r\n\r\n";
    let resp = raw(fd.addr, req.as_bytes(), Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let head = a.last_head();
    let lower = head.to_lowercase();
    for gone in [
        "x-hop:",
        "keep-alive:",
        "\nte:",
        "proxy-authorization:",
        "connection:",
    ] {
        assert!(
            !lower.contains(gone),
            "`{gone}` should not reach the backend:\n{head}"
        );
    }
    assert!(
        lower.contains("host: shop.example"),
        "Host is kept:\n{head}"
    );
    assert!(lower.contains("x-end: kept"), "{head}");
    assert!(
        lower.contains("x-forwarded-for: 203.0.113.9, 127.0.0.1"),
        "{head}"
    );
    assert!(lower.contains("x-forwarded-proto: http"), "{head}");
    assert!(lower.contains("x-forwarded-host: shop.example"), "{head}");
    assert!(
        lower.contains("forwarded: for=127.0.0.1;proto=http;host=shop.example"),
        "{head}"
    );
    assert!(lower.contains("x-request-id: "), "{head}");
    // Response side: the backend's hop-by-hop headers are stripped too.
    let resp_lower = resp.to_lowercase();
    assert!(!resp_lower.contains("x-hop-resp"), "{resp}");
    assert!(!resp_lower.contains("keep-alive: timeout"), "{resp}");
    assert!(resp_lower.contains("x-end-to-end: kept"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_request_id_is_kept() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let req = Request::get("/headers")
        .header("host", "t")
        .header("x-request-id", "abc-123")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(fd.addr, req).await.unwrap();
    assert!(
        a.last_head().contains("x-request-id: abc-123"),
        "{}",
        a.last_head()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_front_door() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let stream = TcpStream::connect(fd.addr).await.unwrap();
    let url = format!("ws://{}/ws", fd.addr);
    let (mut ws, resp) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    for i in 0..20 {
        let msg = format!("message {i}");
        ws.send(tokio_tungstenite::tungstenite::Message::text(msg.clone()))
            .await
            .unwrap();
        let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), msg);
    }
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_websocket_tunnel_is_closed_after_tunnel_idle() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.timeouts]\ntunnel_idle = \"300ms\"\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    let stream = TcpStream::connect(fd.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", fd.addr), stream)
        .await
        .unwrap();
    // Nothing sent: the front door closes the tunnel, the client sees the stream end.
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("tunnel closed by idle timeout");
    match end {
        None | Some(Err(_)) => {}
        Some(Ok(m)) => assert!(m.is_close(), "expected the tunnel to end, got {m:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_arrive_one_by_one() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(b"GET /sse?events=3 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    // The backend sends event k+1 only after we release it, so each event must
    // reach us while the response is still open: any buffering would deadlock.
    for k in 0..3 {
        let want = format!("data: event {k}\n\n");
        while !got.contains(&want) {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!("event {k} did not arrive on its own; got so far:\n{got}")
                })
                .unwrap();
            assert!(n > 0, "connection closed early");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(!got.contains(&format!("event {}", k + 1)));
        a.release_event();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_gets_408_and_is_closed() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.timeouts]\nrequest_header = \"400ms\"\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    // Dribble a header byte now and then, never finishing the head.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = s.write_all(b"X").await;
    }
    let resp = testkit::client::read_until_close(&mut s, Duration::from_secs(10)).await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp:?}");
    assert!(
        resp.contains("x-bigstep-reason: request-header-timeout"),
        "{resp}"
    );
    assert_eq!(a.hits(), 0);
    // Others are still served.
    assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_header_gets_431() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.limits]\nmax_header_bytes = 16384\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    let big = "v".repeat(40_000);
    let resp = raw(
        fd.addr,
        format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp:?}");
    assert_eq!(a.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_uri_gets_414_and_big_body_gets_413() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.limits]\nmax_uri_bytes = 1000\nmax_body_bytes = 1000\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    let r = get(fd.addr, &format!("/{}", "a".repeat(2000)))
        .await
        .unwrap();
    assert_eq!(r.status, 414);
    let req = Request::post("/upload")
        .header("host", "t")
        .body(Full::new(Bytes::from(vec![0u8; 5000])))
        .unwrap();
    assert_eq!(send(fd.addr, req).await.unwrap().status, 413);
    // A chunked body that grows past the limit is cut off and refused too.
    let chunked = format!("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n800\r\n{}\r\n0\r\n\r\n", "a".repeat(0x800), "b".repeat(0x800));
    let resp = raw(fd.addr, chunked.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        resp.starts_with("HTTP/1.1 413") || resp.is_empty() || resp.starts_with("HTTP/1.1 502"),
        "{resp}"
    );
    assert!(
        !resp.contains("HTTP/1.1 200"),
        "an oversized body must never be accepted: {resp}"
    );
    let r = Request::post("/upload")
        .header("host", "t")
        .body(Full::new(Bytes::from(vec![0u8; 500])))
        .unwrap();
    assert_eq!(send(fd.addr, r).await.unwrap().text(), "500");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_others_are_still_served() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    for bad in [
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: t\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let resp = raw(fd.addr, bad.as_bytes(), Duration::from_secs(5)).await;
        // 501 for a transfer coding we do not implement (RFC 9112 §6.1).
        assert!(
            resp.starts_with("HTTP/1.1 400")
                || resp.starts_with("HTTP/1.1 505")
                || resp.starts_with("HTTP/1.1 501"),
            "{bad:?} -> {resp:?}"
        );
        assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
    }
    assert_eq!(a.hits(), 6, "no malformed request reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_never_reaches_a_backend_ambiguous() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    // Content-Length and Transfer-Encoding together: a smuggling attempt.
    let req = "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let resp = raw(fd.addr, req.as_bytes(), Duration::from_secs(5)).await;
    assert!(!resp.contains("smuggled"), "{resp}");
    let head = a.last_head().to_lowercase();
    assert!(
        !head.contains("/smuggled"),
        "the smuggled request must not be forwarded: {head}"
    );
    assert!(
        !(head.contains("content-length") && head.contains("transfer-encoding")),
        "{head}"
    );
    // Either refused outright, or framed by Transfer-Encoding alone and the connection closed.
    assert!(
        resp.starts_with("HTTP/1.1 400") || resp.matches("HTTP/1.1").count() == 1,
        "{resp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_and_http10_clients() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(first.starts_with("HTTP/1.1 100 Continue"), "{first}");
    s.write_all(b"hello").await.unwrap();
    let rest = testkit::client::read_until_close(&mut s, Duration::from_secs(5)).await;
    let all = format!("{first}{rest}");
    assert!(all.contains("HTTP/1.1 200") && all.ends_with('5'), "{all}");

    let resp = raw(fd.addr, b"GET / HTTP/1.0\r\n\r\n", Duration::from_secs(5)).await;
    assert!(
        resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
        "{resp}"
    );
    assert!(resp.contains("hello from a real HTTP server"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_connections_are_refused_cleanly() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!("max_connections = 4\n{}", servers(&[("a", a.addr, 1)])),
    );
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(fd.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let resp = raw(
        fd.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.contains("too-many-connections"), "{resp}");
    drop(held);
    let mut ok = false;
    for _ in 0..100 {
        if get(fd.addr, "/")
            .await
            .map(|r| r.status == 200)
            .unwrap_or(false)
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        ok,
        "after the held connections close, new clients are served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits_0() {
    let a = Backend::start("a").await;
    a.set_delay(Duration::from_millis(800));
    let mut fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let addr = fd.addr;
    let inflight = tokio::spawn(async move { get(addr, "/").await });
    assert!(eventually(Duration::from_secs(5), || a.in_flight() == 1).await);
    fd.terminate();
    let r = inflight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(r.status, 200);
    let status = tokio::task::spawn_blocking(move || {
        let s = fd.child.wait().unwrap();
        (s, fd)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_names_server_tries_and_reason() {
    let b = Backend::start("b").await;
    let fd = FrontDoorProc::start(
        BIN,
        &servers(&[("dead", closed_port(), 1), ("b", b.addr, 1)]),
    );
    for _ in 0..2 {
        assert_eq!(get(fd.addr, "/logged").await.unwrap().status, 200);
    }
    let ok = eventually(Duration::from_secs(5), || {
        fd.logs()
            .iter()
            .any(|l| l.contains("/logged") && l.contains("server=b") && l.contains("tries=2"))
    })
    .await;
    assert!(ok, "an access line with server and tries: {:#?}", fd.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_one_gib_each_way_with_bounded_memory() {
    const GIB: u64 = 1 << 30;
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
    let rss_before = fd.rss_kib();

    // Upload: 1 GiB, chunked, from a producer that never holds more than 64 KiB.
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'u'; 64 * 1024];
    let mut peak = 0;
    for i in 0..(GIB / chunk.len() as u64) {
        s.write_all(&chunk).await.unwrap();
        if i.is_multiple_of(2048) {
            peak = peak.max(fd.rss_kib());
        }
    }
    let resp = testkit::client::read_until_close(&mut s, Duration::from_secs(2)).await;
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with(&GIB.to_string()),
        "{resp}"
    );

    // Download: 1 GiB streamed back.
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(
        format!("GET /download?bytes={GIB} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    let mut reads = 0u64;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        reads += 1;
        if reads.is_multiple_of(2048) {
            peak = peak.max(fd.rss_kib());
        }
    }
    assert!(total > GIB, "head + 1 GiB body, got {total}");
    peak = peak.max(fd.rss_kib());
    let growth_mib = peak.saturating_sub(rss_before) / 1024;
    assert!(
        growth_mib < 32,
        "RSS grew by {growth_mib} MiB while streaming 2 GiB (before {rss_before} KiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reload_adds_servers_refuses_bad_config_and_keeps_websockets() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let fd = FrontDoorProc::start(BIN, &servers(&[("a", a.addr, 1)]));
    let stream = TcpStream::connect(fd.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", fd.addr), stream)
        .await
        .unwrap();

    fd.reload(&servers(&[("a", a.addr, 1), ("b", b.addr, 1)]));
    let mut both = false;
    for _ in 0..100 {
        if count_ok(&fd, 4).await.len() == 2 {
            both = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(both, "b joins after the reload: {:#?}", fd.logs());

    // An invalid file is refused; the running config keeps serving both.
    fd.reload("[[balance.servers]]\naddress = \"not an address\"\n");
    let refused = eventually(Duration::from_secs(5), || {
        fd.logs().iter().any(|l| l.contains("reload refused"))
    })
    .await;
    assert!(refused, "{:#?}", fd.logs());
    assert_eq!(count_ok(&fd, 10).await.len(), 2);

    // The WebSocket opened before both reloads still works.
    ws.send(tokio_tungstenite::tungstenite::Message::text("still here"))
        .await
        .unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echo.into_text().unwrap().as_str(), "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_and_pipelined_requests_answered_in_order() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[balance.timeouts]\nkeepalive_idle = \"300ms\"\n{}",
            servers(&[("a", a.addr, 1)])
        ),
    );
    // Two pipelined requests in one write: two answers, in order, then the idle close.
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\nGET /headers HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut all = String::new();
    let mut buf = [0u8; 8192];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle keep-alive connection must be closed by the front door"
    );
    assert_eq!(all.matches("HTTP/1.1 200").count(), 2, "{all}");
    let first = all
        .find("hello from a real HTTP server")
        .expect("first answer");
    let second = all
        .find("GET /headers")
        .expect("second answer echoes its request line");
    assert!(first < second, "answers in request order");
    assert_eq!(a.hits(), 2);
}

/// Voluntary context switches of the process's thread named `name` (a thread
/// that waits for events and wakes to serve them counts one per wake-up).
fn thread_wakeups(pid: u32, name: &str) -> Option<u64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serving_threads_share_the_port_and_a_second_front_door_is_refused() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start_with_args(
        BIN,
        &servers(&[("a", a.addr, 1)]),
        "info",
        &["--threads", "2"],
    );
    // The other serving threads start right after the listening line.
    let pid = fd.pid();
    assert!(
        eventually(Duration::from_secs(10), || thread_wakeups(pid, "balance-1")
            .is_some())
        .await,
        "a second serving thread"
    );
    let before = thread_wakeups(pid, "balance-1").expect("a second serving thread");
    // A new connection per request: the kernel spreads them over both sockets.
    for i in 0..200 {
        let resp = get(fd.addr, "/")
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(resp.status, 200, "request {i}");
    }
    let after = thread_wakeups(pid, "balance-1").expect("still there");
    assert!(
        after >= before + 20,
        "the second thread served connections too: {before} -> {after} wake-ups"
    );
    // SO_REUSEPORT would let a second front door share the port; it must not.
    let dir = testkit::process::temp_dir("fd2");
    let path = dir.join("bigstep.toml");
    std::fs::write(
        &path,
        format!("[balance]\n{}", servers(&[("a", a.addr, 1)])),
    )
    .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(BIN)
            .args(["balance", "--threads", "2", "--config"])
            .arg(&path)
            .args(["--listen", &fd.addr.to_string()])
            .output(),
    )
    .await
    .expect("the second front door exits")
    .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {}", fd.addr)),
        "{stderr}"
    );
    // The first one still answers.
    assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
}
