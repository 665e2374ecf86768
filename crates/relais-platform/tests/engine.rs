//! Task engine, driven deterministically: a manual clock (time moves only when a test says so)
//! and the engine's event bus (tests wait for events, never for wall-clock time). Every case runs
//! on SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use relais_platform::clock::{Clock, ManualClock};
use relais_platform::store::{self, PLATFORM_MIGRATIONS, Store};
use relais_platform::tasks::{
    Backoff, CancelOutcome, Engine, EngineConfig, EngineError, Enqueue, ExecOptions, Noop,
    SleepTask, Task, TaskContext, TaskError, TaskEvent, TaskOptions, TaskState,
};
use relais_testkit::{Ctx, suite};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

suite!(
    noop_runs_to_success,
    retries_follow_the_backoff_schedule,
    permanent_errors_fail_at_once,
    out_of_attempts_is_discarded_and_retry_by_hand_runs_again,
    a_panicking_handler_is_a_failed_attempt,
    soft_limit_lets_the_handler_stop,
    hard_limit_aborts_and_records_a_timeout,
    cancel_of_a_queued_task_is_immediate,
    cancel_of_a_running_task_stops_it,
    a_handler_that_ignores_cancel_is_aborted_after_the_grace,
    cancel_issued_on_another_process_reaches_the_worker,
    a_dead_workers_task_is_rescued_and_its_late_report_ignored,
    unique_tasks_are_enqueued_once,
    progress_is_published_and_stored,
    drain_returns_unfinished_tasks_to_the_queue,
    bad_requests_are_refused_at_enqueue,
);

// ---- test kinds ----

#[derive(serde::Serialize, serde::Deserialize)]
struct FlakyArgs {
    succeed_on: i32,
}

/// Fails (retryably) until the given attempt.
struct Flaky;

impl Task for Flaky {
    const KIND: &'static str = "test.flaky";
    type Args = FlakyArgs;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            max_attempts: 5,
            exec: ExecOptions {
                backoff: Backoff {
                    base_ms: 1_000,
                    max_ms: 60_000,
                    jitter: 0.0,
                },
                ..ExecOptions::default()
            },
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, args: FlakyArgs) -> Result<Value, TaskError> {
        if ctx.attempt() < args.succeed_on {
            Err(TaskError::retry(format!(
                "attempt {} failed",
                ctx.attempt()
            )))
        } else {
            Ok(json!({ "attempt": ctx.attempt() }))
        }
    }
}

struct Permanent;

impl Task for Permanent {
    const KIND: &'static str = "test.permanent";
    type Args = Value;

    async fn run(&self, _ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        Err(TaskError::permanent("the input is wrong"))
    }
}

struct Panics;

impl Task for Panics {
    const KIND: &'static str = "test.panics";
    type Args = Value;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            max_attempts: 1,
            ..TaskOptions::default()
        }
    }

    async fn run(&self, _ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        panic!("expected test panic")
    }
}

/// Ignores every signal: sleeps an hour on the engine clock; notes what it saw.
#[derive(Clone, Default)]
struct Stubborn {
    saw_soft: Arc<Mutex<bool>>,
}

impl Task for Stubborn {
    const KIND: &'static str = "test.stubborn";
    type Args = Value;

    async fn run(&self, ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        let saw = self.saw_soft.clone();
        let watcher = ctx.clone();
        tokio::spawn(async move {
            watcher.soft_limit().await;
            *saw.lock().unwrap() = true;
        });
        ctx.sleep(Duration::from_secs(3_600)).await;
        Ok(json!("finally"))
    }
}

/// Waits until the test opens its gate; reports which attempt finished.
#[derive(Clone, Default)]
struct Gated {
    entered: Arc<Notify>,
    gates: Arc<Mutex<HashMap<i32, Arc<Notify>>>>,
}

impl Gated {
    fn gate(&self, attempt: i32) -> Arc<Notify> {
        self.gates
            .lock()
            .unwrap()
            .entry(attempt)
            .or_default()
            .clone()
    }
}

impl Task for Gated {
    const KIND: &'static str = "test.gated";
    type Args = Value;

    async fn run(&self, ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        let gate = self.gate(ctx.attempt());
        self.entered.notify_one();
        gate.notified().await;
        Ok(json!({ "finished_attempt": ctx.attempt() }))
    }
}

// ---- harness ----

struct Harness {
    engine: Engine,
    clock: ManualClock,
    store: Arc<dyn Store>,
    events: broadcast::Receiver<TaskEvent>,
    stubborn: Stubborn,
    gated: Gated,
    shutdown: relais_platform::shutdown::Shutdown,
}

