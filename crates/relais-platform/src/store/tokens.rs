//! [`TokenStore`] on both backends (shared SQL).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::tasks::{corrupt, micros, time};
use super::{StoreError, TokenStore};
use crate::tokens::TokenInfo;

type TokenRow = (
    Uuid,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

const COLUMNS: &str =
    "id, name, role, created_at, created_by, expires_at, revoked_at, last_used_at";

fn info(r: TokenRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: r.0,
        name: r.1,
        role: r.2.parse().map_err(corrupt)?,
        created_at: time(r.3),
        created_by: r.4,
        expires_at: r.5.map(time),
        revoked_at: r.6.map(time),
        last_used_at: r.7.map(time),
    })
}

const INSERT: &str = "INSERT INTO relais_tokens
    (id, name, role, hash, created_at, created_by, expires_at, revoked_at, last_used_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL) ON CONFLICT (name) DO NOTHING";

macro_rules! token_store {
    ($store:ty) => {
        #[async_trait]
        impl TokenStore for $store {
            async fn insert_token(&self, t: &TokenInfo, hash: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(INSERT)
                    .bind(t.id)
                    .bind(&t.name)
                    .bind(t.role.as_str())
                    .bind(hash)
                    .bind(micros(t.created_at))
                    .bind(&t.created_by)
                    .bind(t.expires_at.map(micros))
                    .execute(self.write())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_first_token(
                &self,
                t: &TokenInfo,
                hash: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                // Serialise concurrent starts: the first to insert the bootstrap name wins, and a
                // deployment that has any token gets none.
                let any: Option<Uuid> = sqlx::query_scalar("SELECT id FROM relais_tokens LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
                if any.is_some() {
                    tx.commit().await?;
                    return Ok(false);
                }
                let done = sqlx::query(INSERT)
                    .bind(t.id)
                    .bind(&t.name)
                    .bind(t.role.as_str())
                    .bind(hash)
                    .bind(micros(t.created_at))
                    .bind(&t.created_by)
                    .bind(t.expires_at.map(micros))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
                let rows: Vec<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM relais_tokens ORDER BY created_at, id"
                )))
                .fetch_all(self.read())
                .await?;
                rows.into_iter().map(info).collect()
            }

            async fn revoke_token(
                &self,
                id_or_name: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<TokenInfo>, StoreError> {
                let id = Uuid::parse_str(id_or_name).ok();
                let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE relais_tokens SET revoked_at = COALESCE(revoked_at, $3)
                     WHERE id = $1 OR name = $2 RETURNING {COLUMNS}"
                )))
                .bind(id)
                .bind(id_or_name)
                .bind(micros(now))
                .fetch_optional(self.write())
                .await?;
                row.map(info).transpose()
            }

            async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>, StoreError> {
                let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM relais_tokens WHERE hash = $1"
                )))
                .bind(hash)
                .fetch_optional(self.read())
                .await?;
                row.map(info).transpose()
            }

            async fn touch_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE relais_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(micros(now))
                    .execute(self.write())
                    .await?;
                Ok(())
            }
        }
    };
}

token_store!(SqliteStore);
token_store!(PgStore);
