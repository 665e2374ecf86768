//! `sample`: a small built-in import type with its own table (`relais_import_sample`), for
//! trying imports out, the test suites and `relais bench import`. It exercises every part of
//! the seam: aliases, required and optional columns, typed values with errors and warnings, an
//! idempotent upsert counting inserted/updated/unchanged rows, and a `replace` mode that
//! deletes the rows of a group absent from the file. Registered when `imports.sample = on`.

use chrono::NaiveDate;

use super::kind::{Column, ImportContext, ImportType, WriteMode, Written};
use super::model::ImportCounts;
use super::row::{Issues, Row};
use crate::store::{DbTx, StoreError};

/// One row of the `sample` type.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// Key.
    pub code: String,
    /// Name (at most 200 characters).
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Amount in cents.
    pub amount_cents: Option<i64>,
    /// A date.
    pub day: Option<NaiveDate>,
    /// Group (the scope of the `replace` mode).
    pub group: Option<String>,
}

/// The `sample` import type.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleImport;

const CODE: usize = 0;
const NAME: usize = 1;
const EMAIL: usize = 2;
const AMOUNT: usize = 3;
const DAY: usize = 4;
const GROUP: usize = 5;

const COLUMNS: &[Column] = &[
    Column::required(
        "code",
        &["id", "identifiant", "reference", "ref"],
        "unique key (at most 64 characters)",
    ),
    Column::required(
        "name",
        &["nom", "raison sociale", "libelle"],
        "name (longer than 200 characters: cut, with a warning)",
    ),
    Column::optional(
        "email",
        &["e-mail", "courriel", "mail", "adresse email"],
        "e-mail address (not one: left empty, with a warning)",
    ),
    Column::optional(
        "amount",
        &["montant", "montant eur", "somme"],
        "amount, `1 234,50` or `1234.5` (negative: a warning)",
    ),
    Column::optional(
        "date",
        &["day", "jour", "date de creation"],
        "date, YYYY-MM-DD or DD/MM/YYYY (or a date cell)",
    ),
    Column::optional(
        "group",
        &["groupe", "categorie", "category"],
        "group; the scope that mode `replace` replaces",
    ),
];

const MODES: &[WriteMode] = &[
    WriteMode::APPEND,
    WriteMode {
        name: "replace",
        needs_scope: true,
        accepts_scope: true,
        description: "make group SCOPE hold exactly the file's rows: rows of that group absent from the file are deleted at the end (not when a row was rejected); rows of another group are rejected",
    },
];

impl ImportType for SampleImport {
    const NAME: &'static str = "sample";
    type Record = SampleRow;

    fn description(&self) -> &'static str {
        "built-in sample type: codes, names, e-mails, amounts, dates and groups"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn modes(&self) -> &'static [WriteMode] {
        MODES
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<SampleRow> {
        let code = match row.text(CODE) {
            None => {
                issues.error(CODE, "required");
                String::new()
            }
            Some(c) if c.chars().count() > 64 => {
                issues.error(CODE, "longer than 64 characters");
                String::new()
            }
            Some(c) => c.into_owned(),
        };
        let name = match row.text(NAME) {
            None => {
                issues.error(NAME, "required");
                String::new()
            }
            Some(n) if n.chars().count() > 200 => {
                issues.warning(NAME, "longer than 200 characters: cut");
                n.chars().take(200).collect()
            }
            Some(n) => n.into_owned(),
        };
        let email = row.text(EMAIL).and_then(|e| {
            if is_email(&e) {
                Some(e.to_lowercase())
            } else {
                issues.warning(EMAIL, "not an e-mail address: left empty");
                None
            }
        });
        let amount_cents = match row.cell(AMOUNT).number() {
            Ok(Some(a)) if a.abs() < 9e13 => {
                if a < 0.0 {
                    issues.warning(AMOUNT, "negative amount");
                }
                Some((a * 100.0).round() as i64)
            }
            Ok(Some(_)) => {
                issues.error(AMOUNT, "amount out of range");
                None
            }
            Ok(None) => None,
            Err(e) => {
                issues.error(AMOUNT, e);
                None
            }
        };
        let day = row.cell(DAY).date().unwrap_or_else(|e| {
            issues.error(DAY, e);
            None
        });
        let mut group = row.text(GROUP).map(|g| g.into_owned());
        if ctx.mode == "replace" {
            match (&group, &ctx.scope) {
                (None, scope) => group = scope.clone(),
                (Some(g), Some(scope)) if g != scope => {
                    issues.error(GROUP, format!("outside the group `{scope}` being replaced"));
                }
                _ => {}
            }
        }
        Some(SampleRow {
            code,
            name,
            email,
            amount_cents,
            day,
            group,
        })
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<SampleRow>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        crate::store::import_sample::upsert(tx, records, ctx.import_id, ctx.mode == "replace").await
    }

