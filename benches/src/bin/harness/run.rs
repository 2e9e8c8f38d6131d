//! One run of the harness: the sections in order on their own ledgers, then the table.

use crate::args::{Opts, Section};
use crate::plan::{sizes, Dirs, WritePath};
use crate::table::Table;
use crate::util::{log, Res, START};
use crate::{crypto, p1, p2, p3, p5, p6, verify};

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

pub fn run(o: &Opts) -> Res<()> {
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
    let mut dirs = Dirs::new(tmp.path().to_path_buf());
    let mode = if o.quick { "quick" } else { "full" };
    log(format!(
        "caseledger harness, {mode} mode, {} reps; {}",
        o.reps,
        machine()
    ));
    let mut table = Table::default();

    // ---- write path: P1/F1, P2/F2, P3/F3 on the same events and bytes.
    let wp = WritePath::new(sz.group_events.max(sz.flush_each).max(sz.bulk))?;
    p1::section(o, &sz, &mut dirs, &wp, &mut table)?;
    p2::section(o, &sz, &mut dirs, &wp, &mut table)?;
    let p3 = p3::section(o, &sz, &mut dirs, &wp, &mut table)?;
    crypto::section(o, &mut dirs, &wp, p3, &mut table)?;
    drop(wp);

    let mut vdir = dirs.fresh("verify");
    if o.runs(Section::Verify) || o.runs(Section::P6) {
        // ---- the verification ledger: P4, P6, P7 (and F4, F5 on its bytes and signatures).
        let ledger = verify::prepare(o, &sz, vdir)?;
        if o.runs(Section::Verify) {
            verify::section(&sz, &ledger, &dirs.fresh("verify-sqlite"), &mut table)?;
        }
        // ---- P6: proofs at the verification ledger's size.
        p6::section(&ledger.dir, &mut table)?;
        vdir = ledger.dir;
    }

    if o.runs(Section::P5) {
        // ---- P5: peak RSS and cost per event, each size verified in a fresh child process.
        p5::section(o, &sz, &mut dirs, &vdir, &mut table)?;
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
