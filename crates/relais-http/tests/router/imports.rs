//! The import routes: uploads (multipart and raw), records, errors.csv, statistics, types,
//! cancel and retry, refusals with their problem codes, and the upload rate limit.

use crate::support::*;

const BOUNDARY: &str = "relaisTestBoundary7MA4YWxk";

fn multipart(uri: &str, file_name: &str, bytes: &[u8]) -> Request<Body> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    Request::post(uri)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .unwrap()
}

fn raw(uri: &str, bytes: &[u8]) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(bytes.to_vec()))
        .unwrap()
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn wait_final(app: &TestApp, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = send_as(app, Role::Viewer, get_req(&format!("/api/imports/{id}"))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        let status = body["status"].as_str().unwrap().to_owned();
        if !["pending", "running"].contains(&status.as_str()) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const CSV: &[u8] =
    "Code;Nom;Courriel;Montant\nA;Alpha;a@example.org;1,5\nB;Bêta;=cmd|' /C calc'!A0;x\n"
        .as_bytes();

pub(crate) async fn imports_api_upload_read_errors_stats(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    app.engine.start(&app.platform.shutdown);
    let op = Role::Operator;
    let created = send_as(
        &app,
        op,
        multipart("/api/imports/sample", "people.csv", CSV),
    )
    .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text());
    let body = created.json();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["type"], "sample");
    assert!(body["task_id"].is_string());
    assert_eq!(body["uploader"], "test-operator");
    assert_eq!(body["file"]["name"], "people.csv");
    assert_eq!(body["file"]["size"], CSV.len());
    assert_eq!(body["file"]["encoding"], "utf-8");
    assert_eq!(
        body["links"]["errors"],
        format!("/api/imports/{id}/errors.csv")
    );
    let done = wait_final(&app, &id).await;
    assert_eq!(done["status"], "partial", "{done}");
    assert_eq!(done["counts"]["inserted"], 1);
    assert_eq!(done["counts"]["rejected"], 1);
    assert_eq!(done["columns"]["matched"]["name"], "Nom");
    assert!(done["duration_ms"].is_i64());

    let errors = send_as(
        &app,
        Role::Viewer,
        get_req(&format!("/api/imports/{id}/errors.csv")),
    )
    .await;
    assert_eq!(errors.status, StatusCode::OK);
    assert_eq!(
        errors.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        errors.text(),
        "\u{feff}row,severity,column,value,message\r\n\
         3,warning,email,'=cmd|' /C calc'!A0,not an e-mail address: left empty\r\n\
         3,error,amount,x,not a number\r\n"
    );

    // The same content again, raw: the earlier import is not successful (partial), so a new one.
    let good = b"code,name\nG1,Good\n";
    let first = send_as(&app, op, raw("/api/imports/sample?filename=good.csv", good)).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text());
    let first_id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(wait_final(&app, &first_id).await["status"], "succeeded");
    let again = send_as(
        &app,
        op,
        raw("/api/imports/sample?filename=again.csv", good),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["id"], first_id.as_str());
    let forced = send_as(
        &app,
        op,
        raw(
            "/api/imports/sample?filename=good.csv&force=true&dry_run=true",
            good,
        ),
    )
    .await;
    assert_eq!(forced.status, StatusCode::ACCEPTED);
    assert_eq!(forced.json()["dry_run"], true);

    let forced_id = forced.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(wait_final(&app, &forced_id).await["status"], "succeeded");
    let list = send_as(
        &app,
        Role::Viewer,
        get_req("/api/imports?type=sample&status=succeeded,partial&limit=2"),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let list = list.json();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![forced_id.as_str(), first_id.as_str()]);
    let next = list["next"].as_str().unwrap();
    let rest = send_as(
        &app,
        Role::Viewer,
        get_req(&format!(
            "/api/imports?status=succeeded,partial&after={next}"
        )),
    )
    .await
    .json();
    assert_eq!(rest["items"][0]["id"], id.as_str());
    assert!(rest["next"].is_null());
    let bad = send_as(&app, Role::Viewer, get_req("/api/imports?status=done")).await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid_query");

    let stats = send_as(&app, Role::Viewer, get_req("/api/imports/stats"))
        .await
        .json();
    let sample = &stats["types"][0];
    assert_eq!(sample["type"], "sample");
    assert_eq!(sample["imports"], 3);
    assert_eq!(sample["by_status"]["succeeded"], 2);
    assert_eq!(sample["by_status"]["partial"], 1);
    assert_eq!(sample["by_status"]["failed"], 0);
    assert!((sample["success_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats["total"]["type"], "*");

    let types = send_as(&app, Role::Viewer, get_req("/api/imports/types"))
        .await
        .json();
    assert_eq!(types[0]["name"], "sample");
    assert_eq!(types[0]["max_size"], 10_000_000);
    assert_eq!(
        types[0]["extensions"],
        serde_json::json!(["csv", "xlsx", "xls"])
    );
    assert_eq!(types[0]["columns"][0]["name"], "code");
    app.platform.store.close().await;
}

pub(crate) async fn imports_api_refuses_bad_uploads(ctx: Ctx) {
    let mut settings = config(&ctx).imports.clone();
    settings.defaults.max_size = 4_096;
    settings.defaults.max_rows = 10;
    settings.upload_rate = None;
    let dir = settings.dir.clone();
    let app = start(config(&ctx).with_imports(settings)).await;
    let op = Role::Operator;
    let check = |reply: Reply, status: StatusCode, code: &str, needle: &str| {
        let body = reply.assert_problem(status, code);
        assert!(
            body["detail"].as_str().unwrap().contains(needle),
            "{needle}: {body}"
        );
    };
    check(
        send_as(
            &app,
            op,
            raw("/api/imports/nope?filename=a.csv", b"code,name\n"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        "no import type `nope`",
    );
    check(
        send_as(&app, op, raw("/api/imports/sample", b"code,name\n")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "filename",
    );
    check(
        send_as(
            &app,
            op,
            raw(
                "/api/imports/sample?filename=a.csv&mode=merge",
                b"code,name\n",
            ),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "no mode `merge`",
    );
    check(
        send_as(
            &app,
            op,
            raw(
                "/api/imports/sample?filename=a.csv&colour=red",
                b"code,name\n",
            ),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
        "colour",
    );
    let mut no_file = multipart("/api/imports/sample", "x.csv", b"code,name\n");
    *no_file.body_mut() = Body::from(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    ));
    check(
        send_as(&app, op, no_file).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "no part named `file`",
    );
    check(
        send_as(
            &app,
            op,
            multipart("/api/imports/sample", "a.pdf", b"%PDF-1.4"),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file",
        "accepts .csv, .xlsx, .xls files",
    );
    check(
        send_as(
            &app,
            op,
            raw(
                "/api/imports/sample?filename=photo.csv",
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01",
            ),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file",
        "image/png",
    );
    check(
        send_as(
            &app,
            op,
            raw(
                "/api/imports/sample?filename=book.xlsx",
                b"code,name\n1,a\n",
            ),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file",
        "not an XLSX workbook",
    );
    check(
        send_as(
            &app,
            op,
            raw(
                "/api/imports/sample?filename=book.xlsx",
                b"PK\x03\x04\x14\0\0\0\x08\0truncated zip",
            ),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "damaged_file",
        "damaged or truncated",
    );
    let rows: String = std::iter::once("code,name\n".to_owned())
        .chain((0..11).map(|i| format!("R{i},n\n")))
        .collect();
    let body = check_body(
        send_as(
            &app,
            op,
            raw("/api/imports/sample?filename=rows.csv", rows.as_bytes()),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_rows",
    );
    assert_eq!(body["max_rows"], 10);
    // Too large: announced (refused before reading) or streamed.
    let mut announced = raw("/api/imports/sample?filename=big.csv", b"code,name\n");
    announced
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "50000000".parse().unwrap());
    let body = check_body(
        send_as(&app, op, announced).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
    );
    assert_eq!(body["max_bytes"], 4_096);
    let big = format!("code,name\nB,{}\n", "b".repeat(5_000));
    check_body(
        send_as(
            &app,
            op,
            multipart("/api/imports/sample", "big.csv", big.as_bytes()),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let list = send_as(&app, Role::Viewer, get_req("/api/imports"))
        .await
        .json();
    assert_eq!(list["items"], serde_json::json!([]));
    let metrics = get(&app, "/metrics").await.text();
    for reason in [
        "unsupported_file",
        "damaged_file",
        "too_many_rows",
        "file_too_large",
    ] {
        assert!(
            metrics.contains(&format!(
                "relais_imports_refused_total{{reason=\"{reason}\"}}"
            )),
            "{reason}"
        );
    }
    // Unknown ids and malformed ones.
    let missing = uuid::Uuid::now_v7();
    send_as(
        &app,
        Role::Viewer,
        get_req(&format!("/api/imports/{missing}")),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    send_as(
        &app,
        Role::Viewer,
        get_req(&format!("/api/imports/{missing}/errors.csv")),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    send_as(&app, Role::Viewer, get_req("/api/imports/not-a-uuid"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_path");
    app.platform.store.close().await;
}

fn check_body(reply: Reply, status: StatusCode, code: &str) -> Value {
    reply.assert_problem(status, code)
}

pub(crate) async fn imports_api_cancel_and_retry(ctx: Ctx) {
    // The engine is not started at first: the import stays pending.
    let app = start(config(&ctx)).await;
    let op = Role::Operator;
    let created = send_as(
        &app,
        op,
        raw("/api/imports/sample?filename=c.csv", b"code,name\nC,c\n"),
    )
    .await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let retry_early = send_as(
        &app,
        op,
        request(Method::POST, &format!("/api/imports/{id}/retry"), None, ""),
    )
    .await;
    retry_early.assert_problem(StatusCode::CONFLICT, "conflict");
    let viewer = send_as(
        &app,
        Role::Viewer,
        request(Method::DELETE, &format!("/api/imports/{id}"), None, ""),
    )
    .await;
    viewer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let cancelled = send_as(
        &app,
        op,
        request(Method::DELETE, &format!("/api/imports/{id}"), None, ""),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    assert_eq!(cancelled.json()["status"], "cancelled");
    let again = send_as(
        &app,
        op,
        request(Method::DELETE, &format!("/api/imports/{id}"), None, ""),
    )
    .await;
    again.assert_problem(StatusCode::CONFLICT, "conflict");
    let retried = send_as(
        &app,
        op,
        request(Method::POST, &format!("/api/imports/{id}/retry"), None, ""),
    )
    .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.text());
    let retried = retried.json();
    assert_eq!(retried["status"], "pending");
    assert_ne!(retried["task_id"], cancelled.json()["task_id"]);
    app.engine.start(&app.platform.shutdown);
    assert_eq!(wait_final(&app, &id).await["status"], "succeeded");
    app.platform.store.close().await;
}

pub(crate) async fn uploads_are_limited_to_10_per_hour_per_caller(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    for i in 0..10 {
        let r = send_as(
            &app,
            Role::Operator,
            raw(
                &format!("/api/imports/sample?filename={i}.csv"),
                b"code,name\nA,a\n",
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "upload {i}: {}", r.text());
        assert_eq!(r.headers["ratelimit-limit"], "10");
    }
    let refused = send_as(
        &app,
        Role::Operator,
        raw("/api/imports/sample?filename=x.csv", b"code,name\nA,a\n"),
    )
    .await;
    let body = refused.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("POST /api/imports/{id} allows 10/h"),
        "{body}"
    );
    assert!(refused.headers.contains_key(header::RETRY_AFTER));
    // Reading is not limited.
    let list = send_as(&app, Role::Operator, get_req("/api/imports")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.headers.contains_key("ratelimit-limit"));
    app.platform.store.close().await;
}