    async fn finish(
        &self,
        tx: &mut DbTx,
        ctx: &ImportContext,
        counts: &ImportCounts,
    ) -> Result<Written, StoreError> {
        match (&ctx.scope, ctx.mode) {
            // A rejected row may be one that should stay: never delete then.
            (Some(scope), "replace") if counts.rejected == 0 => {
                let deleted =
                    crate::store::import_sample::delete_others(tx, scope, ctx.import_id).await?;
                Ok(Written {
                    deleted,
                    ..Written::default()
                })
            }
            _ => Ok(Written::default()),
        }
    }
}

impl SampleImport {
    /// Deletes every stored row (benchmarks start each run from an empty table).
    pub async fn clear(store: &dyn crate::store::Store) -> Result<(), StoreError> {
        crate::store::import_sample::clear(store.db()).await
    }

    /// Every stored row by code, with the import that last wrote it (for tests and benchmarks).
    pub async fn stored_rows(
        store: &dyn crate::store::Store,
    ) -> Result<Vec<(SampleRow, uuid::Uuid)>, StoreError> {
        crate::store::import_sample::rows(store.db()).await
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::row::Cell;

    fn parse(
        cells: &[Cell<'_>],
        mode: &'static str,
        scope: Option<&str>,
    ) -> (Option<SampleRow>, Issues) {
        let mapping: Vec<Option<usize>> = (0..6).map(Some).collect();
        let row = Row {
            number: 2,
            cells,
            mapping: &mapping,
        };
        let ctx = ImportContext {
            import_id: uuid::Uuid::nil(),
            mode,
            scope: scope.map(str::to_owned),
            dry_run: false,
        };
        let mut issues = Issues::default();
        let record = SampleImport.parse(&row, &ctx, &mut issues);
        (record, issues)
    }

    #[test]
    fn good_rows_parse_and_bad_values_are_errors_or_warnings() {
        let (r, issues) = parse(
            &[
                Cell::Text(" A1 "),
                Cell::Text("Renée"),
                Cell::Text("R@Example.org"),
                Cell::Text("1 234,5"),
                Cell::Text("01/03/2024"),
                Cell::Empty,
            ],
            "append",
            None,
        );
        assert!(!issues.has_errors());
        let r = r.unwrap();
        assert_eq!(r.code, "A1");
        assert_eq!(r.email.as_deref(), Some("r@example.org"));
        assert_eq!(r.amount_cents, Some(123_450));
        assert_eq!(r.day, NaiveDate::from_ymd_opt(2024, 3, 1));

        let (_, issues) = parse(
            &[
                Cell::Empty,
                Cell::Text("x"),
                Cell::Text("nope"),
                Cell::Text("abc"),
                Cell::Empty,
                Cell::Empty,
            ],
            "append",
            None,
        );
        let kinds: Vec<(super::super::Severity, Option<usize>)> =
            issues.items.iter().map(|(s, c, _)| (*s, *c)).collect();
        use super::super::Severity::*;
        assert_eq!(
            kinds,
            vec![
                (Error, Some(CODE)),
                (Warning, Some(EMAIL)),
                (Error, Some(AMOUNT))
            ]
        );
    }

    #[test]
    fn replace_mode_fills_and_checks_the_group() {
        let (r, issues) = parse(&[Cell::Text("a"), Cell::Text("b")], "replace", Some("g1"));
        assert!(!issues.has_errors());
        assert_eq!(r.unwrap().group.as_deref(), Some("g1"));
        let cells = [
            Cell::Text("a"),
            Cell::Text("b"),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Text("g2"),
        ];
        let (_, issues) = parse(&cells, "replace", Some("g1"));
        assert!(issues.has_errors());
    }
}
