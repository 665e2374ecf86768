//! Building the summary tables as tasks of the engine (kind `elections.build`, on the `imports`
//! queue, one at a time across every process): the full build recomputes every SIRET, the
//! incremental build the SIRETs imports marked. [`Elections`] is what HTTP and the command line
//! call: it requests a build (returning the one queued or running, if any) and reports the
//! state. [`WithBuild`] makes an import type enqueue an incremental build when an import
//! finishes, in its finishing transaction.
//!
//! Builds never run at start-up and never inside a request: a request only enqueues one.

mod run;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use relais_platform::cache::Cache;
use relais_platform::imports::{
    Column, ImportContext, ImportCounts, ImportType, Issues, Row, TypeLimits, WriteMode, Written,
};
use relais_platform::store::{DbTx, Store, StoreError};
use relais_platform::tasks::{
    Engine, EngineError, Enqueue, ExecOptions, Task, TaskContext, TaskError, TaskFilter,
    TaskOptions, TaskRecord, TaskState,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::domain::{CycleTable, SummaryConfig};
use crate::store;

/// The task kind of builds.
pub const BUILD_KIND: &str = "elections.build";
/// The queue builds run on: every process that runs imports (whose follow-up builds it
/// enqueues) has it.
pub const BUILD_QUEUE: &str = relais_platform::imports::QUEUE;

/// Arguments of `elections.build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildArgs {
    /// Recompute every SIRET (otherwise only the marked ones and the summaries due again).
    #[serde(default)]
    pub full: bool,
}

/// How builds compute and write.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The configured cycles.
    pub cycles: CycleTable,
    /// The summary's settings.
    pub summary: SummaryConfig,
    /// SIRETs per write transaction (default 1,000).
    pub batch: usize,
    /// PV rows (and invitations) per page read (default 5,000).
    pub page_rows: usize,
    /// A test hook: builds wait for one of its permits at every batch.
    pub gate: Option<BuildGate>,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            cycles: CycleTable::standard(),
            summary: SummaryConfig::default(),
            batch: 1_000,
            page_rows: 2_000,
            gate: None,
        }
    }
}

/// A test hook ([`BuildSettings::gate`]): a build waits for a permit at every batch, before
/// writing it and checking for a cancel, so a test can hold a build running, cancel it, or let
/// it go on batch by batch.
#[derive(Debug, Clone)]
pub struct BuildGate {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl BuildGate {
    /// A gate without permits.
    pub fn closed() -> Self {
        BuildGate {
            permits: Arc::new(Semaphore::new(0)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Lets `n` more batches through.
    pub fn open(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// Builds waiting at the gate now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Waits for a permit (or a cancel, which the build then sees).
    pub(crate) async fn pass(&self, ctx: &TaskContext) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            permit = self.permits.acquire() => {
                if let Ok(p) = permit {
                    p.forget();
                }
            }
            () = ctx.cancelled() => {}
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `elections.build`: a full or incremental build.
pub struct BuildTask {
    store: Arc<dyn Store>,
    settings: BuildSettings,
    cache: Option<Cache>,
}

impl BuildTask {
    /// The task over the app's tables in `store`.
    pub fn new(store: Arc<dyn Store>, settings: BuildSettings) -> Self {
        BuildTask {
            store,
            settings,
            cache: None,
        }
    }

    /// Drops the cached elections reads of `cache` after every build attempt (whatever its
    /// outcome: a failed or stopped build may have written some batches).
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }
}

/// Drops the cached reads when the build attempt ends, also when it is stopped (its future
/// dropped at a hard limit): then in a task of its own.
struct InvalidateReads(Option<Cache>);

impl InvalidateReads {
    async fn now(mut self) {
        if let Some(cache) = self.0.take() {
            crate::http::invalidate(&cache).await;
        }
    }
}

impl Drop for InvalidateReads {
    fn drop(&mut self) {
        if let Some(cache) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { crate::http::invalidate(&cache).await });
        }
    }
}

impl Task for BuildTask {
    const KIND: &'static str = BUILD_KIND;
    type Args = BuildArgs;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            queue: BUILD_QUEUE.into(),
            max_attempts: 3,
            concurrency: Some(1),
            exec: ExecOptions::default(),
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, args: BuildArgs) -> Result<Value, TaskError> {
        let invalidate = InvalidateReads(self.cache.clone());
        let outcome = if args.full {
            run::full(&ctx, &self.store, &self.settings).await
        } else {
            run::incremental(&ctx, &self.store, &self.settings).await
        };
        invalidate.now().await;
        outcome
    }
}

/// The request of a build.
pub fn build_request(full: bool, by: Option<String>) -> Enqueue {
    Enqueue {
        created_by: by,
        ..Enqueue::new(BUILD_KIND, json!(BuildArgs { full }))
    }
}

/// What a build request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// No build was waiting: this one was enqueued.
    Enqueued,
    /// A build was already waiting to run: it is returned.
    Queued,
    /// A build is running: it is returned.
    Running,
}

/// A requested build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRequest {
    /// Its task.
    pub task: TaskRecord,
    /// Whether it was enqueued now or already queued or running.
    pub outcome: RequestOutcome,
}

