//! Every hash and domain string caseledger uses. Formulas are in the comments and in
//! docs/FORMAT.md; golden vectors in `ledger-data/vectors/` pin them.

use crate::ids::{EntryHash, PayloadCommitment};
use crate::merkle::{Hash, Sha256Hasher, TreeHasher};

/// BLAKE3 derive-key context for entry hashes.
pub const ENTRY_CONTEXT: &str = "caseledger entry v1";
/// BLAKE3 derive-key context for payload commitments.
pub const PAYLOAD_CONTEXT: &str = "caseledger payload v1";
/// Prefix of the message an author signs (domain separation: a signature over an event can
/// never be a valid signature over anything else caseledger or another protocol signs).
pub const EVENT_SIGNATURE_DOMAIN: &[u8] = b"caseledger event v1\0";
/// BLAKE3 derive-key context of the key that `caseledger import` derives from an author's
/// secret key seed to make an imported line's nonce and payload salt (docs/FORMAT.md §3):
/// re-running a file yields the same nonces (refused as replays), and nobody without the
/// author's key can use a nonce to guess a line.
pub const IMPORT_NONCE_CONTEXT: &str = "caseledger import nonce v1";

/// `h_i = BLAKE3-derive-key("caseledger entry v1", E_i)`.
pub fn entry_hash(entry_bytes: &[u8]) -> EntryHash {
    EntryHash(blake3::derive_key(ENTRY_CONTEXT, entry_bytes))
}

/// `commitment = BLAKE3-derive-key("caseledger payload v1", salt || payload)`.
pub fn payload_commitment(salt: &[u8; 32], payload: &[u8]) -> PayloadCommitment {
    let mut h = blake3::Hasher::new_derive_key(PAYLOAD_CONTEXT);
    h.update(salt);
    h.update(payload);
    PayloadCommitment(*h.finalize().as_bytes())
}

/// `msg = "caseledger event v1" || 0x00 || canonical bytes of Event`: what an author signs.
pub fn signing_message(event_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(EVENT_SIGNATURE_DOMAIN.len() + event_bytes.len());
    m.extend_from_slice(EVENT_SIGNATURE_DOMAIN);
    m.extend_from_slice(event_bytes);
    m
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
            "ed07e01cdc123aba31db311fe4bfcb03f4c9d253c4f809037b0366c3083bb1bb"
        );
        assert_eq!(
            payload_commitment(&[0; 32], b"$80").to_hex(),
            "bd1bee8a10e6e19a78f2f89a3b9f6e28a78dee6a78ffa611789006cff6b07679"
        );
        assert_eq!(
            hex::encode(merkle_leaf(&EntryHash::ZERO).0),
            "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"
        );
        assert_eq!(signing_message(b"E"), b"caseledger event v1\0E");
    }
}
