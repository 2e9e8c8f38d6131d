//! P2 single writer: one append and one flush at a time, against F2 (one transaction and one
//! flush per event).

use crate::args::{Opts, Section};
use crate::floors::{f2_flush_each, f_rows, rows_note};
use crate::ledger::{new_ledger, with_payload};
use crate::plan::{Dirs, Sizes, WritePath};
use crate::table::{fmt_rates, Table};
use crate::util::{fail, log, rate, Res};
use caseledger_bench::stats::{median, si};
use caseledger_bench::Workload;
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_store::Durability;
use std::path::Path;
use std::time::Instant;

/// P2: one writer, `Immediate`, one flush per append.
fn p2_single(
    dir: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    events: &[(SignedEvent, Payload)],
    sealed: bool,
) -> Res<f64> {
    let l = new_ledger(dir, w, Durability::Immediate, sealed)?;
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

/// Runs the P2 repetitions (`--reps`) and adds the row to `table`.
pub fn section(
    o: &Opts,
    sz: &Sizes,
    dirs: &mut Dirs,
    wp: &WritePath,
    table: &mut Table,
) -> Res<()> {
    let (mut p2, mut f2, mut r2, mut r2b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut unsealed = Vec::new();
    for r in 0..o.reps_of(Section::P2) {
        let a = p2_single(
            &dirs.fresh("p2"),
            &wp.w,
            wp.opening(),
            wp.events(sz.flush_each),
            true,
        )?;
        let bare = p2_single(
            &dirs.fresh("p2bare"),
            &wp.w,
            wp.opening(),
            wp.events(sz.flush_each),
            false,
        )?;
        log(format!("rep {r}: P2 without seals {} ev/s", si(bare)));
        unsealed.push(bare);
        let b = f2_flush_each(&dirs.fresh("f2"), wp.pairs(sz.flush_each))?;
        let rows = f_rows(
            &dirs.fresh("f2rows"),
            wp.pairs(sz.flush_each),
            1,
            true,
            true,
        )?;
        r2b.push(f_rows(
            &dirs.fresh("f2batch"),
            wp.pairs(sz.flush_each),
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
    if o.runs(Section::P2) {
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
        table.ratio_row(
            "P2 seal cost: sealed vs unsealed, one writer, flush per append",
            "unsealed",
            median(&unsealed),
            median(&p2),
            "ev/s",
            0.9,
            format!(
                "a seal per append: sign, then a checkpoints.log append + fdatasync after each sled flush (no target set; reported); reps sealed [{}] unsealed [{}]",
                fmt_rates(&p2),
                fmt_rates(&unsealed)
            ),
        );
    }
    Ok(())
}
