//! `relais elections build` through the real binary, after `relais import` of a PV file.

use super::*;

async fn counts(database: &relais_platform::config::DatabaseConfig) -> (u64, u64, u64) {
    let store = relais_platform::store::open(database).await.unwrap();
    let db = store.db();
    let counts = (
        relais_elections::store::input_siret_count(db)
            .await
            .unwrap(),
        relais_elections::store::summary_count(db).await.unwrap(),
        relais_elections::store::dirty_count(db, None)
            .await
            .unwrap(),
    );
    store.close().await;
    counts
}

pub(crate) async fn elections_build_runs_in_this_process(ctx: Ctx) {
    let file = ctx.dir.join("departement_08.json");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../relais-elections/tests/fixtures/departement_08.json"
        ),
        &file,
    )
    .unwrap();
    let as_ops = |args: &[&str]| {
        let mut cmd = relais_db(&ctx);
        cmd.env("USER", "ops").args(args);
        cmd
    };
    let imported = run(as_ops(&["import", "elections.pv"]).arg(&file));
    assert!(imported.status.success(), "{}", text(&imported.stderr));

    let full = run(&mut as_ops(&["elections", "build", "--full"]));
    assert!(full.status.success(), "{}", text(&full.stderr));
    let out = text(&full.stdout);
    assert!(
        out.starts_with("full build ") && out.contains(": succeeded"),
        "{out}"
    );
    let (sirets, summaries, dirty) = counts(&ctx.database).await;
    assert!(sirets > 100);
    assert_eq!((summaries, dirty), (sirets, 0));
    assert!(
        out.contains(&format!("— {sirets} SIRETs summarised")),
        "{out}"
    );

    // Nothing changed since: an incremental build summarises nothing.
    let incremental = run(&mut as_ops(&["elections", "build"]));
    assert!(
        incremental.status.success(),
        "{}",
        text(&incremental.stderr)
    );
    let out = text(&incremental.stdout);
    assert!(
        out.starts_with("incremental build ") && out.contains("— 0 SIRETs summarised"),
        "{out}"
    );

    let store = relais_platform::store::open(&ctx.database).await.unwrap();
    let chain = store.audit_chain().await.unwrap();
    let entries = store
        .audit_entries(chain.anchor_seq, i64::MAX, 1000)
        .await
        .unwrap();
    store.close().await;
    let builds: Vec<_> = entries
        .iter()
        .filter(|e| e.record.action == "cli elections build")
        .collect();
    assert_eq!(builds.len(), 2);
    for (b, full) in builds.iter().zip([true, false]) {
        assert_eq!(b.record.actor, "cli:ops");
        assert!(b.record.success);
        assert_eq!(b.record.resource_type.as_deref(), Some("tasks"));
        assert_eq!(b.record.params.to_value()["full"], full);
    }
}
