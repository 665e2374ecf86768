//! [`AuditStore`] on both backends. Reads and pruning share their SQL; appends differ. On SQLite
//! an append is one `BEGIN IMMEDIATE` transaction (the database's write lock): read the head,
//! insert, move the head. On PostgreSQL it is one statement that locks the head row only if it
//! is still the head this process last wrote (kept in memory), inserts and moves it; if another
//! process moved it, nothing is written and the append starts again from the new head. Either
//! way every process sharing the database extends one chain. Pruning locks the head row for its
//! transaction (`SELECT … FOR UPDATE` on PostgreSQL).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::tasks::{corrupt, micros, placeholders, time};
use super::{AuditStore, StoreError};
use crate::audit::chain;
use crate::audit::params::Params;
use crate::audit::{AuditCounts, AuditEntry, AuditFilter, AuditRecord, ChainState, PruneOutcome};

const COLUMNS: &str = "seq, at, actor, role, action, resource_type, resource_id, status, success,
    duration_us, client_addr, request_id, params, prev_hash, hash";

/// Columns per inserted row.
const WIDTH: usize = 15;

/// Rows per multi-row insert (15 parameters a row).
const CHUNK: usize = 100;

type EntryRow = (
    i64,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i32>,
    bool,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

fn entry(r: EntryRow) -> AuditEntry {
    AuditEntry {
        seq: r.0,
        record: AuditRecord {
            at: time(r.1),
            actor: r.2,
            role: r.3,
            action: r.4,
            resource_type: r.5,
            resource_id: r.6,
            status: r.7.and_then(|s| u16::try_from(s).ok()),
            success: r.8,
            duration_micros: r.9,
            client_addr: r.10,
            request_id: r.11,
            params: Params::stored(r.12),
        },
        prev_hash: r.13,
        hash: r.14,
    }
}

/// The multi-row insert of `rows` records (SQLite).
fn insert_sql(postgres: bool, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            format!(
                "({})",
                placeholders(postgres, 1 + r * WIDTH, WIDTH).join(", ")
            )
        })
        .collect();
    format!(
        "INSERT INTO relais_audit_log ({COLUMNS}) VALUES {}",
        values.join(", ")
    )
}

/// A bound value of a dynamically built statement.
enum Arg {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// `SELECT … WHERE <filters> ORDER BY seq DESC LIMIT n` and its arguments, in order.
fn list_sql(f: &AuditFilter) -> (String, Vec<Arg>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    let mut add = |clause: &str, arg: Arg| {
        args.push(arg);
        clauses.push(format!("{clause} ${}", args.len()));
    };
    if let Some(v) = &f.actor {
        add("actor =", Arg::Text(v.clone()));
    }
    if let Some(v) = &f.action {
        add("action =", Arg::Text(v.clone()));
    }
    if let Some(v) = &f.resource_type {
        add("resource_type =", Arg::Text(v.clone()));
    }
    if let Some(v) = &f.resource_id {
        add("resource_id =", Arg::Text(v.clone()));
    }
    if let Some(v) = f.success {
        add("success =", Arg::Bool(v));
    }
    if let Some(v) = &f.request_id {
        add("request_id =", Arg::Text(v.clone()));
    }
    if let Some(v) = f.from {
        add("at >=", Arg::Int(micros(v)));
    }
    if let Some(v) = f.to {
        add("at <", Arg::Int(micros(v)));
    }
    if let Some(v) = f.before_seq {
        add("seq <", Arg::Int(v));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    args.push(Arg::Int(i64::from(f.limit)));
    let sql = format!(
        "SELECT {COLUMNS} FROM relais_audit_log {filter} ORDER BY seq DESC LIMIT ${}",
        args.len()
    );
    (sql, args)
}

const DAY_MICROS: i64 = 86_400_000_000;

/// Links `records` after `(head_seq, head_hash)`: each one's `(seq, prev_hash, hash)`.
fn link_all(
    head_seq: i64,
    head_hash: String,
    records: &[AuditRecord],
) -> Vec<(i64, String, String)> {
    let mut prev = head_hash;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let seq = head_seq + 1 + i as i64;
            let hash = chain::link(&prev, seq, r);
            (seq, std::mem::replace(&mut prev, hash.clone()), hash)
        })
        .collect()
}

