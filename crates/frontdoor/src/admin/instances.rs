//! Instance controls: the admin routes that start, stop, restart, add and remove
//! the *processes* behind the servers, for a front door that supervises them
//! (`bigstep up`). The front door knows servers, not processes, so it calls an
//! [`Instances`] handle the supervisor gives it; a stand-alone `bigstep balance`
//! has none, and these routes then answer 501 with what to do instead.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/features` | `{"instances": bool, "findings": bool}`: what works here |
//! | `GET /api/findings` | the single-host findings ([`crate::findings::Finding`]), 501 when off |
//! | `GET /api/instances` | the supervised processes ([`InstanceInfo`]) |
//! | `POST /api/instances` | start one more instance and add it as a server |
//! | `POST /api/instances/{id}/stop` | take it out of rotation, let in-flight requests finish, stop it |
//! | `POST /api/instances/{id}/restart` | the same, then start it again and put it back |
//! | `DELETE /api/instances/{id}` | stop it and remove its server |
//!
//! Draining (keep sticky users, take no new ones) stays a server matter:
//! `POST /api/servers/{id}/drain`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::ApiError;
use crate::Control;

/// What the supervisor's operations return.
pub type InstanceFuture<T> = Pin<Box<dyn Future<Output = Result<T, InstanceError>> + Send>>;

/// One supervised process, as `GET /api/instances` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceInfo {
    /// The front door's server id (`app-1`).
    pub id: String,
    /// Where it listens (`127.0.0.1:PORT`).
    pub address: String,
    /// The running process, if one is running.
    pub pid: Option<u32>,
    /// `running`, `starting`, `stopping`, `stopped` or `crashed` (exited, restart pending).
    pub process: String,
    /// How many times it was started.
    pub starts: u32,
    /// How many times it exited on its own (crashes, not stops asked for).
    pub exits: u32,
}

/// Why an instance operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// No instance has that id.
    #[error("no instance named `{0}`")]
    Unknown(String),
    /// Not possible in the current state (too many instances, already stopping).
    #[error("{0}")]
    Refused(String),
    /// It was tried and did not work (the process would not start).
    #[error("{0}")]
    Failed(String),
}

impl From<InstanceError> for ApiError {
    fn from(e: InstanceError) -> Self {
        let status = match e {
            InstanceError::Unknown(_) => StatusCode::NOT_FOUND,
            InstanceError::Refused(_) => StatusCode::CONFLICT,
            InstanceError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// What a supervisor implements so the admin API can control its processes.
/// Each operation runs to its end (a stop waits for in-flight requests and the
/// process's exit) and says how the instance is now.
pub trait Instances: Send + Sync + 'static {
    /// Every instance, in order.
    fn list(&self) -> Vec<InstanceInfo>;
    /// Start a new instance; once it accepts connections, add it as a server.
    fn add(&self) -> InstanceFuture<InstanceInfo>;
    /// Take `id` out of rotation, let its requests finish, stop its process.
    fn stop(&self, id: String) -> InstanceFuture<InstanceInfo>;
    /// Stop `id` (if running), start it again, put it back in rotation.
    fn restart(&self, id: String) -> InstanceFuture<InstanceInfo>;
    /// Stop `id` and remove its server.
    fn remove(&self, id: String) -> InstanceFuture<()>;
}

/// A supervisor's handle, as the front door keeps it.
pub type InstancesHook = Arc<dyn Instances>;

/// The answer of every instance route on a front door that supervises nothing.
const NOT_SUPERVISED: &str = "not supervised here: this front door (a stand-alone `bigstep balance`) does not run its servers' processes. Stop or restart the process on its host; take it out of rotation first with `bigstep ctl drain ID`, add a server with `bigstep ctl add HOST:PORT`, remove one with `bigstep ctl rm ID`";

type Hook = Option<InstancesHook>;
type St = (Hook, Control);

pub(super) fn routes(hook: Hook, control: Control) -> Router {
    let findings = Router::new()
        .route("/api/findings", get(findings))
        .with_state(control.clone());
    Router::new()
        .route("/api/features", get(features))
        .route("/api/instances", get(list).post(add))
        .route("/api/instances/{id}", axum::routing::delete(remove))
        .route("/api/instances/{id}/stop", post(stop))
        .route("/api/instances/{id}/restart", post(restart))
        .with_state((hook, control))
        .merge(findings)
}

async fn findings(
    State(control): State<Control>,
) -> Result<Json<Vec<crate::findings::Finding>>, ApiError> {
    control.findings().map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "the single-host detectors are off here (bigstep up turns them on)",
        )
    })
}

fn supervisor(hook: &Hook) -> Result<&InstancesHook, ApiError> {
    hook.as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, NOT_SUPERVISED))
}

/// What the dashboard asks first, so it requests nothing that would answer 501
/// (a browser logs every failed request as an error).
async fn features(State((hook, control)): State<St>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "instances": hook.is_some(),
        "findings": control.findings_on(),
    }))
}

async fn list(State((hook, _)): State<St>) -> Result<Json<Vec<InstanceInfo>>, ApiError> {
    Ok(Json(supervisor(&hook)?.list()))
}

async fn add(State((hook, _)): State<St>) -> Result<Response, ApiError> {
    let info = supervisor(&hook)?.add().await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn stop(
    State((hook, _)): State<St>,
    Path(id): Path<String>,
) -> Result<Json<InstanceInfo>, ApiError> {
    Ok(Json(supervisor(&hook)?.stop(id).await?))
}

async fn restart(
    State((hook, _)): State<St>,
    Path(id): Path<String>,
) -> Result<Json<InstanceInfo>, ApiError> {
    Ok(Json(supervisor(&hook)?.restart(id).await?))
}

async fn remove(State((hook, _)): State<St>, Path(id): Path<String>) -> Result<Response, ApiError> {
    supervisor(&hook)?.remove(id.clone()).await?;
    #[derive(Serialize)]
    struct Removed {
        removed: String,
        message: String,
    }
    Ok(Json(Removed {
        message: format!("{id} stopped and removed"),
        removed: id,
    })
    .into_response())
}
