//! Rates (`10/m`, `100/15min`, `10/hour`) and the token-bucket arithmetic every limiter shares.
//!
//! The bucket is kept as one number, its *theoretical arrival time* (GCRA): a rate of `n` per
//! `period` admits a burst of `n`, then one more every `period / n`. One integer of state makes
//! the same limiter easy to keep in memory, in Redis, or in a database row updated inside the
//! transaction that consumes it (the task engine's per-kind limits).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `count` events per `period`, with bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Events allowed per period (≥ 1).
    pub count: u32,
    /// The period (≥ 1 ms).
    pub period: Duration,
}

impl Rate {
    /// `count` per `period`; `None` when either is zero.
    pub fn new(count: u32, period: Duration) -> Option<Self> {
        (count > 0 && period.as_millis() > 0).then_some(Self { count, period })
    }

    /// Time between two events once the burst is spent, in microseconds (≥ 1).
    pub fn interval_micros(&self) -> i64 {
        (self.period_micros() / i64::from(self.count)).max(1)
    }

    fn period_micros(&self) -> i64 {
        i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX)
    }

    /// Tries to take `n` tokens at `now` from a bucket whose state is `tat` (microseconds; `None`
    /// for a fresh bucket). Taking is all or nothing.
    pub fn take(&self, tat: Option<i64>, now: i64, n: u32) -> Decision {
        let interval = self.interval_micros();
        let period = self.period_micros();
        let base = tat.unwrap_or(now).max(now);
        let new_tat = base.saturating_add(interval.saturating_mul(i64::from(n)));
        let allow_at = new_tat.saturating_sub(period);
        if allow_at <= now {
            Decision {
                allowed: true,
                tat: new_tat,
                remaining: self.remaining(new_tat, now),
                retry_after_micros: 0,
                reset_after_micros: (new_tat - now).max(0),
            }
        } else {
            Decision {
                allowed: false,
                tat: base,
                remaining: self.remaining(base, now),
                retry_after_micros: allow_at - now,
                reset_after_micros: (base - now).max(0),
            }
        }
    }

    /// How many tokens the bucket holds at `now` (at most `count`).
    pub fn available(&self, tat: Option<i64>, now: i64) -> u32 {
        self.remaining(tat.unwrap_or(now).max(now), now)
    }

    /// Takes as many tokens as the bucket holds, up to `want`; returns how many and the new state.
    pub fn take_up_to(&self, tat: Option<i64>, now: i64, want: u32) -> (u32, i64) {
        let n = self.available(tat, now).min(want);
        let base = tat.unwrap_or(now).max(now);
        (n, base + self.interval_micros() * i64::from(n))
    }

    /// When the next token will be available, in microseconds from `now` (0 if one is).
    pub fn next_token_after(&self, tat: Option<i64>, now: i64) -> i64 {
        let base = tat.unwrap_or(now).max(now);
        (base + self.interval_micros() - self.period_micros() - now).max(0)
    }

    fn remaining(&self, tat: i64, now: i64) -> u32 {
        let headroom = now + self.period_micros() - tat;
        let n = headroom.max(0) / self.interval_micros();
        u32::try_from(n).unwrap_or(u32::MAX).min(self.count)
    }
}

/// The answer of [`Rate::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the tokens were taken.
    pub allowed: bool,
    /// The bucket's new state (unchanged when refused).
    pub tat: i64,
    /// Tokens left after this decision.
    pub remaining: u32,
    /// When refused, how long until the request would be allowed (microseconds).
    pub retry_after_micros: i64,
    /// How long until the bucket is full again (microseconds).
    pub reset_after_micros: i64,
}

/// Why a rate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid rate `{0}`: expected COUNT/PERIOD such as `10/m`, `100/15min`, `10/hour` or `5/s` (units: ms, s, m, h, d)"
)]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Self, RateError> {
        let err = || RateError(s.to_string());
        let (count, period) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = count.trim().parse().map_err(|_| err())?;
        let period = period.trim();
        let digits = period.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let times: u64 = if digits == 0 {
            1
        } else {
            period[..digits].parse().map_err(|_| err())?
        };
        let unit = match period[digits..].trim() {
            "ms" => Duration::from_millis(1),
            "s" | "sec" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86_400),
            _ => return Err(err()),
        };
        let period = unit.checked_mul(u32::try_from(times).map_err(|_| err())?);
        Rate::new(count, period.ok_or_else(err)?).ok_or_else(err)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.period.as_millis();
        let (n, unit) = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ]
        .into_iter()
        .find(|(u, _)| ms.is_multiple_of(*u))
        .map_or((ms, "ms"), |(u, name)| (ms / u, name));
        if n == 1 {
            write!(f, "{}/{unit}", self.count)
        } else {
            write!(f, "{}/{n}{unit}", self.count)
        }
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn parses_the_usual_spellings() {
        let r: Rate = "10/m".parse().unwrap();
        assert_eq!((r.count, r.period), (10, Duration::from_secs(60)));
        assert_eq!(
            "10/hour".parse::<Rate>().unwrap().period,
            Duration::from_secs(3600)
        );
        assert_eq!(
            "100/15min".parse::<Rate>().unwrap().period,
            Duration::from_secs(900)
        );
        assert_eq!("5/s".parse::<Rate>().unwrap().to_string(), "5/s");
        assert_eq!("100/15min".parse::<Rate>().unwrap().to_string(), "100/15m");
        assert_eq!("3/250ms".parse::<Rate>().unwrap().to_string(), "3/250ms");
        for bad in [
            "",
            "10",
            "0/m",
            "10/0m",
            "x/m",
            "10/fortnight",
            "10/m/s",
            "-1/m",
            "10/",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_burst_of_count_then_one_per_interval() {
        let rate: Rate = "3/3s".parse().unwrap();
        let mut tat = None;
        for i in 0..3 {
            let d = rate.take(tat, 0, 1);
            assert!(d.allowed, "token {i}");
            assert_eq!(d.remaining, 2 - i);
            tat = Some(d.tat);
        }
        let refused = rate.take(tat, 0, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_micros, S);
        assert_eq!(
            refused.tat,
            tat.unwrap(),
            "a refusal leaves the bucket alone"
        );
        assert!(!rate.take(tat, S - 1, 1).allowed);
        assert!(rate.take(tat, S, 1).allowed);
        assert_eq!(rate.available(tat, 3 * S), 3, "refilled after a period");
        assert_eq!(rate.available(tat, 100 * S), 3, "never more than the burst");
    }

    #[test]
    fn take_up_to_grants_what_is_there() {
        let rate: Rate = "10/s".parse().unwrap();
        let (n, tat) = rate.take_up_to(None, 0, 25);
        assert_eq!(n, 10);
        let (n2, tat2) = rate.take_up_to(Some(tat), 0, 5);
        assert_eq!((n2, tat2), (0, tat));
        assert_eq!(rate.next_token_after(Some(tat), 0), S / 10);
        let (n3, _) = rate.take_up_to(Some(tat), S / 2, 25);
        assert_eq!(n3, 5);
    }

    #[test]
    fn many_at_once_is_all_or_nothing() {
        let rate: Rate = "5/s".parse().unwrap();
        assert!(!rate.take(None, 0, 6).allowed);
        let d = rate.take(None, 0, 5);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_after_micros, S);
    }
}
