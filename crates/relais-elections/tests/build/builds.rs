//! Full and incremental builds as tasks: the real file, incremental builds equal to full
//! rebuilds through a sequence of imports, requests while a build runs, cancel, follow-up
//! builds of imports, summaries due again with the date.

use chrono::Utc;
use relais_elections::build::build_request;
use relais_elections::demo::{DemoSpec, generate};
use relais_elections::domain::{PvKind, Summariser, SummaryConfig, Union};

use crate::support::*;

/// Demo files (`pv.csv`, `invitations.csv`) of `rows` PV rows, ending today.
fn demo(rows: u64, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let spec = DemoSpec::new(rows, seed, Utc::now().date_naive());
    let (mut pv, mut invitations) = (Vec::new(), Vec::new());
    generate(&spec, &mut pv, &mut invitations).unwrap();
    (pv, invitations)
}

/// A CSV as its header and records.
fn records(csv: &[u8]) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader.headers().unwrap().clone();
    let rows = reader.records().map(Result::unwrap).collect();
    (header, rows)
}

fn write_csv(header: &csv::StringRecord, rows: &[csv::StringRecord]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).unwrap();
    for r in rows {
        writer.write_record(r).unwrap();
    }
    writer.into_inner().unwrap()
}

fn column(header: &csv::StringRecord, name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The tables after an incremental build equal those a full rebuild then gives, row for row.
async fn incremental_equals_full(env: &Env, step: &str) -> Vec<StoredSummary> {
    let result = env.build(false).await;
    assert!(env.dirty().await.is_empty(), "{step}: marks left");
    let incremental = env.snapshot().await;
    env.build(true).await;
    let full = env.snapshot().await;
    for (i, f) in incremental.iter().zip(&full) {
        assert_eq!(i, f, "{step}: the incremental and full summaries differ");
    }
    assert_eq!(
        incremental.len(),
        full.len(),
        "{step}: the incremental and full tables differ in size ({result})"
    );
    full
}

pub(crate) async fn full_build_of_the_real_file_matches_the_summariser(ctx: Ctx) {
    let env = env(&ctx).await;
    let r = env
        .pv("pv_real_public.csv", &fixture("pv_real_public.csv"))
        .await;
    assert_eq!(r.counts.inserted, 38_905);
    assert_eq!(env.dirty().await.len(), 22_616);
    let result = env.build(true).await;
    assert_eq!(result["summarised"], 22_616, "{result}");
    assert_eq!(result["cleared"], 22_616, "{result}");
    assert_eq!(store::summary_count(env.db()).await.unwrap(), 22_616);
    assert!(env.dirty().await.is_empty());
    let state = store::summary_state(env.db()).await.unwrap();
    assert!(state.full_built_at.is_some() && state.built_at == state.full_built_at);

    let all = env.all_summaries(5_000).await;
    assert_eq!(all.len(), 22_616);
    let today = Utc::now().date_naive();
    let mut summariser = Summariser::new(CycleTable::standard(), SummaryConfig::default());
    let mut checked = 0;
    for s in all
        .iter()
        .step_by(211)
        .chain(all.iter().filter(|s| s.siret.as_str() == "76820101400042"))
    {
        let rows: Vec<_> = store::pv_rows_of(env.db(), &[s.siret])
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.row)
            .collect();
        let expected = summariser.summarise(s.siret, &rows, &[], today).unwrap();
        assert_eq!(s, &StoredSummary::of(&expected, s.built_at), "{}", s.siret);
        checked += 1;
    }
    assert!(checked > 100);
    // Figures computed by hand in the summary suite.
    let s = env.summary("76820101400042").await.unwrap();
    let e = &s.cycle("C4").unwrap().election;
    assert_eq!((e.rows, e.inscrits, e.votants), (3, 171, 147));
    assert_eq!(e.seats.by_union.0, [2, 0, 0, 6, 0, 0, 0, 0]);
    assert_eq!(e.shares[Union::Cgt], Some(0.35));
    assert!(s.cgt_implantee);
    assert_eq!(s.latest_cycle.as_ref().unwrap().as_str(), "C4");
    assert_eq!(
        s.pap.as_ref().unwrap().statut_pap.as_str(),
        "aucune_invitation"
    );
    assert_eq!(s.search_text, "moulages industriels du haut bugey");
    env.stop().await;
}

