//! Plain data of the audit trail: records, stored entries, filters, statistics, the chain state.

use chrono::{DateTime, Utc};

use super::params::Params;

/// One audited operation, before it is chained and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the operation started (kept to the microsecond).
    pub at: DateTime<Utc>,
    /// Who: a token or user name, `anonymous`, `cli:<os user>` or `system:<component>`.
    pub actor: String,
    /// The actor's role, when it has one.
    pub role: Option<String>,
    /// What: `METHOD /route/template` over HTTP, `cli token create` on the command line…
    pub action: String,
    /// The kind of resource acted on (`tasks`, `tokens`, `queues`…).
    pub resource_type: Option<String>,
    /// The resource's id, when the operation names or creates one.
    pub resource_id: Option<String>,
    /// HTTP status; `None` outside HTTP.
    pub status: Option<u16>,
    /// Whether the operation succeeded.
    pub success: bool,
    /// How long it took, in microseconds.
    pub duration_micros: i64,
    /// Client IP address, for HTTP requests.
    pub client_addr: Option<String>,
    /// The request id (`X-Request-Id`), for HTTP requests.
    pub request_id: Option<String>,
    /// A summary of the parameters, secrets redacted.
    pub params: Params,
}

impl AuditRecord {
    /// A successful operation of `actor` at `at`, without details yet.
    pub fn new(at: DateTime<Utc>, actor: impl Into<String>, action: impl Into<String>) -> Self {
        let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
        Self {
            at,
            actor: actor.into(),
            role: None,
            action: action.into(),
            resource_type: None,
            resource_id: None,
            status: None,
            success: true,
            duration_micros: 0,
            client_addr: None,
            request_id: None,
            params: Params::empty(),
        }
    }

    /// Sets the resource acted on.
    pub fn resource(mut self, kind: impl Into<String>, id: Option<String>) -> Self {
        self.resource_type = Some(kind.into());
        self.resource_id = id;
        self
    }

    /// Sets the parameter summary.
    pub fn params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// Sets the outcome.
    pub fn success(mut self, success: bool) -> Self {
        self.success = success;
        self
    }
}

/// A stored record: its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, contiguous.
    pub seq: i64,
    /// The record.
    pub record: AuditRecord,
    /// The hash of the previous record (or of the anchor, or the genesis value for the first).
    pub prev_hash: String,
    /// `sha256(prev_hash ‖ "\n" ‖ canonical(record))`, hex.
    pub hash: String,
}

/// Where the chain stands: its head (last record) and its anchor (last pruned record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// Sequence number of the last record (0 when none was ever written).
    pub head_seq: i64,
    /// Hash of the last record (the genesis value when none was ever written).
    pub head_hash: String,
    /// Sequence number of the last pruned record (0 when nothing was pruned).
    pub anchor_seq: i64,
    /// Hash of the last pruned record: the first kept record links to it.
    pub anchor_hash: String,
}

/// What to list; every filter is optional and they combine with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action (`POST /api/tasks`).
    pub action: Option<String>,
    /// Exact resource type.
    pub resource_type: Option<String>,
    /// Exact resource id.
    pub resource_id: Option<String>,
    /// Outcome.
    pub success: Option<bool>,
    /// Exact request id.
    pub request_id: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Cursor: only records with a smaller sequence number.
    pub before_seq: Option<i64>,
    /// Most records returned.
    pub limit: u32,
}

/// Counts of records since a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditCounts {
    /// Every record.
    pub total: i64,
    /// Successful ones.
    pub succeeded: i64,
    /// Failed ones.
    pub failed: i64,
    /// Per actor, most frequent first (at most [`AuditCounts::TOP`]).
    pub by_actor: Vec<(String, i64)>,
    /// Per resource type (`None`: no resource), most frequent first (at most [`AuditCounts::TOP`]).
    pub by_resource_type: Vec<(Option<String>, i64)>,
    /// Per action, most frequent first (at most [`AuditCounts::TOP`]).
    pub by_action: Vec<(String, i64)>,
    /// Per UTC day (days since the epoch), oldest first: `(day, total, failed)`; days without
    /// records are absent.
    pub per_day: Vec<(i64, i64, i64)>,
}

impl AuditCounts {
    /// Most groups listed per dimension.
    pub const TOP: u32 = 100;
}

/// What one pruning step removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOutcome {
    /// Records deleted.
    pub deleted: u64,
    /// The new anchor: the last deleted record's sequence number…
    pub anchor_seq: i64,
    /// …and its hash.
    pub anchor_hash: String,
}
