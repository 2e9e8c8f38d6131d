//! The ledger as it stood at a moment: [`verify_as_of`] verifies the whole ledger and, in
//! the same pass over the same bytes, folds the prefix of entries recorded before a cut
//! (the end of a report's as-of day). A retention report is built from the result
//! ([`AsOf`]), so that what it says about a past day does not change when entries are
//! recorded later.
//!
//! The prefix is the entries before the first one whose `recorded_at` is at or after the
//! cut. A well-formed ledger's `recorded_at` never goes backwards (the verifier reports it
//! when it does), so this is "every entry recorded up to the end of the day".

use crate::finding::CheckpointSource;
use crate::judge::keys_for;
use crate::policy::{Policy, Progress};
use crate::source::{EntryIter, LedgerSource, StoredCheckpoint, StoredEntry};
use crate::verified::{Verified, VerifiedCheckpoint};
use crate::VerifyError;
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::event::Entry;
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::merkle::{CompactRange, Hash, Sha256Hasher};
use caseledger_core::note::{Note, ALG_ED25519};
use caseledger_core::record::{self, RecordState, Registry, Step};
use caseledger_core::{RecordId, Seq, Timestamp};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// A record as it stood at the cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsOfRecord {
    /// The record id.
    pub id: RecordId,
    /// The fold's state over the prefix.
    pub state: RecordState,
    /// Payloads of the record's entries in the prefix are missing now, and the record was
    /// never lawfully destroyed (not even after the cut): an unauthorized destruction.
    pub content_missing: bool,
}

/// The result of [`verify_as_of`]: the verification of the whole ledger as it is now, and
/// the prefix recorded before the cut. Only [`verify_as_of`] constructs it.
#[derive(Clone, Debug)]
pub struct AsOf {
    verified: Verified,
    cut: Timestamp,
    size: u64,
    root: Hash,
    last_recorded_at: Option<Timestamp>,
    checkpoint: Option<VerifiedCheckpoint>,
    registry: Registry,
    records: Vec<AsOfRecord>,
}

impl AsOf {
    /// The verification of the whole ledger (integrity verdict and findings).
    pub fn verified(&self) -> &Verified {
        &self.verified
    }
    /// Entries recorded at or after this instant are not part of the prefix.
    pub fn cut(&self) -> Timestamp {
        self.cut
    }
    /// Entries in the prefix.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The Merkle root over the prefix, computed from the bytes verified.
    pub fn root(&self) -> Hash {
        self.root
    }
    /// `recorded_at` of the prefix's last entry (None when the prefix is empty).
    pub fn last_recorded_at(&self) -> Option<Timestamp> {
        self.last_recorded_at
    }
    /// A validly signed checkpoint of exactly the prefix's size and root, if the ledger
    /// (or the auditor) holds one.
    pub fn checkpoint(&self) -> Option<&VerifiedCheckpoint> {
        self.checkpoint.as_ref()
    }
    /// The fold's ledger-wide state over the prefix (settings, actors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// Records opened in the prefix, sorted by id, as they stood at the cut.
    pub fn records(&self) -> &[AsOfRecord] {
        &self.records
    }
}

/// What the tap saw of the prefix while the verifier read the entries.
struct Tap {
    closed: bool,
    size: u64,
    range: CompactRange,
    last: Option<Timestamp>,
    registry: Registry,
    records: BTreeMap<RecordId, RecordState>,
    missing: BTreeSet<RecordId>,
    checkpoints: Vec<StoredCheckpoint>,
    error: Option<String>,
}

impl Tap {
    fn observe(&mut self, e: &StoredEntry, cut: Timestamp) {
        if self.closed || self.error.is_some() {
            return;
        }
        // An entry that does not decode stays in the prefix: it is a finding of the
        // verification, and the prefix's root must cover the bytes as stored.
        let entry = Entry::from_bytes(&e.bytes).ok();
        if entry.as_ref().is_some_and(|en| en.recorded_at >= cut) {
            self.closed = true;
            return;
        }
        if let Err(err) = self
            .range
            .append(&Sha256Hasher, merkle_leaf(&entry_hash(&e.bytes)))
        {
            self.error = Some(err.to_string());
            return;
        }
        let seq = <[u8; 8]>::try_from(e.key.as_slice()).map_or(self.size, u64::from_be_bytes);
        self.size += 1;
        let Some(en) = entry else { return };
        self.last = Some(self.last.map_or(en.recorded_at, |l| l.max(en.recorded_at)));
        let ev = &en.event.event;
        let step = Step {
            seq: Seq(seq),
            recorded_at: en.recorded_at,
            placement: en.placement,
            prev_registry: en.prev_registry,
            event: ev,
        };
        let mut state = ev.record.as_ref().and_then(|r| self.records.remove(r));
        record::apply(&mut self.registry, &mut state, step);
        if let (Some(r), Some(s)) = (&ev.record, state) {
            if ev.commitment.is_some() && e.payload.is_none() {
                self.missing.insert(r.clone());
            }
            self.records.insert(r.clone(), s);
        }
    }
}

