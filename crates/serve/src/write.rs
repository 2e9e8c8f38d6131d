//! Appending posted events: every event parsed (the same line format as `caseledger
//! import`), every author's signature present or the server allowed to make it, client
//! event ids looked up, then one all-or-nothing batch through the store. Blocking.
//!
//! Idempotency: an event whose `id` the ledger already holds with the same content is not
//! appended again; its original receipt is returned (`"replayed": true`). The same id with
//! other content is `409`. Two requests racing with one id: a lone event's are judged by
//! the store under its writer lock (`Ledger::append_keyed`), in one group or not, and the
//! second is answered as a repeat (or refused as a conflict); a batch's the store refuses
//! whole (the id row is written in the entry's transaction), which is then judged again and
//! answered as a repeat.

use crate::auth::{Client, Scope};
use crate::error::ApiError;
use crate::ingest::{Line, LineKind};
use axum::http::StatusCode;
use caseledger_core::event::{EventKind, SignedEvent};
use caseledger_keyfile::keydir::KeyDir;
use caseledger_store::{IdSeen, Ledger, Receipt, Request, RequestDigest, StoreError};
use serde::Serialize;
use std::collections::HashMap;

/// One receipt as answered: the receipt line of docs/FORMAT.md ("Receipts") and whether
/// it is the original receipt of an event appended earlier under the same id.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ReceiptOut {
    /// The entry's seq.
    pub seq: u64,
    /// Its entry hash, lowercase hex.
    pub hash: String,
    /// Its recorded_at, microseconds since the epoch.
    pub recorded_at_us: i64,
    /// The seal (signed checkpoint note) covering it.
    pub seal: Option<String>,
    /// `true`: appended by an earlier request with the same id; nothing was appended now.
    pub replayed: bool,
}

impl ReceiptOut {
    pub(crate) fn of(r: &Receipt, replayed: bool) -> ReceiptOut {
        ReceiptOut {
            seq: r.seq.0,
            hash: r.hash.to_hex(),
            recorded_at_us: r.recorded_at.0,
            seal: r.seal.as_ref().map(|s| s.note.to_string()),
            replayed,
        }
    }
}

/// What becomes of one line.
enum Plan {
    /// Appended now, as item `i` of the batch.
    Fresh(usize),
    /// Already in the ledger under its id.
    Recorded(Receipt),
    /// Repeats the id of an earlier line of this request (same content): its receipt.
    SameAs(usize),
}

/// The items a request would append: its lines' plans, the signed new events (with their
/// id rows) and the line of each item.
struct Prepared {
    plans: Vec<Option<Plan>>,
    items: Vec<(
        SignedEvent,
        Option<caseledger_core::event::Payload>,
        Option<Request>,
    )>,
    item_line: Vec<usize>,
    /// The citation each destruction asking for one got: (line, citation).
    cited: Vec<(usize, caseledger_core::citation::TimeCitation)>,
}

