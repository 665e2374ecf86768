//! The summary tables (`elections_summary`, one row per SIRET; `elections_summary_cycles`, one
//! row per SIRET and cycle with a PV) and the build state: batched writes (a SIRET's cycle rows
//! replaced with it), deletions, reads by SIRET and in SIRET order.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use relais_platform::store::pg_copy::{CopyRows, copy_in};
use relais_platform::store::{Db, DbTx, StoreError, with_sqlite_handle};

use super::summary_cycles::{delete_cycle_rows, delete_cycles, insert_cycle_rows};
use super::{on_tx, to_json, tuple};
use crate::domain::{Cycle, ElectionSummary, PapStatus, Siret, SiretSummary, search_text};

/// Summary columns, in the order they are bound.
pub(super) const SUMMARY_COLUMNS: &str = "siret, raison_sociale, ville, cp, departement, idcc, idcc_label, \
    search_text, date_pv_max, date_invitation_max, prochaine_election, cgt_implantee, \
    latest_cycle, pap_cycle, statut_pap, date_pap, date_pv_pap, invitations_a_revoir, \
    valid_until, generation, built_at";
/// Parameters of one summary row.
const SUMMARY_WIDTH: usize = 21;
/// Cycle columns, in the order they are bound.
pub(super) const CYCLE_COLUMNS: &str = "siret, cycle, election_date, carence, pv_rows, carence_rows, \
    inscrits, votants, votants_missing, sve, cgt, cfdt, fo, cftc, cgc, unsa, solidaires, autre, \
    cgt_presente, cgt_representative, seats_cgt, seats_cfdt, seats_fo, seats_cftc, seats_cgc, \
    seats_unsa, seats_solidaires, seats_autre, seats_to_fill, seats_vacant, unresolved_ties, \
    unresolved_seats, seats_estimated";
/// Parameters of one cycle row.
pub(super) const CYCLE_WIDTH: usize = 33;

/// The live summary table's upsert: `col = excluded.col` for every column but the SIRET.
static SUMMARY_CONFLICT: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = SUMMARY_COLUMNS
        .split(',')
        .map(str::trim)
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!("ON CONFLICT (siret) DO UPDATE SET {}", set.join(", "))
});

/// Which copy of the summary tables a write goes to: the live tables, or a full build's fresh
/// copy (see `rebuild.rs`), filled without conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tables {
    Live,
    Next,
}

impl Tables {
    pub(crate) fn summary(self) -> &'static str {
        match self {
            Tables::Live => "elections_summary",
            Tables::Next => "elections_summary_next",
        }
    }

    pub(crate) fn cycles(self) -> &'static str {
        match self {
            Tables::Live => "elections_summary_cycles",
            Tables::Next => "elections_summary_cycles_next",
        }
    }

    /// What a summary row written over a stored one does: an upsert on the live table; the
    /// fresh copy takes each SIRET once.
    fn summary_conflict(self) -> &'static str {
        match self {
            Tables::Live => SUMMARY_CONFLICT.as_str(),
            Tables::Next => "",
        }
    }
}

/// PostgreSQL: a batch of summaries upserted as arrays, one per column (generation and time
/// shared). A full build's fresh tables take theirs with `COPY`.
static PG_SUMMARY_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let types = [
        "text", "text", "text", "text", "text", "text", "text", "text", "date", "date", "date",
        "bool", "text", "text", "text", "date", "date", "int4", "date",
    ];
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    format!(
        "INSERT INTO {} ({SUMMARY_COLUMNS})
         SELECT u.*, ${}, ${} FROM UNNEST({}) AS u {}",
        Tables::Live.summary(),
        types.len() + 1,
        types.len() + 2,
        arrays.join(", "),
        Tables::Live.summary_conflict(),
    )
});

