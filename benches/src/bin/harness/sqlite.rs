//! The SQLite peer: what a record-system developer without caseledger would write instead, a
//! hash-chained audit table in SQLite (rusqlite, SQLite bundled), on the same entry and
//! payload bytes as the sled floors.
//!
//! One table `audit(seq INTEGER PRIMARY KEY, entry BLOB, payload BLOB, chain BLOB)`, where
//! `chain = SHA-256(previous chain ‖ entry ‖ payload)` (the tamper evidence such a table
//! has), WAL mode with `synchronous=FULL`, so every commit is durable (the WAL is fsynced
//! at each commit) like the sled floors' flushes.
//!
//! The peer has **one writer** committing groups. P1's 64 writers become groups inside the
//! store (group commit); SQLite has no group commit across connections (each connection's
//! commit is its own WAL fsync, serialized by the database's write lock), and a chain needs
//! its writers serialized anyway. So the best a developer can do is what F1 does: one
//! writer committing the group P1 achieved. 64 connections committing one row each would
//! measure SQLite's lock and one fsync per event, a much weaker peer than SQLite can be.

use crate::util::{fail, rate, Res};
use caseledger_bench::StoredPair;
use rusqlite::{params, Connection, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Instant;

/// The database file inside a peer's directory (SQLite adds `-wal` and `-shm` beside it).
const DB_FILE: &str = "audit.db";

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Clone, Copy)]
pub enum Synchronous {
    /// `FULL`: the WAL is fsynced at every commit (durable across power loss): the peer.
    Full,
    /// `NORMAL`: the WAL is fsynced only at checkpoints (a commit survives the process
    /// dying, not the machine). Informational: closer to what sled's `flush` does (see
    /// benches/RESULTS.md: `sync_file_range`, no fsync).
    Normal,
}

/// The peer's database, open.
pub struct Peer {
    conn: Connection,
    /// The chain value of the last row written.
    prev: [u8; 32],
}

fn sql(e: rusqlite::Error) -> Box<dyn std::error::Error + Send + Sync> {
    fail(format!("sqlite: {e}"))
}

fn seq_i64(seq: u64) -> Res<i64> {
    i64::try_from(seq).map_err(|_| fail("seq beyond SQLite's INTEGER"))
}

impl Peer {
    /// A fresh database in `dir` (created): WAL, `synchronous=FULL`, the audit table.
    pub fn create(dir: &Path) -> Res<Peer> {
        Peer::create_with(dir, Synchronous::Full)
    }

