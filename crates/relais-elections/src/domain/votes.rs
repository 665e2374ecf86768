//! Exact vote counts: decimals (a joint list's votes are split between unions) kept to four
//! places as an integer number of ten-thousandths, so sums over millions of rows stay exact.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};

/// A non-negative vote count to four decimals (`Votes::from_units(12_345)` is `1.2345`).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Votes(i64);

/// Why a text is not a vote count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VotesError {
    /// Not a decimal number.
    #[error("not a number: {0:?}")]
    Format(String),
    /// Below zero.
    #[error("negative: {0}")]
    Negative(String),
    /// Beyond what any election holds.
    #[error("too large: {0}")]
    TooLarge(String),
}

impl Votes {
    /// Ten-thousandths in one vote.
    pub const SCALE: i64 = 10_000;
    /// No votes.
    pub const ZERO: Votes = Votes(0);
    /// The largest accepted count (a billion votes).
    const MAX_UNITS: i64 = 1_000_000_000 * Self::SCALE;

    /// A count of ten-thousandths.
    pub const fn from_units(units: i64) -> Self {
        Votes(units)
    }

    /// A whole number of votes.
    pub const fn whole(votes: i64) -> Self {
        Votes(votes * Self::SCALE)
    }

    /// The count in ten-thousandths.
    pub const fn units(self) -> i64 {
        self.0
    }

    /// The count as a float (for shares and display only; sums use [`Votes`]).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE as f64
    }

    /// Whether the count is above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Parses `12`, `12.5`, `12,5` (French decimal comma), `52.01000000000001` (binary-float
    /// noise, rounded half away from zero to four places), `1e3`, surrounding spaces and
    /// thousands spaces (`1 234,5`). An empty text is not a count (the caller decides what an
    /// empty cell means).
    pub fn parse(text: &str) -> Result<Self, VotesError> {
        let cleaned: String = text
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
            .map(|c| if c == ',' { '.' } else { c })
            .collect();
        if cleaned.is_empty() {
            return Err(VotesError::Format(text.to_owned()));
        }
        if cleaned.starts_with('-') {
            let v: f64 = cleaned
                .parse()
                .map_err(|_| VotesError::Format(text.to_owned()))?;
            if v == 0.0 {
                return Ok(Votes::ZERO);
            }
            return Err(VotesError::Negative(text.to_owned()));
        }
        if let Some(v) = Self::parse_plain(&cleaned) {
            return if v.0 > Self::MAX_UNITS {
                Err(VotesError::TooLarge(text.to_owned()))
            } else {
                Ok(v)
            };
        }
        // Exponents and other float spellings.
        let v: f64 = cleaned
            .parse()
            .map_err(|_| VotesError::Format(text.to_owned()))?;
        Self::from_f64(v).map_err(|e| match e {
            VotesError::Format(_) => VotesError::Format(text.to_owned()),
            VotesError::Negative(_) => VotesError::Negative(text.to_owned()),
            VotesError::TooLarge(_) => VotesError::TooLarge(text.to_owned()),
        })
    }

    /// A float from a JSON number or a spreadsheet cell, rounded to four places.
    pub fn from_f64(v: f64) -> Result<Self, VotesError> {
        if !v.is_finite() {
            return Err(VotesError::Format(v.to_string()));
        }
        if v < 0.0 {
            return Err(VotesError::Negative(v.to_string()));
        }
        let units = (v * Self::SCALE as f64).round();
        if units > Self::MAX_UNITS as f64 {
            return Err(VotesError::TooLarge(v.to_string()));
        }
        Ok(Votes(units as i64))
    }

    /// `digits[.digits]` exactly, rounding beyond four places; `None` for anything else.
    fn parse_plain(s: &str) -> Option<Votes> {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if int.len() > 12 {
            return None;
        }
        let whole: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut units = whole * Self::SCALE;
        let mut scale = Self::SCALE / 10;
        let fb = frac.as_bytes();
        for &d in fb.iter().take(4) {
            units += i64::from(d - b'0') * scale;
            scale /= 10;
        }
        if fb.len() > 4 && fb[4] >= b'5' {
            units += 1;
        }
        Some(Votes(units))
    }
}

impl Add for Votes {
    type Output = Votes;
    fn add(self, rhs: Votes) -> Votes {
        Votes(self.0 + rhs.0)
    }
}

impl AddAssign for Votes {
    fn add_assign(&mut self, rhs: Votes) {
        self.0 += rhs.0;
    }
}

impl Sub for Votes {
    type Output = Votes;
    fn sub(self, rhs: Votes) -> Votes {
        Votes(self.0 - rhs.0)
    }
}

impl Sum for Votes {
    fn sum<I: Iterator<Item = Votes>>(iter: I) -> Votes {
        Votes(iter.map(|v| v.0).sum())
    }
}

impl fmt::Display for Votes {
    /// Shortest exact decimal: `12`, `12.5`, `0.0001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / Self::SCALE as u64;
        let frac = abs % Self::SCALE as u64;
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{frac:04}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Debug for Votes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Votes({self})")
    }
}

impl serde::Serialize for Votes {
    /// A JSON number (the upstream API answered votes as numbers).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % Self::SCALE == 0 {
            s.serialize_i64(self.0 / Self::SCALE)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spellings_of_real_files() {
        let ok = |t: &str, units: i64| assert_eq!(Votes::parse(t), Ok(Votes(units)), "{t}");
        ok("12", 120_000);
        ok("110.0", 1_100_000);
        ok("12,5", 125_000);
        ok(" 1 234,5 ", 12_345_000);
        ok("52.01000000000001", 520_100);
        ok("0.33335", 3_334);
        ok(".5", 5_000);
        ok("1e3", 10_000_000);
        ok("-0", 0);
        assert!(matches!(Votes::parse("-1"), Err(VotesError::Negative(_))));
        assert!(matches!(Votes::parse("douze"), Err(VotesError::Format(_))));
        assert!(matches!(Votes::parse(""), Err(VotesError::Format(_))));
        assert!(matches!(
            Votes::parse("1e300"),
            Err(VotesError::TooLarge(_))
        ));
        assert_eq!(Votes::from_f64(52.01000000000001), Ok(Votes(520_100)));
    }

    #[test]
    fn sums_are_exact_and_display_is_shortest() {
        let total: Votes = ["0.1", "0.2", "607730.26"]
            .iter()
            .map(|t| Votes::parse(t).unwrap())
            .sum();
        assert_eq!(total.to_string(), "607730.56");
        assert_eq!(Votes::whole(3).to_string(), "3");
        assert_eq!(Votes(1).to_string(), "0.0001");
        assert_eq!(serde_json::to_string(&Votes(125_000)).unwrap(), "12.5");
        assert_eq!(serde_json::to_string(&Votes::whole(7)).unwrap(), "7");
    }
}
