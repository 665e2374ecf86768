//! The cache: typed values per namespace, TTL, tags, prefix invalidation, single-flight and stats,
//! on one of three backends chosen by configuration.
//!
//! - `local`: in this process only, bounded by a memory budget; TTLs on the cache's
//!   [`Clock`].
//! - `redis`: shared by every process of the deployment; nothing is kept locally.
//! - `tiered`: the local tier in front of Redis. Every write and invalidation is applied to Redis,
//!   then broadcast on the deployment's invalidation channel; each process drops its local copy
//!   on receipt. Local copies are served only while the subscription is live: when the link to
//!   Redis drops, the local tier is cleared and bypassed, and it is cleared again when the link
//!   comes back (messages may have been missed meanwhile).
//!
//! When Redis is unreachable, lookups miss, writes are skipped (and remembered, so a value
//! written before the outage is dropped from Redis after it), `get_or_compute` computes: the
//! cache never fails a request. The link reconnects by itself (see [`crate::redis`]).
//!
//! Values are serialised with serde (JSON); a value that no longer deserialises (its type
//! changed) is treated as a miss.

mod flight;
mod local;
mod remote;
mod stats;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use self::flight::{Flights, Landed};
use self::local::{Local, full_key};
use self::remote::{Message, Remote, Target, Unavailable};
use self::stats::{Counters, Registry};
use crate::clock::Clock;
use crate::redis::link::{Link, LinkEvent, LinkHooks};

pub use self::stats::{CacheStats, NamespaceStats, hit_rate};

/// Longest namespace name.
pub const MAX_NAMESPACE: usize = 64;
/// Longest key.
pub const MAX_KEY: usize = 1024;
/// Longest tag; a value has at most [`MAX_TAGS`] tags.
pub const MAX_TAG: usize = 128;
/// Most tags on one value.
pub const MAX_TAGS: usize = 32;

/// Where cached values live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    /// In this process only.
    Local,
    /// In Redis, shared by every process.
    Redis,
    /// In this process, in front of Redis, with invalidations broadcast.
    Tiered,
}

impl CacheBackend {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheBackend::Local => "local",
            CacheBackend::Redis => "redis",
            CacheBackend::Tiered => "tiered",
        }
    }
}

/// How to build a [`Cache`].
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The backend.
    pub backend: CacheBackend,
    /// Memory budget of the local tier, in bytes.
    pub memory: u64,
    /// TTL of values written without one.
    pub default_ttl: Duration,
    /// Prefix of every Redis key and of the invalidation channel (one per deployment).
    pub prefix: String,
}

/// Why a cache operation was refused (bad arguments; Redis failures are never errors).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Namespaces are 1–64 characters among `a-z`, `0-9`, `_`, `-`, `.`.
    #[error("invalid cache namespace `{0}`: use 1–64 of a-z, 0-9, `_`, `-`, `.`")]
    InvalidNamespace(String),
    /// Keys are 1–1024 bytes.
    #[error("invalid cache key: it must be 1–1024 bytes")]
    InvalidKey,
    /// Tags are 1–128 bytes without control characters, at most 32 per value.
    #[error(
        "invalid cache tag `{0}`: 1–128 bytes without control characters, at most 32 per value"
    )]
    InvalidTag(String),
    /// The `redis` and `tiered` backends need a Redis client.
    #[error("the {0} cache backend needs redis.url")]
    RedisRequired(&'static str),
    /// The value could not be serialised.
    #[error("the value cannot be serialised: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// An invalidation received from another process (tiered backend) and applied here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInvalidation {
    /// The namespace, or `None` for everything.
    pub namespace: Option<String>,
    /// `key`, `tag`, `prefix`, or `all`.
    pub by: &'static str,
    /// The key, tag or prefix.
    pub value: String,
}

