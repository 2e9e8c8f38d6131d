//! The key store file `L/keystore`: each record's content key, wrapped by the practice's
//! KEK, in a fixed slot (docs/FORMAT.md §6, "keystore"). Not a sled tree: sled keeps old
//! versions of values in its log, so a record key "removed" from sled would survive in its
//! segments. A slot is overwritten in place and fsynced, so erasing it (lawful destruction)
//! leaves nothing of the wrapped key in the file.
//!
//! ```text
//! file  = header (32 bytes: "caseledger keystore v2", zero padded) || slot*
//! slot  = state u8 (1 live, 2 erased) || u8 len(record) || record (64 bytes, zero padded)
//!         || wrapped (72 bytes; zero when erased) || 22 zero bytes                 (160 bytes)
//! ```
//!
//! Slot `i` is at offset `32 + 160 * i`. A slot is written and fsynced before the entry that
//! names it is committed; a slot whose entries never committed (a crash, a refused group)
//! stays live and unused, which is harmless.

use crate::error::{Result, StoreError};
use caseledger_core::content::{seal_payload, Kek, RecordKey, WRAPPED_LEN};
use caseledger_core::event::{ContentSeal, Payload};
use caseledger_core::hash::{ciphertext_digest, wrapped_key_digest};
use caseledger_core::ids::{Digest, RecordId, Seq};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The key store's file name in the ledger directory.
pub const KEYSTORE_FILE: &str = "keystore";
/// The header that starts the file.
pub const KEYSTORE_MAGIC: &[u8] = b"caseledger keystore v2";
/// Header length.
pub const HEADER_LEN: usize = 32;
/// Slot length.
pub const SLOT_LEN: usize = 160;
const RECORD_FIELD: usize = 64;
const LIVE: u8 = 1;
const ERASED: u8 = 2;

/// One slot as read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SlotState {
    /// A wrapped record key for `record`.
    Live {
        /// The record.
        record: RecordId,
        /// The wrapped key ([`WRAPPED_LEN`] bytes).
        wrapped: Vec<u8>,
    },
    /// Erased by a lawful destruction of `record`.
    Erased {
        /// The record.
        record: RecordId,
    },
}

impl SlotState {
    /// The slot's record.
    pub fn record(&self) -> &RecordId {
        match self {
            SlotState::Live { record, .. } | SlotState::Erased { record } => record,
        }
    }
}

fn encode_slot(state: u8, record: &RecordId, wrapped: Option<&[u8]>) -> [u8; SLOT_LEN] {
    let mut s = [0u8; SLOT_LEN];
    s[0] = state;
    let r = record.as_str().as_bytes();
    // INVARIANT: record ids are 1-64 bytes (RecordId), so they fit the field and a u8.
    s[1] = u8::try_from(r.len()).unwrap_or(u8::MAX);
    s[2..2 + r.len().min(RECORD_FIELD)].copy_from_slice(&r[..r.len().min(RECORD_FIELD)]);
    if let Some(w) = wrapped {
        let at = 2 + RECORD_FIELD;
        s[at..at + w.len().min(WRAPPED_LEN)].copy_from_slice(&w[..w.len().min(WRAPPED_LEN)]);
    }
    s
}

/// Decodes one slot strictly; `None` when malformed.
pub fn decode_slot(s: &[u8]) -> Option<SlotState> {
    if s.len() != SLOT_LEN {
        return None;
    }
    let len = usize::from(s[1]);
    if len == 0 || len > RECORD_FIELD || s[2 + len..2 + RECORD_FIELD].iter().any(|&b| b != 0) {
        return None;
    }
    let record = RecordId::new(std::str::from_utf8(&s[2..2 + len]).ok()?).ok()?;
    let at = 2 + RECORD_FIELD;
    let wrapped = &s[at..at + WRAPPED_LEN];
    if s[at + WRAPPED_LEN..].iter().any(|&b| b != 0) {
        return None;
    }
    match s[0] {
        LIVE => Some(SlotState::Live {
            record,
            wrapped: wrapped.to_vec(),
        }),
        ERASED if wrapped.iter().all(|&b| b == 0) => Some(SlotState::Erased { record }),
        _ => None,
    }
}

