//! Evidence bundles: verifying one record's entries, payloads and proofs offline.
//!
//! The bundle format (`caseledger-bundle/v2`) and its JSON codec are
//! [`caseledger_core::bundle`] (re-exported here); this module judges a bundle.
//!
//! What [`verify_bundle`] proves: each entry shown is in the ledger at its seq under a
//! checkpoint signed by a trusted key; each signature, the record's state machine (replayed
//! over the administration entries and the record's entries), each payload against its
//! commitment, and missing payloads against a lawful destruction; and that the bundle
//! holds the whole record up to its `record_head` ([`Complete`]): the store-assigned
//! placements of the record's entries run through ordinals 1..n, each naming the previous
//! one's seq, and entry n is a `record_head` stating the n-1 before it. Any omitted entry
//! is a `bundle_incomplete` finding naming the missing ordinal (and seq, when the next
//! entry names it). What it cannot prove: that the record had no entry after its
//! `record_head` (the verdict names the head's seq); a consistency proof to a newer
//! checkpoint the auditor holds.
//!
//! The steps, in order: [`decode`] (bytes to [`Bundle`]), then inside [`verify_bundle`]:
//! the bundle's ledger key, its checkpoint (signature, origin, split views against the
//! auditor's checkpoints), the entries merged by seq, and for each entry its inclusion
//! proof, its bytes, its membership, its signature, genesis against the bundle's key, the
//! state machine and its payload; finally the author signatures (in parallel) and the
//! record's payloads against its destruction.

use crate::anchor::{Anchor, Held};
use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::judge::{judge_signature, keys_for, SignatureVerdict};
use crate::policy::Policy;
use crate::sigs::{verify_jobs, SigJob};
use crate::VerifyError;
use caseledger_core::bundle::BundleError;
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::event::{Entry, EventKind, Placement};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::merkle::{verify_inclusion, Hash, Sha256Hasher};
use caseledger_core::note::{Note, NoteVerifier};
use caseledger_core::record::{self, History, RecordState, Registry, Status, Step};
use caseledger_core::{Date, Nonce, PublicKey, RecordId, Seq, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use caseledger_core::bundle::{Base64, Bundle, BundleEntry, BUNDLE_FORMAT};

impl From<BundleError> for VerifyError {
    fn from(e: BundleError) -> VerifyError {
        VerifyError::BadBundle(e.to_string())
    }
}

/// Step 1: reads a bundle from its JSON bytes; refuses other formats. Errors never quote
/// the bundle's values (they include payloads).
pub fn decode(bytes: &[u8]) -> Result<Bundle, VerifyError> {
    Ok(Bundle::from_json(bytes)?)
}

/// The result of verifying a bundle: the record's state and every finding.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    record: RecordId,
    origin: String,
    checkpoint: Option<Checkpoint>,
    anchor: Anchor,
    self_attested: bool,
    findings: Vec<Finding>,
    state: Option<RecordState>,
    registry: Registry,
    entries: usize,
    complete: Option<Complete>,
    status: Option<(Status, Date)>,
}

/// What a bundle proves complete: the record's entries 1..`entries` up to its
/// `record_head` at seq `head`, every one proven in the checkpoint of `checkpoint_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complete {
    /// The record.
    pub record: RecordId,
    /// The number of the record's entries, the `record_head` included (its ordinal).
    pub entries: u64,
    /// The seq of the `record_head`.
    pub head: u64,
    /// The size of the checkpoint the proofs lead to.
    pub checkpoint_size: u64,
}

impl std::fmt::Display for Complete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "complete: entries 1..{} of record {} up to seq {}",
            self.entries, self.record, self.head
        )
    }
}

