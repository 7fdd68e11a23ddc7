//! Routes at run time: the compiled route table of one snapshot, what each
//! route does (forward to a pool, redirect, answer), its header rules and rate
//! limit. The matching itself is the pure [`crate::route`] table; this module
//! owns the parts that touch a request.
//!
//! With no routes configured nothing here runs on a request but one branch:
//! every request goes to the default pool with its path untouched, as before
//! pools existed. With routes, the path is normalised once
//! ([`route::path::normalize`]) and the server is sent the path the route
//! matched, so a rule guarding `/admin` cannot be walked around.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Response, StatusCode};

use crate::body::ResponseBody;
use crate::clock::now_ns;
use crate::config::{Cidr, Config, HeaderRules, LimitKey, Part, Template, Var};
use crate::error::{ErrorKind, ProxyError};
use crate::headers::cookie_value;
use crate::limit_store::Store;
use crate::route::{self, limit::Gcra, PathMatch};
use crate::stats::{Counter, ServerStats};

/// Counters of one route that survive reloads (kept by route name).
#[derive(Default)]
pub(crate) struct RouteLive {
    pub(crate) stats: ServerStats,
    /// Requests refused by the route's rate limit.
    pub(crate) limited: Counter,
    buckets: Buckets,
}

/// The compiled route table of one snapshot.
pub(crate) struct Routes {
    table: route::Table,
    routes: Vec<CompiledRoute>,
    trusted: Vec<Cidr>,
    /// Where `shared` limits keep their buckets.
    pub(crate) store: Option<Arc<Store>>,
}

pub(crate) struct CompiledRoute {
    pub(crate) name: Arc<str>,
    prefix: Option<PathMatch>,
    action: Action,
    request_headers: Rules,
    response_headers: Rules,
    limit: Option<Limit>,
    /// Compress responses (None: `compression.enabled` decides).
    compress: Option<bool>,
    pub(crate) live: Arc<RouteLive>,
}

struct Limit {
    gcra: Gcra,
    key: LimitKey,
    /// Buckets in the shared store rather than this front door's memory.
    shared: bool,
}

enum Action {
    /// Forward to `pools[pool]`, replacing the matched prefix when `replace` is set.
    Forward {
        pool: usize,
        replace: Option<String>,
    },
    Redirect {
        status: StatusCode,
        target: Template,
    },
    Respond {
        status: StatusCode,
        body: Bytes,
        content_type: HeaderValue,
    },
}

/// Where a request goes.
pub(crate) enum Routed {
    /// To pool `pool`, through route `route` (none: no route matched, the default pool).
    Forward { route: Option<usize>, pool: usize },
    /// Answered here (redirect, fixed response) by route `route`.
    Answer {
        route: usize,
        response: Response<ResponseBody>,
    },
    /// Refused (bad path, rate limit); the route, when one matched.
    Refused {
        route: Option<usize>,
        error: ProxyError,
    },
}

/// What header rule templates may read.
pub(crate) struct Vars<'a> {
    pub(crate) client_ip: IpAddr,
    pub(crate) request_id: &'a HeaderValue,
    pub(crate) host: Option<&'a HeaderValue>,
}

