//! SSHSIG detached signatures (OpenSSH `PROTOCOL.sshsig`) with Ed25519 keys,
//! checkable with `ssh-keygen -Y verify`.
//!
//! The armoured signature is `-----BEGIN SSH SIGNATURE-----`, base64 wrapped at
//! 70 columns, `-----END SSH SIGNATURE-----`, over the blob
//! `"SSHSIG" || u32 1 || string pubkey || string namespace || string reserved ||
//! string hash_alg || string signature`. The Ed25519 signature covers
//! `"SSHSIG" || string namespace || string reserved || string hash_alg || string H(message)`.
//! We sign with SHA-512; we verify SHA-512 and SHA-256.
//!
//! ```
//! use caseledger_core::keys::SigningKey;
//! use caseledger_core::sshsig::{sign, verify, REPORT_NAMESPACE};
//! let key = SigningKey::from_seed(&[4; 32]);
//! let armored = sign(&key, REPORT_NAMESPACE, b"report").unwrap();
//! assert_eq!(verify(&armored, REPORT_NAMESPACE, b"report").unwrap(), key.public_key());
//! assert!(verify(&armored, REPORT_NAMESPACE, b"tampered").is_err());
//! ```

use crate::ids::{PublicKey, SignatureBytes};
use crate::keys::{put_ssh_string, take_ssh_string, SigningKey, SSH_ED25519};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

/// The namespace caseledger's retention reports are signed in.
pub const REPORT_NAMESPACE: &str = "caseledger-report";

const MAGIC: &[u8; 6] = b"SSHSIG";
const VERSION: u32 = 1;
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
const WRAP: usize = 70;

