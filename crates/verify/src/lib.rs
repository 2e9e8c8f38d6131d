//! caseledger-verify: replays a ledger, an archive or an evidence bundle, trusting nothing
//! it reads, and names every fault as a [`Finding`].
//!
//! * [`verify`] streams a [`LedgerSource`] ([`SledSource`], [`ArchiveSource`],
//!   [`MemorySource`]) and returns a [`Verified`]: the only way to get one.
//! * [`bundle`]: the evidence bundle format for one record, and [`bundle::verify_bundle`].
//! * [`asof`]: [`asof::verify_as_of`] verifies the whole ledger and, in the same pass,
//!   folds the prefix recorded before a cut (the end of a report's day): an [`asof::AsOf`].
//! * [`report`]: the retention report model, built only from an [`asof::AsOf`], its
//!   canonical JSON and its signatures; [`manifest`]: the signed list of a report's files.
//!
//! # What [`verify`] checks
//!
//! For each stored entry in key order: the key is the next seq (else `seq_gap`); the bytes
//! decode canonically (`malformed_entry`, `trailing_bytes`, `unsupported_version`); the
//! entry's seq is its key (`seq_mismatch`); `prev` is the hash of the stored bytes before it
//! (`chain_break`); the author's signature under the key in force at that point
//! (`bad_signature`, batch-verified across cores); the record state machine of
//! `caseledger_core::record` (`unauthorized_author`, `replayed_event`,
//! `recorded_at_regressed`, `event_after_destruction`, `unlawful_destruction`,
//! `state_violation`); the payload against its commitment (`commitment_mismatch`), missing
//! payloads against lawful destruction (`payload_missing`), payloads left after destruction
//! (`payload_after_destruction`). An archive's payload frames are held to `archive import`'s
//! rule (one frame, right after its entry's frame): any other is `stray_payload` (or, for a
//! destroyed record's entry, `payload_after_destruction`; for an entry that commits to none,
//! `unexpected_payload`), and a header naming another origin than genesis is
//! `archive_origin_mismatch`. Each content seal against the key store
//! ([`LedgerSource::key_store`], read by the verifier's own parser, [`keystore`]):
//! `content_key_mismatch`, `content_key_erased` (erased without a lawful destruction),
//! `content_key_not_erased` (live after a destruction); with no key store, nothing, and the
//! result says so ([`ContentKeys::Absent`]). The clock ([`clock`]): every `clock_corrected`
//! is a fact of the result; a destruction recorded with a clock running ahead and unlawful
//! at a later correction's date is `destruction_under_forward_clock`; entries recorded after
//! the verifier's clock ([`Policy::now`]) plus the genesis skew are `clock_ahead`. Then
//! every checkpoint (stored, in `checkpoints.log`,
//! supplied by the auditor): signature by a trusted key, origin, size within the ledger
//! (`truncation`), root at its size (`root_mismatch`), conflicting roots (`split_view`),
//! witness cosignatures and quorum. Outside time ([`outside_time`]), when the relying party
//! names witnesses or TSA roots: an entry recorded after the time a named witness or TSA
//! gave a checkpoint covering it (under the quorum rule, beyond the skew) is
//! `clock_ahead_of_witness`; the newest outside time too long before the head's
//! `recorded_at` is `anchor_stale` (with [`Policy::max_staleness`]); the anchor lag is
//! reported ([`Verified::outside_time`]).
//! Each destruction's time citation (format 4) is judged under the same policy
//! ([`attest`]): what its lawfulness rests on (attested, the ledger's clock, claimed dates
//! only) is on [`Verified::attestations`], and a citation that is not the ledger's or does
//! not verify is `bad_time_citation`.
//!
//! # What a verdict rests on
//!
//! Every result names its [`Anchor`]: a checkpoint the auditor supplied that the ledger
//! matches (up to its size), a witness quorum met on a matching checkpoint, a ledger key the
//! relying party supplied, or nothing: checkpoints checked only with the key genesis names
//! are self-attested, since whoever holds that key can re-sign any history.
//!
//! # Incremental verification
//!
//! [`verify_incremental`] verifies only what was appended after the auditor's own
//! [`ResumeState`] (kept from an earlier run with no finding, see
//! [`Policy::keep_resume_state`] and the [`resume`] module for its file format): it reads
//! entries from the state's size `n` on, continues the fold and the Merkle tree from the
//! state, and checks every checkpoint at or after `n` against roots recomputed from the
//! state's frontier. It cannot re-check the payloads of entries before `n`
//! ([`Verified::incremental_from`] says a result is incremental): run a full [`verify`]
//! periodically.
//!
//! A checkpoint the auditor holds is no resume point: give it in [`Policy::checkpoints`],
//! and [`verify`] judges the ledger against it.
//!
//! Memory is bounded by the number of records plus compact per-entry maps (record ordinal
//! per seq, 4 bytes; whether the entry commits to a payload, 1 byte; nonce → seq for replay
//! detection, 24 to 36 bytes in a compact open-addressing index). A kept [`ResumeState`]
//! holds 21 bytes per entry.
//!
//! # Example
//!
//! ```
//! use caseledger_core::event::{Entry, Event, EventKind, LedgerSettings, ShortText, FORMAT_VERSION};
//! use caseledger_core::keys::SigningKey;
//! use caseledger_core::{ActorId, Date, EntryHash, Nonce, Seq, Timestamp};
//! use caseledger_verify::{verify, MemorySource, Policy, VerifyError};
//!
//! // Nothing to verify is an error, never a success.
//! let empty = MemorySource::default();
//! assert!(matches!(verify(&empty, &Policy::default(), &|_| {}), Err(VerifyError::Empty(_))));
//!
//! // A one-entry ledger: genesis, signed by its admin.
//! let admin = SigningKey::from_seed(&[1; 32]);
//! let ledger_key = SigningKey::from_seed(&[2; 32]);
//! let event = Event {
//!     record: None,
//!     author: ActorId::new("admin").unwrap(),
//!     kind: EventKind::Genesis {
//!         origin: ShortText::new("example.org/ledger").unwrap(),
//!         admin: ActorId::new("admin").unwrap(),
//!         admin_key: admin.public_key(),
//!         ledger_key: ledger_key.public_key(),
//!         settings: LedgerSettings::default(),
//!     },
//!     occurred_on: Date::parse("2024-01-02").unwrap(),
//!     signed_at: Timestamp::start_of(Date::parse("2024-01-02").unwrap()).unwrap(),
//!     commitment: None,
//!     nonce: Nonce([0; 16]),
//! };
//! let entry = Entry {
//!     format_version: FORMAT_VERSION,
//!     seq: Seq(0),
//!     prev: EntryHash::ZERO,
//!     recorded_at: Timestamp::start_of(Date::parse("2024-01-02").unwrap()).unwrap(),
//!     placement: None,
//!     prev_registry: None,
//!     content: None,
//!     event: event.sign("example.org/ledger", &admin).unwrap(),
//! };
//! let mut src = MemorySource::default();
//! src.entries.insert(0, entry.to_bytes().unwrap());
//! // Without a seal (a checkpoint signed by the ledger key), the entry is unsealed.
//! let v = verify(&src, &Policy::default(), &|_| {}).unwrap();
//! assert_eq!(v.findings()[0].kind.name(), "unsealed_tail");
//! // The store seals every commit: here, the seal of size 1.
//! use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
//! use caseledger_core::hash::{entry_hash, merkle_leaf};
//! use caseledger_core::merkle::{root_from_leaves, Sha256Hasher};
//! let root = root_from_leaves(&Sha256Hasher, &[merkle_leaf(&entry_hash(&src.entries[&0]))]);
//! let signer = caseledger_core::note::NoteSigner::new("example.org/ledger", ledger_key).unwrap();
//! src.checkpoints.push(sign_checkpoint(&Checkpoint::new("example.org/ledger", 1, root).unwrap(), &signer));
//! let v = verify(&src, &Policy::default(), &|_| {}).unwrap();
//! assert!(v.is_clean());
//! assert_eq!(v.size(), 1);
//! assert!(v.checkpoint_key_self_attested());
//! // Nothing the relying party holds anchors this verdict: it is self-attested.
//! assert!(!v.anchor().is_anchored());
//! assert_eq!(v.anchor().name(), "self_attested");
//!
//! // One flipped bit in the stored bytes is a finding, with its seq.
//! src.entries.get_mut(&0).unwrap()[60] ^= 1;
//! let v = verify(&src, &Policy::default(), &|_| {}).unwrap();
//! assert!(!v.is_clean());
//! assert_eq!(v.findings()[0].seq, Some(0));
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod anchor;
mod archive_source;
pub mod asof;
pub mod attest;
pub mod bundle;
pub mod checkpoints_log;
pub mod clock;
mod engine;
pub mod finding;
mod history;
mod judge;
pub mod keystore;
pub mod manifest;
pub mod outside_time;
mod policy;
mod replay;
pub mod report;
pub mod resume;
mod sigs;
pub mod source;
mod start;
mod timespan;
mod verified;

