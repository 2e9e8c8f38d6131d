//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): tile coordinates, their paths, which
//! tiles a tree of a given size has, entry bundles, and the root of a tree from its
//! right-edge tiles. No I/O: the store reads tiles, the server and `publish --tiles` serve
//! them, the monitor fetches them (docs/FORMAT.md §11).
//!
//! A tile at level `L` holds up to 256 consecutive node hashes of tree level `8·L`: at
//! level 0 the Merkle leaf hashes `SHA-256(0x00 ‖ h_i)`, at level 1 the roots of the full
//! level-0 tiles, and so on. The tile with index `N` at level `L` holds the nodes
//! `N·256 .. N·256 + W` of tree level `8·L`; it is *full* when `W = 256` and *partial*
//! (`.p/W`) at the right edge of a tree, where `W = ⌊size / 256^L⌋ mod 256`.
//!
//! ```
//! use caseledger_core::tile::{parse_path, TileId, TilePath};
//! let t = TileId::new(0, 1_234_067, 8).unwrap();
//! assert_eq!(t.path(), "tile/0/x001/x234/067.p/8");
//! assert_eq!(parse_path("tile/entries/x001/x234/067.p/8"), Ok(TilePath::Entries(t)));
//! ```

use crate::ids::EntryHash;
use crate::merkle::{Hash, Sha256Hasher, TreeHasher};
use std::fmt;

/// Tree levels one tile spans.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile (and entries in a full entry bundle).
pub const TILE_WIDTH: u16 = 256;
/// Bytes of one hash in a tile.
pub const HASH_BYTES: usize = 32;
/// Bytes of one entry in an entry bundle: the big-endian u16 length 32, then the 32-byte
/// entry hash (docs/FORMAT.md §11).
pub const BUNDLE_ENTRY_BYTES: usize = 2 + 32;
/// The highest tile level whose tiles can exist in a tree of at most `u64::MAX` leaves
/// (`256^8 = 2^64`); the path syntax allows up to 63, such tiles are simply never there.
pub const MAX_TILE_LEVEL: u8 = 7;

/// A tile: level, index within the level, width in hashes (1..=256).
// INVARIANT: level <= MAX_TILE_LEVEL, 1 <= width <= 256, and the tile's nodes are complete
// in a tree of u64::MAX leaves: index·256 + width <= u64::MAX >> 8·level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    level: u8,
    index: u64,
    width: u16,
}

impl TileId {
    /// The tile, if it can exist in a tree of at most `u64::MAX` leaves.
    pub fn new(level: u8, index: u64, width: u16) -> Option<TileId> {
        if level > MAX_TILE_LEVEL || width == 0 || width > TILE_WIDTH {
            return None;
        }
        // The largest tree (u64::MAX leaves) has u64::MAX >> 8·level complete nodes of
        // tree level 8·level: a tile beyond them is in no tree.
        let end = index.checked_mul(256)?.checked_add(u64::from(width))?;
        if end > complete_nodes(level, u64::MAX) {
            return None;
        }
        Some(TileId {
            level,
            index,
            width,
        })
    }

    /// The tile level `L` (it holds nodes of tree level `8·L`).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The index within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// How many hashes it holds (256 when full).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether it is a partial tile (`.p/W`).
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The tree level of its hashes, `8·L` (the store's `tiles` row `(L, N)` holds them,
    /// docs/FORMAT.md §6).
    pub fn node_level(&self) -> u8 {
        // level <= 7: at most 56.
        self.level * 8
    }

    /// The index (at [`TileId::node_level`]) of its first hash.
    pub fn first_node(&self) -> u64 {
        // By the invariant, index·256 + width fits.
        self.index << TILE_HEIGHT
    }

    /// The leaves its hashes cover, `first_node·256^L .. (first_node + width)·256^L`
    /// (the entries of an entry bundle at level 0).
    pub fn leaves(&self) -> std::ops::Range<u64> {
        // By the invariant, (first_node + width)·256^L <= u64::MAX.
        let shift = TILE_HEIGHT * u32::from(self.level);
        (self.first_node() << shift)..((self.first_node() + u64::from(self.width)) << shift)
    }

    /// Its length in bytes: `width · 32`.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_BYTES
    }

