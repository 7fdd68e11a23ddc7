//! What [`crate::run`] needs to know: the ACME server, the names, where to
//! keep things, which challenge to answer, and the knobs of the schedule
//! (renewal point, backoff, clock) that tests turn.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

/// Let's Encrypt's production directory (the default).
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory: untrusted certificates, generous limits.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// `production` / `letsencrypt` and `staging` as shortcuts; anything else is
/// taken as the directory URL itself.
pub fn directory_url(s: &str) -> String {
    match s.trim() {
        "" | "production" | "letsencrypt" => LETS_ENCRYPT_PRODUCTION.to_string(),
        "staging" | "letsencrypt-staging" => LETS_ENCRYPT_STAGING.to_string(),
        url => url.to_string(),
    }
}

/// Which challenge the front door answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChallengeKind {
    /// HTTP-01 on the plain listener (port 80 from the internet).
    #[default]
    Http01,
    /// TLS-ALPN-01 on the TLS listener (port 443 from the internet).
    TlsAlpn01,
}

impl FromStr for ChallengeKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "http-01" => Ok(ChallengeKind::Http01),
            "tls-alpn-01" => Ok(ChallengeKind::TlsAlpn01),
            other => Err(Error::Config(format!(
                "challenge `{other}`: expected `http-01` or `tls-alpn-01`"
            ))),
        }
    }
}

impl fmt::Display for ChallengeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        })
    }
}

/// Exponential backoff between failed orders: `initial`, doubling, at most
/// `max`. The defaults (2 min, capped at 1 h) keep a broken setup under
/// Let's Encrypt's limit of 5 failed validations per name per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(120),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 = the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max)
    }
}

