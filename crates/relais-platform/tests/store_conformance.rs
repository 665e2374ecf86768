//! Storage conformance: every test runs on SQLite and on PostgreSQL (fresh database each).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use relais_platform::store::{
    self, Migration, MigrationSet, PLATFORM_MIGRATIONS, Store, StoreError,
};
use relais_platform::tasks::{
    CancelOutcome, ExecOptions, NewTask, Outcome, Progress, TaskFilter, TaskState,
};
use relais_testkit::{Ctx, TestBackend, exec, suite};
use uuid::Uuid;

suite!(
    migrations_apply_once_and_report_status,
    status_of_a_fresh_database_is_pending,
    later_versions_apply_incrementally,
    newer_database_is_refused,
    unknown_component_is_refused,
    edited_migration_is_refused,
    failed_migration_leaves_nothing_behind,
    concurrent_migrations_apply_once,
    deployment_is_created_once_and_shared,
    foreign_keys_are_enforced,
    ping_and_pool_stats,
    closing_checkpoints_the_wal => sqlite_only,
    tasks_round_trip,
    unique_key_returns_the_active_task,
    claims_follow_priority_then_schedule,
    concurrent_claims_never_share_a_task,
    finishing_is_fenced_by_attempt_and_worker,
    failures_retry_then_discard_keeping_every_error,
    cancel_queued_and_running_tasks,
    rescue_returns_stale_tasks_and_ignores_late_reports,
    retry_by_hand,
    a_batch_of_outcomes_is_fenced_per_attempt,
    listing_filters_and_pages_newest_first,
);

const V1: Migration = Migration {
    version: 1,
    name: "widgets",
    sqlite: "CREATE TABLE conformance_widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    postgres: "CREATE TABLE conformance_widgets (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
};
const V2: Migration = Migration {
    version: 2,
    name: "parts",
    sqlite: "CREATE TABLE conformance_parts (id INTEGER PRIMARY KEY,
                 widget_id INTEGER NOT NULL REFERENCES conformance_widgets(id));
             CREATE INDEX conformance_parts_widget ON conformance_parts (widget_id);",
    postgres: "CREATE TABLE conformance_parts (id BIGINT PRIMARY KEY,
                 widget_id BIGINT NOT NULL REFERENCES conformance_widgets(id));
             CREATE INDEX conformance_parts_widget ON conformance_parts (widget_id);",
};
const BROKEN: Migration = Migration {
    version: 2,
    name: "broken",
    sqlite: "CREATE TABLE conformance_ok (id INTEGER); THIS IS NOT SQL;",
    postgres: "CREATE TABLE conformance_ok (id BIGINT); THIS IS NOT SQL;",
};
const APP_V1: MigrationSet = MigrationSet {
    component: "conformance",
    migrations: &[V1],
};
const APP_V2: MigrationSet = MigrationSet {
    component: "conformance",
    migrations: &[V1, V2],
};
const APP_BROKEN: MigrationSet = MigrationSet {
    component: "conformance",
    migrations: &[V1, BROKEN],
};

fn sets(app: MigrationSet) -> Vec<MigrationSet> {
    vec![PLATFORM_MIGRATIONS, app]
}

async fn open(ctx: &Ctx) -> std::sync::Arc<dyn store::Store> {
    store::open(&ctx.database).await.expect("open store")
}

async fn migrations_apply_once_and_report_status(ctx: Ctx) {
    let db = open(&ctx).await;
    let report = db.migrate(&sets(APP_V1)).await.unwrap();
    let applied: Vec<_> = report
        .applied
        .iter()
        .map(|(c, v, n)| (c.as_str(), *v, n.as_str()))
        .collect();
    assert_eq!(
        applied,
        vec![
            ("platform", 1, "meta"),
            ("platform", 2, "tasks"),
            ("conformance", 1, "widgets")
        ]
    );
    assert!(report.status.is_current(), "{:?}", report.status);
    let again = db.migrate(&sets(APP_V1)).await.unwrap();
    assert!(
        again.applied.is_empty(),
        "second run applies nothing: {:?}",
        again.applied
    );
    let status = db.schema_status(&sets(APP_V1)).await.unwrap();
    assert_eq!(status, again.status);
    assert!(status.components.iter().all(|c| c.applied_at.is_some()));
    exec(
        &ctx,
        "INSERT INTO conformance_widgets (id, name) VALUES (1, 'a')",
    )
    .await;
    db.close().await;
}

