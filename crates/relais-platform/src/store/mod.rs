//! Storage: one seam, two backends.
//!
//! The rest of relais talks to storage through role traits ([`SchemaStore`], [`HealthStore`],
//! [`MetaStore`], and those later components add) combined in [`Store`]. [`sqlite`] and
//! [`postgres`] implement every role; [`open`] picks one from the configuration. SQL text and
//! driver types stay inside these modules (and inside app storage modules, which reach the pools
//! through [`Store::db`]). The conformance suite in `tests/store_conformance/` runs the same
//! tests against both backends.

mod audit;
mod checkpoint;
pub(crate) mod import_sample;
mod imports;
mod migrate;
pub mod pg_copy;
mod postgres;
mod sqlite;
mod task_ops;
mod tasks;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use crate::config::DatabaseConfig;
use crate::tasks::{
    AttemptDuration, AttemptError, CancelOutcome, FinishedCounts, KindLimit, LimitedClaim, NewTask,
    Outcome, Progress, QueueDepth, QueueState, Rescued, TaskFilter, TaskRecord, TaskState,
    TickOutcome, WorkerInfo,
};
pub use migrate::{ComponentStatus, Migration, MigrationReport, MigrationSet, SchemaStatus};
pub use sqlite::with_sqlite_handle;
use uuid::Uuid;

/// The platform's own schema, migrated before any app's.
pub const PLATFORM_MIGRATIONS: MigrationSet = MigrationSet {
    component: "platform",
    migrations: &[
        crate::migration!(1, "meta", "0001_meta"),
        crate::migration!(2, "tasks", "0002_tasks"),
        crate::migration!(3, "task_operations", "0003_task_operations"),
        crate::migration!(4, "tokens", "0004_tokens"),
        crate::migration!(5, "task_indexes", "0005_task_indexes"),
        crate::migration!(6, "imports", "0006_imports"),
        crate::migration!(7, "audit", "0007_audit"),
    ],
};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Lower-case name, as used in metrics and health reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Connection pools, for storage modules (the platform's and the apps') only.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite: one writer connection (writes serialise without `SQLITE_BUSY`) and read-only readers.
    Sqlite {
        /// Single-connection pool for every write transaction.
        write: SqlitePool,
        /// Read-only connections; WAL lets them read while the writer writes.
        read: SqlitePool,
    },
    /// PostgreSQL pool.
    Postgres(PgPool),
}

/// A write transaction on either backend, for app storage modules that must change their own
/// tables and enqueue tasks atomically ([`crate::tasks::Engine::begin`]). Dropped without
/// [`DbTx::commit`], it rolls back.
#[derive(Debug)]
pub enum DbTx {
    /// On SQLite: the single writer connection, under `BEGIN IMMEDIATE`.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl DbTx {
    /// The backend the transaction runs on.
    pub fn backend(&self) -> Backend {
        match self {
            DbTx::Sqlite(_) => Backend::Sqlite,
            DbTx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            DbTx::Sqlite(tx) => tx.commit().await?,
            DbTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Rolls back (what dropping it does, but awaited).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            DbTx::Sqlite(tx) => tx.rollback().await?,
            DbTx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        /// Backend name.
        backend: &'static str,
        /// Driver error.
        source: sqlx::Error,
    },
    /// The data directory could not be prepared.
    #[error("cannot create the database directory {path}: {source}")]
    Io {
        /// The directory.
        path: std::path::PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A statement run through [`with_sqlite_handle`] failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was migrated by a newer relais.
    #[error(
        "the database schema of `{component}` is at version {database} but this relais knows only up \
         to version {binary}: it was migrated by a newer relais; run that version (or newer) instead"
    )]
    SchemaTooNew {
        /// Component whose schema is ahead.
        component: String,
        /// Version in the database.
        database: u32,
        /// Highest version this binary knows.
        binary: u32,
    },
    /// The database holds the schema of a component this binary does not have.
    #[error(
        "the database holds schema `{component}` (version {database}) which this relais does not \
         know: it was migrated by a newer relais; run that version (or newer) instead"
    )]
    UnknownComponent {
        /// The unknown component.
        component: String,
        /// Its version in the database.
        database: u32,
    },
    /// An applied migration differs from the binary's.
    #[error(
        "migration {component}/{version} ({name}) applied to the database differs from the one in \
         this relais (checksum mismatch): the migration files were edited after release"
    )]
    ChecksumMismatch {
        /// Component.
        component: String,
        /// Version.
        version: u32,
        /// Migration name.
        name: String,
    },
    /// A migration set is malformed (a programming error caught at start).
    #[error("invalid migration set `{component}`: {reason}")]
    InvalidMigrationSet {
        /// Component.
        component: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The change conflicts with the current state (e.g. a unique key in use).
    #[error("{0}")]
    Conflict(String),
    /// An operation took too long.
    #[error("database did not answer within {0:?}")]
    Timeout(Duration),
}

