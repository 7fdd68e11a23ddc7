//! TLS termination: certificates loaded from `[balance.tls]`, chosen by SNI,
//! and swapped atomically on reload (a connection in progress keeps the
//! configuration it started with; the next handshake gets the new one).
//!
//! Loading is all-or-nothing: a missing file, a key that does not match its
//! certificate or an unreadable CA refuses the whole change, naming the file,
//! and the running certificates keep serving.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::config::{TlsConfig, TlsVersion, UnknownSni};

/// ALPN ids we answer.
const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Certificates and settings as loaded; replaced whole on reload.
pub(crate) struct Loaded {
    pub(crate) server_config: Arc<ServerConfig>,
    pub(crate) certs: Vec<CertInfo>,
    /// Every file read, with its modification time then: the watcher compares.
    files: Vec<(PathBuf, Option<SystemTime>)>,
}

/// What the dashboard, the API and metrics show about one certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CertInfo {
    /// The first name it serves (the metric's `name` label).
    pub(crate) name: String,
    pub(crate) names: Vec<String>,
    pub(crate) file: PathBuf,
    /// Expiry, seconds since the epoch.
    pub(crate) not_after: i64,
    pub(crate) default: bool,
}

impl Loaded {
    /// The files' modification times now; differs from load time when one changed.
    pub(crate) fn stamps_now(&self) -> Vec<Option<SystemTime>> {
        self.files.iter().map(|(p, _)| modified(p)).collect()
    }

    /// The files' modification times when they were loaded.
    pub(crate) fn stamps_loaded(&self) -> Vec<Option<SystemTime>> {
        self.files.iter().map(|(_, t)| *t).collect()
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The ring provider, built once.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The ACME side of the TLS listener: pending challenges and the certificate
/// obtained (a self-signed placeholder until then). Lives as long as the front
/// door; certificate reloads keep it.
#[derive(Clone)]
pub(crate) struct Acme {
    pub(crate) challenges: certs::Challenges,
    pub(crate) slot: certs::CertSlot,
    pub(crate) config: certs::AcmeConfig,
}

impl Acme {
    pub(crate) fn new(settings: &certs::AcmeSettings) -> Result<Acme, String> {
        let config = settings.to_config().map_err(|e| format!("tls.acme: {e}"))?;
        let slot = certs::CertSlot::new();
        let placeholder = certs::placeholder(&config.domains)
            .map_err(|e| format!("tls.acme: placeholder certificate: {e}"))?;
        slot.set(&placeholder)
            .map_err(|e| format!("tls.acme: placeholder certificate: {e}"))?;
        Ok(Acme {
            challenges: certs::Challenges::new(),
            slot,
            config,
        })
    }
}

/// Read every file `cfg` names and build the server configuration. Warnings
/// (e.g. a key readable by others) come back beside it for the caller to log.
pub(crate) fn load(
    cfg: &TlsConfig,
    http2: bool,
    acme: Option<&Acme>,
) -> Result<(Loaded, Vec<String>), String> {
    let provider = provider();
    let mut warnings = Vec::new();
    let mut files = Vec::new();
    let mut resolver = Resolver {
        exact: HashMap::new(),
        wildcard: HashMap::new(),
        default: None,
        refuse_unknown: cfg.unknown_sni == UnknownSni::Refuse,
    };
    let mut certs = Vec::new();
    for (i, entry) in cfg.certificates.iter().enumerate() {
        let entry = entry.get_ref();
        let at = |what: &Path, e: &dyn fmt::Display| {
            format!("tls.certificates[{i}]: {}: {e}", what.display())
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&entry.cert)
            .map_err(|e| at(&entry.cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| at(&entry.cert, &e))?;
        if chain.is_empty() {
            return Err(at(&entry.cert, &"no PEM certificate in the file"));
        }
        let key = PrivateKeyDer::from_pem_file(&entry.key).map_err(|e| at(&entry.key, &e))?;
        if let Some(w) = loose_permissions(&entry.key) {
            warnings.push(w);
        }
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| at(&entry.key, &e))?;
        let certified = CertifiedKey::new(chain.clone(), signing);
        certified.keys_match().map_err(|e| {
            format!(
                "tls.certificates[{i}]: the key {} does not belong to the certificate {} ({e})",
                entry.key.display(),
                entry.cert.display()
            )
        })?;
        let (cert_names, not_after) = describe(&chain[0]).map_err(|e| at(&entry.cert, &e))?;
        let names = if entry.names.is_empty() {
            cert_names
        } else {
            entry.names.clone()
        };
        if names.is_empty() && !entry.default && cfg.certificates.len() > 1 {
            return Err(at(
                &entry.cert,
                &"the certificate names no DNS name; set `names` or `default = true`",
            ));
        }
        let certified = Arc::new(certified);
        for n in &names {
            let n = n.to_ascii_lowercase();
            match n.strip_prefix("*.") {
                Some(suffix) => resolver.wildcard.entry(suffix.to_string()),
                None => resolver.exact.entry(n),
            }
            .or_insert_with(|| certified.clone());
        }
        if entry.default || resolver.default.is_none() {
            resolver.default = Some(certified.clone());
        }
        files.push((entry.cert.clone(), modified(&entry.cert)));
        files.push((entry.key.clone(), modified(&entry.key)));
        certs.push(CertInfo {
            name: names.first().cloned().unwrap_or_else(|| "default".into()),
            names,
            file: entry.cert.clone(),
            not_after,
            default: entry.default,
        });
    }
    // The entry marked default wins over "the first".
    if let Some(i) = cfg.certificates.iter().position(|c| c.get_ref().default) {
        let n = &certs[i].names;
        let key = n
            .first()
            .and_then(|n| resolver.exact.get(&n.to_ascii_lowercase()).cloned());
        if let Some(k) = key {
            resolver.default = Some(k);
        }
    }
    if !certs.iter().any(|c| c.default) {
        if let Some(first) = certs.first_mut() {
            first.default = true;
        }
    }

    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.min_version {
        TlsVersion::V12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls.min_version: {e}"))?;
    let builder = match &cfg.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("tls.client_ca: {}: {e}", ca.display()))?
            {
                let c = c.map_err(|e| format!("tls.client_ca: {}: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("tls.client_ca: {}: {e}", ca.display()))?;
            }
            files.push((ca.clone(), modified(ca)));
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            );
            let verifier = if cfg.client_cert_required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("tls.client_ca: {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let has_files = !certs.is_empty();
    let mut server_config = match acme {
        // Challenges first, then the ACME certificate's names, then the files.
        Some(a) => builder.with_cert_resolver(certs::acme_resolver(
            a.challenges.clone(),
            a.slot.clone(),
            has_files.then(|| Arc::new(resolver) as Arc<dyn ResolvesServerCert>),
        )),
        None => builder.with_cert_resolver(Arc::new(resolver)),
    };
    server_config.alpn_protocols = if http2 {
        vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
    } else {
        vec![ALPN_HTTP11.to_vec()]
    };
    if acme.is_some() {
        server_config
            .alpn_protocols
            .push(certs::ACME_TLS_ALPN.to_vec());
    }
    server_config.session_storage = if cfg.session_cache > 0 {
        ServerSessionMemoryCache::new(cfg.session_cache)
    } else {
        Arc::new(rustls::server::NoServerSessionStorage {})
    };
    if cfg.session_tickets {
        server_config.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("tls.session_tickets: {e}"))?;
        // TLS 1.3 resumption by ticket: a couple per handshake, as browsers expect.
        server_config.send_tls13_tickets = 2;
    }
    Ok((
        Loaded {
            server_config: Arc::new(server_config),
            certs,
            files,
        },
        warnings,
    ))
}

/// The DNS names (subjectAltName, else the common name) and expiry of a certificate.
fn describe(cert: &CertificateDer<'_>) -> Result<(Vec<String>, i64), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("not a readable X.509 certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        if let Some(cn) = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
        {
            names.push(cn.to_ascii_lowercase());
        }
    }
    Ok((names, parsed.validity().not_after.timestamp()))
}

/// The subject of a verified client certificate, as `CN=…, O=…`.
pub(crate) fn subject_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.subject().to_string())
}

