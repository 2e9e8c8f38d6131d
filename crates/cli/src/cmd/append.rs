//! `caseledger append`: one signed event (signed here, through ssh-agent, or elsewhere);
//! `caseledger event-bytes`: the bytes an author signs for an event signed elsewhere.

use super::ingest::{parse_line, request_digest, split_lines, LineKind};
use super::ledger_ops::{day_arg, open_sealing, print_receipt, store_why, today, write_receipts};
use super::presign::{self, Fields, Presign, FLAG_NAMES, JSON_NAMES};
use super::{AppendArgs, EventBytesArgs};
use serde_json::json;

use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::event::{EventKind, Kind, ShortText, TerminationReason};
use caseledger_core::{ActorId, RecordId, Seq, Timestamp};
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
    // `today` is the practice's date, known once the ledger is open; until then the UTC
    // date stands in so every other check runs before the ledger is opened.
    let given_on = day_arg(&a.occurred_on, "--occurred-on")?;
    let occurred_on = match given_on {
        Some(d) => d,
        None => Timestamp::now()
            .date_utc()
            .map_err(|e| anyhow!("the system clock: {e}"))?,
    };
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
            citation: None,
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
    let pre = Presign::parse(
        &Fields {
            signed_at: a.signed_at.as_deref(),
            nonce: a.nonce.as_deref(),
            salt: a.salt.as_deref(),
            signature: a.signature.as_deref(),
        },
        &FLAG_NAMES,
        payload.is_some(),
    )?;
    let agent = a
        .ssh_key
        .as_deref()
        .map(presign::agent_signer)
        .transpose()?;
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let (occurred_on, ek) = match given_on {
        Some(d) => (d, ek),
        None => {
            let d = today(&ledger)?;
            let ek = match ek {
                EventKind::ServiceTerminated { reason, .. } => EventKind::ServiceTerminated {
                    terminated_on: d,
                    reason,
                },
                other => other,
            };
            (d, ek)
        }
    };
    let what = format!("{kind} to {record}");
    // With an id, the request as an import line with the same fields would give it
    // (docs/FORMAT.md §3): its content only, never the signature values, so a record
    // system that signs again on a retry is still recognised.
    let request = match id {
        None => None,
        Some(id) => {
            let amends = a.amends.map(|n| n.to_string());
            let request = request_digest(&[
                ("record", Some(a.record.as_bytes())),
                ("kind", Some(a.kind.as_bytes())),
                // The date itself (for `today` too), as an import line would give it.
                ("occurred_on", Some(occurred_on.to_string().as_bytes())),
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
            Some(Request::Id(id, request))
        }
    };
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| anyhow!("ledger {}: has no genesis", dir.display()))?;
    let (ev, payload) = pre.event(
        Some(record.clone()),
        author.clone(),
        ek,
        occurred_on,
        payload,
    );
    // Who signs: nobody here (pre-signed), ssh-agent, or the author's key file.
    let signed = match (pre.signature(), &agent) {
        (Some(sig), _) => ev.with_signature(sig),
        (None, Some(agent)) => {
            if !presign::actors_with_key(&ledger, agent).contains(&author) {
                bail!(
                    "--ssh-key: the key in {} is not {author}'s enrolled key",
                    a.ssh_key.as_deref().unwrap_or(Path::new("")).display()
                );
            }
            presign::sign_through_agent(ev, &origin, agent)?
        }
        (None, None) => ev.sign(&origin, &kd.actor_key(&author)?)?,
    };
    let receipt = match request {
        None => ledger
            .append(signed, payload)
            .map_err(|e| anyhow!("append {what}: {}", store_why(&e)))?,
        Some(request) => ledger
            .append_batch_keyed(vec![(signed, payload, Some(request))])
            .map_err(|e| anyhow!("append {what}: {}", store_why(&e.error)))?
            .pop()
            .ok_or_else(|| anyhow!("append {what}: the store returned no receipt"))?,
    };
    print_receipt(&what, &receipt, a.receipts.as_deref(), out)?;
    Ok(Outcome::Ok)
}

/// The largest line `event-bytes` reads: a payload and its JSON escaping.
const MAX_LINE: u64 = 4 * MAX_PAYLOAD;

/// `caseledger event-bytes`.
pub(crate) fn event_bytes(a: EventBytesArgs, out: &Out) -> Result<Outcome> {
    let origin = match (&a.origin, &a.ledger) {
        (Some(o), _) => o.clone(),
        (None, Some(dir)) => super::ledger_ops::origin_of(dir)?,
        (None, None) => bail!("usage: give --ledger DIR or --origin ORIGIN"),
    };
    let input = crate::io::read_input(&a.file, "event line", MAX_LINE)?;
    let mut lines = split_lines(&input);
    let (n, bytes) = lines
        .next()
        .ok_or_else(|| anyhow!("event line: the input holds no line"))?;
    if let Some((m, _)) = lines.next() {
        return Err(crate::io::located(
            &a.file,
            Some(u64::try_from(m).unwrap_or(u64::MAX)),
            format!("event line: line {m}: give one line (the bytes of one event)"),
        ));
    }
    let line = parse_line(bytes, n).map_err(|e| anyhow!("event line: {e:#}"))?;
    if line.pre.is_signed() {
        bail!("event line: signature: give the line without its signature");
    }
    if line.cite.is_some() {
        bail!("event line: cite_witness/cite_timestamp: use `caseledger destroy --cite-witness NAME|KEY` or `--cite-timestamp`");
    }
    let kind = match (line.kind, &a.public_key) {
        (LineKind::Event(_), Some(_)) => {
            bail!("--public-key: only for an actor_enrolled line")
        }
        (LineKind::Event(k), None) => k,
        // The enrolment an admin signs offline for `caseledger serve`'s actors route (the
        // key is not a field of the ingest line: `import` chooses it when it enrols).
        (LineKind::Enrol { actor, role }, Some(p)) => EventKind::ActorEnrolled {
            actor,
            role,
            public_key: crate::keys::read_public(p, "--public-key")?,
        },
        (LineKind::Enrol { .. }, None) => bail!(
            "event line: an actor_enrolled line needs --public-key FILE (the key it enrols); to enrol through the CLI use `caseledger actor add --pubkey FILE`"
        ),
    };
    line.pre
        .require_fixed(
            &JSON_NAMES,
            line.payload.is_some(),
            "the signed bytes hold it",
        )
        .map_err(|e| anyhow!("event line: {e}"))?;
    let (ev, _) = line.pre.event(
        line.record,
        line.author,
        kind,
        line.occurred_on,
        line.payload,
    );
    let msg = ev.signing_message(&origin)?;
    if out.json {
        out.json_data(&serde_json::json!({ "origin": origin, "message_hex": hex::encode(&msg) }))?;
    } else if a.hex {
        out.data(&hex::encode(&msg))?;
    } else {
        out.raw(&msg)?;
    }
    Ok(Outcome::Ok)
}
