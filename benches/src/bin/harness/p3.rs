//! P3 bulk import: `append_batch` under `Deferred` and one flush, against F3 (plain inserts,
//! one flush).

use crate::args::{Opts, Section};
use crate::floors::{f3_no_flush, f_rows, f_rows_with, rows_note};
use crate::ledger::{new_ledger, with_payload};
use crate::plan::{Dirs, Sizes, WritePath};
use crate::space::{dir_bytes, raw_sled_copy, Space};
use crate::sqlite;
use crate::table::{fmt_rates, Table};
use crate::util::{fail, log, rate, Res};
use caseledger_bench::stats::{median, si};
use caseledger_bench::Workload;
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_store::{Durability, IMPORT_CHUNK};
use std::path::Path;
use std::time::Instant;

/// P3: bulk import: `append_batch` in chunks of the importer's size under `Deferred`, then
/// one flush (the flush is timed).
fn p3_bulk(
    dir: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    events: &[(SignedEvent, Payload)],
    sealed: bool,
) -> Res<f64> {
    let l = new_ledger(dir, w, Durability::Deferred, sealed)?;
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

/// Runs the P3 repetitions (`--reps`) and adds the row to `table`. Returns P3's (sealed)
/// median, when it ran.
pub fn section(
    o: &Opts,
    sz: &Sizes,
    dirs: &mut Dirs,
    wp: &WritePath,
    table: &mut Table,
) -> Res<Option<f64>> {
    let (mut p3, mut f3, mut r3, mut r3b, mut r3l) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut unsealed = Vec::new();
    let mut peer = Vec::new();
    // The last repetition's ledger and SQLite peer, for the space row.
    let mut last: Option<(std::path::PathBuf, std::path::PathBuf)> = None;
    for r in 0..o.reps_of(Section::P3) {
        let p3_dir = dirs.fresh("p3");
        let a = p3_bulk(&p3_dir, &wp.w, wp.opening(), wp.events(sz.bulk), true)?;
        let bare = p3_bulk(
            &dirs.fresh("p3bare"),
            &wp.w,
            wp.opening(),
            wp.events(sz.bulk),
            false,
        )?;
        log(format!("rep {r}: P3 without seals {} ev/s", si(bare)));
        unsealed.push(bare);
        let b = f3_no_flush(&dirs.fresh("f3"), wp.pairs(sz.bulk))?;
        let peer_dir = dirs.fresh("p3sqlite");
        let q = sqlite::groups(&peer_dir, wp.pairs(sz.bulk), IMPORT_CHUNK)?;
        peer.push(q);
        let rows = f_rows(
            &dirs.fresh("f3rows"),
            wp.pairs(sz.bulk),
            IMPORT_CHUNK,
            false,
            true,
        )?;
        r3l.push(f_rows_with(
            &dirs.fresh("f3lean"),
            wp.pairs(sz.bulk),
            IMPORT_CHUNK,
            false,
            true,
            true,
        )?);
        r3b.push(f_rows(
            &dirs.fresh("f3batch"),
            wp.pairs(sz.bulk),
            IMPORT_CHUNK,
            false,
            false,
        )?);
        log(format!(
            "rep {r}: P3 {} ev/s; F3 {} ev/s; F3-rows {} ev/s; SQLite peer {} ev/s",
            si(a),
            si(b),
            si(rows),
            si(q)
        ));
        if let Some((old_p3, old_peer)) = last.replace((p3_dir, peer_dir)) {
            // Only the last repetition's are measured for space: keep the disk use down.
            let _ = std::fs::remove_dir_all(old_p3);
            let _ = std::fs::remove_dir_all(old_peer);
        }
        r3.push(rows);
        p3.push(a);
        f3.push(b);
    }
    if o.runs(Section::P3) {
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
        table.ratio_row(
            "P3 seal cost: sealed vs unsealed bulk import, Deferred",
            "unsealed",
            median(&unsealed),
            median(&p3),
            "ev/s",
            0.9,
            format!(
                "one seal per append_batch of {IMPORT_CHUNK} in its transaction, logged at the flush; reps sealed [{}] unsealed [{}]",
                fmt_rates(&p3),
                fmt_rates(&unsealed)
            ),
        );
        table.info_row(
            "P3 vs the SQLite peer (bulk import)",
            "SQLite",
            median(&peer),
            median(&p3),
            "ev/s",
            format!(
                "the peer: one hash-chained audit table, WAL, synchronous=FULL, durable transactions of {IMPORT_CHUNK} rows on the same bytes as F3 (plaintext payloads); reps peer [{}]; F3 (raw sled, not durable until its one flush) = {:.0}% of the peer",
                fmt_rates(&peer),
                median(&f3) / median(&peer).max(1e-9) * 100.0
            ),
        );
        if let Some((p3_dir, peer_dir)) = &last {
            // The ledger first, before anything else opens it (sled writes when it opens).
            let ledger_bytes = dir_bytes(p3_dir)?;
            let raw_dir = dirs.fresh("space-raw");
            let copy = raw_sled_copy(p3_dir, &raw_dir)?;
            let raw_bytes = dir_bytes(&raw_dir)?;
            let peer_pairs = wp.pairs(sz.bulk);
            let space = Space {
                ledger_bytes,
                raw_bytes,
                copy,
                peer_bytes: dir_bytes(peer_dir)?,
                peer_events: peer_pairs.len() as u64,
                peer_value_bytes: peer_pairs
                    .iter()
                    .map(|s| (s.entry.len() + s.payload.len()) as u64)
                    .sum(),
            };
            log(format!(
                "space: ledger {} B, raw sled {} B, SQLite peer {} B",
                space.ledger_bytes.0, space.raw_bytes.0, space.peer_bytes.0
            ));
            table.push(crate::space::row(&space));
        }
        return Ok(Some(median(&p3)));
    }
    Ok(None)
}
