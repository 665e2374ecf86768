//! The local tier: a moka cache in this process, bounded by a memory budget.
//!
//! Entries are serialised values. moka indexes them by a 64-bit hash of (namespace, key) (cheap
//! to compare, no key allocation per lookup); each entry keeps its full `namespace:key`, checked
//! on every hit, so a hash collision is a miss, never a wrong value. Each carries its deadline on the cache's
//! [`Clock`] (so TTLs are testable with a manual clock) and moka also expires it after the same
//! TTL of real time, which frees memory without a lookup. Tag and prefix invalidations use
//! moka's invalidation predicates: matching entries stop being served at once and are removed in
//! the background.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache as Moka;

use super::stats::{Counters, Registry};
use crate::clock::Clock;

/// Bytes counted for an entry besides its key and value (moka's bookkeeping, our header).
const ENTRY_OVERHEAD: usize = 96;

#[derive(Clone)]
pub(crate) struct Entry {
    /// `namespace:key`.
    key: Arc<str>,
    pub(crate) bytes: Arc<[u8]>,
    /// Deadline in microseconds since the epoch, on the cache's clock.
    pub(crate) expires_at: i64,
    ttl: Duration,
    tags: Arc<[Box<str>]>,
}

struct TtlPolicy;

impl moka::Expiry<u64, Entry> for TtlPolicy {
    fn expire_after_create(&self, _: &u64, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &u64,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

fn weight(entry: &Entry) -> u32 {
    let tags: usize = entry.tags.iter().map(|t| t.len() + 16).sum();
    u32::try_from(entry.key.len() + entry.bytes.len() + tags + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// Slots are already hashes: moka uses them as they are.
#[derive(Clone, Default)]
struct Slot(u64);

impl Hasher for Slot {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Clone, Default)]
struct SlotHasher;

impl BuildHasher for SlotHasher {
    type Hasher = Slot;

    fn build_hasher(&self) -> Slot {
        Slot::default()
    }
}

/// The in-process tier.
pub(crate) struct Local {
    moka: Moka<u64, Entry, SlotHasher>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
}

fn is_key(entry: &Entry, namespace: &str, key: &str) -> bool {
    let k = entry.key.as_bytes();
    k.len() == namespace.len() + 1 + key.len()
        && k.starts_with(namespace.as_bytes())
        && k[namespace.len()] == b':'
        && k.ends_with(key.as_bytes())
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
            .weigher(|_: &u64, v: &Entry| weight(v))
            .expire_after(TtlPolicy)
            .support_invalidation_closures()
            .eviction_listener(move |_, entry: Entry, cause| {
                let c = registry.counters(namespace_of(&entry.key));
                c.entries.fetch_sub(1, Ordering::Relaxed);
                c.bytes
                    .fetch_sub(i64::from(weight(&entry)), Ordering::Relaxed);
                match cause {
                    RemovalCause::Size => Counters::bump(&c.evictions),
                    RemovalCause::Expired => Counters::bump(&c.expirations),
                    RemovalCause::Explicit | RemovalCause::Replaced => {}
                }
            })
            .build_with_hasher(SlotHasher);
        Self {
            moka,
            hasher: RandomState::new(),
            clock,
        }
    }

    fn slot(&self, namespace: &str, key: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(namespace.as_bytes());
        h.write_u8(b':');
        h.write(key.as_bytes());
        h.finish()
    }

    pub(crate) fn now_micros(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }

    /// The live entry of `key` (an entry past its deadline is dropped and counted as expired).
    pub(crate) fn get(&self, namespace: &str, key: &str, counters: &Counters) -> Option<Entry> {
        let slot = self.slot(namespace, key);
        let entry = self.moka.get(&slot)?;
        if !is_key(&entry, namespace, key) {
            return None;
        }
        if entry.expires_at > self.now_micros() {
            Some(entry)
        } else {
            self.moka.invalidate(&slot);
            Counters::bump(&counters.expirations);
            None
        }
    }

    pub(crate) fn insert(
        &self,
        namespace: &str,
        key: &str,
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
            key: full_key(namespace, key).into(),
            bytes,
            expires_at: self.now_micros().saturating_add(ttl_micros),
            ttl,
            tags: tags.iter().map(|t| Box::from(*t)).collect(),
        };
        counters.entries.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(i64::from(weight(&entry)), Ordering::Relaxed);
        self.moka.insert(self.slot(namespace, key), entry);
    }

    pub(crate) fn remove(&self, namespace: &str, key: &str) {
        self.moka.invalidate(&self.slot(namespace, key));
    }

    /// Stops serving every entry of `namespace` carrying `tag`.
    pub(crate) fn invalidate_tag(&self, namespace: &str, tag: &str) {
        let (ns, tag) = (format!("{namespace}:"), tag.to_owned());
        self.predicate(move |e| e.key.starts_with(&ns) && e.tags.iter().any(|t| **t == *tag));
    }

    /// Stops serving every entry of `namespace` whose key starts with `prefix`.
    pub(crate) fn invalidate_prefix(&self, namespace: &str, prefix: &str) {
        let start = full_key(namespace, prefix);
        self.predicate(move |e| e.key.starts_with(&start));
    }

    fn predicate(&self, f: impl Fn(&Entry) -> bool + Send + Sync + 'static) {
        if self.moka.invalidate_entries_if(move |_, e| f(e)).is_err() {
            // Only possible if predicates were not enabled at build time; stay correct anyway.
            self.moka.invalidate_all();
        }
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.moka.invalidate_all();
    }

    /// Applies pending removals so counters are current.
    pub(crate) fn settle(&self) {
        self.moka.run_pending_tasks();
    }
}
