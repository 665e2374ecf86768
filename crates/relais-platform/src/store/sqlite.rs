//! SQLite implementation of the storage roles.
//!
//! One writer connection serialises every write transaction inside the process (no `SQLITE_BUSY`
//! between our own writers); read-only reader connections run beside it thanks to WAL. Pragmas:
//! `journal_mode=WAL`, `synchronous=NORMAL` (durable across a process crash; the last
//! transactions may be lost only on power loss), `foreign_keys=ON`, `busy_timeout` from config.
//! The log is checkpointed by a task of its own, not by the commits (`checkpoint.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use super::checkpoint::{self, Checkpointer};
use super::migrate::{self, Applied};
use super::{
    Backend, Db, DbTx, Deployment, HealthStore, MetaStore, MigrationReport, MigrationSet,
    PoolStats, SchemaStatus, SchemaStore, SignalStore, Store, StoreError,
};

/// Runs `f` on the SQLite handle of `conn` (a pool's connection or an open transaction's),
/// through rusqlite: for bulk statements prepared once and stepped per row, where the driver's
/// per-value cost and its worker-thread hop per statement dominate. The connection stays in its
/// transaction, and the driver's worker waits until `f` returns. `f` runs on the calling
/// thread: keep it to a batch that takes milliseconds.
pub async fn with_sqlite_handle<R>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut locked = conn.lock_handle().await?;
    // SAFETY: the handle is locked out of the driver's worker until `locked` drops, after
    // `handle` and every statement it prepared (its cache included) are dropped; a connection
    // made by `from_handle` does not own the handle and never closes it.
    let handle = unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) }?;
    let out = f(&handle);
    drop(handle);
    drop(locked);
    out
}

pub(crate) struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    checkpointer: Checkpointer,
    /// The same pools, as handed to other storage modules.
    db: Db,
}

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS relais_schema_migrations (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
) STRICT";

impl SqliteStore {
    pub(crate) async fn open(
        path: &Path,
        readers: u32,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        Self::open_with(path, readers, busy_timeout, checkpoint::INTERVAL).await
    }

    /// [`SqliteStore::open`], checkpointing every `checkpoint_every`.
    async fn open_with(
        path: &Path,
        readers: u32,
        busy_timeout: Duration,
        checkpoint_every: Duration,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let connect = |source| StoreError::Connect {
            backend: "sqlite",
            source,
        };
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(busy_timeout)
            .synchronous(SqliteSynchronous::Normal);
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES.to_string());
        // Switching a new file to WAL needs a moment of exclusive access, and SQLite answers
        // SQLITE_BUSY at once (without its busy handler) when another process opens the same
        // file at that moment: retry within the busy timeout.
        let started = std::time::Instant::now();
        let write = loop {
            let attempt = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(write_options.clone())
                .await;
            match attempt {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && started.elapsed() < busy_timeout => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(connect(e)),
            }
        };
        let read = SqlitePoolOptions::new()
            .max_connections(readers)
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(connect)?;
        let checkpointer = Checkpointer::start(&base, checkpoint_every).await?;
        Ok(Self {
            checkpointer,
            db: Db::Sqlite {
                write: write.clone(),
                read: read.clone(),
            },
            write,
            read,
        })
    }

    pub(super) fn write(&self) -> &SqlitePool {
        &self.write
    }

    pub(super) fn read(&self) -> &SqlitePool {
        &self.read
    }

    /// A write transaction holding SQLite's write lock from its start (no lock upgrade later).
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }
}

fn is_busy(e: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and its extended codes (5 + 256·n).
    matches!(e, sqlx::Error::Database(db) if db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 5))
}

async fn read_applied(
    conn: &mut SqliteConnection,
) -> Result<(Vec<Applied>, BTreeMap<String, DateTime<Utc>>), StoreError> {
    let exists: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'relais_schema_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if exists.is_none() {
        return Ok((Vec::new(), BTreeMap::new()));
    }
    let rows = sqlx::query(
        "SELECT component, version, checksum, applied_at FROM relais_schema_migrations ORDER BY component, version",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut applied = Vec::with_capacity(rows.len());
    let mut latest = BTreeMap::new();
    for row in rows {
        let component: String = row.try_get("component")?;
        let at: DateTime<Utc> = row.try_get("applied_at")?;
        latest.insert(component.clone(), at);
        applied.push(Applied {
            component,
            version: row.try_get::<i64, _>("version")? as u32,
            checksum: row.try_get("checksum")?,
        });
    }
    Ok((applied, latest))
}

