//! What apps implement: a [`Task`] kind with typed arguments and per-kind defaults, run with a
//! [`TaskContext`] that reports progress and signals cancellation and the soft time limit.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::model::{ExecOptions, Progress};
use crate::clock::{Clock, Sleep};

/// Per-kind defaults; every field can be overridden when enqueueing.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOptions {
    /// Queue the kind runs on.
    pub queue: String,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts before the task is discarded.
    pub max_attempts: i32,
    /// Time limits, backoff and cancel grace.
    pub exec: ExecOptions,
    /// Whether tasks of this kind are unique by their arguments while queued or running.
    pub unique_by_args: bool,
    /// Most starts of this kind per period, all processes together (e.g. `10/m`).
    pub rate: Option<crate::rate::Rate>,
    /// Most tasks of this kind running at once, all processes together.
    pub concurrency: Option<u32>,
}

impl Default for TaskOptions {
    fn default() -> Self {
        Self {
            queue: "default".into(),
            priority: 0,
            max_attempts: 3,
            exec: ExecOptions::default(),
            unique_by_args: false,
            rate: None,
            concurrency: None,
        }
    }
}

/// How a handler fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// Worth retrying (with backoff, while attempts remain).
    Retry(String),
    /// Not worth retrying: the task becomes `failed` at once.
    Permanent(String),
    /// The handler stopped because cancellation was signalled.
    Cancelled,
}

impl TaskError {
    /// A retryable error.
    pub fn retry(message: impl std::fmt::Display) -> Self {
        Self::Retry(message.to_string())
    }

    /// A permanent error.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self::Permanent(message.to_string())
    }
}

/// A kind of background work.
pub trait Task: Send + Sync + 'static {
    /// The kind name, e.g. `elections.build_summary`; stored with each task.
    const KIND: &'static str;
    /// Typed arguments, stored as JSON.
    type Args: Serialize + DeserializeOwned + Send + 'static;

    /// Defaults for this kind.
    fn options(&self) -> TaskOptions {
        TaskOptions::default()
    }

    /// Runs one attempt. Long handlers should await often (each await is a point where a hard
    /// limit or cancel can stop them) and check [`TaskContext::should_stop`]; a handler that never
    /// awaits cannot be aborted. Put CPU-heavy work on `tokio::task::spawn_blocking` in slices
    /// that check [`TaskContext::should_stop`].
    fn run(
        &self,
        ctx: TaskContext,
        args: Self::Args,
    ) -> impl Future<Output = Result<Value, TaskError>> + Send;
}

pub(crate) type BoxRun = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// A task kind with its arguments erased to JSON.
pub(crate) trait ErasedTask: Send + Sync {
    fn options(&self) -> TaskOptions;
    fn check_args(&self, args: &Value) -> Result<(), String>;
    fn run(self: Arc<Self>, ctx: TaskContext, args: Value) -> BoxRun;
}

pub(crate) struct Erased<T>(pub T);

