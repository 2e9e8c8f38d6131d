//! The group-commit machinery the write path drives: the queue of waiting appenders, the
//! writer state, and staging a group (judging each event with `record::check` against an
//! in-memory overlay, encoding it, collecting the sled operations). No `Ledger` here: the
//! `append` methods that drive it are in `commit.rs`.
//!
//! # Write path
//!
//! 1. On the caller's thread: the payload must match the event's commitment (both or
//!    neither), and the author's signature is verified with the author's key in the
//!    published registry (in parallel across callers).
//! 2. The caller queues its event. The first queued caller that finds no leader becomes the
//!    leader: it takes everything queued, and under the writer lock judges each event in
//!    order with `record::check` (each sees the effects of the earlier ones, through an
//!    in-memory overlay of registry, record states, nonces and seqs), encodes the accepted
//!    ones into one reused buffer, and writes them all and the group's seal (the checkpoint
//!    of the new head signed by the ledger key) in ONE sled transaction. A refused event
//!    fails only its own caller and writes nothing.
//! 3. The leader hands leadership on as soon as the transaction is committed (the next
//!    group is judged and committed meanwhile: a pipeline), then, under
//!    [`Durability::Immediate`], makes the group durable: one sled `flush`, then one append +
//!    fsync to `checkpoints.log` of every seal committed before that flush began and not yet
//!    logged. Flushes of successive groups overlap (sled's fsync of one group with the log's
//!    of the one before), and a log fsync may cover several groups' seals.
//! 4. Followers wake with their own result, only after step 3: an acknowledged append is
//!    durable in sled and its seal in the log. The head, compact range and registry live in
//!    memory and are persisted in each transaction; nothing just written is read back.
//!
//! If the signing key of an author changed between step 1 and the leader's check (a
//! revocation and re-enrolment in between), the leader verifies again with the current key.

use crate::backend::{Backend, Ops, T};
use crate::error::{Result, StoreError};
use crate::keystore::Content;
use crate::layout::*;
use crate::requests::RequestRow;
use crate::sigs::KeyCache;
use crate::types::{Head, Receipt, Trees};
use crate::upper::UPPER_LEVEL;
use caseledger_core::archive::MAX_PAYLOAD;
use caseledger_core::encoding::decode_canonical;
use caseledger_core::event::{
    ContentSeal, Entry, Event, EventKind, Payload, ShortText, SignedEvent, FORMAT_VERSION,
};
use caseledger_core::hash::{ciphertext_digest, entry_hash, merkle_leaf};
use caseledger_core::ids::{Nonce, PublicKey, RecordId, Seq};
use caseledger_core::merkle::{CompactRange, Hash, NodeId, Sha256Hasher};
use caseledger_core::record::{self, CheckError, History, RecordState, Registry, Step, Violation};
use caseledger_core::time::Timestamp;
use std::collections::HashMap;

/// The writer's in-memory state, guarded by the writer lock.
pub(crate) struct Writer {
    pub(crate) head: Head,
    pub(crate) range: CompactRange,
    pub(crate) registry: Registry,
    pub(crate) ops: Ops,
    /// The newest checkpoint in the `checkpoints` tree: (size, anchored). The next seal
    /// replaces it there unless it is anchored.
    pub(crate) newest_seal: Option<(u64, bool)>,
}

/// An event on its way into the ledger.
pub(crate) enum Incoming {
    /// A new event: the store assigns seq, prev and recorded_at.
    New {
        signed: SignedEvent,
        payload: Option<Payload>,
        /// The key its signature was verified with on the caller's thread.
        verified_with: Option<PublicKey>,
        /// Its idempotency row, stored with the entry in the same transaction.
        request: Option<Row>,
    },
    /// An archived entry: its bytes are kept exactly (import), with its stored (encrypted)
    /// payload, which must match the entry's content seal.
    Imported {
        bytes: Vec<u8>,
        entry: Entry,
        stored: Option<Vec<u8>>,
    },
}

