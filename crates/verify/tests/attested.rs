//! Issue 14, attested destruction (format 4): a destruction citing a witness cosignature or
//! a TSA token, judged on the relying party's terms (`caseledger_verify::attest`). Ledgers
//! written by the real store with the injectable clock; cosignatures made by hand at chosen
//! times and supplied as the auditor's copies.

use caseledger_core::checkpoint::{
    append_cosignature, cosign, sign_checkpoint, Checkpoint, CosignatureVerifier,
};
use caseledger_core::citation::TimeCitation;
use caseledger_core::event::{EventKind, ShortText, TerminationReason};
use caseledger_core::keys::SigningKey;
use caseledger_core::Timestamp;
use caseledger_store::{Durability, Ledger};
use caseledger_testkit::tsa::{TestTsa, TsaOptions};
use caseledger_testkit::{
    all_entry_bytes, date, key, rid, root_of_entries, tempdir, verify_dir, Cast, TestClock,
};
use caseledger_timestamp::{check_response, TimestampRequest, TrustedRoots};
use caseledger_verify::report::{ReportContext, RetentionReport};
use caseledger_verify::source::SledSource;
use caseledger_verify::{Basis, FindingKind as K, Policy, Verified};
use std::path::Path;

const C: Cast = Cast::PRACTICE;
const W1: &str = "w1.example";

fn witness(seed: u8) -> (SigningKey, CosignatureVerifier) {
    let k = key(seed);
    let v = CosignatureVerifier::new(W1, k.public_key()).unwrap();
    (k, v)
}

/// The checkpoint of `l` at its head.
fn head_checkpoint(l: &Ledger) -> Checkpoint {
    let entries = all_entry_bytes(l);
    Checkpoint::new(C.origin, l.head().size, root_of_entries(&entries)).unwrap()
}

/// The ledger's seal of `cp`, cosigned by `wk` at `secs`: the note the auditor holds, and
/// the cosignature line.
fn cosigned(cp: &Checkpoint, wk: &SigningKey, secs: i64) -> (String, String) {
    let line = cosign(cp, W1, wk, u64::try_from(secs).unwrap()).unwrap();
    let note = append_cosignature(&sign_checkpoint(cp, &C.signer()), &line).unwrap();
    (note, line)
}

fn secs(clock: &TestClock, plus: i64) -> i64 {
    clock.now().0 / 1_000_000 + plus
}

/// C-1 opened and terminated on the clock's day, with one note.
fn open_and_terminate(l: &Ledger, clock: &TestClock, on: &str) {
    let r = rid("C-1");
    let d = date(on);
    for kind in [
        EventKind::RecordOpened,
        EventKind::ProgressNote,
        EventKind::ServiceTerminated {
            terminated_on: d,
            reason: TerminationReason::Completed,
        },
    ] {
        let (e, p) = C.licensee.sign(Some(&r), kind, d, Some(b"x"));
        l.append(e, p).unwrap();
    }
    let _ = clock;
}

/// Another record's note: a new seal to cite.
fn other_note(l: &Ledger, clock: &TestClock) {
    let (e, p) = C.licensee_event(clock, &rid("C-2"), EventKind::RecordOpened, Some(b"o"));
    l.append(e, p).unwrap();
}

fn destroy(l: &Ledger, clock: &TestClock, citation: Option<TimeCitation>) -> u64 {
    let (e, p) = C.custodian_event(
        clock,
        &rid("C-1"),
        EventKind::Destruction {
            reason: ShortText::new("retention policy 7").unwrap(),
            citation,
        },
    );
    l.append(e, p).unwrap().seq.0
}

/// Witnesses give outside time; quorum 0: the newest seal (the destruction's) need not be
/// cosigned for the verdict (outside time still takes one source per bound).
fn policy(w: Vec<CosignatureVerifier>, notes: Vec<String>) -> Policy {
    Policy {
        witnesses: w,
        quorum: 0,
        checkpoints: notes,
        ..Policy::default()
    }
}

fn kinds(v: &Verified) -> Vec<(K, Option<u64>)> {
    v.findings().iter().map(|f| (f.kind, f.seq)).collect()
}

