//! A record's state rebuilt from its own entries, for the one append that cannot be undone.
//!
//! The `records` tree keeps each record's fold state as a derived row, so that an append
//! is judged without reading the record's history. An insider with file access can edit
//! that row (clear a hold, backdate the termination); an ordinary append judged against it
//! is still caught by the verifier's replay, but a destruction erases content and keys the
//! verifier cannot bring back. So before a destruction is judged, the record's state is
//! rebuilt here from the entry bytes — every entry whose own record id is the record, never
//! through a derived row (as `export` does) — and must equal the row. O(entries), paid
//! only by destructions.

use crate::backend::{Backend, T};
use crate::error::{Result, StoreError};
use crate::types::Trees;
use caseledger_core::encoding::decode_canonical;
use caseledger_core::event::Entry;
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::{RecordId, Seq};
use caseledger_core::layout::record_state_key;
use caseledger_core::merkle::{self, Hash, NodeId, Sha256Hasher};
use caseledger_core::record::{self, RecordState, Registry, Step};
use caseledger_core::time::Timestamp;

/// The registry as of the head, rebuilt at open from entry bytes (there is no registry
/// row to roll back): from the head entry, the chain of store-assigned `prev_registry`
/// pointers names every entry that changed the registry, newest first, down to genesis.
/// Each must be a registry kind and point strictly back; each one the newest seal covers
/// must be included under its signed root (an inclusion proof from the `tiles` rows,
/// O(log n) hashes and one or two row reads), so an edited registry entry is refused too. Entries after the seal
/// were chained to it by `check_derived_state`. Cost: O(registry entries x log n) reads.
///
/// `seal` is the newest valid seal's `(size, root)`; `head_size` and `last_recorded_at`
/// come from `meta.head`, already checked against the entry bytes.
pub(crate) fn registry_from_chain(
    b: &impl Backend,
    head_size: u64,
    last_recorded_at: Timestamp,
    seal: Option<(u64, Hash)>,
) -> Result<Registry> {
    // The proof's nodes come from the `tiles` rows (already checked at their right edge);
    // the entry's own leaf is hashed from its bytes below.
    let tree = crate::tilerows::TileNodes::new(b);
    let broken = |seq: u64, why: String| StoreError::RegistryChain { seq: Seq(seq), why };
    let read = |seq: u64| -> Result<Entry> {
        let bytes = b
            .get(T::Entries, &seq.to_be_bytes())?
            .ok_or_else(|| broken(seq, "the entry is missing".into()))?;
        if let Some((size, root)) = seal.filter(|(size, _)| seq < *size) {
            let leaf = merkle_leaf(&entry_hash(bytes.as_ref()));
            let proof = merkle::inclusion_proof(&Sha256Hasher, &tree, seq, size)
                .map_err(|_| broken(seq, "its inclusion proof cannot be read".into()))?;
            if merkle::verify_inclusion(&Sha256Hasher, seq, size, &leaf, &proof, &root).is_err() {
                // The proof's hashes come from the `tiles` rows. When the entry's leaf
                // there is the one its bytes give, the entry is as the tiles were written
                // and a hash on its path was edited: the derived rows are at fault.
                let stored =
                    merkle::NodeSource::node(&tree, NodeId::leaf(seq).ok_or(StoreError::Full)?)
                        .ok();
                if stored == Some(leaf) {
                    return Err(StoreError::DerivedState {
                        what: "the tiles tree",
                        with: format!(
                            "the root signed in the newest seal (size {size}), through the inclusion proof of seq {seq}"
                        ),
                    });
                }
                // Otherwise the entry's bytes are what fails, unless the sibling's level-0
                // row was built from an edited sibling entry (a ledger whose tiles were
                // built at open): the entry after the sibling names the sibling's original
                // hash in its `prev`; when it disagrees, the sibling is the entry edited.
                let culprit = match seq ^ 1 {
                    sib if sib < size && !prev_confirms(b, sib, head_size)? => sib,
                    _ => seq,
                };
                return Err(broken(
                    culprit,
                    format!("its bytes are not the ones the newest seal (size {size}) signs"),
                ));
            }
        }
        let entry = Entry::from_bytes(bytes.as_ref())
            .map_err(|e| broken(seq, format!("the entry does not decode: {e}")))?;
        if entry.seq != Seq(seq) {
            return Err(broken(
                seq,
                format!("the entry says it is seq {}", entry.seq),
            ));
        }
        Ok(entry)
    };
    let Some(last) = head_size.checked_sub(1) else {
        return Ok(Registry::default());
    };
    let head = read(last)?;
    let mut chain = Vec::new();
    let mut next = head.prev_registry;
    if head.event.event.kind.kind().changes_registry() {
        chain.push(head);
    }
    let mut above = last;
    while let Some(Seq(at)) = next {
        if at >= above {
            return Err(broken(
                above,
                format!("prev_registry names seq {at}, not an earlier entry"),
            ));
        }
        let entry = read(at)?;
        if !entry.event.event.kind.kind().changes_registry() {
            return Err(broken(
                at,
                format!(
                    "a {} entry, which does not change the registry",
                    entry.event.event.kind.kind()
                ),
            ));
        }
        next = entry.prev_registry;
        above = at;
        chain.push(entry);
    }
    if chain.last().map(|e| e.seq) != Some(Seq::GENESIS) {
        return Err(broken(
            above,
            "the chain ends before the genesis entry".into(),
        ));
    }
    let mut registry = Registry::default();
    for entry in chain.iter().rev() {
        let step = Step {
            seq: entry.seq,
            recorded_at: entry.recorded_at,
            placement: entry.placement,
            prev_registry: entry.prev_registry,
            event: &entry.event.event,
        };
        record::apply(&mut registry, &mut None, step);
    }
    // Every accepted entry is at or after the clock before it (or a correction restarting
    // it), so the clock is the head's.
    registry.last_recorded_at = Some(last_recorded_at);
    Ok(registry)
}

