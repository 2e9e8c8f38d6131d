//! Outside time, on the relying party's terms (issue 14): the times that witnesses and TSAs
//! the relying party named give to the ledger's checkpoints bound the `recorded_at` of the
//! entries those checkpoints cover.
//!
//! # The evidence
//!
//! * A **witness** the relying party named (`--witness K`, one source per distinct key): the
//!   timestamp of each valid `cosignature/v1` line of that key on a validly signed note of a
//!   checkpoint whose root matches the ledger at its size (a stored note, its
//!   `checkpoints.log` copy, or one the relying party supplied). A witness signs a
//!   checkpoint only once it has seen it, so every entry the checkpoint covers was recorded
//!   by then.
//! * A **TSA** the relying party trusts (`--tsa-chain FILE`, one source per signing
//!   certificate subject): the upper bound (genTime plus its accuracy) of each RFC 3161
//!   token in `timestamps.log` that verifies against those roots as of its genTime and is
//!   over a checkpoint body of this ledger's origin whose root matches the ledger at its
//!   size.
//!
//! The practice's own configuration (its `witnesses.txt`, the TSA it uses) never decides:
//! a cosignature by an unnamed key, a token that does not chain to the relying party's
//! roots, counts for nothing.
//!
//! # The bound (the exact rule)
//!
//! Let `k = max(quorum, 1)` (`--quorum N`; without it, 1). For a source `w` and entry `i`,
//! `T_w(i)` is the earliest time `w` gives to any counted checkpoint of size `> i` (every
//! such checkpoint covers entry `i`). The entry's bound is
//!
//! ```text
//! B(i) = the k-th smallest of { T_w(i) : every source w that gives entry i a time }
//! ```
//!
//! and there is none when fewer than `k` sources do. With `k = f + 1`, up to `f` sources
//! whose clocks run slow (early times: they would accuse an honest ledger) are tolerated;
//! a source whose clock runs fast only loosens the bound. A TSA is one more source,
//! independent of the witnesses.
//!
//! An entry with `recorded_at > B(i) + skew` (skew: `--skew`, default 5 minutes) claims to
//! have been recorded after outside evidence saw it: a `clock_ahead_of_witness` finding,
//! one per run of consecutive such entries, naming the first entry, the checkpoint size and
//! the source whose time is the bound, with the count.
//!
//! An entry merely absent from an earlier checkpoint is never a finding (a witness times a
//! request's arrival, and a seal may be in flight): the delay `B(i) - recorded_at(i)` is
//! the entry's **anchor lag**, summarised (largest, median, entries with no outside time
//! yet) in [`OutsideTime`], never judged.
//!
//! # Staleness
//!
//! The **newest outside time** is the k-th largest of the sources' latest times (at least
//! `k` sources saw the ledger then or later). With `--max-staleness D`, the head's
//! `recorded_at` more than `D` after it (or no outside time at all) is an `anchor_stale`
//! finding. It is compared with the head's `recorded_at`, never with today: a ledger that is
//! idle or closed is not stale.
//!
//! Memory: the `recorded_at` of every entry read (8 bytes each), kept only when the policy
//! names witnesses or TSA roots.

use crate::finding::{Finding, FindingKind};
use crate::policy::Policy;
use crate::source::LedgerSource;
use crate::VerifyError;
use caseledger_core::checkpoint::{verify_cosignatures, Checkpoint};
use caseledger_core::merkle::Hash;
use caseledger_core::note::Note;
use caseledger_core::Timestamp;
use std::collections::{HashMap, HashSet};
use std::fmt;

pub use crate::timespan::{TimeSpan, TimeSpanError, DEFAULT_SKEW};

/// A source of outside time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeSource {
    /// A witness the relying party named: its key name, and its verifier key string (a
    /// witness is its key: two keys under one name are two sources).
    Witness(String, String),
    /// A TSA chaining to the relying party's roots: its signing certificate's subject.
    Tsa(String),
}

impl fmt::Display for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSource::Witness(n, _) => write!(f, "witness {n}"),
            TimeSource::Tsa(n) => write!(f, "TSA {n}"),
        }
    }
}

