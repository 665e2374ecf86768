//! Imports on both backends: the upload checks, the readers, row errors, idempotent batched
//! upserts, modes, resume after a failed batch, cancel and retry, retention, listing and
//! statistics, through the `sample` type and two test types built on it.

mod json;
mod support;
mod types;

use json::*;
use relais_testkit::suite;
use support::*;

suite!(
    csv_in_utf8_bom_and_windows_1252_with_semicolons,
    bad_rows_are_reported_and_the_others_written,
    reimporting_a_file_changes_nothing,
    xlsx_and_xls_are_read_with_typed_cells,
    refused_uploads_leave_nothing_behind,
    spreadsheets_over_the_row_limit_fail_before_writing,
    missing_required_columns_fail_at_once,
    dry_run_validates_and_writes_nothing,
    replace_mode_deletes_the_rows_of_its_scope_absent_from_the_file,
    a_failed_batch_resumes_after_the_last_committed_one,
    cancel_stops_a_running_import_and_retry_resumes_it,
    retention_deletes_old_files_records_and_orphans,
    listing_filters_pages_and_statistics,
    json_arrays_are_read_when_accepted,
    finished_imports_enqueue_their_follow_up_tasks,
);

async fn csv_in_utf8_bom_and_windows_1252_with_semicolons(ctx: Ctx) {
    let env = env(&ctx).await;
    let utf8 =
        "\u{feff}Code;Raison sociale;Montant;Date\nA1;Société Générale;1 234,50;17/05/2024\n"
            .as_bytes();
    let r = env.import("utf8.csv", utf8).await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(r.file.encoding.as_deref(), Some("utf-8-bom"));
    // Windows-1252: é is 0xE9, € is 0x80; a quoted field holds a newline and a `;`.
    let mut latin: Vec<u8> = b"code;nom;montant\r\nB1;Cr\xe8me br\xfbl\xe9e;12 \x80\r\n".to_vec();
    latin.extend_from_slice(b"B2;\"Deux\r\nlignes; un point-virgule\";3\r\n");
    let r = env.import("latin.csv", &latin).await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(r.file.encoding.as_deref(), Some("windows-1252"));
    assert_eq!(r.counts.read, 2);
    let rows = env.rows().await;
    let names: Vec<(&str, &str, Option<i64>)> = rows
        .iter()
        .map(|r| (r.code.as_str(), r.name.as_str(), r.amount_cents))
        .collect();
    assert_eq!(
        names,
        vec![
            ("A1", "Société Générale", Some(123_450)),
            ("B1", "Crème brûlée", Some(1_200)),
            ("B2", "Deux\r\nlignes; un point-virgule", Some(300)),
        ]
    );
    assert_eq!(rows[0].day, date(2024, 5, 17));
    // Tabs work too.
    let r = env.import("tabs.csv", b"code\tname\nT1\tTab\n").await;
    assert_eq!(r.counts.inserted, 1, "{r:#?}");
    env.stop().await;
}

