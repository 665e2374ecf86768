//! Operating the task engine over HTTP: statistics, workers, queue pause and resume, and the
//! Celery-style monitoring aliases (`/api/async/health`, `/tasks/active`, `/stats`).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use chrono::{DateTime, Utc};
use relais_platform::tasks::{
    Engine, QueueState, QueueStats, TaskFilter, TaskState, TaskStats, WorkerInfo,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::access::{Access, Principal, Role, Routes};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Json, Path};
use crate::tasks::{CeleryStatus, celery_state, engine_error};

pub(crate) fn routes() -> Routes<Engine> {
    Routes::<Engine>::new()
        .route(Access::Role(Role::Viewer), routes!(task_stats))
        .route(Access::Role(Role::Viewer), routes!(workers))
        .route(Access::Role(Role::Viewer), routes!(queues))
        .route(Access::Role(Role::Operator), routes!(pause_queue))
        .route(Access::Role(Role::Operator), routes!(resume_queue))
        .route(Access::Role(Role::Viewer), routes!(async_health))
        .route(Access::Role(Role::Viewer), routes!(async_active))
        .route(Access::Role(Role::Viewer), routes!(async_stats))
}

/// Finished tasks in one window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    /// Every final state together.
    pub finished: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed (not retried).
    pub failed: i64,
    /// Discarded (out of attempts).
    pub discarded: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Finished tasks per second over the window.
    pub per_second: f64,
}

/// Finished tasks over the last 1, 5 and 15 minutes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThroughputView {
    /// Last minute.
    pub last_1m: WindowView,
    /// Last 5 minutes.
    pub last_5m: WindowView,
    /// Last 15 minutes.
    pub last_15m: WindowView,
}

/// Duration percentiles of one kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct DurationView {
    /// Attempts measured (succeeded in the last 15 minutes, newest 100,000 at most).
    pub samples: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// Longest, milliseconds.
    pub max_ms: f64,
}

/// One queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Queue name.
    pub queue: String,
    /// Whether claiming is paused on every process.
    pub paused: bool,
    /// Due tasks waiting for a worker.
    pub due: i64,
    /// Tasks waiting for their scheduled time.
    pub scheduled: i64,
    /// Running tasks.
    pub running: i64,
    /// How long the oldest due task has waited, seconds.
    pub lag_seconds: f64,
}

impl From<QueueStats> for QueueView {
    fn from(q: QueueStats) -> Self {
        QueueView {
            queue: q.queue,
            paused: q.paused,
            due: q.due,
            scheduled: q.scheduled,
            running: q.running,
            lag_seconds: q.lag_seconds,
        }
    }
}

/// Task statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskStatsView {
    /// When they were taken.
    pub at: DateTime<Utc>,
    /// Tasks by state.
    pub by_state: BTreeMap<String, i64>,
    /// Tasks by kind, then state.
    pub by_kind: BTreeMap<String, BTreeMap<String, i64>>,
    /// Finished tasks per window.
    pub throughput: ThroughputView,
    /// Duration percentiles by kind.
    pub durations: BTreeMap<String, DurationView>,
    /// Share of `failed` and `discarded` among tasks ended in the last 15 minutes.
    pub failure_rate: Option<f64>,
    /// Queues.
    pub queues: Vec<QueueView>,
}

impl From<TaskStats> for TaskStatsView {
    fn from(s: TaskStats) -> Self {
        let window = |w: relais_platform::tasks::Window| WindowView {
            finished: w.finished,
            succeeded: w.succeeded,
            failed: w.failed,
            discarded: w.discarded,
            cancelled: w.cancelled,
            per_second: w.per_second,
        };
        TaskStatsView {
            at: s.at,
            by_state: s.by_state,
            by_kind: s.by_kind,
            throughput: ThroughputView {
                last_1m: window(s.throughput.last_1m),
                last_5m: window(s.throughput.last_5m),
                last_15m: window(s.throughput.last_15m),
            },
            durations: s
                .durations
                .into_iter()
                .map(|(k, d)| {
                    let view = DurationView {
                        samples: d.samples,
                        p50_ms: d.p50_ms,
                        p95_ms: d.p95_ms,
                        max_ms: d.max_ms,
                    };
                    (k, view)
                })
                .collect(),
            failure_rate: s.failure_rate,
            queues: s.queues.into_iter().map(QueueView::from).collect(),
        }
    }
}