    /// The same tile's coordinates with another width.
    pub fn with_width(&self, width: u16) -> Option<TileId> {
        TileId::new(self.level, self.index, width)
    }

    /// Its path, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// The path of the entry bundle with the same index and width,
    /// `tile/entries/<N>[.p/<W>]` (meaningful for level 0 only).
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.suffix())
    }

    fn suffix(&self) -> String {
        let mut s = encode_index(self.index);
        if self.is_partial() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// `N` as 3-digit groups, all but the last prefixed with `x`: 1234067 is `x001/x234/067`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    while n >= 1000 {
        n /= 1000;
        groups.push(format!("x{:03}", n % 1000));
    }
    groups.reverse();
    groups.join("/")
}

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// A Merkle tile, `tile/<L>/<N>[.p/<W>]`.
    Hashes(TileId),
    /// An entry bundle, `tile/entries/<N>[.p/<W>]` (its id is the level-0 tile's).
    Entries(TileId),
}

/// Why a tile path was refused (the path itself is never quoted: it came from a client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    /// Not `tile/…`, or too long.
    #[error("not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])")]
    NotATile,
    /// The level is not a decimal 0–63 without leading zeros.
    #[error("tile path: the level is not a decimal 0-63 without leading zeros")]
    BadLevel,
    /// The index is not canonical 3-digit groups (`x001/x234/067`).
    #[error("tile path: the index is not canonical 3-digit groups (x001/x234/067)")]
    BadIndex,
    /// The width after `.p/` is not a decimal 1–255 without leading zeros.
    #[error("tile path: the partial width is not a decimal 1-255 without leading zeros")]
    BadWidth,
    /// A well-formed path of a tile no tree of `u64` size has (level 8–63, or an index
    /// beyond 2^64 leaves): the caller answers "not found".
    #[error("tile path: no tree has this tile")]
    NoSuchTile,
}

/// A canonical decimal (no sign, no leading zeros) of at most `max`.
fn canonical_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n <= max)
}

/// Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` strictly: the only accepted
/// spelling of a tile is the one [`TileId::path`] writes, so no two paths name one tile and
/// nothing like `..`, `//` or `%2e` passes.
pub fn parse_path(path: &str) -> Result<TilePath, TilePathError> {
    // tile/entries/ + 7 groups of 4 + ".p/255": far below 64.
    if path.len() > 64 {
        return Err(TilePathError::NotATile);
    }
    let rest = path.strip_prefix("tile/").ok_or(TilePathError::NotATile)?;
    let (kind, rest) = rest.split_once('/').ok_or(TilePathError::NotATile)?;
    let level = if kind == "entries" {
        None
    } else {
        Some(canonical_decimal(kind, 63).ok_or(TilePathError::BadLevel)?)
    };
    let (index_part, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let w = canonical_decimal(w, 255)
                .filter(|w| *w >= 1)
                .ok_or(TilePathError::BadWidth)?;
            (i, u16::try_from(w).map_err(|_| TilePathError::BadWidth)?)
        }
        None => (rest, TILE_WIDTH),
    };
    let groups: Vec<&str> = index_part.split('/').collect();
    let mut index: u64 = 0;
    let last = groups.len().saturating_sub(1);
    for (i, g) in groups.iter().enumerate() {
        let digits = if i < last {
            g.strip_prefix('x').ok_or(TilePathError::BadIndex)?
        } else {
            g
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TilePathError::BadIndex);
        }
        let d: u64 = digits.parse().map_err(|_| TilePathError::BadIndex)?;
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(d))
            .ok_or(TilePathError::NoSuchTile)?;
    }
    // Canonical: no leading all-zero groups (`x000/001` is 1, spelled `001`).
    if encode_index(index) != index_part {
        return Err(TilePathError::BadIndex);
    }
    let level = level.unwrap_or(0);
    let level = u8::try_from(level).map_err(|_| TilePathError::BadLevel)?;
    let id = TileId::new(level, index, width).ok_or(TilePathError::NoSuchTile)?;
    Ok(if kind == "entries" {
        TilePath::Entries(id)
    } else {
        TilePath::Hashes(id)
    })
}

