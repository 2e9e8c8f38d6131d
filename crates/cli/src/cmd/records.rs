//! `caseledger hold place|release` and `caseledger destroy`.

use super::ledger_ops::{date_arg, open, print_receipt, sign_append, store_why, today};
use super::{DestroyArgs, HoldArgs};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::event::{Event, EventKind, ShortText};
use caseledger_core::record::Violation;
use caseledger_core::{ActorId, Date, RecordId};
use caseledger_store::{Durability, StoreError};

fn ids(author: &str, record: &str) -> Result<(ActorId, RecordId)> {
    Ok((
        ActorId::new(author).map_err(|e| anyhow!("--author: {e}"))?,
        RecordId::new(record).map_err(|e| anyhow!("--record: {e}"))?,
    ))
}

fn date_or_today(d: &Option<String>) -> Result<Date> {
    match d {
        Some(s) => date_arg(s, "--occurred-on"),
        None => today(),
    }
}

/// `caseledger hold place|release`.
pub(crate) fn hold(a: HoldArgs, place: bool, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let (author, record) = ids(&a.author, &a.record)?;
    let matter = ShortText::new(a.matter.as_str())
        .map_err(|_| anyhow!("--matter: must be 1-256 bytes of text without control characters"))?;
    let on = date_or_today(&a.occurred_on)?;
    let key = KeyDir::of(dir).actor_key(&author)?;
    let ledger = open(dir, Durability::Immediate)?;
    let kind = if place {
        EventKind::HoldPlaced { matter }
    } else {
        EventKind::HoldReleased { matter }
    };
    let verb = if place { "place" } else { "release" };
    let r = sign_append(
        &ledger,
        &key,
        Event::new(Some(record.clone()), author.clone(), kind, on),
        None,
    )
    .map_err(|e| anyhow!("hold {verb} on {record}: {}", store_why(&e)))?;
    print_receipt(&format!("hold {verb} on {record}"), &r, out)?;
    Ok(Outcome::Ok)
}

/// `caseledger destroy`: refused, with the date destruction becomes lawful, before then.
pub(crate) fn destroy(a: DestroyArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let (author, record) = ids(&a.author, &a.record)?;
    let reason = ShortText::new(a.reason.as_str())
        .map_err(|_| anyhow!("--reason: must be 1-256 bytes of text without control characters"))?;
    let on = date_or_today(&a.occurred_on)?;
    let key = KeyDir::of(dir).actor_key(&author)?;
    let ledger = open(dir, Durability::Immediate)?;
    let ev = Event::new(
        Some(record.clone()),
        author.clone(),
        EventKind::Destruction { reason },
        on,
    );
    match sign_append(&ledger, &key, ev, None) {
        Ok(r) => {
            print_receipt(&format!("destruction of {record} (its content was removed; its entries and proofs stay)"), &r, out)?;
            Ok(Outcome::Ok)
        }
        Err(StoreError::Refused(Violation::DestructionUnderHold { matters, .. })) => {
            let state = ledger.record_state(&record).ok().flatten();
            let until = state.as_ref().and_then(|s| s.retained_until());
            let when = match (state.as_ref().and_then(|s| s.lawful_from()), until) {
                (Some(d), Some(u)) if d > today()? => {
                    format!("; retained until {u}: destruction is lawful from {d}, and only once the hold is released")
                }
                (Some(d), _) => format!("; retention ran out (lawful from {d}): destruction is lawful once the hold is released"),
                _ => String::new(),
            };
            let m: Vec<&str> = matters.iter().map(ShortText::as_str).collect();
            bail!(
                "destroy {record}: refused: record is under legal hold ({}){when}",
                m.join(", ")
            );
        }
        Err(StoreError::Refused(Violation::DestructionBeforeRetentionEnd {
            retained_until,
            lawful_from,
            ..
        })) => {
            bail!("destroy {record}: refused: record is retained until {retained_until}; destruction is lawful from {lawful_from}");
        }
        Err(StoreError::Refused(Violation::DestructionOfOpenRecord(_))) => {
            bail!("destroy {record}: refused: service has not terminated; destruction is lawful from 5 years and a day after termination");
        }
        Err(e) => bail!("destroy {record}: {}", store_why(&e)),
    }
}
