//! Seals and checkpoints: the `checkpoints` tree and `checkpoints.log` (framing in
//! [`crate::layout`]).
//!
//! Every commit of appended entries is **sealed**: the store signs a checkpoint of the new
//! head with the ledger key (in `commit.rs`, as part of the commit) and writes it in
//! the commit's own sled transaction, so entries and their seal become durable together.
//! After sled's flush the seal is appended to `checkpoints.log` and fsynced; only then is
//! the append acknowledged (under [`Durability::Immediate`](crate::Durability); under
//! `Deferred`, at the next [`Ledger::flush`]). A crash after sled's flush and before the
//! log append leaves the seal in sled only: opening copies it into the log.
//!
//! Groups are pipelined (`commit.rs`): while one group's flush and log fsync run, the next
//! group commits, and its flush logs every seal committed before it began that is not yet
//! logged, in one write and one fsync. So a log fsync can cover several groups, and the log
//! still never names a seal before sled's flush made its entries durable. A crash with two
//! groups in flight can leave the older one's seal out of the log for good (the newer seal
//! replaced it in sled; opening logs the newer): neither was acknowledged, and the newer
//! seal covers both groups' entries.
//!
//! The `checkpoints` tree keeps the newest seal, every one a witness cosigned, and those an
//! archive import brought in: each commit removes the previous newest seal (an imported one
//! included) unless it is cosigned. The log keeps every seal and is never cut short, except
//! for a torn final record (a write that never completed, so never acknowledged).

use crate::backend::{Backend, Ops, T};
use crate::error::{Result, StoreError};
use crate::group::lock;
use crate::layout::{frame_log_record, CHECKPOINTS_LOG};
use crate::ledger::Ledger;
use crate::types::{LogState, Seal};
use caseledger_core::checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::Hash;
use caseledger_core::note::{append_signature_line, Note, NoteSigner, NoteVerifier};
use std::io::Write;
use std::sync::Arc;

fn note_text(size: u64, v: &[u8]) -> Result<String> {
    String::from_utf8(v.to_vec())
        .map_err(|_| StoreError::corrupt(format!("checkpoint for size {size} is not UTF-8"), None))
}

fn size_key(k: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(k)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::corrupt("checkpoints key is not 8 bytes", None))
}

/// A note with more than the ledger's own signature line is anchored (a witness cosigned
/// it): sled keeps it when a newer seal arrives.
pub(crate) fn is_anchored(note: &str) -> bool {
    Note::parse(note.as_bytes()).is_ok_and(|n| n.signatures().len() > 1)
}

/// Signs the checkpoint `(origin, size, root)` with the ledger key: the seal.
pub(crate) fn sign_seal(origin: &str, key: &SigningKey, size: u64, root: Hash) -> Result<Seal> {
    let bad = |e: String| StoreError::corrupt(format!("origin {origin:?}: {e}"), None);
    let checkpoint = Checkpoint::new(origin, size, root).map_err(|e| bad(e.to_string()))?;
    let signer = NoteSigner::new(origin, key.clone()).map_err(|e| bad(e.to_string()))?;
    Ok(Seal {
        size,
        note: Arc::from(sign_checkpoint(&checkpoint, &signer)),
    })
}

impl Ledger {
    /// Adds a witness's cosignature(s) to a seal of `size`: `cosigned_note` is that seal's
    /// note with extra signature lines (e.g. as returned by a witness). A seal no longer in
    /// the `checkpoints` tree (superseded) is accepted when its note carries a valid
    /// signature by the ledger key and its root is the ledger's root at `size`. Signature
    /// lines are merged into the stored note (nothing is ever dropped, an identical line is
    /// not added twice); the merged note is stored, kept as anchored, and appended to
    /// `checkpoints.log`. Returns the merged note. The store does not know witness keys:
    /// checking cosignatures is the verifier's job.
    pub fn add_cosignature(&self, size: u64, cosigned_note: &str) -> Result<String> {
        // The writer lock: a commit removing the previous seal cannot race this.
        let mut w = lock(&self.writer);
        let key = size.to_be_bytes();
        let new = Note::parse(cosigned_note.as_bytes())
            .map_err(|e| StoreError::Cosignature(e.to_string()))?;
        let previous = self.trees.get(T::Checkpoints, &key)?;
        let stored = match &previous {
            Some(v) => note_text(size, v)?,
            None => self.superseded_seal(size, cosigned_note)?,
        };
        let stored_note = Note::parse(stored.as_bytes())
            .map_err(|e| StoreError::corrupt(format!("stored checkpoint {size}: {e}"), None))?;
        if new.text() != stored_note.text() {
            return Err(StoreError::Cosignature(format!(
                "the note is not the checkpoint of size {size}"
            )));
        }
        let mut merged = stored.clone();
        for sig in new.signatures() {
            merged = append_signature_line(&merged, &sig.to_line())
                .map_err(|e| StoreError::Cosignature(e.to_string()))?;
        }
        if merged == stored && previous.is_some() {
            return Ok(stored);
        }
        // One put, and its undo, each a commit of one op. The writer lock is held, so the
        // row read above is still the row replaced here.
        let mut one = Ops::default();
        one.put(T::Checkpoints, &key, merged.as_bytes());
        self.trees.commit(&one)?;
        self.flush()?;
        if let Err(e) = self.append_log(&merged) {
            one.clear();
            match &previous {
                Some(p) => one.put(T::Checkpoints, &key, p),
                None => one.remove(T::Checkpoints, &key),
            }
            let _ = self.trees.commit(&one);
            let _ = self.flush();
            return Err(e);
        }
        if let Some(n) = w.newest_seal.as_mut().filter(|n| n.0 == size) {
            n.1 = is_anchored(&merged);
        }
        Ok(merged)
    }

