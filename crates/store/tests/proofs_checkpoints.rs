//! Proofs, lawful destruction, checkpoints and cosignatures.
use caseledger_core::checkpoint::{cosign, open_checkpoint, Checkpoint, CosignatureVerifier};
use caseledger_core::event::EventKind;
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::Seq;
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{verify_consistency, verify_inclusion, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_store::layout::parse_checkpoints_log;
use caseledger_store::{Durability, Ledger, OpenOptions, StoreError};
use caseledger_testkit::*;
use rand::{Rng, SeedableRng};

fn leaf(l: &Ledger, seq: u64) -> caseledger_core::Hash {
    merkle_leaf(&entry_hash(&l.entry_bytes(Seq(seq)).unwrap().unwrap()))
}

#[test]
fn proofs_for_random_sizes_and_indices() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Deferred);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let items: Vec<_> = (0..600)
        .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None))
        .collect();
    for chunk in items.chunks(97) {
        l.append_batch(chunk.to_vec()).unwrap();
    }
    let n = l.head().size;
    let h = Sha256Hasher;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    assert_eq!(
        l.root_at(0).unwrap(),
        caseledger_core::merkle::TreeHasher::empty_root(&h)
    );
    for _ in 0..300 {
        let size = rng.gen_range(1..=n);
        let index = rng.gen_range(0..size);
        let root = l.root_at(size).unwrap();
        let proof = l.inclusion_proof(Seq(index), size).unwrap();
        verify_inclusion(&h, index, size, &leaf(&l, index), &proof, &root).unwrap();
        let size1 = rng.gen_range(0..=size);
        let proof = l.consistency_proof(size1, size).unwrap();
        verify_consistency(&h, size1, size, &proof, &l.root_at(size1).unwrap(), &root).unwrap();
    }
    // Every size's root, against the reference.
    let leaves: Vec<_> = (0..n).map(|i| leaf(&l, i)).collect();
    for size in [1, 2, 3, 63, 64, 65, 255, 256, 257, n] {
        assert_eq!(
            l.root_at(size).unwrap(),
            caseledger_core::merkle::root_from_leaves(
                &h,
                &leaves[..usize::try_from(size).unwrap()]
            )
        );
    }
    assert!(matches!(
        l.root_at(n + 1),
        Err(StoreError::BeyondHead { .. })
    ));
    assert!(matches!(
        l.inclusion_proof(Seq(n), n),
        Err(StoreError::Proof(_))
    ));
    assert!(matches!(
        l.consistency_proof(5, 4),
        Err(StoreError::Proof(_))
    ));
}

#[test]
fn lawful_destruction_removes_payloads_keeps_entries_and_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2014-03-01");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let (a, b) = (rid("A"), rid("B"));
    let mut a_seqs = Vec::new();
    for r in [&a, &b] {
        let (e, p) = Cast::TEST.licensee_event(&clock, r, EventKind::RecordOpened, None);
        l.append(e, p).unwrap();
    }
    for i in 0..5 {
        for r in [&a, &b] {
            let (e, p) = Cast::TEST.licensee_event(
                &clock,
                r,
                EventKind::ProgressNote,
                Some(format!("note {i} of {r}").as_bytes()),
            );
            let rc = l.append(e, p).unwrap();
            if r == &a {
                a_seqs.push(rc.seq);
            }
        }
    }
    let (e, p) = Cast::TEST.licensee_event(
        &clock,
        &a,
        EventKind::ServiceTerminated {
            terminated_on: date("2014-03-01"),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        None,
    );
    l.append(e, p).unwrap();
    let signer = Cast::TEST.signer();
    let cp_before = l.newest_seal().unwrap().unwrap().1;
    let size_before = l.head().size;
    let root_before = l.root();
    let bytes_before: Vec<_> = a_seqs
        .iter()
        .map(|s| l.entry_bytes(*s).unwrap().unwrap())
        .collect();
    // On the last day of retention it is refused; the next day it is lawful.
    clock.set_day("2019-03-01");
    let (e, p) = Cast::TEST.custodian_event(
        &clock,
        &a,
        EventKind::Destruction {
            reason: text("retention policy"),
            citation: None,
        },
    );
    assert!(matches!(l.append(e, p), Err(StoreError::Refused(_))));
    clock.set_day("2019-03-02");
    // In a batch with a payload of the same record written just before it. (An amendment:
    // a contact dated today would move the retention clock to today, issue 11.)
    let (e1, p1) = Cast::TEST.licensee_event(
        &clock,
        &a,
        EventKind::Amendment { amends: a_seqs[0] },
        Some(b"correction"),
    );
    let (e2, p2) = Cast::TEST.custodian_event(
        &clock,
        &a,
        EventKind::Destruction {
            reason: text("retention policy"),
            citation: None,
        },
    );
    let rcs = l.append_batch(vec![(e1, p1), (e2, p2)]).unwrap();
    a_seqs.push(rcs[0].seq);
    for s in &a_seqs {
        assert_eq!(
            l.payload(*s).unwrap(),
            None,
            "payload of {s:?} survived destruction"
        );
        assert!(l.entry(*s).unwrap().is_some());
    }
    for (s, b0) in a_seqs.iter().zip(&bytes_before) {
        assert_eq!(&l.entry_bytes(*s).unwrap().unwrap(), b0);
    }
    // B is untouched.
    for s in l.record_entries(&b).unwrap().iter().skip(1) {
        assert!(l.payload(*s).unwrap().is_some());
    }
    let st = l.record_state(&a).unwrap().unwrap();
    assert!(st.destroyed.as_ref().is_some_and(|d| d.lawful));
    // Proofs still work, old checkpoint consistent with the new tree.
    assert_eq!(l.root_at(size_before).unwrap(), root_before);
    let n = l.head().size;
    let proof = l.consistency_proof(size_before, n).unwrap();
    verify_consistency(
        &Sha256Hasher,
        size_before,
        n,
        &proof,
        &root_before,
        &l.root(),
    )
    .unwrap();
    for s in &a_seqs {
        let proof = l.inclusion_proof(*s, n).unwrap();
        verify_inclusion(&Sha256Hasher, s.0, n, &leaf(&l, s.0), &proof, &l.root()).unwrap();
    }
    let opened = open_checkpoint(&cp_before, &[signer.verifier()]).unwrap();
    assert_eq!(opened.checkpoint.root, root_before);
    assert_eq!(l.root(), recomputed_root(&l));
}

