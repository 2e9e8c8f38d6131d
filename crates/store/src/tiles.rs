//! C2SP tlog-tiles reads (docs/FORMAT.md §11): Merkle tiles and entry bundles of the tree
//! the newest seal signs, for `caseledger serve`'s tile routes and `publish --tiles`.
//!
//! Tiles are the store's own `tiles` rows (docs/FORMAT.md §6), one point read each,
//! served as stored (a prefix when the row has grown past the tile asked for); entry
//! bundles are hashed from the entries. A tile is answered
//! only when every hash in it is a complete node of the newest seal's tree: a client can
//! check it against a signed checkpoint it can fetch, and nothing beyond what is sealed
//! leaves the ledger.

use crate::backend::{Backend, T};
use crate::error::{Result, StoreError};
use crate::ledger::Ledger;
use crate::tilerows::parse_row;
use caseledger_core::hash::entry_hash;
use caseledger_core::ids::{EntryHash, Seq};
use caseledger_core::layout::tile_key;
use caseledger_core::merkle::Hash;
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
        for row in self.trees.scan(
            T::Entries,
            &span.start.to_be_bytes(),
            Some(&span.end.to_be_bytes()),
        ) {
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
    /// Read from its `tiles` row as stored (a prefix of it when the row has grown since,
    /// or `t` is a narrower partial tile a client asks for).
    pub fn tile_hashes(&self, t: TileId) -> Result<Option<Vec<Hash>>> {
        if !tile_within(t, self.sealed_size()?) {
            return Ok(None);
        }
        let short = || {
            StoreError::corrupt(
                format!(
                    "Merkle tile (level {}, index {}) is missing, malformed or shorter than {} hashes",
                    t.level(),
                    t.index(),
                    t.width()
                ),
                None,
            )
        };
        let row = self
            .trees
            .get(T::Tiles, &tile_key(t.level(), t.index()))?
            .ok_or_else(short)?;
        let mut hashes = parse_row(&row).ok_or_else(short)?;
        if hashes.len() < usize::from(t.width()) {
            return Err(short());
        }
        hashes.truncate(usize::from(t.width()));
        Ok(Some(hashes))
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
