//! Route access declarations.
//!
//! Every documented route is added through [`Routes::route`] with the [`Access`] it requires.
//! The declaration is written into the OpenAPI operation (`x-required-role`, plus a bearer
//! security requirement when not public) and enforced by a route layer: a non-public route
//! answers 401 unless an authentication layer has put a [`Principal`] in the request, and 403
//! when the principal's role is below the one required: access is denied by default.
//!
//! The declaration also says what is audited (`x-audited` in the document): every mutating
//! operation, and every operation of routes added with [`Routes::sensitive`]. The audit
//! middleware ([`crate::audit`]) reads that mark from the document, so the two cannot disagree.

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
    /// Their mutating operations (POST, PUT, PATCH, DELETE) are audited.
    pub fn route(self, access: Access, routes: UtoipaMethodRouter<S>) -> Self {
        self.add(access, false, routes)
    }

    /// Like [`Routes::route`], for routes whose reads are sensitive: every operation, reads
    /// included, is recorded in the audit trail.
    pub fn sensitive(self, access: Access, routes: UtoipaMethodRouter<S>) -> Self {
        self.add(access, true, routes)
    }

    fn add(
        mut self,
        access: Access,
        sensitive: bool,
        (schemas, mut paths, method_router): UtoipaMethodRouter<S>,
    ) -> Self {
        for item in paths.paths.values_mut() {
            for (method, op) in operations(item) {
                declare(op, access);
                if sensitive || MUTATING.contains(&method) {
                    mark_audited(op);
                }
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

/// Methods whose requests are always audited.
pub const MUTATING: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// The OpenAPI extension marking an audited operation.
pub const AUDITED: &str = "x-audited";

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
}

/// Every operation of `doc` with its method and path template.
pub(crate) fn documented(doc: &OpenApi) -> Vec<(&'static str, &str, &Operation)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ] {
            if let Some(op) = op {
                out.push((method, path.as_str(), op));
            }
        }
    }
    out
}

fn mark_audited(op: &mut Operation) {
    op.extensions
        .get_or_insert_with(Default::default)
        .insert(AUDITED.into(), serde_json::Value::Bool(true));
    let note = "Recorded in the audit trail (`x-audited`).";
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
        _ => note.to_owned(),
    });
}

/// Whether an operation of a generated document is audited.
pub fn is_audited(op: &Operation) -> bool {
    op.extensions
        .as_ref()
        .and_then(|e| e.get(AUDITED))
        .is_some_and(|v| v == &serde_json::Value::Bool(true))
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