/// Terminated in 2018 and anchored then; destroyed in 2023 citing a cosignature made then.
/// Returns the dir's ledger facts: (note of the termination's seal, note of the cited
/// seal, cited line, destruction seq, witness).
fn anchored_history(
    dir: &Path,
    destroy_on: &str,
) -> (String, String, String, u64, CosignatureVerifier, SigningKey) {
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir, &clock, Durability::Immediate);
    open_and_terminate(&l, &clock, "2018-01-10");
    let (wk, wv) = witness(41);
    let (term_note, _) = cosigned(&head_checkpoint(&l), &wk, secs(&clock, 3600));
    clock.set_day(destroy_on);
    other_note(&l, &clock);
    let cp = head_checkpoint(&l);
    let (cited_note, line) = cosigned(&cp, &wk, secs(&clock, 60));
    clock.set(Timestamp(clock.now().0 + 120_000_000));
    let seq = destroy(
        &l,
        &clock,
        Some(TimeCitation::cosignature(&cp.to_body(), &line).unwrap()),
    );
    (term_note, cited_note, line, seq, wv, wk)
}

#[test]
fn a_termination_anchored_five_years_before_the_cited_time_is_attested() {
    let dir = tempdir("att-yes");
    let (term_note, cited_note, _, seq, wv, _) = anchored_history(dir.path(), "2023-02-01");
    let v = verify_dir(dir.path(), &policy(vec![wv], vec![term_note, cited_note])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.attestation(seq).expect("the destruction is judged");
    assert_eq!(a.basis, Basis::Attested, "{a:?}");
    assert_eq!(a.words(), "lawful, attested by witness w1.example");
    assert_eq!(a.citation, Some("cosignature"));
    // U(termination) is the 2018 cosignature: lawful from the day after five years.
    assert_eq!(a.attested_lawful_from, Some(date("2023-01-11")));
    assert!(a.termination_seen.is_some());
}

#[test]
fn without_the_witness_named_the_same_destruction_is_lawful_by_the_ledgers_clock_only() {
    let dir = tempdir("att-unnamed");
    let (term_note, cited_note, _, seq, _, _) = anchored_history(dir.path(), "2023-02-01");
    // No witness named: no outside time at all.
    let v = verify_dir(dir.path(), &policy(vec![], vec![])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.attestation(seq).unwrap();
    assert_eq!(a.basis, Basis::LedgerClock, "{a:?}");
    assert_eq!(a.words(), "lawful by the ledger's clock");
    assert!(a.not_counted.as_deref().unwrap().contains("--witness"));
    // Another witness named: the cited one still does not count, and is no finding.
    let (_, other) = witness(42);
    let other = CosignatureVerifier::new("w2.example", other.public_key()).unwrap();
    let v = verify_dir(
        dir.path(),
        &policy(vec![other], vec![term_note, cited_note]),
    )
    .unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.attestation(seq).unwrap().basis, Basis::LedgerClock);
}

#[test]
fn a_citation_before_the_attested_lawful_date_is_not_attested() {
    let dir = tempdir("att-early-cite");
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    open_and_terminate(&l, &clock, "2018-01-10");
    let (wk, wv) = witness(41);
    let cp = head_checkpoint(&l);
    // The destroyer cites the 2018 cosignature (all it has), destroying in 2023.
    let (term_note, line) = cosigned(&cp, &wk, secs(&clock, 3600));
    clock.set_day("2023-02-01");
    let seq = destroy(
        &l,
        &clock,
        Some(TimeCitation::cosignature(&cp.to_body(), &line).unwrap()),
    );
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv], vec![term_note])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.attestation(seq).unwrap();
    // The citation counts (a valid cosignature) but T is 2018: before 2023-01-11.
    assert!(a.cited_time.is_some());
    assert_eq!(a.basis, Basis::LedgerClock, "{a:?}");
}

