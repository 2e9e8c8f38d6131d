//! Shared steps of the commands that write: open a ledger, sign an event, append it,
//! and explain a refusal in one line.

use crate::output::Out;
use anyhow::{anyhow, Result};
use caseledger_core::event::{Event, Payload};
use caseledger_core::keys::SigningKey;
use caseledger_core::{Date, Timestamp};
use caseledger_store::{Durability, Ledger, OpenOptions, Receipt, StoreError};
use serde_json::json;
use std::path::Path;

/// Opens a ledger for writing. The practice's content key (KEK), which payloads need, is
/// given when the key directory is found (`KeyDir::of`).
pub(crate) fn open(dir: &Path, durability: Durability) -> Result<Ledger> {
    crate::io::check_ledger_dir(dir)?;
    Ledger::open(dir, OpenOptions::default().with_durability(durability))
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))
}

/// The origin of the ledger at `dir` (opened for writing and closed again): for finding
/// the default key directory before a command opens the ledger itself.
pub(crate) fn origin_of(dir: &Path) -> Result<String> {
    let ledger = open(dir, Durability::Immediate)?;
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| anyhow!("ledger {}: has no genesis", dir.display()))?;
    ledger
        .close()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?;
    Ok(origin)
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

/// Signs an event (committing to its payload) with `key` and appends it with its payload.
pub(crate) fn sign_append(
    ledger: &Ledger,
    key: &SigningKey,
    event: Event,
    payload: Option<Payload>,
) -> Result<Receipt, StoreError> {
    let origin = ledger.origin().ok_or(StoreError::Refused(
        caseledger_core::record::Violation::Shape("the ledger has no genesis".into()),
    ))?;
    let (signed, payload) = event
        .sign_with_payload(origin.as_str(), key, payload)
        .map_err(StoreError::from)?;
    ledger.append(signed, payload)
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