fn start_time() -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

async fn harness(ctx: &Ctx) -> Harness {
    harness_with(ctx, ManualClock::new(start_time()), None).await
}

/// The `test.panics` kind panics on purpose; keep that one panic out of the test output.
fn quiet_expected_panic() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"expected test panic") {
                default(info);
            }
        }));
    });
}

async fn harness_with(ctx: &Ctx, clock: ManualClock, shared: Option<&Harness>) -> Harness {
    quiet_expected_panic();
    let store = store::open(&ctx.database).await.unwrap();
    store.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    let stubborn = shared.map(|h| h.stubborn.clone()).unwrap_or_default();
    let gated = shared.map(|h| h.gated.clone()).unwrap_or_default();
    let engine = Engine::builder(
        store.clone(),
        Arc::new(clock.clone()),
        // Retention has its own suite (`engine_ops`); here it would add tasks at its ticks.
        EngineConfig {
            retention: None,
            ..EngineConfig::default()
        },
    )
    .register(Noop)
    .register(SleepTask)
    .register(Flaky)
    .register(Permanent)
    .register(Panics)
    .register(stubborn.clone())
    .register(gated.clone())
    .build()
    .unwrap();
    let events = engine.subscribe();
    let shutdown = relais_platform::shutdown::Shutdown::new();
    engine.start(&shutdown);
    Harness {
        engine,
        clock,
        store,
        events,
        stubborn,
        gated,
        shutdown,
    }
}

impl Harness {
    async fn enqueue(&self, request: Enqueue) -> Uuid {
        self.engine.enqueue(request).await.unwrap().0.id
    }

    /// Waits for an event of `id` reaching `state` (a generous guard turns a hang into a failure).
    async fn until(&mut self, id: Uuid, state: TaskState) -> TaskEvent {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Ok(e) if e.id == id && e.state == state && e.progress.is_none() => return e,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("event bus closed: {e}"),
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(e) => e,
            Err(_) => panic!(
                "task {id} never reached {state}: now {:?}",
                self.engine.get(id).await.unwrap().map(|t| t.state)
            ),
        }
    }

    /// Advances the clock once every claim loop is idle with its poll timer armed.
    async fn advance(&self, by: Duration) {
        let engine = self.engine.clone();
        self.eventually("claim loops idle", move || engine.idle_queues() == 1)
            .await;
        self.settle().await;
        self.clock.advance(by);
    }

    /// Lets spawned work reach its next await point.
    async fn settle(&self) {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    /// Waits (yielding, with a generous guard) until `condition` holds.
    async fn eventually(&self, what: &str, condition: impl Fn() -> bool) {
        let wait = async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .is_err()
        {
            panic!("never happened: {what}");
        }
    }

    async fn stop(self) {
        self.engine.drain(tokio::time::Instant::now()).await;
        self.store.close().await;
    }
}

fn enqueue(kind: &str, args: Value) -> Enqueue {
    Enqueue::new(kind, args)
}

// ---- cases ----

async fn noop_runs_to_success(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h.enqueue(enqueue("relais.noop", json!({}))).await;
    h.until(id, TaskState::Succeeded).await;
    let task = h.engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        (task.state, task.attempt, task.result.clone()),
        (TaskState::Succeeded, 1, Some(Value::Null))
    );
    assert_eq!(task.worker.as_deref(), Some(h.engine.worker_id()));
    assert_eq!(task.finished_at, Some(start_time()));
    h.stop().await;
}

async fn retries_follow_the_backoff_schedule(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h
        .enqueue(enqueue("test.flaky", json!({"succeed_on": 3})))
        .await;
    h.until(id, TaskState::Retryable).await;
    let t1 = h.engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        t1.scheduled_at,
        start_time() + chrono::Duration::seconds(1),
        "1 s after the first failure"
    );
    h.advance(Duration::from_secs(1)).await;
    h.until(id, TaskState::Retryable).await;
    let t2 = h.engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        (t2.attempt, t2.scheduled_at),
        (2, start_time() + chrono::Duration::seconds(3)),
        "then 2 s"
    );
    h.advance(Duration::from_secs(1)).await;
    h.settle().await;
    assert_eq!(
        h.engine.get(id).await.unwrap().unwrap().state,
        TaskState::Retryable,
        "not before its time"
    );
    h.advance(Duration::from_secs(1)).await;
    h.until(id, TaskState::Succeeded).await;
    let done = h.engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        (done.attempt, done.result.clone()),
        (3, Some(json!({"attempt": 3})))
    );
    let errors = h.engine.errors(id).await.unwrap();
    let messages: Vec<_> = errors
        .iter()
        .map(|e| (e.attempt, e.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        vec![(1, "attempt 1 failed"), (2, "attempt 2 failed")]
    );
    h.stop().await;
}

