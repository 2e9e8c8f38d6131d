//! Building caseledger ledgers for the sections: a fresh ledger to append to, and the
//! verification ledgers made by bulk import (kept and reused with `--keep`).

use crate::floors::{SigSample, F5_SAMPLE};
use crate::plan::verify_workload;
use crate::util::{fail, log, rate, Res};
use caseledger_bench::stats::si;
use caseledger_bench::Workload;
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_store::{Durability, Ledger, OpenOptions, IMPORT_CHUNK};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The store holds the ledger key and seals every commit (`sealed`), or appends unsealed
/// (the "without seals" rows that measure what seals cost).
fn bench_options(d: Durability, w: &Workload, sealed: bool) -> OpenOptions {
    let o = OpenOptions::default()
        .with_durability(d)
        .with_kek(caseledger_bench::bench_kek());
    if sealed {
        o.with_ledger_key(w.ledger_key.clone())
    } else {
        o.with_unsealed(true)
    }
}

/// A ledger with genesis and the licensee's enrolment, sealing every commit or not.
pub fn new_ledger(dir: &Path, w: &Workload, d: Durability, sealed: bool) -> Res<Ledger> {
    let l = Ledger::create_with_genesis(dir, w.genesis()?, bench_options(d, w, sealed))?;
    l.append_batch(vec![(w.enrolment()?, None)])
        .map_err(|e| fail(format!("enrolment: {e:?}")))?;
    Ok(l)
}

pub fn with_payload(v: &[(SignedEvent, Payload)]) -> Vec<(SignedEvent, Option<Payload>)> {
    v.iter()
        .map(|(e, p)| (e.clone(), Some(p.clone())))
        .collect()
}

/// Builds a ledger of `n` clinical events over `n / 100` records by bulk import (chunks
/// signed in parallel, appended with `append_batch` under `Deferred`, one flush; each
/// batch sealed), and keeps up to `F5_SAMPLE` signatures for F5.
/// Returns (import rate, the newest seal: the checkpoint at its head).
fn build_ledger(dir: &Path, n: u64, mut sample: Option<&mut SigSample>) -> Res<(f64, String)> {
    let w = verify_workload(n);
    let l = new_ledger(dir, &w, Durability::Deferred, true)?;
    const GEN: u64 = 16_384;
    let mut busy = Duration::ZERO;
    let mut start = 0;
    while start < n {
        let end = (start + GEN).min(n);
        let events = w.events(start..end)?;
        if let Some(s) = sample.as_deref_mut() {
            for (e, _) in &events {
                if s.msgs.len() >= F5_SAMPLE {
                    break;
                }
                s.push(e)?;
            }
        }
        let t = Instant::now();
        for c in events.chunks(IMPORT_CHUNK) {
            l.append_batch(with_payload(c))
                .map_err(|e| fail(format!("import: {e:?}")))?;
        }
        busy += t.elapsed();
        start = end;
    }
    let t = Instant::now();
    l.flush()?;
    busy += t.elapsed();
    let note = l
        .newest_seal()?
        .map(|(_, n)| n)
        .ok_or_else(|| fail("no seal after the import"))?;
    l.close()?;
    Ok((rate(n, busy), note))
}

/// A verification ledger of `n` events: built in `fresh_dir`, or with `--keep DIR` reused
/// from (or built into) `DIR/ledger-<n>`. Returns (dir, import rate if built, checkpoint).
pub fn ledger_of(
    keep: Option<&Path>,
    fresh_dir: PathBuf,
    n: u64,
    sample: Option<&mut SigSample>,
) -> Res<(PathBuf, Option<f64>, String)> {
    let dir = match keep {
        Some(k) => k.join(format!("ledger-{n}")),
        None => fresh_dir,
    };
    let ready = dir.join("BENCH-READY");
    if let Ok(note) = std::fs::read_to_string(&ready) {
        log(format!(
            "reusing the {}-event ledger in {}",
            si(n as f64),
            dir.display()
        ));
        if let Some(s) = sample {
            let w = verify_workload(n);
            let k = n.min(F5_SAMPLE as u64);
            for (e, _) in &w.events(0..k)? {
                s.push(e)?;
            }
        }
        return Ok((dir, None, note));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    log(format!(
        "building a {}-event ledger by bulk import...",
        si(n as f64)
    ));
    let (rate, note) = build_ledger(&dir, n, sample)?;
    // Private like every file in a ledger directory: the store refuses to open (P6) a
    // ledger with a group- or world-readable file in it.
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&ready)?
            .write_all(note.as_bytes())?;
    }
    Ok((dir, Some(rate), note))
}
