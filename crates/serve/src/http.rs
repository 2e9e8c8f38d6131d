//! The routes, over HTTP/1.1 (axum on tokio), and the server's life.
//!
//! | route | scope |
//! | --- | --- |
//! | `POST /v1/ledgers/{name}/events` | `append` (and `admin` for holds, destruction, key revocation) |
//! | `POST /v1/ledgers/{name}/events?dry_run=true` | as the same request without it; writes nothing |
//! | `POST /v1/ledgers/{name}/actors` | `admin` (enrolment with a public key the request gives; signed by the server as an admin in `sign_as`, or pre-signed by the admin) |
//! | `GET /v1/ledgers/{name}/records?status=S[,S…][&after=ID][&limit=N]` | `read-status` |
//! | `GET /v1/ledgers/{name}/records/{id}/status` | `read-status` |
//! | `POST /v1/ledgers/{name}/records/{id}/bundle` | `report` (appends the record's `record_head`) |
//! | `GET /v1/ledgers/{name}/reports/retention[?as_of=YYYY-MM-DD]` | `report` |
//! | `GET /v1/ledgers/{name}/checkpoint` | `read-proofs` |
//! | `GET /v1/ledgers/{name}/proofs/inclusion?seq=N[&size=M]` | `read-proofs` |
//! | `GET /v1/ledgers/{name}/proofs/consistency?from=N[&to=M]` | `read-proofs` |
//! | `POST /v1/ledgers/{name}/snapshot` | `admin` |
//! | `GET /openapi.json` | none (the API's description: no data) |
//! | `GET /v1/ledgers/{name}/tlog/checkpoint`, `…/tlog/tile/…` (C2SP tiles: [`crate::tiles`]) | `read-proofs` |
//! | `GET /v1/ledgers/{name}/tlog-entries/checkpoint`, `…/tlog-entries/tile/…` (the same, bundles of full entries) | `read-entries` |
//!
//! Every request: a request id (`x-request-id` on the answer), the timeout, one log line
//! (request id, method, route template, client, status, error kind, milliseconds; never a
//! body, a record id or a token). Answers are JSON, errors as in [`ApiError`]. Order of
//! checks: token (`401`), the client's rate (`429`), ledger name's shape (`400`), scope and the client's ledgers
//! (`403`), configured ledger (`404`), then the request itself.
//!
//! Connections: at most `max_connections` at once, and each closed when it has not sent a
//! whole request's headers within `header_read_timeout_secs` (`accept_loop`).

use crate::auth::{Client, Scope};
use crate::config::Config;
use crate::error::{ApiError, ErrorKind};
use crate::ingest::{json_error, parse_value, Line};
use crate::pool::Handle;
use crate::state::{authorise, tagged, with_ledger, ClientName, St};
pub use crate::state::{AppState, ServeError};
use crate::write::Enrolment;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::merkle::Hash;
use caseledger_core::{RecordId, Seq, Timestamp};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/ledgers/{name}/events", post(post_events))
        .route("/v1/ledgers/{name}/actors", post(enrol))
        .route("/v1/ledgers/{name}/records", get(records))
        .route("/v1/ledgers/{name}/records/{id}/status", get(record_status))
        .route("/v1/ledgers/{name}/records/{id}/bundle", post(bundle))
        .route(
            "/v1/ledgers/{name}/reports/retention",
            get(retention_report),
        )
        .route("/v1/ledgers/{name}/checkpoint", get(checkpoint))
        .route("/v1/ledgers/{name}/proofs/inclusion", get(inclusion))
        .route("/v1/ledgers/{name}/proofs/consistency", get(consistency))
        .route("/v1/ledgers/{name}/snapshot", post(snapshot))
        // No token: the API's description, no data (crates/serve/src/openapi.rs).
        .route("/openapi.json", get(openapi_json))
        // C2SP tlog-tiles (crate::tiles).
        .route(
            "/v1/ledgers/{name}/tlog/checkpoint",
            get(crate::tiles::checkpoint),
        )
        .route(
            "/v1/ledgers/{name}/tlog/tile/{*rest}",
            get(crate::tiles::tile),
        )
        // The same log with full entries in its bundles, for `read-entries` (crate::tiles).
        .route(
            "/v1/ledgers/{name}/tlog-entries/checkpoint",
            get(crate::tiles::checkpoint_entries),
        )
        .route(
            "/v1/ledgers/{name}/tlog-entries/tile/{*rest}",
            get(crate::tiles::tile_entries),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), around))
        .with_state(state)
}

