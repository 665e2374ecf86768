//! Task routes: enqueue, read, cancel, retry, and the Celery-style aliases existing front ends call.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use relais_platform::tasks::{
    AttemptError, CancelOutcome, Engine, EngineError, Enqueue, TaskFilter, TaskRecord, TaskState,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Access, Principal, Role, Routes};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Json, Path, Query};

/// The documented task routes, for the engine `engine`.
pub fn routes(engine: Engine) -> Routes<()> {
    Routes::<Engine>::new()
        .route(Access::Role(Role::Operator), routes!(enqueue))
        .route(Access::Role(Role::Viewer), routes!(list_tasks))
        .route(Access::Role(Role::Viewer), routes!(get_task))
        .route(Access::Role(Role::Operator), routes!(cancel_task))
        .route(Access::Role(Role::Operator), routes!(retry_task))
        .route(Access::Role(Role::Viewer), routes!(celery_status))
        .route(Access::Role(Role::Operator), routes!(celery_revoke))
        .merge(crate::task_ops::routes())
        .merge(crate::task_events::routes())
        .with_state(engine)
}

/// A task to enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    /// Registered task kind, e.g. `relais.sleep`.
    pub kind: String,
    /// Arguments of the kind (default `{}`).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub args: Value,
    /// Queue (default: the kind's).
    pub queue: Option<String>,
    /// Priority, higher first (default: the kind's).
    pub priority: Option<i32>,
    /// Attempts allowed, 1–100 (default: the kind's).
    pub max_attempts: Option<i32>,
    /// Not before this time (RFC 3339).
    pub run_at: Option<DateTime<Utc>>,
    /// While a task with this key is queued or running, that task is returned instead.
    pub unique_key: Option<String>,
    /// Soft time limit in milliseconds.
    pub soft_limit_ms: Option<u64>,
    /// Hard time limit in milliseconds.
    pub hard_limit_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Progress of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// 0 to 100.
    pub percent: f64,
    /// Human-readable status.
    pub message: Option<String>,
    /// Structured details.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// The error of one failed attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptErrorView {
    /// Attempt number.
    pub attempt: i32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// What went wrong.
    pub message: String,
    /// Ended by the hard time limit.
    pub timed_out: bool,
}

/// Links of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskLinks {
    /// This task.
    #[serde(rename = "self")]
    pub this: String,
    /// Cancel it (`DELETE`).
    pub cancel: String,
    /// Retry it by hand (`POST`).
    pub retry: String,
}

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    /// UUIDv7.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// Arguments.
    #[schema(value_type = Object)]
    pub args: Value,
    /// `available`, `scheduled`, `running`, `retryable`, `succeeded`, `failed`, `cancelled` or `discarded`.
    pub state: String,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts started.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Not before this time.
    pub scheduled_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Start of the latest attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Latest heartbeat while running.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Worker holding (or that last held) it.
    pub worker: Option<String>,
    /// Latest progress.
    pub progress: ProgressView,
    /// Result of a successful run.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Uniqueness key.
    pub unique_key: Option<String>,
    /// Who enqueued it.
    pub created_by: Option<String>,
    /// A cancel was requested while it ran.
    pub cancel_requested: bool,
    /// Errors of failed attempts (on single-task reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<AttemptErrorView>>,
    /// Related routes.
    pub links: TaskLinks,
}

impl TaskView {
    /// The view of a task, with the errors of its failed attempts on single-task reads (apps'
    /// routes answering with a task use it too).
    pub fn new(t: TaskRecord, errors: Option<Vec<AttemptError>>) -> Self {
        let base = format!("/api/tasks/{}", t.id);
        TaskView {
            id: t.id,
            kind: t.kind,
            queue: t.queue,
            args: t.args,
            state: t.state.as_str().to_owned(),
            priority: t.priority,
            attempt: t.attempt,
            max_attempts: t.max_attempts,
            scheduled_at: t.scheduled_at,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            heartbeat_at: t.heartbeat_at,
            worker: t.worker,
            progress: ProgressView {
                percent: t.progress.percent,
                message: t.progress.message,
                details: t.progress.details,
            },
            result: t.result,
            unique_key: t.unique_key,
            created_by: t.created_by,
            cancel_requested: t.cancel_requested,
            errors: errors.map(|errors| {
                errors
                    .into_iter()
                    .map(|e| AttemptErrorView {
                        attempt: e.attempt,
                        at: e.at,
                        message: e.message,
                        timed_out: e.timed_out,
                    })
                    .collect()
            }),
            links: TaskLinks {
                cancel: base.clone(),
                retry: format!("{base}/retry"),
                this: base,
            },
        }
    }
}

