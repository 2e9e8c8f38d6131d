//! The replay: [`verify`] streams a [`LedgerSource`] and returns a [`Verified`].

use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::resume::ResumeState;
use crate::sigs::{SigJob, SigPipeline};
use crate::source::{EntryIter, LedgerSource, StoredCheckpoint};
use crate::VerifyError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::checkpoint::{verify_cosignatures, Checkpoint, CosignatureVerifier};
use caseledger_core::encoding::DecodeError;
use caseledger_core::event::{Entry, Payload};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::merkle::{CompactRange, Sha256Hasher, TreeHasher};
use caseledger_core::note::{Note, NoteError, NoteVerifier, ALG_ED25519};
use caseledger_core::record::{self, History, RecordState, Registry, Step};
use caseledger_core::{EntryHash, Nonce, PublicKey, RecordId, Seq};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Entries whose signatures are verified together (spread over all cores).
const SIG_BATCH: usize = 8192;
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
    /// Resume from this trusted checkpoint (a signed note): see [`verify`]. For real
    /// incremental verification from the auditor's own state, see [`verify_incremental`].
    pub resume_from: Option<String>,
    /// Keep, when the verification has no finding, the state an incremental verification
    /// resumes from ([`Verified::resume_state`]). It holds about 21 bytes per entry.
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

/// A checkpoint the ledger was verified against: validly signed by a trusted key, same
/// origin, and the ledger's root at its size equals its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The signed note text.
    pub note: String,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: [u8; 32],
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

