//! The local tier: a moka cache in this process, bounded by a memory budget.
//!
//! Entries are serialised values keyed `namespace:key`. Each carries its deadline on the cache's
//! [`Clock`] (so TTLs are testable with a manual clock) and moka also expires it after the same
//! TTL of real time, which frees memory without a lookup. Tag and prefix invalidations use
//! moka's invalidation predicates: matching entries stop being served at once and are removed in
//! the background.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use moka::notification::RemovalCause;

use super::stats::{Counters, Registry};
use crate::clock::Clock;

/// Bytes counted for an entry besides its key and value (moka's bookkeeping, our header).
const ENTRY_OVERHEAD: usize = 96;

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) bytes: Arc<[u8]>,
    /// Deadline in microseconds since the epoch, on the cache's clock.
    pub(crate) expires_at: i64,
    ttl: Duration,
    tags: Arc<[Box<str>]>,
}

struct TtlPolicy;

impl moka::Expiry<String, Entry> for TtlPolicy {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

fn weight(key: &str, entry: &Entry) -> u32 {
    let tags: usize = entry.tags.iter().map(|t| t.len() + 16).sum();
    u32::try_from(key.len() + entry.bytes.len() + tags + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// The in-process tier.
pub(crate) struct Local {
    moka: Moka<String, Entry>,
    clock: Arc<dyn Clock>,
}

pub(crate) fn full_key(namespace: &str, key: &str) -> String {
    let mut full = String::with_capacity(namespace.len() + key.len() + 1);
    full.push_str(namespace);
    full.push(':');
    full.push_str(key);
    full
}

fn namespace_of(full: &str) -> &str {
    full.split_once(':').map_or(full, |(ns, _)| ns)
}

impl Local {
    pub(crate) fn new(memory: u64, clock: Arc<dyn Clock>, registry: Arc<Registry>) -> Self {
        let moka = Moka::builder()
            .max_capacity(memory)
            .weigher(|k: &String, v: &Entry| weight(k, v))
            .expire_after(TtlPolicy)
            .support_invalidation_closures()
            .eviction_listener(move |key: Arc<String>, entry: Entry, cause| {
                let c = registry.counters(namespace_of(&key));
                c.entries.fetch_sub(1, Ordering::Relaxed);
                c.bytes
                    .fetch_sub(i64::from(weight(&key, &entry)), Ordering::Relaxed);
                match cause {
                    RemovalCause::Size => Counters::bump(&c.evictions),
                    RemovalCause::Expired => Counters::bump(&c.expirations),
                    RemovalCause::Explicit | RemovalCause::Replaced => {}
                }
            })
            .build();
        Self { moka, clock }
    }

    pub(crate) fn now_micros(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }

    /// The live entry of `full` (an entry past its deadline is dropped and counted as expired).
    pub(crate) async fn get(&self, full: &str, counters: &Counters) -> Option<Entry> {
        let entry = self.moka.get(full).await?;
        if entry.expires_at > self.now_micros() {
            Some(entry)
        } else {
            self.moka.invalidate(full).await;
            Counters::bump(&counters.expirations);
            None
        }
    }

    pub(crate) async fn insert(
        &self,
        full: String,
        bytes: Arc<[u8]>,
        ttl: Duration,
        tags: &[&str],
        counters: &Counters,
    ) {
        if ttl.is_zero() {
            return;
        }
        let ttl_micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        let entry = Entry {
            bytes,
            expires_at: self.now_micros().saturating_add(ttl_micros),
            ttl,
            tags: tags.iter().map(|t| Box::from(*t)).collect(),
        };
        counters.entries.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(i64::from(weight(&full, &entry)), Ordering::Relaxed);
        self.moka.insert(full, entry).await;
    }

    pub(crate) async fn remove(&self, full: &str) {
        self.moka.invalidate(full).await;
    }

    /// Stops serving every entry of `namespace` carrying `tag`.
    pub(crate) fn invalidate_tag(&self, namespace: &str, tag: &str) {
        let (ns, tag) = (format!("{namespace}:"), tag.to_owned());
        self.predicate(move |k, e| k.starts_with(&ns) && e.tags.iter().any(|t| **t == *tag));
    }

    /// Stops serving every entry of `namespace` whose key starts with `prefix`.
    pub(crate) fn invalidate_prefix(&self, namespace: &str, prefix: &str) {
        let start = full_key(namespace, prefix);
        self.predicate(move |k, _| k.starts_with(&start));
    }

    fn predicate(&self, f: impl Fn(&String, &Entry) -> bool + Send + Sync + 'static) {
        if self.moka.invalidate_entries_if(f).is_err() {
            // Only possible if predicates were not enabled at build time; stay correct anyway.
            self.moka.invalidate_all();
        }
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.moka.invalidate_all();
    }

    /// Applies pending removals so counters are current.
    pub(crate) async fn settle(&self) {
        self.moka.run_pending_tasks().await;
    }
}
