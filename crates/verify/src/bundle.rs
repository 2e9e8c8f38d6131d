//! Evidence bundles: one record's entries, payloads and proofs, verifiable offline.
//!
//! # Format `caseledger-bundle/v1` (JSON; bytes are standard base64 with padding)
//!
//! ```text
//! {
//!   "format": "caseledger-bundle/v1",
//!   "origin": "<checkpoint origin>",
//!   "ledger_key": "<signed-note verifier key of the ledger: name+hex8+base64(0x01||pk)>",
//!   "checkpoint": "<signed checkpoint note text, cosignature lines included>",
//!   "record": "<record id>",
//!   "admin_entries": [ BundleEntry, ... ],   genesis, enrolments, revocations up to the checkpoint
//!   "entries": [ BundleEntry, ... ]          every entry of the record up to the checkpoint
//! }
//! BundleEntry = {
//!   "seq": <u64>,
//!   "entry": "<base64 canonical entry bytes E_seq>",
//!   "payload": "<base64 salt(32) || content>" | null,   null once destroyed (or for admin entries)
//!   "proof": ["<base64 32-byte hash>", ...]             RFC 6962 inclusion proof of leaf seq
//! }                                                     in the checkpoint's tree
//! ```
//!
//! A bundle reveals nothing about other clients: besides the record's own entries it holds
//! only administration entries (actor ids, roles, public keys) and proof hashes.
//!
//! What [`verify_bundle`] proves: each entry shown is in the ledger at its seq under a
//! checkpoint signed by a trusted key; each signature, the record's state machine (replayed
//! over the administration entries and the record's entries), each payload against its
//! commitment, and missing payloads against a lawful destruction. What it cannot prove:
//! that no entry of the record was left out of the bundle (the record index is not
//! committed in the tree); a consistency proof to a newer checkpoint the auditor holds.

use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::judge::keys_for;
use crate::policy::Policy;
use crate::sigs::{verify_jobs, SigJob};
use crate::VerifyError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::event::{Entry, Payload};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::merkle::{verify_inclusion, Sha256Hasher};
use caseledger_core::note::{Note, NoteError, NoteVerifier, ALG_ED25519};
use caseledger_core::record::{self, History, RecordState, Registry, Step};
use caseledger_core::{Nonce, RecordId, Seq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};

/// The format name of version 1.
pub const FORMAT_V1: &str = "caseledger-bundle/v1";

/// Bytes, serialized as a standard base64 string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    // May hold a payload: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // The decoder's message quotes a symbol of the text (which may encode a payload):
        // say only where it failed.
        B64.decode(s.as_bytes()).map(Base64).map_err(|_| {
            serde::de::Error::custom(format!(
                "a value of {} characters is not standard base64",
                s.len()
            ))
        })
    }
}

/// `message` with every double-quoted string replaced by `"<N chars redacted>"`: serde_json
/// quotes an unexpected string value in its errors (`invalid type: string "…"`), and a
/// bundle's strings include base64 payloads. Field names (in backticks) are kept.
fn redact_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => {
                    escaped = false;
                    n += 1;
                }
            }
        }
        out.push_str(&format!("\"<{n} chars redacted>\""));
    }
    out
}

/// One entry in a bundle, with its payload (if kept) and its inclusion proof.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BundleEntry {
    /// The entry's seq (its leaf index).
    pub seq: u64,
    /// The stored entry bytes.
    pub entry: Base64,
    /// The stored payload value (`salt || content`), or null.
    pub payload: Option<Base64>,
    /// The inclusion proof of leaf `seq` in the checkpoint's tree, each hash 32 bytes.
    pub proof: Vec<Base64>,
}

/// An evidence bundle (a plain struct: the exporter fills it from the store).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Bundle {
    /// [`FORMAT_V1`].
    pub format: String,
    /// The ledger's origin.
    pub origin: String,
    /// The ledger key as a signed-note verifier key string.
    pub ledger_key: String,
    /// The signed checkpoint note every proof leads to.
    pub checkpoint: String,
    /// The record.
    pub record: RecordId,
    /// Genesis, enrolments and revocations up to the checkpoint.
    pub admin_entries: Vec<BundleEntry>,
    /// The record's entries up to the checkpoint.
    pub entries: Vec<BundleEntry>,
}

impl Bundle {
    /// The bundle as JSON bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, VerifyError> {
        serde_json::to_vec_pretty(self).map_err(|e| VerifyError::BadBundle(e.to_string()))
    }
    /// Reads a bundle from JSON; refuses other formats.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, VerifyError> {
        let b: Bundle = serde_json::from_slice(bytes)
            .map_err(|e| VerifyError::BadBundle(redact_strings(&e.to_string())))?;
        if b.format != FORMAT_V1 {
            return Err(VerifyError::BadBundle(format!(
                "unknown format {:?}",
                b.format.chars().take(64).collect::<String>()
            )));
        }
        Ok(b)
    }
}

