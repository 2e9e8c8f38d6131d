//! `caseledger export` (the evidence bundle of one record) and `verify --bundle`.

use super::ledger_ops::{open, open_sealing};
use super::ExportArgs;
use crate::output::{finding_json, Out};
use crate::Outcome;
use anyhow::{anyhow, bail, Result};
use caseledger_core::note::NoteSigner;
use caseledger_core::record::RecordState;
use caseledger_core::RecordId;
use caseledger_store::{Durability, ExportError};
use caseledger_verify::bundle::{verify_bundle as verify_bundle_with, Bundle, BUNDLE_FORMAT};
use caseledger_verify::Policy;
use serde_json::json;
use std::fs;
use std::path::Path;

/// Bundles larger than this are refused.
const MAX_BUNDLE: u64 = 1 << 30;

/// `caseledger export --record R --out FILE`: appends the record's `record_head`, has a
/// checkpoint covering it, builds the bundle from the entries themselves, verifies it as an
/// auditor would and writes it only if it proves the record complete.
pub(crate) fn export(a: ExportArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let record = RecordId::new(a.record.as_str()).map_err(|e| anyhow!("--record: {e}"))?;
    if fs::symlink_metadata(&a.out).is_ok() {
        bail!(
            "bundle {}: already exists; refusing to overwrite it",
            a.out.display()
        );
    }
    // Before anything is appended: a bundle that cannot be written is refused first.
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(crate::io::located(
                &a.out,
                None,
                format!("bundle {}: no such file or directory", a.out.display()),
            ));
        }
    }
    let d = dir.display();
    let no_record = || anyhow!("--record {record}: no such record in ledger {d}");
    // Before the ledger key is read: a missing record is the error to report first. (Only a
    // hint: the bundle itself is built from the entries, never from these rows.)
    {
        let ledger = open(dir, Durability::Immediate)?;
        ledger
            .origin()
            .ok_or_else(|| anyhow!("ledger {d}: has no genesis"))?;
        if ledger
            .record_state(&record)
            .map_err(|e| anyhow!("{e}"))?
            .is_none()
            && ledger
                .record_entries(&record)
                .map_err(|e| anyhow!("{e}"))?
                .is_empty()
        {
            return Err(no_record());
        }
    }
    // The ledger key seals the record_head's commit; the practice's content key, when this
    // machine has it, lets the bundle carry each entry's own key.
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let origin = ledger
        .origin()
        .ok_or_else(|| anyhow!("ledger {d}: has no genesis"))?;
    let signer = NoteSigner::new(origin.as_str(), kd.ledger_key()?)
        .map_err(|e| anyhow!("origin {origin}: {e}"))?;
    let bundle = ledger
        .export_bundle(&record, &signer)
        .map_err(|e| match e {
            ExportError::NoGenesis => anyhow!("ledger {d}: has no genesis"),
            ExportError::NoSuchRecord => no_record(),
            ExportError::NoLedgerKey => anyhow!("ledger {d}: no ledger key in genesis"),
            ExportError::WrongLedgerKey => anyhow!(
                "ledger {d}: {} is not the ledger key named in genesis",
                kd.ledger_key_path().display()
            ),
            e => anyhow!("ledger {d}: record {record}: {e}"),
        })?;
    // Checked as an auditor holding the ledger key would, before a byte is written.
    let policy = Policy {
        trusted_keys: vec![signer.verifier()],
        expected_origin: Some(origin.as_str().to_owned()),
        ..Policy::default()
    };
    let v = verify_bundle_with(&bundle, &policy).map_err(|e| anyhow!("bundle: {e}"))?;
    let complete = match (v.complete(), v.findings()) {
        (Some(c), []) => c.clone(),
        (_, findings) => {
            let named: Vec<String> = findings.iter().map(ToString::to_string).collect();
            bail!(
                "bundle {} not written: the bundle of record {record} does not verify ({} finding(s)): {}",
                a.out.display(),
                findings.len(),
                if named.is_empty() {
                    "it does not prove the record complete".to_owned()
                } else {
                    named.join("; ")
                }
            );
        }
    };
    let n = bundle.entries.len();
    let size = complete.checkpoint_size;
    let bytes = bundle.to_json().map_err(|e| anyhow!("{e}"))?;
    crate::io::write_new(&a.out, &bytes, "bundle")?;
    if out.json {
        out.json_data(&json!({
            "bundle": a.out.display().to_string(),
            "record": record.as_str(),
            "entries": n,
            "record_head_seq": complete.head,
            "complete": complete.to_string(),
            "checkpoint_size": size,
        }))?;
    } else {
        out.say(format!(
            "wrote evidence bundle {} for record {record}: {}, {complete}, proofs against checkpoint size {size} (export appended the record's record_head entry, sealed as every commit)",
            a.out.display(),
            crate::output::count(n, "entry", "entries")
        ));
    }
    Ok(Outcome::Ok)
}

/// `caseledger verify --bundle F`.
pub(crate) fn verify_bundle(
    path: &Path,
    mut policy: Policy,
    keys: &[crate::keys::LedgerKeyArg],
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
    crate::keys::bind_keys(&mut policy, keys, "--key", || {
        Some(bundle.origin.to_string())
    })?;
    let v = verify_bundle_with(&bundle, &policy).map_err(|e| anyhow!("bundle {p}: {e}"))?;
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
            "complete": v.complete().map(|c| json!({
                "entries": c.entries,
                "record_head_seq": c.head,
                "checkpoint_size": c.checkpoint_size,
                "text": c.to_string(),
            })),
            "status": v.status().map(|(st, _)| st.name()),
            "status_as_of": v.status().map(|(_, day)| day.to_string()),
            "retained_until": v.state().and_then(|s| s.retained_until()).map(|d| d.to_string()),
            "lawful_from": v.state().and_then(|s| s.lawful_from()).map(|d| d.to_string()),
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
        match v.complete() {
            Some(c) => text.push_str(&format!("{c}\n")),
            None => text.push_str("complete: NOT proven (see the findings)\n"),
        }
        if let Some((st, day)) = v.status() {
            let dash = |d: Option<caseledger_core::Date>| {
                d.map_or_else(|| "-".to_owned(), |d| d.to_string())
            };
            let s = v.state();
            text.push_str(&format!(
                "status: {} (as of {day}, the record's last entry in the bundle)\nretained until: {}\nlawful from: {}\n",
                st.name(),
                dash(s.and_then(RecordState::retained_until)),
                dash(s.and_then(RecordState::lawful_from)),
            ));
        }
        text.push_str(&format!("anchor: {}\n", v.anchor().line()));
        out.data(&text)?;
    }
    Ok(crate::output::print_verdict(
        &format!("bundle {p}"),
        &v.complete().map_or_else(
            || {
                format!(
                    "record {}, {}",
                    v.record(),
                    crate::output::count(v.entries(), "entry", "entries")
                )
            },
            ToString::to_string,
        ),
        v.findings().len(),
        v.anchor(),
        require_anchor,
        out,
    ))
}
