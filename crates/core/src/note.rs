//! C2SP signed notes (<https://c2sp.org/signed-note>), compatible with Go's
//! `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is some UTF-8 text ending in a newline, a blank line, and
//! 1..=100 signature lines `— <key name> <base64(key id || signature)>\n`
//! (the dash is U+2014). Keys are Ed25519 ([`ALG_ED25519`]); witness
//! cosignatures ([`ALG_COSIGNATURE_V1`], see [`crate::checkpoint`]) appear as
//! ordinary signature lines and are verified by a [`NoteVerifier`] of that type.
//!
//! * Verifier key string: `name+hex8+base64(alg || pubkey)`.
//! * Signer key string (Go's format, secret): `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`.
//! * Key id: `SHA-256(name || 0x0A || alg || pubkey)[:4]`, big-endian.
//!
//! ```
//! use caseledger_core::keys::SigningKey;
//! use caseledger_core::note::{open, NoteSigner};
//! let signer = NoteSigner::new("example.com/log", SigningKey::from_seed(&[7; 32])).unwrap();
//! let note = signer.sign("hello\n").unwrap();
//! let opened = open(note.as_bytes(), &[signer.verifier()]).unwrap();
//! assert_eq!(opened.note.text(), "hello\n");
//! assert_eq!(opened.verified[0].name, "example.com/log");
//! ```

