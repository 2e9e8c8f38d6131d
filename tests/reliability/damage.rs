//! Campaign 3: bit flips and damaged files. A base ledger (about 150 entries, three
//! checkpoints) is built once; the auditor keeps its latest checkpoint. Each seed copies
//! it, damages the copy (flip bits, zero a page, truncate or delete a file in `sled/`, or
//! damage `checkpoints.log`), then a child process (under a 4 GiB address-space limit and
//! a time limit) opens it with the store and verifies it holding the auditor's checkpoint.
//!
//! Allowed: a storage error, findings, or a clean verdict whose size and root are the
//! auditor's checkpoint's. Not allowed: a panic or crash of the child, a hang, running out
//! of the memory limit, a clean verdict on another size or root.

use crate::harness::{self, run_child};
use caseledger_store::layout::{CHECKPOINTS_LOG, SLED_DIR};
use caseledger_testkit::{self as kit, campaign};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Builds the base ledger; returns its latest checkpoint note, size and root.
fn build_base(dir: &Path) -> (String, u64, caseledger_core::Hash) {
    let ledger = campaign::create_ledger(dir);
    for r in 0..5 {
        let record = format!("C-{r:04}");
        campaign::open_record(&ledger, &record);
        for i in 0..29 {
            campaign::note(&ledger, &record, i).expect("append");
        }
        if r % 2 == 0 {
            ledger
                .newest_seal()
                .map(|s| s.map(|(_, n)| n).unwrap_or_default())
                .expect("checkpoint");
        }
    }
    let note = ledger
        .newest_seal()
        .map(|s| s.map(|(_, n)| n).unwrap_or_default())
        .expect("checkpoint");
    let (size, root) = (ledger.head().size, ledger.root());
    ledger.close().expect("close");
    (note, size, root)
}

