//! The evidence bundle of one record ([`caseledger_core::bundle`]): its entries with their
//! payloads up to a `record_head` the export appends, the administration entries that
//! establish its authors, and an inclusion proof of each in one signed checkpoint.
//!
//! Nothing here trusts derived state (docs/DESIGN v2 principle 3): the record's entries are
//! found by reading every entry and keeping those whose own record id is the record, never
//! through the `records` tree (the state row's chain start, or an old ledger's index rows),
//! and the `record_head` states what those entries say. A rolled-back state row cannot
//! drop an entry from a bundle (the head disagrees with it and is refused), and a planted
//! row cannot put another client's entry in it.

use crate::backend::{Backend, Ops, T};
use crate::error::StoreError;
use crate::ledger::Ledger;
use caseledger_core::bundle::{Base64, Bundle, BundleEntry, BUNDLE_FORMAT};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::event::{Entry, Event, EventKind, LEDGER_ACTOR};
use caseledger_core::keys::KeyError;
use caseledger_core::note::{Note, NoteSigner};
use caseledger_core::record::Violation;
use caseledger_core::{ActorId, RecordId, Seq};

/// How many times a `record_head` is recomputed when an append to the same record slipped
/// in between reading the record and appending its head.
const HEAD_ATTEMPTS: usize = 3;