/// Why an SSH signature could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshSigError {
    /// The namespace is empty (ssh-keygen requires one).
    #[error("SSHSIG namespace must not be empty")]
    EmptyNamespace,
    /// An allowed_signers identity or namespace has characters that would break the line.
    #[error("invalid allowed_signers {0}: must be non-empty, no whitespace, quotes or commas")]
    BadAllowedSignersField(&'static str),
    /// Missing or broken `-----BEGIN/END SSH SIGNATURE-----` armour.
    #[error("not an armoured SSH signature")]
    NotArmored,
    /// Invalid base64 inside the armour.
    #[error("invalid base64 in SSH signature")]
    BadBase64,
    /// The signature blob is malformed.
    #[error("malformed SSH signature: {0}")]
    Malformed(&'static str),
    /// An SSHSIG version other than 1.
    #[error("unsupported SSHSIG version {0}")]
    UnsupportedVersion(u32),
    /// A key or signature type other than ssh-ed25519.
    #[error("unsupported SSH signature key type (only ssh-ed25519)")]
    UnsupportedKeyType,
    /// A hash algorithm other than sha512 or sha256.
    #[error("unsupported SSHSIG hash algorithm")]
    UnsupportedHash,
    /// The signature was made for another namespace.
    #[error("SSH signature namespace is {found:?}, expected {expected:?}")]
    NamespaceMismatch {
        /// The namespace asked for.
        expected: String,
        /// The namespace in the signature (truncated to 64 characters).
        found: String,
    },
    /// The signature does not verify over the message.
    #[error("SSH signature does not verify")]
    InvalidSignature,
}

fn signed_data(namespace: &[u8], reserved: &[u8], hash_alg: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(
        6 + 16 + namespace.len() + reserved.len() + hash_alg.len() + digest.len(),
    );
    d.extend_from_slice(MAGIC);
    put_ssh_string(&mut d, namespace);
    put_ssh_string(&mut d, reserved);
    put_ssh_string(&mut d, hash_alg);
    put_ssh_string(&mut d, digest);
    d
}

/// What the Ed25519 key signs for an SSHSIG over `message` in `namespace` with SHA-512:
/// `"SSHSIG" || string namespace || string "" || string "sha512" || string SHA-512(message)`.
/// Author signatures made through ssh-agent are checked against this (docs/FORMAT.md §3).
pub fn signed_data_sha512(namespace: &str, message: &[u8]) -> Vec<u8> {
    signed_data(
        namespace.as_bytes(),
        b"",
        b"sha512",
        &Sha512::digest(message),
    )
}

/// Signs `message` in `namespace` (e.g. [`REPORT_NAMESPACE`]) with SHA-512;
/// returns the armoured signature, ending with a newline, as `ssh-keygen -Y sign` writes it.
pub fn sign(key: &SigningKey, namespace: &str, message: &[u8]) -> Result<String, SshSigError> {
    let sig = key.sign(&to_be_signed(namespace, message)?);
    Ok(armor(&key.public_key(), namespace, &sig))
}

/// The bytes an Ed25519 key signs for an SSHSIG over `message` in `namespace` (SHA-512).
/// For signers that hold the key elsewhere (ssh-agent): sign these, then [`armor`].
pub fn to_be_signed(namespace: &str, message: &[u8]) -> Result<Vec<u8>, SshSigError> {
    if namespace.is_empty() {
        return Err(SshSigError::EmptyNamespace);
    }
    Ok(signed_data_sha512(namespace, message))
}

/// The armoured SSHSIG from the signer's key and its Ed25519 signature over
/// [`to_be_signed`]`(namespace, message)`. Does not check the signature.
pub fn armor(key: &PublicKey, namespace: &str, sig: &SignatureBytes) -> String {
    let mut sig_blob = Vec::with_capacity(83);
    put_ssh_string(&mut sig_blob, SSH_ED25519.as_bytes());
    put_ssh_string(&mut sig_blob, &sig.0);

    let mut blob = Vec::with_capacity(200);
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&VERSION.to_be_bytes());
    put_ssh_string(&mut blob, &key.to_ssh_blob());
    put_ssh_string(&mut blob, namespace.as_bytes());
    put_ssh_string(&mut blob, b"");
    put_ssh_string(&mut blob, b"sha512");
    put_ssh_string(&mut blob, &sig_blob);

    let b64 = B64.encode(&blob);
    let mut out = String::with_capacity(b64.len() + b64.len() / WRAP + 64);
    out.push_str(BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(WRAP) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn dearmor(armored: &str) -> Result<Vec<u8>, SshSigError> {
    let mut lines = armored.trim().lines().map(str::trim);
    if lines.next() != Some(BEGIN) {
        return Err(SshSigError::NotArmored);
    }
    let mut b64 = String::with_capacity(armored.len());
    let mut ended = false;
    for line in lines.by_ref() {
        if line == END {
            ended = true;
            break;
        }
        b64.push_str(line);
    }
    if !ended || lines.any(|l| !l.is_empty()) {
        return Err(SshSigError::NotArmored);
    }
    B64.decode(b64).map_err(|_| SshSigError::BadBase64)
}

fn take<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], SshSigError> {
    let (s, rest) = take_ssh_string(buf).ok_or(SshSigError::Malformed(what))?;
    *buf = rest;
    Ok(s)
}

/// The fields of an SSHSIG blob (the signature checked by nobody yet).
struct Parsed {
    key: PublicKey,
    namespace: Vec<u8>,
    reserved: Vec<u8>,
    hash_alg: Vec<u8>,
    sig: SignatureBytes,
}

fn parse(armored: &str, namespace: &str) -> Result<Parsed, SshSigError> {
    let blob = dearmor(armored)?;
    let mut buf = blob
        .strip_prefix(&MAGIC[..])
        .ok_or(SshSigError::Malformed("missing SSHSIG preamble"))?;
    let (version, rest) = buf
        .split_first_chunk::<4>()
        .ok_or(SshSigError::Malformed("truncated version"))?;
    buf = rest;
    let version = u32::from_be_bytes(*version);
    if version != VERSION {
        return Err(SshSigError::UnsupportedVersion(version));
    }
    let pubkey = take(&mut buf, "truncated public key")?;
    let ns = take(&mut buf, "truncated namespace")?;
    let reserved = take(&mut buf, "truncated reserved field")?;
    let hash_alg = take(&mut buf, "truncated hash algorithm")?;
    let mut sig_blob = take(&mut buf, "truncated signature")?;
    if !buf.is_empty() {
        return Err(SshSigError::Malformed("trailing bytes"));
    }

    let key = PublicKey::from_ssh_blob(pubkey).map_err(|_| SshSigError::UnsupportedKeyType)?;
    if ns != namespace.as_bytes() {
        return Err(SshSigError::NamespaceMismatch {
            expected: namespace.to_owned(),
            found: String::from_utf8_lossy(ns).chars().take(64).collect(),
        });
    }
    if !matches!(hash_alg, b"sha512" | b"sha256") {
        return Err(SshSigError::UnsupportedHash);
    }
    let sig_type = take(&mut sig_blob, "truncated signature type")?;
    if sig_type != SSH_ED25519.as_bytes() {
        return Err(SshSigError::UnsupportedKeyType);
    }
    let sig = take(&mut sig_blob, "truncated signature bytes")?;
    if !sig_blob.is_empty() {
        return Err(SshSigError::Malformed("trailing bytes in signature"));
    }
    let sig: [u8; 64] = sig
        .try_into()
        .map_err(|_| SshSigError::Malformed("Ed25519 signature is not 64 bytes"))?;
    Ok(Parsed {
        key,
        namespace: ns.to_vec(),
        reserved: reserved.to_vec(),
        hash_alg: hash_alg.to_vec(),
        sig: SignatureBytes(sig),
    })
}

/// Verifies an armoured SSHSIG over `message` in `namespace`; returns the signer's key.
///
/// This checks the signature only: the caller decides whether the returned key
/// is trusted (as `ssh-keygen -Y verify` does with its allowed_signers file).
pub fn verify(armored: &str, namespace: &str, message: &[u8]) -> Result<PublicKey, SshSigError> {
    let p = parse(armored, namespace)?;
    let digest = match p.hash_alg.as_slice() {
        b"sha512" => Sha512::digest(message).to_vec(),
        _ => Sha256::digest(message).to_vec(),
    };
    p.key
        .verify(
            &signed_data(&p.namespace, &p.reserved, &p.hash_alg, &digest),
            &p.sig,
        )
        .map_err(|_| SshSigError::InvalidSignature)?;
    Ok(p.key)
}

/// The signer's key and the raw Ed25519 signature of an armoured SSHSIG made in `namespace`
/// with SHA-512 and no reserved data (what `ssh-keygen -Y sign` writes): an author signature
/// made elsewhere, stored as `AuthorSignature::SshSig` (docs/FORMAT.md §3). Nothing is
/// verified here; the store checks the signature against the enrolled key.
pub fn detached_sha512(
    armored: &str,
    namespace: &str,
) -> Result<(PublicKey, SignatureBytes), SshSigError> {
    let p = parse(armored, namespace)?;
    // The stored form keeps only the 64 signature bytes: it can express SHA-512 and an
    // empty reserved field only.
    if p.hash_alg != b"sha512" {
        return Err(SshSigError::UnsupportedHash);
    }
    if !p.reserved.is_empty() {
        return Err(SshSigError::Malformed("reserved field is not empty"));
    }
    Ok((p.key, p.sig))
}

fn plain_field(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | ','))
}

