//! Prometheus metrics: the process-wide recorder, HTTP request metrics and pool gauges.
//!
//! Metric names (the whole list; grep for `relais_` to find their sources):
//! - `relais_http_requests_total{method,route,status}`: counter; `route` is the route template
//!   (`/api/tasks/{id}`), or `unmatched` for unknown paths so clients cannot grow the label set.
//! - `relais_http_request_duration_seconds{method,route}`: histogram.
//! - `relais_db_pool_connections{backend,pool,state=in_use|idle}` and
//!   `relais_db_pool_max_connections{backend,pool}`: gauges, read at scrape time.
//! - `relais_build_info{version,backend}`: gauge set to 1.
//! - Cache, per `namespace`, set from its stats at scrape time: `relais_cache_hits_total`,
//!   `relais_cache_misses_total`, `relais_cache_evictions_total`, `relais_cache_expirations_total`,
//!   `relais_cache_computes_total`, `relais_cache_degraded_total` (counters),
//!   `relais_cache_entries`, `relais_cache_memory_bytes`, `relais_cache_hit_rate_percent`
//!   (gauges); `relais_cache_remote_invalidations_total`, `relais_cache_info{backend}`.
//! - Redis links (`link` = `cache` | `limits`): `relais_redis_link_up` (gauge),
//!   `relais_redis_link_errors_total` (counter).
//! - Rate limits: `relais_rate_limited_total{route}` (429 answers),
//!   `relais_limits_local_fallback_total` (decisions taken locally because Redis failed).
//! - Imports (counters): `relais_imports_uploaded_total{type}` (accepted uploads),
//!   `relais_imports_refused_total{reason}` (refused uploads, by problem code),
//!   `relais_import_rows_total{type,outcome=accepted|rejected}` (rows committed),
//!   `relais_imports_finished_total{type,status}` (imports ending in this process).
//! - Audit trail (recorded by its writer): `relais_audit_records_total{outcome=written|failed}`
//!   (counter), `relais_audit_batch_records` (records per transaction) and
//!   `relais_audit_write_seconds` (per transaction).

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide metrics handle; installs the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("relais_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // A recorder installed by an embedding program wins; ours then still renders nothing
        // wrong, only nothing at all, which the metrics test would reveal.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

pub(crate) fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("relais_http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "relais_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(elapsed.as_secs_f64());
}

/// Prometheus metrics
///
/// Text exposition format (version 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "observability",
    responses((status = 200, description = "Metrics in Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics_handler(State(state): State<AppState>) -> impl IntoResponse {
    let store = &state.platform.store;
    let backend = store.backend().as_str();
    for pool in store.pool_stats() {
        let in_use = pool.size.saturating_sub(pool.idle);
        metrics::gauge!("relais_db_pool_connections", "backend" => backend, "pool" => pool.name, "state" => "in_use")
            .set(f64::from(in_use));
        metrics::gauge!("relais_db_pool_connections", "backend" => backend, "pool" => pool.name, "state" => "idle")
            .set(f64::from(pool.idle));
        metrics::gauge!("relais_db_pool_max_connections", "backend" => backend, "pool" => pool.name)
            .set(f64::from(pool.max));
    }
    metrics::gauge!("relais_build_info", "version" => relais_platform::VERSION, "backend" => backend).set(1.0);
    crate::cache::record_metrics(&state.platform).await;
    let handle = handle();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
