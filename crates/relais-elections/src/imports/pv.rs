//! `elections.pv`: PV result files, one row per PV × collège, in every published layout (the
//! normalised files, the Ministry's CSV extract, JSON and XLSX exports and "PV retenus"
//! workbook, the upstream tool's table), matched through the alias table of the domain
//! reference.

use chrono::NaiveDate;
use relais_platform::imports::{
    Column, ImportContext, ImportCounts, ImportType, Issues, Row, TypeLimits, WriteMode, Written,
};
use relais_platform::store::{DbTx, StoreError};

use super::cells;
use super::file_state::{self, hash_of};
use super::{FORMATS, MAX_ROWS, MAX_SIZE};
use crate::domain::{College, Cycle, CycleTable, PvKind, PvRow, UNIONS, Votes, departement_code};

/// One accepted PV row with its natural key, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PvLine {
    /// `pv:<PV number>:<collège>` when the file gives the PV number; otherwise
    /// `s:<siret>:<date or cycle>:<collège>:<kind>:<n>`, `n` counting the rows of that key in
    /// the file (two PVs of one SIRET, collège and day stay two rows; the same file imported
    /// again gives the same keys).
    pub key: String,
    /// The row.
    pub row: PvRow,
    /// Région, when the file gives it.
    pub region: Option<String>,
    /// The file a normalised row came from (`source_file`).
    pub source_file: Option<String>,
}

/// What a PV file row becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum PvRecord {
    /// A PV row to store.
    Pv(Box<PvLine>),
    /// An AGRI or TPE aggregate row of the Ministry's files: not a PV, skipped (with a warning).
    Skipped,
}

/// The `elections.pv` import type.
#[derive(Debug, Clone)]
pub struct PvImport {
    cycles: CycleTable,
}

impl PvImport {
    /// A PV import deriving cycles from `cycles`.
    pub fn new(cycles: CycleTable) -> Self {
        Self { cycles }
    }
}

const PV_NUMBER: usize = 0;
const SIRET: usize = 1;
const TYPE: usize = 2;
const DATE: usize = 3;
const CYCLE: usize = 4;
const COLLEGE: usize = 5;
const INSCRITS: usize = 6;
const VOTANTS: usize = 7;
const SVE: usize = 8;
/// The unions' votes, in [`UNIONS`] order.
const VOTES: usize = 9;
const SEATS_TO_FILL: usize = 17;
/// The unions' seats, in [`UNIONS`] order.
const SEATS: usize = 18;
const RAISON_SOCIALE: usize = 26;
const VILLE: usize = 27;
const CP: usize = 28;
const DEPARTEMENT: usize = 29;
const REGION: usize = 30;
const IDCC: usize = 31;
const IDCC_LABEL: usize = 32;
const SOURCE_FILE: usize = 33;

/// Largest voter count accepted.
const MAX_VOTERS: i64 = 10_000_000;
/// Largest seat count accepted.
const MAX_SEATS: i64 = 10_000;

