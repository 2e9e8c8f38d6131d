//! The Merkle tree over entry hashes: exactly RFC 6962 §2.1 / RFC 9162 §2.1.
//!
//! * Hash rules ([`TreeHasher`], [`Sha256Hasher`]):
//!   `MTH({}) = SHA-256("")`, leaf `SHA-256(0x00 || d)`, node `SHA-256(0x01 || left || right)`,
//!   where a tree of `n > 1` leaves splits at `k`, the largest power of two `< n`.
//! * Verification ([`verify_inclusion`], [`verify_consistency`]): RFC 9162 §2.1.3.2 and
//!   §2.1.4.2, ported from transparency-dev/merkle and checked against its vectors.
//!   Neither function can panic or overflow on any input.
//! * The append frontier ([`CompactRange`]): the roots of the complete subtrees that make up
//!   the tree, largest first (one per set bit of the size). Appending a leaf returns every
//!   node that became complete, so a store can persist them.
//! * Proof generation ([`root_at`], [`inclusion_proof`], [`consistency_proof`]) from any
//!   [`NodeSource`] that can return nodes of complete subtrees, with `O(log n)` reads:
//!   a partial right-edge subtree is hashed from the complete subtrees that make it up.
//! * In-memory reference: [`root_from_leaves`] (the RFC's recursion) and [`MemoryNodes`].
//!
//! # Node ids and their storage key
//!
//! [`NodeId`] `{ level, index }` names the complete subtree covering leaves
//! `[index·2^level, (index+1)·2^level)`; level 0 holds leaf hashes (already `0x00`-hashed).
//! Its storage key ([`NodeId::to_key`], [`NodeId::from_key`]) is 9 bytes:
//!
//! ```text
//! byte 0      level (u8, 0..=63)
//! bytes 1..9  index (u64, big-endian)
//! ```
//!
//! so keys sort by level, then by position within the level. Ledgers written before Merkle
//! tiles stored one node per key in a `nodes` tree; the store now keeps tiles (its `tiles`
//! tree, `crate::layout::tile_key`), and these keys only name that older tree's rows.
//!
//! ```
//! use caseledger_core::merkle::*;
//! let h = Sha256Hasher;
//! let leaves: Vec<Hash> = (0u8..5).map(|i| h.hash_leaf(&[i])).collect();
//! let mem = MemoryNodes::from_leaf_hashes(&h, &leaves);
//! let root = root_at(&h, &mem, 5).unwrap();
//! assert_eq!(root, root_from_leaves(&h, &leaves));
//! let proof = inclusion_proof(&h, &mem, 3, 5).unwrap();
//! verify_inclusion(&h, 3, 5, &leaves[3], &proof, &root).unwrap();
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

/// A SHA-256 tree hash: a leaf or node hash, a root, a proof element.
///
/// Shown (`Display`, `FromStr`) and serialized in human-readable formats (JSON) as standard
/// base64 with padding, as C2SP checkpoints write roots; in binary formats (the canonical
/// bincode encoding of `CompactRange` and the verifier's resume state) it is exactly its 32
/// bytes, like the `[u8; 32]` it wraps, so no stored byte changed when it was introduced.
///
/// ```
/// use caseledger_core::merkle::{Hash, Sha256Hasher, TreeHasher};
/// let empty = Sha256Hasher.empty_root();
/// assert_eq!(empty.to_string(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// assert_eq!("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".parse::<Hash>().unwrap(), empty);
/// assert!("not base64".parse::<Hash>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads 32 bytes, or `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash)
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        f.write_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// A string that is not the standard base64 of exactly 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a base64 SHA-256 hash (32 bytes)")]
pub struct HashParseError;

impl std::str::FromStr for Hash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Hash, HashParseError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| HashParseError)?;
        Hash::from_slice(&bytes).ok_or(HashParseError)
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(Hash)
        }
    }
}

/// The hash rules of a Merkle tree. The tree code is generic over them; [`Sha256Hasher`] is
/// the RFC 6962 instance that caseledger uses.
pub trait TreeHasher {
    /// The root of the empty tree, `MTH({})`.
    fn empty_root(&self) -> Hash;
    /// The leaf hash of `data`, `MTH({data})`.
    fn hash_leaf(&self, data: &[u8]) -> Hash;
    /// The hash of an interior node from its two children.
    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash;
}

/// RFC 6962 hashing with SHA-256: leaf `SHA-256(0x00 || data)`, node
/// `SHA-256(0x01 || left || right)`, empty tree `SHA-256("")`.
#[derive(Default, Clone, Copy, Debug)]
pub struct Sha256Hasher;

/// Domain separation prefix of a leaf hash (RFC 6962 §2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain separation prefix of an interior node hash (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

impl TreeHasher for Sha256Hasher {
    /// `MTH({}) = SHA-256()`
    fn empty_root(&self) -> Hash {
        Hash(Sha256::digest([]).into())
    }

    /// `MTH({d(0)}) = SHA-256(0x00 || d(0))`
    fn hash_leaf(&self, data: &[u8]) -> Hash {
        Hash(
            Sha256::new()
                .chain_update([LEAF_PREFIX])
                .chain_update(data)
                .finalize()
                .into(),
        )
    }

    /// `MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`
    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        Hash(
            Sha256::new()
                .chain_update([NODE_PREFIX])
                .chain_update(left.0)
                .chain_update(right.0)
                .finalize()
                .into(),
        )
    }
}

