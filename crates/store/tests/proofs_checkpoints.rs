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
    let cp_before = l.checkpoint(&signer).unwrap();
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

#[test]
fn checkpoints_log_and_cosignatures() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Deferred);
    let s = Cast::TEST.signer();
    // A signer with another key is refused.
    let wrong = NoteSigner::new(ORIGIN, SigningKey::from_seed(&[99; 32])).unwrap();
    assert!(matches!(
        l.checkpoint(&wrong),
        Err(StoreError::WrongLedgerKey)
    ));
    let n1 = l.checkpoint(&s).unwrap();
    let cp1 = open_checkpoint(&n1, &[s.verifier()]).unwrap().checkpoint;
    assert_eq!(
        (cp1.origin.as_str(), cp1.size, cp1.root),
        (ORIGIN, 3, l.root())
    );
    // Same size again: the stored note, nothing new in the log.
    assert_eq!(l.checkpoint(&s).unwrap(), n1);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let n2 = l.checkpoint(&s).unwrap();
    assert_eq!(l.latest_checkpoint().unwrap(), Some((4, n2.clone())));
    assert_eq!(
        l.checkpoints().unwrap(),
        vec![(3, n1.clone()), (4, n2.clone())]
    );
    // A witness cosigns size 4.
    let wkey = SigningKey::from_seed(&[50; 32]);
    let cp2: Checkpoint = open_checkpoint(&n2, &[s.verifier()]).unwrap().checkpoint;
    let line = cosign(&cp2, "witness.example/w1", &wkey, 1_700_000_000).unwrap();
    let cosigned = caseledger_core::checkpoint::append_cosignature(&n2, &line).unwrap();
    let merged = l.add_cosignature(4, &cosigned).unwrap();
    assert_eq!(merged, cosigned);
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
    let stored = l.checkpoint_at(4).unwrap().unwrap();
    let w = CosignatureVerifier::new("witness.example/w1", wkey.public_key()).unwrap();
    let opened = open_checkpoint(&stored, &[s.verifier()]).unwrap();
    assert_eq!(
        opened.cosignatures(&[w]).unwrap()[0].timestamp,
        Some(1_700_000_000)
    );
    // The log: every note in order, split by its framing; the torn tail is detected.
    let log = std::fs::read(dir.path().join("checkpoints.log")).unwrap();
    assert_eq!(
        parse_checkpoints_log(&log).unwrap(),
        vec![n1, n2, cosigned.clone()]
    );
    assert!(parse_checkpoints_log(&log[..log.len() - 3]).is_err());
    // Checkpoints survive a reopen.
    drop(l);
    let l = Ledger::open(dir.path(), OpenOptions::default()).unwrap();
    assert_eq!(l.latest_checkpoint().unwrap(), Some((4, cosigned)));
}

#[test]
fn open_cuts_a_torn_checkpoint_log_tail_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let n1 = l.checkpoint(&Cast::TEST.signer()).unwrap();
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
    assert_eq!(parse_checkpoints_log(&whole).unwrap(), vec![n1]);
    // A malformed record that is not a tail is evidence: opening leaves it for the verifier.
    let mut bad = b"007\n".to_vec();
    bad.extend_from_slice(&whole);
    std::fs::write(&log_path, &bad).unwrap();
    drop(Ledger::open(dir.path(), OpenOptions::default()).unwrap());
    assert_eq!(std::fs::read(&log_path).unwrap(), bad);
}
