//! Export to and import from the engine-independent archive (`caseledger_core::archive`).
//!
//! Export writes, in order: the header (origin); for each seq `0..size` the entry frame
//! followed immediately by its payload frame when the payload is stored (absent after
//! lawful destruction); then every stored checkpoint note (cosignatures included) of a size
//! `<= size`, by size; then, only when asked (`with_content_keys`), every key store slot
//! (the records' content keys, wrapped by the KEK; useless without it); then the end frame.
//! `size` is the head when the export starts. Payload frames carry the stored (encrypted)
//! bytes: an archive never holds plaintext.
//!
//! Import builds a NEW ledger from an archive: every entry goes through the same checks as
//! an append (signature, `record::check`, replay, payload commitment) and must chain
//! (`seq` and `prev`), but keeps its archived bytes and `recorded_at`, so entry hashes and
//! roots are identical; each payload must match its entry's content seal, and content key
//! frames are written to the new key store at their own slots. A payload frame must directly follow its entry (one per entry; the
//! verifier reports any other as a finding), and a payload is at most
//! [`MAX_PAYLOAD`](caseledger_core::archive::MAX_PAYLOAD) bytes, as at append. An entry with a commitment
//! but no payload is accepted only if its record is destroyed later in the archive.
//! Checkpoints must be signed by the genesis ledger key, name the origin and a size within
//! the archive, and carry the root the imported entries give. Import **signs nothing**: it
//! keeps the archive's checkpoints as the imported ledger's seals (entries after the last
//! of them stay unsealed, an `unsealed_tail`, until the next append seals the head), so a
//! history it did not append never gets a seal from it. Entries are committed in
//! transactions of [`IMPORT_CHUNK`] without flushing, then flushed once. On any error the
//! new ledger directory is removed (or emptied, if it existed empty before).

use crate::backend::{Backend, Ops, T};
use crate::error::{Result, StoreError};
use crate::group::Incoming;
use crate::ledger::Ledger;
use crate::open::{cleanup_new_dir, prepare_new_dir};
use crate::types::{Durability, OpenOptions};
use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
use caseledger_core::checkpoint::{open_checkpoint, Checkpoint};
use caseledger_core::event::{Entry, EventKind};
use caseledger_core::ids::{RecordId, Seq};
use caseledger_core::note::{Note, NoteVerifier};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

/// Entries per import transaction.
pub const IMPORT_CHUNK: usize = 1024;

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ArchiveSummary {
    /// Entry frames.
    pub entries: u64,
    /// Payload frames.
    pub payloads: u64,
    /// Checkpoint frames.
    pub checkpoints: u64,
    /// Content key frames (key store slots).
    pub content_keys: u64,
}

impl Ledger {
    /// Writes the whole ledger (as of the head when called) to `w` as one archive; with
    /// `with_content_keys`, the key store's slots too (see the module docs).
    pub fn export_archive(&self, w: impl Write, with_content_keys: bool) -> Result<ArchiveSummary> {
        let origin = self
            .origin()
            .ok_or(StoreError::corrupt("no origin (no genesis)", None))?;
        let size = self.head().size;
        let mut out = ArchiveWriter::new(w, origin.as_str())?;
        let mut summary = ArchiveSummary::default();
        let end = size.to_be_bytes();
        let mut payloads = self.trees.scan(T::Payloads, &[], Some(&end)).peekable();
        for (expected, kv) in (0u64..).zip(self.trees.scan(T::Entries, &[], Some(&end))) {
            let (k, bytes) = kv?;
            if k.as_ref() != expected.to_be_bytes() {
                return Err(StoreError::corrupt(
                    "entries tree has a gap",
                    Some(Seq(expected)),
                ));
            }
            out.entry(&bytes)?;
            summary.entries += 1;
            // Payload rows are in seq order too: merge.
            while let Some(Ok((pk, _))) = payloads.peek() {
                if pk.as_ref() > k.as_ref() {
                    break;
                }
                let Some(Ok((pk, pv))) = payloads.next() else {
                    break;
                };
                if pk.as_ref() == k.as_ref() {
                    out.payload(Seq(expected), &pv)?;
                    summary.payloads += 1;
                }
            }
            if let Some(Err(_)) = payloads.peek() {
                if let Some(Err(e)) = payloads.next() {
                    return Err(e);
                }
            }
        }
        if summary.entries != size {
            return Err(StoreError::corrupt(
                format!("entries tree holds {} of {size} entries", summary.entries),
                None,
            ));
        }
        for (s, note) in self.checkpoints()? {
            if s <= size {
                out.checkpoint(&note)?;
                summary.checkpoints += 1;
            }
        }
        if with_content_keys {
            let path = self.dir.join(crate::keystore::KEYSTORE_FILE);
            for (slot, bytes) in crate::keystore::read_raw_slots(&path)?
                .into_iter()
                .enumerate()
            {
                let slot = u32::try_from(slot).map_err(|_| StoreError::Full)?;
                out.content_key(slot, &bytes)?;
                summary.content_keys += 1;
            }
        }
        out.finish()?;
        Ok(summary)
    }

