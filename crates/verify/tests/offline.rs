//! Archives, evidence bundles and retention reports, from the store-built practice ledger.

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::note::NoteSigner;
use caseledger_core::Timestamp;
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{date, key, rid, Cast};
use caseledger_verify::asof::verify_as_of;
use caseledger_verify::bundle::{verify_bundle, Bundle, BundleEntry};
use caseledger_verify::report::{
    fingerprint, sign_report, verify_report, ReportContext, ReportError, RetentionReport, RULE_12,
    SCHEMA_V2, SELF_ATTESTED_WORDS,
};
use caseledger_verify::{
    verify, ArchiveSource, FindingKind as K, LedgerSource, MemorySource, Policy, SledSource,
    VerifyError,
};

fn trusted() -> Policy {
    Cast::PRACTICE.policy(vec![])
}

/// What `caseledger export --record R` writes: the store appends the record's
/// `record_head` to the practice ledger (ledger clock a second after its last entry) and
/// proves the bundle against a fresh checkpoint. No KEK: the payloads stay encrypted.
fn make_bundle(fx: &Fixture, record: &str) -> Bundle {
    let last = load(fx.path()).last().unwrap().entry.recorded_at;
    let clock = caseledger_testkit::TestClock::at_time(Timestamp(last.0 + 1_000_000));
    let ledger = caseledger_store::Ledger::open(
        fx.path(),
        caseledger_store::OpenOptions::default()
            .with_clock(clock.fixed_clock())
            .with_ledger_key(Cast::PRACTICE.ledger_key()),
    )
    .unwrap();
    let b = ledger
        .export_bundle(&rid(record), &Cast::PRACTICE.signer())
        .unwrap();
    ledger.close().unwrap();
    b
}

#[test]
fn archive_of_the_store_verifies_like_the_store() {
    let fx = fixture();
    let path = fx.dir.path().join("ledger.archive");
    let ledger = caseledger_store::Ledger::open(
        fx.path(),
        caseledger_store::OpenOptions::default().with_kek(caseledger_testkit::kek()),
    )
    .unwrap();
    ledger
        .export_archive(std::fs::File::create(&path).unwrap(), true)
        .unwrap();
    ledger.close().unwrap();
    let v = verify(
        &ArchiveSource::open(&path).unwrap(),
        &Cast::PRACTICE.policy(vec![]),
        &|_| {},
    )
    .unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let s = verify(
        &SledSource::open(fx.path()).unwrap(),
        &Cast::PRACTICE.policy(vec![]),
        &|_| {},
    )
    .unwrap();
    assert_eq!((v.size(), v.root()), (s.size(), s.root()));
    assert_eq!(v.checkpoint().unwrap().size, s.size());
    // A damaged archive is an error (nothing concluded), not a verdict.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        verify(
            &ArchiveSource::open(&path).unwrap(),
            &Cast::PRACTICE.policy(vec![]),
            &|_| {}
        ),
        Err(VerifyError::Archive { .. })
    ));
    assert!(matches!(
        ArchiveSource::open(&fx.dir.path().join("nope")),
        Err(VerifyError::NotFound(_))
    ));
}

#[test]
fn clean_bundles_verify_and_reveal_no_other_client() {
    let fx = fixture();
    for record in ["C-A", "C-B", "C-C", "C-D"] {
        let b = make_bundle(&fx, record);
        let json = b.to_json().unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        for other in ["C-A", "C-B", "C-C", "C-D"]
            .iter()
            .filter(|o| **o != record)
        {
            assert!(!text.contains(other), "bundle for {record} names {other}");
        }
        let back = Bundle::from_json(&json).unwrap();
        assert_eq!(back, b);
        let v = verify_bundle(&back, &Cast::PRACTICE.policy(vec![])).unwrap();
        assert!(v.is_clean(), "{record}: {:?}", v.findings());
        let c = v.complete().expect("complete");
        assert_eq!(
            (c.entries, c.head),
            (b.entries.len() as u64, b.entries.last().unwrap().seq)
        );
        assert!(!v.checkpoint_key_self_attested());
        assert!(verify_bundle(&back, &Policy::default())
            .unwrap()
            .checkpoint_key_self_attested());
    }
    // The destroyed record: no payloads, lawful destruction.
    let v = verify_bundle(&make_bundle(&fx, "C-A"), &Cast::PRACTICE.policy(vec![])).unwrap();
    assert!(v.state().unwrap().destroyed.as_ref().unwrap().lawful);
}

