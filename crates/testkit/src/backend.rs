//! A real HTTP/1.1 backend on 127.0.0.1:0 whose behaviour tests steer by path
//! and by switches:
//!
//! | path | behaviour |
//! |---|---|
//! | `/healthz` | 200, or 503 while `set_healthy(false)` |
//! | `/headers` | the request head as text (`name: value` lines) |
//! | `/upload` | reads the whole body, answers with its length |
//! | `/download?bytes=N[&text=1]` | streams N bytes of a repeating pattern (`text/plain` with `text=1`) |
//! | `/sse?events=N[&text=1]` | N server-sent events; event k+1 waits for `release_event()` (`text/plain` with `text=1`) |
//! | `/ws` | WebSocket echo |
//! | `/die-mid-response` | head + half the declared body, then the connection drops |
//! | `/close-before-response` | reads the request, closes without answering |
//! | `/set-cookie?v=V` | sets `PHPSESSID=V` |
//! | `/status/N` | status N |
//! | anything else | `backend NAME` (about 100 bytes), after `set_delay` |
//!
//! Every response carries `x-backend: NAME`; `hits()` counts requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, std::io::Error>;

struct State {
    name: String,
    hits: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    healthy: AtomicBool,
    fail_all: AtomicBool,
    delay_ms: AtomicU64,
    events: Semaphore,
    last_head: Mutex<String>,
}

/// A running backend. Dropping it stops it.
pub struct Backend {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

impl Backend {
    /// Start a backend named `name` on a free port.
    pub async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            name: name.to_string(),
            hits: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            fail_all: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            events: Semaphore::new(0),
            last_head: Mutex::new(String::new()),
        });
        let task = Some(serve(state.clone(), listener));
        Backend { addr, state, task }
    }

    /// Start again on the same address (after `stop`); counters are kept.
    pub async fn restart(&mut self) {
        self.stop();
        // The aborted task drops its listener when the runtime next polls it:
        // on a busy machine the port may still be taken for a moment.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind backend on {}: {e}", self.addr),
            }
        };
        self.task = Some(serve(self.state.clone(), listener));
    }

    /// Stop listening and drop every open connection (like a crashed server).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }
    pub fn hits(&self) -> u64 {
        self.state.hits.load(SeqCst)
    }
    pub fn in_flight(&self) -> u64 {
        self.state.in_flight.load(SeqCst)
    }
    /// Most requests this backend ever had in flight at once.
    pub fn peak_in_flight(&self) -> u64 {
        self.state.peak_in_flight.load(SeqCst)
    }
    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, SeqCst);
    }
    /// Answer every request (not /healthz) with 500.
    pub fn set_fail_all(&self, fail: bool) {
        self.state.fail_all.store(fail, SeqCst);
    }
    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, SeqCst);
    }
    /// Let the `/sse` stream send its next event.
    pub fn release_event(&self) {
        self.state.events.add_permits(1);
    }
    /// The head of the last request received (for header assertions).
    pub fn last_head(&self) -> String {
        self.state.last_head.lock().expect("lock").clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(st: Arc<State>, listener: TcpListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Dropping the JoinSet (when this task is aborted) drops every connection.
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let st = st.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
            while conns.try_join_next().is_some() {}
        }
    })
}

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).map_err(|never| match never {}).boxed()
}

