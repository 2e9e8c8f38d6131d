//! File modes of a ledger directory: private to its user whatever the umask.
//!
//! The store creates the ledger directory and `sled/` 0700 and every file it writes 0600,
//! and sets sled's own files to 0600 after sled creates them (sled uses the process umask).
//! [`Ledger::open`](crate::Ledger::open), which writes, refuses a directory where anything
//! is accessible by group or others, naming the fix (`chmod -R go-rwx DIR`), as ssh refuses
//! a private key others can read. Reading an evidence copy (the verifier) is not refused:
//! media without Unix modes show everything as readable.
//!
//! On non-Unix targets these are no-ops.

use crate::error::{Result, StoreError};
use std::path::Path;

/// Mode of a ledger directory and its subdirectories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in a ledger directory.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) and sets it to 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| StoreError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    set_mode(dir, DIR_MODE)
}

/// Sets `path`'s permission bits (Unix only).
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| StoreError::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Sets every directory under `dir` (and `dir`) to 0700 and every regular file to 0600.
/// Symlinks are left alone (a ledger has none). Files that vanish meanwhile (sled removing
/// an old snapshot) are skipped.
pub fn tighten(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            set_mode(&d, DIR_MODE)?;
            let listing = match std::fs::read_dir(&d) {
                Ok(l) => l,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&d, e)),
            };
            for item in listing {
                let item = item.map_err(|e| StoreError::io(&d, e))?;
                let path = item.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.is_file() && meta.permissions().mode() & 0o777 != FILE_MODE {
                    match std::fs::set_permissions(
                        &path,
                        std::fs::Permissions::from_mode(FILE_MODE),
                    ) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io(&path, e)),
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Tightens a ledger directory when dropped (errors ignored: a drop cannot report them,
/// and the next open names any file left open to others).
#[derive(Debug)]
pub(crate) struct TightenOnDrop(pub(crate) std::path::PathBuf);

impl Drop for TightenOnDrop {
    fn drop(&mut self) {
        let _ = tighten(&self.0);
    }
}

/// Refuses (with [`StoreError::Exposed`]) a ledger directory where the directory or
/// anything under it gives group or others any permission. Symlinks are not followed.
///
/// sled's snapshot files (`sled/snap.*`, written with the umask when its last handle goes,
/// and left behind as `snap.*.generating` by a process killed while writing one) are the
/// store's own: the caller holds the ledger's exclusive lock, so they are made 0600 first
/// rather than refused (a crash must never leave a ledger that will not open).
pub fn check_private(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        if let Ok(items) = std::fs::read_dir(dir.join("sled")) {
            for item in items.flatten() {
                if item.file_name().to_string_lossy().starts_with("snap.") {
                    let _ = set_mode(&item.path(), FILE_MODE);
                }
            }
        }
        use std::os::unix::fs::PermissionsExt;
        let exposed = |path: &Path, mode: u32| StoreError::Exposed {
            dir: dir.to_path_buf(),
            path: path.to_path_buf(),
            mode,
        };
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let meta = std::fs::symlink_metadata(&d).map_err(|e| StoreError::io(&d, e))?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(exposed(&d, mode));
            }
            for item in std::fs::read_dir(&d).map_err(|e| StoreError::io(&d, e))? {
                let item = item.map_err(|e| StoreError::io(&d, e))?;
                let path = item.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(path);
                } else {
                    let mode = meta.permissions().mode() & 0o7777;
                    if mode & 0o077 != 0 && !meta.file_type().is_symlink() {
                        return Err(exposed(&path, mode));
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tighten_then_check() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("L");
        std::fs::create_dir_all(d.join("sled/blobs")).unwrap();
        std::fs::write(d.join("sled/db"), b"x").unwrap();
        std::fs::write(d.join("checkpoints.log"), b"").unwrap();
        for (p, m) in [
            ("", 0o755),
            ("sled", 0o755),
            ("sled/db", 0o644),
            ("checkpoints.log", 0o640),
        ] {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        let err = check_private(&d).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("chmod -R go-rwx") && msg.contains("0755"),
            "{msg}"
        );
        tighten(&d).unwrap();
        check_private(&d).unwrap();
        for (p, m) in [
            ("", 0o700),
            ("sled", 0o700),
            ("sled/blobs", 0o700),
            ("sled/db", 0o600),
            ("checkpoints.log", 0o600),
        ] {
            let got = std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, m, "{p}");
        }
        // One file readable by others is enough to refuse.
        std::fs::set_permissions(d.join("sled/db"), std::fs::Permissions::from_mode(0o604))
            .unwrap();
        assert!(matches!(
            check_private(&d),
            Err(StoreError::Exposed { mode: 0o604, .. })
        ));
    }
}
