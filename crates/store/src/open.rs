//! Opening a ledger directory: the lock, sled, crash repairs on open, the checks that
//! refuse a truncated ledger, new-directory preparation and cleanup, and the
//! [`Ledger`] constructors (create, create_with_genesis, open).

use crate::error::{Result, StoreError};
use crate::group::{Ops, Queue, Writer};
use crate::layout::*;
use crate::ledger::Ledger;
use crate::sigs::KeyCache;
use crate::types::{Counters, CreateOptions, Head, OpenOptions, Published, Trees};
use crate::upper::UpperNodes;
use caseledger_core::encoding::decode_canonical;
use caseledger_core::event::{Event, EventKind, SignedEvent, FORMAT_VERSION};
use caseledger_core::ids::Nonce;
use caseledger_core::merkle::CompactRange;
use caseledger_core::record::{Registry, Violation};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock};

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

fn acquire_lock(dir: &Path) -> Result<File> {
    caseledger_sledio::lock_exclusive(dir).map_err(|e| open_error(dir, e))
}

fn open_sled(dir: &Path, create_new: bool) -> Result<sled::Db> {
    // Called only while we hold `<DIR>/lock`; the shared opener removes stale snapshots and
    // waits (bounded) for sled's own lock.
    caseledger_sledio::open_db(&dir.join(SLED_DIR), |c| c.create_new(create_new))
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

/// Reads `checkpoints.log` once at open: cuts an interrupted final record (a crash during
/// `checkpoint()`, which had therefore not returned: nothing acknowledged is lost) and
/// returns the largest tree size its complete notes name. Only a torn *tail* is cut; a
/// malformed record elsewhere is left for the verifier to report (and names nothing here).
fn read_checkpoint_log(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(CHECKPOINTS_LOG);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let notes = match parse_checkpoints_log(&bytes) {
        Ok(notes) => notes,
        Err(crate::layout::LogError::TornTail { offset, .. }) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            f.set_len(offset as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| StoreError::io(&path, e))?;
            fsync_dir(dir)?;
            parse_checkpoints_log(bytes.get(..offset).unwrap_or_default()).unwrap_or_default()
        }
        Err(crate::layout::LogError::Malformed { .. }) => Vec::new(),
    };
    Ok(notes.iter().filter_map(|n| checkpoint_size(n)).max())
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
fn check_not_shorter_than_recorded(db: &sled::Db, size: u64, in_log: Option<u64>) -> Result<()> {
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
        let db = open_sled(dir, true)?;
        let log = dir.join(CHECKPOINTS_LOG);
        File::create(&log)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&log, e))?;
        // Every file so far (sled's, the log, the lock) 0600 whatever the umask.
        crate::modes::tighten(dir)?;
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
        // Opened to write: refused when others can read it (the fix is in the message).
        crate::modes::check_private(dir)?;
        let lock_file = acquire_lock(dir)?;
        let logged = read_checkpoint_log(dir)?;
        let db = open_sled(dir, false)?;
        // Files sled made while opening (a snapshot) get the process umask: tighten them.
        crate::modes::tighten(dir)?;
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
        check_not_shorter_than_recorded(&db, head.size, logged)?;
        let ledger = Ledger::assemble(dir, db, lock_file, options, head, range, registry)?;
        ledger.redo_erasures()?;
        Ok(ledger)
    }

    /// Finishes lawful destructions interrupted between the destruction entry and the
    /// erasure of the record's content key: a live key store slot of a destroyed record is
    /// erased now.
    fn redo_erasures(&self) -> Result<()> {
        let mut content = crate::group::lock(&self.content);
        for rid in content.live_records() {
            let destroyed = match self.trees.records.get(record_state_key(&rid))? {
                Some(v) => decode_canonical::<caseledger_core::record::RecordState>(&v)
                    .map_err(|e| {
                        StoreError::corrupt(
                            format!("state of record {rid} does not decode: {e}"),
                            None,
                        )
                    })?
                    .destroyed
                    .is_some(),
                None => false,
            };
            if destroyed {
                content.erase(&rid)?;
            }
        }
        Ok(())
    }
}
