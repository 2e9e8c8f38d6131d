//! The OpenAPI 3.1 document of the routes (utoipa), served at `GET /openapi.json` and
//! committed as docs/openapi.json.
//!
//! Generated from the code: the request types the handlers parse (`Enrolment`) and the
//! receipts they answer (`ReceiptOut`) derive their schemas; the other answers, which the
//! handlers build as JSON values, are described by the types below, field for field. Each
//! route has an operation here (a `#[utoipa::path]` on an empty function, so the handlers
//! in `http.rs` stay as they are): the test `every_route_is_documented` fails when a route
//! of the router has none or an operation has no route, and
//! `the_committed_document_is_the_generated_one` when docs/openapi.json differs from
//! what this module generates (regenerate it with `CASELEDGER_REGEN_OPENAPI=1 cargo test
//! -p caseledger-serve openapi`).
//!
//! The document is served without a token: it describes the API (as the public docs do)
//! and holds no ledger's data, names, clients or configuration; a record-system developer's
//! tooling fetches it before it has a token.
// The types below describe JSON the handlers parse or build; they are never constructed.
#![allow(dead_code, clippy::large_enum_variant)]

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// An error answer: `{"error":{"kind","message","line"}}`.
#[derive(ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `refused` (the ledger's own refusal),
    /// `rate_limited`, `busy`, `clock`, `storage_full`, `ledger_refused` (the ledger's stored
    /// bytes fail the checks made when it is opened), `internal`.
    kind: String,
    /// One line for a person; never quotes a payload or a value of the request.
    message: String,
    /// The 1-based event of a batch it is about.
    line: Option<u64>,
}

/// One event, as a line of `caseledger import` (docs/GUIDE.md, "Ingest format"). Fields
/// a kind does not take are refused; unknown fields are refused.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventLine {
    /// The record system's own id of the event: a retry with the same id and content is
    /// answered with the original receipt and appends nothing.
    id: Option<String>,
    /// The client record id (events of a record).
    record: Option<String>,
    /// The event kind (`progress_note`, `intake`, ..., `hold_placed`, `destruction`,
    /// `key_revoked`; docs/GUIDE.md). `actor_enrolled` is refused here: see the actors route.
    kind: String,
    /// YYYY-MM-DD.
    occurred_on: String,
    /// The enrolled actor who signs (or signed) it.
    author: String,
    /// Content as UTF-8 text (encrypted at rest; never logged).
    payload: Option<String>,
    /// Content as base64 (instead of `payload`).
    payload_base64: Option<String>,
    /// `amendment`: the seq it amends.
    amends: Option<u64>,
    /// `hold_placed`, `hold_released`: the matter.
    matter: Option<String>,
    /// `destruction`, `service_terminated`: the reason.
    reason: Option<String>,
    /// `key_revoked`: the actor revoked.
    actor: Option<String>,
    /// Not on this route (`actor_enrolled` only).
    role: Option<String>,
    /// Pre-signed: when the author signed, RFC 3339.
    signed_at: Option<String>,
    /// Pre-signed: 32 hex digits.
    nonce: Option<String>,
    /// Pre-signed, with a payload: 64 hex digits.
    salt: Option<String>,
    /// Pre-signed: base64 Ed25519 signature over the bytes of docs/FORMAT.md §3, or an
    /// armoured SSHSIG (namespace `caseledger-event`).
    signature: Option<String>,
    /// `destruction` only, signed by the server: cite the newest stored cosignature of this
    /// witness (a name in the ledger's witness list, or a cosignature key
    /// `name+hex8+base64`), as `caseledger destroy --cite-witness` does (`400` for an
    /// unknown witness, `422` when no stored seal carries its cosignature).
    cite_witness: Option<String>,
    /// `destruction` only, signed by the server: `true` cites the newest token of the
    /// ledger's `timestamps.log` over its own tree, as `caseledger destroy --cite-timestamp`
    /// (`422` when there is none). Not with `cite_witness`.
    cite_timestamp: Option<bool>,
}

/// Up to `max_batch` events, appended all or nothing.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    events: Vec<EventLine>,
}

/// One event, or a batch.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum EventsBody {
    /// One event.
    #[schema(title = "one event")]
    One(EventLine),
    /// A batch.
    #[schema(title = "a batch")]
    Batch(Batch),
}

/// The receipts of an append, one per event in the request's order.
#[derive(ToSchema)]
pub struct Receipts {
    receipts: Vec<crate::write::ReceiptOut>,
}

/// A refusal a dry run found.
#[derive(ToSchema)]
pub struct Refusal {
    /// The event of the request refused.
    line: Option<u64>,
    /// Why, as a real append would answer it.
    message: String,
}

