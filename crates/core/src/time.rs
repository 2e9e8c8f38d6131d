//! Dates (civil, no time zone) and timestamps (the ledger's clock, UTC microseconds).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a date or timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an ISO date `YYYY-MM-DD` in years 1900-9999.
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    BadDate(String),
    /// Out of the representable range.
    #[error("timestamp out of range")]
    OutOfRange,
}

/// The earliest year a date may carry: records predate no licensing law by centuries.
pub const MIN_YEAR: i16 = 1900;
/// The latest year a date may carry.
pub const MAX_YEAR: i16 = 9999;

/// A civil date (year, month, day), as a person writes it on a record. No time zone.
///
/// Encoded as `i16` year, `u8` month, `u8` day (4 bytes); decoding validates.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(jiff::civil::Date);

impl Date {
    /// Builds a date, validating the calendar (no Feb 30) and the year range.
    pub fn new(year: i16, month: i8, day: i8) -> Result<Date, TimeError> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(TimeError::BadDate(format!("{year:04}-{month:02}-{day:02}")));
        }
        jiff::civil::Date::new(year, month, day)
            .map(Date)
            .map_err(|_| TimeError::BadDate(format!("{year:04}-{month:02}-{day:02}")))
    }
    /// Parses `YYYY-MM-DD` strictly.
    pub fn parse(s: &str) -> Result<Date, TimeError> {
        let bad = || TimeError::BadDate(s.chars().take(32).collect());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i16, TimeError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<i16>().map_err(|_| bad())
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let m = i8::try_from(m).map_err(|_| bad())?;
        let d = i8::try_from(d).map_err(|_| bad())?;
        Date::new(y, m, d).map_err(|_| bad())
    }
    /// The jiff date.
    pub fn civil(self) -> jiff::civil::Date {
        self.0
    }
    /// Year.
    pub fn year(self) -> i16 {
        self.0.year()
    }
    /// Wraps a jiff date, validating the year range.
    pub fn from_civil(d: jiff::civil::Date) -> Result<Date, TimeError> {
        Date::new(d.year(), d.month(), d.day())
    }
    /// `self + years`, clamping Feb 29 to Feb 28 in a non-leap target year.
    pub fn plus_years(self, years: i16) -> Result<Date, TimeError> {
        let y = self
            .0
            .year()
            .checked_add(years)
            .ok_or(TimeError::OutOfRange)?;
        let last = jiff::civil::Date::new(y, self.0.month(), 1)
            .map_err(|_| TimeError::OutOfRange)?
            .last_of_month()
            .day();
        Date::new(y, self.0.month(), self.0.day().min(last))
    }
    /// The next day.
    pub fn next_day(self) -> Result<Date, TimeError> {
        self.0
            .tomorrow()
            .map_err(|_| TimeError::OutOfRange)
            .and_then(Date::from_civil)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            self.0.month(),
            self.0.day()
        )
    }
}
impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}
impl std::str::FromStr for Date {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Date, TimeError> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Month and day are 1..=31, validated on construction: the casts lose nothing.
        let (m, d) = (self.0.month().unsigned_abs(), self.0.day().unsigned_abs());
        (self.0.year(), m, d).serialize(s)
    }
}
impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (y, m, day) = <(i16, u8, u8)>::deserialize(d)?;
        let m = i8::try_from(m).map_err(serde::de::Error::custom)?;
        let day = i8::try_from(day).map_err(serde::de::Error::custom)?;
        Date::new(y, m, day).map_err(serde::de::Error::custom)
    }
}

/// A point in time on the ledger's clock: microseconds since 1970-01-01T00:00:00Z.
///
/// `recorded_at` is set by the store when it appends; it never goes backwards.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp(jiff::Timestamp::now().as_microsecond())
    }
    /// Microseconds since the Unix epoch.
    pub fn micros(self) -> i64 {
        self.0
    }
    /// The jiff timestamp, or an error when out of jiff's range.
    pub fn to_jiff(self) -> Result<jiff::Timestamp, TimeError> {
        jiff::Timestamp::from_microsecond(self.0).map_err(|_| TimeError::OutOfRange)
    }
    /// The UTC civil date of this instant: the date at which a destruction's lawfulness is judged.
    pub fn date_utc(self) -> Result<Date, TimeError> {
        let ts = self.to_jiff()?;
        Date::from_civil(ts.to_zoned(jiff::tz::TimeZone::UTC).date())
    }
    /// The calendar date of this instant in `zone` (the practice's time zone, from genesis).
    pub fn date_in(self, zone: &jiff::tz::TimeZone) -> Result<Date, TimeError> {
        let ts = self.to_jiff()?;
        Date::from_civil(ts.to_zoned(zone.clone()).date())
    }
    /// Midnight UTC at the start of `date`.
    pub fn start_of(date: Date) -> Result<Timestamp, TimeError> {
        let z = date
            .civil()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| TimeError::OutOfRange)?;
        Ok(Timestamp(z.timestamp().as_microsecond()))
    }
}
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_jiff() {
            Ok(t) => write!(f, "{t}"),
            Err(_) => write!(f, "@{}us", self.0),
        }
    }
}
impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        assert_eq!(
            Date::parse("2024-02-29").map(|d| d.to_string()),
            Ok("2024-02-29".into())
        );
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "2024-02-29T00:00",
            "1899-12-31",
            "+024-01-01",
            "2024/01/01",
            "",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plus_years_clamps_leap_day() {
        let d = Date::parse("2024-02-29").unwrap();
        assert_eq!(d.plus_years(5).unwrap().to_string(), "2029-02-28");
        assert_eq!(d.plus_years(4).unwrap().to_string(), "2028-02-29");
        assert_eq!(
            d.plus_years(5).unwrap().next_day().unwrap().to_string(),
            "2029-03-01"
        );
    }

    #[test]
    fn timestamp_date_is_utc() {
        let d = Date::parse("2020-06-01").unwrap();
        let t = Timestamp::start_of(d).unwrap();
        assert_eq!(t.date_utc().unwrap(), d);
        assert_eq!(
            Timestamp(t.0 - 1).date_utc().unwrap().to_string(),
            "2020-05-31"
        );
    }
}
