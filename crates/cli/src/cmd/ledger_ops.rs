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

/// Opens a ledger for writing, with the practice's content key (KEK) when the key
/// directory holds one (payloads need it).
pub(crate) fn open(dir: &Path, durability: Durability) -> Result<Ledger> {
    crate::io::check_ledger_dir(dir)?;
    let mut options = OpenOptions::default().with_durability(durability);
    if let Some(kek) = crate::keys::KeyDir::of(dir).kek()? {
        options = options.with_kek(kek);
    }
    Ledger::open(dir, options).map_err(|e| anyhow!("ledger {}: {e}", dir.display()))
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
