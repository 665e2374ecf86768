//! The build routes: request a build of the summary (`POST /api/elections/build`) and read its
//! state (`GET /api/elections/build`), with the upstream tool's paths as aliases
//! (`POST /api/build/summary`, `GET /api/build/summary/status`).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use relais_http::audit::AuditResource;
use relais_http::tasks::{TaskView, celery_state};
use relais_http::{Access, ApiError, Json, Principal, Role, Routes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::build::{BuildError, BuildRequest, Elections, RequestOutcome};

/// The build routes, for the builds of `elections`.
pub(crate) fn routes(elections: Elections) -> Routes<()> {
    Routes::<Elections>::new()
        .route(Access::Role(Role::Operator), routes!(request_build))
        .route(Access::Role(Role::Viewer), routes!(build_status))
        .route(Access::Role(Role::Operator), routes!(seed_request_build))
        .route(Access::Role(Role::Viewer), routes!(seed_build_status))
        .with_state(elections)
}

/// What to build.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildBody {
    /// Recompute every SIRET; otherwise (the default) only those imports changed since the
    /// last build. Both give the same tables.
    #[serde(default)]
    pub full: bool,
}

/// A requested build.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildAnswer {
    /// `enqueued` (a new build), `queued` (a build of this kind was already waiting) or
    /// `running` (one is running). An incremental request returns a full build waiting or
    /// running, which covers it.
    #[schema(example = "enqueued")]
    pub outcome: String,
    /// Whether the build returned is a full one.
    pub full: bool,
    /// Its task (follow it at `/api/tasks/{id}` or `/api/tasks/{id}/events`).
    pub task: TaskView,
    /// Upstream name of the task id.
    pub task_id: Uuid,
    /// The task's state in Celery's words (`PENDING`, `STARTED`, `PROGRESS`, …).
    #[schema(example = "PENDING")]
    pub status: &'static str,
}

/// The summary and its builds.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildStatusView {
    /// The build running now.
    pub running: Option<TaskView>,
    /// The latest build (queued, running or finished).
    pub latest: Option<TaskView>,
    /// SIRETs whose rows changed since they were last summarised (what the next incremental
    /// build takes).
    pub dirty: u64,
    /// SIRETs with a summary.
    pub summaries: u64,
    /// When the latest build completed.
    pub built_at: Option<DateTime<Utc>>,
    /// When the latest full build completed.
    pub full_built_at: Option<DateTime<Utc>>,
    /// Upstream: whether a build is running.
    pub is_running: bool,
    /// Upstream: the id of the build running, or else of the latest.
    pub task_id: Option<Uuid>,
    /// Upstream: its state in Celery's words (`PENDING`, `PROGRESS`, `SUCCESS`, …).
    pub status: Option<&'static str>,
    /// Upstream: its progress, 0 to 100.
    pub progress: Option<f64>,
    /// Upstream: its latest progress message.
    pub message: Option<String>,
}

/// Storage or engine failures (the build kind is registered with the routes): internal.
fn build_error(e: BuildError) -> ApiError {
    ApiError::internal(e)
}

async fn request(
    elections: Elections,
    principal: Option<Extension<Principal>>,
    body: Option<Json<BuildBody>>,
) -> Result<Response, ApiError> {
    let full = body.map(|Json(b)| b).unwrap_or_default().full;
    let BuildRequest { task, outcome } = elections
        .request_build(full, principal.map(|p| p.0.name))
        .await
        .map_err(build_error)?;
    let status = match outcome {
        RequestOutcome::Enqueued => StatusCode::ACCEPTED,
        RequestOutcome::Queued | RequestOutcome::Running => StatusCode::OK,
    };
    let id = task.id;
    let answer = BuildAnswer {
        outcome: match outcome {
            RequestOutcome::Enqueued => "enqueued",
            RequestOutcome::Queued => "queued",
            RequestOutcome::Running => "running",
        }
        .into(),
        full: task.args.get("full").and_then(|v| v.as_bool()) == Some(true),
        status: celery_state(&task),
        task_id: id,
        task: TaskView::new(task, None),
    };
    let mut response = (status, Json(answer)).into_response();
    response
        .extensions_mut()
        .insert(AuditResource(id.to_string()));
    Ok(response)
}

