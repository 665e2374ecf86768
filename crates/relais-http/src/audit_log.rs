//! The audit trail over HTTP (admin role): `GET /api/audit/logs` (filters, cursor pagination,
//! CSV export streamed page by page) and `GET /api/audit/stats` (counts by actor, resource type,
//! action and outcome, per day over the last N days). Both paths are the seed's.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use relais_platform::audit::{Audit, AuditEntry, AuditFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use crate::access::{Access, Role, Routes};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Json, Query};

pub(crate) fn routes(audit: Audit) -> Routes<()> {
    Routes::<Audit>::new()
        .sensitive(Access::Role(Role::Admin), routes!(audit_logs))
        .route(Access::Role(Role::Admin), routes!(audit_stats))
        .with_state(audit)
}

/// Records per page read from the store while exporting CSV.
const EXPORT_PAGE: u32 = 1000;

/// Filters and page of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Exact actor (token or user name, `anonymous`, `cli:<user>`, `system:<component>`); the
    /// seed's `user_identifier` is accepted too.
    #[serde(alias = "user_identifier")]
    pub actor: Option<String>,
    /// Exact action, e.g. `POST /api/tasks` or `cli token create`.
    pub action: Option<String>,
    /// Exact resource type, e.g. `tasks`.
    pub resource_type: Option<String>,
    /// Exact resource id.
    pub resource_id: Option<String>,
    /// `true` or `false`.
    pub success: Option<bool>,
    /// Exact request id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// At or after: RFC 3339, or a date (`2026-11-21`, its start in UTC); `start_date` is
    /// accepted too.
    #[serde(alias = "start_date")]
    pub from: Option<String>,
    /// Before: RFC 3339, or a date (its start in UTC); `end_date` is accepted too.
    #[serde(alias = "end_date")]
    pub to: Option<String>,
    /// Cursor: the `next` of the previous page (a sequence number).
    pub after: Option<i64>,
    /// Page size, 1–1000 (default 100). With `format=csv`: at most this many records (default:
    /// every matching record).
    pub limit: Option<u32>,
    /// `json` (default) or `csv`; `Accept: text/csv` also selects CSV.
    pub format: Option<String>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogView {
    /// Position in the hash chain (contiguous from 1).
    pub seq: i64,
    /// When the operation started (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// The actor's role.
    pub role: Option<String>,
    /// `METHOD /route/template`, or a command such as `cli token create`.
    pub action: String,
    /// Resource type, e.g. `tasks`.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// HTTP status (absent outside HTTP).
    pub status: Option<u16>,
    /// Whether it succeeded.
    pub success: bool,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// Client IP address.
    pub client_addr: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Parameter summary (path, query, body), secrets redacted.
    #[schema(value_type = Object)]
    pub params: Value,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

impl From<AuditEntry> for AuditLogView {
    fn from(e: AuditEntry) -> Self {
        let r = e.record;
        AuditLogView {
            seq: e.seq,
            timestamp: r.at,
            params: r.params.to_value(),
            actor: r.actor,
            role: r.role,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            status: r.status,
            success: r.success,
            duration_ms: r.duration_micros as f64 / 1e3,
            client_addr: r.client_addr,
            request_id: r.request_id,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A page of audit records.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditLogView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<i64>,
}

fn invalid(name: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, format!("`{name}`: {message}"))
}

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Some(d.and_utc()))
        .ok_or_else(|| {
            invalid(
                name,
                format!("{v:?} is neither RFC 3339 nor a date (YYYY-MM-DD)"),
            )
        })
}

fn wants_csv(q: &LogQuery, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.format.as_deref() {
        Some("csv") => return Ok(true),
        Some("json") => return Ok(false),
        Some(other) => {
            return Err(invalid(
                "format",
                format!("{other:?} is not `json` or `csv`"),
            ));
        }
        None => {}
    }
    Ok(headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|m| {
                m.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("text/csv")
            })
        }))
}

