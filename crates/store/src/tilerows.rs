//! The Merkle tree as stored: C2SP tlog-tiles rows in the `tiles` tree (docs/FORMAT.md §6).
//! Every reader and the writer of Merkle nodes goes through here: roots and proofs
//! ([`TileNodes`]), the compact ranges opening checks ([`range_from`], [`check_edge`]),
//! the registry's inclusion checks, the tiles served (§11), the in-memory upper levels
//! (`upper.rs`), the rows a group writes ([`stage_rows`]) and the one-time build of the
//! rows for a ledger written before tiles ([`build_from_entries`]).
//!
//! Row `(L, N)` (key [`tile_key`]) holds the complete nodes `N·256 .. N·256 + W` of tree
//! level `8·L`, concatenated (`W · 32` bytes, `1 <= W <= 256`). Level 0 holds the leaves
//! `SHA-256(0x00 ‖ h_i)`: stored, not hashed from entries, because a proof needs the
//! nodes of tree levels 1..4 under its leaf, which are hashed from up to 16 of them (one
//! row read instead of 16 entry reads and hashes). A node of tree level `8·L + k`
//! (`1 <= k <= 7`) is not stored: it is the root of its `2^k` hashes in row `L`.

use crate::backend::{Backend, Ops, T};
use crate::error::{Result, StoreError};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::Seq;
use caseledger_core::layout::{parse_tile_key, tile_key};
use caseledger_core::merkle::{CompactRange, Hash, NodeId, NodeSource, Sha256Hasher, TreeHasher};
use caseledger_core::tile::{perfect_root, HASH_BYTES, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Tree levels per tile, as a `u8` level step.
const STEP: u8 = 8;
/// Bytes of a full tile.
const FULL: usize = TILE_WIDTH as usize * HASH_BYTES;

/// The hashes of a row's bytes; `None` unless whole hashes, 1 to 256 of them.
pub(crate) fn parse_row(bytes: &[u8]) -> Option<Vec<Hash>> {
    if bytes.is_empty() || bytes.len() > FULL || bytes.len() % HASH_BYTES != 0 {
        return None;
    }
    bytes
        .chunks_exact(HASH_BYTES)
        .map(Hash::from_slice)
        .collect()
}

fn malformed(level: u8, index: u64) -> StoreError {
    StoreError::corrupt(
        format!("Merkle tile (level {level}, index {index}) is not 1 to 256 hashes"),
        None,
    )
}

/// Reads Merkle nodes from `tiles` (see the module docs). Remembers the last row read: a
/// proof asks for up to eight nodes of the same row.
pub(crate) struct TileNodes<'a, B: Backend> {
    tiles: &'a B,
    last: RefCell<Option<([u8; 9], B::Value)>>,
}

impl<'a, B: Backend> TileNodes<'a, B> {
    pub(crate) fn new(tiles: &'a B) -> TileNodes<'a, B> {
        TileNodes {
            tiles,
            last: RefCell::new(None),
        }
    }

    /// Row `(level, index)`, whole hashes (an absent row is `None`).
    fn row(&self, level: u8, index: u64) -> Result<Option<B::Value>> {
        let key = tile_key(level, index);
        if let Some((k, v)) = self.last.borrow().as_ref() {
            if *k == key {
                return Ok(Some(v.clone()));
            }
        }
        let Some(v) = self.tiles.get(T::Tiles, &key)? else {
            return Ok(None);
        };
        let len = v.as_ref().len();
        if len == 0 || len > FULL || len % HASH_BYTES != 0 {
            return Err(malformed(level, index));
        }
        *self.last.borrow_mut() = Some((key, v.clone()));
        Ok(Some(v))
    }
}

impl<B: Backend> NodeSource for TileNodes<'_, B> {
    type Error = StoreError;
    fn node(&self, id: NodeId) -> Result<Hash> {
        let tile_level = id.level() / STEP;
        let k = u32::from(id.level() % STEP);
        // The node covers the hashes `first .. first + 2^k` of tree level 8·L. It is a
        // complete node of a tree of at most 2^64 leaves, so `index << k` fits.
        let first = id.index() << k;
        let index = first >> TILE_HEIGHT;
        let at = usize::try_from(first & 0xff).unwrap_or(0) * HASH_BYTES;
        let len = HASH_BYTES << k;
        let missing = || {
            StoreError::corrupt(
                format!("missing Merkle {id} (tile level {tile_level}, index {index})"),
                None,
            )
        };
        let row = self.row(tile_level, index)?.ok_or_else(missing)?;
        let bytes = row.as_ref().get(at..at + len).ok_or_else(missing)?;
        let hashes: Vec<Hash> = bytes
            .chunks_exact(HASH_BYTES)
            .filter_map(Hash::from_slice)
            .collect();
        Ok(perfect_root(&hashes))
    }
}