fn query_u64(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

struct InFlight(Arc<State>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn handle(st: Arc<State>, mut req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        let ok = st.healthy.load(SeqCst);
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(Response::builder()
            .status(status)
            .header("x-backend", &st.name)
            .body(full("health\n"))
            .unwrap());
    }
    st.hits.fetch_add(1, SeqCst);
    let now_in = st.in_flight.fetch_add(1, SeqCst) + 1;
    st.peak_in_flight.fetch_max(now_in, SeqCst);
    let _guard = InFlight(st.clone());
    {
        let mut head = format!("{} {} {:?}\n", req.method(), req.uri(), req.version());
        for (k, v) in req.headers() {
            head.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
        }
        *st.last_head.lock().expect("lock") = head;
    }
    let delay = st.delay_ms.load(SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let builder = Response::builder().header("x-backend", &st.name);
    if st.fail_all.load(SeqCst) {
        return Ok(builder
            .status(500)
            .body(full("failing on purpose\n"))
            .unwrap());
    }
    let resp = match path.as_str() {
        "/headers" => {
            let head = st.last_head.lock().expect("lock").clone();
            builder
                .header("connection", "x-hop-resp")
                .header("x-hop-resp", "should be stripped")
                .header("keep-alive", "timeout=5")
                .header("x-end-to-end", "kept")
                .body(full(head))
                .unwrap()
        }
        "/upload" => {
            let mut n: u64 = 0;
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => break,
                }
            }
            builder.body(full(format!("{n}"))).unwrap()
        }
        "/download" => {
            let total = query_u64(&req, "bytes").unwrap_or(1 << 20);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures_util::stream::unfold(total, move |left| {
                let chunk = chunk.clone();
                async move {
                    if left == 0 {
                        return None;
                    }
                    let n = left.min(chunk.len() as u64);
                    Some((
                        Ok::<_, std::io::Error>(Frame::data(chunk.slice(..n as usize))),
                        left - n,
                    ))
                }
            });
            let ct = if query_u64(&req, "text") == Some(1) {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            };
            builder
                .header("content-length", total)
                .header("content-type", ct)
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
        "/sse" => {
            let events = query_u64(&req, "events").unwrap_or(3);
            let st2 = st.clone();
            let stream = futures_util::stream::unfold(0u64, move |k| {
                let st = st2.clone();
                async move {
                    if k == events {
                        return None;
                    }
                    if k > 0 {
                        st.events.acquire().await.expect("semaphore").forget();
                    }
                    let ev = Bytes::from(format!("data: event {k}\n\n"));
                    Some((Ok::<_, std::io::Error>(Frame::data(ev)), k + 1))
                }
            });
            let ct = if query_u64(&req, "text") == Some(1) {
                "text/plain"
            } else {
                "text/event-stream"
            };
            builder
                .header("content-type", ct)
                .header("cache-control", "no-cache")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
        "/ws" => {
            let key = req.headers().get("sec-websocket-key").cloned();
            let Some(key) = key else {
                return Ok(builder
                    .status(400)
                    .body(full("not a websocket request"))
                    .unwrap());
            };
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        tokio_tungstenite::tungstenite::protocol::Role::Server,
                        None,
                    )
                    .await;
                    let (mut tx, mut rx) = ws.split();
                    while let Some(Ok(msg)) = rx.next().await {
                        if msg.is_text() || msg.is_binary() {
                            if tx.send(msg).await.is_err() {
                                break;
                            }
                        } else if msg.is_close() {
                            break;
                        }
                    }
                }
            });
            builder
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .body(full(Bytes::new()))
                .unwrap()
        }
        "/die-mid-response" => {
            // Head and half the body go out; a moment later the connection drops.
            let stream = futures_util::stream::unfold(0u8, |step| async move {
                match step {
                    0 => Some((Ok(Frame::data(Bytes::from(vec![b'y'; 1000]))), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Err(std::io::Error::other("backend died")), 2))
                    }
                    _ => None,
                }
            });
            builder
                .header("content-length", "2000")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
        "/close-before-response" => {
            // A service error makes hyper drop the connection without a response.
            return Err("closing without a response".into());
        }
        "/set-cookie" => {
            // `?v=VALUE`: answer with `Set-Cookie: PHPSESSID=VALUE` (a session being (re)created).
            let v = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("v="))
                .unwrap_or("fresh")
                .to_string();
            builder
                .header("set-cookie", format!("PHPSESSID={v}; Path=/; HttpOnly"))
                .body(full("cookie set\n"))
                .unwrap()
        }
        p if p.starts_with("/status/") => {
            let code: u16 = p["/status/".len()..].parse().unwrap_or(500);
            builder
                .status(code)
                .body(full(format!("status {code}\n")))
                .unwrap()
        }
        _ => {
            let body = format!(
                "backend {}: hello from a real HTTP server behind the front door\n",
                st.name
            );
            builder
                .header("content-type", "text/plain")
                .body(full(body))
                .unwrap()
        }
    };
    Ok(resp)
}