/// One SIRET's summary as stored: the domain's [`SiretSummary`] with the cycles that have a PV
/// only, the PAP figures reduced to what lists filter on, the search text and the build time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredSummary {
    /// The establishment.
    pub siret: Siret,
    /// Company name (most recent non-empty).
    pub raison_sociale: Option<String>,
    /// Town.
    pub ville: Option<String>,
    /// Postal code.
    pub cp: Option<String>,
    /// Département.
    pub departement: Option<String>,
    /// Collective agreement (IDCC).
    pub idcc: Option<String>,
    /// Its label.
    pub idcc_label: Option<String>,
    /// `raison_sociale` reduced by [`search_text`] (empty without a name).
    pub search_text: String,
    /// The latest PV date (carences included), any cycle.
    pub date_pv_max: Option<NaiveDate>,
    /// The latest invitation date.
    pub date_invitation_max: Option<NaiveDate>,
    /// `date_pv_max` + 4 years.
    pub prochaine_election: Option<NaiveDate>,
    /// CGT votes at the latest election of the most recent cycle with a non-carence PV.
    pub cgt_implantee: bool,
    /// The latest cycle with a PV.
    pub latest_cycle: Option<Cycle>,
    /// The PAP status for the current cycle (`None` when no configured cycle is current).
    pub pap: Option<StoredPap>,
    /// From this day the summary is computed again (PAP ageing, cycle change).
    pub valid_until: Option<NaiveDate>,
    /// When it was last written: by a full build, or by an incremental build that found it
    /// changed (one that computes it the same leaves it, and this time, as they were).
    pub built_at: DateTime<Utc>,
    /// The cycles with a PV, oldest first.
    pub cycles: Vec<StoredCycle>,
}

/// The PAP part of a stored summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredPap {
    /// The current cycle when the summary was built.
    pub cycle: Cycle,
    /// The status.
    pub statut_pap: PapStatus,
    /// The invitation the status is about.
    pub date_pap: Option<NaiveDate>,
    /// The election that invitation is attached to.
    pub date_pv_pap: Option<NaiveDate>,
    /// How many invitations are flagged for review.
    pub invitations_a_revoir: u32,
}

/// A cycle with a PV: its latest election.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredCycle {
    /// The cycle.
    pub cycle: Cycle,
    /// Its latest election (shares recomputed from the exact votes on reading).
    pub election: ElectionSummary,
}

impl StoredSummary {
    /// The stored form of a computed summary.
    pub fn of(s: &SiretSummary, built_at: DateTime<Utc>) -> Self {
        let cycles: Vec<StoredCycle> = s
            .cycles
            .iter()
            .filter_map(|c| {
                c.election.as_ref().map(|e| StoredCycle {
                    cycle: c.cycle.clone(),
                    election: e.clone(),
                })
            })
            .collect();
        StoredSummary {
            siret: s.siret,
            raison_sociale: s.raison_sociale.clone(),
            ville: s.ville.clone(),
            cp: s.cp.clone(),
            departement: s.departement.clone(),
            idcc: s.idcc.clone(),
            idcc_label: s.idcc_label.clone(),
            search_text: search_text(s.raison_sociale.as_deref().unwrap_or("")),
            date_pv_max: s.date_pv_max,
            date_invitation_max: s.date_invitation_max,
            prochaine_election: s.prochaine_election,
            cgt_implantee: s.cgt_implantee,
            latest_cycle: cycles.last().map(|c| c.cycle.clone()),
            pap: s.pap.as_ref().map(|p| StoredPap {
                cycle: p.cycle.clone(),
                statut_pap: p.statut_pap,
                date_pap: p.date_pap,
                date_pv_pap: p.date_pv_pap,
                invitations_a_revoir: p.invitations_a_revoir.len() as u32,
            }),
            valid_until: s.valid_until,
            built_at,
            cycles,
        }
    }

    /// The entry of a cycle, by name.
    pub fn cycle(&self, name: &str) -> Option<&StoredCycle> {
        self.cycles.iter().find(|c| c.cycle.as_str() == name)
    }
}