/// The cache of this process; cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    backend: CacheBackend,
    memory: u64,
    default_ttl: Duration,
    local: Option<Local>,
    remote: Option<Remote>,
    flights: Flights,
    registry: Arc<Registry>,
    instance: String,
    /// Bumped by every invalidation received and every link change: a value fetched from Redis
    /// is kept locally only if no invalidation arrived while it was fetched.
    epoch: AtomicU64,
    remote_invalidations: AtomicU64,
    remote_events: broadcast::Sender<RemoteInvalidation>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Cache {
    /// An in-process cache (no Redis).
    pub fn local(memory: u64, default_ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let config = CacheConfig {
            backend: CacheBackend::Local,
            memory,
            default_ttl,
            prefix: String::new(),
        };
        Self::new(config, clock, None, CancellationToken::new()).expect("no Redis needed")
    }

    /// Builds the cache; with Redis, starts its link (which stops with `stop`).
    pub fn new(
        config: CacheConfig,
        clock: Arc<dyn Clock>,
        redis: Option<redis::Client>,
        stop: CancellationToken,
    ) -> Result<Self, CacheError> {
        let registry = Arc::new(Registry::default());
        let backend = config.backend;
        let local = matches!(backend, CacheBackend::Local | CacheBackend::Tiered)
            .then(|| Local::new(config.memory, clock.clone(), registry.clone()));
        let client = match (backend, redis) {
            (CacheBackend::Local, _) => None,
            (_, Some(client)) => Some(client),
            (b, None) => return Err(CacheError::RedisRequired(b.as_str())),
        };
        let stop = stop.child_token();
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let remote = client.map(|client| {
                let channel =
                    (backend == CacheBackend::Tiered).then(|| Remote::channel_for(&config.prefix));
                let hooks = Arc::new(Hooks {
                    inner: weak.clone(),
                });
                let link = Link::start("cache", client, channel, clock, hooks, stop.clone());
                Remote::new(link, &config.prefix)
            });
            Inner {
                backend,
                memory: config.memory,
                default_ttl: config.default_ttl,
                local,
                remote,
                flights: Flights::default(),
                registry,
                instance: uuid::Uuid::now_v7().to_string(),
                epoch: AtomicU64::new(0),
                remote_invalidations: AtomicU64::new(0),
                remote_events: broadcast::channel(1024).0,
                stop,
            }
        });
        Ok(Self { inner })
    }

    /// The handle of one namespace (one per app or concern).
    pub fn namespace(&self, name: &str) -> Result<Namespace, CacheError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAMESPACE
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
        if !valid {
            return Err(CacheError::InvalidNamespace(name.to_owned()));
        }
        Ok(Namespace {
            cache: self.clone(),
            counters: self.inner.registry.counters(name),
            name: Arc::from(name),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> CacheBackend {
        self.inner.backend
    }

    /// Whether Redis answers (`None` on the local backend).
    pub fn redis_up(&self) -> Option<bool> {
        self.inner.remote.as_ref().map(|r| r.link.is_up())
    }

    /// Changes of the Redis link (`None` on the local backend).
    pub fn link_events(&self) -> Option<broadcast::Receiver<LinkEvent>> {
        self.inner.remote.as_ref().map(|r| r.link.events())
    }

    /// Invalidations received from other processes, once applied here.
    pub fn remote_invalidations(&self) -> broadcast::Receiver<RemoteInvalidation> {
        self.inner.remote_events.subscribe()
    }

    /// Computations in flight (single-flight table size).
    pub fn flights(&self) -> usize {
        self.inner.flights.len()
    }

    /// The stats of this process.
    pub async fn stats(&self) -> CacheStats {
        let namespaces = self.inner.registry.report();
        CacheStats {
            backend: self.inner.backend.as_str(),
            memory_budget: if self.inner.local.is_some() {
                self.inner.memory
            } else {
                0
            },
            redis_up: self.redis_up(),
            redis_errors: self.inner.remote.as_ref().map_or(0, |r| r.link.errors()),
            remote_invalidations: self.inner.remote_invalidations.load(Ordering::Relaxed),
            total: stats::total(&namespaces),
            namespaces,
        }
    }

    /// Whether local copies may be served: always on `local`, while subscribed on `tiered`.
    fn local_usable(&self) -> Option<&Local> {
        let local = self.inner.local.as_ref()?;
        match &self.inner.remote {
            Some(remote) if !remote.link.is_up() => None,
            _ => Some(local),
        }
    }

    async fn apply_local(&self, namespace: Option<&str>, target: Option<&Target>) {
        let Some(local) = &self.inner.local else {
            return;
        };
        match (namespace, target) {
            (Some(ns), Some(Target::Key(key))) => local.remove(ns, key),
            (Some(ns), Some(Target::Tag(tag))) => local.invalidate_tag(ns, tag),
            (Some(ns), Some(Target::Prefix(prefix))) => local.invalidate_prefix(ns, prefix),
            (Some(ns), None) => local.invalidate_prefix(ns, ""),
            (None, _) => local.clear(),
        }
    }
}

/// The typed API of one namespace; cheap to clone.
#[derive(Clone)]
pub struct Namespace {
    cache: Cache,
    counters: Arc<Counters>,
    name: Arc<str>,
}

fn check_key(key: &str) -> Result<(), CacheError> {
    if key.is_empty() || key.len() > MAX_KEY {
        Err(CacheError::InvalidKey)
    } else {
        Ok(())
    }
}

/// Checks a tag as given to [`Namespace::set`] or [`Namespace::invalidate_tag`].
pub fn check_tag(tag: &str) -> Result<(), CacheError> {
    if tag.is_empty() || tag.len() > MAX_TAG || tag.chars().any(char::is_control) {
        Err(CacheError::InvalidTag(tag.to_owned()))
    } else {
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

impl Namespace {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`, if cached and of type `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = self.lookup(key, true).await?;
        decode(&bytes)
    }

    /// Caches `value` under `key` for `ttl` (the default TTL when `None`), with `tags`.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
        tags: &[&str],
    ) -> Result<(), CacheError> {
        check_key(key)?;
        if tags.len() > MAX_TAGS {
            return Err(CacheError::InvalidTag(format!("{} tags", tags.len())));
        }
        tags.iter().try_for_each(|t| check_tag(t))?;
        let bytes: Arc<[u8]> = serde_json::to_vec(value)?.into();
        self.store(key, bytes, ttl, tags).await;
        Ok(())
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) {
        self.invalidate(Target::Key(key.to_owned())).await;
    }

    /// Removes every value written with `tag`.
    pub async fn invalidate_tag(&self, tag: &str) {
        self.invalidate(Target::Tag(tag.to_owned())).await;
    }

    /// Removes every key starting with `prefix` (`""`: the whole namespace).
    pub async fn invalidate_prefix(&self, prefix: &str) {
        self.invalidate(Target::Prefix(prefix.to_owned())).await;
    }

    /// The cached value of `key`, or the result of `compute`, cached for `ttl` with `tags`.
    /// Concurrent callers missing the same key share one computation (and its error).
    pub async fn get_or_compute<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        tags: &[&str],
        compute: F,
    ) -> Result<T, Arc<E>>
    where
        T: Serialize + DeserializeOwned + Send,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.lookup(key, true).await.and_then(|b| decode(&b)) {
            return Ok(value);
        }
        let full = full_key(&self.name, key);
        let (flight, joined) = self.cache.inner.flights.join(&full);
        if joined {
            Counters::bump(&self.counters.coalesced);
        }
        let mut compute = Some(compute);
        let mut own: Option<T> = None;
        let landed = flight
            .cell
            .get_or_init(|| async {
                if let Some(bytes) = self.lookup(key, false).await {
                    return Landed::Value(bytes);
                }
                let compute = compute.take().expect("an initialiser runs once");
                Counters::bump(&self.counters.computes);
                match compute().await {
                    Ok(value) => {
                        let landed = match serde_json::to_vec(&value) {
                            Ok(bytes) => {
                                let bytes: Arc<[u8]> = bytes.into();
                                let valid_tags = tags.len() <= MAX_TAGS
                                    && tags.iter().all(|t| check_tag(t).is_ok());
                                if check_key(key).is_ok() && valid_tags {
                                    self.store(key, bytes.clone(), ttl, tags).await;
                                }
                                Landed::Value(bytes)
                            }
                            Err(_) => Landed::Uncacheable,
                        };
                        own = Some(value);
                        landed
                    }
                    Err(e) => Landed::Failed(Arc::new(e)),
                }
            })
            .await
            .clone();
        self.cache.inner.flights.land(&full, &flight);
        if let Some(value) = own {
            return Ok(value);
        }
        match landed {
            Landed::Value(bytes) => {
                if let Some(value) = decode(&bytes) {
                    return Ok(value);
                }
            }
            Landed::Failed(error) => {
                if let Ok(error) = error.downcast::<E>() {
                    return Err(error);
                }
            }
            Landed::Uncacheable => {}
        }
        // The shared outcome does not fit this caller's types: compute alone.
        let compute = compute
            .take()
            .expect("a caller whose computation ran has its own outcome");
        Counters::bump(&self.counters.computes);
        compute().await.map_err(Arc::new)
    }

    async fn lookup(&self, key: &str, count: bool) -> Option<Arc<[u8]>> {
        let found = self.fetch(key).await;
        if count {
            if found.is_some() {
                self.counters.hits.bump();
            } else {
                self.counters.misses.bump();
            }
        }
        found
    }

    async fn fetch(&self, key: &str) -> Option<Arc<[u8]>> {
        let inner = &self.cache.inner;
        if let Some(local) = self.cache.local_usable()
            && let Some(bytes) = local.get(&self.name, key)
        {
            return Some(bytes);
        }
        let remote = inner.remote.as_ref()?;
        let epoch = inner.epoch.load(Ordering::Acquire);
        let tiered = inner.backend == CacheBackend::Tiered;
        match remote.get(&self.name, key, tiered).await {
            Ok(Some((raw, ttl))) => {
                let (tags, value) = remote::open_envelope(&raw)?;
                let bytes: Arc<[u8]> = value.into();
                if let Some(local) = self.cache.local_usable()
                    && inner.epoch.load(Ordering::Acquire) == epoch
                {
                    let ttl = ttl.unwrap_or(inner.default_ttl);
                    local.insert(&self.name, key, bytes.clone(), ttl, &tags, &self.counters);
                }
                Some(bytes)
            }
            Ok(None) => None,
            Err(Unavailable) => {
                Counters::bump(&self.counters.degraded);
                None
            }
        }
    }

    async fn store(&self, key: &str, bytes: Arc<[u8]>, ttl: Option<Duration>, tags: &[&str]) {
        let inner = &self.cache.inner;
        let ttl = ttl.unwrap_or(inner.default_ttl);
        Counters::bump(&self.counters.sets);
        let Some(remote) = &inner.remote else {
            if let Some(local) = &inner.local {
                local.insert(&self.name, key, bytes, ttl, tags, &self.counters);
            }
            return;
        };
        let written = remote
            .set(&self.name, key, &remote::envelope(tags, &bytes), ttl, tags)
            .await;
        if written.is_err() {
            Counters::bump(&self.counters.degraded);
        }
        if let Some(local) = &inner.local {
            // Other processes drop their copy; this one keeps the new value.
            if written.is_ok() {
                self.publish(Target::Key(key.to_owned())).await;
            }
            local.remove(&self.name, key);
            if written.is_ok() && self.cache.local_usable().is_some() {
                local.insert(&self.name, key, bytes, ttl, tags, &self.counters);
            }
        }
    }

    async fn invalidate(&self, target: Target) {
        let inner = &self.cache.inner;
        Counters::bump(&self.counters.invalidations);
        if let Some(remote) = &inner.remote {
            let applied = remote.invalidate(&self.name, &target).await;
            if applied.is_err() {
                Counters::bump(&self.counters.degraded);
            }
            self.cache
                .apply_local(Some(&self.name), Some(&target))
                .await;
            if applied.is_ok() && inner.local.is_some() {
                self.publish(target).await;
            }
        } else {
            self.cache
                .apply_local(Some(&self.name), Some(&target))
                .await;
        }
    }

    async fn publish(&self, target: Target) {
        if let Some(remote) = &self.cache.inner.remote {
            let message = Message {
                origin: self.cache.inner.instance.clone(),
                namespace: Some(self.name.to_string()),
                target: Some(target),
            };
            remote.publish(&message).await;
        }
    }

    /// Keys of this namespace held in Redis (`None` on the local backend or when Redis is down).
    /// Walks the keys with `SCAN`: for stats pages, not hot paths.
    pub async fn shared_entries(&self) -> Option<u64> {
        let remote = self.cache.inner.remote.as_ref()?;
        remote.count(&self.name).await.ok()
    }
}

