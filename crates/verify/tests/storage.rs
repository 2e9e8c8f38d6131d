//! The verifier over damaged sled storage: a stale `snap.*.generating` file (B1 in
//! docs/RELIABILITY.md), an emptied ledger (B4), and `Debug` output that must not show
//! payloads (B6). B5 (sled panicking inside `SledSource`) has no deterministic trigger here:
//! see the unit test of the guard in `src/source.rs` and the concurrency campaign.

use caseledger_core::Date;
use caseledger_core::Timestamp;
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{key, verify_dir, Cast};
use caseledger_verify::asof::verify_as_of;
use caseledger_verify::report::{ReportContext, ReportError, RetentionReport};
use caseledger_verify::{
    verify, FindingKind as K, LedgerSource, MemorySource, Policy, SledSource, Verified, VerifyError,
};
use std::path::Path;

/// Deletes every entry (and payload), as an attacker or a bad recovery would.
fn empty_entries(dir: &Path) {
    let db = db(dir);
    db.open_tree("entries").unwrap().clear().unwrap();
    db.open_tree("payloads").unwrap().clear().unwrap();
    db.flush().unwrap();
}

fn kinds(v: &Verified) -> Vec<K> {
    v.findings().iter().map(|f| f.kind).collect()
}

#[test]
fn a_stale_generating_snapshot_is_removed_and_the_ledger_verifies() {
    let fx = fixture();
    let sled_dir = fx.path().join("sled");
    // What a kill during sled's recovery leaves: an empty snapshot file named after a
    // higher lsn than any complete one, which sled 0.34.7 would read (and refuse).
    let stale = sled_dir.join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&stale, b"").unwrap();
    assert!(
        matches!(
            sled::Config::new().path(&sled_dir).open(),
            Err(sled::Error::Corruption { .. })
        ),
        "sled itself no longer trips on a stale .generating file: this test shows nothing"
    );
    let v = verify_dir(fx.path(), &Cast::PRACTICE.policy(vec![])).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.size(), fx.size);
    assert!(!stale.exists(), "the stale snapshot file is still there");
}

#[test]
fn a_generating_snapshot_is_left_alone_while_sled_has_the_ledger_open() {
    let fx = fixture();
    let sled_dir = fx.path().join("sled");
    let db = db(fx.path());
    // Stands for the snapshot an open sled (another verifier's) is writing right now.
    let writing = sled_dir.join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&writing, b"partial").unwrap();
    assert!(matches!(
        SledSource::open(fx.path()),
        Err(VerifyError::InUse(_))
    ));
    assert!(writing.exists(), "a snapshot being written was removed");
    drop(db);
}