/// Why a proof did not verify, or why a proof could not be asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size (this includes every index in an empty tree).
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked about.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error("size1 {size1} is greater than size2 {size2}")]
    Size1GreaterThanSize2 {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// The proof does not have the number of hashes that these sizes/index call for
    /// (this includes a non-empty proof where an empty one is expected, and the reverse).
    #[error("wrong proof length: got {got} hashes, want {want}")]
    WrongProofLength {
        /// Hashes in the proof.
        got: u64,
        /// Hashes these sizes/index call for.
        want: u64,
    },
    /// The root computed from an inclusion proof, or the new root (`root2`) computed from a
    /// consistency proof, differs from the one given.
    #[error("root mismatch: the proof leads to a different root")]
    RootMismatch,
    /// The old root (`root1`) computed from a consistency proof differs from the one given,
    /// or `size1` is 0 and `root1` is not the empty-tree root.
    #[error("old root mismatch: the consistency proof leads to a different root1")]
    OldRootMismatch,
}

/// Largest power of two strictly below `n`. Requires `n >= 2` (returns 1 otherwise).
fn split_point(n: u64) -> u64 {
    // n - 1 >= 1, so leading_zeros <= 63 and the shift is in 0..=63.
    let lz = n.saturating_sub(1).leading_zeros();
    1u64 << 63u32.saturating_sub(lz)
}

/// `(inner, border)` of an inclusion proof for `index` in a tree of `size > index` leaves:
/// `inner` hashes below the point where the path leaves the right edge, then `border` hashes
/// of left siblings on the right edge.
fn decomp_incl_proof(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ size.saturating_sub(1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// Bit `i` of `x` (0 when `i >= 64`).
fn bit(x: u64, i: usize) -> bool {
    u32::try_from(i)
        .ok()
        .and_then(|i| x.checked_shr(i))
        .is_some_and(|v| v & 1 == 1)
}

/// Hashes `seed` up through `proof` as the path of the node whose in-level index is `index`.
fn chain_inner(h: &impl TreeHasher, seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, p)| {
        if bit(index, i) {
            h.hash_children(p, &acc)
        } else {
            h.hash_children(&acc, p)
        }
    })
}

/// Like [`chain_inner`] but only folds in the left siblings (the nodes where the path goes right).
fn chain_inner_right(h: &impl TreeHasher, seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, p)| {
        if bit(index, i) {
            h.hash_children(p, &acc)
        } else {
            acc
        }
    })
}

/// Folds in left siblings on the right edge of the tree.
fn chain_border_right(h: &impl TreeHasher, seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |acc, p| h.hash_children(p, &acc))
}

fn len_u64(proof: &[Hash]) -> u64 {
    u64::try_from(proof.len()).unwrap_or(u64::MAX)
}

/// Splits `proof` into `(inner, border)` parts of exactly `want_inner + want_border` hashes.
fn split_exact(
    proof: &[Hash],
    want_inner: u32,
    want_border: u32,
) -> Result<(&[Hash], &[Hash]), ProofError> {
    let want = u64::from(want_inner) + u64::from(want_border);
    let wrong = || ProofError::WrongProofLength {
        got: len_u64(proof),
        want,
    };
    if len_u64(proof) != want {
        return Err(wrong());
    }
    let at = usize::try_from(want_inner).map_err(|_| wrong())?;
    proof.split_at_checked(at).ok_or_else(wrong)
}

/// Verifies that `leaf_hash` (a Merkle leaf hash, already [`TreeHasher::hash_leaf`]ed) is
/// leaf `leaf_index` of the tree of `tree_size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    hasher: &impl TreeHasher,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let (inner, border) = decomp_incl_proof(leaf_index, tree_size);
    let (inner_p, border_p) = split_exact(proof, inner, border)?;
    let computed = chain_inner(hasher, *leaf_hash, inner_p, leaf_index);
    let computed = chain_border_right(hasher, computed, border_p);
    if &computed == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of
/// `size2` leaves with root `root2` (RFC 9162 §2.1.4.2).
///
/// Edge cases: `size1 == size2` needs an empty proof and `root1 == root2`; `size1 == 0` needs
/// an empty proof and `root1` equal to the empty-tree root (and, if `size2 == 0`, `root2` too).
pub fn verify_consistency(
    hasher: &impl TreeHasher,
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    let want_empty = || ProofError::WrongProofLength {
        got: len_u64(proof),
        want: 0,
    };
    if size1 > size2 {
        return Err(ProofError::Size1GreaterThanSize2 { size1, size2 });
    }
    if size1 == 0 {
        if !proof.is_empty() {
            return Err(want_empty());
        }
        if root1 != &hasher.empty_root() {
            return Err(ProofError::OldRootMismatch);
        }
        // Every tree extends the empty tree; an empty tree only equals itself.
        if size2 == 0 && root2 != root1 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(want_empty());
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // Now 0 < size1 < size2.
    let (inner, border) = decomp_incl_proof(size1 - 1, size2);
    let shift = size1.trailing_zeros();
    // shift < inner because size1 < size2 (the path of leaf size1-1 leaves the right edge of
    // the size1 tree above level shift).
    let inner = inner.saturating_sub(shift);
    // The proof starts with the root of the subtree of size 2^shift ending at size1, unless
    // that subtree is the whole old tree, whose root is root1.
    let (seed, rest) = if size1 == 1u64 << shift {
        (*root1, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(ProofError::WrongProofLength {
                    got: 0,
                    want: 1 + u64::from(inner) + u64::from(border),
                })
            }
        }
    };
    let (inner_p, border_p) = split_exact(rest, inner, border).map_err(|e| match e {
        ProofError::WrongProofLength { got, want } => ProofError::WrongProofLength {
            got: len_u64(proof),
            want: want + (len_u64(proof) - got),
        },
        other => other,
    })?;
    let mask = (size1 - 1) >> shift;
    let hash1 = chain_inner_right(hasher, seed, inner_p, mask);
    let hash1 = chain_border_right(hasher, hash1, border_p);
    if &hash1 != root1 {
        return Err(ProofError::OldRootMismatch);
    }
    let hash2 = chain_inner(hasher, seed, inner_p, mask);
    let hash2 = chain_border_right(hasher, hash2, border_p);
    if &hash2 != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The root of the tree with these leaf hashes, by the RFC 6962 `MTH` recursion.
/// The in-memory reference the other functions are tested against.
pub fn root_from_leaves(hasher: &impl TreeHasher, leaves: &[Hash]) -> Hash {
    match leaves {
        [] => hasher.empty_root(),
        [one] => *one,
        _ => {
            // len >= 2: k = largest power of two < len, so 0 < k < len.
            let n = leaves.len();
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (l, r) = leaves.split_at(k);
            hasher.hash_children(&root_from_leaves(hasher, l), &root_from_leaves(hasher, r))
        }
    }
}

/// A node of a complete subtree: the one covering leaves `[index·2^level, (index+1)·2^level)`.
/// Level 0 nodes are leaf hashes.
// INVARIANT: level <= 63 and (index + 1)·2^level <= u64::MAX, i.e. index + 1 <= u64::MAX >> level:
// the node lies within a tree of at most u64::MAX leaves, so its leaf range never overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    level: u8,
    index: u64,
}