/// The answer of `?dry_run=true`: nothing was written.
#[derive(ToSchema)]
pub struct DryRun {
    /// Always true.
    dry_run: bool,
    /// The ledger's date today (the practice's time zone).
    as_of: String,
    /// Whether the ledger would append the request now.
    accepted: bool,
    /// How many events would be appended (repeats of recorded ids are not).
    new_events: u64,
    /// The first refusal, when not accepted.
    refused: Option<Refusal>,
    /// For each destruction: the record's retention facts (`line` added).
    destructions: Vec<RecordFacts>,
}

/// An append's answer, or a dry run's.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum EventsAnswer {
    /// Appended (durable and sealed).
    #[schema(title = "appended")]
    Appended(Receipts),
    /// `dry_run=true`.
    #[schema(title = "dry run")]
    DryRun(DryRun),
}

/// An enrolment's receipt.
#[derive(ToSchema)]
pub struct EnrolReceipt {
    receipt: crate::write::ReceiptOut,
}

/// A record's retention facts as of the ledger's today.
#[derive(ToSchema)]
pub struct RecordFacts {
    /// The client record id.
    record: String,
    /// `open`, `retained`, `eligible`, `on_hold`, `destroyed_lawfully`, `destroyed_early`
    /// (null for an unknown record in a dry run).
    status: Option<String>,
    /// YYYY-MM-DD: the end of its retention period, when it has one.
    retained_until: Option<String>,
    /// YYYY-MM-DD: the first day its destruction is lawful.
    lawful_from: Option<String>,
    /// The matters holding it.
    holds: Vec<String>,
    /// Its number of entries.
    entries: u64,
    /// Dry runs only: the event of the request.
    line: Option<u64>,
    /// Dry runs, a destruction asking to cite outside time: what it would cite.
    citation: Option<CitationFacts>,
}

/// What a destruction would cite (a dry run).
#[derive(ToSchema)]
pub struct CitationFacts {
    /// `cosignature` or `timestamp`.
    kind: String,
    /// The size of the cited checkpoint.
    size: u64,
}

/// A page of records by status.
#[derive(ToSchema)]
pub struct RecordsPage {
    /// The ledger's date today.
    as_of: String,
    /// The statuses asked for (every status when empty).
    statuses: Vec<String>,
    records: Vec<RecordFacts>,
    /// The `after` of the next page; null on the last.
    next: Option<String>,
}

/// One record's status.
#[derive(ToSchema)]
pub struct RecordStatus {
    record: String,
    /// The ledger's date today.
    as_of: String,
    /// As `caseledger status`.
    status: String,
    /// While `retained`: until when.
    retained_until: Option<String>,
    holds: Vec<String>,
    entries: u64,
    destroyed: bool,
}

/// An evidence bundle, exactly as `caseledger export` writes it (docs/FORMAT.md,
/// "Evidence bundles"); `caseledger verify --bundle` checks it.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct EvidenceBundle(serde_json::Value);

/// A signed retention report.
#[derive(ToSchema)]
pub struct SignedReport {
    /// The report's exact bytes (JSON, as `caseledger report retention` writes
    /// `report.json`): the signatures cover these bytes.
    report_json: String,
    /// SSHSIG over them, namespace `caseledger-report`, armoured.
    sshsig: String,
    /// The raw Ed25519 signature, base64.
    ed25519: String,
    /// The reporting key, hex.
    key: String,
}

/// The newest seal.
#[derive(ToSchema)]
pub struct Checkpoint {
    /// The tree size it covers.
    size: u64,
    /// The signed checkpoint note (C2SP tlog-checkpoint), with any cosignatures.
    note: String,
}

/// An inclusion proof (RFC 9162 §2.1.3).
#[derive(ToSchema)]
pub struct InclusionProof {
    leaf_index: u64,
    tree_size: u64,
    /// base64.
    leaf_hash: String,
    /// hex.
    entry_hash: String,
    /// base64 hashes.
    proof: Vec<String>,
    /// base64.
    root: String,
}

/// A consistency proof (RFC 9162 §2.1.4).
#[derive(ToSchema)]
pub struct ConsistencyProof {
    size1: u64,
    size2: u64,
    /// base64.
    root1: String,
    /// base64.
    root2: String,
    /// base64 hashes.
    proof: Vec<String>,
}

/// A snapshot taken.
#[derive(ToSchema)]
pub struct Snapshot {
    /// Where on the server.
    path: String,
    /// The tree size it holds.
    size: u64,
    /// How long commits waited.
    blocked_ms: u64,
}