pub(crate) async fn incremental_builds_equal_full_rebuilds(ctx: Ctx) {
    let env = env(&ctx).await;
    let (pv, invitations) = demo(1_500, 11);
    let (header, rows) = records(&pv);
    let (siret, date, cgt, kind) = (
        column(&header, "siret"),
        column(&header, "date"),
        column(&header, "cgt"),
        column(&header, "type"),
    );

    // The demo layout is read whole: carences (`type`) and seats to fill included.
    let first = rows.len() * 3 / 5;
    let r = env.pv("a.csv", &write_csv(&header, &rows[..first])).await;
    assert_eq!((r.counts.rejected, r.counts.inserted), (0, first as u64));
    let unknown = &r.columns.as_ref().unwrap()["unknown"];
    assert_eq!(unknown, &serde_json::json!([]), "{r:#?}");
    let stored: Vec<_> = store::pv_rows_of(
        env.db(),
        &rows[..first]
            .iter()
            .map(|r| Siret::parse(&r[siret]).unwrap())
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert!(stored.iter().any(|p| p.row.kind == PvKind::Carence));
    assert!(stored.iter().any(|p| p.row.seats_to_fill.is_some()));
    let step1 = incremental_equals_full(&env, "append").await;

    // Append the rest, and change the CGT votes of some rows in place (same PV number).
    let mut changed = rows.clone();
    let mut touched = std::collections::BTreeSet::new();
    for (i, r) in changed.iter_mut().enumerate().take(first) {
        if i % 40 == 0 && &r[kind] == "CSE" {
            let mut fields: Vec<String> = r.iter().map(str::to_owned).collect();
            fields[cgt] = "0".into();
            touched.insert(fields[siret].clone());
            *r = csv::StringRecord::from(fields);
        }
    }
    assert!(!touched.is_empty());
    let r = env.pv("b.csv", &write_csv(&header, &changed)).await;
    assert_eq!(r.counts.inserted, (rows.len() - first) as u64);
    assert!(r.counts.updated > 0, "{:?}", r.counts);
    let result = env.build(false).await;
    let marked = result["summarised"].as_u64().unwrap() + result["deleted"].as_u64().unwrap();
    let all: std::collections::BTreeSet<&str> = changed.iter().map(|r| &r[siret]).collect();
    assert!(
        marked >= touched.len() as u64 && marked < all.len() as u64,
        "only the marked SIRETs are computed again: {result}"
    );
    let step2 = incremental_equals_full(&env, "append and update in place").await;
    assert!(step2.len() > step1.len());

    // Replace cycle 4 with the same rows but those of every third SIRET: a SIRET that only had
    // C4 rows (and no invitation) loses its summary.
    let in_c4 = |r: &csv::StringRecord| ("20210101".."20250101").contains(&&r[date]);
    let c4: Vec<&csv::StringRecord> = changed.iter().filter(|r| in_c4(r)).collect();
    let sirets: std::collections::BTreeSet<&str> = c4.iter().map(|r| &r[siret]).collect();
    let dropped: std::collections::BTreeSet<&str> = sirets.iter().copied().step_by(3).collect();
    let kept: Vec<csv::StringRecord> = c4
        .iter()
        .filter(|r| !dropped.contains(&r[siret]))
        .map(|r| (*r).clone())
        .collect();
    let only_c4: Vec<&str> = dropped
        .iter()
        .copied()
        .filter(|s| changed.iter().all(|r| &r[siret] != *s || in_c4(r)))
        .collect();
    assert!(
        !only_c4.is_empty(),
        "the demo data have SIRETs voting in C4 only"
    );
    assert!(env.summary(only_c4[0]).await.is_some());
    let r = env
        .import("elections.pv", "c4.csv", &write_csv(&header, &kept), |u| {
            u.mode = Some("replace".into());
            u.scope = Some("C4".into());
        })
        .await;
    assert_eq!(r.counts.rejected, 0, "{r:#?}");
    assert!(r.counts.deleted > 0, "{:?}", r.counts);
    let step3 = incremental_equals_full(&env, "replace C4").await;
    for s in &only_c4 {
        assert!(env.summary(s).await.is_none(), "{s} kept its summary");
    }
    assert!(step3.len() < step2.len());

    // Invitations: new SIRETs (invited only) and the PAP status of others.
    let r = env
        .import("elections.invitations", "inv.csv", &invitations, |_| {})
        .await;
    assert!(r.counts.inserted > 0);
    let step4 = incremental_equals_full(&env, "invitations").await;
    assert!(step4.len() > step3.len());
    assert!(step4.iter().any(|s| s.cycles.is_empty() && s.pap.is_some()));
    env.stop().await;
}

pub(crate) async fn requests_return_the_build_queued_or_running(ctx: Ctx) {
    let gate = BuildGate::closed();
    let settings = BuildSettings {
        batch: 5,
        gate: Some(gate.clone()),
        ..BuildSettings::default()
    };
    let env = env_with(
        &ctx,
        Setup {
            settings: Some(settings),
            ..Setup::default()
        },
    )
    .await;
    let (pv, _) = demo(200, 3);
    env.pv("pv.csv", &pv).await;
    let marked = env.dirty().await.len();
    assert!(marked > 20);

    // A follow-up-style build (no key) holds the single build slot at its first batch.
    let (plain, _) = env
        .engine
        .enqueue(build_request(false, None))
        .await
        .unwrap();
    env.task_until(plain.id, |t| t.state == TaskState::Running)
        .await;
    wait(|| gate.waiting() == 1).await;

    let first = env.elections.request_build(false, None).await.unwrap();
    assert_eq!(first.outcome, RequestOutcome::Enqueued);
    assert_ne!(first.task.id, plain.id);
    let again = env.elections.request_build(false, None).await.unwrap();
    assert_eq!(
        (again.outcome, again.task.id),
        (RequestOutcome::Queued, first.task.id)
    );
    let full = env.elections.request_build(true, None).await.unwrap();
    assert_eq!(full.outcome, RequestOutcome::Enqueued);
    let full_again = env.elections.request_build(true, None).await.unwrap();
    assert_eq!(
        (full_again.outcome, full_again.task.id),
        (RequestOutcome::Queued, full.task.id)
    );
    // A full build waiting covers an incremental request.
    let covered = env.elections.request_build(false, None).await.unwrap();
    assert_eq!(covered.task.id, full.task.id);
    let status = env.elections.status().await.unwrap();
    assert_eq!(status.running.as_ref().map(|t| t.id), Some(plain.id));
    assert_eq!(status.latest.as_ref().map(|t| t.id), Some(full.task.id));
    assert_eq!(status.dirty, marked as u64);
    assert_eq!(status.summaries, 0);

    // Cancelled at its first batch: nothing written, the marks stay.
    env.engine.cancel(plain.id).await.unwrap();
    let cancelled = env.task_until(plain.id, |t| t.state.is_final()).await;
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert_eq!(store::summary_count(env.db()).await.unwrap(), 0);
    assert_eq!(env.dirty().await.len(), marked);

    // The requested incremental build runs next; asked again, it is returned as running.
    env.task_until(first.task.id, |t| t.state == TaskState::Running)
        .await;
    wait(|| gate.waiting() == 1).await;
    let running = env.elections.request_build(false, None).await.unwrap();
    assert_eq!(
        running.task.id, full.task.id,
        "the full build still covers it"
    );
    let BuildRequest { outcome, .. } = env.elections.request_build(true, None).await.unwrap();
    assert_eq!(outcome, RequestOutcome::Queued);
    gate.open(1_000_000);
    for id in [first.task.id, full.task.id] {
        let t = env.task_until(id, |t| t.state.is_final()).await;
        assert_eq!(t.state, TaskState::Succeeded, "{t:#?}");
    }
    assert!(env.dirty().await.is_empty());
    let again = env.elections.request_build(true, None).await.unwrap();
    assert_eq!(
        again.outcome,
        RequestOutcome::Enqueued,
        "nothing is waiting now"
    );
    env.task_until(again.task.id, |t| t.state.is_final()).await;
    env.stop().await;
}

pub(crate) async fn a_cancelled_full_build_leaves_a_consistent_table(ctx: Ctx) {
    let gate = BuildGate::closed();
    let settings = BuildSettings {
        batch: 5,
        page_rows: 40,
        gate: Some(gate.clone()),
        ..BuildSettings::default()
    };
    let env = env_with(
        &ctx,
        Setup {
            settings: Some(settings),
            ..Setup::default()
        },
    )
    .await;
    let (pv, _) = demo(300, 5);
    env.pv("pv.csv", &pv).await;
    let marked = env.dirty().await.len();
    let build = env.elections.request_build(true, None).await.unwrap();
    // Two batches written, then a cancel while the third waits.
    gate.open(2);
    wait(|| gate.waiting() == 1).await;
    env.engine.cancel(build.task.id).await.unwrap();
    let t = env.task_until(build.task.id, |t| t.state.is_final()).await;
    assert_eq!(t.state, TaskState::Cancelled, "{t:#?}");
    assert_eq!(
        store::summary_count(env.db()).await.unwrap(),
        0,
        "the two batches went to the fresh tables, never swapped in: the previous (empty) summary stays"
    );
    assert_eq!(
        env.dirty().await.len(),
        marked,
        "a cancelled build clears no mark"
    );
    let state = store::summary_state(env.db()).await.unwrap();
    assert_eq!(state.full_built_at, None);

    // The next full build gives the whole table.
    gate.open(1_000_000);
    let result = env.build(true).await;
    assert_eq!(result["generation"], 2, "{result}");
    assert_eq!(
        store::summary_count(env.db()).await.unwrap() as usize,
        marked
    );
    assert!(env.dirty().await.is_empty());
    let state = store::summary_state(env.db()).await.unwrap();
    assert!(state.full_built_at.is_some());
    env.stop().await;
}

pub(crate) async fn imports_enqueue_an_incremental_build(ctx: Ctx) {
    let env = env_with(
        &ctx,
        Setup {
            follow_up: true,
            ..Setup::default()
        },
    )
    .await;
    let (pv, invitations) = demo(400, 9);
    let first = env.pv("pv.csv", &pv).await;
    // Enqueued in the import's finishing transaction: there as soon as it reads finished.
    let builds = env.builds().await;
    assert_eq!(builds.len(), 1, "{builds:#?}");
    assert_eq!(builds[0].args, serde_json::json!({ "full": false }));
    assert_eq!(
        builds[0].created_by.as_deref(),
        Some(format!("import:{}", first.id).as_str())
    );
    let t = env.task_until(builds[0].id, |t| t.state.is_final()).await;
    assert_eq!(t.state, TaskState::Succeeded, "{t:#?}");
    let summarised = t.result.as_ref().unwrap()["summarised"].as_u64().unwrap();
    assert!(summarised > 0);
    assert_eq!(store::summary_count(env.db()).await.unwrap(), summarised);
    assert!(env.dirty().await.is_empty());

    // The same file again changes nothing: no build.
    let again = env.pv("pv-again.csv", &pv).await;
    assert_eq!(again.counts.unchanged, first.counts.inserted);
    assert_eq!(env.builds().await.len(), 1);
    // Nor does a dry run.
    env.import("elections.pv", "dry.csv", &pv, |u| u.dry_run = true)
        .await;
    assert_eq!(env.builds().await.len(), 1);

    // Invitations: a build, and every invited SIRET's summary knows its invitations.
    env.import("elections.invitations", "inv.csv", &invitations, |_| {})
        .await;
    let builds = env.builds().await;
    assert_eq!(builds.len(), 2);
    let t = env.task_until(builds[0].id, |t| t.state.is_final()).await;
    assert_eq!(t.state, TaskState::Succeeded, "{t:#?}");
    assert!(env.dirty().await.is_empty());
    let (header, rows) = records(&invitations);
    let siret = column(&header, "SIRET");
    assert!(!rows.is_empty());
    for r in &rows {
        let s = env
            .summary(&r[siret])
            .await
            .expect("an invited SIRET has a summary");
        assert!(s.date_invitation_max.is_some(), "{}", &r[siret]);
    }
    assert!(store::summary_count(env.db()).await.unwrap() >= summarised);
    env.stop().await;
}

pub(crate) async fn summaries_due_again_are_recomputed(ctx: Ctx) {
    let env = env(&ctx).await;
    let (pv, invitations) = demo(300, 13);
    env.pv("pv.csv", &pv).await;
    env.import("elections.invitations", "inv.csv", &invitations, |_| {})
        .await;
    env.build(true).await;
    let fresh = env.snapshot().await;
    // A summary computed long ago: its PAP figures may have changed since.
    let mut old = fresh
        .iter()
        .find(|s| s.pap.is_some())
        .expect("a summary with a PAP status")
        .clone();
    let yesterday = Utc::now().date_naive().pred_opt().unwrap();
    old.valid_until = Some(yesterday);
    let mut wrong = old.clone();
    wrong.pap.as_mut().unwrap().invitations_a_revoir += 7;
    env.write(std::slice::from_ref(&wrong), 1).await;
    assert!(env.dirty().await.is_empty());
    let result = env.build(false).await;
    assert_eq!(result["stale"], 1, "{result}");
    assert_eq!(result["summarised"], 1, "{result}");
    assert_eq!(env.snapshot().await, fresh);
    // Nothing marked and nothing due: a build that ends at once.
    let result = env.build(false).await;
    assert_eq!(
        (&result["summarised"], &result["stale"]),
        (&0.into(), &0.into())
    );
    env.stop().await;
}

/// Waits (polling, with a deadline) until `done` holds.
async fn wait(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "the condition never held");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The summary tables' indexes (name and definition) and, on PostgreSQL, primary keys and
/// column collations, as the catalogue gives them; and whether a fresh copy is left.
async fn summary_schema(db: &Db) -> (Vec<(String, String)>, i64) {
    let tables = ["elections_summary", "elections_summary_cycles"];
    match db {
        Db::Postgres(pool) => {
            let mut schema: Vec<(String, String)> = sqlx::query_as(
                "SELECT indexname::text, indexdef FROM pg_indexes
                 WHERE schemaname = current_schema() AND tablename = ANY($1)
                 UNION ALL
                 SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE conrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t)
                 UNION ALL
                 SELECT table_name || '.' || column_name, coalesce(collation_name, '')
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ANY($1)
                 ORDER BY 1",
            )
            .bind(tables)
            .fetch_all(pool)
            .await
            .unwrap();
            schema.sort();
            let copies: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_class
                 WHERE relnamespace = current_schema()::regnamespace AND relname LIKE '%\\_next'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            (schema, copies)
        }
        Db::Sqlite { read, .. } => {
            let schema = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master
                 WHERE type = 'index' AND tbl_name IN ('elections_summary', 'elections_summary_cycles')
                 ORDER BY name",
            )
            .fetch_all(read)
            .await
            .unwrap();
            let copies: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%\\_next' ESCAPE '\\'",
            )
            .fetch_one(read)
            .await
            .unwrap();
            (schema, copies)
        }
    }
}

