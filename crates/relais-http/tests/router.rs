//! Router tests: the whole HTTP application driven with `oneshot`, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::{Router, extract::State};
use http_body_util::BodyExt;
use relais_http::{Access, ApiError, Json, Path, Query, Role, Routes};
use relais_platform::Platform;
use relais_platform::config::Config;
use relais_platform::store::PLATFORM_MIGRATIONS;
use relais_testkit::{Ctx, exec, suite};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tower::ServiceExt;
use utoipa::openapi::OpenApi;
use utoipa_axum::routes;

suite!(
    malformed_requests_get_problem_responses,
    valid_json_is_accepted,
    request_ids_are_echoed_or_generated,
    health_reports_process_and_deployment,
    ready_when_database_and_schema_are_current,
    ready_is_503_when_schema_is_behind,
    ready_is_503_when_redis_is_unreachable,
    ready_checks_redis_when_configured => needs_redis,
    ready_is_503_while_shutting_down,
    metrics_label_requests_by_route_template,
    openapi_document_describes_every_route,
    every_documented_route_enforces_its_declared_role,
    docs_page_is_served_from_the_binary,
    problem_table_lists_every_code,
    shutdown_drains_in_flight_requests,
    shutdown_cuts_requests_past_the_grace_period => sqlite_only,
    tasks_api_enqueue_read_cancel_retry,
    tasks_api_refuses_bad_requests,
    tasks_api_runs_tasks_and_answers_celery_style,
    tasks_api_lists_with_filters_and_cursor,
);

