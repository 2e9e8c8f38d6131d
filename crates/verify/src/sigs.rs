//! Author signatures: Ed25519 batch verification over chunks spread across cores.

use crate::finding::{Finding, FindingKind};
use caseledger_core::hash::signing_message;
use caseledger_core::{PublicKey, RecordId};
use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

/// Entries per `verify_batch` call.
const CHUNK: usize = 256;

/// One author signature to check.
pub(crate) struct SigJob {
    /// Where.
    pub seq: u64,
    /// The record, for the finding.
    pub record: Option<RecordId>,
    /// The event's canonical bytes.
    pub event_bytes: Vec<u8>,
    /// The signature.
    pub signature: [u8; 64],
    /// The key in force for the author at that point.
    pub key: PublicKey,
}

/// Verifies every job; returns a finding per bad signature (or invalid key).
///
/// Chunks of [`CHUNK`] are batch-verified in parallel (rayon). A chunk that fails is
/// re-checked one signature at a time with `verify_strict` to name the bad entries. Keys
/// that are not valid points, or are weak (small order), are refused before batching.
pub(crate) fn verify_jobs(jobs: &[SigJob]) -> Vec<Finding> {
    jobs.par_chunks(CHUNK).flat_map_iter(verify_chunk).collect()
}

fn bad(job: &SigJob, why: &str) -> Finding {
    Finding::new(
        FindingKind::BadSignature,
        Some(job.seq),
        job.record.clone(),
        format!("author signature {why}"),
    )
    .with_key(job.key)
}

fn verify_chunk(chunk: &[SigJob]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut msgs = Vec::with_capacity(chunk.len());
    let mut sigs = Vec::with_capacity(chunk.len());
    let mut keys = Vec::with_capacity(chunk.len());
    let mut idx = Vec::with_capacity(chunk.len());
    for (i, job) in chunk.iter().enumerate() {
        match VerifyingKey::from_bytes(&job.key.0) {
            Ok(k) if !k.is_weak() => {
                msgs.push(signing_message(&job.event_bytes));
                sigs.push(Signature::from_bytes(&job.signature));
                keys.push(k);
                idx.push(i);
            }
            _ => out.push(bad(
                job,
                "cannot be checked: the author's key is not a valid Ed25519 key",
            )),
        }
    }
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    if ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_err() {
        for (j, &i) in idx.iter().enumerate() {
            let (Some(k), Some(m), Some(s), Some(job)) =
                (keys.get(j), msgs.get(j), sigs.get(j), chunk.get(i))
            else {
                continue;
            };
            if k.verify_strict(m, s).is_err() {
                out.push(bad(job, "does not verify"));
            }
        }
    }
    out
}
