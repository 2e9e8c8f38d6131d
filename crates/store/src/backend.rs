//! The storage seam (issue 18): the few operations the ledger needs from its key-value
//! engine, so that another engine can be added behind them without touching `core` or
//! `verify`. sled 0.34.7 ([`Trees`]) is the only implementation.
//!
//! What an engine must give: named trees of byte keys kept in key order; one atomic commit
//! of a group's puts and removes across trees (all or none, also across a crash); a flush
//! after which every commit that returned before it began is durable; point reads; ordered
//! scans; the last row of a tree. The exclusive directory lock (`<DIR>/lock`, flock) is the
//! ledger's own, outside the engine (`open.rs`), and so is the `checkpoints.log` fsync.
//!
//! Moved (no behaviour change, no stored byte changed): every read and write of the
//! ledger's rows. Writes are [`Backend::commit`]s: a group's or a batch's, and single puts
//! as a commit of one op (a cosignature and its undo, an imported or exported seal, the
//! one-time tiles build). Reads are [`Backend::get`], [`Backend::last`] and
//! [`Backend::scan`]: opening's checks, queries, proofs ([`crate::tilerows::TileNodes`],
//! the in-memory upper levels), archives, tiles served, the record rebuilds. The trees are
//! private fields of [`Trees`], so a new direct use does not compile; tests (`#[cfg(test)]`
//! [`Trees::tree`]) poke rows directly on purpose.
//!
//! What stays sled-specific, and why: opening the database and its trees and the
//! format-version probe before them (`open.rs`: opening the trees of a directory that is not
//! a ledger would add them to it); dropping the pre-tiles `nodes` tree at open (a sled
//! ledger's legacy, no other engine has one); the snapshot's copy of every tree of the
//! database (`snapshot.rs`: a consistent sled copy for the verifier, which reads sled); and
//! the syncs sled's own flush leaves undone (`sledfiles.rs`). These reach sled through
//! [`Trees::sled_db`] or before [`Trees`] exists.

use crate::error::{Result, StoreError};
use crate::sledfiles::BLOB_CANDIDATE;
use caseledger_core::encoding::encode_into;
use caseledger_core::layout::{
    TREE_CHECKPOINTS, TREE_ENTRIES, TREE_META, TREE_NONCES, TREE_PAYLOADS, TREE_RECORDS, TREE_TILES,
};
use serde::Serialize;
use sled::Transactional;
use std::ops::Range;
use std::path::Path;

/// Which tree an [`Op`] writes.
#[derive(Clone, Copy)]
pub(crate) enum T {
    Entries,
    Payloads,
    Tiles,
    Records,
    Nonces,
    Meta,
    Checkpoints,
}

pub(crate) struct Op {
    pub(crate) tree: T,
    pub(crate) key: Range<usize>,
    pub(crate) val: Option<Range<usize>>,
}

/// A group's writes: keys and values encoded into one reused buffer.
#[derive(Default)]
pub(crate) struct Ops {
    pub(crate) buf: Vec<u8>,
    pub(crate) ops: Vec<Op>,
}

impl Ops {
    pub(crate) fn clear(&mut self) {
        if self.buf.capacity() > 64 << 20 {
            self.buf = Vec::new();
        }
        self.buf.clear();
        self.ops.clear();
    }
    pub(crate) fn key(&mut self, key: &[u8]) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(key);
        start..self.buf.len()
    }
    pub(crate) fn put(&mut self, tree: T, key: &[u8], val: &[u8]) {
        let key = self.key(key);
        let start = self.buf.len();
        self.buf.extend_from_slice(val);
        self.ops.push(Op {
            tree,
            key,
            val: Some(start..self.buf.len()),
        });
    }
    /// Puts a value encoded canonically straight into the buffer.
    pub(crate) fn put_encoded<V: Serialize>(
        &mut self,
        tree: T,
        key: &[u8],
        val: &V,
    ) -> Result<Range<usize>> {
        let mark = self.buf.len();
        let key = self.key(key);
        let start = self.buf.len();
        if let Err(e) = encode_into(val, &mut self.buf) {
            self.buf.truncate(mark);
            return Err(e.into());
        }
        let val = start..self.buf.len();
        self.ops.push(Op {
            tree,
            key,
            val: Some(val.clone()),
        });
        Ok(val)
    }
    pub(crate) fn remove(&mut self, tree: T, key: &[u8]) {
        let key = self.key(key);
        self.ops.push(Op {
            tree,
            key,
            val: None,
        });
    }
    pub(crate) fn slice(&self, r: &Range<usize>) -> &[u8] {
        self.buf.get(r.clone()).unwrap_or_default()
    }
}

/// A key-value engine under the ledger (see the module docs).
pub(crate) trait Backend {
    /// A stored key or value as the engine hands it out (sled: `IVec`, shared, so reads
    /// copy nothing; a proof reads the same tile row up to eight times).
    type Value: AsRef<[u8]> + Clone;
    /// Applies every op of `ops`, in order, in one transaction: all of them or none.
    fn commit(&self, ops: &Ops) -> Result<()>;
    /// Makes every commit that returned before this call durable. An I/O error carries no
    /// path (the caller names the engine's directory).
    fn flush(&self) -> Result<()>;
    /// The value of `key` in `tree`, if any.
    fn get(&self, tree: T, key: &[u8]) -> Result<Option<Self::Value>>;
    /// An ordered scan's rows (a named type: it borrows the engine, never the bounds).
    type Scan<'a>: Iterator<Item = Result<(Self::Value, Self::Value)>> + 'a
    where
        Self: 'a;
    /// The row of `tree` with the largest key, if any.
    fn last(&self, tree: T) -> Result<Option<(Self::Value, Self::Value)>>;
    /// The rows of `tree` with keys in `[from, to)` (`to` unbounded when `None`), in key
    /// order. (The smallest key after `k` is `k || 0x00`: an exclusive start is that.)
    fn scan(&self, tree: T, from: &[u8], to: Option<&[u8]>) -> Self::Scan<'_>;
}

