//! Passphrases for encrypted private key files and recovery kits: from a file named by
//! `CASELEDGER_PASSPHRASE_FILE` (non-interactive use), else a prompt on the terminal.
//!
//! A passphrase file is held to the key file rule (no group or other access): it is
//! as good as the key it unlocks. One trailing newline is stripped, so `echo pw > f` works.

use crate::KeyFileError;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The environment variable naming a passphrase file.
pub const PASSPHRASE_FILE_ENV: &str = "CASELEDGER_PASSPHRASE_FILE";

/// A passphrase file larger than this is not a passphrase.
const MAX_PASSPHRASE_FILE: u64 = 4096;
const PASSPHRASE_CAP: usize = 4097;

/// A passphrase; zeroized on drop, never shown by `Debug`.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase string (refused when empty).
    pub fn new(s: String) -> Result<Passphrase, KeyFileError> {
        let s = Zeroizing::new(s);
        if s.is_empty() {
            return Err(KeyFileError::EmptyPassphrase);
        }
        Ok(Passphrase(s))
    }

    /// The passphrase text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a passphrase file: a regular file, no group or other access, at most 4 KiB,
    /// UTF-8; one trailing `\n` (or `\r\n`) is not part of the passphrase.
    pub fn from_file(path: &Path) -> Result<Passphrase, KeyFileError> {
        let file = crate::open_private(path).map_err(|e| match e {
            KeyFileError::NotFound { path } => KeyFileError::PassphraseFile {
                path,
                why: "not found",
            },
            KeyFileError::NotAFile { path } => KeyFileError::PassphraseFile {
                path,
                why: "not a regular file",
            },
            other => other,
        })?;
        let mut buf = Zeroizing::new(Vec::with_capacity(PASSPHRASE_CAP));
        file.take(MAX_PASSPHRASE_FILE + 1)
            .read_to_end(&mut buf)
            .map_err(crate::io_err(path))?;
        if buf.len() as u64 > MAX_PASSPHRASE_FILE {
            return Err(KeyFileError::TooLarge {
                path: path.to_owned(),
            });
        }
        let mut text =
            Zeroizing::new(String::from_utf8(std::mem::take(&mut *buf)).map_err(|_| {
                KeyFileError::BadPassphraseFile {
                    path: path.to_owned(),
                }
            })?);
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Passphrase::new(std::mem::take(&mut *text))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

/// Where a passphrase comes from when one is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// This file (see [`Passphrase::from_file`]).
    File(PathBuf),
    /// Ask on the terminal (`/dev/tty`), without echo.
    Prompt,
    /// None available: an encrypted key is refused with a hint.
    Unavailable,
}

impl PassphraseSource {
    /// `CASELEDGER_PASSPHRASE_FILE` if set, else a prompt when stdin is a terminal, else
    /// none.
    pub fn from_env() -> PassphraseSource {
        match std::env::var_os(PASSPHRASE_FILE_ENV) {
            Some(p) if !p.is_empty() => PassphraseSource::File(PathBuf::from(p)),
            _ if std::io::stdin().is_terminal() => PassphraseSource::Prompt,
            _ => PassphraseSource::Unavailable,
        }
    }

    /// Gets the passphrase for `what` (a file path, shown in the prompt and in errors).
    pub fn get(&self, what: &Path) -> Result<Passphrase, KeyFileError> {
        match self {
            PassphraseSource::File(p) => Passphrase::from_file(p),
            PassphraseSource::Prompt => {
                let text =
                    rpassword::prompt_password(format!("Passphrase for {}: ", what.display()))
                        .map_err(crate::io_err(what))?;
                Passphrase::new(text)
            }
            PassphraseSource::Unavailable => Err(KeyFileError::NeedsPassphrase {
                path: what.to_owned(),
            }),
        }
    }

    /// Asks twice on a terminal (a new passphrase); a file is read once.
    pub fn get_new(&self, what: &Path) -> Result<Passphrase, KeyFileError> {
        match self {
            PassphraseSource::Prompt => {
                let first = self.get(what)?;
                let again = Zeroizing::new(
                    rpassword::prompt_password("Same passphrase again: ")
                        .map_err(crate::io_err(what))?,
                );
                if first.expose() != again.as_str() {
                    return Err(KeyFileError::PassphraseMismatch);
                }
                Ok(first)
            }
            other => other.get(what),
        }
    }
}

/// Whether `mode` gives group or others any access.
pub(crate) fn too_open(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Mode bits of `meta`.
pub(crate) fn mode_of(meta: &std::fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}
