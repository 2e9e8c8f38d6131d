//! `caseledger checkpoint` and `caseledger cosign` (a witness: the checks are
//! `caseledger_core::witness`; this keeps the state file and fetches the proof).

use super::ledger_ops::open;
use super::prove::{b64_hash, consistency_json, ConsistencyJson};
use super::{CheckpointArgs, CosignArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::note::{is_valid_key_name, Note, NoteVerifier};
use caseledger_core::witness::{Offered, Seen, WitnessError};
use caseledger_core::Hash;
use caseledger_store::Durability;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// `caseledger checkpoint`: prints the newest seal (signs nothing: every commit is sealed).
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
    let ledger = open(dir, Durability::Immediate)?;
    let origin = ledger
        .origin()
        .ok_or_else(|| anyhow!("ledger {}: has no genesis", dir.display()))?;
    let (size, note) = ledger
        .newest_seal()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?
        .ok_or_else(|| anyhow!("ledger {}: holds no seal", dir.display()))?;
    let head = ledger.head().size;
    if size < head {
        // Only an imported ledger (import keeps the archive's seals, signs none) or one
        // appended unsealed can be here: the next append seals the whole ledger.
        out.say(format!(
            "the newest seal covers {size} of {head} entries; the next append seals the rest"
        ));
    }
    if out.json {
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
    origins: BTreeMap<String, Remembered>,
}

/// What the state file keeps of one origin.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Remembered {
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
    let name = crate::keys::key_name(a.name.as_deref(), &a.key);
    if !is_valid_key_name(&name) {
        bail!("--name {name:?}: not a valid witness name (printable, no spaces or '+')");
    }
    let text = crate::io::read_text(&a.checkpoint, "checkpoint")?;
    let at = |e: WitnessError| anyhow!("checkpoint {}: {e}", a.checkpoint.display());
    let offered = Offered::parse(&text).map_err(at)?;
    let origin = offered.checkpoint().origin.clone();
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
    let remembered = state.origins.get(&origin);
    // The same forms as `verify --key`: a note key or a file holding one, or a bare public
    // key (bound to the checkpoint's origin).
    let given = a
        .log_key
        .as_deref()
        .map(|k| crate::keys::ledger_key_arg(k, "--log-key")?.verifier(&origin))
        .transpose()?
        .map(|v| v.to_vkey_string());
    let log_key = match (&given, remembered) {
        (Some(k), Some(s)) if k.trim() != s.log_key => bail!(
            "--log-key: differs from the key remembered for {origin} in {}",
            a.state.display()
        ),
        (Some(k), _) => k.trim().to_owned(),
        (None, Some(s)) => s.log_key.clone(),
        (None, None) => bail!("--log-key: required the first time origin {origin} is seen"),
    };
    let verifier = NoteVerifier::parse(&log_key).map_err(|e| anyhow!("--log-key: {e}"))?;
    let signed = offered.verify(&verifier).map_err(at)?;
    let seen = remembered
        .map(|s| b64_hash(&s.root, "witness state root").map(|root| Seen { size: s.size, root }))
        .transpose()?;
    let checked = signed.since(seen.as_ref()).map_err(at)?;
    let size = checked.checkpoint().size;
    // The consistency proof from the last cosigned size, from a file or the ledger itself.
    let proof = match (checked.proof_from(), &a.proof, &a.ledger) {
        (None, _, _) => Vec::new(),
        (Some(from), Some(p), _) => {
            let t = crate::io::read_text(p, "consistency proof")?;
            let j: ConsistencyJson = serde_json::from_str(&t)
                .map_err(|e| anyhow!("consistency proof {}: {e}", p.display()))?;
            if j.size1 != from || j.size2 != size {
                bail!(
                    "consistency proof {}: is from size {} to {}, but {from} -> {size} is needed",
                    p.display(),
                    j.size1,
                    j.size2
                );
            }
            proof_hashes(&j)?
        }
        (Some(from), None, Some(dir)) => {
            let ledger = open(dir, Durability::Immediate)?;
            proof_hashes(&consistency_json(&ledger, from, size)?)?
        }
        (Some(from), None, None) => bail!("a consistency proof from size {from} is needed: give --proof <FILE> (from `prove consistency --from {from}`) or --ledger <DIR>"),
    };
    let message = match &seen {
        None => format!("first checkpoint seen for {origin} (size {size})"),
        Some(s) => format!("consistent with size {}", s.size),
    };
    let now = u64::try_from(caseledger_core::Timestamp::now().0 / 1_000_000).unwrap_or(0);
    let cosigned = checked
        .cosign(&proof, &name, &key, now)
        .map_err(|e| match e {
            WitnessError::Name(e) => anyhow!("--name {name}: {e}"),
            e => at(e),
        })?;
    let cp = &cosigned.checkpoint;
    state.origins.insert(
        cp.origin.clone(),
        Remembered {
            log_key,
            size: cosigned.seen.size,
            root: cosigned.seen.root.to_string(),
        },
    );
    let bytes = serde_json::to_vec_pretty(&state)?;
    crate::io::write_replace(&a.state, &bytes)
        .with_context(|| format!("witness state file {}", a.state.display()))?;
    let cosigned = cosigned.note;
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

/// The hashes of a consistency proof.
fn proof_hashes(j: &ConsistencyJson) -> Result<Vec<Hash>> {
    j.proof
        .iter()
        .map(|h| b64_hash(h, "consistency proof hash"))
        .collect()
}
