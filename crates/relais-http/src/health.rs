//! Liveness and readiness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::extract::Json;

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `up`.
    pub status: &'static str,
    /// relais version.
    pub version: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// This process (random per start).
    pub instance_id: String,
    /// The database shared by every process of the deployment.
    pub deployment_id: String,
    /// When this process started.
    pub started_at: DateTime<Utc>,
    /// Seconds since start.
    pub uptime_seconds: f64,
}

/// One dependency's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// `up` or `down`.
    pub status: &'static str,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Check-specific facts (backend, schema versions…).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Every dependency is ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: &'static str,
    /// Per-component checks: `database`, `schema`, `redis` (when configured), `audit`, `server`.
    pub checks: BTreeMap<&'static str, Check>,
}

/// Liveness
///
/// Answers as long as the process serves HTTP; no dependency is checked.
#[utoipa::path(get, path = "/api/health", tag = "observability",
    responses((status = 200, description = "The process is up", body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    let p = &state.platform;
    Json(Health {
        status: "up",
        version: relais_platform::VERSION,
        backend: p.store.backend().as_str(),
        instance_id: p.instance.id.to_string(),
        deployment_id: p.deployment.id.clone(),
        started_at: p.instance.started_at,
        uptime_seconds: (Utc::now() - p.instance.started_at).num_milliseconds() as f64 / 1e3,
    })
}

async fn timed<F, E>(check: F) -> (Result<Option<serde_json::Value>, String>, f64)
where
    F: std::future::Future<Output = Result<Option<serde_json::Value>, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let result = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(details)) => Ok(details),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    (result, start.elapsed().as_secs_f64() * 1e3)
}

fn check((result, latency_ms): (Result<Option<serde_json::Value>, String>, f64)) -> Check {
    match result {
        Ok(details) => Check {
            status: "up",
            latency_ms,
            error: None,
            details,
        },
        Err(error) => Check {
            status: "down",
            latency_ms,
            error: Some(error),
            details: None,
        },
    }
}

/// Readiness
///
/// 200 when the database answers, its schema is exactly at this binary's version, Redis answers
/// (when configured), the audit writer runs and the server is not shutting down; otherwise 503
/// with the same checks.
#[utoipa::path(get, path = "/api/health/ready", tag = "observability",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "Not ready; `checks` says why", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let p = &state.platform;
    let backend = p.store.backend().as_str();
    let database = timed(async {
        p.store
            .ping(CHECK_TIMEOUT)
            .await
            .map(|()| Some(serde_json::json!({ "backend": backend })))
    });
    let schema = timed(async {
        let status = p
            .store
            .schema_status(p.migrations())
            .await
            .map_err(|e| e.to_string())?;
        let details = serde_json::to_value(&status.components).ok();
        if status.is_current() {
            Ok(details)
        } else {
            let behind: Vec<String> = status
                .components
                .iter()
                .filter(|c| c.database != c.binary)
                .map(|c| format!("{} at {} (binary {})", c.component, c.database, c.binary))
                .collect();
            Err(format!("schema not current: {}", behind.join(", ")))
        }
    });
    let redis = async {
        match &p.redis {
            Some(redis) => {
                Some(timed(async { redis.ping(CHECK_TIMEOUT).await.map(|()| None) }).await)
            }
            None => None,
        }
    };
    let (database, schema, redis) = tokio::join!(database, schema, redis);
    let mut checks = BTreeMap::new();
    checks.insert("database", check(database));
    checks.insert("schema", check(schema));
    if let Some(redis) = redis {
        checks.insert("redis", check(redis));
    }
    let server = if p.shutdown.is_triggered() {
        Err("shutting down".to_owned())
    } else {
        Ok(None)
    };
    checks.insert("server", check((server, 0.0)));
    let audit = if p.audit.is_running() {
        let progress = *p.audit.progress().borrow();
        Ok(Some(serde_json::json!({
            "queued": p.audit.queued(),
            "written": progress.written,
            "failed": progress.failed,
        })))
    } else {
        Err("the audit writer is not running: audited requests are answered 503".to_owned())
    };
    checks.insert("audit", check((audit, 0.0)));

    let down: Vec<String> = checks
        .iter()
        .filter(|(_, c)| c.status != "up")
        .map(|(name, c)| format!("{name}: {}", c.error.as_deref().unwrap_or("down")))
        .collect();
    if down.is_empty() {
        Json(Ready {
            status: "ready",
            checks,
        })
        .into_response()
    } else {
        let checks = serde_json::to_value(&checks).unwrap_or_default();
        ApiError::new(ErrorCode::NotReady, down.join("; "))
            .with_extension("checks", checks)
            .into_response()
    }
}