/// The state of the summary and its builds.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildStatus {
    /// The build running now, if any.
    pub running: Option<TaskRecord>,
    /// The latest build task (queued, running or finished).
    pub latest: Option<TaskRecord>,
    /// SIRETs marked and waiting for a build.
    pub dirty: u64,
    /// SIRETs with a summary.
    pub summaries: u64,
    /// When the latest build completed.
    pub built_at: Option<DateTime<Utc>>,
    /// When the latest full build completed.
    pub full_built_at: Option<DateTime<Utc>>,
}

/// Why a request about builds failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The engine refused.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The app's builds, for HTTP and the command line; cheap to clone.
#[derive(Clone)]
pub struct Elections {
    store: Arc<dyn Store>,
    engine: Engine,
}

const ACTIVE: [TaskState; 4] = [
    TaskState::Running,
    TaskState::Available,
    TaskState::Scheduled,
    TaskState::Retryable,
];

impl Elections {
    /// Builds on `engine` (where [`BuildTask`] is registered) over the tables in `store`.
    pub fn new(store: Arc<dyn Store>, engine: Engine) -> Self {
        Elections { store, engine }
    }

    /// The engine running the builds.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Requests a build. A requested build of the same kind that is queued or running is
    /// returned instead of a new one (one key per kind: a full request while an incremental
    /// build runs is enqueued after it); an incremental request also returns a queued or
    /// running full build, which covers it.
    pub async fn request_build(
        &self,
        full: bool,
        by: Option<String>,
    ) -> Result<BuildRequest, BuildError> {
        if !full && let Some(task) = self.active(true).await? {
            return Ok(found(task));
        }
        let key = if full {
            "elections.build:full"
        } else {
            "elections.build:incremental"
        };
        let request = Enqueue {
            unique_key: Some(key.into()),
            ..build_request(full, by)
        };
        let (task, created) = self.engine.enqueue(request).await?;
        Ok(if created {
            BuildRequest {
                task,
                outcome: RequestOutcome::Enqueued,
            }
        } else {
            found(task)
        })
    }

    /// A queued or running build of this kind (`full` or not), the running one first.
    async fn active(&self, full: bool) -> Result<Option<TaskRecord>, EngineError> {
        let mut tasks = self
            .engine
            .list(&TaskFilter {
                kind: Some(BUILD_KIND.into()),
                states: ACTIVE.to_vec(),
                limit: 1000,
                ..TaskFilter::default()
            })
            .await?;
        tasks.retain(|t| t.args.get("full").and_then(Value::as_bool).unwrap_or(false) == full);
        tasks.sort_by_key(|t| t.state != TaskState::Running);
        Ok(tasks.into_iter().next())
    }

    /// The latest build, the running one, the marks waiting and when the summary was built.
    pub async fn status(&self) -> Result<BuildStatus, BuildError> {
        let filter = |states: Vec<TaskState>| TaskFilter {
            kind: Some(BUILD_KIND.into()),
            states,
            limit: 1,
            ..TaskFilter::default()
        };
        let latest = self.engine.list(&filter(Vec::new())).await?.pop();
        let running = self
            .engine
            .list(&filter(vec![TaskState::Running]))
            .await?
            .pop();
        let db = self.store.db();
        let state = store::summary_state(db).await?;
        Ok(BuildStatus {
            running,
            latest,
            dirty: store::dirty_count(db, None).await?,
            summaries: store::summary_count(db).await?,
            built_at: state.built_at,
            full_built_at: state.full_built_at,
        })
    }
}

fn found(task: TaskRecord) -> BuildRequest {
    let outcome = if task.state == TaskState::Running {
        RequestOutcome::Running
    } else {
        RequestOutcome::Queued
    };
    BuildRequest { task, outcome }
}

/// An import type whose imports, when they change stored rows, enqueue an incremental build in
/// their finishing transaction. The build is a plain request (no unique key: one running
/// would not take this import's marks if it started before them); builds run one at a time and
/// one that finds nothing marked ends at once.
#[derive(Debug, Clone)]
pub struct WithBuild<T>(pub T);

impl<T: ImportType> ImportType for WithBuild<T> {
    const NAME: &'static str = T::NAME;
    type Record = T::Record;

    fn description(&self) -> &'static str {
        self.0.description()
    }

    fn columns(&self) -> &'static [Column] {
        self.0.columns()
    }

    fn modes(&self) -> &'static [WriteMode] {
        self.0.modes()
    }

    fn limits(&self) -> TypeLimits {
        self.0.limits()
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<T::Record> {
        self.0.parse(row, ctx, issues)
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<T::Record>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        self.0.upsert(tx, records, ctx).await
    }

    async fn finish(
        &self,
        tx: &mut DbTx,
        ctx: &ImportContext,
        counts: &ImportCounts,
    ) -> Result<Written, StoreError> {
        self.0.finish(tx, ctx, counts).await
    }

    fn follow_up(&self, ctx: &ImportContext, counts: &ImportCounts) -> Vec<Enqueue> {
        let mut tasks = self.0.follow_up(ctx, counts);
        if counts.inserted + counts.updated + counts.deleted > 0 {
            tasks.push(build_request(
                false,
                Some(format!("import:{}", ctx.import_id)),
            ));
        }
        tasks
    }
}
