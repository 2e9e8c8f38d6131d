//! Issue 14, outside time on the relying party's terms: ledgers written by the real store
//! with the injectable clock, seals cosigned by hand-built witnesses at chosen times and
//! supplied as the auditor's copies, judged by `caseledger_verify::outside_time`'s rule.

use caseledger_core::checkpoint::{
    append_cosignature, cosign, sign_checkpoint, Checkpoint, CosignatureVerifier,
};
use caseledger_core::event::EventKind;
use caseledger_core::keys::SigningKey;
use caseledger_core::Timestamp;
use caseledger_store::{Durability, Ledger};
use caseledger_testkit::tsa::{TestTsa, TsaOptions};
use caseledger_testkit::{
    all_entry_bytes, key, rid, root_of_entries, tempdir, verify_dir, Cast, TestClock,
};
use caseledger_timestamp::{check_response, TimestampRequest, TrustedRoots};
use caseledger_verify::{FindingKind as K, Policy, TimeSpan, Verified};
use std::path::Path;

const C: Cast = Cast::PRACTICE;
const HOUR: i64 = 3_600_000_000;

/// A witness: its key and the verifier the relying party names.
fn witness(name: &str, seed: u8) -> (SigningKey, CosignatureVerifier) {
    let k = key(seed);
    let v = CosignatureVerifier::new(name, k.public_key()).unwrap();
    (k, v)
}

/// The seal of size `size` of `l` (signed with the ledger key), cosigned by each witness at
/// its time (seconds).
fn cosigned(l: &Ledger, size: u64, by: &[(&str, &SigningKey, i64)]) -> String {
    let entries = all_entry_bytes(l);
    let cp = Checkpoint::new(
        C.origin,
        size,
        root_of_entries(&entries[..usize::try_from(size).unwrap()]),
    )
    .unwrap();
    let mut note = sign_checkpoint(&cp, &C.signer());
    for (name, k, micros) in by {
        let line = cosign(&cp, name, k, u64::try_from(micros / 1_000_000).unwrap()).unwrap();
        note = append_cosignature(&note, &line).unwrap();
    }
    note
}

fn note_progress(l: &Ledger, clock: &TestClock) -> u64 {
    let (e, p) = C.licensee_event(clock, &rid("C-1"), EventKind::ProgressNote, Some(b"note"));
    l.append(e, p).unwrap().seq.0
}

/// A staffed ledger in 2018 with C-1 opened and one note; returns the ledger, clock, size.
fn ledger(dir: &Path) -> (Ledger, TestClock) {
    let clock = TestClock::at("2018-01-10");
    let l = C.staffed_on(dir, &clock, Durability::Immediate);
    let (e, p) = C.licensee_event(&clock, &rid("C-1"), EventKind::RecordOpened, Some(b"i"));
    l.append(e, p).unwrap();
    note_progress(&l, &clock);
    (l, clock)
}

fn policy(witnesses: Vec<CosignatureVerifier>, quorum: usize, notes: Vec<String>) -> Policy {
    Policy {
        witnesses,
        quorum,
        checkpoints: notes,
        ..Policy::default()
    }
}

fn kinds(v: &Verified) -> Vec<(K, Option<u64>)> {
    v.findings().iter().map(|f| (f.kind, f.seq)).collect()
}

#[test]
fn an_honest_ledger_has_no_finding_and_its_lag_is_reported() {
    let dir = tempdir("ot-honest");
    let (l, clock) = ledger(dir.path());
    let size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    let at = clock.now().0 + HOUR;
    let note = cosigned(&l, size, &[("w1.example", &wk, at)]);
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv], 1, vec![note])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let o = v.outside_time().expect("outside time judged");
    assert_eq!((o.covered, o.uncovered), (size, 0));
    // Every entry was recorded within microseconds of the clock: about an hour of lag.
    assert!(o.max_lag_secs.unwrap() >= 3_599 && o.max_lag_secs.unwrap() <= 3_600);
    assert_eq!(o.newest, Some(Timestamp(at / 1_000_000 * 1_000_000)));
    assert_eq!(
        o.policy,
        "outside time from witness w1.example (quorum 1); skew 5m"
    );
}

