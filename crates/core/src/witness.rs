//! A witness (C2SP tlog-witness, without the HTTP): cosigns a log's checkpoint only if it is
//! signed by the log's key and consistent with the last checkpoint it cosigned for that
//! origin, so that two witnesses never vouch for two views of one log.
//!
//! The steps: [`Offered::parse`] the note, [`Offered::verify`] the log's signature,
//! [`Signed::since`] the last checkpoint cosigned for the origin, then [`Checked::cosign`]
//! with the consistency proof. Pure: the caller keeps the witness's memory ([`Seen`], per
//! origin), fetches the proof ([`Checked::proof_from`] says from which size) and supplies
//! the clock.
//!
//! ```
//! use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
//! use caseledger_core::keys::SigningKey;
//! use caseledger_core::note::NoteSigner;
//! use caseledger_core::witness::Offered;
//! let log = NoteSigner::new("example.org/l", SigningKey::from_seed(&[1; 32])).unwrap();
//! let note = sign_checkpoint(&Checkpoint::new("example.org/l", 0, caseledger_core::Hash([0; 32])).unwrap(), &log);
//! let offered = Offered::parse(&note).unwrap();
//! let checked = offered.verify(&log.verifier()).unwrap().since(None).unwrap();
//! assert_eq!(checked.proof_from(), None); // the first checkpoint seen needs no proof
//! let witness = SigningKey::from_seed(&[2; 32]);
//! let done = checked.cosign(&[], "witness.example", &witness, 1_700_000_000).unwrap();
//! assert!(done.note.starts_with(&note));
//! assert_eq!(done.seen.size, 0);
//! ```

use crate::checkpoint::{
    append_cosignature, cosign as cosign_line, open_checkpoint, Checkpoint, CheckpointError,
};
use crate::keys::SigningKey;
use crate::merkle::{verify_consistency, Hash, ProofError, Sha256Hasher};
use crate::note::{Note, NoteError, NoteVerifier};

/// What a witness remembers of one origin: the last checkpoint it cosigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Its size.
    pub size: u64,
    /// Its Merkle root.
    pub root: Hash,
}

/// Why a witness refused to cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The note does not parse.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint does not parse, is not signed by the log key, or the cosigned note
    /// cannot be assembled.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint's origin is not the log key's name.
    #[error("origin {origin} is not the log key's name {key_name}")]
    WrongOrigin {
        /// The checkpoint's origin.
        origin: String,
        /// The log key's name.
        key_name: String,
    },
    /// The checkpoint is smaller than the last one cosigned: a log never shrinks.
    #[error("size {size} is smaller than the last cosigned size {seen} for {origin}: refusing to go backwards")]
    Backwards {
        /// The checkpoint's origin.
        origin: String,
        /// The checkpoint's size.
        size: u64,
        /// The size last cosigned.
        seen: u64,
    },
    /// The consistency proof from the last cosigned checkpoint does not verify (for equal
    /// sizes: the roots differ).
    #[error("not consistent with the last cosigned checkpoint (size {seen}) of {origin}: {error}")]
    Inconsistent {
        /// The checkpoint's origin.
        origin: String,
        /// The size last cosigned.
        seen: u64,
        /// Why the proof failed.
        error: ProofError,
    },
    /// The witness name is not a valid key name.
    #[error("{0}")]
    Name(CheckpointError),
}

/// A checkpoint note offered for cosigning: parsed, not yet trusted. Its origin says which
/// log key and which [`Seen`] apply.
#[derive(Clone, Debug)]
pub struct Offered {
    text: String,
    checkpoint: Checkpoint,
}

impl Offered {
    /// Parses a signed checkpoint note.
    pub fn parse(text: &str) -> Result<Offered, WitnessError> {
        let note = Note::parse(text.as_bytes())?;
        let checkpoint = Checkpoint::parse_body(note.text())?;
        Ok(Offered {
            text: text.to_owned(),
            checkpoint,
        })
    }

