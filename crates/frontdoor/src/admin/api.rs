//! The admin routes. JSON in, JSON out; every failure is `{"error": "..."}`
//! with a status that says whose move it is: 400 the request is invalid,
//! 404 no such server, 409 it needs a restart, 501 this front door cannot do it.
//!
//! | route | does |
//! |---|---|
//! | `GET /` | the dashboard (one self-contained page) |
//! | `GET /healthz`, `GET /metrics` | liveness; Prometheus metrics (OpenMetrics text) |
//! | `GET /api/status` | everything the dashboard shows ([`crate::Status`]) |
//! | `GET /api/history` | the charts' last five minutes, one sample a second (`history.rs`) |
//! | `GET /api/servers`, `GET /api/servers/{id}` | servers, or one |
//! | `POST /api/servers` `{name, address, weight, pool}` | add a server (to the default pool unless `pool` names another) |
//! | `GET /api/pools`, `GET /api/routes` | pools and the route table, with their counters |
//! | `DELETE /api/servers/{id}` | remove it (in-flight requests finish) |
//! | `POST /api/servers/{id}/drain`, `/undrain`, `/ready`, `/maintenance` | admin state |
//! | `PUT /api/servers/{id}/weight` `{weight}` | set its weight |
//! | `POST /api/reload` | re-read the config file (text answer with `Accept: text/plain`) |

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ReloadHook;
use crate::config::ServerConfig;
use crate::{AdminState, Change, ChangeError, ChangeSummary, Control};

/// The one page of the dashboard; it polls `/api/status`.
const DASHBOARD: &str = include_str!("../../assets/dashboard.html");

/// Panels for instances and single-host findings, which show where they apply
/// (see the file); kept apart from the page so each can change on its own.
const EXTRA_PANELS: &str = include_str!("../../assets/instances.html");

/// The page with the extra panels at the end of `<main>`.
static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    DASHBOARD.replacen("</main>", &format!("{EXTRA_PANELS}</main>"), 1)
});

/// Who asked, in the change log.
const SOURCE: &str = "admin-api";

#[derive(Clone)]
struct App {
    control: Control,
    reload: Option<ReloadHook>,
    history: std::sync::Arc<super::history::History>,
}

pub(super) fn routes(
    control: Control,
    reload: Option<ReloadHook>,
    history: std::sync::Arc<super::history::History>,
) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .route("/api/history", get(chart_history))
        .route("/api/servers", get(servers).post(add_server))
        .route("/api/pools", get(pools))
        .route("/api/routes", get(routes_status))
        .route("/api/servers/{id}", get(server).delete(remove_server))
        .route("/api/servers/{id}/drain", post(drain))
        .route("/api/servers/{id}/undrain", post(ready))
        .route("/api/servers/{id}/ready", post(ready))
        .route("/api/servers/{id}/maintenance", post(maintenance))
        .route("/api/servers/{id}/weight", put(set_weight))
        .route("/api/reload", post(reload_config))
        .route("/api/certificates", get(certificates))
        .route("/api/certificates/reload", post(reload_certificates))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such admin route") })
        .with_state(App {
            control,
            reload,
            history,
        })
}

// === errors ===

/// An admin API failure: a status and one sentence, sent as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

