//! Single-host assumption detectors: what an app does that works on one server
//! and breaks on two, seen in real responses as they pass the front door. Off
//! unless the binary turns them on ([`crate::FrontDoor::set_findings`]; `bigstep
//! up` does): they look at every response.
//!
//! - **Session lost**, for any cookie (or the names configured): a request
//!   carries cookie `C=old` and the response sets `C=new`. Who issued `old`
//!   decides: another server issued it → that server's session was unknown
//!   here (sessions in process memory or on local disk). The same server
//!   replacing its own value is the app rotating a token, and a cookie name
//!   seen rotating that way is learned as "not a session" and ignored from
//!   then on. A value we never saw issued counts only for configured names.
//!   Deletions are logouts; static paths (`/favicon.ico`, `*.css`, ...) are
//!   ignored, since browsers fetch them alongside the page with whatever cookie
//!   they had.
//!   An app that carries its session in a header instead (`Authorization:
//!   Bearer …`, `X-Session: …`; only the names configured) loses it the same
//!   way: a request sends a value that another server issued (in that response
//!   header) or accepted (answered 2xx/3xx), and this server answers 401 or
//!   sends a new value in that header.
//! - **File on one instance only**: a GET answered 2xx by one server, then 404
//!   by another within the window: the file is on the first one's local disk.
//!   Any other method on the path (a DELETE, a new upload) forgets what was seen.
//! - **Fails on some instances only** (instance-only state): a request answered
//!   5xx by one server while another answered the same method and path 2xx or
//!   3xx within the window. The failing one lacks something the other has: an
//!   object in its process memory (`cart[id]` → KeyError → 500), a local file,
//!   a per-process cache or setting. The front door's own 502/504 (a server down
//!   or too slow) are not responses of the app and are not counted.
//!
//! Each finding is counted per (kind, server, path), at most [`MAX_FINDINGS`]
//! distinct ones, and carries one line of likely cause and one of fix.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderValue};
use http::Method;
use serde::Serialize;

use crate::headers::cookie_in;
use crate::Control;

/// Distinct (kind, server, path) findings kept.
pub const MAX_FINDINGS: usize = 500;
/// Issued cookie values and GET paths remembered (forgotten all at once when full).
const MAX_REMEMBERED: usize = 20_000;
/// Same-server replacements after which a cookie name is taken as a rotating token.
const ROTATIONS_TO_LEARN: u32 = 2;

/// What the detectors watch.
#[derive(Debug, Clone)]
pub struct FindingsConfig {
    /// Cookie names that are sessions; empty means every cookie is watched.
    pub session_cookies: Vec<String>,
    /// Request headers that carry a session (`Authorization`, `X-Session`);
    /// none by default. Names that are not valid header names are ignored.
    pub session_headers: Vec<String>,
    /// How long a 2xx for a path is remembered when looking for a 404 elsewhere.
    pub file_window: Duration,
    /// How long a success for a method and path is remembered when looking for
    /// a 5xx elsewhere.
    pub failure_window: Duration,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        Self {
            session_cookies: Vec::new(),
            session_headers: Vec::new(),
            file_window: Duration::from_secs(300),
            failure_window: Duration::from_secs(300),
        }
    }
}

/// The kind of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A session cookie replaced by another server.
    SessionLoss,
    /// A file found on one server and missing on another.
    FileOnOneInstance,
    /// A request that fails (5xx) on one server and succeeds on another.
    InstanceOnlyState,
}

/// One finding, as the dashboard and `up`'s summary show it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was seen.
    pub kind: Kind,
    /// A short title, naming the cookie for session losses.
    pub title: String,
    /// The server that lost the session / lacks the file.
    pub server: String,
    /// The request path.
    pub path: String,
    /// How many times.
    pub count: u64,
    /// The likely cause, one line.
    pub cause: String,
    /// The fix, one line.
    pub fix: String,
}

