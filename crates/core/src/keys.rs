//! Ed25519 keys: a signing key that zeroizes and never prints itself, and its encodings.
//!
//! * Private key: PKCS#8 **v1** PEM (`-----BEGIN PRIVATE KEY-----`, the 48-byte
//!   DER `302e020100300506032b657004220420 || seed`), which OpenSSL 1.1 and 3.x
//!   read; parsing also accepts v2 (with the public key, checked to match).
//! * Public key: SPKI PEM (`302a300506032b6570032100 || pk`), an OpenSSH line
//!   `ssh-ed25519 AAAA... comment`, a signed-note verifier key string, or hex.
//!   [`PublicKey::parse_any`] reads any of them.
//!
//! Secret bytes never appear in errors or `Debug`; intermediate buffers are zeroized.

use crate::ids::{PublicKey, SignatureBytes};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;
use zeroize::Zeroizing;

/// DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410); the 32-byte seed follows.
pub const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
pub const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The OpenSSH key type name for Ed25519.
pub const SSH_ED25519: &str = "ssh-ed25519";

/// Why a key could not be read. Never contains key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No PEM block where one was expected.
    #[error("not PEM: expected -----BEGIN {expected}-----")]
    NotPem {
        /// The label expected.
        expected: &'static str,
    },
    /// A PEM block with another label.
    #[error("PEM block is {found:?}, expected {expected:?}")]
    WrongPemLabel {
        /// The label expected.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// The PEM armour is broken (no END line, headers, text after the block).
    #[error("malformed PEM: {0}")]
    BadPem(&'static str),
    /// Invalid base64.
    #[error("invalid base64")]
    BadBase64,
    /// The DER is not an Ed25519 key of the expected form.
    #[error("not an Ed25519 {0}")]
    BadDer(&'static str),
    /// The OpenSSH public key line is malformed or not Ed25519.
    #[error("malformed OpenSSH public key: {0}")]
    BadOpenSsh(&'static str),
    /// 32 bytes that are not a valid Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    InvalidPoint,
    /// A signed-note verifier key string was malformed (the note module's reason).
    #[error("{0}")]
    NoteKey(String),
    /// The text is none of the supported public key forms.
    #[error("unrecognised public key: expected SPKI PEM, an ssh-ed25519 line, a note verifier key, or 64 hex digits")]
    Unrecognized,
}

/// An Ed25519 signing key. Zeroized on drop (ed25519-dalek's `zeroize`); `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the OS random source.
    pub fn generate() -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }
    /// A key from its 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }
    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }
    /// Signs `msg` (pure Ed25519, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> SignatureBytes {
        use ed25519_dalek::Signer;
        SignatureBytes(self.0.sign(msg).to_bytes())
    }
    /// The dalek key, for code that needs its API (PKCS#8, batch signing).
    pub fn dalek(&self) -> &ed25519_dalek::SigningKey {
        &self.0
    }
    /// The 32-byte seed (secret), in a buffer zeroized on drop.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
    /// PKCS#8 v1 DER: `302e020100300506032b657004220420 || seed` (48 bytes). Secret.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let seed = self.seed();
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PKCS8_V1_PREFIX);
        der.extend_from_slice(&seed[..]);
        der
    }
    /// PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`), readable by OpenSSL 1.1/3.x. Secret.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pem_encode("PRIVATE KEY", &self.to_pkcs8_der())
    }
    /// Reads PKCS#8 DER, v1 or v2 (a v2 public key must match the seed).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        ed25519_dalek::SigningKey::from_pkcs8_der(der)
            .map(SigningKey)
            .map_err(|_| KeyError::BadDer("PKCS#8 private key"))
    }
    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), v1 or v2.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let der = pem_decode(pem, "PRIVATE KEY")?;
        Self::from_pkcs8_der(&der)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey(public {}, private <redacted>)",
            self.public_key().to_hex()
        )
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key bytes are not a valid Ed25519 point.
    #[error("malformed public key")]
    BadKey,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    Invalid,
}

