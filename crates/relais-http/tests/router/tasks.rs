//! The task routes.

use crate::support::*;

pub(crate) async fn tasks_api_enqueue_read_cancel_retry(ctx: Ctx) {
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

pub(crate) async fn tasks_api_refuses_bad_requests(ctx: Ctx) {
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

pub(crate) async fn tasks_api_runs_tasks_and_answers_celery_style(ctx: Ctx) {
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

pub(crate) async fn tasks_api_lists_with_filters_and_cursor(ctx: Ctx) {
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
