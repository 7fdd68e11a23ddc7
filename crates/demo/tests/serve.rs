//! The demo app on a real socket (port 0), spoken to with raw HTTP/1.1.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(name: &str) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    // No shared state or files, whatever the environment says.
    let task = tokio::spawn(demo::serve_with(
        listener,
        name.to_string(),
        demo::Backends::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Running { addr, stop, task }
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

/// One request on its own connection (`Connection: close`), read to the end.
async fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> Response {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: demo\r\n{extra_headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("response within 20 s")
        .unwrap();
    parse(&buf)
}

fn parse(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("complete head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    Response {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

#[tokio::test]
async fn healthz_says_ok() {
    let app = start("app-1").await;
    let r = get(app.addr, "/healthz", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.trim(), "ok");
}

#[tokio::test]
async fn whoami_names_instance_pid_port_and_counts() {
    let app = start("app-7").await;
    let a = get(app.addr, "/api/whoami", "").await;
    assert_eq!(a.status, 200);
    assert!(a.head.contains("application/json"), "{}", a.head);
    let b = get(app.addr, "/api/whoami", "").await;
    let expect = |hits| {
        format!(
            "{{\"instance\":\"app-7\",\"pid\":{},\"port\":{},\"hits\":{hits}}}",
            std::process::id(),
            app.addr.port()
        )
    };
    assert_eq!(a.body, expect(1));
    assert_eq!(b.body, expect(2));
}

#[tokio::test]
async fn page_shows_instance_and_escaped_forwarding_headers() {
    let app = start("app-2").await;
    let r = get(
        app.addr,
        "/",
        "X-Forwarded-For: 10.0.0.1, <b>evil</b>\r\nX-Request-Id: req-42\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.head.contains("text/html"), "{}", r.head);
    assert!(r
        .body
        .contains("Served by <span class=\"instance\" id=\"instance\">app-2</span>"));
    assert!(r.body.contains(&format!("<dd>{}</dd>", app.addr.port())));
    assert!(r.body.contains("10.0.0.1, &lt;b&gt;evil&lt;/b&gt;"));
    assert!(r.body.contains("req-42"));
    assert!(r
        .body
        .contains("front door spreads requests over instances"));
}

#[tokio::test]
async fn slow_waits_then_answers() {
    let app = start("app-3").await;
    let t = std::time::Instant::now();
    let r = get(app.addr, "/slow?ms=150", "").await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.body, "app-3 slept 150 ms\n");
}

#[tokio::test]
async fn the_feed_streams_this_instances_events_and_ends_on_shutdown() {
    let app = start("app-4").await;
    // A browser gets the page that renders the feed.
    let page = get(app.addr, "/events", "").await;
    assert_eq!(page.status, 200);
    assert!(page.head.contains("text/html"), "{}", page.head);
    assert!(page.body.contains("new EventSource(\"/events\")"));
    assert!(page.body.contains("No shared state"), "{}", page.body);

    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: demo\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut read_until = async |want: &str, seen: &mut Vec<u8>| {
        while !String::from_utf8_lossy(seen).contains(want) {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{want:?} within 10 s"))
                .unwrap();
            assert!(n > 0, "stream ended early");
            seen.extend_from_slice(&buf[..n]);
        }
    };
    read_until("event: hello", &mut seen).await;
    // Without shared state the feed is this instance's own.
    assert_eq!(get(app.addr, "/login?name=Zoe", "").await.status, 303);
    read_until("Zoe logged in", &mut seen).await;
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(text.contains("\"shared\":false"), "{text}");
    assert!(text.contains("event: feed\nid: 1\n"), "{text}");

    // Shutdown ends the open stream and `serve` returns promptly.
    app.stop.send(()).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), app.task)
        .await
        .expect("serve returns within 5 s of shutdown with an SSE client attached");
    res.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let app = start("app-5").await;
    assert_eq!(get(app.addr, "/healthz", "").await.status, 200);
    app.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), app.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(app.addr).await.is_err());
}

/// Send raw bytes; the whole response.
async fn raw(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("response within 20 s")
        .unwrap();
    parse(&buf)
}

#[tokio::test]
async fn without_shared_state_and_files_everything_stays_on_one_instance() {
    let a = start("app-1").await;
    let b = start("app-2").await;

    let page = get(a.addr, "/", "").await;
    assert!(
        page.body.contains("not counted: no shared state"),
        "{}",
        page.body
    );

    // A login is known only to the instance that took it.
    let login = get(a.addr, "/login?name=Ada", "").await;
    assert_eq!(login.status, 303);
    let cookie = login
        .head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let on_a = get(a.addr, "/", &format!("Cookie: {cookie}\r\n")).await;
    assert!(on_a.body.contains("id=\"name\">Ada<"), "{}", on_a.body);
    let on_b = get(b.addr, "/", &format!("Cookie: {cookie}\r\n")).await;
    assert!(!on_b.body.contains("id=\"name\""), "{}", on_b.body);

    // An upload too: the other instance answers 404.
    let body = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                Content-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n";
    let req = format!(
        "POST /upload HTTP/1.1\r\nHost: demo\r\nContent-Type: multipart/form-data; boundary=XX\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let up = raw(a.addr, req.as_bytes()).await;
    assert_eq!(up.status, 303, "{}", up.body);
    let path = up
        .body
        .split_whitespace()
        .find(|w| w.starts_with("/uploads/"))
        .unwrap()
        .to_string();
    let here = get(a.addr, &path, "").await;
    assert_eq!((here.status, here.body.as_str()), (200, "hello"));
    assert!(here.head.contains("x-uploaded-on: app-1"), "{}", here.head);
    assert_eq!(get(b.addr, &path, "").await.status, 404);
}

#[tokio::test]
async fn the_lock_needs_shared_state_and_says_so() {
    let app = start("app-6").await;
    let r = get(app.addr, "/lock?ms=1", "").await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("needs shared state"), "{}", r.body);
}