/// The build's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SummaryState {
    /// The generation of the latest full build started (summaries it wrote carry it).
    pub generation: i64,
    /// When the latest build (full or incremental) completed.
    pub built_at: Option<DateTime<Utc>>,
    /// When the latest full build completed.
    pub full_built_at: Option<DateTime<Utc>>,
}

pub(super) fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(m).unwrap_or_default()
}

/// Writes summaries (inserted, or replacing the stored ones with all their cycle rows), marked
/// with `generation`, in the caller's transaction (the build's; tests fill tables with it).
pub async fn write_summaries(
    tx: &mut DbTx,
    batch: &[StoredSummary],
    generation: i64,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let sirets: Vec<&str> = batch.iter().map(|s| s.siret.as_str()).collect();
    delete_cycles(tx, &sirets).await?;
    write_batch(tx, batch, generation, Tables::Live).await
}

/// Inserts summaries (new SIRETs, in SIRET order) into a full build's fresh tables, in the
/// caller's transaction.
pub(crate) async fn write_next_summaries(
    tx: &mut DbTx,
    batch: &[StoredSummary],
    generation: i64,
) -> Result<(), StoreError> {
    write_batch(tx, batch, generation, Tables::Next).await
}

/// A batch's summary rows (upserted on the live tables) and cycle rows (inserted).
async fn write_batch(
    tx: &mut DbTx,
    batch: &[StoredSummary],
    generation: i64,
    tables: Tables,
) -> Result<(), StoreError> {
    let rows: Vec<&StoredSummary> = batch.iter().collect();
    upsert_summary_rows(tx, &rows, generation, tables).await?;
    let cycles: Vec<(&str, &StoredCycle)> = batch
        .iter()
        .flat_map(|s| s.cycles.iter().map(move |c| (s.siret.as_str(), c)))
        .collect();
    insert_cycle_rows(tx, &cycles, false, tables).await
}

/// What changed in some summaries, against the stored ones.
#[derive(Debug, Default)]
pub(crate) struct SummaryChanges<'a> {
    /// Summary rows to write (new, or with another field than the build time changed).
    pub(crate) rows: Vec<&'a StoredSummary>,
    /// Cycle rows to write (new or changed).
    pub(crate) cycles: Vec<(&'a str, &'a StoredCycle)>,
    /// Cycle rows to delete (the SIRET no longer has a PV in that cycle).
    pub(crate) cycles_gone: Vec<(&'a str, &'a str)>,
}

impl<'a> SummaryChanges<'a> {
    /// The changes from `stored` (the stored summary of the same SIRET, if any) to `new`.
    pub(crate) fn add(&mut self, new: &'a StoredSummary, stored: Option<&'a StoredSummary>) {
        let siret = new.siret.as_str();
        let Some(old) = stored else {
            self.rows.push(new);
            self.cycles.extend(new.cycles.iter().map(|c| (siret, c)));
            return;
        };
        let same_row = StoredSummary {
            built_at: new.built_at,
            cycles: Vec::new(),
            ..old.clone()
        } == StoredSummary {
            cycles: Vec::new(),
            ..new.clone()
        };
        if !same_row {
            self.rows.push(new);
        }
        for c in &new.cycles {
            if old.cycle(c.cycle.as_str()) != Some(c) {
                self.cycles.push((siret, c));
            }
        }
        for c in &old.cycles {
            if new.cycle(c.cycle.as_str()).is_none() {
                self.cycles_gone.push((siret, c.cycle.as_str()));
            }
        }
    }
}

/// Writes only what changed (the incremental build: a changed PV row usually changes one cycle
/// row of its SIRET, not its summary row), in the caller's transaction.
pub(crate) async fn write_changes(
    tx: &mut DbTx,
    changes: &SummaryChanges<'_>,
    generation: i64,
) -> Result<(), StoreError> {
    if !changes.cycles_gone.is_empty() {
        delete_cycle_rows(tx, &changes.cycles_gone).await?;
    }
    upsert_summary_rows(tx, &changes.rows, generation, Tables::Live).await?;
    insert_cycle_rows(tx, &changes.cycles, true, Tables::Live).await
}

