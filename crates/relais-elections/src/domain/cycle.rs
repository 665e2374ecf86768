//! Cycles: the four-year periods of union representativeness. The table is configuration; a
//! PV's cycle is derived from its election date.

use chrono::NaiveDate;

/// A cycle name (`C1` … `C9`, `C10` …) as configured.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Cycle(String);

/// A cycle table or name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CycleError {
    /// Not `C` followed by a number.
    #[error("a cycle is written C followed by its number (C4); got {0:?}")]
    Name(String),
    /// Not in the table.
    #[error("unknown cycle {0}; the configured cycles are {1}")]
    Unknown(String, String),
    /// Periods overlap or are out of order.
    #[error("the cycle table is invalid: {0}")]
    Table(String),
}

impl Cycle {
    /// Parses a cycle name: `C4`, `c4`, `4`, `Cycle 4`.
    pub fn parse(text: &str) -> Result<Self, CycleError> {
        let t = text.trim();
        let digits = t
            .strip_prefix("Cycle")
            .or_else(|| t.strip_prefix("cycle"))
            .map(str::trim)
            .or_else(|| t.strip_prefix(['C', 'c']))
            .unwrap_or(t);
        match digits.parse::<u16>() {
            Ok(n) if n > 0 && !digits.starts_with('0') => Ok(Cycle(format!("C{n}"))),
            _ => Err(CycleError::Name(text.to_owned())),
        }
    }

    /// `C4`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number (4 for `C4`).
    pub fn number(&self) -> u16 {
        self.0[1..].parse().expect("validated at parse")
    }
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One configured cycle: elections dated `start ..= end`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CyclePeriod {
    /// Name.
    pub cycle: Cycle,
    /// First election day.
    pub start: NaiveDate,
    /// Last election day.
    pub end: NaiveDate,
}

/// The configured cycles, in date order, without overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleTable {
    periods: Vec<CyclePeriod>,
}

impl CycleTable {
    /// The verified table C1 … C5 (2009 to 2028, four years each).
    pub fn standard() -> Self {
        let periods = (1..=5u16)
            .map(|n| {
                let first = 2005 + 4 * i32::from(n);
                CyclePeriod {
                    cycle: Cycle(format!("C{n}")),
                    start: NaiveDate::from_ymd_opt(first, 1, 1).expect("valid"),
                    end: NaiveDate::from_ymd_opt(first + 3, 12, 31).expect("valid"),
                }
            })
            .collect();
        CycleTable { periods }
    }

    /// A table from configured periods; refused when empty, out of order or overlapping.
    pub fn new(mut periods: Vec<CyclePeriod>) -> Result<Self, CycleError> {
        if periods.is_empty() {
            return Err(CycleError::Table("no cycle".into()));
        }
        periods.sort_by_key(|p| p.start);
        for p in &periods {
            if p.end < p.start {
                return Err(CycleError::Table(format!(
                    "{} ends before it starts",
                    p.cycle
                )));
            }
        }
        for w in periods.windows(2) {
            if w[1].start <= w[0].end {
                return Err(CycleError::Table(format!(
                    "{} and {} overlap",
                    w[0].cycle, w[1].cycle
                )));
            }
            if w[1].cycle.number() <= w[0].cycle.number() {
                return Err(CycleError::Table(format!(
                    "{} is dated after {}",
                    w[0].cycle, w[1].cycle
                )));
            }
        }
        Ok(CycleTable { periods })
    }

    /// The cycle of an election dated `date`, if the table covers it.
    pub fn cycle_of(&self, date: NaiveDate) -> Option<&Cycle> {
        self.periods
            .iter()
            .find(|p| p.start <= date && date <= p.end)
            .map(|p| &p.cycle)
    }

    /// A configured cycle by name.
    pub fn get(&self, name: &str) -> Result<&CyclePeriod, CycleError> {
        let cycle = Cycle::parse(name)?;
        self.periods
            .iter()
            .find(|p| p.cycle == cycle)
            .ok_or_else(|| CycleError::Unknown(cycle.0.clone(), self.names().join(", ")))
    }

    /// The cycle running on `today` (the current cycle), if configured.
    pub fn current(&self, today: NaiveDate) -> Option<&CyclePeriod> {
        self.periods
            .iter()
            .find(|p| p.start <= today && today <= p.end)
    }

    /// Every period, oldest first.
    pub fn periods(&self) -> &[CyclePeriod] {
        &self.periods
    }

    /// The names, oldest first.
    pub fn names(&self) -> Vec<&str> {
        self.periods.iter().map(|p| p.cycle.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_standard_table_matches_the_published_periods() {
        let t = CycleTable::standard();
        assert_eq!(t.names(), ["C1", "C2", "C3", "C4", "C5"]);
        assert_eq!(t.cycle_of(d(2009, 1, 1)).unwrap().as_str(), "C1");
        assert_eq!(t.cycle_of(d(2020, 12, 31)).unwrap().as_str(), "C3");
        assert_eq!(t.cycle_of(d(2021, 1, 1)).unwrap().as_str(), "C4");
        assert_eq!(t.cycle_of(d(2028, 12, 31)).unwrap().as_str(), "C5");
        assert!(t.cycle_of(d(2008, 12, 31)).is_none());
        assert!(t.cycle_of(d(2029, 1, 1)).is_none());
        assert_eq!(t.current(d(2026, 11, 22)).unwrap().cycle.as_str(), "C5");
    }

    #[test]
    fn names_parse_strictly_and_tables_are_checked() {
        for ok in ["C4", "c4", "4", "Cycle 4"] {
            assert_eq!(Cycle::parse(ok).unwrap().as_str(), "C4", "{ok}");
        }
        for bad in ["", "C", "C04", "C0", "3e", "CGT"] {
            assert!(Cycle::parse(bad).is_err(), "{bad}");
        }
        let std = CycleTable::standard();
        let mut overlapping = std.periods().to_vec();
        overlapping[1].start = d(2012, 6, 1);
        assert!(matches!(
            CycleTable::new(overlapping),
            Err(CycleError::Table(_))
        ));
        assert!(matches!(std.get("C9"), Err(CycleError::Unknown(..))));
    }
}
