//! The content key-encryption key (KEK) and its recovery kit.
//!
//! The KEK (32 random bytes, file `<KEYS>/kek`, mode 0600) wraps each record's content key.
//! Losing it would destroy every record's content, itself an unauthorized destruction, so
//! `init` also writes a **recovery kit**: the KEK encrypted with [age](https://age-encryption.org)
//! to an offline X25519 recovery recipient (`age1...`) or with a passphrase (age's scrypt
//! recipient), ASCII-armoured. The practice keeps the kit offsite; `age -d` or
//! [`open_kit`] restores the KEK from it.
//!
//! ```
//! use caseledger_keyfile::kek::{open_kit, recovery_kit, KitIdentity, KitRecipient, Kek};
//! let kek = Kek::generate();
//! let (identity, recipient) = caseledger_keyfile::kek::generate_recovery_identity();
//! let kit = recovery_kit(&kek, &KitRecipient::Recipient(recipient)).unwrap();
//! assert!(kit.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
//! let back = open_kit(kit.as_bytes(), &KitIdentity::Identity(identity.to_string())).unwrap();
//! assert_eq!(back.as_bytes(), kek.as_bytes());
//! ```

use crate::{KeyFileError, Passphrase};
use age::secrecy::{ExposeSecret, SecretString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

/// The KEK's file name in a key directory.
pub const KEK_FILE: &str = "kek";
/// The KEK's length in bytes.
pub const KEK_LEN: usize = 32;
/// scrypt work factor (log2 N) of a passphrase-wrapped kit: 128 MiB, about a second; the
/// kit is opened rarely and offline, so a guesser pays that per guess.
pub const KIT_SCRYPT_LOG_N: u8 = 17;
/// The largest scrypt work factor accepted when opening a kit (age's own bound is similar).
pub const KIT_SCRYPT_MAX_LOG_N: u8 = 22;
/// A kit larger than this is not a kit.
pub const MAX_KIT_LEN: usize = 16 * 1024;

/// The 32-byte content key-encryption key: core's type (it wraps record keys in
/// `caseledger_core::content`). Zeroized on drop; `Debug` never shows it.
pub use caseledger_core::content::Kek;

/// Writes `kek` to `<dir>/kek` (0600, never overwriting, fsynced); returns the path.
pub fn write_kek(dir: &Path, kek: &Kek) -> Result<PathBuf, KeyFileError> {
    let path = dir.join(KEK_FILE);
    crate::write_secret_file(&path, kek.as_bytes())?;
    Ok(path)
}

/// Reads `<dir>/kek`: a regular file, no group or other access, exactly 32 bytes.
pub fn read_kek(dir: &Path) -> Result<Kek, KeyFileError> {
    let path = dir.join(KEK_FILE);
    let file = crate::open_private(&path)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(KEK_LEN + 1));
    file.take(KEK_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(crate::io_err(&path))?;
    let bytes: [u8; KEK_LEN] = buf
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::BadKek { path: path.clone() })?;
    Ok(Kek::from_bytes(bytes))
}

/// Who a recovery kit is encrypted to.
pub enum KitRecipient {
    /// An age X25519 recipient, `age1...` (its identity kept offline).
    Recipient(String),
    /// A passphrase (age scrypt recipient).
    Passphrase(Passphrase),
}

/// What opens a recovery kit.
pub enum KitIdentity {
    /// An age X25519 identity, `AGE-SECRET-KEY-1...` (an identity file's text is accepted:
    /// `#` comment lines and blank lines are skipped).
    Identity(String),
    /// The kit's passphrase.
    Passphrase(Passphrase),
}

fn kit_err(e: impl std::fmt::Display) -> KeyFileError {
    KeyFileError::Kit { why: e.to_string() }
}

/// A fresh age X25519 recovery identity: (`AGE-SECRET-KEY-1...` text, `age1...` recipient).
pub fn generate_recovery_identity() -> (Zeroizing<String>, String) {
    let id = age::x25519::Identity::generate();
    let secret = Zeroizing::new(id.to_string().expose_secret().to_owned());
    (secret, id.to_public().to_string())
}

