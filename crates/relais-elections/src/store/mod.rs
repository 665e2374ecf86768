//! The app's storage: the only module with SQL. It runs on either backend through the
//! platform's [`Db`] pools (reads) and an import's [`DbTx`] (writes, in the transaction that
//! also records the import's progress).
//!
//! Writes are batched: SQLite takes multi-row statements (split into chunks of a few fixed
//! sizes, so the driver's statement cache holds every shape), or, for the summary build's bulk
//! reads and writes, statements stepped per row through rusqlite on the driver's handle;
//! PostgreSQL takes a whole batch as arrays (`ANY`, `UNNEST`) in one statement. Shared SQL is
//! used wherever the two dialects agree.

mod dirty;
mod invitations;
mod pages;
mod pv;
mod pv_inputs;
mod read;
mod rebuild;
mod summary;
mod summary_cycles;
mod summary_read;

pub(crate) use dirty::{clear_dirty, clear_dirty_upto, mark_dirty, next_dirty_seq, vacuum_dirty};
pub use dirty::{
    dirty_clock, dirty_count, dirty_page, dirty_sirets, input_siret_count, stale_count, stale_page,
};
pub use invitations::{
    StoredInvitation, invitation_inputs_of, invitation_page, invitation_pages, invitations_of,
    upsert_invitations,
};
pub use pages::Pages;
pub(crate) use pv::delete_cycle_except;
pub use pv::{PvTotals, StoredPv, pv_rows_of, stream_pv, totals, upsert_pv};
pub use pv_inputs::{pv_inputs_of, pv_page, pv_pages};
pub use read::{
    CycleFact, DataVersion, Order, PageKey, PvFact, Search, SortKey, SortValue, SummaryFact,
    SummaryFilter, SummaryPage, data_version, each_cycle_fact, each_invitation_date, each_pv_fact,
    each_summary_fact, summary_filter_count, summary_page,
};
pub(crate) use rebuild::{begin_rebuild, drop_rebuild, index_rebuild, swap_rebuild};
pub use summary::{
    StoredCycle, StoredPap, StoredSummary, SummaryState, delete_summaries, summary_count,
    summary_state, write_summaries,
};
pub(crate) use summary::{
    SummaryChanges, next_generation, record_build, write_changes, write_next_summaries,
};
pub(crate) use summary_read::build_summaries_of;
pub use summary_read::{summaries_after, summaries_of, summary_of};

use relais_platform::store::pg_copy::{CopyRow, copy_out};
use relais_platform::store::{StoreError, with_sqlite_handle};

/// Runs `$body` with `$conn` the transaction's connection on either backend.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            DbTx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            DbTx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Rows per SQLite statement at most.
const MAX_CHUNK: usize = 256;

/// The sizes a batch of `n` rows is written in on SQLite: full chunks of [`MAX_CHUNK`], then
/// powers of two, so a handful of statement shapes cover every batch.
fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n >= MAX_CHUNK {
        sizes.push(MAX_CHUNK);
        n -= MAX_CHUNK;
    }
    let mut p = MAX_CHUNK / 2;
    while n > 0 {
        if n >= p {
            sizes.push(p);
            n -= p;
        }
        p /= 2;
    }
    sizes
}

/// `items` cut by [`chunk_sizes`].
fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut at = 0;
    chunk_sizes(items.len()).into_iter().map(move |n| {
        let chunk = &items[at..at + n];
        at += n;
        chunk
    })
}

/// `(?, ?, …)` with `n` placeholders (SQLite).
fn tuple(n: usize) -> String {
    let mut s = String::with_capacity(2 + 3 * n);
    s.push('(');
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s.push(')');
    s
}

/// `rows` tuples of `width` placeholders, comma-separated (SQLite).
fn tuples(rows: usize, width: usize) -> String {
    let one = tuple(width);
    let mut s = String::with_capacity(rows * (one.len() + 2));
    for i in 0..rows {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&one);
    }
    s
}

/// Runs `f` on a connection of the SQLite read pool, through rusqlite (see
/// [`with_sqlite_handle`]): bulk reads step rows and read their values in place, where the
/// driver would decode each value apart.
async fn on_sqlite_reader<R>(
    read: &sqlx::SqlitePool,
    f: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut conn = read.acquire().await?;
    with_sqlite_handle(&mut conn, f).await
}

/// A rusqlite row read through the `try_get` of the driver's rows, so that one decoding macro
/// serves both.
struct RawRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl RawRow<'_, '_> {
    fn try_get<T: rusqlite::types::FromSql, I: rusqlite::RowIndex>(
        &self,
        index: I,
    ) -> Result<T, rusqlite::Error> {
        self.0.get(index)
    }
}

