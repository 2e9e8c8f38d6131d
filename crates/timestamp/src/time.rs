//! genTime: a DER GeneralizedTime `YYYYMMDDHHMMSS[.f+]Z` (RFC 3161 §2.4.2 allows a fraction
//! of a second; DER forbids trailing zeros in it and requires `Z`).

use crate::error::{Result, TimestampError};
use der::{Any, Tag, Tagged};

fn bad(why: &str) -> TimestampError {
    TimestampError::invalid("genTime", why)
}

/// Parses genTime into a UTC instant.
pub(crate) fn gen_time(any: &Any) -> Result<jiff::Timestamp> {
    if any.tag() != Tag::GeneralizedTime {
        return Err(bad("not a GeneralizedTime"));
    }
    let s = std::str::from_utf8(any.value()).map_err(|_| bad("not ASCII"))?;
    let s = s.strip_suffix('Z').ok_or_else(|| bad("not UTC (no Z)"))?;
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not YYYYMMDDHHMMSS"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<i16> {
        whole
            .get(r)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| bad("not YYYYMMDDHHMMSS"))
    };
    let nanos = match frac {
        None => 0,
        Some(f) => {
            let canonical = !f.is_empty()
                && f.len() <= 9
                && f.bytes().all(|b| b.is_ascii_digit())
                && !f.ends_with('0');
            if !canonical {
                return Err(bad("fraction of a second is not canonical DER"));
            }
            let digits: i32 = f.parse().map_err(|_| bad("bad fraction"))?;
            let scale = 10i32.pow(9 - u32::try_from(f.len()).unwrap_or(9));
            digits * scale
        }
    };
    let dt = jiff::civil::DateTime::new(
        num(0..4)?,
        i8::try_from(num(4..6)?).map_err(|_| bad("month"))?,
        i8::try_from(num(6..8)?).map_err(|_| bad("day"))?,
        i8::try_from(num(8..10)?).map_err(|_| bad("hour"))?,
        i8::try_from(num(10..12)?).map_err(|_| bad("minute"))?,
        i8::try_from(num(12..14)?).map_err(|_| bad("second"))?,
        nanos,
    )
    .map_err(|_| bad("not a valid date and time"))?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|_| bad("out of range"))
}

/// A certificate validity bound as an instant.
pub(crate) fn cert_time(t: &x509_cert::time::Time) -> Result<jiff::Timestamp> {
    let d = t.to_unix_duration();
    let secs = i64::try_from(d.as_secs()).map_err(|_| bad("certificate time out of range"))?;
    jiff::Timestamp::from_second(secs).map_err(|_| bad("certificate time out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(s: &str) -> Any {
        Any::new(Tag::GeneralizedTime, s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_whole_and_fractional_seconds_and_refuses_non_der_forms() {
        assert_eq!(
            gen_time(&gt("20261202125000Z")).unwrap().to_string(),
            "2026-12-02T12:50:00Z"
        );
        assert_eq!(
            gen_time(&gt("20261202125000.25Z")).unwrap().to_string(),
            "2026-12-02T12:50:00.25Z"
        );
        for bad in [
            "20261202125000",
            "20261202125000.50Z",
            "20261202125000.Z",
            "2026120212500Z",
            "20261302125000Z",
            "20261202125000+0100",
            "20261202125000.1234567891Z",
        ] {
            assert!(gen_time(&gt(bad)).is_err(), "{bad}");
        }
        let utc = Any::new(Tag::UtcTime, b"261202125000Z".as_slice()).unwrap();
        assert!(gen_time(&utc).is_err());
    }
}
