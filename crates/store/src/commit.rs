//! The write path: `append` and `append_batch` with group commit (see `group.rs` for the
//! machinery, and its module docs for the steps).

use crate::backend::{Backend, T};
use crate::checkpoints::sign_seal;
use crate::error::{BatchError, Result, StoreError};
use crate::group::*;
use crate::ledger::Ledger;
use crate::types::{Durability, Head, KeyedReceipt, Receipt, Seal};
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_core::ids::{PublicKey, Seq};
use caseledger_core::merkle::{CompactRange, Hash, NodeId, Sha256Hasher};
use caseledger_core::record::Registry;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};

/// The result of staging a group.
struct Staged {
    /// The group holds appended (not imported) entries: it is sealed.
    seal: bool,
    head: Head,
    range: CompactRange,
    registry: Registry,
    registry_changed: bool,
    accepted: u64,
    upper: Vec<(NodeId, Hash)>,
    /// Records destroyed in the group: their key store slots are erased once it commits.
    destroyed: Vec<caseledger_core::ids::RecordId>,
    /// Indices of items answered as repeats of a client event id staged earlier in the
    /// group (their receipt is that item's; nothing of theirs is written).
    repeats: Vec<usize>,
}

impl Ledger {
    /// Appends a signed event with its payload (the payload's commitment must be the event's
    /// commitment; give both or neither). Checks everything before writing anything: the
    /// author's signature, then `record::check` (enrolment, revocation, role, record state
    /// machine, amendments, holds, lawful destruction at the ledger date, replay). Returns
    /// once the entry is written (and flushed, under [`Durability::Immediate`]); concurrent
    /// callers share one transaction and one flush.
    pub fn append(&self, event: SignedEvent, payload: Option<Payload>) -> Result<Receipt> {
        let incoming = self.new_incoming(event, payload, None)?;
        self.submit(incoming)
    }

    /// [`Ledger::append`] with a client event id (docs/FORMAT.md §3): joins the group commit
    /// like `append`, the id's row written in the entry's transaction. The id is judged
    /// under the writer lock against the committed rows and the ids staged earlier in the
    /// same group: the same id with the same request (`request` digest, keyed by the
    /// record's key) is answered with the original receipt and appends nothing
    /// (`replayed`); with other content, or in a destroyed record, it is refused with
    /// [`StoreError::EventIdRecorded`] and nothing is written. A refusal of one job never
    /// fails the others of its group.
    pub fn append_keyed(
        &self,
        event: SignedEvent,
        payload: Option<Payload>,
        id: &crate::EventId,
        request: crate::RequestDigest,
    ) -> Result<KeyedReceipt> {
        let incoming = self.new_incoming(event, payload, Some((id, request)))?;
        match self.submit_job(incoming) {
            (Ok(receipt), replayed) => Ok(KeyedReceipt { receipt, replayed }),
            // Recorded by an earlier group: its original receipt, with the seal of the
            // commit that wrote it, if the content is the same.
            (Err(StoreError::EventIdRecorded { seq }), _) => {
                self.recorded_receipt(id, &request, seq)
            }
            (Err(e), _) => Err(e),
        }
    }

    /// The caller's side of a new event with or without a client event id: sealing, the
    /// payload's commitment, the author's signature, an id's record. The id's row is made
    /// and judged by the leader as it stages the job (under the content lock it holds
    /// then): the caller reads nothing of the store and takes no lock a staging group holds.
    fn new_incoming(
        &self,
        event: SignedEvent,
        payload: Option<Payload>,
        id: Option<(&crate::EventId, crate::RequestDigest)>,
    ) -> Result<Incoming> {
        self.check_sealing()?;
        check_payload(&event.event, payload.as_ref())?;
        let verified_with = self.verify_on_caller(&event)?;
        if id.is_some() && event.event.record.is_none() {
            return Err(StoreError::EventIdWithoutRecord);
        }
        Ok(Incoming::New {
            signed: event,
            payload,
            verified_with,
            request: id.map(|(i, d)| Row::Id(Box::new((i.clone(), d)))),
        })
    }

