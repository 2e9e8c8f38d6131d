//! Attested destruction (issue 14, DESIGN v2 principle 4): what a destruction's time
//! citation (format 4) proves, on the relying party's terms.
//!
//! # The rule
//!
//! A destruction citing a time T (a cosignature's timestamp, or a token's genTime minus its
//! accuracy: the destroyer had seen it, so the destruction was signed after T) is
//! **"lawful, attested by <source>"** only when
//!
//! * its citation **counts**: a cosignature by a witness key the relying party named
//!   (`--witness`) that verifies over the cited body, or a token that verifies against the
//!   relying party's roots (`--tsa-chain`) as of its genTime over the cited body; and the
//!   cited body is a checkpoint of this ledger (its origin) of a size at most the
//!   destruction's seq whose root is the ledger's at that size;
//! * the destruction is lawful on the claimed dates (the fold's rule); and
//! * T's calendar day (in the practice's zone) is on or after the **attested lawful date**:
//!   the day after five years from the latest of the claimed retention start, the day of
//!   U(termination) and the day of U(last service or contact entry), where U(i) is the
//!   first outside time covering entry i ([`crate::outside_time`]'s bound B(i) under the
//!   policy's quorum). With no U for either entry, nothing is attested.
//!
//! Otherwise a lawful destruction reads **"lawful by the ledger's clock"** when its ledger
//! date is on or after the same date computed from the ledger's own `recorded_at` of those
//! entries (no outside time), else **"lawful on claimed dates only"** (the termination was
//! recorded too recently for the claimed dates to be the ledger's own: history imported in
//! one sitting).
//!
//! A citation that is not the ledger's, or does not verify where the relying party can check
//! it, is a `bad_time_citation` finding. One it cannot check (a witness it did not name, a
//! token without `--tsa-chain` or from a TSA outside its roots, a size whose root this run
//! does not know) simply does not count.
//!
//! Limits: on an incremental run (`--from-state`), entries before the resume point have no
//! U and no `recorded_at` here, so a destruction whose termination is before it is never
//! attested by that run.

use crate::finding::{Finding, FindingKind};
use crate::outside_time::TimeSource;
use crate::policy::Policy;
use caseledger_core::citation::{RawCitation, TimeCitation};
use caseledger_core::merkle::Hash;
use caseledger_core::note::Note;
use caseledger_core::record::{lawful_from, RecordState, Registry};
use caseledger_core::{Date, RecordId, Timestamp};
use std::collections::HashMap;

/// On what a destruction's lawfulness rests (report `time_basis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Lawful, attested by outside time the relying party trusts.
    Attested,
    /// Lawful by the ledger's own `recorded_at`, no outside time.
    LedgerClock,
    /// Lawful on the claimed dates only.
    ClaimedDatesOnly,
    /// Not lawful.
    Unlawful,
}

impl Basis {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Basis::Attested => "attested",
            Basis::LedgerClock => "ledger_clock",
            Basis::ClaimedDatesOnly => "claimed_dates_only",
            Basis::Unlawful => "unlawful",
        }
    }
}

/// What the verifier concluded about one destruction's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// The destruction entry.
    pub destruction: u64,
    /// Its record.
    pub record: RecordId,
    /// `cosignature` or `timestamp`, when the destruction cites a time.
    pub citation: Option<&'static str>,
    /// The size of the cited checkpoint.
    pub cited_size: Option<u64>,
    /// Who gives the cited time, when the citation counts.
    pub cited_by: Option<TimeSource>,
    /// T, when the citation counts.
    pub cited_time: Option<Timestamp>,
    /// Why the citation does not count (none cited, or what was missing or wrong).
    pub not_counted: Option<String>,
    /// U(termination in force).
    pub termination_seen: Option<Timestamp>,
    /// U(last service or contact entry).
    pub service_seen: Option<Timestamp>,
    /// The attested lawful date, when the entries have outside times.
    pub attested_lawful_from: Option<Date>,
    /// The lawful date by the ledger's own `recorded_at` of those entries.
    pub ledger_lawful_from: Option<Date>,
    /// The conclusion.
    pub basis: Basis,
}

impl Attestation {
    /// The report's words.
    pub fn words(&self) -> String {
        match (self.basis, &self.cited_by) {
            (Basis::Attested, Some(by)) => format!("lawful, attested by {by}"),
            (b, _) => Attestation::words_of(b),
        }
    }

