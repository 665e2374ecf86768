//! The background loops of one engine: a claim loop per queue, heartbeats (which also carry
//! cancel requests) and the rescuer.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use uuid::Uuid;

use super::{CancelSignal, EngineError, Inner, Running, lock};
use crate::tasks::model::{Rescued, TaskRecord};

impl Inner {
    pub(super) async fn claim_loop(self: Arc<Self>, queue: String) {
        /// Counts the loop out (and wakes a waiting drain) however it exits.
        struct Exit<'a>(&'a Inner);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0
                    .claim_loops
                    .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                self.0.finished.notify_waiters();
            }
        }
        let _exit = Exit(&self);
        let slots = self.slots[&queue].clone();
        let wake = self.wake[&queue].clone();
        loop {
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
                () = self.stop.cancelled() => return,
            };
            if self.stop.is_cancelled() {
                return;
            }
            // Take every free slot (up to a batch) before claiming, so each claimed task has one.
            // Slots free up together when a batch ends: let the others come back first, so one
            // claim takes them all rather than one claim per slot.
            tokio::task::yield_now().await;
            let mut permits = vec![first];
            while permits.len() < self.config.claim_batch as usize {
                match slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let asked = permits.len() as u32;
            let now = self.clock.now();
            let result = if self.limits.is_empty() {
                self.store
                    .claim_tasks(&queue, &self.worker, asked, now)
                    .await
                    .map(|tasks| (tasks, None))
            } else {
                self.store
                    .claim_limited(&queue, &self.worker, asked, now, &self.limits)
                    .await
                    .map(|c| (c.tasks, c.next_token_at))
            };
            let (claimed, next_token_at) = match result {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(queue = %queue, error = %e, "claim failed; retrying after the poll interval");
                    drop(permits);
                    self.idle(&wake, None).await;
                    continue;
                }
            };
            let got = claimed.len() as u32;
            tracing::debug!(queue = %queue, asked, got, "claimed");
            for (task, permit) in claimed.into_iter().zip(permits.drain(..)) {
                self.spawn_execution(task, permit);
            }
            drop(permits);
            if got < asked && !self.idle(&wake, next_token_at).await {
                return;
            }
        }
    }

    /// Waits for a wake-up, the poll interval or `until` (when a rate-limited kind gets its
    /// next token), whichever comes first; false when the engine stops.
    async fn idle(&self, wake: &Notify, until: Option<DateTime<Utc>>) -> bool {
        use std::sync::atomic::Ordering;
        // The poll timer is armed before the loop counts as idle (see `Engine::idle_queues`).
        let mut deadline = self.clock.now()
            + chrono::Duration::from_std(self.config.poll_interval)
                .unwrap_or(chrono::Duration::MAX);
        if let Some(until) = until {
            deadline = deadline.min(until);
        }
        let poll = self.clock.sleep_until(deadline);
        self.idle_loops.fetch_add(1, Ordering::SeqCst);
        self.idle_entries.fetch_add(1, Ordering::SeqCst);
        let woken = tokio::select! {
            () = wake.notified() => true,
            () = poll => true,
            () = self.stop.cancelled() => false,
        };
        self.idle_loops.fetch_sub(1, Ordering::SeqCst);
        woken
    }

    fn spawn_execution(self: &Arc<Self>, task: TaskRecord, permit: OwnedSemaphorePermit) {
        let cancel = CancelSignal::default();
        let running = Running {
            attempt: task.attempt,
            kind: task.kind.clone(),
            queue: task.queue.clone(),
            cancel: cancel.clone(),
            abort: None,
        };
        lock(&self.running).insert(task.id, running);
        let id = task.id;
        let handle = tokio::spawn(self.clone().execute(task, cancel, permit));
        if let Some(r) = lock(&self.running).get_mut(&id) {
            r.abort = Some(handle.abort_handle());
        }
    }

    pub(super) async fn heartbeat_loop(self: Arc<Self>) {
        loop {
            if let Err(e) = self.heartbeat_once().await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
            tokio::select! {
                () = self.clock.sleep(self.config.heartbeat_interval) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    pub(super) async fn heartbeat_once(&self) -> Result<(), EngineError> {
        // Only tasks running before the query are judged by its answer: one claimed meanwhile
        // is running here but may be missing from the answer without having been rescued.
        let before: Vec<Uuid> = lock(&self.running).keys().copied().collect();
        self.store
            .upsert_worker(&self.worker_info(before.len()))
            .await?;
        if before.is_empty() {
            return Ok(());
        }
        let rows: HashMap<Uuid, bool> = self
            .store
            .heartbeat_tasks(&self.worker, self.clock.now())
            .await?
            .into_iter()
            .collect();
        let now = self.clock.now();
        let running = lock(&self.running);
        for id in before {
            let Some(task) = running.get(&id) else {
                continue;
            };
            match rows.get(&id) {
                Some(true) => task.cancel.request(now),
                Some(false) => {}
                // Neither running nor ours any more while still executing here: rescued by
                // another process (this attempt's outcome will be ignored), or just recorded.
                None => task.cancel.request(now),
            }
        }
        Ok(())
    }

    pub(super) async fn rescue_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.clock.sleep(self.config.rescue_interval) => {}
                () = self.stop.cancelled() => return,
            }
            if let Err(e) = self.rescue_once().await {
                tracing::warn!(error = %e, "rescue failed");
            }
            self.record_queue_depths().await;
        }
    }

    pub(super) async fn rescue_once(&self) -> Result<Vec<Rescued>, EngineError> {
        let now = self.clock.now();
        let stale_before = now
            - chrono::Duration::from_std(self.config.rescue_after).unwrap_or(chrono::Duration::MAX);
        let rescued = self.store.rescue_tasks(stale_before, now).await?;
        for r in &rescued {
            tracing::warn!(task_id = %r.id, state = %r.state, "rescued a task whose worker stopped heartbeating");
            if let Some(record) = self.store.get_task(r.id).await? {
                self.publish(&record, None);
                self.wake_everywhere(&record.queue);
            }
        }
        Ok(rescued)
    }
}
