//! Forwarding one request: choose a server, send, retry when safe, stream back.
//!
//! Retry rules (the decision lives in [`ProxyError::retry`]):
//! - nothing reached the server (connect failed, pooled connection found closed
//!   before writing): retry any method, body intact;
//! - sent, but no response byte came back: retry only idempotent requests without
//!   a body (we can replay them exactly);
//! - once a response has started: never.
//!
//! Each attempt goes to a server not tried before, at most `attempts` in all.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::body::{OnDone, RequestBody, RequestDone, ResponseBody};
use crate::compress;
use crate::conn::Phase;
use crate::error::{ErrorKind, Fault, ProxyError, Retry};
use crate::headers;
use crate::origin;
use crate::routing::{RouteLive, Routed, Vars};
use crate::snapshot::{ServerPool, Snapshot};
use crate::stats::ServerStats;
use crate::sticky::Choice;
use crate::upstream::Server;
use crate::upstream_body::UpstreamBody;
use crate::Shared;

/// The hyper service for one client connection.
#[derive(Clone)]
pub(crate) struct ProxyService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: SocketAddr,
    pub(crate) phase: Arc<Phase>,
    /// Forwarding header values for this client, formatted once per connection.
    pub(crate) client_headers: Arc<headers::ClientHeaders>,
    /// What the TLS handshake negotiated, on the TLS listener.
    pub(crate) tls: Option<Arc<crate::tls::TlsInfo>>,
}

impl hyper::service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.phase.busy();
        let this = self.clone();
        // An extended CONNECT may become a WebSocket tunnel (`ws_h2`): the
        // stream itself, once hyper has sent our 200.
        let on_upgrade = (req.method() == Method::CONNECT).then(|| hyper::upgrade::on(&mut req));
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = if body.is_end_stream() {
                RequestBody::Empty
            } else {
                RequestBody::Stream {
                    inner: crate::body::StreamIn::Hyper(body),
                    limit: None,
                    seen: 0,
                }
            };
            // HTTP/2 has no Upgrade header; WebSocket comes as extended CONNECT.
            let resp = this.handle(parts, body, false, Front::Http2).await;
            if let Some(on_upgrade) = on_upgrade {
                let handoff = resp.extensions().get::<crate::tunnel::TunnelHandoff>();
                if let Some((upstream, idle)) = handoff.and_then(|t| t.take()) {
                    let stream = async move { on_upgrade.await.map(hyper_util::rt::TokioIo::new) };
                    crate::ws_h2::spawn_tunnel(
                        &this.shared,
                        stream,
                        upstream,
                        idle,
                        this.phase.clone(),
                    );
                }
            }
            Ok(resp)
        })
    }
}

/// The protocol front end a request came through: it decides what is still
/// to be checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Front {
    /// Our HTTP/1 core: `h1::parse_request` applied the request-head rules
    /// (`strict.rs` only turns an absolute-form target into origin-form).
    Http1,
    /// hyper's HTTP/2: `strict.rs` applies the rules here.
    Http2,
    /// Our HTTP/2 engine (`h2_conn`): as `Http2`, and it encodes a server's
    /// head as received (`RawHead::kept_headers`), as our HTTP/1 core writes it.
    Http2Wire,
}

impl Front {
    fn is_http2(self) -> bool {
        matches!(self, Front::Http2 | Front::Http2Wire)
    }
}

/// What the access log and metrics learn about one request.
struct Outcome {
    server: Option<Arc<Server>>,
    tries: u32,
    reason: Option<&'static str>,
}

/// What the client's connection is left with once the response is over.
enum Conn {
    /// No server answered.
    None,
    /// A server answered; its connection went back to its pool when (and if)
    /// the body ended cleanly.
    Server,
    /// It became a tunnel (101 Switching Protocols): the client connection
    /// stays busy until the tunnel ends.
    Tunnel,
}

/// What forwarding one request produced.
struct Forwarded {
    /// The server's response, or the failure that becomes the client's.
    response: Result<Response<ResponseBody>, ProxyError>,
    outcome: Outcome,
    conn: Conn,
}

