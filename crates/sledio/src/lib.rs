//! caseledger-sledio: how caseledger opens a ledger directory's sled database.
//!
//! sled 0.34.7 needs three workarounds, and the store (which writes) and the verifier
//! (which reads, and trusts nothing it reads) must apply them identically, so they live
//! here once:
//!
//! * **The ledger lock** (`<DIR>/lock`, flock via fs2): a writer holds it exclusively, a
//!   verifier shared. A flock belongs to an open file description, and a child process
//!   forked by another thread shares ours until it execs, so a ledger dropped just then
//!   stays locked for a moment: both retry for [`LOCK_WAIT`] before saying "in use".
//! * **sled's own lock** on `sled/db` can be held for a moment by the background flusher of
//!   a handle this process just dropped (longer on a loaded machine), or by a concurrent
//!   verifier: [`open_db`] waits up to [`SLED_LOCK_WAIT`].
//! * **Stale snapshots**: sled writes a snapshot to `snap.<lsn>.generating` and renames it
//!   once complete; a process killed in between leaves the `.generating` file, which sled
//!   0.34.7 would later read as the newest snapshot and report corruption on every open
//!   (docs/RELIABILITY.md, B1). It holds no ledger data (a snapshot indexes sled's log), so
//!   [`remove_stale_snapshots`] deletes it, but only while holding sled's exclusive lock on
//!   `sled/db`, so that no live sled instance can be writing it.
//!
//! * **File modes**: sled creates its files with the process umask (0644 under the usual
//!   022), and writes a snapshot file whenever its last handle goes, a reader's too. A
//!   ledger's files are private (0600) and the store refuses to write to one that is not,
//!   so [`NewFileModes`] gives the files sled made during a session the mode of
//!   `sled/db`: a private ledger stays private, an evidence copy keeps the modes it had.
//!
//! Two more things both sides need: [`snapshot`] copies a ledger no process holds, under
//! its locks, and marks the copy as a snapshot (the store's `Ledger::snapshot` writes the
//! same manifest); [`inspect`] reads sled's file headers to tell whether a raw directory
//! copy holds files from different moments (the verifier then calls it an inconsistent
//! copy rather than judging it).
//!
//! sled can also panic on damaged storage; [`open_db`] turns that into
//! [`OpenError::Panicked`] (the panic message is dropped: sled may format stored values,
//! clinical content, into it).
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let _lock = caseledger_sledio::lock_exclusive(dir.path()).unwrap();
//! // A second owner is told the ledger is in use (after the bounded retry).
//! assert!(matches!(
//!     caseledger_sledio::lock_shared(dir.path()),
//!     Err(caseledger_sledio::OpenError::InUse)
//! ));
//! let sled_dir = dir.path().join(caseledger_core::layout::SLED_DIR);
//! let db = caseledger_sledio::open_db(&sled_dir, |c| c.create_new(true)).unwrap();
//! drop(db);
//! ```

pub mod inspect;
pub mod snapshot;

use caseledger_core::layout::LOCK_FILE;
use fs2::FileExt;
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a contended ledger lock is retried before the ledger is called "in use".
pub const LOCK_WAIT: Duration = Duration::from_millis(500);
/// A longer wait for a contended ledger lock, in milliseconds (0: [`LOCK_WAIT`]), set once
/// by a command line that asks to wait for a busy ledger (`caseledger --wait`).
static LOCK_WAIT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes every later lock of this process wait up to `wait` (at least [`LOCK_WAIT`]) for a
/// ledger another process holds before saying "in use", as `restic --retry-lock` does.
pub fn set_lock_wait(wait: Duration) {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    LOCK_WAIT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// The wait for a contended ledger lock: [`set_lock_wait`]'s, or [`LOCK_WAIT`].
fn lock_wait() -> Duration {
    match LOCK_WAIT_MS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => LOCK_WAIT,
        ms => Duration::from_millis(ms).max(LOCK_WAIT),
    }
}

/// How long sled's own lock on `sled/db` is waited for.
pub const SLED_LOCK_WAIT: Duration = Duration::from_secs(5);
/// Pause between two tries of a contended lock.
const STEP: Duration = Duration::from_millis(25);

/// Why a ledger directory's lock or sled database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the ledger (its lock, or sled's) beyond the bounded wait.
    #[error("ledger is in use by another process")]
    InUse,
    /// An I/O error on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// sled refused the database (corruption, unsupported, ...).
    #[error("storage engine error: {0}")]
    Sled(sled::Error),
    /// sled panicked while opening the database (damaged storage).
    #[error("the storage engine crashed while opening the database")]
    Panicked,
}

