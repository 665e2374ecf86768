//! [`TaskStore`] on both backends. The SQL text is shared (sqlx accepts `$n` on SQLite; times
//! are integers, ids UUIDs, JSON through `sqlx::types::Json`), except the claim: PostgreSQL
//! locks the picked rows with `FOR UPDATE SKIP LOCKED` so concurrent workers never block on or
//! double-claim a task; SQLite runs it in the single writer's transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{DbTx, Store, StoreError, TaskStore};
use crate::tasks::{
    AttemptError, CancelOutcome, ExecOptions, NewTask, Outcome, Progress, Rescued, TaskFilter,
    TaskRecord, TaskState,
};

const CLAIM_SQLITE: &str = "UPDATE relais_tasks SET state = 'running', attempt = attempt + 1,
        started_at = $2, heartbeat_at = $2, worker = $3, cancel_requested = FALSE,
        progress = 0, progress_message = NULL, progress_details = NULL
    WHERE id IN (SELECT id FROM relais_tasks
        WHERE queue = $1 AND state IN ('available', 'scheduled', 'retryable') AND scheduled_at <= $2
            AND NOT EXISTS (SELECT 1 FROM relais_task_queues q WHERE q.queue = $1 AND q.paused)
        ORDER BY priority DESC, scheduled_at, id LIMIT $4)
    RETURNING *";

const CLAIM_POSTGRES: &str = "WITH picked AS (SELECT id FROM relais_tasks
        WHERE queue = $1 AND state IN ('available', 'scheduled', 'retryable') AND scheduled_at <= $2
            AND NOT EXISTS (SELECT 1 FROM relais_task_queues q WHERE q.queue = $1 AND q.paused)
        ORDER BY priority DESC, scheduled_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
    UPDATE relais_tasks t SET state = 'running', attempt = t.attempt + 1,
        started_at = $2, heartbeat_at = $2, worker = $3, cancel_requested = FALSE,
        progress = 0, progress_message = NULL, progress_details = NULL
    FROM picked WHERE t.id = picked.id
    RETURNING t.*";

pub(super) const INSERT: &str =
    "INSERT INTO relais_tasks (id, kind, queue, args, state, priority, max_attempts,
        scheduled_at, created_at, unique_key, created_by, options)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
        AND state IN ('available', 'scheduled', 'running', 'retryable') DO NOTHING
    RETURNING *";

const ACTIVE_BY_KEY: &str = "SELECT * FROM relais_tasks
    WHERE unique_key = $1 AND state IN ('available', 'scheduled', 'running', 'retryable')";

const CANCELLED: &str = "UPDATE relais_tasks SET state = 'cancelled', finished_at = $4
    WHERE id = $1 AND attempt = $2 AND worker = $3 AND state = 'running' RETURNING state";

/// `$4`: retry time or NULL. Out of attempts → discarded; no retry time → failed.
const FAIL: &str = "UPDATE relais_tasks SET
        state = CASE WHEN $4 IS NULL THEN 'failed' WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
        scheduled_at = CASE WHEN $4 IS NOT NULL AND attempt < max_attempts THEN $4 ELSE scheduled_at END,
        finished_at = CASE WHEN $4 IS NOT NULL AND attempt < max_attempts THEN NULL ELSE $5 END
    WHERE id = $1 AND attempt = $2 AND worker = $3 AND state = 'running' RETURNING state";

/// The heartbeat of one worker's running tasks (SQLite, PostgreSQL). On PostgreSQL the rows are
/// locked in id order first, like the completer's, so the two never deadlock.
const HEARTBEAT: [&str; 2] = [
    "UPDATE relais_tasks SET heartbeat_at = $1 WHERE worker = $2 AND state = 'running'
     RETURNING id, cancel_requested",
    "UPDATE relais_tasks SET heartbeat_at = $1 WHERE id IN (SELECT id FROM relais_tasks
        WHERE worker = $2 AND state = 'running' ORDER BY id FOR UPDATE)
     RETURNING id, cancel_requested",
];