    /// The words of a basis without its source (`attested` names none here).
    pub fn words_of(basis: Basis) -> String {
        match basis {
            Basis::Attested => "lawful, attested".to_owned(),
            Basis::LedgerClock => "lawful by the ledger's clock".to_owned(),
            Basis::ClaimedDatesOnly => "lawful on claimed dates only".to_owned(),
            Basis::Unlawful => "not lawful".to_owned(),
        }
    }
}

/// What the replay knew about a destroyed record.
pub(crate) struct Destroyed<'a> {
    pub record: &'a RecordId,
    pub state: &'a RecordState,
    /// `recorded_at` of the termination in force and of the last service or contact entry.
    pub recorded: (Option<Timestamp>, Option<Timestamp>),
    /// The citation, if the destruction carries one.
    pub citation: Option<&'a TimeCitation>,
}

/// Checks a citation: `Ok((source, T))` when it counts, `Err(why)` when it does not (a
/// finding pushed when it is wrong rather than merely unverifiable here).
fn judge_citation(
    policy: &Policy,
    origin: &str,
    roots: &HashMap<u64, Hash>,
    seq: u64,
    record: &RecordId,
    c: &TimeCitation,
    findings: &mut Vec<Finding>,
) -> Result<(TimeSource, Timestamp), String> {
    let cp = c.checkpoint();
    let mut bad = |why: String| {
        findings.push(
            Finding::new(
                FindingKind::BadTimeCitation,
                Some(seq),
                Some(record.clone()),
                format!(
                    "the destruction's {} citation (checkpoint size {}) does not hold: {why}",
                    c.kind_name(),
                    cp.size
                ),
            )
            .expected_found("a citation of this ledger that verifies", why.clone()),
        );
        why
    };
    if cp.origin != origin {
        return Err(bad("its checkpoint names another origin".to_owned()));
    }
    if cp.size > seq {
        return Err(bad(format!(
            "its checkpoint covers {} entries, but the destruction is entry {seq}: it cannot have been seen before the destruction was signed",
            cp.size
        )));
    }
    match roots.get(&cp.size) {
        None => {
            return Err(format!(
                "the ledger's root at size {} is not known to this run (no checkpoint of that size is stored or supplied)",
                cp.size
            ))
        }
        Some(r) if *r != cp.root => {
            return Err(bad(format!(
                "its root is not the ledger's at size {}",
                cp.size
            )))
        }
        Some(_) => {}
    }
    match c.raw() {
        RawCitation::Cosignature { body, line } => {
            let parsed = Note::parse(format!("{body}\n{line}\n").as_bytes())
                .map_err(|e| bad(format!("the cosignature line does not parse: {e}")))?;
            let sig = parsed
                .signatures()
                .first()
                .ok_or_else(|| bad("no cosignature line".to_owned()))?;
            let Some(w) = policy
                .distinct_witnesses()
                .into_iter()
                .find(|w| w.name() == sig.name && w.key_id() == sig.key_id)
            else {
                return Err(format!(
                    "a cosignature by {}, a witness key the relying party did not name (--witness)",
                    sig.name
                ));
            };
            match w.verify_line(&cp, line) {
                Ok(t) => Ok((
                    TimeSource::Witness(w.name().to_owned(), w.to_vkey_string()),
                    Timestamp(
                        i64::try_from(t)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(1_000_000),
                    ),
                )),
                Err(e) => Err(bad(format!(
                    "the cosignature by {} does not verify over the cited body: {e}",
                    w.name()
                ))),
            }
        }
        RawCitation::Timestamp { body, token } => {
            use caseledger_timestamp::TimestampError as E;
            let Some(tsa_roots) = &policy.tsa_roots else {
                // Without roots, what can be checked still is: a token over other bytes.
                return match caseledger_timestamp::unanchored_gen_time(token, body.as_bytes()) {
                    Ok(_) => Err("a time-stamp token, and the relying party named no TSA roots (--tsa-chain)".to_owned()),
                    Err(e @ (E::ImprintMismatch | E::BadSignature { .. } | E::Malformed { .. })) => {
                        Err(bad(format!("the token does not verify over the cited body: {e}")))
                    }
                    Err(e) => Err(format!("the token cannot be checked without TSA roots: {e}")),
                };
            };
            match caseledger_timestamp::verify_token(token, body.as_bytes(), tsa_roots) {
                Ok(v) => {
                    // The lower end of the TSA's window: the token existed no earlier.
                    let gen = v.gen_time();
                    let low = v
                        .accuracy()
                        .and_then(|a| gen.checked_sub(a).ok())
                        .unwrap_or(gen);
                    Ok((
                        TimeSource::Tsa(v.signer().to_owned()),
                        Timestamp(low.as_microsecond()),
                    ))
                }
                Err(e @ (E::Untrusted { .. } | E::Roots(_))) => Err(format!(
                    "the token does not chain to the relying party's TSA roots: {e}"
                )),
                Err(e) => Err(bad(format!("the token does not verify: {e}"))),
            }
        }
    }
}

