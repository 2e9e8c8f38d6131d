//! Storage damage is a finding, not an error; read-only evidence is verified through a
//! private copy and never written.

use caseledger_testkit::practice::*;
use caseledger_testkit::{files_under, Cast};
use caseledger_verify::{verify, FindingKind as K, LedgerSource, OpenMode, SledSource};
use std::path::Path;

/// Every file's (path, len, mtime, bytes) under `dir`.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime, Vec<u8>)> {
    let mut files = files_under(dir);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).unwrap();
            (
                f.clone(),
                m.len(),
                m.modified().unwrap(),
                std::fs::read(&f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_database_sled_reports_corrupted_is_a_storage_damaged_finding() {
    let fx = fixture();
    // One open writes sled's snapshot, which indexes the log; zeroing bytes the snapshot
    // points into makes sled report corruption on open (seen in the damage campaign).
    drop(SledSource::open(fx.path()).unwrap());
    let db = fx.path().join("sled/db");
    let mut b = std::fs::read(&db).unwrap();
    b[21..25].fill(0);
    std::fs::write(&db, &b).unwrap();
    let src = SledSource::open(fx.path()).expect("corruption is no open error");
    let v = verify(&src, &Cast::PRACTICE.policy(vec![]), &|_| {}).expect("a verdict");
    let damaged: Vec<_> = v
        .findings()
        .iter()
        .filter(|f| f.kind == K::StorageDamaged)
        .collect();
    assert_eq!(damaged.len(), 1, "{:?}", v.findings());
    assert!(!v.is_clean());
    // Entries that could not be read are not called deleted: no `truncation`, and the
    // checkpoints naming them are cited on the damage finding.
    assert!(
        v.findings().iter().all(|f| f.kind != K::Truncation),
        "{:?}",
        v.findings()
    );
    assert!(
        damaged[0].evidence.message.contains("checkpoints name"),
        "{}",
        damaged[0]
    );
    assert!(!damaged[0].evidence.checkpoints.is_empty());
    let shown = format!("{} {:?}", damaged[0], damaged[0]);
    for sled_text in ["offset", "backtrace", "Inline"] {
        assert!(!shown.contains(sled_text), "{shown}");
    }
    assert!(src.storage_damage().is_some_and(|d| d.tree.is_none()));
}

#[test]
fn read_only_evidence_is_verified_through_a_copy_and_never_written() {
    let fx = fixture();
    let before = snapshot(fx.path());
    let src = SledSource::open_with(fx.path(), OpenMode::Copy).unwrap();
    assert!(src.is_copy());
    let v = verify(&src, &Cast::PRACTICE.policy(vec![]), &|_| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.size(), fx.size);
    drop(src);
    assert_eq!(
        snapshot(fx.path()),
        before,
        "the evidence directory was written"
    );
    // In place, sled writes (a snapshot at least): what the copy avoids.
    drop(SledSource::open(fx.path()).unwrap());
    assert_ne!(
        snapshot(fx.path()),
        before,
        "sled no longer writes on open: the copy buys nothing"
    );
}
