//! Periodic tasks. Each schedule's last enqueued tick is stored; advancing it and inserting the
//! tick's task are one transaction, so a tick is enqueued once whatever the number of processes,
//! and a tick missed while no process ran (or one that crashed mid-tick) is enqueued at the next
//! start. Only the latest missed tick is caught up; older ones are skipped.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use croner::Cron;

use super::{Engine, EngineError, Enqueue, Inner};
use crate::tasks::handler::Registry;
use crate::tasks::operations::TickOutcome;

/// A periodic task: `request` enqueued at every tick of `cron`.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// Unique name; the stored last tick is keyed by it.
    pub name: String,
    /// Five-field cron expression, evaluated in UTC (e.g. `0 3 * * SUN`).
    pub cron: String,
    /// What to enqueue at each tick.
    pub request: Enqueue,
}

pub(super) struct Schedule {
    pub(super) name: String,
    expr: String,
    cron: Cron,
    request: Enqueue,
}

impl ScheduleSpec {
    pub(super) fn validate(self, registry: &Registry) -> Result<Schedule, EngineError> {
        let bad = |what: String| EngineError::Config(format!("schedule `{}`: {what}", self.name));
        if self.name.is_empty() {
            return Err(EngineError::Config("a schedule needs a name".into()));
        }
        let cron = Cron::from_str(&self.cron)
            .map_err(|e| bad(format!("invalid cron expression `{}`: {e}", self.cron)))?;
        let handler = registry
            .get(self.request.kind.as_str())
            .ok_or_else(|| bad(format!("unknown task kind `{}`", self.request.kind)))?;
        handler
            .check_args(&self.request.args)
            .map_err(|e| bad(format!("invalid arguments: {e}")))?;
        Ok(Schedule {
            name: self.name,
            expr: self.cron,
            cron,
            request: self.request,
        })
    }
}

impl Schedule {
    /// The latest tick at or before `now`.
    fn latest_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    /// The first tick after `now`.
    fn next_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}

impl Engine {
    /// Enqueues every schedule's latest due tick not yet enqueued by any process (the schedule
    /// loop calls it at start and at each tick; a test hook).
    pub async fn run_schedules(&self) -> Result<Vec<(String, TickOutcome)>, EngineError> {
        self.inner.run_schedules().await
    }

    /// Schedule loops waiting for their next tick (timer armed): a test hook, like
    /// [`Engine::idle_queues`].
    pub fn idle_schedulers(&self) -> usize {
        self.inner.idle_schedulers.load(Ordering::SeqCst)
    }
}

impl Inner {
    async fn run_schedules(&self) -> Result<Vec<(String, TickOutcome)>, EngineError> {
        let mut done = Vec::new();
        for s in &self.schedules {
            let now = self.clock.now();
            // A new schedule counts from its registration: no tick before it is owed.
            let last = self.store.init_schedule(&s.name, &s.expr, now).await?;
            let Some(tick) = s.latest_tick(now) else {
                continue;
            };
            if tick <= last {
                continue;
            }
            let mut request = s.request.clone();
            request.unique_key = Some(format!("schedule:{}:{}", s.name, tick.timestamp()));
            request.created_by = Some(format!("schedule:{}", s.name));
            request.run_at = None;
            let task = self.prepare(request, now)?;
            let outcome = self
                .store
                .enqueue_tick(&s.name, &s.expr, tick, &task)
                .await?;
            if let TickOutcome::Enqueued(id) = outcome {
                tracing::info!(schedule = %s.name, %tick, task_id = %id, "enqueued a scheduled task");
                if let Some(record) = self.store.get_task(id).await? {
                    self.announce(&[(record, true)]).await;
                }
            }
            done.push((s.name.clone(), outcome));
        }
        Ok(done)
    }

    pub(super) async fn schedule_loop(self: Arc<Self>) {
        loop {
            let failed = match self.run_schedules().await {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "running the schedules failed; retrying at the poll interval");
                    true
                }
            };
            let now = self.clock.now();
            let retry = now
                + chrono::Duration::from_std(self.config.poll_interval)
                    .unwrap_or(chrono::Duration::MAX);
            let next = self
                .schedules
                .iter()
                .filter_map(|s| s.next_tick(now))
                .min()
                .map_or(retry, |n| if failed { n.min(retry) } else { n });
            let timer = self.clock.sleep_until(next);
            self.idle_schedulers.fetch_add(1, Ordering::SeqCst);
            let go_on = tokio::select! {
                () = timer => true,
                () = self.stop.cancelled() => false,
            };
            self.idle_schedulers.fetch_sub(1, Ordering::SeqCst);
            if !go_on {
                return;
            }
        }
    }
}
