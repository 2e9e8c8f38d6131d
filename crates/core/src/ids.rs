//! Validated newtypes: hashes, sequence numbers, record and actor ids, keys, signatures.
//!
//! Constructors validate; decoding goes through the same validation (serde
//! `try_from`), so an invalid id can never exist in memory, even one read from
//! an untrusted ledger.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a value could not become one of the types in this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// An id was empty, longer than 64 bytes, or had a character outside `[A-Za-z0-9._:-]`.
    #[error("invalid {what}: must be 1-64 characters of A-Z a-z 0-9 . _ : -")]
    BadId {
        /// Which kind of id ("record id", "actor id").
        what: &'static str,
    },
    /// A hex string was not 64 hex digits.
    #[error("invalid hash: expected 64 hex digits")]
    BadHex,
}

/// The maximum length of a record or actor id, in bytes.
pub const MAX_ID_LEN: usize = 64;

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id: 1-64 characters of `[A-Za-z0-9._:-]`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if valid_id(&s) {
                    // INVARIANT: 1-64 bytes of [A-Za-z0-9._:-].
                    Ok(Self(s))
                } else {
                    Err(IdError::BadId { what: $what })
                }
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// A client record's opaque id (pseudonymous by guidance): 1-64 chars of `[A-Za-z0-9._:-]`.
    RecordId,
    "record id"
);
string_id!(
    /// An enrolled actor's id (a licensee, custodian or admin): 1-64 chars of `[A-Za-z0-9._:-]`.
    ActorId,
    "actor id"
);

/// A position in the ledger, 0-based. Seq 0 is always the genesis entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

impl Seq {
    /// The genesis position.
    pub const GENESIS: Seq = Seq(0);
    /// The value.
    pub fn get(self) -> u64 {
        self.0
    }
    /// The next position, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Seq> {
        self.0.checked_add(1).map(Seq)
    }
    /// Big-endian bytes: the key layout of the `entries` and `payloads` trees.
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}
impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

macro_rules! bytes32 {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parses 64 hex digits.
            pub fn from_hex(s: &str) -> Result<Self, IdError> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| IdError::BadHex)?;
                Ok(Self(out))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

bytes32!(
    /// `BLAKE3-derive-key("caseledger entry v2", E_i)`: the hash of an entry's canonical bytes.
    EntryHash
);
bytes32!(
    /// `BLAKE3-derive-key("caseledger payload v2", salt || payload)`.
    PayloadCommitment
);
bytes32!(
    /// A 32-byte BLAKE3 digest the store commits to (a stored ciphertext, a wrapped key).
    Digest
);
bytes32!(
    /// An Ed25519 public key (32 bytes, as in RFC 8032).
    PublicKey
);

impl EntryHash {
    /// `h_{-1}`: the `prev` of the genesis entry.
    pub const ZERO: EntryHash = EntryHash([0; 32]);
}

/// A 16-byte random value chosen by the author, so that no signed event can be appended twice.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Nonce(pub [u8; 16]);

impl Nonce {
    /// A fresh random nonce.
    pub fn random() -> Nonce {
        Nonce(rand::random())
    }
}
impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", hex::encode(self.0))
    }
}

/// An Ed25519 signature (64 bytes). Encoded as 64 raw bytes (no length prefix).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureBytes(pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureBytes({})", hex::encode(self.0))
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SignatureBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = [0u8; 64];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = a
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(SignatureBytes(out))
            }
        }
        d.deserialize_tuple(64, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_validated() {
        for ok in ["C-0042", "a", "x.y_z:1-2", &"a".repeat(64)] {
            assert!(RecordId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "é", "a/b", &"a".repeat(65), "new\nline"] {
            assert!(RecordId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let h = EntryHash([7; 32]);
        assert_eq!(EntryHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(EntryHash::from_hex("zz"), Err(IdError::BadHex));
        assert_eq!(EntryHash::from_hex(&"0".repeat(62)), Err(IdError::BadHex));
    }
}
