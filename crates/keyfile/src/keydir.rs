//! The key directory: where a ledger's private keys live, outside the ledger directory.
//!
//! ```text
//! <KEYS>/ledger.pem            the ledger (checkpoint) key, PKCS#8 PEM, 0600
//! <KEYS>/actors/<id>.pem       each enrolled actor's signing key, 0600 (when generated here)
//! <KEYS>/kek                   the content key-encryption key, 32 raw bytes, 0600
//! <KEYS>/recovery-kit.age      the KEK wrapped for recovery (age); keep a copy offsite
//! <KEYS>/<name>.pub            the public half of each key, as an OpenSSH line
//! ```
//!
//! Directories are 0700. The default is `$XDG_CONFIG_HOME/caseledger/<origin>/` (or
//! `$HOME/.config/caseledger/<origin>/`), the origin made one safe path component
//! ([`origin_dir_name`]). A key directory inside the ledger directory is refused.

use crate::KeyFileError;
use caseledger_core::ActorId;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The environment variable the CLI's `--keys DIR` falls back to.
pub const KEYS_ENV: &str = "CASELEDGER_KEYS";
/// The ledger key's file name.
pub const LEDGER_KEY_FILE: &str = "ledger.pem";
/// The actors' subdirectory.
pub const ACTORS_DIR: &str = "actors";
/// The recovery kit's file name.
pub const RECOVERY_KIT_FILE: &str = "recovery-kit.age";
/// The generated recovery identity's file name (when `init` made one).
pub const RECOVERY_IDENTITY_FILE: &str = "recovery-identity.txt";