async fn bad_rows_are_reported_and_the_others_written(ctx: Ctx) {
    let env = env(&ctx).await;
    let csv = "code,name,email,amount,date,extra\n\
        G1,Good one,g1@example.org,10,2024-01-01,x\n\
        ,No code,,,,x\n\
        G2,Bad amount,,douze,,x\n\
        G3,Bad email and date,not-an-email,,31/02/2024,x\n\
        ,,,,,\n\
        G4,Odd email,nope,-5,,x\n";
    let r = env.import("mixed.csv", csv.as_bytes()).await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(r.counts.read, 5);
    assert_eq!(r.counts.accepted, 2);
    assert_eq!(r.counts.rejected, 3);
    assert_eq!(r.counts.inserted, 2);
    assert_eq!(r.counts.warnings, 4, "{r:#?}");
    assert_eq!(
        r.columns.as_ref().unwrap()["unknown"],
        serde_json::json!(["extra"])
    );
    let issues = env.issues(r.id).await;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        issues,
        vec![
            (
                1,
                "warning".into(),
                None,
                s("extra"),
                "unknown column, ignored".into()
            ),
            (3, "error".into(), s("code"), None, "required".into()),
            (
                4,
                "error".into(),
                s("amount"),
                s("douze"),
                "not a number".into()
            ),
            (
                5,
                "warning".into(),
                s("email"),
                s("not-an-email"),
                "not an e-mail address: left empty".into()
            ),
            (
                5,
                "error".into(),
                s("date"),
                s("31/02/2024"),
                "not a date (expected YYYY-MM-DD or DD/MM/YYYY)".into()
            ),
            (
                7,
                "warning".into(),
                s("email"),
                s("nope"),
                "not an e-mail address: left empty".into()
            ),
            (
                7,
                "warning".into(),
                s("amount"),
                s("-5"),
                "negative amount".into()
            ),
        ]
    );
    let codes: Vec<String> = env.rows().await.into_iter().map(|r| r.code).collect();
    assert_eq!(codes, vec!["G1", "G4"]);
    env.stop().await;
}

async fn reimporting_a_file_changes_nothing(ctx: Ctx) {
    let env = env(&ctx).await;
    let csv = good_csv(2_500);
    let first = env.import("big.csv", &csv).await;
    assert_eq!(first.status, ImportStatus::Succeeded);
    assert_eq!(first.counts.inserted, 2_500);
    assert_eq!(first.resume_offset, 2_500);
    let before = env.rows().await;
    // The same file again: the earlier import, nothing stored.
    let again = env.upload("big-again.csv", &csv).await;
    assert!(!again.created);
    assert_eq!(again.record.id, first.id);
    // Forced: processed, and every row is unchanged.
    let forced = env
        .upload_with("big.csv", &csv, |r| r.force = true)
        .await
        .unwrap();
    assert!(forced.created);
    let forced = env.finished(forced.record.id).await;
    assert_eq!(
        (
            forced.counts.inserted,
            forced.counts.updated,
            forced.counts.unchanged
        ),
        (0, 0, 2_500)
    );
    assert_eq!(env.rows().await, before);
    // One row changed, one added: only they are written.
    let mut changed = String::from_utf8(csv).unwrap();
    changed = changed.replace("C000007,Name 7,", "C000007,Name seven,");
    changed.push_str("N1,New,,,,\n");
    let r = env.import("changed.csv", changed.as_bytes()).await;
    assert_eq!(
        (r.counts.inserted, r.counts.updated, r.counts.unchanged),
        (1, 1, 2_499)
    );
    assert_eq!(env.rows().await.len(), 2_501);
    env.stop().await;
}

async fn xlsx_and_xls_are_read_with_typed_cells(ctx: Ctx) {
    let env = env(&ctx).await;
    let r = env.import("book.xlsx", &xlsx()).await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(
        (r.counts.read, r.counts.accepted, r.counts.rejected),
        (3, 2, 1)
    );
    let issues = env.issues(r.id).await;
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].0, 3, "spreadsheet row numbers");
    assert_eq!(issues[0].2.as_deref(), Some("amount"));
    let rows = env.rows().await;
    assert_eq!(rows[0].code, "1001", "a whole number cell is a code");
    assert_eq!(rows[0].name, "Élise");
    assert_eq!(rows[0].amount_cents, Some(1_250));
    assert_eq!(rows[0].day, date(2024, 3, 1));
    assert_eq!(rows[0].group.as_deref(), Some("g1"));
    assert_eq!(
        (rows[1].code.as_str(), rows[1].day),
        ("C5", date(2023, 12, 31))
    );
    // Another sheet by name.
    let other = env
        .upload_with("book.xlsx", &xlsx(), |r| r.sheet = Some("Autre".into()))
        .await
        .unwrap();
    let other = env.finished(other.record.id).await;
    assert_eq!(other.counts.inserted, 1, "{other:#?}");
    let missing = env
        .upload_with("book.xlsx", &xlsx(), |r| {
            r.sheet = Some("Nope".into());
            r.force = true;
        })
        .await
        .unwrap();
    let missing = env.finished(missing.record.id).await;
    assert_eq!(missing.status, ImportStatus::Failed);
    assert!(missing.error.unwrap().contains("no sheet `Nope`"));

    // XLS (a committed fixture made with xlwt, see fixtures/README.md).
    let xls = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/imports/fixtures/sample.xls"
    ))
    .unwrap();
    let r = env.import("legacy.xls", &xls).await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(
        (r.counts.read, r.counts.accepted, r.counts.rejected),
        (3, 2, 1)
    );
    let rows = env.rows().await;
    let x1 = rows.iter().find(|r| r.code == "X1").unwrap();
    assert_eq!(x1.name, "Société Générale");
    assert_eq!(x1.amount_cents, Some(150_025));
    assert_eq!(x1.day, date(2024, 5, 17));
    let x2 = rows.iter().find(|r| r.code == "X2").unwrap();
    assert_eq!((x2.amount_cents, x2.day), (Some(4_200), date(2023, 1, 2)));
    env.stop().await;
}