async fn status_of_a_fresh_database_is_pending(ctx: Ctx) {
    let db = open(&ctx).await;
    let status = db.schema_status(&sets(APP_V2)).await.unwrap();
    let versions: Vec<_> = status
        .components
        .iter()
        .map(|c| (c.component.as_str(), c.database, c.binary))
        .collect();
    let platform = PLATFORM_MIGRATIONS.latest();
    assert_eq!(
        versions,
        vec![("platform", 0, platform), ("conformance", 0, 2)]
    );
    assert!(!status.is_current());
    db.close().await;
}

async fn later_versions_apply_incrementally(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    exec(
        &ctx,
        "INSERT INTO conformance_widgets (id, name) VALUES (7, 'kept')",
    )
    .await;
    let report = db.migrate(&sets(APP_V2)).await.unwrap();
    let applied: Vec<_> = report
        .applied
        .iter()
        .map(|(c, v, _)| (c.as_str(), *v))
        .collect();
    assert_eq!(applied, vec![("conformance", 2)]);
    exec(
        &ctx,
        "INSERT INTO conformance_parts (id, widget_id) VALUES (1, 7)",
    )
    .await;
    db.close().await;
}

async fn newer_database_is_refused(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V2)).await.unwrap();
    let err = db.migrate(&sets(APP_V1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                database: 2,
                binary: 1,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("`conformance` is at version 2") && message.contains("newer relais"),
        "{message}"
    );
    // The status seen by the older binary shows the gap without failing.
    let status = db.schema_status(&sets(APP_V1)).await.unwrap();
    assert!(!status.is_current());
    db.close().await;
}

async fn unknown_component_is_refused(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    let err = db.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownComponent { ref component, database: 1 } if component == "conformance"),
        "{err}"
    );
    db.close().await;
}

async fn edited_migration_is_refused(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    const EDITED: MigrationSet = MigrationSet {
        component: "conformance",
        migrations: &[Migration {
            sqlite: "CREATE TABLE other (x)",
            postgres: "CREATE TABLE other (x int)",
            ..V1
        }],
    };
    let err = db.migrate(&sets(EDITED)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ChecksumMismatch { version: 1, .. }),
        "{err}"
    );
    db.close().await;
}

async fn failed_migration_leaves_nothing_behind(ctx: Ctx) {
    let db = open(&ctx).await;
    let err = db.migrate(&sets(APP_BROKEN)).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    // One transaction: neither the platform schema, nor conformance v1, nor v2's first statement stayed.
    let status = db.schema_status(&sets(APP_BROKEN)).await.unwrap();
    assert!(
        status.components.iter().all(|c| c.database == 0),
        "{status:?}"
    );
    let report = db.migrate(&sets(APP_V2)).await.unwrap();
    assert_eq!(
        report.applied.len(),
        PLATFORM_MIGRATIONS.migrations.len() + 2,
        "everything applies once the set is fixed"
    );
    db.close().await;
}

async fn concurrent_migrations_apply_once(ctx: Ctx) {
    // Two stores on one database stand for two processes starting together.
    let (a, b) = (open(&ctx).await, open(&ctx).await);
    let all = sets(APP_V2);
    let (ra, rb) = tokio::join!(a.migrate(&all), b.migrate(&all));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        PLATFORM_MIGRATIONS.migrations.len() + 2,
        "each migration applied exactly once"
    );
    assert!(ra.status.is_current() && rb.status.is_current());
    a.close().await;
    b.close().await;
}

async fn deployment_is_created_once_and_shared(ctx: Ctx) {
    let a = open(&ctx).await;
    a.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    let b = open(&ctx).await;
    let (da, dbb) = tokio::join!(a.deployment(), b.deployment());
    let (da, dbb) = (da.unwrap(), dbb.unwrap());
    assert_eq!(da, dbb);
    assert_eq!(a.deployment().await.unwrap(), da, "stable across calls");
    assert_eq!(uuid::Uuid::parse_str(&da.id).unwrap().get_version_num(), 7);
    a.close().await;
    b.close().await;
}

