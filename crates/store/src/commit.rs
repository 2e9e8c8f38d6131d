//! The write path: append and append_batch with group commit.
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
//!    ones into one reused buffer, and writes them all in ONE sled transaction, followed by
//!    one `flush` under [`Durability::Immediate`]. A refused event fails only its own caller
//!    and writes nothing.
//! 3. Followers wake with their own result. The head, compact range and registry live in
//!    memory and are persisted in each transaction; nothing just written is read back.
//!
//! If the signing key of an author changed between step 1 and the leader's check (a
//! revocation and re-enrolment in between), the leader verifies again with the current key.

use crate::error::{BatchError, Result, StoreError};
use crate::layout::*;
use crate::ledger::{Durability, Head, Ledger, Receipt, Trees};
use crate::sigs::KeyCache;
use crate::upper::UPPER_LEVEL;
use caseledger_core::encoding::{decode_canonical, encode_into};
use caseledger_core::event::{Entry, Event, EventKind, Payload, SignedEvent, FORMAT_VERSION};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::{Nonce, PublicKey, RecordId, Seq};
use caseledger_core::merkle::{CompactRange, NodeId, Sha256Hasher};
use caseledger_core::record::{self, History, RecordState, Registry, Step, Violation};
use caseledger_core::time::Timestamp;
use serde::Serialize;
use sled::Transactional;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Which tree an [`Op`] writes.
#[derive(Clone, Copy)]
enum T {
    Entries,
    Payloads,
    Nodes,
    Records,
    Nonces,
    Meta,
}

struct Op {
    tree: T,
    key: Range<usize>,
    val: Option<Range<usize>>,
}

/// A group's writes: keys and values encoded into one reused buffer.
#[derive(Default)]
pub(crate) struct Ops {
    buf: Vec<u8>,
    ops: Vec<Op>,
}

impl Ops {
    fn clear(&mut self) {
        if self.buf.capacity() > 64 << 20 {
            self.buf = Vec::new();
        }
        self.buf.clear();
        self.ops.clear();
    }
    fn key(&mut self, key: &[u8]) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(key);
        start..self.buf.len()
    }
    fn put(&mut self, tree: T, key: &[u8], val: &[u8]) {
        let key = self.key(key);
        let start = self.buf.len();
        self.buf.extend_from_slice(val);
        self.ops.push(Op {
            tree,
            key,
            val: Some(start..self.buf.len()),
        });
    }
    /// Puts a value encoded canonically straight into the buffer.
    fn put_encoded<V: Serialize>(&mut self, tree: T, key: &[u8], val: &V) -> Result<Range<usize>> {
        let mark = self.buf.len();
        let key = self.key(key);
        let start = self.buf.len();
        if let Err(e) = encode_into(val, &mut self.buf) {
            self.buf.truncate(mark);
            return Err(e.into());
        }
        let val = start..self.buf.len();
        self.ops.push(Op {
            tree,
            key,
            val: Some(val.clone()),
        });
        Ok(val)
    }
    fn remove(&mut self, tree: T, key: &[u8]) {
        let key = self.key(key);
        self.ops.push(Op {
            tree,
            key,
            val: None,
        });
    }
    fn slice(&self, r: &Range<usize>) -> &[u8] {
        self.buf.get(r.clone()).unwrap_or_default()
    }
}

/// The writer's in-memory state, guarded by the writer lock.
pub(crate) struct Writer {
    pub(crate) head: Head,
    pub(crate) range: CompactRange,
    pub(crate) registry: Registry,
    pub(crate) ops: Ops,
}

/// An event on its way into the ledger.
pub(crate) enum Incoming {
    /// A new event: the store assigns seq, prev and recorded_at.
    New {
        signed: SignedEvent,
        payload: Option<Payload>,
        /// The key its signature was verified with on the caller's thread.
        verified_with: Option<PublicKey>,
    },
    /// An archived entry: its bytes are kept exactly (import).
    Imported {
        bytes: Vec<u8>,
        entry: Entry,
        payload: Option<Payload>,
    },
}

struct Job {
    ticket: u64,
    item: Incoming,
}