type BundleTamper = fn(&mut Bundle) -> Policy;

/// Bundle scenarios: one line each.
const BUNDLE_SCENARIOS: &[(&str, BundleTamper, K, Option<u64>)] = &[
    (
        "payload_byte_flip",
        |b| {
            let p = b.entries[1].payload.as_mut().unwrap();
            let l = p.0.len() - 1;
            p.0[l] ^= 1;
            Cast::PRACTICE.policy(vec![])
        },
        K::CommitmentMismatch,
        Some(20),
    ),
    (
        "payload_removed",
        |b| {
            b.entries[1].payload = None;
            Cast::PRACTICE.policy(vec![])
        },
        K::PayloadMissing,
        Some(20),
    ),
    (
        "proof_hash_flip",
        |b| {
            b.entries[0].proof[0].0[0] ^= 1;
            Cast::PRACTICE.policy(vec![])
        },
        K::BadInclusionProof,
        Some(19),
    ),
    (
        "entry_bit_flip",
        |b| {
            b.entries[0].entry.0[60] ^= 1;
            Cast::PRACTICE.policy(vec![])
        },
        K::BadInclusionProof,
        Some(19),
    ),
    (
        "author_signature_flip",
        |b| {
            let l = b.entries[1].entry.0.len() - 1;
            b.entries[1].entry.0[l] ^= 1;
            Cast::PRACTICE.policy(vec![])
        },
        K::BadSignature,
        Some(20),
    ),
    (
        "admin_entry_dropped",
        |b| {
            b.admin_entries.retain(|e| e.seq != 3);
            Cast::PRACTICE.policy(vec![])
        },
        K::UnauthorizedAuthor,
        Some(19),
    ),
    (
        "checkpoint_by_unknown_key",
        |b| {
            let cp = Checkpoint::parse_body(
                caseledger_core::note::Note::parse(b.checkpoint.as_bytes())
                    .unwrap()
                    .text(),
            )
            .unwrap();
            b.checkpoint = sign_checkpoint(&cp, &NoteSigner::new(ORIGIN, key(66)).unwrap());
            Cast::PRACTICE.policy(vec![])
        },
        K::CheckpointUntrustedKey,
        None,
    ),
    (
        "self_attested_key_swapped",
        |b| {
            let cp = Checkpoint::parse_body(
                caseledger_core::note::Note::parse(b.checkpoint.as_bytes())
                    .unwrap()
                    .text(),
            )
            .unwrap();
            let s = NoteSigner::new(ORIGIN, key(66)).unwrap();
            b.checkpoint = sign_checkpoint(&cp, &s);
            b.ledger_key = s.verifier().to_vkey_string();
            Policy::default()
        },
        K::BundleInconsistent,
        Some(0),
    ),
    (
        "middle_entry_omitted",
        |b| {
            b.entries.retain(|e| e.seq != 20);
            Cast::PRACTICE.policy(vec![])
        },
        K::BundleIncomplete,
        Some(20),
    ),
    (
        "ordinal_forged_to_the_maximum",
        |b| {
            // Untrusted arithmetic: a forged ordinal is a finding, never an overflow.
            let mut e = caseledger_core::event::Entry::from_bytes(&b.entries[1].entry.0).unwrap();
            e.placement.as_mut().unwrap().ordinal = u64::MAX;
            b.entries[1].entry.0 = e.to_bytes().unwrap();
            Cast::PRACTICE.policy(vec![])
        },
        K::BundleIncomplete,
        Some(19),
    ),
    (
        "record_head_omitted",
        |b| {
            b.entries.pop();
            Cast::PRACTICE.policy(vec![])
        },
        K::BundleIncomplete,
        None,
    ),
    (
        "other_records_entry_smuggled",
        |b| {
            let e = b.admin_entries[0].clone();
            b.entries.push(BundleEntry { seq: 99, ..e });
            Cast::PRACTICE.policy(vec![])
        },
        K::BundleInconsistent,
        Some(99),
    ),
];

