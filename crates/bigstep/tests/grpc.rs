//! HTTP/2 to the servers (`protocol = "h2c"`, and `"h2"` over TLS) and gRPC
//! through the front door, with real clients and servers: Python grpcio on
//! both sides (tests/grpc/), curl, hyper's HTTP/2 and HTTP/1 clients, and an
//! h2c backend that can refuse streams, go away and vanish mid-body
//! (`testkit::h2backend`; behind a rustls server choosing `h2` for TLS). Assertions are
//! on replies, statuses, trailers and counts; every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use testkit::h2backend::H2Backend;
use testkit::process::{temp_dir, FrontDoorProc};
use testkit::tls::TestCa;
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc");
/// Shows the detail of failed requests (debug on `bigstep::proxy`).
const DEBUG_LOG: &str = "info,bigstep::proxy=debug,bigstep::access=debug";

fn h2c_server(name: &str, addr: SocketAddr) -> String {
    format!("[[balance.servers]]\nname = \"{name}\"\naddress = \"{addr}\"\nprotocol = \"h2c\"\n")
}

// === Python grpcio ===

/// `tests/grpc/server.py NAME` on a port of its choosing; killed when dropped.
struct GrpcServer {
    child: Child,
    addr: SocketAddr,
}

impl GrpcServer {
    fn start(name: &str) -> GrpcServer {
        let mut child = Command::new("python3")
            .arg(format!("{SCRIPTS}/server.py"))
            .arg(name)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("server.py prints its port");
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("server.py said {line:?} (is grpcio installed?)"));
        GrpcServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// SIGKILL, and wait until it is gone (its sockets closed).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `tests/grpc/client.py` against `target`; its JSON report.
async fn grpc_client(
    target: &str,
    calls: usize,
    tls: Option<(&std::path::Path, &str)>,
) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(format!("{SCRIPTS}/client.py"))
        .arg(target)
        .arg(calls.to_string());
    if let Some((ca, name)) = tls {
        cmd.arg(ca).arg(name);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("client.py finished in time")
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "client.py: {e}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The names of the servers that answered the unary calls; panics on a reply
/// that is not `NAME:hiI`.
fn answered_by(report: &serde_json::Value) -> Vec<String> {
    report["unary"]
        .as_array()
        .expect("unary replies")
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let r = r.as_str().expect("a string");
            let (name, msg) = r.split_once(':').expect("NAME:message");
            assert_eq!(msg, format!("hi{i}"), "call {i}");
            name.to_string()
        })
        .collect()
}