#[test]
fn entries_recorded_under_a_forward_clock_are_ahead_of_the_next_cosigned_seal() {
    let dir = tempdir("ot-forward");
    let (l, clock) = ledger(dir.path());
    let honest = l.head().size;
    let real = clock.now().0;
    // The insider sets the clock five years ahead and writes two entries.
    clock.set(Timestamp(real + 5 * 365 * 24 * HOUR));
    let first = note_progress(&l, &clock);
    note_progress(&l, &clock);
    let size = l.head().size;
    // The next seal is cosigned on the real clock, ten minutes later.
    let (wk, wv) = witness("w1.example", 31);
    let note = cosigned(&l, size, &[("w1.example", &wk, real + HOUR / 6)]);
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv.clone()], 1, vec![note])).unwrap();
    assert_eq!(kinds(&v), vec![(K::ClockAheadOfWitness, Some(first))]);
    let f = &v.findings()[0];
    assert_eq!(first, honest);
    assert!(
        f.evidence
            .message
            .starts_with(&format!("2 entries (seq {first}..={})", size - 1)),
        "{f}"
    );
    assert!(
        f.evidence.message.contains(&format!(
            "checkpoint of size {size} was seen by witness w1.example"
        )),
        "{f}"
    );
    // Without a named witness nothing outside is judged, and the verifier's own clock
    // (today, after 2023) sees nothing wrong: the cosignature is what catches it.
    let v = verify_dir(dir.path(), &Policy::default()).unwrap();
    assert!(v.outside_time().is_none());
    assert!(!kinds(&v).iter().any(|(k, _)| *k == K::ClockAheadOfWitness));
}

#[test]
fn a_witness_time_slightly_before_recorded_at_is_within_the_skew() {
    let dir = tempdir("ot-skew");
    let (l, clock) = ledger(dir.path());
    let size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    // The witness's clock is two minutes behind the ledger's.
    let note = cosigned(
        &l,
        size,
        &[("w1.example", &wk, clock.now().0 - 2 * 60_000_000)],
    );
    drop(l);
    let p = policy(vec![wv], 1, vec![note]);
    let v = verify_dir(dir.path(), &p).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert!(v.outside_time().unwrap().max_lag_secs.unwrap() < 0);
    // A relying party who allows only one minute of skew gets a finding.
    let strict = Policy {
        skew: Some("1m".parse::<TimeSpan>().unwrap()),
        ..p
    };
    let v = verify_dir(dir.path(), &strict).unwrap();
    assert_eq!(
        v.findings()[0].kind,
        K::ClockAheadOfWitness,
        "{:?}",
        v.findings()
    );
    assert!(v.findings()[0].evidence.message.contains("skew 1m"));
}