const INSERT_ERROR: &str =
    "INSERT INTO relais_task_errors (task_id, attempt, at, message, timed_out)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (task_id, attempt) DO NOTHING";

/// Rows per multi-row insert (12 parameters a row: well within both backends' limits).
const CHUNK: usize = 128;

/// Rows per statement marking attempts succeeded (3 parameters a row).
const SUCCEED_CHUNK: usize = 128;

const INSERT_COLUMNS: &str =
    "INSERT INTO relais_tasks (id, kind, queue, args, state, priority, max_attempts,
        scheduled_at, created_at, unique_key, created_by, options) VALUES ";

/// Placeholders `first..first + n` in the backend's style. SQLite gets anonymous `?`: sqlx
/// looks every parameter up by name, and SQLite's name lookup is linear in the number of named
/// parameters, which made wide statements quadratic.
pub(super) fn placeholders(postgres: bool, first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            if postgres {
                format!("${i}")
            } else {
                "?".to_owned()
            }
        })
        .collect()
}

/// The sizes a batch of `n` rows is written in: full chunks of `max`, then powers of two. Every
/// distinct row count is a distinct statement for the driver's statement cache; this bounds them
/// to a handful, so batches of varying sizes do not prepare a statement each time.
pub(super) fn batch_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n >= max {
        sizes.push(max);
        n -= max;
    }
    while n > 0 {
        let size = 1 << n.ilog2();
        sizes.push(size);
        n -= size;
    }
    sizes
}

/// The row count a batch of `n ≤ max` rows is padded to (by repeating its last row) so that
/// every batch runs one of a handful of cached statements: the next power of two, at most `max`.
pub(super) fn padded(n: usize, max: usize) -> usize {
    n.next_power_of_two().min(max)
}

/// The text of a statement of a given shape, built once: batches come in a few fixed sizes (see
/// [`batch_sizes`] and [`padded`]), so the cache stays small.
pub(super) fn shaped(
    name: &'static str,
    build: fn(bool, usize) -> String,
    postgres: bool,
    rows: usize,
) -> sqlx::AssertSqlSafe<std::sync::Arc<str>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Shapes = Mutex<HashMap<(&'static str, bool, usize), Arc<str>>>;
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    let key = (name, postgres, rows);
    let mut shapes = SHAPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let text = shapes
        .entry(key)
        .or_insert_with(|| Arc::from(build(postgres, rows)))
        .clone();
    sqlx::AssertSqlSafe(text)
}

/// `SELECT … FOR UPDATE` of `rows` ids in id order (PostgreSQL).
fn lock_ids_sql(postgres: bool, rows: usize) -> String {
    format!(
        "SELECT id FROM relais_tasks WHERE id IN ({}) ORDER BY id FOR UPDATE",
        placeholders(postgres, 1, rows).join(", ")
    )
}

/// `INSERT … VALUES (…), (…)` for `rows` rows of 12 parameters, bound in order.
fn insert_many_sql(postgres: bool, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| format!("({})", placeholders(postgres, 1 + r * 12, 12).join(", ")))
        .collect();
    format!("{INSERT_COLUMNS}{}", values.join(", "))
}

/// Marks `rows` attempts succeeded in one statement. Bound in order: `(id, attempt, result)` per
/// row, then the time, then the worker. Fenced like every attempt write.
fn succeed_many_sql(postgres: bool, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| format!("({})", placeholders(postgres, 1 + r * 3, 3).join(", ")))
        .collect();
    let tail = placeholders(postgres, 1 + rows * 3, 2);
    format!(
        "WITH v(id, attempt, result) AS (VALUES {})
         UPDATE relais_tasks SET state = 'succeeded', result = v.result, finished_at = {}, progress = 100
         FROM v WHERE relais_tasks.id = v.id AND relais_tasks.attempt = v.attempt
           AND relais_tasks.worker = {} AND relais_tasks.state = 'running'",
        values.join(", "),
        tail[0],
        tail[1]
    )
}