async fn foreign_keys_are_enforced(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V2)).await.unwrap();
    let insert = "INSERT INTO conformance_parts (id, widget_id) VALUES (1, 999)";
    // Through the store's own connections, which carry its connection settings.
    let result = match db.db() {
        store::Db::Sqlite { write, .. } => sqlx::query(insert).execute(write).await.map(|_| ()),
        store::Db::Postgres(pool) => sqlx::query(insert).execute(pool).await.map(|_| ()),
    };
    let err = result.expect_err("a part referencing no widget is refused");
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
    db.close().await;
}

async fn ping_and_pool_stats(ctx: Ctx) {
    let db = open(&ctx).await;
    db.ping(Duration::from_secs(2)).await.unwrap();
    let stats = db.pool_stats();
    let expected: Vec<(&str, u32)> = match ctx.backend {
        TestBackend::Sqlite => vec![("write", 1), ("read", 4)],
        TestBackend::Postgres => vec![("main", 5)],
    };
    assert_eq!(
        stats.iter().map(|s| (s.name, s.max)).collect::<Vec<_>>(),
        expected
    );
    assert!(stats.iter().all(|s| s.idle <= s.size && s.size <= s.max));
    db.close().await;
    assert!(
        db.ping(Duration::from_secs(1)).await.is_err(),
        "a closed store does not answer"
    );
}

async fn closing_checkpoints_the_wal(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    let store::Db::Sqlite { write, .. } = db.db() else {
        panic!("sqlite store")
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(write)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let wal = ctx.dir.join("relais.db-wal");
    assert!(wal.exists(), "WAL in use while open");
    db.close().await;
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "clean close checkpoints and removes the WAL");
}

// ---- tasks ----

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn new_task(kind: &str) -> NewTask {
    NewTask {
        id: Uuid::now_v7(),
        kind: kind.into(),
        queue: "default".into(),
        args: serde_json::json!({"n": 1, "name": "é"}),
        priority: 0,
        max_attempts: 3,
        scheduled_at: t(0),
        created_at: t(0),
        unique_key: None,
        created_by: Some("conformance".into()),
        options: ExecOptions::default(),
    }
}

async fn migrated(ctx: &Ctx) -> std::sync::Arc<dyn Store> {
    let db = open(ctx).await;
    db.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    db
}

async fn insert(
    db: &std::sync::Arc<dyn Store>,
    task: NewTask,
) -> relais_platform::tasks::TaskRecord {
    let mut out = db.insert_tasks(&[task]).await.unwrap();
    assert!(out[0].1, "inserted");
    out.remove(0).0
}

async fn tasks_round_trip(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mut task = new_task("conformance.echo");
    task.unique_key = Some("k1".into());
    task.priority = -3;
    task.options.soft_limit_ms = Some(1500);
    let created = insert(&db, task.clone()).await;
    assert_eq!(created.state, TaskState::Available);
    assert_eq!(
        (
            created.id,
            created.kind.as_str(),
            created.args.clone(),
            created.priority,
            created.max_attempts
        ),
        (task.id, "conformance.echo", task.args.clone(), -3, 3)
    );
    assert_eq!(
        (created.attempt, created.scheduled_at, created.created_at),
        (0, t(0), t(0))
    );
    assert_eq!(created.options, task.options);
    assert_eq!(created.unique_key.as_deref(), Some("k1"));
    assert_eq!(db.get_task(task.id).await.unwrap().unwrap(), created);
    let plain = new_task("conformance.plain");
    let inserted = insert(&db, plain.clone()).await;
    assert_eq!(
        db.get_task(plain.id).await.unwrap().unwrap(),
        inserted,
        "multi-row insert path"
    );
    let later = NewTask {
        scheduled_at: t(60),
        ..new_task("conformance.echo")
    };
    assert_eq!(insert(&db, later).await.state, TaskState::Scheduled);
    assert!(db.get_task(Uuid::now_v7()).await.unwrap().is_none());
    db.close().await;
}

