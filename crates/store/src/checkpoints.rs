//! Signed checkpoints: the `checkpoints` tree and `checkpoints.log` (framing in
//! [`crate::layout`]).
//!
//! Order of a checkpoint: flush sled (the entries it names are durable), sign, insert into
//! `checkpoints`, flush sled, append to `checkpoints.log`, fsync the log and the ledger
//! directory; only then return the note. If the log cannot be written the checkpoint is
//! removed from the tree again and the I/O error returned.

use crate::error::{Result, StoreError};
use crate::layout::{frame_log_record, CHECKPOINTS_LOG};
use crate::ledger::Ledger;
use crate::open::fsync_dir;
use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::note::{append_signature_line, Note, NoteSigner};
use std::io::Write;
use std::sync::PoisonError;

fn note_text(size: u64, v: &[u8]) -> Result<String> {
    String::from_utf8(v.to_vec())
        .map_err(|_| StoreError::corrupt(format!("checkpoint for size {size} is not UTF-8"), None))
}

fn size_key(k: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(k)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::corrupt("checkpoints key is not 8 bytes", None))
}

impl Ledger {
    /// Signs a checkpoint of the current head with the ledger key, stores it, appends it to
    /// `checkpoints.log` (fsynced with its directory) and returns the signed note. Refuses a
    /// signer whose key is not the genesis ledger key. The signer's name should be the
    /// origin (verifiers name the key by it). If a checkpoint of this size is already
    /// stored, it is returned as stored (with any cosignatures) and nothing is written.
    pub fn checkpoint(&self, signer: &NoteSigner) -> Result<String> {
        let ledger_key = self
            .ledger_key()
            .ok_or(StoreError::corrupt("no ledger key (no genesis)", None))?;
        if signer.signing_key().public_key() != ledger_key {
            return Err(StoreError::WrongLedgerKey);
        }
        let origin = self
            .origin()
            .ok_or(StoreError::corrupt("no origin (no genesis)", None))?;
        let _g = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (size, root) = self.size_and_root();
        let checkpoint = Checkpoint::new(origin.as_str(), size, root)
            .map_err(|e| StoreError::corrupt(format!("origin: {e}"), None))?;
        let key = size.to_be_bytes();
        if let Some(existing) = self.trees.checkpoints.get(key)? {
            let text = note_text(size, &existing)?;
            let same = Note::parse(text.as_bytes())
                .map(|n| n.text() == checkpoint.to_body())
                .unwrap_or(false);
            if !same {
                return Err(StoreError::corrupt(
                    format!("stored checkpoint for size {size} names another root"),
                    None,
                ));
            }
            return Ok(text);
        }
        // The entries the checkpoint names must be durable before it exists anywhere.
        self.flush()?;
        let note = sign_checkpoint(&checkpoint, signer);
        self.trees.checkpoints.insert(key, note.as_bytes())?;
        self.flush()?;
        if let Err(e) = self.append_log(&note) {
            let _ = self.trees.checkpoints.remove(key);
            let _ = self.flush();
            return Err(e);
        }
        Ok(note)
    }

    /// Adds a witness's cosignature(s) to the stored checkpoint of `size`: `cosigned_note`
    /// is that checkpoint's note with extra signature lines (e.g. as returned by a
    /// witness). Its body must be the stored body; its signature lines are merged into the
    /// stored note (nothing is ever dropped, an identical line is not added twice). The
    /// merged note is stored and appended to `checkpoints.log`. Returns the merged note.
    /// The store does not know witness keys: checking cosignatures is the verifier's job.
    pub fn add_cosignature(&self, size: u64, cosigned_note: &str) -> Result<String> {
        let _g = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = size.to_be_bytes();
        let stored = self
            .trees
            .checkpoints
            .get(key)?
            .ok_or(StoreError::NoSuchCheckpoint { size })?;
        let stored = note_text(size, &stored)?;
        let stored_note = Note::parse(stored.as_bytes())
            .map_err(|e| StoreError::corrupt(format!("stored checkpoint {size}: {e}"), None))?;
        let new = Note::parse(cosigned_note.as_bytes())
            .map_err(|e| StoreError::Cosignature(e.to_string()))?;
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
        if merged == stored {
            return Ok(stored);
        }
        self.trees.checkpoints.insert(key, merged.as_bytes())?;
        self.flush()?;
        if let Err(e) = self.append_log(&merged) {
            let _ = self.trees.checkpoints.insert(key, stored.as_bytes());
            let _ = self.flush();
            return Err(e);
        }
        Ok(merged)
    }

    /// The stored checkpoint note for `size`, if any.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>> {
        self.trees
            .checkpoints
            .get(size.to_be_bytes())?
            .map(|v| note_text(size, &v))
            .transpose()
    }

    /// The checkpoint of the largest size, as `(size, note)`.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        match self.trees.checkpoints.last()? {
            None => Ok(None),
            Some((k, v)) => {
                let size = size_key(&k)?;
                Ok(Some((size, note_text(size, &v)?)))
            }
        }
    }

    /// Every stored checkpoint as `(size, note)`, by size.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        for kv in self.trees.checkpoints.iter() {
            let (k, v) = kv?;
            let size = size_key(&k)?;
            out.push((size, note_text(size, &v)?));
        }
        Ok(out)
    }

    /// Appends one framed note to `checkpoints.log`; fsyncs the file and the directory.
    pub(crate) fn append_log(&self, note: &str) -> Result<()> {
        let path = self.dir().join(CHECKPOINTS_LOG);
        let io = |e| StoreError::io(&path, e);
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::modes::FILE_MODE);
        let mut f = options.open(&path).map_err(io)?;
        f.write_all(&frame_log_record(note)).map_err(io)?;
        f.sync_all().map_err(io)?;
        fsync_dir(self.dir())
    }
}
