//! The front door at the edge: TLS termination, SNI, ALPN, resumption, the
//! HTTPS redirect, certificate reloads, mutual TLS, HTTP/2 (over TLS and h2c),
//! its flood limits and WebSocket over HTTP/2 (RFC 8441) — with real clients
//! (curl, openssl s_client, h2load, Chromium, hyper with tungstenite) against
//! the real `bigstep balance` binary and a real backend. Assertions are on
//! statuses, bytes and counts, never on wall-clock speed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use testkit::backend::Backend;
use testkit::client::{send, Resp};
use testkit::process::FrontDoorProc;
use testkit::tls::TestCa;
use testkit::{eventually, process::temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

/// `curl` over TLS to `name` (resolved to the front door), returning
/// (status, HTTP version, body). `extra` goes before the URL.
async fn curl(
    ca: &Path,
    name: &str,
    addr: SocketAddr,
    path: &str,
    extra: &[&str],
) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{name}:{}:127.0.0.1", addr.port()))
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(extra)
        .arg(format!("https://{name}:{}{path}", addr.port()))
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut it = tail.split(' ');
    let status = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let version = it.next().unwrap_or("").to_string();
    (status, version, body.to_string())
}

/// `openssl s_client` with `args`; stdin gets `input`. Returns stdout+stderr.
async fn s_client(addr: SocketAddr, args: &[&str], input: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(addr.to_string())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("s_client finished")
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The subject CN of the certificate the server presented, from s_client output.
fn served_cn(out: &str) -> Option<String> {
    out.lines()
        .find(|l| l.starts_with("subject="))
        .and_then(|l| l.split("CN").nth(1))
        .map(|s| s.trim_start_matches([' ', '=']).trim().to_string())
}

/// A counter's value; 0 while the admin listener does not answer yet.
async fn metric(admin: SocketAddr, name: &str) -> u64 {
    testkit::metrics::metric(admin, name)
        .await
        .map_or(0, |v| v as u64)
}

fn admin_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A front door with one backend and `tls` lines inside `[balance.tls]`.
/// A front door on plain HTTP (h2c by prior knowledge, HTTP/1.1) with an
/// admin port, in front of one backend.
async fn plain_site() -> (Backend, SocketAddr, FrontDoorProc) {
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "admin_listen = \"{admin}\"\n[[balance.servers]]\naddress = \"{}\"\n",
            backend.addr
        ),
    );
    (backend, admin, fd)
}

fn tls_site(backend: &Backend, admin: SocketAddr, tls: &str, extra: &str) -> String {
    format!(
        r#"admin_listen = "{admin}"
{extra}
[[balance.servers]]
address = "{}"

[balance.tls]
listen = "127.0.0.1:0"
{tls}
"#,
        backend.addr
    )
}

fn cert_entry(leaf: &testkit::tls::Leaf, more: &str) -> String {
    format!(
        "[[balance.tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n{more}\n",
        leaf.cert.display(),
        leaf.key.display()
    )
}

/// The common shape: a test CA, one certificate for `name`, one backend, and a
/// front door with `tls` lines in `[balance.tls]` and `extra` in `[balance]`.
/// Bind `backend` and `fd` when destructuring (`fd: _fd` if unused): a field
/// left to `..` is dropped at once, which stops that process.
struct Site {
    dir: testkit::TempDir,
    ca: TestCa,
    leaf: testkit::tls::Leaf,
    backend: Backend,
    admin: SocketAddr,
    fd: FrontDoorProc,
    /// The TLS listener.
    tls: SocketAddr,
}

