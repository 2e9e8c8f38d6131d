//! Campaign 1: crash (SIGKILL). A child appends with `Immediate` durability from three
//! threads (group commit) and prints each acknowledged seq and entry hash; the parent
//! kills it with SIGKILL at a seeded random moment, then:
//!
//! * sometimes kills a second child while it reopens (kill during recovery);
//! * reopens the ledger with the store and checks every acknowledged entry is there with
//!   the acknowledged hash (nothing acknowledged is lost or changed);
//! * checks every note in `checkpoints.log` names a size the ledger holds, with the root
//!   the ledger has at that size (the log never names entries that are not durable), and
//!   that after the reopen its newest seal is the head (every commit is sealed in its own
//!   transaction; a kill between sled's flush and the log append is logged at reopen);
//! * verifies the directory with `caseledger_verify`, as an auditor holding the last
//!   checkpoint the child acknowledged: it must be clean.
//!
//! The ledger accumulates across kills; a fresh one is started every `GENERATION` kills
//! so that verification stays quick. Short: 36 kills; full: 1,200.

use crate::harness::{self, child_command};
use caseledger_core::checkpoint::open_checkpoint;
use caseledger_core::event::Entry;
use caseledger_core::{EntryHash, Seq};
use caseledger_store::layout::parse_checkpoints_log;
use caseledger_store::OpenOptions;
use caseledger_testkit::{self as kit, campaign, Cast};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const GENERATION: u64 = 12;

/// What one killed child had acknowledged.
#[derive(Default)]
struct Acks {
    entries: BTreeMap<u64, String>,
    checkpoints: Vec<String>,
    errors: Vec<String>,
}

/// Runs one child in `mode`, kills it with SIGKILL after `delay` (measured from its first
/// acknowledged append, so that every kill lands while it is appending), returns its acks.
fn run_and_kill(mode: &str, dir: &Path, delay: Duration) -> Acks {
    let mut child = child_command(mode, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut acks = Acks::default();
    let take = |line: String, acks: &mut Acks| {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (seq, hash) = rest.split_once(' ').expect("ACK seq hash");
            acks.entries
                .insert(seq.parse().expect("seq"), hash.to_owned());
        } else if let Some(hex) = line.strip_prefix("CKPT ") {
            acks.checkpoints
                .push(String::from_utf8(kit::unhex(hex)).expect("note"));
        } else if let Some(e) = line.strip_prefix("ERR ") {
            acks.errors.push(e.to_owned());
        }
    };
    // Wait for the first ack (the child is appending), then for the delay.
    let start = Instant::now();
    let mut started = false;
    while !started {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                started = line.starts_with("ACK ");
                take(line, &mut acks);
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "child never acknowledged an append; stderr: {}",
                    err_reader.join().unwrap_or_default()
                );
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child too slow to start"
        );
    }
    let until = Instant::now() + delay;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => take(line, &mut acks),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // SIGKILL (std's Child::kill is SIGKILL on Unix).
    let _ = child.kill();
    let status = child.wait().expect("wait");
    // Lines already printed before the kill were acknowledged before it: read them all.
    reader.join().expect("reader");
    while let Ok(line) = rx.try_recv() {
        take(line, &mut acks);
    }
    let stderr = err_reader.join().unwrap_or_default();
    assert!(
        status.code().is_none(),
        "child ended by itself before the kill ({status}); stderr:\n{stderr}"
    );
    assert!(
        acks.errors.is_empty(),
        "child reported errors: {:?}\nstderr:\n{stderr}",
        acks.errors
    );
    acks
}