impl VerifiedBundle {
    /// The record.
    pub fn record(&self) -> &RecordId {
        &self.record
    }
    /// The bundle's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// The checkpoint the proofs were checked against, if it parsed.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }
    /// What the verdict rests on: the auditor's own copy of the bundle's checkpoint, a ledger
    /// key the auditor supplied, or nothing (the bundle's own key: self-attested).
    pub fn anchor(&self) -> &Anchor {
        &self.anchor
    }
    /// The checkpoint was checked with the bundle's own ledger key (the auditor gave none).
    pub fn checkpoint_key_self_attested(&self) -> bool {
        self.self_attested
    }
    /// Every finding, by seq.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
    /// No findings.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
    /// The record's state after its entries.
    pub fn state(&self) -> Option<&RecordState> {
        self.state.as_ref()
    }
    /// The administration state (actors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// Entries of the record in the bundle.
    pub fn entries(&self) -> usize {
        self.entries
    }
    /// What the bundle proves complete, when it does: ordinals 1..n without a gap, ending
    /// in a `record_head` that states them, all proven in a trusted checkpoint. `None` when
    /// any of that fails (the findings say why).
    pub fn complete(&self) -> Option<&Complete> {
        self.complete.as_ref()
    }
    /// The record's retention status, as of the ledger date of its last entry in the
    /// bundle (the `record_head`'s: the day of the export), and that date.
    pub fn status(&self) -> Option<(Status, Date)> {
        self.status
    }
}

struct BundleHistory {
    record_of: HashMap<u64, RecordId>,
    nonces: HashMap<Nonce, u64>,
}