    /// Verifies with the published registry; `None` when the author is not (yet) known here
    /// (the leader judges it against the group's registry).
    fn verify_on_caller(&self, event: &SignedEvent) -> Result<Option<PublicKey>> {
        let (key, origin) = {
            let p = self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            (
                p.registry.author_key(&event.event),
                p.registry.origin.clone(),
            )
        };
        match key {
            Some(k) => {
                self.keys
                    .verify(event, origin.as_ref().map(|o| o.as_str()), &k)?;
                Ok(Some(k))
            }
            None => Ok(None),
        }
    }

    fn submit(&self, item: Incoming) -> Result<Receipt> {
        self.submit_job(item).0
    }

    /// Joins the group commit; also says whether the job was answered as a repeat of a
    /// client event id staged earlier in its group (nothing of its own written).
    fn submit_job(&self, item: Incoming) -> (Result<Receipt>, bool) {
        let mut q = lock(&self.queue);
        let ticket = q.next_ticket;
        q.next_ticket = q.next_ticket.wrapping_add(1);
        q.pending.push(Job { ticket, item });
        loop {
            if let Some(r) = q.done.remove(&ticket) {
                // No hand-over to pass on: a caller answered is answered by a group whose
                // leader already woke the next leader when it let go of the lead (below),
                // after taking this caller's job. Waking one here again, as every answered
                // caller once did, only costs wake-ups.
                q.waiters.remove(&ticket);
                let repeat = q.replayed.remove(&ticket);
                return (r, repeat);
            }
            // A waiter whose job is in a group still syncing must not lead an empty group.
            if !q.leader && !q.pending.is_empty() {
                // Awake and leading: not woken when its own group finishes.
                q.waiters.remove(&ticket);
                q = self.lead_group(q);
                continue;
            }
            // Registered under the lock before parking: an unpark in between is not lost
            // (`park` returns at once), and a spurious return just loops.
            q.waiters.insert(ticket, std::thread::current());
            drop(q);
            std::thread::park();
            q = lock(&self.queue);
        }
    }

    /// Leads one group: takes every queued job, stages and commits them under the writer
    /// lock, passes the lead on, makes the group durable and answers its callers. Called
    /// with the queue locked, no leader and jobs queued; returns with the queue locked.
    fn lead_group<'q>(&'q self, mut q: MutexGuard<'q, Queue>) -> MutexGuard<'q, Queue> {
        q.leader = true;
        let jobs = std::mem::take(&mut q.pending);
        drop(q);
        let mut guard = LeaderGuard {
            ledger: self,
            tickets: jobs.iter().map(|j| j.ticket).collect(),
            leading: true,
        };
        let (mut results, sync, repeats) = self.commit_group(jobs);
        // Pipelining: leadership passes on as soon as the group is committed, so the
        // next group is staged and committed while this one's sled flush and
        // `checkpoints.log` fsync run; nobody is answered before those are done.
        q = lock(&self.queue);
        q.leader = false;
        guard.leading = false;
        // One waiter is enough to take the next group (any waiter may lead it).
        let summon = q.hand_over();
        drop(q);
        if summon {
            self.summon();
        }
        if let Some(size) = sync {
            if let Err(e) = self.sync_group(size) {
                for (_, r) in results.iter_mut().filter(|(_, r)| r.is_ok()) {
                    *r = Err(e.duplicate());
                }
            }
        }
        guard.tickets.clear();
        drop(guard);
        q = lock(&self.queue);
        q.replayed.extend(repeats);
        let answers: Vec<Answer> = results
            .into_iter()
            .filter_map(|(t, r)| q.finish(t, r))
            .collect();
        if answers.is_empty() {
            return q;
        }
        drop(q);
        for a in answers {
            a.call();
        }
        lock(&self.queue)
    }

    /// Leads the queued groups, if no one else is leading: what the summoner set with
    /// [`Ledger::set_summoner`] runs (on a thread that may block) when a job submitted
    /// without blocking ([`Ledger::submit_append`]) finds no leader. Returns when nothing
    /// is queued or another caller leads. Blocks for as long as it leads (the commits and
    /// their flushes).
    pub fn lead(&self) {
        let mut q = lock(&self.queue);
        q.summoned = false;
        while !q.leader && !q.pending.is_empty() {
            q = self.lead_group(q);
        }
    }

