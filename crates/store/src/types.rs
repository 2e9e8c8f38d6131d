//! The ledger's options and value types: [`Clock`], [`Durability`], [`OpenOptions`],
//! [`CreateOptions`], [`Head`], [`Receipt`], [`Stats`], and the crate-internal state the
//! [`Ledger`](crate::Ledger) handle holds. A leaf module: every other module may use it.

use caseledger_core::content::Kek;
use caseledger_core::event::{LedgerSettings, ShortText};
use caseledger_core::ids::{ActorId, EntryHash, PublicKey, Seq};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::CompactRange;
use caseledger_core::record::Registry;
use caseledger_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

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
    /// Return after the transaction is applied; durable at the next [`Ledger::flush`](crate::Ledger::flush) (or
    /// sled's background flush, every 500 ms). For bulk import.
    Deferred,
}

/// Options for [`Ledger::open`](crate::Ledger::open) (and the opening half of create/import).
#[derive(Clone)]
pub struct OpenOptions {
    /// When appends return. Default [`Durability::Immediate`].
    pub durability: Durability,
    /// The clock that stamps `recorded_at`. Default [`system_clock`].
    pub clock: Clock,
    /// The practice's content key (KEK), needed to write or read payloads. Default none:
    /// the ledger opens, verifies and appends events without payloads.
    pub kek: Option<Kek>,
    /// The ledger (checkpoint) private key: the store seals every commit with it. Without
    /// it the ledger opens for reading (queries, proofs, cosignatures) and every append is
    /// refused with [`StoreError::NotSealing`](crate::StoreError::NotSealing), unless
    /// `unsealed` is set. Must be the key genesis names
    /// ([`StoreError::WrongLedgerKey`](crate::StoreError::WrongLedgerKey) otherwise).
    pub ledger_key: Option<SigningKey>,
    /// Append without sealing when no `ledger_key` is given. Only for measuring what seals
    /// cost (the benchmarks): every entry appended so is an `unsealed_tail` finding until
    /// a process holding the key opens the ledger (which seals it). Default `false`.
    pub unsealed: bool,
    /// sled's page cache bound, in bytes (sled's `cache_capacity`). Default `None`: sled's
    /// own default, 1 GiB. A process holding many ledgers (`caseledger serve`) sets it
    /// lower so that its memory is bounded by the number it keeps open.
    pub cache_bytes: Option<u64>,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            durability: Durability::Immediate,
            clock: system_clock(),
            kek: None,
            ledger_key: None,
            unsealed: false,
            cache_bytes: None,
        }
    }
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself is never shown.
        f.debug_struct("OpenOptions")
            .field("durability", &self.durability)
            .field("sealing", &self.ledger_key.is_some())
            .field("unsealed", &self.unsealed)
            .field("cache_bytes", &self.cache_bytes)
            .finish_non_exhaustive()
    }
}

impl OpenOptions {
    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Clock) -> OpenOptions {
        self.clock = clock;
        self
    }
    /// Gives the practice's content key (KEK).
    pub fn with_kek(mut self, kek: Kek) -> OpenOptions {
        self.kek = Some(kek);
        self
    }
    /// Replaces the durability.
    pub fn with_durability(mut self, durability: Durability) -> OpenOptions {
        self.durability = durability;
        self
    }
    /// Opens with the ledger key: every commit is sealed (see [`OpenOptions::ledger_key`]).
    pub fn with_ledger_key(mut self, key: SigningKey) -> OpenOptions {
        self.ledger_key = Some(key);
        self
    }
    /// Bounds sled's page cache (see [`OpenOptions::cache_bytes`]).
    pub fn with_cache_bytes(mut self, bytes: u64) -> OpenOptions {
        self.cache_bytes = Some(bytes);
        self
    }
    /// Appends without seals when no ledger key is given (benchmarks only; see
    /// [`OpenOptions::unsealed`]).
    pub fn with_unsealed(mut self, unsealed: bool) -> OpenOptions {
        self.unsealed = unsealed;
        self
    }
}

/// What [`Ledger::create`](crate::Ledger::create) needs to write the genesis entry. The
/// ledger's private key is `open.ledger_key`: without it genesis cannot be sealed and
/// `create` is refused ([`StoreError::NotSealing`](crate::StoreError::NotSealing)).
#[derive(Debug)]
pub struct CreateOptions<'a> {
    /// The checkpoint origin (C2SP), e.g. `example.org/practice-ledger`. Use a valid note key
    /// name (no spaces or `+`) so that it can also name the ledger key.
    pub origin: ShortText,
    /// The first admin's actor id.
    pub admin: ActorId,
    /// The first admin's signing key: signs the genesis event.
    pub admin_key: &'a SigningKey,
    /// The public half of the ledger (checkpoint) key; `open.ledger_key` must be its
    /// private half.
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
    pub(crate) const EMPTY: Head = Head {
        size: 0,
        last_hash: EntryHash::ZERO,
        last_recorded_at: Timestamp(i64::MIN),
    };
}

/// What [`Ledger::append_keyed`](crate::Ledger::append_keyed) did with an event and its
/// client event id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedReceipt {
    /// The entry's receipt (with the seal of the commit that wrote it).
    pub receipt: Receipt,
    /// `true`: the id was already recorded with the same content (earlier, or by another
    /// caller in the same group commit): nothing was appended for this call.
    pub replayed: bool,
}

/// What an accepted append returns: a record system keeps it as evidence that leaves the
/// machine (docs/FORMAT.md, "Receipts"). `verify --trusted` accepts its seal as a
/// checkpoint the auditor holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's position.
    pub seq: Seq,
    /// Its entry hash `h_i`.
    pub hash: EntryHash,
    /// The ledger time it was recorded at.
    pub recorded_at: Timestamp,
    /// The seal that covers it: the signed checkpoint note (C2SP) of the group it was
    /// committed in, durable in `checkpoints.log` before the append returned. `None` only
    /// for a ledger opened [`OpenOptions::unsealed`] (benchmarks).
    pub seal: Option<Seal>,
}

/// A seal: the signed checkpoint note the store wrote for one commit, and its size. Cheap
/// to clone (the note is shared by every receipt of its group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The tree size it names.
    pub size: u64,
    /// The signed note text (`<origin>\n<size>\n<root>\n\n— <origin> <sig>\n`).
    pub note: Arc<str>,
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
    /// sled blob files (values too large for its log) fsynced by flushes.
    pub blobs_synced: u64,
    /// The largest number of entries committed in one transaction.
    pub largest_group: u64,
    /// Callers' threads the group commit unparked: each parked caller once when its group
    /// is answered, plus one caller per hand-over of the lead (at most one per group).
    pub wakeups: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) appended: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) transactions: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) largest_group: AtomicU64,
}

pub(crate) use crate::backend::Trees;

/// What readers see: updated after each commit.
pub(crate) struct Published {
    pub(crate) head: Head,
    pub(crate) range: CompactRange,
    pub(crate) registry: Arc<Registry>,
}

/// The state of `checkpoints.log` in this process.
#[derive(Default)]
pub(crate) struct LogState {
    /// The open log (append mode); `None` until first needed or after a failed write.
    pub(crate) file: Option<std::fs::File>,
    /// The length of the log's complete records.
    pub(crate) len: u64,
    /// The largest size a seal in the log names.
    pub(crate) logged: u64,
}

pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
