//! The task operations role: limited claims, queue pause, workers, schedules, statistics and
//! retention.

use relais_platform::rate::Rate;
use relais_platform::tasks::{
    KindLimit, NewTask, Outcome, TaskState, TickOutcome, WorkerInfo, WorkerQueue,
};
use relais_testkit::Ctx;

use crate::open;
use crate::tasks::{insert, migrated, new_task, t};

fn limit(kind: &str, rate: Option<&str>, concurrency: Option<u32>) -> KindLimit {
    KindLimit {
        kind: kind.into(),
        rate: rate.map(|r| r.parse::<Rate>().unwrap()),
        concurrency,
    }
}

pub(crate) async fn limited_claims_respect_rate_and_concurrency(ctx: Ctx) {
    let db = migrated(&ctx).await;
    for _ in 0..5 {
        insert(&db, new_task("ops.rated")).await;
        insert(&db, new_task("ops.capped")).await;
        insert(&db, new_task("ops.free")).await;
    }
    let limits = [
        limit("ops.rated", Some("2/10s"), None),
        limit("ops.capped", None, Some(3)),
    ];
    let first = db
        .claim_limited("default", "w1", 100, t(0), &limits)
        .await
        .unwrap();
    let count = |kind: &str| first.tasks.iter().filter(|x| x.kind == kind).count();
    assert_eq!(
        (count("ops.rated"), count("ops.capped"), count("ops.free")),
        (2, 3, 5)
    );
    assert!(first.tasks.iter().all(|x| x.state == TaskState::Running));
    assert_eq!(
        first.next_token_at,
        Some(t(5)),
        "2/10s gives a token every 5 s"
    );
    // Another worker (another process) sees the same budgets.
    let second = db
        .claim_limited("default", "w2", 100, t(1), &limits)
        .await
        .unwrap();
    assert!(second.tasks.is_empty(), "{:?}", second.tasks);
    let third = db
        .claim_limited("default", "w2", 100, t(5), &limits)
        .await
        .unwrap();
    assert_eq!(third.tasks.len(), 1);
    assert_eq!(third.tasks[0].kind, "ops.rated");
    // A capped task ends: one more may start.
    let capped = first.tasks.iter().find(|x| x.kind == "ops.capped").unwrap();
    db.finish_tasks(
        "w1",
        &[(
            capped.id,
            capped.attempt,
            Outcome::Succeeded(serde_json::Value::Null),
        )],
        t(6),
    )
    .await
    .unwrap();
    let fourth = db
        .claim_limited("default", "w2", 100, t(6), &limits)
        .await
        .unwrap();
    assert_eq!(
        fourth
            .tasks
            .iter()
            .map(|x| x.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["ops.capped"]
    );
    db.close().await;
}

pub(crate) async fn limited_claims_skip_held_back_kinds_in_order(ctx: Ctx) {
    let db = migrated(&ctx).await;
    // Ten limited tasks ahead of three free ones: a claim of 4 must reach past the held-back kind.
    for _ in 0..10 {
        insert(
            &db,
            NewTask {
                priority: 5,
                ..new_task("ops.capped")
            },
        )
        .await;
    }
    for _ in 0..3 {
        insert(&db, new_task("ops.free")).await;
    }
    let claim = db
        .claim_limited(
            "default",
            "w1",
            4,
            t(0),
            &[limit("ops.capped", None, Some(1))],
        )
        .await
        .unwrap();
    let kinds: Vec<_> = claim.tasks.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["ops.capped", "ops.free", "ops.free", "ops.free"]
    );
    assert_eq!(claim.next_token_at, None, "no rate limit, no token time");
    db.close().await;
}

pub(crate) async fn concurrent_limited_claims_share_the_budget(ctx: Ctx) {
    let db = migrated(&ctx).await;
    for _ in 0..40 {
        insert(&db, new_task("ops.capped")).await;
    }
    // Two stores stand for two processes; each claims in several rounds at once.
    let (a, b) = (open(&ctx).await, open(&ctx).await);
    let limits = [limit("ops.capped", Some("7/h"), Some(5))];
    let claim = |db: std::sync::Arc<dyn relais_platform::store::Store>, w: &'static str| {
        let limits = limits.clone();
        async move {
            let mut n = 0;
            for _ in 0..5 {
                n += db
                    .claim_limited("default", w, 3, t(0), &limits)
                    .await
                    .unwrap()
                    .tasks
                    .len();
            }
            n
        }
    };
    let (na, nb) = tokio::join!(claim(a.clone(), "wa"), claim(b.clone(), "wb"));
    assert_eq!(na + nb, 5, "the concurrency limit holds across processes");
    a.close().await;
    b.close().await;
    db.close().await;
}

pub(crate) async fn paused_queues_are_not_claimed(ctx: Ctx) {
    let db = migrated(&ctx).await;
    insert(&db, new_task("ops.free")).await;
    let paused = db
        .set_queue_paused("default", true, Some("ops"), t(1))
        .await
        .unwrap();
    assert!(paused.paused);
    assert_eq!(
        (paused.changed_at, paused.changed_by.as_deref()),
        (t(1), Some("ops"))
    );
    assert!(
        db.claim_tasks("default", "w1", 10, t(2))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.claim_limited("default", "w1", 10, t(2), &[limit("x", None, Some(1))])
            .await
            .unwrap()
            .tasks
            .is_empty()
    );
    assert_eq!(db.queue_states().await.unwrap(), vec![paused]);
    db.set_queue_paused("default", false, None, t(3))
        .await
        .unwrap();
    assert_eq!(
        db.claim_tasks("default", "w1", 10, t(3))
            .await
            .unwrap()
            .len(),
        1
    );
    db.close().await;
}

