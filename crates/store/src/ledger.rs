//! The ledger: the [`Ledger`] handle and its small accessors.
//!
//! Its options and value types ([`Head`], [`Receipt`], [`Stats`]) are in `types.rs`. The
//! rest of `Ledger` lives in sibling modules, each importing this one (never the other way
//! round): create/open in `open.rs`, append with group commit in `commit.rs` (the group
//! machinery it drives is `group.rs`), queries and proofs in `query.rs`.
//! The on-disk layout is in [`crate::layout`]; checkpoints in [`crate::checkpoints`];
//! archive export/import in [`crate::archive`].

use crate::error::{Result, StoreError};
use crate::group::{lock, Queue, Writer};
use crate::layout::*;
use crate::sigs::KeyCache;
use crate::types::*;
use crate::upper::UpperNodes;
use caseledger_core::event::ShortText;
use caseledger_core::ids::PublicKey;
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{Hash, Sha256Hasher};
use caseledger_core::record::Registry;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError, RwLock};

/// A caseledger ledger in a directory: `Send + Sync`, share it by reference (or `Arc`)
/// between the threads that append.
///
/// ```
/// use caseledger_core::event::{Event, EventKind, Payload, Role, ShortText};
/// use caseledger_core::ids::{ActorId, Nonce, RecordId};
/// use caseledger_core::keys::SigningKey;
/// use caseledger_core::note::NoteSigner;
/// use caseledger_core::time::{Date, Timestamp};
/// use caseledger_core::content::Kek;
/// use caseledger_store::{CreateOptions, Ledger, OpenOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let admin_key = SigningKey::from_seed(&[1; 32]);
/// // The ledger key seals every commit: the process that appends holds it.
/// let ledger_key = SigningKey::from_seed(&[2; 32]);
/// let ledger = Ledger::create(dir.path().join("ledger"), CreateOptions {
///     origin: ShortText::new("example.org/ledger").unwrap(),
///     admin: ActorId::new("admin").unwrap(),
///     admin_key: &admin_key,
///     ledger_key: ledger_key.public_key(),
///     settings: Default::default(),
///     open: OpenOptions::default().with_kek(Kek::generate()).with_ledger_key(ledger_key.clone()),
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
///     signed_at: Timestamp::now(),
///     commitment: None,
///     nonce: Nonce::random(),
/// };
/// ledger.append(enrol.sign("example.org/ledger", &admin_key).unwrap(), None).unwrap();
/// let rec = RecordId::new("C-0042").unwrap();
/// let ev = |kind, commitment| Event { record: Some(rec.clone()), author: ActorId::new("lic").unwrap(), kind, occurred_on: today, signed_at: Timestamp::now(), commitment, nonce: Nonce::random() };
/// ledger.append(ev(EventKind::RecordOpened, None).sign("example.org/ledger", &lic_key).unwrap(), None).unwrap();
/// let note = Payload::new(b"Client reports better sleep.".to_vec());
/// let receipt = ledger.append(ev(EventKind::ProgressNote, Some(note.commitment())).sign("example.org/ledger", &lic_key).unwrap(), Some(note.clone())).unwrap();
/// assert_eq!(receipt.seq.get(), 3);
/// assert_eq!(ledger.payload(receipt.seq).unwrap(), Some(note));
///
/// // The receipt carries the seal that covers the note; prove the note is in it.
/// let seal = receipt.seal.unwrap();
/// assert!(seal.note.starts_with("example.org/ledger\n4\n"));
/// let signer = NoteSigner::new("example.org/ledger", ledger_key).unwrap();
/// caseledger_core::checkpoint::open_checkpoint(&seal.note, &[signer.verifier()]).unwrap();
/// assert_eq!(ledger.newest_seal().unwrap().unwrap().1, &*seal.note);
/// let proof = ledger.inclusion_proof(receipt.seq, 4).unwrap();
/// assert_eq!(proof.len(), 2);
/// ledger.close().unwrap();
/// ```
pub struct Ledger {
    pub(crate) trees: Trees,
    pub(crate) dir: PathBuf,
    pub(crate) durability: Durability,
    pub(crate) clock: Clock,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) published: RwLock<Published>,
    pub(crate) queue: Mutex<Queue>,
    /// Asks for a [`Ledger::lead`] on a thread that may block (`Ledger::set_summoner`).
    pub(crate) summoner: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    pub(crate) counters: Counters,
    /// The ledger key, when this process holds it: every commit is sealed with it.
    pub(crate) seal_key: Option<SigningKey>,
    /// Appends without a key are allowed (unsealed; benchmarks only).
    pub(crate) unsealed: bool,
    /// `checkpoints.log`: its handle and what it holds (locked while it is written and
    /// fsynced).
    pub(crate) log: Mutex<LogState>,
    /// Seals committed to sled and not yet in the log, oldest first: several when groups
    /// are pipelined (the next commits while one is flushed) or under `Deferred`. Not under
    /// the log's lock, so a flush can start sled's fsync while the log's runs.
    pub(crate) unlogged: Mutex<Vec<Seal>>,
    /// The head size a completed sled flush is known to cover (`commit.rs`'s `sync_group`):
    /// locked while such a flush runs, so waiting groups find theirs already covered.
    pub(crate) synced: Mutex<u64>,
    pub(crate) keys: KeyCache,
    pub(crate) upper: UpperNodes,
    /// The key store and KEK (taken after the writer lock, never before).
    pub(crate) content: Mutex<crate::keystore::Content>,
    // Dropped after `trees` (fields drop in order): sled writes a snapshot file with the
    // process umask when its last handle goes; this makes it 0600 while we hold the lock.
    pub(crate) _private: crate::modes::TightenOnDrop,
    // Dropped last: the advisory lock outlives the database handle.
    pub(crate) _lock: File,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Sets the durability (import runs `Deferred`, then hands back the caller's choice).
    pub(crate) fn durability_mut(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// Makes everything appended so far durable: one sled flush, then the seals committed
    /// before it and not yet logged into `checkpoints.log` (one append and one fsync). They
    /// are taken before sled is flushed, so the log never names entries that are not
    /// durable. Concurrent flushes are safe: each logs what it took that is newer than the
    /// log's newest seal, so one fsync may cover several groups.
    pub fn flush(&self) -> Result<()> {
        let pending = lock(&self.unlogged).clone();
        self.flush_sled()?;
        if !pending.is_empty() {
            self.log_seals(&pending)?;
        }
        Ok(())
    }

    /// One sled flush: everything committed before it began is durable in sled.
    pub(crate) fn flush_sled(&self) -> Result<()> {
        crate::backend::Backend::flush(&self.trees).map_err(|e| match e {
            StoreError::Io { path: None, source } => {
                StoreError::io(self.dir.join(SLED_DIR), source)
            }
            other => other,
        })?;
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The newest seal, as `(size, note)`: the checkpoint signed by the ledger key for the
    /// last commit (with any cosignatures added since). `caseledger checkpoint` prints it.
    /// `None` before the first sealed commit (an imported ledger keeps the archive's
    /// checkpoints: the newest of those).
    ///
    /// Only a durable seal is handed out: the seal is read, then the ledger is flushed
    /// (which also logs the seals committed since), so a seal a caller keeps never covers
    /// entries a crash could still take back. (Read after the flush, it could be the seal of
    /// a group committed meanwhile whose own flush is still running: groups are pipelined.)
    pub fn newest_seal(&self) -> Result<Option<(u64, String)>> {
        let newest = self.latest_checkpoint()?;
        self.flush()?;
        Ok(newest)
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
    pub fn root(&self) -> Hash {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .range
            .root(&Sha256Hasher)
    }

    /// Counters since open.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            appended: c.appended.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            blobs_synced: self.trees.blobs_synced(),
            largest_group: c.largest_group.load(Ordering::Relaxed),
            wakeups: crate::group::lock(&self.queue).wakeups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::T;
    use crate::tilerows::TileNodes;
    use crate::upper::UPPER_LEVEL;
    use caseledger_core::encoding::decode_canonical;
    use caseledger_core::event::LedgerSettings;
    use caseledger_core::event::Role;
    use caseledger_core::event::{Event, EventKind, Payload, FORMAT_VERSION};
    use caseledger_core::hash::{entry_hash, merkle_leaf};
    use caseledger_core::ids::{ActorId, Nonce, RecordId, Seq};
    use caseledger_core::keys::SigningKey;
    use caseledger_core::merkle::CompactRange;
    use caseledger_core::merkle::{self, NodeId, TreeHasher};
    use caseledger_core::record::RecordState;
    use caseledger_core::time::Date;
    use caseledger_core::time::Timestamp;
    use std::sync::Arc;

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
                open: OpenOptions::default()
                    .with_clock(clock)
                    .with_kek(caseledger_core::content::Kek::from_bytes([7; 32]))
                    .with_ledger_key(SigningKey::from_seed(&[2; 32])),
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
            signed_at: Timestamp(1_704_888_000_000_000),
            commitment: None,
            nonce: Nonce::random(),
        };
        l.append(enrol.sign("example.org/unit", &admin).unwrap(), None)
            .unwrap();
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
            signed_at: Timestamp(1_704_888_000_000_000),
            commitment: payload.as_ref().map(Payload::commitment),
            nonce: Nonce::random(),
        };
        l.append(ev.sign("example.org/unit", lic).unwrap(), payload)
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
                        signed_at: Timestamp(1_704_888_000_000_000),
                        commitment: None,
                        nonce: Nonce::random(),
                    };
                    (ev.sign("example.org/unit", &lic).unwrap(), None)
                })
                .collect();
            l.append_batch(items).unwrap();
        };
        let compare = |l: &Ledger, next: &mut dyn FnMut(u64) -> u64| {
            let head = l.head().size;
            let raw = TileNodes::new(&l.trees);
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
        let l = Ledger::open(&path, sealing()).unwrap();
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
            .tree(T::Payloads)
            .get(rc.seq.to_be_bytes())
            .unwrap()
            .unwrap()
            .to_vec();
        *stored.last_mut().unwrap() = b'1';
        l.trees
            .tree(T::Payloads)
            .insert(rc.seq.to_be_bytes(), stored)
            .unwrap();
        assert!(
            matches!(l.payload(rc.seq), Err(StoreError::Corrupt { seq: Some(s), .. }) if s == rc.seq)
        );
        // A payload planted on an entry without a commitment is corrupt too.
        l.trees
            .tree(T::Payloads)
            .insert(Seq(1).to_be_bytes(), vec![0u8; 40])
            .unwrap();
        assert!(matches!(l.payload(Seq(1)), Err(StoreError::Corrupt { .. })));
        // A payload shorter than its salt.
        l.trees
            .tree(T::Payloads)
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
        // One row per record, its state: no index row per entry (the record's entries are
        // found along their placement chain from the state's `last_seq`).
        assert!(t
            .tree(T::Records)
            .get(record_index_key(&r, rc.seq.0))
            .unwrap()
            .is_none());
        assert_eq!(t.tree(T::Records).len(), 1);
        let st: RecordState = decode_canonical(
            &t.tree(T::Records)
                .get(record_state_key(&r))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(st.entries, 1);
        assert_eq!(st.last_seq, rc.seq);
        assert_eq!(l.record_entries(&r).unwrap(), [rc.seq]);
        let head: Head =
            decode_canonical(&t.tree(T::Meta).get(META_HEAD).unwrap().unwrap()).unwrap();
        assert_eq!(head, l.head());
        assert_eq!(t.tree(T::Meta).get(META_HEAD).unwrap().unwrap().len(), 48);
        let range: CompactRange =
            decode_canonical(&t.tree(T::Meta).get(META_COMPACT_RANGE).unwrap().unwrap()).unwrap();
        assert_eq!(range.size(), 3);
        // No registry row (format 3): the registry is rebuilt from the sealed entries.
        assert!(t.tree(T::Meta).get(b"registry").unwrap().is_none());
        assert_eq!(l.registry().actors.len(), 2);
        assert_eq!(
            t.tree(T::Meta).get(META_ORIGIN).unwrap().unwrap().as_ref(),
            b"example.org/unit"
        );
        assert_eq!(
            t.tree(T::Meta)
                .get(META_FORMAT_VERSION)
                .unwrap()
                .unwrap()
                .as_ref(),
            &FORMAT_VERSION.to_le_bytes()
        );
        assert_eq!(
            t.tree(T::Meta)
                .get(META_LEDGER_KEY)
                .unwrap()
                .unwrap()
                .as_ref(),
            &SigningKey::from_seed(&[2; 32]).public_key().0
        );
        // The Merkle tree of 3 leaves as tiles: one partial level-0 tile holding the three
        // leaves, rewritten by each group (3 groups here); the level-1 node is hashed
        // from it, not stored. No `nodes` tree.
        assert_eq!(t.tree(T::Tiles).len(), 1);
        let row = t.tree(T::Tiles).get(tile_key(0, 0)).unwrap().unwrap();
        let leaves: Vec<u8> = (0..3u64)
            .flat_map(|i| {
                merkle_leaf(&entry_hash(
                    &t.tree(T::Entries).get(i.to_be_bytes()).unwrap().unwrap(),
                ))
                .0
            })
            .collect();
        assert_eq!(row.as_ref(), leaves.as_slice());
        assert!(!t
            .sled_db()
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == TREE_NODES.as_bytes()));
        let nonce_rows = t.tree(T::Nonces).len();
        assert_eq!(nonce_rows, 3);
        let raw = TileNodes::new(t);
        assert_eq!(
            merkle::NodeSource::node(&raw, NodeId::new(1, 0).unwrap()).unwrap(),
            Sha256Hasher.hash_children(
                &Hash::from_slice(&leaves[..32]).unwrap(),
                &Hash::from_slice(&leaves[32..64]).unwrap()
            )
        );
        assert_eq!(l.root_at(3).unwrap(), l.root());
        assert_eq!(
            l.inclusion_proof(Seq(1), 3).unwrap(),
            merkle::inclusion_proof(&Sha256Hasher, &raw, 1, 3).unwrap()
        );
    }

    fn sealing() -> OpenOptions {
        // The unit ledgers' clock (events are signed at it) and keys.
        let clock: Clock = Arc::new(|| Timestamp(1_704_888_000_000_000));
        OpenOptions::default()
            .with_clock(clock)
            .with_kek(caseledger_core::content::Kek::from_bytes([7; 32]))
            .with_ledger_key(SigningKey::from_seed(&[2; 32]))
    }

    /// Edits one `meta` row (or any tree's) of a closed ledger in the real sled database.
    fn edit(path: &Path, tree: &str, key: &[u8], f: impl FnOnce(&mut Vec<u8>)) {
        let db = caseledger_sledio::open_db(&path.join(SLED_DIR), |c| c).unwrap();
        let t = db.open_tree(tree).unwrap();
        let mut v = t.get(key).unwrap().unwrap().to_vec();
        f(&mut v);
        t.insert(key, v).unwrap();
        db.flush().unwrap();
        drop(t);
        drop(db);
        private(path);
    }

    /// Makes every file under `path` 0600 again (sled opened directly writes with the
    /// umask; the store refuses an exposed ledger).
    fn private(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        for e in std::fs::read_dir(path).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                private(&p);
            } else {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }

    /// Rows of a tree, as (key, value) bytes.
    type Rows = Vec<(Vec<u8>, Vec<u8>)>;

    /// Everything sealing could have changed: the log's bytes and the checkpoints tree.
    fn seals(path: &Path) -> (Vec<u8>, Rows) {
        let log = std::fs::read(path.join(CHECKPOINTS_LOG)).unwrap();
        let db = caseledger_sledio::open_db(&path.join(SLED_DIR), |c| c).unwrap();
        let rows = db
            .open_tree(TREE_CHECKPOINTS)
            .unwrap()
            .iter()
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        drop(db);
        private(path);
        (log, rows)
    }

    /// A record's entries are read along their placement chain from the state row, every
    /// step checked: an index row an older ledger kept (or an insider planted) is ignored,
    /// and a state row or an entry pointing elsewhere is a `Corrupt` error naming the seq,
    /// never another record's entry or a shortened list.
    #[test]
    fn record_entries_follow_the_placement_chain_and_refuse_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let (l, lic) = ledger(dir.path());
        let r = RecordId::new("R").unwrap();
        let mut seqs = vec![note(&l, &lic, EventKind::RecordOpened, None).unwrap().seq];
        for _ in 0..3 {
            seqs.push(note(&l, &lic, EventKind::Contact, None).unwrap().seq);
        }
        assert_eq!(seqs, [Seq(2), Seq(3), Seq(4), Seq(5)]);
        assert_eq!(l.record_entries(&r).unwrap(), seqs);
        assert!(l
            .record_entries(&RecordId::new("none").unwrap())
            .unwrap()
            .is_empty());
        let t = &l.trees;
        // An old layout's index row, here naming the admin enrolment: ignored.
        t.tree(T::Records)
            .insert(record_index_key(&r, 1), &[] as &[u8])
            .unwrap();
        assert_eq!(l.record_entries(&r).unwrap(), seqs);
        let corrupt_at = |want: u64, why: &str| match l.record_entries(&r) {
            Err(StoreError::Corrupt { what, seq }) => {
                assert_eq!(seq, Some(Seq(want)), "{what}");
                assert!(what.contains(why), "{what}");
            }
            other => panic!("expected a broken chain, got {other:?}"),
        };
        // The state row's latest entry pointed at an entry of no record (the enrolment).
        let row = t
            .tree(T::Records)
            .get(record_state_key(&r))
            .unwrap()
            .unwrap();
        let mut st: RecordState = decode_canonical(&row).unwrap();
        let edit_state = |st: &RecordState| {
            t.tree(T::Records)
                .insert(
                    record_state_key(&r),
                    caseledger_core::encoding::encode(st).unwrap(),
                )
                .unwrap();
        };
        st.last_seq = Seq(1);
        edit_state(&st);
        corrupt_at(1, "another record");
        // A count the chain does not have, either way.
        st.last_seq = Seq(5);
        st.entries = 5;
        edit_state(&st);
        corrupt_at(5, "expected 5");
        st.entries = 3;
        edit_state(&st);
        corrupt_at(5, "expected 3");
        st.entries = 4;
        edit_state(&st);
        assert_eq!(l.record_entries(&r).unwrap(), seqs);
        // Entry 4's stored bytes edited to skip entry 3: the ordinals give it away.
        let bytes = t.tree(T::Entries).get(4u64.to_be_bytes()).unwrap().unwrap();
        let mut e = caseledger_core::event::Entry::from_bytes(&bytes).unwrap();
        let mut p = e.placement.unwrap();
        p.prev_in_record = Some(Seq(2));
        e.placement = Some(p);
        t.tree(T::Entries)
            .insert(4u64.to_be_bytes(), e.to_bytes().unwrap())
            .unwrap();
        corrupt_at(2, "expected 2");
        t.tree(T::Entries)
            .insert(4u64.to_be_bytes(), bytes)
            .unwrap();
        assert_eq!(l.record_entries(&r).unwrap(), seqs);
    }

    /// Issue 12, attack 3: one flipped byte of `meta.compact_range` must not become a root
    /// the ledger key signs. The store refuses to open, naming the row, and signs nothing;
    /// so for `meta.head` and for the `tiles` row the compact range is checked against
    /// (the real level-0 tile row's last hash byte: the leaf of entry 3 of 4).
    #[test]
    fn flipped_derived_state_is_refused_at_open_and_nothing_is_signed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (l, lic) = ledger(&path);
        note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        note(&l, &lic, EventKind::ProgressNote, Some(b"n")).unwrap();
        drop(l);
        let cases: [(&str, &[u8], &str); 3] = [
            (TREE_META, META_COMPACT_RANGE, "meta.compact_range"),
            (TREE_META, META_HEAD, "meta.head"),
            (TREE_TILES, &tile_key(0, 0), "the tiles tree"),
        ];
        for (tree, key, named) in cases {
            let copy = dir.path().join(format!("copy-{named}"));
            crate::open::copy_for_test(&path, &copy);
            // The last byte of each row is a hash byte (compact range, head's recorded_at
            // is not: flip inside the last-entry hash for the head).
            edit(&copy, tree, key, |v| {
                let at = if key == META_HEAD { 8 } else { v.len() - 1 };
                v[at] ^= 1;
            });
            let before = seals(&copy);
            let err = Ledger::open(&copy, sealing()).unwrap_err();
            assert!(
                matches!(&err, StoreError::DerivedState { what, .. } if *what == named),
                "{named}: {err:?}"
            );
            assert!(err.to_string().contains("nothing was signed"), "{err}");
            assert_eq!(seals(&copy), before, "{named}: nothing signed or logged");
            // Without the key, too: the state is refused, not only its sealing.
            assert!(Ledger::open(&copy, OpenOptions::default()).is_err());
        }
        // The untouched ledger opens.
        Ledger::open(&path, sealing()).unwrap();
    }

    /// The crash window between sled's flush and the log append: the group's seal is in
    /// sled (same transaction as its entries), the append was not acknowledged; opening
    /// brings the log up to the seal, and no new seal is signed.
    #[test]
    fn a_seal_in_sled_but_not_in_the_log_is_logged_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (l, lic) = ledger(&path);
        drop(l);
        let l = Ledger::open(&path, sealing()).unwrap();
        let log = path.join(CHECKPOINTS_LOG);
        let saved = std::fs::read(&log).unwrap();
        // The log cannot be written (a directory in its place: fails even as root).
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
        let err = note(&l, &lic, EventKind::RecordOpened, None).unwrap_err();
        assert!(
            matches!(&err, StoreError::Io { path: Some(p), .. } if *p == log),
            "{err:?}"
        );
        let (size, sealed) = l.latest_checkpoint().unwrap().unwrap();
        assert_eq!((size, l.head().size), (3, 3));
        drop(l); // the crash: nothing more is written
        std::fs::remove_dir(&log).unwrap();
        std::fs::write(&log, &saved).unwrap();
        private(&path);
        let l = Ledger::open(&path, OpenOptions::default()).unwrap();
        let notes = parse_checkpoints_log(&std::fs::read(&log).unwrap()).unwrap();
        assert_eq!(notes.len(), 3);
        assert_eq!(notes.last(), Some(&sealed));
        assert_eq!(l.latest_checkpoint().unwrap(), Some((3, sealed)));
    }

    #[test]
    fn an_empty_batch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (l, _) = ledger(dir.path());
        let s = l.stats();
        assert!(l.append_batch(Vec::new()).unwrap().is_empty());
        assert_eq!(l.stats(), s);
    }

    /// An insider edits the record's derived state row to say it was destroyed: opening
    /// must not erase the record's content key on that word alone (only a destruction entry
    /// does), so the payload still opens.
    #[test]
    fn a_state_row_claiming_destruction_does_not_erase_the_key_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (l, lic) = ledger(&path);
        note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        let r = note(&l, &lic, EventKind::ProgressNote, Some(b"kept")).unwrap();
        drop(l);
        let rid = RecordId::new("R").unwrap();
        edit(&path, TREE_RECORDS, &record_state_key(&rid), |v| {
            let mut st: RecordState = decode_canonical(v).unwrap();
            st.destroyed = Some(caseledger_core::record::Destroyed {
                seq: r.seq,
                on: Date::parse("2024-01-10").unwrap(),
                by: ActorId::new("cust").unwrap(),
                lawful: true,
            });
            *v = caseledger_core::encoding::encode(&st).unwrap();
        });
        let l = Ledger::open(&path, sealing()).unwrap();
        assert_eq!(
            l.payload(r.seq).unwrap().map(|p| p.content().to_vec()),
            Some(b"kept".to_vec())
        );
    }

    /// An insider edits the record's derived state row so that a record under a legal hold
    /// looks destroyable (hold cleared, service terminated in 2010). The destruction is
    /// judged against the state rebuilt from the record's entries, so it is refused naming
    /// the row: nothing is written, the payload still opens and the key slot is live.
    #[test]
    fn a_destruction_judged_against_an_edited_state_row_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (l, lic) = ledger(&path);
        let admin = SigningKey::from_seed(&[1; 32]);
        let cust = SigningKey::from_seed(&[4; 32]);
        let on = Date::parse("2024-01-10").unwrap();
        let event = |author: &str, record: bool, kind: EventKind| Event {
            record: record.then(|| RecordId::new("R").unwrap()),
            author: ActorId::new(author).unwrap(),
            kind,
            occurred_on: on,
            signed_at: Timestamp(1_704_888_000_000_000),
            commitment: None,
            nonce: Nonce::random(),
        };
        let enrol = event(
            "admin",
            false,
            EventKind::ActorEnrolled {
                actor: ActorId::new("cust").unwrap(),
                role: Role::Custodian,
                public_key: cust.public_key(),
            },
        );
        l.append(enrol.sign("example.org/unit", &admin).unwrap(), None)
            .unwrap();
        note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        let kept = note(&l, &lic, EventKind::ProgressNote, Some(b"kept")).unwrap();
        let hold = event(
            "cust",
            true,
            EventKind::HoldPlaced {
                matter: ShortText::new("M-1").unwrap(),
            },
        );
        l.append(hold.sign("example.org/unit", &cust).unwrap(), None)
            .unwrap();
        let destroy = || {
            let ev = event(
                "cust",
                true,
                EventKind::Destruction {
                    reason: ShortText::new("policy").unwrap(),
                    citation: None,
                },
            );
            ev.sign("example.org/unit", &cust).unwrap()
        };
        // The honest row agrees with the entries: the fold itself refuses (service open).
        let err = l.append(destroy(), None).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Refused(caseledger_core::record::Violation::DestructionOfOpenRecord(
                    _
                ))
            ),
            "{err:?}"
        );
        drop(l);
        let rid = RecordId::new("R").unwrap();
        edit(&path, TREE_RECORDS, &record_state_key(&rid), |v| {
            let mut st: RecordState = decode_canonical(v).unwrap();
            st.holds.clear();
            let old = Date::parse("2010-01-04").unwrap();
            st.service = caseledger_core::record::Service::Terminated(old);
            st.ever_terminated = true;
            st.latest_occurred_on = old;
            st.last_service_or_contact_on = Some(old);
            *v = caseledger_core::encoding::encode(&st).unwrap();
        });
        let l = Ledger::open(&path, sealing()).unwrap();
        let (size, stats) = (l.head().size, l.stats());
        let err = l.append(destroy(), None).unwrap_err();
        match &err {
            StoreError::RecordStateRow { record, fields } => {
                assert_eq!(record, &rid);
                for f in ["holds", "service", "ever_terminated"] {
                    assert!(fields.contains(&f), "{fields:?}");
                }
            }
            other => panic!("expected RecordStateRow, got {other:?}"),
        }
        assert!(err.to_string().starts_with(
            "record state row of R disagrees with its entries (derived state edited?)"
        ));
        assert!(err.to_string().contains("nothing was destroyed"));
        let after = l.stats();
        assert_eq!(
            (l.head().size, after.transactions, after.refused),
            (size, stats.transactions, stats.refused + 1)
        );
        assert_eq!(
            l.payload(kept.seq).unwrap().map(|p| p.content().to_vec()),
            Some(b"kept".to_vec())
        );
        assert!(l.entry_key(kept.seq).unwrap().is_some());
        drop(l);
        // And after a reopen: the key slot was not erased on disk.
        let l = Ledger::open(&path, sealing()).unwrap();
        assert_eq!(
            l.payload(kept.seq).unwrap().map(|p| p.content().to_vec()),
            Some(b"kept".to_vec())
        );
    }

    /// The unit ledger, then `lic` revoked by the admin (seq 2) and a second admin enrolled
    /// (seq 3); returns the seq of the revocation.
    fn with_revoked_lic(path: &Path) -> Seq {
        let (l, _) = ledger(path);
        let admin = SigningKey::from_seed(&[1; 32]);
        let admin_event = |kind: EventKind| Event {
            record: None,
            author: ActorId::new("admin").unwrap(),
            kind,
            occurred_on: Date::parse("2024-01-10").unwrap(),
            signed_at: Timestamp(1_704_888_000_000_000),
            commitment: None,
            nonce: Nonce::random(),
        };
        let revoked = l
            .append(
                admin_event(EventKind::KeyRevoked {
                    actor: ActorId::new("lic").unwrap(),
                })
                .sign("example.org/unit", &admin)
                .unwrap(),
                None,
            )
            .unwrap()
            .seq;
        l.append(
            admin_event(EventKind::ActorEnrolled {
                actor: ActorId::new("adm2").unwrap(),
                role: Role::Admin,
                public_key: SigningKey::from_seed(&[5; 32]).public_key(),
            })
            .sign("example.org/unit", &admin)
            .unwrap(),
            None,
        )
        .unwrap();
        revoked
    }

    /// Issue 12: the registry is not a row an insider can roll back. Opening rebuilds it
    /// from the `prev_registry` chain of sealed entries: the same registry as the one the
    /// appends built, no `registry` row, and the revoked author stays revoked.
    #[test]
    fn the_registry_is_rebuilt_at_open_from_the_sealed_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        with_revoked_lic(&path);
        let l = Ledger::open(&path, sealing()).unwrap();
        let before = l.registry();
        assert_eq!(before.last_change, Some(Seq(3)));
        // Every entry points at the registry entry before it.
        let pointers: Vec<Option<Seq>> = (0..4)
            .map(|s| l.entry(Seq(s)).unwrap().unwrap().prev_registry)
            .collect();
        assert_eq!(pointers, [None, Some(Seq(0)), Some(Seq(1)), Some(Seq(2))]);
        let lic = SigningKey::from_seed(&[3; 32]);
        let err = note(&l, &lic, EventKind::RecordOpened, None).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Refused(caseledger_core::record::Violation::AuthorRevoked(_))
            ),
            "{err:?}"
        );
        drop(l);
        let l = Ledger::open(&path, sealing()).unwrap();
        assert_eq!(l.registry(), before);
        assert!(l.trees.tree(T::Meta).get(b"registry").unwrap().is_none());
    }

    /// The insider edits the real sled bytes of the revocation entry (it now revokes
    /// nobody enrolled) so that the rebuilt registry would let `lic` sign again: the entry
    /// is not under the newest seal's root, and opening is refused naming it. Nothing is
    /// signed or logged.
    #[test]
    fn an_edited_registry_entry_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let revoked = with_revoked_lic(&path);
        let before = seals(&path);
        edit(&path, TREE_ENTRIES, &revoked.to_be_bytes(), |v| {
            let mut e = caseledger_core::event::Entry::from_bytes(v).unwrap();
            e.event.event.kind = EventKind::KeyRevoked {
                actor: ActorId::new("nobody").unwrap(),
            };
            *v = e.to_bytes().unwrap();
        });
        let err = Ledger::open(&path, sealing()).unwrap_err();
        assert!(
            matches!(&err, StoreError::RegistryChain { seq, .. } if *seq == revoked),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("ledger refused at open: the registry chain is broken at seq 2: its bytes are not the ones the newest seal (size 4) signs"),
            "{msg}"
        );
        assert!(msg.contains("nothing was signed"), "{msg}");
        assert_eq!(seals(&path), before, "nothing signed or logged");
    }

    /// A registry entry's pointer edited to skip the revocation (seq 3 pointing at the
    /// enrolment of `lic`, with a `clock_corrected` after it as the head): the entry is
    /// under the seal, so opening is refused naming it.
    #[test]
    fn a_pointer_skipping_a_revocation_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        with_revoked_lic(&path);
        let l = Ledger::open(&path, sealing()).unwrap();
        let fix = Event {
            record: None,
            author: ActorId::new("admin").unwrap(),
            kind: EventKind::ClockCorrected {
                reason: ShortText::new("test").unwrap(),
            },
            occurred_on: Date::parse("2024-01-10").unwrap(),
            signed_at: Timestamp(1_704_888_000_000_000),
            commitment: None,
            nonce: Nonce::random(),
        };
        let head = l
            .append(
                fix.sign("example.org/unit", &SigningKey::from_seed(&[1; 32]))
                    .unwrap(),
                None,
            )
            .unwrap();
        assert_eq!(
            l.entry(head.seq).unwrap().unwrap().prev_registry,
            Some(Seq(3))
        );
        drop(l);
        edit(&path, TREE_ENTRIES, &3u64.to_be_bytes(), |v| {
            let mut e = caseledger_core::event::Entry::from_bytes(v).unwrap();
            e.prev_registry = Some(Seq(1));
            *v = e.to_bytes().unwrap();
        });
        let err = Ledger::open(&path, sealing()).unwrap_err();
        assert!(
            matches!(&err, StoreError::RegistryChain { seq, .. } if *seq == Seq(3)),
            "{err:?}"
        );
    }

    /// Issue 14: after `ledger_closed` the store refuses every append (nothing written),
    /// also after a reopen (the close is rebuilt from the chain).
    #[test]
    fn nothing_is_appended_after_the_ledger_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (l, lic) = ledger(&path);
        note(&l, &lic, EventKind::RecordOpened, None).unwrap();
        let admin = SigningKey::from_seed(&[1; 32]);
        let close = Event {
            record: None,
            author: ActorId::new("admin").unwrap(),
            kind: EventKind::LedgerClosed {
                reason: ShortText::new("practice closed").unwrap(),
            },
            occurred_on: Date::parse("2024-01-10").unwrap(),
            signed_at: Timestamp(1_704_888_000_000_000),
            commitment: None,
            nonce: Nonce::random(),
        };
        let closed = l
            .append(close.sign("example.org/unit", &admin).unwrap(), None)
            .unwrap();
        let refused = |l: &Ledger| {
            let (size, stats) = (l.head().size, l.stats());
            let err = note(l, &lic, EventKind::ProgressNote, Some(b"late")).unwrap_err();
            assert!(
                matches!(
                    &err,
                    StoreError::Refused(caseledger_core::record::Violation::AfterClose { closed_at })
                        if *closed_at == closed.seq
                ),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                "refused: the ledger was closed at seq 3: nothing may be appended after it"
            );
            assert_eq!(l.head().size, size);
            assert_eq!(l.stats().transactions, stats.transactions);
        };
        refused(&l);
        let c = l.registry().closed.unwrap();
        assert_eq!((c.seq, c.by.as_str()), (closed.seq, "admin"));
        drop(l);
        let l = Ledger::open(&path, sealing()).unwrap();
        refused(&l);
    }

    /// Format 2 and format 3 ledgers are refused with one clear message.
    #[test]
    fn older_format_ledgers_are_refused_by_their_version() {
        for old in [2u16, 3] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("l");
            drop(ledger(&path));
            edit(&path, TREE_META, META_FORMAT_VERSION, |v| {
                *v = old.to_le_bytes().to_vec();
            });
            let err = Ledger::open(&path, sealing()).unwrap_err();
            assert!(
                matches!(err, StoreError::UnsupportedFormat { found } if found == old),
                "{err:?}"
            );
            assert!(err.to_string().starts_with(&format!(
                "this ledger is format {old}; this build reads format 4 only"
            )));
        }
    }
}
