//! The demo web app that `bigstep up` runs by default.
//!
//! Every page says which instance served it, so a person refreshing a browser (or
//! a test sending 30 requests) can see the front door spreading requests over
//! instances, and notice when one is restarted. With shared state and shared
//! files in its environment (as `bigstep up` gives it) it also shows what they
//! are for; without them it still works, and shows what goes wrong instead.
//!
//! - `/`            an HTML page: instance, pid, port, this instance's hit counter,
//!   the visit counter shared by all instances, who is logged in, the latest uploads
//! - `/healthz`     `200 ok` (what the front door's health checks ask)
//! - `/api/whoami`  `{"instance":…,"pid":…,"port":…,"hits":…}`
//! - `/login?name=X`, `/logout`  a session kept in shared state (cookie `sid`)
//! - `POST /upload` (multipart, field `file`)  stored in the shared bucket
//! - `/uploads/KEY` (also `/files/KEY`)  an uploaded file, from the shared bucket,
//!   whichever instance serves it (under `bigstep up` the front door sends
//!   `/uploads/` to the files server itself)
//! - `/slow?ms=N`   answers after N milliseconds (at most 10 s)
//! - `/lock?ms=N`   runs a critical section of N ms (at most 1 s) under a
//!   distributed lock on shared state, and says whether another run was inside
//!   at the same time (`&lock=off`: without the lock, to see that happen)
//! - `/events`      the live feed: logins, uploads, visits, instances starting and
//!   stopping, from every instance (pub/sub on shared state, see `feed`); a page
//!   for a browser, server-sent events for `Accept: text/event-stream`
//!
//! Environment: `REDIS_URL` (or `BIGSTEP_STATE_URL`) for shared state;
//! `S3_ENDPOINT_URL` (or `AWS_ENDPOINT_URL`), `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `BIGSTEP_BUCKET` for shared files.

pub mod distlock;
pub mod feed;
mod objects;
mod shared;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use feed::Feed;
pub use feed::FeedEvent;
use objects::{Objects, S3Error};
use shared::SharedState;

/// `/slow` never sleeps longer than this, so a typo cannot tie up a connection for hours.
pub const MAX_SLOW: Duration = Duration::from_secs(10);

/// An `/events` stream ends after this long: a forgotten browser tab must not hold
/// a connection for ever. The browser reconnects by itself (with `Last-Event-ID`,
/// so it misses nothing).
pub const MAX_STREAM: Duration = Duration::from_secs(600);

/// The largest upload accepted (it is held in memory on its way to the bucket).
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

/// The key of the visit counter in shared state.
pub const VISITS_KEY: &str = "demo:visits";

/// The list of the latest uploads in shared state (newest first).
pub const UPLOADS_KEY: &str = "demo:uploads";

/// How long a session lives in shared state.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

/// How many uploads the page lists.
const LATEST_UPLOADS: usize = 10;

/// Where the shared state and the shared files are, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// `redis://host:port/db` of a Redis-protocol server.
    pub redis_url: Option<String>,
    /// An S3 bucket.
    pub s3: Option<S3Settings>,
}

/// An S3 bucket and the keys to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `http://host:port`.
    pub endpoint: String,
    /// The bucket uploads go to.
    pub bucket: String,
    /// Region to sign for.
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

impl Backends {
    /// From the environment: `REDIS_URL` or `BIGSTEP_STATE_URL`; `S3_ENDPOINT_URL`
    /// or `AWS_ENDPOINT_URL` with `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION` (default us-east-1) and `BIGSTEP_BUCKET` (default `uploads`).
    pub fn from_env() -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        let redis_url = var(&["REDIS_URL", "BIGSTEP_STATE_URL"]);
        let s3 = var(&["S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"]).map(|endpoint| S3Settings {
            endpoint,
            bucket: var(&["BIGSTEP_BUCKET"]).unwrap_or_else(|| "uploads".into()),
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                .unwrap_or_else(|| "us-east-1".into()),
            access_key: var(&["AWS_ACCESS_KEY_ID"]).unwrap_or_default(),
            secret_key: var(&["AWS_SECRET_ACCESS_KEY"]).unwrap_or_default(),
        });
        Self { redis_url, s3 }
    }
}

/// A logged-in user.
#[derive(Debug, Clone)]
struct Session {
    name: String,
    /// The instance that served the login.
    instance: String,
}

/// One uploaded file, as the page lists it.
#[derive(Debug, Clone)]
struct Upload {
    key: String,
    name: String,
    size: u64,
    instance: String,
}

