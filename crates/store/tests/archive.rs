//! Archive export/import: identical hashes and roots; corrupt archives refused cleanly.
use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
use caseledger_core::checkpoint::{cosign, open_checkpoint};
use caseledger_core::event::{Entry, EventKind};
use caseledger_core::hash::entry_hash;
use caseledger_core::ids::Seq;
use caseledger_core::keys::SigningKey;
use caseledger_core::record::Violation;
use caseledger_store::{Durability, Ledger, OpenOptions, StoreError};
use caseledger_testkit::*;

/// A ledger with payloads, an amendment, a hold, a lawful destruction, two checkpoints
/// (one cosigned).
fn sample(dir: &std::path::Path) -> (Ledger, TestClock) {
    let clock = TestClock::at("2014-03-01");
    let l = Cast::TEST.staffed_on(dir, &clock, Durability::Deferred);
    let (a, b) = (rid("A"), rid("B"));
    for r in [&a, &b] {
        let (e, p) = Cast::TEST.licensee_event(&clock, r, EventKind::RecordOpened, None);
        l.append(e, p).unwrap();
        for i in 0..20 {
            let (e, p) = Cast::TEST.licensee_event(
                &clock,
                r,
                EventKind::ProgressNote,
                Some(format!("note {i}").as_bytes()),
            );
            l.append(e, p).unwrap();
        }
    }
    let first_b = l.record_entries(&b).unwrap()[1];
    let (e, p) = Cast::TEST.licensee_event(
        &clock,
        &b,
        EventKind::Amendment { amends: first_b },
        Some(b"correction"),
    );
    l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.custodian_event(
        &clock,
        &b,
        EventKind::HoldPlaced {
            matter: text("M-1"),
        },
    );
    l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.licensee_event(
        &clock,
        &a,
        EventKind::ServiceTerminated {
            terminated_on: clock.today(),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        None,
    );
    l.append(e, p).unwrap();
    let s = Cast::TEST.signer();
    let n1 = l.newest_seal().unwrap().unwrap().1;
    let cp = open_checkpoint(&n1, &[s.verifier()]).unwrap().checkpoint;
    let line = cosign(
        &cp,
        "witness.example/w1",
        &SigningKey::from_seed(&[50; 32]),
        1_700_000_000,
    )
    .unwrap();
    l.add_cosignature(
        cp.size,
        &caseledger_core::checkpoint::append_cosignature(&n1, &line).unwrap(),
    )
    .unwrap();
    clock.set_day("2019-03-02");
    let (e, p) = Cast::TEST.custodian_event(
        &clock,
        &a,
        EventKind::Destruction {
            reason: text("retention policy"),
            citation: None,
        },
    );
    l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.licensee_event(&clock, &b, EventKind::Contact, Some(b"after"));
    l.append(e, p).unwrap();
    (l, clock)
}

fn export(l: &Ledger) -> Vec<u8> {
    let mut v = Vec::new();
    l.export_archive(&mut v, true).unwrap();
    v
}

/// Rewrites an archive item by item.
fn rewrite(archive: &[u8], mut f: impl FnMut(ArchiveItem) -> Vec<ArchiveItem>) -> Vec<u8> {
    let r = ArchiveReader::new(archive).unwrap();
    let mut w = ArchiveWriter::new(Vec::new(), r.origin()).unwrap();
    for item in r {
        for it in f(item.unwrap()) {
            match it {
                ArchiveItem::Entry(b) => w.entry(&b).unwrap(),
                ArchiveItem::Payload { seq, stored } => w.payload(seq, &stored).unwrap(),
                ArchiveItem::Checkpoint(n) => w.checkpoint(&n).unwrap(),
                ArchiveItem::ContentKey { slot, bytes } => w.content_key(slot, &bytes).unwrap(),
            }
        }
    }
    w.finish().unwrap()
}

#[test]
fn round_trip_gives_identical_hashes_roots_payloads_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (l, clock) = sample(&dir.path().join("a"));
    let bytes = export(&l);
    let dest = dir.path().join("b");
    // The importing process holds the ledger key (to append afterwards); import signs nothing.
    let m = Ledger::import_archive(
        &dest,
        bytes.as_slice(),
        Cast::TEST.sealing(clock.options(Durability::Immediate)),
    )
    .unwrap();
    assert_eq!(m.head(), l.head());
    assert_eq!(m.root(), l.root());
    assert_eq!(all_entry_bytes(&m), all_entry_bytes(&l));
    let n = l.head().size;
    for size in 0..=n {
        assert_eq!(m.root_at(size).unwrap(), l.root_at(size).unwrap());
    }
    for s in 0..n {
        assert_eq!(m.payload(Seq(s)).unwrap(), l.payload(Seq(s)).unwrap());
    }
    assert_eq!(m.checkpoints().unwrap(), l.checkpoints().unwrap());
    assert_eq!(m.registry(), l.registry());
    for r in ["A", "B"] {
        assert_eq!(
            m.record_state(&rid(r)).unwrap(),
            l.record_state(&rid(r)).unwrap()
        );
        assert_eq!(
            m.record_entries(&rid(r)).unwrap(),
            l.record_entries(&rid(r)).unwrap()
        );
    }
    // The archive of the import is the same file.
    assert_eq!(export(&m), bytes);
    // The imported ledger's log holds the archive's checkpoints and no seal of its own.
    let log = std::fs::read(dest.join("checkpoints.log")).unwrap();
    let notes = caseledger_store::layout::parse_checkpoints_log(&log).unwrap();
    let archived: Vec<String> = l
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(notes, archived);
    assert_eq!(notes.len(), 2);
    // It is a working ledger: appends continue, replays are still refused.
    let (e, p) = Cast::TEST.licensee_event(&clock, &rid("B"), EventKind::Contact, None);
    assert_eq!(m.append(e, p).unwrap().seq, Seq(n));
    let replay = l.entry(Seq(n - 1)).unwrap().unwrap().event;
    let payload = l.payload(Seq(n - 1)).unwrap();
    assert!(matches!(
        m.append(replay, payload),
        Err(StoreError::Refused(Violation::Replay { .. }))
    ));
    drop(m);
    assert_eq!(
        Ledger::open(&dest, OpenOptions::default())
            .unwrap()
            .head()
            .size,
        n + 1
    );
}