/// Checks an `age1...` recipient string.
pub fn parse_recipient(s: &str) -> Result<(), KeyFileError> {
    age::x25519::Recipient::from_str(s.trim())
        .map(|_| ())
        .map_err(|_| kit_err("not an age X25519 recipient (age1...)"))
}

/// The recovery kit for `kek`: the 32 bytes encrypted to `to`, ASCII-armoured age.
pub fn recovery_kit(kek: &Kek, to: &KitRecipient) -> Result<String, KeyFileError> {
    match to {
        KitRecipient::Recipient(r) => {
            let r = age::x25519::Recipient::from_str(r.trim())
                .map_err(|_| kit_err("not an age X25519 recipient (age1...)"))?;
            age::encrypt_and_armor(&r, kek.as_bytes()).map_err(kit_err)
        }
        KitRecipient::Passphrase(p) => {
            let mut r = age::scrypt::Recipient::new(SecretString::from(p.expose().to_owned()));
            r.set_work_factor(KIT_SCRYPT_LOG_N);
            age::encrypt_and_armor(&r, kek.as_bytes()).map_err(kit_err)
        }
    }
}

/// Opens a recovery kit (armoured or binary age) and returns the KEK it holds.
pub fn open_kit(kit: &[u8], with: &KitIdentity) -> Result<Kek, KeyFileError> {
    if kit.len() > MAX_KIT_LEN {
        return Err(kit_err("larger than a recovery kit"));
    }
    let plain = match with {
        KitIdentity::Identity(text) => {
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap_or_default();
            let id = age::x25519::Identity::from_str(line)
                .map_err(|_| kit_err("not an age X25519 identity (AGE-SECRET-KEY-1...)"))?;
            age::decrypt(&id, kit)
        }
        KitIdentity::Passphrase(p) => {
            let mut id = age::scrypt::Identity::new(SecretString::from(p.expose().to_owned()));
            id.set_max_work_factor(KIT_SCRYPT_MAX_LOG_N);
            age::decrypt(&id, kit)
        }
    }
    .map_err(|e| match e {
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
            kit_err("the identity or passphrase does not open this kit")
        }
        other => kit_err(other),
    })?;
    let plain = Zeroizing::new(plain);
    let bytes: [u8; KEK_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| kit_err("the kit does not hold a 32-byte content key"))?;
    Ok(Kek::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn kek_file_round_trip_0600_never_overwritten() {
        let t = tempfile::tempdir().unwrap();
        let k = Kek::generate();
        let p = write_kek(t.path(), &k).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read(&p).unwrap(), k.as_bytes());
        assert_eq!(read_kek(t.path()).unwrap().as_bytes(), k.as_bytes());
        assert!(matches!(
            write_kek(t.path(), &Kek::generate()),
            Err(KeyFileError::Exists { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_kek(t.path()),
            Err(KeyFileError::Unprotected { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, [1u8; 31]).unwrap();
        assert!(matches!(
            read_kek(t.path()),
            Err(KeyFileError::BadKek { .. })
        ));
        assert_ne!(format!("{k:?}"), format!("{:?}", k.as_bytes()));
    }

    #[test]
    fn passphrase_kit_round_trip_and_wrong_passphrase() {
        let k = Kek::generate();
        let pw = |s: &str| Passphrase::new(s.to_owned()).unwrap();
        let kit = recovery_kit(&k, &KitRecipient::Passphrase(pw("correct horse"))).unwrap();
        let back = open_kit(
            kit.as_bytes(),
            &KitIdentity::Passphrase(pw("correct horse")),
        )
        .unwrap();
        assert_eq!(back.as_bytes(), k.as_bytes());
        let err = open_kit(kit.as_bytes(), &KitIdentity::Passphrase(pw("wrong"))).unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");
        // Another identity does not open it either.
        let (other, _) = generate_recovery_identity();
        assert!(open_kit(kit.as_bytes(), &KitIdentity::Identity(other.to_string())).is_err());
        assert!(open_kit(b"junk", &KitIdentity::Passphrase(pw("x"))).is_err());
        assert!(recovery_kit(&k, &KitRecipient::Recipient("age1nope".into())).is_err());
    }
}
