//! The upper levels of the Merkle tree, in memory, so that a proof reads one or two level-0
//! tiles and hashes at most `2^UPPER_LEVEL` of their hashes, instead of reading and hashing
//! up to 128 per tile level; below them, [`TileNodes`] (`tilerows.rs`).
//!
//! It holds the nodes of tree level `>= UPPER_LEVEL` (n / 2^(UPPER_LEVEL-1) hashes: 2 MiB
//! at 1M entries, 20 MiB at 10M), per level a contiguous prefix from index 0. It is filled
//! by one scan of `tiles` on the first proof (opening still reads nothing; the level-0
//! rows are hashed up to level 7, about one hash per entry, once: ~0.3 s per million
//! entries), and extended by each commit with the nodes its entries completed, after its
//! transaction. Every cached hash is a copy of, or hashed from, committed rows; anything
//! not cached is read from sled, so proofs are byte-identical with or without it.

use crate::backend::Backend;
use crate::error::{Result, StoreError};
use crate::tilerows::TileNodes;
use caseledger_core::merkle::{Hash, NodeId, NodeSource};
use std::sync::{PoisonError, RwLock};

/// The lowest level kept in memory. 5 rather than 8 (the first tile level above the
/// leaves): with 8 a proof hashes up to 247 nodes from its level-0 tile (the siblings of
/// tree levels 1..7 are subtrees of up to 128 leaves), ~60 µs; with 5, 26 hashes, for 16x
/// the memory (still ~2 MiB at 1M).
pub(crate) const UPPER_LEVEL: u8 = if cfg!(test) { 2 } else { 5 };

#[derive(Default)]
struct Levels {
    filled: bool,
    /// `levels[l - UPPER_LEVEL][i]` = node (l, i).
    levels: Vec<Vec<Hash>>,
}

impl Levels {
    /// Adds node `id` if it extends its level's prefix (else it is left to sled).
    fn push(&mut self, id: NodeId, hash: Hash) {
        let Some(l) = id.level().checked_sub(UPPER_LEVEL).map(usize::from) else {
            return;
        };
        if self.levels.len() <= l {
            self.levels.resize_with(l + 1, Vec::new);
        }
        if let Some(level) = self.levels.get_mut(l) {
            if u64::try_from(level.len()).ok() == Some(id.index()) {
                level.push(hash);
            }
        }
    }

    fn get(&self, id: NodeId) -> Option<Hash> {
        let l = usize::from(id.level().checked_sub(UPPER_LEVEL)?);
        let i = usize::try_from(id.index()).ok()?;
        self.levels.get(l)?.get(i).copied()
    }
}

/// The in-memory upper levels (see the module docs).
#[derive(Default)]
pub(crate) struct UpperNodes {
    inner: RwLock<Levels>,
}

impl UpperNodes {
    /// After a committed transaction: the nodes it wrote (any level; lower ones are ignored).
    pub(crate) fn extend(&self, nodes: &[(NodeId, Hash)]) {
        let mut g = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if !g.filled {
            return;
        }
        for (id, h) in nodes {
            g.push(*id, *h);
        }
    }

    /// How many nodes of `level` are held (tests).
    #[cfg(test)]
    pub(crate) fn held(&self, level: u8) -> usize {
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        level
            .checked_sub(UPPER_LEVEL)
            .and_then(|l| g.levels.get(usize::from(l)))
            .map_or(0, Vec::len)
    }

    /// Fills from the `tiles` tree once.
    fn fill(&self, tiles: &impl Backend) -> Result<()> {
        if self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .filled
        {
            return Ok(());
        }
        let mut g = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if g.filled {
            return Ok(());
        }
        let mut fresh = Levels::default();
        crate::tilerows::each_node_from(tiles, UPPER_LEVEL, |id, h| fresh.push(id, h))?;
        fresh.filled = true;
        *g = fresh;
        Ok(())
    }
}

/// A [`NodeSource`] that answers upper levels from memory and the rest from sled.
pub(crate) struct CachedNodes<'a, B: Backend> {
    pub(crate) upper: &'a UpperNodes,
    pub(crate) tree: TileNodes<'a, B>,
}

impl<'a, B: Backend> CachedNodes<'a, B> {
    pub(crate) fn new(upper: &'a UpperNodes, tiles: &'a B) -> Result<CachedNodes<'a, B>> {
        upper.fill(tiles)?;
        Ok(CachedNodes {
            upper,
            tree: TileNodes::new(tiles),
        })
    }
}

impl<B: Backend> NodeSource for CachedNodes<'_, B> {
    type Error = StoreError;
    fn node(&self, id: NodeId) -> Result<Hash> {
        if id.level() >= UPPER_LEVEL {
            let g = self
                .upper
                .inner
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(h) = g.get(id) {
                return Ok(h);
            }
        }
        self.tree.node(id)
    }
}
