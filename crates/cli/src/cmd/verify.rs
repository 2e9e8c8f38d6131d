//! `caseledger verify --ledger | --archive | --bundle`.

use super::VerifyArgs;
use crate::output::{anchor_json, finding_json, print_verdict, Out};
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_core::checkpoint::CosignatureVerifier;
use caseledger_core::note::NoteVerifier;
use caseledger_verify::{
    ArchiveSource, ContentKeys, LedgerSource, OpenMode, Policy, ResumeState, SledSource, Verified,
};
use serde_json::json;
use std::path::Path;

/// A note verifier key given as text or as a file holding it.
fn vkey_text(arg: &str, what: &str) -> Result<String> {
    let p = Path::new(arg);
    if !arg.contains('+') || p.exists() {
        let text = crate::io::read_text(p, what)?;
        return Ok(text.trim().to_owned());
    }
    Ok(arg.trim().to_owned())
}

/// The origin a source's container declares (an archive's header), else the one its
/// genesis names: what a bare ledger key is bound to. `None` when unreadable (the
/// verification itself then says why).
pub(crate) fn source_origin(src: &dyn LedgerSource) -> Option<String> {
    if let Some(o) = src.declared_origin() {
        return Some(o);
    }
    source_genesis(src).map(|(origin, _)| origin)
}

/// The origin and settings the source's first entry, genesis, names (unverified: for
/// choosing a key name or the practice's time zone; the verification judges genesis).
pub(crate) fn source_genesis(
    src: &dyn LedgerSource,
) -> Option<(String, caseledger_core::event::LedgerSettings)> {
    let first = src.entries().ok()?.next()?.ok()?;
    match caseledger_core::event::Entry::from_bytes(&first.bytes)
        .ok()?
        .event
        .event
        .kind
    {
        caseledger_core::event::EventKind::Genesis {
            origin, settings, ..
        } => Some((origin.as_str().to_owned(), settings)),
        _ => None,
    }
}

/// Builds the auditor's policy from the flags.
pub(crate) fn policy(
    trusted: &[std::path::PathBuf],
    keys: &[String],
    witnesses: &[String],
    quorum: Option<usize>,
) -> Result<Policy> {
    let mut p = Policy::default();
    for k in keys {
        let text = vkey_text(k, "--key")?;
        let v = NoteVerifier::parse(&text)
            .map_err(|e| anyhow!("--key {k}: not a note verifier key (name+hex8+base64): {e}"))?;
        p.trusted_keys.push(v);
    }
    for w in witnesses {
        let text = vkey_text(w, "--witness")?;
        let v = CosignatureVerifier::parse(&text)
            .map_err(|e| anyhow!("--witness {w}: not a witness (cosignature/v1) key: {e}"))?;
        p.witnesses.push(v);
    }
    if let Some(q) = quorum {
        // A key given twice is one witness: the quorum counts distinct keys.
        let distinct = p.distinct_witnesses().len();
        if q == 0 || q > distinct {
            return Err(anyhow!(
                "--quorum {q}: must be between 1 and the number of distinct --witness keys ({distinct})"
            ));
        }
        p.quorum = q;
    }
    for t in trusted {
        let text = crate::io::read_text(t, "trusted checkpoint")?;
        for note in
            trusted_notes(&text).map_err(|e| anyhow!("trusted checkpoint {}: {e}", t.display()))?
        {
            if !p.checkpoints.contains(&note) {
                p.checkpoints.push(note);
            }
        }
    }
    Ok(p)
}

/// The relying party's outside-time flags (`--tsa-chain`, `--skew`, `--max-staleness`).
pub(crate) fn time_policy(
    p: &mut Policy,
    tsa_chain: Option<&Path>,
    skew: Option<caseledger_verify::TimeSpan>,
    max_staleness: Option<caseledger_verify::TimeSpan>,
) -> Result<()> {
    if let Some(chain) = tsa_chain {
        p.tsa_roots = Some(super::timestamp::read_roots(chain)?);
        p.tsa_chain_name = Some(chain.file_name().map_or_else(
            || chain.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ));
    }
    if (skew.is_some() || max_staleness.is_some()) && !p.uses_outside_time() {
        return Err(anyhow!(
            "usage: --skew and --max-staleness judge outside time: name it with --witness or --tsa-chain"
        ));
    }
    p.skew = skew;
    p.max_staleness = max_staleness;
    Ok(())
}

