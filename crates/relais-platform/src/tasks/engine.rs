//! The engine: enqueues tasks and runs them.
//!
//! Concurrency model, per process: one claim loop per queue, holding a semaphore of the queue's
//! concurrency; every claimed task runs in its own tokio task under [`Inner::supervise`]; one
//! heartbeat loop (which also carries cancel requests from other processes) and one rescue loop.
//! All timers come from the engine's [`Clock`], so tests drive every loop deterministically.
//! Across processes, correctness rests on the store: atomic claims, and attempt writes fenced by
//! `(id, attempt, worker)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::completer::{Completer, Completion};
pub use super::engine_config::{EngineConfig, RetentionPolicy};
pub use super::enqueue::Enqueue;
pub use super::event::TaskEvent;
use super::handler::{Erased, ProgressSink, Registry, Task};
use super::model::{
    AttemptError, CancelOutcome, NewTask, Progress, Rescued, TaskRecord, TaskState,
};
use super::operations::KindLimit;
use crate::clock::{Clock, Sleep};
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine was configured wrongly.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// No task kind of that name is registered.
    #[error("unknown task kind `{0}`")]
    UnknownKind(String),
    /// The arguments do not match the kind.
    #[error("invalid arguments for `{kind}`: {message}")]
    InvalidArgs {
        /// The kind.
        kind: String,
        /// What is wrong.
        message: String,
    },
    /// An option is out of range.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds an [`Engine`] with its task kinds.
pub struct EngineBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    registry: Registry,
    schedules: Vec<ScheduleSpec>,
}

impl EngineBuilder {
    /// Registers a task kind.
    pub fn register<T: Task>(mut self, task: T) -> Self {
        self.registry.insert(T::KIND, Arc::new(Erased(task)));
        self
    }

    /// Enqueues `request` at every tick of `cron` (five fields, UTC, e.g. `0 3 * * SUN`), once
    /// per tick across every process sharing the database. Checked by [`EngineBuilder::build`].
    pub fn schedule(
        mut self,
        name: impl Into<String>,
        cron: impl Into<String>,
        request: Enqueue,
    ) -> Self {
        self.schedules.push(ScheduleSpec {
            name: name.into(),
            cron: cron.into(),
            request,
        });
        self
    }

