//! `GET /api/elections/summary` (filtered, sorted, paged) and
//! `GET /api/elections/summary/{siret}` (one SIRET with its PV timeline and invitations).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use relais_http::{ApiError, Path, Query};

use super::params::{ListParams, decode_cursor, encode_cursor, invalid, limit};
use super::views::{SiretDetail, SummaryList, SummaryView};
use super::{ReadApi, siret, to_json, unknown_siret};
use crate::store;

/// List summaries
///
/// The per-SIRET summaries matching the filters, sorted (then by SIRET), a page at a time:
/// pass the answer's `next` as `after` for the following page, with the same filters and sort
/// (no row is repeated or skipped, even under equal sort keys). A refused parameter is a
/// problem naming it (400 for unknown ones and cursors, 422 for values). Votes are numbers
/// exact to four decimals; a union without a list and a union with 0 votes look the same.
#[utoipa::path(get, path = "/api/elections/summary", tag = "elections", params(ListParams),
    responses(
        (status = 200, description = "A page of summaries", body = SummaryList,
            example = json!({"items": [{"siret": "34329419500239", "raison_sociale": "Société Générale d'Études", "ville": "Rodez", "cp": "12000", "departement": "12", "idcc": "1486", "idcc_label": null, "date_pv_max": "2023-02-01", "date_invitation_max": "2025-09-01", "prochaine_election": "2027-02-01", "cgt_implantee": true, "latest_cycle": "C4", "pap": {"cycle": "C5", "statut_pap": "invitation_en_attente", "date_pap": "2025-09-01", "date_pv_pap": null, "invitations_a_revoir": 0}, "valid_until": "2025-12-31", "built_at": "2025-10-02T08:00:00Z", "cycles": []}], "next": "7b22736f7274223a22736972657422…", "total": 1})),
        (status = 400, description = "Unknown parameter or invalid cursor", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A filter value is refused (the problem names the parameter)", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn list(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let filter = p.filters().parse(api.cycles()).map_err(invalid)?;
    let (sort, order) = p.sort().parse().map_err(invalid)?;
    let limit = limit(&p.limit)?;
    let after = decode_cursor(&p.after, sort, order)?;
    let key = format!("list:{filter:?}:{sort:?}:{order:?}:{limit}:{after:?}");
    api.cached(&headers, key, || async {
        let db = api.db();
        let total = store::summary_filter_count(db, &filter).await?;
        let page = store::summary_page(db, &filter, sort, order, after.as_ref(), limit).await?;
        let list = SummaryList {
            items: page.items.iter().map(SummaryView::from).collect(),
            next: page.next.map(|k| encode_cursor(sort, order, &k)),
            total,
        };
        to_json(&list)
    })
    .await
}

/// One SIRET
///
/// The SIRET's summary, its stored PV rows per cycle and collège (the timeline, oldest first)
/// and its invitations. `summary` is `null` while rows imported since the last build wait for
/// the next one. 404 when nothing is known of the SIRET; 400 when the SIRET is not one (14
/// digits with a valid check digit).
#[utoipa::path(get, path = "/api/elections/summary/{siret}", tag = "elections",
    params(("siret" = String, Path, description = "The SIRET (14 digits, spaces allowed)", example = "34329419500239")),
    responses(
        (status = 200, description = "The SIRET", body = SiretDetail),
        (status = 400, description = "Not a SIRET", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing is known of this SIRET", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn detail(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Path(text): Path<String>,
) -> Result<Response, ApiError> {
    let siret = siret(&text)?;
    api.cached_or(
        &headers,
        format!("detail:{siret}"),
        || unknown_siret(&siret),
        || async {
            let db = api.db();
            let one = std::slice::from_ref(&siret);
            let summary = store::summary_of(db, &siret).await?;
            let rows = store::pv_rows_of(db, one).await?;
            let invitations = store::invitations_of(db, one).await?;
            if summary.is_none() && rows.is_empty() && invitations.is_empty() {
                return Ok(None);
            }
            let detail = SiretDetail::new(
                siret.as_str().to_owned(),
                summary.as_ref(),
                &rows,
                &invitations,
            );
            Ok(Some(to_json(&detail)?))
        },
    )
    .await
}
