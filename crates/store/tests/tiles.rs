//! C2SP tiles read from a real ledger equal the tiles recomputed from its entries' bytes,
//! at every size a growing ledger passes through, and nothing beyond the newest seal.
use caseledger_core::event::EventKind;
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::Seq;
use caseledger_core::merkle::{root_from_leaves, Hash, Sha256Hasher, TreeHasher};
use caseledger_core::tile::{
    self, full_tile_root, parse_entry_bundle, parse_tile, root_from_tiles, TileId,
};
use caseledger_store::{Durability, Ledger};
use caseledger_testkit::*;

/// Every tile of the ledger's sealed tree, against the leaves recomputed from entry bytes.
fn check_all_tiles(l: &Ledger) {
    let size = l.sealed_size().unwrap();
    assert_eq!(size, l.head().size, "every commit is sealed");
    let leaves: Vec<Hash> = (0..size)
        .map(|i| merkle_leaf(&entry_hash(&l.entry_bytes(Seq(i)).unwrap().unwrap())))
        .collect();
    // Level L's hashes, from the leaves up, by the spec's definition (full tiles' roots).
    let mut level_hashes = vec![leaves.clone()];
    while level_hashes.last().unwrap().len() >= 256 {
        let below = level_hashes.last().unwrap();
        let up: Vec<Hash> = below
            .chunks_exact(256)
            .map(|c| full_tile_root(c).unwrap())
            .collect();
        level_hashes.push(up);
    }
    let mut count = 0;
    for t in tile::tiles_of(size) {
        count += 1;
        let got = parse_tile(t, &l.tile(t).unwrap().unwrap()).unwrap();
        let row = &level_hashes[usize::from(t.level())];
        let first = usize::try_from(t.first_node()).unwrap();
        assert_eq!(got, row[first..first + usize::from(t.width())], "{t}");
        if t.level() == 0 {
            let b = parse_entry_bundle(t, &l.entry_bundle(t).unwrap().unwrap()).unwrap();
            let leaves_of: Vec<Hash> = b.iter().map(|h| Sha256Hasher.hash_leaf(&h.0)).collect();
            assert_eq!(leaves_of, got, "bundle {t}");
        }
    }
    assert!(size == 0 || count > 0);
    let root = root_from_tiles(size, |t| Ok::<_, ()>(l.tile_hashes(t).unwrap().unwrap())).unwrap();
    assert_eq!(root, root_from_leaves(&Sha256Hasher, &leaves));
    assert_eq!(root, l.root_at(size).unwrap());
}

#[test]
fn tiles_equal_tiles_recomputed_from_the_entries_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-03");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Deferred);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    check_all_tiles(&l);
    // Batches of awkward sizes: through a full level-0 tile, a partial of 1 and of 255,
    // the level-1 partial tile growing to 2.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for fixed in [250u64, 1, 4, 254, 1, 0] {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = if fixed == 0 { 40 + rng % 90 } else { fixed };
        let batch = (0..n)
            .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, None))
            .collect();
        l.append_batch(batch).unwrap();
        check_all_tiles(&l);
    }
    assert!(l.head().size > 512, "the test reached a second full tile");
}

#[test]
fn nothing_beyond_the_newest_seal_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-03");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Deferred);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let batch = (0..300)
        .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, None))
        .collect();
    l.append_batch(batch).unwrap();
    let size = l.sealed_size().unwrap();
    let edge = tile::tile_at(0, size / 256, size).unwrap();
    assert!(edge.is_partial());
    // A narrower partial tile of an earlier size is a prefix of today's (a client that
    // fetched an older checkpoint still gets its tile); wider, next, or higher are not.
    let narrow = edge.with_width(edge.width() - 1).unwrap();
    let edge_bytes = l.tile(edge).unwrap().unwrap();
    assert_eq!(
        l.tile(narrow).unwrap().unwrap(),
        edge_bytes[..narrow.byte_len()]
    );
    assert_eq!(
        l.tile(edge.with_width(edge.width() + 1).unwrap()).unwrap(),
        None
    );
    assert_eq!(
        l.tile(TileId::new(0, size / 256 + 1, 1).unwrap()).unwrap(),
        None
    );
    assert_eq!(l.tile(TileId::new(1, 0, 2).unwrap()).unwrap(), None);
    assert_eq!(l.tile(TileId::new(2, 0, 1).unwrap()).unwrap(), None);
    assert!(l.tile(TileId::new(1, 0, 1).unwrap()).unwrap().is_some());
    assert_eq!(l.entry_bundle(TileId::new(1, 0, 1).unwrap()).unwrap(), None);
    // The bundle holds entry hashes only: 34 bytes an entry, no entry bytes.
    let b = l.entry_bundle(edge).unwrap().unwrap();
    assert_eq!(b.len(), usize::from(edge.width()) * 34);
}
