//! `relais.retention`: deletes finished tasks older than the policy's age for their state, and
//! forgets worker processes silent for a day. Scheduled by the engine (see
//! [`super::engine_config::RetentionPolicy`]); deletes in batches so no write holds the
//! database for long, and stops early when cancelled.

use std::sync::Arc;

use serde_json::{Value, json};

use super::engine_config::RetentionPolicy;
use super::handler::{Task, TaskContext, TaskError, TaskOptions};
use super::model::TaskState;
use crate::clock::Clock;
use crate::store::Store;

/// Rows deleted per statement.
const BATCH: u32 = 5_000;

pub(crate) struct Retention {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) policy: RetentionPolicy,
}

impl Task for Retention {
    const KIND: &'static str = "relais.retention";
    type Args = serde_json::Map<String, Value>;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            unique_by_args: true,
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, _args: Self::Args) -> Result<Value, TaskError> {
        let now = self.clock.now();
        let p = &self.policy;
        let ages = [
            (TaskState::Succeeded, p.succeeded),
            (TaskState::Cancelled, p.cancelled),
            (TaskState::Failed, p.failed),
            (TaskState::Discarded, p.discarded),
        ];
        let mut deleted = serde_json::Map::new();
        for (i, (state, age)) in ages.into_iter().enumerate() {
            let before = now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            let mut n = 0u64;
            loop {
                if ctx.is_cancelled() {
                    return Err(TaskError::Cancelled);
                }
                let batch = self
                    .store
                    .delete_finished(state, before, BATCH)
                    .await
                    .map_err(TaskError::retry)?;
                n += batch;
                if batch < u64::from(BATCH) {
                    break;
                }
            }
            deleted.insert(state.as_str().into(), json!(n));
            ctx.progress((i + 1) as f64 * 20.0, format!("deleted {n} {state} tasks"))
                .await;
        }
        let day = chrono::Duration::days(1);
        let workers = self
            .store
            .prune_workers(now - day)
            .await
            .map_err(TaskError::retry)?;
        Ok(json!({ "deleted": deleted, "workers_forgotten": workers }))
    }
}