async fn site(tag: &str, name: &str, tls: &str, extra: &str) -> Site {
    let dir = temp_dir(tag);
    let ca = TestCa::new(&dir);
    let leaf = ca.server(name, &[name]);
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin, tls, extra) + &cert_entry(&leaf, "")),
    );
    let tls = fd.tls_addr.expect("TLS listener");
    Site {
        dir,
        ca,
        leaf,
        backend,
        admin,
        fd,
        tls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http1_and_http2_and_says_so_upstream() {
    let Site {
        dir: _dir,
        ca,
        backend,
        admin,
        fd,
        tls,
        ..
    } = site(
        "edge-https",
        "app.test",
        "redirect_http = false\nhsts = \"max-age=600\"",
        "",
    )
    .await;

    let (status, version, body) = curl(&ca.ca_pem, "app.test", tls, "/hello", &["--http1.1"]).await;
    assert_eq!((status, version.as_str()), (200, "1.1"), "body: {body}");
    assert!(body.contains("backend b1"), "{body}");
    let head = backend.last_head().to_ascii_lowercase();
    assert!(head.contains("x-forwarded-proto: https"), "{head}");
    assert!(
        head.contains("proto=https"),
        "Forwarded header missing: {head}"
    );

    let (status, version, body) = curl(
        &ca.ca_pem,
        "app.test",
        tls,
        "/headers",
        &["--http2", "-H", "Cookie: a=1", "-H", "Cookie: b=2"],
    )
    .await;
    assert_eq!((status, version.as_str()), (200, "2"), "body: {body}");
    let head = body.to_ascii_lowercase();
    assert!(
        head.contains("host: app.test"),
        "Host from :authority: {head}"
    );
    assert!(
        head.contains("cookie: a=1; b=2"),
        "cookies joined for HTTP/1.1: {head}"
    );

    // HSTS on HTTPS answers.
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(&ca.ca_pem)
        .arg("--resolve")
        .arg(format!("app.test:{}:127.0.0.1", tls.port()))
        .arg(format!("https://app.test:{}/", tls.port()))
        .output()
        .await
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        headers.contains("strict-transport-security: max-age=600"),
        "{headers}"
    );

    // The plain listener still proxies when redirect_http is off.
    let r = send(
        fd.addr,
        Request::get("/")
            .header("host", "app.test")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(metric(admin, "bigstep_tls_handshakes_total").await >= 3);
    assert!(metric(admin, "bigstep_http2_connections_total").await >= 1);
    // The access log says what TLS was negotiated.
    assert!(
        eventually(Duration::from_secs(5), || fd
            .logs()
            .iter()
            .any(|l| l.contains("TLSv1.3") && l.contains("app.test")))
        .await,
        "access log lacks TLS version and SNI"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_chooses_the_certificate_and_unknown_names_get_the_default_or_a_refusal() {
    let dir = temp_dir("edge-sni");
    let ca = TestCa::new(&dir);
    let a = ca.server("a", &["a.test"]);
    let b = ca.server("b", &["*.b.test"]);
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin, "", "") + &cert_entry(&a, "") + &cert_entry(&b, "")),
    );
    let tls = fd.tls_addr.unwrap();
    let cn = |args: Vec<&'static str>| async move { served_cn(&s_client(tls, &args, "").await) };
    assert_eq!(
        cn(vec!["-servername", "a.test"]).await.as_deref(),
        Some("a.test")
    );
    assert_eq!(
        cn(vec!["-servername", "www.b.test"]).await.as_deref(),
        Some("*.b.test")
    );
    // One label only: x.y.b.test is not covered by *.b.test; the default answers.
    assert_eq!(
        cn(vec!["-servername", "x.y.b.test"]).await.as_deref(),
        Some("a.test")
    );
    assert_eq!(cn(vec!["-noservername"]).await.as_deref(), Some("a.test"));

    // unknown_sni = "refuse": the handshake fails, and it is counted.
    let admin2 = admin_port();
    let refusing = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin2, "unknown_sni = \"refuse\"", "")
            + &cert_entry(&a, "")
            + &cert_entry(&b, "")),
    );
    let tls2 = refusing.tls_addr.unwrap();
    let out = s_client(tls2, &["-servername", "nobody.test"], "").await;
    assert_eq!(
        served_cn(&out),
        None,
        "an unknown name got a certificate: {out}"
    );
    let known = s_client(tls2, &["-servername", "a.test"], "").await;
    assert_eq!(served_cn(&known).as_deref(), Some("a.test"));
    assert!(metric(admin2, "bigstep_tls_handshake_failures_total").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_offers_h2_and_sessions_resume() {
    let Site {
        dir,
        leaf: a,
        backend,
        fd: _fd,
        tls,
        ..
    } = site("edge-alpn", "a.test", "", "").await;
    let out = s_client(tls, &["-servername", "a.test", "-alpn", "h2,http/1.1"], "").await;
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    let out = s_client(tls, &["-servername", "a.test", "-alpn", "http/1.1"], "").await;
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");

    // Resumption: TLS 1.3 by ticket, TLS 1.2 by session id (the cache).
    let request = "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    for version in ["-tls1_3", "-tls1_2"] {
        let sess = dir.join(format!("session{version}"));
        let sess = sess.to_str().unwrap();
        let first = s_client(
            tls,
            &[
                "-servername",
                "a.test",
                version,
                "-ign_eof",
                "-sess_out",
                sess,
            ],
            request,
        )
        .await;
        assert!(first.contains("backend b1"), "{first}");
        let again = s_client(
            tls,
            &[
                "-servername",
                "a.test",
                version,
                "-ign_eof",
                "-sess_in",
                sess,
            ],
            request,
        )
        .await;
        assert!(
            again.contains("Reused,"),
            "{version} session not resumed: {again}"
        );
    }
    // min_version = "1.3" refuses TLS 1.2.
    let admin2 = admin_port();
    let strict = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin2, "min_version = \"1.3\"", "") + &cert_entry(&a, "")),
    );
    let out = s_client(
        strict.tls_addr.unwrap(),
        &["-servername", "a.test", "-tls1_2"],
        "",
    )
    .await;
    assert_eq!(served_cn(&out), None, "TLS 1.2 accepted: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_redirected_to_https_except_acme_challenges() {
    let Site {
        dir: _dir,
        backend,
        admin,
        fd,
        tls,
        ..
    } = site("edge-redirect", "a.test", "", "").await;
    let get = |path: &'static str, host: &'static str| {
        send(
            fd.addr,
            Request::get(path)
                .header("host", host)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    };
    let r: Resp = get("/a/b?x=1&y=2", "a.test:8080").await.unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.headers.get("location").unwrap().to_str().unwrap(),
        format!("https://a.test:{}/a/b?x=1&y=2", tls.port())
    );
    let r = get("/.well-known/acme-challenge/token123", "a.test")
        .await
        .unwrap();
    assert_eq!(r.status, 404, "no ACME challenge is pending");
    assert_eq!(backend.hits(), 0, "nothing plain reached the server");
    assert!(metric(admin, "bigstep_https_redirects_total").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge_and_http1_share_the_plain_listener() {
    let (backend, admin, fd) = plain_site().await;
    for (flag, want) in [("--http2-prior-knowledge", "2"), ("--http1.1", "1.1")] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", flag, "-w", "\n%{http_version}"])
            .arg(format!("http://{}/x", fd.addr))
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("backend b1"), "{text}");
        assert!(text.ends_with(want), "{flag}: {text}");
    }
    assert_eq!(metric(admin, "bigstep_http2_connections_total").await, 1);
    assert_eq!(backend.hits(), 2);
}

