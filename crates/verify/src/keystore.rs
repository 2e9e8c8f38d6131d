//! The verifier's own reader of the key store (docs/FORMAT.md §6, "keystore"): each record's
//! wrapped content key in a fixed 160-byte slot. The verifier parses the bytes itself,
//! strictly, rather than through the store's reader, so a writer bug cannot hide itself
//! (the same rule as for entries). It holds no KEK: it only hashes wrapped keys and compares
//! them with the entries' content seals.
//!
//! An archive's content key frames (`archive export --with-content-keys`) carry the same
//! slots and are read into the same [`KeyStore`].

use caseledger_core::RecordId;

/// The key store's file name in the ledger directory.
pub const FILE_NAME: &str = "keystore";
/// The magic that starts the 32-byte header.
const MAGIC: &[u8] = b"caseledger keystore v2";
const HEADER_LEN: usize = 32;
/// One slot's length.
pub const SLOT_LEN: usize = 160;
const RECORD_FIELD: usize = 64;
const WRAPPED_LEN: usize = 72;
const LIVE: u8 = 1;
const ERASED: u8 = 2;

/// One slot as the verifier reads it. Its `Debug` never shows the wrapped key.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySlot {
    /// A wrapped record key of `record`.
    Live {
        /// The record the slot names.
        record: RecordId,
        /// The wrapped key (72 bytes).
        wrapped: Vec<u8>,
    },
    /// Erased (all key bytes zero) for `record`.
    Erased {
        /// The record the slot names.
        record: RecordId,
    },
    /// Bytes that are not a slot (bad state, record field, padding, or non-zero key bytes
    /// in an erased slot).
    Malformed,
}

impl std::fmt::Debug for KeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySlot::Live { record, .. } => write!(f, "Live({record})"),
            KeySlot::Erased { record } => write!(f, "Erased({record})"),
            KeySlot::Malformed => f.write_str("Malformed"),
        }
    }
}

impl KeySlot {
    /// Decodes one slot's bytes strictly.
    pub fn decode(s: &[u8]) -> KeySlot {
        decode(s).unwrap_or(KeySlot::Malformed)
    }

    /// The record the slot names, unless malformed.
    pub fn record(&self) -> Option<&RecordId> {
        match self {
            KeySlot::Live { record, .. } | KeySlot::Erased { record } => Some(record),
            KeySlot::Malformed => None,
        }
    }
}

fn decode(s: &[u8]) -> Option<KeySlot> {
    if s.len() != SLOT_LEN {
        return None;
    }
    let len = usize::from(*s.get(1)?);
    if len == 0 || len > RECORD_FIELD {
        return None;
    }
    let name = s.get(2..2 + len)?;
    if s.get(2 + len..2 + RECORD_FIELD)?.iter().any(|&b| b != 0) {
        return None;
    }
    let record = RecordId::new(std::str::from_utf8(name).ok()?).ok()?;
    let at = 2 + RECORD_FIELD;
    let wrapped = s.get(at..at + WRAPPED_LEN)?;
    if s.get(at + WRAPPED_LEN..)?.iter().any(|&b| b != 0) {
        return None;
    }
    match *s.first()? {
        LIVE => Some(KeySlot::Live {
            record,
            wrapped: wrapped.to_vec(),
        }),
        ERASED if wrapped.iter().all(|&b| b == 0) => Some(KeySlot::Erased { record }),
        _ => None,
    }
}

/// The key store as read: every slot by index, or why the file itself is not one.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyStore {
    /// Slots by index.
    pub slots: Vec<KeySlot>,
    /// What is wrong with the container (bad header, a length that is not whole slots, an
    /// archive's content key frames out of order), if anything. Slots that could be read
    /// are still in `slots`.
    pub damage: Option<String>,
}

impl KeyStore {
    /// Parses a key store file's bytes.
    pub fn parse(bytes: &[u8]) -> KeyStore {
        let header_ok = bytes.len() >= HEADER_LEN
            && bytes.starts_with(MAGIC)
            && bytes
                .get(MAGIC.len()..HEADER_LEN)
                .is_some_and(|p| p.iter().all(|&b| b == 0));
        if !header_ok {
            return KeyStore {
                slots: Vec::new(),
                damage: Some("the key store file does not start with its header".to_owned()),
            };
        }
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        let damage = (body.len() % SLOT_LEN != 0).then(|| {
            format!(
                "the key store file's length is not whole slots ({} bytes left over)",
                body.len() % SLOT_LEN
            )
        });
        KeyStore {
            slots: body.chunks_exact(SLOT_LEN).map(KeySlot::decode).collect(),
            damage,
        }
    }

    /// The slot at `index`, if the store has one.
    pub fn get(&self, index: u32) -> Option<&KeySlot> {
        usize::try_from(index).ok().and_then(|i| self.slots.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(state: u8, record: &str, key: u8) -> Vec<u8> {
        let mut s = vec![0u8; SLOT_LEN];
        s[0] = state;
        s[1] = u8::try_from(record.len()).unwrap();
        s[2..2 + record.len()].copy_from_slice(record.as_bytes());
        s[66..66 + WRAPPED_LEN].fill(key);
        s
    }

    fn file(slots: &[Vec<u8>]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        f.resize(HEADER_LEN, 0);
        for s in slots {
            f.extend_from_slice(s);
        }
        f
    }

    #[test]
    fn slots_are_read_strictly() {
        let ks = KeyStore::parse(&file(&[
            slot(1, "r1", 7),
            slot(2, "r2", 0),
            slot(2, "r3", 1),
        ]));
        assert_eq!(ks.damage, None);
        assert!(
            matches!(&ks.slots[0], KeySlot::Live { record, wrapped } if record.as_str() == "r1" && wrapped == &vec![7u8; 72])
        );
        assert!(matches!(&ks.slots[1], KeySlot::Erased { record } if record.as_str() == "r2"));
        // An "erased" slot that still holds key bytes is no erased slot.
        assert_eq!(ks.slots[2], KeySlot::Malformed);
        let mut padded = slot(1, "r1", 7);
        padded[159] = 1;
        assert_eq!(KeySlot::decode(&padded), KeySlot::Malformed);
    }

    #[test]
    fn a_damaged_container_says_so() {
        assert!(KeyStore::parse(b"not a key store").damage.is_some());
        let mut f = file(&[slot(1, "r1", 7)]);
        f.push(0);
        let ks = KeyStore::parse(&f);
        assert_eq!(ks.slots.len(), 1);
        assert!(ks.damage.unwrap().contains("1 bytes left over"));
    }
}