/// Occupancy of one connection pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PoolStats {
    /// Pool name (`main`, or `write`/`read` on SQLite).
    pub name: &'static str,
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Configured maximum.
    pub max: u32,
}

/// The identity of a database shared by relais processes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    /// Created once, on first migration.
    pub id: String,
    /// When the database was first migrated.
    pub created_at: DateTime<Utc>,
}

/// Applies and inspects versioned migrations.
#[async_trait]
pub trait SchemaStore: Send + Sync {
    /// Applies every pending migration of `sets` atomically, under a lock shared by all
    /// processes; refuses a database that is newer than `sets` or whose applied migrations differ.
    async fn migrate(&self, sets: &[MigrationSet]) -> Result<MigrationReport, StoreError>;

    /// Compares the database with `sets` without changing anything.
    async fn schema_status(&self, sets: &[MigrationSet]) -> Result<SchemaStatus, StoreError>;
}

/// Liveness and pool occupancy.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Runs a trivial query; errors if the database does not answer within `timeout`.
    async fn ping(&self, timeout: Duration) -> Result<(), StoreError>;

    /// Occupancy of every pool.
    fn pool_stats(&self) -> Vec<PoolStats>;

    /// Waits for connections in use to be returned, then closes every pool (on SQLite, the last
    /// close checkpoints the WAL into the database file).
    async fn close(&self);
}

/// Deployment-wide facts stored in the database.
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// The deployment identity, created on first call and shared by every process.
    async fn deployment(&self) -> Result<Deployment, StoreError>;
}