/// Whether entry `seq`'s bytes hash to the `prev` the entry after it carries (true when
/// there is no entry after it below `head_size`, or it cannot be read: nothing contradicts).
fn prev_confirms(b: &impl Backend, seq: u64, head_size: u64) -> Result<bool> {
    let next = seq.saturating_add(1);
    if next >= head_size {
        return Ok(true);
    }
    let (Some(bytes), Some(after)) = (
        b.get(T::Entries, &seq.to_be_bytes())?,
        b.get(T::Entries, &next.to_be_bytes())?,
    ) else {
        return Ok(true);
    };
    Ok(Entry::from_bytes(after.as_ref()).map_or(true, |a| a.prev == entry_hash(bytes.as_ref())))
}

/// The state of `record` folded from its own entries below `size`; `None` if it has none.
/// `registry` gives the ledger's settings (the time zone of ledger dates); its actors and
/// clock play no part in a record's state.
pub(crate) fn rebuilt_state(
    trees: &Trees,
    registry: &Registry,
    record: &RecordId,
    size: u64,
) -> Result<Option<RecordState>> {
    let mut scratch = registry.clone();
    let mut state = None;
    for row in trees.scan(T::Entries, &[], Some(&size.to_be_bytes())) {
        let (key, bytes) = row?;
        let seq = <[u8; 8]>::try_from(key.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::corrupt("entry key is not 8 bytes", None))?;
        let entry = Entry::from_bytes(&bytes).map_err(|e| {
            StoreError::corrupt(format!("entry does not decode: {e}"), Some(Seq(seq)))
        })?;
        if entry.event.event.record.as_ref() != Some(record) {
            continue;
        }
        let step = Step {
            seq: entry.seq,
            recorded_at: entry.recorded_at,
            placement: entry.placement,
            prev_registry: entry.prev_registry,
            event: &entry.event.event,
        };
        record::apply(&mut scratch, &mut state, step);
    }
    Ok(state)
}

/// The stored state row of `record`, decoded (`None` without one).
pub(crate) fn stored_state(trees: &Trees, record: &RecordId) -> Result<Option<RecordState>> {
    match trees.get(T::Records, &record_state_key(record))? {
        Some(v) => Ok(Some(decode_canonical::<RecordState>(&v).map_err(|e| {
            StoreError::corrupt(
                format!("state of record {record} does not decode: {e}"),
                None,
            )
        })?)),
        None => Ok(None),
    }
}

/// Refuses unless the stored state row of `record` is the state its own entries below
/// `size` (the committed ones) give; returns that state. Reads only; writes nothing.
pub(crate) fn check_state_row(
    trees: &Trees,
    registry: &Registry,
    record: &RecordId,
    size: u64,
) -> Result<Option<RecordState>> {
    let stored = stored_state(trees, record)?;
    let rebuilt = rebuilt_state(trees, registry, record, size)?;
    let fields = match (&stored, &rebuilt) {
        (Some(s), Some(r)) => differing_fields(s, r),
        (None, None) => Vec::new(),
        (Some(_), None) => vec!["(a row for a record without entries)"],
        (None, Some(_)) => vec!["(the row is missing)"],
    };
    if fields.is_empty() {
        Ok(stored)
    } else {
        Err(StoreError::RecordStateRow {
            record: record.clone(),
            fields,
        })
    }
}

