//! The per-SIRET summary (§5 and §7 of the domain reference): a pure function of one SIRET's PV
//! rows (every cycle) and PAP invitations, meant to be called once per SIRET while streaming
//! rows ordered by SIRET. A [`Summariser`] keeps its working buffers between SIRETs, so a full
//! rebuild allocates per SIRET (the summary itself), not per row.
//!
//! Decisions where the reference is silent:
//! - **The election of a cycle** is the latest date among the cycle's rows; all rows of that
//!   date are summed (every collège, every PV). Rows without a date (some Ministry extracts)
//!   carry their cycle: they form one election whose date is unknown, used only when the cycle
//!   has no dated row.
//! - **A date holding both carence and CSE rows** is an election (carence = false): a carence
//!   in one collège (no candidates there) while others voted is a partial carence. Its carence
//!   rows count in `inscrits` (they are registered voters) and their seats stay vacant. The
//!   date is a carence only when every row of it is one.
//! - **Seats** are allocated per row (one ballot per PV × collège) between the eight union
//!   columns, `autre` counting as one list (the data does not split it). A row's seats to fill
//!   come from the PV when given, otherwise from the estimate of §4 over the election's rows
//!   ([`estimate_seats`]); a row giving the seats won per union is used as is.
//!   `by_union` + `unresolved_seats` + `vacant` = `to_fill`.
//! - **Identity** (raison sociale, ville, CP, département, IDCC) takes, field by field, the
//!   non-empty value of the most recent row: by cycle, then date (undated rows before dated
//!   ones of the same cycle), then PV number; the first row in input order on equal keys. A
//!   field no PV gives comes from the latest invitation that gives it.

use chrono::{Months, NaiveDate};
use relais_platform::imports::normalize_header;

use super::pap::{DatedElection, PapSummary, pap_status};
use super::seats::{Allocation, allocate_into, estimate_seats_into};
use super::{ByUnion, Cycle, CycleTable, PvKind, PvRow, Siret, UNIONS, Union, Votes};

/// Settings of the summary, with the reference's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryConfig {
    /// An invitation without a later PV is `invitation_en_attente` up to this many days, then
    /// `invitation_sans_pv`. Default 120.
    pub pap_pending_days: u32,
    /// An invitation without a later PV counts for the current cycle while younger than this
    /// many days; older, it is flagged for review. Default 365 (12 months).
    pub invitation_max_age_days: u32,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            pap_pending_days: 120,
            invitation_max_age_days: 365,
        }
    }
}

/// A PAP invitation of the SIRET being summarised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invitation {
    /// The invitation date.
    pub date: NaiveDate,
    /// Company name, when the file gives it.
    pub raison_sociale: Option<String>,
    /// Town, when given.
    pub ville: Option<String>,
    /// Postal code, when given.
    pub cp: Option<String>,
}

/// Input the summary cannot be computed from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryError {
    /// The rows must all belong to the SIRET summarised.
    #[error("a PV row of SIRET {found} was given for SIRET {expected}")]
    OtherSiret {
        /// The SIRET summarised.
        expected: Siret,
        /// The row's.
        found: Siret,
    },
}

/// One SIRET's summary. Upstream field names map as follows (`cN` a cycle, `u` a
/// [`Union::key`]): `siret`, `raison_sociale`, `idcc`, `cp`, `ville`, `date_pv_max`,
/// `cgt_implantee` are fields of the same name; `date_pv_cN`, `carence_cN`, `inscrits_cN`,
/// `votants_cN`, `sve_cN` are `cycle("CN").election.{date, carence, inscrits, votants, sve}`;
/// `u_voix_cN` is `….election.voix[u]`, `u_siege_cN` is `….election.seats.by_union[u]`;
/// `statut_pap` and `date_pap_c5` are `pap.statut_pap` and `pap.date_pap` (`pap.cycle` = C5).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SiretSummary {
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
    /// Collective agreement label.
    pub idcc_label: Option<String>,
    /// The latest PV date (carences included), any cycle.
    pub date_pv_max: Option<NaiveDate>,
    /// The latest invitation date.
    pub date_invitation_max: Option<NaiveDate>,
    /// The projected next election: `date_pv_max` + 4 years.
    pub prochaine_election: Option<NaiveDate>,
    /// CGT votes > 0 at the latest election of the most recent configured cycle that has a
    /// non-carence PV (false without one). "No CGT list" and "0 CGT votes" look the same.
    pub cgt_implantee: bool,
    /// One entry per configured cycle, oldest first.
    pub cycles: Vec<CycleSummary>,
    /// The PAP status for the cycle containing `today`; `None` when no configured cycle does.
    pub pap: Option<PapSummary>,
    /// The first day after `today` on which this summary may differ with the same data: an
    /// invitation passes the waiting period or the age limit, or the current cycle ends.
    /// `None` when nothing in it depends on the date (no cycle starts after `today`). A stored
    /// summary is computed again from that day.
    pub valid_until: Option<NaiveDate>,
}

