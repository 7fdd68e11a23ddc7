//! The front door's configuration: the `[balance]` table of `bigstep.toml`.
//!
//! Parsing is strict (`deny_unknown_fields`) so a typo is an error, not a silently
//! ignored key. Errors name the key and the line: serde/toml report syntax and type
//! errors with their span, and [`Config::validate`] reports semantic errors against
//! the spans it kept for each server entry.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::RootCertStore;
use serde::Deserialize;

mod duration;
pub mod listen;
mod routes;
mod tls;
pub use listen::parse_listen;
pub use routes::{
    Cidr, HeaderCondition, HeaderRules, LimitKey, OneOrMany, PoolConfig, PoolTimeouts,
    RateLimitConfig, RouteConfig, Template, DEFAULT_POOL,
};
pub(crate) use routes::{Part, Var, HEADER_VARS, REDIRECT_VARS};
pub use tls::{CertificateConfig, Http2Config, Http2Engine, TlsConfig, TlsVersion, UnknownSni};

/// The whole front door configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the data-plane listener binds. Loopback unless you say otherwise.
    #[serde(default = "defaults::listen", deserialize_with = "listen::addr")]
    pub listen: SocketAddr,
    /// Optional admin listener: the dashboard at `/`, the JSON API under `/api`,
    /// `/metrics` and `/healthz`. On a non-loopback address it needs `admin_token`.
    #[serde(default, deserialize_with = "listen::optional")]
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token the admin API requires (at least 16 characters); required when
    /// `admin_listen` is not a loopback address. `BIGSTEP_ADMIN_TOKEN` overrides it.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Write one access-log line per request (target `bigstep::access`).
    #[serde(default = "defaults::yes")]
    pub access_log: bool,
    /// How a server is chosen for each request.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// What the `hash` algorithm hashes: `source-ip`, `path`, `header:NAME` or `cookie:NAME`.
    #[serde(default)]
    pub hash_key: Option<String>,
    /// Bounded-loads slack ε for the `hash` algorithm: no server takes more than
    /// ceil((1+ε)·average) of the in-flight requests.
    #[serde(default = "defaults::hash_balance")]
    pub hash_balance: f64,
    /// Bounded loads move a key off its home server only once that server has at
    /// least this many requests in flight, so a browser's parallel requests stay
    /// together. No server exceeds max(ceil((1+ε)·average), this).
    #[serde(default = "defaults::hash_balance_floor")]
    pub hash_balance_floor: u32,
    /// Most attempts for one request (first try + retries), each on a different server.
    #[serde(default = "defaults::attempts")]
    pub attempts: u32,
    /// Most client connections held at once; the excess get a 503 and are closed.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Size limits.
    #[serde(default)]
    pub limits: Limits,
    /// Active health checks. Without this table servers are taken as healthy.
    #[serde(default)]
    pub health: Option<HealthCheck>,
    /// Passive health: eject servers that keep failing real requests.
    #[serde(default)]
    pub passive: Passive,
    /// Sticky sessions: keep each user on one server.
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// A server that joins or comes back ramps from 10% to its full weight over this time; 0 disables.
    #[serde(default, deserialize_with = "duration::required")]
    pub slow_start: Duration,
    /// A draining server moves to maintenance on its own after this long.
    #[serde(
        default = "defaults::drain_timeout",
        deserialize_with = "duration::required"
    )]
    pub drain_timeout: Duration,
    /// Cookie names the session-loss detector watches (besides `sticky.app_cookie`).
    #[serde(default = "defaults::session_cookies")]
    pub session_cookies: Vec<String>,
    /// A response header naming the server that answered, e.g. `X-Served-By`
    /// (its id); replaces one the server set. Off when absent.
    #[serde(default)]
    pub server_header: Option<String>,
    /// The upstream servers: the pool named `default`, which takes every
    /// request no route matches.
    #[serde(default)]
    pub servers: Vec<toml::Spanned<ServerConfig>>,
    /// Named pools (see `routes`): each inherits what it does not set.
    #[serde(default)]
    pub pools: Vec<toml::Spanned<PoolConfig>>,
    /// The route table, tried in order; the first match wins.
    #[serde(default)]
    pub routes: Vec<toml::Spanned<RouteConfig>>,
    /// Response compression (off unless `compression.enabled`; routes may override).
    #[serde(default)]
    pub compression: Compression,
    /// Where rate limits marked `shared = true` keep their buckets, so several
    /// front doors enforce one limit: `redis://[user:password@]host:port[/db]`
    /// (`bigstep state`, Redis or Valkey).
    #[serde(default)]
    pub rate_limit_store: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed (our own front doors, a CDN):
    /// addresses or CIDR blocks. Rate limits key on the address they report.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Servers that join and leave through a registry (`[balance.discovery]`).
    #[serde(default)]
    pub discovery: Option<Discovery>,
    /// `[balance.tls]`: a TLS listener beside the plain one.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// `[balance.http2]`: HTTP/2 to clients and its limits.
    #[serde(default)]
    pub http2: Http2Config,
}

