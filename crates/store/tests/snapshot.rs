//! `Ledger::snapshot`: a consistent copy of the open ledger, usable as evidence and as a
//! ledger; refused into a non-empty directory without leaving anything.
use caseledger_core::event::EventKind;
use caseledger_store::{Durability, Ledger, StoreError};
use caseledger_testkit::*;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_snapshot_is_the_ledger_at_that_moment_private_and_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let clock = TestClock::at("2024-01-10");
    let r = rid("C-1");
    let l = Cast::TEST.staffed_on(&path, &clock, Durability::Immediate);
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, Some(b"n"));
    l.append(e, p).unwrap();
    let checkpoint = l.newest_seal().unwrap().unwrap().1;
    let (head, root) = (l.head(), l.root());

    let snap = dir.path().join("snap");
    let taken = l.snapshot(&snap).unwrap();
    assert_eq!(taken.size, head.size);
    assert!(taken.keys > head.size, "every tree is copied: {taken:?}");
    // Appends after the snapshot do not reach it.
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None);
    l.append(e, p).unwrap();

    assert_eq!(mode(&snap), 0o700);
    for f in files_under(&snap) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert!(caseledger_sledio::snapshot::is_snapshot(&snap));
    let v = verify_dir(&snap, &Cast::TEST.policy(vec![checkpoint])).unwrap();
    assert!(v.is_clean(), "{}", findings_text(&v));
    assert_eq!((v.size(), v.root()), (head.size, root));
    // It opens as a ledger too.
    let s = Ledger::open(&snap, clock.options(Durability::Immediate)).unwrap();
    assert_eq!((s.head(), s.root()), (head, root));
    // The key store came with it: the note's payload opens with the practice's KEK.
    assert_eq!(
        s.payload(caseledger_core::Seq(head.size - 1))
            .unwrap()
            .map(|p| p.content().to_vec()),
        Some(b"n".to_vec())
    );
    drop(s);

    // Not into a directory that holds something; what was there stays.
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("x"), b"x").unwrap();
    assert!(l.snapshot(&busy).is_err());
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    // Nor over a snapshot.
    assert!(matches!(l.snapshot(&snap), Err(StoreError::Io { .. })));
    assert!(caseledger_sledio::snapshot::is_snapshot(&snap));
}
