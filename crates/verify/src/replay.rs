//! The replay: reads entries in order from a [`Start`], checks each, folds the records,
//! grows the Merkle tree, then judges the records' payloads and the checkpoints.
//!
//! [`replay`] is a sequence of named steps over one `Replay`, the state they share. Per
//! entry: `read_key` (the key is the next seq), `append_leaf` (hash the stored bytes, grow
//! the tree, advance the chain), `decode`, `check_header` (seq and chain), `queue_signature`
//! (batched, checked in the background), `fold` (the record state machine) and
//! `check_payload` (against the commitment). Then `finish`: the signatures' findings, the
//! records' payloads against destruction, what genesis claims, the auditor's own root, the
//! checkpoints, and the result.
use crate::anchor::{Anchor, Held};
use crate::attest;
use crate::clock::ClockWatch;
use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::history::{Hist, Slot, Tally};
use crate::judge::{coalesce, parse_candidate, still_trusted, Candidate, Judge};
use crate::keystore::{KeySlot, KeyStore};
use crate::outside_time;
use crate::policy::{Policy, Progress, PROGRESS_EVERY};
use crate::resume::ResumeState;
use crate::sigs::{SigJob, SigPipeline};
use crate::source::{EntryIter, LedgerSource, StoredCheckpoint, StoredEntry, StrayPlace};
use crate::start::Start;
use crate::verified::ContentKeys;
use crate::verified::{Verified, VerifiedCheckpoint, VerifiedRecord};
use crate::VerifyError;
use caseledger_core::encoding::DecodeError;
use caseledger_core::event::EventKind;
use caseledger_core::event::{event_bytes_in_entry, Entry};
use caseledger_core::hash::{ciphertext_digest, entry_hash, merkle_leaf, wrapped_key_digest};
use caseledger_core::merkle::{CompactRange, Hash, Sha256Hasher, TreeHasher};
use caseledger_core::note::ALG_ED25519;
use caseledger_core::record::{self, Registry, Step};
use caseledger_core::{EntryHash, RecordId, Seq, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Entries whose signatures are verified together (spread over all cores).
const SIG_BATCH: usize = 8192;

/// Verifies the entries `entries` yields (from `start` on), then the records and every
/// checkpoint; see the crate docs for what is checked.
pub(crate) fn replay(
    source: &dyn LedgerSource,
    policy: &Policy,
    start: Start,
    entries: EntryIter<'_>,
    progress: &dyn Fn(Progress),
) -> Result<Verified, VerifyError> {
    let mut findings = Vec::new();
    // Checkpoints first: the replay records the root at each of their sizes.
    let candidates = gather_checkpoints(source, policy, &mut findings)?;
    // Time-stamp tokens too: the replay keeps the ledger's root at each of their sizes.
    let tokens = outside_time::gather_tokens(source, policy)?;
    let token_sizes: Vec<u64> = outside_time::token_sizes(&tokens.0).collect();
    let mut r = Replay::new(
        source,
        policy,
        start,
        &candidates,
        &token_sizes,
        findings,
        progress,
    )?;
    for item in entries {
        r.entry(item?)?;
    }
    r.finish(candidates, tokens)
}

/// The stored, logged and supplied checkpoint notes, parsed (a note that does not parse is
/// a finding), identical ones coalesced.
fn gather_checkpoints(
    source: &dyn LedgerSource,
    policy: &Policy,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Candidate>, VerifyError> {
    let mut stored = source.checkpoints()?;
    stored.extend(policy.checkpoints.iter().map(|n| StoredCheckpoint {
        source: CheckpointSource::Supplied,
        key: None,
        note: n.as_bytes().to_vec(),
    }));
    Ok(coalesce(
        stored
            .into_iter()
            .filter_map(|c| parse_candidate(c, findings))
            .collect(),
    ))
}

/// The state the replay's steps share.
struct Replay<'a> {
    source: &'a dyn LedgerSource,
    policy: &'a Policy,
    progress: &'a dyn Fn(Progress),
    /// Entries in the ledger, when the source knows (a hint, for progress only).
    total: Option<u64>,
    /// Seq of the first entry read (see [`Start::from`]).
    from: u64,
    /// Whether the prefix below `from` is taken from the auditor's state.
    incremental: bool,
    /// See [`Start::trusted_root`].
    trusted_root: Option<(u64, Hash)>,
    /// See [`Start::known_roots`].
    known_roots: BTreeMap<u64, Hash>,
    /// See [`Start::prior_checkpoint`].
    prior_checkpoint: Option<String>,
    /// The Merkle tree over the entries read so far (a compact range).
    range: CompactRange,
    /// The hash of the last entry read: the next entry's `prev`.
    prev_hash: EntryHash,
    /// The fold's ledger-wide state.
    registry: Registry,
    /// The fold's history and per-record slots.
    hist: Hist,
    /// Record id to its slot's ordinal in `hist.slots`.
    ordinals: HashMap<RecordId, u32>,
    /// Entries read so far, the prefix included: the size of the tree.
    pos: u64,
    /// The last well-formed stored key.
    last_key: Option<u64>,
    /// Sizes whose root a checkpoint or the auditor's state names.
    wanted: BTreeSet<u64>,
    /// The ledger's root at each wanted size reached (or known from the auditor's state).
    roots: HashMap<u64, Hash>,
    /// Signatures queued for the next batch.
    jobs: Vec<SigJob>,
    /// Signature batches are checked in the background while the replay goes on; their
    /// findings are merged back where a blocking check would have put them.
    sigs: SigPipeline,
    findings: Vec<Finding>,
    /// The key store (or an archive's content key frames), if the source has one.
    keys: Option<KeyStore>,
    /// Some entry read carries a content seal.
    sealed: bool,
    /// Per record slot (ordinal): the first entry whose content seal names an erased key
    /// store slot, and that slot.
    erased_at: HashMap<usize, (u64, u32)>,
    /// Key store slots already reported (one `content_key_mismatch` per slot).
    bad_slots: HashSet<u32>,
    /// The ledger clock: corrections, forward-clock destructions, entries in the future.
    clock: ClockWatch,
    /// The `recorded_at` (micros) of every entry read, when outside time is judged
    /// (`i64::MIN` for an entry that did not decode).
    recorded: Option<Vec<i64>>,
    /// The time citation of each destruction read that carries one, by seq.
    citations: HashMap<u64, caseledger_core::citation::TimeCitation>,
    /// Per record slot: the `recorded_at` of its termination in force and of its last
    /// service or contact entry (what the ledger's own clock says of them, [`crate::attest`]).
    marks: HashMap<usize, (Option<Timestamp>, Option<Timestamp>)>,
}

impl<'a> Replay<'a> {
    fn new(
        source: &'a dyn LedgerSource,
        policy: &'a Policy,
        start: Start,
        candidates: &[Candidate],
        token_sizes: &[u64],
        findings: Vec<Finding>,
        progress: &'a dyn Fn(Progress),
    ) -> Result<Replay<'a>, VerifyError> {
        let Start {
            from,
            incremental,
            range,
            prev_hash,
            registry,
            hist,
            known_roots,
            trusted_root,
            prior_checkpoint,
        } = start;
        let mut wanted: BTreeSet<u64> = candidates
            .iter()
            .filter_map(|c| c.parsed.as_ref().map(|(_, cp)| cp.size))
            .collect();
        wanted.extend(trusted_root.map(|(n, _)| n));
        wanted.extend(token_sizes);
        let mut roots: HashMap<u64, Hash> = HashMap::new();
        if wanted.contains(&0) {
            roots.insert(0, Sha256Hasher.empty_root());
        }
        // Below the resume point, only the roots the auditor's state determines.
        for &m in wanted.range(..=from) {
            if let Some(r) = known_roots
                .get(&m)
                .copied()
                .or_else(|| range.prefix_root(&Sha256Hasher, m))
            {
                roots.insert(m, r);
            }
        }
        let mut ordinals: HashMap<RecordId, u32> = HashMap::new();
        for (i, slot) in hist.slots.iter().enumerate() {
            ordinals.insert(
                slot.id.clone(),
                u32::try_from(i).map_err(|_| VerifyError::TooLarge)?,
            );
        }
        Ok(Replay {
            source,
            policy,
            progress,
            total: source.len_hint(),
            from,
            incremental,
            trusted_root,
            known_roots,
            prior_checkpoint,
            range,
            prev_hash,
            registry,
            hist,
            ordinals,
            pos: from,
            last_key: from.checked_sub(1),
            wanted,
            roots,
            jobs: Vec::new(),
            sigs: SigPipeline::new(),
            findings,
            // A key store without a slot (a ledger imported from an archive without content
            // keys) holds no key: the keys are absent, as without the file.
            keys: source
                .key_store()?
                .filter(|k| !k.slots.is_empty() || k.damage.is_some()),
            sealed: false,
            erased_at: HashMap::new(),
            bad_slots: HashSet::new(),
            clock: ClockWatch::new(policy.now.unwrap_or_else(Timestamp::now)),
            recorded: policy.uses_outside_time().then(Vec::new),
            citations: HashMap::new(),
            marks: HashMap::new(),
        })
    }

    /// One stored entry, through every per-entry step.
    fn entry(&mut self, stored: StoredEntry) -> Result<(), VerifyError> {
        let here = self.read_key(&stored.key);
        let (hash, chain_prev) = self.append_leaf(&stored.bytes)?;
        let decoded = self.decode(&stored.bytes, here, hash);
        if let Some(r) = &mut self.recorded {
            r.push(
                decoded
                    .as_ref()
                    .map_or(i64::MIN, |e| e.recorded_at.micros()),
            );
        }
        if let Some(entry) = decoded {
            if let EventKind::Destruction {
                citation: Some(c), ..
            } = &entry.event.event.kind
            {
                self.citations.insert(here, c.clone());
            }
            self.check_header(&entry, here, chain_prev);
            self.queue_signature(&entry, &stored.bytes, here);
            let slot = self.fold(&entry, here)?;
            self.check_payload(&entry, stored.payload.as_deref(), here, slot);
            self.check_content_key(&entry, here, slot);
            if self.jobs.len() >= SIG_BATCH {
                let batch = std::mem::replace(&mut self.jobs, Vec::with_capacity(SIG_BATCH));
                self.sigs.submit(self.findings.len(), batch);
            }
        }
        if self.pos % PROGRESS_EVERY == 0 {
            (self.progress)(Progress {
                done: self.pos,
                total: self.total,
            });
        }
        Ok(())
    }

    /// The seq the entry is stored at: its key, which must be the next seq (else a
    /// `seq_gap`). A key that is not 8 bytes is a finding, and the entry is taken to be at
    /// the next position.
    fn read_key(&mut self, key: &[u8]) -> u64 {
        let parsed = <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes);
        match parsed {
            None => self.findings.push(
                Finding::new(
                    FindingKind::MalformedKey,
                    Some(self.pos),
                    None,
                    "stored key is not an 8-byte seq",
                )
                .expected_found(
                    "8 bytes",
                    format!("{} bytes: {}", key.len(), hex::encode(key)),
                ),
            ),
            Some(k) => {
                let expected = self.last_key.map_or(0, |l| l.saturating_add(1));
                if k != expected {
                    self.findings.push(
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
                self.last_key = Some(k);
            }
        }
        parsed.unwrap_or(self.pos)
    }

    /// Hashes the stored bytes (never a re-encoding), appends the leaf to the tree, keeps the
    /// root if a checkpoint names this size, and advances the chain. Returns the entry's
    /// hash and the hash of the entry stored before it.
    fn append_leaf(&mut self, bytes: &[u8]) -> Result<(EntryHash, EntryHash), VerifyError> {
        let hash = entry_hash(bytes);
        self.range
            .append(&Sha256Hasher, merkle_leaf(&hash))
            .map_err(|e| VerifyError::Io {
                context: "growing the Merkle tree".into(),
                message: e.to_string(),
            })?;
        self.pos = self.pos.saturating_add(1);
        if self.wanted.contains(&self.pos) {
            self.roots.insert(self.pos, self.range.root(&Sha256Hasher));
        }
        Ok((hash, std::mem::replace(&mut self.prev_hash, hash)))
    }

    /// The entry, if its bytes decode canonically. Refused bytes are a finding, and the
    /// entry counts in the history as one of no record that commits to nothing.
    fn decode(&mut self, bytes: &[u8], here: u64, hash: EntryHash) -> Option<Entry> {
        let e = match Entry::from_bytes(bytes) {
            Ok(entry) => return Some(entry),
            Err(e) => e,
        };
        let kind = match e {
            DecodeError::TrailingBytes(_) => FindingKind::TrailingBytes,
            DecodeError::UnsupportedVersion(_) => FindingKind::UnsupportedVersion,
            DecodeError::Malformed(_) | DecodeError::NonCanonical => FindingKind::MalformedEntry,
        };
        self.findings.push(
            Finding::new(kind, Some(here), None, format!("entry bytes refused: {e}"))
                .expected_found("canonical entry", format!("entry hash {hash}")),
        );
        self.hist.record_of.push(u32::MAX);
        self.hist.committed.push(false);
        None
    }

    /// The entry's own seq is where it is stored; its `prev` is the hash of the entry before.
    fn check_header(&mut self, entry: &Entry, here: u64, chain_prev: EntryHash) {
        let rid = &entry.event.event.record;
        if entry.seq.0 != here {
            self.findings.push(
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
            self.findings.push(
                Finding::new(
                    FindingKind::ChainBreak,
                    Some(here),
                    rid.clone(),
                    "prev is not the hash of the entry stored before it",
                )
                .expected_found(chain_prev, entry.prev),
            );
        }
    }

    /// Queues the author signature for the next batch, with the key in force at this point
    /// of the ledger. An unknown author has no key: the fold reports it.
    fn queue_signature(&mut self, entry: &Entry, bytes: &[u8], here: u64) {
        let event = &entry.event.event;
        let Some(key) = self.registry.author_key(event) else {
            return;
        };
        // The bytes are canonical (decoded above), so the event's bytes are the slice
        // between the store-assigned fields and the signature.
        let event_bytes = event_bytes_in_entry(bytes)
            .map(<[u8]>::to_vec)
            .or_else(|| event.to_bytes().ok());
        // Signed for this ledger: genesis names the origin, everything after binds it.
        let origin = self.registry.signing_origin(event).unwrap_or_default();
        match event_bytes {
            Some(b) => self.jobs.push(SigJob {
                seq: here,
                record: event.record.clone(),
                message: entry.event.signature.signed_bytes(origin, &b),
                signature: entry.event.signature.bytes().0,
                key,
            }),
            None => self.findings.push(Finding::new(
                FindingKind::MalformedEntry,
                Some(here),
                event.record.clone(),
                "event cannot be encoded",
            )),
        }
    }

    /// The record state machine: checks the step (a violation is a finding), applies it
    /// regardless, and records the entry in the history. Returns the record's slot.
    fn fold(&mut self, entry: &Entry, here: u64) -> Result<Option<usize>, VerifyError> {
        let event = &entry.event.event;
        let ord = match &event.record {
            Some(r) => Some(self.ordinal(r)?),
            None => None,
        };
        let step = Step {
            seq: Seq(here),
            recorded_at: entry.recorded_at,
            placement: entry.placement,
            prev_registry: entry.prev_registry,
            event,
        };
        // Reported beside whatever the fold finds: a false pointer would let a store
        // rebuild the registry wrong (it follows them at open).
        if let Err(v) = record::check_prev_registry(&self.registry, step) {
            self.findings.push(Finding::new(
                FindingKind::of_violation(&v),
                Some(here),
                event.record.clone(),
                v.to_string(),
            ));
        }
        let slot = ord.and_then(|o| usize::try_from(o).ok());
        let mut state = slot
            .and_then(|i| self.hist.slots.get_mut(i))
            .and_then(|s| s.state.take());
        let checked = record::check(&self.registry, state.as_ref(), step, &self.hist);
        if let Err(v) = &checked {
            self.findings.push(Finding::new(
                FindingKind::of_violation(v),
                Some(here),
                event.record.clone(),
                v.to_string(),
            ));
        }
        self.clock.observe(here, entry.recorded_at, &self.registry);
        match (&event.kind, &event.record, &state) {
            (EventKind::Destruction { .. }, Some(r), Some(before)) if checked.is_ok() => {
                self.clock
                    .destruction(Seq(here), entry.recorded_at, r, before);
            }
            (EventKind::ClockCorrected { reason }, _, _) => {
                let known = self.clock.forward.len();
                let found = self.clock.correction(
                    Seq(here),
                    entry.recorded_at,
                    &event.author,
                    reason.as_str(),
                    &self.registry,
                );
                self.findings.extend(found);
                // A destruction exposed by the correction is not lawful: the record's
                // state says so (the report shows it destroyed early).
                let exposed: Vec<RecordId> = self
                    .clock
                    .forward
                    .get(known..)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| f.record.clone())
                    .collect();
                for r in exposed {
                    if let Some(d) = self
                        .ordinals
                        .get(&r)
                        .and_then(|o| usize::try_from(*o).ok())
                        .and_then(|i| self.hist.slots.get_mut(i))
                        .and_then(|s| s.state.as_mut())
                        .and_then(|st| st.destroyed.as_mut())
                    {
                        d.lawful = false;
                    }
                }
            }
            _ => {}
        }
        record::apply(&mut self.registry, &mut state, step);
        self.hist.record_of.push(ord.unwrap_or(u32::MAX));
        self.hist.committed.push(event.commitment.is_some());
        self.hist
            .nonces
            .insert_first(event.nonce, here)
            .map_err(|_| VerifyError::TooLarge)?;
        if let (Some(i), Some(st)) = (slot, state.as_ref()) {
            let (term, svc) = (
                st.terminated_seq == Some(Seq(here)),
                st.last_service_or_contact_seq == Some(Seq(here)),
            );
            if term || svc {
                let m = self.marks.entry(i).or_default();
                if term {
                    m.0 = Some(entry.recorded_at);
                }
                if svc {
                    m.1 = Some(entry.recorded_at);
                }
            }
        }
        if let Some(s) = slot.and_then(|i| self.hist.slots.get_mut(i)) {
            s.state = state;
        }
        Ok(slot)
    }

    /// The record's ordinal, adding its slot the first time the record is seen.
    fn ordinal(&mut self, id: &RecordId) -> Result<u32, VerifyError> {
        if let Some(o) = self.ordinals.get(id) {
            return Ok(*o);
        }
        let o = u32::try_from(self.hist.slots.len()).map_err(|_| VerifyError::TooLarge)?;
        self.hist.slots.push(Slot {
            id: id.clone(),
            state: None,
            live: Tally::default(),
            prefix: Tally::default(),
        });
        self.ordinals.insert(id.clone(), o);
        Ok(o)
    }

    /// The stored payload against the entry's commitment; present and missing payloads are
    /// tallied per record for `judge_records`.
    fn check_payload(
        &mut self,
        entry: &Entry,
        payload: Option<&[u8]>,
        here: u64,
        slot: Option<usize>,
    ) {
        let event = &entry.event.event;
        let rid = &event.record;
        let Some(slot) = slot.and_then(|i| self.hist.slots.get_mut(i)) else {
            if payload.is_some() {
                self.findings.push(Finding::new(
                    FindingKind::UnexpectedPayload,
                    Some(here),
                    None,
                    "a payload is stored for an administration entry",
                ));
            }
            return;
        };
        if event.commitment.is_some() != entry.content.is_some() {
            self.findings.push(Finding::new(
                FindingKind::CommitmentMismatch,
                Some(here),
                rid.clone(),
                "the entry's content seal and the author's commitment disagree (one without the other)",
            ));
        }
        match (&entry.content, payload) {
            (Some(seal), Some(p)) => {
                slot.live.present += 1;
                slot.live.first_present.get_or_insert(here);
                let found = ciphertext_digest(p);
                if found != seal.ciphertext {
                    self.findings.push(
                        Finding::new(FindingKind::CommitmentMismatch, Some(here), rid.clone(), "stored payload does not match the entry's content seal: falsified content")
                            .expected_found(seal.ciphertext, found),
                    );
                }
            }
            (Some(_), None) => {
                slot.live.missing += 1;
                slot.live.first_missing.get_or_insert(here);
            }
            (None, Some(_)) => self.findings.push(Finding::new(
                FindingKind::UnexpectedPayload,
                Some(here),
                rid.clone(),
                "a payload is stored for an entry that commits to none",
            )),
            (None, None) => {}
        }
    }

    /// The content seal's key store slot, without any key: the slot exists and names the
    /// entry's record; a live slot's wrapped key hashes to the seal's `wrapped_key`; an
    /// erased slot is noted for `judge_records` (lawful only after a lawful destruction).
    fn check_content_key(&mut self, entry: &Entry, here: u64, slot: Option<usize>) {
        let Some(seal) = &entry.content else { return };
        self.sealed = true;
        let (Some(keys), Some(rid), Some(slot)) = (&self.keys, &entry.event.event.record, slot)
        else {
            return;
        };
        let n = seal.key_slot;
        let problem = match keys.get(n) {
            None => Some((
                format!("the entry's content seal names key store slot {n}, but the key store holds {} slots: the record key was removed", keys.slots.len()),
                None,
            )),
            Some(KeySlot::Malformed) => Some((
                format!("key store slot {n}, named by the entry's content seal, is not a well-formed slot"),
                None,
            )),
            Some(s) if s.record() != Some(rid) => Some((
                format!("key store slot {n}, named by the entry's content seal, holds another record's key"),
                s.record().map(|o| (rid.to_string(), o.to_string())),
            )),
            Some(KeySlot::Live { wrapped, .. }) => {
                let found = wrapped_key_digest(wrapped);
                (found != seal.wrapped_key).then(|| {
                    (
                        format!("the wrapped record key in key store slot {n} does not match the entry's content seal: the record key was replaced or damaged"),
                        Some((seal.wrapped_key.to_string(), found.to_string())),
                    )
                })
            }
            Some(KeySlot::Erased { .. }) => {
                self.erased_at.entry(slot).or_insert((here, n));
                None
            }
        };
        if let Some((message, ef)) = problem {
            if self.bad_slots.insert(n) {
                let mut f = Finding::new(
                    FindingKind::ContentKeyMismatch,
                    Some(here),
                    Some(rid.clone()),
                    message,
                );
                if let Some((e, x)) = ef {
                    f = f.expected_found(e, x);
                }
                self.findings.push(f);
            }
        }
    }

    /// The key store against the records' destructions: an erased slot without a lawful
    /// destruction (`content_key_erased`), a live slot of a destroyed record
    /// (`content_key_not_erased`), a damaged key store container.
    fn judge_keys(&mut self) {
        let Some(keys) = &self.keys else { return };
        if let Some(d) = &keys.damage {
            self.findings.push(Finding::new(
                FindingKind::ContentKeyMismatch,
                None,
                None,
                format!("the key store is damaged: {d}"),
            ));
        }
        let forward: HashSet<&RecordId> = self.clock.forward.iter().map(|f| &f.record).collect();
        let mut erased: Vec<(&usize, &(u64, u32))> = self.erased_at.iter().collect();
        erased.sort_unstable();
        for (&ordinal, &(seq, n)) in erased {
            let Some(slot) = self.hist.slots.get(ordinal) else {
                continue;
            };
            let destroyed = slot.state.as_ref().and_then(|s| s.destroyed.as_ref());
            // A destruction exposed only by a clock correction has its own finding.
            let explained = destroyed.is_some_and(|d| d.lawful) || forward.contains(&slot.id);
            if !explained {
                let f = Finding::new(
                    FindingKind::ContentKeyErased,
                    Some(seq),
                    Some(slot.id.clone()),
                    format!("record key erased (key store slot {n}) without a lawful destruction of the record: unauthorized destruction"),
                )
                .expected_found("live key store slot", "erased");
                self.findings.push(match destroyed {
                    Some(d) => {
                        let mut f = f;
                        f.evidence.message.push_str(&format!(
                            " (the destruction at seq {} was not lawful)",
                            d.seq
                        ));
                        f
                    }
                    None => f,
                });
            }
        }
        let mut reported: HashSet<&RecordId> = HashSet::new();
        for (n, ks) in keys.slots.iter().enumerate() {
            let KeySlot::Live { record, .. } = ks else {
                continue;
            };
            let Some(d) = self
                .ordinals
                .get(record)
                .and_then(|o| usize::try_from(*o).ok())
                .and_then(|i| self.hist.slots.get(i))
                .and_then(|s| s.state.as_ref())
                .and_then(|st| st.destroyed.as_ref())
            else {
                continue;
            };
            if reported.insert(record) {
                self.findings.push(
                    Finding::new(
                        FindingKind::ContentKeyNotErased,
                        Some(d.seq.0),
                        Some(record.clone()),
                        format!("the record was destroyed at seq {}, but its record key is still live in key store slot {n}: the destruction did not destroy the content", d.seq),
                    )
                    .expected_found("erased key store slot", "live"),
                );
            }
        }
    }

    /// After the last entry: the signatures' findings, then every ledger-wide judgement,
    /// and the result.
    fn finish(
        mut self,
        candidates: Vec<Candidate>,
        tokens: (Vec<outside_time::Token>, Vec<String>),
    ) -> Result<Verified, VerifyError> {
        self.sigs
            .submit(self.findings.len(), std::mem::take(&mut self.jobs));
        self.sigs.finish(&mut self.findings);
        self.report_storage_damage();
        // No entry at all. That is "nothing to verify" only if nothing names a non-empty
        // ledger: a checkpoint (stored, logged or supplied) or the auditor's state of size
        // > 0 is evidence that entries existed, and the run goes on to report them deleted
        // (`truncation`, see `Judge`).
        let emptied = self.pos == 0;
        if emptied && self.named_size(&candidates) == 0 && self.findings.is_empty() {
            return Err(VerifyError::Empty(self.source.describe()));
        }
        (self.progress)(Progress {
            done: self.pos,
            total: self.total,
        });
        // A record destroyed after the resume point: its payloads before it must be gone now.
        if self.incremental {
            recheck_prefix_payloads(self.source, self.from, &mut self.hist)?;
        }
        let records = self.judge_records();
        self.judge_keys();
        if let Some(f) = self.clock.ahead_finding(&self.registry) {
            self.findings.push(f);
        }
        self.judge_strays();
        let origin = self
            .registry
            .origin
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        self.check_genesis(&origin, emptied);
        self.check_declared_origin(&origin, emptied);
        self.check_trusted_root();
        let judged = Judge {
            policy: self.policy,
            registry: &self.registry,
            origin: &origin,
            size: self.pos,
            roots: &self.roots,
            resumed_from: self.incremental.then_some(self.from),
        }
        .judge(candidates, &mut self.findings);
        // U(i) is wanted for the termination and last service entry of each destroyed record.
        let want: HashSet<u64> = records
            .iter()
            .filter(|r| r.state.destroyed.is_some())
            .flat_map(|r| [r.state.terminated_seq, r.state.last_service_or_contact_seq])
            .flatten()
            .map(|s| s.0)
            .collect();
        let (outside, bounds) =
            match self.judge_outside_time(&origin, &judged.matched_notes, tokens, &want) {
                Some((o, b)) => (Some(o), b),
                None => (None, HashMap::new()),
            };
        let destroyed: Vec<attest::Destroyed<'_>> = records
            .iter()
            .filter_map(|r| {
                let d = r.state.destroyed.as_ref()?;
                let slot = self
                    .ordinals
                    .get(&r.id)
                    .and_then(|o| usize::try_from(*o).ok());
                Some(attest::Destroyed {
                    record: &r.id,
                    state: &r.state,
                    recorded: slot
                        .and_then(|i| self.marks.get(&i))
                        .copied()
                        .unwrap_or_default(),
                    citation: self.citations.get(&d.seq.0),
                })
            })
            .collect();
        let attestations = attest::judge(
            self.policy,
            &self.registry,
            &origin,
            &self.roots,
            &bounds,
            &destroyed,
            &mut self.findings,
        );
        drop(destroyed);
        self.fold_truncation_into_damage();
        // An emptied ledger always has a finding by now (each checkpoint naming entries is a
        // `truncation` or was refused with a finding; so is the auditor's state): a
        // verification of no entries can never come back clean. Guarded here all the same.
        if emptied && self.findings.is_empty() {
            return Err(VerifyError::Empty(self.source.describe()));
        }
        let checkpoint = self.newest_checkpoint(judged.best);
        self.check_sealed(checkpoint.as_ref().map(|c| c.size));
        let anchor = Anchor::decide(
            self.pos,
            &Held {
                supplied: judged.supplied,
                quorum: judged.quorum,
                keyed: checkpoint
                    .as_ref()
                    .filter(|_| !self.policy.trusted_keys.is_empty())
                    .map(|c| c.size),
                supplied_any: self.policy.supplies_anchor(),
            },
        );
        // Stable order: by seq, ledger-wide findings last.
        self.findings
            .sort_by_key(|f| (f.seq.is_none(), f.seq.unwrap_or(0)));
        let mut v = self.into_verified(origin, records, checkpoint, anchor, judged.unjudged);
        v.outside_time = outside;
        v.attestations = attestations;
        Ok(v)
    }

    /// Outside time ([`outside_time`]), when the relying party named witnesses or TSA
    /// roots: `clock_ahead_of_witness` and `anchor_stale` findings, and the summary.
    fn judge_outside_time(
        &mut self,
        origin: &str,
        matched_notes: &[(u64, caseledger_core::note::Note)],
        (tokens, ignored): (Vec<outside_time::Token>, Vec<String>),
        want: &HashSet<u64>,
    ) -> Option<(outside_time::OutsideTime, HashMap<u64, i64>)> {
        let recorded = self.recorded.take()?;
        let head = recorded
            .iter()
            .rev()
            .find(|r| **r != i64::MIN)
            .map(|r| Timestamp(*r))
            .or(self.registry.last_recorded_at);
        let notes: Vec<(u64, &caseledger_core::note::Note)> =
            matched_notes.iter().map(|(s, n)| (*s, n)).collect();
        Some(outside_time::judge(
            self.policy,
            &notes,
            &tokens,
            ignored,
            &outside_time::Ledger {
                origin,
                size: self.pos,
                roots: &self.roots,
                from: self.from,
                recorded: &recorded,
                head,
            },
            want,
            &mut self.findings,
        ))
    }

    /// Corrupted storage the source met: a finding naming the tree, the last entry read
    /// intact and, when its entry was readable, the entry and record it belongs to.
    fn report_storage_damage(&mut self) {
        let Some(d) = self.source.storage_damage() else {
            return;
        };
        let intact = match d.last_good {
            Some(l) => format!("the last entry read intact is seq {l}"),
            None => "no entry was read before it".to_owned(),
        };
        let record = d.entry.and_then(|s| {
            let i = usize::try_from(s).ok()?;
            let ord = usize::try_from(*self.hist.record_of.get(i)?).ok()?;
            Some(self.hist.slots.get(ord)?.id.clone())
        });
        let (seq, message) = match (d.tree, d.entry) {
            (None, _) => (
                None,
                "the storage engine reports the ledger's database corrupted and cannot open it: no entry could be read or verified; verify an archive or a backup".to_owned(),
            ),
            (Some("checkpoints"), _) => (
                None,
                "the storage engine reports corrupted data in the checkpoints tree: stored checkpoints after the damage were not read".to_owned(),
            ),
            (Some("payloads"), Some(s)) => (
                Some(s),
                format!("the storage engine reports corrupted data reading the payload of the entry at seq {s} ({intact}); entries after it were not read or verified"),
            ),
            (Some(tree), _) => (
                Some(d.last_good.map_or(0, |l| l.saturating_add(1))),
                format!("the storage engine reports corrupted data in the {tree} tree ({intact}); what follows was not read or verified"),
            ),
        };
        let mut f = Finding::new(FindingKind::StorageDamaged, seq, record, message);
        if let Some(l) = d.last_good {
            f = f.expected_found(
                "entries readable past the last good seq",
                format!("last good seq {l}"),
            );
        }
        self.findings.push(f);
    }

    /// On damaged storage, a checkpoint naming more entries than could be read is no
    /// evidence of deletion: its `truncation` findings become part of the `storage_damaged`
    /// finding (the sizes named, the checkpoints cited) instead of claiming tampering.
    fn fold_truncation_into_damage(&mut self) {
        if !self
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::StorageDamaged)
        {
            return;
        }
        let (truncations, rest): (Vec<Finding>, Vec<Finding>) = std::mem::take(&mut self.findings)
            .into_iter()
            .partition(|f| f.kind == FindingKind::Truncation);
        self.findings = rest;
        let Some(named) = truncations
            .iter()
            .filter_map(|t| t.evidence.expected.as_deref()?.parse::<u64>().ok())
            .max()
        else {
            return;
        };
        let pos = self.pos;
        if let Some(d) = self
            .findings
            .iter_mut()
            .find(|f| f.kind == FindingKind::StorageDamaged)
        {
            d.evidence.message.push_str(&format!(
                "; checkpoints name {named} entries, {pos} could be read"
            ));
            for t in truncations {
                d.evidence.checkpoints.extend(t.evidence.checkpoints);
            }
        }
    }

    /// The largest size a checkpoint or the auditor's state names (0: none).
    fn named_size(&self, candidates: &[Candidate]) -> u64 {
        candidates
            .iter()
            .filter_map(|c| c.parsed.as_ref().map(|(_, cp)| cp.size))
            .chain(self.trusted_root.map(|(n, _)| n))
            .max()
            .unwrap_or(0)
    }

    /// Payloads against destruction, per record: missing without a lawful destruction, or
    /// still stored after one. Returns the records sorted by id.
    fn judge_records(&mut self) -> Vec<VerifiedRecord> {
        let mut records = Vec::with_capacity(self.hist.slots.len());
        // A destruction exposed only by a clock correction removed the payloads: its own
        // finding (`destruction_under_forward_clock`) names it.
        let forward: HashSet<&RecordId> = self.clock.forward.iter().map(|f| &f.record).collect();
        for slot in &self.hist.slots {
            let Some(state) = &slot.state else { continue };
            let tally = slot.prefix.merged(slot.live);
            let lawfully_destroyed =
                state.destroyed.as_ref().is_some_and(|d| d.lawful) || forward.contains(&slot.id);
            let content_missing = tally.missing > 0 && !lawfully_destroyed;
            if content_missing {
                self.findings.push(
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
                self.findings.push(Finding::new(
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
        records
    }

    /// Payload values the source could not pair with their entry (an archive's payload
    /// frames out of place): each is a finding, named for what it carries where that is
    /// known: content of a destroyed record (`payload_after_destruction`), content for an
    /// entry that commits to none (`unexpected_payload`), else `stray_payload`.
    fn judge_strays(&mut self) {
        for stray in self.source.stray_payloads() {
            let seq = stray.seq;
            let at = usize::try_from(seq).ok();
            let ordinal = at.and_then(|i| self.hist.record_of.get(i)).copied();
            let committed = at.and_then(|i| self.hist.committed.get(i)).copied();
            let slot = ordinal
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| self.hist.slots.get(o));
            let record = slot.map(|s| s.id.clone());
            let destroyed = slot
                .and_then(|s| s.state.as_ref())
                .and_then(|st| st.destroyed.as_ref())
                .map(|d| d.seq);
            let place = match stray.place {
                StrayPlace::Duplicate => "a second payload frame for the entry",
                StrayPlace::BeforeEntry => "a payload frame before its entry's frame",
                StrayPlace::AfterEntry => {
                    "a payload frame out of place (not right after its entry's frame)"
                }
            };
            let finding = match (ordinal, committed, destroyed) {
                (None, _, _) => Finding::new(
                    FindingKind::StrayPayload,
                    Some(seq),
                    None,
                    format!("{place}: the archive holds no entry at seq {seq}"),
                ),
                (_, _, Some(d)) => Finding::new(
                    FindingKind::PayloadAfterDestruction,
                    Some(seq),
                    record,
                    format!("{place} carries content of a record destroyed at seq {d}"),
                ),
                (_, Some(false), _) => Finding::new(
                    FindingKind::UnexpectedPayload,
                    Some(seq),
                    record,
                    format!("{place}, for an entry that commits to no payload"),
                ),
                _ => Finding::new(
                    FindingKind::StrayPayload,
                    Some(seq),
                    record,
                    format!("{place}: content outside the entry's own payload, which `archive import` refuses"),
                ),
            };
            self.findings.push(finding);
        }
    }

    /// The origin the source's container declares (an archive's header) is genesis's, as
    /// `archive import` requires.
    fn check_declared_origin(&mut self, origin: &str, emptied: bool) {
        match self.source.declared_origin() {
            Some(declared) if !emptied && declared != origin => self.findings.push(
                Finding::new(
                    FindingKind::ArchiveOriginMismatch,
                    None,
                    None,
                    "the archive's header names another origin than its genesis entry",
                )
                .expected_found(origin, declared),
            ),
            _ => {}
        }
    }

    /// What genesis claims against what the auditor knows: the origin, and the ledger key.
    fn check_genesis(&mut self, origin: &str, emptied: bool) {
        // An emptied ledger has no genesis to name an origin: checkpoints are held to the
        // expected origin instead (in `Judge`).
        if let (Some(exp), false) = (&self.policy.expected_origin, emptied) {
            if exp != origin {
                self.findings.push(
                    Finding::new(
                        FindingKind::OriginMismatch,
                        Some(0),
                        None,
                        "genesis names another origin than the auditor expects",
                    )
                    .expected_found(exp, origin),
                );
            }
        }
        let self_attested = self.policy.trusted_keys.is_empty();
        if let (false, Some(k)) = (self_attested, self.registry.ledger_key) {
            if !self
                .policy
                .trusted_keys
                .iter()
                .any(|t| t.public_key() == k && t.algorithm() == ALG_ED25519)
            {
                self.findings.push(
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
    }

    /// The `(size, root)` from the auditor's resume state, checked like a supplied
    /// checkpoint without a signature.
    fn check_trusted_root(&mut self) {
        let Some((n, r)) = self.trusted_root else {
            return;
        };
        let pos = self.pos;
        if pos < n {
            self.findings.push(
                Finding::new(
                    FindingKind::Truncation,
                    Some(pos),
                    None,
                    format!("the auditor's resume state covers {n} entries but the ledger holds {pos}: entries were truncated or rolled back"),
                )
                .expected_found(n, pos),
            );
        } else if self.roots.get(&n) != Some(&r) {
            self.findings.push(
                Finding::new(
                    FindingKind::RootMismatch,
                    None,
                    None,
                    format!("the ledger's root at size {n} is not the root in the auditor's resume state: the history was rewritten"),
                )
                .expected_found(r, self.roots.get(&n).map_or_else(|| "none".to_owned(), Hash::to_string)),
            );
        }
    }

    /// The checkpoint the result names: the newest that matched, or the one the auditor's
    /// state was verified against if it is newer and signed by a key the auditor trusts
    /// today. None at all is a finding when the policy requires one.
    /// Every entry must be under a valid seal: the store signs a checkpoint of every commit
    /// with the ledger key (in the commit's own transaction). Entries after the newest
    /// checkpoint that is validly signed and matches the ledger were appended by someone
    /// without the key (or their seals were removed): an `unsealed_tail` naming the range.
    /// (An archive imported from a ledger with an unsealed tail keeps it: import signs
    /// nothing.)
    fn check_sealed(&mut self, sealed: Option<u64>) {
        let size = self.pos;
        let from = sealed.unwrap_or(0);
        if size == 0 || from >= size {
            return;
        }
        let message = match sealed {
            Some(s) => format!(
                "entries {from}..={} ({} of them) are after the newest valid seal (size {s}): no checkpoint signed by the ledger key covers them",
                size - 1,
                size - from
            ),
            None => format!(
                "no checkpoint signed by the ledger key matches the ledger: none of its {size} entries is sealed"
            ),
        };
        self.findings.push(
            Finding::new(FindingKind::UnsealedTail, Some(from), None, message).expected_found(
                format!("a seal of size {size}"),
                sealed.map_or_else(
                    || "no valid seal".to_owned(),
                    |s| format!("the newest valid seal of size {s}"),
                ),
            ),
        );
    }

    fn newest_checkpoint(
        &mut self,
        matched: Option<VerifiedCheckpoint>,
    ) -> Option<VerifiedCheckpoint> {
        let mut checkpoint = matched;
        if let Some(prior) = self
            .prior_checkpoint
            .as_deref()
            .and_then(|t| still_trusted(t, self.policy, &self.registry))
        {
            if checkpoint.as_ref().is_none_or(|c| c.size < prior.size) {
                checkpoint = Some(prior);
            }
        }
        if self.policy.require_checkpoint && checkpoint.is_none() {
            self.findings.push(Finding::new(
                FindingKind::NoCheckpoint,
                None,
                None,
                "no checkpoint signed by a trusted key matches the ledger",
            ));
        }
        checkpoint
    }

    /// The result, with the resume state kept when the policy asks for it and there is no
    /// finding.
    fn into_verified(
        self,
        origin: String,
        records: Vec<VerifiedRecord>,
        checkpoint: Option<VerifiedCheckpoint>,
        anchor: Anchor,
        unjudged: Vec<String>,
    ) -> Verified {
        let pos = self.pos;
        let root = self.range.root(&Sha256Hasher);
        // An incremental run reads only the new entries: the prefix's flags count too.
        let sealed = self.sealed || self.hist.committed.iter().any(|c| *c);
        let content_keys = match (&self.keys, sealed) {
            (_, false) => ContentKeys::NotNeeded,
            (None, true) => ContentKeys::Absent,
            (Some(k), true) => ContentKeys::Checked {
                slots: u64::try_from(k.slots.len()).unwrap_or(u64::MAX),
            },
        };
        let resume = if self.policy.keep_resume_state && self.findings.is_empty() {
            let mut known = self.known_roots;
            known.extend(self.roots.into_iter().filter(|(m, _)| *m <= pos));
            ResumeState::capture(
                self.range,
                self.prev_hash,
                self.registry.clone(),
                self.hist,
                known,
                checkpoint.as_ref().map(|c| c.note.clone()),
            )
            .map(Box::new)
        } else {
            None
        };
        Verified {
            origin,
            size: pos,
            root,
            checkpoint,
            anchor,
            self_attested: self.policy.trusted_keys.is_empty(),
            findings: self.findings,
            registry: self.registry,
            records,
            signatures_from: self.from,
            incremental_from: self.incremental.then_some(self.from),
            unjudged,
            resume,
            clock_corrections: self.clock.corrections,
            forward_clock: self.clock.forward,
            content_keys,
            outside_time: None,
            attestations: Vec::new(),
        }
    }
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
