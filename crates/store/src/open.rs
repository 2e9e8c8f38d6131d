//! Opening a ledger directory: the lock, sled, crash repairs on open, the checks that
//! refuse a truncated ledger, new-directory preparation and cleanup, and the
//! [`Ledger`] constructors (create, create_with_genesis, open).

use crate::backend::{Backend, Ops, T};
use crate::checkpoints::is_anchored;
use crate::error::{Result, StoreError};
use crate::group::{Queue, Writer};
use crate::layout::*;
use crate::ledger::Ledger;
use crate::sigs::KeyCache;
use crate::types::{Counters, CreateOptions, Head, LogState, OpenOptions, Published, Seal, Trees};
use crate::upper::UpperNodes;
use caseledger_core::checkpoint::open_checkpoint;
use caseledger_core::encoding::decode_canonical;
use caseledger_core::event::Entry;
use caseledger_core::event::{Event, EventKind, SignedEvent, FORMAT_VERSION};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::ids::{EntryHash, Nonce, PublicKey, Seq};
use caseledger_core::merkle::{CompactRange, Hash, Sha256Hasher};
use caseledger_core::note::NoteVerifier;
use caseledger_core::record::{Registry, Violation};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

fn acquire_lock(dir: &Path) -> Result<File> {
    caseledger_sledio::lock_exclusive(dir).map_err(|e| open_error(dir, e))
}

fn open_sled(dir: &Path, create_new: bool, cache_bytes: Option<u64>) -> Result<sled::Db> {
    // Called only while we hold `<DIR>/lock`; the shared opener removes stale snapshots and
    // waits (bounded) for sled's own lock.
    caseledger_sledio::open_db(&dir.join(SLED_DIR), |c| {
        let c = c.create_new(create_new);
        match cache_bytes {
            Some(b) => c.cache_capacity(b),
            None => c,
        }
    })
    .map_err(|e| open_error(dir, e))
}

fn open_error(dir: &Path, e: caseledger_sledio::OpenError) -> StoreError {
    use caseledger_sledio::OpenError;
    match e {
        OpenError::InUse => StoreError::InUse {
            path: dir.to_path_buf(),
        },
        OpenError::Io { path, source } => StoreError::io(&path, source),
        OpenError::Sled(e) => StoreError::Sled(e),
        OpenError::Panicked => StoreError::corrupt(
            "the storage engine crashed while opening the database",
            None,
        ),
    }
}

/// What `checkpoints.log` held at open.
#[derive(Default)]
struct LogRead {
    /// Its complete notes, in file order.
    notes: Vec<String>,
    /// The length of those records (after cutting a torn tail).
    len: u64,
    /// A record does not parse: the log is evidence for the verifier, and opening adds
    /// nothing to it (later commits still append their seals).
    malformed: bool,
}

impl LogRead {
    /// The largest tree size its notes name.
    fn largest(&self) -> Option<u64> {
        self.notes.iter().filter_map(|n| checkpoint_size(n)).max()
    }
}

/// Reads `checkpoints.log` once at open: cuts an interrupted final record (a crash while
/// appending it, which had therefore not been acknowledged: nothing acknowledged is lost;
/// this is the only time the log is shortened) and returns its complete notes. Only a torn
/// *tail* is cut; a malformed record elsewhere is left for the verifier to report (and
/// names nothing here).
fn read_checkpoint_log(dir: &Path) -> Result<LogRead> {
    let path = dir.join(CHECKPOINTS_LOG);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogRead::default()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let mut malformed = false;
    let (notes, len) = match parse_checkpoints_log(&bytes) {
        Ok(notes) => (notes, bytes.len()),
        Err(crate::layout::LogError::TornTail { offset, .. }) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            f.set_len(offset as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| StoreError::io(&path, e))?;
            fsync_dir(dir)?;
            let notes =
                parse_checkpoints_log(bytes.get(..offset).unwrap_or_default()).unwrap_or_default();
            (notes, offset)
        }
        Err(crate::layout::LogError::Malformed { .. }) => {
            malformed = true;
            (Vec::new(), bytes.len())
        }
    };
    Ok(LogRead {
        notes,
        len: len as u64,
        malformed,
    })
}

/// The tree size a signed checkpoint note names (its signatures are the verifier's business).
fn checkpoint_size(note: &str) -> Option<u64> {
    let note = caseledger_core::note::Note::parse(note.as_bytes()).ok()?;
    caseledger_core::checkpoint::Checkpoint::parse_body(note.text())
        .ok()
        .map(|c| c.size)
}

