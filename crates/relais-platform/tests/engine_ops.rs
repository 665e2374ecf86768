//! Operating the task engine, driven deterministically (manual clock, hooks, events): per-kind
//! rate and concurrency limits across two processes, queue pause, cron schedules enqueued once
//! per tick across processes and after a restart, retention, the worker registry and statistics.
//! Every case runs on SQLite and PostgreSQL; "two processes" are two engines on two stores
//! sharing one database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use relais_platform::clock::ManualClock;
use relais_platform::store::{self, DbTx, Migration, MigrationSet, PLATFORM_MIGRATIONS, Store};
use relais_platform::tasks::{
    Engine, EngineConfig, Enqueue, Noop, RetentionPolicy, Task, TaskContext, TaskError, TaskFilter,
    TaskOptions, TaskState, TickOutcome,
};
use relais_testkit::{Ctx, suite};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

suite!(
    a_rate_limited_kind_starts_at_its_rate_across_processes,
    a_concurrency_limit_holds_across_processes,
    a_paused_queue_is_claimed_by_no_process_until_resumed,
    one_cron_tick_is_enqueued_once_across_two_processes,
    a_tick_missed_while_down_is_enqueued_once_at_restart,
    retention_deletes_old_finished_tasks_by_state,
    workers_are_registered_and_statistics_reported,
    tasks_enqueued_in_an_app_transaction_exist_only_if_it_commits,
    an_enqueue_wakes_another_process_at_once => postgres_only,
    a_cancel_reaches_the_running_process_at_once => postgres_only,
    events_of_tasks_run_elsewhere_reach_this_process => postgres_only,
);

fn t0() -> chrono::DateTime<Utc> {
    // On a 15-minute (hence minute) boundary.
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

/// Counts how many run at once; each waits for a permit the test releases.
#[derive(Clone)]
struct Held {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            now: Arc::default(),
            max: Arc::default(),
            started: Arc::default(),
            release: Arc::new(Semaphore::new(0)),
        }
    }
}

impl Task for Held {
    const KIND: &'static str = "test.held";
    type Args = Value;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            concurrency: Some(2),
            ..TaskOptions::default()
        }
    }

    async fn run(&self, _ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        let permit = self.release.acquire().await.map_err(TaskError::retry)?;
        permit.forget();
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(Value::Null)
    }
}

struct Rated;

impl Task for Rated {
    const KIND: &'static str = "test.rated";
    type Args = Value;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            rate: Some("3/30s".parse().unwrap()),
            ..TaskOptions::default()
        }
    }

    async fn run(&self, _ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        Ok(Value::Null)
    }
}

struct Failing;

impl Task for Failing {
    const KIND: &'static str = "test.failing";
    type Args = Value;

    async fn run(&self, _ctx: TaskContext, _args: Value) -> Result<Value, TaskError> {
        Err(TaskError::permanent("no"))
    }
}

/// One process: a store of its own and an engine, on the shared clock.
struct Process {
    engine: Engine,
    store: Arc<dyn Store>,
    shutdown: relais_platform::shutdown::Shutdown,
}

struct Setup {
    config: EngineConfig,
    schedules: Vec<(&'static str, &'static str)>,
    start: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            // The clock jumps by whole poll intervals: keep the rescuer out of these tests.
            config: quiet_config(),
            schedules: Vec::new(),
            start: true,
        }
    }
}

fn quiet_config() -> EngineConfig {
    EngineConfig {
        retention: None,
        rescue_after: Duration::from_secs(86_400),
        ..EngineConfig::default()
    }
}

async fn process(ctx: &Ctx, clock: &ManualClock, held: &Held, setup: Setup) -> Process {
    let store = store::open(&ctx.database).await.unwrap();
    store.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    let mut builder = Engine::builder(store.clone(), Arc::new(clock.clone()), setup.config)
        .register(Noop)
        .register(held.clone())
        .register(Rated)
        .register(Failing)
        .register(relais_platform::tasks::SleepTask);
    for (name, cron) in setup.schedules {
        builder = builder.schedule(name, cron, Enqueue::new("relais.noop", json!({})));
    }
    let engine = builder.build().unwrap();
    let shutdown = relais_platform::shutdown::Shutdown::new();
    if setup.start {
        engine.start(&shutdown);
    }
    Process {
        engine,
        store,
        shutdown,
    }
}

impl Process {
    async fn stop(self) {
        self.engine.drain(tokio::time::Instant::now()).await;
        drop(self.shutdown);
        self.store.close().await;
    }

