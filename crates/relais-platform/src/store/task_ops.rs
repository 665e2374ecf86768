//! [`TaskOpsStore`] on both backends: limited claims, queue pause, workers, schedules,
//! statistics and retention. Shared SQL text; the limited claim locks the limited kinds' rows
//! (`FOR UPDATE` on PostgreSQL, the single writer's transaction on SQLite) before counting and
//! taking, so limits hold across processes.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::tasks::{
    INSERT, TaskRow, bind_new_task, corrupt, micros, padded, placeholders, shaped, time,
};
use super::{StoreError, TaskOpsStore};
use crate::tasks::{
    AttemptDuration, FinishedCounts, KindLimit, LimitedClaim, NewTask, QueueDepth, QueueState,
    TaskRecord, TaskState, TickOutcome, WorkerInfo, WorkerQueue,
};

const CLAIMABLE: &str = "state IN ('available', 'scheduled', 'retryable')";

/// `$1, $2, …` from `first` for `n` parameters.
fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Candidates of `queue` in claim order, without the `excluded` kinds (`$4…`). The pause is
/// checked in the same statement: a task enqueued after a pause is never seen without it.
fn candidates_sql(excluded: usize, lock: &str) -> String {
    let not_in = if excluded == 0 {
        String::new()
    } else {
        format!(" AND kind NOT IN ({})", params(4, excluded))
    };
    format!(
        "SELECT id, kind FROM relais_tasks WHERE queue = $1 AND {CLAIMABLE} AND scheduled_at <= $2{not_in}
            AND NOT EXISTS (SELECT 1 FROM relais_task_queues q WHERE q.queue = $1 AND q.paused)
         ORDER BY priority DESC, scheduled_at, id LIMIT $3{lock}"
    )
}

/// Starts the chosen tasks; bound in order: time, time, worker, then the ids.
fn start_sql(postgres: bool, n: usize) -> String {
    let p = placeholders(postgres, 1, 3 + n);
    format!(
        "UPDATE relais_tasks SET state = 'running', attempt = attempt + 1,
            started_at = {}, heartbeat_at = {}, worker = {}, cancel_requested = FALSE,
            progress = 0, progress_message = NULL, progress_details = NULL
         WHERE id IN ({}) RETURNING *",
        p[0],
        p[1],
        p[2],
        p[3..].join(", ")
    )
}

/// How many more tasks of each limited kind may start now, and the bucket states.
struct Budget {
    left: u32,
    rate_tat: Option<i64>,
    taken: u32,
}

fn sort_claimed(tasks: &mut [TaskRecord]) {
    tasks.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.scheduled_at.cmp(&b.scheduled_at))
            .then(a.id.cmp(&b.id))
    });
}

type WorkerRow = (
    String,
    String,
    i64,
    String,
    Json<Vec<WorkerQueue>>,
    i64,
    i64,
    i32,
);

fn worker(r: WorkerRow) -> WorkerInfo {
    WorkerInfo {
        id: r.0,
        host: r.1,
        pid: r.2,
        version: r.3,
        queues: r.4.0,
        started_at: time(r.5),
        heartbeat_at: time(r.6),
        running: i64::from(r.7),
    }
}