impl Upload {
    /// One line in the shared list: tab-separated fields (none contains a tab).
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.key,
            self.size,
            one_line(&self.instance),
            one_line(&self.name)
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut f = s.splitn(4, '\t');
        Some(Self {
            key: f.next()?.to_string(),
            size: f.next()?.parse().ok()?,
            instance: f.next()?.to_string(),
            name: f.next()?.to_string(),
        })
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What one instance knows about itself.
struct App {
    instance: String,
    pid: u32,
    port: u16,
    hits: AtomicU64,
    /// Flips to `true` when shutdown starts; long responses (`/events`) end early.
    stopping: watch::Receiver<bool>,
    /// Shared state, or why it is not used.
    state: Result<SharedState, String>,
    /// Shared files, or why they are not used.
    objects: Result<Objects, String>,
    /// Without shared state: sessions in this process only (the single-host way).
    local_sessions: Mutex<HashMap<String, Session>>,
    /// Without shared files: uploads in this process only.
    local_files: Mutex<VecDeque<(Upload, String, Bytes)>>,
    /// The live feed.
    feed: Feed,
}

/// The JSON body of `/api/whoami`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WhoAmI {
    /// The instance name (`app-1`).
    pub instance: String,
    /// The process id serving the request.
    pub pid: u32,
    /// The port the instance listens on.
    pub port: u16,
    /// Requests to `/` and `/api/whoami` this instance has answered, this one included.
    pub hits: u64,
}

/// Serve the demo app on `listener` until `shutdown` resolves, then finish in-flight
/// requests (streams of server-sent events are ended) and return. Shared state and
/// files are taken from the environment ([`Backends::from_env`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    instance: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, instance, Backends::from_env(), shutdown).await
}

/// [`serve`] with the shared state and files given explicitly.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    instance: String,
    backends: Backends,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = match &backends.redis_url {
        Some(url) => SharedState::new(url),
        None => Err("REDIS_URL is not set".into()),
    };
    let objects = match &backends.s3 {
        Some(s) if s.access_key.is_empty() || s.secret_key.is_empty() => Err(format!(
            "S3 endpoint {} is set but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not",
            s.endpoint
        )),
        Some(s) => Objects::new(
            &s.endpoint,
            &s.bucket,
            &s.region,
            &s.access_key,
            &s.secret_key,
        ),
        None => Err("S3_ENDPOINT_URL is not set".into()),
    };
    if let (Some(_), Err(e)) = (&backends.redis_url, &state) {
        eprintln!("{instance}: not using shared state: {e}");
    }
    if let (Some(_), Err(e)) = (&backends.s3, &objects) {
        eprintln!("{instance}: not using shared files: {e}");
    }
    let app = Arc::new(App {
        instance,
        pid: std::process::id(),
        port,
        hits: AtomicU64::new(0),
        stopping: stop_rx.clone(),
        state,
        objects,
        local_sessions: Mutex::new(HashMap::new()),
        local_files: Mutex::new(VecDeque::new()),
        feed: Feed::new(),
    });
    if app.state.is_ok() {
        let subscriber = app.clone();
        tokio::spawn(async move {
            let app = subscriber;
            let Ok(state) = &app.state else { return };
            app.feed
                .run_subscriber(state, app.stopping.clone(), &app.instance)
                .await;
        });
        // Say we are here once our own subscriber listens (so this event also
        // reaches streams that this instance serves).
        let app = app.clone();
        tokio::spawn(async move {
            let mut ready = app.feed.subscribed();
            let mut stopping = app.stopping.clone();
            tokio::select! {
                _ = ready.wait_for(|s| *s) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            app.announce(
                "instance",
                format!(
                    "{} started (pid {}, port {})",
                    app.instance, app.pid, app.port
                ),
            )
            .await;
        });
    }
    let router = router(app.clone());
    // One task owns the caller's shutdown future; both the HTTP server and the
    // streaming handlers watch the flag it sets.
    tokio::spawn(async move {
        shutdown.await;
        // Tell the others first (bounded: a dead state server must not hold the stop).
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            app.announce("instance", format!("{} stopping", app.instance)),
        )
        .await;
        let _ = stop_tx.send(true);
    });
    let mut stopped = stop_rx;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/whoami", get(whoami))
        .route("/login", get(login))
        .route("/logout", get(logout).post(logout))
        .route(
            "/upload",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD + 64 * 1024)),
        )
        // `/uploads/KEY` is what pages link to: `bigstep up` routes it to the files
        // server at the front door, and without that route the app serves it too.
        .route("/files/{*key}", get(file))
        .route("/uploads/{*key}", get(file))
        .route("/slow", get(slow))
        .route("/lock", get(lock_section).post(lock_section))
        .route("/events", get(events))
        .fallback(|uri: axum::http::Uri| async move {
            not_found(&format!("There is no page at {}.", uri.path()))
        })
        .layer(axum::middleware::map_response_with_state(
            app.clone(),
            served_by,
        ))
        .with_state(app)
}

