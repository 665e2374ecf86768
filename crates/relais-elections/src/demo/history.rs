//! When an establishment votes and when the unions are invited: a first election in the first
//! cycle of the window (most in its third year, as the CSEs were set up by the end of 2019),
//! then one per mandate (four years, sometimes two or three) with some drift, carences, re-runs
//! within a cycle, and PAP invitations one to four months before an election — also before
//! elections that have not happened yet (pending) or never did (overdue).

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use fastrand::Rng;

use super::DemoError;
use super::random::Draw;
use crate::domain::CycleTable;

/// The period the data covers: from the start of the cycle two before the current one (or the
/// first configured) to `today`.
pub(super) struct Window {
    /// Start of each cycle from the first one covered, oldest first.
    starts: Vec<NaiveDate>,
    today: NaiveDate,
}

impl Window {
    pub(super) fn new(cycles: &CycleTable, today: NaiveDate) -> Result<Self, DemoError> {
        let periods = cycles.periods();
        let current = periods
            .iter()
            .position(|p| p.start <= today && today <= p.end)
            .ok_or_else(|| DemoError::Today {
                today,
                cycles: cycles.names().join(", "),
            })?;
        let first = current.saturating_sub(2);
        let starts: Vec<NaiveDate> = periods[first..=current].iter().map(|p| p.start).collect();
        if today < starts[0] + Days::new(365) {
            return Err(DemoError::Today {
                today,
                cycles: cycles.names().join(", "),
            });
        }
        Ok(Window { starts, today })
    }

    /// The cycle (0 = the first of the window) an election dated `date` belongs to.
    fn rank(&self, date: NaiveDate) -> usize {
        self.starts
            .partition_point(|s| *s <= date)
            .saturating_sub(1)
    }

    fn start_of(&self, rank: usize) -> NaiveDate {
        match self.starts.get(rank) {
            Some(start) => *start,
            None => add_months(*self.starts.last().expect("one cycle"), 48),
        }
    }
}

/// One election (all collèges vote the same day).
#[derive(Debug, Clone, Copy)]
pub(super) struct Election {
    pub(super) date: NaiveDate,
    pub(super) carence: bool,
    /// Whether the PV gives the seats to fill.
    pub(super) seats: bool,
    pub(super) headcount: f64,
}

/// An establishment's elections and invitations, oldest first (buffers reused between
/// establishments).
#[derive(Default)]
pub(super) struct Plan {
    pub(super) elections: Vec<Election>,
    pub(super) invitations: Vec<NaiveDate>,
}

impl Plan {
    /// The history of an establishment of `headcount` people.
    pub(super) fn make(&mut self, rng: &mut Rng, window: &Window, headcount: f64) {
        self.elections.clear();
        self.invitations.clear();
        let today = window.today;
        let mut date = if rng.chance(0.12) {
            // Crossed the 11-employee threshold later: first election in the next cycle.
            window.start_of(1) + Days::new(rng.u64(0..1_461))
        } else {
            let year = match rng.u32(0..100) {
                0..6 => 0,
                6..36 => 1,
                36..96 => 2,
                _ => 3,
            };
            add_months(window.start_of(0), 12 * year + rng.u32(0..12)) + Days::new(rng.u64(0..28))
        };
        let mandate = match rng.u32(0..100) {
            0..85 => 48,
            85..90 => 36,
            _ => 24,
        };
        let closes_after = rng.chance(0.05).then(|| rng.usize(1..=2));
        let mut headcount = headcount;
        loop {
            date = polling_day(rng, date);
            if date > today || closes_after.is_some_and(|n| self.elections.len() >= n) {
                break;
            }
            let carence = rng.chance(carence_rate(headcount));
            self.push(rng, window, date, carence, headcount);
            if carence && rng.chance(0.08) {
                // A union asked for an election after the carence: a new mandate starts.
                date = date + Days::new(rng.u64(180..540));
            } else if rng.chance(0.004) {
                // Cancelled and re-run a few weeks later.
                date = date + Days::new(rng.u64(7..56));
            } else {
                headcount = (headcount * rng.spread(0.1)).max(11.0);
                let drift = rng.i64(-20..90);
                date = add_months(date, mandate)
                    .checked_add_signed(chrono::TimeDelta::days(drift))
                    .unwrap_or(date);
            }
        }
        if closes_after.is_some() {
            self.invitations.sort_unstable();
            return;
        }
        // Overdue: the last election did not happen (no PV), though the unions were invited
        // (its invitations, up to six months before it, are drawn again).
        if rng.chance(0.04)
            && let Some(last) = self.elections.pop()
        {
            self.invitations.retain(|d| *d < last.date - Days::new(190));
            if rng.chance(0.9) {
                self.invite(rng, last.date, today);
            }
        } else if date.signed_duration_since(today).num_days() <= 120 && rng.chance(0.6) {
            // Pending: invited for an election still to come.
            self.invite(rng, date, today);
        }
        self.invitations.sort_unstable();
    }