/// The capability a verification grants: only [`verify`] constructs it.
///
/// It carries what was verified (size, root, the checkpoint, origin), every finding, and the
/// fold's final state (registry, records) that a retention report needs. It is not
/// `Deserialize` and has no public constructor.
#[derive(Clone, Debug)]
pub struct Verified {
    pub(crate) origin: String,
    pub(crate) size: u64,
    pub(crate) root: [u8; 32],
    pub(crate) checkpoint: Option<VerifiedCheckpoint>,
    pub(crate) self_attested: bool,
    pub(crate) findings: Vec<Finding>,
    pub(crate) registry: Registry,
    pub(crate) records: Vec<VerifiedRecord>,
    pub(crate) signatures_from: u64,
    pub(crate) incremental_from: Option<u64>,
    pub(crate) unjudged: Vec<String>,
    pub(crate) resume: Option<Box<ResumeState>>,
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
    pub fn root(&self) -> [u8; 32] {
        self.root
    }
    /// The newest checkpoint the ledger matched, if any.
    pub fn checkpoint(&self) -> Option<&VerifiedCheckpoint> {
        self.checkpoint.as_ref()
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
    /// Author signatures were checked for entries from this seq on (0 unless resumed).
    pub fn signatures_checked_from(&self) -> u64 {
        self.signatures_from
    }
    /// `Some(n)` when this is an incremental verification ([`verify_incremental`]) that
    /// read only the entries from seq `n` on, trusting the auditor's state for the prefix.
    ///
    /// Such a result does **not** cover the payloads of entries before `n`: a payload
    /// removed or altered there since the auditor's last full verification goes unseen
    /// (except the payloads of a record destroyed at or after `n`, which are checked to be
    /// gone). Run a full [`verify`] periodically. `None` for a full verification, including
    /// one [`verify_incremental`] fell back to.
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
    /// it ([`Policy::keep_resume_state`]) and there is no finding; `None` otherwise.
    pub fn resume_state(&self) -> Option<&ResumeState> {
        self.resume.as_deref()
    }
}

/// Payload tallies of one record over a range of entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Entries with a commitment whose payload is stored.
    pub present: u64,
    /// The first of them.
    pub first_present: Option<u64>,
    /// Entries with a commitment whose payload is not stored.
    pub missing: u64,
    /// The first of them.
    pub first_missing: Option<u64>,
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Tally {
    /// Both tallies together.
    pub(crate) fn merged(self, o: Tally) -> Tally {
        Tally {
            present: self.present.saturating_add(o.present),
            first_present: min_opt(self.first_present, o.first_present),
            missing: self.missing.saturating_add(o.missing),
            first_missing: min_opt(self.first_missing, o.first_missing),
        }
    }
}

/// Per-record replay bookkeeping: the fold's state and payload tallies (no per-entry data).
pub(crate) struct Slot {
    pub id: RecordId,
    pub state: Option<RecordState>,
    /// Tallies over the entries read in this run.
    pub live: Tally,
    /// Tallies over the entries before the resume point, from the auditor's state.
    pub prefix: Tally,
}

/// The fold's history in compact maps. Memory: 4 bytes per entry (`record_of`), 1 byte per
/// entry (`committed`), plus about 40 bytes per entry for the nonce map (16-byte nonce,
/// 8-byte seq, hash table overhead), plus one [`Slot`] per record. Nothing else grows with
/// the number of entries.
pub(crate) struct Hist {
    /// Record ordinal of each entry by position; `u32::MAX` for none.
    pub record_of: Vec<u32>,
    /// Whether each entry (by position) commits to a payload.
    pub committed: Vec<bool>,
    pub slots: Vec<Slot>,
    pub nonces: HashMap<Nonce, u64>,
}

impl History for Hist {
    fn record_of(&self, seq: Seq) -> Option<RecordId> {
        let i = usize::try_from(seq.0).ok()?;
        let ord = *self.record_of.get(i)?;
        let s = self.slots.get(usize::try_from(ord).ok()?)?;
        Some(s.id.clone())
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Option<Seq> {
        self.nonces.get(nonce).map(|s| Seq(*s))
    }
}

/// A checkpoint note gathered before the replay, with its parse.
struct Candidate {
    sources: Vec<CheckpointSource>,
    key: Option<Vec<u8>>,
    text: String,
    parsed: Option<(Note, Checkpoint)>,
}

fn parse_candidate(c: StoredCheckpoint, findings: &mut Vec<Finding>) -> Option<Candidate> {
    let bad = |msg: String| Finding::new(FindingKind::MalformedCheckpoint, None, None, msg);
    let Ok(text) = String::from_utf8(c.note) else {
        findings.push(bad(format!(
            "a {} checkpoint is not UTF-8",
            source_name(&c.source)
        )));
        return None;
    };
    let parsed = Note::parse(text.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|n| {
            Checkpoint::parse_body(n.text())
                .map(|cp| (n, cp))
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(p) => Some(Candidate {
            sources: vec![c.source],
            key: c.key,
            text,
            parsed: Some(p),
        }),
        Err(e) => {
            findings.push(
                bad(format!(
                    "a {} checkpoint does not parse: {e}",
                    source_name(&c.source)
                ))
                .with_checkpoint(c.source, text),
            );
            None
        }
    }
}

/// The sources' names joined, e.g. `stored and checkpoints.log`.
fn names(sources: &[CheckpointSource]) -> String {
    sources
        .iter()
        .map(source_name)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Identical notes found in several places are judged once, citing every place.
fn coalesce(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::with_capacity(candidates.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for c in candidates {
        match at.get(&c.text).and_then(|&i| out.get_mut(i)) {
            Some(m) => {
                for s in c.sources {
                    if !m.sources.contains(&s) {
                        m.sources.push(s);
                    }
                }
                if m.key.is_none() {
                    m.key = c.key;
                }
            }
            None => {
                at.insert(c.text.clone(), out.len());
                out.push(c);
            }
        }
    }
    out
}

fn source_name(s: &CheckpointSource) -> &'static str {
    match s {
        CheckpointSource::Stored => "stored",
        CheckpointSource::Log => "checkpoints.log",
        CheckpointSource::Supplied => "supplied",
        CheckpointSource::Bundle => "bundle",
    }
}

/// Verifies a ledger, streaming its entries in order. See the crate docs for what is checked.
///
/// Errors (nothing was concluded): the source could not be read, or it holds no entries
/// and nothing names a non-empty ledger ([`VerifyError::Empty`]). Faults in the ledger are
/// findings in the returned [`Verified`], never errors. A ledger with no entries whose
/// checkpoints (stored, in `checkpoints.log` or supplied) name entries was emptied: that is
/// a `truncation` finding (with a [`Verified`] of size 0, never clean), not an error.
///
/// **Resume** (`policy.resume_from`, a checkpoint signed by a trusted key, or by the genesis
/// key when the auditor gave none): entries below its size `n` are still read, hashed,
/// chained, folded and their payloads checked (cheap), but their author signatures are not
/// verified (the expensive part). That is sound only if those bytes are the ones an earlier
/// full verification saw, which the root at `n` proves: if the root at `n` differs, or the
/// checkpoint does not verify, or the ledger is shorter than `n`, the resume is abandoned
/// and a full verification runs instead (with the resume checkpoint as a supplied one, so
/// its mismatch is a finding). Resume cannot catch anything the earlier verification
/// missed in the prefix, and it trusts the auditor's checkpoint.
pub fn verify(
    source: &dyn LedgerSource,
    policy: &Policy,
    progress: &dyn Fn(Progress),
) -> Result<Verified, VerifyError> {
    let Some(resume) = &policy.resume_from else {
        return replay(
            source,
            policy,
            Start::genesis(0),
            source.entries()?,
            progress,
        );
    };
    let resume_cp = Note::parse(resume.as_bytes())
        .ok()
        .and_then(|n| Checkpoint::parse_body(n.text()).ok())
        .ok_or(VerifyError::BadResumeCheckpoint(
            "it does not parse as a signed checkpoint".to_owned(),
        ))?;
    let v = replay(
        source,
        policy,
        Start::genesis(resume_cp.size),
        source.entries()?,
        progress,
    )?;
    let signed = Note::parse(resume.as_bytes())
        .ok()
        .and_then(|n| n.verify(&keys_for(&n, policy, &v.registry)).ok())
        .is_some_and(|ver| ver.verified.iter().any(|s| s.algorithm == ALG_ED25519));
    // The resume checkpoint is among the supplied ones, so a match means the root at n is r.
    let matched = signed
        && resume_cp.origin == v.origin
        && resume_cp.size <= v.size
        && !v.findings.iter().any(|f| {
            matches!(
                f.kind,
                FindingKind::RootMismatch | FindingKind::Truncation | FindingKind::SplitView
            ) && f
                .evidence
                .checkpoints
                .iter()
                .any(|(s, t)| *s == CheckpointSource::Supplied && t == resume)
        });
    if matched {
        return Ok(v);
    }
    let mut full = policy.clone();
    full.checkpoints.extend(full.resume_from.take());
    replay(
        source,
        &full,
        Start::genesis(0),
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
///
/// `policy.resume_from`, if set, is judged as one more supplied checkpoint.
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
        let mut start = Start::genesis(0);
        start.trusted_root = trusted_root;
        return replay(source, policy, start, source.entries()?, progress);
    }
    let start = state.to_start(trusted_root)?;
    replay(source, policy, start, entries, progress)
}

/// Where a replay starts: from genesis, or from the auditor's [`ResumeState`].
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
    pub known_roots: BTreeMap<u64, [u8; 32]>,
    /// Author signatures are checked from this seq on.
    pub sig_from: u64,
    /// A `(size, root)` the auditor holds from their own state: checked like a supplied
    /// checkpoint, without a signature.
    pub trusted_root: Option<(u64, [u8; 32])>,
    /// The checkpoint note the auditor's state was verified against.
    pub prior_checkpoint: Option<String>,
}

impl Start {
    /// A replay from seq 0, checking signatures from `sig_from` on.
    fn genesis(sig_from: u64) -> Start {
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
                nonces: HashMap::new(),
            },
            known_roots: BTreeMap::new(),
            sig_from,
            trusted_root: None,
            prior_checkpoint: None,
        }
    }
}

/// The root at size `m` if the frontier `range` determines it: `m` is the size of the range
/// itself or the end of one of its complete subtrees (left to right).
fn frontier_root(range: &CompactRange, m: u64) -> Option<[u8; 32]> {
    let hasher = Sha256Hasher;
    if m == range.size() {
        return Some(range.root(&hasher));
    }
    let k = range
        .nodes()
        .iter()
        .position(|(id, _)| id.leaves().end == m)?;
    let hashes = range.hashes().get(..=k)?.to_vec();
    CompactRange::from_parts(m, hashes)
        .ok()
        .map(|r| r.root(&hasher))
}

/// The keys a checkpoint note is checked with: the auditor's, or else the ledger key named
/// in genesis under whatever key names the note's signature lines use (self-attested).
pub(crate) fn keys_for(note: &Note, policy: &Policy, registry: &Registry) -> Vec<NoteVerifier> {
    if !policy.trusted_keys.is_empty() {
        return policy.trusted_keys.clone();
    }
    registry
        .ledger_key
        .map(|k| self_attested_for(note, k))
        .unwrap_or_default()
}

/// Verifiers for `note` under `key`, whatever key names the note's signature lines use.
pub(crate) fn self_attested_for(note: &Note, key: PublicKey) -> Vec<NoteVerifier> {
    let names: BTreeSet<&str> = note.signatures().iter().map(|s| s.name.as_str()).collect();
    names
        .into_iter()
        .filter_map(|n| NoteVerifier::new(n, key).ok())
        .collect()
}

#[allow(clippy::too_many_lines)]
fn replay(
    source: &dyn LedgerSource,
    policy: &Policy,
    start: Start,
    entries: EntryIter<'_>,
    progress: &dyn Fn(Progress),
) -> Result<Verified, VerifyError> {
    let Start {
        from,
        incremental,
        mut range,
        mut prev_hash,
        mut registry,
        mut hist,
        known_roots,
        sig_from,
        trusted_root,
        prior_checkpoint,
    } = start;
    let hasher = Sha256Hasher;
    let mut findings = Vec::new();

    // Checkpoints first: the replay records the root at each of their sizes.
    let mut stored = source.checkpoints()?;
    stored.extend(
        policy
            .checkpoints
            .iter()
            .chain(&policy.resume_from)
            .map(|n| StoredCheckpoint {
                source: CheckpointSource::Supplied,
                key: None,
                note: n.as_bytes().to_vec(),
            }),
    );
    let candidates: Vec<Candidate> = coalesce(
        stored
            .into_iter()
            .filter_map(|c| parse_candidate(c, &mut findings))
            .collect(),
    );
    let mut wanted: BTreeSet<u64> = candidates
        .iter()
        .filter_map(|c| c.parsed.as_ref().map(|(_, cp)| cp.size))
        .collect();
    wanted.extend(trusted_root.map(|(n, _)| n));
    let mut roots: HashMap<u64, [u8; 32]> = HashMap::new();
    if wanted.contains(&0) {
        roots.insert(0, hasher.empty_root());
    }
    // Below the resume point, only the roots the auditor's state determines.
    for &m in wanted.range(..=from) {
        if let Some(r) = known_roots
            .get(&m)
            .copied()
            .or_else(|| frontier_root(&range, m))
        {
            roots.insert(m, r);
        }
    }

    let total = source.len_hint();
    let mut pos = from;
    let mut last_key: Option<u64> = from.checked_sub(1);
    let mut ordinals: HashMap<RecordId, u32> = HashMap::new();
    for (i, slot) in hist.slots.iter().enumerate() {
        ordinals.insert(
            slot.id.clone(),
            u32::try_from(i).map_err(|_| VerifyError::TooLarge)?,
        );
    }
    let mut jobs: Vec<SigJob> = Vec::new();
    // Signature batches are checked in the background while the replay goes on; their
    // findings are merged back where a blocking check would have put them.
    let mut sig_pipeline = SigPipeline::new();

    for item in entries {
        let stored = item?;
        let key = <[u8; 8]>::try_from(stored.key.as_slice())
            .ok()
            .map(u64::from_be_bytes);
        let here = key.unwrap_or(pos);
        match key {
            None => findings.push(
                Finding::new(
                    FindingKind::MalformedKey,
                    Some(pos),
                    None,
                    "stored key is not an 8-byte seq",
                )
                .expected_found(
                    "8 bytes",
                    format!("{} bytes: {}", stored.key.len(), hex::encode(&stored.key)),
                ),
            ),
            Some(k) => {
                let expected = last_key.map_or(0, |l| l.saturating_add(1));
                if k != expected {
                    findings.push(
                        Finding::new(
                            FindingKind::SeqGap,
                            Some(expected),
                            None,
                            format!(
                                "no entry is stored at seq {expected}; the next stored seq is {k}"
                            ),
                        )
                        .expected_found(expected, k),
                    );
                }
                last_key = Some(k);
            }
        }

        // Hash the stored bytes; never a re-encoding.
        let h = entry_hash(&stored.bytes);
        let leaf = merkle_leaf(&h);
        range.append(&hasher, leaf).map_err(|e| VerifyError::Io {
            context: "growing the Merkle tree".into(),
            message: e.to_string(),
        })?;
        pos = pos.saturating_add(1);
        if wanted.contains(&pos) {
            roots.insert(pos, range.root(&hasher));
        }
        let chain_prev = std::mem::replace(&mut prev_hash, h);

        let entry = match Entry::from_bytes(&stored.bytes) {
            Ok(e) => e,
            Err(e) => {
                let kind = match e {
                    DecodeError::TrailingBytes(_) => FindingKind::TrailingBytes,
                    DecodeError::UnsupportedVersion(_) => FindingKind::UnsupportedVersion,
                    DecodeError::Malformed(_) | DecodeError::NonCanonical => {
                        FindingKind::MalformedEntry
                    }
                };
                findings.push(
                    Finding::new(kind, Some(here), None, format!("entry bytes refused: {e}"))
                        .expected_found("canonical entry", format!("entry hash {h}")),
                );
                hist.record_of.push(u32::MAX);
                hist.committed.push(false);
                tick(pos, total, progress);
                continue;
            }
        };
        let rid = entry.event.event.record.clone();
        if entry.seq.0 != here {
            findings.push(
                Finding::new(
                    FindingKind::SeqMismatch,
                    Some(here),
                    rid.clone(),
                    "the entry's own seq is not the seq it is stored at",
                )
                .expected_found(here, entry.seq.0),
            );
        }
        if entry.prev != chain_prev {
            findings.push(
                Finding::new(
                    FindingKind::ChainBreak,
                    Some(here),
                    rid.clone(),
                    "prev is not the hash of the entry stored before it",
                )
                .expected_found(chain_prev, entry.prev),
            );
        }

        let event = &entry.event.event;
        // Author signature, with the key in force at this point of the ledger.
        if pos > sig_from {
            // An unknown author has no key: the fold reports it.
            if let Some(k) = registry.author_key(event) {
                {
                    // The bytes are canonical (checked above), so the event's bytes are the
                    // slice between the entry header and the 64-byte signature.
                    let ev_bytes = event_slice(&stored.bytes)
                        .map(<[u8]>::to_vec)
                        .or_else(|| event.to_bytes().ok());
                    match ev_bytes {
                        Some(b) => jobs.push(SigJob {
                            seq: here,
                            record: rid.clone(),
                            event_bytes: b,
                            signature: entry.event.signature.0,
                            key: k,
                        }),
                        None => findings.push(Finding::new(
                            FindingKind::MalformedEntry,
                            Some(here),
                            rid.clone(),
                            "event cannot be encoded",
                        )),
                    }
                }
            }
        }

        // The fold: check, report, apply regardless.
        let ord = match &rid {
            Some(r) => Some(match ordinals.get(r) {
                Some(o) => *o,
                None => {
                    let o = u32::try_from(hist.slots.len()).map_err(|_| VerifyError::TooLarge)?;
                    hist.slots.push(Slot {
                        id: r.clone(),
                        state: None,
                        live: Tally::default(),
                        prefix: Tally::default(),
                    });
                    ordinals.insert(r.clone(), o);
                    o
                }
            }),
            None => None,
        };
        let step = Step {
            seq: Seq(here),
            recorded_at: entry.recorded_at,
            event,
        };
        let slot_idx = ord.and_then(|o| usize::try_from(o).ok());
        let mut state = slot_idx
            .and_then(|i| hist.slots.get_mut(i))
            .and_then(|s| s.state.take());
        if let Err(v) = record::check(&registry, state.as_ref(), step, &hist) {
            findings.push(Finding::new(
                FindingKind::of_violation(&v),
                Some(here),
                rid.clone(),
                v.to_string(),
            ));
        }
        record::apply(&mut registry, &mut state, step);
        hist.record_of.push(ord.unwrap_or(u32::MAX));
        hist.committed.push(event.commitment.is_some());
        hist.nonces.entry(event.nonce).or_insert(here);

        // Payload against commitment.
        if let Some(slot) = slot_idx.and_then(|i| hist.slots.get_mut(i)) {
            slot.state = state;
            match (&event.commitment, &stored.payload) {
                (Some(c), Some(p)) => {
                    slot.live.present += 1;
                    slot.live.first_present.get_or_insert(here);
                    match Payload::from_stored(p) {
                        None => findings.push(Finding::new(FindingKind::CommitmentMismatch, Some(here), rid.clone(), "stored payload is shorter than its salt")),
                        Some(p) if p.commitment() != *c => findings.push(
                            Finding::new(FindingKind::CommitmentMismatch, Some(here), rid.clone(), "stored payload does not match the entry's commitment: falsified content")
                                .expected_found(c, p.commitment()),
                        ),
                        Some(_) => {}
                    }
                }
                (Some(_), None) => {
                    slot.live.missing += 1;
                    slot.live.first_missing.get_or_insert(here);
                }
                (None, Some(_)) => findings.push(Finding::new(
                    FindingKind::UnexpectedPayload,
                    Some(here),
                    rid.clone(),
                    "a payload is stored for an entry that commits to none",
                )),
                (None, None) => {}
            }
        } else if stored.payload.is_some() {
            findings.push(Finding::new(
                FindingKind::UnexpectedPayload,
                Some(here),
                None,
                "a payload is stored for an administration entry",
            ));
        }

        if jobs.len() >= SIG_BATCH {
            sig_pipeline.submit(
                findings.len(),
                std::mem::replace(&mut jobs, Vec::with_capacity(SIG_BATCH)),
            );
        }
        tick(pos, total, progress);
    }
    sig_pipeline.submit(findings.len(), std::mem::take(&mut jobs));
    sig_pipeline.finish(&mut findings);
    drop(sig_pipeline);
    // No entry at all. That is "nothing to verify" only if nothing names a non-empty ledger:
    // a checkpoint (stored, logged or supplied) or the auditor's state of size > 0 is
    // evidence that entries existed, and the run goes on to report them deleted
    // (`truncation`, see `judge_checkpoints`).
    let emptied = pos == 0;
    if emptied {
        let named = candidates
            .iter()
            .filter_map(|c| c.parsed.as_ref().map(|(_, cp)| cp.size))
            .chain(trusted_root.map(|(n, _)| n))
            .max()
            .unwrap_or(0);
        if named == 0 {
            return Err(VerifyError::Empty(source.describe()));
        }
    }
    progress(Progress { done: pos, total });

    // A record destroyed after the resume point: its payloads before it must be gone now.
    if incremental {
        recheck_prefix_payloads(source, from, &mut hist)?;
    }

    // Payloads against destruction, per record.
    let mut records = Vec::with_capacity(hist.slots.len());
    for slot in &hist.slots {
        let Some(state) = &slot.state else { continue };
        let tally = slot.prefix.merged(slot.live);
        let lawfully_destroyed = state.destroyed.as_ref().is_some_and(|d| d.lawful);
        let content_missing = tally.missing > 0 && !lawfully_destroyed;
        if content_missing {
            findings.push(
                Finding::new(
                    FindingKind::PayloadMissing,
                    tally.first_missing,
                    Some(slot.id.clone()),
                    format!("{} payload(s) missing without a lawful destruction of the record: unauthorized destruction", tally.missing),
                )
                .expected_found("payload present", "absent"),
            );
        }
        if let (Some(d), true) = (&state.destroyed, tally.present > 0) {
            findings.push(Finding::new(
                FindingKind::PayloadAfterDestruction,
                tally.first_present,
                Some(slot.id.clone()),
                format!(
                    "{} payload(s) still stored although the record was destroyed at seq {}",
                    tally.present, d.seq
                ),
            ));
        }
        records.push(VerifiedRecord {
            id: slot.id.clone(),
            state: state.clone(),
            content_missing,
        });
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));