#[test]
fn bundle_tamper_suite() {
    let fx = fixture();
    let clean = make_bundle(&fx, "C-C");
    let mut failures = Vec::new();
    for (name, tamper, kind, seq) in BUNDLE_SCENARIOS {
        let mut b = clean.clone();
        let policy = tamper(&mut b);
        let v = verify_bundle(&b, &policy).unwrap();
        if !v
            .findings()
            .iter()
            .any(|f| f.kind == *kind && f.seq == *seq)
        {
            failures.push(format!(
                "{name}: missing {kind:?} at {seq:?}; got {:?}",
                v.findings()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The gap is named: ordinal and seq; the missing head by the ordinal after the last.
    let mut b = clean.clone();
    b.entries.retain(|e| e.seq != 20);
    let last = b.entries.last().unwrap().seq;
    b.entries.pop();
    let v = verify_bundle(&b, &Cast::PRACTICE.policy(vec![])).unwrap();
    assert!(v.complete().is_none());
    let text: Vec<String> = v.findings().iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|f| f.starts_with(
            "bundle_incomplete at seq 20 (record C-C): the record's entry ordinal 2 is missing"
        )),
        "{text:?}"
    );
    let n = b.entries.len() + 1; // entries left, the omitted one in the middle
    assert!(
        text.iter().any(|f| f.contains(&format!(
            "does not end in a record_head: the record's entries from ordinal {} on",
            n + 1
        ))),
        "{text:?} (head was seq {last})"
    );
    let mut b = clean;
    b.format = "caseledger-bundle/v9".into();
    assert!(matches!(
        verify_bundle(&b, &Cast::PRACTICE.policy(vec![])),
        Err(VerifyError::BadBundle(_))
    ));
}

fn ctx(as_of: &str) -> ReportContext {
    ReportContext {
        as_of: date(as_of),
        time_zone: "UTC".into(),
        produced_at: Timestamp::start_of(date("2030-01-01")).unwrap(),
        identity: "reports@practice".into(),
        key: key(42).public_key(),
    }
}

/// The report as of the end of `as_of` (UTC) over `src`.
fn report_from(
    src: &dyn LedgerSource,
    policy: &Policy,
    as_of: &str,
    include_findings: bool,
) -> Result<RetentionReport, ReportError> {
    let cut = Timestamp::start_of(date(as_of).next_day().unwrap()).unwrap();
    let a = verify_as_of(src, policy, cut, &|_| {}).unwrap();
    RetentionReport::build(&a, policy, &ctx(as_of), include_findings)
}

fn report(
    fx: &Fixture,
    policy: &Policy,
    as_of: &str,
    include_findings: bool,
) -> Result<RetentionReport, ReportError> {
    report_from(
        &SledSource::open(fx.path()).unwrap(),
        policy,
        as_of,
        include_findings,
    )
}

fn status(r: &RetentionReport, id: &str) -> Option<String> {
    r.records
        .iter()
        .find(|x| x.id == id)
        .map(|x| x.status.clone())
}

#[test]
fn retention_report_is_canonical_signed_and_complete() {
    let fx = fixture();
    let r = report(&fx, &trusted(), "2024-06-01", false).unwrap();
    assert_eq!(r.schema, SCHEMA_V2);
    assert_eq!(r.integrity.verdict, "verified");
    assert_eq!(r.integrity.anchor.kind, "ledger_key");
    assert_eq!(
        r.integrity.anchor.ledger_keys,
        vec![Cast::PRACTICE.verifier().to_vkey_string()]
    );
    assert_eq!(r.recorded_before, "2024-06-02T00:00:00Z");
    assert_eq!(r.produced_at, "2030-01-01T00:00:00Z");
    assert_eq!(r.signer.identity, "reports@practice");
    assert_eq!(r.signer.fingerprint, fingerprint(&key(42).public_key()));
    assert!(r.signer.fingerprint.starts_with("SHA256:") && !r.signer.fingerprint.ends_with('='));
    assert_eq!(r.rule.retention, RULE_12);
    assert_eq!(r.rule.records.len(), 7);
    assert_eq!(status(&r, "C-A").as_deref(), Some("destroyed_lawfully"));
    assert_eq!(status(&r, "C-B").as_deref(), Some("retained"));
    assert_eq!(status(&r, "C-C").as_deref(), Some("open"));
    assert_eq!(status(&r, "C-D").as_deref(), Some("on_hold"));
    let b = r.records.iter().find(|x| x.id == "C-B").unwrap();
    assert_eq!(b.retained_until.as_deref(), Some("2026-03-02"));
    assert_eq!(b.lawful_from.as_deref(), Some("2026-03-03"));
    let a = r.records.iter().find(|x| x.id == "C-A").unwrap();
    // Private practice: A was terminated without a written termination notice (11)(F).
    assert_eq!(a.missing_items, vec!["11F_termination_notice".to_owned()]);
    assert_eq!(a.destruction.as_ref().unwrap().by, "cust-1");
    assert!(r.records.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        (
            r.totals.records,
            r.totals.open,
            r.totals.retained,
            r.totals.on_hold,
            r.totals.destroyed_lawfully
        ),
        (4, 1, 1, 1, 1)
    );
    // The whole ledger was recorded by then, and its last checkpoint is of exactly that size.
    assert_eq!(r.prefix.size, fx.size);
    assert_eq!(r.prefix.checkpoint.as_ref().unwrap().size, fx.size);
    assert_eq!(r.prefix.checkpoint.as_ref().unwrap().root, r.prefix.root);

    let bytes = r.to_canonical_json().unwrap();
    assert_eq!(
        bytes,
        report(&fx, &trusted(), "2024-06-01", false)
            .unwrap()
            .to_canonical_json()
            .unwrap()
    );
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("{\"schema\":\"caseledger-retention-report/v2\",\"origin\":"));
    for secret in ["intake", "note b1", "note c1", "$80", "phone call"] {
        assert!(!text.contains(secret), "report leaks payload {secret:?}");
    }
    let rkey = key(42);
    let sig = sign_report(&bytes, &rkey).unwrap();
    verify_report(&bytes, &sig, &rkey.public_key()).unwrap();
    let mut bad = bytes.clone();
    bad[10] ^= 1;
    assert!(verify_report(&bad, &sig, &rkey.public_key()).is_err());
    assert!(verify_report(&bytes, &sig, &key(43).public_key()).is_err());
    // Eligible after retention ran out.
    let later = report(&fx, &trusted(), "2026-03-03", false).unwrap();
    assert_eq!(status(&later, "C-B").as_deref(), Some("eligible"));
    // Without a key of the relying party, the verdict is self-attested, in verify's words.
    let own = report(&fx, &Policy::default(), "2024-06-01", false).unwrap();
    assert_eq!(own.integrity.anchor.kind, "self_attested");
    assert_eq!(own.integrity.anchor.words, SELF_ATTESTED_WORDS);
    assert!(own.integrity.checkpoint_key_self_attested);
    // An auditor's checkpoint anchors it.
    let held = checkpoint_note(10, root(&load(fx.path()), 10));
    let with_cp = Policy {
        checkpoints: vec![held],
        ..Policy::default()
    };
    let r = report(&fx, &with_cp, "2024-06-01", false).unwrap();
    assert_eq!(r.integrity.anchor.kind, "trusted_checkpoint");
    assert_eq!(r.integrity.anchor.trusted_checkpoints[0].size, 10);
}

#[test]
fn a_report_describes_the_ledger_as_it_stood_at_the_end_of_its_day() {
    let fx = fixture();
    // C-A was destroyed on 2021-03-01 (recorded that day); C-B's service, resumed in 2016,
    // terminated again on 2021-03-02.
    let r = report(&fx, &trusted(), "2021-02-28", false).unwrap();
    assert_eq!(r.integrity.verdict, "verified");
    assert!(r.prefix.size < fx.size);
    // The destruction recorded after the day is not shown as done, and the payloads it
    // removed since were there at the time: not content_missing.
    assert_eq!(status(&r, "C-A").as_deref(), Some("eligible"));
    let a = r.records.iter().find(|x| x.id == "C-A").unwrap();
    assert!(a.destruction.is_none());
    assert_eq!(status(&r, "C-B").as_deref(), Some("open"));
    assert_eq!(r.totals.destroyed_lawfully, 0);
    // The next day, it is.
    let r = report(&fx, &trusted(), "2021-03-01", false).unwrap();
    assert_eq!(status(&r, "C-A").as_deref(), Some("destroyed_lawfully"));
    // A record opened after the day does not appear.
    let r = report(&fx, &trusted(), "2015-12-31", false).unwrap();
    assert_eq!(
        r.records.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        vec!["C-A"]
    );
    assert_eq!(r.totals.records, 1);
    // The prefix of the 2015-01-06 entries is exactly the stored checkpoint of size 10.
    let r = report(&fx, &trusted(), "2015-01-06", false).unwrap();
    assert_eq!(r.prefix.size, 10);
    let cp = r
        .prefix
        .checkpoint
        .as_ref()
        .expect("the checkpoint of size 10");
    assert_eq!(cp.size, 10);
    assert_eq!(
        cp.root,
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            root(&load(fx.path()), 10)
        )
    );
    assert_eq!(r.prefix.root, cp.root);
    // One day later, no checkpoint has that size: the verifier's root is stated alone.
    let r = report(&fx, &trusted(), "2015-01-07", false).unwrap();
    assert!(r.prefix.size > 10 && r.prefix.checkpoint.is_none());
}