/// The record of a task just inserted as `state` (what the row holds, to the microsecond).
fn inserted_record(t: &NewTask, state: TaskState) -> TaskRecord {
    TaskRecord {
        id: t.id,
        kind: t.kind.clone(),
        queue: t.queue.clone(),
        args: t.args.clone(),
        state,
        priority: t.priority,
        attempt: 0,
        max_attempts: t.max_attempts,
        scheduled_at: time(micros(t.scheduled_at)),
        created_at: time(micros(t.created_at)),
        started_at: None,
        finished_at: None,
        heartbeat_at: None,
        worker: None,
        progress: Progress {
            percent: 0.0,
            message: None,
            details: None,
        },
        result: None,
        unique_key: t.unique_key.clone(),
        created_by: t.created_by.clone(),
        cancel_requested: false,
        options: t.options.clone(),
    }
}

/// The listing query for `filter`; parameters are bound in the order the conditions appear.
fn list_sql(filter: &TaskFilter) -> String {
    let mut conditions = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if !filter.states.is_empty() {
        let params: Vec<String> = filter.states.iter().map(|_| next()).collect();
        conditions.push(format!("state IN ({})", params.join(", ")));
    }
    if filter.kind.is_some() {
        conditions.push(format!("kind = {}", next()));
    }
    if filter.queue.is_some() {
        conditions.push(format!("queue = {}", next()));
    }
    if filter.created_from.is_some() {
        conditions.push(format!("created_at >= {}", next()));
    }
    if filter.created_to.is_some() {
        conditions.push(format!("created_at < {}", next()));
    }
    if filter.before.is_some() {
        conditions.push(format!("id < {}", next()));
    }
    let limit = next();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    format!("SELECT * FROM relais_tasks {filter} ORDER BY id DESC LIMIT {limit}")
}

pub(super) fn initial_state(t: &NewTask) -> TaskState {
    if t.scheduled_at > t.created_at {
        TaskState::Scheduled
    } else {
        TaskState::Available
    }
}

const CANCEL_QUEUED: &str = "UPDATE relais_tasks SET state = 'cancelled', finished_at = $2
    WHERE id = $1 AND state IN ('available', 'scheduled', 'retryable') RETURNING *";

const CANCEL_RUNNING: &str = "UPDATE relais_tasks SET cancel_requested = TRUE
    WHERE id = $1 AND state = 'running' RETURNING *";

const RESCUE: &str = "UPDATE relais_tasks SET
        state = CASE WHEN cancel_requested THEN 'cancelled' WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
        scheduled_at = $2,
        finished_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN $2 ELSE NULL END
    WHERE state = 'running' AND heartbeat_at < $1
    RETURNING id, attempt, state, worker";

const RETRY: &str =
    "UPDATE relais_tasks SET state = 'available', scheduled_at = $2, finished_at = NULL,
        result = NULL, cancel_requested = FALSE,
        max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
    WHERE id = $1 AND state IN ('failed', 'discarded', 'cancelled') RETURNING *";

#[derive(sqlx::FromRow)]
pub(super) struct TaskRow {
    id: Uuid,
    kind: String,
    queue: String,
    args: Json<Value>,
    state: String,
    priority: i32,
    attempt: i32,
    max_attempts: i32,
    scheduled_at: i64,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    heartbeat_at: Option<i64>,
    worker: Option<String>,
    progress: f64,
    progress_message: Option<String>,
    progress_details: Option<Json<Value>>,
    result: Option<Json<Value>>,
    unique_key: Option<String>,
    created_by: Option<String>,
    cancel_requested: bool,
    options: Json<ExecOptions>,
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn time(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(m).unwrap_or_default()
}

pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(what))
}

impl TryFrom<TaskRow> for TaskRecord {
    type Error = StoreError;

    fn try_from(r: TaskRow) -> Result<Self, StoreError> {
        Ok(TaskRecord {
            id: r.id,
            kind: r.kind,
            queue: r.queue,
            args: r.args.0,
            state: r.state.parse().map_err(corrupt)?,
            priority: r.priority,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            scheduled_at: time(r.scheduled_at),
            created_at: time(r.created_at),
            started_at: r.started_at.map(time),
            finished_at: r.finished_at.map(time),
            heartbeat_at: r.heartbeat_at.map(time),
            worker: r.worker,
            progress: Progress {
                percent: r.progress,
                message: r.progress_message,
                details: r.progress_details.map(|d| d.0),
            },
            result: r.result.map(|v| v.0),
            unique_key: r.unique_key,
            created_by: r.created_by,
            cancel_requested: r.cancel_requested,
            options: r.options.0,
        })
    }
}