pub(crate) fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::UnknownKind(_)
        | EngineError::InvalidArgs { .. }
        | EngineError::InvalidOption { .. } => ApiError::new(ErrorCode::Validation, e.to_string()),
        EngineError::Store(relais_platform::store::StoreError::Conflict(message)) => {
            ApiError::new(ErrorCode::Conflict, message)
        }
        other => ApiError::internal(other),
    }
}

pub(crate) fn not_found(id: Uuid) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no task {id}"))
}

/// Enqueue a task
///
/// 202 with the new task; 200 with the existing one when its `unique_key` belongs to a task
/// still queued or running.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks", request_body = EnqueueBody,
    responses(
        (status = 202, description = "Enqueued", body = TaskView),
        (status = 200, description = "A task with this unique key is already queued or running", body = TaskView),
        (status = 422, description = "Unknown kind, invalid arguments or options", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn enqueue(
    State(engine): State<Engine>,
    principal: Option<Extension<Principal>>,
    Json(body): Json<EnqueueBody>,
) -> Result<Response, ApiError> {
    let request = Enqueue {
        kind: body.kind,
        args: body.args,
        queue: body.queue,
        priority: body.priority,
        max_attempts: body.max_attempts,
        run_at: body.run_at,
        unique_key: body.unique_key,
        soft_limit_ms: body.soft_limit_ms,
        hard_limit_ms: body.hard_limit_ms,
        created_by: principal.map(|p| p.0.name),
    };
    let (record, created) = engine.enqueue(request).await.map_err(engine_error)?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let id = record.id.to_string();
    let mut response = (status, Json(TaskView::new(record, None))).into_response();
    response
        .extensions_mut()
        .insert(crate::audit::AuditResource(id));
    Ok(response)
}

/// Filters and page of a task listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated states, e.g. `running,retryable`.
    pub state: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Queue.
    pub queue: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<Uuid>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<u32>,
}

/// A page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    /// Newest first.
    pub items: Vec<TaskView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<Uuid>,
}

/// List tasks
///
/// Newest first, filtered, with cursor pagination.
#[utoipa::path(get, path = "/api/tasks", tag = "tasks", params(ListQuery),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPage),
        (status = 400, description = "Invalid filter", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn list_tasks(
    State(engine): State<Engine>,
    Query(q): Query<ListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "`limit` must be from 1 to 1000",
        ));
    }
    let states = match q.state.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<TaskState>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("`state`: {e}")))?,
    };
    let filter = TaskFilter {
        states,
        kind: q.kind,
        queue: q.queue,
        created_from: q.created_from,
        created_to: q.created_to,
        before: q.after,
        limit,
    };
    let records = engine.list(&filter).await.map_err(engine_error)?;
    let next = if records.len() == limit as usize {
        records.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(TaskPage {
        items: records
            .into_iter()
            .map(|r| TaskView::new(r, None))
            .collect(),
        next,
    }))
}

/// One task
///
/// The task with the errors of its failed attempts.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 404, description = "No such task", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn get_task(
    State(engine): State<Engine>,
    Path(id): Path<Uuid>,
) -> Result<Json<TaskView>, ApiError> {
    let record = engine
        .get(id)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| not_found(id))?;
    let errors = engine.errors(id).await.map_err(engine_error)?;
    Ok(Json(TaskView::new(record, Some(errors))))
}

/// Cancel a task
///
/// A queued task is cancelled at once (200, `cancelled`); a running one is signalled (202) and
/// stops within its cancel grace period; a finished one is left as it is (409).
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "Cancelled", body = TaskView),
        (status = 202, description = "Running: its worker was asked to stop", body = TaskView),
        (status = 404, description = "No such task", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already finished", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_task(
    State(engine): State<Engine>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    match engine.cancel(id).await.map_err(engine_error)? {
        CancelOutcome::Cancelled(t) => {
            Ok((StatusCode::OK, Json(TaskView::new(t, None))).into_response())
        }
        CancelOutcome::Signalled(t) => {
            Ok((StatusCode::ACCEPTED, Json(TaskView::new(t, None))).into_response())
        }
        CancelOutcome::AlreadyFinal(t) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("task {id} has already finished ({})", t.state),
        )),
        CancelOutcome::NotFound => Err(not_found(id)),
    }
}