const COLUMNS: &[Column] = &[
    Column::optional(
        "pv_number",
        &["N°PV", "numero_pv", "id_pv", "num_pv", "numéro de PV"],
        "the Ministry's PV number: with the collège, it identifies the row for updates in place",
    ),
    Column::required(
        "siret",
        &["SIRET"],
        "14 digits, check digit verified (a bad one rejects the row)",
    ),
    Column::optional(
        "type",
        &["Type", "institution", "type_pv"],
        "CSE (default), CAR or carence for a carence PV; AGRI and TPE aggregate rows are skipped",
    ),
    Column::optional(
        "date",
        &[
            "Date",
            "date_scrutin",
            "date_pv",
            "Date du PV",
            "date_election",
        ],
        "election date: YYYYMMDD, YYYY-MM-DD, DD/MM/YYYY or a date cell; gives the cycle",
    ),
    Column::optional(
        "cycle",
        &["Cycle"],
        "cross-check only (a warning when the date says otherwise); the cycle of undated rows when the import has no scope",
    ),
    Column::optional(
        "college",
        &["Collège", "Coll", "OETAMIC", "college_code"],
        "collège: 01 ouvriers et employés … 05 collège unique",
    ),
    Column::required(
        "inscrits",
        &[
            "Inscrits",
            "num_inscrits",
            "nb_inscrits",
            "nombre d'inscrits",
        ],
        "registered voters (whole number)",
    ),
    Column::optional(
        "votants",
        &["Votants", "num_votants", "nb_votants"],
        "voters (empty: unknown, never a carence)",
    ),
    Column::required(
        "sve",
        &[
            "SVE",
            "sve_total",
            "num_sve",
            "Suffrages exprimés",
            "suffrages valablement exprimés",
        ],
        "valid votes (decimals kept exactly to 4 places)",
    ),
    Column::optional("cgt", &["score_CGT"], "CGT votes"),
    Column::optional("cfdt", &["score_CFDT"], "CFDT votes"),
    Column::optional(
        "cgt_fo",
        &["CGT-FO", "FO", "score_FO", "score_CGT-FO"],
        "CGT-FO votes",
    ),
    Column::optional("cftc", &["score_CFTC"], "CFTC votes"),
    Column::optional(
        "cfe_cgc",
        &["CFE-CGC", "CGC", "score_CGC", "score_CFE-CGC"],
        "CFE-CGC votes",
    ),
    Column::optional("unsa", &["score_UNSA"], "UNSA votes"),
    Column::optional(
        "solidaires",
        &["SUD", "score_SOLIDAIRE", "score_SOLIDAIRES", "score_SUD"],
        "Solidaires (SUD) votes",
    ),
    Column::optional(
        "autres",
        &["AUTRE", "score_AUTRE", "score_AUTRES"],
        "votes of every other list",
    ),
    Column::optional(
        "sieges_a_pourvoir",
        &[
            "Sièges à pourvoir",
            "Nb sièges",
            "Nombre de sièges",
            "sieges",
            "siege_total",
        ],
        "seats to fill in the collège, when the PV gives it",
    ),
    Column::optional("sieges_cgt", &["siege_CGT", "Sièges CGT"], "CGT seats won"),
    Column::optional(
        "sieges_cfdt",
        &["siege_CFDT", "Sièges CFDT"],
        "CFDT seats won",
    ),
    Column::optional(
        "sieges_cgt_fo",
        &["siege_FO", "siege_CGT-FO", "sieges_FO", "Sièges FO"],
        "CGT-FO seats won",
    ),
    Column::optional(
        "sieges_cftc",
        &["siege_CFTC", "Sièges CFTC"],
        "CFTC seats won",
    ),
    Column::optional(
        "sieges_cfe_cgc",
        &["siege_CGC", "siege_CFE-CGC", "sieges_CGC", "Sièges CGC"],
        "CFE-CGC seats won",
    ),
    Column::optional(
        "sieges_unsa",
        &["siege_UNSA", "Sièges UNSA"],
        "UNSA seats won",
    ),
    Column::optional(
        "sieges_solidaires",
        &[
            "siege_SOLIDAIRE",
            "siege_SOLIDAIRES",
            "siege_SUD",
            "sieges_SUD",
        ],
        "Solidaires seats won",
    ),
    Column::optional(
        "sieges_autres",
        &["siege_AUTRE", "siege_AUTRES", "sieges_AUTRE"],
        "seats won by other lists",
    ),
    Column::optional(
        "raison_sociale",
        &["Raison Sociale", "denomination", "nom"],
        "company name",
    ),
    Column::optional("ville", &["Ville", "commune"], "town"),
    Column::optional("cp", &["CP", "code postal"], "postal code"),
    Column::optional(
        "departement",
        &["Département", "dept", "dep"],
        "département (8 → 08)",
    ),
    Column::optional("region", &["Région"], "région"),
    Column::optional(
        "idcc",
        &["IDCC", "code IDCC"],
        "collective agreement code; \"3109 INDUSTRIES …\" is split into code and label",
    ),
    Column::optional(
        "idcc_label",
        &["Lib IDCC", "libelle_idcc", "libellé IDCC"],
        "collective agreement label",
    ),
    Column::optional(
        "source_file",
        &["fichier_source"],
        "the file a normalised row came from",
    ),
];

