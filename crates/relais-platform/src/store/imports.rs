//! [`ImportStore`] on both backends (shared SQL). An import whose task ended without finishing
//! it is shown with the status the task implies (`failed` or `cancelled`), computed in the
//! query; retention writes it down.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::tasks::{corrupt, micros, placeholders, time};
use super::{DbTx, ImportStore, Store, StoreError};
use crate::imports::{
    BatchCommit, FileFormat, ImportCounts, ImportFile, ImportFilter, ImportIssue, ImportRecord,
    ImportStatus, ImportStatusCount, NewImport, NewIssue,
};

/// Every import with the status its task implies (`effective`).
const VIEW: &str = "SELECT i.*, t.state AS task_state, t.finished_at AS task_finished_at,
        (SELECT e.message FROM relais_task_errors e WHERE e.task_id = i.task_id
            ORDER BY e.attempt DESC LIMIT 1) AS task_error,
        CASE WHEN i.status IN ('pending', 'running') AND t.state = 'cancelled' THEN 'cancelled'
             WHEN i.status IN ('pending', 'running')
                  AND (t.state IS NULL OR t.state IN ('succeeded', 'failed', 'discarded')) THEN 'failed'
             ELSE i.status END AS effective
    FROM relais_imports i LEFT JOIN relais_tasks t ON t.id = i.task_id";

#[derive(sqlx::FromRow)]
struct ImportRow {
    id: Uuid,
    #[sqlx(rename = "type")]
    type_name: String,
    status: String,
    dry_run: bool,
    mode: String,
    scope: Option<String>,
    sheet: Option<String>,
    file_name: String,
    file_size: i64,
    sha256: String,
    format: String,
    encoding: Option<String>,
    max_rows: Option<i64>,
    uploader: Option<String>,
    task_id: Option<Uuid>,
    attempts: i32,
    rows_read: i64,
    rows_accepted: i64,
    rows_rejected: i64,
    warnings: i64,
    inserted: i64,
    updated: i64,
    unchanged: i64,
    deleted: i64,
    resume_offset: i64,
    columns: Option<String>,
    error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    file_deleted_at: Option<i64>,
    task_state: Option<String>,
    task_finished_at: Option<i64>,
    task_error: Option<String>,
    effective: String,
}

fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl TryFrom<ImportRow> for ImportRecord {
    type Error = StoreError;

    fn try_from(r: ImportRow) -> Result<Self, StoreError> {
        let stored: ImportStatus = r.status.parse().map_err(corrupt)?;
        let status: ImportStatus = r.effective.parse().map_err(corrupt)?;
        let reconciled = status != stored;
        let error = match (&r.error, reconciled) {
            (Some(e), _) => Some(e.clone()),
            (None, true) => Some(match (&r.task_state, &r.task_error) {
                (Some(state), Some(e)) => format!("its task ended {state}: {e}"),
                (Some(state), None) => format!("its task ended {state}"),
                (None, _) => "its task no longer exists".to_owned(),
            }),
            (None, false) => None,
        };
        Ok(ImportRecord {
            id: r.id,
            type_name: r.type_name,
            status,
            dry_run: r.dry_run,
            mode: r.mode,
            scope: r.scope,
            sheet: r.sheet,
            file: ImportFile {
                name: r.file_name,
                size: n(r.file_size),
                sha256: r.sha256,
                format: FileFormat::from_extension(&r.format)
                    .ok_or_else(|| corrupt(format!("unknown format `{}`", r.format)))?,
                encoding: r.encoding,
                deleted_at: r.file_deleted_at.map(time),
            },
            max_rows: r.max_rows.map(n),
            uploader: r.uploader,
            task_id: r.task_id,
            attempts: r.attempts,
            counts: ImportCounts {
                read: n(r.rows_read),
                accepted: n(r.rows_accepted),
                rejected: n(r.rows_rejected),
                warnings: n(r.warnings),
                inserted: n(r.inserted),
                updated: n(r.updated),
                unchanged: n(r.unchanged),
                deleted: n(r.deleted),
            },
            resume_offset: n(r.resume_offset),
            columns: r.columns.and_then(|c| serde_json::from_str(&c).ok()),
            error,
            created_at: time(r.created_at),
            started_at: r.started_at.map(time),
            finished_at: r
                .finished_at
                .or(if reconciled { r.task_finished_at } else { None })
                .map(time),
        })
    }
}