/// One line of an OpenSSH allowed_signers file (for `ssh-keygen -Y verify -f`):
/// `<identity> namespaces="<namespace>" ssh-ed25519 AAAA...`, with its final newline.
pub fn allowed_signers_line(
    identity: &str,
    key: &PublicKey,
    namespace: &str,
) -> Result<String, SshSigError> {
    if !plain_field(identity) {
        return Err(SshSigError::BadAllowedSignersField("identity"));
    }
    if !plain_field(namespace) {
        return Err(SshSigError::BadAllowedSignersField("namespace"));
    }
    Ok(format!(
        "{identity} namespaces=\"{namespace}\" {}\n",
        key.to_openssh("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[6; 32])
    }

    #[test]
    fn round_trip_and_armor_shape() {
        let a = sign(&key(), REPORT_NAMESPACE, b"msg").unwrap();
        assert!(a.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
        assert!(a.ends_with("-----END SSH SIGNATURE-----\n"));
        assert!(a.lines().all(|l| l.len() <= 70));
        assert_eq!(verify(&a, REPORT_NAMESPACE, b"msg"), Ok(key().public_key()));
    }

    #[test]
    fn rejections() {
        let a = sign(&key(), REPORT_NAMESPACE, b"msg").unwrap();
        assert_eq!(
            verify(&a, REPORT_NAMESPACE, b"msh"),
            Err(SshSigError::InvalidSignature)
        );
        assert!(matches!(
            verify(&a, "file", b"msg"),
            Err(SshSigError::NamespaceMismatch { .. })
        ));
        assert_eq!(
            verify("junk", REPORT_NAMESPACE, b"msg"),
            Err(SshSigError::NotArmored)
        );
        assert_eq!(sign(&key(), "", b"msg"), Err(SshSigError::EmptyNamespace));
        // Flip a bit inside the signature bytes (the last ones of the blob).
        let mut blob = dearmor(&a).unwrap();
        let n = blob.len();
        blob[n - 5] ^= 1;
        let b64 = B64.encode(&blob);
        let bad = format!("{BEGIN}\n{b64}\n{END}\n");
        assert_eq!(
            verify(&bad, REPORT_NAMESPACE, b"msg"),
            Err(SshSigError::InvalidSignature)
        );
        // Truncated blob.
        let short = format!("{BEGIN}\n{}\n{END}\n", B64.encode(&blob[..n - 10]));
        assert!(matches!(
            verify(&short, REPORT_NAMESPACE, b"msg"),
            Err(SshSigError::Malformed(_))
        ));
    }

    #[test]
    fn detached_sha512_gives_the_raw_signature_over_the_signed_data() {
        let k = key();
        let a = sign(&k, "caseledger-event", b"m").unwrap();
        let (pk, sig) = detached_sha512(&a, "caseledger-event").unwrap();
        assert_eq!(pk, k.public_key());
        assert!(k
            .public_key()
            .verify(&signed_data_sha512("caseledger-event", b"m"), &sig)
            .is_ok());
        assert!(matches!(
            detached_sha512(&a, REPORT_NAMESPACE),
            Err(SshSigError::NamespaceMismatch { .. })
        ));
        assert_eq!(
            detached_sha512("junk", "caseledger-event"),
            Err(SshSigError::NotArmored)
        );
    }

    #[test]
    fn allowed_signers() {
        let pk = key().public_key();
        let l = allowed_signers_line("reports@practice", &pk, REPORT_NAMESPACE).unwrap();
        assert!(l.starts_with("reports@practice namespaces=\"caseledger-report\" ssh-ed25519 AAAA"));
        assert!(allowed_signers_line("two words", &pk, REPORT_NAMESPACE).is_err());
        assert!(allowed_signers_line("x", &pk, "a\"b").is_err());
    }
}
