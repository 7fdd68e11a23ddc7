//! Answers to the ACME server's challenges, shared between the order loop
//! (which publishes them) and the front door's listeners (which serve them).
//!
//! - HTTP-01 (RFC 8555 §8.3): `GET /.well-known/acme-challenge/<token>` on
//!   port 80 answers the key authorization as plain text. [`http01_response`]
//!   is the whole lookup; the front door answers it on its plain listener
//!   before any redirect or routing.
//! - TLS-ALPN-01 (RFC 8737): a TLS handshake on port 443 whose ClientHello
//!   offers only ALPN `acme-tls/1` gets a self-signed certificate for the name
//!   carrying the key authorization's digest. [`crate::AcmeResolver`] wraps
//!   the front door's own certificate resolver and answers those handshakes;
//!   the connection is closed after the handshake (no HTTP on it).
//!
//! Both maps are small (one entry per name being validated) and only touched
//! while an order is in flight, so a std `RwLock` is enough; no lock is held
//! across an `.await`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::ClientHello;
use rustls::sign::CertifiedKey;

use crate::Error;

/// The ALPN protocol of TLS-ALPN-01 handshakes. A TLS listener that answers
/// them must list it in its `ServerConfig::alpn_protocols` (rustls refuses a
/// handshake whose only offered protocol it does not know) and close any
/// connection that negotiated it, after the handshake.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The path prefix of HTTP-01 challenges.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// Challenge answers published while an order is in flight. Cheap to clone;
/// every clone sees the same answers.
#[derive(Clone, Default)]
pub struct Challenges {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// HTTP-01: token → key authorization.
    http01: RwLock<HashMap<String, String>>,
    /// TLS-ALPN-01: lower-case server name → challenge certificate.
    tls_alpn01: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl fmt::Debug for Challenges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens only: key authorizations are not secrets, but there is no
        // reason to print them either.
        f.debug_struct("Challenges")
            .field("http01", &self.inner.http01.read().map(|m| m.len()).ok())
            .field(
                "tls_alpn01",
                &self.inner.tls_alpn01.read().map(|m| m.len()).ok(),
            )
            .finish()
    }
}

impl Challenges {
    /// An empty set.
    pub fn new() -> Challenges {
        Challenges::default()
    }

    /// The key authorization to answer for HTTP-01 `token`, if one is pending.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.inner.http01.read().ok()?.get(token).cloned()
    }

    /// The challenge certificate for a TLS-ALPN-01 handshake naming
    /// `server_name`, if one is pending.
    pub fn tls_alpn01(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        self.inner
            .tls_alpn01
            .read()
            .ok()?
            .get(&server_name.to_ascii_lowercase())
            .cloned()
    }

    pub(crate) fn put_http01(&self, token: &str, key_authorization: &str) {
        if let Ok(mut m) = self.inner.http01.write() {
            m.insert(token.to_string(), key_authorization.to_string());
        }
    }

    pub(crate) fn remove_http01(&self, token: &str) {
        if let Ok(mut m) = self.inner.http01.write() {
            m.remove(token);
        }
    }

    pub(crate) fn put_tls_alpn01(&self, name: &str, key: Arc<CertifiedKey>) {
        if let Ok(mut m) = self.inner.tls_alpn01.write() {
            m.insert(name.to_ascii_lowercase(), key);
        }
    }

    pub(crate) fn remove_tls_alpn01(&self, name: &str) {
        if let Ok(mut m) = self.inner.tls_alpn01.write() {
            m.remove(&name.to_ascii_lowercase());
        }
    }
}

/// The body to answer for a request to `path` (the request target's path,
/// without the query), or `None` when `path` is not a pending HTTP-01
/// challenge. Answer `Some` with `200`, `Content-Type: text/plain`; a `None`
/// under [`HTTP01_PREFIX`] deserves a `404` (never a redirect to HTTPS: the
/// point of HTTP-01 is that it works before there is a certificate).
pub fn http01_response(challenges: &Challenges, path: &str) -> Option<String> {
    let token = path.strip_prefix(HTTP01_PREFIX)?;
    // Tokens are base64url (RFC 8555 §8.1); anything else cannot match.
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    challenges.http01(token)
}

/// Whether `path` is under the HTTP-01 prefix (so the plain listener must not
/// redirect it, whether or not a challenge is pending).
pub fn is_http01_path(path: &str) -> bool {
    path.starts_with(HTTP01_PREFIX)
}

/// Whether a ClientHello is a TLS-ALPN-01 validation: it offers exactly
/// `acme-tls/1` (RFC 8737 §3: the validation server offers only that).
pub fn is_tls_alpn01_hello(hello: &ClientHello<'_>) -> bool {
    hello.alpn().is_some_and(|mut protocols| {
        protocols.next() == Some(ACME_TLS_ALPN) && protocols.next().is_none()
    })
}

/// The self-signed certificate for a TLS-ALPN-01 challenge on `name`: the
/// name as its only SAN and the critical `acmeIdentifier` extension holding
/// SHA-256 of the key authorization (RFC 8737 §3).
pub(crate) fn tls_alpn01_certificate(
    name: &str,
    key_authorization_digest: &[u8],
) -> Result<Arc<CertifiedKey>, Error> {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        key_authorization_digest,
    )];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    // Not `CertifiedKey::from_der`: its key check parses the certificate
    // with webpki, which refuses the critical acmeIdentifier extension. The
    // key was made just above for this certificate.
    let signer = rustls::crypto::ring::sign::any_supported_type(
        &rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .map_err(|e| Error::Certificate(format!("challenge key: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http01_answers_only_pending_well_formed_tokens() {
        let c = Challenges::new();
        c.put_http01("abc_DEF-123", "abc_DEF-123.thumb");
        assert_eq!(
            http01_response(&c, "/.well-known/acme-challenge/abc_DEF-123").as_deref(),
            Some("abc_DEF-123.thumb")
        );
        assert_eq!(
            http01_response(&c, "/.well-known/acme-challenge/other"),
            None
        );
        assert_eq!(http01_response(&c, "/.well-known/acme-challenge/"), None);
        assert_eq!(
            http01_response(&c, "/.well-known/acme-challenge/abc_DEF-123/x"),
            None
        );
        assert_eq!(http01_response(&c, "/abc_DEF-123"), None);
        assert!(is_http01_path("/.well-known/acme-challenge/zzz"));
        assert!(!is_http01_path("/.well-known/other"));
        c.remove_http01("abc_DEF-123");
        assert_eq!(
            http01_response(&c, "/.well-known/acme-challenge/abc_DEF-123"),
            None
        );
    }

    #[test]
    fn tls_alpn01_names_are_case_insensitive_and_clones_share() {
        let c = Challenges::new();
        let clone = c.clone();
        let key = tls_alpn01_certificate("app.example.test", &[7u8; 32]).unwrap();
        c.put_tls_alpn01("App.Example.TEST", key);
        assert!(clone.tls_alpn01("app.example.test").is_some());
        assert!(clone.tls_alpn01("other.example.test").is_none());
        clone.remove_tls_alpn01("app.example.test");
        assert!(c.tls_alpn01("APP.example.test").is_none());
    }
}
