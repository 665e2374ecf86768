//! The audit trail's storage: appends linked under the chain head, listing and filters, counts,
//! pruning with an anchor, and two processes appending to one chain.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use relais_platform::audit::chain::{GENESIS, link};
use relais_platform::audit::{AuditEntry, AuditFilter, AuditRecord, Params};
use relais_platform::store::{self, MigrationSet, PLATFORM_MIGRATIONS, Store};
use relais_testkit::Ctx;

use crate::open;

async fn migrated(ctx: &Ctx) -> Arc<dyn Store> {
    let db = open(ctx).await;
    db.migrate(&[PLATFORM_MIGRATIONS] as &[MigrationSet])
        .await
        .unwrap();
    db
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn rec(at: DateTime<Utc>, actor: &str, action: &str, success: bool) -> AuditRecord {
    AuditRecord {
        role: Some("operator".into()),
        status: Some(if success { 200 } else { 409 }),
        duration_micros: 1234,
        client_addr: Some("10.0.0.1".into()),
        request_id: Some(format!("req-{actor}-{}", at.timestamp_micros())),
        ..AuditRecord::new(at, actor, action)
            .resource("tasks", Some("t-1".into()))
            .params(Params::summarise(
                serde_json::json!({"kind": "relais.noop", "password": "p"}),
            ))
            .success(success)
    }
}

/// Every entry from the anchor, in sequence order.
async fn all(db: &Arc<dyn Store>) -> Vec<AuditEntry> {
    let chain = db.audit_chain().await.unwrap();
    let mut out = Vec::new();
    let mut after = chain.anchor_seq;
    loop {
        let page = db.audit_entries(after, i64::MAX, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page);
    }
    out
}

/// Checks sequence, links and hashes from `prev` (the anchor's hash).
fn assert_linked(entries: &[AuditEntry], first_seq: i64, prev: &str) {
    let mut prev = prev.to_owned();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, first_seq + i as i64, "contiguous sequence");
        assert_eq!(
            e.prev_hash, prev,
            "record {} links to the previous one",
            e.seq
        );
        assert_eq!(
            e.hash,
            link(&prev, e.seq, &e.record),
            "record {} hash",
            e.seq
        );
        prev.clone_from(&e.hash);
    }
}

