//! `caseledger hold place|release` and `caseledger destroy` (one record, `--dry-run`,
//! `--all-eligible`).

use super::ledger_ops::{
    day_arg, open_sealing, print_receipt, sign_append_as, store_why, today, AuthorSigner,
};
use super::status::{not_found, read_as_of, record_arg, Read};
use super::{AnchorArgs, DestroyArgs, HoldArgs};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::citation::TimeCitation;
use caseledger_core::event::{Entry, Event, EventKind, ShortText};
use caseledger_core::record::{RecordState, Status, Violation};
use caseledger_core::{ActorId, Date, RecordId};
use caseledger_serve::citation::{cite, CiteChoice};
use caseledger_store::{Durability, Ledger, StoreError};
use caseledger_verify::asof::AsOfRecord;
use caseledger_verify::source::{EntryIter, StoredCheckpoint};
use caseledger_verify::{LedgerSource, VerifyError};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

fn ids(author: &str, record: &str) -> Result<(ActorId, RecordId)> {
    Ok((
        ActorId::new(author).map_err(|e| anyhow!("--author: {e}"))?,
        RecordId::new(record).map_err(|e| anyhow!("--record: {e}"))?,
    ))
}

/// `--occurred-on`, checked (before the ledger is opened); `None` (absent or `today`) is
/// today in the practice's time zone.
fn occurred_on(d: &Option<String>) -> Result<Option<Date>> {
    Ok(d.as_deref()
        .map(|s| day_arg(s, "--occurred-on"))
        .transpose()?
        .flatten())
}

/// The given date, else today in the practice's time zone.
fn or_today(on: Option<Date>, ledger: &Ledger) -> Result<Date> {
    on.map_or_else(|| today(ledger), Ok)
}

/// `caseledger hold place|release`.
pub(crate) fn hold(a: HoldArgs, place: bool, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let (author, record) = ids(&a.author, &a.record)?;
    let matter = ShortText::new(a.matter.as_str())
        .map_err(|_| anyhow!("--matter: must be 1-256 bytes of text without control characters"))?;
    let on = occurred_on(&a.occurred_on)?;
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let on = or_today(on, &ledger)?;
    let signer = AuthorSigner::resolve(&a.signer, &kd, &author)?;
    let kind = if place {
        EventKind::HoldPlaced { matter }
    } else {
        EventKind::HoldReleased { matter }
    };
    let verb = if place { "place" } else { "release" };
    let r = sign_append_as(
        &ledger,
        &signer,
        Event::new(Some(record.clone()), author.clone(), kind, on),
    )?
    .map_err(|e| anyhow!("hold {verb} on {record}: {}", store_why(&e)))?;
    print_receipt(&format!("hold {verb} on {record}"), &r, None, out)?;
    Ok(Outcome::Ok)
}

/// Why a destruction is refused, after "refused: ", in the words `destroy` has always used.
/// `state` (the record's state, when known) adds the lawful date to a refusal under hold.
fn refusal(v: &Violation, state: Option<&RecordState>, today: Date) -> String {
    match v {
        Violation::DestructionUnderHold { matters, .. } => {
            let until = state.and_then(RecordState::retained_until);
            let when = match (state.and_then(RecordState::lawful_from), until) {
                (Some(d), Some(u)) if d > today => {
                    format!("; retained until {u}: destruction is lawful from {d}, and only once the hold is released")
                }
                (Some(d), _) => format!("; retention ran out (lawful from {d}): destruction is lawful once the hold is released"),
                _ => String::new(),
            };
            let m: Vec<&str> = matters.iter().map(ShortText::as_str).collect();
            format!("record is under legal hold ({}){when}", m.join(", "))
        }
        Violation::DestructionBeforeRetentionEnd {
            retained_until,
            lawful_from,
            ..
        } => format!(
            "record is retained until {retained_until}; destruction is lawful from {lawful_from}"
        ),
        Violation::DestructionOfOpenRecord(_) => "service has not terminated; destruction is lawful from 5 years and a day after termination".to_owned(),
        other => other.to_string(),
    }
}

/// The signer, reason and date of a destruction, checked in `destroy`'s order (clap
/// requires the author and the reason unless `--dry-run`).
fn signer(
    a: &DestroyArgs,
    kd: &KeyDir,
) -> Result<(ActorId, ShortText, Option<Date>, AuthorSigner)> {
    let author = a
        .author
        .as_deref()
        .ok_or_else(|| anyhow!("usage: --author is required unless --dry-run"))?;
    let author = ActorId::new(author).map_err(|e| anyhow!("--author: {e}"))?;
    let reason = a
        .reason
        .as_deref()
        .ok_or_else(|| anyhow!("usage: --reason is required unless --dry-run"))?;
    let reason = ShortText::new(reason)
        .map_err(|_| anyhow!("--reason: must be 1-256 bytes of text without control characters"))?;
    let on = occurred_on(&a.occurred_on)?;
    let key = AuthorSigner::resolve(&a.signer, kd, &author)?;
    Ok((author, reason, on, key))
}