async fn permanent_errors_fail_at_once(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h.enqueue(enqueue("test.permanent", json!(null))).await;
    h.until(id, TaskState::Failed).await;
    let errors = h.engine.errors(id).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "the input is wrong");
    h.stop().await;
}

async fn out_of_attempts_is_discarded_and_retry_by_hand_runs_again(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h
        .enqueue(Enqueue {
            max_attempts: Some(2),
            ..enqueue("test.flaky", json!({"succeed_on": 3}))
        })
        .await;
    h.until(id, TaskState::Retryable).await;
    h.advance(Duration::from_secs(1)).await;
    h.until(id, TaskState::Discarded).await;
    assert_eq!(
        h.engine.errors(id).await.unwrap().len(),
        2,
        "every attempt's error kept"
    );
    let retried = h.engine.retry(id).await.unwrap().unwrap();
    assert_eq!(
        (retried.state, retried.max_attempts),
        (TaskState::Available, 3)
    );
    h.until(id, TaskState::Succeeded).await;
    assert_eq!(h.engine.get(id).await.unwrap().unwrap().attempt, 3);
    h.stop().await;
}

async fn a_panicking_handler_is_a_failed_attempt(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h.enqueue(enqueue("test.panics", json!(null))).await;
    h.until(id, TaskState::Discarded).await;
    let errors = h.engine.errors(id).await.unwrap();
    assert_eq!(errors[0].message, "handler panicked: expected test panic");
    let next = h.enqueue(enqueue("relais.noop", json!({}))).await;
    h.until(next, TaskState::Succeeded).await;
    h.stop().await;
}

async fn soft_limit_lets_the_handler_stop(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h
        .enqueue(Enqueue {
            soft_limit_ms: Some(1_000),
            max_attempts: Some(1),
            ..enqueue("relais.sleep", json!({"ms": 60_000}))
        })
        .await;
    h.until(id, TaskState::Running).await;
    h.advance(Duration::from_millis(1_000)).await;
    h.until(id, TaskState::Discarded).await;
    let errors = h.engine.errors(id).await.unwrap();
    assert!(
        errors[0]
            .message
            .starts_with("stopped at the soft time limit"),
        "{errors:?}"
    );
    assert!(!errors[0].timed_out, "the handler stopped itself");
    h.stop().await;
}

async fn hard_limit_aborts_and_records_a_timeout(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let request = Enqueue {
        soft_limit_ms: Some(1_000),
        hard_limit_ms: Some(2_000),
        max_attempts: Some(1),
        ..enqueue("test.stubborn", json!(null))
    };
    let id = h.enqueue(request).await;
    h.until(id, TaskState::Running).await;
    h.advance(Duration::from_millis(1_000)).await;
    let saw = h.stubborn.saw_soft.clone();
    h.eventually("soft limit signalled", || *saw.lock().unwrap())
        .await;
    assert_eq!(
        h.engine.get(id).await.unwrap().unwrap().state,
        TaskState::Running,
        "still running after the soft limit"
    );
    h.advance(Duration::from_millis(1_000)).await;
    h.until(id, TaskState::Discarded).await;
    let errors = h.engine.errors(id).await.unwrap();
    assert!(
        errors[0].timed_out && errors[0].message == "hard time limit of 2000 ms exceeded",
        "{errors:?}"
    );
    h.stop().await;
}

async fn cancel_of_a_queued_task_is_immediate(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let later = start_time() + chrono::Duration::hours(1);
    let id = h
        .enqueue(Enqueue {
            run_at: Some(later),
            ..enqueue("relais.noop", json!({}))
        })
        .await;
    assert!(matches!(
        h.engine.cancel(id).await.unwrap(),
        CancelOutcome::Cancelled(_)
    ));
    h.until(id, TaskState::Cancelled).await;
    h.advance(Duration::from_secs(3_600)).await;
    h.settle().await;
    let task = h.engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        (task.state, task.attempt),
        (TaskState::Cancelled, 0),
        "never ran"
    );
    h.stop().await;
}

