//! `caseledger snapshot` takes consistent evidence while appends run; a raw copy whose sled
//! files are from different moments is an "inconsistent copy" (exit 2, no finding); a
//! tampered copy with intact sled files, raw or snapshot, is still a finding.

use caseledger_testkit::cli::{ok, stderr, stdout, Fixture};
use caseledger_testkit::files_under;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const INCONSISTENT: &str = "inconsistent copy: take a snapshot with `caseledger snapshot`";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// `verify --json` of `dir` (relative to the fixture): exit code and size.
fn verify_json(f: &Fixture, dir: &str) -> (Option<i32>, serde_json::Value, String) {
    let o = f.run(&["--json", "verify", "--ledger", dir]);
    let v = serde_json::from_str(&stdout(&o)).unwrap_or(serde_json::Value::Null);
    (o.status.code(), v, stderr(&o))
}

#[test]
fn snapshots_taken_while_appends_run_verify_clean() {
    let f = Fixture::small();
    let before = f.size();
    let appends = 12;
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut taken = Vec::new();
    let mut waits = 0;
    std::thread::scope(|s| {
        let appender = s.spawn(|| {
            let mut retried = 0;
            for _ in 0..appends {
                loop {
                    let o = f.append(
                        "lic-1",
                        "C-OPEN",
                        "progress_note",
                        "2025-05-03",
                        Some("note.txt"),
                    );
                    if o.status.success() {
                        break;
                    }
                    // The snapshot holds the lock for milliseconds; a loaded machine may
                    // stretch that past the store's wait: that is a retry, not a failure.
                    assert!(stderr(&o).contains("in use"), "{}", stderr(&o));
                    retried += 1;
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            retried
        });
        let mut n = 0;
        // Snapshots while the appender runs, and one after it.
        loop {
            let finished = done.load(std::sync::atomic::Ordering::Relaxed);
            let name = format!("S{n}");
            n += 1;
            let o = f.run(&["snapshot", "--ledger", "L", &name]);
            if o.status.success() {
                assert!(
                    stderr(&o).contains("the ledger was locked for"),
                    "{}",
                    stderr(&o)
                );
                taken.push(name);
            } else {
                assert!(stderr(&o).contains("holds it open"), "{}", stderr(&o));
                assert!(!f.path(&name).exists(), "a refused snapshot left {name}");
                waits += 1;
            }
            if finished && taken.len() > 1 {
                break;
            }
        }
        let retried = appender.join().expect("appender");
        eprintln!(
            "{} snapshots, {waits} refused while an append ran; {retried} appends retried",
            taken.len()
        );
    });
    let after = f.size();
    assert_eq!(after, before + appends);
    for name in &taken {
        let dir = f.path(name);
        assert_eq!(mode(&dir), 0o700, "{name}");
        for file in files_under(&dir) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        let (code, v, err) = verify_json(&f, name);
        assert_eq!(code, Some(0), "{name}: {err}");
        assert_eq!(
            v["findings"].as_array().map(Vec::len),
            Some(0),
            "{name}: {v}"
        );
        let size = v["size"].as_u64().expect("size");
        assert!((before..=after).contains(&size), "{name}: size {size}");
    }
    // The last one was taken after every append.
    let (_, v, _) = verify_json(&f, taken.last().expect("a snapshot"));
    assert_eq!(v["size"].as_u64(), Some(after));
}

/// A raw copy whose `sled/db` was read before, and whose snapshot file after, more appends:
/// what `cp -r` gives when a writer opens the ledger between the two files.
fn copy_from_two_moments(f: &Fixture, to: &str) {
    let l = f.ledger();
    let c = f.path(to);
    std::fs::create_dir_all(c.join("sled")).expect("mkdir");
    for file in ["db", "conf"] {
        std::fs::copy(l.join("sled").join(file), c.join("sled").join(file)).expect("copy");
    }
    for i in 0..3 {
        ok(&f.append(
            "lic-1",
            "C-OPEN",
            "progress_note",
            &format!("2025-05-1{i}"),
            Some("note.txt"),
        ));
    }
    ok(&f.run(&["checkpoint", "--ledger", "L"]));
    // Any open recovers the log and writes sled's new snapshot file.
    ok(&f.run(&["verify", "--ledger", "L"]));
    for item in std::fs::read_dir(l.join("sled")).expect("ls") {
        let item = item.expect("entry");
        if item.file_name().to_string_lossy().starts_with("snap.") {
            std::fs::copy(item.path(), c.join("sled").join(item.file_name())).expect("copy");
        }
    }
    for file in ["checkpoints.log", "lock"] {
        std::fs::copy(l.join(file), c.join(file)).expect("copy");
    }
}

#[test]
fn a_copy_taken_mid_write_is_an_inconsistent_copy_not_a_finding() {
    let f = Fixture::small();
    copy_from_two_moments(&f, "C");
    let files_before: Vec<_> = files_under(&f.path("C"))
        .into_iter()
        .map(|p| (std::fs::read(&p).expect("read"), p))
        .collect();
    for _ in 0..2 {
        let o = f.run(&["verify", "--ledger", "C"]);
        assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains(INCONSISTENT), "{}", stderr(&o));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for word in [
            "finding",
            "truncation",
            "every entry was deleted",
            "Uninitialized",
        ] {
            assert!(!all.contains(word), "{all}");
        }
    }
    // Refused before sled opened it: the evidence is unchanged.
    for (bytes, p) in files_before {
        assert_eq!(
            std::fs::read(&p).expect("read"),
            bytes,
            "{} changed",
            p.display()
        );
    }
    // The same ledger through a snapshot verifies.
    ok(&f.run(&["snapshot", "--ledger", "L", "S"]));
    ok(&f.run(&["verify", "--ledger", "S"]));
}

#[test]
fn a_copy_whose_db_was_cut_short_mid_write_is_an_inconsistent_copy() {
    let f = Fixture::small();
    // sled's snapshot file is written at open; the copy of `db` stops inside the log.
    ok(&f.run(&["verify", "--ledger", "L"]));
    caseledger_testkit::copy_dir(&f.ledger(), &f.path("C")).expect("copy");
    let db = f.path("C").join("sled/db");
    let bytes = std::fs::read(&db).expect("read");
    std::fs::write(&db, &bytes[..100]).expect("cut");
    let o = f.run(&["verify", "--ledger", "C"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains(INCONSISTENT), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("snapshot file indexes the log"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tampering_with_an_intact_copy_or_snapshot_is_still_a_finding() {
    let f = Fixture::small();
    let size = f.size();
    ok(&f.run(&["snapshot", "--ledger", "L", "S"]));
    caseledger_testkit::copy_dir(&f.ledger(), &f.path("C")).expect("copy");
    for dir in ["C", "S"] {
        // The last entry removed through sled (its files stay intact); the log still
        // names it.
        {
            let db = caseledger_testkit::tamper::db(&f.path(dir));
            let entries = db.open_tree("entries").expect("tree");
            entries.remove((size - 1).to_be_bytes()).expect("remove");
            db.flush().expect("flush");
        }
        let o = f.run(&["verify", "--ledger", dir]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{dir}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).contains("finding: truncation"),
            "{dir}: {}",
            stdout(&o)
        );
        assert!(
            !stderr(&o).contains("inconsistent copy"),
            "{dir}: {}",
            stderr(&o)
        );
    }
}
