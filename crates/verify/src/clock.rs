//! The ledger clock as the verifier judges it (DESIGN v2 principle 4, the verifier's half):
//!
//! * every `clock_corrected` entry is a fact of the result ([`ClockCorrection`]: when, by
//!   whom, how far back), shown by `verify` and the retention report;
//! * a destruction whose `recorded_at` is later than the `recorded_at` of a *later*
//!   `clock_corrected` entry was recorded while the clock ran ahead: it is judged again at
//!   the corrected date (the correction's ledger date), and if unlawful then it is a
//!   `destruction_under_forward_clock` finding naming both entries;
//! * an entry recorded after the verifier's own clock plus the genesis skew claims a time in
//!   the verifier's future: `clock_ahead` (one finding at the first such entry, with the
//!   count).
//!
//! No finding is ever made for an entry merely absent from an earlier anchored checkpoint
//! (an honest seal may be in flight).

use crate::finding::{Finding, FindingKind};
use caseledger_core::record::{RecordState, Registry};
use caseledger_core::{ActorId, Date, RecordId, Seq, Timestamp};

/// A `clock_corrected` entry, as the verifier read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockCorrection {
    /// The entry.
    pub seq: u64,
    /// Its `recorded_at`: the corrected clock.
    pub recorded_at: Timestamp,
    /// Its ledger date (practice time zone), if representable.
    pub date: Option<Date>,
    /// The admin who recorded it.
    pub by: ActorId,
    /// The ledger clock before it (the latest `recorded_at` so far), if any.
    pub previous: Option<Timestamp>,
    /// How far the clock was set back, in seconds (0 when it did not go back).
    pub back_by_secs: i64,
    /// The reason the admin gave (administration text, never clinical content).
    pub reason: String,
}

/// A destruction re-judged at a later correction's date and found unlawful then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardClockDestruction {
    /// The destruction entry.
    pub destruction: u64,
    /// The `clock_corrected` entry that exposed it.
    pub correction: u64,
    /// The record.
    pub record: RecordId,
}

/// A destruction lawful at its own `recorded_at`, kept to be judged again if a later
/// correction shows the clock ran ahead.
struct Pending {
    seq: Seq,
    recorded_at: Timestamp,
    record: RecordId,
    /// The record's state just before the destruction.
    before: RecordState,
    /// Judged unlawful at some correction already (reported once).
    exposed: bool,
}

/// What the replay tracks of the clock.
pub(crate) struct ClockWatch {
    now: Timestamp,
    pending: Vec<Pending>,
    pub(crate) corrections: Vec<ClockCorrection>,
    pub(crate) forward: Vec<ForwardClockDestruction>,
    /// Entries recorded in the verifier's future: first seq, count, latest `recorded_at`.
    ahead: Option<(u64, u64, Timestamp)>,
}

impl ClockWatch {
    pub(crate) fn new(now: Timestamp) -> ClockWatch {
        ClockWatch {
            now,
            pending: Vec::new(),
            corrections: Vec::new(),
            forward: Vec::new(),
            ahead: None,
        }
    }

    /// Every entry: is it recorded after the verifier's clock plus the skew?
    pub(crate) fn observe(&mut self, seq: u64, recorded_at: Timestamp, registry: &Registry) {
        let skew = i64::from(registry.settings.clock_skew_secs).saturating_mul(1_000_000);
        if recorded_at.micros() > self.now.micros().saturating_add(skew) {
            let a = self.ahead.get_or_insert((seq, 0, recorded_at));
            a.1 += 1;
            a.2 = a.2.max(recorded_at);
        }
    }

    /// A destruction the fold found lawful at its own date; `before` is the record's state
    /// just before it.
    pub(crate) fn destruction(
        &mut self,
        seq: Seq,
        recorded_at: Timestamp,
        record: &RecordId,
        before: &RecordState,
    ) {
        self.pending.push(Pending {
            seq,
            recorded_at,
            record: record.clone(),
            before: before.clone(),
            exposed: false,
        });
    }

    /// A `clock_corrected` entry (before the fold applies it: `registry` still holds the
    /// clock before the correction). Every earlier destruction recorded after the corrected
    /// time is judged again at the correction's ledger date; returns the findings.
    pub(crate) fn correction(
        &mut self,
        seq: Seq,
        recorded_at: Timestamp,
        by: &ActorId,
        reason: &str,
        registry: &Registry,
    ) -> Vec<Finding> {
        let previous = registry.last_recorded_at;
        let back_by_secs = previous.map_or(0, |p| {
            p.micros()
                .saturating_sub(recorded_at.micros())
                .max(0)
                .div_euclid(1_000_000)
        });
        let date = registry.ledger_date(recorded_at).ok();
        self.corrections.push(ClockCorrection {
            seq: seq.0,
            recorded_at,
            date,
            by: by.clone(),
            previous,
            back_by_secs,
            reason: reason.to_owned(),
        });
        let mut findings = Vec::new();
        let Some(date) = date else { return findings };
        for p in self
            .pending
            .iter_mut()
            .filter(|p| !p.exposed && p.recorded_at > recorded_at)
        {
            if let Err(v) = p.before.check_destruction(&p.record, date) {
                p.exposed = true;
                self.forward.push(ForwardClockDestruction {
                    destruction: p.seq.0,
                    correction: seq.0,
                    record: p.record.clone(),
                });
                findings.push(
                    Finding::new(
                        FindingKind::DestructionUnderForwardClock,
                        Some(p.seq.0),
                        Some(p.record.clone()),
                        format!(
                            "destruction at seq {} was recorded at {} with a clock running ahead: clock_corrected at seq {} set the ledger clock back to {}; judged on the corrected date {date}: {v}",
                            p.seq.0,
                            instant(p.recorded_at),
                            seq.0,
                            instant(recorded_at),
                        ),
                    )
                    .expected_found(
                        format!("destruction lawful on {date}"),
                        format!("unlawful (clock_corrected at seq {})", seq.0),
                    ),
                );
            }
        }
        findings
    }

    /// The `clock_ahead` finding, if any entry claims a time in the verifier's future.
    pub(crate) fn ahead_finding(&self, registry: &Registry) -> Option<Finding> {
        let (first, count, latest) = self.ahead?;
        Some(
            Finding::new(
                FindingKind::ClockAhead,
                Some(first),
                None,
                format!(
                    "{count} entr{} recorded after the verifier's clock ({}) plus the ledger's skew of {} s, the latest at {}: the ledger claims a time in the verifier's future",
                    if count == 1 { "y is" } else { "ies are" },
                    instant(self.now),
                    registry.settings.clock_skew_secs,
                    instant(latest),
                ),
            )
            .expected_found(
                format!("recorded_at at most {}", instant(self.now)),
                instant(latest),
            ),
        )
    }
}

/// An instant as RFC 3339 UTC, to the second (rounded down).
pub fn instant(t: Timestamp) -> String {
    let secs = t.micros().div_euclid(1_000_000);
    exact(Timestamp(secs.saturating_mul(1_000_000)))
}

/// An instant as RFC 3339 UTC, to the microsecond (the ledger clock's precision).
pub fn exact(t: Timestamp) -> String {
    t.to_jiff()
        .map_or_else(|_| format!("@{}us", t.micros()), |j| j.to_string())
}
