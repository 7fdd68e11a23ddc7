//! A test certificate authority: a CA and leaf certificates for any names,
//! written as PEM files the front door (and curl, openssl, Chromium) read.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA whose certificate is at [`TestCa::ca_pem`].
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA certificate (PEM), for `curl --cacert` and friends.
    pub ca_pem: PathBuf,
}

/// A leaf certificate's files.
pub struct Leaf {
    /// Certificate then CA (PEM).
    pub cert: PathBuf,
    /// Private key (PKCS#8 PEM), mode 0600.
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA writing its files into `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "bigstep test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, issuer.pem()).expect("write CA");
        TestCa {
            issuer,
            dir: dir.to_path_buf(),
            ca_pem,
        }
    }

    /// A server certificate for `names` (DNS names), saved as `<file>.pem`/`<file>.key`.
    pub fn server(&self, file: &str, names: &[&str]) -> Leaf {
        self.leaf(
            file,
            names,
            names.first().copied().unwrap_or("server"),
            false,
            None,
        )
    }

    /// A server certificate that expires on `(year, month, day)`.
    pub fn server_expiring(&self, file: &str, names: &[&str], ymd: (i32, u8, u8)) -> Leaf {
        self.leaf(file, names, names[0], false, Some(ymd))
    }

    /// A client certificate with common name `cn` (for mutual TLS).
    pub fn client(&self, file: &str, cn: &str) -> Leaf {
        self.leaf(file, &[], cn, true, None)
    }

    fn leaf(
        &self,
        file: &str,
        names: &[&str],
        cn: &str,
        client: bool,
        expires: Option<(i32, u8, u8)>,
    ) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if let Some((y, m, d)) = expires {
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let cert_path = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), self.issuer.pem()))
            .expect("write certificate");
        write_private(&key_path, &key.serialize_pem());
        Leaf {
            cert: cert_path,
            key: key_path,
        }
    }
}

/// Write a key file readable by its owner only (as an operator should).
pub fn write_private(path: &Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    // Replace atomically, so a watcher never sees half a key.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write key");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    std::fs::rename(&tmp, path).expect("rename key");
}

/// An HTTPS server for the front door to reach: terminates TLS with a leaf
/// certificate (ALPN `http/1.1` only, or `h2` only from [`TlsFront::start_h2`])
/// and pipes each connection to a plain backend, so every backend behaviour
/// (`/ws`, `/upload`, `/healthz`; an `H2Backend`'s trailers) is there over TLS. Counts TCP connections accepted and handshakes completed, and
/// records the SNI name and ALPN protocol the last client offered. Dropping it
/// stops it and every connection.
pub struct TlsFront {
    pub addr: std::net::SocketAddr,
    seen: std::sync::Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Seen {
    accepted: std::sync::atomic::AtomicU64,
    handshakes: std::sync::atomic::AtomicU64,
    client_certs: std::sync::atomic::AtomicU64,
    sni: std::sync::Mutex<Option<String>>,
    alpn: std::sync::Mutex<Option<String>>,
}

impl TlsFront {
    /// Serve `leaf` on a free port, in front of the plain server at `upstream`.
    pub async fn start(leaf: &Leaf, upstream: std::net::SocketAddr) -> TlsFront {
        TlsFront::start_with(leaf, upstream, None, b"http/1.1").await
    }

    /// An HTTP/2-over-TLS server: ALPN `h2` only, in front of an h2c server
    /// at `upstream` (a `testkit::h2backend::H2Backend`).
    pub async fn start_h2(leaf: &Leaf, upstream: std::net::SocketAddr) -> TlsFront {
        TlsFront::start_with(leaf, upstream, None, b"h2").await
    }

    /// The same, refusing any client without a certificate signed by the CA in
    /// `client_ca` (mutual TLS, as a server that trusts only its proxies would).
    pub async fn start_requiring_client_cert(
        leaf: &Leaf,
        upstream: std::net::SocketAddr,
        client_ca: &Path,
    ) -> TlsFront {
        TlsFront::start_with(leaf, upstream, Some(client_ca), b"http/1.1").await
    }

    async fn start_with(
        leaf: &Leaf,
        upstream: std::net::SocketAddr,
        client_ca: Option<&Path>,
        alpn: &[u8],
    ) -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::atomic::Ordering::SeqCst;
        let chain = CertificateDer::pem_file_iter(&leaf.cert)
            .expect("read certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse certificate");
        let key = PrivateKeyDer::from_pem_file(&leaf.key).expect("read key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(ca).expect("read client CA") {
                    roots
                        .add(c.expect("parse client CA"))
                        .expect("add client CA");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    std::sync::Arc::new(roots),
                    provider,
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .expect("certificate and key");
        config.alpn_protocols = vec![alpn.to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind TLS front");
        let addr = listener.local_addr().expect("addr");
        let seen = std::sync::Arc::new(Seen::default());
        let counts = seen.clone();
        let task = tokio::spawn(async move {
            // Dropped with the task: aborts every connection.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                counts.accepted.fetch_add(1, SeqCst);
                let acceptor = acceptor.clone();
                let counts = counts.clone();
                conns.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counts.handshakes.fetch_add(1, SeqCst);
                    let (_, session) = tls.get_ref();
                    if session.peer_certificates().is_some_and(|c| !c.is_empty()) {
                        counts.client_certs.fetch_add(1, SeqCst);
                    }
                    *counts.sni.lock().expect("sni") = session.server_name().map(str::to_string);
                    *counts.alpn.lock().expect("alpn") = session
                        .alpn_protocol()
                        .map(|p| String::from_utf8_lossy(p).into_owned());
                    let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        TlsFront { addr, seen, task }
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.seen.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> u64 {
        self.seen
            .handshakes
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completed handshakes in which the client presented a certificate.
    pub fn client_certificates(&self) -> u64 {
        self.seen
            .client_certs
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The SNI name of the last completed handshake.
    pub fn last_sni(&self) -> Option<String> {
        self.seen.sni.lock().expect("sni").clone()
    }

    /// The ALPN protocol agreed in the last completed handshake (`http/1.1`
    /// when the client offered it; none when it offered nothing).
    pub fn last_alpn(&self) -> Option<String> {
        self.seen.alpn.lock().expect("alpn").clone()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
