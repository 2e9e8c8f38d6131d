//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>) and witness
//! cosignatures (<https://c2sp.org/tlog-cosignature>, Ed25519 `cosignature/v1`).
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n` followed by optional
//! extension lines; it is the text of a signed note (see [`crate::note`]) signed
//! by the ledger key. A witness cosigns the body with key type `0x04`: it signs
//! `cosignature/v1\ntime <t>\n<body>` and the note signature line carries
//! `key id (4) || t (8, big-endian) || signature (64)`.
//!
//! ```
//! use caseledger_core::checkpoint::*;
//! use caseledger_core::Hash;
//! use caseledger_core::keys::SigningKey;
//! use caseledger_core::note::NoteSigner;
//! let log = NoteSigner::new("example.com/ledger", SigningKey::from_seed(&[1; 32])).unwrap();
//! let cp = Checkpoint::new("example.com/ledger", 3, Hash([0; 32])).unwrap();
//! let note = sign_checkpoint(&cp, &log);
//! let witness_key = SigningKey::from_seed(&[2; 32]);
//! let line = cosign(&cp, "witness.example", &witness_key, 1_700_000_000).unwrap();
//! let note = append_cosignature(&note, &line).unwrap();
//! let signed = open_checkpoint(&note, &[log.verifier()]).unwrap();
//! assert_eq!(signed.checkpoint, cp);
//! let w = CosignatureVerifier::new("witness.example", witness_key.public_key()).unwrap();
//! assert_eq!(signed.cosignatures(&[w]).unwrap()[0].timestamp, Some(1_700_000_000));
//! ```

use crate::ids::PublicKey;
use crate::keys::SigningKey;
use crate::merkle::Hash;
use crate::note::{
    self, cosignature_message, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier,
    VerifiedSignature, ALG_COSIGNATURE_V1, ALG_ED25519,
};
use std::fmt;

/// Why a checkpoint or a cosignature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body does not end with a newline.
    #[error("malformed checkpoint: body does not end with a newline")]
    MissingFinalNewline,
    /// The body has fewer than three lines.
    #[error("malformed checkpoint: fewer than three lines")]
    TooFewLines,
    /// The origin line is empty.
    #[error("malformed checkpoint: empty origin")]
    EmptyOrigin,
    /// The size line is not a canonical decimal u64 (no sign, no leading zeros).
    #[error("malformed checkpoint: size is not a canonical decimal number")]
    BadSize,
    /// The root line is not base64 of exactly 32 bytes.
    #[error("malformed checkpoint: root is not base64 of 32 bytes")]
    BadRoot,
    /// An extension line is empty.
    #[error("malformed checkpoint: empty extension line")]
    EmptyExtensionLine,
    /// A field holds a newline or another control character.
    #[error("malformed checkpoint: control character in a field")]
    ControlCharacter,
    /// The signed note is malformed or a known signature failed.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// No Ed25519 (log) signature from the given keys verified; cosignatures alone do not count.
    #[error("checkpoint has no valid signature from a known log key")]
    NoLogSignature,
    /// A key given as a witness key is not a cosignature (type 0x04) key.
    #[error("not a cosignature/v1 key")]
    NotACosignatureKey,
}

/// A checkpoint: the log's origin, its size and its Merkle root, plus extension lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's origin (unique name), e.g. `example.com/ledger`.
    pub origin: String,
    /// The number of entries in the tree.
    pub size: u64,
    /// The RFC 6962 Merkle tree hash.
    pub root: Hash,
    /// Optional extension lines (without newlines), after the root.
    pub extensions: Vec<String>,
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint without extension lines; validates the origin.
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root: Hash,
    ) -> Result<Checkpoint, CheckpointError> {
        let cp = Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        };
        cp.validate()?;
        Ok(cp)
    }

    /// Checks the fields: origin non-empty, no control characters (newlines
    /// included) in origin or extensions, no empty extension line.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if has_control(&self.origin) {
            return Err(CheckpointError::ControlCharacter);
        }
        for e in &self.extensions {
            if e.is_empty() {
                return Err(CheckpointError::EmptyExtensionLine);
            }
            if has_control(e) {
                return Err(CheckpointError::ControlCharacter);
            }
        }
        Ok(())
    }

    /// The note body: `<origin>\n<size>\n<base64 root>\n` then each extension line.
    /// Only a checkpoint that passes [`Checkpoint::validate`] gives a body that parses back.
    pub fn to_body(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root);
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body strictly.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let body = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines.next().ok_or(CheckpointError::TooFewLines)?;
        let root = lines.next().ok_or(CheckpointError::TooFewLines)?;
        let size = parse_size(size)?;
        let root: Hash = root.parse().map_err(|_| CheckpointError::BadRoot)?;
        let cp = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: lines.map(str::to_owned).collect(),
        };
        cp.validate()?;
        Ok(cp)
    }
}

fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::BadSize);
    }
    s.parse().map_err(|_| CheckpointError::BadSize)
}

/// Signs a checkpoint with the log key: the signed note `body || "\n" || signature line`.
///
/// The checkpoint should pass [`Checkpoint::validate`]; one that does not
/// (an empty origin, a newline in a field) yields a note that
/// [`open_checkpoint`] rejects.
pub fn sign_checkpoint(checkpoint: &Checkpoint, signer: &NoteSigner) -> String {
    let body = checkpoint.to_body();
    let line = signer.signature_line(&body);
    format!("{body}\n{line}")
}

/// A checkpoint whose note carries at least one valid log signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed checkpoint.
    pub checkpoint: Checkpoint,
    /// The parsed note (text and all signature lines).
    pub note: Note,
    /// Signatures from the given keys that verified (log signatures, and
    /// cosignatures if cosignature verifiers were given).
    pub verified: Vec<VerifiedSignature>,
    /// Signatures from keys not given (kept, not trusted).
    pub unverified: Vec<NoteSignature>,
}

impl SignedCheckpoint {
    /// Verifies the cosignatures of the given witnesses present on the note.
    ///
    /// Returns those that verified (each with its timestamp). A line that
    /// matches a witness's name and key id but does not verify is an error;
    /// witnesses that did not cosign are simply absent from the result.
    pub fn cosignatures(
        &self,
        witnesses: &[CosignatureVerifier],
    ) -> Result<Vec<VerifiedSignature>, CheckpointError> {
        verify_cosignatures(&self.note, witnesses)
    }
}

/// Opens a signed checkpoint: parses the note, verifies signatures from
/// `verifiers` (a known signature that fails is an error), requires at least
/// one valid Ed25519 log signature, and parses the body strictly.
pub fn open_checkpoint(
    note_text: &str,
    verifiers: &[NoteVerifier],
) -> Result<SignedCheckpoint, CheckpointError> {
    let opened = note::open(note_text.as_bytes(), verifiers)?;
    if !opened.verified.iter().any(|v| v.algorithm == ALG_ED25519) {
        return Err(CheckpointError::NoLogSignature);
    }
    let checkpoint = Checkpoint::parse_body(opened.note.text())?;
    Ok(SignedCheckpoint {
        checkpoint,
        note: opened.note,
        verified: opened.verified,
        unverified: opened.unverified,
    })
}

/// A witness's public key for Ed25519 `cosignature/v1` (key type 0x04).
/// Key string: `name+hex8+base64(0x04 || pubkey)`.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier(NoteVerifier);

impl CosignatureVerifier {
    /// A witness key named `name`.
    pub fn new(name: &str, key: PublicKey) -> Result<CosignatureVerifier, CheckpointError> {
        Ok(CosignatureVerifier(NoteVerifier::with_algorithm(
            name,
            ALG_COSIGNATURE_V1,
            key,
        )?))
    }
    /// Parses a witness key string `name+hex8+base64(0x04 || pubkey)`.
    pub fn parse(vkey: &str) -> Result<CosignatureVerifier, CheckpointError> {
        let v = NoteVerifier::parse(vkey)?;
        if v.algorithm() != ALG_COSIGNATURE_V1 {
            return Err(CheckpointError::NotACosignatureKey);
        }
        Ok(CosignatureVerifier(v))
    }
    /// The key string `name+hex8+base64(0x04 || pubkey)`.
    pub fn to_vkey_string(&self) -> String {
        self.0.to_vkey_string()
    }
    /// The witness name.
    pub fn name(&self) -> &str {
        self.0.name()
    }
    /// The key id `SHA-256(name || 0x0A || 0x04 || pubkey)[:4]`.
    pub fn key_id(&self) -> u32 {
        self.0.key_id()
    }
    /// The witness's Ed25519 public key.
    pub fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }
    /// As a note verifier (to pass to [`note::open`] or [`open_checkpoint`]).
    pub fn as_note_verifier(&self) -> &NoteVerifier {
        &self.0
    }
    /// Verifies one cosignature line (with or without its final newline) over
    /// `checkpoint`; returns the witness's timestamp.
    pub fn verify_line(&self, checkpoint: &Checkpoint, line: &str) -> Result<u64, CheckpointError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        // Parse the line as the only signature of a note over this body.
        let note_text = format!("{}\n{line}\n", checkpoint.to_body());
        let note = Note::parse(note_text.as_bytes())?;
        let sig = note
            .signatures()
            .first()
            .filter(|s| s.name == self.name() && s.key_id == self.key_id())
            .ok_or_else(|| NoteError::InvalidSignature {
                name: self.name().to_owned(),
                key_id: self.key_id(),
            })?;
        let ts = self.0.verify(note.text(), &sig.signature)?;
        ts.ok_or(CheckpointError::NotACosignatureKey)
    }
}