/// Reads every slot of a key store file (the verifier's and the store's reader). A missing
/// file reads as no slots.
pub fn read_slots(path: &Path) -> Result<Vec<Option<SlotState>>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .map_err(|e| StoreError::io(path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(path, e)),
    }
    if bytes.len() < HEADER_LEN
        || !bytes[..HEADER_LEN].starts_with(KEYSTORE_MAGIC)
        || bytes[KEYSTORE_MAGIC.len()..HEADER_LEN]
            .iter()
            .any(|&b| b != 0)
        || (bytes.len() - HEADER_LEN) % SLOT_LEN != 0
    {
        return Err(StoreError::corrupt(
            format!(
                "{} is not a caseledger key store (bad header or length)",
                path.display()
            ),
            None,
        ));
    }
    Ok(bytes[HEADER_LEN..]
        .chunks(SLOT_LEN)
        .map(decode_slot)
        .collect())
}

/// Every slot's raw 160 bytes, in order (archive export). A missing file reads as none.
pub fn read_raw_slots(path: &Path) -> Result<Vec<Vec<u8>>> {
    // Validates the file as `read_slots` does, then hands out the bytes.
    let n = read_slots(path)?.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    Ok(bytes[HEADER_LEN..]
        .chunks(SLOT_LEN)
        .take(n)
        .map(<[u8]>::to_vec)
        .collect())
}

/// The open key store: slots in memory, the file for writing.
pub(crate) struct KeyStore {
    path: PathBuf,
    pub(crate) slots: Vec<Option<SlotState>>,
}

impl KeyStore {
    /// Opens (creating with its header if missing) the key store of the ledger in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<KeyStore> {
        let path = dir.join(KEYSTORE_FILE);
        if !path.exists() {
            let mut header = [0u8; HEADER_LEN];
            header[..KEYSTORE_MAGIC.len()].copy_from_slice(KEYSTORE_MAGIC);
            // Private like every ledger file (mode 0600 whatever the umask).
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            f.write_all(&header)
                .and_then(|()| f.sync_all())
                .map_err(|e| StoreError::io(&path, e))?;
            // The new file's directory entry is durable too.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io(dir, e))?;
        }
        let slots = read_slots(&path)?;
        Ok(KeyStore { path, slots })
    }

    fn write_at(&self, slot: u32, bytes: &[u8; SLOT_LEN]) -> Result<()> {
        let offset = HEADER_LEN as u64 + u64::from(slot) * SLOT_LEN as u64;
        let mut f = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| StoreError::io(&self.path, e))?;
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.write_all(bytes))
            .and_then(|()| f.sync_all())
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// Appends a live slot for `record` and makes it durable; returns its index.
    pub(crate) fn allocate(&mut self, record: &RecordId, wrapped: &[u8]) -> Result<u32> {
        let slot = u32::try_from(self.slots.len()).map_err(|_| StoreError::Full)?;
        self.write_at(slot, &encode_slot(LIVE, record, Some(wrapped)))?;
        self.slots.push(Some(SlotState::Live {
            record: record.clone(),
            wrapped: wrapped.to_vec(),
        }));
        Ok(slot)
    }

    /// Writes an archived slot verbatim at its index (import; slots come in order from 0).
    pub(crate) fn restore(&mut self, slot: u32, bytes: &[u8]) -> Result<()> {
        let decoded = decode_slot(bytes).ok_or_else(|| {
            StoreError::Archive(format!("content key frame for slot {slot} is malformed"))
        })?;
        if slot as usize != self.slots.len() {
            return Err(StoreError::Archive(format!(
                "content key slot {slot} is out of order"
            )));
        }
        let mut b = [0u8; SLOT_LEN];
        b.copy_from_slice(bytes);
        self.write_at(slot, &b)?;
        self.slots.push(Some(decoded));
        Ok(())
    }

    /// Overwrites a slot's wrapped key with zeros (state erased) and makes it durable.
    pub(crate) fn erase(&mut self, slot: u32, record: &RecordId) -> Result<()> {
        self.write_at(slot, &encode_slot(ERASED, record, None))?;
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(SlotState::Erased {
                record: record.clone(),
            });
        }
        Ok(())
    }
}

