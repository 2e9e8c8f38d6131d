//! The ratio-to-floor harness: measures raw floors (sled, Ed25519) and caseledger's figures
//! on the same entry and payload bytes in one run, and prints one table of medians and
//! ratios against the performance targets of issue 6 (see benches/RESULTS.md).
//!
//! ```text
//! harness [--quick] [--reps N] [--ten-million] [--out FILE] [--keep DIR] [--only SECTIONS]
//! ```
//!
//! * `--quick`: small sizes, under two minutes (P5 at 10k and 50k, verification at 50k).
//! * default (full): verification, proofs and the retention report at 1M events.
//! * `--ten-million`: also P5 at 10M events (long: builds a 10M-event ledger).
//! * `--out FILE`: also write the table (Markdown) to FILE.
//! * `--only p1,p2,p3,verify,p5`: run only these sections (for profiling one of them).
//! * `--keep DIR`: build the ledgers under DIR and keep them.
//!
//! The harness never judges the machine: a target not met is printed, never an error. It
//! exits non-zero only when it could not run (a ledger could not be created, a child
//! process failed).

use caseledger_bench::stats::{median, si};
use caseledger_bench::{StoredPair, Workload};
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_core::hash::signing_message;
use caseledger_core::keys::SigningKey;
use caseledger_core::note::NoteSigner;
use caseledger_core::Seq;
use caseledger_store::{Durability, Ledger, OpenOptions, IMPORT_CHUNK};
use caseledger_verify::asof::verify_as_of;
use caseledger_verify::report::{sign_report, ReportContext, RetentionReport};
use caseledger_verify::{verify, ArchiveSource, Policy, SledSource};
use rayon::prelude::*;
use sled::Transactional;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn fail(msg: impl Into<String>) -> Box<dyn std::error::Error + Send + Sync> {
    msg.into().into()
}

/// Writer threads for P1 (the issue's figure).
const WRITERS: usize = 64;
/// Records the write-path workload spreads its events over.
const WRITE_RECORDS: u64 = 100;
/// Events per record in the verification ledgers (1M events / 10k records).
const EVENTS_PER_RECORD: u64 = 100;
/// Signatures in the F5 sample (the rate is per signature; a sample bounds memory and time).
const F5_SAMPLE: usize = 1 << 18;
/// Chunk of signatures per `verify_batch` call in F5 (as the verifier does).
const F5_CHUNK: usize = 256;
/// Proofs generated per P6 repetition.
const P6_PROOFS: usize = 2000;

struct Opts {
    quick: bool,
    reps: usize,
    ten_million: bool,
    out: Option<PathBuf>,
    keep: Option<PathBuf>,
    /// Sections to run (`--only p1,p2,p3,verify,p5`); empty: all.
    only: Vec<String>,
}

impl Opts {
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
    fn reps_of(&self, section: &str) -> usize {
        if self.runs(section) {
            self.reps
        } else {
            0
        }
    }
}

struct Sizes {
    /// P1 / F1 events.
    group_events: u64,
    /// P2 / F2 events.
    flush_each: u64,
    /// P3 / F3 events.
    bulk: u64,
    /// The verification ledger (P4, P6, P7).
    verify_n: u64,
    /// P5 ledger sizes.
    p5: Vec<u64>,
    /// Repetitions of the verification-scale measurements.
    big_reps: usize,
}

fn parse_args() -> Res<Option<(Opts, Option<Child>)>> {
    let mut o = Opts {
        quick: false,
        reps: 0,
        ten_million: false,
        out: None,
        keep: None,
        only: Vec::new(),
    };
    let mut child = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--ten-million" => o.ten_million = true,
            "--reps" => {
                o.reps = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| fail("--reps N"))?;
            }
            "--out" => o.out = Some(args.next().ok_or_else(|| fail("--out FILE"))?.into()),
            "--only" => {
                let list = args
                    .next()
                    .ok_or_else(|| fail("--only p1,p2,p3,verify,p5"))?;
                o.only = list.split(',').map(str::to_owned).collect();
            }
            "--keep" => o.keep = Some(args.next().ok_or_else(|| fail("--keep DIR"))?.into()),
            "--child-verify" => {
                child = Some(Child {
                    dir: args
                        .next()
                        .ok_or_else(|| fail("--child-verify DIR"))?
                        .into(),
                    scan_cache: None,
                    resume: false,
                    archive: false,
                });
            }
            "--child-verify-archive" => {
                let dir: PathBuf = args
                    .next()
                    .ok_or_else(|| fail("--child-verify-archive FILE"))?
                    .into();
                child = Some(Child {
                    dir,
                    scan_cache: None,
                    resume: false,
                    archive: true,
                });
            }
            "--child-verify-resume" => {
                let dir: PathBuf = args
                    .next()
                    .ok_or_else(|| fail("--child-verify-resume DIR"))?
                    .into();
                child = Some(Child {
                    dir,
                    scan_cache: None,
                    resume: true,
                    archive: false,
                });
            }
            "--child-scan" => {
                let dir = args
                    .next()
                    .ok_or_else(|| fail("--child-scan DIR BYTES"))?
                    .into();
                let bytes = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| fail("--child-scan DIR BYTES"))?;
                child = Some(Child {
                    dir,
                    scan_cache: Some(bytes),
                    resume: false,
                    archive: false,
                });
            }
            "--copy-raw" => {
                // Diagnostics: copy a ledger's `entries` and `payloads` trees into a fresh
                // two-tree sled database (the F3/F4 layout at the ledger's scale).
                let src: PathBuf = args
                    .next()
                    .ok_or_else(|| fail("--copy-raw SRC DST"))?
                    .into();
                let dst: PathBuf = args
                    .next()
                    .ok_or_else(|| fail("--copy-raw SRC DST"))?
                    .into();
                copy_raw(&src, &dst)?;
                return Ok(None);
            }
            "-h" | "--help" => {
                println!("harness [--quick] [--reps N] [--ten-million] [--out FILE] [--keep DIR] [--only p1,p2,p3,verify,p5]");
                return Ok(None);
            }
            other => return Err(fail(format!("unknown argument {other:?} (see --help)"))),
        }
    }
    if o.reps == 0 {
        o.reps = if o.quick { 3 } else { 5 };
    }
    Ok(Some((o, child)))
}