/// SQLite: the single writer connection under `BEGIN IMMEDIATE` holds the database's write lock
/// (every process's), so the head read in the transaction is the head.
async fn append_sqlite(
    store: &SqliteStore,
    records: &mut Vec<AuditRecord>,
    top_up: &mut (dyn for<'r> FnMut(&'r mut Vec<AuditRecord>) + Send),
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut tx = store.begin_write().await?;
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT head_seq, head_hash FROM relais_audit_chain WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
    top_up(records);
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let linked = link_all(head_seq, head_hash, records);
    for (rows, chunk) in records.chunks(CHUNK).zip(linked.chunks(CHUNK)) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_sql(false, rows.len())));
        for (r, (seq, prev_hash, hash)) in rows.iter().zip(chunk) {
            q = q
                .bind(*seq)
                .bind(micros(r.at))
                .bind(&r.actor)
                .bind(&r.role)
                .bind(&r.action)
                .bind(&r.resource_type)
                .bind(&r.resource_id)
                .bind(r.status.map(i32::from))
                .bind(r.success)
                .bind(r.duration_micros)
                .bind(&r.client_addr)
                .bind(&r.request_id)
                .bind(r.params.as_str())
                .bind(prev_hash)
                .bind(hash);
        }
        q.execute(&mut *tx).await?;
    }
    let (last_seq, _, last_hash) = linked.last().expect("records is not empty");
    sqlx::query("UPDATE relais_audit_chain SET head_seq = $1, head_hash = $2 WHERE id = 1")
        .bind(*last_seq)
        .bind(last_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(linked
        .into_iter()
        .map(|(seq, _, hash)| (seq, hash))
        .collect())
}

/// PostgreSQL, one statement: lock the head row if it is still the head this process last saw,
/// and only then insert the batch (arrays through `unnest`: one prepared statement whatever the
/// batch size) and move the head. When another process moved the head meanwhile, the lock finds
/// no such row, nothing is written, and the caller reads the head again.
const APPEND_POSTGRES: &str = "WITH head AS (
        SELECT id FROM relais_audit_chain WHERE id = 1 AND head_seq = $1 FOR UPDATE
    ), written AS (
        INSERT INTO relais_audit_log (seq, at, actor, role, action, resource_type, resource_id,
            status, success, duration_us, client_addr, request_id, params, prev_hash, hash)
        SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::int[], $10::boolean[], $11::bigint[], $12::text[],
            $13::text[], $14::text[], $15::text[], $16::text[])
        WHERE EXISTS (SELECT 1 FROM head)
        RETURNING 1
    ), moved AS (
        UPDATE relais_audit_chain SET head_seq = $17, head_hash = $18
        WHERE id = 1 AND EXISTS (SELECT 1 FROM head)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM moved)";

/// How many times a batch is retried when other processes keep moving the head.
const APPEND_ATTEMPTS: usize = 50;

async fn append_postgres(
    store: &PgStore,
    records: &mut Vec<AuditRecord>,
    top_up: &mut (dyn for<'r> FnMut(&'r mut Vec<AuditRecord>) + Send),
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut conn = store.write().acquire().await?;
    top_up(records);
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let cached = store
        .audit_head
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut head = match cached {
        Some(head) => head,
        None => read_head(&mut conn).await?,
    };
    let columns = Columns::of(records);
    for _ in 0..APPEND_ATTEMPTS {
        let linked = link_all(head.0, head.1.clone(), records);
        let (last_seq, _, last_hash) = linked.last().expect("records is not empty").clone();
        let seqs: Vec<i64> = linked.iter().map(|l| l.0).collect();
        let prevs: Vec<&str> = linked.iter().map(|l| l.1.as_str()).collect();
        let hashes: Vec<&str> = linked.iter().map(|l| l.2.as_str()).collect();
        let outcome: Result<(i64, i64), sqlx::Error> = sqlx::query_as(APPEND_POSTGRES)
            .bind(head.0)
            .bind(&seqs)
            .bind(&columns.at)
            .bind(&columns.actor)
            .bind(&columns.role)
            .bind(&columns.action)
            .bind(&columns.resource_type)
            .bind(&columns.resource_id)
            .bind(&columns.status)
            .bind(&columns.success)
            .bind(&columns.duration)
            .bind(&columns.client_addr)
            .bind(&columns.request_id)
            .bind(&columns.params)
            .bind(&prevs)
            .bind(&hashes)
            .bind(last_seq)
            .bind(&last_hash)
            .fetch_one(&mut *conn)
            .await;
        let written = match outcome {
            Ok(counts) => counts,
            Err(e) => {
                *store.audit_head.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return Err(e.into());
            }
        };
        match written {
            (n, 1) if n == records.len() as i64 => {
                *store.audit_head.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((last_seq, last_hash));
                return Ok(linked
                    .into_iter()
                    .map(|(seq, _, hash)| (seq, hash))
                    .collect());
            }
            (0, 0) => head = read_head(&mut conn).await?,
            other => {
                return Err(corrupt(format!(
                    "audit append wrote {other:?} (rows, head) for {} records",
                    records.len()
                )));
            }
        }
    }
    *store.audit_head.lock().unwrap_or_else(|e| e.into_inner()) = None;
    Err(StoreError::Conflict(format!(
        "the audit chain head kept moving: {APPEND_ATTEMPTS} attempts"
    )))
}

