//! Incremental verification: a full run keeps the auditor's resume state; later runs read
//! only what was appended after it, and still catch tampering with the new entries, a
//! truncation below the state, a rewritten history and a damaged state file.
#![expect(
    clippy::cast_possible_truncation,
    reason = "test ledgers hold a few dozen entries: their seqs fit every integer type"
)]

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::event::{Entry, EventKind, Payload, SignedEvent};
use caseledger_core::note::NoteSigner;
use caseledger_core::Timestamp;
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{date, key, text, Cast};
use caseledger_verify::source::{EntryIter, StoredCheckpoint};
use caseledger_verify::{
    verify, verify_incremental, ArchiveSource, FindingKind as K, LedgerSource, MemorySource,
    Policy, ResumeState, ResumeStateError, SledSource, Verified, VerifyError,
};
use std::cell::Cell;

/// Tampering done to a fixture.
type Tamper = fn(&Fixture);

/// Size of the fixture (the auditor's state is taken here).
const N: u64 = 32;
/// Entries appended after the state in [`grow`].
const MORE: u64 = 6;

fn trusted() -> Policy {
    Policy {
        keep_resume_state: true,
        ..Cast::PRACTICE.policy(vec![])
    }
}

/// A source that counts the entries it hands out.
struct Counting<S> {
    inner: S,
    read: Cell<u64>,
}

impl<S: LedgerSource> Counting<S> {
    fn new(inner: S) -> Counting<S> {
        Counting {
            inner,
            read: Cell::new(0),
        }
    }
    fn count<'a>(&'a self, it: EntryIter<'a>) -> EntryIter<'a> {
        Box::new(it.inspect(|_| self.read.set(self.read.get() + 1)))
    }
}

impl<S: LedgerSource> LedgerSource for Counting<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, VerifyError> {
        self.inner.checkpoints()
    }
    fn entries(&self) -> Result<EntryIter<'_>, VerifyError> {
        Ok(self.count(self.inner.entries()?))
    }
    fn entries_from(&self, seq: u64) -> Result<EntryIter<'_>, VerifyError> {
        Ok(self.count(self.inner.entries_from(seq)?))
    }
    fn payload_seqs(&self, seqs: &[u64]) -> Result<Vec<u64>, VerifyError> {
        self.inner.payload_seqs(seqs)
    }
    // The rest passed on too, so that a run through the counter sees what the source has
    // (without these the trait's defaults would say "no key store", "no tokens", ...).
    fn stray_payloads(&self) -> Vec<caseledger_verify::source::StrayPayload> {
        self.inner.stray_payloads()
    }
    fn declared_origin(&self) -> Option<String> {
        self.inner.declared_origin()
    }
    fn storage_damage(&self) -> Option<caseledger_verify::source::StorageDamage> {
        self.inner.storage_damage()
    }
    fn key_store(&self) -> Result<Option<caseledger_verify::keystore::KeyStore>, VerifyError> {
        self.inner.key_store()
    }
    fn timestamps(&self) -> Result<Option<Vec<u8>>, VerifyError> {
        self.inner.timestamps()
    }
}

fn full(fx: &Fixture, policy: &Policy) -> Verified {
    verify(&SledSource::open(fx.path()).unwrap(), policy, &|_| {}).unwrap()
}

fn incremental(fx: &Fixture, state: &ResumeState, policy: &Policy) -> (Verified, u64) {
    let src = Counting::new(SledSource::open(fx.path()).unwrap());
    let v = verify_incremental(&src, state, policy, &|_| {}).unwrap();
    let read = src.read.get();
    (v, read)
}

/// The auditor's state after a clean full run of the fixture, through its file bytes.
fn state_of(fx: &Fixture) -> ResumeState {
    let v = full(fx, &trusted());
    assert_eq!(v.size(), load(fx.path()).len() as u64);
    assert!(v.is_clean(), "{:?}", v.findings());
    let bytes = v.resume_state().unwrap().to_bytes().unwrap();
    ResumeState::from_bytes(&bytes).unwrap()
}