/// How many nodes of tree level `8·level` a tree of `size` leaves has complete:
/// `⌊size / 256^level⌋`.
fn complete_nodes(level: u8, size: u64) -> u64 {
    size.checked_shr(TILE_HEIGHT * u32::from(level))
        .unwrap_or(0)
}

/// The tile with this level and index in a tree of `size` leaves: full, or the partial tile
/// at the right edge; `None` when the tree has no such tile (empty tiles are never served).
pub fn tile_at(level: u8, index: u64, size: u64) -> Option<TileId> {
    let nodes = complete_nodes(level, size);
    let first = index.checked_mul(256)?;
    let width = nodes.checked_sub(first)?.min(u64::from(TILE_WIDTH));
    TileId::new(level, index, u16::try_from(width).ok()?)
}

/// Whether `tile` (with its width) is a tile of the tree of `size` leaves: a full tile
/// within it, or exactly its partial tile at that level. A partial tile of a smaller tree
/// is not (the server only answers tiles that a checkpoint it can show requires).
pub fn tile_in_tree(tile: TileId, size: u64) -> bool {
    tile_at(tile.level, tile.index, size) == Some(tile)
}

/// Every tile of the tree of `size` leaves, level by level, each level's tiles in index
/// order (full ones, then the partial one if any).
pub fn tiles_of(size: u64) -> impl Iterator<Item = TileId> {
    (0..=MAX_TILE_LEVEL).flat_map(move |level| {
        let nodes = complete_nodes(level, size);
        let count = nodes.div_ceil(256);
        (0..count).filter_map(move |i| tile_at(level, i, size))
    })
}

/// The tiles of a tree of `new` leaves that a tree of `old` leaves did not have with the
/// same bytes: at each level, from the tile that held (or would hold) node `⌊old/256^L⌋`
/// to the right edge. A rerun of `publish --tiles` writes only these.
pub fn new_tiles(old: u64, new: u64) -> impl Iterator<Item = TileId> {
    (0..=MAX_TILE_LEVEL).flat_map(move |level| {
        let from = complete_nodes(level, old.min(new)) / 256;
        let count = complete_nodes(level, new).div_ceil(256);
        (from..count).filter_map(move |i| tile_at(level, i, new))
    })
}

/// Splits a tile's bytes into its hashes; `None` unless they are exactly `width · 32` bytes.
pub fn parse_tile(tile: TileId, bytes: &[u8]) -> Option<Vec<Hash>> {
    if bytes.len() != tile.byte_len() {
        return None;
    }
    bytes
        .chunks_exact(HASH_BYTES)
        .map(Hash::from_slice)
        .collect()
}

/// A tile's bytes: its hashes concatenated.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// An entry bundle: each entry as the big-endian u16 length 32 followed by the 32-byte
/// entry hash `h_i` (never the entry: it holds record and actor ids). Any tlog client
/// computes `SHA-256(0x00 ‖ h_i)`, the leaf in the level-0 tile.
pub fn entry_bundle(hashes: &[EntryHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * BUNDLE_ENTRY_BYTES);
    for h in hashes {
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(&h.0);
    }
    out
}

/// Why an entry bundle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// An entry's length is not 32 (this ledger's bundles hold entry hashes only).
    #[error("entry bundle: entry {0} is not a 32-byte entry hash")]
    BadEntry(usize),
    /// The bundle ends inside an entry, or holds another number of entries than the tile.
    #[error("entry bundle: {got} entries where the tile has {want}")]
    Count {
        /// Entries the tile says.
        want: usize,
        /// Entries read (whole ones).
        got: usize,
    },
}