/// The origin as one path component: ASCII letters, digits, `.`, `-` and `_` kept, every
/// other byte `%XX`; a leading `.` is escaped too, so the name is never `.`, `..` or hidden.
///
/// ```
/// use caseledger_keyfile::keydir::origin_dir_name;
/// assert_eq!(origin_dir_name("example.org/practice-ledger"), "example.org%2Fpractice-ledger");
/// assert_eq!(origin_dir_name(".."), "%2E.");
/// ```
pub fn origin_dir_name(origin: &str) -> String {
    let mut out = String::with_capacity(origin.len() + 8);
    for (i, b) in origin.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A key directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDir {
    root: PathBuf,
}

impl KeyDir {
    /// The key directory at `root`.
    pub fn at(root: impl Into<PathBuf>) -> KeyDir {
        KeyDir { root: root.into() }
    }

    /// The default key directory of the ledger with this origin:
    /// `$XDG_CONFIG_HOME/caseledger/<origin>` (an empty or relative `XDG_CONFIG_HOME` is
    /// ignored, as the XDG spec says), else `$HOME/.config/caseledger/<origin>`.
    pub fn default_for(origin: &str) -> Result<KeyDir, KeyFileError> {
        let abs = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
        let base = abs(std::env::var_os("XDG_CONFIG_HOME"))
            .or_else(|| abs(std::env::var_os("HOME")).map(|h| h.join(".config")))
            .ok_or(KeyFileError::NoHome)?;
        Ok(KeyDir::at(
            base.join("caseledger").join(origin_dir_name(origin)),
        ))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<KEYS>/ledger.pem`.
    pub fn ledger_key_path(&self) -> PathBuf {
        self.root.join(LEDGER_KEY_FILE)
    }

    /// `<KEYS>/actors/<id>.pem`.
    pub fn actor_key_path(&self, id: &ActorId) -> PathBuf {
        self.root.join(ACTORS_DIR).join(format!("{id}.pem"))
    }

    /// `<KEYS>/kek`.
    pub fn kek_path(&self) -> PathBuf {
        self.root.join(crate::kek::KEK_FILE)
    }

    /// `<KEYS>/recovery-kit.age`.
    pub fn recovery_kit_path(&self) -> PathBuf {
        self.root.join(RECOVERY_KIT_FILE)
    }

    /// `<KEYS>/recovery-identity.txt`.
    pub fn recovery_identity_path(&self) -> PathBuf {
        self.root.join(RECOVERY_IDENTITY_FILE)
    }

    /// Creates the directory and `actors/` (parents as needed) and sets both to 0700
    /// whatever the umask; fine if they exist (their modes are tightened).
    pub fn create(&self) -> Result<(), KeyFileError> {
        for d in [self.root.clone(), self.root.join(ACTORS_DIR)] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .and_then(|()| fs::set_permissions(&d, fs::Permissions::from_mode(0o700)))
                .map_err(crate::io_err(&d))?;
        }
        Ok(())
    }

    /// Refuses a key directory that is, or is inside, the ledger directory `ledger`
    /// (both resolved through existing symlinks; either may not exist yet).
    pub fn check_outside(&self, ledger: &Path) -> Result<(), KeyFileError> {
        let keys = resolve(&self.root).map_err(crate::io_err(&self.root))?;
        let led = resolve(ledger).map_err(crate::io_err(ledger))?;
        if keys.starts_with(&led) {
            return Err(KeyFileError::InsideLedger {
                keys: self.root.clone(),
                ledger: ledger.to_owned(),
            });
        }
        Ok(())
    }
}

/// An absolute, normalised form of `p`: the longest existing prefix canonicalised
/// (symlinks resolved), the rest appended with `.` and `..` applied lexically.
fn resolve(p: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    let mut existing = abs.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            existing = c;
            break;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            // `..` at the end, or the root: normalise lexically below.
            _ => break,
        }
    }
    let mut out = PathBuf::new();
    let tail: PathBuf = rest.iter().rev().collect();
    for c in existing.join(tail).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_names_are_one_safe_component() {
        for o in ["a/b", "..", ".", "x/../y", "ü", "a b", "%"] {
            let n = origin_dir_name(o);
            assert!(
                !n.contains('/') && n != "." && n != ".." && !n.starts_with('.'),
                "{n}"
            );
            assert_eq!(Path::new(&n).components().count(), 1, "{n}");
        }
        assert_eq!(origin_dir_name("a%2Fb"), "a%252Fb");
        assert_ne!(origin_dir_name("a/b"), origin_dir_name("a%2Fb"));
    }

    #[test]
    fn inside_the_ledger_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let l = t.path().join("L");
        fs::create_dir(&l).unwrap();
        for inside in ["L/keys", "L", "L/a/../keys", "./L/x"] {
            let kd = KeyDir::at(t.path().join(inside));
            assert!(
                matches!(kd.check_outside(&l), Err(KeyFileError::InsideLedger { .. })),
                "{inside}"
            );
        }
        // Through a symlink to the ledger.
        std::os::unix::fs::symlink(&l, t.path().join("link")).unwrap();
        let kd = KeyDir::at(t.path().join("link/keys"));
        assert!(kd.check_outside(&l).is_err());
        // Beside it: fine, even when neither exists yet.
        KeyDir::at(t.path().join("keys")).check_outside(&l).unwrap();
        KeyDir::at(t.path().join("LL")).check_outside(&l).unwrap();
        KeyDir::at(t.path().join("n/k"))
            .check_outside(&t.path().join("n/l"))
            .unwrap();
        assert!(KeyDir::at(t.path().join("n/l/k"))
            .check_outside(&t.path().join("n/l"))
            .is_err());
    }

    #[test]
    fn create_sets_0700_whatever_exists() {
        let t = tempfile::tempdir().unwrap();
        let kd = KeyDir::at(t.path().join("a/b"));
        fs::create_dir_all(t.path().join("a/b")).unwrap();
        fs::set_permissions(t.path().join("a/b"), fs::Permissions::from_mode(0o755)).unwrap();
        kd.create().unwrap();
        for d in [kd.root().to_path_buf(), kd.root().join(ACTORS_DIR)] {
            assert_eq!(
                fs::metadata(&d).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }
}
