//! Client event ids (DESIGN.md v2 principle 8): a repeat returns the original receipt and
//! appends nothing, other content under a used id is refused, the same content under
//! another id is a new entry; after a lawful destruction the id's row survives but its
//! request hash (keyed by the erased record key) cannot be matched.
use caseledger_core::event::{EventKind, ShortText, TerminationReason};
use caseledger_core::layout::{SLED_DIR, TREE_NONCES};
use caseledger_core::{Date, Timestamp};
use caseledger_store::requests::{request_hash, REQUEST_HASH_CONTEXT};
use caseledger_store::{
    BatchError, EventId, IdSeen, Ledger, OpenOptions, Receipt, Request, RequestDigest, StoreError,
};
use caseledger_testkit::{self as kit, campaign, TestClock};
use std::path::Path;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// The caller's digest of a request (any 32 bytes fixed by its content).
fn digest(content: &str) -> RequestDigest {
    RequestDigest(*blake3::hash(content.as_bytes()).as_bytes())
}

fn id(s: &str) -> EventId {
    EventId::new(s).unwrap()
}

/// A ledger with record R opened, on a clock the test moves.
fn ledger(dir: &Path) -> (Ledger, TestClock) {
    let now = TestClock::at_time(Timestamp::start_of(d("2015-01-05")).unwrap());
    let options = OpenOptions::default()
        .with_kek(kit::kek())
        .with_clock(now.fixed_clock());
    let l = campaign::create_ledger_with(dir, options);
    let (e, p) = campaign::clinical("R", EventKind::RecordOpened, d("2015-01-01"), "intake");
    l.append(e, Some(p)).unwrap();
    (l, now)
}

fn note_with(l: &Ledger, text: &str, request: Option<Request>) -> Result<Vec<Receipt>, BatchError> {
    let (e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), text);
    l.append_batch_keyed(vec![(e, Some(p), request)])
}

fn note_with_id(
    l: &Ledger,
    text: &str,
    event_id: &str,
    request: &str,
) -> Result<Vec<Receipt>, BatchError> {
    note_with(l, text, Some(Request::Id(id(event_id), digest(request))))
}

/// The stored row of an id, read raw from the closed ledger's `nonces` tree.
fn raw_row(dir: &Path, event_id: &str) -> Option<Vec<u8>> {
    let db = caseledger_sledio::open_db(&dir.join(SLED_DIR), |c| c).unwrap();
    let t = db.open_tree(TREE_NONCES).unwrap();
    let mut key = vec![b'I'];
    key.extend_from_slice(&id(event_id).lookup_key(&kit::kek()));
    t.get(key).unwrap().map(|v| v.to_vec())
}

fn reopen(dir: &Path) -> Ledger {
    Ledger::open(
        dir,
        OpenOptions::default()
            .with_kek(kit::kek())
            .with_ledger_key(kit::Cast::CAMPAIGN.ledger_key()),
    )
    .unwrap()
}

#[test]
fn a_repeat_returns_the_original_receipt_and_other_content_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("L");
    let (l, _) = ledger(&dir);
    assert_eq!(
        l.event_id_seen(&id("n-1"), &digest("a")).unwrap(),
        IdSeen::New
    );
    let r = note_with_id(&l, "first", "n-1", "a").unwrap().remove(0);
    let first_seal = r.seal.clone().unwrap();
    // A later commit: the repeat still gets the seal of the commit that wrote the entry.
    note_with(&l, "later", None).unwrap();
    let size = l.head().size;
    assert_eq!(
        l.event_id_seen(&id("n-1"), &digest("a")).unwrap(),
        IdSeen::Recorded(r.clone())
    );
    assert_eq!(first_seal.size, r.seq.0 + 1);
    assert_eq!(
        l.event_id_seen(&id("n-1"), &digest("b")).unwrap(),
        IdSeen::Conflict { seq: r.seq }
    );
    // Appending with the id again is refused by the store itself; nothing written.
    let e = note_with_id(&l, "again", "n-1", "a").unwrap_err();
    assert!(matches!(e.error, StoreError::EventIdRecorded { seq } if seq == r.seq));
    assert_eq!(l.head().size, size);
    // The same content under another id is a new entry.
    let r2 = note_with_id(&l, "first", "n-2", "a").unwrap().remove(0);
    assert_eq!(r2.seq.0, size);
    l.close().unwrap();
    // After a reopen the same receipt is read back (its seal from checkpoints.log).
    let l = reopen(&dir);
    assert_eq!(
        l.event_id_seen(&id("n-1"), &digest("a")).unwrap(),
        IdSeen::Recorded(r.clone())
    );
    l.close().unwrap();
    // The row holds the seq and a 32-byte hash keyed by the record key, not the digest.
    let row = raw_row(&dir, "n-1").unwrap();
    assert_eq!(row.len(), 40);
    assert_eq!(row[..8], r.seq.0.to_be_bytes());
    assert_ne!(row[8..], digest("a").0);
}

