//! Where a replay starts ([`Start`]): from genesis, or from the auditor's resume state.
//!
//! Its own module so that the replay (which reads it) and the resume state (which builds
//! one) both depend on it rather than on each other.
use crate::history::{Hist, NonceIndex};
use caseledger_core::merkle::{CompactRange, Hash};
use caseledger_core::record::Registry;
use caseledger_core::EntryHash;
use std::collections::BTreeMap;

/// Where a replay starts: from genesis, or from the auditor's resume state.
pub(crate) struct Start {
    /// Seq of the first entry the replay reads (the resume point; 0 for a full replay).
    pub from: u64,
    /// Whether the prefix below `from` is taken from the auditor's state.
    pub incremental: bool,
    /// The Merkle frontier at `from`.
    pub range: CompactRange,
    /// The hash of entry `from - 1`.
    pub prev_hash: EntryHash,
    /// The fold's ledger-wide state at `from`.
    pub registry: Registry,
    /// The fold's history and records at `from`.
    pub hist: Hist,
    /// Roots the auditor knows at sizes up to `from`.
    pub known_roots: BTreeMap<u64, Hash>,
    /// A `(size, root)` the auditor holds from their own state: checked like a supplied
    /// checkpoint, without a signature.
    pub trusted_root: Option<(u64, Hash)>,
    /// The checkpoint note the auditor's state was verified against.
    pub prior_checkpoint: Option<String>,
}

impl Start {
    /// A full replay: from seq 0, checking every signature.
    pub(crate) fn genesis() -> Start {
        Start {
            from: 0,
            incremental: false,
            range: CompactRange::new(),
            prev_hash: EntryHash::ZERO,
            registry: Registry::default(),
            hist: Hist {
                record_of: Vec::new(),
                committed: Vec::new(),
                slots: Vec::new(),
                nonces: NonceIndex::default(),
            },
            known_roots: BTreeMap::new(),
            trusted_root: None,
            prior_checkpoint: None,
        }
    }
}