/// An item's idempotency row: made by the caller (a batch's, `Ledger::request_rows`: a file
/// import's line key, or a client event id with its request hash), or a client event id
/// whose row the leader makes as it stages the item (`Stage::id_row`, under the content
/// lock it holds then: what a lone keyed append gives, so that its caller takes no lock a
/// staging group holds).
pub(crate) enum Row {
    Made(RequestRow),
    Id(Box<(crate::EventId, crate::RequestDigest)>),
}

pub(crate) struct Job {
    pub(crate) ticket: u64,
    pub(crate) item: Incoming,
}

/// How a job submitted without blocking ([`crate::Ledger::submit_append`]) is answered: called
/// once, on the thread that finished its group, after the group is durable, with the
/// job's result and whether it was answered as a repeat of a client event id staged
/// earlier in its group.
pub(crate) type Callback = Box<dyn FnOnce(Result<Receipt>, bool) + Send>;

/// A callback and what it is to be called with: called once the queue lock is let go
/// (it may wake another thread, which should not find the lock held).
pub(crate) struct Answer(Callback, Result<Receipt>, bool);

impl Answer {
    pub(crate) fn call(self) {
        (self.0)(self.1, self.2);
    }
}

#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) pending: Vec<Job>,
    pub(crate) leader: bool,
    pub(crate) done: HashMap<u64, Result<Receipt>>,
    /// Answered tickets whose job was a repeat of a client event id staged earlier in its
    /// group: taken with the ticket's result.
    pub(crate) replayed: std::collections::HashSet<u64>,
    pub(crate) next_ticket: u64,
    /// The parked thread waiting on each ticket: a finished group wakes its own callers
    /// only, and a hand-over one caller of a queued job (not every waiter, which under
    /// load costs more CPU than the group's seal).
    pub(crate) waiters: HashMap<u64, std::thread::Thread>,
    /// The callback of each ticket submitted without blocking (no thread waits for it).
    pub(crate) callbacks: HashMap<u64, Callback>,
    /// A [`crate::Ledger::lead`] has been asked of the summoner and has not started yet.
    // INVARIANT: while `summoned` is true, a `lead` call is on its way (it clears the flag
    // first thing, under this lock), so a queued job with no thread of its own is led.
    pub(crate) summoned: bool,
    /// Threads unparked: one per answered caller that was parked, plus one per hand-over.
    pub(crate) wakeups: u64,
}

impl Queue {
    /// Records a ticket's result and wakes its caller (unless it is the leader itself, which
    /// is awake and no longer registered). Its registration goes with the wake-up, so it is
    /// never woken twice. A ticket submitted without blocking is answered by its callback
    /// instead, returned here to be called once the lock is let go.
    #[must_use]
    pub(crate) fn finish(&mut self, ticket: u64, result: Result<Receipt>) -> Option<Answer> {
        if let Some(cb) = self.callbacks.remove(&ticket) {
            let repeat = self.replayed.remove(&ticket);
            return Some(Answer(cb, result, repeat));
        }
        if let Some(t) = self.waiters.remove(&ticket) {
            t.unpark();
            self.wakeups += 1;
        }
        self.done.insert(ticket, result);
        None
    }

    /// Passes the lead on, called once by whoever lets go of it while jobs are queued:
    /// wakes the caller of the oldest queued job, to lead it. Every blocking caller whose
    /// job is queued is registered (it registered under the lock it queued under, and stays
    /// registered until answered), and a new caller that finds no leader leads at once, so
    /// one wake-up per hand-over loses no job. A job submitted without blocking has no
    /// thread to wake: then `true`, and the caller, once it lets go of the lock, asks the
    /// summoner for a [`crate::Ledger::lead`] (unless one is already on its way).
    #[must_use]
    pub(crate) fn hand_over(&mut self) -> bool {
        let Some(first) = self.pending.first() else {
            return false;
        };
        if let Some(t) = self.waiters.get(&first.ticket) {
            t.unpark();
            self.wakeups += 1;
            return false;
        }
        if self.summoned {
            return false;
        }
        self.summoned = true;
        true
    }
}

pub(crate) use crate::types::lock;