    /// A fresh database in `dir` with the given `synchronous` setting.
    pub fn create_with(dir: &Path, sync: Synchronous) -> Res<Peer> {
        std::fs::create_dir_all(dir)?;
        let conn = Connection::open(dir.join(DB_FILE)).map_err(sql)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail(format!("sqlite: journal_mode is {mode}, not wal")));
        }
        let (pragma, want) = match sync {
            Synchronous::Full => ("PRAGMA synchronous=FULL;", 2),
            Synchronous::Normal => ("PRAGMA synchronous=NORMAL;", 1),
        };
        conn.execute_batch(pragma).map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE audit (
                 seq INTEGER PRIMARY KEY,
                 entry BLOB NOT NULL,
                 payload BLOB,
                 chain BLOB NOT NULL
             );",
        )
        .map_err(sql)?;
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(sql)?;
        if sync != want {
            return Err(fail(format!("sqlite: synchronous is {sync}, not {want}")));
        }
        Ok(Peer {
            conn,
            prev: [0; 32],
        })
    }

    /// Appends `pairs` in one transaction (one durable commit), chaining each row to the
    /// one before it.
    pub fn commit(&mut self, pairs: &[StoredPair]) -> Res<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO audit (seq, entry, payload, chain) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql)?;
            for s in pairs {
                let mut h = Sha256::new();
                h.update(self.prev);
                h.update(&s.entry);
                h.update(&s.payload);
                let chain: [u8; 32] = h.finalize().into();
                // Genesis and enrolment carry no payload: NULL, as a developer would store it.
                let payload = (!s.payload.is_empty()).then_some(s.payload.as_slice());
                st.execute(params![seq_i64(s.seq)?, s.entry, payload, chain])
                    .map_err(sql)?;
                self.prev = chain;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Closes the connection (SQLite checkpoints the WAL into the database file and removes
    /// it when the last connection closes).
    pub fn close(self) -> Res<()> {
        self.conn.close().map_err(|(_, e)| sql(e))
    }
}

/// The peer writing `pairs` in durable transactions of `group` rows: events per second.
/// P1's peer (`group` = P1's mean group size) and P3's (`group` = 1024).
pub fn groups(dir: &Path, pairs: &[StoredPair], group: usize) -> Res<f64> {
    groups_with(dir, pairs, group, Synchronous::Full)
}

/// [`groups`] with the given `synchronous` setting.
pub fn groups_with(dir: &Path, pairs: &[StoredPair], group: usize, sync: Synchronous) -> Res<f64> {
    let mut p = Peer::create_with(dir, sync)?;
    let t = Instant::now();
    for g in pairs.chunks(group.max(1)) {
        p.commit(g)?;
    }
    let r = rate(pairs.len() as u64, t.elapsed());
    p.close()?;
    Ok(r)
}

/// What a scan of the peer measured.
pub struct Scan {
    /// Rows per second of a plain scan in seq order touching every byte (as F4 does).
    pub rows_s: f64,
    /// Rows per second of the same scan recomputing and checking the chain (the peer's
    /// own verification: all the tamper evidence it has).
    pub chain_rows_s: f64,
    /// Whether the chain checked out.
    pub chain_ok: bool,
}

/// Scans the peer database in `dir` twice (plain, then checking the chain) through a fresh
/// connection.
pub fn scan(dir: &Path) -> Res<Scan> {
    let conn = Connection::open(dir.join(DB_FILE)).map_err(sql)?;
    let mut st = conn
        .prepare("SELECT seq, entry, payload, chain FROM audit ORDER BY seq")
        .map_err(sql)?;
    let blob_len = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<usize> {
        Ok(r.get_ref(i)?.as_blob_or_null()?.map_or(0, <[u8]>::len))
    };
    let t = Instant::now();
    let (mut n, mut bytes) = (0u64, 0usize);
    let mut rows = st.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        bytes += blob_len(r, 1).map_err(sql)? + blob_len(r, 2).map_err(sql)? + 8;
        n += 1;
    }
    let rows_s = rate(n, t.elapsed());
    std::hint::black_box(bytes);
    drop(rows);

    let t = Instant::now();
    let (mut n, mut prev, mut ok) = (0u64, [0u8; 32], true);
    let mut rows = st.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let get = |i: usize| -> rusqlite::Result<&[u8]> {
            Ok(r.get_ref(i)?.as_blob_or_null()?.unwrap_or(&[]))
        };
        let mut h = Sha256::new();
        h.update(prev);
        h.update(get(1).map_err(sql)?);
        h.update(get(2).map_err(sql)?);
        let chain: [u8; 32] = h.finalize().into();
        ok &= get(3).map_err(sql)? == chain.as_slice();
        prev = chain;
        n += 1;
    }
    let chain_rows_s = rate(n, t.elapsed());
    Ok(Scan {
        rows_s,
        chain_rows_s,
        chain_ok: ok,
    })
}

/// The peer holding the verification ledger's events (`n` clinical events of `w` after
/// genesis and enrolment, chained as the store chains them), written in durable
/// transactions of 1024; what P4's peer scans. Events are made in chunks, so a 1M-event
/// peer never holds the workload in memory.
pub fn build_like_ledger(dir: &Path, w: &caseledger_bench::Workload, n: u64) -> Res<()> {
    const GEN: u64 = 16_384;
    let mut chain = caseledger_bench::Chain::new();
    let mut p = Peer::create(dir)?;
    let mut pending = Vec::with_capacity(1024);
    let push = |p: &mut Peer, pending: &mut Vec<StoredPair>, s: StoredPair| -> Res<()> {
        pending.push(s);
        if pending.len() == 1024 {
            p.commit(pending)?;
            pending.clear();
        }
        Ok(())
    };
    for ev in [w.genesis()?, w.enrolment()?] {
        let seq = chain.next_seq();
        let entry = chain.push(ev)?;
        push(
            &mut p,
            &mut pending,
            StoredPair {
                seq,
                entry,
                payload: Vec::new(),
            },
        )?;
    }
    let mut start = 0;
    while start < n {
        let end = (start + GEN).min(n);
        for (ev, payload) in w.events(start..end)? {
            let seq = chain.next_seq();
            let entry = chain.push(ev)?;
            push(
                &mut p,
                &mut pending,
                StoredPair {
                    seq,
                    entry,
                    payload: payload.to_stored(),
                },
            )?;
        }
        start = end;
    }
    if !pending.is_empty() {
        p.commit(&pending)?;
    }
    p.close()
}