// The operations. Errors every route can answer (401, 403, 404, 429, 503, 500) are added by
// `CommonErrors`; each operation lists its own others.

/// Appends one event or a batch (all or nothing; a 2xx is durable and sealed), or judges
/// it without writing (`dry_run=true`). Holds, destruction and key revocation need the
/// scope `admin` too.
#[utoipa::path(post, path = "/v1/ledgers/{name}/events", tag = "write",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("dry_run" = Option<bool>, Query, description = "Judge the request; write nothing."),
    ),
    request_body(content = EventsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Appended (or judged).", body = EventsAnswer),
        (status = 400, description = "Malformed request.", body = ErrorBody),
        (status = 409, description = "An id already recorded with other content.", body = ErrorBody),
        (status = 413, description = "Body over the limit.", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody),
        (status = 422, description = "The ledger refused the events (nothing written).", body = ErrorBody),
    ),
    security(("bearer" = ["append"])))]
fn post_events() {}

/// Enrols an actor with the public key given: signed by the server as an admin in the
/// client's `sign_as`, or pre-signed by the admin (`signed_at`, `nonce`, `signature`,
/// `occurred_on`) so the admin's key need not be on the server.
#[utoipa::path(post, path = "/v1/ledgers/{name}/actors", tag = "write",
    params(("name" = String, Path, description = "The ledger's name.")),
    request_body(content = crate::write::Enrolment, content_type = "application/json"),
    responses(
        (status = 200, description = "Enrolled.", body = EnrolReceipt),
        (status = 400, description = "Malformed request.", body = ErrorBody),
        (status = 413, description = "Body over the limit.", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody),
        (status = 422, description = "The ledger refused it (a bad signature, enrolled already).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])))]
fn enrol() {}

/// Records by status, paged by record id.
#[utoipa::path(get, path = "/v1/ledgers/{name}/records", tag = "read",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("status" = Option<String>, Query, description = "Statuses, comma-separated."),
        ("after" = Option<String>, Query, description = "The `next` of the previous page."),
        ("limit" = Option<u32>, Query, description = "1 to 10000; 1000 by default."),
    ),
    responses(
        (status = 200, description = "A page.", body = RecordsPage),
        (status = 400, description = "A bad parameter.", body = ErrorBody),
    ),
    security(("bearer" = ["read-status"])))]
fn records() {}

/// One record's retention status.
#[utoipa::path(get, path = "/v1/ledgers/{name}/records/{id}/status", tag = "read",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("id" = String, Path, description = "The client record id."),
    ),
    responses(
        (status = 200, description = "Its status.", body = RecordStatus),
        (status = 400, description = "Not a record id.", body = ErrorBody),
    ),
    security(("bearer" = ["read-status"])))]
fn record_status() {}

/// The record's evidence bundle (appends its `record_head`, hence POST).
#[utoipa::path(post, path = "/v1/ledgers/{name}/records/{id}/bundle", tag = "report",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("id" = String, Path, description = "The client record id."),
    ),
    responses(
        (status = 200, description = "The bundle, verified before it is answered.", body = EvidenceBundle),
        (status = 400, description = "Not a record id.", body = ErrorBody),
        (status = 422, description = "The ledger is closed.", body = ErrorBody),
    ),
    security(("bearer" = ["report"])))]
fn bundle() {}

/// The signed retention report as of the end of a day (today by default).
#[utoipa::path(get, path = "/v1/ledgers/{name}/reports/retention", tag = "report",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("as_of" = Option<String>, Query, description = "YYYY-MM-DD, not after today."),
    ),
    responses(
        (status = 200, description = "The report and its signatures.", body = SignedReport),
        (status = 400, description = "A bad as_of.", body = ErrorBody),
    ),
    security(("bearer" = ["report"])))]
fn retention_report() {}

/// The newest seal.
#[utoipa::path(get, path = "/v1/ledgers/{name}/checkpoint", tag = "read",
    params(("name" = String, Path, description = "The ledger's name.")),
    responses((status = 200, description = "The seal.", body = Checkpoint)),
    security(("bearer" = ["read-proofs"])))]
fn checkpoint() {}

/// An inclusion proof of entry `seq` in the tree of `size` (the ledger's by default).
#[utoipa::path(get, path = "/v1/ledgers/{name}/proofs/inclusion", tag = "read",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("seq" = u64, Query, description = "The entry."),
        ("size" = Option<u64>, Query, description = "The tree size."),
    ),
    responses(
        (status = 200, description = "The proof.", body = InclusionProof),
        (status = 400, description = "A bad parameter.", body = ErrorBody),
    ),
    security(("bearer" = ["read-proofs"])))]
