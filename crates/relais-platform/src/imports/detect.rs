//! Checking that an uploaded file is what its extension says, while it streams in and once it
//! is complete: magic bytes, CSV text (UTF-8 with or without BOM, or Windows-1252; no NUL
//! byte; rows counted), JSON structure (UTF-8, an array whose top-level objects are counted as
//! rows, nothing after it), XLSX structure (a ZIP holding `[Content_Types].xml` and
//! `xl/workbook.xml`, within the archive-bomb limits) and XLS structure (an OLE2 compound file).

use std::io::Read;
use std::path::Path;

use super::{FileFormat, ImportError};
use crate::config::ZipLimits;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE2_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];
/// Bytes kept from the start of the file for the magic and header checks.
const HEAD: usize = 4096;

/// What the checks learnt about a complete file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// CSV: `utf-8`, `utf-8-bom` or `windows-1252`.
    pub encoding: Option<&'static str>,
    /// CSV: data rows (non-blank records after the header).
    pub rows: Option<u64>,
}

/// The checks of one upload, fed chunk by chunk.
pub(crate) struct ContentCheck {
    format: FileFormat,
    head: Vec<u8>,
    magic_checked: bool,
    size: u64,
    max_rows: Option<u64>,
    csv: CsvScan,
    json: JsonScan,
}

#[derive(Default)]
struct CsvScan {
    in_quotes: bool,
    line_has_content: bool,
    records: u64,
    utf8: Utf8Check,
}

/// Whether a stream is valid UTF-8, a character possibly split across chunks.
struct Utf8Check {
    valid: bool,
    carry: Vec<u8>,
}

impl Default for Utf8Check {
    fn default() -> Self {
        Self {
            valid: true,
            carry: Vec::new(),
        }
    }
}

/// The structure of a JSON array of objects, checked byte by byte: where strings are, the
/// nesting depth, the objects at depth 1 (the rows), and that nothing follows the array.
#[derive(Default)]
struct JsonScan {
    started: bool,
    ended: bool,
    seen: u64,
    depth: u32,
    in_string: bool,
    escaped: bool,
    records: u64,
    utf8: Utf8Check,
}

impl ContentCheck {
    /// Checks for a file of `format`; for CSV and JSON, more than `max_rows` data rows is
    /// refused.
    pub fn new(format: FileFormat, max_rows: Option<u64>) -> Self {
        Self {
            format,
            head: Vec::with_capacity(HEAD),
            magic_checked: false,
            size: 0,
            max_rows,
            csv: CsvScan::default(),
            json: JsonScan::default(),
        }
    }

    /// Checks the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ImportError> {
        self.size += chunk.len() as u64;
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if !self.magic_checked && self.head.len() >= 16 {
            self.check_magic()?;
        }
        match self.format {
            FileFormat::Csv => self.csv.feed(chunk, self.max_rows)?,
            FileFormat::Json => self.json.feed(chunk, self.max_rows)?,
            FileFormat::Xlsx | FileFormat::Xls => {}
        }
        Ok(())
    }

    /// Checks the whole file, stored at `path`.
    pub fn finish(mut self, path: &Path, zip: &ZipLimits) -> Result<Checked, ImportError> {
        if self.size == 0 {
            return Err(ImportError::Damaged("the file is empty".into()));
        }
        if !self.magic_checked {
            self.check_magic()?;
        }
        match self.format {
            FileFormat::Csv => {
                let csv = &mut self.csv;
                if csv.in_quotes {
                    return Err(ImportError::Damaged(
                        "the CSV file ends inside a quoted field (a quote is not closed)".into(),
                    ));
                }
                if csv.line_has_content {
                    csv.records += 1;
                }
                if csv.records == 0 {
                    return Err(ImportError::Damaged(
                        "the CSV file has no header row".into(),
                    ));
                }
                let rows = csv.records - 1;
                check_rows(rows, self.max_rows)?;
                let encoding = match (csv.utf8.at_end(), self.head.starts_with(UTF8_BOM)) {
                    (true, true) => "utf-8-bom",
                    (true, false) => "utf-8",
                    (false, _) => "windows-1252",
                };
                Ok(Checked {
                    encoding: Some(encoding),
                    rows: Some(rows),
                })
            }
            FileFormat::Json => {
                let rows = self.json.finish()?;
                check_rows(rows, self.max_rows)?;
                Ok(Checked {
                    encoding: None,
                    rows: Some(rows),
                })
            }
            FileFormat::Xlsx => {
                check_zip(path, zip)?;
                Ok(Checked {
                    encoding: None,
                    rows: None,
                })
            }
            FileFormat::Xls => {
                check_ole2(&self.head, self.size)?;
                Ok(Checked {
                    encoding: None,
                    rows: None,
                })
            }
        }
    }

    fn check_magic(&mut self) -> Result<(), ImportError> {
        self.magic_checked = true;
        let head = &self.head;
        let mismatch = |expected: &str| {
            ImportError::TypeMismatch(format!(
                "the file is named .{} but its content is {}, not {expected}",
                self.format.extension(),
                describe(head)
            ))
        };
        match self.format {
            FileFormat::Xlsx if !head.starts_with(ZIP_MAGIC) => {
                Err(mismatch("an XLSX workbook (a ZIP archive)"))
            }
            FileFormat::Xls if !head.starts_with(OLE2_MAGIC) => {
                Err(mismatch("an XLS workbook (an OLE2 compound file)"))
            }
            FileFormat::Csv if !head.starts_with(UTF8_BOM) && infer::get(head).is_some() => {
                Err(mismatch("CSV text"))
            }
            FileFormat::Json if !head.starts_with(UTF8_BOM) && infer::get(head).is_some() => {
                Err(mismatch("JSON text"))
            }
            _ => Ok(()),
        }
    }
}