/// Reads an entry bundle of `tile` (its width of entries, each `0x0020 ‖ hash`).
pub fn parse_entry_bundle(tile: TileId, bytes: &[u8]) -> Result<Vec<EntryHash>, BundleError> {
    let want = usize::from(tile.width);
    let mut out = Vec::with_capacity(want);
    let mut rest = bytes;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        if u16::from_be_bytes(*len) != 32 {
            return Err(BundleError::BadEntry(out.len()));
        }
        let Some((h, tail)) = tail.split_first_chunk::<32>() else {
            break;
        };
        out.push(EntryHash(*h));
        rest = tail;
    }
    if !rest.is_empty() || out.len() != want {
        return Err(BundleError::Count {
            want,
            got: out.len(),
        });
    }
    Ok(out)
}

/// The root of `2^k` consecutive hashes of one level (a complete subtree): how the store
/// computes the inner nodes of a stored tile (tree levels `8·L + 1 .. 8·L + 7`). A slice
/// whose length is not a power of two is split at its middle (callers pass aligned runs).
pub fn perfect_root(hashes: &[Hash]) -> Hash {
    match hashes {
        [] => Sha256Hasher.empty_root(),
        [one] => *one,
        _ => {
            let (l, r) = hashes.split_at(hashes.len() / 2);
            Sha256Hasher.hash_children(&perfect_root(l), &perfect_root(r))
        }
    }
}

/// The hash of a full tile's subtree (the node of tree level `8·L + 8` it is the
/// bottom of): the hash the tile at the level above holds for it.
pub fn full_tile_root(hashes: &[Hash]) -> Option<Hash> {
    (hashes.len() == usize::from(TILE_WIDTH)).then(|| perfect_root(hashes))
}

/// Why [`root_from_tiles`] could not give a root.
#[derive(Debug, thiserror::Error)]
pub enum FromTilesError<E> {
    /// `get` failed.
    #[error(transparent)]
    Get(E),
    /// `get` answered a tile of another width than asked.
    #[error("tile {0}: wrong length")]
    Length(TileId),
}

