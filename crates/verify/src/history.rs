//! The fold's history in compact maps ([`Hist`]) and per-record payload tallies
//! ([`Slot`], [`Tally`]).
use caseledger_core::record::{History, RecordState};
use caseledger_core::{Nonce, RecordId, Seq};
use std::collections::HashMap;

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
/// entry (`committed`), plus about 40 bytes per entry for the nonce map (16-byte nonce,
/// 8-byte seq, hash table overhead), plus one [`Slot`] per record. Nothing else grows with
/// the number of entries.
pub(crate) struct Hist {
    /// Record ordinal of each entry by position; `u32::MAX` for none.
    pub record_of: Vec<u32>,
    /// Whether each entry (by position) commits to a payload.
    pub committed: Vec<bool>,
    pub slots: Vec<Slot>,
    pub nonces: HashMap<Nonce, u64>,
}

impl History for Hist {
    type Error = std::convert::Infallible;
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>, Self::Error> {
        Ok(self.record_at(seq))
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>, Self::Error> {
        Ok(self.nonces.get(nonce).map(|s| Seq(*s)))
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