/// Task statistics
///
/// Counts by state and kind; throughput over the last 1, 5 and 15 minutes; p50/p95 duration per
/// kind; failure rate; per-queue depth, pause and lag.
#[utoipa::path(get, path = "/api/tasks/stats", tag = "tasks",
    responses((status = 200, description = "Statistics", body = TaskStatsView)))]
async fn task_stats(State(engine): State<Engine>) -> Result<Json<TaskStatsView>, ApiError> {
    Ok(Json(engine.stats().await.map_err(engine_error)?.into()))
}

/// One queue a worker serves.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerQueueView {
    /// Queue name.
    pub queue: String,
    /// Tasks run at once.
    pub concurrency: u32,
}

/// A process running workers.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    /// Worker id, as stored on the tasks it runs.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// relais version.
    pub version: String,
    /// Queues and concurrency (its capacity).
    pub queues: Vec<WorkerQueueView>,
    /// Process start.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Tasks running at the last heartbeat.
    pub running: i64,
    /// Whether it beat within the rescue delay (a silent worker's tasks get rescued).
    pub alive: bool,
}

/// Worker processes.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    /// Every registered process, oldest first.
    pub workers: Vec<WorkerView>,
    /// The id of the process that answered.
    pub this: String,
}

fn worker_view(w: WorkerInfo, now: DateTime<Utc>, timeout: std::time::Duration) -> WorkerView {
    let silent = (now - w.heartbeat_at).to_std().unwrap_or_default();
    WorkerView {
        id: w.id,
        host: w.host,
        pid: w.pid,
        version: w.version,
        queues: w
            .queues
            .into_iter()
            .map(|q| WorkerQueueView {
                queue: q.queue,
                concurrency: q.concurrency,
            })
            .collect(),
        started_at: w.started_at,
        heartbeat_at: w.heartbeat_at,
        running: w.running,
        alive: silent <= timeout,
    }
}

async fn alive_workers(engine: &Engine) -> Result<Vec<WorkerView>, ApiError> {
    let now = Utc::now();
    Ok(engine
        .workers()
        .await
        .map_err(engine_error)?
        .into_iter()
        .map(|w| worker_view(w, now, engine.worker_timeout()))
        .collect())
}

/// Worker processes
///
/// Every process registered in the database: its queues and capacity, running tasks and last
/// heartbeat.
#[utoipa::path(get, path = "/api/workers", tag = "tasks",
    responses((status = 200, description = "Workers", body = WorkerList)))]
async fn workers(State(engine): State<Engine>) -> Result<Json<WorkerList>, ApiError> {
    Ok(Json(WorkerList {
        workers: alive_workers(&engine).await?,
        this: engine.worker_id().to_string(),
    }))
}

/// Queues with their depth and pause state.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueList {
    /// Every queue known to this process or holding tasks.
    pub queues: Vec<QueueView>,
}

/// Queues
///
/// Depth, pause state and lag of every queue.
#[utoipa::path(get, path = "/api/queues", tag = "tasks",
    responses((status = 200, description = "Queues", body = QueueList)))]
async fn queues(State(engine): State<Engine>) -> Result<Json<QueueList>, ApiError> {
    let queues = engine.queues().await.map_err(engine_error)?;
    Ok(Json(QueueList {
        queues: queues.into_iter().map(QueueView::from).collect(),
    }))
}

/// A queue's pause state.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStateView {
    /// Queue name.
    pub queue: String,
    /// Paused on every process.
    pub paused: bool,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
    /// Who changed it.
    pub changed_by: Option<String>,
}