/// The payload must match the event's commitment; both or neither. Its size is checked
/// first (no hashing of an oversized payload).
pub(crate) fn check_payload(event: &Event, payload: Option<&Payload>) -> Result<()> {
    check_payload_size(payload)?;
    let found = payload.map(Payload::commitment);
    if event.commitment == found {
        Ok(())
    } else {
        Err(StoreError::PayloadMismatch {
            expected: event.commitment,
            found,
        })
    }
}

/// A payload is at most [`MAX_PAYLOAD`] bytes: the most one archive frame carries (the
/// same constant bounds the archive reader, so import accepts exactly what append does).
pub(crate) fn check_payload_size(payload: Option<&Payload>) -> Result<()> {
    let size = payload.map_or(0, |p| p.content().len() as u64);
    if size > MAX_PAYLOAD {
        return Err(StoreError::PayloadTooLarge {
            size,
            limit: MAX_PAYLOAD,
        });
    }
    Ok(())
}

/// A payload on its way in: plaintext from an author, or stored bytes from an archive with
/// the entry's content seal.
pub(crate) enum Either {
    Plain(Payload),
    Stored(Vec<u8>, Option<ContentSeal>),
}

/// A record's state during a group: loaded once, written once.
pub(crate) struct Slot {
    pub(crate) state: Option<RecordState>,
    pub(crate) dirty: bool,
    /// Seqs of this record appended earlier in the same group.
    pub(crate) batch_seqs: Vec<u64>,
}

/// The fold's view of history during a group: committed trees plus the group so far.
pub(crate) struct GroupHistory<'a> {
    pub(crate) trees: &'a Trees,
    pub(crate) committed: u64,
    pub(crate) nonces: &'a HashMap<Nonce, Seq>,
    pub(crate) seq_records: &'a HashMap<u64, Option<RecordId>>,
}

impl History for GroupHistory<'_> {
    type Error = StoreError;
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>> {
        if let Some(r) = self.seq_records.get(&seq.0) {
            return Ok(r.clone());
        }
        if seq.0 >= self.committed {
            return Ok(None);
        }
        let Some(bytes) = self.trees.get(T::Entries, &seq.to_be_bytes())? else {
            return Ok(None);
        };
        let entry = Entry::from_bytes(&bytes)
            .map_err(|e| StoreError::corrupt(format!("entry does not decode: {e}"), Some(seq)))?;
        Ok(entry.event.event.record)
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>> {
        if let Some(s) = self.nonces.get(nonce) {
            return Ok(Some(*s));
        }
        let Some(v) = crate::backend::Backend::get(self.trees, T::Nonces, &nonce.0)? else {
            return Ok(None);
        };
        let b = <[u8; 8]>::try_from(v.as_ref())
            .map_err(|_| StoreError::corrupt("nonce row is not 8 bytes", None))?;
        Ok(Some(Seq(u64::from_be_bytes(b))))
    }
}

/// A group being staged: the new state and its writes.
pub(crate) struct Stage<'a> {
    pub(crate) trees: &'a Trees,
    pub(crate) keys: &'a KeyCache,
    pub(crate) content: &'a mut Content,
    /// Judge only: no payload is encrypted and nothing will be committed.
    pub(crate) dry_run: bool,
    /// Records destroyed in this group: their key store slots are erased after it commits.
    pub(crate) destroyed: Vec<RecordId>,
    pub(crate) committed: u64,
    pub(crate) now: Timestamp,
    pub(crate) head: Head,
    pub(crate) range: CompactRange,
    pub(crate) registry: Registry,
    pub(crate) registry_changed: bool,
    pub(crate) genesis: bool,
    pub(crate) records: HashMap<RecordId, Slot>,
    pub(crate) nonces: HashMap<Nonce, Seq>,
    pub(crate) seq_records: HashMap<u64, Option<RecordId>>,
    /// Client event id rows staged earlier in this group (row key -> request hash and
    /// receipt): a second job with the same id is judged against these as well as against
    /// the committed rows, under the writer lock, so a race between two callers with one id
    /// never writes two entries.
    pub(crate) id_rows: HashMap<[u8; 33], ([u8; 32], Receipt)>,
    /// The item just staged was a repeat of an id staged earlier in the group (same
    /// content): it was answered with that item's receipt and staged nothing.
    pub(crate) repeat: bool,
    pub(crate) ops: &'a mut Ops,
    pub(crate) accepted: u64,
    /// Merkle nodes of level >= `UPPER_LEVEL` staged in this group, for [`UpperNodes`](crate::upper::UpperNodes).
    pub(crate) upper: Vec<(NodeId, Hash)>,
    /// Merkle nodes of tree levels `8·L` completed in this group: its `tiles` rows.
    pub(crate) tile_nodes: Vec<(NodeId, Hash)>,
}

