//! Exports: CSV content, a workbook that opens with the right header, large exports as tasks
//! with their download and retention.

use crate::support::*;

/// The records of a CSV export (BOM removed), header first.
fn records(body: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(body).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a BOM first");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn field<'a>(records: &'a [Vec<String>], row: usize, name: &str) -> &'a str {
    let column = records[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("{name}"));
    &records[row][column]
}

fn upstream_header() -> Vec<String> {
    relais_elections::upstream::columns()
        .map(str::to_owned)
        .collect()
}

pub(crate) async fn csv_export_has_upstream_columns_and_exact_values(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let d = siret_from(5_550_000_000_001);
    env.load(
        &[Pv::new(&d, "2022-03-04", ["0"; 8])
            .named("=HYPERLINK(\"x\")", "Charleville", "08", "843")
            .college("02", 5)],
        &[],
    )
    .await;
    env.summarise().await;
    let reply = env
        .get("/api/elections/summary/export?format=csv&sort=raison_sociale&order=desc")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert!(
        reply.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("elections-summary.csv")
    );
    let rows = records(&reply.body);
    assert_eq!(rows[0], upstream_header());
    assert_eq!(rows.len(), 5);
    let order: Vec<&str> = (1..5).map(|r| field(&rows, r, "siret")).collect();
    // By name (accents and case ignored), descending.
    assert_eq!(order, [A, d.as_str(), C, B]);
    assert_eq!(
        field(&rows, 1, "raison_sociale"),
        "Société Générale d'Études"
    );
    assert_eq!(field(&rows, 1, "cgt_voix_c3"), "40.5");
    assert_eq!(field(&rows, 1, "fo_voix_c3"), "39.25");
    assert_eq!(field(&rows, 1, "carence_c4"), "true");
    assert_eq!(field(&rows, 1, "date_pv_c3"), "2019-05-06");
    assert_eq!(field(&rows, 1, "cp"), "");
    assert_eq!(field(&rows, 1, "statut_pap"), "pv_apres_invitation");
    assert_eq!(field(&rows, 2, "raison_sociale"), "'=HYPERLINK(\"x\")");
    assert_eq!(field(&rows, 2, "inscrits_c4"), "5");

    let rodez = env
        .get("/api/elections/summary/export?departement=12")
        .await;
    let rows = records(&rodez.body);
    assert_eq!(rows.len(), 2);
    assert_eq!(field(&rows, 1, "siret"), A);
    env.get("/api/elections/summary/export?format=pdf")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Some("format"));
    env.get("/api/elections/summary/export?limit=5")
        .await
        .problem(StatusCode::BAD_REQUEST, Some("limit"));
    env.stop().await;
}

/// The rows of the workbook's sheet.
fn sheet(body: &[u8]) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(body.to_vec())).expect("an XLSX");
    assert_eq!(book.sheet_names(), ["summary"]);
    let range = book.worksheet_range("summary").unwrap();
    range.rows().map(<[calamine::Data]>::to_vec).collect()
}

pub(crate) async fn xlsx_export_opens_with_the_upstream_header(ctx: Ctx) {
    use calamine::{Data, DataType};
    let env = loaded(&ctx).await;
    let reply = env.get("/api/elections/summary/export?format=xlsx").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let rows = sheet(&reply.body);
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(header, upstream_header());
    assert_eq!(rows.len(), 4);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let a = &rows[1];
    assert_eq!(a[col("siret")], Data::String(A.into()));
    assert_eq!(a[col("cgt_voix_c3")], Data::Float(40.5));
    assert_eq!(a[col("carence_c4")], Data::Bool(true));
    assert_eq!(a[col("cp")], Data::Empty);
    let day = a[col("date_pv_c3")].as_date().expect("a date cell");
    assert_eq!(day.to_string(), "2019-05-06");
    // Nothing of the temporary workbook is left behind.
    let left = std::fs::read_dir(&env.settings.exports.dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
    env.stop().await;
}

pub(crate) async fn large_exports_run_as_tasks_and_are_downloaded(ctx: Ctx) {
    use relais_platform::tasks::{Enqueue, TaskState};
    let env = env_with(&ctx, |s| s.exports.task_rows = 2).await;
    let (pvs, invitations) = dataset();
    env.load(&pvs, &invitations).await;
    env.summarise().await;
    // Two rows: answered at once.
    let small = env.get("/api/elections/summary/export?cycle=C3").await;
    assert_eq!(small.status, StatusCode::OK);
    for (format, check_rows) in [("csv", 0), ("xlsx", 1)] {
        let reply = env
            .get(&format!(
                "/api/elections/summary/export?format={format}&sort=siret&order=desc"
            ))
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{format}");
        let task = reply.json();
        assert_eq!(task["kind"], "elections.export");
        let id: uuid::Uuid = task["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(reply.headers[header::LOCATION], format!("/api/tasks/{id}"));
        let done = env.finished(id).await;
        assert_eq!(done.state, TaskState::Succeeded, "{done:#?}");
        let result = done.result.unwrap();
        assert_eq!(result["rows"], 3);
        assert_eq!(result["format"], format);
        let download = result["download"].as_str().unwrap();
        assert_eq!(download, format!("/api/elections/exports/{id}"));
        let file = env.get(download).await;
        assert_eq!(file.status, StatusCode::OK);
        assert_eq!(
            file.headers[header::CONTENT_LENGTH],
            file.body.len().to_string()
        );
        if check_rows == 0 {
            let rows = records(&file.body);
            assert_eq!(rows[0], upstream_header());
            let sirets: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
            assert_eq!(sirets, [B, C, A]);
        } else {
            assert_eq!(sheet(&file.body).len(), 4);
        }
    }

    // A failed export is a conflict; another kind of task or an unknown id is not found.
    let mut bad = Enqueue::new(
        "elections.export",
        serde_json::json!({"format": "csv", "filters": {"cycle": "C9"}, "sort": {}}),
    );
    bad.max_attempts = Some(1);
    let (bad, _) = env.engine.enqueue(bad).await.unwrap();
    assert_eq!(env.finished(bad.id).await.state, TaskState::Failed);
    env.get(&format!("/api/elections/exports/{}", bad.id))
        .await
        .problem(StatusCode::CONFLICT, None);
    let (noop, _) = env
        .engine
        .enqueue(Enqueue::new(
            "elections.exports.retention",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    env.get(&format!("/api/elections/exports/{}", noop.id))
        .await
        .problem(StatusCode::NOT_FOUND, None);
    env.get("/api/elections/exports/not-a-uuid")
        .await
        .problem(StatusCode::BAD_REQUEST, None);
    env.finished(noop.id).await;

    // Retention deletes files older than a day.
    let files: Vec<_> = std::fs::read_dir(&env.settings.exports.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&files[0])
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (retention, _) = env
        .engine
        .enqueue(Enqueue::new(
            "elections.exports.retention",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let done = env.finished(retention.id).await;
    assert_eq!(done.result.unwrap()["deleted"], 1);
    assert!(!files[0].exists() && files[1].exists());
    let id = files[0].file_stem().unwrap().to_str().unwrap();
    env.get(&format!("/api/elections/exports/{id}"))
        .await
        .problem(StatusCode::NOT_FOUND, None);
    env.stop().await;
}
