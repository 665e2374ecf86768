//! Token administration over HTTP (admin role): create (the secret is answered once), list,
//! revoke. The same operations exist as `relais token …` on the command line.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use relais_platform::tokens::{Role, TokenError, TokenInfo, Tokens};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Access, Principal, Routes};
use crate::audit::AuditResource;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Json, Path};

pub(crate) fn routes(tokens: Tokens) -> Routes<()> {
    Routes::<Tokens>::new()
        .route(Access::Role(Role::Admin), routes!(create_token))
        .sensitive(Access::Role(Role::Admin), routes!(list_tokens))
        .route(Access::Role(Role::Admin), routes!(revoke_token))
        .with_state(tokens)
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Unique name (letters, digits, `.`, `_`, `-`, `@`), recorded as the actor of its requests.
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
    /// Optional expiry (RFC 3339).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Creator.
    pub created_by: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            role: t.role.as_str().into(),
            created_at: t.created_at,
            created_by: t.created_by,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A token just created, with its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTokenView {
    /// The token.
    #[serde(flatten)]
    pub token: TokenView,
    /// The bearer secret: `Authorization: Bearer <secret>`. It is not stored and cannot be shown
    /// again.
    pub secret: String,
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Oldest first, revoked ones included.
    pub tokens: Vec<TokenView>,
}

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Invalid(m) => ApiError::new(ErrorCode::Validation, m),
        TokenError::NameTaken(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
        TokenError::Store(s) => ApiError::internal(s),
    }
}

/// Create a token
///
/// The answer holds the secret; it is stored only as a hash and cannot be shown again.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, description = "Created", body = IssuedTokenView),
        (status = 409, description = "The name is taken", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, role or expiry", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn create_token(
    State(tokens): State<Tokens>,
    principal: Option<Extension<Principal>>,
    Json(body): Json<CreateToken>,
) -> Result<Response, ApiError> {
    let by = principal.map(|p| p.0.name);
    let issued = tokens
        .create(&body.name, body.role, body.expires_at, by.as_deref())
        .await
        .map_err(token_error)?;
    let id = issued.info.id.to_string();
    let view = IssuedTokenView {
        token: issued.info.into(),
        secret: issued.secret,
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response.extensions_mut().insert(AuditResource(id));
    Ok(response)
}

/// List tokens
///
/// Every token, revoked ones included; never their secrets. Reading the list is recorded.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens",
    responses((status = 200, description = "Tokens", body = TokenList)))]
async fn list_tokens(State(tokens): State<Tokens>) -> Result<Json<TokenList>, ApiError> {
    let list = tokens.list().await.map_err(token_error)?;
    Ok(Json(TokenList {
        tokens: list.into_iter().map(TokenView::from).collect(),
    }))
}

/// Revoke a token
///
/// By id or name. It stops authenticating at once and stays listed.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id or name")),
    responses(
        (status = 200, description = "Revoked", body = TokenView),
        (status = 404, description = "No such token", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_token(
    State(tokens): State<Tokens>,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    match tokens.revoke(&id).await.map_err(token_error)? {
        Some(t) => Ok(Json(t.into())),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no token {id}"))),
    }
}
