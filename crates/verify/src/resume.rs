//! The auditor's resume state: what an incremental verification ([`crate::verify_incremental`])
//! needs to continue the replay at size `n` without reading the entries before `n`.
//!
//! A verifier cannot resume from the store's derived state (its `records`, `meta` and
//! `tiles` trees are written by the very software it checks), so the auditor keeps their
//! own: after a verification with no finding and [`crate::Policy::keep_resume_state`],
//! [`crate::Verified::resume_state`] is the fold at size `n`: the registry, every record's
//! state and payload tallies, the Merkle frontier (compact range) at `n`, the hash of entry
//! `n - 1`, the roots at the checkpoint sizes verified so far, the checkpoint verified
//! against, and the per-entry history the fold consults (the record of each entry, for
//! amendment targets; the nonce of each entry, for replay detection; whether it commits to
//! a payload, for destruction checks). Memory and file size: about 21 bytes per entry plus
//! the records, as in a full run.
//!
//! **Trust.** The file is the auditor's own trusted state, like the checkpoints they hold:
//! keep it where you keep those. Its digest catches accidental damage (a flipped byte, a
//! truncated copy), not tampering: whoever can rewrite it can make an incremental run accept
//! a rewritten prefix. Protecting it (permissions, a signature of your own over the bytes)
//! is outside what this crate checks.
//!
//! # File format (version 2)
//!
//! All integers little-endian; `encode(T)` is `caseledger_core::encoding::encode`.
//!
//! ```text
//! magic     "caseledger resume state\n"                      (24 bytes)
//! version   u16 = 2
//! header    len (u32) || encode(Header)
//!             Header = { size: u64, root: [u8; 32], last_hash: [u8; 32],
//!                        frontier: Vec<[u8; 32]>, registry: Registry,
//!                        checkpoint: Option<String>, roots: u64, records: u64 }
//! roots     `roots` x ( size (u64) || root (32) ), sizes strictly ascending, each <= size
//! records   `records` x ( len (u32) || encode(StateRecord) ), by record ordinal
//!             StateRecord = { id: RecordId, state: Option<RecordState>,
//!                             present: u64, first_present: Option<u64>,
//!                             missing: u64, first_missing: Option<u64> }
//! entries   `size` x ( ordinal (u32, 0xFFFFFFFF: no record) || nonce (16) || flags (u8) )
//!             flags: 0x01 = the entry commits to a payload; other bits zero
//! digest    BLAKE3-derive-key("caseledger resume state v1", every byte before it) (32 bytes)
//! ```
//!
//! Reading refuses: another magic, another version, a digest mismatch, a frame that does
//! not decode canonically, a frontier that does not fit `size` or whose root is not `root`,
//! roots out of order, ordinals out of range, a repeated nonce or record id, unknown flags,
//! trailing bytes. Writing is deterministic, so a state read and written again is
//! byte-identical.

use crate::history::{Hist, NonceIndex, Slot, Tally};
use crate::start::Start;
use crate::VerifyError;
use caseledger_core::encoding;
use caseledger_core::merkle::{CompactRange, Hash, Sha256Hasher};
use caseledger_core::note::Note;
use caseledger_core::record::{RecordState, Registry};
use caseledger_core::{EntryHash, Nonce, RecordId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The first bytes of a resume state file.
pub const MAGIC: &[u8; 24] = b"caseledger resume state\n";
/// The format version this verifier writes and reads. Version 2: the registry carries
/// `last_change` and `closed` (ledger format 3); version 1 states are refused by version.
pub const VERSION: u16 = 2;
/// BLAKE3 derive-key context of the trailing digest.
pub const DIGEST_CONTEXT: &str = "caseledger resume state v1";
/// Bytes per entry in the entries section.
const ENTRY_LEN: usize = 4 + 16 + 1;
const FLAG_COMMITTED: u8 = 0x01;

/// A resume state file could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeStateError {
    /// Not a resume state file (wrong magic, or too short to hold one).
    #[error("not a caseledger resume state file")]
    NotAState,
    /// A version this verifier does not read.
    #[error("resume state version {0} is not supported (this verifier reads version {VERSION})")]
    UnsupportedVersion(u16),
    /// The digest does not match: the file was damaged (or edited).
    #[error("resume state is damaged: its digest does not match its contents; run a full verification to make a new one")]
    Damaged,
    /// The digest matches but the contents are not a valid state.
    #[error("resume state is malformed: {0}")]
    Malformed(String),
    /// The state cannot be written (a part exceeds the encoding's limit).
    #[error("resume state cannot be encoded: {0}")]
    Encode(String),
}