impl fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_vkey_string())
    }
}

impl fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureVerifier({})", self.0.to_vkey_string())
    }
}

/// Cosigns a checkpoint as witness `witness_name` at `timestamp` (seconds since
/// the epoch): returns the signature line (with its final newline)
/// `— <name> base64(key id || timestamp BE || signature)`.
pub fn cosign(
    checkpoint: &Checkpoint,
    witness_name: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<String, CheckpointError> {
    let v = CosignatureVerifier::new(witness_name, key.public_key())?;
    let sig = key.sign(&cosignature_message(&checkpoint.to_body(), timestamp));
    let mut raw = Vec::with_capacity(72);
    raw.extend_from_slice(&timestamp.to_be_bytes());
    raw.extend_from_slice(&sig.0);
    Ok(NoteSignature {
        name: witness_name.to_owned(),
        key_id: v.key_id(),
        signature: raw,
    }
    .to_line())
}

/// Appends a cosignature line to a signed checkpoint note (an identical line is not added twice).
pub fn append_cosignature(note_text: &str, line: &str) -> Result<String, CheckpointError> {
    Ok(note::append_signature_line(note_text, line)?)
}

/// Verifies the cosignatures of `witnesses` on a parsed note; see [`SignedCheckpoint::cosignatures`].
pub fn verify_cosignatures(
    note: &Note,
    witnesses: &[CosignatureVerifier],
) -> Result<Vec<VerifiedSignature>, CheckpointError> {
    let known: Vec<NoteVerifier> = witnesses.iter().map(|w| w.0.clone()).collect();
    Ok(note.verify(&known)?.verified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    fn cp() -> Checkpoint {
        Checkpoint::new("example.com/ledger", 20852163, Hash([7; 32])).unwrap()
    }
    fn log() -> NoteSigner {
        NoteSigner::new("example.com/ledger", SigningKey::from_seed(&[1; 32])).unwrap()
    }
    fn witness() -> (SigningKey, CosignatureVerifier) {
        let k = SigningKey::from_seed(&[2; 32]);
        let v = CosignatureVerifier::new("witness.example/w1", k.public_key()).unwrap();
        (k, v)
    }

    #[test]
    fn body_round_trip_with_extensions() {
        let mut c = cp();
        assert_eq!(Checkpoint::parse_body(&c.to_body()).unwrap(), c);
        c.extensions = vec!["ext one".into(), "— two".into()];
        assert_eq!(Checkpoint::parse_body(&c.to_body()).unwrap(), c);
        let zero = Checkpoint::new("o", 0, Hash([0; 32])).unwrap();
        assert_eq!(Checkpoint::parse_body(&zero.to_body()).unwrap(), zero);
    }

    #[test]
    fn body_rejections() {
        let root = B64.encode([7u8; 32]);
        let cases: Vec<(String, CheckpointError)> = vec![
            (
                format!("o\n1\n{root}"),
                CheckpointError::MissingFinalNewline,
            ),
            ("o\n1\n".into(), CheckpointError::TooFewLines),
            (format!("\n1\n{root}\n"), CheckpointError::EmptyOrigin),
            (format!("o\n01\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n+1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n\n{root}\n"), CheckpointError::BadSize),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::BadSize,
            ),
            (format!("o\n1 \n{root}\n"), CheckpointError::BadSize),
            (
                format!("o\n1\n{}\n", B64.encode([7u8; 31])),
                CheckpointError::BadRoot,
            ),
            ("o\n1\n!!!!\n".into(), CheckpointError::BadRoot),
            (
                format!("o\n1\n{root}\n\n"),
                CheckpointError::EmptyExtensionLine,
            ),
            (
                format!("o\r\n1\n{root}\n"),
                CheckpointError::ControlCharacter,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(want), "{body:?}");
        }
        assert_eq!(
            Checkpoint::new("", 1, Hash([0; 32])),
            Err(CheckpointError::EmptyOrigin)
        );
        assert_eq!(
            Checkpoint::new("a\nb", 1, Hash([0; 32])),
            Err(CheckpointError::ControlCharacter)
        );
    }

    #[test]
    fn sign_and_open() {
        let note = sign_checkpoint(&cp(), &log());
        let s = open_checkpoint(&note, &[log().verifier()]).unwrap();
        assert_eq!(s.checkpoint, cp());
        assert_eq!(s.verified[0].algorithm, ALG_ED25519);
        // A different key with the same name: unknown signature, nothing verified.
        let other = NoteSigner::new("example.com/ledger", SigningKey::from_seed(&[9; 32])).unwrap();
        assert_eq!(
            open_checkpoint(&note, &[other.verifier()]),
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
        );
    }

    #[test]
    fn cosignature_round_trip_and_key_string() {
        let (k, w) = witness();
        let line = cosign(&cp(), w.name(), &k, 1_700_000_000).unwrap();
        assert_eq!(w.verify_line(&cp(), &line), Ok(1_700_000_000));
        let note = append_cosignature(&sign_checkpoint(&cp(), &log()), &line).unwrap();
        let s = open_checkpoint(&note, &[log().verifier()]).unwrap();
        assert_eq!(s.unverified.len(), 1);
        let cos = s.cosignatures(std::slice::from_ref(&w)).unwrap();
        assert_eq!(cos.len(), 1);
        assert_eq!(cos[0].timestamp, Some(1_700_000_000));
        assert_eq!(cos[0].algorithm, ALG_COSIGNATURE_V1);
        // Key string round trip; a log key string is not a witness key.
        assert_eq!(CosignatureVerifier::parse(&w.to_vkey_string()).unwrap(), w);
        assert!(
            w.to_vkey_string()
                .split('+')
                .nth(2)
                .unwrap()
                .starts_with('B'),
            "type byte 0x04"
        );
        assert_eq!(
            CosignatureVerifier::parse(&log().verifier().to_vkey_string()),
            Err(CheckpointError::NotACosignatureKey)
        );
        // Verifying the note with log and witness keys together.
        let s = open_checkpoint(&note, &[log().verifier(), w.as_note_verifier().clone()]).unwrap();
        assert_eq!(s.verified.len(), 2);
    }

    #[test]
    fn cosignature_alone_is_not_a_log_signature() {
        let (k, w) = witness();
        let body = cp().to_body();
        let note = format!("{body}\n{}", cosign(&cp(), w.name(), &k, 5).unwrap());
        assert_eq!(
            open_checkpoint(&note, &[w.as_note_verifier().clone()]),
            Err(CheckpointError::NoLogSignature)
        );
    }

    #[test]
    fn cosignature_bit_flips_fail() {
        let (k, w) = witness();
        let line = cosign(&cp(), w.name(), &k, 1_700_000_000).unwrap();
        let (prefix, b64) = line.trim_end().rsplit_once(' ').unwrap();
        let raw = B64.decode(b64).unwrap();
        // Flip one bit in the timestamp and in the signature.
        for byte in [4usize, 11, 12, 40, 75] {
            let mut r = raw.clone();
            r[byte] ^= 1;
            let bad = format!("{prefix} {}\n", B64.encode(&r));
            assert!(
                matches!(
                    w.verify_line(&cp(), &bad),
                    Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
                ),
                "flip at {byte}"
            );
            let note = append_cosignature(&sign_checkpoint(&cp(), &log()), &bad).unwrap();
            let s = open_checkpoint(&note, &[log().verifier()]).unwrap();
            assert!(s.cosignatures(std::slice::from_ref(&w)).is_err());
        }
        // A flipped key id: no longer this witness's line.
        let mut r = raw.clone();
        r[0] ^= 1;
        let bad = format!("{prefix} {}\n", B64.encode(&r));
        assert!(w.verify_line(&cp(), &bad).is_err());
    }

    #[test]
    fn cosignature_over_other_checkpoint_fails() {
        let (k, w) = witness();
        let line = cosign(&cp(), w.name(), &k, 1).unwrap();
        let mut other_origin = cp();
        other_origin.origin = "example.com/other".into();
        let mut other_size = cp();
        other_size.size += 1;
        let mut other_ext = cp();
        other_ext.extensions.push("x".into());
        for other in [other_origin, other_size, other_ext] {
            assert!(w.verify_line(&other, &line).is_err(), "{other:?}");
        }
        // Wrong witness name for the key.
        let w2 = CosignatureVerifier::new("witness.example/w2", k.public_key()).unwrap();
        assert!(w2.verify_line(&cp(), &line).is_err());
        assert!(cosign(&cp(), "bad name", &k, 1).is_err());
    }

    #[test]
    fn tampered_body_fails_log_signature() {
        let note = sign_checkpoint(&cp(), &log());
        let tampered = note.replacen("20852163", "20852164", 1);
        assert!(matches!(
            open_checkpoint(&tampered, &[log().verifier()]),
            Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
        ));
    }
}
