//! Idempotency rows of appends (docs/FORMAT.md §3, "Request rows"), in the `nonces` tree
//! beside the nonces, written in the entry's own transaction:
//!
//! ```text
//! "R" || request key (32)   -> u64 BE seq                          (a file import's line)
//! "I" || id lookup key (32) -> u64 BE seq || request hash (32)     (a client event id)
//! ```
//!
//! Both keys are keyed hashes, so a row says nothing of the file, the id or the request.
//! The id lookup key is keyed under a key derived from the practice's KEK (the id is the
//! record system's own note id, not content); the request hash under a key derived from
//! the *record* key, so after a lawful destruction (which erases the record key) the
//! stored hash cannot be tested against guessed requests. A leaf module: it imports no
//! other module of the store.

use caseledger_core::content::{Kek, RecordKey};

/// BLAKE3 derive-key context of the key of id lookup keys (input: the KEK).
pub const EVENT_ID_CONTEXT: &str = "caseledger event id v2";
/// BLAKE3 derive-key context of the key of request hashes (input: the record key).
pub const REQUEST_HASH_CONTEXT: &str = "caseledger event id request v2";
/// The longest client event id, in bytes.
pub const MAX_EVENT_ID: usize = 128;

/// An idempotency key chosen by the caller (32 bytes, a keyed hash: it reveals nothing of
/// the request). Stored in the `nonces` tree under `"R" || key`, value the seq.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RequestKey(pub [u8; 32]);

impl RequestKey {
    /// The row key in the `nonces` tree.
    pub(crate) fn row(&self) -> [u8; 33] {
        row(b'R', &self.0)
    }
}

fn row(tag: u8, key: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = tag;
    k[1..].copy_from_slice(key);
    k
}

/// Why a client event id was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    /// Empty or longer than [`MAX_EVENT_ID`] bytes.
    #[error("must be 1-128 bytes")]
    Length,
    /// Holds a control character or surrounding white space (the value is not shown).
    #[error("must be printable text (no control characters, no leading or trailing space)")]
    NotPrintable,
}

/// A client event id: the record system's own id of the note (1-128 bytes of printable
/// text). Never stored: the ledger keeps only its keyed lookup key.
#[derive(Clone, PartialEq, Eq)]
pub struct EventId(String);

impl EventId {
    /// Validates an id.
    pub fn new(s: &str) -> Result<EventId, EventIdError> {
        if s.is_empty() || s.len() > MAX_EVENT_ID {
            return Err(EventIdError::Length);
        }
        if s.chars().any(char::is_control) || s.trim() != s {
            return Err(EventIdError::NotPrintable);
        }
        Ok(EventId(s.to_owned()))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id's lookup key: `BLAKE3-keyed(BLAKE3-derive-key("caseledger event id v2",
    /// KEK), id bytes)`. Its row in the `nonces` tree is `"I" || lookup key`.
    pub fn lookup_key(&self, kek: &Kek) -> [u8; 32] {
        let key = blake3::derive_key(EVENT_ID_CONTEXT, kek.as_bytes());
        *blake3::keyed_hash(&key, self.0.as_bytes()).as_bytes()
    }

    /// The row key in the `nonces` tree.
    pub(crate) fn row(&self, kek: &Kek) -> [u8; 33] {
        row(b'I', &self.lookup_key(kek))
    }
}

// The id is the record system's identifier, but it is kept out of logs all the same.
impl std::fmt::Debug for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventId(<redacted>)")
    }
}

/// A digest of a whole request (every field of the line, the payload included), made by
/// the caller. Never stored: the store keys it under the record key ([`request_hash`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestDigest(pub [u8; 32]);

impl std::fmt::Debug for RequestDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestDigest(<redacted>)")
    }
}

/// The stored request hash: `BLAKE3-keyed(BLAKE3-derive-key("caseledger event id request
/// v2", record key), request digest)`.
pub fn request_hash(record_key: &RecordKey, digest: &RequestDigest) -> [u8; 32] {
    let key = blake3::derive_key(REQUEST_HASH_CONTEXT, record_key.as_bytes());
    *blake3::keyed_hash(&key, &digest.0).as_bytes()
}

/// The idempotency key an appended item carries.
#[derive(Clone, Debug)]
pub enum Request {
    /// A file import's line key (file digest and line number).
    File(RequestKey),
    /// A client event id with the digest of its request.
    Id(EventId, RequestDigest),
}

/// A row staged with an entry: its key in the `nonces` tree and what follows the seq in
/// its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestRow {
    pub(crate) key: [u8; 33],
    pub(crate) hash: Option<[u8; 32]>,
}

impl RequestRow {
    /// The row's value for the entry at `seq` (the 8-byte big-endian seq key).
    pub(crate) fn value(&self, seq: &[u8; 8]) -> Vec<u8> {
        let mut v = seq.to_vec();
        if let Some(h) = &self.hash {
            v.extend_from_slice(h);
        }
        v
    }
}

/// A stored id row, decoded: the seq and the request hash.
pub(crate) fn decode_id_row(v: &[u8]) -> Option<(u64, [u8; 32])> {
    let seq = <[u8; 8]>::try_from(v.get(..8)?).ok()?;
    let hash = <[u8; 32]>::try_from(v.get(8..)?).ok()?;
    Some((u64::from_be_bytes(seq), hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(EventId::new("note-2026-0042").is_ok());
        assert!(EventId::new("Notiz ü 7").is_ok());
        assert_eq!(EventId::new(""), Err(EventIdError::Length));
        assert!(EventId::new(&"a".repeat(128)).is_ok());
        assert_eq!(EventId::new(&"a".repeat(129)), Err(EventIdError::Length));
        assert_eq!(EventId::new("a\nb"), Err(EventIdError::NotPrintable));
        assert_eq!(EventId::new(" a"), Err(EventIdError::NotPrintable));
        assert!(!format!("{:?}", EventId::new("secret-id").unwrap()).contains("secret"));
    }

    #[test]
    fn keys_depend_on_their_secret() {
        let id = EventId::new("n-1").unwrap();
        let a = id.row(&Kek::from_bytes([1; 32]));
        assert_eq!(a[0], b'I');
        assert_ne!(a, id.row(&Kek::from_bytes([2; 32])));
        assert_ne!(
            a,
            EventId::new("n-2").unwrap().row(&Kek::from_bytes([1; 32]))
        );
        let d = RequestDigest([9; 32]);
        let h = request_hash(&RecordKey::from_bytes([1; 32]), &d);
        assert_ne!(h, request_hash(&RecordKey::from_bytes([2; 32]), &d));
        assert_ne!(
            h,
            request_hash(&RecordKey::from_bytes([1; 32]), &RequestDigest([8; 32]))
        );
        let row = RequestRow {
            key: a,
            hash: Some(h),
        };
        assert_eq!(decode_id_row(&row.value(&7u64.to_be_bytes())), Some((7, h)));
        assert_eq!(decode_id_row(&[0; 39]), None);
    }
}
