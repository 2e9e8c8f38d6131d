//! C2SP tlog-tiles reads (docs/FORMAT.md §11): Merkle tiles and entry bundles of the tree
//! the newest seal signs, for `caseledger serve`'s tile routes and `publish --tiles`.
//!
//! Level-0 tiles are computed from the entries (`SHA-256(0x00 ‖ h_i)` of each entry's
//! stored bytes), never read from `nodes`: the leaves are what the entries give, whatever
//! the derived `nodes` rows hold (and the store may keep no level-0 rows at all). Higher
//! tiles are the `nodes` rows of tree level `8·L`, one range scan each. A tile is answered
//! only when every hash in it is a complete node of the newest seal's tree: a client can
//! check it against a signed checkpoint it can fetch, and nothing beyond what is sealed
//! leaves the ledger.

use crate::error::{Result, StoreError};
use crate::ledger::Ledger;
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::{EntryHash, Seq};
use caseledger_core::merkle::{Hash, NodeId};
use caseledger_core::tile::{self, TileId};

/// Whether every hash of `t` is a complete node of the tree of `size` leaves: `t` is that
/// tree's tile, or a narrower partial tile of a smaller tree (a prefix of it, which the
/// client fetched a checkpoint for before the ledger grew).
pub fn tile_within(t: TileId, size: u64) -> bool {
    tile::tile_at(t.level(), t.index(), size).is_some_and(|have| have.width() >= t.width())
}

impl Ledger {
    /// The size of the newest seal (0 before the first): the tree tiles are read from.
    pub fn sealed_size(&self) -> Result<u64> {
        Ok(self.latest_checkpoint()?.map_or(0, |(size, _)| size))
    }

    /// The entry hashes `h_i` of the entries `t` covers (a level-0 tile's), in seq order.
    fn tile_entry_hashes(&self, t: TileId) -> Result<Vec<EntryHash>> {
        let span = t.leaves();
        let mut out = Vec::with_capacity(usize::from(t.width()));
        for row in self
            .trees
            .entries
            .range(span.start.to_be_bytes()..span.end.to_be_bytes())
        {
            let (k, v) = row?;
            let want = span.start + u64::try_from(out.len()).unwrap_or(u64::MAX);
            if k.as_ref() != want.to_be_bytes() {
                return Err(StoreError::corrupt("entry missing", Some(Seq(want))));
            }
            out.push(entry_hash(&v));
        }
        if out.len() != usize::from(t.width()) {
            let missing = span.start + u64::try_from(out.len()).unwrap_or(u64::MAX);
            return Err(StoreError::corrupt("entry missing", Some(Seq(missing))));
        }
        Ok(out)
    }

    /// The hashes of tile `t` of the newest seal's tree, or `None` when not all of them
    /// are complete nodes of it (`t` beyond the seal, or a level no tree of this size has).
    pub fn tile_hashes(&self, t: TileId) -> Result<Option<Vec<Hash>>> {
        if !tile_within(t, self.sealed_size()?) {
            return Ok(None);
        }
        if t.level() == 0 {
            let hs = self.tile_entry_hashes(t)?;
            return Ok(Some(hs.iter().map(merkle_leaf).collect()));
        }
        let level = t.node_level();
        let first = t.first_node();
        let end = first + u64::from(t.width());
        let key = |i: u64| {
            NodeId::new(level, i)
                .map(|n| n.to_key())
                .ok_or_else(|| StoreError::corrupt(format!("no node {i} at level {level}"), None))
        };
        let mut out = Vec::with_capacity(usize::from(t.width()));
        for row in self.trees.nodes.range(key(first)?..key(end)?) {
            let (k, v) = row?;
            let want = first + u64::try_from(out.len()).unwrap_or(u64::MAX);
            let id = NodeId::from_key(&k);
            let h = Hash::from_slice(&v);
            match (id, h) {
                (Some(id), Some(h)) if id.level() == level && id.index() == want => out.push(h),
                _ => {
                    return Err(StoreError::corrupt(
                        format!("missing or malformed Merkle node(level {level}, index {want})"),
                        None,
                    ))
                }
            }
        }
        if out.len() != usize::from(t.width()) {
            let want = first + u64::try_from(out.len()).unwrap_or(u64::MAX);
            return Err(StoreError::corrupt(
                format!("missing Merkle node(level {level}, index {want})"),
                None,
            ));
        }
        Ok(Some(out))
    }

    /// Tile `t` as served: its hashes concatenated (`width · 32` bytes); `None` as
    /// [`Ledger::tile_hashes`].
    pub fn tile(&self, t: TileId) -> Result<Option<Vec<u8>>> {
        Ok(self.tile_hashes(t)?.map(|h| tile::tile_bytes(&h)))
    }

    /// The entry bundle with the index and width of level-0 tile `t`: each entry as the
    /// big-endian u16 32 then its entry hash `h_i` (never the entry's bytes: they hold
    /// record and actor ids). `None` as [`Ledger::tile_hashes`].
    pub fn entry_bundle(&self, t: TileId) -> Result<Option<Vec<u8>>> {
        if t.level() != 0 || !tile_within(t, self.sealed_size()?) {
            return Ok(None);
        }
        Ok(Some(tile::entry_bundle(&self.tile_entry_hashes(t)?)))
    }
}
