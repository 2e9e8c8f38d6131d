//! Findings: what the verifier concluded is wrong, as data.
//!
//! A finding names its [`FindingKind`] (a stable snake_case name, part of the report
//! format), the seq of the entry at fault when there is one, the record when there is
//! one, and the evidence. Evidence holds hashes, key ids, checkpoint note texts and the
//! fold's own words, never payload content.

use caseledger_core::record::Violation;
use caseledger_core::RecordId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of fault the verifier names. The serde names (snake_case) are stable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A stored key is not an 8-byte big-endian seq.
    MalformedKey,
    /// Entry bytes do not decode (or decode to a value that re-encodes differently).
    MalformedEntry,
    /// Entry bytes decode but bytes are left over.
    TrailingBytes,
    /// The entry declares a format version this verifier does not read.
    UnsupportedVersion,
    /// A seq is missing from the stored sequence (an entry was deleted, or keys skip).
    SeqGap,
    /// The seq inside an entry is not the position it is stored at (reordering, insertion).
    SeqMismatch,
    /// An entry's `prev` is not the hash of the entry stored before it.
    ChainBreak,
    /// An author signature does not verify (or the author's key is not a valid key).
    BadSignature,
    /// The author is unknown, revoked, or their role may not write this kind.
    UnauthorizedAuthor,
    /// The same signed event (nonce) appears twice.
    ReplayedEvent,
    /// `recorded_at` goes backwards.
    RecordedAtRegressed,
    /// An event on a record after its destruction.
    EventAfterDestruction,
    /// A destruction before retention ran out, under a hold, or of an open record.
    UnlawfulDestruction,
    /// Any other violation of the record state machine (see the evidence).
    StateViolation,
    /// A stored payload does not match its entry's commitment: falsified content.
    CommitmentMismatch,
    /// A payload is missing and its record was not lawfully destroyed: unauthorized destruction.
    PayloadMissing,
    /// Payloads are still present for a record whose destruction was recorded.
    PayloadAfterDestruction,
    /// A payload is stored for an entry that commits to none.
    UnexpectedPayload,
    /// An archive payload frame that is not its entry's one payload frame, right after the
    /// entry's frame: a second frame for the entry, one out of order, one after the last
    /// entry or the checkpoints, one for a seq the archive holds no entry at. `archive
    /// import` refuses such an archive. (A stray frame of a destroyed record's entry is
    /// `payload_after_destruction`; of an entry that commits to none, `unexpected_payload`.)
    StrayPayload,
    /// An archive's header names another origin than its genesis entry.
    ArchiveOriginMismatch,
    /// A checkpoint note or body does not parse, or its stored key disagrees with its size.
    MalformedCheckpoint,
    /// A checkpoint carries a signature line from a trusted key that does not verify.
    CheckpointBadSignature,
    /// A checkpoint has no valid signature from any trusted key.
    CheckpointUntrustedKey,
    /// A checkpoint names another origin than the ledger's.
    CheckpointWrongOrigin,
    /// A checkpoint is larger than the ledger: entries were truncated or rolled back.
    Truncation,
    /// The ledger's Merkle root at a checkpoint's size differs from the checkpoint's: rewrite.
    RootMismatch,
    /// Two validly signed checkpoints of the same origin and size with different roots.
    SplitView,
    /// A witness cosignature from a trusted witness key does not verify.
    CosignatureBadSignature,
    /// The newest checkpoint has fewer valid cosignatures than the witness policy requires.
    WitnessQuorumNotMet,
    /// The ledger key named in genesis is not among the keys the auditor trusts.
    LedgerKeyNotTrusted,
    /// The origin named in genesis is not the origin the auditor expects.
    OriginMismatch,
    /// The policy requires a checkpoint and none was verified.
    NoCheckpoint,
    /// An evidence bundle's inclusion proof does not lead to its checkpoint's root.
    BadInclusionProof,
    /// An evidence bundle is internally inconsistent (wrong record, duplicate or missing parts).
    BundleInconsistent,
    /// Entries after the newest checkpoint that is validly signed by the ledger key and
    /// matches the ledger (the store seals every commit): appended, re-chained or restored
    /// by someone without the key, or their seals were removed. `seq` is the first.
    UnsealedTail,
    /// An evidence bundle does not prove its record complete: an entry of the record is
    /// missing (its ordinal is skipped), or the bundle does not end in a `record_head` that
    /// states the entries before it.
    BundleIncomplete,
    /// The storage engine reported corrupted data: the tree named could not be read past
    /// the last entry read intact (or the database could not be opened at all). What was
    /// not read was not verified.
    StorageDamaged,
    /// An entry's content seal names a key store slot that is missing, malformed or names
    /// another record, or a live slot whose wrapped key does not hash to the seal's
    /// `wrapped_key`: the record key was replaced or damaged.
    ContentKeyMismatch,
    /// The key store slot of a record was erased, but the record has no lawful
    /// destruction: unauthorized destruction (crypto-shredding without a destruction).
    ContentKeyErased,
    /// A record was destroyed, but a key store slot of it is still live: the destruction
    /// did not destroy (or the slot was restored from a copy).
    ContentKeyNotErased,
    /// A destruction recorded with a clock running ahead (its `recorded_at` is later than a
    /// later `clock_corrected` entry's) is unlawful at the corrected date.
    DestructionUnderForwardClock,
    /// An entry claims to be recorded after the verifier's own clock (plus the genesis
    /// skew): the ledger claims a time in the verifier's future.
    ClockAhead,
    /// An entry claims to be recorded after outside time the relying party trusts saw it
    /// (a witness's cosignature or a TSA token on a checkpoint covering it, under the
    /// quorum rule of [`crate::outside_time`]), beyond the skew: the ledger clock ran
    /// ahead. "Witness" here is any outside time source: a cosigning witness or a TSA.
    ClockAheadOfWitness,
    /// The newest outside time is longer before the head's `recorded_at` than the relying
    /// party's `--max-staleness` (or there is none).
    AnchorStale,
    /// An entry's store-assigned `prev_registry` is not the seq of the latest registry
    /// entry (genesis, enrolment, revocation, close) before it: a registry entry was
    /// removed, inserted or moved, or the pointer forged. `seq` is the entry carrying it.
    PrevRegistryMismatch,
    /// An entry after the ledger's `ledger_closed`: the ledger was written to after its
    /// close. `seq` is the entry.
    EntryAfterClose,
    /// A destruction's time citation (format 4) does not hold: its checkpoint is not the
    /// ledger's (another origin, a size beyond the destruction, a root that is not the
    /// ledger's at that size), or its cosignature by a witness the relying party named, or
    /// its token under the relying party's TSA roots, does not verify over the cited body.
    /// `seq` is the destruction.
    BadTimeCitation,
}

