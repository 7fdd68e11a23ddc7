//! A real HTTP/2 backend (h2c: prior knowledge over plain TCP) on
//! 127.0.0.1:0, on the `h2` crate so a test can make it do what a polite
//! server does not: refuse streams, go away, vanish mid-body.
//!
//! | path | behaviour |
//! |---|---|
//! | `/trailers` | `hello`, then trailers `grpc-status: 0`, `x-trailer: yes` |
//! | `/headers` | the request head as text: `:method`, `:scheme`, `:authority`, `:path`, then `name: value` lines |
//! | `/echo` | the request body back, its length in trailer `x-length` |
//! | `/partial` | head and `partial`, then nothing until `drop_connections()` cuts the TCP connection |
//! | `/close` | no answer: the TCP connection is cut at once |
//! | `/goaway` | `bye`, then a graceful GOAWAY on its connection |
//! | anything else | `h2 backend NAME` |
//!
//! With `set_refuse(true)` every stream is reset with `REFUSED_STREAM`
//! (counted by `refused()`). Every response carries `x-backend: NAME`;
//! `hits()` counts streams answered, `connections()` TCP connections accepted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

struct State {
    name: String,
    hits: AtomicU64,
    refused: AtomicU64,
    connections: AtomicU64,
    refuse: AtomicBool,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
}

/// A running HTTP/2 backend. Dropping it stops it (open connections too).
pub struct H2Backend {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl H2Backend {
    /// Start a backend named `name` on a free port.
    pub async fn start(name: &str) -> H2Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            name: name.to_string(),
            hits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            refuse: AtomicBool::new(false),
            cut: watch::channel(0).0,
        });
        let s = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                s.connections.fetch_add(1, SeqCst);
                conns.spawn(connection(tcp, s.clone()));
            }
        });
        H2Backend { addr, state, task }
    }

    pub fn hits(&self) -> u64 {
        self.state.hits.load(SeqCst)
    }
    pub fn refused(&self) -> u64 {
        self.state.refused.load(SeqCst)
    }
    pub fn connections(&self) -> u64 {
        self.state.connections.load(SeqCst)
    }
    /// Reset every new stream with `REFUSED_STREAM` (or stop doing so).
    pub fn set_refuse(&self, refuse: bool) {
        self.state.refuse.store(refuse, SeqCst);
    }
    /// Cut every open TCP connection, with no GOAWAY (a crash, as the peer sees it).
    pub fn drop_connections(&self) {
        self.state.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for H2Backend {
    fn drop(&mut self) {
        self.drop_connections();
        self.task.abort();
    }
}

async fn connection(tcp: TcpStream, state: Arc<State>) {
    let mut cut = state.cut.subscribe();
    let Ok(mut conn) = h2::server::handshake(tcp).await else {
        return;
    };
    let goaway = Arc::new(Notify::new());
    let cut_now = Arc::new(Notify::new());
    loop {
        // Accepting drives the connection: frames of every stream move here.
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => {
                    tokio::spawn(stream(req, respond, state.clone(), goaway.clone(), cut_now.clone()));
                }
                _ => return,
            },
            () = goaway.notified() => conn.graceful_shutdown(),
            // Dropping the connection closes the socket: no GOAWAY, no RST_STREAM.
            () = cut_now.notified() => return,
            _ = cut.changed() => return,
        }
    }
}

fn head(state: &State) -> Response<()> {
    Response::builder()
        .status(200)
        .header("x-backend", state.name.as_str())
        .body(())
        .expect("response head")
}

async fn stream(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    state: Arc<State>,
    goaway: Arc<Notify>,
    cut_now: Arc<Notify>,
) {
    if state.refuse.load(SeqCst) {
        state.refused.fetch_add(1, SeqCst);
        respond.send_reset(h2::Reason::REFUSED_STREAM);
        return;
    }
    state.hits.fetch_add(1, SeqCst);
    let path = req.uri().path().to_string();
    let r: Result<(), h2::Error> = async {
        match path.as_str() {
            "/trailers" => {
                let mut s = respond.send_response(head(&state), false)?;
                s.send_data(Bytes::from_static(b"hello"), false)?;
                let mut t = HeaderMap::new();
                t.insert("grpc-status", HeaderValue::from_static("0"));
                t.insert("x-trailer", HeaderValue::from_static("yes"));
                s.send_trailers(t)?;
            }
            "/headers" => {
                let mut text = format!(
                    ":method: {}\n:scheme: {}\n:authority: {}\n:path: {}\n",
                    req.method(),
                    req.uri().scheme_str().unwrap_or("-"),
                    req.uri().authority().map_or("-", |a| a.as_str()),
                    req.uri().path_and_query().map_or("-", |p| p.as_str()),
                );
                for (k, v) in req.headers() {
                    text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
                }
                let mut s = respond.send_response(head(&state), false)?;
                s.send_data(Bytes::from(text), true)?;
            }
            "/echo" => {
                let mut body = req.into_body();
                let mut all = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk?;
                    let _ = body.flow_control().release_capacity(chunk.len());
                    all.extend_from_slice(&chunk);
                }
                let len = all.len();
                let mut s = respond.send_response(head(&state), false)?;
                s.send_data(Bytes::from(all), false)?;
                let mut t = HeaderMap::new();
                t.insert("x-length", HeaderValue::from(len));
                s.send_trailers(t)?;
            }
            "/partial" => {
                let mut s = respond.send_response(head(&state), false)?;
                s.send_data(Bytes::from_static(b"partial"), false)?;
                // Held open until the test cuts the connection.
                let _ = futures_util::future::poll_fn(|cx| s.poll_reset(cx)).await;
            }
            "/close" => cut_now.notify_one(),
            "/goaway" => {
                let mut s = respond.send_response(head(&state), false)?;
                s.send_data(Bytes::from_static(b"bye"), true)?;
                goaway.notify_one();
            }
            _ => {
                let mut s = respond.send_response(head(&state), false)?;
                s.send_data(Bytes::from(format!("h2 backend {}", state.name)), true)?;
            }
        }
        Ok(())
    }
    .await;
    drop(r);
}
