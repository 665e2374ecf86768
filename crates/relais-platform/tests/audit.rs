//! The audit trail service: records resolve once durable, group commit, backpressure, failures,
//! drain, two writers (two processes) on one database, verification of tampered chains, and
//! retention through the task engine. Every case runs on SQLite and PostgreSQL; tests wait on
//! the writer's progress counters and on futures, never on wall-clock time.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::poll;
use relais_platform::audit::chain::link;
use relais_platform::audit::{
    Audit, AuditConfig, AuditError, AuditFilter, AuditRecord, AuditRetention, LinkProblem, Params,
};
use relais_platform::clock::{ManualClock, SystemClock};
use relais_platform::store::{self, DbTx, PLATFORM_MIGRATIONS, Store};
use relais_platform::tasks::{Engine, EngineConfig, Enqueue, Task, TaskState};
use relais_testkit::{Ctx, exec, suite};
use serde_json::json;

suite!(
    records_resolve_once_durable_and_the_chain_verifies,
    concurrent_records_are_committed_together,
    a_full_queue_makes_callers_wait_and_drops_nothing,
    a_failed_batch_fails_its_callers_and_leaves_the_chain_whole,
    drain_writes_what_is_queued_then_refuses_new_records,
    two_writers_on_one_database_extend_one_chain,
    verify_names_the_first_broken_link,
    retention_prunes_old_records_and_verify_starts_at_the_anchor,
);

async fn migrated(ctx: &Ctx) -> Arc<dyn Store> {
    let db = store::open(&ctx.database).await.unwrap();
    db.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    db
}

fn audit(db: &Arc<dyn Store>, config: AuditConfig) -> Audit {
    Audit::start(db.clone(), Arc::new(SystemClock), config).unwrap()
}

fn rec(audit: &Audit, actor: &str, n: usize) -> AuditRecord {
    AuditRecord::new(audit.now(), actor, "POST /api/tasks")
        .resource("tasks", Some(format!("task-{n}")))
        .params(Params::summarise(
            json!({ "n": n, "token": "secret-value" }),
        ))
}

/// Takes the chain head's lock (what a writer of another process holds while it commits), so
/// this process's writer waits. Dropping the guard releases it.
async fn hold_chain(db: &Arc<dyn Store>) -> DbTx {
    let mut tx = db.begin().await.unwrap();
    // SQLite: `begin` holds the one write connection (BEGIN IMMEDIATE), which the writer needs.
    if let DbTx::Postgres(pg) = &mut tx {
        sqlx::query("SELECT head_seq FROM relais_audit_chain WHERE id = 1 FOR UPDATE")
            .execute(&mut **pg)
            .await
            .unwrap();
    }
    tx
}

async fn records_resolve_once_durable_and_the_chain_verifies(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let audit = audit(&db, AuditConfig::default());
    for n in 1..=10 {
        let receipt = audit.record(rec(&audit, "ci", n)).await.unwrap();
        assert_eq!(receipt.seq, n as i64);
        // Durable when it resolves: visible through another connection at once.
        let stored = db
            .audit_entries(receipt.seq - 1, receipt.seq, 1)
            .await
            .unwrap();
        assert_eq!(stored[0].hash, receipt.hash);
        assert!(!stored[0].record.params.as_str().contains("secret-value"));
    }
    let report = audit.verify().await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(
        (report.checked, report.head_seq, report.anchor_seq),
        (10, 10, 0)
    );
    let progress = *audit.progress().borrow();
    assert_eq!(
        (progress.received, progress.written, progress.failed),
        (10, 10, 0)
    );
    db.close().await;
}

async fn concurrent_records_are_committed_together(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let audit = audit(&db, AuditConfig::default());
    // While the writer is held, 200 callers queue up; released, they commit in few batches.
    let guard = hold_chain(&db).await;
    let first = tokio::spawn({
        let audit = audit.clone();
        async move { audit.record(rec(&audit, "first", 0)).await }
    });
    audit.wait_for(|p| p.received == 1).await;
    let callers: Vec<_> = (1..=200)
        .map(|n| {
            let audit = audit.clone();
            tokio::spawn(async move { audit.record(rec(&audit, "ci", n)).await })
        })
        .collect();
    drop(guard);
    let mut seqs = vec![first.await.unwrap().unwrap().seq];
    for c in callers {
        seqs.push(c.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=201).collect::<Vec<i64>>());
    let p = *audit.progress().borrow();
    assert_eq!(p.written, 201);
    assert!(
        p.batches < 50,
        "201 records in {} transactions: not grouped",
        p.batches
    );
    assert_eq!(audit.verify().await.unwrap().broken, None);
    db.close().await;
}