    async fn count(&self, kind: &str, state: TaskState) -> usize {
        self.engine
            .list(&TaskFilter {
                kind: Some(kind.into()),
                states: vec![state],
                limit: 1000,
                ..TaskFilter::default()
            })
            .await
            .unwrap()
            .len()
    }
}

/// Waits (yielding, with a generous guard against hangs) until `condition` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, condition: impl Fn() -> F) {
    let wait = async {
        while !condition().await {
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

/// Advances the shared clock by one poll interval once every claim loop of `processes` is idle
/// with its timer armed, then waits until each has looked for work and is idle again.
async fn poll_round(clock: &ManualClock, processes: &[&Process]) {
    eventually("claim loops idle", || async {
        processes.iter().all(|p| p.engine.idle_queues() == 1)
    })
    .await;
    let before: Vec<u64> = processes.iter().map(|p| p.engine.idle_entries()).collect();
    clock.advance(EngineConfig::default().poll_interval);
    eventually("claim loops polled", || async {
        processes
            .iter()
            .zip(&before)
            .all(|(p, n)| p.engine.idle_entries() > *n && p.engine.idle_queues() == 1)
    })
    .await;
}

async fn enqueue_n(p: &Process, kind: &str, n: usize) {
    let requests = (0..n).map(|_| Enqueue::new(kind, json!({}))).collect();
    p.engine.enqueue_many(requests).await.unwrap();
}

async fn a_rate_limited_kind_starts_at_its_rate_across_processes(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let a = process(&ctx, &clock, &held, Setup::default()).await;
    let b = process(&ctx, &clock, &held, Setup::default()).await;
    enqueue_n(&a, "test.rated", 7).await;
    eventually("a burst of 3", || async {
        a.count("test.rated", TaskState::Succeeded).await == 3
    })
    .await;
    // Several polls on both processes within the same 10 s: no token, nothing starts.
    for _ in 0..5 {
        poll_round(&clock, &[&a, &b]).await;
    }
    assert_eq!(a.count("test.rated", TaskState::Succeeded).await, 3);
    assert_eq!(a.count("test.rated", TaskState::Available).await, 4);
    // 3/30s: one token every 10 s.
    for _ in 0..5 {
        poll_round(&clock, &[&a, &b]).await;
    }
    eventually("one more after 10 s", || async {
        a.count("test.rated", TaskState::Succeeded).await == 4
    })
    .await;
    poll_round(&clock, &[&a, &b]).await;
    assert_eq!(a.count("test.rated", TaskState::Succeeded).await, 4);
    a.stop().await;
    b.stop().await;
}

async fn a_concurrency_limit_holds_across_processes(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let a = process(&ctx, &clock, &held, Setup::default()).await;
    let b = process(&ctx, &clock, &held, Setup::default()).await;
    enqueue_n(&a, "test.held", 6).await;
    eventually("two started", || async {
        held.started.load(Ordering::SeqCst) == 2
    })
    .await;
    for _ in 0..3 {
        poll_round(&clock, &[&a, &b]).await;
    }
    assert_eq!(held.started.load(Ordering::SeqCst), 2, "the limit is 2");
    assert_eq!(a.count("test.held", TaskState::Running).await, 2);
    // Release them one by one; the freed slot goes to whichever process claims first (this one
    // is woken by the finish, the other finds it at its next poll).
    for done in 1..=6 {
        held.release.add_permits(1);
        eventually("one more finished", || async {
            a.count("test.held", TaskState::Succeeded).await == done
        })
        .await;
        let want = (done + 2).min(6);
        for _ in 0..50 {
            if held.started.load(Ordering::SeqCst) >= want {
                break;
            }
            poll_round(&clock, &[&a, &b]).await;
        }
        assert_eq!(
            held.started.load(Ordering::SeqCst),
            want,
            "running {} available {} succeeded {} idle {}/{}",
            a.count("test.held", TaskState::Running).await,
            a.count("test.held", TaskState::Available).await,
            a.count("test.held", TaskState::Succeeded).await,
            a.engine.idle_queues(),
            b.engine.idle_queues()
        );
    }
    assert_eq!(
        held.max.load(Ordering::SeqCst),
        2,
        "never more than 2 at once"
    );
    a.stop().await;
    b.stop().await;
}

async fn a_paused_queue_is_claimed_by_no_process_until_resumed(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let a = process(&ctx, &clock, &held, Setup::default()).await;
    let b = process(&ctx, &clock, &held, Setup::default()).await;
    let state = a.engine.pause("default", Some("operator")).await.unwrap();
    assert!(state.paused);
    enqueue_n(&a, "relais.noop", 3).await;
    for _ in 0..3 {
        poll_round(&clock, &[&a, &b]).await;
    }
    assert_eq!(a.count("relais.noop", TaskState::Available).await, 3);
    // Resumed on the other process: this one resumes claiming at its next poll.
    b.engine.resume("default", Some("operator")).await.unwrap();
    eventually("all ran", || async {
        a.count("relais.noop", TaskState::Succeeded).await == 3
    })
    .await;
    let stats = a.engine.stats().await.unwrap();
    assert!(!stats.queues.iter().any(|q| q.paused));
    a.stop().await;
    b.stop().await;
}

fn every_minute() -> Setup {
    Setup {
        schedules: vec![("every-minute", "* * * * *")],
        ..Setup::default()
    }
}

async fn scheduled(p: &Process) -> Vec<relais_platform::tasks::TaskRecord> {
    p.engine
        .list(&TaskFilter {
            kind: Some("relais.noop".into()),
            limit: 100,
            ..TaskFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.created_by.as_deref() == Some("schedule:every-minute"))
        .collect()
}

async fn one_cron_tick_is_enqueued_once_across_two_processes(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let a = process(&ctx, &clock, &held, every_minute()).await;
    let b = process(&ctx, &clock, &held, every_minute()).await;
    eventually("both schedulers wait for the next tick", || async {
        a.engine.idle_schedulers() == 1 && b.engine.idle_schedulers() == 1
    })
    .await;
    assert!(scheduled(&a).await.is_empty(), "no tick is owed at start");
    clock.advance(Duration::from_secs(61));
    // The loops and these direct calls all race for the tick.
    let (ra, rb) = tokio::join!(a.engine.run_schedules(), b.engine.run_schedules());
    let enqueued = ra
        .unwrap()
        .into_iter()
        .chain(rb.unwrap())
        .filter(|(_, o)| matches!(o, TickOutcome::Enqueued(_)))
        .count();
    assert!(enqueued <= 1);
    eventually("the tick's task ran", || async {
        scheduled(&a)
            .await
            .iter()
            .any(|t| t.state == TaskState::Succeeded)
    })
    .await;
    a.engine.run_schedules().await.unwrap();
    b.engine.run_schedules().await.unwrap();
    let tasks = scheduled(&a).await;
    assert_eq!(tasks.len(), 1, "one task for the tick: {tasks:?}");
    assert_eq!(
        tasks[0].unique_key.as_deref(),
        Some(format!("schedule:every-minute:{}", t0().timestamp() + 60).as_str())
    );
    a.stop().await;
    b.stop().await;
}

async fn a_tick_missed_while_down_is_enqueued_once_at_restart(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let not_started = || Setup {
        start: false,
        ..every_minute()
    };
    let first = process(&ctx, &clock, &held, not_started()).await;
    assert!(first.engine.run_schedules().await.unwrap().is_empty());
    first.stop().await;
    // Down for two and a half minutes: the ticks at +60 s and +120 s were missed.
    clock.advance(Duration::from_secs(150));
    let second = process(&ctx, &clock, &held, not_started()).await;
    let third = process(&ctx, &clock, &held, not_started()).await;
    let outcomes = second.engine.run_schedules().await.unwrap();
    assert!(
        matches!(outcomes[..], [(_, TickOutcome::Enqueued(_))]),
        "{outcomes:?}"
    );
    assert!(
        third.engine.run_schedules().await.unwrap().is_empty(),
        "another restart owes nothing"
    );
    let tasks = scheduled(&second).await;
    assert_eq!(tasks.len(), 1, "only the latest missed tick");
    assert_eq!(
        tasks[0].unique_key.as_deref(),
        Some(format!("schedule:every-minute:{}", t0().timestamp() + 120).as_str())
    );
    second.stop().await;
    third.stop().await;
}

async fn retention_deletes_old_finished_tasks_by_state(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let hour = Duration::from_secs(3600);
    let setup = Setup {
        config: EngineConfig {
            retention: Some(RetentionPolicy {
                succeeded: hour,
                cancelled: hour,
                failed: 3 * hour,
                discarded: 3 * hour,
                schedule: "*/15 * * * *".into(),
            }),
            ..quiet_config()
        },
        ..Setup::default()
    };
    let p = process(&ctx, &clock, &held, setup).await;
    enqueue_n(&p, "relais.noop", 3).await;
    enqueue_n(&p, "test.failing", 2).await;
    eventually("all finished", || async {
        p.count("relais.noop", TaskState::Succeeded).await == 3
            && p.count("test.failing", TaskState::Failed).await == 2
    })
    .await;
    eventually("the scheduler waits", || async {
        p.engine.idle_schedulers() == 1
    })
    .await;
    // Two hours later the retention schedule's tick runs: succeeded tasks go, failed ones stay.
    clock.advance(2 * hour);
    eventually("retention ran", || async {
        p.count("relais.retention", TaskState::Succeeded).await == 1
    })
    .await;
    let run = p
        .engine
        .list(&TaskFilter {
            kind: Some("relais.retention".into()),
            limit: 10,
            ..TaskFilter::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        run.result.unwrap()["deleted"],
        json!({"succeeded": 3, "cancelled": 0, "failed": 0, "discarded": 0})
    );
    assert_eq!(p.count("relais.noop", TaskState::Succeeded).await, 0);
    assert_eq!(p.count("test.failing", TaskState::Failed).await, 2);
    p.stop().await;
}

async fn workers_are_registered_and_statistics_reported(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let a = process(&ctx, &clock, &held, Setup::default()).await;
    let b = process(&ctx, &clock, &held, Setup::default()).await;
    eventually("both registered", || async {
        a.engine.workers().await.unwrap().len() == 2
    })
    .await;
    let workers = a.engine.workers().await.unwrap();
    let me = workers
        .iter()
        .find(|w| w.id == a.engine.worker_id())
        .expect("this process is listed");
    assert_eq!(me.queues[0].queue, "default");
    assert_eq!(me.queues[0].concurrency, 10);
    assert_eq!(me.pid, i64::from(std::process::id()));
    enqueue_n(&a, "relais.noop", 3).await;
    enqueue_n(&a, "test.failing", 1).await;
    eventually("all finished", || async {
        a.count("relais.noop", TaskState::Succeeded).await == 3
            && a.count("test.failing", TaskState::Failed).await == 1
    })
    .await;
    let stats = a.engine.stats().await.unwrap();
    assert_eq!(stats.by_state["succeeded"], 3);
    assert_eq!(stats.by_state["failed"], 1);
    assert_eq!(stats.by_kind["test.failing"]["failed"], 1);
    assert_eq!(stats.throughput.last_1m.finished, 4);
    assert_eq!(stats.failure_rate, Some(0.25));
    assert_eq!(stats.durations["relais.noop"].samples, 3);
    assert_eq!(stats.queues.len(), 1);
    b.stop().await;
    let left = a.engine.workers().await.unwrap();
    assert_eq!(left.len(), 1, "a drained process unregisters");
    a.stop().await;
}

const APP: MigrationSet = MigrationSet {
    component: "ops_test",
    migrations: &[Migration {
        version: 1,
        name: "widgets",
        sqlite: "CREATE TABLE widgets (name TEXT NOT NULL)",
        postgres: "CREATE TABLE widgets (name TEXT NOT NULL)",
    }],
};

/// What an app storage module does: its own write in the caller's transaction.
async fn insert_widget(tx: &mut DbTx, name: &str) {
    let sql = "INSERT INTO widgets (name) VALUES ($1)";
    match tx {
        DbTx::Sqlite(tx) => sqlx::query(sql)
            .bind(name)
            .execute(&mut **tx)
            .await
            .map(|_| ()),
        DbTx::Postgres(tx) => sqlx::query(sql)
            .bind(name)
            .execute(&mut **tx)
            .await
            .map(|_| ()),
    }
    .unwrap();
}

async fn tasks_enqueued_in_an_app_transaction_exist_only_if_it_commits(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let p = process(&ctx, &clock, &held, Setup::default()).await;
    p.store.migrate(&[PLATFORM_MIGRATIONS, APP]).await.unwrap();
    let tasks_stored = |store: Arc<dyn Store>| async move {
        store
            .list_tasks(&TaskFilter {
                limit: 10,
                ..TaskFilter::default()
            })
            .await
            .unwrap()
            .len()
    };
    // Rolled back: neither the widget nor the task.
    let mut tx = p.engine.begin().await.unwrap();
    insert_widget(tx.db(), "rolled back").await;
    let (gone, created) = tx
        .enqueue(Enqueue::new("relais.noop", json!({})))
        .await
        .unwrap();
    assert!(created);
    tx.rollback().await.unwrap();
    assert!(p.engine.get(gone.id).await.unwrap().is_none());
    // Dropped without commit: the same.
    let mut tx = p.engine.begin().await.unwrap();
    insert_widget(tx.db(), "dropped").await;
    let (dropped, _) = tx
        .enqueue(Enqueue::new("relais.noop", json!({})))
        .await
        .unwrap();
    drop(tx);
    assert!(p.engine.get(dropped.id).await.unwrap().is_none());
    assert_eq!(tasks_stored(p.store.clone()).await, 0);
    // Committed: both, and the task runs (workers are woken after the commit).
    let mut tx = p.engine.begin().await.unwrap();
    insert_widget(tx.db(), "kept").await;
    let records = tx
        .enqueue_many(vec![
            Enqueue::new("relais.noop", json!({})),
            Enqueue::new("relais.noop", json!({})),
        ])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    eventually("both ran", || async {
        p.count("relais.noop", TaskState::Succeeded).await == 2
    })
    .await;
    assert!(
        records
            .iter()
            .all(|(r, created)| *created && r.state == TaskState::Available)
    );
    let names: Vec<String> = match p.store.db() {
        store::Db::Sqlite { read, .. } => {
            sqlx::query_scalar("SELECT name FROM widgets")
                .fetch_all(read)
                .await
        }
        store::Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT name FROM widgets")
                .fetch_all(pool)
                .await
        }
    }
    .unwrap();
    assert_eq!(names, vec!["kept".to_string()]);
    p.stop().await;
}

/// The worker side of the signal cases: started, listening, idle, on a clock that never moves
/// (so polling and heartbeats cannot be what reaches it).
async fn listening_worker(ctx: &Ctx, clock: &ManualClock, held: &Held) -> Process {
    let worker = process(ctx, clock, held, Setup::default()).await;
    eventually("listening and idle", || async {
        worker.engine.listening() && worker.engine.idle_queues() == 1
    })
    .await;
    worker
}

fn not_started() -> Setup {
    Setup {
        start: false,
        ..Setup::default()
    }
}

async fn an_enqueue_wakes_another_process_at_once(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let worker = listening_worker(&ctx, &clock, &held).await;
    let api = process(&ctx, &clock, &held, not_started()).await;
    for round in 1..=3 {
        enqueue_n(&api, "relais.noop", 2).await;
        eventually("the other process ran them", || async {
            worker.count("relais.noop", TaskState::Succeeded).await == 2 * round
        })
        .await;
        eventually("idle again", || async { worker.engine.idle_queues() == 1 }).await;
    }
    // A resume elsewhere wakes it too.
    api.engine.pause("default", None).await.unwrap();
    enqueue_n(&api, "relais.noop", 1).await;
    api.engine.resume("default", None).await.unwrap();
    eventually("resumed elsewhere", || async {
        worker.count("relais.noop", TaskState::Succeeded).await == 7
    })
    .await;
    api.stop().await;
    worker.stop().await;
}

async fn a_cancel_reaches_the_running_process_at_once(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let worker = listening_worker(&ctx, &clock, &held).await;
    let api = process(&ctx, &clock, &held, not_started()).await;
    let (task, _) = api
        .engine
        .enqueue(Enqueue::new("relais.sleep", json!({"ms": 60_000})))
        .await
        .unwrap();
    eventually("running there", || async {
        worker.count("relais.sleep", TaskState::Running).await == 1
    })
    .await;
    assert!(matches!(
        api.engine.cancel(task.id).await.unwrap(),
        relais_platform::tasks::CancelOutcome::Signalled(_)
    ));
    // The clock never moves: no heartbeat carries the request; the signal does, and
    // `relais.sleep` stops at once.
    eventually("cancelled", || async {
        worker.count("relais.sleep", TaskState::Cancelled).await == 1
    })
    .await;
    api.stop().await;
    worker.stop().await;
}

async fn events_of_tasks_run_elsewhere_reach_this_process(ctx: Ctx) {
    let clock = ManualClock::new(t0());
    let held = Held::default();
    let worker = listening_worker(&ctx, &clock, &held).await;
    let watcher = process(&ctx, &clock, &held, not_started()).await;
    // Not started: it does not listen. Start its listener only (no queue it could claim from).
    let watching = process(
        &ctx,
        &clock,
        &held,
        Setup {
            config: EngineConfig {
                queues: vec![("elsewhere".into(), 1)],
                ..quiet_config()
            },
            ..Setup::default()
        },
    )
    .await;
    eventually("listening", || async { watching.engine.listening() }).await;
    let mut bus = watching.engine.subscribe();
    let (task, _) = watcher
        .engine
        .enqueue(Enqueue::new("relais.noop", json!({})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let wait = async {
        while let Ok(e) = bus.recv().await {
            if e.id == task.id {
                seen.push(e.state);
                if e.state == TaskState::Succeeded {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the events arrived");
    assert_eq!(seen, vec![TaskState::Running, TaskState::Succeeded]);
    watching.stop().await;
    watcher.stop().await;
    worker.stop().await;
}
