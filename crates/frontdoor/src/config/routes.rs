//! Named pools and the route table: `[[balance.pools]]` and `[[balance.routes]]`.
//!
//! A pool inherits every setting it does not name from the `[balance]` table
//! (as HAProxy's `defaults` section does), so a pool is usually a name and its
//! servers. The servers listed directly under `[balance]` are the pool named
//! `default`, which takes every request no route matches: a file written
//! before pools existed keeps working unchanged.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{Algorithm, Config, HealthCheck, ServerConfig, Sticky};
use crate::route::{self, HeaderMatch, HostMatch, Matcher, PathMatch};

/// The name of the pool made of `[balance]`'s own `servers`.
pub const DEFAULT_POOL: &str = "default";

/// A named pool of servers: `[[balance.pools]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// How routes name this pool.
    pub name: String,
    /// Selection algorithm (default: `[balance]`'s).
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    /// What `hash` hashes (default: `[balance]`'s).
    #[serde(default)]
    pub hash_key: Option<String>,
    /// Most attempts per request (default: `[balance]`'s).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Active health checks (default: `[balance.health]`).
    #[serde(default)]
    pub health: Option<HealthCheck>,
    /// Sticky sessions (default: `[balance.sticky]`).
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// Slow start (default: `[balance]`'s).
    #[serde(default, deserialize_with = "super::duration::optional")]
    pub slow_start: Option<Duration>,
    /// Upstream timeouts for this pool (each defaults to `[balance.timeouts]`'s).
    #[serde(default)]
    pub timeouts: PoolTimeouts,
    /// The pool's servers.
    #[serde(default)]
    pub servers: Vec<toml::Spanned<ServerConfig>>,
}

/// The timeouts a pool may set for itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTimeouts {
    /// Establishing a connection to one of this pool's servers.
    #[serde(default, deserialize_with = "super::duration::optional")]
    pub connect: Option<Duration>,
    /// Waiting for a response head.
    #[serde(default, deserialize_with = "super::duration::optional")]
    pub upstream_response: Option<Duration>,
    /// A WebSocket tunnel with no traffic is closed after this.
    #[serde(default, deserialize_with = "super::duration::optional")]
    pub tunnel_idle: Option<Duration>,
}

/// One string or a list of them (`host = "a"` or `host = ["a", "b"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// A header condition: a value it must equal, or `true` for "present".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HeaderCondition {
    /// `true`: present with any value (`false` is refused).
    Present(bool),
    /// Equal to this value.
    Equals(String),
}

/// One route: `[[balance.routes]]`. Conditions are all ANDed; exactly one of
/// `pool`, `redirect` and `respond` says what happens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name in metrics and the dashboard (default `route-N`, N counting from 1).
    #[serde(default)]
    pub name: Option<String>,
    /// Host names (`example.com`, `*.example.com`); any host when absent.
    #[serde(default)]
    pub host: Option<OneOrMany>,
    /// Path prefix, matched at a segment boundary (`/api` matches `/api/x`, not `/apix`).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Whole path.
    #[serde(default)]
    pub path: Option<String>,
    /// A regular expression the whole normalised path must match (anchored at
    /// both ends: `/users/[0-9]+/avatar`).
    #[serde(default)]
    pub path_regex: Option<String>,
    /// Methods (any when absent).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Header conditions: `{ "x-canary" = "1", "x-debug" = true }`.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderCondition>,
    /// Forward to this pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Redirect to this target; `{path}`, `{rest}`, `{query}` and `{host}` are filled in.
    #[serde(default)]
    pub redirect: Option<String>,
    /// Answer with this status ourselves (maintenance pages, blocked paths).
    #[serde(default)]
    pub respond: Option<u16>,
    /// Redirect status (301, 302, 303, 307 or 308; default 308).
    #[serde(default)]
    pub status: Option<u16>,
    /// Body of a `respond` route.
    #[serde(default)]
    pub body: Option<String>,
    /// Content type of a `respond` route (default `text/plain; charset=utf-8`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Remove the matched `path_prefix` before forwarding (`/api/x` → `/x`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// Replace the matched `path_prefix` with this one before forwarding.
    #[serde(default)]
    pub replace_prefix: Option<String>,
    /// Header rules applied to the request before it is forwarded.
    #[serde(default)]
    pub request_headers: HeaderRules,
    /// Header rules applied to the response before the client gets it.
    #[serde(default)]
    pub response_headers: HeaderRules,
    /// A per-client rate limit on this route.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// Compress this route's responses (default: `compression.enabled`).
    #[serde(default)]
    pub compress: Option<bool>,
}