/// Request id, timeout and the log line, around every request.
async fn around(State(s): St, req: Request, next: Next) -> Response {
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    // The route's template, never the path itself (it holds record ids).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    let mut r = match tokio::time::timeout(s.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::busy(format!(
            "not answered within {} s; an append may still complete: send it again with the same id to learn its receipt",
            s.timeout.as_secs()
        ))
        .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("r-{id}")) {
        r.headers_mut().insert("x-request-id", v);
    }
    let client = r
        .extensions()
        .get::<ClientName>()
        .map_or("-", |c| c.0.as_str())
        .to_owned();
    let kind = r.extensions().get::<ErrorKind>().map_or("-", |k| k.0);
    tracing::info!(
        request = %format!("r-{id}"),
        %method,
        %route,
        %client,
        status = r.status().as_u16(),
        error = kind,
        ms = started.elapsed().as_millis(),
        "request"
    );
    r
}

fn json_ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON request's body: `415` unless the content type is JSON, `413` beyond the body limit.
async fn json_body(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    axum::body::to_bytes(body, s.max_body).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body over {} bytes", s.max_body),
        )
    })
}

/// `{"events":[…]}`, with nothing else beside.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<Value>,
}

/// The posted events, parsed: one object, or `{"events":[…]}`.
fn parse_events(bytes: &[u8], max_batch: usize) -> Result<Vec<Line>, ApiError> {
    // Not `serde_json::from_slice::<Value>`: it keeps the last of two equal keys, so a body
    // repeating `payload` would be appended with a value a proxy may not have seen.
    let v: Value = crate::ingest::json_value(bytes).map_err(|e| ApiError::bad(e.0))?;
    let is_batch = v.as_object().is_some_and(|o| o.contains_key("events"));
    let values = if is_batch {
        let b: Batch = serde_json::from_value(v)
            .map_err(|e| ApiError::bad(format!("batch: {}", json_error(e).0)))?;
        if b.events.is_empty() {
            return Err(ApiError::bad("events: empty"));
        }
        b.events
    } else {
        vec![v]
    };
    if values.len() > max_batch {
        return Err(ApiError::bad(format!(
            "events: {} events; at most {max_batch} per request",
            values.len()
        )));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| parse_value(v, i + 1).map_err(|e| ApiError::bad(e.0).at(Some(i + 1))))
        .collect()
}

async fn post_events(
    State(s): St,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::Append) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let client = client.clone();
    let r = async {
        let dry = dry_run_flag(raw.as_deref())?;
        let bytes = json_body(&s, &headers, body).await?;
        let lines = parse_events(&bytes, s.max_batch)?;
        drop(bytes);
        let c = client.clone();
        if dry {
            return with_ledger(&s, name, move |h| dry_answer(&h, &c, &lines)).await;
        }
        // A lone pre-signed event to an open ledger: no blocking thread per request
        // (`write::append_lone`); anything else, or a ledger to open first, as below.
        if crate::write::is_lone_presigned(&lines) {
            if let Some(h) = s.pool.get_open(&name).filter(|h| h.ledger.submits()) {
                let r = crate::write::append_lone(&h, &c, lines).await;
                drop(h);
                if crate::error::failed_full(&r) {
                    let s = s.clone();
                    let _ = tokio::task::spawn_blocking(move || s.pool.discard(&name)).await;
                }
                return Ok(json_ok(json!({ "receipts": r? })));
            }
        }
        let receipts = with_ledger(&s, name, move |h| {
            crate::write::append(&h.ledger, &h.keys, &c, lines)
        })
        .await?;
        Ok(json_ok(json!({ "receipts": receipts })))
    }
    .await;
    tagged(&client, r.unwrap_or_else(IntoResponse::into_response))
}

/// `dry_run=true|false` (the only parameter of the events route).
fn dry_run_flag(raw: Option<&str>) -> Result<bool, ApiError> {
    let mut dry = false;
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        dry = match pair {
            "dry_run" | "dry_run=true" => true,
            "dry_run=false" => false,
            _ => {
                return Err(ApiError::bad(
                    "an unknown query parameter (only dry_run=true)",
                ))
            }
        };
    }
    Ok(dry)
}

/// The ledger's date today: the calendar day in the practice's time zone, the day the store
/// dates an append made now (and judges a destruction by).
fn ledger_today(l: &caseledger_store::Ledger) -> Result<caseledger_core::Date, ApiError> {
    l.registry()
        .ledger_date(Timestamp::now())
        .map_err(|_| ApiError::internal())
}