fn check_rows(rows: u64, max: Option<u64>) -> Result<(), ImportError> {
    match max {
        Some(max) if rows > max => Err(ImportError::TooManyRows { rows, max }),
        _ => Ok(()),
    }
}

/// What the start of a file looks like, for messages.
fn describe(head: &[u8]) -> String {
    if head.starts_with(ZIP_MAGIC) {
        return "a ZIP archive (application/zip)".into();
    }
    if head.starts_with(OLE2_MAGIC) {
        return "an OLE2 compound file (such as an XLS workbook)".into();
    }
    match infer::get(head) {
        Some(kind) => format!("{} (.{})", kind.mime_type(), kind.extension()),
        None if head.contains(&0) => "binary data".into(),
        None => "text".into(),
    }
}

impl CsvScan {
    /// Counts records (newlines outside quotes ending a line with content), jumping between
    /// quotes and newlines with `memchr` so ordinary bytes are not looked at one by one.
    fn feed(&mut self, chunk: &[u8], max_rows: Option<u64>) -> Result<(), ImportError> {
        self.utf8.feed(chunk);
        if memchr::memchr(0, chunk).is_some() {
            return Err(ImportError::TypeMismatch(
                "the file is named .csv but contains NUL bytes: binary data, not CSV text".into(),
            ));
        }
        let mut i = 0;
        while i < chunk.len() {
            let rest = &chunk[i..];
            if self.in_quotes {
                let end = memchr::memchr(b'"', rest);
                let seg = &rest[..end.unwrap_or(rest.len())];
                if !self.line_has_content && seg.iter().any(|b| !b.is_ascii_whitespace()) {
                    self.line_has_content = true;
                }
                match end {
                    Some(j) => {
                        self.in_quotes = false;
                        i += j + 1;
                    }
                    None => return Ok(()),
                }
                continue;
            }
            let end = memchr::memchr2(b'"', b'\n', rest);
            let seg = &rest[..end.unwrap_or(rest.len())];
            if !self.line_has_content
                && seg
                    .iter()
                    .any(|b| !matches!(b, b' ' | b'\t' | b'\r' | b',' | b';'))
            {
                self.line_has_content = true;
            }
            let Some(j) = end else {
                return Ok(());
            };
            if rest[j] == b'"' {
                self.in_quotes = true;
            } else if self.line_has_content {
                self.records += 1;
                self.line_has_content = false;
                if let Some(max) = max_rows
                    && self.records > max + 1
                {
                    return Err(ImportError::TooManyRows {
                        rows: self.records - 1,
                        max,
                    });
                }
            }
            i += j + 1;
        }
        Ok(())
    }
}

impl Utf8Check {
    /// Checks the next chunk (until the first invalid byte).
    fn feed(&mut self, chunk: &[u8]) {
        if !self.valid {
            return;
        }
        let joined;
        let data: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            Err(e) if e.error_len().is_none() => {
                self.carry = data[e.valid_up_to()..].to_vec();
            }
            Err(_) => {
                self.valid = false;
                self.carry.clear();
            }
        }
    }

    /// Whether everything fed was valid UTF-8 (no character left unfinished at the end).
    fn at_end(&self) -> bool {
        self.valid && self.carry.is_empty()
    }
}

