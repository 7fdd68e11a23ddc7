//! A certificate and its key as the front door uses them: PEM text for
//! storage, parsed validity for the renewal schedule, and a rustls
//! [`CertifiedKey`] for serving. Also the self-signed placeholder served until
//! the first real certificate arrives.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::Error;

/// A certificate chain with its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The DNS names the end-entity certificate covers (its SANs).
    pub domains: Vec<String>,
    /// End-entity certificate first, then the intermediates (PEM).
    pub chain_pem: String,
    /// The private key (PEM, PKCS#8). Never logged: `Debug` leaves it out.
    pub key_pem: String,
    /// Start of the validity period.
    pub not_before: SystemTime,
    /// End of the validity period.
    pub not_after: SystemTime,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("domains", &self.domains)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// Parse a PEM chain and key, checking that the key belongs to the
    /// end-entity certificate.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Issued, Error> {
        let chain = parse_chain(chain_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| Error::Certificate(format!("private key: {e}")))?;
        // Fails on a key that does not match the certificate.
        certified_key_from_der(chain.clone(), key)?;
        let (_, x509) = x509_parser::parse_x509_certificate(&chain[0])
            .map_err(|e| Error::Certificate(format!("end-entity certificate: {e}")))?;
        let validity = x509.validity();
        let domains = x509
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => {
                            Some(d.to_ascii_lowercase())
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Issued {
            domains,
            chain_pem: chain_pem.to_string(),
            key_pem: key_pem.to_string(),
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
        })
    }

    /// The rustls form, for a certificate resolver.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, Error> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::Certificate(format!("private key: {e}")))?;
        certified_key_from_der(parse_chain(&self.chain_pem)?, key)
    }

    /// Whether the certificate names every one of `domains` (exactly; the
    /// ACME path never asks for wildcards).
    pub fn covers(&self, domains: &[String]) -> bool {
        domains
            .iter()
            .all(|d| self.domains.iter().any(|s| s.eq_ignore_ascii_case(d)))
    }

    /// When to renew: after `fraction` of the validity period has passed
    /// (Let's Encrypt's 90 days at 2/3 leaves 30 days to retry in).
    pub fn renew_at(&self, fraction: f64) -> SystemTime {
        renew_at(self.not_before, self.not_after, fraction)
    }

    /// The end-entity certificate in DER.
    pub fn end_entity_der(&self) -> Result<CertificateDer<'static>, Error> {
        Ok(parse_chain(&self.chain_pem)?.swap_remove(0))
    }
}

/// `not_before + fraction × (not_after − not_before)`; a certificate whose
/// period is empty or reversed is due at once.
pub fn renew_at(not_before: SystemTime, not_after: SystemTime, fraction: f64) -> SystemTime {
    let lifetime = not_after
        .duration_since(not_before)
        .unwrap_or(Duration::ZERO);
    not_before + lifetime.mul_f64(fraction.clamp(0.0, 1.0))
}

/// A self-signed certificate for `domains` (ECDSA P-256), served until the
/// first real one arrives so TLS clients get a handshake (and a clear
/// "untrusted" error) rather than a reset. Valid for a week from now.
pub fn placeholder(domains: &[String]) -> Result<Issued, Error> {
    let names = if domains.is_empty() {
        vec!["localhost".to_string()]
    } else {
        domains.to_vec()
    };
    let mut params = rcgen::CertificateParams::new(names)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        "bigstep placeholder (certificate not yet obtained)",
    );
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(7);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Issued::from_pem(&cert.pem(), &key.serialize_pem())
}

pub(crate) fn parse_chain(chain_pem: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Certificate(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(Error::Certificate(
            "certificate chain: no CERTIFICATE block".into(),
        ));
    }
    Ok(chain)
}

/// A rustls key with the ring provider (explicit, so the process-wide default
/// provider does not matter here), refusing a key that does not match.
pub(crate) fn certified_key_from_der(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, Error> {
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map(Arc::new)
        .map_err(|e| Error::Certificate(format!("certificate and key: {e}")))
}

fn to_system_time(unix: i64) -> SystemTime {
    if unix >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_parses_back_and_covers_its_names() {
        let names = vec!["a.example.test".to_string(), "b.example.test".to_string()];
        let p = placeholder(&names).unwrap();
        assert!(p.covers(&names));
        assert!(!p.covers(&["c.example.test".to_string()]));
        assert!(p.not_after > SystemTime::now());
        p.certified_key().unwrap();
        assert!(!format!("{p:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_key_from_another_certificate_is_refused() {
        let a = placeholder(&["a.example.test".to_string()]).unwrap();
        let b = placeholder(&["a.example.test".to_string()]).unwrap();
        let err = Issued::from_pem(&a.chain_pem, &b.key_pem).unwrap_err();
        assert!(matches!(err, Error::Certificate(_)), "{err}");
        assert!(Issued::from_pem("not pem", &a.key_pem).is_err());
    }

    proptest::proptest! {
        /// The renewal point lies inside the validity period.
        #[test]
        fn renewal_is_within_the_period(
            start in 0u64..4_000_000_000,
            len in 0u64..400_000_000,
            fraction in 0.0f64..1.0,
        ) {
            let nb = UNIX_EPOCH + Duration::from_secs(start);
            let na = nb + Duration::from_secs(len);
            let at = renew_at(nb, na, fraction);
            proptest::prop_assert!(nb <= at && at <= na);
        }
    }

    #[test]
    fn renewal_is_two_thirds_into_the_lifetime() {
        let nb = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let na = nb + Duration::from_secs(90 * 86400);
        assert_eq!(
            renew_at(nb, na, 2.0 / 3.0),
            nb + Duration::from_secs(60 * 86400)
        );
        assert_eq!(
            renew_at(na, nb, 2.0 / 3.0),
            na,
            "reversed period: due at once"
        );
        assert_eq!(renew_at(nb, na, 5.0), na, "fraction clamped");
    }
}