fn records(rows: Vec<ImportRow>) -> Result<Vec<ImportRecord>, StoreError> {
    rows.into_iter().map(ImportRecord::try_from).collect()
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const INSERT: &str = "INSERT INTO relais_imports (id, type, status, dry_run, mode, scope, sheet,
        file_name, file_size, sha256, format, encoding, max_rows, uploader, task_id, created_at)
    VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// Adds a batch's counts and moves the resume offset, only from the offset the batch started
/// at (`$2`): a stale attempt cannot commit twice.
const ADVANCE: &str = "UPDATE relais_imports SET resume_offset = $3,
        rows_read = rows_read + $4, rows_accepted = rows_accepted + $5,
        rows_rejected = rows_rejected + $6, warnings = warnings + $7,
        inserted = inserted + $8, updated = updated + $9, unchanged = unchanged + $10,
        deleted = deleted + $11
    WHERE id = $1 AND resume_offset = $2 AND status = 'running'";

const FINISH: &str = "UPDATE relais_imports SET resume_offset = $3,
        rows_read = rows_read + $4, rows_accepted = rows_accepted + $5,
        rows_rejected = rows_rejected + $6, warnings = warnings + $7,
        inserted = inserted + $8, updated = updated + $9, unchanged = unchanged + $10,
        deleted = deleted + $11, status = $12, error = $13, finished_at = $14
    WHERE id = $1 AND resume_offset = $2 AND status = 'running'";

/// Marks unfinished imports whose task is over (or gone) as failed or cancelled.
const RECONCILE: &str = "UPDATE relais_imports SET
        status = CASE WHEN EXISTS (SELECT 1 FROM relais_tasks t
                WHERE t.id = relais_imports.task_id AND t.state = 'cancelled')
            THEN 'cancelled' ELSE 'failed' END,
        error = COALESCE(error, 'its task ended without finishing the import'),
        finished_at = $1
    WHERE status IN ('pending', 'running') AND NOT EXISTS (SELECT 1 FROM relais_tasks t
        WHERE t.id = relais_imports.task_id
            AND t.state IN ('available', 'scheduled', 'running', 'retryable'))";

/// Rows per issue insert (6 parameters a row).
const ISSUE_CHUNK: usize = 200;

macro_rules! bind_counts {
    ($q:expr, $c:expr) => {{
        let c: &ImportCounts = $c;
        $q.bind(i(c.read))
            .bind(i(c.accepted))
            .bind(i(c.rejected))
            .bind(i(c.warnings))
            .bind(i(c.inserted))
            .bind(i(c.updated))
            .bind(i(c.unchanged))
            .bind(i(c.deleted))
    }};
}

fn list_sql(f: &ImportFilter) -> String {
    let mut conditions = Vec::new();
    let mut p = 0;
    let mut next = || {
        p += 1;
        format!("${p}")
    };
    if f.type_name.is_some() {
        conditions.push(format!("v.type = {}", next()));
    }
    if !f.statuses.is_empty() {
        let list: Vec<String> = f.statuses.iter().map(|_| next()).collect();
        conditions.push(format!("v.effective IN ({})", list.join(", ")));
    }
    if f.uploader.is_some() {
        conditions.push(format!("v.uploader = {}", next()));
    }
    if f.created_from.is_some() {
        conditions.push(format!("v.created_at >= {}", next()));
    }
    if f.created_to.is_some() {
        conditions.push(format!("v.created_at < {}", next()));
    }
    if f.before.is_some() {
        conditions.push(format!("v.id < {}", next()));
    }
    let limit = next();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    format!("SELECT * FROM ({VIEW}) v {filter} ORDER BY v.id DESC LIMIT {limit}")
}

