//! `caseledger status` and `caseledger records`: a record's retention status on demand.
//!
//! Both read through the verifier (`SledSource` and
//! [`verify_as_of`](caseledger_verify::asof::verify_as_of)), never from the store's
//! unverified rows, and compute statuses exactly as the retention report does
//! ([`RecordState::status`] over the prefix recorded by the end of the as-of day), so the
//! two can never disagree. Without a trusted anchor the verdict is self-attested: the
//! output says so in one line.

use super::ledger_ops::date_arg;
use super::{AnchorArgs, RecordsArgs, StatusArg, StatusArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::event::Entry;
use caseledger_core::record::{Item, RecordState, Service, Status};
use caseledger_core::{Date, RecordId, Seq, Timestamp};
use caseledger_verify::asof::{AsOf, AsOfRecord};
use caseledger_verify::report::{instant, Anchor};
use caseledger_verify::LedgerSource;
use serde_json::{json, Value};
use std::path::Path;

/// A verification of a ledger and its prefix as of the end of a day.
pub(crate) struct Read {
    /// The verification and the folded prefix.
    pub asof: AsOf,
    /// The day statuses are computed for.
    pub as_of: Date,
    /// What anchors the integrity verdict.
    pub anchor: Anchor,
    /// `ledger <DIR>`, for messages.
    pub what: String,
    /// The practice's time zone (genesis), whose day `as_of` is.
    pub zone: String,
}

impl Read {
    /// The record as it stood at the cut, if it had been opened by then.
    pub fn record(&self, id: &RecordId) -> Option<&AsOfRecord> {
        let rs = self.asof.records();
        rs.binary_search_by(|r| r.id.cmp(id))
            .ok()
            .and_then(|i| rs.get(i))
    }

    /// A record's status as of the day: the report's computation.
    pub fn status(&self, r: &AsOfRecord) -> Status {
        r.state.status(self.as_of, r.content_missing)
    }

    /// One line on whether the ledger's integrity was verified in this run, and what
    /// anchors that verdict.
    pub fn integrity_line(&self) -> String {
        let v = self.asof.verified();
        if !v.is_clean() {
            return format!(
                "integrity: NOT verified: {} in this run (`caseledger verify` names them); what is shown is as the ledger says",
                crate::output::count(v.findings().len(), "finding", "findings")
            );
        }
        if self.anchor.is_self_attested() {
            // Nothing the reader holds anchors it: never called "verified".
            return format!(
                "integrity: no findings in this run ({}); {}: {}; pass --ledger-key or --trusted to anchor it",
                crate::output::count(v.size(), "entry", "entries"),
                self.anchor.kind.replace('_', "-"),
                self.anchor.words
            );
        }
        format!(
            "integrity: verified in this run ({}, no findings); {}",
            crate::output::count(v.size(), "entry", "entries"),
            v.anchor().line()
        )
    }

    /// The ledger's close, if the ledger holds a `ledger_closed` (whatever the as-of day:
    /// a closed ledger takes no more entries).
    pub fn closed_json(&self) -> Value {
        self.asof.verified().closed().map_or(Value::Null, |c| {
            json!({
                "seq": c.seq.0,
                "at": instant(c.at),
                "by": c.by.as_str(),
                "reason": c.reason.as_str(),
            })
        })
    }

    /// `ledger: closed since ... by ...`, if the ledger is closed.
    pub fn closed_line(&self) -> Option<String> {
        self.asof.verified().closed().map(|c| {
            format!(
                "ledger: closed since {} (seq {}) by {}: {}; nothing can be appended",
                instant(c.at),
                c.seq.0,
                c.by,
                c.reason
            )
        })
    }

    /// The integrity verdict as JSON.
    pub fn integrity_json(&self) -> Value {
        let v = self.asof.verified();
        // As `verify --json`: "clean" is no findings; "verified" also needs an anchor the
        // reader holds (a self-attested run is never called verified).
        json!({
            "clean": v.is_clean(),
            "verified": v.is_clean() && !self.anchor.is_self_attested(),
            "entries": v.size(),
            "findings": v.findings().len(),
            "anchor": self.anchor.kind,
            "words": self.anchor.words,
        })
    }

    /// How a read command ends: exit 1, with a line naming the finding count (as `verify`
    /// does), when the verification had findings.
    pub fn finish(&self, out: &Out) -> Outcome {
        let v = self.asof.verified();
        if v.is_clean() {
            Outcome::Ok
        } else {
            out.verdict(
                false,
                format!(
                    "{}: {}",
                    self.what,
                    crate::output::count(v.findings().len(), "finding", "findings")
                ),
            );
            Outcome::Findings
        }
    }
}

pub(crate) use super::verify::practice_zone;

/// Today in the time zone `zone` (the practice's).
pub(crate) fn today_in(zone: &str) -> Result<Date> {
    let tz = caseledger_core::event::TimeZoneName::new(zone)
        .map_err(|e| anyhow!("time zone {zone}: {e}"))?;
    Timestamp::now()
        .date_in(&tz.zone())
        .map_err(|e| anyhow!("the system clock: {e}"))
}

/// `--as-of DATE|today`, refusing a day after today (in the practice's time zone `zone`),
/// as `report retention` does.
pub(crate) fn as_of_day(arg: &str, zone: &str) -> Result<Date> {
    let today = today_in(zone)?;
    let day = if arg == "today" {
        today
    } else {
        date_arg(arg, "--as-of")?
    };
    if day > today {
        bail!("--as-of {day}: after today ({today}, {zone}); a status is as the ledger stood at the end of a day, never a day to come");
    }
    Ok(day)
}

/// Verifies the ledger in `src` (the directory `dir`) under the anchor's policy and folds
/// the entries recorded by the end of `as_of` in the practice's time zone `zone`.
pub(crate) fn read_as_of(
    src: &dyn LedgerSource,
    dir: &Path,
    as_of: Date,
    zone: &str,
    anchor: &AnchorArgs,
    out: &Out,
) -> Result<Read> {
    let keys = super::report::ledger_keys(&anchor.ledger_key)?;
    let mut policy = super::verify::policy(&anchor.trusted, &[], &[], None)?;
    crate::keys::bind_keys(&mut policy, &keys, "--ledger-key", || {
        super::verify::source_origin(src)
    })?;
    let (zone, cut) = super::report::end_of_day(as_of, zone)?;
    let asof = super::report::run_as_of(src, &policy, cut, out)?;
    let anchor = Anchor::of(asof.verified().anchor(), &policy);
    Ok(Read {
        asof,
        as_of,
        anchor,
        what: format!("ledger {}", dir.display()),
        zone,
    })
}

/// The record id of `--record`.
pub(crate) fn record_arg(s: &str) -> Result<RecordId> {
    RecordId::new(s).map_err(|e| anyhow!("--record: {e}"))
}

/// Why a record is not in a read: never in the ledger, or opened after the day.
pub(crate) fn not_found(read: &Read, id: &RecordId) -> anyhow::Error {
    let later = read
        .asof
        .verified()
        .records()
        .binary_search_by(|r| r.id.cmp(id))
        .is_ok();
    if later {
        anyhow!(
            "record {id}: not in {} as of {}: its first entry was recorded after that day",
            read.what,
            read.as_of
        )
    } else {
        anyhow!("record {id}: not in {}", read.what)
    }
}

/// An entry as read from the source just verified: (kind, occurred_on, recorded_at).
fn entry_at(src: &dyn LedgerSource, seq: Seq) -> Option<(&'static str, Date, Timestamp)> {
    let e = src.entries_from(seq.0).ok()?.next()?.ok()?;
    let key = <[u8; 8]>::try_from(e.key.as_slice()).ok()?;
    if u64::from_be_bytes(key) != seq.0 {
        return None;
    }
    let en = Entry::from_bytes(&e.bytes).ok()?;
    let ev = &en.event.event;
    Some((ev.kind.kind().name(), ev.occurred_on, en.recorded_at))
}

fn item_name(i: Item) -> &'static str {
    match i {
        Item::Present => "present",
        Item::Missing => "missing",
        Item::NoneRecorded => "none_recorded",
        Item::NotApplicable => "not_applicable",
    }
}

