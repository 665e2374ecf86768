//! Per-namespace counters (atomics on the hot path) and the stats report built from them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A counter bumped on every lookup: one padded slot per thread group, so threads reading the
/// cache at once do not contend on one cache line.
#[derive(Debug, Default)]
pub(crate) struct Striped([Padded; STRIPES]);

const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

thread_local! {
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
    };
}

impl Striped {
    pub(crate) fn bump(&self) {
        let i = STRIPE.with(|s| *s);
        self.0[i].0.fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

/// Counters of one namespace in this process.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Striped,
    pub(crate) misses: Striped,
    pub(crate) sets: AtomicU64,
    pub(crate) computes: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) degraded: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) expirations: AtomicU64,
    pub(crate) entries: AtomicI64,
    pub(crate) bytes: AtomicI64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self, name: &str) -> NamespaceStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (hits, misses) = (self.hits.load(), self.misses.load());
        NamespaceStats {
            namespace: name.to_owned(),
            hits,
            misses,
            hit_rate: hit_rate(hits, misses),
            entries: self.entries.load(Ordering::Relaxed).max(0) as u64,
            memory_bytes: self.bytes.load(Ordering::Relaxed).max(0) as u64,
            evictions: load(&self.evictions),
            expirations: load(&self.expirations),
            sets: load(&self.sets),
            computes: load(&self.computes),
            coalesced: load(&self.coalesced),
            degraded: load(&self.degraded),
            invalidations: load(&self.invalidations),
        }
    }
}

/// Hits as a percentage of lookups (0 when there were none), rounded to 0.01.
pub fn hit_rate(hits: u64, misses: u64) -> f64 {
    let total = hits + misses;
    if total == 0 {
        0.0
    } else {
        (hits as f64 * 10_000.0 / total as f64).round() / 100.0
    }
}

/// The counters of every namespace used in this process.
#[derive(Default)]
pub(crate) struct Registry {
    map: RwLock<BTreeMap<Arc<str>, Arc<Counters>>>,
}

impl Registry {
    pub(crate) fn counters(&self, namespace: &str) -> Arc<Counters> {
        if let Some(c) = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace)
        {
            return c.clone();
        }
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(Arc::from(namespace))
            .or_default()
            .clone()
    }

    pub(crate) fn report(&self) -> Vec<NamespaceStats> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, c)| c.report(name))
            .collect()
    }
}

/// What one namespace did in this process since start.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NamespaceStats {
    /// The namespace (one per app or concern).
    pub namespace: String,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// `hits` as a percentage of `hits + misses`.
    pub hit_rate: f64,
    /// Entries held in this process's memory (the local tier; 0 on the `redis` backend).
    pub entries: u64,
    /// Approximate memory those entries take, in bytes.
    pub memory_bytes: u64,
    /// Entries dropped to stay within the memory budget.
    pub evictions: u64,
    /// Entries dropped because their TTL passed.
    pub expirations: u64,
    /// Values written.
    pub sets: u64,
    /// Computations run by `get_or_compute`.
    pub computes: u64,
    /// Callers that waited on another caller's computation instead of running their own.
    pub coalesced: u64,
    /// Operations that went without Redis because it was unreachable.
    pub degraded: u64,
    /// Invalidations requested here (by key, tag or prefix).
    pub invalidations: u64,
}

/// The state of the cache of this process.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheStats {
    /// `local`, `redis` or `tiered`.
    pub backend: &'static str,
    /// The local tier's memory budget in bytes (0 on the `redis` backend).
    pub memory_budget: u64,
    /// Whether Redis answers (absent on the `local` backend).
    pub redis_up: Option<bool>,
    /// Redis commands that failed since start.
    pub redis_errors: u64,
    /// Invalidations received from other processes (tiered backend).
    pub remote_invalidations: u64,
    /// Every namespace used in this process.
    pub namespaces: Vec<NamespaceStats>,
    /// All namespaces together (`namespace` is `*`).
    pub total: NamespaceStats,
}

pub(crate) fn total(namespaces: &[NamespaceStats]) -> NamespaceStats {
    let mut t = Counters::default().report("*");
    for n in namespaces {
        t.hits += n.hits;
        t.misses += n.misses;
        t.entries += n.entries;
        t.memory_bytes += n.memory_bytes;
        t.evictions += n.evictions;
        t.expirations += n.expirations;
        t.sets += n.sets;
        t.computes += n.computes;
        t.coalesced += n.coalesced;
        t.degraded += n.degraded;
        t.invalidations += n.invalidations;
    }
    t.hit_rate = hit_rate(t.hits, t.misses);
    t
}