    /// Builds a new ledger in `dir` (missing or empty) from an archive; see the module docs.
    /// On any error nothing is left behind.
    pub fn import_archive(
        dir: impl AsRef<Path>,
        r: impl Read,
        options: OpenOptions,
    ) -> Result<Ledger> {
        let dir = dir.as_ref();
        let created = prepare_new_dir(dir)?;
        let result = import_into(dir, r, options);
        if result.is_err() {
            cleanup_new_dir(dir, created);
        }
        result
    }
}

struct Importer {
    ledger: Ledger,
    chunk: Vec<Incoming>,
    chunk_start: u64,
    next_seq: u64,
    /// Entries whose payload is absent, by record, until the record's destruction.
    missing: HashMap<RecordId, Seq>,
    missing_unrecorded: Option<Seq>,
}

impl Importer {
    fn push(&mut self, bytes: Vec<u8>, entry: Entry, payload: Option<Vec<u8>>) -> Result<()> {
        let seq = Seq(self.next_seq);
        let ev = &entry.event.event;
        if matches!(ev.kind, EventKind::Destruction { .. }) {
            if let Some(r) = &ev.record {
                self.missing.remove(r);
            }
        }
        if ev.commitment.is_some() && payload.is_none() {
            match &ev.record {
                Some(r) => {
                    self.missing.entry(r.clone()).or_insert(seq);
                }
                None => {
                    self.missing_unrecorded.get_or_insert(seq);
                }
            }
        }
        self.next_seq += 1;
        self.chunk.push(Incoming::Imported {
            bytes,
            entry,
            stored: payload,
        });
        if self.chunk.len() >= IMPORT_CHUNK {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> Result<()> {
        let items = std::mem::take(&mut self.chunk);
        let start = self.chunk_start;
        self.chunk_start = self.next_seq;
        self.ledger
            .write_batch(items)
            .map(|_| ())
            .map_err(|e| match e.index {
                Some(i) => StoreError::ArchiveEntry {
                    seq: Seq(start + i as u64),
                    error: Box::new(e.error),
                },
                None => e.error,
            })
    }
}

fn import_into(dir: &Path, r: impl Read, options: OpenOptions) -> Result<Ledger> {
    let mut reader = ArchiveReader::new(r)?;
    let durability = options.durability;
    let ledger = Ledger::init_empty(dir, options.with_durability(Durability::Deferred))?;
    let mut imp = Importer {
        ledger,
        chunk: Vec::new(),
        chunk_start: 0,
        next_seq: 0,
        missing: HashMap::new(),
        missing_unrecorded: None,
    };
    let mut pending: Option<(Vec<u8>, Entry, Option<Vec<u8>>)> = None;
    let mut content_keys: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut notes = Vec::new();
    for item in reader.by_ref() {
        match item? {
            ArchiveItem::Entry(bytes) => {
                if let Some((b, e, p)) = pending.take() {
                    imp.push(b, e, p)?;
                }
                let seq = Seq(imp.next_seq);
                let entry = Entry::from_bytes(&bytes).map_err(|e| StoreError::ArchiveEntry {
                    seq,
                    error: Box::new(StoreError::corrupt(
                        format!("entry does not decode: {e}"),
                        Some(seq),
                    )),
                })?;
                pending = Some((bytes, entry, None));
            }
            ArchiveItem::Payload { seq, stored } => {
                let slot = match pending.as_mut() {
                    Some((_, e, p)) if e.seq == seq && p.is_none() => p,
                    _ => {
                        return Err(StoreError::Archive(format!(
                            "payload frame for seq {seq} does not follow its entry"
                        )))
                    }
                };
                *slot = Some(stored);
            }
            ArchiveItem::ContentKey { slot, bytes } => {
                if let Some((b, e, p)) = pending.take() {
                    imp.push(b, e, p)?;
                }
                content_keys.push((slot, bytes));
            }
            ArchiveItem::Checkpoint(note) => {
                if let Some((b, e, p)) = pending.take() {
                    imp.push(b, e, p)?;
                }
                notes.push(note);
            }
        }
    }
    if let Some((b, e, p)) = pending.take() {
        imp.push(b, e, p)?;
    }
    imp.write()?;
    if let Some((_, seq)) = imp.missing.iter().min_by_key(|(_, s)| **s) {
        return Err(StoreError::Archive(format!(
            "payload of seq {seq} is missing and its record was not destroyed"
        )));
    }
    if let Some(seq) = imp.missing_unrecorded {
        return Err(StoreError::Archive(format!(
            "payload of seq {seq} is missing"
        )));
    }
    let mut ledger = imp.ledger;
    let origin = ledger.origin().ok_or(StoreError::Archive(
        "the archive holds no genesis entry".into(),
    ))?;
    if origin.as_str() != reader.origin() {
        return Err(StoreError::Archive(format!(
            "header origin {:?} differs from genesis origin {:?}",
            reader.origin(),
            origin.as_str()
        )));
    }
    // Content keys go to their own slots, in order, before the ledger is acknowledged.
    {
        let mut content = crate::group::lock(&ledger.content);
        for (i, (slot, bytes)) in content_keys.into_iter().enumerate() {
            if usize::try_from(slot).ok() != Some(i) {
                return Err(StoreError::Archive(format!(
                    "content key frame {i} names slot {slot}: slots must come in order from 0"
                )));
            }
            content.store.restore(slot, &bytes)?;
        }
    }
    // The log must never name entries that are not durable.
    ledger.flush()?;
    for note in notes {
        import_checkpoint(&ledger, &note)?;
    }
    ledger.flush()?;
    ledger.durability_mut(durability);
    Ok(ledger)
}

/// Checks an archived checkpoint against the imported entries and stores it.
fn import_checkpoint(ledger: &Ledger, note: &str) -> Result<()> {
    let bad = |why: String| StoreError::Archive(format!("checkpoint refused: {why}"));
    let key = ledger
        .ledger_key()
        .ok_or(StoreError::Archive("no ledger key".into()))?;
    let parsed = Note::parse(note.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let verifiers: Vec<NoteVerifier> = parsed
        .signatures()
        .iter()
        .filter_map(|s| NoteVerifier::new(&s.name, key).ok())
        .collect();
    let signed = open_checkpoint(note, &verifiers).map_err(|e| bad(e.to_string()))?;
    let Checkpoint {
        origin, size, root, ..
    } = signed.checkpoint;
    if Some(origin.as_str()) != ledger.origin().as_ref().map(|o| o.as_str()) {
        return Err(bad(format!("origin {origin:?} is not the ledger's")));
    }
    if size > ledger.head().size {
        return Err(bad(format!("size {size} is beyond the archived entries")));
    }
    if ledger.root_at(size)? != root {
        return Err(bad(format!(
            "root for size {size} differs from the archived entries' root"
        )));
    }
    match ledger.checkpoint_at(size)? {
        None => {
            let mut one = Ops::default();
            one.put(T::Checkpoints, &size.to_be_bytes(), note.as_bytes());
            ledger.trees.commit(&one)?;
            ledger.append_log(note)?;
        }
        Some(_) => {
            ledger.add_cosignature(size, note)?;
        }
    }
    Ok(())
}
