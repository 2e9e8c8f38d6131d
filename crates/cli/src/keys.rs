//! The key directory (outside the ledger directory) and reading key files.
//!
//! * `<KEYS>/ledger.pem`: the ledger (checkpoint) key, PKCS#8 PEM, 0600.
//! * `<KEYS>/actors/<actor-id>.pem`: each author's signing key, 0600.
//! * `<KEYS>/kek`, `<KEYS>/recovery-kit.age`: the content key-encryption key and its kit.
//! * `<name>.pub` beside each key: the public key as an OpenSSH line.
//!
//! `<KEYS>` is `--keys DIR` (or `CASELEDGER_KEYS`), else
//! `$XDG_CONFIG_HOME/caseledger/<origin>/` (`~/.config/caseledger/<origin>/`); never inside
//! the ledger directory.

use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::NoteVerifier;
use caseledger_core::{ActorId, PublicKey};
use caseledger_keyfile as keyfile;
use std::fs;
use std::path::{Path, PathBuf};

/// The key directory of a ledger.
pub(crate) struct KeyDir {
    inner: keyfile::KeyDir,
}

impl KeyDir {
    /// The key directory of the ledger at `ledger`: `--keys` if given, else the default for
    /// its origin (`origin` is called only then). Refused when inside the ledger directory.
    pub fn resolve(
        keys: Option<&Path>,
        ledger: &Path,
        origin: impl FnOnce() -> Result<String>,
    ) -> Result<KeyDir> {
        let inner = match keys {
            Some(k) => keyfile::KeyDir::at(k),
            None => keyfile::KeyDir::default_for(&origin()?).map_err(|e| anyhow!("{e}"))?,
        };
        inner.check_outside(ledger).map_err(|e| anyhow!("{e}"))?;
        Ok(KeyDir { inner })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        self.inner.root()
    }

    /// The library's view.
    pub fn inner(&self) -> &keyfile::KeyDir {
        &self.inner
    }

    /// Creates the directory and `actors/` with mode 0700 (fine if they exist).
    pub fn create(&self) -> Result<()> {
        self.inner
            .create()
            .map_err(|e| anyhow!("key directory {}: {e}", self.root().display()))
    }

    /// `<KEYS>/ledger.pem`.
    pub fn ledger_key_path(&self) -> PathBuf {
        self.inner.ledger_key_path()
    }

    /// `<KEYS>/actors/<id>.pem`.
    pub fn actor_key_path(&self, id: &ActorId) -> PathBuf {
        self.inner.actor_key_path(id)
    }

    /// Reads the ledger (checkpoint) key, with a hint when it is not there.
    pub fn ledger_key(&self) -> Result<SigningKey> {
        let path = self.ledger_key_path();
        if !path.exists() {
            bail!(
                "ledger key: {} not found (the key directory is --keys DIR, or \
                 $XDG_CONFIG_HOME/caseledger/<origin>/ by default)",
                path.display()
            );
        }
        read_private(&path)
    }

    /// Reads an actor's signing key, with a hint when it is not there.
    pub fn actor_key(&self, id: &ActorId) -> Result<SigningKey> {
        let path = self.actor_key_path(id);
        if !path.exists() {
            bail!(
                "author {id}: no signing key ({} not found; enrol the actor with `caseledger actor add`, or give the key directory with --keys)",
                path.display()
            );
        }
        read_private(&path)
    }

    /// Whether an actor's key file exists.
    pub fn has_actor_key(&self, id: &ActorId) -> bool {
        self.actor_key_path(id).exists()
    }

    /// Writes a new actor key (0600, never overwriting) and its `.pub` beside it, encrypted
    /// when this directory's keys are ([`KeyDir::keys_encrypted`]), with a new passphrase
    /// ([`new_passphrase`]): a key written beside encrypted ones must not be the weak one.
    pub fn write_actor_key(&self, id: &ActorId, key: &SigningKey) -> Result<PathBuf> {
        let passphrase = if self.keys_encrypted()? {
            Some(new_passphrase(&self.actor_key_path(id))?)
        } else {
            None
        };
        self.write_actor_key_with(id, key, passphrase.as_ref())
    }

    /// [`KeyDir::write_actor_key`] with the encryption decided by the caller.
    pub fn write_actor_key_with(
        &self,
        id: &ActorId,
        key: &SigningKey,
        passphrase: Option<&keyfile::Passphrase>,
    ) -> Result<PathBuf> {
        self.create()?;
        let path = self.actor_key_path(id);
        write_private_with(&path, key, &format!("{id}"), passphrase)?;
        Ok(path)
    }