impl History for BundleHistory {
    type Error = std::convert::Infallible;
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>, Self::Error> {
        Ok(self.record_of.get(&seq.0).cloned())
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>, Self::Error> {
        Ok(self.nonces.get(nonce).map(|s| Seq(*s)))
    }
}

/// Verifies a bundle offline. Errors only for an unreadable bundle (wrong format, no
/// entries); everything wrong inside it is a finding.
pub fn verify_bundle(bundle: &Bundle, policy: &Policy) -> Result<VerifiedBundle, VerifyError> {
    bundle.check_format()?;
    if bundle.entries.is_empty() {
        return Err(VerifyError::Empty(format!(
            "bundle for record {}",
            bundle.record
        )));
    }
    let mut findings = Vec::new();
    let keys = check_keys(bundle, policy, &mut findings);
    let (checkpoint, cp_ok) = check_checkpoint(bundle, policy, &keys, &mut findings);
    let proven_against = checkpoint.as_ref().filter(|_| cp_ok);
    let mut replay = BundleReplay::new(bundle, policy, &keys);
    let mut unproven = BTreeSet::new();
    for (seq, (be, is_record)) in merge_entries(bundle, &mut findings) {
        let rid = is_record.then(|| bundle.record.clone());
        if let Some(cp) = proven_against {
            if let Some(f) = check_proof(seq, be, cp, rid.clone()) {
                unproven.insert(seq);
                findings.push(f);
            }
        }
        replay.entry(seq, be, rid, &mut findings);
    }
    findings.extend(verify_jobs(&replay.jobs));
    findings.extend(judge_record(bundle, &replay));
    let complete = check_complete(
        bundle,
        &replay.own,
        proven_against,
        &unproven,
        &mut findings,
    );
    let status = record_status(&replay);
    findings.sort_by_key(|f| (f.seq.is_none(), f.seq.unwrap_or(0)));
    let anchor = bundle_anchor(policy, &keys, proven_against);
    Ok(VerifiedBundle {
        record: bundle.record.clone(),
        origin: bundle.origin.clone(),
        checkpoint,
        anchor,
        self_attested: keys.self_attested,
        findings,
        state: replay.state,
        registry: replay.registry,
        entries: bundle.entries.len(),
        complete,
        status,
    })
}

/// A bundle finding of kind `bundle_incomplete`.
fn incomplete(bundle: &Bundle, seq: Option<u64>, msg: impl Into<String>) -> Finding {
    Finding::new(
        FindingKind::BundleIncomplete,
        seq,
        Some(bundle.record.clone()),
        msg,
    )
}

/// Step 8: completeness. The record's entries (in seq order, as decoded) must carry
/// ordinals 1, 2, … each naming the previous one's seq, and the last must be a
/// `record_head` stating the entries before it. Every gap is a finding naming the missing
/// ordinals and, where the next entry names it, the missing seq. Returns what is proven
/// complete: only when all of that holds and every entry of the record is proven in a
/// trusted checkpoint.
fn check_complete(
    bundle: &Bundle,
    own: &[OwnEntry],
    proven: Option<&Checkpoint>,
    unproven: &BTreeSet<u64>,
    findings: &mut Vec<Finding>,
) -> Option<Complete> {
    let mut ok = true;
    let mut next = 1u64;
    let mut prev: Option<Seq> = None;
    for e in own {
        let Some(p) = e.placement else {
            findings.push(incomplete(
                bundle,
                Some(e.seq),
                "an entry of the record carries no placement: its ordinal is unknown",
            ));
            ok = false;
            continue;
        };
        if p.ordinal > next {
            ok = false;
            let last_missing = p.ordinal.saturating_sub(1);
            let ordinals = if last_missing == next {
                format!("ordinal {next}")
            } else {
                format!("ordinals {next}..{last_missing}")
            };
            let at = p
                .prev_in_record
                .map(|s| format!("; ordinal {last_missing} is seq {}", s.0))
                .unwrap_or_default();
            findings.push(
                incomplete(
                    bundle,
                    p.prev_in_record.map(|s| s.0),
                    format!(
                        "the record's entry {ordinals} is missing from the bundle (the entry at seq {} is ordinal {}{at})",
                        e.seq, p.ordinal
                    ),
                )
                .expected_found(next, p.ordinal),
            );
        } else if p.ordinal < next {
            ok = false;
            findings.push(
                incomplete(
                    bundle,
                    Some(e.seq),
                    format!(
                        "the entry's ordinal {} repeats or goes back (ordinal {next} expected)",
                        p.ordinal
                    ),
                )
                .expected_found(next, p.ordinal),
            );
        } else if p.prev_in_record != prev {
            ok = false;
            let seq_text =
                |s: Option<Seq>| s.map_or_else(|| "none".to_owned(), |s| s.0.to_string());
            findings.push(
                incomplete(
                    bundle,
                    Some(e.seq),
                    "the entry's previous entry of the record is not the bundle's previous entry: an entry was replaced",
                )
                .expected_found(seq_text(prev), seq_text(p.prev_in_record)),
            );
        }
        next = next.max(p.ordinal.saturating_add(1));
        prev = Some(Seq(e.seq));
    }
    let Some(last) = own.last() else {
        findings.push(incomplete(
            bundle,
            None,
            "no entry of the record decodes: nothing is proven",
        ));
        return None;
    };
    // An entry without a placement was reported above.
    let p = last.placement?;
    match last.head {
        None => {
            ok = false;
            findings.push(incomplete(
                bundle,
                None,
                format!(
                    "the bundle does not end in a record_head: the record's entries from ordinal {} on (after seq {}) may have been left out",
                    p.ordinal.saturating_add(1),
                    last.seq
                ),
            ));
        }
        Some((entries, head_last)) => {
            // Ordinals come from untrusted bytes: compare without arithmetic that can wrap.
            let before = p.ordinal.saturating_sub(1);
            if p.ordinal == 0 || entries != before || Some(head_last) != p.prev_in_record {
                ok = false;
                findings.push(
                    incomplete(
                        bundle,
                        Some(last.seq),
                        format!(
                            "the record_head states {entries} entries ending at seq {}, not the {} before it in the record",
                            head_last.0, before
                        ),
                    )
                    .expected_found(before, entries),
                );
            }
        }
    }
    let cp = proven?;
    let all_proven = own.iter().all(|e| !unproven.contains(&e.seq));
    (ok && all_proven).then(|| Complete {
        record: bundle.record.clone(),
        entries: p.ordinal,
        head: last.seq,
        checkpoint_size: cp.size,
    })
}

/// The record's status as of the ledger date of its last entry in the bundle.
fn record_status(replay: &BundleReplay<'_>) -> Option<(Status, Date)> {
    let s = replay.state.as_ref()?;
    let at = replay.own.last()?.recorded_at;
    let day = replay.registry.ledger_date(at).ok()?;
    let lawful = s.destroyed.as_ref().is_some_and(|d| d.lawful);
    Some((s.status(day, replay.missing.0 > 0 && !lawful), day))
}

/// One of the record's entries as the completeness check needs it.
struct OwnEntry {
    seq: u64,
    placement: Option<Placement>,
    /// `(entries, last)` of a `record_head`.
    head: Option<(u64, Seq)>,
    recorded_at: Timestamp,
}

/// What a bundle's verdict rests on. Its proofs lead to its checkpoint (`proven`, when its
/// signature held): the auditor's own validly signed copy of that checkpoint anchors it,
/// else a ledger key the auditor supplied; else nothing does.
fn bundle_anchor(policy: &Policy, keys: &BundleKeys, proven: Option<&Checkpoint>) -> Anchor {
    let verifiers: Vec<NoteVerifier> = if keys.self_attested {
        keys.bundle_key.iter().cloned().collect()
    } else {
        policy.trusted_keys.clone()
    };
    let held_copy = |cp: &Checkpoint| {
        policy.checkpoints.iter().any(|held| {
            Note::parse(held.as_bytes()).ok().is_some_and(|hn| {
                Checkpoint::parse_body(hn.text()).is_ok_and(|hc| {
                    hc.origin == cp.origin && hc.size == cp.size && hc.root == cp.root
                }) && judge_signature(&hn, &verifiers) == SignatureVerdict::Trusted
            })
        })
    };
    let held = Held {
        supplied: proven
            .filter(|cp| held_copy(cp))
            .map(|cp| (cp.size, cp.root)),
        quorum: None,
        keyed: proven.filter(|_| !keys.self_attested).map(|cp| cp.size),
        supplied_any: policy.supplies_anchor(),
    };
    Anchor::decide(proven.map_or(0, |cp| cp.size), &held)
}

/// A bundle finding of kind `bundle_inconsistent`.
fn inconsistent(bundle: &Bundle, seq: Option<u64>, msg: &str) -> Finding {
    Finding::new(
        FindingKind::BundleInconsistent,
        seq,
        Some(bundle.record.clone()),
        msg,
    )
}

/// The keys a bundle is judged with.
struct BundleKeys {
    /// The ledger key the bundle names, if it parses.
    bundle_key: Option<NoteVerifier>,
    /// The auditor trusts no key of its own: the bundle's key is used.
    self_attested: bool,
}

/// Step 2: the bundle's own ledger key, and whether the auditor gave keys of its own.
fn check_keys(bundle: &Bundle, policy: &Policy, findings: &mut Vec<Finding>) -> BundleKeys {
    let bundle_key = NoteVerifier::parse(&bundle.ledger_key).ok();
    if bundle_key.is_none() {
        findings.push(inconsistent(
            bundle,
            None,
            "the bundle's ledger key does not parse",
        ));
    }
    BundleKeys {
        bundle_key,
        self_attested: policy.trusted_keys.is_empty(),
    }
}

/// Step 3: the checkpoint every proof leads to: it parses, is signed by a trusted key (or
/// the bundle's own when the auditor gave none), names the bundle's origin (and the one the
/// auditor expects), and agrees with the auditor's checkpoints of the same size. Returns
/// the parsed checkpoint and whether its signature is trusted (proofs are checked only then).
fn check_checkpoint(
    bundle: &Bundle,
    policy: &Policy,
    keys: &BundleKeys,
    findings: &mut Vec<Finding>,
) -> (Option<Checkpoint>, bool) {
    let note = Note::parse(bundle.checkpoint.as_bytes()).ok();
    let checkpoint = note
        .as_ref()
        .and_then(|n| Checkpoint::parse_body(n.text()).ok());
    let (Some(n), Some(cp)) = (&note, &checkpoint) else {
        findings.push(
            Finding::new(
                FindingKind::MalformedCheckpoint,
                None,
                None,
                "the bundle's checkpoint does not parse",
            )
            .with_checkpoint(CheckpointSource::Bundle, bundle.checkpoint.clone()),
        );
        return (checkpoint, false);
    };
    let verifiers: Vec<NoteVerifier> = if keys.self_attested {
        keys.bundle_key.iter().cloned().collect()
    } else {
        policy.trusted_keys.clone()
    };
    let with_cp =
        |f: Finding| f.with_checkpoint(CheckpointSource::Bundle, bundle.checkpoint.clone());
    let mut cp_ok = false;
    match judge_signature(n, &verifiers) {
        SignatureVerdict::Bad(key) => findings.push(with_cp(
            Finding::new(
                FindingKind::CheckpointBadSignature,
                None,
                None,
                "the bundle's checkpoint has a bad signature",
            )
            .with_key(key),
        )),
        SignatureVerdict::Malformed(why) => findings.push(with_cp(Finding::new(
            FindingKind::MalformedCheckpoint,
            None,
            None,
            why,
        ))),
        SignatureVerdict::Untrusted(_) => findings.push(with_cp(Finding::new(
            FindingKind::CheckpointUntrustedKey,
            None,
            None,
            "the bundle's checkpoint is not signed by a trusted key",
        ))),
        SignatureVerdict::Trusted => cp_ok = true,
    }
    if cp.origin != bundle.origin {
        findings.push(with_cp(
            Finding::new(
                FindingKind::CheckpointWrongOrigin,
                None,
                None,
                "the bundle's checkpoint names another origin",
            )
            .expected_found(&bundle.origin, &cp.origin),
        ));
    }
    if let Some(exp) = &policy.expected_origin {
        if *exp != bundle.origin {
            findings.push(
                Finding::new(
                    FindingKind::OriginMismatch,
                    None,
                    None,
                    "the bundle is for another origin than the auditor expects",
                )
                .expected_found(exp, &bundle.origin),
            );
        }
    }
    findings.extend(split_views(bundle, cp, policy));
    (checkpoint, cp_ok)
}

/// Auditor-held checkpoints of the same size as the bundle's must have the same root.
fn split_views(bundle: &Bundle, cp: &Checkpoint, policy: &Policy) -> Vec<Finding> {
    let mut findings = Vec::new();
    for held in &policy.checkpoints {
        let Some((hn, hc)) = Note::parse(held.as_bytes())
            .ok()
            .and_then(|hn| Checkpoint::parse_body(hn.text()).ok().map(|c| (hn, c)))
        else {
            continue;
        };
        let trusted = judge_signature(&hn, &keys_for(&hn, policy, &Registry::default()))
            == SignatureVerdict::Trusted;
        if trusted && hc.origin == cp.origin && hc.size == cp.size && hc.root != cp.root {
            findings.push(
                Finding::new(
                    FindingKind::SplitView,
                    None,
                    None,
                    format!(
                        "two validly signed checkpoints of size {} disagree",
                        cp.size
                    ),
                )
                .with_checkpoint(CheckpointSource::Bundle, bundle.checkpoint.clone())
                .with_checkpoint(CheckpointSource::Supplied, held.clone()),
            );
        }
    }
    findings
}

/// Step 4: administration and record entries merged by seq (`true` for the record's own);
/// two entries claiming one seq are a finding (the later one is kept).
fn merge_entries<'b>(
    bundle: &'b Bundle,
    findings: &mut Vec<Finding>,
) -> BTreeMap<u64, (&'b BundleEntry, bool)> {
    let mut all = BTreeMap::new();
    for (list, is_record) in [(&bundle.admin_entries, false), (&bundle.entries, true)] {
        for e in list {
            if all.insert(e.seq, (e, is_record)).is_some() {
                findings.push(inconsistent(
                    bundle,
                    Some(e.seq),
                    "two bundle entries claim the same seq",
                ));
            }
        }
    }
    all
}

