//! Single-flight: concurrent misses of one key share one computation.
//!
//! The first caller of a key creates its flight; callers arriving while it is in the air join it
//! and wait on the same cell. Whoever's initialiser runs computes the value for everyone (if that
//! caller is cancelled, another waiter's initialiser takes over, as `tokio::sync::OnceCell`
//! does). A flight leaves the table when it lands; a caller that arrives just after re-checks the
//! cache inside its own flight before computing, so a landed value is not computed twice.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// What a flight lands with.
#[derive(Clone)]
pub(crate) enum Landed {
    /// The value, serialised (followers deserialise it).
    Value(Arc<[u8]>),
    /// The computation's error, type-erased (followers downcast it).
    Failed(Arc<dyn Any + Send + Sync>),
    /// The value could not be serialised: each caller computes its own.
    Uncacheable,
}

/// One key's flight.
#[derive(Default)]
pub(crate) struct Flight {
    pub(crate) cell: OnceCell<Landed>,
}

/// The flights in the air, by full key.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

impl Flights {
    /// Joins the flight of `key`, creating it when none is in the air. Returns whether the
    /// caller joined an existing one.
    pub(crate) fn join(&self, key: &str) -> (Arc<Flight>, bool) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(flight) => (flight.clone(), true),
            None => {
                let flight = Arc::new(Flight::default());
                map.insert(key.to_owned(), flight.clone());
                (flight, false)
            }
        }
    }

    /// Removes the flight of `key` once landed (only that flight, not a newer one).
    pub(crate) fn land(&self, key: &str, flight: &Arc<Flight>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(key);
        }
    }

    /// Flights in the air.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
