//! Differential tests of `caseledger_core::merkle` against an independent implementation,
//! the `ct-merkle` 0.3 crate (RFC 6962 with SHA-256): roots, inclusion and consistency proofs
//! must agree byte for byte, and each side's proofs must verify with the other's verifier.
//!
//! ct-merkle 0.3 is written against `digest` 0.11 while our `sha2` is 0.10, so the oracle's
//! hash is a thin `digest` 0.11 wrapper around `sha2` 0.10's SHA-256. ct-merkle stores leaf
//! *values* and hashes them itself (`SHA-256(0x00 || value)`); we feed it 32-byte values and
//! give our side `hash_leaf(value)`.

use caseledger_core::merkle::{
    consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion,
    CompactRange, Hash, MemoryNodes, Sha256Hasher, TreeHasher,
};
use ct_merkle::digest::{self, consts::U32, FixedOutput, HashMarker, OutputSizeUser, Update};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::Digest as _;

/// SHA-256 from `sha2` 0.10, seen through `digest` 0.11 traits for ct-merkle.
#[derive(Clone, Default)]
struct OracleSha256(sha2::Sha256);

impl HashMarker for OracleSha256 {}
impl OutputSizeUser for OracleSha256 {
    type OutputSize = U32;
}
impl Update for OracleSha256 {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }
}
impl FixedOutput for OracleSha256 {
    fn finalize_into(self, out: &mut digest::Output<Self>) {
        out.copy_from_slice(&self.0.finalize());
    }
}

type Oracle = MemoryBackedTree<OracleSha256, [u8; 32]>;

const H: Sha256Hasher = Sha256Hasher;
/// Largest tree size exercised.
const MAX_SIZE: u64 = 2_100;

fn values(seed: u64, n: u64) -> Vec<[u8; 32]> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut v = [0u8; 32];
            rng.fill_bytes(&mut v);
            v
        })
        .collect()
}

struct Pair {
    values: Vec<[u8; 32]>,
    leaf_hashes: Vec<Hash>,
    ours: MemoryNodes,
    oracle: Oracle,
}

fn build(seed: u64, n: u64) -> Pair {
    let values = values(seed, n);
    let leaf_hashes: Vec<Hash> = values.iter().map(|v| H.hash_leaf(v)).collect();
    let ours = MemoryNodes::from_leaf_hashes(&H, &leaf_hashes);
    let mut oracle = Oracle::new();
    for v in &values {
        oracle.push(*v);
    }
    Pair {
        values,
        leaf_hashes,
        ours,
        oracle,
    }
}

fn to32(d: &[u8]) -> Hash {
    Hash::from_slice(d).expect("32-byte digest")
}

