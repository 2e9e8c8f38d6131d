//! The upper levels of the Merkle tree, in memory, so that a proof reads at most
//! ~`UPPER_LEVEL + popcount` rows from sled instead of `2·⌈log2 n⌉ + 1`; and the sled
//! reader below them, which hashes leaves from entries (no level-0 rows are stored).
//!
//! It holds copies of `nodes` rows of level `>= UPPER_LEVEL` (n / 2^(UPPER_LEVEL-1) hashes:
//! 2 MiB at 1M entries, 20 MiB at 10M), per level a contiguous prefix from index 0. It is filled by one
//! range scan of `nodes` on the first proof (opening still reads nothing), and extended by
//! each commit with the nodes that commit wrote, after its transaction. Every cached hash is
//! a copy of a committed row; anything not cached is read from sled, so proofs are
//! byte-identical with or without it.

use crate::error::{Result, StoreError};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::Seq;
use caseledger_core::merkle::{Hash, NodeId, NodeSource};
use std::sync::{PoisonError, RwLock};

/// The lowest level kept in memory. 5 rather than 8: the benchmark (P6) measured inclusion
/// proofs at 1M entries at ~58 µs with 8, each sled read costing ~2-3 µs; 5 saves three
/// reads per proof side for 16x the memory (still ~2 MiB at 1M).
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

    /// Fills from the `nodes` tree once.
    fn fill(&self, tree: &sled::Tree) -> Result<()> {
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
        for row in tree.range([UPPER_LEVEL]..) {
            let (k, v) = row?;
            let (Some(id), Some(h)) = (NodeId::from_key(&k), Hash::from_slice(v.as_ref())) else {
                // Left to the sled path, which reports it when a proof needs it.
                continue;
            };
            fresh.push(id, h);
        }
        fresh.filled = true;
        *g = fresh;
        Ok(())
    }
}

/// A [`NodeSource`] that answers upper levels from memory and the rest from sled.
pub(crate) struct CachedNodes<'a> {
    pub(crate) upper: &'a UpperNodes,
    pub(crate) tree: TreeNodes<'a>,
}

impl<'a> CachedNodes<'a> {
    pub(crate) fn new(upper: &'a UpperNodes, tree: TreeNodes<'a>) -> Result<CachedNodes<'a>> {
        upper.fill(tree.nodes)?;
        Ok(CachedNodes { upper, tree })
    }
}

impl NodeSource for CachedNodes<'_> {
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

/// Reads Merkle nodes from sled: a leaf (level 0) is hashed from the entry at its index,
/// `SHA-256(0x00 ‖ SHA-256(E_i))`, never stored (docs/FORMAT.md §6; a level-0 row an
/// older ledger kept is not read); every other node is a `nodes` row.
#[derive(Clone, Copy)]
pub(crate) struct TreeNodes<'a> {
    pub(crate) nodes: &'a sled::Tree,
    pub(crate) entries: &'a sled::Tree,
}

impl NodeSource for TreeNodes<'_> {
    type Error = StoreError;
    fn node(&self, id: NodeId) -> Result<Hash> {
        if id.level() == 0 {
            let seq = id.index();
            let bytes = self.entries.get(seq.to_be_bytes())?.ok_or_else(|| {
                StoreError::corrupt(format!("missing entry for Merkle {id}"), Some(Seq(seq)))
            })?;
            return Ok(merkle_leaf(&entry_hash(&bytes)));
        }
        let v = self
            .nodes
            .get(id.to_key())?
            .ok_or_else(|| StoreError::corrupt(format!("missing Merkle {id}"), None))?;
        Hash::from_slice(v.as_ref())
            .ok_or_else(|| StoreError::corrupt(format!("Merkle {id} is not 32 bytes"), None))
    }
}