impl PublicKey {
    /// Checks that the bytes are a valid Ed25519 point (not that the key is strong).
    pub fn from_bytes_checked(bytes: [u8; 32]) -> Result<PublicKey, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPoint)?;
        Ok(PublicKey(bytes))
    }

    /// SubjectPublicKeyInfo DER: `302a300506032b6570032100 || pk` (44 bytes).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut der = Vec::with_capacity(44);
        der.extend_from_slice(&SPKI_PREFIX);
        der.extend_from_slice(&self.0);
        der
    }
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), for `openssl pkeyutl -verify -pubin`.
    pub fn to_spki_pem(&self) -> String {
        String::clone(&pem_encode("PUBLIC KEY", &self.to_spki_der()))
    }
    /// Reads SPKI DER (exactly the 44-byte Ed25519 form).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let key = der
            .strip_prefix(&SPKI_PREFIX[..])
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or(KeyError::BadDer("SubjectPublicKeyInfo"))?;
        Self::from_bytes_checked(key)
    }
    /// Reads an SPKI PEM public key.
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, KeyError> {
        Self::from_spki_der(&pem_decode(pem, "PUBLIC KEY")?)
    }

    /// The OpenSSH wire blob: `string "ssh-ed25519" || string pk`.
    pub fn to_ssh_blob(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(51);
        put_ssh_string(&mut b, SSH_ED25519.as_bytes());
        put_ssh_string(&mut b, &self.0);
        b
    }
    /// Reads an OpenSSH wire blob (`string "ssh-ed25519" || string pk`, nothing after).
    pub fn from_ssh_blob(blob: &[u8]) -> Result<PublicKey, KeyError> {
        let (kind, rest) =
            take_ssh_string(blob).ok_or(KeyError::BadOpenSsh("truncated key blob"))?;
        if kind != SSH_ED25519.as_bytes() {
            return Err(KeyError::BadOpenSsh("key type is not ssh-ed25519"));
        }
        let (key, rest) =
            take_ssh_string(rest).ok_or(KeyError::BadOpenSsh("truncated key blob"))?;
        if !rest.is_empty() {
            return Err(KeyError::BadOpenSsh("trailing bytes in key blob"));
        }
        let key =
            <[u8; 32]>::try_from(key).map_err(|_| KeyError::BadOpenSsh("key is not 32 bytes"))?;
        Self::from_bytes_checked(key)
    }
    /// An OpenSSH public key line: `ssh-ed25519 AAAA... comment` (no comment if empty).
    pub fn to_openssh(&self, comment: &str) -> String {
        let b64 = B64.encode(self.to_ssh_blob());
        let comment = comment.trim();
        if comment.is_empty() {
            format!("{SSH_ED25519} {b64}")
        } else {
            format!("{SSH_ED25519} {b64} {comment}")
        }
    }
    /// Reads an OpenSSH public key line `ssh-ed25519 <base64> [comment]`.
    pub fn from_openssh(line: &str) -> Result<PublicKey, KeyError> {
        let mut parts = line.split_whitespace();
        if parts.next() != Some(SSH_ED25519) {
            return Err(KeyError::BadOpenSsh("does not start with ssh-ed25519"));
        }
        let b64 = parts
            .next()
            .ok_or(KeyError::BadOpenSsh("missing base64 key"))?;
        let blob = B64.decode(b64).map_err(|_| KeyError::BadBase64)?;
        Self::from_ssh_blob(&blob)
    }

    /// Verifies an Ed25519 signature over `msg` (strict: rejects small-order keys and non-canonical S).
    pub fn verify(&self, msg: &[u8], sig: &SignatureBytes) -> Result<(), SignatureError> {
        let vk =
            ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::BadKey)?;
        vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
            .map_err(|_| SignatureError::Invalid)
    }
}

