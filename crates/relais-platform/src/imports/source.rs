//! Readers that stream the rows of a stored file to a [`RowSink`]: CSV (separator `,` `;` or
//! tab detected from the header line; quotes and embedded newlines; UTF-8 or Windows-1252),
//! XLSX (the sheet's XML streamed cell by cell), XLS, and JSON (an array of objects, in
//! `json.rs`). Blank rows are skipped.
//!
//! Memory: CSV holds one record. XLSX holds one row plus what calamine loads when it opens the
//! workbook (the shared-strings table, styles and the workbook part), so it grows with the
//! number of distinct strings, not with the number of rows. XLS is read whole by calamine (the
//! format caps a sheet at 65,536 rows, and uploads are capped by size).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use calamine::{CellErrorType, Data, DataRef, Reader};

use super::FileFormat;
use super::row::Cell;

/// Whether to go on reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Next row.
    Continue,
    /// Stop now (not an error).
    Stop,
}

/// Receives a file's header and rows, in order.
pub(crate) trait RowSink {
    /// The first non-blank row, as text. An error fails the import with that message.
    fn header(&mut self, row: u64, headers: Vec<String>) -> Result<Flow, String>;
    /// A non-blank data row; `progress` is the share of the file read (0–1).
    fn row(&mut self, row: u64, cells: &[Cell<'_>], progress: f64) -> Result<Flow, String>;
}

/// How to read a stored file.
#[derive(Debug, Clone)]
pub(crate) struct SourceOptions {
    /// The format.
    pub format: FileFormat,
    /// CSV encoding (`utf-8`, `utf-8-bom`, `windows-1252`).
    pub encoding: Option<String>,
    /// Spreadsheets: the sheet (default: the first).
    pub sheet: Option<String>,
}

/// Streams `path` to `sink`. An error is a message for the import record (the file cannot be
/// read as its format, a sink error, or I/O).
pub(crate) fn read(
    path: &Path,
    options: &SourceOptions,
    sink: &mut dyn RowSink,
) -> Result<(), String> {
    match options.format {
        FileFormat::Csv => read_csv(path, options.encoding.as_deref(), sink),
        FileFormat::Xlsx => read_xlsx(path, options.sheet.as_deref(), sink),
        FileFormat::Xls => read_xls(path, options.sheet.as_deref(), sink),
        FileFormat::Json => super::json::read(path, sink),
    }
}

/// Counts the bytes read from the file, for progress.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decodes Windows-1252 into UTF-8 (a single-byte encoding: chunks decode independently).
struct FromWindows1252<R> {
    inner: R,
    raw: Vec<u8>,
    out: Vec<u8>,
    at: usize,
}

impl<R: Read> Read for FromWindows1252<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() {
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&self.raw[..n]);
            self.out.clear();
            self.out.extend_from_slice(text.as_bytes());
            self.at = 0;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The separator of a CSV file: whichever of `,` `;` and tab occurs most outside quotes in the
/// first line (`,` when none does).
pub(crate) fn detect_separator(start: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for &b in start {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => break,
            b',' if !in_quotes => counts[0] += 1,
            b';' if !in_quotes => counts[1] += 1,
            b'\t' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    let seps = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    seps[best]
}

fn read_csv(path: &Path, encoding: Option<&str>, sink: &mut dyn RowSink) -> Result<(), String> {
    let io = |e: std::io::Error| format!("cannot read the stored file: {e}");
    let size = std::fs::metadata(path).map_err(io)?.len().max(1);
    let mut file = File::open(path).map_err(io)?;
    let mut start = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut file, &mut start).map_err(io)?;
    start.truncate(n);
    let bom = start.starts_with(&[0xEF, 0xBB, 0xBF]);
    let separator = detect_separator(if bom { &start[3..] } else { &start });
    let counter = Arc::new(AtomicU64::new(0));
    let mut file = File::open(path).map_err(io)?;
    if bom {
        let mut skip = [0u8; 3];
        file.read_exact(&mut skip).map_err(io)?;
    }
    let counted = Counting {
        inner: file,
        read: counter.clone(),
    };
    let input: Box<dyn Read> = if encoding == Some("windows-1252") {
        Box::new(FromWindows1252 {
            inner: counted,
            raw: vec![0u8; 64 * 1024],
            out: Vec::new(),
            at: 0,
        })
    } else {
        Box::new(counted)
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(input);
    let mut record = csv::StringRecord::new();
    let mut header_seen = false;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| match e.kind() {
                csv::ErrorKind::Utf8 { pos, .. } => format!(
                    "the CSV file is not valid UTF-8 at line {}",
                    pos.as_ref().map_or(0, |p| p.line())
                ),
                _ => format!("the CSV file cannot be read: {e}"),
            })?;
        if !more {
            return Ok(());
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        let flow = if !header_seen {
            header_seen = true;
            sink.header(line, record.iter().map(str::to_owned).collect())?
        } else {
            let cells: Vec<Cell<'_>> = record
                .iter()
                .map(|f| {
                    if f.is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Text(f)
                    }
                })
                .collect();
            let progress = counter.load(Ordering::Relaxed) as f64 / size as f64;
            sink.row(line, &cells, progress.min(1.0))?
        };
        if flow == Flow::Stop {
            return Ok(());
        }
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn error_text(e: &CellErrorType) -> &'static str {
    match e {
        CellErrorType::Div0 => "#DIV/0!",
        CellErrorType::NA => "#N/A",
        CellErrorType::Name => "#NAME?",
        CellErrorType::Null => "#NULL!",
        CellErrorType::Num => "#NUM!",
        CellErrorType::Ref => "#REF!",
        CellErrorType::Value => "#VALUE!",
        CellErrorType::GettingData => "#DATA!",
    }
}

fn cell_of_ref<'a>(d: &'a DataRef<'_>) -> Cell<'a> {
    match d {
        DataRef::Empty => Cell::Empty,
        DataRef::Int(i) => Cell::Int(*i),
        DataRef::Float(f) => Cell::Float(*f),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Text(s),
        DataRef::SharedString(s) => Cell::Text(s),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(dt) => match dt.as_datetime() {
            Some(d) => Cell::Date(d),
            None => Cell::Float(dt.as_f64()),
        },
        DataRef::Error(e) => Cell::Error(error_text(e)),
    }
}

fn cell_of_data(d: &Data) -> Cell<'_> {
    match d {
        Data::Empty => Cell::Empty,
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(d) => Cell::Date(d),
            None => Cell::Float(dt.as_f64()),
        },
        Data::Error(e) => Cell::Error(error_text(e)),
    }
}

