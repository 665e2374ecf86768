//! Fixture routes (they exercise the shared extractors and declarations), the application
//! builder and request helpers shared by the router cases.

pub(crate) use std::sync::Arc;
pub(crate) use std::time::Duration;

pub(crate) use axum::body::Body;
pub(crate) use axum::http::{HeaderMap, Method, Request, StatusCode, header};
pub(crate) use axum::{Router, extract::State};
pub(crate) use http_body_util::BodyExt;
pub(crate) use relais_http::{Access, ApiError, Json, Path, Query, Role, Routes};
pub(crate) use relais_platform::Platform;
pub(crate) use relais_platform::config::Config;
pub(crate) use relais_platform::store::PLATFORM_MIGRATIONS;
pub(crate) use relais_testkit::{Ctx, exec};
pub(crate) use serde::{Deserialize, Serialize};
pub(crate) use serde_json::Value;
pub(crate) use tokio::sync::Notify;
pub(crate) use tower::ServiceExt;
pub(crate) use utoipa::openapi::OpenApi;
pub(crate) use utoipa_axum::routes;

// ---- test routes: they exercise the shared extractors and declarations ----

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Widget {
    name: String,
    count: u32,
}

/// Create a widget
#[utoipa::path(post, path = "/api/test/widgets", request_body = Widget,
    responses((status = 201, description = "Test response", body = Widget)))]
async fn create_widget(Json(widget): Json<Widget>) -> (StatusCode, Json<Widget>) {
    (StatusCode::CREATED, Json(widget))
}

/// One item
#[utoipa::path(get, path = "/api/test/items/{id}", params(("id" = u32, Path, description = "Item id")),
    responses((status = 200, description = "Test response", body = u32)))]
async fn item(Path(id): Path<u32>) -> Json<u32> {
    Json(id)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct Search {
    /// Page size.
    limit: u32,
}

/// Search
#[utoipa::path(get, path = "/api/test/search", params(Search), responses((status = 200, description = "Test response", body = u32)))]
async fn search(Query(q): Query<Search>) -> Json<u32> {
    Json(q.limit)
}

/// Admin only
#[utoipa::path(delete, path = "/api/test/admin", responses((status = 204, description = "Test response")))]
async fn admin_only() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Viewer only
#[utoipa::path(get, path = "/api/test/viewer", responses((status = 200, description = "Test response")))]
async fn viewer_only() -> StatusCode {
    StatusCode::OK
}

/// Panics
#[utoipa::path(get, path = "/api/test/panic", responses((status = 500, description = "Test response")))]
async fn panics() -> StatusCode {
    panic!("boom with secret panic detail")
}

/// Fails internally
#[utoipa::path(get, path = "/api/test/fail", responses((status = 500, description = "Test response")))]
async fn fails() -> Result<StatusCode, ApiError> {
    Err(ApiError::internal(std::io::Error::other(
        "secret detail xyz",
    )))
}

#[derive(Clone, Default)]
pub(crate) struct Gate {
    pub(crate) entered: Arc<Notify>,
    pub(crate) release: Arc<Notify>,
}

/// Waits for the test to release it
#[utoipa::path(get, path = "/api/test/slow", responses((status = 200, description = "Test response")))]
async fn slow(State(gate): State<Gate>) -> &'static str {
    gate.entered.notify_one();
    gate.release.notified().await;
    "done"
}

pub(crate) fn test_routes(gate: Gate) -> Routes<()> {
    let stateless = Routes::new()
        .route(Access::Public, routes!(create_widget))
        .route(Access::Public, routes!(item))
        .route(Access::Public, routes!(search))
        .route(Access::Public, routes!(panics))
        .route(Access::Public, routes!(fails))
        .route(Access::Role(Role::Admin), routes!(admin_only))
        .route(Access::Role(Role::Viewer), routes!(viewer_only));
    let gated = Routes::<Gate>::new()
        .route(Access::Public, routes!(slow))
        .with_state(gate);
    stateless.merge(gated)
}

// ---- helpers ----

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) engine: relais_platform::tasks::Engine,
    pub(crate) doc: OpenApi,
    pub(crate) platform: Platform,
    pub(crate) gate: Gate,
}

pub(crate) fn config(ctx: &Ctx) -> Config {
    Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone())
}

/// The `panics` route panics on purpose; keep that one panic out of the test output.
pub(crate) fn quiet_expected_panic() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.contains("boom with secret"));
            if !expected {
                default(info);
            }
        }));
    });
}

pub(crate) async fn start(config: Config) -> TestApp {
    quiet_expected_panic();
    let (platform, _) = Platform::start(config, &[]).await.expect("platform starts");
    let gate = Gate::default();
    let registry = relais_platform::imports::ImportRegistry::new(
        platform.store.clone(),
        Arc::new(relais_platform::clock::SystemClock),
        platform.config.imports.clone(),
    )
    .register(relais_platform::imports::sample::SampleImport)
    .unwrap();
    let builder = relais_platform::tasks::Engine::builder(
        platform.store.clone(),
        Arc::new(relais_platform::clock::SystemClock),
        relais_platform::tasks::EngineConfig {
            queues: vec![("default".into(), 10), ("imports".into(), 2)],
            ..relais_platform::tasks::EngineConfig::default()
        },
    )
    .register(relais_platform::tasks::Noop)
    .register(relais_platform::tasks::SleepTask);
    let engine = registry.engine_tasks(builder, false).build().unwrap();
    let imports = registry.with_engine(engine.clone());
    let routes = vec![
        test_routes(gate.clone()),
        relais_http::tasks::routes(engine.clone()),
        relais_http::imports::routes(imports.clone()),
    ];
    let (router, doc) = relais_http::app(platform.clone(), routes);
    TestApp {
        router,
        engine,
        doc,
        platform,
        gate,
    }
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Checks a problem response: status, code, media type, and consistent members.
    pub(crate) fn assert_problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert_eq!(body["type"], format!("/api/problems#{code}"));
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(
            body["request_id"].as_str().unwrap(),
            self.headers["x-request-id"].to_str().unwrap()
        );
        body
    }
}

pub(crate) async fn send(app: &TestApp, request: Request<Body>) -> Reply {
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible router");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Sends as an authenticated caller of `role` (what the authentication layer will provide).
pub(crate) async fn send_as(app: &TestApp, role: Role, request: Request<Body>) -> Reply {
    let principal = relais_http::Principal {
        name: format!("test-{role:?}").to_lowercase(),
        role,
    };
    let router = app.router.clone().layer(axum::Extension(principal));
    let response = router.oneshot(request).await.expect("infallible router");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub(crate) fn json_post(uri: &str, body: serde_json::Value) -> Request<Body> {
    request(
        Method::POST,
        uri,
        Some("application/json"),
        body.to_string(),
    )
}

pub(crate) async fn get(app: &TestApp, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub(crate) fn request(
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).unwrap()
}