impl<T: Task> ErasedTask for Erased<T> {
    fn options(&self) -> TaskOptions {
        self.0.options()
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        T::Args::deserialize(args)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn run(self: Arc<Self>, ctx: TaskContext, args: Value) -> BoxRun {
        Box::pin(async move {
            let args = T::Args::deserialize(args)
                .map_err(|e| TaskError::permanent(format!("invalid arguments: {e}")))?;
            self.0.run(ctx, args).await
        })
    }
}

use serde::Deserialize as _;

/// The registered kinds.
pub(crate) type Registry = HashMap<&'static str, Arc<dyn ErasedTask>>;

/// Receives progress from handlers (the engine throttles and stores it).
pub(crate) trait ProgressSink: Send + Sync {
    fn report(
        &self,
        id: Uuid,
        attempt: i32,
        progress: Progress,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// What a running handler can see and do.
#[derive(Clone)]
pub struct TaskContext {
    pub(crate) id: Uuid,
    pub(crate) attempt: i32,
    pub(crate) max_attempts: i32,
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    pub(crate) cancel: CancellationToken,
    pub(crate) soft: CancellationToken,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sink: Arc<dyn ProgressSink>,
    pub(crate) last_progress: Arc<Mutex<Option<Progress>>>,
    pub(crate) engine: super::Engine,
}

impl TaskContext {
    /// The task's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// This attempt's number (1-based).
    pub fn attempt(&self) -> i32 {
        self.attempt
    }

    /// When this attempt started (its claim time, on the engine's clock).
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.started_at
    }

    /// Attempts allowed in all.
    pub fn max_attempts(&self) -> i32 {
        self.max_attempts
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when cancellation is requested.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Whether the soft time limit has passed.
    pub fn soft_limit_reached(&self) -> bool {
        self.soft.is_cancelled()
    }

    /// Completes when the soft time limit passes.
    pub async fn soft_limit(&self) {
        self.soft.cancelled().await
    }

    /// Cancellation requested or soft limit passed: time to wrap up.
    pub fn should_stop(&self) -> bool {
        self.is_cancelled() || self.soft_limit_reached()
    }

    /// Sleeps on the engine's clock (use it instead of `tokio::time::sleep` so tests can drive it).
    pub fn sleep(&self, duration: Duration) -> Sleep {
        self.clock.sleep(duration)
    }

    /// Sleeps on the engine's clock until `deadline`.
    pub fn sleep_until(&self, deadline: chrono::DateTime<chrono::Utc>) -> Sleep {
        self.clock.sleep_until(deadline)
    }

    /// The engine clock's time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The engine running this task: to enqueue follow-up tasks, in the handler's own write
    /// transaction ([`super::Engine::begin`]) when they must commit with its changes.
    pub fn engine(&self) -> &super::Engine {
        &self.engine
    }

    /// Reports progress (0–100, clamped) with a message; published at once, stored throttled.
    pub async fn progress(&self, percent: f64, message: impl Into<String>) {
        self.progress_with(percent, Some(message.into()), None)
            .await
    }

    /// Reports progress with structured details.
    pub async fn progress_with(
        &self,
        percent: f64,
        message: Option<String>,
        details: Option<Value>,
    ) {
        let progress = Progress {
            percent: percent.clamp(0.0, 100.0),
            message,
            details,
        };
        *self.last_progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress.clone());
        self.sink.report(self.id, self.attempt, progress).await
    }
}

/// `relais.noop`: does nothing; for tests and throughput benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

impl Task for Noop {
    const KIND: &'static str = "relais.noop";
    type Args = serde_json::Map<String, Value>;

    async fn run(&self, _ctx: TaskContext, _args: Self::Args) -> Result<Value, TaskError> {
        Ok(Value::Null)
    }
}

/// Arguments of [`Sleep`].
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepArgs {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
}

/// `relais.sleep`: sleeps `ms` milliseconds, reporting progress; stops on cancel (cancelled) or
/// at the soft limit (a retryable error). For tests and demonstrations.
#[derive(Debug, Clone, Copy, Default)]
pub struct SleepTask;

impl Task for SleepTask {
    const KIND: &'static str = "relais.sleep";
    type Args = SleepArgs;

    async fn run(&self, ctx: TaskContext, args: SleepArgs) -> Result<Value, TaskError> {
        let steps = 10u64;
        let start = ctx.started_at();
        let mut slept = Duration::ZERO;
        for i in 1..=steps {
            // Absolute deadlines: the total is `ms` however long progress reporting takes.
            let until = Duration::from_millis(args.ms * i / steps);
            let deadline =
                start + chrono::Duration::from_std(until).unwrap_or(chrono::Duration::MAX);
            tokio::select! {
                () = ctx.sleep_until(deadline) => {}
                () = ctx.cancelled() => return Err(TaskError::Cancelled),
                () = ctx.soft_limit() => {
                    return Err(TaskError::retry(format!("stopped at the soft time limit after {} ms", slept.as_millis())));
                }
            }
            slept = until;
            ctx.progress(
                i as f64 * 100.0 / steps as f64,
                format!("slept {} of {} ms", slept.as_millis(), args.ms),
            )
            .await;
        }
        Ok(serde_json::json!({ "slept_ms": args.ms }))
    }
}
