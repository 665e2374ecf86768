//! Import routes: upload (multipart or raw body, streamed to the file store), records, row
//! errors as CSV, cancel, retry, statistics and the registered types. HTTP shapes are defined
//! here; the work is `relais_platform::imports`.
//!
//! Every route that names one import or one type shares the template `/api/imports/{id}` (the
//! router cannot hold two parameter names at one position): for the upload, `{id}` is the type.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use relais_platform::imports::{
    CancelResult, ImportError, ImportFilter, ImportRecord, ImportStatus, Imports, TypeInfo,
    UploadRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Access, Principal, Role, Routes};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Json, Path, Query};

/// Routes whose body the handler streams and limits itself (the global declared-length limit
/// does not apply to them): method and route template.
pub const STREAMED_ROUTES: &[(&str, &str)] = &[("POST", "/api/imports/{id}")];

/// The documented import routes.
pub fn routes(imports: Imports) -> Routes<()> {
    let (schemas, paths, upload_router) = routes!(upload);
    let upload_router = upload_router.layer(DefaultBodyLimit::disable());
    Routes::<Imports>::new()
        .route(
            Access::Role(Role::Operator),
            (schemas, paths, upload_router),
        )
        .route(Access::Role(Role::Viewer), routes!(list_imports))
        .route(Access::Role(Role::Viewer), routes!(import_stats))
        .route(Access::Role(Role::Viewer), routes!(import_types))
        .route(Access::Role(Role::Viewer), routes!(get_import))
        .route(Access::Role(Role::Viewer), routes!(import_errors))
        .route(Access::Role(Role::Operator), routes!(retry_import))
        .route(Access::Role(Role::Operator), routes!(cancel_import))
        .with_state(imports)
}

/// The refusal of an import request as a problem.
pub fn import_error(e: ImportError) -> ApiError {
    let detail = e.to_string();
    match e {
        ImportError::UnknownType(_) | ImportError::NotFound(_) => {
            ApiError::new(ErrorCode::NotFound, detail)
        }
        ImportError::Invalid(_) => ApiError::new(ErrorCode::Validation, detail),
        ImportError::ExtensionNotAllowed(_) | ImportError::TypeMismatch(_) => {
            ApiError::new(ErrorCode::UnsupportedFile, detail)
        }
        ImportError::TooLarge { max } => ApiError::new(ErrorCode::FileTooLarge, detail)
            .with_extension("max_bytes", Value::from(max)),
        ImportError::Damaged(_) => ApiError::new(ErrorCode::DamagedFile, detail),
        ImportError::ArchiveBomb(_) => ApiError::new(ErrorCode::ArchiveBomb, detail),
        ImportError::TooManyRows { max, .. } => ApiError::new(ErrorCode::TooManyRows, detail)
            .with_extension("max_rows", Value::from(max)),
        ImportError::Conflict(_) => ApiError::new(ErrorCode::Conflict, detail),
        other => ApiError::internal(other),
    }
}

/// Options of an upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file name, for a raw body (its extension picks the format); a multipart part's own
    /// file name is used otherwise.
    pub filename: Option<String>,
    /// Validate and report only; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Import even if an identical file of this type was imported successfully before.
    #[serde(default)]
    pub force: bool,
    /// One of the type's write modes (default: its first).
    pub mode: Option<String>,
    /// The scope of modes that take one.
    pub scope: Option<String>,
    /// Spreadsheets: the sheet to read (default: the first).
    pub sheet: Option<String>,
}

/// A multipart upload.
#[derive(Debug, ToSchema)]
pub struct UploadForm {
    /// The file (`.csv`, `.xlsx`, `.xls` or `.json`, as the type accepts).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// The stored file of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportFileView {
    /// Name the client gave.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// `csv`, `xlsx` or `xls`.
    pub format: String,
    /// CSV: `utf-8`, `utf-8-bom` or `windows-1252`.
    pub encoding: Option<String>,
    /// Whether the file is still kept (retention deletes it).
    pub kept: bool,
}