/// A record's retention facts, as the status routes answer them.
fn record_json(
    id: &RecordId,
    st: &caseledger_core::record::RecordState,
    as_of: caseledger_core::Date,
) -> Value {
    let status = st.status(as_of, false);
    json!({
        "record": id.as_str(),
        "status": status.name(),
        "retained_until": st.retained_until().map(|d| d.to_string()),
        "lawful_from": st.lawful_from().map(|d| d.to_string()),
        "holds": st.holds.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        "entries": st.entries,
    })
}

/// A dry run's answer: the store's verdict on the whole request today, and for each
/// destruction in it the record's retention facts (why it would or would not be lawful).
fn dry_answer(h: &Handle, client: &Client, lines: &[Line]) -> Result<Response, ApiError> {
    let judged = crate::write::dry_run(&h.ledger, &h.keys, client, lines)?;
    let as_of = ledger_today(&h.ledger)?;
    let mut destructions = Vec::new();
    for l in lines {
        let is_destruction = matches!(
            l.kind,
            crate::ingest::LineKind::Event(caseledger_core::event::EventKind::Destruction { .. })
        );
        if let (true, Some(r)) = (is_destruction, &l.record) {
            let st = h.ledger.record_state(r).map_err(|e| ApiError::store(&e))?;
            let mut v = match &st {
                Some(st) => record_json(r, st, as_of),
                None => json!({ "record": r.as_str(), "status": null }),
            };
            v["line"] = json!(l.line);
            // What it would cite (the same lookup as the real append): its kind and the
            // cited checkpoint's size, never the token or signature bytes.
            v["citation"] = judged
                .cited
                .iter()
                .find(|(line, _)| *line == l.line)
                .map_or(
                    Value::Null,
                    |(_, c)| json!({"kind": c.kind_name(), "size": c.checkpoint().size}),
                );
            destructions.push(v);
        }
    }
    Ok(json_ok(json!({
        "dry_run": true,
        "as_of": as_of.to_string(),
        "accepted": judged.accepted,
        "new_events": judged.new_events,
        "refused": judged.refused.map(|(line, message)| json!({"line": line, "message": message})),
        "destructions": destructions,
    })))
}

/// The statuses `caseledger records --status` lists (`caseledger_core::record::Status`).
const STATUS_NAMES: [&str; 7] = [
    "open",
    "retained",
    "eligible",
    "on_hold",
    "destroyed_lawfully",
    "destroyed_early",
    "content_missing",
];
/// The page size of the records route, and its largest.
const RECORDS_PAGE: usize = 1000;
const RECORDS_PAGE_MAX: usize = 10_000;

/// Records by status, as of the ledger's today, from the store's record state rows (the
/// states every append keeps; the same fold and status as `caseledger records`, which
/// also re-verifies the ledger: `content_missing` is that verifier's finding and is never
/// answered here). Paged by record id: `next` is the `after` of the next page.
async fn records(
    State(s): St,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::ReadStatus) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let mut wanted: Vec<&'static str> = Vec::new();
        let mut after = None;
        let mut limit = RECORDS_PAGE;
        for pair in raw
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "status" => {
                    for w in v.split(',').filter(|w| !w.is_empty()) {
                        let n = STATUS_NAMES.iter().find(|n| **n == w).ok_or_else(|| {
                            ApiError::bad(format!(
                                "status: expected one of {}",
                                STATUS_NAMES.join(", ")
                            ))
                        })?;
                        wanted.push(n);
                    }
                }
                "after" => {
                    after = Some(
                        RecordId::new(v).map_err(|_| ApiError::bad("after: not a record id"))?,
                    );
                }
                "limit" => {
                    limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=RECORDS_PAGE_MAX).contains(n))
                        .ok_or_else(|| ApiError::bad(format!("limit: 1 to {RECORDS_PAGE_MAX}")))?;
                }
                _ => return Err(ApiError::bad("an unknown query parameter")),
            }
        }
        with_ledger(&s, name, move |h| {
            let as_of = ledger_today(&h.ledger)?;
            let mut out = Vec::new();
            let mut next = None;
            for row in h.ledger.record_states(after.as_ref()) {
                let (id, st) = row.map_err(|e| ApiError::store(&e))?;
                let status = st.status(as_of, false).name();
                if !wanted.is_empty() && !wanted.contains(&status) {
                    continue;
                }
                if out.len() == limit {
                    next = out
                        .last()
                        .and_then(|v: &Value| v["record"].as_str().map(str::to_owned));
                    break;
                }
                out.push(record_json(&id, &st, as_of));
            }
            Ok(json_ok(json!({
                "as_of": as_of.to_string(),
                "statuses": wanted,
                "records": out,
                "next": next,
            })))
        })
        .await
    }
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

