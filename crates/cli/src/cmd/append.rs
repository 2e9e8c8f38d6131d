//! `caseledger append`: one signed event.

use super::ingest::request_digest;
use super::ledger_ops::{
    date_arg, open_sealing, print_receipt, sign_append, store_why, write_receipts,
};
use super::AppendArgs;
use serde_json::json;

use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::event::{Event, EventKind, Kind, Payload, ShortText, TerminationReason};
use caseledger_core::{ActorId, RecordId, Seq};
use caseledger_store::{Durability, EventId, IdSeen, Request};
use std::path::Path;

/// The largest payload accepted (the encoding limit of an entry is far below this; payloads
/// are stored apart, but a record system should not put whole archives in one).
const MAX_PAYLOAD: u64 = 16 << 20;

/// `caseledger append`.
pub(crate) fn run(a: AppendArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let author = ActorId::new(a.author.as_str()).map_err(|e| anyhow!("--author: {e}"))?;
    let record = RecordId::new(a.record.as_str()).map_err(|e| anyhow!("--record: {e}"))?;
    let kind = Kind::parse(&a.kind).map_err(|e| anyhow!("--kind: {e}"))?;
    if !kind.has_record() {
        bail!("--kind {kind}: not a record event (use `caseledger actor add|revoke` or `init`)");
    }
    let occurred_on = date_arg(&a.occurred_on, "--occurred-on")?;
    let short = |v: &Option<String>, flag: &str| -> Result<ShortText> {
        let v = v
            .as_deref()
            .ok_or_else(|| anyhow!("{flag}: required for --kind {kind}"))?;
        ShortText::new(v)
            .map_err(|_| anyhow!("{flag}: must be 1-256 bytes of text without control characters"))
    };
    let unwanted = |present: bool, flag: &str, for_kind: &str| -> Result<()> {
        if present {
            bail!("{flag}: only for --kind {for_kind}");
        }
        Ok(())
    };
    unwanted(
        a.amends.is_some() && kind != Kind::Amendment,
        "--amends",
        "amendment",
    )?;
    unwanted(
        a.matter.is_some() && !matches!(kind, Kind::HoldPlaced | Kind::HoldReleased),
        "--matter",
        "hold_placed or hold_released",
    )?;
    unwanted(
        a.reason.is_some() && !matches!(kind, Kind::Destruction | Kind::ServiceTerminated),
        "--reason",
        "destruction or service_terminated",
    )?;
    let ek = match kind {
        Kind::ServiceTerminated => EventKind::ServiceTerminated {
            terminated_on: occurred_on,
            reason: match a.reason.as_deref() {
                None => TerminationReason::Unstated,
                // The value is not quoted back: free text here may be clinical.
                Some(r) => TerminationReason::parse(r).map_err(|_| {
                    anyhow!("--reason: for service_terminated, one of completed, impairment, dual_relationship, other or unstated")
                })?,
            },
        },
        Kind::Amendment => EventKind::Amendment {
            amends: Seq(a
                .amends
                .ok_or_else(|| anyhow!("--amends: required for --kind amendment"))?),
        },
        Kind::HoldPlaced => EventKind::HoldPlaced {
            matter: short(&a.matter, "--matter")?,
        },
        Kind::HoldReleased => EventKind::HoldReleased {
            matter: short(&a.matter, "--matter")?,
        },
        Kind::Destruction => EventKind::Destruction {
            reason: short(&a.reason, "--reason")?,
        },
        k => EventKind::simple(k).ok_or_else(|| anyhow!("--kind {k}: cannot be appended"))?,
    };
    let payload = match (&a.payload_file, a.payload.as_deref()) {
        (Some(f), _) => Some(crate::io::read_file(f, "payload file", MAX_PAYLOAD)?),
        (None, Some("-")) => Some(crate::io::read_input(Path::new("-"), "payload", MAX_PAYLOAD)?),
        // Content on the command line would land in shell history and `ps`.
        (None, Some(_)) => bail!("--payload: only `--payload -` (read stdin) is accepted; use --payload-file <F> for a file"),
        (None, None) => None,
    };
    // The id's value is never quoted back (it is the record system's to know).
    let id =
        a.id.as_deref()
            .map(EventId::new)
            .transpose()
            .map_err(|e| anyhow!("--id: {e}"))?;
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let what = format!("{kind} to {record}");
    let Some(id) = id else {
        let key = kd.actor_key(&author)?;
        let ev = Event::new(Some(record.clone()), author.clone(), ek, occurred_on);
        let receipt = sign_append(&ledger, &key, ev, payload.map(Payload::new))
            .map_err(|e| anyhow!("append {what}: {}", store_why(&e)))?;
        print_receipt(&what, &receipt, a.receipts.as_deref(), out)?;
        return Ok(Outcome::Ok);
    };
    // The request as an import line with the same fields would give it (docs/FORMAT.md §3).
    let amends = a.amends.map(|n| n.to_string());
    let request = request_digest(&[
        ("record", Some(a.record.as_bytes())),
        ("kind", Some(a.kind.as_bytes())),
        ("occurred_on", Some(a.occurred_on.as_bytes())),
        ("author", Some(a.author.as_bytes())),
        ("amends", amends.as_deref().map(str::as_bytes)),
        ("matter", a.matter.as_deref().map(str::as_bytes)),
        ("reason", a.reason.as_deref().map(str::as_bytes)),
        ("payload", payload.as_deref()),
    ]);
    let seen = ledger
        .event_id_seen(&id, &request)
        .map_err(|e| anyhow!("append {what}: {}", store_why(&e)))?;
    match seen {
        IdSeen::New => {}
        IdSeen::Recorded(r) => {
            // The original receipt, as the first append gave it.
            if let Some(p) = a.receipts.as_deref() {
                write_receipts(p, std::slice::from_ref(&r))?;
            }
            if out.json {
                out.json_data(&json!({
                    "seq": r.seq.0,
                    "hash": r.hash.to_hex(),
                    "recorded_at_us": r.recorded_at.0,
                    "seal": r.seal.as_ref().map(|s| &*s.note),
                    "already_recorded": true,
                }))?;
            } else {
                out.data(&format!("seq {} {}", r.seq.0, r.hash.to_hex()))?;
                out.say(format!(
                    "already recorded: {what} at seq {} (this --id with the same content); nothing was appended",
                    r.seq.0
                ));
            }
            return Ok(Outcome::Ok);
        }
        IdSeen::Conflict { seq } => bail!(
            "append {what}: --id: already recorded at seq {seq} with other content; nothing was appended (a corrected event needs a new id)"
        ),
        IdSeen::KeyErased { seq } => bail!(
            "append {what}: --id: recorded at seq {seq} in a record whose content key is erased (destroyed); nothing was appended"
        ),
    }
    let key = kd.actor_key(&author)?;
    let origin = ledger
        .origin()
        .ok_or_else(|| anyhow!("append {what}: the ledger has no genesis"))?;
    let ev = Event::new(Some(record.clone()), author.clone(), ek, occurred_on);
    let (signed, payload) = ev
        .sign_with_payload(origin.as_str(), &key, payload.map(Payload::new))
        .map_err(|e| anyhow!("append {what}: {e}"))?;
    let receipt = ledger
        .append_batch_keyed(vec![(signed, payload, Some(Request::Id(id, request)))])
        .map_err(|e| anyhow!("append {what}: {}", store_why(&e.error)))?
        .pop()
        .ok_or_else(|| anyhow!("append {what}: the store returned no receipt"))?;
    print_receipt(&what, &receipt, a.receipts.as_deref(), out)?;
    Ok(Outcome::Ok)
}