use crate::ids::{PublicKey, SignatureBytes};
use crate::keys::{KeyError, SigningKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Signature type byte of a plain Ed25519 note key.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type byte of a C2SP `tlog-cosignature` Ed25519 `cosignature/v1` key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The most signature lines a note may carry (Go's limit).
pub const MAX_SIGNATURES: usize = 100;
/// The prefix of every signature line: an em dash (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note, a signature line or a key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is not valid UTF-8.
    #[error("malformed note: not valid UTF-8")]
    InvalidUtf8,
    /// The note has an ASCII control character other than newline.
    #[error("malformed note: control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
    },
    /// The text to sign is empty or does not end with a newline.
    #[error("malformed note: text must be non-empty and end with a newline")]
    BadText,
    /// There is no blank line separating text and signatures.
    #[error("malformed note: no blank line before a signature block")]
    MissingSignatureBlock,
    /// The blank line is followed by nothing.
    #[error("malformed note: the signature block is empty")]
    NoSignatures,
    /// The last signature line has no final newline.
    #[error("malformed note: the last line does not end with a newline")]
    MissingFinalNewline,
    /// A line of the signature block does not start with `— `.
    #[error("malformed note: line {line} is not a signature line")]
    NotASignatureLine {
        /// 1-based line number in the whole note.
        line: usize,
    },
    /// A signature line's key name is empty or has whitespace or `+`.
    #[error("malformed note: line {line} has an invalid key name")]
    BadKeyName {
        /// 1-based line number in the whole note.
        line: usize,
    },
    /// A signature line's base64 is missing, invalid, or shorter than 5 bytes.
    #[error("malformed note: line {line} has a malformed signature")]
    MalformedSignature {
        /// 1-based line number in the whole note.
        line: usize,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("malformed note: more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature from a known key (by name and key id) does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// No signature on the note is from a known key.
    #[error("note has no verifiable signature from a known key")]
    NoVerifiedSignature,
    /// A key name given to a signer or verifier is invalid.
    #[error(
        "invalid key name {0:?}: must be non-empty, with no whitespace, '+' or control characters"
    )]
    InvalidName(String),
    /// A verifier key string is malformed.
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(&'static str),
    /// A signer key string is malformed (its content is never shown).
    #[error("malformed signer key: {0}")]
    BadSignerKey(&'static str),
    /// The key type byte is not one this implementation supports.
    #[error("unsupported key type 0x{0:02x}")]
    UnsupportedAlgorithm(u8),
    /// The key id written in a key string is not the one computed from the key.
    #[error("key id in key string does not match the key")]
    KeyIdMismatch,
    /// A signature line to append is not exactly one well-formed line.
    #[error("not a single signature line")]
    BadSignatureLine,
}

/// `SHA-256(name || 0x0A || alg || pubkey)[:4]` as a big-endian integer.
pub fn key_id(name: &str, alg: u8, key: &PublicKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(key.0);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A valid key name: non-empty, no Unicode whitespace, no `+`, no control characters.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The message a `cosignature/v1` signs: `cosignature/v1\ntime <t>\n` followed by the note text.
pub fn cosignature_message(text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// Checks the whole message: UTF-8, no control characters other than newline.
fn check_chars(msg: &[u8]) -> Result<&str, NoteError> {
    let s = std::str::from_utf8(msg).map_err(|_| NoteError::InvalidUtf8)?;
    // In valid UTF-8 every byte below 0x80 is its own character.
    if let Some(offset) = msg.iter().position(|&b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter { offset });
    }
    Ok(s)
}

fn check_text(text: &str) -> Result<(), NoteError> {
    check_chars(text.as_bytes())?;
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

/// One signature line of a note, as parsed (not yet verified).
#[derive(Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id (first 4 bytes of the decoded signature, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key id (64 for Ed25519, 72 for a cosignature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its final newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSignature({}+{:08x})", self.name, self.key_id)
    }
}

/// A signature that verified under a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The key type: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    pub algorithm: u8,
    /// The public key that verified it.
    pub public_key: PublicKey,
    /// For a cosignature, the witness's timestamp (seconds since the epoch).
    pub timestamp: Option<u64>,
}

/// A parsed signed note: its text and its signature lines, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// The result of verifying a note's signatures against known keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Signatures from known keys that verified (each key once, in note order).
    pub verified: Vec<VerifiedSignature>,
    /// Signatures from unknown keys: kept, not trusted (duplicates dropped).
    pub unverified: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly (Go's `note.Open` rules), without verifying anything.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        let s = check_chars(msg)?;
        let split = s.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let text = s.get(..split + 1).ok_or(NoteError::MissingSignatureBlock)?;
        let block = s.get(split + 2..).ok_or(NoteError::MissingSignatureBlock)?;
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let Some(block) = block.strip_suffix('\n') else {
            return Err(NoteError::MissingFinalNewline);
        };
        // Line numbers: the text's lines, the blank line, then the signatures.
        let first_line = text.matches('\n').count() + 2;
        let mut signatures = Vec::new();
        for (i, line) in block.split('\n').enumerate() {
            let line_no = first_line + i;
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(NoteError::NotASignatureLine { line: line_no })?;
            // Base64 never contains a space, so the key name is all before the last one.
            let (name, b64) = rest
                .rsplit_once(' ')
                .ok_or(NoteError::MalformedSignature { line: line_no })?;
            if !is_valid_key_name(name) {
                return Err(NoteError::BadKeyName { line: line_no });
            }
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::MalformedSignature { line: line_no })?;
            let (id, sig) = match raw.split_first_chunk::<4>() {
                Some((id, sig)) if !sig.is_empty() => (*id, sig),
                _ => return Err(NoteError::MalformedSignature { line: line_no }),
            };
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes(id),
                signature: sig.to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text (ends with a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signature lines, in order, verified or not.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Verifies every signature whose name and key id match a known verifier.
    ///
    /// A matching signature that does not verify is an error; signatures from
    /// unknown keys are returned as unverified. Does not require any signature
    /// to verify (see [`open`] for that).
    pub fn verify(&self, known: &[NoteVerifier]) -> Result<Verification, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        let mut unverified: Vec<NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let Some(v) = known
                .iter()
                .find(|v| v.name == sig.name && v.key_id == sig.key_id)
            else {
                if !unverified.contains(sig) {
                    unverified.push(sig.clone());
                }
                continue;
            };
            let timestamp = v.verify(&self.text, &sig.signature)?;
            if !verified
                .iter()
                .any(|s| s.name == sig.name && s.key_id == sig.key_id)
            {
                verified.push(VerifiedSignature {
                    name: v.name.clone(),
                    key_id: v.key_id,
                    algorithm: v.algorithm,
                    public_key: v.key,
                    timestamp,
                });
            }
        }
        Ok(Verification {
            verified,
            unverified,
        })
    }
}

impl fmt::Display for Note {
    /// The note in its wire form: text, blank line, signature lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.to_line())?;
        }
        Ok(())
    }
}

