//! The fold's history in compact maps ([`Hist`]) and per-record payload tallies
//! ([`Slot`], [`Tally`]).
use caseledger_core::record::{History, RecordState};
use caseledger_core::{Nonce, RecordId, Seq};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;

/// Payload tallies of one record over a range of entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Entries with a commitment whose payload is stored.
    pub present: u64,
    /// The first of them.
    pub first_present: Option<u64>,
    /// Entries with a commitment whose payload is not stored.
    pub missing: u64,
    /// The first of them.
    pub first_missing: Option<u64>,
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Tally {
    /// Both tallies together.
    pub(crate) fn merged(self, o: Tally) -> Tally {
        Tally {
            present: self.present.saturating_add(o.present),
            first_present: min_opt(self.first_present, o.first_present),
            missing: self.missing.saturating_add(o.missing),
            first_missing: min_opt(self.first_missing, o.first_missing),
        }
    }
}

/// Per-record replay bookkeeping: the fold's state and payload tallies (no per-entry data).
pub(crate) struct Slot {
    pub id: RecordId,
    pub state: Option<RecordState>,
    /// Tallies over the entries read in this run.
    pub live: Tally,
    /// Tallies over the entries before the resume point, from the auditor's state.
    pub prefix: Tally,
}

/// The fold's history in compact maps. Memory: 4 bytes per entry (`record_of`), 1 byte per
/// entry (`committed`), plus 24 to 36 bytes per entry for the nonce index ([`NonceIndex`]),
/// plus one [`Slot`] per record. Nothing else grows with the number of entries.
pub(crate) struct Hist {
    /// Record ordinal of each entry by position; `u32::MAX` for none.
    pub record_of: Vec<u32>,
    /// Whether each entry (by position) commits to a payload.
    pub committed: Vec<bool>,
    pub slots: Vec<Slot>,
    pub nonces: NonceIndex,
}

/// Each nonce seen, with the seq of the first entry that carried it: the replay check's
/// index (`replayed_event` names that seq), exact and O(1) per entry.
///
/// It is the one map of the replay that grows with every entry, so it is kept compact: the
/// (nonce, seq) pairs in a `Vec` in the order first seen (24 bytes each), and an
/// open-addressing table of `u32` positions into it, at most 3/4 full (4 to 8 bytes per
/// entry). A `HashMap<Nonce, u64>` costs about 50 bytes per entry at 1M entries (its
/// buckets, 25 bytes each, at most 7/8 full, doubling), and half as much again while it
/// grows (both tables live): the largest part of the verifier's own memory (P5,
/// benches/RESULTS.md).
pub(crate) struct NonceIndex {
    kept: Vec<(Nonce, u64)>,
    /// `i + 1` for `kept[i]`, 0 for an empty slot; the length is 0 or a power of two.
    table: Vec<u32>,
    /// Keyed (SipHash with a random key): authors choose nonces, and an unkeyed hash would
    /// let one author make every probe run long.
    hasher: RandomState,
}

impl Default for NonceIndex {
    fn default() -> Self {
        NonceIndex::with_capacity(0)
    }
}

/// More nonces than a `u32` position indexes: the ledger is too large for this verifier.
#[derive(Debug)]
pub(crate) struct TooManyNonces;

impl NonceIndex {
    /// An index with room for `n` nonces before it grows.
    pub(crate) fn with_capacity(n: usize) -> NonceIndex {
        let mut idx = NonceIndex {
            kept: Vec::with_capacity(n),
            table: Vec::new(),
            hasher: RandomState::new(),
        };
        if n > 0 {
            idx.rebuild(Self::table_len_for(n));
        }
        idx
    }

    /// The table length that holds `n` positions at most 3/4 full.
    fn table_len_for(n: usize) -> usize {
        n.saturating_mul(4).div_ceil(3).max(16).next_power_of_two()
    }

