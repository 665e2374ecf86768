//! A full build writes into fresh copies of the summary tables (`…_next`), without their
//! secondary indexes, then swaps them in: one transaction drops the live tables and renames the
//! copies. The live tables' indexes are created again from their stored definitions, one sort
//! per index instead of an insertion per row and index (which was half of a build):
//!
//! - on PostgreSQL before the swap, on the copies (named `…_next`), two at a time on two
//!   connections, with the copies' statistics; the swap then renames them, so it holds its
//!   locks for a drop and a few renames;
//! - on SQLite (one writer at a time) in the swap's transaction.
//!
//! Readers see the previous summary until the swap commits. A build that stops before the
//! swap (cancel, crash) leaves copies, with or without indexes, that the next full build drops.

use futures_util::{StreamExt as _, TryStreamExt as _};
use relais_platform::store::{Db, DbTx, StoreError};
use sqlx::Row as _;

use super::summary::Tables;
use super::{corrupt, on_tx};

/// Executes one statement of this module (DDL) on either backend.
async fn execute(tx: &mut DbTx, sql: &str) -> Result<(), StoreError> {
    on_tx!(tx, |conn| {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// The pairs (live table, fresh copy).
fn pairs() -> [(&'static str, &'static str); 2] {
    [
        (Tables::Live.summary(), Tables::Next.summary()),
        (Tables::Live.cycles(), Tables::Next.cycles()),
    ]
}

/// Drops the fresh copies, if any (a stopped build's).
pub(crate) async fn drop_rebuild(tx: &mut DbTx) -> Result<(), StoreError> {
    for (_, next) in pairs() {
        execute(tx, &format!("DROP TABLE IF EXISTS {next}")).await?;
    }
    Ok(())
}

/// Creates empty fresh copies of the summary tables (columns, constraints and, on SQLite, the
/// primary key; no secondary index), dropping a stopped build's first.
pub(crate) async fn begin_rebuild(tx: &mut DbTx) -> Result<(), StoreError> {
    drop_rebuild(tx).await?;
    for (live, next) in pairs() {
        let create = match tx {
            DbTx::Postgres(_) => {
                format!(
                    "CREATE TABLE {next} (LIKE {live} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                )
            }
            DbTx::Sqlite(t) => {
                let sql: String = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                )
                .bind(live)
                .fetch_one(&mut **t)
                .await?;
                // `CREATE TABLE <name> (…)`: the name (quoted once the table was renamed) is
                // what precedes the first parenthesis.
                let body = sql
                    .find('(')
                    .map(|at| &sql[at..])
                    .ok_or_else(|| corrupt(format!("the definition of {live}: {sql:?}")))?;
                format!("CREATE TABLE {next} {body}")
            }
        };
        execute(tx, &create).await?;
    }
    Ok(())
}

/// A PostgreSQL index (or primary key) of a live table, to be built on its fresh copy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PgIndex {
    /// The live index's (or constraint's) name; the copy's is [`PgIndex::copy_name`].
    name: String,
    /// A primary key (a constraint, renamed as such).
    primary: bool,
    /// What follows the table's name: `PRIMARY KEY (siret)`, or `USING btree (…) WHERE …`.
    body: String,
}

impl PgIndex {
    fn copy_name(&self) -> String {
        format!("{}_next", self.name)
    }

    /// The statement that builds it on the copy `next`.
    fn create_on(&self, next: &str) -> String {
        let copy = self.copy_name();
        match self.primary {
            true => format!("ALTER TABLE {next} ADD CONSTRAINT {copy} {}", self.body),
            false => format!("CREATE INDEX {copy} ON {next} {}", self.body),
        }
    }

    /// The statement that gives it the live name once `next` is renamed to `live`.
    fn rename_on(&self, live: &str) -> String {
        let (copy, name) = (self.copy_name(), &self.name);
        match self.primary {
            true => format!("ALTER TABLE {live} RENAME CONSTRAINT {copy} TO {name}"),
            false => format!("ALTER INDEX {copy} RENAME TO {name}"),
        }
    }
}

/// A live table's primary key and indexes on PostgreSQL, read from the catalogue.
async fn pg_indexes(conn: &mut sqlx::PgConnection, live: &str) -> Result<Vec<PgIndex>, StoreError> {
    let mut out = Vec::new();
    for row in sqlx::query(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = to_regclass($1) AND contype = 'p'",
    )
    .bind(live)
    .fetch_all(&mut *conn)
    .await?
    {
        out.push(PgIndex {
            name: row.try_get(0)?,
            primary: true,
            body: row.try_get(1)?,
        });
    }
    for row in sqlx::query(
        "SELECT c.relname, i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary ORDER BY i.indexrelid",
    )
    .bind(live)
    .fetch_all(&mut *conn)
    .await?
    {
        let def: String = row.try_get(2)?;
        let unique: bool = row.try_get(1)?;
        // `CREATE INDEX name ON schema.table USING method (…) [WHERE …]`: the method onwards.
        let body = def
            .find(" USING ")
            .filter(|_| !unique)
            .map(|at| def[at + 1..].to_owned())
            .ok_or_else(|| corrupt(format!("an index of {live} this build cannot copy: {def}")))?;
        out.push(PgIndex {
            name: row.try_get(0)?,
            primary: false,
            body,
        });
    }
    Ok(out)
}

/// The statements that create a live table's indexes again (SQLite), read from the catalogue.
async fn sqlite_indexes(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    live: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT sql FROM sqlite_master
         WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name",
    )
    .bind(live)
    .fetch_all(&mut **t)
    .await?)
}