/// One seeded damage; returns a description.
fn damage(dir: &Path, rng: &mut ChaCha8Rng) -> String {
    let sled_files: Vec<PathBuf> = kit::files_under(&dir.join(SLED_DIR));
    let log = dir.join(CHECKPOINTS_LOG);
    if sled_files.is_empty() {
        // An earlier step of a combination deleted every sled file.
        return "nothing left in sled/".to_owned();
    }
    // Most damage goes to the biggest file (sled's data), where the entries are.
    let pick_sled = |rng: &mut ChaCha8Rng| -> PathBuf {
        let biggest = sled_files
            .iter()
            .max_by_key(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
            .cloned();
        if rng.gen_bool(0.7) {
            biggest.expect("sled has files")
        } else {
            sled_files[rng.gen_range(0..sled_files.len())].clone()
        }
    };
    let flip = |p: &Path, n: u32, rng: &mut ChaCha8Rng| -> String {
        let Ok(mut b) = std::fs::read(p) else {
            return format!("{} gone", name(dir, p));
        };
        if b.is_empty() {
            return format!("{} empty", p.display());
        }
        for _ in 0..n {
            let i = rng.gen_range(0..b.len());
            b[i] ^= 1 << rng.gen_range(0..8);
        }
        std::fs::write(p, &b).expect("write");
        format!("flip {n} bits in {}", name(dir, p))
    };
    match rng.gen_range(0..10) {
        0..=2 => {
            let p = pick_sled(rng);
            let n = rng.gen_range(1..=16);
            flip(&p, n, rng)
        }
        3 => {
            let p = pick_sled(rng);
            let Ok(mut b) = std::fs::read(&p) else {
                return format!("{} gone", name(dir, &p));
            };
            let at = rng.gen_range(0..b.len().max(1));
            let end = (at + 4096).min(b.len());
            b[at..end].fill(0);
            std::fs::write(&p, &b).expect("write");
            format!("zero 4 KiB at {at} in {}", name(dir, &p))
        }
        4 => {
            let p = pick_sled(rng);
            let Ok(len) = p.metadata().map(|m| m.len()) else {
                return format!("{} gone", name(dir, &p));
            };
            let to = rng.gen_range(0..=len);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .and_then(|f| f.set_len(to))
                .expect("truncate");
            format!("truncate {} from {len} to {to}", name(dir, &p))
        }
        5 => {
            let p = sled_files[rng.gen_range(0..sled_files.len())].clone();
            let _ = std::fs::remove_file(&p);
            format!("delete {}", name(dir, &p))
        }
        6 => {
            let n = rng.gen_range(1..=8);
            flip(&log, n, rng)
        }
        7 => {
            let Ok(len) = log.metadata().map(|m| m.len()) else {
                return "checkpoints.log gone".to_owned();
            };
            let to = rng.gen_range(0..len.max(1));
            std::fs::OpenOptions::new()
                .write(true)
                .open(&log)
                .and_then(|f| f.set_len(to))
                .expect("truncate");
            format!("truncate checkpoints.log from {len} to {to}")
        }
        8 => {
            let _ = std::fs::remove_file(&log);
            "delete checkpoints.log".to_owned()
        }
        _ => {
            let a = damage(dir, rng);
            let b = damage(dir, rng);
            format!("{a}; {b}")
        }
    }
}

fn name(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

/// The child command under an address-space limit (4 GiB): unbounded memory fails it.
fn limited(dir: &Path, checkpoint: &str) -> Command {
    let c = harness::child_command("damaged", dir);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(c.get_program())
        .args(c.get_args())
        .env("CASELEDGER_CHILD", "damaged")
        .env("CASELEDGER_CHILD_DIR", dir)
        .env(
            "CASELEDGER_CHILD_CHECKPOINT",
            kit::hex(checkpoint.as_bytes()),
        );
    sh
}

#[test]
fn damaged_ledgers_never_panic_hang_or_verify_short() {
    let seeds = harness::count(60, 600);
    let root = kit::tempdir("damage");
    let base = root.path().join("base");
    let (checkpoint, size, cp_root) = build_base(&base);
    let mut rng = ChaCha8Rng::seed_from_u64(harness::seed(3));
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for s in 0..seeds {
        let dir = root.path().join(format!("seed{s}"));
        kit::copy_dir(&base, &dir).expect("copy base");
        let what = damage(&dir, &mut rng);
        if harness::broken("no-auditor-checkpoint") {
            // The deliberately broken variant: no checkpoint held anywhere outside sled.
            let _ = std::fs::remove_file(dir.join(CHECKPOINTS_LOG));
        }
        let run = run_child(limited(&dir, &checkpoint), Duration::from_secs(60));
        let verdict = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("VERDICT "))
            .map(str::to_owned);
        let store = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("STORE "))
            .map(str::to_owned);
        let outcome = if run.timed_out {
            failures.push(format!("seed {s} ({what}): hang (killed after 60 s)"));
            "hang".to_owned()
        } else if run.code != Some(0) || verdict.is_none() {
            let why = run
                .stderr
                .lines()
                .find(|l| l.contains("panicked") || l.contains("memory"))
                .unwrap_or("no verdict");
            failures.push(format!(
                "seed {s} ({what}): child failed (exit {:?}): {why}",
                run.code
            ));
            "panic or crash".to_owned()
        } else {
            let v = verdict.expect("verdict");
            if let Some(rest) = v.strip_prefix("clean ") {
                let f: Vec<&str> = rest.split(' ').collect();
                let ok = f.first() == Some(&size.to_string().as_str())
                    && f.get(1) == Some(&kit::hex(&cp_root.0).as_str());
                if !ok {
                    failures.push(format!(
                        "seed {s} ({what}): clean verdict on another ledger: {v}"
                    ));
                }
                "clean (size and root match the auditor's checkpoint)".to_owned()
            } else if let Some(kinds) = v.strip_prefix("findings ") {
                let first = kinds.split(',').next().unwrap_or("").to_owned();
                format!("findings (first: {first})")
            } else {
                "error (nothing concluded)".to_owned()
            }
        };
        let store_size = store
            .as_deref()
            .and_then(|s| s.strip_prefix("opened size "))
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        let store_kind = match store.as_deref() {
            Some(_) if store_size.is_some_and(|n| n < size) => {
                // Only when checkpoints.log was damaged or deleted too (the store refuses
                // otherwise): the auditor's checkpoint is the evidence left.
                "store opened a ledger shorter than the auditor's checkpoint (its own log damaged too)"
            }
            Some(s) if s.starts_with("opened") => "store opened",
            Some(_) => "store refused",
            None => "store ?",
        };
        *outcomes
            .entry(format!("{outcome}; {store_kind}"))
            .or_default() += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "damage campaign: {seeds} seeds in {:.1}s; outcomes:",
        started.elapsed().as_secs_f64()
    );
    for (o, n) in &outcomes {
        println!("  {n:5}  {o}");
    }
    assert!(
        failures.is_empty(),
        "{} of {seeds} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The campaign must actually damage things: most seeds must not come back clean.
    let clean: u64 = outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("clean"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        clean < seeds,
        "every damaged ledger verified clean: the damage did nothing"
    );
}

/// Regression test for B3 (docs/RELIABILITY.md): when sled recovers a damaged ledger to a
/// shorter state, `Ledger::open` must refuse (`StoreError::Corrupt`) because
/// `checkpoints.log` names a larger size; before the fix it opened, and the next append
/// reused seqs a signed checkpoint already covers, turning bit rot into a forked history.
#[test]
fn store_refuses_a_ledger_shorter_than_its_checkpoint_log() {
    let root = kit::tempdir("damage-short");
    let base = root.path().join("base");
    let (_, size, _) = build_base(&base);
    // Flip bits in sled's data file until sled recovers to a shorter state (seeded).
    let mut rng = ChaCha8Rng::seed_from_u64(harness::seed(33));
    for attempt in 0..200 {
        let dir = root.path().join(format!("try{attempt}"));
        kit::copy_dir(&base, &dir).expect("copy");
        let db = dir.join(SLED_DIR).join("db");
        let mut b = std::fs::read(&db).expect("read");
        let i = rng.gen_range(0..b.len());
        let bit = rng.gen_range(0..8);
        b[i] ^= 1 << bit;
        std::fs::write(&db, &b).expect("write");
        let Ok(ledger) = kit::open_settled(
            &dir,
            kit::Cast::CAMPAIGN.sealing(
                caseledger_store::OpenOptions::default().with_kek(caseledger_testkit::kek()),
            ),
        ) else {
            continue;
        };
        let opened = ledger.head().size;
        if opened >= size {
            continue;
        }
        // Reproduced: the store opened a ledger shorter than its own log names. Show the harm.
        let _ = campaign::open_record(&ledger, "AFTER-ROT");
        drop(ledger);
        let v = kit::verify_dir_settled(&dir, &campaign::policy(vec![])).expect("verify");
        panic!(
            "flipping bit {bit} of byte {i} of sled/db: Ledger::open succeeded with size {opened} < {size} named by checkpoints.log; \
             after one more append the verifier reports:\n{}",
            kit::findings_text(&v)
        );
    }
}

/// Regression test for B4 (docs/RELIABILITY.md): a ledger whose `entries` tree is empty but
/// whose `checkpoints.log` names entries must be a `truncation` finding (exit 1); before the
/// fix it was "nothing to verify" (an error, exit 2), so deleting every entry looked like an
/// I/O problem, not tampering. Seen in the concurrency campaign on directory copies sled
/// recovered to empty.
#[test]
fn an_emptied_ledger_with_checkpoints_is_a_truncation_finding() {
    let root = kit::tempdir("damage-empty");
    let dir = root.path().join("L");
    let (note, _, _) = build_base(&dir);
    {
        let db = kit::tamper::db(&dir);
        let t = db.open_tree("entries").expect("entries");
        t.clear().expect("clear");
        db.flush().expect("flush");
    }
    match kit::verify_dir_settled(&dir, &campaign::policy(vec![note])) {
        Ok(v) => assert!(
            v.findings().iter().any(|f| f.kind == caseledger_verify::FindingKind::Truncation),
            "no truncation finding:\n{}",
            kit::findings_text(&v)
        ),
        Err(e) => panic!("every entry deleted, checkpoints name 153: expected a truncation finding, got the error: {e}"),
    }
}
