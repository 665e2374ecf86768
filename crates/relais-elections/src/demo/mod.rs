//! Synthetic, realistic PV and invitation files for demonstrations and benchmarks beyond the
//! size of the real data, from a seed.
//!
//! [`generate`] writes `pv.csv` (one row per PV × collège, the normalised layout of the shipped
//! files plus `type` and `sieges_a_pourvoir`) and `invitations.csv` (the upstream template),
//! establishment by establishment: memory does not grow with the row count. The same
//! [`DemoSpec`] always gives the same bytes.
//!
//! What the data look like (tuned on the real file of cycle 4):
//! - SIRETs pass the check digit (Luhn; a few La Poste ones with the digit-sum rule), leading
//!   zeros included; companies have one establishment or several; each establishment keeps its
//!   name, town, postal code, département and IDCC.
//! - Collège mixes as in the real file (01+02, 05 alone, 01 alone, 01+02+03, …, several PVs of one
//!   collège on one day for large establishments); headcounts log-normal; participation around
//!   74 %; about 38 % of rows with a CGT list; decimals where unions ran a joint list.
//! - Elections over three cycles (C3 to the current one): one per mandate with drift, carences
//!   (frequent in small establishments, written `type = CAR` with no votes), re-runs within a
//!   cycle, seats to fill on about a third of the PVs.
//! - Oddities at the real rates: SVE above votants, votants above inscrits, inscrits = 0, no
//!   valid vote, binary-float noise (`52.01000000000001`).
//! - Invitations one to four months before an election for part of the establishments, plus
//!   invitations with no later PV: pending (recent), overdue (old), establishments never voted.

mod ballot;
mod history;
mod identity;
mod random;
mod tables;
mod write;

use std::io::Write;

use chrono::NaiveDate;
use fastrand::Rng;

use crate::domain::CycleTable;
use history::{Plan, Window};
use identity::{COMPANY_SPACE, Company, Establishment, SiretMint, Tables};
use random::Draw;
use write::{InvitationWriter, PvFields, PvWriter};

pub use write::{INVITATION_COLUMNS, PV_COLUMNS};

/// The largest row count [`generate`] accepts (SIRETs stay distinct well beyond it).
pub const MAX_PV_ROWS: u64 = 50_000_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// PV rows to write, exactly.
    pub pv_rows: u64,
    /// The seed: the same spec gives the same bytes.
    pub seed: u64,
    /// The data end here: no PV or invitation is dated later, and pending invitations are
    /// recent relative to it.
    pub today: NaiveDate,
    /// The cycles: the data cover the current one (holding `today`) and the two before it.
    pub cycles: CycleTable,
}