impl Routes {
    pub(crate) fn build(
        config: &Config,
        live: &HashMap<Arc<str>, Arc<RouteLive>>,
        store: Option<Arc<Store>>,
    ) -> Routes {
        let pool_index = |name: &str| {
            std::iter::once(crate::config::DEFAULT_POOL)
                .chain(config.pools.iter().map(|p| p.get_ref().name.as_str()))
                .position(|n| n == name)
        };
        let mut matchers = Vec::with_capacity(config.routes.len());
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, r) in config.routes.iter().enumerate() {
            let r = r.get_ref();
            // Validated before any snapshot is built; a failure here is a bug.
            let matcher = r.matcher().expect("validated route");
            let prefix = matcher
                .path
                .clone()
                .filter(|p| matches!(p, PathMatch::Prefix(_)));
            matchers.push(matcher);
            let action = if let Some(pool) = &r.pool {
                let replace = if r.strip_prefix {
                    Some(String::new())
                } else {
                    r.replace_prefix.clone()
                };
                Action::Forward {
                    pool: pool_index(pool).expect("validated pool"),
                    replace,
                }
            } else if let Some(target) = &r.redirect {
                Action::Redirect {
                    status: StatusCode::from_u16(r.status.unwrap_or(308)).expect("validated"),
                    target: Template::parse(target, crate::config::REDIRECT_VARS)
                        .expect("validated"),
                }
            } else {
                let status = StatusCode::from_u16(r.respond.unwrap_or(200)).expect("validated");
                Action::Respond {
                    status,
                    body: Bytes::from(r.body.clone().unwrap_or_default()),
                    content_type: HeaderValue::from_str(
                        r.content_type
                            .as_deref()
                            .unwrap_or("text/plain; charset=utf-8"),
                    )
                    .expect("validated"),
                }
            };
            let name: Arc<str> = Arc::from(config.route_name(i));
            routes.push(CompiledRoute {
                live: live.get(&name).cloned().unwrap_or_default(),
                name,
                prefix,
                action,
                request_headers: Rules::compile(&r.request_headers),
                response_headers: Rules::compile(&r.response_headers),
                compress: r.compress,
                limit: r.rate_limit.as_ref().map(|l| {
                    let (rate, period, burst, key) = l.parse().expect("validated");
                    Limit {
                        gcra: Gcra::new(rate, period, burst).expect("validated"),
                        key,
                        shared: l.shared,
                    }
                }),
            });
        }
        Routes {
            table: route::Table::build(matchers).expect("validated routes"),
            routes,
            trusted: config
                .trusted_proxies
                .iter()
                .filter_map(|c| Cidr::parse(c))
                .collect(),
            store,
        }
    }

    pub(crate) fn live(&self) -> HashMap<Arc<str>, Arc<RouteLive>> {
        self.routes
            .iter()
            .map(|r| (r.name.clone(), r.live.clone()))
            .collect()
    }

    /// Whether responses through `route` (none: no route matched) are compressed.
    pub(crate) fn compresses(&self, route: Option<usize>, enabled: bool) -> bool {
        route
            .and_then(|i| self.routes[i].compress)
            .unwrap_or(enabled)
    }

    pub(crate) fn get(&self, i: usize) -> &CompiledRoute {
        &self.routes[i]
    }

    pub(crate) fn all(&self) -> &[CompiledRoute] {
        &self.routes
    }

    /// Decide where the request goes, rewriting its path and headers for the
    /// pool it is forwarded to. `peer` is the connection's address. Nothing
    /// here waits, so the proxy's per-request future holds no routing state;
    /// only a rate limit shared through the state server must ask it, and
    /// then the request comes back as a [`SharedLimit`] for
    /// [`Routes::route_shared`]. The path and host are borrowed from the
    /// request unless normalising changed them.
    pub(crate) fn route(
        &self,
        parts: &mut Parts,
        peer: IpAddr,
        vars: &Vars<'_>,
    ) -> Result<Routed, SharedLimit> {
        if self.routes.is_empty() {
            return Ok(Routed::Forward {
                route: None,
                pool: 0,
            });
        }
        // `Some` only when normalising changed the path (then the server is
        // sent the normal form).
        let (found, normalised) = {
            let path = match route::path::normalize(parts.uri.path()) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(Routed::Refused {
                        route: None,
                        error: ProxyError::with_detail(ErrorKind::BadPath, e.to_string()),
                    })
                }
            };
            let host = route::normalize_host(request_host(parts));
            let found = self.table.find(&host, &path, &parts.method, &parts.headers);
            (
                found,
                matches!(path, Cow::Owned(_)).then(|| path.into_owned()),
            )
        };
        let Some(i) = found else {
            if let Some(path) = &normalised {
                set_path(parts, path);
            }
            return Ok(Routed::Forward {
                route: None,
                pool: 0,
            });
        };
        if let Some(limit) = &self.routes[i].limit {
            let key = limit_key(&limit.key, parts, peer, &self.trusted);
            if limit.shared && self.store.is_some() {
                return Err(SharedLimit {
                    route: i,
                    key,
                    normalised,
                });
            }
            let verdict = self.routes[i]
                .live
                .buckets
                .check(&limit.gcra, key.as_bytes());
            if let Err(wait) = verdict {
                return Ok(self.limited(i, wait));
            }
        }
        Ok(self.act(i, parts, normalised, vars))
    }

    /// The rest of [`Routes::route`] for a route whose rate limit is shared:
    /// ask the state server, then act.
    pub(crate) async fn route_shared(
        &self,
        parts: &mut Parts,
        vars: &Vars<'_>,
        pending: SharedLimit,
    ) -> Routed {
        let i = pending.route;
        let r = &self.routes[i];
        if let (Some(store), Some(limit)) = (&self.store, &r.limit) {
            let key = format!("bigstep:ratelimit:{}:{}", r.name, pending.key);
            if let Err(wait) = store.check(&key, &limit.gcra).await {
                return self.limited(i, wait);
            }
        }
        self.act(i, parts, pending.normalised, vars)
    }

    /// A 429 from route `i`'s rate limit.
    fn limited(&self, i: usize, wait: std::time::Duration) -> Routed {
        self.routes[i].live.limited.inc();
        let mut error = ProxyError::new(ErrorKind::RateLimited);
        // Whole seconds, rounded up: `Retry-After: 0` would invite an immediate retry.
        error.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        Routed::Refused {
            route: Some(i),
            error,
        }
    }

    /// Route `i` matched and let the request through: forward, redirect or answer.
    fn act(
        &self,
        i: usize,
        parts: &mut Parts,
        normalised: Option<String>,
        vars: &Vars<'_>,
    ) -> Routed {
        let r = &self.routes[i];
        match &r.action {
            Action::Forward { pool, replace } => {
                match (replace, &r.prefix) {
                    (Some(with), Some(prefix)) => {
                        let path = normalised.as_deref().unwrap_or(parts.uri.path());
                        let replaced = replace_prefix(prefix, path, with);
                        set_path(parts, &replaced)
                    }
                    _ => {
                        if let Some(path) = &normalised {
                            set_path(parts, path);
                        }
                    }
                }
                r.request_headers.apply(&mut parts.headers, vars);
                Routed::Forward {
                    route: Some(i),
                    pool: *pool,
                }
            }
            Action::Redirect { status, target } => {
                let path = normalised.unwrap_or_else(|| parts.uri.path().to_owned());
                let host = route::normalize_host(request_host(parts)).into_owned();
                let rest = r.prefix.as_ref().map_or(path.as_str(), |p| p.rest(&path));
                let query = parts
                    .uri
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                let mut location = String::new();
                for part in &target.0 {
                    match part {
                        Part::Text(t) => location.push_str(t),
                        Part::Var(Var::Path) => location.push_str(&path),
                        Part::Var(Var::Rest) => location.push_str(rest),
                        Part::Var(Var::Query) => location.push_str(&query),
                        Part::Var(Var::Host) => location.push_str(&host),
                        Part::Var(_) => {}
                    }
                }
                let Ok(location) = HeaderValue::from_str(&location) else {
                    return Routed::Refused {
                        route: Some(i),
                        error: ProxyError::with_detail(ErrorKind::BadPath, "redirect target"),
                    };
                };
                let mut resp = Response::new(ResponseBody::empty());
                *resp.status_mut() = *status;
                resp.headers_mut().insert(header::LOCATION, location);
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                r.response_headers.apply(resp.headers_mut(), vars);
                Routed::Answer {
                    route: i,
                    response: resp,
                }
            }
            Action::Respond {
                status,
                body,
                content_type,
            } => {
                let mut resp = Response::new(ResponseBody::full(body.clone()));
                *resp.status_mut() = *status;
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, content_type.clone());
                r.response_headers.apply(resp.headers_mut(), vars);
                Routed::Answer {
                    route: i,
                    response: resp,
                }
            }
        }
    }
}

