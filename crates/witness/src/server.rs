//! The witness: answers `add-checkpoint` bodies as C2SP tlog-witness says, with the checks
//! of [`caseledger_core::witness`] and the memory of [`crate::state`]. No HTTP here
//! ([`crate::http`] carries it).

use crate::protocol::{AddCheckpoint, Reply};
use crate::state::{Remembered, StateDir, StateError};
use caseledger_core::checkpoint::{CheckpointError, CosignatureVerifier};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::{Note, NoteVerifier, ALG_ED25519};
use caseledger_core::witness::{Offered, Seen, Signed, WitnessError};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Why a log key list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogKeysError {
    /// A line is not a note verifier key.
    #[error("line {line}: not a log verifier key (name+hex8+base64): {why}")]
    BadKey {
        /// 1-based line number.
        line: usize,
        /// Why.
        why: String,
    },
    /// A line holds a witness (cosignature/v1) key, not a log's Ed25519 key.
    #[error("line {0}: a cosignature (witness) key, not a log's Ed25519 key")]
    NotALogKey(usize),
    /// No key at all.
    #[error("no log key: the witness would accept nothing")]
    Empty,
}

/// The log keys a witness accepts, by origin (a log's key name is its origin). Several keys
/// for one origin are allowed (key rotation): a checkpoint signed by any of them counts.
#[derive(Debug, Clone, Default)]
pub struct LogKeys(BTreeMap<String, Vec<NoteVerifier>>);

impl LogKeys {
    /// Parses one verifier key `origin+hex8+base64` per line; blank lines and lines
    /// starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<LogKeys, LogKeysError> {
        let mut keys: BTreeMap<String, Vec<NoteVerifier>> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let v = NoteVerifier::parse(line).map_err(|e| LogKeysError::BadKey {
                line: i + 1,
                why: e.to_string(),
            })?;
            if v.algorithm() != ALG_ED25519 {
                return Err(LogKeysError::NotALogKey(i + 1));
            }
            let list = keys.entry(v.name().to_owned()).or_default();
            if !list.contains(&v) {
                list.push(v);
            }
        }
        if keys.is_empty() {
            return Err(LogKeysError::Empty);
        }
        Ok(LogKeys(keys))
    }

    /// The origins accepted.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The keys of `origin`.
    pub fn get(&self, origin: &str) -> Option<&[NoteVerifier]> {
        self.0.get(origin).map(Vec::as_slice)
    }
}

/// A witness: its name and key, the logs it accepts, and what it last cosigned for each.
pub struct Witness {
    name: String,
    key: SigningKey,
    verifier: CosignatureVerifier,
    logs: LogKeys,
    state: StateDir,
    // One lock over check-and-persist: two requests racing for one origin must not both be
    // checked against the same old size (the spec's rollback race).
    latest: Mutex<BTreeMap<String, Remembered>>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Witness({})", self.verifier)
    }
}