fn records(rows: Vec<TaskRow>) -> Result<Vec<TaskRecord>, StoreError> {
    rows.into_iter().map(TaskRecord::try_from).collect()
}

fn conflict_or(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(
            "a task with the same unique key is already queued or running".into(),
        ),
        _ => StoreError::Database(e),
    }
}

/// Binds the 12 insert parameters of a [`NewTask`], in [`INSERT_COLUMNS`] order.
macro_rules! bind_new_task {
    ($query:expr, $t:expr) => {{
        let t: &NewTask = $t;
        $query
            .bind(t.id)
            .bind(&t.kind)
            .bind(&t.queue)
            .bind(Json(&t.args))
            .bind(super::tasks::initial_state(t).as_str())
            .bind(t.priority)
            .bind(t.max_attempts)
            .bind(super::tasks::micros(t.scheduled_at))
            .bind(super::tasks::micros(t.created_at))
            .bind(&t.unique_key)
            .bind(&t.created_by)
            .bind(Json(&t.options))
    }};
}
pub(super) use bind_new_task;

/// Inserts `$tasks` on the connection `$conn` (inside a transaction); evaluates to each task's
/// record and whether it was created.
macro_rules! insert_in {
    ($conn:expr, $tasks:expr, $postgres:expr) => {{
        let tasks: &[NewTask] = $tasks;
        let mut out: Vec<Option<(TaskRecord, bool)>> = vec![None; tasks.len()];
        // Tasks without a unique key cannot conflict (UUIDv7 ids): multi-row inserts.
        let plain: Vec<usize> = (0..tasks.len())
            .filter(|&i| tasks[i].unique_key.is_none())
            .collect();
        let mut rest: &[usize] = &plain;
        for size in batch_sizes(plain.len(), CHUNK) {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let mut query = sqlx::query(shaped("insert", insert_many_sql, $postgres, chunk.len()));
            for &i in chunk {
                let t = &tasks[i];
                query = bind_new_task!(query, t);
            }
            query.execute($conn).await?;
            for &i in chunk {
                out[i] = Some((inserted_record(&tasks[i], initial_state(&tasks[i])), true));
            }
        }
        // Keyed tasks one by one: a key held by an active task returns that task.
        for (i, t) in tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.unique_key.is_some())
        {
            let inserted: Option<TaskRow> = bind_new_task!(sqlx::query_as(INSERT), t)
                .fetch_optional($conn)
                .await?;
            out[i] = Some(match inserted {
                Some(row) => (row.try_into()?, true),
                None => {
                    let existing: Option<TaskRow> = sqlx::query_as(ACTIVE_BY_KEY)
                        .bind(&t.unique_key)
                        .fetch_optional($conn)
                        .await?;
                    let row = existing.ok_or_else(|| {
                        StoreError::Conflict(
                            "the task holding this unique key finished meanwhile; enqueue again"
                                .into(),
                        )
                    })?;
                    (row.try_into()?, false)
                }
            });
        }
        out.into_iter().flatten().collect::<Vec<_>>()
    }};
}