#[test]
fn with_quorum_two_one_witness_with_a_slow_clock_is_tolerated() {
    let dir = tempdir("ot-quorum");
    let (l, clock) = ledger(dir.path());
    let size = l.head().size;
    let (k1, w1) = witness("w1.example", 31);
    let (k2, w2) = witness("w2.example", 32);
    let now = clock.now().0;
    // w2's clock runs a day slow: alone it would accuse an honest ledger.
    let note = cosigned(
        &l,
        size,
        &[
            ("w1.example", &k1, now + 60_000_000),
            ("w2.example", &k2, now - 24 * HOUR),
        ],
    );
    drop(l);
    let both = vec![w1, w2];
    let v = verify_dir(dir.path(), &policy(both.clone(), 2, vec![note.clone()])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert!(v
        .outside_time()
        .unwrap()
        .policy
        .contains("witnesses w1.example, w2.example (quorum 2)"));
    // With quorum 1 (f = 0) the earliest time counts: the slow clock is a finding.
    let v = verify_dir(dir.path(), &policy(both, 1, vec![note])).unwrap();
    assert!(
        kinds(&v).contains(&(K::ClockAheadOfWitness, Some(0))),
        "{:?}",
        v.findings()
    );
    assert!(v
        .findings()
        .iter()
        .any(|f| f.evidence.message.contains("witness w2.example")));
}

/// A ledger whose seal at `cosigned_size` one witness cosigned (at `seen`, in `note`), then
/// one more entry (`head`, the last) written ten days later, which no witness has seen.
struct Stale {
    cosigned_size: u64,
    wv: CosignatureVerifier,
    seen: i64,
    note: String,
    head: u64,
}

fn cosigned_then_written_ten_days_later(dir: &Path) -> Stale {
    let (l, clock) = ledger(dir);
    let cosigned_size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    let seen = clock.now().0 + 60_000_000;
    let note = cosigned(&l, cosigned_size, &[("w1.example", &wk, seen)]);
    clock.set(Timestamp(clock.now().0 + 240 * HOUR));
    let head = note_progress(&l, &clock);
    assert_eq!(l.head().size, head + 1);
    drop(l);
    Stale {
        cosigned_size,
        wv,
        seen,
        note,
        head,
    }
}

#[test]
fn entries_after_the_newest_cosigned_seal_are_lag_not_findings_and_staleness_uses_the_head() {
    let dir = tempdir("ot-stale");
    let Stale {
        cosigned_size,
        wv,
        seen,
        note,
        head,
    } = cosigned_then_written_ten_days_later(dir.path());
    let size = head + 1;
    // No --quorum: the witness quorum on the newest seal is not required (it has none),
    // and one witness's time is a bound.
    let p = policy(vec![wv], 0, vec![note]);
    let v = verify_dir(dir.path(), &p).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let o = v.outside_time().unwrap();
    assert_eq!(
        (o.covered, o.uncovered),
        (cosigned_size, size - cosigned_size)
    );
    // --max-staleness 7d: the head is ten days after the newest outside time.
    let stale = Policy {
        max_staleness: Some("7d".parse().unwrap()),
        ..p.clone()
    };
    let v = verify_dir(dir.path(), &stale).unwrap();
    assert_eq!(kinds(&v), vec![(K::AnchorStale, Some(size - 1))]);
    assert!(
        v.findings()[0]
            .evidence
            .message
            .contains("max staleness 7d"),
        "{}",
        v.findings()[0]
    );
    // 11d: not stale. And the verifier's own clock does not matter: years later, an idle
    // ledger is not stale.
    let lenient = Policy {
        max_staleness: Some("11d".parse().unwrap()),
        now: Some(Timestamp(seen + 3 * 365 * 24 * HOUR)),
        ..p
    };
    let v = verify_dir(dir.path(), &lenient).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
}

#[test]
fn with_no_outside_time_at_all_max_staleness_is_a_finding() {
    let dir = tempdir("ot-none");
    let (l, _) = ledger(dir.path());
    drop(l);
    let (_, wv) = witness("w1.example", 31);
    let p = Policy {
        witnesses: vec![wv],
        max_staleness: Some("7d".parse().unwrap()),
        ..Policy::default()
    };
    let v = verify_dir(dir.path(), &p).unwrap();
    assert_eq!(v.findings().len(), 1);
    assert_eq!(v.findings()[0].kind, K::AnchorStale);
    assert!(v.findings()[0].evidence.message.contains("no outside time"));
}

#[test]
fn a_cosignature_on_a_checkpoint_the_ledger_does_not_match_gives_no_time() {
    let dir = tempdir("ot-mismatch");
    let (l, clock) = ledger(dir.path());
    let size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    // A note over another root, cosigned long before the entries: not counted (it is a
    // root_mismatch finding of its own), so no clock finding either.
    let cp = Checkpoint::new(C.origin, size, caseledger_core::Hash([7; 32])).unwrap();
    let line = cosign(&cp, "w1.example", &wk, 1_000_000_000).unwrap();
    let note = append_cosignature(&sign_checkpoint(&cp, &C.signer()), &line).unwrap();
    let _ = clock;
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv], 0, vec![note])).unwrap();
    assert!(
        kinds(&v).iter().all(|(k, _)| *k != K::ClockAheadOfWitness),
        "{:?}",
        v.findings()
    );
    assert!(kinds(&v).iter().any(|(k, _)| *k == K::RootMismatch));
    assert_eq!(v.outside_time().unwrap().covered, 0);
}