// ---- test routes: they exercise the shared extractors and declarations ----

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
struct Widget {
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
struct Search {
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
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

/// Waits for the test to release it
#[utoipa::path(get, path = "/api/test/slow", responses((status = 200, description = "Test response")))]
async fn slow(State(gate): State<Gate>) -> &'static str {
    gate.entered.notify_one();
    gate.release.notified().await;
    "done"
}

fn test_routes(gate: Gate) -> Routes<()> {
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

struct TestApp {
    router: Router,
    engine: relais_platform::tasks::Engine,
    doc: OpenApi,
    platform: Platform,
    gate: Gate,
}

fn config(ctx: &Ctx) -> Config {
    Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone())
}

/// The `panics` route panics on purpose; keep that one panic out of the test output.
fn quiet_expected_panic() {
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

async fn start(config: Config) -> TestApp {
    quiet_expected_panic();
    let (platform, _) = Platform::start(config, &[]).await.expect("platform starts");
    let gate = Gate::default();
    let engine = relais_platform::tasks::Engine::builder(
        platform.store.clone(),
        Arc::new(relais_platform::clock::SystemClock),
        relais_platform::tasks::EngineConfig::default(),
    )
    .register(relais_platform::tasks::Noop)
    .register(relais_platform::tasks::SleepTask)
    .build()
    .unwrap();
    let routes = vec![
        test_routes(gate.clone()),
        relais_http::tasks::routes(engine.clone()),
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

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Checks a problem response: status, code, media type, and consistent members.
    fn assert_problem(&self, status: StatusCode, code: &str) -> Value {
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

async fn send(app: &TestApp, request: Request<Body>) -> Reply {
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
async fn send_as(app: &TestApp, role: Role, request: Request<Body>) -> Reply {
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

fn json_post(uri: &str, body: serde_json::Value) -> Request<Body> {
    request(
        Method::POST,
        uri,
        Some("application/json"),
        body.to_string(),
    )
}

async fn get(app: &TestApp, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn request(
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

// ---- cases ----

async fn malformed_requests_get_problem_responses(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let json = Some("application/json");
    let hundred_mb = 100 * 1024 * 1024;
    let chunked_3mb = Body::from_stream(futures_util::stream::iter(
        (0..48).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])),
    ));
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "syntax error",
            request(Method::POST, "/api/test/widgets", json, r#"{"name":"#),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "wrong type",
            request(
                Method::POST,
                "/api/test/widgets",
                json,
                r#"{"name":5,"count":1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "missing field",
            request(Method::POST, "/api/test/widgets", json, r#"{"name":"a"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "negative count",
            request(
                Method::POST,
                "/api/test/widgets",
                json,
                r#"{"name":"a","count":-1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "not an object",
            request(Method::POST, "/api/test/widgets", json, "[]"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "empty body",
            request(Method::POST, "/api/test/widgets", json, ""),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "text/plain",
            request(
                Method::POST,
                "/api/test/widgets",
                Some("text/plain"),
                r#"{"name":"a","count":1}"#,
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no content type",
            request(
                Method::POST,
                "/api/test/widgets",
                None,
                r#"{"name":"a","count":1}"#,
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "100 MB declared body",
            {
                let mut r = request(
                    Method::POST,
                    "/api/test/widgets",
                    json,
                    vec![b' '; hundred_mb],
                );
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, hundred_mb.into());
                r
            },
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "3 MB chunked body",
            request(Method::POST, "/api/test/widgets", json, chunked_3mb),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "unknown route",
            request(Method::GET, "/api/nope", None, ""),
            StatusCode::NOT_FOUND,
            "route_not_found",
        ),
        (
            "unknown root route",
            request(Method::GET, "/", None, ""),
            StatusCode::NOT_FOUND,
            "route_not_found",
        ),
        (
            "wrong method",
            request(Method::DELETE, "/api/health", None, ""),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "wrong method with body",
            request(Method::PUT, "/api/test/widgets", json, "{}"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "bad path parameter",
            request(Method::GET, "/api/test/items/abc", None, ""),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "path parameter overflow",
            request(Method::GET, "/api/test/items/99999999999", None, ""),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "bad query parameter",
            request(Method::GET, "/api/test/search?limit=x", None, ""),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "missing query parameter",
            request(Method::GET, "/api/test/search", None, ""),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "no token",
            request(Method::DELETE, "/api/test/admin", None, ""),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "handler panic",
            request(Method::GET, "/api/test/panic", None, ""),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
        ),
        (
            "internal error",
            request(Method::GET, "/api/test/fail", None, ""),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
        ),
        (
            "missing docs asset",
            request(Method::GET, "/api/docs/nope.js", None, ""),
            StatusCode::NOT_FOUND,
            "route_not_found",
        ),
    ];
    for (name, req, status, code) in cases {
        let reply = send(&app, req).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text());
        reply.assert_problem(status, code);
        let text = reply.text();
        assert!(!text.contains("secret"), "{name}: internals leaked: {text}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(
                reply.headers.contains_key(header::ALLOW),
                "{name}: Allow header"
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
    assert_eq!(
        get(&app, "/api/health").await.status,
        StatusCode::OK,
        "still serving"
    );
    app.platform.store.close().await;
}

async fn valid_json_is_accepted(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let reply = send(
            &app,
            request(
                Method::POST,
                "/api/test/widgets",
                Some(content_type),
                r#"{"name":"é","count":3}"#,
            ),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{content_type}: {}",
            reply.text()
        );
        assert_eq!(reply.json(), serde_json::json!({"name": "é", "count": 3}));
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    }
    app.platform.store.close().await;
}

async fn request_ids_are_echoed_or_generated(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let with_id = |id: &str| {
        Request::get("/api/nope")
            .header("x-request-id", id)
            .body(Body::empty())
            .unwrap()
    };
    let reply = send(&app, with_id("client-trace-42")).await;
    assert_eq!(reply.headers["x-request-id"], "client-trace-42");
    assert_eq!(reply.json()["request_id"], "client-trace-42");
    for bad in ["has space", &"x".repeat(129), ""] {
        let reply = send(&app, with_id(bad)).await;
        let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert_eq!(
            uuid::Uuid::parse_str(&id).unwrap().get_version_num(),
            7,
            "generated id for {bad:?}"
        );
    }
    let a = get(&app, "/api/health").await.headers["x-request-id"].clone();
    let b = get(&app, "/api/health").await.headers["x-request-id"].clone();
    assert_ne!(a, b, "each request gets its own id");
    app.platform.store.close().await;
}

async fn health_reports_process_and_deployment(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let reply = get(&app, "/api/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["status"], "up");
    assert_eq!(body["version"], relais_platform::VERSION);
    let backend = match ctx.backend {
        relais_testkit::TestBackend::Sqlite => "sqlite",
        relais_testkit::TestBackend::Postgres => "postgres",
    };
    assert_eq!(body["backend"], backend);
    assert_eq!(body["deployment_id"], app.platform.deployment.id.as_str());
    assert_eq!(body["instance_id"], app.platform.instance.id.to_string());
    app.platform.store.close().await;
}

async fn ready_when_database_and_schema_are_current(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let reply = get(&app, "/api/health/ready").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["status"], "ready");
    for check in ["database", "schema", "server"] {
        assert_eq!(body["checks"][check]["status"], "up", "{check}: {body}");
        assert!(body["checks"][check]["latency_ms"].as_f64().is_some());
    }
    assert!(
        body["checks"].get("redis").is_none(),
        "no Redis configured, none checked"
    );
    assert_eq!(
        body["checks"]["schema"]["details"][0]["component"],
        "platform"
    );
    app.platform.store.close().await;
}

async fn ready_is_503_when_schema_is_behind(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    // A newer relais sharing the database migrated further.
    exec(
        &ctx,
        "INSERT INTO relais_schema_migrations (component, version, name, checksum, applied_at)
                VALUES ('platform', 999, 'future', 'x', '2030-01-01T00:00:00Z')",
    )
    .await;
    let reply = get(&app, "/api/health/ready").await;
    let body = reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(body["checks"]["schema"]["status"], "down");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert!(
        body["detail"].as_str().unwrap().contains(&format!(
            "platform at 999 (binary {})",
            PLATFORM_MIGRATIONS.latest()
        )),
        "{body}"
    );
    app.platform.store.close().await;
}

async fn ready_is_503_when_redis_is_unreachable(ctx: Ctx) {
    let app = start(config(&ctx).with_redis_url(Some("redis://127.0.0.1:1".into()))).await;
    let reply = get(&app, "/api/health/ready").await;
    let body = reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(body["checks"]["redis"]["status"], "down", "{body}");
    assert!(body["checks"]["redis"]["error"].as_str().is_some());
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(
        get(&app, "/api/health").await.status,
        StatusCode::OK,
        "liveness does not depend on Redis"
    );
    app.platform.store.close().await;
}

async fn ready_checks_redis_when_configured(ctx: Ctx) {
    let app = start(config(&ctx).with_redis_url(ctx.redis_url.clone())).await;
    let reply = get(&app, "/api/health/ready").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["checks"]["redis"]["status"], "up");
    app.platform.store.close().await;
}

async fn ready_is_503_while_shutting_down(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    app.platform.shutdown.trigger();
    let body = get(&app, "/api/health/ready")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(body["checks"]["server"]["error"], "shutting down");
    app.platform.store.close().await;
}

async fn metrics_label_requests_by_route_template(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    get(&app, "/api/health").await;
    get(&app, "/api/test/items/41").await;
    get(&app, "/api/test/items/42").await;
    get(&app, "/no/such/path/123").await;
    let reply = get(&app, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = reply.text();
    let backend = match ctx.backend {
        relais_testkit::TestBackend::Sqlite => "sqlite",
        relais_testkit::TestBackend::Postgres => "postgres",
    };
    for expected in [
        r#"relais_http_requests_total{method="GET",route="/api/health",status="200"}"#,
        r#"relais_http_requests_total{method="GET",route="/api/test/items/{id}",status="200"}"#,
        r#"relais_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        r#"relais_http_request_duration_seconds_bucket{method="GET",route="/api/test/items/{id}",le="0.005"}"#,
        r#"relais_http_request_duration_seconds_count{method="GET",route="/api/health"}"#,
        "# TYPE relais_http_request_duration_seconds histogram",
        &format!(r#"relais_db_pool_connections{{backend="{backend}""#),
        &format!(r#"relais_db_pool_max_connections{{backend="{backend}""#),
        "relais_build_info{",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(
        !text.contains("/api/test/items/41"),
        "concrete paths never become labels"
    );
    assert!(
        !text.contains("/no/such/path"),
        "unknown paths never become labels"
    );
    app.platform.store.close().await;
}

/// Resolves every `$ref` of the document and returns how many there were.
fn check_refs(doc: &Value, node: &Value) -> usize {
    match node {
        Value::Object(map) => {
            let mut n = 0;
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("external $ref {r}"));
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
                n += 1;
            }
            n + map.values().map(|v| check_refs(doc, v)).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(|v| check_refs(doc, v)).sum(),
        _ => 0,
    }
}

async fn openapi_document_describes_every_route(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let reply = get(&app, "/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], relais_platform::VERSION);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(check_refs(&doc, &doc) > 0);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/health",
        "/api/health/ready",
        "/metrics",
        "/api/openapi.json",
        "/api/problems",
        "/api/test/widgets",
        "/api/test/items/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let role = op["x-required-role"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no role"));
            assert!(["public", "viewer", "operator", "admin"].contains(&role));
            assert!(
                op["description"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("Required role: `{role}`"))
            );
            assert_eq!(
                op.get("security").is_some(),
                role != "public",
                "{method} {path}"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}: responses"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status}: a response needs a description"
                );
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
        }
    }
    assert_eq!(
        doc["paths"]["/api/test/admin"]["delete"]["x-required-role"],
        "admin"
    );
    assert_eq!(
        doc["paths"]["/api/test/items/{id}"]["get"]["parameters"][0]["in"],
        "path"
    );
    assert!(
        doc["paths"]["/api/test/widgets"]["post"]["requestBody"]["content"]["application/json"]
            .is_object()
    );
    assert!(doc["paths"]["/api/health/ready"]["get"]["responses"]["503"].is_object());
    // The document served is the one built with the router.
    assert_eq!(doc, serde_json::to_value(&app.doc).unwrap());
    app.platform.store.close().await;
}

async fn every_documented_route_enforces_its_declared_role(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let doc = serde_json::to_value(&app.doc).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "1");
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            if path == "/api/test/slow" {
                continue; // waits for a release; covered by the shutdown tests
            }
            let reply = send(&app, request(method.clone(), &concrete, None, "")).await;
            match op["x-required-role"].as_str().unwrap() {
                "public" => assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}"),
                _ => {
                    reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "walked {checked} operations");
    app.platform.store.close().await;
}

async fn docs_page_is_served_from_the_binary(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let redirect = get(&app, "/api/docs").await;
    assert!(redirect.status.is_redirection());
    assert_eq!(redirect.headers[header::LOCATION], "/api/docs/");
    let page = get(&app, "/api/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let target = piece.split('"').next().unwrap();
            assert!(
                !target.starts_with("http:")
                    && !target.starts_with("https:")
                    && !target.starts_with("//"),
                "external asset {target}"
            );
            assets.push(target.trim_start_matches("./").to_owned());
        }
    }
    assert!(
        assets.iter().any(|a| a == "swagger-ui-bundle.js"),
        "{assets:?}"
    );
    for asset in &assets {
        let reply = get(&app, &format!("/api/docs/{asset}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{asset}");
        assert!(!reply.body.is_empty(), "{asset}");
    }
    let init = get(&app, "/api/docs/swagger-initializer.js").await.text();
    assert!(init.contains("/api/openapi.json"), "{init}");
    assert!(
        init.contains(r#""validatorUrl": "none""#) || init.contains(r#""validatorUrl":"none""#),
        "{init}"
    );
    app.platform.store.close().await;
}

async fn problem_table_lists_every_code(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let table = get(&app, "/api/problems").await.json();
    let codes: Vec<&str> = table
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = relais_http::ErrorCode::ALL
        .iter()
        .map(|c| c.code())
        .collect();
    assert_eq!(codes, expected);
    assert!(
        table
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"].as_u64().unwrap() >= 400)
    );
    app.platform.store.close().await;
}

async fn serve_in_background(
    app: &TestApp,
    grace: Duration,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(relais_http::serve(
        listener,
        app.router.clone(),
        app.platform.shutdown.clone(),
        grace,
    ));
    (addr, server)
}

async fn shutdown_drains_in_flight_requests(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let (addr, server) = serve_in_background(&app, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(client.get(format!("http://{addr}/api/test/slow")).send());
    app.gate.entered.notified().await;
    app.platform.shutdown.trigger();
    app.gate.release.notify_one();
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    server.await.unwrap().expect("server stops cleanly");
    let after = reqwest::Client::new()
        .get(format!("http://{addr}/api/health"))
        .send()
        .await;
    assert!(after.is_err(), "no longer accepting");
    app.platform.store.close().await;
}

async fn shutdown_cuts_requests_past_the_grace_period(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let (addr, server) = serve_in_background(&app, Duration::from_millis(200)).await;
    let in_flight = tokio::spawn(
        reqwest::Client::new()
            .get(format!("http://{addr}/api/test/slow"))
            .send(),
    );
    app.gate.entered.notified().await;
    app.platform.shutdown.trigger();
    server
        .await
        .unwrap()
        .expect("server returns after the grace period");
    assert!(
        in_flight.await.unwrap().is_err(),
        "the stuck request was cut"
    );
    app.platform.store.close().await;
}

async fn tasks_api_enqueue_read_cancel_retry(ctx: Ctx) {
    // The engine is not started: tasks stay queued, so every step is deterministic.
    let app = start(config(&ctx)).await;
    let op = Role::Operator;
    let created = send_as(
        &app,
        op,
        json_post(
            "/api/tasks",
            serde_json::json!({"kind": "relais.sleep", "args": {"ms": 5}, "priority": 3}),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text());
    let task = created.json();
    let id = task["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            task["state"].as_str(),
            task["priority"].as_i64(),
            task["created_by"].as_str()
        ),
        (Some("available"), Some(3), Some("test-operator"))
    );
    assert_eq!(task["links"]["self"], format!("/api/tasks/{id}"));

    let read = send_as(
        &app,
        Role::Viewer,
        Request::get(format!("/api/tasks/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["errors"], serde_json::json!([]));
    let celery = send_as(
        &app,
        Role::Viewer,
        Request::get(format!("/api/async/task/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(
        (celery["task_id"].as_str(), celery["state"].as_str()),
        (Some(id.as_str()), Some("PENDING"))
    );

    let viewer_cancel = send_as(
        &app,
        Role::Viewer,
        request(Method::DELETE, &format!("/api/tasks/{id}"), None, ""),
    )
    .await;
    viewer_cancel.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let cancelled = send_as(
        &app,
        op,
        request(Method::DELETE, &format!("/api/tasks/{id}"), None, ""),
    )
    .await;
    assert_eq!(
        (cancelled.status, cancelled.json()["state"].clone()),
        (StatusCode::OK, serde_json::json!("cancelled"))
    );
    send_as(
        &app,
        op,
        request(Method::DELETE, &format!("/api/tasks/{id}"), None, ""),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
    let celery = send_as(
        &app,
        Role::Viewer,
        Request::get(format!("/api/async/task/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(celery["state"], "REVOKED");

    let retried = send_as(
        &app,
        op,
        request(Method::POST, &format!("/api/tasks/{id}/retry"), None, ""),
    )
    .await;
    assert_eq!(
        (retried.status, retried.json()["state"].clone()),
        (StatusCode::ACCEPTED, serde_json::json!("available"))
    );
    send_as(
        &app,
        op,
        request(Method::POST, &format!("/api/tasks/{id}/retry"), None, ""),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");

    let keyed = serde_json::json!({"kind": "relais.noop", "unique_key": "nightly"});
    let first = send_as(&app, op, json_post("/api/tasks", keyed.clone())).await;
    let again = send_as(&app, op, json_post("/api/tasks", keyed)).await;
    assert_eq!(
        (first.status, again.status),
        (StatusCode::ACCEPTED, StatusCode::OK)
    );
    assert_eq!(
        first.json()["id"],
        again.json()["id"],
        "the queued task with that key"
    );

    let missing = uuid::Uuid::now_v7();
    send_as(
        &app,
        Role::Viewer,
        Request::get(format!("/api/tasks/{missing}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    send_as(
        &app,
        op,
        request(
            Method::DELETE,
            &format!("/api/async/task/{missing}"),
            None,
            "",
        ),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.platform.store.close().await;
}

async fn tasks_api_refuses_bad_requests(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let op = Role::Operator;
    let cases = [
        (
            serde_json::json!({"kind": "no.such"}),
            "unknown task kind `no.such`",
        ),
        (
            serde_json::json!({"kind": "relais.sleep", "args": {"ms": "x"}}),
            "invalid arguments for `relais.sleep`",
        ),
        (
            serde_json::json!({"kind": "relais.noop", "max_attempts": 0}),
            "`max_attempts`",
        ),
        (
            serde_json::json!({"kind": "relais.noop", "queue": "elsewhere"}),
            "no queue `elsewhere`",
        ),
    ];
    for (body, expected) in cases {
        let reply = send_as(&app, op, json_post("/api/tasks", body.clone())).await;
        let problem = reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{body}: {problem}"
        );
    }
    let unknown_field = send_as(
        &app,
        op,
        json_post(
            "/api/tasks",
            serde_json::json!({"kind": "relais.noop", "prio": 1}),
        ),
    )
    .await;
    unknown_field.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    send_as(
        &app,
        op,
        request(Method::POST, "/api/tasks", Some("application/json"), "{"),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid_json");
    send_as(
        &app,
        op,
        request(Method::GET, "/api/tasks/not-a-uuid", None, ""),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid_path");
    send_as(
        &app,
        Role::Viewer,
        json_post("/api/tasks", serde_json::json!({"kind": "relais.noop"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.platform.store.close().await;
}

async fn tasks_api_runs_tasks_and_answers_celery_style(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let mut events = app.engine.subscribe();
    app.engine.start(&app.platform.shutdown);
    let created = send_as(
        &app,
        Role::Operator,
        json_post(
            "/api/tasks",
            serde_json::json!({"kind": "relais.sleep", "args": {"ms": 1}}),
        ),
    )
    .await;
    let id: uuid::Uuid = created.json()["id"].as_str().unwrap().parse().unwrap();
    let wait = async {
        loop {
            if let Ok(e) = events.recv().await
                && e.id == id
                && e.state == relais_platform::tasks::TaskState::Succeeded
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the task ran");
    let celery = send_as(
        &app,
        Role::Viewer,
        Request::get(format!("/api/async/task/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(celery["state"], "SUCCESS");
    assert_eq!(celery["result"], serde_json::json!({"slept_ms": 1}));
    assert_eq!(celery["progress"], 100.0);
    app.engine.drain(tokio::time::Instant::now()).await;
    app.platform.store.close().await;
}

async fn tasks_api_lists_with_filters_and_cursor(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let kind = if i % 2 == 0 {
            "relais.noop"
        } else {
            "relais.sleep"
        };
        let args = if i % 2 == 0 {
            serde_json::json!({})
        } else {
            serde_json::json!({"ms": 1})
        };
        let reply = send_as(
            &app,
            Role::Operator,
            json_post(
                "/api/tasks",
                serde_json::json!({"kind": kind, "args": args}),
            ),
        )
        .await;
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let cancel = send_as(
        &app,
        Role::Operator,
        request(Method::DELETE, &format!("/api/tasks/{}", ids[0]), None, ""),
    )
    .await;
    assert_eq!(cancel.status, StatusCode::OK);
    let list = |uri: String| {
        let app = &app;
        async move {
            let reply = send_as(
                app,
                Role::Viewer,
                Request::get(uri).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            reply.json()
        }
    };
    let page_ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let first = list("/api/tasks?limit=2".into()).await;
    assert_eq!(page_ids(&first), newest_first[..2].to_vec());
    let cursor = first["next"].as_str().unwrap().to_owned();
    let second = list(format!("/api/tasks?limit=2&after={cursor}")).await;
    assert_eq!(page_ids(&second), newest_first[2..4].to_vec());
    let last = list(format!(
        "/api/tasks?limit=2&after={}",
        second["next"].as_str().unwrap()
    ))
    .await;
    assert_eq!(page_ids(&last), newest_first[4..].to_vec());
    assert!(last["next"].is_null(), "no page after the last");
    let sleeps = list("/api/tasks?kind=relais.sleep".into()).await;
    assert_eq!(page_ids(&sleeps), vec![ids[3].clone(), ids[1].clone()]);
    let cancelled = list("/api/tasks?state=cancelled,failed".into()).await;
    assert_eq!(page_ids(&cancelled), vec![ids[0].clone()]);
    for (uri, code) in [
        ("/api/tasks?state=done", "invalid_query"),
        ("/api/tasks?limit=0", "invalid_query"),
        ("/api/tasks?limit=abc", "invalid_query"),
        ("/api/tasks?created_from=yesterday", "invalid_query"),
        ("/api/tasks?after=not-a-uuid", "invalid_query"),
        ("/api/tasks?colour=red", "invalid_query"),
    ] {
        send_as(
            &app,
            Role::Viewer,
            Request::get(uri).body(Body::empty()).unwrap(),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, code);
    }
    app.platform.store.close().await;
}
