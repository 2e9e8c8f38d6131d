//! Dates and instants as people and reports read them (docs/FORMAT.md: dates are
//! `YYYY-MM-DD`, instants RFC 3339 UTC). Found unpinned by mutation testing
//! (docs/RELIABILITY.md "Mutation testing").

use caseledger_core::time::{Date, Timestamp};

/// `YYYY-MM-DD` and nothing else: each separator must be a hyphen, wherever the other one
/// is right (a date typed as `2012-03x01` is not silently read as 1 March).
#[test]
fn each_separator_must_be_a_hyphen() {
    for bad in [
        "2012-03x01",
        "2012x03-01",
        "2012-03 01",
        "2012/03-01",
        "201203-01",
    ] {
        assert!(Date::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Date::parse("2012-03-01").unwrap().to_string(), "2012-03-01");
}

/// The year of a date is the one written (the retention rule adds five to it).
#[test]
fn year_is_the_written_year() {
    for (s, y) in [
        ("2024-02-29", 2024),
        ("1900-01-01", 1900),
        ("9999-12-31", 9999),
    ] {
        assert_eq!(Date::parse(s).unwrap().year(), y, "{s}");
    }
}

/// Instants print as RFC 3339 UTC (to the microsecond the clock keeps), and one outside the
/// calendar's range still prints (as raw microseconds) instead of failing: these appear in
/// refusals, findings and reports. `Debug` names the type around the same text.
#[test]
fn instants_and_dates_print_for_people() {
    let day = Date::parse("2024-02-29").unwrap();
    let t = Timestamp::start_of(day).unwrap();
    assert_eq!(t.to_string(), "2024-02-29T00:00:00Z");
    assert_eq!(
        Timestamp(t.0 + 1).to_string(),
        "2024-02-29T00:00:00.000001Z"
    );
    assert_eq!(Timestamp(i64::MAX).to_string(), format!("@{}us", i64::MAX));
    assert_eq!(format!("{t:?}"), "Timestamp(2024-02-29T00:00:00Z)");
    assert_eq!(format!("{day:?}"), "Date(2024-02-29)");
}
