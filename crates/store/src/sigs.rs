//! Author signature checks with a cache of decompressed author keys.
//!
//! Every check is exactly `caseledger_core::event::SignedEvent::verify`: Ed25519
//! `verify_strict` over `signing_message(origin, canonical event bytes)` (or its SSHSIG
//! signed data, for ssh-agent signatures) (non-canonical `S`,
//! small-order `R` and small-order keys are refused), with the same error text. The only
//! differences are speed: an author's `VerifyingKey` is decompressed once per ledger (not
//! once per event), and [`KeyCache::verify_many`] spreads a batch over all cores (rayon).
//!
//! # Why not `ed25519_dalek::verify_batch`
//!
//! Batch verification would be faster per signature, but dalek's `verify_batch` checks the
//! *cofactorless* equation `Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0` with 128-bit `zᵢ` derived
//! deterministically from the batch. A signature whose `R` (or key `A`) carries a
//! small-order component `T` (not small-order itself, so `verify_strict` does not refuse it
//! up front) can fail the single equation by exactly `T` and still pass the batch whenever
//! `zᵢ·T = 0`: with probability 1/2 for `T` of order 2, and the author can grind the batch
//! contents until it does. `verify_strict` rejects such a signature. Closing the gap needs a
//! torsion check of every `R` (`[ℓ]R = 0`, one variable-base scalar multiplication), which
//! costs about as much as `verify_strict` itself, so batch verification cannot be an
//! accelerator here without weakening what the store accepts. The store is the gate; it
//! stays exact. (Only the holder of an enrolled key can make such a signature.)

use crate::error::{Result, StoreError};
use caseledger_core::event::{EventKind, SignedEvent, SignedEventError};
use caseledger_core::ids::PublicKey;
use caseledger_core::keys::SignatureError;
use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Signatures per rayon task in [`KeyCache::verify_many`].
const MIN_PER_TASK: usize = 32;

/// Decompressed author keys by their 32 bytes (`None`: not a valid point). Only keys the
/// registry names are ever looked up, so it holds at most one row per key ever enrolled.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: RwLock<HashMap<[u8; 32], Option<VerifyingKey>>>,
}

fn bad(signed: &SignedEvent, e: SignedEventError) -> StoreError {
    StoreError::BadSignature {
        author: signed.event.author.clone(),
        why: e.to_string(),
    }
}

impl KeyCache {
    /// The decompressed key (`None` if the bytes are not a valid Ed25519 point).
    fn key(&self, key: &PublicKey) -> Option<VerifyingKey> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key.0)
        {
            return *k;
        }
        let k = VerifyingKey::from_bytes(&key.0).ok();
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.0, k);
        k
    }

    /// Exactly `signed.verify(origin, key)`, mapped to [`StoreError::BadSignature`], where
    /// the origin is the genesis event's own or else `ledger_origin` (the registry's).
    pub(crate) fn verify(
        &self,
        signed: &SignedEvent,
        ledger_origin: Option<&str>,
        key: &PublicKey,
    ) -> Result<()> {
        let own = match &signed.event.kind {
            EventKind::Genesis { origin, .. } => Some(origin.as_str()),
            _ => None,
        };
        let Some(origin) = own.or(ledger_origin) else {
            return Err(bad(
                signed,
                SignedEventError::Signature(SignatureError::Invalid),
            ));
        };
        let bytes = signed
            .event
            .to_bytes()
            .map_err(|e| bad(signed, SignedEventError::Encode(e)))?;
        let Some(vk) = self.key(key) else {
            return Err(bad(
                signed,
                SignedEventError::Signature(SignatureError::BadKey),
            ));
        };
        let msg = signed.signature.signed_bytes(origin, &bytes);
        vk.verify_strict(&msg, &Signature::from_bytes(&signed.signature.bytes().0))
            .map_err(|_| bad(signed, SignedEventError::Signature(SignatureError::Invalid)))
    }

    /// [`KeyCache::verify`] for each `(event, key)`, in parallel; results in input order.
    /// `None` keys are not checked (`Ok`).
    pub(crate) fn verify_many(
        &self,
        origin: Option<&str>,
        jobs: &[(&SignedEvent, Option<PublicKey>)],
    ) -> Vec<Result<()>> {
        let one = |(signed, key): &(&SignedEvent, Option<PublicKey>)| match key {
            Some(k) => self.verify(signed, origin, k),
            None => Ok(()),
        };
        if jobs.len() <= MIN_PER_TASK {
            return jobs.iter().map(one).collect();
        }
        jobs.par_iter()
            .with_min_len(MIN_PER_TASK)
            .map(one)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::event::{AuthorSignature, Event};
    use caseledger_core::ids::{ActorId, Nonce, RecordId};
    use caseledger_core::keys::SigningKey;
    use caseledger_core::time::Date;

    fn event(i: u8) -> Event {
        Event {
            record: Some(RecordId::new(format!("R-{i}")).unwrap()),
            author: ActorId::new("a").unwrap(),
            kind: EventKind::RecordOpened,
            occurred_on: Date::parse("2024-01-02").unwrap(),
            signed_at: caseledger_core::time::Timestamp(0),
            commitment: None,
            nonce: Nonce([i; 16]),
        }
    }

    #[test]
    fn same_verdicts_and_errors_as_core() {
        let sk = SigningKey::from_seed(&[5; 32]);
        let other = SigningKey::from_seed(&[6; 32]);
        let cache = KeyCache::default();
        let mut events: Vec<SignedEvent> =
            (0..100).map(|i| event(i).sign("o", &sk).unwrap()).collect();
        // A signature by another key, a flipped bit, a non-canonical S (s + ℓ).
        events[10] = event(10).sign("o", &other).unwrap();
        if let AuthorSignature::Ed25519(s) = &mut events[20].signature {
            s.0[5] ^= 1;
        }
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let AuthorSignature::Ed25519(sig30) = &mut events[30].signature else {
            unreachable!()
        };
        let s = &mut sig30.0[32..];
        let mut carry = 0u16;
        for (b, lb) in s.iter_mut().zip(l) {
            let v = u16::from(*b) + u16::from(lb) + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        let weak = PublicKey([0; 32]); // not a valid point: y = 0 decodes? either way refused
        let identity = {
            let mut k = [0u8; 32];
            k[0] = 1;
            PublicKey(k)
        };
        let jobs: Vec<(&SignedEvent, Option<PublicKey>)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let k = match i {
                    40 => weak,
                    50 => identity,
                    60 => return (e, None),
                    _ => sk.public_key(),
                };
                (e, Some(k))
            })
            .collect();
        let got = cache.verify_many(Some("o"), &jobs);
        for (i, ((e, k), r)) in jobs.iter().zip(&got).enumerate() {
            let want = k.map(|k| {
                e.verify("o", &k).map_err(|err| StoreError::BadSignature {
                    author: e.event.author.clone(),
                    why: err.to_string(),
                })
            });
            match (want, r) {
                (None, Ok(())) | (Some(Ok(())), Ok(())) => {}
                (Some(Err(a)), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "item {i}"),
                (w, r) => panic!("item {i}: core says {w:?}, cache says {r:?}"),
            }
        }
        let bad: Vec<usize> = got
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.is_err().then_some(i))
            .collect();
        assert_eq!(bad, vec![10, 20, 30, 40, 50]);
    }
}
