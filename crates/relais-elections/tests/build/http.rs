//! The build routes through the whole router (`oneshot`): roles, a request while a build runs,
//! the state, the upstream paths, bad bodies.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use relais_http::{Principal, Role};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::*;

async fn send(
    router: &axum::Router,
    role: Option<Role>,
    request: Request<Body>,
) -> (StatusCode, Value) {
    let router = match role {
        Some(role) => router.clone().layer(axum::Extension(Principal {
            name: "tester".into(),
            role,
        })),
        None => router.clone(),
    };
    let response = router.oneshot(request).await.expect("infallible router");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

fn post(uri: &str, body: Option<Value>) -> Request<Body> {
    let request = Request::post(uri);
    match body {
        Some(b) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub(crate) async fn build_routes_request_and_report_builds(ctx: Ctx) {
    let gate = BuildGate::closed();
    let env = env_with(
        &ctx,
        Setup {
            settings: Some(BuildSettings {
                batch: 10,
                gate: Some(gate.clone()),
                ..BuildSettings::default()
            }),
            ..Setup::default()
        },
    )
    .await;
    let r = env
        .pv("departement_08.json", &fixture("departement_08.json"))
        .await;
    assert_eq!(r.counts.inserted, 239);
    let marked = env.dirty().await.len() as u64;
    let routes = vec![relais_elections::http::routes(env.elections.clone())];
    let (router, doc) = relais_http::app(env.platform.clone(), routes);
    let paths: Vec<&String> = doc.paths.paths.keys().collect();
    for p in [
        "/api/elections/build",
        "/api/build/summary",
        "/api/build/summary/status",
    ] {
        assert!(paths.iter().any(|k| k.as_str() == p), "{p} documented");
    }

    // Roles: a viewer reads, an operator builds, nobody anonymous.
    let (status, _) = send(&router, None, get("/api/elections/build")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, problem) = send(
        &router,
        Some(Role::Viewer),
        post("/api/elections/build", Some(json!({ "full": true }))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, before) = send(&router, Some(Role::Viewer), get("/api/elections/build")).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["dirty"], marked);
    assert_eq!(before["summaries"], 0);
    assert_eq!(before["is_running"], false);
    assert_eq!(before["latest"], Value::Null);
    assert_eq!(before["built_at"], Value::Null);

    // A full build, held at its first batch.
    let (status, first) = send(
        &router,
        Some(Role::Operator),
        post("/api/elections/build", Some(json!({ "full": true }))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["outcome"], "enqueued");
    assert_eq!(first["full"], true);
    assert_eq!(first["task"]["kind"], "elections.build");
    assert_eq!(first["task"]["created_by"], "tester");
    let id: uuid::Uuid = first["task_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(first["task"]["id"], first["task_id"]);
    env.task_until(id, |t| t.state == TaskState::Running).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gate.waiting() == 0 {
        assert!(
            Instant::now() < deadline,
            "the build never reached its first batch"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Asked again: the running build, not a new one; the upstream path, without a body (an
    // incremental request), gets it too since a full build covers it.
    let (status, again) = send(
        &router,
        Some(Role::Operator),
        post("/api/elections/build", Some(json!({ "full": true }))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (&again["outcome"], &again["task_id"]),
        (&json!("running"), &first["task_id"])
    );
    assert_eq!(again["status"], "STARTED");
    let (status, seed) = send(
        &router,
        Some(Role::Operator),
        post("/api/build/summary", None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seed}");
    assert_eq!(
        (&seed["outcome"], &seed["task_id"]),
        (&json!("running"), &first["task_id"])
    );
    for uri in ["/api/elections/build", "/api/build/summary/status"] {
        let (status, state) = send(&router, Some(Role::Viewer), get(uri)).await;
        assert_eq!(status, StatusCode::OK, "{state}");
        assert_eq!(state["is_running"], true, "{uri}");
        assert_eq!(state["running"]["id"], first["task_id"], "{uri}");
        assert_eq!(state["task_id"], first["task_id"], "{uri}");
        assert_eq!(state["dirty"], marked, "{uri}");
    }

    // Bad bodies.
    let (status, problem) = send(
        &router,
        Some(Role::Operator),
        post("/api/elections/build", Some(json!({ "ful": true }))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "invalid_body");
    let text = Request::post("/api/elections/build")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("full"))
        .unwrap();
    let (status, problem) = send(&router, Some(Role::Operator), text).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");

    // Let it finish: the state says when, and nothing waits.
    gate.open(1_000_000);
    let done = env.task_until(id, |t| t.state.is_final()).await;
    assert_eq!(done.state, TaskState::Succeeded, "{done:#?}");
    let (status, after) = send(
        &router,
        Some(Role::Viewer),
        get("/api/build/summary/status"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["is_running"], false);
    assert_eq!(after["running"], Value::Null);
    assert_eq!(after["latest"]["state"], "succeeded");
    assert_eq!(after["status"], "SUCCESS");
    assert_eq!(after["progress"], 100.0);
    assert_eq!(after["dirty"], 0);
    assert_eq!(after["summaries"], marked);
    assert!(after["built_at"].is_string() && after["built_at"] == after["full_built_at"]);
    // A new request now enqueues a new (incremental) build.
    let (status, next) = send(
        &router,
        Some(Role::Operator),
        post("/api/build/summary", None),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{next}");
    assert_eq!(
        (&next["outcome"], &next["full"]),
        (&json!("enqueued"), &json!(false))
    );
    let id = next["task_id"].as_str().unwrap().parse().unwrap();
    env.task_until(id, |t| t.state.is_final()).await;
    env.stop().await;
}