impl DemoSpec {
    /// A spec over the standard cycle table.
    pub fn new(pv_rows: u64, seed: u64, today: NaiveDate) -> Self {
        DemoSpec {
            pv_rows,
            seed,
            today,
            cycles: CycleTable::standard(),
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoCounts {
    /// Rows of `pv.csv` (header excluded): the spec's count.
    pub pv_rows: u64,
    /// Distinct SIRETs across both files.
    pub sirets: u64,
    /// Rows of `invitations.csv` (header excluded).
    pub invitations: u64,
}

/// Why the demo data could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// `today` is outside the cycle table, or less than a year into its first cycle.
    #[error(
        "the demo data end on {today}, which must fall in a configured cycle ({cycles}) at least a year after its start"
    )]
    Today {
        /// The requested end.
        today: NaiveDate,
        /// The configured cycles.
        cycles: String,
    },
    /// More rows than [`MAX_PV_ROWS`].
    #[error("at most {max} PV rows can be generated; asked for {asked}")]
    TooManyRows {
        /// The request.
        asked: u64,
        /// The limit.
        max: u64,
    },
    /// Every distinct SIREN is used (only with a window that holds almost no election).
    #[error("ran out of distinct SIRENs before writing {0} PV rows")]
    SiretSpace(u64),
    /// A writer failed.
    #[error("cannot write the demo data: {0}")]
    Write(#[from] std::io::Error),
}

/// First PV number: far above the Ministry's numbers (7 digits, 5.3 million by the end of
/// cycle 4), so demo rows never take a real PV's number.
const FIRST_PV_NUMBER: u64 = 90_000_001;

/// Share of establishments with an invitation and no PV at all.
const INVITATION_ONLY: f64 = 0.015;

/// Writes `spec.pv_rows` PV rows to `pv` and the invitations to `invitations`, both CSV with
/// a header, and flushes them. The last establishment may be cut short to hit the count.
pub fn generate<P: Write, I: Write>(
    spec: &DemoSpec,
    pv: P,
    invitations: I,
) -> Result<DemoCounts, DemoError> {
    if spec.pv_rows > MAX_PV_ROWS {
        return Err(DemoError::TooManyRows {
            asked: spec.pv_rows,
            max: MAX_PV_ROWS,
        });
    }
    let window = Window::new(&spec.cycles, spec.today)?;
    let mut run = Run {
        rng: Rng::with_seed(spec.seed),
        tables: Tables::new(),
        plan: Plan::default(),
        pv: PvWriter::new(pv)?,
        invitations: InvitationWriter::new(invitations)?,
        next_pv_number: FIRST_PV_NUMBER,
        counts: DemoCounts::default(),
        target: spec.pv_rows,
    };
    let mut mint = SiretMint::new(spec.seed);
    while run.counts.pv_rows < spec.pv_rows {
        if mint.companies() >= COMPANY_SPACE {
            return Err(DemoError::SiretSpace(spec.pv_rows));
        }
        let mut company = Company::new(&mut run.rng, &run.tables, &mut mint);
        for index in 0..company.establishments {
            if run.counts.pv_rows >= spec.pv_rows {
                break;
            }
            let est = Establishment::new(&mut run.rng, &run.tables, &mut company, index);
            if run.rng.chance(INVITATION_ONLY) {
                run.plan.invitation_only(&mut run.rng, &window);
            } else {
                run.plan.make(&mut run.rng, &window, est.headcount);
            }
            run.establishment(&est)?;
        }
    }
    run.pv.finish()?;
    run.invitations.finish()?;
    Ok(run.counts)
}

/// The state of one generation.
struct Run<P: Write, I: Write> {
    rng: Rng,
    tables: Tables,
    plan: Plan,
    pv: PvWriter<P>,
    invitations: InvitationWriter<I>,
    next_pv_number: u64,
    counts: DemoCounts,
    target: u64,
}

impl<P: Write, I: Write> Run<P, I> {
    /// Writes the planned rows of `est` (as many as the target leaves room for).
    fn establishment(&mut self, est: &Establishment) -> Result<(), DemoError> {
        let before = self.counts;
        let source_file = &self.tables.source_files[est.source_file];
        'elections: for election in &self.plan.elections {
            let date = write::ymd(election.date);
            for (index, college) in est.structure.colleges.iter().enumerate() {
                if self.counts.pv_rows >= self.target {
                    break 'elections;
                }
                let row = ballot::cast(&mut self.rng, est, election, index);
                let fields = PvFields {
                    pv_number: self.next_pv_number,
                    est,
                    source_file,
                    college,
                    date: &date,
                    carence: election.carence,
                    seats: (election.seats && !election.carence)
                        .then(|| ballot::seats_to_fill(row.inscrits)),
                };
                self.pv.row(&fields, &row)?;
                self.counts.pv_rows += 1;
                // Numbers are unique; some are skipped (PVs not retained for publication).
                self.next_pv_number += if self.rng.chance(0.1) {
                    self.rng.u64(2..6)
                } else {
                    1
                };
            }
        }
        let headcount = self
            .plan
            .elections
            .last()
            .map_or(est.headcount, |e| e.headcount);
        for date in &self.plan.invitations {
            let source = self.tables.sources.sample(&mut self.rng);
            self.invitations.row(est, *date, source, headcount)?;
            self.counts.invitations += 1;
        }
        if self.counts.pv_rows > before.pv_rows || self.counts.invitations > before.invitations {
            self.counts.sirets += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
