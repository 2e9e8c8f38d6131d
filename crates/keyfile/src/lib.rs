//! caseledger-keyfile: key custody. Private key files are PKCS#8 PEM (readable by
//! `openssl pkey`), plain (`PRIVATE KEY`) or passphrase-encrypted (`ENCRYPTED PRIVATE KEY`,
//! PBES2), created with mode 0600 and never overwritten, refused on read when group or
//! others can access them (like ssh's "UNPROTECTED PRIVATE KEY FILE").
//!
//! * [`keydir`]: the key directory, outside the ledger directory, where `init` puts the
//!   ledger, admin and actor keys and the content key-encryption key.
//! * [`kek`]: the 32-byte content key-encryption key (KEK) and its recovery kit (age).
//! * [`passphrase`]: passphrases from `CASELEDGER_PASSPHRASE_FILE` or a terminal prompt.
//! * [`signer`] and [`agent`]: signing with a key file or through ssh-agent.
//!
//! Errors name the path, never the key. Buffers holding key text are zeroized.
//!
//! Unix only (file modes, ssh-agent's socket). Kept apart from `caseledger-store`, which
//! never reads a key file, so that the store builds everywhere.
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

pub mod agent;
pub mod kek;
pub mod keydir;
pub mod passphrase;
pub mod signer;

pub use kek::{read_kek, write_kek, Kek};
pub use keydir::KeyDir;
pub use passphrase::{Passphrase, PassphraseSource, PASSPHRASE_FILE_ENV};
pub use signer::Signer;

use caseledger_core::keys::{KeyError, SigningKey};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// PBKDF2 iterations for keys we encrypt (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// PEM label of a passphrase-encrypted PKCS#8 key (RFC 5958 `EncryptedPrivateKeyInfo`).
pub const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

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
    /// A passphrase is needed (an encrypted key file, a new one, a kit) and no passphrase
    /// source is available.
    #[error(
        "a passphrase is needed for {}: set CASELEDGER_PASSPHRASE_FILE to a file holding it, \
         or run on a terminal to be asked",
        path.display()
    )]
    NeedsPassphrase {
        /// The key file path.
        path: PathBuf,
    },
    /// The passphrase does not decrypt the key file (or the encrypted file is damaged).
    #[error("key file {}: wrong passphrase (or a damaged encrypted key)", path.display())]
    WrongPassphrase {
        /// The key file path.
        path: PathBuf,
    },
    /// An empty passphrase was given.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The two passphrases typed differ.
    #[error("the passphrases do not match")]
    PassphraseMismatch,
    /// A passphrase file is missing or is not a regular file.
    #[error("passphrase file {}: {why}", path.display())]
    PassphraseFile {
        /// The passphrase file path.
        path: PathBuf,
        /// What is wrong ("not found", "not a regular file").
        why: &'static str,
    },
    /// A passphrase or identity file is not UTF-8 text.
    #[error("{} is not UTF-8 text", path.display())]
    BadPassphraseFile {
        /// The passphrase file path.
        path: PathBuf,
    },
    /// A KEK file is not exactly 32 bytes.
    #[error("content key file {} is not a 32-byte key", path.display())]
    BadKek {
        /// The KEK file path.
        path: PathBuf,
    },
    /// Encrypting a key file failed (the PKCS#5 layer's reason; never key bytes).
    #[error("could not encrypt key file {}: {why}", path.display())]
    Encrypt {
        /// The key file path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A key directory inside the ledger directory: copying the ledger would copy the keys.
    #[error(
        "key directory {} is inside the ledger directory {}: keys must live outside it \
         (a copy of the ledger must carry no private key); choose another --keys",
        keys.display(),
        ledger.display()
    )]
    InsideLedger {
        /// The key directory.
        keys: PathBuf,
        /// The ledger directory.
        ledger: PathBuf,
    },
    /// Neither `XDG_CONFIG_HOME` nor `HOME` is set, so there is no default key directory.
    #[error("no default key directory: neither XDG_CONFIG_HOME nor HOME is set; give --keys DIR")]
    NoHome,
    /// The recovery kit could not be written or opened (age's reason; never key bytes).
    #[error("recovery kit: {why}")]
    Kit {
        /// Why.
        why: String,
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

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with mode 0600 (`create_new`: never overwrites, no window
/// with wider permissions), writes `key` as PKCS#8 v1 PEM, and makes it
/// durable (file and directory fsync). A partly written file is removed.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    write_secret_file(path, key.to_pkcs8_pem().as_bytes())
}

/// As [`write_new`], but the key is encrypted with `passphrase`: PKCS#8
/// `EncryptedPrivateKeyInfo` (PBES2: PBKDF2-HMAC-SHA256, [`PBKDF2_ITERATIONS`], and
/// AES-256-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes), PEM label
/// `ENCRYPTED PRIVATE KEY`, which `openssl pkey` reads with the passphrase. (PBES2 with
/// scrypt would be stronger, but OpenSSL refuses the usual scrypt parameters by its
/// default memory limit.)
pub fn write_new_encrypted(
    path: &Path,
    key: &SigningKey,
    passphrase: &Passphrase,
) -> Result<(), KeyFileError> {
    use pkcs8::der::pem::LineEnding;
    let encrypt_err = |why: String| KeyFileError::Encrypt {
        path: path.to_owned(),
        why,
    };
    let der = key.to_pkcs8_der();
    let info =
        pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| encrypt_err(e.to_string()))?;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
            .map_err(|e| encrypt_err(e.to_string()))?;
    let doc = info
        .encrypt_with_params(params, passphrase.expose().as_bytes())
        .map_err(|e| encrypt_err(e.to_string()))?;
    let pem = doc
        .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(|e| encrypt_err(e.to_string()))?;
    write_secret_file(path, pem.as_bytes())
}

