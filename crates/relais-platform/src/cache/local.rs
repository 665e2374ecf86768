//! The local tier: serialised values in this process, bounded by a memory budget.
//!
//! Entries live in [`SHARDS`] shards, each a `RwLock` over a hash index and a slab of cells, so
//! a read takes one shared lock on one shard and clones one `Arc`. Entries are indexed by a
//! 64-bit hash of (namespace, key); each keeps its full `namespace:key`, checked on every hit,
//! so a hash collision is a miss, never a wrong value. Each entry carries its deadline on the
//! cache's [`Clock`] (TTLs are testable with a manual clock); an entry past its deadline is
//! dropped when read, or first when its shard needs room.
//!
//! Each shard keeps within its share of the memory budget with the CLOCK policy (second chance):
//! a read marks its entry; when room is needed the hand sweeps the slab, dropping expired
//! entries, sparing marked ones once (clearing the mark) and evicting the first unmarked one.
//! A value larger than a shard's share is not kept. Tag and prefix invalidations remove the
//! matching entries of every shard at once.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::stats::{Counters, Registry};
use crate::clock::Clock;

/// Shards of the local tier (a value may take at most 1/SHARDS of the budget).
pub const SHARDS: usize = 16;
/// Bytes counted for an entry besides its key, value and tags (index, slab cell, header).
const ENTRY_OVERHEAD: usize = 96;

struct Cell {
    slot: u64,
    /// `namespace:key`.
    key: Box<str>,
    bytes: Arc<[u8]>,
    /// Deadline in microseconds since the epoch, on the cache's clock.
    expires_at: i64,
    tags: Box<[Box<str>]>,
    weight: usize,
    visited: AtomicBool,
}

#[derive(Clone, Copy)]
enum Cause {
    Explicit,
    Expired,
    Size,
}

#[derive(Default)]
struct Shard {
    index: HashMap<u64, usize, SlotHasher>,
    slab: Vec<Option<Cell>>,
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
}

/// Slots are already hashes: the index uses them as they are.
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
    shards: Box<[RwLock<Shard>]>,
    budget: usize,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    registry: Arc<Registry>,
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

fn is_key(cell: &Cell, namespace: &str, key: &str) -> bool {
    let k = cell.key.as_bytes();
    k.len() == namespace.len() + 1 + key.len()
        && k.starts_with(namespace.as_bytes())
        && k[namespace.len()] == b':'
        && k.ends_with(key.as_bytes())
}

impl Shard {
    fn find(&self, slot: u64, namespace: &str, key: &str) -> Option<usize> {
        let i = *self.index.get(&slot)?;
        let cell = self.slab[i].as_ref()?;
        is_key(cell, namespace, key).then_some(i)
    }

    fn remove(&mut self, i: usize, cause: Cause, registry: &Registry) {
        let Some(cell) = self.slab[i].take() else {
            return;
        };
        self.index.remove(&cell.slot);
        self.free.push(i);
        self.bytes -= cell.weight;
        let c = registry.counters(namespace_of(&cell.key));
        c.entries.fetch_sub(1, Ordering::Relaxed);
        c.bytes.fetch_sub(cell.weight as i64, Ordering::Relaxed);
        match cause {
            Cause::Size => Counters::bump(&c.evictions),
            Cause::Expired => Counters::bump(&c.expirations),
            Cause::Explicit => {}
        }
    }

    /// Makes room with the CLOCK hand until the shard is within `budget`.
    fn make_room(&mut self, budget: usize, now: i64, registry: &Registry) {
        let mut spared = 0;
        while self.bytes > budget && !self.index.is_empty() {
            if self.hand >= self.slab.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            let Some(cell) = &self.slab[i] else {
                continue;
            };
            if cell.expires_at <= now {
                self.remove(i, Cause::Expired, registry);
            } else if cell.visited.swap(false, Ordering::Relaxed) && spared < self.slab.len() {
                spared += 1;
            } else {
                self.remove(i, Cause::Size, registry);
            }
        }
    }

    fn remove_where(&mut self, registry: &Registry, f: impl Fn(&Cell) -> bool) {
        for i in 0..self.slab.len() {
            if self.slab[i].as_ref().is_some_and(&f) {
                self.remove(i, Cause::Explicit, registry);
            }
        }
    }
}