    /// The number of distinct nonces kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kept.len()
    }

    /// The first slot of `nonce`'s probe sequence.
    fn home(&self, nonce: &Nonce) -> usize {
        let mask = self.table.len().wrapping_sub(1);
        // Truncating the hash to the table's bits is the point.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "only the low bits select the slot"
        )]
        let h = self.hasher.hash_one(nonce) as usize;
        h & mask
    }

    /// The seq of the first entry that carried `nonce`, if any did.
    pub(crate) fn get(&self, nonce: &Nonce) -> Option<u64> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut i = self.home(nonce);
        loop {
            let at = *self.table.get(i)?;
            let (n, seq) = self.kept.get(usize::try_from(at).ok()?.checked_sub(1)?)?;
            if n == nonce {
                return Some(*seq);
            }
            i = (i + 1) & mask;
        }
    }

    /// Keeps `seq` for `nonce` unless the nonce was seen before (the first seq stays).
    pub(crate) fn insert_first(&mut self, nonce: Nonce, seq: u64) -> Result<(), TooManyNonces> {
        if self.get(&nonce).is_some() {
            return Ok(());
        }
        let pos = u32::try_from(self.kept.len() + 1).map_err(|_| TooManyNonces)?;
        if self.table.len() < Self::table_len_for(self.kept.len() + 1) {
            self.rebuild(Self::table_len_for(self.kept.len() + 1).max(self.table.len() * 2));
        }
        self.kept.push((nonce, seq));
        self.place(&nonce, pos);
        Ok(())
    }

    /// Puts position `pos` (1-based) in the first empty slot of `nonce`'s probe sequence
    /// (the table is never full: at most 3/4).
    fn place(&mut self, nonce: &Nonce, pos: u32) {
        let mask = self.table.len() - 1;
        let mut i = self.home(nonce);
        while let Some(slot) = self.table.get_mut(i) {
            if *slot == 0 {
                *slot = pos;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// A fresh table of `len` slots holding every kept position.
    fn rebuild(&mut self, len: usize) {
        self.table = vec![0; len];
        for i in 0..self.kept.len() {
            let Some((nonce, _)) = self.kept.get(i).copied() else {
                continue;
            };
            // Positions fit: `insert_first` refuses more than `u32::MAX` nonces.
            if let Ok(pos) = u32::try_from(i + 1) {
                self.place(&nonce, pos);
            }
        }
    }

    /// The (nonce, first seq) pairs, in the order first seen.
    pub(crate) fn into_pairs(self) -> Vec<(Nonce, u64)> {
        self.kept
    }
}

impl History for Hist {
    type Error = std::convert::Infallible;
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>, Self::Error> {
        Ok(self.record_at(seq))
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>, Self::Error> {
        Ok(self.nonces.get(nonce).map(Seq))
    }
}

impl Hist {
    fn record_at(&self, seq: Seq) -> Option<RecordId> {
        let i = usize::try_from(seq.0).ok()?;
        let ord = *self.record_of.get(i)?;
        let s = self.slots.get(usize::try_from(ord).ok()?)?;
        Some(s.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The index answers exactly as a `HashMap` keeping each nonce's first seq, through
    /// several growths, with repeated nonces, nonces sharing their leading bytes, and
    /// lookups of nonces never inserted.
    #[test]
    fn nonce_index_matches_a_hash_map() {
        let mut idx = NonceIndex::default();
        let mut model: HashMap<Nonce, u64> = HashMap::new();
        let nonce = |i: u64| {
            let mut n = [0u8; 16];
            // Every fourth nonce differs from another only in its last byte.
            n[..8].copy_from_slice(&(i / 4).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
            n[15] = u8::try_from(i % 4).unwrap();
            Nonce(n)
        };
        for seq in 0..5_000u64 {
            // Every 7th entry replays an earlier nonce.
            let n = if seq % 7 == 6 {
                nonce(seq / 3)
            } else {
                nonce(seq)
            };
            idx.insert_first(n, seq).unwrap();
            model.entry(n).or_insert(seq);
        }
        assert_eq!(idx.len(), model.len());
        for i in 0..12_000u64 {
            let n = nonce(i);
            assert_eq!(idx.get(&n), model.get(&n).copied(), "nonce {i}");
        }
        assert!(idx.table.len().is_power_of_two());
        assert!(idx.len() * 4 <= idx.table.len() * 3);
        let pairs = idx.into_pairs();
        assert_eq!(pairs.len(), model.len());
        for (n, seq) in pairs {
            assert_eq!(model.get(&n), Some(&seq));
        }
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let idx = NonceIndex::with_capacity(0);
        assert_eq!(idx.get(&Nonce([0; 16])), None);
        let idx = NonceIndex::with_capacity(100);
        assert_eq!(idx.get(&Nonce([0; 16])), None);
    }
}
