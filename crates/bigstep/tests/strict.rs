//! The front door refuses malformed request heads before any server sees them
//! (RFC 9112 §3.2, RFC 9110 §7.2), and answers HTTP/1.1 clients with HTTP/1.1
//! even when the server speaks HTTP/1.0 (RFC 9110 §6.2). Raw bytes over a
//! TcpStream to the real `bigstep balance` binary, in front of a real backend
//! that counts what it receives.

use std::time::Duration;

use testkit::backend::Backend;
use testkit::client::raw;
use testkit::process::FrontDoorProc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

fn one_server(addr: std::net::SocketAddr) -> String {
    format!("[[balance.servers]]\nname = \"a\"\naddress = \"{addr}\"\n")
}

/// Each case: the raw request and the `x-bigstep-reason` of its 400. (The
/// last two were refused by hyper's parser, with no reason, before the front
/// door had its own HTTP/1 core.)
const MALFORMED: &[(&str, &str, Refused)] = &[
    (
        "duplicate Host",
        "GET / HTTP/1.1\r\nHost: site.test\r\nHost: other.test\r\n\r\n",
        Refused::ByUs("duplicate-host"),
    ),
    (
        "duplicate Host, same value",
        "GET / HTTP/1.1\r\nHost: site.test\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("duplicate-host"),
    ),
    (
        "Host with a space",
        "GET / HTTP/1.1\r\nHost: site .test\r\n\r\n",
        Refused::ByUs("bad-host"),
    ),
    (
        "Host with a slash",
        "GET / HTTP/1.1\r\nHost: site.test/evil\r\n\r\n",
        Refused::ByUs("bad-host"),
    ),
    (
        "Host with userinfo",
        "GET / HTTP/1.1\r\nHost: user@site.test\r\n\r\n",
        Refused::ByUs("bad-host"),
    ),
    (
        "Host with a quote",
        "GET / HTTP/1.1\r\nHost: site\".test\r\n\r\n",
        Refused::ByUs("bad-host"),
    ),
    (
        "Host with a bad port",
        "GET / HTTP/1.1\r\nHost: site.test:http\r\n\r\n",
        Refused::ByUs("bad-host"),
    ),
    (
        "absolute-form target naming another host",
        "GET http://other.test/ HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("host-mismatch"),
    ),
    (
        "absolute-form target naming another port",
        "GET http://site.test:8081/ HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("host-mismatch"),
    ),
    (
        "authority-form target on GET",
        "GET site.test:80 HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("authority-form-not-connect"),
    ),
    (
        "origin-form target without a leading slash",
        "GET index.html HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("bad-target"),
    ),
    (
        "relative path target",
        "GET a/b HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("bad-target"),
    ),
    (
        "query-only target",
        "GET ?a=1 HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("bad-target"),
    ),
    (
        "asterisk-form on GET",
        "GET * HTTP/1.1\r\nHost: site.test\r\n\r\n",
        Refused::ByUs("asterisk-form-not-options"),
    ),
];

