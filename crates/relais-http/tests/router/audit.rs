//! The audit middleware and the audit routes: what is recorded (and what is not), redaction,
//! answers held until their record is durable, 503 when it cannot be written, the log's filters,
//! pages and CSV export, statistics, and body summaries.

use std::pin::pin;

use futures_util::poll;
use relais_platform::audit::{AuditEntry, AuditFilter};
use relais_platform::store::{DbTx, Store};

use crate::support::*;

/// A request carrying `X-Request-Id: id`, with a JSON body when given.
fn with_id(method: Method, uri: &str, body: Option<Value>, id: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-request-id", id);
    let body = match body {
        Some(v) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    builder.body(body).unwrap()
}

/// The one record of request `id`.
async fn record_of(app: &TestApp, id: &str) -> AuditEntry {
    let mut found = app
        .platform
        .audit
        .list(&AuditFilter {
            request_id: Some(id.into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "one record of request {id}: {found:?}");
    found.remove(0)
}

async fn record_count(app: &TestApp) -> i64 {
    app.platform.audit.chain().await.unwrap().head_seq
}

/// Takes the chain head's lock so the writer waits (see the platform's audit suite).
async fn hold_chain(store: &Arc<dyn Store>) -> DbTx {
    let mut tx = store.begin().await.unwrap();
    if let DbTx::Postgres(pg) = &mut tx {
        sqlx::query("SELECT head_seq FROM relais_audit_chain WHERE id = 1 FOR UPDATE")
            .execute(&mut **pg)
            .await
            .unwrap();
    }
    tx
}

pub(crate) async fn mutating_requests_and_sensitive_reads_are_recorded(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let body = serde_json::json!({
        "kind": "relais.noop",
        "args": {"api_key": "k-123", "note": "kept"},
        "unique_key": "audit-u1",
    });
    let reply = send_as(
        &app,
        Role::Operator,
        with_id(Method::POST, "/api/tasks", Some(body), "enqueue-1"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    let task_id = reply.json()["id"].as_str().unwrap().to_owned();
    let e = record_of(&app, "enqueue-1").await;
    let r = &e.record;
    assert_eq!(r.action, "POST /api/tasks");
    assert_eq!(
        (r.actor.as_str(), r.role.as_deref()),
        ("test-operator", Some("operator"))
    );
    assert_eq!(
        (r.resource_type.as_deref(), r.resource_id.as_deref()),
        (Some("tasks"), Some(task_id.as_str()))
    );
    assert_eq!((r.status, r.success), (Some(202), true));
    assert!(r.duration_micros > 0);
    assert!((chrono::Utc::now() - r.at).num_seconds().abs() < 60);
    let params = r.params.to_value();
    assert_eq!(params["body"]["kind"], "relais.noop");
    assert_eq!(params["body"]["args"]["note"], "kept");
    assert_eq!(params["body"]["args"]["api_key"], "[redacted]");
    assert!(!r.params.as_str().contains("k-123"));

    // The id from the path; a refusal by the handler is a failure on record.
    let cancel = send_as(
        &app,
        Role::Operator,
        with_id(
            Method::DELETE,
            &format!("/api/tasks/{task_id}"),
            None,
            "cancel-1",
        ),
    )
    .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text());
    let e = record_of(&app, "cancel-1").await;
    assert_eq!(e.record.action, "DELETE /api/tasks/{id}");
    assert_eq!(e.record.resource_id.as_deref(), Some(task_id.as_str()));
    assert_eq!(e.record.params.to_value()["path"]["id"], task_id.as_str());
    let missing = uuid::Uuid::now_v7();
    let retry = send_as(
        &app,
        Role::Operator,
        with_id(
            Method::POST,
            &format!("/api/tasks/{missing}/retry"),
            None,
            "retry-1",
        ),
    )
    .await;
    assert_eq!(retry.status, StatusCode::NOT_FOUND);
    let e = record_of(&app, "retry-1").await;
    assert_eq!((e.record.status, e.record.success), (Some(404), false));
    assert_eq!(e.record.action, "POST /api/tasks/{id}/retry");

    // Refused by the access layer: recorded too, anonymous or with the caller's role.
    let anonymous = send(
        &app,
        with_id(
            Method::POST,
            "/api/tasks",
            Some(serde_json::json!({"kind": "relais.noop"})),
            "anon-1",
        ),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let e = record_of(&app, "anon-1").await;
    assert_eq!(
        (
            e.record.actor.as_str(),
            e.record.role.as_deref(),
            e.record.success
        ),
        ("anonymous", None, false)
    );
    let viewer = send_as(
        &app,
        Role::Viewer,
        with_id(
            Method::POST,
            "/api/tasks",
            Some(serde_json::json!({"kind": "relais.noop"})),
            "viewer-1",
        ),
    )
    .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let e = record_of(&app, "viewer-1").await;
    assert_eq!(
        (
            e.record.actor.as_str(),
            e.record.role.as_deref(),
            e.record.status
        ),
        ("test-viewer", Some("viewer"), Some(403))
    );

    // A public mutating route, secrets in the body; query parameters.
    let widget = send(
        &app,
        with_id(
            Method::POST,
            "/api/test/widgets",
            Some(serde_json::json!({"name": "w", "count": 1, "password": "hunter2"})),
            "widget-1",
        ),
    )
    .await;
    assert_eq!(widget.status, StatusCode::CREATED);
    let e = record_of(&app, "widget-1").await;
    assert_eq!(e.record.params.to_value()["body"]["password"], "[redacted]");
    assert!(!e.record.params.as_str().contains("hunter2"));
    let invalidate = send_as(
        &app,
        Role::Operator,
        with_id(
            Method::DELETE,
            "/api/cache?namespace=refs&prefix=centre:&token=t0p",
            None,
            "cache-1",
        ),
    )
    .await;
    // Refused (unknown parameter `token`), and recorded with the secret redacted.
    assert_eq!(
        invalidate.status,
        StatusCode::BAD_REQUEST,
        "{}",
        invalidate.text()
    );
    let e = record_of(&app, "cache-1").await;
    assert_eq!(e.record.resource_type.as_deref(), Some("cache"));
    assert_eq!((e.record.status, e.record.success), (Some(400), false));
    assert_eq!(
        e.record.params.to_value()["query"],
        serde_json::json!({"namespace": "refs", "prefix": "centre:", "token": "[redacted]"})
    );

    // Plain reads, unknown routes and wrong methods are not recorded.
    let before = record_count(&app).await;
    for (method, uri) in [
        (Method::GET, "/api/tasks"),
        (Method::GET, "/api/health"),
        (Method::POST, "/api/nowhere"),
        (Method::PUT, "/api/tasks"),
    ] {
        send_as(&app, Role::Admin, request(method, uri, None, "")).await;
    }
    assert_eq!(record_count(&app).await, before, "nothing recorded");

    // Sensitive reads are.
    for (uri, id) in [
        ("/api/tokens", "tokens-read"),
        ("/api/audit/logs?limit=1", "logs-read"),
    ] {
        let reply = send_as(&app, Role::Admin, with_id(Method::GET, uri, None, id)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let e = record_of(&app, id).await;
        assert!(
            e.record.action.starts_with("GET /api/"),
            "{}",
            e.record.action
        );
    }
    let report = app.platform.audit.verify().await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.checked as i64, record_count(&app).await);
    app.platform.store.close().await;
}

pub(crate) async fn openapi_marks_audited_operations(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let doc = get(&app, "/api/openapi.json").await.json();
    let mut audited = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let marked = op.get("x-audited") == Some(&Value::Bool(true));
            let mutating = ["post", "put", "patch", "delete"].contains(&method.as_str());
            let sensitive =
                method == "get" && ["/api/tokens", "/api/audit/logs"].contains(&path.as_str());
            assert_eq!(marked, mutating || sensitive, "{method} {path}");
            if marked {
                audited += 1;
                assert!(
                    op["description"].as_str().unwrap().contains("audit trail"),
                    "{method} {path}"
                );
            }
        }
    }
    assert!(audited >= 8, "{audited} audited operations");
    for path in ["/api/audit/logs", "/api/audit/stats"] {
        assert_eq!(
            doc["paths"][path]["get"]["x-required-role"], "admin",
            "{path}"
        );
    }
    app.platform.store.close().await;
}

pub(crate) async fn an_answer_waits_until_its_record_is_durable(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let audit = app.platform.audit.clone();
    let guard = hold_chain(&app.platform.store).await;
    let received = audit.progress().borrow().received;
    let widget = serde_json::json!({"name": "w", "count": 1});
    let mut reply = pin!(send(
        &app,
        with_id(Method::POST, "/api/test/widgets", Some(widget), "held-1")
    ));
    tokio::select! {
        r = reply.as_mut() => panic!("answered ({}) before its record was durable", r.status),
        () = audit.wait_for(|p| p.received > received) => {}
    }
    // The handler has run and its record is with the writer, which waits for the database.
    assert!(poll!(reply.as_mut()).is_pending());
    drop(guard);
    let reply = reply.await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(record_of(&app, "held-1").await.record.status, Some(201));
    app.platform.store.close().await;
}

pub(crate) async fn an_operation_that_cannot_be_recorded_is_answered_503(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let widget = serde_json::json!({"name": "w", "count": 1});
    exec(
        &ctx,
        "ALTER TABLE relais_audit_log RENAME TO relais_audit_log_away",
    )
    .await;
    let reply = send(&app, json_post("/api/test/widgets", widget.clone())).await;
    let problem = reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("may have taken effect")
    );
    exec(
        &ctx,
        "ALTER TABLE relais_audit_log_away RENAME TO relais_audit_log",
    )
    .await;
    let reply = send(&app, json_post("/api/test/widgets", widget)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(app.platform.audit.verify().await.unwrap().checked, 1);
    app.platform.store.close().await;
}

pub(crate) async fn audit_log_filters_pages_and_exports_csv(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let task = || Some(serde_json::json!({"kind": "relais.noop"}));
    for i in 0..12 {
        let r = send_as(
            &app,
            Role::Operator,
            with_id(Method::POST, "/api/tasks", task(), &format!("op-{i}")),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    for i in 0..3 {
        send_as(
            &app,
            Role::Viewer,
            with_id(Method::POST, "/api/tasks", task(), &format!("vw-{i}")),
        )
        .await;
    }
    send(
        &app,
        with_id(
            Method::POST,
            "/api/test/widgets",
            Some(serde_json::json!({"name": "w", "count": 2})),
            "anon",
        ),
    )
    .await;
    let logs = |query: &str| {
        let uri = format!("/api/audit/logs{query}");
        let app = &app;
        async move { send_as(app, Role::Admin, request(Method::GET, &uri, None, "")).await }
    };
    let items = |reply: &Reply| -> Vec<Value> {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["items"].as_array().unwrap().clone()
    };
    let ops = items(&logs("?actor=test-operator").await);
    assert_eq!(ops.len(), 12);
    assert!(
        ops.iter()
            .all(|i| i["actor"] == "test-operator" && i["status"] == 202)
    );
    assert!(
        ops.windows(2)
            .all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()),
        "newest first"
    );
    let seed_alias = items(&logs("?user_identifier=test-viewer").await);
    assert_eq!(seed_alias.len(), 3);
    let refused = items(&logs("?action=POST%20%2Fapi%2Ftasks&success=false").await);
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|i| i["status"] == 403 && i["success"] == false)
    );
    let anon = items(&logs("?request_id=anon").await);
    assert_eq!(anon.len(), 1);
    assert_eq!(anon[0]["action"], "POST /api/test/widgets");
    assert_eq!(anon[0]["params"]["body"]["count"], 2);
    assert_eq!(anon[0]["hash"].as_str().unwrap().len(), 64);

    // Cursor pages cover the 15 task records once.
    let mut seen = Vec::new();
    let mut query = "?resource_type=tasks&limit=4".to_owned();
    loop {
        let reply = logs(&query).await;
        let page = items(&reply);
        seen.extend(page.iter().map(|i| i["seq"].as_i64().unwrap()));
        match reply.json()["next"].as_i64() {
            Some(next) => query = format!("?resource_type=tasks&limit=4&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 15);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");

    // Time range: dates or RFC 3339.
    let today = chrono::Utc::now().date_naive();
    assert_eq!(
        items(&logs(&format!("?actor=test-operator&from={today}")).await).len(),
        12
    );
    assert_eq!(
        items(&logs("?actor=test-operator&to=2000-01-01").await).len(),
        0
    );
    assert_eq!(
        items(&logs("?actor=test-operator&start_date=2999-01-01T00:00:00Z").await).len(),
        0
    );

    // CSV, by parameter or by Accept; streamed, every matching record unless limited.
    let csv = logs("?actor=test-operator&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("seq,timestamp,actor,role,action"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 13, "{text}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(",test-operator,operator,POST /api/tasks,")),
        "{text}"
    );
    let accept = send_as(
        &app,
        Role::Admin,
        Request::get("/api/audit/logs?actor=test-viewer")
            .header(header::ACCEPT, "text/csv")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(accept.text().lines().count(), 4);
    assert_eq!(logs("?format=csv&limit=2").await.text().lines().count(), 3);

    // Reading the log is itself recorded.
    let reads = items(&logs("?action=GET%20%2Fapi%2Faudit%2Flogs&limit=1000").await);
    assert_eq!(
        reads.len(),
        14,
        "every earlier read recorded (this one after its answer)"
    );
    assert!(reads.iter().all(|r| r["actor"] == "test-admin"));

    for bad in [
        "?success=maybe",
        "?from=yesterday",
        "?to=2026-13-01",
        "?limit=0",
        "?limit=1001",
        "?format=xml",
        "?after=abc",
        "?bogus=1",
    ] {
        logs(bad)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid_query");
    }
    send_as(
        &app,
        Role::Operator,
        request(Method::GET, "/api/audit/logs", None, ""),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.platform.store.close().await;
}

pub(crate) async fn audit_stats_count_by_dimension_and_day(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    for _ in 0..4 {
        send_as(
            &app,
            Role::Operator,
            json_post("/api/tasks", serde_json::json!({"kind": "relais.noop"})),
        )
        .await;
    }
    send(
        &app,
        json_post("/api/tasks", serde_json::json!({"kind": "relais.noop"})),
    )
    .await;
    let reply = send_as(
        &app,
        Role::Admin,
        request(Method::GET, "/api/audit/stats?days=7", None, ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let s = reply.json();
    assert_eq!(
        (s["days"].as_i64(), s["total"].as_i64()),
        (Some(7), Some(5))
    );
    assert_eq!(
        (s["succeeded"].as_i64(), s["failed"].as_i64()),
        (Some(4), Some(1))
    );
    assert_eq!(s["by_success"], serde_json::json!({"true": 4, "false": 1}));
    assert_eq!(
        s["by_actor"][0],
        serde_json::json!({"key": "test-operator", "count": 4})
    );
    assert_eq!(
        s["by_actor"][1],
        serde_json::json!({"key": "anonymous", "count": 1})
    );
    assert_eq!(
        s["by_resource_type"][0],
        serde_json::json!({"key": "tasks", "count": 5})
    );
    assert_eq!(
        s["by_action"][0],
        serde_json::json!({"key": "POST /api/tasks", "count": 5})
    );
    let days = s["per_day"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(
        days[6],
        serde_json::json!({"date": today, "total": 5, "succeeded": 4, "failed": 1})
    );
    assert!(days[..6].iter().all(|d| d["total"] == 0));
    let default = send_as(
        &app,
        Role::Admin,
        request(Method::GET, "/api/audit/stats", None, ""),
    )
    .await
    .json();
    assert_eq!(default["per_day"].as_array().unwrap().len(), 30);
    for bad in ["?days=0", "?days=3661", "?days=week", "?day=7"] {
        send_as(
            &app,
            Role::Admin,
            request(Method::GET, &format!("/api/audit/stats{bad}"), None, ""),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_query");
    }
    app.platform.store.close().await;
}

pub(crate) async fn large_and_binary_bodies_are_summarised_by_size(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let big = serde_json::json!({"name": "n".repeat(100_000), "count": 1}).to_string();
    let reply = send(
        &app,
        request(
            Method::POST,
            "/api/test/widgets",
            Some("application/json"),
            big.clone(),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        record_of(&app, &id).await.record.params.to_value()["body"],
        serde_json::json!({"bytes": big.len(), "content_type": "application/json"})
    );
    // Without a declared length: counted as the handler reads it.
    let chunks = vec![br#"{"name":"#.to_vec(), br#""chunked","count":3}"#.to_vec()];
    let streamed = Body::from_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ));
    let reply = send(
        &app,
        request(
            Method::POST,
            "/api/test/widgets",
            Some("application/json"),
            streamed,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        record_of(&app, &id).await.record.params.to_value()["body"]["bytes"],
        28
    );
    // Multipart (refused by this route): by declared size only.
    let form = "--b\r\ncontent-disposition: form-data; name=\"f\"; filename=\"a.csv\"\r\n\r\nx,y\r\n--b--\r\n";
    let multipart = Request::post("/api/test/widgets")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .header(header::CONTENT_LENGTH, form.len())
        .body(Body::from(form))
        .unwrap();
    let reply = send(&app, multipart).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    let e = record_of(&app, &id).await;
    assert_eq!(
        e.record.params.to_value()["body"],
        serde_json::json!({"bytes": form.len(), "content_type": "multipart/form-data"})
    );
    assert!(!e.record.success);
    // Small but not JSON.
    let reply = send(
        &app,
        request(
            Method::POST,
            "/api/test/widgets",
            Some("application/json"),
            "{oops",
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        record_of(&app, &id).await.record.params.to_value()["body"],
        serde_json::json!({"bytes": 5, "json": "invalid"})
    );
    app.platform.store.close().await;
}