/// A request whose route has a rate limit shared through the state server:
/// what [`Routes::route`] found, for [`Routes::route_shared`].
pub(crate) struct SharedLimit {
    route: usize,
    key: String,
    normalised: Option<String>,
}

impl CompiledRoute {
    /// Does the route change a server's response headers?
    pub(crate) fn rewrites_responses(&self) -> bool {
        !self.response_headers.is_empty()
    }

    /// The route's response header rules, applied to a server's response.
    pub(crate) fn on_response(&self, headers: &mut HeaderMap, vars: &Vars<'_>) {
        self.response_headers.apply(headers, vars);
    }
}

/// The host a request names: the absolute-form target's, else `Host`.
fn request_host(parts: &Parts) -> &str {
    if let Some(h) = parts.uri.host() {
        return h;
    }
    parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

/// Puts `path` (keeping the query) into the request target, if it changed.
fn set_path(parts: &mut Parts, path: &str) {
    if parts.uri.path() == path {
        return;
    }
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    uri.path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(pq)).ok();
    if let Ok(u) = http::Uri::from_parts(uri) {
        parts.uri = u;
    }
}

/// `path` with the matched `prefix` replaced by `with` (empty: stripped).
fn replace_prefix(prefix: &PathMatch, path: &str, with: &str) -> String {
    let rest = prefix.rest(path);
    let whole = match prefix {
        PathMatch::Prefix(p) => path.len() == p.trim_end_matches('/').len(),
        PathMatch::Exact(_) | PathMatch::Regex(_) => true,
    };
    if with.is_empty() {
        rest.to_string()
    } else if whole {
        with.to_string()
    } else {
        format!("{}{rest}", with.trim_end_matches('/'))
    }
}

