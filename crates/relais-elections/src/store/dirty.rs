//! The dirty list (`elections_dirty`): SIRETs whose PV rows or invitations changed since the
//! summary last took them, each marked with a value of the dirty counter
//! (`elections_dirty_clock`) taken in the marking transaction; and the other lists a build
//! walks (summaries past their `valid_until`, the count of SIRETs to summarise).

use chrono::NaiveDate;
use relais_platform::store::{Db, DbTx, StoreError};

use super::{chunks, on_tx, tuples};

/// Records that the summary of these SIRETs must be computed again (sorted and deduplicated
/// here, so concurrent transactions take their locks in one order). The marks take the next
/// value of the dirty counter, whose row stays locked until the transaction ends (see
/// [`dirty_clock`]).
pub(crate) async fn mark_dirty(tx: &mut DbTx, mut sirets: Vec<String>) -> Result<(), StoreError> {
    sirets.sort_unstable();
    sirets.dedup();
    if sirets.is_empty() {
        return Ok(());
    }
    let seq = next_dirty_seq(tx).await?;
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query(
                "INSERT INTO elections_dirty (siret, seq) SELECT s, $2 FROM UNNEST($1::text[]) AS s
                 ON CONFLICT (siret) DO UPDATE SET seq = excluded.seq",
            )
            .bind(&sirets)
            .bind(seq)
            .execute(&mut **t)
            .await?;
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(&sirets) {
                let sql = format!(
                    "INSERT INTO elections_dirty (siret, seq) VALUES {}
                     ON CONFLICT (siret) DO UPDATE SET seq = excluded.seq",
                    tuples(chunk.len(), 2)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    query = query.bind(s).bind(seq);
                }
                query.execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// The next value of the dirty counter, for the marks of this transaction. Taking it locks the
/// counter's row until the transaction ends: marking transactions take values in commit order.
pub(crate) async fn next_dirty_seq(tx: &mut DbTx) -> Result<i64, StoreError> {
    const SQL: &str = "UPDATE elections_dirty_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq";
    Ok(on_tx!(tx, |conn| sqlx::query_scalar(SQL)
        .fetch_one(&mut *conn)
        .await?))
}

/// The dirty counter's committed value: every mark valued this or less was committed before it
/// was read, and every mark made or renewed later will be valued more. A build takes it before
/// reading what it recomputes, and removes only marks valued at most this.
pub async fn dirty_clock(db: &Db) -> Result<i64, StoreError> {
    const SQL: &str = "SELECT seq FROM elections_dirty_clock WHERE id = 1";
    Ok(match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQL).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
    })
}

/// The SIRETs marked for a new summary, in order.
pub async fn dirty_sirets(db: &Db) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT siret FROM elections_dirty ORDER BY siret";
    Ok(match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQL).fetch_all(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await?,
    })
}

/// Marked SIRETs valued at most `upto`, after `after` in SIRET order, at most `limit`.
pub async fn dirty_page(
    db: &Db,
    upto: i64,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT siret FROM elections_dirty WHERE seq <= $1 AND siret > $2
        ORDER BY siret LIMIT $3";
    Ok(match db {
        Db::Sqlite { read, .. } => {
            sqlx::query_scalar(SQL)
                .bind(upto)
                .bind(after)
                .bind(limit as i64)
                .fetch_all(read)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar(SQL)
                .bind(upto)
                .bind(after)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
        }
    })
}

/// Marked SIRETs (valued at most `upto`, when given).
pub async fn dirty_count(db: &Db, upto: Option<i64>) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT COUNT(*) FROM elections_dirty WHERE seq <= $1";
    let upto = upto.unwrap_or(i64::MAX);
    let n: i64 = match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQL).bind(upto).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(SQL).bind(upto).fetch_one(pool).await?,
    };
    Ok(n as u64)
}

