//! The C2SP tlog-tiles read routes (<https://c2sp.org/tlog-tiles>, docs/FORMAT.md §11), so
//! tlog clients, monitors (`caseledger monitor`) and witnesses can follow a ledger. The
//! URL prefix of a ledger's tiled log is `/v1/ledgers/{name}/tlog`:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET …/tlog/checkpoint` | the newest seal with its cosignatures, `text/plain; charset=utf-8`, cached 5 s |
//! | `GET …/tlog/tile/<L>/<N>[.p/<W>]` | a Merkle tile, `application/octet-stream` |
//! | `GET …/tlog/tile/entries/<N>[.p/<W>]` | an entry bundle: entry hashes only (never entries) |
//!
//! Scope `read-proofs`, as the proof routes: tiles are proofs in another encoding, and an
//! entry bundle holds entry hashes only (no record id, actor id or content). Full tiles
//! and bundles are immutable (`Cache-Control: private, max-age=31536000, immutable`),
//! partial ones short-lived (60 s); `private` because a token fetched them (a public
//! mirror is `publish --tiles`). A tile not within the newest seal's tree is `404`; a
//! path that is not the one canonical spelling of a tile is `400`.
//!
//! (The JSON `GET /v1/ledgers/{name}/checkpoint` stays as it was for record systems.)

use crate::auth::Scope;
use crate::error::ApiError;
use crate::state::{authorise, tagged, with_ledger, St};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use caseledger_core::tile::{parse_path, TilePath, TilePathError};

/// `Cache-Control` of a full tile or bundle: its bytes never change.
const IMMUTABLE: &str = "private, max-age=31536000, immutable";
/// `Cache-Control` of a partial tile or bundle: superseded as the ledger grows.
const PARTIAL: &str = "private, max-age=60";
/// `Cache-Control` of the checkpoint: C2SP asks for no caching beyond a few seconds.
const CHECKPOINT: &str = "private, max-age=5";

fn bytes(content_type: &'static str, cache: &'static str, body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// `GET /v1/ledgers/{name}/tlog/checkpoint`.
pub(crate) async fn checkpoint(
    State(s): St,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::ReadProofs) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = with_ledger(&s, name, |h| {
        let (_, note) = h
            .ledger
            .newest_seal()
            .map_err(|e| ApiError::store(&e))?
            .ok_or_else(|| ApiError::not_found("the ledger has no seal yet"))?;
        Ok(bytes(
            "text/plain; charset=utf-8",
            CHECKPOINT,
            note.into_bytes(),
        ))
    })
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}

/// `GET /v1/ledgers/{name}/tlog/tile/{*rest}`: a tile or an entry bundle.
pub(crate) async fn tile(
    State(s): St,
    Path((name, rest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, Scope::ReadProofs) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let what = match parse_path(&format!("tile/{rest}")) {
            Ok(p) => p,
            Err(TilePathError::NoSuchTile) => {
                return Err(ApiError::not_found("no such tile in any tree"))
            }
            Err(e) => return Err(ApiError::bad(e.to_string())),
        };
        with_ledger(&s, name, move |h| {
            let (t, got) = match what {
                TilePath::Hashes(t) => (t, h.ledger.tile(t)),
                TilePath::Entries(t) => (t, h.ledger.entry_bundle(t)),
            };
            let body = got
                .map_err(|e| ApiError::store(&e))?
                .ok_or_else(|| ApiError::not_found("no such tile in the sealed tree"))?;
            let cache = if t.is_partial() { PARTIAL } else { IMMUTABLE };
            Ok(bytes("application/octet-stream", cache, body))
        })
        .await
    }
    .await;
    tagged(client, r.unwrap_or_else(IntoResponse::into_response))
}
