//! `GET /api/elections/stats` (dashboard) and `GET /api/elections/timeseries` (PVs per
//! period), over the summaries the filters select.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDate;
use relais_http::{ApiError, Query};

use super::params::{SeriesParams, StatsParams, invalid};
use super::{ReadApi, to_json};
use crate::query::ParamError;
use crate::stats::{self, Dashboard, Period, Series};

/// Dashboard statistics
///
/// Over the summaries matching the filters: audience per union (votes exact, share of SVE) at
/// the reference cycle (`cycle`, else the latest cycle with an election) and per cycle; counts
/// per PAP status; invitations per month; projected next elections (latest PV + 4 years) per
/// quarter from the current one, and those already past. A union without a list and a union
/// with 0 votes look the same in the data.
#[utoipa::path(get, path = "/api/elections/stats", tag = "elections", params(StatsParams),
    responses(
        (status = 200, description = "The dashboard", body = Dashboard),
        (status = 400, description = "Unknown parameter", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A refused value (the problem names the parameter)", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn dashboard(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Response, ApiError> {
    let filter = p.filters().parse(api.cycles()).map_err(invalid)?;
    let today = api.today();
    api.cached(&headers, format!("stats:{filter:?}:{today}"), || async {
        to_json(&stats::dashboard(api.db(), &filter, today).await?)
    })
    .await
}

fn date(param: &'static str, value: &Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                invalid(ParamError {
                    param,
                    message: format!("a date written YYYY-MM-DD, got {v:?}"),
                })
            }),
    }
}

/// Time series
///
/// The stored PVs of the SIRETs matching the filters, per month, quarter or year of their
/// election date (from `from` to `to` when given): elections (a SIRET and date with a voting
/// collège), carences (every PV of the date a carence), PV rows, inscrits, votants, SVE, CGT
/// votes and share. Every period from the first to the last is listed, empty ones included;
/// undated rows are counted apart.
#[utoipa::path(get, path = "/api/elections/timeseries", tag = "elections", params(SeriesParams),
    responses(
        (status = 200, description = "The series", body = Series,
            example = json!({"by": "quarter", "periods": [{"period": "2025-Q2", "start": "2025-04-01", "elections": 1, "carences": 0, "pv_rows": 1, "inscrits": 104, "votants": 104, "sve": 95, "cgt": 0, "cgt_share": 0.0}], "undated_rows": 0})),
        (status = 400, description = "Unknown parameter", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A refused value (the problem names the parameter)", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn timeseries(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Query(p): Query<SeriesParams>,
) -> Result<Response, ApiError> {
    let filter = p.filters().parse(api.cycles()).map_err(invalid)?;
    let by = match p.by.as_deref().map(str::trim) {
        None | Some("") => Period::Month,
        Some(b) => Period::parse(b).ok_or_else(|| {
            invalid(ParamError {
                param: "by",
                message: format!("`month`, `quarter` or `year`, got {b:?}"),
            })
        })?,
    };
    let from = date("from", &p.from)?;
    let to = date("to", &p.to)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(invalid(ParamError {
            param: "to",
            message: format!("{t} is before `from` ({f})"),
        }));
    }
    api.cached(
        &headers,
        format!("series:{filter:?}:{by:?}:{from:?}:{to:?}"),
        || async { to_json(&stats::series(api.db(), &filter, by, from, to).await?) },
    )
    .await
}
