//! P4 full verification of the verification ledger, with signatures checked (against F5,
//! raw Ed25519 batch verification of its signatures; F4, a raw sled scan of its entries and
//! payloads, is printed beside it); each verification is followed by the retention report
//! (P7, [`crate::report`]).

use crate::args::Opts;
use crate::floors::{f4_scan, f5_batch, SigSample};
use crate::ledger::ledger_of;
use crate::plan::{verify_workload, Sizes};
use crate::report::{self, time_report};
use crate::table::{fmt_rates, Table};
use crate::util::{log, Res};
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
/// P4 without signature checks is no longer measured: it resumed from a checkpoint at the
/// head (`Policy::resume_from`), which issue 10 retired. F4 (the raw scan it was compared
/// with) is still measured and printed in the P4 notes, for issue 18 to pick up.
pub fn section(sz: &Sizes, ledger: &VerifyLedger, table: &mut Table) -> Res<()> {
    let with_sigs = Policy::default();
    let (mut f4, mut f5, mut p4s) = (vec![], vec![], vec![]);
    let (mut f4g, mut f5k) = (vec![], vec![]);
    let (mut p7v, mut p7r) = (vec![], vec![]);
    let mut dirty = false;
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
            0.5,
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
    table.push(report::row(sz.verify_n, &p7v, &p7r));
    Ok(())
}
