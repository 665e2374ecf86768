//! The task storage role.

use chrono::{DateTime, TimeZone, Utc};
use relais_platform::store::{PLATFORM_MIGRATIONS, Store, StoreError};
use relais_platform::tasks::{
    CancelOutcome, ExecOptions, NewTask, Outcome, Progress, TaskFilter, TaskState,
};
use relais_testkit::Ctx;
use uuid::Uuid;

use crate::open;

pub(crate) fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

pub(crate) fn new_task(kind: &str) -> NewTask {
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

pub(crate) async fn migrated(ctx: &Ctx) -> std::sync::Arc<dyn Store> {
    let db = open(ctx).await;
    db.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    db
}

pub(crate) async fn insert(
    db: &std::sync::Arc<dyn Store>,
    task: NewTask,
) -> relais_platform::tasks::TaskRecord {
    let mut out = db.insert_tasks(&[task]).await.unwrap();
    assert!(out[0].1, "inserted");
    out.remove(0).0
}

pub(crate) async fn tasks_round_trip(ctx: Ctx) {
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

pub(crate) async fn unique_key_returns_the_active_task(ctx: Ctx) {
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

pub(crate) async fn claims_follow_priority_then_schedule(ctx: Ctx) {
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

pub(crate) async fn concurrent_claims_never_share_a_task(ctx: Ctx) {
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

pub(crate) async fn finishing_is_fenced_by_attempt_and_worker(ctx: Ctx) {
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

pub(crate) async fn failures_retry_then_discard_keeping_every_error(ctx: Ctx) {
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

pub(crate) async fn cancel_queued_and_running_tasks(ctx: Ctx) {
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

pub(crate) async fn rescue_returns_stale_tasks_and_ignores_late_reports(ctx: Ctx) {
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

pub(crate) async fn retry_by_hand(ctx: Ctx) {
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

pub(crate) async fn a_batch_of_outcomes_is_fenced_per_attempt(ctx: Ctx) {
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

/// Batches are written in statements of a few fixed sizes (split, or padded by repeating a row):
/// every task of an odd-sized batch is inserted once and gets its own outcome.
pub(crate) async fn large_batches_keep_each_task_apart(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let tasks: Vec<NewTask> = (0..301).map(|_| new_task("conformance.large")).collect();
    let inserted = db.insert_tasks(&tasks).await.unwrap();
    assert_eq!(inserted.len(), 301);
    let claimed = db.claim_tasks("default", "w1", 500, t(0)).await.unwrap();
    assert_eq!(claimed.len(), 301, "every task inserted once");
    let items: Vec<_> = tasks
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, task)| (task.id, 1, Outcome::Succeeded(serde_json::json!(i))))
        .collect();
    let states = db.finish_tasks("w1", &items, t(1)).await.unwrap();
    assert_eq!(states, vec![Some(TaskState::Succeeded); 300]);
    for (i, task) in tasks.iter().enumerate() {
        let record = db.get_task(task.id).await.unwrap().unwrap();
        if i == 0 {
            assert_eq!(record.state, TaskState::Running);
        } else {
            assert_eq!(record.result, Some(serde_json::json!(i)), "task {i}");
        }
    }
    db.close().await;
}

/// Counts are read per lifecycle stage (queued, running, finished): every state of every kind
/// is counted once.
pub(crate) async fn counts_cover_every_state_of_every_kind(ctx: Ctx) {
    let db = migrated(&ctx).await;
    for kind in ["conformance.a", "conformance.b"] {
        // Claimed in order: succeeded, failed (permanent), retryable, cancelled, discarded, running.
        for _ in 0..6 {
            insert(&db, new_task(kind)).await;
        }
        let mut last = new_task(kind);
        last.max_attempts = 1;
        let claimed = db.claim_tasks("default", "w1", 6, t(1)).await.unwrap();
        assert_eq!(claimed.len(), 6);
        let fail = |retry: bool| Outcome::Failed {
            error: "x".into(),
            timed_out: false,
            retry_at: retry.then(|| t(100)),
        };
        let items = vec![
            (claimed[0].id, 1, Outcome::Succeeded(serde_json::json!(1))),
            (claimed[1].id, 1, fail(false)),
            (claimed[2].id, 1, fail(true)),
            (claimed[3].id, 1, Outcome::Cancelled),
        ];
        db.finish_tasks("w1", &items, t(2)).await.unwrap();
        let once = insert(&db, last).await;
        db.claim_tasks("default", "w1", 1, t(3)).await.unwrap();
        db.finish_task(once.id, 1, "w1", &fail(true), t(4))
            .await
            .unwrap()
            .unwrap();
    }
    for kind in ["conformance.a", "conformance.b"] {
        insert(&db, new_task(kind)).await; // available
        let mut later = new_task(kind);
        later.scheduled_at = t(500);
        insert(&db, later).await; // scheduled
    }
    let counts = db.task_counts().await.unwrap();
    let mut expected = Vec::new();
    for kind in ["conformance.a", "conformance.b"] {
        for (state, n) in [
            (TaskState::Available, 1),
            (TaskState::Cancelled, 1),
            (TaskState::Discarded, 1),
            (TaskState::Failed, 1),
            (TaskState::Retryable, 1),
            (TaskState::Running, 2),
            (TaskState::Scheduled, 1),
            (TaskState::Succeeded, 1),
        ] {
            expected.push((kind.to_owned(), state, n));
        }
    }
    assert_eq!(counts, expected);
    let depths = db.queue_depths(t(10)).await.unwrap();
    assert_eq!(depths.len(), 1);
    let d = &depths[0];
    assert_eq!((d.due, d.scheduled, d.running), (2, 4, 4), "{d:?}");
    assert_eq!(d.oldest_due_at, Some(t(0)));
    db.close().await;
}

pub(crate) async fn listing_filters_and_pages_newest_first(ctx: Ctx) {
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