/// What started a terminated record's retention clock, and what moved it.
struct Clock {
    terminated_on: Date,
    termination_seq: Option<Seq>,
    started_on: Date,
    moved_by: Option<(Seq, &'static str, Date)>,
}

fn clock(s: &RecordState, src: &dyn LedgerSource) -> Option<Clock> {
    let Service::Terminated(terminated_on) = s.service else {
        return None;
    };
    let started_on = s.retention_start()?;
    let moved_by = if started_on > terminated_on {
        s.last_service_or_contact_seq.map(|seq| {
            let kind = entry_at(src, seq).map_or("event", |(k, _, _)| k);
            (seq, kind, started_on)
        })
    } else {
        None
    };
    Some(Clock {
        terminated_on,
        termination_seq: s.terminated_seq,
        started_on,
        moved_by,
    })
}

/// The "why" sentence.
fn why(s: &RecordState, c: Option<&Clock>) -> String {
    let Some(c) = c else {
        return if s.ever_terminated {
            "service was resumed after its termination: the retention clock is not running"
                .to_owned()
        } else {
            format!(
                "service has not terminated (record opened on {} at seq {}): the retention clock has not started",
                s.opened_on, s.opened_seq.0
            )
        };
    };
    let at = c
        .termination_seq
        .map_or(String::new(), |q| format!(" at seq {}", q.0));
    let started = format!(
        "service_terminated{at} (terminated on {}) started the clock",
        c.terminated_on
    );
    match c.moved_by {
        Some((seq, kind, on)) => format!(
            "{started}; a later {kind} at seq {} (dated {on}) moved it: retention runs five years from {}",
            seq.0, c.started_on
        ),
        None => format!(
            "{started}; no later date of service or contact: retention runs five years from {}",
            c.started_on
        ),
    }
}

/// `status: <name>` and its detail.
fn status_words(st: Status, s: &RecordState) -> String {
    let detail = match st {
        Status::Open => String::new(),
        Status::Retained { until } => format!(" (until {until})"),
        Status::Eligible => s.lawful_from().map_or(String::new(), |d| {
            format!(" (destruction lawful since {d})")
        }),
        Status::OnHold => format!(" ({})", holds(s).join(", ")),
        Status::DestroyedLawfully | Status::DestroyedEarly => {
            s.destroyed.as_ref().map_or(String::new(), |d| {
                format!(" (seq {}, {}, by {})", d.seq.0, d.on, d.by)
            })
        }
        Status::ContentMissing => {
            " (content gone without a lawful destruction: an unauthorized destruction)".to_owned()
        }
    };
    format!("{}{detail}", st.name())
}

fn holds(s: &RecordState) -> Vec<&str> {
    s.holds.iter().map(|h| h.as_str()).collect()
}

fn date_or_dash(d: Option<Date>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| d.to_string())
}

