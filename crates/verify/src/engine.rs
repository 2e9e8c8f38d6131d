//! The replay: [`verify`] streams a [`LedgerSource`] and returns a [`Verified`].

use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::sigs::{verify_jobs, SigJob};
use crate::source::{LedgerSource, StoredCheckpoint};
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
    /// Resume from this trusted checkpoint (a signed note): see [`verify`].
    pub resume_from: Option<String>,
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
}

/// Per-record replay bookkeeping: the fold's state and payload tallies (no per-entry data).
struct Slot {
    id: RecordId,
    state: Option<RecordState>,
    missing: u64,
    first_missing: Option<u64>,
    present: u64,
    first_present: Option<u64>,
}

/// The fold's history in compact maps. Memory: 4 bytes per entry (`record_of`) plus about
/// 40 bytes per entry for the nonce map (16-byte nonce, 8-byte seq, hash table overhead),
/// plus one [`Slot`] per record. Nothing else grows with the number of entries.
struct Hist {
    /// Record ordinal of each entry by position; `u32::MAX` for none.
    record_of: Vec<u32>,
    slots: Vec<Slot>,
    nonces: HashMap<Nonce, u64>,
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
/// Errors (nothing was concluded): the source could not be read, or it holds no entries.
/// Faults in the ledger are findings in the returned [`Verified`], never errors.
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
        return replay(source, policy, None, progress);
    };
    let resume_cp = Note::parse(resume.as_bytes())
        .ok()
        .and_then(|n| Checkpoint::parse_body(n.text()).ok())
        .ok_or(VerifyError::BadResumeCheckpoint(
            "it does not parse as a signed checkpoint".to_owned(),
        ))?;
    let v = replay(source, policy, Some(resume_cp.size), progress)?;
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
    replay(source, &full, None, progress)
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
    resume_size: Option<u64>,
    progress: &dyn Fn(Progress),
) -> Result<Verified, VerifyError> {
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
    let wanted: BTreeSet<u64> = candidates
        .iter()
        .filter_map(|c| c.parsed.as_ref().map(|(_, cp)| cp.size))
        .collect();
    let mut roots: HashMap<u64, [u8; 32]> = HashMap::new();
    if wanted.contains(&0) {
        roots.insert(0, hasher.empty_root());
    }

    let total = source.len_hint();
    let mut range = CompactRange::new();
    let mut pos = 0u64;
    let mut prev_hash = EntryHash::ZERO;
    let mut last_key: Option<u64> = None;
    let mut registry = Registry::default();
    let mut hist = Hist {
        record_of: Vec::new(),
        slots: Vec::new(),
        nonces: HashMap::new(),
    };
    let mut ordinals: HashMap<RecordId, u32> = HashMap::new();
    let mut jobs: Vec<SigJob> = Vec::new();
    let sig_from = resume_size.unwrap_or(0);

    for item in source.entries()? {
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
                        missing: 0,
                        first_missing: None,
                        present: 0,
                        first_present: None,
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
        hist.nonces.entry(event.nonce).or_insert(here);

        // Payload against commitment.
        if let Some(slot) = slot_idx.and_then(|i| hist.slots.get_mut(i)) {
            slot.state = state;
            match (&event.commitment, &stored.payload) {
                (Some(c), Some(p)) => {
                    slot.present += 1;
                    slot.first_present.get_or_insert(here);
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
                    slot.missing += 1;
                    slot.first_missing.get_or_insert(here);
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
            findings.extend(verify_jobs(&jobs));
            jobs.clear();
        }
        tick(pos, total, progress);
    }
    findings.extend(verify_jobs(&jobs));
    drop(jobs);
    if pos == 0 {
        return Err(VerifyError::Empty(source.describe()));
    }
    progress(Progress { done: pos, total });

    // Payloads against destruction, per record.
    let mut records = Vec::with_capacity(hist.slots.len());
    for slot in hist.slots {
        let Some(state) = slot.state else { continue };
        let lawfully_destroyed = state.destroyed.as_ref().is_some_and(|d| d.lawful);
        let content_missing = slot.missing > 0 && !lawfully_destroyed;
        if content_missing {
            findings.push(
                Finding::new(
                    FindingKind::PayloadMissing,
                    slot.first_missing,
                    Some(slot.id.clone()),
                    format!("{} payload(s) missing without a lawful destruction of the record: unauthorized destruction", slot.missing),
                )
                .expected_found("payload present", "absent"),
            );
        }
        if let (Some(d), true) = (&state.destroyed, slot.present > 0) {
            findings.push(Finding::new(
                FindingKind::PayloadAfterDestruction,
                slot.first_present,
                Some(slot.id.clone()),
                format!(
                    "{} payload(s) still stored although the record was destroyed at seq {}",
                    slot.present, d.seq
                ),
            ));
        }
        records.push(VerifiedRecord {
            id: slot.id,
            state,
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
    if let Some(exp) = &policy.expected_origin {
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

    let checkpoint = judge_checkpoints(
        candidates,
        policy,
        &registry,
        &origin,
        pos,
        &roots,
        &mut findings,
    );
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
    })
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
fn judge_checkpoints(
    candidates: Vec<Candidate>,
    policy: &Policy,
    registry: &Registry,
    origin: &str,
    size: u64,
    roots: &HashMap<u64, [u8; 32]>,
    findings: &mut Vec<Finding>,
) -> Option<VerifiedCheckpoint> {
    // (size) -> root -> (note text, sources): validly signed checkpoints of this origin.
    let mut valid: BTreeMap<u64, BTreeMap<[u8; 32], Seen>> = BTreeMap::new();
    let mut notes: HashMap<String, Note> = HashMap::new();
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
        match note.verify(&keys_for(&note, policy, registry)) {
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
        if cp.origin != origin {
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
                findings.push(with_all(
                    Finding::new(
                        FindingKind::Truncation,
                        Some(size),
                        None,
                        format!("a checkpoint covers {cp_size} entries but the ledger holds {size}: entries were truncated or rolled back"),
                    )
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