/// `[balance.discovery]`: watch a registry (bigstep state, Redis, Valkey) for
/// servers; see the `discovery` crate for the key layout.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// `redis://[:password@]host:port[/db]`.
    pub registry: String,
    /// Key prefix: entries are `<prefix>:svc:<name>`.
    #[serde(default = "defaults::discovery_prefix")]
    pub prefix: String,
    /// Full read of the registry this often (changes announced on the events
    /// channel apply sooner). Also bounds each registry call.
    #[serde(
        default = "defaults::discovery_poll",
        deserialize_with = "duration::required"
    )]
    pub poll: Duration,
    /// The pool whose entries this front door serves; absent: entries with no pool.
    #[serde(default)]
    pub pool: Option<String>,
}

/// Server selection algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Smooth weighted round robin (nginx's): even, weight-proportional, no bursts.
    #[default]
    RoundRobin,
    /// Fewest in-flight requests relative to weight.
    LeastInFlight,
    /// Power of two random choices on in-flight requests.
    PowerOfTwo,
    /// Consistent hashing with bounded loads on `hash_key`.
    Hash,
}

impl Algorithm {
    /// As the config file spells it (`round-robin`): what the status API, the
    /// dashboard and the log show, so an operator reads back what they wrote.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round-robin",
            Algorithm::LeastInFlight => "least-in-flight",
            Algorithm::PowerOfTwo => "power-of-two",
            Algorithm::Hash => "hash",
        }
    }
}

/// How users are kept on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StickyMode {
    /// Strong: a signed cookie of ours names the server.
    Cookie,
    /// Hashed: the app's own session cookie chooses the server (consistent hashing, bounded loads).
    AppCookie,
    /// Hashed: the client address chooses the server.
    SourceIp,
    /// Hashed: a request header chooses the server.
    Header,
}

impl StickyMode {
    /// As the config file spells it (`app-cookie`), like [`Algorithm::as_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            StickyMode::Cookie => "cookie",
            StickyMode::AppCookie => "app-cookie",
            StickyMode::SourceIp => "source-ip",
            StickyMode::Header => "header",
        }
    }
}

/// Sticky-session settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sticky {
    /// `cookie`, `app-cookie`, `source-ip` or `header`.
    pub mode: StickyMode,
    /// Name of our cookie (mode `cookie`).
    #[serde(default = "defaults::sticky_cookie")]
    pub cookie: String,
    /// HMAC key signing our cookie (mode `cookie`; at least 16 bytes). Every front
    /// door sharing this key and server list routes a user identically.
    #[serde(default)]
    pub key: Option<String>,
    /// The app's session cookie (mode `app-cookie`), e.g. `PHPSESSID`, `JSESSIONID`, `connect.sid`.
    #[serde(default)]
    pub app_cookie: Option<String>,
    /// The header (mode `header`).
    #[serde(default)]
    pub header: Option<String>,
    /// Cookie attributes (mode `cookie`).
    #[serde(default = "defaults::slash")]
    pub path: String,
    /// Cookie `Domain`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Cookie `Secure` (set it when clients reach you over HTTPS).
    #[serde(default)]
    pub secure: bool,
    /// Cookie `HttpOnly`.
    #[serde(default = "defaults::yes")]
    pub http_only: bool,
    /// Cookie `SameSite`: `Lax`, `Strict` or `None`.
    #[serde(default = "defaults::lax")]
    pub same_site: String,
    /// Cookie `Max-Age`; absent means a browser-session cookie.
    #[serde(default, deserialize_with = "duration::optional")]
    pub max_age: Option<Duration>,
    /// A sticky user not seen for this long no longer counts as live (drain progress).
    #[serde(
        default = "defaults::sticky_idle",
        deserialize_with = "duration::required"
    )]
    pub idle: Duration,
}