/// What the outside time showed (on [`Verified::outside_time`](crate::Verified::outside_time)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutsideTime {
    /// The policy in words (see [`Policy::time_policy`]).
    pub policy: String,
    /// The sources that gave the ledger a time (each once).
    pub sources: Vec<TimeSource>,
    /// Entries judged: the entries read (an incremental run reads only the new ones).
    pub judged_from: u64,
    /// Entries read that have an outside time (a bound).
    pub covered: u64,
    /// Entries read with no outside time yet (after the newest checkpoint the sources saw, or
    /// seen by fewer sources than the quorum).
    pub uncovered: u64,
    /// The largest anchor lag (bound minus `recorded_at`), in seconds; negative when every
    /// covered entry claims a time after its bound (within the skew).
    pub max_lag_secs: Option<i64>,
    /// The median anchor lag, in seconds.
    pub median_lag_secs: Option<i64>,
    /// The newest outside time (see the module docs).
    pub newest: Option<Timestamp>,
    /// The head's `recorded_at`.
    pub head: Option<Timestamp>,
    /// Time-stamp tokens counted.
    pub tokens_counted: usize,
    /// Tokens not counted, each with why (no content: sizes and reasons only).
    pub tokens_ignored: Vec<String>,
}

/// A token read from the source before the replay, its checkpoint parsed.
pub(crate) struct Token {
    body: String,
    checkpoint: Option<Checkpoint>,
    der: Vec<u8>,
}

/// The tokens of the source's `timestamps.log`, when the policy has TSA roots. A log that
/// does not parse is not an error: its tokens are not counted, and the summary says why.
pub(crate) fn gather_tokens(
    source: &dyn LedgerSource,
    policy: &Policy,
) -> Result<(Vec<Token>, Vec<String>), VerifyError> {
    if policy.tsa_roots.is_none() {
        return Ok((Vec::new(), Vec::new()));
    }
    let Some(bytes) = source.timestamps()? else {
        return Ok((Vec::new(), Vec::new()));
    };
    match caseledger_timestamp::log::parse(&bytes) {
        Ok(parsed) => Ok((
            parsed
                .tokens
                .into_iter()
                .map(|t| Token {
                    checkpoint: Checkpoint::parse_body(&t.body).ok(),
                    body: t.body,
                    der: t.token,
                })
                .collect(),
            Vec::new(),
        )),
        Err(e) => Ok((Vec::new(), vec![format!("timestamps.log: {e}")])),
    }
}

/// The checkpoint sizes the tokens name (the replay keeps the ledger's root at each).
pub(crate) fn token_sizes(tokens: &[Token]) -> impl Iterator<Item = u64> + '_ {
    tokens
        .iter()
        .filter_map(|t| t.checkpoint.as_ref().map(|c| c.size))
}

/// What the judgement needs from the replay.
pub(crate) struct Ledger<'a> {
    /// The origin genesis names.
    pub origin: &'a str,
    /// Entries in the ledger.
    pub size: u64,
    /// The ledger's root at each size the replay kept.
    pub roots: &'a HashMap<u64, Hash>,
    /// The first seq read.
    pub from: u64,
    /// `recorded_at` (micros) of each entry read from `from`; `i64::MIN` for an entry that
    /// did not decode (it claims no time).
    pub recorded: &'a [i64],
    /// The head's `recorded_at` (the last entry read, else the ledger clock of the state).
    pub head: Option<Timestamp>,
}

/// One time a source gives a checkpoint.
#[derive(Clone, Copy)]
struct Seen {
    size: u64,
    source: usize,
    micros: i64,
}

