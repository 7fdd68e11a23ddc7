//! Which route a request takes: an ordered table of matchers on host, path,
//! method and headers; the first route that matches wins. Pure: no I/O, no
//! runtime, so it is tested by properties and benchmarked on its own.
//!
//! The table is built once per routing snapshot (off the request path) and
//! matched against the request's normalised host and path (see [`path`]), the
//! same path the upstream server is then sent.
//!
//! Matching rules, chosen to be unsurprising and documented in the README:
//! - **Host**: case-insensitive, port and a trailing dot ignored. `*.example.com`
//!   matches any name ending in `.example.com` at any depth (nginx's rule), not
//!   `example.com` itself. A route without hosts matches every host.
//! - **Path**: `exact` compares the whole path; `prefix` matches at a segment
//!   boundary: `/api` matches `/api`, `/api/` and `/api/v1`, never `/apix` (a
//!   prefix ending in `/` matches only below it).
//!   `regex` must match the whole normalised path (it is anchored at both
//!   ends, as Envoy's `safe_regex`, so `/admin/.*` cannot match `/x/admin/`);
//!   it is compiled once per snapshot, with a size limit, by the `regex` crate,
//!   whose matching time is linear in the path's length.
//! - **Method**, **header** (present, or equal to a value): all listed must hold.

pub mod limit;
pub mod path;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// A host pattern, lower-cased when built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// The whole name.
    Exact(String),
    /// `*.example.com`, kept as the suffix `.example.com`.
    Suffix(String),
}

impl HostMatch {
    /// Parses `example.com` or `*.example.com`.
    pub fn parse(pattern: &str) -> Result<HostMatch, RouteError> {
        let p = pattern.trim_end_matches('.').to_ascii_lowercase();
        let valid = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                })
        };
        match p.strip_prefix("*.") {
            Some(rest) if valid(rest) => Ok(HostMatch::Suffix(format!(".{rest}"))),
            None if valid(&p) => Ok(HostMatch::Exact(p)),
            _ => Err(RouteError::BadHost(pattern.to_string())),
        }
    }

    /// Whether `host` (already normalised by [`normalize_host`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => host == h,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

/// The request's host as routes see it: lower case, no port, no trailing dot.
/// Borrowed when it already is.
pub fn normalize_host(host: &str) -> std::borrow::Cow<'_, str> {
    let no_port = match host.rfind(':') {
        // An IPv6 literal keeps its colons: `[::1]:8080` → `[::1]`.
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    let bare = no_port.strip_suffix('.').unwrap_or(no_port);
    if bare.bytes().any(|c| c.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(bare.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(bare)
    }
}

/// A path matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole (normalised) path.
    Exact(String),
    /// A prefix at a segment boundary.
    Prefix(String),
    /// A regular expression the whole (normalised) path matches.
    Regex(PathRegex),
}

/// A compiled path regex, anchored at both ends. Two are equal when their
/// patterns are.
#[derive(Debug, Clone)]
pub struct PathRegex {
    pattern: String,
    regex: regex::Regex,
}

/// The largest compiled regex accepted: route patterns are short, and a
/// pattern that compiles to more (say `(a{1000}){1000}`) is a mistake.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl PathRegex {
    /// Compiles `pattern` to match whole paths.
    pub fn new(pattern: &str) -> Result<PathRegex, RouteError> {
        let regex = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| RouteError::BadRegex(pattern.to_string(), e.to_string()))?;
        Ok(PathRegex {
            pattern: pattern.to_string(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

impl PartialEq for PathRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for PathRegex {}

impl PathMatch {
    /// Whether `path` (normalised) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Regex(r) => r.regex.is_match(path),
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || path.len() == p.len()
                        || path.as_bytes()[p.len()] == b'/')
            }
        }
    }

    /// The part of `path` after a prefix match (for prefix stripping), always
    /// starting with `/`.
    pub fn rest<'a>(&self, path: &'a str) -> &'a str {
        match self {
            PathMatch::Prefix(p) => {
                let keep = if p.ends_with('/') {
                    p.len() - 1
                } else {
                    p.len()
                };
                match &path[keep..] {
                    "" => "/",
                    rest => rest,
                }
            }
            PathMatch::Exact(_) | PathMatch::Regex(_) => "/",
        }
    }
}

