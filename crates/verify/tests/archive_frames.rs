//! Archive frames, tampered with in the real exported file: the verifier holds every payload
//! frame to the rule `archive import` enforces (one frame, right after its entry's frame),
//! so an archive that import refuses never verifies clean. One table: each scenario edits
//! the frames of the practice ledger's archive and rewrites the file with a fresh end frame
//! (counts and digest are unkeyed: an insider recomputes them), then both the verifier and
//! `Ledger::import_archive` judge it.
#![expect(
    clippy::cast_possible_truncation,
    reason = "test ledgers hold a few dozen entries: their seqs fit every integer type"
)]

use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
use caseledger_core::Seq;
use caseledger_store::{Ledger, OpenOptions};
use caseledger_testkit::practice::*;
use caseledger_testkit::Cast;
use caseledger_verify::{verify, ArchiveSource, FindingKind as K, Verified};
use std::path::{Path, PathBuf};

/// Seqs of the practice ledger (see `caseledger_testkit::practice` and tests/tamper.rs).
const A_NOTE: u64 = 10;
const B_NOTE1: u64 = 15;
/// The first entry of a record never destroyed that commits to no payload.
const UNCOMMITTED: u64 = 14;

/// The archive as an insider edits it: its header origin and its items in file order.
struct Frames {
    origin: String,
    items: Vec<ArchiveItem>,
    /// The destroyed record's stored payloads from a backup taken before the destruction.
    kept: std::collections::HashMap<u64, Vec<u8>>,
}

impl Frames {
    /// The position of the entry frame of `seq`.
    fn entry_at(&self, seq: u64) -> usize {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, it)| matches!(it, ArchiveItem::Entry(_)))
            .nth(seq as usize)
            .unwrap()
            .0
    }
    /// The position after the last entry frame (and its payload frame, if any).
    fn after_entries(&self) -> usize {
        self.items
            .iter()
            .position(|it| matches!(it, ArchiveItem::Checkpoint(_)))
            .unwrap()
    }
    /// Removes and returns the payload frame of `seq`.
    fn take_payload(&mut self, seq: u64) -> ArchiveItem {
        let i = self
            .items
            .iter()
            .position(|it| matches!(it, ArchiveItem::Payload { seq: s, .. } if s.0 == seq))
            .unwrap();
        self.items.remove(i)
    }
    /// A clone of the payload frame of `seq`.
    fn payload(&self, seq: u64) -> ArchiveItem {
        self.items
            .iter()
            .find(|it| matches!(it, ArchiveItem::Payload { seq: s, .. } if s.0 == seq))
            .unwrap()
            .clone()
    }
}

/// A made-up stored payload frame (any bytes long enough to be a ciphertext).
fn payload_frame(seq: u64, content: &[u8]) -> ArchiveItem {
    let mut stored = content.to_vec();
    stored.resize(64, 0);
    ArchiveItem::Payload {
        seq: Seq(seq),
        stored,
    }
}

impl Frames {
    /// The genuine stored payload of `seq` of the destroyed record, kept from an old backup.
    fn kept_frame(&self, seq: u64) -> ArchiveItem {
        ArchiveItem::Payload {
            seq: Seq(seq),
            stored: self.kept[&seq].clone(),
        }
    }
}

/// The first entry of a record never destroyed (not `C-A`) that commits to no payload.
fn uncommitted_record_entry() -> u64 {
    let (evs, _) = practice_events();
    evs.iter()
        .position(|(e, p, _)| {
            e.event.record.as_ref().is_some_and(|r| r.as_str() != "C-A") && p.is_none()
        })
        .unwrap() as u64
}

fn export(fx: &Fixture) -> PathBuf {
    let path = fx.dir.path().join("ledger.archive");
    let ledger = Ledger::open(
        fx.path(),
        OpenOptions::default().with_kek(caseledger_testkit::kek()),
    )
    .unwrap();
    ledger
        .export_archive(std::fs::File::create(&path).unwrap(), true)
        .unwrap();
    ledger.close().unwrap();
    path
}

fn read(path: &Path) -> Frames {
    let r = ArchiveReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let origin = r.origin().to_owned();
    let items = r.collect::<Result<Vec<_>, _>>().unwrap();
    Frames {
        origin,
        items,
        kept: Default::default(),
    }
}

