//! The app's storage: the only module with SQL. It runs on either backend through the
//! platform's [`Db`] pools (reads) and an import's [`DbTx`] (writes, in the transaction that
//! also records the import's progress).
//!
//! Writes are batched: SQLite takes multi-row statements (split into chunks of a few fixed
//! sizes, so the driver's statement cache holds every shape), PostgreSQL takes a whole batch as
//! arrays (`ANY`, `UNNEST`) in one statement. Shared SQL is used wherever the two dialects
//! agree.

mod invitations;
mod pv;

pub(crate) use invitations::upsert_invitations;
pub use invitations::{StoredInvitation, invitations_of};
pub use pv::{PvTotals, StoredPv, pv_rows_of, stream_pv, totals};
pub(crate) use pv::{delete_cycle_except, upsert_pv};

use relais_platform::store::{Db, DbTx, StoreError};

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

/// A stored value that no import could have written.
fn corrupt(what: String) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!("elections: {what}")))
}

/// Records that the summary of these SIRETs must be computed again (sorted and deduplicated
/// here, so concurrent transactions take their locks in one order).
pub(crate) async fn mark_dirty(tx: &mut DbTx, mut sirets: Vec<String>) -> Result<(), StoreError> {
    sirets.sort_unstable();
    sirets.dedup();
    if sirets.is_empty() {
        return Ok(());
    }
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query(
                "INSERT INTO elections_dirty (siret) SELECT * FROM UNNEST($1::text[])
                 ON CONFLICT (siret) DO NOTHING",
            )
            .bind(&sirets)
            .execute(&mut **t)
            .await?;
        }
        DbTx::Sqlite(t) => {
            for chunk in chunks(&sirets) {
                let sql = format!(
                    "INSERT INTO elections_dirty (siret) VALUES {} ON CONFLICT (siret) DO NOTHING",
                    tuples(chunk.len(), 1)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    query = query.bind(s);
                }
                query.execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// The SIRETs marked for a new summary, in order.
pub async fn dirty_sirets(db: &Db) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT siret FROM elections_dirty ORDER BY siret";
    Ok(match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQL).fetch_all(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
