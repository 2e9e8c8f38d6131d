//! Client event ids (DESIGN.md v2 principle 8): what the ledger knows of an id, and the rows
//! an append with ids stores (layout in [`crate::requests`], docs/FORMAT.md §3).
//!
//! The id row keeps the seq and a hash of the whole request keyed by the record's content
//! key. A repeat is judged by recomputing that hash with the record key: after a lawful
//! destruction the key is erased, so the row can no longer be matched by anyone (the store
//! included) and a repeat of the id is reported as [`IdSeen::KeyErased`].

use crate::backend::{Backend, T};
use crate::error::{BatchError, Result, StoreError};
use crate::group::{lock, Incoming};
use crate::keystore::SlotState;
use crate::layout::{LogRecords, CHECKPOINTS_LOG};
use crate::ledger::Ledger;
use crate::requests::{decode_id_row, request_hash, Request, RequestDigest, RequestRow};
use crate::types::{Receipt, Seal};
use crate::EventId;
use caseledger_core::content::Kek;
use caseledger_core::event::Entry;
use caseledger_core::hash::entry_hash;
use caseledger_core::ids::Seq;
use caseledger_core::record::Violation;
use std::collections::HashSet;
use std::sync::Arc;

/// BLAKE3 derive-key context of a record's import line secret ([`Ledger::record_line_secret`]).
pub const IMPORT_LINE_CONTEXT: &str = "caseledger import line v2";

/// What the ledger knows of a client event id, judged against a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdSeen {
    /// Never used: the request may be appended with it.
    New,
    /// Used by the same request: its original receipt (seq, entry hash, recorded_at and
    /// the seal of the commit that wrote it). Append nothing.
    Recorded(Receipt),
    /// Used at `seq` by a request with other content: refuse.
    Conflict {
        /// The entry the id names.
        seq: Seq,
    },
    /// Used at `seq`, in a record whose content key is erased (a lawful destruction): the
    /// request can no longer be compared. Refuse (a destroyed record takes no new events).
    KeyErased {
        /// The entry the id names.
        seq: Seq,
    },
}

impl Ledger {
    fn id_kek(&self) -> Result<Kek> {
        lock(&self.content)
            .kek
            .clone()
            .ok_or(StoreError::NoContentKey)
    }

    /// A secret of the record that dies with it: `BLAKE3-derive-key("caseledger import line
    /// v2", record key)` (docs/FORMAT.md §3, "import request key"), creating the record's key
    /// when it has none yet; `None` when its key was erased by a lawful destruction. Import
    /// keys each line's hash with it, so that after a destruction nobody — the KEK's holder
    /// included — can recompute what a destroyed line contributed and test guesses of it.
    pub fn record_line_secret(
        &self,
        record: &caseledger_core::ids::RecordId,
    ) -> Result<Option<[u8; 32]>> {
        let origin = self.origin().ok_or(StoreError::NoContentKey)?;
        let mut content = lock(&self.content);
        let erased = content
            .store
            .slots
            .iter()
            .any(|s| matches!(s, Some(SlotState::Erased { record: r }) if r == record));
        if erased {
            return Ok(None);
        }
        let made = content.record_key(origin.as_str(), record, true)?;
        Ok(made.map(|(_, key, _)| blake3::derive_key(IMPORT_LINE_CONTEXT, key.as_bytes())))
    }

    /// Looks a client event id up and judges it against the digest of the request now
    /// made. Needs the KEK (the id's row key is keyed by it).
    pub fn event_id_seen(&self, id: &EventId, request: &RequestDigest) -> Result<IdSeen> {
        let mut v = self.event_ids_seen(&[(id, request)])?;
        v.pop()
            .ok_or(StoreError::Internal("one id judged, no verdict"))
    }

