//! The open ledgers: opened on the first request that names them, closed after
//! `idle_close_secs` without use, at most `max_open_ledgers` at once.
//!
//! Memory: an open ledger holds its sled database, whose page cache is bounded by
//! `ledger_cache_mib` (sled's `cache_capacity`, 64 MiB by default here; sled's own default
//! is 1 GiB), plus the store's in-memory state: the upper Merkle levels (a few MiB for
//! millions of entries), the registry and the keys. So the server's ledgers take at most
//! about `max_open_ledgers` × (`ledger_cache_mib` + a few MiB): 16 × ~70 MiB by default.
//!
//! A ledger is in use while a request holds its `Arc`; only unused ledgers are closed or
//! evicted. A ledger is opened outside the pool's lock (opening may wait for another
//! process's lock), once: concurrent first requests wait for the one opening it. Every call here blocks (opening reads and checks the database, closing
//! flushes it): run them on a blocking thread.

use crate::config::{LedgerConfig, LedgerName};
use caseledger_core::keys::SigningKey;
use caseledger_keyfile::keydir::KeyDir;
use caseledger_store::{Durability, Ledger, OpenOptions, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a ledger could not be handed out.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No ledger of that name is configured.
    #[error("no ledger of this name is served")]
    Unknown,
    /// `max_open_ledgers` are open and all in use.
    #[error("{0} ledgers are open and all in use")]
    Full(usize),
    /// A key file could not be read (the message names the file, never key bytes).
    #[error("{0}")]
    Keys(String),
    /// The store refused to open it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Open {
    ledger: Arc<Ledger>,
    last_used: Instant,
}

/// The pool.
pub struct Pool {
    configs: BTreeMap<LedgerName, LedgerConfig>,
    max_open: usize,
    cache_bytes: u64,
    idle: Duration,
    slots: Mutex<Slots>,
    /// Signalled when a ledger being opened is open (or failed to open).
    opened: Condvar,
}

/// The ledgers open, and those being opened (outside the lock: opening reads the database,
/// and may wait for another process's lock, which must not hold up requests for other
/// ledgers).
#[derive(Default)]
struct Slots {
    open: HashMap<LedgerName, Open>,
    opening: HashSet<LedgerName>,
}

/// An open ledger handed to a request, with its configuration.
#[derive(Clone)]
pub struct Handle {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// Its key directory (for the authors the server signs for).
    pub keys: KeyDir,
    /// Where snapshots go, if anywhere.
    pub snapshots: Option<std::path::PathBuf>,
    /// The key that signs retention reports, if any.
    pub report_key: Option<std::path::PathBuf>,
}

impl Pool {
    /// A pool over the configured ledgers (each opened with sled's cache bounded by
    /// `cache_bytes`); nothing is opened yet.
    pub fn new(
        configs: BTreeMap<LedgerName, LedgerConfig>,
        max_open: usize,
        cache_bytes: u64,
        idle: Duration,
    ) -> Pool {
        Pool {
            configs,
            max_open,
            cache_bytes,
            idle,
            slots: Mutex::new(Slots::default()),
            opened: Condvar::new(),
        }
    }

    /// Whether `name` is configured.
    pub fn knows(&self, name: &LedgerName) -> bool {
        self.configs.contains_key(name)
    }

    /// The ledger `name` if it is open now: never opens one, so never blocks on I/O (only
    /// on the pool's lock), for a caller that must not block (an async task).
    pub fn get_open(&self, name: &LedgerName) -> Option<Handle> {
        let cfg = self.configs.get(name)?;
        let mut g = self.lock();
        let o = g.open.get_mut(name)?;
        o.last_used = Instant::now();
        Some(handle(cfg, o.ledger.clone()))
    }