/// The client a rate limit counts: the connection's address, or — when that is
/// a trusted proxy — the last address in `X-Forwarded-For` that is not one.
fn client_address(parts: &Parts, peer: IpAddr, trusted: &[Cidr]) -> IpAddr {
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    let mut client = peer;
    // Our own entry (the peer) was appended last by `add_forwarding`; walk left.
    for value in parts.headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(v) = value.to_str() else { return client };
        for hop in v.rsplit(',') {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                return client;
            };
            client = ip;
            if !trusted.iter().any(|c| c.contains(ip)) {
                return client;
            }
        }
    }
    client
}

fn limit_key(key: &LimitKey, parts: &Parts, peer: IpAddr, trusted: &[Cidr]) -> String {
    let by_ip = || format!("ip:{}", client_address(parts, peer, trusted));
    match key {
        LimitKey::Ip => by_ip(),
        LimitKey::Header(h) => match parts.headers.get(h) {
            Some(v) => format!("h:{}", String::from_utf8_lossy(v.as_bytes())),
            None => by_ip(),
        },
        LimitKey::Cookie(c) => match cookie_value(&parts.headers, c) {
            Some(v) => format!("c:{v}"),
            None => by_ip(),
        },
    }
}

/// Compiled header rules.
#[derive(Default)]
struct Rules {
    set: Vec<(HeaderName, Value)>,
    add: Vec<(HeaderName, Value)>,
    remove: Vec<HeaderName>,
}

enum Value {
    Static(HeaderValue),
    Template(Template),
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    fn compile(r: &HeaderRules) -> Rules {
        let value = |v: &String| {
            let t = Template::parse(v, crate::config::HEADER_VARS).expect("validated");
            if t.is_static() {
                Value::Static(HeaderValue::from_str(v).expect("validated"))
            } else {
                Value::Template(t)
            }
        };
        let name = |n: &String| HeaderName::from_bytes(n.as_bytes()).expect("validated");
        Rules {
            set: r.set.iter().map(|(n, v)| (name(n), value(v))).collect(),
            add: r.add.iter().map(|(n, v)| (name(n), value(v))).collect(),
            remove: r.remove.iter().map(name).collect(),
        }
    }

    fn apply(&self, headers: &mut HeaderMap, vars: &Vars<'_>) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, v) in &self.set {
            if let Some(v) = v.render(vars) {
                headers.insert(name.clone(), v);
            }
        }
        for (name, v) in &self.add {
            if let Some(v) = v.render(vars) {
                headers.append(name.clone(), v);
            }
        }
    }
}