/// A note opened with [`open`]: at least one signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The parsed note.
    pub note: Note,
    /// Signatures from known keys that verified.
    pub verified: Vec<VerifiedSignature>,
    /// Signatures from unknown keys (kept, not trusted).
    pub unverified: Vec<NoteSignature>,
}

/// Parses and verifies a signed note (Go's `note.Open`).
///
/// Errors if the note is malformed, if a signature from a known key fails,
/// or if no signature is from a known key ([`NoteError::NoVerifiedSignature`]).
pub fn open(msg: &[u8], known: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    let note = Note::parse(msg)?;
    let Verification {
        verified,
        unverified,
    } = note.verify(known)?;
    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok(OpenedNote {
        note,
        verified,
        unverified,
    })
}

/// Appends one signature line (with its final newline) to a signed note,
/// checking that the result is still a well-formed note (at most 100 signatures).
/// An identical line already present is not added twice.
pub fn append_signature_line(note: &str, line: &str) -> Result<String, NoteError> {
    let body = line.strip_suffix('\n').ok_or(NoteError::BadSignatureLine)?;
    if body.contains('\n') || !body.starts_with(SIGNATURE_PREFIX) {
        return Err(NoteError::BadSignatureLine);
    }
    let parsed = Note::parse(note.as_bytes())?;
    if parsed.signatures.iter().any(|s| s.to_line() == line) {
        return Ok(note.to_owned());
    }
    let out = format!("{note}{line}");
    Note::parse(out.as_bytes())?;
    Ok(out)
}

/// A public key that checks note signatures: a name, a key type and an Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    algorithm: u8,
    key: PublicKey,
}

impl NoteVerifier {
    /// An Ed25519 ([`ALG_ED25519`]) verifier.
    pub fn new(name: &str, key: PublicKey) -> Result<NoteVerifier, NoteError> {
        Self::with_algorithm(name, ALG_ED25519, key)
    }

    /// A verifier of the given key type ([`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`]).
    pub fn with_algorithm(
        name: &str,
        algorithm: u8,
        key: PublicKey,
    ) -> Result<NoteVerifier, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        if algorithm != ALG_ED25519 && algorithm != ALG_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedAlgorithm(algorithm));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, algorithm, &key),
            algorithm,
            key,
        })
    }

    /// Parses a verifier key string `name+hex8+base64(alg || pubkey)`.
    ///
    /// Errors never quote the input: callers pass whatever text a user gave, which may be a
    /// private key file by mistake.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let vkey = vkey.trim();
        if vkey.starts_with("-----BEGIN") {
            return Err(NoteError::BadVerifierKey(
                "this is a PEM key, not a verifier key (name+hex8+base64)",
            ));
        }
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::BadVerifierKey("missing '+'"))?;
        let (hex8, b64) = rest
            .split_once('+')
            .ok_or(NoteError::BadVerifierKey("missing '+'"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::BadVerifierKey("invalid key name"));
        }
        let id = parse_hex8(hex8).ok_or(NoteError::BadVerifierKey("key id is not 8 hex digits"))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::BadVerifierKey("bad base64"))?;
        let (&alg, key) = raw
            .split_first()
            .ok_or(NoteError::BadVerifierKey("empty key"))?;
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("Ed25519 key must be 32 bytes"))?;
        let v = Self::with_algorithm(name, alg, PublicKey(key))?;
        if v.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(v)
    }

    /// The key string `name+hex8+base64(alg || pubkey)`.
    pub fn to_vkey_string(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.algorithm);
        raw.extend_from_slice(&self.key.0);
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    /// The key type byte.
    pub fn algorithm(&self) -> u8 {
        self.algorithm
    }
    /// The Ed25519 public key.
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// Verifies `sig` (the bytes after the key id) over the note `text`.
    /// Returns the timestamp for a cosignature, `None` for a plain signature.
    pub fn verify(&self, text: &str, sig: &[u8]) -> Result<Option<u64>, NoteError> {
        let bad = || NoteError::InvalidSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        match self.algorithm {
            ALG_COSIGNATURE_V1 => {
                let (ts, sig) = sig.split_first_chunk::<8>().ok_or_else(bad)?;
                let sig: [u8; 64] = sig.try_into().map_err(|_| bad())?;
                let ts = u64::from_be_bytes(*ts);
                self.key
                    .verify(&cosignature_message(text, ts), &SignatureBytes(sig))
                    .map_err(|_| bad())?;
                Ok(Some(ts))
            }
            _ => {
                let sig: [u8; 64] = sig.try_into().map_err(|_| bad())?;
                self.key
                    .verify(text.as_bytes(), &SignatureBytes(sig))
                    .map_err(|_| bad())?;
                Ok(None)
            }
        }
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey_string())
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.to_vkey_string())
    }
}

