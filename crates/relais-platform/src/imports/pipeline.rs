//! Processing one import: a blocking thread reads and parses rows into batches; the task writes
//! each batch through the type's upsert in one transaction with the import's counts, issues and
//! resume offset. A resumed attempt skips the rows committed before.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::kind::{ImportContext, ImportType, Written};
use super::model::{BatchCommit, ImportCounts, ImportRecord, ImportStatus, NewIssue, Severity};
use super::row::{Cell, HeaderMatch, Issues, Row, match_header, truncate};
use super::service::Shared;
use super::source::{self, Flow, RowSink, SourceOptions};
use super::{FileFormat, ImportError, detect};
use crate::tasks::{EngineError, TaskContext, TaskError};

/// What the reader thread sends.
enum Msg<R> {
    /// The header matched: how, and the warnings about it.
    Header {
        columns: Value,
        issues: Vec<NewIssue>,
    },
    /// A batch of rows read.
    Batch(Batch<R>),
    /// The file cannot be imported (missing columns, unreadable): nothing more comes.
    Fatal(String),
    /// Every row was read.
    End,
}

struct Batch<R> {
    records: Vec<R>,
    issues: Vec<NewIssue>,
    counts: ImportCounts,
    to_offset: u64,
    progress: f64,
}

/// Runs one attempt of the import `record` of type `ty`.
pub(crate) async fn run<T: ImportType>(
    ty: Arc<T>,
    shared: Arc<Shared>,
    ctx: TaskContext,
    record: ImportRecord,
) -> Result<Value, TaskError> {
    let id = record.id;
    let store = shared.store.clone();
    let retry = |e: &dyn std::fmt::Display| TaskError::retry(format!("storage: {e}"));
    let path = shared.file_path(id, record.file.format);
    if !path.exists() {
        let message = "the stored file is missing (deleted by retention, or imports.dir is not shared by every process)";
        store
            .end_import(id, ImportStatus::Failed, Some(message), ctx.now())
            .await
            .map_err(|e| retry(&e))?;
        return Err(TaskError::permanent(message));
    }
    let Some(record) = store
        .start_import(id, ctx.now())
        .await
        .map_err(|e| retry(&e))?
    else {
        return Ok(json!({ "import_id": id, "skipped": "the import is already finished" }));
    };
    let mode = ty
        .modes()
        .iter()
        .find(|m| m.name == record.mode)
        .map(|m| m.name)
        .ok_or_else(|| TaskError::permanent(format!("unknown write mode `{}`", record.mode)))?;
    let ictx = Arc::new(ImportContext {
        import_id: id,
        mode,
        scope: record.scope.clone(),
        dry_run: record.dry_run,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, mut receiver) = mpsc::channel::<Msg<T::Record>>(2);
    let reader = {
        let ty = ty.clone();
        let ictx = ictx.clone();
        let stop = stop.clone();
        let zip = shared.settings.zip;
        let batch_rows = shared.settings.batch_rows;
        let record = record.clone();
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            read_file(&*ty, &ictx, &record, &path, &zip, batch_rows, &stop, sender)
        })
    };
    // Stops the reader thread whichever way this attempt ends.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _stop_guard = StopOnDrop(stop.clone());

    let mut offset = record.resume_offset;
    let mut totals = record.counts;
    let mut header_issues: Vec<NewIssue> = Vec::new();
    let first_attempt_start = record.resume_offset == 0;
    let size = record.file.size;
    loop {
        let Some(msg) = receiver.recv().await else {
            // The reader thread ended without saying why: it panicked.
            let _ = reader.await;
            return Err(TaskError::retry("the file reader stopped unexpectedly"));
        };
        match msg {
            Msg::Header { columns, issues } => {
                store
                    .set_import_columns(id, &columns)
                    .await
                    .map_err(|e| retry(&e))?;
                if first_attempt_start {
                    header_issues = issues;
                }
            }
            Msg::Fatal(message) => {
                store
                    .end_import(id, ImportStatus::Failed, Some(&message), ctx.now())
                    .await
                    .map_err(|e| retry(&e))?;
                finished_metric(T::NAME, ImportStatus::Failed);
                return Err(TaskError::permanent(message));
            }
            Msg::Batch(batch) => {
                if ctx.is_cancelled() {
                    return cancelled(&shared, id, &ctx, T::NAME).await;
                }
                if ctx.soft_limit_reached() {
                    let message = format!(
                        "stopped at the soft time limit after {offset} rows; the next attempt resumes there"
                    );
                    let _ = store.note_import_retry(id, &message).await;
                    return Err(TaskError::retry(message));
                }
                let mut tx = store.begin().await.map_err(|e| retry(&e))?;
                let mut counts = batch.counts;
                if !ictx.dry_run && !batch.records.is_empty() {
                    let written = ty
                        .upsert(&mut tx, batch.records, &ictx)
                        .await
                        .map_err(|e| retry(&e))?;
                    add_written(&mut counts, &written);
                }
                let mut issues = std::mem::take(&mut header_issues);
                counts.warnings += issues.len() as u64;
                issues.extend(batch.issues);
                let commit = BatchCommit {
                    from_offset: offset,
                    to_offset: batch.to_offset,
                    counts,
                    issues,
                };
                let advanced = store
                    .commit_import_batch(&mut tx, id, &commit)
                    .await
                    .map_err(|e| retry(&e))?;
                if !advanced {
                    let _ = tx.rollback().await;
                    return Err(TaskError::retry(
                        "the import was advanced by another attempt; this one stops",
                    ));
                }
                tx.commit().await.map_err(|e| retry(&e))?;
                offset = batch.to_offset;
                totals.add(&counts);
                rows_metric(T::NAME, &counts);
                report(&ctx, &totals, batch.progress, size).await;
            }
            Msg::End => break,
        }
    }
    if ctx.is_cancelled() {
        return cancelled(&shared, id, &ctx, T::NAME).await;
    }
    // The last transaction: the type's finish (e.g. replacing a scope) and the final status.
    let (status, error) = if totals.read == 0 {
        (
            ImportStatus::Failed,
            Some("the file holds no data rows".to_owned()),
        )
    } else if totals.accepted == 0 {
        (
            ImportStatus::Failed,
            Some("every row was rejected".to_owned()),
        )
    } else if totals.rejected > 0 {
        (ImportStatus::Partial, None)
    } else {
        (ImportStatus::Succeeded, None)
    };
    // Through the engine: the type's follow-up tasks are enqueued in this transaction.
    let mut tx = ctx.engine().begin().await.map_err(|e| retry(&e))?;
    let mut counts = ImportCounts::default();
    let wrote = !ictx.dry_run && totals.accepted > 0;
    if wrote {
        let written = ty
            .finish(tx.db(), &ictx, &totals)
            .await
            .map_err(|e| retry(&e))?;
        add_written(&mut counts, &written);
    }
    counts.warnings += header_issues.len() as u64;
    let commit = BatchCommit {
        from_offset: offset,
        to_offset: offset,
        counts,
        issues: header_issues,
    };
    let done = store
        .finish_import(tx.db(), id, status, error.as_deref(), &commit, ctx.now())
        .await
        .map_err(|e| retry(&e))?;
    if !done {
        let _ = tx.rollback().await;
        return Err(TaskError::retry(
            "the import was advanced by another attempt; this one stops",
        ));
    }
    if wrote {
        let mut final_totals = totals;
        final_totals.add(&counts);
        let follow_up = ty.follow_up(&ictx, &final_totals);
        if !follow_up.is_empty() {
            match tx.enqueue_many(follow_up).await {
                Ok(_) => {}
                Err(EngineError::Store(e)) => return Err(retry(&e)),
                Err(refused) => {
                    let _ = tx.rollback().await;
                    let message =
                        format!("the follow-up tasks of this import were refused: {refused}");
                    store
                        .end_import(id, ImportStatus::Failed, Some(&message), ctx.now())
                        .await
                        .map_err(|e| retry(&e))?;
                    finished_metric(T::NAME, ImportStatus::Failed);
                    return Err(TaskError::permanent(message));
                }
            }
        }
    }
    tx.commit().await.map_err(|e| retry(&e))?;
    totals.add(&counts);
    finished_metric(T::NAME, status);
    ctx.progress_with(
        100.0,
        Some(format!("{status}: {} rows read", totals.read)),
        Some(json!(totals)),
    )
    .await;
    match error {
        Some(message) => Err(TaskError::permanent(message)),
        None => Ok(json!({ "import_id": id, "status": status, "counts": totals })),
    }
}

