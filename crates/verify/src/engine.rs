//! The entry points: [`verify`] streams a [`LedgerSource`] and returns a [`Verified`];
//! [`verify_incremental`] continues from the auditor's [`ResumeState`].

use crate::policy::{Policy, Progress};
use crate::replay::replay;
use crate::resume::ResumeState;
use crate::source::LedgerSource;
use crate::start::Start;
use crate::verified::Verified;
use crate::VerifyError;
use caseledger_core::hash::entry_hash;

/// Verifies a ledger, streaming its entries in order. See the crate docs for what is checked.
///
/// Errors (nothing was concluded): the source could not be read, or it holds no entries
/// and nothing names a non-empty ledger ([`VerifyError::Empty`]). Faults in the ledger are
/// findings in the returned [`Verified`], never errors. A ledger with no entries whose
/// checkpoints (stored, in `checkpoints.log` or supplied) name entries was emptied: that is
/// a `truncation` finding (with a [`Verified`] of size 0, never clean), not an error.
pub fn verify(
    source: &dyn LedgerSource,
    policy: &Policy,
    progress: &dyn Fn(Progress),
) -> Result<Verified, VerifyError> {
    replay(
        source,
        policy,
        Start::genesis(),
        source.entries()?,
        progress,
    )
}

/// Verifies only what was appended after the auditor's own [`ResumeState`] (kept from an
/// earlier verification with no finding, see [`Policy::keep_resume_state`]).
///
/// With the state at size `n` (its Merkle frontier, last entry hash, registry, record
/// states and per-entry history), it:
///
/// 1. reads the ledger from seq `n - 1` only ([`LedgerSource::entries_from`]) and checks
///    that entry `n - 1` is stored and its bytes still hash to the state's last entry hash;
/// 2. replays entries `n..` exactly as [`verify`] does (keys, canonical bytes, chain from
///    the state's last hash, author signatures, the record fold continued from the state's
///    registry and records, payloads against commitments, `recorded_at`), growing the Merkle
///    tree from the state's frontier;
/// 3. judges every stored, logged and supplied checkpoint as [`verify`] does. Roots at sizes
///    `>= n` are recomputed from the frontier and the new entries, so a checkpoint that
///    matches is consistent with the auditor's root at `n` by construction (the frontier is
///    the commitment to the prefix: this is the consistency proof). A checkpoint below `n`
///    is judged when its size is one the state knows the root of (a checkpoint size verified
///    before, or a boundary of the frontier); otherwise it is listed in
///    [`Verified::unjudged_checkpoints`], not confirmed;
/// 4. for a record destroyed at or after `n`, checks that the payloads of its entries
///    before `n` are gone ([`LedgerSource::payload_seqs`]).
///
/// If the ledger holds fewer than `n` entries, or entry `n - 1` is not the one the auditor
/// verified, the prefix changed: the run falls back to a full verification, which names
/// the entries at fault and adds a `truncation` (ledger shorter than `n`) or
/// `root_mismatch` (root at `n` differs from the state's) finding.
///
/// Entry `n - 1`'s hash commits to the whole prefix through the chain (`prev`), so a
/// prefix rewritten with a consistent chain (recomputed hashes, fresh keys) always changes
/// it and is caught.
///
/// **What it cannot see**: prefix edits that leave entry `n - 1` intact, which necessarily
/// leave the prefix internally inconsistent (a broken chain, a deleted or swapped entry
/// whose successors were not re-chained): a full run names them, and any checkpoint signed
/// over such a tree does not match the roots recomputed from the frontier. And payloads of
/// entries before `n` removed or altered since the state was taken (the state holds no
/// commitments), except those of records destroyed at or after `n`. The result says so:
/// [`Verified::incremental_from`]. Run a full [`verify`] periodically.
pub fn verify_incremental(
    source: &dyn LedgerSource,
    state: &ResumeState,
    policy: &Policy,
    progress: &dyn Fn(Progress),
) -> Result<Verified, VerifyError> {
    let n = state.size;
    let trusted_root = Some((n, state.root));
    let mut entries = source.entries_from(n.saturating_sub(1))?;
    let intact = match entries.next() {
        Some(first) => {
            let first = first?;
            first.key.as_slice() == n.saturating_sub(1).to_be_bytes()
                && entry_hash(&first.bytes) == state.last_hash
        }
        None => false,
    };
    if !intact {
        drop(entries);
        let mut start = Start::genesis();
        start.trusted_root = trusted_root;
        return replay(source, policy, start, source.entries()?, progress);
    }
    let start = state.to_start(trusted_root)?;
    replay(source, policy, start, entries, progress)
}
