//! Operating the engine: this process's worker registration, queue pause and resume, workers and
//! statistics.

use super::{Engine, EngineError, Inner};
use crate::tasks::operations::{QueueState, WorkerInfo, WorkerQueue};
use crate::tasks::stats::{Inputs, QueueStats, TaskStats, queue_stats};

/// Most durations read for the percentiles.
const DURATION_SAMPLES: u32 = 100_000;

impl Inner {
    pub(super) fn worker_info(&self, running: usize) -> WorkerInfo {
        WorkerInfo {
            id: self.worker.clone(),
            host: super::hostname(),
            pid: i64::from(std::process::id()),
            version: crate::VERSION.to_string(),
            queues: self
                .config
                .queues
                .iter()
                .map(|(queue, n)| WorkerQueue {
                    queue: queue.clone(),
                    concurrency: u32::try_from(*n).unwrap_or(u32::MAX),
                })
                .collect(),
            started_at: self.started_at,
            heartbeat_at: self.clock.now(),
            running: running as i64,
        }
    }

    /// Sets the `relais_tasks_queue_depth` gauges (every rescue interval).
    pub(super) async fn record_queue_depths(&self) {
        match self.store.queue_depths(self.clock.now()).await {
            Ok(mut depths) => {
                // A queue this process serves with nothing left reports zeros, not its last value.
                for (queue, _) in &self.config.queues {
                    if !depths.iter().any(|d| &d.queue == queue) {
                        depths.push(crate::tasks::QueueDepth {
                            queue: queue.clone(),
                            due: 0,
                            scheduled: 0,
                            running: 0,
                            oldest_due_at: None,
                        });
                    }
                }
                for d in depths {
                    for (state, n) in [
                        ("due", d.due),
                        ("scheduled", d.scheduled),
                        ("running", d.running),
                    ] {
                        metrics::gauge!("relais_tasks_queue_depth", "queue" => d.queue.clone(), "state" => state)
                            .set(n as f64);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the queue depths"),
        }
    }

    /// Removes this process from the worker registry (at the end of a drain).
    pub(super) async fn unregister(&self) {
        if let Err(e) = self.store.remove_worker(&self.worker).await {
            tracing::warn!(error = %e, "could not unregister the worker; retention will");
        }
    }
}

impl Engine {
    /// Pauses a queue on every process: running tasks go on, nothing new is claimed.
    pub async fn pause(&self, queue: &str, by: Option<&str>) -> Result<QueueState, EngineError> {
        let state = self
            .inner
            .store
            .set_queue_paused(queue, true, by, self.inner.clock.now())
            .await?;
        tracing::info!(queue, by, "queue paused");
        Ok(state)
    }

    /// Resumes a paused queue (this process claims at once; others at their next poll).
    pub async fn resume(&self, queue: &str, by: Option<&str>) -> Result<QueueState, EngineError> {
        let state = self
            .inner
            .store
            .set_queue_paused(queue, false, by, self.inner.clock.now())
            .await?;
        tracing::info!(queue, by, "queue resumed");
        self.inner.wake(queue);
        self.inner
            .signal_now(vec![crate::tasks::signal::Signal::Wake {
                queue: queue.to_string(),
            }])
            .await;
        Ok(state)
    }

    /// The storage backend holding the tasks (`sqlite` or `postgres`).
    pub fn backend(&self) -> &'static str {
        self.inner.store.backend().as_str()
    }

    /// Worker processes registered in the database (this one included once it has beaten).
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, EngineError> {
        Ok(self.inner.store.list_workers().await?)
    }

    /// Counts, throughput, durations, failure rate and queue lag.
    pub async fn stats(&self) -> Result<TaskStats, EngineError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let queues = self.served_queues();
        Ok(TaskStats::assemble(Inputs {
            now,
            counts: store.task_counts().await?,
            finished: store.finished_counts(now).await?,
            durations: store
                .recent_durations(now - chrono::Duration::minutes(15), DURATION_SAMPLES)
                .await?,
            depths: store.queue_depths(now).await?,
            states: store.queue_states().await?,
            queues: &queues,
        }))
    }

    /// Depth, pause and lag of every queue (the queue part of [`Engine::stats`], alone).
    pub async fn queues(&self) -> Result<Vec<QueueStats>, EngineError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        Ok(queue_stats(
            now,
            store.queue_depths(now).await?,
            store.queue_states().await?,
            &self.served_queues(),
        ))
    }

    fn served_queues(&self) -> Vec<String> {
        self.inner
            .config
            .queues
            .iter()
            .map(|(q, _)| q.clone())
            .collect()
    }

    /// How long a worker may stay silent before it counts as gone (the rescue delay).
    pub fn worker_timeout(&self) -> std::time::Duration {
        self.inner.config.rescue_after
    }
}