const MODES: &[WriteMode] = &[
    WriteMode {
        name: "append",
        needs_scope: false,
        accepts_scope: true,
        description: "insert new PV rows and update existing ones (by PV number and collège, else by SIRET, date or cycle, collège and kind); an optional scope (C4) is the cycle of rows without a date",
    },
    WriteMode {
        name: "replace",
        needs_scope: true,
        accepts_scope: true,
        description: "make cycle SCOPE (C4) hold exactly the file's PV rows: its stored rows absent from the file are deleted at the end (not when a row was rejected); rows dated in another cycle are rejected",
    },
];

impl ImportType for PvImport {
    const NAME: &'static str = "elections.pv";
    type Record = PvRecord;

    fn description(&self) -> &'static str {
        "CSE election results (PV), one row per PV and collège: Ministry extracts (CSV, JSON, XLSX), normalised files, the upstream tool's table"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn modes(&self) -> &'static [WriteMode] {
        MODES
    }

    fn limits(&self) -> TypeLimits {
        TypeLimits {
            max_size: Some(MAX_SIZE),
            max_rows: Some(MAX_ROWS),
            formats: Some(FORMATS),
        }
    }

    fn parse(&self, row: &Row<'_>, ctx: &ImportContext, issues: &mut Issues) -> Option<PvRecord> {
        if let Some(skipped) = pseudo_row(row, issues) {
            return Some(skipped);
        }
        let kind = match row.text(TYPE).map(|t| t.to_lowercase()).as_deref() {
            None | Some("cse") => PvKind::Cse,
            Some("car" | "carence" | "pv de carence") => PvKind::Carence,
            Some(_) => {
                issues.error(
                    TYPE,
                    "unknown PV type (expected CSE, or CAR or carence for a carence PV)",
                );
                PvKind::Cse
            }
        };
        let siret = cells::siret(row, SIRET, issues);
        let date = cells::date(row.cell(DATE)).unwrap_or_else(|e| {
            issues.error(DATE, e);
            None
        });
        let cycle = if issues.has_errors() {
            None
        } else {
            self.cycle(row, ctx, date, issues)
        };
        let college = row.text(COLLEGE).and_then(|t| College::parse(&t));
        let carence = kind == PvKind::Carence;
        let inscrits = required_count(row, INSCRITS, carence, issues);
        let votants = cells::count(row.cell(VOTANTS), MAX_VOTERS).unwrap_or_else(|e| {
            issues.error(VOTANTS, e);
            None
        });
        let sve = vote_cell(row, SVE, issues);
        if sve.is_none() && !carence && row.cell(SVE).is_empty() {
            issues.error(SVE, "required for an election PV (CSE)");
        }
        let mut votes = [Votes::ZERO; 8];
        for (u, v) in votes.iter_mut().enumerate() {
            *v = vote_cell(row, VOTES + u, issues).unwrap_or(Votes::ZERO);
        }
        let seats_to_fill = seat_cell(row, SEATS_TO_FILL, issues);
        let won: Vec<Option<u32>> = (0..UNIONS.len())
            .map(|u| seat_cell(row, SEATS + u, issues))
            .collect();
        let seats = won
            .iter()
            .any(Option::is_some)
            .then(|| std::array::from_fn(|u| won[u].unwrap_or(0)));
        let (idcc, idcc_label) = idcc(row, issues);
        if issues.has_errors() {
            return None;
        }
        let (Some(siret), Some(cycle)) = (siret, cycle) else {
            return None;
        };
        let sve = sve.unwrap_or(Votes::ZERO);
        oddities(kind, inscrits, votants, sve, issues);
        let pv_number = row.text(PV_NUMBER).map(|t| t.into_owned());
        let college_code = college.as_ref().map_or("", College::as_str);
        let when = date.map_or_else(|| cycle.to_string(), |d| d.to_string());
        let kind_name = if carence { "carence" } else { "cse" };
        let seen = file_state::note(
            ctx.import_id,
            row.number(),
            hash_of((siret.as_str(), &when, college_code, kind_name)),
            pv_number.as_ref().map(|n| hash_of((n, college_code))),
        );
        let key = match &pv_number {
            Some(n) => format!("pv:{n}:{college_code}"),
            None => format!(
                "s:{siret}:{when}:{college_code}:{kind_name}:{}",
                seen.occurrence
            ),
        };
        if let Some(first) = seen.same_pv {
            issues.warning(
                PV_NUMBER,
                format!("the same PV number and collège as row {first}: this row replaces it"),
            );
        } else if let Some(first) = seen.same_election {
            let (column, what) = if date.is_some() {
                (DATE, "date")
            } else {
                (COLLEGE, "cycle (no date)")
            };
            issues.warning(
                column,
                format!(
                    "another PV of this SIRET, collège and {what} is at row {first}: both are kept"
                ),
            );
        }
        Some(PvRecord::Pv(Box::new(PvLine {
            key,
            row: PvRow {
                pv_number,
                siret,
                kind,
                date,
                cycle,
                college,
                inscrits,
                votants,
                sve,
                votes,
                seats_to_fill,
                seats,
                raison_sociale: cells::text(row, RAISON_SOCIALE),
                ville: cells::text(row, VILLE),
                cp: cells::text(row, CP).map(cells::postal_code),
                departement: cells::text(row, DEPARTEMENT).map(|d| departement_code(&d)),
                idcc,
                idcc_label,
            },
            region: cells::text(row, REGION),
            source_file: cells::text(row, SOURCE_FILE),
        })))
    }

    async fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<PvRecord>,
        ctx: &ImportContext,
    ) -> Result<Written, StoreError> {
        let lines: Vec<PvLine> = records
            .into_iter()
            .filter_map(|r| match r {
                PvRecord::Pv(line) => Some(*line),
                PvRecord::Skipped => None,
            })
            .collect();
        crate::store::upsert_pv(tx, lines, ctx.import_id, ctx.mode == "replace").await
    }

    async fn finish(
        &self,
        tx: &mut DbTx,
        ctx: &ImportContext,
        counts: &ImportCounts,
    ) -> Result<Written, StoreError> {
        // A rejected row may stand for a stored row that must stay: never delete then.
        if ctx.mode != "replace" || counts.rejected > 0 {
            return Ok(Written::default());
        }
        let Some(cycle) = ctx.scope.as_deref().and_then(|s| self.scope_cycle(s).ok()) else {
            return Ok(Written::default());
        };
        let deleted = crate::store::delete_cycle_except(tx, &cycle, ctx.import_id).await?;
        Ok(Written {
            deleted,
            ..Written::default()
        })
    }
}

