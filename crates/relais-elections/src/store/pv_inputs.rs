//! What the summary build reads of the PV rows: pages of complete SIRETs in SIRET order (then
//! date, undated last; collège; key), and the rows of given SIRETs, in the same order.
//!
//! On SQLite a page (or a set of SIRETs) is read through rusqlite on a reader's handle, in the
//! primary key's order (rows stored by SIRET), and sorted here: the driver's cost is per row and
//! per value, and a page is thousands of rows of some thirty values. On PostgreSQL the server
//! sorts; the full build's pass streams in the binary `COPY` format, decoded here as it comes.

use std::sync::LazyLock;

use futures_util::StreamExt;
use relais_platform::store::pg_copy::copy_out;
use relais_platform::store::{Db, StoreError};
use sqlx::Row as _;
use uuid::Uuid;

use super::pages::PageSender;
use super::pv::{ORDER, Values, decode_values};
use super::{Pages, RawRow, corrupt, on_sqlite_reader, pg_rows_of};
use crate::domain::PvRow;

/// What the summary reads, shaped like the stored columns (no key, région or source file; the
/// placeholders are named apart from the columns, which [`ORDER`] names).
const SUMMARY_INPUT: &str = "'' AS no_key, pv_number, siret, kind, election_date, cycle, \
    college, inscrits, votants, sve, cgt, cfdt, fo, cftc, cgc, unsa, solidaires, autre, \
    seats_to_fill, seats_cgt, seats_cfdt, seats_fo, seats_cftc, seats_cgc, seats_unsa, \
    seats_solidaires, seats_autre, raison_sociale, ville, cp, departement, \
    CAST(NULL AS TEXT) AS no_region, idcc, idcc_label, CAST(NULL AS TEXT) AS no_source";

/// What the summary reads on SQLite: [`SUMMARY_INPUT`] with the row key, for the sort here.
static SQLITE_INPUT: LazyLock<String> =
    LazyLock::new(|| SUMMARY_INPUT.replacen("'' AS no_key", "row_key", 1));

/// Reads PV rows through rusqlite and sorts them in [`ORDER`] (SQLite's: text by bytes, as
/// Rust compares strings).
fn sqlite_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<PvRow>, StoreError> {
    let mut statement = conn.prepare(sql)?;
    let mut rows = statement.query(params)?;
    let mut values = Vec::new();
    while let Some(row) = rows.next()? {
        values.push(decode_values!(RawRow(row)));
    }
    values.sort_unstable_by(|a, b| {
        (
            a.siret.as_str(),
            a.date.is_none(),
            a.date,
            a.college.as_str(),
            a.key.as_str(),
        )
            .cmp(&(
                b.siret.as_str(),
                b.date.is_none(),
                b.date,
                b.college.as_str(),
                b.key.as_str(),
            ))
    });
    values
        .into_iter()
        .map(|v| Ok(v.into_stored(Uuid::nil())?.row))
        .collect()
}

/// Rows of complete SIRETs after `after`, about `limit` of them: a page of the summary build's
/// pass over the table. Empty at the end.
pub async fn pv_page(db: &Db, after: &str, limit: usize) -> Result<Vec<PvRow>, StoreError> {
    let mut rows = match db {
        Db::Postgres(pool) => {
            let sql = format!(
                "SELECT {SUMMARY_INPUT} FROM elections_pv WHERE siret > $1 {ORDER} LIMIT $2"
            );
            let mut rows = Vec::with_capacity(limit);
            let mut stream = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(limit as i64)
                .fetch(pool);
            while let Some(row) = stream.next().await {
                rows.push(decode_values!(&row?).into_stored(Uuid::nil())?.row);
            }
            rows
        }
        Db::Sqlite { read, .. } => {
            on_sqlite_reader(read, |conn| {
                sqlite_rows(conn, &SQLITE_PAGE, rusqlite::params![after, limit as i64])
            })
            .await?
        }
    };
    match super::complete_sirets(&mut rows, limit, |r| r.siret.as_str()) {
        Some(only) => pv_inputs_of(db, &[only.as_str()]).await,
        None => Ok(rows),
    }
}

/// SQLite: a page of [`pv_page`], a range of the primary key (rows stored by SIRET); the page
/// is sorted after.
static SQLITE_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM elections_pv WHERE siret > ?1 ORDER BY siret, row_key LIMIT ?2",
        *SQLITE_INPUT
    )
});

/// SQLite: the rows of a set of SIRETs (a JSON array of keys), for [`pv_inputs_of`].
static SQLITE_INPUTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM elections_pv WHERE siret IN (SELECT value FROM json_each(?1))",
        *SQLITE_INPUT
    )
});