/// Refuses to open a ledger that is shorter than what it has itself recorded: sled 0.34
/// may silently drop a damaged tail on recovery, and appending on top of that would turn
/// bit rot into what looks like a rewritten history. Checked: the `entries` tree ends at
/// `head - 1`, and no checkpoint (in the tree or in `checkpoints.log`) names a larger size.
fn check_not_shorter_than_recorded(b: &impl Backend, size: u64, in_log: Option<u64>) -> Result<()> {
    let last = match b.last(T::Entries)? {
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
    let in_tree = b
        .last(T::Checkpoints)?
        .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok().map(u64::from_be_bytes));
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
            // An empty directory given to us: made private like one we create.
            crate::modes::set_mode(dir, crate::modes::DIR_MODE)?;
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::modes::create_private_dir(dir)?;
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

impl Ledger {
    #[expect(
        clippy::too_many_arguments,
        reason = "one private constructor, called twice"
    )]
    fn assemble(
        dir: &Path,
        trees: Trees,
        lock_file: File,
        options: OpenOptions,
        head: Head,
        range: CompactRange,
        registry: Registry,
        log: LogState,
    ) -> Result<Ledger> {
        let newest_seal = match trees.last(T::Checkpoints)? {
            Some((k, v)) => <[u8; 8]>::try_from(k.as_ref()).ok().map(|k| {
                (
                    u64::from_be_bytes(k),
                    is_anchored(&String::from_utf8_lossy(v.as_ref())),
                )
            }),
            None => None,
        };
        let registry_arc = Arc::new(registry.clone());
        let content = crate::keystore::Content::open(dir, options.kek.clone())?;
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
                newest_seal,
            }),
            published: RwLock::new(Published {
                head,
                range,
                registry: registry_arc,
            }),
            queue: Mutex::new(Queue::default()),
            summoner: std::sync::OnceLock::new(),
            counters: Counters::default(),
            seal_key: options.ledger_key,
            unsealed: options.unsealed,
            log: Mutex::new(log),
            unlogged: Mutex::new(Vec::new()),
            synced: Mutex::new(0),
            keys: KeyCache::default(),
            upper: UpperNodes::default(),
            content: Mutex::new(content),
            _private: crate::modes::TightenOnDrop(dir.to_path_buf()),
            _lock: lock_file,
        })
    }

    /// Creates a new ledger in `dir` (which must be missing or empty) and writes its genesis
    /// entry, signed by the admin key. On failure nothing is left behind.
    pub fn create(dir: impl AsRef<Path>, options: CreateOptions<'_>) -> Result<Ledger> {
        let now = (options.open.clock)();
        let today = now
            .date_in(&options.settings.time_zone.zone())
            .map_err(|_| StoreError::Refused(Violation::DateOutOfRange))?;
        let origin = options.origin.clone();
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
            signed_at: now,
            commitment: None,
            nonce: Nonce::random(),
        };
        let signed = event.sign(origin.as_str(), options.admin_key)?;
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
        // sled creates its directory with the process umask: make it private first.
        crate::modes::create_private_dir(&dir.join(SLED_DIR))?;
        let db = open_sled(dir, true, options.cache_bytes)?;
        let log = dir.join(CHECKPOINTS_LOG);
        File::create(&log)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&log, e))?;
        // Every file so far (sled's, the log, the lock) 0600 whatever the umask.
        crate::modes::tighten(dir)?;
        fsync_dir(dir)?;
        let trees = Trees::open(db, &dir.join(SLED_DIR))?;
        Ledger::assemble(
            dir,
            trees,
            lock_file,
            options,
            Head::EMPTY,
            CompactRange::new(),
            Registry::default(),
            LogState::default(),
        )
    }

    /// Opens an existing ledger. Replays nothing: head and compact range come from `meta`
    /// (checked against the newest seal), the registry from the sealed chain of registry
    /// entries ([`Entry::prev_registry`]). A ledger open elsewhere gives [`StoreError::InUse`].
    pub fn open(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Ledger> {
        let dir = dir.as_ref();
        if !dir.join(SLED_DIR).is_dir() {
            return Err(StoreError::NotALedger {
                path: dir.to_path_buf(),
                why: "no sled/ directory",
            });
        }
        // Opened to write: refused when others can read it (the fix is in the message).
        crate::modes::check_private(dir)?;
        let lock_file = acquire_lock(dir)?;
        let log = read_checkpoint_log(dir)?;
        let db = open_sled(dir, false, options.cache_bytes)?;
        // Files sled made while opening (a snapshot) get the process umask: tighten them.
        crate::modes::tighten(dir)?;
        // Whether this is a ledger at all is asked of sled before the ledger's trees are
        // opened (which would add them to a database that is not one).
        let fv =
            db.open_tree(TREE_META)?
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
        let trees = Trees::open(db, &dir.join(SLED_DIR))?;
        let get = |key: &[u8], what: &'static str| -> Result<<Trees as Backend>::Value> {
            trees
                .get(T::Meta, key)?
                .ok_or_else(|| StoreError::corrupt(format!("meta.{what} is missing"), None))
        };
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
        check_not_shorter_than_recorded(&trees, head.size, log.largest())?;
        let genesis = genesis_facts(&trees)?;
        if let Some(k) = &options.ledger_key {
            if k.public_key() != genesis.ledger_key {
                return Err(StoreError::WrongLedgerKey);
            }
        }
        let newest = newest_valid_seal(&trees, &log.notes, &genesis)?;
        upgrade_to_tiles(&trees, head.size)?;
        check_derived_state(&trees, &head, &range, newest.as_ref())?;
        // The registry is derived from the sealed entries, never read from a row.
        let registry = crate::rebuild::registry_from_chain(
            &trees,
            head.size,
            head.last_recorded_at,
            newest.as_ref().map(|s| (s.size, s.root)),
        )?;
        let logged = newest_logged(&log.notes, &genesis);
        let state = LogState {
            file: None,
            len: log.len,
            logged,
        };
        let ledger =
            Ledger::assemble(dir, trees, lock_file, options, head, range, registry, state)?;
        ledger.redo_erasures()?;
        // A crash after sled's flush and before the log append: the seal is in sled only.
        // The log is brought up to it (never the other way round).
        if let Some(n) = newest.filter(|n| n.size > logged && !log.malformed) {
            // What sled recovered is made durable before the log names it: a second crash
            // during recovery must not leave a logged seal over entries sled then loses.
            ledger.flush()?;
            ledger.log_seals(&[Seal {
                size: n.size,
                note: Arc::from(n.note),
            }])?;
        }
        Ok(ledger)
    }

    /// Finishes lawful destructions interrupted between the destruction entry and the
    /// erasure of the record's content key: a live key store slot of a destroyed record is
    /// erased now. The record state row is derived state an insider can edit, so it only
    /// says where to look: the key is erased only if the entry it names (sealed, checked at
    /// open) really is a destruction of that record.
    fn redo_erasures(&self) -> Result<()> {
        let mut content = crate::group::lock(&self.content);
        for rid in content.live_records() {
            let Some(v) = self.trees.get(T::Records, &record_state_key(&rid))? else {
                continue;
            };
            let state =
                decode_canonical::<caseledger_core::record::RecordState>(&v).map_err(|e| {
                    StoreError::corrupt(format!("state of record {rid} does not decode: {e}"), None)
                })?;
            let Some(d) = state.destroyed else {
                continue;
            };
            let destroys = match self.entry(d.seq) {
                Ok(Some(e)) => {
                    matches!(e.event.event.kind, EventKind::Destruction { .. })
                        && e.event.event.record.as_ref() == Some(&rid)
                }
                _ => false,
            };
            if destroys {
                content.erase(&rid)?;
            }
        }
        Ok(())
    }
}

