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

/// Rewrites a closed ledger into the layout written before Merkle tiles: no `tiles` tree,
/// a `nodes` tree with one row per node above the leaves (`NodeId::to_key` → hash, every
/// complete node of levels >= 1, as each commit wrote them), exactly what main's store
/// wrote until issue 18's tiles.
fn to_nodes_layout(dir: &std::path::Path) {
    use caseledger_core::merkle::CompactRange;
    let db = caseledger_sledio::open_db(&dir.join("sled"), |c| c).unwrap();
    let entries = db.open_tree("entries").unwrap();
    let nodes = db.open_tree("nodes").unwrap();
    let mut range = CompactRange::new();
    for row in entries.iter() {
        let (_, v) = row.unwrap();
        for (id, h) in range
            .append(&Sha256Hasher, merkle_leaf(&entry_hash(&v)))
            .unwrap()
        {
            if id.level() > 0 {
                nodes.insert(id.to_key(), &h.0).unwrap();
            }
        }
    }
    assert!(db.drop_tree("tiles").unwrap());
    db.flush().unwrap();
    drop((entries, nodes, db));
    // sled opened directly writes with the umask; the store refuses an exposed ledger.
    for f in files_under(dir) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn tree_names(dir: &std::path::Path) -> Vec<String> {
    let db = caseledger_sledio::open_db(&dir.join("sled"), |c| c).unwrap();
    let names = db
        .tree_names()
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    drop(db);
    for f in files_under(dir) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    names
}

/// A ledger written before Merkle tiles opens: its `tiles` rows are built from its entries
/// at open, the `nodes` tree is dropped, roots and proofs are byte-identical to before,
/// and it verifies, grows and reopens.
#[test]
fn a_ledger_with_the_older_nodes_tree_is_given_tiles_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let clock = TestClock::at("2024-01-03");
    let l = Cast::TEST.staffed_on(&path, &clock, Durability::Deferred);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let batch = (0..600)
        .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, None))
        .collect();
    l.append_batch(batch).unwrap();
    let size = l.head().size;
    let picks = [
        (0, size),
        (257, size),
        (size - 1, size),
        (5, 300),
        (511, 512),
    ];
    let proofs: Vec<_> = picks
        .iter()
        .map(|&(i, n)| {
            (
                l.inclusion_proof(Seq(i), n).unwrap(),
                l.consistency_proof(i + 1, n).unwrap(),
            )
        })
        .collect();
    let tiles: Vec<_> = tile::tiles_of(size).map(|t| l.tile(t).unwrap()).collect();
    let (root, checkpoint) = (l.root(), l.latest_checkpoint().unwrap().unwrap().1);
    l.close().unwrap();

    to_nodes_layout(&path);
    let names = tree_names(&path);
    assert!(names.iter().any(|n| n == "nodes") && !names.iter().any(|n| n == "tiles"));

    let l = Cast::TEST
        .open(&path, clock.options(Durability::Deferred))
        .unwrap();
    assert_eq!(l.root(), root);
    for (&(i, n), want) in picks.iter().zip(&proofs) {
        assert_eq!(l.inclusion_proof(Seq(i), n).unwrap(), want.0);
        assert_eq!(l.consistency_proof(i + 1, n).unwrap(), want.1);
    }
    let again: Vec<_> = tile::tiles_of(size).map(|t| l.tile(t).unwrap()).collect();
    assert_eq!(again, tiles);
    check_all_tiles(&l);
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, None);
    l.append(e, p).unwrap();
    check_all_tiles(&l);
    l.close().unwrap();
    let names = tree_names(&path);
    assert!(!names.iter().any(|n| n == "nodes"), "{names:?}");
    assert!(names.iter().any(|n| n == "tiles"));
    let v = verify_dir(&path, &Cast::TEST.policy(vec![checkpoint])).unwrap();
    assert!(v.is_clean(), "{}", findings_text(&v));
    let l = Cast::TEST
        .open(&path, clock.options(Durability::Deferred))
        .unwrap();
    check_all_tiles(&l);
}