/// `relais_import_rows_total{type,outcome}`: rows committed, accepted or rejected.
fn rows_metric(type_name: &'static str, c: &ImportCounts) {
    metrics::counter!("relais_import_rows_total", "type" => type_name, "outcome" => "accepted")
        .increment(c.accepted);
    metrics::counter!("relais_import_rows_total", "type" => type_name, "outcome" => "rejected")
        .increment(c.rejected);
}

/// `relais_imports_finished_total{type,status}`: imports reaching a final status here.
pub(crate) fn finished_metric(type_name: &str, status: ImportStatus) {
    metrics::counter!("relais_imports_finished_total", "type" => type_name.to_owned(), "status" => status.as_str())
        .increment(1);
}

fn add_written(counts: &mut ImportCounts, w: &Written) {
    counts.inserted += w.inserted;
    counts.updated += w.updated;
    counts.unchanged += w.unchanged;
    counts.deleted += w.deleted;
}

async fn report(ctx: &TaskContext, totals: &ImportCounts, progress: f64, size: u64) {
    ctx.progress_with(
        (progress * 100.0).min(99.9),
        Some(format!(
            "{} rows read, {} written, {} rejected ({} bytes)",
            totals.read,
            totals.inserted + totals.updated + totals.unchanged,
            totals.rejected,
            size
        )),
        Some(json!(totals)),
    )
    .await;
}