async fn a_full_queue_makes_callers_wait_and_drops_nothing(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let audit = audit(
        &db,
        AuditConfig {
            capacity: 2,
            max_batch: 1,
        },
    );
    let guard = hold_chain(&db).await;
    let mut r1 = pin!(audit.record(rec(&audit, "ci", 1)));
    assert!(poll!(r1.as_mut()).is_pending());
    // The writer takes r1 and waits for the database.
    audit.wait_for(|p| p.received == 1).await;
    let mut r2 = pin!(audit.record(rec(&audit, "ci", 2)));
    let mut r3 = pin!(audit.record(rec(&audit, "ci", 3)));
    let mut r4 = pin!(audit.record(rec(&audit, "ci", 4)));
    // r2 and r3 fill the queue; r4 waits for room instead of being dropped.
    assert!(poll!(r2.as_mut()).is_pending());
    assert!(poll!(r3.as_mut()).is_pending());
    assert!(poll!(r4.as_mut()).is_pending());
    assert_eq!(audit.queued(), 2, "the queue holds r2 and r3");
    assert_eq!(audit.progress().borrow().written, 0);
    drop(guard);
    let (a, b, c, d) = tokio::join!(r1, r2, r3, r4);
    let seqs: Vec<i64> = [a, b, c, d].into_iter().map(|r| r.unwrap().seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "all written, in order");
    assert_eq!(audit.verify().await.unwrap().checked, 4);
    db.close().await;
}

async fn a_failed_batch_fails_its_callers_and_leaves_the_chain_whole(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let audit = audit(&db, AuditConfig::default());
    audit.record(rec(&audit, "ci", 1)).await.unwrap();
    exec(
        &ctx,
        "ALTER TABLE relais_audit_log RENAME TO relais_audit_log_away",
    )
    .await;
    let failed = audit.record(rec(&audit, "ci", 2)).await.unwrap_err();
    assert!(matches!(failed, AuditError::Write(_)), "{failed}");
    assert_eq!(audit.progress().borrow().failed, 1);
    exec(
        &ctx,
        "ALTER TABLE relais_audit_log_away RENAME TO relais_audit_log",
    )
    .await;
    // The failed batch left nothing behind: the next record takes sequence number 2.
    let next = audit.record(rec(&audit, "ci", 3)).await.unwrap();
    assert_eq!(next.seq, 2);
    let report = audit.verify().await.unwrap();
    assert_eq!((report.broken, report.checked), (None, 2));
    db.close().await;
}

async fn drain_writes_what_is_queued_then_refuses_new_records(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let audit = audit(&db, AuditConfig::default());
    let guard = hold_chain(&db).await;
    let queued: Vec<_> = (1..=5)
        .map(|n| {
            let audit = audit.clone();
            tokio::spawn(async move { audit.record(rec(&audit, "ci", n)).await })
        })
        .collect();
    audit.wait_for(|p| p.received >= 1).await;
    let drain = tokio::spawn({
        let audit = audit.clone();
        async move {
            audit
                .drain(tokio::time::Instant::now() + Duration::from_secs(60))
                .await
        }
    });
    drop(guard);
    drain.await.unwrap();
    for q in queued {
        q.await.unwrap().expect("queued before the drain: written");
    }
    assert_eq!(audit.progress().borrow().written, 5);
    let late = audit.record(rec(&audit, "ci", 6)).await.unwrap_err();
    assert!(matches!(late, AuditError::Closed), "{late}");
    assert_eq!(audit.verify().await.unwrap().checked, 5);
    db.close().await;
}