#[test]
fn a_batch_refuses_a_repeated_id_and_an_id_on_an_administration_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("L");
    let (l, _) = ledger(&dir);
    let size = l.head().size;
    let item = |text: &str| {
        let (e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), text);
        (e, Some(p), Some(Request::Id(id("dup"), digest(text))))
    };
    let e = l
        .append_batch_keyed(vec![item("one"), item("two")])
        .unwrap_err();
    assert_eq!(e.index, Some(1));
    assert_eq!(l.head().size, size);
    assert_eq!(
        l.event_id_seen(&id("dup"), &digest("one")).unwrap(),
        IdSeen::New
    );
    // A record-less event takes no id (its hash would have no record key).
    let (admin, _) = kit::Cast::CAMPAIGN.admin.sign_for(
        kit::Cast::CAMPAIGN.origin,
        None,
        EventKind::KeyRevoked {
            actor: caseledger_core::ActorId::new("nobody").unwrap(),
        },
        d("2015-01-02"),
        None,
    );
    let e = l
        .append_batch_keyed(vec![(
            admin,
            None,
            Some(Request::Id(id("adm"), digest("x"))),
        )])
        .unwrap_err();
    assert!(matches!(e.error, StoreError::EventIdWithoutRecord));
    assert_eq!(l.head().size, size);
}

/// After a lawful destruction the id row survives (the id stays used) but its request hash
/// is keyed by an erased key: the store reports the key erased, and a guessing attacker
/// holding the KEK, the origin and the request format matches nothing.
#[test]
fn after_destruction_the_request_hash_cannot_be_matched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("L");
    let (l, now) = ledger(&dir);
    // The request carries a low-entropy field: a fee between 0 and 9999.
    let request = |fee: u32| format!("{{\"record\":\"R\",\"payload\":\"fee {fee}\"}}");
    let r = note_with_id(&l, "fee", "fee-note", &request(4711))
        .unwrap()
        .remove(0);
    // Positive control: with the record key the store tells the true request apart.
    assert!(matches!(
        l.event_id_seen(&id("fee-note"), &digest(&request(4711)))
            .unwrap(),
        IdSeen::Recorded(_)
    ));
    assert_eq!(
        l.event_id_seen(&id("fee-note"), &digest(&request(4712)))
            .unwrap(),
        IdSeen::Conflict { seq: r.seq }
    );
    let (e, p) = campaign::clinical(
        "R",
        EventKind::ServiceTerminated {
            terminated_on: d("2015-01-03"),
            reason: TerminationReason::Unstated,
        },
        d("2015-01-03"),
        "ended",
    );
    l.append(e, Some(p)).unwrap();
    now.set(Timestamp::start_of(d("2020-01-04")).unwrap());
    let destroy = campaign::custodial(
        "R",
        EventKind::Destruction {
            reason: ShortText::new("policy 7").unwrap(),
            citation: None,
        },
        d("2020-01-04"),
    );
    l.append(destroy, None).unwrap();
    assert_eq!(
        l.event_id_seen(&id("fee-note"), &digest(&request(4711)))
            .unwrap(),
        IdSeen::KeyErased { seq: r.seq }
    );
    // A destroyed record takes nothing under a new id, and gets no new content key.
    let size = l.head().size;
    assert!(note_with_id(&l, "late", "late-note", "late").is_err());
    assert_eq!(l.head().size, size);
    let slots_before = std::fs::read(dir.join("keystore")).unwrap();
    l.close().unwrap();
    let slots = caseledger_store::keystore::read_slots(&dir.join("keystore")).unwrap();
    assert!(slots
        .iter()
        .all(|s| !matches!(s, Some(caseledger_store::keystore::SlotState::Live { .. }))));
    assert_eq!(std::fs::read(dir.join("keystore")).unwrap(), slots_before);
    // The attack: every fee under every key the attacker holds (KEK, origin, none).
    let row = raw_row(&dir, "fee-note").unwrap();
    assert_eq!(row[..8], r.seq.0.to_be_bytes());
    let kek_key = blake3::derive_key(REQUEST_HASH_CONTEXT, kit::kek().as_bytes());
    let origin_key =
        blake3::derive_key(REQUEST_HASH_CONTEXT, kit::Cast::CAMPAIGN.origin.as_bytes());
    let kek_as_record_key = caseledger_core::content::RecordKey::from_bytes(*kit::kek().as_bytes());
    let mut tried = 0;
    for fee in 0..10_000 {
        let g = digest(&request(fee));
        assert_ne!(g.0[..], row[8..]);
        assert_ne!(blake3::keyed_hash(&kek_key, &g.0).as_bytes()[..], row[8..]);
        assert_ne!(
            blake3::keyed_hash(&origin_key, &g.0).as_bytes()[..],
            row[8..]
        );
        assert_ne!(request_hash(&kek_as_record_key, &g)[..], row[8..]);
        tried += 1;
    }
    assert_eq!(tried, 10_000);
}

