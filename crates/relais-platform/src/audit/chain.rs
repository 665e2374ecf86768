//! The hash chain: the canonical encoding of a record, the link hash, and the checker that walks
//! stored entries in sequence order and names the first broken link.
//!
//! `hash(n) = hex(sha256(hash(n-1) ‖ "\n" ‖ canonical(n)))`, where `hash(0)` is [`GENESIS`] (or,
//! once old records are pruned, the hash of the last pruned one: the anchor), and `canonical(n)`
//! is the compact JSON array
//! `["relais.audit.v1", seq, at_micros, actor, role, action, resource_type, resource_id, status,
//! success, duration_micros, client_addr, request_id, params]` (`null` for absent values;
//! `params` is the stored JSON text, as a string). Anyone can recompute it from the table.

use sha2::{Digest, Sha256};

use super::model::{AuditEntry, AuditRecord, ChainState};

/// The hash before the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version tag of the canonical encoding.
pub const ENCODING: &str = "relais.audit.v1";

/// The canonical encoding of `record` at position `seq`.
pub fn canonical(seq: i64, r: &AuditRecord) -> Vec<u8> {
    let fields = (
        ENCODING,
        seq,
        r.at.timestamp_micros(),
        &r.actor,
        &r.role,
        &r.action,
        &r.resource_type,
        &r.resource_id,
        r.status,
        r.success,
        r.duration_micros,
        &r.client_addr,
        &r.request_id,
        r.params.as_str(),
    );
    serde_json::to_vec(&fields).expect("plain values serialise")
}

/// The hash of `record` at `seq`, linked to the previous hash `prev`.
pub fn link(prev: &str, seq: i64, record: &AuditRecord) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(seq, record));
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// The first broken link found by a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The sequence number where the chain breaks.
    pub seq: i64,
    /// What is wrong there.
    pub problem: LinkProblem,
}

/// What is wrong at a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// Records are missing: the log jumps from `seq - 1` to `found` (or ends, `None`).
    Missing {
        /// The next record present, if any.
        found: Option<i64>,
    },
    /// The record's fields no longer match its hash: it was changed after it was written.
    ContentChanged {
        /// The hash stored with the record.
        stored: String,
        /// The hash of its current fields.
        computed: String,
    },
    /// The record's link does not match the previous record's hash: the previous record was
    /// replaced (its hash recomputed) or the link itself was edited.
    LinkChanged {
        /// The previous hash stored with this record.
        stored_prev: String,
        /// The hash of the previous record (or anchor) as found.
        actual_prev: String,
    },
    /// The last record does not match the chain head: the head, or the last record, was edited.
    HeadMismatch {
        /// The head's hash.
        head_hash: String,
        /// The last record's hash.
        last_hash: String,
    },
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = self.seq;
        match &self.problem {
            LinkProblem::Missing { found: Some(next) } if *next == seq + 1 => write!(
                f,
                "record {seq} is missing: the log jumps from {} to {next} (it was deleted)",
                seq - 1
            ),
            LinkProblem::Missing { found: Some(next) } => write!(
                f,
                "records {seq} to {} are missing: the log jumps from {} to {next} (they were deleted)",
                next - 1,
                seq - 1
            ),
            LinkProblem::Missing { found: None } => write!(
                f,
                "record {seq} is missing: the chain head is beyond the last record (the last records were deleted)"
            ),
            LinkProblem::ContentChanged { stored, computed } => write!(
                f,
                "record {seq} was changed after it was written: its fields hash to {computed}, its stored hash is {stored}"
            ),
            LinkProblem::LinkChanged {
                stored_prev,
                actual_prev,
            } => write!(
                f,
                "record {seq} no longer links to record {}: it was written after hash {stored_prev}, but that record now hashes to {actual_prev} (record {} was replaced, or this link edited)",
                seq - 1,
                seq - 1
            ),
            LinkProblem::HeadMismatch {
                head_hash,
                last_hash,
            } => write!(
                f,
                "record {seq} is the last record but its hash {last_hash} is not the chain head's {head_hash} (the head or the record was edited)"
            ),
        }
    }
}

/// Walks entries in sequence order from the anchor, keeping only the previous hash.
#[derive(Debug, Clone)]
pub struct Checker {
    prev_hash: String,
    next_seq: i64,
    checked: u64,
}

impl Checker {
    /// Starts after the anchor of `chain`.
    pub fn new(chain: &ChainState) -> Self {
        Self {
            prev_hash: chain.anchor_hash.clone(),
            next_seq: chain.anchor_seq + 1,
            checked: 0,
        }
    }

    /// The sequence number expected next.
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Records checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Starts again after a newer anchor (old records were pruned while checking).
    pub fn restart_at(&mut self, chain: &ChainState) {
        self.prev_hash = chain.anchor_hash.clone();
        self.next_seq = chain.anchor_seq + 1;
    }