async fn two_writers_on_one_database_extend_one_chain(ctx: Ctx) {
    // Two stores and two trails on one database stand for two processes.
    let db_a = migrated(&ctx).await;
    let db_b = store::open(&ctx.database).await.unwrap();
    let a = audit(&db_a, AuditConfig::default());
    let b = audit(&db_b, AuditConfig::default());
    let mut callers = Vec::new();
    for n in 0..400 {
        let (audit, actor) = if n % 2 == 0 {
            (a.clone(), "a")
        } else {
            (b.clone(), "b")
        };
        callers.push(tokio::spawn(async move {
            audit.record(rec(&audit, actor, n)).await
        }));
    }
    let mut seqs = Vec::new();
    for c in callers {
        seqs.push(c.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=400).collect::<Vec<i64>>());
    for audit in [&a, &b] {
        let report = audit.verify().await.unwrap();
        assert_eq!((report.broken, report.checked), (None, 400));
    }
    let by_a = a
        .list(&AuditFilter {
            actor: Some("a".into()),
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_a.len(), 200);
    db_a.close().await;
    db_b.close().await;
}

async fn verify_names_the_first_broken_link(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let audit = audit(&db, AuditConfig::default());
    for n in 1..=6 {
        audit.record(rec(&audit, "ci", n)).await.unwrap();
    }
    let first_broken = |audit: Audit| async move {
        let report = audit.verify().await.unwrap();
        let broken = report.broken.expect("the chain is reported broken");
        (broken.seq, broken.problem, report.checked)
    };
    let original = db.audit_entries(2, 3, 1).await.unwrap().remove(0);

    // A field of record 3 edited in place.
    exec(
        &ctx,
        "UPDATE relais_audit_log SET actor = 'mallory' WHERE seq = 3",
    )
    .await;
    let (seq, problem, checked) = first_broken(audit.clone()).await;
    assert_eq!((seq, checked), (3, 2));
    assert!(
        matches!(problem, LinkProblem::ContentChanged { .. }),
        "{problem:?}"
    );

    // Its hash recomputed to match: the next record's link gives it away.
    let mut edited = original.record.clone();
    edited.actor = "mallory".into();
    let rehash = link(&original.prev_hash, 3, &edited);
    exec(
        &ctx,
        &format!("UPDATE relais_audit_log SET hash = '{rehash}' WHERE seq = 3"),
    )
    .await;
    let (seq, problem, _) = first_broken(audit.clone()).await;
    assert_eq!(seq, 4);
    assert!(
        matches!(problem, LinkProblem::LinkChanged { .. }),
        "{problem:?}"
    );

    // Restored, the chain verifies again.
    exec(
        &ctx,
        &format!(
            "UPDATE relais_audit_log SET actor = 'ci', hash = '{}' WHERE seq = 3",
            original.hash
        ),
    )
    .await;
    assert_eq!(audit.verify().await.unwrap().broken, None);

    // The last record deleted: the head is beyond the log.
    exec(&ctx, "DELETE FROM relais_audit_log WHERE seq = 6").await;
    let (seq, problem, _) = first_broken(audit.clone()).await;
    assert_eq!((seq, problem), (6, LinkProblem::Missing { found: None }));

    // A record in the middle deleted.
    exec(&ctx, "DELETE FROM relais_audit_log WHERE seq = 2").await;
    let (seq, problem, checked) = first_broken(audit.clone()).await;
    assert_eq!(
        (seq, problem, checked),
        (2, LinkProblem::Missing { found: Some(3) }, 1)
    );
    db.close().await;
}

async fn retention_prunes_old_records_and_verify_starts_at_the_anchor(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let clock = ManualClock::new(start);
    let audit = Audit::start(db.clone(), Arc::new(clock.clone()), AuditConfig::default()).unwrap();
    for n in 1..=5 {
        audit.record(rec(&audit, "old", n)).await.unwrap();
    }
    clock.advance(Duration::from_secs(3 * 86_400));
    for n in 6..=8 {
        audit.record(rec(&audit, "new", n)).await.unwrap();
    }
    let engine = Engine::builder(
        db.clone(),
        Arc::new(clock.clone()),
        EngineConfig {
            retention: None,
            ..EngineConfig::default()
        },
    )
    .register(AuditRetention::new(
        audit.clone(),
        Duration::from_secs(2 * 86_400),
    ))
    .build()
    .unwrap();
    let mut events = engine.subscribe();
    let shutdown = relais_platform::shutdown::Shutdown::new();
    engine.start(&shutdown);
    let (task, _) = engine
        .enqueue(Enqueue::new(AuditRetention::KIND, json!({})))
        .await
        .unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.id == task.id && e.state.is_final() {
                return e.state;
            }
        }
    })
    .await
    .expect("the retention task finishes");
    assert_eq!(finished, TaskState::Succeeded);
    let result = engine.get(task.id).await.unwrap().unwrap().result.unwrap();
    assert_eq!(result, json!({ "deleted": 5, "anchor_seq": 5 }));
    let chain = audit.chain().await.unwrap();
    assert_eq!((chain.anchor_seq, chain.head_seq), (5, 9));
    // The pruning is itself on record, and the chain verifies from the anchor.
    let pruned = audit
        .list(&AuditFilter {
            action: Some("audit prune".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(pruned.len(), 1);
    assert_eq!(pruned[0].record.actor, "system:retention");
    assert_eq!(pruned[0].record.params.to_value()["deleted"], 5);
    let report = audit.verify().await.unwrap();
    assert_eq!(
        (report.broken, report.anchor_seq, report.checked),
        (None, 5, 4)
    );
    engine
        .drain(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
    db.close().await;
}
