//! Exports of filtered summaries as CSV or XLSX, with the upstream summary's column names.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of exports, with defaults.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Above this many rows an export runs as a task and is downloaded afterwards. Default
    /// 50,000.
    pub task_rows: u64,
    /// Where exports made by tasks (and temporary workbooks) are written.
    pub dir: PathBuf,
    /// How long an export made by a task is kept. Default one day.
    pub keep: Duration,
}

impl ExportSettings {
    /// The defaults, with files under `data_dir/elections/exports`.
    pub fn new(data_dir: &Path) -> Self {
        ExportSettings {
            task_rows: 50_000,
            dir: data_dir.join("elections").join("exports"),
            keep: Duration::from_secs(24 * 3600),
        }
    }
}