impl Forwarded {
    /// Answered by a route (redirect, fixed response) without a server.
    fn answered(resp: Response<ResponseBody>) -> Self {
        Forwarded {
            response: Ok(resp),
            outcome: Outcome {
                server: None,
                tries: 0,
                reason: None,
            },
            conn: Conn::None,
        }
    }

    /// Refused before any server was tried.
    fn refused(e: ProxyError) -> Self {
        Forwarded {
            response: Err(e),
            outcome: Outcome {
                server: None,
                tries: 0,
                reason: None,
            },
            conn: Conn::None,
        }
    }
}

impl ProxyService {
    /// Answer one request: the one seam between the protocols (our HTTP/1
    /// core and hyper's HTTP/2) and the proxy. `upgrade`: the client asked to
    /// switch protocols and can (HTTP/1.1).
    pub(crate) async fn handle(
        &self,
        mut parts: Parts,
        body: RequestBody<'_>,
        upgrade: bool,
        front: Front,
    ) -> Response<ResponseBody> {
        if self.shared.acme.is_some() && self.tls.is_none() {
            if let Some(resp) = self.acme_challenge(&parts) {
                return resp;
            }
        }
        let start = Instant::now();
        let snap = self.shared.snapshot.load_full();
        let method = parts.method.clone();
        // A Uri clone shares its bytes: no copy unless the access log prints it.
        let target = parts.uri.clone();
        let mut route = None;
        let mut pool_stats = None;
        // WebSocket over HTTP/2: the request becomes an HTTP/1.1 upgrade here,
        // its answer a 200 below.
        let websocket = if front.is_http2() && method == Method::CONNECT {
            crate::ws_h2::to_upgrade(&mut parts)
        } else {
            Ok(None)
        };
        let upgrade = upgrade || matches!(websocket, Ok(Some(_)));
        let prepared = match websocket {
            Ok(ws) => self
                .prepare(parts, body, upgrade, front, &snap)
                .map(|p| (p, ws)),
            Err(e) => Err(e),
        };
        let mut websocket = None;
        let (forwarded, request_id) = match prepared {
            Ok(((mut parts, body, client_upgrade, id), ws)) => {
                websocket = ws;
                let host = parts.headers.get(header::HOST).cloned();
                let vars = Vars {
                    client_ip: self.client.ip(),
                    request_id: &id,
                    host: host.as_ref(),
                };
                // Boxed: asking the state server is rare, and its future
                // would otherwise make every request's larger.
                let routed = match snap.routes.route(&mut parts, self.client.ip(), &vars) {
                    Ok(routed) => routed,
                    Err(shared) => {
                        Box::pin(snap.routes.route_shared(&mut parts, &vars, shared)).await
                    }
                };
                let forwarded = match routed {
                    Routed::Forward { route: r, pool } => {
                        route = r;
                        let pool = &snap.pools[pool];
                        pool_stats = Some(pool.stats.clone());
                        let compress = snap
                            .routes
                            .compresses(r, snap.config.compression.enabled)
                            .then(|| compress::Asked::of(&parts.method, &parts.headers));
                        // The server's head may reach the client as received
                        // (hop-by-hop lines left out) when nothing here reads
                        // or rewrites its headers: our HTTP/1 core writes it,
                        // no compression, no route header rules. `forward`
                        // adds its own conditions.
                        let raw_head = matches!(front, Front::Http1 | Front::Http2Wire)
                            && compress.is_none()
                            && r.is_none_or(|r| !snap.routes.get(r).rewrites_responses());
                        let mut f = self
                            .forward(pool, &mut parts, body, client_upgrade, raw_head)
                            .await;
                        if let Ok(resp) = &mut f.response {
                            if let Some(r) = r {
                                snap.routes.get(r).on_response(resp.headers_mut(), &vars);
                            }
                        }
                        if let Some(asked) = compress {
                            f.response = f.response.map(|resp| {
                                compress::apply(resp, &asked, &snap.config.compression)
                            });
                        }
                        f
                    }
                    Routed::Answer { route: r, response } => {
                        route = Some(r);
                        Forwarded::answered(response)
                    }
                    Routed::Refused { route: r, error } => {
                        route = r;
                        Forwarded::refused(error)
                    }
                };
                (forwarded, Some(id))
            }
            Err(e) => (Forwarded::refused(e), None),
        };
        let Forwarded {
            response,
            mut outcome,
            mut conn,
        } = forwarded;
        let mut resp = match response {
            Ok(resp) => resp,
            Err(e) => {
                outcome.reason = Some(e.reason());
                if let Some(detail) = &e.detail {
                    tracing::debug!(target: "bigstep::proxy", error = %detail, reason = e.reason(), "request failed");
                }
                e.into_response()
            }
        };
        if let Some(expected) = &websocket {
            let switched = matches!(conn, Conn::Tunnel);
            if let crate::ws_h2::Answer::Refused(e) =
                crate::ws_h2::answer(&mut resp, switched, expected)
            {
                if let Some(t) = resp.extensions().get::<crate::tunnel::TunnelHandoff>() {
                    drop(t.take());
                }
                // Counted against the server as any bad answer; its request
                // slot ends here, as on the other failure paths.
                if let Some(server) = &outcome.server {
                    server.end_request();
                }
                tracing::debug!(target: "bigstep::proxy", error = %e, "WebSocket over HTTP/2 refused");
                outcome.reason = Some(e.reason());
                conn = Conn::None;
                resp = e.into_response();
            }
        }
        if self.tls.is_some() {
            if let Some(hsts) = snap.config.tls.as_ref().and_then(|t| t.hsts.as_deref()) {
                if let Ok(v) = HeaderValue::from_str(hsts) {
                    resp.headers_mut()
                        .insert(header::STRICT_TRANSPORT_SECURITY, v);
                }
            }
        }
        let done = Finish {
            shared: self.shared.clone(),
            tls: self.tls.clone(),
            phase: self.phase.clone(),
            conn,
            start,
            client: self.client,
            method,
            target,
            status: resp.status(),
            request_id,
            outcome,
            route: route.map(|r| snap.routes.get(r).live.clone()),
            pool_stats,
        };
        resp.body_mut().set_done(RequestDone::new(Box::new(done)));
        resp
    }