/// Row counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportCountsView {
    /// Data rows read.
    pub read: u64,
    /// Rows that passed validation.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Warnings.
    pub warnings: u64,
    /// Rows inserted.
    pub inserted: u64,
    /// Rows changed.
    pub updated: u64,
    /// Rows already stored alike.
    pub unchanged: u64,
    /// Rows deleted (e.g. replacing a scope).
    pub deleted: u64,
}

/// Links of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportLinks {
    /// This import.
    #[serde(rename = "self")]
    pub this: String,
    /// Row errors and warnings as CSV.
    pub errors: String,
    /// Cancel it (`DELETE`).
    pub cancel: String,
    /// Retry it (`POST`).
    pub retry: String,
    /// Its task.
    pub task: Option<String>,
}

/// An import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    /// UUIDv7.
    pub id: Uuid,
    /// The import type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// `pending`, `running`, `succeeded`, `partial`, `failed` or `cancelled`.
    pub status: String,
    /// Validation only.
    pub dry_run: bool,
    /// Write mode.
    pub mode: String,
    /// Its scope.
    pub scope: Option<String>,
    /// Sheet read.
    pub sheet: Option<String>,
    /// The file.
    pub file: ImportFileView,
    /// Row limit checked before writing (none from the CLI).
    pub max_rows: Option<u64>,
    /// Who uploaded it.
    pub uploader: Option<String>,
    /// The task processing it.
    pub task_id: Option<Uuid>,
    /// Attempts started.
    pub attempts: i32,
    /// Row counts so far.
    pub counts: ImportCountsView,
    /// Data rows committed; a resumed attempt starts after them.
    pub resume_offset: u64,
    /// How the header was matched: `matched` (column → header) and `unknown` headers.
    #[schema(value_type = Option<Object>)]
    pub columns: Option<Value>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// First start.
    pub started_at: Option<DateTime<Utc>>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Related routes.
    pub links: ImportLinks,
}

impl ImportView {
    fn new(r: ImportRecord, kept: bool) -> Self {
        let base = format!("/api/imports/{}", r.id);
        ImportView {
            id: r.id,
            type_name: r.type_name,
            status: r.status.as_str().to_owned(),
            dry_run: r.dry_run,
            mode: r.mode,
            scope: r.scope,
            sheet: r.sheet,
            file: ImportFileView {
                name: r.file.name,
                size: r.file.size,
                sha256: r.file.sha256,
                format: r.file.format.extension().to_owned(),
                encoding: r.file.encoding,
                kept,
            },
            max_rows: r.max_rows,
            uploader: r.uploader,
            task_id: r.task_id,
            attempts: r.attempts,
            counts: ImportCountsView {
                read: r.counts.read,
                accepted: r.counts.accepted,
                rejected: r.counts.rejected,
                warnings: r.counts.warnings,
                inserted: r.counts.inserted,
                updated: r.counts.updated,
                unchanged: r.counts.unchanged,
                deleted: r.counts.deleted,
            },
            resume_offset: r.resume_offset,
            columns: r.columns,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: match (r.started_at, r.finished_at) {
                (Some(s), Some(f)) => Some((f - s).num_milliseconds()),
                _ => None,
            },
            links: ImportLinks {
                errors: format!("{base}/errors.csv"),
                cancel: base.clone(),
                retry: format!("{base}/retry"),
                task: r.task_id.map(|t| format!("/api/tasks/{t}")),
                this: base,
            },
        }
    }
}

fn view(imports: &Imports, r: ImportRecord) -> ImportView {
    let kept = imports.file_path(&r).is_some();
    ImportView::new(r, kept)
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn body_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::BadRequest,
        format!("the upload could not be read: {e}"),
    )
}

async fn feed<S, E>(
    upload: &mut relais_platform::imports::Upload,
    mut stream: S,
) -> Result<(), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(body_error)?;
        upload.write(chunk).await.map_err(import_error)?;
    }
    Ok(())
}