impl FindingKind {
    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::MalformedKey => "malformed_key",
            FindingKind::MalformedEntry => "malformed_entry",
            FindingKind::TrailingBytes => "trailing_bytes",
            FindingKind::UnsupportedVersion => "unsupported_version",
            FindingKind::SeqGap => "seq_gap",
            FindingKind::SeqMismatch => "seq_mismatch",
            FindingKind::ChainBreak => "chain_break",
            FindingKind::BadSignature => "bad_signature",
            FindingKind::UnauthorizedAuthor => "unauthorized_author",
            FindingKind::ReplayedEvent => "replayed_event",
            FindingKind::RecordedAtRegressed => "recorded_at_regressed",
            FindingKind::EventAfterDestruction => "event_after_destruction",
            FindingKind::UnlawfulDestruction => "unlawful_destruction",
            FindingKind::StateViolation => "state_violation",
            FindingKind::CommitmentMismatch => "commitment_mismatch",
            FindingKind::PayloadMissing => "payload_missing",
            FindingKind::PayloadAfterDestruction => "payload_after_destruction",
            FindingKind::UnexpectedPayload => "unexpected_payload",
            FindingKind::StrayPayload => "stray_payload",
            FindingKind::ArchiveOriginMismatch => "archive_origin_mismatch",
            FindingKind::MalformedCheckpoint => "malformed_checkpoint",
            FindingKind::CheckpointBadSignature => "checkpoint_bad_signature",
            FindingKind::CheckpointUntrustedKey => "checkpoint_untrusted_key",
            FindingKind::CheckpointWrongOrigin => "checkpoint_wrong_origin",
            FindingKind::Truncation => "truncation",
            FindingKind::RootMismatch => "root_mismatch",
            FindingKind::SplitView => "split_view",
            FindingKind::CosignatureBadSignature => "cosignature_bad_signature",
            FindingKind::WitnessQuorumNotMet => "witness_quorum_not_met",
            FindingKind::LedgerKeyNotTrusted => "ledger_key_not_trusted",
            FindingKind::OriginMismatch => "origin_mismatch",
            FindingKind::NoCheckpoint => "no_checkpoint",
            FindingKind::BadInclusionProof => "bad_inclusion_proof",
            FindingKind::BundleInconsistent => "bundle_inconsistent",
            FindingKind::BundleIncomplete => "bundle_incomplete",
            FindingKind::StorageDamaged => "storage_damaged",
            FindingKind::UnsealedTail => "unsealed_tail",
            FindingKind::ContentKeyMismatch => "content_key_mismatch",
            FindingKind::ContentKeyErased => "content_key_erased",
            FindingKind::ContentKeyNotErased => "content_key_not_erased",
            FindingKind::DestructionUnderForwardClock => "destruction_under_forward_clock",
            FindingKind::ClockAhead => "clock_ahead",
            FindingKind::ClockAheadOfWitness => "clock_ahead_of_witness",
            FindingKind::AnchorStale => "anchor_stale",
            FindingKind::PrevRegistryMismatch => "prev_registry_mismatch",
            FindingKind::EntryAfterClose => "entry_after_close",
            FindingKind::BadTimeCitation => "bad_time_citation",
        }
    }

    /// The finding kind a fold violation becomes.
    pub fn of_violation(v: &Violation) -> FindingKind {
        match v {
            Violation::UnknownAuthor(_)
            | Violation::AuthorRevoked(_)
            | Violation::RoleNotAllowed { .. } => FindingKind::UnauthorizedAuthor,
            Violation::Replay { .. } => FindingKind::ReplayedEvent,
            Violation::RecordedAtRegressed { .. } => FindingKind::RecordedAtRegressed,
            Violation::AfterDestruction { .. } => FindingKind::EventAfterDestruction,
            Violation::AfterClose { .. } => FindingKind::EntryAfterClose,
            Violation::PrevRegistryMismatch { .. } => FindingKind::PrevRegistryMismatch,
            Violation::DestructionOfOpenRecord(_)
            | Violation::DestructionBeforeRetentionEnd { .. }
            | Violation::DestructionUnderHold { .. } => FindingKind::UnlawfulDestruction,
            _ => FindingKind::StateViolation,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a checkpoint came from.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointSource {
    /// The ledger's `checkpoints` tree (or the archive's checkpoint frames).
    Stored,
    /// The ledger's `checkpoints.log` file.
    Log,
    /// Supplied by the auditor.
    Supplied,
    /// Carried by an evidence bundle.
    Bundle,
}

/// The evidence of a finding. Every field is optional; none ever holds payload content.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// What was found, in words.
    pub message: String,
    /// The expected value (a hash in hex, a seq, a key), when there is one.
    pub expected: Option<String>,
    /// The value found.
    pub found: Option<String>,
    /// The key concerned (a verifier key string or hex public key).
    pub key: Option<String>,
    /// The checkpoints concerned (signed note texts), with where each came from.
    pub checkpoints: Vec<(CheckpointSource, String)>,
}

/// One fault, with its kind, place and evidence.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// What kind of fault.
    pub kind: FindingKind,
    /// The entry at fault (its position in the ledger), when there is one.
    pub seq: Option<u64>,
    /// The record concerned, when there is one.
    pub record: Option<RecordId>,
    /// The evidence.
    pub evidence: Evidence,
}