#[derive(Debug, Clone, Copy)]
enum Refused {
    /// The front door answers 400 with this `x-bigstep-reason`.
    ByUs(&'static str),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heads_are_refused_before_any_server_sees_them() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    let mut wrong = Vec::new();
    for (what, req, refused) in MALFORMED {
        // `Connection: close` so that a request served by mistake ends quickly.
        let req = req.replacen("\r\n", "\r\nConnection: close\r\n", 1);
        let resp = raw(fd.addr, req.as_bytes(), Duration::from_secs(5)).await;
        let head = resp.to_ascii_lowercase();
        let reason = head
            .lines()
            .find_map(|l| l.strip_prefix("x-bigstep-reason: "))
            .map(str::trim);
        let ok = resp.starts_with("HTTP/1.1 400")
            && match refused {
                Refused::ByUs(r) => reason == Some(r),
            };
        if !ok {
            wrong.push(format!("{what}: {req:?} -> {resp:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(a.hits(), 0, "no malformed request reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_formed_edge_cases_are_served() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    for (what, req) in [
        ("plain", "GET /headers HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"),
        ("port", "GET /headers HTTP/1.1\r\nHost: site.test:8080\r\nConnection: close\r\n\r\n"),
        ("IPv6 literal", "GET /headers HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n"),
        ("HTTP/1.0 without Host", "GET /headers HTTP/1.0\r\n\r\n"),
        (
            "absolute-form naming the Host (default port)",
            "GET http://Site.test/headers HTTP/1.1\r\nHost: site.test:80\r\nConnection: close\r\n\r\n",
        ),
        ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"),
    ] {
        let before = a.hits();
        let resp = raw(fd.addr, req.as_bytes(), Duration::from_secs(5)).await;
        // We answer with our own version, HTTP/1.1, even an HTTP/1.0 client (RFC 9110 §6.2).
        assert!(resp.starts_with("HTTP/1.1 200 "), "{what}: {req:?} -> {resp:?}");
        assert_eq!(a.hits(), before + 1, "{what} reached the backend");
    }
    // An absolute-form target reaches the server in origin-form, with the Host
    // the client sent.
    let resp = raw(
        fd.addr,
        b"GET http://site.test/headers?x=1 HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let seen = a.last_head();
    assert!(seen.starts_with("GET /headers?x=1 "), "{seen}\n{resp}");
    assert!(seen.contains("host: site.test\n"), "{seen}");
}

// === HTTP/1.0 servers ===

/// A python3 HTTP server run in `dir`, on a port it picks itself (port 0 as
/// its last argument; it says which in `http.server`'s "Serving HTTP on ...
/// port N" line): a port picked here and freed for it could be taken by
/// another test's socket before it binds. Stopped on drop.
struct PyServer {
    addr: std::net::SocketAddr,
    child: std::process::Child,
}

impl PyServer {
    fn start(args: &[&str], dir: &std::path::Path) -> PyServer {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("python3")
            .arg("-u")
            .args(args)
            .arg("0")
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 is installed (.ci/install)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let port = line
                    .split_once(" port ")
                    .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<u16>().ok());
                if let Some(port) = port {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the python3 server says its port");
        PyServer {
            addr: ([127, 0, 0, 1], port).into(),
            child,
        }
    }

    async fn ready(&self) {
        let up = testkit::eventually(Duration::from_secs(20), || {
            std::net::TcpStream::connect(self.addr).is_ok()
        })
        .await;
        assert!(up, "python3 server did not start on {}", self.addr);
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read one response (head + a Content-Length or chunked body) from `s`,
/// leaving the connection open. Returns the head and the body.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let lower = head.to_ascii_lowercase();
            let body_start = end + 4;
            if let Some(len) = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                if buf.len() >= body_start + len {
                    let body = buf[body_start..body_start + len].to_vec();
                    buf.drain(..body_start + len);
                    return (head, body);
                }
            } else if lower.contains("transfer-encoding: chunked") {
                let mut dec = h1::ChunkedDecoder::default();
                let mut body = Vec::new();
                if let Ok((n, true)) = dec.decode_into(&buf[body_start..], &mut body) {
                    buf.drain(..body_start + n);
                    return (head, body);
                }
            } else {
                panic!("response without a length or chunked framing: {head}");
            }
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("response in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed; so far: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_server_is_answered_as_http11_on_a_kept_alive_connection() {
    let dir = testkit::process::temp_dir("py-http10");
    std::fs::write(dir.join("hello.txt"), "hello from python\n").unwrap();
    // HTTP/1.0, one response per connection, with a Content-Length.
    let py = PyServer::start(&["-m", "http.server", "--bind", "127.0.0.1"], &dir);
    py.ready().await;
    let fd = FrontDoorProc::start(BIN, &one_server(py.addr));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..2 {
        s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: site.test\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut s, &mut buf).await;
        assert!(head.starts_with("HTTP/1.1 200"), "request {i}: {head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "request {i}: {head}"
        );
        assert_eq!(body, b"hello from python\n", "request {i}");
    }
}

/// A server that answers HTTP/1.0 with no Content-Length: the body ends when it
/// closes. An HTTP/1.1 client gets it chunked, and keeps its connection.
const CLOSE_DELIMITED: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"no length, " * 1000 + self.path.encode())
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("Serving HTTP on 127.0.0.1 port", s.server_address[1])
s.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_delimited_http10_body_reaches_an_http11_client_chunked() {
    let dir = testkit::process::temp_dir("py-close");
    std::fs::write(dir.join("server.py"), CLOSE_DELIMITED).unwrap();
    let py = PyServer::start(&["server.py"], &dir);
    py.ready().await;
    let fd = FrontDoorProc::start(BIN, &one_server(py.addr));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    let mut buf = Vec::new();
    for path in ["/one", "/two"] {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: site.test\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (head, body) = read_response(&mut s, &mut buf).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{path}: {head}"
        );
        let mut want = b"no length, ".repeat(1000);
        want.extend_from_slice(path.as_bytes());
        assert_eq!(body, want, "{path}");
    }
}
