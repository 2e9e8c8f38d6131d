//! The ledger's key directory (`<DIR>/keys/`) and reading key files.
//!
//! * `keys/ledger.pem`: the ledger (checkpoint) key, PKCS#8 v1 PEM, 0600.
//! * `keys/actors/<actor-id>.pem`: each author's signing key, 0600.
//! * `<name>.pub` beside each: the public key as an OpenSSH line.

use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::keys::SigningKey;
use caseledger_core::{ActorId, PublicKey};
use caseledger_keyfile as keyfile;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The key directory of a ledger.
pub(crate) struct KeyDir {
    root: PathBuf,
}

impl KeyDir {
    /// The key directory of the ledger at `ledger`.
    pub fn of(ledger: &Path) -> KeyDir {
        KeyDir {
            root: ledger.join("keys"),
        }
    }

    /// Creates `keys/` and `keys/actors/` with mode 0700 (fine if they exist).
    pub fn create(&self) -> Result<()> {
        for d in [self.root.clone(), self.root.join("actors")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(crate::io::io_why)
                .with_context(|| format!("key directory {}", d.display()))?;
        }
        Ok(())
    }

    /// `keys/ledger.pem`.
    pub fn ledger_key_path(&self) -> PathBuf {
        self.root.join("ledger.pem")
    }

    /// `keys/actors/<id>.pem`.
    pub fn actor_key_path(&self, id: &ActorId) -> PathBuf {
        self.root.join("actors").join(format!("{id}.pem"))
    }

    /// Reads the ledger (checkpoint) key.
    pub fn ledger_key(&self) -> Result<SigningKey> {
        read_private(&self.ledger_key_path())
    }

    /// Reads an actor's signing key, with a hint when it is not there.
    pub fn actor_key(&self, id: &ActorId) -> Result<SigningKey> {
        let path = self.actor_key_path(id);
        if !path.exists() {
            bail!(
                "author {id}: no signing key ({} not found; enrol the actor with `caseledger actor add`)",
                path.display()
            );
        }
        read_private(&path)
    }

    /// Whether an actor's key file exists.
    pub fn has_actor_key(&self, id: &ActorId) -> bool {
        self.actor_key_path(id).exists()
    }

    /// Writes a new actor key (0600, never overwriting) and its `.pub` beside it.
    pub fn write_actor_key(&self, id: &ActorId, key: &SigningKey) -> Result<PathBuf> {
        let path = self.actor_key_path(id);
        write_private(&path, key, &format!("{id}"))?;
        Ok(path)
    }

    /// `keys/kek`: the practice's content key (32 raw bytes, 0600).
    pub fn kek_path(&self) -> PathBuf {
        self.root.join("kek")
    }

    /// Reads the content key, if the key directory has one (refused when others can read it).
    pub fn kek(&self) -> Result<Option<caseledger_core::content::Kek>> {
        let path = self.kek_path();
        if !path.exists() {
            return Ok(None);
        }
        keyfile::read_kek(&path)
            .map(Some)
            .map_err(|e| anyhow!("{e}"))
    }

    /// Writes a new content key (0600, never overwriting).
    pub fn write_kek(&self, kek: &caseledger_core::content::Kek) -> Result<()> {
        keyfile::write_kek(&self.kek_path(), kek).map_err(|e| anyhow!("{e}"))
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
    keyfile::write_new(path, key).map_err(|e| anyhow!("{e}"))?;
    let pub_path = path.with_extension("pub");
    let line = format!("{}\n", key.public_key().to_openssh(comment));
    // The public half is a convenience; an existing .pub is replaced.
    crate::io::write_replace(&pub_path, line.as_bytes())
        .with_context(|| format!("public key file {}", pub_path.display()))?;
    Ok(())
}

/// Reads a private key file (0600, PKCS#8 PEM). The error names the file, never the key.
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

/// Key files larger than this are not keys.
pub(crate) const MAX_KEY_TEXT: u64 = 64 * 1024;
