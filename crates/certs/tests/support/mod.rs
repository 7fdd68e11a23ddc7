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

use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
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
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(testkit::process::temp_dir(tag))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: these tests need Debian's `pebble` package \
                 (apt-get install pebble; CI installs it from .ci/apt-edge.txt). Not skipping."
            )
        })
}

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Wait until `addr` accepts; `Err` when `child` exits first (e.g. the port
/// chosen for it was taken in between: the caller retries with new ports).
fn wait_port(addr: SocketAddr, child: &mut Child, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited before listening on {addr}: {status}"
            ));
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start a server on fresh free ports (`spawn` gets them), retrying a few
/// times when it dies because a port was taken between choosing and binding.
fn start_on_free_ports<const N: usize>(
    what: &str,
    wait_on: usize,
    mut spawn: impl FnMut([u16; N]) -> Child,
) -> (Child, [u16; N]) {
    let mut last = String::new();
    for _ in 0..5 {
        let ports = [(); N].map(|()| free_port());
        let mut child = spawn(ports);
        let addr = SocketAddr::from(([127, 0, 0, 1], ports[wait_on]));
        match wait_port(addr, &mut child, what) {
            Ok(()) => return (child, ports),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last = e;
            }
        }
    }
    panic!("{what} would not start: {last}");
}

/// pebble + pebble-challtestsrv, killed on drop.
pub struct Pebble {
    pub dir: PathBuf,
    pebble: Child,
    dns: Child,
    /// The ACME directory URL.
    pub directory: String,
    /// The management interface (`/roots/0`).
    pub management: SocketAddr,
    /// The CA that signed pebble's own HTTPS certificate.
    pub ca_file: PathBuf,
}

impl Pebble {
    /// Start pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `tls_port` of 127.0.0.1.
    pub fn start(dir: &Path, http_port: u16, tls_port: u16) -> Pebble {
        let pebble_bin = find_binary("pebble");
        let dns_bin = find_binary("pebble-challtestsrv");
        let dir = dir.join("pebble");
        std::fs::create_dir_all(&dir).unwrap();

        // pebble's HTTPS certificate, from a CA the client will trust.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "bigstep test CA for pebble");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();

        // The DNS server listens on TCP too; its management port comes up last.
        let (dns, [dns_port, _]) = start_on_free_ports("pebble-challtestsrv", 1, |[dns, mgmt]| {
            Command::new(&dns_bin)
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .args(["-dns01", &format!("127.0.0.1:{dns}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-management", &format!("127.0.0.1:{mgmt}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pebble-challtestsrv")
        });

        let (mut pebble, [listen, management]) =
            start_on_free_ports("pebble", 0, |[listen, management]| {
                let config = serde_json::json!({
                    "pebble": {
                        "listenAddress": format!("127.0.0.1:{listen}"),
                        "managementListenAddress": format!("127.0.0.1:{management}"),
                        "certificate": dir.join("cert.pem"),
                        "privateKey": dir.join("key.pem"),
                        "httpPort": http_port,
                        "tlsPort": tls_port,
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": false
                    }
                });
                std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
                let log = std::fs::File::create(dir.join("pebble.log")).unwrap();
                Command::new(&pebble_bin)
                    .arg("-config")
                    .arg(dir.join("pebble.json"))
                    .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                    // Validate at once, every order validates anew, no random bad nonces.
                    .env("PEBBLE_VA_NOSLEEP", "1")
                    .env("PEBBLE_AUTHZREUSE", "0")
                    .env("PEBBLE_WFE_NONCEREJECT", "0")
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("start pebble")
            });
        let management = SocketAddr::from(([127, 0, 0, 1], management));
        if let Err(e) = wait_port(management, &mut pebble, "pebble management") {
            panic!(
                "{e}; log:\n{}",
                std::fs::read_to_string(dir.join("pebble.log")).unwrap_or_default()
            );
        }
        let p = Pebble {
            dir: dir.clone(),
            pebble,
            dns,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management,
            ca_file,
        };
        p
    }

    /// pebble's issuing root (PEM), from its management interface, with curl.
    pub fn issuing_root(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
            .arg(&self.ca_file)
            .arg(format!("https://{}/roots/0", self.management))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl /roots/0: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }

    /// Stop pebble (the DNS server too) now.
    pub fn stop(&mut self) {
        for c in [&mut self.pebble, &mut self.dns] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
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

/// Verify `chain_pem` for `name` against `root_pem` with webpki (rustls's
/// own verifier), at `now`.
pub fn verify_chain(chain_pem: &str, root_pem: &str, name: &str) -> Result<(), rustls::Error> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        &chain[0],
        &chain[1..],
        &ServerName::try_from(name.to_string()).unwrap(),
        &[],
        UnixTime::now(),
    )
    .map(|_| ())
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

fn find_binary_or(name: &str, hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed ({hint}). Not skipping."))
}