/// A server that answers every request on a connection with one head in
/// mixed case, as nginx and many apps write it, with hop-by-hop lines.
async fn mixed_case_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        got.drain(..end + 4);
                        let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                                      X-Mixed-Case: Value-Kept\r\nConnection: X-Hop-Resp\r\n\
                                      X-Hop-Resp: gone\r\nKeep-Alive: timeout=5\r\n\
                                      Set-Cookie: app=1\r\nContent-Length: 2\r\n\r\nok";
                        if conn.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// Our HTTP/2 engine encodes a server's head as received, without a header
/// map: the names lowercased as HTTP/2 requires (curl refuses an uppercase
/// one), hop-by-hop lines and the ones `Connection` names left out, and the
/// proxy's own header (the sticky cookie) beside the server's `Set-Cookie`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_answers_carry_the_servers_head_lowercased_without_hop_by_hop() {
    let server = mixed_case_server().await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[[balance.servers]]\nname = \"app\"\naddress = \"{server}\"\n\
             [balance.sticky]\nmode = \"cookie\"\nkey = \"0123456789abcdef0123456789abcdef\"\n"
        ),
    );
    for flag in ["--http2-prior-knowledge", "--http1.1"] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", flag, "-D", "-"])
            .arg(format!("http://{}/x", fd.addr))
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{flag}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lower = text.to_lowercase();
        assert!(text.ends_with("\r\n\r\nok"), "{flag}: {text}");
        assert!(lower.contains("content-type: text/plain"), "{flag}: {text}");
        assert!(lower.contains("x-mixed-case: value-kept"), "{flag}: {text}");
        assert!(text.contains("Value-Kept"), "values as sent: {text}");
        assert!(lower.contains("set-cookie: app=1"), "{flag}: {text}");
        assert_eq!(
            lower.matches("set-cookie:").count(),
            2,
            "the server's and ours: {text}"
        );
        for gone in ["x-hop-resp", "keep-alive", "connection: x-hop"] {
            assert!(!lower.contains(gone), "{flag}: `{gone}` passed on: {text}");
        }
        if flag == "--http2-prior-knowledge" {
            assert!(text.starts_with("HTTP/2 200"), "{text}");
            // HTTP/2 names as they came off the wire (curl prints them so).
            let head = text.lines().map(|l| l.trim_end_matches('\r'));
            for line in head.skip(1).take_while(|l| !l.is_empty()) {
                let name = line.split(':').next().unwrap();
                assert_eq!(
                    name,
                    name.to_lowercase(),
                    "an uppercase name over HTTP/2: {text}"
                );
            }
        }
    }
}

// === WebSocket over HTTP/2 (RFC 8441 extended CONNECT) ===

type H2Sender = hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>;

/// An HTTP/2 connection with prior knowledge (h2c) from hyper's client, after
/// one GET: by then the front door's SETTINGS (and whether it offers extended
/// CONNECT) have arrived.
async fn h2c_client(addr: SocketAddr) -> H2Sender {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let get = Request::get(format!("http://{addr}/first"))
        .body(http_body_util::Empty::new())
        .unwrap();
    assert_eq!(send.send_request(get).await.unwrap().status(), 200);
    send
}

/// An extended CONNECT for `protocol` to `path`, as a browser sends it.
async fn extended_connect(
    send: &mut H2Sender,
    addr: SocketAddr,
    path: &str,
    protocol: &'static str,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
    let mut req = Request::connect(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13")
        .body(http_body_util::Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static(protocol));
    send.send_request(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_http2_extended_connect_reaches_an_http1_server() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{protocol::Role, Message};
    let (backend, admin, fd) = plain_site().await;
    let mut send = h2c_client(fd.addr).await;
    let resp = extended_connect(&mut send, fd.addr, "/ws", "websocket")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{resp:?}");
    // RFC 8441 §5: no accept (and no upgrade headers) on the HTTP/2 side.
    assert!(
        resp.headers().get("sec-websocket-accept").is_none(),
        "{resp:?}"
    );
    assert!(resp.headers().get("upgrade").is_none(), "{resp:?}");
    let stream = hyper::upgrade::on(resp).await.unwrap();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(stream),
        Role::Client,
        None,
    )
    .await;
    for msg in ["over h2", "and again"] {
        ws.send(Message::text(msg)).await.unwrap();
        let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("echo in time")
            .expect("a frame")
            .unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), msg);
    }
    // Another stream on the same connection is served while the tunnel is open.
    let get = Request::get(format!("http://{}/during", fd.addr))
        .body(http_body_util::Empty::new())
        .unwrap();
    assert_eq!(send.send_request(get).await.unwrap().status(), 200);
    ws.close(None).await.unwrap();
    assert_eq!(metric(admin, "bigstep_http2_websockets_total").await, 1);

    // A server that answers without switching: its refusal goes back as it is…
    let resp = extended_connect(&mut send, fd.addr, "/status/403", "websocket")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // …but a 2xx without a 101 would read as "tunnel open": a 502 instead.
    let resp = extended_connect(&mut send, fd.addr, "/plain", "websocket")
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        resp.headers()["x-bigstep-reason"],
        "upstream-refused-websocket"
    );
    // Only WebSocket is tunnelled.
    let resp = extended_connect(&mut send, fd.addr, "/ws", "connect-udp")
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    assert_eq!(resp.headers()["x-bigstep-reason"], "unsupported-protocol");
    assert_eq!(metric(admin, "bigstep_http2_websockets_total").await, 1);
    // first, /ws, /during, /status/403, /plain: connect-udp never reached it.
    assert_eq!(backend.hits(), 5);
    let logged = eventually(Duration::from_secs(5), || {
        fd.logs().iter().any(|l| {
            l.contains("bigstep::access")
                && l.contains("method=CONNECT")
                && l.contains("/ws")
                && l.contains("status=200")
        })
    })
    .await;
    assert!(logged, "no access log line for the tunnel: {:?}", fd.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_http2_can_be_switched_off() {
    let backend = Backend::start("b1").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[[balance.servers]]\naddress = \"{}\"\n[balance.http2]\nwebsocket = false\n",
            backend.addr
        ),
    );
    let mut send = h2c_client(fd.addr).await;
    // Not offered in SETTINGS: the stream is refused by HTTP/2 itself.
    let refused = extended_connect(&mut send, fd.addr, "/ws", "websocket").await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(backend.hits(), 1);
}

