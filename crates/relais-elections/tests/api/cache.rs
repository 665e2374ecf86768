//! Cached reads: `ETag` and 304, answers served from the cache, dropped by every build, and
//! changed once a build took new rows.

use crate::support::*;

/// The `elections` namespace's (hits, entries) in this process.
async fn cache_figures(env: &Env) -> (u64, u64) {
    let stats = env.platform.cache.stats().await;
    stats
        .namespaces
        .iter()
        .find(|n| n.namespace == "elections")
        .map_or((0, 0), |n| (n.hits, n.entries))
}

pub(crate) async fn cached_reads_change_after_a_build(ctx: Ctx) {
    let env = loaded(&ctx).await;
    let list = "/api/elections/summary?departement=12";
    let first = env.get(list).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["total"], 1);
    assert_eq!(first.headers[header::CACHE_CONTROL], "private, no-cache");
    let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();
    let (hits, _) = cache_figures(&env).await;
    let again = env
        .get_as(Some(Role::Viewer), list, &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let (hits_after, _) = cache_figures(&env).await;
    assert_eq!(hits_after, hits + 1, "the second read is a cache hit");
    let stats = env.json("/api/elections/stats?departement=12").await;
    assert_eq!(stats["summaries"], 1);
    let detail = env.json(&format!("/api/elections/summary/{A}")).await;
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 3);
    let seed = env.json("/api/siret?q=rodez").await;
    assert_eq!(
        seed.as_array().unwrap().len(),
        0,
        "q searches names, not towns"
    );
    let (_, entries) = cache_figures(&env).await;
    assert!(entries >= 4, "{entries} cached answers");

    // A new establishment in Rodez and a new C5 election for A: their import enqueues an
    // incremental build; once it ran, the cached answers are gone and the reads see it.
    let d = siret_from(1_212_121_212_121);
    env.load(
        &[
            Pv::new(&d, "2025-06-02", ["30", "10", "0", "0", "0", "0", "0", "0"]).named(
                "Rodez Mécanique",
                "Rodez",
                "12",
                "1486",
            ),
            Pv::new(A, "2026-01-15", ["12", "0", "8", "0", "0", "0", "0", "0"])
                .named("Société Générale d'Études", "Rodez", "12", "1486")
                .college("05", 20),
        ],
        &[],
    )
    .await;
    env.idle_builds().await;
    let (_, entries) = cache_figures(&env).await;
    assert_eq!(entries, 0, "every build drops the cached reads");
    let second = env
        .get_as(Some(Role::Viewer), list, &[("if-none-match", &etag)])
        .await;
    assert_eq!(
        second.status,
        StatusCode::OK,
        "the old ETag no longer matches"
    );
    assert_ne!(second.headers[header::ETAG].to_str().unwrap(), etag);
    let page = second.json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["siret"], d.as_str());
    let stats = env.json("/api/elections/stats?departement=12").await;
    assert_eq!(stats["summaries"], 2);
    assert_eq!(stats["audience"]["sve"], 60);
    let detail = env.json(&format!("/api/elections/summary/{A}")).await;
    assert_eq!(detail["summary"]["date_pv_max"], "2026-01-15");
    env.stop().await;
}