#[async_trait]
impl SchemaStore for SqliteStore {
    async fn migrate(&self, sets: &[MigrationSet]) -> Result<MigrationReport, StoreError> {
        // BEGIN IMMEDIATE takes the write lock now, so two processes migrating one file serialise.
        let mut tx = self.write().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(CREATE_MIGRATIONS_TABLE)
            .execute(&mut *tx)
            .await?;
        let (applied, _) = read_applied(&mut tx).await?;
        let pending = migrate::plan(sets, &applied, Backend::Sqlite)?;
        let mut report = MigrationReport::default();
        for (component, m) in pending {
            sqlx::raw_sql(m.sqlite).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO relais_schema_migrations (component, version, name, checksum, applied_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(component)
            .bind(i64::from(m.version))
            .bind(m.name)
            .bind(m.checksum(Backend::Sqlite))
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
            report
                .applied
                .push((component.to_owned(), m.version, m.name.to_owned()));
        }
        let (applied, at) = read_applied(&mut tx).await?;
        tx.commit().await?;
        report.status = migrate::status(sets, &applied, &at);
        Ok(report)
    }

    async fn schema_status(&self, sets: &[MigrationSet]) -> Result<SchemaStatus, StoreError> {
        let mut conn = self.read().acquire().await?;
        let (applied, at) = read_applied(&mut conn).await?;
        Ok(migrate::status(sets, &applied, &at))
    }
}

#[async_trait]
impl HealthStore for SqliteStore {
    async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let query = sqlx::query("SELECT 1").execute(self.read());
        tokio::time::timeout(timeout, query)
            .await
            .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        [("write", self.write()), ("read", self.read())]
            .into_iter()
            .map(|(name, pool)| PoolStats {
                name,
                size: pool.size(),
                idle: pool.num_idle() as u32,
                max: pool.options().get_max_connections(),
            })
            .collect()
    }

    async fn close(&self) {
        self.checkpointer.stop().await;
        self.read().close().await;
        self.write().close().await;
    }
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn deployment(&self) -> Result<Deployment, StoreError> {
        sqlx::query(
            "INSERT INTO relais_meta (key, value) VALUES ('deployment_id', ?1), ('created_at', ?2)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(Utc::now().to_rfc3339())
        .execute(self.write())
        .await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, value FROM relais_meta WHERE key IN ('deployment_id', 'created_at')",
        )
        .fetch_all(self.read())
        .await?;
        super::deployment_from_rows(rows)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn db(&self) -> &Db {
        &self.db
    }

    async fn begin(&self) -> Result<DbTx, StoreError> {
        Ok(DbTx::Sqlite(self.begin_write().await?))
    }
}

/// One SQLite file is shared by processes on one machine only; they find each other's work by
/// polling, so there is no signal channel.
#[async_trait]
impl SignalStore for SqliteStore {
    fn signals(&self) -> bool {
        false
    }

    async fn send_signals(&self, _payloads: &[String]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn listen_signals(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit of more pages than SQLite's default threshold leaves them in the log (the
    /// commit does not checkpoint); the checkpointer copies them, here on its stop.
    #[tokio::test]
    async fn commits_leave_checkpoints_to_the_checkpointer() {
        let dir = std::env::temp_dir().join(format!("relais-wal-{}", uuid::Uuid::now_v7()));
        let path = dir.join("relais.db");
        let store =
            SqliteStore::open_with(&path, 2, Duration::from_secs(5), Duration::from_secs(3600))
                .await
                .unwrap();
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query("CREATE TABLE wal_probe (b BLOB)")
            .execute(&mut *tx)
            .await
            .unwrap();
        // 2,000 rows of 4 KiB: more than 2,000 pages.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO wal_probe SELECT randomblob(4096) FROM n",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        assert!(
            size() < 1 << 20,
            "the commit copied the log: {} bytes",
            size()
        );
        store.checkpointer.stop().await;
        assert!(
            size() > 8 << 20,
            "the checkpointer did not copy the log: {} bytes",
            size()
        );
        store.read().close().await;
        store.write().close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