/// Kills a child while it reopens the ledger (recovery), after `delay`.
fn kill_during_recovery(dir: &Path, delay: Duration) {
    let mut child = child_command("reopen", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn reopen child");
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

/// What the parent checks after each kill: the number of acknowledged entries lost, or
/// what went wrong (the ledger does not reopen, an entry changed, the log names entries
/// the ledger lacks, the verifier is not clean).
fn check_after_kill(
    dir: &Path,
    all_acks: &BTreeMap<u64, String>,
    trusted_checkpoint: Option<&String>,
) -> Result<u64, String> {
    let ledger = kit::open_settled(
        dir,
        kit::Cast::CAMPAIGN.sealing(OpenOptions::default().with_kek(caseledger_testkit::kek())),
    )
    .map_err(|e| format!("the ledger does not reopen: {e:?}"))?;
    let size = ledger.head().size;
    let mut lost = 0;
    for (seq, hash) in all_acks {
        match ledger
            .entry_bytes(Seq(*seq))
            .map_err(|e| format!("reading {seq}: {e}"))?
        {
            Some(b) if Entry::hash_bytes(&b) == EntryHash::from_hex(hash).expect("hash") => {}
            Some(_) => return Err(format!("acknowledged entry {seq} changed after the crash")),
            None => lost += 1,
        }
    }
    // checkpoints.log never names entries that are not durable.
    let log = std::fs::read(dir.join(caseledger_store::layout::CHECKPOINTS_LOG))
        .map_err(|e| format!("reading checkpoints.log: {e}"))?;
    let notes =
        parse_checkpoints_log(&log).map_err(|e| format!("checkpoints.log after a kill: {e}"))?;
    for n in &notes {
        let cp = open_checkpoint(n, &[Cast::CAMPAIGN.verifier()])
            .map_err(|e| format!("a logged checkpoint does not open: {e}"))?
            .checkpoint;
        if cp.size > size {
            return Err(format!(
                "checkpoints.log names size {} but the ledger holds {size}",
                cp.size
            ));
        }
        if ledger
            .root_at(cp.size)
            .map_err(|e| format!("root_at: {e}"))?
            != cp.root
        {
            return Err(format!(
                "logged checkpoint root differs at size {}",
                cp.size
            ));
        }
    }
    // Every commit is sealed in its own transaction; a kill between sled's flush and the
    // log append leaves the seal in sled only, and reopening logs it: the log's newest seal
    // is the head, so no honest crash leaves an unsealed tail.
    let newest_logged = notes
        .iter()
        .filter_map(|n| open_checkpoint(n, &[Cast::CAMPAIGN.verifier()]).ok())
        .map(|c| c.checkpoint.size)
        .max()
        .unwrap_or(0);
    if size > 0 && newest_logged != size {
        return Err(format!(
            "after reopening, checkpoints.log's newest seal is size {newest_logged}, the head {size}"
        ));
    }
    drop(ledger);
    let policy = campaign::policy(trusted_checkpoint.into_iter().cloned().collect());
    let v = kit::verify_dir_settled(dir, &policy).map_err(|e| format!("verify: {e}"))?;
    if !v.is_clean() {
        return Err(format!(
            "the ledger does not verify clean after a kill:\n{}",
            kit::findings_text(&v)
        ));
    }
    if v.size() != size {
        return Err(format!(
            "verifier size {} differs from the store's {size}",
            v.size()
        ));
    }
    Ok(lost)
}

/// Empty or partial snapshot files a killed sled recovery left behind.
fn stale_snapshots(dir: &Path) -> Vec<std::path::PathBuf> {
    kit::files_under(&dir.join("sled"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"))
        })
        .collect()
}

/// Keeps a copy of a ledger that failed a check, for the bug report.
fn keep_evidence(dir: &Path, label: &str) -> std::path::PathBuf {
    let to = std::env::temp_dir().join("caseledger-evidence").join(label);
    let _ = std::fs::remove_dir_all(&to);
    let _ = kit::copy_dir(dir, &to);
    to
}

#[test]
fn crash_kill9_loses_nothing_acknowledged() {
    let kills = harness::count(36, 1200);
    let mut rng = ChaCha8Rng::seed_from_u64(harness::seed(1));
    let root = kit::tempdir("crash");
    let mut dir = root.path().join("gen0");
    let mut all_acks: BTreeMap<u64, String> = BTreeMap::new();
    let mut last_checkpoint: Option<String> = None;
    let (mut lost, mut recovery_kills, mut acked, mut ckpts) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let mut stale_snapshot_incidents: Vec<String> = Vec::new();
    let mut generation_start = 0;
    for k in 0..kills {
        if k - generation_start == GENERATION {
            let _ = std::fs::remove_dir_all(&dir);
            generation_start = k;
        }
        if k == generation_start {
            dir = root.path().join(format!("gen{k}"));
            all_acks.clear();
            last_checkpoint = None;
        }
        let mode = if rng.gen_bool(0.5) {
            "append-checkpoint"
        } else {
            "append"
        };
        // Kill between 0 and 120 ms after the first acknowledged append.
        let delay = Duration::from_micros(rng.gen_range(0..120_000));
        let acks = run_and_kill(mode, &dir, delay);
        acked += acks.entries.len() as u64;
        ckpts += acks.checkpoints.len() as u64;
        all_acks.extend(acks.entries);
        if let Some(c) = acks.checkpoints.last() {
            last_checkpoint = Some(c.clone());
        }
        let recovery_killed = rng.gen_bool(0.3);
        if recovery_killed {
            kill_during_recovery(&dir, Duration::from_micros(rng.gen_range(0..40_000)));
            recovery_kills += 1;
        }
        let mut result = check_after_kill(&dir, &all_acks, last_checkpoint.as_ref());
        // B1 regression guard: a SIGKILL during sled's recovery leaves an empty
        // `sled/snap.*.generating` file that sled 0.34.7 would read as corruption; the store
        // removes it before opening. Should a ledger still not reopen with such a file
        // present, count it (the campaign fails below), keep the evidence, remove the file
        // and check that nothing acknowledged was lost.
        if result
            .as_ref()
            .is_err_and(|e| e.contains("does not reopen"))
            && !stale_snapshots(&dir).is_empty()
        {
            let kept = keep_evidence(&dir, &format!("crash-kill{k}"));
            stale_snapshot_incidents.push(format!(
                "kill {k} ({mode}, then {}): {}; evidence kept in {}",
                if recovery_killed {
                    "a kill during recovery"
                } else {
                    "no kill during recovery"
                },
                result.as_ref().err().map(String::as_str).unwrap_or(""),
                kept.display()
            ));
            for f in stale_snapshots(&dir) {
                let _ = std::fs::remove_file(f);
            }
            result = check_after_kill(&dir, &all_acks, last_checkpoint.as_ref());
        }
        match result {
            Ok(n) => lost += n,
            Err(e) => {
                let kept = keep_evidence(&dir, &format!("crash-kill{k}"));
                failures.push(format!(
                    "kill {k} ({mode}, {} kills into this ledger, then {}): {e}\n  evidence kept in {}",
                    k - generation_start + 1,
                    if recovery_killed { "a kill during recovery" } else { "no kill during recovery" },
                    kept.display()
                ));
                // The ledger is unusable: start a new one.
                generation_start = k + 1;
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    println!(
        "crash campaign: {kills} kills while appending, {recovery_kills} kills during recovery, \
         {acked} acknowledged entries, {ckpts} acknowledged checkpoints, {lost} acknowledged entries lost, \
         0 panics, {} failed checks, {} unopenable after a kill during recovery (stale sled snapshot), {:.1}s",
        failures.len(),
        stale_snapshot_incidents.len(),
        started.elapsed().as_secs_f64()
    );
    // B1 (fixed): the store and the verifier remove sled's unfinished snapshot files before
    // opening, so a kill during recovery must never leave an unopenable ledger again.
    assert!(
        stale_snapshot_incidents.is_empty(),
        "{} kills left a ledger that sled refuses to open (stale snap.*.generating):\n{}",
        stale_snapshot_incidents.len(),
        stale_snapshot_incidents.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} of {kills} kills left a ledger that failed a check:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(lost, 0, "acknowledged entries were lost");
    assert!(
        acked >= kills,
        "the children acknowledged too little to mean anything ({acked})"
    );
}