/// Header rules; values may use `{client_ip}`, `{request_id}` and `{host}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    /// Replace (or create) these headers.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Append these values, keeping any already there.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A per-client rate limit (GCRA: a token bucket stored as one number per client).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `N/s`, `N/m` or `N/h`.
    pub rate: String,
    /// Requests allowed at once above the steady rate (default: one second's worth, at least 1).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Who a bucket belongs to: `ip` (default), `header:NAME` or `cookie:NAME`.
    #[serde(default = "default_limit_key")]
    pub key: String,
    /// Keep the buckets in `rate_limit_store`, shared by every front door using it.
    #[serde(default)]
    pub shared: bool,
}

fn default_limit_key() -> String {
    "ip".into()
}

/// What a rate limit's buckets are keyed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey {
    /// The client address (from `X-Forwarded-For` only when the peer is a trusted proxy).
    Ip,
    /// A request header's value (requests without it share one bucket).
    Header(http::HeaderName),
    /// A cookie's value (requests without it are keyed by address).
    Cookie(String),
}

impl RateLimitConfig {
    /// `(rate, period, burst, key)`, or why not.
    pub fn parse(&self) -> Result<(u32, Duration, u32, LimitKey), String> {
        let (n, unit) = self
            .rate
            .split_once('/')
            .ok_or_else(|| format!("rate `{}` must look like 10/s, 600/m or 3600/h", self.rate))?;
        let n: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("rate `{}` needs a positive count", self.rate))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("rate unit `{other}` must be s, m or h")),
        };
        let per_second = (f64::from(n) / period.as_secs_f64()).ceil() as u32;
        let burst = self.burst.unwrap_or(per_second.max(1));
        if burst == 0 {
            return Err("burst must be at least 1".into());
        }
        let key = match self.key.as_str() {
            "ip" => LimitKey::Ip,
            k => {
                if let Some(h) = k.strip_prefix("header:") {
                    LimitKey::Header(
                        http::HeaderName::from_bytes(h.trim().as_bytes())
                            .map_err(|_| format!("`{h}` is not a header name"))?,
                    )
                } else if let Some(c) = k.strip_prefix("cookie:").filter(|c| !c.is_empty()) {
                    LimitKey::Cookie(c.to_string())
                } else {
                    return Err(format!("key `{k}` must be ip, header:NAME or cookie:NAME"));
                }
            }
        };
        Ok((n, period, burst, key))
    }
}

/// A trusted proxy: an address or a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `::1`, `192.168.1.7`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { net, bits })
    }

    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A header value or redirect target with `{variables}`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub(crate) Vec<Part>);

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Var(Var),
}

/// A variable a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// The normalised path.
    Path,
    /// The path after the matched prefix.
    Rest,
    /// `?query`, or nothing.
    Query,
    /// The request's host, as sent.
    Host,
    /// The client's address.
    ClientIp,
    /// The request id we set.
    RequestId,
}