#[test]
fn a_record_created_terminated_and_destroyed_in_one_sitting_is_never_attested() {
    let dir = tempdir("att-one-sitting");
    let clock = TestClock::at("2024-06-01");
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    // History claimed from 2018, recorded today.
    open_and_terminate(&l, &clock, "2018-01-10");
    let (wk, wv) = witness(41);
    let cp = head_checkpoint(&l);
    let (note, line) = cosigned(&cp, &wk, secs(&clock, 30));
    clock.set(Timestamp(clock.now().0 + 60_000_000));
    let seq = destroy(
        &l,
        &clock,
        Some(TimeCitation::cosignature(&cp.to_body(), &line).unwrap()),
    );
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv], vec![note])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.attestation(seq).unwrap();
    assert!(a.cited_time.is_some(), "{a:?}");
    assert_eq!(a.attested_lawful_from, Some(date("2029-06-02")));
    assert_eq!(a.basis, Basis::ClaimedDatesOnly, "{a:?}");
    assert_eq!(a.words(), "lawful on claimed dates only");
    // The report says so per record.
    let report = report_of(
        dir.path(),
        &policy(vec![a_witness_key(41)], vec![]),
        "2024-06-01",
    );
    let d = report.records[0].destruction.as_ref().unwrap();
    assert_eq!(
        (d.time_basis.as_str(), d.time_words.as_str()),
        ("claimed_dates_only", "lawful on claimed dates only")
    );
}

fn a_witness_key(seed: u8) -> CosignatureVerifier {
    witness(seed).1
}

fn report_of(dir: &Path, p: &Policy, as_of: &str) -> RetentionReport {
    let src = SledSource::open(dir).unwrap();
    let cut = Timestamp::start_of(date(as_of).next_day().unwrap()).unwrap();
    let a = caseledger_verify::asof::verify_as_of(&src, p, cut, &|_| {}).unwrap();
    let k = key(77);
    let ctx = ReportContext {
        as_of: date(as_of),
        time_zone: "UTC".into(),
        produced_at: Timestamp(0),
        identity: "auditor".into(),
        key: k.public_key(),
    };
    RetentionReport::build(&a, p, &ctx, true).unwrap()
}

#[test]
fn the_report_names_the_witness_of_an_attested_destruction() {
    let dir = tempdir("att-report");
    let (term_note, cited_note, _, _, wv, _) = anchored_history(dir.path(), "2023-02-01");
    let report = report_of(
        dir.path(),
        &policy(vec![wv], vec![term_note, cited_note]),
        "2023-02-01",
    );
    let rec = report.records.iter().find(|r| r.id == "C-1").unwrap();
    let d = rec.destruction.as_ref().unwrap();
    assert_eq!(d.time_basis, "attested");
    assert_eq!(d.time_words, "lawful, attested by witness w1.example");
    assert_eq!(d.attested_lawful_from.as_deref(), Some("2023-01-11"));
    let c = d.citation.as_ref().unwrap();
    assert!(c.counted && c.why_not.is_none(), "{c:?}");
    assert_eq!(c.kind, "cosignature");
    let json = String::from_utf8(report.to_canonical_json().unwrap()).unwrap();
    assert!(json.contains("\"time_basis\":\"attested\""));
}

#[test]
fn a_citation_of_another_root_or_a_cosignature_over_other_bytes_is_a_finding() {
    let dir = tempdir("att-bad");
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    open_and_terminate(&l, &clock, "2018-01-10");
    let (wk, wv) = witness(41);
    let real = head_checkpoint(&l);
    let (term_note, _) = cosigned(&real, &wk, secs(&clock, 3600));
    clock.set_day("2023-02-01");
    // A checkpoint of the right size with another root, validly cosigned: the witness saw a
    // fork, not this ledger.
    let forged = Checkpoint::new(C.origin, real.size, caseledger_core::Hash([9; 32])).unwrap();
    let (_, forged_line) = cosigned(&forged, &wk, secs(&clock, 0));
    let seq = destroy(
        &l,
        &clock,
        Some(TimeCitation::cosignature(&forged.to_body(), &forged_line).unwrap()),
    );
    drop(l);
    let v = verify_dir(
        dir.path(),
        &policy(vec![wv.clone()], vec![term_note.clone()]),
    )
    .unwrap();
    assert_eq!(kinds(&v), vec![(K::BadTimeCitation, Some(seq))]);
    assert!(v.findings()[0]
        .evidence
        .message
        .contains("root is not the ledger's"));
    assert_eq!(v.attestation(seq).unwrap().basis, Basis::LedgerClock);

    // The right body with a line the witness made over other bytes.
    let dir = tempdir("att-bad-line");
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    open_and_terminate(&l, &clock, "2018-01-10");
    let real = head_checkpoint(&l);
    let (term_note, _) = cosigned(&real, &wk, secs(&clock, 3600));
    clock.set_day("2023-02-01");
    let seq = destroy(
        &l,
        &clock,
        Some(TimeCitation::cosignature(&real.to_body(), &forged_line).unwrap()),
    );
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv], vec![term_note])).unwrap();
    assert_eq!(kinds(&v), vec![(K::BadTimeCitation, Some(seq))]);
    assert!(v.findings()[0].evidence.message.contains("does not verify"));
}

