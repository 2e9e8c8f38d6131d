//! Issue 11's retention rules, seen by the verifier: entries the store would refuse, edited
//! into the trees with the real keys and re-chained, are findings naming the seq; and the
//! retention clock a verifier computes never starts before the latest service or contact
//! date a record holds.

use caseledger_core::event::EventKind;
use caseledger_core::record::Status;
use caseledger_core::Timestamp;
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{date, key, text};
use caseledger_verify::{verify, FindingKind as K, Policy, SledSource, Verified};

/// Appends forged, correctly chained events at the end (an attacker with the keys and
/// write access to the trees): `(key seed, author, record, kind, claimed date = ledger date)`.
/// A forged destruction removes the record's payloads and erases its key store slots, as
/// the store's would. The attacker holds the ledger key too, and seals the new head (else
/// `unsealed_tail`, see the tamper tests): these tests are about the retention rules.
fn append_forged(fx: &mut Fixture, events: &[(u8, &str, &str, EventKind, &str)]) {
    let mut new = Vec::new();
    for (seed, author, record, kind, on) in events {
        let (ev, p) = fx
            .author
            .event(&key(*seed), author, Some(record), kind.clone(), on, None);
        new.push((ev, p, Timestamp::start_of(date(on)).unwrap()));
    }
    let destroyed: Vec<String> = new
        .iter()
        .filter(|(ev, _, _)| matches!(ev.event.kind, EventKind::Destruction { .. }))
        .filter_map(|(ev, _, _)| ev.event.record.as_ref().map(|r| r.as_str().to_owned()))
        .collect();
    rewrite(fx.path(), |items| {
        for (ev, p, recorded_at) in new {
            if matches!(ev.event.kind, EventKind::Destruction { .. }) {
                for it in items.iter_mut() {
                    if it.entry.event.event.record == ev.event.record {
                        it.payload = None;
                    }
                }
            }
            let mut e = items[0].entry.clone();
            e.event = ev;
            e.recorded_at = recorded_at;
            items.push(Item {
                entry: e,
                payload: p.map(|p| p.to_stored()),
            });
        }
    });
    // ... and erases the record's key, as the store's would.
    for r in destroyed {
        erase_key_slots(fx.path(), &r);
    }
    let items = load(fx.path());
    let n = items.len() as u64;
    add_checkpoint(fx.path(), &checkpoint_note(n, root(&items, n)));
}

fn run(fx: &Fixture) -> Verified {
    let src = SledSource::open(fx.path()).unwrap();
    verify(&src, &Policy::default(), &|_| {}).unwrap()
}

fn record<'a>(v: &'a Verified, id: &str) -> &'a caseledger_core::record::RecordState {
    &v.records()
        .iter()
        .find(|r| r.id.as_str() == id)
        .unwrap()
        .state
}

/// The walk-through: C-B's service ended on 2021-03-02 (retention ran out 2026-03-02). A
/// progress note dated 2026-03-10 without `service_resumed`, then a destruction the same
/// day: the note is a state violation at its seq, and the destruction is unlawful because
/// the note's date keeps the record until 2031-03-10.
#[test]
fn note_after_termination_then_same_day_destruction() {
    let mut fx = fixture();
    let size = fx.size;
    append_forged(
        &mut fx,
        &[
            (3, "lic-1", "C-B", EventKind::ProgressNote, "2026-03-10"),
            (
                4,
                "cust-1",
                "C-B",
                EventKind::Destruction {
                    reason: text("retention-policy-7"),
                    citation: None,
                },
                "2026-03-10",
            ),
        ],
    );
    let b_note1 = fx.seq("B.note1");
    let v = run(&fx);
    let mut got: Vec<(K, Option<u64>)> = v.findings().iter().map(|f| (f.kind, f.seq)).collect();
    got.sort();
    // The destruction removed C-B's payloads and erased its key unlawfully: both are
    // reported too, at the record's first payload entry.
    let mut want = vec![
        (K::PayloadMissing, Some(b_note1)),
        (K::ContentKeyErased, Some(b_note1)),
        (K::StateViolation, Some(size)),
        (K::UnlawfulDestruction, Some(size + 1)),
    ];
    want.sort();
    assert_eq!(got, want, "{:?}", v.findings());
    let find = |k: K| v.findings().iter().find(|f| f.kind == k).unwrap();
    let note = find(K::StateViolation);
    assert_eq!(note.record.as_ref().map(|r| r.as_str()), Some("C-B"));
    assert!(
        note.evidence
            .message
            .contains("progress_note records service: append service_resumed first"),
        "{}",
        note.evidence.message
    );
    let destruction = find(K::UnlawfulDestruction);
    assert!(
        destruction.evidence.message.contains("2031-03-11"),
        "{}",
        destruction.evidence.message
    );
    let b = record(&v, "C-B");
    assert_eq!(b.status(date("2026-03-10"), false), Status::DestroyedEarly);
}

/// Without the forged note the same destruction is lawful: the finding above comes from the
/// note, not from the date.
#[test]
fn same_destruction_without_the_note_is_lawful() {
    let mut fx = fixture();
    append_forged(
        &mut fx,
        &[(
            4,
            "cust-1",
            "C-B",
            EventKind::Destruction {
                reason: text("retention-policy-7"),
                citation: None,
            },
            "2026-03-10",
        )],
    );
    let v = run(&fx);
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(
        record(&v, "C-B").status(date("2026-03-10"), false),
        Status::DestroyedLawfully
    );
}

/// A note edited in with a claimed date later than the termination: the verifier reports it
/// and computes eligibility from the note's date + 5 years (+1 day), not the termination's.
#[test]
fn late_note_moves_eligibility_in_the_verifier() {
    let mut fx = fixture();
    let size = fx.size;
    append_forged(
        &mut fx,
        &[(3, "lic-1", "C-B", EventKind::ProgressNote, "2023-07-01")],
    );
    let v = run(&fx);
    let got: Vec<(K, Option<u64>)> = v.findings().iter().map(|f| (f.kind, f.seq)).collect();
    assert_eq!(got, vec![(K::StateViolation, Some(size))]);
    let b = record(&v, "C-B");
    assert_eq!(b.retention_start(), Some(date("2023-07-01")));
    assert_eq!(b.lawful_from(), Some(date("2028-07-02")));
    assert_eq!(
        b.status(date("2028-07-01"), false),
        Status::Retained {
            until: date("2028-07-01")
        }
    );
    assert_eq!(b.status(date("2028-07-02"), false), Status::Eligible);
}

/// A contact after termination is lawful (no finding) and moves the clock just the same.
#[test]
fn contact_after_termination_is_clean_and_moves_eligibility() {
    let mut fx = fixture();
    append_forged(
        &mut fx,
        &[(3, "lic-1", "C-B", EventKind::Contact, "2024-02-29")],
    );
    let v = run(&fx);
    assert!(v.is_clean(), "{:?}", v.findings());
    let b = record(&v, "C-B");
    assert_eq!(b.retained_until(), Some(date("2029-02-28")));
    assert_eq!(b.lawful_from(), Some(date("2029-03-01")));
}
