//! `caseledger checkpoint` and `caseledger cosign` (a witness).

use super::ledger_ops::open;
use super::prove::{b64_hash, consistency_json, ConsistencyJson};
use super::{CheckpointArgs, CosignArgs};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::checkpoint::{
    append_cosignature, cosign as cosign_line, open_checkpoint, Checkpoint,
};
use caseledger_core::merkle::{verify_consistency, Sha256Hasher};
use caseledger_core::note::{is_valid_key_name, Note, NoteSigner, NoteVerifier};
use caseledger_store::Durability;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// `caseledger checkpoint`: signs the head with `keys/ledger.pem`, prints the note.
pub(crate) fn checkpoint(a: CheckpointArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    if let Some(f) = &a.add_cosigned {
        let text = crate::io::read_text(f, "cosigned checkpoint")?;
        let note = Note::parse(text.as_bytes())
            .map_err(|e| anyhow!("cosigned checkpoint {}: {e}", f.display()))?;
        let cp = Checkpoint::parse_body(note.text())
            .map_err(|e| anyhow!("cosigned checkpoint {}: {e}", f.display()))?;
        let ledger = open(dir, Durability::Immediate)?;
        let merged = ledger
            .add_cosignature(cp.size, &text)
            .map_err(|e| anyhow!("cosigned checkpoint {}: {e}", f.display()))?;
        out.data(&merged)?;
        return Ok(Outcome::Ok);
    }
    let key = KeyDir::of(dir).ledger_key()?;
    let ledger = open(dir, Durability::Immediate)?;
    let origin = ledger
        .origin()
        .ok_or_else(|| anyhow!("ledger {}: has no genesis", dir.display()))?;
    let signer =
        NoteSigner::new(origin.as_str(), key).map_err(|e| anyhow!("origin {origin}: {e}"))?;
    let note = ledger
        .checkpoint(&signer)
        .map_err(|e| anyhow!("checkpoint: {e}"))?;
    if out.json {
        let size = ledger.head().size;
        out.json_data(&json!({ "origin": origin.as_str(), "size": size, "note": note }))?;
    } else {
        out.data(&note)?;
    }
    Ok(Outcome::Ok)
}

/// A witness's memory: the last checkpoint it cosigned, per origin.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WitnessState {
    /// Format version of this file.
    version: u32,
    /// By origin.
    origins: BTreeMap<String, Seen>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seen {
    /// The log's verifier key.
    log_key: String,
    /// Size of the last cosigned checkpoint.
    size: u64,
    /// Its root (base64).
    root: String,
}