/// The auditor's state at size `n` after a verification with no finding: see the module
/// docs. Obtain it from [`crate::Verified::resume_state`], store it with
/// [`ResumeState::to_bytes`], read it back with [`ResumeState::from_bytes`], and pass it to
/// [`crate::verify_incremental`].
#[derive(Clone, PartialEq, Eq)]
pub struct ResumeState {
    pub(crate) size: u64,
    pub(crate) root: Hash,
    pub(crate) last_hash: EntryHash,
    pub(crate) frontier: CompactRange,
    pub(crate) registry: Registry,
    pub(crate) checkpoint: Option<String>,
    pub(crate) roots: BTreeMap<u64, Hash>,
    pub(crate) records: Vec<StateRecord>,
    pub(crate) record_of: Vec<u32>,
    pub(crate) nonces: Vec<Nonce>,
    pub(crate) committed: Vec<bool>,
}

impl std::fmt::Debug for ResumeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeState")
            .field("size", &self.size)
            .field("root", &hex::encode(self.root))
            .field("records", &self.records.len())
            .field("checkpoint", &self.checkpoint.is_some())
            .finish_non_exhaustive()
    }
}

/// One record in the state, by ordinal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct StateRecord {
    id: RecordId,
    state: Option<RecordState>,
    present: u64,
    first_present: Option<u64>,
    missing: u64,
    first_missing: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    size: u64,
    root: Hash,
    last_hash: EntryHash,
    frontier: Vec<Hash>,
    registry: Registry,
    checkpoint: Option<String>,
    roots: u64,
    records: u64,
}

fn malformed(why: impl Into<String>) -> ResumeStateError {
    ResumeStateError::Malformed(why.into())
}

impl ResumeState {
    /// Builds the state from a finished replay with no finding. `None` if the history does
    /// not cover every entry exactly once (it always does when there is no finding).
    pub(crate) fn capture(
        frontier: CompactRange,
        last_hash: EntryHash,
        registry: Registry,
        hist: Hist,
        roots: BTreeMap<u64, Hash>,
        checkpoint: Option<String>,
    ) -> Option<ResumeState> {
        let size = frontier.size();
        let len = usize::try_from(size).ok()?;
        if hist.record_of.len() != len || hist.committed.len() != len || len == 0 {
            return None;
        }
        let mut nonces: Vec<Option<Nonce>> = vec![None; len];
        for (nonce, seq) in hist.nonces.into_pairs() {
            let slot = nonces.get_mut(usize::try_from(seq).ok()?)?;
            if slot.replace(nonce).is_some() {
                return None;
            }
        }
        let nonces: Vec<Nonce> = nonces.into_iter().collect::<Option<_>>()?;
        let records = hist
            .slots
            .into_iter()
            .map(|s| {
                let t = s.prefix.merged(s.live);
                StateRecord {
                    id: s.id,
                    state: s.state,
                    present: t.present,
                    first_present: t.first_present,
                    missing: t.missing,
                    first_missing: t.first_missing,
                }
            })
            .collect();
        Some(ResumeState {
            size,
            root: frontier.root(&Sha256Hasher),
            last_hash,
            frontier,
            registry,
            checkpoint,
            roots,
            records,
            record_of: hist.record_of,
            nonces,
            committed: hist.committed,
        })
    }