impl From<QueueState> for QueueStateView {
    fn from(s: QueueState) -> Self {
        QueueStateView {
            queue: s.queue,
            paused: s.paused,
            changed_at: s.changed_at,
            changed_by: s.changed_by,
        }
    }
}

fn check_queue_name(queue: &str) -> Result<(), ApiError> {
    let ok = !queue.is_empty()
        && queue.len() <= 100
        && queue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Validation,
            "a queue name has 1 to 100 characters among letters, digits, `.`, `_` and `-`",
        ))
    }
}

/// Pause a queue
///
/// Every process stops claiming from it; running tasks go on.
#[utoipa::path(post, path = "/api/queues/{queue}/pause", tag = "tasks",
    params(("queue" = String, Path, description = "Queue name")),
    responses(
        (status = 200, description = "Paused", body = QueueStateView),
        (status = 422, description = "Invalid queue name", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn pause_queue(
    State(engine): State<Engine>,
    principal: Option<Extension<Principal>>,
    Path(queue): Path<String>,
) -> Result<Json<QueueStateView>, ApiError> {
    set_paused(&engine, principal, &queue, true).await
}

/// Pauses or resumes `queue` on behalf of the caller.
async fn set_paused(
    engine: &Engine,
    principal: Option<Extension<Principal>>,
    queue: &str,
    paused: bool,
) -> Result<Json<QueueStateView>, ApiError> {
    check_queue_name(queue)?;
    let by = principal.map(|p| p.0.name);
    let state = if paused {
        engine.pause(queue, by.as_deref()).await
    } else {
        engine.resume(queue, by.as_deref()).await
    };
    Ok(Json(state.map_err(engine_error)?.into()))
}

/// Resume a queue
///
/// Claiming starts again (at once on this process, at the next poll on the others).
#[utoipa::path(post, path = "/api/queues/{queue}/resume", tag = "tasks",
    params(("queue" = String, Path, description = "Queue name")),
    responses(
        (status = 200, description = "Resumed", body = QueueStateView),
        (status = 422, description = "Invalid queue name", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn resume_queue(
    State(engine): State<Engine>,
    principal: Option<Extension<Principal>>,
    Path(queue): Path<String>,
) -> Result<Json<QueueStateView>, ApiError> {
    set_paused(&engine, principal, &queue, false).await
}

/// Health of the workers, Celery style.
#[derive(Debug, Serialize, ToSchema)]
pub struct AsyncHealth {
    /// `healthy`.
    pub status: &'static str,
    /// Worker processes alive.
    pub workers: usize,
    /// Their ids.
    pub worker_ids: Vec<String>,
    /// Queues served by live workers.
    pub queues: Vec<String>,
    /// Where tasks are stored (`sqlite` or `postgres`): the broker and result backend in one.
    pub broker: &'static str,
}

/// Worker health, Celery style
///
/// 200 when at least one worker process is alive; otherwise a 503 problem (`not_ready`) whose
/// `health` member is `unhealthy`.
#[utoipa::path(get, path = "/api/async/health", tag = "tasks",
    responses(
        (status = 200, description = "Workers are alive", body = AsyncHealth),
        (status = 503, description = "No live worker", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn async_health(State(engine): State<Engine>) -> Result<Json<AsyncHealth>, ApiError> {
    let live: Vec<WorkerView> = alive_workers(&engine)
        .await?
        .into_iter()
        .filter(|w| w.alive)
        .collect();
    let mut queues: Vec<String> = live
        .iter()
        .flat_map(|w| w.queues.iter().map(|q| q.queue.clone()))
        .collect();
    queues.sort();
    queues.dedup();
    if live.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotReady,
            "no worker process is alive: tasks are queued but none runs",
        )
        .with_extension("health", "unhealthy".into())
        .with_extension("workers", 0.into())
        .with_extension("broker", engine.backend().into()));
    }
    Ok(Json(AsyncHealth {
        status: "healthy",
        workers: live.len(),
        worker_ids: live.into_iter().map(|w| w.id).collect(),
        queues,
        broker: engine.backend(),
    }))
}

/// A running task, Celery style.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTask {
    /// The Celery-shaped status.
    #[serde(flatten)]
    pub status: CeleryStatus,
    /// Kind (Celery's task name).
    pub name: String,
    /// Worker running it.
    pub worker: Option<String>,
    /// Start of this attempt.
    pub started_at: Option<DateTime<Utc>>,
}

/// Running tasks, Celery style.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTasks {
    /// How many (up to 1,000 listed).
    pub count: usize,
    /// The running tasks, newest first.
    pub tasks: Vec<ActiveTask>,
}

/// Running tasks, Celery style
///
/// Tasks running on any process (1,000 at most).
#[utoipa::path(get, path = "/api/async/tasks/active", tag = "tasks",
    responses((status = 200, description = "Running tasks", body = ActiveTasks)))]
