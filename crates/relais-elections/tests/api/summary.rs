//! The summary list (filters, text search, sort and cursor pagination), the detail of a SIRET,
//! the upstream paths, and the roles of every elections route.

use crate::support::*;

/// The SIRETs of a list answer, in order.
fn sirets(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["siret"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn list_filters_select_summaries(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let check = |query: &'static str, expected: &'static [&'static str]| {
        let env = &env;
        async move {
            let page = env.json(&format!("/api/elections/summary?{query}")).await;
            assert_eq!(sirets(&page), expected, "{query}");
            assert_eq!(page["total"], expected.len(), "{query}");
        }
    };
    check("", &[A, C, B]).await;
    check("departement=12", &[A]).await;
    check("departement=8,59", &[C, B]).await;
    check("idcc=843", &[B]).await;
    check("statut_pap=pv_sans_invitation", &[C]).await;
    check("statut_pap=aucune_invitation,pv_apres_invitation", &[A, B]).await;
    check("cgt_implantee=true", &[A, B]).await;
    check("cgt_implantee=false", &[C]).await;
    // Representativeness at each SIRET's latest cycle (A: C5 at 5 %, B: C4 at 25 %, C: C5 at 0).
    check("cgt_representative=true", &[B]).await;
    check("cgt_representative=false", &[A, C]).await;
    check("cycle=C3", &[A]).await;
    check("cycle=c4", &[A, C, B]).await;
    check("cycle=C4&cgt_representative=false", &[A, C]).await;
    check("cycle=C5&departement=12&cgt_implantee=true", &[A]).await;
    check("departement=2A", &[]).await;

    let page = env.json("/api/elections/summary?departement=12").await;
    let a = &page["items"][0];
    assert_eq!(a["raison_sociale"], "Société Générale d'Études");
    assert_eq!(a["pap"]["statut_pap"], "pv_apres_invitation");
    assert_eq!(a["latest_cycle"], "C5");
    let c3 = &a["cycles"][0];
    assert_eq!(c3["cycle"], "C3");
    assert_eq!(c3["inscrits"], 150);
    assert_eq!(c3["sve"], 79.75);
    assert_eq!(c3["voix"]["cgt"], 40.5);
    assert_eq!(c3["voix"]["fo"], 39.25);
    assert_eq!(a["cycles"][1]["carence"], true);
    env.stop().await;
}

pub(crate) async fn text_search_ignores_accents_and_case(ctx: Ctx) {
    let env = loaded(&ctx).await;
    for (q, expected) in [
        ("eclair", vec![C, B]),
        ("ÉCLAIR", vec![C, B]),
        ("éclairage", vec![C]),
        ("gen soc", vec![A]),
        ("GÉNÉRALE  d'ét", vec![A]),
        ("ene", vec![]),
        ("3432", vec![A]),
        ("7328 2932", vec![B]),
        ("nord eclair", vec![C]),
    ] {
        let path = format!(
            "/api/elections/summary?q={}",
            q.replace(' ', "%20").replace('\'', "%27")
        );
        let path = path.replace('É', "%C3%89").replace('é', "%C3%A9");
        assert_eq!(sirets(&env.json(&path).await), expected, "{q}");
    }
    env.stop().await;
}

pub(crate) async fn bad_parameters_are_problems_naming_them(ctx: Ctx) {
    let env = loaded(&ctx).await;
    for (query, status, param) in [
        (
            "departement=20",
            StatusCode::UNPROCESSABLE_ENTITY,
            "departement",
        ),
        ("idcc=12a", StatusCode::UNPROCESSABLE_ENTITY, "idcc"),
        (
            "statut_pap=en_attente",
            StatusCode::UNPROCESSABLE_ENTITY,
            "statut_pap",
        ),
        ("cycle=C9", StatusCode::UNPROCESSABLE_ENTITY, "cycle"),
        (
            "cgt_implantee=oui",
            StatusCode::UNPROCESSABLE_ENTITY,
            "cgt_implantee",
        ),
        (
            "cgt_representative=2",
            StatusCode::UNPROCESSABLE_ENTITY,
            "cgt_representative",
        ),
        ("q=%20--%20", StatusCode::UNPROCESSABLE_ENTITY, "q"),
        ("sort=votes", StatusCode::UNPROCESSABLE_ENTITY, "sort"),
        ("order=up", StatusCode::UNPROCESSABLE_ENTITY, "order"),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        ("limit=501", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        ("after=zz", StatusCode::BAD_REQUEST, "after"),
        ("colour=red", StatusCode::BAD_REQUEST, "colour"),
        (
            "departement=08&departement=12",
            StatusCode::BAD_REQUEST,
            "departement",
        ),
    ] {
        let reply = env.get(&format!("/api/elections/summary?{query}")).await;
        reply.problem(status, Some(param));
    }
    // A cursor belongs to its sort.
    let first = env
        .json("/api/elections/summary?limit=1&sort=date_pv_max")
        .await;
    let next = first["next"].as_str().unwrap();
    let reply = env
        .get(&format!("/api/elections/summary?limit=1&after={next}"))
        .await;
    reply.problem(StatusCode::BAD_REQUEST, Some("after"));
    env.stop().await;
}

pub(crate) async fn pages_have_no_duplicates_or_gaps_under_every_sort(ctx: Ctx) {
    let env = env(&ctx).await;
    // 45 establishments with many equal sort keys: three dates, two sizes, some unnamed.
    let dates = ["2021-03-01", "2022-06-15", "2025-02-10"];
    let names = ["Alpha", "Beta", "", "Gamma"];
    let mut pvs = Vec::new();
    for i in 0..45u64 {
        let siret = siret_from(100_000_000_000 + i * 7_919);
        let votes = match i % 3 {
            0 => ["10", "10", "0", "0", "0", "0", "0", "0"],
            1 => ["0", "20", "0", "0", "0", "0", "0", "0"],
            _ => ["5", "15", "0", "0", "0", "0", "0", "0"],
        };
        pvs.push(
            Pv::new(&siret, dates[(i % 3) as usize], votes)
                .named(names[(i % 4) as usize], "Lyon", "69", "16")
                .college("01", 50 + 50 * (i % 2) as i64),
        );
    }
    env.load(&pvs, &[]).await;
    env.summarise().await;
    let all = env.json("/api/elections/summary?limit=500").await;
    assert_eq!(all["total"], 45);
    for sort in [
        "siret",
        "raison_sociale",
        "date_pv_max",
        "prochaine_election",
        "date_invitation_max",
        "inscrits",
        "cgt_voix",
        "cgt_share",
    ] {
        for order in ["asc", "desc"] {
            let whole = env
                .json(&format!(
                    "/api/elections/summary?limit=500&sort={sort}&order={order}"
                ))
                .await;
            let whole = sirets(&whole);
            let mut paged = Vec::new();
            let mut after = String::new();
            loop {
                let page = env
                    .json(&format!(
                        "/api/elections/summary?limit=7&sort={sort}&order={order}{after}"
                    ))
                    .await;
                assert_eq!(page["total"], 45);
                paged.extend(sirets(&page));
                match page["next"].as_str() {
                    Some(next) => after = format!("&after={next}"),
                    None => break,
                }
            }
            assert_eq!(paged, whole, "{sort} {order}: pages differ from one read");
            let mut unique = paged.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 45, "{sort} {order}");
        }
    }
    // The orders themselves.
    let by_date = env
        .json("/api/elections/summary?limit=500&sort=date_pv_max&order=desc")
        .await;
    let dates: Vec<&str> = by_date["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["date_pv_max"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    let by_name = env
        .json("/api/elections/summary?limit=500&sort=raison_sociale")
        .await;
    let items = by_name["items"].as_array().unwrap();
    assert!(items[0]["raison_sociale"].is_null(), "unnamed first");
    let ties: Vec<&str> = items
        .iter()
        .filter(|s| s["raison_sociale"] == "Alpha")
        .map(|s| s["siret"].as_str().unwrap())
        .collect();
    assert!(ties.windows(2).all(|w| w[0] < w[1]), "ties by SIRET");
    let by_share = env
        .json("/api/elections/summary?limit=500&sort=cgt_share&order=desc")
        .await;
    let first = &by_share["items"][0]["cycles"][0];
    assert_eq!(first["shares"]["cgt"], 0.5);
    env.stop().await;
}

pub(crate) async fn detail_has_the_timeline_and_invitations(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let a = env.json(&format!("/api/elections/summary/{A}")).await;
    assert_eq!(a["siret"], A);
    assert_eq!(a["summary"]["date_pv_max"], "2025-11-20");
    let cycles: Vec<&str> = a["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cycle"].as_str().unwrap())
        .collect();
    assert_eq!(cycles, ["C3", "C4", "C5"]);
    let c3 = &a["timeline"][0]["colleges"];
    assert_eq!(c3[0]["college"], "01");
    assert_eq!(c3[0]["pvs"][0]["voix"]["cgt"], 40.5);
    assert_eq!(c3[1]["college"], "02");
    assert_eq!(c3[1]["pvs"][0]["voix"]["fo"], 17);
    assert_eq!(a["timeline"][1]["colleges"][0]["pvs"][0]["kind"], "carence");
    assert_eq!(a["invitations"][0]["date"], "2025-09-01");
    // With spaces, as people write it.
    let spaced = env
        .json("/api/elections/summary/343%20294%20195%2000239")
        .await;
    assert_eq!(spaced["siret"], A);

    let unknown = siret_from(1_234_567_890_123);
    env.get(&format!("/api/elections/summary/{unknown}"))
        .await
        .problem(StatusCode::NOT_FOUND, None);
    for bad in ["34329419500238", "1234", "abc"] {
        env.get(&format!("/api/elections/summary/{bad}"))
            .await
            .problem(StatusCode::BAD_REQUEST, Some("siret"));
    }
    env.stop().await;
}

pub(crate) async fn seed_paths_answer_with_upstream_field_names(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let found = env.json("/api/siret?q=soc%20gen").await;
    let rows = found.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let a = &rows[0];
    for (field, value) in [
        ("siret", Value::from(A)),
        ("raison_sociale", "Société Générale d'Études".into()),
        ("idcc", "1486".into()),
        ("cp", Value::Null),
        ("ville", "Rodez".into()),
        ("date_pv_c3", "2019-05-06".into()),
        ("date_pv_c4", "2023-02-01".into()),
        ("carence_c3", false.into()),
        ("carence_c4", true.into()),
        ("inscrits_c3", 150.into()),
        ("votants_c3", 150.into()),
        ("sve_c3", 79.75.into()),
        ("cgt_voix_c3", 40.5.into()),
        ("fo_voix_c3", 39.25.into()),
        ("cfdt_voix_c3", 0.into()),
        ("statut_pap", "pv_apres_invitation".into()),
        ("date_pap_c5", "2025-09-01".into()),
        ("date_pv_max", "2025-11-20".into()),
        ("cgt_implantee", true.into()),
    ] {
        assert_eq!(a[field], value, "{field}");
    }
    let b = env.json(&format!("/api/siret/{B}")).await;
    assert_eq!(b["cgt_voix_c4"], 10);
    assert_eq!(b["cfdt_voix_c4"], 30);
    assert_eq!(b["date_pv_c3"], Value::Null);
    assert_eq!(b["cgt_siege_c3"], Value::Null);
    // 45 inscrits: 2 seats (R2314-1); quotient 20 gives CFDT 1, the highest average the other.
    assert_eq!(b["cgt_siege_c4"], 0);
    assert_eq!(b["cfdt_siege_c4"], 2);
    assert_eq!(b["statut_pap"], "aucune_invitation");
    assert_eq!(b["date_pap_c5"], Value::Null);
    let names: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(
        names.len(),
        relais_elections::upstream::columns().count(),
        "{names:?}"
    );
    let all = env.json("/api/siret?limit=2").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    env.get(&format!("/api/siret/{}", siret_from(42)))
        .await
        .problem(StatusCode::NOT_FOUND, None);
    env.get("/api/siret/12")
        .await
        .problem(StatusCode::BAD_REQUEST, Some("siret"));
    env.get("/api/siret?name=x")
        .await
        .problem(StatusCode::BAD_REQUEST, Some("name"));
    env.stop().await;
}

/// Every documented elections operation: (method, path template, concrete path, role).
fn elections_operations(env: &Env) -> Vec<(String, String, String, String)> {
    let doc = serde_json::to_value(&env.doc).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !(path.starts_with("/api/elections")
            || path.starts_with("/api/siret")
            || path.starts_with("/api/build/summary"))
        {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let role = op["x-required-role"].as_str().unwrap().to_owned();
            if method == "get" {
                assert_eq!(role, "viewer", "{path}: reads need the viewer role");
            }
            let concrete = path
                .replace("{siret}", A)
                .replace("{id}", "0190d5f6-0000-7000-8000-000000000000");
            ops.push((method.to_uppercase(), path.clone(), concrete, role));
        }
    }
    ops
}

pub(crate) async fn every_elections_route_needs_its_declared_role(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let ops = elections_operations(&env);
    let reads = ops
        .iter()
        .filter(|o| o.0 == "GET" && o.1.contains("summary"))
        .count();
    assert!(reads >= 3, "{ops:?}");
    for (method, path, concrete, required) in &ops {
        let reply = env.send_as(None, method, concrete).await;
        reply.problem(StatusCode::UNAUTHORIZED, None);
        let required: Role = required.parse().unwrap();
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            let reply = env.send_as(Some(role), method, concrete).await;
            if role >= required {
                assert!(
                    reply.status != StatusCode::UNAUTHORIZED
                        && reply.status != StatusCode::FORBIDDEN,
                    "{role} on {method} {path}: {}",
                    reply.status
                );
            } else {
                reply.problem(StatusCode::FORBIDDEN, None);
            }
        }
    }
    env.idle_builds().await;
    env.stop().await;
}