impl std::str::FromStr for NoteVerifier {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::parse(s)
    }
}

fn parse_hex8(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// An Ed25519 note signer: a key name and a signing key. `Debug` never shows the key.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer named `name` (a valid key name, e.g. the log origin).
    pub fn new(name: &str, key: SigningKey) -> Result<NoteSigner, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        let key_id = key_id(name, ALG_ED25519, &key.public_key());
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses Go's signer key string `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`.
    pub fn parse(skey: &str) -> Result<NoteSigner, NoteError> {
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadSignerKey("missing PRIVATE+KEY+ prefix"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(NoteError::BadSignerKey("missing '+'"))?;
        let (hex8, b64) = rest
            .split_once('+')
            .ok_or(NoteError::BadSignerKey("missing '+'"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        let id = parse_hex8(hex8).ok_or(NoteError::BadSignerKey("key id is not 8 hex digits"))?;
        let raw = Zeroizing::new(
            B64.decode(b64)
                .map_err(|_| NoteError::BadSignerKey("bad base64"))?,
        );
        let (&alg, seed) = raw
            .split_first()
            .ok_or(NoteError::BadSignerKey("empty key"))?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let mut seed_arr = Zeroizing::new([0u8; 32]);
        if seed.len() != 32 {
            return Err(NoteError::BadSignerKey("Ed25519 seed must be 32 bytes"));
        }
        seed_arr.copy_from_slice(seed);
        let signer = Self::new(name, SigningKey::from_seed(&seed_arr))?;
        if signer.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// Go's signer key string `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`. Secret: never log it.
    pub fn to_signer_key_string(&self) -> Zeroizing<String> {
        let seed = self.key.seed();
        let mut raw = Zeroizing::new(Vec::with_capacity(33));
        raw.push(ALG_ED25519);
        raw.extend_from_slice(&seed[..]);
        let b64 = Zeroizing::new(B64.encode(&raw[..]));
        let mut out = Zeroizing::new(String::with_capacity(self.name.len() + 22 + b64.len()));
        out.push_str("PRIVATE+KEY+");
        out.push_str(&self.name);
        out.push_str(&format!("+{:08x}+", self.key_id));
        out.push_str(&b64);
        out
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            algorithm: ALG_ED25519,
            key: self.key.public_key(),
        }
    }

    /// The signature line (with its final newline) for `text`. Does not validate `text`.
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: sig.0.to_vec(),
        }
        .to_line()
    }

    /// Signs `text` (non-empty, ending in a newline, no control characters):
    /// returns the signed note `text || "\n" || signature line`.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NoteSigner({}+{:08x}, private <redacted>)",
            self.name, self.key_id
        )
    }
}

// The public-key text forms that need this module live here, not in `keys`, so that `keys`
// does not depend on `note` (which depends on `keys`).
impl PublicKey {
    /// A signed-note verifier key string `name+hex8+base64(0x01 || pk)`.
    pub fn to_note_vkey(&self, name: &str) -> Result<String, KeyError> {
        NoteVerifier::new(name, *self)
            .map(|v| v.to_vkey_string())
            .map_err(|e| KeyError::NoteKey(e.to_string()))
    }

