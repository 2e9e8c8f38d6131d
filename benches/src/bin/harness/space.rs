//! Space: the bytes of P3's ledger directory against raw sled holding exactly the same
//! entry and payload values, and bytes per event of both and of the SQLite peer.
//!
//! The values are read back from the ledger through the verifier's public `SledSource`
//! (stored bytes verbatim: the entries and the encrypted payload values the store wrote),
//! so the floor follows the store's layout without knowing its trees.

use crate::table::{Row, Verdict};
use crate::util::{fail, Res};
use caseledger_bench::stats::si;
use caseledger_verify::{LedgerSource, SledSource};
use std::path::Path;

/// Bytes of every file under `dir` (recursively): (apparent length, allocated on disk).
pub fn dir_bytes(dir: &Path) -> Res<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let (mut len, mut alloc) = (0u64, 0u64);
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        if m.is_dir() {
            let (l, a) = dir_bytes(&e.path())?;
            len += l;
            alloc += a;
        } else {
            len += m.len();
            alloc += m.blocks() * 512;
        }
    }
    Ok((len, alloc))
}

/// What the raw copy held.
pub struct RawCopy {
    /// Entries copied (the ledger's size).
    pub events: u64,
    /// Bytes of the entry and payload values (keys not counted).
    pub value_bytes: u64,
}

/// Copies the stored entries and payload values of the (closed) ledger in `ledger` into a
/// fresh sled database in `dst`: two trees, plain inserts keyed as stored, one flush, then
/// closed.
pub fn raw_sled_copy(ledger: &Path, dst: &Path) -> Res<RawCopy> {
    let src = SledSource::open(ledger)?;
    let db = sled::Config::new().path(dst).create_new(true).open()?;
    let (te, tp) = (db.open_tree("entries")?, db.open_tree("payloads")?);
    let (mut events, mut value_bytes) = (0u64, 0u64);
    for e in src.entries()? {
        let e = e?;
        value_bytes += e.bytes.len() as u64;
        te.insert(&e.key, e.bytes)?;
        if let Some(p) = e.payload {
            value_bytes += p.len() as u64;
            tp.insert(&e.key, p)?;
        }
        events += 1;
    }
    if src.storage_damage().is_some() {
        return Err(fail("space: the P3 ledger reads as damaged"));
    }
    db.flush()?;
    drop((te, tp, db));
    Ok(RawCopy {
        events,
        value_bytes,
    })
}

/// The space row: `ledger` = P3's ledger directory (`ledger_bytes` measured before anything
/// else opened it), `raw` = its raw sled copy, `peer` = the SQLite peer's P3 database
/// (`peer_events` rows of the workload's plain bytes, `peer_value_bytes` of them).
pub struct Space {
    pub ledger_bytes: (u64, u64),
    pub raw_bytes: (u64, u64),
    pub copy: RawCopy,
    pub peer_bytes: (u64, u64),
    pub peer_events: u64,
    pub peer_value_bytes: u64,
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn per(b: u64, n: u64) -> String {
    format!("{:.0}", b as f64 / n.max(1) as f64)
}

/// The table row (goal: ledger ≤ 1.3× raw sled with the same values).
pub fn row(s: &Space) -> Row {
    let (ledger, raw) = (s.ledger_bytes.0, s.raw_bytes.0);
    let ratio = if raw > 0 {
        ledger as f64 / raw as f64
    } else {
        0.0
    };
    let n = s.copy.events;
    Row {
        target: format!(
            "space: P3's ledger directory vs raw sled with the same values ({} events)",
            si(n as f64)
        ),
        floor: format!("raw sled {}", mb(raw)),
        ours: mb(ledger),
        ratio: format!("{ratio:.2}x"),
        goal: "<= 1.3x raw sled".to_owned(),
        verdict: if ratio > 0.0 && ratio <= 1.3 {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        note: format!(
            "bytes per event: ledger {} (allocated {}), raw sled {} (allocated {}), SQLite peer {} (allocated {}; {} rows of the workload's plaintext: values {} B/row, no encryption, plus a 32-byte chain hash); the ledger's stored values (entry + encrypted payload) {} B/event; everything under each directory, after closing, the ledger measured before anything else opened it",
            per(ledger, n),
            per(s.ledger_bytes.1, n),
            per(raw, n),
            per(s.raw_bytes.1, n),
            per(s.peer_bytes.0, s.peer_events),
            per(s.peer_bytes.1, s.peer_events),
            si(s.peer_events as f64),
            per(s.peer_value_bytes, s.peer_events),
            per(s.copy.value_bytes, n),
        ),
    }
}
