//! The files of the sled database that its own flush leaves unsynced (a leaf module:
//! [`crate::types::Trees`] holds them, [`crate::backend`] syncs them after each flush).

use crate::error::{Result, StoreError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A value at least this long may become a sled blob file: sled 0.34.7 moves an item
/// larger than `segment_size / 4 - header` (512 KiB / 4) out of its log into `blobs/`; a
/// third of that leaves room for the node around the value.
pub(crate) const BLOB_CANDIDATE: usize = 40 << 10;

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

    /// Notes whether a commit about to be made holds a value of [`BLOB_CANDIDATE`] bytes or
    /// more (one sled may write to a blob file).
    pub(crate) fn note(&self, large: bool) {
        if large {
            let mut since = self.blob_since.lock().unwrap_or_else(|p| p.into_inner());
            since.get_or_insert_with(SystemTime::now);
        }
    }

    /// Blob files fsynced so far.
    pub(crate) fn blobs_synced(&self) -> u64 {
        self.blobs_synced.load(Ordering::Relaxed)
    }

    /// The fsyncs sled's flush did not do (see the type's docs).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
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
