//! `elections.export` (a large export written to a file, then downloaded) and
//! `elections.exports.retention` (export files deleted once older than the keep period).

use std::sync::Arc;

use relais_platform::store::Store;
use relais_platform::tasks::{Task, TaskContext, TaskError, TaskOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ExportFormat, ExportSettings, Pages, export_path, write_csv, write_xlsx};
use crate::domain::CycleTable;
use crate::query::{FilterParams, SortParams};
use crate::store;

/// What to export: the route's parameters, parsed again when the task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// The file format.
    pub format: ExportFormat,
    /// The filters.
    pub filters: FilterParams,
    /// The sort.
    pub sort: SortParams,
}

/// `elections.export`: writes the export to `<dir>/<task id>.<ext>` (through a `.part` file
/// renamed at the end, so a download never sees half a file); the result points to the
/// download route.
pub struct ExportTask {
    store: Arc<dyn Store>,
    cycles: CycleTable,
    settings: ExportSettings,
}

impl ExportTask {
    /// The task over this storage, with these cycles and settings.
    pub fn new(store: Arc<dyn Store>, cycles: CycleTable, settings: ExportSettings) -> Self {
        ExportTask {
            store,
            cycles,
            settings,
        }
    }
}

fn io(e: impl std::fmt::Display) -> TaskError {
    TaskError::retry(format!("export: {e}"))
}

impl Task for ExportTask {
    const KIND: &'static str = "elections.export";
    type Args = ExportArgs;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            max_attempts: 3,
            // Exports read the whole summary: two at a time across every process.
            concurrency: Some(2),
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, args: ExportArgs) -> Result<Value, TaskError> {
        let filter = args
            .filters
            .parse(&self.cycles)
            .map_err(TaskError::permanent)?;
        let (sort, order) = args.sort.parse().map_err(TaskError::permanent)?;
        let total = store::summary_filter_count(self.store.db(), &filter)
            .await
            .map_err(io)?;
        let dir = &self.settings.dir;
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let path = export_path(dir, ctx.id(), args.format);
        let part = path.with_extension(format!("{}.part", args.format.extension()));
        let mut pages = Pages::new(self.store.clone(), filter, sort, order);
        // Progress is reported per page; the latest count is published after each await.
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = done.clone();
        let note = move |rows: u64| seen.store(rows, std::sync::atomic::Ordering::Relaxed);
        let write = async {
            match args.format {
                ExportFormat::Csv => {
                    let mut file = tokio::fs::File::create(&part).await?;
                    write_csv(&mut pages, &mut file, note).await
                }
                ExportFormat::Xlsx => {
                    let file = std::fs::File::create(&part)?;
                    write_xlsx(&mut pages, dir, file, note).await
                }
            }
        };
        tokio::pin!(write);
        let rows = loop {
            tokio::select! {
                written = &mut write => break written.map_err(io)?,
                () = ctx.cancelled() => {
                    let _ = std::fs::remove_file(&part);
                    return Err(TaskError::Cancelled);
                }
                () = ctx.sleep(std::time::Duration::from_millis(500)) => {
                    let rows = done.load(std::sync::atomic::Ordering::Relaxed);
                    let percent = if total == 0 { 0.0 } else { rows as f64 * 100.0 / total as f64 };
                    ctx.progress(percent.min(99.0), format!("{rows} of {total} rows")).await;
                }
            }
        };
        tokio::fs::rename(&part, &path).await.map_err(io)?;
        let bytes = tokio::fs::metadata(&path).await.map_err(io)?.len();
        let keep = chrono::Duration::from_std(self.settings.keep).unwrap_or(chrono::Duration::MAX);
        Ok(json!({
            "download": format!("/api/elections/exports/{}", ctx.id()),
            "format": args.format,
            "rows": rows,
            "bytes": bytes,
            "expires_at": ctx.now() + keep,
        }))
    }
}

/// `elections.exports.retention`: deletes export files (and leftovers of interrupted ones)
/// older than the keep period.
pub struct ExportRetention {
    settings: ExportSettings,
}

impl ExportRetention {
    /// Every hour.
    pub const SCHEDULE: &'static str = "23 * * * *";

    /// The task for these settings.
    pub fn new(settings: ExportSettings) -> Self {
        ExportRetention { settings }
    }
}

impl Task for ExportRetention {
    const KIND: &'static str = "elections.exports.retention";
    type Args = serde_json::Map<String, Value>;

    fn options(&self) -> TaskOptions {
        TaskOptions {
            unique_by_args: true,
            ..TaskOptions::default()
        }
    }

    async fn run(&self, ctx: TaskContext, _args: Self::Args) -> Result<Value, TaskError> {
        let now: std::time::SystemTime = ctx.now().into();
        let before = now
            .checked_sub(self.settings.keep)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut entries = match tokio::fs::read_dir(&self.settings.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(json!({ "deleted": 0 }));
            }
            Err(e) => return Err(io(e)),
        };
        let mut deleted = 0u64;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            if ctx.is_cancelled() {
                return Err(TaskError::Cancelled);
            }
            let meta = entry.metadata().await.map_err(io)?;
            if !meta.is_file() || meta.modified().map_err(io)? >= before {
                continue;
            }
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(json!({ "deleted": deleted }))
    }
}