/// An edited hash in a real `tiles` row: the right edge (a partial tile) is refused at
/// open, and so is a full tile under a registry entry's inclusion proof; elsewhere in a
/// full level-0 tile it is not read at open, but no proof through it verifies under the
/// signed root.
#[test]
fn an_edited_tile_row_is_refused_at_open_or_fails_its_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let clock = TestClock::at("2024-01-03");
    let l = Cast::TEST.staffed_on(&path, &clock, Durability::Deferred);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let batch = (0..600)
        .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, None))
        .collect();
    l.append_batch(batch).unwrap();
    let size = l.head().size;
    let root = l.root();
    l.close().unwrap();
    let edit = |at: &std::path::Path, index: u64, byte: usize| {
        let db = caseledger_sledio::open_db(&at.join("sled"), |c| c).unwrap();
        let t = db.open_tree("tiles").unwrap();
        let key = caseledger_core::layout::tile_key(0, index);
        let mut v = t.get(key).unwrap().unwrap().to_vec();
        v[byte] ^= 1;
        t.insert(key, v).unwrap();
        db.flush().unwrap();
        drop((t, db));
        for f in files_under(at) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    };
    // The partial tile at the right edge (tile 2), leaf of entry 516.
    let edge = dir.path().join("edge");
    copy_dir(&path, &edge).unwrap();
    edit(&edge, 2, 4 * 32 + 7);
    let Err(err) = Cast::TEST.open(&edge, clock.options(Durability::Deferred)) else {
        panic!("refused at open");
    };
    assert!(
        matches!(&err, caseledger_store::StoreError::DerivedState { what, .. } if *what == "the tiles tree"),
        "{err:?}"
    );
    // A full tile (tile 0), leaf of entry 10: under the path of the registry entries
    // (0..2), whose inclusion under the seal opening checks: refused, naming the tiles,
    // not an entry.
    let full = dir.path().join("full");
    copy_dir(&path, &full).unwrap();
    edit(&full, 0, 10 * 32);
    let Err(err) = Cast::TEST.open(&full, clock.options(Durability::Deferred)) else {
        panic!("refused at open");
    };
    assert!(
        matches!(&err, caseledger_store::StoreError::DerivedState { what, .. } if *what == "the tiles tree"),
        "{err:?}"
    );
    // A full tile under no registry entry's path (entry 300, in tile 1: the registry
    // entries' proofs read tile 1's root from the level-1 row): the ledger opens, and the
    // proof of entry 301 (its sibling) does not verify.
    let far = dir.path().join("far");
    copy_dir(&path, &far).unwrap();
    edit(&far, 1, 44 * 32);
    let l = Cast::TEST
        .open(&far, clock.options(Durability::Deferred))
        .unwrap();
    let leaf = merkle_leaf(&entry_hash(&l.entry_bytes(Seq(301)).unwrap().unwrap()));
    let proof = l.inclusion_proof(Seq(301), size).unwrap();
    assert!(caseledger_core::merkle::verify_inclusion(
        &Sha256Hasher,
        301,
        size,
        &leaf,
        &proof,
        &root
    )
    .is_err());
}

/// The tiles rebuilt at open from entries are judged like any: with an entry before the
/// seal edited (in an older `nodes` ledger, or after the `tiles` tree was dropped), the
/// rebuilt tree disagrees with the seal and the store refuses to open.
#[test]
fn tiles_rebuilt_from_an_edited_entry_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let clock = TestClock::at("2024-01-03");
    let l = Cast::TEST.staffed_on(&path, &clock, Durability::Deferred);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let batch = (0..40)
        .map(|_| Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, None))
        .collect();
    l.append_batch(batch).unwrap();
    l.close().unwrap();
    to_nodes_layout(&path);
    {
        let db = caseledger_sledio::open_db(&path.join("sled"), |c| c).unwrap();
        let t = db.open_tree("entries").unwrap();
        let mut v = t.get(20u64.to_be_bytes()).unwrap().unwrap().to_vec();
        let last = v.len() - 1;
        v[last] ^= 1;
        t.insert(20u64.to_be_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    for f in files_under(&path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let Err(err) = Cast::TEST.open(&path, clock.options(Durability::Deferred)) else {
        panic!("refused at open");
    };
    assert!(
        matches!(&err, caseledger_store::StoreError::DerivedState { what, .. } if *what == "the tiles tree"),
        "{err:?}"
    );
    assert!(err.to_string().contains("nothing was signed"), "{err}");
}
