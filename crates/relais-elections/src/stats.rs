//! Dashboard statistics and time series over the summaries a filter selects, aggregated in
//! Rust over streamed rows (a loop over rows is far faster than SQL `GROUP BY` on SQLite, and
//! memory stays flat: one entry per cycle, month or period). Votes are summed exactly.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use relais_platform::store::{Db, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ByUnion, Cycle, PapStatus, UNIONS, Union, Votes};
use crate::store::{self, CycleFact, PvFact, SummaryFilter};

/// One union's audience.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnionAudience {
    /// `cgt`, `cfdt`, `fo`, `cftc`, `cgc`, `unsa`, `solidaires` or `autre`.
    #[schema(example = "cgt")]
    pub union: &'static str,
    /// Votes, summed exactly.
    #[schema(value_type = f64)]
    pub voix: Votes,
    /// Share of SVE, 0 to 1 (`null` when SVE is 0).
    pub share: Option<f64>,
}

/// The elections of one cycle (each SIRET's latest election in it, all collèges summed).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CycleAudience {
    /// The cycle.
    #[schema(example = "C4")]
    pub cycle: String,
    /// SIRETs with an election (not a carence) in the cycle.
    pub elections: u64,
    /// SIRETs whose latest PV in the cycle is a carence.
    pub carences: u64,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters.
    pub votants: i64,
    /// Valid votes.
    #[schema(value_type = f64)]
    pub sve: Votes,
    /// Votes and share per union.
    pub unions: Vec<UnionAudience>,
    /// SIRETs where the CGT has at least 10 % of SVE.
    pub cgt_representative: u64,
}

/// Invitations of one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonthCount {
    /// `YYYY-MM`.
    #[schema(example = "2025-09")]
    pub month: String,
    /// Invitations dated in it.
    pub invitations: u64,
}

/// Projected elections of one quarter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QuarterCount {
    /// `YYYY-Qn`.
    #[schema(example = "2027-Q1")]
    pub quarter: String,
    /// SIRETs whose projected next election (latest PV + 4 years) falls in it.
    pub elections: u64,
}

/// The dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Dashboard {
    /// The day the figures that depend on the date were computed for.
    pub as_of: NaiveDate,
    /// Summaries matching the filters.
    pub summaries: u64,
    /// Audience per union at the reference cycle (`cycle`, else the latest cycle with an
    /// election among the matching SIRETs); `null` without any PV. A union without a list and
    /// a union with 0 votes look the same.
    pub audience: Option<CycleAudience>,
    /// The same for every cycle with a PV, oldest first.
    pub cycles: Vec<CycleAudience>,
    /// Summaries per PAP status (every status listed; `none` outside the configured cycles).
    #[schema(value_type = Object, example = json!({"aucune_invitation": 1, "invitation_en_attente": 0, "invitation_sans_pv": 0, "pv_apres_invitation": 1, "carence_apres_invitation": 0, "pv_sans_invitation": 1, "none": 0}))]
    pub statut_pap: BTreeMap<&'static str, u64>,
    /// Summaries with the CGT implantée.
    pub cgt_implantee: u64,
    /// Invitations per month, oldest first.
    pub invitations_by_month: Vec<MonthCount>,
    /// Projected next elections from the current quarter on, per quarter.
    pub upcoming_by_quarter: Vec<QuarterCount>,
    /// SIRETs whose projected next election is already past.
    pub overdue: u64,
}

/// Periods of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Calendar months (`2025-05`).
    #[default]
    Month,
    /// Quarters (`2025-Q2`).
    Quarter,
    /// Years (`2025`).
    Year,
}

impl Period {
    /// The period of a name; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "month" => Some(Period::Month),
            "quarter" => Some(Period::Quarter),
            "year" => Some(Period::Year),
            _ => None,
        }
    }

    /// The first day of the period holding `d`.
    fn start(self, d: NaiveDate) -> NaiveDate {
        let month = match self {
            Period::Month => d.month(),
            Period::Quarter => (d.month() - 1) / 3 * 3 + 1,
            Period::Year => 1,
        };
        NaiveDate::from_ymd_opt(d.year(), month, 1).expect("the first of a month")
    }

    /// The first day of the next period.
    fn next(self, start: NaiveDate) -> NaiveDate {
        let months = match self {
            Period::Month => 1,
            Period::Quarter => 3,
            Period::Year => 12,
        };
        start
            .checked_add_months(chrono::Months::new(months))
            .expect("dates stay in range")
    }

    fn label(self, start: NaiveDate) -> String {
        match self {
            Period::Month => start.format("%Y-%m").to_string(),
            Period::Quarter => format!("{}-Q{}", start.year(), (start.month() - 1) / 3 + 1),
            Period::Year => start.year().to_string(),
        }
    }
}

