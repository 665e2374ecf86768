//! Cross-cutting request handling: request ids, the request span, metrics, problem dressing and
//! the body-size limit.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode, PROBLEM_JSON};

/// The request id header, accepted from clients and always returned.
pub const REQUEST_ID: &str = "x-request-id";

/// What handlers and errors may know about the request being served.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub id: String,
    pub path: String,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// The request being served by this task, if any.
pub(crate) fn current_request() -> Option<RequestContext> {
    REQUEST.try_with(|c| c.clone()).ok()
}

/// Runs `fut` (e.g. in another task) as part of the request `ctx`, so its errors carry the
/// request id and path.
pub(crate) async fn in_request<F: std::future::Future>(
    ctx: Option<RequestContext>,
    fut: F,
) -> F::Output {
    match ctx {
        Some(ctx) => REQUEST.scope(ctx, fut).await,
        None => fut.await,
    }
}

/// Accepts a client's request id when it is short printable ASCII (it ends up in logs), otherwise
/// makes a new UUIDv7.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Outermost middleware: request id, span, metrics, and problem documents for bare error
/// responses produced outside handlers.
pub(crate) async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let ctx = RequestContext {
        id: id.clone(),
        path: req.uri().path().to_owned(),
    };
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut response = REQUEST
        .scope(ctx, async move {
            let response = next.run(req).await;
            let response = dress(response);
            let status = response.status();
            let elapsed = start.elapsed();
            if status.is_server_error() {
                tracing::warn!(
                    status = status.as_u16(),
                    ms = elapsed.as_secs_f64() * 1e3,
                    "request failed"
                );
            } else {
                tracing::debug!(
                    status = status.as_u16(),
                    ms = elapsed.as_secs_f64() * 1e3,
                    "request served"
                );
            }
            crate::metrics::record_request(method.as_str(), &route, status.as_u16(), elapsed);
            response
        })
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Gives a problem document to any error response that does not carry one yet (e.g. produced by
/// a layer or an embedded asset service), keeping its status and headers.
fn dress(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let code = ErrorCode::from_status(status);
    let (mut parts, _) = response.into_parts();
    let mut dressed = ApiError::new(code, code.description()).into_response();
    *dressed.status_mut() = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in dressed.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, std::mem::replace(dressed.body_mut(), Body::empty()))
}

/// Refuses a body whose declared length exceeds the limit before reading any of it; bodies
/// without a declared length are cut at the same limit by the extractors. Routes that stream
/// and limit their body themselves ([`crate::imports::STREAMED_ROUTES`]) are left alone.
pub(crate) async fn limit_body(State(max): State<usize>, req: Request, next: Next) -> Response {
    let streamed = req.extensions().get::<MatchedPath>().is_some_and(|p| {
        crate::imports::STREAMED_ROUTES
            .iter()
            .any(|(m, path)| req.method().as_str() == *m && p.as_str() == *path)
    });
    if streamed {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is {len} bytes; this route accepts at most {max} bytes"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}