    /// The checkpoint (unverified).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Checks the log's signature with `log_key`, whose name must be the origin.
    pub fn verify(self, log_key: &NoteVerifier) -> Result<Signed, WitnessError> {
        let cp = &self.checkpoint;
        if log_key.name() != cp.origin {
            return Err(WitnessError::WrongOrigin {
                origin: cp.origin.clone(),
                key_name: log_key.name().to_owned(),
            });
        }
        open_checkpoint(&self.text, std::slice::from_ref(log_key))?;
        Ok(Signed(self))
    }
}

/// A checkpoint signed by the log's key.
#[derive(Clone, Debug)]
pub struct Signed(Offered);

impl Signed {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.0.checkpoint
    }

    /// Checks that the checkpoint does not go back from `seen`, the last one cosigned for
    /// this origin (`None`: the first one seen).
    pub fn since(self, seen: Option<&Seen>) -> Result<Checked, WitnessError> {
        let cp = &self.0.checkpoint;
        if let Some(s) = seen {
            if cp.size < s.size {
                return Err(WitnessError::Backwards {
                    origin: cp.origin.clone(),
                    size: cp.size,
                    seen: s.size,
                });
            }
        }
        Ok(Checked {
            offered: self.0,
            seen: seen.copied(),
        })
    }
}

/// A checkpoint signed by the log key and not going backwards: it needs only its
/// consistency proof to be cosigned.
#[derive(Clone, Debug)]
pub struct Checked {
    offered: Offered,
    seen: Option<Seen>,
}

impl Checked {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.offered.checkpoint
    }

    /// The last checkpoint cosigned for this origin, if any.
    pub fn seen(&self) -> Option<&Seen> {
        self.seen.as_ref()
    }

    /// The size a consistency proof must start from (it ends at this checkpoint's size);
    /// `None` when no proof is needed: the first checkpoint seen, or the same size again.
    pub fn proof_from(&self) -> Option<u64> {
        self.seen
            .filter(|s| s.size != self.offered.checkpoint.size)
            .map(|s| s.size)
    }

    /// Verifies `proof` (from [`Checked::proof_from`] to this size; empty when none is
    /// needed) against the last cosigned root, then cosigns as `name` with `key` at
    /// `timestamp` (seconds since the epoch).
    pub fn cosign(
        self,
        proof: &[Hash],
        name: &str,
        key: &SigningKey,
        timestamp: u64,
    ) -> Result<Cosigned, WitnessError> {
        let cp = &self.offered.checkpoint;
        if let Some(s) = &self.seen {
            verify_consistency(&Sha256Hasher, s.size, cp.size, proof, &s.root, &cp.root).map_err(
                |error| WitnessError::Inconsistent {
                    origin: cp.origin.clone(),
                    seen: s.size,
                    error,
                },
            )?;
        }
        let line = cosign_line(cp, name, key, timestamp).map_err(WitnessError::Name)?;
        let note = append_cosignature(&self.offered.text, &line)?;
        Ok(Cosigned {
            seen: Seen {
                size: cp.size,
                root: cp.root,
            },
            checkpoint: self.offered.checkpoint,
            note,
        })
    }
}

/// A cosigned checkpoint.
#[derive(Clone, Debug)]
pub struct Cosigned {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note with the witness's cosignature line appended.
    pub note: String,
    /// What the witness remembers for this origin from now on.
    pub seen: Seen,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{sign_checkpoint, CosignatureVerifier};
    use crate::merkle::{consistency_proof, root_at, MemoryNodes};
    use crate::note::NoteSigner;

    const ORIGIN: &str = "example.org/l";

    fn log() -> NoteSigner {
        NoteSigner::new(ORIGIN, SigningKey::from_seed(&[1; 32])).unwrap()
    }

