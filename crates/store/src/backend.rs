//! The storage seam (issue 18): the few operations the ledger needs from its key-value
//! engine, so that another engine can be added behind them without touching `core` or
//! `verify`. sled 0.34.7 ([`Trees`]) is the only implementation.
//!
//! What an engine must give: named trees of byte keys kept in key order; one atomic commit
//! of a group's puts and removes across trees (all or none, also across a crash); a flush
//! after which every commit that returned before it began is durable; point reads; ordered
//! scans. The exclusive directory lock (`<DIR>/lock`, flock) is the ledger's own, outside
//! the engine (`open.rs`), and so is the `checkpoints.log` fsync.
//!
//! Moved so far (no behaviour change): the group-commit and batch write path
//! ([`Backend::commit`]), the flush, the idempotency and replay point reads, and the
//! record rebuild's scan. Other reads still use the sled trees directly.

use crate::error::{Result, StoreError};
use crate::sledfiles::BLOB_CANDIDATE;
use crate::types::Trees;
use caseledger_core::encoding::encode_into;
use serde::Serialize;
use sled::Transactional;
use std::ops::Range;

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
    /// Applies every op of `ops`, in order, in one transaction: all of them or none.
    fn commit(&self, ops: &Ops) -> Result<()>;
    /// Makes every commit that returned before this call durable. An I/O error carries no
    /// path (the caller names the engine's directory).
    fn flush(&self) -> Result<()>;
    /// The value of `key` in `tree`, if any.
    fn get(&self, tree: T, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// The rows of `tree` with keys in `[from, to)` (`to` unbounded when `None`), in key
    /// order.
    fn scan(
        &self,
        tree: T,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_;
}

impl Trees {
    /// The sled tree of `tree`.
    pub(crate) fn tree(&self, tree: T) -> &sled::Tree {
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

    fn get(&self, tree: T, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        tree: T,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        use std::ops::Bound;
        let upper = match to {
            Some(t) => Bound::Excluded(t.to_vec()),
            None => Bound::Unbounded,
        };
        self.tree(tree)
            .range::<Vec<u8>, _>((Bound::Included(from.to_vec()), upper))
            .map(|row| {
                row.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(Into::into)
            })
    }
}
