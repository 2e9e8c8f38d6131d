//! caseledger-core: what caseledger's bytes mean. No I/O.
//!
//! * [`ids`] and [`time`]: validated newtypes for hashes, seqs, ids, dates, timestamps.
//! * [`event`]: the event model, roles and which role may write which kind.
//! * [`encoding`]: the one canonical bincode configuration; strict decoding.
//! * [`hash`]: entry hash, payload commitment, the message an author signs.
//! * [`merkle`]: the RFC 6962 tree, compact range, proofs and their verification.
//! * [`note`], [`checkpoint`]: C2SP signed notes, checkpoints and cosignatures.
//! * [`keys`], [`sshsig`]: Ed25519 keys, their public encodings, SSHSIG signatures.
//! * [`record`]: the record state machine (one pure fold) and the retention rules.
//! * [`layout`]: a ledger directory's file and tree names, keys, and `checkpoints.log` framing.
//! * [`archive`], [`bundle`]: the whole-ledger archive and the one-record evidence bundle.
//! * [`witness`]: a witness's check of a checkpoint against the last one it cosigned.
//! * [`tile`]: C2SP tlog-tiles: tile paths, which tiles a tree has, entry bundles.
//!
//! The byte-level specification is `docs/FORMAT.md`; golden vectors in
//! `ledger-data/vectors/` freeze it.
//!
//! ```
//! use caseledger_core::ids::RecordId;
//! assert!(RecordId::new("C-0042").is_ok());
//! assert!(RecordId::new("has space").is_err());
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod archive;
pub mod bundle;
pub mod checkpoint;
pub mod citation;
pub mod content;
pub mod encoding;
pub mod event;
pub mod hash;
pub mod ids;
pub mod keys;
pub mod layout;
pub mod merkle;
pub mod note;
pub mod record;
pub mod sshsig;
pub mod tile;
pub mod time;
pub mod witness;

pub use ids::{ActorId, EntryHash, Nonce, PublicKey, RecordId, Seq, SignatureBytes};
pub use merkle::Hash;
pub use time::{Date, Timestamp};