/// Removes the marks of these SIRETs valued at most `upto` (a mark renewed since stays).
pub(crate) async fn clear_dirty(
    tx: &mut DbTx,
    sirets: &[&str],
    upto: i64,
) -> Result<(), StoreError> {
    if sirets.is_empty() {
        return Ok(());
    }
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query("DELETE FROM elections_dirty WHERE siret = ANY($1) AND seq <= $2")
                .bind(sirets)
                .bind(upto)
                .execute(&mut **t)
                .await?;
        }
        DbTx::Sqlite(t) => {
            let keys = serde_json::to_string(sirets)
                .map_err(|e| super::corrupt(format!("SIRETs as JSON: {e}")))?;
            sqlx::query(
                "DELETE FROM elections_dirty
                 WHERE seq <= ?1 AND siret IN (SELECT value FROM json_each(?2))",
            )
            .bind(upto)
            .bind(keys)
            .execute(&mut **t)
            .await?;
        }
    }
    Ok(())
}

/// Removes every mark valued at most `upto` (what a full build covered).
pub(crate) async fn clear_dirty_upto(tx: &mut DbTx, upto: i64) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, |conn| sqlx::query(
        "DELETE FROM elections_dirty WHERE seq <= $1"
    )
    .bind(upto)
    .execute(&mut *conn)
    .await?
    .rows_affected()))
}

/// After a full build removed its marks (as many as SIRETs), on PostgreSQL: the dead rows
/// vacuumed away. Until then every read of the marks walks them (the first incremental build
/// after a full build of 10M rows took 2.7 s, 2.3 s of it in finding its 1,000 marks), and
/// autovacuum may be off or late. SQLite reuses the freed pages itself.
pub(crate) async fn vacuum_dirty(db: &Db) -> Result<(), StoreError> {
    if let Db::Postgres(pool) = db {
        // A statement of its own: VACUUM cannot run in a transaction.
        sqlx::raw_sql("VACUUM (ANALYZE) elections_dirty")
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// SIRETs whose summary is due again on `today` (`valid_until` reached), after `after` in
/// SIRET order, at most `limit`.
pub async fn stale_page(
    db: &Db,
    today: NaiveDate,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT siret FROM elections_summary
        WHERE valid_until IS NOT NULL AND valid_until <= $1 AND siret > $2
        ORDER BY siret LIMIT $3";
    Ok(match db {
        Db::Sqlite { read, .. } => {
            sqlx::query_scalar(SQL)
                .bind(today)
                .bind(after)
                .bind(limit as i64)
                .fetch_all(read)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar(SQL)
                .bind(today)
                .bind(after)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
        }
    })
}

/// Summaries due again on `today`.
pub async fn stale_count(db: &Db, today: NaiveDate) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT COUNT(*) FROM elections_summary
        WHERE valid_until IS NOT NULL AND valid_until <= $1";
    let n: i64 = match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQL).bind(today).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(SQL).bind(today).fetch_one(pool).await?,
    };
    Ok(n as u64)
}

/// SIRETs with PV rows or invitations: what a full build summarises.
pub async fn input_siret_count(db: &Db) -> Result<u64, StoreError> {
    // SQLite walks both tables' keys in SIRET order; PostgreSQL hashes one pass over each (its
    // `COUNT(DISTINCT)` sorts, and ran beside the build's own pass for twice the time).
    const SQLITE: &str = "SELECT
        (SELECT COUNT(DISTINCT siret) FROM elections_pv)
        + (SELECT COUNT(DISTINCT i.siret) FROM elections_invitations i
           WHERE NOT EXISTS (SELECT 1 FROM elections_pv p WHERE p.siret = i.siret))";
    const POSTGRES: &str = "SELECT COUNT(*) FROM
        (SELECT siret FROM elections_pv UNION SELECT siret FROM elections_invitations) s";
    let n: i64 = match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQLITE).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(POSTGRES).fetch_one(pool).await?,
    };
    Ok(n as u64)
}