    let origin = registry
        .origin
        .as_ref()
        .map(|o| o.as_str().to_owned())
        .unwrap_or_default();
    let root = range.root(&hasher);
    let self_attested = policy.trusted_keys.is_empty();
    // An emptied ledger has no genesis to name an origin: checkpoints are held to the
    // expected origin instead (in `judge_checkpoints`).
    if let (Some(exp), false) = (&policy.expected_origin, emptied) {
        if *exp != origin {
            findings.push(
                Finding::new(
                    FindingKind::OriginMismatch,
                    Some(0),
                    None,
                    "genesis names another origin than the auditor expects",
                )
                .expected_found(exp, &origin),
            );
        }
    }
    if let (false, Some(k)) = (self_attested, registry.ledger_key) {
        if !policy
            .trusted_keys
            .iter()
            .any(|t| t.public_key() == k && t.algorithm() == ALG_ED25519)
        {
            findings.push(
                Finding::new(
                    FindingKind::LedgerKeyNotTrusted,
                    Some(0),
                    None,
                    "the ledger key named in genesis is not a key the auditor trusts",
                )
                .with_key(k),
            );
        }
    }

    if let Some((n, r)) = trusted_root {
        if pos < n {
            findings.push(
                Finding::new(
                    FindingKind::Truncation,
                    Some(pos),
                    None,
                    format!("the auditor's resume state covers {n} entries but the ledger holds {pos}: entries were truncated or rolled back"),
                )
                .expected_found(n, pos),
            );
        } else if roots.get(&n) != Some(&r) {
            findings.push(
                Finding::new(
                    FindingKind::RootMismatch,
                    None,
                    None,
                    format!("the ledger's root at size {n} is not the root in the auditor's resume state: the history was rewritten"),
                )
                .expected_found(b64(&r), roots.get(&n).map_or_else(|| "none".to_owned(), b64)),
            );
        }
    }