/// `--child-verify DIR`: verify one ledger in this fresh process and report time and peak
/// RSS. `--child-scan DIR BYTES`: a raw sled scan (F4) with that cache capacity instead, to
/// tell sled's page cache from the verifier's own memory.
struct Child {
    dir: PathBuf,
    scan_cache: Option<u64>,
    /// `--child-verify-resume DIR`: resume from the checkpoint in `DIR/BENCH-READY` (no
    /// signature checks), for profiling P4 without signatures.
    resume: bool,
    /// `--child-verify-archive FILE`: verify an exported archive (`ArchiveSource`) instead.
    archive: bool,
}

fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn run_child(c: &Child) -> Res<()> {
    let before = proc_status_kb("VmHWM:");
    if let Some(cache) = c.scan_cache {
        let db = sled::Config::new()
            .path(c.dir.join("sled"))
            .cache_capacity(cache.max(1 << 20))
            .open()?;
        let t = Instant::now();
        let mut n = 0u64;
        // `--child-scan DIR 1`: open only (what sled's recovery costs).
        let trees: &[&str] = if cache <= 1 {
            &[]
        } else {
            &["entries", "payloads"]
        };
        for name in trees {
            for kv in db.open_tree(name)?.iter() {
                let (k, v) = kv?;
                n += (k.len() + v.len()) as u64;
            }
        }
        println!(
            "CHILD scan_bytes={n} secs={:.6} hwm_kb={} rss_kb={} start_hwm_kb={before}",
            t.elapsed().as_secs_f64(),
            proc_status_kb("VmHWM:"),
            proc_status_kb("VmRSS:")
        );
        return Ok(());
    }
    let t = Instant::now();
    let mut policy = Policy::default();
    if c.resume {
        policy.resume_from = Some(std::fs::read_to_string(c.dir.join("BENCH-READY"))?);
    }
    let v = if c.archive {
        verify(&ArchiveSource::open(&c.dir)?, &policy, &|_| {})?
    } else {
        verify(&SledSource::open(&c.dir)?, &policy, &|_| {})?
    };
    let secs = t.elapsed().as_secs_f64();
    let hwm = proc_status_kb("VmHWM:");
    println!(
        "CHILD events={} findings={} secs={secs:.6} hwm_kb={hwm} start_hwm_kb={before}",
        v.size(),
        v.findings().len()
    );
    Ok(())
}

