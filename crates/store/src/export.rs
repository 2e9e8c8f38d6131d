//! The evidence bundle of one record ([`caseledger_core::bundle`]): its entries with their
//! payloads, the administration entries that establish its authors, and an inclusion proof
//! of each in one signed checkpoint.

use crate::error::StoreError;
use crate::ledger::Ledger;
use caseledger_core::bundle::{Base64, Bundle, BundleEntry, BUNDLE_FORMAT};

use caseledger_core::event::Entry;
use caseledger_core::keys::KeyError;
use caseledger_core::{RecordId, Seq};

/// Which checkpoint a bundle's proofs lead to. Export never signs: every commit is sealed,
/// so the newest seal covers every entry appended through the store.
#[derive(Clone, Copy, Debug)]
pub enum BundleCheckpoint {
    /// The newest stored checkpoint (the newest seal); it must cover the record's last entry.
    Latest,
}

/// Why a bundle could not be exported. Nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The ledger has no genesis (no origin, no ledger key).
    #[error("the ledger has no genesis")]
    NoGenesis,
    /// The record has no entry in the ledger.
    #[error("no such record")]
    NoSuchRecord,
    /// [`BundleCheckpoint::Latest`] and no checkpoint is stored.
    #[error("no checkpoint stored")]
    NoCheckpoint,
    /// [`BundleCheckpoint::Latest`] and the newest checkpoint ends before the record's
    /// last entry.
    #[error("the newest checkpoint (size {size}) does not cover the record")]
    NotCovered {
        /// The newest checkpoint's size.
        size: u64,
    },
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
    /// The evidence bundle of `record`: every entry of the record with its payload (none
    /// once destroyed), every administration entry (genesis, enrolments, revocations), each
    /// with its inclusion proof in the checkpoint chosen by `at`, and the ledger key as a
    /// note verifier key. `caseledger export` writes [`Bundle::to_json`] of it; auditors
    /// check it with `caseledger-verify`'s `verify_bundle`. The record's entries after the
    /// checkpoint are left out.
    pub fn export_bundle(
        &self,
        record: &RecordId,
        at: BundleCheckpoint,
    ) -> Result<Bundle, ExportError> {
        let origin = self.origin().ok_or(ExportError::NoGenesis)?;
        let seqs = self.record_entries(record)?;
        let last = seqs.last().ok_or(ExportError::NoSuchRecord)?.0;
        let (size, checkpoint) = match at {
            BundleCheckpoint::Latest => {
                self.latest_checkpoint()?.ok_or(ExportError::NoCheckpoint)?
            }
        };
        if last >= size {
            return Err(ExportError::NotCovered { size });
        }
        let mut admin_entries = Vec::new();
        for seq in 0..size {
            let bytes = self.stored_entry(seq)?;
            let entry = Entry::from_bytes(&bytes).map_err(|e| {
                StoreError::corrupt(format!("entry does not decode: {e}"), Some(Seq(seq)))
            })?;
            if entry.event.event.record.is_none() {
                admin_entries.push(self.bundle_entry(seq, bytes, size, false)?);
            }
        }
        let entries = seqs
            .iter()
            .filter(|s| s.0 < size)
            .map(|s| self.bundle_entry(s.0, self.stored_entry(s.0)?, size, true))
            .collect::<Result<Vec<_>, _>>()?;
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
            checkpoint,
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
