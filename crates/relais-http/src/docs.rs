//! The OpenAPI document, the embedded API docs page and the table of problem codes.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::AppState;
use crate::error::{ErrorCode, Problem};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "relais",
        description = "Durable background work, cache, audit and imports for four business backends, \
                       with each app's core computation. Errors are `application/problem+json` with a \
                       stable `code` (see `GET /api/problems`). Each operation states its required \
                       role in `x-required-role`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(Problem)),
    tags(
        (name = "observability", description = "Health, readiness, metrics and API description"),
        (name = "tasks", description = "Durable background tasks"),
        (name = "cache", description = "Cache stats and invalidation"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "audit", description = "The audit trail (admin): records of every mutating request and sensitive read"),
    )
)]
struct Base;

/// The base document every route is added to.
pub(crate) fn base() -> OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = relais_platform::VERSION.to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("API token: `Authorization: Bearer <token>`"))
                .build(),
        ),
    );
    doc
}

/// The serialised document, built once at start.
#[derive(Clone)]
pub(crate) struct Spec(pub Arc<str>);

/// OpenAPI document
///
/// The OpenAPI 3.1 description of every route, generated from the code.
#[utoipa::path(get, path = "/api/openapi.json", tag = "observability",
    responses(
        (status = 200, description = "OpenAPI 3.1 document (with an `ETag`)", content_type = "application/json", body = Object),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`"),
    ))]
pub(crate) async fn openapi_json(State(state): State<AppState>, headers: HeaderMap) -> Response {
    crate::cache::cacheable(
        &headers,
        "public, no-cache",
        "application/json",
        state.spec.0.as_bytes(),
    )
}

/// One entry of the problem table.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemType {
    /// Stable code.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// Title used in problem documents.
    pub title: &'static str,
    /// When it is used.
    pub description: &'static str,
}

/// Problem codes
///
/// Every error `code` relais can answer with, its status and meaning; problem `type` URIs point
/// here (`/api/problems#<code>`).
#[utoipa::path(get, path = "/api/problems", tag = "observability",
    responses(
        (status = 200, description = "The table of problem codes (with an `ETag`)", body = Vec<ProblemType>),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`"),
    ))]
pub(crate) async fn problems(headers: HeaderMap) -> Response {
    let table: Vec<ProblemType> = ErrorCode::ALL
        .iter()
        .map(|c| ProblemType {
            code: c.code(),
            status: c.status().as_u16(),
            title: c.title(),
            description: c.description(),
        })
        .collect();
    crate::cache::cacheable_json(&headers, "public, no-cache", &table)
}

/// The interactive docs page at `/api/docs`, with Swagger UI's assets embedded in the binary.
/// The online validator badge is disabled so the page makes no request outside this server.
pub(crate) fn ui() -> Router<AppState> {
    let config = Config::new(["/api/openapi.json"])
        .validator_url("none")
        .try_it_out_enabled(true)
        .display_request_duration(true);
    SwaggerUi::new("/api/docs").config(config).into()
}