async fn unique_key_returns_the_active_task(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let keyed = |k: &str| NewTask {
        unique_key: Some(k.into()),
        ..new_task("conformance.unique")
    };
    let first = insert(&db, keyed("report-42")).await;
    let again = db
        .insert_tasks(&[keyed("report-42"), keyed("other")])
        .await
        .unwrap();
    assert_eq!(
        (again[0].0.id, again[0].1),
        (first.id, false),
        "same task returned"
    );
    assert!(again[1].1, "another key is independent");
    // Still unique while running; free again once finished.
    let claimed = db.claim_tasks("default", "w1", 10, t(1)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(!db.insert_tasks(&[keyed("report-42")]).await.unwrap()[0].1);
    db.finish_task(
        first.id,
        1,
        "w1",
        &Outcome::Succeeded(serde_json::json!(null)),
        t(2),
    )
    .await
    .unwrap()
    .unwrap();
    let fresh = db.insert_tasks(&[keyed("report-42")]).await.unwrap();
    assert!(
        fresh[0].1 && fresh[0].0.id != first.id,
        "a finished task does not hold its key"
    );
    db.close().await;
}

async fn claims_follow_priority_then_schedule(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mk = |priority, at, queue: &str| NewTask {
        priority,
        scheduled_at: t(at),
        queue: queue.into(),
        ..new_task("conformance.order")
    };
    let low_early = insert(&db, mk(0, -10, "default")).await;
    let high_late = insert(&db, mk(5, -1, "default")).await;
    let high_early = insert(&db, mk(5, -5, "default")).await;
    let future = insert(
        &db,
        NewTask {
            created_at: t(-20),
            ..mk(9, 30, "default")
        },
    )
    .await;
    let other_queue = insert(&db, mk(9, -10, "other")).await;
    let claimed = db.claim_tasks("default", "w1", 2, t(0)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![high_early.id, high_late.id]
    );
    for c in &claimed {
        assert_eq!(
            (c.state, c.attempt, c.worker.as_deref()),
            (TaskState::Running, 1, Some("w1"))
        );
        assert_eq!((c.started_at, c.heartbeat_at), (Some(t(0)), Some(t(0))));
    }
    let rest = db.claim_tasks("default", "w1", 10, t(0)).await.unwrap();
    assert_eq!(
        rest.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![low_early.id],
        "future task not due"
    );
    assert!(
        db.claim_tasks("default", "w1", 10, t(29))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.claim_tasks("default", "w1", 10, t(30)).await.unwrap()[0].id,
        future.id
    );
    assert_eq!(
        db.claim_tasks("other", "w2", 10, t(0)).await.unwrap()[0].id,
        other_queue.id
    );
    db.close().await;
}

async fn concurrent_claims_never_share_a_task(ctx: Ctx) {
    let (a, b) = (migrated(&ctx).await, open(&ctx).await);
    let tasks: Vec<NewTask> = (0..300).map(|_| new_task("conformance.race")).collect();
    a.insert_tasks(&tasks).await.unwrap();
    let drain = |db: std::sync::Arc<dyn Store>, worker: &'static str| async move {
        let mut got = Vec::new();
        loop {
            let batch = db.claim_tasks("default", worker, 7, t(0)).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|c| c.id));
        }
    };
    let (ga, gb) = tokio::join!(drain(a.clone(), "wa"), drain(b.clone(), "wb"));
    let mut all: Vec<Uuid> = ga.iter().chain(gb.iter()).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(ga.len() + gb.len(), 300, "every task claimed once");
    assert_eq!(all.len(), 300, "no task claimed twice");
    a.close().await;
    b.close().await;
}