    /// Reads a public key in any supported form: SPKI PEM, an OpenSSH line,
    /// a signed-note verifier key string (Ed25519 or cosignature), or 64 hex digits.
    pub fn parse_any(text: &str) -> Result<PublicKey, KeyError> {
        let t = text.trim();
        if t.starts_with("-----BEGIN ") {
            return Self::from_spki_pem(t);
        }
        if t.starts_with("ssh-") {
            return Self::from_openssh(t);
        }
        if t.contains('+') && !t.contains(char::is_whitespace) {
            let v = NoteVerifier::parse(t).map_err(|e| KeyError::NoteKey(e.to_string()))?;
            return Self::from_bytes_checked(v.public_key().0);
        }
        if t.len() == 64 {
            if let Ok(k) = PublicKey::from_hex(t) {
                return Self::from_bytes_checked(k.0);
            }
        }
        Err(KeyError::Unrecognized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_key_errors_never_quote_the_input() {
        // A private key passed by mistake: its base64 may contain '+', so it used to be
        // split into a "name" that the error then quoted.
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGx9OC8e+vaNKcZZ\n-----END PRIVATE KEY-----\n";
        for text in [pem, "secret name+01234567+AAAA", "a\nb+01234567+AAAA"] {
            let e = NoteVerifier::parse(text).unwrap_err().to_string();
            assert!(
                !e.contains("MC4C") && !e.contains("secret") && !e.contains('\n'),
                "{e}"
            );
        }
    }

    fn signer() -> NoteSigner {
        NoteSigner::new("example.com/log", SigningKey::from_seed(&[3; 32])).unwrap()
    }

    #[test]
    fn sign_open_round_trip() {
        let s = signer();
        let note = s.sign("a\nb\n").unwrap();
        let o = open(note.as_bytes(), &[s.verifier()]).unwrap();
        assert_eq!(o.note.text(), "a\nb\n");
        assert_eq!(o.note.to_string(), note);
        assert_eq!(o.verified.len(), 1);
        assert!(o.unverified.is_empty());
    }

    #[test]
    fn vkey_and_skey_round_trip() {
        let s = signer();
        let v = s.verifier();
        assert_eq!(NoteVerifier::parse(&v.to_vkey_string()).unwrap(), v);
        let s2 = NoteSigner::parse(&s.to_signer_key_string()).unwrap();
        assert_eq!(s2.verifier(), v);
        assert!(!format!("{s:?}").contains("PRIVATE"));
    }

    #[test]
    fn vkey_rejects_bad_id_and_name() {
        let v = signer().verifier().to_vkey_string();
        let (name, rest) = v.split_once('+').unwrap();
        let (_, b64) = rest.split_once('+').unwrap();
        assert_eq!(
            NoteVerifier::parse(&format!("{name}+00000000+{b64}")),
            Err(NoteError::KeyIdMismatch)
        );
        assert_eq!(
            NoteVerifier::parse(&format!("a b+{rest}")),
            Err(NoteError::BadVerifierKey("invalid key name"))
        );
        assert!(matches!(
            NoteVerifier::parse("x+0000"),
            Err(NoteError::BadVerifierKey(_))
        ));
    }

    #[test]
    fn unknown_signatures_are_kept_and_bad_known_fails() {
        let s = signer();
        let other = NoteSigner::new("other", SigningKey::from_seed(&[4; 32])).unwrap();
        let note = s.sign("t\n").unwrap();
        let note = append_signature_line(&note, &other.signature_line("t\n")).unwrap();
        let o = open(note.as_bytes(), &[s.verifier()]).unwrap();
        assert_eq!(o.unverified.len(), 1);
        assert_eq!(
            open(note.as_bytes(), &[]),
            Err(NoteError::NoVerifiedSignature)
        );
        // A known key whose signature is over other text.
        let forged = format!("t\n\n{}", s.signature_line("u\n"));
        assert!(matches!(
            open(forged.as_bytes(), &[s.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn sign_rejects_bad_text() {
        let s = signer();
        assert_eq!(s.sign(""), Err(NoteError::BadText));
        assert_eq!(s.sign("no newline"), Err(NoteError::BadText));
        assert_eq!(
            s.sign("a\x07\n"),
            Err(NoteError::ControlCharacter { offset: 1 })
        );
        assert!(NoteSigner::new("a+b", SigningKey::from_seed(&[1; 32])).is_err());
    }

    #[test]
    fn append_rejects_junk_lines() {
        let s = signer();
        let note = s.sign("t\n").unwrap();
        assert_eq!(
            append_signature_line(&note, "junk\n"),
            Err(NoteError::BadSignatureLine)
        );
        assert_eq!(
            append_signature_line(&note, &s.signature_line("t\n")).unwrap(),
            note
        );
    }
}
