//! Reading a file with an import type's header matching and parser outside the pipeline: no
//! upload checks, file store, record, batches or row report. For bulk loads of trusted files
//! (the benchmarks load generated data with it through the app's own storage).

use std::path::Path;

use super::FileFormat;
use super::kind::{ImportContext, ImportType};
use super::row::{Cell, HeaderMatch, Issues, Row, match_header};
use super::source::{self, Flow, RowSink, SourceOptions};

/// What [`parse_file`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParsedCounts {
    /// Data rows read.
    pub read: u64,
    /// Rows the parser accepted (handed over).
    pub accepted: u64,
    /// Rows with errors (dropped).
    pub rejected: u64,
}

/// Reads `path` (UTF-8 CSV, XLSX, XLS or JSON, by its extension) with `ty`'s columns and
/// parser, handing every accepted record to `accept` in file order; rows with errors are
/// counted and dropped. Fails when the header lacks a required column, the file cannot be read,
/// or `accept` fails. Blocking: run it on a blocking thread.
pub fn parse_file<T: ImportType>(
    ty: &T,
    path: &Path,
    ctx: &ImportContext,
    accept: impl FnMut(T::Record) -> Result<(), String>,
) -> Result<ParsedCounts, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let format = FileFormat::of_file_name(name)
        .ok_or_else(|| format!("{}: no known file extension", path.display()))?;
    let options = SourceOptions {
        format,
        encoding: None,
        sheet: None,
    };
    let mut sink = Direct {
        ty,
        ctx,
        header: None,
        issues: Issues::default(),
        accept,
        counts: ParsedCounts::default(),
    };
    source::read(path, &options, &mut sink)?;
    if sink.header.is_none() {
        return Err("the file has no header row".into());
    }
    Ok(sink.counts)
}

struct Direct<'a, T: ImportType, F> {
    ty: &'a T,
    ctx: &'a ImportContext,
    header: Option<HeaderMatch>,
    issues: Issues,
    accept: F,
    counts: ParsedCounts,
}

impl<T: ImportType, F: FnMut(T::Record) -> Result<(), String>> RowSink for Direct<'_, T, F> {
    fn header(&mut self, _row: u64, headers: Vec<String>) -> Result<Flow, String> {
        let m = match_header(self.ty.columns(), &headers);
        let missing = m.missing(self.ty.columns());
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|c| c.name).collect();
            return Err(format!("missing required column(s): {}", names.join(", ")));
        }
        self.header = Some(m);
        Ok(Flow::Continue)
    }

    fn row(&mut self, number: u64, cells: &[Cell<'_>], _progress: f64) -> Result<Flow, String> {
        let Some(header) = &self.header else {
            return Ok(Flow::Stop);
        };
        let row = Row {
            number,
            cells,
            mapping: &header.mapping,
        };
        self.issues.clear();
        self.counts.read += 1;
        match self.ty.parse(&row, self.ctx, &mut self.issues) {
            Some(record) if !self.issues.has_errors() => {
                self.counts.accepted += 1;
                (self.accept)(record)?;
            }
            _ => self.counts.rejected += 1,
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::sample::SampleImport;

    #[test]
    fn a_file_is_parsed_by_the_type_and_bad_rows_dropped() {
        let dir = std::env::temp_dir().join(format!("relais-direct-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("few.csv");
        std::fs::write(
            &path,
            "Code;Nom;Montant\nA1;Un;1,5\n;Sans code;2\nA2;Deux;3\n",
        )
        .unwrap();
        let ctx = ImportContext {
            import_id: uuid::Uuid::nil(),
            mode: "append",
            scope: None,
            dry_run: false,
        };
        let mut codes = Vec::new();
        let counts = parse_file(&SampleImport, &path, &ctx, |r| {
            codes.push(r.code);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            counts,
            ParsedCounts {
                read: 3,
                accepted: 2,
                rejected: 1
            }
        );
        assert_eq!(codes, ["A1", "A2"]);
        let refused = parse_file(&SampleImport, &path, &ctx, |_| Err("full".into()));
        assert_eq!(refused, Err("full".to_owned()));
        std::fs::write(&path, "Nom\nUn\n").unwrap();
        let missing = parse_file(&SampleImport, &path, &ctx, |_| Ok(())).unwrap_err();
        assert!(missing.contains("code"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