/// Every response names the instance that produced it (`X-Served-By`).
async fn served_by(State(app): State<Arc<App>>, mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&app.instance) {
        resp.headers_mut().insert("x-served-by", v);
    }
    resp
}

impl App {
    fn whoami(&self) -> WhoAmI {
        WhoAmI {
            instance: self.instance.clone(),
            pid: self.pid,
            port: self.port,
            hits: self.hits.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Put `text` in the live feed as an event of `kind` on this instance; a
    /// failure is logged, never shown to the user (the action itself succeeded).
    async fn announce(&self, kind: &str, text: String) {
        self.announce_event(FeedEvent::new(kind, &self.instance, text))
            .await;
    }

    async fn announce_event(&self, event: FeedEvent) {
        if let Err(e) = self.feed.publish(self.state.as_ref(), &event).await {
            eprintln!("{}: feed event not published: {e}", self.instance);
        }
    }

    /// The session named by the request's `sid` cookie, if it is logged in.
    async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, String> {
        let Some(sid) = session_id(headers) else {
            return Ok(None);
        };
        match &self.state {
            Ok(state) => {
                let fields: HashMap<String, String> = state
                    .cmd(redis::cmd("HGETALL").arg(session_key(&sid)))
                    .await?;
                Ok(fields.get("name").map(|name| Session {
                    name: name.clone(),
                    instance: fields.get("instance").cloned().unwrap_or_default(),
                }))
            }
            Err(_) => Ok(lock(&self.local_sessions).get(&sid).cloned()),
        }
    }

    /// The latest uploads, newest first.
    async fn uploads(&self) -> Result<Vec<Upload>, String> {
        match &self.state {
            Ok(state) => {
                let lines: Vec<String> = state
                    .cmd(
                        redis::cmd("LRANGE")
                            .arg(UPLOADS_KEY)
                            .arg(0)
                            .arg(LATEST_UPLOADS as i64 - 1),
                    )
                    .await?;
                Ok(lines.iter().filter_map(|l| Upload::decode(l)).collect())
            }
            Err(_) => Ok(lock(&self.local_files)
                .iter()
                .take(LATEST_UPLOADS)
                .map(|(u, _, _)| u.clone())
                .collect()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn whoami(State(app): State<Arc<App>>) -> Json<WhoAmI> {
    Json(app.whoami())
}

async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> impl IntoResponse {
    let me = app.whoami();
    let visits = async {
        match &app.state {
            Ok(state) => Some(state.cmd::<i64>(redis::cmd("INCR").arg(VISITS_KEY)).await),
            Err(_) => None,
        }
    };
    let (visits, session, uploads) = tokio::join!(visits, app.session(&headers), app.uploads());
    if let Some(Ok(n)) = &visits {
        // In the background: the page does not wait for the feed.
        let (app, n) = (app.clone(), *n);
        tokio::spawn(async move { app.announce("visit", format!("visit #{n}")).await });
    }
    let header_value = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "(none)".into())
    };
    let page = render(
        PAGE,
        &[
            ("instance", escape(&me.instance)),
            ("pid", me.pid.to_string()),
            ("port", me.port.to_string()),
            ("hits", me.hits.to_string()),
            ("shared", shared_section(&app, visits)),
            ("session", session_section(&app, session)),
            ("uploads", uploads_section(&app, uploads)),
            ("xff", escape(&header_value("x-forwarded-for"))),
            ("rid", escape(&header_value("x-request-id"))),
        ],
    );
    // Never cached: each refresh must reach the front door to show the spread.
    ([(header::CACHE_CONTROL, "no-store")], Html(page))
}

fn shared_section(app: &App, visits: Option<Result<i64, String>>) -> String {
    match (visits, &app.state) {
        (Some(Ok(n)), Ok(state)) => format!(
            "<dt>visits, all instances</dt><dd id=\"visits\">{n}</dd>\n    \
             <dt></dt><dd class=\"note\">one counter for all instances: shared state \
             (<code>INCR {VISITS_KEY}</code> on {})</dd>",
            escape(&state.shown_url)
        ),
        (Some(Err(e)), _) => format!(
            "<dt>visits, all instances</dt><dd id=\"visits\" class=\"error\">unavailable: {}</dd>",
            escape(&e)
        ),
        (None, Err(why)) => format!(
            "<dt>visits, all instances</dt><dd id=\"visits\" class=\"note\">not counted: no shared \
             state ({}). Each instance only knows its own count.</dd>",
            escape(why)
        ),
        (Some(Ok(_)), Err(_)) | (None, Ok(_)) => String::new(),
    }
}

fn session_section(app: &App, session: Result<Option<Session>, String>) -> String {
    let where_ = match &app.state {
        Ok(_) => "Your session is in shared state, so every instance knows you.".to_string(),
        Err(_) => format!(
            "No shared state: your session lives in {}'s memory only, so another instance \
             will not know you.",
            escape(&app.instance)
        ),
    };
    match session {
        Ok(Some(s)) => format!(
            "<p id=\"user\">Hello, <b id=\"name\">{}</b>! You logged in on <span id=\"login-instance\">{}</span>; \
             this page comes from {}. {where_} <a href=\"/logout\">Log out</a></p>",
            escape(&s.name),
            escape(&s.instance),
            escape(&app.instance)
        ),
        Ok(None) => format!(
            "<form action=\"/login\" method=\"get\" id=\"login\">Not logged in. \
             <input name=\"name\" placeholder=\"your name\" maxlength=\"40\" required> \
             <button>Log in</button></form><p class=\"note\">{where_}</p>"
        ),
        Err(e) => format!(
            "<p id=\"user\" class=\"error\">Session unavailable: {}</p>",
            escape(&e)
        ),
    }
}

fn uploads_section(app: &App, uploads: Result<Vec<Upload>, String>) -> String {
    let mut out = String::from(
        "<form action=\"/upload\" method=\"post\" enctype=\"multipart/form-data\" id=\"upload\">\
         <input type=\"file\" name=\"file\" required> <button>Upload</button></form>\n",
    );
    out.push_str(&match &app.objects {
        Ok(o) => format!(
            "<p class=\"note\">Files go to the shared bucket {}: any instance can serve them.</p>\n",
            escape(&o.shown)
        ),
        Err(why) => format!(
            "<p class=\"note\">No shared files ({}): an upload stays in the memory of the \
             instance that took it, and the others answer 404.</p>\n",
            escape(why)
        ),
    });
    match uploads {
        Ok(list) if list.is_empty() => out.push_str("<p>No uploads yet.</p>"),
        Ok(list) => {
            out.push_str("<ul id=\"uploads\">\n");
            for u in list {
                out.push_str(&format!(
                    "  <li><a href=\"/uploads/{}\">{}</a> ({} bytes), uploaded on {}</li>\n",
                    escape(&u.key),
                    escape(&u.name),
                    u.size,
                    escape(&u.instance)
                ));
            }
            out.push_str("</ul>");
        }
        Err(e) => out.push_str(&format!(
            "<p class=\"error\">Upload list unavailable: {}</p>",
            escape(&e)
        )),
    }
    out
}

/// The `sid` cookie, if it looks like one of ours.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("sid="))
        .find(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

fn session_key(sid: &str) -> String {
    format!("session:{sid}")
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A 404 a person can read: what is missing and the way back.
fn not_found(what: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · bigstep demo</title>\n\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}</style></head>\n\
         <body><h1>404 · not found</h1><p>{}</p><p><a href=\"/\">Back to the demo</a></p></body></html>\n",
        escape(what)
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        Html(page),
    )
        .into_response()
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `303 See Other` to `/`, with a short text body for non-browser clients.
fn back_home(body: String) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginParams {
    name: Option<String>,
}

async fn login(State(app): State<Arc<App>>, Query(p): Query<LoginParams>) -> Response {
    let name: String = p.name.unwrap_or_default().trim().chars().take(40).collect();
    let name = one_line(&name);
    if name.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "say who you are: /login?name=Ada\n".into(),
        );
    }
    let sid = random_hex(16);
    match &app.state {
        Ok(state) => {
            let key = session_key(&sid);
            let mut pipe = redis::pipe();
            pipe.cmd("HSET")
                .arg(&key)
                .arg("name")
                .arg(&name)
                .arg("instance")
                .arg(&app.instance)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(SESSION_TTL.as_secs())
                .ignore();
            if let Err(e) = state.pipe::<()>(&pipe).await {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot log in: {e}\n"),
                );
            }
        }
        Err(_) => {
            lock(&app.local_sessions).insert(
                sid.clone(),
                Session {
                    name: name.clone(),
                    instance: app.instance.clone(),
                },
            );
        }
    }
    app.announce("login", format!("{name} logged in")).await;
    let mut resp = back_home(format!("logged in as {name} on {}\n", app.instance));
    let cookie = format!(
        "sid={sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(sid) = session_id(&headers) {
        if let Ok(Some(s)) = app.session(&headers).await {
            app.announce("logout", format!("{} logged out", s.name))
                .await;
        }
        match &app.state {
            Ok(state) => {
                if let Err(e) = state
                    .cmd::<i64>(redis::cmd("DEL").arg(session_key(&sid)))
                    .await
                {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("cannot log out: {e}\n"),
                    );
                }
            }
            Err(_) => {
                lock(&app.local_sessions).remove(&sid);
            }
        }
    }
    let mut resp = back_home("logged out\n".into());
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    resp
}

/// A safe object key for an uploaded file: time, randomness, then the file name
/// reduced to characters that need no escaping anywhere.
fn upload_key(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let clean = clean.trim_start_matches('.');
    let clean = if clean.is_empty() { "file" } else { clean };
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{millis}-{}-{clean}", random_hex(4))
}

async fn upload(State(app): State<Arc<App>>, mut form: Multipart) -> Response {
    let mut file = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or("file").to_string();
                let ctype = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                match field.bytes().await {
                    Ok(data) => file = Some((name, ctype, data)),
                    Err(e) => {
                        return text(e.status(), format!("upload failed: {}\n", e.body_text()))
                    }
                }
                break;
            }
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) => return text(e.status(), format!("upload failed: {}\n", e.body_text())),
        }
    }
    let Some((name, ctype, data)) = file else {
        return text(
            StatusCode::BAD_REQUEST,
            "no file: send multipart/form-data with a field named `file`\n".into(),
        );
    };
    if data.len() > MAX_UPLOAD {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_UPLOAD} bytes\n"),
        );
    }
    let key = upload_key(&name);
    let record = Upload {
        key: key.clone(),
        name: one_line(&name),
        size: data.len() as u64,
        instance: app.instance.clone(),
    };
    match &app.objects {
        Ok(objects) => {
            if let Err(e) = objects.put(&key, data, &ctype, &app.instance).await {
                return text(StatusCode::BAD_GATEWAY, format!("upload failed: {e}\n"));
            }
        }
        Err(_) => {
            let mut files = lock(&app.local_files);
            files.push_front((record.clone(), ctype, data));
            files.truncate(LATEST_UPLOADS);
        }
    }
    if let Ok(state) = &app.state {
        let mut pipe = redis::pipe();
        pipe.cmd("LPUSH")
            .arg(UPLOADS_KEY)
            .arg(record.encode())
            .ignore()
            .cmd("LTRIM")
            .arg(UPLOADS_KEY)
            .arg(0)
            .arg(99)
            .ignore();
        if let Err(e) = state.pipe::<()>(&pipe).await {
            // The file is stored; only the list on the page misses it.
            eprintln!("{}: upload {key} not listed: {e}", app.instance);
        }
    }
    let mut event = FeedEvent::new(
        "upload",
        &app.instance,
        format!("{} uploaded ({} bytes)", record.name, record.size),
    );
    event.href = Some(format!("/uploads/{key}"));
    app.announce_event(event).await;
    back_home(format!(
        "uploaded {} ({} bytes) on {}: /uploads/{key}\n",
        record.name, record.size, app.instance
    ))
}