/// Appends events through the real store, with its clock at each event's date, then signs
/// a checkpoint over the new head.
fn append(fx: &Fixture, events: Vec<(SignedEvent, Option<Payload>, &str)>) {
    use caseledger_store::{Ledger, OpenOptions};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let now = Arc::new(AtomicI64::new(0));
    let clock = now.clone();
    let ledger = Ledger::open(
        fx.path(),
        OpenOptions::default()
            .with_kek(caseledger_testkit::kek())
            .with_clock(Arc::new(move || Timestamp(clock.load(Ordering::SeqCst))))
            // As the practice fixture: unsealed appends, one checkpoint at the new head.
            .with_unsealed(true),
    )
    .unwrap();
    for (i, (ev, payload, on)) in events.into_iter().enumerate() {
        now.store(
            Timestamp::start_of(date(on)).unwrap().0 + i as i64,
            Ordering::SeqCst,
        );
        ledger.append(ev, payload).unwrap();
    }
    let (size, root) = (ledger.head().size, ledger.root());
    ledger.close().unwrap();
    caseledger_testkit::tamper::add_checkpoint(
        fx.path(),
        &caseledger_testkit::practice::checkpoint_note(size, root),
    );
}

/// [`MORE`] progress notes on the open record C-C by lic-1 (key 3), with payloads.
fn grow(fx: &mut Fixture) {
    let lic1 = key(3);
    let events = (0..MORE)
        .map(|i| {
            let (ev, p) = fx.author.event(
                &lic1,
                "lic-1",
                Some("C-C"),
                EventKind::ProgressNote,
                "2021-04-01",
                Some(&format!("later note {i}")),
            );
            (ev, p, "2021-04-01")
        })
        .collect();
    append(fx, events);
}

#[test]
fn incremental_reads_only_new_entries_and_agrees_with_a_full_run() {
    let mut fx = fixture();
    let state = state_of(&fx);
    assert_eq!(state.size(), N);
    assert!(state.checkpoint().is_some());
    grow(&mut fx);

    let (inc, read) = incremental(&fx, &state, &trusted());
    assert!(inc.is_clean(), "{:?}", inc.findings());
    // Entry n-1 (to check it is still the one verified) and the new entries: nothing else.
    assert_eq!(read, MORE + 1);
    assert_eq!(inc.incremental_from(), Some(N));
    assert_eq!(inc.signatures_checked_from(), N);
    assert!(inc.unjudged_checkpoints().is_empty());

    let fv = full(&fx, &trusted());
    assert!(fv.is_clean(), "{:?}", fv.findings());
    assert_eq!(fv.incremental_from(), None);
    assert_eq!((inc.size(), inc.root()), (fv.size(), fv.root()));
    assert_eq!(inc.size(), N + MORE);
    assert_eq!(inc.records(), fv.records());
    assert_eq!(inc.registry(), fv.registry());
    // The new checkpoint (over the new head) is the one verified against.
    assert_eq!(inc.checkpoint().unwrap().size, N + MORE);
    assert_eq!(inc.checkpoint(), fv.checkpoint());
    // The state an incremental run keeps is the state a full run keeps, byte for byte.
    assert_eq!(
        inc.resume_state().unwrap().to_bytes().unwrap(),
        fv.resume_state().unwrap().to_bytes().unwrap()
    );

    // Chained: from the new state, nothing new to read but entry n-1.
    let (again, read) = incremental(&fx, inc.resume_state().unwrap(), &trusted());
    assert!(again.is_clean(), "{:?}", again.findings());
    assert_eq!(read, 1);
    assert_eq!(again.root(), fv.root());
}

#[test]
fn incremental_with_nothing_new_is_clean() {
    let fx = fixture();
    let state = state_of(&fx);
    let (v, read) = incremental(&fx, &state, &trusted());
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(read, 1);
    assert_eq!((v.size(), v.root()), (N, state.root()));
    // Self-attested (no trusted key): the genesis ledger key from the state is used.
    let (v, _) = incremental(&fx, &state, &Policy::default());
    assert!(v.is_clean(), "{:?}", v.findings());
    assert!(v.checkpoint_key_self_attested());
}