/// Durable tasks. Every write that ends an attempt is fenced by `(id, attempt, worker)`: a
/// worker whose task was rescued and claimed again cannot overwrite the new attempt.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Inserts tasks in one transaction. A task whose unique key belongs to a task still queued
    /// or running is not inserted; that task is returned instead, with `false`.
    async fn insert_tasks(&self, tasks: &[NewTask]) -> Result<Vec<(TaskRecord, bool)>, StoreError>;

    /// Inserts tasks inside the caller's transaction `tx` (they exist if and only if it commits).
    async fn insert_tasks_in(
        &self,
        tx: &mut DbTx,
        tasks: &[NewTask],
    ) -> Result<Vec<(TaskRecord, bool)>, StoreError>;

    /// Atomically claims up to `limit` due tasks of `queue` (priority, then scheduled time) for
    /// `worker`, starting their next attempt.
    async fn claim_tasks(
        &self,
        queue: &str,
        worker: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskRecord>, StoreError>;

    /// Records a heartbeat for every task `worker` runs; returns `(id, cancel_requested)` for each.
    /// A task missing from the answer is no longer this worker's (it was rescued).
    async fn heartbeat_tasks(
        &self,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, bool)>, StoreError>;

    /// Stores progress of a running attempt; false if the attempt is no longer this worker's.
    async fn set_progress(
        &self,
        id: Uuid,
        attempt: i32,
        worker: &str,
        progress: &Progress,
    ) -> Result<bool, StoreError>;

    /// Ends several attempts of `worker` in one transaction. For each `(id, attempt, outcome)`,
    /// the task's new state, or `None` when the attempt was no longer this worker's (the
    /// outcome is then ignored).
    async fn finish_tasks(
        &self,
        worker: &str,
        items: &[(Uuid, i32, Outcome)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<TaskState>>, StoreError>;

    /// Ends one attempt (see [`TaskStore::finish_tasks`]) and returns the updated task.
    async fn finish_task(
        &self,
        id: Uuid,
        attempt: i32,
        worker: &str,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let mut done = self
            .finish_tasks(worker, &[(id, attempt, outcome.clone())], now)
            .await?;
        match done.pop().flatten() {
            Some(_) => self.get_task(id).await,
            None => Ok(None),
        }
    }

    /// Gives a running attempt back to the queue without counting it (shutdown before it ended).
    async fn release_task(
        &self,
        id: Uuid,
        attempt: i32,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Cancels a queued task at once, or flags a running one for its worker.
    async fn cancel_task(&self, id: Uuid, now: DateTime<Utc>) -> Result<CancelOutcome, StoreError>;

    /// Returns running tasks whose heartbeat is older than `stale_before` to `retryable` (due
    /// now), or `discarded` when out of attempts, or `cancelled` when a cancel was requested;
    /// records the lost attempt's error.
    async fn rescue_tasks(
        &self,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Rescued>, StoreError>;

    /// Puts a `failed`, `discarded` or `cancelled` task back in the queue (one more attempt
    /// allowed if it had used them all). `None` if there is no such task in those states.
    async fn retry_task(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<TaskRecord>, StoreError>;

    /// One task.
    async fn get_task(&self, id: Uuid) -> Result<Option<TaskRecord>, StoreError>;

    /// The errors of every failed attempt of a task, oldest first.
    async fn task_errors(&self, id: Uuid) -> Result<Vec<AttemptError>, StoreError>;

    /// Tasks matching `filter`, newest first (ids are UUIDv7, so id order is creation order).
    async fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, StoreError>;

    /// How many tasks there are, by kind and state.
    async fn task_counts(&self) -> Result<Vec<(String, TaskState, i64)>, StoreError>;
}

/// Operating the task engine: limited claims, queue pause, workers, schedules, statistics and
/// retention.
#[async_trait]
pub trait TaskOpsStore: Send + Sync {
    /// Like [`TaskStore::claim_tasks`], but starts at most as many tasks of each limited kind as
    /// its rate (a token bucket shared by all processes) and concurrency limit (tasks of the kind
    /// running anywhere) allow; the limited kinds' rows are locked meanwhile.
    async fn claim_limited(
        &self,
        queue: &str,
        worker: &str,
        limit: u32,
        now: DateTime<Utc>,
        limits: &[KindLimit],
    ) -> Result<LimitedClaim, StoreError>;

    /// Pauses or resumes a queue for every process.
    async fn set_queue_paused(
        &self,
        queue: &str,
        paused: bool,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<QueueState, StoreError>;

    /// Queues that were ever paused or resumed.
    async fn queue_states(&self) -> Result<Vec<QueueState>, StoreError>;

    /// Unfinished tasks per queue, and the oldest due task's scheduled time.
    async fn queue_depths(&self, now: DateTime<Utc>) -> Result<Vec<QueueDepth>, StoreError>;

    /// Tasks finished over the last 1, 5 and 15 minutes, by kind and state.
    async fn finished_counts(&self, now: DateTime<Utc>) -> Result<Vec<FinishedCounts>, StoreError>;

    /// Durations of succeeded attempts finished since `since`, newest first, at most `limit`.
    async fn recent_durations(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AttemptDuration>, StoreError>;

    /// Registers a worker process or refreshes its heartbeat.
    async fn upsert_worker(&self, worker: &WorkerInfo) -> Result<(), StoreError>;

    /// Unregisters a worker process (at shutdown).
    async fn remove_worker(&self, id: &str) -> Result<(), StoreError>;

    /// Registered worker processes, oldest first.
    async fn list_workers(&self) -> Result<Vec<WorkerInfo>, StoreError>;

    /// Forgets workers silent since before `silent_since`; returns how many.
    async fn prune_workers(&self, silent_since: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Registers a schedule whose ticks up to `tick` count as done, unless it exists; returns
    /// its last enqueued tick.
    async fn init_schedule(
        &self,
        name: &str,
        cron: &str,
        tick: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError>;

    /// Enqueues `task` for the schedule's `tick` unless that tick (or a later one) was already
    /// enqueued; advancing the tick and inserting the task are one transaction.
    async fn enqueue_tick(
        &self,
        name: &str,
        cron: &str,
        tick: DateTime<Utc>,
        task: &NewTask,
    ) -> Result<TickOutcome, StoreError>;

    /// Deletes up to `batch` tasks in `state` finished before `finished_before` (with their
    /// errors); returns how many.
    async fn delete_finished(
        &self,
        state: TaskState,
        finished_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, StoreError>;
}

/// API tokens (only hashes of their secrets).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a token; false when the name is taken.
    async fn insert_token(
        &self,
        token: &crate::tokens::TokenInfo,
        hash: &str,
    ) -> Result<bool, StoreError>;

    /// Stores a token only if there is no token at all (bootstrap); true when stored.
    async fn insert_first_token(
        &self,
        token: &crate::tokens::TokenInfo,
        hash: &str,
    ) -> Result<bool, StoreError>;

    /// Every token, oldest first.
    async fn list_tokens(&self) -> Result<Vec<crate::tokens::TokenInfo>, StoreError>;

    /// Revokes the token with this id or name (kept for the record); `None` if none.
    async fn revoke_token(
        &self,
        id_or_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::tokens::TokenInfo>, StoreError>;

    /// The token whose secret hashes to `hash`.
    async fn token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<crate::tokens::TokenInfo>, StoreError>;

    /// Records a use.
    async fn touch_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Imports: records, their row issues, batch commits fenced by the resume offset, statistics
/// and retention.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Inserts an import (status `pending`) in the transaction that enqueues its task.
    async fn insert_import_in(
        &self,
        tx: &mut DbTx,
        import: &crate::imports::NewImport,
    ) -> Result<(), StoreError>;

    /// One import, with the status its task implies when the task ended without finishing it.
    async fn get_import(
        &self,
        id: Uuid,
    ) -> Result<Option<crate::imports::ImportRecord>, StoreError>;

    /// Imports matching `filter`, newest first.
    async fn list_imports(
        &self,
        filter: &crate::imports::ImportFilter,
    ) -> Result<Vec<crate::imports::ImportRecord>, StoreError>;

    /// The newest succeeded (not dry-run) import of `type_name` with this content, mode, scope
    /// and sheet.
    async fn find_import(
        &self,
        type_name: &str,
        sha256: &str,
        mode: &str,
        scope: Option<&str>,
        sheet: Option<&str>,
    ) -> Result<Option<crate::imports::ImportRecord>, StoreError>;

    /// Starts an attempt: `running`, one more attempt, first start time kept. `None` when the
    /// import is finished (or missing).
    async fn start_import(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::imports::ImportRecord>, StoreError>;

    /// Records how the header was matched.
    async fn set_import_columns(
        &self,
        id: Uuid,
        columns: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Back to `pending` after a failed attempt that will be retried, with why.
    async fn note_import_retry(&self, id: Uuid, message: &str) -> Result<(), StoreError>;

    /// In the batch's transaction: adds its counts and issues and moves the resume offset, only
    /// if the offset is still the one the batch started from (false otherwise: nothing written).
    async fn commit_import_batch(
        &self,
        tx: &mut DbTx,
        id: Uuid,
        commit: &crate::imports::BatchCommit,
    ) -> Result<bool, StoreError>;

    /// Like [`ImportStore::commit_import_batch`], and sets the final status.
    async fn finish_import(
        &self,
        tx: &mut DbTx,
        id: Uuid,
        status: crate::imports::ImportStatus,
        error: Option<&str>,
        commit: &crate::imports::BatchCommit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Ends a pending or running import outside a batch (failed or cancelled); false if it was
    /// already finished.
    async fn end_import(
        &self,
        id: Uuid,
        status: crate::imports::ImportStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Puts a failed or cancelled import back to `pending` with a new task, in the transaction
    /// enqueueing it, and answers the record as that transaction sees it (`None` when the import
    /// had meanwhile succeeded).
    async fn requeue_import_in(
        &self,
        tx: &mut DbTx,
        id: Uuid,
        task_id: Uuid,
    ) -> Result<Option<crate::imports::ImportRecord>, StoreError>;

    /// Issues of an import in storage order, after `after_seq`.
    async fn import_issues(
        &self,
        id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<crate::imports::ImportIssue>, StoreError>;

    /// Imports and rows by type and status.
    async fn import_stats(&self) -> Result<Vec<crate::imports::ImportStatusCount>, StoreError>;

    /// Writes down the status of unfinished imports whose task is over or gone; returns how many.
    async fn reconcile_imports(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Finished imports created before `created_before` whose file is still kept.
    async fn imports_with_files(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Uuid, crate::imports::FileFormat)>, StoreError>;

    /// Records that the files of `ids` were deleted.
    async fn mark_files_deleted(&self, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Deletes up to `limit` finished imports created before `created_before` (with their
    /// issues); returns them.
    async fn delete_imports(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Uuid, crate::imports::FileFormat)>, StoreError>;

    /// Which of `ids` have a record.
    async fn existing_imports(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError>;
}

/// The audit trail: an append-only, hash-chained log (see [`crate::audit`]). Appends and
/// pruning hold the chain head for their transaction, so every process extends one chain.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `records` in one transaction after the chain head, linking each to the previous
    /// hash; returns each record's `(seq, hash)`, in order. Once the head is locked, `top_up` is
    /// called once to add the records that arrived while the lock was awaited (group commit:
    /// they share this transaction instead of waiting for the next).
    async fn append_audit(
        &self,
        records: &mut Vec<crate::audit::AuditRecord>,
        top_up: &mut (dyn for<'r> FnMut(&'r mut Vec<crate::audit::AuditRecord>) + Send),
    ) -> Result<Vec<(i64, String)>, StoreError>;

    /// The chain head and anchor.
    async fn audit_chain(&self) -> Result<crate::audit::ChainState, StoreError>;

    /// Up to `limit` entries with `after_seq < seq <= through_seq`, in sequence order.
    async fn audit_entries(
        &self,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError>;

    /// Entries matching `filter`, newest (highest sequence number) first.
    async fn list_audit(
        &self,
        filter: &crate::audit::AuditFilter,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError>;

    /// Counts of the entries written at or after `since`.
    async fn audit_counts(
        &self,
        since: DateTime<Utc>,
    ) -> Result<crate::audit::AuditCounts, StoreError>;

    /// Deletes up to `batch` of the oldest entries, in sequence order, stopping at the first one
    /// written at or after `before`; the last deleted entry becomes the anchor. `None` when
    /// there was nothing to delete.
    async fn prune_audit(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<Option<crate::audit::PruneOutcome>, StoreError>;
}

/// Signals between processes sharing the database: PostgreSQL `NOTIFY` on a channel per
/// deployment (schema). Delivery is best effort (a process that is reconnecting misses some);
/// every use has a polling fallback.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Whether this backend carries signals.
    fn signals(&self) -> bool;

    /// Sends each payload (at most 8,000 bytes) to every listening process, this one included.
    async fn send_signals(&self, payloads: &[String]) -> Result<(), StoreError>;

    /// Starts listening: once this returns, every signal sent after is received, until the
    /// receiver is dropped. `None` on a backend without signals.
    async fn listen_signals(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError>;
}

/// Every storage role, as one object.
#[async_trait]
pub trait Store:
    SchemaStore
    + HealthStore
    + MetaStore
    + TaskStore
    + TaskOpsStore
    + SignalStore
    + TokenStore
    + ImportStore
    + AuditStore
{
    /// The backend in use.
    fn backend(&self) -> Backend;

    /// The pools, for storage modules that add their own roles.
    fn db(&self) -> &Db;

    /// Starts a write transaction.
    async fn begin(&self) -> Result<DbTx, StoreError>;
}

/// Opens the configured database (creating the SQLite file and its directory when needed).
/// Does not migrate.
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    match config {
        DatabaseConfig::Sqlite {
            path,
            readers,
            busy_timeout,
        } => Ok(Arc::new(
            sqlite::SqliteStore::open(path, *readers, *busy_timeout).await?,
        )),
        DatabaseConfig::Postgres {
            url,
            max_connections,
            connect_timeout,
        } => Ok(Arc::new(
            postgres::PgStore::open(url, *max_connections, *connect_timeout).await?,
        )),
    }
}

/// A new, empty PostgreSQL schema for a benchmark run, dropped by [`ScratchSchema::drop_now`]:
/// every run starts from empty tables, as on a fresh SQLite file.
pub struct ScratchSchema {
    admin_url: String,
    name: String,
    /// The database URL with the schema as its search path.
    pub url: String,
}

impl ScratchSchema {
    /// Creates `relais_bench_<uuid>` on the server of `url`.
    pub async fn create(url: &str) -> Result<Self, StoreError> {
        let name = format!("relais_bench_{}", uuid::Uuid::now_v7().simple());
        postgres::execute_once(url, &format!("CREATE SCHEMA {name}")).await?;
        let sep = if url.contains('?') { '&' } else { '?' };
        Ok(Self {
            admin_url: url.to_owned(),
            url: format!("{url}{sep}options[search_path]={name}"),
            name,
        })
    }

    /// Drops the schema and everything in it.
    pub async fn drop_now(self) -> Result<(), StoreError> {
        postgres::execute_once(
            &self.admin_url,
            &format!("DROP SCHEMA {} CASCADE", self.name),
        )
        .await
    }
}

fn deployment_from_rows(rows: Vec<(String, String)>) -> Result<Deployment, StoreError> {
    let get = |key: &str| rows.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let corrupt =
        |what: &str| StoreError::Database(sqlx::Error::Protocol(format!("relais_meta: {what}")));
    let id = get("deployment_id").ok_or_else(|| corrupt("deployment_id missing"))?;
    let created_at = get("created_at")
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
        .ok_or_else(|| corrupt("created_at missing or not RFC 3339"))?
        .with_timezone(&Utc);
    Ok(Deployment { id, created_at })
}