    let mut unjudged = Vec::new();
    let mut checkpoint = judge_checkpoints(
        candidates,
        policy,
        &registry,
        &origin,
        pos,
        &roots,
        incremental.then_some(from),
        &mut unjudged,
        &mut findings,
    );
    // An emptied ledger always has a finding by now (each checkpoint naming entries is a
    // `truncation` or was refused with a finding; so is the auditor's state): a verification
    // of no entries can never come back clean. Guarded here all the same.
    if emptied && findings.is_empty() {
        return Err(VerifyError::Empty(source.describe()));
    }
    // The checkpoint the auditor's state was verified against still counts, if no newer one
    // matched and it is signed by a key the auditor trusts today.
    if let Some(prior) = prior_checkpoint
        .as_deref()
        .and_then(|t| still_trusted(t, policy, &registry))
    {
        if checkpoint.as_ref().is_none_or(|c| c.size < prior.size) {
            checkpoint = Some(prior);
        }
    }
    if policy.require_checkpoint && checkpoint.is_none() {
        findings.push(Finding::new(
            FindingKind::NoCheckpoint,
            None,
            None,
            "no checkpoint signed by a trusted key matches the ledger",
        ));
    }

    // Stable order: by seq, ledger-wide findings last.
    findings.sort_by_key(|f| (f.seq.is_none(), f.seq.unwrap_or(0)));
    let resume = if policy.keep_resume_state && findings.is_empty() {
        let mut known = known_roots;
        known.extend(roots.into_iter().filter(|(m, _)| *m <= pos));
        ResumeState::capture(
            range,
            prev_hash,
            registry.clone(),
            hist,
            known,
            checkpoint.as_ref().map(|c| c.note.clone()),
        )
        .map(Box::new)
    } else {
        None
    };
    Ok(Verified {
        origin,
        size: pos,
        root,
        checkpoint,
        self_attested,
        findings,
        registry,
        records,
        signatures_from: sig_from.min(pos),
        incremental_from: incremental.then_some(from),
        unjudged,
        resume,
    })
}

