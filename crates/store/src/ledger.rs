//! The ledger: create/open, append with group commit, queries, proofs.
//!
//! The on-disk layout is in [`crate::layout`]; checkpoints in [`crate::checkpoints`];
//! archive export/import in [`crate::archive`].
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
use crate::sigs::KeyCache;
use crate::upper::{CachedNodes, UpperNodes, UPPER_LEVEL};
use caseledger_core::encoding::{decode_canonical, encode_into};
use caseledger_core::event::{
    Entry, Event, EventKind, LedgerSettings, Payload, ShortText, SignedEvent, FORMAT_VERSION,
};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::{ActorId, EntryHash, Nonce, PublicKey, RecordId, Seq};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{self, CompactRange, NodeId, NodeSource, ProveError, Sha256Hasher};
use caseledger_core::record::{self, History, RecordState, Registry, Step, Violation};
use caseledger_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};

/// The ledger's clock: returns the current time. It is called once per group commit; the
/// store never lets `recorded_at` go backwards (it uses `max(clock(), last recorded_at)`).
/// Injectable for tests and golden vectors.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock ([`Timestamp::now`]).
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// When an append returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Return only after the group's transaction is flushed to disk (default).
    #[default]
    Immediate,
    /// Return after the transaction is applied; durable at the next [`Ledger::flush`] (or
    /// sled's background flush, every 500 ms). For bulk import.
    Deferred,
}

/// Options for [`Ledger::open`] (and the opening half of create/import).
#[derive(Clone)]
pub struct OpenOptions {
    /// When appends return. Default [`Durability::Immediate`].
    pub durability: Durability,
    /// The clock that stamps `recorded_at`. Default [`system_clock`].
    pub clock: Clock,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            durability: Durability::Immediate,
            clock: system_clock(),
        }
    }
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl OpenOptions {
    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Clock) -> OpenOptions {
        self.clock = clock;
        self
    }
    /// Replaces the durability.
    pub fn with_durability(mut self, durability: Durability) -> OpenOptions {
        self.durability = durability;
        self
    }
}

/// What [`Ledger::create`] needs to write the genesis entry.
#[derive(Debug)]
pub struct CreateOptions<'a> {
    /// The checkpoint origin (C2SP), e.g. `example.org/practice-ledger`. Use a valid note key
    /// name (no spaces or `+`) so that it can also name the ledger key.
    pub origin: ShortText,
    /// The first admin's actor id.
    pub admin: ActorId,
    /// The first admin's signing key: signs the genesis event.
    pub admin_key: &'a SigningKey,
    /// The public half of the ledger (checkpoint) key.
    pub ledger_key: PublicKey,
    /// Ledger-wide settings.
    pub settings: LedgerSettings,
    /// Durability and clock.
    pub open: OpenOptions,
}

/// The ledger's head: what `meta.head` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The number of entries (the next seq).
    pub size: u64,
    /// The hash of the last entry.
    pub last_hash: EntryHash,
    /// The `recorded_at` of the last entry.
    pub last_recorded_at: Timestamp,
}

impl Head {
    const EMPTY: Head = Head {
        size: 0,
        last_hash: EntryHash::ZERO,
        last_recorded_at: Timestamp(i64::MIN),
    };
}

/// What an accepted append returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's position.
    pub seq: Seq,
    /// Its entry hash `h_i`.
    pub hash: EntryHash,
    /// The ledger time it was recorded at.
    pub recorded_at: Timestamp,
}

/// Counters since the ledger was opened (group commit behaviour, for tests and benches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries written.
    pub appended: u64,
    /// Appends refused (refusals inside groups and batches).
    pub refused: u64,
    /// sled transactions committed (one per group or batch).
    pub transactions: u64,
    /// sled flushes (`Immediate` groups, `flush()`, checkpoints).
    pub flushes: u64,
    /// The largest number of entries committed in one transaction.
    pub largest_group: u64,
}

#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    refused: AtomicU64,
    transactions: AtomicU64,
    flushes: AtomicU64,
    largest_group: AtomicU64,
}

pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    pub(crate) entries: sled::Tree,
    pub(crate) payloads: sled::Tree,
    pub(crate) nodes: sled::Tree,
    pub(crate) records: sled::Tree,
    pub(crate) nonces: sled::Tree,
    pub(crate) checkpoints: sled::Tree,
    pub(crate) meta: sled::Tree,
}