#[test]
fn tampering_with_a_new_entry_is_caught_incrementally() {
    // (what is done to the first new entry, the finding expected there)
    let cases: &[(&str, Tamper, K)] = &[
        (
            "author signature bit flip",
            |fx| {
                edit_raw(fx.path(), "entries", &N.to_be_bytes(), |v| {
                    let mut e = Entry::from_bytes(&v.unwrap()).unwrap();
                    e.event.signature.bytes_mut().0[3] ^= 1;
                    Some(e.to_bytes().unwrap())
                });
            },
            K::BadSignature,
        ),
        (
            "payload byte flip",
            |fx| {
                edit_raw(fx.path(), "payloads", &N.to_be_bytes(), |v| {
                    let mut v = v.unwrap();
                    *v.last_mut().unwrap() ^= 1;
                    Some(v)
                });
            },
            K::CommitmentMismatch,
        ),
        (
            "prev edited",
            |fx| {
                edit_raw(fx.path(), "entries", &N.to_be_bytes(), |v| {
                    let mut e = Entry::from_bytes(&v.unwrap()).unwrap();
                    e.prev.0[0] ^= 1;
                    Some(e.to_bytes().unwrap())
                });
            },
            K::ChainBreak,
        ),
        (
            "payload deleted",
            |fx| edit_raw(fx.path(), "payloads", &N.to_be_bytes(), |_| None),
            K::PayloadMissing,
        ),
        (
            "prev_registry edited",
            |fx| {
                edit_raw(fx.path(), "entries", &N.to_be_bytes(), |v| {
                    let mut e = Entry::from_bytes(&v.unwrap()).unwrap();
                    e.prev_registry = Some(caseledger_core::Seq(0));
                    Some(e.to_bytes().unwrap())
                });
            },
            K::PrevRegistryMismatch,
        ),
        (
            "replay of a prefix event",
            |fx| {
                let items = load(fx.path());
                let mut e = items[C_NOTE1 as usize].entry.clone();
                e.seq = caseledger_core::Seq(N);
                e.prev = items[N as usize].entry.prev;
                e.recorded_at = items[N as usize].entry.recorded_at;
                edit_raw(fx.path(), "entries", &N.to_be_bytes(), |_| {
                    Some(e.to_bytes().unwrap())
                });
                edit_raw(fx.path(), "payloads", &N.to_be_bytes(), |_| {
                    items[C_NOTE1 as usize].payload.clone()
                });
            },
            K::ReplayedEvent,
        ),
    ];
    for (name, tamper, kind) in cases {
        let mut fx = fixture();
        let state = state_of(&fx);
        grow(&mut fx);
        tamper(&fx);
        let (v, read) = incremental(&fx, &state, &trusted());
        assert_eq!(v.incremental_from(), Some(N), "{name}");
        assert_eq!(read, MORE + 1, "{name}");
        assert!(
            v.findings()
                .iter()
                .any(|f| f.kind == *kind && f.seq == Some(N)),
            "{name}: expected {kind:?} at {N}, got {:?}",
            v.findings()
        );
        assert!(
            v.resume_state().is_none(),
            "{name}: no state from a run with findings"
        );
    }
}

/// Seq of C-C's first note in the fixture (see tests/tamper.rs).
const C_NOTE1: u64 = 20;

#[test]
fn truncation_below_the_state_is_caught() {
    let fx = fixture();
    let state = state_of(&fx);
    for s in N - 3..N {
        edit_raw(fx.path(), "entries", &s.to_be_bytes(), |_| None);
        edit_raw(fx.path(), "payloads", &s.to_be_bytes(), |_| None);
    }
    let (v, _) = incremental(&fx, &state, &trusted());
    assert_eq!(v.incremental_from(), None, "falls back to a full run");
    assert_eq!(v.size(), N - 3);
    assert!(
        v.findings()
            .iter()
            .any(|f| f.kind == K::Truncation && f.seq == Some(N - 3)),
        "{:?}",
        v.findings()
    );
}

#[test]
fn rollback_then_regrowth_is_caught() {
    // Entries from n-2 dropped, then others appended in their place: entry n-1 differs.
    // The attacker writes the trees directly: the store refuses to open a ledger shorter
    // than it recorded (B3 in docs/RELIABILITY.md), so the regrowth cannot go through it.
    let mut fx = fixture();
    let state = state_of(&fx);
    let lic1 = key(3);
    let regrown: Vec<Item> = chain(
        (0..MORE)
            .map(|i| {
                let (ev, p) = fx.author.event(
                    &lic1,
                    "lic-1",
                    Some("C-C"),
                    EventKind::ProgressNote,
                    "2021-04-01",
                    Some(&format!("later note {i}")),
                );
                (ev, p, "2021-04-01")
            })
            .collect(),
    );
    rewrite(fx.path(), |items| {
        items.truncate(N as usize - 2);
        items.extend(regrown);
    });
    clear_checkpoints(fx.path());
    let (v, _) = incremental(&fx, &state, &Policy::default());
    assert_eq!(v.incremental_from(), None);
    assert!(
        v.findings().iter().any(|f| f.kind == K::RootMismatch),
        "{:?}",
        v.findings()
    );
}

