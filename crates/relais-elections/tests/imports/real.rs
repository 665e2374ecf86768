//! The published files shipped with the domain reference, imported end to end.

use crate::support::*;

/// 38,905 real PV rows of cycle 4: exact totals, the accepted oddities reported as warnings, and
/// a second import that changes nothing.
pub(crate) async fn real_public_file_imports_exactly_and_again_unchanged(ctx: Ctx) {
    let env = env(&ctx).await;
    let file = fixture("pv_real_public.csv");
    let r = env.pv("pv_real_public.csv", &file, |_| {}).await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    let c = r.counts;
    assert_eq!(
        (
            c.read,
            c.accepted,
            c.rejected,
            c.inserted,
            c.updated,
            c.unchanged
        ),
        (38_905, 38_905, 0, 38_905, 0, 0),
        "{r:#?}"
    );
    assert_eq!(
        env.totals().await,
        PvTotals {
            rows: 38_905,
            sirets: 22_616,
            cgt: votes("607730.56"),
            sve: votes("2555599.41"),
            rows_with_cgt: 14_873,
        }
    );
    // The oddities of real data are accepted and reported.
    let issues = env.issues(r.id).await;
    assert!(!issues.iter().any(Issue::is_error));
    let count = |needle: &str| issues.iter().filter(|i| i.message.contains(needle)).count();
    assert_eq!(count("above the votants"), 51);
    assert_eq!(count("above the inscrits"), 11);
    assert_eq!(count("inscrits = 0"), 9);
    assert_eq!(count("binary-float noise"), 13);
    assert_eq!(count("another PV of this SIRET, collège and date"), 547);
    assert_eq!(c.warnings, issues.len() as u64);
    let noisy = issues
        .iter()
        .find(|i| i.message.contains("binary-float noise"))
        .unwrap();
    assert!(noisy.value.len() > 10, "{noisy:?}");
    // Every SIRET is waiting for its summary.
    assert_eq!(env.dirty().await.len(), 22_616);

    // One row read back whole.
    let rows = env.rows_of("34329419500239").await;
    let first = rows
        .iter()
        .find(|p| p.row.pv_number.as_deref() == Some("4509783"))
        .unwrap();
    assert_eq!(first.key, "pv:4509783:01");
    assert_eq!(first.row.date, date(2021, 2, 2));
    assert_eq!(first.row.cycle.as_str(), "C4");
    assert_eq!(first.row.college.as_ref().unwrap().as_str(), "01");
    assert_eq!((first.row.inscrits, first.row.votants), (139, Some(118)));
    assert_eq!(first.row.sve, votes("110"));
    assert_eq!(first.row.votes[2], votes("68"), "CGT-FO");
    assert_eq!(first.row.idcc.as_deref(), Some("0112"));
    assert_eq!(first.row.departement.as_deref(), Some("01"));
    assert_eq!(first.source_file.as_deref(), Some("departement_01.json"));
    assert_eq!(first.import_id, r.id);

    // Imported again: nothing changes, nothing is marked.
    env.clear_dirty().await;
    let before = env.all_rows().await;
    let again = env.pv("pv_real_public.csv", &file, |_| {}).await;
    assert_eq!(again.status, ImportStatus::Succeeded);
    assert_eq!(
        (
            again.counts.inserted,
            again.counts.updated,
            again.counts.unchanged
        ),
        (0, 0, 38_905)
    );
    assert_eq!(env.all_rows().await, before, "not even the import id moved");
    assert!(env.dirty().await.is_empty());
    env.stop().await;
}