impl Trees {
    fn open(db: sled::Db) -> Result<Trees> {
        Ok(Trees {
            entries: db.open_tree(TREE_ENTRIES)?,
            payloads: db.open_tree(TREE_PAYLOADS)?,
            nodes: db.open_tree(TREE_NODES)?,
            records: db.open_tree(TREE_RECORDS)?,
            nonces: db.open_tree(TREE_NONCES)?,
            checkpoints: db.open_tree(TREE_CHECKPOINTS)?,
            meta: db.open_tree(TREE_META)?,
            db,
        })
    }
}

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
struct Ops {
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
struct Writer {
    head: Head,
    range: CompactRange,
    registry: Registry,
    ops: Ops,
}

/// What readers see: updated after each commit.
struct Published {
    head: Head,
    range: CompactRange,
    registry: Arc<Registry>,
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
struct Queue {
    pending: Vec<Job>,
    leader: bool,
    done: HashMap<u64, Result<Receipt>>,
    next_ticket: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A caseledger ledger in a directory: `Send + Sync`, share it by reference (or `Arc`)
/// between the threads that append.
///
/// ```
/// use caseledger_core::event::{Event, EventKind, Payload, Role, ShortText};
/// use caseledger_core::ids::{ActorId, Nonce, RecordId};
/// use caseledger_core::keys::SigningKey;
/// use caseledger_core::note::NoteSigner;
/// use caseledger_core::time::Date;
/// use caseledger_store::{CreateOptions, Ledger, OpenOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let admin_key = SigningKey::from_seed(&[1; 32]);
/// let ledger_key = SigningKey::from_seed(&[2; 32]);
/// let ledger = Ledger::create(dir.path().join("ledger"), CreateOptions {
///     origin: ShortText::new("example.org/ledger").unwrap(),
///     admin: ActorId::new("admin").unwrap(),
///     admin_key: &admin_key,
///     ledger_key: ledger_key.public_key(),
///     settings: Default::default(),
///     open: OpenOptions::default(),
/// }).unwrap();
///
/// // Enrol a licensee, then append a progress note with its payload.
/// let lic_key = SigningKey::from_seed(&[3; 32]);
/// let today = Date::parse("2024-01-02").unwrap();
/// let enrol = Event {
///     record: None,
///     author: ActorId::new("admin").unwrap(),
///     kind: EventKind::ActorEnrolled { actor: ActorId::new("lic").unwrap(), role: Role::Licensee, public_key: lic_key.public_key() },
///     occurred_on: today,
///     commitment: None,
///     nonce: Nonce::random(),
/// };
/// ledger.append(enrol.sign(&admin_key).unwrap(), None).unwrap();
/// let rec = RecordId::new("C-0042").unwrap();
/// let ev = |kind, commitment| Event { record: Some(rec.clone()), author: ActorId::new("lic").unwrap(), kind, occurred_on: today, commitment, nonce: Nonce::random() };
/// ledger.append(ev(EventKind::RecordOpened, None).sign(&lic_key).unwrap(), None).unwrap();
/// let note = Payload::new(b"Client reports better sleep.".to_vec());
/// let receipt = ledger.append(ev(EventKind::ProgressNote, Some(note.commitment())).sign(&lic_key).unwrap(), Some(note.clone())).unwrap();
/// assert_eq!(receipt.seq.get(), 3);
/// assert_eq!(ledger.payload(receipt.seq).unwrap(), Some(note));
///
/// // Sign a checkpoint and prove the note is in it.
/// let signer = NoteSigner::new("example.org/ledger", ledger_key).unwrap();
/// let checkpoint = ledger.checkpoint(&signer).unwrap();
/// assert!(checkpoint.starts_with("example.org/ledger\n4\n"));
/// let proof = ledger.inclusion_proof(receipt.seq, 4).unwrap();
/// assert_eq!(proof.len(), 2);
/// ledger.close().unwrap();
/// ```
pub struct Ledger {
    pub(crate) trees: Trees,
    dir: PathBuf,
    durability: Durability,
    clock: Clock,
    writer: Mutex<Writer>,
    published: RwLock<Published>,
    queue: Mutex<Queue>,
    cv: Condvar,
    pub(crate) checkpoint_lock: Mutex<()>,
    counters: Counters,
    keys: KeyCache,
    upper: UpperNodes,
    // Dropped last: the advisory lock outlives the database handle.
    _lock: File,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

fn acquire_lock(dir: &Path) -> Result<File> {
    use fs2::FileExt;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.raw_os_error() == fs2::lock_contended_error().raw_os_error() =>
        {
            Err(StoreError::InUse {
                path: dir.to_path_buf(),
            })
        }
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

fn open_sled(dir: &Path, create_new: bool) -> Result<sled::Db> {
    // Called only while we hold `<DIR>/lock`, so no other live `Ledger` owns this sled
    // directory. sled's own lock can still be held for a moment by the background flusher
    // of a handle this process just dropped; wait for it (bounded) instead of calling a
    // ledger that nobody uses "in use".
    let path = dir.join(SLED_DIR);
    let mut waited = std::time::Duration::ZERO;
    let step = std::time::Duration::from_millis(50);
    loop {
        match sled::Config::new()
            .path(&path)
            .create_new(create_new)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                if waited >= SLED_LOCK_WAIT {
                    return Err(StoreError::InUse {
                        path: dir.to_path_buf(),
                    });
                }
                std::thread::sleep(step);
                waited += step;
            }
            Err(sled::Error::Io(io)) => return Err(StoreError::io(&path, io)),
            Err(other) => return Err(StoreError::Sled(other)),
        }
    }
}

/// Cuts an interrupted final record off `checkpoints.log` (a crash during `checkpoint()`,
/// which had therefore not returned: nothing acknowledged is lost). Only a torn *tail* is
/// cut; a malformed record elsewhere is left for the verifier to report.
fn repair_torn_log_tail(dir: &Path) -> Result<()> {
    let path = dir.join(CHECKPOINTS_LOG);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    if let Err(crate::layout::LogError::TornTail { offset, .. }) =
        crate::layout::parse_checkpoints_log(&bytes)
    {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        f.set_len(offset as u64)
            .and_then(|()| f.sync_all())
            .map_err(|e| StoreError::io(&path, e))?;
        fsync_dir(dir)?;
    }
    Ok(())
}

/// Removes `snap.*.generating` files from the sled directory. A process killed while sled
/// writes a snapshot leaves one (possibly empty); sled 0.34.7 skips only `*.in___motion`
/// files when it looks for snapshots, so it would read this one and report corruption on
/// every later open. It is never a completed snapshot and holds no ledger data (the log
/// segments do); we hold the ledger lock, so no live process is writing it.
fn remove_unfinished_sled_snapshots(dir: &Path) -> Result<()> {
    let sled_dir = dir.join(SLED_DIR);
    let listing = std::fs::read_dir(&sled_dir).map_err(|e| StoreError::io(&sled_dir, e))?;
    for item in listing {
        let item = item.map_err(|e| StoreError::io(&sled_dir, e))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let path = item.path();
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Refuses to open a ledger that is shorter than what it has itself recorded: sled 0.34
/// may silently drop a damaged tail on recovery, and appending on top of that would turn
/// bit rot into what looks like a rewritten history. Checked: the `entries` tree ends at
/// `head - 1`, and no checkpoint (in the tree or in `checkpoints.log`) names a larger size.
fn check_not_shorter_than_recorded(dir: &Path, db: &sled::Db, size: u64) -> Result<()> {
    let entries = db.open_tree(TREE_ENTRIES)?;
    let last = match entries.last()? {
        Some((k, _)) => Some(
            <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StoreError::corrupt("a key of the entries tree is not 8 bytes", None)
                })?,
        ),
        None => None,
    };
    if last != size.checked_sub(1) {
        return Err(StoreError::corrupt(
            format!(
                "the entries tree ends at {} but the head says {size} entries: storage damage; \
                 verify the ledger and restore it from an archive or a backup",
                last.map_or("nothing".to_owned(), |l| format!("seq {l}"))
            ),
            None,
        ));
    }
    let in_tree = db
        .open_tree(TREE_CHECKPOINTS)?
        .last()?
        .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok().map(u64::from_be_bytes));
    let log_path = dir.join(CHECKPOINTS_LOG);
    let in_log = match std::fs::read(&log_path) {
        // A malformed log is evidence for the verifier, not a reason to refuse here.
        Ok(bytes) => parse_checkpoints_log(&bytes)
            .unwrap_or_default()
            .iter()
            .filter_map(|note| note.lines().nth(1).and_then(|l| l.parse::<u64>().ok()))
            .max(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::io(&log_path, e)),
    };
    if let Some(named) = in_tree
        .into_iter()
        .chain(in_log)
        .max()
        .filter(|&n| n > size)
    {
        return Err(StoreError::corrupt(
            format!(
                "the ledger has {size} entries but a checkpoint names {named}: entries were lost \
                 (storage damage or a restored old copy); verify it and restore from an archive or a backup"
            ),
            None,
        ));
    }
    Ok(())
}

/// How long to wait for sled's lock once ours is held (a dropped handle's flusher thread).
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Makes sure `dir` can receive a new ledger: missing (created) or an empty directory.
/// Returns whether it was created here.
pub(crate) fn prepare_new_dir(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(StoreError::AlreadyExists {
                    path: dir.to_path_buf(),
                });
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
            Ok(true)
        }
        Err(e) => Err(StoreError::io(dir, e)),
    }
}