/// Step 5: the entry's inclusion proof against the (trusted) checkpoint.
fn check_proof(
    seq: u64,
    be: &BundleEntry,
    cp: &Checkpoint,
    rid: Option<RecordId>,
) -> Option<Finding> {
    let leaf = merkle_leaf(&entry_hash(&be.entry.0));
    let proof: Option<Vec<Hash>> = be.proof.iter().map(|h| Hash::from_slice(&h.0)).collect();
    let res = proof
        .ok_or_else(|| "a proof hash is not 32 bytes".to_owned())
        .and_then(|p| {
            verify_inclusion(&Sha256Hasher, seq, cp.size, &leaf, &p, &cp.root)
                .map_err(|e| e.to_string())
        });
    res.err().map(|e| {
        Finding::new(
            FindingKind::BadInclusionProof,
            Some(seq),
            rid,
            format!("the entry is not proven in the checkpoint's tree: {e}"),
        )
    })
}

/// Step 6: the entries replayed in seq order through the record state machine.
struct BundleReplay<'a> {
    bundle: &'a Bundle,
    policy: &'a Policy,
    keys: &'a BundleKeys,
    registry: Registry,
    /// The record's state after the entries so far.
    state: Option<RecordState>,
    hist: BundleHistory,
    /// Author signatures to check (in parallel, at the end).
    jobs: Vec<SigJob>,
    /// Record entries whose committed payload is absent: count and first seq.
    missing: (u64, Option<u64>),
    /// Record entries whose payload is present: count and first seq.
    present: (u64, Option<u64>),
    /// The record's entries that decoded, in seq order.
    own: Vec<OwnEntry>,
}