/// Enrols an actor with the public key the request gives: the server never makes or keeps
/// an actor's private key for this (the actor signs its own events, pre-signed, or the
/// operator puts its key in the key directory). Signed as `author`: by the server, with the
/// admin's key from the key directory when the client may have it sign as that admin; or
/// by the admin elsewhere (`signature`, with `signed_at`, `nonce` and `occurred_on`), so
/// that the admin's key need never be on the server: the ledger checks the signature with
/// the admin's enrolled key, and that the author is an admin. Revocation is a
/// `key_revoked` event on the events route (scope `admin` as well; pre-signed there too).
async fn enrol(State(s): St, Path(name): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::Admin) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let client = client.clone();
    let r = async {
        let bytes = json_body(&s, &headers, body).await?;
        let e: Enrolment =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(json_error(e).0))?;
        let actor = caseledger_core::ActorId::new(&e.actor)
            .map_err(|_| ApiError::bad("actor: not an actor id"))?;
        let author = caseledger_core::ActorId::new(&e.author)
            .map_err(|_| ApiError::bad("author: not an actor id"))?;
        let role = caseledger_core::event::Role::parse(&e.role)
            .map_err(|_| ApiError::bad("role: expected admin, licensee or custodian"))?;
        if e.public_key.contains("PRIVATE KEY") {
            return Err(ApiError::bad(
                "public_key: this is a private key; send only the public key",
            ));
        }
        let public_key = caseledger_core::ids::PublicKey::parse_any(&e.public_key)
            .map_err(|_| ApiError::bad("public_key: not an Ed25519 public key in a known form"))?;
        let pre = crate::presign::Presign::parse(
            &crate::presign::Fields {
                signed_at: e.signed_at.as_deref(),
                nonce: e.nonce.as_deref(),
                salt: None,
                signature: e.signature.as_deref(),
            },
            &crate::presign::JSON_NAMES,
            false,
        )
        .map_err(|e| ApiError::bad(e.0))?;
        if pre.is_signed() && e.occurred_on.is_none() {
            return Err(ApiError::bad(
                "occurred_on: required (signed with the event)",
            ));
        }
        if !pre.is_signed() && !client.may_sign_as(&author) {
            return Err(ApiError::forbidden(format!(
                "author {author}: the server does not sign for this author for this client (send the enrolment signed by the admin: signed_at, nonce, signature)"
            )));
        }
        let occurred_on = match &e.occurred_on {
            None => None,
            Some(d) => Some(
                d.parse::<caseledger_core::Date>()
                    .map_err(|_| ApiError::bad("occurred_on: expected YYYY-MM-DD"))?,
            ),
        };
        with_ledger(&s, name, move |h| {
            let origin = h.ledger.origin().ok_or_else(ApiError::internal)?;
            let on = match occurred_on {
                Some(d) => d,
                None => ledger_today(&h.ledger)?,
            };
            let kind = caseledger_core::event::EventKind::ActorEnrolled {
                actor,
                role,
                public_key,
            };
            let (event, _) = pre.event(None, author.clone(), kind, on, None);
            let signed = match pre.signature() {
                // Checked by the store against the admin's enrolled key before any write.
                Some(sig) => event.with_signature(sig),
                None => {
                    let key = caseledger_keyfile::read(&h.keys.actor_key_path(&author))
                        .map_err(|e| {
                            tracing::error!(author = %author, error = %e, "an author's key");
                            ApiError::internal()
                        })?;
                    event
                        .sign(origin.as_str(), &key)
                        .map_err(|_| ApiError::internal())?
                }
            };
            let receipt = h
                .ledger
                .append(signed, None)
                .map_err(|e| ApiError::store(&e))?;
            Ok(json_ok(json!({
                "receipt": crate::write::ReceiptOut::of(&receipt, false),
            })))
        })
        .await
    }
    .await;
    tagged(&client, r.unwrap_or_else(IntoResponse::into_response))
}

