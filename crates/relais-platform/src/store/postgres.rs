//! PostgreSQL implementation of the storage roles.
//!
//! Any number of relais processes share one database: migrations run in one transaction under a
//! transaction-level advisory lock keyed by the current schema, so concurrent starts serialise and
//! each migration is applied once.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::Digest;
use sqlx::postgres::PgListener;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Row};
use tokio::sync::mpsc;

use super::migrate::{self, Applied};
use super::{
    Backend, Db, DbTx, Deployment, HealthStore, MetaStore, MigrationReport, MigrationSet,
    PoolStats, SchemaStatus, SchemaStore, SignalStore, Store, StoreError,
};

pub(crate) struct PgStore {
    pool: PgPool,
    /// The same pool, as handed to other storage modules.
    db: Db,
    /// For the listener's own connection.
    options: PgConnectOptions,
    /// The NOTIFY channel of this deployment (one per schema).
    channel: String,
    /// The audit chain head as this process last wrote it (see `store/audit.rs`).
    pub(super) audit_head: std::sync::Mutex<Option<(i64, String)>>,
}

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS relais_schema_migrations (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (component, version)
)";

/// Runs one statement on its own connection (schema administration for benchmarks).
pub(super) async fn execute_once(url: &str, statement: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|source| StoreError::Connect {
            backend: "postgres",
            source,
        })?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

impl PgStore {
    pub(crate) async fn open(
        url: &str,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let connect = |source| StoreError::Connect {
            backend: "postgres",
            source,
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(connect)?
            .application_name("relais");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect_timeout)
            .connect_with(options.clone())
            .await
            .map_err(connect)?;
        // Channels are database-wide; deployments sharing a database live in their own schemas.
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(connect)?;
        let digest = sha2::Sha256::digest(schema.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            db: Db::Postgres(pool.clone()),
            pool,
            options,
            channel: format!("relais_{hex}"),
            audit_head: std::sync::Mutex::new(None),
        })
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn write(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn read(&self) -> &PgPool {
        &self.pool
    }

    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

async fn read_applied(
    conn: &mut PgConnection,
) -> Result<(Vec<Applied>, BTreeMap<String, DateTime<Utc>>), StoreError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('relais_schema_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
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
            version: row.try_get::<i32, _>("version")? as u32,
            checksum: row.try_get("checksum")?,
        });
    }
    Ok((applied, latest))
}

#[async_trait]
impl SchemaStore for PgStore {
    async fn migrate(&self, sets: &[MigrationSet]) -> Result<MigrationReport, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('relais.migrate.' || current_schema(), 0))")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(CREATE_MIGRATIONS_TABLE)
            .execute(&mut *tx)
            .await?;
        let (applied, _) = read_applied(&mut tx).await?;
        let pending = migrate::plan(sets, &applied, Backend::Postgres)?;
        let mut report = MigrationReport::default();
        for (component, m) in pending {
            sqlx::raw_sql(m.postgres).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO relais_schema_migrations (component, version, name, checksum, applied_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(component)
            .bind(m.version as i32)
            .bind(m.name)
            .bind(m.checksum(Backend::Postgres))
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
        let mut conn = self.pool().acquire().await?;
        let (applied, at) = read_applied(&mut conn).await?;
        Ok(migrate::status(sets, &applied, &at))
    }
}

#[async_trait]
impl HealthStore for PgStore {
    async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let query = sqlx::query("SELECT 1").execute(self.pool());
        tokio::time::timeout(timeout, query)
            .await
            .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let pool = self.pool();
        vec![PoolStats {
            name: "main",
            size: pool.size(),
            idle: pool.num_idle() as u32,
            max: pool.options().get_max_connections(),
        }]
    }

    async fn close(&self) {
        self.pool().close().await;
    }
}

#[async_trait]
impl MetaStore for PgStore {
    async fn deployment(&self) -> Result<Deployment, StoreError> {
        sqlx::query(
            "INSERT INTO relais_meta (key, value) VALUES ('deployment_id', $1), ('created_at', $2)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(Utc::now().to_rfc3339())
        .execute(self.pool())
        .await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, value FROM relais_meta WHERE key IN ('deployment_id', 'created_at')",
        )
        .fetch_all(self.pool())
        .await?;
        super::deployment_from_rows(rows)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn db(&self) -> &Db {
        &self.db
    }

    async fn begin(&self) -> Result<DbTx, StoreError> {
        Ok(DbTx::Postgres(self.begin_write().await?))
    }
}

#[async_trait]
impl SignalStore for PgStore {
    fn signals(&self) -> bool {
        true
    }

    async fn send_signals(&self, payloads: &[String]) -> Result<(), StoreError> {
        if payloads.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(&self.channel)
            .bind(payloads)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn listen_signals(&self) -> Result<Option<mpsc::Receiver<String>>, StoreError> {
        // Its own connection: a listener holds it for good, and the main pool's close waits for
        // every connection it lent.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(&self.channel).await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = listener.recv() => match received {
                        Ok(n) => {
                            if tx.send(n.payload().to_owned()).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "task signal listener failed; reconnecting in 1 s");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    },
                    () = tx.closed() => break,
                }
            }
            drop(listener);
            pool.close().await;
        });
        Ok(Some(rx))
    }
}
