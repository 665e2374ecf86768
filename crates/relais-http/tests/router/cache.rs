//! Cache routes, cacheable responses (ETag / 304) and per-route rate limits.

use relais_platform::config::parse_route_limits;
use relais_platform::limit::LimitBackend;

use crate::support::*;

fn delete(uri: &str) -> Request<Body> {
    request(Method::DELETE, uri, None, "")
}

fn viewer_get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub(crate) async fn cache_routes_report_and_invalidate(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let ns = app.platform.cache.namespace("workforce").unwrap();
    ns.set("centre:1", &1u32, None, &["centre:1"])
        .await
        .unwrap();
    ns.set("centre:2", &2u32, None, &[]).await.unwrap();
    for _ in 0..9 {
        assert_eq!(ns.get::<u32>("centre:1").await, Some(1));
    }
    assert_eq!(ns.get::<u32>("nothing").await, None);

    let stats = send_as(&app, Role::Viewer, viewer_get("/api/cache/stats")).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text());
    assert_eq!(stats.headers[header::CACHE_CONTROL], "no-store");
    let body = stats.json();
    assert_eq!(body["backend"], "local");
    assert_eq!(body["hit_rate"], 90.0);
    let workforce = &body["namespaces"][0];
    assert_eq!(
        (
            &workforce["namespace"],
            &workforce["hits"],
            &workforce["misses"],
            &workforce["entries"]
        ),
        (
            &Value::from("workforce"),
            &Value::from(9),
            &Value::from(1),
            &Value::from(2)
        )
    );
    assert!(workforce["memory_bytes"].as_u64().unwrap() > 0);

    let health = get(&app, "/api/health/cache").await;
    assert_eq!(health.status, StatusCode::OK);
    let health = health.json();
    assert_eq!(health["cache"]["hit_rate"], 90.0);
    assert_eq!(health["recommendations"]["hit_rate_good"], true);

    let by_tag = send_as(
        &app,
        Role::Operator,
        delete("/api/cache?namespace=workforce&tag=centre:1"),
    )
    .await;
    assert_eq!(by_tag.status, StatusCode::OK, "{}", by_tag.text());
    assert_eq!(
        by_tag.json(),
        serde_json::json!({"namespace": "workforce", "by": "tag", "value": "centre:1"})
    );
    assert_eq!(ns.get::<u32>("centre:1").await, None);
    assert_eq!(ns.get::<u32>("centre:2").await, Some(2));
    let by_prefix = send_as(
        &app,
        Role::Operator,
        delete("/api/cache?namespace=workforce&prefix=centre"),
    )
    .await;
    assert_eq!(by_prefix.status, StatusCode::OK);
    assert_eq!(ns.get::<u32>("centre:2").await, None);
    ns.set("k", &3u32, None, &[]).await.unwrap();
    let by_key = send_as(
        &app,
        Role::Operator,
        delete("/api/cache?namespace=workforce&key=k"),
    )
    .await;
    assert_eq!(by_key.json()["by"], "key");
    assert_eq!(ns.get::<u32>("k").await, None);

    let health = get(&app, "/api/health/cache").await.json();
    assert_eq!(
        health["recommendations"]["hit_rate_good"], false,
        "{health}"
    );

    send_as(
        &app,
        Role::Viewer,
        delete("/api/cache?namespace=workforce&key=k"),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    send(&app, delete("/api/cache?namespace=workforce&key=k"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.platform.store.close().await;
}

pub(crate) async fn cache_invalidation_refuses_bad_requests(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    for (uri, status, code) in [
        (
            "/api/cache?namespace=workforce",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/api/cache?namespace=workforce&key=a&tag=b",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/api/cache?namespace=Work%20Force&key=a",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/api/cache?namespace=workforce&key=",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/api/cache?namespace=workforce&tag=a%0Ab",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        ("/api/cache?key=a", StatusCode::BAD_REQUEST, "invalid_query"),
        (
            "/api/cache?namespace=workforce&key=a&pattern=*",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        send_as(&app, Role::Operator, delete(uri))
            .await
            .assert_problem(status, code);
    }
    let long = format!("/api/cache?namespace=workforce&key={}", "k".repeat(2000));
    send_as(&app, Role::Operator, delete(&long))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.platform.store.close().await;
}

pub(crate) async fn cacheable_responses_answer_304_to_a_matching_etag(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    for uri in ["/api/problems", "/api/openapi.json"] {
        let first = get(&app, uri).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.headers[header::CACHE_CONTROL], "public, no-cache");
        let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again = get(&app, uri).await;
        assert_eq!(again.headers[header::ETAG], etag.as_str(), "stable tag");
        for matching in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".into(),
        ] {
            let reply = send(
                &app,
                Request::get(uri)
                    .header(header::IF_NONE_MATCH, matching.as_str())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{uri} {matching}");
            assert!(reply.body.is_empty());
            assert_eq!(reply.headers[header::ETAG], etag.as_str());
        }
        let stale = send(
            &app,
            Request::get(uri)
                .header(header::IF_NONE_MATCH, "\"0123\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(stale.status, StatusCode::OK);
        assert_eq!(stale.body, first.body);
    }
    app.platform.store.close().await;
}

fn limited_config(ctx: &Ctx, backend: LimitBackend) -> Config {
    let mut config = config(ctx);
    config.limits.backend = backend;
    config.limits.routes = parse_route_limits("GET /api/test/items/{id}=3/hour").unwrap();
    if backend == LimitBackend::Redis {
        config = config.with_redis_url(ctx.redis_url.clone());
    }
    config
}

async fn limiter_ready(app: &TestApp) {
    let Some(mut events) = app.platform.limiter.link_events() else {
        return;
    };
    let wait = async {
        while app.platform.limiter.redis_up() != Some(true) {
            let _ = events.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the limiter's Redis link comes up");
}

fn check_429(reply: &Reply) {
    let body = reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1199..=1200).contains(&retry),
        "one token every 20 minutes: {retry}"
    );
    assert_eq!(body["retry_after_seconds"], retry);
    assert_eq!(reply.headers["ratelimit-limit"], "3");
    assert_eq!(reply.headers["ratelimit-remaining"], "0");
    assert_eq!(reply.headers["ratelimit-policy"], "3;w=3600");
    let reset: u64 = reply.headers["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3599..=3600).contains(&reset), "{reset}");
}

pub(crate) async fn the_request_over_a_route_limit_gets_429(ctx: Ctx) {
    let app = start(limited_config(&ctx, LimitBackend::Local)).await;
    for i in 0..3 {
        let reply = get(&app, "/api/test/items/7").await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}");
        assert_eq!(
            reply.headers["ratelimit-remaining"],
            (2 - i).to_string().as_str()
        );
        assert_eq!(reply.headers["ratelimit-limit"], "3");
    }
    check_429(&get(&app, "/api/test/items/8").await);
    // Another caller has its own bucket; other routes are not limited.
    let other = send_as(&app, Role::Viewer, viewer_get("/api/test/items/7")).await;
    assert_eq!(other.status, StatusCode::OK);
    let unlimited = get(&app, "/api/test/search?limit=1").await;
    assert_eq!(unlimited.status, StatusCode::OK);
    assert!(unlimited.headers.get("ratelimit-limit").is_none());
    let metrics = get(&app, "/metrics").await.text();
    assert!(
        metrics.contains("relais_rate_limited_total{route=\"GET /api/test/items/{id}\"}"),
        "{metrics}"
    );
    app.platform.store.close().await;
}

pub(crate) async fn route_limits_are_shared_by_two_instances_on_redis(ctx: Ctx) {
    // Two instances on one database (one deployment) and one Redis.
    let a = start(limited_config(&ctx, LimitBackend::Redis)).await;
    let b = start(limited_config(&ctx, LimitBackend::Redis)).await;
    limiter_ready(&a).await;
    limiter_ready(&b).await;
    for (i, app) in [&a, &b, &a].into_iter().enumerate() {
        let reply = get(app, "/api/test/items/1").await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}");
    }
    check_429(&get(&b, "/api/test/items/1").await);
    check_429(&get(&a, "/api/test/items/2").await);
    a.platform.store.close().await;
    b.platform.store.close().await;
}

pub(crate) async fn cache_metrics_are_exported(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let ns = app.platform.cache.namespace("events").unwrap();
    ns.set("code:ABC", &true, None, &[]).await.unwrap();
    assert_eq!(ns.get::<bool>("code:ABC").await, Some(true));
    assert_eq!(ns.get::<bool>("code:XYZ").await, None);
    let metrics = get(&app, "/metrics").await.text();
    for line in [
        "relais_cache_hits_total{namespace=\"events\"} 1",
        "relais_cache_misses_total{namespace=\"events\"} 1",
        "relais_cache_entries{namespace=\"events\"} 1",
        "relais_cache_info{backend=\"local\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
    app.platform.store.close().await;
}

pub(crate) async fn tiered_cache_stats_count_shared_entries(ctx: Ctx) {
    let mut config = config(&ctx).with_redis_url(ctx.redis_url.clone());
    config.cache.backend = relais_platform::cache::CacheBackend::Tiered;
    let app = start(config).await;
    let cache = &app.platform.cache;
    let mut events = cache.link_events().unwrap();
    let wait = async {
        while cache.redis_up() != Some(true) {
            let _ = events.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the cache's Redis link comes up");
    let ns = cache.namespace("directory").unwrap();
    ns.set("naf:01", &"Culture", None, &["naf"]).await.unwrap();
    ns.set("naf:02", &"Sylviculture", None, &["naf"])
        .await
        .unwrap();
    let stats = send_as(&app, Role::Viewer, viewer_get("/api/cache/stats"))
        .await
        .json();
    assert_eq!(stats["backend"], "tiered");
    assert_eq!(stats["redis_up"], true);
    assert_eq!(stats["namespaces"][0]["shared_entries"], 2, "{stats}");
    send_as(
        &app,
        Role::Operator,
        delete("/api/cache?namespace=directory&tag=naf"),
    )
    .await;
    let stats = send_as(&app, Role::Viewer, viewer_get("/api/cache/stats"))
        .await
        .json();
    assert_eq!(stats["namespaces"][0]["shared_entries"], 0, "{stats}");
    app.platform.store.close().await;
}
