//! P4 full verification of the verification ledger, with signatures checked (against F5,
//! raw Ed25519 batch verification of its signatures; F4, a raw sled scan of its entries and
//! payloads, is printed beside it); each verification is followed by the retention report
//! (P7, [`crate::report`]).

use crate::args::Opts;
use crate::floors::{f4_scan, f5_batch, SigSample};
use crate::ledger::ledger_of;
use crate::plan::{verify_workload, Sizes};
use crate::report::{self, time_report};
use crate::sqlite;
use crate::table::{fmt_rates, Table};
use crate::util::{fail, log, Res};
use caseledger_bench::stats::{median, si};
use caseledger_verify::asof::verify_as_of;
use caseledger_verify::{verify, Policy, SledSource};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The verification ledger (P4, P6, P7), with what P4 needs from its making.
pub struct VerifyLedger {
    pub dir: PathBuf,
    /// Its signatures, for F5.
    sample: SigSample,
}

/// Builds the verification ledger in `vdir` (or reuses it with `--keep`), sampling its
/// signatures for F5.
pub fn prepare(o: &Opts, sz: &Sizes, vdir: PathBuf) -> Res<VerifyLedger> {
    let wv = verify_workload(sz.verify_n);
    let mut sample = SigSample::new(wv.licensee_verifying_key()?);
    let (dir, import_rate, _note) =
        ledger_of(o.keep.as_deref(), vdir, sz.verify_n, Some(&mut sample))?;
    if let Some(r) = import_rate {
        log(format!(
            "built: import {} ev/s (at this scale, for information)",
            si(r)
        ));
    }
    Ok(VerifyLedger { dir, sample })
}

struct VerifyRun {
    /// Seconds to open the source and verify.
    secs: f64,
    /// Seconds to build the retention report, encode it and sign it (0 unless asked).
    report_secs: f64,
    events: u64,
    clean: bool,
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
        report_secs = time_report(a, policy, as_of, now)?;
    }
    Ok(VerifyRun {
        secs,
        report_secs,
        events: v.size(),
        clean: v.is_clean(),
    })
}

