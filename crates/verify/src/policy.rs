//! What the auditor brings to a verification ([`Policy`]), and how it reports its
//! [`Progress`].
use crate::timespan::{TimeSpan, DEFAULT_SKEW};
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
    /// The TSA roots the relying party trusts (`--tsa-chain`): RFC 3161 tokens in
    /// `timestamps.log` that verify against them give outside time ([`crate::outside_time`]).
    pub tsa_roots: Option<caseledger_timestamp::TrustedRoots>,
    /// What to call those roots in the words of the time policy (the file's name).
    pub tsa_chain_name: Option<String>,
    /// How far an entry's `recorded_at` may be after its outside-time bound without a
    /// finding. `None`: [`DEFAULT_SKEW`] (5 minutes).
    pub skew: Option<TimeSpan>,
    /// The newest outside time may be at most this long before the head's `recorded_at`
    /// (`anchor_stale` otherwise). `None`: not judged.
    pub max_staleness: Option<TimeSpan>,
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

    /// Whether outside time is judged: the relying party named witnesses or TSA roots.
    pub fn uses_outside_time(&self) -> bool {
        !self.witnesses.is_empty() || self.tsa_roots.is_some()
    }

    /// The time policy in words, for every output that uses it, e.g. `outside time from
    /// witnesses w1, w2 (quorum 2) and TSA chain ca.pem; skew 5m; max staleness 7d`.
    /// `None` when no outside time is judged.
    pub fn time_policy(&self) -> Option<String> {
        if !self.uses_outside_time() {
            return None;
        }
        let witnesses: Vec<String> = self
            .distinct_witnesses()
            .iter()
            .map(|w| w.name().to_owned())
            .collect();
        let mut parts = Vec::new();
        if !witnesses.is_empty() {
            parts.push(format!(
                "witness{} {}",
                if witnesses.len() == 1 { "" } else { "es" },
                witnesses.join(", ")
            ));
        }
        if self.tsa_roots.is_some() {
            parts.push(format!(
                "TSA chain {}",
                self.tsa_chain_name.as_deref().unwrap_or("(given)")
            ));
        }
        let mut words = format!(
            "outside time from {} (quorum {}); skew {}",
            parts.join(" and "),
            self.quorum.max(1),
            self.skew.unwrap_or(DEFAULT_SKEW)
        );
        if let Some(m) = self.max_staleness {
            words.push_str(&format!("; max staleness {m}"));
        }
        Some(words)
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
