//! A full build writes into fresh copies of the summary tables (`…_next`), without their
//! secondary indexes, then swaps them in: one transaction drops the live tables, renames the
//! copies, and creates the live tables' indexes again from their stored definitions (one sort
//! per index instead of an insertion per row and index, which was half of a build). Readers see
//! the previous summary until the swap commits. A build that stops before the swap (cancel,
//! crash) leaves copies that the next full build drops.

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

/// The statements that create a live table's indexes (and, on PostgreSQL, its primary key)
/// again, read from the catalogue.
async fn index_definitions(tx: &mut DbTx, live: &str) -> Result<Vec<String>, StoreError> {
    Ok(match tx {
        DbTx::Postgres(t) => {
            let mut out = Vec::new();
            for row in sqlx::query(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE conrelid = to_regclass($1) AND contype = 'p'",
            )
            .bind(live)
            .fetch_all(&mut **t)
            .await?
            {
                let name: String = row.try_get(0)?;
                let def: String = row.try_get(1)?;
                out.push(format!("ALTER TABLE {live} ADD CONSTRAINT {name} {def}"));
            }
            out.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT pg_get_indexdef(indexrelid) FROM pg_index
                     WHERE indrelid = to_regclass($1) AND NOT indisprimary ORDER BY indexrelid",
                )
                .bind(live)
                .fetch_all(&mut **t)
                .await?,
            );
            out
        }
        DbTx::Sqlite(t) => {
            sqlx::query_scalar(
                "SELECT sql FROM sqlite_master
                 WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name",
            )
            .bind(live)
            .fetch_all(&mut **t)
            .await?
        }
    })
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
        let indexes = index_definitions(tx, live).await?;
        execute(tx, &format!("DROP TABLE {live}")).await?;
        execute(tx, &format!("ALTER TABLE {next} RENAME TO {live}")).await?;
        for create in indexes {
            execute(tx, &create).await?;
        }
    }
    Ok(u64::try_from(gone).unwrap_or(0))
}

/// After a swap, on PostgreSQL: statistics for the new tables, which have none (the planner
/// would guess, and autovacuum analyses them only later, if it runs): their sizes, and the
/// columns that lists filter on. SQLite plans these tables from their indexes alone.
pub(crate) async fn analyze_swapped(db: &Db) -> Result<(), StoreError> {
    if let Db::Postgres(pool) = db {
        let (summary, cycles) = (Tables::Live.summary(), Tables::Live.cycles());
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ANALYZE {summary} (statut_pap, cgt_implantee, departement, idcc, search_text, \
             date_pv_max, valid_until), {cycles} (cycle, cgt_representative)"
        )))
        .execute(pool)
        .await?;
    }
    Ok(())
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
            let mut all = Vec::new();
            for (live, _) in pairs() {
                all.push(index_definitions(&mut tx, live).await.unwrap());
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