/// The checkpoint note `text` as a [`VerifiedCheckpoint`] if it parses and is signed by a
/// key the auditor trusts under `policy` (its root was verified when the state was taken).
fn still_trusted(text: &str, policy: &Policy, registry: &Registry) -> Option<VerifiedCheckpoint> {
    let note = Note::parse(text.as_bytes()).ok()?;
    let cp = Checkpoint::parse_body(note.text()).ok()?;
    let v = note.verify(&keys_for(&note, policy, registry)).ok()?;
    v.verified
        .iter()
        .any(|s| s.algorithm == ALG_ED25519)
        .then(|| VerifiedCheckpoint {
            note: text.to_owned(),
            size: cp.size,
            root: cp.root,
            sources: vec![CheckpointSource::Supplied],
        })
}

/// For each record destroyed at or after `from` whose entries before `from` had stored
/// payloads (per the auditor's state), reads which of those payloads are still stored and
/// replaces the record's prefix tallies with what is found now.
fn recheck_prefix_payloads(
    source: &dyn LedgerSource,
    from: u64,
    hist: &mut Hist,
) -> Result<(), VerifyError> {
    let recheck: BTreeSet<u32> = hist
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.prefix.present > 0
                && s.state
                    .as_ref()
                    .and_then(|st| st.destroyed.as_ref())
                    .is_some_and(|d| d.seq.0 >= from)
        })
        .filter_map(|(i, _)| u32::try_from(i).ok())
        .collect();
    if recheck.is_empty() {
        return Ok(());
    }
    let limit = usize::try_from(from).unwrap_or(usize::MAX);
    let seqs: Vec<u64> = hist
        .record_of
        .iter()
        .zip(&hist.committed)
        .take(limit)
        .enumerate()
        .filter(|(_, (o, c))| **c && recheck.contains(o))
        .filter_map(|(s, _)| u64::try_from(s).ok())
        .collect();
    let found: BTreeSet<u64> = source.payload_seqs(&seqs)?.into_iter().collect();
    for &o in &recheck {
        if let Some(slot) = usize::try_from(o).ok().and_then(|i| hist.slots.get_mut(i)) {
            slot.prefix = Tally::default();
        }
    }
    for s in seqs {
        let Some(slot) = usize::try_from(s)
            .ok()
            .and_then(|i| hist.record_of.get(i))
            .and_then(|o| usize::try_from(*o).ok())
            .and_then(|i| hist.slots.get_mut(i))
        else {
            continue;
        };
        let t = &mut slot.prefix;
        if found.contains(&s) {
            t.present += 1;
            t.first_present.get_or_insert(s);
        } else {
            t.missing += 1;
            t.first_missing.get_or_insert(s);
        }
    }
    Ok(())
}