async fn cancelled(
    shared: &Shared,
    id: uuid::Uuid,
    ctx: &TaskContext,
    type_name: &str,
) -> Result<Value, TaskError> {
    finished_metric(type_name, ImportStatus::Cancelled);
    let _ = shared
        .store
        .end_import(
            id,
            ImportStatus::Cancelled,
            Some("cancelled; rows of committed batches stay written"),
            ctx.now(),
        )
        .await;
    Err(TaskError::Cancelled)
}

/// The reader thread: checks the file, reads the header and the rows, parses each row and
/// sends batches.
#[allow(clippy::too_many_arguments)]
fn read_file<T: ImportType>(
    ty: &T,
    ictx: &ImportContext,
    record: &ImportRecord,
    path: &std::path::Path,
    zip: &crate::config::ZipLimits,
    batch_rows: usize,
    stop: &AtomicBool,
    sender: mpsc::Sender<Msg<T::Record>>,
) {
    let options = SourceOptions {
        format: record.file.format,
        encoding: record.file.encoding.clone(),
        sheet: record.sheet.clone(),
    };
    let prepared = prepare(record, path, zip, &options);
    if let Err(message) = prepared {
        let _ = sender.blocking_send(Msg::Fatal(message));
        return;
    }
    let mut sink = Collect {
        ty,
        ictx,
        columns: ty.columns(),
        batch_rows,
        skip: record.resume_offset,
        seen: 0,
        header: None,
        batch: new_batch(batch_rows),
        issues: Issues::default(),
        stop,
        sender: &sender,
    };
    let result = source::read(path, &options, &mut sink);
    let Collect { batch, header, .. } = sink;
    let end = match result {
        Err(message) => Msg::Fatal(message),
        Ok(()) if stop.load(Ordering::SeqCst) => return,
        Ok(()) if header.is_none() => Msg::Fatal("the file has no header row".into()),
        Ok(()) => {
            if batch.counts.read > 0 && sender.blocking_send(Msg::Batch(batch)).is_err() {
                return;
            }
            Msg::End
        }
    };
    let _ = sender.blocking_send(end);
}

/// Checks done before reading: XLSX archives are decompressed once with counting (headers can
/// lie about sizes), and spreadsheets are checked against the row limit before anything is
/// written (CSV rows were counted at upload).
fn prepare(
    record: &ImportRecord,
    path: &std::path::Path,
    zip: &crate::config::ZipLimits,
    options: &SourceOptions,
) -> Result<(), String> {
    if record.file.format == FileFormat::Xlsx {
        detect::verify_zip(path, zip).map_err(|e| e.to_string())?;
    }
    if let (Some(max), FileFormat::Xlsx | FileFormat::Xls) = (record.max_rows, record.file.format)
        && record.resume_offset == 0
    {
        let mut counter = CountRows { rows: 0, max };
        source::read(path, options, &mut counter)?;
        if counter.rows > max {
            return Err(ImportError::TooManyRows {
                rows: counter.rows,
                max,
            }
            .to_string());
        }
    }
    Ok(())
}

struct CountRows {
    rows: u64,
    max: u64,
}