impl JsonScan {
    fn feed(&mut self, chunk: &[u8], max_rows: Option<u64>) -> Result<(), ImportError> {
        self.utf8.feed(chunk);
        if !self.utf8.valid {
            return Err(not_json("it is not UTF-8 text"));
        }
        let bytes = chunk;
        let first = self.seen;
        self.seen += bytes.len() as u64;
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    // The character after a backslash, whatever it is.
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                let Some(j) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else {
                    return Ok(());
                };
                i += j;
                if bytes[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                }
                i += 1;
                continue;
            }
            let b = bytes[i];
            i += 1;
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                continue;
            }
            if !self.started {
                // A UTF-8 byte order mark may come first.
                let at = first + i as u64 - 1;
                if at < 3 && b == UTF8_BOM[at as usize] {
                    continue;
                }
                if b != b'[' {
                    return Err(not_json(
                        "it does not start with `[` (an array of objects is expected)",
                    ));
                }
                self.started = true;
                self.depth = 1;
                continue;
            }
            if self.ended {
                return Err(ImportError::Damaged(
                    "the JSON file has content after the end of its array".into(),
                ));
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    if self.depth == 1 && b == b'{' {
                        self.records += 1;
                        if let Some(max) = max_rows
                            && self.records > max
                        {
                            return Err(ImportError::TooManyRows {
                                rows: self.records,
                                max,
                            });
                        }
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    self.ended = self.depth == 0;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The rows (objects in the array), once the whole file was fed.
    fn finish(&self) -> Result<u64, ImportError> {
        if !self.utf8.at_end() {
            return Err(not_json("it is not UTF-8 text"));
        }
        if !self.started {
            return Err(not_json("it holds only spaces"));
        }
        if !self.ended {
            return Err(ImportError::Damaged(
                "the JSON file ends inside its array (truncated, or a bracket or quote is not closed)"
                    .into(),
            ));
        }
        Ok(self.records)
    }
}

fn not_json(why: &str) -> ImportError {
    ImportError::TypeMismatch(format!(
        "the file is named .json but is not a JSON array: {why}"
    ))
}

/// The ZIP central directory of an XLSX file: its entries, their declared sizes and ratios.
fn check_zip(path: &Path, limits: &ZipLimits) -> Result<(), ImportError> {
    let file = std::fs::File::open(path).map_err(ImportError::Io)?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        ImportError::Damaged(format!(
            "the XLSX file is damaged or truncated (its ZIP directory cannot be read: {e})"
        ))
    })?;
    let entries = archive.len() as u64;
    if entries > limits.max_entries {
        return Err(ImportError::ArchiveBomb(format!(
            "the archive holds {entries} entries; at most {} are accepted",
            limits.max_entries
        )));
    }
    let mut total: u64 = 0;
    let mut content_types = false;
    let mut workbook = false;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| {
            ImportError::Damaged(format!("the XLSX file is damaged (entry {i}: {e})"))
        })?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        content_types |= name == "[Content_Types].xml";
        workbook |= name == "xl/workbook.xml";
        let size = entry.size();
        total = total.saturating_add(size);
        if total > limits.max_uncompressed {
            return Err(ImportError::ArchiveBomb(format!(
                "the archive expands to more than {} bytes",
                limits.max_uncompressed
            )));
        }
        let ratio = size / entry.compressed_size().max(1);
        if size > 1 << 20 && ratio > limits.max_ratio {
            return Err(ImportError::ArchiveBomb(format!(
                "entry `{name}` expands {ratio} times ({} to {size} bytes); at most {} times is accepted",
                entry.compressed_size(),
                limits.max_ratio
            )));
        }
    }
    if !content_types || !workbook {
        let missing = if content_types {
            "xl/workbook.xml"
        } else {
            "[Content_Types].xml"
        };
        return Err(ImportError::TypeMismatch(format!(
            "the file is a ZIP archive but not an XLSX workbook: it lacks {missing}"
        )));
    }
    Ok(())
}

/// Decompresses every entry of an XLSX file, counting what comes out: an entry producing more
/// than it declared, or an archive producing more than the limit, is refused (headers can lie).
/// Run before a workbook is opened for processing.
pub(crate) fn verify_zip(path: &Path, limits: &ZipLimits) -> Result<(), ImportError> {
    check_zip(path, limits)?;
    let file = std::fs::File::open(path).map_err(ImportError::Io)?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ImportError::Damaged(format!("the XLSX file is damaged: {e}")))?;
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| ImportError::Damaged(format!("the XLSX file is damaged: {e}")))?;
        let declared = entry.size();
        let mut produced: u64 = 0;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| ImportError::Damaged(format!("the XLSX file is damaged: {e}")))?;
            if n == 0 {
                break;
            }
            produced += n as u64;
            total += n as u64;
            if produced > declared || total > limits.max_uncompressed {
                return Err(ImportError::ArchiveBomb(format!(
                    "entry {i} expands beyond its declared size or the archive beyond {} bytes",
                    limits.max_uncompressed
                )));
            }
        }
    }
    Ok(())
}

