//! Automatic certificates (ACME, RFC 8555) for the front door, like Caddy:
//! obtain a certificate for the configured names at start, serve a
//! self-signed [`placeholder`] until it arrives, renew at two thirds of its
//! lifetime, retry failures with capped exponential backoff, keep the account
//! and certificates on disk.
//!
//! The protocol is `instant-acme` (rustls with the ring provider, like the
//! front door); this crate adds the schedule, the storage and the challenge
//! answers. The front door wires it like this:
//!
//! ```text
//! let challenges = Challenges::new();
//! let slot = CertSlot::new();
//! slot.set(&placeholder(&domains)?)?;
//! plain listener:  if let Some(body) = http01_response(&challenges, path) { 200 body }
//! TLS listener:    resolver = acme_resolver(challenges.clone(), slot.clone(), Some(own_resolver)),
//!                  alpn_protocols += ACME_TLS_ALPN; close connections that negotiated it
//! spawn run(config, challenges, move |issued| slot.set(&issued), shutdown)
//! ```
//!
//! [`run`] is the loop: see its docs, and `LIFECYCLE.md` beside this crate,
//! for the life of a certificate. Several front doors serving the same names
//! share the account, the certificate and an ordering lock through a
//! Redis-protocol server when [`AcmeConfig::store`] is set (see the `shared`
//! module for the keys).
#![forbid(unsafe_code)]

mod cert;
mod challenge;
mod config;
mod order;
mod resolver;
mod shared;
mod storage;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cert::{placeholder, renew_at, Issued};
pub use challenge::{
    http01_response, is_http01_path, is_tls_alpn01_hello, Challenges, ACME_TLS_ALPN, HTTP01_PREFIX,
};
pub use config::{
    directory_url, AcmeConfig, AcmeSettings, Backoff, ChallengeKind, Clock, Stats,
    LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING,
};
pub use resolver::{acme_resolver, AcmeResolver, CertSlot};

/// The shutdown signal [`run`] takes.
pub use tokio_util::sync::CancellationToken;

use shared::{Shared, SharedChallenge};
use storage::DirStore;

