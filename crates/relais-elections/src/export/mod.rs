//! Exports of filtered summaries as CSV or XLSX, with the upstream summary's column names
//! ([`crate::upstream`]). Rows are read a page at a time in the requested order and written as
//! they come: CSV streamed, XLSX through rust_xlsxwriter's constant-memory worksheet into a
//! file. Large exports run as the `elections.export` task, whose file is served for a day
//! (`elections.exports.retention` deletes older ones). No HTTP here.

mod task;

pub use task::{ExportArgs, ExportRetention, ExportTask};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use relais_platform::store::{Store, StoreError};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

use crate::store::{self, Order, PageKey, SortKey, StoredSummary, SummaryFilter};
use crate::upstream::{self, Cell};

/// Summaries read per page.
const PAGE: u32 = 1_000;
/// Most data rows of a worksheet (1,048,576 rows with the header).
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

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

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// UTF-8 with BOM, comma-separated, one row per SIRET.
    Csv,
    /// One worksheet, typed cells (dates, numbers, booleans).
    Xlsx,
}

impl ExportFormat {
    /// The format of a name; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "csv" => Some(ExportFormat::Csv),
            "xlsx" => Some(ExportFormat::Xlsx),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the summaries.
    #[error("reading the summaries: {0}")]
    Store(#[from] StoreError),
    /// Writing the workbook.
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] XlsxError),
    /// Writing the file.
    #[error("writing the file: {0}")]
    Io(#[from] std::io::Error),
    /// The writer thread stopped.
    #[error("the workbook writer stopped: {0}")]
    Writer(String),
}

/// The summaries a filter selects, in order, a page at a time.
pub struct Pages {
    store: Arc<dyn Store>,
    filter: SummaryFilter,
    sort: SortKey,
    order: Order,
    after: Option<PageKey>,
    done: bool,
}

impl Pages {
    /// Every summary `filter` selects, sorted by `sort` then SIRET.
    pub fn new(store: Arc<dyn Store>, filter: SummaryFilter, sort: SortKey, order: Order) -> Self {
        Pages {
            store,
            filter,
            sort,
            order,
            after: None,
            done: false,
        }
    }

    /// The next page; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<StoredSummary>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = store::summary_page(
            self.store.db(),
            &self.filter,
            self.sort,
            self.order,
            self.after.as_ref(),
            PAGE,
        )
        .await?;
        self.done = page.next.is_none();
        self.after = page.next;
        if page.items.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(page.items))
    }
}

/// The CSV header line, after the UTF-8 BOM (spreadsheets then read accents right).
pub fn csv_header() -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    let mut w = csv::Writer::from_writer(&mut out);
    // Writing to a Vec cannot fail.
    let _ = w.write_record(upstream::columns());
    drop(w);
    out
}

/// CSV lines of summaries. Text starting like a spreadsheet formula gets a leading `'`.
pub fn csv_rows(page: &[StoredSummary]) -> Vec<u8> {
    let mut out = Vec::with_capacity(page.len() * 256);
    let mut w = csv::Writer::from_writer(&mut out);
    for s in page {
        let fields: Vec<String> = upstream::row(s).iter().map(csv_text).collect();
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&fields);
    }
    drop(w);
    out
}

fn csv_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(t) if t.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{t}"),
        Cell::Text(t) => t.clone(),
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Votes(v) => v.to_string(),
    }
}

/// Writes every page as CSV to `out`; returns the rows written.
pub async fn write_csv(
    pages: &mut Pages,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
    mut progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    use tokio::io::AsyncWriteExt;
    out.write_all(&csv_header()).await?;
    let mut rows = 0;
    while let Some(page) = pages.next().await? {
        out.write_all(&csv_rows(&page)).await?;
        rows += page.len() as u64;
        progress(rows);
    }
    out.flush().await?;
    Ok(rows)
}

/// Writes every page as a workbook to `out` (a constant-memory worksheet whose rows go to a
/// temporary file in `tempdir` as they come); returns the rows written.
pub async fn write_xlsx(
    pages: &mut Pages,
    tempdir: &Path,
    out: std::fs::File,
    mut progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Vec<Cell>>>(2);
    let tempdir = tempdir.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || xlsx_writer(&tempdir, out, rx));
    let mut rows = 0;
    let mut read: Result<(), ExportError> = Ok(());
    loop {
        match pages.next().await {
            Ok(Some(page)) => {
                rows += page.len() as u64;
                let cells = page.iter().map(upstream::row).collect();
                if tx.send(cells).await.is_err() {
                    break; // The writer failed: its error is reported below.
                }
                progress(rows);
            }
            Ok(None) => break,
            Err(e) => {
                read = Err(e.into());
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ExportError::Writer(e.to_string()))?;
    read?;
    written?;
    Ok(rows)
}

/// The blocking side of [`write_xlsx`].
fn xlsx_writer(
    tempdir: &Path,
    out: std::fs::File,
    mut rx: tokio::sync::mpsc::Receiver<Vec<Vec<Cell>>>,
) -> Result<(), ExportError> {
    let mut workbook = Workbook::new();
    workbook.set_tempdir(tempdir)?;
    let bold = Format::new().set_bold();
    let day = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("summary")?;
    for (c, name) in upstream::columns().enumerate() {
        sheet.write_string_with_format(0, c as u16, name, &bold)?;
    }
    let mut r: u32 = 1;
    while let Some(rows) = rx.blocking_recv() {
        for row in rows {
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Null => {}
                    Cell::Text(t) => {
                        sheet.write_string(r, c, t)?;
                    }
                    Cell::Date(d) => {
                        use chrono::Datelike;
                        let date = ExcelDateTime::from_ymd(
                            d.year() as u16,
                            d.month() as u8,
                            d.day() as u8,
                        )?;
                        sheet.write_datetime_with_format(r, c, &date, &day)?;
                    }
                    Cell::Bool(b) => {
                        sheet.write_boolean(r, c, *b)?;
                    }
                    Cell::Int(i) => {
                        sheet.write_number(r, c, *i as f64)?;
                    }
                    Cell::Votes(v) => {
                        sheet.write_number(r, c, v.as_f64())?;
                    }
                }
            }
            r += 1;
        }
    }
    workbook.save_to_writer(std::io::BufWriter::new(out))?;
    Ok(())
}

/// Where the file of the export task `id` is kept.
pub fn export_path(dir: &Path, id: uuid::Uuid, format: ExportFormat) -> PathBuf {
    dir.join(format!("{id}.{}", format.extension()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_defuses_formulas_and_writes_exact_values() {
        assert_eq!(
            csv_text(&Cell::Text("=HYPERLINK(1)".into())),
            "'=HYPERLINK(1)"
        );
        assert_eq!(csv_text(&Cell::Text("Rodez".into())), "Rodez");
        assert_eq!(
            csv_text(&Cell::Votes(crate::domain::Votes::from_units(405_000))),
            "40.5"
        );
        assert_eq!(csv_text(&Cell::Null), "");
        let header = String::from_utf8(csv_header()).unwrap();
        assert!(header.starts_with("\u{feff}siret,raison_sociale,idcc,cp,ville,"));
        assert_eq!(ExportFormat::parse("xls"), None);
    }
}
