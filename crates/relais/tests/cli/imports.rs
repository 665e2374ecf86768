//! Imports through the real binary: a SIGKILL in the middle of an import, then a restart, ends
//! with the same rows as an uninterrupted `relais import`.

use super::*;

/// A sample CSV of `n` rows; every 1,000th row has an amount that is not a number.
pub(crate) fn sample_csv(n: usize) -> (Vec<u8>, usize) {
    let mut out = String::from("\u{feff}Code;Nom;Courriel;Montant;Date;Groupe\n");
    let mut bad = 0;
    for i in 1..=n {
        let amount = if i % 1_000 == 0 {
            bad += 1;
            "n/a".to_owned()
        } else {
            format!("{},{:02}", i * 7, i % 100)
        };
        out.push_str(&format!(
            "K{i:07};Société {i};contact{i}@example.org;{amount};{:02}/03/2024;g{}\n",
            1 + i % 28,
            i % 5
        ));
    }
    (out.into_bytes(), bad)
}

async fn sample_rows(
    database: &relais_platform::config::DatabaseConfig,
) -> Vec<relais_platform::imports::sample::SampleRow> {
    let store = relais_platform::store::open(database).await.unwrap();
    let rows = relais_platform::imports::sample::SampleImport::stored_rows(store.as_ref())
        .await
        .unwrap();
    store.close().await;
    rows.into_iter().map(|(r, _)| r).collect()
}

pub(crate) async fn sigkill_mid_import_resumes_to_the_content_of_an_uninterrupted_import(ctx: Ctx) {
    const ROWS: usize = 120_000;
    const ADMIN: &str = "relais_admin_secret_for_the_import_test";
    let (csv, bad) = sample_csv(ROWS);
    let file = ctx.dir.join("companies.csv");
    std::fs::write(&file, &csv).unwrap();
    let server_cmd = || {
        let mut cmd = relais_db(&ctx);
        cmd.env("RELAIS_TASKS_RESCUE_AFTER", "2s")
            .env("RELAIS_ADMIN_TOKEN", ADMIN)
            .env("RELAIS_IMPORTS_SAMPLE", "on")
            .env("RELAIS_IMPORTS_BATCH_ROWS", "500")
            .env(
                "RELAIS_IMPORTS_TYPES",
                "sample.max_size=100MB, sample.max_rows=1000000",
            );
        cmd
    };
    let client = reqwest::Client::new();
    let record = |server: &Server, id: &str| {
        let url = server.url(&format!("/api/imports/{id}"));
        let client = client.clone();
        async move {
            let r = client.get(url).bearer_auth(ADMIN).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    let mut first = Server::start(&ctx, "import-1", server_cmd());
    first.ready().await;
    let created = client
        .post(first.url("/api/imports/sample?filename=companies.csv"))
        .bearer_auth(ADMIN)
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = record(&first, &id).await;
        if r["resume_offset"].as_u64().unwrap() >= 1_000 {
            break;
        }
        assert!(Instant::now() < deadline, "no batch committed: {r}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let store = relais_platform::store::open(&ctx.database).await.unwrap();
    let at_kill = store
        .get_import(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    assert!(
        at_kill.resume_offset > 0 && at_kill.resume_offset < ROWS as u64,
        "killed too late to test anything: {at_kill:?}"
    );

    let mut second = Server::start(&ctx, "import-2", server_cmd());
    second.ready().await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let r = record(&second, &id).await;
        if !["pending", "running"].contains(&r["status"].as_str().unwrap()) {
            break r;
        }
        assert!(Instant::now() < deadline, "never finished: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Resumed, not restarted: every row counted once over both attempts.
    assert_eq!(done["status"], "partial", "{done}");
    assert!(done["attempts"].as_i64().unwrap() >= 2, "{done}");
    let counts = &done["counts"];
    assert_eq!(counts["read"], ROWS, "{done}");
    assert_eq!(counts["rejected"], bad, "{done}");
    assert_eq!(counts["inserted"], ROWS - bad, "{done}");
    assert_eq!(counts["updated"], 0, "{done}");
    let errors = client
        .get(second.url(&format!("/api/imports/{id}/errors.csv")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        errors.lines().count(),
        1 + bad,
        "each bad row reported once"
    );
    assert!(second.terminate(), "{}", second.log_text());

    // The same file through `relais import` into a fresh SQLite database, uninterrupted.
    let reference = run(relais(&ctx)
        .args(["import", "sample"])
        .arg(&file)
        .env("RELAIS_DATA_DIR", ctx.dir.join("reference"))
        .env("RELAIS_IMPORTS_SAMPLE", "on"));
    assert!(reference.status.success(), "{}", text(&reference.stderr));
    let stdout = text(&reference.stdout);
    assert!(stdout.contains("partial"), "{stdout}");
    assert!(
        stdout.contains(&format!("{ROWS} read, {} inserted", ROWS - bad)),
        "{stdout}"
    );
    let uninterrupted = sample_rows(&relais_platform::config::DatabaseConfig::Sqlite {
        path: ctx.dir.join("reference").join("relais.db"),
        readers: 2,
        busy_timeout: Duration::from_secs(5),
    })
    .await;
    let resumed = sample_rows(&ctx.database).await;
    assert_eq!(resumed.len(), ROWS - bad);
    assert!(
        resumed == uninterrupted,
        "the resumed import's rows differ from the uninterrupted one's"
    );
}