/// The evidence bundle of one record, exactly as `caseledger export` writes it (so
/// `caseledger verify --bundle` checks it): the store appends the record's `record_head`
/// (sealed as every commit, hence `POST`: each call adds an entry) and builds the bundle
/// from the entries; it is verified as an auditor holding the ledger key would before it
/// is answered. The bundle carries the record's content (that is its purpose): the scope
/// `report` guards it, and the log names only the route. A closed ledger has no new
/// bundle (`422`: nothing may be appended to it).
async fn bundle(
    State(s): St,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::Report) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let record = RecordId::new(&id).map_err(|_| ApiError::bad("record: not a record id"))?;
        with_ledger(&s, name, move |h| export_bundle(&h, &record)).await
    }
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

fn export_bundle(h: &Handle, record: &RecordId) -> Result<Response, ApiError> {
    use caseledger_store::ExportError as X;
    let l = &h.ledger;
    let no_record = || ApiError::not_found("no record of this id");
    // A hint only (the bundle is built from the entries): an unknown record appends nothing.
    if l.record_state(record)
        .map_err(|e| ApiError::store(&e))?
        .is_none()
    {
        return Err(no_record());
    }
    let origin = l.origin().ok_or_else(ApiError::internal)?;
    let key: caseledger_core::keys::SigningKey =
        caseledger_keyfile::read(&h.keys.ledger_key_path()).map_err(|e| {
            tracing::error!(error = %e, "the ledger key");
            ApiError::internal()
        })?;
    let signer = caseledger_core::note::NoteSigner::new(origin.as_str(), key)
        .map_err(|_| ApiError::internal())?;
    let bundle = l.export_bundle(record, &signer).map_err(|e| match e {
        X::NoSuchRecord => no_record(),
        X::Closed { closed_at } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!("the ledger was closed at seq {closed_at}: nothing may be appended, so no new bundle (bundles exported before stay valid)"),
        ),
        X::Store(e) | X::HeadRefused(e) => ApiError::store(&e),
        other => {
            tracing::error!(error = %other, "exporting a bundle");
            ApiError::internal()
        }
    })?;
    let policy = caseledger_verify::Policy {
        trusted_keys: vec![signer.verifier()],
        expected_origin: Some(origin.as_str().to_owned()),
        ..caseledger_verify::Policy::default()
    };
    let v = caseledger_verify::bundle::verify_bundle(&bundle, &policy).map_err(|e| {
        tracing::error!(error = %e, "checking an exported bundle");
        ApiError::internal()
    })?;
    if v.complete().is_none() || !v.findings().is_empty() {
        // Findings name records and seqs: their count only, in the log.
        tracing::error!(
            findings = v.findings().len(),
            "an exported bundle does not verify"
        );
        return Err(ApiError::internal());
    }
    let bytes = bundle.to_json().map_err(|_| ApiError::internal())?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

/// The signed retention report as of the end of a day (today by default) in the practice's
/// time zone: the verifier's own report (`caseledger_verify::report`, the model `caseledger
/// report retention` writes as `report.json`), built from a verification of a snapshot (the
/// server holds the live ledger) that is removed afterwards. Its anchor is the ledger key
/// alone (self-attested: the server holds that key); a relying party's own checkpoints,
/// witnesses and time policy are for `caseledger report retention` on a snapshot. Findings
/// are included in the report (its verdict says so), not refused. Answered: the report's
/// exact bytes (as a string: the signatures cover them), its SSHSIG (namespace
/// `caseledger-report`), its raw Ed25519 signature (base64) and the reporting key.
async fn retention_report(
    State(s): St,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::Report) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let mut as_of = None;
        for pair in raw
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            match pair.split_once('=') {
                Some(("as_of", v)) => {
                    as_of = Some(
                        v.parse::<caseledger_core::Date>()
                            .map_err(|_| ApiError::bad("as_of: expected YYYY-MM-DD"))?,
                    );
                }
                _ => return Err(ApiError::bad("an unknown query parameter (only as_of)")),
            }
        }
        with_ledger(&s, name, move |h| make_report(&h, as_of)).await
    }
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