    /// Sets how this ledger gets a thread to lead jobs submitted without blocking: `summon`
    /// must arrange for [`Ledger::lead`] to be called soon on a thread that may block (a
    /// server hands it to its blocking pool), and must not call it itself (it is called
    /// where blocking would stall the caller). Set once: `false` if one was set before.
    pub fn set_summoner(&self, summon: Box<dyn Fn() + Send + Sync>) -> bool {
        self.summoner.set(summon).is_ok()
    }

    /// Whether [`Ledger::submit_append`] is available (a summoner is set).
    pub fn submits(&self) -> bool {
        self.summoner.get().is_some()
    }

    fn summon(&self) {
        if let Some(s) = self.summoner.get() {
            s();
        }
    }

    /// [`Ledger::append`] (without `id`) or [`Ledger::append_keyed`] (with one) without
    /// blocking for the commit: the checks of the caller's side run now (the payload, the
    /// author's signature; nothing that reads the store or waits for a staging group),
    /// then the job joins the group commit and this returns. `done` is called once, after
    /// the group is durable, on the thread that led it (keep it short: hand the result
    /// over), with the receipt and whether the id was answered as a repeat in its group. An
    /// id recorded by an earlier group comes back through `done` as
    /// [`StoreError::EventIdRecorded`]: resolve it with [`Ledger::recorded_receipt`], which
    /// blocks.
    ///
    /// `done` is called if and only if this returns `Ok`. Needs a summoner
    /// ([`Ledger::set_summoner`]): without one, [`StoreError::Internal`] and nothing queued.
    pub fn submit_append(
        &self,
        event: SignedEvent,
        payload: Option<Payload>,
        id: Option<(&crate::EventId, crate::RequestDigest)>,
        done: Box<dyn FnOnce(Result<KeyedReceipt>) + Send>,
    ) -> Result<()> {
        if !self.submits() {
            return Err(StoreError::Internal("no summoner for a submitted append"));
        }
        let incoming = self.new_incoming(event, payload, id)?;
        let mut q = lock(&self.queue);
        let ticket = q.next_ticket;
        q.next_ticket = q.next_ticket.wrapping_add(1);
        q.pending.push(Job {
            ticket,
            item: incoming,
        });
        q.callbacks.insert(
            ticket,
            Box::new(move |r, replayed| {
                done(r.map(|receipt| KeyedReceipt { receipt, replayed }));
            }),
        );
        let summon = !q.leader && !q.summoned;
        if summon {
            q.summoned = true;
        }
        drop(q);
        if summon {
            self.summon();
        }
        Ok(())
    }

    /// An id found recorded ([`StoreError::EventIdRecorded`] from [`Ledger::append_keyed`]'s
    /// group or [`Ledger::submit_append`]): the original receipt, once the entry is durable
    /// and its seal logged, when the content is the same (`replayed`); otherwise the same
    /// error. Blocks.
    pub fn recorded_receipt(
        &self,
        id: &crate::EventId,
        request: &crate::RequestDigest,
        seq: Seq,
    ) -> Result<KeyedReceipt> {
        // A committed row is visible before its group is durable (groups pipeline, and a
        // group whose every job was refused waits for no flush): answer only once the
        // entry is durable and its seal logged, so the replay carries the seal its writer
        // got. The writer lock, taken once, waits out the writing group's commit, which
        // queues its seal for the log.
        if self.durability == Durability::Immediate {
            drop(lock(&self.writer));
            self.sync_group(seq.0.saturating_add(1))?;
        }
        match self.event_id_seen(id, request)? {
            crate::IdSeen::Recorded(receipt) => Ok(KeyedReceipt {
                receipt,
                replayed: true,
            }),
            _ => Err(StoreError::EventIdRecorded { seq }),
        }
    }

    /// Appends need the ledger key (or the benchmarks' unsealed mode).
    fn check_sealing(&self) -> Result<()> {
        if self.seal_key.is_none() && !self.unsealed {
            return Err(StoreError::NotSealing);
        }
        Ok(())
    }

