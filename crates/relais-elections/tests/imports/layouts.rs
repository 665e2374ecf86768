//! Layouts without a committed sample: the Ministry's "PV retenus" workbook (headers with
//! trailing spaces, typed cells) and the upstream tool's table (carence rows, seats, a `Cycle`
//! column that disagrees with the date).

use crate::support::*;

/// A "PV retenus" workbook as the Ministry publishes it (generated).
fn pv_retenus() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let ws = wb.add_worksheet();
    ws.set_name("PV retenus").unwrap();
    let headers = [
        "SIRET",
        "N°PV",
        "Raison sociale ",
        "CP",
        "Ville",
        "Département",
        "Région",
        "IDCC ",
        "Lib IDCC ",
        "Date",
        "Coll",
        "Inscrits",
        "Votants",
        "SVE",
        "CGT",
        "CFDT",
        "CGT-FO",
        "CFTC",
        "CFE-CGC",
        "SOLIDAIRES",
        "UNSA",
        "AUTRES",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    // A SIRET typed as a number (its leading zeros lost), a date cell, numbers everywhere.
    ws.write_number(1, 0, 638_004_200_033.0).unwrap();
    ws.write_number(1, 1, 4_600_001.0).unwrap();
    ws.write_string(1, 2, "LABORATOIRE NUTERGIA").unwrap();
    ws.write_number(1, 3, 12_700.0).unwrap();
    ws.write_string(1, 4, "CAPDENAC-GARE").unwrap();
    ws.write_number(1, 5, 12.0).unwrap();
    ws.write_string(1, 6, "Occitanie").unwrap();
    ws.write_number(1, 7, 3109.0).unwrap();
    ws.write_string(1, 8, "INDUSTRIES ALIMENTAIRES DIVERSES")
        .unwrap();
    ws.write_datetime_with_format(1, 9, ExcelDateTime::from_ymd(2022, 3, 15).unwrap(), &date)
        .unwrap();
    ws.write_string(1, 10, "01").unwrap();
    for (c, v) in [159.0, 111.0, 93.0, 93.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        .iter()
        .enumerate()
    {
        ws.write_number(1, 11 + c as u16, *v).unwrap();
    }
    // YYYYMMDD as a number, a collège as a number, binary-float noise.
    ws.write_string(2, 0, "34329419500239").unwrap();
    ws.write_number(2, 1, 4_600_002.0).unwrap();
    ws.write_string(2, 2, "ETS LACTALIS LOGISTIQUE").unwrap();
    ws.write_number(2, 7, 112.0).unwrap();
    ws.write_number(2, 9, 20_230_105.0).unwrap();
    ws.write_number(2, 10, 2.0).unwrap();
    for (c, v) in [
        120.0,
        100.0,
        93.0,
        52.010_000_000_000_01,
        40.99,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ]
    .iter()
    .enumerate()
    {
        ws.write_number(2, 11 + c as u16, *v).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

pub(crate) async fn pv_retenus_workbook_with_trailing_space_headers(ctx: Ctx) {
    let env = env(&ctx).await;
    let r = env.pv("pv_retenus.xlsx", &pv_retenus(), |_| {}).await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(r.counts.inserted, 2);
    let matched = &r.columns.as_ref().unwrap()["matched"];
    assert_eq!(matched["idcc"], "IDCC", "read trimmed");
    assert_eq!(matched["idcc_label"], "Lib IDCC");
    assert_eq!(matched["pv_number"], "N°PV");
    assert_eq!(
        r.columns.as_ref().unwrap()["unknown"],
        serde_json::json!([])
    );
    let issues = env.issues(r.id).await;
    let messages: Vec<(u64, &str)> = issues.iter().map(|i| (i.row, i.message.as_str())).collect();
    assert_eq!(
        messages,
        vec![
            (
                2,
                "SIRET written as a number: its leading zeros are restored"
            ),
            (
                3,
                "more than 4 decimals (binary-float noise?): rounded to 52.01"
            ),
        ]
    );
    let nutergia = env.rows_of("00638004200033").await;
    let p = &nutergia[0];
    assert_eq!(p.key, "pv:4600001:01");
    assert_eq!(p.row.date, date(2022, 3, 15));
    assert_eq!(p.row.cp.as_deref(), Some("12700"));
    assert_eq!(p.row.departement.as_deref(), Some("12"));
    assert_eq!(p.row.idcc.as_deref(), Some("3109"));
    assert_eq!(
        p.row.idcc_label.as_deref(),
        Some("INDUSTRIES ALIMENTAIRES DIVERSES")
    );
    assert_eq!(
        p.row.raison_sociale.as_deref(),
        Some("LABORATOIRE NUTERGIA")
    );
    let lactalis = env.rows_of("34329419500239").await;
    let p = &lactalis[0];
    assert_eq!(p.key, "pv:4600002:02");
    assert_eq!(p.row.date, date(2023, 1, 5));
    assert_eq!(p.row.idcc.as_deref(), Some("0112"));
    assert_eq!((p.row.inscrits, p.row.votants), (120, Some(100)));
    assert_eq!(p.row.votes[0], votes("52.01"));
    assert_eq!(p.row.votes[1], votes("40.99"));
    env.stop().await;
}

pub(crate) async fn upstream_tool_table_with_carence_and_seats(ctx: Ctx) {
    let env = env(&ctx).await;
    let csv = "siret,Cycle,date_scrutin,institution,num_inscrits,num_votants,num_sve,\
score_CGT,score_CFDT,score_FO,score_CFTC,score_CGC,score_UNSA,score_SOLIDAIRE,score_AUTRE,\
siege_CGT,siege_CFDT,siege_FO,siege_CFTC,siege_CGC,siege_UNSA,siege_SOLIDAIRE,siege_AUTRE
34329419500239,C4,2022-06-01,CSE,100,80,75,40,35,0,0,0,0,0,0,2,1,0,0,0,0,0,0
00638004200033,C4,2023-02-10,CAR,50,,,,,,,,,,,,,,,,,,
42738003500027,C3,15/03/2022,CSE,87,55,51,51,0,0,0,0,0,0,0,,,,,,,,
";
    let r = env.pv("upstream.csv", csv.as_bytes(), |_| {}).await;
    assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
    assert_eq!(r.counts.inserted, 3);
    let issues = env.issues(r.id).await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        (
            issues[0].row,
            issues[0].column.as_str(),
            issues[0].message.as_str()
        ),
        (
            4,
            "cycle",
            "the file says C3 but the row belongs to C4: C4 kept"
        )
    );
    let elected = &env.rows_of("34329419500239").await[0];
    assert_eq!(elected.key, "s:34329419500239:2022-06-01::cse:1");
    assert_eq!(elected.row.kind, PvKind::Cse);
    assert_eq!(elected.row.seats, Some([2, 1, 0, 0, 0, 0, 0, 0]));
    assert_eq!(elected.row.college, None);
    let carence = &env.rows_of("00638004200033").await[0];
    assert_eq!(carence.key, "s:00638004200033:2023-02-10::carence:1");
    assert_eq!(carence.row.kind, PvKind::Carence);
    assert_eq!(
        (carence.row.inscrits, carence.row.votants, carence.row.sve),
        (50, None, Votes::ZERO)
    );
    assert_eq!(carence.row.seats, None);
    let other = &env.rows_of("42738003500027").await[0];
    assert_eq!(
        (other.row.cycle.as_str(), other.row.date),
        ("C4", date(2022, 3, 15))
    );
    env.stop().await;
}