/// The Ministry's CSV extract: no dates (the cycle comes from the scope), IDCC "code label",
/// AGRI/TPE aggregate rows skipped with warnings; without a scope every row is refused clearly.
pub(crate) async fn ministry_csv_takes_its_cycle_from_the_scope(ctx: Ctx) {
    let env = env(&ctx).await;
    let file = fixture("aveyron_original.csv");
    let refused = env.pv("aveyron_original.csv", &file, |_| {}).await;
    // Only the two aggregate rows pass (they are skipped, not written).
    assert_eq!(refused.status, ImportStatus::Partial, "{refused:#?}");
    assert_eq!(
        (
            refused.counts.accepted,
            refused.counts.rejected,
            refused.counts.inserted
        ),
        (2, 248, 0)
    );
    let issues = env.issues(refused.id).await;
    let errors: Vec<&Issue> = issues.iter().filter(|i| i.is_error()).collect();
    assert_eq!(errors.len(), 248);
    assert!(
        errors[0]
            .message
            .contains("give the cycle of this file as the import's scope"),
        "{:?}",
        errors[0]
    );
    assert_eq!(env.totals().await.rows, 0);

    let r = env
        .pv("aveyron_original.csv", &file, |r| {
            r.scope = Some("C4".into())
        })
        .await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(
        (r.counts.read, r.counts.accepted, r.counts.inserted),
        (250, 250, 248)
    );
    let issues = env.issues(r.id).await;
    let skipped: Vec<(u64, &str, &str)> = issues
        .iter()
        .filter(|i| i.message.contains("aggregate row"))
        .map(|i| (i.row, i.column.as_str(), i.value.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![(250, "siret", "AGRI"), (251, "siret", "TPE")],
        "{issues:?}"
    );
    let t = env.totals().await;
    assert_eq!(
        (t.rows, t.sirets, t.cgt, t.sve),
        (248, 164, votes("3310.66"), votes("11035.97"))
    );
    let nutergia = env.rows_of("00638004200033").await;
    assert_eq!(nutergia.len(), 2);
    let r0 = &nutergia[0].row;
    assert_eq!((r0.date, r0.cycle.as_str()), (None, "C4"));
    assert_eq!(r0.idcc.as_deref(), Some("3109"));
    assert_eq!(
        r0.idcc_label.as_deref(),
        Some("INDUSTRIES ALIMENTAIRES DIVERSES 5 BRANCHES")
    );
    assert_eq!(r0.raison_sociale.as_deref(), Some("LABORATOIRE NUTERGIA"));
    // Two undated PVs of one SIRET and collège stay two rows (numbered in file order).
    let cpam = env.rows_of("77674399900026").await;
    let college_02: Vec<(&str, i64)> = cpam
        .iter()
        .filter(|p| p.row.college.as_ref().map(|c| c.as_str()) == Some("02"))
        .map(|p| (p.key.as_str(), p.row.inscrits))
        .collect();
    assert_eq!(
        college_02,
        vec![
            ("s:77674399900026:C4:02:cse:1", 149),
            ("s:77674399900026:C4:02:cse:2", 33)
        ]
    );
    // Again with the same scope: the same keys, nothing changes.
    let again = env
        .pv("aveyron_original.csv", &file, |r| {
            r.scope = Some("C4".into())
        })
        .await;
    assert_eq!(
        (again.counts.inserted, again.counts.unchanged),
        (0, 248),
        "{again:#?}"
    );
    env.stop().await;
}

/// The Ministry's JSON exports: `Type`, `N°PV`, `Date` YYYYMMDD, `Coll`, `sve_total`, numbers
/// for départements and (once) a SIRET.
pub(crate) async fn ministry_json_exports_import(ctx: Ctx) {
    let env = env(&ctx).await;
    let r08 = env
        .pv(
            "departement_08.json",
            &fixture("departement_08.json"),
            |_| {},
        )
        .await;
    assert_eq!(r08.status, ImportStatus::Succeeded, "{r08:#?}");
    assert_eq!(
        (r08.counts.read, r08.counts.accepted, r08.counts.inserted),
        (241, 241, 239)
    );
    let issues = env.issues(r08.id).await;
    let skipped: Vec<(&str, &str)> = issues
        .iter()
        .filter(|i| i.message.contains("aggregate row"))
        .map(|i| (i.column.as_str(), i.value.as_str()))
        .collect();
    assert_eq!(skipped, vec![("type", "AGRI"), ("type", "TPE")]);
    // The SIRET stored as a JSON number, and its second PV of the same day and collège.
    let chambre = env.rows_of("18080251400067").await;
    let numbers: Vec<&str> = chambre
        .iter()
        .filter_map(|p| p.row.pv_number.as_deref())
        .collect();
    assert_eq!(numbers, vec!["4500051", "4509002"]);
    let first = &chambre[0];
    assert_eq!(first.row.siret.as_str(), "18080251400067");
    assert_eq!(first.row.date, date(2021, 1, 21));
    assert_eq!(first.row.departement.as_deref(), Some("08"));
    assert_eq!(first.region.as_deref(), Some("Grand-Est"));
    assert_eq!(first.row.cp.as_deref(), Some("08000"));
    assert_eq!(first.row.idcc.as_deref(), Some("5019"));
    assert_eq!(
        first.row.idcc_label.as_deref(),
        Some("STATUT DES CHAMBRES D'AGRICULTURE")
    );
    assert_eq!(first.row.votes[1], votes("13"), "CFDT");
    assert!(
        issues.iter().any(|i| i
            .message
            .contains("another PV of this SIRET, collège and date")
            && i.row == 27
            && i.message.contains("row 2")),
        "{issues:?}"
    );
    let t = env.totals().await;
    assert_eq!((t.rows, t.sirets, t.cgt), (239, 146, votes("2904")));

    let r12 = env
        .pv(
            "departement_12.json",
            &fixture("departement_12.json"),
            |_| {},
        )
        .await;
    assert_eq!(r12.status, ImportStatus::Succeeded, "{r12:#?}");
    assert_eq!((r12.counts.read, r12.counts.inserted), (250, 248));
    let t = env.totals().await;
    assert_eq!(
        (t.rows, t.sirets, t.cgt, t.sve),
        (487, 310, votes("6214.66"), votes("21453.97"))
    );
    env.stop().await;
}
