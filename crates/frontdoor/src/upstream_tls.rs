//! TLS to the servers: a server entry that says `tls = true` is spoken to over
//! HTTPS. The client settings (trust roots, the name to verify, ALPN
//! `http/1.1` — or `h2` for `protocol = "h2"` — a client certificate for
//! servers that require mutual TLS) are built once when the server joins the
//! configuration, off the request path; each new connection only runs the
//! handshake, inside the connect timeout, and then lives in the pool like a
//! plain one (or carries the server's shared HTTP/2 connection).
//!
//! [`Stream`] is the upstream socket either way. It is an enum rather than a
//! boxed trait object so the plain path pays one branch per poll and no
//! allocation; the TLS state (a few KiB) is boxed so a pooled plain connection
//! stays as small as before.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::{parse_ca, parse_client_identity, upstream_server_name, ServerConfig};

/// ALPN for HTTP/1.1 servers.
const ALPN_HTTP11: &[u8] = b"http/1.1";
/// ALPN for `protocol = "h2"` servers.
const ALPN_H2: &[u8] = b"h2";

// === Stream: the upstream socket, plain or TLS ===

/// One connection to a server.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Did the TLS handshake agree on HTTP/2 (ALPN `h2`)? Plain TCP: no.
    pub(crate) fn negotiated_h2(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.get_ref().1.alpn_protocol() == Some(ALPN_H2),
        }
    }

    /// Neither closed by the server nor holding bytes nobody asked for: asked
    /// of an idle pooled connection, without waiting.
    pub(crate) fn is_reusable(&mut self) -> bool {
        match self {
            // The runtime already knows whether the socket is readable: no syscall
            // unless it is (EOF or stray bytes), and then the connection is dropped.
            Stream::Plain(s) => {
                let mut probe = [0u8; 1];
                matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            // Raw bytes on the socket may be a record that changes nothing (a late
            // session ticket), so ask the TLS layer: pending means nothing to read.
            // A close_notify (Ok with nothing read), an EOF (error) or application
            // data all mean the connection cannot carry another request.
            Stream::Tls(s) => {
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                let mut cx = Context::from_waker(std::task::Waker::noop());
                Pin::new(&mut **s).poll_read(&mut cx, &mut buf).is_pending()
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    /// A no-op on plain TCP; over TLS it pushes out records rustls still holds.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// Open a connection to `address`, over TLS when `tls` is given. No timeout
/// of its own: callers bound the whole (TCP and handshake) with theirs. The
/// error says which step failed and why (a certificate error names itself).
pub(crate) async fn dial(address: &str, tls: Option<&UpstreamTls>) -> Result<Stream, String> {
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| format!("{address}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(t) => t
            .handshake(tcp)
            .await
            .map(|s| Stream::Tls(Box::new(s)))
            .map_err(|e| format!("{address}: TLS handshake: {e}")),
    }
}

// === UpstreamTls: one server's client settings ===

/// What a server entry says about TLS. Two entries with equal settings share a
/// pool across a reload; any difference makes the server a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    ca: Option<PathBuf>,
    /// The CA file's contents as read now (`Err`: why it could not be read).
    /// Compared too, so a reload after the CA file was replaced in place (a
    /// rotated CA) gives the server new roots and a fresh pool.
    ca_pem: Option<Result<Vec<u8>, String>>,
    server_name: Option<String>,
    skip_verify: bool,
    /// The client certificate and key files (mutual TLS) and their contents as
    /// read now, compared like the CA's so a rotated certificate takes effect
    /// on reload.
    client: Option<ClientIdentity>,
    /// Offer `h2` in ALPN (`protocol = "h2"`), else `http/1.1`.
    h2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientIdentity {
    cert: PathBuf,
    key: PathBuf,
    pem: Result<(Vec<u8>, Vec<u8>), String>,
}

impl Settings {
    /// The entry's TLS settings; `None` for a plain-HTTP server. Reads the CA file.
    pub(crate) fn of(s: &ServerConfig) -> Option<Settings> {
        s.tls.then(|| Settings {
            ca: s.tls_ca.clone(),
            ca_pem: s
                .tls_ca
                .as_ref()
                .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))),
            server_name: s.tls_server_name.clone(),
            skip_verify: s.tls_insecure_skip_verify,
            client: s
                .tls_client_cert
                .as_ref()
                .zip(s.tls_client_key.as_ref())
                .map(|(cert, key)| ClientIdentity {
                    cert: cert.clone(),
                    key: key.clone(),
                    pem: std::fs::read(cert)
                        .map_err(|e| format!("{}: {e}", cert.display()))
                        .and_then(|c| {
                            let k = std::fs::read(key)
                                .map_err(|e| format!("{}: {e}", key.display()))?;
                            Ok((c, k))
                        }),
                }),
            h2: s.protocol == crate::config::Protocol::H2,
        })
    }
}

/// A server's TLS client: its rustls configuration (with its session cache, so
/// reconnects resume) and the name sent as SNI and verified.
pub(crate) struct UpstreamTls {
    settings: Settings,
    /// Built when the server joined. An error here (a CA file that vanished
    /// between validation and use) fails every connect with its reason.
    client: Result<(TlsConnector, ServerName<'static>), String>,
}

impl UpstreamTls {
    /// The TLS client for `server`, when it says `tls = true`.
    pub(crate) fn for_server(server: &ServerConfig) -> Option<Arc<UpstreamTls>> {
        let settings = Settings::of(server)?;
        if settings.skip_verify {
            tracing::warn!(
                target: "bigstep::tls",
                server = %server.id(),
                "tls_insecure_skip_verify = true: this server's certificate is NOT verified; anyone on the network path can impersonate it. Use tls_ca instead outside a test setup"
            );
        }
        let client = upstream_server_name(server).and_then(|name| {
            let config = client_config(&settings)?;
            Ok((TlsConnector::from(Arc::new(config)), name))
        });
        if let Err(e) = &client {
            tracing::error!(target: "bigstep::tls", server = %server.id(), error = %e, "upstream TLS settings cannot be used: every connection to this server will fail");
        }
        Some(Arc::new(UpstreamTls { settings, client }))
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The name sent as SNI, for a health check's `Host` when it was set explicitly.
    pub(crate) fn explicit_name(&self) -> Option<&str> {
        self.settings.server_name.as_deref()
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
        let (connector, name) = self.client.as_ref().map_err(Clone::clone)?;
        connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The ring provider, built once (also the randomness for WebSocket keys).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The operating system's trust store, read once (Debian: /etc/ssl/certs).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(target: "bigstep::tls", error = %e, "reading the system's CA certificates");
            }
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!(target: "bigstep::tls", "no system CA certificates found: servers with `tls = true` and no `tls_ca` cannot be verified");
            }
            Arc::new(roots)
        })
        .clone()
}