/// Why a witness could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The witness name is not a valid key name.
    #[error("witness name: {0}")]
    Name(CheckpointError),
    /// The state directory.
    #[error(transparent)]
    State(#[from] StateError),
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

impl Witness {
    /// A witness named `name` (its cosignature key name) signing with `key`, accepting
    /// `logs`, remembering in `state` (read now).
    pub fn new(
        name: &str,
        key: SigningKey,
        logs: LogKeys,
        state: StateDir,
    ) -> Result<Witness, StartError> {
        let verifier =
            CosignatureVerifier::new(name, key.public_key()).map_err(StartError::Name)?;
        let latest = state.load_all()?;
        Ok(Witness {
            name: name.to_owned(),
            key,
            verifier,
            logs,
            state,
            latest: Mutex::new(latest),
        })
    }

    /// The witness's public key (`name+hex8+base64(0x04 || pk)`), for those who check its
    /// cosignatures.
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }

    /// The logs it accepts.
    pub fn logs(&self) -> &LogKeys {
        &self.logs
    }

    /// The note it last cosigned for `origin` (with its cosignature), if any.
    pub fn latest_checkpoint(&self, origin: &str) -> Option<String> {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.get(origin).map(|r| r.note.clone())
    }

    /// Answers one `add-checkpoint` request body, cosigning at `now` (seconds since the
    /// epoch) if every check passes; the new checkpoint is persisted before the answer.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Reply {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => return Reply::BadRequest(e.to_string()),
        };
        let offered = match Offered::parse(&req.note) {
            Ok(o) => o,
            Err(e) => return Reply::BadRequest(format!("checkpoint: {e}")),
        };
        let origin = offered.checkpoint().origin.clone();
        let Some(keys) = self.logs.get(&origin) else {
            return Reply::UnknownLog(format!("unknown log origin {origin}"));
        };
        let Some(signed) = verify_any(&offered, keys) else {
            return Reply::Forbidden(format!(
                "no signature verifies with a key this witness trusts for {origin}"
            ));
        };
        let size = signed.checkpoint().size;
        if req.old > size {
            return Reply::BadRequest(format!(
                "old size {} is beyond the checkpoint's size {size}",
                req.old
            ));
        }
        if req.old == 0 && !req.proof.is_empty() {
            return Reply::BadRequest("a proof from size 0 must be empty".into());
        }
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = latest.get(&origin).map(|r| Seen {
            size: r.checkpoint.size,
            root: r.checkpoint.root,
        });
        let seen_size = seen.map_or(0, |s| s.size);
        if req.old != seen_size {
            return Reply::Conflict(seen_size);
        }
        if let Some(s) = seen.filter(|s| s.size == size && s.root != signed.checkpoint().root) {
            // Same size, another root: the log forked. Report the size held; never cosign.
            return Reply::Conflict(s.size);
        }
        let checked = match signed.since(seen.as_ref()) {
            Ok(c) => c,
            Err(_) => return Reply::Conflict(seen_size),
        };
        let cosigned = match checked.cosign(&req.proof, &self.name, &self.key, now) {
            Ok(c) => c,
            Err(e @ WitnessError::Inconsistent { .. }) => return Reply::BadProof(e.to_string()),
            Err(e) => return Reply::BadRequest(first_line(&e.to_string())),
        };
        let Some(line) = self.own_line(&cosigned.note) else {
            return Reply::Internal("the cosignature line is missing".into());
        };
        if let Err(e) = self.state.store(&origin, &cosigned.note) {
            return Reply::Internal(format!("cannot persist the checkpoint: {e}"));
        }
        latest.insert(
            origin,
            Remembered {
                checkpoint: cosigned.checkpoint,
                note: cosigned.note,
            },
        );
        Reply::Cosigned(line)
    }

    /// This witness's (last) signature line on `note`.
    fn own_line(&self, note: &str) -> Option<String> {
        let n = Note::parse(note.as_bytes()).ok()?;
        n.signatures()
            .iter()
            .rev()
            .find(|s| s.name == self.name && s.key_id == self.verifier.key_id())
            .map(|s| s.to_line())
    }
}