/// A full build swaps fresh tables in: afterwards the summary tables have the indexes,
/// primary keys and collations the migrations gave them, under the same names, and no copy
/// is left (on PostgreSQL the copies' indexes are built before the swap and renamed by it).
pub(crate) async fn full_builds_keep_the_summary_schema(ctx: Ctx) {
    let env = env(&ctx).await;
    let migrated = summary_schema(env.db()).await;
    assert_eq!(migrated.1, 0);
    assert!(
        migrated
            .0
            .iter()
            .any(|(name, _)| name == "elections_summary_statut_pap"),
        "{migrated:?}"
    );
    if matches!(env.db(), Db::Postgres(_)) {
        assert!(
            migrated
                .0
                .iter()
                .any(|(name, collation)| name == "elections_summary_cycles.siret"
                    && collation == "C"),
            "codes compare byte by byte: {migrated:?}"
        );
    }
    let (pv, invitations) = demo(200, 3);
    env.pv("pv.csv", &pv).await;
    env.import("elections.invitations", "inv.csv", &invitations, |_| {})
        .await;
    for generation in 1..=2 {
        let result = env.build(true).await;
        assert_eq!(result["generation"], generation, "{result}");
        assert_eq!(summary_schema(env.db()).await, migrated);
    }
    // Every SIRET with PV rows or invitations (the progress's total) has its summary.
    let summaries = store::summary_count(env.db()).await.unwrap();
    assert!(summaries > 0);
    assert_eq!(store::input_siret_count(env.db()).await.unwrap(), summaries);
    env.stop().await;
}
