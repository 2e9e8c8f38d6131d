//! Author signatures: Ed25519 batch verification over chunks spread across cores.

use crate::finding::{Finding, FindingKind};
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
    /// What the signature signs: the event's signing message for the ledger's origin (or
    /// its SSHSIG signed data, for an ssh-agent signature).
    pub message: Vec<u8>,
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

/// The author keys of one chunk, decompressed once each: `None` for a key that is not a
/// valid point or is weak (small order). Chunks rarely hold more than a few distinct keys.
#[derive(Default)]
struct KeyCache(Vec<([u8; 32], Option<VerifyingKey>)>);

impl KeyCache {
    fn get(&mut self, key: &PublicKey) -> Option<VerifyingKey> {
        if let Some((_, k)) = self.0.iter().find(|(b, _)| *b == key.0) {
            return *k;
        }
        let k = VerifyingKey::from_bytes(&key.0)
            .ok()
            .filter(|k| !k.is_weak());
        self.0.push((key.0, k));
        k
    }
}

fn verify_chunk(chunk: &[SigJob]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut cache = KeyCache::default();
    let mut msgs = Vec::with_capacity(chunk.len());
    let mut sigs = Vec::with_capacity(chunk.len());
    let mut keys = Vec::with_capacity(chunk.len());
    let mut idx = Vec::with_capacity(chunk.len());
    for (i, job) in chunk.iter().enumerate() {
        match cache.get(&job.key) {
            Some(k) => {
                msgs.push(job.message.as_slice());
                sigs.push(Signature::from_bytes(&job.signature));
                keys.push(k);
                idx.push(i);
            }
            None => out.push(bad(
                job,
                "cannot be checked: the author's key is not a valid Ed25519 key",
            )),
        }
    }
    if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_err() {
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

/// Signature batches handed to rayon while the replay goes on.
type Pending = std::sync::mpsc::Receiver<std::thread::Result<Vec<Finding>>>;

/// Batches being checked at once, at most; submitting another waits for the oldest.
const MAX_IN_FLIGHT: usize = 2;

/// Checks batches of [`SigJob`]s in the background (rayon) while the caller keeps
/// replaying, and merges their findings back exactly where a blocking check would have put
/// them: each batch's findings go at the position the caller's findings list had when the
/// batch was submitted. Memory stays bounded: at most [`MAX_IN_FLIGHT`] batches are in
/// flight. Called from inside a rayon worker, it checks each batch at once (blocking on a
/// pool task from a worker could deadlock a one-thread pool).
pub(crate) struct SigPipeline {
    in_flight: std::collections::VecDeque<(usize, Pending)>,
    done: Vec<(usize, Vec<Finding>)>,
    inline: bool,
}

impl SigPipeline {
    pub(crate) fn new() -> SigPipeline {
        SigPipeline {
            in_flight: std::collections::VecDeque::new(),
            done: Vec::new(),
            inline: rayon::current_thread_index().is_some(),
        }
    }

    /// Checks `jobs`; their findings belong at index `at` of the caller's findings.
    pub(crate) fn submit(&mut self, at: usize, jobs: Vec<SigJob>) {
        if jobs.is_empty() {
            return;
        }
        if self.inline {
            self.done.push((at, verify_jobs(&jobs)));
            return;
        }
        while self.in_flight.len() >= MAX_IN_FLIGHT {
            self.wait_oldest();
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rayon::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verify_jobs(&jobs)));
            drop(jobs);
            let _ = tx.send(r);
        });
        self.in_flight.push_back((at, rx));
    }

    fn wait_oldest(&mut self) {
        let Some((at, rx)) = self.in_flight.pop_front() else {
            return;
        };
        match rx.recv() {
            Ok(Ok(f)) => self.done.push((at, f)),
            // A panic while checking (as a blocking check would have raised it here).
            Ok(Err(p)) => std::panic::resume_unwind(p),
            Err(_) => {
                std::panic::resume_unwind(Box::new("a signature batch ended without a result"))
            }
        }
    }

    /// Waits for every batch and inserts their findings into `findings`, each batch at the
    /// index it was submitted with.
    pub(crate) fn finish(&mut self, findings: &mut Vec<Finding>) {
        while !self.in_flight.is_empty() {
            self.wait_oldest();
        }
        let done = std::mem::take(&mut self.done);
        if done.iter().all(|(_, f)| f.is_empty()) {
            return;
        }
        let mut out =
            Vec::with_capacity(findings.len() + done.iter().map(|(_, f)| f.len()).sum::<usize>());
        let mut rest = std::mem::take(findings).into_iter();
        let mut taken = 0;
        for (at, batch) in done {
            while taken < at {
                let Some(f) = rest.next() else { break };
                out.push(f);
                taken += 1;
            }
            out.extend(batch);
        }
        out.extend(rest);
        *findings = out;
    }
}