/// A token from a TSA whose clock reads `at` (faketime), over `body`, appended to the
/// ledger's `timestamps.log`; returns the token.
fn timestamp_at(dir: &Path, tsa: &mut TestTsa, at: &str, body: &str) -> Vec<u8> {
    tsa.clock = Some(at.to_owned());
    let req = TimestampRequest::new(body.as_bytes()).unwrap();
    let received = check_response(&tsa.reply(req.to_der()), &req).unwrap();
    let record = caseledger_timestamp::log::frame(body, received.to_der()).unwrap();
    let path = dir.join("timestamps.log");
    let mut log = std::fs::read(&path).unwrap_or_default();
    log.extend(record);
    std::fs::write(&path, log).unwrap();
    received.to_der().to_vec()
}

#[test]
fn a_tsa_token_cited_after_the_lawful_date_attests_and_one_before_does_not() {
    let mut tsa = TestTsa::new(&TsaOptions {
        ca_at: Some("2017-11-01 00:00:00".into()),
        tsa_at: Some("2017-12-01 00:00:00".into()),
        tsa_days: 3650,
        ..TsaOptions::default()
    });
    let roots = TrustedRoots::from_pem(&std::fs::read(tsa.path("ca.pem")).unwrap()).unwrap();
    let p = Policy {
        tsa_roots: Some(roots),
        tsa_chain_name: Some("ca.pem".into()),
        ..Policy::default()
    };
    for (cite_at, attested) in [
        ("2023-02-01 12:30:00", true),
        ("2022-12-01 12:30:00", false),
    ] {
        let dir = tempdir("att-tsa");
        let clock = TestClock::at("2018-01-10");
        let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
        open_and_terminate(&l, &clock, "2018-01-10");
        let term = head_checkpoint(&l).to_body();
        timestamp_at(dir.path(), &mut tsa, "2018-01-10 13:00:00", &term);
        clock.set_day(&cite_at[..10]);
        other_note(&l, &clock);
        let body = head_checkpoint(&l).to_body();
        let token = timestamp_at(dir.path(), &mut tsa, cite_at, &body);
        clock.set_day("2023-02-01");
        clock.set(Timestamp(clock.now().0 + 3_600_000_000));
        let seq = destroy(
            &l,
            &clock,
            Some(TimeCitation::timestamp(&body, token).unwrap()),
        );
        drop(l);
        let v = verify_dir(dir.path(), &p).unwrap();
        assert!(v.is_clean(), "{:?}", v.findings());
        let a = v.attestation(seq).unwrap();
        assert_eq!(a.citation, Some("timestamp"));
        assert!(a.cited_time.is_some(), "{a:?}");
        if attested {
            assert_eq!(a.basis, Basis::Attested, "{a:?}");
            assert!(
                a.words().starts_with("lawful, attested by TSA "),
                "{}",
                a.words()
            );
        } else {
            assert_eq!(a.basis, Basis::LedgerClock, "{a:?}");
        }
    }
}

