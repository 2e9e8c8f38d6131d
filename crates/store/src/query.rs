//! Reads: entries, payloads (commitment re-checked), records' entries (along their
//! placement chains) and states, Merkle
//! roots and inclusion/consistency proofs.

use crate::backend::{Backend, Trees, T};
use crate::error::{Result, StoreError};
use crate::layout::*;
use crate::ledger::Ledger;
use crate::rebuild::record_chain;
use crate::upper::CachedNodes;
use caseledger_core::content::{open_payload, EntryKey};
use caseledger_core::encoding::decode_canonical;
use caseledger_core::event::{Entry, Payload};
use caseledger_core::hash::ciphertext_digest;
use caseledger_core::ids::{RecordId, Seq};
use caseledger_core::merkle::{self, Hash, ProveError, Sha256Hasher};
use caseledger_core::record::RecordState;

fn prove_err(e: ProveError<StoreError>) -> StoreError {
    match e {
        ProveError::Invalid(p) => StoreError::Proof(p),
        ProveError::Source(s) => s,
    }
}

impl Ledger {
    /// The canonical bytes `E_i` of entry `seq`, exactly as stored (and hashed).
    pub fn entry_bytes(&self, seq: Seq) -> Result<Option<Vec<u8>>> {
        Ok(self
            .trees
            .get(T::Entries, &seq.to_be_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Entry `seq`, decoded strictly.
    pub fn entry(&self, seq: Seq) -> Result<Option<Entry>> {
        match self.trees.get(T::Entries, &seq.to_be_bytes())? {
            None => Ok(None),
            Some(b) => Entry::from_bytes(&b)
                .map(Some)
                .map_err(|e| StoreError::corrupt(format!("entry does not decode: {e}"), Some(seq))),
        }
    }

    /// The stored (encrypted) payload of entry `seq`, checked against the entry's content
    /// seal: `None` when the entry has none or it was lawfully destroyed.
    pub fn stored_payload(&self, seq: Seq) -> Result<Option<Vec<u8>>> {
        let Some(stored) = self.trees.get(T::Payloads, &seq.to_be_bytes())? else {
            return Ok(None);
        };
        let entry = self
            .entry(seq)?
            .ok_or_else(|| StoreError::corrupt("payload without an entry", Some(seq)))?;
        match entry.content {
            Some(seal) if seal.ciphertext == ciphertext_digest(&stored) => {
                Ok(Some(stored.to_vec()))
            }
            Some(_) => Err(StoreError::corrupt(
                "stored payload does not match the entry's content seal",
                Some(seq),
            )),
            None => Err(StoreError::corrupt(
                "payload stored for an entry without a content seal",
                Some(seq),
            )),
        }
    }

    /// The key of entry `seq`'s payload (HKDF of its record key and the seq), for a bundle
    /// that hands out this entry's content and nothing else. Needs the KEK.
    pub fn entry_key(&self, seq: Seq) -> Result<Option<EntryKey>> {
        let Some(entry) = self.entry(seq)? else {
            return Ok(None);
        };
        let (Some(rid), Some(_)) = (&entry.event.event.record, entry.content) else {
            return Ok(None);
        };
        let origin = self
            .origin()
            .ok_or(StoreError::corrupt("no origin (no genesis)", None))?;
        let mut content = crate::types::lock(&self.content);
        Ok(content
            .record_key(origin.as_str(), rid, false)?
            .map(|(_, key, _)| key.entry_key(seq)))
    }

    /// The payload of entry `seq`, decrypted (needs the KEK): `None` when the entry has none
    /// or it was lawfully destroyed. The content seal and the author's commitment are
    /// checked on every read; a mismatch is [`StoreError::Corrupt`] and the bytes are never
    /// returned.
    pub fn payload(&self, seq: Seq) -> Result<Option<Payload>> {
        let Some(stored) = self.stored_payload(seq)? else {
            return Ok(None);
        };
        let entry = self
            .entry(seq)?
            .ok_or_else(|| StoreError::corrupt("payload without an entry", Some(seq)))?;
        let rid =
            entry.event.event.record.as_ref().ok_or_else(|| {
                StoreError::corrupt("payload of an administration entry", Some(seq))
            })?;
        let Some(key) = self.entry_key(seq)? else {
            return Err(StoreError::ContentKey {
                record: rid.clone(),
                why: "the key store holds no key for this record".into(),
            });
        };
        let origin = self
            .origin()
            .ok_or(StoreError::corrupt("no origin (no genesis)", None))?;
        let payload = open_payload(&key, origin.as_str(), rid, seq, &stored)
            .map_err(|e| StoreError::corrupt(format!("stored payload: {e}"), Some(seq)))?;
        match entry.event.event.commitment {
            Some(c) if c == payload.commitment() => Ok(Some(payload)),
            Some(_) => Err(StoreError::corrupt(
                "payload does not match the entry's commitment",
                Some(seq),
            )),
            None => Err(StoreError::corrupt(
                "payload stored for an entry without a commitment",
                Some(seq),
            )),
        }
    }

    /// The seqs of a record's entries, in order: from the latest entry its state row names,
    /// back along each entry's own `placement.prev_in_record` (no index rows; an old
    /// ledger's are ignored). Every step is checked (see `record_chain`): a broken chain
    /// is [`StoreError::Corrupt`], never another record's entry.
    pub fn record_entries(&self, record: &RecordId) -> Result<Vec<Seq>> {
        match self.record_state(record)? {
            None => Ok(Vec::new()),
            Some(st) => record_chain(&self.trees, record, &st),
        }
    }

    /// A record's state after its latest entry (`None` for a record never seen).
    pub fn record_state(&self, record: &RecordId) -> Result<Option<RecordState>> {
        match self.trees.get(T::Records, &record_state_key(record))? {
            None => Ok(None),
            Some(v) => decode_canonical(&v).map(Some).map_err(|e| {
                StoreError::corrupt(
                    format!("state of record {record} does not decode: {e}"),
                    None,
                )
            }),
        }
    }

    /// Every record's state after its latest entry, in record id order, starting after
    /// `after` (for paging); the store keeps these rows up to date with every commit, so
    /// this reads one row per record and no entry. A record id is ASCII without control
    /// bytes, so a key `id || 0x01` is a state row and an index row (`id || 0x00 || seq`)
    /// never parses as one.
    pub fn record_states(
        &self,
        after: Option<&RecordId>,
    ) -> impl Iterator<Item = Result<(RecordId, RecordState)>> + '_ {
        // The first key after `after`'s row: that key followed by a zero byte.
        let from = after.map_or(Vec::new(), |r| {
            let mut k = record_state_key(r).to_vec();
            k.push(0);
            k
        });
        self.trees.scan(T::Records, &from, None).filter_map(|row| {
            let (k, v) = match row {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e)),
            };
            let id = k.strip_suffix(&[RECORD_STATE_TAG])?;
            let id = RecordId::new(std::str::from_utf8(id).ok()?).ok()?;
            Some(
                decode_canonical(&v)
                    .map(|st| (id.clone(), st))
                    .map_err(|e| {
                        StoreError::corrupt(
                            format!("state of record {id} does not decode: {e}"),
                            None,
                        )
                    }),
            )
        })
    }

    /// Merkle nodes for roots and proofs: upper levels from memory, the rest from the
    /// `tiles` rows (`tilerows.rs`).
    fn nodes(&self) -> Result<CachedNodes<'_, Trees>> {
        CachedNodes::new(&self.upper, &self.trees)
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let head = self.head().size;
        if size > head {
            return Err(StoreError::BeyondHead {
                what: "tree size",
                asked: size,
                size: head,
            });
        }
        Ok(())
    }

    /// The Merkle root of the first `size` entries (`size <= head`), from `O(log n)` reads.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        merkle::root_at(&Sha256Hasher, &self.nodes()?, size).map_err(prove_err)
    }

    /// The inclusion proof of entry `seq` in the tree of the first `size` entries; verify it
    /// with `merkle::verify_inclusion` against `merkle_leaf(entry_hash)`.
    pub fn inclusion_proof(&self, seq: Seq, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        merkle::inclusion_proof(&Sha256Hasher, &self.nodes()?, seq.0, size).map_err(prove_err)
    }

    /// The consistency proof between the trees of `size1 <= size2 <= head` entries.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>> {
        self.check_size(size2)?;
        merkle::consistency_proof(&Sha256Hasher, &self.nodes()?, size1, size2).map_err(prove_err)
    }
}
