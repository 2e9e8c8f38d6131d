//! What the auditor brings to a verification ([`Policy`]), and how it reports its
//! [`Progress`].
use caseledger_core::checkpoint::CosignatureVerifier;
use caseledger_core::note::NoteVerifier;

/// The progress callback is called every this many entries (and at the end).
pub const PROGRESS_EVERY: u64 = 4096;

/// What the auditor brings: the keys and checkpoints they trust, and what they require.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Checkpoint (ledger) keys the auditor trusts. Empty: the ledger key named in genesis
    /// is used, and the result says the checkpoint key was self-attested.
    pub trusted_keys: Vec<NoteVerifier>,
    /// Signed checkpoint notes the auditor holds (from earlier verifications, witnesses).
    pub checkpoints: Vec<String>,
    /// The origin the auditor expects, if they know it.
    pub expected_origin: Option<String>,
    /// Witness keys for the witness policy.
    pub witnesses: Vec<CosignatureVerifier>,
    /// Valid cosignatures from distinct `witnesses` required on the newest checkpoint (0: none).
    pub quorum: usize,
    /// A finding when no checkpoint could be verified against the ledger.
    pub require_checkpoint: bool,
    /// Keep, when the verification has no finding, the state an incremental verification
    /// resumes from ([`Verified::resume_state`](crate::Verified::resume_state)). It holds about 21 bytes per entry.
    pub keep_resume_state: bool,
}

/// Progress of a verification, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Entries read so far.
    pub done: u64,
    /// Entries in the ledger, when the source knows (a hint, never trusted).
    pub total: Option<u64>,
}