/// Audit log
///
/// Newest first, filtered, with cursor pagination; `format=csv` (or `Accept: text/csv`) streams
/// every matching record as CSV. Reading the log is itself recorded.
#[utoipa::path(get, path = "/api/audit/logs", tag = "audit", params(LogQuery),
    responses(
        (status = 200, description = "A page of records (JSON), or every matching record (CSV)", body = AuditPage,
            content_type = "application/json"),
        (status = 400, description = "Invalid filter", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn audit_logs(
    State(audit): State<Audit>,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(&q, &headers)?;
    match (q.limit, csv) {
        (Some(0), _) => return Err(invalid("limit", "must be at least 1")),
        (Some(l), false) if l > 1000 => return Err(invalid("limit", "must be from 1 to 1000")),
        _ => {}
    }
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    let empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        actor: empty(q.actor),
        action: empty(q.action),
        resource_type: empty(q.resource_type),
        resource_id: empty(q.resource_id),
        success: q.success,
        request_id: empty(q.request_id),
        from,
        to,
        before_seq: q.after,
        limit: q.limit.unwrap_or(100),
    };
    if csv {
        return Ok(export_csv(audit, filter, q.limit));
    }
    let entries = audit.list(&filter).await?;
    let next = if entries.len() == filter.limit as usize {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: entries.into_iter().map(AuditLogView::from).collect(),
        next,
    })
    .into_response())
}

const CSV_HEADER: &str = "seq,timestamp,actor,role,action,resource_type,resource_id,status,success,duration_ms,client_addr,request_id,params,prev_hash,hash\r\n";

/// One CSV field: quoted when needed; a text starting like a spreadsheet formula gets a leading
/// `'` so that opening the export cannot run it.
fn csv_field(out: &mut String, value: &str) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = guarded || value.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        out.push('"');
        if guarded {
            out.push('\'');
        }
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn csv_row(out: &mut String, e: &AuditEntry) {
    let r = &e.record;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let fields = [
        e.seq.to_string(),
        r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        r.actor.clone(),
        opt(&r.role),
        r.action.clone(),
        opt(&r.resource_type),
        opt(&r.resource_id),
        r.status.map(|s| s.to_string()).unwrap_or_default(),
        r.success.to_string(),
        format!("{:.3}", r.duration_micros as f64 / 1e3),
        opt(&r.client_addr),
        opt(&r.request_id),
        r.params.as_str().to_owned(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

/// Streams every record matching `filter` (at most `cap`), a page at a time.
fn export_csv(audit: Audit, filter: AuditFilter, cap: Option<u32>) -> Response {
    struct Export {
        audit: Audit,
        filter: AuditFilter,
        left: u64,
        header: bool,
        done: bool,
    }
    let state = Export {
        audit,
        filter,
        left: cap.map_or(u64::MAX, u64::from),
        header: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.header {
            s.header = false;
            return Some((Ok::<_, std::io::Error>(CSV_HEADER.to_owned()), s));
        }
        if s.done || s.left == 0 {
            return None;
        }
        s.filter.limit = u32::try_from(s.left.min(u64::from(EXPORT_PAGE))).unwrap_or(EXPORT_PAGE);
        let page = match s.audit.list(&s.filter).await {
            Ok(page) => page,
            Err(e) => {
                // Headers are sent: the only way to signal the failure is to cut the stream.
                tracing::error!(error = %e, "the audit CSV export failed mid-stream");
                return Some((
                    Err(std::io::Error::other("audit export failed")),
                    Export { done: true, ..s },
                ));
            }
        };
        if page.len() < s.filter.limit as usize {
            s.done = true;
        }
        s.left -= page.len() as u64;
        s.filter.before_seq = page.last().map(|e| e.seq).or(s.filter.before_seq);
        if page.is_empty() {
            return None;
        }
        let mut chunk = String::with_capacity(page.len() * 256);
        for e in &page {
            csv_row(&mut chunk, e);
        }
        Some((Ok(chunk), s))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.csv\""),
    );
    response
}

/// Window of the statistics.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Days counted, today (UTC) included: 1–3660 (default 30).
    pub days: Option<u32>,
}

/// A group and its count.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCount {
    /// The group (absent: records without one, e.g. no resource type).
    pub key: Option<String>,
    /// Records.
    pub count: i64,
}