/// Appends an SSH `string`: u32 big-endian length, then the bytes.
pub(crate) fn put_ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // Everything we encode is far below 4 GiB; saturate rather than truncate.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Splits an SSH `string` off the front of `buf`.
pub(crate) fn take_ssh_string(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = buf.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// PEM armour, base64 wrapped at 64 columns. The result may hold a secret: zeroized.
fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(B64.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(
        b64.len() + b64.len() / 64 + 2 * label.len() + 40,
    ));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Reads one PEM block with the given label; nothing but whitespace around it.
fn pem_decode(text: &str, label: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut lines = text.trim().lines().map(str::trim);
    let first = lines.next().unwrap_or_default();
    let Some(found) = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
    else {
        return Err(KeyError::NotPem { expected: label });
    };
    if found != label {
        return Err(KeyError::WrongPemLabel {
            expected: label,
            found: found.chars().take(40).collect(),
        });
    }
    let end = format!("-----END {label}-----");
    let mut b64 = Zeroizing::new(String::with_capacity(text.len()));
    let mut ended = false;
    for line in lines.by_ref() {
        if line == end {
            ended = true;
            break;
        }
        if line.contains(':') {
            return Err(KeyError::BadPem("encrypted or with headers"));
        }
        b64.push_str(line);
    }
    if !ended {
        return Err(KeyError::BadPem("no END line"));
    }
    if lines.any(|l| !l.is_empty()) {
        return Err(KeyError::BadPem("text after the END line"));
    }
    B64.decode(b64.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| KeyError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_v1_layout_and_round_trip() {
        let k = SigningKey::from_seed(&[9; 32]);
        let der = k.to_pkcs8_der();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..16], &PKCS8_V1_PREFIX);
        let pem = k.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public_key(), k.public_key());
    }

    #[test]
    fn pkcs8_v2_from_dalek_is_read() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let k = SigningKey::from_seed(&[5; 32]);
        let v2 = k.dalek().to_pkcs8_der().unwrap();
        assert!(
            v2.as_bytes().len() > 48,
            "dalek emits v2 with the public key"
        );
        assert_eq!(
            SigningKey::from_pkcs8_der(v2.as_bytes())
                .unwrap()
                .public_key(),
            k.public_key()
        );
    }

    #[test]
    fn pem_errors() {
        let k = SigningKey::from_seed(&[9; 32]);
        let pub_pem = k.public_key().to_spki_pem();
        assert!(matches!(
            SigningKey::from_pkcs8_pem(&pub_pem),
            Err(KeyError::WrongPemLabel { .. })
        ));
        assert!(matches!(
            SigningKey::from_pkcs8_pem("hello"),
            Err(KeyError::NotPem { .. })
        ));
        let pem = k.to_pkcs8_pem();
        let cut = &pem[..pem.len() - 10];
        assert_eq!(
            SigningKey::from_pkcs8_pem(cut).err(),
            Some(KeyError::BadPem("no END line"))
        );
        let err = SigningKey::from_pkcs8_pem(&format!("{}junk\n", &*pem))
            .err()
            .unwrap();
        assert!(!format!("{err} {err:?}").contains(&B64.encode(&k.to_pkcs8_der()[..])));
    }

    #[test]
    fn public_forms_round_trip_through_parse_any() {
        let pk = SigningKey::from_seed(&[2; 32]).public_key();
        assert_eq!(PublicKey::from_spki_der(&pk.to_spki_der()).unwrap(), pk);
        for text in [
            pk.to_spki_pem(),
            pk.to_openssh("reports@practice"),
            pk.to_openssh(""),
            pk.to_note_vkey("example.com/log").unwrap(),
            pk.to_hex(),
        ] {
            assert_eq!(PublicKey::parse_any(&text).unwrap(), pk, "{text}");
        }
        assert_eq!(
            PublicKey::parse_any("nonsense"),
            Err(KeyError::Unrecognized)
        );
        assert!(PublicKey::from_openssh("ssh-rsa AAAA").is_err());
    }

    #[test]
    fn ssh_string_truncation_is_an_error() {
        assert!(take_ssh_string(&[0, 0, 0, 5, 1]).is_none());
        assert!(take_ssh_string(&[0, 0]).is_none());
    }

    #[test]
    fn sign_verify_and_reject_flip() {
        let k = SigningKey::from_seed(&[1; 32]);
        let sig = k.sign(b"hello");
        assert!(k.public_key().verify(b"hello", &sig).is_ok());
        assert_eq!(
            k.public_key().verify(b"hellp", &sig),
            Err(SignatureError::Invalid)
        );
        assert!(!format!("{k:?}").contains(&hex::encode([1u8; 32])));
    }
}
