//! The replay loop: reads entries in order from a [`Start`], checks each, folds the
//! records, grows the Merkle tree, then judges the checkpoints.
use crate::finding::{CheckpointSource, Finding, FindingKind};
use crate::history::{Hist, Slot, Tally};
use crate::judge::{b64, coalesce, judge_checkpoints, parse_candidate, still_trusted, Candidate};
use crate::policy::{Policy, Progress, PROGRESS_EVERY};
use crate::resume::ResumeState;
use crate::sigs::{SigJob, SigPipeline};
use crate::source::{EntryIter, LedgerSource, StoredCheckpoint};
use crate::start::Start;
use crate::verified::{Verified, VerifiedRecord};
use crate::VerifyError;
use caseledger_core::encoding::DecodeError;
use caseledger_core::event::{Entry, Payload};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::merkle::{CompactRange, Sha256Hasher, TreeHasher};
use caseledger_core::note::ALG_ED25519;
use caseledger_core::record::{self, Step};
use caseledger_core::{RecordId, Seq};
use std::collections::{BTreeSet, HashMap};

/// Entries whose signatures are verified together (spread over all cores).
const SIG_BATCH: usize = 8192;

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

#[allow(clippy::too_many_lines)]
pub(crate) fn replay(
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
        trusted_root,
        prior_checkpoint,
    } = start;
    let hasher = Sha256Hasher;
    let mut findings = Vec::new();

    // Checkpoints first: the replay records the root at each of their sizes.
    let mut stored = source.checkpoints()?;
    stored.extend(policy.checkpoints.iter().map(|n| StoredCheckpoint {
        source: CheckpointSource::Supplied,
        key: None,
        note: n.as_bytes().to_vec(),
    }));
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
        // Author signature, with the key in force at this point of the ledger. An unknown
        // author has no key: the fold reports it.
        if let Some(k) = registry.author_key(event) {
            // The bytes are canonical (checked above), so the event's bytes are the slice
            // between the entry header and the 64-byte signature.
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
        signatures_from: from,
        incremental_from: incremental.then_some(from),
        unjudged,
        resume,
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