/// The JSON of what outside time showed.
fn outside_time_json(o: &caseledger_verify::OutsideTime) -> serde_json::Value {
    use caseledger_verify::report::instant;
    json!({
        "policy": o.policy,
        "sources": o.sources.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "judged_from": o.judged_from,
        "covered": o.covered,
        "uncovered": o.uncovered,
        "max_lag_secs": o.max_lag_secs,
        "median_lag_secs": o.median_lag_secs,
        "newest": o.newest.map(instant),
        "head_recorded_at": o.head.map(instant),
        "tokens_counted": o.tokens_counted,
        "tokens_ignored": o.tokens_ignored,
    })
}

/// The lines for people about outside time: the policy, what it covered, the lag.
fn outside_time_lines(o: &caseledger_verify::OutsideTime) -> String {
    use caseledger_verify::report::instant;
    let mut text = format!(
        "time policy: {}
",
        o.policy
    );
    let sources = if o.sources.is_empty() {
        "no source gave a time".to_owned()
    } else {
        o.sources
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let read = o.covered + o.uncovered;
    text.push_str(&format!(
        "outside time: {} of {read} entries{} bounded ({sources}); {} with no outside time yet
",
        o.covered,
        if o.judged_from > 0 {
            format!(" from seq {}", o.judged_from)
        } else {
            String::new()
        },
        o.uncovered
    ));
    if let (Some(max), Some(median)) = (o.max_lag_secs, o.median_lag_secs) {
        text.push_str(&format!(
            "anchor lag: max {max} s, median {median} s (outside time minus recorded_at)\n"
        ));
    }
    if let Some(n) = o.newest {
        text.push_str(&format!(
            "newest outside time: {}{}\n",
            instant(n),
            o.head
                .map(|h| format!(" (head recorded at {})", instant(h)))
                .unwrap_or_default()
        ));
    }
    for why in &o.tokens_ignored {
        text.push_str(&format!("time-stamp token not counted: {why}\n"));
    }
    text
}

/// The checkpoint notes a `--trusted` file holds: a signed note, or receipts (JSON lines
/// from `append`/`import --receipts`, docs/FORMAT.md), whose seals count as checkpoints the
/// auditor holds. Errors never quote the file (a receipts file is the record system's).
fn trusted_notes(text: &str) -> Result<Vec<String>> {
    if !text.trim_start().starts_with('{') {
        if caseledger_core::note::Note::parse(text.as_bytes()).is_err() {
            return Err(anyhow!("not a signed note or a receipts file"));
        }
        return Ok(vec![text.to_owned()]);
    }
    #[derive(serde::Deserialize)]
    struct Line {
        seal: Option<String>,
    }
    let mut notes = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Line = serde_json::from_str(line).map_err(|_| {
            anyhow!(
                "line {}: not a receipt (a JSON object with a \"seal\")",
                i + 1
            )
        })?;
        let seal = l
            .seal
            .ok_or_else(|| anyhow!("line {}: the receipt has no seal", i + 1))?;
        if caseledger_core::note::Note::parse(seal.as_bytes()).is_err() {
            return Err(anyhow!(
                "line {}: the receipt's seal is not a signed note",
                i + 1
            ));
        }
        if !notes.contains(&seal) {
            notes.push(seal);
        }
    }
    if notes.is_empty() {
        return Err(anyhow!("holds no receipt"));
    }
    Ok(notes)
}

/// Runs the verifier, incrementally when given the auditor's resume state.
fn run_source_from(
    source: &dyn LedgerSource,
    state: Option<&ResumeState>,
    policy: &Policy,
    out: &Out,
) -> Result<Verified> {
    let pb = out.progress(source.len_hint().unwrap_or(0), "verifying");
    let progress = |p: caseledger_verify::Progress| {
        if let Some(t) = p.total {
            pb.set_length(t);
        }
        pb.set_position(p.done);
    };
    let v = match state {
        Some(s) => caseledger_verify::verify_incremental(source, s, policy, &progress),
        None => caseledger_verify::verify(source, policy, &progress),
    };
    pb.finish_and_clear();
    v.map_err(|e| anyhow!("{e}"))
}