fn inclusion() {}

/// A consistency proof between tree sizes `from` and `to` (the ledger's by default).
#[utoipa::path(get, path = "/v1/ledgers/{name}/proofs/consistency", tag = "read",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("from" = u64, Query, description = "The older size."),
        ("to" = Option<u64>, Query, description = "The newer size."),
    ),
    responses(
        (status = 200, description = "The proof.", body = ConsistencyProof),
        (status = 400, description = "A bad parameter.", body = ErrorBody),
    ),
    security(("bearer" = ["read-proofs"])))]
fn consistency() {}

/// A consistent copy of the ledger on the server, for `caseledger verify`.
#[utoipa::path(post, path = "/v1/ledgers/{name}/snapshot", tag = "admin",
    params(("name" = String, Path, description = "The ledger's name.")),
    responses((status = 200, description = "Taken.", body = Snapshot)),
    security(("bearer" = ["admin"])))]
fn snapshot() {}

/// The newest seal as a C2SP signed note (tlog-checkpoint, with any cosignature lines),
/// for tlog clients, monitors and witnesses.
#[utoipa::path(get, path = "/v1/ledgers/{name}/tlog/checkpoint", tag = "tiles",
    params(("name" = String, Path, description = "The ledger's name.")),
    responses((status = 200, description = "The note.", content_type = "text/plain")),
    security(("bearer" = ["read-proofs"])))]
fn tlog_checkpoint() {}

/// A C2SP tlog-tiles tile or entry bundle of the newest seal's tree (docs/FORMAT.md §11):
/// `{rest}` is `<L>/<N>[.p/<W>]` (a Merkle tile) or `entries/<N>[.p/<W>]` (entry hashes only),
/// its slashes included.
#[utoipa::path(get, path = "/v1/ledgers/{name}/tlog/tile/{rest}", tag = "tiles",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("rest" = String, Path, description = "The tile's path below tile/, in the one canonical spelling."),
    ),
    responses(
        (status = 200, description = "The tile's bytes.", content_type = "application/octet-stream"),
        (status = 400, description = "A path that is not a canonical tile path.", body = ErrorBody),
    ),
    security(("bearer" = ["read-proofs"])))]
fn tlog_tile() {}

/// The newest seal as a C2SP signed note, on the full-entries prefix (the same bytes as
/// `…/tlog/checkpoint`).
#[utoipa::path(get, path = "/v1/ledgers/{name}/tlog-entries/checkpoint", tag = "tiles",
    params(("name" = String, Path, description = "The ledger's name.")),
    responses((status = 200, description = "The note.", content_type = "text/plain")),
    security(("bearer" = ["read-entries"])))]
fn tlog_entries_checkpoint() {}

/// A C2SP tlog-tiles tile, or an entry bundle of **full entries** (docs/FORMAT.md §11):
/// `entries/<N>[.p/<W>]` holds, for each entry, its length as a big-endian u16 then its
/// canonical bytes `E_i` (record and actor ids, kinds, dates; never a payload). The leaf of
/// entry `i` is `SHA-256(0x00 ‖ h_i)` with `h_i = BLAKE3-derive-key("caseledger entry v2", E_i)`,
/// not `SHA-256(0x00 ‖ E_i)`. Merkle tiles `<L>/<N>[.p/<W>]` are the same bytes as under `…/tlog`.
#[utoipa::path(get, path = "/v1/ledgers/{name}/tlog-entries/tile/{rest}", tag = "tiles",
    params(
        ("name" = String, Path, description = "The ledger's name."),
        ("rest" = String, Path, description = "The tile's path below tile/, in the one canonical spelling."),
    ),
    responses(
        (status = 200, description = "The tile's or bundle's bytes.", content_type = "application/octet-stream"),
        (status = 400, description = "A path that is not a canonical tile path.", body = ErrorBody),
    ),
    security(("bearer" = ["read-entries"])))]
fn tlog_entries_tile() {}

/// This document (no token needed: it holds no data).
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json")),
    security(()))]
