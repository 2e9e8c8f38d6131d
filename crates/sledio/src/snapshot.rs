//! Snapshots: a consistent copy of a ledger directory, and the manifest that marks one.
//!
//! [`copy_at_rest`] copies a ledger that no process has open for writing: it holds the
//! ledger's shared lock (so no writer can open it meanwhile) and sled's own lock on
//! `sled/db` (so no verifier's sled recovery writes into it meanwhile), and copies `sled/`
//! and `checkpoints.log` byte for byte. Files at rest are one moment's state, so sled
//! recovers the copy exactly as it would recover the original. A ledger open in a process
//! (the store holds its exclusive lock while open) is snapshotted through that process
//! instead (`Ledger::snapshot` in caseledger-store).
//!
//! Either way the copy gets a [`MANIFEST`] file. A verifier treats a directory with it as
//! consistent evidence, where every anomaly is a finding; a directory without it may be a
//! raw copy taken mid-write (see [`crate::inspect`]).

use crate::{io, OpenError, SLED_LOCK_WAIT};
use caseledger_core::layout::{CHECKPOINTS_LOG, LOCK_FILE, SLED_DIR, TIMESTAMPS_LOG};

/// The key store's file name (format v2, docs/FORMAT.md §6: `caseledger_store::keystore`).
const KEYSTORE_FILE: &str = "keystore";
use fs2::FileExt;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// The manifest file a snapshot carries, beside `sled/`.
pub const MANIFEST: &str = "SNAPSHOT";
/// The manifest's first line.
const MAGIC: &str = "caseledger snapshot";

/// How a snapshot was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The files of a ledger at rest, copied under its locks ([`copy_at_rest`]).
    CopyAtRest,
    /// Read from the open ledger while its commits waited, into a fresh database.
    Logical,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::CopyAtRest => "copy-at-rest",
            Method::Logical => "logical",
        }
    }
}

/// What taking a snapshot cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Bytes written.
    pub bytes: u64,
    /// How long writers were kept out (the ledger lock held, or commits held back).
    pub blocked: Duration,
}

/// Creates `to` for a snapshot: it must be missing (created, 0700) or an empty directory
/// (set to 0700). Returns whether it was created here.
pub fn prepare_dir(to: &Path) -> Result<bool, OpenError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read_dir(to) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(io(
                    to,
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "the snapshot directory is not empty",
                    ),
                ));
            }
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io(to, e))?;
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(to)
                .map_err(|e| io(to, e))?;
            Ok(true)
        }
        Err(e) => Err(io(to, e)),
    }
}

/// Creates a 0700 directory (its parent exists).
pub fn create_private_dir(path: &Path) -> Result<(), OpenError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| io(path, e))
}

/// Creates `path` (new, 0600) with `bytes`, fsynced.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), OpenError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io(path, e))
}

/// fsyncs a directory.
pub fn sync_dir(path: &Path) -> Result<(), OpenError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(path, e))
}

/// Copies `from` to the new file `to` (0600), not yet fsynced (see [`copy_files`]);
/// returns the bytes copied.
fn copy_private(from: &Path, to: &Path) -> Result<u64, OpenError> {
    let mut src = File::open(from).map_err(|e| io(from, e))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| io(to, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| io(to, e))
}

/// fsyncs every file and directory under `dir`, and `dir`.
fn sync_tree(dir: &Path) -> Result<(), OpenError> {
    for item in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = item.map_err(|e| io(dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io(&path, e))?;
        }
    }
    sync_dir(dir)
}

/// Writes the manifest into the snapshot directory `to` (the last file of a snapshot).
pub fn write_manifest(to: &Path, method: Method, taken_at_unix: i64) -> Result<(), OpenError> {
    let text = format!(
        "{MAGIC}\nmethod: {}\ntaken_at_unix: {taken_at_unix}\n",
        method.as_str()
    );
    write_private_file(&to.join(MANIFEST), text.as_bytes())?;
    sync_dir(to)
}

/// Whether `dir` carries a snapshot manifest (a regular file starting with the magic line).
pub fn is_snapshot(dir: &Path) -> bool {
    std::fs::read(dir.join(MANIFEST))
        .is_ok_and(|b| b.starts_with(MAGIC.as_bytes()) && b.get(MAGIC.len()) == Some(&b'\n'))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Takes sled's own lock on `sled/db` (exclusive: no sled instance has it open), waiting up
/// to [`SLED_LOCK_WAIT`]. `None` when there is no `db` file.
fn lock_sled_db(sled_dir: &Path) -> Result<Option<File>, OpenError> {
    let db = sled_dir.join("db");
    let f = match File::open(&db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&db, e)),
    };
    crate::retry_lock(&db, SLED_LOCK_WAIT, || FileExt::try_lock_exclusive(&f))?;
    Ok(Some(f))
}

