//! Appends submitted without blocking (`Ledger::submit_append`, what `caseledger serve`
//! uses for a lone pre-signed event): each answered once through its callback after its
//! group is durable, one summoned leader per group (not one per job), refusals before
//! queueing returned and never called back, ids judged by the store, and submitted jobs
//! mixed with blocking callers in the same groups without a job left unled.
use caseledger_core::event::EventKind;
use caseledger_core::hash::entry_hash;
use caseledger_core::{Date, Timestamp};
use caseledger_store::{
    Durability, EventId, KeyedReceipt, Ledger, OpenOptions, RequestDigest, StoreError,
};
use caseledger_testkit::{self as kit, campaign, TestClock};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// A ledger with record R opened (`Immediate`: an answer means durable).
fn ledger(dir: &Path) -> Ledger {
    let now = TestClock::at_time(Timestamp::start_of(d("2015-01-05")).unwrap());
    let options = OpenOptions::default()
        .with_kek(kit::kek())
        .with_durability(Durability::Immediate)
        .with_clock(now.fixed_clock());
    let l = campaign::create_ledger_with(dir, options);
    let (e, p) = campaign::clinical("R", EventKind::RecordOpened, d("2015-01-01"), "intake");
    l.append(e, Some(p)).unwrap();
    l
}

type Answered = caseledger_store::Result<KeyedReceipt>;

/// A callback that sends its answer, tagged, to `tx`.
fn to(tx: &Sender<(usize, Answered)>, tag: usize) -> Box<dyn FnOnce(Answered) + Send> {
    let tx = tx.clone();
    Box::new(move |r| tx.send((tag, r)).unwrap())
}

/// [`to`], checking first, as it is called, that an accepted job's seal is already in
/// `checkpoints.log` under `dir` (an answer means durable and its seal logged).
fn logged_to(
    dir: &Path,
    tx: &Sender<(usize, Answered)>,
    tag: usize,
) -> Box<dyn FnOnce(Answered) + Send> {
    let (tx, log) = (
        tx.clone(),
        dir.join(caseledger_store::layout::CHECKPOINTS_LOG),
    );
    Box::new(move |r| {
        if let Ok(k) = &r {
            let seal = k.receipt.seal.as_ref().expect("every append is sealed");
            let bytes = std::fs::read(&log).unwrap();
            let framed = format!("{}\n{}", seal.note.len(), seal.note);
            assert!(
                bytes.windows(framed.len()).any(|w| w == framed.as_bytes()),
                "the seal of size {} was answered before it was logged",
                seal.size
            );
        }
        tx.send((tag, r)).unwrap()
    })
}

fn submit(
    l: &Ledger,
    text: &str,
    id: Option<(&EventId, RequestDigest)>,
    done: Box<dyn FnOnce(Answered) + Send>,
) -> caseledger_store::Result<()> {
    let (e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), text);
    l.submit_append(e, Some(p), id, done)
}

fn digest(content: &str) -> RequestDigest {
    RequestDigest(*blake3::hash(content.as_bytes()).as_bytes())
}

/// A summoner that only counts (the test leads by hand).
fn counting_summoner(l: &Ledger) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    assert!(l.set_summoner(Box::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
    })));
    n
}

fn drain(rx: &Receiver<(usize, Answered)>, n: usize) -> Vec<(usize, Answered)> {
    (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("every job answered")
        })
        .collect()
}