/// Implements [`TaskOpsStore`]; `$lock_kinds` and `$lock_candidates` are the backend's row
/// locking clauses (empty on SQLite, whose write transaction already excludes other writers).
macro_rules! task_ops_store {
    ($store:ty, $postgres:expr, $lock_kinds:expr, $lock_candidates:expr) => {
        #[async_trait]
        impl TaskOpsStore for $store {
            async fn claim_limited(
                &self,
                queue: &str,
                worker: &str,
                limit: u32,
                now: DateTime<Utc>,
                limits: &[KindLimit],
            ) -> Result<LimitedClaim, StoreError> {
                let mut tx = self.begin_write().await?;
                let paused: Option<bool> =
                    sqlx::query_scalar("SELECT paused FROM relais_task_queues WHERE queue = $1")
                        .bind(queue)
                        .fetch_optional(&mut *tx)
                        .await?;
                if paused == Some(true) || limit == 0 {
                    tx.commit().await?;
                    return Ok(LimitedClaim::default());
                }
                let mut limits: Vec<&KindLimit> = limits.iter().collect();
                limits.sort_by(|a, b| a.kind.cmp(&b.kind));
                limits.dedup_by(|a, b| a.kind == b.kind);
                let kinds = params(1, limits.len());
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO relais_task_kinds (kind) VALUES {} ON CONFLICT (kind) DO NOTHING",
                    (1..=limits.len()).map(|i| format!("(${i})")).collect::<Vec<_>>().join(", ")
                )));
                for l in &limits {
                    insert = insert.bind(&l.kind);
                }
                insert.execute(&mut *tx).await?;
                // Lock the limited kinds (in name order: no deadlock between claimers).
                let mut lock = sqlx::query_as::<_, (String, Option<i64>)>(sqlx::AssertSqlSafe(format!(
                    "SELECT kind, rate_tat FROM relais_task_kinds WHERE kind IN ({kinds}) ORDER BY kind{}",
                    $lock_kinds
                )));
                for l in &limits {
                    lock = lock.bind(&l.kind);
                }
                let tats: HashMap<String, Option<i64>> = lock.fetch_all(&mut *tx).await?.into_iter().collect();
                let mut count = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
                    "SELECT kind, COUNT(*) FROM relais_tasks WHERE state = 'running' AND kind IN ({kinds}) GROUP BY kind"
                )));
                for l in &limits {
                    count = count.bind(&l.kind);
                }
                let running: HashMap<String, i64> = count.fetch_all(&mut *tx).await?.into_iter().collect();
                let at = micros(now);
                let mut budgets: HashMap<&str, Budget> = HashMap::new();
                for l in &limits {
                    let rate_tat = tats.get(&l.kind).copied().flatten();
                    let mut left = u32::MAX;
                    if let Some(rate) = &l.rate {
                        left = left.min(rate.available(rate_tat, at));
                    }
                    if let Some(max) = l.concurrency {
                        let busy = running.get(&l.kind).copied().unwrap_or(0);
                        left = left.min(u32::try_from((i64::from(max) - busy).max(0)).unwrap_or(0));
                    }
                    budgets.insert(l.kind.as_str(), Budget { left, rate_tat, taken: 0 });
                }
                // Walk candidates in claim order, skipping kinds out of budget; a kind that runs
                // out is excluded from the next round, so rounds ≤ limited kinds + 1.
                let mut chosen: Vec<Uuid> = Vec::new();
                for _ in 0..=limits.len() {
                    let excluded: Vec<&str> =
                        budgets.iter().filter(|(_, b)| b.left == 0).map(|(k, _)| *k).collect();
                    // Rows chosen in earlier rounds come back (our own locks do not skip them).
                    let requested = limit as usize + chosen.len();
                    let sql = candidates_sql(excluded.len(), $lock_candidates);
                    let mut query = sqlx::query_as::<_, (Uuid, String)>(sqlx::AssertSqlSafe(sql))
                        .bind(queue)
                        .bind(at)
                        .bind(requested as i64);
                    for k in &excluded {
                        query = query.bind(*k);
                    }
                    let rows = query.fetch_all(&mut *tx).await?;
                    let seen = rows.len();
                    let mut held_back = false;
                    for (id, kind) in rows {
                        if chosen.len() == limit as usize {
                            break;
                        }
                        if chosen.contains(&id) {
                            continue;
                        }
                        match budgets.get_mut(kind.as_str()) {
                            Some(b) if b.left == 0 => held_back = true,
                            Some(b) => {
                                b.left -= 1;
                                b.taken += 1;
                                chosen.push(id);
                            }
                            None => chosen.push(id),
                        }
                    }
                    // Done when full, when nothing was held back, or when there are no more rows.
                    if chosen.len() == limit as usize || !held_back || seen < requested {
                        break;
                    }
                }
                let mut tasks = Vec::new();
                for ids in chosen.chunks(512) {
                    // Padded with copies of the last id (see `padded`).
                    let n = padded(ids.len(), 512);
                    let mut start = sqlx::query_as::<_, TaskRow>(shaped("start", start_sql, $postgres, n))
                        .bind(at)
                        .bind(at)
                        .bind(worker);
                    for k in 0..n {
                        start = start.bind(ids[k.min(ids.len() - 1)]);
                    }
                    for row in start.fetch_all(&mut *tx).await? {
                        tasks.push(TaskRecord::try_from(row)?);
                    }
                }
                let mut next_token_at: Option<i64> = None;
                for l in &limits {
                    let (Some(rate), Some(b)) = (&l.rate, budgets.get(l.kind.as_str())) else {
                        continue;
                    };
                    let mut tat = b.rate_tat;
                    if b.taken > 0 {
                        let (_, new_tat) = rate.take_up_to(tat, at, b.taken);
                        sqlx::query("UPDATE relais_task_kinds SET rate_tat = $2 WHERE kind = $1")
                            .bind(&l.kind)
                            .bind(new_tat)
                            .execute(&mut *tx)
                            .await?;
                        tat = Some(new_tat);
                    }
                    if rate.available(tat, at) == 0 {
                        let next = at + rate.next_token_after(tat, at);
                        next_token_at = Some(next_token_at.map_or(next, |n| n.min(next)));
                    }
                }
                tx.commit().await?;
                sort_claimed(&mut tasks);
                Ok(LimitedClaim { tasks, next_token_at: next_token_at.map(time) })
            }

            async fn set_queue_paused(
                &self,
                queue: &str,
                paused: bool,
                by: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<QueueState, StoreError> {
                let row: (String, bool, i64, Option<String>) = sqlx::query_as(
                    "INSERT INTO relais_task_queues (queue, paused, changed_at, changed_by) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused,
                        changed_at = excluded.changed_at, changed_by = excluded.changed_by
                     RETURNING queue, paused, changed_at, changed_by",
                )
                .bind(queue)
                .bind(paused)
                .bind(micros(now))
                .bind(by)
                .fetch_one(self.write())
                .await?;
                Ok(QueueState { queue: row.0, paused: row.1, changed_at: time(row.2), changed_by: row.3 })
            }

            async fn queue_states(&self) -> Result<Vec<QueueState>, StoreError> {
                let rows: Vec<(String, bool, i64, Option<String>)> = sqlx::query_as(
                    "SELECT queue, paused, changed_at, changed_by FROM relais_task_queues ORDER BY queue",
                )
                .fetch_all(self.read())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| QueueState { queue: r.0, paused: r.1, changed_at: time(r.2), changed_by: r.3 })
                    .collect())
            }

            async fn queue_depths(&self, now: DateTime<Utc>) -> Result<Vec<QueueDepth>, StoreError> {
                let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
                    // Queued tasks from the claim index, running ones from the running index.
                    "SELECT queue, SUM(due), SUM(later), SUM(running), MIN(oldest_due) FROM (
                        SELECT queue,
                            CASE WHEN scheduled_at <= $1 THEN 1 ELSE 0 END AS due,
                            CASE WHEN scheduled_at > $1 THEN 1 ELSE 0 END AS later,
                            0 AS running,
                            CASE WHEN scheduled_at <= $1 THEN scheduled_at END AS oldest_due
                        FROM relais_tasks WHERE state IN ('available', 'scheduled', 'retryable')
                        UNION ALL
                        SELECT queue, 0, 0, 1, CAST(NULL AS BIGINT)
                        FROM relais_tasks WHERE state = 'running'
                     ) AS depths
                     GROUP BY queue ORDER BY queue",
                )
                .bind(micros(now))
                .fetch_all(self.read())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| QueueDepth { queue: r.0, due: r.1, scheduled: r.2, running: r.3, oldest_due_at: r.4.map(time) })
                    .collect())
            }

            async fn finished_counts(&self, now: DateTime<Utc>) -> Result<Vec<FinishedCounts>, StoreError> {
                let minute = 60_000_000;
                let at = micros(now);
                let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT kind, state,
                        COALESCE(SUM(CASE WHEN finished_at >= $1 THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN finished_at >= $2 THEN 1 ELSE 0 END), 0),
                        COUNT(*)
                     FROM relais_tasks
                     WHERE state IN ('succeeded', 'failed', 'cancelled', 'discarded') AND finished_at >= $3
                     GROUP BY kind, state ORDER BY kind, state",
                )
                .bind(at - minute)
                .bind(at - 5 * minute)
                .bind(at - 15 * minute)
                .fetch_all(self.read())
                .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(FinishedCounts {
                            kind: r.0,
                            state: r.1.parse().map_err(corrupt)?,
                            last_1m: r.2,
                            last_5m: r.3,
                            last_15m: r.4,
                        })
                    })
                    .collect()
            }

            async fn recent_durations(
                &self,
                since: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<AttemptDuration>, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT kind, finished_at - started_at FROM relais_tasks
                     WHERE state = 'succeeded' AND finished_at >= $1 AND started_at IS NOT NULL
                     ORDER BY finished_at DESC LIMIT $2",
                )
                .bind(micros(since))
                .bind(i64::from(limit))
                .fetch_all(self.read())
                .await?;
                Ok(rows.into_iter().map(|(kind, micros)| AttemptDuration { kind, micros }).collect())
            }

            async fn upsert_worker(&self, w: &WorkerInfo) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO relais_workers (id, host, pid, version, queues, started_at, heartbeat_at, running)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, running = excluded.running,
                        queues = excluded.queues",
                )
                .bind(&w.id)
                .bind(&w.host)
                .bind(w.pid)
                .bind(&w.version)
                .bind(Json(&w.queues))
                .bind(micros(w.started_at))
                .bind(micros(w.heartbeat_at))
                .bind(i32::try_from(w.running).unwrap_or(i32::MAX))
                .execute(self.write())
                .await?;
                Ok(())
            }

            async fn remove_worker(&self, id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM relais_workers WHERE id = $1").bind(id).execute(self.write()).await?;
                Ok(())
            }

            async fn list_workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
                let rows: Vec<WorkerRow> = sqlx::query_as(
                    "SELECT id, host, pid, version, queues, started_at, heartbeat_at, running
                     FROM relais_workers ORDER BY started_at, id",
                )
                .fetch_all(self.read())
                .await?;
                Ok(rows.into_iter().map(worker).collect())
            }

            async fn prune_workers(&self, silent_since: DateTime<Utc>) -> Result<u64, StoreError> {
                Ok(sqlx::query("DELETE FROM relais_workers WHERE heartbeat_at < $1")
                    .bind(micros(silent_since))
                    .execute(self.write())
                    .await?
                    .rows_affected())
            }

            async fn init_schedule(&self, name: &str, cron: &str, tick: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO relais_task_schedules (name, cron, last_tick) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(cron)
                .bind(micros(tick))
                .execute(&mut *tx)
                .await?;
                let last: i64 = sqlx::query_scalar("SELECT last_tick FROM relais_task_schedules WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(time(last))
            }

            async fn enqueue_tick(
                &self,
                name: &str,
                cron: &str,
                tick: DateTime<Utc>,
                task: &NewTask,
            ) -> Result<TickOutcome, StoreError> {
                let mut tx = self.begin_write().await?;
                // Advancing the tick locks the schedule's row: a second process waits, then finds
                // the tick taken and enqueues nothing.
                let advanced: Option<String> = sqlx::query_scalar(
                    "INSERT INTO relais_task_schedules (name, cron, last_tick, last_task) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, last_tick = excluded.last_tick,
                        last_task = excluded.last_task
                     WHERE relais_task_schedules.last_tick < excluded.last_tick
                     RETURNING name",
                )
                .bind(name)
                .bind(cron)
                .bind(micros(tick))
                .bind(task.id)
                .fetch_optional(&mut *tx)
                .await?;
                if advanced.is_none() {
                    tx.commit().await?;
                    return Ok(TickOutcome::AlreadyDone);
                }
                let inserted: Option<TaskRow> = bind_new_task!(sqlx::query_as(INSERT), task).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok(match inserted {
                    Some(_) => TickOutcome::Enqueued(task.id),
                    // The tick's unique key is still held by an unfinished task of this schedule.
                    None => TickOutcome::AlreadyDone,
                })
            }

            async fn delete_finished(
                &self,
                state: TaskState,
                finished_before: DateTime<Utc>,
                batch: u32,
            ) -> Result<u64, StoreError> {
                Ok(sqlx::query(
                    "DELETE FROM relais_tasks WHERE id IN (SELECT id FROM relais_tasks
                        WHERE state = $1 AND finished_at < $2 LIMIT $3)",
                )
                .bind(state.as_str())
                .bind(micros(finished_before))
                .bind(i64::from(batch))
                .execute(self.write())
                .await?
                .rows_affected())
            }
        }
    };
}

task_ops_store!(SqliteStore, false, "", "");
task_ops_store!(PgStore, true, " FOR UPDATE", " FOR UPDATE SKIP LOCKED");