fn write(path: &Path, f: &Frames) {
    let mut w = ArchiveWriter::new(Vec::new(), &f.origin).unwrap();
    for it in &f.items {
        match it {
            ArchiveItem::Entry(b) => w.entry(b).unwrap(),
            ArchiveItem::Payload { seq, stored } => w.payload(*seq, stored).unwrap(),
            ArchiveItem::Checkpoint(n) => w.checkpoint(n).unwrap(),
            ArchiveItem::ContentKey { slot, bytes } => w.content_key(*slot, bytes).unwrap(),
        }
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}

type Edit = fn(&mut Frames);
/// `(kind, seq)`: a finding the verifier must report (seq `None`: ledger-wide).
type Expect = &'static [(K, Option<u64>)];

#[rustfmt::skip]
const SCENARIOS: &[(&str, Edit, Expect)] = &[
    // Re-written unchanged: clean, and import accepts it.
    ("clean_rewritten", |_| {}, &[]),
    // A second, falsified payload frame right after the genuine one.
    ("extra_falsified_payload_frame", |f| {
        let at = f.entry_at(B_NOTE1) + 2;
        f.items.insert(at, payload_frame(B_NOTE1, b"falsified"));
    }, &[(K::StrayPayload, Some(B_NOTE1))]),
    // The same frame twice.
    ("duplicate_payload_frame", |f| {
        let at = f.entry_at(B_NOTE1) + 2;
        let p = f.payload(B_NOTE1);
        f.items.insert(at, p);
    }, &[(K::StrayPayload, Some(B_NOTE1))]),
    // The destroyed record's note, kept from an old backup, appended after the last entry.
    ("destroyed_payload_after_last_entry", |f| {
        let at = f.after_entries();
        let p = f.kept_frame(A_NOTE);
        f.items.insert(at, p);
    }, &[(K::PayloadAfterDestruction, Some(A_NOTE))]),
    // ... or after the checkpoints.
    ("destroyed_payload_after_checkpoints", |f| {
        let p = f.kept_frame(A_NOTE);
        f.items.push(p);
    }, &[(K::PayloadAfterDestruction, Some(A_NOTE))]),
    // ... or right after its own entry frame (the frame's place is right: the content is not).
    ("destroyed_payload_in_place", |f| {
        let at = f.entry_at(A_NOTE) + 1;
        let p = f.kept_frame(A_NOTE);
        f.items.insert(at, p);
    }, &[(K::PayloadAfterDestruction, Some(A_NOTE))]),
    // A payload frame for an entry that commits to none, after the last entry.
    ("payload_for_uncommitted_entry_after_last_entry", |f| {
        let at = f.after_entries();
        f.items.insert(at, payload_frame(uncommitted_record_entry(), b"x"));
    }, &[(K::UnexpectedPayload, Some(UNCOMMITTED))]),
    // ... and right after it.
    ("payload_for_uncommitted_entry_in_place", |f| {
        let s = uncommitted_record_entry();
        let at = f.entry_at(s) + 1;
        f.items.insert(at, payload_frame(s, b"x"));
    }, &[(K::UnexpectedPayload, Some(UNCOMMITTED))]),
    // A genuine payload frame moved after the next entry's frame: out of order.
    ("payload_frame_out_of_order", |f| {
        let p = f.take_payload(B_NOTE1);
        let at = f.entry_at(B_NOTE1 + 1) + 1;
        f.items.insert(at, p);
    }, &[(K::StrayPayload, Some(B_NOTE1)), (K::PayloadMissing, Some(B_NOTE1))]),
    // ... or before its own entry's frame.
    ("payload_frame_before_its_entry", |f| {
        let p = f.take_payload(B_NOTE1);
        let at = f.entry_at(B_NOTE1);
        f.items.insert(at, p);
    }, &[(K::StrayPayload, Some(B_NOTE1)), (K::PayloadMissing, Some(B_NOTE1))]),
    // A payload frame for a seq the archive holds no entry at.
    ("payload_frame_for_no_entry", |f| {
        let at = f.after_entries();
        f.items.insert(at, payload_frame(1000, b"x"));
    }, &[(K::StrayPayload, Some(1000))]),
    // A header naming another origin than genesis.
    ("header_names_another_origin", |f| { f.origin = "other.example/ledger".into(); }, &[(K::ArchiveOriginMismatch, None)]),
];

fn show(v: &Verified) -> String {
    v.findings()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The archive at `path` verified as the practice's auditor would.
fn verify_archive(path: &Path) -> Verified {
    verify(
        &ArchiveSource::open(path).unwrap(),
        &Cast::PRACTICE.policy(vec![]),
        &|_| {},
    )
    .unwrap()
}

#[test]
fn archive_frame_suite() {
    assert_eq!(uncommitted_record_entry(), UNCOMMITTED);
    let mut failures = Vec::new();
    for (name, edit, expect) in SCENARIOS {
        let fx = fixture();
        let path = export(&fx);
        let mut frames = read(&path);
        frames.kept = fx.kept.clone();
        edit(&mut frames);
        write(&path, &frames);
        let v = verify_archive(&path);
        let got: Vec<(K, Option<u64>)> = v.findings().iter().map(|f| (f.kind, f.seq)).collect();
        let imported = Ledger::import_archive(
            fx.dir.path().join("imported"),
            std::fs::File::open(&path).unwrap(),
            OpenOptions::default().with_kek(caseledger_testkit::kek()),
        );
        if expect.is_empty() {
            if !v.is_clean() {
                failures.push(format!(
                    "{name}: expected no findings, got:\n  {}",
                    show(&v)
                ));
            }
            if let Err(e) = imported {
                failures.push(format!("{name}: import refused a clean archive: {e}"));
            }
            continue;
        }
        for e in *expect {
            if !got.contains(e) {
                failures.push(format!("{name}: missing {e:?}; got:\n  {}", show(&v)));
            }
        }
        // Findings name seqs and records, never content.
        for f in v.findings() {
            let shown = format!("{f} {f:?}");
            if shown.contains("falsified") || shown.contains("note") && shown.contains("Client") {
                failures.push(format!("{name}: a finding shows payload content: {shown}"));
            }
        }
        // The verifier is at least as strict as import: except where import drops destroyed
        // content on the way in (it deletes a destroyed record's payloads, as the store
        // does), what import refuses the verifier reports.
        if *name != "destroyed_payload_in_place" && imported.is_ok() {
            failures.push(format!("{name}: import accepted the archive"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn stray_frames_are_reported_by_incremental_runs_too() {
    let fx = fixture();
    let path = export(&fx);
    let mut frames = read(&path);
    frames.kept = fx.kept.clone();
    let at = frames.after_entries();
    let p = frames.kept_frame(A_NOTE);
    frames.items.insert(at, p);
    write(&path, &frames);
    let src = ArchiveSource::open(&path).unwrap();
    let policy = caseledger_verify::Policy {
        keep_resume_state: true,
        ..Cast::PRACTICE.policy(vec![])
    };
    // A state taken from the clean ledger, resumed against the tampered archive.
    let clean = verify(
        &caseledger_verify::SledSource::open(fx.path()).unwrap(),
        &policy,
        &|_| {},
    )
    .unwrap();
    let state = clean.resume_state().unwrap().clone();
    let v = caseledger_verify::verify_incremental(&src, &state, &policy, &|_| {}).unwrap();
    assert!(
        v.findings()
            .iter()
            .any(|f| f.kind == K::PayloadAfterDestruction && f.seq == Some(A_NOTE)),
        "{}",
        show(&v)
    );
}

/// A report's as-of verification sees an archive's stray frames and header as `verify` does
/// (until 2026-12-02 it saw neither: its tapped source did not pass them on).
#[test]
fn stray_frames_and_the_header_are_reported_by_the_as_of_verification_too() {
    let fx = fixture();
    let path = export(&fx);
    let mut frames = read(&path);
    frames.kept = fx.kept.clone();
    let at = frames.after_entries();
    let p = frames.kept_frame(A_NOTE);
    frames.items.insert(at, p);
    frames.origin = "other.example/ledger".into();
    write(&path, &frames);
    let src = ArchiveSource::open(&path).unwrap();
    let policy = Cast::PRACTICE.policy(vec![]);
    let a = caseledger_verify::asof::verify_as_of(
        &src,
        &policy,
        caseledger_core::Timestamp::now(),
        &|_| {},
    )
    .unwrap();
    let v = a.verified();
    for (kind, seq) in [
        (K::PayloadAfterDestruction, Some(A_NOTE)),
        (K::ArchiveOriginMismatch, None),
    ] {
        assert!(
            v.findings().iter().any(|f| f.kind == kind && f.seq == seq),
            "{kind}: {}",
            show(v)
        );
    }
}

/// A stray frame's finding says which stray it is: one for a seq the archive holds no
/// entry at names no record and says so; one beside a real entry names that entry's
/// record and says the content lies outside the entry's own payload. (Both are
/// `stray_payload`: only the record and the words tell an auditor which.)
#[test]
fn a_stray_frame_says_whether_the_archive_holds_its_entry() {
    let fx = fixture();
    let path = export(&fx);
    let mut frames = read(&path);
    let at = frames.after_entries();
    frames.items.insert(at, payload_frame(1000, b"x"));
    let at = frames.entry_at(B_NOTE1) + 2;
    frames
        .items
        .insert(at, payload_frame(B_NOTE1, b"falsified"));
    write(&path, &frames);
    let v = verify_archive(&path);
    let stray = |seq: u64| {
        v.findings()
            .iter()
            .find(|f| f.kind == K::StrayPayload && f.seq == Some(seq))
            .unwrap_or_else(|| panic!("no stray_payload at {seq}: {}", show(&v)))
    };
    let none = stray(1000);
    assert_eq!(none.record, None, "{}", show(&v));
    assert!(
        none.evidence
            .message
            .ends_with("the archive holds no entry at seq 1000"),
        "{}",
        show(&v)
    );
    let beside = stray(B_NOTE1);
    assert!(beside.record.is_some(), "{}", show(&v));
    assert!(
        beside
            .evidence
            .message
            .contains("content outside the entry's own payload"),
        "{}",
        show(&v)
    );
}