fn pick_sheet(names: Vec<String>, wanted: Option<&str>) -> Result<String, String> {
    match wanted {
        Some(w) => names
            .iter()
            .find(|n| n.as_str() == w)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "the workbook has no sheet `{w}` (sheets: {})",
                    names.join(", ")
                )
            }),
        None => names
            .into_iter()
            .next()
            .ok_or_else(|| "the workbook has no sheet".to_owned()),
    }
}

/// Sends one assembled spreadsheet row; `None` when the row is blank.
fn emit_row(
    sink: &mut dyn RowSink,
    header_seen: &mut bool,
    row: u64,
    cells: &[Cell<'_>],
    progress: f64,
) -> Result<Flow, String> {
    if cells.iter().all(Cell::is_empty) {
        return Ok(Flow::Continue);
    }
    if !*header_seen {
        *header_seen = true;
        let headers = cells
            .iter()
            .map(|c| c.text().map(|t| t.into_owned()).unwrap_or_default())
            .collect();
        return sink.header(row, headers);
    }
    sink.row(row, cells, progress)
}

fn read_xlsx(path: &Path, sheet: Option<&str>, sink: &mut dyn RowSink) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot read the stored file: {e}"))?;
    let mut workbook: calamine::Xlsx<BufReader<File>> =
        calamine::Xlsx::new(BufReader::new(file))
            .map_err(|e| format!("the XLSX workbook cannot be opened: {e}"))?;
    let name = pick_sheet(workbook.sheet_names(), sheet)?;
    let mut cells = workbook
        .worksheet_cells_reader(&name)
        .map_err(|e| format!("sheet `{name}` cannot be read: {e}"))?;
    let last_row = u64::from(cells.dimensions().end.0).max(1);
    let mut current: Option<u32> = None;
    let mut values: Vec<DataRef<'_>> = Vec::new();
    let mut header_seen = false;
    loop {
        let next = cells
            .next_cell()
            .map_err(|e| format!("sheet `{name}` cannot be read: {e}"))?;
        let next_row = next.as_ref().map(|c| c.get_position().0);
        if current.is_some() && next_row != current {
            let row = current.unwrap_or(0);
            let view: Vec<Cell<'_>> = values.iter().map(cell_of_ref).collect();
            let progress = (f64::from(row) / last_row as f64).min(1.0);
            let flow = emit_row(sink, &mut header_seen, u64::from(row) + 1, &view, progress)?;
            drop(view);
            if flow == Flow::Stop {
                return Ok(());
            }
            values.clear();
        }
        let Some(cell) = next else {
            return Ok(());
        };
        let (row, col) = cell.get_position();
        current = Some(row);
        let col = col as usize;
        if col >= values.len() {
            values.resize(col + 1, DataRef::Empty);
        }
        values[col] = cell.get_value().clone();
    }
}

fn read_xls(path: &Path, sheet: Option<&str>, sink: &mut dyn RowSink) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot read the stored file: {e}"))?;
    let mut workbook: calamine::Xls<BufReader<File>> = calamine::Xls::new(BufReader::new(file))
        .map_err(|e| format!("the XLS workbook cannot be opened: {e}"))?;
    let name = pick_sheet(workbook.sheet_names(), sheet)?;
    let range = workbook
        .worksheet_range(&name)
        .map_err(|e| format!("sheet `{name}` cannot be read: {e}"))?;
    let first = range.start().map_or(0, |(r, _)| r);
    let height = range.height().max(1);
    let mut header_seen = false;
    for (i, row) in range.rows().enumerate() {
        let view: Vec<Cell<'_>> = row.iter().map(cell_of_data).collect();
        let progress = (i + 1) as f64 / height as f64;
        let number = u64::from(first) + i as u64 + 1;
        if emit_row(sink, &mut header_seen, number, &view, progress)? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_detected_outside_quotes() {
        assert_eq!(detect_separator(b"a;b;c\n1,2;3"), b';');
        assert_eq!(detect_separator(b"a,b,c\n"), b',');
        assert_eq!(detect_separator(b"a\tb\n"), b'\t');
        assert_eq!(detect_separator(b"\"a;b;c\",d\n"), b',');
        assert_eq!(detect_separator(b"single\n"), b',');
    }
}