async fn finishing_is_fenced_by_attempt_and_worker(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let task = insert(&db, new_task("conformance.fence")).await;
    db.claim_tasks("default", "w1", 1, t(1)).await.unwrap();
    let ok = Outcome::Succeeded(serde_json::json!({"rows": 3}));
    let progress = Progress {
        percent: 40.0,
        message: Some("step 2".into()),
        details: Some(serde_json::json!({"k": 1})),
    };
    assert!(
        !db.set_progress(task.id, 1, "w2", &progress).await.unwrap(),
        "another worker's progress"
    );
    assert!(db.set_progress(task.id, 1, "w1", &progress).await.unwrap());
    assert_eq!(
        db.get_task(task.id).await.unwrap().unwrap().progress,
        progress
    );
    assert!(
        db.finish_task(task.id, 1, "w2", &ok, t(2))
            .await
            .unwrap()
            .is_none(),
        "wrong worker"
    );
    assert!(
        db.finish_task(task.id, 2, "w1", &ok, t(2))
            .await
            .unwrap()
            .is_none(),
        "wrong attempt"
    );
    let done = db
        .finish_task(task.id, 1, "w1", &ok, t(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.state, done.result.clone(), done.finished_at),
        (
            TaskState::Succeeded,
            Some(serde_json::json!({"rows": 3})),
            Some(t(2))
        )
    );
    assert_eq!(done.progress.percent, 100.0);
    assert!(
        db.finish_task(task.id, 1, "w1", &Outcome::Cancelled, t(3))
            .await
            .unwrap()
            .is_none(),
        "recorded once"
    );
    assert!(!db.set_progress(task.id, 1, "w1", &progress).await.unwrap());
    db.close().await;
}

async fn failures_retry_then_discard_keeping_every_error(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let task = insert(
        &db,
        NewTask {
            max_attempts: 2,
            ..new_task("conformance.flaky")
        },
    )
    .await;
    let fail = |msg: &str, retry_at, timed_out| Outcome::Failed {
        error: msg.into(),
        timed_out,
        retry_at,
    };
    db.claim_tasks("default", "w1", 1, t(0)).await.unwrap();
    let retryable = db
        .finish_task(task.id, 1, "w1", &fail("boom 1", Some(t(10)), false), t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            retryable.state,
            retryable.scheduled_at,
            retryable.finished_at
        ),
        (TaskState::Retryable, t(10), None)
    );
    assert!(
        db.claim_tasks("default", "w1", 1, t(9))
            .await
            .unwrap()
            .is_empty(),
        "not before its retry time"
    );
    assert_eq!(
        db.claim_tasks("default", "w1", 1, t(10)).await.unwrap()[0].attempt,
        2
    );
    let discarded = db
        .finish_task(task.id, 2, "w1", &fail("boom 2", Some(t(30)), true), t(11))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (discarded.state, discarded.finished_at),
        (TaskState::Discarded, Some(t(11)))
    );
    let counts = db.task_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![("conformance.flaky".to_owned(), TaskState::Discarded, 1)]
    );
    let errors = db.task_errors(task.id).await.unwrap();
    let summary: Vec<_> = errors
        .iter()
        .map(|e| (e.attempt, e.message.as_str(), e.timed_out, e.at))
        .collect();
    assert_eq!(
        summary,
        vec![(1, "boom 1", false, t(1)), (2, "boom 2", true, t(11))]
    );
    let permanent = insert(&db, new_task("conformance.bad_input")).await;
    db.claim_tasks("default", "w1", 1, t(20)).await.unwrap();
    let failed = db
        .finish_task(
            permanent.id,
            1,
            "w1",
            &fail("bad input", None, false),
            t(21),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        failed.state,
        TaskState::Failed,
        "no retry time: failed at once"
    );
    db.close().await;
}

