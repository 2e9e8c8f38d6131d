//! What a run works on: the sizes of each section, the write-path workload the write
//! sections and their floors share, and the directories their ledgers go in.

use crate::args::Opts;
use crate::util::{log, Res};
use caseledger_bench::{StoredPair, Workload};
use caseledger_core::event::{Payload, SignedEvent};
use std::path::PathBuf;

/// Records the write-path workload spreads its events over.
pub const WRITE_RECORDS: u64 = 100;
/// Events per record in the verification ledgers (1M events / 10k records).
pub const EVENTS_PER_RECORD: u64 = 100;

pub struct Sizes {
    /// P1 / F1 events.
    pub group_events: u64,
    /// P2 / F2 events.
    pub flush_each: u64,
    /// P3 / F3 events.
    pub bulk: u64,
    /// The verification ledger (P4, P6, P7).
    pub verify_n: u64,
    /// P5 ledger sizes.
    pub p5: Vec<u64>,
    /// Repetitions of the verification-scale measurements.
    pub big_reps: usize,
}

pub fn sizes(o: &Opts) -> Sizes {
    if o.quick {
        Sizes {
            group_events: 3_000,
            flush_each: 200,
            bulk: 10_000,
            verify_n: 50_000,
            p5: vec![10_000, 50_000],
            big_reps: 3,
        }
    } else {
        let mut p5 = vec![10_000, 100_000, 1_000_000];
        if o.ten_million {
            p5.push(10_000_000);
        }
        Sizes {
            group_events: 20_000,
            flush_each: 1_000,
            bulk: 50_000,
            verify_n: 1_000_000,
            p5,
            big_reps: 3,
        }
    }
}

/// The workload of verification ledgers of `n` events (`n / 100` records).
pub fn verify_workload(n: u64) -> Workload {
    Workload::new((n / EVENTS_PER_RECORD).max(1))
}

/// Fresh directories under the run's root, numbered in the order asked for.
pub struct Dirs {
    root: PathBuf,
    n: u32,
}

impl Dirs {
    pub fn new(root: PathBuf) -> Dirs {
        Dirs { root, n: 0 }
    }
    pub fn fresh(&mut self, what: &str) -> PathBuf {
        self.n += 1;
        self.root.join(format!("{:03}-{what}", self.n))
    }
}

/// The write path's events (P1, P2, P3) and the same events as stored pairs (F1, F2, F3):
/// one record-opening event per record, then the events measured.
pub struct WritePath {
    pub w: Workload,
    all: Vec<(SignedEvent, Payload)>,
    pairs_all: Vec<StoredPair>,
}

impl WritePath {
    /// Enough events for the largest write section (`max_n`) after the openings.
    pub fn new(max_n: u64) -> Res<WritePath> {
        let w = Workload::new(WRITE_RECORDS);
        let all = w.events(0..WRITE_RECORDS + max_n)?;
        let pairs_all = caseledger_bench::chain_pairs(&w, &all)?;
        let wp = WritePath { w, all, pairs_all };
        let first = &wp.pairs(1)[0];
        log(format!(
            "workload: {} events, entry {} B, payload value {} B",
            wp.all.len(),
            first.entry.len(),
            first.payload.len()
        ));
        Ok(wp)
    }

    fn opening_len() -> usize {
        take(WRITE_RECORDS)
    }

    /// The events opening the records (appended untimed before a measurement).
    pub fn opening(&self) -> &[(SignedEvent, Payload)] {
        &self.all[..Self::opening_len()]
    }

    /// The first `n` events after the openings.
    pub fn events(&self, n: u64) -> &[(SignedEvent, Payload)] {
        &self.all[Self::opening_len()..][..take(n)]
    }

    /// The stored pairs of [`WritePath::events`] (`n`).
    pub fn pairs(&self, n: u64) -> &[StoredPair] {
        &self.pairs_all[2 + Self::opening_len()..][..take(n)]
    }
}

fn take(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