fn make_report(h: &Handle, as_of: Option<caseledger_core::Date>) -> Result<Response, ApiError> {
    use caseledger_verify::report::{sign_report, ReportContext, RetentionReport};
    let key_path = h
        .report_key
        .clone()
        .ok_or_else(|| ApiError::not_found("no report_key is configured for this ledger"))?;
    let dir = h.snapshots.clone().ok_or_else(|| {
        ApiError::not_found(
            "reports are made from a snapshot: no snapshot directory is configured for this ledger",
        )
    })?;
    let reg = h.ledger.registry();
    let zone = reg.settings.time_zone.clone();
    let now = Timestamp::now();
    let today = reg.ledger_date(now).map_err(|_| ApiError::internal())?;
    let as_of = as_of.unwrap_or(today);
    if as_of > today {
        return Err(ApiError::bad(format!(
            "as_of {as_of}: after today ({today}, {}): a report describes a day that has begun",
            zone.as_str()
        )));
    }
    // The cut: the start of the next day in the practice's zone (as `report retention`).
    let cut = as_of
        .next_day()
        .ok()
        .and_then(|d| d.civil().to_zoned(zone.zone()).ok())
        .map(|z| Timestamp(z.timestamp().as_microsecond()))
        .ok_or_else(|| ApiError::bad("as_of: no such day in the practice's time zone"))?;
    let origin = h.ledger.origin().ok_or_else(ApiError::internal)?;
    let read_key = |p: &std::path::Path, what: &str| {
        caseledger_keyfile::read(p).map_err(|e| {
            tracing::error!(error = %e, "the {what}");
            ApiError::internal()
        })
    };
    let report_key: caseledger_core::keys::SigningKey = read_key(&key_path, "report key")?;
    let ledger_signer = caseledger_core::note::NoteSigner::new(
        origin.as_str(),
        read_key(&h.keys.ledger_key_path(), "ledger key")?,
    )
    .map_err(|_| ApiError::internal())?;
    let policy = caseledger_verify::Policy {
        trusted_keys: vec![ledger_signer.verifier()],
        expected_origin: Some(origin.as_str().to_owned()),
        ..caseledger_verify::Policy::default()
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                tracing::error!(error = %e, "the snapshot directory");
                ApiError::internal()
            })?;
    }
    let copy = dir.join(format!("report-{}", now.0));
    h.ledger.snapshot(&copy).map_err(|e| ApiError::store(&e))?;
    let verified = caseledger_verify::SledSource::open(&copy)
        .and_then(|src| caseledger_verify::asof::verify_as_of(&src, &policy, cut, &|_| {}));
    if let Err(e) = std::fs::remove_dir_all(&copy) {
        tracing::warn!(error = %e, "removing a report's snapshot");
    }
    let asof = verified.map_err(|e| {
        tracing::error!(error = %e, "verifying a snapshot for a report");
        ApiError::internal()
    })?;
    let ctx = ReportContext {
        as_of,
        time_zone: zone.as_str().to_owned(),
        produced_at: now,
        identity: origin.as_str().to_owned(),
        key: report_key.public_key(),
    };
    let report = RetentionReport::build(&asof, &policy, &ctx, true).map_err(|e| {
        tracing::error!(error = %e, "building a report");
        ApiError::internal()
    })?;
    let bytes = report
        .to_canonical_json()
        .map_err(|_| ApiError::internal())?;
    let sig = sign_report(&bytes, &report_key).map_err(|_| ApiError::internal())?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::internal())?;
    Ok(json_ok(json!({
        "report_json": text,
        "sshsig": sig.sshsig_armored,
        "ed25519": base64::engine::general_purpose::STANDARD.encode(sig.raw_ed25519),
        "key": report_key.public_key().to_hex(),
    })))
}

async fn record_status(
    State(s): St,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::ReadStatus) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let record = RecordId::new(&id).map_err(|_| ApiError::bad("record: not a record id"))?;
        with_ledger(&s, name, move |h| {
            let as_of = ledger_today(&h.ledger)?;
            let st = h
                .ledger
                .record_state(&record)
                .map_err(|e| ApiError::store(&e))?
                .ok_or_else(|| ApiError::not_found("no record of this id"))?;
            let status = st.status(as_of, false);
            Ok(json_ok(json!({
                "record": record.as_str(),
                "as_of": as_of.to_string(),
                "status": status.name(),
                "retained_until": match status {
                    caseledger_core::record::Status::Retained { until } => Some(until.to_string()),
                    _ => None,
                },
                "holds": st.holds.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
                "entries": st.entries,
                "destroyed": st.destroyed.is_some(),
            })))
        })
        .await
    }
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

async fn checkpoint(State(s): St, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::ReadProofs) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = with_ledger(&s, name, |h| {
        let (size, note) = h
            .ledger
            .newest_seal()
            .map_err(|e| ApiError::store(&e))?
            .ok_or_else(|| ApiError::not_found("the ledger has no seal yet"))?;
        Ok(json_ok(json!({ "size": size, "note": note })))
    })
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

