//! Malformed and well-formed requests, request ids.

use crate::support::*;

pub(crate) async fn malformed_requests_get_problem_responses(ctx: Ctx) {
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

pub(crate) async fn valid_json_is_accepted(ctx: Ctx) {
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

pub(crate) async fn request_ids_are_echoed_or_generated(ctx: Ctx) {
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