#[test]
fn an_incremental_run_judges_the_entries_it_reads() {
    let dir = tempdir("ot-incremental");
    let (l, clock) = ledger(dir.path());
    drop(l);
    let first_run = verify_dir(
        dir.path(),
        &Policy {
            keep_resume_state: true,
            ..Policy::default()
        },
    )
    .unwrap();
    let state = first_run
        .resume_state()
        .expect("a clean run keeps its state")
        .clone();
    let l = C
        .open(dir.path(), clock.options(Durability::Immediate))
        .unwrap();
    let real = clock.now().0;
    clock.set(Timestamp(real + 5 * 365 * 24 * HOUR));
    let first = note_progress(&l, &clock);
    let size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    let note = cosigned(&l, size, &[("w1.example", &wk, real + HOUR)]);
    drop(l);
    let src = caseledger_verify::SledSource::open(dir.path()).unwrap();
    let v = caseledger_verify::verify_incremental(
        &src,
        &state,
        &policy(vec![wv], 1, vec![note]),
        &|_| {},
    )
    .unwrap();
    assert_eq!(v.incremental_from(), Some(state.size()));
    assert_eq!(kinds(&v), vec![(K::ClockAheadOfWitness, Some(first))]);
    let o = v.outside_time().unwrap();
    // Only the entries read are judged: those after the resume point.
    assert_eq!(
        (o.judged_from, o.covered + o.uncovered),
        (state.size(), size - state.size())
    );
}

#[test]
fn two_witness_keys_under_one_name_are_two_sources() {
    let dir = tempdir("ot-same-name");
    let (l, clock) = ledger(dir.path());
    let size = l.head().size;
    let (k1, w1) = witness("w.example", 31);
    let (k2, w2) = witness("w.example", 32);
    let now = clock.now().0;
    let note = cosigned(
        &l,
        size,
        &[
            ("w.example", &k1, now + 60_000_000),
            ("w.example", &k2, now - 24 * HOUR),
        ],
    );
    drop(l);
    // Quorum 2 is met by the two keys: the slow one is outvoted, not merged with the other.
    let v = verify_dir(dir.path(), &policy(vec![w1, w2], 2, vec![note])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.outside_time().unwrap().sources.len(), 2);
}

/// A token from a TSA whose clock reads `at` (faketime), over `body`, appended to the
/// ledger's `timestamps.log`.
fn timestamp_at(dir: &Path, tsa: &mut TestTsa, at: &str, body: &str) {
    tsa.clock = Some(at.to_owned());
    let req = TimestampRequest::new(body.as_bytes()).unwrap();
    let received = check_response(&tsa.reply(req.to_der()), &req).unwrap();
    let record = caseledger_timestamp::log::frame(body, received.to_der()).unwrap();
    let path = dir.join("timestamps.log");
    let mut log = std::fs::read(&path).unwrap_or_default();
    log.extend(record);
    std::fs::write(&path, log).unwrap();
}