impl NodeId {
    /// The node at `level` and `index`, if it can exist in a tree of at most `u64::MAX` leaves.
    pub fn new(level: u8, index: u64) -> Option<NodeId> {
        let max_end = u64::MAX.checked_shr(u32::from(level))?;
        if level <= 63 && index < max_end {
            // INVARIANT: checked just above.
            Some(NodeId { level, index })
        } else {
            None
        }
    }

    /// The leaf hash node of leaf `index` (`None` for `u64::MAX`, which no tree can hold).
    pub fn leaf(index: u64) -> Option<NodeId> {
        NodeId::new(0, index)
    }

    /// The height above the leaves (0 = leaf hash).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The position among the nodes of this level, counting from the left.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The leaves this node covers, `index·2^level .. (index+1)·2^level`.
    pub fn leaves(&self) -> std::ops::Range<u64> {
        // By the invariant neither product overflows.
        let l = u32::from(self.level);
        (self.index << l)..((self.index + 1) << l)
    }

    /// The 9-byte storage key: `level (1 byte) || index (u64 big-endian)`.
    pub fn to_key(&self) -> [u8; 9] {
        let mut key = [0u8; 9];
        let (lvl, idx) = key.split_at_mut(1);
        lvl.copy_from_slice(&[self.level]);
        idx.copy_from_slice(&self.index.to_be_bytes());
        key
    }

    /// Parses a storage key written by [`NodeId::to_key`]; `None` if it is not 9 bytes or
    /// names a node that cannot exist.
    pub fn from_key(key: &[u8]) -> Option<NodeId> {
        let (&level, idx) = key.split_first()?;
        let idx: [u8; 8] = idx.try_into().ok()?;
        NodeId::new(level, u64::from_be_bytes(idx))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node(level {}, index {})", self.level, self.index)
    }
}

/// Why a [`CompactRange`] could not be built or grown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactRangeError {
    /// The number of hashes is not the number of set bits of the size.
    #[error("compact range of size {size} needs {want} hashes, got {got}")]
    WrongHashCount {
        /// The tree size.
        size: u64,
        /// `popcount(size)`.
        want: u32,
        /// Hashes given.
        got: u64,
    },
    /// The tree already holds `u64::MAX` leaves.
    #[error("the tree is full (u64::MAX leaves)")]
    Full,
}

/// The append frontier of a tree: the roots of its complete subtrees, largest (leftmost) first.
///
/// Serialized (serde) as the struct `{ size: u64, hashes: [Hash] }`; deserializing
/// validates the hash count like [`CompactRange::from_parts`].
// INVARIANT: hashes.len() == size.count_ones(); hashes[i] is the root of the complete subtree
// for the i-th set bit of `size`, from the most significant bit down.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawCompactRange")]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

/// Unvalidated serde shape of [`CompactRange`].
#[derive(Deserialize)]
struct RawCompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl TryFrom<RawCompactRange> for CompactRange {
    type Error = CompactRangeError;
    fn try_from(raw: RawCompactRange) -> Result<Self, Self::Error> {
        CompactRange::from_parts(raw.size, raw.hashes)
    }
}