    /// Checks the next entry.
    pub fn check(&mut self, e: &AuditEntry) -> Result<(), BrokenLink> {
        if e.seq != self.next_seq {
            return Err(BrokenLink {
                seq: self.next_seq,
                problem: LinkProblem::Missing { found: Some(e.seq) },
            });
        }
        let computed = link(&e.prev_hash, e.seq, &e.record);
        if computed != e.hash {
            return Err(BrokenLink {
                seq: e.seq,
                problem: LinkProblem::ContentChanged {
                    stored: e.hash.clone(),
                    computed,
                },
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(BrokenLink {
                seq: e.seq,
                problem: LinkProblem::LinkChanged {
                    stored_prev: e.prev_hash.clone(),
                    actual_prev: self.prev_hash.clone(),
                },
            });
        }
        self.prev_hash.clone_from(&e.hash);
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// Checks that the walk ended at the head `chain` had when the walk began (a walk restarted
    /// past that head, after pruning, has nothing left to compare).
    pub fn finish(&self, chain: &ChainState) -> Result<(), BrokenLink> {
        let last = self.next_seq - 1;
        if last < chain.head_seq {
            return Err(BrokenLink {
                seq: self.next_seq,
                problem: LinkProblem::Missing { found: None },
            });
        }
        if last == chain.head_seq && self.prev_hash != chain.head_hash {
            return Err(BrokenLink {
                seq: last,
                problem: LinkProblem::HeadMismatch {
                    head_hash: chain.head_hash.clone(),
                    last_hash: self.prev_hash.clone(),
                },
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::params::Params;

    fn record(actor: &str) -> AuditRecord {
        let at = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        AuditRecord::new(at, actor, "POST /api/tasks")
            .resource("tasks", Some("t1".into()))
            .params(Params::summarise(
                serde_json::json!({"kind": "relais.noop"}),
            ))
    }

    fn chain(records: &[AuditRecord]) -> (Vec<AuditEntry>, ChainState) {
        let mut prev = GENESIS.to_owned();
        let mut entries = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let seq = i as i64 + 1;
            let hash = link(&prev, seq, r);
            entries.push(AuditEntry {
                seq,
                record: r.clone(),
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        let state = ChainState {
            head_seq: entries.len() as i64,
            head_hash: prev,
            anchor_seq: 0,
            anchor_hash: GENESIS.into(),
        };
        (entries, state)
    }

    fn walk(entries: &[AuditEntry], state: &ChainState) -> Result<u64, BrokenLink> {
        let mut c = Checker::new(state);
        for e in entries {
            c.check(e)?;
        }
        c.finish(state)?;
        Ok(c.checked())
    }

    #[test]
    fn the_encoding_is_fixed() {
        let text = String::from_utf8(canonical(7, &record("ci"))).unwrap();
        assert_eq!(
            text,
            r#"["relais.audit.v1",7,1700000000123456,"ci",null,"POST /api/tasks","tasks","t1",null,true,0,null,null,"{\"kind\":\"relais.noop\"}"]"#
        );
        assert_eq!(link(GENESIS, 7, &record("ci")).len(), 64);
        assert_ne!(
            link(GENESIS, 7, &record("ci")),
            link(GENESIS, 8, &record("ci"))
        );
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let records: Vec<_> = ["a", "b", "c", "d"].iter().map(|a| record(a)).collect();
        let (entries, state) = chain(&records);
        assert_eq!(walk(&entries, &state), Ok(4));

        let mut changed = entries.clone();
        changed[1].record.actor = "mallory".into();
        let broken = walk(&changed, &state).unwrap_err();
        assert_eq!(broken.seq, 2);
        assert!(matches!(broken.problem, LinkProblem::ContentChanged { .. }));

        let mut rehashed = changed.clone();
        rehashed[1].hash = link(&rehashed[1].prev_hash, 2, &rehashed[1].record);
        let broken = walk(&rehashed, &state).unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(
            matches!(broken.problem, LinkProblem::LinkChanged { .. }),
            "{broken}"
        );

        let mut gap = entries.clone();
        gap.remove(1);
        let broken = walk(&gap, &state).unwrap_err();
        assert_eq!(
            (broken.seq, broken.problem),
            (2, LinkProblem::Missing { found: Some(3) })
        );

        let broken = walk(&entries[..3], &state).unwrap_err();
        assert_eq!(
            (broken.seq, &broken.problem),
            (4, &LinkProblem::Missing { found: None })
        );
        assert!(
            broken.to_string().contains("last records were deleted"),
            "{broken}"
        );

        let mut head = state.clone();
        head.head_hash = GENESIS.into();
        let broken = walk(&entries, &head).unwrap_err();
        assert!(matches!(broken.problem, LinkProblem::HeadMismatch { .. }));
    }
}