/// Whether a browser may show this type in the page's origin. Anything else is
/// served as a download, so an uploaded HTML page cannot run script here.
fn inline_type(ctype: &str) -> bool {
    let t = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (t.starts_with("image/") && t != "image/svg+xml") || t == "text/plain"
}

/// An uploaded file, from the shared bucket (or, without one, from this
/// instance's memory). `X-Uploaded-On` names the instance that took the upload.
async fn file(State(app): State<Arc<App>>, Path(key): Path<String>) -> Response {
    let (status, ctype, uploaded_on, length, body) = match &app.objects {
        Ok(objects) => match objects.get(&key).await {
            Ok(resp) => {
                let h = resp.headers();
                let value = |name: &str| {
                    h.get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                (
                    StatusCode::OK,
                    value("content-type").unwrap_or_else(|| "application/octet-stream".into()),
                    value(objects::UPLOADED_BY).unwrap_or_else(|| "?".into()),
                    value("content-length"),
                    Body::new(resp.into_body()),
                )
            }
            Err(S3Error::NotFound) => {
                return not_found(&format!("No file {key} in the shared bucket."));
            }
            Err(e) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("cannot fetch {key}: {e}\n"),
                )
            }
        },
        Err(_) => {
            let found = lock(&app.local_files)
                .iter()
                .find(|(u, _, _)| u.key == key)
                .map(|(u, ctype, data)| (u.instance.clone(), ctype.clone(), data.clone()));
            match found {
                Some((on, ctype, data)) => (
                    StatusCode::OK,
                    ctype,
                    on,
                    Some(data.len().to_string()),
                    Body::from(data),
                ),
                None => {
                    return not_found(&format!(
                        "{} has no file {key}: without shared files, an upload is only on the \
                         instance that took it.",
                        app.instance
                    ));
                }
            }
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let disposition = if inline_type(&ctype) {
        "inline"
    } else {
        "attachment"
    };
    for (name, value) in [
        (header::CONTENT_TYPE.as_str(), ctype.as_str()),
        (header::CONTENT_DISPOSITION.as_str(), disposition),
        (header::X_CONTENT_TYPE_OPTIONS.as_str(), "nosniff"),
        (header::CACHE_CONTROL.as_str(), "no-store"),
        ("x-uploaded-on", uploaded_on.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    if let Some(v) = length.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    resp
}

#[derive(Deserialize)]
struct LockParams {
    ms: Option<u64>,
    lock: Option<String>,
}

async fn lock_section(State(app): State<Arc<App>>, Query(p): Query<LockParams>) -> Response {
    let Ok(state) = &app.state else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the lock demo needs shared state (REDIS_URL): a lock in one process's memory \
             does not stop another instance\n"
                .into(),
        );
    };
    let locked = match p.lock.as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("lock={other}: say on or off\n"),
            )
        }
    };
    let hold = Duration::from_millis(p.ms.unwrap_or(50));
    match distlock::run(state, &app.instance, hold, locked).await {
        Ok(run) => {
            let text = match (run.locked, run.overlap) {
                (true, false) => format!("held the lock {} ms", run.held_ms),
                (true, true) => "held the lock while another instance did too".into(),
                (false, true) => "ran without the lock while another run was inside".into(),
                (false, false) => "ran without the lock, alone this time".into(),
            };
            app.announce("lock", text).await;
            ([(header::CACHE_CONTROL, "no-store")], Json(run)).into_response()
        }
        Err(distlock::LockError::Busy) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the lock stayed busy; try again\n".into(),
        ),
        Err(distlock::LockError::State(e)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("lock failed: {e}\n"),
        ),
    }
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

