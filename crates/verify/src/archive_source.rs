//! [`ArchiveSource`]: reads an archive file (`caseledger_core::archive`) as a ledger.

use crate::finding::CheckpointSource;
use crate::keystore::{KeySlot, KeyStore};
use crate::source::{
    EntryIter, LedgerSource, StoredCheckpoint, StoredEntry, StrayPayload, StrayPlace,
};
use crate::VerifyError;
use caseledger_core::archive::{ArchiveError, ArchiveItem, ArchiveReader};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// An archive file read as a ledger, in bounded memory.
///
/// The file is read twice: once for its checkpoints (held in memory; they are small), then
/// once for its entries, each paired with the payload frame right after its entry frame,
/// exactly as `archive import` pairs them (entries are keyed by their position in the file).
/// Any other payload frame (a second one for the entry, one out of order, one after the
/// last entry or among the checkpoints, one for no entry) is not paired: it is kept, by seq
/// and place only, as a [`StrayPayload`] the verifier reports, and its entry shows up as
/// missing its payload. The header's origin is [`LedgerSource::declared_origin`]. The
/// archive's own end frame (counts, digest) is checked by the reader: a damaged archive is
/// a [`VerifyError::Archive`], not a verdict.
#[derive(Debug)]
pub struct ArchiveSource {
    path: PathBuf,
    origin: String,
    /// The stray payload frames the last entry iteration met.
    strays: Mutex<Vec<StrayPayload>>,
}

fn reader(path: &Path) -> Result<ArchiveReader<BufReader<File>>, VerifyError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VerifyError::NotFound(path.to_path_buf()))
        }
        Err(e) => {
            return Err(VerifyError::Io {
                context: format!("opening {}", path.display()),
                message: e.to_string(),
            })
        }
    };
    ArchiveReader::new(BufReader::new(f)).map_err(|e| archive_err(path, e))
}

fn archive_err(path: &Path, e: ArchiveError) -> VerifyError {
    VerifyError::Archive {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ArchiveSource {
    /// Opens an archive file (reads its magic and header).
    pub fn open(path: &Path) -> Result<ArchiveSource, VerifyError> {
        let origin = reader(path)?.origin().to_owned();
        Ok(ArchiveSource {
            path: path.to_path_buf(),
            origin,
            strays: Mutex::new(Vec::new()),
        })
    }
}

impl LedgerSource for ArchiveSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
    fn len_hint(&self) -> Option<u64> {
        None
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError> {
        let mut out = Vec::new();
        for item in reader(&self.path)? {
            if let ArchiveItem::Checkpoint(note) = item.map_err(|e| archive_err(&self.path, e))? {
                out.push(StoredCheckpoint {
                    source: CheckpointSource::Stored,
                    key: None,
                    note: note.into_bytes(),
                });
            }
        }
        Ok(out)
    }
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError> {
        self.entries_from(0)
    }
    /// Entry frames before `seq` are read (the archive's own digest covers them, and their
    /// payload frames are paired as always) but not returned.
    fn entries_from(&self, seq: u64) -> Result<EntryIter<'_>, VerifyError> {
        let mut items = reader(&self.path)?;
        lock(&self.strays).clear();
        let mut pairing = Pairing {
            from: seq,
            pos: 0,
            pending: None,
        };
        let mut done = false;
        Ok(Box::new(std::iter::from_fn(move || {
            while !done {
                let item = match items.next() {
                    Some(Ok(item)) => item,
                    Some(Err(e)) => {
                        done = true;
                        return Some(Err(archive_err(&self.path, e)));
                    }
                    None => {
                        done = true;
                        return pairing.close().map(Ok);
                    }
                };
                if let Some(e) = pairing.item(item, &self.strays) {
                    return Some(Ok(e));
                }
            }
            None
        })))
    }
    fn stray_payloads(&self) -> Vec<StrayPayload> {
        lock(&self.strays).clone()
    }
    fn declared_origin(&self) -> Option<String> {
        Some(self.origin.clone())
    }
    /// The content key frames play the key store's role: slot `i` is the `i`-th frame, which
    /// must name slot `i` (the exporter writes them in order from 0). No frame: none (an
    /// archive exported without `--with-content-keys`).
    fn key_store(&self) -> Result<Option<KeyStore>, VerifyError> {
        let mut store = KeyStore::default();
        let mut any = false;
        for item in reader(&self.path)? {
            if let ArchiveItem::ContentKey { slot, bytes } =
                item.map_err(|e| archive_err(&self.path, e))?
            {
                any = true;
                let expected = store.slots.len();
                if usize::try_from(slot).ok() != Some(expected) && store.damage.is_none() {
                    store.damage = Some(format!(
                        "content key frame {expected} names slot {slot}: frames must hold slots in order from 0"
                    ));
                }
                store.slots.push(KeySlot::decode(&bytes));
            }
        }
        Ok(any.then_some(store))
    }
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        let wanted: std::collections::BTreeSet<u64> = seqs.iter().copied().collect();
        let mut out = Vec::new();
        for item in reader(&self.path)? {
            if let ArchiveItem::Payload { seq, .. } =
                item.map_err(|e| archive_err(&self.path, e))?
            {
                if wanted.contains(&seq.0) {
                    out.push(seq.0);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Pairs entry frames with the payload frame right after each, as `archive import` does.
struct Pairing {
    /// Entries before this position are read but not returned.
    from: u64,
    /// Entry frames read so far.
    pos: u64,
    /// The last entry frame read, waiting for its payload frame; `None` after a checkpoint
    /// frame (a payload frame must directly follow its entry).
    pending: Option<(u64, StoredEntry)>,
}

impl Pairing {
    /// One frame; returns an entry once the frame after it shows it complete.
    fn item(
        &mut self,
        item: ArchiveItem,
        strays: &Mutex<Vec<StrayPayload>>,
    ) -> Option<StoredEntry> {
        match item {
            ArchiveItem::Entry(bytes) => {
                let key = self.pos;
                self.pos = self.pos.saturating_add(1);
                let entry = StoredEntry {
                    key: key.to_be_bytes().to_vec(),
                    bytes,
                    payload: None,
                };
                self.pending
                    .replace((key, entry))
                    .and_then(|p| self.returned(p))
            }
            ArchiveItem::Payload { seq, stored } => {
                let place = match &mut self.pending {
                    Some((k, e)) if *k == seq.0 => match e.payload {
                        None => {
                            e.payload = Some(stored);
                            return None;
                        }
                        Some(_) => StrayPlace::Duplicate,
                    },
                    _ if seq.0 < self.pos => StrayPlace::AfterEntry,
                    _ => StrayPlace::BeforeEntry,
                };
                lock(strays).push(StrayPayload { seq: seq.0, place });
                None
            }
            // Content keys are checked with the key store, not paired with entries.
            ArchiveItem::Checkpoint(_) | ArchiveItem::ContentKey { .. } => self.close(),
        }
    }

    /// The pending entry, if it is to be returned.
    fn close(&mut self) -> Option<StoredEntry> {
        self.pending.take().and_then(|p| self.returned(p))
    }

    fn returned(&self, (key, entry): (u64, StoredEntry)) -> Option<StoredEntry> {
        (key >= self.from).then_some(entry)
    }
}
