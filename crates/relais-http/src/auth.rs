//! Authentication: a layer that turns credentials into a [`Principal`] for the access layer
//! (see [`crate::access`]). API tokens (`Authorization: Bearer relais_…`) are built in; apps with
//! end users (the events app) add their own [`Authenticator`] through [`crate::app_with`], and
//! their users then pass the same role checks and are recorded the same way.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use relais_platform::tokens::Tokens;

use crate::access::Principal;
use crate::error::{ApiError, ErrorCode};

/// Why credentials were not accepted.
#[derive(Debug, Clone)]
pub enum AuthFailure {
    /// Present but wrong, expired or revoked: 401 on routes that need a role.
    Invalid(String),
    /// They could not be checked (the database is unreachable): 503.
    Unavailable(String),
}

/// Turns a request's credentials into a principal.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok(None)` when the request carries no credentials this authenticator handles.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, AuthFailure>;
}

/// API tokens stored by the platform.
pub struct TokenAuthenticator(pub Tokens);

#[async_trait]
impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, AuthFailure> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let Some(secret) = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return Ok(None);
        };
        match self.0.verify(secret).await {
            Ok(Some(token)) => Ok(Some(Principal {
                name: token.name,
                role: token.role,
            })),
            Ok(None) => Err(AuthFailure::Invalid(
                "the bearer token is unknown, expired or revoked".into(),
            )),
            Err(e) => Err(AuthFailure::Unavailable(e.to_string())),
        }
    }
}

/// Credentials were presented and refused (read by the access layer).
#[derive(Debug, Clone)]
pub(crate) struct Refused(pub String);

/// The authenticators, tried in order; the first that recognises the credentials decides.
pub(crate) type Authenticators = Arc<Vec<Arc<dyn Authenticator>>>;

pub(crate) async fn authenticate(
    State(authenticators): State<Authenticators>,
    mut req: Request,
    next: Next,
) -> Response {
    for a in authenticators.iter() {
        match a.authenticate(req.headers()).await {
            Ok(None) => continue,
            Ok(Some(principal)) => {
                req.extensions_mut().insert(principal);
                break;
            }
            Err(AuthFailure::Invalid(why)) => {
                req.extensions_mut().insert(Refused(why));
                break;
            }
            Err(AuthFailure::Unavailable(why)) => {
                tracing::warn!(error = %why, "credentials could not be checked");
                return ApiError::new(
                    ErrorCode::NotReady,
                    "credentials cannot be checked right now; try again",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}