fn main() -> ExitCode {
    let parsed = match parse_args() {
        Ok(Some(p)) => p,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match parsed {
        (_, Some(child)) => run_child(&child),
        (opts, None) => run(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: could not run: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reporting.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotMeasured,
}

struct Row {
    target: String,
    floor: String,
    ours: String,
    ratio: String,
    goal: String,
    verdict: Verdict,
    note: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    #[allow(clippy::too_many_arguments)]
    fn ratio_row(
        &mut self,
        target: &str,
        floor_name: &str,
        floor: f64,
        ours: f64,
        unit: &str,
        goal: f64,
        note: String,
    ) {
        let ratio = if floor > 0.0 { ours / floor } else { 0.0 };
        self.rows.push(Row {
            target: target.to_owned(),
            floor: format!("{floor_name} {} {unit}", si(floor)),
            ours: format!("{} {unit}", si(ours)),
            ratio: format!("{:.0}%", ratio * 100.0),
            goal: format!(">= {:.0}% of {floor_name}", goal * 100.0),
            verdict: if ratio >= goal {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note,
        });
    }
    fn push(&mut self, row: Row) {
        self.rows.push(row);
    }
    fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "| target | floor (median) | caseledger (median) | ratio | goal | result | notes |\n",
        );
        s.push_str("|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let v = match r.verdict {
                Verdict::Met => "met",
                Verdict::NotMet => "NOT met",
                Verdict::NotMeasured => "not measured",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.target, r.floor, r.ours, r.ratio, r.goal, v, r.note
            );
        }
        s
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!(
        "[{:>7.1}s] {}",
        START.with(|s| s.elapsed().as_secs_f64()),
        msg.as_ref()
    );
}

thread_local! {
    static START: Instant = Instant::now();
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn fmt_rates(v: &[f64]) -> String {
    v.iter().map(|x| si(*x)).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------
// Floors: raw sled with the default configuration (as the store opens it), raw Ed25519.

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn open_raw(dir: &Path) -> Res<(sled::Db, sled::Tree, sled::Tree)> {
    let db = sled::Config::new().path(dir).create_new(true).open()?;
    let e = db.open_tree("entries")?;
    let p = db.open_tree("payloads")?;
    Ok((db, e, p))
}

fn write_group(e: &sled::Tree, p: &sled::Tree, group: &[StoredPair]) -> Res<()> {
    (e, p)
        .transaction(|(te, tp)| {
            for s in group {
                te.insert(&key(s.seq), s.entry.as_slice())?;
                tp.insert(&key(s.seq), s.payload.as_slice())?;
            }
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        })
        .map_err(|e| fail(format!("sled transaction: {e:?}")))
}

/// F1: two trees, one transaction and one flush per group of `group` events.
fn f1_groups(dir: &Path, pairs: &[StoredPair], group: usize) -> Res<f64> {
    let (db, e, p) = open_raw(dir)?;
    let t = Instant::now();
    for g in pairs.chunks(group.max(1)) {
        write_group(&e, &p, g)?;
        db.flush()?;
    }
    Ok(rate(pairs.len() as u64, t.elapsed()))
}

/// F2: one event's two values in one transaction, flush after each.
fn f2_flush_each(dir: &Path, pairs: &[StoredPair]) -> Res<f64> {
    f1_groups(dir, pairs, 1)
}

/// F3: the same values into two trees, plain inserts, one flush at the end.
fn f3_no_flush(dir: &Path, pairs: &[StoredPair]) -> Res<f64> {
    let (db, e, p) = open_raw(dir)?;
    let t = Instant::now();
    for s in pairs {
        e.insert(key(s.seq), s.entry.as_slice())?;
        p.insert(key(s.seq), s.payload.as_slice())?;
    }
    db.flush()?;
    Ok(rate(pairs.len() as u64, t.elapsed()))
}

/// Informational floor: raw sled writing the rows the store writes per event (entry,
/// payload, nonce, two Merkle nodes on average, one record index row) and per group (one
/// record state per record touched, head, compact range) across six trees, one transaction
/// per group; a flush per group when `flush_each`, else one at the end. It tells sled's
/// per-row cost apart from the rest of the store's work.
fn f_rows(dir: &Path, pairs: &[StoredPair], group: usize, flush_each: bool, txn: bool) -> Res<f64> {
    f_rows_with(dir, pairs, group, flush_each, txn, false)
}

/// [`f_rows`] with `lean` rows: no level-0 Merkle node rows (a leaf hash is recomputable from
/// its entry) and one record index row per record per group instead of one per event: about
/// four rows per event instead of six (informational: what fewer rows would buy).
fn f_rows_with(
    dir: &Path,
    pairs: &[StoredPair],
    group: usize,
    flush_each: bool,
    txn: bool,
    lean: bool,
) -> Res<f64> {
    let db = sled::Config::new().path(dir).create_new(true).open()?;
    let names = ["entries", "payloads", "nodes", "records", "nonces", "meta"];
    let t6: Vec<sled::Tree> = names
        .iter()
        .map(|n| db.open_tree(n))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    for g in pairs.chunks(group.max(1)) {
        let rows = store_rows(g, lean);
        if txn {
            (&t6[0], &t6[1], &t6[2], &t6[3], &t6[4], &t6[5])
                .transaction(|(e, p, n, r, no, m)| {
                    let trees = [e, p, n, r, no, m];
                    for (i, k, v) in &rows {
                        trees[*i].insert(k.as_slice(), v.as_slice())?;
                    }
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .map_err(|e| fail(format!("sled transaction: {e:?}")))?;
        } else {
            // One atomic batch per tree, `meta` (the head) last.
            let mut batches: Vec<sled::Batch> = (0..6).map(|_| sled::Batch::default()).collect();
            for (i, k, v) in &rows {
                batches[*i].insert(k.as_slice(), v.as_slice());
            }
            for (tree, batch) in t6.iter().zip(batches) {
                tree.apply_batch(batch)?;
            }
        }
        if flush_each {
            db.flush()?;
        }
    }
    db.flush()?;
    Ok(rate(pairs.len() as u64, t.elapsed()))
}

/// The rows the store writes for a group, as (tree index, key, value); see [`f_rows`].
fn store_rows(g: &[StoredPair], lean: bool) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut rows = Vec::with_capacity(g.len() * 7 + 8);
    let mut recs = std::collections::BTreeSet::new();
    for s in g {
        let k = key(s.seq);
        rows.push((0, k.to_vec(), s.entry.clone()));
        rows.push((1, k.to_vec(), s.payload.clone()));
        let mut nk = vec![0u8; 9];
        nk[1..].copy_from_slice(&k);
        if !lean {
            rows.push((2, nk.clone(), vec![1u8; 32]));
        }
        // A parent whenever the seq is odd: two nodes per leaf on average.
        if s.seq % 2 == 1 {
            nk[0] = 1;
            nk[1..].copy_from_slice(&(s.seq >> 1).to_be_bytes());
            rows.push((2, nk, vec![2u8; 32]));
        }
        let rec = format!("C-{:06}", s.seq % WRITE_RECORDS);
        if !lean {
            let mut rk = rec.clone().into_bytes();
            rk.push(0);
            rk.extend_from_slice(&k);
            rows.push((3, rk, Vec::new()));
        }
        recs.insert(rec);
        let mut nonce = vec![0u8; 16];
        nonce[..8].copy_from_slice(&s.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
        rows.push((4, nonce, k.to_vec()));
    }
    for rec in recs {
        let mut rk = rec.into_bytes();
        if lean {
            // One index row per record per group: the group's seqs of that record.
            let mut ik = rk.clone();
            ik.push(0);
            ik.extend_from_slice(&key(g[0].seq));
            rows.push((
                3,
                ik,
                vec![
                    0u8;
                    8 * g
                        .len()
                        .div_ceil(usize::try_from(WRITE_RECORDS).unwrap_or(1))
                ],
            ));
        }
        rk.push(1);
        rows.push((3, rk, vec![7u8; 120]));
    }
    rows.push((5, b"head".to_vec(), vec![5u8; 48]));
    rows.push((5, b"compact_range".to_vec(), vec![9u8; 16 + 32 * 12]));
    rows
}

/// F4: a raw scan of the `entries` and `payloads` trees of a ledger's sled directory,
/// touching every byte (the sum of lengths), events per second.
///
/// With `point_get`, each entry's payload is fetched with `Tree::get` (as `SledSource` does)
/// instead of a second cursor (informational: the cost of that choice).
fn f4_scan(sled_dir: &Path, point_get: bool) -> Res<f64> {
    let db = sled::Config::new().path(sled_dir).open()?;
    let e = db.open_tree("entries")?;
    let p = db.open_tree("payloads")?;
    let t = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut pay = p.iter();
    for kv in e.iter() {
        let (k, v) = kv?;
        bytes += (k.len() + v.len()) as u64;
        n += 1;
        if point_get {
            if let Some(v) = p.get(&k)? {
                bytes += v.len() as u64;
            }
        } else if n > 2 {
            if let Some(kv) = pay.next() {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
            }
        }
    }
    let d = t.elapsed();
    std::hint::black_box(bytes);
    Ok(rate(n, d))
}

/// The F5 sample: signing messages and signatures of the ledger's events, one author.
struct SigSample {
    msgs: Vec<Vec<u8>>,
    sigs: Vec<ed25519_dalek::Signature>,
    key: ed25519_dalek::VerifyingKey,
}

/// F5: Ed25519 batch verification of the sample on all cores (rayon chunks of 256).
///
/// With `rekey`, the author's key is decompressed again for every signature (as the verifier
/// does; informational: the cost of not caching it).
fn f5_batch(s: &SigSample, rekey: bool) -> Res<f64> {
    let t = Instant::now();
    let ok = s
        .msgs
        .par_chunks(F5_CHUNK)
        .zip(s.sigs.par_chunks(F5_CHUNK))
        .all(|(m, sg)| {
            let refs: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
            let keys: Vec<ed25519_dalek::VerifyingKey> = if rekey {
                m.iter()
                    .filter_map(|_| ed25519_dalek::VerifyingKey::from_bytes(s.key.as_bytes()).ok())
                    .collect()
            } else {
                vec![s.key; m.len()]
            };
            ed25519_dalek::verify_batch(&refs, sg, &keys).is_ok()
        });
    let d = t.elapsed();
    if !ok {
        return Err(fail("F5: a signature of the workload does not verify"));
    }
    Ok(rate(s.msgs.len() as u64, d))
}

// ---------------------------------------------------------------------------------------
// caseledger figures.

fn bench_options(d: Durability) -> OpenOptions {
    OpenOptions::default().with_durability(d)
}

/// A ledger with genesis and the licensee's enrolment.
fn new_ledger(dir: &Path, w: &Workload, d: Durability) -> Res<Ledger> {
    let l = Ledger::create_with_genesis(dir, w.genesis()?, bench_options(d))?;
    l.append_batch(vec![(w.enrolment()?, None)])
        .map_err(|e| fail(format!("enrolment: {e:?}")))?;
    Ok(l)
}

fn with_payload(v: &[(SignedEvent, Payload)]) -> Vec<(SignedEvent, Option<Payload>)> {
    v.iter()
        .map(|(e, p)| (e.clone(), Some(p.clone())))
        .collect()
}

/// P1: `WRITERS` threads appending `Immediate` concurrently. Records are opened (untimed)
/// first. Returns (events/s, mean group size).
fn p1_group_commit(
    dir: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    events: &[(SignedEvent, Payload)],
) -> Res<(f64, f64)> {
    let l = new_ledger(dir, w, Durability::Immediate)?;
    l.append_batch(with_payload(opening))
        .map_err(|e| fail(format!("opening records: {e:?}")))?;
    let mut per: Vec<Vec<(SignedEvent, Payload)>> = vec![Vec::new(); WRITERS];
    for (i, ev) in events.iter().enumerate() {
        per[i % WRITERS].push(ev.clone());
    }
    let before = l.stats();
    let t = Instant::now();
    let errors: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = per
            .into_iter()
            .map(|mine| {
                let l = &l;
                s.spawn(move || {
                    for (e, p) in mine {
                        if let Err(err) = l.append(e, Some(p)) {
                            return Some(err.to_string());
                        }
                    }
                    None
                })
            })
            .collect();
        hs.into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    });
    let d = t.elapsed();
    if let Some(e) = errors.first() {
        return Err(fail(format!("P1 append refused: {e}")));
    }
    let after = l.stats();
    let appended = after.appended - before.appended;
    let tx = (after.transactions - before.transactions).max(1);
    l.close()?;
    Ok((rate(appended, d), appended as f64 / tx as f64))
}

/// P2: one writer, `Immediate`, one flush per append.
fn p2_single(
    dir: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    events: &[(SignedEvent, Payload)],
) -> Res<f64> {
    let l = new_ledger(dir, w, Durability::Immediate)?;
    l.append_batch(with_payload(opening))
        .map_err(|e| fail(format!("opening records: {e:?}")))?;
    let n = events.len() as u64;
    let events = with_payload(events);
    let t = Instant::now();
    for (e, p) in events {
        l.append(e, p)?;
    }
    let d = t.elapsed();
    l.close()?;
    Ok(rate(n, d))
}

/// P3: bulk import: `append_batch` in chunks of the importer's size under `Deferred`, then
/// one flush (the flush is timed).
fn p3_bulk(
    dir: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    events: &[(SignedEvent, Payload)],
) -> Res<f64> {
    let l = new_ledger(dir, w, Durability::Deferred)?;
    l.append_batch(with_payload(opening))
        .map_err(|e| fail(format!("opening records: {e:?}")))?;
    l.flush()?;
    let n = events.len() as u64;
    let chunks: Vec<_> = events.chunks(IMPORT_CHUNK).map(with_payload).collect();
    let t = Instant::now();
    for c in chunks {
        l.append_batch(c)
            .map_err(|e| fail(format!("P3 batch: {e:?}")))?;
    }
    l.flush()?;
    let d = t.elapsed();
    l.close()?;
    Ok(rate(n, d))
}

/// Builds a ledger of `n` clinical events over `n / 100` records by bulk import (chunks
/// signed in parallel, appended with `append_batch` under `Deferred`, one flush), signs a
/// checkpoint at its head, and keeps up to `F5_SAMPLE` signatures for F5.
/// Returns (import rate, checkpoint note).
fn build_ledger(dir: &Path, n: u64, mut sample: Option<&mut SigSample>) -> Res<(f64, String)> {
    let w = Workload::new((n / EVENTS_PER_RECORD).max(1));
    let l = new_ledger(dir, &w, Durability::Deferred)?;
    const GEN: u64 = 16_384;
    let mut busy = Duration::ZERO;
    let mut start = 0;
    while start < n {
        let end = (start + GEN).min(n);
        let events = w.events(start..end)?;
        if let Some(s) = sample.as_deref_mut() {
            for (e, _) in &events {
                if s.msgs.len() >= F5_SAMPLE {
                    break;
                }
                s.msgs.push(signing_message(&e.event.to_bytes()?));
                s.sigs
                    .push(ed25519_dalek::Signature::from_bytes(&e.signature.0));
            }
        }
        let t = Instant::now();
        for c in events.chunks(IMPORT_CHUNK) {
            l.append_batch(with_payload(c))
                .map_err(|e| fail(format!("import: {e:?}")))?;
        }
        busy += t.elapsed();
        start = end;
    }
    let t = Instant::now();
    l.flush()?;
    busy += t.elapsed();
    let signer = NoteSigner::new(w.origin(), SigningKey::from_seed(&[3; 32]))?;
    let note = l.checkpoint(&signer)?;
    l.close()?;
    Ok((rate(n, busy), note))
}

/// A verification ledger of `n` events: built in `fresh_dir`, or with `--keep DIR` reused
/// from (or built into) `DIR/ledger-<n>`. Returns (dir, import rate if built, checkpoint).
fn ledger_of(
    keep: Option<&Path>,
    fresh_dir: PathBuf,
    n: u64,
    sample: Option<&mut SigSample>,
) -> Res<(PathBuf, Option<f64>, String)> {
    let dir = match keep {
        Some(k) => k.join(format!("ledger-{n}")),
        None => fresh_dir,
    };
    let ready = dir.join("BENCH-READY");
    if let Ok(note) = std::fs::read_to_string(&ready) {
        log(format!(
            "reusing the {}-event ledger in {}",
            si(n as f64),
            dir.display()
        ));
        if let Some(s) = sample {
            let w = Workload::new((n / EVENTS_PER_RECORD).max(1));
            let k = n.min(F5_SAMPLE as u64);
            for (e, _) in w.events(0..k)? {
                s.msgs.push(signing_message(&e.event.to_bytes()?));
                s.sigs
                    .push(ed25519_dalek::Signature::from_bytes(&e.signature.0));
            }
        }
        return Ok((dir, None, note));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    log(format!(
        "building a {}-event ledger by bulk import...",
        si(n as f64)
    ));
    let (rate, note) = build_ledger(&dir, n, sample)?;
    std::fs::write(&ready, &note)?;
    Ok((dir, Some(rate), note))
}

struct VerifyRun {
    /// Seconds to open the source and verify.
    secs: f64,
    /// Seconds to build the retention report, encode it and sign it (0 unless asked).
    report_secs: f64,
    events: u64,
    clean: bool,
    sigs_from: u64,
}

fn run_verify(dir: &Path, policy: &Policy, report: bool) -> Res<VerifyRun> {
    let t = Instant::now();
    let src = SledSource::open(dir)?;
    // A report is built from a verification that also folds the prefix recorded by the end
    // of its day (today here, so the whole ledger): that verification is the one timed.
    let now = caseledger_core::Timestamp::now();
    let as_of = now.date_utc()?;
    let asof = if report {
        let cut = caseledger_core::Timestamp::start_of(as_of.next_day()?)?;
        Some(verify_as_of(&src, policy, cut, &|_| {})?)
    } else {
        None
    };
    let v = match &asof {
        Some(a) => a.verified().clone(),
        None => verify(&src, policy, &|_| {})?,
    };
    let secs = t.elapsed().as_secs_f64();
    let mut report_secs = 0.0;
    if let Some(a) = &asof {
        let t = Instant::now();
        let key = SigningKey::from_seed(&[4; 32]);
        let ctx = ReportContext {
            as_of,
            time_zone: "UTC".to_owned(),
            produced_at: now,
            identity: "bench".to_owned(),
            key: key.public_key(),
        };
        let r = RetentionReport::build(a, policy, &ctx, true)?;
        let json = r.to_canonical_json()?;
        let signed = sign_report(&json, &key)?;
        std::hint::black_box((json.len(), signed.raw_ed25519[0]));
        report_secs = t.elapsed().as_secs_f64();
    }
    Ok(VerifyRun {
        secs,
        report_secs,
        events: v.size(),
        clean: v.is_clean(),
        sigs_from: v.signatures_checked_from(),
    })
}

/// P6: proof generation from the store at its head size. Returns per-proof medians (µs),
/// p99s and the largest proof lengths (hashes) for (inclusion, consistency).
struct ProofFigures {
    cold_incl_us: f64,
    cold_cons_us: f64,
    incl_us: f64,
    incl_p99: f64,
    incl_max_len: usize,
    cons_us: f64,
    cons_p99: f64,
    cons_max_len: usize,
    size: u64,
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = round_usize((v.len() - 1) as f64 * q);
    v[i.min(v.len() - 1)]
}

fn p6_proofs(dir: &Path) -> Res<ProofFigures> {
    use caseledger_core::merkle::{verify_consistency, verify_inclusion, Sha256Hasher};
    let l = Ledger::open(dir, OpenOptions::default())?;
    let n = l.head().size;
    let root = l.root();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut incl, mut cons) = (Vec::with_capacity(P6_PROOFS), Vec::with_capacity(P6_PROOFS));
    let (mut incl_max, mut cons_max) = (0, 0);
    let (mut cold_incl, mut cold_cons) = (0.0, 0.0);
    // Pass 0 right after opening (cold sled cache), pass 1 on fresh random positions (warm).
    for k in 0..2 * P6_PROOFS {
        if k == P6_PROOFS {
            cold_incl = median(&incl);
            cold_cons = median(&cons);
            incl.clear();
            cons.clear();
        }
        let i = next() % n;
        let t = Instant::now();
        let p = l.inclusion_proof(Seq(i), n)?;
        incl.push(t.elapsed().as_secs_f64() * 1e6);
        incl_max = incl_max.max(p.len());
        let size1 = 1 + next() % (n - 1);
        let t = Instant::now();
        let c = l.consistency_proof(size1, n)?;
        cons.push(t.elapsed().as_secs_f64() * 1e6);
        cons_max = cons_max.max(c.len());
        if k < 8 {
            // Sanity: the proofs verify (not timed).
            let bytes = l
                .entry_bytes(Seq(i))?
                .ok_or_else(|| fail("entry missing"))?;
            let leaf =
                caseledger_core::hash::merkle_leaf(&caseledger_core::hash::entry_hash(&bytes));
            verify_inclusion(&Sha256Hasher, i, n, &leaf, &p, &root)
                .map_err(|e| fail(format!("P6 inclusion proof: {e}")))?;
            let root1 = l.root_at(size1)?;
            verify_consistency(&Sha256Hasher, size1, n, &c, &root1, &root)
                .map_err(|e| fail(format!("P6 consistency proof: {e}")))?;
        }
    }
    l.close()?;
    Ok(ProofFigures {
        cold_incl_us: cold_incl,
        cold_cons_us: cold_cons,
        incl_us: median(&incl),
        incl_p99: percentile(&incl, 0.99),
        incl_max_len: incl_max,
        cons_us: median(&cons),
        cons_p99: percentile(&cons, 0.99),
        cons_max_len: cons_max,
        size: n,
    })
}

struct ChildFigures {
    events: u64,
    secs: f64,
    hwm_kb: u64,
}

fn p5_child(dir: &Path, archive: bool) -> Res<ChildFigures> {
    // /proc/self/exe still executes this very binary if cargo relinked the file meanwhile.
    let proc_exe = PathBuf::from("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe
    } else {
        std::env::current_exe()?
    };
    let flag = if archive {
        "--child-verify-archive"
    } else {
        "--child-verify"
    };
    let out = Command::new(exe).arg(flag).arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(fail(format!(
            "P5 child failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .ok_or_else(|| fail("P5 child printed nothing"))?;
    let field = |name: &str| -> Option<&str> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    };
    let events = field("events")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("child events"))?;
    let secs = field("secs")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("child secs"))?;
    let hwm_kb = field("hwm_kb")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("child hwm"))?;
    let findings: u64 = field("findings").and_then(|v| v.parse().ok()).unwrap_or(0);
    if findings > 0 {
        log(format!(
            "P5: WARNING: {findings} findings verifying {}",
            dir.display()
        ));
    }
    Ok(ChildFigures {
        events,
        secs,
        hwm_kb,
    })
}

fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        u64::BITS - (n - 1).leading_zeros()
    }
}

fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "nproc={nproc}, cpu={model}, loadavg={}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn sizes(o: &Opts) -> Sizes {
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

fn run(o: &Opts) -> Res<()> {
    START.with(|_| ());
    let sz = sizes(o);
    let base = match &o.keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => std::env::temp_dir(),
    };
    let tmp = tempfile::Builder::new()
        .prefix("caseledger-bench-")
        .tempdir_in(&base)?;
    let root = tmp.path().to_path_buf();
    let mut n_dir = 0u32;
    let mut fresh = |what: &str| -> PathBuf {
        n_dir += 1;
        root.join(format!("{n_dir:03}-{what}"))
    };
    let mode = if o.quick { "quick" } else { "full" };
    log(format!(
        "caseledger harness, {mode} mode, {} reps; {}",
        o.reps,
        machine()
    ));
    let mut table = Table::default();

    // ---- write path: P1/F1, P2/F2, P3/F3 on the same events and bytes.
    let w = Workload::new(WRITE_RECORDS);
    let max_n = sz.group_events.max(sz.flush_each).max(sz.bulk);
    let all = w.events(0..WRITE_RECORDS + max_n)?;
    let (opening, rest) = all.split_at(usize::try_from(WRITE_RECORDS)?);
    let pairs_all = caseledger_bench::chain_pairs(&w, &all)?;
    let pairs = &pairs_all[2 + opening.len()..];
    let take = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    log(format!(
        "workload: {} events, entry {} B, payload value {} B",
        all.len(),
        pairs[0].entry.len(),
        pairs[0].payload.len()
    ));

    let (mut p1, mut groups, mut f1, mut r1, mut r1b, mut r1l) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for r in 0..o.reps_of("p1") {
        let (ev_s, g) = p1_group_commit(&fresh("p1"), &w, opening, &rest[..take(sz.group_events)])?;
        let gs = round_usize(g).max(1);
        let fl = f1_groups(&fresh("f1"), &pairs[..take(sz.group_events)], gs)?;
        let rows = f_rows(
            &fresh("f1rows"),
            &pairs[..take(sz.group_events)],
            gs,
            true,
            true,
        )?;
        r1l.push(f_rows_with(
            &fresh("f1lean"),
            &pairs[..take(sz.group_events)],
            gs,
            true,
            true,
            true,
        )?);
        r1b.push(f_rows(
            &fresh("f1batch"),
            &pairs[..take(sz.group_events)],
            gs,
            true,
            false,
        )?);
        log(format!(
            "rep {r}: P1 {} ev/s, mean group {g:.1}; F1(group {gs}) {} ev/s; F1-rows {} ev/s",
            si(ev_s),
            si(fl),
            si(rows)
        ));
        r1.push(rows);
        p1.push(ev_s);
        groups.push(g);
        f1.push(fl);
    }
    let g_med = median(&groups);
    if o.runs("p1") {
        table.ratio_row(
            "P1 durable appends, 64 writers, Immediate",
            "F1",
            median(&f1),
            median(&p1),
            "ev/s",
            0.5,
            format!(
                "{} events/rep; mean group size {:.1} (F1 at the same size); reps P1 [{}] F1 [{}]; {}",
                sz.group_events,
                g_med,
                fmt_rates(&p1),
                fmt_rates(&f1),
                rows_note(median(&p1), &r1, &r1b, &r1l)
            ),
        );
    }

    let (mut p2, mut f2, mut r2, mut r2b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..o.reps_of("p2") {
        let a = p2_single(&fresh("p2"), &w, opening, &rest[..take(sz.flush_each)])?;
        let b = f2_flush_each(&fresh("f2"), &pairs[..take(sz.flush_each)])?;
        let rows = f_rows(
            &fresh("f2rows"),
            &pairs[..take(sz.flush_each)],
            1,
            true,
            true,
        )?;
        r2b.push(f_rows(
            &fresh("f2batch"),
            &pairs[..take(sz.flush_each)],
            1,
            true,
            false,
        )?);
        log(format!(
            "rep {r}: P2 {} ev/s; F2 {} ev/s; F2-rows {} ev/s",
            si(a),
            si(b),
            si(rows)
        ));
        r2.push(rows);
        p2.push(a);
        f2.push(b);
    }
    if o.runs("p2") {
        table.ratio_row(
            "P2 single writer, flush per append",
            "F2",
            median(&f2),
            median(&p2),
            "ev/s",
            0.7,
            format!(
                "{} events/rep; reps P2 [{}] F2 [{}]; {}",
                sz.flush_each,
                fmt_rates(&p2),
                fmt_rates(&f2),
                rows_note(median(&p2), &r2, &r2b, &[])
            ),
        );
    }

    let (mut p3, mut f3, mut r3, mut r3b, mut r3l) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..o.reps_of("p3") {
        let a = p3_bulk(&fresh("p3"), &w, opening, &rest[..take(sz.bulk)])?;
        let b = f3_no_flush(&fresh("f3"), &pairs[..take(sz.bulk)])?;
        let rows = f_rows(
            &fresh("f3rows"),
            &pairs[..take(sz.bulk)],
            IMPORT_CHUNK,
            false,
            true,
        )?;
        r3l.push(f_rows_with(
            &fresh("f3lean"),
            &pairs[..take(sz.bulk)],
            IMPORT_CHUNK,
            false,
            true,
            true,
        )?);
        r3b.push(f_rows(
            &fresh("f3batch"),
            &pairs[..take(sz.bulk)],
            IMPORT_CHUNK,
            false,
            false,
        )?);
        log(format!(
            "rep {r}: P3 {} ev/s; F3 {} ev/s; F3-rows {} ev/s",
            si(a),
            si(b),
            si(rows)
        ));
        r3.push(rows);
        p3.push(a);
        f3.push(b);
    }
    if o.runs("p3") {
        table.ratio_row(
            "P3 bulk import, Deferred, one flush",
            "F3",
            median(&f3),
            median(&p3),
            "ev/s",
            0.5,
            format!(
                "{} events/rep, append_batch of {IMPORT_CHUNK}; reps P3 [{}] F3 [{}]; {}",
                sz.bulk,
                fmt_rates(&p3),
                fmt_rates(&f3),
                rows_note(median(&p3), &r3, &r3b, &r3l)
            ),
        );
    }
    drop(all);
    drop(pairs_all);

    let mut vdir = fresh("verify");
    if o.runs("verify") || o.runs("p6") {
        // ---- the verification ledger: P4, P6, P7 (and F4, F5 on its bytes and signatures).
        let wv = Workload::new((sz.verify_n / EVENTS_PER_RECORD).max(1));
        let key = ed25519_dalek::VerifyingKey::from_bytes(&wv.licensee.public_key().0)?;
        let mut sample = SigSample {
            msgs: Vec::new(),
            sigs: Vec::new(),
            key,
        };
        let (dir, import_rate, note) =
            ledger_of(o.keep.as_deref(), vdir, sz.verify_n, Some(&mut sample))?;
        vdir = dir;
        if let Some(r) = import_rate {
            log(format!(
                "built: import {} ev/s (at this scale, for information)",
                si(r)
            ));
        }

        let with_sigs = Policy::default();
        let no_sigs = Policy {
            resume_from: Some(note),
            ..Policy::default()
        };
        let (mut f4, mut f5, mut p4s, mut p4n) = (vec![], vec![], vec![], vec![]);
        let (mut f4g, mut f5k) = (vec![], vec![]);
        let (mut p7v, mut p7r) = (vec![], vec![]);
        let mut dirty = false;
        for r in 0..if o.runs("verify") { sz.big_reps } else { 0 } {
            let a = f4_scan(&vdir.join("sled"), false)?;
            f4g.push(f4_scan(&vdir.join("sled"), true)?);
            let b = f5_batch(&sample, false)?;
            f5k.push(f5_batch(&sample, true)?);
            let s = run_verify(&vdir, &with_sigs, true)?;
            let ns = run_verify(&vdir, &no_sigs, false)?;
            if !(s.clean && ns.clean) {
                dirty = true;
            }
            if ns.sigs_from != ns.events {
                log(format!(
                    "WARNING: resume did not skip signatures (checked from {})",
                    ns.sigs_from
                ));
            }
            let n = s.events;
            log(format!(
            "rep {r}: F4 {} ev/s; F5 {} sig/s; P4 sigs {} ev/s; P4 no sigs {} ev/s; verify {:.2}s, then report {:.3}s",
            si(a),
            si(b),
            si(n as f64 / s.secs),
            si(n as f64 / ns.secs),
            s.secs,
            s.report_secs
        ));
            f4.push(a);
            f5.push(b);
            p4s.push(n as f64 / s.secs);
            p4n.push(n as f64 / ns.secs);
            p7v.push(s.secs);
            p7r.push(s.report_secs);
        }
        if o.runs("verify") {
            let clean_note = if dirty {
                "; WARNING: verification reported findings on a clean ledger"
            } else {
                ""
            };
            table.ratio_row(
                "P4 full verification, signatures checked",
                "F5",
                median(&f5),
                median(&p4s),
                "ev/s",
                0.5,
                format!(
                    "{} events; F5 over {} signatures; reps P4 [{}] F5 [{}]; F5 re-decompressing the author key per signature (as the verifier does): {} sig/s{clean_note}",
                    si(sz.verify_n as f64),
                    sample.msgs.len(),
                    fmt_rates(&p4s),
                    fmt_rates(&f5),
                    si(median(&f5k))
                ),
            );
            table.ratio_row(
                "P4 full verification, no signature checks",
                "F4",
                median(&f4),
                median(&p4n),
                "ev/s",
                0.5,
                format!(
                    "{} events, resumed from a checkpoint at the head; reps P4 [{}] F4 [{}]; F4 with a point get per payload (as SledSource does): {} ev/s",
                    si(sz.verify_n as f64),
                    fmt_rates(&p4n),
                    fmt_rates(&f4),
                    si(median(&f4g))
                ),
            );
            // Report overhead per repetition (report time over the verification it followed), median.
            let overs: Vec<f64> = p7v
                .iter()
                .zip(&p7r)
                .map(|(v, r)| if *v > 0.0 { r / v } else { 0.0 })
                .collect();
            let over = median(&overs);
            table.push(Row {
                target: format!(
                    "P7 retention report, {} events / {} records",
                    si(sz.verify_n as f64),
                    si((sz.verify_n / EVENTS_PER_RECORD) as f64)
                ),
                floor: format!("verification alone {:.2} s", median(&p7v)),
                ours: format!("report build + JSON + sign {:.3} s", median(&p7r)),
                ratio: format!("+{:.1}%", over * 100.0),
                goal: "<= +10% over verification".to_owned(),
                verdict: if over <= 0.10 {
                    Verdict::Met
                } else {
                    Verdict::NotMet
                },
                note: format!(
                "same process, right after each verification; reps verify [{}] s, report [{}] s",
                fmt_secs(&p7v),
                fmt_secs(&p7r)
            ),
            });
        }

        // ---- P6: proofs at the verification ledger's size.
        let pf = p6_proofs(&vdir)?;
        let bound = 32 * u64::from(ceil_log2(pf.size));
        let size_ok =
            (pf.incl_max_len as u64) * 32 <= bound && (pf.cons_max_len as u64) * 32 <= bound + 32;
        let p6_note = if pf.size < 1_000_000 {
            format!(" (quick: at {} entries, not 1M)", si(pf.size as f64))
        } else {
            String::new()
        };
        table.push(Row {
            target: format!("P6 inclusion proof at {} entries", si(pf.size as f64)),
            floor: "-".to_owned(),
            ours: format!("{:.1} µs/proof (p99 {:.1})", pf.incl_us, pf.incl_p99),
            ratio: "-".to_owned(),
            goal: "<= 50 µs".to_owned(),
            verdict: if pf.incl_us <= 50.0 {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note: format!(
                "{P6_PROOFS} random leaves, warm; cold (first {P6_PROOFS} after open) {:.1} µs{p6_note}",
                pf.cold_incl_us
            ),
        });
        table.push(Row {
            target: format!("P6 consistency proof at {} entries", si(pf.size as f64)),
            floor: "-".to_owned(),
            ours: format!("{:.1} µs/proof (p99 {:.1})", pf.cons_us, pf.cons_p99),
            ratio: "-".to_owned(),
            goal: "<= 50 µs".to_owned(),
            verdict: if pf.cons_us <= 50.0 {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note: format!(
                "{P6_PROOFS} random old sizes, warm; cold {:.1} µs{p6_note}",
                pf.cold_cons_us
            ),
        });
        table.push(Row {
            target: "P6 proof size".to_owned(),
            floor: format!("32·⌈log2 n⌉ = {bound} B"),
            ours: format!(
                "inclusion max {} B, consistency max {} B",
                pf.incl_max_len * 32,
                pf.cons_max_len * 32
            ),
            ratio: "-".to_owned(),
            goal: "<= 32·⌈log2 n⌉ B (consistency: +32 B when the old size is not a power of 2)"
                .to_owned(),
            verdict: if size_ok {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note: format!("n = {}", pf.size),
        });
    }

    if o.runs("p5") {
        // ---- P5: peak RSS and cost per event, each size verified in a fresh child process.
        let mut curve = Vec::new();
        let mut arch: Vec<(u64, f64, f64)> = Vec::new();
        for &n in &sz.p5 {
            let dir = if n == sz.verify_n && vdir.exists() {
                vdir.clone()
            } else {
                ledger_of(o.keep.as_deref(), fresh("p5"), n, None)?.0
            };
            let archive = dir.with_extension("archive");
            if !archive.exists() {
                let l = Ledger::open(&dir, OpenOptions::default())?;
                let part = archive.with_extension("part");
                l.export_archive(std::io::BufWriter::new(std::fs::File::create(&part)?))?;
                l.close()?;
                std::fs::rename(&part, &archive)?;
            }
            let reps = if n <= 100_000 { 3 } else { 1 };
            let (mut secs, mut hwm, mut asecs, mut ahwm) = (vec![], vec![], vec![], vec![]);
            let mut events = 0;
            for _ in 0..reps {
                let c = p5_child(&dir, false)?;
                secs.push(c.secs);
                hwm.push(c.hwm_kb as f64);
                events = c.events;
                let a = p5_child(&archive, true)?;
                asecs.push(a.secs);
                ahwm.push(a.hwm_kb as f64);
            }
            let per = |v: &[f64]| median(v) * 1e6 / events.max(1) as f64;
            let peak = |v: &[f64]| v.iter().copied().fold(0.0, f64::max) / 1024.0;
            let (us, mb, aus, amb) = (per(&secs), peak(&hwm), per(&asecs), peak(&ahwm));
            log(format!(
                "P5 {}: sled source {us:.2} µs/event, peak RSS {mb:.1} MB; archive source {aus:.2} µs/event, peak RSS {amb:.1} MB",
                si(n as f64)
            ));
            curve.push((n, us, mb));
            arch.push((n, aus, amb));
            if n != sz.verify_n && o.keep.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
                let _ = std::fs::remove_file(&archive);
            }
        }
        p5_rows(&mut table, "sled source (SledSource)", &curve);
        p5_rows(&mut table, "archive source (ArchiveSource)", &arch);
    }

    println!();
    println!(
        "caseledger harness ({mode}, {} reps, verification-scale reps {}); {}",
        o.reps,
        sz.big_reps,
        machine()
    );
    println!();
    let md = table.markdown();
    print!("{md}");
    if let Some(out) = &o.out {
        std::fs::write(out, &md)?;
    }
    Ok(())
}

fn fmt_secs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rounds a non-negative figure (a group size, a rank) to the nearest integer.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn round_usize(x: f64) -> usize {
    x.max(0.0).round() as usize
}

/// The informational "store's rows" floor for a notes column.
fn rows_note(ours: f64, rows: &[f64], batched: &[f64], lean: &[f64]) -> String {
    let m = median(rows);
    let pct = if m > 0.0 { ours / m * 100.0 } else { 0.0 };
    let mut note = format!(
        "raw sled writing the store's rows (~6/event + per group, 6 trees) in one transaction: {} ev/s, caseledger = {pct:.0}% of it; the same rows as one apply_batch per tree: {} ev/s",
        si(m),
        si(median(batched))
    );
    if !lean.is_empty() {
        let _ = write!(note, "; lean rows (~4/event: no level-0 node rows, one record index row per record per group): {} ev/s", si(median(lean)));
    }
    note
}

fn copy_raw(src: &Path, dst: &Path) -> Res<()> {
    let from = sled::Config::new().path(src.join("sled")).open()?;
    let to = sled::Config::new()
        .path(dst.join("sled"))
        .create_new(true)
        .open()?;
    for name in ["entries", "payloads"] {
        let (a, b) = (from.open_tree(name)?, to.open_tree(name)?);
        for kv in a.iter() {
            let (k, v) = kv?;
            b.insert(k, v)?;
        }
    }
    to.flush()?;
    Ok(())
}

/// The two P5 rows (peak RSS at 1M, cost-per-event flatness) for one source's curve of
/// (events, µs/event, peak MB).
fn p5_rows(table: &mut Table, source: &str, curve: &[(u64, f64, f64)]) {
    let curve_txt = curve
        .iter()
        .map(|(n, us, mb)| format!("{}: {us:.2} µs/ev, {mb:.0} MB", si(*n as f64)))
        .collect::<Vec<_>>()
        .join("; ");
    let at_1m = curve.iter().find(|(n, _, _)| *n == 1_000_000);
    let biggest = curve.iter().map(|c| c.2).fold(0.0, f64::max);
    table.push(Row {
        target: format!("P5 peak RSS verifying 1M events, {source}"),
        floor: "-".to_owned(),
        ours: match at_1m {
            Some((_, _, mb)) => format!("{mb:.1} MB"),
            None => format!("(largest size measured: {biggest:.1} MB)"),
        },
        ratio: "-".to_owned(),
        goal: "<= 100 MB".to_owned(),
        verdict: match at_1m {
            Some((_, _, mb)) if *mb <= 100.0 => Verdict::Met,
            Some(_) => Verdict::NotMet,
            None => Verdict::NotMeasured,
        },
        note: format!("VmHWM of a child process; {curve_txt}"),
    });
    let (lo, hi) = curve
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), c| (lo.min(c.1), hi.max(c.1)));
    let flat = if lo > 0.0 { hi / lo } else { 0.0 };
    let full_range = curve.iter().any(|c| c.0 >= 1_000_000);
    table.push(Row {
        target: format!(
            "P5 cost per event, {} to {}, {source}",
            si(curve.first().map_or(0, |c| c.0) as f64),
            si(curve.last().map_or(0, |c| c.0) as f64)
        ),
        floor: format!("min {lo:.2} µs/ev"),
        ours: format!("max {hi:.2} µs/ev"),
        ratio: format!("{flat:.2}x"),
        goal: "<= 1.5x from 10k to 1M".to_owned(),
        verdict: if flat <= 1.5 {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        note: if full_range {
            "verification with signatures, median of child runs".to_owned()
        } else {
            "quick: 1M not measured".to_owned()
        },
    });
}
