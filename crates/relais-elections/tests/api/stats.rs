//! The dashboard and the time series on the hand-made dataset (figures computed by hand, see
//! `support::dataset`).

use crate::support::*;

fn cycle<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cycle"] == name)
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

fn union<'a>(audience: &'a Value, name: &str) -> &'a Value {
    audience["unions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["union"] == name)
        .unwrap()
}

pub(crate) async fn dashboard_counts_the_hand_made_dataset(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let stats = env.json("/api/elections/stats").await;
    assert_eq!(stats["summaries"], 3);
    assert_eq!(stats["cgt_implantee"], 2);
    let names: Vec<&str> = stats["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cycle"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["C3", "C4", "C5"]);

    let c3 = cycle(&stats, "C3");
    assert_eq!(c3["elections"], 1);
    assert_eq!(c3["inscrits"], 150);
    assert_eq!(c3["sve"], 79.75);
    assert_eq!(union(c3, "cgt")["voix"], 40.5);
    assert_eq!(union(c3, "cgt")["share"], 40.5 / 79.75);
    assert_eq!(c3["cgt_representative"], 1);

    // C4: B and C voted, A's PV is a carence (no election: it adds inscrits, no votes).
    let c4 = cycle(&stats, "C4");
    assert_eq!(c4["elections"], 2);
    assert_eq!(c4["carences"], 1);
    assert_eq!(c4["inscrits"], 100 + 45 + 110);
    assert_eq!(c4["votants"], 45 + 110);
    assert_eq!(c4["sve"], 140);
    assert_eq!(union(c4, "cgt")["voix"], 10);
    assert_eq!(union(c4, "cfdt")["voix"], 80);
    assert_eq!(union(c4, "fo")["voix"], 50);
    assert_eq!(union(c4, "cgt")["share"], 10.0 / 140.0);
    assert_eq!(c4["cgt_representative"], 1);

    // The audience is the latest cycle with an election: C5 (A and C).
    let audience = &stats["audience"];
    assert_eq!(audience["cycle"], "C5");
    assert_eq!(audience["elections"], 2);
    assert_eq!(audience["sve"], 115);
    assert_eq!(union(audience, "cgt")["voix"], 1);
    assert_eq!(union(audience, "fo")["voix"], 19);
    assert_eq!(union(audience, "cfdt")["voix"], 95);
    assert_eq!(union(audience, "unsa")["share"], 0.0);

    let statut = &stats["statut_pap"];
    for (s, n) in [
        ("aucune_invitation", 1),
        ("pv_apres_invitation", 1),
        ("pv_sans_invitation", 1),
        ("invitation_en_attente", 0),
        ("invitation_sans_pv", 0),
        ("carence_apres_invitation", 0),
        ("none", 0),
    ] {
        assert_eq!(statut[s], n, "{s}");
    }
    assert_eq!(
        stats["invitations_by_month"],
        serde_json::json!([{"month": "2025-09", "invitations": 1}])
    );
    // Next elections: A 2029-11-20, B 2026-03-04, C 2029-05-05, against the day of the figures.
    let as_of =
        chrono::NaiveDate::parse_from_str(stats["as_of"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let mut overdue = 0;
    let mut quarters: std::collections::BTreeMap<String, u64> = Default::default();
    for (d, q) in [
        ("2029-11-20", "2029-Q4"),
        ("2026-03-04", "2026-Q1"),
        ("2029-05-05", "2029-Q2"),
    ] {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap() < as_of {
            overdue += 1;
        } else {
            *quarters.entry(q.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(stats["overdue"], overdue);
    let upcoming: std::collections::BTreeMap<String, u64> = stats["upcoming_by_quarter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["quarter"].as_str().unwrap().to_owned(),
                q["elections"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(upcoming, quarters);

    // Filters apply; a given cycle is the audience's.
    let rodez = env.json("/api/elections/stats?departement=12").await;
    assert_eq!(rodez["summaries"], 1);
    assert_eq!(rodez["audience"]["cycle"], "C5");
    assert_eq!(union(&rodez["audience"], "cgt")["share"], 0.05);
    assert_eq!(rodez["invitations_by_month"][0]["invitations"], 1);
    let c4_only = env.json("/api/elections/stats?cycle=C4").await;
    assert_eq!(c4_only["audience"]["cycle"], "C4");
    assert_eq!(c4_only["audience"]["sve"], 140);
    let none = env.json("/api/elections/stats?departement=2B").await;
    assert_eq!(none["summaries"], 0);
    assert!(none["audience"].is_null());
    env.get("/api/elections/stats?cycle=C0")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Some("cycle"));
    env.get("/api/elections/stats?limit=3")
        .await
        .problem(StatusCode::BAD_REQUEST, Some("limit"));
    env.stop().await;
}

pub(crate) async fn time_series_counts_pvs_per_period(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let years = env.json("/api/elections/timeseries?by=year").await;
    assert_eq!(years["by"], "year");
    assert_eq!(years["undated_rows"], 0);
    let periods = years["periods"].as_array().unwrap();
    let labels: Vec<&str> = periods
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["2019", "2020", "2021", "2022", "2023", "2024", "2025"]
    );
    let year = |label: &str| periods.iter().find(|p| p["period"] == label).unwrap();
    // 2019: A's two collèges are one election.
    assert_eq!(year("2019")["elections"], 1);
    assert_eq!(year("2019")["pv_rows"], 2);
    assert_eq!(year("2019")["sve"], 79.75);
    assert_eq!(year("2019")["cgt"], 40.5);
    assert_eq!(year("2020")["pv_rows"], 0);
    assert!(year("2020")["cgt_share"].is_null());
    assert_eq!(year("2022")["cgt_share"], 0.25);
    assert_eq!(year("2023")["carences"], 1);
    assert_eq!(year("2023")["elections"], 0);
    assert_eq!(year("2023")["inscrits"], 100);
    assert_eq!(year("2025")["elections"], 2);
    assert_eq!(year("2025")["inscrits"], 119);
    assert_eq!(year("2025")["sve"], 115);
    assert_eq!(year("2025")["cgt"], 1);
    assert_eq!(year("2025")["start"], "2025-01-01");

    let quarters = env
        .json("/api/elections/timeseries?by=quarter&from=2025-01-01")
        .await;
    let labels: Vec<&str> = quarters["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["2025-Q2", "2025-Q3", "2025-Q4"]);
    let may = env
        .json("/api/elections/timeseries?from=2025-05-01&to=2025-05-31&departement=59")
        .await;
    assert_eq!(may["by"], "month");
    assert_eq!(may["periods"].as_array().unwrap().len(), 1);
    assert_eq!(may["periods"][0]["period"], "2025-05");
    assert_eq!(may["periods"][0]["sve"], 95);
    let none = env.json("/api/elections/timeseries?departement=2A").await;
    assert_eq!(none["periods"], serde_json::json!([]));

    for (query, param) in [
        ("by=week", "by"),
        ("from=2025-13-01", "from"),
        ("from=2025-06-01&to=2025-05-01", "to"),
        ("cgt_implantee=maybe", "cgt_implantee"),
    ] {
        env.get(&format!("/api/elections/timeseries?{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, Some(param));
    }
    env.stop().await;
}