/// A test TSA whose certificates were issued before 2018 (so that tokens dated then
/// verify), and a policy whose relying party trusts its root.
fn tsa_of_2017() -> (TestTsa, Policy) {
    let tsa = TestTsa::new(&TsaOptions {
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
    (tsa, p)
}

#[test]
fn a_tsa_token_bounds_the_entries_its_seal_covers_and_a_token_over_another_root_counts_for_nothing()
{
    let dir = tempdir("ot-tsa");
    let (l, _) = ledger(dir.path());
    let size = l.head().size;
    let entries = all_entry_bytes(&l);
    drop(l);
    let body = Checkpoint::new(C.origin, size, root_of_entries(&entries))
        .unwrap()
        .to_body();
    let (mut tsa, p) = tsa_of_2017();
    // The entries were recorded at noon; a token an hour later bounds them all.
    timestamp_at(dir.path(), &mut tsa, "2018-01-10 13:00:00", &body);
    let v = verify_dir(dir.path(), &p).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let o = v.outside_time().unwrap();
    assert_eq!((o.tokens_counted, o.covered), (1, size));
    assert!(o
        .policy
        .starts_with("outside time from TSA chain ca.pem (quorum 1)"));
    // A token over a checkpoint with another root is not this ledger's evidence.
    let forged = Checkpoint::new(C.origin, size, caseledger_core::Hash([7; 32]))
        .unwrap()
        .to_body();
    timestamp_at(dir.path(), &mut tsa, "2018-01-10 09:00:00", &forged);
    let v = verify_dir(dir.path(), &p).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let o = v.outside_time().unwrap();
    assert_eq!(o.tokens_counted, 1);
    assert!(
        o.tokens_ignored[0].contains("root is not the ledger's"),
        "{:?}",
        o.tokens_ignored
    );
    // A token over the real seal dated an hour before noon: the entries claim a later time.
    timestamp_at(dir.path(), &mut tsa, "2018-01-10 11:00:00", &body);
    let v = verify_dir(dir.path(), &p).unwrap();
    assert_eq!(kinds(&v), vec![(K::ClockAheadOfWitness, Some(0))]);
    assert!(
        v.findings()[0].evidence.message.contains("seen by TSA "),
        "{}",
        v.findings()[0]
    );
}

/// The `recorded_at` of each stored entry, in order.
fn recorded(l: &Ledger) -> Vec<Timestamp> {
    all_entry_bytes(l)
        .iter()
        .map(|b| {
            caseledger_core::event::Entry::from_bytes(b)
                .unwrap()
                .recorded_at
        })
        .collect()
}

const SEC: i64 = 1_000_000;

/// Moves the clock to the next whole second at least `after` micros on, and writes one note
/// there: its `recorded_at` is that second exactly (witness times are whole seconds, so the
/// boundaries below are exact). Returns the note's seq and its `recorded_at`.
fn note_at_whole_second(l: &Ledger, clock: &TestClock, after: i64) -> (u64, i64) {
    let t = (clock.now().0 + after) / SEC * SEC + SEC;
    clock.set(Timestamp(t));
    let seq = note_progress(l, clock);
    let rec = recorded(l)[usize::try_from(seq).unwrap()].0;
    assert_eq!(rec, t, "the store stamps the clock's reading");
    (seq, rec)
}

/// The rule is `recorded_at > B(i) + skew`: an entry recorded exactly the skew after the
/// witness saw it is within the tolerance (as `clock_ahead` allows exactly its skew); one
/// second more is ahead.
#[test]
fn recorded_exactly_the_skew_after_the_witness_time_is_not_ahead() {
    let dir = tempdir("ot-skew-edge");
    let (l, clock) = ledger(dir.path());
    let (last, rec) = note_at_whole_second(&l, &clock, HOUR);
    let size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    let skew = 5 * 60 * SEC;
    let exactly = cosigned(&l, size, &[("w1.example", &wk, rec - skew)]);
    let one_more = cosigned(&l, size, &[("w1.example", &wk, rec - skew - SEC)]);
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv.clone()], 1, vec![exactly])).unwrap();
    assert!(v.is_clean(), "exactly the skew: {:?}", v.findings());
    let v = verify_dir(dir.path(), &policy(vec![wv], 1, vec![one_more])).unwrap();
    assert_eq!(
        kinds(&v),
        vec![(K::ClockAheadOfWitness, Some(last))],
        "the skew and a second"
    );
}