    /// The seal of a staged group: the checkpoint of its head, signed with the ledger key,
    /// over the root of the compact range the group's entry bytes extended. `None` for an
    /// imported group and in unsealed mode.
    fn seal_for(&self, staged: &Staged) -> Result<Option<Seal>> {
        if !staged.seal {
            return Ok(None);
        }
        let Some(key) = &self.seal_key else {
            return if self.unsealed {
                Ok(None)
            } else {
                Err(StoreError::NotSealing)
            };
        };
        // Genesis names the key (possibly in this very group).
        if staged.registry.ledger_key != Some(key.public_key()) {
            return Err(StoreError::WrongLedgerKey);
        }
        let origin = staged
            .registry
            .origin
            .as_ref()
            .ok_or(StoreError::corrupt("no origin (no genesis)", None))?;
        sign_seal(
            origin.as_str(),
            key,
            staged.head.size,
            staged.range.root(&Sha256Hasher),
        )
        .map(Some)
    }

    /// Stages and commits one group under the writer lock. Returns each ticket's result and
    /// the head size the group still has to be made durable through
    /// ([`Ledger::sync_group`]) before anyone is answered.
    /// The tickets answered as in-group repeats of a client event id come third.
    #[allow(clippy::type_complexity)]
    fn commit_group(&self, jobs: Vec<Job>) -> (Vec<(u64, Result<Receipt>)>, Option<u64>, Vec<u64>) {
        let mut w = lock(&self.writer);
        let (tickets, items): (Vec<u64>, Vec<Incoming>) =
            jobs.into_iter().map(|j| (j.ticket, j.item)).unzip();
        let (staged, mut results) = match self.stage_all(&mut w, items, false, false) {
            Ok(x) => x,
            // Not reachable in group mode (refusals are per item); fail everyone safely.
            Err(e) => {
                let failed = tickets
                    .into_iter()
                    .map(|t| (t, Err(e.error.duplicate())))
                    .collect();
                return (failed, None, Vec::new());
            }
        };
        let mut sync = None;
        let mut repeats = Vec::new();
        if let Some(staged) = staged {
            repeats = staged
                .repeats
                .iter()
                .filter_map(|i| tickets.get(*i).copied())
                .collect();
            match self.commit(&mut w, staged, true) {
                Err(e) => {
                    for r in results.iter_mut().filter(|r| r.is_ok()) {
                        *r = Err(e.duplicate());
                    }
                }
                Ok((seal, owed)) => {
                    sync = owed;
                    for r in results.iter_mut().flatten() {
                        r.seal.clone_from(&seal);
                    }
                }
            }
        }
        (tickets.into_iter().zip(results).collect(), sync, repeats)
    }