/// Before the swap, on PostgreSQL: the live tables' primary keys and indexes built on the
/// fresh copies (two statements at a time, each on a connection of its own), then the copies'
/// statistics (the planner would otherwise guess, and autovacuum may be off or late: their
/// sizes, and the columns that lists filter on). Nothing to do on SQLite.
pub(crate) async fn index_rebuild(db: &Db) -> Result<(), StoreError> {
    let Db::Postgres(pool) = db else {
        return Ok(());
    };
    let mut indexes = Vec::new();
    {
        let mut conn = pool.acquire().await?;
        for (live, next) in pairs() {
            for index in pg_indexes(&mut conn, live).await? {
                indexes.push((index, next));
            }
        }
    }
    // Primary keys first: adding one takes its table's exclusive lock, which an index build on
    // the same table waits for.
    indexes.sort_by_key(|(index, _)| !index.primary);
    let mut statements: Vec<String> = indexes
        .iter()
        .map(|(index, next)| index.create_on(next))
        .collect();
    let (summary, cycles) = (Tables::Next.summary(), Tables::Next.cycles());
    statements.push(format!(
        "ANALYZE {summary} (statut_pap, cgt_implantee, departement, idcc, search_text, \
         date_pv_max, valid_until)"
    ));
    statements.push(format!("ANALYZE {cycles} (cycle, cgt_representative)"));
    // Two statements at a time (in order: primary keys first), each on a connection of its own.
    futures_util::stream::iter(statements.into_iter().map(|sql| async move {
        // Two statements run at once already: no parallel workers of the server's.
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL max_parallel_maintenance_workers = 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    }))
    .buffer_unordered(2)
    .try_collect()
    .await
}

/// Swaps the fresh copies in, in the caller's transaction: the live tables dropped, the copies
/// renamed, the live tables' indexes created again. Returns how many SIRETs lost their summary
/// (they had neither PV rows nor invitations when the build passed).
pub(crate) async fn swap_rebuild(tx: &mut DbTx) -> Result<u64, StoreError> {
    let (live, next) = (Tables::Live.summary(), Tables::Next.summary());
    let gone_sql = format!(
        "SELECT COUNT(*) FROM {live} l WHERE NOT EXISTS (SELECT 1 FROM {next} n WHERE n.siret = l.siret)"
    );
    let gone: i64 = on_tx!(tx, |conn| sqlx::query_scalar(sqlx::AssertSqlSafe(gone_sql))
        .fetch_one(&mut *conn)
        .await?);
    for (live, next) in pairs() {
        let (indexes, renames) = match tx {
            // Built on the copy by `index_rebuild`: renamed once the copy has the live name.
            DbTx::Postgres(t) => {
                let renames = pg_indexes(t, live)
                    .await?
                    .iter()
                    .map(|index| index.rename_on(live))
                    .collect();
                (Vec::new(), renames)
            }
            DbTx::Sqlite(t) => (sqlite_indexes(t, live).await?, Vec::new()),
        };
        execute(tx, &format!("DROP TABLE {live}")).await?;
        execute(tx, &format!("ALTER TABLE {next} RENAME TO {live}")).await?;
        for statement in indexes.iter().chain(&renames) {
            execute(tx, statement).await?;
        }
    }
    Ok(u64::try_from(gone).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After swaps, the live tables have the indexes the migrations gave them (by name and
    /// definition) and no copy is left; a stopped build's copies are dropped by the next.
    #[tokio::test]
    async fn sqlite_swaps_keep_the_indexes_of_the_migrations() {
        let (platform, dir) = super::super::sqlite_test_platform("swap").await;
        let store = platform.store.clone();
        let schema = || async {
            let mut tx = store.begin().await.unwrap();
            let DbTx::Sqlite(t) = &mut tx else {
                panic!("a data directory opens SQLite");
            };
            let mut all = Vec::new();
            for (live, _) in pairs() {
                all.push(sqlite_indexes(t, live).await.unwrap());
            }
            tx.commit().await.unwrap();
            all
        };
        let migrated = schema().await;
        assert!(
            migrated[0]
                .iter()
                .any(|d| d.contains("elections_summary_statut_pap")),
            "{migrated:?}"
        );
        assert!(!migrated[1].is_empty(), "{migrated:?}");
        for _ in 0..2 {
            let mut tx = store.begin().await.unwrap();
            begin_rebuild(&mut tx).await.unwrap();
            tx.commit().await.unwrap();
            // A stopped build's copies, dropped by the next start.
            let mut tx = store.begin().await.unwrap();
            begin_rebuild(&mut tx).await.unwrap();
            assert_eq!(swap_rebuild(&mut tx).await.unwrap(), 0);
            tx.commit().await.unwrap();
            assert_eq!(schema().await, migrated);
        }
        let mut tx = store.begin().await.unwrap();
        let DbTx::Sqlite(t) = &mut tx else {
            panic!("a data directory opens SQLite");
        };
        let copies: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'elections_summary%_next'",
        )
        .fetch_one(&mut **t)
        .await
        .unwrap();
        assert_eq!(copies, 0);
        tx.commit().await.unwrap();
        platform.store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