/// A [`LedgerSource`] that shows the verifier the inner source unchanged and folds the
/// prefix from the very bytes the verifier reads.
struct Tapped<'a> {
    inner: &'a dyn LedgerSource,
    cut: Timestamp,
    tap: RefCell<Tap>,
}

impl LedgerSource for Tapped<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError> {
        let c = self.inner.checkpoints()?;
        self.tap.borrow_mut().checkpoints = c.clone();
        Ok(c)
    }
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError> {
        let it = self.inner.entries()?;
        Ok(Box::new(it.inspect(move |e| {
            if let Ok(e) = e {
                self.tap.borrow_mut().observe(e, self.cut);
            }
        })))
    }
    fn key_store(&self) -> Result<Option<crate::keystore::KeyStore>, VerifyError> {
        self.inner.key_store()
    }
    // What the inner source found besides entries: a report's verification must see it too
    // (an archive's stray payload frames and header origin, damaged sled storage).
    fn stray_payloads(&self) -> Vec<crate::source::StrayPayload> {
        self.inner.stray_payloads()
    }
    fn declared_origin(&self) -> Option<String> {
        self.inner.declared_origin()
    }
    fn storage_damage(&self) -> Option<crate::source::StorageDamage> {
        self.inner.storage_damage()
    }
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        self.inner.payload_seqs(seqs)
    }
}

/// Verifies the whole ledger in `source` under `policy` and folds the prefix of entries
/// recorded before `cut`, in one pass (always from genesis: the prefix needs every entry).
///
/// Errors as [`verify`](crate::verify).
pub fn verify_as_of(
    source: &dyn LedgerSource,
    policy: &Policy,
    cut: Timestamp,
    progress: &dyn Fn(Progress),
) -> Result<AsOf, VerifyError> {
    let tapped = Tapped {
        inner: source,
        cut,
        tap: RefCell::new(Tap {
            closed: false,
            size: 0,
            range: CompactRange::new(),
            last: None,
            registry: Registry::default(),
            records: BTreeMap::new(),
            missing: BTreeSet::new(),
            checkpoints: Vec::new(),
            error: None,
        }),
    };
    let verified = crate::verify(&tapped, policy, progress)?;
    let tap = tapped.tap.into_inner();
    if let Some(message) = tap.error {
        return Err(VerifyError::Io {
            context: "growing the Merkle tree of the as-of prefix".into(),
            message,
        });
    }
    let root = tap.range.root(&Sha256Hasher);
    let checkpoint = exact_checkpoint(&tap.checkpoints, policy, &verified, tap.size, &root);
    // A destruction in the prefix recorded with a clock running ahead, exposed by a
    // correction also in the prefix, is not lawful as of the cut.
    let exposed: BTreeSet<u64> = verified
        .forward_clock_destructions()
        .iter()
        .filter(|f| f.correction < tap.size)
        .map(|f| f.destruction)
        .collect();
    let records = tap
        .records
        .into_iter()
        .map(|(id, mut state)| {
            if let Some(d) = state.destroyed.as_mut() {
                if exposed.contains(&d.seq.0) {
                    d.lawful = false;
                }
            }
            // Content gone without any lawful destruction, even a later one. Content gone
            // because of a lawful destruction after the cut was there at the cut.
            let unauthorized = verified
                .records()
                .binary_search_by(|r| r.id.cmp(&id))
                .ok()
                .and_then(|i| verified.records().get(i))
                .is_some_and(|r| r.content_missing);
            let content_missing = unauthorized && tap.missing.contains(&id);
            AsOfRecord {
                id,
                state,
                content_missing,
            }
        })
        .collect();
    Ok(AsOf {
        size: tap.size,
        root,
        last_recorded_at: tap.last,
        checkpoint,
        registry: tap.registry,
        records,
        verified,
        cut,
    })
}

/// A checkpoint of exactly `size` and `root`, of the ledger's origin, validly signed by a
/// key the policy trusts (or the genesis key when it names none): stored ones first, then
/// the ones the auditor supplied, in the order read.
fn exact_checkpoint(
    stored: &[StoredCheckpoint],
    policy: &Policy,
    verified: &Verified,
    size: u64,
    root: &Hash,
) -> Option<VerifiedCheckpoint> {
    if size == 0 {
        return None;
    }
    let supplied = policy.checkpoints.iter().map(|n| StoredCheckpoint {
        source: CheckpointSource::Supplied,
        key: None,
        note: n.as_bytes().to_vec(),
    });
    stored.iter().cloned().chain(supplied).find_map(|c| {
        let text = String::from_utf8(c.note).ok()?;
        let note = Note::parse(text.as_bytes()).ok()?;
        let cp = Checkpoint::parse_body(note.text()).ok()?;
        if cp.size != size || cp.root != *root || cp.origin != verified.origin() {
            return None;
        }
        let v = note
            .verify(&keys_for(&note, policy, verified.registry()))
            .ok()?;
        v.verified
            .iter()
            .any(|s| s.algorithm == ALG_ED25519)
            .then(|| VerifiedCheckpoint {
                note: text.clone(),
                size,
                root: *root,
                sources: vec![c.source.clone()],
            })
    })
}