/// Appends `lines` for `client` (checked, then all or nothing). Blocks.
pub(crate) fn append(
    ledger: &Ledger,
    keys: &KeyDir,
    client: &Client,
    lines: Vec<Line>,
) -> Result<Vec<ReceiptOut>, ApiError> {
    let Prepared {
        plans,
        items,
        item_line,
        ..
    } = prepare(ledger, keys, client, &lines)?;
    // 4. One batch, all or nothing, durable and sealed when it returns. A lone event
    // without a client id goes through `Ledger::append`, which joins the store's group
    // commit (one transaction, seal and flush for many concurrent requests); a batch,
    // even of one, is committed on its own (`benches/RESULTS.md`, `serve_harness`: about
    // half the rate under 64 concurrent clients). A lone event with a client id joins it
    // too (`Ledger::append_keyed`: the id row in the entry's transaction, the id judged
    // under the writer lock against the group's other ids as well).
    let mut replayed = false;
    let receipts = if items.is_empty() {
        Vec::new()
    } else if let [(_, _, Some(Request::Id(..)))] = items.as_slice() {
        let line = item_line.first().copied();
        let mut it = items.into_iter();
        let (signed, payload, request) = it.next().ok_or_else(ApiError::internal)?;
        let Some(Request::Id(id, digest)) = request else {
            return Err(ApiError::internal());
        };
        match ledger.append_keyed(signed, payload, &id, digest) {
            Ok(k) => {
                // The same id and content from a concurrent request in the same group, or
                // recorded since this request looked: its original receipt.
                replayed = k.replayed;
                vec![k.receipt]
            }
            Err(StoreError::EventIdRecorded { .. }) => return retry_as_repeat(ledger, &lines),
            Err(e) => return Err(ApiError::store(&e).at(line)),
        }
    } else if matches!(items.as_slice(), [(_, _, None)]) {
        let line = item_line.first().copied();
        let mut it = items.into_iter();
        let (signed, payload, _) = it.next().ok_or_else(ApiError::internal)?;
        vec![ledger
            .append(signed, payload)
            .map_err(|e| ApiError::store(&e).at(line))?]
    } else {
        match ledger.append_batch_keyed(items) {
            Ok(r) => r,
            Err(e) if matches!(e.error, StoreError::EventIdRecorded { .. }) => {
                // Another request with the same id won the race: judged again, this one is
                // a repeat (or a conflict).
                return retry_as_repeat(ledger, &lines);
            }
            Err(e) => {
                let line = e.index.and_then(|i| item_line.get(i).copied());
                return Err(ApiError::store(&e.error).at(line));
            }
        }
    };
    let mut out: Vec<ReceiptOut> = Vec::with_capacity(lines.len());
    for i in 0..plans.len() {
        let mut r = resolve(&plans, &receipts, i).ok_or_else(ApiError::internal)?;
        // Only a lone keyed event can be replayed by the store itself: every line is it.
        r.replayed |= replayed;
        out.push(r);
    }
    Ok(out)
}

/// What a dry run found: whether the ledger would accept the request now, and if not, the
/// first refusal (its line and why).
pub(crate) struct Judged {
    /// Whether every new event would be appended.
    pub accepted: bool,
    /// The refusal: (line, message), as a real append would answer it.
    pub refused: Option<(Option<usize>, String)>,
    /// How many events would be appended (repeats of recorded ids are not).
    pub new_events: usize,
    /// What each destruction asking for a citation would cite: (line, citation).
    pub cited: Vec<(usize, caseledger_core::citation::TimeCitation)>,
}

/// Judges `lines` for `client` exactly as [`append`] would (scopes, signers, ids, then the
/// store's own check of the whole batch, `Ledger::check_batch`) and writes nothing. A
/// request the client may not make is still an error (`403`, `409`, ...): only the
/// ledger's verdict (the `422` of a real append) is answered as `accepted: false`.
pub(crate) fn dry_run(
    ledger: &Ledger,
    keys: &KeyDir,
    client: &Client,
    lines: &[Line],
) -> Result<Judged, ApiError> {
    let Prepared {
        items,
        item_line,
        cited,
        ..
    } = prepare(ledger, keys, client, lines)?;
    let new_events = items.len();
    if items.is_empty() {
        return Ok(Judged {
            accepted: true,
            refused: None,
            new_events,
            cited,
        });
    }
    let items = items.into_iter().map(|(e, p, _)| (e, p)).collect();
    match ledger.check_batch(items) {
        Ok(()) => Ok(Judged {
            accepted: true,
            refused: None,
            new_events,
            cited,
        }),
        Err(e) => {
            let line = e.index.and_then(|i| item_line.get(i).copied());
            let api = ApiError::store(&e.error);
            if api.status == StatusCode::UNPROCESSABLE_ENTITY {
                Ok(Judged {
                    accepted: false,
                    refused: Some((line, api.message)),
                    new_events,
                    cited,
                })
            } else {
                Err(api.at(line))
            }
        }
    }
}

/// Step 1 of an append: whether `client` may send each of `lines` (the kinds it may
/// append, and whom the server signs for). Reads nothing.
fn may_send(client: &Client, lines: &[Line]) -> Result<(), ApiError> {
    for l in lines {
        let at = Some(l.line);
        if matches!(l.kind, LineKind::Enrol { .. }) {
            return Err(ApiError::bad(
                "kind: actor_enrolled is not accepted here: enrol with POST /v1/ledgers/{name}/actors, giving the actor's public key",
            )
            .at(at));
        }
        if is_administrative(&l.kind) && !client.may(Scope::Admin) {
            return Err(ApiError::forbidden(
                "kind: holds, destruction and key revocation need the scope admin",
            )
            .at(at));
        }
        if !l.pre.is_signed() && !client.may_sign_as(&l.author) {
            return Err(ApiError::forbidden(format!(
                "author {}: the server does not sign for this author for this client (send the event pre-signed, or list the author in the client's sign_as)",
                l.author
            ))
            .at(at));
        }
    }
    Ok(())
}

