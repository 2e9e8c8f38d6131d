//! Group commit: many threads appending with `Immediate` durability.
use caseledger_core::event::EventKind;
use caseledger_core::hash::entry_hash;
use caseledger_core::ids::Seq;
use caseledger_store::Durability;
use caseledger_testkit::*;
use std::collections::HashSet;

#[test]
fn eight_threads_by_a_thousand_appends() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let ledger = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let records: Vec<_> = (0..THREADS).map(|t| rid(&format!("C-{t}"))).collect();
    for r in &records {
        let (e, p) = Cast::TEST.licensee_event(&clock, r, EventKind::RecordOpened, None);
        ledger.append(e, p).unwrap();
    }
    let base = ledger.head().size;
    let before = ledger.stats();
    // Sign on the side so the measured part is the store.
    let work: Vec<Vec<_>> = records
        .iter()
        .map(|r| {
            (0..PER_THREAD)
                .map(|i| {
                    Cast::TEST.licensee_event(
                        &clock,
                        r,
                        EventKind::ProgressNote,
                        Some(format!("note {i}").as_bytes()),
                    )
                })
                .collect()
        })
        .collect();
    let start = std::time::Instant::now();
    let receipts: Vec<Vec<_>> = std::thread::scope(|s| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|items| {
                let ledger = &ledger;
                s.spawn(move || {
                    items
                        .into_iter()
                        .map(|(e, p)| ledger.append(e, p).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let total = (THREADS * PER_THREAD) as u64;
    // Contiguous, no duplicates, count.
    let mut seqs: Vec<u64> = receipts.iter().flatten().map(|r| r.seq.0).collect();
    seqs.sort_unstable();
    assert_eq!(seqs.len() as u64, total);
    assert_eq!(
        seqs.iter().copied().collect::<HashSet<_>>().len() as u64,
        total
    );
    assert_eq!(seqs, (base..base + total).collect::<Vec<_>>());
    assert_eq!(ledger.head().size, base + total);
    // Each thread's appends are in its own order; receipts match stored bytes.
    for rs in &receipts {
        assert!(rs.windows(2).all(|w| w[0].seq < w[1].seq));
        for r in rs.iter().step_by(97) {
            assert_eq!(
                entry_hash(&ledger.entry_bytes(r.seq).unwrap().unwrap()),
                r.hash
            );
        }
    }
    // The root equals the reference recomputed from the stored entries, and the chain holds.
    assert_eq!(ledger.root(), recomputed_root(&ledger));
    assert_eq!(ledger.root_at(ledger.head().size).unwrap(), ledger.root());
    let mut prev = caseledger_core::ids::EntryHash::ZERO;
    for i in 0..ledger.head().size {
        let e = ledger.entry(Seq(i)).unwrap().unwrap();
        assert_eq!(e.prev, prev);
        prev = entry_hash(&ledger.entry_bytes(Seq(i)).unwrap().unwrap());
    }
    // Group commit really grouped.
    let st = ledger.stats();
    let txs = st.transactions - before.transactions;
    let flushes = st.flushes - before.flushes;
    assert_eq!(st.appended - before.appended, total);
    assert!(
        txs < total,
        "no grouping: {txs} transactions for {total} appends"
    );
    assert!(flushes <= txs);
    assert!(st.largest_group > 1);
    eprintln!(
        "group commit: {total} appends in {elapsed:?} ({:.0}/s), {txs} transactions, {flushes} flushes, mean group {:.2}, largest {}",
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / txs as f64,
        st.largest_group
    );
    // Records hold their entries.
    for r in &records {
        assert_eq!(ledger.record_entries(r).unwrap().len(), PER_THREAD + 1);
        assert_eq!(
            ledger.record_state(r).unwrap().unwrap().entries,
            PER_THREAD as u64 + 1
        );
    }
}

#[test]
fn refusals_inside_a_group_fail_only_their_caller() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let ledger = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    ledger.append(e, p).unwrap();
    // Half the threads replay the same event: exactly one of each pair wins.
    let events: Vec<_> = (0..50)
        .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None))
        .collect();
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (ledger, events) = (&ledger, &events);
                s.spawn(move || {
                    events
                        .iter()
                        .map(|(e, p)| ledger.append(e.clone(), p.clone()).is_ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for i in 0..events.len() {
        assert_eq!(
            results.iter().filter(|r| r[i]).count(),
            1,
            "event {i} must be appended exactly once"
        );
    }
    assert_eq!(ledger.record_entries(&r).unwrap().len(), 51);
    assert_eq!(ledger.root(), recomputed_root(&ledger));
}

/// Groups are pipelined (the next group commits while one is flushed, and one log fsync may
/// cover several groups' seals): still, when `append` returns, its receipt's seal is in
/// `checkpoints.log`, and the log holds every acknowledged seal once, in increasing size.
#[test]
fn every_receipts_seal_is_in_the_log_when_append_returns() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let ledger = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let log = ledger.dir().join(caseledger_store::layout::CHECKPOINTS_LOG);
    let records: Vec<_> = (0..THREADS).map(|t| rid(&format!("C-{t}"))).collect();
    for r in &records {
        let (e, p) = Cast::TEST.licensee_event(&clock, r, EventKind::RecordOpened, None);
        ledger.append(e, p).unwrap();
    }
    let work: Vec<Vec<_>> = records
        .iter()
        .map(|r| {
            (0..PER_THREAD)
                .map(|i| {
                    Cast::TEST.licensee_event(
                        &clock,
                        r,
                        EventKind::ProgressNote,
                        Some(format!("note {i}").as_bytes()),
                    )
                })
                .collect()
        })
        .collect();
    let seals: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = work
            .into_iter()
            .map(|items| {
                let (ledger, log) = (&ledger, &log);
                s.spawn(move || {
                    let mut seen = Vec::new();
                    for (e, p) in items {
                        let r = ledger.append(e, p).unwrap();
                        let seal = r.seal.expect("every append is sealed");
                        assert!(seal.size > r.seq.0);
                        // Read right away: other groups may be writing the log meanwhile.
                        let bytes = std::fs::read(log).unwrap();
                        let framed = format!("{}\n{}", seal.note.len(), seal.note);
                        assert!(
                            bytes.windows(framed.len()).any(|w| w == framed.as_bytes()),
                            "the seal of size {} was acknowledged before it was logged",
                            seal.size
                        );
                        seen.push(seal.note.to_string());
                    }
                    seen
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let logged =
        caseledger_store::layout::parse_checkpoints_log(&std::fs::read(&log).unwrap()).unwrap();
    let sizes: Vec<u64> = logged
        .iter()
        .map(|n| n.lines().nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] < w[1]),
        "log sizes not increasing: {sizes:?}"
    );
    for s in &seals {
        assert!(
            logged.contains(s),
            "an acknowledged seal is missing from the log"
        );
    }
    assert_eq!(*sizes.last().unwrap(), ledger.head().size);
    assert_eq!(ledger.root(), recomputed_root(&ledger));
}

/// Followers park until their group is answered, and only their own group's end wakes
/// them: if an answered follower were never unparked, its thread would hang and this test
/// fails at the deadline instead of hanging. Wake-ups stay at one per answered caller plus
/// one hand-over per group (answered callers no longer each wake a next leader).
#[test]
fn answered_followers_are_woken_once_each_within_a_deadline() {
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};
    const THREADS: usize = 16;
    const PER_THREAD: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let ledger = Arc::new(Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate));
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    ledger.append(e, p).unwrap();
    let before = ledger.stats();
    let (tx, rx) = mpsc::channel();
    for _ in 0..THREADS {
        let items: Vec<_> = (0..PER_THREAD)
            .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None))
            .collect();
        let (ledger, tx) = (Arc::clone(&ledger), tx.clone());
        // Detached: a thread that never wakes must not keep the test from failing.
        std::thread::spawn(move || {
            for (e, p) in items {
                ledger.append(e, p).unwrap();
            }
            tx.send(()).unwrap();
        });
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    for finished in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            rx.recv_timeout(left).is_ok(),
            "only {finished} of {THREADS} appending threads returned within the deadline: an answered caller was never woken"
        );
    }
    let st = ledger.stats();
    let appended = st.appended - before.appended;
    let txs = st.transactions - before.transactions;
    let wakeups = st.wakeups - before.wakeups;
    assert_eq!(appended, (THREADS * PER_THREAD) as u64);
    // Followers existed (else nobody needed waking).
    assert!(st.largest_group > 1, "no group had a follower");
    assert!(
        wakeups <= appended + txs,
        "{wakeups} wake-ups for {appended} appends in {txs} groups"
    );
    assert_eq!(
        ledger.record_state(&r).unwrap().unwrap().entries,
        (THREADS * PER_THREAD) as u64 + 1
    );
}