impl Finding {
    /// A finding with a message and nothing else.
    pub fn new(
        kind: FindingKind,
        seq: Option<u64>,
        record: Option<RecordId>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            seq,
            record,
            evidence: Evidence {
                message: message.into(),
                ..Evidence::default()
            },
        }
    }

    /// Adds expected and found values.
    pub fn expected_found(
        mut self,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Finding {
        self.evidence.expected = Some(expected.to_string());
        self.evidence.found = Some(found.to_string());
        self
    }

    /// Adds the key concerned.
    pub fn with_key(mut self, key: impl fmt::Display) -> Finding {
        self.evidence.key = Some(key.to_string());
        self
    }

    /// Adds a checkpoint concerned, once per place it was found.
    pub fn cite(mut self, sources: &[CheckpointSource], note: &str) -> Finding {
        for s in sources {
            self = self.with_checkpoint(s.clone(), note);
        }
        self
    }

    /// Adds a checkpoint concerned.
    pub fn with_checkpoint(mut self, source: CheckpointSource, note: impl Into<String>) -> Finding {
        self.evidence.checkpoints.push((source, note.into()));
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(s) = self.seq {
            write!(f, " at seq {s}")?;
        }
        if let Some(r) = &self.record {
            write!(f, " (record {r})")?;
        }
        write!(f, ": {}", self.evidence.message)?;
        if let (Some(e), Some(x)) = (&self.evidence.expected, &self.evidence.found) {
            write!(f, " (expected {e}, found {x})")?;
        }
        if let Some(k) = &self.evidence.key {
            write!(f, " [key {k}]")?;
        }
        Ok(())
    }
}