fn openapi_json() {}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "caseledger serve",
        description = "caseledger over HTTP for record systems (docs/GUIDE.md, \"Integrating a record system\"). Every route but /openapi.json needs `Authorization: Bearer <token>` of a client with the scope named in its security requirement.",
    ),
    paths(post_events, enrol, records, record_status, bundle, retention_report, checkpoint,
          inclusion, consistency, snapshot, tlog_checkpoint, tlog_tile, tlog_entries_checkpoint,
          tlog_entries_tile, openapi_json),
    components(schemas(ErrorBody, ErrorDetail, EventLine, Batch, EventsBody, Receipts,
        crate::write::ReceiptOut, Refusal, DryRun, EventsAnswer, EnrolReceipt,
        crate::write::Enrolment, RecordFacts, RecordsPage, RecordStatus, EvidenceBundle,
        SignedReport, Checkpoint, InclusionProof, ConsistencyProof, Snapshot, CitationFacts)),
    modifiers(&CommonErrors),
)]
pub struct ApiDoc;

/// The bearer scheme, and the errors every authenticated route can answer.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = doc.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "A client token (`caseledger serve --new-token`); the scopes a route needs are its security requirement's.",
                        ))
                        .build(),
                ),
            );
        }
        let common = [
            (
                "400",
                "`bad_request`: the request is malformed (its path, query or body), or plain HTTP was sent to a TLS port.",
            ),
            ("401", "No valid token (missing, unknown, expired)."),
            ("403", "The client lacks the scope, or may not use this ledger."),
            ("404", "No such ledger (or record, or route)."),
            ("429", "The client's rate is used up; see Retry-After."),
            (
                "500",
                "`ledger_refused`: the ledger's stored bytes fail the checks made when it is opened (the message names the seq or field); `internal`: the server's own failure (logged).",
            ),
            (
                "507",
                "`storage_full`: the disk under the ledger is full; retry the same request (same ids) once space is freed; see Retry-After.",
            ),
            (
                "503",
                "Busy (the ledger is in use elsewhere, every open slot in use, a timeout); see Retry-After.",
            ),
        ];
        for (path, item) in doc.paths.paths.iter_mut() {
            if path == "/openapi.json" {
                continue;
            }
            let ops = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                for (code, why) in common {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error_response(why));
                }
            }
        }
    }
}

fn error_response(why: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(why)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        // Serialising plain data: a failure is a bug, not input.
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (method, path) of every `.route(PATH, METHOD(handler)…)` in this crate's sources:
    /// the router's routes as written.
    fn routes_in_sources() -> BTreeSet<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out = BTreeSet::new();
        for f in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            for chunk in text.split(".route(").skip(1) {
                let Some(path) = chunk.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some((path, rest)) = path.split_once('"') else {
                    continue;
                };
                // A route is an absolute path (this very test's `split` is not one).
                if !path.starts_with('/') {
                    continue;
                }
                // The method routers up to the end of this `.route(…)` call.
                let end = rest.find("\n        .").unwrap_or(rest.len());
                for m in ["get", "post", "put", "delete"] {
                    let call = format!("{m}(");
                    let found = rest[..end].match_indices(&call).any(|(i, _)| {
                        i == 0
                            || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && rest.as_bytes()[i - 1] != b'_'
                    });
                    if found {
                        // axum's catch-all `{*rest}` is the OpenAPI parameter `{rest}`.
                        out.insert((m.to_owned(), path.replace("{*", "{")));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented() {
        let routes = routes_in_sources();
        assert!(routes.len() >= 11, "{routes:?}");
        let doc = ApiDoc::openapi();
        let mut documented = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (m, op) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("delete", &item.delete),
            ] {
                if op.is_some() {
                    documented.insert((m.to_owned(), path.clone()));
                }
            }
        }
        let missing: Vec<_> = routes.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes without an operation in crates/serve/src/openapi.rs: {missing:?}"
        );
        let extra: Vec<_> = documented.difference(&routes).collect();
        assert!(extra.is_empty(), "operations without a route: {extra:?}");
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let now = document();
        if std::env::var_os("CASELEDGER_REGEN_OPENAPI").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == now,
            "docs/openapi.json differs from the code's document: regenerate it with CASELEDGER_REGEN_OPENAPI=1 cargo test -p caseledger-serve openapi"
        );
    }

    #[test]
    fn every_authenticated_operation_names_its_scope_and_the_common_errors() {
        let v: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let scopes = [
            "append",
            "read-status",
            "read-proofs",
            "read-entries",
            "report",
            "admin",
        ];
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let sec = &op["security"];
                if path == "/openapi.json" {
                    assert_eq!(sec, &serde_json::json!([{}]), "{path}");
                    continue;
                }
                let scope = sec[0]["bearer"][0].as_str().unwrap_or("");
                assert!(scopes.contains(&scope), "{method} {path}: {sec}");
                for code in ["401", "403", "404", "429", "503"] {
                    assert!(op["responses"][code].is_object(), "{method} {path} {code}");
                }
            }
        }
    }
}