fn change_status(e: &ChangeError) -> StatusCode {
    match e {
        ChangeError::Invalid(_) => StatusCode::BAD_REQUEST,
        ChangeError::UnknownServer(_) | ChangeError::UnknownPool(_) => StatusCode::NOT_FOUND,
        ChangeError::NeedsRestart(_) => StatusCode::CONFLICT,
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        ApiError::new(change_status(&e), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid request body: {}",
                service::config::in_words(&r.body_text())
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (
            self.status,
            Json(Body {
                error: self.message,
            }),
        )
            .into_response()
    }
}

// === answers ===

/// A change's summary plus one sentence for people.
#[derive(Serialize)]
struct Applied {
    #[serde(flatten)]
    summary: ChangeSummary,
    message: String,
}

fn applied(summary: ChangeSummary) -> Json<Applied> {
    Json(Applied {
        message: describe(&summary),
        summary,
    })
}

/// `kept 2 (a, b); added 1 (c); removed 0` and any admin-state changes.
fn describe(s: &ChangeSummary) -> String {
    let mut parts = Vec::new();
    for (what, ids) in [
        ("added", &s.added),
        ("removed", &s.removed),
        ("kept", &s.kept),
    ] {
        if !ids.is_empty() {
            parts.push(format!("{what} {} ({})", ids.len(), ids.join(", ")));
        }
    }
    parts.extend(s.state_changes.iter().cloned());
    parts.extend(s.weight_changes.iter().cloned());
    parts.extend(s.warnings.iter().map(|w| format!("warning: {w}")));
    if parts.is_empty() {
        "nothing changed".into()
    } else {
        parts.join("; ")
    }
}

// === handlers ===

async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Self-contained: nothing may load from elsewhere, and no other site may frame the buttons.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE.as_str(),
    )
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::Metrics::CONTENT_TYPE)],
        app.control.metrics(),
    )
}

async fn status(State(app): State<App>) -> impl IntoResponse {
    Json(app.control.status())
}

/// The charts' last minutes: `{"interval_ms": 1000, "samples": [{"t_ms", "servers":
/// {KEY: {"rate", "p99_ms", "errors"}}}]}`, oldest first.
async fn chart_history(State(app): State<App>) -> impl IntoResponse {
    Json(serde_json::json!({
        "interval_ms": 1000,
        "samples": app.history.list(),
    }))
}

async fn servers(State(app): State<App>) -> impl IntoResponse {
    Json(app.control.status().servers)
}

async fn pools(State(app): State<App>) -> impl IntoResponse {
    Json(app.control.status().pools)
}

async fn routes_status(State(app): State<App>) -> impl IntoResponse {
    Json(app.control.status().routes)
}