/// What the genesis entry (seq 0) names, read from its bytes: the source of truth for the
/// key that seals and the origin seals name.
struct GenesisFacts {
    origin: String,
    ledger_key: PublicKey,
}

fn genesis_facts(b: &impl Backend) -> Result<GenesisFacts> {
    let bytes = b
        .get(T::Entries, &0u64.to_be_bytes())?
        .ok_or(StoreError::corrupt(
            "the genesis entry (seq 0) is missing",
            Some(Seq(0)),
        ))?;
    let entry = Entry::from_bytes(bytes.as_ref()).map_err(|e| {
        StoreError::corrupt(
            format!("the genesis entry does not decode: {e}"),
            Some(Seq(0)),
        )
    })?;
    match &entry.event.event.kind {
        EventKind::Genesis {
            origin, ledger_key, ..
        } => Ok(GenesisFacts {
            origin: origin.as_str().to_owned(),
            ledger_key: *ledger_key,
        }),
        _ => Err(StoreError::corrupt(
            "the entry at seq 0 is not a genesis entry",
            Some(Seq(0)),
        )),
    }
}

/// A seal found at open: validly signed by the genesis ledger key.
struct FoundSeal {
    size: u64,
    root: Hash,
    note: String,
}

/// The checkpoint `note` if it is a seal of this ledger: signed by the genesis ledger key
/// under the origin, and names the origin.
fn as_seal(note: &str, genesis: &GenesisFacts) -> Option<FoundSeal> {
    let verifier = NoteVerifier::new(&genesis.origin, genesis.ledger_key).ok()?;
    let signed = open_checkpoint(note, std::slice::from_ref(&verifier)).ok()?;
    (signed.checkpoint.origin == genesis.origin).then(|| FoundSeal {
        size: signed.checkpoint.size,
        root: signed.checkpoint.root,
        note: note.to_owned(),
    })
}