/// `a=1&b=2` into numbers; unknown parameters are refused.
fn query(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<Option<u64>>, ApiError> {
    let mut out = vec![None; allowed.len()];
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let i = allowed
            .iter()
            .position(|a| *a == k)
            .ok_or_else(|| ApiError::bad("an unknown query parameter"))?;
        let n: u64 = v
            .parse()
            .map_err(|_| ApiError::bad(format!("{k}: expected a non-negative integer")))?;
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(n);
        }
    }
    Ok(out)
}

fn hashes(v: &[Hash]) -> Vec<String> {
    v.iter().map(Hash::to_string).collect()
}

/// A proof route: the `read-proofs` scope, query parameters `a` (required) and `b`
/// (optional, the ledger's size when absent, never beyond it), answered by `f` from the
/// open ledger with `(a, b, head)`.
async fn proof_route(
    s: Arc<AppState>,
    name: &str,
    raw: Option<&str>,
    headers: &HeaderMap,
    (a, b): (&'static str, &'static str),
    f: impl FnOnce(&Handle, u64, u64) -> Result<Response, ApiError> + Send + 'static,
) -> Response {
    let (client, name) = match authorise(&s, headers, name, Scope::ReadProofs) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let q = query(raw, &[a, b])?;
        let first = q
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| ApiError::bad(format!("{a}: required")))?;
        let second = q.get(1).copied().flatten();
        with_ledger(&s, name, move |h| {
            let head = h.ledger.head().size;
            let second = second.unwrap_or(head);
            if second > head {
                return Err(ApiError::bad(format!(
                    "{b} {second}: beyond the ledger's size {head}"
                )));
            }
            f(&h, first, second)
        })
        .await
    }
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

async fn inclusion(
    State(s): St,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    proof_route(
        s,
        &name,
        raw.as_deref(),
        &headers,
        ("seq", "size"),
        |h, seq, size| {
            let l = &h.ledger;
            if seq >= size {
                return Err(ApiError::bad(format!(
                    "seq {seq}: not below the tree size {size}"
                )));
            }
            let bytes = l
                .entry_bytes(Seq(seq))
                .map_err(|e| ApiError::store(&e))?
                .ok_or_else(|| ApiError::not_found("no such entry"))?;
            let eh = entry_hash(&bytes);
            let proof = l
                .inclusion_proof(Seq(seq), size)
                .map_err(|e| ApiError::store(&e))?;
            let root = l.root_at(size).map_err(|e| ApiError::store(&e))?;
            Ok(json_ok(json!({
                "leaf_index": seq,
                "tree_size": size,
                "leaf_hash": merkle_leaf(&eh).to_string(),
                "entry_hash": eh.to_hex(),
                "proof": hashes(&proof),
                "root": root.to_string(),
            })))
        },
    )
    .await
}

async fn consistency(
    State(s): St,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    proof_route(
        s,
        &name,
        raw.as_deref(),
        &headers,
        ("from", "to"),
        |h, from, to| {
            let l = &h.ledger;
            if from > to {
                return Err(ApiError::bad(format!("from {from}: larger than to {to}")));
            }
            let proof = l
                .consistency_proof(from, to)
                .map_err(|e| ApiError::store(&e))?;
            let root = |n| {
                l.root_at(n)
                    .map(|r| r.to_string())
                    .map_err(|e| ApiError::store(&e))
            };
            Ok(json_ok(json!({
                "size1": from,
                "size2": to,
                "root1": root(from)?,
                "root2": root(to)?,
                "proof": hashes(&proof),
            })))
        },
    )
    .await
}

/// A consistent copy of the open ledger for an auditor (`caseledger verify --ledger
/// COPY`), taken while appends go on: the server holds the ledger's lock, so a verifier
/// cannot open the live directory meanwhile. Commits wait while it is read.
async fn snapshot(State(s): St, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::Admin) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let label = name.to_string();
    let r = with_ledger(&s, name, move |h| {
        let dir = h.snapshots.ok_or_else(|| {
            ApiError::not_found("no snapshot directory is configured for this ledger")
        })?;
        {
            use std::os::unix::fs::DirBuilderExt;
            // Copies hold the ledger's (encrypted) content: private like the ledger.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| {
                    tracing::error!(error = %e, "the snapshot directory");
                    ApiError::internal()
                })?;
        }
        let ms = Timestamp::now().0 / 1000;
        let to = dir.join(format!("{label}-{ms}"));
        let taken = h.ledger.snapshot(&to).map_err(|e| ApiError::store(&e))?;
        Ok(json_ok(json!({
            "path": to.display().to_string(),
            "size": taken.size,
            "blocked_ms": taken.blocked.as_millis(),
        })))
    })
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