impl<'a> BundleReplay<'a> {
    fn new(bundle: &'a Bundle, policy: &'a Policy, keys: &'a BundleKeys) -> BundleReplay<'a> {
        BundleReplay {
            bundle,
            policy,
            keys,
            registry: Registry::default(),
            state: None,
            hist: BundleHistory {
                record_of: HashMap::new(),
                nonces: HashMap::new(),
            },
            jobs: Vec::new(),
            missing: (0, None),
            present: (0, None),
            own: Vec::new(),
        }
    }

    /// One entry (`rid` is the record for the record's own entries, `None` for
    /// administration entries): decode, seq, membership, signature job, genesis, fold,
    /// payload.
    fn entry(
        &mut self,
        seq: u64,
        be: &BundleEntry,
        rid: Option<RecordId>,
        findings: &mut Vec<Finding>,
    ) {
        let bundle = self.bundle;
        let is_record = rid.is_some();
        let entry = match Entry::from_bytes(&be.entry.0) {
            Ok(e) => e,
            Err(e) => {
                findings.push(Finding::new(
                    FindingKind::MalformedEntry,
                    Some(seq),
                    rid,
                    format!("entry bytes refused: {e}"),
                ));
                return;
            }
        };
        let ev = &entry.event.event;
        if entry.seq.0 != seq {
            findings.push(
                Finding::new(
                    FindingKind::SeqMismatch,
                    Some(seq),
                    rid.clone(),
                    "the entry's own seq is not its bundle seq",
                )
                .expected_found(seq, entry.seq.0),
            );
        }
        if (is_record && ev.record.as_ref() != Some(&bundle.record))
            || (!is_record && ev.record.is_some())
        {
            findings.push(inconsistent(
                bundle,
                Some(seq),
                "an entry belongs to another record, or an administration entry names a record",
            ));
            return;
        }
        if is_record {
            self.own.push(OwnEntry {
                seq,
                placement: entry.placement,
                head: match &ev.kind {
                    EventKind::RecordHead { entries, last } => Some((*entries, *last)),
                    _ => None,
                },
                recorded_at: entry.recorded_at,
            });
        }
        if let Some(k) = self.registry.author_key(ev) {
            if let Some(b) = caseledger_core::event::event_bytes_in_entry(&be.entry.0) {
                let origin = self.registry.signing_origin(ev).unwrap_or_default();
                self.jobs.push(SigJob {
                    seq,
                    record: rid.clone(),
                    message: entry.event.signature.signed_bytes(origin, b),
                    signature: entry.event.signature.bytes().0,
                    key: k,
                });
            }
        }
        if let EventKind::Genesis {
            ledger_key, origin, ..
        } = &ev.kind
        {
            self.check_genesis(seq, ledger_key, origin.as_str(), findings);
        }
        let step = Step {
            seq: Seq(seq),
            recorded_at: entry.recorded_at,
            placement: entry.placement,
            prev_registry: entry.prev_registry,
            event: ev,
        };
        // The bundle holds every administration entry below its checkpoint, so every
        // registry entry: each entry's pointer can be checked here too.
        if let Err(v) = record::check_prev_registry(&self.registry, step) {
            findings.push(Finding::new(
                FindingKind::of_violation(&v),
                Some(seq),
                rid.clone(),
                v.to_string(),
            ));
        }
        let mut rec = if is_record { self.state.take() } else { None };
        if let Err(v) = record::check(&self.registry, rec.as_ref(), step, &self.hist) {
            findings.push(Finding::new(
                FindingKind::of_violation(&v),
                Some(seq),
                rid.clone(),
                v.to_string(),
            ));
        }
        record::apply(&mut self.registry, &mut rec, step);
        if is_record {
            self.state = rec;
            self.hist.record_of.insert(seq, bundle.record.clone());
        }
        self.hist.nonces.entry(ev.nonce).or_insert(seq);
        findings.extend(self.payload(seq, &entry, be, rid, &bundle.origin));
    }

    /// Genesis names the bundle's ledger key and origin, and a key the auditor trusts.
    fn check_genesis(
        &self,
        seq: u64,
        ledger_key: &PublicKey,
        origin: &str,
        findings: &mut Vec<Finding>,
    ) {
        let bundle = self.bundle;
        let bundle_key = &self.keys.bundle_key;
        if bundle_key
            .as_ref()
            .is_some_and(|k| k.public_key() != *ledger_key)
        {
            findings.push(
                inconsistent(
                    bundle,
                    Some(seq),
                    "the bundle's ledger key is not the one genesis names",
                )
                .with_key(ledger_key),
            );
        }
        if origin != bundle.origin {
            findings.push(
                inconsistent(
                    bundle,
                    Some(seq),
                    "genesis names another origin than the bundle",
                )
                .expected_found(&bundle.origin, origin),
            );
        }
        if let (false, Some(_)) = (self.keys.self_attested, bundle_key) {
            if !self
                .policy
                .trusted_keys
                .iter()
                .any(|t| t.public_key() == *ledger_key)
            {
                findings.push(
                    Finding::new(
                        FindingKind::LedgerKeyNotTrusted,
                        Some(seq),
                        None,
                        "the ledger key named in genesis is not trusted",
                    )
                    .with_key(ledger_key),
                );
            }
        }
    }

    /// The entry's stored payload against its content seal and, when the bundle carries the
    /// entry's key, the decrypted payload against the author's commitment; counts present
    /// and missing payloads.
    fn payload(
        &mut self,
        seq: u64,
        entry: &caseledger_core::event::Entry,
        be: &BundleEntry,
        rid: Option<RecordId>,
        origin: &str,
    ) -> Option<Finding> {
        let commitment = entry.event.event.commitment.as_ref();
        if commitment.is_some() != entry.content.is_some() {
            return Some(Finding::new(
                FindingKind::CommitmentMismatch,
                Some(seq),
                rid,
                "the entry's content seal and the author's commitment disagree (one without the other)",
            ));
        }
        let mismatch = |why: &str| {
            Some(Finding::new(
                FindingKind::CommitmentMismatch,
                Some(seq),
                rid.clone(),
                why.to_owned(),
            ))
        };
        match (commitment, &be.payload) {
            (Some(c), Some(p)) => {
                self.present.0 += 1;
                self.present.1.get_or_insert(seq);
                let sealed = entry.content.map(|s| s.ciphertext);
                if sealed != Some(caseledger_core::hash::ciphertext_digest(&p.0)) {
                    return mismatch(
                        "the stored payload does not match the entry's content seal: falsified content",
                    );
                }
                let (Some(key), Some(record)) = (&be.key, &entry.event.event.record) else {
                    return None;
                };
                let Ok(key) = <[u8; 32]>::try_from(key.0.as_slice()) else {
                    return mismatch("the bundle's payload key is not 32 bytes");
                };
                let key = caseledger_core::content::EntryKey::from_bytes(key);
                match caseledger_core::content::open_payload(&key, origin, record, Seq(seq), &p.0) {
                    Err(_) => mismatch(
                        "the payload does not decrypt with the bundle's key for this entry",
                    ),
                    Ok(p) if p.commitment() != *c => mismatch(
                        "the payload does not match the entry's commitment: falsified content",
                    ),
                    Ok(_) => None,
                }
            }
            (Some(_), None) => {
                self.missing.0 += 1;
                self.missing.1.get_or_insert(seq);
                None
            }
            (None, Some(_)) => Some(Finding::new(
                FindingKind::UnexpectedPayload,
                Some(seq),
                rid,
                "a payload for an entry that commits to none",
            )),
            (None, None) => None,
        }
    }
}

/// Step 7: the record's payloads against its destruction: missing ones need a lawful
/// destruction, and none may remain after one.
fn judge_record(bundle: &Bundle, replay: &BundleReplay<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(s) = &replay.state else {
        return findings;
    };
    let lawful = s.destroyed.as_ref().is_some_and(|d| d.lawful);
    let (missing, first_missing) = replay.missing;
    let (present, first_present) = replay.present;
    if missing > 0 && !lawful {
        findings.push(Finding::new(
            FindingKind::PayloadMissing,
            first_missing,
            Some(bundle.record.clone()),
            format!("{missing} payload(s) missing without a lawful destruction of the record"),
        ));
    }
    if s.destroyed.is_some() && present > 0 {
        findings.push(Finding::new(
            FindingKind::PayloadAfterDestruction,
            first_present,
            Some(bundle.record.clone()),
            "payloads present although the record was destroyed",
        ));
    }
    findings
}