async fn cancel_of_a_running_task_stops_it(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h
        .enqueue(enqueue("relais.sleep", json!({"ms": 60_000})))
        .await;
    h.until(id, TaskState::Running).await;
    assert!(matches!(
        h.engine.cancel(id).await.unwrap(),
        CancelOutcome::Signalled(_)
    ));
    h.until(id, TaskState::Cancelled).await;
    assert!(
        h.engine.errors(id).await.unwrap().is_empty(),
        "a cancel is not an error"
    );
    h.stop().await;
}

async fn a_handler_that_ignores_cancel_is_aborted_after_the_grace(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h.enqueue(enqueue("test.stubborn", json!(null))).await;
    h.until(id, TaskState::Running).await;
    h.engine.cancel(id).await.unwrap();
    h.advance(Duration::from_millis(4_999)).await;
    h.settle().await;
    assert_eq!(
        h.engine.get(id).await.unwrap().unwrap().state,
        TaskState::Running,
        "within its grace"
    );
    h.advance(Duration::from_millis(1)).await;
    h.until(id, TaskState::Cancelled).await;
    h.stop().await;
}

async fn cancel_issued_on_another_process_reaches_the_worker(ctx: Ctx) {
    let mut worker = harness(&ctx).await;
    // A second engine on the same database stands for another process; it works another queue.
    let other_store = store::open(&ctx.database).await.unwrap();
    let other = Engine::builder(
        other_store.clone(),
        Arc::new(worker.clock.clone()),
        EngineConfig {
            queues: vec![("elsewhere".into(), 1)],
            retention: None,
            ..EngineConfig::default()
        },
    )
    .register(SleepTask)
    .build()
    .unwrap();
    let id = worker
        .enqueue(enqueue("relais.sleep", json!({"ms": 60_000})))
        .await;
    worker.until(id, TaskState::Running).await;
    assert!(matches!(
        other.cancel(id).await.unwrap(),
        CancelOutcome::Signalled(_)
    ));
    if worker.engine.backend() == "postgres" {
        // A signal carries the request at once (the clock does not move).
        worker.until(id, TaskState::Cancelled).await;
    } else {
        worker.settle().await;
        assert_eq!(
            worker.engine.get(id).await.unwrap().unwrap().state,
            TaskState::Running,
            "learnt at the next heartbeat"
        );
        worker
            .advance(EngineConfig::default().heartbeat_interval)
            .await;
        worker.until(id, TaskState::Cancelled).await;
    }
    other_store.close().await;
    worker.stop().await;
}

async fn a_dead_workers_task_is_rescued_and_its_late_report_ignored(ctx: Ctx) {
    // The first process's clock stands still: it never heartbeats again, like a hung or dead one.
    let mut dead = harness_with(&ctx, ManualClock::new(start_time()), None).await;
    let id = dead.enqueue(enqueue("test.gated", json!(null))).await;
    dead.until(id, TaskState::Running).await;
    let live_clock = ManualClock::new(start_time());
    let mut live = harness_with(&ctx, live_clock.clone(), Some(&dead)).await;
    live_clock.advance(Duration::from_secs(31));
    // Advancing also fires the live engine's own rescue loop; whichever runs first rescues it.
    let rescued = live.engine.rescue_once().await.unwrap();
    let rescued: Vec<_> = rescued.iter().map(|r| (r.id, r.state)).collect();
    assert!(
        rescued.is_empty() || rescued == vec![(id, TaskState::Retryable)],
        "{rescued:?}"
    );
    // Rescued tasks are due at once; the live process claims it at its next wake-up or poll.
    for _ in 0..10 {
        if live.engine.get(id).await.unwrap().unwrap().state == TaskState::Running {
            break;
        }
        live.advance(EngineConfig::default().poll_interval).await;
    }
    live.until(id, TaskState::Running).await;
    assert_eq!(live.engine.get(id).await.unwrap().unwrap().attempt, 2);
    // The first worker finishes late: its report must not count.
    dead.gated.gate(1).notify_one();
    dead.settle().await;
    for _ in 0..100 {
        if dead.engine.running() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let task = live.engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        (task.state, task.attempt),
        (TaskState::Running, 2),
        "late report ignored"
    );
    live.gated.gate(2).notify_one();
    live.until(id, TaskState::Succeeded).await;
    let task = live.engine.get(id).await.unwrap().unwrap();
    assert_eq!(task.result, Some(json!({"finished_attempt": 2})));
    assert!(
        live.engine.errors(id).await.unwrap()[0]
            .message
            .contains("stopped sending heartbeats")
    );
    live.stop().await;
    dead.stop().await;
}

