//! The upstream tool's paths, answered with its summary's field names so its pages keep
//! working: `GET /api/siret?q=` (search) and `GET /api/siret/{siret}`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use relais_http::{ApiError, Path, Query};

use super::params::{SeedSearchParams, invalid, limit};
use super::{ReadApi, siret, to_json, unknown_siret};
use crate::query::FilterParams;
use crate::store::{self, Order, SortKey};
use crate::upstream;

/// Search SIRETs (upstream format)
///
/// Summaries whose name words start with the words of `q` (accents and case ignored) or whose
/// SIRET starts with its digits, by SIRET, as the upstream summary's rows: `siret`,
/// `raison_sociale`, `idcc`, `cp`, `ville`, per cycle C3 and C4 `date_pv_cN`, `carence_cN`,
/// `inscrits_cN`, `votants_cN`, `sve_cN`, `<union>_voix_cN` and `<union>_siege_cN` (unions
/// `cgt`, `cfdt`, `fo`, `cftc`, `cgc`, `unsa`, `solidaires`, `autre`; null without a PV in the
/// cycle), `statut_pap`, `date_pap_c5`, `date_pv_max`, `cgt_implantee`. Dates are
/// `YYYY-MM-DD`, votes numbers; a union without a list and one with 0 votes look the same.
#[utoipa::path(get, path = "/api/siret", tag = "elections", params(SeedSearchParams),
    responses(
        (status = 200, description = "Matching summaries, upstream field names", body = Vec<Object>,
            example = json!([{"siret": "34329419500239", "raison_sociale": "Société Générale d'Études", "idcc": "1486", "cp": "12000", "ville": "Rodez", "date_pv_c3": "2019-05-06", "date_pv_c4": "2023-02-01", "carence_c3": false, "carence_c4": true, "inscrits_c3": 150, "inscrits_c4": 12, "votants_c3": 150, "votants_c4": 0, "sve_c3": 79.75, "sve_c4": 0, "cgt_voix_c3": 40.5, "cgt_voix_c4": 0, "cgt_siege_c3": 2, "cgt_siege_c4": 0, "statut_pap": "invitation_en_attente", "date_pap_c5": "2025-09-01", "date_pv_max": "2023-02-01", "cgt_implantee": true}])),
        (status = 400, description = "Unknown parameter", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A refused value (the problem names the parameter)", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn search(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Query(p): Query<SeedSearchParams>,
) -> Result<Response, ApiError> {
    let filter = FilterParams {
        q: p.q.clone(),
        ..FilterParams::default()
    }
    .parse(api.cycles())
    .map_err(invalid)?;
    let limit = limit(&p.limit)?;
    api.cached(&headers, format!("seed:{filter:?}:{limit}"), || async {
        let page =
            store::summary_page(api.db(), &filter, SortKey::Siret, Order::Asc, None, limit).await?;
        let rows: Vec<_> = page.items.iter().map(upstream::json).collect();
        to_json(&rows)
    })
    .await
}

/// One SIRET (upstream format)
///
/// The SIRET's summary as the upstream summary's row (fields as for `GET /api/siret`). 404 when
/// it has no summary; 400 when it is not a SIRET.
#[utoipa::path(get, path = "/api/siret/{siret}", tag = "elections",
    params(("siret" = String, Path, description = "The SIRET (14 digits)", example = "34329419500239")),
    responses(
        (status = 200, description = "The summary, upstream field names", body = Object),
        (status = 400, description = "Not a SIRET", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No summary for this SIRET", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn one(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Path(text): Path<String>,
) -> Result<Response, ApiError> {
    let siret = siret(&text)?;
    api.cached_or(
        &headers,
        format!("seed:{siret}"),
        || unknown_siret(&siret),
        || async {
            match store::summary_of(api.db(), &siret).await? {
                Some(s) => Ok(Some(to_json(&upstream::json(&s))?)),
                None => Ok(None),
            }
        },
    )
    .await
}