async fn read_head(conn: &mut sqlx::PgConnection) -> Result<(i64, String), StoreError> {
    Ok(
        sqlx::query_as("SELECT head_seq, head_hash FROM relais_audit_chain WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// A batch as one array per column, for `unnest`.
struct Columns<'a> {
    at: Vec<i64>,
    actor: Vec<&'a str>,
    role: Vec<Option<&'a str>>,
    action: Vec<&'a str>,
    resource_type: Vec<Option<&'a str>>,
    resource_id: Vec<Option<&'a str>>,
    status: Vec<Option<i32>>,
    success: Vec<bool>,
    duration: Vec<i64>,
    client_addr: Vec<Option<&'a str>>,
    request_id: Vec<Option<&'a str>>,
    params: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(records: &'a [AuditRecord]) -> Self {
        Columns {
            at: records.iter().map(|r| micros(r.at)).collect(),
            actor: records.iter().map(|r| r.actor.as_str()).collect(),
            role: records.iter().map(|r| r.role.as_deref()).collect(),
            action: records.iter().map(|r| r.action.as_str()).collect(),
            resource_type: records.iter().map(|r| r.resource_type.as_deref()).collect(),
            resource_id: records.iter().map(|r| r.resource_id.as_deref()).collect(),
            status: records.iter().map(|r| r.status.map(i32::from)).collect(),
            success: records.iter().map(|r| r.success).collect(),
            duration: records.iter().map(|r| r.duration_micros).collect(),
            client_addr: records.iter().map(|r| r.client_addr.as_deref()).collect(),
            request_id: records.iter().map(|r| r.request_id.as_deref()).collect(),
            params: records.iter().map(|r| r.params.as_str()).collect(),
        }
    }
}

macro_rules! audit_store {
    ($store:ty, $append:ident, $lock:literal) => {
        #[async_trait]
        impl AuditStore for $store {
            async fn append_audit(
                &self,
                records: &mut Vec<AuditRecord>,
                top_up: &mut (dyn for<'r> FnMut(&'r mut Vec<AuditRecord>) + Send),
            ) -> Result<Vec<(i64, String)>, StoreError> {
                $append(self, records, top_up).await
            }

            async fn audit_chain(&self) -> Result<ChainState, StoreError> {
                let (head_seq, head_hash, anchor_seq, anchor_hash): (i64, String, i64, String) =
                    sqlx::query_as(
                        "SELECT head_seq, head_hash, anchor_seq, anchor_hash
                         FROM relais_audit_chain WHERE id = 1",
                    )
                    .fetch_one(self.read())
                    .await?;
                Ok(ChainState {
                    head_seq,
                    head_hash,
                    anchor_seq,
                    anchor_hash,
                })
            }

            async fn audit_entries(
                &self,
                after_seq: i64,
                through_seq: i64,
                limit: u32,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                let rows: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM relais_audit_log WHERE seq > $1 AND seq <= $2
                     ORDER BY seq LIMIT $3"
                )))
                .bind(after_seq)
                .bind(through_seq)
                .bind(i64::from(limit))
                .fetch_all(self.read())
                .await?;
                Ok(rows.into_iter().map(entry).collect())
            }

            async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
                let (sql, args) = list_sql(filter);
                let mut q = sqlx::query_as::<_, EntryRow>(sqlx::AssertSqlSafe(sql));
                for arg in args {
                    q = match arg {
                        Arg::Text(v) => q.bind(v),
                        Arg::Int(v) => q.bind(v),
                        Arg::Bool(v) => q.bind(v),
                    };
                }
                let rows = q.fetch_all(self.read()).await?;
                Ok(rows.into_iter().map(entry).collect())
            }

            async fn audit_counts(&self, since: DateTime<Utc>) -> Result<AuditCounts, StoreError> {
                let since = micros(since);
                let mut conn = self.read().acquire().await?;
                let by_success: Vec<(bool, i64)> = sqlx::query_as(
                    "SELECT success, COUNT(*) FROM relais_audit_log WHERE at >= $1 GROUP BY success",
                )
                .bind(since)
                .fetch_all(&mut *conn)
                .await?;
                let top = i64::from(AuditCounts::TOP);
                let by_actor: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT actor, COUNT(*) AS n FROM relais_audit_log WHERE at >= $1
                     GROUP BY actor ORDER BY n DESC, actor LIMIT $2",
                )
                .bind(since)
                .bind(top)
                .fetch_all(&mut *conn)
                .await?;
                let by_resource_type: Vec<(Option<String>, i64)> = sqlx::query_as(
                    "SELECT resource_type, COUNT(*) AS n FROM relais_audit_log WHERE at >= $1
                     GROUP BY resource_type ORDER BY n DESC, resource_type LIMIT $2",
                )
                .bind(since)
                .bind(top)
                .fetch_all(&mut *conn)
                .await?;
                let by_action: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT action, COUNT(*) AS n FROM relais_audit_log WHERE at >= $1
                     GROUP BY action ORDER BY n DESC, action LIMIT $2",
                )
                .bind(since)
                .bind(top)
                .fetch_all(&mut *conn)
                .await?;
                let per_day: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT at / $2 AS day, COUNT(*), SUM(CASE WHEN success THEN 0 ELSE 1 END)
                     FROM relais_audit_log WHERE at >= $1 GROUP BY day ORDER BY day",
                )
                .bind(since)
                .bind(DAY_MICROS)
                .fetch_all(&mut *conn)
                .await?;
                let count = |ok: bool| {
                    by_success
                        .iter()
                        .filter(|(s, _)| *s == ok)
                        .map(|(_, n)| n)
                        .sum::<i64>()
                };
                let (succeeded, failed) = (count(true), count(false));
                Ok(AuditCounts {
                    total: succeeded + failed,
                    succeeded,
                    failed,
                    by_actor,
                    by_resource_type,
                    by_action,
                    per_day,
                })
            }

            async fn prune_audit(
                &self,
                before: DateTime<Utc>,
                batch: u32,
            ) -> Result<Option<PruneOutcome>, StoreError> {
                let mut tx = self.begin_write().await?;
                let (anchor_seq, head_seq): (i64, i64) = sqlx::query_as(concat!(
                    "SELECT anchor_seq, head_seq FROM relais_audit_chain WHERE id = 1",
                    $lock
                ))
                .fetch_one(&mut *tx)
                .await?;
                // The oldest records, in sequence order, up to the first one still kept.
                let young: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM relais_audit_log WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT 1",
                )
                .bind(anchor_seq)
                .bind(micros(before))
                .fetch_optional(&mut *tx)
                .await?;
                let through = young
                    .map_or(head_seq, |y| y - 1)
                    .min(head_seq)
                    .min(anchor_seq + i64::from(batch));
                if through <= anchor_seq {
                    tx.commit().await?;
                    return Ok(None);
                }
                let hash: Option<String> =
                    sqlx::query_scalar("SELECT hash FROM relais_audit_log WHERE seq = $1")
                        .bind(through)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(anchor_hash) = hash else {
                    return Err(corrupt(format!(
                        "audit record {through} is missing, so it cannot become the anchor; run `relais audit verify`"
                    )));
                };
                let deleted = sqlx::query("DELETE FROM relais_audit_log WHERE seq > $1 AND seq <= $2")
                    .bind(anchor_seq)
                    .bind(through)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query(
                    "UPDATE relais_audit_chain SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1",
                )
                .bind(through)
                .bind(&anchor_hash)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(PruneOutcome {
                    deleted,
                    anchor_seq: through,
                    anchor_hash,
                }))
            }
        }
    };
}

audit_store!(SqliteStore, append_sqlite, "");
audit_store!(PgStore, append_postgres, " FOR UPDATE");