fn io(path: &Path, source: std::io::Error) -> OpenError {
    OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn contended(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
}

/// Retries `try_lock` on contention for up to `wait`.
fn retry_lock(
    path: &Path,
    wait: Duration,
    mut try_lock: impl FnMut() -> std::io::Result<()>,
) -> Result<(), OpenError> {
    let mut waited = Duration::ZERO;
    loop {
        match try_lock() {
            Ok(()) => return Ok(()),
            Err(e) if contended(&e) => {
                if waited >= wait {
                    return Err(OpenError::InUse);
                }
                std::thread::sleep(STEP);
                waited += STEP;
            }
            Err(e) => return Err(io(path, e)),
        }
    }
}

/// The files of a sled directory when a session began; [`NewFileModes::apply`] (after the
/// database is closed) gives every regular file that appeared since the mode of
/// `sled/db`. Errors are ignored: this only repairs what sled did with the umask, and
/// the store's open names any file left open to others.
#[derive(Debug)]
pub struct NewFileModes {
    sled_dir: std::path::PathBuf,
    before: std::collections::HashSet<std::ffi::OsString>,
}

impl NewFileModes {
    /// Notes the files in `sled_dir` now.
    pub fn note(sled_dir: &Path) -> NewFileModes {
        let before = std::fs::read_dir(sled_dir)
            .map(|it| it.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        NewFileModes {
            sled_dir: sled_dir.to_path_buf(),
            before,
        }
    }

    /// Gives the files that appeared since [`NewFileModes::note`] the mode of `sled/db`.
    pub fn apply(&self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(db) = std::fs::metadata(self.sled_dir.join("db")) else {
                return;
            };
            let mode = db.permissions().mode() & 0o777;
            let Ok(listing) = std::fs::read_dir(&self.sled_dir) else {
                return;
            };
            for e in listing.flatten() {
                if self.before.contains(&e.file_name()) {
                    continue;
                }
                let path = e.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_file() && meta.permissions().mode() & 0o777 != mode {
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
                }
            }
        }
    }
}

/// Takes the writer's exclusive lock on `<dir>/lock`, creating the file if needed; held
/// for as long as the returned file is open.
pub fn lock_exclusive(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join(LOCK_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    // Private to the ledger's user whatever the umask (the store checks for it).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| io(&path, e))?;
    retry_lock(&path, lock_wait(), || file.try_lock_exclusive())?;
    Ok(file)
}

/// Takes a reader's shared lock on `<dir>/lock` if the file exists (an evidence copy may
/// lack it; nothing is created). `None` when there is no lock file.
pub fn lock_shared(dir: &Path) -> Result<Option<File>, OpenError> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, e)),
    };
    retry_lock(&path, lock_wait(), || FileExt::try_lock_shared(&file))?;
    Ok(Some(file))
}

/// Removes `snap.*.generating` files from `sled_dir`, if no sled instance has the directory
/// open (see the crate docs). Holds sled's exclusive lock on `sled/db` while it looks; if
/// that lock is busy nothing is removed (the open that follows then waits for sled's lock).
pub fn remove_stale_snapshots(sled_dir: &Path) -> Result<(), OpenError> {
    let db_path = sled_dir.join("db");
    let db = match File::open(&db_path) {
        Ok(f) => f,
        // No data file: nothing was recovered, nothing to clean.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&db_path, e)),
    };
    if FileExt::try_lock_exclusive(&db).is_err() {
        return Ok(());
    }
    let listing = std::fs::read_dir(sled_dir).map_err(|e| io(sled_dir, e))?;
    for item in listing {
        let item = item.map_err(|e| io(sled_dir, e))?;
        let name = item.file_name();
        let stale = name
            .to_str()
            .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"));
        if !stale || !item.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match std::fs::remove_file(item.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&item.path(), e)),
        }
    }
    // Dropping `db` releases sled's lock before sled opens the file itself.
    drop(db);
    Ok(())
}

/// Opens the sled database at `sled_dir` with the configuration `configure` returns
/// (called on `sled::Config::new().path(sled_dir)`): removes stale snapshots first, waits
/// up to [`SLED_LOCK_WAIT`] for sled's own lock, and turns a panic into
/// [`OpenError::Panicked`]. Call it while holding the ledger lock.
pub fn open_db(
    sled_dir: &Path,
    configure: impl Fn(sled::Config) -> sled::Config,
) -> Result<sled::Db, OpenError> {
    let mut waited = Duration::ZERO;
    loop {
        remove_stale_snapshots(sled_dir)?;
        let config = configure(sled::Config::new().path(sled_dir));
        let opened = catch_unwind(AssertUnwindSafe(|| config.open()))
            .map_err(|_panic| OpenError::Panicked)?;
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if waited >= SLED_LOCK_WAIT {
                    return Err(OpenError::InUse);
                }
                std::thread::sleep(STEP);
                waited += STEP;
            }
            Err(sled::Error::Io(e)) => return Err(io(sled_dir, e)),
            Err(other) => return Err(OpenError::Sled(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_snapshots_go_completed_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("sled");
        drop(open_db(&sled_dir, |c| c.create_new(true)).unwrap());
        std::fs::write(sled_dir.join("snap.00000000000000FF.generating"), b"").unwrap();
        std::fs::write(sled_dir.join("snap.keep"), b"x").unwrap();
        remove_stale_snapshots(&sled_dir).unwrap();
        assert!(!sled_dir.join("snap.00000000000000FF.generating").exists());
        assert!(sled_dir.join("snap.keep").exists());
    }

    #[test]
    fn a_snapshot_is_left_alone_while_sled_holds_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("sled");
        let db = open_db(&sled_dir, |c| c.create_new(true)).unwrap();
        let stale = sled_dir.join("snap.0000000000000001.generating");
        std::fs::write(&stale, b"").unwrap();
        remove_stale_snapshots(&sled_dir).unwrap();
        assert!(
            stale.exists(),
            "removed while a sled instance had the directory open"
        );
        drop(db);
    }

    #[test]
    fn exclusive_excludes_shared_and_shared_shares() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            lock_shared(dir.path()).unwrap().is_none(),
            "no lock file: nothing locked"
        );
        let w = lock_exclusive(dir.path()).unwrap();
        assert!(matches!(lock_exclusive(dir.path()), Err(OpenError::InUse)));
        assert!(matches!(lock_shared(dir.path()), Err(OpenError::InUse)));
        drop(w);
        let r1 = lock_shared(dir.path()).unwrap();
        let r2 = lock_shared(dir.path()).unwrap();
        assert!(r1.is_some() && r2.is_some());
        assert!(matches!(lock_exclusive(dir.path()), Err(OpenError::InUse)));
    }
}