/// The sled implementation: one sled tree per [`T`]. Its fields are private to this
/// module, so every read and write of the ledger's rows goes through [`Backend`]; what is
/// sled-specific elsewhere reaches the database only through [`Trees::sled_db`].
pub(crate) struct Trees {
    db: sled::Db,
    /// What sled's own flush leaves undone ([`crate::sledfiles::SledFiles`]).
    files: crate::sledfiles::SledFiles,
    entries: sled::Tree,
    payloads: sled::Tree,
    tiles: sled::Tree,
    records: sled::Tree,
    nonces: sled::Tree,
    checkpoints: sled::Tree,
    meta: sled::Tree,
}

impl Trees {
    /// The ledger's trees in the sled database `db` at `sled_dir` (created if missing).
    pub(crate) fn open(db: sled::Db, sled_dir: &Path) -> Result<Trees> {
        Ok(Trees {
            files: crate::sledfiles::SledFiles::open(sled_dir)?,
            entries: db.open_tree(TREE_ENTRIES)?,
            payloads: db.open_tree(TREE_PAYLOADS)?,
            tiles: db.open_tree(TREE_TILES)?,
            records: db.open_tree(TREE_RECORDS)?,
            nonces: db.open_tree(TREE_NONCES)?,
            checkpoints: db.open_tree(TREE_CHECKPOINTS)?,
            meta: db.open_tree(TREE_META)?,
            db,
        })
    }

    /// The whole sled database, for what is engine-specific by nature (see the module
    /// docs): the snapshot's copy of every tree and dropping the pre-tiles `nodes` tree.
    pub(crate) fn sled_db(&self) -> &sled::Db {
        &self.db
    }

    /// Blob files synced after flushes so far (stats).
    pub(crate) fn blobs_synced(&self) -> u64 {
        self.files.blobs_synced()
    }

    /// The sled tree of `tree`: tests poke rows with it on purpose.
    #[cfg(test)]
    pub(crate) fn tree(&self, tree: T) -> &sled::Tree {
        self.sled_tree(tree)
    }

    fn sled_tree(&self, tree: T) -> &sled::Tree {
        match tree {
            T::Entries => &self.entries,
            T::Payloads => &self.payloads,
            T::Tiles => &self.tiles,
            T::Records => &self.records,
            T::Nonces => &self.nonces,
            T::Meta => &self.meta,
            T::Checkpoints => &self.checkpoints,
        }
    }
}

impl Backend for Trees {
    type Value = sled::IVec;
    type Scan<'a> = std::iter::Map<sled::Iter, SledRow>;

    fn commit(&self, ops: &Ops) -> Result<()> {
        self.files.note(
            ops.ops
                .iter()
                .any(|op| op.val.as_ref().is_some_and(|v| v.len() >= BLOB_CANDIDATE)),
        );
        (
            &self.entries,
            &self.payloads,
            &self.tiles,
            &self.records,
            &self.nonces,
            &self.meta,
            &self.checkpoints,
        )
            .transaction(|(e, p, n, r, no, m, c)| {
                for op in &ops.ops {
                    let tree = match op.tree {
                        T::Entries => e,
                        T::Payloads => p,
                        T::Tiles => n,
                        T::Records => r,
                        T::Nonces => no,
                        T::Meta => m,
                        T::Checkpoints => c,
                    };
                    let key = ops.slice(&op.key);
                    match &op.val {
                        Some(v) => {
                            tree.insert(key, ops.slice(v))?;
                        }
                        None => {
                            tree.remove(key)?;
                        }
                    }
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<std::convert::Infallible>>(
                    (),
                )
            })?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        self.files
            .sync()
            .map_err(|source| StoreError::Io { path: None, source })?;
        Ok(())
    }

    fn get(&self, tree: T, key: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.sled_tree(tree).get(key)?)
    }

    fn last(&self, tree: T) -> Result<Option<(sled::IVec, sled::IVec)>> {
        Ok(self.sled_tree(tree).last()?)
    }

    fn scan(&self, tree: T, from: &[u8], to: Option<&[u8]>) -> Self::Scan<'_> {
        use std::ops::Bound;
        let upper = match to {
            Some(t) => Bound::Excluded(t),
            None => Bound::Unbounded,
        };
        self.sled_tree(tree)
            .range::<&[u8], _>((Bound::Included(from), upper))
            .map(sled_row as SledRow)
    }
}

fn sled_row(row: sled::Result<(sled::IVec, sled::IVec)>) -> Result<(sled::IVec, sled::IVec)> {
    row.map_err(Into::into)
}

/// A sled scan's row with the store's error.
type SledRow = fn(sled::Result<(sled::IVec, sled::IVec)>) -> Result<(sled::IVec, sled::IVec)>;