/// Why a bundle could not be exported. Nothing is written, except the `record_head` entry
/// and the checkpoint once they are appended and signed (both true statements about the
/// ledger).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The ledger has no genesis (no origin, no ledger key).
    #[error("the ledger has no genesis")]
    NoGenesis,
    /// The record has no entry in the ledger.
    #[error("no such record")]
    NoSuchRecord,
    /// The signer given is not the ledger key named in genesis: only the ledger key writes
    /// a `record_head`.
    #[error("the signer's key is not this ledger's ledger key")]
    WrongLedgerKey,
    /// The ledger was closed (`ledger_closed`): an export appends a `record_head`, and
    /// nothing may be appended after the close. Bundles exported before it stay valid.
    #[error("the ledger was closed at seq {closed_at}: an export appends a record_head, so a closed ledger exports no new bundle (bundles exported before the close stay valid)")]
    Closed {
        /// The `ledger_closed` entry.
        closed_at: u64,
    },
    /// The checkpoint ends before the record's `record_head`.
    #[error("the checkpoint (size {size}) does not cover the record's head at seq {head}")]
    NotCovered {
        /// The checkpoint's size.
        size: u64,
        /// The `record_head`'s seq.
        head: u64,
    },
    /// The store refused the `record_head`: the record's entries (read from the entry
    /// bytes) disagree with the store's own record state, or appends to the record kept
    /// slipping in.
    #[error("record_head refused: {0}")]
    HeadRefused(#[source] StoreError),
    /// Signing the checkpoint failed (I/O).
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] StoreError),
    /// An entry below the checkpoint's size is not in the ledger (a corrupt ledger).
    #[error("seq {seq}: entry missing from the ledger")]
    EntryMissing {
        /// The entry.
        seq: u64,
    },
    /// Genesis names no ledger key.
    #[error("no ledger key in genesis")]
    NoLedgerKey,
    /// The origin cannot name a note verifier key.
    #[error("origin {origin}: {error}")]
    BadOrigin {
        /// The origin.
        origin: String,
        /// Why.
        #[source]
        error: KeyError,
    },
    /// Reading the ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Ledger {
    /// Exports the evidence bundle of `record`, proving it complete: appends a
    /// `record_head` entry (author `ledger`, signed with `ledger`, the ledger key) stating
    /// the record's entries as its entry bytes say, has a checkpoint covering it, and
    /// builds the bundle ([`Ledger::bundle_at`]) of the record's entries up to that head.
    /// A verifier then checks that the bundle holds ordinals 1..n ending in the head.
    ///
    /// `caseledger export` writes [`Bundle::to_json`] of it after checking it with
    /// `caseledger-verify`'s `verify_bundle` (this crate cannot depend on the verifier):
    /// an embedding record system should do the same before handing a bundle out.
    pub fn export_bundle(
        &self,
        record: &RecordId,
        ledger: &NoteSigner,
    ) -> Result<Bundle, ExportError> {
        let ledger_key = self.ledger_key().ok_or(ExportError::NoLedgerKey)?;
        if ledger.signing_key().public_key() != ledger_key {
            return Err(ExportError::WrongLedgerKey);
        }
        if let Some(c) = self.registry().closed {
            return Err(ExportError::Closed { closed_at: c.seq.0 });
        }
        let head = self.append_record_head(record, ledger)?;
        let (size, checkpoint) = self.checkpoint_covering(ledger, head)?;
        if head.0 >= size {
            return Err(ExportError::NotCovered { size, head: head.0 });
        }
        self.bundle_at(record, head, &checkpoint)
    }

    /// The checkpoint a new bundle's proofs lead to: the newest seal, which covers `head`
    /// (the `record_head` was appended as a sealed commit, and `newest_seal` hands out only
    /// durable seals). A ledger appended unsealed (benchmarks, test fixtures only) has no
    /// such seal: the head is sealed here, from the root the store derived from entry bytes.
    fn checkpoint_covering(
        &self,
        ledger: &NoteSigner,
        head: Seq,
    ) -> Result<(u64, String), ExportError> {
        if let Some((size, note)) = self.newest_seal()? {
            if size > head.0 {
                return Ok((size, note));
            }
        }
        let origin = self.origin().ok_or(ExportError::NoGenesis)?;
        self.flush()?;
        let size = self.head().size;
        let seal = crate::checkpoints::sign_seal(
            origin.as_str(),
            ledger.signing_key(),
            size,
            self.root(),
        )?;
        let mut one = Ops::default();
        one.put(T::Checkpoints, &size.to_be_bytes(), seal.note.as_bytes());
        self.trees.commit(&one)?;
        self.flush()?;
        self.append_log(&seal.note)
            .map_err(ExportError::Checkpoint)?;
        Ok((size, seal.note.to_string()))
    }

    /// Appends the record's `record_head`: its entry count and last seq, from the entries
    /// whose own record id is `record`. The store's fold refuses a head that disagrees with
    /// its record state, so a tampered state row (or index) stops the export here. Retried
    /// when another append to the record got in between.
    fn append_record_head(
        &self,
        record: &RecordId,
        ledger: &NoteSigner,
    ) -> Result<Seq, ExportError> {
        let origin = self.origin().ok_or(ExportError::NoGenesis)?;
        let author = ActorId::new(LEDGER_ACTOR)
            .map_err(|e| StoreError::corrupt(format!("ledger actor id: {e}"), None))?;
        let mut last_err = None;
        for _ in 0..HEAD_ATTEMPTS {
            let own = self.own_entries(record, self.head().size)?;
            let Some(last) = own.last().copied() else {
                return Err(ExportError::NoSuchRecord);
            };
            let kind = EventKind::RecordHead {
                entries: own.len() as u64,
                last,
            };
            // Signed now by the ledger's own clock (the one that stamps `recorded_at`), dated
            // the ledger day of that instant.
            let now = (self.clock)();
            let on = self
                .registry()
                .ledger_date(now)
                .map_err(|e| StoreError::corrupt(format!("ledger date: {e}"), None))?;
            let mut event = Event::new(Some(record.clone()), author.clone(), kind, on);
            event.signed_at = now;
            let signed = event
                .sign(origin.as_str(), ledger.signing_key())
                .map_err(|e| StoreError::corrupt(format!("record_head: {e}"), None))?;
            match self.append(signed, None) {
                Ok(receipt) => return Ok(receipt.seq),
                Err(e @ StoreError::Refused(Violation::RecordHeadMismatch { .. })) => {
                    last_err = Some(e);
                }
                Err(e) => return Err(ExportError::HeadRefused(e)),
            }
        }
        Err(ExportError::HeadRefused(last_err.unwrap_or_else(|| {
            StoreError::corrupt("record_head was never attempted", None)
        })))
    }

    /// The seqs below `size` of the entries whose own record id is `record`, read from the
    /// entry bytes (never from the `records` tree).
    fn own_entries(&self, record: &RecordId, size: u64) -> Result<Vec<Seq>, ExportError> {
        let mut out = Vec::new();
        for seq in 0..size {
            if self.decoded(seq)?.event.event.record.as_ref() == Some(record) {
                out.push(Seq(seq));
            }
        }
        Ok(out)
    }

    fn decoded(&self, seq: u64) -> Result<Entry, ExportError> {
        let bytes = self.stored_entry(seq)?;
        Ok(Entry::from_bytes(&bytes).map_err(|e| {
            StoreError::corrupt(format!("entry does not decode: {e}"), Some(Seq(seq)))
        })?)
    }

    /// The bundle of `record` against `checkpoint` (a signed note of this ledger): every
    /// entry whose own record id is `record` up to and including `head` (the `record_head`
    /// an export appended), with its payload (none once destroyed) and, when this ledger
    /// was opened with the KEK, its entry key; every administration entry below the
    /// checkpoint's size; each with its inclusion proof; and the ledger key as a note
    /// verifier key. [`Ledger::export_bundle`] uses it; given the head and checkpoint of an
    /// earlier export it rebuilds that bundle byte for byte. It appends nothing and does
    /// not judge the bundle: a `head` that is not the record's `record_head` gives a bundle
    /// the verifier calls incomplete.
    pub fn bundle_at(
        &self,
        record: &RecordId,
        head: Seq,
        checkpoint: &str,
    ) -> Result<Bundle, ExportError> {
        let origin = self.origin().ok_or(ExportError::NoGenesis)?;
        let size = checkpoint_size(checkpoint)?;
        if head.0 >= size {
            return Err(ExportError::NotCovered { size, head: head.0 });
        }
        let mut admin_entries = Vec::new();
        let mut entries = Vec::new();
        for seq in 0..size {
            let bytes = self.stored_entry(seq)?;
            let entry = Entry::from_bytes(&bytes).map_err(|e| {
                StoreError::corrupt(format!("entry does not decode: {e}"), Some(Seq(seq)))
            })?;
            match &entry.event.event.record {
                None => admin_entries.push(self.bundle_entry(seq, bytes, size, false)?),
                Some(r) if r == record && seq <= head.0 => {
                    entries.push(self.bundle_entry(seq, bytes, size, true)?);
                }
                Some(_) => {}
            }
        }
        if entries.is_empty() {
            return Err(ExportError::NoSuchRecord);
        }
        let ledger_key = self
            .ledger_key()
            .ok_or(ExportError::NoLedgerKey)?
            .to_note_vkey(origin.as_str())
            .map_err(|error| ExportError::BadOrigin {
                origin: origin.as_str().to_owned(),
                error,
            })?;
        Ok(Bundle {
            format: BUNDLE_FORMAT.to_owned(),
            origin: origin.as_str().to_owned(),
            ledger_key,
            checkpoint: checkpoint.to_owned(),
            record: record.clone(),
            admin_entries,
            entries,
        })
    }

    fn stored_entry(&self, seq: u64) -> Result<Vec<u8>, ExportError> {
        self.entry_bytes(Seq(seq))?
            .ok_or(ExportError::EntryMissing { seq })
    }

    /// One bundle entry: the stored bytes, the payload when asked for and kept, the proof.
    fn bundle_entry(
        &self,
        seq: u64,
        bytes: Vec<u8>,
        size: u64,
        with_payload: bool,
    ) -> Result<BundleEntry, ExportError> {
        let payload = if with_payload {
            self.stored_payload(Seq(seq))?.map(Base64)
        } else {
            None
        };
        // The entry's own key, when this ledger was opened with the KEK: the bundle then
        // lets its holder read exactly these payloads.
        let key = match &payload {
            Some(_) => match self.entry_key(Seq(seq)) {
                Ok(k) => k.map(|k| Base64(k.as_bytes().to_vec())),
                Err(StoreError::NoContentKey) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let proof = self.inclusion_proof(Seq(seq), size)?;
        Ok(BundleEntry {
            seq,
            entry: Base64(bytes),
            payload,
            key,
            proof: proof.into_iter().map(|h| Base64(h.0.to_vec())).collect(),
        })
    }
}

/// The size a checkpoint note names.
fn checkpoint_size(note: &str) -> Result<u64, StoreError> {
    let corrupt = |e: String| StoreError::corrupt(format!("checkpoint: {e}"), None);
    let n = Note::parse(note.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    Checkpoint::parse_body(n.text())
        .map(|c| c.size)
        .map_err(|e| corrupt(e.to_string()))
}