    /// Stages items in order. With `all_or_nothing`, the first refusal aborts the whole
    /// batch; otherwise each item gets its own result.
    fn stage_all(
        &self,
        w: &mut Writer,
        items: Vec<Incoming>,
        all_or_nothing: bool,
        dry_run: bool,
    ) -> Result<(Option<Staged>, Vec<Result<Receipt>>), BatchError> {
        w.ops.clear();
        // A dry run judges only: nothing is signed or committed.
        let seal = !dry_run && items.iter().any(|i| matches!(i, Incoming::New { .. }));
        let now = (self.clock)();
        let mut content = lock(&self.content);
        let mut stage = Stage {
            trees: &self.trees,
            keys: &self.keys,
            content: &mut content,
            dry_run,
            destroyed: Vec::new(),
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
            id_rows: HashMap::new(),
            repeat: false,
            ops: &mut w.ops,
            accepted: 0,
            upper: Vec::new(),
            tile_nodes: Vec::new(),
        };
        let mut results = Vec::with_capacity(items.len());
        let mut repeats = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            stage.repeat = false;
            let r = stage.stage(item);
            if stage.repeat {
                repeats.push(index);
            }
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
            seal,
            head: stage.head,
            range: stage.range,
            registry: stage.registry,
            registry_changed: stage.registry_changed,
            accepted: stage.accepted,
            upper: stage.upper,
            destroyed: stage.destroyed,
            repeats,
        };
        Ok((Some(staged), results))
    }

    /// Writes a staged group and its seal in one transaction, publishes it, and flushes if
    /// Immediate (which appends the seal to `checkpoints.log`). Returns the seal, and the
    /// head size still owed durability: with `defer_flush` an `Immediate` commit leaves it
    /// to the caller ([`Ledger::sync_group`]), who releases the writer lock first and
    /// answers nobody before it is done (a group with a destruction always flushes here: its
    /// key store slots are erased only once the destruction is durable).
    fn commit(
        &self,
        w: &mut Writer,
        staged: Staged,
        defer_flush: bool,
    ) -> Result<(Option<Seal>, Option<u64>)> {
        let seal = self.seal_for(&staged)?;
        if let Some(seal) = &seal {
            let size = seal.size;
            w.ops
                .put(T::Checkpoints, &size.to_be_bytes(), seal.note.as_bytes());
            // sled keeps the newest seal and the anchored ones; the log keeps them all.
            if let Some((prev, false)) = w.newest_seal.filter(|(p, _)| *p != size) {
                w.ops.remove(T::Checkpoints, &prev.to_be_bytes());
            }
        }
        // One atomic transaction through the storage seam (`backend.rs`).
        self.trees.commit(&w.ops)?;
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
        if let Some(seal) = &seal {
            w.newest_seal = Some((seal.size, false));
            lock(&self.unlogged).push(seal.clone());
        }
        let immediate = self.durability == Durability::Immediate;
        if defer_flush && immediate && staged.destroyed.is_empty() {
            return Ok((seal, Some(staged.head.size)));
        }
        if immediate || !staged.destroyed.is_empty() {
            self.flush()?;
        }
        // Destruction destroys: once the destruction entry is durable, erase the record's
        // content key (redone at open if this is interrupted).
        if !staged.destroyed.is_empty() {
            let mut content = lock(&self.content);
            for r in &staged.destroyed {
                content.erase(r)?;
            }
        }
        Ok((seal, None))
    }

    /// Makes a committed group (head size `size`) durable before it is acknowledged: sled
    /// flushed over it, then its seal in `checkpoints.log`, fsynced. Successive groups
    /// pipeline and coalesce: sled flushes are serialized and a flush covers every group
    /// committed before it began (a group that finds itself covered flushes nothing), and
    /// the log's write + fsync, serialized by its own lock, takes every seal sled has made
    /// durable so far, so it runs while the next group's sled flush does, and one log fsync
    /// may carry several groups' seals. A seal is never logged before a sled flush that
    /// began after its commit.
    pub(crate) fn sync_group(&self, size: u64) -> Result<()> {
        let covered = {
            let mut synced = lock(&self.synced);
            if *synced < size {
                // Published after the transaction: every group up to it is committed, so
                // the flush that begins now covers it.
                let committed = self.head().size;
                self.flush_sled()?;
                *synced = (*synced).max(committed);
            }
            *synced
        };
        // This group's seal is among these (it was queued before its commit returned) or
        // already logged (it leaves the queue only once it is).
        let ready: Vec<Seal> = lock(&self.unlogged)
            .iter()
            .filter(|s| s.size <= covered)
            .cloned()
            .collect();
        if !ready.is_empty() {
            self.log_seals(&ready)?;
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
        self.check_sealing()
            .map_err(|error| BatchError { index: None, error })?;
        let incoming = self.checked_incoming(items)?;
        self.write_batch(incoming)
    }

    /// Payload and signature checks of a batch (in parallel), as `append` does on its
    /// caller's thread; the first failing item is reported with its index.
    fn checked_incoming(
        &self,
        items: Vec<(SignedEvent, Option<Payload>)>,
    ) -> Result<Vec<Incoming>, BatchError> {
        // Signatures first, in parallel, against the published registry (as `append` does
        // on its caller's thread); then, in order, the first failing item is reported.
        let (keys, origin): (Vec<Option<PublicKey>>, _) = {
            let p = self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            (
                items
                    .iter()
                    .map(|(event, _)| p.registry.author_key(&event.event))
                    .collect(),
                p.registry.origin.clone(),
            )
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
        let verdicts = self
            .keys
            .verify_many(origin.as_ref().map(|o| o.as_str()), &jobs);
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
                request: None,
            });
        }
        Ok(incoming)
    }

    /// [`Ledger::append_batch`] with an idempotency key per item: a file import keys each
    /// line by a keyed hash of the file's digest and the line number
    /// ([`Request::File`](crate::Request::File)); a record system's line may carry its own
    /// client event id ([`Request::Id`](crate::Request::Id), looked up first with
    /// [`Ledger::event_id_seen`]). The rows are stored with the entries, in the same
    /// transaction; [`Ledger::request_seen`] and [`Ledger::event_id_seen`] find them.
    pub fn append_batch_keyed(
        &self,
        items: Vec<(SignedEvent, Option<Payload>, Option<crate::Request>)>,
    ) -> Result<Vec<Receipt>, BatchError> {
        self.check_sealing()
            .map_err(|error| BatchError { index: None, error })?;
        let (items, keys): (Vec<_>, Vec<_>) =
            items.into_iter().map(|(e, p, k)| ((e, p), k)).unzip();
        let incoming = self.checked_incoming(items)?;
        let keys = self.request_rows(&incoming, keys)?;
        let incoming = incoming
            .into_iter()
            .zip(keys)
            .map(|(i, k)| match i {
                Incoming::New {
                    signed,
                    payload,
                    verified_with,
                    ..
                } => Incoming::New {
                    signed,
                    payload,
                    verified_with,
                    request: k.map(Row::Made),
                },
                other => other,
            })
            .collect();
        self.write_batch(incoming)
    }

    /// Judges a batch as [`Ledger::append_batch`] would, all or nothing, and writes nothing:
    /// the first refused item, with its index. A file import checks the whole file with
    /// this before its first write, so a refused file leaves the ledger as it was.
    pub fn check_batch(
        &self,
        items: Vec<(SignedEvent, Option<Payload>)>,
    ) -> Result<(), BatchError> {
        let incoming = self.checked_incoming(items)?;
        let mut w = lock(&self.writer);
        let r = self.stage_all(&mut w, incoming, true, true).map(|_| ());
        w.ops.clear();
        r
    }

    /// The seq of the entry appended with this idempotency key, if any.
    pub fn request_seen(&self, key: &crate::RequestKey) -> Result<Option<Seq>> {
        match self.trees.get(T::Nonces, &key.row())? {
            None => Ok(None),
            Some(v) => {
                let b = <[u8; 8]>::try_from(v.as_ref())
                    .map_err(|_| StoreError::corrupt("request row is not 8 bytes", None))?;
                Ok(Some(Seq(u64::from_be_bytes(b))))
            }
        }
    }

    /// Stages and commits items all or nothing under the writer lock.
    pub(crate) fn write_batch(&self, items: Vec<Incoming>) -> Result<Vec<Receipt>, BatchError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = lock(&self.writer);
        let (staged, results) = self.stage_all(&mut w, items, true, false)?;
        let mut seal = None;
        if let Some(staged) = staged {
            let (s, owed) = self
                .commit(&mut w, staged, true)
                .map_err(|error| BatchError { index: None, error })?;
            seal = s;
            // The next writer may commit while this batch is made durable (as for groups).
            drop(w);
            if let Some(size) = owed {
                self.sync_group(size)
                    .map_err(|error| BatchError { index: None, error })?;
            }
        }
        let mut receipts = results
            .into_iter()
            .collect::<Result<Vec<_>>>()
            .map_err(|error| BatchError { index: None, error })?;
        for r in &mut receipts {
            r.seal.clone_from(&seal);
        }
        Ok(receipts)
    }
}

/// Hands leadership back if the leader unwinds mid-group (a bug in a dependency): its
/// followers get an error instead of waiting forever.
struct LeaderGuard<'a> {
    ledger: &'a Ledger,
    tickets: Vec<u64>,
    /// Still the leader (leadership is handed over before the group's flush).
    leading: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.tickets.is_empty() {
            return;
        }
        let mut q = lock(&self.ledger.queue);
        let mut answers = Vec::new();
        for t in self.tickets.drain(..) {
            answers.extend(q.finish(
                t,
                Err(StoreError::Internal("the group commit leader failed")),
            ));
        }
        let mut summon = false;
        if self.leading {
            q.leader = false;
            summon = q.hand_over();
        }
        drop(q);
        for a in answers {
            a.call();
        }
        if summon {
            self.ledger.summon();
        }
    }
}