/// The checkpoint verified with one of `keys` (any that verifies counts).
fn verify_any(offered: &Offered, keys: &[NoteVerifier]) -> Option<Signed> {
    keys.iter().find_map(|k| offered.clone().verify(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint};
    use caseledger_core::merkle::{consistency_proof, root_at, Hash, MemoryNodes, Sha256Hasher};
    use caseledger_core::note::NoteSigner;

    const ORIGIN: &str = "example.org/l";

    fn log() -> NoteSigner {
        NoteSigner::new(ORIGIN, SigningKey::from_seed(&[1; 32])).unwrap()
    }

    fn tree(seed: u8, n: u64) -> MemoryNodes {
        let leaves: Vec<Hash> = (0..n)
            .map(|i| Hash([seed ^ u8::try_from(i).unwrap(); 32]))
            .collect();
        MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves)
    }

    fn note(t: &MemoryNodes, size: u64) -> String {
        let root = root_at(&Sha256Hasher, t, size).unwrap();
        sign_checkpoint(&Checkpoint::new(ORIGIN, size, root).unwrap(), &log())
    }

    fn body(old: u64, proof: &[Hash], note: &str) -> Vec<u8> {
        AddCheckpoint {
            old,
            proof: proof.to_vec(),
            note: note.to_owned(),
        }
        .to_body()
        .into_bytes()
    }

    fn witness(dir: &std::path::Path) -> Witness {
        let logs = LogKeys::parse(&format!("# logs\n\n{}\n", log().verifier())).unwrap();
        Witness::new(
            "w.example",
            SigningKey::from_seed(&[2; 32]),
            logs,
            StateDir::open(dir).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn cosigns_then_needs_the_right_old_size_and_proof() {
        let t = tempfile::tempdir().unwrap();
        let w = witness(t.path());
        let tr = tree(0, 9);
        // First contact: old 0, no proof.
        let Reply::Cosigned(line) = w.add_checkpoint(&body(0, &[], &note(&tr, 4)), 1_700_000_000)
        else {
            panic!("not cosigned")
        };
        let cp = Checkpoint::parse_body(
            &Checkpoint::new(ORIGIN, 4, root_at(&Sha256Hasher, &tr, 4).unwrap())
                .unwrap()
                .to_body(),
        )
        .unwrap();
        assert_eq!(w.verifier().verify_line(&cp, &line), Ok(1_700_000_000));
        // A stale old size: 409 with the size held.
        assert_eq!(
            w.add_checkpoint(&body(0, &[], &note(&tr, 9)), 1),
            Reply::Conflict(4)
        );
        assert_eq!(
            w.add_checkpoint(&body(5, &[], &note(&tr, 9)), 1),
            Reply::Conflict(4)
        );
        // A skipped proof (4 -> 9 with none) and a bad one: 422; the right one: 200.
        assert!(matches!(
            w.add_checkpoint(&body(4, &[], &note(&tr, 9)), 1),
            Reply::BadProof(_)
        ));
        let mut proof = consistency_proof(&Sha256Hasher, &tr, 4, 9).unwrap();
        let good = proof.clone();
        proof[0].0[0] ^= 1;
        assert!(matches!(
            w.add_checkpoint(&body(4, &proof, &note(&tr, 9)), 1),
            Reply::BadProof(_)
        ));
        assert!(matches!(
            w.add_checkpoint(&body(4, &good, &note(&tr, 9)), 2),
            Reply::Cosigned(_)
        ));
        let latest = w.latest_checkpoint(ORIGIN).unwrap();
        assert!(latest.starts_with(&note(&tr, 9)));
        open_checkpoint(
            &latest,
            &[log().verifier(), w.verifier().as_note_verifier().clone()],
        )
        .unwrap();
        // Going backwards: old must be 9 now, and 9 > 4 is a 400.
        assert!(matches!(
            w.add_checkpoint(&body(9, &[], &note(&tr, 4)), 3),
            Reply::BadRequest(_)
        ));
        assert_eq!(
            w.add_checkpoint(&body(4, &good, &note(&tr, 9)), 3),
            Reply::Conflict(9)
        );
        // The same size again is fine; a fork of the same size is a 409, never cosigned.
        assert!(matches!(
            w.add_checkpoint(&body(9, &[], &note(&tr, 9)), 4),
            Reply::Cosigned(_)
        ));
        assert_eq!(
            w.add_checkpoint(&body(9, &[], &note(&tree(7, 9), 9)), 5),
            Reply::Conflict(9)
        );
        // After a restart the witness remembers size 9 and its root.
        drop(w);
        let w = witness(t.path());
        assert_eq!(
            w.add_checkpoint(&body(4, &good, &note(&tr, 9)), 6),
            Reply::Conflict(9)
        );
        assert_eq!(
            w.add_checkpoint(&body(9, &[], &note(&tree(7, 9), 9)), 6),
            Reply::Conflict(9)
        );
    }

    #[test]
    fn unknown_logs_bad_signatures_and_malformed_bodies() {
        let t = tempfile::tempdir().unwrap();
        let w = witness(t.path());
        let tr = tree(0, 3);
        let other = NoteSigner::new("other.org/l", SigningKey::from_seed(&[1; 32])).unwrap();
        let root = root_at(&Sha256Hasher, &tr, 3).unwrap();
        let foreign = sign_checkpoint(&Checkpoint::new("other.org/l", 3, root).unwrap(), &other);
        assert!(matches!(
            w.add_checkpoint(&body(0, &[], &foreign), 1),
            Reply::UnknownLog(_)
        ));
        let impostor = NoteSigner::new(ORIGIN, SigningKey::from_seed(&[9; 32])).unwrap();
        let forged = sign_checkpoint(&Checkpoint::new(ORIGIN, 3, root).unwrap(), &impostor);
        let r = w.add_checkpoint(&body(0, &[], &forged), 1);
        assert_eq!(r.status(), 403, "{r:?}");
        assert_eq!(w.add_checkpoint(b"old 0\n\nnot a note", 1).status(), 400);
        assert_eq!(w.add_checkpoint(b"garbage", 1).status(), 400);
        let r = w.add_checkpoint(&body(0, &[Hash([0; 32])], &note(&tr, 3)), 1);
        assert_eq!(r.status(), 400, "{r:?}");
        // Nothing was remembered from any of these.
        assert_eq!(w.latest_checkpoint(ORIGIN), None);
        assert!(StateDir::open(t.path())
            .unwrap()
            .load_all()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn log_key_lists() {
        let v = log().verifier().to_vkey_string();
        let keys = LogKeys::parse(&format!("{v}\n{v}\n")).unwrap();
        assert_eq!(keys.get(ORIGIN).map(<[_]>::len), Some(1));
        assert_eq!(
            LogKeys::parse("# nothing\n").unwrap_err(),
            LogKeysError::Empty
        );
        assert!(matches!(
            LogKeys::parse("\nnot a key\n"),
            Err(LogKeysError::BadKey { line: 2, .. })
        ));
        let wk =
            CosignatureVerifier::new("w", SigningKey::from_seed(&[2; 32]).public_key()).unwrap();
        assert_eq!(
            LogKeys::parse(&wk.to_vkey_string()).unwrap_err(),
            LogKeysError::NotALogKey(1)
        );
    }
}