#[derive(Default)]
struct Seen {
    /// (cookie name, value) → the server whose response set it.
    issued: HashMap<(String, String), Arc<str>>,
    /// Cookie names and how often their issuer replaced them.
    rotations: HashMap<String, u32>,
    /// (session header, value) → the servers that issued or accepted it.
    tokens: HashMap<(usize, Vec<u8>), Vec<Arc<str>>>,
    /// GET path → the last server that answered it 2xx, and when.
    found: HashMap<String, (Arc<str>, Instant)>,
    /// (method, path) → the last server that answered it 2xx/3xx, and when.
    succeeded: HashMap<(Method, String), (Arc<str>, Instant)>,
    /// (kind, server, path, detail) → count.
    counts: HashMap<(Kind, Arc<str>, String, String), u64>,
}

/// The detectors' memory. A std mutex: held for a few map operations, never
/// across an `.await`.
pub(crate) struct Findings {
    config: FindingsConfig,
    names: HashSet<String>,
    /// The session headers, as configured (for titles) and parsed.
    headers: Vec<(String, header::HeaderName)>,
    seen: Mutex<Seen>,
}

impl Findings {
    pub(crate) fn new(config: FindingsConfig) -> Self {
        Findings {
            names: config.session_cookies.iter().cloned().collect(),
            headers: config
                .session_headers
                .iter()
                .filter_map(|n| {
                    Some((
                        n.clone(),
                        header::HeaderName::from_bytes(n.as_bytes()).ok()?,
                    ))
                })
                .collect(),
            config,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The request's values of the session headers, kept for [`observe`](Self::observe)
    /// (empty, with nothing allocated, when none are configured).
    pub(crate) fn sent(&self, request: &HeaderMap) -> Vec<(usize, HeaderValue)> {
        self.headers
            .iter()
            .enumerate()
            .filter_map(|(i, (_, name))| Some((i, request.get(name)?.clone())))
            .collect()
    }

    /// Look at one response from `server`. `sent`: from [`sent`](Self::sent).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe(
        &self,
        server: &Arc<str>,
        method: &Method,
        path: &str,
        request_cookie: Option<&HeaderValue>,
        sent: &[(usize, HeaderValue)],
        status: u16,
        response: &HeaderMap,
    ) {
        let sets_cookies = response.contains_key(header::SET_COOKIE);
        let get = *method == Method::GET || *method == Method::HEAD;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.failures(&mut seen, server, method, path, status);
        if !self.headers.is_empty() {
            self.session_headers(&mut seen, server, path, sent, status, response);
        }
        if sets_cookies {
            self.cookies(&mut seen, server, path, request_cookie, response);
        }
        if get {
            self.files(&mut seen, server, path, status);
        } else {
            seen.found.remove(path);
        }
    }

    fn cookies(
        &self,
        seen: &mut Seen,
        server: &Arc<str>,
        path: &str,
        request_cookie: Option<&HeaderValue>,
        response: &HeaderMap,
    ) {
        for set in response.get_all(header::SET_COOKIE) {
            let Some((name, value)) = set_cookie(set) else {
                continue;
            };
            if !self.names.is_empty() && !self.names.contains(name) {
                continue;
            }
            let old = request_cookie
                .and_then(|c| cookie_in(c, name))
                .filter(|old| !old.is_empty() && *old != value);
            if let Some(old) = old {
                let issuer = seen
                    .issued
                    .get(&(name.to_string(), old.to_string()))
                    .cloned();
                match issuer {
                    Some(i) if i == *server => {
                        *seen.rotations.entry(name.to_string()).or_default() += 1;
                    }
                    Some(_) if !is_static(path) && !self.rotates(seen, name) => {
                        count(seen, Kind::SessionLoss, server, path, name);
                    }
                    None if !is_static(path) && self.names.contains(name) => {
                        count(seen, Kind::SessionLoss, server, path, name);
                    }
                    _ => {}
                }
            }
            if seen.issued.len() >= MAX_REMEMBERED {
                seen.issued.clear();
            }
            seen.issued
                .insert((name.to_string(), value.to_string()), server.clone());
        }
    }

    fn session_headers(
        &self,
        seen: &mut Seen,
        server: &Arc<str>,
        path: &str,
        sent: &[(usize, HeaderValue)],
        status: u16,
        response: &HeaderMap,
    ) {
        for (i, (title, name)) in self.headers.iter().enumerate() {
            let old = sent
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, v)| v.as_bytes())
                .filter(|v| !v.is_empty());
            let new = response
                .get(name)
                .map(HeaderValue::as_bytes)
                .filter(|v| !v.is_empty());
            if let Some(old) = old {
                let key = (i, old.to_vec());
                let lost = status == 401 || new.is_some_and(|n| n != old);
                if lost {
                    // Known elsewhere, unknown here: the session lives in one
                    // instance's memory. Unknown everywhere (expired): not ours.
                    let elsewhere = seen.tokens.get(&key).is_some_and(|k| !k.contains(server));
                    if elsewhere && !is_static(path) {
                        count(
                            seen,
                            Kind::SessionLoss,
                            server,
                            path,
                            &format!("header {title}"),
                        );
                    }
                } else if (200..400).contains(&status) {
                    remember(seen, key, server);
                }
            }
            if let Some(new) = new {
                remember(seen, (i, new.to_vec()), server);
            }
        }
    }

    fn rotates(&self, seen: &Seen, name: &str) -> bool {
        !self.names.contains(name)
            && seen.rotations.get(name).copied().unwrap_or(0) >= ROTATIONS_TO_LEARN
    }

    fn files(&self, seen: &mut Seen, server: &Arc<str>, path: &str, status: u16) {
        let now = Instant::now();
        match status {
            200..=299 => {
                if seen.found.len() >= MAX_REMEMBERED {
                    seen.found.clear();
                }
                seen.found.insert(path.to_string(), (server.clone(), now));
            }
            404 => {
                let elsewhere = seen.found.get(path).is_some_and(|(s, at)| {
                    s != server && now.duration_since(*at) <= self.config.file_window
                });
                if elsewhere {
                    count(seen, Kind::FileOnOneInstance, server, path, "");
                }
            }
            _ => {}
        }
    }

    fn failures(
        &self,
        seen: &mut Seen,
        server: &Arc<str>,
        method: &Method,
        path: &str,
        status: u16,
    ) {
        let now = Instant::now();
        match status {
            200..=399 => {
                if seen.succeeded.len() >= MAX_REMEMBERED {
                    seen.succeeded.clear();
                }
                seen.succeeded
                    .insert((method.clone(), path.to_string()), (server.clone(), now));
            }
            500..=599 => {
                let elsewhere = seen
                    .succeeded
                    .get(&(method.clone(), path.to_string()))
                    .is_some_and(|(s, at)| {
                        s != server && now.duration_since(*at) <= self.config.failure_window
                    });
                if elsewhere {
                    count(seen, Kind::InstanceOnlyState, server, path, method.as_str());
                }
            }
            _ => {}
        }
    }

    /// Every finding, most frequent first.
    pub(crate) fn list(&self) -> Vec<Finding> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Finding> = seen
            .counts
            .iter()
            .map(|((kind, server, path, detail), &n)| explain(*kind, server, path, detail, n))
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.server, &a.path).cmp(&(&b.server, &b.path)))
        });
        out
    }
}