    /// Whether this directory's keys are passphrase-encrypted (`init --encrypt-keys`): its
    /// ledger key file is. A directory without a ledger key (keys of pre-signing authors
    /// only) counts as unencrypted.
    pub fn keys_encrypted(&self) -> Result<bool> {
        let path = self.ledger_key_path();
        if !path.exists() {
            return Ok(false);
        }
        keyfile::is_encrypted(&path).map_err(|e| anyhow!("{e}"))
    }

    /// Reads the practice's content key (KEK), if the key directory has one (refused when
    /// others can read it).
    pub fn kek(&self) -> Result<Option<caseledger_core::content::Kek>> {
        if !self.inner.kek_path().exists() {
            return Ok(None);
        }
        keyfile::read_kek(self.root())
            .map(Some)
            .map_err(|e| anyhow!("{e}"))
    }

    /// Removes an actor key written by this run that was not used (a refused enrolment).
    pub fn remove_actor_key(&self, id: &ActorId) {
        let path = self.actor_key_path(id);
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(path.with_extension("pub"));
    }
}

/// Writes a private key file (0600, refuses to overwrite) and an OpenSSH `.pub` beside it.
pub(crate) fn write_private(path: &Path, key: &SigningKey, comment: &str) -> Result<()> {
    write_private_with(path, key, comment, None)
}

/// A new passphrase for `path`: from `CASELEDGER_PASSPHRASE_FILE`, else asked twice on the
/// terminal.
pub(crate) fn new_passphrase(path: &Path) -> Result<keyfile::Passphrase> {
    keyfile::PassphraseSource::from_env()
        .get_new(path)
        .map_err(|e| anyhow!("{e}"))
}

/// As [`write_private`], encrypted with `passphrase` when one is given.
pub(crate) fn write_private_with(
    path: &Path,
    key: &SigningKey,
    comment: &str,
    passphrase: Option<&keyfile::Passphrase>,
) -> Result<()> {
    match passphrase {
        Some(p) => keyfile::write_new_encrypted(path, key, p),
        None => keyfile::write_new(path, key),
    }
    .map_err(|e| anyhow!("{e}"))?;
    let pub_path = path.with_extension("pub");
    let line = format!("{}\n", key.public_key().to_openssh(comment));
    // The public half is a convenience; an existing .pub is replaced.
    crate::io::write_replace(&pub_path, line.as_bytes())
        .with_context(|| format!("public key file {}", pub_path.display()))?;
    Ok(())
}

/// Reads a private key file (0600, PKCS#8 PEM, plain or passphrase-encrypted: the
/// passphrase from `CASELEDGER_PASSPHRASE_FILE`, else a prompt on a terminal). The error
/// names the file, never the key.
pub(crate) fn read_private(path: &Path) -> Result<SigningKey> {
    keyfile::read(path).map_err(|e| anyhow!("{e}"))
}

/// Reads a public key in any form `PublicKey::parse_any` knows (SPKI PEM, ssh-ed25519 line,
/// note verifier key, hex). A private key given where a public one is expected is refused
/// without reading it further.
pub(crate) fn read_public(path: &Path, what: &str) -> Result<PublicKey> {
    let text = crate::io::read_text(path, what)?;
    if text.contains("PRIVATE KEY") {
        bail!(
            "{what} {}: is a private key; give the public key (caseledger keys export)",
            path.display()
        );
    }
    PublicKey::parse_any(&text).map_err(|e| anyhow!("{what} {}: {e}", path.display()))
}

/// A public key given on the command line: a file path, or the key text itself
/// (a note verifier key `name+hex+base64`, or an `ssh-ed25519 …` line).
pub(crate) fn public_arg(arg: &str, what: &str) -> Result<PublicKey> {
    let p = Path::new(arg);
    if p.exists() {
        return read_public(p, what);
    }
    PublicKey::parse_any(arg).map_err(|e| anyhow!("{what} {arg:?}: not a file, and not a key: {e}"))
}

/// A ledger (checkpoint) key as a relying party gives it (`verify --key`, `--ledger-key`,
/// `cosign --log-key`): every public-key form this tool writes is accepted, as text or as a
/// file holding it.
pub(crate) enum LedgerKeyArg {
    /// A signed-note verifier key `name+hex8+base64` (`caseledger keys export --ledger`).
    Note(NoteVerifier),
    /// A bare public key (the key directory's `ledger.pub` ssh-ed25519 line, SPKI PEM, 64
    /// hex digits): it carries no name, so it is bound to the origin of the ledger, archive,
    /// bundle or checkpoint it checks ([`LedgerKeyArg::verifier`]). Only the key is trusted:
    /// a checkpoint under another key fails either way.
    Bare(PublicKey),
}

impl LedgerKeyArg {
    /// The note verifier key for `origin` (the name a bare key is bound to).
    pub fn verifier(&self, origin: &str) -> Result<NoteVerifier> {
        match self {
            LedgerKeyArg::Note(v) => Ok(v.clone()),
            LedgerKeyArg::Bare(pk) => NoteVerifier::new(origin, *pk)
                .map_err(|e| anyhow!("origin {origin:?}: not a key name: {e}")),
        }
    }

