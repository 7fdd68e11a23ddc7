//! `[balance.tls]` and `[balance.http2]`: the front door at the edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// `[balance.tls]`: terminate TLS on a second listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Where the TLS listener binds (loopback unless configured).
    #[serde(
        default = "default_tls_listen",
        deserialize_with = "super::listen::addr"
    )]
    pub listen: SocketAddr,
    /// Certificates, chosen by SNI. The first (or the one marked `default`)
    /// answers clients that send no name, or a name no certificate covers.
    #[serde(default)]
    pub certificates: Vec<toml::Spanned<CertificateConfig>>,
    /// Lowest protocol version offered: "1.2" (default) or "1.3".
    #[serde(default)]
    pub min_version: TlsVersion,
    /// What a client asking for a name no certificate covers gets: the default
    /// certificate (`default`) or a refused handshake (`refuse`).
    #[serde(default)]
    pub unknown_sni: UnknownSni,
    /// Answer plain-HTTP requests with a 308 to the same path over HTTPS
    /// (ACME challenge paths excepted). On by default.
    #[serde(default = "yes")]
    pub redirect_http: bool,
    /// The port in redirect targets; defaults to the TLS listener's port
    /// (omitted from the URL when 443).
    #[serde(default)]
    pub https_port: Option<u16>,
    /// `Strict-Transport-Security` value added to HTTPS responses, e.g.
    /// `"max-age=31536000; includeSubDomains"`. Off unless set.
    #[serde(default)]
    pub hsts: Option<String>,
    /// Offer HTTP/2 by ALPN (on by default).
    #[serde(default = "yes")]
    pub http2: bool,
    /// Sessions kept for resumption by id (0 turns the cache off).
    #[serde(default = "default_session_cache")]
    pub session_cache: usize,
    /// Stateless resumption tickets, with keys rotated every 6 hours.
    #[serde(default = "yes")]
    pub session_tickets: bool,
    /// Client certificates (mutual TLS): the CA that signs them.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: must every client present a certificate? (default true)
    #[serde(default = "yes")]
    pub client_cert_required: bool,
    /// With `client_ca`: the request header that carries the verified
    /// certificate's subject to the servers (any client value is replaced).
    #[serde(default)]
    pub client_subject_header: Option<String>,
    /// How often the certificate files are checked for changes.
    #[serde(
        default = "default_watch",
        deserialize_with = "super::duration::required"
    )]
    pub watch: Duration,
    /// `[balance.tls.acme]`: obtain and renew a certificate automatically.
    #[serde(default)]
    pub acme: Option<certs::AcmeSettings>,
}

/// One certificate and its key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// PEM file: the certificate followed by its chain.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
    /// Names served with it; defaults to the certificate's DNS names.
    /// `*.example.com` covers one label.
    #[serde(default)]
    pub names: Vec<String>,
    /// Served to clients without SNI (and unknown names with `unknown_sni = "default"`).
    #[serde(default)]
    pub default: bool,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    V12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V13,
}

/// What an unknown SNI name gets.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownSni {
    /// The default certificate.
    #[default]
    Default,
    /// A refused handshake (`unrecognized_name`).
    Refuse,
}

/// `[balance.http2]`: HTTP/2 to clients and its limits. The defaults are safe
/// against the known floods; each limit is named here so an operator can see it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Http2Config {
    /// Accept cleartext HTTP/2 with prior knowledge (h2c) on the plain
    /// listener, for a front door behind another TLS terminator.
    pub h2c: bool,
    /// Streams a client may have open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Streams a client may reset before we answer them (the "rapid reset"
    /// flood, CVE-2023-44487); past it the connection is closed with GOAWAY.
    pub max_pending_accept_reset_streams: usize,
    /// Streams we may reset because the client broke the protocol, before the
    /// connection is closed.
    pub max_local_error_reset_streams: usize,
    /// Decoded size of one header list (bounds HPACK bombs and CONTINUATION floods).
    pub max_header_list_bytes: u32,
    /// Flow-control window per stream, bytes.
    pub initial_stream_window: u32,
    /// Flow-control window per connection, bytes.
    pub initial_connection_window: u32,
    /// Largest frame payload we accept, bytes (16 KiB to 16 MiB).
    pub max_frame_bytes: u32,
    /// Bytes buffered per stream on the way to a slow client.
    pub max_send_buffer_bytes: usize,
    /// Offer WebSocket over HTTP/2 (RFC 8441 extended CONNECT): the stream is
    /// tunnelled to the server as an HTTP/1.1 WebSocket upgrade. Off: browsers
    /// open WebSockets on a separate HTTP/1.1 connection.
    pub websocket: bool,
    /// Which HTTP/2 implementation serves clients: `bigstep` (the default:
    /// our own `h2wire`, driven inline by the connection's task) or `hyper`
    /// (the h2 crate).
    pub engine: Http2Engine,
    /// How long a client has to acknowledge our SETTINGS (RFC 9113 §6.5.3)
    /// before the connection is closed with GOAWAY SETTINGS_TIMEOUT (the
    /// bigstep engine; hyper's has no such timer).
    #[serde(deserialize_with = "super::duration::required")]
    pub settings_timeout: Duration,
}