/// Whether `lines` is one pre-signed event that needs nothing read before it is
/// submitted (no citation to resolve, no author key to read): [`append_lone`] takes it.
pub(crate) fn is_lone_presigned(lines: &[Line]) -> bool {
    matches!(lines, [l] if l.pre.is_signed() && l.cite.is_none() && matches!(l.kind, LineKind::Event(_)))
}

/// [`append`] for a lone pre-signed event ([`is_lone_presigned`]), from an async task
/// without a blocking thread per request: the event goes to the store's group commit with
/// a callback (`Ledger::submit_append`) and the task waits for it; the group is led by a
/// thread of tokio's blocking pool, one per group (`Pool`'s summoner). The submission's own
/// checks (the payload's commitment, the author's signature) run on this task; nothing
/// here reads the store. An id is judged by the store alone, as the leader stages the
/// event under its writer lock (not looked up here first, as [`append`] does for a
/// batch): an id recorded earlier is then resolved as [`append`] resolves a lost race, on
/// a blocking thread.
/// Answers exactly as [`append`] would.
pub(crate) async fn append_lone(
    h: &crate::pool::Handle,
    client: &Client,
    lines: Vec<Line>,
) -> Result<Vec<ReceiptOut>, ApiError> {
    may_send(client, &lines)?;
    let Some(l) = lines.first() else {
        return Err(ApiError::internal());
    };
    let (LineKind::Event(kind), Some(sig)) = (&l.kind, l.pre.signature()) else {
        return Err(ApiError::internal());
    };
    let at = Some(l.line);
    let (ev, payload) = l.pre.event(
        l.record.clone(),
        l.author.clone(),
        kind.clone(),
        l.occurred_on,
        l.payload.clone(),
    );
    let signed = ev.with_signature(sig);
    let id = l.id.clone().map(|id| (id, l.request));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done = Box::new(move |r| {
        // The task may be gone (its client hung up): the entry is durable regardless.
        let _ = tx.send(r);
    });
    let submitted =
        h.ledger
            .submit_append(signed, payload, id.as_ref().map(|(i, d)| (i, *d)), done);
    let answered = match submitted {
        Ok(()) => rx.await.map_err(|_| ApiError::internal())?,
        Err(e) => Err(e),
    };
    match (answered, id) {
        (Ok(k), _) => Ok(vec![ReceiptOut::of(&k.receipt, k.replayed)]),
        (Err(StoreError::EventIdRecorded { seq }), Some((id, digest))) => {
            let ledger = h.ledger.clone();
            tokio::task::spawn_blocking(move || match ledger.recorded_receipt(&id, &digest, seq) {
                Ok(k) => Ok(vec![ReceiptOut::of(&k.receipt, k.replayed)]),
                // Not the same content: judged as a batch's id is (409 saying why).
                Err(StoreError::EventIdRecorded { .. }) => {
                    let v = judge(&ledger, &lines, &[0])?.pop();
                    match v.map(recorded_plan).transpose().map_err(|e| e.at(at))? {
                        Some(Some(Plan::Recorded(r))) => Ok(vec![ReceiptOut::of(&r, true)]),
                        _ => retry_as_repeat(&ledger, &lines),
                    }
                }
                Err(e) => Err(ApiError::store(&e).at(at)),
            })
            .await
            .map_err(|_| ApiError::internal())?
        }
        (Err(e), _) => Err(ApiError::store(&e).at(at)),
    }
}

