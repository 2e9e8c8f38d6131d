//! caseledger-store: the sled-backed ledger that record systems embed.
//!
//! * [`Ledger`]: create/open a ledger directory, append signed events with their payloads
//!   (checked before anything is written, grouped into one transaction and one flush with
//!   concurrent appenders), query entries, payloads (commitment re-checked on read) and
//!   records, prove inclusion and consistency, seal every commit (a checkpoint signed by
//!   the ledger key the store is opened with, returned in each [`Receipt`]; see
//!   [`checkpoints`]) and store cosignatures,
//!   export and import the engine-independent archive, export one record's evidence
//!   bundle ([`Ledger::export_bundle`]), take a consistent snapshot of the directory while
//!   appends run ([`Ledger::snapshot`]), read C2SP tiles and entry bundles of the sealed
//!   tree ([`tiles`]).
//! * [`layout`]: the exact directory, tree, key and value layout, and the
//!   `checkpoints.log` framing (re-exported from `caseledger_core::layout`, the source of
//!   docs/FORMAT.md's storage section).
//! * [`StoreError`]: the one error type.
//!
//! One process owns a ledger directory at a time: a second `open` gets
//! [`StoreError::InUse`]. Opening replays nothing. Lawful destruction is an event: the
//! `Destruction` entry and the removal of the record's payloads are one transaction; the
//! entries, and so every proof, stay.
//!
//! Opening checks the derived state (`meta.head`, `meta.compact_range`) against the newest
//! seal and the entry bytes after it, and refuses a ledger where they disagree
//! ([`StoreError::DerivedState`]). See [`Ledger`] for a complete example, and
//! `examples/embed.rs` for a record system that appends, keeps receipts and exports a
//! bundle an auditor verifies.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod archive;
mod backend;
pub mod checkpoints;
mod commit;
pub mod error;
mod eventid;
mod export;
mod group;
pub mod keystore;
pub mod modes;
pub use caseledger_core::layout;
pub mod ledger;
mod open;
mod query;
mod rebuild;
pub mod requests;
mod sigs;
mod sledfiles;
mod snapshot;
mod tilerows;
pub mod tiles;
mod types;
mod upper;

pub use archive::{ArchiveSummary, IMPORT_CHUNK};
pub use error::{BatchError, Result, StoreError};
pub use eventid::{IdSeen, IMPORT_LINE_CONTEXT};
pub use export::ExportError;
pub use ledger::Ledger;
pub use requests::{EventId, EventIdError, Request, RequestDigest, RequestKey};
pub use snapshot::SnapshotTaken;
pub use tiles::tile_within;
pub use types::{
    system_clock, Clock, CreateOptions, Durability, Head, KeyedReceipt, OpenOptions, Receipt, Seal,
    Stats,
};