    /// An establishment with no PV yet (new, or never voted): one invitation in the last two
    /// years.
    pub(super) fn invitation_only(&mut self, rng: &mut Rng, window: &Window) {
        self.elections.clear();
        self.invitations.clear();
        self.invitations
            .push(window.today - Days::new(rng.u64(0..730)));
    }

    fn push(
        &mut self,
        rng: &mut Rng,
        window: &Window,
        date: NaiveDate,
        carence: bool,
        headcount: f64,
    ) {
        self.elections.push(Election {
            date,
            carence,
            seats: rng.chance(0.35),
            headcount,
        });
        let invited = match window.rank(date) {
            0 => 0.1,
            1 => 0.4,
            _ => 0.6,
        };
        if rng.chance(invited) {
            self.invite(rng, date, window.today);
        }
    }

    /// An invitation one to four months before `election` (sometimes a first one before it),
    /// if that is not after `today`.
    fn invite(&mut self, rng: &mut Rng, election: NaiveDate, today: NaiveDate) {
        let date = election - Days::new(rng.u64(30..=120));
        if date > today {
            return;
        }
        self.invitations.push(date);
        if rng.chance(0.03) {
            self.invitations.push(date - Days::new(rng.u64(20..=60)));
        }
    }
}

/// Carences are frequent in small establishments (nobody stands).
fn carence_rate(headcount: f64) -> f64 {
    if headcount < 25.0 {
        0.25
    } else if headcount < 50.0 {
        0.12
    } else {
        0.03
    }
}

/// Elections are held on working days: a date falling on a weekend moves to the next Tuesday
/// or Thursday mostly (the real file: Tuesday and Thursday a quarter each, Friday 18 %).
fn polling_day(rng: &mut Rng, date: NaiveDate) -> NaiveDate {
    let to = match date.weekday() {
        Weekday::Sat | Weekday::Sun if rng.chance(0.995) => match rng.u32(0..100) {
            0..8 => Weekday::Mon,
            8..45 => Weekday::Tue,
            45..82 => Weekday::Thu,
            _ => Weekday::Fri,
        },
        _ => return date,
    };
    let ahead = (7 + to.num_days_from_monday() - date.weekday().num_days_from_monday()) % 7;
    date + Days::new(u64::from(ahead))
}

fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months)).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_window_spans_three_cycles_and_refuses_dates_outside_the_table() {
        let table = CycleTable::standard();
        let w = Window::new(&table, d(2026, 11, 22)).unwrap();
        assert_eq!(w.starts, [d(2017, 1, 1), d(2021, 1, 1), d(2025, 1, 1)]);
        assert_eq!(w.rank(d(2019, 6, 1)), 0);
        assert_eq!(w.rank(d(2025, 1, 1)), 2);
        assert!(matches!(
            Window::new(&table, d(2030, 1, 1)),
            Err(DemoError::Today { .. })
        ));
        assert!(matches!(
            Window::new(&table, d(2009, 3, 1)),
            Err(DemoError::Today { .. })
        ));
    }

    #[test]
    fn histories_are_ordered_and_end_before_today() {
        let today = d(2026, 11, 22);
        let w = Window::new(&CycleTable::standard(), today).unwrap();
        let mut rng = Rng::with_seed(9);
        let mut plan = Plan::default();
        let (mut elections, mut pending) = (0, 0);
        for _ in 0..5_000 {
            plan.make(&mut rng, &w, 40.0);
            elections += plan.elections.len();
            assert!(plan.elections.windows(2).all(|p| p[0].date < p[1].date));
            assert!(
                plan.elections
                    .iter()
                    .all(|e| d(2017, 1, 1) <= e.date && e.date <= today)
            );
            assert!(plan.invitations.iter().all(|i| *i <= today));
            let last = plan.elections.last().map(|e| e.date);
            pending += plan
                .invitations
                .iter()
                .filter(|i| last.is_none_or(|l| **i > l))
                .count();
        }
        assert!(elections > 10_000, "{elections}");
        assert!(pending > 50, "{pending}");
    }
}