impl PvImport {
    /// The cycle of a row: from its date (the file's `Cycle` only cross-checks it), else from
    /// the import's scope, else from the file's `Cycle`; errors recorded.
    fn cycle(
        &self,
        row: &Row<'_>,
        ctx: &ImportContext,
        date: Option<NaiveDate>,
        issues: &mut Issues,
    ) -> Option<Cycle> {
        let scope = match ctx.scope.as_deref().map(|s| self.scope_cycle(s)) {
            Some(Err(e)) => {
                issues.row_error(e);
                return None;
            }
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let stated = row.text(CYCLE).and_then(|t| match Cycle::parse(&t) {
            Ok(c) => Some(c),
            Err(_) => {
                issues.warning(CYCLE, "not a cycle name (C4): ignored");
                None
            }
        });
        let replace = ctx.mode == "replace";
        let cycle = match date {
            Some(d) => {
                let Some(c) = self.cycles.cycle_of(d).cloned() else {
                    issues.error(
                        DATE,
                        format!(
                            "dated outside the configured cycles ({})",
                            self.describe_cycles()
                        ),
                    );
                    return None;
                };
                match &scope {
                    Some(s) if *s != c && replace => {
                        issues.error(
                            DATE,
                            format!("dated in {c}, outside the cycle {s} being replaced"),
                        );
                        return None;
                    }
                    Some(s) if *s != c => issues.warning(
                        DATE,
                        format!("dated in {c}, not in the import's scope {s}: kept in {c}"),
                    ),
                    _ => {}
                }
                c
            }
            None => match (scope, &stated) {
                (Some(s), _) => s,
                (None, Some(c)) => match self.cycles.get(c.as_str()) {
                    Ok(p) => p.cycle.clone(),
                    Err(e) => {
                        issues.error(CYCLE, e.to_string());
                        return None;
                    }
                },
                (None, None) => {
                    issues.error(
                        DATE,
                        "no election date and no cycle: give the cycle of this file as the import's scope (e.g. scope=C4)",
                    );
                    return None;
                }
            },
        };
        if let Some(c) = stated
            && c != cycle
        {
            issues.warning(
                CYCLE,
                format!("the file says {c} but the row belongs to {cycle}: {cycle} kept"),
            );
        }
        Some(cycle)
    }

    /// The import's scope as a configured cycle.
    fn scope_cycle(&self, scope: &str) -> Result<Cycle, String> {
        self.cycles
            .get(scope)
            .map(|p| p.cycle.clone())
            .map_err(|e| format!("the import's scope must be a cycle: {e}"))
    }

    fn describe_cycles(&self) -> String {
        let periods = self.cycles.periods();
        match (periods.first(), periods.last()) {
            (Some(first), Some(last)) => format!(
                "{} from {} to {} until {}",
                first.cycle, first.start, last.cycle, last.end
            ),
            _ => "none".into(),
        }
    }
}

/// An AGRI or TPE aggregate row of the Ministry's files (in `Type`, or in place of the SIRET).
fn pseudo_row(row: &Row<'_>, issues: &mut Issues) -> Option<PvRecord> {
    for column in [TYPE, SIRET] {
        if let Some(t) = row.text(column) {
            let t = t.to_uppercase();
            if t == "AGRI" || t == "TPE" {
                issues.warning(
                    column,
                    format!("{t} aggregate row of the Ministry's file (not a PV): skipped"),
                );
                return Some(PvRecord::Skipped);
            }
        }
    }
    None
}

/// A voter count required for an election PV (0 when a carence PV leaves it empty).
fn required_count(row: &Row<'_>, column: usize, carence: bool, issues: &mut Issues) -> i64 {
    match cells::count(row.cell(column), MAX_VOTERS) {
        Ok(Some(n)) => n,
        Ok(None) if carence => 0,
        Ok(None) => {
            issues.error(column, "required for an election PV (CSE)");
            0
        }
        Err(e) => {
            issues.error(column, e);
            0
        }
    }
}

fn vote_cell(row: &Row<'_>, column: usize, issues: &mut Issues) -> Option<Votes> {
    match cells::votes(row.cell(column)) {
        Ok(Some((v, noise))) => {
            if let Some(n) = noise {
                issues.warning(column, n);
            }
            Some(v)
        }
        Ok(None) => None,
        Err(e) => {
            issues.error(column, e);
            None
        }
    }
}

fn seat_cell(row: &Row<'_>, column: usize, issues: &mut Issues) -> Option<u32> {
    match cells::count(row.cell(column), MAX_SEATS) {
        Ok(n) => n.map(|n| n as u32),
        Err(e) => {
            issues.error(column, e);
            None
        }
    }
}

/// The IDCC code and label: `3109 INDUSTRIES …` in one field is split; a code of fewer than
/// four digits is zero-padded; a label column wins over a label found in the code field.
fn idcc(row: &Row<'_>, issues: &mut Issues) -> (Option<String>, Option<String>) {
    let label = cells::text(row, IDCC_LABEL);
    let Some(field) = row.text(IDCC) else {
        return (None, label);
    };
    let (code, rest) = match field.split_once(char::is_whitespace) {
        Some((c, r)) => (c, Some(r.trim().to_owned()).filter(|r| !r.is_empty())),
        None => (field.as_ref(), None),
    };
    if code.len() <= 4 && !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) {
        return (Some(format!("{code:0>4}")), label.or(rest));
    }
    issues.warning(
        IDCC,
        "no IDCC code (up to 4 digits) first: kept as the label",
    );
    (None, label.or(Some(field.into_owned())))
}

/// Accepted oddities of real files, as warnings.
fn oddities(kind: PvKind, inscrits: i64, votants: Option<i64>, sve: Votes, issues: &mut Issues) {
    if let Some(v) = votants {
        if sve > Votes::whole(v) {
            issues.warning(SVE, format!("SVE ({sve}) above the votants ({v})"));
        }
        if v > inscrits {
            issues.warning(
                VOTANTS,
                format!("votants ({v}) above the inscrits ({inscrits})"),
            );
        }
    }
    if inscrits == 0 && kind == PvKind::Cse {
        issues.warning(INSCRITS, "no registered voters (inscrits = 0)");
    }
}