/// `server` issued or accepted this session header value.
fn remember(seen: &mut Seen, key: (usize, Vec<u8>), server: &Arc<str>) {
    if seen.tokens.len() >= MAX_REMEMBERED {
        seen.tokens.clear();
    }
    let knowers = seen.tokens.entry(key).or_default();
    if !knowers.contains(server) {
        knowers.push(server.clone());
    }
}

fn count(seen: &mut Seen, kind: Kind, server: &Arc<str>, path: &str, detail: &str) {
    let key = (kind, server.clone(), path.to_string(), detail.to_string());
    if let Some(n) = seen.counts.get_mut(&key) {
        *n += 1;
    } else if seen.counts.len() < MAX_FINDINGS {
        seen.counts.insert(key, 1);
    }
}

fn explain(kind: Kind, server: &str, path: &str, detail: &str, count: u64) -> Finding {
    let (title, cause, fix) = match kind {
        Kind::SessionLoss if detail.starts_with("header ") => (
            format!("Session lost ({detail})"),
            format!("{server} did not know the session another instance created or accepted, and refused (401) or replaced the {detail} the client sent: the app keeps sessions in process memory or on local disk"),
            "keep sessions (tokens) in the shared state (REDIS_URL); meanwhile sticky sessions hide it".to_string(),
        ),
        Kind::SessionLoss => (
            format!("Session lost (cookie {detail})"),
            format!("{server} did not know the session another instance created and gave the user a new `{detail}`: the app keeps sessions in process memory or on local disk"),
            "keep sessions in the shared state (REDIS_URL); meanwhile sticky sessions hide it".to_string(),
        ),
        Kind::FileOnOneInstance => (
            "File on one instance only".to_string(),
            format!("another instance served this path, {server} answered 404: the file was saved to one instance's local disk"),
            "store uploads in the shared files (S3_ENDPOINT_URL, bucket BIGSTEP_BUCKET)".to_string(),
        ),
        Kind::InstanceOnlyState => (
            format!("Fails on some instances only ({detail})"),
            format!("{server} answered 5xx where another instance answered the same request successfully: it lacks state the other keeps to itself (process memory, a local file or cache)"),
            "keep that state in the shared state (REDIS_URL) or the shared files; the failing instance's log shows what it missed".to_string(),
        ),
    };
    Finding {
        kind,
        title,
        server: server.to_string(),
        path: path.to_string(),
        count,
        cause,
        fix,
    }
}