impl Template {
    /// Parse `text`, allowing only `vars`.
    pub fn parse(text: &str, vars: &[&str]) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{text}`: `{{` without `}}`"))?;
            let name = &rest[open + 1..open + close];
            if !vars.contains(&name) {
                return Err(format!(
                    "`{text}`: unknown variable {{{name}}}; use {}",
                    vars.iter()
                        .map(|v| format!("{{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            parts.push(Part::Var(match name {
                "path" => Var::Path,
                "rest" => Var::Rest,
                "query" => Var::Query,
                "host" => Var::Host,
                "client_ip" => Var::ClientIp,
                _ => Var::RequestId,
            }));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template(parts))
    }

    /// Whether the template is plain text.
    pub fn is_static(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Text(_)))
    }
}

/// Variables a redirect target may use.
pub(crate) const REDIRECT_VARS: &[&str] = &["path", "rest", "query", "host"];
/// Variables a header value may use.
pub(crate) const HEADER_VARS: &[&str] = &["client_ip", "request_id", "host"];

impl RouteConfig {
    /// The route's matcher, checked.
    pub fn matcher(&self) -> Result<Matcher, String> {
        let hosts = self
            .host
            .as_ref()
            .map_or(&[][..], OneOrMany::as_slice)
            .iter()
            .map(|h| HostMatch::parse(h).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let path = match (&self.path_prefix, &self.path, &self.path_regex) {
            (Some(p), None, None) => Some(PathMatch::Prefix(p.clone())),
            (None, Some(p), None) => Some(PathMatch::Exact(p.clone())),
            (None, None, Some(r)) => Some(PathMatch::Regex(
                route::PathRegex::new(r).map_err(|e| e.to_string())?,
            )),
            (None, None, None) => None,
            _ => return Err("use one of path_prefix, path and path_regex, not several".into()),
        };
        let methods = self
            .methods
            .iter()
            .map(|m| {
                http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("`{m}` is not a method"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let headers = self
            .headers
            .iter()
            .map(|(name, cond)| {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a header name"))?;
                let value = match cond {
                    HeaderCondition::Present(true) => None,
                    HeaderCondition::Present(false) => {
                        return Err(format!(
                            "header `{name}` = false: a route cannot require a header's absence"
                        ))
                    }
                    HeaderCondition::Equals(v) => Some(
                        http::HeaderValue::from_str(v)
                            .map_err(|_| format!("header `{name}`: `{v}` is not a header value"))?,
                    ),
                };
                Ok(HeaderMatch { name, value })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let m = Matcher {
            hosts,
            path,
            methods,
            headers,
        };
        m.validate().map_err(|e| e.to_string())?;
        Ok(m)
    }

    /// Semantic checks of one route against the pools that exist.
    fn validate(&self, pools: &[&str], has_store: bool) -> Result<(), (&'static str, String)> {
        if let Some(r) = &self.path_regex {
            route::PathRegex::new(r).map_err(|e| ("routes.path_regex", e.to_string()))?;
        }
        self.matcher().map_err(|m| ("routes", m))?;
        let actions = [
            self.pool.is_some(),
            self.redirect.is_some(),
            self.respond.is_some(),
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            return Err((
                "routes",
                "each route needs exactly one of pool, redirect or respond".into(),
            ));
        }
        if let Some(p) = &self.pool {
            if !pools.contains(&p.as_str()) {
                return Err((
                    "routes.pool",
                    format!("no pool named `{p}`; pools: {}", pools.join(", ")),
                ));
            }
        }
        if let Some(target) = &self.redirect {
            Template::parse(target, REDIRECT_VARS).map_err(|m| ("routes.redirect", m))?;
            if let Some(s) = self.status {
                if ![301, 302, 303, 307, 308].contains(&s) {
                    return Err((
                        "routes.status",
                        format!("{s} is not a redirect status (301, 302, 303, 307, 308)"),
                    ));
                }
            }
        } else if self.status.is_some() {
            return Err((
                "routes.status",
                "status is for redirect routes; respond routes give theirs in `respond`".into(),
            ));
        }
        if let Some(s) = self.respond {
            if !(200..=599).contains(&s) {
                return Err((
                    "routes.respond",
                    format!("{s} is not a status from 200 to 599"),
                ));
            }
        } else if self.body.is_some() || self.content_type.is_some() {
            return Err((
                "routes.body",
                "body and content_type are for respond routes".into(),
            ));
        }
        if let Some(ct) = &self.content_type {
            http::HeaderValue::from_str(ct).map_err(|_| {
                (
                    "routes.content_type",
                    format!("`{ct}` is not a header value"),
                )
            })?;
        }
        if self.strip_prefix || self.replace_prefix.is_some() {
            if self.path_prefix.is_none() {
                return Err((
                    "routes.strip_prefix",
                    "strip_prefix and replace_prefix need path_prefix".into(),
                ));
            }
            if self.pool.is_none() {
                return Err((
                    "routes.strip_prefix",
                    "strip_prefix and replace_prefix apply to pool routes".into(),
                ));
            }
            if self.strip_prefix && self.replace_prefix.is_some() {
                return Err((
                    "routes.replace_prefix",
                    "use strip_prefix or replace_prefix, not both".into(),
                ));
            }
        }
        if let Some(r) = &self.replace_prefix {
            if !r.starts_with('/') || route::path::normalize(r).ok().as_deref() != Some(r) {
                return Err((
                    "routes.replace_prefix",
                    format!("`{r}` must be an absolute, normalised path"),
                ));
            }
        }
        for (which, rules) in [
            ("routes.request_headers", &self.request_headers),
            ("routes.response_headers", &self.response_headers),
        ] {
            for (name, value) in rules.set.iter().chain(&rules.add) {
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| (which, format!("`{name}` is not a header name")))?;
                let t = Template::parse(value, HEADER_VARS).map_err(|m| (which, m))?;
                if t.is_static() {
                    http::HeaderValue::from_str(value)
                        .map_err(|_| (which, format!("`{value}` is not a header value")))?;
                }
            }
            for name in &rules.remove {
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| (which, format!("`{name}` is not a header name")))?;
            }
        }
        if let Some(l) = &self.rate_limit {
            l.parse().map_err(|m| ("routes.rate_limit", m))?;
            if l.shared && !has_store {
                return Err((
                    "routes.rate_limit.shared",
                    "shared = true needs rate_limit_store = \"redis://host:port\" in [balance]"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Every pool's effective configuration, the default pool first: `[balance]`
    /// with the pool's own settings laid over it and its servers in `servers`.
    pub fn effective_pools(&self) -> Vec<(String, Config)> {
        let mut base = self.clone();
        base.pools = Vec::new();
        base.routes = Vec::new();
        let mut out = Vec::with_capacity(1 + self.pools.len());
        for p in &self.pools {
            let p = p.get_ref();
            let mut c = base.clone();
            c.servers = p.servers.clone();
            if let Some(a) = p.algorithm {
                c.algorithm = a;
                // A pool that picks its own algorithm does not inherit a hash key meant for another.
                c.hash_key = None;
            }
            if p.hash_key.is_some() {
                c.hash_key = p.hash_key.clone();
            }
            if let Some(n) = p.attempts {
                c.attempts = n;
            }
            if p.health.is_some() {
                c.health = p.health.clone();
            }
            if p.sticky.is_some() {
                c.sticky = p.sticky.clone();
            }
            if let Some(d) = p.slow_start {
                c.slow_start = d;
            }
            if let Some(d) = p.timeouts.connect {
                c.timeouts.connect = d;
            }
            if let Some(d) = p.timeouts.upstream_response {
                c.timeouts.upstream_response = d;
            }
            if let Some(d) = p.timeouts.tunnel_idle {
                c.timeouts.tunnel_idle = d;
            }
            out.push((p.name.clone(), c));
        }
        out.insert(0, (DEFAULT_POOL.to_string(), base));
        out
    }

    /// The pools and routes part of [`Config::validate`].
    pub(super) fn validate_routes(
        &self,
        err: &super::Locate<'_>,
    ) -> Result<(), super::ConfigError> {
        let mut names = vec![DEFAULT_POOL];
        for p in &self.pools {
            let span = Some(p.span());
            let name = p.get_ref().name.as_str();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(err(
                    span,
                    "pools.name",
                    format!("`{name}` must be letters, digits, `-`, `_` or `.`"),
                ));
            }
            if names.contains(&name) {
                return Err(err(
                    span,
                    "pools.name",
                    if name == DEFAULT_POOL {
                        "`default` is the pool of [balance]'s own servers; name this pool otherwise"
                            .into()
                    } else {
                        format!("`{name}` names two pools; names must be unique")
                    },
                ));
            }
            names.push(name);
        }
        // Each pool's effective configuration passes the same checks as [balance].
        for (i, (name, cfg)) in self.effective_pools().into_iter().enumerate().skip(1) {
            let span = Some(self.pools[i - 1].span());
            cfg.validate_pool(None)
                .map_err(|e| err(span.clone(), &format!("pools.{name}"), e.message))?;
        }
        for (i, r) in self.routes.iter().enumerate() {
            r.get_ref()
                .validate(&names, self.rate_limit_store.is_some())
                .map_err(|(key, msg)| {
                    err(Some(r.span()), key, format!("route {}: {msg}", i + 1))
                })?;
        }
        if let Some(url) = &self.rate_limit_store {
            crate::limit_store::Store::new(url).map_err(|m| err(None, "rate_limit_store", m))?;
        }
        for p in &self.trusted_proxies {
            if Cidr::parse(p).is_none() {
                return Err(err(
                    None,
                    "trusted_proxies",
                    format!("`{p}` is not an address or CIDR block"),
                ));
            }
        }
        Ok(())
    }

    /// Advice that does not stop the configuration from loading: routes that can
    /// never match, pools no route uses. `bigstep balance --check` prints these.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let matchers: Vec<Matcher> = self
            .routes
            .iter()
            .filter_map(|r| r.get_ref().matcher().ok())
            .collect();
        if let Ok(table) = route::Table::build(matchers) {
            for (later, earlier) in table.shadowed() {
                out.push(format!(
                    "route {} ({}) can never match: route {} ({}) matches every request it would",
                    later + 1,
                    self.route_name(later),
                    earlier + 1,
                    self.route_name(earlier)
                ));
            }
        }
        for p in &self.pools {
            let name = &p.get_ref().name;
            if !self
                .routes
                .iter()
                .any(|r| r.get_ref().pool.as_deref() == Some(name))
            {
                out.push(format!("pool `{name}` is not used by any route"));
            }
            if p.get_ref().servers.is_empty() {
                out.push(format!(
                    "pool `{name}` has no servers: its routes will answer 503"
                ));
            }
        }
        let catch_all = self.routes.iter().any(|r| {
            let r = r.get_ref();
            r.host.is_none()
                && r.path.is_none()
                && r.path_regex.is_none()
                && r.path_prefix.as_deref().is_none_or(|p| p == "/")
                && r.methods.is_empty()
                && r.headers.is_empty()
        });
        if !self.routes.is_empty() && self.servers.is_empty() && !catch_all {
            out.push("the default pool ([balance]'s own servers) is empty: requests no route matches get 503".into());
        }
        // Weight 0 takes a server out of rotation; all of a pool's servers at
        // 0 is a pool that answers every request 503 while each shows "up".
        let named = self
            .pools
            .iter()
            .map(|p| (p.get_ref().name.as_str(), &p.get_ref().servers));
        for (name, servers) in std::iter::once((DEFAULT_POOL, &self.servers)).chain(named) {
            if !servers.is_empty() && servers.iter().all(|s| s.get_ref().weight == 0) {
                out.push(format!(
                    "every server of pool `{name}` has weight 0: it takes no requests, and they get 503 no-healthy-server; give one a weight of 1 or more"
                ));
            }
        }
        // Two entries at one address are one server with two shares (HAProxy
        // accepts it too); usually it is a `ctl add` of a server already there.
        let named = self
            .pools
            .iter()
            .map(|p| (p.get_ref().name.as_str(), &p.get_ref().servers));
        for (name, servers) in std::iter::once((DEFAULT_POOL, &self.servers)).chain(named) {
            for (i, later) in servers.iter().enumerate() {
                let later = later.get_ref();
                if let Some(first) = servers[..i]
                    .iter()
                    .map(|s| s.get_ref())
                    .find(|s| s.address.eq_ignore_ascii_case(&later.address))
                {
                    out.push(format!(
                        "servers `{}` and `{}` of pool `{name}` are both {}: that server takes both their shares of the traffic; remove one (raise the other's weight for a bigger share)",
                        first.id(),
                        later.id(),
                        later.address
                    ));
                }
            }
        }
        let pools = self.pools.iter().map(|p| &p.get_ref().servers);
        for s in std::iter::once(&self.servers).chain(pools).flatten() {
            let s = s.get_ref();
            if s.tls && s.tls_insecure_skip_verify {
                out.push(format!(
                    "server `{}` has tls_insecure_skip_verify = true: its certificate is not verified (give tls_ca instead)",
                    s.id()
                ));
            }
        }
        // The example's key, copied into production, lets anyone who read the
        // example sign a cookie naming any server.
        if let Some(st) = &self.sticky {
            if st
                .key
                .as_deref()
                .is_some_and(|k| k.starts_with("replace-me"))
            {
                out.push(
                    "sticky.key is the example's placeholder: anyone can sign cookies with it; use the output of `openssl rand -hex 32`, the same on every front door".into(),
                );
            }
        }
        out
    }

    /// A route's name: its own, or `route-N`.
    pub fn route_name(&self, i: usize) -> String {
        self.routes[i]
            .get_ref()
            .name
            .clone()
            .unwrap_or_else(|| format!("route-{}", i + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
[[servers]]
address = "127.0.0.1:1"

[[pools]]
name = "api"
algorithm = "least-in-flight"
attempts = 1
[[pools.servers]]
address = "127.0.0.1:2"

[[routes]]
host = "api.example.com"
pool = "api"

[[routes]]
path_prefix = "/old"
redirect = "https://example.com/new{rest}{query}"
status = 301
"#;

    #[test]
    fn pools_inherit_and_override() {
        let c = Config::from_toml(&format!("attempts = 4\nslow_start = \"2s\"\n{SITE}")).unwrap();
        let pools = c.effective_pools();
        assert_eq!(pools[0].0, "default");
        assert_eq!(pools[0].1.attempts, 4);
        assert_eq!(pools[1].0, "api");
        assert_eq!(pools[1].1.attempts, 1);
        assert_eq!(pools[1].1.algorithm, Algorithm::LeastInFlight);
        assert_eq!(pools[1].1.slow_start, Duration::from_secs(2), "inherited");
        assert_eq!(pools[1].1.servers[0].get_ref().address, "127.0.0.1:2");
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let bad = SITE.replace("pool = \"api\"", "pool = \"apx\"");
        let e = Config::from_toml(&bad).unwrap_err().message;
        assert!(
            e.contains("routes.pool") && e.contains("apx") && e.contains("line 12"),
            "{e}"
        );
        let two = SITE.replace("status = 301", "status = 301\npool = \"api\"");
        let e = Config::from_toml(&two).unwrap_err().message;
        assert!(e.contains("exactly one") && e.contains("route 2"), "{e}");
        let var = SITE.replace("{rest}", "{nope}");
        let e = Config::from_toml(&var).unwrap_err().message;
        assert!(e.contains("routes.redirect") && e.contains("{nope}"), "{e}");
        let dup = format!("{SITE}\n[[pools]]\nname = \"api\"\n");
        assert!(Config::from_toml(&dup)
            .unwrap_err()
            .message
            .contains("unique"));
        let default = format!("{SITE}\n[[pools]]\nname = \"default\"\n");
        assert!(Config::from_toml(&default)
            .unwrap_err()
            .message
            .contains("`default`"));
        let shared = SITE.replace("status = 301", "status = 301\n[[routes]]\npath = \"/s\"\npool = \"api\"\nrate_limit = { rate = \"1/s\", shared = true }");
        let e = Config::from_toml(&shared).unwrap_err().message;
        assert!(e.contains("rate_limit_store"), "{e}");
        let bad_store = format!("rate_limit_store = \"http://x:1\"\n{SITE}");
        assert!(Config::from_toml(&bad_store)
            .unwrap_err()
            .message
            .contains("redis://"));
        let hash = format!("{SITE}\n[[pools]]\nname = \"h\"\nalgorithm = \"hash\"\n");
        let e = Config::from_toml(&hash).unwrap_err().message;
        assert!(e.contains("pools.h") && e.contains("hash_key"), "{e}");
    }

    #[test]
    fn path_regex_routes_and_their_errors() {
        let ok =
            format!("{SITE}[[routes]]\npath_regex = \"/users/[0-9]+/avatar\"\npool = \"api\"\n");
        let c = Config::from_toml(&ok).unwrap();
        let m = c.routes[2].get_ref().matcher().unwrap();
        assert!(m.path.as_ref().unwrap().matches("/users/7/avatar"));
        let bad = format!("{SITE}[[routes]]\npath_regex = \"/users/([\"\npool = \"api\"\n");
        let e = Config::from_toml(&bad).unwrap_err().message;
        assert!(
            e.contains("routes.path_regex")
                && e.contains("line 20")
                && e.contains("route 3")
                && e.contains("/users/(["),
            "{e}"
        );
        let both =
            format!("{SITE}[[routes]]\npath = \"/a\"\npath_regex = \"/a\"\npool = \"api\"\n");
        let e = Config::from_toml(&both).unwrap_err().message;
        assert!(e.contains("not several") && e.contains("line 20"), "{e}");
    }

    #[test]
    fn warnings_find_dead_routes_and_unused_pools() {
        let src = format!(
            "{SITE}\n[[pools]]\nname = \"spare\"\n[[routes]]\nhost = \"api.example.com\"\npath_prefix = \"/v1\"\npool = \"api\"\n"
        );
        let w = Config::from_toml(&src).unwrap().warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("route 3") && w.contains("never match")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("`spare` is not used")), "{w:?}");
        assert!(
            w.iter().any(|w| w.contains("`spare` has no servers")),
            "{w:?}"
        );
    }

    #[test]
    fn warnings_find_two_servers_at_one_address() {
        let src = "[[servers]]\nname = \"a\"\naddress = \"127.0.0.1:9001\"\n[[servers]]\nname = \"b\"\naddress = \"127.0.0.1:9002\"\n[[pools]]\nname = \"api\"\n[[pools.servers]]\nname = \"c\"\naddress = \"127.0.0.1:9001\"\n[[routes]]\npath_prefix = \"/api\"\npool = \"api\"\n";
        // The same address in two pools is one host serving both: no warning.
        let c = Config::from_toml(src).unwrap();
        assert!(
            !c.warnings().iter().any(|w| w.contains("are both")),
            "{:?}",
            c.warnings()
        );
        let twice = format!("{src}[[servers]]\nname = \"d\"\naddress = \"127.0.0.1:9002\"\n");
        let w = Config::from_toml(&twice).unwrap().warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("`b` and `d` of pool `default` are both 127.0.0.1:9002")),
            "{w:?}"
        );
    }

    #[test]
    fn rate_limits_parse() {
        let l = |rate: &str, key: &str| RateLimitConfig {
            rate: rate.into(),
            burst: None,
            key: key.into(),
            shared: false,
        };
        assert_eq!(
            l("10/s", "ip").parse().unwrap(),
            (10, Duration::from_secs(1), 10, LimitKey::Ip)
        );
        assert_eq!(l("60/m", "cookie:sid").parse().unwrap().2, 1);
        assert!(l("10/d", "ip").parse().is_err());
        assert!(l("0/s", "ip").parse().is_err());
        assert!(l("1/s", "path").parse().is_err());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn templates() {
        let t = Template::parse("https://x{path}{query}", REDIRECT_VARS).unwrap();
        assert_eq!(t.0.len(), 3);
        assert!(Template::parse("{client_ip}", REDIRECT_VARS).is_err());
        assert!(Template::parse("a{b", HEADER_VARS).is_err());
        assert!(Template::parse("plain", HEADER_VARS).unwrap().is_static());
    }
}
