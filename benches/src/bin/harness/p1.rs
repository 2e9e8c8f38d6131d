//! P1 durable appends: 64 writer threads appending `Immediate` concurrently, against F1 (the
//! same bytes in groups of the mean group size P1 reached, one transaction and one flush per
//! group).

use crate::args::{Opts, Section};
use crate::floors::{f1_groups, f_rows, f_rows_with, rows_note};
use crate::ledger::{new_ledger, with_payload};
use crate::plan::{Dirs, Sizes, WritePath};
use crate::sqlite;
use crate::table::{fmt_rates, Row, Table, Verdict};
use crate::util::{fail, log, rate, round_usize, Res};
use caseledger_bench::stats::{median, si};
use caseledger_bench::Workload;
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_store::Durability;
use std::path::Path;
use std::time::Instant;

/// Writer threads for P1 (the figure).
const WRITERS: usize = 64;

/// Durable signed appends per second per core that published logs reach (issue 18):
/// Tessera's POSIX backend, and Crosby–Wallach (USENIX Security 2009, with signing).
const TESSERA_POSIX_PER_CORE: f64 = 1_400.0;
const CROSBY_WALLACH_PER_CORE: f64 = 1_750.0;
/// The goal: more durable signed appends per second per core than both.
const PER_CORE_GOAL: f64 = 1_500.0;

/// P1: `WRITERS` threads appending `Immediate` concurrently. Records are opened (untimed)
/// first. Returns (events/s, mean group size).
fn p1_group_commit(
    dir: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    events: &[(SignedEvent, Payload)],
    sealed: bool,
) -> Res<(f64, f64)> {
    let l = new_ledger(dir, w, Durability::Immediate, sealed)?;
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

/// Runs the P1 repetitions (`--reps`) and adds the row to `table`.
pub fn section(
    o: &Opts,
    sz: &Sizes,
    dirs: &mut Dirs,
    wp: &WritePath,
    table: &mut Table,
) -> Res<()> {
    let mut unsealed = Vec::new();
    let (mut peer, mut peer_normal) = (Vec::new(), Vec::new());
    let (mut p1, mut groups, mut f1, mut r1, mut r1b, mut r1l) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for r in 0..o.reps_of(Section::P1) {
        let (ev_s, g) = p1_group_commit(
            &dirs.fresh("p1"),
            &wp.w,
            wp.opening(),
            wp.events(sz.group_events),
            true,
        )?;
        // The same appends without seals, in the same repetition (what seals cost).
        let (bare, bare_g) = p1_group_commit(
            &dirs.fresh("p1bare"),
            &wp.w,
            wp.opening(),
            wp.events(sz.group_events),
            false,
        )?;
        log(format!(
            "rep {r}: P1 without seals {} ev/s, mean group {bare_g:.1}",
            si(bare)
        ));
        unsealed.push(bare);
        let gs = round_usize(g).max(1);
        let fl = f1_groups(&dirs.fresh("f1"), wp.pairs(sz.group_events), gs)?;
        let rows = f_rows(
            &dirs.fresh("f1rows"),
            wp.pairs(sz.group_events),
            gs,
            true,
            true,
        )?;
        r1l.push(f_rows_with(
            &dirs.fresh("f1lean"),
            wp.pairs(sz.group_events),
            gs,
            true,
            true,
            true,
        )?);
        r1b.push(f_rows(
            &dirs.fresh("f1batch"),
            wp.pairs(sz.group_events),
            gs,
            true,
            false,
        )?);
        // The SQLite peer at the same group size (one writer: see `sqlite`).
        let q = sqlite::groups(&dirs.fresh("p1sqlite"), wp.pairs(sz.group_events), gs)?;
        peer.push(q);
        peer_normal.push(sqlite::groups_with(
            &dirs.fresh("p1sqlite-normal"),
            wp.pairs(sz.group_events),
            gs,
            sqlite::Synchronous::Normal,
        )?);
        log(format!(
            "rep {r}: P1 {} ev/s, mean group {g:.1}; F1(group {gs}) {} ev/s; F1-rows {} ev/s; SQLite peer {} ev/s",
            si(ev_s),
            si(fl),
            si(rows),
            si(q)
        ));
        r1.push(rows);
        p1.push(ev_s);
        groups.push(g);
        f1.push(fl);
    }
    let g_med = median(&groups);
    if o.runs(Section::P1) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_core = median(&p1) / cores as f64;
        let per_core_note = format!(
            "absolute: {} durable signed appends/s per core ({} ev/s / nproc {cores}; Tessera POSIX ≈ {}/core, Crosby–Wallach 2009 {}/core with signing)",
            si(per_core),
            si(median(&p1)),
            si(TESSERA_POSIX_PER_CORE),
            si(CROSBY_WALLACH_PER_CORE)
        );
        table.ratio_row(
            "P1 durable appends, 64 writers, Immediate",
            "F1",
            median(&f1),
            median(&p1),
            "ev/s",
            0.5,
            format!(
                "{} events/rep; mean group size {:.1} (F1 at the same size); reps P1 [{}] F1 [{}]; {per_core_note}; {}",
                sz.group_events,
                g_med,
                fmt_rates(&p1),
                fmt_rates(&f1),
                rows_note(median(&p1), &r1, &r1b, &r1l)
            ),
        );
        table.info_row(
            "P1 vs the SQLite peer (durable groups)",
            "SQLite",
            median(&peer),
            median(&p1),
            "ev/s",
            format!(
                "the peer: one hash-chained audit table, WAL, synchronous=FULL, one writer committing groups of P1's mean group size ({g_med:.1}) on the same bytes as F1 (plaintext payloads; one writer because SQLite has no group commit across connections and the chain serializes writers anyway); reps peer [{}]; F1 = {:.0}% of the peer; the peer with synchronous=NORMAL (no fsync per commit; sled's flush is sync_file_range, no fsync either): {} ev/s, caseledger = {:.0}% of it",
                fmt_rates(&peer),
                median(&f1) / median(&peer).max(1e-9) * 100.0,
                si(median(&peer_normal)),
                median(&p1) / median(&peer_normal).max(1e-9) * 100.0
            ),
        );
        table.push(Row {
            target: "P1 absolute: durable signed appends per core".to_owned(),
            floor: format!(
                "Tessera POSIX {}/core, Crosby–Wallach {}/core",
                si(TESSERA_POSIX_PER_CORE),
                si(CROSBY_WALLACH_PER_CORE)
            ),
            ours: format!("{} ev/s/core", si(per_core)),
            ratio: format!("{:.0}% of {}", per_core / PER_CORE_GOAL * 100.0, si(PER_CORE_GOAL)),
            goal: format!("> {}/core", si(PER_CORE_GOAL)),
            verdict: if per_core > PER_CORE_GOAL {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note: format!(
                "P1's median ({} ev/s, 64 writers, Immediate, sealed, encrypted payloads) / nproc = {cores}; the machine is shared, so the absolute figure moves with its load",
                si(median(&p1))
            ),
        });
        table.ratio_row(
            "P1 seal cost: sealed vs unsealed appends, 64 writers, Immediate",
            "unsealed",
            median(&unsealed),
            median(&p1),
            "ev/s",
            0.9,
            format!(
                "every group commit signed (Ed25519) in its transaction; acknowledged after sled's flush and then the checkpoints.log append + fdatasync (pipelined: the next group commits meanwhile, one log fsync may cover several groups); reps sealed [{}] unsealed [{}]",
                fmt_rates(&p1),
                fmt_rates(&unsealed)
            ),
        );
    }
    Ok(())
}