/// Timeouts, written like `"5s"`, `"250ms"`, `"2m"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Establishing a TCP connection to a server.
    #[serde(deserialize_with = "duration::required")]
    pub connect: Duration,
    /// A client must send a complete request head within this time (else 408).
    #[serde(deserialize_with = "duration::required")]
    pub request_header: Duration,
    /// An idle client keep-alive connection is closed after this.
    #[serde(deserialize_with = "duration::required")]
    pub keepalive_idle: Duration,
    /// Waiting for a server's response head (else 504).
    #[serde(deserialize_with = "duration::required")]
    pub upstream_response: Duration,
    /// An idle upstream connection in the pool is closed after this.
    #[serde(deserialize_with = "duration::required")]
    pub upstream_idle: Duration,
    /// A WebSocket (or other upgraded) tunnel with no traffic either way is closed after this.
    #[serde(deserialize_with = "duration::required")]
    pub tunnel_idle: Duration,
    /// On SIGTERM, in-flight requests get this long to finish.
    #[serde(deserialize_with = "duration::required")]
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            request_header: Duration::from_secs(10),
            keepalive_idle: Duration::from_secs(75),
            upstream_response: Duration::from_secs(60),
            upstream_idle: Duration::from_secs(30),
            tunnel_idle: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Response compression: brotli, zstd and gzip, streamed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compression {
    /// Compress responses on every route that does not say `compress = false`.
    pub enabled: bool,
    /// 1 (fastest) to 9 (smallest), for every coding alike.
    pub level: u32,
    /// Offer brotli (`br`) first to clients that accept it.
    pub brotli: bool,
    /// Offer zstd after brotli and before gzip to clients that accept it.
    pub zstd: bool,
    /// Bodies shorter than this (when their length is known) are sent as they are.
    pub min_length: u64,
    /// Media types worth compressing; `text/*` matches every text type.
    pub types: Vec<String>,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            enabled: false,
            level: 5,
            brotli: true,
            zstd: true,
            min_length: 256,
            types: [
                "text/*",
                "application/json",
                "application/javascript",
                "application/xml",
                "application/xhtml+xml",
                "application/rss+xml",
                "application/atom+xml",
                "application/manifest+json",
                "application/wasm",
                "image/svg+xml",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Request size limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request head (request line + headers) in bytes (else 431). At least 8192.
    pub max_header_bytes: usize,
    /// Longest request target in bytes (else 414).
    pub max_uri_bytes: usize,
    /// Largest request body in bytes (else 413); 0 means no limit.
    pub max_body_bytes: u64,
    /// Idle upstream connections kept per server (and per serving thread).
    pub max_idle_per_server: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 0,
            max_idle_per_server: 256,
        }
    }
}

/// Active HTTP health check, run against every server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    /// Path requested with GET.
    pub path: String,
    /// Expected status: one code (`200`) or an inclusive range (`"200-399"`).
    pub expect_status: StatusRange,
    /// Time between checks of one server.
    #[serde(deserialize_with = "duration::required")]
    pub interval: Duration,
    /// A check with no complete response head in this time fails.
    #[serde(deserialize_with = "duration::required")]
    pub timeout: Duration,
    /// Consecutive passes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
    /// If true (default), a new server gets no traffic until its first check passes.
    pub wait_for_first_check: bool,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/healthz".into(),
            expect_status: StatusRange {
                low: 200,
                high: 399,
            },
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
            wait_for_first_check: true,
        }
    }
}

/// An inclusive range of HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub low: u16,
    /// Highest accepted code.
    pub high: u16,
}

impl StatusRange {
    /// Whether `code` is in the range.
    pub fn contains(&self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(u16),
            Text(String),
        }
        let bad = || {
            serde::de::Error::custom("expected a status code like 200 or a range like \"200-399\"")
        };
        let (low, high) = match Raw::deserialize(d)? {
            Raw::One(c) => (c, c),
            Raw::Text(s) => match s.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                ),
                None => {
                    let c = s.trim().parse().map_err(|_| bad())?;
                    (c, c)
                }
            },
        };
        if !(100..=599).contains(&low) || !(100..=599).contains(&high) || low > high {
            return Err(bad());
        }
        Ok(StatusRange { low, high })
    }
}

/// Passive health: servers that keep failing real requests are ejected for a while.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Passive {
    /// Consecutive failures (connect error, 5xx, timeout) that eject a server; 0 disables.
    pub consecutive_failures: u32,
    /// First ejection lasts this long; each further one doubles it.
    #[serde(deserialize_with = "duration::required")]
    pub base_ejection: Duration,
    /// Ejections never last longer than this.
    #[serde(deserialize_with = "duration::required")]
    pub max_ejection: Duration,
    /// At most this share of servers (percent) is ejected at once.
    pub max_ejected_percent: u32,
}

impl Default for Passive {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(300),
            max_ejected_percent: 50,
        }
    }
}