/// Why something failed. Only [`Error::Config`] and [`Error::Storage`] at
/// start end [`run`]; everything else is logged and retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work.
    #[error("acme config: {0}")]
    Config(String),
    /// The storage directory could not be read or written.
    #[error("acme storage {}: {source}", path.display())]
    Storage {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ACME server or the connection to it failed.
    #[error("acme: {0}")]
    Acme(#[from] instant_acme::Error),
    /// The order did not produce a certificate (e.g. a challenge failed).
    #[error("acme order: {0}")]
    Order(String),
    /// A certificate or key could not be parsed, or they do not match.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A certificate or key could not be generated.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// The shared store (Redis protocol) failed or did not answer.
    #[error("acme shared store: {0}")]
    Store(String),
    /// The order took longer than [`AcmeConfig::order_timeout`].
    #[error("acme order: no result within {0:?}")]
    Timeout(Duration),
}

impl Error {
    pub(crate) fn storage(path: &Path, source: std::io::Error) -> Error {
        Error::Storage {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Keep a certificate for `config.domains` until `shutdown`.
///
/// 1. At start, a stored certificate that covers the names and has not
///    expired is handed to `on_issued` at once (no ACME traffic at all).
/// 2. When there is none, or the current one is past
///    [`AcmeConfig::renew_fraction`] of its lifetime, an order is placed
///    (the ACME account is loaded or created on first use). While it runs the
///    challenge answers are in `challenges`.
/// 3. A new certificate is stored (key 0600), then handed to `on_issued`.
/// 4. A failed order waits [`AcmeConfig::backoff`] (doubling, capped) and
///    tries again with a new order; a still-valid certificate keeps serving.
///
/// Returns `Ok(())` on shutdown, `Err` only for a configuration or storage
/// directory that cannot work.
pub async fn run(
    config: AcmeConfig,
    challenges: Challenges,
    on_issued: impl Fn(Issued) + Send + Sync + 'static,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    config.validate()?;
    // instant-acme's HTTP client takes the process-wide provider; ours is
    // ring. Already installed (by the front door, or an earlier run) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = DirStore::new(&config.storage, &config.directory);
    store.check_writable()?;
    let shared = match &config.store {
        Some(url) => Some(Shared::new(
            url,
            &config.store_prefix,
            &storage::issuer_dir(&config.directory),
        )?),
        None => None,
    };
    let name = &config.domains[0];
    // One attempt's bound; also the shared lock's TTL, so a front door that
    // dies mid-order frees the names by itself.
    let attempt_timeout = config.order_timeout + Duration::from_secs(60);

    let mut current = load_stored(&store, &config);
    if let Some(sh) = &shared {
        if let Some(newer) = newer_shared(sh, &config, current.as_ref()).await {
            keep_locally(&store, name, &newer);
            current = Some(newer);
        }
    }
    if let Some(issued) = &current {
        config.stats.got(true, issued.not_after);
        on_issued(issued.clone());
    }

    let mut accounts = order::Accounts::new();
    let mut failures: u32 = 0;
    let mut mirrored = HashMap::new();
    let mut waiting = false;
    loop {
        let now = config.clock.now();
        let due = current
            .as_ref()
            .map_or(now, |c| c.renew_at(config.renew_fraction));
        if let Ok(wait) = due.duration_since(now) {
            if !wait.is_zero() {
                config.stats.scheduled(due);
                let wait = wait.min(config.recheck);
                tracing::debug!(
                    name,
                    wait_secs = wait.as_secs(),
                    "acme: next look at the certificate"
                );
                if sleep_or_shutdown(wait, &shutdown).await {
                    return Ok(());
                }
                // Another front door may have renewed in the meantime.
                if let Some(sh) = &shared {
                    if let Some(newer) = newer_shared(sh, &config, current.as_ref()).await {
                        adopt(&store, &config, &on_issued, &mut current, newer);
                    }
                }
                continue;
            }
        }

        let lock = match &shared {
            None => None,
            Some(sh) => match sh.lock(name, attempt_timeout).await {
                Ok(Some(token)) => Some((sh, token)),
                Ok(None) => {
                    // Another front door holds the lock: answer its
                    // challenges here too, and watch for its certificate.
                    if !waiting {
                        tracing::info!(
                            name,
                            "acme: another front door is ordering; waiting for its certificate"
                        );
                        waiting = true;
                    }
                    mirror(sh, &config, &challenges, &mut mirrored).await;
                    if let Some(newer) = newer_shared(sh, &config, current.as_ref()).await {
                        unmirror(&challenges, &mut mirrored);
                        waiting = false;
                        adopt(&store, &config, &on_issued, &mut current, newer);
                        continue;
                    }
                    if sleep_or_shutdown(config.store_poll, &shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => {
                    if back_off(&mut failures, &config, name, &e, &shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
            },
        };
        unmirror(&challenges, &mut mirrored);
        waiting = false;
        if let Some((sh, token)) = &lock {
            // The lock's last holder may have finished just now.
            if let Some(newer) = newer_shared(sh, &config, current.as_ref()).await {
                adopt(&store, &config, &on_issued, &mut current, newer);
                unlock(sh, name, token).await;
                continue;
            }
        }
        if let Some(c) = &current {
            tracing::info!(name, not_after = %httpdate(c.not_after), "acme: certificate due for renewal");
        }

        config.stats.order_started();
        let attempt = tokio::time::timeout(
            attempt_timeout,
            order::obtain(&mut accounts, &store, shared.as_ref(), &config, &challenges),
        );
        let result = tokio::select! {
            _ = shutdown.cancelled() => {
                if let Some((sh, token)) = &lock {
                    unlock(sh, name, token).await;
                }
                return Ok(());
            }
            r = attempt => r.unwrap_or(Err(Error::Timeout(config.order_timeout))),
        };
        match result {
            Ok(issued) => {
                failures = 0;
                tracing::info!(
                    name,
                    domains = ?issued.domains,
                    not_after = %httpdate(issued.not_after),
                    "acme: certificate issued"
                );
                keep_locally(&store, name, &issued);
                if let Some((sh, token)) = &lock {
                    if let Err(e) = sh.save_cert(name, &issued).await {
                        tracing::error!(error = %e, "acme: could not put the new certificate in the shared store");
                    }
                    unlock(sh, name, token).await;
                }
                config.stats.got(false, issued.not_after);
                on_issued(issued.clone());
                current = Some(issued);
            }
            Err(e) => {
                if let Some((sh, token)) = &lock {
                    unlock(sh, name, token).await;
                }
                if back_off(&mut failures, &config, name, &e, &shutdown).await {
                    return Ok(());
                }
            }
        }
    }
}

/// Count a failure and wait the backoff; `true` when shutdown came first.
async fn back_off(
    failures: &mut u32,
    config: &AcmeConfig,
    name: &str,
    error: &Error,
    shutdown: &CancellationToken,
) -> bool {
    *failures = failures.saturating_add(1);
    config.stats.order_failed();
    let wait = config.backoff.delay(*failures);
    tracing::warn!(
        name,
        error = %error,
        failures = *failures,
        retry_in_secs = wait.as_secs_f64(),
        "acme: order failed; retrying"
    );
    sleep_or_shutdown(wait, shutdown).await
}

/// Write to the storage directory; a failure is logged, and the certificate
/// served anyway (the next start orders again).
fn keep_locally(store: &DirStore, name: &str, issued: &Issued) {
    if let Err(e) = store.save_cert(name, issued) {
        tracing::error!(error = %e, "acme: could not store the certificate");
    }
}

/// Take a certificate another front door obtained.
fn adopt(
    store: &DirStore,
    config: &AcmeConfig,
    on_issued: &impl Fn(Issued),
    current: &mut Option<Issued>,
    newer: Issued,
) {
    let name = &config.domains[0];
    keep_locally(store, name, &newer);
    config.stats.got(true, newer.not_after);
    on_issued(newer.clone());
    *current = Some(newer);
}

async fn unlock(sh: &Shared, name: &str, token: &str) {
    match sh.unlock(name, token).await {
        Ok(true) => tracing::debug!(name, "acme: shared lock released"),
        Ok(false) => tracing::warn!(
            name,
            "acme: the shared lock had expired before the order ended"
        ),
        Err(e) => {
            tracing::warn!(name, error = %e, "acme: could not release the shared lock; it expires by itself")
        }
    }
}

/// The shared store's certificate when it is usable and newer than ours.
async fn newer_shared(
    sh: &Shared,
    config: &AcmeConfig,
    current: Option<&Issued>,
) -> Option<Issued> {
    let name = &config.domains[0];
    let (chain, key) = match sh.load_cert(name).await {
        Ok(Some(pair)) => pair,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(name, error = %e, "acme: could not read the shared store");
            return None;
        }
    };
    let issued = usable(&chain, &key, config, "shared store")?;
    match current {
        Some(c) if c.not_after >= issued.not_after => None,
        _ => {
            tracing::info!(name, not_after = %httpdate(issued.not_after), "acme: took the certificate from the shared store");
            Some(issued)
        }
    }
}

/// Copy another front door's pending challenges into ours.
async fn mirror(
    sh: &Shared,
    config: &AcmeConfig,
    challenges: &Challenges,
    mirrored: &mut HashMap<String, SharedChallenge>,
) {
    for domain in &config.domains {
        match sh.challenge(domain).await {
            Ok(Some(c)) if mirrored.get(domain) != Some(&c) => {
                if let Some(old) = mirrored.remove(domain) {
                    unpublish(challenges, domain, &old);
                }
                match c.kind.as_str() {
                    "http-01" => challenges.put_http01(&c.token, &c.key_authorization),
                    "tls-alpn-01" => {
                        let digest = ring::digest::digest(
                            &ring::digest::SHA256,
                            c.key_authorization.as_bytes(),
                        );
                        match challenge::tls_alpn01_certificate(domain, digest.as_ref()) {
                            Ok(key) => challenges.put_tls_alpn01(domain, key),
                            Err(e) => {
                                tracing::warn!(domain, error = %e, "acme: could not make the challenge certificate");
                                continue;
                            }
                        }
                    }
                    other => {
                        tracing::warn!(
                            domain,
                            kind = other,
                            "acme: unknown challenge kind in the shared store"
                        );
                        continue;
                    }
                }
                tracing::info!(domain, kind = %c.kind, "acme: answering another front door's challenge");
                mirrored.insert(domain.clone(), c);
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                if let Some(old) = mirrored.remove(domain) {
                    unpublish(challenges, domain, &old);
                }
            }
            Err(e) => tracing::debug!(domain, error = %e, "acme: could not read shared challenges"),
        }
    }
}

fn unmirror(challenges: &Challenges, mirrored: &mut HashMap<String, SharedChallenge>) {
    for (domain, c) in mirrored.drain() {
        unpublish(challenges, &domain, &c);
    }
}

fn unpublish(challenges: &Challenges, domain: &str, c: &SharedChallenge) {
    challenges.remove_http01(&c.token);
    if c.kind == "tls-alpn-01" {
        challenges.remove_tls_alpn01(domain);
    }
}

/// The stored certificate, if it is usable.
fn load_stored(store: &DirStore, config: &AcmeConfig) -> Option<Issued> {
    let name = &config.domains[0];
    match store.load_cert(name) {
        Ok(Some((chain, key))) => {
            let issued = usable(&chain, &key, config, "storage")?;
            tracing::info!(name, not_after = %httpdate(issued.not_after), "acme: loaded the stored certificate");
            Some(issued)
        }
        Ok(None) => {
            tracing::info!(name, "acme: no stored certificate");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "acme: could not read the stored certificate");
            None
        }
    }
}

/// A stored pair that parses, matches its key, names every configured
/// domain, and has not expired (by the config's clock).
fn usable(chain: &str, key: &str, config: &AcmeConfig, source: &str) -> Option<Issued> {
    let name = &config.domains[0];
    let issued = match Issued::from_pem(chain, key) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(name, source, error = %e, "acme: stored certificate unusable; ordering a new one");
            return None;
        }
    };
    if !issued.covers(&config.domains) {
        tracing::info!(name, source, has = ?issued.domains, wants = ?config.domains, "acme: stored certificate does not name every domain; ordering a new one");
        return None;
    }
    if issued.not_after <= config.clock.now() {
        tracing::info!(name, source, not_after = %httpdate(issued.not_after), "acme: stored certificate expired; ordering a new one");
        return None;
    }
    tracing::debug!(name, source, not_after = %httpdate(issued.not_after), "acme: stored certificate usable");
    Some(issued)
}

/// `true` when shutdown came first.
async fn sleep_or_shutdown(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

/// A time for logs: RFC 3339 UTC.
fn httpdate(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{t:?}"))
}
