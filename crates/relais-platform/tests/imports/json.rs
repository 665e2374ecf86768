//! JSON uploads: refused unless accepted, read as an array of objects (keys in any order,
//! missing keys empty, numbers as written), nested values failing the import clearly.

use crate::support::*;
use relais_platform::imports::FileFormat;

pub(crate) async fn json_arrays_are_read_when_accepted(ctx: Ctx) {
    assert!(
        !Config::for_data_dir(&ctx.dir)
            .imports
            .defaults
            .formats
            .contains(&FileFormat::Json),
        "JSON is not accepted by default"
    );
    let env = env_with(&ctx, |s| s.defaults.formats.push(FileFormat::Json), |r| r).await;
    // Keys in varying order, a missing key, a code stored as a number, a row missing its name.
    let json = r#"[
  {"code": 1001, "name": "Élise", "amount": 12.5, "date": "2024-03-01"},
  {"date": "01/02/2024", "name": "Bob", "code": "B2"},
  {"code": "C3", "amount": "x"},
  {"name": "Zoé", "code": "Z4", "extra": true}
]"#;
    let r = env.import("rows.json", json.as_bytes()).await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(r.file.format, FileFormat::Json);
    assert_eq!(
        (r.counts.read, r.counts.accepted, r.counts.rejected),
        (4, 3, 1)
    );
    assert_eq!(
        r.columns.as_ref().unwrap()["unknown"],
        serde_json::json!(["extra"])
    );
    let issues = env.issues(r.id).await;
    let rejected: Vec<(u64, Option<String>)> = issues
        .iter()
        .filter(|i| i.1 == "error")
        .map(|i| (i.0, i.2.clone()))
        .collect();
    assert_eq!(
        rejected,
        vec![(4, Some("name".into())), (4, Some("amount".into()))],
        "rows are the lines where objects start: {issues:?}"
    );
    let rows = env.rows().await;
    let got: Vec<(&str, &str, Option<i64>)> = rows
        .iter()
        .map(|r| (r.code.as_str(), r.name.as_str(), r.amount_cents))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1001", "Élise", Some(1_250)),
            ("B2", "Bob", None),
            ("Z4", "Zoé", None)
        ]
    );
    assert_eq!(rows[1].day, date(2024, 2, 1));

    // A nested value fails the import with its key and line; nothing is written.
    let nested = "[\n{\"code\": \"N1\", \"name\": \"ok\"},\n{\"code\": \"N2\", \"name\": {\"first\": \"x\"}}\n]";
    let r = env.import("nested.json", nested.as_bytes()).await;
    assert_eq!(r.status, ImportStatus::Failed, "{r:#?}");
    let error = r.error.unwrap();
    assert!(
        error.contains("key `name` holds an object") && error.contains("line 3"),
        "{error}"
    );
    assert!(!env.rows().await.iter().any(|r| r.code.starts_with('N')));

    // Not an array of objects, or cut short: refused at upload.
    for (name, bytes, expected) in [
        ("object.json", &b"{\"code\": 1}"[..], "TypeMismatch"),
        ("cut.json", &b"[{\"code\": 1}, {\"code\""[..], "Damaged"),
        ("latin.json", &b"[{\"name\": \"\xe9\"}]"[..], "TypeMismatch"),
    ] {
        let err = env.upload_with(name, bytes, |_| {}).await.expect_err(name);
        assert!(format!("{err:?}").starts_with(expected), "{name}: {err:?}");
    }
    let err = env
        .upload_with("rows.json", json.as_bytes(), |r| r.sheet = Some("x".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spreadsheets only"), "{err}");
    env.stop().await;
}
