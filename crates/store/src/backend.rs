//! The storage seam (issue 18): the few operations the ledger needs from its key-value
//! engine, so that another engine can be added behind them without touching `core` or
//! `verify`. sled 0.34.7 ([`Trees`]) is the only implementation.
//!
//! What an engine must give: named trees of byte keys kept in key order; one atomic commit
//! of a group's puts and removes across trees (all or none, also across a crash); a flush
//! after which every commit that returned before it began is durable; point reads; ordered
//! scans. The exclusive directory lock (`<DIR>/lock`, flock) is the ledger's own, outside
//! the engine (`open.rs`), and so is the `checkpoints.log` fsync.
//!
//! Moved so far (no behaviour change): the group-commit and batch write path
//! ([`Backend::commit`]), the flush, the idempotency and replay point reads, and the
//! record rebuild's scan. Other reads still use the sled trees directly.

use crate::error::{Result, StoreError};
use crate::group::{Ops, T};
use crate::types::Trees;
use sled::Transactional;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A value at least this long may become a sled blob file: sled 0.34.7 moves an item
/// larger than `segment_size / 4 - header` (512 KiB / 4) out of its log into `blobs/`; a
/// third of that leaves room for the node around the value.
const BLOB_CANDIDATE: usize = 40 << 10;

/// What `sled::Db::flush` leaves undone, done after it. sled 0.34.7 writes its log with
/// `sync_file_range` (`pagecache/iobuf.rs`), which neither flushes the disk's write cache nor
/// persists the file's size, and writes blob files with no sync at all
/// (`pagecache/blob_io.rs`). A flush that returns must mean durable across a power loss,
/// not only across a crash of this process: so the `db` file is fsynced, and after a commit
/// that held a value large enough to be a blob, every blob file written since then and the
/// `blobs/` directory are too.
pub(crate) struct SledFiles {
    db: File,
    blobs: PathBuf,
    /// When the first commit since the last flush that may have written a blob began.
    blob_since: Mutex<Option<SystemTime>>,
    blobs_synced: AtomicU64,
}

impl SledFiles {
    /// The files of the sled database in `sled_dir` (opened after sled, which made them).
    pub(crate) fn open(sled_dir: &Path) -> Result<SledFiles> {
        let path = sled_dir.join("db");
        let db = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        Ok(SledFiles {
            db,
            blobs: sled_dir.join("blobs"),
            blob_since: Mutex::new(None),
            blobs_synced: AtomicU64::new(0),
        })
    }

    /// Notes that `ops` may write blob files (call before committing them).
    fn note(&self, ops: &Ops) {
        if ops
            .ops
            .iter()
            .any(|op| op.val.as_ref().is_some_and(|v| v.len() >= BLOB_CANDIDATE))
        {
            let mut since = self.blob_since.lock().unwrap_or_else(|p| p.into_inner());
            since.get_or_insert_with(SystemTime::now);
        }
    }

    /// Blob files fsynced so far.
    pub(crate) fn blobs_synced(&self) -> u64 {
        self.blobs_synced.load(Ordering::Relaxed)
    }

    /// The fsyncs sled's flush did not do (see the type's docs).
    fn sync(&self) -> std::io::Result<()> {
        let since = self
            .blob_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(since) = since {
            // A coarse file system clock: take files a little older than the commit too.
            let from = since
                .checked_sub(Duration::from_secs(2))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            match std::fs::read_dir(&self.blobs) {
                Ok(dir) => {
                    for e in dir {
                        let e = e?;
                        let m = e.metadata()?;
                        if m.is_file() && m.modified()? >= from {
                            File::open(e.path())?.sync_data()?;
                            self.blobs_synced.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    File::open(&self.blobs)?.sync_all()?;
                }
                // No blob was written after all.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.db.sync_data()
    }
}

/// A key-value engine under the ledger (see the module docs).
pub(crate) trait Backend {
    /// Applies every op of `ops`, in order, in one transaction: all of them or none.
    fn commit(&self, ops: &Ops) -> Result<()>;
    /// Makes every commit that returned before this call durable. An I/O error carries no
    /// path (the caller names the engine's directory).
    fn flush(&self) -> Result<()>;
    /// The value of `key` in `tree`, if any.
    fn get(&self, tree: T, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// The rows of `tree` with keys in `[from, to)` (`to` unbounded when `None`), in key
    /// order.
    fn scan(
        &self,
        tree: T,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_;
}

impl Trees {
    /// The sled tree of `tree`.
    pub(crate) fn tree(&self, tree: T) -> &sled::Tree {
        match tree {
            T::Entries => &self.entries,
            T::Payloads => &self.payloads,
            T::Nodes => &self.nodes,
            T::Records => &self.records,
            T::Nonces => &self.nonces,
            T::Meta => &self.meta,
            T::Checkpoints => &self.checkpoints,
        }
    }
}

impl Backend for Trees {
    fn commit(&self, ops: &Ops) -> Result<()> {
        self.files.note(ops);
        (
            &self.entries,
            &self.payloads,
            &self.nodes,
            &self.records,
            &self.nonces,
            &self.meta,
            &self.checkpoints,
        )
            .transaction(|(e, p, n, r, no, m, c)| {
                for op in &ops.ops {
                    let tree = match op.tree {
                        T::Entries => e,
                        T::Payloads => p,
                        T::Nodes => n,
                        T::Records => r,
                        T::Nonces => no,
                        T::Meta => m,
                        T::Checkpoints => c,
                    };
                    let key = ops.slice(&op.key);
                    match &op.val {
                        Some(v) => {
                            tree.insert(key, ops.slice(v))?;
                        }
                        None => {
                            tree.remove(key)?;
                        }
                    }
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<std::convert::Infallible>>(
                    (),
                )
            })?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        self.files
            .sync()
            .map_err(|source| StoreError::Io { path: None, source })?;
        Ok(())
    }

    fn get(&self, tree: T, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        tree: T,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        use std::ops::Bound;
        let upper = match to {
            Some(t) => Bound::Excluded(t.to_vec()),
            None => Bound::Unbounded,
        };
        self.tree(tree)
            .range::<Vec<u8>, _>((Bound::Included(from.to_vec()), upper))
            .map(|row| {
                row.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(Into::into)
            })
    }
}