#[test]
fn rewrite_with_a_fresh_key_is_caught() {
    let fx = fixture();
    let state = state_of(&fx);
    // Every event re-signed with fresh keys (genesis names a fresh ledger key), re-chained,
    // checkpoints replaced by one signed with the fresh ledger key.
    let fresh = |seed: u8| key(seed + 100);
    rewrite(fx.path(), |items| {
        let mut rotated = false;
        for it in items.iter_mut() {
            let mut ev = it.entry.event.event.clone();
            let seed = match (ev.author.as_str(), rotated) {
                ("admin", _) => 1,
                ("lic-1", _) => 3,
                ("cust-1", _) => 4,
                ("lic-2", true) => 6,
                ("lic-2", false) => 5,
                _ => 7,
            };
            match &mut ev.kind {
                EventKind::Genesis {
                    admin_key,
                    ledger_key,
                    ..
                } => {
                    *admin_key = fresh(1).public_key();
                    *ledger_key = fresh(2).public_key();
                }
                EventKind::ActorEnrolled {
                    actor, public_key, ..
                } => {
                    let s = match actor.as_str() {
                        "lic-1" => 3,
                        "cust-1" => 4,
                        "lic-2" if rotated => 6,
                        "lic-2" => 5,
                        _ => 7,
                    };
                    *public_key = fresh(s).public_key();
                }
                EventKind::KeyRevoked { actor } if actor.as_str() == "lic-2" => rotated = true,
                _ => {}
            }
            it.entry.event = ev.sign(ORIGIN, &fresh(seed)).unwrap();
        }
    });
    clear_checkpoints(fx.path());
    let items = load(fx.path());
    let n = items.len() as u64;
    add_checkpoint(
        fx.path(),
        &sign_checkpoint(
            &Checkpoint::new(ORIGIN, n, root(&items, n)).unwrap(),
            &NoteSigner::new(ORIGIN, fresh(2)).unwrap(),
        ),
    );
    // Even an auditor who trusts whatever key genesis names catches it: their state's root.
    for policy in [Policy::default(), trusted()] {
        let (v, _) = incremental(&fx, &state, &policy);
        assert_eq!(v.incremental_from(), None);
        assert!(
            v.findings()
                .iter()
                .any(|f| f.kind == K::RootMismatch && f.evidence.message.contains("resume state")),
            "{:?}",
            v.findings()
        );
    }
}

#[test]
fn prefix_rewritten_and_rechained_is_caught() {
    // One prefix entry edited (a signature bit flipped) and every later entry re-chained, so
    // the chain is consistent: entry n-1 changes, the run falls back to a full verification,
    // which names the entry and the root the auditor's state holds.
    let fx = fixture();
    let state = state_of(&fx);
    rewrite(fx.path(), |items| {
        items[3].entry.event.signature.bytes_mut().0[1] ^= 1
    });
    let (v, _) = incremental(&fx, &state, &trusted());
    assert_eq!(v.incremental_from(), None);
    let got: Vec<(K, Option<u64>)> = v.findings().iter().map(|f| (f.kind, f.seq)).collect();
    for e in [(K::BadSignature, Some(3)), (K::RootMismatch, None)] {
        assert!(got.contains(&e), "missing {e:?}: {:?}", v.findings());
    }
}

