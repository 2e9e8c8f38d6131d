//! caseledger-keyfile: private key files. PKCS#8 v1 PEM (readable by `openssl pkey`),
//! created with mode 0600 and never overwritten, refused on read when group or others can
//! access them (like ssh's "UNPROTECTED PRIVATE KEY FILE").
//!
//! Errors name the path, never the key. Buffers holding key text are zeroized.
//!
//! Unix only (file modes). Kept apart from `caseledger-store`, which never reads a key
//! file, so that the store builds everywhere; key custody (key directories, agents,
//! encrypted keys) grows here.
//!
//! ```
//! use caseledger_core::keys::SigningKey;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("ledger.pem");
//! let key = SigningKey::generate();
//! caseledger_keyfile::write_new(&path, &key).unwrap();
//! assert_eq!(caseledger_keyfile::read(&path).unwrap().public_key(), key.public_key());
//! assert!(caseledger_keyfile::write_new(&path, &key).is_err()); // never overwritten
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use caseledger_core::content::Kek;
use caseledger_core::keys::{KeyError, SigningKey};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A key file larger than this is not a key (a PKCS#8 PEM Ed25519 key is ~120 bytes).
pub const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// Why a key file could not be written or read. Names the path; never holds key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// `write_new` found something already at the path.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// The key file path.
        path: PathBuf,
    },
    /// No file at the path.
    #[error("key file {} not found", path.display())]
    NotFound {
        /// The key file path.
        path: PathBuf,
    },
    /// The path is a directory or another non-regular file.
    #[error("key file {} is not a regular file", path.display())]
    NotAFile {
        /// The key file path.
        path: PathBuf,
    },
    /// The file's mode gives group or others some access.
    #[error(
        "UNPROTECTED PRIVATE KEY FILE: permissions {mode:04o} for {} are too open; \
         a private key must not be accessible by group or others (chmod 600 it)",
        path.display()
    )]
    Unprotected {
        /// The key file path.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// The file is too large to be a key.
    #[error("key file {} is larger than {MAX_KEY_FILE_LEN} bytes; not a key", path.display())]
    TooLarge {
        /// The key file path.
        path: PathBuf,
    },
    /// The content is not a PKCS#8 PEM Ed25519 private key.
    #[error("key file {} is not an Ed25519 PKCS#8 PEM private key: {source}", path.display())]
    Malformed {
        /// The key file path.
        path: PathBuf,
        /// What was wrong (never includes key bytes).
        source: KeyError,
    },
    /// Any other I/O failure.
    #[error("I/O error on key file {}: {source}", path.display())]
    Io {
        /// The key file path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with mode 0600 (`create_new`: never overwrites, no window
/// with wider permissions), writes `key` as PKCS#8 v1 PEM, and makes it
/// durable (file and directory fsync). A partly written file is removed.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    write_protected(path, key.to_pkcs8_pem().as_bytes())
}

/// Reads a private key file written by [`write_new`] (or `openssl genpkey`):
/// refuses a non-regular file and any mode with group or other bits set.
pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    let buf = read_protected(path)?;
    let malformed = |source| KeyFileError::Malformed {
        path: path.to_owned(),
        source,
    };
    let text = std::str::from_utf8(&buf).map_err(|_| {
        malformed(KeyError::NotPem {
            expected: "PRIVATE KEY",
        })
    })?;
    SigningKey::from_pkcs8_pem(text).map_err(malformed)
}

/// The PEM label of the practice's content key file (DESIGN v2 principle 6).
pub const KEK_LABEL: &str = "CASELEDGER CONTENT KEY";

/// Writes the practice's content key (KEK) as a PEM block labelled [`KEK_LABEL`], mode 0600,
/// never overwriting (like [`write_new`]).
pub fn write_kek(path: &Path, kek: &Kek) -> Result<(), KeyFileError> {
    use base64::Engine;
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(kek.as_bytes()));
    let text = Zeroizing::new(format!(
        "-----BEGIN {KEK_LABEL}-----\n{}\n-----END {KEK_LABEL}-----\n",
        b64.as_str()
    ));
    write_protected(path, text.as_bytes())
}

/// Reads a content key file written by [`write_kek`], with the checks of [`read`].
pub fn read_kek(path: &Path) -> Result<Kek, KeyFileError> {
    use base64::Engine;
    let buf = read_protected(path)?;
    let malformed = || KeyFileError::Malformed {
        path: path.to_owned(),
        source: KeyError::NotPem {
            expected: KEK_LABEL,
        },
    };
    let text = std::str::from_utf8(&buf).map_err(|_| malformed())?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let begin = format!("-----BEGIN {KEK_LABEL}-----");
    let end = format!("-----END {KEK_LABEL}-----");
    let (Some(b), Some(body), Some(e), None) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(malformed());
    };
    if b != begin || e != end {
        return Err(malformed());
    }
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| malformed())?,
    );
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| malformed())?;
    Ok(Kek::from_bytes(key))
}

