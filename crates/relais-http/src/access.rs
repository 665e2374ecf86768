//! Route access declarations.
//!
//! Every documented route is added through [`Routes::route`] with the [`Access`] it requires.
//! The declaration is written into the OpenAPI operation (`x-required-role`, plus a bearer
//! security requirement when not public) and enforced by a route layer: a non-public route
//! answers 401 unless an authentication layer has put a [`Principal`] in the request, and 403
//! when the principal's role is below the one required. Until token authentication exists,
//! every non-public route is therefore closed: access is denied by default.

use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::error::{ApiError, ErrorCode};

pub use relais_platform::tokens::Role;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// At least this role.
    Role(Role),
}

impl Access {
    /// The name written in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Role(Role::Viewer) => "viewer",
            Access::Role(Role::Operator) => "operator",
            Access::Role(Role::Admin) => "admin",
        }
    }
}

/// The authenticated caller, put in request extensions by an authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token or user name, as recorded in logs and audit.
    pub name: String,
    /// The caller's role.
    pub role: Role,
}

async fn enforce(State(access): State<Access>, req: Request, next: Next) -> Response {
    let Access::Role(required) = access else {
        return next.run(req).await;
    };
    match req.extensions().get::<Principal>() {
        None => ApiError::new(
            ErrorCode::Unauthenticated,
            req.extensions()
                .get::<crate::auth::Refused>()
                .map_or("this route requires a bearer token", |r| r.0.as_str())
                .to_string(),
        )
        .with_header(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        )
        .into_response(),
        Some(p) if p.role < required => ApiError::new(
            ErrorCode::Forbidden,
            format!("this route requires the {} role", access.as_str()),
        )
        .into_response(),
        Some(_) => next.run(req).await,
    }
}

/// Documented routes, each with its access declaration.
pub struct Routes<S = ()> {
    router: OpenApiRouter<S>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self {
            router: OpenApiRouter::default(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the handlers of `routes` (from `utoipa_axum::routes!`) with the access they require.
    pub fn route(
        mut self,
        access: Access,
        (schemas, mut paths, method_router): UtoipaMethodRouter<S>,
    ) -> Self {
        for item in paths.paths.values_mut() {
            for op in operations(item) {
                declare(op, access);
            }
        }
        let method_router = method_router.route_layer(from_fn_with_state(access, enforce));
        self.router = self.router.routes((schemas, paths, method_router));
        self
    }

    /// Adds every route of `other`.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self
    }

    /// Provides the state, giving routes that can be merged with any others.
    pub fn with_state<S2: Clone + Send + Sync + 'static>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
        }
    }

    pub(crate) fn split(self) -> (axum::Router<S>, OpenApi) {
        self.router.split_for_parts()
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn declare(op: &mut Operation, access: Access) {
    let extensions = op.extensions.get_or_insert_with(Default::default);
    extensions.insert(
        "x-required-role".into(),
        serde_json::Value::from(access.as_str()),
    );
    let note = format!("Required role: `{}`.", access.as_str());
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
        _ => note,
    });
    if access != Access::Public {
        op.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The role declared by an operation of a generated document (for tests walking every route).
pub fn declared_access(op: &Operation) -> Option<&str> {
    op.extensions.as_ref()?.get("x-required-role")?.as_str()
}
