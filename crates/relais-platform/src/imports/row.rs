//! What a type's parser sees: a [`Row`] of [`Cell`]s addressed by the type's column index, and
//! [`Issues`] where it records errors and warnings. Also the header matching.

use std::borrow::Cow;

use chrono::{NaiveDate, NaiveDateTime};

use super::kind::Column;
use super::model::{NewIssue, Severity};

/// One cell as read: CSV cells are text; spreadsheet cells keep their type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Absent, or only spaces.
    Empty,
    /// Text (not trimmed).
    Text(&'a str),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A date or date-time cell.
    Date(NaiveDateTime),
    /// A spreadsheet error such as `#DIV/0!`.
    Error(&'a str),
}

impl<'a> Cell<'a> {
    /// Whether the cell holds nothing (spaces count as nothing).
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as trimmed text; `None` when empty. Whole floats print without decimals
    /// (`12.0` → `12`), dates as ISO 8601.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match *self {
            Cell::Empty => None,
            Cell::Text(s) => {
                let t = s.trim();
                (!t.is_empty()).then_some(Cow::Borrowed(t))
            }
            Cell::Int(i) => Some(Cow::Owned(i.to_string())),
            Cell::Float(f) => Some(Cow::Owned(format_float(f))),
            Cell::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Cell::Date(d) => Some(Cow::Owned(if d.time() == chrono::NaiveTime::MIN {
                d.date().to_string()
            } else {
                d.to_string()
            })),
            Cell::Error(e) => Some(Cow::Borrowed(e)),
        }
    }

    /// The cell as a number: numeric cells, or text such as `1 234,50`, `1234.5` or `12 €`
    /// (spaces, non-breaking spaces and a trailing `€` ignored; `,` or `.` as decimal mark).
    pub fn number(&self) -> Result<Option<f64>, String> {
        match *self {
            Cell::Empty => Ok(None),
            Cell::Int(i) => Ok(Some(i as f64)),
            Cell::Float(f) => Ok(Some(f)),
            Cell::Bool(_) | Cell::Date(_) | Cell::Error(_) => Err("not a number".into()),
            Cell::Text(s) => {
                let t = s.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                parse_number(t)
                    .map(Some)
                    .ok_or_else(|| "not a number".into())
            }
        }
    }

    /// The cell as a date: date cells, Excel serial numbers, or text `YYYY-MM-DD`,
    /// `DD/MM/YYYY`, `DD-MM-YYYY` or `DD.MM.YYYY` (a time after the date is ignored).
    pub fn date(&self) -> Result<Option<NaiveDate>, String> {
        const EXPECTED: &str = "not a date (expected YYYY-MM-DD or DD/MM/YYYY)";
        match *self {
            Cell::Empty => Ok(None),
            Cell::Date(d) => Ok(Some(d.date())),
            Cell::Int(i) => excel_serial(i as f64)
                .map(Some)
                .ok_or_else(|| EXPECTED.into()),
            Cell::Float(f) => excel_serial(f).map(Some).ok_or_else(|| EXPECTED.into()),
            Cell::Bool(_) | Cell::Error(_) => Err(EXPECTED.into()),
            Cell::Text(s) => {
                let t = s.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                parse_date(t).map(Some).ok_or_else(|| EXPECTED.into())
            }
        }
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn parse_number(t: &str) -> Option<f64> {
    let mut cleaned = String::with_capacity(t.len());
    for c in t.trim_end_matches('€').chars() {
        match c {
            ' ' | '\u{a0}' | '\u{202f}' => {}
            ',' => cleaned.push('.'),
            c => cleaned.push(c),
        }
    }
    if cleaned.is_empty() || cleaned.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = cleaned.parse().ok()?;
    value.is_finite().then_some(value)
}

fn parse_date(t: &str) -> Option<NaiveDate> {
    let date = t.split([' ', 'T']).next().unwrap_or(t);
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%d/%m/%Y"))
        .or_else(|_| NaiveDate::parse_from_str(date, "%d-%m-%Y"))
        .or_else(|_| NaiveDate::parse_from_str(date, "%d.%m.%Y"))
        .ok()
}

/// Excel's 1900 date system (serial 1 = 1900-01-01, with its fictitious 1900-02-29).
fn excel_serial(serial: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let days = serial.trunc() as i64;
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    let days = if days < 60 { days + 1 } else { days };
    epoch.checked_add_signed(chrono::Duration::days(days))
}

/// One data row, its cells addressed by the type's column index (the order of
/// [`super::ImportType::columns`]).
pub struct Row<'a> {
    pub(crate) number: u64,
    pub(crate) cells: &'a [Cell<'a>],
    pub(crate) mapping: &'a [Option<usize>],
}

impl<'a> Row<'a> {
    /// The row as a spreadsheet shows it (the header is row 1); for CSV, the line where the
    /// record starts.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The cell of the type's column `column`; [`Cell::Empty`] when the file lacks the column.
    pub fn cell(&self, column: usize) -> Cell<'a> {
        self.mapping
            .get(column)
            .copied()
            .flatten()
            .and_then(|i| self.cells.get(i).copied())
            .unwrap_or(Cell::Empty)
    }

    /// The trimmed text of the type's column `column`; `None` when empty.
    pub fn text(&self, column: usize) -> Option<Cow<'a, str>> {
        self.cell(column).text()
    }
}

/// Where a parser records what is wrong with a row. Any error rejects the row; warnings keep it.
#[derive(Debug, Default)]
pub struct Issues {
    pub(crate) items: Vec<(Severity, Option<usize>, String)>,
}