impl Local {
    pub(crate) fn new(memory: u64, clock: Arc<dyn Clock>, registry: Arc<Registry>) -> Self {
        let shards = (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect();
        Self {
            shards,
            budget: usize::try_from(memory).unwrap_or(usize::MAX) / SHARDS,
            hasher: RandomState::new(),
            clock,
            registry,
        }
    }

    fn slot(&self, namespace: &str, key: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(namespace.as_bytes());
        h.write_u8(b':');
        h.write(key.as_bytes());
        h.finish()
    }

    fn shard(&self, slot: u64) -> &RwLock<Shard> {
        // Bits the index does not use for its own placement.
        &self.shards[(slot >> 40) as usize & (SHARDS - 1)]
    }

    pub(crate) fn now_micros(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }

    /// The live value of `key` (an entry past its deadline is dropped and counted as expired).
    pub(crate) fn get(&self, namespace: &str, key: &str) -> Option<Arc<[u8]>> {
        let slot = self.slot(namespace, key);
        let lock = self.shard(slot);
        let now = self.now_micros();
        {
            let shard = lock.read().unwrap_or_else(|e| e.into_inner());
            let i = shard.find(slot, namespace, key)?;
            let cell = shard.slab[i].as_ref()?;
            if cell.expires_at > now {
                cell.visited.store(true, Ordering::Relaxed);
                return Some(cell.bytes.clone());
            }
        }
        let mut shard = lock.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = shard.find(slot, namespace, key)
            && shard.slab[i].as_ref().is_some_and(|c| c.expires_at <= now)
        {
            shard.remove(i, Cause::Expired, &self.registry);
        }
        None
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
        let now = self.now_micros();
        let ttl_micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        let full = full_key(namespace, key);
        let weight = full.len()
            + bytes.len()
            + tags.iter().map(|t| t.len() + 16).sum::<usize>()
            + ENTRY_OVERHEAD;
        let slot = self.slot(namespace, key);
        let cell = Cell {
            slot,
            key: full.into(),
            bytes,
            expires_at: now.saturating_add(ttl_micros),
            tags: tags.iter().map(|t| Box::from(*t)).collect(),
            weight,
            visited: AtomicBool::new(false),
        };
        let mut shard = self.shard(slot).write().unwrap_or_else(|e| e.into_inner());
        if let Some(&i) = shard.index.get(&slot) {
            // The same key, or (rarely) another key with the same hash: replaced either way.
            shard.remove(i, Cause::Explicit, &self.registry);
        }
        counters.entries.fetch_add(1, Ordering::Relaxed);
        counters.bytes.fetch_add(weight as i64, Ordering::Relaxed);
        shard.bytes += weight;
        let i = match shard.free.pop() {
            Some(i) => {
                shard.slab[i] = Some(cell);
                i
            }
            None => {
                shard.slab.push(Some(cell));
                shard.slab.len() - 1
            }
        };
        shard.index.insert(slot, i);
        shard.make_room(self.budget, now, &self.registry);
    }

    pub(crate) fn remove(&self, namespace: &str, key: &str) {
        let slot = self.slot(namespace, key);
        let mut shard = self.shard(slot).write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = shard.find(slot, namespace, key) {
            shard.remove(i, Cause::Explicit, &self.registry);
        }
    }

    fn remove_where(&self, f: impl Fn(&Cell) -> bool) {
        for lock in &self.shards {
            let mut shard = lock.write().unwrap_or_else(|e| e.into_inner());
            shard.remove_where(&self.registry, &f);
        }
    }

    /// Drops every entry of `namespace` carrying `tag`.
    pub(crate) fn invalidate_tag(&self, namespace: &str, tag: &str) {
        let ns = format!("{namespace}:");
        self.remove_where(|c| c.key.starts_with(&ns) && c.tags.iter().any(|t| **t == *tag));
    }

    /// Drops every entry of `namespace` whose key starts with `prefix`.
    pub(crate) fn invalidate_prefix(&self, namespace: &str, prefix: &str) {
        let start = full_key(namespace, prefix);
        self.remove_where(|c| c.key.starts_with(&start));
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.remove_where(|_| true);
    }
}