    /// The ledger `name`, opened if it is not (evicting the longest-unused ledger when the
    /// pool is full). Blocks.
    pub fn get(&self, name: &LedgerName) -> Result<Handle, PoolError> {
        let cfg = self.configs.get(name).ok_or(PoolError::Unknown)?;
        let keys = KeyDir::at(&cfg.keys);
        let handle = |ledger| handle(cfg, ledger);
        let mut g = self.lock();
        loop {
            if let Some(o) = g.open.get_mut(name) {
                o.last_used = Instant::now();
                return Ok(handle(o.ledger.clone()));
            }
            if !g.opening.contains(name) {
                break;
            }
            // Another request is opening it: wait for that (never open it twice: the
            // second open would find it in use by this very process).
            g = self.opened.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
        if g.open.len() + g.opening.len() >= self.max_open {
            let victim = g
                .open
                .iter()
                .filter(|(_, o)| Arc::strong_count(&o.ledger) == 1)
                .min_by_key(|(_, o)| o.last_used)
                .map(|(n, _)| n.clone());
            match victim.and_then(|v| g.open.remove(&v)) {
                // Closed (flushed, its lock released) before another ledger takes its place.
                Some(o) => close(o.ledger),
                None => return Err(PoolError::Full(g.open.len() + g.opening.len())),
            }
        }
        g.opening.insert(name.clone());
        drop(g);
        let opened = open_ledger(cfg, &keys, self.cache_bytes).map(Arc::new);
        if let Ok(l) = &opened {
            summon_with_tokio(l);
        }
        let mut g = self.lock();
        g.opening.remove(name);
        if let Ok(ledger) = &opened {
            g.open.insert(
                name.clone(),
                Open {
                    ledger: ledger.clone(),
                    last_used: Instant::now(),
                },
            );
        }
        drop(g);
        self.opened.notify_all();
        Ok(handle(opened?))
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the ledgers unused for the idle time. Blocks.
    pub fn close_idle(&self) {
        let now = Instant::now();
        let idle: Vec<Arc<Ledger>> = {
            let mut g = self.lock();
            let names: Vec<LedgerName> = g
                .open
                .iter()
                .filter(|(_, o)| {
                    Arc::strong_count(&o.ledger) == 1
                        && now.duration_since(o.last_used) >= self.idle
                })
                .map(|(n, _)| n.clone())
                .collect();
            names
                .iter()
                .filter_map(|n| g.open.remove(n).map(|o| o.ledger))
                .collect()
        };
        for l in idle {
            close(l);
        }
    }

    /// Closes every ledger (at shutdown, once no request holds one). Blocks.
    pub fn close_all(&self) {
        let all: Vec<Arc<Ledger>> = self.lock().open.drain().map(|(_, o)| o.ledger).collect();
        for l in all {
            close(l);
        }
    }

    /// Closes `name` now if no other request holds it (else it is closed when its last
    /// holder drops it), so that the next request opens it afresh. After a write failed on a
    /// full disk the open database keeps failing even once space is freed (sled keeps its
    /// I/O error); reopening recovers from what is durable. Blocks.
    pub fn discard(&self, name: &LedgerName) {
        let gone = self.lock().open.remove(name);
        if let Some(o) = gone {
            close(o.ledger);
        }
    }

    /// How many ledgers are open.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }
}

/// A request's handle on an open ledger.
fn handle(cfg: &LedgerConfig, ledger: Arc<Ledger>) -> Handle {
    Handle {
        ledger,
        keys: KeyDir::at(&cfg.keys),
        snapshots: cfg.snapshots.clone(),
        report_key: cfg.report_key.clone(),
    }
}

/// Lets the ledger take appends submitted from async tasks (`Ledger::submit_append`): a
/// job that finds no leader asks for `Ledger::lead` on tokio's blocking pool (one per
/// group under load, not one per request). Only inside a tokio runtime (the server's);
/// elsewhere the ledger takes blocking appends only. The summoner holds the ledger weakly:
/// it never keeps a closed ledger open, and a request with a job queued holds it strongly
/// until answered.
fn summon_with_tokio(ledger: &Arc<Ledger>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(ledger);
    ledger.set_summoner(Box::new(move || {
        if let Some(l) = weak.upgrade() {
            // The JoinHandle is not awaited: the leader answers its jobs' callbacks.
            drop(rt.spawn_blocking(move || l.lead()));
        }
    }));
}

/// Flushes and closes a ledger no request holds (one still held is closed when its last
/// holder drops it: dropping is safe, everything acknowledged is durable).
fn close(l: Arc<Ledger>) {
    let dir = l.dir().to_owned();
    if let Ok(l) = Arc::try_unwrap(l) {
        if let Err(e) = l.close() {
            tracing::error!(ledger = %dir.display(), error = %e, "closing a ledger");
        }
    }
}

/// Opens a ledger to append: its ledger key seals every commit, its KEK (when the key
/// directory has one) encrypts payloads; appends return once durable.
fn open_ledger(cfg: &LedgerConfig, keys: &KeyDir, cache_bytes: u64) -> Result<Ledger, PoolError> {
    keys.check_outside(&cfg.dir)
        .map_err(|e| PoolError::Keys(e.to_string()))?;
    let key: SigningKey = caseledger_keyfile::read(&keys.ledger_key_path())
        .map_err(|e| PoolError::Keys(format!("ledger key: {e}")))?;
    let mut options = OpenOptions::default()
        .with_durability(Durability::Immediate)
        .with_cache_bytes(cache_bytes)
        .with_ledger_key(key);
    if keys.kek_path().exists() {
        let kek = caseledger_keyfile::read_kek(keys.root())
            .map_err(|e| PoolError::Keys(format!("content key: {e}")))?;
        options = options.with_kek(kek);
    }
    Ok(Ledger::open(&cfg.dir, options)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::event::ShortText;
    use caseledger_core::ActorId;
    use caseledger_store::CreateOptions;
    use std::path::Path;

    /// A ledger `name` under `root` with its key directory beside it.
    fn ledger(root: &Path, name: &str) -> (LedgerName, LedgerConfig) {
        let dir = root.join(name);
        let keys = KeyDir::at(root.join(format!("{name}-keys")));
        keys.create().unwrap();
        let ledger_key = SigningKey::generate();
        caseledger_keyfile::write_new(&keys.ledger_key_path(), &ledger_key).unwrap();
        Ledger::create(
            &dir,
            CreateOptions {
                origin: ShortText::new(format!("example.org/{name}")).unwrap(),
                admin: ActorId::new("admin").unwrap(),
                admin_key: &SigningKey::generate(),
                ledger_key: ledger_key.public_key(),
                settings: Default::default(),
                open: OpenOptions::default().with_ledger_key(ledger_key),
            },
        )
        .unwrap()
        .close()
        .unwrap();
        (
            LedgerName::new(name).unwrap(),
            LedgerConfig {
                dir,
                keys: keys.root().to_owned(),
                snapshots: None,
                report_key: None,
            },
        )
    }

    #[test]
    fn the_cap_evicts_only_unused_ledgers_and_idle_ones_are_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, ca) = ledger(tmp.path(), "a");
        let (b, cb) = ledger(tmp.path(), "b");
        let dir_a = ca.dir.clone();
        let configs = BTreeMap::from([(a.clone(), ca), (b.clone(), cb)]);
        let pool = Pool::new(configs, 1, 1 << 20, Duration::ZERO);
        let held = pool.get(&a).unwrap();
        // The one slot is in use: another ledger is refused, not forced open.
        assert!(matches!(pool.get(&b), Err(PoolError::Full(1))));
        // The same ledger is shared.
        assert!(Arc::ptr_eq(&pool.get(&a).unwrap().ledger, &held.ledger));
        drop(held);
        // Unused: evicted (closed, its lock released) for the other one.
        let hb = pool.get(&b).unwrap();
        assert_eq!(pool.open_count(), 1);
        Ledger::open(&dir_a, OpenOptions::default())
            .unwrap()
            .close()
            .unwrap();
        // An idle ledger still held is not closed; once unused it is.
        pool.close_idle();
        assert_eq!(pool.open_count(), 1);
        drop(hb);
        pool.close_idle();
        assert_eq!(pool.open_count(), 0);
        assert!(matches!(
            pool.get(&LedgerName::new("c").unwrap()),
            Err(PoolError::Unknown)
        ));
    }

    /// Eight first requests at once for one ledger: opened once, shared by all (a second
    /// open would find it in use by this process).
    #[test]
    fn concurrent_first_requests_open_a_ledger_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, ca) = ledger(tmp.path(), "a");
        let pool = Pool::new(
            BTreeMap::from([(a.clone(), ca)]),
            4,
            1 << 20,
            Duration::from_secs(60),
        );
        let handles: Vec<Handle> = std::thread::scope(|s| {
            let joins: Vec<_> = (0..8).map(|_| s.spawn(|| pool.get(&a).unwrap())).collect();
            joins.into_iter().map(|j| j.join().unwrap()).collect()
        });
        assert!(handles
            .iter()
            .all(|h| Arc::ptr_eq(&h.ledger, &handles[0].ledger)));
        assert_eq!(pool.open_count(), 1);
    }

    /// A discarded ledger is closed and the next request opens it afresh (another
    /// `Ledger`, not the failed one), even with a long idle time.
    #[test]
    fn a_discarded_ledger_is_reopened_by_the_next_request() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, ca) = ledger(tmp.path(), "a");
        let pool = Pool::new(
            BTreeMap::from([(a.clone(), ca)]),
            4,
            1 << 20,
            Duration::from_secs(3600),
        );
        let first = pool.get(&a).unwrap().ledger;
        let weak = Arc::downgrade(&first);
        drop(first);
        pool.discard(&a);
        assert_eq!(pool.open_count(), 0);
        assert!(weak.upgrade().is_none(), "the old ledger is closed");
        let again = pool.get(&a).unwrap();
        assert_eq!(again.ledger.head().size, 1, "the genesis entry");
        // Discarding a ledger that is not open does nothing.
        drop(again);
        pool.discard(&a);
        pool.discard(&a);
        assert_eq!(pool.open_count(), 0);
    }
}