/// The content keys of an open ledger: the key store, the KEK (when the opener has it), and
/// the record keys unwrapped so far. Guarded by its own mutex (taken after the writer lock).
pub(crate) struct Content {
    pub(crate) kek: Option<Kek>,
    pub(crate) store: KeyStore,
    unwrapped: HashMap<RecordId, (u32, RecordKey)>,
}

impl Content {
    /// A client event id's request hash, keyed by its record's key (made now if the record
    /// has none yet: an unused key slot is harmless); refused when the record's key was
    /// erased by its destruction. Under the content lock: a caller's
    /// (`Ledger::request_rows`), or the group leader's while it stages (`Stage::id_row`).
    pub(crate) fn id_request_hash(
        &mut self,
        origin: &str,
        record: &RecordId,
        digest: &crate::requests::RequestDigest,
    ) -> Result<[u8; 32]> {
        // A destroyed record gets no new key (it takes no new events).
        let erased = self
            .store
            .slots
            .iter()
            .any(|s| matches!(s, Some(SlotState::Erased { record: r }) if r == record));
        let made = self.record_key(origin, record, !erased)?;
        let (_, rk, _) = made.ok_or_else(|| {
            StoreError::Refused(caseledger_core::record::Violation::Shape(format!(
                "record {record}: its content key was erased by its destruction"
            )))
        })?;
        Ok(crate::requests::request_hash(&rk, digest))
    }
    pub(crate) fn open(dir: &Path, kek: Option<Kek>) -> Result<Content> {
        Ok(Content {
            kek,
            store: KeyStore::open(dir)?,
            unwrapped: HashMap::new(),
        })
    }