async fn server(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    app.control
        .status()
        .servers
        .into_iter()
        .find(|s| s.id == id)
        .map(Json)
        .ok_or_else(|| ChangeError::UnknownServer(id).into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewServer {
    /// Stable id; defaults to the address.
    name: Option<String>,
    address: String,
    #[serde(default = "one")]
    weight: u32,
    /// The pool to join; the default pool when absent.
    #[serde(default)]
    pool: Option<String>,
    /// HTTPS to the server, as the `[[balance.servers]]` keys of the same
    /// names say; files are absolute paths on the front door's host.
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    tls_ca: Option<std::path::PathBuf>,
    #[serde(default)]
    tls_server_name: Option<String>,
    #[serde(default)]
    tls_insecure_skip_verify: bool,
    #[serde(default)]
    tls_client_cert: Option<std::path::PathBuf>,
    #[serde(default)]
    tls_client_key: Option<std::path::PathBuf>,
    /// `http1` (default), `h2c` or `h2` (with `tls`).
    #[serde(default)]
    protocol: crate::config::Protocol,
}

fn one() -> u32 {
    1
}

async fn add_server(
    State(app): State<App>,
    body: Result<Json<NewServer>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(s) = body?;
    for (key, path) in [
        ("tls_ca", &s.tls_ca),
        ("tls_client_cert", &s.tls_client_cert),
        ("tls_client_key", &s.tls_client_key),
    ] {
        if path.as_ref().is_some_and(|p| p.is_relative()) {
            return Err(ChangeError::Invalid(format!(
                "{key}: give an absolute path (it is read on the front door's host)"
            ))
            .into());
        }
    }
    let server = ServerConfig {
        tls: s.tls,
        tls_ca: s.tls_ca,
        tls_server_name: s.tls_server_name.filter(|n| !n.is_empty()),
        tls_insecure_skip_verify: s.tls_insecure_skip_verify,
        tls_client_cert: s.tls_client_cert,
        tls_client_key: s.tls_client_key,
        protocol: s.protocol,
        ..ServerConfig::plain(
            s.name.filter(|n| !n.is_empty()),
            s.address.trim().to_string(),
            s.weight,
        )
    };
    let change = match s.pool.filter(|p| !p.is_empty()) {
        Some(pool) => Change::AddPoolServer(pool, server),
        None => Change::AddServer(server),
    };
    let summary = app.control.apply(change, SOURCE)?;
    Ok((StatusCode::CREATED, applied(summary)))
}

async fn remove_server(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(applied(
        app.control.apply(Change::RemoveServer(id), SOURCE)?,
    ))
}

fn set_state(app: &App, id: String, state: AdminState) -> Result<Json<Applied>, ApiError> {
    Ok(applied(
        app.control
            .apply(Change::SetAdminState(id, state), SOURCE)?,
    ))
}

async fn drain(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_state(&app, id, AdminState::Draining)
}

async fn ready(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_state(&app, id, AdminState::Active)
}

async fn maintenance(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_state(&app, id, AdminState::Maintenance)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Weight {
    weight: u32,
}

async fn set_weight(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Result<Json<Weight>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(Weight { weight }) = body?;
    Ok(applied(
        app.control.apply(Change::SetWeight(id, weight), SOURCE)?,
    ))
}

async fn certificates(State(app): State<App>) -> Response {
    Json(app.control.certificates()).into_response()
}

/// Re-read the certificate files now (they are also watched).
async fn reload_certificates(State(app): State<App>) -> Result<Response, ApiError> {
    let control = app.control.clone();
    let summary = tokio::task::spawn_blocking(move || {
        control.apply(crate::Change::ReloadCertificates, SOURCE)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload failed unexpectedly",
        )
    })??;
    // The answer is about certificates: which serve now, and for how long
    // (the summary's server lists say nothing about them).
    let certs: Vec<String> = app
        .control
        .certificates()
        .iter()
        .map(|c| match c.expires_in_days {
            Some(days) => format!("{} ({days:.0} days left)", c.name),
            None => c.name.clone(),
        })
        .collect();
    let message = if certs.is_empty() {
        "no certificates to reload".to_string()
    } else {
        format!("certificates loaded: {}", certs.join(", "))
    };
    Ok(Json(Applied { summary, message }).into_response())
}

/// Re-read the config file through the binary's hook. `bigstep balance reload`
/// asks for `text/plain` and prints the answer as it comes.
async fn reload_config(State(app): State<App>, headers: HeaderMap) -> Response {
    let text = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("text/plain"));
    let result = match &app.reload {
        None => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "nothing to re-read: this front door was started without a config file (`bigstep up` reads ./bigstep.toml or --config FILE; `bigstep balance` --config FILE); restart it with one to reload, or change servers meanwhile with `bigstep ctl add|rm|drain` (POST /api/servers)",
        )),
        // The hook reads a file and diffs a config: keep that off the async workers.
        Some(hook) => {
            let hook = hook.clone();
            match tokio::task::spawn_blocking(move || hook()).await {
                Ok(Ok(summary)) => Ok(summary),
                Ok(Err(e)) => {
                    Err(ApiError::new(
                        change_status(&e),
                        format!("reload refused, the running configuration stays: {e}"),
                    ))
                }
                Err(_) => Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "reload failed unexpectedly; the running configuration stays",
                )),
            }
        }
    };
    match (result, text) {
        (Ok(summary), false) => applied(summary).into_response(),
        (Ok(summary), true) => format!("reloaded: {}\n", describe(&summary)).into_response(),
        (Err(e), false) => e.into_response(),
        (Err(e), true) => (e.status, format!("{}\n", e.message)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_says_what_changed() {
        let s = ChangeSummary {
            added: vec!["c".into()],
            kept: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert_eq!(describe(&s), "added 1 (c); kept 2 (a, b)");
        assert_eq!(describe(&ChangeSummary::default()), "nothing changed");
    }
}