/// Many ids at once (a file import): each repeat gets the seal of its own commit, from one
/// read of `checkpoints.log`, in the order asked.
#[test]
fn many_ids_get_the_seals_of_their_own_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, _) = ledger(&tmp.path().join("L"));
    let mut receipts = Vec::new();
    for i in 0..4 {
        let r = note_with_id(&l, &format!("n{i}"), &format!("id-{i}"), &format!("r{i}"));
        receipts.push(r.unwrap().remove(0));
        // Commits without ids in between: the seals differ from the newest one.
        note_with(&l, "between", None).unwrap();
    }
    let ids: Vec<EventId> = (0..5).map(|i| id(&format!("id-{i}"))).collect();
    let digests: Vec<RequestDigest> = (0..5).map(|i| digest(&format!("r{i}"))).collect();
    let ask: Vec<_> = [2, 0, 4, 3, 1]
        .iter()
        .map(|&i| (&ids[i], &digests[i]))
        .collect();
    let seen = l.event_ids_seen(&ask).unwrap();
    assert_eq!(
        seen,
        vec![
            IdSeen::Recorded(receipts[2].clone()),
            IdSeen::Recorded(receipts[0].clone()),
            IdSeen::New,
            IdSeen::Recorded(receipts[3].clone()),
            IdSeen::Recorded(receipts[1].clone()),
        ]
    );
    let sizes: Vec<u64> = receipts
        .iter()
        .map(|r| r.seal.as_ref().unwrap().size)
        .collect();
    assert_eq!(
        sizes,
        receipts.iter().map(|r| r.seq.0 + 1).collect::<Vec<_>>()
    );
    assert!(l.event_ids_seen(&[]).unwrap().is_empty());
}

/// `append_keyed` with a note's text, its id, and the digest of its request.
fn keyed(
    l: &Ledger,
    text: &str,
    event_id: &str,
    request: &str,
) -> caseledger_store::Result<caseledger_store::KeyedReceipt> {
    let (e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), text);
    l.append_keyed(e, Some(p), &id(event_id), digest(request))
}

/// Threads released together, each calling `f(thread)`: their results, by thread.
fn race<T: Send>(threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    // Events signed on this thread are signed at the ledger's test time.
                    let _clock = TestClock::at_time(Timestamp::start_of(d("2015-01-05")).unwrap());
                    barrier.wait();
                    f(t)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Concurrent requests with one id and one content (each its own signed event, as a
/// retried HTTP request is): one entry, and every caller gets the same receipt (seq, entry
/// hash, recorded_at, seal), whether they met in one group or not; exactly one of them is
/// not a replay.
#[test]
fn racing_one_id_with_one_content_appends_once_and_answers_all_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, _) = ledger(&tmp.path().join("L"));
    let mut first_round = None;
    for round in 0..6 {
        let before = l.head().size;
        let event_id = format!("race-{round}");
        let got = race(8, |_| {
            keyed(&l, "same note", &event_id, "same request").unwrap()
        });
        assert_eq!(l.head().size, before + 1, "round {round}: one entry");
        assert_eq!(got.iter().filter(|k| !k.replayed).count(), 1);
        let first = &got[0].receipt;
        assert_eq!(first.seq.0, before);
        assert!(first.seal.is_some());
        first_round.get_or_insert_with(|| first.clone());
        for k in &got {
            assert_eq!(&k.receipt, first, "round {round}: the same receipt for all");
        }
        // The ledger's own verdict afterwards agrees.
        assert_eq!(
            l.event_id_seen(&id(&event_id), &digest("same request"))
                .unwrap(),
            IdSeen::Recorded(first.clone())
        );
    }
    // And a later repeat, alone, too.
    let again = keyed(&l, "same note", "race-0", "same request").unwrap();
    assert!(again.replayed);
    assert_eq!(again.receipt, first_round.unwrap());
}