/// `[balance.http2] engine`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Http2Engine {
    /// hyper's HTTP/2 server (the h2 crate).
    Hyper,
    /// Our own wire layer (`h2wire`), the default: it passes every HTTP/2,
    /// gRPC and WebSocket-over-HTTP/2 test hyper's engine passes, at fewer
    /// instructions per request (BENCHMARKS.md).
    #[default]
    Bigstep,
}

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            h2c: true,
            max_concurrent_streams: 128,
            max_pending_accept_reset_streams: 50,
            max_local_error_reset_streams: 256,
            max_header_list_bytes: 64 * 1024,
            initial_stream_window: 256 * 1024,
            initial_connection_window: 1024 * 1024,
            max_frame_bytes: 16 * 1024,
            max_send_buffer_bytes: 256 * 1024,
            websocket: true,
            engine: Http2Engine::default(),
            settings_timeout: Duration::from_secs(10),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_tls_listen() -> SocketAddr {
    "127.0.0.1:8443".parse().expect("valid address")
}
fn default_session_cache() -> usize {
    4096
}
fn default_watch() -> Duration {
    Duration::from_secs(2)
}

impl TlsConfig {
    /// Checks serde cannot make; `at(span)` locates an entry in the file.
    pub(crate) fn validate(&self, err: &super::Locate<'_>) -> Result<(), super::ConfigError> {
        if let Some(acme) = &self.acme {
            acme.to_config()
                .map_err(|e| err(None, "tls.acme", e.to_string()))?;
        }
        if self.certificates.is_empty() && self.acme.is_none() {
            return Err(err(
                None,
                "tls.certificates",
                "give at least one certificate ([[balance.tls.certificates]] cert = \"site.pem\", key = \"site.key\") or [balance.tls.acme]".into(),
            ));
        }
        if self
            .certificates
            .iter()
            .filter(|c| c.get_ref().default)
            .count()
            > 1
        {
            return Err(err(
                None,
                "tls.certificates",
                "only one certificate may say `default = true`".into(),
            ));
        }
        for c in &self.certificates {
            for name in &c.get_ref().names {
                if !valid_sni_pattern(name) {
                    return Err(err(
                        Some(c.span()),
                        "tls.certificates.names",
                        format!("`{name}` is not a DNS name or a `*.` wildcard"),
                    ));
                }
            }
        }
        if let Some(h) = &self.client_subject_header {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(err(
                    None,
                    "tls.client_subject_header",
                    format!("`{h}` is not a valid header name"),
                ));
            }
            if self.client_ca.is_none() {
                return Err(err(
                    None,
                    "tls.client_subject_header",
                    "needs `client_ca` (no client certificates are asked for without it)".into(),
                ));
            }
        }
        if let Some(v) = &self.hsts {
            if http::HeaderValue::from_str(v).is_err() {
                return Err(err(None, "tls.hsts", "not a valid header value".into()));
            }
        }
        Ok(())
    }
}

impl Http2Config {
    pub(crate) fn validate(&self, err: &super::Locate<'_>) -> Result<(), super::ConfigError> {
        if self.max_concurrent_streams == 0 {
            return Err(err(
                None,
                "http2.max_concurrent_streams",
                "must be at least 1".into(),
            ));
        }
        if !(16_384..=16_777_215).contains(&self.max_frame_bytes) {
            return Err(err(
                None,
                "http2.max_frame_bytes",
                "must be from 16384 to 16777215".into(),
            ));
        }
        if self.settings_timeout.is_zero() {
            return Err(err(
                None,
                "http2.settings_timeout",
                "must be more than 0 (e.g. \"10s\")".into(),
            ));
        }
        if self.initial_stream_window < 65_535 || self.initial_connection_window < 65_535 {
            return Err(err(
                None,
                "http2.initial_stream_window",
                "flow-control windows must be at least 65535 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// `example.com`, `*.example.com`: letters, digits, hyphens, dots.
fn valid_sni_pattern(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
