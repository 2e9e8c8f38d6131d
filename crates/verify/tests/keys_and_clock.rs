//! Issues 12 (clock) and 13 (crypto-shredding), the verifier's half: ledgers written by the
//! real store (with the injectable clock, no faketime), then the real stored bytes tampered
//! with (the `keystore` file), verified without any key.

use caseledger_core::event::{EventKind, TerminationReason};
use caseledger_core::{RecordId, Timestamp};
use caseledger_store::{Durability, Ledger};
use caseledger_testkit::tamper::{erase_key_slots, key_slot_offset, keystore_path, live_key_slots};
use caseledger_testkit::{rid, tempdir, text, verify_dir, Cast, TestClock};
use caseledger_verify::report::{ReportContext, RetentionReport};
use caseledger_verify::{verify, ArchiveSource, ContentKeys, FindingKind as K, Policy, Verified};
use std::path::Path;

const C: Cast = Cast::PRACTICE;

fn findings(v: &Verified) -> Vec<(K, Option<u64>)> {
    v.findings().iter().map(|f| (f.kind, f.seq)).collect()
}

fn run(dir: &Path) -> Verified {
    verify_dir(dir, &Policy::default()).unwrap()
}

/// Opens `record` with a progress note (a payload) on the clock's day; returns the note's seq.
fn open_with_note(l: &Ledger, clock: &TestClock, record: &RecordId) -> u64 {
    let (e, p) = C.licensee_event(clock, record, EventKind::RecordOpened, Some(b"intake"));
    l.append(e, p).unwrap();
    let (e, p) = C.licensee_event(clock, record, EventKind::ProgressNote, Some(b"session 1"));
    l.append(e, p).unwrap().seq.0
}

fn terminate(l: &Ledger, clock: &TestClock, record: &RecordId) {
    let (e, p) = C.licensee_event(
        clock,
        record,
        EventKind::ServiceTerminated {
            terminated_on: clock.today(),
            reason: TerminationReason::Completed,
        },
        None,
    );
    l.append(e, p).unwrap();
}

fn destroy(l: &Ledger, clock: &TestClock, record: &RecordId) -> u64 {
    let (e, p) = C.custodian_event(
        clock,
        record,
        EventKind::Destruction {
            reason: text("retention-ran-out"),
            citation: None,
        },
    );
    l.append(e, p).unwrap().seq.0
}

fn clock_corrected(l: &Ledger, clock: &TestClock, reason: &str) -> u64 {
    let (e, p) = C.admin.sign_for(
        C.origin,
        None,
        EventKind::ClockCorrected {
            reason: text(reason),
        },
        clock.today(),
        None,
    );
    l.append(e, p).unwrap().seq.0
}

/// A staffed ledger in 2018 with record C-1 opened (two payloads).
fn ledger_2018(dir: &Path) -> (Ledger, TestClock, u64) {
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir, &clock, Durability::Immediate);
    let first = open_with_note(&l, &clock, &rid("C-1"));
    (l, clock, first - 1)
}

#[test]
fn a_live_store_verifies_clean_and_says_keys_were_checked() {
    let dir = tempdir("keys-clean");
    let (l, _, _) = ledger_2018(dir.path());
    drop(l);
    let v = run(dir.path());
    assert!(v.is_clean(), "{:?}", v.findings());
    assert!(matches!(v.content_keys(), ContentKeys::Checked { slots } if slots >= 1));
}

#[test]
fn an_erased_slot_without_destruction_is_content_key_erased() {
    let dir = tempdir("keys-erased");
    let (l, _, opened) = ledger_2018(dir.path());
    drop(l);
    assert_eq!(live_key_slots(dir.path(), "C-1").len(), 1);
    erase_key_slots(dir.path(), "C-1");
    let v = run(dir.path());
    assert_eq!(findings(&v), vec![(K::ContentKeyErased, Some(opened))]);
    let f = &v.findings()[0];
    assert_eq!(f.record, Some(rid("C-1")));
    assert!(
        f.evidence.message.contains("unauthorized destruction"),
        "{f}"
    );
}