/// Inserts or overwrites summary rows (their cycle rows apart); into the fresh tables, inserts.
async fn upsert_summary_rows(
    tx: &mut DbTx,
    batch: &[&StoredSummary],
    generation: i64,
    tables: Tables,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    match tx {
        DbTx::Postgres(t) if tables == Tables::Next => {
            let mut rows = CopyRows::new();
            for s in batch {
                let pap = s.pap.as_ref();
                rows.row(SUMMARY_WIDTH as u16)
                    .field(s.siret.as_str())
                    .field(s.raison_sociale.as_deref())
                    .field(s.ville.as_deref())
                    .field(s.cp.as_deref())
                    .field(s.departement.as_deref())
                    .field(s.idcc.as_deref())
                    .field(s.idcc_label.as_deref())
                    .field(s.search_text.as_str())
                    .field(s.date_pv_max)
                    .field(s.date_invitation_max)
                    .field(s.prochaine_election)
                    .field(s.cgt_implantee)
                    .field(s.latest_cycle.as_ref().map(Cycle::as_str))
                    .field(pap.map(|p| p.cycle.as_str()))
                    .field(pap.map(|p| p.statut_pap.as_str()))
                    .field(pap.and_then(|p| p.date_pap))
                    .field(pap.and_then(|p| p.date_pv_pap))
                    .field(count(pap.map_or(0, |p| p.invitations_a_revoir)))
                    .field(s.valid_until)
                    .field(generation)
                    .field(micros(s.built_at));
            }
            copy_in(t, tables.summary(), SUMMARY_COLUMNS, rows).await?;
        }
        DbTx::Postgres(t) => {
            let text = |f: fn(&StoredSummary) -> Option<&str>| -> Vec<Option<&str>> {
                batch.iter().map(|s| f(s)).collect()
            };
            let date = |f: fn(&StoredSummary) -> Option<NaiveDate>| -> Vec<Option<NaiveDate>> {
                batch.iter().map(|s| f(s)).collect()
            };
            sqlx::query(sqlx::AssertSqlSafe(PG_SUMMARY_UPSERT.as_str()))
                .bind(batch.iter().map(|s| s.siret.as_str()).collect::<Vec<_>>())
                .bind(text(|s| s.raison_sociale.as_deref()))
                .bind(text(|s| s.ville.as_deref()))
                .bind(text(|s| s.cp.as_deref()))
                .bind(text(|s| s.departement.as_deref()))
                .bind(text(|s| s.idcc.as_deref()))
                .bind(text(|s| s.idcc_label.as_deref()))
                .bind(text(|s| Some(s.search_text.as_str())))
                .bind(date(|s| s.date_pv_max))
                .bind(date(|s| s.date_invitation_max))
                .bind(date(|s| s.prochaine_election))
                .bind(batch.iter().map(|s| s.cgt_implantee).collect::<Vec<_>>())
                .bind(text(|s| s.latest_cycle.as_ref().map(Cycle::as_str)))
                .bind(text(|s| s.pap.as_ref().map(|p| p.cycle.as_str())))
                .bind(text(|s| s.pap.as_ref().map(|p| p.statut_pap.as_str())))
                .bind(date(|s| s.pap.as_ref().and_then(|p| p.date_pap)))
                .bind(date(|s| s.pap.as_ref().and_then(|p| p.date_pv_pap)))
                .bind(
                    batch
                        .iter()
                        .map(|s| count(s.pap.as_ref().map_or(0, |p| p.invitations_a_revoir)))
                        .collect::<Vec<_>>(),
                )
                .bind(date(|s| s.valid_until))
                .bind(generation)
                .bind(batch.first().map_or(0, |s| micros(s.built_at)))
                .execute(&mut **t)
                .await?;
        }
        DbTx::Sqlite(t) => {
            let sql = format!(
                "INSERT INTO {} ({SUMMARY_COLUMNS}) VALUES {} {}",
                tables.summary(),
                tuple(SUMMARY_WIDTH),
                tables.summary_conflict(),
            );
            with_sqlite_handle(t, |c| {
                let mut insert = c.prepare(&sql)?;
                for s in batch {
                    let pap = s.pap.as_ref();
                    insert.execute(rusqlite::params![
                        s.siret.as_str(),
                        s.raison_sociale,
                        s.ville,
                        s.cp,
                        s.departement,
                        s.idcc,
                        s.idcc_label,
                        s.search_text,
                        s.date_pv_max,
                        s.date_invitation_max,
                        s.prochaine_election,
                        s.cgt_implantee,
                        s.latest_cycle.as_ref().map(Cycle::as_str),
                        pap.map(|p| p.cycle.as_str()),
                        pap.map(|p| p.statut_pap.as_str()),
                        pap.and_then(|p| p.date_pap),
                        pap.and_then(|p| p.date_pv_pap),
                        count(pap.map_or(0, |p| p.invitations_a_revoir)),
                        s.valid_until,
                        generation,
                        micros(s.built_at),
                    ])?;
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

/// Deletes the summaries of these SIRETs (those left without PV rows and invitations); returns
/// how many there were.
pub async fn delete_summaries(tx: &mut DbTx, sirets: &[&str]) -> Result<u64, StoreError> {
    if sirets.is_empty() {
        return Ok(0);
    }
    delete_cycles(tx, sirets).await?;
    let mut deleted = 0;
    match tx {
        DbTx::Postgres(t) => {
            deleted += sqlx::query("DELETE FROM elections_summary WHERE siret = ANY($1)")
                .bind(sirets)
                .execute(&mut **t)
                .await?
                .rows_affected();
        }
        DbTx::Sqlite(t) => {
            deleted += sqlx::query(
                "DELETE FROM elections_summary WHERE siret IN (SELECT value FROM json_each(?1))",
            )
            .bind(to_json(&sirets)?)
            .execute(&mut **t)
            .await?
            .rows_affected();
        }
    }
    Ok(deleted)
}

/// Starts a full build: the next generation.
pub(crate) async fn next_generation(tx: &mut DbTx) -> Result<i64, StoreError> {
    const SQL: &str = "UPDATE elections_summary_state SET generation = generation + 1 \
        WHERE id = 1 RETURNING generation";
    Ok(on_tx!(tx, |conn| sqlx::query_scalar(SQL)
        .fetch_one(&mut *conn)
        .await?))
}

/// Records a completed build (`full` or incremental) at `at`.
pub(crate) async fn record_build(
    tx: &mut DbTx,
    at: DateTime<Utc>,
    full: bool,
) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE elections_summary_state SET built_at = $1, \
        full_built_at = CASE WHEN $2 THEN $1 ELSE full_built_at END WHERE id = 1";
    on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(micros(at))
            .bind(full)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// The build's bookkeeping.
pub async fn summary_state(db: &Db) -> Result<SummaryState, StoreError> {
    const SQL: &str =
        "SELECT generation, built_at, full_built_at FROM elections_summary_state WHERE id = 1";
    let (generation, built_at, full_built_at): (i64, Option<i64>, Option<i64>) = match db {
        Db::Sqlite { read, .. } => sqlx::query_as(SQL).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
    };
    Ok(SummaryState {
        generation,
        built_at: built_at.map(from_micros),
        full_built_at: full_built_at.map(from_micros),
    })
}

/// How many SIRETs have a summary.
pub async fn summary_count(db: &Db) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT COUNT(*) FROM elections_summary";
    let n: i64 = match db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(SQL).fetch_one(read).await?,
        Db::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
    };
    Ok(n as u64)
}