pub(crate) async fn audit_appends_are_linked_and_listed_newest_first(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let fresh = db.audit_chain().await.unwrap();
    assert_eq!((fresh.head_seq, fresh.anchor_seq), (0, 0));
    assert_eq!(fresh.head_hash, GENESIS);
    assert!(
        db.append_audit(&mut Vec::new(), &mut |_| {})
            .await
            .unwrap()
            .is_empty()
    );
    let mut written = Vec::new();
    for batch in [1usize, 3, 250] {
        let records: Vec<_> = (0..batch)
            .map(|i| {
                rec(
                    t0() + Duration::seconds(written.len() as i64 + i as i64),
                    "ci",
                    "POST /api/tasks",
                    true,
                )
            })
            .collect();
        let linked = db
            .append_audit(&mut records.clone(), &mut |_| {})
            .await
            .unwrap();
        assert_eq!(linked.len(), batch);
        written.extend(records.into_iter().zip(linked));
    }
    // Records added once the head is locked (group commit) share the transaction.
    let late = rec(t0() + Duration::hours(1), "late", "POST /api/tasks", true);
    let mut batch = vec![rec(
        t0() + Duration::minutes(30),
        "ci",
        "POST /api/tasks",
        true,
    )];
    let mut topped = false;
    let linked = db
        .append_audit(&mut batch, &mut |records| {
            topped = true;
            records.push(late.clone());
        })
        .await
        .unwrap();
    assert!(topped);
    assert_eq!(
        linked.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![255, 256]
    );
    written.extend(batch.into_iter().zip(linked));
    let entries = all(&db).await;
    assert_eq!(entries.len(), 256);
    assert_linked(&entries, 1, GENESIS);
    for (e, (r, (seq, hash))) in entries.iter().zip(&written) {
        assert_eq!(
            (&e.record, e.seq, &e.hash),
            (r, *seq, hash),
            "stored as written"
        );
    }
    assert!(
        !entries[0].record.params.as_str().contains("\"p\""),
        "the summary is redacted before it is stored"
    );
    let chain = db.audit_chain().await.unwrap();
    assert_eq!(chain.head_seq, 256);
    assert_eq!(chain.head_hash, entries.last().unwrap().hash);
    let newest = db
        .list_audit(&AuditFilter {
            limit: 3,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = newest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![256, 255, 254]);
    db.close().await;
}

pub(crate) async fn audit_filters_combine_and_pages_do_not_overlap(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mut records = Vec::new();
    for i in 0..30i64 {
        let actor = ["alice", "bob", "anonymous"][i as usize % 3];
        let action = if i % 2 == 0 {
            "POST /api/tasks"
        } else {
            "DELETE /api/tasks/{id}"
        };
        let mut r = rec(t0() + Duration::hours(i), actor, action, i % 5 != 0);
        if i == 7 {
            r.resource_type = Some("tokens".into());
            r.resource_id = Some("tok-7".into());
        }
        records.push(r);
    }
    db.append_audit(&mut records.clone(), &mut |_| {})
        .await
        .unwrap();
    let check = |f: AuditFilter, expected: Vec<i64>| {
        let db = db.clone();
        async move {
            let got: Vec<i64> = db
                .list_audit(&AuditFilter {
                    limit: 100,
                    ..f.clone()
                })
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(got, expected, "{f:?}");
        }
    };
    let seqs = |pred: &dyn Fn(i64) -> bool| -> Vec<i64> {
        (0..30i64)
            .rev()
            .filter(|i| pred(*i))
            .map(|i| i + 1)
            .collect()
    };
    check(
        AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        },
        seqs(&|i| i % 3 == 1),
    )
    .await;
    check(
        AuditFilter {
            actor: Some("alice".into()),
            action: Some("POST /api/tasks".into()),
            ..Default::default()
        },
        seqs(&|i| i % 3 == 0 && i % 2 == 0),
    )
    .await;
    check(
        AuditFilter {
            success: Some(false),
            ..Default::default()
        },
        seqs(&|i| i % 5 == 0),
    )
    .await;
    check(
        AuditFilter {
            resource_type: Some("tokens".into()),
            resource_id: Some("tok-7".into()),
            ..Default::default()
        },
        vec![8],
    )
    .await;
    check(
        AuditFilter {
            request_id: records[12].request_id.clone(),
            ..Default::default()
        },
        vec![13],
    )
    .await;
    check(
        AuditFilter {
            from: Some(t0() + Duration::hours(10)),
            to: Some(t0() + Duration::hours(13)),
            ..Default::default()
        },
        vec![13, 12, 11],
    )
    .await;
    check(
        AuditFilter {
            actor: Some("nobody".into()),
            ..Default::default()
        },
        vec![],
    )
    .await;
    // Pages by cursor cover everything once, newest first.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = db
            .list_audit(&AuditFilter {
                before_seq: before,
                limit: 8,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.iter().map(|e| e.seq));
        if page.len() < 8 {
            break;
        }
        before = page.last().map(|e| e.seq);
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<i64>>());
    db.close().await;
}

pub(crate) async fn audit_counts_group_by_dimension_and_day(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let day = |d: i64, h: i64| t0() + Duration::days(d) + Duration::hours(h);
    let mut records = vec![
        rec(day(-10, 0), "old", "POST /api/tasks", true),
        rec(day(0, 0), "alice", "POST /api/tasks", true),
        rec(day(0, 1), "alice", "POST /api/tasks", false),
        rec(day(0, 2), "bob", "DELETE /api/tasks/{id}", true),
        rec(day(2, 0), "alice", "POST /api/tokens", false),
    ];
    records[4].resource_type = None;
    db.append_audit(&mut records.clone(), &mut |_| {})
        .await
        .unwrap();
    let since = t0() - Duration::days(1);
    let c = db.audit_counts(since).await.unwrap();
    assert_eq!((c.total, c.succeeded, c.failed), (4, 2, 2));
    assert_eq!(c.by_actor, vec![("alice".into(), 3), ("bob".into(), 1)]);
    assert_eq!(
        c.by_action,
        vec![
            ("POST /api/tasks".into(), 2),
            ("DELETE /api/tasks/{id}".into(), 1),
            ("POST /api/tokens".into(), 1)
        ]
    );
    assert_eq!(c.by_resource_type.len(), 2);
    assert!(c.by_resource_type.contains(&(Some("tasks".into()), 3)));
    assert!(c.by_resource_type.contains(&(None, 1)));
    let epoch_day = |t: DateTime<Utc>| t.timestamp().div_euclid(86_400);
    assert_eq!(
        c.per_day,
        vec![(epoch_day(day(0, 0)), 3, 1), (epoch_day(day(2, 0)), 1, 1)]
    );
    let none = db.audit_counts(day(30, 0)).await.unwrap();
    assert_eq!(none.total, 0);
    assert!(none.by_actor.is_empty() && none.per_day.is_empty());
    db.close().await;
}