#[derive(Default)]
pub(crate) struct Queue {
    pending: Vec<Job>,
    leader: bool,
    done: HashMap<u64, Result<Receipt>>,
    next_ticket: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The payload must match the event's commitment; both or neither.
fn check_payload(event: &Event, payload: Option<&Payload>) -> Result<()> {
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

/// A record's state during a group: loaded once, written once.
struct Slot {
    state: Option<RecordState>,
    dirty: bool,
    /// Seqs of this record appended earlier in the same group.
    batch_seqs: Vec<u64>,
}

/// The fold's view of history during a group: committed trees plus the group so far.
struct GroupHistory<'a> {
    trees: &'a Trees,
    committed: u64,
    nonces: &'a HashMap<Nonce, Seq>,
    seq_records: &'a HashMap<u64, Option<RecordId>>,
    error: RefCell<Option<StoreError>>,
}

impl GroupHistory<'_> {
    fn fail(&self, e: StoreError) {
        self.error.borrow_mut().get_or_insert(e);
    }
}

impl History for GroupHistory<'_> {
    fn record_of(&self, seq: Seq) -> Option<RecordId> {
        if let Some(r) = self.seq_records.get(&seq.0) {
            return r.clone();
        }
        if seq.0 >= self.committed {
            return None;
        }
        match self.trees.entries.get(seq.to_be_bytes()) {
            Ok(Some(bytes)) => match Entry::from_bytes(&bytes) {
                Ok(e) => e.event.event.record,
                Err(e) => {
                    self.fail(StoreError::corrupt(
                        format!("entry does not decode: {e}"),
                        Some(seq),
                    ));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.fail(e.into());
                None
            }
        }
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Option<Seq> {
        if let Some(s) = self.nonces.get(nonce) {
            return Some(*s);
        }
        match self.trees.nonces.get(nonce.0) {
            Ok(Some(v)) => match <[u8; 8]>::try_from(v.as_ref()) {
                Ok(b) => Some(Seq(u64::from_be_bytes(b))),
                Err(_) => {
                    self.fail(StoreError::corrupt("nonce row is not 8 bytes", None));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.fail(e.into());
                None
            }
        }
    }
}

/// A group being staged: the new state and its writes.
struct Stage<'a> {
    trees: &'a Trees,
    keys: &'a KeyCache,
    committed: u64,
    now: Timestamp,
    head: Head,
    range: CompactRange,
    registry: Registry,
    registry_changed: bool,
    genesis: bool,
    records: HashMap<RecordId, Slot>,
    nonces: HashMap<Nonce, Seq>,
    seq_records: HashMap<u64, Option<RecordId>>,
    ops: &'a mut Ops,
    accepted: u64,
    /// Merkle nodes of level >= `UPPER_LEVEL` staged in this group, for [`UpperNodes`](crate::upper::UpperNodes).
    upper: Vec<(NodeId, [u8; 32])>,
}

impl Stage<'_> {
    fn load_record(&mut self, rid: &RecordId) -> Result<()> {
        if self.records.contains_key(rid) {
            return Ok(());
        }
        let state = match self.trees.records.get(record_state_key(rid))? {
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
    fn stage(&mut self, item: Incoming) -> Result<Receipt> {
        let seq = Seq(self.head.size);
        if seq.next().is_none() {
            return Err(StoreError::Full);
        }
        let last = self.registry.last_recorded_at;
        // 1. Signature, and for archived entries their position in the chain.
        let (signed, payload, recorded_at, imported) = match item {
            Incoming::New {
                signed,
                payload,
                verified_with,
            } => {
                let want = self.registry.author_key(&signed.event);
                match want {
                    None => {
                        return Err(StoreError::Refused(Violation::UnknownAuthor(
                            signed.event.author.clone(),
                        )))
                    }
                    Some(k) if Some(k) != verified_with => self.keys.verify(&signed, &k)?,
                    Some(_) => {}
                }
                let recorded_at = last.map_or(self.now, |l| l.max(self.now));
                (signed, payload, recorded_at, None)
            }
            Incoming::Imported {
                bytes,
                entry,
                payload,
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
                self.keys.verify(&entry.event, &k)?;
                let ev = &entry.event.event;
                if payload.is_some() && ev.commitment != payload.as_ref().map(Payload::commitment) {
                    return Err(StoreError::PayloadMismatch {
                        expected: ev.commitment,
                        found: payload.as_ref().map(Payload::commitment),
                    });
                }
                (entry.event, payload, entry.recorded_at, Some(bytes))
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
        let step = Step {
            seq,
            recorded_at,
            event: ev,
        };
        {
            let hist = GroupHistory {
                trees: self.trees,
                committed: self.committed,
                nonces: &self.nonces,
                seq_records: &self.seq_records,
                error: RefCell::new(None),
            };
            let verdict = record::check(&self.registry, state, step, &hist);
            if let Some(e) = hist.error.into_inner() {
                return Err(e);
            }
            verdict.map_err(StoreError::Refused)?;
        }
        // 3. Fallible reads before any staging: a destruction's payload rows.
        let destroyed_seqs = match (&ev.kind, &ev.record) {
            (EventKind::Destruction { .. }, Some(rid)) => {
                let mut seqs = Vec::new();
                for row in self
                    .trees
                    .records
                    .scan_prefix(record_index_prefix(rid))
                    .keys()
                {
                    let k = row?;
                    let b = k
                        .get(k.len().saturating_sub(8)..)
                        .and_then(|s| <[u8; 8]>::try_from(s).ok())
                        .ok_or_else(|| {
                            StoreError::corrupt(format!("bad index row for record {rid}"), None)
                        })?;
                    seqs.push(u64::from_be_bytes(b));
                }
                if let Some(slot) = self.records.get(rid) {
                    seqs.extend_from_slice(&slot.batch_seqs);
                }
                seqs
            }
            _ => Vec::new(),
        };
        // 4. Encode the entry (the last fallible step).
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
        if let Some(p) = &payload {
            let mut v = Vec::with_capacity(32 + p.content().len());
            v.extend_from_slice(p.salt());
            v.extend_from_slice(p.content());
            self.ops.put(T::Payloads, &key, &v);
        }
        self.ops.put(T::Nonces, &nonce.0, &key);
        for (id, h) in nodes {
            self.ops.put(T::Nodes, &id.to_key(), &h);
            if id.level() >= UPPER_LEVEL {
                self.upper.push((id, h));
            }
        }
        for s in destroyed_seqs {
            self.ops.remove(T::Payloads, &s.to_be_bytes());
        }
        let step = Step {
            seq,
            recorded_at,
            event: &entry.event.event,
        };
        match &rid {
            Some(r) => {
                self.ops.put(T::Records, &record_index_key(r, seq.0), &[]);
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
        Ok(Receipt {
            seq,
            hash,
            recorded_at,
        })
    }

    /// Stages the rows written once per group: record states, meta.
    fn finish(&mut self) -> Result<()> {
        for (rid, slot) in &self.records {
            if let (true, Some(st)) = (slot.dirty, &slot.state) {
                self.ops
                    .put_encoded(T::Records, &record_state_key(rid), st)?;
            }
        }
        self.ops.put_encoded(T::Meta, META_HEAD, &self.head)?;
        self.ops
            .put_encoded(T::Meta, META_COMPACT_RANGE, &self.range)?;
        if self.registry_changed {
            let mut stored = self.registry.clone();
            stored.last_recorded_at = None;
            self.ops.put_encoded(T::Meta, META_REGISTRY, &stored)?;
        }
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

/// The result of staging a group.
struct Staged {
    head: Head,
    range: CompactRange,
    registry: Registry,
    registry_changed: bool,
    accepted: u64,
    upper: Vec<(NodeId, [u8; 32])>,
}

impl Ledger {
    /// Appends a signed event with its payload (the payload's commitment must be the event's
    /// commitment; give both or neither). Checks everything before writing anything: the
    /// author's signature, then `record::check` (enrolment, revocation, role, record state
    /// machine, amendments, holds, lawful destruction at the ledger date, replay). Returns
    /// once the entry is written (and flushed, under [`Durability::Immediate`]); concurrent
    /// callers share one transaction and one flush.
    pub fn append(&self, event: SignedEvent, payload: Option<Payload>) -> Result<Receipt> {
        check_payload(&event.event, payload.as_ref())?;
        let verified_with = self.verify_on_caller(&event)?;
        self.submit(Incoming::New {
            signed: event,
            payload,
            verified_with,
        })
    }

    /// Verifies with the published registry; `None` when the author is not (yet) known here
    /// (the leader judges it against the group's registry).
    fn verify_on_caller(&self, event: &SignedEvent) -> Result<Option<PublicKey>> {
        let key = {
            let p = self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            p.registry.author_key(&event.event)
        };
        match key {
            Some(k) => {
                self.keys.verify(event, &k)?;
                Ok(Some(k))
            }
            None => Ok(None),
        }
    }

    fn submit(&self, item: Incoming) -> Result<Receipt> {
        let mut q = lock(&self.queue);
        let ticket = q.next_ticket;
        q.next_ticket = q.next_ticket.wrapping_add(1);
        q.pending.push(Job { ticket, item });
        loop {
            if let Some(r) = q.done.remove(&ticket) {
                return r;
            }
            if !q.leader {
                q.leader = true;
                let jobs = std::mem::take(&mut q.pending);
                drop(q);
                let mut guard = LeaderGuard {
                    ledger: self,
                    tickets: jobs.iter().map(|j| j.ticket).collect(),
                };
                let results = self.commit_group(jobs);
                guard.tickets.clear();
                drop(guard);
                q = lock(&self.queue);
                q.done.extend(results);
                q.leader = false;
                self.cv.notify_all();
                continue;
            }
            q = self.cv.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn commit_group(&self, jobs: Vec<Job>) -> Vec<(u64, Result<Receipt>)> {
        let mut w = lock(&self.writer);
        let (tickets, items): (Vec<u64>, Vec<Incoming>) =
            jobs.into_iter().map(|j| (j.ticket, j.item)).unzip();
        let (staged, mut results) = match self.stage_all(&mut w, items, false) {
            Ok(x) => x,
            // Not reachable in group mode (refusals are per item); fail everyone safely.
            Err(e) => {
                return tickets
                    .into_iter()
                    .map(|t| (t, Err(e.error.duplicate())))
                    .collect();
            }
        };
        if let Some(staged) = staged {
            if let Err(e) = self.commit(&mut w, staged) {
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(e.duplicate());
                }
            }
        }
        tickets.into_iter().zip(results).collect()
    }

    /// Stages items in order. With `all_or_nothing`, the first refusal aborts the whole
    /// batch; otherwise each item gets its own result.
    #[allow(clippy::type_complexity)]
    fn stage_all(
        &self,
        w: &mut Writer,
        items: Vec<Incoming>,
        all_or_nothing: bool,
    ) -> Result<(Option<Staged>, Vec<Result<Receipt>>), BatchError> {
        w.ops.clear();
        let now = (self.clock)();
        let mut stage = Stage {
            trees: &self.trees,
            keys: &self.keys,
            committed: w.head.size,
            now,
            head: w.head,
            range: w.range.clone(),
            registry: w.registry.clone(),
            registry_changed: false,
            genesis: false,
            records: HashMap::new(),
            nonces: HashMap::new(),
            seq_records: HashMap::new(),
            ops: &mut w.ops,
            accepted: 0,
            upper: Vec::new(),
        };
        let mut results = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let r = stage.stage(item);
            if r.is_err() {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
            }
            match r {
                Err(error) if all_or_nothing => {
                    return Err(BatchError {
                        index: Some(index),
                        error,
                    })
                }
                r => results.push(r),
            }
        }
        if stage.accepted == 0 {
            return Ok((None, results));
        }
        if let Err(error) = stage.finish() {
            if all_or_nothing {
                return Err(BatchError { index: None, error });
            }
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(error.duplicate());
            }
            return Ok((None, results));
        }
        let staged = Staged {
            head: stage.head,
            range: stage.range,
            registry: stage.registry,
            registry_changed: stage.registry_changed,
            accepted: stage.accepted,
            upper: stage.upper,
        };
        Ok((Some(staged), results))
    }

    /// Writes a staged group in one transaction, publishes it, and flushes if Immediate.
    fn commit(&self, w: &mut Writer, staged: Staged) -> Result<()> {
        let ops = &w.ops;
        let t = &self.trees;
        (
            &t.entries,
            &t.payloads,
            &t.nodes,
            &t.records,
            &t.nonces,
            &t.meta,
        )
            .transaction(|(e, p, n, r, no, m)| {
                for op in &ops.ops {
                    let tree = match op.tree {
                        T::Entries => e,
                        T::Payloads => p,
                        T::Nodes => n,
                        T::Records => r,
                        T::Nonces => no,
                        T::Meta => m,
                    };
                    let key = ops.slice(&op.key);
                    match &op.val {
                        Some(v) => {
                            tree.insert(key, ops.slice(v))?;
                        }
                        None => {
                            tree.remove(key)?;
                        }
                    }
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<std::convert::Infallible>>(
                    (),
                )
            })?;
        // Committed: memory follows the database whatever happens next.
        self.upper.extend(&staged.upper);
        self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .appended
            .fetch_add(staged.accepted, Ordering::Relaxed);
        self.counters
            .largest_group
            .fetch_max(staged.accepted, Ordering::Relaxed);
        {
            let mut p = self
                .published
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            p.head = staged.head;
            p.range = staged.range.clone();
            if staged.registry_changed {
                p.registry = Arc::new(staged.registry.clone());
            }
        }
        w.head = staged.head;
        w.range = staged.range;
        w.registry = staged.registry;
        w.ops.clear();
        if self.durability == Durability::Immediate {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends a batch all or nothing, in one transaction (for import and bulk loads): the
    /// first refused item aborts the batch, reported with its index, and nothing is written.
    /// Each item is judged with the effects of the earlier ones.
    pub fn append_batch(
        &self,
        items: Vec<(SignedEvent, Option<Payload>)>,
    ) -> Result<Vec<Receipt>, BatchError> {
        // Signatures first, in parallel, against the published registry (as `append` does
        // on its caller's thread); then, in order, the first failing item is reported.
        let keys: Vec<Option<PublicKey>> = {
            let p = self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            items
                .iter()
                .map(|(event, _)| p.registry.author_key(&event.event))
                .collect()
        };
        let payload_ok: Vec<Result<()>> = items
            .iter()
            .map(|(event, payload)| check_payload(&event.event, payload.as_ref()))
            .collect();
        // An item refused for its payload never gets its signature checked.
        let jobs: Vec<(&SignedEvent, Option<PublicKey>)> = items
            .iter()
            .zip(&keys)
            .zip(&payload_ok)
            .map(|(((event, _), key), ok)| (event, key.filter(|_| ok.is_ok())))
            .collect();
        let verdicts = self.keys.verify_many(&jobs);
        drop(jobs);
        let mut incoming = Vec::with_capacity(items.len());
        for (index, ((((event, payload), verified_with), payload_ok), verdict)) in items
            .into_iter()
            .zip(keys)
            .zip(payload_ok)
            .zip(verdicts)
            .enumerate()
        {
            let at = |error| BatchError {
                index: Some(index),
                error,
            };
            payload_ok.map_err(at)?;
            verdict.map_err(at)?;
            incoming.push(Incoming::New {
                signed: event,
                payload,
                verified_with,
            });
        }
        self.write_batch(incoming)
    }

    /// Stages and commits items all or nothing under the writer lock.
    pub(crate) fn write_batch(&self, items: Vec<Incoming>) -> Result<Vec<Receipt>, BatchError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = lock(&self.writer);
        let (staged, results) = self.stage_all(&mut w, items, true)?;
        if let Some(staged) = staged {
            self.commit(&mut w, staged)
                .map_err(|error| BatchError { index: None, error })?;
        }
        results
            .into_iter()
            .collect::<Result<Vec<_>>>()
            .map_err(|error| BatchError { index: None, error })
    }
}

/// Hands leadership back if the leader unwinds mid-group (a bug in a dependency): its
/// followers get an error instead of waiting forever.
struct LeaderGuard<'a> {
    ledger: &'a Ledger,
    tickets: Vec<u64>,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.tickets.is_empty() {
            return;
        }
        let mut q = lock(&self.ledger.queue);
        for t in self.tickets.drain(..) {
            q.done.insert(
                t,
                Err(StoreError::Internal("the group commit leader failed")),
            );
        }
        q.leader = false;
        self.ledger.cv.notify_all();
    }
}