impl SiretSummary {
    /// The entry of a cycle, by name.
    pub fn cycle(&self, name: &str) -> Option<&CycleSummary> {
        self.cycles.iter().find(|c| c.cycle.as_str() == name)
    }
}

/// One configured cycle of a SIRET.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CycleSummary {
    /// The cycle.
    pub cycle: Cycle,
    /// Its latest election; `None` when the SIRET has no PV in the cycle.
    pub election: Option<ElectionSummary>,
}

/// The latest election of a cycle: every PV row of its date, summed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ElectionSummary {
    /// The date; `None` when the cycle only has undated rows.
    pub date: Option<NaiveDate>,
    /// Every row of the date is a carence (no election).
    pub carence: bool,
    /// PV rows summed.
    pub rows: u32,
    /// Of which carence rows.
    pub carence_rows: u32,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters, over the rows that give them.
    pub votants: i64,
    /// Non-carence rows without `votants` (not counted in `votants`).
    pub votants_missing: u32,
    /// Valid votes.
    pub sve: Votes,
    /// Votes per union.
    pub voix: ByUnion<Votes>,
    /// Each union's share of `sve` (0 to 1; `None` when `sve` is 0). For display; the
    /// thresholds are decided on exact counts.
    pub shares: ByUnion<Option<f64>>,
    /// CGT votes > 0.
    pub cgt_presente: bool,
    /// CGT votes ≥ 10 % of `sve` (exact), `sve` > 0.
    pub cgt_representative: bool,
    /// Seats, summed over the rows.
    pub seats: SeatTotals,
}

/// Seats of one election, summed over its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeatTotals {
    /// Seats won per union.
    pub by_union: ByUnion<u32>,
    /// Seats to fill (from the PVs, or estimated).
    pub to_fill: u32,
    /// Seats of rows where no list had votes (carences included): not filled.
    pub vacant: u32,
    /// Unresolved ties (between lists, or between collèges in the estimate).
    pub unresolved_ties: u32,
    /// Seats those ties leave unattributed.
    pub unresolved_seats: u32,
    /// Some row's seats to fill were estimated (§4), so the figures are estimates.
    pub estimated: bool,
}

/// Computes summaries with the configured cycles, reusing its buffers from one SIRET to the next.
#[derive(Debug, Clone)]
pub struct Summariser {
    cycles: CycleTable,
    config: SummaryConfig,
    scratch: Scratch,
}

#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Per row: its cycle's position in the table.
    row_cycle: Vec<Option<usize>>,
    /// Per cycle: latest date, has undated rows, has a non-carence row.
    per_cycle: Vec<CycleScan>,
    /// Rows of the election being summed.
    election: Vec<usize>,
    inscrits: Vec<i64>,
    split: Allocation,
    lists: Allocation,
    dated: Vec<DatedElection>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CycleScan {
    latest: Option<NaiveDate>,
    undated: bool,
    non_carence: bool,
}

/// The identity fields, in output order.
const IDENTITY: [fn(&PvRow) -> &Option<String>; 6] = [
    |r| &r.raison_sociale,
    |r| &r.ville,
    |r| &r.cp,
    |r| &r.departement,
    |r| &r.idcc,
    |r| &r.idcc_label,
];

/// How recent a row is, for identity fields: cycle, date, PV number (numeric when digits).
type RowKey<'a> = (u16, Option<NaiveDate>, usize, &'a str);