fn client_config(settings: &Settings) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if settings.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let roots = match (&settings.ca, &settings.ca_pem) {
            (Some(path), Some(pem)) => {
                let pem = pem.as_ref().map_err(|e| format!("tls_ca: {e}"))?;
                Arc::new(parse_ca(path, pem).map_err(|e| format!("tls_ca: {e}"))?)
            }
            _ => system_roots(),
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match &settings.client {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let (cert_pem, key_pem) = id
                .pem
                .as_ref()
                .map_err(|e| format!("tls_client_cert: {e}"))?;
            let (chain, key) = parse_client_identity(&id.cert, cert_pem, &id.key, key_pem)
                .map_err(|(k, e)| format!("{}: {e}", k.trim_start_matches("servers.")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls_client_cert: {e}"))?
        }
    };
    config.alpn_protocols = vec![if settings.h2 { ALPN_H2 } else { ALPN_HTTP11 }.to_vec()];
    Ok(config)
}

/// `tls_insecure_skip_verify`: any certificate, any name. The handshake
/// signatures are still checked, so the peer holds the key of the certificate
/// it sent, whatever that certificate is.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_upstream_tls;

    fn entry(extra: &str) -> ServerConfig {
        toml::from_str(&format!("address = \"backend.internal:443\"\n{extra}")).unwrap()
    }

    #[test]
    fn stray_tls_keys_without_tls_are_named() {
        for (extra, key) in [
            ("tls_ca = \"ca.pem\"", "servers.tls_ca"),
            ("tls_server_name = \"x\"", "servers.tls_server_name"),
            (
                "tls_insecure_skip_verify = true",
                "servers.tls_insecure_skip_verify",
            ),
            ("tls_client_cert = \"c.pem\"", "servers.tls_client_cert"),
            ("tls_client_key = \"c.key\"", "servers.tls_client_key"),
        ] {
            let (k, _) = validate_upstream_tls(&entry(extra)).unwrap_err();
            assert_eq!(k, key, "{extra}");
        }
        assert!(validate_upstream_tls(&entry("")).is_ok());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_with_its_path() {
        let (k, msg) =
            validate_upstream_tls(&entry("tls = true\ntls_ca = \"/nonexistent/ca.pem\""))
                .unwrap_err();
        assert_eq!(k, "servers.tls_ca");
        assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
        let dir = std::env::temp_dir().join(format!("bigstep-upstream-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let (k, msg) = validate_upstream_tls(&entry(&format!(
            "tls = true\ntls_ca = \"{}\"",
            empty.display()
        )))
        .unwrap_err();
        assert_eq!(k, "servers.tls_ca");
        assert!(msg.contains("no certificate"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_verified_name_defaults_to_the_address_host() {
        let name = upstream_server_name(&entry("tls = true")).unwrap();
        assert_eq!(name.to_str(), "backend.internal");
        let name =
            upstream_server_name(&entry("tls = true\ntls_server_name = \"api.example.com\""))
                .unwrap();
        assert_eq!(name.to_str(), "api.example.com");
        let ip: ServerConfig = toml::from_str("address = \"[::1]:8443\"\ntls = true").unwrap();
        assert!(matches!(
            upstream_server_name(&ip).unwrap(),
            ServerName::IpAddress(_)
        ));
        let (k, _) = validate_upstream_tls(&entry("tls = true\ntls_server_name = \"bad name!\""))
            .unwrap_err();
        assert_eq!(k, "servers.tls_server_name");
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_both_must_load() {
        let (k, _) =
            validate_upstream_tls(&entry("tls = true\ntls_client_cert = \"c.pem\"")).unwrap_err();
        assert_eq!(k, "servers.tls_client_key");
        let (k, _) =
            validate_upstream_tls(&entry("tls = true\ntls_client_key = \"c.key\"")).unwrap_err();
        assert_eq!(k, "servers.tls_client_cert");
        let (k, msg) = validate_upstream_tls(&entry(
            "tls = true\ntls_client_cert = \"/nonexistent/c.pem\"\ntls_client_key = \"/nonexistent/c.key\"",
        ))
        .unwrap_err();
        assert_eq!(k, "servers.tls_client_cert");
        assert!(msg.contains("/nonexistent/c.pem"), "{msg}");
    }

    #[test]
    fn skip_verify_and_a_ca_together_are_refused() {
        let (k, _) = validate_upstream_tls(&entry(
            "tls = true\ntls_ca = \"ca.pem\"\ntls_insecure_skip_verify = true",
        ))
        .unwrap_err();
        assert_eq!(k, "servers.tls_ca");
        assert!(
            validate_upstream_tls(&entry("tls = true\ntls_insecure_skip_verify = true")).is_ok()
        );
    }
}