/// `caseledger destroy`: refused, with the date destruction becomes lawful, before then.
pub(crate) fn destroy(a: DestroyArgs, out: &Out) -> Result<Outcome> {
    if a.all_eligible {
        return all_eligible(&a, out);
    }
    // clap's `requires` counts a flag's default as present, so this is checked here.
    if a.yes && a.dry_run {
        bail!("usage: --yes does not go with --dry-run (see --help)");
    }
    let Some(record) = a.record.as_deref() else {
        bail!("usage: give --record or --all-eligible");
    };
    if a.dry_run {
        return dry_run(&a, &record_arg(record)?, out);
    }
    let dir = &a.ledger.ledger;
    let (author, record) = ids(a.author.as_deref().unwrap_or_default(), record)?;
    // A person at a terminal confirms (as `rm -i`); a script (stdin not a terminal) or
    // --yes does not. Asked before the ledger is opened: a prompt must not hold the ledger's
    // lock while the record system's appends wait.
    if !a.yes && std::io::stdin().is_terminal() {
        confirm(
            &format!(
                "destroy the content of record {record} as {author}? It cannot be undone (a \
             destruction before retention ends is refused). Type yes to confirm: "
            ),
            "nothing destroyed",
        )
        .map_err(|e| anyhow!("destroy {record}: {e}"))?;
    }
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let (author, reason, on, key) = signer(&a, &kd)?;
    let on = or_today(on, &ledger)?;
    let cite = citation(&a, &ledger, &kd)?;
    match destroy_one(&ledger, &key, &author, &record, &reason, on, cite) {
        Ok(r) => {
            print_receipt(&format!("destruction of {record} (its content was removed; its entries and proofs stay)"), &r, None, out)?;
            Ok(Outcome::Ok)
        }
        Err(why) => bail!("destroy {record}: {why}"),
    }
}

/// Asks `question` on the terminal; anything but yes is "not confirmed; `nothing`" (what
/// did not happen: "nothing destroyed", or `close`'s "nothing written").
pub(crate) fn confirm(question: &str, nothing: &str) -> Result<()> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| anyhow!("reading the confirmation: {e}"))?;
    if !matches!(answer.trim(), "yes" | "y" | "YES" | "Yes") {
        bail!("not confirmed; {nothing}");
    }
    Ok(())
}

/// The external time `--cite-witness` / `--cite-timestamp` ask the destruction to cite
/// (`caseledger_serve::citation`, shared with the server's destruction events). `None`
/// without either flag.
fn citation(a: &DestroyArgs, ledger: &Ledger, kd: &KeyDir) -> Result<Option<TimeCitation>> {
    if let Some(w) = &a.cite_witness {
        let choice = CiteChoice::Witness(w.clone());
        return cite(ledger, kd.root(), &choice)
            .map(Some)
            .map_err(|e| anyhow!("--cite-witness {w}: {e}"));
    }
    if a.cite_timestamp {
        return cite(ledger, kd.root(), &CiteChoice::Timestamp)
            .map(Some)
            .map_err(|e| anyhow!("--cite-timestamp: {e}"));
    }
    Ok(None)
}

/// Appends one destruction; a refusal in `destroy`'s words.
fn destroy_one(
    ledger: &Ledger,
    key: &AuthorSigner,
    author: &ActorId,
    record: &RecordId,
    reason: &ShortText,
    on: Date,
    citation: Option<TimeCitation>,
) -> Result<caseledger_store::Receipt, String> {
    let ev = Event::new(
        Some(record.clone()),
        author.clone(),
        EventKind::Destruction {
            reason: reason.clone(),
            citation,
        },
        on,
    );
    match sign_append_as(ledger, key, ev).map_err(|e| format!("{e:#}"))? {
        Ok(r) => Ok(r),
        Err(StoreError::Refused(v)) => {
            let state = ledger.record_state(record).ok().flatten();
            let day = today(ledger).map_err(|e| e.to_string())?;
            Err(format!("refused: {}", refusal(&v, state.as_ref(), day)))
        }
        Err(e) => Err(store_why(&e)),
    }
}

