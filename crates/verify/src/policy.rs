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
    /// Witness keys for the witness policy. A key listed twice (under any names) is one
    /// witness: see [`Policy::distinct_witnesses`].
    pub witnesses: Vec<CosignatureVerifier>,
    /// Valid cosignatures from distinct witness keys required on the newest checkpoint (0:
    /// none). The cosignatures on every validly signed note of that checkpoint's size and
    /// root count (a stored note, the `checkpoints.log` copy, one the auditor supplied).
    pub quorum: usize,
    /// A finding when no checkpoint could be verified against the ledger.
    pub require_checkpoint: bool,
    /// Keep, when the verification has no finding, the state an incremental verification
    /// resumes from ([`Verified::resume_state`](crate::Verified::resume_state)). It holds about 21 bytes per entry.
    pub keep_resume_state: bool,
    /// The verifier's own clock, against which `clock_ahead` is judged (an entry recorded
    /// after it plus the genesis skew). `None`: the system clock when the replay starts.
    pub now: Option<caseledger_core::Timestamp>,
}

impl Policy {
    /// The witnesses, one per public key (the first listing of each): a witness is its key,
    /// so the same key listed twice, under one name or two, counts once toward the quorum.
    pub fn distinct_witnesses(&self) -> Vec<CosignatureVerifier> {
        let mut seen = std::collections::BTreeSet::new();
        self.witnesses
            .iter()
            .filter(|w| seen.insert(w.public_key().0))
            .cloned()
            .collect()
    }

    /// The relying party supplied something that could anchor a verdict: a ledger key, a
    /// checkpoint, or a witness quorum.
    pub fn supplies_anchor(&self) -> bool {
        !self.trusted_keys.is_empty() || !self.checkpoints.is_empty() || self.quorum > 0
    }
}

/// Progress of a verification, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Entries read so far.
    pub done: u64,
    /// Entries in the ledger, when the source knows (a hint, never trusted).
    pub total: Option<u64>,
}
