//! Per-route rate limits (`limits.routes`), per caller: the authenticated principal, or the client
//! address without one. Over the limit the answer is a 429 problem with `Retry-After`; every
//! limited response carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
//! `RateLimit-Policy`.
//!
//! The client address is the TCP peer: `X-Forwarded-For` is not trusted (relais does not know
//! which proxies are in front of it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use relais_platform::config::RouteLimit;
use relais_platform::limit::{LimitDecision, Limiter};
use relais_platform::rate::Rate;
use utoipa::openapi::OpenApi;

use crate::access::Principal;
use crate::error::{ApiError, ErrorCode};

/// `RateLimit-Limit`: the bucket size.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests left now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the bucket is full again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// `RateLimit-Policy`: `COUNT;w=SECONDS`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The limits of every limited route and the limiter that keeps their buckets.
#[derive(Clone)]
pub struct RouteLimits {
    limiter: Limiter,
    rules: Arc<HashMap<(String, String), Rate>>,
}

impl RouteLimits {
    /// Limits `routes` with `limiter`.
    pub fn new(limiter: Limiter, routes: &[RouteLimit]) -> Self {
        let rules = routes
            .iter()
            .map(|r| ((r.method.clone(), r.path.clone()), r.rate))
            .collect();
        Self {
            limiter,
            rules: Arc::new(rules),
        }
    }

    /// Whether any route is limited.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The configured routes that `doc` does not describe (a typo would otherwise limit nothing).
pub fn unknown_routes(doc: &OpenApi, routes: &[RouteLimit]) -> Vec<String> {
    routes
        .iter()
        .filter(|r| {
            let Some(item) = doc.paths.paths.get(&r.path) else {
                return true;
            };
            let op = match r.method.as_str() {
                "GET" => &item.get,
                "HEAD" => &item.head,
                "POST" => &item.post,
                "PUT" => &item.put,
                "PATCH" => &item.patch,
                "DELETE" => &item.delete,
                "OPTIONS" => &item.options,
                _ => return true,
            };
            op.is_none()
        })
        .map(RouteLimit::route)
        .collect()
}

fn caller(req: &Request) -> String {
    if let Some(p) = req.extensions().get::<Principal>() {
        return format!("principal:{}", p.name);
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "anonymous".to_owned(),
    }
}

fn seconds_up(micros: i64) -> u64 {
    u64::try_from(micros.max(0))
        .unwrap_or(0)
        .div_ceil(1_000_000)
}

fn headers(d: &LimitDecision) -> Vec<(HeaderName, HeaderValue)> {
    let policy = format!("{};w={}", d.rate.count, d.rate.period.as_secs().max(1));
    vec![
        (RATELIMIT_LIMIT, HeaderValue::from(d.rate.count)),
        (RATELIMIT_REMAINING, HeaderValue::from(d.decision.remaining)),
        (
            RATELIMIT_RESET,
            HeaderValue::from(seconds_up(d.decision.reset_after_micros)),
        ),
        (
            RATELIMIT_POLICY,
            HeaderValue::from_str(&policy).expect("digits are a valid header value"),
        ),
    ]
}

fn add(headers_map: &mut HeaderMap, list: Vec<(HeaderName, HeaderValue)>) {
    for (name, value) in list {
        headers_map.insert(name, value);
    }
}

/// The middleware: takes a token from the caller's bucket of a limited route, or answers 429.
pub(crate) async fn enforce(
    State(limits): State<RouteLimits>,
    req: Request,
    next: Next,
) -> Response {
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let key = (req.method().as_str().to_owned(), route);
    let Some(&rate) = limits.rules.get(&key) else {
        return next.run(req).await;
    };
    let scope = format!("{} {}", key.0, key.1);
    let decision = limits.limiter.take(&scope, &caller(&req), rate, 1).await;
    if !decision.decision.allowed {
        metrics::counter!("relais_rate_limited_total", "route" => scope.clone()).increment(1);
        let retry = seconds_up(decision.decision.retry_after_micros).max(1);
        let mut error = ApiError::new(
            ErrorCode::RateLimited,
            format!("{scope} allows {rate} per caller; retry in {retry} s"),
        )
        .with_extension("retry_after_seconds", serde_json::Value::from(retry))
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry));
        for (name, value) in headers(&decision) {
            error = error.with_header(name, value);
        }
        return error.into_response();
    }
    let mut response = next.run(req).await;
    add(response.headers_mut(), headers(&decision));
    response
}
