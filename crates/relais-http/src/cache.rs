//! Cache routes (stats, invalidation, the seed-compatible cache health) and the helper for
//! cacheable GET responses (`ETag`, `If-None-Match` → 304, `Cache-Control`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use relais_platform::Platform;
use relais_platform::cache::{CacheStats, NamespaceStats, check_tag};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::extract::{Json, Query};

/// The hit rate (percent) above which the cache is considered healthy.
pub const GOOD_HIT_RATE: f64 = 80.0;

/// Answers `body` with a strong `ETag` (SHA-256 of the body) and `cache_control`; answers 304
/// without a body when the request's `If-None-Match` names that tag (or `*`).
pub fn cacheable(
    request: &HeaderMap,
    cache_control: &'static str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
) -> Response {
    let body = body.into();
    let digest = Sha256::digest(&body);
    let tag: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{tag}\"");
    let matches = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag);
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    let cache_control = HeaderValue::from_static(cache_control);
    if matches {
        (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response()
    } else {
        (
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache_control),
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            ],
            body,
        )
            .into_response()
    }
}

/// [`cacheable`] for a JSON value.
pub fn cacheable_json<T: Serialize>(
    request: &HeaderMap,
    cache_control: &'static str,
    value: &T,
) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => cacheable(request, cache_control, "application/json", body),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// What one namespace did in this process.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceStatsView {
    /// The namespace.
    pub namespace: String,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Hits as a percentage of lookups (0–100).
    pub hit_rate: f64,
    /// Entries held in this process's memory.
    pub entries: u64,
    /// Approximate memory of those entries, in bytes.
    pub memory_bytes: u64,
    /// Entries dropped to stay within the memory budget.
    pub evictions: u64,
    /// Entries dropped because their TTL passed.
    pub expirations: u64,
    /// Values written.
    pub sets: u64,
    /// Computations run on a miss.
    pub computes: u64,
    /// Callers that shared another caller's computation.
    pub coalesced: u64,
    /// Operations that went without Redis because it was unreachable.
    pub degraded: u64,
    /// Invalidations requested in this process.
    pub invalidations: u64,
    /// Keys of the namespace held in Redis, shared by every process (`redis` and `tiered`
    /// backends, on `GET /api/cache/stats` only; absent when Redis is unreachable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_entries: Option<u64>,
}

impl From<NamespaceStats> for NamespaceStatsView {
    fn from(n: NamespaceStats) -> Self {
        Self {
            namespace: n.namespace,
            hits: n.hits,
            misses: n.misses,
            hit_rate: n.hit_rate,
            entries: n.entries,
            memory_bytes: n.memory_bytes,
            evictions: n.evictions,
            expirations: n.expirations,
            sets: n.sets,
            computes: n.computes,
            coalesced: n.coalesced,
            degraded: n.degraded,
            invalidations: n.invalidations,
            shared_entries: None,
        }
    }
}

/// The cache of the process that answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStatsView {
    /// `local`, `redis` or `tiered`.
    pub backend: &'static str,
    /// Hits as a percentage of lookups, all namespaces together (0–100).
    pub hit_rate: f64,
    /// Memory budget of the local tier in bytes (0 on the `redis` backend).
    pub memory_budget: u64,
    /// Whether Redis answers (absent on the `local` backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_up: Option<bool>,
    /// Failed Redis commands, lost connections and failed reconnections since start.
    pub redis_errors: u64,
    /// Invalidations received from other processes.
    pub remote_invalidations: u64,
    /// All namespaces together (`namespace` is `*`).
    pub total: NamespaceStatsView,
    /// Each namespace used in this process.
    pub namespaces: Vec<NamespaceStatsView>,
}

impl From<CacheStats> for CacheStatsView {
    fn from(s: CacheStats) -> Self {
        Self {
            backend: s.backend,
            hit_rate: s.total.hit_rate,
            memory_budget: s.memory_budget,
            redis_up: s.redis_up,
            redis_errors: s.redis_errors,
            remote_invalidations: s.remote_invalidations,
            total: s.total.into(),
            namespaces: s.namespaces.into_iter().map(Into::into).collect(),
        }
    }
}

/// Cache stats
///
/// Hits, misses, hit rate, entries, evictions and memory per namespace, as seen by the process
/// that answers (each process keeps its own counts); with Redis, also the keys each namespace
/// holds there (counted with `SCAN`).
#[utoipa::path(get, path = "/api/cache/stats", tag = "cache",
    responses((status = 200, description = "The cache of this process", body = CacheStatsView)))]
pub(crate) async fn cache_stats(State(state): State<AppState>) -> Response {
    let cache = &state.platform.cache;
    let mut view = CacheStatsView::from(cache.stats().await);
    if cache.redis_up() == Some(true) {
        for n in &mut view.namespaces {
            if let Ok(ns) = cache.namespace(&n.namespace) {
                n.shared_entries = ns.shared_entries().await;
            }
        }
    }
    let mut response = Json(view).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Advice in the seed's format.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    /// Whether the hit rate is above 80 %.
    pub hit_rate_good: bool,
    /// What the figure means.
    pub message: String,
}