    /// The number of entries the state covers (`n`): an incremental run reads from here.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The Merkle root at `n`, as the auditor computed it.
    pub fn root(&self) -> Hash {
        self.root
    }
    /// The hash of entry `n - 1`.
    pub fn last_hash(&self) -> EntryHash {
        self.last_hash
    }
    /// The newest checkpoint note the ledger was verified against when the state was taken.
    pub fn checkpoint(&self) -> Option<&str> {
        self.checkpoint.as_deref()
    }
    /// The origin named in genesis.
    pub fn origin(&self) -> &str {
        self.registry.origin.as_ref().map_or("", |o| o.as_str())
    }

    /// The replay's starting point for entries from `n` on.
    pub(crate) fn to_start(&self, trusted_root: Option<(u64, Hash)>) -> Result<Start, VerifyError> {
        let mut nonces = NonceIndex::with_capacity(self.nonces.len());
        for (seq, nonce) in self.nonces.iter().enumerate() {
            let seq = u64::try_from(seq).map_err(|_| VerifyError::TooLarge)?;
            nonces
                .insert_first(*nonce, seq)
                .map_err(|_| VerifyError::TooLarge)?;
        }
        let slots = self
            .records
            .iter()
            .map(|r| Slot {
                id: r.id.clone(),
                state: r.state.clone(),
                live: Tally::default(),
                prefix: Tally {
                    present: r.present,
                    first_present: r.first_present,
                    missing: r.missing,
                    first_missing: r.first_missing,
                },
            })
            .collect();
        Ok(Start {
            from: self.size,
            incremental: true,
            range: self.frontier.clone(),
            prev_hash: self.last_hash,
            registry: self.registry.clone(),
            hist: Hist {
                record_of: self.record_of.clone(),
                committed: self.committed.clone(),
                slots,
                nonces,
            },
            known_roots: self.roots.clone(),
            trusted_root,
            prior_checkpoint: self.checkpoint.clone(),
        })
    }