/// The compact range of the tree of `size` leaves: `popcount(size)` nodes from `src`.
pub(crate) fn range_from(
    src: &impl NodeSource<Error = StoreError>,
    size: u64,
) -> Result<CompactRange> {
    let mut hashes = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        let width = 1u64 << level;
        if size & width == 0 {
            continue;
        }
        let id = NodeId::new(level, start >> level).ok_or(StoreError::Internal("node id"))?;
        hashes.push(src.node(id)?);
        start += width;
    }
    CompactRange::from_parts(size, hashes).map_err(|_| StoreError::Internal("compact range"))
}

/// The right-edge tiles of the tree of `size` leaves: `(level, index, width)` of the one
/// partial tile of each level that has one.
fn edge(size: u64) -> impl Iterator<Item = (u8, u64, usize)> {
    (0..=MAX_TILE_LEVEL).filter_map(move |level| {
        let complete = size
            .checked_shr(TILE_HEIGHT * u32::from(level))
            .unwrap_or(0);
        let width = usize::try_from(complete & 0xff).unwrap_or(0);
        (width > 0).then_some((level, complete >> TILE_HEIGHT, width))
    })
}

/// Checks the rows the writer grows against `range` (the compact range of the tree of
/// `range.size()` leaves, already checked): each right-edge tile holds exactly the nodes
/// complete at that size, and they hash to `range`. Every hash of every partial tile is
/// under one of the range's nodes, so an edited partial tile is refused here; a full tile
/// is not read (its root is a hash of the tile above, and a proof through an edited one
/// does not verify under a signed root). Cost: at most 8 row reads and 255 hashes each.
pub(crate) fn check_edge(tiles: &impl Backend, range: &CompactRange) -> Result<bool> {
    let src = TileNodes::new(tiles);
    for (level, index, width) in edge(range.size()) {
        match src.row(level, index)? {
            Some(v) if v.as_ref().len() == width * HASH_BYTES => {}
            _ => return Ok(false),
        }
    }
    match range_from(&src, range.size()) {
        Ok(r) => Ok(r == *range),
        Err(StoreError::Corrupt { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The `tiles` rows a group writes: `new` are the nodes of tree levels `8·L` its entries
/// completed (in order, as [`CompactRange::append`] gives them). Each tile they fall in is
/// written whole: the committed part of a partial tile (read, and required to end where
/// the group's first new node begins) followed by the new hashes. Usually one level-0 row
/// per group, a level-1 row every 256 entries, and so on.
/// `committed` reads a committed `tiles` row.
pub(crate) fn stage_rows<V: AsRef<[u8]>>(
    committed: impl Fn(&[u8]) -> Result<Option<V>>,
    ops: &mut Ops,
    new: &[(NodeId, Hash)],
) -> Result<()> {
    let mut tiles: BTreeMap<(u8, u64), (u64, Vec<u8>)> = BTreeMap::new();
    for (id, h) in new {
        let key = (id.level() / STEP, id.index() >> TILE_HEIGHT);
        let (_, bytes) = tiles
            .entry(key)
            .or_insert_with(|| (id.index() & 0xff, Vec::with_capacity(FULL)));
        bytes.extend_from_slice(&h.0);
    }
    for ((level, index), (offset, new_bytes)) in tiles {
        let key = tile_key(level, index);
        let mut value = Vec::with_capacity(FULL);
        if offset > 0 {
            let have = committed(&key)?;
            let have = have.as_ref().map_or(&[][..], AsRef::as_ref);
            if u64::try_from(have.len()).ok() != Some(offset * HASH_BYTES as u64) {
                return Err(StoreError::corrupt(
                    format!(
                        "Merkle tile (level {level}, index {index}) holds {} bytes where the tree has {offset} hashes",
                        have.len()
                    ),
                    None,
                ));
            }
            value.extend_from_slice(have);
        }
        value.extend_from_slice(&new_bytes);
        if value.len() > FULL {
            return Err(StoreError::Internal("tile overflow"));
        }
        ops.put(T::Tiles, &key, &value);
    }
    Ok(())
}

/// Whether the tree of `size > 0` leaves lacks its tiles: no row `(0, 0)`, which
/// [`build_from_entries`] writes last.
pub(crate) fn lacks_tiles(tiles: &impl Backend, size: u64) -> Result<bool> {
    Ok(size > 0 && tiles.get(T::Tiles, &tile_key(0, 0))?.is_none())
}

/// Builds the `tiles` rows of the first `size` entries from their bytes, for a ledger
/// written before tiles (its `nodes` tree is then dropped) or one whose row `(0, 0)` is
/// gone. Rows are written in batches, row `(0, 0)` last after a flush: a crash midway
/// leaves it absent and the next open builds again. Opening then checks the rows against
/// the newest seal as always. O(size) entry reads and hashes, once.
pub(crate) fn build_from_entries(b: &impl Backend, size: u64) -> Result<()> {
    let mut range = CompactRange::new();
    // The nodes of tree level 8·L not yet in a written row, per tile level.
    let mut open: Vec<Vec<u8>> = vec![Vec::new(); usize::from(MAX_TILE_LEVEL) + 1];
    let mut batch = Ops::default();
    let mut pending = 0usize;
    let mut first: Option<Vec<u8>> = None;
    let mut put = |key: [u8; 9], v: &[u8], batch: &mut Ops| {
        if key == tile_key(0, 0) {
            first = Some(v.to_vec());
        } else {
            batch.put(T::Tiles, &key, v);
        }
    };
    for row in b.scan(T::Entries, &0u64.to_be_bytes(), Some(&size.to_be_bytes())) {
        let (k, v) = row?;
        let seq = range.size();
        if k.as_ref() != seq.to_be_bytes() {
            return Err(StoreError::corrupt(
                "an entry is missing (building the Merkle tiles)",
                Some(Seq(seq)),
            ));
        }
        let nodes = range
            .append(&Sha256Hasher, merkle_leaf(&entry_hash(v.as_ref())))
            .map_err(|_| StoreError::Full)?;
        for (id, h) in nodes.into_iter().filter(|(id, _)| id.level() % STEP == 0) {
            let level = id.level() / STEP;
            let Some(buf) = open.get_mut(usize::from(level)) else {
                continue;
            };
            buf.extend_from_slice(&h.0);
            if buf.len() == FULL {
                put(tile_key(level, id.index() >> TILE_HEIGHT), buf, &mut batch);
                buf.clear();
                pending += 1;
            }
        }
        if pending >= 256 {
            b.commit(&batch)?;
            batch.clear();
            pending = 0;
        }
    }
    let built = range.size();
    for (level, index, _) in edge(built) {
        if let Some(buf) = open.get(usize::from(level)) {
            put(tile_key(level, index), buf, &mut batch);
        }
    }
    b.commit(&batch)?;
    b.flush()?;
    if let Some(v) = first {
        batch.clear();
        batch.put(T::Tiles, &tile_key(0, 0), &v);
        b.commit(&batch)?;
        b.flush()?;
    }
    Ok(())
}

/// For the in-memory upper levels: every node of tree level `>= from` that the rows
/// hold or hash to, each tile level's rows in index order (so each tree level's nodes
/// come in index order). One scan of `tiles`; at level 0 every row is hashed up to tree
/// level 7 (about one hash per leaf, once).
pub(crate) fn each_node_from(
    tiles: &impl Backend,
    from: u8,
    mut f: impl FnMut(NodeId, Hash),
) -> Result<()> {
    for row in tiles.scan(T::Tiles, &[], None) {
        let (k, v) = row?;
        let Some((level, index)) = parse_tile_key(k.as_ref()) else {
            continue;
        };
        // A malformed row is left to the direct path, which reports it when a proof
        // needs it.
        let Some(mut cur) = parse_row(v.as_ref()) else {
            continue;
        };
        for up in 0..STEP {
            let tree_level = level.saturating_mul(STEP).saturating_add(up);
            if tree_level >= from {
                let base = (index << TILE_HEIGHT) >> up;
                for (j, h) in cur.iter().enumerate() {
                    if let Some(id) = NodeId::new(tree_level, base + j as u64) {
                        f(id, *h);
                    }
                }
            }
            if up + 1 == STEP || cur.len() < 2 {
                break;
            }
            cur = cur
                .chunks_exact(2)
                .map(|p| Sha256Hasher.hash_children(&p[0], &p[1]))
                .collect();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Trees;
    use crate::upper::{CachedNodes, UpperNodes};
    use caseledger_core::merkle::{self, MemoryNodes};
    use proptest::prelude::*;

    /// A ledger's `entries` and `tiles` trees, grown group by group the way the writer
    /// grows them (`stage_rows` over what `CompactRange::append` completes).
    struct Grown {
        _dir: tempfile::TempDir,
        trees: Trees,
        leaves: Vec<Hash>,
    }

    /// Empty trees in a new directory.
    fn new_trees() -> (tempfile::TempDir, Trees) {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("sled");
        let db = sled::Config::new().path(&sled_dir).open().unwrap();
        let trees = Trees::open(db, &sled_dir).unwrap();
        (dir, trees)
    }

    /// Trees holding `g`'s entries and no tiles (a ledger written before tiles).
    fn entries_of(g: &Grown) -> (tempfile::TempDir, Trees) {
        let (dir, trees) = new_trees();
        for row in g.trees.tree(T::Entries).iter() {
            let (k, v) = row.unwrap();
            trees.tree(T::Entries).insert(k, v).unwrap();
        }
        (dir, trees)
    }

    fn tile_rows(t: &Trees) -> BTreeMap<Vec<u8>, Vec<u8>> {
        t.tree(T::Tiles)
            .iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect()
    }

    fn grow(groups: &[usize]) -> Grown {
        let (dir, trees) = new_trees();
        let mut range = CompactRange::new();
        let mut leaves = Vec::new();
        let mut ops = Ops::default();
        for &n in groups {
            ops.clear();
            let mut new = Vec::new();
            for _ in 0..n {
                let seq = range.size();
                // Entry bytes of varying length; the leaf is over them, as the writer's.
                let bytes: Vec<u8> = seq.to_le_bytes().repeat(1 + (seq % 5) as usize);
                ops.put(T::Entries, &seq.to_be_bytes(), &bytes);
                let leaf = merkle_leaf(&entry_hash(&bytes));
                leaves.push(leaf);
                let nodes = range.append(&Sha256Hasher, leaf).unwrap();
                new.extend(nodes.into_iter().filter(|(id, _)| id.level() % STEP == 0));
            }
            stage_rows(|k| trees.get(T::Tiles, k), &mut ops, &new).unwrap();
            trees.commit(&ops).unwrap();
        }
        Grown {
            _dir: dir,
            trees,
            leaves,
        }
    }

    /// Proofs and roots from the rows (directly and through the in-memory upper levels)
    /// equal core's from the leaves, for sizes up to the head; and the rows are exactly
    /// the C2SP tiles of the tree, as `build_from_entries` writes them too.
    fn check(g: &Grown, picks: &[(u64, u64, u64)]) {
        let n = g.leaves.len() as u64;
        let mem = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &g.leaves);
        let rows = TileNodes::new(&g.trees);
        let upper = UpperNodes::default();
        let cached = CachedNodes::new(&upper, &g.trees).unwrap();
        for &(a, b, c) in picks {
            let size = 1 + a % n;
            let seq = b % size;
            let old = c % (size + 1);
            let want_root = merkle::root_from_leaves(
                &Sha256Hasher,
                &g.leaves[..usize::try_from(size).unwrap()],
            );
            assert_eq!(
                merkle::root_at(&Sha256Hasher, &rows, size).unwrap(),
                want_root
            );
            assert_eq!(
                merkle::root_at(&Sha256Hasher, &cached, size).unwrap(),
                want_root
            );
            let want = merkle::inclusion_proof(&Sha256Hasher, &mem, seq, size).unwrap();
            assert_eq!(
                merkle::inclusion_proof(&Sha256Hasher, &rows, seq, size).unwrap(),
                want
            );
            assert_eq!(
                merkle::inclusion_proof(&Sha256Hasher, &cached, seq, size).unwrap(),
                want
            );
            let want = merkle::consistency_proof(&Sha256Hasher, &mem, old, size).unwrap();
            assert_eq!(
                merkle::consistency_proof(&Sha256Hasher, &rows, old, size).unwrap(),
                want
            );
            assert_eq!(
                merkle::consistency_proof(&Sha256Hasher, &cached, old, size).unwrap(),
                want
            );
        }
        let range = range_from(&rows, n).unwrap();
        assert_eq!(
            range.root(&Sha256Hasher),
            merkle::root_from_leaves(&Sha256Hasher, &g.leaves)
        );
        assert!(check_edge(&g.trees, &range).unwrap());
        // The rows are the tiles of the tree of n leaves, byte for byte.
        let mut want = BTreeMap::new();
        for t in caseledger_core::tile::tiles_of(n) {
            let hashes: Vec<u8> = (0..u64::from(t.width()))
                .flat_map(|i| {
                    mem.node(NodeId::new(t.node_level(), t.first_node() + i).unwrap())
                        .unwrap()
                        .0
                })
                .collect();
            want.insert(tile_key(t.level(), t.index()).to_vec(), hashes);
        }
        assert_eq!(tile_rows(&g.trees), want);
        // Built from the entries at open (an older ledger): the same rows.
        let (_dir, other) = entries_of(g);
        build_from_entries(&other, n).unwrap();
        assert_eq!(tile_rows(&other), want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn rows_give_core_roots_and_proofs(
            groups in prop::collection::vec(1usize..400, 1..12),
            picks in prop::collection::vec(any::<(u64, u64, u64)>(), 20),
        ) {
            check(&grow(&groups), &picks);
        }
    }

    /// Past one full level-1 tile (256 · 256 leaves): level-2 rows, a full level-1 tile.
    #[test]
    fn rows_past_a_full_level_one_tile() {
        let mut groups = vec![1024; 65];
        groups.extend([1, 255, 77]);
        let picks: Vec<_> = (0..40u64)
            .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i * 7919, i * 104_729))
            .collect();
        let g = grow(&groups);
        assert!(g.trees.tree(T::Tiles).contains_key(tile_key(2, 0)).unwrap());
        check(&g, &picks);
    }

    /// A build interrupted by a crash leaves row (0, 0) absent (it is written last, after
    /// a flush) and any other row possibly stale: the next build is started again and
    /// overwrites them all.
    #[test]
    fn an_interrupted_build_is_built_again() {
        let g = grow(&[300, 5]);
        let (_dir, other) = entries_of(&g);
        // What a crash midway could leave: a later row written, garbage in another.
        let tiles = other.tree(T::Tiles);
        tiles.insert(tile_key(0, 1), vec![7u8; 5 * 32]).unwrap();
        tiles.insert(tile_key(1, 0), vec![7u8; 32]).unwrap();
        assert!(lacks_tiles(&other, 305).unwrap());
        build_from_entries(&other, 305).unwrap();
        assert!(!lacks_tiles(&other, 305).unwrap());
        assert_eq!(tile_rows(&other), tile_rows(&g.trees));
        assert!(!lacks_tiles(&other, 0).unwrap());
    }

    /// A partial tile whose committed row does not end where the group's first new node
    /// begins is refused (nothing is staged over it).
    #[test]
    fn a_short_partial_tile_is_refused_when_grown() {
        let g = grow(&[10]);
        let mut ops = Ops::default();
        let mut range = CompactRange::from_parts(
            10,
            range_from(&TileNodes::new(&g.trees), 10)
                .unwrap()
                .hashes()
                .to_vec(),
        )
        .unwrap();
        let new: Vec<_> = range
            .append(&Sha256Hasher, Hash([9; 32]))
            .unwrap()
            .into_iter()
            .filter(|(id, _)| id.level() % STEP == 0)
            .collect();
        let short = |_: &[u8]| Ok(Some(vec![0u8; 9 * 32]));
        assert!(matches!(
            stage_rows(short, &mut ops, &new),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