fn refused_import(dir: &std::path::Path, archive: &[u8]) -> StoreError {
    let dest = dir.join("bad");
    let err = Ledger::import_archive(&dest, archive, OpenOptions::default()).unwrap_err();
    assert!(!dest.exists(), "a refused import left {dest:?} behind");
    err
}

#[test]
fn corrupt_archives_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = sample(&dir.path().join("a"));
    let good = export(&l);
    // Truncated.
    let e = refused_import(dir.path(), &good[..good.len() - 10]);
    assert!(matches!(e, StoreError::Archive(_)), "{e:?}");
    // A flipped byte (caught by the digest).
    let mut flipped = good.clone();
    flipped[200] ^= 1;
    refused_import(dir.path(), &flipped);
    // A falsified payload (digest recomputed): it no longer matches its entry's content seal.
    let mut target = None;
    let bad = rewrite(&good, |it| match it {
        ArchiveItem::Payload { seq, mut stored } if target.is_none() => {
            target = Some(seq);
            *stored.last_mut().unwrap() ^= 1;
            vec![ArchiveItem::Payload { seq, stored }]
        }
        it => vec![it],
    });
    let e = refused_import(dir.path(), &bad);
    assert!(
        matches!(&e, StoreError::ArchiveEntry { seq, error } if Some(*seq) == target && error.to_string().contains("content seal")),
        "{e:?}"
    );
    // A payload dropped from a record that was not destroyed.
    let mut dropped = false;
    let bad = rewrite(&good, |it| match it {
        ArchiveItem::Payload { seq, .. }
            if !dropped && l.entry(seq).unwrap().unwrap().event.event.record == Some(rid("B")) =>
        {
            dropped = true;
            vec![]
        }
        it => vec![it],
    });
    let e = refused_import(dir.path(), &bad);
    assert!(
        matches!(&e, StoreError::Archive(m) if m.contains("missing")),
        "{e:?}"
    );
    // An entry removed: the chain breaks at that seq.
    let mut i = 0;
    let bad = rewrite(&good, |it| match it {
        ArchiveItem::Entry(_)
            if {
                i += 1;
                i == 6
            } =>
        {
            vec![]
        }
        ArchiveItem::Payload { seq: Seq(5), .. } => vec![],
        it => vec![it],
    });
    let e = refused_import(dir.path(), &bad);
    assert!(
        matches!(&e, StoreError::ArchiveEntry { seq: Seq(5), .. }),
        "{e:?}"
    );
    // A checkpoint naming another root.
    let bad = rewrite(&good, |it| match it {
        ArchiveItem::Checkpoint(n) => {
            let s = Cast::TEST.signer();
            let mut cp = open_checkpoint(&n, &[s.verifier()]).unwrap().checkpoint;
            cp.root.0[0] ^= 1;
            vec![ArchiveItem::Checkpoint(
                caseledger_core::checkpoint::sign_checkpoint(&cp, &s),
            )]
        }
        it => vec![it],
    });
    let e = refused_import(dir.path(), &bad);
    assert!(
        matches!(&e, StoreError::Archive(m) if m.contains("root")),
        "{e:?}"
    );
    // Into a non-empty directory.
    let e = Ledger::import_archive(
        dir.path().join("a"),
        good.as_slice(),
        OpenOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, StoreError::AlreadyExists { .. }));
}

#[test]
fn recorded_at_regression_in_an_archive_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = sample(&dir.path().join("a"));
    let good = export(&l);
    // Move entry 10's recorded_at before entry 9's and re-chain everything after it.
    let mut prev = None;
    let bad = rewrite(&good, |it| match it {
        ArchiveItem::Entry(b) => {
            let mut e = Entry::from_bytes(&b).unwrap();
            if let Some(p) = prev {
                e.prev = p;
            }
            if e.seq == Seq(10) {
                e.recorded_at.0 -= 3_600_000_000;
            }
            let nb = e.to_bytes().unwrap();
            prev = Some(entry_hash(&nb));
            vec![ArchiveItem::Entry(nb)]
        }
        ArchiveItem::Checkpoint(_) => vec![],
        it => vec![it],
    });
    let e = refused_import(dir.path(), &bad);
    assert!(
        matches!(&e, StoreError::ArchiveEntry { seq: Seq(10), error } if matches!(**error, StoreError::Refused(Violation::RecordedAtRegressed { .. }))),
        "{e:?}"
    );
}

/// An archive of format 3 entries (the format before attested destruction) is refused by
/// the entries' version, the message naming it, and leaves nothing behind.
#[test]
fn an_archive_of_format_3_entries_is_refused_by_version() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = sample(&dir.path().join("a"));
    let good = export(&l);
    let old = rewrite(&good, |it| match it {
        ArchiveItem::Entry(mut b) => {
            b[..2].copy_from_slice(&3u16.to_le_bytes());
            vec![ArchiveItem::Entry(b)]
        }
        other => vec![other],
    });
    let e = refused_import(dir.path(), &old);
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain.push_str(" / ");
        chain.push_str(&s.to_string());
        src = s.source();
    }
    assert!(
        chain.contains("this entry is format 3; this build reads format 4 only"),
        "{chain}"
    );
}