/// The header of an OLE2 compound file (what XLS workbooks are).
fn check_ole2(head: &[u8], size: u64) -> Result<(), ImportError> {
    if head.len() < 512 || size < 1024 {
        return Err(ImportError::Damaged(
            "the XLS file is truncated (shorter than an OLE2 header and one sector)".into(),
        ));
    }
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let major = u16_at(26);
    let byte_order = u16_at(28);
    let sector_shift = u16_at(30);
    let sound = byte_order == 0xFFFE && matches!((major, sector_shift), (3, 9) | (4, 12));
    if !sound {
        return Err(ImportError::Damaged(format!(
            "the XLS file's OLE2 header is damaged (version {major}, byte order {byte_order:#06x}, sector shift {sector_shift})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &[u8], chunk: usize, max: Option<u64>) -> Result<Checked, ImportError> {
        scan_as(FileFormat::Csv, text, chunk, max)
    }

    fn scan_as(
        format: FileFormat,
        text: &[u8],
        chunk: usize,
        max: Option<u64>,
    ) -> Result<Checked, ImportError> {
        let mut check = ContentCheck::new(format, max);
        for part in text.chunks(chunk) {
            check.feed(part)?;
        }
        check.finish(
            Path::new("/nonexistent"),
            &ZipLimits {
                max_entries: 1,
                max_uncompressed: 1,
                max_ratio: 1,
            },
        )
    }

    #[test]
    fn csv_rows_are_counted_across_chunks_quotes_and_blank_lines() {
        let text = "code;name\n1;\"a\nb\"\n\n;;\n2;\"x\"\"y\"\n3;z";
        for chunk in [1, 2, 3, 100] {
            let c = scan(text.as_bytes(), chunk, None).unwrap();
            assert_eq!(c.rows, Some(3), "chunk {chunk}");
            assert_eq!(c.encoding, Some("utf-8"));
        }
        assert!(matches!(
            scan(text.as_bytes(), 2, Some(2)),
            Err(ImportError::TooManyRows { rows: 3, max: 2 })
        ));
    }

    #[test]
    fn csv_encodings_are_recognised_even_when_a_character_spans_chunks() {
        let utf8 = "nom\nRenée\n".as_bytes();
        assert_eq!(scan(utf8, 1, None).unwrap().encoding, Some("utf-8"));
        let bom = [UTF8_BOM, utf8].concat();
        assert_eq!(scan(&bom, 4, None).unwrap().encoding, Some("utf-8-bom"));
        let latin = b"nom\nRen\xe9e\n";
        assert_eq!(scan(latin, 3, None).unwrap().encoding, Some("windows-1252"));
        assert!(matches!(
            scan(b"nom\nab\0cd\n", 100, None),
            Err(ImportError::TypeMismatch(_))
        ));
        assert!(matches!(
            scan(b"code\n\"open\n", 100, None),
            Err(ImportError::Damaged(_))
        ));
    }

    #[test]
    fn json_objects_are_counted_across_chunks_strings_and_escapes() {
        let text =
            "\u{feff} [ {\"a\": \"}{[\\\"\", \"b\": [1, {\"c\": 2}]},\n{\"a\": \"\\\\\"}, {} ]\n";
        for chunk in [1, 2, 3, 7, 100] {
            let c = scan_as(FileFormat::Json, text.as_bytes(), chunk, None).unwrap();
            assert_eq!(c.rows, Some(3), "chunk {chunk}");
        }
        assert!(matches!(
            scan_as(FileFormat::Json, text.as_bytes(), 5, Some(2)),
            Err(ImportError::TooManyRows { rows: 3, max: 2 })
        ));
        let refused = |text: &[u8]| scan_as(FileFormat::Json, text, 4, None).unwrap_err();
        assert!(matches!(
            refused(b"{\"a\": 1}"),
            ImportError::TypeMismatch(_)
        ));
        assert!(matches!(
            refused(b"[{\"a\": \"\xe9\"}]"),
            ImportError::TypeMismatch(_)
        ));
        assert!(matches!(
            refused(b"[{\"a\": \"]\"}"),
            ImportError::Damaged(_)
        ));
        assert!(matches!(
            refused(b"[{\"a\": 1}] []"),
            ImportError::Damaged(_)
        ));
        assert!(matches!(refused(b"   \n "), ImportError::TypeMismatch(_)));
    }
}