fn row_key(row: &PvRow) -> RowKey<'_> {
    let pv = row.pv_number.as_deref().unwrap_or("");
    (row.cycle.number(), row.date, pv.len(), pv)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Summariser {
    /// A summariser for these cycles and settings.
    pub fn new(cycles: CycleTable, config: SummaryConfig) -> Self {
        Summariser {
            cycles,
            config,
            scratch: Scratch::default(),
        }
    }

    /// The summary of `siret` from all its PV rows (any order, every cycle) and invitations,
    /// as of `today`. Refused when a row belongs to another SIRET.
    pub fn summarise(
        &mut self,
        siret: Siret,
        rows: &[PvRow],
        invitations: &[Invitation],
        today: NaiveDate,
    ) -> Result<SiretSummary, SummaryError> {
        if let Some(other) = rows.iter().find(|r| r.siret != siret) {
            return Err(SummaryError::OtherSiret {
                expected: siret,
                found: other.siret,
            });
        }
        let periods = self.cycles.periods();
        let s = &mut self.scratch;
        s.row_cycle.clear();
        s.per_cycle.clear();
        s.per_cycle.resize(periods.len(), CycleScan::default());
        s.dated.clear();
        let mut date_pv_max: Option<NaiveDate> = None;
        let mut identity: [Option<(RowKey<'_>, usize)>; 6] = [None; 6];

        for (i, row) in rows.iter().enumerate() {
            let position = periods.iter().position(|p| p.cycle == row.cycle);
            s.row_cycle.push(position);
            if let Some(c) = position {
                let scan = &mut s.per_cycle[c];
                match row.date {
                    Some(d) => scan.latest = scan.latest.max(Some(d)),
                    None => scan.undated = true,
                }
                scan.non_carence |= row.kind == PvKind::Cse;
            }
            if let Some(d) = row.date {
                date_pv_max = date_pv_max.max(Some(d));
                s.dated.push(DatedElection {
                    date: d,
                    carence: row.kind == PvKind::Carence,
                });
            }
            let key = row_key(row);
            for (best, field) in identity.iter_mut().zip(IDENTITY) {
                if non_empty(field(row)).is_some() && best.is_none_or(|(k, _)| key > k) {
                    *best = Some((key, i));
                }
            }
        }

        let mut cycles = Vec::with_capacity(periods.len());
        for (c, period) in periods.iter().enumerate() {
            let scan = s.per_cycle[c];
            let date = scan.latest;
            let election = if date.is_some() || scan.undated {
                s.election.clear();
                s.election.extend(
                    (0..rows.len()).filter(|&i| s.row_cycle[i] == Some(c) && rows[i].date == date),
                );
                Some(election_summary(rows, date, s))
            } else {
                None
            };
            cycles.push(CycleSummary {
                cycle: period.cycle.clone(),
                election,
            });
        }

        let cgt_implantee = (0..periods.len())
            .rev()
            .find(|&c| s.per_cycle[c].non_carence)
            .and_then(|c| cycles[c].election.as_ref())
            .is_some_and(|e| e.cgt_presente);

        s.dated.sort_unstable_by_key(|e| e.date);
        s.dated.dedup_by(|later, kept| {
            let same = later.date == kept.date;
            if same {
                kept.carence &= later.carence;
            }
            same
        });
        let (pap, valid_until) = match self.cycles.current(today) {
            Some(current) => {
                let undated = rows
                    .iter()
                    .any(|r| r.date.is_none() && r.cycle == current.cycle);
                let (pap, changes) = pap_status(
                    current,
                    &s.dated,
                    undated,
                    invitations.iter().map(|inv| inv.date),
                    today,
                    &self.config,
                );
                (Some(pap), Some(changes))
            }
            // Outside the configured cycles: the PAP status appears when the next one starts.
            None => (
                None,
                periods.iter().map(|p| p.start).find(|&start| start > today),
            ),
        };

        let pick = |f: usize| {
            identity[f]
                .and_then(|(_, i)| non_empty(IDENTITY[f](&rows[i])))
                .map(str::to_owned)
        };
        let invited = |field: fn(&Invitation) -> &Option<String>| {
            invitations
                .iter()
                .filter(|inv| non_empty(field(inv)).is_some())
                .max_by_key(|inv| inv.date)
                .and_then(|inv| non_empty(field(inv)))
                .map(str::to_owned)
        };
        Ok(SiretSummary {
            siret,
            raison_sociale: pick(0).or_else(|| invited(|inv| &inv.raison_sociale)),
            ville: pick(1).or_else(|| invited(|inv| &inv.ville)),
            cp: pick(2).or_else(|| invited(|inv| &inv.cp)),
            departement: pick(3),
            idcc: pick(4),
            idcc_label: pick(5),
            date_pv_max,
            date_invitation_max: invitations.iter().map(|inv| inv.date).max(),
            prochaine_election: date_pv_max.and_then(|d| d.checked_add_months(Months::new(48))),
            cgt_implantee,
            cycles,
            pap,
            valid_until,
        })
    }
}

/// Each union's share of `sve` (0 to 1), `None` when `sve` is 0: what
/// [`ElectionSummary::shares`] holds, for figures read back from storage.
pub fn shares_of(voix: &ByUnion<Votes>, sve: Votes) -> ByUnion<Option<f64>> {
    let mut shares = ByUnion::default();
    let sve = i128::from(sve.units());
    if sve > 0 {
        for union in UNIONS {
            shares[union] = Some(voix[union].units() as f64 / sve as f64);
        }
    }
    shares
}

/// A name reduced for search: lower case, accents removed, every run of other characters than
/// letters and digits made one space, trimmed (`"L'Oréal S.A."` gives `l oreal s a`). A query
/// reduced the same way matches names by prefix of their words.
pub fn search_text(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name
        .split(|c: char| !c.is_alphanumeric())
        .map(normalize_header)
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

/// A cycle's election from the rows in `s.election`.
fn election_summary(rows: &[PvRow], date: Option<NaiveDate>, s: &mut Scratch) -> ElectionSummary {
    let mut e = ElectionSummary {
        date,
        carence: false,
        rows: 0,
        carence_rows: 0,
        inscrits: 0,
        votants: 0,
        votants_missing: 0,
        sve: Votes::ZERO,
        voix: ByUnion::default(),
        shares: ByUnion::default(),
        cgt_presente: false,
        cgt_representative: false,
        seats: SeatTotals::default(),
    };
    for &i in &s.election {
        let row = &rows[i];
        e.rows += 1;
        let carence = row.kind == PvKind::Carence;
        e.carence_rows += u32::from(carence);
        e.inscrits += row.inscrits;
        match row.votants {
            Some(v) => e.votants += v,
            None => e.votants_missing += u32::from(!carence),
        }
        e.sve += row.sve;
        for (sum, v) in e.voix.0.iter_mut().zip(row.votes) {
            *sum += v;
        }
    }
    e.carence = e.carence_rows == e.rows;
    let sve = i128::from(e.sve.units());
    e.shares = shares_of(&e.voix, e.sve);
    let cgt = i128::from(e.voix[Union::Cgt].units());
    e.cgt_presente = cgt > 0;
    e.cgt_representative = sve > 0 && cgt * 10 >= sve;
    e.seats = seat_totals(rows, s);
    e
}

/// Seats of the rows in `s.election` (see the module's decisions).
fn seat_totals(rows: &[PvRow], s: &mut Scratch) -> SeatTotals {
    let mut t = SeatTotals::default();
    let has_counts = |row: &PvRow| row.seats.is_some() || row.seats_to_fill.is_some();
    let estimate = s.election.iter().any(|&i| !has_counts(&rows[i]));
    if estimate {
        s.inscrits.clear();
        s.inscrits
            .extend(s.election.iter().map(|&i| rows[i].inscrits));
        estimate_seats_into(&s.inscrits, &mut s.split);
        t.estimated = true;
        for tie in &s.split.unresolved {
            // A tie between collèges whose seats the PVs give does not matter.
            if tie.lists.iter().any(|&k| !has_counts(&rows[s.election[k]])) {
                t.to_fill += tie.seats;
                t.unresolved_ties += 1;
                t.unresolved_seats += tie.seats;
            }
        }
    }
    for (k, &i) in s.election.iter().enumerate() {
        let row = &rows[i];
        if let Some(won) = row.seats {
            let sum: u32 = won.iter().sum();
            let to_fill = row.seats_to_fill.unwrap_or(sum).max(sum);
            t.to_fill += to_fill;
            t.vacant += to_fill - sum;
            for (total, n) in t.by_union.0.iter_mut().zip(won) {
                *total += n;
            }
            continue;
        }
        // Without counts the estimate was computed above, with one entry per election row.
        let to_fill = match row.seats_to_fill {
            Some(n) => n,
            None => s.split.seats[k],
        };
        t.to_fill += to_fill;
        if row.kind == PvKind::Carence {
            t.vacant += to_fill;
            continue;
        }
        allocate_into(to_fill, row.sve, &row.votes, &mut s.lists);
        for (total, n) in t.by_union.0.iter_mut().zip(&s.lists.seats) {
            *total += n;
        }
        t.unresolved_ties += s.lists.unresolved.len() as u32;
        t.unresolved_seats += s.lists.tied();
        t.vacant += to_fill - s.lists.allocated() - s.lists.tied();
    }
    t
}