/// Copies the ledger at `dir`, which no process may have open for writing, into `to`
/// (missing or empty; see [`prepare_dir`]): `sled/` (without unfinished `snap.*.generating`
/// files) and `checkpoints.log`, files 0600 and directories 0700, fsynced, then the
/// manifest. Holds the ledger's shared lock and sled's lock on `sled/db` while it copies
/// (a writer that tries to open meanwhile waits up to [`crate::LOCK_WAIT`]). On failure, what was
/// written into `to` is removed.
pub fn copy_at_rest(dir: &Path, to: &Path) -> Result<Taken, OpenError> {
    let sled_dir = dir.join(SLED_DIR);
    if !sled_dir.is_dir() {
        return Err(io(
            &sled_dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no sled/ directory"),
        ));
    }
    let created = prepare_dir(to)?;
    let result = copy_locked(dir, &sled_dir, to);
    if result.is_err() {
        if created {
            let _ = std::fs::remove_dir_all(to);
        } else {
            let _ = std::fs::remove_dir_all(to.join(SLED_DIR));
            let _ = std::fs::remove_file(to.join(CHECKPOINTS_LOG));
            let _ = std::fs::remove_file(to.join(KEYSTORE_FILE));
            let _ = std::fs::remove_file(to.join(TIMESTAMPS_LOG));
            let _ = std::fs::remove_file(to.join(LOCK_FILE));
        }
    }
    result
}

fn copy_locked(dir: &Path, sled_dir: &Path, to: &Path) -> Result<Taken, OpenError> {
    let taken = copy_files(dir, sled_dir, to, true)?;
    write_private_file(&to.join(LOCK_FILE), b"")?;
    write_manifest(to, Method::CopyAtRest, now_unix())?;
    Ok(taken)
}

/// Copies `<dir>/sled` (as `sled_dir`), `<dir>/checkpoints.log`, `<dir>/keystore` and
/// `<dir>/timestamps.log` (each if present) into the existing
/// directory `to`, files 0600, under the ledger's shared lock and sled's lock on
/// `sled/db`, released as soon as the files are copied; with `durable`, the copy is then
/// fsynced (outside the locks: writers wait only for the copying). No manifest: what a
/// verifier's private copy of evidence needs ([`copy_at_rest`] adds the manifest).
pub fn copy_files(
    dir: &Path,
    sled_dir: &Path,
    to: &Path,
    durable: bool,
) -> Result<Taken, OpenError> {
    let lock = crate::lock_shared(dir)?;
    let started = Instant::now();
    let sled_lock = lock_sled_db(sled_dir)?;
    let mut bytes = 0;
    let to_sled = to.join(SLED_DIR);
    create_private_dir(&to_sled)?;
    bytes += copy_tree(sled_dir, &to_sled)?;
    // The seals' log, the key store (format v2: the records' wrapped content keys) and the
    // seals' time-stamp tokens come with the trees, under the same locks.
    for name in [CHECKPOINTS_LOG, KEYSTORE_FILE, TIMESTAMPS_LOG] {
        match copy_private(&dir.join(name), &to.join(name)) {
            Ok(n) => bytes += n,
            Err(OpenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    drop(sled_lock);
    drop(lock);
    let blocked = started.elapsed();
    if durable {
        sync_tree(to)?;
    }
    Ok(Taken { bytes, blocked })
}

fn copy_tree(from: &Path, to: &Path) -> Result<u64, OpenError> {
    let mut bytes = 0;
    for item in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let item = item.map_err(|e| io(from, e))?;
        let kind = item.file_type().map_err(|e| io(&item.path(), e))?;
        let name = item.file_name();
        let target = to.join(&name);
        if kind.is_dir() {
            create_private_dir(&target)?;
            bytes += copy_tree(&item.path(), &target)?;
        } else if kind.is_file() {
            let unfinished = name
                .to_str()
                .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"));
            if !unfinished {
                bytes += copy_private(&item.path(), &target)?;
            }
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_ledger_at_rest_is_copied_privately_with_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join(SLED_DIR);
        {
            let _lock = crate::lock_exclusive(dir.path()).unwrap();
            let db = crate::open_db(&sled_dir, |c| c.create_new(true)).unwrap();
            db.open_tree("entries").unwrap().insert(b"k", b"v").unwrap();
            db.flush().unwrap();
        }
        std::fs::write(dir.path().join(CHECKPOINTS_LOG), b"log").unwrap();
        std::fs::write(sled_dir.join("snap.00000000000000FF.generating"), b"").unwrap();
        let to = dir.path().join("snap-out");
        let taken = copy_at_rest(dir.path(), &to).unwrap();
        assert!(taken.bytes > 3);
        assert!(is_snapshot(&to));
        assert!(!is_snapshot(dir.path()));
        assert_eq!(std::fs::read(to.join(CHECKPOINTS_LOG)).unwrap(), b"log");
        assert!(!to.join("sled/snap.00000000000000FF.generating").exists());
        assert_eq!(mode(&to), 0o700);
        assert_eq!(mode(&to.join(SLED_DIR)), 0o700);
        for f in [MANIFEST, CHECKPOINTS_LOG, "sled/db", "sled/conf"] {
            assert_eq!(mode(&to.join(f)), 0o600, "{f}");
        }
        let db = crate::open_db(&to.join(SLED_DIR), |c| c).unwrap();
        assert_eq!(
            db.open_tree("entries")
                .unwrap()
                .get(b"k")
                .unwrap()
                .as_deref(),
            Some(&b"v"[..])
        );
        // Not into a directory that holds something.
        assert!(copy_at_rest(dir.path(), &to).is_err());
        assert!(is_snapshot(&to), "a refused second copy removed the first");
    }

    #[test]
    fn a_ledger_open_for_writing_is_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let _lock = crate::lock_exclusive(dir.path()).unwrap();
        let _db = crate::open_db(&dir.path().join(SLED_DIR), |c| c.create_new(true)).unwrap();
        let to = dir.path().join("out");
        assert!(matches!(
            copy_at_rest(dir.path(), &to),
            Err(OpenError::InUse)
        ));
        assert!(!to.exists(), "a refused snapshot left its directory");
    }
}