/// `anchor_stale` is "more than `--max-staleness` after the newest outside time": a head
/// recorded exactly `D` after it is not stale, a second more is.
#[test]
fn a_head_exactly_max_staleness_after_the_newest_outside_time_is_not_stale() {
    let dir = tempdir("ot-stale-edge");
    let (l, clock) = ledger(dir.path());
    let cosigned_size = l.head().size;
    // The head is written a week (to the second) after the witness saw the earlier seal.
    let (head, rec) = note_at_whole_second(&l, &clock, 7 * 24 * HOUR);
    let seen = rec - 7 * 24 * HOUR;
    let (wk, wv) = witness("w1.example", 31);
    let exactly = cosigned(&l, cosigned_size, &[("w1.example", &wk, seen)]);
    let one_more = cosigned(&l, cosigned_size, &[("w1.example", &wk, seen - SEC)]);
    drop(l);
    // No --quorum: the newest seal (the head's) has no cosignature, and is not required to.
    let stale = |note: String| Policy {
        max_staleness: Some("7d".parse().unwrap()),
        ..policy(vec![wv.clone()], 0, vec![note])
    };
    let v = verify_dir(dir.path(), &stale(exactly)).unwrap();
    assert!(v.is_clean(), "exactly 7d: {:?}", v.findings());
    assert_eq!(v.outside_time().unwrap().newest, Some(Timestamp(seen)));
    let v = verify_dir(dir.path(), &stale(one_more)).unwrap();
    assert_eq!(
        kinds(&v),
        vec![(K::AnchorStale, Some(head))],
        "7d and a second"
    );
}

