//! Health, readiness, metrics, OpenAPI, roles, the docs page and the problem table.

use crate::support::*;

pub(crate) async fn health_reports_process_and_deployment(ctx: Ctx) {
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

pub(crate) async fn ready_when_database_and_schema_are_current(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let reply = get(&app, "/api/health/ready").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["status"], "ready");
    for check in ["database", "schema", "audit", "server"] {
        assert_eq!(body["checks"][check]["status"], "up", "{check}: {body}");
        assert!(body["checks"][check]["latency_ms"].as_f64().is_some());
    }
    assert_eq!(body["checks"]["audit"]["details"]["failed"], 0);
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

pub(crate) async fn ready_is_503_when_schema_is_behind(ctx: Ctx) {
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

pub(crate) async fn ready_is_503_when_redis_is_unreachable(ctx: Ctx) {
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

pub(crate) async fn ready_checks_redis_when_configured(ctx: Ctx) {
    let app = start(config(&ctx).with_redis_url(ctx.redis_url.clone())).await;
    let reply = get(&app, "/api/health/ready").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["checks"]["redis"]["status"], "up");
    app.platform.store.close().await;
}

pub(crate) async fn ready_is_503_while_shutting_down(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    app.platform.shutdown.trigger();
    let body = get(&app, "/api/health/ready")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(body["checks"]["server"]["error"], "shutting down");
    // Once drained, the audit writer is stopped too.
    app.platform
        .audit
        .drain(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
    let body = get(&app, "/api/health/ready")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(body["checks"]["audit"]["status"], "down");
    app.platform.store.close().await;
}

pub(crate) async fn metrics_label_requests_by_route_template(ctx: Ctx) {
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
pub(crate) fn check_refs(doc: &Value, node: &Value) -> usize {
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

pub(crate) async fn openapi_document_describes_every_route(ctx: Ctx) {
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

pub(crate) async fn every_documented_route_enforces_its_declared_role(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let ops = documented_operations(&app.doc);
    for (method, path, concrete, required) in &ops {
        let reply = send(&app, request(method.clone(), concrete, None, "")).await;
        if required == "public" {
            assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else {
            reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        }
    }
    assert!(ops.len() >= 10, "walked {} operations", ops.len());
    app.platform.store.close().await;
}

/// Every documented operation: (method, path template, a concrete path, required role). The
/// fixture route that waits for a release is left out (the shutdown tests cover it).
fn documented_operations(doc: &OpenApi) -> Vec<(Method, String, String, String)> {
    let doc = serde_json::to_value(doc).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path == "/api/test/slow" {
            continue;
        }
        let concrete = path.replace("{id}", "1").replace("{queue}", "default");
        for (method, op) in item.as_object().unwrap() {
            let required = op["x-required-role"].as_str().unwrap().to_owned();
            ops.push((
                method.to_uppercase().parse().unwrap(),
                path.clone(),
                concrete.clone(),
                required,
            ));
        }
    }
    ops
}

pub(crate) async fn docs_page_is_served_from_the_binary(ctx: Ctx) {
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

pub(crate) async fn problem_table_lists_every_code(ctx: Ctx) {
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

fn with_token(method: Method, uri: &str, secret: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(Body::empty())
        .unwrap()
}

pub(crate) async fn real_tokens_open_exactly_the_routes_of_their_role(ctx: Ctx) {
    use relais_platform::tokens::{Role, TokenInfo, Tokens, hash_secret};
    let app = start(config(&ctx)).await;
    let tokens = Tokens::new(
        app.platform.store.clone(),
        Arc::new(relais_platform::clock::SystemClock),
    );
    let mut secrets = Vec::new();
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        let issued = tokens
            .create(&format!("walk-{role}"), role, None, Some("test"))
            .await
            .unwrap();
        secrets.push((role, issued.secret));
    }
    let mut checked = 0;
    for (method, path, concrete, required) in documented_operations(&app.doc) {
        for (role, secret) in &secrets {
            let reply = send(&app, with_token(method.clone(), &concrete, secret)).await;
            let allowed = required == "public" || *role >= required.parse::<Role>().unwrap();
            if allowed {
                assert!(
                    reply.status != StatusCode::UNAUTHORIZED
                        && reply.status != StatusCode::FORBIDDEN,
                    "{role} on {method} {path}: {}",
                    reply.text()
                );
            } else {
                reply.assert_problem(StatusCode::FORBIDDEN, "forbidden");
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "walked {checked} (operation, role) pairs");

    // Wrong, revoked and expired tokens are refused where a role is needed, ignored elsewhere.
    let revoked = tokens
        .create("revoked", Role::Admin, None, None)
        .await
        .unwrap();
    tokens.revoke("revoked").await.unwrap().unwrap();
    let expired = "relais_expired_secret_for_the_test";
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let info = TokenInfo {
        id: uuid::Uuid::now_v7(),
        name: "expired".into(),
        role: Role::Admin,
        created_at: past - chrono::Duration::hours(1),
        created_by: None,
        expires_at: Some(past),
        revoked_at: None,
        last_used_at: None,
    };
    assert!(
        app.platform
            .store
            .insert_token(&info, &hash_secret(expired))
            .await
            .unwrap()
    );
    for secret in ["relais_not_a_token", revoked.secret.as_str(), expired] {
        let refused = send(&app, with_token(Method::GET, "/api/tasks", secret)).await;
        let body = refused.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("unknown, expired or revoked"),
            "{body}"
        );
        let public = send(&app, with_token(Method::GET, "/api/health", secret)).await;
        assert_eq!(public.status, StatusCode::OK);
    }
    // The admin API: create (secret once), list (never secrets), revoke.
    let admin = &secrets[2].1;
    let mut create = json_post(
        "/api/tokens",
        serde_json::json!({"name": "ci", "role": "operator"}),
    );
    create.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {admin}").parse().unwrap(),
    );
    let created = send(&app, create).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["created_by"], "walk-admin");
    let ok = send(&app, with_token(Method::GET, "/api/tasks", &secret)).await;
    assert_eq!(ok.status, StatusCode::OK);
    let mut again = json_post(
        "/api/tokens",
        serde_json::json!({"name": "ci", "role": "operator"}),
    );
    again.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {admin}").parse().unwrap(),
    );
    send(&app, again)
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
    let list = send(&app, with_token(Method::GET, "/api/tokens", admin)).await;
    assert!(!list.text().contains(&secret), "secrets are never listed");
    assert_eq!(list.json()["tokens"].as_array().unwrap().len(), 6);
    let revoke = send(&app, with_token(Method::DELETE, "/api/tokens/ci", admin)).await;
    assert!(revoke.json()["revoked_at"].is_string());
    let gone = send(&app, with_token(Method::GET, "/api/tasks", &secret)).await;
    gone.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.platform.store.close().await;
}