/// `POST /api/certificates/reload` answers about certificates (which, how
/// long they last), not with the server list a config reload reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_reload_api_names_the_certificates() {
    let Site {
        dir: _dir,
        backend: _backend,
        admin,
        fd: _fd,
        ..
    } = site("edge-cert-api", "app.test", "redirect_http = false", "").await;
    let out = Command::new("curl")
        .args(["-s", "-X", "POST"])
        .arg(format!("http://{admin}/api/certificates/reload"))
        .output()
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body.contains("certificates loaded: app.test (") && body.contains("days left"),
        "{body}"
    );
    assert!(!body.contains("\"message\":\"kept"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_under_load_and_a_bad_pair_is_refused() {
    let dir = temp_dir("edge-reload");
    let ca = TestCa::new(&dir);
    let first = ca.server("site", &["app.test"]);
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin, "watch = \"1s\"\nredirect_http = false", "")
            + &cert_entry(&first, "")),
    );
    let tls = fd.tls_addr.unwrap();
    let serial = |out: String| {
        out.lines()
            .find(|l| l.starts_with("serial="))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let cert_serial = || async {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect {tls} -servername app.test </dev/null 2>/dev/null | openssl x509 -noout -serial"
            ))
            .output()
            .await
            .unwrap();
        serial(String::from_utf8_lossy(&out.stdout).to_string())
    };
    let before = cert_serial().await;
    assert!(before.starts_with("serial="), "no certificate served");

    // Load through h2load (TLS, HTTP/1.1 and HTTP/2 clients) while the files change.
    let url = format!("https://127.0.0.1:{}/", tls.port());
    let load = |proto: &'static str| {
        let url = url.clone();
        tokio::spawn(async move {
            let mut cmd = Command::new("h2load");
            cmd.args(["-n", "3000", "-c", "4", "-m", "4", "-T", "10", "-N", "10"]);
            if proto == "h1" {
                cmd.arg("--h1");
            }
            let out = cmd.arg(url).output().await.expect("h2load runs");
            String::from_utf8_lossy(&out.stdout).to_string()
        })
    };
    let h1 = load("h1");
    let h2 = load("h2");
    // New certificate and key, replaced file by file (the key first, as an
    // operator's copy might): the pair is refused until both match.
    let second = ca.server("next", &["app.test"]);
    std::fs::copy(&second.key, &first.key).unwrap();
    let refused_before = metric(admin, "bigstep_config_changes_refused_total").await;
    assert!(
        eventually(Duration::from_secs(10), || {
            let m = std::process::Command::new("curl")
                .args(["-s", &format!("http://{admin}/metrics")])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            m.lines().any(|l| {
                l.starts_with("bigstep_config_changes_refused_total ")
                    && l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok())
                        > Some(refused_before)
            })
        })
        .await,
        "a key that does not match its certificate was not refused"
    );
    assert_eq!(
        cert_serial().await,
        before,
        "the old pair must keep serving"
    );
    std::fs::copy(&second.cert, &first.cert).unwrap();
    let mut now = String::new();
    for _ in 0..100 {
        now = cert_serial().await;
        if now != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(now, before, "the new certificate was not picked up");
    for (name, task) in [("h1", h1), ("h2", h2)] {
        let out = task.await.unwrap();
        let summary = out
            .lines()
            .find(|l| l.starts_with("requests:"))
            .unwrap_or("")
            .to_string();
        assert!(
            summary.contains("3000 succeeded, 0 failed, 0 errored"),
            "{name}: requests failed during the reload: {out}"
        );
    }
    assert!(
        eventually(Duration::from_secs(5), || fd
            .logs()
            .iter()
            .any(|l| l.contains("does not belong to the certificate")))
        .await,
        "the refusal should name the mismatch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_passes_only_the_verified_subject() {
    let dir = temp_dir("edge-mtls");
    let ca = TestCa::new(&dir);
    let a = ca.server("a", &["a.test"]);
    let alice = ca.client("alice", "alice");
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &(tls_site(
            &backend,
            admin,
            &format!(
                "client_ca = \"{}\"\nclient_cert_required = false\nclient_subject_header = \"x-client-subject\"",
                ca.ca_pem.display()
            ),
            "",
        ) + &cert_entry(&a, "")),
    );
    let tls = fd.tls_addr.unwrap();
    let cert = alice.cert.to_str().unwrap().to_string();
    let key = alice.key.to_str().unwrap().to_string();
    let (status, _, body) = curl(
        &ca.ca_pem,
        "a.test",
        tls,
        "/headers",
        &["--cert", &cert, "--key", &key],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("x-client-subject: cn=alice"),
        "{body}"
    );
    // Without a certificate, a forged header does not pass.
    let (status, _, body) = curl(
        &ca.ca_pem,
        "a.test",
        tls,
        "/headers",
        &["-H", "X-Client-Subject: CN=admin"],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.to_ascii_lowercase().contains("x-client-subject"),
        "{body}"
    );

    // Required: no certificate, no connection.
    let admin2 = admin_port();
    let strict = FrontDoorProc::start(
        BIN,
        &(tls_site(
            &backend,
            admin2,
            &format!("client_ca = \"{}\"", ca.ca_pem.display()),
            "",
        ) + &cert_entry(&a, "")),
    );
    let tls2 = strict.tls_addr.unwrap();
    let (status, _, _) = curl(&ca.ca_pem, "a.test", tls2, "/", &[]).await;
    assert_eq!(status, 0, "a client without a certificate got an answer");
    let (status, _, _) = curl(
        &ca.ca_pem,
        "a.test",
        tls2,
        "/",
        &["--cert", &cert, "--key", &key],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_stalled_handshakes_are_counted_and_harm_no_one() {
    let Site {
        dir: _dir,
        ca,
        backend,
        admin,
        fd: _fd,
        tls,
        ..
    } = site(
        "edge-bad",
        "a.test",
        "",
        "[balance.timeouts]\nrequest_header = \"1s\"\n",
    )
    .await;
    // An HTTP request where a ClientHello belongs.
    let mut s = TcpStream::connect(tls).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("closed");
    assert!(
        !String::from_utf8_lossy(&buf).contains("backend"),
        "garbage reached the server"
    );
    // A handshake that never finishes: a ClientHello record header, then silence.
    let mut stalled = TcpStream::connect(tls).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    // Others are served meanwhile.
    let (status, _, _) = curl(&ca.ca_pem, "a.test", tls, "/", &[]).await;
    assert_eq!(status, 200);
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .expect("a stalled handshake must be closed after request_header")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(metric(admin, "bigstep_tls_handshake_failures_total").await >= 2);
    assert_eq!(
        metric(admin, "bigstep_tls_handshake_timeouts_total").await,
        1
    );
    assert_eq!(backend.hits(), 1);
}

// === HTTP/2 floods, with hand-made frames over h2c ===

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    let len = payload.len() as u32;
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK for `GET http://a.test/` (static table entries, :authority literal).
fn get_headers() -> Vec<u8> {
    let mut h = vec![0x82, 0x86, 0x84, 0x41, 6];
    h.extend_from_slice(b"a.test");
    h
}

/// An HPACK integer with an `n`-bit prefix under `first`.
fn hpack_int(first: u8, n: u32, mut v: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// Read frames until the connection ends (or `limit`); returns the GOAWAY error code if any.
async fn read_until_goaway(s: &mut TcpStream, limit: Duration) -> (Option<u32>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let n = match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => return (goaway_code(&buf), false),
        };
        if n == 0 {
            return (goaway_code(&buf), true);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(code) = goaway_code(&buf) {
            return (Some(code), true);
        }
    }
}

fn goaway_code(buf: &[u8]) -> Option<u32> {
    let mut i = 0;
    while i + 9 <= buf.len() {
        let len = u32::from_be_bytes([0, buf[i], buf[i + 1], buf[i + 2]]) as usize;
        if i + 9 + len > buf.len() {
            return None;
        }
        if buf[i + 3] == 7 && len >= 8 {
            let p = &buf[i + 9..];
            return Some(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
        }
        i += 9 + len;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_rapid_reset_and_continuation_floods_are_cut_off() {
    let (backend, admin, fd) = plain_site().await;

    // Rapid reset: 10,000 streams, each opened and reset at once.
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    let headers = get_headers();
    for i in 0..10_000u32 {
        let id = 2 * i + 1;
        out.extend(frame(1, 0x5, id, &headers));
        out.extend(frame(3, 0, id, &8u32.to_be_bytes()));
    }
    // The server may close before it has read everything: a write error is expected.
    let _ = s.write_all(&out).await;
    let (code, closed) = read_until_goaway(&mut s, Duration::from_secs(10)).await;
    assert!(closed, "the rapid-reset connection was not closed");
    assert_eq!(
        code,
        Some(0xb),
        "expected GOAWAY ENHANCE_YOUR_CALM, got {code:?}"
    );
    assert!(
        backend.hits() < 10_000,
        "every reset stream reached the server ({})",
        backend.hits()
    );

    // CONTINUATION flood: one header block that never ends.
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend(frame(1, 0, 1, &get_headers()));
    let mut block = Vec::new();
    for i in 0..64 {
        // literal header without indexing, new name, 16 KiB value
        block.push(0x00);
        let name = format!("x-flood-{i}");
        hpack_int(0, 7, name.len(), &mut block);
        block.extend_from_slice(name.as_bytes());
        hpack_int(0, 7, 16_000, &mut block);
        block.extend(std::iter::repeat_n(b'a', 16_000));
    }
    let mut sent = 0usize;
    let mut write_failed = false;
    for chunk in block.chunks(16_384) {
        if s.write_all(&frame(9, 0, 1, chunk)).await.is_err() {
            write_failed = true;
            break;
        }
        sent += chunk.len();
    }
    let (code, closed) = if write_failed {
        (None, true)
    } else {
        read_until_goaway(&mut s, Duration::from_secs(10)).await
    };
    assert!(
        closed,
        "a header block of {sent} bytes kept the connection open"
    );
    assert!(
        code.is_none() || code != Some(0),
        "closed without an error code: {code:?}"
    );

    // Neither flood touched other clients.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://{}/ok", fd.addr))
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("backend b1"));
    assert!(metric(admin, "bigstep_http2_protocol_errors_total").await >= 1);
}

/// Frames read until `stop` says so, the connection ends, or `limit`:
/// (type, flags, stream, payload) each, and whether the connection ended.
async fn read_frames(
    s: &mut TcpStream,
    limit: Duration,
    stop: impl Fn(&[(u8, u8, u32, Vec<u8>)]) -> bool,
) -> (Vec<(u8, u8, u32, Vec<u8>)>, bool) {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = [0u8; 16384];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                break;
            }
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            frames.push((buf[3], buf[4], stream, buf[9..9 + len].to_vec()));
            buf.drain(..9 + len);
        }
        if stop(&frames) {
            return (frames, false);
        }
        let n = match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => return (frames, false),
        };
        if n == 0 {
            return (frames, true);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The bigstep engine is the default: only `BIGSTEP_TEST_H2_ENGINE=hyper` picks the other.
fn on_bigstep_engine() -> bool {
    std::env::var(testkit::process::H2_ENGINE_ENV).map_or(true, |e| e != "hyper")
}

/// Where WebSocket over HTTP/2 is not offered (`websocket = false`, either
/// engine), an extended CONNECT is malformed
/// (RFC 8441 §3): RST_STREAM PROTOCOL_ERROR, no server sees it, and the
/// connection goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_extended_connect_is_refused_where_not_offered() {
    let backend = Backend::start("b1").await;
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "[[balance.servers]]\naddress = \"{}\"\n[balance.http2]\nwebsocket = false\n",
            backend.addr
        ),
    );
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    // :method CONNECT, :protocol websocket, :scheme http, :path /chat, :authority a.test
    let mut h = vec![0x02, 7];
    h.extend_from_slice(b"CONNECT");
    h.push(0x00);
    hpack_int(0, 7, 9, &mut h);
    h.extend_from_slice(b":protocol");
    h.push(9);
    h.extend_from_slice(b"websocket");
    h.extend_from_slice(&[0x86, 0x04, 5]);
    h.extend_from_slice(b"/chat");
    h.extend_from_slice(&[0x01, 6]);
    h.extend_from_slice(b"a.test");
    out.extend(frame(1, 0x4, 1, &h));
    // Then a plain GET on the same connection.
    out.extend(frame(1, 0x5, 3, &get_headers()));
    s.write_all(&out).await.unwrap();
    let (frames, _) = read_frames(&mut s, Duration::from_secs(10), |f| {
        f.iter().any(|(t, _, id, _)| *t == 3 && *id == 1)
            && f.iter()
                .any(|(t, fl, id, _)| *t == 0 && *id == 3 && fl & 1 == 1)
    })
    .await;
    let settings = frames.iter().find(|(t, fl, ..)| *t == 4 && fl & 1 == 0);
    let offered = settings.is_some_and(|(_, _, _, p)| {
        p.chunks(6)
            .any(|c| c.len() == 6 && c[..2] == [0, 8] && c[2..] != [0, 0, 0, 0])
    });
    assert!(
        !offered,
        "SETTINGS_ENABLE_CONNECT_PROTOCOL offered: {settings:?}"
    );
    let rst = frames.iter().find(|(t, _, id, _)| *t == 3 && *id == 1);
    assert_eq!(
        rst.map(|(.., p)| p.clone()),
        Some(1u32.to_be_bytes().to_vec()),
        "expected RST_STREAM PROTOCOL_ERROR on the extended CONNECT: {frames:?}"
    );
    assert!(
        frames
            .iter()
            .any(|(t, fl, id, _)| *t == 0 && *id == 3 && fl & 1 == 1),
        "the GET after it was not answered: {frames:?}"
    );
    assert_eq!(backend.hits(), 1, "only the GET reaches the server");
}