/// How long `/slow?ms=N` sleeps: N milliseconds, at most [`MAX_SLOW`].
pub fn slow_duration(ms: Option<u64>) -> Duration {
    Duration::from_millis(ms.unwrap_or(1000)).min(MAX_SLOW)
}

async fn slow(State(app): State<Arc<App>>, Query(p): Query<SlowParams>) -> String {
    let d = slow_duration(p.ms);
    tokio::time::sleep(d).await;
    format!("{} slept {} ms\n", app.instance, d.as_millis())
}

/// `/events`: the feed page for a browser, the stream itself for an
/// `EventSource` (`Accept: text/event-stream`).
async fn events(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let wants_stream = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if !wants_stream {
        let scope = match &app.state {
            Ok(_) => "Everything that happens on any instance appears here as it happens: \
                      each instance publishes to shared state, and the instance serving this \
                      stream relays it."
                .to_string(),
            Err(why) => format!(
                "No shared state ({}): this feed shows only what happens on the instance \
                 serving it.",
                escape(why)
            ),
        };
        let page = render(FEED_PAGE, &[("scope", scope)]);
        return (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::VARY, "Accept"),
            ],
            Html(page),
        )
            .into_response();
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // One task per stream writes into a small channel; the response reads it. A
    // client that goes away drops the receiver, and the task ends at its next send.
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(32);
    tokio::spawn(pump_events(app, last_event_id, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|e| (Ok::<_, std::convert::Infallible>(e), rx))
    });
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Feed one stream: a `hello` naming this instance, the recent past (or what
/// the browser missed), then live events, until shutdown, [`MAX_STREAM`], or the
/// client leaves.
async fn pump_events(
    app: Arc<App>,
    last_event_id: Option<u64>,
    tx: tokio::sync::mpsc::Sender<Event>,
) {
    // Subscribe before reading the history, so nothing falls between the two.
    let mut live = app.feed.subscribe();
    let hello = Event::default()
        .event("hello")
        .retry(Duration::from_secs(1))
        .data(
            serde_json::json!({
                "instance": app.instance,
                "shared": app.state.is_ok(),
            })
            .to_string(),
        );
    if tx.send(hello).await.is_err() {
        return;
    }
    let send = |n: feed::Numbered| {
        Event::default()
            .event("feed")
            .id(n.id.to_string())
            .data(n.json)
    };
    let mut last = match app.feed.history(app.state.as_ref()).await {
        Ok(history) => {
            let (past, last) = feed::after(&history, feed::start_after(&history, last_event_id));
            for n in past {
                if tx.send(send(n)).await.is_err() {
                    return;
                }
            }
            last
        }
        Err(e) => {
            eprintln!("{}: feed history unavailable: {e}", app.instance);
            last_event_id.unwrap_or(0)
        }
    };
    let mut stopping = app.stopping.clone();
    let until = tokio::time::sleep(MAX_STREAM);
    tokio::pin!(until);
    loop {
        let next = tokio::select! {
            r = live.recv() => r,
            _ = stopping.wait_for(|s| *s) => return,
            _ = &mut until => return,
            _ = tx.closed() => return,
        };
        let fresh = match next {
            // The next one in order: no need to ask the history.
            Ok(n) if n.id == last + 1 => vec![n],
            Ok(n) if n.id <= last => continue,
            // A gap (a lost message, a reconnect) or lagging behind: the history
            // has what was missed, in order.
            Ok(n) => match app.feed.history(app.state.as_ref()).await {
                Ok(history) => feed::after(&history, last).0,
                Err(_) => vec![n],
            },
            Err(broadcast::error::RecvError::Lagged(_)) => {
                match app.feed.history(app.state.as_ref()).await {
                    Ok(history) => feed::after(&history, last).0,
                    Err(_) => continue,
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for n in fresh {
            if n.id <= last {
                continue;
            }
            last = n.id;
            if tx.send(send(n)).await.is_err() {
                return;
            }
        }
    }
}

/// Fill `{name}` placeholders in one pass, so a value that happens to contain
/// `{pid}` (header values come from clients) is never expanded itself.
fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (v, close))
        });
        match hit {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Minimal HTML escaping for text placed in the page (header values come from clients).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>bigstep demo · {instance}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  main { max-width: 40rem; margin: 4rem auto; padding: 2rem; background: #fff;
         border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }
  h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
  .instance { color: #2b6cb0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1.2rem; }
  dt { color: #5a6478; } dd { margin: 0; font-family: ui-monospace, monospace; }
  p.hint { color: #5a6478; border-top: 1px solid #e5e8ee; padding-top: 1rem; }
  h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
  .note { color: #5a6478; font-family: system-ui, sans-serif; font-size: .9rem; }
  .error { color: #b42318; }
</style>
</head>
<body>
<main>
  <h1>Served by <span class="instance" id="instance">{instance}</span></h1>
  <dl>
    <dt>instance</dt><dd>{instance}</dd>
    <dt>pid</dt><dd>{pid}</dd>
    <dt>port</dt><dd>{port}</dd>
    <dt>hits on this instance</dt><dd id="hits">{hits}</dd>
    {shared}
    <dt>X-Forwarded-For</dt><dd>{xff}</dd>
    <dt>X-Request-Id</dt><dd>{rid}</dd>
  </dl>
  <h2>Session</h2>
  {session}
  <h2>Uploads</h2>
  {uploads}
  <p class="hint">Refresh: the front door spreads requests over instances, so the name above
  changes. Stop one instance and the others keep serving; <code>bigstep up</code> restarts it.
  Open the <a href="/events">live feed</a> in another window to watch what happens on
  every instance. Try <a href="/lock?ms=200">/lock</a> (a distributed lock on shared state),
  <a href="/api/whoami">/api/whoami</a> or
  <a href="/slow?ms=500">/slow?ms=500</a>.</p>
</main>
</body>
</html>
"#;

/// `/events` in a browser: the live feed. Event text is placed with
/// `textContent`, never as markup (names and file names come from users).
const FEED_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Live feed · bigstep demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  main { max-width: 44rem; margin: 3rem auto; padding: 2rem; background: #fff;
         border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }
  h1 { margin: 0 0 .25rem; font-size: 1.5rem; }
  .note { color: #5a6478; font-size: .9rem; }
  #status { font-size: .9rem; }
  #status.live { color: #1f7a3a; } #status.down { color: #b42318; }
  ol { list-style: none; padding: 0; margin: 1rem 0 0; }
  li { display: grid; grid-template-columns: 5.5rem 5rem 1fr max-content; gap: .6rem;
       padding: .35rem 0; border-top: 1px solid #eef0f4; align-items: baseline; }
  li.new { animation: flash 1.5s ease-out; }
  @keyframes flash { from { background: #fff6d6; } to { background: transparent; } }
  .time { color: #5a6478; font-family: ui-monospace, monospace; font-size: .85rem; }
  .kind { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #2b6cb0; }
  .on { color: #5a6478; font-family: ui-monospace, monospace; font-size: .85rem; }
</style>
</head>
<body>
<main>
  <h1>Live feed</h1>
  <p class="note">{scope}</p>
  <p id="status">connecting…</p>
  <p class="note">This stream is served by <b id="stream-instance">?</b>.
    <a href="/">Back to the demo</a> — log in, upload a file or refresh it in another
    window and watch the events arrive here.</p>
  <ol id="feed"></ol>
</main>
<script>
"use strict";
const list = document.getElementById("feed");
const status = document.getElementById("status");
const served = document.getElementById("stream-instance");
const source = new EventSource("/events");
source.addEventListener("hello", (e) => {
  const hello = JSON.parse(e.data);
  served.textContent = hello.instance;
  status.textContent = "live" + (hello.shared ? "" : " (this instance only)");
  status.className = "live";
});
source.addEventListener("feed", (e) => {
  const ev = JSON.parse(e.data);
  const li = document.createElement("li");
  li.className = "new";
  li.dataset.id = e.lastEventId;
  li.dataset.kind = ev.kind;
  li.dataset.instance = ev.instance;
  const cell = (cls, text) => {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  };
  li.append(cell("time", new Date(ev.at_ms).toLocaleTimeString()), cell("kind", ev.kind));
  const text = cell("text", ev.text + " ");
  if (ev.href && ev.href.startsWith("/")) {
    const a = document.createElement("a");
    a.href = ev.href;
    a.textContent = "open";
    text.append(a);
  }
  li.append(text, cell("on", "on " + ev.instance));
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
});
source.onerror = () => {
  status.textContent = "reconnecting…";
  status.className = "down";
};
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_is_capped() {
        assert_eq!(slow_duration(Some(20)), Duration::from_millis(20));
        assert_eq!(slow_duration(Some(u64::MAX)), MAX_SLOW);
        assert_eq!(slow_duration(None), Duration::from_secs(1));
    }

    #[test]
    fn render_is_single_pass() {
        let out = render(
            "a {x} b {y} {unknown} c { d",
            &[("x", "{y}".into()), ("y", "2".into())],
        );
        assert_eq!(out, "a {y} b 2 {unknown} c { d");
    }

    #[test]
    fn upload_keys_are_safe_and_distinct() {
        let a = upload_key("../My Photo (1).JPG");
        let b = upload_key("../My Photo (1).JPG");
        assert_ne!(a, b);
        assert!(a.ends_with("-_My_Photo__1_.JPG"), "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c)));
        assert!(upload_key("").ends_with("-file"));
        assert!(upload_key("...").ends_with("-file"));
    }

    #[test]
    fn upload_records_round_trip_on_one_line() {
        let u = Upload {
            key: "1-ab-x.txt".into(),
            name: one_line("x\tna\nme.txt"),
            size: 42,
            instance: "app-1".into(),
        };
        let line = u.encode();
        assert!(!line.contains('\n'));
        let back = Upload::decode(&line).unwrap();
        assert_eq!(
            (back.key, back.name, back.size, back.instance),
            (u.key, u.name, u.size, u.instance)
        );
        assert!(Upload::decode("no tabs").is_none());
    }

    #[test]
    fn session_cookie_is_found_and_checked() {
        let mut h = HeaderMap::new();
        let sid = "0123456789abcdef0123456789abcdef";
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=1; sid={sid}; b=2")).unwrap(),
        );
        assert_eq!(session_id(&h).as_deref(), Some(sid));
        h.insert(header::COOKIE, HeaderValue::from_static("sid=../../etc"));
        assert_eq!(session_id(&h), None);
    }

    #[test]
    fn only_harmless_types_are_shown_inline() {
        assert!(inline_type("image/png"));
        assert!(inline_type("text/plain; charset=utf-8"));
        assert!(!inline_type("image/svg+xml"));
        assert!(!inline_type("text/html"));
        assert!(!inline_type("application/octet-stream"));
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