/// Steps 1-3 of an append: authorisation, ids, signatures. Blocks (reads keys).
fn prepare(
    ledger: &Ledger,
    keys: &KeyDir,
    client: &Client,
    lines: &[Line],
) -> Result<Prepared, ApiError> {
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .ok_or_else(ApiError::internal)?;
    // 1. Who signs: the author (pre-signed), or the server when this client may have it.
    may_send(client, lines)?;
    // 2. Ids: repeats within the request, then the ledger's verdicts.
    let mut plans: Vec<Option<Plan>> = Vec::with_capacity(lines.len());
    let mut first: HashMap<&str, (RequestDigest, usize)> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(id) = &l.id else {
            plans.push(None);
            continue;
        };
        match first.get(id.as_str()) {
            Some((d, _)) if *d != l.request => {
                return Err(conflict(
                    "an earlier event of this request gives the same id with other content",
                )
                .at(Some(l.line)))
            }
            Some((_, j)) => plans.push(Some(Plan::SameAs(*j))),
            None => {
                first.insert(id.as_str(), (l.request, i));
                plans.push(None);
            }
        }
    }
    let asked: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| l.id.is_some() && plans.get(*i).is_some_and(Option::is_none))
        .map(|(i, _)| i)
        .collect();
    let verdicts = judge(ledger, lines, &asked)?;
    for (i, v) in asked.iter().zip(verdicts) {
        let line = lines.get(*i).map(|l| l.line);
        let plan = recorded_plan(v).map_err(|e| e.at(line))?;
        if let Some(p) = plans.get_mut(*i) {
            *p = plan;
        }
    }
    // 3. Sign what is new (a destruction with the outside time it asks to cite, from what
    // the ledger stores: crate::citation, as `caseledger destroy --cite-…`).
    let mut cited = Vec::new();
    let mut items = Vec::new();
    let mut item_line = Vec::new();
    for (l, plan) in lines.iter().zip(plans.iter_mut()) {
        if plan.is_some() {
            continue;
        }
        let LineKind::Event(kind) = &l.kind else {
            return Err(ApiError::internal());
        };
        let kind = match (kind, &l.cite) {
            (EventKind::Destruction { reason, .. }, Some(choice)) => {
                let c = crate::citation::cite(ledger, keys.root(), choice)
                    .map_err(|e| cite_error(&e).at(Some(l.line)))?;
                cited.push((l.line, c.clone()));
                EventKind::Destruction {
                    reason: reason.clone(),
                    citation: Some(c),
                }
            }
            (k, _) => k.clone(),
        };
        let (ev, payload) = l.pre.event(
            l.record.clone(),
            l.author.clone(),
            kind,
            l.occurred_on,
            l.payload.clone(),
        );
        let signed = match l.pre.signature() {
            Some(sig) => ev.with_signature(sig),
            None => {
                let key =
                    caseledger_keyfile::read(&keys.actor_key_path(&l.author)).map_err(|e| {
                        tracing::error!(author = %l.author, error = %e, "an author's key");
                        ApiError::internal().at(Some(l.line))
                    })?;
                ev.sign(&origin, &key).map_err(|_| ApiError::internal())?
            }
        };
        let request = l.id.clone().map(|id| Request::Id(id, l.request));
        *plan = Some(Plan::Fresh(items.len()));
        items.push((signed, payload, request));
        item_line.push(l.line);
    }
    Ok(Prepared {
        plans,
        items,
        item_line,
        cited,
    })
}

/// A citation that cannot be made, as answered: the request's fault (`400`: not a key, no
/// such witness), nothing to cite yet (`422`: the ledger holds no cosignature or token to
/// cite), or ours (`500`, logged). Never a server path in the answer.
fn cite_error(e: &crate::citation::CiteError) -> ApiError {
    use crate::citation::CiteError as E;
    let refused = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", m);
    match e {
        E::NotAKey(why) => ApiError::bad(format!("cite_witness: not a cosignature key: {why}")),
        E::UnknownWitness(_) => ApiError::bad(
            "cite_witness: no witness of that name in the ledger's witness list (give its name from `caseledger witness list`, or its cosignature key)",
        ),
        E::NotCosigned(name) => refused(&format!(
            "cite_witness: no stored seal carries a valid cosignature by {name}; nothing destroyed (send the newest seal to the witness first)"
        )),
        E::NoTimestampLog(_) | E::NoToken(_) => refused(
            "cite_timestamp: the ledger holds no time-stamp token over its own tree; nothing destroyed (obtain one with `caseledger timestamp`)",
        ),
        E::WitnessList { .. } | E::TimestampLog { .. } | E::Store(_) | E::Citation(_) => {
            tracing::error!(error = %e, "a destruction's citation");
            ApiError::internal()
        }
    }
}