/// Upload a file to import
///
/// `{id}` is the import type (see `GET /api/imports/types`). The file comes as the part named
/// `file` of a `multipart/form-data` body, or as the raw body with its name in `filename`. It is
/// streamed to the file store and checked on the way: size (413), extension and content by
/// magic bytes (415), structure, archive bombs and the row limit (422); a refused file leaves
/// nothing behind. 202 with the import, whose task processes it; 200 with an earlier import
/// when the same file was imported successfully before (unless `force`).
#[utoipa::path(post, path = "/api/imports/{id}", tag = "imports",
    params(("id" = String, Path, description = "The import type, e.g. `sample`"), UploadQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data",
        description = "The file; or any other content type with the raw file as the body and `filename` set"),
    responses(
        (status = 202, description = "Stored; its task is queued", body = ImportView),
        (status = 200, description = "The same file was imported successfully before: that import", body = ImportView),
        (status = 404, description = "No such import type", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the type accepts", body = crate::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Extension not accepted, or content not matching it", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Damaged file, archive bomb, too many rows, or invalid options", body = crate::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Upload rate limit reached", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn upload(
    State(imports): State<Imports>,
    principal: Option<Extension<Principal>>,
    Path(type_name): Path<String>,
    Query(q): Query<UploadQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let result = receive(&imports, principal, type_name, q, req).await;
    if let Err(e) = &result {
        let reason = e.code().code();
        metrics::counter!("relais_imports_refused_total", "reason" => reason).increment(1);
    }
    result
}

async fn receive(
    imports: &Imports,
    principal: Option<Extension<Principal>>,
    type_name: String,
    q: UploadQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let mut request = UploadRequest {
        type_name,
        file_name: q.filename.clone().unwrap_or_default(),
        dry_run: q.dry_run,
        force: q.force,
        mode: q.mode,
        scope: q.scope,
        sheet: q.sheet,
        uploader: principal.map(|p| p.0.name),
        declared_size: None,
        unlimited: false,
    };
    let uploaded = if is_multipart(&req) {
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
        loop {
            let Some(field) = multipart.next_field().await.map_err(body_error)? else {
                return Err(ApiError::new(
                    ErrorCode::Validation,
                    "the multipart body has no part named `file`",
                ));
            };
            if field.name() != Some("file") {
                continue;
            }
            if let Some(name) = field.file_name().filter(|n| !n.is_empty()) {
                request.file_name = name.to_owned();
            }
            if request.file_name.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::Validation,
                    "the part `file` has no file name; give one in `filename`",
                ));
            }
            let mut upload = imports.begin_upload(request).await.map_err(import_error)?;
            feed(&mut upload, field).await?;
            break upload.finish().await.map_err(import_error)?;
        }
    } else {
        if request.file_name.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Validation,
                "a raw upload needs its file name in the `filename` query parameter (or send multipart/form-data)",
            ));
        }
        request.declared_size = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let mut upload = imports.begin_upload(request).await.map_err(import_error)?;
        feed(&mut upload, req.into_body().into_data_stream()).await?;
        upload.finish().await.map_err(import_error)?
    };
    let status = if uploaded.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(imports, uploaded.record))).into_response())
}

/// Filters and page of an import listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Import type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_name: Option<String>,
    /// Comma-separated statuses, e.g. `failed,partial`.
    pub status: Option<String>,
    /// Uploader (token name).
    pub uploader: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<Uuid>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<u32>,
}

/// A page of imports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportPage {
    /// Newest first.
    pub items: Vec<ImportView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<Uuid>,
}

/// List imports
///
/// Newest first, filtered, with cursor pagination.
#[utoipa::path(get, path = "/api/imports", tag = "imports", params(ListQuery),
    responses(
        (status = 200, description = "A page of imports", body = ImportPage),
        (status = 400, description = "Invalid filter", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn list_imports(
    State(imports): State<Imports>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ImportPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "`limit` must be from 1 to 1000",
        ));
    }
    let statuses = match q.status.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<ImportStatus>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("`status`: {e}")))?,
    };
    let filter = ImportFilter {
        type_name: q.type_name,
        statuses,
        uploader: q.uploader,
        created_from: q.created_from,
        created_to: q.created_to,
        before: q.after,
        limit,
    };
    let records = imports.list(&filter).await.map_err(import_error)?;
    let next = if records.len() == limit as usize {
        records.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(ImportPage {
        items: records.into_iter().map(|r| view(&imports, r)).collect(),
        next,
    }))
}