/// One period of the series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PeriodFigures {
    /// `2025-05`, `2025-Q2` or `2025`.
    #[schema(example = "2025-05")]
    pub period: String,
    /// Its first day.
    pub start: NaiveDate,
    /// Elections held (one SIRET and date with at least one voting collège).
    pub elections: u64,
    /// Carences (one SIRET and date where every PV is a carence).
    pub carences: u64,
    /// PV rows (PV × collège).
    pub pv_rows: u64,
    /// Registered voters.
    pub inscrits: i64,
    /// Voters, over the rows that give them.
    pub votants: i64,
    /// Valid votes.
    #[schema(value_type = f64)]
    pub sve: Votes,
    /// CGT votes.
    #[schema(value_type = f64)]
    pub cgt: Votes,
    /// CGT share of SVE, 0 to 1 (`null` when SVE is 0).
    pub cgt_share: Option<f64>,
}

/// A time series of PVs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Series {
    /// The periods.
    pub by: Period,
    /// Every period from the first PV to the last, empty ones included.
    pub periods: Vec<PeriodFigures>,
    /// PV rows without a date (not in any period).
    pub undated_rows: u64,
}

fn share(part: Votes, whole: Votes) -> Option<f64> {
    (whole.units() > 0).then(|| part.units() as f64 / whole.units() as f64)
}

/// Sums of one cycle's elections.
#[derive(Debug, Clone, Default)]
struct CycleSums {
    elections: u64,
    carences: u64,
    inscrits: i64,
    votants: i64,
    sve: Votes,
    voix: ByUnion<Votes>,
    cgt_representative: u64,
}

impl CycleSums {
    fn add(&mut self, f: &CycleFact) {
        if f.carence {
            self.carences += 1;
        } else {
            self.elections += 1;
        }
        self.inscrits += f.inscrits;
        self.votants += f.votants;
        self.sve += f.sve;
        for u in UNIONS {
            self.voix[u] += f.voix[u];
        }
        self.cgt_representative += u64::from(f.cgt_representative);
    }

    fn audience(&self, cycle: &Cycle) -> CycleAudience {
        CycleAudience {
            cycle: cycle.as_str().to_owned(),
            elections: self.elections,
            carences: self.carences,
            inscrits: self.inscrits,
            votants: self.votants,
            sve: self.sve,
            unions: UNIONS
                .iter()
                .map(|&u| UnionAudience {
                    union: u.key(),
                    voix: self.voix[u],
                    share: share(self.voix[u], self.sve),
                })
                .collect(),
            cgt_representative: self.cgt_representative,
        }
    }
}

/// The dashboard of the summaries `filter` selects, as of `today`.
pub async fn dashboard(
    db: &Db,
    filter: &SummaryFilter,
    today: NaiveDate,
) -> Result<Dashboard, StoreError> {
    let mut statut_pap: BTreeMap<&'static str, u64> =
        PapStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    statut_pap.insert("none", 0);
    let mut cgt_implantee = 0;
    let mut upcoming: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut overdue = 0;
    let summaries = store::each_summary_fact(db, filter, |f| {
        let key = f.statut_pap.map_or("none", PapStatus::as_str);
        *statut_pap.entry(key).or_default() += 1;
        cgt_implantee += u64::from(f.cgt_implantee);
        match f.prochaine_election {
            Some(d) if d < today => overdue += 1,
            Some(d) => *upcoming.entry(Period::Quarter.start(d)).or_default() += 1,
            None => {}
        }
    })
    .await?;

    let mut by_cycle: BTreeMap<(u16, String), CycleSums> = BTreeMap::new();
    store::each_cycle_fact(db, filter, |f| {
        by_cycle
            .entry((f.cycle.number(), f.cycle.as_str().to_owned()))
            .or_default()
            .add(&f);
    })
    .await?;
    let cycles: Vec<CycleAudience> = by_cycle
        .iter()
        .map(|((_, name), sums)| sums.audience(&Cycle::parse(name).expect("stored cycles parse")))
        .collect();
    let audience = match &filter.cycle {
        Some(c) => cycles.iter().find(|a| a.cycle == c.as_str()).cloned(),
        None => cycles
            .iter()
            .rev()
            .find(|a| a.elections > 0)
            .or(cycles.last())
            .cloned(),
    };

    let mut months: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    store::each_invitation_date(db, filter, |d| {
        *months.entry(Period::Month.start(d)).or_default() += 1;
    })
    .await?;

    Ok(Dashboard {
        as_of: today,
        summaries,
        audience,
        cycles,
        statut_pap,
        cgt_implantee,
        invitations_by_month: months
            .into_iter()
            .map(|(m, n)| MonthCount {
                month: Period::Month.label(m),
                invitations: n,
            })
            .collect(),
        upcoming_by_quarter: upcoming
            .into_iter()
            .map(|(q, n)| QuarterCount {
                quarter: Period::Quarter.label(q),
                elections: n,
            })
            .collect(),
        overdue,
    })
}

