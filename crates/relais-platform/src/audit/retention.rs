//! `relais.audit_retention`: deletes audit records older than `audit.retention`, oldest first in
//! batches, moving the chain's anchor so verification still holds; then records the pruning
//! itself in the trail. Registered and scheduled by the composition root.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Audit, AuditRecord, Params};
use crate::tasks::{Task, TaskContext, TaskError, TaskOptions};

/// Records deleted per transaction.
const BATCH: u32 = 5_000;

/// The audit retention task kind.
pub struct AuditRetention {
    audit: Audit,
    max_age: Duration,
}

impl AuditRetention {
    /// When it runs: every hour (minute 41, UTC).
    pub const SCHEDULE: &'static str = "41 * * * *";

    /// Deletes records of `audit` older than `max_age`.
    pub fn new(audit: Audit, max_age: Duration) -> Self {
        Self { audit, max_age }
    }
}

impl Task for AuditRetention {
    const KIND: &'static str = "relais.audit_retention";
    type Args = serde_json::Map<String, Value>;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            unique_by_args: true,
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, _args: Self::Args) -> Result<Value, TaskError> {
        let started = self.audit.now();
        let before =
            started - chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::MAX);
        let mut deleted = 0;
        let mut anchor = None;
        loop {
            if ctx.is_cancelled() {
                break;
            }
            match self
                .audit
                .prune(before, BATCH)
                .await
                .map_err(TaskError::retry)?
            {
                Some(step) => {
                    deleted += step.deleted;
                    anchor = Some(step);
                }
                None => break,
            }
        }
        let Some(anchor) = anchor else {
            return Ok(json!({ "deleted": 0 }));
        };
        let mut record = AuditRecord::new(started, "system:retention", "audit prune")
            .resource("audit", Some(anchor.anchor_seq.to_string()))
            .params(Params::summarise(json!({
                "before": before,
                "deleted": deleted,
                "anchor_seq": anchor.anchor_seq,
                "anchor_hash": anchor.anchor_hash,
            })));
        record.duration_micros = (self.audit.now() - started).num_microseconds().unwrap_or(0);
        self.audit.record(record).await.map_err(TaskError::retry)?;
        if ctx.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        Ok(json!({ "deleted": deleted, "anchor_seq": anchor.anchor_seq }))
    }
}