/// The checkpoints.log notes, in order.
fn log_notes(dir: &std::path::Path) -> Vec<String> {
    parse_checkpoints_log(&std::fs::read(dir.join("checkpoints.log")).unwrap()).unwrap()
}

#[test]
fn every_commit_is_sealed_sled_keeps_the_newest_and_the_cosigned_the_log_keeps_all() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let s = Cast::TEST.signer();
    // Genesis and two enrolments: three commits, three seals in the log, the newest in sled.
    let (size, n3) = l.newest_seal().unwrap().unwrap();
    let cp3 = open_checkpoint(&n3, &[s.verifier()]).unwrap().checkpoint;
    assert_eq!(
        (cp3.origin.as_str(), size, cp3.size, cp3.root),
        (ORIGIN, 3, 3, l.root())
    );
    assert_eq!(l.checkpoints().unwrap(), vec![(3, n3.clone())]);
    let logged = log_notes(dir.path());
    assert_eq!(logged.len(), 3);
    assert_eq!(logged[2], n3);
    // An append's receipt carries the seal covering it, already in the log.
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    let receipt = l.append(e, p).unwrap();
    let seal = receipt.seal.clone().unwrap();
    assert_eq!((receipt.seq.0, seal.size), (3, 4));
    let n4 = seal.note.to_string();
    assert_eq!(log_notes(dir.path()).last(), Some(&n4));
    assert_eq!(l.checkpoints().unwrap(), vec![(4, n4.clone())]);
    // A witness cosigns size 4: merged, kept as anchored.
    let wkey = SigningKey::from_seed(&[50; 32]);
    let cp4: Checkpoint = open_checkpoint(&n4, &[s.verifier()]).unwrap().checkpoint;
    let line = cosign(&cp4, "witness.example/w1", &wkey, 1_700_000_000).unwrap();
    let cosigned = caseledger_core::checkpoint::append_cosignature(&n4, &line).unwrap();
    assert_eq!(l.add_cosignature(4, &cosigned).unwrap(), cosigned);
    // Idempotent; a note for another body is refused; an unknown size too.
    assert_eq!(l.add_cosignature(4, &cosigned).unwrap(), cosigned);
    assert!(matches!(
        l.add_cosignature(3, &cosigned),
        Err(StoreError::Cosignature(_))
    ));
    assert!(matches!(
        l.add_cosignature(9, &cosigned),
        Err(StoreError::NoSuchCheckpoint { size: 9 })
    ));
    let w = CosignatureVerifier::new("witness.example/w1", wkey.public_key()).unwrap();
    let opened = open_checkpoint(&l.checkpoint_at(4).unwrap().unwrap(), &[s.verifier()]).unwrap();
    assert_eq!(
        opened.cosignatures(&[w]).unwrap()[0].timestamp,
        Some(1_700_000_000)
    );
    // The next seal replaces the newest in sled, but not the cosigned one.
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None);
    let n5 = l.append(e, p).unwrap().seal.unwrap().note.to_string();
    assert_eq!(
        l.checkpoints().unwrap(),
        vec![(4, cosigned.clone()), (5, n5.clone())]
    );
    // A witness cosigning a superseded seal (3): accepted on the ledger's own signature
    // and root; a note the ledger key did not sign is not.
    let line3 = cosign(&cp3, "witness.example/w1", &wkey, 1_700_000_100).unwrap();
    let cosigned3 = caseledger_core::checkpoint::append_cosignature(&n3, &line3).unwrap();
    let forged = caseledger_core::checkpoint::append_cosignature(
        &caseledger_core::checkpoint::sign_checkpoint(
            &cp3,
            &NoteSigner::new(ORIGIN, SigningKey::from_seed(&[99; 32])).unwrap(),
        ),
        &line3,
    )
    .unwrap();
    assert!(matches!(
        l.add_cosignature(3, &forged),
        Err(StoreError::NoSuchCheckpoint { size: 3 })
    ));
    assert_eq!(l.add_cosignature(3, &cosigned3).unwrap(), cosigned3);
    assert_eq!(l.checkpoints().unwrap().len(), 3);
    // The log: every seal and every cosigned copy, in order.
    let log = log_notes(dir.path());
    assert_eq!(log.len(), 7, "{log:#?}");
    assert_eq!(log[3..], [n4, cosigned.clone(), n5.clone(), cosigned3]);
    // Seals survive a reopen; reopening writes nothing.
    drop(l);
    let before = std::fs::read(dir.path().join("checkpoints.log")).unwrap();
    let l = Ledger::open(dir.path(), OpenOptions::default()).unwrap();
    assert_eq!(l.latest_checkpoint().unwrap(), Some((5, n5)));
    assert_eq!(
        std::fs::read(dir.path().join("checkpoints.log")).unwrap(),
        before
    );
}