pub(crate) async fn workers_register_beat_and_are_pruned(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mut w = WorkerInfo {
        id: "host-1".into(),
        host: "host".into(),
        pid: 42,
        version: "0.1.0".into(),
        queues: vec![WorkerQueue {
            queue: "default".into(),
            concurrency: 10,
        }],
        started_at: t(0),
        heartbeat_at: t(0),
        running: 0,
    };
    db.upsert_worker(&w).await.unwrap();
    w.heartbeat_at = t(30);
    w.running = 3;
    db.upsert_worker(&w).await.unwrap();
    let other = WorkerInfo {
        id: "host-2".into(),
        started_at: t(5),
        heartbeat_at: t(5),
        ..w.clone()
    };
    db.upsert_worker(&other).await.unwrap();
    assert_eq!(db.list_workers().await.unwrap(), vec![w.clone(), other]);
    assert_eq!(db.prune_workers(t(10)).await.unwrap(), 1);
    db.remove_worker("host-1").await.unwrap();
    assert!(db.list_workers().await.unwrap().is_empty());
    db.close().await;
}

pub(crate) async fn a_tick_is_enqueued_once(ctx: Ctx) {
    let db = migrated(&ctx).await;
    assert_eq!(
        db.init_schedule("nightly", "0 3 * * *", t(0))
            .await
            .unwrap(),
        t(0)
    );
    assert_eq!(
        db.init_schedule("nightly", "0 3 * * *", t(50))
            .await
            .unwrap(),
        t(0),
        "an existing schedule keeps its last tick"
    );
    let tick = |s: i64| {
        let mut task = new_task("ops.nightly");
        task.unique_key = Some(format!("schedule:nightly:{s}"));
        task
    };
    // Two processes race for the same tick.
    let (a, b) = (open(&ctx).await, open(&ctx).await);
    let (ta, tb) = (tick(100), tick(100));
    let (ra, rb) = tokio::join!(
        a.enqueue_tick("nightly", "0 3 * * *", t(100), &ta),
        b.enqueue_tick("nightly", "0 3 * * *", t(100), &tb)
    );
    let outcomes = [ra.unwrap(), rb.unwrap()];
    let enqueued: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, TickOutcome::Enqueued(_)))
        .collect();
    assert_eq!(enqueued.len(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&TickOutcome::AlreadyDone));
    assert_eq!(
        db.enqueue_tick("nightly", "0 3 * * *", t(90), &tick(90))
            .await
            .unwrap(),
        TickOutcome::AlreadyDone,
        "an older tick is never enqueued after a newer one"
    );
    assert!(matches!(
        db.enqueue_tick("nightly", "0 3 * * *", t(200), &tick(200))
            .await
            .unwrap(),
        TickOutcome::Enqueued(_)
    ));
    let counts = db.task_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![("ops.nightly".to_string(), TaskState::Available, 2)]
    );
    a.close().await;
    b.close().await;
    db.close().await;
}

pub(crate) async fn statistics_and_retention(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let task = insert(&db, new_task(if i < 4 { "ops.a" } else { "ops.b" })).await;
        ids.push(task.id);
    }
    let waiting = insert(
        &db,
        NewTask {
            scheduled_at: t(1000),
            ..new_task("ops.a")
        },
    )
    .await;
    let claimed = db.claim_tasks("default", "w1", 6, t(10)).await.unwrap();
    assert_eq!(claimed.len(), 6);
    let outcome = |i: usize| match i {
        0..=2 => Outcome::Succeeded(serde_json::Value::Null),
        3 => Outcome::Failed {
            error: "boom".into(),
            timed_out: false,
            retry_at: None,
        },
        _ => Outcome::Cancelled,
    };
    // Finished 2, 3 and 4 seconds after starting, at t(12)…t(14).
    for (i, task) in claimed.iter().enumerate() {
        db.finish_tasks(
            "w1",
            &[(task.id, task.attempt, outcome(i))],
            t(12 + (i as i64 % 3)),
        )
        .await
        .unwrap();
    }
    let finished = db.finished_counts(t(20)).await.unwrap();
    let total: i64 = finished.iter().map(|f| f.last_1m).sum();
    assert_eq!(total, 6);
    assert!(
        finished
            .iter()
            .any(|f| f.kind == "ops.a" && f.state == TaskState::Failed && f.last_15m == 1)
    );
    assert_eq!(
        db.finished_counts(t(200))
            .await
            .unwrap()
            .iter()
            .map(|f| f.last_1m)
            .sum::<i64>(),
        0,
        "outside the last minute"
    );
    let mut durations: Vec<i64> = db
        .recent_durations(t(0), 100)
        .await
        .unwrap()
        .iter()
        .map(|d| d.micros)
        .collect();
    durations.sort_unstable();
    assert_eq!(durations, vec![2_000_000, 3_000_000, 4_000_000]);
    let depths = db.queue_depths(t(20)).await.unwrap();
    assert_eq!(depths.len(), 1);
    assert_eq!(
        (depths[0].due, depths[0].scheduled, depths[0].running),
        (0, 1, 0)
    );
    // Retention: succeeded before t(13) goes (two of three), the rest stays.
    assert_eq!(
        db.delete_finished(TaskState::Succeeded, t(13), 1)
            .await
            .unwrap(),
        1,
        "batches are bounded"
    );
    assert_eq!(
        db.delete_finished(TaskState::Succeeded, t(13), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.delete_finished(TaskState::Succeeded, t(100), 100)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        db.delete_finished(TaskState::Failed, t(100), 100)
            .await
            .unwrap(),
        1
    );
    assert!(
        db.task_errors(claimed[3].id).await.unwrap().is_empty(),
        "errors go with their task"
    );
    assert!(db.get_task(waiting.id).await.unwrap().is_some());
    db.close().await;
}