/// The names of the fields in which two states differ (names only: a row's values are
/// not reported, they may be what an insider planted).
fn differing_fields(a: &RecordState, b: &RecordState) -> Vec<&'static str> {
    // Destructured so that a field added to `RecordState` must be added here.
    let RecordState {
        opened_seq,
        opened_on,
        opened,
        service,
        latest_occurred_on,
        holds,
        kinds,
        ever_terminated,
        destroyed,
        entries,
        last_seq,
        last_service_or_contact_on,
        last_service_or_contact_seq,
        terminated_seq,
        first_service_on,
        first_disclosure_on,
        terminated_for_4_5,
    } = a;
    let mut out = Vec::new();
    let mut diff = |same: bool, name: &'static str| {
        if !same {
            out.push(name);
        }
    };
    diff(*opened_seq == b.opened_seq, "opened_seq");
    diff(*opened_on == b.opened_on, "opened_on");
    diff(*opened == b.opened, "opened");
    diff(*service == b.service, "service");
    diff(
        *latest_occurred_on == b.latest_occurred_on,
        "latest_occurred_on",
    );
    diff(*holds == b.holds, "holds");
    diff(*kinds == b.kinds, "kinds");
    diff(*ever_terminated == b.ever_terminated, "ever_terminated");
    diff(*destroyed == b.destroyed, "destroyed");
    diff(*entries == b.entries, "entries");
    diff(*last_seq == b.last_seq, "last_seq");
    diff(
        *last_service_or_contact_on == b.last_service_or_contact_on,
        "last_service_or_contact_on",
    );
    diff(
        *last_service_or_contact_seq == b.last_service_or_contact_seq,
        "last_service_or_contact_seq",
    );
    diff(*terminated_seq == b.terminated_seq, "terminated_seq");
    diff(*first_service_on == b.first_service_on, "first_service_on");
    diff(
        *first_disclosure_on == b.first_disclosure_on,
        "first_disclosure_on",
    );
    diff(
        *terminated_for_4_5 == b.terminated_for_4_5,
        "terminated_for_4_5",
    );
    out
}

/// The seqs of `record`'s entries, oldest first, found from its state row (`last_seq`,
/// `entries`) by following each entry's `placement.prev_in_record` back to the first.
/// Each entry read must be at its seq, of `record`, with the ordinal one less than the one
/// after it (the latest's is `entries`), and its pointer strictly back; the first has
/// ordinal 1 and no pointer. Anything else is a [`StoreError::Corrupt`] naming the seq
/// (an edited state row or entry): a read never returns another record's entry. Costs one
/// entry read per entry of the record, however long the ledger.
pub(crate) fn record_chain(
    b: &impl Backend,
    record: &RecordId,
    state: &RecordState,
) -> Result<Vec<Seq>> {
    let broken = |seq: Seq, why: &str| {
        StoreError::corrupt(
            format!("the chain of record {record}'s entries is broken: {why}"),
            Some(seq),
        )
    };
    // Bounded by the ordinals, which must fall by one per step; not preallocated from the
    // row's count, which may be what an insider wrote.
    let mut out = Vec::new();
    let mut at = Some(state.last_seq);
    let mut ordinal = state.entries;
    while let Some(seq) = at {
        if ordinal == 0 {
            return Err(broken(seq, "more entries than the record state counts"));
        }
        let bytes = b
            .get(T::Entries, &seq.to_be_bytes())?
            .ok_or_else(|| broken(seq, "the entry is missing"))?;
        let entry = Entry::from_bytes(bytes.as_ref())
            .map_err(|e| StoreError::corrupt(format!("entry does not decode: {e}"), Some(seq)))?;
        if entry.seq != seq {
            return Err(broken(seq, "the entry stored there names another seq"));
        }
        if entry.event.event.record.as_ref() != Some(record) {
            return Err(broken(seq, "the entry belongs to another record"));
        }
        let Some(p) = entry.placement else {
            return Err(broken(seq, "the entry has no placement"));
        };
        if p.ordinal != ordinal {
            return Err(broken(
                seq,
                &format!("its ordinal is {}, expected {ordinal}", p.ordinal),
            ));
        }
        if p.prev_in_record.is_some_and(|prev| prev >= seq) {
            return Err(broken(seq, "its previous entry is not an earlier one"));
        }
        out.push(seq);
        at = p.prev_in_record;
        ordinal -= 1;
    }
    if ordinal != 0 {
        return Err(broken(
            out.last().copied().unwrap_or(state.last_seq),
            "fewer entries than the record state counts",
        ));
    }
    out.reverse();
    Ok(out)
}
