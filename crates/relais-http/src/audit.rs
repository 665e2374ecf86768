//! The audit middleware: records every audited request (every mutating operation, and the
//! operations of routes declared [`crate::Routes::sensitive`]) in the platform's audit trail,
//! and releases the response only once its record is durable.
//!
//! What is audited comes from the OpenAPI document (`x-audited`, written by the route
//! declarations): requests that match no documented operation (unknown paths, wrong methods,
//! the docs page) are not recorded. Requests refused before authentication (a declared body
//! over `http.max_body`, credentials that cannot be checked) are not either; refusals by the
//! access layer (401, 403) and the rate limiter (429) are.
//!
//! A record holds the matched route template as the action (`POST /api/tasks/{id}/retry`), the
//! principal (or `anonymous`), its role, the resource type and id derived from the template
//! ([`resource_of`]) or named by the handler ([`AuditResource`]), the status, the duration, the
//! client address, the request id and a parameter summary (path, query, body) with secrets
//! redacted. JSON bodies up to [`JSON_SUMMARY_MAX`] bytes are summarised; other bodies (larger,
//! multipart, binary) only by their size, counted as the handler reads them.
//!
//! The operation and its recording run in a task tracked by the trail
//! ([`relais_platform::audit::Audit::spawn_tracked`]), so a client that disconnects cannot cut
//! an operation between its effect and its record. If the record cannot be written, the answer
//! is a 503 `audit_unavailable` problem: the operation may have taken effect, but relais does not
//! confirm an operation it could not record.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use relais_platform::audit::{Audit, AuditRecord, Params};
use serde_json::{Map, Value, json};
use tracing::Instrument;
use utoipa::openapi::OpenApi;

use crate::access::{Principal, documented, is_audited};
use crate::error::{ApiError, ErrorCode};

/// JSON bodies up to this size are summarised by content; larger ones by size only.
pub const JSON_SUMMARY_MAX: usize = 64 * 1024;

/// The actor of requests without a principal.
pub const ANONYMOUS: &str = "anonymous";

/// A response extension naming the resource an audited operation acted on, when the path does
/// not (e.g. the id of a task just created): `response.extensions_mut().insert(AuditResource(id))`.
#[derive(Debug, Clone)]
pub struct AuditResource(pub String);

/// What is recorded for one documented operation.
#[derive(Debug)]
struct RoutePolicy {
    method: &'static str,
    action: String,
    resource_type: Option<String>,
    id_param: Option<String>,
}

/// The audited operations, by route template.
#[derive(Clone)]
pub(crate) struct AuditLayer {
    audit: Audit,
    routes: Arc<HashMap<String, Vec<Arc<RoutePolicy>>>>,
}

impl AuditLayer {
    /// The operations of `doc` marked `x-audited`, recorded in `audit`.
    pub(crate) fn new(audit: Audit, doc: &OpenApi) -> Self {
        let mut routes: HashMap<String, Vec<Arc<RoutePolicy>>> = HashMap::new();
        for (method, path, op) in documented(doc) {
            if !is_audited(op) {
                continue;
            }
            let (resource_type, id_param) = resource_of(path);
            routes
                .entry(path.to_owned())
                .or_default()
                .push(Arc::new(RoutePolicy {
                    method,
                    action: format!("{method} {path}"),
                    resource_type,
                    id_param,
                }));
        }
        Self {
            audit,
            routes: Arc::new(routes),
        }
    }

    fn policy(&self, req: &Request) -> Option<Arc<RoutePolicy>> {
        let template = req.extensions().get::<MatchedPath>()?;
        self.routes
            .get(template.as_str())?
            .iter()
            .find(|p| p.method == req.method().as_str())
            .cloned()
    }
}

/// The resource type and the name of the path parameter holding its id, from a route template:
/// the literal segments before the last parameter (`/api/tasks/{id}/retry` → `tasks`, `id`;
/// `/api/queues/{queue}/pause` → `queues`, `queue`), or every literal segment when there is no
/// parameter (`/api/cache` → `cache`). The `/api/` prefix is left out.
pub fn resource_of(template: &str) -> (Option<String>, Option<String>) {
    let path = template.strip_prefix("/api/").unwrap_or(template);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_param = |s: &&str| s.starts_with('{');
    let (kind, id): (Vec<&str>, Option<String>) = match segments.iter().rposition(is_param) {
        Some(i) => (
            segments[..i]
                .iter()
                .copied()
                .filter(|s| !is_param(s))
                .collect(),
            Some(
                segments[i]
                    .trim_matches(|c| matches!(c, '{' | '}' | '*'))
                    .to_owned(),
            ),
        ),
        None => (segments, None),
    };
    let kind = (!kind.is_empty()).then(|| kind.join("/"));
    (kind, id)
}

/// The middleware.
pub(crate) async fn record(State(layer): State<AuditLayer>, req: Request, next: Next) -> Response {
    let Some(policy) = layer.policy(&req) else {
        return next.run(req).await;
    };
    let ctx = crate::middleware::current_request();
    let audit = layer.audit.clone();
    let operation =
        crate::middleware::in_request(ctx.clone(), audited(audit, policy, ctx, req, next))
            .instrument(tracing::Span::current());
    match layer.audit.spawn_tracked(operation).await {
        Ok(response) => response,
        Err(e) => ApiError::internal(anyhow::anyhow!("audited operation ended abnormally: {e}"))
            .into_response(),
    }
}