impl Value {
    fn render(&self, vars: &Vars<'_>) -> Option<HeaderValue> {
        match self {
            Value::Static(v) => Some(v.clone()),
            Value::Template(t) => {
                let mut out = Vec::new();
                for part in &t.0 {
                    match part {
                        Part::Text(s) => out.extend_from_slice(s.as_bytes()),
                        Part::Var(Var::ClientIp) => {
                            out.extend_from_slice(vars.client_ip.to_string().as_bytes())
                        }
                        Part::Var(Var::RequestId) => {
                            out.extend_from_slice(vars.request_id.as_bytes())
                        }
                        Part::Var(Var::Host) => {
                            if let Some(h) = vars.host {
                                out.extend_from_slice(h.as_bytes());
                            }
                        }
                        Part::Var(_) => {}
                    }
                }
                HeaderValue::from_bytes(&out).ok()
            }
        }
    }
}

/// Rate-limit state: one theoretical arrival time per key, in shards so
/// concurrent requests rarely meet on a lock. Bounded: a full shard first
/// forgets keys whose bucket is full again; if it is still full the request is
/// let through (failing open beats refusing everyone under a key flood).
struct Buckets {
    shards: Box<[Shard]>,
    hasher: RandomState,
}

/// Theoretical arrival times by key.
type Shard = Mutex<HashMap<Box<[u8]>, u64>>;

const SHARDS: usize = 16;
/// Keys kept per shard (16 × 64 Ki ≈ a million clients).
const SHARD_KEYS: usize = 64 * 1024;

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl Buckets {
    /// `Ok` to let the request through, or how long to wait.
    fn check(&self, gcra: &Gcra, key: &[u8]) -> Result<(), std::time::Duration> {
        let now = now_ns();
        let shard = self.hasher.hash_one(key) as usize % SHARDS;
        let mut map = self.shards[shard].lock().expect("rate-limit shard");
        let tat = map.get(key).copied().unwrap_or(0);
        match gcra.check(tat, now) {
            route::limit::Decision::Allow { tat } => {
                if let Some(slot) = map.get_mut(key) {
                    *slot = tat;
                } else {
                    if map.len() >= SHARD_KEYS {
                        map.retain(|_, t| !Gcra::forgettable(*t, now));
                    }
                    if map.len() < SHARD_KEYS {
                        map.insert(key.into(), tat);
                    }
                }
                Ok(())
            }
            route::limit::Decision::Deny { retry_after } => Err(retry_after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, host: &str, xff: Option<&str>) -> Parts {
        let mut b = http::Request::get(uri).header("host", host);
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn prefixes_are_replaced_at_segment_boundaries() {
        let api = PathMatch::Prefix("/api".into());
        assert_eq!(replace_prefix(&api, "/api/v1/x", ""), "/v1/x");
        assert_eq!(replace_prefix(&api, "/api", ""), "/");
        assert_eq!(replace_prefix(&api, "/api/x", "/v2"), "/v2/x");
        assert_eq!(replace_prefix(&api, "/api/x", "/v2/"), "/v2/x");
        assert_eq!(replace_prefix(&api, "/api", "/v2"), "/v2");
        let up = PathMatch::Prefix("/uploads/".into());
        assert_eq!(
            replace_prefix(&up, "/uploads/a.png", "/site/"),
            "/site/a.png"
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let p = parts("/", "x", Some("203.0.113.9, 10.0.0.5"));
        let lb: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_address(&p, lb, &trusted).to_string(), "203.0.113.9");
        assert_eq!(client_address(&p, stranger, &trusted), stranger);
        // A spoofed entry left of a real client is ignored: the walk stops at the first untrusted hop.
        let p = parts("/", "x", Some("1.2.3.4, 203.0.113.9, 10.0.0.5"));
        assert_eq!(client_address(&p, lb, &trusted).to_string(), "203.0.113.9");
    }

    #[test]
    fn buckets_refuse_past_the_burst_per_key() {
        let b = Buckets::default();
        let g = Gcra::new(1, std::time::Duration::from_secs(60), 2).unwrap();
        assert!(b.check(&g, b"a").is_ok());
        assert!(b.check(&g, b"a").is_ok());
        let wait = b.check(&g, b"a").unwrap_err();
        assert!(wait.as_secs() >= 59, "{wait:?}");
        assert!(b.check(&g, b"b").is_ok(), "another key has its own bucket");
    }

    #[test]
    fn set_path_keeps_the_query() {
        let mut p = parts("/a//b/../c?x=1", "h", None);
        set_path(&mut p, "/a/c");
        assert_eq!(p.uri.to_string(), "/a/c?x=1");
    }
}
