//! Operating the engine over HTTP: statistics, workers, queue pause, the Celery monitoring
//! aliases, and the Server-Sent Events of a task.

use crate::support::*;

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// Polls `uri` as a viewer until `check` accepts the JSON (a guard turns a hang into a failure).
async fn until_json(app: &TestApp, uri: &str, check: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        loop {
            let reply = send_as(app, Role::Viewer, get_req(uri)).await;
            if reply.status.is_success() {
                let body = reply.json();
                if check(&body) {
                    return body;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("{uri} never matched"))
}

async fn enqueue(app: &TestApp, body: Value) -> String {
    let reply = send_as(app, Role::Operator, json_post("/api/tasks", body)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    reply.json()["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn task_operations_api_stats_queues_workers(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    enqueue(&app, serde_json::json!({"kind": "relais.noop"})).await;
    let stats = send_as(&app, Role::Viewer, get_req("/api/tasks/stats"))
        .await
        .json();
    assert_eq!(stats["by_state"]["available"], 1);
    assert_eq!(stats["by_kind"]["relais.noop"]["available"], 1);
    assert_eq!(stats["queues"][0]["queue"], "default");
    assert_eq!(stats["queues"][0]["due"], 1);
    assert_eq!(stats["failure_rate"], Value::Null);

    let pause = request(Method::POST, "/api/queues/default/pause", None, "");
    send_as(&app, Role::Viewer, pause)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let bad = request(Method::POST, "/api/queues/bad%20name!/pause", None, "");
    send_as(&app, Role::Operator, bad)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let pause = request(Method::POST, "/api/queues/default/pause", None, "");
    let paused = send_as(&app, Role::Operator, pause).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text());
    assert_eq!(
        (
            paused.json()["paused"].as_bool(),
            paused.json()["changed_by"].as_str()
        ),
        (Some(true), Some("test-operator"))
    );
    let queues = send_as(&app, Role::Viewer, get_req("/api/queues"))
        .await
        .json();
    assert_eq!(queues["queues"][0]["paused"], true);

    // Paused: the engine starts, registers, but claims nothing.
    app.engine.start(&app.platform.shutdown);
    let workers = until_json(&app, "/api/workers", |w| {
        w["workers"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(workers["this"], app.engine.worker_id());
    assert_eq!(workers["workers"][0]["id"], app.engine.worker_id());
    assert_eq!(workers["workers"][0]["alive"], true);
    assert_eq!(workers["workers"][0]["queues"][0]["concurrency"], 10);
    let health = send_as(&app, Role::Viewer, get_req("/api/async/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "healthy");
    assert_eq!(
        health.json()["queues"],
        serde_json::json!(["default", "imports"])
    );
    let resume = request(Method::POST, "/api/queues/default/resume", None, "");
    assert_eq!(
        send_as(&app, Role::Operator, resume).await.json()["paused"],
        false
    );
    until_json(&app, "/api/async/stats", |s| s["by_state"]["SUCCESS"] == 1).await;

    let sleeper = enqueue(
        &app,
        serde_json::json!({"kind": "relais.sleep", "args": {"ms": 600_000}}),
    )
    .await;
    let active = until_json(&app, "/api/async/tasks/active", |a| a["count"] == 1).await;
    assert_eq!(active["tasks"][0]["task_id"], sleeper.as_str());
    assert_eq!(active["tasks"][0]["name"], "relais.sleep");
    assert_eq!(active["tasks"][0]["worker"], app.engine.worker_id());
    let stats = send_as(&app, Role::Viewer, get_req("/api/async/stats"))
        .await
        .json();
    assert_eq!(
        (stats["total"].as_i64(), stats["workers"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(stats["by_name"]["relais.sleep"], 1);
    let cancel = request(Method::DELETE, &format!("/api/tasks/{sleeper}"), None, "");
    send_as(&app, Role::Operator, cancel).await;
    app.engine.drain(tokio::time::Instant::now()).await;
    let gone = send_as(&app, Role::Viewer, get_req("/api/async/health")).await;
    let problem = gone.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(
        (problem["health"].as_str(), problem["workers"].as_i64()),
        (Some("unhealthy"), Some(0)),
        "a drained process unregisters"
    );
    app.platform.store.close().await;
}

/// `(event, data)` pairs of a Server-Sent Events body.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            Some((name?, serde_json::from_str(&data).expect("JSON data")))
        })
        .collect()
}

async fn stream(app: &TestApp, uri: &str) -> (StatusCode, HeaderMap, String) {
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        send_as(app, Role::Viewer, get_req(uri)),
    )
    .await
    .expect("the stream ends at the final state");
    (reply.status, reply.headers.clone(), reply.text())
}

pub(crate) async fn task_events_stream_until_the_final_state(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let unknown = send_as(
        &app,
        Role::Viewer,
        get_req(&format!("/api/tasks/{}/events", uuid::Uuid::now_v7())),
    )
    .await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "not_found");
    // The queue is paused until the stream is open: every change happens while it listens.
    app.engine.pause("default", None).await.unwrap();
    app.engine.start(&app.platform.shutdown);
    let id = enqueue(
        &app,
        serde_json::json!({"kind": "relais.sleep", "args": {"ms": 50}}),
    )
    .await;
    let uri = format!("/api/tasks/{id}/events");
    let viewer = relais_http::Principal {
        name: "test-viewer".into(),
        role: Role::Viewer,
    };
    let response = app
        .router
        .clone()
        .layer(axum::Extension(viewer))
        .oneshot(get_req(&uri))
        .await
        .unwrap();
    // The handler has answered: it is subscribed. Let the task run.
    app.engine.resume("default", None).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .expect("the stream ends at the final state")
        .unwrap()
        .to_bytes();
    let (status, headers, body) = (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"task"), "{body}");
    assert_eq!(events[0].1["state"], "available");
    assert_eq!(names.last(), Some(&"task"), "{body}");
    assert_eq!(events.last().unwrap().1["state"], "succeeded");
    assert_eq!(
        events.last().unwrap().1["result"],
        serde_json::json!({"slept_ms": 50})
    );
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "state" && d["state"] == "running"),
        "{body}"
    );
    let progress: Vec<f64> = events
        .iter()
        .filter(|(n, _)| n == "progress")
        .map(|(_, d)| d["percent"].as_f64().unwrap())
        .collect();
    assert!(!progress.is_empty(), "{body}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {progress:?}"
    );
    // A finished task: one `task` event, then the stream closes.
    let (_, _, again) = stream(&app, &uri).await;
    let again = sse_events(&again);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1["state"], "succeeded");
    app.engine.drain(tokio::time::Instant::now()).await;
    app.platform.store.close().await;
}
