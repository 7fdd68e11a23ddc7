//! HTTPS to the servers (`tls = true` on a server entry), through the real
//! `bigstep balance` binary: each server here is a real rustls endpoint
//! (`testkit::tls::TlsFront`, certificates from a test CA) in front of a real
//! backend, which counts the TCP connections and handshakes it accepted.
//! Assertions are on statuses, bytes, counts and logged reasons.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use http_body_util::Full;
use testkit::backend::Backend;
use testkit::client::{get, send};
use testkit::process::{temp_dir, FrontDoorProc};
use testkit::tls::{TestCa, TlsFront};
use testkit::{closed_port, eventually};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
/// Shows the detail of failed requests (debug on `bigstep::proxy`).
const DEBUG_LOG: &str = "info,bigstep::proxy=debug,bigstep::access=debug";

/// A `[[balance.servers]]` entry speaking TLS, with `more` lines.
fn tls_server(name: &str, addr: SocketAddr, more: &str) -> String {
    format!("[[balance.servers]]\nname = \"{name}\"\naddress = \"{addr}\"\ntls = true\n{more}\n")
}

fn ca_line(ca: &Path) -> String {
    format!("tls_ca = \"{}\"", ca.display())
}

/// A counter's value; 0 while the admin listener does not answer yet.
async fn metric(admin: SocketAddr, name: &str) -> u64 {
    testkit::metrics::metric(admin, name)
        .await
        .map_or(0, |v| v as u64)
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn logged(fd: &FrontDoorProc, all: &[&str]) -> bool {
    fd.logs()
        .iter()
        .any(|l| all.iter().all(|needle| l.contains(needle)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_servers_are_verified_and_their_connections_reused() {
    let dir = temp_dir("up-tls");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("backend", &["backend.test"]);
    let backend = Backend::start("b1").await;
    let front = TlsFront::start(&leaf, backend.addr).await;
    // One serving thread: idle server connections are pooled per thread.
    let fd = FrontDoorProc::start_with_args(
        BIN,
        &tls_server(
            "secure",
            front.addr,
            &format!(
                "{}\ntls_server_name = \"backend.test\"",
                ca_line(&ca.ca_pem)
            ),
        ),
        "info",
        &["--threads", "1"],
    );
    for i in 0..20 {
        let r = get(fd.addr, &format!("/n/{i}")).await.unwrap();
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.header("x-backend"), Some("b1"));
    }
    // Twenty requests, one TCP connection and one handshake: the TLS
    // connection went back to the pool after each response.
    assert_eq!(
        front.accepted(),
        1,
        "TCP connections accepted by the server"
    );
    assert_eq!(front.handshakes(), 1);
    assert_eq!(front.last_sni().as_deref(), Some("backend.test"));
    assert_eq!(front.last_alpn().as_deref(), Some("http/1.1"));
    assert_eq!(backend.hits(), 20);

    // A body both ways over the same TLS connection: a 1 MiB upload (read
    // while the head is awaited) and a 1 MiB download.
    let upload = vec![b'x'; 1 << 20];
    let req = Request::post("/upload")
        .header("host", "site.test")
        .body(Full::new(Bytes::from(upload)))
        .unwrap();
    let r = send(fd.addr, req).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text().trim(), (1 << 20).to_string());
    let r = get(fd.addr, "/download?bytes=1048576").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1 << 20);
    assert_eq!(front.accepted(), 1, "still the one connection");

    // A request whose body has no declared length goes chunked over TLS.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let data = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(hyper::body::Frame::data(data)), rx))
    });
    let body = http_body_util::StreamBody::new(Box::pin(frames));
    let stream = TcpStream::connect(fd.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::post("/upload")
        .header("host", "site.test")
        .body(body)
        .unwrap();
    let pending = tokio::spawn(async move { sender.send_request(req).await });
    for _ in 0..4 {
        tx.send(Bytes::from(vec![b'y'; 1000])).await.unwrap();
    }
    drop(tx);
    let resp = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("answered")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(String::from_utf8_lossy(&text).trim(), "4000");
    assert_eq!(front.accepted(), 1, "still the one connection");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_or_name_is_a_502_with_the_reason_and_retries_elsewhere() {
    let dir = temp_dir("up-tls-bad");
    let ca = TestCa::new(&dir);
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other_ca = TestCa::new(&other_dir);
    let leaf = ca.server("backend", &["backend.test"]);
    let backend = Backend::start("b1").await;
    let front = TlsFront::start(&leaf, backend.addr).await;

    // Verified against a CA that did not sign the server's certificate.
    let fd = FrontDoorProc::start_logging(
        BIN,
        &tls_server(
            "secure",
            front.addr,
            &format!(
                "{}\ntls_server_name = \"backend.test\"",
                ca_line(&other_ca.ca_pem)
            ),
        ),
        DEBUG_LOG,
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("x-bigstep-reason"),
        Some("upstream-connect-failed")
    );
    assert!(
        eventually(Duration::from_secs(5), || logged(
            &fd,
            // BadSignature: both test CAs share a name, so the wrong one is tried.
            &["TLS handshake", "invalid peer certificate"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    assert_eq!(backend.hits(), 0, "nothing reached the server");
    drop(fd);

    // The right CA, the wrong name.
    let fd = FrontDoorProc::start_logging(
        BIN,
        &tls_server(
            "secure",
            front.addr,
            &format!(
                "{}\ntls_server_name = \"elsewhere.test\"",
                ca_line(&ca.ca_pem)
            ),
        ),
        DEBUG_LOG,
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(
        r.header("x-bigstep-reason"),
        Some("upstream-connect-failed")
    );
    assert!(
        eventually(Duration::from_secs(5), || logged(
            &fd,
            &[
                "invalid peer certificate",
                "not valid for name",
                "elsewhere.test"
            ]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    drop(fd);

    // Beside a good server, the bad one costs nothing but a retry, and it is
    // the bad server's fault: two failures eject it.
    let admin = free_port();
    let good = Backend::start("good").await;
    let cfg = format!(
        "admin_listen = \"{admin}\"\n[balance.passive]\nconsecutive_failures = 2\n\n{}\n[[balance.servers]]\nname = \"good\"\naddress = \"{}\"\n",
        tls_server(
            "bad",
            front.addr,
            &format!("{}\ntls_server_name = \"elsewhere.test\"", ca_line(&ca.ca_pem))
        ),
        good.addr
    );
    let fd = FrontDoorProc::start_logging(BIN, &cfg, DEBUG_LOG);
    for i in 0..10 {
        let r = get(fd.addr, "/").await.unwrap();
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.header("x-backend"), Some("good"));
    }
    assert!(metric(admin, "bigstep_retries_total").await >= 1);
    assert!(
        eventually(Duration::from_secs(5), || logged(
            &fd,
            &[
                "server ejected after consecutive failures",
                "bad",
                "upstream-connect-failed"
            ]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    assert_eq!(backend.hits(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_pass_through_a_tls_server() {
    let dir = temp_dir("up-tls-ws");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("backend", &["127.0.0.1"]);
    let backend = Backend::start("b1").await;
    let front = TlsFront::start(&leaf, backend.addr).await;
    // No tls_server_name: the address's host (an IP) is the verified name.
    let fd = FrontDoorProc::start(BIN, &tls_server("secure", front.addr, &ca_line(&ca.ca_pem)));
    let stream = TcpStream::connect(fd.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://{}/ws", fd.addr), stream)
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
            .expect("echo in time")
            .unwrap()
            .unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), msg);
    }
    ws.close(None).await.unwrap();
    assert_eq!(front.handshakes(), 1);
    assert_eq!(
        front.last_sni(),
        None,
        "no SNI for an IP address (RFC 6066)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_speak_tls_and_verify() {
    let dir = temp_dir("up-tls-health");
    let ca = TestCa::new(&dir);
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other_ca = TestCa::new(&other_dir);
    let leaf = ca.server("backend", &["backend.test"]);
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let front_a = TlsFront::start(&leaf, a.addr).await;
    let front_b = TlsFront::start(&leaf, b.addr).await;
    let name = "tls_server_name = \"backend.test\"";
    let cfg = format!(
        "[balance.health]\npath = \"/healthz\"\ninterval = \"50ms\"\ntimeout = \"2s\"\nfall = 2\n\n{}{}",
        tls_server("a", front_a.addr, &format!("{}\n{name}", ca_line(&ca.ca_pem))),
        // b's checks cannot verify its certificate: it never comes up.
        tls_server("b", front_b.addr, &format!("{}\n{name}", ca_line(&other_ca.ca_pem))),
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    assert!(
        eventually(Duration::from_secs(10), || logged(
            &fd,
            &["server is up", "a"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    assert!(
        eventually(Duration::from_secs(10), || logged(
            &fd,
            &["server is down", "server=b", "invalid peer certificate"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    for _ in 0..6 {
        let r = get(fd.addr, "/").await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-backend"), Some("a"));
    }
    assert!(front_a.handshakes() >= 1);
    assert!(a.hits() >= 6);
    assert_eq!(
        b.hits(),
        0,
        "b's health checks never got past the handshake"
    );
    assert!(front_b.accepted() >= 1, "b was probed");

    // Checks fail over TLS like over TCP: a closed port goes down with its reason.
    drop(fd);
    let cfg = format!(
        "[balance.health]\ninterval = \"50ms\"\nfall = 1\n\n{}",
        tls_server("gone", closed_port(), &ca_line(&ca.ca_pem))
    );
    let fd = FrontDoorProc::start(BIN, &cfg);
    assert!(
        eventually(Duration::from_secs(10), || logged(
            &fd,
            &["server is down", "connect"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 503);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_servers_tls_settings_on_reload_gives_it_a_fresh_pool() {
    let dir = temp_dir("up-tls-reload");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("backend", &["backend.test", "alt.test"]);
    let backend = Backend::start("b1").await;
    let front = TlsFront::start(&leaf, backend.addr).await;
    let table = |name: &str| {
        tls_server(
            "secure",
            front.addr,
            &format!("{}\ntls_server_name = \"{name}\"", ca_line(&ca.ca_pem)),
        )
    };
    // One serving thread: idle server connections are pooled per thread.
    let fd =
        FrontDoorProc::start_with_args(BIN, &table("backend.test"), "info", &["--threads", "1"]);
    for _ in 0..5 {
        assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
    }
    assert_eq!(front.accepted(), 1);
    assert_eq!(front.last_sni().as_deref(), Some("backend.test"));

    // The same settings again: the server and its warm connection stay.
    fd.reload(&format!("{}\n# touched\n", table("backend.test")));
    assert!(
        eventually(Duration::from_secs(10), || logged(
            &fd,
            &["change applied", "added=[]", "removed=[]"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    for _ in 0..5 {
        assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
    }
    assert_eq!(front.accepted(), 1, "an unchanged server keeps its pool");

    // Another name to verify: a new server, a new connection with the new SNI.
    fd.reload(&table("alt.test"));
    let mut switched = false;
    for _ in 0..100 {
        assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
        if front.last_sni().as_deref() == Some("alt.test") {
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(switched, "{:?}", fd.logs());
    assert_eq!(front.accepted(), 2);
    for _ in 0..5 {
        assert_eq!(get(fd.addr, "/").await.unwrap().status, 200);
    }
    assert_eq!(front.accepted(), 2, "the new pool is reused in turn");

    // A CA file replaced in place (a rotated CA) is a change too: first a CA
    // that did not sign the server's certificate, then, same text, the right one.
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other_ca = TestCa::new(&other_dir);
    let rotating = dir.join("rotating.pem");
    std::fs::copy(&other_ca.ca_pem, &rotating).unwrap();
    let table = tls_server(
        "secure",
        front.addr,
        &format!(
            "{}
tls_server_name = \"alt.test\"",
            ca_line(&rotating)
        ),
    );
    for (round, want) in [(0, 502), (1, 200)] {
        if round == 1 {
            std::fs::copy(&ca.ca_pem, &rotating).unwrap();
        }
        fd.reload(&table);
        let mut seen = 0;
        for _ in 0..100 {
            seen = get(fd.addr, "/").await.unwrap().status.as_u16();
            if seen == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(seen, want, "round {round}: {:?}", fd.logs());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_verify_connects_anyway_and_warns_loudly() {
    let dir = temp_dir("up-tls-skip");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("backend", &["backend.test"]);
    let backend = Backend::start("b1").await;
    let front = TlsFront::start(&leaf, backend.addr).await;
    // No CA given and the test CA is in no system store: only skip_verify lets it through.
    let fd = FrontDoorProc::start(
        BIN,
        &tls_server("secure", front.addr, "tls_insecure_skip_verify = true"),
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        logged(
            &fd,
            &["WARN", "tls_insecure_skip_verify", "NOT verified", "secure"]
        ),
        "{:?}",
        fd.logs()
    );
    drop(fd);
    // Without it, the system roots refuse the test CA.
    let fd = FrontDoorProc::start(BIN, &tls_server("secure", front.addr, ""));
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(backend.hits(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_keys_are_refused_at_load_naming_the_key() {
    let dir = temp_dir("up-tls-check");
    let check = |table: String| {
        let path = dir.join("bigstep.toml");
        std::fs::write(&path, format!("[balance]\n{table}")).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["balance", "--check"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
    let (ok, text) = check(tls_server("a", addr, "tls_ca = \"missing-ca.pem\""));
    assert!(!ok, "{text}");
    assert!(
        text.contains("servers.tls_ca") && text.contains("missing-ca.pem"),
        "{text}"
    );
    let (ok, text) = check(format!(
        "[[balance.servers]]\naddress = \"{addr}\"\ntls_ca = \"ca.pem\"\n"
    ));
    assert!(!ok, "{text}");
    assert!(
        text.contains("servers.tls_ca") && text.contains("tls = true"),
        "{text}"
    );
    // The same checks inside a pool, with the pool named.
    let (ok, text) = check(format!(
        "[[balance.pools]]\nname = \"api\"\n[[balance.pools.servers]]\naddress = \"{addr}\"\ntls = true\ntls_server_name = \"no spaces allowed\"\n"
    ));
    assert!(!ok, "{text}");
    assert!(
        text.contains("pools.api") && text.contains("servers.tls_server_name"),
        "{text}"
    );
    // A CA file next to the config is found by its relative name; skip_verify warns.
    let ca = TestCa::new(&dir);
    assert!(ca.ca_pem.starts_with(&dir));
    let (ok, text) = check(format!(
        "{}{}",
        tls_server("a", addr, "tls_ca = \"ca.pem\""),
        tls_server(
            "b",
            "127.0.0.1:8444".parse().unwrap(),
            "tls_insecure_skip_verify = true"
        )
    ));
    assert!(ok, "{text}");
    assert!(
        text.contains("warning:") && text.contains("tls_insecure_skip_verify"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_finishes_is_bounded_by_the_connect_timeout() {
    let dir = temp_dir("up-tls-stall");
    let ca = TestCa::new(&dir);
    // Accepts TCP, then says nothing: the ClientHello is never answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "{}[balance.timeouts]\nconnect = \"300ms\"\n",
            tls_server("silent", addr, &ca_line(&ca.ca_pem))
        ),
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("x-bigstep-reason"),
        Some("upstream-connect-timeout")
    );
    held.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server that requires a client certificate (mutual TLS): without
/// `tls_client_cert` the handshake is refused and the client gets a 502 with
/// the reason logged; with it every request passes and the server saw the
/// certificate. The same server added at run time by `bigstep ctl add --tls
/// --tls-client-cert` works too, and a key that is not the certificate's is
/// refused naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_requiring_a_client_certificate_get_one() {
    let dir = temp_dir("up-mtls");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("backend", &["backend.test"]);
    let client = ca.client("frontdoor", "bigstep front door");
    let other = ca.client("other", "someone else");
    let backend = Backend::start("b1").await;
    let front = TlsFront::start_requiring_client_cert(&leaf, backend.addr, &ca.ca_pem).await;
    let verify = format!(
        "{}\ntls_server_name = \"backend.test\"",
        ca_line(&ca.ca_pem)
    );

    // No client certificate: refused by the server, a 502 for the client.
    let admin = free_port();
    let fd = FrontDoorProc::start_logging(
        BIN,
        &format!(
            "admin_listen = \"{admin}\"\n{}",
            tls_server("needs-cert", front.addr, &verify)
        ),
        DEBUG_LOG,
    );
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(front.client_certificates(), 0);
    assert_eq!(backend.hits(), 0, "nothing reached the backend");

    // Added at run time with a client certificate, through the CLI.
    let ctl = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(["ctl", "--admin", &admin.to_string()])
            .args(args)
            .output()
            .expect("run bigstep ctl")
    };
    let addr = front.addr.to_string();
    let (cert, key) = (
        client.cert.display().to_string(),
        client.key.display().to_string(),
    );
    let ca_path = ca.ca_pem.display().to_string();
    let mismatched = ctl(&[
        "add",
        &addr,
        "--name",
        "with-cert",
        "--tls",
        "--tls-ca",
        &ca_path,
        "--tls-server-name",
        "backend.test",
        "--tls-client-cert",
        &cert,
        "--tls-client-key",
        &other.key.display().to_string(),
    ]);
    assert!(
        !mismatched.status.success(),
        "a key that is not the certificate's is refused"
    );
    let why = String::from_utf8_lossy(&mismatched.stderr);
    assert!(why.contains("tls_client_key"), "names the key: {why}");
    let added = ctl(&[
        "add",
        &addr,
        "--name",
        "with-cert",
        "--tls",
        "--tls-ca",
        &ca_path,
        "--tls-server-name",
        "backend.test",
        "--tls-client-cert",
        &cert,
        "--tls-client-key",
        &key,
    ]);
    assert!(
        added.status.success(),
        "{}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );
    let removed = ctl(&["rm", "needs-cert"]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    for i in 0..5 {
        let r = get(fd.addr, &format!("/n/{i}")).await.unwrap();
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    assert!(
        front.client_certificates() >= 1,
        "the server saw our certificate"
    );
    assert_eq!(backend.hits(), 5);
    drop(fd);

    // The same from the configuration file.
    let fd = FrontDoorProc::start(
        BIN,
        &tls_server(
            "from-file",
            front.addr,
            &format!(
                "{verify}\ntls_client_cert = \"{}\"\ntls_client_key = \"{}\"",
                client.cert.display(),
                client.key.display()
            ),
        ),
    );
    let before = front.client_certificates();
    let r = get(fd.addr, "/").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(front.client_certificates(), before + 1);
}