/// The JSON text of a batch (SQLite).
fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(format!("a batch as JSON: {e}")))
}

/// PostgreSQL: the rows `sql` selects for these SIRETs (`siret = ANY($1)`), decoded by
/// `decode`, read in a transaction planned without sequential scans: without statistics on a
/// table (autovacuum has not analysed it yet, or does not run), the planner may take such a
/// filter for most of the table and scan all of it, where the SIRET indexes find a batch's rows
/// directly. The rows come in the binary `COPY` format (decoded as they are read, without a
/// row object per row); a `COPY` takes no parameter, so `$1` is replaced by the keys as an
/// array literal ([`text_array`]).
async fn pg_rows_of<T>(
    pool: &sqlx::PgPool,
    sql: &str,
    keys: &[&str],
    mut decode: impl FnMut(&CopyRow<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql("SET LOCAL enable_seqscan = off; SET LOCAL standard_conforming_strings = on")
        .execute(&mut *tx)
        .await?;
    let query = sql.replacen("$1", &text_array(keys), 1);
    let mut rows = copy_out(&mut tx, &query).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(decode(&row)?);
    }
    drop(rows);
    tx.commit().await?;
    Ok(out)
}

/// Keys as a PostgreSQL `text[]` literal: each element double-quoted (backslash and double
/// quote escaped, as the array syntax wants), the whole a string literal (single quotes
/// doubled; the caller's transaction sets `standard_conforming_strings`, so backslashes are
/// the array's).
fn text_array(keys: &[&str]) -> String {
    let mut out = String::from("'{");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in key.chars() {
            match c {
                '\\' | '"' => {
                    out.push('\\');
                    out.push(c);
                }
                '\'' => out.push_str("''"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push_str("}'::text[]");
    out
}

/// A stored value that no import could have written.
fn corrupt(what: String) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!("elections: {what}")))
}

/// Cuts a page read in SIRET order with `LIMIT limit` back to complete SIRETs: when the page
/// is full, the rows of its last SIRET (maybe cut short) are dropped, and read again by the next
/// page. Returns that SIRET when it was alone in the page: the caller reads all its rows.
fn complete_sirets<T>(
    rows: &mut Vec<T>,
    limit: usize,
    siret: impl Fn(&T) -> &str,
) -> Option<String> {
    if rows.len() < limit {
        return None;
    }
    let last = siret(rows.last()?).to_owned();
    let first = rows.iter().position(|r| siret(r) == last)?;
    if first == 0 {
        return Some(last);
    }
    rows.truncate(first);
    None
}

/// A SQLite platform with the app's schema in a directory of its own, for the module's tests
/// that look at SQLite itself (plans, the catalogue); remove the directory after.
#[cfg(test)]
async fn sqlite_test_platform(name: &str) -> (relais_platform::Platform, std::path::PathBuf) {
    use relais_platform::config::Config;
    let dir = std::env::temp_dir().join(format!("relais-{name}-{}", uuid::Uuid::now_v7()));
    let (platform, _) =
        relais_platform::Platform::start(Config::for_data_dir(&dir), &[crate::MIGRATIONS])
            .await
            .unwrap();
    (platform, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_keep_complete_sirets() {
        let mut rows = vec!["a", "b", "b", "c", "c"];
        assert_eq!(complete_sirets(&mut rows, 5, |r| r), None);
        assert_eq!(
            rows,
            ["a", "b", "b"],
            "the last SIRET may be cut short: read again"
        );
        let mut rows = vec!["a", "b"];
        assert_eq!(complete_sirets(&mut rows, 5, |r| r), None);
        assert_eq!(rows, ["a", "b"], "a short page is the end of the table");
        let mut rows = vec!["c", "c", "c"];
        assert_eq!(complete_sirets(&mut rows, 3, |r| r), Some("c".to_owned()));
    }

    #[test]
    fn keys_are_written_as_an_array_literal() {
        assert_eq!(text_array(&[]), "'{}'::text[]");
        assert_eq!(
            text_array(&["73282932000074", "a'b", "c\"d", "e\\f", "", "{g,h}"]),
            r#"'{"73282932000074","a''b","c\"d","e\\f","","{g,h}"}'::text[]"#
        );
    }

    #[test]
    fn batches_are_cut_into_few_shapes() {
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1_000), vec![256, 256, 256, 128, 64, 32, 8]);
        assert_eq!(chunk_sizes(3), vec![2, 1]);
        let items: Vec<u32> = (0..300).collect();
        let lens: Vec<usize> = chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(lens, vec![256, 32, 8, 4]);
        assert_eq!(tuples(2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
