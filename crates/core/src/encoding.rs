//! The one canonical encoding: bincode 2.0.1 through serde, fixed-width little-endian
//! integers, a 1 MiB limit. Every byte caseledger hashes or signs goes through here.
//!
//! ```
//! use caseledger_core::{encoding, ids::Seq};
//! let bytes = encoding::encode(&Seq(5)).unwrap();
//! assert_eq!(bytes, 5u64.to_le_bytes());
//! assert_eq!(encoding::decode_canonical::<Seq>(&bytes).unwrap(), Seq(5));
//! assert!(encoding::decode_canonical::<Seq>(&[bytes.as_slice(), &[0]].concat()).is_err());
//! ```

use serde::{de::DeserializeOwned, Serialize};

/// The entry format version this code writes and reads (docs/FORMAT.md §2): entries,
/// ledgers, archives and bundles of any other version are refused, never migrated.
pub const FORMAT_VERSION: u16 = 4;

/// The largest encoded value accepted (entries are small; payloads are stored apart).
pub const MAX_ENCODED_LEN: usize = 1 << 20;

/// The configuration. Changing anything here changes every hash: see docs/FORMAT.md.
pub const CONFIG: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::Limit<MAX_ENCODED_LEN>,
> = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding()
    .with_limit::<MAX_ENCODED_LEN>();

/// A value could not be encoded (it exceeds [`MAX_ENCODED_LEN`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode: {0}")]
pub struct EncodeError(String);

/// Bytes were refused by the strict decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not decode as the expected type (truncated, bad tag, invalid field).
    #[error("malformed: {0}")]
    Malformed(String),
    /// The value decoded but bytes were left over.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// The value decoded but does not re-encode to the same bytes.
    #[error("non-canonical encoding")]
    NonCanonical,
    /// An entry declares a format version this code does not read.
    #[error("this entry is format {0}; this build reads format {current} only: ledgers, archives and bundles of other formats are not read (there is no migration)", current = FORMAT_VERSION)]
    UnsupportedVersion(u16),
}

/// Encodes `v` canonically.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, EncodeError> {
    bincode::serde::encode_to_vec(v, CONFIG).map_err(|e| EncodeError(e.to_string()))
}

/// Encodes `v` canonically, appending to `buf` (reuses its allocation).
pub fn encode_into<T: Serialize + ?Sized>(v: &T, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    bincode::serde::encode_into_std_write(v, buf, CONFIG)
        .map(|_| ())
        .map_err(|e| EncodeError(e.to_string()))
}

/// Decodes `bytes` as exactly one `T`: rejects trailing bytes and any input that does not
/// re-encode to the same bytes.
pub fn decode_canonical<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (v, used): (T, usize) = bincode::serde::decode_from_slice(bytes, CONFIG)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len().saturating_sub(used)));
    }
    // Re-encode, comparing as we go instead of allocating the re-encoding.
    let mut same = SameBytes { expected: bytes };
    bincode::serde::encode_into_writer(&v, &mut same, CONFIG)
        .map_err(|_| DecodeError::NonCanonical)?;
    if !same.expected.is_empty() {
        return Err(DecodeError::NonCanonical);
    }
    Ok(v)
}

/// A writer that accepts exactly the bytes it expects, in order: encoding into it succeeds
/// and leaves `expected` empty iff the encoding equals the original bytes.
struct SameBytes<'a> {
    /// What remains to be written.
    expected: &'a [u8],
}

impl bincode::enc::write::Writer for SameBytes<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        match self.expected.split_at_checked(bytes.len()) {
            Some((head, tail)) if head == bytes => {
                self.expected = tail;
                Ok(())
            }
            _ => Err(bincode::error::EncodeError::Other("non-canonical encoding")),
        }
    }
}
