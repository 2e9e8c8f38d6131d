//! What a verdict rests on: the [`Anchor`] the verifier decides from what the relying party
//! supplied and what of it held.
use caseledger_core::checkpoint::{
    append_cosignature, cosign, sign_checkpoint, Checkpoint, CosignatureVerifier,
};
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{key, verify_dir, Cast};
use caseledger_verify::report::{SELF_ATTESTED_WORDS, TRUSTED_CHECKPOINT_WORDS};
use caseledger_verify::{AnchorKind, FindingKind, Policy, Verified};

fn run(fx: &Fixture, policy: &Policy) -> Verified {
    verify_dir(fx.path(), policy).unwrap()
}

/// The witness key, and a policy naming it and requiring one cosignature (no ledger key:
/// the witnesses are the only thing the relying party brings).
fn witness_policy() -> (Policy, caseledger_core::keys::SigningKey) {
    let k = key(9);
    let w = CosignatureVerifier::new("witness.example", k.public_key()).unwrap();
    (
        Policy {
            witnesses: vec![w],
            quorum: 1,
            ..Policy::default()
        },
        k,
    )
}

#[test]
fn with_nothing_supplied_the_verdict_is_self_attested() {
    let fx = fixture();
    let v = run(&fx, &Policy::default());
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.anchor();
    assert_eq!(a.kind(), AnchorKind::SelfAttested);
    assert!(!a.is_anchored());
    assert_eq!((a.name(), a.covers()), ("self_attested", None));
    assert_eq!(a.words(), SELF_ATTESTED_WORDS);
    assert!(a.line().starts_with("self-attested: "), "{}", a.line());
}

#[test]
fn an_auditor_key_anchors_up_to_the_newest_matching_checkpoint() {
    let fx = fixture();
    let v = run(&fx, &Cast::PRACTICE.policy(vec![]));
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.anchor().kind(), AnchorKind::AuditorKey { size: fx.size });
    assert_eq!(v.anchor().covers(), Some(fx.size));
    assert_eq!(v.anchor().name(), "ledger_key");
}

#[test]
fn a_trusted_checkpoint_below_the_head_anchors_up_to_its_size() {
    let fx = fixture();
    let items = load(fx.path());
    let r10 = root(&items, 10);
    let held = checkpoint_note(10, r10);
    let v = run(
        &fx,
        &Policy {
            checkpoints: vec![held],
            ..Policy::default()
        },
    );
    assert!(v.is_clean(), "{:?}", v.findings());
    let a = v.anchor();
    assert_eq!(
        a.kind(),
        AnchorKind::AuditorCheckpoint {
            size: 10,
            root: r10
        }
    );
    assert_eq!(a.covers(), Some(10));
    assert_eq!(a.words(), TRUSTED_CHECKPOINT_WORDS);
    let after = fx.size - 10;
    assert!(
        a.line().ends_with(&format!(
            "(size 10 of {} entries; the {after} after it are not anchored)",
            fx.size
        )),
        "{}",
        a.line()
    );
}

#[test]
fn a_trusted_checkpoint_that_does_not_match_anchors_nothing() {
    let fx = fixture();
    let items = load(fx.path());
    // Signed by the ledger key, but over another root: the history was rewritten.
    let held = checkpoint_note(10, root(&items, 11));
    let v = run(
        &fx,
        &Policy {
            checkpoints: vec![held],
            ..Policy::default()
        },
    );
    assert!(v
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::RootMismatch));
    assert_eq!(v.anchor().kind(), AnchorKind::Unanchored);
    assert!(!v.anchor().is_anchored());
}

#[test]
fn a_met_witness_quorum_anchors_the_cosigned_checkpoint() {
    let fx = fixture();
    let items = load(fx.path());
    let n = items.len() as u64;
    let cp = Checkpoint::new(ORIGIN, n, root(&items, n)).unwrap();
    let (policy, wk) = witness_policy();
    let line = cosign(&cp, "witness.example", &wk, 1_700_000_000).unwrap();
    let note = append_cosignature(&sign_checkpoint(&cp, &Cast::PRACTICE.signer()), &line).unwrap();
    add_checkpoint(fx.path(), &note);
    let v = run(&fx, &policy);
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(
        v.anchor().kind(),
        AnchorKind::WitnessQuorum {
            size: n,
            n: 1,
            of: 1
        }
    );
    assert_eq!(v.anchor().name(), "witness_quorum");
}

#[test]
fn an_unmet_witness_quorum_is_a_finding_not_an_anchor() {
    let fx = fixture();
    let (policy, _) = witness_policy();
    let v = run(&fx, &policy);
    assert!(v
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::WitnessQuorumNotMet));
    assert_eq!(v.anchor().kind(), AnchorKind::Unanchored);
    assert!(!v.anchor().is_anchored());
}

/// Of several checkpoints the auditor supplied that the ledger matches, the largest anchors
/// (`Judged::supplied`: "the largest checkpoint the auditor supplied that the ledger
/// matched"), whatever order they were given in.
#[test]
fn of_several_trusted_checkpoints_the_largest_that_matches_anchors() {
    let fx = fixture();
    let items = load(fx.path());
    let (r10, r20) = (root(&items, 10), root(&items, 20));
    for checkpoints in [
        vec![checkpoint_note(10, r10), checkpoint_note(20, r20)],
        vec![checkpoint_note(20, r20), checkpoint_note(10, r10)],
    ] {
        let v = run(
            &fx,
            &Policy {
                checkpoints,
                ..Policy::default()
            },
        );
        assert!(v.is_clean(), "{:?}", v.findings());
        assert_eq!(
            v.anchor().kind(),
            AnchorKind::AuditorCheckpoint {
                size: 20,
                root: r20
            }
        );
    }
}