/// The newest seal in the `checkpoints` tree or `checkpoints.log` whose signature verifies
/// with the genesis ledger key (a note that does not verify seals nothing; the verifier
/// reports it). Candidates are tried from the largest size down, so normally one signature
/// is checked.
fn newest_valid_seal(
    b: &impl Backend,
    log: &[String],
    genesis: &GenesisFacts,
) -> Result<Option<FoundSeal>> {
    // The tree holds few notes (the newest seal, cosigned and imported ones); the log may
    // hold one per commit ever made: borrowed, not copied.
    let mut stored: Vec<String> = Vec::new();
    for row in b.scan(T::Checkpoints, &[], None) {
        let (_, v) = row?;
        if let Ok(text) = String::from_utf8(v.as_ref().to_vec()) {
            stored.push(text);
        }
    }
    let mut candidates: Vec<(u64, &str)> = stored
        .iter()
        .chain(log)
        .filter_map(|n| checkpoint_size(n).map(|size| (size, n.as_str())))
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    Ok(candidates.iter().find_map(|(_, n)| as_seal(n, genesis)))
}

/// The largest size a validly signed seal in the log names (0 if none).
fn newest_logged(log: &[String], genesis: &GenesisFacts) -> u64 {
    let mut sizes: Vec<(u64, &String)> = log
        .iter()
        .filter_map(|n| checkpoint_size(n).map(|s| (s, n)))
        .collect();
    sizes.sort_by_key(|c| std::cmp::Reverse(c.0));
    sizes
        .iter()
        .find_map(|(_, n)| as_seal(n, genesis))
        .map_or(0, |s| s.size)
}