/// One header condition.
#[derive(Debug, Clone)]
pub struct HeaderMatch {
    /// The header's name.
    pub name: HeaderName,
    /// `None`: present with any value; `Some`: equal to this value.
    pub value: Option<HeaderValue>,
}

/// What a route matches on; every listed condition must hold.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Any of these hosts (none: every host).
    pub hosts: Vec<HostMatch>,
    /// The path (none: every path).
    pub path: Option<PathMatch>,
    /// Any of these methods (none: every method).
    pub methods: Vec<Method>,
    /// All of these headers.
    pub headers: Vec<HeaderMatch>,
}

/// Why a route table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A host pattern that is not a name or `*.name`.
    #[error("`{0}` is not a host name or a *.wildcard name")]
    BadHost(String),
    /// A path matcher that is not a normal absolute path.
    #[error("path `{0}` must be absolute and normalised (e.g. `/api`)")]
    BadPath(String),
    /// A path regex that does not compile.
    #[error("path_regex `{0}` is not a valid regular expression: {1}")]
    BadRegex(String, String),
}

impl Matcher {
    /// Checks the matcher's own patterns.
    pub fn validate(&self) -> Result<(), RouteError> {
        if let Some(PathMatch::Exact(p) | PathMatch::Prefix(p)) = &self.path {
            match path::normalize(p) {
                Ok(std::borrow::Cow::Borrowed(_)) => {}
                _ => return Err(RouteError::BadPath(p.clone())),
            }
        }
        Ok(())
    }

    /// Whether a request matches; `host` and `path` are normalised.
    pub fn matches(&self, host: &str, path: &str, method: &Method, headers: &HeaderMap) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(host)))
            && self.path.as_ref().is_none_or(|p| p.matches(path))
            && (self.methods.is_empty() || self.methods.contains(method))
            && self
                .headers
                .iter()
                .all(|h| match (&h.value, headers.get(&h.name)) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(want), Some(got)) => want == got,
                })
    }
}

/// The ordered route table: index `i` is the `i`-th route of the config.
#[derive(Debug, Clone, Default)]
pub struct Table {
    routes: Vec<Matcher>,
}

impl Table {
    /// Builds a table, refusing invalid matchers (naming the route's index).
    pub fn build(routes: Vec<Matcher>) -> Result<Table, (usize, RouteError)> {
        for (i, r) in routes.iter().enumerate() {
            r.validate().map_err(|e| (i, e))?;
        }
        Ok(Table { routes })
    }

