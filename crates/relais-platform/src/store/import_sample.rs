//! Storage of the built-in `sample` import type (`relais_import_sample`), on both backends, in
//! the import's transaction. SQLite takes multi-row statements (anonymous placeholders);
//! PostgreSQL takes whole batches as arrays (`ANY`, `UNNEST`), which it parses and binds far
//! faster than thousands of placeholders.

use std::collections::HashMap;

use sqlx::Row as _;
use uuid::Uuid;

use super::tasks::placeholders;
use super::{Db, DbTx, StoreError};
use crate::imports::Written;
use crate::imports::sample::SampleRow;

/// Rows per statement (7 parameters a row).
const CHUNK: usize = 500;

type Stored = (
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $pg:ident| $body:expr) => {
        match $tx {
            DbTx::Sqlite(t) => {
                let $conn = &mut **t;
                let $pg = false;
                $body
            }
            DbTx::Postgres(t) => {
                let $conn = &mut **t;
                let $pg = true;
                $body
            }
        }
    };
}

fn day(r: &SampleRow) -> Option<String> {
    r.day.map(|d| d.format("%Y-%m-%d").to_string())
}

fn stored(r: &SampleRow) -> Stored {
    (
        r.name.clone(),
        r.email.clone(),
        r.amount_cents,
        day(r),
        r.group.clone(),
    )
}

/// Upserts `records` by code (the last of duplicate codes wins; earlier ones count as updated).
/// Rows equal to the stored ones are not written unless `touch_unchanged` (then they are marked
/// as written by `import_id`, which `replace` relies on).
pub(crate) async fn upsert(
    tx: &mut DbTx,
    records: Vec<SampleRow>,
    import_id: Uuid,
    touch_unchanged: bool,
) -> Result<Written, StoreError> {
    let mut last: HashMap<String, usize> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(r.code.clone(), i);
    }
    let superseded = (records.len() - last.len()) as u64;
    let rows: Vec<SampleRow> = records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| last.get(&r.code) == Some(i))
        .map(|(_, r)| r)
        .collect();
    let mut existing: HashMap<String, Stored> = HashMap::with_capacity(rows.len());
    if let DbTx::Postgres(t) = &mut *tx {
        // One array parameter instead of a placeholder per row.
        let codes: Vec<&str> = rows.iter().map(|r| r.code.as_str()).collect();
        let found = sqlx::query(
            "SELECT code, name, email, amount_cents, day, grp FROM relais_import_sample
             WHERE code = ANY($1)",
        )
        .bind(&codes)
        .fetch_all(&mut **t)
        .await?;
        for row in found {
            existing.insert(
                row.try_get(0)?,
                (
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                    row.try_get(5)?,
                ),
            );
        }
    }
    let sqlite_rows: &[SampleRow] = if matches!(tx, DbTx::Sqlite(_)) {
        &rows
    } else {
        &[]
    };
    for chunk in sqlite_rows.chunks(CHUNK) {
        on_tx!(&mut *tx, |conn, pg| {
            let sql = format!(
                "SELECT code, name, email, amount_cents, day, grp FROM relais_import_sample WHERE code IN ({})",
                placeholders(pg, 1, chunk.len()).join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                query = query.bind(&r.code);
            }
            for row in query.fetch_all(conn).await? {
                existing.insert(
                    row.try_get(0)?,
                    (
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                    ),
                );
            }
        });
    }
    let mut written = Written {
        updated: superseded,
        ..Written::default()
    };
    let mut to_write: Vec<&SampleRow> = Vec::with_capacity(rows.len());
    for r in &rows {
        match existing.get(&r.code) {
            None => {
                written.inserted += 1;
                to_write.push(r);
            }
            Some(s) if *s != stored(r) => {
                written.updated += 1;
                to_write.push(r);
            }
            Some(_) => {
                written.unchanged += 1;
                if touch_unchanged {
                    to_write.push(r);
                }
            }
        }
    }
    if let DbTx::Postgres(t) = &mut *tx {
        if !to_write.is_empty() {
            let col = |f: fn(&SampleRow) -> Option<String>| -> Vec<Option<String>> {
                to_write.iter().map(|r| f(r)).collect()
            };
            let codes: Vec<&str> = to_write.iter().map(|r| r.code.as_str()).collect();
            let names: Vec<&str> = to_write.iter().map(|r| r.name.as_str()).collect();
            let amounts: Vec<Option<i64>> = to_write.iter().map(|r| r.amount_cents).collect();
            sqlx::query(
                "INSERT INTO relais_import_sample (code, name, email, amount_cents, day, grp, import_id)
                 SELECT u.code, u.name, u.email, u.amount_cents, u.day, u.grp, $7
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[])
                    AS u(code, name, email, amount_cents, day, grp)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name,
                    email = excluded.email, amount_cents = excluded.amount_cents,
                    day = excluded.day, grp = excluded.grp, import_id = excluded.import_id",
            )
            .bind(&codes)
            .bind(&names)
            .bind(col(|r| r.email.clone()))
            .bind(&amounts)
            .bind(col(day))
            .bind(col(|r| r.group.clone()))
            .bind(import_id)
            .execute(&mut **t)
            .await?;
        }
        return Ok(written);
    }
    for chunk in to_write.chunks(CHUNK) {
        on_tx!(&mut *tx, |conn, pg| {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(pg, 1 + i * 7, 7).join(", ")))
                .collect();
            let sql = format!(
                "INSERT INTO relais_import_sample (code, name, email, amount_cents, day, grp, import_id)
                 VALUES {} ON CONFLICT (code) DO UPDATE SET name = excluded.name,
                    email = excluded.email, amount_cents = excluded.amount_cents,
                    day = excluded.day, grp = excluded.grp, import_id = excluded.import_id",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                query = query
                    .bind(&r.code)
                    .bind(&r.name)
                    .bind(&r.email)
                    .bind(r.amount_cents)
                    .bind(day(r))
                    .bind(&r.group)
                    .bind(import_id);
            }
            query.execute(conn).await?;
        });
    }
    Ok(written)
}

