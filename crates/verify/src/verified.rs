//! The result of a verification: [`Verified`], the checkpoint it matched
//! ([`VerifiedCheckpoint`]) and the records as the replay left them ([`VerifiedRecord`]).
use crate::anchor::Anchor;
use crate::clock::{ClockCorrection, ForwardClockDestruction};
use crate::finding::{CheckpointSource, Finding};
use crate::resume::ResumeState;
use caseledger_core::record::{RecordState, Registry};
use caseledger_core::Hash;
use caseledger_core::RecordId;

/// A checkpoint the ledger was verified against: validly signed by a trusted key, same
/// origin, and the ledger's root at its size equals its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The signed note text.
    pub note: String,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Where it was found.
    pub sources: Vec<CheckpointSource>,
}

/// A record as the replay left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRecord {
    /// The record id.
    pub id: RecordId,
    /// The fold's final state.
    pub state: RecordState,
    /// Payloads are missing and the record was not lawfully destroyed.
    pub content_missing: bool,
}

/// The capability a verification grants: only [`verify`](crate::verify) constructs it.
///
/// It carries what was verified (size, root, the checkpoint, origin), every finding, and the
/// fold's final state (registry, records) that a retention report needs. It is not
/// `Deserialize` and has no public constructor.
#[derive(Clone, Debug)]
pub struct Verified {
    pub(crate) origin: String,
    pub(crate) size: u64,
    pub(crate) root: Hash,
    pub(crate) checkpoint: Option<VerifiedCheckpoint>,
    pub(crate) anchor: Anchor,
    pub(crate) self_attested: bool,
    pub(crate) findings: Vec<Finding>,
    pub(crate) registry: Registry,
    pub(crate) records: Vec<VerifiedRecord>,
    pub(crate) signatures_from: u64,
    pub(crate) incremental_from: Option<u64>,
    pub(crate) unjudged: Vec<String>,
    pub(crate) resume: Option<Box<ResumeState>>,
    pub(crate) clock_corrections: Vec<ClockCorrection>,
    pub(crate) forward_clock: Vec<ForwardClockDestruction>,
    pub(crate) content_keys: ContentKeys,
    pub(crate) outside_time: Option<crate::outside_time::OutsideTime>,
    pub(crate) attestations: Vec<crate::attest::Attestation>,
}

/// What the verifier could check of the records' content keys (the key store, or an
/// archive's content key frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKeys {
    /// No entry commits to a payload: there is nothing to check.
    NotNeeded,
    /// The key store was read and every content seal checked against it (`slots` slots).
    Checked {
        /// Slots in the key store.
        slots: u64,
    },
    /// Entries commit to payloads but there is no key store (an archive exported without
    /// `--with-content-keys`, a copy without the `keystore` file): payloads cannot be read,
    /// and key erasure could not be checked. A note, not a finding.
    Absent,
}

impl Verified {
    /// The origin named in genesis (empty if genesis did not decode).
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// Entries verified.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The Merkle root over all entries.
    pub fn root(&self) -> Hash {
        self.root
    }
    /// The newest checkpoint the ledger matched, if any.
    pub fn checkpoint(&self) -> Option<&VerifiedCheckpoint> {
        self.checkpoint.as_ref()
    }
    /// The ledger's close (its first `ledger_closed`: seq, recorded_at, admin, reason), if
    /// the replay met one: the ledger's life ended there (staleness is judged from it, not
    /// from today). Entries after it are `entry_after_close` findings.
    pub fn closed(&self) -> Option<&caseledger_core::record::Closure> {
        self.registry.closed.as_ref()
    }
    /// What the verdict rests on, and up to which size: decided from what the relying party
    /// supplied and what of it held. Without an anchor ([`Anchor::is_anchored`]), a clean
    /// result shows only that the ledger agrees with itself.
    pub fn anchor(&self) -> &Anchor {
        &self.anchor
    }
    /// Whether checkpoints were checked with the key genesis names (the auditor gave none).
    pub fn checkpoint_key_self_attested(&self) -> bool {
        self.self_attested
    }
    /// Every finding, by seq (ledger-wide findings last).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
    /// No findings.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
    /// The fold's ledger-wide state (actors, settings, origin, ledger key).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// Records sorted by id, with their final states.
    pub fn records(&self) -> &[VerifiedRecord] {
        &self.records
    }
    /// Author signatures were checked for entries from this seq on: 0 for a full
    /// verification, the resume point for an incremental one.
    pub fn signatures_checked_from(&self) -> u64 {
        self.signatures_from
    }
    /// `Some(n)` when this is an incremental verification ([`verify_incremental`](crate::verify_incremental)) that
    /// read only the entries from seq `n` on, trusting the auditor's state for the prefix.
    ///
    /// Such a result does **not** cover the payloads of entries before `n`: a payload
    /// removed or altered there since the auditor's last full verification goes unseen
    /// (except the payloads of a record destroyed at or after `n`, which are checked to be
    /// gone). Run a full [`verify`](crate::verify) periodically. `None` for a full verification, including
    /// one [`verify_incremental`](crate::verify_incremental) fell back to.
    pub fn incremental_from(&self) -> Option<u64> {
        self.incremental_from
    }
    /// Validly signed checkpoints (note texts) of a size below the resume point whose root
    /// an incremental verification cannot recompute: the auditor's state holds the roots at
    /// the checkpoint sizes it verified before and at the boundaries of its Merkle frontier,
    /// not the whole prefix. They are neither confirmed nor a finding; a full verification
    /// judges them. Always empty for a full verification.
    pub fn unjudged_checkpoints(&self) -> &[String] {
        &self.unjudged
    }
    /// The state an incremental verification resumes from: kept when the policy asked for
    /// it ([`Policy::keep_resume_state`](crate::Policy::keep_resume_state)) and there is no finding; `None` otherwise.
    pub fn resume_state(&self) -> Option<&ResumeState> {
        self.resume.as_deref()
    }
    /// Every `clock_corrected` entry read (in seq order): when, by whom, how far back.
    pub fn clock_corrections(&self) -> &[ClockCorrection] {
        &self.clock_corrections
    }
    /// Destructions recorded with a clock running ahead and unlawful at the corrected
    /// date (each also a `destruction_under_forward_clock` finding; the record's
    /// destruction is reported as not lawful).
    pub fn forward_clock_destructions(&self) -> &[ForwardClockDestruction] {
        &self.forward_clock
    }
    /// What the outside time showed, when the relying party named witnesses or TSA roots
    /// ([`crate::outside_time`]): the policy in words, the sources, the anchor lag.
    pub fn outside_time(&self) -> Option<&crate::outside_time::OutsideTime> {
        self.outside_time.as_ref()
    }

    /// What each destruction's time rests on ([`crate::attest`]), in record order.
    pub fn attestations(&self) -> &[crate::attest::Attestation] {
        &self.attestations
    }

    /// The attestation of the destruction at `seq`, if the ledger destroyed a record there.
    pub fn attestation(&self, seq: u64) -> Option<&crate::attest::Attestation> {
        self.attestations.iter().find(|a| a.destruction == seq)
    }
    /// What could be checked of the records' content keys.
    pub fn content_keys(&self) -> ContentKeys {
        self.content_keys
    }
}