    fn tree(n: u64) -> MemoryNodes {
        let leaves: Vec<Hash> = (0..n)
            .map(|i| Hash([u8::try_from(i).unwrap(); 32]))
            .collect();
        MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves)
    }

    /// The signed note of the first `size` leaves of `t`.
    fn note(t: &MemoryNodes, size: u64) -> String {
        let root = root_at(&Sha256Hasher, t, size).unwrap();
        sign_checkpoint(&Checkpoint::new(ORIGIN, size, root).unwrap(), &log())
    }

    fn seen(t: &MemoryNodes, size: u64) -> Seen {
        Seen {
            size,
            root: root_at(&Sha256Hasher, t, size).unwrap(),
        }
    }

    fn check(text: &str, s: Option<&Seen>) -> Result<Checked, WitnessError> {
        Offered::parse(text)?.verify(&log().verifier())?.since(s)
    }

    fn witness() -> SigningKey {
        SigningKey::from_seed(&[2; 32])
    }

    #[test]
    fn cosigns_a_consistent_checkpoint_and_remembers_it() {
        let t = tree(9);
        let old = seen(&t, 5);
        let c = check(&note(&t, 9), Some(&old)).unwrap();
        assert_eq!(c.proof_from(), Some(5));
        let proof = consistency_proof(&Sha256Hasher, &t, 5, 9).unwrap();
        let done = c
            .cosign(&proof, "w.example", &witness(), 1_700_000_000)
            .unwrap();
        assert_eq!(done.seen, seen(&t, 9));
        let opened = open_checkpoint(&done.note, &[log().verifier()]).unwrap();
        let w = CosignatureVerifier::new("w.example", witness().public_key()).unwrap();
        assert_eq!(
            opened.cosignatures(&[w]).unwrap()[0].timestamp,
            Some(1_700_000_000)
        );
        // The same size again needs no proof; the same root is consistent.
        let again = check(&note(&t, 9), Some(&done.seen)).unwrap();
        assert_eq!(again.proof_from(), None);
        again.cosign(&[], "w.example", &witness(), 1).unwrap();
    }

    #[test]
    fn refuses_an_inconsistent_proof() {
        let t = tree(9);
        let old = seen(&t, 5);
        let mut proof = consistency_proof(&Sha256Hasher, &t, 5, 9).unwrap();
        proof[0].0[0] ^= 1;
        let e = check(&note(&t, 9), Some(&old))
            .unwrap()
            .cosign(&proof, "w.example", &witness(), 1)
            .unwrap_err();
        assert!(
            matches!(e, WitnessError::Inconsistent { seen: 5, .. }),
            "{e}"
        );
        // A forked log: same size as remembered, another root.
        let fork = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &[Hash([7; 32]); 9]);
        let e = check(&note(&fork, 9), Some(&seen(&t, 9)))
            .unwrap()
            .cosign(&[], "w.example", &witness(), 1)
            .unwrap_err();
        assert!(matches!(e, WitnessError::Inconsistent { .. }), "{e}");
        // A proof from the wrong size.
        let wrong = consistency_proof(&Sha256Hasher, &t, 4, 9).unwrap();
        let e = check(&note(&t, 9), Some(&old))
            .unwrap()
            .cosign(&wrong, "w.example", &witness(), 1)
            .unwrap_err();
        assert!(matches!(e, WitnessError::Inconsistent { .. }), "{e}");
    }

    #[test]
    fn refuses_a_smaller_size() {
        let t = tree(9);
        let e = check(&note(&t, 4), Some(&seen(&t, 5))).unwrap_err();
        assert_eq!(
            e,
            WitnessError::Backwards {
                origin: ORIGIN.to_owned(),
                size: 4,
                seen: 5
            }
        );
        assert_eq!(
            e.to_string(),
            "size 4 is smaller than the last cosigned size 5 for example.org/l: refusing to go backwards"
        );
    }

    #[test]
    fn refuses_other_keys_origins_and_names() {
        let t = tree(3);
        let text = note(&t, 3);
        let other = NoteSigner::new(ORIGIN, SigningKey::from_seed(&[9; 32])).unwrap();
        let e = Offered::parse(&text)
            .unwrap()
            .verify(&other.verifier())
            .unwrap_err();
        assert!(matches!(e, WitnessError::Checkpoint(_)), "{e}");
        let elsewhere = NoteSigner::new("other.org/l", SigningKey::from_seed(&[1; 32])).unwrap();
        let e = Offered::parse(&text)
            .unwrap()
            .verify(&elsewhere.verifier())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "origin example.org/l is not the log key's name other.org/l"
        );
        assert!(Offered::parse("not a note").is_err());
        let e = check(&text, None)
            .unwrap()
            .cosign(&[], "bad name", &witness(), 1)
            .unwrap_err();
        assert!(matches!(e, WitnessError::Name(_)), "{e}");
    }
}