/// One import
#[utoipa::path(get, path = "/api/imports/{id}", tag = "imports",
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "The import", body = ImportView),
        (status = 404, description = "No such import", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn get_import(
    State(imports): State<Imports>,
    Path(id): Path<Uuid>,
) -> Result<Json<ImportView>, ApiError> {
    let record = imports
        .get(id)
        .await
        .map_err(import_error)?
        .ok_or_else(|| import_error(ImportError::NotFound(id)))?;
    Ok(Json(view(&imports, record)))
}

/// Issues read per page while streaming the CSV.
const ISSUE_PAGE: u32 = 5_000;

fn csv_field(out: &mut String, value: &str) {
    // A value starting like a formula is prefixed with `'` so spreadsheets do not evaluate it.
    let guarded;
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Row errors and warnings as CSV
///
/// Every error (the row was rejected) and warning (the row was accepted) in file order:
/// `row,severity,column,value,message` (UTF-8 with BOM; values that look like formulas are
/// prefixed with `'`). Streamed.
#[utoipa::path(get, path = "/api/imports/{id}/errors.csv", tag = "imports",
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "The issues", body = String, content_type = "text/csv"),
        (status = 404, description = "No such import", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn import_errors(
    State(imports): State<Imports>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    if imports.get(id).await.map_err(import_error)?.is_none() {
        return Err(import_error(ImportError::NotFound(id)));
    }
    let head = Bytes::from_static("\u{feff}row,severity,column,value,message\r\n".as_bytes());
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let imports = imports.clone();
        async move {
            let after = after?;
            match imports.issues(id, after, ISSUE_PAGE).await {
                Err(e) => {
                    tracing::error!(import_id = %id, error = %e, "reading import issues failed");
                    Some((
                        Err(std::io::Error::other("reading import issues failed")),
                        None,
                    ))
                }
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let last = page.last().map(|i| i.seq);
                    let more = page.len() == ISSUE_PAGE as usize;
                    let mut out = String::with_capacity(page.len() * 64);
                    for issue in page {
                        out.push_str(&issue.row.to_string());
                        out.push(',');
                        out.push_str(issue.severity.as_str());
                        out.push(',');
                        csv_field(&mut out, issue.column.as_deref().unwrap_or(""));
                        out.push(',');
                        csv_field(&mut out, issue.value.as_deref().unwrap_or(""));
                        out.push(',');
                        csv_field(&mut out, &issue.message);
                        out.push_str("\r\n");
                    }
                    Some((Ok(Bytes::from(out)), if more { last } else { None }))
                }
            }
        }
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(pages);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"import-{id}-errors.csv\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Retry an import
///
/// A failed or cancelled import runs again with a new task, resuming after the rows committed
/// before. 409 for other statuses, or when the stored file was deleted.
#[utoipa::path(post, path = "/api/imports/{id}/retry", tag = "imports",
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 202, description = "Queued again", body = ImportView),
        (status = 404, description = "No such import", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not failed or cancelled, or its file is gone", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn retry_import(
    State(imports): State<Imports>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let record = imports.retry(id).await.map_err(import_error)?;
    Ok((StatusCode::ACCEPTED, Json(view(&imports, record))).into_response())
}

/// Cancel an import
///
/// 200 when it had not started (cancelled now); 202 when it is running (it stops after the
/// batch in progress; committed batches stay written); 409 when it is finished.
#[utoipa::path(delete, path = "/api/imports/{id}", tag = "imports",
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "Cancelled", body = ImportView),
        (status = 202, description = "Running: its task was signalled", body = ImportView),
        (status = 404, description = "No such import", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already finished", body = crate::Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_import(
    State(imports): State<Imports>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    match imports.cancel(id).await.map_err(import_error)? {
        CancelResult::Cancelled(r) => Ok((StatusCode::OK, Json(view(&imports, r))).into_response()),
        CancelResult::Signalled(r) => {
            Ok((StatusCode::ACCEPTED, Json(view(&imports, r))).into_response())
        }
    }
}