/// Removes what a failed create/import left behind.
pub(crate) fn cleanup_new_dir(dir: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        let _ = std::fs::remove_dir_all(dir.join(SLED_DIR));
        let _ = std::fs::remove_file(dir.join(CHECKPOINTS_LOG));
        let _ = std::fs::remove_file(dir.join(LOCK_FILE));
    }
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

/// Reads Merkle nodes from the `nodes` tree.
pub(crate) struct TreeNodes<'a>(pub(crate) &'a sled::Tree);

impl NodeSource for TreeNodes<'_> {
    type Error = StoreError;
    fn node(&self, id: NodeId) -> Result<[u8; 32]> {
        let v = self
            .0
            .get(id.to_key())?
            .ok_or_else(|| StoreError::corrupt(format!("missing Merkle {id}"), None))?;
        <[u8; 32]>::try_from(v.as_ref())
            .map_err(|_| StoreError::corrupt(format!("Merkle {id} is not 32 bytes"), None))
    }
}

fn prove_err(e: ProveError<StoreError>) -> StoreError {
    match e {
        ProveError::Invalid(p) => StoreError::Proof(p),
        ProveError::Source(s) => s,
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
    /// Merkle nodes of level >= `UPPER_LEVEL` staged in this group, for [`UpperNodes`].
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
    fn assemble(
        dir: &Path,
        db: sled::Db,
        lock_file: File,
        options: OpenOptions,
        head: Head,
        range: CompactRange,
        registry: Registry,
    ) -> Result<Ledger> {
        let trees = Trees::open(db)?;
        let registry_arc = Arc::new(registry.clone());
        Ok(Ledger {
            trees,
            dir: dir.to_path_buf(),
            durability: options.durability,
            clock: options.clock,
            writer: Mutex::new(Writer {
                head,
                range: range.clone(),
                registry,
                ops: Ops::default(),
            }),
            published: RwLock::new(Published {
                head,
                range,
                registry: registry_arc,
            }),
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
            checkpoint_lock: Mutex::new(()),
            counters: Counters::default(),
            keys: KeyCache::default(),
            upper: UpperNodes::default(),
            _lock: lock_file,
        })
    }

    /// Creates a new ledger in `dir` (which must be missing or empty) and writes its genesis
    /// entry, signed by the admin key. On failure nothing is left behind.
    pub fn create(dir: impl AsRef<Path>, options: CreateOptions<'_>) -> Result<Ledger> {
        let now = (options.open.clock)();
        let today = now
            .date_utc()
            .map_err(|_| StoreError::Refused(Violation::DateOutOfRange))?;
        let event = Event {
            record: None,
            author: options.admin.clone(),
            kind: EventKind::Genesis {
                origin: options.origin,
                admin: options.admin,
                admin_key: options.admin_key.public_key(),
                ledger_key: options.ledger_key,
                settings: options.settings,
            },
            occurred_on: today,
            commitment: None,
            nonce: Nonce::random(),
        };
        let signed = event.sign(options.admin_key)?;
        Ledger::create_with_genesis(dir, signed, options.open)
    }

    /// Creates a new ledger from a genesis event signed elsewhere (golden vectors, a CLI
    /// that signs with a key it holds). The event must be a valid `Genesis`.
    pub fn create_with_genesis(
        dir: impl AsRef<Path>,
        genesis: SignedEvent,
        options: OpenOptions,
    ) -> Result<Ledger> {
        let dir = dir.as_ref();
        let created = prepare_new_dir(dir)?;
        let result = Ledger::init_empty(dir, options).and_then(|ledger| {
            ledger
                .append_batch(vec![(genesis, None)])
                .map_err(|e| e.error)?;
            Ok(ledger)
        });
        if result.is_err() {
            cleanup_new_dir(dir, created);
        }
        result
    }

    /// An empty ledger (no genesis yet) in a prepared directory.
    pub(crate) fn init_empty(dir: &Path, options: OpenOptions) -> Result<Ledger> {
        let lock_file = acquire_lock(dir)?;
        let db = open_sled(dir, true)?;
        let log = dir.join(CHECKPOINTS_LOG);
        File::create(&log)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&log, e))?;
        fsync_dir(dir)?;
        Ledger::assemble(
            dir,
            db,
            lock_file,
            options,
            Head::EMPTY,
            CompactRange::new(),
            Registry::default(),
        )
    }

    /// Opens an existing ledger. Replays nothing: head, compact range and registry come from
    /// `meta`. A ledger open elsewhere gives [`StoreError::InUse`].
    pub fn open(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Ledger> {
        let dir = dir.as_ref();
        if !dir.join(SLED_DIR).is_dir() {
            return Err(StoreError::NotALedger {
                path: dir.to_path_buf(),
                why: "no sled/ directory",
            });
        }
        let lock_file = acquire_lock(dir)?;
        repair_torn_log_tail(dir)?;
        remove_unfinished_sled_snapshots(dir)?;
        let db = open_sled(dir, false)?;
        let meta = db.open_tree(TREE_META)?;
        let get = |key: &[u8], what: &'static str| -> Result<sled::IVec> {
            meta.get(key)?
                .ok_or_else(|| StoreError::corrupt(format!("meta.{what} is missing"), None))
        };
        let fv = meta
            .get(META_FORMAT_VERSION)?
            .ok_or(StoreError::NotALedger {
                path: dir.to_path_buf(),
                why: "no format version in meta",
            })?;
        let fv: u16 = decode_canonical(&fv)
            .map_err(|e| StoreError::corrupt(format!("meta.format_version: {e}"), None))?;
        if fv != FORMAT_VERSION {
            return Err(StoreError::UnsupportedFormat { found: fv });
        }
        let head: Head = decode_canonical(&get(META_HEAD, "head")?)
            .map_err(|e| StoreError::corrupt(format!("meta.head: {e}"), None))?;
        let range: CompactRange = decode_canonical(&get(META_COMPACT_RANGE, "compact_range")?)
            .map_err(|e| StoreError::corrupt(format!("meta.compact_range: {e}"), None))?;
        if range.size() != head.size {
            return Err(StoreError::corrupt(
                format!(
                    "compact range size {} differs from head size {}",
                    range.size(),
                    head.size
                ),
                None,
            ));
        }
        let mut registry: Registry = decode_canonical(&get(META_REGISTRY, "registry")?)
            .map_err(|e| StoreError::corrupt(format!("meta.registry: {e}"), None))?;
        registry.last_recorded_at = Some(head.last_recorded_at);
        check_not_shorter_than_recorded(dir, &db, head.size)?;
        Ledger::assemble(dir, db, lock_file, options, head, range, registry)
    }

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

    /// Sets the durability (import runs `Deferred`, then hands back the caller's choice).
    pub(crate) fn durability_mut(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// Makes everything appended so far durable (one sled flush).
    pub fn flush(&self) -> Result<()> {
        self.trees.db.flush().map_err(|e| match e {
            sled::Error::Io(io) => StoreError::io(self.dir.join(SLED_DIR), io),
            other => StoreError::Sled(other),
        })?;
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Flushes and closes the ledger (dropping it without `close` is safe too: what was
    /// acknowledged under `Immediate` is durable).
    pub fn close(self) -> Result<()> {
        self.flush()
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The head: size, last entry hash, last recorded_at.
    pub fn head(&self) -> Head {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .head
    }

    /// The registry (actors, genesis facts) as of the head.
    pub fn registry(&self) -> Registry {
        let p = self
            .published
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut r = (*p.registry).clone();
        if p.head.size > 0 {
            r.last_recorded_at = Some(p.head.last_recorded_at);
        }
        r
    }

    /// The origin named at genesis.
    pub fn origin(&self) -> Option<ShortText> {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .registry
            .origin
            .clone()
    }

    /// The ledger (checkpoint) public key named at genesis.
    pub fn ledger_key(&self) -> Option<PublicKey> {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .registry
            .ledger_key
    }

    /// The Merkle root of the whole ledger (of [`Ledger::head`]'s size).
    pub fn root(&self) -> [u8; 32] {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .range
            .root(&Sha256Hasher)
    }

    /// The head size and the root at that size, read together.
    pub(crate) fn size_and_root(&self) -> (u64, [u8; 32]) {
        let p = self
            .published
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (p.head.size, p.range.root(&Sha256Hasher))
    }

    /// Counters since open.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            appended: c.appended.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            largest_group: c.largest_group.load(Ordering::Relaxed),
        }
    }

    /// The canonical bytes `E_i` of entry `seq`, exactly as stored (and hashed).
    pub fn entry_bytes(&self, seq: Seq) -> Result<Option<Vec<u8>>> {
        Ok(self
            .trees
            .entries
            .get(seq.to_be_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Entry `seq`, decoded strictly.
    pub fn entry(&self, seq: Seq) -> Result<Option<Entry>> {
        match self.trees.entries.get(seq.to_be_bytes())? {
            None => Ok(None),
            Some(b) => Entry::from_bytes(&b)
                .map(Some)
                .map_err(|e| StoreError::corrupt(format!("entry does not decode: {e}"), Some(seq))),
        }
    }

    /// The payload of entry `seq`: `None` when the entry has none or it was lawfully
    /// destroyed. The commitment is checked on every read; a mismatch is
    /// [`StoreError::Corrupt`] and the bytes are never returned.
    pub fn payload(&self, seq: Seq) -> Result<Option<Payload>> {
        let Some(stored) = self.trees.payloads.get(seq.to_be_bytes())? else {
            return Ok(None);
        };
        let entry = self
            .entry(seq)?
            .ok_or_else(|| StoreError::corrupt("payload without an entry", Some(seq)))?;
        let payload = Payload::from_stored(&stored)
            .ok_or_else(|| StoreError::corrupt("payload shorter than its salt", Some(seq)))?;
        match entry.event.event.commitment {
            Some(c) if c == payload.commitment() => Ok(Some(payload)),
            Some(_) => Err(StoreError::corrupt(
                "payload does not match the entry's commitment",
                Some(seq),
            )),
            None => Err(StoreError::corrupt(
                "payload stored for an entry without a commitment",
                Some(seq),
            )),
        }
    }

    /// The seqs of a record's entries, in order.
    pub fn record_entries(&self, record: &RecordId) -> Result<Vec<Seq>> {
        let mut out = Vec::new();
        for k in self
            .trees
            .records
            .scan_prefix(record_index_prefix(record))
            .keys()
        {
            let k = k?;
            let b = k
                .get(k.len().saturating_sub(8)..)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .filter(|_| k.len() == record.as_str().len() + 9)
                .ok_or_else(|| {
                    StoreError::corrupt(format!("bad index row for record {record}"), None)
                })?;
            out.push(Seq(u64::from_be_bytes(b)));
        }
        Ok(out)
    }

    /// A record's state after its latest entry (`None` for a record never seen).
    pub fn record_state(&self, record: &RecordId) -> Result<Option<RecordState>> {
        match self.trees.records.get(record_state_key(record))? {
            None => Ok(None),
            Some(v) => decode_canonical(&v).map(Some).map_err(|e| {
                StoreError::corrupt(
                    format!("state of record {record} does not decode: {e}"),
                    None,
                )
            }),
        }
    }

    /// Merkle nodes for roots and proofs: upper levels from memory, the rest from sled.
    fn nodes(&self) -> Result<CachedNodes<'_>> {
        CachedNodes::new(&self.upper, &self.trees.nodes)
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let head = self.head().size;
        if size > head {
            return Err(StoreError::BeyondHead {
                what: "tree size",
                asked: size,
                size: head,
            });
        }
        Ok(())
    }

    /// The Merkle root of the first `size` entries (`size <= head`), from `O(log n)` reads.
    pub fn root_at(&self, size: u64) -> Result<[u8; 32]> {
        self.check_size(size)?;
        merkle::root_at(&Sha256Hasher, &self.nodes()?, size).map_err(prove_err)
    }

    /// The inclusion proof of entry `seq` in the tree of the first `size` entries; verify it
    /// with `merkle::verify_inclusion` against `merkle_leaf(entry_hash)`.
    pub fn inclusion_proof(&self, seq: Seq, size: u64) -> Result<Vec<[u8; 32]>> {
        self.check_size(size)?;
        merkle::inclusion_proof(&Sha256Hasher, &self.nodes()?, seq.0, size).map_err(prove_err)
    }

    /// The consistency proof between the trees of `size1 <= size2 <= head` entries.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<[u8; 32]>> {
        self.check_size(size2)?;
        merkle::consistency_proof(&Sha256Hasher, &self.nodes()?, size1, size2).map_err(prove_err)
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

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::event::Role;
    use caseledger_core::note::NoteSigner;
    use caseledger_core::time::Date;

    fn ledger(dir: &Path) -> (Ledger, SigningKey) {
        let admin = SigningKey::from_seed(&[1; 32]);
        let clock: Clock = Arc::new(|| Timestamp(1_704_888_000_000_000)); // 2024-01-10T12:00Z
        let l = Ledger::create(
            dir,
            CreateOptions {
                origin: ShortText::new("example.org/unit").unwrap(),
                admin: ActorId::new("admin").unwrap(),
                admin_key: &admin,
                ledger_key: SigningKey::from_seed(&[2; 32]).public_key(),
                settings: LedgerSettings::default(),
                open: OpenOptions::default().with_clock(clock),
            },
        )
        .unwrap();
        let lic = SigningKey::from_seed(&[3; 32]);
        let on = Date::parse("2024-01-10").unwrap();
        let enrol = Event {
            record: None,
            author: ActorId::new("admin").unwrap(),
            kind: EventKind::ActorEnrolled {
                actor: ActorId::new("lic").unwrap(),
                role: Role::Licensee,
                public_key: lic.public_key(),
            },
            occurred_on: on,
            commitment: None,
            nonce: Nonce::random(),
        };
        l.append(enrol.sign(&admin).unwrap(), None).unwrap();
        (l, lic)
    }

    fn note(
        l: &Ledger,
        lic: &SigningKey,
        kind: EventKind,
        content: Option<&[u8]>,
    ) -> Result<Receipt> {
        let payload = content.map(|c| Payload::new(c.to_vec()));
        let ev = Event {
            record: Some(RecordId::new("R").unwrap()),
            author: ActorId::new("lic").unwrap(),
            kind,
            occurred_on: Date::parse("2024-01-10").unwrap(),
            commitment: payload.as_ref().map(Payload::commitment),
            nonce: Nonce::random(),
        };
        l.append(ev.sign(lic).unwrap(), payload)
    }

    /// Proofs and roots through the in-memory upper levels are the ones read from sled
    /// alone, before the first fill, after commits extend it, and after a reopen.
    #[test]
    fn proofs_with_and_without_the_upper_cache_are_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (l, lic) = ledger(&path);
        note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let batch = |l: &Ledger, n: u64| {
            let items = (0..n)
                .map(|_| {
                    let ev = Event {
                        record: Some(RecordId::new("R").unwrap()),
                        author: ActorId::new("lic").unwrap(),
                        kind: EventKind::ProgressNote,
                        occurred_on: Date::parse("2024-01-10").unwrap(),
                        commitment: None,
                        nonce: Nonce::random(),
                    };
                    (ev.sign(&lic).unwrap(), None)
                })
                .collect();
            l.append_batch(items).unwrap();
        };
        let compare = |l: &Ledger, next: &mut dyn FnMut(u64) -> u64| {
            let head = l.head().size;
            let raw = TreeNodes(&l.trees.nodes);
            for _ in 0..60 {
                let size = 1 + next(head);
                let seq = next(size);
                let old = next(size + 1);
                assert_eq!(
                    l.inclusion_proof(Seq(seq), size).unwrap(),
                    merkle::inclusion_proof(&Sha256Hasher, &raw, seq, size).unwrap()
                );
                assert_eq!(
                    l.consistency_proof(old, size).unwrap(),
                    merkle::consistency_proof(&Sha256Hasher, &raw, old, size).unwrap()
                );
                assert_eq!(
                    l.root_at(size).unwrap(),
                    merkle::root_at(&Sha256Hasher, &raw, size).unwrap()
                );
            }
            assert_eq!(l.root_at(head).unwrap(), l.root());
            for level in UPPER_LEVEL..12 {
                assert_eq!(l.upper.held(level) as u64, head >> level, "level {level}");
            }
        };
        for _ in 0..5 {
            batch(&l, 1 + next(90));
        }
        compare(&l, &mut next);
        for _ in 0..8 {
            batch(&l, 1 + next(90));
            note(&l, &lic, EventKind::ProgressNote, None).unwrap();
            compare(&l, &mut next);
        }
        l.close().unwrap();
        let l = Ledger::open(&path, OpenOptions::default()).unwrap();
        assert_eq!(l.upper.held(UPPER_LEVEL), 0);
        compare(&l, &mut next);
        batch(&l, 77);
        compare(&l, &mut next);
    }

    #[test]
    fn tampered_payload_is_corrupt_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let (l, lic) = ledger(dir.path());
        note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        let rc = note(
            &l,
            &lic,
            EventKind::FeeArrangement,
            Some(b"$80 per session"),
        )
        .unwrap();
        assert_eq!(
            l.payload(rc.seq).unwrap().unwrap().content(),
            b"$80 per session"
        );
        let mut stored = l
            .trees
            .payloads
            .get(rc.seq.to_be_bytes())
            .unwrap()
            .unwrap()
            .to_vec();
        *stored.last_mut().unwrap() = b'1';
        l.trees
            .payloads
            .insert(rc.seq.to_be_bytes(), stored)
            .unwrap();
        assert!(
            matches!(l.payload(rc.seq), Err(StoreError::Corrupt { seq: Some(s), .. }) if s == rc.seq)
        );
        // A payload planted on an entry without a commitment is corrupt too.
        l.trees
            .payloads
            .insert(Seq(1).to_be_bytes(), vec![0u8; 40])
            .unwrap();
        assert!(matches!(l.payload(Seq(1)), Err(StoreError::Corrupt { .. })));
        // A payload shorter than its salt.
        l.trees
            .payloads
            .insert(rc.seq.to_be_bytes(), vec![0u8; 5])
            .unwrap();
        assert!(matches!(l.payload(rc.seq), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn one_group_writes_the_layout_documented() {
        let dir = tempfile::tempdir().unwrap();
        let (l, lic) = ledger(dir.path());
        let rc = note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        let t = &l.trees;
        let r = RecordId::new("R").unwrap();
        assert!(t
            .records
            .get(record_index_key(&r, rc.seq.0))
            .unwrap()
            .unwrap()
            .is_empty());
        let st: RecordState =
            decode_canonical(&t.records.get(record_state_key(&r)).unwrap().unwrap()).unwrap();
        assert_eq!(st.entries, 1);
        let head: Head = decode_canonical(&t.meta.get(META_HEAD).unwrap().unwrap()).unwrap();
        assert_eq!(head, l.head());
        assert_eq!(t.meta.get(META_HEAD).unwrap().unwrap().len(), 48);
        let range: CompactRange =
            decode_canonical(&t.meta.get(META_COMPACT_RANGE).unwrap().unwrap()).unwrap();
        assert_eq!(range.size(), 3);
        let reg: Registry = decode_canonical(&t.meta.get(META_REGISTRY).unwrap().unwrap()).unwrap();
        assert_eq!(reg.last_recorded_at, None);
        assert_eq!(reg.actors.len(), 2);
        assert_eq!(
            t.meta.get(META_ORIGIN).unwrap().unwrap().as_ref(),
            b"example.org/unit"
        );
        assert_eq!(
            t.meta.get(META_FORMAT_VERSION).unwrap().unwrap().as_ref(),
            &FORMAT_VERSION.to_le_bytes()
        );
        assert_eq!(
            t.meta.get(META_LEDGER_KEY).unwrap().unwrap().as_ref(),
            &SigningKey::from_seed(&[2; 32]).public_key().0
        );
        // Every complete-subtree node of a 3-leaf tree: 3 leaves and one level-1 node.
        assert_eq!(t.nodes.len(), 4);
        let nonce_rows = t.nonces.len();
        assert_eq!(nonce_rows, 3);
        // The stored Merkle leaf is over the stored entry bytes.
        let leaf = t
            .nodes
            .get(NodeId::leaf(2).unwrap().to_key())
            .unwrap()
            .unwrap();
        assert_eq!(
            leaf.as_ref(),
            &merkle_leaf(&entry_hash(
                &t.entries.get(2u64.to_be_bytes()).unwrap().unwrap()
            ))
        );
    }

    #[test]
    fn checkpoint_log_failure_is_io_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (l, _) = ledger(dir.path());
        // Make the log unwritable (a directory in its place: fails even as root).
        let log = dir.path().join(CHECKPOINTS_LOG);
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
        let signer = NoteSigner::new("example.org/unit", SigningKey::from_seed(&[2; 32])).unwrap();
        let err = l.checkpoint(&signer).unwrap_err();
        assert!(
            matches!(&err, StoreError::Io { path: Some(p), .. } if p == &log),
            "{err:?}"
        );
        assert_eq!(l.checkpoints().unwrap(), vec![]);
        std::fs::remove_dir(&log).unwrap();
        let n = l.checkpoint(&signer).unwrap();
        assert_eq!(l.checkpoints().unwrap(), vec![(2, n)]);
    }

    #[test]
    fn an_empty_batch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (l, _) = ledger(dir.path());
        let s = l.stats();
        assert!(l.append_batch(Vec::new()).unwrap().is_empty());
        assert_eq!(l.stats(), s);
    }
}