async fn status(elections: Elections) -> Result<Json<BuildStatusView>, ApiError> {
    let s = elections.status().await.map_err(build_error)?;
    let current = s.running.as_ref().or(s.latest.as_ref());
    Ok(Json(BuildStatusView {
        is_running: s.running.is_some(),
        task_id: current.map(|t| t.id),
        status: current.map(celery_state),
        progress: current.map(|t| t.progress.percent),
        message: current.and_then(|t| t.progress.message.clone()),
        running: s.running.map(|t| TaskView::new(t, None)),
        latest: s.latest.map(|t| TaskView::new(t, None)),
        dirty: s.dirty,
        summaries: s.summaries,
        built_at: s.built_at,
        full_built_at: s.full_built_at,
    }))
}

/// Build the summary
///
/// Enqueues a build of the per-SIRET summary (a task of kind `elections.build`), answered at
/// once: the build runs in the background, one at a time. Without a body, or with
/// `{"full": false}`, the build recomputes the SIRETs imports changed since the last build;
/// `{"full": true}` recomputes every SIRET. Both give the same tables. When a build of that
/// kind is already queued or running, it is returned (200) instead of a new one (202).
#[utoipa::path(post, path = "/api/elections/build", tag = "elections",
    request_body(content = Option<BuildBody>, description = "What to build (optional)", content_type = "application/json",
        example = json!({"full": true})),
    responses(
        (status = 202, description = "Enqueued", body = BuildAnswer),
        (status = 200, description = "A build of that kind is already queued or running", body = BuildAnswer),
        (status = 422, description = "Invalid body", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
async fn request_build(
    State(elections): State<Elections>,
    principal: Option<Extension<Principal>>,
    body: Option<Json<BuildBody>>,
) -> Result<Response, ApiError> {
    request(elections, principal, body).await
}

/// Summary builds: state
///
/// The build running now, the latest build, how many SIRETs wait for the next incremental
/// build, and when the summary was last built.
#[utoipa::path(get, path = "/api/elections/build", tag = "elections",
    responses((status = 200, description = "The summary's build state", body = BuildStatusView)))]
async fn build_status(
    State(elections): State<Elections>,
) -> Result<Json<BuildStatusView>, ApiError> {
    status(elections).await
}

/// Build the summary (upstream path)
///
/// `POST /api/elections/build` under the upstream tool's path.
#[utoipa::path(post, path = "/api/build/summary", tag = "elections",
    request_body(content = Option<BuildBody>, description = "What to build (optional)", content_type = "application/json"),
    responses(
        (status = 202, description = "Enqueued", body = BuildAnswer),
        (status = 200, description = "A build of that kind is already queued or running", body = BuildAnswer),
        (status = 422, description = "Invalid body", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
async fn seed_request_build(
    State(elections): State<Elections>,
    principal: Option<Extension<Principal>>,
    body: Option<Json<BuildBody>>,
) -> Result<Response, ApiError> {
    request(elections, principal, body).await
}

/// Summary builds: state (upstream path)
///
/// `GET /api/elections/build` under the upstream tool's path.
#[utoipa::path(get, path = "/api/build/summary/status", tag = "elections",
    responses((status = 200, description = "The summary's build state", body = BuildStatusView)))]
async fn seed_build_status(
    State(elections): State<Elections>,
) -> Result<Json<BuildStatusView>, ApiError> {
    status(elections).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_strict() {
        let b: BuildBody = serde_json::from_str(r#"{"full": true}"#).unwrap();
        assert!(b.full);
        let b: BuildBody = serde_json::from_str("{}").unwrap();
        assert!(!b.full);
        assert!(serde_json::from_str::<BuildBody>(r#"{"ful": true}"#).is_err());
    }
}