/// DESIGN v2 principle 3, at open: `meta.compact_range` and `meta.head` must be what the
/// entry bytes give, from the newest seal on. The compact range at the seal's size is read
/// from the `tiles` rows and must hash to the seal's signed root (the signature binds it);
/// each entry after the seal is decoded, must sit at its seq and chain to the one before,
/// and its leaf extends the range. The result must equal `meta.compact_range`, and the
/// last entry must be `meta.head`, and the right-edge `tiles` rows at the head must hold
/// exactly the nodes complete there and hash to it (`tilerows::check_edge`). The cost is
/// one signature check, at most 16 row reads (each hashed) and the entries after the seal
/// (none after a clean close: every commit is sealed). Without any seal, the whole tree is
/// recomputed from entry bytes.
fn check_derived_state(
    b: &impl Backend,
    head: &Head,
    range: &CompactRange,
    seal: Option<&FoundSeal>,
) -> Result<()> {
    // The root check against the seal comes after the entry checks below: for an odd
    // seal size the range holds the last sealed entry's leaf, hashed from its bytes (no
    // level-0 rows), and an edited entry must be reported as what it is (a chain break or
    // `meta.head`), as when leaves were rows.
    let from = seal.map_or(0, |s| s.size);
    let mut prev = match from.checked_sub(1) {
        None => EntryHash::ZERO,
        Some(p) => entry_hash(
            b.get(T::Entries, &p.to_be_bytes())?
                .ok_or(StoreError::corrupt(
                    "an entry the newest seal covers is missing",
                    Some(Seq(p)),
                ))?
                .as_ref(),
        ),
    };
    let mut rebuilt = match seal {
        None => CompactRange::new(),
        Some(s) => range_at(b, s)?,
    };
    let sealed_root = rebuilt.root(&Sha256Hasher);
    let mut last_recorded_at = None;
    for seq in from..head.size {
        let bytes = b
            .get(T::Entries, &seq.to_be_bytes())?
            .ok_or(StoreError::DerivedState {
                what: "meta.head",
                with: format!("the entries tree, which has no entry at seq {seq}"),
            })?;
        let entry = Entry::from_bytes(bytes.as_ref()).map_err(|e| {
            StoreError::corrupt(format!("entry does not decode: {e}"), Some(Seq(seq)))
        })?;
        if entry.seq != Seq(seq) || entry.prev != prev {
            return Err(StoreError::corrupt(
                "an entry after the newest seal is out of place or does not chain to the one before",
                Some(Seq(seq)),
            ));
        }
        prev = entry_hash(bytes.as_ref());
        last_recorded_at = Some(entry.recorded_at);
        rebuilt
            .append(&Sha256Hasher, merkle_leaf(&prev))
            .map_err(|_| StoreError::Full)?;
    }
    let sealed = seal.map_or(0, |s| s.size);
    let head_ok = head.size == 0
        || (head.last_hash == prev && last_recorded_at.is_none_or(|t| t == head.last_recorded_at));
    if !head_ok {
        return Err(StoreError::DerivedState {
            what: "meta.head",
            with: format!(
                "the last entry's bytes (seq {})",
                head.size.saturating_sub(1)
            ),
        });
    }
    if let Some(s) = seal.filter(|s| s.root != sealed_root) {
        return Err(StoreError::DerivedState {
            what: "the tiles tree",
            with: format!("the root signed in the newest seal (size {})", s.size),
        });
    }
    if rebuilt != *range {
        return Err(StoreError::DerivedState {
            what: "meta.compact_range",
            with: format!(
                "the Merkle tree recomputed from the newest seal (size {sealed}) and the entry bytes after it (up to the head, size {})",
                head.size
            ),
        });
    }
    // The right-edge tiles the next group grows: exactly the nodes complete at the head,
    // hashing to the range just checked (at the seal's size they were read above; after
    // it, an unsealed or imported tail, only here).
    if !crate::tilerows::check_edge(b, &rebuilt)? {
        return Err(StoreError::DerivedState {
            what: "the tiles tree",
            with: format!(
                "the Merkle tree recomputed from the newest seal and the entry bytes after it (its right edge at the head, size {})",
                head.size
            ),
        });
    }
    Ok(())
}

/// A ledger written before Merkle tiles (a `nodes` tree, no `tiles` rows), or one whose
/// first tile row is gone: its `tiles` rows are built from its entries (once, O(n); the
/// checks at open then judge them like any), and the `nodes` tree, no longer read, is
/// dropped. A ledger so upgraded cannot be opened by a build that reads `nodes`.
fn upgrade_to_tiles(trees: &Trees, head_size: u64) -> Result<()> {
    if crate::tilerows::lacks_tiles(trees, head_size)? {
        crate::tilerows::build_from_entries(trees, head_size)?;
    }
    // The `nodes` tree is sled's alone (no engine added later has one to drop).
    let db = trees.sled_db();
    if db
        .tree_names()
        .iter()
        .any(|n| n.as_ref() == TREE_NODES.as_bytes())
    {
        db.drop_tree(TREE_NODES)?;
        db.flush()?;
    }
    Ok(())
}

/// The compact range at a seal's size from the `tiles` rows (its right-edge tiles, read
/// as prefixes: the head may be past the seal); the caller checks it against the seal's
/// signed root.
fn range_at(tiles: &impl Backend, seal: &FoundSeal) -> Result<CompactRange> {
    let tree = crate::tilerows::TileNodes::new(tiles);
    // A missing or malformed tile disagrees with the seal; an I/O error is reported as one.
    match crate::tilerows::range_from(&tree, seal.size) {
        Err(StoreError::Corrupt { .. }) => Err(StoreError::DerivedState {
            what: "the tiles tree",
            with: format!("the newest seal (size {})", seal.size),
        }),
        r => r,
    }
}

/// Copies a closed ledger directory (tests that tamper with a copy).
#[cfg(test)]
pub(crate) fn copy_for_test(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    // Private like the original (the store refuses an exposed ledger).
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_for_test(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}
