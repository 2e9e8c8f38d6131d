//! [`ArchiveSource`]: reads an archive file (`caseledger_core::archive`) as a ledger.

use crate::finding::CheckpointSource;
use crate::source::{EntryIter, LedgerSource, StoredCheckpoint, StoredEntry};
use crate::VerifyError;
use caseledger_core::archive::{ArchiveError, ArchiveItem, ArchiveReader};
use std::fs::File;
use std::io::BufReader;
use std::iter::Peekable;
use std::path::{Path, PathBuf};

/// An archive file read as a ledger, in bounded memory.
///
/// The file is read three times: once for its checkpoints (held in memory; they are
/// small), and then by two cursors in step: one over entry frames, one over payload frames.
/// Entries are keyed by their position in the file. Payload frames must appear in
/// ascending seq order (as the exporter writes them); a payload frame out of order or for
/// no entry is skipped, so its entry shows up as missing its payload. The archive's own
/// end frame (counts, digest) is checked by the reader: a damaged archive is a
/// [`VerifyError::Archive`], not a verdict.
#[derive(Debug)]
pub struct ArchiveSource {
    path: PathBuf,
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

impl ArchiveSource {
    /// Opens an archive file (reads its magic and header).
    pub fn open(path: &Path) -> Result<ArchiveSource, VerifyError> {
        reader(path)?;
        Ok(ArchiveSource {
            path: path.to_path_buf(),
        })
    }
}

type PayloadIter = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), VerifyError>>>;
type Payloads = Peekable<PayloadIter>;

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
    /// Entry frames before `seq` are read (the archive's own digest covers them) but neither
    /// decoded nor hashed as entries, and are not returned.
    fn entries_from(&self, seq: u64) -> Result<EntryIter<'_>, VerifyError> {
        let path = self.path.clone();
        let p2 = self.path.clone();
        let payloads: PayloadIter =
            Box::new(reader(&self.path)?.filter_map(move |item| match item {
                Ok(ArchiveItem::Payload { seq, stored }) => Some(Ok((seq.0, stored))),
                Ok(_) => None,
                Err(e) => Some(Err(archive_err(&p2, e))),
            }));
        let mut payloads: Payloads = payloads.peekable();
        let mut pos = 0u64;
        let entries = reader(&self.path)?.filter_map(move |item| match item {
            Ok(ArchiveItem::Entry(bytes)) => {
                let key = pos;
                pos = pos.saturating_add(1);
                if key < seq {
                    return None;
                }
                Some(next_payload(&mut payloads, key).map(|payload| StoredEntry {
                    key: key.to_be_bytes().to_vec(),
                    bytes,
                    payload,
                }))
            }
            Ok(_) => None,
            Err(e) => Some(Err(archive_err(&path, e))),
        });
        Ok(Box::new(entries))
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

/// Advances the payload cursor to `seq`: skips payloads for earlier seqs, takes one for `seq`.
fn next_payload(payloads: &mut Payloads, seq: u64) -> Result<Option<Vec<u8>>, VerifyError> {
    loop {
        match payloads.peek() {
            Some(Ok((s, _))) if *s < seq => {
                payloads.next();
            }
            Some(Ok((s, _))) if *s == seq => {
                return match payloads.next() {
                    Some(Ok((_, v))) => Ok(Some(v)),
                    _ => Ok(None),
                };
            }
            Some(Err(_)) => {
                return match payloads.next() {
                    Some(Err(e)) => Err(e),
                    _ => Ok(None),
                };
            }
            _ => return Ok(None),
        }
    }
}