/// One upstream server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Stable id: used in logs, metrics, the admin API and for hashing. Defaults to the address.
    #[serde(default)]
    pub name: Option<String>,
    /// `host:port` of the server.
    pub address: String,
    /// Relative share of traffic; 0 takes the server out of rotation.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
    /// This server's health-check path, instead of the pool's `health.path`
    /// (set from the registry entry for discovered servers).
    #[serde(default)]
    pub health_path: Option<String>,
    /// Speak HTTPS to this server: TLS with ALPN `http/1.1`, its certificate
    /// verified against the system's CA store unless `tls_ca` names another.
    #[serde(default)]
    pub tls: bool,
    /// Verify the server's certificate against the CA certificates in this PEM
    /// file instead of the system's (needs `tls = true`).
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The name sent as SNI and checked against the certificate; default: the
    /// host part of `address` (needs `tls = true`).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Accept any certificate and name (test setups only; logged as a warning
    /// whenever the server is loaded).
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// A client certificate chain (PEM) the front door presents to this server,
    /// for servers that require mutual TLS (needs `tls = true` and `tls_client_key`).
    #[serde(default)]
    pub tls_client_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_client_cert`.
    #[serde(default)]
    pub tls_client_key: Option<PathBuf>,
    /// What the front door speaks to this server: `http1` (the default),
    /// `h2c` (HTTP/2 with prior knowledge over plain TCP) or `h2` (HTTP/2 over
    /// TLS, chosen by ALPN; needs `tls = true`). gRPC servers need `h2c` or `h2`.
    #[serde(default)]
    pub protocol: Protocol,
}

/// The protocol spoken to one server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 on pooled connections, one request at a time each.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge over plain TCP: one shared connection.
    H2c,
    /// HTTP/2 over TLS (ALPN `h2`): one shared connection.
    H2,
}

impl Protocol {
    /// HTTP/2 in either form.
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::H2c | Protocol::H2)
    }
    /// The name the configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::H2c => "h2c",
            Protocol::H2 => "h2",
        }
    }
}

impl ServerConfig {
    /// A plain-HTTP server at `address` with default settings.
    pub fn plain(name: Option<String>, address: String, weight: u32) -> Self {
        ServerConfig {
            name,
            address,
            weight,
            health_path: None,
            tls: false,
            tls_ca: None,
            tls_server_name: None,
            tls_insecure_skip_verify: false,
            tls_client_cert: None,
            tls_client_key: None,
            protocol: Protocol::Http1,
        }
    }

    /// The stable id of this server.
    pub fn id(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.address)
    }
}

/// A configuration error, located in the source when possible.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// Human-readable description that names the key (and the line, when known).
    pub message: String,
}

/// What `hash_key` names, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The client's IP address.
    SourceIp,
    /// The request path.
    Path,
    /// The value of a request header.
    Header(http::HeaderName),
    /// The value of a request cookie.
    Cookie(String),
}

impl HashKey {
    /// Parse `source-ip`, `path`, `header:NAME`, `cookie:NAME`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "source-ip" => Ok(HashKey::SourceIp),
            "path" => Ok(HashKey::Path),
            _ => {
                if let Some(h) = s.strip_prefix("header:") {
                    http::HeaderName::from_bytes(h.trim().as_bytes())
                        .map(HashKey::Header)
                        .map_err(|_| format!("`{h}` is not a valid header name"))
                } else if let Some(c) = s.strip_prefix("cookie:") {
                    if c.trim().is_empty() {
                        Err("cookie name is empty".into())
                    } else {
                        Ok(HashKey::Cookie(c.trim().to_string()))
                    }
                } else {
                    Err(format!(
                        "unknown hash key `{s}`; use source-ip, path, header:NAME or cookie:NAME"
                    ))
                }
            }
        }
    }
}

impl Config {
    /// A configuration with defaults and the given servers (used by `bigstep up` and tests).
    pub fn with_servers(listen: SocketAddr, servers: Vec<ServerConfig>) -> Self {
        let mut cfg: Config = toml::from_str("").expect("empty config parses");
        cfg.listen = listen;
        cfg.servers = servers
            .into_iter()
            .map(|s| toml::Spanned::new(0..0, s))
            .collect();
        cfg
    }

    /// Make the file paths in the configuration (certificates, keys, the
    /// client CA) relative to `base`, the directory of the file that named them.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(tls) = self.tls.as_mut() {
            let fix = |p: &mut std::path::PathBuf| {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            };
            for c in &mut tls.certificates {
                let c = c.get_mut();
                fix(&mut c.cert);
                fix(&mut c.key);
            }
            if let Some(ca) = tls.client_ca.as_mut() {
                fix(ca);
            }
            if let Some(acme) = tls.acme.as_mut() {
                fix(&mut acme.storage);
                if let Some(ca) = acme.ca_file.as_mut() {
                    fix(ca);
                }
            }
        }
        // Each server's TLS files, in [balance] and in every pool.
        let pools = self.pools.iter_mut().map(|p| &mut p.get_mut().servers);
        for list in std::iter::once(&mut self.servers).chain(pools) {
            for s in list.iter_mut() {
                let s = s.get_mut();
                let files = [
                    s.tls_ca.as_mut(),
                    s.tls_client_cert.as_mut(),
                    s.tls_client_key.as_mut(),
                ];
                for path in files.into_iter().flatten() {
                    if path.is_relative() {
                        *path = base.join(&*path);
                    }
                }
            }
        }
    }

    /// Parse a `[balance]` table given on its own (the whole document is the table).
    pub fn from_toml(src: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(src).map_err(|e| ConfigError {
            message: e.to_string(),
        })?;
        cfg.validate(Some(src))?;
        Ok(cfg)
    }

    /// Semantic checks serde cannot make. `src` locates the offending entry.
    pub fn validate(&self, src: Option<&str>) -> Result<(), ConfigError> {
        let err = located(src);
        if self.max_connections == 0 {
            return Err(err(None, "max_connections", "must be at least 1".into()));
        }
        if let Some(h) = &self.server_header {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(err(
                    None,
                    "server_header",
                    format!("`{h}` is not a valid header name"),
                ));
            }
        }
        if self.limits.max_header_bytes < 8192 {
            return Err(err(
                None,
                "limits.max_header_bytes",
                "must be at least 8192".into(),
            ));
        }
        if !(1..=9).contains(&self.compression.level) {
            return Err(err(
                None,
                "compression.level",
                "must be from 1 (fastest) to 9 (smallest)".into(),
            ));
        }
        if let Some(tls) = &self.tls {
            tls.validate(&err)?;
        }
        self.http2.validate(&err)?;
        self.validate_pool(src)?;
        self.validate_routes(&err)
    }

    /// The checks every pool's effective configuration must pass.
    fn validate_pool(&self, src: Option<&str>) -> Result<(), ConfigError> {
        let err = located(src);
        if self.attempts == 0 {
            return Err(err(None, "attempts", "must be at least 1".into()));
        }
        if !(0.0..=10.0).contains(&self.hash_balance) || self.hash_balance.is_nan() {
            return Err(err(
                None,
                "hash_balance",
                "must be between 0.0 and 10.0".into(),
            ));
        }
        if self.passive.max_ejected_percent > 100 {
            return Err(err(
                None,
                "passive.max_ejected_percent",
                "must be at most 100".into(),
            ));
        }
        match (&self.algorithm, &self.hash_key) {
            (Algorithm::Hash, None) => return Err(err(
                None,
                "hash_key",
                "algorithm = \"hash\" needs hash_key (source-ip, path, header:NAME or cookie:NAME)"
                    .into(),
            )),
            (_, Some(k)) => {
                HashKey::parse(k).map_err(|m| err(None, "hash_key", m))?;
            }
            _ => {}
        }
        if let Some(h) = &self.health {
            if h.rise == 0 || h.fall == 0 {
                return Err(err(None, "health.rise/fall", "must be at least 1".into()));
            }
            if !h.path.starts_with('/') {
                return Err(err(None, "health.path", "must start with `/`".into()));
            }
            if h.interval.is_zero() || h.timeout.is_zero() {
                return Err(err(
                    None,
                    "health.interval/timeout",
                    "must be greater than zero".into(),
                ));
            }
        }
        if let Some(st) = &self.sticky {
            match st.mode {
                StickyMode::Cookie => {
                    let key = st.key.as_deref().unwrap_or("");
                    if key.len() < 16 {
                        return Err(err(
                            None,
                            "sticky.key",
                            "mode = \"cookie\" needs a secret key of at least 16 characters (for example the output of `openssl rand -hex 32`)".into(),
                        ));
                    }
                    if !is_cookie_token(&st.cookie) {
                        return Err(err(
                            None,
                            "sticky.cookie",
                            format!("`{}` is not a valid cookie name", st.cookie),
                        ));
                    }
                }
                StickyMode::AppCookie => {
                    if !st.app_cookie.as_deref().is_some_and(is_cookie_token) {
                        return Err(err(
                            None,
                            "sticky.app_cookie",
                            "mode = \"app-cookie\" needs app_cookie, e.g. \"PHPSESSID\"".into(),
                        ));
                    }
                }
                StickyMode::Header => {
                    if st
                        .header
                        .as_deref()
                        .and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
                        .is_none()
                    {
                        return Err(err(
                            None,
                            "sticky.header",
                            "mode = \"header\" needs a valid header name".into(),
                        ));
                    }
                }
                StickyMode::SourceIp => {}
            }
            if !["Lax", "Strict", "None"].contains(&st.same_site.as_str()) {
                return Err(err(
                    None,
                    "sticky.same_site",
                    "must be Lax, Strict or None".into(),
                ));
            }
        }
        if let Some(d) = &self.discovery {
            if !d.registry.starts_with("redis://") {
                return Err(err(
                    None,
                    "discovery.registry",
                    format!(
                        "`{}` is not a redis:// URL",
                        discovery::registry::redact(&d.registry)
                    ),
                ));
            }
            // Parses the URL (host, port, password, db); dials nothing.
            discovery::Registry::open(&d.registry, discovery::Keys::default(), d.poll)
                .map_err(|e| err(None, "discovery.registry", e.to_string()))?;
            discovery::Keys::new(&d.prefix)
                .map_err(|e| err(None, "discovery.prefix", e.to_string()))?;
            if let Some(pool) = &d.pool {
                discovery::convention::check_name(pool)
                    .map_err(|e| err(None, "discovery.pool", e.to_string()))?;
            }
            if d.poll < Duration::from_millis(100) {
                return Err(err(None, "discovery.poll", "must be at least 100ms".into()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.servers {
            let span = Some(s.span());
            let server = s.get_ref();
            if parse_address(&server.address).is_none() {
                return Err(err(
                    span,
                    "servers.address",
                    format!("`{}` is not host:port", server.address),
                ));
            }
            if let Some(p) = &server.health_path {
                if !p.starts_with('/') || http::uri::PathAndQuery::try_from(p.as_str()).is_err() {
                    return Err(err(
                        span,
                        "servers.health_path",
                        format!("`{p}` is not a path starting with `/`"),
                    ));
                }
            }
            validate_upstream_tls(server).map_err(|(key, msg)| err(span.clone(), key, msg))?;
            validate_protocol(server).map_err(|msg| err(span.clone(), "servers.protocol", msg))?;
            if !is_cookie_token(server.id()) {
                return Err(err(
                    span,
                    "servers.name",
                    format!(
                        "`{}` may not contain spaces, quotes, commas, semicolons or backslashes",
                        server.id()
                    ),
                ));
            }
            if !seen.insert(server.id().to_string()) {
                return Err(err(
                    span,
                    "servers.name",
                    format!(
                        "`{}` is used by two servers; names must be unique",
                        server.id()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Makes an error naming the key and, when the span is known, the line.
type Locate<'a> = dyn Fn(Option<Range<usize>>, &str, String) -> ConfigError + 'a;

/// Builds errors that name the key and, when the span is known, the line.
fn located(src: Option<&str>) -> impl Fn(Option<Range<usize>>, &str, String) -> ConfigError + '_ {
    move |span: Option<Range<usize>>, key: &str, msg: String| {
        let at = match (src, span) {
            (Some(src), Some(span)) if span.end > 0 => {
                format!(" (line {})", line_of(src, span.start))
            }
            _ => String::new(),
        };
        ConfigError {
            message: format!("invalid `{key}`{at}: {msg}"),
        }
    }
}

/// `host:port` with a non-empty host and a numeric port.
pub fn parse_address(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// Safe inside a cookie value or as a cookie name.
fn is_cookie_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"\",;\\=".contains(&b))
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// `h2` is HTTP/2 over TLS and `h2c` over plain TCP: each needs the matching `tls`.
pub(crate) fn validate_protocol(s: &ServerConfig) -> Result<(), String> {
    match (s.protocol, s.tls) {
        (Protocol::H2, false) => Err(format!(
            "server `{}`: `h2` is HTTP/2 over TLS and needs `tls = true` (HTTP/2 over plain TCP is `h2c`)",
            s.id()
        )),
        (Protocol::H2c, true) => Err(format!(
            "server `{}`: `h2c` is HTTP/2 over plain TCP; with `tls = true` say `h2`",
            s.id()
        )),
        _ => Ok(()),
    }
}

// === Upstream TLS: names and trust roots (checked at load, used by `upstream_tls`) ===

/// Upstream TLS keys of one server entry: the key at fault and why.
/// Reads the CA file, so a missing or unusable one is refused at load.
pub(crate) fn validate_upstream_tls(s: &ServerConfig) -> Result<(), (&'static str, String)> {
    if !s.tls {
        let stray = if s.tls_ca.is_some() {
            Some("servers.tls_ca")
        } else if s.tls_server_name.is_some() {
            Some("servers.tls_server_name")
        } else if s.tls_insecure_skip_verify {
            Some("servers.tls_insecure_skip_verify")
        } else if s.tls_client_cert.is_some() {
            Some("servers.tls_client_cert")
        } else if s.tls_client_key.is_some() {
            Some("servers.tls_client_key")
        } else {
            None
        };
        return match stray {
            Some(key) => Err((
                key,
                format!(
                    "server `{}` does not say `tls = true`, so this would be ignored",
                    s.id()
                ),
            )),
            None => Ok(()),
        };
    }
    upstream_server_name(s).map_err(|e| ("servers.tls_server_name", e))?;
    if let Some(ca) = &s.tls_ca {
        if s.tls_insecure_skip_verify {
            return Err((
                "servers.tls_ca",
                "tls_insecure_skip_verify = true verifies nothing, so tls_ca would be ignored: keep one of them".into(),
            ));
        }
        load_ca(ca).map_err(|e| ("servers.tls_ca", e))?;
    }
    match (&s.tls_client_cert, &s.tls_client_key) {
        (None, None) => {}
        (Some(_), None) => {
            return Err((
                "servers.tls_client_key",
                "tls_client_cert needs its private key in tls_client_key".into(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                "servers.tls_client_cert",
                "tls_client_key needs its certificate chain in tls_client_cert".into(),
            ))
        }
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert).map_err(|e| {
                (
                    "servers.tls_client_cert",
                    format!("{}: {e}", cert.display()),
                )
            })?;
            let key_pem = std::fs::read(key)
                .map_err(|e| ("servers.tls_client_key", format!("{}: {e}", key.display())))?;
            parse_client_identity(cert, &cert_pem, key, &key_pem)?;
        }
    }
    Ok(())
}

/// A client certificate chain and its key (PEM), checked to belong together:
/// the key at fault and why when they do not.
#[allow(clippy::type_complexity)]
pub(crate) fn parse_client_identity(
    cert: &Path,
    cert_pem: &[u8],
    key: &Path,
    key_pem: &[u8],
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    (&'static str, String),
> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            (
                "servers.tls_client_cert",
                format!("{}: {e}", cert.display()),
            )
        })?;
    if chain.is_empty() {
        return Err((
            "servers.tls_client_cert",
            format!("{}: no certificate in the file", cert.display()),
        ));
    }
    let private = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ("servers.tls_client_key", format!("{}: {e}", key.display())))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private.clone_key())
        .map_err(|e| ("servers.tls_client_key", format!("{}: {e}", key.display())))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing)
        .keys_match()
        .map_err(|e| {
            (
                "servers.tls_client_key",
                format!(
                    "{} is not the key of the certificate in {}: {e}",
                    key.display(),
                    cert.display()
                ),
            )
        })?;
    Ok((chain, private))
}

/// SNI and the verified name: `tls_server_name`, else the host of `address`
/// (an IP address is verified against the certificate's IP names).
pub(crate) fn upstream_server_name(s: &ServerConfig) -> Result<ServerName<'static>, String> {
    let name = match &s.tls_server_name {
        Some(n) => n.as_str(),
        None => parse_address(&s.address)
            .map(|(host, _)| host)
            .ok_or_else(|| format!("`{}` is not host:port", s.address))?,
    };
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("`{name}` is not a DNS name or an IP address"))
}

/// The certificates of a CA file (PEM): at least one, each usable as a root.
pub(crate) fn load_ca(path: &Path) -> Result<RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_ca(path, &pem)
}

pub(crate) fn parse_ca(path: &Path, pem: &[u8]) -> Result<RootCertStore, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        roots.add(c.map_err(|e| at(&e))?).map_err(|e| at(&e))?;
    }
    if roots.is_empty() {
        return Err(at(&"no certificate in the file"));
    }
    Ok(roots)
}

mod defaults {
    use std::net::SocketAddr;
    use std::time::Duration;
    pub(super) fn listen() -> SocketAddr {
        "127.0.0.1:8080".parse().expect("valid address")
    }
    pub(super) fn hash_balance() -> f64 {
        0.25
    }
    pub(super) fn hash_balance_floor() -> u32 {
        8
    }
    pub(super) fn attempts() -> u32 {
        3
    }
    pub(super) fn max_connections() -> usize {
        10_000
    }
    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn drain_timeout() -> Duration {
        Duration::from_secs(600)
    }
    pub(super) fn session_cookies() -> Vec<String> {
        [
            "PHPSESSID",
            "JSESSIONID",
            "connect.sid",
            "sessionid",
            "laravel_session",
            "_session_id",
            "session",
        ]
        .map(String::from)
        .to_vec()
    }
    pub(super) fn sticky_cookie() -> String {
        "bigstep_sticky".into()
    }
    pub(super) fn sticky_idle() -> Duration {
        Duration::from_secs(1800)
    }
    pub(super) fn slash() -> String {
        "/".into()
    }
    pub(super) fn lax() -> String {
        "Lax".into()
    }
    pub(super) fn weight() -> u32 {
        1
    }
    pub(super) fn discovery_prefix() -> String {
        discovery::convention::DEFAULT_PREFIX.into()
    }
    pub(super) fn discovery_poll() -> Duration {
        Duration::from_secs(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_has_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.algorithm, Algorithm::RoundRobin);
        assert!(c.servers.is_empty());
    }

    #[test]
    fn http2_defaults_to_our_engine_and_checks_its_settings_timeout() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.http2.engine, Http2Engine::Bigstep);
        assert_eq!(c.http2.settings_timeout, Duration::from_secs(10));
        let c =
            Config::from_toml("[http2]\nengine = \"hyper\"\nsettings_timeout = \"2s\"\n").unwrap();
        assert_eq!(c.http2.engine, Http2Engine::Hyper);
        assert_eq!(c.http2.settings_timeout, Duration::from_secs(2));
        let e = Config::from_toml("[http2]\nsettings_timeout = \"0s\"\n").unwrap_err();
        assert!(
            e.message.contains("http2.settings_timeout"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = Config::from_toml("listen = \"127.0.0.1:1\"\nalgoritm = \"hash\"\n").unwrap_err();
        assert!(e.message.contains("algoritm"), "{}", e.message);
        assert!(e.message.contains("line 2"), "{}", e.message);
    }

    #[test]
    fn bad_server_names_line() {
        let src = "[[servers]]\naddress = \"127.0.0.1:1\"\n\n[[servers]]\naddress = \"nope\"\n";
        let e = Config::from_toml(src).unwrap_err();
        assert!(e.message.contains("servers.address"), "{}", e.message);
        assert!(e.message.contains("line 4"), "{}", e.message);
    }

    #[test]
    fn protocol_is_checked_against_tls_and_named_with_its_line() {
        let ok = "[[servers]]\naddress = \"127.0.0.1:1\"\nprotocol = \"h2c\"\n";
        let cfg = Config::from_toml(ok).unwrap();
        assert_eq!(cfg.servers[0].get_ref().protocol, Protocol::H2c);
        let plain = Config::from_toml("[[servers]]\naddress = \"127.0.0.1:1\"\n").unwrap();
        assert_eq!(plain.servers[0].get_ref().protocol, Protocol::Http1);
        // h2 without TLS, h2c with it: the key and the entry's line.
        for (src, line) in [
            ("[[servers]]\naddress = \"127.0.0.1:1\"\n\n[[servers]]\naddress = \"127.0.0.1:2\"\nprotocol = \"h2\"\n", "line 4"),
            ("[[servers]]\naddress = \"127.0.0.1:2\"\ntls = true\nprotocol = \"h2c\"\n", "line 1"),
        ] {
            let e = Config::from_toml(src).unwrap_err();
            assert!(e.message.contains("servers.protocol"), "{}", e.message);
            assert!(e.message.contains(line), "{}", e.message);
        }
        // An unknown value: serde names the value, the choices and the line.
        let e = Config::from_toml("[[servers]]\naddress = \"127.0.0.1:1\"\nprotocol = \"h3\"\n")
            .unwrap_err();
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(
            e.message.contains("h3") && e.message.contains("h2c"),
            "{}",
            e.message
        );
    }

    #[test]
    fn duplicate_names_refused() {
        let src = "[[servers]]\nname=\"a\"\naddress = \"127.0.0.1:1\"\n[[servers]]\nname=\"a\"\naddress = \"127.0.0.1:2\"\n";
        let e = Config::from_toml(src).unwrap_err();
        assert!(e.message.contains("unique"), "{}", e.message);
    }

    #[test]
    fn durations_and_status_ranges_parse() {
        let src = "[timeouts]\nconnect = \"250ms\"\n[health]\nexpect_status = \"200-299\"\ninterval = \"1s\"\n";
        let c = Config::from_toml(src).unwrap();
        assert_eq!(c.timeouts.connect, Duration::from_millis(250));
        let h = c.health.unwrap();
        assert!(h.expect_status.contains(204) && !h.expect_status.contains(301));
    }

    #[test]
    fn discovery_table() {
        let c =
            Config::from_toml("[discovery]\nregistry = \"redis://:pw@10.0.0.5:6379\"\n").unwrap();
        let d = c.discovery.unwrap();
        assert_eq!(
            (d.prefix.as_str(), d.poll),
            ("bigstep", Duration::from_secs(2))
        );
        for bad in [
            "registry = \"redis://[nope\"",
            "registry = \"redis://h:1\"\nprefix = \"a*\"",
            "registry = \"redis://h:1\"\npoll = \"10ms\"",
            "registry = \"redis://h:1\"\npool = \"a b\"",
        ] {
            let e = Config::from_toml(&format!("[discovery]\n{bad}\n")).unwrap_err();
            assert!(e.message.contains("discovery."), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn hash_needs_key() {
        let e = Config::from_toml("algorithm = \"hash\"\n").unwrap_err();
        assert!(e.message.contains("hash_key"), "{}", e.message);
        assert!(
            Config::from_toml("algorithm = \"hash\"\nhash_key = \"cookie:PHPSESSID\"\n").is_ok()
        );
    }
}