#[test]
fn a_flipped_byte_of_a_live_wrapped_key_is_content_key_mismatch() {
    let dir = tempdir("keys-flip");
    let (l, _, opened) = ledger_2018(dir.path());
    drop(l);
    let slot = live_key_slots(dir.path(), "C-1")[0];
    let path = keystore_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[key_slot_offset(slot) + 66 + 30] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let v = run(dir.path());
    // One finding per slot, at the first entry naming it.
    assert_eq!(findings(&v), vec![(K::ContentKeyMismatch, Some(opened))]);
}

#[test]
fn a_slot_restored_after_a_lawful_destruction_is_content_key_not_erased() {
    let dir = tempdir("keys-restored");
    let (l, clock, _) = ledger_2018(dir.path());
    clock.set_day("2018-02-01");
    terminate(&l, &clock, &rid("C-1"));
    let slot = live_key_slots(dir.path(), "C-1")[0];
    let before = std::fs::read(keystore_path(dir.path())).unwrap();
    clock.set_day("2023-02-03");
    let destroyed = destroy(&l, &clock, &rid("C-1"));
    drop(l);
    // The lawful destruction erased the slot: clean.
    assert!(live_key_slots(dir.path(), "C-1").is_empty());
    let v = run(dir.path());
    assert!(v.is_clean(), "{:?}", v.findings());
    // The slot's bytes put back from the copy taken before.
    let path = keystore_path(dir.path());
    let mut now = std::fs::read(&path).unwrap();
    let at = key_slot_offset(slot);
    now[at..at + 160].copy_from_slice(&before[at..at + 160]);
    std::fs::write(&path, now).unwrap();
    let v = run(dir.path());
    assert_eq!(
        findings(&v),
        vec![(K::ContentKeyNotErased, Some(destroyed))]
    );
}

/// The insider's clock attack without faketime: the store's clock set five years ahead,
/// a destruction that is lawful by that clock, the clock set back and corrected.
#[test]
fn a_destruction_under_a_forward_clock_is_exposed_by_the_correction() {
    let dir = tempdir("clock-forward");
    let (l, clock, _) = ledger_2018(dir.path());
    clock.set_day("2018-02-01");
    terminate(&l, &clock, &rid("C-1"));
    // Five years ahead: retention (until 2023-02-01) has "run out".
    clock.set_day("2023-02-05");
    let destroyed = destroy(&l, &clock, &rid("C-1"));
    // Back to the real day: the store refuses appends until the correction.
    clock.set_day("2018-02-02");
    let (e, p) = C.licensee_event(&clock, &rid("C-2"), EventKind::RecordOpened, Some(b"x"));
    assert!(
        l.append(e, p).is_err(),
        "the store must refuse a clock far behind"
    );
    let corrected = clock_corrected(&l, &clock, "clock was five years ahead");
    drop(l);
    let v = run(dir.path());
    // One finding names the cause; the payloads and key it removed are not reported again.
    assert_eq!(
        findings(&v),
        vec![(K::DestructionUnderForwardClock, Some(destroyed))]
    );
    let f = &v.findings()[0];
    assert!(
        f.evidence
            .message
            .contains(&format!("clock_corrected at seq {corrected}")),
        "{f}"
    );
    assert!(f.evidence.message.contains("2023-02-02"), "{f}");
    let rec = v.records().iter().find(|r| r.id == rid("C-1")).unwrap();
    assert!(!rec.state.destroyed.as_ref().unwrap().lawful);
    let c = &v.clock_corrections()[0];
    assert_eq!(c.seq, corrected);
    assert!(c.back_by_secs > 5 * 365 * 86_400 - 10 * 86_400, "{c:?}");
    assert_eq!(v.forward_clock_destructions()[0].destruction, destroyed);
    // The retention report says so: the destruction is not lawful, names the correction,
    // states the backup retention; the correction is listed.
    let cut = Timestamp::start_of(caseledger_testkit::date("2023-02-06")).unwrap();
    let src = caseledger_verify::SledSource::open(dir.path()).unwrap();
    let a = caseledger_verify::asof::verify_as_of(&src, &Policy::default(), cut, &|_| {}).unwrap();
    let ctx = ReportContext {
        as_of: caseledger_testkit::date("2023-02-05"),
        time_zone: "UTC".into(),
        produced_at: Timestamp::start_of(caseledger_testkit::date("2026-01-01")).unwrap(),
        identity: "reports@practice".into(),
        key: caseledger_testkit::key(42).public_key(),
    };
    let r = RetentionReport::build(&a, &Policy::default(), &ctx, true).unwrap();
    let rec = r.records.iter().find(|x| x.id == "C-1").unwrap();
    assert_eq!(rec.status, "destroyed_early");
    let d = rec.destruction.as_ref().unwrap();
    assert!(!d.lawful);
    assert_eq!(d.clock_corrected_seq, Some(corrected));
    assert_eq!(d.backup_retention_days, 0);
    assert_eq!(r.clock_corrections.len(), 1);
    assert_eq!(r.clock_corrections[0].seq, corrected);
    assert_eq!(r.clock_corrections[0].reason, "clock was five years ahead");
    assert!(rec
        .completeness
        .iter()
        .any(|c| c.item == "4_5_notice_and_referral" && c.status == "not_applicable"));
    assert!(r.rule.notice_and_referral[0].starts_with("(4) "));
    assert!(r.rule.notice_and_referral[1].starts_with("(5) "));
}