impl Issues {
    /// The row is rejected because of the type's column `column`.
    pub fn error(&mut self, column: usize, message: impl Into<String>) {
        self.items
            .push((Severity::Error, Some(column), message.into()));
    }

    /// The row is rejected, for a reason not tied to one column.
    pub fn row_error(&mut self, message: impl Into<String>) {
        self.items.push((Severity::Error, None, message.into()));
    }

    /// The row is accepted, with an oddity in the type's column `column`.
    pub fn warning(&mut self, column: usize, message: impl Into<String>) {
        self.items
            .push((Severity::Warning, Some(column), message.into()));
    }

    /// Whether an error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|(s, _, _)| *s == Severity::Error)
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    /// Drains the issues into stored form, with each column's name and value.
    pub(crate) fn drain_into(
        &mut self,
        row: &Row<'_>,
        columns: &[Column],
        out: &mut Vec<NewIssue>,
    ) {
        for (severity, column, message) in self.items.drain(..) {
            let (name, value) = match column {
                Some(c) => (
                    columns.get(c).map(|col| col.name.to_owned()),
                    row.cell(c).text().map(|v| truncate(&v, 200)),
                ),
                None => (None, None),
            };
            out.push(NewIssue {
                row: row.number,
                severity,
                column: name,
                value,
                message,
            });
        }
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A header name reduced for matching: lower case, accents removed, and only letters and digits
/// kept (`" Raison Sociale "`, `"raison_sociale"` and `"RAISON-SOCIALE"` all give
/// `raisonsociale`).
pub fn normalize_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            'ß' => "ss",
            c if c.is_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => continue,
        };
        out.push_str(folded);
    }
    out
}

/// How a header row matched a type's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderMatch {
    /// For each type column, the file column holding it.
    pub mapping: Vec<Option<usize>>,
    /// Headers that match no column (file column index, text).
    pub unknown: Vec<(usize, String)>,
    /// Headers naming a column already matched by an earlier header.
    pub duplicates: Vec<(usize, String)>,
}

impl HeaderMatch {
    /// Required columns the header lacks.
    pub fn missing<'c>(&self, columns: &'c [Column]) -> Vec<&'c Column> {
        columns
            .iter()
            .zip(&self.mapping)
            .filter(|(c, m)| c.required && m.is_none())
            .map(|(c, _)| c)
            .collect()
    }

    /// JSON for the import record: `matched` (column → header as written) and `unknown`.
    pub fn describe(&self, columns: &[Column], headers: &[String]) -> serde_json::Value {
        let matched: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(&self.mapping)
            .filter_map(|(c, m)| m.map(|i| (c.name.to_owned(), headers[i].clone().into())))
            .collect();
        let unknown: Vec<&str> = self.unknown.iter().map(|(_, h)| h.as_str()).collect();
        serde_json::json!({ "matched": matched, "unknown": unknown })
    }
}

/// Matches `headers` against `columns` (each column's name and aliases, normalized).
pub(crate) fn match_header(columns: &[Column], headers: &[String]) -> HeaderMatch {
    let keys: Vec<Vec<String>> = columns
        .iter()
        .map(|c| {
            std::iter::once(c.name)
                .chain(c.aliases.iter().copied())
                .map(normalize_header)
                .collect()
        })
        .collect();
    let mut mapping = vec![None; columns.len()];
    let mut unknown = Vec::new();
    let mut duplicates = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let h = normalize_header(header);
        if h.is_empty() {
            continue;
        }
        match keys.iter().position(|k| k.contains(&h)) {
            Some(c) if mapping[c].is_none() => mapping[c] = Some(i),
            Some(_) => duplicates.push((i, header.trim().to_owned())),
            None => unknown.push((i, header.trim().to_owned())),
        }
    }
    HeaderMatch {
        mapping,
        unknown,
        duplicates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column] = &[
        Column::required("code", &["identifiant", "id"], "key"),
        Column::required("name", &["raison sociale", "nom"], "name"),
        Column::optional("email", &["e-mail", "courriel"], "address"),
    ];

    #[test]
    fn headers_match_whatever_case_accents_spaces_and_punctuation() {
        let headers: Vec<String> = [
            "  IDENTIFIANT ",
            "Raison_Sociale",
            "Courriel",
            "Extra",
            "ID",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = match_header(COLUMNS, &headers);
        assert_eq!(m.mapping, vec![Some(0), Some(1), Some(2)]);
        assert_eq!(m.unknown, vec![(3, "Extra".to_owned())]);
        assert_eq!(m.duplicates, vec![(4, "ID".to_owned())]);
        assert!(m.missing(COLUMNS).is_empty());
        assert_eq!(normalize_header("Élément N° 1 "), "elementn1");
    }

    #[test]
    fn missing_required_columns_are_listed() {
        let m = match_header(COLUMNS, &["e-mail".to_owned()]);
        let missing: Vec<&str> = m.missing(COLUMNS).iter().map(|c| c.name).collect();
        assert_eq!(missing, vec!["code", "name"]);
    }

    #[test]
    fn cells_parse_numbers_and_dates() {
        assert_eq!(Cell::Text(" 1 234,50 € ").number(), Ok(Some(1234.5)));
        assert!(Cell::Text("12abc").number().is_err());
        assert_eq!(Cell::Float(3.0).text().as_deref(), Some("3"));
        let d = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        assert_eq!(Cell::Text("01/03/2024").date(), Ok(Some(d)));
        assert_eq!(Cell::Text("2024-03-01").date(), Ok(Some(d)));
        assert_eq!(Cell::Float(45352.0).date(), Ok(Some(d)));
        assert!(Cell::Text("31/02/2024").date().is_err());
        assert_eq!(Cell::Text("  ").date(), Ok(None));
    }
}