#[test]
fn a_damaged_state_file_is_refused_clearly() {
    let fx = fixture();
    let bytes = state_of(&fx).to_bytes().unwrap();
    for at in [40, bytes.len() / 2, bytes.len() - 40, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let err = ResumeState::from_bytes(&bad).unwrap_err();
        assert_eq!(err, ResumeStateError::Damaged, "byte {at}");
        assert!(err.to_string().contains("damaged"), "{err}");
    }
    assert_eq!(
        ResumeState::from_bytes(b"caseledger archive v1\n...").unwrap_err(),
        ResumeStateError::NotAState
    );
    assert_eq!(
        ResumeState::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err(),
        ResumeStateError::Damaged
    );
    let mut v2 = bytes.clone();
    v2[24] = 1;
    assert_eq!(
        ResumeState::from_bytes(&v2).unwrap_err(),
        ResumeStateError::UnsupportedVersion(1)
    );
    // A well-formed digest over bytes that are not a state: refused, not trusted.
    let mut junk = bytes[..26].to_vec();
    junk.extend_from_slice(&[0xFF; 7]);
    let d = blake3::derive_key(caseledger_verify::resume::DIGEST_CONTEXT, &junk);
    junk.extend_from_slice(&d);
    assert!(matches!(
        ResumeState::from_bytes(&junk),
        Err(ResumeStateError::Malformed(_))
    ));
}

#[test]
fn state_round_trips_byte_identically() {
    let fx = fixture();
    let v = full(&fx, &trusted());
    let state = v.resume_state().unwrap();
    let bytes = state.to_bytes().unwrap();
    assert!(bytes.starts_with(caseledger_verify::resume::MAGIC));
    let back = ResumeState::from_bytes(&bytes).unwrap();
    assert_eq!(&back, state);
    assert_eq!(back.to_bytes().unwrap(), bytes);
    assert_eq!((back.size(), back.root()), (v.size(), v.root()));
    assert_eq!(back.origin(), ORIGIN);
    // Not kept unless asked for, nor when there are findings.
    assert!(full(
        &fx,
        &Policy {
            keep_resume_state: false,
            ..trusted()
        }
    )
    .resume_state()
    .is_none());
    edit_raw(fx.path(), "payloads", &C_NOTE1.to_be_bytes(), |_| None);
    assert!(full(&fx, &trusted()).resume_state().is_none());
}

#[test]
fn destruction_after_the_state_checks_the_prefix_payloads_are_gone() {
    let mut fx = fixture();
    let state = state_of(&fx);
    // C-B: terminated 2021-03-02, retention runs out 2026-03-02; lawfully destroyed after.
    let b_note1 = fx.seq("B.note1");
    let kept = load(fx.path())[b_note1 as usize].payload.clone();
    assert!(kept.is_some());
    let (ev, _) = fx.author.event(
        &key(4),
        "cust-1",
        Some("C-B"),
        EventKind::Destruction {
            reason: text("retention-policy-7"),
            citation: None,
        },
        "2026-04-01",
        None,
    );
    append(&fx, vec![(ev, None, "2026-04-01")]);
    let (v, _) = incremental(&fx, &state, &trusted());
    assert!(v.is_clean(), "{:?}", v.findings());
    let b = v.records().iter().find(|r| r.id.as_str() == "C-B").unwrap();
    assert!(b.state.destroyed.as_ref().unwrap().lawful);
    let fv = full(&fx, &trusted());
    assert_eq!(
        v.resume_state().unwrap().to_bytes().unwrap(),
        fv.resume_state().unwrap().to_bytes().unwrap()
    );

    // A prefix payload of the destroyed record put back: seen, though it is before n.
    edit_raw(fx.path(), "payloads", &b_note1.to_be_bytes(), |_| kept);
    let (v, read) = incremental(&fx, &state, &trusted());
    assert_eq!(read, 2);
    assert!(
        v.findings()
            .iter()
            .any(|f| f.kind == K::PayloadAfterDestruction && f.seq == Some(b_note1)),
        "{:?}",
        v.findings()
    );
}