async fn audited(
    audit: Audit,
    policy: Arc<RoutePolicy>,
    ctx: Option<crate::middleware::RequestContext>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let at = audit.now();
    let (mut parts, body) = req.into_parts();
    let principal = parts.extensions.get::<Principal>().cloned();
    let client_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let path: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let query = parts.uri.query().map(query_summary);
    let (body, body_summary) = match summarise_body(&parts.headers, body).await {
        Ok(read) => read,
        Err(reason) => (Body::empty(), BodySummary::Unreadable(reason)),
    };
    let response = match body_summary {
        BodySummary::Unreadable(ref reason) => ApiError::new(
            ErrorCode::BadRequest,
            format!("the request body could not be read: {reason}"),
        )
        .into_response(),
        _ => next.run(Request::from_parts(parts, body)).await,
    };
    let status = response.status();
    let resource_id = response
        .extensions()
        .get::<AuditResource>()
        .map(|r| r.0.clone())
        .or_else(|| {
            let name = policy.id_param.as_deref()?;
            path.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
    let mut params = Map::new();
    if !path.is_empty() {
        params.insert(
            "path".into(),
            Value::Object(path.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        );
    }
    if let Some(query) = query {
        params.insert("query".into(), query);
    }
    if let Some(body) = body_summary.finish() {
        params.insert("body".into(), body);
    }
    let record = AuditRecord {
        role: principal.as_ref().map(|p| p.role.as_str().to_owned()),
        resource_type: policy.resource_type.clone(),
        resource_id,
        status: Some(status.as_u16()),
        success: status.is_success() || status.is_redirection(),
        duration_micros: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        client_addr,
        request_id: ctx.map(|c| c.id),
        params: Params::summarise(Value::Object(params)),
        ..AuditRecord::new(
            at,
            principal.map_or_else(|| ANONYMOUS.to_owned(), |p| p.name),
            policy.action.clone(),
        )
    };
    match audit.record(record).await {
        Ok(_) => response,
        Err(e) => {
            tracing::error!(
                error = %e,
                status = status.as_u16(),
                action = %policy.action,
                "the operation ran but its audit record could not be written; answering 503"
            );
            ApiError::new(
                ErrorCode::AuditUnavailable,
                "the operation may have taken effect, but its audit record could not be written; check its outcome before retrying",
            )
            .into_response()
        }
    }
}

/// Query parameters as an object (a repeated name gives a list).
fn query_summary(query: &str) -> Value {
    let pairs: Vec<(String, String)> = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default();
    let mut map = Map::new();
    for (k, v) in pairs {
        match map.get_mut(&k) {
            Some(Value::Array(list)) => list.push(Value::from(v)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::from(v)]),
            None => {
                map.insert(k, Value::from(v));
            }
        }
    }
    Value::Object(map)
}

enum BodySummary {
    /// No body.
    None,
    /// A small JSON body, parsed (or not valid JSON).
    Json(Result<Value, usize>),
    /// Any other body: its declared size, or else its size counted as it is read.
    Counted {
        content_type: Option<String>,
        declared: Option<u64>,
        read: Arc<AtomicU64>,
    },
    /// The body could not be read.
    Unreadable(String),
}

impl BodySummary {
    fn finish(self) -> Option<Value> {
        match self {
            BodySummary::None | BodySummary::Unreadable(_) => None,
            BodySummary::Json(Ok(value)) => Some(value),
            BodySummary::Json(Err(bytes)) => Some(json!({ "bytes": bytes, "json": "invalid" })),
            BodySummary::Counted {
                content_type,
                declared,
                read,
            } => {
                let bytes = declared.unwrap_or_else(|| read.load(Ordering::Relaxed));
                Some(json!({ "bytes": bytes, "content_type": content_type }))
            }
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json") || m.ends_with("+json"))
}

/// Reads a small JSON body to summarise it (giving the handler the same bytes), or wraps any
/// other body in a counter.
async fn summarise_body(headers: &HeaderMap, body: Body) -> Result<(Body, BodySummary), String> {
    // The body's exact size: its declared length (hyper's body reports it), if any.
    let declared = axum::body::HttpBody::size_hint(&body).exact().or_else(|| {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    });
    if declared == Some(0) || axum::body::HttpBody::is_end_stream(&body) {
        return Ok((body, BodySummary::None));
    }
    if is_json(headers) && declared.is_some_and(|n| n <= JSON_SUMMARY_MAX as u64) {
        let bytes: Bytes = http_body_util::Limited::new(body, JSON_SUMMARY_MAX)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let summary = serde_json::from_slice::<Value>(&bytes).map_err(|_| bytes.len());
        return Ok((Body::from(bytes), BodySummary::Json(summary)));
    }
    let counter = Arc::new(AtomicU64::new(0));
    let seen = counter.clone();
    let body = Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            seen.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    }));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    Ok((
        body,
        BodySummary::Counted {
            content_type,
            declared,
            read: counter,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_come_from_the_template() {
        let cases = [
            ("/api/tasks", Some("tasks"), None),
            ("/api/tasks/{id}", Some("tasks"), Some("id")),
            ("/api/tasks/{id}/retry", Some("tasks"), Some("id")),
            ("/api/queues/{queue}/pause", Some("queues"), Some("queue")),
            ("/api/cache", Some("cache"), None),
            ("/api/audit/logs", Some("audit/logs"), None),
            (
                "/api/directory/{app}/uploads/{id}",
                Some("directory/uploads"),
                Some("id"),
            ),
            ("/api/{id}", None, Some("id")),
        ];
        for (template, kind, id) in cases {
            let (k, i) = resource_of(template);
            assert_eq!((k.as_deref(), i.as_deref()), (kind, id), "{template}");
        }
    }

    #[test]
    fn query_parameters_repeat_into_lists() {
        let q = query_summary("a=1&b=x%20y&a=2&a=3");
        assert_eq!(q, json!({"a": ["1", "2", "3"], "b": "x y"}));
    }
}
