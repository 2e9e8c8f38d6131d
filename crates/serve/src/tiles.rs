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
//! entry bundle holds entry hashes only (no record id, actor id or content).
//!
//! The same log with **full entries** for authorised clients is under a second prefix,
//! `/v1/ledgers/{name}/tlog-entries` (scope `read-entries`, every route under it):
//! `checkpoint` and the Merkle tiles are the same bytes, and `tile/entries/<N>[.p/<W>]` holds
//! each entry's canonical bytes `E_i` (u16 BE length ‖ `E_i`). Those carry record ids,
//! actor ids, kinds and dates (never a payload: an entry commits to its encrypted payload by
//! digest only), so a separate prefix rather than a header-dependent answer on the same
//! URL: no cache keyed by URL can hand one client's full bundle to a hash-only client. Full tiles
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
use caseledger_core::tile::{parse_path, TileId, TilePath, TilePathError};
use caseledger_core::Seq;
use caseledger_store::{tile_within, StoreError};

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

/// Which of the two tiled views of a ledger a route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    /// `…/tlog`: entry bundles hold entry hashes (`read-proofs`).
    Hashes,
    /// `…/tlog-entries`: entry bundles hold the entries' bytes (`read-entries`).
    Entries,
}

impl View {
    fn scope(self) -> Scope {
        match self {
            View::Hashes => Scope::ReadProofs,
            View::Entries => Scope::ReadEntries,
        }
    }
}

/// `GET /v1/ledgers/{name}/tlog/checkpoint`.
pub(crate) async fn checkpoint(s: St, name: Path<String>, headers: HeaderMap) -> Response {
    checkpoint_of(View::Hashes, s, name, headers).await
}

/// `GET /v1/ledgers/{name}/tlog-entries/checkpoint`: the same note, for `read-entries`.
pub(crate) async fn checkpoint_entries(s: St, name: Path<String>, headers: HeaderMap) -> Response {
    checkpoint_of(View::Entries, s, name, headers).await
}

async fn checkpoint_of(
    view: View,
    State(s): St,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, view.scope()) {
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

/// `GET /v1/ledgers/{name}/tlog/tile/{*rest}`: a tile or an entry bundle of hashes.
pub(crate) async fn tile(s: St, path: Path<(String, String)>, headers: HeaderMap) -> Response {
    tile_of(View::Hashes, s, path, headers).await
}

/// `GET /v1/ledgers/{name}/tlog-entries/tile/{*rest}`: a tile or an entry bundle of entries.
pub(crate) async fn tile_entries(
    s: St,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    tile_of(View::Entries, s, path, headers).await
}

async fn tile_of(
    view: View,
    State(s): St,
    Path((name, rest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (client, name) = match authorise(&s, &headers, &name, view.scope()) {
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
                TilePath::Entries(t) if view == View::Hashes => (t, h.ledger.entry_bundle(t)),
                TilePath::Entries(t) => (t, full_entry_bundle(&h.ledger, t)),
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

/// The entry bundle of level-0 tile `t` with each entry's canonical bytes `E_i` (u16 BE
/// length ‖ `E_i`, C2SP's framing), or `None` as [`caseledger_store::Ledger::entry_bundle`]
/// (not a level-0 tile of the newest seal's tree). Read through the store's public API
/// only: the bounds of [`tile_within`], then each entry by seq.
fn full_entry_bundle(
    l: &caseledger_store::Ledger,
    t: TileId,
) -> caseledger_store::Result<Option<Vec<u8>>> {
    if t.level() != 0 || !tile_within(t, l.sealed_size()?) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for seq in t.leaves() {
        let e = l
            .entry_bytes(Seq(seq))?
            .ok_or_else(|| StoreError::Corrupt {
                what: "entry missing".into(),
                seq: Some(Seq(seq)),
            })?;
        // An entry over 65535 bytes cannot be framed; the store holds none that large in
        // practice (an entry carries ids, dates and digests), but a length must never wrap.
        let len = u16::try_from(e.len()).map_err(|_| StoreError::Corrupt {
            what: format!("entry of {} bytes: too long for an entry bundle", e.len()),
            seq: Some(Seq(seq)),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&e);
    }
    Ok(Some(out))
}
