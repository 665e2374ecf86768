//! The relais HTTP layer: router assembly, middleware, problem responses, OpenAPI, metrics and
//! health.
//!
//! HTTP types live here and in the apps' route modules only. Apps hand [`app`] their documented
//! [`Routes`]; the platform's own routes, the docs page, fallbacks and middleware are added here.
//!
//! Request path, outermost first: [`middleware::observe`] (request id, span, metrics, problem
//! dressing) → declared-length body limit → extractor body limit → panic catcher →
//! authentication ([`auth`]) → audit ([`audit`]: audited operations are recorded before their
//! answer leaves) → panic catcher → route limits ([`ratelimit`]) → route (access enforcement,
//! then handler).

pub mod access;
pub mod audit;
mod audit_log;
pub mod auth;
pub mod cache;
mod docs;
pub mod error;
pub mod extract;
mod health;
pub mod imports;
pub mod metrics;
pub mod middleware;
pub mod ratelimit;
mod serve;
mod task_events;
mod task_ops;
pub mod tasks;
mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use relais_platform::Platform;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::routes;

pub use access::{Access, Principal, Role, Routes};
pub use error::{ApiError, ErrorCode, Problem};
pub use extract::{Json, Path, Query};

/// State of the platform's own routes.
#[derive(Clone)]
pub struct AppState {
    /// The platform services.
    pub platform: Platform,
    spec: docs::Spec,
}

fn platform_routes() -> Routes<AppState> {
    Routes::new()
        .route(Access::Public, routes!(health::health))
        .route(Access::Public, routes!(health::ready))
        .route(Access::Public, routes!(metrics::metrics_handler))
        .route(Access::Public, routes!(docs::openapi_json))
        .route(Access::Public, routes!(docs::problems))
        .route(Access::Public, routes!(cache::cache_health))
        .route(Access::Role(Role::Viewer), routes!(cache::cache_stats))
        .route(
            Access::Role(Role::Operator),
            routes!(cache::invalidate_cache),
        )
}

/// Builds the whole HTTP application: platform routes, the apps' routes, the docs page,
/// fallbacks and middleware. Returns the router and the OpenAPI document it serves.
pub fn app(platform: Platform, apps: Vec<Routes<()>>) -> (Router, OpenApi) {
    app_with(platform, apps, Vec::new())
}

/// [`app`], with authenticators tried after API tokens (an app's own users).
pub fn app_with(
    platform: Platform,
    apps: Vec<Routes<()>>,
    authenticators: Vec<std::sync::Arc<dyn auth::Authenticator>>,
) -> (Router, OpenApi) {
    app_with_options(
        platform,
        apps,
        AppOptions {
            authenticators,
            ..AppOptions::default()
        },
    )
}

/// How [`app_with_options`] assembles the application.
pub struct AppOptions {
    /// Authenticators tried after API tokens (an app's own users).
    pub authenticators: Vec<std::sync::Arc<dyn auth::Authenticator>>,
    /// Whether audited requests are recorded (default `true`). `false` exists only for the
    /// benchmark's baseline (`relais bench audit`); a server never runs without its audit trail.
    pub audit: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            authenticators: Vec::new(),
            audit: true,
        }
    }
}

/// [`app`], with [`AppOptions`].
pub fn app_with_options(
    platform: Platform,
    mut apps: Vec<Routes<()>>,
    options: AppOptions,
) -> (Router, OpenApi) {
    let max_body = platform.config.http_max_body;
    let tokens = relais_platform::tokens::Tokens::new(
        platform.store.clone(),
        std::sync::Arc::new(relais_platform::clock::SystemClock),
    );
    apps.insert(0, tokens::routes(tokens.clone()));
    apps.insert(1, audit_log::routes(platform.audit.clone()));
    let mut chain: Vec<std::sync::Arc<dyn auth::Authenticator>> =
        vec![std::sync::Arc::new(auth::TokenAuthenticator(tokens))];
    chain.extend(options.authenticators);
    let authenticators: auth::Authenticators = std::sync::Arc::new(chain);
    metrics::handle();
    let (platform_router, platform_doc) = platform_routes().split();
    let mut doc = docs::base();
    doc.merge(platform_doc);
    let mut app_routers = Vec::with_capacity(apps.len());
    for routes in apps {
        let (router, app_doc) = routes.split();
        doc.merge(app_doc);
        app_routers.push(router);
    }
    let spec = serde_json::to_string(&doc).expect("the OpenAPI document serialises");
    let audited = options
        .audit
        .then(|| audit::AuditLayer::new(platform.audit.clone(), &doc));
    let route_limits = platform
        .config
        .imports
        .with_upload_limit(&platform.config.limits.routes);
    let limits = ratelimit::RouteLimits::new(platform.limiter.clone(), &route_limits);
    let state = AppState {
        platform,
        spec: docs::Spec(spec.into()),
    };
    let mut router: Router = platform_router.merge(docs::ui()).with_state(state);
    for app_router in app_routers {
        router = router.merge(app_router);
    }
    if !limits.is_empty() {
        router = router.layer(from_fn_with_state(limits, ratelimit::enforce));
    }
    let mut router = router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed);
    if let Some(audited) = audited {
        // Inside the audit layer, a panicking handler becomes a 500 that is recorded.
        router = router
            .layer(CatchPanicLayer::custom(panicked))
            .layer(from_fn_with_state(audited, audit::record));
    }
    let router = router
        .layer(from_fn_with_state(authenticators, auth::authenticate))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(max_body, middleware::limit_body))
        .layer(from_fn(middleware::observe));
    (router, doc)
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{method} is not allowed on {}; see the Allow header",
            uri.path()
        ),
    )
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    ApiError::internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

pub use serve::serve;