async fn cancel_queued_and_running_tasks(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let queued = insert(&db, new_task("conformance.cancel")).await;
    match db.cancel_task(queued.id, t(1)).await.unwrap() {
        CancelOutcome::Cancelled(r) => {
            assert_eq!((r.state, r.finished_at), (TaskState::Cancelled, Some(t(1))))
        }
        other => panic!("queued task: {other:?}"),
    }
    assert!(
        db.claim_tasks("default", "w1", 10, t(2))
            .await
            .unwrap()
            .is_empty(),
        "a cancelled task never runs"
    );
    let running = insert(&db, new_task("conformance.cancel")).await;
    db.claim_tasks("default", "w1", 1, t(2)).await.unwrap();
    assert_eq!(
        db.heartbeat_tasks("w1", t(3)).await.unwrap(),
        vec![(running.id, false)]
    );
    assert!(
        matches!(db.cancel_task(running.id, t(4)).await.unwrap(), CancelOutcome::Signalled(r) if r.state == TaskState::Running)
    );
    assert_eq!(
        db.heartbeat_tasks("w1", t(5)).await.unwrap(),
        vec![(running.id, true)],
        "the worker learns of it"
    );
    assert!(db.heartbeat_tasks("w2", t(5)).await.unwrap().is_empty());
    let stopped = db
        .finish_task(running.id, 1, "w1", &Outcome::Cancelled, t(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.state, TaskState::Cancelled);
    assert!(
        matches!(db.cancel_task(running.id, t(7)).await.unwrap(), CancelOutcome::AlreadyFinal(r) if r.state == TaskState::Cancelled)
    );
    assert_eq!(
        db.cancel_task(Uuid::now_v7(), t(7)).await.unwrap(),
        CancelOutcome::NotFound
    );
    db.close().await;
}

async fn rescue_returns_stale_tasks_and_ignores_late_reports(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let lost = insert(&db, new_task("conformance.lost")).await;
    let last_try = insert(
        &db,
        NewTask {
            max_attempts: 1,
            ..new_task("conformance.lost")
        },
    )
    .await;
    let cancelling = insert(&db, new_task("conformance.lost")).await;
    let alive = insert(&db, new_task("conformance.alive")).await;
    db.claim_tasks("default", "dead", 3, t(0)).await.unwrap();
    db.cancel_task(cancelling.id, t(1)).await.unwrap();
    db.claim_tasks("default", "live", 1, t(0)).await.unwrap();
    db.heartbeat_tasks("live", t(50)).await.unwrap();
    let mut rescued = db.rescue_tasks(t(30), t(60)).await.unwrap();
    rescued.sort_by_key(|r| r.id);
    let mut expected = vec![
        (lost.id, TaskState::Retryable),
        (last_try.id, TaskState::Discarded),
        (cancelling.id, TaskState::Cancelled),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(
        rescued.iter().map(|r| (r.id, r.state)).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        db.get_task(alive.id).await.unwrap().unwrap().state,
        TaskState::Running,
        "a beating worker keeps its task"
    );
    let late = Outcome::Succeeded(serde_json::json!("late"));
    assert!(
        db.finish_task(lost.id, 1, "dead", &late, t(61))
            .await
            .unwrap()
            .is_none(),
        "late report ignored"
    );
    let again = db.claim_tasks("default", "live", 5, t(60)).await.unwrap();
    assert_eq!(
        again.iter().map(|c| (c.id, c.attempt)).collect::<Vec<_>>(),
        vec![(lost.id, 2)]
    );
    assert!(
        db.finish_task(lost.id, 1, "dead", &late, t(62))
            .await
            .unwrap()
            .is_none(),
        "still ignored after re-claim"
    );
    let errors = db.task_errors(lost.id).await.unwrap();
    assert!(
        errors[0]
            .message
            .contains("worker dead stopped sending heartbeats"),
        "{errors:?}"
    );
    assert!(
        db.rescue_tasks(t(30), t(63)).await.unwrap().is_empty(),
        "rescued once"
    );
    db.close().await;
}

async fn retry_by_hand(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let keyed = || NewTask {
        max_attempts: 1,
        unique_key: Some("only-one".into()),
        ..new_task("conformance.manual")
    };
    let task = insert(&db, keyed()).await;
    db.claim_tasks("default", "w1", 1, t(0)).await.unwrap();
    let fail = Outcome::Failed {
        error: "x".into(),
        timed_out: false,
        retry_at: Some(t(5)),
    };
    assert_eq!(
        db.finish_task(task.id, 1, "w1", &fail, t(1))
            .await
            .unwrap()
            .unwrap()
            .state,
        TaskState::Discarded
    );
    let retried = db.retry_task(task.id, t(2)).await.unwrap().unwrap();
    assert_eq!(
        (
            retried.state,
            retried.max_attempts,
            retried.scheduled_at,
            retried.finished_at
        ),
        (TaskState::Available, 2, t(2), None)
    );
    assert!(
        db.retry_task(task.id, t(3)).await.unwrap().is_none(),
        "only final tasks are retried by hand"
    );
    assert_eq!(
        db.claim_tasks("default", "w1", 1, t(3)).await.unwrap()[0].attempt,
        2
    );
    db.finish_task(task.id, 2, "w1", &Outcome::Cancelled, t(4))
        .await
        .unwrap()
        .unwrap();
    let holder = insert(&db, keyed()).await;
    let err = db.retry_task(task.id, t(5)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        db.get_task(holder.id).await.unwrap().unwrap().state,
        TaskState::Available
    );
    db.close().await;
}

async fn a_batch_of_outcomes_is_fenced_per_attempt(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let tasks: Vec<NewTask> = (0..4).map(|_| new_task("conformance.batch")).collect();
    db.insert_tasks(&tasks).await.unwrap();
    db.claim_tasks("default", "w1", 4, t(0)).await.unwrap();
    let ok = |v: i64| Outcome::Succeeded(serde_json::json!(v));
    let fail = Outcome::Failed {
        error: "x".into(),
        timed_out: false,
        retry_at: Some(t(9)),
    };
    let items = vec![
        (tasks[0].id, 1, ok(0)),
        (tasks[1].id, 2, ok(1)), // not this attempt
        (tasks[2].id, 1, fail),
        (tasks[3].id, 1, ok(3)),
    ];
    let states = db.finish_tasks("w1", &items, t(1)).await.unwrap();
    assert_eq!(
        states,
        vec![
            Some(TaskState::Succeeded),
            None,
            Some(TaskState::Retryable),
            Some(TaskState::Succeeded)
        ]
    );
    assert_eq!(
        db.get_task(tasks[3].id).await.unwrap().unwrap().result,
        Some(serde_json::json!(3)),
        "each its own result"
    );
    assert_eq!(
        db.get_task(tasks[1].id).await.unwrap().unwrap().state,
        TaskState::Running
    );
    db.close().await;
}

async fn listing_filters_and_pages_newest_first(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let kind = if i % 2 == 0 {
            "conformance.even"
        } else {
            "conformance.odd"
        };
        let task = NewTask {
            created_at: t(i),
            scheduled_at: t(i),
            queue: if i < 5 {
                "default".into()
            } else {
                "other".into()
            },
            ..new_task(kind)
        };
        ids.push(insert(&db, task).await.id);
    }
    db.claim_tasks("default", "w1", 1, t(10)).await.unwrap(); // the highest priority, oldest: ids[0]
    let list = |f: TaskFilter| {
        let db = db.clone();
        async move {
            db.list_tasks(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let all = list(TaskFilter {
        limit: 100,
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(
        all,
        ids.iter().rev().copied().collect::<Vec<_>>(),
        "newest first"
    );
    let page1 = list(TaskFilter {
        limit: 3,
        ..TaskFilter::default()
    })
    .await;
    let page2 = list(TaskFilter {
        limit: 3,
        before: page1.last().copied(),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(
        [page1.clone(), page2].concat(),
        all[..6].to_vec(),
        "the cursor continues where the page ended"
    );
    let evens = list(TaskFilter {
        kind: Some("conformance.even".into()),
        limit: 100,
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(evens, vec![ids[6], ids[4], ids[2], ids[0]]);
    let other = list(TaskFilter {
        queue: Some("other".into()),
        limit: 100,
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(other, vec![ids[6], ids[5]]);
    let running = list(TaskFilter {
        states: vec![TaskState::Running],
        limit: 100,
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(running, vec![ids[0]]);
    let both = list(TaskFilter {
        states: vec![TaskState::Running, TaskState::Available],
        kind: Some("conformance.odd".into()),
        limit: 100,
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(both, vec![ids[5], ids[3], ids[1]]);
    let window = list(TaskFilter {
        created_from: Some(t(2)),
        created_to: Some(t(4)),
        limit: 100,
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(window, vec![ids[3], ids[2]]);
    db.close().await;
}