#[test]
fn deferred_batches_are_each_sealed_and_logged_at_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Deferred);
    l.flush().unwrap();
    let before = log_notes(dir.path()).len();
    let mut seals = Vec::new();
    for i in 0..3 {
        let r = rid(&format!("C-{i}"));
        let items = vec![Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None)];
        let receipts = l.append_batch(items).unwrap();
        seals.push(receipts[0].seal.clone().unwrap());
    }
    // Not acknowledged as durable yet: nothing logged before the flush.
    assert_eq!(log_notes(dir.path()).len(), before);
    l.flush().unwrap();
    let log = log_notes(dir.path());
    assert_eq!(log.len(), before + 3);
    let want: Vec<String> = seals.iter().map(|s| s.note.to_string()).collect();
    assert_eq!(log[before..], want[..]);
}

#[test]
fn without_the_ledger_key_nothing_is_appended_and_a_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    drop(Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate));
    let wrong = OpenOptions::default().with_ledger_key(SigningKey::from_seed(&[99; 32]));
    assert!(matches!(
        Ledger::open(dir.path(), wrong),
        Err(StoreError::WrongLedgerKey)
    ));
    let l = Ledger::open(dir.path(), clock.options(Durability::Immediate)).unwrap();
    let head = l.head();
    let (e, p) = Cast::TEST.licensee_event(&clock, &rid("C-1"), EventKind::RecordOpened, None);
    assert!(matches!(
        l.append(e.clone(), p.clone()),
        Err(StoreError::NotSealing)
    ));
    assert!(matches!(
        l.append_batch(vec![(e, p)]),
        Err(caseledger_store::BatchError {
            error: StoreError::NotSealing,
            ..
        })
    ));
    assert_eq!(l.head(), head);
    // Creating a ledger needs the key too: genesis is sealed.
    let fresh = tempfile::tempdir().unwrap();
    let admin = Cast::TEST.admin.key();
    let refused = Ledger::create(
        fresh.path().join("l"),
        caseledger_store::CreateOptions {
            origin: caseledger_testkit::text(ORIGIN),
            admin: Cast::TEST.admin.actor(),
            admin_key: &admin,
            ledger_key: Cast::TEST.ledger_key().public_key(),
            settings: Default::default(),
            open: OpenOptions::default(),
        },
    );
    assert!(matches!(refused, Err(StoreError::NotSealing)));
    assert!(!fresh.path().join("l").exists());
}

#[test]
fn open_cuts_a_torn_checkpoint_log_tail_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let n1 = l.newest_seal().unwrap().unwrap().1;
    drop(l);
    let log_path = dir.path().join("checkpoints.log");
    let whole = std::fs::read(&log_path).unwrap();
    // A crash in the middle of writing a second record: its length line and half its note.
    let mut torn = whole.clone();
    torn.extend_from_slice(b"120\nhalf a note");
    std::fs::write(&log_path, &torn).unwrap();
    drop(Ledger::open(dir.path(), OpenOptions::default()).unwrap());
    assert_eq!(
        std::fs::read(&log_path).unwrap(),
        whole,
        "torn tail cut back to the last complete note"
    );
    let notes = parse_checkpoints_log(&whole).unwrap();
    assert_eq!((notes.len(), notes.last()), (3, Some(&n1)));
    // A malformed record that is not a tail is evidence: opening leaves it for the verifier.
    let mut bad = b"007\n".to_vec();
    bad.extend_from_slice(&whole);
    std::fs::write(&log_path, &bad).unwrap();
    drop(Ledger::open(dir.path(), OpenOptions::default()).unwrap());
    assert_eq!(std::fs::read(&log_path).unwrap(), bad);
}