pub use anchor::{Anchor, AnchorKind};
pub use archive_source::ArchiveSource;
pub use attest::{Attestation, Basis};
pub use clock::{ClockCorrection, ForwardClockDestruction};
pub use engine::{verify, verify_incremental};
pub use finding::{CheckpointSource, Evidence, Finding, FindingKind};
pub use outside_time::{OutsideTime, TimeSource, TimeSpan};
pub use policy::{Policy, Progress, PROGRESS_EVERY};
pub use resume::{ResumeState, ResumeStateError};
pub use source::{
    LedgerSource, MemorySource, OpenMode, SledSource, StorageDamage, StrayPayload, StrayPlace,
};
pub use verified::{ContentKeys, Verified, VerifiedCheckpoint, VerifiedRecord};

use std::path::PathBuf;

/// Verification could not conclude anything (CLI exit 2). Faults in the ledger are never
/// errors: they are [`Finding`]s.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No ledger (or file) at the path.
    #[error("no ledger at {}", .0.display())]
    NotFound(PathBuf),
    /// A writer holds the ledger.
    #[error("ledger {} is in use by another process (a running writer); stop it or verify a copy", .0.display())]
    InUse(PathBuf),
    /// The ledger holds no entries: nothing to verify.
    #[error("nothing to verify: {0} holds no entries")]
    Empty(String),
    /// Reading failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being read.
        context: String,
        /// The error.
        message: String,
    },
    /// sled panicked while opening or reading the ledger's storage (the text says what was
    /// being done, and where): its files are damaged, or were copied while a writer ran.
    /// Nothing was concluded. The panic's own message is not kept: sled may quote stored
    /// values in it, which can be clinical content.
    #[error("the ledger's storage is damaged: sled failed while {0}; take a snapshot with `caseledger snapshot` and verify it, or verify an archive")]
    StorageCorrupt(String),
    /// The directory is not one moment's state of a ledger: sled cannot recover a ledger
    /// from its files (it crashed recovering them, recovered an empty database although
    /// `checkpoints.log` names entries, or its files are from different moments), and it
    /// is not a snapshot. A raw copy taken while the ledger was written looks like this;
    /// so do files damaged past sled's recovery. Nothing was concluded, for or against
    /// the ledger: it is not a finding and not a verdict. The auditor takes a snapshot
    /// (`caseledger snapshot`), in which the same state is a finding.
    #[error("{}: inconsistent copy: take a snapshot with `caseledger snapshot` and verify the snapshot ({why}). Nothing was concluded, for or against the ledger", dir.display())]
    InconsistentCopy {
        /// The directory.
        dir: PathBuf,
        /// What shows it.
        why: String,
    },
    /// The archive file is damaged or not an archive.
    #[error("archive {}: {message}", path.display())]
    Archive {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The bundle is not a bundle this verifier reads.
    #[error("bundle refused: {0}")]
    BadBundle(String),
    /// More records than the verifier's compact maps index (u32).
    #[error("too many records")]
    TooLarge,
}