    /// A seal of `size` that sled no longer keeps, given back by a witness: its ledger
    /// signature must verify and its root must be the ledger's at `size`. Returns the note
    /// with the ledger's signature line only.
    fn superseded_seal(&self, size: u64, cosigned_note: &str) -> Result<String> {
        let refuse = |why: String| StoreError::Cosignature(why);
        let (Some(origin), Some(key)) = (self.origin(), self.ledger_key()) else {
            return Err(StoreError::NoSuchCheckpoint { size });
        };
        if size > self.head().size {
            return Err(StoreError::NoSuchCheckpoint { size });
        }
        let verifier =
            NoteVerifier::new(origin.as_str(), key).map_err(|e| refuse(e.to_string()))?;
        let signed = open_checkpoint(cosigned_note, std::slice::from_ref(&verifier))
            .map_err(|_| StoreError::NoSuchCheckpoint { size })?;
        if signed.checkpoint.size != size || signed.checkpoint.origin != origin.as_str() {
            return Err(refuse(format!(
                "the note is not a checkpoint of size {size} of this ledger"
            )));
        }
        if self.root_at(size)? != signed.checkpoint.root {
            return Err(refuse(format!(
                "the note's root is not this ledger's root at size {size}"
            )));
        }
        let own = signed
            .note
            .signatures()
            .iter()
            .find(|s| s.name == verifier.name() && s.key_id == verifier.key_id())
            .map(|s| s.to_line())
            .ok_or(StoreError::NoSuchCheckpoint { size })?;
        Ok(format!("{}\n{own}", signed.note.text()))
    }

    /// The stored checkpoint note for `size`, if any.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>> {
        self.trees
            .get(T::Checkpoints, &size.to_be_bytes())?
            .map(|v| note_text(size, &v))
            .transpose()
    }

    /// The checkpoint of the largest size, as `(size, note)`: the newest seal.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        match self.trees.last(T::Checkpoints)? {
            None => Ok(None),
            Some((k, v)) => {
                let size = size_key(&k)?;
                Ok(Some((size, note_text(size, &v)?)))
            }
        }
    }

    /// Every checkpoint sled keeps (the newest seal, anchored ones, imported ones) as
    /// `(size, note)`, by size. `checkpoints.log` holds every seal ever made.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        for kv in self.trees.scan(T::Checkpoints, &[], None) {
            let (k, v) = kv?;
            let size = size_key(&k)?;
            out.push((size, note_text(size, &v)?));
        }
        Ok(out)
    }

    /// Appends the seals the log does not name yet (by size) to `checkpoints.log`, in one
    /// write and one fsync. Sled must hold their entries durably already.
    pub(crate) fn log_seals(&self, seals: &[Seal]) -> Result<()> {
        let mut l = lock(&self.log);
        let mut frames = Vec::new();
        let mut top = l.logged;
        for s in seals {
            if s.size > top {
                frames.extend_from_slice(&frame_log_record(&s.note));
                top = s.size;
            }
        }
        if !frames.is_empty() {
            self.append_log_locked(&mut l, &frames)?;
            l.logged = top;
        }
        drop(l);
        lock(&self.unlogged).retain(|p| p.size > top);
        Ok(())
    }

    /// Appends one framed note to `checkpoints.log` and fsyncs it.
    pub(crate) fn append_log(&self, note: &str) -> Result<()> {
        let mut l = lock(&self.log);
        self.append_log_locked(&mut l, &frame_log_record(note))
    }

    /// One append of framed records + fsync (data only: the file exists since the ledger
    /// was created, and an append's new length is data to `fdatasync`). A failed write is
    /// cut back to the last complete record, so a later append never follows a torn one.
    fn append_log_locked(&self, l: &mut LogState, frame: &[u8]) -> Result<()> {
        let path = self.dir().join(CHECKPOINTS_LOG);
        let io = |e| StoreError::io(&path, e);
        if l.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io)?;
            l.len = f.metadata().map_err(io)?.len();
            l.file = Some(f);
        }
        let Some(f) = l.file.as_mut() else {
            return Err(StoreError::Internal("checkpoints.log is not open"));
        };
        let written = f.write_all(frame).and_then(|()| f.sync_data());
        if let Err(e) = written {
            let _ = f.set_len(l.len).and_then(|()| f.sync_data());
            l.file = None;
            return Err(io(e));
        }
        l.len += frame.len() as u64;
        Ok(())
    }
}
