//! What the PV parser remembers about the rows of the file it is reading: how many accepted rows
//! share a SIRET, collège, date (or cycle) and kind (the occurrence number in the key of rows
//! without a PV number, and the warning about several PVs of one SIRET, collège and day), and
//! where each PV number and collège first appeared.
//!
//! The platform parses the rows of one attempt in file order on one thread, and a resumed
//! attempt parses the committed rows again first; so the state lives in a thread-local, keyed
//! by the import, and starts over when a row number is not above the last one seen (a new
//! attempt reading from the top). Keys are kept as 64-bit hashes: about 40 bytes a row.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use uuid::Uuid;

/// The state of one attempt's read.
struct FileState {
    import: Uuid,
    last_row: u64,
    /// Election key → (first row, accepted rows so far).
    elections: HashMap<u64, (u64, u32)>,
    /// PV number and collège → first row.
    pvs: HashMap<u64, u64>,
}

thread_local! {
    static STATE: RefCell<Option<FileState>> = const { RefCell::new(None) };
}

/// What the file held before this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// This row's occurrence of its election key (1 for the first).
    pub occurrence: u32,
    /// The first row with the same election key, when this is not it.
    pub same_election: Option<u64>,
    /// The first row with the same PV number and collège, when this is not it.
    pub same_pv: Option<u64>,
}

/// A 64-bit hash of a key.
pub(crate) fn hash_of(key: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Records accepted row `row` of import `import` with its election key and, when it has one,
/// its PV key (hashes from [`hash_of`]); says what came before it in the file.
pub(crate) fn note(import: Uuid, row: u64, election: u64, pv: Option<u64>) -> Seen {
    STATE.with_borrow_mut(|state| {
        let fresh = match state {
            Some(s) => s.import != import || row <= s.last_row,
            None => true,
        };
        if fresh {
            *state = None;
        }
        let s = state.get_or_insert_with(|| FileState {
            import,
            last_row: 0,
            elections: HashMap::new(),
            pvs: HashMap::new(),
        });
        s.last_row = row;
        let entry = s.elections.entry(election).or_insert((row, 0));
        entry.1 += 1;
        let same_election = (entry.0 != row).then_some(entry.0);
        let occurrence = entry.1;
        let same_pv = pv.and_then(|k| {
            let first = *s.pvs.entry(k).or_insert(row);
            (first != row).then_some(first)
        });
        Seen {
            occurrence,
            same_election,
            same_pv,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_count_in_file_order_and_restart_with_a_new_attempt() {
        let id = Uuid::now_v7();
        let (a, b) = (hash_of("a"), hash_of("b"));
        assert_eq!(note(id, 2, a, None).occurrence, 1);
        assert_eq!(note(id, 3, b, Some(7)).same_pv, None);
        let third = note(id, 5, a, Some(7));
        assert_eq!(
            third,
            Seen {
                occurrence: 2,
                same_election: Some(2),
                same_pv: Some(3)
            }
        );
        // A new attempt reads from the top again: same numbers.
        assert_eq!(note(id, 2, a, None).occurrence, 1);
        assert_eq!(note(id, 5, a, Some(7)).occurrence, 2);
        // Another import on this thread starts afresh.
        assert_eq!(note(Uuid::now_v7(), 9, a, None).occurrence, 1);
    }
}