/// A lawful destruction and an honest NTP step back (ten minutes: beyond the skew, so the
/// admin records the correction): no finding, and the correction is shown.
#[test]
fn an_honest_clock_step_and_a_lawful_destruction_are_clean() {
    let dir = tempdir("clock-honest");
    let (l, clock, _) = ledger_2018(dir.path());
    clock.set_day("2018-02-01");
    terminate(&l, &clock, &rid("C-1"));
    clock.set_day("2023-03-01");
    destroy(&l, &clock, &rid("C-1"));
    clock.set(Timestamp(clock.now().0 - 600 * 1_000_000));
    let corrected = clock_corrected(&l, &clock, "NTP stepped the clock back");
    open_with_note(&l, &clock, &rid("C-2"));
    drop(l);
    let v = run(dir.path());
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.clock_corrections().len(), 1);
    let c = &v.clock_corrections()[0];
    assert_eq!(c.seq, corrected);
    assert!((599..=601).contains(&c.back_by_secs), "{c:?}");
    assert_eq!(c.reason, "NTP stepped the clock back");
    assert!(v.forward_clock_destructions().is_empty());
}

/// Entries recorded after the verifier's own clock: one `clock_ahead` finding at the first
/// (the verifier's real clock by default, an injected one in the policy).
#[test]
fn entries_in_the_verifiers_future_are_clock_ahead() {
    let dir = tempdir("clock-ahead");
    let ahead = Timestamp(Timestamp::now().0 + 30 * 86_400 * 1_000_000);
    let clock = TestClock::at_time(ahead);
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    drop(l);
    let v = run(dir.path());
    assert_eq!(findings(&v), vec![(K::ClockAhead, Some(0))]);
    assert!(
        v.findings()[0].evidence.message.contains("3 entries"),
        "{}",
        v.findings()[0]
    );
    // A verifier whose clock is later sees nothing wrong.
    let later = Policy {
        now: Some(Timestamp(ahead.0 + 86_400 * 1_000_000)),
        ..Policy::default()
    };
    assert!(verify_dir(dir.path(), &later).unwrap().is_clean());
    // Within the genesis skew (300 s by default) is not ahead.
    let within = Policy {
        now: Some(Timestamp(ahead.0 - 100 * 1_000_000)),
        ..Policy::default()
    };
    assert!(verify_dir(dir.path(), &within).unwrap().is_clean());
}

