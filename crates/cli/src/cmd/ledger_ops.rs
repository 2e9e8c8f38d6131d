//! Shared steps of the commands that write: open a ledger, sign an event, append it,
//! and explain a refusal in one line.

use super::import::{derive_nonce_salt, payload_of, Line, LineKind, Signers};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Context, Result};
use caseledger_core::event::{Event, EventKind, Payload};
use caseledger_core::keys::SigningKey;
use caseledger_core::record::Violation;
use caseledger_core::{ActorId, Date, Nonce, RecordId, Timestamp};
use caseledger_store::{Durability, Ledger, OpenOptions, Receipt, StoreError};
use serde_json::json;
use std::path::Path;

/// Opens a ledger for writing.
pub(crate) fn open(dir: &Path, durability: Durability) -> Result<Ledger> {
    crate::io::check_ledger_dir(dir)?;
    Ledger::open(dir, OpenOptions::default().with_durability(durability))
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))
}

/// Today on the ledger's clock (UTC).
pub(crate) fn today() -> Result<Date> {
    Timestamp::now()
        .date_utc()
        .map_err(|e| anyhow!("the system clock: {e}"))
}

/// Parses a `--occurred-on`-style date argument.
pub(crate) fn date_arg(s: &str, flag: &str) -> Result<Date> {
    Date::parse(s).map_err(|_| {
        anyhow!(
            "{flag} {:?}: expected an ISO date YYYY-MM-DD",
            s.chars().take(32).collect::<String>()
        )
    })
}

/// A store error in words; refusals are the fold's own words.
pub(crate) fn store_why(e: &StoreError) -> String {
    match e {
        StoreError::Refused(v) => format!("refused: {v}"),
        other => other.to_string(),
    }
}

/// Signs an event with `key` and appends it with its payload.
pub(crate) fn sign_append(
    ledger: &Ledger,
    key: &SigningKey,
    mut event: Event,
    payload: Option<Payload>,
) -> Result<Receipt, StoreError> {
    event.commitment = payload.as_ref().map(Payload::commitment);
    let signed = event.sign(key).map_err(StoreError::from)?;
    ledger.append(signed, payload)
}

/// A fresh event with a random nonce and no commitment.
pub(crate) fn event(
    author: &ActorId,
    record: Option<RecordId>,
    kind: EventKind,
    occurred_on: Date,
) -> Event {
    Event {
        record,
        author: author.clone(),
        kind,
        occurred_on,
        commitment: None,
        nonce: Nonce::random(),
    }
}

/// Prints an accepted append.
pub(crate) fn print_receipt(what: &str, r: &Receipt, out: &Out) -> Result<()> {
    if out.json {
        out.json_data(
            &json!({ "seq": r.seq.0, "hash": r.hash.to_hex(), "recorded_at_us": r.recorded_at.0 }),
        )
    } else {
        out.data(&format!("seq {} {}", r.seq.0, r.hash.to_hex()))?;
        out.say(format!("appended {what} at seq {}", r.seq.0));
        Ok(())
    }
}

/// Phase 2 of `import`: sign and append in batches, one flush at the end.
pub(crate) fn import_lines(
    dir: &Path,
    what: &str,
    lines: Vec<Line>,
    mut signers: Signers<'_>,
    batch: usize,
    out: &Out,
) -> Result<Outcome> {
    let ledger = open(dir, Durability::Deferred)?;
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .unwrap_or_default();
    let before = ledger.head().size;
    let total = u64::try_from(lines.len()).unwrap_or(u64::MAX);
    let pb = out.progress(total, "importing");
    let mut imported = 0usize;
    let mut written_keys: Vec<ActorId> = Vec::new();
    let mut failure: Option<(usize, String)> = None;
    let mut lines = lines.into_iter().peekable();
    while lines.peek().is_some() {
        let chunk: Vec<Line> = lines.by_ref().take(batch).collect();
        let mut items = Vec::with_capacity(chunk.len());
        for line in &chunk {
            let key = signers.key(&line.author)?;
            let (nonce, salt) = derive_nonce_salt(&key, &origin, line);
            let kind = match &line.kind {
                LineKind::Event(k) => k.clone(),
                LineKind::Enrol { actor, role } => {
                    let k = signers.key(actor)?;
                    EventKind::ActorEnrolled {
                        actor: actor.clone(),
                        role: *role,
                        public_key: k.public_key(),
                    }
                }
            };
            let payload = payload_of(line, salt);
            let ev = Event {
                record: line.record.clone(),
                author: line.author.clone(),
                kind,
                occurred_on: line.occurred_on,
                commitment: payload.as_ref().map(Payload::commitment),
                nonce,
            };
            let signed = ev
                .sign(&key)
                .map_err(|e| anyhow!("line {}: {e}", line.line))?;
            items.push((signed, payload));
        }
        // Keys of actors enrolled in this batch are written before the batch, so that an
        // enrolled actor always has its key; unused ones are removed on refusal.
        for line in &chunk {
            if let LineKind::Enrol { actor, .. } = &line.kind {
                if let Some(k) = signers.generated.remove(actor) {
                    signers
                        .dir()
                        .write_actor_key(actor, &k)
                        .with_context(|| format!("line {}", line.line))?;
                    written_keys.push(actor.clone());
                }
            }
        }
        match ledger.append_batch(items.clone()) {
            Ok(_) => {
                imported += chunk.len();
                pb.set_position(u64::try_from(imported).unwrap_or(u64::MAX));
            }
            Err(e) => {
                let index = e.index.unwrap_or(0);
                // The batch was all or nothing: write the lines before the refused one.
                if index > 0 {
                    let head: Vec<_> = items.into_iter().take(index).collect();
                    ledger.append_batch(head).map_err(|e2| {
                        anyhow!("line {}: {}", chunk[0].line, store_why(&e2.error))
                    })?;
                    imported += index;
                }
                let bad = chunk.get(index).map_or(0, |l| l.line);
                // Remove the keys of actors whose enrolment was not written.
                for line in chunk.iter().skip(index) {
                    if let LineKind::Enrol { actor, .. } = &line.kind {
                        if written_keys.contains(actor) {
                            signers.dir().remove_actor_key(actor);
                        }
                    }
                }
                let mut why = store_why(&e.error);
                if matches!(e.error, StoreError::Refused(Violation::Replay { .. })) {
                    why.push_str(" (this line was already imported: import nonces are derived from the file's lines, so re-running a file is refused instead of duplicating events)");
                }
                failure = Some((bad, why));
                break;
            }
        }
    }
    pb.finish_and_clear();
    ledger
        .flush()
        .map_err(|e| anyhow!("ledger {}: flushing: {e}", dir.display()))?;
    let size = ledger.head().size;
    drop(ledger);
    if let Some((line, why)) = failure {
        return Err(anyhow!(
            "import {what}: line {line}: {why}; {imported} earlier line(s) were imported (ledger size {before} -> {size})"
        ));
    }
    if out.json {
        out.json_data(&json!({ "imported": imported, "size": size }))?;
    } else {
        out.say(format!(
            "imported {imported} event(s) from {what}; ledger size {before} -> {size}"
        ));
    }
    Ok(Outcome::Ok)
}