#[test]
fn checkpoints_below_the_state_are_judged_when_the_state_knows_their_root() {
    let mut fx = fixture();
    grow(&mut fx);
    // The state at 38 = 32 + 4 + 2: its frontier determines the roots at 32, 36 and 38.
    let state = state_of(&fx);
    assert_eq!(state.size(), N + MORE);
    let items = load(fx.path());
    // Size 10 is a stored checkpoint the full run verified: a different root there is caught.
    let mut forged = root(&items, 10);
    forged.0[0] ^= 1;
    let wrong_10 = checkpoint_note(10, forged);
    // Size 5 is neither a known checkpoint size nor a frontier boundary: unjudged.
    let at_5 = checkpoint_note(5, root(&items, 5));
    // Size 36 is not a known checkpoint size, but it is a boundary of the frontier: judged.
    let at_36 = checkpoint_note(36, root(&items, 36));
    let (v, _) = incremental(
        &fx,
        &state,
        &Policy {
            checkpoints: vec![wrong_10.clone(), at_5.clone(), at_36],
            ..trusted()
        },
    );
    assert!(
        v.findings().iter().any(|f| f.kind == K::RootMismatch
            && f.evidence.checkpoints.iter().any(|(_, t)| *t == wrong_10)),
        "{:?}",
        v.findings()
    );
    assert!(v.findings().iter().any(|f| f.kind == K::SplitView));
    assert_eq!(v.unjudged_checkpoints(), &[at_5]);
    assert_eq!(v.findings().len(), 2, "{:?}", v.findings());
}

