//! Running one claimed task: supervision (time limits, cancel grace, panics), the outcome, and
//! recording it.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio_util::sync::CancellationToken;

use super::{CancelSignal, Completion, Inner, TaskEvent, lock, maybe, random_unit};
use crate::clock::Sleep;
use crate::tasks::handler::{ErasedTask, ProgressSink, TaskContext, TaskError};
use crate::tasks::model::{Outcome, TaskRecord, TaskState};

impl Inner {
    pub(super) async fn execute(
        self: Arc<Self>,
        task: TaskRecord,
        cancel: CancelSignal,
        permit: OwnedSemaphorePermit,
    ) {
        metrics::counter!("relais_tasks_started_total", "kind" => task.kind.clone()).increment(1);
        let lag = (task.started_at.unwrap_or(task.scheduled_at) - task.scheduled_at)
            .num_microseconds()
            .unwrap_or(0);
        metrics::histogram!("relais_tasks_lag_seconds", "queue" => task.queue.clone())
            .record(lag.max(0) as f64 / 1e6);
        self.publish(&task, None);
        let started = self.clock.now();
        let outcome = match self.registry.get(task.kind.as_str()) {
            Some(handler) => self.supervise(handler.clone(), &task, cancel).await,
            None => Outcome::Failed {
                error: format!("no handler for task kind `{}` in this relais", task.kind),
                timed_out: false,
                retry_at: Some(self.retry_time(&task)),
            },
        };
        // The handler is done: its slot may take the next task while the outcome is recorded
        // (batched with others), so claims and completions overlap. Outcomes waiting to be
        // recorded are bounded by the queue's concurrency too (backpressure on a slow database).
        let recording = match self.recording.get(&task.queue) {
            Some(r) => r.clone().acquire_owned().await.ok(),
            None => None,
        };
        drop(permit);
        let finished = self.finish(&task, &outcome).await;
        drop(recording);
        let seconds = (self.clock.now() - started)
            .num_microseconds()
            .unwrap_or(0)
            .max(0) as f64
            / 1e6;
        metrics::histogram!("relais_tasks_duration_seconds", "kind" => task.kind.clone())
            .record(seconds);
        lock(&self.last_progress_write).remove(&task.id);
        lock(&self.running).remove(&task.id);
        self.finished.notify_waiters();
        // A slot of a concurrency-limited kind is free: tasks held back may start now.
        if self
            .limits
            .iter()
            .any(|l| l.concurrency.is_some() && l.kind == task.kind)
        {
            self.wake_everywhere(&task.queue);
        }
        match finished {
            Some(state) => {
                metrics::counter!("relais_tasks_finished_total", "kind" => task.kind.clone(), "state" => state.as_str())
                    .increment(1);
                self.emit(
                    TaskEvent {
                        id: task.id,
                        kind: task.kind,
                        queue: task.queue,
                        state,
                        attempt: task.attempt,
                        progress: None,
                        at: self.clock.now(),
                    },
                    true,
                );
            }
            None => {
                tracing::info!(task_id = %task.id, "outcome ignored: the attempt was rescued meanwhile")
            }
        }
    }

    fn retry_time(&self, task: &TaskRecord) -> DateTime<Utc> {
        let delay = task
            .options
            .backoff
            .delay(task.attempt.max(1) as u32, random_unit());
        self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }

    async fn supervise(
        self: &Arc<Self>,
        handler: Arc<dyn ErasedTask>,
        task: &TaskRecord,
        signal: CancelSignal,
    ) -> Outcome {
        let cancel = signal.token.clone();
        let soft = CancellationToken::new();
        let sink: Arc<dyn ProgressSink> = self.clone();
        let ctx = TaskContext {
            id: task.id,
            attempt: task.attempt,
            max_attempts: task.max_attempts,
            started_at: task.started_at.unwrap_or_else(|| self.clock.now()),
            cancel: cancel.clone(),
            soft: soft.clone(),
            clock: self.clock.clone(),
            sink,
            last_progress: Arc::new(Mutex::new(None)),
            engine: super::Engine {
                inner: self.clone(),
            },
        };
        let run = AssertUnwindSafe(handler.run(ctx, task.args.clone())).catch_unwind();
        tokio::pin!(run);
        // Limits count from the attempt's start as stored at claim time, whenever the timers are armed.
        let started = task.started_at.unwrap_or_else(|| self.clock.now());
        let after = |base: DateTime<Utc>, ms: u64| {
            base + chrono::Duration::milliseconds(ms.min(i64::MAX as u64) as i64)
        };
        let mut soft_timer = task
            .options
            .soft_limit_ms
            .map(|m| self.clock.sleep_until(after(started, m)));
        let mut hard_timer = task
            .options
            .hard_limit_ms
            .map(|m| self.clock.sleep_until(after(started, m)));
        let mut grace: Option<Sleep> = None;
        loop {
            tokio::select! {
                result = &mut run => return self.outcome(task, result, cancel.is_cancelled()),
                () = maybe(&mut soft_timer) => {
                    soft_timer = None;
                    soft.cancel();
                }
                () = maybe(&mut hard_timer) => {
                    return Outcome::Failed {
                        error: format!("hard time limit of {} ms exceeded", task.options.hard_limit_ms.unwrap_or(0)),
                        timed_out: true,
                        retry_at: Some(self.retry_time(task)),
                    };
                }
                () = cancel.cancelled(), if grace.is_none() => {
                    let asked = signal.requested_at().unwrap_or_else(|| self.clock.now());
                    grace = Some(self.clock.sleep_until(after(asked, task.options.cancel_grace_ms)));
                }
                () = maybe(&mut grace) => return Outcome::Cancelled,
            }
        }
    }

    fn outcome(
        &self,
        task: &TaskRecord,
        result: Result<Result<Value, TaskError>, Box<dyn std::any::Any + Send>>,
        cancel_requested: bool,
    ) -> Outcome {
        match result {
            Ok(Ok(value)) => Outcome::Succeeded(value),
            Ok(Err(TaskError::Cancelled)) => Outcome::Cancelled,
            Ok(Err(_)) if cancel_requested => Outcome::Cancelled,
            Ok(Err(TaskError::Retry(error))) => Outcome::Failed {
                error,
                timed_out: false,
                retry_at: Some(self.retry_time(task)),
            },
            Ok(Err(TaskError::Permanent(error))) => Outcome::Failed {
                error,
                timed_out: false,
                retry_at: None,
            },
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                Outcome::Failed {
                    error: format!("handler panicked: {message}"),
                    timed_out: false,
                    retry_at: Some(self.retry_time(task)),
                }
            }
        }
    }

    /// Records the outcome through the completer, which batches concurrent outcomes into one
    /// transaction; directly when no completer runs.
    async fn finish(&self, task: &TaskRecord, outcome: &Outcome) -> Option<TaskState> {
        let (reply, answer) = oneshot::channel();
        let completion = Completion {
            id: task.id,
            attempt: task.attempt,
            outcome: outcome.clone(),
            reply,
        };
        if self.completions.send(completion).is_ok()
            && let Ok(record) = answer.await
        {
            return record;
        }
        self.finish_directly(task, outcome).await
    }

    /// Records the outcome; storage errors are retried while this process lives (its heartbeat
    /// keeps the task while it holds an unrecorded outcome).
    async fn finish_directly(&self, task: &TaskRecord, outcome: &Outcome) -> Option<TaskState> {
        let mut delay = Duration::from_millis(50);
        loop {
            match self
                .store
                .finish_tasks(
                    &self.worker,
                    &[(task.id, task.attempt, outcome.clone())],
                    self.clock.now(),
                )
                .await
            {
                Ok(mut states) => return states.pop().flatten(),
                Err(e) => {
                    tracing::warn!(task_id = %task.id, error = %e, "recording the outcome failed; retrying");
                    self.clock.sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