/// Sums of one period.
#[derive(Debug, Clone, Default)]
struct PeriodSums {
    elections: u64,
    carences: u64,
    pv_rows: u64,
    inscrits: i64,
    votants: i64,
    sve: Votes,
    cgt: Votes,
}

/// The election being read: one SIRET and date.
struct Current {
    siret: String,
    date: NaiveDate,
    voting: bool,
}

/// The PV time series of the summaries `filter` selects, by `by`, elections dated from `from`
/// to `to` when given.
pub async fn series(
    db: &Db,
    filter: &SummaryFilter,
    by: Period,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Series, StoreError> {
    let mut periods: BTreeMap<NaiveDate, PeriodSums> = BTreeMap::new();
    let mut undated_rows = 0;
    let mut current: Option<Current> = None;
    // An election is counted once all its rows (consecutive: rows come by SIRET and date) are
    // read: a carence only when none of them voted.
    let close = |c: Current, periods: &mut BTreeMap<NaiveDate, PeriodSums>| {
        let sums = periods.entry(by.start(c.date)).or_default();
        if c.voting {
            sums.elections += 1;
        } else {
            sums.carences += 1;
        }
    };
    store::each_pv_fact(db, filter, from, to, |f: PvFact| {
        let Some(date) = f.date else {
            undated_rows += 1;
            return;
        };
        match &mut current {
            Some(c) if c.siret == f.siret && c.date == date => c.voting |= !f.carence,
            _ => {
                if let Some(done) = current.take() {
                    close(done, &mut periods);
                }
                current = Some(Current {
                    siret: f.siret.clone(),
                    date,
                    voting: !f.carence,
                });
            }
        }
        let sums = periods.entry(by.start(date)).or_default();
        sums.pv_rows += 1;
        sums.inscrits += f.inscrits;
        sums.votants += f.votants.unwrap_or(0);
        sums.sve += f.sve;
        sums.cgt += f.voix[Union::Cgt];
    })
    .await?;
    if let Some(done) = current.take() {
        close(done, &mut periods);
    }
    let mut out = Vec::with_capacity(periods.len());
    if let (Some(&first), Some(&last)) = (periods.keys().next(), periods.keys().next_back()) {
        let mut start = first;
        while start <= last {
            let s = periods.remove(&start).unwrap_or_default();
            out.push(PeriodFigures {
                period: by.label(start),
                start,
                elections: s.elections,
                carences: s.carences,
                pv_rows: s.pv_rows,
                inscrits: s.inscrits,
                votants: s.votants,
                sve: s.sve,
                cgt: s.cgt,
                cgt_share: share(s.cgt, s.sve),
            });
            start = by.next(start);
        }
    }
    Ok(Series {
        by,
        periods: out,
        undated_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods_start_label_and_follow() {
        let day = d(2025, 5, 17);
        assert_eq!(Period::Month.label(Period::Month.start(day)), "2025-05");
        assert_eq!(Period::Quarter.start(day), d(2025, 4, 1));
        assert_eq!(Period::Quarter.label(d(2025, 4, 1)), "2025-Q2");
        assert_eq!(Period::Year.label(Period::Year.start(day)), "2025");
        assert_eq!(Period::Quarter.next(d(2025, 10, 1)), d(2026, 1, 1));
        assert_eq!(Period::parse("week"), None);
    }
}