/// Implements [`TaskStore`] for a store type whose `write()`/`read()` pools and `begin_write()`
/// transaction share one driver; `$claim` is the backend's claim query.
macro_rules! task_store {
    ($store:ty, $variant:path, $postgres:expr, $claim:expr) => {
        #[async_trait]
        impl TaskStore for $store {
            async fn insert_tasks(&self, tasks: &[NewTask]) -> Result<Vec<(TaskRecord, bool)>, StoreError> {
                let mut tx = self.begin_write().await?;
                let out = insert_in!(&mut *tx, tasks, $postgres);
                tx.commit().await?;
                Ok(out)
            }

            async fn insert_tasks_in(
                &self,
                tx: &mut DbTx,
                tasks: &[NewTask],
            ) -> Result<Vec<(TaskRecord, bool)>, StoreError> {
                let $variant(tx) = tx else {
                    return Err(StoreError::Conflict(format!(
                        "a {} transaction was given to the {} store",
                        tx.backend().as_str(),
                        self.backend().as_str()
                    )));
                };
                Ok(insert_in!(&mut **tx, tasks, $postgres))
            }

            async fn claim_tasks(
                &self,
                queue: &str,
                worker: &str,
                limit: u32,
                now: DateTime<Utc>,
            ) -> Result<Vec<TaskRecord>, StoreError> {
                let rows: Vec<TaskRow> = sqlx::query_as($claim)
                    .bind(queue)
                    .bind(micros(now))
                    .bind(worker)
                    .bind(i64::from(limit))
                    .fetch_all(self.write())
                    .await?;
                let mut tasks = records(rows)?;
                tasks.sort_by(|a, b| {
                    b.priority.cmp(&a.priority).then(a.scheduled_at.cmp(&b.scheduled_at)).then(a.id.cmp(&b.id))
                });
                Ok(tasks)
            }

            async fn heartbeat_tasks(&self, worker: &str, now: DateTime<Utc>) -> Result<Vec<(Uuid, bool)>, StoreError> {
                Ok(sqlx::query_as(HEARTBEAT[usize::from($postgres)])
                .bind(micros(now))
                .bind(worker)
                .fetch_all(self.write())
                .await?)
            }

            async fn set_progress(
                &self,
                id: Uuid,
                attempt: i32,
                worker: &str,
                progress: &Progress,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE relais_tasks SET progress = $4, progress_message = $5, progress_details = $6
                     WHERE id = $1 AND attempt = $2 AND worker = $3 AND state = 'running'",
                )
                .bind(id)
                .bind(attempt)
                .bind(worker)
                .bind(progress.percent)
                .bind(&progress.message)
                .bind(progress.details.as_ref().map(Json))
                .execute(self.write())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_tasks(
                &self,
                worker: &str,
                items: &[(Uuid, i32, Outcome)],
                now: DateTime<Utc>,
            ) -> Result<Vec<Option<TaskState>>, StoreError> {
                let mut tx = self.begin_write().await?;
                if $postgres {
                    // Rows are locked in id order, as the heartbeat locks them: no deadlock.
                    for chunk in items.chunks(1_024) {
                        let n = padded(chunk.len(), 1_024);
                        let mut lock = sqlx::query(shaped("lock", lock_ids_sql, true, n));
                        for k in 0..n {
                            lock = lock.bind(chunk[k.min(chunk.len() - 1)].0);
                        }
                        lock.execute(&mut *tx).await?;
                    }
                }
                let mut out: Vec<Option<TaskState>> = vec![None; items.len()];
                let successes: Vec<usize> =
                    (0..items.len()).filter(|&i| matches!(items[i].2, Outcome::Succeeded(_))).collect();
                for chunk in successes.chunks(SUCCEED_CHUNK) {
                    // Padded with copies of the last row: an update joins each row once.
                    let rows = padded(chunk.len(), SUCCEED_CHUNK);
                    let mut query = sqlx::query(shaped("succeed", succeed_many_sql, $postgres, rows));
                    for k in 0..rows {
                        let (id, attempt, outcome) = &items[chunk[k.min(chunk.len() - 1)]];
                        let result = match outcome {
                            Outcome::Succeeded(v) => v,
                            _ => &Value::Null,
                        };
                        query = query.bind(*id).bind(*attempt).bind(Json(result));
                    }
                    let updated = query.bind(micros(now)).bind(worker).execute(&mut *tx).await?.rows_affected();
                    if updated as usize == chunk.len() {
                        for &i in chunk {
                            out[i] = Some(TaskState::Succeeded);
                        }
                    } else {
                        // Some attempts were no longer this worker's: find which were written.
                        for &i in chunk {
                            let (id, attempt, _) = &items[i];
                            let row: Option<(String, i32, Option<String>, Option<i64>)> = sqlx::query_as(
                                "SELECT state, attempt, worker, finished_at FROM relais_tasks WHERE id = $1",
                            )
                            .bind(*id)
                            .fetch_optional(&mut *tx)
                            .await?;
                            let ours = row.is_some_and(|(state, a, w, at)| {
                                state == "succeeded" && a == *attempt && w.as_deref() == Some(worker) && at == Some(micros(now))
                            });
                            out[i] = ours.then_some(TaskState::Succeeded);
                        }
                    }
                }
                for (i, (id, attempt, outcome)) in items.iter().enumerate() {
                    let state: Option<String> = match outcome {
                        Outcome::Succeeded(_) => continue,
                        Outcome::Cancelled => sqlx::query_scalar(CANCELLED)
                            .bind(id)
                            .bind(attempt)
                            .bind(worker)
                            .bind(micros(now))
                            .fetch_optional(&mut *tx)
                            .await?,
                        Outcome::Failed { error, timed_out, retry_at } => {
                            let state: Option<String> = sqlx::query_scalar(FAIL)
                                .bind(id)
                                .bind(attempt)
                                .bind(worker)
                                .bind(retry_at.map(micros))
                                .bind(micros(now))
                                .fetch_optional(&mut *tx)
                                .await?;
                            if state.is_some() {
                                sqlx::query(INSERT_ERROR)
                                    .bind(id)
                                    .bind(attempt)
                                    .bind(micros(now))
                                    .bind(error)
                                    .bind(*timed_out)
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            state
                        }
                    };
                    out[i] = state.map(|s| s.parse().map_err(corrupt)).transpose()?;
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn release_task(&self, id: Uuid, attempt: i32, worker: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE relais_tasks SET state = 'available', attempt = attempt - 1, scheduled_at = $4,
                        started_at = NULL, heartbeat_at = NULL, worker = NULL
                     WHERE id = $1 AND attempt = $2 AND worker = $3 AND state = 'running'",
                )
                .bind(id)
                .bind(attempt)
                .bind(worker)
                .bind(micros(now))
                .execute(self.write())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn cancel_task(&self, id: Uuid, now: DateTime<Utc>) -> Result<CancelOutcome, StoreError> {
                let mut tx = self.begin_write().await?;
                let queued: Option<TaskRow> =
                    sqlx::query_as(CANCEL_QUEUED).bind(id).bind(micros(now)).fetch_optional(&mut *tx).await?;
                let outcome = if let Some(row) = queued {
                    CancelOutcome::Cancelled(row.try_into()?)
                } else if let Some(row) =
                    sqlx::query_as::<_, TaskRow>(CANCEL_RUNNING).bind(id).fetch_optional(&mut *tx).await?
                {
                    CancelOutcome::Signalled(row.try_into()?)
                } else {
                    match sqlx::query_as::<_, TaskRow>("SELECT * FROM relais_tasks WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                    {
                        Some(row) => CancelOutcome::AlreadyFinal(row.try_into()?),
                        None => CancelOutcome::NotFound,
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn rescue_tasks(
                &self,
                stale_before: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<Vec<Rescued>, StoreError> {
                let mut tx = self.begin_write().await?;
                let rows: Vec<(Uuid, i32, String, Option<String>)> = sqlx::query_as(RESCUE)
                    .bind(micros(stale_before))
                    .bind(micros(now))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut rescued = Vec::with_capacity(rows.len());
                for (id, attempt, state, worker) in rows {
                    let state: TaskState = state.parse().map_err(corrupt)?;
                    if state != TaskState::Cancelled {
                        let message = format!(
                            "worker {} stopped sending heartbeats; the attempt was lost",
                            worker.as_deref().unwrap_or("?")
                        );
                        sqlx::query(INSERT_ERROR)
                            .bind(id)
                            .bind(attempt)
                            .bind(micros(now))
                            .bind(message)
                            .bind(false)
                            .execute(&mut *tx)
                            .await?;
                    }
                    rescued.push(Rescued { id, state });
                }
                tx.commit().await?;
                Ok(rescued)
            }

            async fn retry_task(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<TaskRecord>, StoreError> {
                let row: Option<TaskRow> = sqlx::query_as(RETRY)
                    .bind(id)
                    .bind(micros(now))
                    .fetch_optional(self.write())
                    .await
                    .map_err(conflict_or)?;
                row.map(TaskRecord::try_from).transpose()
            }

            async fn get_task(&self, id: Uuid) -> Result<Option<TaskRecord>, StoreError> {
                let row: Option<TaskRow> = sqlx::query_as("SELECT * FROM relais_tasks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.read())
                    .await?;
                row.map(TaskRecord::try_from).transpose()
            }

            async fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, StoreError> {
                let sql = list_sql(filter);
                let mut query = sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(sql));
                for state in &filter.states {
                    query = query.bind(state.as_str());
                }
                if let Some(kind) = &filter.kind {
                    query = query.bind(kind);
                }
                if let Some(queue) = &filter.queue {
                    query = query.bind(queue);
                }
                if let Some(from) = filter.created_from {
                    query = query.bind(micros(from));
                }
                if let Some(to) = filter.created_to {
                    query = query.bind(micros(to));
                }
                if let Some(before) = filter.before {
                    query = query.bind(before);
                }
                let rows = query.bind(i64::from(filter.limit.clamp(1, 1000))).fetch_all(self.read()).await?;
                records(rows)
            }

            async fn task_counts(&self) -> Result<Vec<(String, TaskState, i64)>, StoreError> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    // One part per lifecycle stage, each read from its partial index alone.
                    "SELECT kind, state, COUNT(*) FROM relais_tasks
                        WHERE state IN ('available', 'scheduled', 'retryable') GROUP BY kind, state
                     UNION ALL
                     SELECT kind, state, COUNT(*) FROM relais_tasks
                        WHERE state = 'running' GROUP BY kind, state
                     UNION ALL
                     SELECT kind, state, COUNT(*) FROM relais_tasks
                        WHERE finished_at IS NOT NULL AND state IN ('succeeded', 'failed', 'cancelled', 'discarded')
                        GROUP BY kind, state
                     ORDER BY 1, 2",
                )
                .fetch_all(self.read())
                .await?;
                rows.into_iter()
                    .map(|(kind, state, n)| Ok((kind, state.parse().map_err(corrupt)?, n)))
                    .collect()
            }

            async fn task_errors(&self, id: Uuid) -> Result<Vec<AttemptError>, StoreError> {
                let rows: Vec<(i32, i64, String, bool)> = sqlx::query_as(
                    "SELECT attempt, at, message, timed_out FROM relais_task_errors WHERE task_id = $1 ORDER BY attempt",
                )
                .bind(id)
                .fetch_all(self.read())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(attempt, at, message, timed_out)| AttemptError { attempt, at: time(at), message, timed_out })
                    .collect())
            }
        }
    };
}

task_store!(SqliteStore, DbTx::Sqlite, false, CLAIM_SQLITE);
task_store!(PgStore, DbTx::Postgres, true, CLAIM_POSTGRES);

#[cfg(test)]
mod tests {
    use super::{batch_sizes, padded};

    #[test]
    fn batches_use_few_distinct_sizes() {
        assert_eq!(batch_sizes(0, 128), Vec::<usize>::new());
        assert_eq!(batch_sizes(1, 128), vec![1]);
        assert_eq!(batch_sizes(100, 128), vec![64, 32, 4]);
        assert_eq!(batch_sizes(300, 128), vec![128, 128, 32, 8, 4]);
        for n in 0..1_000 {
            let sizes = batch_sizes(n, 128);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two()));
        }
    }

    #[test]
    fn padding_rounds_up_to_a_power_of_two_within_the_cap() {
        assert_eq!(padded(1, 128), 1);
        assert_eq!(padded(3, 128), 4);
        assert_eq!(padded(49, 128), 64);
        assert_eq!(padded(128, 128), 128);
    }
}
