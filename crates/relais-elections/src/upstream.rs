//! The upstream tool's flat summary row: its field names and values, so its pages (`/api/siret`)
//! and spreadsheets (exports) keep working. The mapping from [`StoredSummary`] is the one the
//! doc comment of [`crate::domain::SiretSummary`] gives: per cycle `date_pv`, `carence`,
//! `inscrits`, `votants`, `sve`, `<union>_voix` and `<union>_siege` of its latest election
//! (null without a PV in the cycle), `statut_pap`, `date_pap_c5` (the invitation the status is
//! about, when the current cycle is C5), `date_pv_max`, `cgt_implantee`.

use std::sync::LazyLock;

use chrono::NaiveDate;

use crate::domain::{UNIONS, Votes};
use crate::store::{StoredCycle, StoredSummary};

/// The cycles the upstream row has columns for.
const CYCLES: [&str; 2] = ["C3", "C4"];
/// The cycle of `date_pap_c5`.
const PAP_CYCLE: &str = "C5";

/// One value of the row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (no PV in the cycle, no name…).
    Null,
    /// Text.
    Text(String),
    /// A date (`YYYY-MM-DD`).
    Date(NaiveDate),
    /// A flag.
    Bool(bool),
    /// A count.
    Int(i64),
    /// Votes, exact.
    Votes(Votes),
}

impl Cell {
    /// The value as JSON: dates as `YYYY-MM-DD`, votes as numbers.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Cell::Null => Value::Null,
            Cell::Text(t) => Value::String(t.clone()),
            Cell::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::Votes(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        }
    }
}

/// What one per-cycle column reads from a cycle's election.
type CycleField = fn(&StoredCycle) -> Cell;

/// The per-cycle fields, in column order: name prefix and value.
fn cycle_fields() -> Vec<(String, CycleField)> {
    let mut fields: Vec<(String, CycleField)> = vec![
        ("date_pv".into(), |c| {
            c.election.date.map_or(Cell::Null, Cell::Date)
        }),
        ("carence".into(), |c| Cell::Bool(c.election.carence)),
        ("inscrits".into(), |c| Cell::Int(c.election.inscrits)),
        ("votants".into(), |c| Cell::Int(c.election.votants)),
        ("sve".into(), |c| Cell::Votes(c.election.sve)),
    ];
    // One function per union: the union is the position in the list.
    const VOIX: [CycleField; 8] = [
        |c| Cell::Votes(c.election.voix.0[0]),
        |c| Cell::Votes(c.election.voix.0[1]),
        |c| Cell::Votes(c.election.voix.0[2]),
        |c| Cell::Votes(c.election.voix.0[3]),
        |c| Cell::Votes(c.election.voix.0[4]),
        |c| Cell::Votes(c.election.voix.0[5]),
        |c| Cell::Votes(c.election.voix.0[6]),
        |c| Cell::Votes(c.election.voix.0[7]),
    ];
    const SIEGES: [CycleField; 8] = [
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[0])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[1])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[2])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[3])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[4])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[5])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[6])),
        |c| Cell::Int(i64::from(c.election.seats.by_union.0[7])),
    ];
    for (u, f) in UNIONS.iter().zip(VOIX) {
        fields.push((format!("{}_voix", u.key()), f));
    }
    for (u, f) in UNIONS.iter().zip(SIEGES) {
        fields.push((format!("{}_siege", u.key()), f));
    }
    fields
}

/// A column of the row.
enum Column {
    Siret,
    RaisonSociale,
    Idcc,
    Cp,
    Ville,
    PerCycle(&'static str, CycleField),
    StatutPap,
    DatePap,
    DatePvMax,
    CgtImplantee,
}

/// The columns with their names, in order.
static COLUMNS: LazyLock<Vec<(String, Column)>> = LazyLock::new(|| {
    let mut columns = vec![
        ("siret".to_owned(), Column::Siret),
        ("raison_sociale".to_owned(), Column::RaisonSociale),
        ("idcc".to_owned(), Column::Idcc),
        ("cp".to_owned(), Column::Cp),
        ("ville".to_owned(), Column::Ville),
    ];
    for (prefix, field) in cycle_fields() {
        for cycle in CYCLES {
            let name = format!("{prefix}_{}", cycle.to_ascii_lowercase());
            columns.push((name, Column::PerCycle(cycle, field)));
        }
    }
    columns.extend([
        ("statut_pap".to_owned(), Column::StatutPap),
        (
            format!("date_pap_{}", PAP_CYCLE.to_ascii_lowercase()),
            Column::DatePap,
        ),
        ("date_pv_max".to_owned(), Column::DatePvMax),
        ("cgt_implantee".to_owned(), Column::CgtImplantee),
    ]);
    columns
});

/// The upstream field names, in column order.
pub fn columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|(name, _)| name.as_str())
}

/// The upstream row of a summary, one cell per [`columns`] entry.
pub fn row(s: &StoredSummary) -> Vec<Cell> {
    let text = |v: &Option<String>| v.clone().map_or(Cell::Null, Cell::Text);
    let date = |v: Option<NaiveDate>| v.map_or(Cell::Null, Cell::Date);
    COLUMNS
        .iter()
        .map(|(_, column)| match column {
            Column::Siret => Cell::Text(s.siret.as_str().to_owned()),
            Column::RaisonSociale => text(&s.raison_sociale),
            Column::Idcc => text(&s.idcc),
            Column::Cp => text(&s.cp),
            Column::Ville => text(&s.ville),
            Column::PerCycle(cycle, field) => s.cycle(cycle).map_or(Cell::Null, field),
            Column::StatutPap => s
                .pap
                .as_ref()
                .map_or(Cell::Null, |p| Cell::Text(p.statut_pap.as_str().to_owned())),
            Column::DatePap => date(
                s.pap
                    .as_ref()
                    .filter(|p| p.cycle.as_str() == PAP_CYCLE)
                    .and_then(|p| p.date_pap),
            ),
            Column::DatePvMax => date(s.date_pv_max),
            Column::CgtImplantee => Cell::Bool(s.cgt_implantee),
        })
        .collect()
}

/// The upstream row as a JSON object.
pub fn json(s: &StoredSummary) -> serde_json::Map<String, serde_json::Value> {
    columns()
        .zip(row(s))
        .map(|(name, cell)| (name.to_owned(), cell.json()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_are_the_upstream_names() {
        let names: Vec<&str> = columns().collect();
        for expected in [
            "siret",
            "raison_sociale",
            "idcc",
            "cp",
            "ville",
            "date_pv_c3",
            "date_pv_c4",
            "carence_c3",
            "carence_c4",
            "inscrits_c3",
            "votants_c4",
            "sve_c3",
            "cgt_voix_c3",
            "autre_voix_c4",
            "solidaires_siege_c3",
            "fo_siege_c4",
            "statut_pap",
            "date_pap_c5",
            "date_pv_max",
            "cgt_implantee",
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        // 5 identity, 2 cycles × (5 + 8 + 8), 4 closing.
        assert_eq!(names.len(), 5 + 2 * 21 + 4);
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }
}