/// Imports of one type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportTypeStats {
    /// Import type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Imports in all.
    pub imports: u64,
    /// Imports per status (every status listed).
    pub by_status: BTreeMap<String, u64>,
    /// Rows read.
    pub rows_read: u64,
    /// Rows written (inserted + updated).
    pub rows_written: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Succeeded among finished imports (succeeded, partial, failed; cancelled ones left out);
    /// absent before any finished.
    pub success_rate: Option<f64>,
}

/// Import statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportStats {
    /// Per type.
    pub types: Vec<ImportTypeStats>,
    /// Every type together (`type` is `*`).
    pub total: ImportTypeStats,
}

fn type_stats(type_name: String) -> ImportTypeStats {
    ImportTypeStats {
        type_name,
        imports: 0,
        by_status: ImportStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect(),
        rows_read: 0,
        rows_written: 0,
        rows_rejected: 0,
        success_rate: None,
    }
}

fn finish_rate(s: &mut ImportTypeStats) {
    let get = |k: &str| s.by_status.get(k).copied().unwrap_or(0);
    let finished = get("succeeded") + get("partial") + get("failed");
    s.success_rate = (finished > 0).then(|| get("succeeded") as f64 / finished as f64);
}

/// Import statistics
///
/// Imports by type and status, rows read, written and rejected, and the success rate.
#[utoipa::path(get, path = "/api/imports/stats", tag = "imports",
    responses((status = 200, description = "Statistics", body = ImportStats)))]
async fn import_stats(State(imports): State<Imports>) -> Result<Json<ImportStats>, ApiError> {
    let counts = imports.stats().await.map_err(import_error)?;
    let mut types: BTreeMap<String, ImportTypeStats> = BTreeMap::new();
    let mut total = type_stats("*".into());
    for c in counts {
        for s in [
            types
                .entry(c.type_name.clone())
                .or_insert_with(|| type_stats(c.type_name.clone())),
            &mut total,
        ] {
            s.imports += c.imports;
            *s.by_status.entry(c.status.as_str().to_owned()).or_insert(0) += c.imports;
            s.rows_read += c.rows_read;
            s.rows_written += c.rows_written;
            s.rows_rejected += c.rows_rejected;
        }
    }
    let mut types: Vec<ImportTypeStats> = types.into_values().collect();
    for s in types.iter_mut().chain(std::iter::once(&mut total)) {
        finish_rate(s);
    }
    Ok(Json(ImportStats { types, total }))
}

/// A registered import type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportTypeView {
    /// Name (the `{id}` of the upload route).
    pub name: String,
    /// What it imports.
    pub description: String,
    /// Columns: name, other accepted headers, required, description.
    #[schema(value_type = Vec<Object>)]
    pub columns: Value,
    /// Write modes (the first is the default).
    #[schema(value_type = Vec<Object>)]
    pub modes: Value,
    /// Largest upload, in bytes.
    pub max_size: u64,
    /// Most data rows in an upload.
    pub max_rows: u64,
    /// Accepted extensions.
    pub extensions: Vec<String>,
}

impl From<TypeInfo> for ImportTypeView {
    fn from(t: TypeInfo) -> Self {
        ImportTypeView {
            name: t.name.to_owned(),
            description: t.description.to_owned(),
            columns: serde_json::to_value(&t.columns).unwrap_or_default(),
            modes: serde_json::to_value(&t.modes).unwrap_or_default(),
            max_size: t.max_size,
            max_rows: t.max_rows,
            extensions: t.extensions.iter().map(|e| (*e).to_owned()).collect(),
        }
    }
}

/// Import types
///
/// The registered import types: columns with their accepted headers, write modes and limits.
#[utoipa::path(get, path = "/api/imports/types", tag = "imports",
    responses((status = 200, description = "Types, by name", body = Vec<ImportTypeView>)))]
async fn import_types(State(imports): State<Imports>) -> Json<Vec<ImportTypeView>> {
    Json(imports.types().into_iter().map(Into::into).collect())
}
