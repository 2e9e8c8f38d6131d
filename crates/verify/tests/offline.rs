//! Archives, evidence bundles and retention reports, from the store-built practice ledger.
// Test ledgers hold a few dozen entries: their seqs fit every integer type.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::merkle::{inclusion_proof, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{date, key, rid, Cast};
use caseledger_verify::bundle::{verify_bundle, Base64, Bundle, BundleEntry, FORMAT_V1};
use caseledger_verify::report::{sign_report, verify_report, RetentionReport, SCHEMA_V1};
use caseledger_verify::{verify, ArchiveSource, FindingKind as K, Policy, SledSource, VerifyError};

/// What `caseledger export --record R` writes, built here from the stored trees.
fn make_bundle(fx: &Fixture, record: &str) -> Bundle {
    let items = load(fx.path());
    let n = items.len() as u64;
    let mem = nodes(&items);
    let entry = |i: usize, it: &Item| BundleEntry {
        seq: i as u64,
        entry: Base64(it.entry.to_bytes().unwrap()),
        payload: it.payload.clone().map(Base64),
        proof: inclusion_proof(&Sha256Hasher, &mem, i as u64, n)
            .unwrap()
            .into_iter()
            .map(|h| Base64(h.0.to_vec()))
            .collect(),
    };
    let mut b = Bundle {
        format: FORMAT_V1.to_owned(),
        origin: ORIGIN.to_owned(),
        ledger_key: Cast::PRACTICE.verifier().to_vkey_string(),
        checkpoint: checkpoint_note(n, root(&items, n)),
        record: rid(record),
        admin_entries: Vec::new(),
        entries: Vec::new(),
    };
    for (i, it) in items.iter().enumerate() {
        match &it.entry.event.event.record {
            None => b.admin_entries.push(entry(i, it)),
            Some(r) if r.as_str() == record => b.entries.push(entry(i, it)),
            Some(_) => {}
        }
    }
    b
}

#[test]
fn archive_of_the_store_verifies_like_the_store() {
    let fx = fixture();
    let path = fx.dir.path().join("ledger.archive");
    let ledger =
        caseledger_store::Ledger::open(fx.path(), caseledger_store::OpenOptions::default())
            .unwrap();
    ledger
        .export_archive(std::fs::File::create(&path).unwrap())
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
    let mut b = clean;
    b.format = "caseledger-bundle/v9".into();
    assert!(matches!(
        verify_bundle(&b, &Cast::PRACTICE.policy(vec![])),
        Err(VerifyError::BadBundle(_))
    ));
}

#[test]
fn retention_report_is_canonical_signed_and_complete() {
    let fx = fixture();
    let v = verify(
        &SledSource::open(fx.path()).unwrap(),
        &Cast::PRACTICE.policy(vec![]),
        &|_| {},
    )
    .unwrap();
    let as_of = date("2024-06-01");
    let r = RetentionReport::build(&v, as_of, false).unwrap();
    assert_eq!(r.schema, SCHEMA_V1);
    assert_eq!(r.integrity.verdict, "verified");
    let status = |id: &str| {
        r.records
            .iter()
            .find(|x| x.id == id)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status("C-A"), "destroyed_lawfully");
    assert_eq!(status("C-B"), "retained");
    assert_eq!(status("C-C"), "open");
    assert_eq!(status("C-D"), "on_hold");
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
    assert_eq!(r.checkpoint.as_ref().unwrap().size, v.size());

    let bytes = r.to_canonical_json().unwrap();
    assert_eq!(
        bytes,
        RetentionReport::build(&v, as_of, false)
            .unwrap()
            .to_canonical_json()
            .unwrap()
    );
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("{\"schema\":\"caseledger-retention-report/v1\",\"origin\":"));
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
    let later = RetentionReport::build(&v, date("2026-03-03"), false).unwrap();
    assert_eq!(
        later.records.iter().find(|x| x.id == "C-B").unwrap().status,
        "eligible"
    );
}

#[test]
fn report_refuses_findings_unless_included() {
    let fx = fixture();
    edit_raw(fx.path(), "payloads", &20u64.to_be_bytes(), |_| None);
    let v = verify(
        &SledSource::open(fx.path()).unwrap(),
        &Cast::PRACTICE.policy(vec![]),
        &|_| {},
    )
    .unwrap();
    assert!(RetentionReport::build(&v, date("2024-06-01"), false).is_err());
    let r = RetentionReport::build(&v, date("2024-06-01"), true).unwrap();
    assert_eq!(r.integrity.verdict, "findings");
    assert_eq!(r.integrity.findings[0].kind, K::PayloadMissing);
    assert_eq!(
        r.records.iter().find(|x| x.id == "C-C").unwrap().status,
        "content_missing"
    );
    let json = String::from_utf8(r.to_canonical_json().unwrap()).unwrap();
    assert!(json.contains("\"kind\":\"payload_missing\""));
}
