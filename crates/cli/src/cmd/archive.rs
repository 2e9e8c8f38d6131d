//! `caseledger export` (evidence bundle), `verify --bundle`, `archive export|import`.

use super::ledger_ops::open;
use super::{ArchiveExportArgs, ArchiveImportArgs, ExportArgs};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::event::Entry;
use caseledger_core::note::NoteSigner;
use caseledger_core::{RecordId, Seq};
use caseledger_store::{Durability, Ledger, OpenOptions};
use caseledger_verify::bundle::{
    verify_bundle as verify_b, Base64, Bundle, BundleEntry, FORMAT_V1,
};
use caseledger_verify::Policy;
use serde_json::json;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Bundles larger than this are refused.
const MAX_BUNDLE: u64 = 1 << 30;

fn bundle_entry(ledger: &Ledger, seq: u64, size: u64, with_payload: bool) -> Result<BundleEntry> {
    let bytes = ledger
        .entry_bytes(Seq(seq))
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| anyhow!("seq {seq}: entry missing from the ledger"))?;
    let payload = if with_payload {
        ledger
            .payload(Seq(seq))
            .map_err(|e| anyhow!("{e}"))?
            .map(|p| Base64(p.to_stored()))
    } else {
        None
    };
    let proof = ledger
        .inclusion_proof(Seq(seq), size)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(BundleEntry {
        seq,
        entry: Base64(bytes),
        payload,
        proof: proof.into_iter().map(|h| Base64(h.to_vec())).collect(),
    })
}

/// `caseledger export --record R --out FILE`.
pub(crate) fn export_bundle(a: ExportArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let record = RecordId::new(a.record.as_str()).map_err(|e| anyhow!("--record: {e}"))?;
    if fs::symlink_metadata(&a.out).is_ok() {
        bail!(
            "bundle {}: already exists; refusing to overwrite it",
            a.out.display()
        );
    }
    let kd = KeyDir::of(dir);
    let ledger = open(dir, Durability::Immediate)?;
    let origin = ledger
        .origin()
        .ok_or_else(|| anyhow!("ledger {}: has no genesis", dir.display()))?;
    let seqs = ledger.record_entries(&record).map_err(|e| anyhow!("{e}"))?;
    if seqs.is_empty() {
        bail!(
            "--record {record}: no such record in ledger {}",
            dir.display()
        );
    }
    // A checkpoint covering the record: sign the head if the ledger key is here, else
    // use the newest stored checkpoint.
    let (size, note) = if kd.ledger_key_path().exists() {
        let signer = NoteSigner::new(origin.as_str(), kd.ledger_key()?)
            .map_err(|e| anyhow!("origin {origin}: {e}"))?;
        let note = ledger
            .checkpoint(&signer)
            .map_err(|e| anyhow!("checkpoint: {e}"))?;
        (ledger.head().size, note)
    } else {
        ledger
            .latest_checkpoint()
            .map_err(|e| anyhow!("{e}"))?
            .ok_or_else(|| {
                anyhow!(
                    "ledger {}: no checkpoint stored and no ledger key to sign one",
                    dir.display()
                )
            })?
    };
    let last = seqs.last().map_or(0, |s| s.0);
    if last >= size {
        bail!("ledger {}: the newest checkpoint (size {size}) does not cover record {record}; run `caseledger checkpoint`", dir.display());
    }
    let mut admin_entries = Vec::new();
    for seq in 0..size {
        let e: Entry = ledger
            .entry(Seq(seq))
            .map_err(|e| anyhow!("{e}"))?
            .ok_or_else(|| anyhow!("seq {seq}: entry missing"))?;
        if e.event.event.record.is_none() {
            admin_entries.push(bundle_entry(&ledger, seq, size, false)?);
        }
    }
    let entries = seqs
        .iter()
        .filter(|s| s.0 < size)
        .map(|s| bundle_entry(&ledger, s.0, size, true))
        .collect::<Result<Vec<_>>>()?;
    let ledger_key = ledger
        .ledger_key()
        .ok_or_else(|| anyhow!("ledger {}: no ledger key in genesis", dir.display()))?
        .to_note_vkey(origin.as_str())
        .map_err(|e| anyhow!("origin {origin}: {e}"))?;
    let n = entries.len();
    let bundle = Bundle {
        format: FORMAT_V1.to_owned(),
        origin: origin.as_str().to_owned(),
        ledger_key,
        checkpoint: note,
        record: record.clone(),
        admin_entries,
        entries,
    };
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
pub(crate) fn verify_bundle(path: &Path, policy: &Policy, out: &Out) -> Result<Outcome> {
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
                "bundle {p}: not a {FORMAT_V1} bundle (line {}, column {})",
                e.line(),
                e.column()
            ),
        }
    })?;
    let v = verify_b(&bundle, policy).map_err(|e| anyhow!("bundle {p}: {e}"))?;
    let cp = v.checkpoint().map(|c| (c.size, c.origin.clone()));
    if out.json {
        out.json_data(&json!({
            "verified": format!("bundle {p}"),
            "intact": v.is_clean(),
            "record": v.record().as_str(),
            "origin": v.origin(),
            "entries": v.entries(),
            "checkpoint_size": cp.as_ref().map(|c| c.0),
            "checkpoint_key_self_attested": v.checkpoint_key_self_attested(),
            "status": v.state().map(|s| format!("{:?}", s.service)),
            "findings": v.findings().iter().map(super::verify::finding_json).collect::<Vec<_>>(),
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
        if v.checkpoint_key_self_attested() {
            text.push_str("note: the checkpoint was checked with the ledger key the bundle carries; pass --key <VKEY> to trust a key you hold\n");
        }
        out.data(&text)?;
    }
    if v.is_clean() {
        out.verdict(
            true,
            format!(
                "bundle {p}: intact (record {}, {} entries, no findings)",
                v.record(),
                v.entries()
            ),
        );
        Ok(Outcome::Ok)
    } else {
        out.verdict(
            false,
            format!("bundle {p}: {} finding(s)", v.findings().len()),
        );
        Ok(Outcome::Findings)
    }
}

/// `caseledger archive export --out FILE`.
pub(crate) fn export(a: ArchiveExportArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let o = a.out.display();
    if fs::symlink_metadata(&a.out).is_ok() {
        bail!("archive {o}: already exists; refusing to overwrite it");
    }
    let ledger = open(dir, Durability::Immediate)?;
    let parent = crate::io::parent_dir(&a.out);
    let tmp = parent.join(format!(
        ".{}.tmp{}",
        a.out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<caseledger_store::ArchiveSummary> {
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(crate::io::io_why)?;
        let mut w = BufWriter::new(f);
        let s = ledger.export_archive(&mut w).map_err(|e| anyhow!("{e}"))?;
        let f = w.into_inner().map_err(|e| anyhow!("{}", e.error()))?;
        f.sync_all().map_err(crate::io::io_why)?;
        fs::hard_link(&tmp, &a.out).map_err(crate::io::io_why)?;
        let _ = fs::remove_file(&tmp);
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(crate::io::io_why)?;
        Ok(s)
    })();
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e.context(format!("archive {o}")));
        }
    };
    if out.json {
        out.json_data(&json!({ "archive": o.to_string(), "entries": s.entries, "payloads": s.payloads, "checkpoints": s.checkpoints }))?;
    } else {
        out.say(format!(
            "wrote archive {o}: {} entries, {} payloads, {} checkpoints",
            s.entries, s.payloads, s.checkpoints
        ));
    }
    Ok(Outcome::Ok)
}

