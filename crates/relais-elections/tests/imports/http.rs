//! `POST /api/imports/elections.pv` through the whole router (`oneshot`).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use relais_http::{Principal, Role};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::*;

async fn send(router: &axum::Router, role: Role, request: Request<Body>) -> (StatusCode, Value) {
    let principal = Principal {
        name: "test-operator".into(),
        role,
    };
    let response = router
        .clone()
        .layer(axum::Extension(principal))
        .oneshot(request)
        .await
        .expect("infallible router");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

pub(crate) async fn pv_upload_over_http(ctx: Ctx) {
    let env = env(&ctx).await;
    let routes = vec![relais_http::imports::routes(env.imports.clone())];
    let (router, _) = relais_http::app(env.platform.clone(), routes);
    let upload = |uri: &str, body: Vec<u8>| {
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, created) = send(
        &router,
        Role::Operator,
        upload(
            "/api/imports/elections.pv?filename=departement_08.json",
            fixture("departement_08.json"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["type"], "elections.pv");
    assert_eq!(created["file"]["format"], "json");
    let id = created["id"].as_str().unwrap().parse().unwrap();
    let done = env.finished(id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:#?}");
    assert_eq!(done.counts.inserted, 239);

    // An optional scope is taken by `append`; the types list JSON and the modes.
    let aveyron = fixture("aveyron_original.csv");
    let (status, created) = send(
        &router,
        Role::Operator,
        upload(
            "/api/imports/elections.pv?filename=aveyron.csv&scope=C4",
            aveyron,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["scope"], "C4");
    let get = Request::get("/api/imports/types")
        .body(Body::empty())
        .unwrap();
    let (status, types) = send(&router, Role::Viewer, get).await;
    assert_eq!(status, StatusCode::OK);
    let pv = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "elections.pv")
        .unwrap();
    assert_eq!(
        pv["extensions"],
        serde_json::json!(["csv", "xlsx", "xls", "json"])
    );
    assert_eq!(pv["modes"][0]["name"], "append");
    assert_eq!(pv["modes"][0]["accepts_scope"], true);
    assert_eq!(pv["modes"][1]["needs_scope"], true);
    // A file of the wrong kind is a 4xx problem.
    let (status, problem) = send(
        &router,
        Role::Operator,
        upload(
            "/api/imports/elections.pv?filename=x.json",
            b"{\"SIRET\": 1}".to_vec(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    let id = created["id"].as_str().unwrap().parse().unwrap();
    env.finished(id).await;
    env.stop().await;
}