    /// The record's slot: the lowest live slot for it (a slot allocated for a group that
    /// never committed is reused by the next one).
    pub(crate) fn slot_of(&self, record: &RecordId) -> Option<(u32, &[u8])> {
        self.store
            .slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s {
                Some(SlotState::Live { record: r, wrapped }) if r == record => {
                    Some((u32::try_from(i).ok()?, wrapped.as_slice()))
                }
                _ => None,
            })
    }

    fn kek(&self) -> Result<&Kek> {
        self.kek.as_ref().ok_or(StoreError::NoContentKey)
    }

    /// The record's key and slot, unwrapping (or, with `create`, generating and storing) it.
    pub(crate) fn record_key(
        &mut self,
        origin: &str,
        record: &RecordId,
        create: bool,
    ) -> Result<Option<(u32, RecordKey, Digest)>> {
        if let Some((slot, key)) = self.unwrapped.get(record) {
            let wrapped = self.store.slots.get(*slot as usize).and_then(|s| match s {
                Some(SlotState::Live { wrapped, .. }) => Some(wrapped_key_digest(wrapped)),
                _ => None,
            });
            if let Some(d) = wrapped {
                return Ok(Some((*slot, key.clone(), d)));
            }
        }
        let kek = self.kek()?.clone();
        let (slot, key, digest) = match self.slot_of(record) {
            Some((slot, wrapped)) => {
                let key = kek.unwrap(origin, record, slot, wrapped).map_err(|e| {
                    StoreError::ContentKey {
                        record: record.clone(),
                        why: e.to_string(),
                    }
                })?;
                (slot, key, wrapped_key_digest(wrapped))
            }
            None if create => {
                let key = RecordKey::generate();
                let slot = u32::try_from(self.store.slots.len()).map_err(|_| StoreError::Full)?;
                let wrapped = kek.wrap(origin, record, slot, &key);
                let got = self.store.allocate(record, &wrapped)?;
                debug_assert_eq!(got, slot);
                (slot, key, wrapped_key_digest(&wrapped))
            }
            None => return Ok(None),
        };
        self.unwrapped.insert(record.clone(), (slot, key.clone()));
        Ok(Some((slot, key, digest)))
    }

    /// Encrypts a payload for entry `seq` of `record`: the stored bytes and the entry's seal.
    pub(crate) fn seal(
        &mut self,
        origin: &str,
        record: &RecordId,
        seq: Seq,
        payload: &Payload,
    ) -> Result<(Vec<u8>, ContentSeal)> {
        let Some((slot, key, wrapped_key)) = self.record_key(origin, record, true)? else {
            return Err(StoreError::NoContentKey);
        };
        let stored = seal_payload(&key.entry_key(seq), origin, record, seq, payload);
        let seal = ContentSeal {
            ciphertext: ciphertext_digest(&stored),
            key_slot: slot,
            wrapped_key,
        };
        Ok((stored, seal))
    }

    /// Erases every live slot of `record` (after its destruction committed).
    pub(crate) fn erase(&mut self, record: &RecordId) -> Result<()> {
        self.unwrapped.remove(record);
        let live: Vec<u32> = self
            .store
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Some(SlotState::Live { record: r, .. }) if r == record => u32::try_from(i).ok(),
                _ => None,
            })
            .collect();
        for slot in live {
            self.store.erase(slot, record)?;
        }
        Ok(())
    }

    /// Records with a live slot (open-time redo of interrupted erasures).
    pub(crate) fn live_records(&self) -> Vec<RecordId> {
        let mut v: Vec<RecordId> = self
            .store
            .slots
            .iter()
            .filter_map(|s| match s {
                Some(SlotState::Live { record, .. }) => Some(record.clone()),
                _ => None,
            })
            .collect();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_erase_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = KeyStore::open(dir.path()).unwrap();
        let r = RecordId::new("C-1").unwrap();
        let w = vec![0xAB; WRAPPED_LEN];
        assert_eq!(ks.allocate(&r, &w).unwrap(), 0);
        assert_eq!(ks.allocate(&r, &[0xCD; WRAPPED_LEN]).unwrap(), 1);
        ks.erase(0, &r).unwrap();
        let slots = read_slots(&dir.path().join(KEYSTORE_FILE)).unwrap();
        assert_eq!(slots[0], Some(SlotState::Erased { record: r.clone() }));
        assert!(
            matches!(&slots[1], Some(SlotState::Live { wrapped, .. }) if wrapped == &[0xCD; WRAPPED_LEN])
        );
        // The erased key's bytes are gone from the file.
        let raw = std::fs::read(dir.path().join(KEYSTORE_FILE)).unwrap();
        assert!(!raw.windows(8).any(|w| w == [0xAB; 8]));
        assert_eq!(raw.len(), HEADER_LEN + 2 * SLOT_LEN);
        // Reopening reads the same slots.
        assert_eq!(KeyStore::open(dir.path()).unwrap().slots, slots);
    }

    #[test]
    fn malformed_files_and_slots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(KEYSTORE_FILE);
        std::fs::write(&p, b"not a key store").unwrap();
        assert!(read_slots(&p).is_err());
        let mut s = encode_slot(
            LIVE,
            &RecordId::new("C-1").unwrap(),
            Some(&[1; WRAPPED_LEN]),
        );
        assert!(decode_slot(&s).is_some());
        s[0] = 7;
        assert!(decode_slot(&s).is_none());
        let mut s = encode_slot(ERASED, &RecordId::new("C-1").unwrap(), None);
        s[100] = 1; // an "erased" slot that still holds key bytes
        assert!(decode_slot(&s).is_none());
    }
}