/// `name=value` of a Set-Cookie that sets a value (a deletion is a logout: `None`).
fn set_cookie(v: &HeaderValue) -> Option<(&str, &str)> {
    let s = v.to_str().ok()?;
    let mut parts = s.split(';');
    let (name, value) = parts.next()?.trim().split_once('=')?;
    let value = value.trim().trim_matches('"');
    if value.is_empty() {
        return None;
    }
    let deleting = parts.any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == "max-age=0" || a.starts_with("max-age=-") || a.contains("1970")
    });
    (!deleting).then_some((name.trim(), value))
}

/// Paths browsers fetch alongside a page, with whatever cookie they had.
fn is_static(path: &str) -> bool {
    const EXT: [&str; 14] = [
        ".ico", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".css", ".js", ".map", ".woff",
        ".woff2", ".ttf", ".txt",
    ];
    let lower = path.to_ascii_lowercase();
    EXT.iter().any(|e| lower.ends_with(e))
}

impl Control {
    /// The single-host findings so far; `None` when the detectors are off.
    pub fn findings(&self) -> Option<Vec<Finding>> {
        self.0.findings.get().map(Findings::list)
    }

    /// Whether the single-host detectors are on.
    pub fn findings_on(&self) -> bool {
        self.0.findings.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(set: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for s in set {
            h.append(header::SET_COOKIE, s.parse().unwrap());
        }
        h
    }

    fn cookie(s: &str) -> HeaderValue {
        HeaderValue::from_static(Box::leak(s.to_string().into_boxed_str()))
    }

    #[test]
    fn a_session_created_on_one_server_and_replaced_on_another_is_a_loss() {
        let f = Findings::new(FindingsConfig::default());
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        f.observe(
            &a,
            &Method::GET,
            "/",
            None,
            &[],
            200,
            &resp(&["sid=1; Path=/"]),
        );
        f.observe(
            &b,
            &Method::GET,
            "/cart",
            Some(&cookie("sid=1")),
            &[],
            200,
            &resp(&["sid=2"]),
        );
        let l = f.list();
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(
            (l[0].kind, &*l[0].server, &*l[0].path),
            (Kind::SessionLoss, "b", "/cart")
        );
        assert!(l[0].title.contains("sid"));
        // The same server keeping the value, a logout, a static path: nothing.
        f.observe(
            &a,
            &Method::GET,
            "/",
            Some(&cookie("sid=2")),
            &[],
            200,
            &resp(&["sid=2"]),
        );
        f.observe(
            &a,
            &Method::GET,
            "/",
            Some(&cookie("sid=2")),
            &[],
            200,
            &resp(&["sid=; Max-Age=0"]),
        );
        f.observe(
            &a,
            &Method::GET,
            "/favicon.ico",
            Some(&cookie("sid=2")),
            &[],
            404,
            &resp(&["sid=9"]),
        );
        assert_eq!(f.list()[0].count, 1);
    }

    /// A session in a header: issued by `a` in `X-Session`, or accepted by `a`
    /// in `Authorization`; `b` refusing (401) or replacing it is a loss.
    #[test]
    fn a_session_header_known_on_one_server_and_refused_on_another_is_a_loss() {
        let f = Findings::new(FindingsConfig {
            session_headers: vec!["Authorization".into(), "X-Session".into()],
            ..Default::default()
        });
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let req = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        // X-Session issued by a; b answers with a new one.
        f.observe(
            &a,
            &Method::POST,
            "/login",
            None,
            &[],
            200,
            &req(&[("x-session", "t1")]),
        );
        let sent = f.sent(&req(&[("x-session", "t1")]));
        f.observe(
            &b,
            &Method::GET,
            "/me",
            None,
            &sent,
            200,
            &req(&[("x-session", "t2")]),
        );
        // A bearer token a accepted; b does not know it.
        let bearer = f.sent(&req(&[("authorization", "Bearer k")]));
        f.observe(
            &a,
            &Method::GET,
            "/me",
            None,
            &bearer,
            200,
            &HeaderMap::new(),
        );
        f.observe(
            &b,
            &Method::GET,
            "/me",
            None,
            &bearer,
            401,
            &HeaderMap::new(),
        );
        let mut titles: Vec<String> = f
            .list()
            .iter()
            .map(|l| format!("{} {}", l.title, l.server))
            .collect();
        titles.sort();
        assert_eq!(
            titles,
            [
                "Session lost (header Authorization) b",
                "Session lost (header X-Session) b"
            ]
        );
        // Its own server refusing it (expired), a token nobody accepted, the
        // same value sent back: nothing more.
        f.observe(
            &a,
            &Method::GET,
            "/me",
            None,
            &bearer,
            401,
            &HeaderMap::new(),
        );
        let unknown = f.sent(&req(&[("authorization", "Bearer never")]));
        f.observe(
            &b,
            &Method::GET,
            "/me",
            None,
            &unknown,
            401,
            &HeaderMap::new(),
        );
        f.observe(
            &a,
            &Method::GET,
            "/me",
            None,
            &sent,
            200,
            &req(&[("x-session", "t1")]),
        );
        assert_eq!(f.list().iter().map(|l| l.count).sum::<u64>(), 2);
        // Not configured: a header session is not watched.
        let off = Findings::new(FindingsConfig::default());
        assert!(off.sent(&req(&[("authorization", "Bearer k")])).is_empty());
    }

    #[test]
    fn a_token_its_own_server_rotates_is_learned_and_ignored() {
        let f = Findings::new(FindingsConfig::default());
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        f.observe(&a, &Method::GET, "/", None, &[], 200, &resp(&["csrf=1"]));
        f.observe(
            &a,
            &Method::GET,
            "/",
            Some(&cookie("csrf=1")),
            &[],
            200,
            &resp(&["csrf=2"]),
        );
        f.observe(
            &a,
            &Method::GET,
            "/",
            Some(&cookie("csrf=2")),
            &[],
            200,
            &resp(&["csrf=3"]),
        );
        f.observe(
            &b,
            &Method::GET,
            "/",
            Some(&cookie("csrf=3")),
            &[],
            200,
            &resp(&["csrf=4"]),
        );
        assert!(f.list().is_empty(), "{:?}", f.list());
    }

    #[test]
    fn only_named_cookies_when_names_are_given() {
        let f = Findings::new(FindingsConfig {
            session_cookies: vec!["PHPSESSID".into()],
            ..Default::default()
        });
        let b: Arc<str> = "b".into();
        f.observe(
            &b,
            &Method::GET,
            "/",
            Some(&cookie("x=1; PHPSESSID=old")),
            &[],
            200,
            &resp(&["x=2", "PHPSESSID=new"]),
        );
        let l = f.list();
        assert_eq!(l.len(), 1);
        assert!(l[0].title.contains("PHPSESSID"));
    }

    #[test]
    fn a_file_served_by_one_server_and_missing_on_another() {
        let f = Findings::new(FindingsConfig::default());
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let none = HeaderMap::new();
        f.observe(&b, &Method::GET, "/u/x", None, &[], 404, &none); // before the upload: fine
        f.observe(&a, &Method::GET, "/u/x", None, &[], 200, &none);
        f.observe(&a, &Method::GET, "/u/x", None, &[], 404, &none); // the same server: not this finding
        assert!(f.list().is_empty());
        f.observe(&b, &Method::GET, "/u/x", None, &[], 404, &none);
        let l = f.list();
        assert_eq!(
            (l[0].kind, &*l[0].server, l[0].count),
            (Kind::FileOnOneInstance, "b", 1)
        );
        // Deleted: a 404 afterwards is the truth, not a finding.
        f.observe(&a, &Method::GET, "/u/y", None, &[], 200, &none);
        f.observe(&a, &Method::DELETE, "/u/y", None, &[], 204, &none);
        f.observe(&b, &Method::GET, "/u/y", None, &[], 404, &none);
        assert_eq!(f.list().len(), 1);
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    #[test]
    fn a_request_failing_on_one_server_and_served_by_another() {
        let f = Findings::new(FindingsConfig::default());
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let none = HeaderMap::new();
        // Failing everywhere is a bug of the app, not of where it runs.
        f.observe(&a, &Method::GET, "/cart/1", None, &[], 500, &none);
        f.observe(&b, &Method::GET, "/cart/1", None, &[], 500, &none);
        assert!(f.list().is_empty(), "{:?}", f.list());
        f.observe(&a, &Method::GET, "/cart/1", None, &[], 200, &none);
        f.observe(&a, &Method::GET, "/cart/1", None, &[], 503, &none); // the same server: not this
        f.observe(&a, &Method::POST, "/cart/1", None, &[], 500, &none); // another method: not this
        assert!(f.list().is_empty(), "{:?}", f.list());
        f.observe(&b, &Method::GET, "/cart/1", None, &[], 500, &none);
        f.observe(&b, &Method::GET, "/cart/1", None, &[], 502, &none);
        let l = f.list();
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(
            (l[0].kind, &*l[0].server, &*l[0].path, l[0].count),
            (Kind::InstanceOnlyState, "b", "/cart/1", 2)
        );
        assert!(l[0].title.contains("GET") && !l[0].fix.is_empty());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The detectors never panic on arbitrary cookies, Set-Cookie values and paths.
        #[test]
        fn total_on_garbage(req in "[ -~]{0,60}", set in "[ -~]{0,60}", path in "/[ -~]{0,30}", status in 100u16..600) {
            let f = Findings::new(FindingsConfig::default());
            let s: Arc<str> = "a".into();
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&set) {
                h.insert(header::SET_COOKIE, v);
            }
            let c = HeaderValue::from_str(&req).ok();
            f.observe(&s, &Method::GET, &path, c.as_ref(), &[], status, &h);
            f.observe(&"b".into(), &Method::GET, &path, c.as_ref(), &[], 404, &h);
            let _ = f.list();
        }
    }
}