    /// An ACME HTTP-01 validation on the plain listener (when it proxies
    /// rather than redirects): answered here, never by a server.
    fn acme_challenge(&self, parts: &Parts) -> Option<Response<ResponseBody>> {
        let token = parts
            .uri
            .path()
            .strip_prefix(crate::redirect::ACME_CHALLENGE_PREFIX)?;
        let answer = self.shared.acme_http01(token)?;
        let mut resp = Response::new(ResponseBody::full(bytes::Bytes::from(answer)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        self.shared.metrics.record(200, true);
        // Complete in memory: nothing of this request is left in flight.
        self.phase.idle();
        Some(resp)
    }

    /// Check limits and rewrite headers. Nothing here waits.
    #[allow(clippy::type_complexity)]
    fn prepare<'a>(
        &self,
        mut parts: Parts,
        body: RequestBody<'a>,
        upgrade: bool,
        front: Front,
        snap: &Snapshot,
    ) -> Result<(Parts, RequestBody<'a>, bool, HeaderValue), ProxyError> {
        if parts.version == Version::HTTP_2 {
            headers::from_http2(&mut parts)?;
        }
        // The HTTP/1 core's parser applied the same rules to the head; only an
        // absolute-form (or authority-form) target is still to be rewritten.
        if front.is_http2() || parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            crate::strict::check(&mut parts)?;
        }
        let limits = &snap.config.limits;
        let uri_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
        if uri_len > limits.max_uri_bytes {
            return Err(ProxyError::new(ErrorKind::UriTooLong));
        }
        let max_body = (limits.max_body_bytes > 0).then_some(limits.max_body_bytes);
        if let Some(max) = max_body {
            if body.size_hint().lower() > max {
                return Err(ProxyError::new(ErrorKind::BodyTooLarge));
            }
        }
        let body = match body {
            RequestBody::Stream { inner, seen, .. } => RequestBody::Stream {
                inner,
                limit: max_body,
                seen,
            },
            RequestBody::Client { inner, seen, .. } => RequestBody::Client {
                inner,
                limit: max_body,
                seen,
            },
            RequestBody::Empty => RequestBody::Empty,
        };
        let client_upgrade = upgrade && headers::wants_upgrade(&parts.headers);
        // `te: trailers` is hop-by-hop, but HTTP/2 servers (gRPC) want to
        // know the client takes trailers: noted for `upstream_h2`.
        if parts
            .headers
            .get(header::TE)
            .is_some_and(headers::accepts_trailers)
        {
            parts.extensions.insert(crate::upstream_h2::TeTrailers);
        }
        let proto = headers::strip_hop_by_hop(&mut parts.headers, client_upgrade);
        if let Some(proto) = proto {
            headers::restore_upgrade(&mut parts.headers, proto);
        }
        // We answer `Expect: 100-continue` ourselves, when the body is first
        // read, i.e. once a server is ready for it.
        parts.headers.remove(header::EXPECT);
        let id = headers::add_forwarding(&mut parts.headers, &self.client_headers);
        if let Some(tls) = &self.tls {
            if let Some(name) = snap
                .config
                .tls
                .as_ref()
                .and_then(|t| t.client_subject_header.as_deref())
            {
                // Only the handshake may vouch for a client: any value it sent goes.
                parts.headers.remove(name);
                if let Some(subject) = &tls.client_subject {
                    if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                        parts.headers.insert(name, subject.clone());
                    }
                }
            }
        }
        parts.version = Version::HTTP_11;
        Ok((parts, body, client_upgrade, id))
    }

    /// The request's head is borrowed, not moved, through the tries: each
    /// step of a request is its own future, moved whole into the step above
    /// it, so a `Parts` passed by value is copied at every step and stored
    /// twice in each.
    async fn forward(
        &self,
        snap: &ServerPool,
        parts: &mut Parts,
        body: RequestBody<'_>,
        client_upgrade: bool,
        raw_head: bool,
    ) -> Forwarded {
        let cfg = &snap.config;
        let mut outcome = Outcome {
            server: None,
            tries: 0,
            reason: None,
        };
        let replayable = is_idempotent(&parts.method) && matches!(body, RequestBody::Empty);
        // Kept only for requests we may replay after they were sent.
        let replay =
            (replayable && cfg.attempts > 1 && snap.servers.len() > 1).then(|| clone_parts(parts));
        let user = snap.sticky.user(&parts.headers, self.client.ip());
        // Kept for the session-loss detector, which compares it with Set-Cookie.
        // (A HeaderValue clone shares its bytes; nothing is copied.)
        let request_cookie = parts.headers.get(header::COOKIE).cloned();
        // For the single-host detectors, when on (a Uri clone shares its bytes).
        let watch = self.shared.findings.get().map(|f| {
            (
                f,
                parts.method.clone(),
                parts.uri.clone(),
                f.sent(&parts.headers),
            )
        });
        // The session-loss detector and the findings read the response's
        // headers: then they come as a map.
        let raw_head = raw_head && request_cookie.is_none() && watch.is_none();
        // The body for the next try, while no try has consumed it (then
        // `parts` is still the request as it arrived).
        let mut pending = Some(body);
        // The servers tried so far: on the stack for the usual few attempts.
        let mut tried: smallvec::SmallVec<[usize; 4]> = smallvec::SmallVec::new();
        let mut last_err = ProxyError::new(ErrorKind::NoServer);
        let mut rerouted_from = None;

        while tried.len() < cfg.attempts as usize {
            let body = match pending.take() {
                Some(b) => b,
                None => match &replay {
                    Some(p) => {
                        *parts = clone_parts(p);
                        RequestBody::Empty
                    }
                    None => break,
                },
            };
            let Some(choice) = snap.choose(parts, self.client.ip(), &tried, &user) else {
                break;
            };
            let idx = choice.idx;
            rerouted_from = rerouted_from.or(choice.rerouted_from);
            tried.push(idx);
            outcome.tries += 1;
            if outcome.tries > 1 {
                self.shared.metrics.retries.inc();
            }
            let server = snap.servers[idx].clone();
            outcome.server = Some(server.clone());
            server.begin_request();
            match self.attempt(snap, &server, parts, body, raw_head).await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_server_error() {
                        self.passive_failure(snap, &server, "5xx");
                    } else {
                        server.record_success();
                    }
                    let look = snap.sticky.on_response(
                        &user,
                        snap,
                        Choice {
                            rerouted_from,
                            ..choice
                        },
                        request_cookie.as_ref(),
                        replay.as_ref().map(|p| p.uri.path()),
                        resp.headers(),
                    );
                    if let Some(path) = &look.session_lost_at {
                        self.shared.record_session_loss(&server.id, path);
                    }
                    if let Some((findings, method, uri, sent)) = &watch {
                        findings.observe(
                            &server.id,
                            method,
                            uri.path(),
                            request_cookie.as_ref(),
                            sent,
                            status.as_u16(),
                            resp.headers(),
                        );
                    }
                    let (mut resp, conn) =
                        self.respond(resp, client_upgrade, snap.config.timeouts.tunnel_idle);
                    if let Some(v) = look.set_cookie {
                        resp.headers_mut().append(header::SET_COOKIE, v);
                    }
                    if let Some(name) = &cfg.server_header {
                        // Validated at load: the name parses; an id is a header value.
                        if let (Ok(n), Ok(v)) = (
                            header::HeaderName::from_bytes(name.as_bytes()),
                            HeaderValue::from_str(&server.id),
                        ) {
                            resp.headers_mut().insert(n, v);
                        }
                    }
                    return Forwarded {
                        response: Ok(resp),
                        outcome,
                        conn,
                    };
                }
                Err((err, unsent)) => {
                    server.end_request();
                    // Only the server's own faults count against it: a client that
                    // aborts its upload or sends too much must not eject a server.
                    if err.fault() == Fault::Upstream {
                        self.passive_failure(snap, &server, err.reason());
                    }
                    let may_retry = match err.retry() {
                        Retry::NothingSent => true,
                        Retry::BeforeResponse => replayable,
                        Retry::No => false,
                    };
                    tracing::debug!(target: "bigstep::proxy", server = %server.id, error = %err, may_retry, "attempt failed");
                    pending = unsent;
                    last_err = err;
                    if !may_retry {
                        break;
                    }
                }
            }
        }
        let err = if outcome.tries == 0 {
            ProxyError::new(ErrorKind::NoServer)
        } else {
            last_err
        };
        Forwarded {
            response: Err(err),
            outcome,
            conn: Conn::None,
        }
    }

    /// One try against one server. On failure, hands back the body if the
    /// request was never sent (`parts` is then as it was).
    async fn attempt<'a>(
        &self,
        snap: &ServerPool,
        server: &Arc<Server>,
        parts: &mut Parts,
        mut body: RequestBody<'a>,
        raw_head: bool,
    ) -> Result<Response<UpstreamBody>, (ProxyError, Option<RequestBody<'a>>)> {
        let cfg = &snap.config;
        if !parts.headers.contains_key(header::HOST) {
            // HTTP/1.0 clients may send no Host; HTTP/1.1 servers require one.
            if let Ok(v) = HeaderValue::from_str(&server.address) {
                parts.headers.insert(header::HOST, v);
            }
        }
        let deadline = Instant::now() + cfg.timeouts.upstream_response;
        if let Some(h2) = &server.h2 {
            // Boxed, as a dial is: the HTTP/1 path's future stays as small.
            let to = crate::upstream_h2::Target {
                conn: h2,
                address: &server.address,
                tls: server.tls.as_deref(),
                connect_timeout: cfg.timeouts.connect,
                deadline,
            };
            // Its request is built from the head, which it takes; an unsent
            // request comes back whole.
            let head = std::mem::replace(parts, Request::new(()).into_parts().0);
            return match Box::pin(crate::upstream_h2::exchange(to, head, body)).await {
                Ok(resp) => Ok(resp),
                Err((e, Some((head, body)))) => {
                    *parts = head;
                    Err((e, Some(body)))
                }
                Err((e, None)) => Err((e, None)),
            };
        }
        // A pooled connection may have been closed by the server since we last used
        // it; then the request comes back unsent and we dial afresh.
        loop {
            let conn = match server.pool.take_idle(cfg.timeouts.upstream_idle) {
                Some(c) => c,
                // Boxed: a dial (with its TLS handshake) is rare next to a
                // pooled connection, and would otherwise make every
                // request's future larger, which is copied whole into its box.
                None => match Box::pin(origin::connect(
                    &server.address,
                    server.tls.as_deref(),
                    cfg.timeouts.connect,
                ))
                .await
                {
                    Ok(c) => c,
                    Err(e) => return Err((e, Some(body))),
                },
            };
            let reused = conn.reused;
            let home = crate::upstream_body::Home {
                pool: server.pool.clone(),
                max_idle: cfg.limits.max_idle_per_server,
            };
            let sent = tokio::time::timeout_at(
                deadline,
                origin::exchange(conn, parts, body, home, raw_head),
            )
            .await;
            match sent {
                Err(_elapsed) => {
                    return Err((ProxyError::new(ErrorKind::UpstreamTimeout), None));
                }
                Ok(Ok(resp)) => {
                    // The head went out: the map serves the next request.
                    crate::scratch::give_header_map(std::mem::take(&mut parts.headers));
                    return Ok(resp);
                }
                Ok(Err(origin::Failed {
                    unsent: Some(unsent),
                    ..
                })) if reused => {
                    body = unsent;
                    continue;
                }
                Ok(Err(origin::Failed { error, unsent })) => {
                    return Err((error, unsent));
                }
            }
        }
    }

    /// Turn the server's response into the client's; say where its connection goes.
    fn respond(
        &self,
        resp: Response<UpstreamBody>,
        client_upgrade: bool,
        tunnel_idle: Duration,
    ) -> (Response<ResponseBody>, Conn) {
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        match (switching, client_upgrade) {
            (true, true) => {
                let (mut head, body) = resp.into_parts();
                let proto = headers::strip_hop_by_hop(&mut head.headers, true);
                if let Some(proto) = proto {
                    headers::restore_upgrade(&mut head.headers, proto);
                }
                // The upstream connection now belongs to the tunnel, which the
                // client's task runs once the 101 is written; it never returns to the pool.
                if let Some(upstream) = body.into_tunnel() {
                    head.extensions
                        .insert(crate::tunnel::TunnelHandoff::new(upstream, tunnel_idle));
                }
                (
                    Response::from_parts(head, ResponseBody::empty()),
                    Conn::Tunnel,
                )
            }
            _ => {
                let mut resp = resp;
                // We answer with our own version (RFC 9110 §6.2): a server's HTTP/1.0
                // must not close the client's connection; a close-delimited body goes out chunked.
                *resp.version_mut() = Version::HTTP_11;
                headers::strip_hop_by_hop(resp.headers_mut(), false);
                let content_type = match resp.body().raw_head() {
                    Some(raw) => raw.get(b"content-type"),
                    None => resp
                        .headers()
                        .get(header::CONTENT_TYPE)
                        .map(HeaderValue::as_bytes),
                };
                let events = content_type.is_some_and(|v| v.starts_with(b"text/event-stream"));
                let mut resp = resp.map(ResponseBody::upstream);
                if events {
                    // An event stream never finishes by itself: end it when the
                    // drain starts, or it would hold the shutdown for the whole grace.
                    resp.body_mut().end_on(self.shared.stop.clone());
                }
                (resp, Conn::Server)
            }
        }
    }

    fn passive_failure(&self, snap: &ServerPool, server: &Server, why: &str) {
        let p = &snap.config.passive;
        let ejected = server.record_failure(
            p.consecutive_failures,
            p.base_ejection,
            p.max_ejection,
            || {
                let now = crate::clock::now_ms();
                let n = snap.servers.len() as u64;
                let already = snap.servers.iter().filter(|s| s.is_ejected(now)).count() as u64;
                (already + 1) * 100 <= u64::from(p.max_ejected_percent) * n
            },
        );
        if let Some(length) = ejected {
            self.shared.metrics.ejections.inc();
            server.drop_connections();
            tracing::warn!(
                target: "bigstep::health",
                server = %server.id,
                reason = why,
                seconds = length.as_secs_f64(),
                "server ejected after consecutive failures"
            );
        }
    }
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