/// A client that never acknowledges our SETTINGS is cut off with GOAWAY
/// SETTINGS_TIMEOUT once `settings_timeout` has passed (RFC 9113 §6.5.3),
/// requests or not; a client that acknowledged them keeps its
/// connection past that time. The bigstep engine only: hyper's has no such
/// timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_settings_never_acknowledged_time_out() {
    if !on_bigstep_engine() {
        return;
    }
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "admin_listen = \"{admin}\"\n[[balance.servers]]\naddress = \"{}\"\n\
             [balance.http2]\nsettings_timeout = \"500ms\"\n",
            backend.addr
        ),
    );
    let answered = |frames: &[(u8, u8, u32, Vec<u8>)], id: u32| {
        frames
            .iter()
            .any(|(t, fl, s, _)| *t == 0 && *s == id && fl & 1 == 1)
    };
    // Never acks (its request may or may not be answered before the timer).
    let mut rude = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend(frame(1, 0x5, 1, &get_headers()));
    rude.write_all(&out).await.unwrap();
    // Acks at once.
    let mut polite = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend(frame(4, 1, 0, &[]));
    out.extend(frame(1, 0x5, 1, &get_headers()));
    polite.write_all(&out).await.unwrap();

    let (frames, closed) = read_frames(&mut rude, Duration::from_secs(10), |f| {
        f.iter().any(|(t, ..)| *t == 7)
    })
    .await;
    let goaway = frames.iter().find(|(t, ..)| *t == 7);
    assert_eq!(
        goaway.map(|(.., p)| p[4..8].to_vec()),
        Some(4u32.to_be_bytes().to_vec()),
        "expected GOAWAY SETTINGS_TIMEOUT: {frames:?} (closed: {closed})"
    );
    let (_, closed) = read_frames(&mut rude, Duration::from_secs(10), |_| false).await;
    assert!(closed, "the connection stayed open after its GOAWAY");

    // The polite client's connection outlived the timeout: a second request
    // on it is answered.
    let (frames, _) = read_frames(&mut polite, Duration::from_secs(10), |f| answered(f, 1)).await;
    assert!(answered(&frames, 1), "{frames:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    polite
        .write_all(&frame(1, 0x5, 3, &get_headers()))
        .await
        .unwrap();
    let (frames, _) = read_frames(&mut polite, Duration::from_secs(10), |f| {
        answered(f, 3) || f.iter().any(|(t, ..)| *t == 7)
    })
    .await;
    assert!(answered(&frames, 3), "{frames:?}");
    assert!(backend.hits() >= 2);
    assert_eq!(
        metric(admin, "bigstep_http2_protocol_errors_total").await,
        1
    );
}