impl RowSink for CountRows {
    fn header(&mut self, _row: u64, _headers: Vec<String>) -> Result<Flow, String> {
        Ok(Flow::Continue)
    }

    fn row(&mut self, _row: u64, _cells: &[Cell<'_>], _progress: f64) -> Result<Flow, String> {
        self.rows += 1;
        Ok(if self.rows > self.max {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}

fn new_batch<R>(rows: usize) -> Batch<R> {
    Batch {
        records: Vec::with_capacity(rows),
        issues: Vec::new(),
        counts: ImportCounts::default(),
        to_offset: 0,
        progress: 0.0,
    }
}

struct Collect<'a, T: ImportType> {
    ty: &'a T,
    ictx: &'a ImportContext,
    columns: &'static [super::Column],
    batch_rows: usize,
    skip: u64,
    seen: u64,
    header: Option<HeaderMatch>,
    batch: Batch<T::Record>,
    issues: Issues,
    stop: &'a AtomicBool,
    sender: &'a mpsc::Sender<Msg<T::Record>>,
}

impl<T: ImportType> RowSink for Collect<'_, T> {
    fn header(&mut self, row: u64, headers: Vec<String>) -> Result<Flow, String> {
        let m = match_header(self.columns, &headers);
        let missing = m.missing(self.columns);
        if !missing.is_empty() {
            let expected: Vec<String> = self
                .columns
                .iter()
                .filter(|c| c.required)
                .map(|c| {
                    if c.aliases.is_empty() {
                        c.name.to_owned()
                    } else {
                        format!("{} (or {})", c.name, c.aliases.join(", "))
                    }
                })
                .collect();
            let found: Vec<&str> = headers
                .iter()
                .map(|h| h.trim())
                .filter(|h| !h.is_empty())
                .collect();
            return Err(format!(
                "missing required column(s): {}; expected {}; found {}",
                missing
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", "),
                expected.join("; "),
                if found.is_empty() {
                    "no header".to_owned()
                } else {
                    found.join(", ")
                }
            ));
        }
        let mut issues = Vec::new();
        for (_, h) in &m.unknown {
            issues.push(NewIssue {
                row,
                severity: Severity::Warning,
                column: None,
                value: Some(truncate(h, 200)),
                message: "unknown column, ignored".into(),
            });
        }
        for (_, h) in &m.duplicates {
            issues.push(NewIssue {
                row,
                severity: Severity::Warning,
                column: None,
                value: Some(truncate(h, 200)),
                message: "a second column for the same field, ignored".into(),
            });
        }
        let columns = m.describe(self.columns, &headers);
        self.header = Some(m);
        if self
            .sender
            .blocking_send(Msg::Header { columns, issues })
            .is_err()
        {
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    fn row(&mut self, number: u64, cells: &[Cell<'_>], progress: f64) -> Result<Flow, String> {
        self.seen += 1;
        let Some(header) = &self.header else {
            return Ok(Flow::Stop);
        };
        let row = Row {
            number,
            cells,
            mapping: &header.mapping,
        };
        self.issues.clear();
        if self.seen <= self.skip {
            // Committed by an earlier attempt: parsed again and dropped, so a parser that keeps
            // state across the rows of a file sees all of them, in order.
            let _ = self.ty.parse(&row, self.ictx, &mut self.issues);
            return Ok(Flow::Continue);
        }
        let record = self.ty.parse(&row, self.ictx, &mut self.issues);
        let counts = &mut self.batch.counts;
        counts.read += 1;
        counts.warnings += self
            .issues
            .items
            .iter()
            .filter(|(s, _, _)| *s == Severity::Warning)
            .count() as u64;
        match record {
            Some(record) if !self.issues.has_errors() => {
                counts.accepted += 1;
                self.batch.records.push(record);
            }
            _ => {
                counts.rejected += 1;
                if !self.issues.has_errors() {
                    self.issues.row_error("the row was not accepted");
                }
            }
        }
        self.issues
            .drain_into(&row, self.columns, &mut self.batch.issues);
        self.batch.to_offset = self.seen;
        self.batch.progress = progress;
        if self.batch.counts.read as usize >= self.batch_rows {
            let full = std::mem::replace(&mut self.batch, new_batch(self.batch_rows));
            if self.stop.load(Ordering::SeqCst)
                || self.sender.blocking_send(Msg::Batch(full)).is_err()
            {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }
}