/// Runs the verification-scale repetitions and adds the P4 row and the P7 row to `table`.
///
/// P4 without signature checks is measured without any switch in the verifier (a verifier
/// that can be told to skip signatures would be a footgun): on a one-thread rayon pool the
/// verifier checks its signature batches inline, so the whole verification is serial; the
/// same pool checks the same number of signatures in F5's batches; the difference is the
/// verification minus its signature checks, on one core, against F4 (a one-thread scan).
/// The SQLite peer of the same events is built in `peer_dir` and scanned each repetition.
pub fn section(sz: &Sizes, ledger: &VerifyLedger, peer_dir: &Path, table: &mut Table) -> Res<()> {
    let with_sigs = Policy::default();
    let (mut f4, mut f5, mut p4s) = (vec![], vec![], vec![]);
    let (mut f4g, mut f5k) = (vec![], vec![]);
    let (mut p7v, mut p7r) = (vec![], vec![]);
    let (mut serial_v, mut serial_f5, mut nosig) = (vec![], vec![], vec![]);
    let (mut serial_secs, mut serial_n) = (vec![], 0u64);
    let (mut peer_scan, mut peer_chain) = (vec![], vec![]);
    let mut dirty = false;
    log(format!(
        "building the SQLite peer of the {}-event ledger...",
        si(sz.verify_n as f64)
    ));
    sqlite::build_like_ledger(peer_dir, &verify_workload(sz.verify_n), sz.verify_n)?;
    // One thread: the verifier and F5 both serial (see `serial_no_sigs`).
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| fail(format!("a one-thread pool: {e}")))?;
    for r in 0..sz.big_reps {
        let a = f4_scan(&ledger.dir.join("sled"), false)?;
        f4g.push(f4_scan(&ledger.dir.join("sled"), true)?);
        let b = f5_batch(&ledger.sample, false)?;
        f5k.push(f5_batch(&ledger.sample, true)?);
        let s = run_verify(&ledger.dir, &with_sigs, true)?;
        if !s.clean {
            dirty = true;
        }
        let n = s.events;
        // P4 without signature checks: one core verifying, minus one core checking the same
        // number of signatures as F5 does.
        // F5 on one core just before and just after the verification, the faster one kept:
        // the smaller the signature share taken off, the more conservative the result.
        let sf5a = one.install(|| f5_batch(&ledger.sample, false))?;
        let sv = one.install(|| run_verify(&ledger.dir, &with_sigs, false))?;
        let sf5b = one.install(|| f5_batch(&ledger.sample, false))?;
        let sf5 = sf5a.max(sf5b);
        let sig_secs = sv.events as f64 / sf5;
        let rest = sv.secs - sig_secs;
        serial_n = sv.events;
        serial_secs.push(sv.secs);
        serial_v.push(sv.events as f64 / sv.secs);
        serial_f5.push(sf5);
        nosig.push(if rest > 0.0 {
            sv.events as f64 / rest
        } else {
            0.0
        });
        let ps = sqlite::scan(peer_dir)?;
        if !ps.chain_ok {
            return Err(fail("the SQLite peer's chain does not check out"));
        }
        peer_scan.push(ps.rows_s);
        peer_chain.push(ps.chain_rows_s);
        log(format!(
            "rep {r}: one core: verify {:.2}s, of which signatures {sig_secs:.2}s (F5 on one core {} sig/s): without signatures {} ev/s; SQLite peer scan {} rows/s, with its chain check {} rows/s",
            sv.secs,
            si(sf5),
            si(nosig.last().copied().unwrap_or(0.0)),
            si(ps.rows_s),
            si(ps.chain_rows_s)
        ));
        log(format!(
            "rep {r}: F4 {} ev/s; F5 {} sig/s; P4 sigs {} ev/s; verify {:.2}s, then report {:.3}s",
            si(a),
            si(b),
            si(n as f64 / s.secs),
            s.secs,
            s.report_secs
        ));
        f4.push(a);
        f5.push(b);
        p4s.push(n as f64 / s.secs);
        p7v.push(s.secs);
        p7r.push(s.report_secs);
    }
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
            // Issue 18 raised it from issue 6's 50 %.
            0.7,
            format!(
                "{} events; F5 over {} signatures; reps P4 [{}] F5 [{}]; F5 re-decompressing the author key per signature (as the verifier does): {} sig/s; F4 raw scan of entries and payloads {} ev/s (with a point get per payload: {} ev/s){clean_note}",
                si(sz.verify_n as f64),
                ledger.sample.msgs.len(),
                fmt_rates(&p4s),
                fmt_rates(&f5),
                si(median(&f5k)),
                si(median(&f4)),
                si(median(&f4g))
            ),
        );
    // From the medians (of the one-core verification time and of the one-core F5 rate), so
    // one noisy repetition cannot make the difference meaningless.
    let rest = median(&serial_secs) - serial_n as f64 / median(&serial_f5).max(1e-9);
    let nosig_med = if rest > 0.0 {
        serial_n as f64 / rest
    } else {
        0.0
    };
    table.ratio_row(
        "P4 full verification, no signature checks (one core: verification minus its signature checks)",
        "F4",
        median(&f4),
        nosig_med,
        "ev/s",
        0.5,
        format!(
            "{} events; on a one-thread rayon pool: the median time of the whole verification (signatures checked inline, in the verifier's own batches of 256) minus n / the median one-core F5 rate (batches of 256 of the same signatures; per rep the faster of one F5 just before and one just after); F4 is a one-thread scan too; per rep [{}]; one-core verification with signatures [{}] ev/s, one-core F5 [{}] sig/s; what remains includes building each signing message and the ~n/1024 seal signatures; 0 = the difference drowned in noise",
            si(sz.verify_n as f64),
            fmt_rates(&nosig),
            fmt_rates(&serial_v),
            fmt_rates(&serial_f5)
        ),
    );
    table.info_row(
        "P4 vs the SQLite peer (full scan)",
        "SQLite scan",
        median(&peer_scan),
        median(&p4s),
        "ev/s",
        format!(
            "caseledger: P4 with signatures (above); the peer: SELECT of every row in seq order touching every byte, same events; reps peer [{}]; the peer re-checking its own hash chain (all the tamper evidence it has): {} rows/s, caseledger = {:.0}% of that; caseledger without signature checks (one core) = {:.0}% of the plain scan; F4 = {:.0}% of the plain scan",
            fmt_rates(&peer_scan),
            si(median(&peer_chain)),
            median(&p4s) / median(&peer_chain).max(1e-9) * 100.0,
            nosig_med / median(&peer_scan).max(1e-9) * 100.0,
            median(&f4) / median(&peer_scan).max(1e-9) * 100.0
        ),
    );
    table.push(report::row(sz.verify_n, &p7v, &p7r));
    Ok(())
}
