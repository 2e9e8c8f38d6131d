//! `caseledger snapshot --ledger L DIR`: a consistent copy of a ledger, for evidence.
//!
//! A raw copy (`cp -r`) of a ledger taken while it is written can catch sled mid-write;
//! `verify` then says "inconsistent copy" and concludes nothing. This command copies the
//! files while holding the ledger's shared lock and sled's lock on `sled/db`, so no writer
//! runs meanwhile: the copy is one moment's state, byte for byte (damage and tampering
//! included: the ledger is not opened by the store, which would refuse a damaged one), with
//! a manifest marking it as a snapshot. Appends by other processes wait for the copy (up to
//! the store's lock wait, then they are refused as "in use"); the time the lock was held is
//! printed. A ledger held open by a process (a record system embedding the store) is
//! snapshotted through that process (`Ledger::snapshot`).

use super::SnapshotArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_sledio::OpenError;
use serde_json::json;

/// `caseledger snapshot`.
pub(crate) fn run(a: SnapshotArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    crate::io::check_ledger_dir(dir)?;
    let to = a.dir.display();
    let taken = caseledger_sledio::snapshot::copy_at_rest(dir, &a.dir).map_err(|e| match e {
        OpenError::InUse => anyhow!(
            "ledger {}: a process holds it open for writing (a record system or a long \
             command); take the snapshot through that process (Ledger::snapshot), or when it \
             is idle",
            dir.display()
        ),
        OpenError::Io { path, source } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow!(
                "snapshot {}: not empty; give a new or empty directory",
                path.display()
            )
        }
        OpenError::Io { path, source } => anyhow!(
            "snapshot {to}: {}: {}",
            path.display(),
            crate::io::io_why(source)
        ),
        other => anyhow!("snapshot {to}: {other}"),
    })?;
    let ms = taken.blocked.as_secs_f64() * 1000.0;
    if out.json {
        out.json_data(&json!({
            "snapshot": to.to_string(),
            "bytes": taken.bytes,
            "ledger_locked_ms": (ms * 10.0).round() / 10.0,
        }))?;
    } else {
        out.say(format!(
            "wrote snapshot {to} ({} bytes; the ledger was locked for {ms:.1} ms); verify it \
             with `caseledger verify --ledger {to}`",
            taken.bytes
        ));
    }
    Ok(Outcome::Ok)
}