/// `caseledger archive import FILE DIR`.
pub(crate) fn import(a: ArchiveImportArgs, out: &Out) -> Result<Outcome> {
    crate::io::check_file(&a.archive, "archive")?;
    let f = fs::File::open(&a.archive)
        .map_err(crate::io::io_why)
        .with_context(|| format!("archive {}", a.archive.display()))?;
    let ledger = Ledger::import_archive(
        &a.dir,
        std::io::BufReader::new(f),
        OpenOptions::default().with_durability(Durability::Deferred),
    )
    .map_err(|e| {
        anyhow!(
            "archive {} into {}: {e}",
            a.archive.display(),
            a.dir.display()
        )
    })?;
    ledger
        .flush()
        .map_err(|e| anyhow!("ledger {}: {e}", a.dir.display()))?;
    let size = ledger.head().size;
    let cps = ledger.checkpoints().map(|c| c.len()).unwrap_or(0);
    ledger
        .close()
        .map_err(|e| anyhow!("ledger {}: {e}", a.dir.display()))?;
    if out.json {
        out.json_data(
            &json!({ "ledger": a.dir.display().to_string(), "entries": size, "checkpoints": cps }),
        )?;
    } else {
        out.say(format!(
            "imported archive {} into {}: {size} entries, {cps} checkpoints (keys are not in an archive: copy <DIR>/keys/ to write to it)",
            a.archive.display(),
            a.dir.display()
        ));
    }
    let _ = std::io::stderr().flush();
    Ok(Outcome::Ok)
}