    /// [`Ledger::event_id_seen`] for many ids (a file import), reading `checkpoints.log`
    /// once for the seals of all repeats.
    pub fn event_ids_seen(&self, ids: &[(&EventId, &RequestDigest)]) -> Result<Vec<IdSeen>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let kek = self.id_kek()?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, request) in ids {
            out.push(self.judge_id(&kek, id, request)?);
        }
        let mut want: Vec<u64> = out
            .iter()
            .filter_map(|s| match s {
                IdSeen::Recorded(r) => Some(r.seq.0),
                _ => None,
            })
            .collect();
        if want.is_empty() {
            return Ok(out);
        }
        want.sort_unstable();
        want.dedup();
        let seals = self.seals_covering(&want)?;
        for s in &mut out {
            if let IdSeen::Recorded(r) = s {
                r.seal = want
                    .binary_search(&r.seq.0)
                    .ok()
                    .and_then(|i| seals.get(i).cloned().flatten());
            }
        }
        Ok(out)
    }

    /// One id's verdict; a repeat's receipt still lacks its seal.
    fn judge_id(&self, kek: &Kek, id: &EventId, request: &RequestDigest) -> Result<IdSeen> {
        let Some(v) = self.trees.get(T::Nonces, &id.row(kek))? else {
            return Ok(IdSeen::New);
        };
        let (seq, stored) = decode_id_row(&v)
            .ok_or_else(|| StoreError::corrupt("a client event id row is not 40 bytes", None))?;
        let seq = Seq(seq);
        let bytes = self.entry_bytes(seq)?.ok_or_else(|| {
            StoreError::corrupt("a client event id row names a missing entry", Some(seq))
        })?;
        let entry = Entry::from_bytes(&bytes)
            .map_err(|e| StoreError::corrupt(format!("entry does not decode: {e}"), Some(seq)))?;
        // The record is read from the entry, never from the caller: the hash is keyed by
        // the key of the record the id's entry belongs to.
        let Some(record) = entry.event.event.record.as_ref() else {
            return Err(StoreError::corrupt(
                "a client event id row names an administration entry",
                Some(seq),
            ));
        };
        let origin = self.origin().ok_or(StoreError::NoContentKey)?;
        let key = lock(&self.content).record_key(origin.as_str(), record, false)?;
        let Some((_, key, _)) = key else {
            return Ok(IdSeen::KeyErased { seq });
        };
        if request_hash(&key, request) != stored {
            return Ok(IdSeen::Conflict { seq });
        }
        Ok(IdSeen::Recorded(Receipt {
            seq,
            hash: entry_hash(&bytes),
            recorded_at: entry.recorded_at,
            seal: None,
        }))
    }

    /// For each of `seqs` (ascending), the seal of the commit that wrote it: the first seal
    /// in `checkpoints.log` whose size covers it (the log keeps every seal, by size), else
    /// the newest seal sled holds. One pass over the log.
    fn seals_covering(&self, seqs: &[u64]) -> Result<Vec<Option<Seal>>> {
        let path = self.dir().join(CHECKPOINTS_LOG);
        let log = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let mut out: Vec<Option<Seal>> = Vec::with_capacity(seqs.len());
        // A torn final record (a write in flight) ends the walk; it is never a seal.
        for note in LogRecords::new(&log).map_while(std::result::Result::ok) {
            let Some(&next) = seqs.get(out.len()) else {
                break;
            };
            let Ok(note) = std::str::from_utf8(note) else {
                break;
            };
            let Some(size) = note.lines().nth(1).and_then(|l| l.parse::<u64>().ok()) else {
                continue;
            };
            if size > next {
                let seal = Seal {
                    size,
                    note: Arc::from(note),
                };
                while seqs.get(out.len()).is_some_and(|s| *s < size) {
                    out.push(Some(seal.clone()));
                }
            }
        }
        if out.len() < seqs.len() {
            let newest = self.latest_checkpoint()?;
            while let Some(&s) = seqs.get(out.len()) {
                out.push(
                    newest
                        .as_ref()
                        .filter(|(size, _)| *size > s)
                        .map(|(size, note)| Seal {
                            size: *size,
                            note: Arc::from(note.as_str()),
                        }),
                );
            }
        }
        Ok(out)
    }

    /// The rows a keyed batch stores with its entries: a file line's key as given; a client
    /// event id's row key and request hash, keyed by the item's record key (made now if
    /// the record has none yet: an unused key slot is harmless). An id already used, or
    /// given twice, refuses the batch with the item's index.
    pub(crate) fn request_rows(
        &self,
        incoming: &[Incoming],
        requests: Vec<Option<Request>>,
    ) -> std::result::Result<Vec<Option<RequestRow>>, BatchError> {
        let mut rows = Vec::with_capacity(requests.len());
        let mut seen = HashSet::new();
        let origin = self.origin();
        for (index, req) in requests.into_iter().enumerate() {
            let at = |error| BatchError {
                index: Some(index),
                error,
            };
            let row = match req {
                None => None,
                Some(Request::File(k)) => Some(RequestRow {
                    key: k.row(),
                    hash: None,
                }),
                Some(Request::Id(id, digest)) => {
                    let record = match incoming.get(index) {
                        Some(Incoming::New { signed, .. }) => signed.event.record.clone(),
                        _ => None,
                    }
                    .ok_or_else(|| at(StoreError::EventIdWithoutRecord))?;
                    let kek = self.id_kek().map_err(at)?;
                    let key = id.row(&kek);
                    if !seen.insert(key) {
                        return Err(at(StoreError::Refused(Violation::Shape(
                            "the batch gives one client event id twice".into(),
                        ))));
                    }
                    if let Some(v) = self.trees.get(T::Nonces, &key).map_err(at)? {
                        let seq = decode_id_row(&v).map_or(0, |(s, _)| s);
                        return Err(at(StoreError::EventIdRecorded { seq: Seq(seq) }));
                    }
                    let origin = origin
                        .as_ref()
                        .ok_or(StoreError::NoContentKey)
                        .map_err(at)?;
                    let hash = lock(&self.content)
                        .id_request_hash(origin.as_str(), &record, &digest)
                        .map_err(at)?;
                    Some(RequestRow {
                        key,
                        hash: Some(hash),
                    })
                }
            };
            rows.push(row);
        }
        Ok(rows)
    }
}