#[test]
fn a_past_report_is_the_same_whatever_was_recorded_after_its_day() {
    let fx = fixture();
    let items = load(fx.path());
    // The ledger as it stood at the end of 2016-07-01: its first entries, with every
    // payload that was stored then (C-A's were destroyed only in 2021), and the checkpoint
    // of size 10.
    let (practice_items, _) = practice_events();
    let mut then = MemorySource::default();
    let cut = Timestamp::start_of(date("2016-07-02")).unwrap();
    for (i, it) in items.iter().enumerate() {
        if it.entry.recorded_at >= cut {
            break;
        }
        then.entries.insert(i as u64, it.entry.to_bytes().unwrap());
        // Stored (encrypted) as they were then: C-A's from before its destruction.
        if practice_items[i].1.is_some() {
            let stored = it
                .payload
                .clone()
                .or_else(|| fx.kept.get(&(i as u64)).cloned())
                .unwrap();
            then.payloads.insert(i as u64, stored);
        }
    }
    then.checkpoints.push(checkpoint_note(10, root(&items, 10)));
    // The seal of the last commit of that day (the store seals every commit).
    let n = then.entries.len() as u64;
    then.checkpoints.push(checkpoint_note(n, root(&items, n)));
    // The fixture keeps only the seals of sizes 10 and the end: add that day's seal.
    caseledger_testkit::tamper::add_checkpoint(fx.path(), &checkpoint_note(n, root(&items, n)));
    let now = report(&fx, &trusted(), "2016-07-01", false).unwrap();
    let before = report_from(&then, &trusted(), "2016-07-01", false).unwrap();
    assert_eq!(
        String::from_utf8(now.to_canonical_json().unwrap()).unwrap(),
        String::from_utf8(before.to_canonical_json().unwrap()).unwrap()
    );
    assert_eq!(now.prefix.size, then.entries.len() as u64);
    assert!(now.records.iter().any(|r| r.id == "C-C"));
}

#[test]
fn report_refuses_findings_unless_included() {
    let fx = fixture();
    edit_raw(fx.path(), "payloads", &20u64.to_be_bytes(), |_| None);
    assert!(report(&fx, &trusted(), "2024-06-01", false).is_err());
    let r = report(&fx, &trusted(), "2024-06-01", true).unwrap();
    assert_eq!(r.integrity.verdict, "findings");
    assert_eq!(r.integrity.findings[0].kind, K::PayloadMissing);
    assert_eq!(status(&r, "C-C").as_deref(), Some("content_missing"));
    let json = String::from_utf8(r.to_canonical_json().unwrap()).unwrap();
    assert!(json.contains("\"kind\":\"payload_missing\""));
}