/// `caseledger status --record R`; without `--record`, [`ledger_status`].
pub(crate) fn status(a: StatusArgs, out: &Out) -> Result<Outcome> {
    let Some(record) = &a.record else {
        // The ledger's seal, witnesses and time-stamps are shown as they are now; a day
        // given here would be silently ignored.
        if a.as_of != "today" {
            bail!("usage: --as-of goes with --record (without it, status shows the ledger's seal, witnesses and time-stamps as they are now) (see --help)");
        }
        return ledger_status(&a, out);
    };
    let id = record_arg(record)?;
    let dir = &a.ledger.ledger;
    let src = super::verify::open_ledger_source(dir)?;
    let zone = practice_zone(&src);
    let as_of = as_of_day(&a.as_of, &zone)?;
    let read = read_as_of(&src, dir, as_of, &zone, &a.anchor, out)?;
    let Some(r) = read.record(&id) else {
        return Err(not_found(&read, &id));
    };
    let s = &r.state;
    let st = read.status(r);
    let c = clock(s, &src);
    let last = entry_at(&src, s.last_seq);
    drop(src);
    let completeness = s.completeness(&read.asof.registry().settings);
    let missing = completeness.missing();
    if out.json {
        out.json_data(&json!({
            "record": id.as_str(),
            "as_of": as_of.to_string(),
            "recorded_before": instant(read.asof.cut()),
            "prefix_size": read.asof.size(),
            "status": st.name(),
            "opened_on": s.opened_on.to_string(),
            "opened_seq": s.opened_seq.0,
            "last_terminated_on": c.as_ref().map(|c| c.terminated_on.to_string()),
            "retained_until": s.retained_until().map(|d| d.to_string()),
            "lawful_from": s.lawful_from().map(|d| d.to_string()),
            "clock": c.as_ref().map(|c| json!({
                "termination_seq": c.termination_seq.map(|q| q.0),
                "terminated_on": c.terminated_on.to_string(),
                "started_on": c.started_on.to_string(),
                "moved_by": c.moved_by.map(|(seq, kind, on)| json!({
                    "seq": seq.0, "kind": kind, "occurred_on": on.to_string(),
                })),
            })),
            "why": why(s, c.as_ref()),
            "holds": holds(s),
            "destruction": s.destroyed.as_ref().map(|d| json!({
                "seq": d.seq.0, "date": d.on.to_string(), "by": d.by.as_str(), "lawful": d.lawful,
            })),
            "completeness": completeness.items().iter().map(|(l, i)| json!({"item": l, "status": item_name(*i)})).collect::<Vec<_>>(),
            "missing_items": missing,
            "entries": s.entries,
            "last_event": json!({
                "seq": s.last_seq.0,
                "kind": last.map(|l| l.0),
                "occurred_on": last.map(|l| l.1.to_string()),
                "recorded_at": last.map(|l| instant(l.2)),
            }),
            "ledger_closed": read.closed_json(),
            "integrity": read.integrity_json(),
        }))?;
    } else {
        let labels: Vec<&str> = missing
            .iter()
            .map(|m| {
                crate::render::ITEMS
                    .iter()
                    .find(|(l, _, _)| l == m)
                    .map_or(*m, |(_, _, long)| *long)
            })
            .collect();
        let mut t = format!(
            "record: {id}\nas of: {as_of}, end of day {} ({} of the ledger's {} entries recorded by then)\nstatus: {}\nretained until: {}\nlawful from: {}\nwhy: {}\nholds: {}\n",
            read.zone,
            read.asof.size(),
            read.asof.verified().size(),
            status_words(st, s),
            date_or_dash(s.retained_until()),
            date_or_dash(s.lawful_from()),
            why(s, c.as_ref()),
            if s.holds.is_empty() { "none".to_owned() } else { holds(s).join(", ") },
        );
        if let Some(d) = &s.destroyed {
            t.push_str(&format!(
                "destruction: seq {} on {} by {} ({})\n",
                d.seq.0,
                d.on,
                d.by,
                if d.lawful { "lawful" } else { "unlawful" }
            ));
        }
        t.push_str(&format!(
            "missing: {}\n",
            if labels.is_empty() {
                "none".to_owned()
            } else {
                labels.join("; ")
            }
        ));
        t.push_str(&match last {
            Some((kind, on, _)) => format!("last event: seq {} {kind} on {on}\n", s.last_seq.0),
            None => format!("last event: seq {}\n", s.last_seq.0),
        });
        t.push_str(&format!("entries: {}\n", s.entries));
        if let Some(l) = read.closed_line() {
            t.push_str(&l);
            t.push('\n');
        }
        t.push_str(&read.integrity_line());
        out.data(&t)?;
    }
    Ok(read.finish(out))
}