/// `caseledger cosign`.
pub(crate) fn cosign(a: CosignArgs, out: &Out) -> Result<Outcome> {
    let key = crate::keys::read_private(&a.key)?;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a
            .key
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !is_valid_key_name(&name) {
        bail!("--name {name:?}: not a valid witness name (printable, no spaces or '+')");
    }
    let text = crate::io::read_text(&a.checkpoint, "checkpoint")?;
    let note = Note::parse(text.as_bytes())
        .map_err(|e| anyhow!("checkpoint {}: {e}", a.checkpoint.display()))?;
    let cp = Checkpoint::parse_body(note.text())
        .map_err(|e| anyhow!("checkpoint {}: {e}", a.checkpoint.display()))?;
    let mut state: WitnessState = if a.state.exists() {
        let s = crate::io::read_text(&a.state, "witness state file")?;
        serde_json::from_str(&s).map_err(|e| {
            anyhow!(
                "witness state file {}: not a witness state: {e}",
                a.state.display()
            )
        })?
    } else {
        WitnessState {
            version: 1,
            ..WitnessState::default()
        }
    };
    let seen = state.origins.get(&cp.origin);
    let log_key = match (&a.log_key, seen) {
        (Some(k), Some(s)) if k.trim() != s.log_key => bail!(
            "--log-key: differs from the key remembered for {} in {}",
            cp.origin,
            a.state.display()
        ),
        (Some(k), _) => k.trim().to_owned(),
        (None, Some(s)) => s.log_key.clone(),
        (None, None) => bail!(
            "--log-key: required the first time origin {} is seen",
            cp.origin
        ),
    };
    let verifier = NoteVerifier::parse(&log_key).map_err(|e| anyhow!("--log-key: {e}"))?;
    if verifier.name() != cp.origin {
        bail!(
            "checkpoint {}: origin {} is not the log key's name {}",
            a.checkpoint.display(),
            cp.origin,
            verifier.name()
        );
    }
    open_checkpoint(&text, &[verifier])
        .map_err(|e| anyhow!("checkpoint {}: {e}", a.checkpoint.display()))?;
    // Consistency with the last checkpoint seen for this origin.
    let mut message = format!("first checkpoint seen for {} (size {})", cp.origin, cp.size);
    if let Some(s) = seen {
        let old_root = b64_hash(&s.root, "witness state root")?;
        if cp.size < s.size {
            bail!("checkpoint {}: size {} is smaller than the last cosigned size {} for {}: refusing to go backwards", a.checkpoint.display(), cp.size, s.size, cp.origin);
        }
        let proof = match (&a.proof, &a.ledger) {
            _ if cp.size == s.size => Vec::new(),
            (Some(p), _) => {
                let t = crate::io::read_text(p, "consistency proof")?;
                let j: ConsistencyJson = serde_json::from_str(&t).map_err(|e| anyhow!("consistency proof {}: {e}", p.display()))?;
                if j.size1 != s.size || j.size2 != cp.size {
                    bail!("consistency proof {}: is from size {} to {}, but {} -> {} is needed", p.display(), j.size1, j.size2, s.size, cp.size);
                }
                j.proof.iter().map(|h| b64_hash(h, "consistency proof hash")).collect::<Result<Vec<_>>>()?
            }
            (None, Some(dir)) => {
                let ledger = open(dir, Durability::Immediate)?;
                let j = consistency_json(&ledger, s.size, cp.size)?;
                j.proof.iter().map(|h| b64_hash(h, "consistency proof hash")).collect::<Result<Vec<_>>>()?
            }
            (None, None) => bail!("a consistency proof from size {} is needed: give --proof <FILE> (from `prove consistency --from {}`) or --ledger <DIR>", s.size, s.size),
        };
        verify_consistency(&Sha256Hasher, s.size, cp.size, &proof, &old_root, &cp.root).map_err(|e| {
            anyhow!("checkpoint {}: not consistent with the last cosigned checkpoint (size {}) of {}: {e}", a.checkpoint.display(), s.size, cp.origin)
        })?;
        message = format!("consistent with size {}", s.size);
    }
    let now = u64::try_from(caseledger_core::Timestamp::now().0 / 1_000_000).unwrap_or(0);
    let line = cosign_line(&cp, &name, &key, now).map_err(|e| anyhow!("--name {name}: {e}"))?;
    let cosigned = append_cosignature(&text, &line)
        .map_err(|e| anyhow!("checkpoint {}: {e}", a.checkpoint.display()))?;
    state.origins.insert(
        cp.origin.clone(),
        Seen {
            log_key,
            size: cp.size,
            root: B64.encode(cp.root),
        },
    );
    let bytes = serde_json::to_vec_pretty(&state)?;
    crate::io::write_replace(&a.state, &bytes)
        .with_context(|| format!("witness state file {}", a.state.display()))?;
    out.say(format!(
        "cosigned {} size {} as {name}: {message}",
        cp.origin, cp.size
    ));
    if out.json {
        out.json_data(
            &json!({ "origin": cp.origin, "size": cp.size, "witness": name, "note": cosigned }),
        )?;
    } else {
        out.data(&cosigned)?;
    }
    Ok(Outcome::Ok)
}