/// Replays what failed while Redis was unreachable and tells the other processes.
async fn replay(inner: &Inner, mut conn: MultiplexedConnection) -> redis::RedisResult<()> {
    let Some(remote) = &inner.remote else {
        return Ok(());
    };
    let messages = remote.replay(&mut conn, &inner.instance).await?;
    if inner.local.is_some() {
        for message in messages {
            if let Ok(payload) = serde_json::to_vec(&message) {
                redis::cmd("PUBLISH")
                    .arg(&remote.channel)
                    .arg(payload)
                    .query_async::<i64>(&mut conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// What the Redis link does for the cache.
struct Hooks {
    inner: Weak<Inner>,
}

#[async_trait::async_trait]
impl LinkHooks for Hooks {
    async fn connected(&self, conn: MultiplexedConnection) -> redis::RedisResult<()> {
        let Some(inner) = self.inner.upgrade() else {
            return Ok(());
        };
        replay(&inner, conn).await?;
        inner.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(local) = &inner.local {
            local.clear();
        }
        Ok(())
    }

    async fn up(&self, conn: MultiplexedConnection) -> redis::RedisResult<()> {
        // What failed while `connected` ran (the link was still down) is replayed now.
        match self.inner.upgrade() {
            Some(inner) => replay(&inner, conn).await,
            None => Ok(()),
        }
    }

    async fn message(&self, payload: &[u8]) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let Ok(message) = serde_json::from_slice::<Message>(payload) else {
            tracing::debug!("ignoring a malformed cache invalidation message");
            return;
        };
        if message.origin == inner.instance {
            return;
        }
        inner.epoch.fetch_add(1, Ordering::AcqRel);
        let cache = Cache {
            inner: inner.clone(),
        };
        cache
            .apply_local(message.namespace.as_deref(), message.target.as_ref())
            .await;
        inner.remote_invalidations.fetch_add(1, Ordering::Relaxed);
        let (by, value) = match message.target {
            Some(Target::Key(v)) => ("key", v),
            Some(Target::Tag(v)) => ("tag", v),
            Some(Target::Prefix(v)) => ("prefix", v),
            None => ("all", String::new()),
        };
        let _ = inner.remote_events.send(RemoteInvalidation {
            namespace: message.namespace,
            by,
            value,
        });
    }

    fn disconnected(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.epoch.fetch_add(1, Ordering::AcqRel);
            if let Some(local) = &inner.local {
                local.clear();
            }
        }
    }
}