/// A key file others can read deserves a word in the log (its content never).
fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "the key file {} can be read by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

/// Chooses the certificate by SNI: exact name, then `*.` one level up, then
/// the default (or nothing, when unknown names are refused).
#[derive(Debug)]
struct Resolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    refuse_unknown: bool,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return self.default.clone();
        };
        let name = name.to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k.clone());
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(k) = self.wildcard.get(parent) {
                return Some(k.clone());
            }
        }
        if self.refuse_unknown {
            None
        } else {
            self.default.clone()
        }
    }
}

/// What one TLS connection negotiated: for the access log and the headers.
#[derive(Debug)]
pub(crate) struct TlsInfo {
    pub(crate) version: &'static str,
    pub(crate) cipher: String,
    pub(crate) sni: Option<String>,
    /// The verified client certificate's subject (mutual TLS).
    pub(crate) client_subject: Option<http::HeaderValue>,
}

impl TlsInfo {
    pub(crate) fn of(conn: &rustls::ServerConnection) -> TlsInfo {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| s.suite().as_str().unwrap_or("unknown").to_string())
            .unwrap_or_default();
        let client_subject = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(subject_of)
            .and_then(|s| http::HeaderValue::from_str(&s).ok());
        TlsInfo {
            version,
            cipher,
            sni: conn.server_name().map(str::to_string),
            client_subject,
        }
    }
}

/// Is this handshake an ACME TLS-ALPN-01 validation (closed right after it)?
pub(crate) fn is_acme_validation(conn: &rustls::ServerConnection) -> bool {
    conn.alpn_protocol() == Some(certs::ACME_TLS_ALPN)
}

/// Did the client pick HTTP/2 by ALPN?
pub(crate) fn negotiated_h2(conn: &rustls::ServerConnection) -> bool {
    conn.alpn_protocol() == Some(ALPN_H2)
}

/// The h2c connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Does this plain connection open with the HTTP/2 preface (h2c with prior
/// knowledge)? Peeks, so an HTTP/1 request stays unread for hyper. `None`:
/// the client sent nothing in time or closed; the connection just ends.
pub(crate) async fn h2c_preface(
    stream: &tokio::net::TcpStream,
    timeout: std::time::Duration,
) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if !H2_PREFACE.starts_with(&buf[..n]) {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        // Part of the preface so far: peek again once more has arrived.
        tokio::time::timeout_at(
            deadline,
            tokio::time::sleep(std::time::Duration::from_millis(2)),
        )
        .await
        .ok()?;
    }
}
