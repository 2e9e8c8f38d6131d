//! [`Ledger::snapshot`]: a consistent copy of the open ledger, taken while appends run.
//!
//! A raw copy of a live ledger directory can catch sled mid-write (files from different
//! moments, from which sled recovers nothing or crashes); the verifier calls such a copy
//! "inconsistent" and concludes nothing. The open ledger's files cannot be copied safely
//! either: sled's background thread rewrites segments even between commits. So the
//! snapshot is logical: with commits held back (the writer lock, and the checkpoint lock
//! that orders `checkpoints.log` against the trees), every sled tree is read and written
//! into a fresh database, and `checkpoints.log` is read; then commits resume, and the new
//! database is flushed and closed. The copy is one moment's state: the entries of every
//! acknowledged append up to that moment, the log naming nothing it lacks. It carries the
//! snapshot manifest (`caseledger_sledio::snapshot`), so a verifier judges whatever it
//! finds in it. Files are 0600, directories 0700.
//!
//! Appends wait for the whole read (the [`SnapshotTaken::blocked`] time, measured here);
//! a ledger no process has open is copied byte for byte under its lock instead
//! (`caseledger_sledio::snapshot::copy_at_rest`, used by `caseledger snapshot`).

use crate::error::{Result, StoreError};
use crate::layout::{CHECKPOINTS_LOG, LOCK_FILE, SLED_DIR, TIMESTAMPS_LOG};
use crate::ledger::Ledger;
use caseledger_sledio::snapshot as snap;
use caseledger_sledio::OpenError;
use std::path::Path;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// What [`Ledger::snapshot`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotTaken {
    /// The number of entries in the snapshot (the head when it was taken).
    pub size: u64,
    /// Keys copied, over every tree.
    pub keys: u64,
    /// How long commits were held back.
    pub blocked: Duration,
}

/// Keys per batch written into the snapshot's database.
const BATCH: usize = 4096;

fn open_error(path: &Path, e: OpenError) -> StoreError {
    match e {
        OpenError::InUse => StoreError::InUse {
            path: path.to_path_buf(),
        },
        OpenError::Io { path, source } => StoreError::io(&path, source),
        OpenError::Sled(e) => StoreError::Sled(e),
        OpenError::Panicked => StoreError::corrupt(
            "the storage engine crashed while creating the snapshot database",
            None,
        ),
    }
}

impl Ledger {
    /// Writes a consistent copy of this ledger into `to` (missing, or an empty directory),
    /// safe while other threads append: see the module docs. The copy verifies as this
    /// ledger did at the moment it was taken, and opens as a ledger. On failure nothing is
    /// left in `to`.
    pub fn snapshot(&self, to: impl AsRef<Path>) -> Result<SnapshotTaken> {
        let to = to.as_ref();
        let created = snap::prepare_dir(to).map_err(|e| open_error(to, e))?;
        let result = self.snapshot_into(to);
        if result.is_err() {
            if created {
                let _ = std::fs::remove_dir_all(to);
            } else {
                for f in [
                    snap::MANIFEST,
                    CHECKPOINTS_LOG,
                    crate::keystore::KEYSTORE_FILE,
                    TIMESTAMPS_LOG,
                    LOCK_FILE,
                ] {
                    let _ = std::fs::remove_file(to.join(f));
                }
                let _ = std::fs::remove_dir_all(to.join(SLED_DIR));
            }
        }
        result
    }

    fn snapshot_into(&self, to: &Path) -> Result<SnapshotTaken> {
        let sled_dir = to.join(SLED_DIR);
        snap::create_private_dir(&sled_dir).map_err(|e| open_error(&sled_dir, e))?;
        let out = caseledger_sledio::open_db(&sled_dir, |c| c.create_new(true))
            .map_err(|e| open_error(&sled_dir, e))?;
        let (size, keys, log, blocked) = {
            // Writer first, then the log and the key store: the order the write path takes
            // them. Seals are logged and key slots written only under these.
            let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            // Groups are pipelined: one may be committed and still being flushed (not yet
            // acknowledged). Make everything committed durable and logged first, so the copy
            // never holds entries a crash of this ledger could still take back.
            self.flush()?;
            let _log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            let _content = self.content.lock().unwrap_or_else(PoisonError::into_inner);
            let started = Instant::now();
            let size = self.head().size;
            let keys = copy_trees(self.trees.sled_db(), &out)?;
            let log_path = self.dir.join(CHECKPOINTS_LOG);
            let log = match std::fs::read(&log_path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(StoreError::io(&log_path, e)),
            };
            let ks_path = self.dir.join(crate::keystore::KEYSTORE_FILE);
            let keystore = match std::fs::read(&ks_path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(StoreError::io(&ks_path, e)),
            };
            // Time-stamp tokens are appended by `caseledger timestamp` under the file's own
            // lock, not the ledger's: a torn final record in the copy is dropped by readers.
            let ts_path = self.dir.join(TIMESTAMPS_LOG);
            let tokens = match std::fs::read(&ts_path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(StoreError::io(&ts_path, e)),
            };
            (size, keys, (log, keystore, tokens), started.elapsed())
        };
        out.flush().map_err(|e| match e {
            sled::Error::Io(io) => StoreError::io(&sled_dir, io),
            other => StoreError::Sled(other),
        })?;
        drop(out);
        restrict_files(&sled_dir)?;
        let write = |name: &str, bytes: &[u8]| {
            snap::write_private_file(&to.join(name), bytes).map_err(|e| open_error(to, e))
        };
        let (log, keystore, tokens) = log;
        write(CHECKPOINTS_LOG, &log)?;
        if let Some(k) = keystore {
            write(crate::keystore::KEYSTORE_FILE, &k)?;
        }
        if let Some(t) = tokens {
            write(TIMESTAMPS_LOG, &t)?;
        }
        write(LOCK_FILE, b"")?;
        let now = (self.clock)();
        snap::write_manifest(to, snap::Method::Logical, now.0 / 1_000_000)
            .map_err(|e| open_error(to, e))?;
        Ok(SnapshotTaken {
            size,
            keys,
            blocked,
        })
    }
}

/// Copies every tree of `from` (the default tree included) into `to`, in batches.
fn copy_trees(from: &sled::Db, to: &sled::Db) -> Result<u64> {
    let mut keys = 0u64;
    for name in from.tree_names() {
        let src = from.open_tree(&name)?;
        let dst = to.open_tree(&name)?;
        let mut batch = sled::Batch::default();
        let mut n = 0usize;
        for kv in src.iter() {
            let (k, v) = kv?;
            batch.insert(k, v);
            n += 1;
            keys += 1;
            if n == BATCH {
                dst.apply_batch(std::mem::take(&mut batch))?;
                n = 0;
            }
        }
        if n > 0 {
            dst.apply_batch(batch)?;
        }
    }
    Ok(keys)
}

/// sled creates its files with the process umask; a snapshot is evidence: 0600.
fn restrict_files(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for item in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let item = item.map_err(|e| StoreError::io(dir, e))?;
        let path = item.path();
        let kind = item.file_type().map_err(|e| StoreError::io(&path, e))?;
        let mode = if kind.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| StoreError::io(&path, e))?;
        if kind.is_dir() {
            restrict_files(&path)?;
        }
    }
    snap::sync_dir(dir).map_err(|e| open_error(dir, e))
}