/// The day of an instant in the practice's zone.
fn day(registry: &Registry, t: Timestamp) -> Option<Date> {
    registry.ledger_date(t).ok()
}

/// The lawful date from a claimed start and the days of two instants (the later of all).
fn lawful_after(
    registry: &Registry,
    claimed: Date,
    a: Option<Timestamp>,
    b: Option<Timestamp>,
) -> Option<Date> {
    let mut start = claimed;
    for t in [a, b].into_iter().flatten() {
        start = start.max(day(registry, t)?);
    }
    lawful_from(start).ok()
}

/// Judges every destroyed record's time. `bounds` holds U(i) for the entries asked for
/// (absent: no outside time covers it, or outside time was not judged).
#[allow(clippy::too_many_arguments)]
pub(crate) fn judge(
    policy: &Policy,
    registry: &Registry,
    origin: &str,
    roots: &HashMap<u64, Hash>,
    bounds: &HashMap<u64, i64>,
    destroyed: &[Destroyed<'_>],
    findings: &mut Vec<Finding>,
) -> Vec<Attestation> {
    let mut out = Vec::with_capacity(destroyed.len());
    for d in destroyed {
        let Some(dd) = &d.state.destroyed else {
            continue;
        };
        let seq = dd.seq.0;
        let cited = d
            .citation
            .map(|c| judge_citation(policy, origin, roots, seq, d.record, c, findings));
        let u = |s: Option<caseledger_core::Seq>| {
            s.and_then(|s| bounds.get(&s.0)).map(|m| Timestamp(*m))
        };
        let termination_seen = u(d.state.terminated_seq);
        let service_seen = u(d.state.last_service_or_contact_seq);
        let claimed = d.state.retention_start();
        // U is needed for each entry that exists: a last service entry with no outside
        // time leaves the date unattested.
        let attested_lawful_from = match (claimed, termination_seen) {
            (Some(c), Some(_))
                if d.state.last_service_or_contact_seq.is_none() || service_seen.is_some() =>
            {
                lawful_after(registry, c, termination_seen, service_seen)
            }
            _ => None,
        };
        let ledger_lawful_from = match (claimed, d.recorded.0) {
            (Some(c), Some(_)) => lawful_after(registry, c, d.recorded.0, d.recorded.1),
            _ => None,
        };
        let (cited_by, cited_time, not_counted) = match cited {
            None => (None, None, Some("no time cited".to_owned())),
            Some(Ok((s, t))) => (Some(s), Some(t), None),
            Some(Err(why)) => (None, None, Some(why)),
        };
        let attested = match (cited_time, attested_lawful_from) {
            (Some(t), Some(from)) => day(registry, t).is_some_and(|td| td >= from),
            _ => false,
        };
        let basis = if !dd.lawful {
            Basis::Unlawful
        } else if attested {
            Basis::Attested
        } else if ledger_lawful_from.is_some_and(|from| dd.on >= from) {
            Basis::LedgerClock
        } else {
            Basis::ClaimedDatesOnly
        };
        out.push(Attestation {
            destruction: seq,
            record: d.record.clone(),
            citation: d.citation.map(TimeCitation::kind_name),
            cited_size: d.citation.map(|c| c.checkpoint().size),
            cited_by,
            cited_time,
            not_counted,
            termination_seen,
            service_seen,
            attested_lawful_from,
            ledger_lawful_from,
            basis,
        });
    }
    out
}