    /// The state file's bytes (see the module docs for the format). Deterministic.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ResumeStateError> {
        let enc = |e: encoding::EncodeError| ResumeStateError::Encode(e.to_string());
        let frame = |out: &mut Vec<u8>, body: Vec<u8>| -> Result<(), ResumeStateError> {
            let len = u32::try_from(body.len())
                .map_err(|_| ResumeStateError::Encode("a part is too large".into()))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&body);
            Ok(())
        };
        let header = Header {
            size: self.size,
            root: self.root,
            last_hash: self.last_hash,
            frontier: self.frontier.hashes().to_vec(),
            registry: self.registry.clone(),
            checkpoint: self.checkpoint.clone(),
            roots: u64::try_from(self.roots.len())
                .map_err(|_| ResumeStateError::Encode("too many roots".into()))?,
            records: u64::try_from(self.records.len())
                .map_err(|_| ResumeStateError::Encode("too many records".into()))?,
        };
        let mut out =
            Vec::with_capacity(MAGIC.len() + 64 + self.nonces.len().saturating_mul(ENTRY_LEN));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        frame(&mut out, encoding::encode(&header).map_err(enc)?)?;
        for (size, root) in &self.roots {
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&root.0);
        }
        for r in &self.records {
            frame(&mut out, encoding::encode(r).map_err(enc)?)?;
        }
        for ((ord, nonce), committed) in
            self.record_of.iter().zip(&self.nonces).zip(&self.committed)
        {
            out.extend_from_slice(&ord.to_le_bytes());
            out.extend_from_slice(&nonce.0);
            out.push(if *committed { FLAG_COMMITTED } else { 0 });
        }
        let digest = blake3::derive_key(DIGEST_CONTEXT, &out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Reads a state file's bytes, refusing anything [`ResumeState::to_bytes`] would not
    /// have written (see the module docs).
    pub fn from_bytes(bytes: &[u8]) -> Result<ResumeState, ResumeStateError> {
        let magic_len = MAGIC.len();
        if bytes.len() < magic_len + 2 + 32 || bytes.get(..magic_len) != Some(MAGIC.as_slice()) {
            return Err(ResumeStateError::NotAState);
        }
        let mut r = Reader {
            bytes,
            pos: magic_len,
        };
        let version = u16::from_le_bytes(r.array()?);
        if version != VERSION {
            return Err(ResumeStateError::UnsupportedVersion(version));
        }
        let body_len = bytes.len().saturating_sub(32);
        let (body, digest) = bytes.split_at(body_len);
        if blake3::derive_key(DIGEST_CONTEXT, body) != digest {
            return Err(ResumeStateError::Damaged);
        }
        r.bytes = body;

        let header: Header = r.frame()?;
        if header.size == 0 {
            return Err(malformed("it covers no entries"));
        }
        let frontier = CompactRange::from_parts(header.size, header.frontier)
            .map_err(|e| malformed(format!("frontier: {e}")))?;
        if frontier.root(&Sha256Hasher) != header.root {
            return Err(malformed("the root is not the root of the frontier"));
        }
        if let Some(cp) = &header.checkpoint {
            Note::parse(cp.as_bytes())
                .ok()
                .and_then(|n| caseledger_core::checkpoint::Checkpoint::parse_body(n.text()).ok())
                .filter(|c| c.size <= header.size)
                .ok_or_else(|| {
                    malformed("the checkpoint is not a signed checkpoint within the state")
                })?;
        }
        let mut roots = BTreeMap::new();
        let mut last: Option<u64> = None;
        for _ in 0..header.roots {
            let size = u64::from_le_bytes(r.array()?);
            let root = Hash(r.array()?);
            if last.is_some_and(|l| l >= size) || size > header.size {
                return Err(malformed(
                    "known roots are not in ascending order within the state",
                ));
            }
            last = Some(size);
            roots.insert(size, root);
        }
        let n_records =
            usize::try_from(header.records).map_err(|_| malformed("too many records"))?;
        if u32::try_from(header.records).is_err() || n_records > r.remaining() / 4 {
            return Err(malformed("record count exceeds the file"));
        }
        let mut records: Vec<StateRecord> = Vec::with_capacity(n_records);
        let mut ids = HashSet::with_capacity(n_records);
        for _ in 0..n_records {
            let rec: StateRecord = r.frame()?;
            if !ids.insert(rec.id.clone()) {
                return Err(malformed(format!("record {} appears twice", rec.id)));
            }
            records.push(rec);
        }
        let len = usize::try_from(header.size).map_err(|_| malformed("too many entries"))?;
        if len.checked_mul(ENTRY_LEN) != Some(r.remaining()) {
            return Err(malformed(
                "the entries section does not hold one item per entry",
            ));
        }
        let mut record_of = Vec::with_capacity(len);
        let mut nonces = Vec::with_capacity(len);
        let mut committed = Vec::with_capacity(len);
        let mut seen = HashSet::with_capacity(len);
        for _ in 0..len {
            let ord = u32::from_le_bytes(r.array()?);
            let nonce = Nonce(r.array()?);
            let [flags] = r.array::<1>()?;
            if ord != u32::MAX && usize::try_from(ord).map_or(true, |o| o >= n_records) {
                return Err(malformed("an entry names a record the state does not hold"));
            }
            if flags & !FLAG_COMMITTED != 0 {
                return Err(malformed("unknown entry flags"));
            }
            if !seen.insert(nonce) {
                return Err(malformed("a nonce appears twice"));
            }
            record_of.push(ord);
            nonces.push(nonce);
            committed.push(flags == FLAG_COMMITTED);
        }
        Ok(ResumeState {
            size: header.size,
            root: header.root,
            last_hash: header.last_hash,
            frontier,
            registry: header.registry,
            checkpoint: header.checkpoint,
            roots,
            records,
            record_of,
            nonces,
            committed,
        })
    }
}

/// A cursor over the state's body.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
    fn take(&mut self, n: usize) -> Result<&[u8], ResumeStateError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| malformed("truncated"))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| malformed("truncated"))?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ResumeStateError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| malformed("truncated"))
    }
    fn frame<T: Serialize + serde::de::DeserializeOwned>(&mut self) -> Result<T, ResumeStateError> {
        let len = u32::from_le_bytes(self.array()?);
        let len = usize::try_from(len).map_err(|_| malformed("frame too large"))?;
        let body = self.take(len)?;
        encoding::decode_canonical(body).map_err(|e| malformed(e.to_string()))
    }
}