async fn refused_uploads_leave_nothing_behind(ctx: Ctx) {
    let env = env_with(
        &ctx,
        |s| {
            s.defaults.max_size = 64 * 1024;
            s.defaults.max_rows = 10;
            s.zip.max_entries = 50;
        },
        |r| r,
    )
    .await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde".to_vec();
    let good_zip_text = xlsx();
    let truncated = good_zip_text[..good_zip_text.len() / 2].to_vec();
    let bomb = zip_of(&[
        ("[Content_Types].xml", b"<Types/>".to_vec()),
        ("xl/workbook.xml", b"<workbook/>".to_vec()),
        ("xl/worksheets/sheet1.xml", vec![b'a'; 4 << 20]),
    ]);
    let many: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| (format!("f{i}.xml"), vec![b'x'; 10]))
        .collect();
    let many_entries = zip_of(
        &many
            .iter()
            .map(|(n, d)| (n.as_str(), d.clone()))
            .collect::<Vec<_>>(),
    );
    let docx = zip_of(&[
        ("[Content_Types].xml", b"<Types/>".to_vec()),
        ("word/document.xml", b"<document/>".to_vec()),
    ]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("picture.csv", png, "TypeMismatch"),
        ("table.xlsx", b"code,name\n1,a\n".to_vec(), "TypeMismatch"),
        ("book.xls", xlsx(), "TypeMismatch"),
        ("notes.txt", b"code,name\n".to_vec(), "ExtensionNotAllowed"),
        (
            "rows.json",
            b"[{\"code\": 1}]".to_vec(),
            "ExtensionNotAllowed",
        ),
        ("truncated.xlsx", truncated, "Damaged"),
        ("bomb.xlsx", bomb, "ArchiveBomb"),
        ("many.xlsx", many_entries, "ArchiveBomb"),
        ("letter.xlsx", docx, "TypeMismatch"),
        ("rows.csv", good_csv(11), "TooManyRows"),
        ("huge.csv", wide_csv(5, 20_000), "TooLarge"),
        ("empty.csv", Vec::new(), "Damaged"),
        ("nul.csv", b"code,name\n1,a\0b\n".to_vec(), "TypeMismatch"),
        (
            "tiny.xls",
            vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0],
            "Damaged",
        ),
    ];
    for (name, bytes, expected) in cases {
        let err = env.upload_with(name, &bytes, |_| {}).await.expect_err(name);
        let kind = format!("{err:?}");
        assert!(kind.starts_with(expected), "{name}: {kind}");
        assert!(!err.to_string().is_empty());
        assert!(env.files().is_empty(), "{name}: left {:?}", env.files());
    }
    // Refused before anything is read: the announced size, an unknown type, a bad mode.
    let err = env
        .upload_with("big.csv", b"", |r| r.declared_size = Some(1 << 30))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::TooLarge { max: 65_536 }),
        "{err:?}"
    );
    let err = env
        .upload_with("a.csv", b"code,name\n", |r| r.type_name = "nope".into())
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::UnknownType(_)));
    let err = env
        .upload_with("a.csv", b"code,name\n", |r| r.mode = Some("replace".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a scope"), "{err}");
    let listed = env
        .imports
        .list(&relais_platform::imports::ImportFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty(), "no record for a refused upload");
    // The CLI lifts the size and row limits.
    let ok = env
        .upload_with("huge.csv", &good_csv(2_000), |r| r.unlimited = true)
        .await
        .unwrap();
    let ok = env.finished(ok.record.id).await;
    assert_eq!((ok.counts.inserted, ok.max_rows), (2_000, None));
    // An abandoned upload removes its file.
    let mut upload = env
        .imports
        .begin_upload(UploadRequest {
            type_name: "sample".into(),
            file_name: "gone.csv".into(),
            ..UploadRequest::default()
        })
        .await
        .unwrap();
    upload
        .write(bytes::Bytes::from_static(b"code,name\n"))
        .await
        .unwrap();
    drop(upload);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.files().len() > 1 {
        assert!(Instant::now() < deadline, "{:?}", env.files());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    env.stop().await;
}

async fn missing_required_columns_fail_at_once(ctx: Ctx) {
    let env = env(&ctx).await;
    let r = env
        .import("cols.csv", b"Identifiant;Courriel;Autre\n1;a@b.fr;x\n")
        .await;
    assert_eq!(r.status, ImportStatus::Failed);
    let error = r.error.unwrap();
    assert!(
        error.contains("missing required column(s): name")
            && error.contains("expected code (or id, identifiant, reference, ref); name (or nom, raison sociale, libelle)")
            && error.contains("found Identifiant, Courriel, Autre"),
        "{error}"
    );
    assert_eq!(r.counts.read, 0);
    assert!(env.rows().await.is_empty());
    let empty = env.import("header.csv", b"code,name\n").await;
    assert_eq!(empty.status, ImportStatus::Failed);
    assert_eq!(empty.error.as_deref(), Some("the file holds no data rows"));
    env.stop().await;
}

async fn dry_run_validates_and_writes_nothing(ctx: Ctx) {
    let env = env(&ctx).await;
    let csv = b"code,name,amount\nD1,One,1\nD2,Two,x\n";
    let dry = env
        .upload_with("d.csv", csv, |r| r.dry_run = true)
        .await
        .unwrap();
    let dry = env.finished(dry.record.id).await;
    assert!(dry.dry_run);
    assert_eq!(dry.status, ImportStatus::Partial);
    assert_eq!(
        (dry.counts.read, dry.counts.accepted, dry.counts.rejected),
        (2, 1, 1)
    );
    assert_eq!(dry.counts.inserted, 0);
    assert!(env.rows().await.is_empty());
    assert_eq!(env.issues(dry.id).await.len(), 1);
    // A dry run is not an earlier import of the file: the real one goes ahead.
    let real = env.upload("d.csv", csv).await;
    assert!(real.created);
    let real = env.finished(real.record.id).await;
    assert_eq!(real.counts.inserted, 1);
    env.stop().await;
}

async fn finished_imports_enqueue_their_follow_up_tasks(ctx: Ctx) {
    use relais_platform::tasks::{TaskFilter, TaskState};
    let env = env_with(
        &ctx,
        |_| {},
        |r| {
            r.register(types::Followed {
                kind: "relais.noop",
            })
            .unwrap()
            .register(types::Refused)
            .unwrap()
        },
    )
    .await;
    let follow_ups = |env: &Env| {
        let engine = env.engine.clone();
        async move {
            engine
                .list(&TaskFilter {
                    kind: Some("relais.noop".into()),
                    limit: 100,
                    ..TaskFilter::default()
                })
                .await
                .unwrap()
        }
    };
    let csv = b"code,name,amount\nF1,One,1\nF2,Two,x\nF3,Three,3\n";
    let upload = |name: &'static str, dry: bool, type_name: &'static str| {
        let env = &env;
        async move {
            let u = env
                .upload_with(name, csv, |r| {
                    r.type_name = type_name.into();
                    r.dry_run = dry;
                })
                .await
                .unwrap();
            env.finished(u.record.id).await
        }
    };
    // A dry run writes nothing: no follow-up.
    let dry = upload("dry.csv", true, "followed").await;
    assert_eq!(dry.status, ImportStatus::Partial);
    assert!(follow_ups(&env).await.is_empty());

    // A finished import enqueues its follow-up once, with its final counts, in the transaction
    // that finished it: the task exists as soon as the import reads finished.
    let done = upload("f.csv", false, "followed").await;
    assert_eq!(done.status, ImportStatus::Partial, "{done:#?}");
    let tasks = follow_ups(&env).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(
        tasks[0].args,
        serde_json::json!({ "import_id": done.id, "inserted": 2, "rejected": 1 })
    );
    assert_eq!(tasks[0].queue, "imports");
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.engine.get(tasks[0].id).await.unwrap().unwrap().state != TaskState::Succeeded {
        assert!(Instant::now() < deadline, "the follow-up never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A follow-up the engine refuses (unknown kind) fails the import: nothing is enqueued.
    let refused = upload("r.csv", false, "refused").await;
    assert_eq!(refused.status, ImportStatus::Failed, "{refused:#?}");
    let error = refused.error.unwrap_or_default();
    assert!(
        error.contains("follow-up") && error.contains("no.such.kind"),
        "{error}"
    );
    assert_eq!(follow_ups(&env).await.len(), 1);
    env.stop().await;
}

async fn replace_mode_deletes_the_rows_of_its_scope_absent_from_the_file(ctx: Ctx) {
    let env = env(&ctx).await;
    env.import(
        "all.csv",
        b"code,name,group\nA,a,g1\nB,b,g1\nC,c,g1\nX,x,g2\n",
    )
    .await;
    let replace = |csv: &'static [u8]| {
        let env = &env;
        async move {
            let u = env
                .upload_with("g1.csv", csv, |r| {
                    r.mode = Some("replace".into());
                    r.scope = Some("g1".into());
                    r.force = true;
                })
                .await
                .unwrap();
            env.finished(u.record.id).await
        }
    };
    // A rejected row (another group) keeps every row of the scope.
    let r = replace(b"code,name,group\nA,a,\nB,b2,g1\nY,y,g2\n").await;
    assert_eq!(r.status, ImportStatus::Partial);
    assert_eq!(r.counts.deleted, 0);
    assert_eq!(env.rows().await.len(), 4);
    // A clean file: C is deleted, X (another group) stays, B is updated.
    let r = replace(b"code,name\nA,a\nB,b3\n").await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(
        (r.counts.unchanged, r.counts.updated, r.counts.deleted),
        (1, 1, 1)
    );
    let codes: Vec<(String, Option<String>)> = env
        .rows()
        .await
        .into_iter()
        .map(|r| (r.code, r.group))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("A".into(), Some("g1".into())),
            ("B".into(), Some("g1".into())),
            ("X".into(), Some("g2".into())),
        ]
    );
    env.stop().await;
}

async fn a_failed_batch_resumes_after_the_last_committed_one(ctx: Ctx) {
    let flaky = types::Flaky::default();
    let env = env_with(&ctx, |s| s.batch_rows = 100, {
        let flaky = flaky.clone();
        move |r| r.register(flaky).unwrap()
    })
    .await;
    let mut csv = String::from_utf8(good_csv(1_000)).unwrap();
    csv = csv.replace("C000150,Name 150,", "C000150,,");
    let u = env
        .upload_with("flaky.csv", csv.as_bytes(), |r| {
            r.type_name = "flaky".into()
        })
        .await
        .unwrap();
    let r = env.finished(u.record.id).await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(r.attempts, 2, "the failed batch made one retry");
    // Every row was read and written exactly once over the two attempts.
    assert_eq!(
        (
            r.counts.read,
            r.counts.inserted,
            r.counts.rejected,
            r.resume_offset
        ),
        (1_000, 999, 1, 1_000)
    );
    assert_eq!(
        env.issues(r.id).await.len(),
        1,
        "the bad row is reported once"
    );
    let upserted = flaky.upserted();
    assert_eq!(
        upserted.len(),
        999 + 100,
        "the failed batch (rolled back) was written again"
    );
    let distinct: std::collections::BTreeSet<&String> = upserted.iter().collect();
    assert_eq!(distinct.len(), 999);
    assert_eq!(env.rows().await.len(), 999);
    env.stop().await;
}

async fn cancel_stops_a_running_import_and_retry_resumes_it(ctx: Ctx) {
    let gate = types::Gated::default();
    let env = env_with(&ctx, |s| s.batch_rows = 100, {
        let gate = gate.clone();
        move |r| r.register(gate).unwrap()
    })
    .await;
    let u = env
        .upload_with("slow.csv", &good_csv(1_000), |r| {
            r.type_name = "gated".into()
        })
        .await
        .unwrap();
    let id = u.record.id;
    gate.open(2);
    let running = env.until(id, |r| r.resume_offset == 200).await;
    assert_eq!(running.status, ImportStatus::Running);
    match env.imports.cancel(id).await.unwrap() {
        relais_platform::imports::CancelResult::Signalled(_) => {}
        other => panic!("expected a signal: {other:?}"),
    }
    gate.open(1);
    let cancelled = env.finished(id).await;
    assert_eq!(cancelled.status, ImportStatus::Cancelled, "{cancelled:#?}");
    assert_eq!(
        cancelled.resume_offset, 200,
        "the batch read after the cancel is not written"
    );
    let kept = cancelled.resume_offset;
    assert_eq!(env.rows().await.len() as u64, kept);
    assert!(matches!(
        env.imports.cancel(id).await,
        Err(ImportError::Conflict(_))
    ));
    // Retry: a new task, resuming after the committed rows.
    let retried = env.imports.retry(id).await.unwrap();
    assert_eq!(retried.status, ImportStatus::Pending);
    assert_ne!(retried.task_id, cancelled.task_id);
    gate.open(1_000);
    let done = env.finished(id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:#?}");
    assert_eq!((done.counts.read, done.counts.inserted), (1_000, 1_000));
    assert_eq!(env.rows().await.len(), 1_000);
    assert!(matches!(
        env.imports.retry(id).await,
        Err(ImportError::Conflict(_))
    ));
    // A queued import is cancelled at once.
    env.engine.drain(tokio::time::Instant::now()).await;
    let queued = env.upload("later.csv", b"code,name\nL,l\n").await.record.id;
    match env.imports.cancel(queued).await.unwrap() {
        relais_platform::imports::CancelResult::Cancelled(r) => {
            assert_eq!(r.status, ImportStatus::Cancelled)
        }
        other => panic!("expected cancelled: {other:?}"),
    }
    env.platform.store.close().await;
}

async fn retention_deletes_old_files_records_and_orphans(ctx: Ctx) {
    let env = env(&ctx).await;
    let done = env.import("a.csv", b"code,name\nR,r\n").await;
    assert_eq!(env.files().len(), 1);
    // An import whose task was cancelled behind its back shows (then records) the task's end.
    env.engine.drain(tokio::time::Instant::now()).await;
    let orphaned = env.upload("b.csv", b"code,name\nS,s\n").await.record;
    env.engine.cancel(orphaned.task_id.unwrap()).await.unwrap();
    let seen = env.imports.get(orphaned.id).await.unwrap().unwrap();
    assert_eq!(seen.status, ImportStatus::Cancelled);
    // A file no record owns, a day old.
    let stray = env
        .dir
        .join(format!("{}.csv", uuid::Uuid::now_v7().simple()));
    std::fs::write(&stray, b"x").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&stray)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // Ages far away: only the reconciliation and the stray file.
    let report = env
        .imports
        .prune(Duration::from_secs(86_400), Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(report["finalised"], 1, "{report}");
    assert_eq!(report["orphan_files_deleted"], 1, "{report}");
    assert_eq!(report["files_deleted"], 0, "{report}");
    assert!(!stray.exists());
    // Files first…
    let report = env
        .imports
        .prune(Duration::ZERO, Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(report["files_deleted"], 2, "{report}");
    assert!(env.files().is_empty());
    let r = env.imports.get(done.id).await.unwrap().unwrap();
    assert!(r.file.deleted_at.is_some());
    assert!(env.imports.file_path(&r).is_none());
    // …then records (with their issues).
    let report = env
        .imports
        .prune(Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report["records_deleted"], 2, "{report}");
    assert!(env.imports.get(done.id).await.unwrap().is_none());
    env.platform.store.close().await;
}

async fn listing_filters_pages_and_statistics(ctx: Ctx) {
    use relais_platform::imports::ImportFilter;
    let env = env(&ctx).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let csv = format!("code,name\nL{i},n\n");
        ids.push(env.import(&format!("{i}.csv"), csv.as_bytes()).await.id);
    }
    let failed = env.import("bad.csv", b"nothing\n1\n").await;
    assert_eq!(failed.status, ImportStatus::Failed);
    let page = |before, statuses: Vec<ImportStatus>| {
        let env = &env;
        async move {
            env.imports
                .list(&ImportFilter {
                    statuses,
                    before,
                    limit: 2,
                    ..ImportFilter::default()
                })
                .await
                .unwrap()
        }
    };
    let first = page(None, vec![ImportStatus::Succeeded]).await;
    assert_eq!(
        first.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    let second = page(Some(ids[3]), vec![ImportStatus::Succeeded]).await;
    assert_eq!(
        second.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let only_failed = page(None, vec![ImportStatus::Failed]).await;
    assert_eq!(only_failed.len(), 1);
    let by_type = env
        .imports
        .list(&ImportFilter {
            type_name: Some("nope".into()),
            limit: 10,
            ..ImportFilter::default()
        })
        .await
        .unwrap();
    assert!(by_type.is_empty());
    let stats = env.imports.stats().await.unwrap();
    let count = |s: ImportStatus| {
        stats
            .iter()
            .find(|c| c.type_name == "sample" && c.status == s)
            .map_or(0, |c| c.imports)
    };
    assert_eq!(
        (count(ImportStatus::Succeeded), count(ImportStatus::Failed)),
        (5, 1)
    );
    let succeeded = stats
        .iter()
        .find(|c| c.status == ImportStatus::Succeeded)
        .unwrap();
    assert_eq!((succeeded.rows_read, succeeded.rows_written), (5, 5));
    let types = env.imports.types();
    assert_eq!(types[0].name, "sample");
    assert_eq!(types[0].max_rows, 50_000);
    assert_eq!(types[0].modes[1].name, "replace");
    env.stop().await;
}

async fn spreadsheets_over_the_row_limit_fail_before_writing(ctx: Ctx) {
    let env = env_with(&ctx, |s| s.defaults.max_rows = 2, |r| r).await;
    let xls = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/imports/fixtures/sample.xls"
    ))
    .unwrap();
    for (name, bytes) in [("book.xlsx", xlsx()), ("legacy.xls", xls)] {
        let r = env.import(name, &bytes).await;
        assert_eq!(r.status, ImportStatus::Failed, "{name}: {r:#?}");
        assert_eq!(r.max_rows, Some(2));
        let error = r.error.unwrap();
        assert!(
            error.contains("3 data rows or more; at most 2 are accepted"),
            "{name}: {error}"
        );
        assert_eq!(r.counts.read, 0, "{name}: nothing read before the check");
    }
    assert!(env.rows().await.is_empty());
    env.stop().await;
}
