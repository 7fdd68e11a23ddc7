//! The TLS listener's side: where the certificate [`crate::run`] keeps is
//! read on every handshake ([`CertSlot`]), and the resolver that puts it
//! together with the challenge answers and the front door's own certificates
//! ([`AcmeResolver`]).
//!
//! The slot outlives reloads of the front door's TLS settings: the resolver
//! is rebuilt around the same slot, so an ACME certificate obtained once keeps
//! serving whatever else changes.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::challenge::{is_tls_alpn01_hello, Challenges};
use crate::{Error, Issued};

struct Entry {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

/// The current ACME certificate (or the placeholder). Cheap to clone; clones
/// share. Set it from `on_issued`; every handshake after that gets the new one.
#[derive(Clone, Default)]
pub struct CertSlot {
    inner: Arc<ArcSwapOption<Entry>>,
}

impl fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.inner.load().as_ref().map(|e| e.names.clone());
        f.debug_struct("CertSlot").field("names", &names).finish()
    }
}

impl CertSlot {
    /// An empty slot.
    pub fn new() -> CertSlot {
        CertSlot::default()
    }

    /// Serve `issued` from now on. A chain and key that do not make a usable
    /// rustls key are refused and the old one keeps serving.
    pub fn set(&self, issued: &Issued) -> Result<(), Error> {
        let key = issued.certified_key()?;
        self.inner.store(Some(Arc::new(Entry {
            names: issued.domains.clone(),
            key,
        })));
        Ok(())
    }

    /// The certificate, if one was set.
    pub fn get(&self) -> Option<Arc<CertifiedKey>> {
        self.inner.load().as_ref().map(|e| e.key.clone())
    }

    /// The certificate when it names `server_name`.
    fn for_name(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let entry = self.inner.load();
        let entry = entry.as_ref()?;
        entry
            .names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(server_name))
            .then(|| entry.key.clone())
    }
}

/// Chooses, per handshake:
/// 1. a TLS-ALPN-01 validation (ALPN exactly `acme-tls/1`): the pending
///    challenge certificate for its name, or no certificate;
/// 2. a name the ACME certificate covers: the ACME certificate;
/// 3. anything else: the front door's own resolver (`inner`: its files,
///    its default, its refusal of unknown names). With no `inner`, or when
///    the client sent no name and `inner` has nothing, the ACME certificate.
pub struct AcmeResolver {
    challenges: Challenges,
    slot: CertSlot,
    inner: Option<Arc<dyn ResolvesServerCert>>,
}

impl fmt::Debug for AcmeResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeResolver")
            .field("slot", &self.slot)
            .field("inner", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

/// The resolver for a TLS listener with ACME (see [`AcmeResolver`]). The
/// listener's `ServerConfig::alpn_protocols` must include
/// [`crate::ACME_TLS_ALPN`], and a connection that negotiated it must be
/// closed after the handshake.
pub fn acme_resolver(
    challenges: Challenges,
    slot: CertSlot,
    inner: Option<Arc<dyn ResolvesServerCert>>,
) -> Arc<AcmeResolver> {
    Arc::new(AcmeResolver {
        challenges,
        slot,
        inner,
    })
}

impl ResolvesServerCert for AcmeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if is_tls_alpn01_hello(&hello) {
            let name = hello.server_name()?;
            let key = self.challenges.tls_alpn01(name);
            tracing::debug!(
                name,
                answered = key.is_some(),
                "acme: tls-alpn-01 handshake"
            );
            return key;
        }
        let sni = hello.server_name().map(str::to_string);
        if let Some(key) = sni.as_deref().and_then(|n| self.slot.for_name(n)) {
            return Some(key);
        }
        match &self.inner {
            None => self.slot.get(),
            Some(inner) => {
                let key = inner.resolve(hello);
                if key.is_none() && sni.is_none() {
                    return self.slot.get();
                }
                key
            }
        }
    }
}
