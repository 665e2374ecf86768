//! `GET /api/elections/summary/export` (CSV streamed, XLSX through a temporary file; a task
//! above the row threshold) and `GET /api/elections/exports/{id}` (the file a task wrote).

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use relais_http::tasks::TaskView;
use relais_http::{ApiError, ErrorCode, Path, Principal, Query};
use relais_platform::tasks::{Enqueue, Task as _, TaskState};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::params::{ExportParams, invalid};
use super::{ReadApi, internal};
use crate::export::{
    self, ExportArgs, ExportFormat, ExportTask, Pages, XLSX_MAX_ROWS, csv_header, csv_rows,
    export_path,
};
use crate::query::ParamError;
use crate::store;

/// Export summaries
///
/// The summaries matching the filters, in the requested order, one row per SIRET with the
/// upstream summary's column names (those of `GET /api/siret`): `format=csv` (UTF-8 with BOM,
/// streamed; text starting like a formula is prefixed with `'`) or `format=xlsx` (typed
/// cells). Above the row threshold (50,000 by default) the export runs as a task: the answer
/// is 202 with the task, whose result gives the `download` route once it succeeded; the file
/// is kept a day. A workbook holds at most 1,048,575 rows: larger exports are CSV only.
#[utoipa::path(get, path = "/api/elections/summary/export", tag = "elections", params(ExportParams),
    responses(
        (status = 200, description = "The file", content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 202, description = "Too many rows to answer at once: the export task", body = TaskView),
        (status = 400, description = "Unknown parameter", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A refused value (the problem names the parameter)", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn export(
    State(api): State<ReadApi>,
    principal: Option<Extension<Principal>>,
    Query(p): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let filters = p.filters();
    let filter = filters.parse(api.cycles()).map_err(invalid)?;
    let sort_params = p.sort();
    let (sort, order) = sort_params.parse().map_err(invalid)?;
    let format = match p.format.as_deref().map(str::trim) {
        None | Some("") => ExportFormat::Csv,
        Some(f) => ExportFormat::parse(f).ok_or_else(|| {
            invalid(ParamError {
                param: "format",
                message: format!("`csv` or `xlsx`, got {f:?}"),
            })
        })?,
    };
    let rows = store::summary_filter_count(api.db(), &filter)
        .await
        .map_err(internal)?;
    if format == ExportFormat::Xlsx && rows > XLSX_MAX_ROWS {
        return Err(invalid(ParamError {
            param: "format",
            message: format!(
                "{rows} rows do not fit a worksheet ({XLSX_MAX_ROWS} at most): export as csv"
            ),
        }));
    }
    let settings = &api.inner.settings.exports;
    if rows > settings.task_rows {
        let args = ExportArgs {
            format,
            filters,
            sort: sort_params,
        };
        let mut request = Enqueue::of::<ExportTask>(&args).map_err(ApiError::internal)?;
        request.created_by = principal.map(|Extension(p)| p.name);
        let (record, _) = api
            .inner
            .engine
            .enqueue(request)
            .await
            .map_err(ApiError::internal)?;
        let location = HeaderValue::from_str(&format!("/api/tasks/{}", record.id))
            .map_err(ApiError::internal)?;
        let view = TaskView::new(record, None);
        return Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            relais_http::Json(view),
        )
            .into_response());
    }
    let store = api.inner.platform.store.clone();
    let mut pages = Pages::new(store, filter, sort, order);
    let body = match format {
        ExportFormat::Csv => csv_body(pages),
        ExportFormat::Xlsx => {
            tokio::fs::create_dir_all(&settings.dir)
                .await
                .map_err(ApiError::internal)?;
            // An unnamed temporary file: the system removes it once the answer is sent.
            let file = tempfile::tempfile_in(&settings.dir).map_err(ApiError::internal)?;
            let reader = file.try_clone().map_err(ApiError::internal)?;
            export::write_xlsx(&mut pages, &settings.dir, file, |_| {})
                .await
                .map_err(ApiError::internal)?;
            let mut reader = tokio::fs::File::from_std(reader);
            use tokio::io::AsyncSeekExt;
            reader
                .seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(ApiError::internal)?;
            file_body(reader)
        }
    };
    Ok(attachment(body, format, "elections-summary"))
}

/// The CSV, a page at a time.
fn csv_body(pages: Pages) -> Body {
    let head =
        futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from(csv_header())) });
    let rows = futures_util::stream::unfold(Some(pages), |pages| async move {
        let mut pages = pages?;
        match pages.next().await {
            Ok(Some(page)) => Some((Ok(Bytes::from(csv_rows(&page))), Some(pages))),
            Ok(None) => None,
            Err(e) => {
                // Headers are sent: the only way to signal the failure is to cut the stream.
                tracing::error!(error = %e, "the elections CSV export failed mid-stream");
                Some((Err(std::io::Error::other("export failed")), None))
            }
        }
    });
    Body::from_stream(head.chain(rows))
}

/// A file, 64 KiB at a time.
fn file_body(file: tokio::fs::File) -> Body {
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(chunks)
}

fn attachment(body: Body, format: ExportFormat, name: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{name}.{}\"",
        format.extension()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Download an export
///
/// The file an export task wrote, once the task succeeded (409 while it is queued or running,
/// or when it failed: follow it at `/api/tasks/{id}`). 404 for another task or once the file
/// was deleted (exports are kept a day).
#[utoipa::path(get, path = "/api/elections/exports/{id}", tag = "elections",
    params(("id" = Uuid, Path, description = "The export task's id")),
    responses(
        (status = 200, description = "The file", content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 404, description = "No such export, or deleted", body = relais_http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export task has not succeeded", body = relais_http::Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn download(
    State(api): State<ReadApi>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, format!("no export {id}"));
    let task = api
        .inner
        .engine
        .get(id)
        .await
        .map_err(ApiError::internal)?
        .filter(|t| t.kind == ExportTask::KIND)
        .ok_or_else(not_found)?;
    if task.state != TaskState::Succeeded {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "the export is {}: follow it at /api/tasks/{id}",
                task.state.as_str()
            ),
        ));
    }
    let format = task
        .result
        .as_ref()
        .and_then(|r| r["format"].as_str())
        .and_then(ExportFormat::parse)
        .ok_or_else(not_found)?;
    let path = export_path(&api.inner.settings.exports.dir, id, format);
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("export {id} was deleted (exports are kept a day): export again"),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let mut response = attachment(file_body(file), format, &format!("elections-summary-{id}"));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}