/// One UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCount {
    /// The date (UTC).
    pub date: NaiveDate,
    /// Records.
    pub total: i64,
    /// Successful records.
    pub succeeded: i64,
    /// Failed records.
    pub failed: i64,
}

/// Counts by outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessCounts {
    /// Successful records.
    #[serde(rename = "true")]
    pub succeeded: i64,
    /// Failed records.
    #[serde(rename = "false")]
    pub failed: i64,
}

/// Audit statistics over a window of days.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditStatsView {
    /// Days in the window.
    pub days: u32,
    /// Start of the window: midnight UTC, `days - 1` days before today.
    pub since: DateTime<Utc>,
    /// Records in the window.
    pub total: i64,
    /// Successful ones.
    pub succeeded: i64,
    /// Failed ones.
    pub failed: i64,
    /// By outcome (`true`, `false`).
    pub by_success: SuccessCounts,
    /// By actor, most frequent first (at most 100).
    pub by_actor: Vec<GroupCount>,
    /// By resource type, most frequent first (at most 100).
    pub by_resource_type: Vec<GroupCount>,
    /// By action, most frequent first (at most 100).
    pub by_action: Vec<GroupCount>,
    /// Every day of the window, oldest first (days without records count 0).
    pub per_day: Vec<DayCount>,
}

/// Audit statistics
///
/// Counts by actor, resource type, action and outcome, and per day, over the last `days` days.
#[utoipa::path(get, path = "/api/audit/stats", tag = "audit", params(StatsQuery),
    responses(
        (status = 200, description = "Statistics", body = AuditStatsView),
        (status = 400, description = "Invalid `days`", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn audit_stats(
    State(audit): State<Audit>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<AuditStatsView>, ApiError> {
    let days = q.days.unwrap_or(30);
    if !(1..=3660).contains(&days) {
        return Err(invalid("days", "must be from 1 to 3660"));
    }
    let today = audit.now().date_naive();
    let first = today - chrono::Days::new(u64::from(days) - 1);
    let since = first
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let counts = audit.counts(since).await?;
    let groups = |list: Vec<(Option<String>, i64)>| {
        list.into_iter()
            .map(|(key, count)| GroupCount { key, count })
            .collect::<Vec<_>>()
    };
    let per_day = first
        .iter_days()
        .take(days as usize)
        .map(|date| {
            let day = (date - DateTime::<Utc>::UNIX_EPOCH.date_naive()).num_days();
            let (total, failed) = counts
                .per_day
                .iter()
                .find(|(d, _, _)| *d == day)
                .map_or((0, 0), |(_, t, f)| (*t, *f));
            DayCount {
                date,
                total,
                succeeded: total - failed,
                failed,
            }
        })
        .collect();
    Ok(Json(AuditStatsView {
        days,
        since,
        total: counts.total,
        succeeded: counts.succeeded,
        failed: counts.failed,
        by_success: SuccessCounts {
            succeeded: counts.succeeded,
            failed: counts.failed,
        },
        by_actor: groups(
            counts
                .by_actor
                .into_iter()
                .map(|(k, n)| (Some(k), n))
                .collect(),
        ),
        by_resource_type: groups(counts.by_resource_type),
        by_action: groups(
            counts
                .by_action
                .into_iter()
                .map(|(k, n)| (Some(k), n))
                .collect(),
        ),
        per_day,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        for v in ["plain", "a,b", "say \"hi\"", "=cmd()", "-1", "two\nlines"] {
            csv_field(&mut out, v);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"'=cmd()\"|\"'-1\"|\"two\nlines\"|"
        );
    }
}