#[test]
fn without_a_summoner_a_submission_is_refused_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let size = l.head().size;
    assert!(!l.submits());
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let r = submit(
        &l,
        "n",
        None,
        Box::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        }),
    );
    assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    // A blocking append leads its own group: the refused job was never queued.
    let (e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), "after");
    let receipt = l.append(e, Some(p)).unwrap();
    assert_eq!(receipt.seq.0, size);
    assert_eq!(l.head().size, size + 1);
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[test]
fn queued_jobs_summon_one_leader_and_are_answered_once_by_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let summons = counting_summoner(&l);
    assert!(l.submits());
    assert!(!l.set_summoner(Box::new(|| {})), "set once");
    let size = l.head().size;
    let before = l.stats();
    let (tx, rx) = channel();
    for i in 0..10 {
        submit(
            &l,
            &format!("note {i}"),
            None,
            logged_to(dir.path(), &tx, i),
        )
        .unwrap();
    }
    // Queued, not led: one summons for all ten (the flag holds until a lead starts).
    assert_eq!(summons.load(Ordering::SeqCst), 1);
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "nothing answered unled"
    );
    assert_eq!(l.head().size, size);
    l.lead();
    let mut answers = drain(&rx, 10);
    assert!(rx.try_recv().is_err(), "each job answered once");
    answers.sort_by_key(|(i, _)| *i);
    let after = l.stats();
    assert_eq!(after.transactions - before.transactions, 1, "one group");
    assert_eq!(after.appended - before.appended, 10);
    // Nothing left queued after the lead took everything: no second summons.
    assert_eq!(summons.load(Ordering::SeqCst), 1);
    let newest = l.newest_seal().unwrap().unwrap();
    for (i, (tag, r)) in answers.into_iter().enumerate() {
        assert_eq!(tag, i);
        let k = r.unwrap();
        assert!(!k.replayed);
        // In submission order, each as stored, under the group's seal (already logged).
        assert_eq!(k.receipt.seq.0, size + i as u64);
        assert_eq!(
            entry_hash(&l.entry_bytes(k.receipt.seq).unwrap().unwrap()),
            k.receipt.hash
        );
        let seal = k.receipt.seal.unwrap();
        assert_eq!(seal.size, size + 10);
        assert_eq!(&*seal.note, newest.1);
    }
    // A lead with nothing queued returns at once.
    l.lead();
    assert_eq!(l.head().size, size + 10);
}

#[test]
fn a_refusal_before_queueing_is_returned_and_never_called_back() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let summons = counting_summoner(&l);
    let size = l.head().size;
    let (tx, rx) = channel();
    // Changed after signing: the author's signature fails on the caller's side.
    let (mut e, p) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), "n");
    e.event.occurred_on = d("2015-01-03");
    let r = l.submit_append(e, Some(p), None, to(&tx, 0));
    assert!(matches!(r, Err(StoreError::BadSignature { .. })), "{r:?}");
    // A payload that is not the committed one.
    let (e, _) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), "n");
    let (_, other) = campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), "m");
    assert!(l.submit_append(e, Some(other), None, to(&tx, 1)).is_err());
    assert_eq!(
        summons.load(Ordering::SeqCst),
        0,
        "nothing queued, nobody summoned"
    );
    l.lead();
    drop(tx);
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    assert_eq!(l.head().size, size);
    // Refused in its group (no such record): answered through the callback, alone.
    let (tx, rx) = channel();
    let (e, p) = campaign::clinical("NONE", EventKind::ProgressNote, d("2015-01-02"), "n");
    l.submit_append(e, Some(p), None, to(&tx, 2)).unwrap();
    submit(&l, "fine", None, to(&tx, 3)).unwrap();
    l.lead();
    let mut answers = drain(&rx, 2);
    answers.sort_by_key(|(i, _)| *i);
    assert!(
        matches!(answers[0].1, Err(StoreError::Refused(_))),
        "{:?}",
        answers[0].1
    );
    assert_eq!(answers[1].1.as_ref().unwrap().receipt.seq.0, size);
    assert_eq!(l.head().size, size + 1);
}