impl Stage<'_> {
    pub(crate) fn load_record(&mut self, rid: &RecordId) -> Result<()> {
        if self.records.contains_key(rid) {
            return Ok(());
        }
        let state = match self.trees.get(T::Records, &record_state_key(rid))? {
            Some(v) => Some(decode_canonical::<RecordState>(&v).map_err(|e| {
                StoreError::corrupt(format!("state of record {rid} does not decode: {e}"), None)
            })?),
            None => None,
        };
        self.records.insert(
            rid.clone(),
            Slot {
                state,
                dirty: false,
                batch_seqs: Vec::new(),
            },
        );
        Ok(())
    }

    /// Judges one item and, if accepted, stages its writes. A refusal changes nothing.
    pub(crate) fn stage(&mut self, item: Incoming) -> Result<Receipt> {
        let seq = Seq(self.head.size);
        if seq.next().is_none() {
            return Err(StoreError::Full);
        }
        let last = self.registry.last_recorded_at;
        let origin_owned = self.registry.origin.clone();
        let origin = origin_owned.as_ref().map(ShortText::as_str);
        // For archived entries: their placement as stored (the fold judges it).
        let mut imported_placement = None;
        let mut imported_prev_registry = None;
        let mut request: Option<RequestRow> = None;
        // 1. Signature, and for archived entries their position in the chain.
        let (signed, payload, recorded_at, imported) = match item {
            Incoming::New {
                signed,
                payload,
                verified_with,
                request: row,
            } => {
                let want = self.registry.author_key(&signed.event);
                match want {
                    None => {
                        return Err(StoreError::Refused(Violation::UnknownAuthor(
                            signed.event.author.clone(),
                        )))
                    }
                    Some(k) if Some(k) != verified_with => self.keys.verify(&signed, origin, &k)?,
                    Some(_) => {}
                }
                let req = match row {
                    Some(Row::Id(id)) => Some(self.id_row(&signed, &id.0, &id.1)?),
                    Some(Row::Made(row)) => Some(row),
                    None => None,
                };
                if let Some(r) = self.judge_id_row(req.as_ref())? {
                    self.repeat = true;
                    return Ok(r);
                }
                request = req;
                let recorded_at = self.ledger_clock(last, &signed.event)?;
                (signed, payload.map(Either::Plain), recorded_at, None)
            }
            Incoming::Imported {
                bytes,
                entry,
                stored,
            } => {
                if entry.seq != seq {
                    return Err(StoreError::corrupt(
                        format!("archived entry carries seq {}, expected {seq}", entry.seq),
                        Some(seq),
                    ));
                }
                if entry.prev != self.head.last_hash {
                    return Err(StoreError::corrupt(
                        "archived entry's prev is not the previous entry's hash (chain break)",
                        Some(seq),
                    ));
                }
                let Some(k) = self.registry.author_key(&entry.event.event) else {
                    return Err(StoreError::Refused(Violation::UnknownAuthor(
                        entry.event.event.author.clone(),
                    )));
                };
                self.keys.verify(&entry.event, origin, &k)?;
                let found = stored.as_deref().map(ciphertext_digest);
                if stored.is_some() && found != entry.content.map(|c| c.ciphertext) {
                    return Err(StoreError::corrupt(
                        "archived payload does not match the entry's content seal",
                        Some(seq),
                    ));
                }
                imported_placement = Some(entry.placement);
                imported_prev_registry = Some(entry.prev_registry);
                (
                    entry.event,
                    stored.map(|s| Either::Stored(s, entry.content)),
                    entry.recorded_at,
                    Some(bytes),
                )
            }
        };
        let ev = &signed.event;
        // 2. The record state machine, roles, clock, replay.
        if let Some(rid) = &ev.record {
            self.load_record(rid)?;
        }
        let state = ev
            .record
            .as_ref()
            .and_then(|r| self.records.get(r))
            .and_then(|s| s.state.as_ref());
        let placement = imported_placement
            .unwrap_or_else(|| record::expected_placement(ev.record.is_some(), state));
        // Assigned from the in-memory registry (rebuilt from the sealed chain at open);
        // an archived entry's own pointer is checked against it.
        let prev_registry = imported_prev_registry.unwrap_or(self.registry.last_change);
        let step = Step {
            seq,
            recorded_at,
            placement,
            prev_registry,
            event: ev,
        };
        record::check_prev_registry(&self.registry, step).map_err(StoreError::Refused)?;
        // A destruction cannot be undone: it is judged only if the record's stored state
        // row is what the record's own entries give (an edited row must not clear a hold).
        // Archived entries are re-judged from the rows this import built itself.
        // The committed state the check confirmed: where the record's chain of entries
        // starts for the destruction's payload removal below.
        let mut committed_state = None;
        if let (EventKind::Destruction { .. }, Some(rid), true) =
            (&ev.kind, &ev.record, imported_placement.is_none())
        {
            committed_state = Some(crate::rebuild::check_state_row(
                self.trees,
                &self.registry,
                rid,
                self.committed,
            )?);
        }
        let hist = GroupHistory {
            trees: self.trees,
            committed: self.committed,
            nonces: &self.nonces,
            seq_records: &self.seq_records,
        };
        record::try_check(&self.registry, state, step, &hist).map_err(|e| match e {
            CheckError::Violation(v) => StoreError::Refused(v),
            CheckError::History(e) => e,
        })?;
        // 3. Fallible reads before any staging: a destruction's payload rows.
        let destroyed_seqs = match (&ev.kind, &ev.record) {
            (EventKind::Destruction { .. }, Some(rid)) => {
                // The record's committed entries, along the chain of `prev_in_record`
                // pointers in their own bytes from the latest one the committed state row
                // names (checked against the entries above; an import's rows are its own):
                // every step is checked to be the record's, so no other record's payload is
                // removed, and a broken chain refuses the destruction.
                let state = match committed_state {
                    Some(st) => st,
                    None => crate::rebuild::stored_state(self.trees, rid)?,
                };
                let mut seqs: Vec<u64> = match &state {
                    Some(st) => crate::rebuild::record_chain(self.trees, rid, st)?
                        .into_iter()
                        .map(|s| s.0)
                        .collect(),
                    None => Vec::new(),
                };
                if let Some(slot) = self.records.get(rid) {
                    seqs.extend_from_slice(&slot.batch_seqs);
                }
                seqs
            }
            _ => Vec::new(),
        };
        // 4. Encrypt the payload (its record's key slot is made durable first), then encode
        // the entry (the last fallible step).
        let (stored, content): (Option<Vec<u8>>, Option<ContentSeal>) = match (payload, &ev.record)
        {
            (None, _) => (None, None),
            (Some(Either::Stored(bytes, seal)), _) => (Some(bytes), seal),
            (Some(Either::Plain(p)), Some(rid)) if !self.dry_run => {
                let origin = origin.ok_or(StoreError::NoContentKey)?;
                let (bytes, seal) = self.content.seal(origin, rid, seq, &p)?;
                (Some(bytes), Some(seal))
            }
            // A dry run judges without encrypting (nothing is committed, no key slot made).
            (Some(Either::Plain(_)), Some(_)) => (None, None),
            (Some(Either::Plain(_)), None) => {
                return Err(StoreError::Refused(Violation::Shape(
                    "administration events carry no payload".into(),
                )))
            }
        };
        let mark = (self.ops.buf.len(), self.ops.ops.len());
        let nonce = ev.nonce;
        let rid = ev.record.clone();
        let admin = !ev.kind.kind().has_record();
        let genesis = matches!(ev.kind, EventKind::Genesis { .. });
        let key = seq.to_be_bytes();
        let (entry_range, entry) = match imported {
            Some(bytes) => {
                self.ops.put(T::Entries, &key, &bytes);
                let r = self
                    .ops
                    .ops
                    .last()
                    .and_then(|o| o.val.clone())
                    .unwrap_or_default();
                (
                    r,
                    Entry {
                        format_version: FORMAT_VERSION,
                        seq,
                        prev: self.head.last_hash,
                        recorded_at,
                        placement,
                        prev_registry,
                        content,
                        event: signed,
                    },
                )
            }
            None => {
                let entry = Entry {
                    format_version: FORMAT_VERSION,
                    seq,
                    prev: self.head.last_hash,
                    recorded_at,
                    placement,
                    prev_registry,
                    content,
                    event: signed,
                };
                (self.ops.put_encoded(T::Entries, &key, &entry)?, entry)
            }
        };
        let hash = entry_hash(self.ops.slice(&entry_range));
        let nodes = match self.range.append(&Sha256Hasher, merkle_leaf(&hash)) {
            Ok(n) => n,
            Err(_) => {
                self.ops.buf.truncate(mark.0);
                self.ops.ops.truncate(mark.1);
                return Err(StoreError::Full);
            }
        };
        // 5. Stage everything else (infallible from here).
        if let Some(v) = &stored {
            self.ops.put(T::Payloads, &key, v);
        }
        self.ops.put(T::Nonces, &nonce.0, &key);
        let id_row = request.as_ref().and_then(|r| r.hash.map(|h| (r.key, h)));
        if let Some(r) = request {
            self.ops.put(T::Nonces, &r.key, &r.value(&key));
        }
        // Only nodes of tree levels 8·L are stored, as tiles, once per group (`finish`);
        // the levels between are hashed from them by readers.
        for (id, h) in nodes {
            if id.level() % 8 == 0 {
                self.tile_nodes.push((id, h));
            }
            if id.level() >= UPPER_LEVEL {
                self.upper.push((id, h));
            }
        }
        for s in destroyed_seqs {
            self.ops.remove(T::Payloads, &s.to_be_bytes());
        }
        if let (EventKind::Destruction { .. }, Some(r)) = (&entry.event.event.kind, &rid) {
            self.destroyed.push(r.clone());
        }
        let step = Step {
            seq,
            recorded_at,
            placement,
            prev_registry,
            event: &entry.event.event,
        };
        match &rid {
            // No index row: a record's entries are found along their placement chain
            // from its state row (docs/FORMAT.md §6).
            Some(r) => {
                if let Some(slot) = self.records.get_mut(r) {
                    record::apply(&mut self.registry, &mut slot.state, step);
                    slot.dirty = true;
                    slot.batch_seqs.push(seq.0);
                }
            }
            None => {
                let mut none = None;
                record::apply(&mut self.registry, &mut none, step);
            }
        }
        self.registry_changed |= admin;
        self.genesis |= genesis;
        self.nonces.insert(nonce, seq);
        self.seq_records.insert(seq.0, rid);
        self.head = Head {
            size: seq.0 + 1,
            last_hash: hash,
            last_recorded_at: recorded_at,
        };
        self.accepted += 1;
        let receipt = Receipt {
            seq,
            hash,
            recorded_at,
            // Set by the commit, which seals the whole group.
            seal: None,
        };
        if let Some((k, h)) = id_row {
            self.id_rows.insert(k, (h, receipt.clone()));
        }
        Ok(receipt)
    }

    /// A client event id's row, made by the leader (`Incoming::New::id`), as
    /// `Ledger::request_rows` makes it on a caller's thread.
    fn id_row(
        &mut self,
        signed: &SignedEvent,
        id: &crate::EventId,
        digest: &crate::RequestDigest,
    ) -> Result<RequestRow> {
        let record = signed
            .event
            .record
            .as_ref()
            .ok_or(StoreError::EventIdWithoutRecord)?;
        let key = id.row(self.content.kek.as_ref().ok_or(StoreError::NoContentKey)?);
        let origin = self
            .registry
            .origin
            .as_ref()
            .ok_or(StoreError::NoContentKey)?;
        let hash = self
            .content
            .id_request_hash(origin.as_str(), record, digest)?;
        Ok(RequestRow {
            key,
            hash: Some(hash),
        })
    }

    /// Judges a client event id row under the writer lock, before anything is staged: an
    /// id staged earlier in this group with the same request hash is a repeat (its receipt,
    /// `Some`); with another hash, or an id already committed, the item is refused with
    /// [`StoreError::EventIdRecorded`] (the caller judges a committed id again with
    /// [`Ledger::event_id_seen`](crate::Ledger::event_id_seen), which finds its seal).
    /// A file import's line key (no hash) is not judged here: import looks its keys up first.
    fn judge_id_row(&self, req: Option<&RequestRow>) -> Result<Option<Receipt>> {
        let Some((key, hash)) = req.and_then(|r| r.hash.map(|h| (r.key, h))) else {
            return Ok(None);
        };
        if let Some((staged, receipt)) = self.id_rows.get(&key) {
            if *staged == hash {
                return Ok(Some(receipt.clone()));
            }
            return Err(StoreError::EventIdRecorded { seq: receipt.seq });
        }
        if let Some(v) = crate::backend::Backend::get(self.trees, T::Nonces, &key)? {
            let seq = crate::requests::decode_id_row(&v).map_or(0, |(s, _)| s);
            return Err(StoreError::EventIdRecorded { seq: Seq(seq) });
        }
        Ok(None)
    }

    /// The ledger clock for a new event: the system clock, never behind the last entry. A
    /// step back within the genesis skew is clamped (an NTP correction); a larger one refuses
    /// every append but `clock_corrected`, which is stamped with the clock as it is.
    fn ledger_clock(&self, last: Option<Timestamp>, ev: &Event) -> Result<Timestamp> {
        let Some(last) = last else {
            return Ok(self.now);
        };
        if self.now >= last || matches!(ev.kind, EventKind::ClockCorrected { .. }) {
            return Ok(self.now);
        }
        let skew = self.registry.settings.clock_skew_secs;
        let behind = last.micros().saturating_sub(self.now.micros());
        if behind <= i64::from(skew) * 1_000_000 {
            Ok(last)
        } else {
            Err(StoreError::ClockBehind {
                behind_secs: behind / 1_000_000,
                last,
                skew_secs: skew,
            })
        }
    }

    /// Stages the rows written once per group: Merkle tiles, record states, meta.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let trees = self.trees;
        crate::tilerows::stage_rows(
            |k| crate::backend::Backend::get(trees, T::Tiles, k),
            self.ops,
            &self.tile_nodes,
        )?;
        for (rid, slot) in &self.records {
            if let (true, Some(st)) = (slot.dirty, &slot.state) {
                self.ops
                    .put_encoded(T::Records, &record_state_key(rid), st)?;
            }
        }
        self.ops.put_encoded(T::Meta, META_HEAD, &self.head)?;
        self.ops
            .put_encoded(T::Meta, META_COMPACT_RANGE, &self.range)?;
        // No registry row: the registry is rebuilt at open from the sealed chain of
        // `prev_registry` pointers (a row could be rolled back; docs/FORMAT.md §6).
        if self.genesis {
            self.ops
                .put_encoded(T::Meta, META_FORMAT_VERSION, &FORMAT_VERSION)?;
            let origin = self
                .registry
                .origin
                .as_ref()
                .map(|o| o.as_str().as_bytes().to_vec())
                .unwrap_or_default();
            self.ops.put(T::Meta, META_ORIGIN, &origin);
            let key = self.registry.ledger_key.map(|k| k.0).unwrap_or_default();
            self.ops.put(T::Meta, META_LEDGER_KEY, &key);
        }
        Ok(())
    }
}