/// The OpenAPI document, made once.
async fn openapi_json() -> Response {
    static DOC: std::sync::LazyLock<String> = std::sync::LazyLock::new(crate::openapi::document);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        DOC.as_str(),
    )
        .into_response()
}

/// Serves connections until SIGTERM or ctrl-c, then waits for those open to finish their
/// request in flight (hyper's graceful shutdown: idle kept-alive connections close at
/// once). At most `max_connections` are served at once (the next is accepted when one
/// ends; meanwhile clients wait in the kernel's backlog), and hyper closes a connection
/// that has not sent a whole request's headers within `header_read_timeout_secs` of
/// starting to wait for them (axum's own `serve` sets no timer, so no such timeout: hence
/// this loop).
///
/// With TLS, the handshake is made in the connection's own task, within the same
/// header-read timeout and under the same connection permit (`crate::tls::handshake`).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: &crate::config::Limits,
    tls: Option<Arc<crate::tls::Reloadable>>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let permit = tokio::select! {
            // The semaphore is never closed: always a permit.
            p = permits.clone().acquire_owned() => p.ok(),
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum's listener does.
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let Some(tls) = tls.clone() else {
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // An error here is the client's (a timeout, a reset, bad HTTP): nothing to log.
                let _ = conn.await;
                drop(permit);
            });
            continue;
        };
        // The acceptor of this moment: a SIGHUP reload applies from the next connection.
        let tls = tls.current();
        let (watcher, builder) = (graceful.watcher(), builder.clone());
        let within = Duration::from_secs(limits.header_read_timeout_secs);
        tokio::spawn(async move {
            if let Some(s) = crate::tls::handshake(&tls, stream, within).await {
                let _ = watcher
                    .watch(builder.serve_connection(TokioIo::new(s), service))
                    .await;
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Ends when SIGTERM or ctrl-c (SIGINT) arrives.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `caseledger serve --config FILE`: serves until SIGTERM or ctrl-c (with `[tls]`, SIGHUP
/// reloads the certificate and key: [`crate::tls::Reloadable`]), then stops taking
/// connections, lets every request in flight finish (an append under way completes and is
/// answered), and closes the ledgers. Prints `listening on http://ADDR` (`https://` with
/// `[tls]`) on stdout once accepting (port 0 in the file: the port chosen).
pub fn run(config_path: &std::path::Path) -> Result<(), ServeError> {
    let config = Config::load(config_path)?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    let state = Arc::new(AppState::new(&config)?);
    // Before listening: a bad certificate or an unprotected key stops the start.
    let tls = match &config.tls {
        Some(t) => Some(Arc::new(
            crate::tls::Reloadable::new(t).map_err(|e| ServeError::Io(e.to_string()))?,
        )),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| ServeError::Io(format!("the runtime: {e}")))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServeError::Io(format!("listen {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServeError::Io(format!("listen: {e}")))?;
        // With [tls], SIGHUP reloads the certificate and key (crate::tls::Reloadable): the
        // handler is installed before the address is printed, so no SIGHUP sent after it
        // meets the default action (which ends the process).
        let reloader = match &tls {
            Some(r) => {
                let hangup =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                        .map_err(|e| ServeError::Io(format!("SIGHUP: {e}")))?;
                Some(tokio::spawn(crate::tls::reload_on_hangup(r.clone(), hangup)))
            }
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("listening on {scheme}://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, ledgers = config.ledgers.len(), clients = config.clients.len(), "serving");
        // Idle ledgers are closed every few seconds (their lock released).
        let sweeper = {
            let s = state.clone();
            let every = Duration::from_secs(config.limits.idle_close_secs.clamp(1, 5));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let s = s.clone();
                    let _ = tokio::task::spawn_blocking(move || s.pool.close_idle()).await;
                }
            })
        };
        accept_loop(listener, router(state.clone()), &config.limits, tls).await;
        sweeper.abort();
        if let Some(r) = reloader {
            r.abort();
        }
        tracing::info!("stopping: requests done, closing ledgers");
        let s = state.clone();
        tokio::task::spawn_blocking(move || s.pool.close_all())
            .await
            .map_err(|_| ServeError::Io("closing the ledgers failed".into()))?;
        Ok(())
    })
}