/// An archive's content key frames play the key store's role; without them the result
/// says the keys are absent (a note, not a finding).
#[test]
fn archives_check_content_key_frames_or_say_they_are_absent() {
    let dir = tempdir("keys-archive");
    let (l, clock, _) = ledger_2018(dir.path());
    clock.set_day("2018-02-01");
    terminate(&l, &clock, &rid("C-1"));
    clock.set_day("2023-02-03");
    destroy(&l, &clock, &rid("C-1"));
    clock.set_day("2023-02-04");
    let c2 = open_with_note(&l, &clock, &rid("C-2"));
    let with = dir.path().join("with.archive");
    let without = dir.path().join("without.archive");
    l.export_archive(std::fs::File::create(&with).unwrap(), true)
        .unwrap();
    l.export_archive(std::fs::File::create(&without).unwrap(), false)
        .unwrap();
    drop(l);
    let check = |p: &Path| {
        verify(
            &ArchiveSource::open(p).unwrap(),
            &Policy::default(),
            &|_| {},
        )
        .unwrap()
    };
    let v = check(&with);
    assert!(v.is_clean(), "{:?}", v.findings());
    assert!(matches!(v.content_keys(), ContentKeys::Checked { .. }));
    let v = check(&without);
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.content_keys(), ContentKeys::Absent);
    // C-2's content key frame flipped: a mismatch at C-2's first payload entry. The frames
    // are rewritten with the archive writer (its digest recomputed, as an attacker would).
    let tampered = dir.path().join("tampered.archive");
    rewrite_archive(&with, &tampered, |bytes| {
        // state, record length, record: C-2's slot.
        if bytes[1] == 3 && &bytes[2..5] == b"C-2" {
            bytes[100] ^= 1;
        }
    });
    let v = check(&tampered);
    assert_eq!(findings(&v), vec![(K::ContentKeyMismatch, Some(c2 - 1))]);
}

/// Copies an archive frame by frame through the writer, letting `edit` change content key
/// frames.
fn rewrite_archive(from: &Path, to: &Path, mut edit: impl FnMut(&mut Vec<u8>)) {
    use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
    let r = ArchiveReader::new(std::fs::File::open(from).unwrap()).unwrap();
    let origin = r.origin().to_owned();
    let mut w = ArchiveWriter::new(Vec::new(), &origin).unwrap();
    for item in r {
        match item.unwrap() {
            ArchiveItem::Entry(b) => w.entry(&b).unwrap(),
            ArchiveItem::Payload { seq, stored } => w.payload(seq, &stored).unwrap(),
            ArchiveItem::Checkpoint(n) => w.checkpoint(&n).unwrap(),
            ArchiveItem::ContentKey { slot, mut bytes } => {
                edit(&mut bytes);
                w.content_key(slot, &bytes).unwrap()
            }
        }
    }
    std::fs::write(to, w.finish().unwrap()).unwrap();
}

/// The skew is a tolerance, inclusive to the microsecond: an entry recorded exactly the
/// genesis skew after the verifier's clock is not ahead; one microsecond more is.
#[test]
fn clock_ahead_allows_exactly_the_skew() {
    use caseledger_core::event::{Entry, DEFAULT_CLOCK_SKEW_SECS};
    let dir = tempdir("clock-ahead-edge");
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    let latest = caseledger_testkit::all_entry_bytes(&l)
        .iter()
        .map(|b| Entry::from_bytes(b).unwrap().recorded_at)
        .max()
        .unwrap();
    drop(l);
    let skew = i64::from(DEFAULT_CLOCK_SKEW_SECS) * 1_000_000;
    let at = |now: i64| {
        verify_dir(
            dir.path(),
            &Policy {
                now: Some(Timestamp(now)),
                ..Policy::default()
            },
        )
        .unwrap()
    };
    assert!(at(latest.0 - skew).is_clean(), "exactly the skew");
    assert_eq!(
        findings(&at(latest.0 - skew - 1)),
        vec![(K::ClockAhead, Some(2))],
        "the skew and a microsecond"
    );
}

