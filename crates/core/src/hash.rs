//! Every hash and domain string caseledger uses. Formulas are in the comments and in
//! docs/FORMAT.md; golden vectors in `ledger-data/vectors/` pin them.

use crate::ids::{Digest, EntryHash, PayloadCommitment};
use crate::merkle::{Hash, Sha256Hasher, TreeHasher};

/// BLAKE3 derive-key context for entry hashes.
pub const ENTRY_CONTEXT: &str = "caseledger entry v2";
/// BLAKE3 derive-key context for payload commitments.
pub const PAYLOAD_CONTEXT: &str = "caseledger payload v2";
/// BLAKE3 derive-key context for the digest of a stored (encrypted) payload.
pub const CIPHERTEXT_CONTEXT: &str = "caseledger ciphertext v2";
/// BLAKE3 derive-key context for the digest of a wrapped record key.
pub const WRAPPED_KEY_CONTEXT: &str = "caseledger wrapped key v2";
/// Prefix of the message an author signs (domain separation: a signature over an event can
/// never be a valid signature over anything else caseledger or another protocol signs).
pub const EVENT_SIGNATURE_DOMAIN: &[u8] = b"caseledger event v2\0";

/// `h_i = BLAKE3-derive-key("caseledger entry v2", E_i)`.
pub fn entry_hash(entry_bytes: &[u8]) -> EntryHash {
    EntryHash(blake3::derive_key(ENTRY_CONTEXT, entry_bytes))
}

/// `commitment = BLAKE3-derive-key("caseledger payload v2", salt || payload)`.
pub fn payload_commitment(salt: &[u8; 32], payload: &[u8]) -> PayloadCommitment {
    let mut h = blake3::Hasher::new_derive_key(PAYLOAD_CONTEXT);
    h.update(salt);
    h.update(payload);
    PayloadCommitment(*h.finalize().as_bytes())
}

/// `msg = "caseledger event v2" || 0x00 || u64 LE len(origin) || origin || canonical bytes
/// of Event`: what an author signs. The origin binds the event to one ledger.
pub fn signing_message(origin: &str, event_bytes: &[u8]) -> Vec<u8> {
    let mut m =
        Vec::with_capacity(EVENT_SIGNATURE_DOMAIN.len() + 8 + origin.len() + event_bytes.len());
    m.extend_from_slice(EVENT_SIGNATURE_DOMAIN);
    m.extend_from_slice(&(origin.len() as u64).to_le_bytes());
    m.extend_from_slice(origin.as_bytes());
    m.extend_from_slice(event_bytes);
    m
}

/// `BLAKE3-derive-key("caseledger ciphertext v2", stored)`: the digest of a stored payload
/// (`nonce || ciphertext`) that an entry's content seal carries.
pub fn ciphertext_digest(stored: &[u8]) -> Digest {
    Digest(blake3::derive_key(CIPHERTEXT_CONTEXT, stored))
}

/// `BLAKE3-derive-key("caseledger wrapped key v2", wrapped)`: the digest of a wrapped record
/// key that an entry's content seal carries.
pub fn wrapped_key_digest(wrapped: &[u8]) -> Digest {
    Digest(blake3::derive_key(WRAPPED_KEY_CONTEXT, wrapped))
}

/// The Merkle leaf of entry i: `SHA-256(0x00 || h_i)` (RFC 6962 leaf over the entry hash).
pub fn merkle_leaf(h: &EntryHash) -> Hash {
    Sha256Hasher.hash_leaf(&h.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_separate_the_same_bytes() {
        let data = [0u8; 64];
        let e = entry_hash(&data);
        let p = payload_commitment(&[0; 32], &data[32..]);
        assert_ne!(e.0, p.0, "entry and payload domains must differ");
    }

    #[test]
    fn salt_changes_commitment() {
        assert_ne!(
            payload_commitment(&[0; 32], b"$80"),
            payload_commitment(&[1; 32], b"$80")
        );
    }

    /// Known answers computed outside this code: BLAKE3 values with Python's `blake3`
    /// (`blake3(data, derive_key_context=...)`), the leaf with `openssl dgst -sha256` over 33
    /// zero bytes. A change here is a format change (docs/FORMAT.md §3).
    #[test]
    fn known_answers() {
        assert_eq!(
            entry_hash(b"").to_hex(),
            "95e48a4c1113bc0c21b435a2b2ec2a4930da141abd6bd54133fdddaa6d09de39"
        );
        assert_eq!(
            payload_commitment(&[0; 32], b"$80").to_hex(),
            "afa5bd4a5a1fc20f6df6770d5332460c7cea5404cd30b9f73094f46f0ffe3016"
        );
        assert_eq!(
            hex::encode(merkle_leaf(&EntryHash::ZERO).0),
            "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"
        );
        assert_eq!(
            ciphertext_digest(b"abc").to_hex(),
            "ab61a04810c53fa32406015c940e3eb14f9040b304f4660003f62b6a6d00856f"
        );
        assert_eq!(
            wrapped_key_digest(b"abc").to_hex(),
            "3e48214794e7ff88a9159003b7aa05cfc1c8d1ebb5cd8126bbd7d99946e0f30e"
        );
        assert_eq!(
            signing_message("o.example", b"E"),
            b"caseledger event v2\0\x09\0\0\0\0\0\0\0o.exampleE"
        );
    }
}