/// The streaming, failing and bidirectional calls came back whole.
fn check_other_calls(report: &serde_json::Value, servers: &[&str]) {
    let stream: Vec<&str> = report["stream"]
        .as_array()
        .unwrap_or_else(|| panic!("stream: {}", report["stream"]))
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(stream.len(), 3, "{stream:?}");
    let name = stream[0].split(':').next().unwrap();
    assert!(servers.contains(&name), "{stream:?}");
    assert_eq!(stream, [0, 1, 2].map(|i| format!("{name}:{i}")));
    // A non-OK status and its message travel in the trailers.
    assert_eq!(
        report["fail"],
        serde_json::json!(["PERMISSION_DENIED", "no entry for alice"])
    );
    let bidi: Vec<&str> = report["bidi"]
        .as_array()
        .unwrap_or_else(|| panic!("bidi: {}", report["bidi"]))
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let name = bidi[0].split(':').next().unwrap();
    assert_eq!(bidi, ["a", "b", "c"].map(|m| format!("{name}:{m}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_pass_through_both_listeners_and_survive_a_killed_server() {
    let mut a = GrpcServer::start("a");
    let b = GrpcServer::start("b");
    let dir = temp_dir("grpc");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("front", &["grpc.test"]);
    let fd = FrontDoorProc::start_logging(
        BIN,
        &format!(
            "{}{}\n[balance.tls]\nlisten = \"127.0.0.1:0\"\nredirect_http = false\n[[balance.tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n",
            h2c_server("a", a.addr),
            h2c_server("b", b.addr),
            leaf.cert.display(),
            leaf.key.display()
        ),
        DEBUG_LOG,
    );
    let tls = fd.tls_addr.expect("TLS listener");

    // h2c with prior knowledge on the plain listener.
    let report = grpc_client(&fd.addr.to_string(), 20, None).await;
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    let names = answered_by(&report);
    assert_eq!(names.len(), 20);
    for s in ["a", "b"] {
        assert!(names.iter().filter(|n| *n == s).count() >= 5, "{names:?}");
    }
    check_other_calls(&report, &["a", "b"]);

    // HTTP/2 over TLS (ALPN h2), verified against the test CA.
    let report = grpc_client(&tls.to_string(), 6, Some((&ca.ca_pem, "grpc.test"))).await;
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    let names = answered_by(&report);
    assert!(
        names.contains(&"a".to_string()) && names.contains(&"b".to_string()),
        "{names:?}"
    );
    check_other_calls(&report, &["a", "b"]);

    // One server killed: every call still succeeds, on the other.
    a.kill();
    let report = grpc_client(&fd.addr.to_string(), 10, None).await;
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "{report}\n{:#?}",
        fd.logs()
    );
    assert_eq!(answered_by(&report), vec!["b".to_string(); 10]);
    check_other_calls(&report, &["b"]);
}

// === An h2c backend, with curl and hyper's clients ===

/// A front door with `servers` and `extra` lines.
fn front(servers: &[(&str, &H2Backend)], extra: &str) -> FrontDoorProc {
    let table: String = servers.iter().map(|(n, b)| h2c_server(n, b.addr)).collect();
    FrontDoorProc::start_logging(BIN, &format!("{extra}\n{table}"), DEBUG_LOG)
}

type H2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// An HTTP/2 (prior knowledge) client connection to the front door.
async fn h2_client(addr: SocketAddr) -> H2Sender {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

fn h2_req(method: &str, path: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://site.test{path}"))
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

/// Status, body and trailers of one HTTP/2 exchange.
async fn h2_call(
    sender: &mut H2Sender,
    req: Request<Full<Bytes>>,
) -> (u16, String, Option<http::HeaderMap>) {
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .expect("answered in time")
        .expect("a response");
    let status = resp.status().as_u16();
    let collected = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("body in time")
        .expect("body");
    let trailers = collected.trailers().cloned();
    (
        status,
        String::from_utf8_lossy(&collected.to_bytes()).to_string(),
        trailers,
    )
}

async fn curl(args: &[&str]) -> (String, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .expect("curl runs");
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_servers_get_streams_and_trailers_pass_end_to_end() {
    let a = H2Backend::start("a").await;
    let fd = front(&[("a", &a)], "");
    let url = |p: &str| format!("http://{}{p}", fd.addr);

    // curl with prior knowledge: a plain request, then trailers (curl -v
    // prints them after the body).
    let (out, _) = curl(&[
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_version}",
        &url("/x"),
    ])
    .await;
    assert_eq!(out, "h2 backend a\n2");
    let (out, err) = curl(&["--http2-prior-knowledge", "-v", &url("/trailers")]).await;
    assert_eq!(out, "hello");
    assert!(
        err.contains("x-trailer: yes") && err.contains("grpc-status: 0"),
        "{err}"
    );

    // hyper's HTTP/2 client: trailers arrive as trailers; many streams on one
    // connection to the front door share one connection to the server.
    let mut c = h2_client(fd.addr).await;
    let (status, body, trailers) = h2_call(&mut c, h2_req("GET", "/trailers", b"")).await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let trailers = trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-trailer"], "yes");
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let mut c = c.clone();
            tokio::spawn(async move {
                h2_call(
                    &mut c,
                    h2_req("POST", "/echo", if i % 2 == 0 { b"ping" } else { b"" }),
                )
                .await
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let (status, body, trailers) = call.await.unwrap();
        let want = if i % 2 == 0 { "ping" } else { "" };
        assert_eq!((status, body.as_str()), (200, want));
        assert_eq!(
            trailers.expect("trailers")["x-length"],
            want.len().to_string()
        );
    }
    assert_eq!(a.connections(), 1, "one shared connection to the server");

    // `te: trailers` goes on; `:authority` is the client's host; `:scheme` http.
    let mut req = h2_req("GET", "/headers", b"");
    req.headers_mut().insert("te", "trailers".parse().unwrap());
    let (_, head, _) = h2_call(&mut c, req).await;
    assert!(head.contains(":authority: site.test\n"), "{head}");
    assert!(head.contains(":scheme: http\n"), "{head}");
    assert!(head.contains("\nte: trailers\n"), "{head}");
    assert!(!head.contains("\nhost:"), "{head}");
    let (_, head, _) = h2_call(&mut c, h2_req("GET", "/headers", b"")).await;
    assert!(
        !head.contains("\nte:"),
        "no te unless the client sent it: {head}"
    );

    // From an HTTP/1.1 client: connection-specific fields never reach the
    // HTTP/2 server (RFC 9113 §8.2.2), `TE: trailers` does.
    let (head, _) = curl(&[
        "--http1.1",
        "-H",
        "Connection: x-private, keep-alive",
        "-H",
        "X-Private: 1",
        "-H",
        "Keep-Alive: timeout=5",
        "-H",
        "TE: trailers",
        "-H",
        "Proxy-Connection: keep-alive",
        &url("/headers"),
    ])
    .await;
    assert!(head.contains("\nte: trailers\n"), "{head}");
    for gone in [
        "connection:",
        "x-private:",
        "keep-alive:",
        "proxy-connection:",
        "upgrade:",
        "transfer-encoding:",
    ] {
        assert!(!head.contains(&format!("\n{gone}")), "{gone} {head}");
    }
    assert!(
        head.contains(&format!(":authority: {}\n", fd.addr)),
        "{head}"
    );
    // An HTTP/1.1 upload, chunked, goes up as an HTTP/2 stream.
    let (out, _) = curl(&[
        "--http1.1",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "hello over http/1.1",
        &url("/echo"),
    ])
    .await;
    assert_eq!(out, "hello over http/1.1");
    assert_eq!(a.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_server_dying_mid_stream_resets_the_client_stream_and_one_silent_is_a_502() {
    let a = H2Backend::start("a").await;
    let fd = front(&[("a", &a)], "");
    let mut c = h2_client(fd.addr).await;

    // Head and a first frame, then the server's connection is cut: the
    // client's stream ends in an error (a reset), not a clean end, not a hang.
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        c.send_request(h2_req("GET", "/partial", b"")),
    )
    .await
    .expect("head in time")
    .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.expect("a frame").expect("data");
    assert_eq!(first.into_data().unwrap(), "partial");
    a.drop_connections();
    let next = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the stream ended in time");
    assert!(
        matches!(next, Some(Err(_))),
        "an error, not a clean end: {next:?}"
    );

    // Cut before any byte of the response: a 502 (a POST is not sent twice).
    let (status, text, _) = h2_call(&mut c, h2_req("POST", "/close", b"x")).await;
    assert_eq!(status, 502, "{text}");
    // The front door dials again: the next request is served.
    let (status, text, _) = h2_call(&mut c, h2_req("GET", "/", b"")).await;
    assert_eq!((status, text.as_str()), (200, "h2 backend a"));
    assert!(a.connections() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_are_retried_elsewhere_when_the_request_can_be_replayed() {
    let a = H2Backend::start("a").await;
    let b = H2Backend::start("b").await;
    // Passive ejection off: requests keep meeting the refusing server.
    let fd = front(
        &[("a", &a), ("b", &b)],
        "attempts = 2\n[balance.passive]\nconsecutive_failures = 0\n",
    );
    let mut c = h2_client(fd.addr).await;
    a.set_refuse(true);
    // Replayable requests (GET, no body) go to the other server.
    for i in 0..10 {
        let (status, text, _) = h2_call(&mut c, h2_req("GET", &format!("/n/{i}"), b"")).await;
        assert_eq!(
            (status, text.as_str()),
            (200, "h2 backend b"),
            "request {i}"
        );
    }
    assert!(a.refused() >= 1, "round robin offered a some requests");
    assert_eq!(a.hits(), 0);
    // A POST whose body left cannot be replayed: a refusal is a 502 that
    // says so (and no server processed it).
    let mut refused = 0;
    for _ in 0..6 {
        let resp = c
            .send_request(h2_req("POST", "/echo", b"data"))
            .await
            .unwrap();
        if resp.status() == 502 {
            assert_eq!(
                resp.headers()["x-bigstep-reason"],
                "upstream-refused-stream"
            );
            refused += 1;
        } else {
            assert_eq!(resp.status(), 200);
        }
    }
    assert!(refused >= 1, "round robin sent some POSTs to a");
    assert_eq!(a.hits(), 0, "a processed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_goaway_the_next_requests_go_over_a_new_connection() {
    let a = H2Backend::start("a").await;
    // One server: nothing to retry on, so a request that meets the GOAWAY
    // must be sent again over a new connection to the same server.
    let fd = front(&[("a", &a)], "");
    let mut c = h2_client(fd.addr).await;
    let (status, text, _) = h2_call(&mut c, h2_req("GET", "/goaway", b"")).await;
    assert_eq!((status, text.as_str()), (200, "bye"));
    assert_eq!(a.connections(), 1);
    for i in 0..5 {
        let (status, text, _) = h2_call(&mut c, h2_req("GET", &format!("/after/{i}"), b"")).await;
        assert_eq!(
            (status, text.as_str()),
            (200, "h2 backend a"),
            "request {i} after GOAWAY"
        );
    }
    assert_eq!(a.connections(), 2, "one new connection after the GOAWAY");
    // A POST with a body, after another GOAWAY: answered too.
    let (status, _, _) = h2_call(&mut c, h2_req("GET", "/goaway", b"")).await;
    assert_eq!(status, 200);
    let (status, text, _) = h2_call(&mut c, h2_req("POST", "/echo", b"after")).await;
    assert_eq!((status, text.as_str()), (200, "after"), "{:#?}", fd.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_server_is_health_checked_over_http2() {
    let a = H2Backend::start("a").await;
    let fd = front(
        &[("a", &a)],
        "[balance.health]\npath = \"/healthz\"\ninterval = \"200ms\"\ntimeout = \"1s\"\nwait_for_first_check = true\n",
    );
    // Served once a check passed; the server speaks only HTTP/2, so an
    // HTTP/1.1 check would never pass and every request would stay a 503.
    let mut c = h2_client(fd.addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text, _) = h2_call(&mut c, h2_req("GET", "/", b"")).await;
        if status == 200 {
            assert_eq!(text, "h2 backend a");
            break;
        }
        assert_eq!(status, 503, "{text}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no check passed in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.hits() >= 2, "a check and the request");
}

// === HTTP/2 over TLS to the servers (`protocol = "h2"`, `tls = true`) ===

/// A server entry speaking HTTP/2 over TLS, verified against `ca`.
fn h2_tls_server(addr: SocketAddr, ca: &std::path::Path) -> String {
    format!(
        "[[balance.servers]]\nname = \"secure\"\naddress = \"{addr}\"\ntls = true\nprotocol = \"h2\"\ntls_ca = \"{}\"\ntls_server_name = \"backend.test\"\n",
        ca.display()
    )
}

fn logged(fd: &FrontDoorProc, all: &[&str]) -> bool {
    fd.logs()
        .iter()
        .any(|l| all.iter().all(|needle| l.contains(needle)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_servers_get_streams_and_trailers_and_a_wrong_ca_is_refused() {
    let dir = temp_dir("h2-tls");
    let ca = TestCa::new(&dir);
    let leaf = ca.server("backend", &["backend.test"]);
    let backend = H2Backend::start("s").await;
    // A rustls server choosing `h2` by ALPN, in front of the h2c server.
    let server = testkit::tls::TlsFront::start_h2(&leaf, backend.addr).await;
    let fd = FrontDoorProc::start_logging(BIN, &h2_tls_server(server.addr, &ca.ca_pem), DEBUG_LOG);
    let mut c = h2_client(fd.addr).await;
    let (status, body, trailers) = h2_call(&mut c, h2_req("GET", "/trailers", b"")).await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let trailers = trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-trailer"], "yes");
    let (status, body, trailers) = h2_call(&mut c, h2_req("POST", "/echo", b"ping")).await;
    assert_eq!((status, body.as_str()), (200, "ping"));
    assert_eq!(trailers.expect("trailers")["x-length"], "4");
    // The request arrived over HTTP/2 with the https scheme, on one connection.
    let (_, head, _) = h2_call(&mut c, h2_req("GET", "/headers", b"")).await;
    assert!(head.contains(":scheme: https"), "{head}");
    assert_eq!(server.last_alpn().as_deref(), Some("h2"));
    assert_eq!(server.last_sni().as_deref(), Some("backend.test"));
    assert_eq!(server.handshakes(), 1, "one shared connection");
    assert_eq!(backend.hits(), 3);
    drop(fd);

    // Verified against a CA that did not sign the server's certificate.
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other_ca = TestCa::new(&other_dir);
    let fd = FrontDoorProc::start_logging(
        BIN,
        &h2_tls_server(server.addr, &other_ca.ca_pem),
        DEBUG_LOG,
    );
    let mut c = h2_client(fd.addr).await;
    let (status, body, _) = h2_call(&mut c, h2_req("GET", "/trailers", b"")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        testkit::eventually(Duration::from_secs(5), || logged(
            &fd,
            &["invalid peer certificate"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    assert_eq!(backend.hits(), 3, "nothing reached the server");
    drop(fd);

    // A TLS server that does not speak h2: the handshake fails on ALPN (rustls
    // answers `no_application_protocol`), logged with the reason.
    let http1_only = testkit::tls::TlsFront::start(&leaf, backend.addr).await;
    let fd =
        FrontDoorProc::start_logging(BIN, &h2_tls_server(http1_only.addr, &ca.ca_pem), DEBUG_LOG);
    let mut c = h2_client(fd.addr).await;
    let (status, _, _) = h2_call(&mut c, h2_req("GET", "/trailers", b"")).await;
    assert_eq!(status, 502);
    assert!(
        testkit::eventually(Duration::from_secs(5), || logged(
            &fd,
            &["TLS handshake", "NoApplicationProtocol"]
        ))
        .await,
        "{:?}",
        fd.logs()
    );
    assert_eq!(backend.hits(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