/// A destruction exposed by one correction is reported once, even when a later correction
/// also sets the clock back before it.
#[test]
fn a_forward_clock_destruction_is_reported_once_across_corrections() {
    let dir = tempdir("clock-forward-twice");
    let (l, clock, _) = ledger_2018(dir.path());
    clock.set_day("2018-02-01");
    terminate(&l, &clock, &rid("C-1"));
    clock.set_day("2023-02-05");
    let destroyed = destroy(&l, &clock, &rid("C-1"));
    clock.set_day("2018-02-02");
    let first = clock_corrected(&l, &clock, "clock was five years ahead");
    // Set back once more (an NTP step of ten minutes), and corrected again.
    clock.set(Timestamp(clock.now().0 - 600 * 1_000_000));
    let second = clock_corrected(&l, &clock, "NTP stepped back");
    drop(l);
    let v = run(dir.path());
    assert_eq!(
        findings(&v),
        vec![(K::DestructionUnderForwardClock, Some(destroyed))]
    );
    assert_eq!(v.clock_corrections().len(), 2);
    assert_eq!(v.clock_corrections()[1].seq, second);
    assert_eq!(v.forward_clock_destructions().len(), 1);
    assert_eq!(v.forward_clock_destructions()[0].correction, first);
}

/// Instants in findings and reports: RFC 3339 UTC, to the second (rounded down, also before
/// 1970) or to the microsecond; one outside the calendar's range is still printed.
#[test]
fn instants_are_rfc3339_utc() {
    use caseledger_verify::clock::{exact, instant};
    assert_eq!(instant(Timestamp(1_500_000)), "1970-01-01T00:00:01Z");
    assert_eq!(exact(Timestamp(1_500_000)), "1970-01-01T00:00:01.5Z");
    assert_eq!(instant(Timestamp(-1)), "1969-12-31T23:59:59Z");
    let t = Timestamp::start_of(caseledger_testkit::date("2023-02-02")).unwrap();
    assert_eq!(instant(Timestamp(t.0 + 999_999)), "2023-02-02T00:00:00Z");
    assert_eq!(exact(Timestamp(t.0 + 7)), "2023-02-02T00:00:00.000007Z");
    assert_eq!(exact(Timestamp(i64::MAX)), format!("@{}us", i64::MAX));
}

/// The key store slot an entry's content seal names must hold that record's key: a slot
/// overwritten with another record's (live, intact) slot is a `content_key_mismatch` that
/// names both records, not a mere digest mismatch.
#[test]
fn a_slot_holding_another_records_key_is_a_mismatch_naming_both_records() {
    let dir = tempdir("keys-swapped");
    let (l, clock, opened) = ledger_2018(dir.path());
    open_with_note(&l, &clock, &rid("C-2"));
    drop(l);
    let one = key_slot_offset(live_key_slots(dir.path(), "C-1")[0]);
    let two = key_slot_offset(live_key_slots(dir.path(), "C-2")[0]);
    let path = keystore_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let other = bytes[two..two + 160].to_vec();
    bytes[one..one + 160].copy_from_slice(&other);
    std::fs::write(&path, bytes).unwrap();
    let v = run(dir.path());
    assert_eq!(findings(&v), vec![(K::ContentKeyMismatch, Some(opened))]);
    let e = &v.findings()[0].evidence;
    assert!(
        e.message.contains("holds another record's key"),
        "{}",
        e.message
    );
    assert_eq!(
        (e.expected.as_deref(), e.found.as_deref()),
        (Some("C-1"), Some("C-2"))
    );
}