macro_rules! import_store {
    ($store:ty, $variant:path, $postgres:expr) => {
        impl $store {
            async fn insert_issues(
                conn: &mut <$store as IssueConn>::Conn,
                id: Uuid,
                issues: &[NewIssue],
            ) -> Result<(), StoreError> {
                for chunk in issues.chunks(ISSUE_CHUNK) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|k| format!("({})", placeholders($postgres, 1 + k * 6, 6).join(", ")))
                        .collect();
                    let sql = format!(
                        "INSERT INTO relais_import_issues (import_id, row_number, severity, column_name, value, message) VALUES {}",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for issue in chunk {
                        q = q
                            .bind(id)
                            .bind(i(issue.row))
                            .bind(issue.severity.as_str())
                            .bind(&issue.column)
                            .bind(&issue.value)
                            .bind(&issue.message);
                    }
                    q.execute(&mut *conn).await?;
                }
                Ok(())
            }

            fn tx_of<'t>(
                &self,
                tx: &'t mut DbTx,
            ) -> Result<&'t mut <$store as IssueConn>::Conn, StoreError> {
                match tx {
                    $variant(t) => Ok(&mut **t),
                    other => Err(StoreError::Conflict(format!(
                        "a {} transaction was given to the {} store",
                        other.backend().as_str(),
                        self.backend().as_str()
                    ))),
                }
            }
        }

        #[async_trait]
        impl ImportStore for $store {
            async fn insert_import_in(&self, tx: &mut DbTx, m: &NewImport) -> Result<(), StoreError> {
                let conn = self.tx_of(tx)?;
                sqlx::query(INSERT)
                    .bind(m.id)
                    .bind(&m.type_name)
                    .bind(m.dry_run)
                    .bind(&m.mode)
                    .bind(&m.scope)
                    .bind(&m.sheet)
                    .bind(&m.file.name)
                    .bind(i(m.file.size))
                    .bind(&m.file.sha256)
                    .bind(m.file.format.extension())
                    .bind(&m.file.encoding)
                    .bind(m.max_rows.map(i))
                    .bind(&m.uploader)
                    .bind(m.task_id)
                    .bind(micros(m.created_at))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn get_import(&self, id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
                let row: Option<ImportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT * FROM ({VIEW}) v WHERE v.id = $1"
                )))
                .bind(id)
                .fetch_optional(self.read())
                .await?;
                row.map(ImportRecord::try_from).transpose()
            }

            async fn list_imports(&self, f: &ImportFilter) -> Result<Vec<ImportRecord>, StoreError> {
                let mut q = sqlx::query_as::<_, ImportRow>(sqlx::AssertSqlSafe(list_sql(f)));
                if let Some(t) = &f.type_name {
                    q = q.bind(t);
                }
                for s in &f.statuses {
                    q = q.bind(s.as_str());
                }
                if let Some(u) = &f.uploader {
                    q = q.bind(u);
                }
                if let Some(from) = f.created_from {
                    q = q.bind(micros(from));
                }
                if let Some(to) = f.created_to {
                    q = q.bind(micros(to));
                }
                if let Some(before) = f.before {
                    q = q.bind(before);
                }
                let rows = q
                    .bind(i64::from(f.limit.clamp(1, 1000)))
                    .fetch_all(self.read())
                    .await?;
                records(rows)
            }

            async fn find_import(
                &self,
                type_name: &str,
                sha256: &str,
                mode: &str,
                scope: Option<&str>,
                sheet: Option<&str>,
            ) -> Result<Option<ImportRecord>, StoreError> {
                let row: Option<ImportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT * FROM ({VIEW}) v WHERE v.type = $1 AND v.sha256 = $2 AND v.mode = $3
                        AND v.scope IS NOT DISTINCT FROM $4 AND v.sheet IS NOT DISTINCT FROM $5
                        AND NOT v.dry_run
                        AND v.effective = 'succeeded'
                     ORDER BY v.id DESC LIMIT 1"
                )))
                .bind(type_name)
                .bind(sha256)
                .bind(mode)
                .bind(scope)
                .bind(sheet)
                .fetch_optional(self.read())
                .await?;
                row.map(ImportRecord::try_from).transpose()
            }

            async fn start_import(
                &self,
                id: Uuid,
                now: DateTime<Utc>,
            ) -> Result<Option<ImportRecord>, StoreError> {
                let done = sqlx::query(
                    "UPDATE relais_imports SET status = 'running', attempts = attempts + 1,
                        started_at = COALESCE(started_at, $2), error = NULL
                     WHERE id = $1 AND status IN ('pending', 'running')",
                )
                .bind(id)
                .bind(micros(now))
                .execute(self.write())
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.get_import(id).await
            }

            async fn set_import_columns(
                &self,
                id: Uuid,
                columns: &serde_json::Value,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE relais_imports SET columns = $2 WHERE id = $1")
                    .bind(id)
                    .bind(columns.to_string())
                    .execute(self.write())
                    .await?;
                Ok(())
            }

            async fn note_import_retry(&self, id: Uuid, message: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE relais_imports SET status = 'pending', error = $2
                     WHERE id = $1 AND status IN ('pending', 'running')",
                )
                .bind(id)
                .bind(message)
                .execute(self.write())
                .await?;
                Ok(())
            }

            async fn commit_import_batch(
                &self,
                tx: &mut DbTx,
                id: Uuid,
                c: &BatchCommit,
            ) -> Result<bool, StoreError> {
                let conn = self.tx_of(tx)?;
                let q = sqlx::query(ADVANCE)
                    .bind(id)
                    .bind(i(c.from_offset))
                    .bind(i(c.to_offset));
                let done = bind_counts!(q, &c.counts).execute(&mut *conn).await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::insert_issues(conn, id, &c.issues).await?;
                Ok(true)
            }

            async fn finish_import(
                &self,
                tx: &mut DbTx,
                id: Uuid,
                status: ImportStatus,
                error: Option<&str>,
                c: &BatchCommit,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let conn = self.tx_of(tx)?;
                let q = sqlx::query(FINISH)
                    .bind(id)
                    .bind(i(c.from_offset))
                    .bind(i(c.to_offset));
                let done = bind_counts!(q, &c.counts)
                    .bind(status.as_str())
                    .bind(error)
                    .bind(micros(now))
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::insert_issues(conn, id, &c.issues).await?;
                Ok(true)
            }

            async fn end_import(
                &self,
                id: Uuid,
                status: ImportStatus,
                error: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE relais_imports SET status = $2, error = COALESCE($3, error), finished_at = $4
                     WHERE id = $1 AND status IN ('pending', 'running')",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(error)
                .bind(micros(now))
                .execute(self.write())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn requeue_import_in(
                &self,
                tx: &mut DbTx,
                id: Uuid,
                task_id: Uuid,
            ) -> Result<Option<ImportRecord>, StoreError> {
                let conn = self.tx_of(tx)?;
                let done = sqlx::query(
                    "UPDATE relais_imports SET status = 'pending', error = NULL, finished_at = NULL,
                        task_id = $2
                     WHERE id = $1 AND status NOT IN ('succeeded', 'partial')",
                )
                .bind(id)
                .bind(task_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                let row: Option<ImportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT * FROM ({VIEW}) v WHERE v.id = $1"
                )))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                row.map(ImportRecord::try_from).transpose()
            }

            async fn import_issues(
                &self,
                id: Uuid,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<ImportIssue>, StoreError> {
                type R = (i64, i64, String, Option<String>, Option<String>, String);
                let rows: Vec<R> = sqlx::query_as(
                    "SELECT seq, row_number, severity, column_name, value, message
                     FROM relais_import_issues WHERE import_id = $1 AND seq > $2
                     ORDER BY seq LIMIT $3",
                )
                .bind(id)
                .bind(after_seq)
                .bind(i64::from(limit.max(1)))
                .fetch_all(self.read())
                .await?;
                rows.into_iter()
                    .map(|(seq, row, severity, column, value, message)| {
                        Ok(ImportIssue {
                            seq,
                            row: n(row),
                            severity: severity.parse().map_err(corrupt)?,
                            column,
                            value,
                            message,
                        })
                    })
                    .collect()
            }

            async fn import_stats(&self) -> Result<Vec<ImportStatusCount>, StoreError> {
                type R = (String, String, i64, i64, i64, i64);
                let rows: Vec<R> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT v.type, v.effective, COUNT(*),
                        CAST(COALESCE(SUM(v.rows_read), 0) AS BIGINT),
                        CAST(COALESCE(SUM(v.inserted + v.updated), 0) AS BIGINT),
                        CAST(COALESCE(SUM(v.rows_rejected), 0) AS BIGINT)
                     FROM ({VIEW}) v GROUP BY v.type, v.effective ORDER BY v.type, v.effective"
                )))
                .fetch_all(self.read())
                .await?;
                rows.into_iter()
                    .map(|(type_name, status, imports, read, written, rejected)| {
                        Ok(ImportStatusCount {
                            type_name,
                            status: status.parse().map_err(corrupt)?,
                            imports: n(imports),
                            rows_read: n(read),
                            rows_written: n(written),
                            rows_rejected: n(rejected),
                        })
                    })
                    .collect()
            }

            async fn reconcile_imports(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(RECONCILE)
                    .bind(micros(now))
                    .execute(self.write())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn imports_with_files(
                &self,
                created_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<(Uuid, FileFormat)>, StoreError> {
                let rows: Vec<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, format FROM relais_imports
                     WHERE file_deleted_at IS NULL AND status NOT IN ('pending', 'running')
                        AND created_at < $1
                     ORDER BY created_at LIMIT $2",
                )
                .bind(micros(created_before))
                .bind(i64::from(limit))
                .fetch_all(self.read())
                .await?;
                with_formats(rows)
            }

            async fn mark_files_deleted(
                &self,
                ids: &[Uuid],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "UPDATE relais_imports SET file_deleted_at = {} WHERE id IN ({})",
                        placeholders($postgres, 1, 1)[0],
                        placeholders($postgres, 2, chunk.len()).join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(micros(now));
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(self.write()).await?;
                }
                Ok(())
            }

            async fn delete_imports(
                &self,
                created_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<(Uuid, FileFormat)>, StoreError> {
                let mut tx = self.begin_write().await?;
                let rows: Vec<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, format FROM relais_imports
                     WHERE status NOT IN ('pending', 'running') AND created_at < $1
                     ORDER BY created_at LIMIT $2",
                )
                .bind(micros(created_before))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                if !rows.is_empty() {
                    let sql = format!(
                        "DELETE FROM relais_imports WHERE id IN ({})",
                        placeholders($postgres, 1, rows.len()).join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (id, _) in &rows {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                with_formats(rows)
            }

            async fn existing_imports(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT id FROM relais_imports WHERE id IN ({})",
                    placeholders($postgres, 1, ids.len()).join(", ")
                );
                let mut q = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql));
                for id in ids {
                    q = q.bind(*id);
                }
                Ok(q.fetch_all(self.read()).await?)
            }
        }
    };
}

fn with_formats(rows: Vec<(Uuid, String)>) -> Result<Vec<(Uuid, FileFormat)>, StoreError> {
    rows.into_iter()
        .map(|(id, f)| {
            FileFormat::from_extension(&f)
                .map(|f| (id, f))
                .ok_or_else(|| corrupt(format!("unknown format `{f}`")))
        })
        .collect()
}

/// The connection type of a backend's transactions.
trait IssueConn {
    type Conn;
}

impl IssueConn for SqliteStore {
    type Conn = sqlx::SqliteConnection;
}

impl IssueConn for PgStore {
    type Conn = sqlx::PgConnection;
}

import_store!(SqliteStore, DbTx::Sqlite, false);
import_store!(PgStore, DbTx::Postgres, true);