#[test]
fn archive_and_memory_sources_resume_too() {
    let mut fx = fixture();
    let state = state_of(&fx);
    grow(&mut fx);
    let fv = full(&fx, &trusted());

    // Archive: exported by the store.
    let archive = fx.dir.path().join("ledger.archive");
    {
        let ledger = caseledger_store::Ledger::open(
            fx.path(),
            caseledger_store::OpenOptions::default().with_kek(caseledger_testkit::kek()),
        )
        .unwrap();
        ledger
            .export_archive(std::fs::File::create(&archive).unwrap(), true)
            .unwrap();
        ledger.close().unwrap();
    }
    let src = Counting::new(ArchiveSource::open(&archive).unwrap());
    let v = verify_incremental(&src, &state, &trusted(), &|_| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(src.read.get(), MORE + 1);
    assert_eq!((v.size(), v.root()), (fv.size(), fv.root()));

    // Memory.
    let items = load(fx.path());
    let mut mem = MemorySource::default();
    for it in &items {
        mem.entries
            .insert(it.entry.seq.0, it.entry.to_bytes().unwrap());
        if let Some(p) = &it.payload {
            mem.payloads.insert(it.entry.seq.0, p.clone());
        }
    }
    let n = items.len() as u64;
    mem.checkpoints.push(checkpoint_note(n, root(&items, n)));
    let src = Counting::new(mem);
    let v = verify_incremental(&src, &state, &trusted(), &|_| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(src.read.get(), MORE + 1);
    assert_eq!(v.root(), fv.root());
}

#[test]
fn progress_counts_from_the_resume_point() {
    let mut fx = fixture();
    let state = state_of(&fx);
    grow(&mut fx);
    let src = SledSource::open(fx.path()).unwrap();
    let last = Cell::new(None);
    verify_incremental(&src, &state, &trusted(), &|p| last.set(Some(p))).unwrap();
    let p = last.get().unwrap();
    assert_eq!((p.done, p.total), (N + MORE, Some(N + MORE)));
}

#[test]
fn an_emptied_ledger_is_truncation_against_the_auditors_state() {
    // Every entry deleted and every stored checkpoint with them: only the auditor's own
    // state names the ledger's size, and that is enough for a finding (not "nothing to
    // verify").
    let fx = fixture();
    let state = state_of(&fx);
    rewrite(fx.path(), Vec::clear);
    clear_checkpoints(fx.path());
    let (v, _) = incremental(&fx, &state, &trusted());
    assert_eq!(v.size(), 0);
    assert_eq!(v.incremental_from(), None);
    assert!(
        v.findings()
            .iter()
            .any(|f| f.kind == K::Truncation && f.evidence.expected.as_deref() == Some("32")),
        "{:?}",
        v.findings()
    );
    assert!(v.resume_state().is_none());
}

/// Appends one signed event at the end by rewriting the trees (re-chained, as the store
/// would chain it), and seals the new head with the ledger key.
fn append_rewritten(
    fx: &mut Fixture,
    seed: u8,
    author: &str,
    record: Option<&str>,
    kind: EventKind,
) {
    let (ev, _) = fx
        .author
        .event(&key(seed), author, record, kind, "2021-04-01", None);
    rewrite(fx.path(), |items| {
        let mut e = items[0].entry.clone();
        e.event = ev;
        e.recorded_at = Timestamp::start_of(date("2021-04-01")).unwrap();
        items.push(Item {
            entry: e,
            payload: None,
        });
    });
    let items = load(fx.path());
    let size = items.len() as u64;
    add_checkpoint(fx.path(), &checkpoint_note(size, root(&items, size)));
}

/// The close is part of the auditor's state: an entry after it, appended after the state
/// was taken, is `entry_after_close` in the incremental run.
#[test]
fn an_entry_after_a_close_in_the_state_is_caught_incrementally() {
    let mut fx = fixture();
    append_rewritten(
        &mut fx,
        1,
        "admin",
        None,
        EventKind::LedgerClosed {
            reason: text("practice closed"),
        },
    );
    let state = state_of(&fx);
    let closed = full(&fx, &trusted());
    assert_eq!(closed.closed().map(|c| c.seq.0), Some(N));
    append_rewritten(&mut fx, 3, "lic-1", Some("C-C"), EventKind::Contact);
    let (v, _) = incremental(&fx, &state, &trusted());
    assert_eq!(v.incremental_from(), Some(N + 1));
    assert!(
        v.findings()
            .iter()
            .any(|f| f.kind == K::EntryAfterClose && f.seq == Some(N + 1)),
        "{:?}",
        v.findings()
    );
    assert_eq!(v.closed().map(|c| c.seq.0), Some(N));
}

/// The checkpoint the auditor's state was verified against still seals the entries it
/// covers in a later run while its key is trusted today (docs: the result names "the one
/// the auditor's state was verified against if it is newer and signed by a key the auditor
/// trusts today"): with the ledger's own checkpoints gone and nothing new, the incremental
/// run names it and finds no unsealed tail; under a policy trusting another key it seals
/// nothing.
#[test]
fn the_states_checkpoint_still_seals_its_entries_while_its_key_is_trusted() {
    let fx = fixture();
    let state = state_of(&fx);
    assert!(state.checkpoint().is_some());
    clear_checkpoints(fx.path());
    let (v, _) = incremental(&fx, &state, &trusted());
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.checkpoint().map(|c| c.size), Some(N));
    let other = Policy {
        trusted_keys: vec![caseledger_core::note::NoteVerifier::new(
            "other.example",
            key(99).public_key(),
        )
        .unwrap()],
        ..trusted()
    };
    let (v, _) = incremental(&fx, &state, &other);
    assert!(v.checkpoint().is_none());
    assert!(
        v.findings().iter().any(|f| f.kind == K::UnsealedTail),
        "{:?}",
        v.findings()
    );
}

/// An incremental run that reads no new payload still reports the content keys as the
/// full run does: the prefix's entries commit to payloads (the auditor's state says so),
/// so the key store is needed and checked, not "nothing to check".
#[test]
fn incremental_with_nothing_new_still_checks_content_keys() {
    let fx = fixture();
    let whole = full(&fx, &trusted());
    assert!(
        matches!(
            whole.content_keys(),
            caseledger_verify::ContentKeys::Checked { .. }
        ),
        "{:?}",
        whole.content_keys()
    );
    let state = state_of(&fx);
    let (v, _) = incremental(&fx, &state, &trusted());
    assert_eq!(v.content_keys(), whole.content_keys());
}

/// The newest checkpoint reported is the larger of the auditor's own (from the state) and
/// the newest stored one that matches: an insider who deletes the newest stored seals and
/// leaves an older one does not make the run report the older one. (Nor are the entries
/// after the seal left reported unsealed: the auditor's own seal of size 32, verified
/// when the state was taken, covers them. A full run, which has no such seal, reports
/// them as `unsealed_tail`.)
#[test]
fn incremental_reports_the_auditors_newer_checkpoint_over_an_older_stored_one() {
    let fx = fixture();
    let state = state_of(&fx);
    let items = load(fx.path());
    // The fixture's seals are at 10 and at the end: the one at the end removed.
    clear_checkpoints(fx.path());
    add_checkpoint(fx.path(), &checkpoint_note(10, root(&items, 10)));
    let (v, _) = incremental(&fx, &state, &trusted());
    assert_eq!(
        v.checkpoint().map(|c| c.size),
        Some(N),
        "{:?}",
        v.findings()
    );
    let whole = full(&fx, &trusted());
    assert!(
        whole
            .findings()
            .iter()
            .any(|f| f.kind == K::UnsealedTail && f.seq == Some(10)),
        "{:?}",
        whole.findings()
    );
}