    /// Validates the configuration and builds the engine (not yet running).
    pub fn build(mut self) -> Result<Engine, EngineError> {
        let started_at = self.clock.now();
        if let Some(policy) = self.config.retention.clone() {
            self.registry.insert(
                super::retention::Retention::KIND,
                Arc::new(Erased(super::retention::Retention {
                    store: self.store.clone(),
                    clock: self.clock.clone(),
                    policy: policy.clone(),
                })),
            );
            self.schedules.push(ScheduleSpec {
                name: "relais.retention".into(),
                cron: policy.schedule.clone(),
                request: Enqueue::new(super::retention::Retention::KIND, serde_json::json!({})),
            });
        }
        let c = &self.config;
        if c.queues.is_empty() || c.queues.iter().any(|(name, n)| name.is_empty() || *n == 0) {
            return Err(EngineError::Config(
                "every queue needs a name and a concurrency of at least 1".into(),
            ));
        }
        if c.claim_batch == 0 || c.heartbeat_interval.is_zero() || c.poll_interval.is_zero() {
            return Err(EngineError::Config(
                "claim_batch, heartbeat_interval and poll_interval must be positive".into(),
            ));
        }
        if c.rescue_after <= c.heartbeat_interval * 2 {
            return Err(EngineError::Config(
                "rescue_after must exceed two heartbeat intervals".into(),
            ));
        }
        let worker = format!("{}-{}", hostname(), Uuid::now_v7().simple());
        let wake = c
            .queues
            .iter()
            .map(|(q, _)| (q.clone(), Arc::new(Notify::new())))
            .collect();
        let slots = c
            .queues
            .iter()
            .map(|(q, n)| (q.clone(), Arc::new(Semaphore::new(*n))))
            .collect();
        let recording = c
            .queues
            .iter()
            .map(|(q, n)| (q.clone(), Arc::new(Semaphore::new(*n))))
            .collect();
        let limits: Vec<KindLimit> = self
            .registry
            .iter()
            .filter_map(|(kind, handler)| {
                let o = handler.options();
                (o.rate.is_some() || o.concurrency.is_some()).then(|| KindLimit {
                    kind: (*kind).to_string(),
                    rate: o.rate,
                    concurrency: o.concurrency,
                })
            })
            .collect();
        if let Some(l) = limits.iter().find(|l| l.concurrency == Some(0)) {
            return Err(EngineError::Config(format!(
                "kind `{}`: a concurrency limit must be at least 1",
                l.kind
            )));
        }
        let schedules = self
            .schedules
            .into_iter()
            .map(|s| s.validate(&self.registry))
            .collect::<Result<Vec<_>, _>>()?;
        let (events, _) = broadcast::channel(4096);
        let (outbox, outbox_receiver) = if self.store.signals() {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (completions, receiver) = mpsc::unbounded_channel();
        let completer = Completer {
            receiver,
            store: self.store.clone(),
            clock: self.clock.clone(),
            worker: worker.clone(),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                store: self.store,
                clock: self.clock,
                config: self.config,
                registry: self.registry,
                worker,
                wake,
                slots,
                recording,
                running: Mutex::new(HashMap::new()),
                finished: Notify::new(),
                idle_loops: std::sync::atomic::AtomicUsize::new(0),
                idle_entries: std::sync::atomic::AtomicU64::new(0),
                claim_loops: std::sync::atomic::AtomicUsize::new(0),
                completions,
                completer: Mutex::new(Some(completer)),
                events,
                stop: CancellationToken::new(),
                last_progress_write: Mutex::new(HashMap::new()),
                limits,
                schedules,
                started_at,
                idle_schedulers: std::sync::atomic::AtomicUsize::new(0),
                outbox,
                outbox_receiver: Mutex::new(outbox_receiver),
                listening: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "relais".into())
}

/// The task engine of this process; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Running {
    attempt: i32,
    kind: String,
    queue: String,
    cancel: CancelSignal,
    abort: Option<AbortHandle>,
}

/// A cancel request with the time it was made: the grace period counts from then.
#[derive(Clone, Default)]
struct CancelSignal {
    token: CancellationToken,
    at: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl CancelSignal {
    fn request(&self, now: DateTime<Utc>) {
        lock(&self.at).get_or_insert(now);
        self.token.cancel();
    }

    fn requested_at(&self) -> Option<DateTime<Utc>> {
        *lock(&self.at)
    }
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    registry: Registry,
    worker: String,
    wake: HashMap<String, Arc<Notify>>,
    slots: HashMap<String, Arc<Semaphore>>,
    /// Per queue, outcomes waiting to be recorded (as many as the queue's concurrency).
    recording: HashMap<String, Arc<Semaphore>>,
    running: Mutex<HashMap<Uuid, Running>>,
    finished: Notify,
    idle_loops: std::sync::atomic::AtomicUsize,
    idle_entries: std::sync::atomic::AtomicU64,
    claim_loops: std::sync::atomic::AtomicUsize,
    completions: mpsc::UnboundedSender<Completion>,
    completer: Mutex<Option<Completer>>,
    events: broadcast::Sender<TaskEvent>,
    stop: CancellationToken,
    last_progress_write: Mutex<HashMap<Uuid, DateTime<Utc>>>,
    /// Kinds with a rate or concurrency limit (claims then go through the limited path).
    limits: Vec<KindLimit>,
    schedules: Vec<schedule::Schedule>,
    started_at: DateTime<Utc>,
    idle_schedulers: std::sync::atomic::AtomicUsize,
    /// Signals for the other processes, sent in batches (PostgreSQL only).
    outbox: Option<mpsc::UnboundedSender<super::signal::Signal>>,
    outbox_receiver: Mutex<Option<mpsc::UnboundedReceiver<super::signal::Signal>>>,
    listening: std::sync::atomic::AtomicBool,
}

mod execution;
mod loops;
mod operations;
mod schedule;
mod signals;
mod transaction;

pub use schedule::ScheduleSpec;
pub use transaction::TaskTx;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn maybe(timer: &mut Option<Sleep>) {
    match timer {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

fn random_unit() -> f64 {
    (Uuid::new_v4().as_u64_pair().0 >> 11) as f64 / (1u64 << 53) as f64
}

impl Engine {
    /// Starts building an engine on `store`, timed by `clock`.
    pub fn builder(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> EngineBuilder {
        EngineBuilder {
            store,
            clock,
            config,
            registry: HashMap::new(),
            schedules: Vec::new(),
        }
    }

    /// This process's worker id, as stored on the tasks it runs.
    pub fn worker_id(&self) -> &str {
        &self.inner.worker
    }

    /// The registered kind names.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.inner.registry.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// Subscribes to state changes and progress of every task this process sees.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.events.subscribe()
    }

    /// Enqueues one task. With a unique key held by a queued or running task, that task is
    /// returned with `false`.
    pub async fn enqueue(&self, request: Enqueue) -> Result<(TaskRecord, bool), EngineError> {
        let mut out = self.enqueue_many(vec![request]).await?;
        Ok(out.remove(0))
    }

    /// Enqueues several tasks in one transaction: all or none.
    pub async fn enqueue_many(
        &self,
        requests: Vec<Enqueue>,
    ) -> Result<Vec<(TaskRecord, bool)>, EngineError> {
        let tasks = self.prepare_all(requests)?;
        let inserted = self.inner.store.insert_tasks(&tasks).await?;
        self.inner.announce(&inserted).await;
        Ok(inserted)
    }

    /// Prepares requests against the registry (kinds, arguments, options) at the clock's time.
    fn prepare_all(&self, requests: Vec<Enqueue>) -> Result<Vec<NewTask>, EngineError> {
        let now = self.inner.clock.now();
        requests
            .into_iter()
            .map(|r| self.inner.prepare(r, now))
            .collect()
    }

    /// Cancels a task: at once if queued; a running one is signalled (here at once, on another
    /// process at its next heartbeat) and aborted after its cancel grace period.
    pub async fn cancel(&self, id: Uuid) -> Result<CancelOutcome, EngineError> {
        let outcome = self
            .inner
            .store
            .cancel_task(id, self.inner.clock.now())
            .await?;
        match &outcome {
            CancelOutcome::Cancelled(record) => self.inner.publish(record, None),
            CancelOutcome::Signalled(_) => {
                let here = match lock(&self.inner.running).get(&id) {
                    Some(running) => {
                        running.cancel.request(self.inner.clock.now());
                        true
                    }
                    None => false,
                };
                if !here {
                    self.inner
                        .signal_now(vec![super::signal::Signal::Cancel { id }])
                        .await;
                }
            }
            CancelOutcome::AlreadyFinal(_) | CancelOutcome::NotFound => {}
        }
        Ok(outcome)
    }

    /// Puts a failed, discarded or cancelled task back in its queue.
    pub async fn retry(&self, id: Uuid) -> Result<Option<TaskRecord>, EngineError> {
        let record = self
            .inner
            .store
            .retry_task(id, self.inner.clock.now())
            .await?;
        if let Some(r) = &record {
            self.inner.publish(r, None);
            self.inner.wake_everywhere(&r.queue);
        }
        Ok(record)
    }

    /// One task.
    pub async fn get(&self, id: Uuid) -> Result<Option<TaskRecord>, EngineError> {
        Ok(self.inner.store.get_task(id).await?)
    }

    /// Tasks matching `filter`, newest first.
    pub async fn list(
        &self,
        filter: &super::model::TaskFilter,
    ) -> Result<Vec<TaskRecord>, EngineError> {
        Ok(self.inner.store.list_tasks(filter).await?)
    }

    /// The errors of every failed attempt of a task.
    pub async fn errors(&self, id: Uuid) -> Result<Vec<AttemptError>, EngineError> {
        Ok(self.inner.store.task_errors(id).await?)
    }

    /// Starts the claim loops, the heartbeat loop and the rescuer, and registers the drain with
    /// `shutdown` (stop claiming; let running tasks finish within the grace period; return the
    /// rest to the queue).
    pub fn start(&self, shutdown: &Shutdown) {
        if let Some(completer) = lock(&self.inner.completer).take() {
            tokio::spawn(completer.run());
        }
        for (queue, _) in &self.inner.config.queues {
            // Counted before spawning, so a drain right after `start` waits for the loop.
            self.inner
                .claim_loops
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(self.inner.clone().claim_loop(queue.clone()));
        }
        if let Some(outbox) = lock(&self.inner.outbox_receiver).take() {
            tokio::spawn(signals::send_loop(
                self.inner.store.clone(),
                self.inner.worker.clone(),
                outbox,
            ));
        }
        if self.inner.store.signals() {
            tokio::spawn(self.inner.clone().listen_loop());
        }
        tokio::spawn(self.inner.clone().heartbeat_loop());
        tokio::spawn(self.inner.clone().rescue_loop());
        if !self.inner.schedules.is_empty() {
            tokio::spawn(self.inner.clone().schedule_loop());
        }
        let engine = self.clone();
        shutdown.on_drain("tasks", move |deadline| async move {
            engine.drain(deadline).await
        });
    }

    /// Stops claiming, waits for running tasks until `deadline`, then aborts the rest and gives
    /// them back to the queue (their attempt does not count).
    pub async fn drain(&self, deadline: tokio::time::Instant) {
        let inner = &self.inner;
        inner.stop.cancel();
        // A claim in flight when the drain began may still start tasks: wait for every claim
        // loop to exit first, so nothing is claimed after the tasks below are released.
        let loops_done = async {
            loop {
                let notified = inner.finished.notified();
                if inner.claim_loops.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        // A claim is one short query: wait for it even past the deadline (bounded).
        let loops_deadline = deadline.max(tokio::time::Instant::now() + Duration::from_secs(10));
        if tokio::time::timeout_at(loops_deadline, loops_done)
            .await
            .is_err()
        {
            tracing::warn!("claim loops did not stop within 10 s");
        }
        let all_done = async {
            loop {
                let notified = inner.finished.notified();
                if lock(&inner.running).is_empty() {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout_at(deadline, all_done).await.is_ok() {
            inner.unregister().await;
            return;
        }
        let left: Vec<(Uuid, i32)> = {
            let mut running = lock(&inner.running);
            running
                .drain()
                .map(|(id, r)| {
                    if let Some(abort) = r.abort {
                        abort.abort();
                    }
                    (id, r.attempt)
                })
                .collect()
        };
        for (id, attempt) in left {
            match inner
                .store
                .release_task(id, attempt, &inner.worker, inner.clock.now())
                .await
            {
                Ok(_) => tracing::info!(task_id = %id, "returned to the queue at shutdown"),
                Err(e) => {
                    tracing::warn!(task_id = %id, error = %e, "could not return the task; the rescuer will")
                }
            }
        }
        inner.unregister().await;
    }

    /// One heartbeat round (the heartbeat loop calls it every `heartbeat_interval`).
    pub async fn heartbeat_once(&self) -> Result<(), EngineError> {
        self.inner.heartbeat_once().await
    }

    /// One rescue round (the rescue loop calls it every `rescue_interval`).
    pub async fn rescue_once(&self) -> Result<Vec<Rescued>, EngineError> {
        self.inner.rescue_once().await
    }

    /// Claim loops waiting for work (a wake-up or their poll timer, already armed). A test hook:
    /// when it equals the number of queues, advancing a manual clock reaches every poll timer.
    pub fn idle_queues(&self) -> usize {
        self.inner
            .idle_loops
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many times claim loops have started waiting (a test hook: after advancing a manual
    /// clock, a count above the one read before means every woken loop has claimed and is
    /// waiting again, whereas [`Engine::idle_queues`] alone cannot tell a loop that has not yet
    /// run since its timer fired).
    pub fn idle_entries(&self) -> u64 {
        self.inner
            .idle_entries
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Tasks this process is running now.
    pub fn running(&self) -> usize {
        lock(&self.inner.running).len()
    }
}

impl Inner {
    fn prepare(&self, r: Enqueue, now: DateTime<Utc>) -> Result<NewTask, EngineError> {
        let handler = self
            .registry
            .get(r.kind.as_str())
            .ok_or_else(|| EngineError::UnknownKind(r.kind.clone()))?;
        handler
            .check_args(&r.args)
            .map_err(|message| EngineError::InvalidArgs {
                kind: r.kind.clone(),
                message,
            })?;
        let defaults = handler.options();
        let max_attempts = r.max_attempts.unwrap_or(defaults.max_attempts);
        if !(1..=100).contains(&max_attempts) {
            return Err(EngineError::InvalidOption {
                option: "max_attempts",
                message: "must be from 1 to 100".into(),
            });
        }
        let queue = r.queue.unwrap_or(defaults.queue);
        if !self.wake.contains_key(&queue) {
            let known: Vec<&str> = self.wake.keys().map(String::as_str).collect();
            return Err(EngineError::InvalidOption {
                option: "queue",
                message: format!("no queue `{queue}` (queues: {})", known.join(", ")),
            });
        }
        let mut exec = defaults.exec;
        if let Some(ms) = r.soft_limit_ms {
            exec.soft_limit_ms = Some(ms);
        }
        if let Some(ms) = r.hard_limit_ms {
            exec.hard_limit_ms = Some(ms);
        }
        if let (Some(soft), Some(hard)) = (exec.soft_limit_ms, exec.hard_limit_ms)
            && soft > hard
        {
            return Err(EngineError::InvalidOption {
                option: "soft_limit_ms",
                message: "the soft limit must not exceed the hard limit".into(),
            });
        }
        let unique_key = r.unique_key.or_else(|| {
            defaults.unique_by_args.then(|| {
                let digest = Sha256::digest(r.args.to_string().as_bytes());
                let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("{}:{hex}", r.kind)
            })
        });
        Ok(NewTask {
            id: Uuid::now_v7(),
            kind: r.kind,
            queue,
            args: r.args,
            priority: r.priority.unwrap_or(defaults.priority),
            max_attempts,
            scheduled_at: r.run_at.unwrap_or(now).max(now),
            created_at: now,
            unique_key,
            created_by: r.created_by,
            options: exec,
        })
    }

    /// Counts, publishes and wakes workers (here and on the other processes) for tasks just
    /// committed.
    async fn announce(&self, inserted: &[(TaskRecord, bool)]) {
        let mut queues: Vec<&str> = Vec::new();
        for (record, created) in inserted {
            if *created {
                metrics::counter!("relais_tasks_enqueued_total", "kind" => record.kind.clone())
                    .increment(1);
                let _ = self.events.send(self.event_of(record, None));
                self.wake(&record.queue);
                if !queues.contains(&record.queue.as_str()) {
                    queues.push(&record.queue);
                }
            }
        }
        let wakes = queues
            .into_iter()
            .map(|q| super::signal::Signal::Wake { queue: q.into() })
            .collect();
        self.signal_now(wakes).await;
    }

    fn wake(&self, queue: &str) {
        if let Some(n) = self.wake.get(queue) {
            n.notify_one();
        }
    }

    fn event_of(&self, record: &TaskRecord, progress: Option<Progress>) -> TaskEvent {
        TaskEvent {
            id: record.id,
            kind: record.kind.clone(),
            queue: record.queue.clone(),
            state: record.state,
            attempt: record.attempt,
            progress,
            at: self.clock.now(),
        }
    }

    /// Publishes a state change on every process's bus.
    fn publish(&self, record: &TaskRecord, progress: Option<Progress>) {
        self.emit(self.event_of(record, progress), true);
    }
}

impl ProgressSink for Inner {
    fn report(
        &self,
        id: Uuid,
        attempt: i32,
        progress: Progress,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let now = self.clock.now();
            let due = {
                let mut last = lock(&self.last_progress_write);
                let interval =
                    chrono::Duration::from_std(self.config.progress_interval).unwrap_or_default();
                let due = progress.percent >= 100.0
                    || last.get(&id).is_none_or(|at| now - *at >= interval);
                if due {
                    last.insert(id, now);
                }
                due
            };
            // Stored before published: a subscriber that reads the task after the event sees it.
            if due
                && let Err(e) = self
                    .store
                    .set_progress(id, attempt, &self.worker, &progress)
                    .await
            {
                tracing::warn!(task_id = %id, error = %e, "storing progress failed");
            }
            // Every report on this bus; the stored (throttled) ones on the others' too.
            if let Some(event) = self.running_record(id, attempt) {
                let event = TaskEvent {
                    progress: Some(progress),
                    at: now,
                    ..event
                };
                self.emit(event, due);
            }
        })
    }
}

impl Inner {
    /// The event skeleton of a task this process runs.
    fn running_record(&self, id: Uuid, attempt: i32) -> Option<TaskEvent> {
        let running = lock(&self.running);
        let r = running.get(&id)?;
        Some(TaskEvent {
            id,
            kind: r.kind.clone(),
            queue: r.queue.clone(),
            state: TaskState::Running,
            attempt,
            progress: None,
            at: self.clock.now(),
        })
    }
}