/// `caseledger records [--status S]...`.
pub(crate) fn records(a: RecordsArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let src = super::verify::open_ledger_source(dir)?;
    let zone = practice_zone(&src);
    let as_of = as_of_day(&a.as_of, &zone)?;
    let read = read_as_of(&src, dir, as_of, &zone, &a.anchor, out)?;
    drop(src);
    let wanted: Vec<&str> = a.status.iter().map(|s| StatusArg::name(*s)).collect();
    let listed: Vec<(&AsOfRecord, Status)> = read
        .asof
        .records()
        .iter()
        .map(|r| (r, read.status(r)))
        .filter(|(_, st)| wanted.is_empty() || wanted.contains(&st.name()))
        .collect();
    if out.json {
        out.json_data(&json!({
            "as_of": as_of.to_string(),
            "recorded_before": instant(read.asof.cut()),
            "statuses": wanted,
            "records": listed.iter().map(|(r, st)| json!({
                "id": r.id.as_str(),
                "status": st.name(),
                "retained_until": r.state.retained_until().map(|d| d.to_string()),
                "lawful_from": r.state.lawful_from().map(|d| d.to_string()),
                "holds": holds(&r.state),
            })).collect::<Vec<_>>(),
            "integrity": read.integrity_json(),
        }))?;
    } else {
        let mut t = String::new();
        for (r, st) in &listed {
            let h = holds(&r.state);
            t.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                r.id,
                st.name(),
                date_or_dash(r.state.retained_until()),
                date_or_dash(r.state.lawful_from()),
                if h.is_empty() {
                    "-".to_owned()
                } else {
                    h.join(",")
                }
            ));
        }
        if !t.is_empty() {
            out.data(&t)?;
        }
        let which = if wanted.is_empty() {
            String::new()
        } else {
            format!(" {}", wanted.join(" or "))
        };
        out.say(format!(
            "{}{which} as of {as_of} (end of day {}), of {} in the ledger by then",
            crate::output::count(listed.len(), "record", "records"),
            read.zone,
            read.asof.records().len()
        ));
        out.say(read.integrity_line());
    }
    Ok(read.finish(out))
}

