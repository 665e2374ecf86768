//! The app's HTTP routes (HTTP only here), plugged into the server by the binary's
//! `app_routes`: the summary builds (`build.rs`, [`routes`]) and the read API ([`read_routes`],
//! viewer role): summaries (list, detail, the upstream pages' `/api/siret` paths), statistics
//! and time series, exports. Reads are cached through the platform cache (namespace
//! `elections`, tag `elections`) under a key that carries the data version, and sent with an
//! `ETag` (`If-None-Match` → 304).
//!
//! SQL is in `crate::store`, parameter parsing in `crate::query`, aggregation in
//! `crate::stats`, file writing in `crate::export`.

mod build;
mod export;
mod params;
mod seed;
mod stats;
mod summary;
pub mod views;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use relais_http::cache::cacheable;
use relais_http::{Access, ApiError, ErrorCode, Role, Routes};
use relais_platform::Platform;
use relais_platform::cache::{Cache, Namespace};
use relais_platform::clock::Clock;
use relais_platform::store::{Db, StoreError};
use relais_platform::tasks::Engine;
use sha2::{Digest, Sha256};
use utoipa_axum::routes;

pub use build::{BuildAnswer, BuildBody, BuildStatusView};

use crate::build::Elections;
use crate::domain::{CycleTable, Siret};
use crate::store;

/// The build routes.
pub fn routes(elections: Elections) -> Routes<()> {
    build::routes(elections)
}

/// The cache namespace of the elections reads.
pub const CACHE_NAMESPACE: &str = "elections";
/// The tag of every cached elections read: invalidated after each build and import.
pub const CACHE_TAG: &str = "elections";
/// How cached answers may be reused by clients: always revalidated (`ETag`).
const CACHE_CONTROL: &str = "private, no-cache";

/// Settings of the read API, with defaults.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// The configured cycles (the reference cycle of a filter must be one).
    pub cycles: CycleTable,
    /// How long a cached answer lives at most (every build and import also drops them).
    /// Default one hour.
    pub cache_ttl: Duration,
    /// Exports.
    pub exports: crate::export::ExportSettings,
}

impl ReadSettings {
    /// The standard cycles, a one-hour cache, exports under `data_dir/elections/exports`.
    pub fn new(data_dir: &std::path::Path) -> Self {
        ReadSettings {
            cycles: CycleTable::standard(),
            cache_ttl: Duration::from_secs(3600),
            exports: crate::export::ExportSettings::new(data_dir),
        }
    }
}

/// What the read routes share.
#[derive(Clone)]
pub(crate) struct ReadApi {
    inner: Arc<Inner>,
}

struct Inner {
    platform: Platform,
    cache: Namespace,
    clock: Arc<dyn Clock>,
    engine: Engine,
    settings: ReadSettings,
}

/// The documented read routes of the elections app.
pub fn read_routes(
    platform: &Platform,
    engine: Engine,
    clock: Arc<dyn Clock>,
    settings: ReadSettings,
) -> Routes<()> {
    let cache = platform
        .cache
        .namespace(CACHE_NAMESPACE)
        .expect("the namespace name is valid");
    let api = ReadApi {
        inner: Arc::new(Inner {
            platform: platform.clone(),
            cache,
            clock,
            engine,
            settings,
        }),
    };
    let viewer = Access::Role(Role::Viewer);
    Routes::<ReadApi>::new()
        .route(viewer, routes!(summary::list))
        .route(viewer, routes!(summary::detail))
        .route(viewer, routes!(seed::search))
        .route(viewer, routes!(seed::one))
        .route(viewer, routes!(stats::dashboard))
        .route(viewer, routes!(stats::timeseries))
        .route(viewer, routes!(export::export))
        .route(viewer, routes!(export::download))
        .with_state(api)
}

/// Drops every cached elections read (of every process, on the shared backends). Called at
/// the end of each summary build and import; readers also key answers with the data version,
/// so an answer computed while data changed is never served after the change.
pub async fn invalidate(cache: &Cache) {
    match cache.namespace(CACHE_NAMESPACE) {
        Ok(ns) => ns.invalidate_tag(CACHE_TAG).await,
        Err(e) => tracing::error!(error = %e, "the elections cache namespace is invalid"),
    }
}

impl ReadApi {
    fn db(&self) -> &Db {
        self.inner.platform.store.db()
    }

    fn cycles(&self) -> &CycleTable {
        &self.inner.settings.cycles
    }

    fn today(&self) -> chrono::NaiveDate {
        self.inner.clock.now().date_naive()
    }

    /// The answer for `key` (a description of the request, hashed here): cached under the
    /// current data version, or computed.
    async fn cached<F, Fut>(
        &self,
        headers: &HeaderMap,
        key: String,
        compute: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, StoreError>>,
    {
        self.cached_or(
            headers,
            key,
            || ApiError::internal(std::io::Error::other("a computed answer was missing")),
            || async { compute().await.map(Some) },
        )
        .await
    }

    /// [`ReadApi::cached`] for answers that may be missing (`None`: `not_found`).
    async fn cached_or<F, Fut>(
        &self,
        headers: &HeaderMap,
        key: String,
        not_found: impl FnOnce() -> ApiError,
        compute: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<String>, StoreError>>,
    {
        let version = store::data_version(self.db()).await.map_err(internal)?;
        let digest = Sha256::digest(key.as_bytes());
        let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{}:{hash}@{version}", env!("CARGO_PKG_VERSION"));
        let body: Option<String> = self
            .inner
            .cache
            .get_or_compute(
                &key,
                Some(self.inner.settings.cache_ttl),
                &[CACHE_TAG],
                compute,
            )
            .await
            .map_err(|e| ApiError::internal(anyhow_store(&e)))?;
        match body {
            Some(body) => Ok(cacheable(headers, CACHE_CONTROL, "application/json", body)),
            None => Err(not_found()),
        }
    }
}

/// A JSON body as cached text.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(format!("elections: JSON: {e}"))))
}

fn anyhow_store(e: &StoreError) -> std::io::Error {
    std::io::Error::other(format!("elections storage: {e}"))
}

/// A storage error: 500, logged.
fn internal(e: StoreError) -> ApiError {
    ApiError::internal(anyhow_store(&e))
}

/// A SIRET path parameter; 400 when it is not one (check digit included).
fn siret(text: &str) -> Result<Siret, ApiError> {
    Siret::parse(text).map_err(|e| {
        ApiError::new(ErrorCode::InvalidPath, format!("`siret`: {e}")).with_errors(vec![
            relais_http::error::FieldError {
                pointer: "siret".into(),
                message: e.to_string(),
            },
        ])
    })
}

/// 404 for a SIRET nothing is known of.
fn unknown_siret(siret: &Siret) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no PV, invitation or summary for SIRET {siret}"),
    )
}