/// The largest resume state read (about 21 bytes per entry: ~200 million entries).
const MAX_STATE_LEN: u64 = 4 << 30;

/// Reads a resume state file written by `--save-state`.
fn read_state(path: &Path) -> Result<ResumeState> {
    let bytes = crate::io::read_file(path, "resume state", MAX_STATE_LEN)?;
    ResumeState::from_bytes(&bytes).map_err(|e| anyhow!("resume state {}: {e}", path.display()))
}

/// Saves the resume state of a clean verification (atomically, replacing the old one).
fn save_state(path: &Path, v: &Verified, out: &Out) -> Result<()> {
    let Some(state) = v.resume_state() else {
        out.say(format!(
            "resume state not saved to {}: the verification had findings",
            path.display()
        ));
        return Ok(());
    };
    let bytes = state
        .to_bytes()
        .map_err(|e| anyhow!("resume state {}: {e}", path.display()))?;
    crate::io::write_replace(path, &bytes)
        .map_err(|e| anyhow!("resume state {}: {e}", path.display()))?;
    out.say(format!(
        "saved resume state (size {}) to {}",
        state.size(),
        path.display()
    ));
    Ok(())
}

/// Opens a ledger directory for verification.
pub(crate) fn open_ledger_source(dir: &Path) -> Result<SledSource> {
    open_ledger_source_with(dir, OpenMode::Auto)
}

/// Opens a ledger directory for verification, through a private copy with
/// [`OpenMode::Copy`] (or when the directory is read-only evidence).
fn open_ledger_source_with(dir: &Path, mode: OpenMode) -> Result<SledSource> {
    crate::io::check_ledger_dir(dir)?;
    SledSource::open_with(dir, mode).map_err(|e| anyhow!("{e}"))
}

/// The JSON summary of a verification. `intact` only when there is no finding and the
/// verdict is anchored; `clean` is "no finding" alone.
pub(crate) fn verified_json(what: &str, v: &Verified) -> serde_json::Value {
    json!({
        "verified": what,
        "intact": v.is_clean() && v.anchor().is_anchored(),
        "clean": v.is_clean(),
        "anchor": anchor_json(v.anchor()),
        "origin": v.origin(),
        "size": v.size(),
        "root": v.root().to_string(),
        "checkpoint": v.checkpoint().map(|c| json!({"size": c.size, "root": c.root.to_string(), "note": c.note})),
        "checkpoint_key_self_attested": v.checkpoint_key_self_attested(),
        "signatures_checked_from": v.signatures_checked_from(),
        "findings": v.findings().iter().map(finding_json).collect::<Vec<_>>(),
        "clock_corrections": v.clock_corrections().iter().map(|c| json!({
            "seq": c.seq,
            "recorded_at": caseledger_verify::report::instant(c.recorded_at),
            "by": c.by.as_str(),
            "previous": c.previous.map(caseledger_verify::report::instant),
            "back_by_secs": c.back_by_secs,
            "reason": c.reason,
        })).collect::<Vec<_>>(),
        "ledger_closed": v.closed().map(|c| json!({
            "seq": c.seq.0,
            "recorded_at": caseledger_verify::report::instant(c.at),
            "by": c.by.as_str(),
            "reason": c.reason.as_str(),
        })),
        "content_keys": content_keys_name(v.content_keys()),
        "outside_time": v.outside_time().map(outside_time_json),
    })
}

/// The stable name of what could be checked of the content keys.
fn content_keys_name(k: ContentKeys) -> &'static str {
    match k {
        ContentKeys::Checked { .. } => "checked",
        ContentKeys::Absent => "absent",
        ContentKeys::NotNeeded => "not_needed",
    }
}