async fn unique_tasks_are_enqueued_once(ctx: Ctx) {
    let h = harness(&ctx).await;
    let keyed = || Enqueue {
        unique_key: Some("rebuild-summary".into()),
        run_at: Some(start_time() + chrono::Duration::hours(1)),
        ..enqueue("relais.noop", json!({}))
    };
    let (first, created) = h.engine.enqueue(keyed()).await.unwrap();
    let (second, created_again) = h.engine.enqueue(keyed()).await.unwrap();
    assert!(created && !created_again);
    assert_eq!(first.id, second.id);
    h.stop().await;
}

async fn progress_is_published_and_stored(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let id = h
        .enqueue(enqueue("relais.sleep", json!({"ms": 1_000})))
        .await;
    h.until(id, TaskState::Running).await;
    let mut seen = Vec::new();
    let mut stored = Vec::new();
    for _ in 0..10 {
        h.advance(Duration::from_millis(100)).await;
        let wait = async {
            loop {
                if let Ok(e) = h.events.recv().await
                    && e.id == id
                    && let Some(p) = e.progress
                {
                    return p;
                }
            }
        };
        let p = tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("progress event");
        seen.push(p.percent);
        if p.percent < 100.0 {
            stored.push(h.engine.get(id).await.unwrap().unwrap().progress.percent);
        }
    }
    assert_eq!(
        seen,
        (1..=10).map(|i| f64::from(i) * 10.0).collect::<Vec<_>>(),
        "every update published"
    );
    // Stored at most every 250 ms of the clock: at 100, 400 and 700 ms.
    assert_eq!(
        stored,
        vec![10.0, 10.0, 10.0, 40.0, 40.0, 40.0, 70.0, 70.0, 70.0]
    );
    h.until(id, TaskState::Succeeded).await;
    assert_eq!(
        h.engine.get(id).await.unwrap().unwrap().progress.percent,
        100.0
    );
    h.stop().await;
}

async fn drain_returns_unfinished_tasks_to_the_queue(ctx: Ctx) {
    let mut h = harness(&ctx).await;
    let stuck = h.enqueue(enqueue("test.stubborn", json!(null))).await;
    h.until(stuck, TaskState::Running).await;
    h.engine.drain(tokio::time::Instant::now()).await;
    let task = h.engine.get(stuck).await.unwrap().unwrap();
    assert_eq!(
        (task.state, task.attempt, task.worker.clone()),
        (TaskState::Available, 0, None),
        "back in the queue, attempt not counted"
    );
    let after = h
        .engine
        .enqueue(enqueue("relais.noop", json!({})))
        .await
        .unwrap()
        .0;
    h.settle().await;
    assert_eq!(
        h.engine.get(after.id).await.unwrap().unwrap().state,
        TaskState::Available,
        "a drained engine claims nothing"
    );
    h.shutdown.trigger();
    h.store.close().await;
}

async fn bad_requests_are_refused_at_enqueue(ctx: Ctx) {
    let h = harness(&ctx).await;
    let check = |r: Result<_, EngineError>, expected: &str| {
        let e = r
            .map(|_: (relais_platform::tasks::TaskRecord, bool)| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{e}");
    };
    check(
        h.engine.enqueue(enqueue("no.such.kind", json!({}))).await,
        "unknown task kind `no.such.kind`",
    );
    check(
        h.engine
            .enqueue(enqueue("relais.sleep", json!({"ms": "long"})))
            .await,
        "invalid arguments for `relais.sleep`",
    );
    check(
        h.engine
            .enqueue(enqueue("relais.sleep", json!({"ms": 1, "extra": 2})))
            .await,
        "unknown field `extra`",
    );
    check(
        h.engine
            .enqueue(Enqueue {
                max_attempts: Some(0),
                ..enqueue("relais.noop", json!({}))
            })
            .await,
        "`max_attempts`",
    );
    check(
        h.engine
            .enqueue(Enqueue {
                queue: Some("nope".into()),
                ..enqueue("relais.noop", json!({}))
            })
            .await,
        "no queue `nope`",
    );
    check(
        h.engine
            .enqueue(Enqueue {
                soft_limit_ms: Some(5),
                hard_limit_ms: Some(1),
                ..enqueue("relais.noop", json!({}))
            })
            .await,
        "soft limit must not exceed",
    );
    // A batch is all or nothing.
    let batch = vec![
        enqueue("relais.noop", json!({})),
        enqueue("no.such.kind", json!({})),
    ];
    assert!(h.engine.enqueue_many(batch).await.is_err());
    assert_eq!(h.clock.now(), start_time());
    h.stop().await;
}