/// Our proof as the oracle's byte string.
fn concat(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

fn chunks(bytes: &[u8]) -> Vec<Hash> {
    assert_eq!(bytes.len() % 32, 0);
    bytes.chunks(32).map(to32).collect()
}

fn oracle_root(root: &Hash, size: u64) -> RootHash<OracleSha256> {
    let mut d = digest::Output::<OracleSha256>::default();
    d.copy_from_slice(&root.0);
    RootHash::new(d, size)
}

fn usize_of(x: u64) -> usize {
    usize::try_from(x).expect("fits usize")
}

/// Checks leaf `index` of the pair's tree both ways.
fn check_inclusion(p: &Pair, index: u64) {
    let size = p.ours.size();
    let root = root_at(&H, &p.ours, size).expect("root");
    let ours = inclusion_proof(&H, &p.ours, index, size).expect("our proof");
    let theirs = p.oracle.prove_inclusion(usize_of(index));
    assert_eq!(
        chunks(theirs.as_bytes()),
        ours,
        "proof bytes, index {index} size {size}"
    );
    let leaf = &p.leaf_hashes[usize_of(index)];
    // Theirs with our verifier.
    verify_inclusion(&H, index, size, leaf, &chunks(theirs.as_bytes()), &root)
        .expect("oracle proof verifies with ours");
    // Ours with their verifier.
    let ours_ct = InclusionProof::<OracleSha256>::try_from_bytes(concat(&ours)).expect("proof");
    oracle_root(&root, size)
        .verify_inclusion(&p.values[usize_of(index)], index, &ours_ct)
        .expect("our proof verifies with oracle");
}

/// Checks consistency from `size1` to the pair's full size both ways (`size1 >= 1`).
fn check_consistency(p: &Pair, size1: u64) {
    let size2 = p.ours.size();
    let root1 = root_at(&H, &p.ours, size1).expect("root1");
    let root2 = root_at(&H, &p.ours, size2).expect("root2");
    let ours = consistency_proof(&H, &p.ours, size1, size2).expect("our proof");
    verify_consistency(&H, size1, size2, &ours, &root1, &root2).expect("ours verifies");
    if size1 == size2 {
        assert!(ours.is_empty());
        return;
    }
    let theirs = p.oracle.prove_consistency(usize_of(size2 - size1));
    assert_eq!(
        chunks(theirs.as_bytes()),
        ours,
        "proof bytes, {size1} -> {size2}"
    );
    verify_consistency(&H, size1, size2, &chunks(theirs.as_bytes()), &root1, &root2)
        .expect("oracle proof verifies with ours");
    let ours_ct = ConsistencyProof::<OracleSha256>::try_from_bytes(concat(&ours)).expect("proof");
    oracle_root(&root2, size2)
        .verify_consistency(&oracle_root(&root1, size1), &ours_ct)
        .expect("our proof verifies with oracle");
}

/// Every size from 0 to MAX_SIZE: our compact range, our node-source root and the reference
/// recursion agree with the oracle's root as the tree grows.
#[test]
fn roots_agree_for_every_size() {
    let values = values(7, MAX_SIZE);
    let mut oracle = Oracle::new();
    let mut range = CompactRange::new();
    let mut leaf_hashes = Vec::new();
    assert_eq!(
        range.root(&H).0.as_slice(),
        oracle.root().as_bytes().as_slice()
    );
    for v in &values {
        oracle.push(*v);
        let lh = H.hash_leaf(v);
        leaf_hashes.push(lh);
        range.append(&H, lh).expect("append");
        assert_eq!(
            range.root(&H),
            to32(oracle.root().as_bytes()),
            "size {}",
            range.size()
        );
    }
    let mem = MemoryNodes::from_leaf_hashes(&H, &leaf_hashes);
    let mut oracle = Oracle::new();
    for (n, v) in values.iter().enumerate() {
        oracle.push(*v);
        let size = u64::try_from(n + 1).expect("u64");
        assert_eq!(
            root_at(&H, &mem, size).expect("root"),
            to32(oracle.root().as_bytes())
        );
    }
}

/// Exhaustive over all indices and all older sizes for a few sizes around powers of two.
#[test]
fn proofs_agree_exhaustively_near_powers_of_two() {
    for size in [1u64, 2, 3, 5, 127, 128, 129, 255, 256, 257, 1000] {
        let p = build(size, size);
        for index in 0..size {
            check_inclusion(&p, index);
        }
        for size1 in 1..=size {
            check_consistency(&p, size1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random tree sizes up to MAX_SIZE, random leaves, random indices and older sizes.
    #[test]
    fn proofs_agree_random(
        size in 1..=MAX_SIZE,
        seed in any::<u64>(),
        picks in proptest::collection::vec(any::<u64>(), 8),
    ) {
        let p = build(seed, size);
        prop_assert_eq!(
            root_at(&H, &p.ours, size).expect("root"),
            to32(p.oracle.root().as_bytes())
        );
        for (i, pick) in picks.iter().enumerate() {
            if i % 2 == 0 {
                check_inclusion(&p, pick % size);
            } else {
                check_consistency(&p, 1 + pick % size);
            }
        }
        check_inclusion(&p, size - 1);
        check_consistency(&p, size - 1 + u64::from(size == 1));
    }
}
