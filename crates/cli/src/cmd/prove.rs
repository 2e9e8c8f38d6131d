//! `caseledger prove inclusion|consistency`: JSON with base64 hashes, as the C2SP and
//! transparency-dev tools print them.

use super::ledger_ops::open;
use super::{ProveConsistencyArgs, ProveInclusionArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::hash::merkle_leaf;
use caseledger_core::{EntryHash, Hash, Seq};
use caseledger_store::Durability;
use serde::{Deserialize, Serialize};

/// A consistency proof as printed by `prove consistency` and read by `cosign --proof`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyJson {
    /// The older size.
    pub size1: u64,
    /// The newer size.
    pub size2: u64,
    /// The root at `size1` (base64).
    pub root1: String,
    /// The root at `size2` (base64).
    pub root2: String,
    /// The proof hashes (base64).
    pub proof: Vec<String>,
}

/// Decodes a base64 32-byte hash.
pub(crate) fn b64_hash(s: &str, what: &str) -> Result<Hash> {
    s.parse()
        .map_err(|_| anyhow!("{what}: not base64 of 32 bytes"))
}

/// `prove inclusion --seq N [--size M]`.
pub(crate) fn inclusion(a: ProveInclusionArgs, out: &Out) -> Result<Outcome> {
    let ledger = open(&a.ledger.ledger, Durability::Immediate)?;
    let head = ledger.head().size;
    let size = a.size.unwrap_or(head);
    if size > head {
        bail!("--size {size}: beyond the ledger's size {head}");
    }
    if a.seq >= size {
        // Seqs count from 0: a tree of size N holds seqs 0..N-1.
        let at = if a.size.is_some() {
            "--size"
        } else {
            "the ledger's size"
        };
        if size == 0 {
            bail!("--seq {}: {at} is 0; there is no entry to prove", a.seq);
        }
        bail!(
            "--seq {}: beyond the last entry, seq {} ({at} {size}; seqs count from 0)",
            a.seq,
            size - 1
        );
    }
    let bytes = ledger
        .entry_bytes(Seq(a.seq))
        .map_err(|e| anyhow!("seq {}: {e}", a.seq))?
        .ok_or_else(|| anyhow!("seq {}: no such entry", a.seq))?;
    let h: EntryHash = caseledger_core::hash::entry_hash(&bytes);
    let proof = ledger
        .inclusion_proof(Seq(a.seq), size)
        .map_err(|e| anyhow!("{e}"))?;
    let root = ledger.root_at(size).map_err(|e| anyhow!("{e}"))?;
    let v = serde_json::json!({
        "leaf_index": a.seq,
        "tree_size": size,
        "leaf_hash": merkle_leaf(&h).to_string(),
        "entry_hash": B64.encode(h.0),
        "proof": proof.iter().map(Hash::to_string).collect::<Vec<_>>(),
        "root": root.to_string(),
    });
    out.json_data(&v)?;
    Ok(Outcome::Ok)
}

/// `prove consistency --from N [--to M]`.
pub(crate) fn consistency(a: ProveConsistencyArgs, out: &Out) -> Result<Outcome> {
    let ledger = open(&a.ledger.ledger, Durability::Immediate)?;
    let head = ledger.head().size;
    let to = a.to.unwrap_or(head);
    if to > head {
        bail!("--to {to}: beyond the ledger's size {head}");
    }
    if a.from > to {
        if a.to.is_none() {
            bail!("--from {}: beyond the ledger's size {to}", a.from);
        }
        bail!("--from {}: larger than --to {to}", a.from);
    }
    let p = consistency_json(&ledger, a.from, to)?;
    out.json_data(&serde_json::to_value(&p)?)?;
    Ok(Outcome::Ok)
}

/// The consistency proof between two sizes of an open ledger.
pub(crate) fn consistency_json(
    ledger: &caseledger_store::Ledger,
    size1: u64,
    size2: u64,
) -> Result<ConsistencyJson> {
    let proof = ledger
        .consistency_proof(size1, size2)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(ConsistencyJson {
        size1,
        size2,
        root1: ledger
            .root_at(size1)
            .map_err(|e| anyhow!("{e}"))?
            .to_string(),
        root2: ledger
            .root_at(size2)
            .map_err(|e| anyhow!("{e}"))?
            .to_string(),
        proof: proof.iter().map(Hash::to_string).collect(),
    })
}