/// Retry a task by hand
///
/// Puts a `failed`, `discarded` or `cancelled` task back in its queue.
#[utoipa::path(post, path = "/api/tasks/{id}/retry", tag = "tasks", params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 202, description = "Accepted", body = TaskView),
        (status = 404, description = "No such task", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in a state that can be retried, or its unique key is taken", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn retry_task(
    State(engine): State<Engine>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    match engine.retry(id).await.map_err(engine_error)? {
        Some(t) => Ok((StatusCode::ACCEPTED, Json(TaskView::new(t, None))).into_response()),
        None => match engine.get(id).await.map_err(engine_error)? {
            Some(t) => Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "task {id} is {}; only failed, discarded or cancelled tasks are retried",
                    t.state
                ),
            )),
            None => Err(not_found(id)),
        },
    }
}

/// A task in the shape of a Celery `AsyncResult`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeleryStatus {
    /// The task id.
    pub task_id: Uuid,
    /// `PENDING`, `STARTED`, `PROGRESS`, `SUCCESS`, `FAILURE` or `REVOKED`.
    pub state: &'static str,
    /// Progress, 0 to 100.
    pub progress: f64,
    /// Latest progress message.
    pub status: Option<String>,
    /// Result of a successful run.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Error of the latest failed attempt.
    pub error: Option<String>,
}

impl CeleryStatus {
    pub(crate) fn of(t: &TaskRecord, state: &'static str, error: Option<String>) -> Self {
        CeleryStatus {
            task_id: t.id,
            state,
            progress: t.progress.percent,
            status: t.progress.message.clone(),
            result: t.result.clone(),
            error,
        }
    }
}

/// A task's state in Celery's words: `PENDING`, `STARTED`, `PROGRESS`, `SUCCESS`, `FAILURE` or
/// `REVOKED`.
pub fn celery_state(t: &TaskRecord) -> &'static str {
    match t.state {
        TaskState::Available | TaskState::Scheduled | TaskState::Retryable => "PENDING",
        TaskState::Running if t.progress.percent > 0.0 => "PROGRESS",
        TaskState::Running => "STARTED",
        TaskState::Succeeded => "SUCCESS",
        TaskState::Failed | TaskState::Discarded => "FAILURE",
        TaskState::Cancelled => "REVOKED",
    }
}

/// Task status, Celery style
///
/// For front ends written against Celery's `AsyncResult`.
#[utoipa::path(get, path = "/api/async/task/{id}", tag = "tasks", params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = CeleryStatus),
        (status = 404, description = "No such task", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn celery_status(
    State(engine): State<Engine>,
    Path(id): Path<Uuid>,
) -> Result<Json<CeleryStatus>, ApiError> {
    let t = engine
        .get(id)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| not_found(id))?;
    let error = if matches!(
        t.state,
        TaskState::Failed | TaskState::Discarded | TaskState::Retryable
    ) {
        engine
            .errors(id)
            .await
            .map_err(engine_error)?
            .pop()
            .map(|e| e.message)
    } else {
        None
    };
    Ok(Json(CeleryStatus::of(&t, celery_state(&t), error)))
}

/// Revoke a task, Celery style
///
/// Same as `DELETE /api/tasks/{id}`, answered in the Celery shape.
#[utoipa::path(delete, path = "/api/async/task/{id}", tag = "tasks", params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = CeleryStatus),
        (status = 404, description = "No such task", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn celery_revoke(
    State(engine): State<Engine>,
    Path(id): Path<Uuid>,
) -> Result<Json<CeleryStatus>, ApiError> {
    let t = match engine.cancel(id).await.map_err(engine_error)? {
        CancelOutcome::Cancelled(t)
        | CancelOutcome::Signalled(t)
        | CancelOutcome::AlreadyFinal(t) => t,
        CancelOutcome::NotFound => return Err(not_found(id)),
    };
    let state = if t.cancel_requested {
        "REVOKED"
    } else {
        celery_state(&t)
    };
    Ok(Json(CeleryStatus::of(&t, state, None)))
}