/// Deletes the rows of group `scope` that import `import_id` did not write; returns how many.
pub(crate) async fn delete_others(
    tx: &mut DbTx,
    scope: &str,
    import_id: Uuid,
) -> Result<u64, StoreError> {
    let done = on_tx!(tx, |conn, _pg| {
        sqlx::query("DELETE FROM relais_import_sample WHERE grp = $1 AND import_id <> $2")
            .bind(scope)
            .bind(import_id)
            .execute(conn)
            .await?
            .rows_affected()
    });
    Ok(done)
}

/// Every stored row, by code, with the import that last wrote it.
pub(crate) async fn rows(db: &Db) -> Result<Vec<(SampleRow, Uuid)>, StoreError> {
    const SQL: &str = "SELECT code, name, email, amount_cents, day, grp, import_id
        FROM relais_import_sample ORDER BY code";
    type R = (
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Uuid,
    );
    let raw: Vec<R> = match db {
        Db::Sqlite { read, .. } => sqlx::query_as(SQL).fetch_all(read).await?,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
    };
    Ok(raw
        .into_iter()
        .map(|(code, name, email, amount_cents, day, group, import)| {
            (
                SampleRow {
                    code,
                    name,
                    email,
                    amount_cents,
                    day: day.and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                    group,
                },
                import,
            )
        })
        .collect())
}

/// Empties the table (benchmarks start each run from an empty table): `DELETE` on SQLite (which
/// truncates), `TRUNCATE` on PostgreSQL (no dead rows left to slow the next run down).
pub(crate) async fn clear(db: &Db) -> Result<(), StoreError> {
    match db {
        Db::Sqlite { write, .. } => {
            sqlx::query("DELETE FROM relais_import_sample")
                .execute(write)
                .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query("TRUNCATE relais_import_sample")
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}
