//! `caseledger archive export|import`: the engine-independent archive of a whole ledger.

use super::ledger_ops::open;
use super::{ArchiveExportArgs, ArchiveImportArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_store::{Durability, Ledger, OpenOptions};
use serde_json::json;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;

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
        // 0600 whatever the umask: an archive carries every record's content.
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(crate::io::io_why)?;
        let mut w = BufWriter::new(f);
        let s = ledger
            .export_archive(&mut w, a.with_content_keys)
            .map_err(|e| anyhow!("{e}"))?;
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
            "wrote archive {o}: {}, {}, {}",
            crate::output::count(s.entries, "entry", "entries"),
            crate::output::count(s.payloads, "payload", "payloads"),
            crate::output::count(s.checkpoints, "checkpoint", "checkpoints")
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
            "imported archive {} into {}: {}, {} (no key is in an archive: the same origin finds the same default key directory; give --keys DIR if the keys live elsewhere)",
            a.archive.display(),
            a.dir.display(),
            crate::output::count(size, "entry", "entries"),
            crate::output::count(cps, "checkpoint", "checkpoints")
        ));
    }
    let _ = std::io::stderr().flush();
    Ok(Outcome::Ok)
}