    /// The first route that matches, or `None` (the default pool's turn).
    pub fn find(
        &self,
        host: &str,
        path: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<usize> {
        self.routes
            .iter()
            .position(|r| r.matches(host, path, method, headers))
    }

    /// Routes that can never match because an earlier route matches everything
    /// they do (a conservative check: same or wider host set, method set and
    /// path, and no header conditions on the earlier one). For `--check`.
    pub fn shadowed(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (j, later) in self.routes.iter().enumerate() {
            if let Some(i) = self.routes[..j]
                .iter()
                .position(|earlier| covers(earlier, later))
            {
                out.push((j, i));
            }
        }
        out
    }
}

/// Whether every request `b` matches is also matched by `a`.
fn covers(a: &Matcher, b: &Matcher) -> bool {
    let hosts = a.hosts.is_empty()
        || (!b.hosts.is_empty()
            && b.hosts.iter().all(|hb| {
                a.hosts.iter().any(|ha| match (ha, hb) {
                    (x, y) if x == y => true,
                    (HostMatch::Suffix(s), HostMatch::Exact(h)) => {
                        HostMatch::Suffix(s.clone()).matches(h)
                    }
                    (HostMatch::Suffix(s), HostMatch::Suffix(t)) => t.ends_with(s.as_str()),
                    _ => false,
                })
            }));
    let path = match (&a.path, &b.path) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(pa @ PathMatch::Prefix(_)), Some(PathMatch::Exact(p) | PathMatch::Prefix(p))) => {
            pa.matches(p)
        }
        (Some(PathMatch::Exact(x)), Some(PathMatch::Exact(y))) => x == y,
        (Some(PathMatch::Exact(_)), Some(PathMatch::Prefix(_))) => false,
        // What a regex matches is not compared; only `/` (every path) covers one.
        (Some(PathMatch::Prefix(p)), Some(PathMatch::Regex(_))) => p == "/",
        (Some(PathMatch::Regex(x)), Some(PathMatch::Regex(y))) => x == y,
        (Some(PathMatch::Regex(x)), Some(PathMatch::Exact(p))) => x.regex.is_match(p),
        (Some(PathMatch::Regex(_) | PathMatch::Exact(_)), Some(_)) => false,
    };
    let methods = a.methods.is_empty()
        || (!b.methods.is_empty() && b.methods.iter().all(|m| a.methods.contains(m)));
    hosts && path && methods && a.headers.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    fn m(hosts: &[&str], path: Option<PathMatch>) -> Matcher {
        Matcher {
            hosts: hosts.iter().map(|h| HostMatch::parse(h).unwrap()).collect(),
            path,
            ..Matcher::default()
        }
    }

    fn prefix(p: &str) -> Option<PathMatch> {
        Some(PathMatch::Prefix(p.into()))
    }

    #[test]
    fn hosts() {
        let w = HostMatch::parse("*.Example.com").unwrap();
        assert!(w.matches("a.example.com") && w.matches("a.b.example.com"));
        assert!(!w.matches("example.com") && !w.matches("aexample.com"));
        assert_eq!(normalize_host("WWW.Example.COM.:8080"), "www.example.com");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("[::1]"), "[::1]");
        assert!(HostMatch::parse("*").is_err());
        assert!(HostMatch::parse("a..b").is_err());
        assert!(HostMatch::parse("a b").is_err());
    }

    #[test]
    fn prefixes_match_at_segment_boundaries() {
        let p = PathMatch::Prefix("/api".into());
        assert!(p.matches("/api") && p.matches("/api/") && p.matches("/api/v1"));
        assert!(!p.matches("/apix") && !p.matches("/ap"));
        assert_eq!(p.rest("/api/v1?x"), "/v1?x");
        assert_eq!(p.rest("/api"), "/");
        let slash = PathMatch::Prefix("/uploads/".into());
        assert!(slash.matches("/uploads/a") && !slash.matches("/uploads"));
        assert_eq!(slash.rest("/uploads/a/b"), "/a/b");
        assert!(PathMatch::Prefix("/".into()).matches("/anything"));
    }

    #[test]
    fn first_match_wins_and_headers_methods_count() {
        let mut api = m(&["api.example.com"], None);
        api.methods = vec![Method::POST];
        let mut canary = m(&[], prefix("/"));
        canary.headers = vec![HeaderMatch {
            name: HeaderName::from_static("x-canary"),
            value: Some(HeaderValue::from_static("1")),
        }];
        let t = Table::build(vec![api, canary, m(&["*.example.com"], prefix("/static"))]).unwrap();
        let none = HeaderMap::new();
        let mut yes = HeaderMap::new();
        yes.insert("x-canary", HeaderValue::from_static("1"));
        assert_eq!(
            t.find("api.example.com", "/x", &Method::POST, &none),
            Some(0)
        );
        assert_eq!(t.find("api.example.com", "/x", &Method::GET, &none), None);
        assert_eq!(t.find("api.example.com", "/x", &Method::GET, &yes), Some(1));
        assert_eq!(
            t.find("www.example.com", "/static/a.css", &Method::GET, &none),
            Some(2)
        );
        assert_eq!(
            t.find("www.example.com", "/staticx", &Method::GET, &none),
            None
        );
    }

    #[test]
    fn bad_paths_are_refused_with_the_route_index() {
        let err = Table::build(vec![m(&[], prefix("/ok")), m(&[], prefix("/a/../b"))]).unwrap_err();
        assert_eq!(err, (1, RouteError::BadPath("/a/../b".into())));
        assert!(Table::build(vec![m(&[], prefix("api"))]).is_err());
    }

    #[test]
    fn regexes_match_whole_paths() {
        let r = PathMatch::Regex(PathRegex::new("/users/[0-9]+/avatar").unwrap());
        assert!(r.matches("/users/42/avatar"));
        assert!(!r.matches("/users/42/avatar/x") && !r.matches("/x/users/42/avatar"));
        assert!(!r.matches("/users/abc/avatar"));
        // An alternation is anchored as a whole, not just its first branch.
        let alt = PathMatch::Regex(PathRegex::new("/a|/b").unwrap());
        assert!(alt.matches("/b") && !alt.matches("/bx") && !alt.matches("/xa"));
        assert!(matches!(
            PathRegex::new("/users/(["),
            Err(RouteError::BadRegex(p, _)) if p == "/users/(["
        ));
        assert!(PathRegex::new("(a{1000}){1000}").is_err(), "size limit");
    }

    #[test]
    fn regex_routes_in_the_table() {
        let avatar = || {
            Some(PathMatch::Regex(
                PathRegex::new("/users/[0-9]+/avatar").unwrap(),
            ))
        };
        let t = Table::build(vec![
            m(&["www.example.com"], avatar()),
            m(&[], prefix("/users")),
            m(&["www.example.com"], avatar()),
            m(&[], Some(PathMatch::Exact("/users/7/avatar".into()))),
        ])
        .unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            t.find("www.example.com", "/users/7/avatar", &Method::GET, &none),
            Some(0)
        );
        assert_eq!(
            t.find("api.example.com", "/users/7/avatar", &Method::GET, &none),
            Some(1)
        );
        // Route 2 repeats route 0; route 3's one path is inside route 1's prefix.
        assert_eq!(t.shadowed(), vec![(2, 0), (3, 1)]);
    }

    #[test]
    fn shadowed_routes_are_found() {
        let t = Table::build(vec![
            m(&["*.example.com"], prefix("/api")),
            m(&["www.example.com"], prefix("/api/v1")),
            m(&["www.example.com"], prefix("/static")),
            m(&[], None),
            m(&["other.org"], None),
        ])
        .unwrap();
        assert_eq!(t.shadowed(), vec![(1, 0), (4, 3)]);
    }

    const HOSTS: &[&str] = &["a.example.com", "b.example.com", "*.example.com"];

    proptest! {
        /// `shadowed` is sound: when it says route j is covered by i, no
        /// request that matches j reaches it.
        #[test]
        fn shadowed_is_sound(
            hosts in proptest::collection::vec(select(HOSTS), 0..2),
            hosts2 in proptest::collection::vec(select(HOSTS), 0..2),
            p1 in select(&["/", "/a", "/a/b", "/a/"][..]),
            p2 in select(&["/", "/a", "/a/b", "/a/", "/ab"][..]),
            req_host in select(&["a.example.com", "b.example.com", "x.a.example.com", "example.com"][..]),
            req_path in select(&["/", "/a", "/a/", "/a/b", "/a/b/c", "/ab"][..]),
        ) {
            let t = Table::build(vec![m(&hosts, prefix(p1)), m(&hosts2, prefix(p2))]).unwrap();
            if t.shadowed() == vec![(1, 0)] {
                let hit = t.find(req_host, req_path, &Method::GET, &HeaderMap::new());
                prop_assert_ne!(hit, Some(1));
            }
        }
    }
}