fn clone_parts(p: &Parts) -> Parts {
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = p.method.clone();
    parts.uri = p.uri.clone();
    parts.version = p.version;
    parts.headers = p.headers.clone();
    parts
}

/// Runs when the client's response is finished: frees the server slot, returns
/// the connection to its pool, writes the access log line.
struct Finish {
    shared: Arc<Shared>,
    phase: Arc<Phase>,
    conn: Conn,
    start: Instant,
    client: SocketAddr,
    method: Method,
    target: http::Uri,
    status: StatusCode,
    request_id: Option<HeaderValue>,
    outcome: Outcome,
    /// The route that matched, if any: its counters.
    route: Option<Arc<RouteLive>>,
    /// The pool the request was forwarded to, if any: its counters.
    pool_stats: Option<Arc<ServerStats>>,
    tls: Option<Arc<crate::tls::TlsInfo>>,
}

impl OnDone for Finish {
    fn done(&mut self, complete: bool, bytes: u64) {
        let elapsed = self.start.elapsed();
        if let Some(server) = &self.outcome.server {
            if self.outcome.reason.is_none() {
                server.end_request();
                server.stats.record(self.status.as_u16(), elapsed);
            }
        }
        self.shared
            .metrics
            .record(self.status.as_u16(), self.outcome.reason.is_some());
        if let Some(r) = &self.route {
            r.stats.record(self.status.as_u16(), elapsed);
        }
        if let Some(p) = &self.pool_stats {
            p.record(self.status.as_u16(), elapsed);
        }
        if !matches!(self.conn, Conn::Tunnel) {
            self.phase.idle();
        }
        if self.shared.access_log {
            tracing::info!(
                target: "bigstep::access",
                client = %self.client.ip(),
                method = %self.method,
                target = %self.target,
                status = self.status.as_u16(),
                server = %self.outcome.server.as_ref().map_or("-", |s| &s.id),
                tries = self.outcome.tries,
                reason = %self.outcome.reason.unwrap_or("-"),
                ms = (elapsed.as_micros() as f64 / 1000.0),
                bytes,
                complete,
                request_id = %self.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
                tls = %self.tls.as_ref().map_or("-", |t| t.version),
                cipher = %self.tls.as_ref().map_or("-", |t| t.cipher.as_str()),
                sni = %self.tls.as_ref().and_then(|t| t.sni.as_deref()).unwrap_or("-"),
            );
        }
    }
}

/// HTTP/1 requests reach the proxy from our own core through this.
impl crate::client_conn::Handler for ProxyService {
    fn handle<'a>(
        &'a self,
        parts: Parts,
        body: RequestBody<'a>,
        upgrade: bool,
    ) -> impl Future<Output = Response<ResponseBody>> + Send + 'a {
        self.phase.busy();
        ProxyService::handle(self, parts, body, upgrade, Front::Http1)
    }
}