async fn async_active(State(engine): State<Engine>) -> Result<Json<ActiveTasks>, ApiError> {
    let running = engine
        .list(&TaskFilter {
            states: vec![TaskState::Running],
            limit: 1000,
            ..TaskFilter::default()
        })
        .await
        .map_err(engine_error)?;
    let tasks: Vec<ActiveTask> = running
        .into_iter()
        .map(|t| ActiveTask {
            status: CeleryStatus::of(&t, celery_state(&t), None),
            name: t.kind.clone(),
            worker: t.worker.clone(),
            started_at: t.started_at,
        })
        .collect();
    Ok(Json(ActiveTasks {
        count: tasks.len(),
        tasks,
    }))
}

/// Task counts, Celery style.
#[derive(Debug, Serialize, ToSchema)]
pub struct AsyncStats {
    /// Every task stored.
    pub total: i64,
    /// Tasks by Celery state (`PENDING`, `STARTED`, `SUCCESS`, `FAILURE`, `REVOKED`).
    pub by_state: BTreeMap<String, i64>,
    /// Tasks by kind (Celery's task name).
    pub by_name: BTreeMap<String, i64>,
    /// Live worker processes.
    pub workers: usize,
    /// Tasks finished per minute over the last 5 minutes.
    pub finished_per_minute: f64,
    /// Share of failures among tasks ended in the last 15 minutes.
    pub failure_rate: Option<f64>,
}

/// Task statistics, Celery style
///
/// Counts by Celery state and by task name, live workers and recent throughput.
#[utoipa::path(get, path = "/api/async/stats", tag = "tasks",
    responses((status = 200, description = "Statistics", body = AsyncStats)))]
async fn async_stats(State(engine): State<Engine>) -> Result<Json<AsyncStats>, ApiError> {
    let stats = engine.stats().await.map_err(engine_error)?;
    let mut by_state: BTreeMap<String, i64> =
        ["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"]
            .into_iter()
            .map(|s| (s.to_string(), 0))
            .collect();
    for (state, n) in &stats.by_state {
        let celery = match state.parse::<TaskState>() {
            Ok(TaskState::Available | TaskState::Scheduled | TaskState::Retryable) => "PENDING",
            Ok(TaskState::Running) => "STARTED",
            Ok(TaskState::Succeeded) => "SUCCESS",
            Ok(TaskState::Failed | TaskState::Discarded) => "FAILURE",
            Ok(TaskState::Cancelled) => "REVOKED",
            Err(_) => continue,
        };
        *by_state.entry(celery.into()).or_default() += n;
    }
    let workers = alive_workers(&engine)
        .await?
        .into_iter()
        .filter(|w| w.alive)
        .count();
    Ok(Json(AsyncStats {
        total: stats.by_state.values().sum(),
        by_state,
        by_name: stats
            .by_kind
            .iter()
            .map(|(k, states)| (k.clone(), states.values().sum()))
            .collect(),
        workers,
        finished_per_minute: stats.throughput.last_5m.finished as f64 / 5.0,
        failure_rate: stats.failure_rate,
    }))
}
