//! Enqueueing inside an app's own database transaction: the tasks exist if and only if the
//! transaction commits, and workers are woken (and events published) only after it has.

use super::{Engine, EngineError, Enqueue};
use crate::store::DbTx;
use crate::tasks::model::TaskRecord;

/// A write transaction in which an app changes its own tables (through [`TaskTx::db`], in its
/// storage module) and enqueues tasks. Dropped without [`TaskTx::commit`], everything in it is
/// rolled back, tasks included.
pub struct TaskTx {
    engine: Engine,
    tx: DbTx,
    enqueued: Vec<(TaskRecord, bool)>,
}

impl Engine {
    /// Starts a write transaction for changes and enqueues that must commit together. On SQLite
    /// it holds the single writer until it ends: keep it short.
    pub async fn begin(&self) -> Result<TaskTx, EngineError> {
        Ok(TaskTx {
            engine: self.clone(),
            tx: self.inner.store.begin().await?,
            enqueued: Vec::new(),
        })
    }
}

impl TaskTx {
    /// The transaction, for the app's storage module.
    pub fn db(&mut self) -> &mut DbTx {
        &mut self.tx
    }

    /// Enqueues one task in the transaction (see [`Engine::enqueue`]).
    pub async fn enqueue(&mut self, request: Enqueue) -> Result<(TaskRecord, bool), EngineError> {
        let mut out = self.enqueue_many(vec![request]).await?;
        Ok(out.remove(0))
    }

    /// Enqueues several tasks in the transaction.
    pub async fn enqueue_many(
        &mut self,
        requests: Vec<Enqueue>,
    ) -> Result<Vec<(TaskRecord, bool)>, EngineError> {
        let tasks = self.engine.prepare_all(requests)?;
        let inserted = self
            .engine
            .inner
            .store
            .insert_tasks_in(&mut self.tx, &tasks)
            .await?;
        self.enqueued.extend(inserted.iter().cloned());
        Ok(inserted)
    }

    /// Commits, then wakes the workers of the tasks enqueued in it.
    pub async fn commit(self) -> Result<(), EngineError> {
        self.tx.commit().await?;
        self.engine.inner.announce(&self.enqueued).await;
        Ok(())
    }

    /// Rolls back: nothing of it happened.
    pub async fn rollback(self) -> Result<(), EngineError> {
        Ok(self.tx.rollback().await?)
    }
}
