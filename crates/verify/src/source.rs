//! Where the verifier reads a ledger from: one small read-only trait, [`LedgerSource`],
//! and its implementations: the sled trees ([`SledSource`]), an archive file
//! ([`ArchiveSource`]) and memory ([`MemorySource`], for tests and embedders).
//!
//! A source hands out raw stored bytes and nothing it computed: the verifier decodes,
//! hashes and judges everything itself, so a bug in the writer cannot hide itself.

use crate::finding::CheckpointSource;
use crate::VerifyError;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One stored entry, as read: its key, its bytes and its payload value, if any.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredEntry {
    /// The stored key (8 bytes, big-endian seq, when well formed).
    pub key: Vec<u8>,
    /// The stored entry bytes `E_i`.
    pub bytes: Vec<u8>,
    /// The stored payload value (`salt || content`), if any. Never logged or shown.
    pub payload: Option<Vec<u8>>,
}

/// One stored checkpoint note, as read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredCheckpoint {
    /// Where it came from.
    pub source: CheckpointSource,
    /// The key it was stored under (the `checkpoints` tree's u64 BE size), if any.
    pub key: Option<Vec<u8>>,
    /// The signed note bytes.
    pub note: Vec<u8>,
}

/// An iterator over stored entries in stored order.
pub type EntryIter<'a> = Box<dyn Iterator<Item = Result<StoredEntry, VerifyError>> + 'a>;

/// A read-only view of a stored ledger. Implementations return stored bytes verbatim.
pub trait LedgerSource {
    /// What is being read (a path), for messages.
    fn describe(&self) -> String;
    /// The number of entries, if cheaply known (for progress only; never trusted).
    fn len_hint(&self) -> Option<u64>;
    /// Every stored checkpoint note (read before the entries).
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError>;
    /// The entries in stored (key) order, each with its payload value.
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError>;
    /// The entries whose key is `seq` or later, in stored order: what an incremental
    /// verification reads. Implementations should seek rather than read what comes before
    /// (the default reads and drops it, hashing nothing). A stored key that is not an
    /// 8-byte seq may be left out: it lies in the part the auditor already verified or is
    /// reported by the next full verification.
    fn entries_from(&self, seq: u64) -> Result<EntryIter<'_>, VerifyError> {
        Ok(Box::new(self.entries()?.filter(move |e| {
            match e {
                Ok(e) => <[u8; 8]>::try_from(e.key.as_slice())
                    .map(u64::from_be_bytes)
                    .map_or(true, |k| k >= seq),
                Err(_) => true,
            }
        })))
    }
    /// Of `seqs` (ascending), the ones that have a stored payload value. Used by an
    /// incremental verification to check that a destruction recorded after the resume point
    /// removed the payloads of entries before it. The default reads every entry.
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        let wanted: std::collections::BTreeSet<u64> = seqs.iter().copied().collect();
        let mut out = Vec::new();
        for e in self.entries()? {
            let e = e?;
            let Ok(k) = <[u8; 8]>::try_from(e.key.as_slice()).map(u64::from_be_bytes) else {
                continue;
            };
            if e.payload.is_some() && wanted.contains(&k) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

/// A ledger held in memory: for tests, doc examples and embedders that hold bytes.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    /// Entries by key (u64 seq).
    pub entries: BTreeMap<u64, Vec<u8>>,
    /// Payload values by seq.
    pub payloads: BTreeMap<u64, Vec<u8>>,
    /// Stored checkpoint notes (as if from the `checkpoints` tree).
    pub checkpoints: Vec<String>,
}

impl LedgerSource for MemorySource {
    fn describe(&self) -> String {
        "in-memory ledger".to_owned()
    }
    fn len_hint(&self) -> Option<u64> {
        u64::try_from(self.entries.len()).ok()
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError> {
        Ok(self
            .checkpoints
            .iter()
            .map(|n| StoredCheckpoint {
                source: CheckpointSource::Stored,
                key: None,
                note: n.as_bytes().to_vec(),
            })
            .collect())
    }
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError> {
        self.entries_from(0)
    }
    fn entries_from(&self, seq: u64) -> Result<EntryIter<'_>, VerifyError> {
        Ok(Box::new(self.entries.range(seq..).map(|(k, v)| {
            Ok(StoredEntry {
                key: k.to_be_bytes().to_vec(),
                bytes: v.clone(),
                payload: self.payloads.get(k).cloned(),
            })
        })))
    }
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        Ok(seqs
            .iter()
            .copied()
            .filter(|s| self.payloads.contains_key(s))
            .collect())
    }
}

/// The sled trees of a ledger directory, opened for reading.
///
/// sled 0.34 has no read-only mode: the database is opened normally and never written
/// through (no tree is created: only existing trees are opened). While the source lives it
/// holds a shared lock on `<DIR>/lock` (when that file exists), so a running writer makes
/// opening fail with [`VerifyError::InUse`] instead of reading a ledger mid-write.
pub struct SledSource {
    dir: PathBuf,
    entries: Option<sled::Tree>,
    payloads: Option<sled::Tree>,
    checkpoints: Option<sled::Tree>,
    _db: sled::Db,
    _lock: Option<File>,
}