/// A [`LedgerSource`] that shows the verifier the inner source unchanged and counts, per
/// record, the stored payloads (clinical content) a destruction would remove.
struct Tally<'a> {
    inner: &'a dyn LedgerSource,
    content: RefCell<BTreeMap<RecordId, u64>>,
}

impl LedgerSource for Tally<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError> {
        self.inner.checkpoints()
    }
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError> {
        let it = self.inner.entries()?;
        Ok(Box::new(it.inspect(move |e| {
            let Ok(e) = e else { return };
            if e.payload.is_none() {
                return;
            }
            if let Some(r) = Entry::from_bytes(&e.bytes)
                .ok()
                .and_then(|en| en.event.event.record)
            {
                *self.content.borrow_mut().entry(r).or_default() += 1;
            }
        })))
    }
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        self.inner.payload_seqs(seqs)
    }
}

/// Verifies the ledger as of today in the practice's time zone (the day the store dates
/// a destruction appended now), counting each record's stored content.
fn read_today(dir: &std::path::Path, out: &Out) -> Result<(Read, BTreeMap<RecordId, u64>)> {
    let src = super::verify::open_ledger_source(dir)?;
    let zone = super::status::practice_zone(&src);
    let day = super::status::today_in(&zone)?;
    let tally = Tally {
        inner: &src,
        content: RefCell::new(BTreeMap::new()),
    };
    let anchor = AnchorArgs {
        trusted: Vec::new(),
        ledger_key: Vec::new(),
    };
    let read = read_as_of(&tally, dir, day, &zone, &anchor, out)?;
    let content = tally.content.into_inner();
    Ok((read, content))
}

/// Whether destroying `r` today would be lawful: the fold's own check, as the store applies it.
fn judge(r: &AsOfRecord, day: Date) -> Result<(), Violation> {
    match &r.state.destroyed {
        Some(d) => Err(Violation::AfterDestruction {
            record: r.id.clone(),
            destroyed_at: d.seq,
        }),
        None => r.state.check_destruction(&r.id, day),
    }
}

/// `destroy --record R --dry-run`: what would be destroyed and whether it is lawful today.
fn dry_run(a: &DestroyArgs, record: &RecordId, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let (read, content) = read_today(dir, out)?;
    let day = read.as_of;
    let Some(r) = read.record(record) else {
        return Err(not_found(&read, record));
    };
    let s = &r.state;
    let n = content.get(record).copied().unwrap_or(0);
    let verdict = judge(r, day);
    let why = verdict.as_ref().err().map(|v| refusal(v, Some(s), day));
    if out.json {
        out.json_data(&json!({
            "record": record.as_str(),
            "dry_run": true,
            "as_of": day.to_string(),
            "status": read.status(r).name(),
            "lawful": verdict.is_ok(),
            "refused": why,
            "retained_until": s.retained_until().map(|d| d.to_string()),
            "lawful_from": s.lawful_from().map(|d| d.to_string()),
            "holds": s.holds.iter().map(ShortText::as_str).collect::<Vec<_>>(),
            "entries": s.entries,
            "content": n,
            "integrity": read.integrity_json(),
        }))?;
    } else {
        let mut t = format!(
            "would destroy {record}: the content of {n} of its {} (its entries and proofs stay)\n",
            crate::output::count(s.entries, "entry", "entries")
        );
        t.push_str(&match &why {
            None => format!(
                "lawful: retention ran out (lawful from {}), no hold in force\n",
                s.lawful_from()
                    .map_or_else(|| "-".to_owned(), |d| d.to_string())
            ),
            Some(w) => format!("would be refused: {w}\n"),
        });
        out.data(&t)?;
        out.say(format!(
            "dry run as of today ({day}, {}): nothing written",
            read.zone
        ));
        out.say(read.integrity_line());
    }
    Ok(read.finish(out))
}