impl Drop for SigPipeline {
    /// A replay that ends early (a read error) still waits for its batches, so no check
    /// outlives the verification that started it.
    fn drop(&mut self) {
        for (_, rx) in self.in_flight.drain(..) {
            let _ = rx.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn job(seq: u64, sk: &SigningKey, good: bool) -> SigJob {
        let message = seq.to_le_bytes().to_vec();
        let mut signature = sk.sign(&message).to_bytes();
        if !good {
            signature[0] ^= 1;
        }
        SigJob {
            seq,
            record: None,
            message,
            signature,
            key: PublicKey(sk.verifying_key().to_bytes()),
        }
    }

    fn marker(seq: u64) -> Finding {
        Finding::new(FindingKind::ChainBreak, Some(seq), None, "marker")
    }

    /// Bad signatures, invalid and weak keys, several keys in one chunk: the cached keys give
    /// the same findings as decompressing each job's key.
    #[test]
    fn key_cache_keeps_refusals_and_fallback() {
        let a = SigningKey::from_bytes(&[7; 32]);
        let b = SigningKey::from_bytes(&[9; 32]);
        let mut jobs: Vec<SigJob> = (0..600)
            .map(|s| job(s, if s % 3 == 0 { &a } else { &b }, s % 97 != 5))
            .collect();
        // The identity point is a valid encoding of a weak (small-order) key.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        if let Some(j) = jobs.get_mut(10) {
            j.key = PublicKey(weak);
        }
        // Not a point at all.
        if let Some(j) = jobs.get_mut(300) {
            j.key = PublicKey([0xff; 32]);
        }
        let got: Vec<(u64, String)> = verify_jobs(&jobs)
            .into_iter()
            .map(|f| (f.seq.unwrap_or(u64::MAX), f.evidence.message))
            .collect();
        let mut want = Vec::new();
        for j in &jobs {
            let key = VerifyingKey::from_bytes(&j.key.0)
                .ok()
                .filter(|k| !k.is_weak());
            match key {
                None => want.push((j.seq, "author signature cannot be checked: the author's key is not a valid Ed25519 key".to_owned())),
                Some(k) => {
                    if k.verify_strict(&j.message, &Signature::from_bytes(&j.signature)).is_err() {
                        want.push((j.seq, "author signature does not verify".to_owned()));
                    }
                }
            }
        }
        // Within a chunk, key refusals come first, then bad signatures (as before).
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want);
        assert!(got.iter().any(|(s, _)| *s == 10));
        assert!(got.iter().any(|(s, _)| *s == 300));
    }

    /// Findings of background batches land exactly where blocking checks would have put them.
    #[test]
    fn pipeline_merges_like_blocking_checks() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let batches: Vec<Vec<SigJob>> = (0..5u64)
            .map(|b| {
                (b * 100..b * 100 + 100)
                    .map(|s| job(s, &sk, s % 41 != 7 && b != 2))
                    .collect()
            })
            .collect();
        let mut blocking = Vec::new();
        let mut piped = Vec::new();
        let mut pipe = SigPipeline::new();
        for (b, jobs) in batches.into_iter().enumerate() {
            let b = b as u64;
            for s in [b * 100 + 1, b * 100 + 50] {
                blocking.push(marker(s));
                piped.push(marker(s));
            }
            blocking.extend(verify_jobs(&jobs));
            pipe.submit(piped.len(), jobs);
        }
        blocking.push(marker(999));
        piped.push(marker(999));
        pipe.finish(&mut piped);
        assert!(blocking.len() > 100);
        assert_eq!(blocking, piped);
    }
}