/// Creates `path` 0600 (never overwriting), writes `bytes`, makes it durable; a partly
/// written file is removed.
fn write_protected(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyFileError::Exists {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(io_err(path)(e));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

/// Reads a protected file: a regular file, no group or other permission bits, at most
/// [`MAX_KEY_FILE_LEN`] bytes; the buffer is zeroized when dropped.
fn read_protected(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let not_found_or_io = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            KeyFileError::NotFound {
                path: path.to_owned(),
            }
        } else {
            io_err(path)(e)
        }
    };
    // Check the type before opening, so a FIFO cannot block us.
    if !fs::metadata(path).map_err(not_found_or_io)?.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let file = File::open(path).map_err(not_found_or_io)?;
    // Judge the file we actually opened.
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Unprotected {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    // Reserve up front so the secret is never copied by a reallocation.
    let cap = usize::try_from(MAX_KEY_FILE_LEN)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut buf = Zeroizing::new(Vec::with_capacity(cap));
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if buf.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn write_then_read_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.key");
        let k = SigningKey::generate();
        write_new(&p, &k).unwrap();
        assert_eq!(mode_of(&p), 0o600);
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(read(&p).unwrap().public_key(), k.public_key());
    }

    #[test]
    fn kek_round_trips_with_mode_0600_and_is_refused_when_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek");
        let kek = Kek::from_bytes([7; 32]);
        write_kek(&p, &kek).unwrap();
        assert_eq!(mode_of(&p), 0o600);
        assert_eq!(read_kek(&p).unwrap(), kek);
        assert!(write_kek(&p, &kek).is_err());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            read_kek(&p),
            Err(KeyFileError::Unprotected { .. })
        ));
        // A private key file is not a content key.
        let q = dir.path().join("k.pem");
        write_new(&q, &SigningKey::generate()).unwrap();
        assert!(matches!(read_kek(&q), Err(KeyFileError::Malformed { .. })));
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let first = SigningKey::generate();
        write_new(&p, &first).unwrap();
        let err = write_new(&p, &SigningKey::generate()).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::Exists { path } if path == &p),
            "{err}"
        );
        assert_eq!(read(&p).unwrap().public_key(), first.public_key());
        // Nor through a directory.
        assert!(matches!(
            write_new(dir.path(), &first),
            Err(KeyFileError::Exists { .. })
        ));
    }

    #[test]
    fn refuses_group_or_world_access() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let k = SigningKey::generate();
        write_new(&p, &k).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o601, 0o610] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&p).unwrap_err();
            assert!(
                matches!(&err, KeyFileError::Unprotected { mode: m, .. } if *m == mode),
                "{err}"
            );
            let msg = err.to_string();
            assert!(msg.contains("UNPROTECTED PRIVATE KEY FILE"), "{msg}");
            assert!(
                msg.contains(&format!("{mode:04o}")) && msg.contains(&p.display().to_string()),
                "{msg}"
            );
        }
        // Owner-only modes stricter than 0600 are fine.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(read(&p).unwrap().public_key(), k.public_key());
    }

    #[test]
    fn missing_directory_and_junk() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(read(&missing), Err(KeyFileError::NotFound { path }) if path == missing));
        assert!(matches!(
            read(dir.path()),
            Err(KeyFileError::NotAFile { .. })
        ));

        let write_0600 = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&p)
                .unwrap();
            f.write_all(bytes).unwrap();
            p
        };
        let junk = write_0600("junk", b"hello");
        assert!(matches!(
            read(&junk),
            Err(KeyFileError::Malformed {
                source: KeyError::NotPem { .. },
                ..
            })
        ));
        let binary = write_0600("bin", &[0xff, 0xfe, 0]);
        assert!(matches!(read(&binary), Err(KeyFileError::Malformed { .. })));
        let public = write_0600(
            "pub",
            SigningKey::generate().public_key().to_spki_pem().as_bytes(),
        );
        assert!(matches!(
            read(&public),
            Err(KeyFileError::Malformed {
                source: KeyError::WrongPemLabel { .. },
                ..
            })
        ));
        let big = write_0600("big", &vec![b'a'; 70_000]);
        assert!(matches!(read(&big), Err(KeyFileError::TooLarge { .. })));
        assert!(matches!(
            write_new(&dir.path().join("no/such/dir/k"), &SigningKey::generate()),
            Err(KeyFileError::Io { .. })
        ));
    }

    #[test]
    fn errors_never_contain_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let k = SigningKey::generate();
        write_new(&p, &k).unwrap();
        let pem = fs::read_to_string(&p).unwrap();
        let b64 = pem.lines().nth(1).unwrap().to_owned();
        // Corrupt the END line so parsing fails after reading the key.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"trailing junk\n").unwrap();
        let err = read(&p).unwrap_err();
        let shown = format!("{err} {err:?}");
        let seed_hex: String = k.seed().iter().map(|b| format!("{b:02x}")).collect();
        let seed_dbg = format!("{:?}", &k.seed()[..]);
        assert!(
            !shown.contains(&b64) && !shown.contains(&seed_hex) && !shown.contains(&seed_dbg),
            "{shown}"
        );
    }
}