/// Creates `path` 0600 (never overwriting), writes `bytes`, fsyncs file and directory;
/// removes a partly written file. For key material and what goes with it (recovery kit).
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
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
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        // We created it: remove the partial key rather than leave a broken one behind.
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

/// Opens a file that holds a secret: refuses a non-regular file and any mode with group
/// or other bits set, and judges the file actually opened.
pub(crate) fn open_private(path: &Path) -> Result<File, KeyFileError> {
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
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = passphrase::mode_of(&meta);
    if passphrase::too_open(mode) {
        return Err(KeyFileError::Unprotected {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(file)
}

/// Reads a private key file written by [`write_new`] or [`write_new_encrypted`] (or
/// `openssl genpkey`, `openssl pkcs8 -topk8`): refuses a non-regular file and any mode with
/// group or other bits set. An encrypted key takes its passphrase from
/// [`PassphraseSource::from_env`].
pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    read_with(path, &PassphraseSource::from_env())
}

/// Whether the key file at `path` is passphrase-encrypted (its PEM label), after the same
/// checks as [`read`]. For callers that want to ask for a passphrase only when needed.
pub fn is_encrypted(path: &Path) -> Result<bool, KeyFileError> {
    let buf = read_secret_text(path)?;
    Ok(std::str::from_utf8(&buf).is_ok_and(|t| t.contains(ENCRYPTED_LABEL)))
}

fn read_secret_text(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let file = open_private(path)?;
    if file.metadata().map_err(io_err(path))?.len() > MAX_KEY_FILE_LEN {
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

/// Reads a small secret text file (an age identity): the key file checks (regular file,
/// no group or other access, at most [`MAX_KEY_FILE_LEN`]), UTF-8.
pub fn read_secret_string(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let mut buf = read_secret_text(path)?;
    let bytes = std::mem::take(&mut *buf);
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        // Zeroize the bytes we could not use.
        drop(Zeroizing::new(e.into_bytes()));
        KeyFileError::BadPassphraseFile {
            path: path.to_owned(),
        }
    })
}

/// As [`read`], with the passphrase (when the key is encrypted) from `source`.
pub fn read_with(path: &Path, source: &PassphraseSource) -> Result<SigningKey, KeyFileError> {
    let buf = read_secret_text(path)?;
    let malformed = |source| KeyFileError::Malformed {
        path: path.to_owned(),
        source,
    };
    let text = std::str::from_utf8(&buf).map_err(|_| {
        malformed(KeyError::NotPem {
            expected: "PRIVATE KEY",
        })
    })?;
    if !text.contains(ENCRYPTED_LABEL) {
        return SigningKey::from_pkcs8_pem(text).map_err(malformed);
    }
    let (label, doc) = pkcs8::SecretDocument::from_pem(text.trim())
        .map_err(|_| malformed(KeyError::BadPem("unreadable ENCRYPTED PRIVATE KEY block")))?;
    if label != ENCRYPTED_LABEL {
        return Err(malformed(KeyError::WrongPemLabel {
            expected: ENCRYPTED_LABEL,
            found: label.chars().take(40).collect(),
        }));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
        .map_err(|_| malformed(KeyError::BadDer("encrypted PKCS#8 private key")))?;
    let passphrase = source.get(path)?;
    // A wrong passphrase shows as bad padding or as DER that does not parse: both are
    // "wrong passphrase" to the user (the file's integrity has no other check).
    let plain = info.decrypt(passphrase.expose().as_bytes()).map_err(|_| {
        KeyFileError::WrongPassphrase {
            path: path.to_owned(),
        }
    })?;
    SigningKey::from_pkcs8_der(plain.as_bytes()).map_err(|_| KeyFileError::WrongPassphrase {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
