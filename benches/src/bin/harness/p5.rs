//! P5 memory and cost per event: each size verified in a fresh child process ([`crate::child`])
//! through `SledSource` and, for comparison, through an exported archive (`ArchiveSource`);
//! peak RSS at 1M events and how flat the cost per event stays from 10k to 1M.

use crate::args::Opts;
use crate::child::p5_child;
use crate::ledger::ledger_of;
use crate::plan::{Dirs, Sizes};
use crate::table::{Row, Table, Verdict};
use crate::util::{log, Res};
use caseledger_bench::stats::{median, si};
use caseledger_store::{Ledger, OpenOptions};
use std::path::Path;

/// Measures every P5 size and adds the four P5 rows to `table`; the ledger of the
/// verification size is `vdir` when the verification section built it.
pub fn section(o: &Opts, sz: &Sizes, dirs: &mut Dirs, vdir: &Path, table: &mut Table) -> Res<()> {
    let mut curve = Vec::new();
    let mut arch: Vec<(u64, f64, f64)> = Vec::new();
    for &n in &sz.p5 {
        let dir = if n == sz.verify_n && vdir.exists() {
            vdir.to_path_buf()
        } else {
            ledger_of(o.keep.as_deref(), dirs.fresh("p5"), n, None)?.0
        };
        let archive = dir.with_extension("archive");
        if !archive.exists() {
            let l = Ledger::open(
                &dir,
                OpenOptions::default().with_kek(caseledger_bench::bench_kek()),
            )?;
            let part = archive.with_extension("part");
            l.export_archive(std::io::BufWriter::new(std::fs::File::create(&part)?), true)?;
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
    p5_rows(table, "sled source (SledSource)", &curve);
    p5_rows(table, "archive source (ArchiveSource)", &arch);
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
