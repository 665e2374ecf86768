//! The import storage role: batch commits fenced by the resume offset, the status shown from the
//! task, issues in order, retention helpers.

use relais_platform::imports::{
    BatchCommit, FileFormat, ImportCounts, ImportFile, ImportStatus, NewImport, NewIssue, Severity,
};
use relais_testkit::Ctx;
use uuid::Uuid;

use crate::tasks::{migrated, new_task, t};

fn counts(read: u64, rejected: u64) -> ImportCounts {
    ImportCounts {
        read,
        accepted: read - rejected,
        rejected,
        inserted: read - rejected,
        ..ImportCounts::default()
    }
}

fn issue(row: u64) -> NewIssue {
    NewIssue {
        row,
        severity: Severity::Error,
        column: Some("code".into()),
        value: Some("é\"x".into()),
        message: "required".into(),
    }
}

pub(crate) async fn import_batches_commit_only_from_their_offset(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let task = new_task("relais.import");
    let id = Uuid::now_v7();
    let mut tx = db.begin().await.unwrap();
    db.insert_tasks_in(&mut tx, std::slice::from_ref(&task))
        .await
        .unwrap();
    db.insert_import_in(
        &mut tx,
        &NewImport {
            id,
            type_name: "sample".into(),
            dry_run: false,
            mode: "append".into(),
            scope: None,
            sheet: Some("Feuille 1".into()),
            file: ImportFile {
                name: "a.csv".into(),
                size: 12,
                sha256: "ab".repeat(32),
                format: FileFormat::Csv,
                encoding: Some("utf-8".into()),
                deleted_at: None,
            },
            max_rows: Some(50_000),
            uploader: Some("tester".into()),
            task_id: task.id,
            created_at: t(0),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let record = db.get_import(id).await.unwrap().unwrap();
    assert_eq!(record.status, ImportStatus::Pending);
    assert_eq!(record.file.sha256, "ab".repeat(32));
    assert_eq!(record.sheet.as_deref(), Some("Feuille 1"));
    let started = db.start_import(id, t(1)).await.unwrap().unwrap();
    assert_eq!(
        (started.status, started.attempts),
        (ImportStatus::Running, 1)
    );

    let batch = |from, to, read, rejected, rows: Vec<u64>| BatchCommit {
        from_offset: from,
        to_offset: to,
        counts: counts(read, rejected),
        issues: rows.into_iter().map(issue).collect(),
    };
    let mut tx = db.begin().await.unwrap();
    assert!(
        db.commit_import_batch(&mut tx, id, &batch(0, 10, 10, 2, vec![3, 7]))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    // A stale attempt starting from 0 again changes nothing.
    let mut tx = db.begin().await.unwrap();
    assert!(
        !db.commit_import_batch(&mut tx, id, &batch(0, 10, 10, 2, vec![3, 7]))
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    // A batch rolled back leaves nothing either.
    let mut tx = db.begin().await.unwrap();
    assert!(
        db.commit_import_batch(&mut tx, id, &batch(10, 20, 10, 1, vec![15]))
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    let r = db.get_import(id).await.unwrap().unwrap();
    assert_eq!(
        (r.resume_offset, r.counts.read, r.counts.rejected),
        (10, 10, 2)
    );
    // Finishing is fenced the same way.
    let mut tx = db.begin().await.unwrap();
    assert!(
        !db.finish_import(
            &mut tx,
            id,
            ImportStatus::Partial,
            None,
            &batch(5, 5, 0, 0, vec![]),
            t(2)
        )
        .await
        .unwrap()
    );
    tx.rollback().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(
        db.finish_import(
            &mut tx,
            id,
            ImportStatus::Partial,
            None,
            &batch(10, 12, 2, 1, vec![12]),
            t(2)
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    let r = db.get_import(id).await.unwrap().unwrap();
    assert_eq!(r.status, ImportStatus::Partial);
    assert_eq!(
        (
            r.resume_offset,
            r.counts.read,
            r.counts.rejected,
            r.counts.inserted
        ),
        (12, 12, 3, 9)
    );
    assert_eq!(r.finished_at, Some(t(2)));
    let issues = db.import_issues(id, 0, 100).await.unwrap();
    let rows: Vec<u64> = issues.iter().map(|i| i.row).collect();
    assert_eq!(rows, vec![3, 7, 12]);
    assert_eq!(issues[0].value.as_deref(), Some("é\"x"));
    let page = db.import_issues(id, issues[0].seq, 1).await.unwrap();
    assert_eq!(page[0].row, 7);
    // Only a succeeded import is found again by content.
    assert!(
        db.find_import(
            "sample",
            &"ab".repeat(32),
            "append",
            None,
            Some("Feuille 1")
        )
        .await
        .unwrap()
        .is_none()
    );
    assert!(
        !db.end_import(id, ImportStatus::Failed, Some("late"), t(3))
            .await
            .unwrap()
    );
    // Retention helpers.
    assert_eq!(
        db.imports_with_files(t(1), 10).await.unwrap(),
        vec![(id, FileFormat::Csv)]
    );
    db.mark_files_deleted(&[id], t(4)).await.unwrap();
    assert!(db.imports_with_files(t(1), 10).await.unwrap().is_empty());
    assert_eq!(
        db.existing_imports(&[id, Uuid::now_v7()]).await.unwrap(),
        vec![id]
    );
    assert_eq!(
        db.delete_imports(t(1), 10).await.unwrap(),
        vec![(id, FileFormat::Csv)]
    );
    assert!(db.get_import(id).await.unwrap().is_none());
    assert!(
        db.import_issues(id, 0, 100).await.unwrap().is_empty(),
        "issues go with the record"
    );
}

pub(crate) async fn an_import_shows_the_end_of_its_task(ctx: Ctx) {
    let db = migrated(&ctx).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let task = new_task("relais.import");
        let id = Uuid::now_v7();
        let mut tx = db.begin().await.unwrap();
        db.insert_tasks_in(&mut tx, std::slice::from_ref(&task))
            .await
            .unwrap();
        db.insert_import_in(
            &mut tx,
            &NewImport {
                id,
                type_name: "sample".into(),
                dry_run: false,
                mode: "append".into(),
                scope: None,
                sheet: None,
                file: ImportFile {
                    name: "a.csv".into(),
                    size: 1,
                    sha256: "00".into(),
                    format: FileFormat::Csv,
                    encoding: None,
                    deleted_at: None,
                },
                max_rows: None,
                uploader: None,
                task_id: task.id,
                created_at: t(0),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        ids.push((id, task.id));
    }
    // The second task is gone (cancelled, then deleted by task retention); the first is
    // cancelled while queued.
    db.cancel_task(ids[1].1, t(1)).await.unwrap();
    assert_eq!(
        db.delete_finished(relais_platform::tasks::TaskState::Cancelled, t(2), 100)
            .await
            .unwrap(),
        1
    );
    db.cancel_task(ids[0].1, t(3)).await.unwrap();
    let first = db.get_import(ids[0].0).await.unwrap().unwrap();
    assert_eq!(first.status, ImportStatus::Cancelled);
    assert!(first.error.unwrap().contains("cancelled"));
    let second = db.get_import(ids[1].0).await.unwrap().unwrap();
    assert_eq!(second.status, ImportStatus::Failed);
    let stats = db.import_stats().await.unwrap();
    assert_eq!(stats.len(), 2);
    // Written down by retention.
    assert_eq!(db.reconcile_imports(t(5)).await.unwrap(), 2);
    assert_eq!(db.reconcile_imports(t(6)).await.unwrap(), 0);
    let first = db.get_import(ids[0].0).await.unwrap().unwrap();
    assert_eq!(
        (first.status, first.finished_at),
        (ImportStatus::Cancelled, Some(t(5)))
    );
}
