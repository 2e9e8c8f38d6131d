//! A span of time as the relying party writes it (`--skew`, `--max-staleness`). Its own
//! module so that [`crate::policy`] and [`crate::outside_time`] both use it without
//! importing each other.

use std::fmt;

/// The skew tolerated when `--skew` is not given: 5 minutes.
pub const DEFAULT_SKEW: TimeSpan = TimeSpan(300);

/// A span of time in whole seconds, written `30s`, `5m`, `36h`, `7d` or `2w`
/// (`--skew`, `--max-staleness`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct TimeSpan(pub u64);

/// A span that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a duration: write a whole number and a unit, s, m, h, d or w (e.g. 5m, 36h, 7d)"
)]
pub struct TimeSpanError(String);

impl std::str::FromStr for TimeSpan {
    type Err = TimeSpanError;
    fn from_str(s: &str) -> Result<TimeSpan, TimeSpanError> {
        let bad = || TimeSpanError(s.to_owned());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = t.split_at(split);
        let n: u64 = n.parse().map_err(|_| bad())?;
        let per = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        // Beyond what any timestamp difference can reach: refused, not saturated.
        n.checked_mul(per)
            .filter(|s| *s <= i64::MAX as u64 / 1_000_000)
            .map(TimeSpan)
            .ok_or_else(bad)
    }
}

impl fmt::Display for TimeSpan {
    /// The largest unit that divides it (days at most): `5m`, `36h`, `7d`, `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (per, unit) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
            if s != 0 && s % per == 0 {
                return write!(f, "{}{unit}", s / per);
            }
        }
        write!(f, "{s}s")
    }
}

impl TimeSpan {
    pub(crate) fn micros(self) -> i64 {
        i64::try_from(self.0)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
    }
}