fn tick(pos: u64, total: Option<u64>, progress: &dyn Fn(Progress)) {
    if pos % PROGRESS_EVERY == 0 {
        progress(Progress { done: pos, total });
    }
}

/// Offset of the event in canonical entry bytes: `format_version (2) || seq (8) || prev (32)
/// || recorded_at (8)`; the last 64 bytes are the signature.
const EVENT_OFFSET: usize = 2 + 8 + 32 + 8;

/// The event's canonical bytes inside canonical entry bytes.
pub(crate) fn event_slice(entry_bytes: &[u8]) -> Option<&[u8]> {
    let end = entry_bytes.len().checked_sub(64)?;
    entry_bytes.get(EVENT_OFFSET..end)
}

fn b64(root: &[u8; 32]) -> String {
    B64.encode(root)
}

/// A validly signed checkpoint note and where it was found.
type Seen = (String, Vec<CheckpointSource>);

/// Judges every checkpoint against the replayed roots; returns the newest that matched.
#[allow(clippy::too_many_arguments)]
fn judge_checkpoints(
    candidates: Vec<Candidate>,
    policy: &Policy,
    registry: &Registry,
    origin: &str,
    size: u64,
    roots: &HashMap<u64, [u8; 32]>,
    resumed_from: Option<u64>,
    unjudged: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) -> Option<VerifiedCheckpoint> {
    // No entry is left (`size` 0): genesis is gone with the rest, so it names neither the
    // origin nor, when the auditor gave no key, the key to check signatures with. Then a
    // checkpoint is held to the auditor's expected origin (if any), and its signature is
    // checked only if there is a key; each naming entries is a `truncation`.
    let emptied = size == 0;
    // (size) -> root -> (note text, sources): validly signed checkpoints of this origin.
    let mut valid: BTreeMap<u64, BTreeMap<[u8; 32], Seen>> = BTreeMap::new();
    let mut notes: HashMap<String, Note> = HashMap::new();
    // Checkpoint texts whose signature could not be checked (emptied ledger, no key).
    let mut unchecked: BTreeSet<String> = BTreeSet::new();
    for c in candidates {
        let Some((note, cp)) = c.parsed else { continue };
        if let Some(k) = &c.key {
            if k.as_slice() != cp.size.to_be_bytes() {
                findings.push(
                    Finding::new(
                        FindingKind::MalformedCheckpoint,
                        None,
                        None,
                        "a checkpoint is stored under a key that is not its size",
                    )
                    .expected_found(cp.size, hex::encode(k))
                    .cite(&c.sources, &c.text),
                );
            }
        }
        let keys = keys_for(&note, policy, registry);
        if emptied && keys.is_empty() {
            unchecked.insert(c.text.clone());
        }
        match note.verify(&keys) {
            _ if emptied && keys.is_empty() => {}
            Err(NoteError::InvalidSignature { name, key_id }) => {
                findings.push(
                    Finding::new(
                        FindingKind::CheckpointBadSignature,
                        None,
                        None,
                        format!(
                            "a {} checkpoint of size {} has a bad signature",
                            names(&c.sources),
                            cp.size
                        ),
                    )
                    .with_key(format!("{name}+{key_id:08x}"))
                    .cite(&c.sources, &c.text),
                );
                continue;
            }
            Err(e) => {
                findings.push(
                    Finding::new(FindingKind::MalformedCheckpoint, None, None, e.to_string())
                        .cite(&c.sources, &c.text),
                );
                continue;
            }
            Ok(v) if !v.verified.iter().any(|s| s.algorithm == ALG_ED25519) => {
                let by: Vec<String> = note
                    .signatures()
                    .iter()
                    .map(|s| format!("{}+{:08x}", s.name, s.key_id))
                    .collect();
                findings.push(
                    Finding::new(
                        FindingKind::CheckpointUntrustedKey,
                        None,
                        None,
                        format!(
                            "a {} checkpoint of size {} is not signed by any trusted key",
                            names(&c.sources),
                            cp.size
                        ),
                    )
                    .with_key(by.join(", "))
                    .cite(&c.sources, &c.text),
                );
                continue;
            }
            Ok(_) => {}
        }
        let want_origin = if emptied {
            policy.expected_origin.as_deref()
        } else {
            Some(origin)
        };
        if let Some(origin) = want_origin.filter(|o| cp.origin != *o) {
            findings.push(
                Finding::new(
                    FindingKind::CheckpointWrongOrigin,
                    None,
                    None,
                    format!("a {} checkpoint names another origin", names(&c.sources)),
                )
                .expected_found(origin, &cp.origin)
                .cite(&c.sources, &c.text),
            );
            continue;
        }
        {
            for w in &policy.witnesses {
                if let Err(e) = verify_cosignatures(&note, std::slice::from_ref(w)) {
                    findings.push(
                        Finding::new(
                            FindingKind::CosignatureBadSignature,
                            None,
                            None,
                            format!(
                                "a cosignature on the checkpoint of size {} does not verify: {e}",
                                cp.size
                            ),
                        )
                        .with_key(w.to_vkey_string())
                        .cite(&c.sources, &c.text),
                    );
                }
            }
        }
        notes.entry(c.text.clone()).or_insert(note);
        let e = valid
            .entry(cp.size)
            .or_default()
            .entry(cp.root)
            .or_insert_with(|| (c.text.clone(), Vec::new()));
        for src in c.sources {
            if !e.1.contains(&src) {
                e.1.push(src);
            }
        }
    }

    let mut best: Option<VerifiedCheckpoint> = None;
    for (cp_size, by_root) in &valid {
        if by_root.len() > 1 {
            let mut f = Finding::new(
                FindingKind::SplitView,
                None,
                None,
                format!("{} different roots are validly signed for size {cp_size}: the ledger key signed conflicting histories", by_root.len()),
            );
            for (text, sources) in by_root.values() {
                for s in sources {
                    f = f.with_checkpoint(s.clone(), text.clone());
                }
            }
            findings.push(f);
        }
        for (cp_root, (text, sources)) in by_root {
            let with_all = |mut f: Finding| {
                for s in sources {
                    f = f.with_checkpoint(s.clone(), text.clone());
                }
                f
            };
            if *cp_size > size {
                let message = if emptied {
                    format!(
                        "a checkpoint covers {cp_size} entries but the ledger holds none: every entry was deleted{}",
                        if unchecked.contains(text) {
                            " (its signature could not be checked: genesis, which names the ledger key, is gone and the auditor gave no key)"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!("a checkpoint covers {cp_size} entries but the ledger holds {size}: entries were truncated or rolled back")
                };
                findings.push(with_all(
                    Finding::new(FindingKind::Truncation, Some(size), None, message)
                        .expected_found(cp_size, size),
                ));
                continue;
            }
            match roots.get(cp_size) {
                Some(r) if r == cp_root => {
                    if best.as_ref().is_none_or(|b| b.size < *cp_size) {
                        best = Some(VerifiedCheckpoint { note: text.clone(), size: *cp_size, root: *cp_root, sources: sources.clone() });
                    }
                }
                None if resumed_from.is_some_and(|n| *cp_size < n) => {
                    unjudged.push(text.clone());
                }
                found => findings.push(with_all(
                    Finding::new(FindingKind::RootMismatch, None, None, format!("the ledger's root at size {cp_size} is not the checkpoint's: the history was rewritten"))
                        .expected_found(b64(cp_root), found.map_or_else(|| "none".to_owned(), b64)),
                )),
            }
        }
    }

    // Witness quorum on the newest validly signed checkpoint.
    if policy.quorum > 0 {
        let newest = valid
            .iter()
            .next_back()
            .and_then(|(_, by_root)| by_root.values().next());
        let count = newest
            .and_then(|(text, _)| notes.get(text))
            .map(|note| {
                policy
                    .witnesses
                    .iter()
                    .filter(|w| {
                        verify_cosignatures(note, std::slice::from_ref(*w))
                            .is_ok_and(|v| !v.is_empty())
                    })
                    .count()
            })
            .unwrap_or(0);
        if count < policy.quorum {
            let mut f = Finding::new(FindingKind::WitnessQuorumNotMet, None, None, format!("the newest checkpoint has {count} valid cosignature(s) from trusted witnesses; the policy requires {}", policy.quorum))
                .expected_found(policy.quorum, count);
            if let Some((text, sources)) = newest {
                for s in sources {
                    f = f.with_checkpoint(s.clone(), text.clone());
                }
            }
            findings.push(f);
        }
    }
    best
}