/// `destroy --all-eligible`: every record eligible today, listed, confirmed, destroyed one
/// signed event each.
fn all_eligible(a: &DestroyArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let signer = if a.dry_run {
        None
    } else {
        let kd = KeyDir::resolve(a.keys.get(), dir, || super::ledger_ops::origin_of(dir))?;
        Some(signer(a, &kd)?)
    };
    let (read, content) = read_today(dir, out)?;
    let day = read.as_of;
    let eligible: Vec<&AsOfRecord> = read
        .asof
        .records()
        .iter()
        .filter(|r| read.status(r) == Status::Eligible)
        .collect();
    let line = |r: &AsOfRecord| {
        format!(
            "{}\tlawful from {}\t{}, {} with content",
            r.id,
            r.state
                .lawful_from()
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            crate::output::count(r.state.entries, "entry", "entries"),
            content.get(&r.id).copied().unwrap_or(0)
        )
    };
    let listing = |r: &AsOfRecord| {
        json!({
            "id": r.id.as_str(),
            "lawful_from": r.state.lawful_from().map(|d| d.to_string()),
            "entries": r.state.entries,
            "content": content.get(&r.id).copied().unwrap_or(0),
        })
    };
    let Some((author, reason, on, key)) = signer else {
        if out.json {
            out.json_data(&json!({
                "dry_run": true,
                "as_of": day.to_string(),
                "eligible": eligible.iter().map(|r| listing(r)).collect::<Vec<_>>(),
                "integrity": read.integrity_json(),
            }))?;
        } else {
            let t: String = eligible.iter().map(|r| line(r) + "\n").collect();
            if !t.is_empty() {
                out.data(&t)?;
            }
            out.say(format!(
                "dry run: {} eligible for destruction today ({day}, {}) would be destroyed; nothing written",
                crate::output::count(eligible.len(), "record", "records"),
                read.zone
            ));
            out.say(read.integrity_line());
        }
        return Ok(read.finish(out));
    };
    if !read.asof.verified().is_clean() {
        out.say(read.integrity_line());
        out.verdict(
            false,
            format!(
                "{}: {}; refusing to destroy records on a ledger that does not verify (nothing destroyed)",
                read.what,
                crate::output::count(read.asof.verified().findings().len(), "finding", "findings")
            ),
        );
        return Ok(Outcome::Findings);
    }
    if eligible.is_empty() {
        if out.json {
            out.json_data(&json!({
                "as_of": day.to_string(), "eligible": [], "destroyed": [], "refused": [],
            }))?;
        }
        out.say(format!(
            "no record is eligible for destruction today ({day}, {}); nothing destroyed",
            read.zone
        ));
        return Ok(Outcome::Ok);
    }
    // Refused before the listing, so that the refusal is the one line an error is.
    if !a.yes && !std::io::stdin().is_terminal() {
        bail!(
            "destroy --all-eligible: {} eligible; stdin is not a terminal to confirm on: pass --yes to destroy them (nothing destroyed; --dry-run lists them)",
            crate::output::count(eligible.len(), "record", "records")
        );
    }
    out.say(format!(
        "{} eligible for destruction today ({day}, {}), retention run out and no hold in force:",
        crate::output::count(eligible.len(), "record", "records"),
        read.zone
    ));
    for r in &eligible {
        out.say(format!("  {}", line(r)));
    }
    if !a.yes {
        confirm(
            &format!(
                "destroy the content of these {} as {author}? type yes to confirm: ",
                crate::output::count(eligible.len(), "record", "records")
            ),
            "nothing destroyed",
        )
        .map_err(|e| anyhow!("destroy --all-eligible: {e}"))?;
    }
    let ids: Vec<RecordId> = eligible.iter().map(|r| r.id.clone()).collect();
    let total = ids.len();
    drop(read);
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let on = or_today(on, &ledger)?;
    // One citation for the run: every destruction in it was signed after that time.
    let cite = citation(a, &ledger, &kd)?;
    let mut destroyed = Vec::new();
    let mut refused = Vec::new();
    let mut text = String::new();
    for id in &ids {
        match destroy_one(&ledger, &key, &author, id, &reason, on, cite.clone()) {
            Ok(r) => {
                text.push_str(&format!(
                    "{id}\tdestroyed\tseq {}\t{}\n",
                    r.seq.0,
                    r.hash.to_hex()
                ));
                destroyed
                    .push(json!({"record": id.as_str(), "seq": r.seq.0, "hash": r.hash.to_hex()}));
            }
            Err(why) => {
                text.push_str(&format!("{id}\t{why}\n"));
                refused.push(json!({"record": id.as_str(), "why": why}));
            }
        }
    }
    if out.json {
        out.json_data(&json!({
            "as_of": day.to_string(),
            "eligible": ids.iter().map(RecordId::as_str).collect::<Vec<_>>(),
            "destroyed": destroyed,
            "refused": refused,
        }))?;
    } else {
        out.data(&text)?;
    }
    let summary = format!(
        "destroyed {} of {} (their content was removed; their entries and proofs stay); {} refused",
        destroyed.len(),
        crate::output::count(total, "eligible record", "eligible records"),
        refused.len()
    );
    if refused.is_empty() {
        out.verdict(true, summary);
        Ok(Outcome::Ok)
    } else {
        out.verdict(false, summary);
        Ok(Outcome::Findings)
    }
}