/// `caseledger status` without `--record`: the newest seal, each configured witness's last
/// cosignature (size, time, how far behind) and the last time-stamp token, read from
/// `checkpoints.log` and `timestamps.log` without opening the store (so it runs beside a
/// process holding the ledger open). Nothing here is verified: it says how current the
/// outside evidence is, `verify` and `timestamp verify` judge it.
fn ledger_status(a: &StatusArgs, out: &Out) -> Result<Outcome> {
    use super::witness as wit;
    let dir = &a.ledger.ledger;
    crate::io::check_ledger_dir(dir)?;
    let seals = super::timestamp::stored_seals(dir)?;
    let (seal_size, origin) = match seals.iter().next_back() {
        Some((size, (body, _))) => (*size, body.lines().next().unwrap_or_default().to_owned()),
        None => bail!("ledger {}: holds no seal", dir.display()),
    };
    let kd = crate::keys::KeyDir::resolve(a.keys.as_deref(), dir, || Ok(origin.clone()))?;
    let witnesses = wit::read_config(&kd.root().join(caseledger_witness::config::CONFIG_FILE))?;
    let tsa =
        super::timestamp::read_config(&kd.root().join(caseledger_timestamp::config::CONFIG_FILE))?;
    let stored: Vec<wit::SizedNote> = seals
        .iter()
        .map(|(size, (_, note))| (*size, note.clone()))
        .collect();
    let now = wit::now_secs();
    let behind = |size: u64| seal_size.saturating_sub(size);
    let mut lines = vec![
        format!("ledger: {} ({origin})", dir.display()),
        format!("seal: size {seal_size}"),
    ];
    let mut rows = Vec::new();
    for e in witnesses.iter() {
        let last = wit::last_cosigned(&stored, e.key());
        lines.push(match last {
            Some(l) => format!(
                "witness {}: cosigned size {} at {}, {} ago, {}",
                e.name(),
                l.size,
                instant_secs(l.timestamp),
                wit::age(l.timestamp, now),
                entries_behind(behind(l.size))
            ),
            None => format!(
                "witness {}: never cosigned, {}",
                e.name(),
                entries_behind(seal_size)
            ),
        });
        rows.push(json!({
            "name": e.name(),
            "url": e.url(),
            "min_interval": e.min_interval(),
            "cosigned_size": last.map(|l| l.size),
            "cosigned_at": last.map(|l| instant_secs(l.timestamp)),
            "age_seconds": last.map(|l| now.saturating_sub(l.timestamp)),
            "behind": behind(last.map_or(0, |l| l.size)),
        }));
    }
    if witnesses.is_empty() {
        lines.push(
            "witnesses: none configured (`caseledger witness add`): a split view goes undetected"
                .into(),
        );
    }
    // The token over the largest seal; its genTime as the token claims it (checked against
    // the configured chain when there is one).
    let parsed = super::timestamp::read_timestamps(dir)?.unwrap_or_default();
    let roots = tsa
        .as_ref()
        .and_then(|c| super::timestamp::read_roots(c.chain()).ok());
    let last_token = parsed.tokens.iter().max_by_key(|t| t.size).map(|t| {
        let gen = match &roots {
            Some(r) => caseledger_timestamp::verify_token(&t.token, t.body.as_bytes(), r)
                .map(|v| (v.gen_time(), true))
                .ok(),
            None => None,
        }
        .or_else(|| {
            caseledger_timestamp::unanchored_gen_time(&t.token, t.body.as_bytes())
                .ok()
                .map(|g| (g, false))
        });
        (t.size, gen)
    });
    let ts_json = match last_token {
        Some((size, Some((gen, checked)))) => {
            let secs = u64::try_from(gen.as_second()).unwrap_or(0);
            lines.push(format!(
                "timestamp: size {size}, genTime {gen}, {} ago, {}{}",
                wit::age(secs, now),
                entries_behind(behind(size)),
                if checked {
                    " (verified against the configured chain)"
                } else {
                    " (not checked against a trusted chain)"
                }
            ));
            json!({"size": size, "gen_time": gen.to_string(), "age_seconds": now.saturating_sub(secs),
                   "behind": behind(size), "chain_verified": checked})
        }
        Some((size, None)) => {
            lines.push(format!("timestamp: size {size}, a token that does not parse (`caseledger timestamp verify`)"));
            json!({"size": size, "gen_time": null, "behind": behind(size), "chain_verified": false})
        }
        None => {
            lines.push("timestamp: none".into());
            Value::Null
        }
    };
    lines.push(match &tsa {
        Some(c) => format!(
            "tsa: {}{}",
            c.url(),
            if c.min_interval() == 0 {
                String::new()
            } else {
                format!(" (at most once per {} s)", c.min_interval())
            }
        ),
        None => "tsa: none configured (`caseledger timestamp config set`)".into(),
    });
    if out.json {
        out.json_data(&json!({
            "ledger": dir.display().to_string(),
            "origin": origin,
            "seal_size": seal_size,
            "witnesses": rows,
            "timestamp": ts_json,
            "renewals": parsed.renewals.len(),
            "tsa": tsa.as_ref().map(|c| json!({"url": c.url(), "min_interval": c.min_interval()})),
        }))?;
    } else {
        out.data(&lines.join("\n"))?;
    }
    Ok(Outcome::Ok)
}

/// "up to date", "1 entry behind", "3 entries behind".
fn entries_behind(n: u64) -> String {
    match n {
        0 => "up to date".into(),
        1 => "1 entry behind".into(),
        n => format!("{n} entries behind"),
    }
}

/// Seconds since the epoch as RFC 3339.
fn instant_secs(s: u64) -> String {
    i64::try_from(s)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| s.to_string(), |t| t.to_string())
}