/// The destroyer may cite any seal of this ledger it had seen, not only the newest: a
/// cosignature of an older checkpoint (entries recorded between it and the destruction)
/// counts. A checkpoint covering the destruction itself cannot have been seen before the
/// destruction was signed: citing one is a finding.
#[test]
fn an_older_seal_may_be_cited_but_not_one_covering_the_destruction() {
    for covering in [false, true] {
        let dir = tempdir("att-older");
        let clock = TestClock::at("2018-01-10");
        let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
        open_and_terminate(&l, &clock, "2018-01-10");
        let (wk, wv) = witness(41);
        let (term_note, _) = cosigned(&head_checkpoint(&l), &wk, secs(&clock, 3600));
        clock.set_day("2023-02-01");
        other_note(&l, &clock);
        let older = head_checkpoint(&l);
        clock.set(Timestamp(clock.now().0 + 120_000_000));
        // More is recorded between the cited seal and the destruction.
        let (e, p) = C.licensee_event(&clock, &rid("C-2"), EventKind::Contact, Some(b"c"));
        l.append(e, p).unwrap();
        let cp = if covering {
            // Names the destruction's own entry (size = its seq + 1).
            Checkpoint::new(C.origin, l.head().size + 1, caseledger_core::Hash([7; 32])).unwrap()
        } else {
            older
        };
        let (cited_note, line) = cosigned(&cp, &wk, secs(&clock, 60));
        clock.set(Timestamp(clock.now().0 + 120_000_000));
        let seq = destroy(
            &l,
            &clock,
            Some(TimeCitation::cosignature(&cp.to_body(), &line).unwrap()),
        );
        drop(l);
        let notes = if covering {
            vec![term_note]
        } else {
            assert!(cp.size < seq);
            vec![term_note, cited_note]
        };
        let v = verify_dir(dir.path(), &policy(vec![wv], notes)).unwrap();
        let a = v.attestation(seq).unwrap();
        assert_eq!(a.cited_size, Some(cp.size));
        if covering {
            assert_eq!(kinds(&v), vec![(K::BadTimeCitation, Some(seq))]);
            assert!(
                v.findings()[0]
                    .evidence
                    .message
                    .contains("cannot have been seen before the destruction"),
                "{:?}",
                v.findings()
            );
            assert_eq!(a.basis, Basis::LedgerClock, "{a:?}");
        } else {
            assert!(v.is_clean(), "{:?}", v.findings());
            assert_eq!(a.basis, Basis::Attested, "{a:?}");
        }
    }
}

/// A witness counts by its name and key together (`--witness` names both): a key under the
/// same name that is not the one the relying party named is not that witness. Its
/// cosignature simply does not count (no finding: it may be genuine, just not trusted).
#[test]
fn a_cosignature_under_the_named_witness_name_but_another_key_does_not_count() {
    let dir = tempdir("att-same-name");
    let (term_note, cited_note, _, seq, _, _) = anchored_history(dir.path(), "2023-02-01");
    let impostor = CosignatureVerifier::new(W1, key(42).public_key()).unwrap();
    let v = verify_dir(
        dir.path(),
        &policy(vec![impostor], vec![term_note, cited_note]),
    )
    .unwrap();
    let a = v.attestation(seq).unwrap();
    assert!(
        !kinds(&v).iter().any(|(k, _)| *k == K::BadTimeCitation),
        "{:?}",
        v.findings()
    );
    assert_eq!(a.cited_by, None, "{a:?}");
    assert!(
        a.not_counted.as_deref().unwrap().contains("--witness"),
        "{a:?}"
    );
    assert_eq!(a.basis, Basis::LedgerClock, "{a:?}");
}

/// The attested lawful date needs outside time for every entry it rests on: a contact after
/// the termination moves the retention clock, and if no outside time covers that contact,
/// the date is not attested, however well the termination is anchored.
#[test]
fn a_later_contact_without_outside_time_leaves_the_date_unattested() {
    let dir = tempdir("att-late-contact");
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir.path(), &clock, Durability::Immediate);
    open_and_terminate(&l, &clock, "2018-01-10");
    let (wk, wv) = witness(41);
    let (term_note, _) = cosigned(&head_checkpoint(&l), &wk, secs(&clock, 3600));
    clock.set_day("2019-06-01");
    let (e, p) = C.licensee_event(&clock, &rid("C-1"), EventKind::Contact, Some(b"c"));
    l.append(e, p).unwrap();
    clock.set_day("2024-07-01");
    other_note(&l, &clock);
    let cp = head_checkpoint(&l);
    let (_, line) = cosigned(&cp, &wk, secs(&clock, 60));
    clock.set(Timestamp(clock.now().0 + 120_000_000));
    let seq = destroy(
        &l,
        &clock,
        Some(TimeCitation::cosignature(&cp.to_body(), &line).unwrap()),
    );
    drop(l);
    // Only the 2018 seal's cosigned note is held: nothing outside covers the 2019 contact.
    let v = verify_dir(dir.path(), &policy(vec![wv], vec![term_note])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.attestation(seq).unwrap();
    assert!(
        a.termination_seen.is_some() && a.cited_time.is_some(),
        "{a:?}"
    );
    assert_eq!(a.service_seen, None, "{a:?}");
    assert_eq!(a.attested_lawful_from, None, "{a:?}");
    assert_eq!(a.ledger_lawful_from, Some(date("2024-06-02")), "{a:?}");
    assert_eq!(a.basis, Basis::LedgerClock, "{a:?}");
}
