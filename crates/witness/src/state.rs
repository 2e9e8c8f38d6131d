//! A witness's memory on disk: per origin, the checkpoint note it last cosigned (with its
//! cosignature), in `<state dir>/<hex SHA-256(origin)>.note`.
//!
//! Each file is replaced atomically: written to `<name>.tmp`, fsynced, renamed over the
//! old one, then the directory is fsynced, so a crash (`kill -9`, power loss) leaves the
//! old checkpoint or the new one, never a mix or nothing. A witness answers `200` only
//! after this returns: a cosignature it handed out is never forgotten, so it never cosigns
//! a checkpoint inconsistent with one it cosigned before. A `.tmp` left by a crash is
//! removed at open; a `.note` that does not parse stops the witness (forgetting it would
//! let the witness cosign a fork).

use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::note::Note;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why the state directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An I/O error on a named path.
    #[error("witness state {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A state file is not a checkpoint note, or is not where its origin says it belongs.
    #[error("witness state {path}: {why} (refusing to start without it: a witness that forgets a checkpoint may cosign a fork)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// One origin's remembered checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note as the witness cosigned it (the log's signatures and the cosignature).
    pub note: String,
}

impl StateDir {
    /// Opens (creating, mode 0700) the state directory and removes a temporary file a crash
    /// left behind.
    pub fn open(dir: impl Into<PathBuf>) -> Result<StateDir, StateError> {
        let dir = dir.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
        for e in fs::read_dir(&dir).map_err(io(&dir))? {
            let p = e.map_err(io(&dir))?.path();
            if p.extension().is_some_and(|x| x == "tmp") {
                fs::remove_file(&p).map_err(io(&p))?;
            }
        }
        Ok(StateDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, origin: &str) -> PathBuf {
        self.dir.join(format!(
            "{}.note",
            hex::encode(Sha256::digest(origin.as_bytes()))
        ))
    }

    /// Every remembered checkpoint, by origin.
    pub fn load_all(&self) -> Result<BTreeMap<String, Remembered>, StateError> {
        let mut out = BTreeMap::new();
        for e in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let p = e.map_err(io(&self.dir))?.path();
            if p.extension().is_none_or(|x| x != "note") {
                continue;
            }
            let corrupt = |why: String| StateError::Corrupt {
                path: p.clone(),
                why,
            };
            let bytes = fs::read(&p).map_err(io(&p))?;
            let note = Note::parse(&bytes).map_err(|e| corrupt(e.to_string()))?;
            let checkpoint =
                Checkpoint::parse_body(note.text()).map_err(|e| corrupt(e.to_string()))?;
            if self.file(&checkpoint.origin) != p {
                return Err(corrupt(
                    "the file name is not the hash of the checkpoint's origin".into(),
                ));
            }
            let text = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
            out.insert(
                checkpoint.origin.clone(),
                Remembered {
                    checkpoint,
                    note: text,
                },
            );
        }
        Ok(out)
    }

    /// Replaces the origin's checkpoint note, durably (temp file, fsync, rename, fsync of
    /// the directory).
    pub fn store(&self, origin: &str, note: &str) -> Result<(), StateError> {
        let path = self.file(origin);
        let tmp = path.with_extension("tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(note.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "example.org/l\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.org/l AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    #[test]
    fn stores_replaces_and_reloads() {
        let t = tempfile::tempdir().unwrap();
        let s = StateDir::open(t.path().join("w")).unwrap();
        assert!(s.load_all().unwrap().is_empty());
        s.store("example.org/l", NOTE).unwrap();
        let newer = NOTE.replace("\n2\n", "\n3\n");
        s.store("example.org/l", &newer).unwrap();
        // A crash's leftover is removed at the next open.
        fs::write(s.path().join("x.tmp"), b"half").unwrap();
        let s = StateDir::open(t.path().join("w")).unwrap();
        assert!(!s.path().join("x.tmp").exists());
        let all = s.load_all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all["example.org/l"].checkpoint.size, 3);
        assert_eq!(all["example.org/l"].note, newer);
    }

    #[test]
    fn a_damaged_or_misplaced_file_stops_the_witness() {
        let t = tempfile::tempdir().unwrap();
        let s = StateDir::open(t.path()).unwrap();
        s.store("example.org/l", NOTE).unwrap();
        let file = s.file("example.org/l");
        fs::write(&file, b"example.org/l\n2\n").unwrap();
        let e = s.load_all().unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
        fs::remove_file(&file).unwrap();
        fs::write(s.file("other.org/l"), NOTE).unwrap();
        let e = s.load_all().unwrap_err().to_string();
        assert!(e.contains("not the hash of the checkpoint's origin"), "{e}");
    }
}