/// The lines for people about the ledger clock's corrections, the ledger's close and the
/// content keys (only what is worth a line: corrections, a close, a missing key store).
fn clock_and_keys_lines(v: &Verified) -> String {
    let mut text = String::new();
    for c in v.clock_corrections() {
        text.push_str(&format!(
            "clock corrected: seq {} at {} by {}, set back {} s{}: {}\n",
            c.seq,
            caseledger_verify::report::instant(c.recorded_at),
            c.by,
            c.back_by_secs,
            c.previous
                .map(|p| format!(" from {}", caseledger_verify::report::instant(p)))
                .unwrap_or_default(),
            c.reason
        ));
    }
    if let Some(c) = v.closed() {
        text.push_str(&format!(
            "ledger closed: seq {} at {} by {}: {}\n",
            c.seq.0,
            caseledger_verify::report::instant(c.at),
            c.by,
            c.reason
        ));
    }
    if v.content_keys() == ContentKeys::Absent {
        text.push_str("content keys absent: no key store, so payloads cannot be read and key erasure was not checked\n");
    }
    text
}

/// Prints a verification's result: JSON on stdout, or lines for people; then the verdict.
pub(crate) fn print_verified(
    what: &str,
    v: &Verified,
    require_anchor: bool,
    out: &Out,
) -> Result<Outcome> {
    if out.json {
        out.json_data(&verified_json(what, v))?;
    } else {
        let mut text = String::new();
        for f in v.findings() {
            text.push_str(&format!("finding: {f}\n"));
        }
        text.push_str(&format!(
            "origin: {}\nentries: {}\nroot: {}\n",
            v.origin(),
            v.size(),
            v.root()
        ));
        match v.checkpoint() {
            Some(c) => text.push_str(&format!("checkpoint: size {} matches the ledger\n", c.size)),
            None => text.push_str("checkpoint: none matches the ledger\n"),
        }
        text.push_str(&format!("anchor: {}\n", v.anchor().line()));
        text.push_str(&clock_and_keys_lines(v));
        if let Some(o) = v.outside_time() {
            text.push_str(&outside_time_lines(o));
        }
        if let Some(n) = v.incremental_from() {
            text.push_str(&format!(
                "incremental: entries from seq {n} checked against the saved resume state; changes to earlier payloads are only seen by a full run\n"
            ));
        }
        if v.signatures_checked_from() > 0 {
            text.push_str(&format!(
                "resumed: author signatures checked from seq {}\n",
                v.signatures_checked_from()
            ));
        }
        out.data(&text)?;
    }
    Ok(print_verdict(
        what,
        &crate::output::count(v.size(), "entry", "entries"),
        v.findings().len(),
        v.anchor(),
        require_anchor,
        out,
    ))
}

/// `caseledger verify`.
pub(crate) fn run(a: VerifyArgs, out: &Out) -> Result<Outcome> {
    // Every public-key form is accepted; a bare key is bound to the origin once the input
    // is open.
    let keys = crate::keys::ledger_key_args(&a.key, "--key")?;
    let mut policy = policy(&a.trusted, &[], &a.witness, a.quorum)?;
    time_policy(&mut policy, a.tsa_chain.as_deref(), a.skew, a.max_staleness)?;
    // --archive or --bundle take precedence over a ledger named by CASELEDGER_LEDGER; both
    // given as flags is a usage error.
    if a.ledger.is_some()
        && (a.archive.is_some() || a.bundle.is_some())
        && std::env::var_os("CASELEDGER_LEDGER").is_none()
    {
        return Err(anyhow!(
            "usage: give one of --ledger, --archive or --bundle"
        ));
    }
    if let Some(b) = &a.bundle {
        return super::bundle::verify_bundle(b, policy, &keys, a.require_anchor, out);
    }
    policy.keep_resume_state = a.save_state.is_some();
    let state = a.from_state.as_deref().map(read_state).transpose()?;
    let (what, v) = if let Some(f) = &a.archive {
        crate::io::check_file(f, "archive")?;
        let src = ArchiveSource::open(f).map_err(|e| anyhow!("{e}"))?;
        crate::keys::bind_keys(&mut policy, &keys, "--key", || source_origin(&src))?;
        let v = run_source_from(&src, state.as_ref(), &policy, out)?;
        (format!("archive {}", f.display()), v)
    } else {
        let dir = a
            .ledger
            .ok_or_else(|| anyhow!("give --ledger, --archive or --bundle"))?;
        let mode = if a.read_only {
            OpenMode::Copy
        } else {
            OpenMode::Auto
        };
        let src = open_ledger_source_with(&dir, mode)?;
        if src.is_copy() {
            out.say(format!(
                "{} is read-only evidence: verified a temporary copy of it (deleted afterwards); nothing in it was written",
                dir.display()
            ));
        }
        crate::keys::bind_keys(&mut policy, &keys, "--key", || source_origin(&src))?;
        let v = run_source_from(&src, state.as_ref(), &policy, out)?;
        (format!("ledger {}", dir.display()), v)
    };
    let outcome = print_verified(&what, &v, a.require_anchor, out)?;
    if let Some(p) = &a.save_state {
        save_state(p, &v, out)?;
    }
    Ok(outcome)
}