/// Every row of these SIRETs, in the order of [`pv_page`]: what the summary reads.
pub async fn pv_inputs_of(db: &Db, sirets: &[&str]) -> Result<Vec<PvRow>, StoreError> {
    let mut sirets = sirets.to_vec();
    sirets.sort_unstable();
    sirets.dedup();
    if sirets.is_empty() {
        return Ok(Vec::new());
    }
    match db {
        Db::Postgres(pool) => {
            let sql =
                format!("SELECT {SUMMARY_INPUT} FROM elections_pv WHERE siret = ANY($1) {ORDER}");
            pg_rows_of(pool, &sql, &sirets, |row| {
                Ok(decode_values!(row).into_stored(Uuid::nil())?.row)
            })
            .await
        }
        Db::Sqlite { read, .. } => {
            let keys = serde_json::to_string(&sirets).map_err(|e| corrupt(e.to_string()))?;
            on_sqlite_reader(read, |conn| sqlite_rows(conn, &SQLITE_INPUTS, [keys])).await
        }
    }
}

/// Every row in SIRET order (then date, undated last; collège; key), in pages of complete
/// SIRETs of about `page_rows` rows: the full build's pass. On SQLite, keyset pages read on the
/// read pool (short statements: no snapshot held for the whole pass), each a range of the
/// primary key, which stores rows by SIRET (only a page is sorted). On PostgreSQL, one statement streamed through a transaction, planned as a
/// sequential scan and a sort (a full pass in index order costs a random heap access per row;
/// the server's sort spills to disk beyond `work_mem`, so its memory is bounded too).
pub fn pv_pages(db: &Db, page_rows: usize) -> Pages<PvRow> {
    let page_rows = page_rows.max(1);
    match db {
        Db::Sqlite { .. } => {
            let db = db.clone();
            Pages::keyset(
                move |after| {
                    let db = db.clone();
                    async move { pv_page(&db, &after, page_rows).await }
                },
                |r: &PvRow| r.siret.as_str(),
            )
        }
        Db::Postgres(pool) => {
            let pool = pool.clone();
            Pages::spawn(move |sender| async move {
                let mut conn = pool.acquire().await?;
                match pg_pass(&mut conn, &sender, page_rows).await {
                    Ok(true) => Ok(()),
                    // The build stopped, or a row failed: closing the connection ends the
                    // statement, which would otherwise send the rest of the table to the
                    // connection's next user first.
                    outcome => {
                        let _ = conn.close().await;
                        outcome.map(|_| ())
                    }
                }
            })
        }
    }
}

/// PostgreSQL: the pass of [`pv_pages`] on `conn`, in pages sent to `sender`. True when it
/// read every row; false when the reader stopped first.
async fn pg_pass(
    conn: &mut sqlx::PgConnection,
    sender: &PageSender<PvRow>,
    page_rows: usize,
) -> Result<bool, StoreError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {SUMMARY_INPUT} FROM elections_pv {ORDER}"));
    let mut tx = sqlx::Connection::begin(conn).await?;
    // A sequential scan and a sort, by this connection alone: the server's parallel workers
    // would take the cores the build summarises on.
    sqlx::raw_sql(
        "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; \
         SET LOCAL max_parallel_workers_per_gather = 0",
    )
    .execute(&mut *tx)
    .await?;
    let mut rows = copy_out(&mut tx, &SQL).await?;
    let mut page: Vec<PvRow> = Vec::with_capacity(page_rows);
    while let Some(row) = rows.next().await? {
        let row = decode_values!(&row).into_stored(Uuid::nil())?.row;
        if page.len() >= page_rows && page.last().is_some_and(|r| r.siret != row.siret) {
            let full = std::mem::replace(&mut page, Vec::with_capacity(page_rows));
            if !sender.send(full).await {
                return Ok(false);
            }
        }
        page.push(row);
    }
    drop(rows);
    tx.commit().await?;
    if !page.is_empty() {
        sender.send(page).await;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use relais_platform::store::Db;
    use sqlx::Row as _;

    use super::{SQLITE_INPUTS, SQLITE_PAGE};

    /// How SQLite plans a statement (the `detail` column of `EXPLAIN QUERY PLAN`).
    async fn plan(read: &sqlx::SqlitePool, sql: &str, first: &str) -> Vec<String> {
        sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .bind(first)
            .bind(2_000_i64)
            .fetch_all(read)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect()
    }

    /// The build's reads of PV rows are ranges of the primary key (rows stored by SIRET), in
    /// its order (a page is sorted after). A page planned as a scan and a sort of the whole
    /// table makes the full build's pass quadratic in the rows (1M rows took 92 s that way).
    #[tokio::test]
    async fn sqlite_reads_of_pv_rows_walk_the_primary_key() {
        let (platform, dir) = super::super::sqlite_test_platform("plan").await;
        let Db::Sqlite { read, .. } = platform.store.db() else {
            panic!("a data directory opens SQLite");
        };
        let page = plan(read, &SQLITE_PAGE, "").await;
        assert!(
            page.iter()
                .any(|d| d.starts_with("SEARCH elections_pv USING PRIMARY KEY (siret>?)")),
            "{page:?}"
        );
        assert!(
            !page
                .iter()
                .any(|d| d.starts_with("SCAN elections_pv") || d.contains("TEMP B-TREE")),
            "{page:?}"
        );
        let inputs = plan(read, &SQLITE_INPUTS, "[\"73282932000074\"]").await;
        assert!(
            inputs
                .iter()
                .any(|d| d.starts_with("SEARCH elections_pv USING PRIMARY KEY (siret=?)")),
            "{inputs:?}"
        );
        platform.store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
