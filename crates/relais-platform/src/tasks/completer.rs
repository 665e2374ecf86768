//! Batched recording of attempt outcomes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::model::{Outcome, TaskState};
use crate::clock::Clock;
use crate::store::Store;

/// An attempt's outcome waiting to be recorded.
pub(super) struct Completion {
    pub(super) id: Uuid,
    pub(super) attempt: i32,
    pub(super) outcome: Outcome,
    pub(super) reply: oneshot::Sender<Option<TaskState>>,
}

/// Records outcomes in batches: whatever has accumulated while the previous batch was being
/// written goes in the next transaction (up to 1,000). It holds no reference to the engine, so it
/// ends when the engine is dropped.
pub(super) struct Completer {
    pub(super) receiver: mpsc::UnboundedReceiver<Completion>,
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) worker: String,
}

impl Completer {
    const BATCH: usize = 1_000;

    pub(super) async fn run(mut self) {
        let mut batch = Vec::with_capacity(Self::BATCH);
        while let Some(first) = self.receiver.recv().await {
            batch.push(first);
            while batch.len() < Self::BATCH {
                match self.receiver.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            tracing::debug!(outcomes = batch.len(), "recording a batch of outcomes");
            let items: Vec<(Uuid, i32, Outcome)> = batch
                .iter()
                .map(|c| (c.id, c.attempt, c.outcome.clone()))
                .collect();
            let mut delay = Duration::from_millis(50);
            let records = loop {
                match self
                    .store
                    .finish_tasks(&self.worker, &items, self.clock.now())
                    .await
                {
                    Ok(records) => break records,
                    Err(e) => {
                        // The heartbeat keeps these tasks while their outcomes wait.
                        tracing::warn!(error = %e, tasks = items.len(), "recording outcomes failed; retrying");
                        self.clock.sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            };
            for (completion, state) in batch.drain(..).zip(records) {
                let _ = completion.reply.send(state);
            }
        }
    }
}