/// The practice's time zone, as the ledger's genesis names it (UTC when unreadable: the
/// verification then says why). Retention days are calendar days there, so "today" and
/// the end of an as-of day are too.
pub(crate) fn practice_zone(src: &dyn LedgerSource) -> String {
    source_genesis(src).map_or_else(
        || "UTC".to_owned(),
        |(_, s)| s.time_zone.as_str().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::event::{Event, EventKind, LedgerSettings, ShortText};
    use caseledger_core::keys::SigningKey;
    use caseledger_core::{ActorId, Date, Nonce, Timestamp};
    use caseledger_store::{CreateOptions, Ledger, OpenOptions};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    /// A ledger whose clock stepped back ten minutes, corrected by the admin: `verify`
    /// prints the correction (and no key store note: nothing has content).
    #[test]
    fn a_clock_correction_is_printed() {
        // No tempfile here: a directory of this process, removed at the end.
        let dir = std::env::temp_dir().join(format!("caseledger-cli-clock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("L");
        let admin = SigningKey::from_seed(&[1; 32]);
        let day = Date::parse("2024-01-02").unwrap();
        let start = Timestamp::start_of(day).unwrap().0 + 12 * 3_600_000_000;
        let now = Arc::new(AtomicI64::new(start));
        let clock = now.clone();
        let open = OpenOptions::default()
            .with_clock(Arc::new(move || Timestamp(clock.load(Ordering::SeqCst))))
            .with_ledger_key(SigningKey::from_seed(&[2; 32]));
        let origin = "example.org/clock";
        let l = Ledger::create(
            &path,
            CreateOptions {
                origin: ShortText::new(origin).unwrap(),
                admin: ActorId::new("admin").unwrap(),
                admin_key: &admin,
                ledger_key: SigningKey::from_seed(&[2; 32]).public_key(),
                settings: LedgerSettings::default(),
                open,
            },
        )
        .unwrap();
        now.store(start - 600_000_000, Ordering::SeqCst);
        let event = Event {
            record: None,
            author: ActorId::new("admin").unwrap(),
            kind: EventKind::ClockCorrected {
                reason: ShortText::new("NTP step").unwrap(),
            },
            occurred_on: day,
            signed_at: Timestamp(start - 600_000_000),
            commitment: None,
            nonce: Nonce([7; 16]),
        };
        l.append(event.sign(origin, &admin).unwrap(), None).unwrap();
        drop(l);
        let src = SledSource::open(&path).unwrap();
        let v = caseledger_verify::verify(&src, &Policy::default(), &|_| {}).unwrap();
        assert!(v.is_clean(), "{:?}", v.findings());
        assert_eq!(
            clock_and_keys_lines(&v),
            "clock corrected: seq 1 at 2024-01-02T11:50:00Z by admin, set back 600 s from 2024-01-02T12:00:00Z: NTP step\n"
        );
        let j = verified_json("ledger L", &v);
        assert_eq!(j["clock_corrections"][0]["back_by_secs"], 600);
        assert_eq!(j["content_keys"], "not_needed");
        drop(src);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
