//! The floors: raw sled with the default configuration (as the store opens it) and raw
//! Ed25519, on the same entry and payload bytes as caseledger's figures.

use crate::plan::WRITE_RECORDS;
use crate::util::{fail, rate, Res};
use caseledger_bench::stats::{median, si};
use caseledger_bench::{signature_parts, StoredPair};
use caseledger_core::event::SignedEvent;
use rayon::prelude::*;
use sled::Transactional;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// Signatures in the F5 sample (the rate is per signature; a sample bounds memory and time).
pub const F5_SAMPLE: usize = 1 << 18;
/// Chunk of signatures per `verify_batch` call in F5 (as the verifier does).
const F5_CHUNK: usize = 256;

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
pub fn f1_groups(dir: &Path, pairs: &[StoredPair], group: usize) -> Res<f64> {
    let (db, e, p) = open_raw(dir)?;
    let t = Instant::now();
    for g in pairs.chunks(group.max(1)) {
        write_group(&e, &p, g)?;
        db.flush()?;
    }
    Ok(rate(pairs.len() as u64, t.elapsed()))
}

/// F2: one event's two values in one transaction, flush after each.
pub fn f2_flush_each(dir: &Path, pairs: &[StoredPair]) -> Res<f64> {
    f1_groups(dir, pairs, 1)
}

/// F3: the same values into two trees, plain inserts, one flush at the end.
pub fn f3_no_flush(dir: &Path, pairs: &[StoredPair]) -> Res<f64> {
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
/// payload, nonce) and per group (the Merkle tiles it grows: each level-0 tile its entries
/// fall in, rewritten whole at its new width, and a level-1 tile when a level-0 tile
/// completes; one record state per record touched; head; compact range) across six trees,
/// one transaction per group; a flush per group when `flush_each`, else one at the end. It
/// tells sled's per-row cost apart from the rest of the store's work.
pub fn f_rows(
    dir: &Path,
    pairs: &[StoredPair],
    group: usize,
    flush_each: bool,
    txn: bool,
) -> Res<f64> {
    f_rows_with(dir, pairs, group, flush_each, txn, false)
}

/// [`f_rows`] with `lean` rows: no nonce row, two rows per event instead of three
/// (informational: what a replay check without a per-event row could buy at most).
pub fn f_rows_with(
    dir: &Path,
    pairs: &[StoredPair],
    group: usize,
    flush_each: bool,
    txn: bool,
    lean: bool,
) -> Res<f64> {
    let db = sled::Config::new().path(dir).create_new(true).open()?;
    let names = ["entries", "payloads", "tiles", "records", "nonces", "meta"];
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
    let mut rows = Vec::with_capacity(g.len() * 3 + 8);
    let mut recs = std::collections::BTreeSet::new();
    for s in g {
        let k = key(s.seq);
        rows.push((0, k.to_vec(), s.entry.clone()));
        rows.push((1, k.to_vec(), s.payload.clone()));
        recs.insert(format!("C-{:06}", s.seq % WRITE_RECORDS));
        if !lean {
            let mut nonce = vec![0u8; 16];
            nonce[..8].copy_from_slice(&s.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
            rows.push((4, nonce, k.to_vec()));
        }
    }
    // The Merkle tiles (docs/FORMAT.md §6): each level-0 tile the group's seqs fall in,
    // rewritten whole up to the group's last seq, and the level-1 tile that gains a hash
    // when one of them completes.
    let tile = |level: u8, index: u64, width: u64| {
        let mut tk = vec![level];
        tk.extend_from_slice(&index.to_be_bytes());
        (
            2,
            tk,
            vec![level + 1; usize::try_from(width * 32).unwrap_or(0)],
        )
    };
    if let (Some(first), Some(last)) = (g.first(), g.last()) {
        for t in (first.seq >> 8)..=(last.seq >> 8) {
            let end = (last.seq + 1).min((t + 1) << 8);
            rows.push(tile(0, t, end - (t << 8)));
            if end == (t + 1) << 8 {
                rows.push(tile(1, t >> 8, (t & 0xff) + 1));
            }
        }
    }
    for rec in recs {
        let mut rk = rec.into_bytes();
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
pub fn f4_scan(sled_dir: &Path, point_get: bool) -> Res<f64> {
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
pub struct SigSample {
    pub msgs: Vec<Vec<u8>>,
    sigs: Vec<ed25519_dalek::Signature>,
    key: ed25519_dalek::VerifyingKey,
}

impl SigSample {
    /// An empty sample of signatures by `key`.
    pub fn new(key: ed25519_dalek::VerifyingKey) -> SigSample {
        SigSample {
            msgs: Vec::new(),
            sigs: Vec::new(),
            key,
        }
    }

    /// Adds one event's signing message and signature.
    pub fn push(&mut self, e: &SignedEvent) -> Res<()> {
        let (msg, sig) = signature_parts(e)?;
        self.msgs.push(msg);
        self.sigs.push(sig);
        Ok(())
    }
}

/// F5: Ed25519 batch verification of the sample on all cores (rayon chunks of 256).
///
/// With `rekey`, the author's key is decompressed again for every signature (as the verifier
/// does; informational: the cost of not caching it).
pub fn f5_batch(s: &SigSample, rekey: bool) -> Res<f64> {
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

/// The informational "store's rows" floor for a notes column.
pub fn rows_note(ours: f64, rows: &[f64], batched: &[f64], lean: &[f64]) -> String {
    let m = median(rows);
    let pct = if m > 0.0 { ours / m * 100.0 } else { 0.0 };
    let mut note = format!(
        "raw sled writing the store's rows (3/event: entry, payload, nonce; per group: its Merkle tiles, record states, head, compact range; 6 trees) in one transaction: {} ev/s, caseledger = {pct:.0}% of it; the same rows as one apply_batch per tree: {} ev/s",
        si(m),
        si(median(batched))
    );
    if !lean.is_empty() {
        let _ = write!(
            note,
            "; lean rows (2/event: no nonce row): {} ev/s",
            si(median(lean))
        );
    }
    note
}