#[test]
fn an_emptied_ledger_with_stored_checkpoints_is_truncation() {
    let fx = fixture();
    empty_entries(fx.path());
    let v = verify_dir(fx.path(), &Cast::PRACTICE.policy(vec![])).unwrap();
    assert!(!v.is_clean());
    assert_eq!(v.size(), 0);
    // One per stored checkpoint (sizes 10 and 32), each citing where it was found.
    assert_eq!(kinds(&v), vec![K::Truncation, K::Truncation]);
    for f in v.findings() {
        assert_eq!(f.seq, Some(0));
        assert!(
            f.evidence.message.contains("every entry was deleted"),
            "{f}"
        );
        assert!(!f.evidence.checkpoints.is_empty());
    }
    // It cannot become a clean report.
    let today = Date::parse("2030-01-01").unwrap();
    let policy = Cast::PRACTICE.policy(vec![]);
    let a = verify_as_of(
        &SledSource::open(fx.path()).unwrap(),
        &policy,
        Timestamp::start_of(today.next_day().unwrap()).unwrap(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(a.size(), 0);
    let ctx = ReportContext {
        as_of: today,
        time_zone: "UTC".into(),
        produced_at: Timestamp::start_of(today).unwrap(),
        identity: "reports".into(),
        key: key(42).public_key(),
    };
    assert!(matches!(
        RetentionReport::build(&a, &policy, &ctx, false),
        Err(ReportError::HasFindings(2))
    ));
    let r = RetentionReport::build(&a, &policy, &ctx, true).unwrap();
    assert_eq!(r.integrity.verdict, "findings");
}

#[test]
fn an_emptied_ledger_is_truncation_also_self_attested() {
    // The auditor gave no key and genesis, which names the ledger key, is gone: the
    // checkpoints' signatures cannot be checked, and the finding says so.
    let fx = fixture();
    empty_entries(fx.path());
    let v = verify_dir(fx.path(), &Policy::default()).unwrap();
    assert!(!v.is_clean());
    assert!(
        kinds(&v).iter().all(|k| *k == K::Truncation),
        "{:?}",
        kinds(&v)
    );
    assert!(v.findings()[0]
        .evidence
        .message
        .contains("could not be checked"));
}

#[test]
fn an_emptied_ledger_with_only_the_auditors_checkpoint_is_truncation() {
    let fx = fixture();
    let items = load(fx.path());
    let held = checkpoint_note(items.len() as u64, root(&items, items.len() as u64));
    clear_checkpoints(fx.path());
    empty_entries(fx.path());
    // Nothing in the directory names entries: alone it is "nothing to verify".
    assert!(matches!(
        verify_dir(fx.path(), &Cast::PRACTICE.policy(vec![])),
        Err(VerifyError::Empty(_))
    ));
    // The auditor's checkpoint does.
    let v = verify_dir(fx.path(), &Cast::PRACTICE.policy(vec![held])).unwrap();
    assert_eq!(kinds(&v), vec![K::Truncation]);
    assert_eq!(v.findings()[0].evidence.expected.as_deref(), Some("32"));
}

#[test]
fn an_emptied_ledger_checks_checkpoints_against_the_expected_origin_and_keys() {
    let fx = fixture();
    empty_entries(fx.path());
    // Another origin than the auditor expects: reported, not taken as evidence of size.
    let v = verify_dir(
        fx.path(),
        &Policy {
            expected_origin: Some("example.org/other".to_owned()),
            ..Cast::PRACTICE.policy(vec![])
        },
    )
    .unwrap();
    assert!(
        kinds(&v).iter().all(|k| *k == K::CheckpointWrongOrigin),
        "{:?}",
        kinds(&v)
    );
    // Signed by a key the auditor does not trust: reported as such (still a finding).
    let v = verify_dir(
        fx.path(),
        &Policy {
            trusted_keys: vec![caseledger_core::note::NoteVerifier::new(
                "someone-else",
                key(99).public_key(),
            )
            .unwrap()],
            ..Policy::default()
        },
    )
    .unwrap();
    assert!(!v.is_clean());
    assert!(!kinds(&v).contains(&K::Truncation), "{:?}", kinds(&v));
}

#[test]
fn no_entries_and_no_checkpoint_is_nothing_to_verify() {
    let empty = MemorySource::default();
    assert!(matches!(
        verify(&empty, &Policy::default(), &|_| {}),
        Err(VerifyError::Empty(_))
    ));
    // A checkpoint of size 0 names no entries either.
    let mut src = MemorySource::default();
    src.checkpoints.push(checkpoint_note(0, root(&[], 0)));
    assert!(matches!(
        verify(&src, &Cast::PRACTICE.policy(vec![]), &|_| {}),
        Err(VerifyError::Empty(_))
    ));
    // Nor does what the policy requires: a witness quorum no checkpoint meets is no finding
    // about a ledger that does not exist.
    let witness = caseledger_core::checkpoint::CosignatureVerifier::new(
        "witness.example",
        key(9).public_key(),
    )
    .unwrap();
    let quorum = Policy {
        witnesses: vec![witness],
        quorum: 1,
        ..Policy::default()
    };
    assert!(matches!(
        verify(&MemorySource::default(), &quorum, &|_| {}),
        Err(VerifyError::Empty(_))
    ));
}

#[test]
fn debug_output_never_shows_payloads() {
    const CANARY: &str = "CANARY-clinical-content";
    let fx = fixture();
    let src = SledSource::open(fx.path()).unwrap();
    let mut with_payload = 0;
    for e in src.entries().unwrap() {
        let e = e.unwrap();
        let shown = format!("{e:?}");
        if let Some(p) = &e.payload {
            with_payload += 1;
            assert!(
                shown.contains(&format!("<{} bytes redacted>", p.len())),
                "{shown}"
            );
            // No run of the payload's bytes, in any of the usual renderings.
            assert!(!shown.contains(&format!("{:?}", &p[..8])), "{shown}");
            assert!(!shown.contains(&hex::encode(&p[..8])), "{shown}");
        }
    }
    assert!(
        with_payload > 0,
        "the fixture has no payload: this test shows nothing"
    );
    let mut mem = MemorySource::default();
    mem.payloads.insert(0, CANARY.as_bytes().to_vec());
    let shown = format!("{mem:?}");
    assert!(
        !shown.contains(CANARY) && !shown.contains("67, 65, 78"),
        "{shown}"
    );
}

#[test]
fn bundle_parse_errors_never_quote_stored_strings() {
    use caseledger_verify::bundle::decode;
    // A base64 payload where a list is expected: serde_json would quote it.
    let misplaced = br#"{"format":"caseledger-bundle/v1","admin_entries":"Q0FOQVJZLWNsaW5pY2Fs"}"#;
    // A value that is not base64: the decoder would quote the offending symbol.
    let not_b64 = br#"{"format":"caseledger-bundle/v1","origin":"o","ledger_key":"k","checkpoint":"c","record":"C-1","admin_entries":[{"seq":0,"entry":"CANARY~clinical","payload":null,"proof":[]}],"entries":[]}"#;
    for bytes in [&misplaced[..], &not_b64[..]] {
        let e = decode(bytes).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, VerifyError::BadBundle(_)), "{shown}");
        for leak in ["Q0FOQVJZ", "CANARY", "126", "~"] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
    }
}
