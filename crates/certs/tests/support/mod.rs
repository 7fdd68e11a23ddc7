//! A real ACME server for the tests: Debian's `pebble`, with
//! `pebble-challtestsrv` as its DNS server (every name resolves to
//! 127.0.0.1), on loopback ports chosen at run time. Pebble's own HTTPS
//! certificate comes from a throwaway CA made here with rcgen; the crate under
//! test trusts that CA through `AcmeConfig::ca_file`.
//!
//! The challenge responder is the crate's own public helpers
//! (`http01_response`, `acme_resolver`) behind a tiny hyper / tokio-rustls
//! server, as the front door will use them.
//!
//! Everything is killed and removed on drop; every wait is bounded.

#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use certs::Challenges;
use http_body_util::Full;
use hyper::{Request, Response};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

pub use certs::testing::{find_binary_or, start_on_free_ports, verify_chain, Pebble};

/// The name every test orders a certificate for (challtestsrv answers
/// 127.0.0.1 for any name).
pub const NAME: &str = "app.bigstep.test";

/// Log to the test's output (shown when a test fails).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "certs=debug,info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A fresh temp directory, removed when dropped.
pub use testkit::TempDir;

/// Poll `cond` every 20 ms until it holds or `timeout` passes.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The HTTP-01 responder: `certs::http01_response` behind hyper. With
/// `wrong_first`, the first token ever asked for gets a wrong answer (so its
/// order fails); every later token gets the right one.
pub struct Http01Server {
    pub port: u16,
    pub requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Http01Server {
    pub async fn start(challenges: Challenges, wrong_first: bool) -> Http01Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let first: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let challenges = challenges.clone();
                let counter = counter.clone();
                let first = first.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let path = req.uri().path().to_string();
                            let mut answer = certs::http01_response(&challenges, &path);
                            if wrong_first && answer.is_some() {
                                let mut f = first.lock().unwrap();
                                let f = f.get_or_insert_with(|| path.clone());
                                if *f == path {
                                    answer = Some("not-the-key-authorization".into());
                                }
                            }
                            let rsp = match answer {
                                Some(body) => Response::builder()
                                    .header("content-type", "text/plain")
                                    .body(Full::new(Bytes::from(body))),
                                None => Response::builder()
                                    .status(404)
                                    .body(Full::new(Bytes::new())),
                            };
                            async move { rsp }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Http01Server {
            port,
            requests,
            task,
        }
    }
}

impl Drop for Http01Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A resolver with one certificate: the front door's own, in miniature.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The TLS-ALPN-01 responder: `certs::acme_resolver` in a rustls server
/// that closes every connection after its handshake.
pub struct TlsAlpnServer {
    pub port: u16,
    pub acme_handshakes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsAlpnServer {
    pub async fn start(challenges: Challenges) -> TlsAlpnServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let own = certs::placeholder(&[NAME.to_string()])
            .unwrap()
            .certified_key()
            .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(certs::acme_resolver(
            challenges,
            certs::CertSlot::new(),
            Some(Arc::new(Fixed(own))),
        ));
        config.alpn_protocols = vec![
            certs::ACME_TLS_ALPN.to_vec(),
            b"h2".to_vec(),
            b"http/1.1".to_vec(),
        ];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let acme_handshakes = Arc::new(AtomicU64::new(0));
        let counter = acme_handshakes.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        if tls.get_ref().1.alpn_protocol() == Some(certs::ACME_TLS_ALPN) {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        // RFC 8737: nothing is sent on a validation connection.
                    }
                });
            }
        });
        TlsAlpnServer {
            port,
            acme_handshakes,
            task,
        }
    }
}

impl Drop for TlsAlpnServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What `on_issued` saw, in order.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<certs::Issued>>>);

impl Seen {
    pub fn callback(&self) -> impl Fn(certs::Issued) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |issued| seen.lock().unwrap().push(issued)
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn get(&self, i: usize) -> certs::Issued {
        self.0.lock().unwrap()[i].clone()
    }
}

/// A flag tests flip from callbacks.
pub fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// `redis-server` on a free loopback port, nothing saved; killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let bin = find_binary_or("redis-server", "apt-get install redis-server");
        let (child, [port]) = start_on_free_ports("redis-server", 0, |[port]| {
            Command::new(&bin)
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--port", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server")
        });
        RedisServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Keys matching `pattern`, with redis-cli.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--scan", "--pattern", pattern])
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