/// The result of verifying a bundle: the record's state and every finding.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    record: RecordId,
    origin: String,
    checkpoint: Option<Checkpoint>,
    self_attested: bool,
    findings: Vec<Finding>,
    state: Option<RecordState>,
    registry: Registry,
    entries: usize,
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

/// Verifies a bundle offline. Errors only for an unreadable bundle (wrong format);
/// everything wrong inside it is a finding.
#[allow(clippy::too_many_lines)]
pub fn verify_bundle(bundle: &Bundle, policy: &Policy) -> Result<VerifiedBundle, VerifyError> {
    if bundle.format != FORMAT_V1 {
        return Err(VerifyError::BadBundle(format!(
            "unknown format {:?}",
            bundle.format.chars().take(64).collect::<String>()
        )));
    }
    if bundle.entries.is_empty() {
        return Err(VerifyError::Empty(format!(
            "bundle for record {}",
            bundle.record
        )));
    }
    let mut findings = Vec::new();
    let inconsistent = |seq: Option<u64>, msg: &str| {
        Finding::new(
            FindingKind::BundleInconsistent,
            seq,
            Some(bundle.record.clone()),
            msg,
        )
    };

    // The ledger key the bundle names, and the checkpoint.
    let bundle_key = NoteVerifier::parse(&bundle.ledger_key).ok();
    if bundle_key.is_none() {
        findings.push(inconsistent(None, "the bundle's ledger key does not parse"));
    }
    let self_attested = policy.trusted_keys.is_empty();
    let note = Note::parse(bundle.checkpoint.as_bytes()).ok();
    let checkpoint = note
        .as_ref()
        .and_then(|n| Checkpoint::parse_body(n.text()).ok());
    let mut cp_ok = false;
    match (&note, &checkpoint) {
        (Some(n), Some(cp)) => {
            let keys: Vec<NoteVerifier> = if self_attested {
                bundle_key.iter().cloned().collect()
            } else {
                policy.trusted_keys.clone()
            };
            let with_cp =
                |f: Finding| f.with_checkpoint(CheckpointSource::Bundle, bundle.checkpoint.clone());
            match n.verify(&keys) {
                Err(NoteError::InvalidSignature { name, key_id }) => findings.push(with_cp(
                    Finding::new(
                        FindingKind::CheckpointBadSignature,
                        None,
                        None,
                        "the bundle's checkpoint has a bad signature",
                    )
                    .with_key(format!("{name}+{key_id:08x}")),
                )),
                Err(e) => findings.push(with_cp(Finding::new(
                    FindingKind::MalformedCheckpoint,
                    None,
                    None,
                    e.to_string(),
                ))),
                Ok(v) if !v.verified.iter().any(|s| s.algorithm == ALG_ED25519) => {
                    findings.push(with_cp(Finding::new(
                        FindingKind::CheckpointUntrustedKey,
                        None,
                        None,
                        "the bundle's checkpoint is not signed by a trusted key",
                    )))
                }
                Ok(_) => cp_ok = true,
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
            // Auditor-held checkpoints of the same size must agree.
            for held in &policy.checkpoints {
                let Some(h) = Note::parse(held.as_bytes())
                    .ok()
                    .and_then(|hn| Checkpoint::parse_body(hn.text()).ok().map(|c| (hn, c)))
                else {
                    continue;
                };
                let trusted =
                    h.0.verify(&keys_for(&h.0, policy, &Registry::default()))
                        .is_ok_and(|v| v.verified.iter().any(|s| s.algorithm == ALG_ED25519));
                if trusted && h.1.origin == cp.origin && h.1.size == cp.size && h.1.root != cp.root
                {
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
        }
        _ => findings.push(
            Finding::new(
                FindingKind::MalformedCheckpoint,
                None,
                None,
                "the bundle's checkpoint does not parse",
            )
            .with_checkpoint(CheckpointSource::Bundle, bundle.checkpoint.clone()),
        ),
    }

    // Merge admin and record entries by seq; check membership and proofs.
    let mut all: BTreeMap<u64, (&BundleEntry, bool)> = BTreeMap::new();
    for (list, is_record) in [(&bundle.admin_entries, false), (&bundle.entries, true)] {
        for e in list {
            if all.insert(e.seq, (e, is_record)).is_some() {
                findings.push(inconsistent(
                    Some(e.seq),
                    "two bundle entries claim the same seq",
                ));
            }
        }
    }
    let hasher = Sha256Hasher;
    let mut registry = Registry::default();
    let mut state: Option<RecordState> = None;
    let mut hist = BundleHistory {
        record_of: HashMap::new(),
        nonces: HashMap::new(),
    };
    let mut jobs = Vec::new();
    let (mut missing, mut first_missing, mut present, mut first_present) = (0u64, None, 0u64, None);
    for (seq, (be, is_record)) in all {
        let rid = is_record.then(|| bundle.record.clone());
        if let (Some(cp), true) = (&checkpoint, cp_ok) {
            let leaf = merkle_leaf(&entry_hash(&be.entry.0));
            let proof: Option<Vec<[u8; 32]>> = be
                .proof
                .iter()
                .map(|h| <[u8; 32]>::try_from(h.0.as_slice()).ok())
                .collect();
            let res = proof
                .ok_or_else(|| "a proof hash is not 32 bytes".to_owned())
                .and_then(|p| {
                    verify_inclusion(&hasher, seq, cp.size, &leaf, &p, &cp.root)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = res {
                findings.push(Finding::new(
                    FindingKind::BadInclusionProof,
                    Some(seq),
                    rid.clone(),
                    format!("the entry is not proven in the checkpoint's tree: {e}"),
                ));
            }
        }
        let entry = match Entry::from_bytes(&be.entry.0) {
            Ok(e) => e,
            Err(e) => {
                findings.push(Finding::new(
                    FindingKind::MalformedEntry,
                    Some(seq),
                    rid,
                    format!("entry bytes refused: {e}"),
                ));
                continue;
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
                Some(seq),
                "an entry belongs to another record, or an administration entry names a record",
            ));
            continue;
        }
        if let Some(k) = registry.author_key(ev) {
            if let Some(b) = crate::replay::event_slice(&be.entry.0) {
                jobs.push(SigJob {
                    seq,
                    record: rid.clone(),
                    event_bytes: b.to_vec(),
                    signature: entry.event.signature.0,
                    key: k,
                });
            }
        }
        if let caseledger_core::event::EventKind::Genesis {
            ledger_key, origin, ..
        } = &ev.kind
        {
            if bundle_key
                .as_ref()
                .is_some_and(|k| k.public_key() != *ledger_key)
            {
                findings.push(
                    inconsistent(
                        Some(seq),
                        "the bundle's ledger key is not the one genesis names",
                    )
                    .with_key(ledger_key),
                );
            }
            if origin.as_str() != bundle.origin {
                findings.push(
                    inconsistent(Some(seq), "genesis names another origin than the bundle")
                        .expected_found(&bundle.origin, origin),
                );
            }
            if let (false, Some(_)) = (self_attested, &bundle_key) {
                if !policy
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
        let step = Step {
            seq: Seq(seq),
            recorded_at: entry.recorded_at,
            event: ev,
        };
        let mut rec = if is_record { state.take() } else { None };
        if let Err(v) = record::check(&registry, rec.as_ref(), step, &hist) {
            findings.push(Finding::new(
                FindingKind::of_violation(&v),
                Some(seq),
                rid.clone(),
                v.to_string(),
            ));
        }
        record::apply(&mut registry, &mut rec, step);
        if is_record {
            state = rec;
            hist.record_of.insert(seq, bundle.record.clone());
        }
        hist.nonces.entry(ev.nonce).or_insert(seq);
        match (&ev.commitment, &be.payload) {
            (Some(c), Some(p)) => {
                present += 1;
                first_present.get_or_insert(seq);
                if Payload::from_stored(&p.0).is_none_or(|p| p.commitment() != *c) {
                    findings.push(Finding::new(
                        FindingKind::CommitmentMismatch,
                        Some(seq),
                        rid,
                        "the payload does not match the entry's commitment: falsified content",
                    ));
                }
            }
            (Some(_), None) => {
                missing += 1;
                first_missing.get_or_insert(seq);
            }
            (None, Some(_)) => findings.push(Finding::new(
                FindingKind::UnexpectedPayload,
                Some(seq),
                rid,
                "a payload for an entry that commits to none",
            )),
            (None, None) => {}
        }
    }
    findings.extend(verify_jobs(&jobs));
    if let Some(s) = &state {
        let lawful = s.destroyed.as_ref().is_some_and(|d| d.lawful);
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
    }
    findings.sort_by_key(|f| (f.seq.is_none(), f.seq.unwrap_or(0)));
    Ok(VerifiedBundle {
        record: bundle.record.clone(),
        origin: bundle.origin.clone(),
        checkpoint,
        self_attested,
        findings,
        state,
        registry,
        entries: bundle.entries.len(),
    })
}