impl CompactRange {
    /// The frontier of the empty tree.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// Rebuilds a frontier from its size and subtree roots (as returned by
    /// [`CompactRange::hashes`]); fails unless there is one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<CompactRange, CompactRangeError> {
        let want = size.count_ones();
        if u64::from(want) != len_u64(&hashes) {
            return Err(CompactRangeError::WrongHashCount {
                size,
                want,
                got: len_u64(&hashes),
            });
        }
        // INVARIANT: count checked above.
        Ok(CompactRange { size, hashes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the complete subtrees, largest (leftmost) first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The frontier's nodes with their ids, largest (leftmost) first.
    pub fn nodes(&self) -> Vec<(NodeId, Hash)> {
        let mut start = 0u64;
        let mut out = Vec::with_capacity(self.hashes.len());
        let mut hashes = self.hashes.iter();
        for level in (0..64u8).rev() {
            if bit(self.size, usize::from(level)) {
                let width = 1u64 << level;
                // INVARIANT: start + width <= size <= u64::MAX.
                let id = NodeId {
                    level,
                    index: start >> level,
                };
                if let Some(h) = hashes.next() {
                    out.push((id, *h));
                }
                start += width;
            }
        }
        out
    }

    /// Appends a leaf hash (already [`TreeHasher::hash_leaf`]ed) and returns every node that
    /// became complete: the leaf itself (level 0) first, then each new parent, bottom up.
    pub fn append(
        &mut self,
        hasher: &impl TreeHasher,
        leaf_hash: Hash,
    ) -> Result<Vec<(NodeId, Hash)>, CompactRangeError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(CompactRangeError::Full)?;
        // Each trailing one bit of the old size is a subtree that the new leaf completes.
        let merges = usize::try_from(index.trailing_ones()).unwrap_or(usize::MAX);
        let keep = self.hashes.len().saturating_sub(merges);
        let lefts = self.hashes.split_off(keep);
        let mut out = Vec::with_capacity(lefts.len() + 1);
        // INVARIANT: index < u64::MAX, so leaf `index` exists.
        let mut id = NodeId { level: 0, index };
        let mut hash = leaf_hash;
        out.push((id, hash));
        for left in lefts.iter().rev() {
            hash = hasher.hash_children(left, &hash);
            // INVARIANT: the parent's leaves end at new_size <= u64::MAX.
            id = NodeId {
                level: id.level + 1,
                index: id.index >> 1,
            };
            out.push((id, hash));
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(out)
    }

    /// The root of the tree of the first `m` leaves, if this frontier determines it: `m` is
    /// the frontier's own size, or the end of one of its complete subtrees (left to right).
    /// A verifier that holds only a frontier can check a checkpoint of such a size.
    pub fn prefix_root(&self, hasher: &impl TreeHasher, m: u64) -> Option<Hash> {
        if m == self.size {
            return Some(self.root(hasher));
        }
        let k = self
            .nodes()
            .iter()
            .position(|(id, _)| id.leaves().end == m)?;
        let hashes = self.hashes.get(..=k)?.to_vec();
        CompactRange::from_parts(m, hashes)
            .ok()
            .map(|r| r.root(hasher))
    }

    /// The root of the tree (the empty-tree root if it has no leaves).
    pub fn root(&self, hasher: &impl TreeHasher) -> Hash {
        let mut it = self.hashes.iter().rev();
        match it.next() {
            None => hasher.empty_root(),
            Some(last) => it.fold(*last, |acc, h| hasher.hash_children(h, &acc)),
        }
    }
}

/// Where proof generation reads nodes from (a store's Merkle tiles, or [`MemoryNodes`]).
/// Only nodes of complete subtrees are ever asked for.
pub trait NodeSource {
    /// Why a node could not be read (missing, I/O, corrupt).
    type Error;
    /// The hash of node `id`.
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error>;
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error> {
        (**self).node(id)
    }
}

/// Why a root or proof could not be produced from a [`NodeSource`].
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E> {
    /// The arguments make no sense (index >= size, size1 > size2).
    #[error("invalid proof request: {0}")]
    Invalid(#[from] ProofError),
    /// The source failed to give a node (for a size beyond what it holds, it is missing).
    #[error("reading a Merkle node: {0}")]
    Source(#[source] E),
}

/// `MTH(D[start : start+len])` for a range that starts at a multiple of a power of two
/// `>= len` (every range the RFC recursion visits does), from `popcount(len)` complete nodes.
fn range_root<S: NodeSource + ?Sized>(
    hasher: &impl TreeHasher,
    src: &S,
    start: u64,
    len: u64,
) -> Result<Hash, ProveError<S::Error>> {
    let mut parts = Vec::with_capacity(usize::try_from(len.count_ones()).unwrap_or(0));
    let mut pos = start;
    for level in (0..64u8).rev() {
        if bit(len, usize::from(level)) {
            // INVARIANT: pos is aligned to 2^level and pos + 2^level <= start + len <= u64::MAX.
            let id = NodeId {
                level,
                index: pos >> level,
            };
            parts.push(src.node(id).map_err(ProveError::Source)?);
            pos += 1u64 << level;
        }
    }
    let mut it = parts.iter().rev();
    Ok(match it.next() {
        None => hasher.empty_root(),
        Some(last) => it.fold(*last, |acc, h| hasher.hash_children(h, &acc)),
    })
}

/// The root of the first `size` leaves of the tree in `src`, from `popcount(size)` reads.
pub fn root_at<S: NodeSource + ?Sized>(
    hasher: &impl TreeHasher,
    src: &S,
    size: u64,
) -> Result<Hash, ProveError<S::Error>> {
    range_root(hasher, src, 0, size)
}

/// The inclusion proof (RFC 6962 `PATH`, bottom up) of leaf `index` in the tree of the first
/// `size` leaves, from at most `2·⌈log2 size⌉ + 1` reads.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    hasher: &impl TreeHasher,
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    // Walk down from the root; [start, start+len) always contains `index`.
    let (mut start, mut len) = (0u64, size);
    let mut proof = Vec::new();
    while len > 1 {
        let k = split_point(len);
        if index - start < k {
            proof.push(range_root(hasher, src, start + k, len - k)?);
            len = k;
        } else {
            proof.push(range_root(hasher, src, start, k)?);
            start += k;
            len -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof (RFC 6962 `PROOF(m, D[n])`) between the trees of the first `size1`
/// and `size2` leaves; empty if `size1` is 0 or equals `size2`. At most `2·⌈log2 size2⌉ + 1`
/// reads.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    hasher: &impl TreeHasher,
    src: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if size1 > size2 {
        return Err(ProofError::Size1GreaterThanSize2 { size1, size2 }.into());
    }
    if size1 == 0 || size1 == size2 {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:start+len], whole) with 0 < m <= len.
    let (mut start, mut len, mut m, mut whole) = (0u64, size2, size1, true);
    let mut proof = Vec::new();
    while m < len {
        let k = split_point(len);
        if m <= k {
            proof.push(range_root(hasher, src, start + k, len - k)?);
            len = k;
        } else {
            proof.push(range_root(hasher, src, start, k)?);
            start += k;
            len -= k;
            m -= k;
            whole = false;
        }
    }
    if !whole {
        proof.push(range_root(hasher, src, start, len)?);
    }
    proof.reverse();
    Ok(proof)
}

/// A node that a [`MemoryNodes`] does not hold (a size beyond its leaves).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not stored")]
pub struct MissingNode(pub NodeId);

/// An in-memory [`NodeSource`]: every complete-subtree node of a tree, plus its frontier.
#[derive(Debug, Clone, Default)]
pub struct MemoryNodes {
    nodes: HashMap<NodeId, Hash>,
    range: CompactRange,
}

impl MemoryNodes {
    /// An empty tree.
    pub fn new() -> MemoryNodes {
        MemoryNodes::default()
    }

    /// The tree of these leaf hashes.
    pub fn from_leaf_hashes(hasher: &impl TreeHasher, leaves: &[Hash]) -> MemoryNodes {
        let mut m = MemoryNodes::new();
        for leaf in leaves {
            // Cannot fail: a slice holds far fewer than u64::MAX hashes.
            if m.append(hasher, *leaf).is_err() {
                break;
            }
        }
        m
    }

    /// Appends a leaf hash, storing every node it completes.
    pub fn append(
        &mut self,
        hasher: &impl TreeHasher,
        leaf_hash: Hash,
    ) -> Result<(), CompactRangeError> {
        self.nodes.extend(self.range.append(hasher, leaf_hash)?);
        Ok(())
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The frontier.
    pub fn range(&self) -> &CompactRange {
        &self.range
    }
}

impl NodeSource for MemoryNodes {
    type Error = MissingNode;
    fn node(&self, id: NodeId) -> Result<Hash, MissingNode> {
        self.nodes.get(&id).copied().ok_or(MissingNode(id))
    }
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "test trees hold at most a few thousand leaves; their indices fit every integer type"
)]
mod tests {
    use super::*;

    #[test]
    fn hash_keeps_the_bytes_of_the_array_it_wraps() {
        // Binary encodings (bincode: CompactRange in `meta`, the verifier's resume state)
        // see exactly the 32 bytes; JSON sees base64, as checkpoints write roots.
        let raw = [0xA5u8; 32];
        let h = Hash(raw);
        assert_eq!(
            crate::encoding::encode(&h).unwrap(),
            crate::encoding::encode(&raw).unwrap()
        );
        let range = CompactRange::from_parts(3, vec![Hash([1; 32]), Hash([2; 32])]).unwrap();
        let bytes = crate::encoding::encode(&range).unwrap();
        assert_eq!(bytes.len(), 8 + 8 + 64);
        assert_eq!(
            crate::encoding::decode_canonical::<CompactRange>(&bytes).unwrap(),
            range
        );
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{h}\""));
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Hash>("\"AAAA\"").is_err());
    }

    #[test]
    fn prefix_root_is_known_exactly_at_subtree_ends() {
        let h = Sha256Hasher;
        let leaves: Vec<Hash> = (0u8..13).map(|i| h.hash_leaf(&[i])).collect();
        let mut range = CompactRange::new();
        for l in &leaves {
            range.append(&h, *l).unwrap();
        }
        // 13 = 8 + 4 + 1: the frontier determines the roots at 8, 12 and 13, nothing else.
        for m in 0..=14u64 {
            let want = [8, 12, 13]
                .contains(&m)
                .then(|| root_from_leaves(&h, &leaves[..m as usize]));
            assert_eq!(range.prefix_root(&h, m), want, "m = {m}");
        }
        assert_eq!(CompactRange::new().prefix_root(&h, 0), Some(h.empty_root()));
    }
    use std::cell::Cell;

    const H: Sha256Hasher = Sha256Hasher;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| H.hash_leaf(&i.to_be_bytes())).collect()
    }

    fn ceil_log2(n: u64) -> u32 {
        if n <= 1 {
            0
        } else {
            u64::BITS - (n - 1).leading_zeros()
        }
    }

    /// Counts reads of the wrapped source.
    struct Counting<'a> {
        inner: &'a MemoryNodes,
        reads: Cell<u32>,
    }
    impl NodeSource for Counting<'_> {
        type Error = MissingNode;
        fn node(&self, id: NodeId) -> Result<Hash, MissingNode> {
            self.reads.set(self.reads.get() + 1);
            self.inner.node(id)
        }
    }

    #[test]
    fn empty_root_known_answer() {
        assert_eq!(
            hex::encode(H.empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root_from_leaves(&H, &[]), H.empty_root());
        assert_eq!(CompactRange::new().root(&H), H.empty_root());
        assert_eq!(root_at(&H, &MemoryNodes::new(), 0).unwrap(), H.empty_root());
    }

    #[test]
    fn rfc6962_known_answers_1_to_8() {
        // The classic CT test leaves and roots (transparency-dev/merkle testonly).
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let hashes: Vec<Hash> = data.iter().map(|d| H.hash_leaf(d)).collect();
        let mut cr = CompactRange::new();
        for n in 1..=8 {
            cr.append(&H, hashes[n - 1]).unwrap();
            let want = roots[n - 1];
            assert_eq!(
                hex::encode(root_from_leaves(&H, &hashes[..n])),
                want,
                "n={n}"
            );
            assert_eq!(hex::encode(cr.root(&H)), want, "compact n={n}");
        }
    }

    #[test]
    fn hash_rules_are_domain_separated() {
        let l = [1u8; 32];
        let r = [2u8; 32];
        let mut cat = vec![0x01];
        cat.extend_from_slice(&l);
        cat.extend_from_slice(&r);
        assert_eq!(
            H.hash_children(&Hash(l), &Hash(r)),
            Hash(Sha256::digest(&cat).into())
        );
        assert_eq!(H.hash_leaf(b"x"), Hash(Sha256::digest(b"\x00x").into()));
        assert_ne!(H.hash_children(&Hash(l), &Hash(r)), H.hash_leaf(&cat[1..]));
    }

    #[test]
    fn compact_range_matches_reference_and_reports_nodes() {
        let ls = leaves(300);
        let mut cr = CompactRange::new();
        let mut stored: HashMap<NodeId, Hash> = HashMap::new();
        for (i, l) in ls.iter().enumerate() {
            let i = i as u64;
            let new = cr.append(&H, *l).unwrap();
            assert_eq!(new[0], (NodeId::leaf(i).unwrap(), *l));
            assert_eq!(new.len() as u32, 1 + i.trailing_ones());
            for (id, h) in &new {
                // Each returned node is the MTH of exactly the leaves it covers.
                let r = id.leaves();
                assert!(r.end <= i + 1);
                assert_eq!(
                    *h,
                    root_from_leaves(&H, &ls[r.start as usize..r.end as usize])
                );
                assert!(stored.insert(*id, *h).is_none(), "node {id} reported twice");
            }
            assert_eq!(cr.size(), i + 1);
            assert_eq!(cr.hashes().len() as u32, (i + 1).count_ones());
            assert_eq!(cr.root(&H), root_from_leaves(&H, &ls[..=i as usize]));
            for (id, h) in cr.nodes() {
                assert_eq!(stored.get(&id), Some(&h));
            }
        }
        // Every complete subtree of a 300-leaf tree was reported once.
        let want: u64 = (0..64).map(|lvl| 300u64 >> lvl).sum();
        assert_eq!(stored.len() as u64, want);
    }

    #[test]
    fn compact_range_from_parts_validates() {
        let mut cr = CompactRange::new();
        for l in leaves(11) {
            cr.append(&H, l).unwrap();
        }
        let again = CompactRange::from_parts(11, cr.hashes().to_vec()).unwrap();
        assert_eq!(again, cr);
        assert_eq!(
            CompactRange::from_parts(11, cr.hashes()[..2].to_vec()),
            Err(CompactRangeError::WrongHashCount {
                size: 11,
                want: 3,
                got: 2
            })
        );
        assert!(CompactRange::from_parts(0, vec![Hash([0; 32])]).is_err());
        assert!(CompactRange::from_parts(0, vec![]).is_ok());
        assert!(CompactRange::from_parts(u64::MAX, vec![Hash([0; 32]); 64]).is_ok());
        // Serde goes through the same validation.
        let json = serde_json::to_string(&cr).unwrap();
        assert_eq!(serde_json::from_str::<CompactRange>(&json).unwrap(), cr);
        let bad = json.replace("\"size\":11", "\"size\":12");
        assert!(serde_json::from_str::<CompactRange>(&bad).is_err());
    }

    #[test]
    fn compact_range_full_tree_refuses_append() {
        let mut cr = CompactRange::from_parts(u64::MAX, vec![Hash([7; 32]); 64]).unwrap();
        assert_eq!(cr.append(&H, Hash([0; 32])), Err(CompactRangeError::Full));
        assert_eq!(cr.size(), u64::MAX);
        // One below full: the append merges all 63 subtrees below the top one.
        let mut cr = CompactRange::from_parts(u64::MAX - 1, vec![Hash([7; 32]); 63]).unwrap();
        let new = cr.append(&H, Hash([0; 32])).unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(cr.size(), u64::MAX);
        assert_eq!(cr.nodes().len(), 64);
        let mut cr = CompactRange::from_parts((1 << 63) - 1, vec![Hash([7; 32]); 63]).unwrap();
        let new = cr.append(&H, Hash([0; 32])).unwrap();
        assert_eq!(new.last().unwrap().0, NodeId::new(63, 0).unwrap());
        assert_eq!(new.last().unwrap().0.leaves(), 0..1 << 63);
    }

    #[test]
    fn node_id_key_layout_and_invariant() {
        let id = NodeId::new(3, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(id.to_key(), [3, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(NodeId::from_key(&id.to_key()), Some(id));
        assert_eq!(NodeId::from_key(&[0; 8]), None);
        assert_eq!(NodeId::from_key(&[0; 10]), None);
        assert_eq!(NodeId::from_key(&[]), None);
        assert_eq!(NodeId::from_key(&[64, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(NodeId::new(63, 0).unwrap().leaves(), 0..1 << 63);
        assert_eq!(NodeId::new(63, 1), None);
        assert_eq!(NodeId::leaf(u64::MAX), None);
        assert_eq!(
            NodeId::leaf(u64::MAX - 1).unwrap().leaves(),
            u64::MAX - 1..u64::MAX
        );
        assert_eq!(NodeId::new(255, 0), None);
        // Key order is (level, index) order.
        let mut ids = [
            NodeId::new(1, 0).unwrap(),
            NodeId::new(0, 300).unwrap(),
            NodeId::new(0, 2).unwrap(),
        ];
        let mut keys: Vec<_> = ids.iter().map(NodeId::to_key).collect();
        ids.sort();
        keys.sort();
        assert_eq!(ids.iter().map(NodeId::to_key).collect::<Vec<_>>(), keys);
    }

    #[test]
    fn proofs_from_memory_nodes_all_sizes_up_to_64() {
        let ls = leaves(64);
        let mem = MemoryNodes::from_leaf_hashes(&H, &ls);
        let roots: Vec<Hash> = (0..=64).map(|n| root_from_leaves(&H, &ls[..n])).collect();
        for size in 0..=64u64 {
            let root = roots[size as usize];
            let counting = Counting {
                inner: &mem,
                reads: Cell::new(0),
            };
            assert_eq!(root_at(&H, &counting, size).unwrap(), root);
            assert!(counting.reads.get() <= size.count_ones());
            let bound = 2 * ceil_log2(size) + 1;
            for index in 0..size {
                counting.reads.set(0);
                let p = inclusion_proof(&H, &counting, index, size).unwrap();
                assert!(
                    counting.reads.get() <= bound,
                    "reads {}",
                    counting.reads.get()
                );
                verify_inclusion(&H, index, size, &ls[index as usize], &p, &root).unwrap();
                // Tampering anywhere is caught.
                for j in 0..p.len() {
                    let mut bad = p.clone();
                    bad[j].0[0] ^= 1;
                    assert_eq!(
                        verify_inclusion(&H, index, size, &ls[index as usize], &bad, &root),
                        Err(ProofError::RootMismatch)
                    );
                }
                let mut longer = p.clone();
                longer.push(Hash([0; 32]));
                assert!(matches!(
                    verify_inclusion(&H, index, size, &ls[index as usize], &longer, &root),
                    Err(ProofError::WrongProofLength { .. })
                ));
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(
                        verify_inclusion(&H, other, size, &ls[index as usize], &p, &root).is_err()
                    );
                }
            }
            assert!(matches!(
                inclusion_proof(&H, &mem, size, size),
                Err(ProveError::Invalid(ProofError::IndexOutOfRange { .. }))
            ));
            for size1 in 0..=size {
                counting.reads.set(0);
                let p = consistency_proof(&H, &counting, size1, size).unwrap();
                assert!(
                    counting.reads.get() <= bound,
                    "reads {}",
                    counting.reads.get()
                );
                let r1 = roots[size1 as usize];
                verify_consistency(&H, size1, size, &p, &r1, &root).unwrap();
                if size1 > 0 && size1 < size {
                    let mut bad = p.clone();
                    bad[0].0[31] ^= 0x80;
                    assert!(verify_consistency(&H, size1, size, &bad, &r1, &root).is_err());
                    assert!(verify_consistency(&H, size1, size, &p[1..], &r1, &root).is_err());
                    assert!(verify_consistency(&H, size1, size, &p, &root, &r1).is_err());
                }
            }
            assert!(matches!(
                consistency_proof(&H, &mem, size + 1, size),
                Err(ProveError::Invalid(
                    ProofError::Size1GreaterThanSize2 { .. }
                ))
            ));
        }
        // Beyond the stored leaves, the source says what is missing.
        assert!(matches!(
            root_at(&H, &mem, 65),
            Err(ProveError::Source(MissingNode(_)))
        ));
        assert!(matches!(
            inclusion_proof(&H, &mem, 3, 100),
            Err(ProveError::Source(MissingNode(_)))
        ));
    }

    #[test]
    fn reads_are_logarithmic_in_a_large_tree() {
        let n = 5_000u64;
        let ls = leaves(n);
        let mem = MemoryNodes::from_leaf_hashes(&H, &ls);
        let counting = Counting {
            inner: &mem,
            reads: Cell::new(0),
        };
        for size in [1u64, 2, 3, 1000, 1023, 1024, 1025, 4097, 4999, 5000] {
            let bound = 2 * ceil_log2(size) + 1;
            let root = root_at(&H, &mem, size).unwrap();
            for index in [0, size / 3, size / 2, size - 1] {
                counting.reads.set(0);
                let p = inclusion_proof(&H, &counting, index, size).unwrap();
                assert!(counting.reads.get() <= bound);
                verify_inclusion(&H, index, size, &ls[index as usize], &p, &root).unwrap();
            }
            for size1 in [1, size / 2, size - 1] {
                counting.reads.set(0);
                let p = consistency_proof(&H, &counting, size1, size).unwrap();
                assert!(counting.reads.get() <= bound);
                let r1 = root_at(&H, &mem, size1).unwrap();
                verify_consistency(&H, size1, size, &p, &r1, &root).unwrap();
            }
        }
    }

    #[test]
    fn verifiers_survive_hostile_sizes() {
        let r = Hash([9u8; 32]);
        for &(i, n) in &[
            (0, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 63, u64::MAX),
            (0, 1 << 63),
            (u64::MAX, u64::MAX),
            (u64::MAX, 0),
        ] {
            let proof = vec![Hash([1u8; 32]); 70];
            assert!(verify_inclusion(&H, i, n, &r, &proof, &r).is_err());
            assert!(verify_inclusion(&H, i, n, &r, &[], &r).is_err());
            assert!(verify_consistency(&H, i, n, &proof, &r, &r).is_err());
            assert!(verify_consistency(&H, i, n, &proof[..1], &r, &r).is_err());
            assert!(verify_consistency(&H, n, i, &[], &r, &r).is_err() || n == i);
        }
        // A full-length, all-garbage proof in the largest trees computes and mismatches.
        let (inner, border) = decomp_incl_proof(u64::MAX - 1, u64::MAX);
        let proof = vec![Hash([1u8; 32]); (inner + border) as usize];
        assert_eq!(
            verify_inclusion(&H, u64::MAX - 1, u64::MAX, &r, &proof, &r),
            Err(ProofError::RootMismatch)
        );
    }

    /// RFC 9162 §2.1.3.2 / §2.1.4.2 fix how many hashes a proof for given sizes has; a proof
    /// of another length is refused as `WrongProofLength`, which reports the length given and
    /// the length these sizes call for (the length the prover produces).
    #[test]
    fn wrong_length_errors_state_the_length_the_sizes_call_for() {
        let ls = leaves(40);
        let mem = MemoryNodes::from_leaf_hashes(&H, &ls);
        for size2 in 1..=40u64 {
            let root2 = root_at(&H, &mem, size2).unwrap();
            for size1 in 1..size2 {
                let root1 = root_at(&H, &mem, size1).unwrap();
                let p = consistency_proof(&H, &mem, size1, size2).unwrap();
                let want = p.len() as u64;
                let mut longer = p.clone();
                longer.push(Hash([0; 32]));
                for (given, got) in [
                    (&[][..], 0),
                    (&p[..p.len() - 1], want - 1),
                    (&longer[..], want + 1),
                ] {
                    assert_eq!(
                        verify_consistency(&H, size1, size2, given, &root1, &root2),
                        Err(ProofError::WrongProofLength { got, want }),
                        "{size1} -> {size2}, {got} hashes"
                    );
                }
            }
            for index in 0..size2 {
                let p = inclusion_proof(&H, &mem, index, size2).unwrap();
                let want = p.len() as u64;
                assert_eq!(
                    verify_inclusion(&H, index, size2, &ls[index as usize], &[], &root2),
                    if want == 0 {
                        Ok(())
                    } else {
                        Err(ProofError::WrongProofLength { got: 0, want })
                    }
                );
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let e = H.empty_root();
        let x = Hash([5u8; 32]);
        verify_consistency(&H, 0, 0, &[], &e, &e).unwrap();
        verify_consistency(&H, 0, 7, &[], &e, &x).unwrap();
        assert_eq!(
            verify_consistency(&H, 0, 7, &[], &x, &x),
            Err(ProofError::OldRootMismatch)
        );
        assert_eq!(
            verify_consistency(&H, 0, 0, &[], &e, &x),
            Err(ProofError::RootMismatch)
        );
        assert!(matches!(
            verify_consistency(&H, 0, 7, &[x], &e, &x),
            Err(ProofError::WrongProofLength { got: 1, want: 0 })
        ));
        verify_consistency(&H, 3, 3, &[], &x, &x).unwrap();
        assert_eq!(
            verify_consistency(&H, 3, 3, &[], &x, &e),
            Err(ProofError::RootMismatch)
        );
        assert!(matches!(
            verify_consistency(&H, 3, 5, &[], &x, &e),
            Err(ProofError::WrongProofLength { got: 0, .. })
        ));
        assert_eq!(
            verify_consistency(&H, 4, 3, &[], &x, &x),
            Err(ProofError::Size1GreaterThanSize2 { size1: 4, size2: 3 })
        );
    }

    /// `Hash` is its 32 bytes under every conversion (`From`, `as_bytes`, `AsRef`,
    /// `from_slice`), and `Debug` shows the same base64 as `Display` (the form checkpoints
    /// write roots in), so a failed assertion or a log names a root as an auditor reads it.
    #[test]
    fn hash_conversions_keep_the_32_bytes() {
        let raw: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        let h = Hash::from(raw);
        assert_eq!(h, Hash(raw));
        assert_eq!(h.as_bytes(), &raw);
        assert_eq!(h.as_ref(), &raw[..]);
        assert_eq!(Hash::from_slice(&raw), Some(h));
        assert_eq!(Hash::from_slice(&raw[..31]), None);
        let empty = H.empty_root();
        assert_eq!(
            format!("{empty:?}"),
            "Hash(47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=)"
        );
    }

    /// A node's level and index are the ones it was made with (the store addresses tiles by
    /// them), and it prints as both, which is how `MissingNode`'s message names it.
    #[test]
    fn node_id_reports_its_level_and_index() {
        let id = NodeId::new(3, 5).unwrap();
        assert_eq!((id.level(), id.index()), (3, 5));
        assert_eq!(id.leaves(), 40..48);
        let leaf = NodeId::leaf(9).unwrap();
        assert_eq!((leaf.level(), leaf.index()), (0, 9));
        assert_eq!(id.to_string(), "node(level 3, index 5)");
        assert_eq!(
            MissingNode(id).to_string(),
            "node(level 3, index 5) is not stored"
        );
    }

    /// A borrowed source is a source that reads the same nodes (generic code, like the
    /// store's, may hold a `&S` where a source is asked for): same hashes, same misses.
    #[test]
    fn a_borrowed_source_reads_the_same_nodes() {
        let ls = leaves(6);
        let mem = MemoryNodes::from_leaf_hashes(&H, &ls);
        let by_ref: &MemoryNodes = &mem;
        for id in [NodeId::leaf(5).unwrap(), NodeId::new(2, 0).unwrap()] {
            assert_eq!(NodeSource::node(&by_ref, id), Ok(ls_root(&ls, id)));
        }
        let beyond = NodeId::leaf(6).unwrap();
        assert_eq!(NodeSource::node(&by_ref, beyond), Err(MissingNode(beyond)));
        assert_eq!(root_at(&H, &by_ref, 6).unwrap(), root_from_leaves(&H, &ls));
    }

    /// The MTH of the leaves node `id` covers.
    fn ls_root(ls: &[Hash], id: NodeId) -> Hash {
        let r = id.leaves();
        root_from_leaves(&H, &ls[r.start as usize..r.end as usize])
    }

    /// `MemoryNodes` holds the frontier of its leaves: the one a `CompactRange` fed the same
    /// leaves holds, so its size and root are the tree's.
    #[test]
    fn memory_nodes_hold_the_frontier_of_their_leaves() {
        let ls = leaves(13);
        let mem = MemoryNodes::from_leaf_hashes(&H, &ls);
        let mut cr = CompactRange::new();
        for l in &ls {
            cr.append(&H, *l).unwrap();
        }
        assert_eq!(mem.range(), &cr);
        assert_eq!(mem.size(), 13);
        assert_eq!(mem.range().root(&H), root_from_leaves(&H, &ls));
    }
}