pub(crate) async fn audit_pruning_moves_the_anchor_in_sequence_order(ctx: Ctx) {
    let db = migrated(&ctx).await;
    assert_eq!(
        db.prune_audit(t0(), 100).await.unwrap(),
        None,
        "nothing to prune"
    );
    let old = t0() - Duration::days(400);
    let young = t0();
    // Records 1–5 are old, 6 is young, 7 is old again (a process whose clock was behind):
    // pruning stops at the first young record in sequence order.
    let mut records: Vec<_> = (0..5)
        .map(|i| rec(old + Duration::seconds(i), "a", "x", true))
        .collect();
    records.push(rec(young, "a", "x", true));
    records.push(rec(old, "a", "x", true));
    db.append_audit(&mut records.clone(), &mut |_| {})
        .await
        .unwrap();
    let before_pruning = all(&db).await;
    let cutoff = t0() - Duration::days(365);
    let first = db.prune_audit(cutoff, 2).await.unwrap().unwrap();
    assert_eq!((first.deleted, first.anchor_seq), (2, 2));
    assert_eq!(first.anchor_hash, before_pruning[1].hash);
    let second = db.prune_audit(cutoff, 100).await.unwrap().unwrap();
    assert_eq!((second.deleted, second.anchor_seq), (3, 5));
    assert_eq!(db.prune_audit(cutoff, 100).await.unwrap(), None);
    let chain = db.audit_chain().await.unwrap();
    assert_eq!((chain.anchor_seq, chain.head_seq), (5, 7));
    assert_eq!(chain.anchor_hash, before_pruning[4].hash);
    let kept = all(&db).await;
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![6, 7]);
    assert_linked(&kept, 6, &chain.anchor_hash);
    // Later records still link after pruning; pruning everything leaves anchor = head.
    db.append_audit(&mut vec![rec(young, "a", "x", true)], &mut |_| {})
        .await
        .unwrap();
    let everything = db
        .prune_audit(t0() + Duration::days(1), 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((everything.deleted, everything.anchor_seq), (3, 8));
    let chain = db.audit_chain().await.unwrap();
    assert_eq!(
        (chain.anchor_seq, chain.anchor_hash.as_str()),
        (8, chain.head_hash.as_str())
    );
    assert!(all(&db).await.is_empty());
    db.close().await;
}

pub(crate) async fn concurrent_audit_appends_extend_one_chain(ctx: Ctx) {
    // Two stores on one database stand for two processes, each appending batches concurrently.
    let a = migrated(&ctx).await;
    let b = store::open(&ctx.database).await.unwrap();
    // Turn by turn first: each store must start from the head the other one moved.
    for (i, db) in [&a, &b, &a, &b].into_iter().enumerate() {
        let mut one = vec![rec(t0(), "turn", "POST /api/tasks", true)];
        let linked = db.append_audit(&mut one, &mut |_| {}).await.unwrap();
        assert_eq!(linked[0].0, i as i64 + 1);
    }
    assert_linked(&all(&a).await, 1, GENESIS);
    let batches = |db: Arc<dyn Store>, actor: &'static str| async move {
        let mut seqs = Vec::new();
        for i in 0..40 {
            let records: Vec<_> = (0..5)
                .map(|j| {
                    rec(
                        t0() + Duration::milliseconds(i * 5 + j),
                        actor,
                        "POST /api/tasks",
                        true,
                    )
                })
                .collect();
            seqs.extend(
                db.append_audit(&mut records.clone(), &mut |_| {})
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(s, _)| s),
            );
        }
        seqs
    };
    let (sa, sb) = tokio::join!(
        tokio::spawn(batches(a.clone(), "a")),
        tokio::spawn(batches(b.clone(), "b"))
    );
    let mut seqs: Vec<i64> = sa.unwrap().into_iter().chain(sb.unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (5..=404).collect::<Vec<i64>>(),
        "no sequence number given twice"
    );
    let entries = all(&a).await;
    assert_linked(&entries, 1, GENESIS);
    let actors: std::collections::HashSet<&str> =
        entries.iter().map(|e| e.record.actor.as_str()).collect();
    assert_eq!(actors.len(), 3);
    assert_eq!(a.audit_chain().await.unwrap().head_hash, entries[403].hash);
    a.close().await;
    b.close().await;
}