    /// Whether the key needs an origin to become a verifier key.
    pub fn is_bare(&self) -> bool {
        matches!(self, LedgerKeyArg::Bare(_))
    }
}

/// What a ledger key argument may be, for error lines.
const LEDGER_KEY_FORMS: &str = "give the ledger's verifier key (`caseledger keys export \
     --ledger DIR > ledger.vkey`), the key directory's ledger.pub, an SPKI PEM file, or a file \
     holding one of them";

/// Parses a ledger key argument: a file holding a key, or the key text itself, in any form
/// [`LedgerKeyArg`] names. Errors name `flag` and never quote a file's content.
pub(crate) fn ledger_key_arg(arg: &str, flag: &str) -> Result<LedgerKeyArg> {
    let arg_t = arg.trim();
    if arg_t.is_empty() {
        bail!("{flag}: empty; {LEDGER_KEY_FORMS}");
    }
    let p = Path::new(arg);
    let looks_like_key = (arg_t.contains('+') && !arg_t.contains(char::is_whitespace))
        || arg_t.starts_with("ssh-")
        || arg_t.starts_with("-----BEGIN ")
        || (arg_t.len() == 64 && arg_t.bytes().all(|b| b.is_ascii_hexdigit()));
    let (text, shown) = if p.exists() || !looks_like_key {
        let text =
            crate::io::read_text(p, flag).map_err(|e| anyhow!("{e:#}; {LEDGER_KEY_FORMS}"))?;
        if text.contains("PRIVATE KEY") {
            bail!(
                "{flag} {}: is a private key; give the public key (caseledger keys export)",
                p.display()
            );
        }
        (text, p.display().to_string())
    } else {
        (arg_t.to_owned(), format!("{arg_t:?}"))
    };
    let t = text.trim();
    if t.contains('+') && !t.contains(char::is_whitespace) {
        return NoteVerifier::parse(t).map(LedgerKeyArg::Note).map_err(|e| {
            anyhow!("{flag} {shown}: not a note verifier key (name+hex8+base64): {e}")
        });
    }
    PublicKey::parse_any(t)
        .map(LedgerKeyArg::Bare)
        .map_err(|_| anyhow!("{flag} {shown}: not a public key; {LEDGER_KEY_FORMS}"))
}

/// Parses every ledger key argument of `flag`.
pub(crate) fn ledger_key_args(args: &[String], flag: &str) -> Result<Vec<LedgerKeyArg>> {
    args.iter().map(|a| ledger_key_arg(a, flag)).collect()
}

/// The note verifier keys (as text) of parsed ledger key arguments, bare keys bound to the
/// origin `origin` gives (called only when there is a bare key; `None`: none known).
pub(crate) fn ledger_vkeys(
    keys: &[LedgerKeyArg],
    flag: &str,
    origin: impl FnOnce() -> Option<String>,
) -> Result<Vec<String>> {
    let origin = if keys.iter().any(LedgerKeyArg::is_bare) {
        Some(origin().ok_or_else(|| {
            anyhow!("{flag}: a bare public key needs the ledger's origin, and none could be read; give the verifier key (`caseledger keys export --ledger DIR`)")
        })?)
    } else {
        None
    };
    keys.iter()
        .map(|k| {
            k.verifier(origin.as_deref().unwrap_or_default())
                .map(|v| v.to_vkey_string())
        })
        .collect()
}

/// Adds the relying party's ledger keys (`--key`, `--ledger-key`) to `policy`, a bare
/// public key bound to the origin `origin` gives (the ledger's genesis, an archive's header,
/// a bundle's origin).
pub(crate) fn bind_keys(
    policy: &mut caseledger_verify::Policy,
    keys: &[LedgerKeyArg],
    flag: &str,
    origin: impl FnOnce() -> Option<String>,
) -> Result<()> {
    for text in ledger_vkeys(keys, flag, origin)? {
        let v = NoteVerifier::parse(&text).map_err(|e| anyhow!("{flag}: {e}"))?;
        policy.trusted_keys.push(v);
    }
    Ok(())
}

/// Key files larger than this are not keys.
pub(crate) const MAX_KEY_TEXT: u64 = 64 * 1024;

/// The recovery kit's file name.
pub(crate) const RECOVERY_KIT_NAME: &str = caseledger_keyfile::keydir::RECOVERY_KIT_FILE;

/// The note key name a signer (witness, cosigner) uses: `--name`, else the key file's stem.
pub(crate) fn key_name(name: Option<&str>, key: &Path) -> String {
    match name {
        Some(n) => n.to_owned(),
        None => key
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}