/// Judges the entries against the outside time: the findings, and the summary; with the
/// bound B(i) (micros) of each entry of `want` that has one (U(i) of [`crate::attest`]).
pub(crate) fn judge(
    policy: &Policy,
    matched_notes: &[(u64, &Note)],
    tokens: &[Token],
    mut tokens_ignored: Vec<String>,
    ledger: &Ledger<'_>,
    want: &HashSet<u64>,
    findings: &mut Vec<Finding>,
) -> (OutsideTime, HashMap<u64, i64>) {
    let mut bounds: HashMap<u64, i64> = HashMap::new();
    let mut sources: Vec<TimeSource> = Vec::new();
    let mut index = |s: TimeSource| match sources.iter().position(|x| *x == s) {
        Some(i) => i,
        None => {
            sources.push(s);
            sources.len() - 1
        }
    };
    let mut seen: Vec<Seen> = Vec::new();
    for w in policy.distinct_witnesses() {
        let src = TimeSource::Witness(w.name().to_owned(), w.to_vkey_string());
        for (size, note) in matched_notes {
            let Ok(lines) = verify_cosignatures(note, std::slice::from_ref(&w)) else {
                continue;
            };
            for t in lines.iter().filter_map(|l| l.timestamp) {
                let micros = i64::try_from(t)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000);
                seen.push(Seen {
                    size: *size,
                    source: index(src.clone()),
                    micros,
                });
            }
        }
    }
    let mut tokens_counted = 0;
    if let Some(roots) = &policy.tsa_roots {
        for t in tokens {
            let Some(cp) = &t.checkpoint else {
                tokens_ignored.push("a token over bytes that are not a checkpoint body".into());
                continue;
            };
            let why = if cp.origin != ledger.origin {
                Some("its checkpoint names another origin".to_owned())
            } else if cp.size > ledger.size {
                Some(format!(
                    "its checkpoint names {} entries, more than the ledger holds",
                    cp.size
                ))
            } else if ledger.roots.get(&cp.size) != Some(&cp.root) {
                Some("its checkpoint's root is not the ledger's at that size (or it is below the resume point)".to_owned())
            } else {
                None
            };
            if let Some(why) = why {
                tokens_ignored.push(format!("token over size {}: {why}", cp.size));
                continue;
            }
            match caseledger_timestamp::verify_token(&t.der, t.body.as_bytes(), roots) {
                Ok(v) => {
                    tokens_counted += 1;
                    let micros = v.upper_bound().as_microsecond();
                    seen.push(Seen {
                        size: cp.size,
                        source: index(TimeSource::Tsa(v.signer().to_owned())),
                        micros,
                    });
                }
                Err(e) => tokens_ignored.push(format!(
                    "token over size {}: does not verify against the TSA chain: {e}",
                    cp.size
                )),
            }
        }
    }
    let k = policy.quorum.max(1);
    let n = sources.len();
    // Per source, the earliest time on each size; then walked from the largest size down.
    seen.sort_by(|a, b| b.size.cmp(&a.size).then(a.micros.cmp(&b.micros)));
    let mut cur: Vec<Option<(i64, u64)>> = vec![None; n];
    let mut next = 0;
    let skew = policy.skew.unwrap_or(DEFAULT_SKEW).micros();
    let mut lags: Vec<i64> = Vec::new();
    let mut uncovered = 0u64;
    // Runs of entries ahead of their bound, found walking down: (first, last, count,
    // bound's size, bound's source, bound, latest recorded_at).
    let mut runs: Vec<Run> = Vec::new();
    let mut open: Option<Run> = None;
    let mut buf: Vec<(i64, u64, usize)> = Vec::with_capacity(n);
    for (off, &rec) in ledger.recorded.iter().enumerate().rev() {
        let i = ledger.from.saturating_add(off as u64);
        while let Some(s) = seen.get(next).filter(|s| s.size > i) {
            if let Some(c) = cur.get_mut(s.source) {
                if c.is_none_or(|(m, _)| s.micros < m) {
                    *c = Some((s.micros, s.size));
                }
            }
            next += 1;
        }
        buf.clear();
        buf.extend(
            cur.iter()
                .enumerate()
                .filter_map(|(j, c)| c.map(|(m, size)| (m, size, j))),
        );
        let bound = if buf.len() >= k {
            buf.select_nth_unstable(k - 1);
            buf.get(k - 1).copied()
        } else {
            None
        };
        if let (Some((b, _, _)), true) = (bound, want.contains(&i)) {
            bounds.insert(i, b);
        }
        let ahead = match bound {
            None => {
                uncovered += 1;
                None
            }
            Some(_) if rec == i64::MIN => None,
            Some((b, size, j)) => {
                lags.push(b.saturating_sub(rec) / 1_000_000);
                (rec > b.saturating_add(skew)).then_some((b, size, j))
            }
        };
        if let Some((bound, size, source)) = ahead {
            // Walking down: a run grows at its low end, and its evidence is its first entry's.
            let here = Run {
                first: i,
                last: i,
                count: 1,
                size,
                source,
                bound,
                first_recorded: rec,
            };
            match open.as_mut() {
                Some(r) if r.first == i.saturating_add(1) => {
                    *r = Run {
                        last: r.last,
                        count: r.count.saturating_add(1),
                        ..here
                    };
                }
                _ => {
                    runs.extend(open.take());
                    open = Some(here);
                }
            }
            continue;
        }
        runs.extend(open.take());
    }
    runs.extend(open.take());
    for r in runs.iter().rev() {
        let source = sources
            .get(r.source)
            .map(ToString::to_string)
            .unwrap_or_default();
        findings.push(
            Finding::new(
                FindingKind::ClockAheadOfWitness,
                Some(r.first),
                None,
                format!(
                    "{} entr{} (seq {}..={}) claim a recorded_at after outside time saw them: the checkpoint of size {} was seen by {source} at {} (bound under {}); entry {} claims {}",
                    r.count,
                    if r.count == 1 { "y" } else { "ies" },
                    r.first,
                    r.last,
                    r.size,
                    crate::clock::instant(Timestamp(r.bound)),
                    policy.time_policy().unwrap_or_default(),
                    r.first,
                    crate::clock::exact(Timestamp(r.first_recorded)),
                ),
            )
            .expected_found(
                format!(
                    "recorded_at at most {} (+ skew {})",
                    crate::clock::instant(Timestamp(r.bound)),
                    policy.skew.unwrap_or(DEFAULT_SKEW)
                ),
                crate::clock::exact(Timestamp(r.first_recorded)),
            ),
        );
    }
    // The newest outside time: the k-th largest of the sources' latest times.
    let mut latest: Vec<i64> = vec![i64::MIN; n];
    for s in &seen {
        if let Some(l) = latest.get_mut(s.source) {
            *l = (*l).max(s.micros);
        }
    }
    latest.sort_unstable_by(|a, b| b.cmp(a));
    let newest = latest.get(k - 1).copied().map(Timestamp);
    if let Some(max) = policy.max_staleness {
        let stale = match (newest, ledger.head) {
            (None, Some(_)) => Some("no outside time covers any entry".to_owned()),
            (Some(nw), Some(h)) if h.micros().saturating_sub(nw.micros()) > max.micros() => {
                Some(format!(
                    "the newest outside time ({}) is {} before the head's recorded_at ({})",
                    crate::clock::instant(nw),
                    TimeSpan(
                        u64::try_from(h.micros().saturating_sub(nw.micros()) / 1_000_000)
                            .unwrap_or(0)
                    ),
                    crate::clock::instant(h),
                ))
            }
            _ => None,
        };
        if let Some(why) = stale {
            findings.push(
                Finding::new(
                    FindingKind::AnchorStale,
                    Some(ledger.size.saturating_sub(1)),
                    None,
                    format!(
                        "{why}: more than --max-staleness {max} (under {})",
                        policy.time_policy().unwrap_or_default()
                    ),
                )
                .expected_found(
                    format!("outside time within {max} of the head"),
                    newest.map_or_else(|| "none".to_owned(), crate::clock::instant),
                ),
            );
        }
    }
    let median = if lags.is_empty() {
        None
    } else {
        let mid = lags.len() / 2;
        lags.select_nth_unstable(mid);
        lags.get(mid).copied()
    };
    let summary = OutsideTime {
        policy: policy.time_policy().unwrap_or_default(),
        sources,
        judged_from: ledger.from,
        covered: lags.len() as u64,
        uncovered,
        max_lag_secs: lags.iter().copied().max(),
        median_lag_secs: median,
        newest,
        head: ledger.head,
        tokens_counted,
        tokens_ignored,
    };
    (summary, bounds)
}

/// A run of consecutive entries ahead of their bound.
struct Run {
    first: u64,
    last: u64,
    count: u64,
    size: u64,
    source: usize,
    bound: i64,
    first_recorded: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_and_refuse_the_rest() {
        for (s, secs, shown) in [
            ("5m", 300, "5m"),
            ("36h", 129_600, "36h"),
            ("7d", 604_800, "7d"),
            ("90s", 90, "90s"),
            ("0s", 0, "0s"),
            ("2w", 1_209_600, "14d"),
        ] {
            let t: TimeSpan = s.parse().unwrap();
            assert_eq!((t.0, t.to_string().as_str()), (secs, shown), "{s}");
        }
        for bad in [
            "",
            "5",
            "m",
            "5 m",
            "-5m",
            "5y",
            "1.5h",
            "99999999999999999999d",
        ] {
            let e = bad.parse::<TimeSpan>().unwrap_err();
            assert!(e.to_string().contains("not a duration"), "{bad}");
        }
    }
}