/// `T_w(i)` is the earliest time a source gives to ANY checkpoint covering entry `i`: a
/// witness that saw an earlier seal soon after it was made bounds the entries of that seal,
/// even though it also cosigned a later seal days later.
#[test]
fn the_earliest_seal_a_witness_saw_bounds_the_entries_it_covers() {
    let dir = tempdir("ot-earliest");
    let (l, clock) = ledger(dir.path());
    let real = clock.now().0;
    // One entry under a clock a day ahead; the witness saw its seal ten minutes after noon.
    clock.set(Timestamp(real + 24 * HOUR));
    let ahead = note_progress(&l, &clock);
    let first_seal = l.head().size;
    // Later entries, and a seal the witness saw two days on (honestly after them all).
    note_progress(&l, &clock);
    let size = l.head().size;
    let (wk, wv) = witness("w1.example", 31);
    let early = cosigned(&l, first_seal, &[("w1.example", &wk, real + HOUR / 6)]);
    let late = cosigned(&l, size, &[("w1.example", &wk, real + 48 * HOUR)]);
    drop(l);
    // Either order of the auditor's copies: the earliest time is the bound.
    for notes in [
        vec![early.clone(), late.clone()],
        vec![late.clone(), early.clone()],
    ] {
        let v = verify_dir(dir.path(), &policy(vec![wv.clone()], 1, notes)).unwrap();
        assert_eq!(kinds(&v), vec![(K::ClockAheadOfWitness, Some(ahead))]);
        assert!(
            v.findings()[0]
                .evidence
                .message
                .contains(&format!("checkpoint of size {first_seal} was seen")),
            "{}",
            v.findings()[0]
        );
    }
    // The later seal alone bounds nothing too early: no finding.
    let v = verify_dir(dir.path(), &policy(vec![wv], 1, vec![late])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
}

/// An entry whose stored bytes do not decode claims no `recorded_at`: it is a
/// `malformed_entry`, and it neither counts as ahead nor enters the anchor lag (a lag from
/// "no time" to the bound would be meaningless).
#[test]
fn an_entry_that_does_not_decode_claims_no_time_and_has_no_lag() {
    let dir = tempdir("ot-undecodable");
    let (l, clock) = ledger(dir.path());
    let size = l.head().size;
    let mut entries = all_entry_bytes(&l);
    drop(l);
    let damaged = size - 1;
    // Its first half: the format version is intact, the rest does not decode.
    let whole = &entries[usize::try_from(damaged).unwrap()];
    let garbage = whole[..whole.len() / 2].to_vec();
    caseledger_testkit::tamper::edit_raw(dir.path(), "entries", &damaged.to_be_bytes(), |_| {
        Some(garbage.clone())
    });
    // A seal over the stored bytes as they are now (the ledger key holder resealed them),
    // cosigned an hour after the entries: the damaged entry has a bound but no time.
    entries[usize::try_from(damaged).unwrap()] = garbage;
    let cp = Checkpoint::new(C.origin, size, root_of_entries(&entries)).unwrap();
    let (wk, wv) = witness("w1.example", 31);
    let at = clock.now().0 + HOUR;
    let line = cosign(&cp, "w1.example", &wk, u64::try_from(at / SEC).unwrap()).unwrap();
    let note = append_cosignature(&sign_checkpoint(&cp, &C.signer()), &line).unwrap();
    let v = verify_dir(dir.path(), &policy(vec![wv], 1, vec![note])).unwrap();
    assert!(
        kinds(&v).contains(&(K::MalformedEntry, Some(damaged))),
        "{:?}",
        v.findings()
    );
    assert!(!kinds(&v).iter().any(|(k, _)| *k == K::ClockAheadOfWitness));
    let o = v.outside_time().unwrap();
    // The decodable entries were recorded about an hour before the witness saw them.
    let max = o.max_lag_secs.unwrap();
    assert!((3_599..=3_600).contains(&max), "max lag {max}");
    assert_eq!((o.covered, o.uncovered), (size - 1, 0));
}

/// A TSA token is evidence for whatever checkpoint body of this ledger it is over, at any
/// size up to the ledger's, whether or not the store ever sealed that size (an anchoring job
/// may timestamp a checkpoint the relying party computes). A token over more entries than
/// the ledger holds is not counted, and the summary says why.
#[test]
fn a_tsa_token_over_any_size_the_ledger_holds_counts_and_one_beyond_it_does_not() {
    let dir = tempdir("ot-tsa-sizes");
    let (l, clock) = ledger(dir.path());
    // Three notes in one batch: one seal, at the batch's end; the sizes inside it are never
    // sealed, so no stored checkpoint names them.
    let batch = (0..3)
        .map(|_| C.licensee_event(&clock, &rid("C-1"), EventKind::ProgressNote, Some(b"n")))
        .collect();
    l.append_batch(batch).unwrap();
    let size = l.head().size;
    let entries = all_entry_bytes(&l);
    drop(l);
    let inner = size - 1;
    let sealed: Vec<u64> = caseledger_core::layout::parse_checkpoints_log(
        &std::fs::read(caseledger_testkit::tamper::log_path(dir.path())).unwrap(),
    )
    .unwrap()
    .iter()
    .map(|n| {
        let note = caseledger_core::note::Note::parse(n.as_bytes()).unwrap();
        Checkpoint::parse_body(note.text()).unwrap().size
    })
    .collect();
    assert!(!sealed.contains(&inner), "no seal at {inner}: {sealed:?}");
    let body = |n: u64, root| Checkpoint::new(C.origin, n, root).unwrap().to_body();
    let (mut tsa, p) = tsa_of_2017();
    let inner_root = root_of_entries(&entries[..usize::try_from(inner).unwrap()]);
    timestamp_at(
        dir.path(),
        &mut tsa,
        "2018-01-10 13:00:00",
        &body(inner, inner_root),
    );
    timestamp_at(
        dir.path(),
        &mut tsa,
        "2018-01-10 13:00:00",
        &body(size + 1, caseledger_core::Hash([7; 32])),
    );
    let v = verify_dir(dir.path(), &p).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let o = v.outside_time().unwrap();
    assert_eq!(o.tokens_counted, 1, "{:?}", o.tokens_ignored);
    // The token bounds the entries its checkpoint covers; the last entry has no time yet.
    assert_eq!((o.covered, o.uncovered), (inner, 1));
    assert_eq!(o.tokens_ignored.len(), 1);
    assert!(
        o.tokens_ignored[0].contains(&format!(
            "size {}: its checkpoint names {} entries, more than the ledger holds",
            size + 1,
            size + 1
        )),
        "{:?}",
        o.tokens_ignored
    );
}

/// One `clock_ahead_of_witness` finding per run of CONSECUTIVE entries ahead of their bound:
/// two runs separated by entries within their bound are two findings, each naming its own
/// first entry and the checkpoint that bounds it.
#[test]
fn two_runs_of_entries_ahead_separated_by_honest_entries_are_two_findings() {
    let dir = tempdir("ot-two-runs");
    let (l, clock) = ledger(dir.path());
    let real = clock.now().0;
    let (wk, wv) = witness("w1.example", 31);
    // A: a day ahead; its seal was seen ten minutes after noon.
    clock.set(Timestamp(real + 24 * HOUR));
    let a = note_progress(&l, &clock);
    let first = cosigned(&l, l.head().size, &[("w1.example", &wk, real + HOUR / 6)]);
    // Two entries the same day, whose seal was seen the day after: within their bound.
    note_progress(&l, &clock);
    note_progress(&l, &clock);
    let second = cosigned(&l, l.head().size, &[("w1.example", &wk, real + 48 * HOUR)]);
    // D: four days on; its seal was seen on the third day.
    clock.set(Timestamp(real + 96 * HOUR));
    let d = note_progress(&l, &clock);
    let third_size = l.head().size;
    let third = cosigned(&l, third_size, &[("w1.example", &wk, real + 72 * HOUR)]);
    drop(l);
    let v = verify_dir(dir.path(), &policy(vec![wv], 1, vec![first, second, third])).unwrap();
    assert_eq!(
        kinds(&v),
        vec![
            (K::ClockAheadOfWitness, Some(a)),
            (K::ClockAheadOfWitness, Some(d))
        ]
    );
    let msgs: Vec<&str> = v
        .findings()
        .iter()
        .map(|f| f.evidence.message.as_str())
        .collect();
    assert!(
        msgs[0].starts_with(&format!("1 entry (seq {a}..={a})"))
            && msgs[0].contains(&format!("checkpoint of size {} was seen", a + 1)),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].starts_with(&format!("1 entry (seq {d}..={d})"))
            && msgs[1].contains(&format!("checkpoint of size {third_size} was seen")),
        "{}",
        msgs[1]
    );
}

/// Staleness is measured from the head's `recorded_at`, the newest entry that decodes: an
/// entry stored after it whose bytes do not decode claims no time and does not move the
/// head (to "no time", which would never be stale).
#[test]
fn staleness_is_measured_from_the_newest_entry_that_decodes() {
    let dir = tempdir("ot-stale-undecodable");
    let Stale { wv, note, head, .. } = cosigned_then_written_ten_days_later(dir.path());
    caseledger_testkit::tamper::edit_raw(dir.path(), "entries", &(head + 1).to_be_bytes(), |_| {
        Some(vec![1, 2, 3])
    });
    let p = Policy {
        max_staleness: Some("7d".parse().unwrap()),
        ..policy(vec![wv], 0, vec![note])
    };
    let v = verify_dir(dir.path(), &p).unwrap();
    assert!(
        kinds(&v).contains(&(K::UnsupportedVersion, Some(head + 1))),
        "{:?}",
        v.findings()
    );
    assert!(
        kinds(&v).iter().any(|(k, _)| *k == K::AnchorStale),
        "{:?}",
        v.findings()
    );
}