impl std::fmt::Debug for SledSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SledSource({})", self.dir.display())
    }
}

fn io_err(context: impl Into<String>, e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Io {
        context: context.into(),
        message: e.to_string(),
    }
}

fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock")
}

impl SledSource {
    /// Opens `<dir>/sled` (never creating anything). A missing directory or a directory
    /// without a ledger is [`VerifyError::NotFound`]; a ledger held by a writer is
    /// [`VerifyError::InUse`].
    pub fn open(dir: &Path) -> Result<SledSource, VerifyError> {
        use fs2::FileExt;
        let sled_dir = dir.join("sled");
        if !dir.is_dir() || !sled_dir.is_dir() {
            return Err(VerifyError::NotFound(dir.to_path_buf()));
        }
        let lock_path = dir.join("lock");
        let lock = match File::open(&lock_path) {
            Ok(f) => {
                if FileExt::try_lock_shared(&f).is_err() {
                    return Err(VerifyError::InUse(dir.to_path_buf()));
                }
                Some(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(format!("opening {}", lock_path.display()), e)),
        };
        // sled's own file lock: a writer in another process holds it. Just after a writer in
        // this process closed, sled's background thread may hold it a moment longer.
        let mut tries = 0;
        let db = loop {
            match sled::Config::new().path(&sled_dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(io)) if is_lock_error(&io) => {
                    tries += 1;
                    if tries >= 20 {
                        return Err(VerifyError::InUse(dir.to_path_buf()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(e) => return Err(io_err(format!("opening {}", sled_dir.display()), e)),
            }
        };
        let names = db.tree_names();
        let open = |name: &str| -> Result<Option<sled::Tree>, VerifyError> {
            if names.iter().any(|n| n.as_ref() == name.as_bytes()) {
                db.open_tree(name)
                    .map(Some)
                    .map_err(|e| io_err(format!("opening tree {name}"), e))
            } else {
                Ok(None)
            }
        };
        Ok(SledSource {
            dir: dir.to_path_buf(),
            entries: open("entries")?,
            payloads: open("payloads")?,
            checkpoints: open("checkpoints")?,
            _db: db,
            _lock: lock,
        })
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl LedgerSource for SledSource {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
    fn len_hint(&self) -> Option<u64> {
        // The last key + 1 (sled's `len` would scan the whole tree).
        let (k, _) = self.entries.as_ref()?.last().ok()??;
        let k = <[u8; 8]>::try_from(k.as_ref()).ok()?;
        u64::from_be_bytes(k).checked_add(1)
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError> {
        let mut out = Vec::new();
        if let Some(t) = &self.checkpoints {
            for kv in t.iter() {
                let (k, v) = kv.map_err(|e| io_err("reading the checkpoints tree", e))?;
                out.push(StoredCheckpoint {
                    source: CheckpointSource::Stored,
                    key: Some(k.to_vec()),
                    note: v.to_vec(),
                });
            }
        }
        let log = self.dir.join(crate::checkpoints_log::FILE_NAME);
        match std::fs::read(&log) {
            Ok(bytes) => out.extend(crate::checkpoints_log::parse(&bytes).into_iter().map(
                |note| StoredCheckpoint {
                    source: CheckpointSource::Log,
                    key: None,
                    note,
                },
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("reading {}", log.display()), e)),
        }
        Ok(out)
    }
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError> {
        let Some(entries) = &self.entries else {
            return Ok(Box::new(std::iter::empty()));
        };
        Ok(self.with_payloads(entries.iter()))
    }
    fn entries_from(&self, seq: u64) -> Result<EntryIter<'_>, VerifyError> {
        let Some(entries) = &self.entries else {
            return Ok(Box::new(std::iter::empty()));
        };
        // A range scan: keys before `seq` are never read.
        Ok(self.with_payloads(entries.range(seq.to_be_bytes()..)))
    }
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        let Some(payloads) = &self.payloads else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for &s in seqs {
            if payloads
                .contains_key(s.to_be_bytes())
                .map_err(|e| io_err("reading the payloads tree", e))?
            {
                out.push(s);
            }
        }
        Ok(out)
    }
}

impl SledSource {
    /// Pairs each entry of `iter` with its stored payload.
    fn with_payloads<'a>(&self, iter: sled::Iter) -> EntryIter<'a> {
        let payloads = self.payloads.clone();
        Box::new(iter.map(move |kv| {
            let (k, v) = kv.map_err(|e| io_err("reading the entries tree", e))?;
            let payload = match &payloads {
                Some(p) => p
                    .get(&k)
                    .map_err(|e| io_err("reading the payloads tree", e))?
                    .map(|v| v.to_vec()),
                None => None,
            };
            Ok(StoredEntry {
                key: k.to_vec(),
                bytes: v.to_vec(),
                payload,
            })
        }))
    }
}

pub use crate::archive_source::ArchiveSource;