/// The wall clock the schedule reads. Tests move it instead of sleeping.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(SystemTime::now))
    }

    /// Any clock.
    pub fn from_fn(f: impl Fn() -> SystemTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// Now, by this clock.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Counters for metrics and tests. Cheap to clone; clones share.
#[derive(Clone, Default, Debug)]
pub struct Stats(Arc<StatsInner>);

#[derive(Default, Debug)]
struct StatsInner {
    orders: AtomicU64,
    failures: AtomicU64,
    issued: AtomicU64,
    loaded: AtomicU64,
    not_after: AtomicI64,
    renew_at: AtomicI64,
}

impl Stats {
    /// Orders started.
    pub fn orders(&self) -> u64 {
        self.0.orders.load(Ordering::Relaxed)
    }
    /// Orders that failed (each is retried after a backoff).
    pub fn failures(&self) -> u64 {
        self.0.failures.load(Ordering::Relaxed)
    }
    /// Certificates obtained from the ACME server.
    pub fn issued(&self) -> u64 {
        self.0.issued.load(Ordering::Relaxed)
    }
    /// Certificates taken from storage instead of ordered.
    pub fn loaded(&self) -> u64 {
        self.0.loaded.load(Ordering::Relaxed)
    }
    /// The current certificate's expiry (Unix seconds), 0 before there is one.
    pub fn not_after_unix(&self) -> i64 {
        self.0.not_after.load(Ordering::Relaxed)
    }

    /// When the current certificate is due for renewal (Unix seconds, by
    /// the config's clock), set each time the loop goes to sleep; 0 before.
    pub fn renew_at_unix(&self) -> i64 {
        self.0.renew_at.load(Ordering::Relaxed)
    }

    pub(crate) fn scheduled(&self, at: SystemTime) {
        self.0.renew_at.store(unix(at), Ordering::Relaxed);
    }

    pub(crate) fn order_started(&self) {
        self.0.orders.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn order_failed(&self) {
        self.0.failures.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn got(&self, loaded: bool, not_after: SystemTime) {
        let counter = if loaded {
            &self.0.loaded
        } else {
            &self.0.issued
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.0.not_after.store(unix(not_after), Ordering::Relaxed);
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Everything [`crate::run`] needs.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The ACME directory URL (see [`directory_url`] for the shortcuts).
    pub directory: String,
    /// Contacts for the account (`mailto:` is added to bare addresses).
    pub contact: Vec<String>,
    /// The names on the certificate; the first names its storage directory.
    pub domains: Vec<String>,
    /// Where the account and the certificates are kept.
    pub storage: PathBuf,
    /// Trust for the ACME server itself (one PEM certificate), e.g. a test
    /// CA's root; `None` uses the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Which challenge to answer.
    pub challenge: ChallengeKind,
    /// Renew after this fraction of the lifetime has passed.
    pub renew_fraction: f64,
    /// Waits between failed orders.
    pub backoff: Backoff,
    /// Longest sleep before looking at the clock again (so a clock that
    /// jumps, e.g. after a suspend, is noticed).
    pub recheck: Duration,
    /// Longest one order may take, end to end, before it counts as failed.
    pub order_timeout: Duration,
    /// The wall clock.
    pub clock: Clock,
    /// Counters, shared with whoever exports metrics.
    pub stats: Stats,
    /// A Redis-protocol server (`redis://[:password@]host:port[/db]`) shared
    /// by several front doors with the same names: one orders, the others
    /// load what it obtained. `None`: this front door alone.
    pub store: Option<String>,
    /// Key prefix in the shared store.
    pub store_prefix: String,
    /// How often a front door waiting for another one's order looks at the
    /// shared store.
    pub store_poll: Duration,
}

impl AcmeConfig {
    /// Defaults for everything but the names and the storage directory.
    pub fn new(domains: Vec<String>, storage: impl Into<PathBuf>) -> AcmeConfig {
        AcmeConfig {
            directory: LETS_ENCRYPT_PRODUCTION.to_string(),
            contact: Vec::new(),
            domains,
            storage: storage.into(),
            ca_file: None,
            challenge: ChallengeKind::Http01,
            renew_fraction: 2.0 / 3.0,
            backoff: Backoff::default(),
            recheck: Duration::from_secs(3600),
            order_timeout: Duration::from_secs(300),
            clock: Clock::system(),
            stats: Stats::default(),
            store: None,
            store_prefix: "bigstep".to_string(),
            store_poll: Duration::from_secs(1),
        }
    }

    /// Refuse what cannot work, with the reason.
    pub fn validate(&self) -> Result<(), Error> {
        if self.domains.is_empty() {
            return Err(Error::Config(
                "no domain names to obtain a certificate for".into(),
            ));
        }
        for d in &self.domains {
            if d.starts_with("*.") {
                return Err(Error::Config(format!(
                    "`{d}`: wildcard names need the DNS-01 challenge, which bigstep does not answer"
                )));
            }
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            if !ok {
                return Err(Error::Config(format!("`{d}` is not a DNS name")));
            }
        }
        if !(self.directory.starts_with("https://") || self.directory.starts_with("http://")) {
            return Err(Error::Config(format!(
                "directory `{}` is not a URL (or `production` / `staging`)",
                self.directory
            )));
        }
        if !(self.renew_fraction > 0.0 && self.renew_fraction < 1.0) {
            return Err(Error::Config(format!(
                "renew fraction {} must be between 0 and 1",
                self.renew_fraction
            )));
        }
        if let Some(url) = &self.store {
            if !url.starts_with("redis://") {
                return Err(Error::Config(format!(
                    "store `{}` must be a redis:// URL",
                    crate::shared::redact(url)
                )));
            }
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                return Err(Error::Config(format!(
                    "ca_file {} is not a readable file",
                    ca.display()
                )));
            }
        }
        Ok(())
    }
}

/// The `[balance.tls.acme]` table as an operator writes it. Every key but
/// `storage` has a default; `domains` may be left empty for the front door
/// to fill in (e.g. with every SNI name it serves).
///
/// ```toml
/// [balance.tls.acme]
/// domains = ["www.example.com", "example.com"]
/// email = "ops@example.com"
/// storage = "/var/lib/bigstep/acme"
/// # directory = "staging"          # or "production" (default), or a URL
/// # challenge = "tls-alpn-01"      # default "http-01"
/// # store = "redis://10.0.0.5:6379" # several front doors, one order
/// ```
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSettings {
    /// The names on the certificate.
    #[serde(default)]
    pub domains: Vec<String>,
    /// One contact address (`mailto:` added when missing).
    #[serde(default)]
    pub email: Option<String>,
    /// More contacts.
    #[serde(default)]
    pub contact: Vec<String>,
    /// `production` (default), `staging`, or a directory URL.
    #[serde(default)]
    pub directory: Option<String>,
    /// Where the account and certificates are kept.
    pub storage: PathBuf,
    /// Trust for the ACME server (PEM), instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `http-01` (default) or `tls-alpn-01`.
    #[serde(default)]
    pub challenge: Option<String>,
    /// A shared Redis-protocol store (`redis://…`) for several front doors.
    #[serde(default)]
    pub store: Option<String>,
    /// Key prefix in the shared store (default `bigstep`).
    #[serde(default)]
    pub store_prefix: Option<String>,
}

impl AcmeSettings {
    /// The runtime config, validated.
    pub fn to_config(&self) -> Result<AcmeConfig, Error> {
        let mut c = AcmeConfig::new(
            self.domains
                .iter()
                .map(|d| d.trim().to_ascii_lowercase())
                .collect(),
            self.storage.clone(),
        );
        c.directory = directory_url(self.directory.as_deref().unwrap_or("production"));
        c.contact = self.email.iter().chain(&self.contact).cloned().collect();
        c.ca_file = self.ca_file.clone();
        if let Some(kind) = &self.challenge {
            c.challenge = kind.parse()?;
        }
        c.store = self.store.clone();
        if let Some(p) = &self.store_prefix {
            c.store_prefix = p.clone();
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Waits never shrink as failures add up, never pass the cap, and
        /// never drop below the first wait (when that is under the cap).
        #[test]
        fn backoff_is_monotonic_and_capped(
            initial_ms in 1u64..100_000,
            max_ms in 1u64..10_000_000,
            n in 1u32..200,
        ) {
            let b = Backoff {
                initial: Duration::from_millis(initial_ms),
                max: Duration::from_millis(max_ms),
            };
            proptest::prop_assert!(b.delay(n) <= b.delay(n + 1));
            proptest::prop_assert!(b.delay(n) <= b.max);
            proptest::prop_assert!(b.delay(n) >= b.initial.min(b.max));
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        let d: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(d, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.delay(0).as_secs(), 2);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn validation_names_the_problem() {
        let mut c = AcmeConfig::new(vec!["app.example.com".into()], "/tmp/x");
        c.validate().unwrap();
        c.domains = vec!["*.example.com".into()];
        assert!(c.validate().unwrap_err().to_string().contains("DNS-01"));
        c.domains = vec!["bad name".into()];
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not a DNS name"));
        c.domains = vec![];
        assert!(c.validate().is_err());
        assert_eq!(directory_url("staging"), LETS_ENCRYPT_STAGING);
        assert_eq!(directory_url("https://x/dir"), "https://x/dir");
        assert_eq!(
            "tls-alpn-01".parse::<ChallengeKind>().unwrap(),
            ChallengeKind::TlsAlpn01
        );
        assert!("dns-01".parse::<ChallengeKind>().is_err());
    }

    #[test]
    fn settings_from_toml() {
        let s: AcmeSettings = toml::from_str(
            r#"
            domains = ["WWW.example.com"]
            email = "ops@example.com"
            directory = "staging"
            storage = "/var/lib/bigstep/acme"
            challenge = "tls-alpn-01"
            store = "redis://10.0.0.5:6379"
            "#,
        )
        .unwrap();
        let c = s.to_config().unwrap();
        assert_eq!(c.domains, ["www.example.com"]);
        assert_eq!(c.directory, LETS_ENCRYPT_STAGING);
        assert_eq!(c.contact, ["ops@example.com"]);
        assert_eq!(c.challenge, ChallengeKind::TlsAlpn01);
        assert_eq!(c.store.as_deref(), Some("redis://10.0.0.5:6379"));

        let typo = toml::from_str::<AcmeSettings>("storage = \"/x\"\ndomain = [\"a.b\"]");
        assert!(
            typo.unwrap_err().to_string().contains("domain"),
            "unknown keys are refused"
        );
        let bad: AcmeSettings =
            toml::from_str("storage = \"/x\"\ndomains = [\"a.b\"]\nchallenge = \"dns-01\"")
                .unwrap();
        assert!(bad.to_config().is_err());
        let bad: AcmeSettings =
            toml::from_str("storage = \"/x\"\ndomains = [\"a.b\"]\nstore = \"memcache://x\"")
                .unwrap();
        assert!(bad
            .to_config()
            .unwrap_err()
            .to_string()
            .contains("redis://"));
    }
}
