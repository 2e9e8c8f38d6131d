//! `caseledger export` (the evidence bundle of one record) and `verify --bundle`.

use super::ledger_ops::open;
use super::ExportArgs;
use crate::output::{finding_json, Out};
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::note::Note;
use caseledger_core::RecordId;
use caseledger_store::{BundleCheckpoint, Durability, ExportError};
use caseledger_verify::bundle::{verify_bundle as verify_bundle_with, Bundle, BUNDLE_FORMAT};
use caseledger_verify::Policy;
use serde_json::json;
use std::fs;
use std::path::Path;

/// Bundles larger than this are refused.
const MAX_BUNDLE: u64 = 1 << 30;

/// `caseledger export --record R --out FILE`.
pub(crate) fn export(a: ExportArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let record = RecordId::new(a.record.as_str()).map_err(|e| anyhow!("--record: {e}"))?;
    if fs::symlink_metadata(&a.out).is_ok() {
        bail!(
            "bundle {}: already exists; refusing to overwrite it",
            a.out.display()
        );
    }
    let ledger = open(dir, Durability::Immediate)?;
    // The practice's content key, when this machine has it: the bundle then carries each
    // entry's own key (an auditor's export without keys carries ciphertext only).
    crate::keys::KeyDir::of(a.keys.get(), &ledger)?;
    let d = dir.display();
    ledger
        .origin()
        .ok_or_else(|| anyhow!("ledger {d}: has no genesis"))?;
    let no_record = || anyhow!("--record {record}: no such record in ledger {d}");
    // Before the ledger key is read: a missing record is the error to report first.
    if ledger
        .record_entries(&record)
        .map_err(|e| anyhow!("{e}"))?
        .is_empty()
    {
        return Err(no_record());
    }
    // The proofs lead to the newest seal (export signs nothing: every commit is sealed).
    let bundle = ledger.export_bundle(&record, BundleCheckpoint::Latest).map_err(|e| match e {
        ExportError::NoGenesis => anyhow!("ledger {d}: has no genesis"),
        ExportError::NoSuchRecord => no_record(),
        ExportError::NoCheckpoint => anyhow!("ledger {d}: holds no seal"),
        ExportError::NotCovered { size } => anyhow!("ledger {d}: the newest seal (size {size}) does not cover record {record}: its last entries were imported unsealed; the next append seals them"),
        ExportError::NoLedgerKey => anyhow!("ledger {d}: no ledger key in genesis"),
        e => anyhow!("{e}"),
    })?;
    let n = bundle.entries.len();
    // The size the proofs lead to, from the checkpoint the store just put in the bundle.
    let size = Note::parse(bundle.checkpoint.as_bytes())
        .map_err(|e| anyhow!("checkpoint: {e}"))
        .and_then(|n| Checkpoint::parse_body(n.text()).map_err(|e| anyhow!("checkpoint: {e}")))?
        .size;
    let bytes = bundle.to_json().map_err(|e| anyhow!("{e}"))?;
    crate::io::write_new(&a.out, &bytes, "bundle")?;
    if out.json {
        out.json_data(&json!({ "bundle": a.out.display().to_string(), "record": record.as_str(), "entries": n, "checkpoint_size": size }))?;
    } else {
        out.say(format!("wrote evidence bundle {} for record {record}: {n} entries, proofs against checkpoint size {size}", a.out.display()));
    }
    Ok(Outcome::Ok)
}

/// `caseledger verify --bundle F`.
pub(crate) fn verify_bundle(
    path: &Path,
    policy: &Policy,
    require_anchor: bool,
    out: &Out,
) -> Result<Outcome> {
    let bytes = crate::io::read_file(path, "bundle", MAX_BUNDLE)?;
    let p = path.display();
    // Parse errors never echo values (a bundle holds payloads).
    let bundle: Bundle = serde_json::from_slice(&bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => anyhow!(
                "bundle {p}: not JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            Category::Data => anyhow!(
                "bundle {p}: not a {BUNDLE_FORMAT} bundle (line {}, column {})",
                e.line(),
                e.column()
            ),
        }
    })?;
    let v = verify_bundle_with(&bundle, policy).map_err(|e| anyhow!("bundle {p}: {e}"))?;
    let cp = v.checkpoint().map(|c| (c.size, c.origin.clone()));
    if out.json {
        out.json_data(&json!({
            "verified": format!("bundle {p}"),
            "intact": v.is_clean() && v.anchor().is_anchored(),
            "clean": v.is_clean(),
            "anchor": crate::output::anchor_json(v.anchor()),
            "record": v.record().as_str(),
            "origin": v.origin(),
            "entries": v.entries(),
            "checkpoint_size": cp.as_ref().map(|c| c.0),
            "checkpoint_key_self_attested": v.checkpoint_key_self_attested(),
            "status": v.state().map(|s| format!("{:?}", s.service)),
            "findings": v.findings().iter().map(finding_json).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut text = String::new();
        for f in v.findings() {
            text.push_str(&format!("finding: {f}\n"));
        }
        text.push_str(&format!(
            "record: {}\norigin: {}\nentries: {}\n",
            v.record(),
            v.origin(),
            v.entries()
        ));
        if let Some((size, _)) = cp {
            text.push_str(&format!("checkpoint: size {size}\n"));
        }
        text.push_str(&format!("anchor: {}\n", v.anchor().line()));
        out.data(&text)?;
    }
    Ok(crate::output::print_verdict(
        &format!("bundle {p}"),
        &format!("record {}, {} entries", v.record(), v.entries()),
        v.findings().len(),
        v.anchor(),
        require_anchor,
        out,
    ))
}
