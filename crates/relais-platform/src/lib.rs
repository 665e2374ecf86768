//! The relais platform: configuration, storage on SQLite or PostgreSQL, Redis, tasks, cache,
//! access tokens, the audit trail and shutdown.
//!
//! This crate knows nothing of HTTP and nothing of apps. Apps and the HTTP layer receive a
//! [`Platform`] and use its public API; apps contribute their [`store::MigrationSet`]s at start.
//!
//! Concurrency model: everything is async on one tokio runtime; storage pools are shared by
//! clones of [`Platform`]; shutdown is coordinated by [`shutdown::Shutdown`].

pub mod audit;
pub mod cache;
pub mod clock;
pub mod config;
pub mod imports;
pub mod limit;
pub mod rate;
pub mod redis;
pub mod shutdown;
pub mod store;
pub mod tasks;
pub mod tokens;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::redis::{Redis, RedisError};
use crate::shutdown::Shutdown;
use crate::store::{
    Deployment, MigrationReport, MigrationSet, PLATFORM_MIGRATIONS, Store, StoreError,
};

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Storage failed to open or migrate.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit trail could not start.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// The Redis URL was refused.
    #[error(transparent)]
    Redis(#[from] RedisError),
}

/// This process, as seen by the others sharing the database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Instance {
    /// Random per process start (UUIDv7).
    pub id: uuid::Uuid,
    /// When this process started.
    pub started_at: DateTime<Utc>,
}

/// The running platform services; cheap to clone.
#[derive(Clone)]
pub struct Platform {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Redis, when configured.
    pub redis: Option<Redis>,
    /// The cache (backend from `cache.backend`).
    pub cache: cache::Cache,
    /// The rate limiter (backend from `limits.backend`).
    pub limiter: limit::Limiter,
    /// The audit trail (its writer drains on shutdown).
    pub audit: audit::Audit,
    /// Shutdown coordinator.
    pub shutdown: Shutdown,
    /// This process.
    pub instance: Instance,
    /// The database this process shares with others.
    pub deployment: Deployment,
    migrations: Arc<Vec<MigrationSet>>,
}

impl Platform {
    /// Every migration set: the platform's first, then the apps' in the given order.
    pub fn migration_sets(app_sets: &[MigrationSet]) -> Vec<MigrationSet> {
        std::iter::once(PLATFORM_MIGRATIONS)
            .chain(app_sets.iter().copied())
            .collect()
    }

    /// Opens storage, applies pending migrations (refusing a newer database) and prepares Redis.
    pub async fn start(
        config: Config,
        app_sets: &[MigrationSet],
    ) -> Result<(Self, MigrationReport), PlatformError> {
        let store = store::open(&config.database).await?;
        let migrations = Self::migration_sets(app_sets);
        let report = match store.migrate(&migrations).await {
            Ok(report) => report,
            Err(e) => {
                store.close().await;
                return Err(e.into());
            }
        };
        let deployment = store.deployment().await?;
        let redis = config.redis_url.as_deref().map(Redis::new).transpose()?;
        let (cache, limiter) = cache_and_limiter(&config, redis.as_ref(), &deployment);
        let shutdown = Shutdown::new();
        // Registered first, so its drain hook runs last: after every component that records.
        let audit = audit::Audit::start(
            store.clone(),
            Arc::new(clock::SystemClock),
            audit::AuditConfig::default(),
        )?;
        audit.drain_on(&shutdown);
        let platform = Self {
            config: Arc::new(config),
            store,
            redis,
            cache,
            limiter,
            audit,
            shutdown,
            instance: Instance {
                id: uuid::Uuid::now_v7(),
                started_at: Utc::now(),
            },
            deployment,
            migrations: Arc::new(migrations),
        };
        Ok((platform, report))
    }

    /// The migration sets this process runs with.
    pub fn migrations(&self) -> &[MigrationSet] {
        &self.migrations
    }
}

/// The cache and the limiter of the configured backends; their Redis keys and channel are under
/// `relais:<deployment id>:`, so deployments sharing one Redis do not see each other.
fn cache_and_limiter(
    config: &Config,
    redis: Option<&Redis>,
    deployment: &Deployment,
) -> (cache::Cache, limit::Limiter) {
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    let prefix = format!("relais:{}:", deployment.id);
    let stop = tokio_util::sync::CancellationToken::new();
    let settings = &config.cache;
    let cache_config = cache::CacheConfig {
        backend: settings.backend,
        memory: settings.memory,
        default_ttl: settings.default_ttl,
        prefix: prefix.clone(),
    };
    // Configuration guarantees Redis for the redis and tiered backends; without it, stay local.
    let cache = cache::Cache::new(
        cache_config,
        clock.clone(),
        redis.map(Redis::client),
        stop.clone(),
    )
    .unwrap_or_else(|_| cache::Cache::local(settings.memory, settings.default_ttl, clock.clone()));
    let limiter = match (config.limits.backend, redis) {
        (limit::LimitBackend::Redis, Some(redis)) => {
            limit::Limiter::redis(redis.client(), &prefix, clock, stop)
        }
        _ => limit::Limiter::local(clock),
    };
    (cache, limiter)
}