/// Kinds that change what may happen to records or who may write (a hold, a destruction, a
/// revocation): besides the author's role, which the ledger checks, the client needs the
/// `admin` scope, so that a record system's `append` token cannot destroy a record even when
/// it may have the server sign as a custodian.
fn is_administrative(kind: &LineKind) -> bool {
    matches!(
        kind,
        LineKind::Enrol { .. }
            | LineKind::Event(
                EventKind::HoldPlaced { .. }
                    | EventKind::HoldReleased { .. }
                    | EventKind::Destruction { .. }
                    | EventKind::KeyRevoked { .. }
            )
    )
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

/// The ledger's verdicts on the ids of `lines[asked]`.
fn judge(ledger: &Ledger, lines: &[Line], asked: &[usize]) -> Result<Vec<IdSeen>, ApiError> {
    let query: Vec<_> = asked
        .iter()
        .filter_map(|i| lines.get(*i))
        .filter_map(|l| l.id.as_ref().map(|id| (id, &l.request)))
        .collect();
    ledger
        .event_ids_seen(&query)
        .map_err(|e| ApiError::store(&e))
}

/// The ledger's verdict on a line's id: new (`None`), recorded with the same content (its
/// receipt), or `409` (other content, or in a record since destroyed).
fn recorded_plan(v: IdSeen) -> Result<Option<Plan>, ApiError> {
    match v {
        IdSeen::New => Ok(None),
        IdSeen::Recorded(r) => Ok(Some(Plan::Recorded(r))),
        IdSeen::Conflict { seq } => Err(conflict(format!(
            "id: already recorded at seq {seq} with other content (a corrected event needs a new id)"
        ))),
        IdSeen::KeyErased { seq } => Err(conflict(format!(
            "id: recorded at seq {seq} in a record since destroyed (its content key is erased): it can no longer be compared"
        ))),
    }
}

/// After losing a race on an id: every line must now be a repeat of its id.
fn retry_as_repeat(ledger: &Ledger, lines: &[Line]) -> Result<Vec<ReceiptOut>, ApiError> {
    let all: Vec<usize> = (0..lines.len()).collect();
    if lines.iter().any(|l| l.id.is_none()) {
        return Err(conflict("an id of this request was recorded by a concurrent request; nothing was appended: send the request again"));
    }
    let verdicts = judge(ledger, lines, &all)?;
    verdicts
        .into_iter()
        .zip(lines)
        .map(|(v, l)| match v {
            IdSeen::Recorded(r) => Ok(ReceiptOut::of(&r, true)),
            _ => Err(conflict("an id of this request was recorded by a concurrent request; nothing was appended: send the request again").at(Some(l.line))),
        })
        .collect()
}

fn resolve(plans: &[Option<Plan>], receipts: &[Receipt], i: usize) -> Option<ReceiptOut> {
    match plans.get(i)?.as_ref()? {
        Plan::Fresh(k) => receipts.get(*k).map(|r| ReceiptOut::of(r, false)),
        Plan::Recorded(r) => Some(ReceiptOut::of(r, true)),
        Plan::SameAs(j) => resolve(plans, receipts, *j),
    }
}

/// `{"actor", "role", "public_key", "author"[, "occurred_on"]}`, and for an enrolment the
/// admin signed elsewhere, `"signed_at"`, `"nonce"` and `"signature"` (with `occurred_on`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Enrolment {
    pub(crate) actor: String,
    pub(crate) role: String,
    /// Any form `caseledger actor add --pubkey` reads: 64 hex digits, an OpenSSH
    /// `ssh-ed25519` line, SPKI PEM, a note verifier key.
    pub(crate) public_key: String,
    /// The admin who signs the enrolment: the server signs as this admin (one of the
    /// client's `sign_as`), unless the request carries the admin's signature.
    pub(crate) author: String,
    pub(crate) occurred_on: Option<String>,
    /// Pre-signed (docs/FORMAT.md §3, "Pre-signed events"): as on the events route.
    pub(crate) signed_at: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) signature: Option<String>,
}
