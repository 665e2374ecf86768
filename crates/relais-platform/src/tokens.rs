//! API tokens: roles, creation (the secret is shown once; only its SHA-256 is stored), listing,
//! revocation, verification, and the bootstrap admin token of a fresh deployment.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// A role held by an authenticated caller; higher roles include lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read access.
    Viewer,
    /// Read access and operations (cancel, retry, invalidate, import).
    Operator,
    /// Everything, including tokens and audit.
    Admin,
}

impl Role {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (admin, operator or viewer)"
            )),
        }
    }
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Unique name, recorded as the actor of what the token does.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Who created it (a token name, `cli` or `bootstrap`).
    pub created_by: Option<String>,
    /// No longer valid from then.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked then.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    /// Whether the token authenticates at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// A token just created: its secret is in hand only now.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// What is stored.
    pub info: TokenInfo,
    /// The bearer secret (`relais_…`).
    pub secret: String,
}

/// Why a token operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A name or value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken.
    #[error("a token named `{0}` already exists")]
    NameTaken(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// SHA-256 of a secret, hex: what is stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_secret() -> String {
    // 244 random bits from two v4 UUIDs (the OS random source).
    format!(
        "relais_{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::Invalid(
            "a token name has 1 to 100 characters among letters, digits, `.`, `_`, `-` and `@`"
                .into(),
        ))
    }
}

/// The token service; cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Tokens {
    /// Tokens stored in `store`, timed by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates a token; its secret is returned once.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
        created_by: Option<&str>,
    ) -> Result<IssuedToken, TokenError> {
        check_name(name)?;
        let now = self.clock.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(TokenError::Invalid(
                "the expiry must be in the future".into(),
            ));
        }
        let secret = new_secret();
        let info = TokenInfo {
            id: Uuid::now_v7(),
            name: name.to_string(),
            role,
            created_at: now,
            created_by: created_by.map(str::to_string),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        if !self
            .store
            .insert_token(&info, &hash_secret(&secret))
            .await?
        {
            return Err(TokenError::NameTaken(name.to_string()));
        }
        Ok(IssuedToken { info, secret })
    }

    /// Every token, oldest first.
    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.store.list_tokens().await?)
    }

    /// Revokes the token with this id or name; `None` if there is none.
    pub async fn revoke(&self, id_or_name: &str) -> Result<Option<TokenInfo>, TokenError> {
        Ok(self
            .store
            .revoke_token(id_or_name, self.clock.now())
            .await?)
    }

    /// The token a bearer secret belongs to, if it is valid now.
    pub async fn verify(&self, secret: &str) -> Result<Option<TokenInfo>, TokenError> {
        let now = self.clock.now();
        let Some(info) = self.store.token_by_hash(&hash_secret(secret)).await? else {
            return Ok(None);
        };
        if !info.is_valid_at(now) {
            return Ok(None);
        }
        if info
            .last_used_at
            .is_none_or(|at| now - at >= chrono::Duration::minutes(1))
            && let Err(e) = self.store.touch_token(info.id, now).await
        {
            tracing::warn!(error = %e, token = %info.name, "could not record the token's use");
        }
        Ok(Some(info))
    }

    /// On a deployment without any token, creates the `bootstrap-admin` token, from `given`
    /// (e.g. `RELAIS_ADMIN_TOKEN`) or a new secret. Returns it when this call created it (so it
    /// is printed once, by one process, even when several start together).
    pub async fn bootstrap(&self, given: Option<&str>) -> Result<Option<IssuedToken>, TokenError> {
        if let Some(secret) = given
            && secret.len() < 20
        {
            return Err(TokenError::Invalid(
                "RELAIS_ADMIN_TOKEN must have at least 20 characters".into(),
            ));
        }
        let secret = given.map_or_else(new_secret, str::to_string);
        let info = TokenInfo {
            id: Uuid::now_v7(),
            name: "bootstrap-admin".into(),
            role: Role::Admin,
            created_at: self.clock.now(),
            created_by: Some("bootstrap".into()),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        let created = self
            .store
            .insert_first_token(&info, &hash_secret(&secret))
            .await?;
        Ok(created.then_some(IssuedToken { info, secret }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("operator".parse::<Role>(), Ok(Role::Operator));
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("admin, operator or viewer")
        );
    }

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("relais_") && a.len() == 7 + 64);
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert!(check_name("ci-deploy@prod").is_ok());
        assert!(check_name("bad name").is_err() && check_name("").is_err());
    }
}