#[test]
fn ids_are_judged_by_the_store_in_the_group_and_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    counting_summoner(&l);
    let size = l.head().size;
    let (tx, rx) = channel();
    let a = EventId::new("ehr-1").unwrap();
    let b = EventId::new("ehr-2").unwrap();
    // One group: the same id and request twice (a retry racing its original), and another
    // id given twice with other content.
    submit(&l, "one", Some((&a, digest("one"))), to(&tx, 0)).unwrap();
    submit(&l, "one", Some((&a, digest("one"))), to(&tx, 1)).unwrap();
    submit(&l, "two", Some((&b, digest("two"))), to(&tx, 2)).unwrap();
    submit(&l, "other", Some((&b, digest("other"))), to(&tx, 3)).unwrap();
    l.lead();
    let mut answers = drain(&rx, 4);
    answers.sort_by_key(|(i, _)| *i);
    let first = answers[0].1.as_ref().unwrap();
    let repeat = answers[1].1.as_ref().unwrap();
    assert!(!first.replayed && repeat.replayed);
    assert_eq!(first.receipt, repeat.receipt);
    assert_eq!(answers[2].1.as_ref().unwrap().receipt.seq.0, size + 1);
    let Err(StoreError::EventIdRecorded { seq }) = answers[3].1 else {
        panic!("{:?}", answers[3].1)
    };
    assert_eq!(seq.0, size + 1);
    assert_eq!(l.head().size, size + 2);
    // Recorded by an earlier group: refused by the leader (nothing is looked up before
    // queueing), resolved by recorded_receipt.
    submit(&l, "one", Some((&a, digest("one"))), to(&tx, 4)).unwrap();
    l.lead();
    let (tag, r) = drain(&rx, 1).pop().unwrap();
    assert_eq!(tag, 4);
    let Err(StoreError::EventIdRecorded { seq }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(seq, first.receipt.seq);
    let k = l.recorded_receipt(&a, &digest("one"), seq).unwrap();
    assert!(k.replayed);
    assert_eq!(k.receipt, first.receipt);
    let other = l.recorded_receipt(
        &b,
        &digest("other"),
        answers[2].1.as_ref().unwrap().receipt.seq,
    );
    assert!(
        matches!(other, Err(StoreError::EventIdRecorded { .. })),
        "{other:?}"
    );
    assert_eq!(l.head().size, size + 2);
}

/// Blocking callers and submitted jobs in the same groups, leaders summoned onto threads of
/// their own: every job is led and answered once, the ledger is contiguous and verifies.
#[test]
fn submitted_and_blocking_appends_share_groups_and_none_is_left_unled() {
    let dir = tempfile::tempdir().unwrap();
    let l = Arc::new(ledger(dir.path()));
    let weak = Arc::downgrade(&l);
    let summons = Arc::new(AtomicUsize::new(0));
    let c = summons.clone();
    assert!(l.set_summoner(Box::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
        if let Some(l) = weak.upgrade() {
            std::thread::spawn(move || l.lead());
        }
    })));
    let size = l.head().size;
    const THREADS: usize = 8;
    const EACH: usize = 150;
    let (tx, rx) = channel();
    // Signed here: the test clock that dates signatures is this thread's.
    let work: Vec<Vec<_>> = (0..THREADS)
        .map(|t| {
            (0..EACH)
                .map(|i| {
                    let text = format!("t{t} n{i}");
                    campaign::clinical("R", EventKind::ProgressNote, d("2015-01-02"), &text)
                })
                .collect()
        })
        .collect();
    let blocking: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = work
            .into_iter()
            .enumerate()
            .map(|(t, items)| {
                let (l, tx, d) = (&l, tx.clone(), dir.path());
                s.spawn(move || {
                    let mut seqs = Vec::new();
                    for (i, (e, p)) in items.into_iter().enumerate() {
                        if t % 2 == 0 {
                            let done = logged_to(d, &tx, t * EACH + i);
                            l.submit_append(e, Some(p), None, done).unwrap();
                        } else {
                            seqs.push(l.append(e, Some(p)).unwrap().seq.0);
                        }
                    }
                    seqs
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let submitted = THREADS / 2 * EACH;
    let answers = drain(&rx, submitted);
    let mut seqs: Vec<u64> = answers
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().receipt.seq.0)
        .collect();
    seqs.extend(blocking);
    seqs.sort_unstable();
    let total = (THREADS * EACH) as u64;
    assert_eq!(seqs, (size..size + total).collect::<Vec<_>>());
    assert_eq!(l.head().size, size + total);
    // Fewer leads than jobs: a summons per group at most, not per job.
    let n = summons.load(Ordering::SeqCst);
    assert!(n >= 1 && n < submitted, "{n} summons for {submitted} jobs");
    drop(tx);
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "each answered once"
    );
    // The tree is the one the stored entries make, and the newest seal names it.
    assert_eq!(l.root(), kit::recomputed_root(&l));
    let newest = l.newest_seal().unwrap().unwrap();
    assert!(
        newest.1.contains(&format!("\n{}\n", size + total)),
        "{}",
        newest.1
    );
}