/// An HPACK bomb (a header list past `max_header_list_bytes` from a few
/// bytes of references to one big dynamic-table entry) is refused before any
/// server sees it; SETTINGS and PING floods from a client that never reads
/// leave other clients served. On the bigstep engine the answers are exact:
/// 431 for the bomb, GOAWAY ENHANCE_YOUR_CALM for the floods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_hpack_bombs_and_control_floods_are_contained() {
    let (backend, admin, fd) = plain_site().await;

    // HPACK bomb: a 4,000-byte field into the dynamic table, then 100
    // one-byte references to it: 400 KB decoded from 4 KB sent.
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    let mut h = get_headers();
    h.push(0x40);
    h.push(5);
    h.extend_from_slice(b"x-big");
    hpack_int(0, 7, 4000, &mut h);
    h.extend(std::iter::repeat_n(b'b', 4000));
    for _ in 0..100 {
        h.push(0x80 | 62);
    }
    out.extend(frame(1, 0x5, 1, &h));
    s.write_all(&out).await.unwrap();
    let (frames, _) = read_frames(&mut s, Duration::from_secs(10), |f| {
        f.iter()
            .any(|(t, _, id, _)| (*t == 1 || *t == 3) && *id == 1 || *t == 7)
    })
    .await;
    assert!(
        frames
            .iter()
            .any(|(t, _, id, _)| (*t == 1 || *t == 3) && *id == 1 || *t == 7),
        "the bomb got no answer: {frames:?}"
    );
    if on_bigstep_engine() {
        // :status 431 is not in the static table: a literal after the
        // static name `:status` (index 8), not an indexed 200 (0x88).
        let head = frames.iter().find(|(t, _, id, _)| *t == 1 && *id == 1);
        assert!(
            head.is_some_and(|(.., p)| p.first().is_some_and(|b| b & 0x80 == 0 && b & 0x0f == 8)),
            "expected a 431 head: {frames:?}"
        );
    }
    assert_eq!(backend.hits(), 0, "the bomb reached the server");

    // SETTINGS and PING floods, never reading the acknowledgements.
    let mut flood = TcpStream::connect(fd.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    for i in 0..20_000u64 {
        out.extend(frame(4, 0, 0, &[]));
        out.extend(frame(6, 0, 0, &i.to_be_bytes()));
    }
    let write = tokio::time::timeout(Duration::from_secs(10), flood.write_all(&out)).await;
    // Another client is served all the same.
    let ok = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://{}/ok", fd.addr))
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&ok.stdout).contains("backend b1"));
    if on_bigstep_engine() {
        // The server may close before it has read everything: a write error
        // is expected; its GOAWAY is read all the same.
        let _ = write;
        let (code, closed) = read_until_goaway(&mut flood, Duration::from_secs(10)).await;
        assert!(
            closed && code == Some(0xb),
            "the flood was not cut off with ENHANCE_YOUR_CALM: {code:?}"
        );
        assert!(metric(admin, "bigstep_http2_protocol_errors_total").await >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_exported_and_a_bad_file_at_start_is_named() {
    let dir = temp_dir("edge-expiry");
    let ca = TestCa::new(&dir);
    let soon = ca.server_expiring("soon", &["soon.test"], (2037, 1, 1));
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let _fd = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin, "", "") + &cert_entry(&soon, "")),
    );
    let left = metric(admin, "bigstep_tls_cert_expiry_seconds").await;
    // 2037-01-01 is about ten years away (318 million seconds from late 2026).
    assert!(
        (250_000_000..400_000_000).contains(&left),
        "expiry seconds: {left}"
    );
    let req = Request::get("/api/certificates")
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send(admin, req).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("soon.test"), "{}", r.text());
    // The dashboard reads the same list from /api/status.
    let req = Request::get("/api/status")
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let st: serde_json::Value =
        serde_json::from_slice(&send(admin, req).await.unwrap().body).unwrap();
    let days = st["certificates"][0]["expires_in_days"].as_f64().unwrap();
    assert!((3000.0..4500.0).contains(&days), "{st}");

    // A missing key file: the front door refuses to start and names the file.
    let cfg = dir.join("bad.toml");
    std::fs::write(
        &cfg,
        format!(
            "[balance]\n[[balance.servers]]\naddress = \"{}\"\n[balance.tls]\nlisten = \"127.0.0.1:0\"\n[[balance.tls.certificates]]\ncert = \"{}\"\nkey = \"{}/missing.key\"\n",
            backend.addr,
            soon.cert.display(),
            dir.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["balance", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.key"), "{err}");
    // A key readable by others is started with, and warned about.
    let loose = ca.server("loose", &["loose.test"]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&loose.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let admin3 = admin_port();
    let fd3 = FrontDoorProc::start(
        BIN,
        &(tls_site(&backend, admin3, "", "") + &cert_entry(&loose, "")),
    );
    assert!(
        eventually(Duration::from_secs(5), || fd3
            .logs()
            .iter()
            .any(|l| l.contains("chmod 600")))
        .await,
        "no warning about a world-readable key"
    );
    assert!(
        !fd3.logs().iter().any(|l| l.contains("PRIVATE KEY")),
        "key material in the log"
    );
}

// === ACME against pebble (a real ACME server, real validation) ===

/// The `[balance.tls.acme]` table for pebble.
fn acme_table(pebble: &certs::testing::Pebble, storage: &Path, challenge: &str) -> String {
    format!(
        "[balance.tls.acme]\ndomains = [\"app.bigstep.test\"]\ndirectory = \"{}\"\nca_file = \"{}\"\nstorage = \"{}\"\nchallenge = \"{challenge}\"\n",
        pebble.directory,
        pebble.ca_file.display(),
        storage.display()
    )
}

/// curl to app.bigstep.test at `addr`, trusting only pebble's issuing root,
/// until it succeeds (the certificate was issued and installed) or a minute passes.
async fn wait_for_pebble_certificate(root: &Path, addr: SocketAddr) -> (u16, String) {
    let mut last = (0, String::new());
    for _ in 0..300 {
        let (status, _, body) = curl(root, "app.bigstep.test", addr, "/", &[]).await;
        last = (status, body);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_tls_alpn_01_obtains_a_certificate_the_front_door_serves() {
    let dir = temp_dir("edge-acme-alpn");
    let tls_port = certs::testing::free_port();
    let pebble = certs::testing::Pebble::start(&dir, certs::testing::free_port(), tls_port);
    let backend = Backend::start("b1").await;
    let admin = admin_port();
    let fd = FrontDoorProc::start(
        BIN,
        &format!(
            "admin_listen = \"{admin}\"\n[[balance.servers]]\naddress = \"{}\"\n[balance.tls]\nlisten = \"127.0.0.1:{tls_port}\"\nredirect_http = false\n{}",
            backend.addr,
            acme_table(&pebble, &dir.join("acme"), "tls-alpn-01")
        ),
    );
    let tls = fd.tls_addr.unwrap();
    let root = dir.join("pebble-root.pem");
    std::fs::write(&root, pebble.issuing_root()).unwrap();
    let last = wait_for_pebble_certificate(&root, tls).await;
    assert_eq!(
        last.0,
        200,
        "no certificate from pebble was served; logs: {:?}\npebble: {}",
        fd.logs(),
        pebble.log()
    );
    assert!(last.1.contains("backend b1"));
    assert!(
        eventually(Duration::from_secs(5), || fd
            .logs()
            .iter()
            .any(|l| l.contains("acme: certificate installed")))
        .await,
        "the installation was not logged"
    );
    // Validation handshakes never reached the proxy.
    assert_eq!(backend.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_http_01_is_answered_on_the_plain_listener() {
    let dir = temp_dir("edge-acme-http");
    let plain_port = certs::testing::free_port();
    let tls_port = certs::testing::free_port();
    let pebble = certs::testing::Pebble::start(&dir, plain_port, tls_port);
    let backend = Backend::start("b1").await;
    let cfg = dir.join("bigstep.toml");
    std::fs::write(
        &cfg,
        format!(
            "[balance]\nlisten = \"127.0.0.1:{plain_port}\"\n[[balance.servers]]\naddress = \"{}\"\n[balance.tls]\nlisten = \"127.0.0.1:{tls_port}\"\n{}",
            backend.addr,
            acme_table(&pebble, &dir.join("acme"), "http-01")
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["balance", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tls: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let root = dir.join("pebble-root.pem");
    std::fs::write(&root, pebble.issuing_root()).unwrap();
    let last = wait_for_pebble_certificate(&root, tls).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        last.0,
        200,
        "no certificate from pebble over HTTP-01; pebble: {}",
        pebble.log()
    );
    // The plain listener still redirects everything else.
    assert_eq!(backend.hits(), 1);
}

/// The certificate's public key hash, as Chromium pins it
/// (`--ignore-certificate-errors-spki-list`).
async fn spki_pin(cert: &std::path::Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
            cert.display()
        ))
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_loads_a_page_over_https_and_http2() {
    let Site {
        dir: _dir,
        leaf,
        backend,
        fd: _fd,
        tls,
        ..
    } = site("edge-chromium", "app.test", "", "").await;
    let spki = spki_pin(&leaf.cert).await;
    assert_eq!(spki.len(), 44, "SPKI hash: {spki}");
    let browser = testkit::browser::prepare("https-page.png");
    let shot = browser.screenshot.clone();
    let (passed, log) = browser
        .run_async(
            "https.mjs",
            vec![
                format!("https://app.test:{}/", tls.port()).into(),
                shot.clone().into(),
                spki.into(),
                "app.test".into(),
            ],
        )
        .await;
    assert!(passed, "Chromium over HTTPS failed:\n{log}");
    assert!(log.contains("\"tls\":\"TLS 1.3\""), "{log}");
    assert!(shot.is_file(), "{log}");
    // The page (and Chromium's favicon request) went through to the server.
    assert!(backend.hits() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_opens_a_websocket_over_http2() {
    let Site {
        dir: _dir,
        leaf,
        backend,
        admin,
        fd: _fd,
        tls,
        ..
    } = site("edge-chromium-ws", "app.test", "", "").await;
    let spki = spki_pin(&leaf.cert).await;
    let browser = testkit::browser::prepare("https-websocket.png");
    let shot = browser.screenshot.clone();
    let (passed, log) = browser
        .run_async(
            "https-websocket.mjs",
            vec![
                format!("https://app.test:{}/", tls.port()).into(),
                format!("wss://app.test:{}/ws", tls.port()).into(),
                shot.clone().into(),
                spki.into(),
                "app.test".into(),
            ],
        )
        .await;
    assert!(passed, "Chromium WebSocket over HTTPS failed:\n{log}");
    // The echo came back; that it came over HTTP/2 (not a second, HTTP/1.1
    // connection) only the front door can tell.
    assert_eq!(
        metric(admin, "bigstep_http2_websockets_total").await,
        1,
        "Chromium did not use RFC 8441 extended CONNECT: {log}"
    );
    assert!(backend.hits() >= 2, "page and WebSocket");
}