/// Concurrent requests with one id and different content: one is appended, every other one
/// is refused with `EventIdRecorded` naming the winner's seq, and nothing else is written.
#[test]
fn racing_one_id_with_other_content_appends_one_and_refuses_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, _) = ledger(&tmp.path().join("L"));
    for round in 0..6 {
        let before = l.head().size;
        let event_id = format!("clash-{round}");
        let got = race(8, |t| {
            keyed(&l, &format!("note {t}"), &event_id, &format!("request {t}"))
        });
        assert_eq!(l.head().size, before + 1, "round {round}: one entry");
        let won: Vec<usize> = (0..got.len()).filter(|t| got[*t].is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: one winner");
        let winner = got[won[0]].as_ref().unwrap();
        assert!(!winner.replayed);
        assert_eq!(winner.receipt.seq.0, before);
        for r in &got {
            match r {
                Ok(_) => {}
                Err(StoreError::EventIdRecorded { seq }) => assert_eq!(*seq, winner.receipt.seq),
                Err(e) => panic!("round {round}: unexpected refusal {e}"),
            }
        }
        // The row holds the winner's request; the others conflict with it.
        assert_eq!(
            l.event_id_seen(&id(&event_id), &digest(&format!("request {}", won[0])))
                .unwrap(),
            IdSeen::Recorded(winner.receipt.clone())
        );
        let loser = (won[0] + 1) % 8;
        assert_eq!(
            l.event_id_seen(&id(&event_id), &digest(&format!("request {loser}")))
                .unwrap(),
            IdSeen::Conflict {
                seq: winner.receipt.seq
            }
        );
    }
}

/// Keyed and unkeyed appends share groups: keyed appends alone group (fewer transactions
/// than entries), and in a mix every unkeyed and every distinct keyed append is written
/// once, each shared id once, and refusals of repeats fail nobody else.
#[test]
fn keyed_and_unkeyed_appends_share_group_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, _) = ledger(&tmp.path().join("L"));
    const THREADS: usize = 8;
    const ROUNDS: usize = 25;
    // Keyed only, all distinct.
    let before = l.stats();
    let base = l.head().size;
    race(THREADS, |t| {
        for i in 0..ROUNDS {
            let k = keyed(&l, "n", &format!("k-{t}-{i}"), &format!("r-{t}-{i}")).unwrap();
            assert!(!k.replayed);
        }
    });
    let total = (THREADS * ROUNDS) as u64;
    assert_eq!(l.head().size, base + total);
    let st = l.stats();
    let txs = st.transactions - before.transactions;
    assert!(
        txs < total,
        "keyed appends did not group: {txs} transactions for {total}"
    );
    // Mixed: unkeyed, distinct keyed, and one id per round shared by every thread.
    let base = l.head().size;
    let got = race(THREADS, |t| {
        let mut shared = Vec::new();
        for i in 0..ROUNDS {
            let (e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), "u");
            l.append(e, Some(p)).unwrap();
            keyed(&l, "m", &format!("m-{t}-{i}"), &format!("m-{t}-{i}")).unwrap();
            shared.push(keyed(&l, "s", &format!("s-{i}"), &format!("s-{i}")).unwrap());
        }
        shared
    });
    assert_eq!(l.head().size, base + total * 2 + ROUNDS as u64);
    for i in 0..ROUNDS {
        let first = &got[0][i].receipt;
        for s in &got {
            assert_eq!(s[i].receipt, *first, "shared id {i}");
        }
        assert_eq!(got.iter().filter(|s| !s[i].replayed).count(), 1);
    }
    assert_eq!(l.root(), kit::recomputed_root(&l));
}