/// The root of the tree of `size` leaves from its right-edge tiles: the partial tile of
/// each level (at most one per level, `popcount`-many subtrees each). `get` returns a
/// tile's hashes. Checking this root against a signed checkpoint checks those tiles.
pub fn root_from_tiles<E>(
    size: u64,
    mut get: impl FnMut(TileId) -> Result<Vec<Hash>, E>,
) -> Result<Hash, FromTilesError<E>> {
    // The complete subtrees of the tree's binary decomposition, largest (leftmost) first.
    let mut parts: Vec<Hash> = Vec::new();
    for level in (0..=MAX_TILE_LEVEL).rev() {
        let nodes = complete_nodes(level, size);
        let width = nodes % 256;
        if width == 0 {
            continue;
        }
        let Some(tile) = tile_at(level, nodes / 256, size) else {
            continue;
        };
        let hashes = get(tile).map_err(FromTilesError::Get)?;
        if hashes.len() != usize::from(tile.width) {
            return Err(FromTilesError::Length(tile));
        }
        // The tile's hashes split into aligned power-of-two runs by the bits of its width.
        let mut at = 0usize;
        for bit in (0..TILE_HEIGHT).rev() {
            let run = 1usize << bit;
            if tile.width & (1 << bit) != 0 {
                if let Some(slice) = hashes.get(at..at + run) {
                    parts.push(perfect_root(slice));
                }
                at += run;
            }
        }
    }
    let mut it = parts.iter().rev();
    Ok(match it.next() {
        None => Sha256Hasher.empty_root(),
        Some(last) => it.fold(*last, |acc, h| Sha256Hasher.hash_children(h, &acc)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{root_from_leaves, MemoryNodes, NodeId, NodeSource};
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256Hasher.hash_leaf(&i.to_be_bytes()))
            .collect()
    }

    #[test]
    fn the_specs_index_example() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        let t = TileId::new(2, 1_234_067, 256).unwrap();
        assert_eq!(t.path(), "tile/2/x001/x234/067");
        assert_eq!(parse_path(&t.path()), Ok(TilePath::Hashes(t)));
    }

    #[test]
    fn the_specs_size_70000_example() {
        // 273 full level-0 tiles, one partial of width 112, one full level-1 tile, one
        // partial of width 17, one partial level-2 tile of width 1.
        let tiles: Vec<TileId> = tiles_of(70_000).collect();
        let at = |l: u8| tiles.iter().filter(move |t| t.level() == l);
        assert_eq!(at(0).filter(|t| !t.is_partial()).count(), 273);
        assert_eq!(
            at(0)
                .filter(|t| t.is_partial())
                .map(|t| t.width())
                .collect::<Vec<_>>(),
            [112]
        );
        assert_eq!(at(1).map(|t| t.width()).collect::<Vec<_>>(), [256, 17]);
        assert_eq!(at(2).map(|t| t.width()).collect::<Vec<_>>(), [1]);
        assert_eq!(tiles.len(), 273 + 1 + 2 + 1);
        assert_eq!(at(0).next_back().unwrap().path(), "tile/0/273.p/112");
    }

    #[test]
    fn the_specs_size_256_example() {
        let tiles: Vec<String> = tiles_of(256).map(|t| t.path()).collect();
        assert_eq!(tiles, ["tile/0/000", "tile/1/000.p/1"]);
        assert_eq!(tiles_of(0).count(), 0);
    }

    #[test]
    fn only_canonical_paths_parse() {
        let ok = [
            (
                "tile/0/000",
                TilePath::Hashes(TileId::new(0, 0, 256).unwrap()),
            ),
            (
                "tile/entries/001.p/5",
                TilePath::Entries(TileId::new(0, 1, 5).unwrap()),
            ),
            (
                "tile/3/x001/000.p/255",
                TilePath::Hashes(TileId::new(3, 1000, 255).unwrap()),
            ),
        ];
        for (p, want) in ok {
            assert_eq!(parse_path(p), Ok(want), "{p}");
        }
        let bad = [
            ("tile/00/000", TilePathError::BadLevel),
            ("tile/64/000", TilePathError::BadLevel),
            ("tile/-1/000", TilePathError::BadLevel),
            ("tile/0/1", TilePathError::BadIndex),
            ("tile/0/0001", TilePathError::BadIndex),
            ("tile/0/x000/001", TilePathError::BadIndex),
            ("tile/0/001/x002", TilePathError::BadIndex),
            ("tile/0/x001/x002", TilePathError::BadIndex),
            ("tile/0/../000", TilePathError::BadIndex),
            ("tile/0/x001//000", TilePathError::BadIndex),
            ("tile/0/000/", TilePathError::BadIndex),
            ("tile/0/%30%30%30", TilePathError::BadIndex),
            ("tile/0/000.p/0", TilePathError::BadWidth),
            ("tile/0/000.p/256", TilePathError::BadWidth),
            ("tile/0/000.p/05", TilePathError::BadWidth),
            ("tile/0/000.p/", TilePathError::BadWidth),
            ("tile/0", TilePathError::NotATile),
            ("tiles/0/000", TilePathError::NotATile),
            ("/tile/0/000", TilePathError::NotATile),
            ("tile/8/000", TilePathError::NoSuchTile),
            ("tile/7/001", TilePathError::NoSuchTile),
            ("tile/7/000", TilePathError::NoSuchTile),
        ];
        for (p, want) in bad {
            assert_eq!(parse_path(p), Err(want), "{p}");
        }
        // The largest tree (u64::MAX leaves) has 255 complete nodes at tree level 56.
        assert!(parse_path("tile/7/000.p/255").is_ok());
        assert!(parse_path("tile/0/x072/x057/x594/x037/x927/935.p/255").is_ok());
        assert_eq!(
            parse_path("tile/0/x072/x057/x594/x037/x927/935"),
            Err(TilePathError::NoSuchTile)
        );
    }

    #[test]
    fn partial_tiles_of_smaller_trees_are_not_in_the_tree() {
        let p = TileId::new(0, 0, 5).unwrap();
        assert!(tile_in_tree(p, 5));
        assert!(!tile_in_tree(p, 6), "the size-6 tree has 000.p/6, not .p/5");
        assert!(!tile_in_tree(p, 256), "the size-256 tree has the full tile");
        assert!(tile_in_tree(TileId::new(0, 0, 256).unwrap(), 300));
        assert!(!tile_in_tree(TileId::new(0, 1, 256).unwrap(), 300));
    }

    #[test]
    fn entry_bundles_round_trip_and_refuse_other_lengths() {
        let hs = [EntryHash([1; 32]), EntryHash([2; 32])];
        let t = TileId::new(0, 0, 2).unwrap();
        let b = entry_bundle(&hs);
        assert_eq!(b.len(), 68);
        assert_eq!(&b[..3], &[0, 32, 1]);
        assert_eq!(parse_entry_bundle(t, &b).unwrap(), hs);
        assert_eq!(
            parse_entry_bundle(t, &b[..67]),
            Err(BundleError::Count { want: 2, got: 1 })
        );
        let mut other = b.clone();
        other[1] = 31;
        assert_eq!(parse_entry_bundle(t, &other), Err(BundleError::BadEntry(0)));
        let three = TileId::new(0, 0, 3).unwrap();
        assert!(parse_entry_bundle(three, &b).is_err());
    }

    /// The tile `t` of the tree in `nodes`, read as a store would: node hashes at level 8L.
    fn tile_from(nodes: &MemoryNodes, t: TileId) -> Vec<Hash> {
        (0..u64::from(t.width()))
            .map(|i| {
                nodes
                    .node(NodeId::new(t.node_level(), t.first_node() + i).unwrap())
                    .unwrap()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn right_edge_tiles_give_the_root(size in 0u64..70_000) {
            let l = leaves(size);
            let nodes = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &l);
            let root = root_from_tiles(size, |t| Ok::<_, ()>(tile_from(&nodes, t))).unwrap();
            prop_assert_eq!(root, root_from_leaves(&Sha256Hasher, &l));
        }

        #[test]
        fn upper_tiles_hold_the_roots_of_full_tiles_below(size in 256u64..70_000) {
            let l = leaves(size);
            let nodes = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &l);
            for t in tiles_of(size).filter(|t| t.level() == 0 && !t.is_partial()) {
                let above = tile_at(1, t.index() / 256, size).unwrap();
                let held = tile_from(&nodes, above)[usize::try_from(t.index() % 256).unwrap()];
                prop_assert_eq!(full_tile_root(&tile_from(&nodes, t)), Some(held));
            }
        }

        #[test]
        fn new_tiles_are_the_tiles_that_differ(old in 0u64..3_000, grow in 0u64..70_000) {
            let new = old + grow;
            let all: std::collections::BTreeSet<TileId> = tiles_of(new).collect();
            let before: std::collections::BTreeSet<TileId> = tiles_of(old).collect();
            let fresh: std::collections::BTreeSet<TileId> = new_tiles(old, new).collect();
            let want: std::collections::BTreeSet<TileId> = all.difference(&before).copied().collect();
            // Every tile the old tree lacked is new; beside them at most one unchanged
            // tile per level (the boundary tile of a level that did not grow).
            prop_assert!(want.is_subset(&fresh));
            prop_assert!(fresh.is_subset(&all));
            prop_assert!(fresh.len() <= want.len() + usize::from(MAX_TILE_LEVEL) + 1);
        }

        #[test]
        fn paths_round_trip(level in 0u8..=3, index in 0u64..10_000_000, width in 1u16..=256) {
            let t = TileId::new(level, index, width).unwrap();
            prop_assert_eq!(parse_path(&t.path()), Ok(TilePath::Hashes(t)));
            let e = TileId::new(0, index, width).unwrap();
            prop_assert_eq!(parse_path(&e.entries_path()), Ok(TilePath::Entries(e)));
        }
    }
}