/// The cache health, in the format existing front ends read.
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheHealth {
    /// The cache stats.
    pub cache: CacheStatsView,
    /// Whether the hit rate is good.
    pub recommendations: Recommendations,
}

/// Cache health
///
/// The cache stats and whether the hit rate is above 80 % (the format of the existing
/// `/health/cache` endpoint).
#[utoipa::path(get, path = "/api/health/cache", tag = "observability",
    responses((status = 200, description = "Cache stats and advice", body = CacheHealth)))]
pub(crate) async fn cache_health(State(state): State<AppState>) -> Response {
    let cache = CacheStatsView::from(state.platform.cache.stats().await);
    let good = cache.hit_rate > GOOD_HIT_RATE;
    let message = if good {
        format!(
            "hit rate {:.2} % is above {GOOD_HIT_RATE} %",
            cache.hit_rate
        )
    } else {
        format!(
            "hit rate {:.2} % is not above {GOOD_HIT_RATE} %: cache more reads or longer",
            cache.hit_rate
        )
    };
    let mut response = Json(CacheHealth {
        cache,
        recommendations: Recommendations {
            hit_rate_good: good,
            message,
        },
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What to invalidate: a namespace and exactly one of `key`, `tag`, `prefix`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvalidateQuery {
    /// The namespace, e.g. `workforce`.
    pub namespace: String,
    /// One key.
    pub key: Option<String>,
    /// Every value written with this tag.
    pub tag: Option<String>,
    /// Every key starting with this prefix (empty: the whole namespace).
    pub prefix: Option<String>,
}

/// What was invalidated.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invalidated {
    /// The namespace.
    pub namespace: String,
    /// `key`, `tag` or `prefix`.
    pub by: &'static str,
    /// The key, tag or prefix.
    pub value: String,
}

fn invalid(pointer: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::new(ErrorCode::Validation, message.clone()).with_errors(vec![FieldError {
        pointer: pointer.to_owned(),
        message,
    }])
}

/// Invalidate cache entries
///
/// Removes one key, every value with a tag, or every key with a prefix, from Redis and from
/// the local tier of every process (tiered backend).
#[utoipa::path(delete, path = "/api/cache", tag = "cache", params(InvalidateQuery),
    responses(
        (status = 200, description = "Invalidated", body = Invalidated),
        (status = 400, description = "Unknown or malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not exactly one of key, tag, prefix; or an invalid value", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invalidate_cache(
    State(state): State<AppState>,
    Query(q): Query<InvalidateQuery>,
) -> Result<Json<Invalidated>, ApiError> {
    let ns = state
        .platform
        .cache
        .namespace(&q.namespace)
        .map_err(|e| invalid("namespace", e.to_string()))?;
    let (by, value) = match (q.key, q.tag, q.prefix) {
        (Some(key), None, None) => ("key", key),
        (None, Some(tag), None) => ("tag", tag),
        (None, None, Some(prefix)) => ("prefix", prefix),
        _ => {
            return Err(invalid(
                "key",
                "give exactly one of `key`, `tag` and `prefix`",
            ));
        }
    };
    match by {
        "key" if value.is_empty() || value.len() > relais_platform::cache::MAX_KEY => {
            return Err(invalid("key", "a key is 1–1024 bytes"));
        }
        "key" => ns.delete(&value).await,
        "tag" => {
            check_tag(&value).map_err(|e| invalid("tag", e.to_string()))?;
            ns.invalidate_tag(&value).await
        }
        _ if value.len() > relais_platform::cache::MAX_KEY => {
            return Err(invalid("prefix", "a prefix is at most 1024 bytes"));
        }
        _ => ns.invalidate_prefix(&value).await,
    }
    tracing::info!(namespace = %q.namespace, by, value = %value, "cache invalidated");
    Ok(Json(Invalidated {
        namespace: q.namespace,
        by,
        value,
    }))
}

/// Sets the cache metrics from the stats at scrape time.
pub(crate) async fn record_metrics(platform: &Platform) {
    let stats = platform.cache.stats().await;
    for n in &stats.namespaces {
        let ns = n.namespace.clone();
        let counters = [
            ("relais_cache_hits_total", n.hits),
            ("relais_cache_misses_total", n.misses),
            ("relais_cache_evictions_total", n.evictions),
            ("relais_cache_expirations_total", n.expirations),
            ("relais_cache_computes_total", n.computes),
            ("relais_cache_degraded_total", n.degraded),
        ];
        for (name, value) in counters {
            metrics::counter!(name, "namespace" => ns.clone()).absolute(value);
        }
        metrics::gauge!("relais_cache_entries", "namespace" => ns.clone()).set(n.entries as f64);
        metrics::gauge!("relais_cache_memory_bytes", "namespace" => ns.clone())
            .set(n.memory_bytes as f64);
        metrics::gauge!("relais_cache_hit_rate_percent", "namespace" => ns).set(n.hit_rate);
    }
    let backend = stats.backend;
    metrics::gauge!("relais_cache_info", "backend" => backend).set(1.0);
    metrics::counter!("relais_cache_remote_invalidations_total")
        .absolute(stats.remote_invalidations);
}
