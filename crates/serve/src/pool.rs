//! The open ledgers: opened on the first request that names them, closed after
//! `idle_close_secs` without use, at most `max_open_ledgers` at once.
//!
//! Memory: an open ledger holds its sled database (sled's page cache, bounded by sled's
//! `cache_capacity`, 1 GiB by default and grown only as pages are read), the store's
//! in-memory upper tree levels and registry, and the keys. The cap is how a host bounds
//! the total: `max_open_ledgers` × (cache + a few MiB).
//!
//! A ledger is in use while a request holds its `Arc`; only unused ledgers are closed or
//! evicted. Every call here blocks (opening reads and checks the database, closing
//! flushes it): run them on a blocking thread.

use crate::config::{LedgerConfig, LedgerName};
use caseledger_core::keys::SigningKey;
use caseledger_keyfile::keydir::KeyDir;
use caseledger_store::{Durability, Ledger, OpenOptions, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
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
    idle: Duration,
    open: Mutex<HashMap<LedgerName, Open>>,
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
}

impl Pool {
    /// A pool over the configured ledgers; nothing is opened yet.
    pub fn new(
        configs: BTreeMap<LedgerName, LedgerConfig>,
        max_open: usize,
        idle: Duration,
    ) -> Pool {
        Pool {
            configs,
            max_open,
            idle,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `name` is configured.
    pub fn knows(&self, name: &LedgerName) -> bool {
        self.configs.contains_key(name)
    }

    /// The ledger `name`, opened if it is not (evicting the longest-unused ledger when the
    /// pool is full). Blocks.
    pub fn get(&self, name: &LedgerName) -> Result<Handle, PoolError> {
        let cfg = self.configs.get(name).ok_or(PoolError::Unknown)?;
        let keys = KeyDir::at(&cfg.keys);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(o) = open.get_mut(name) {
            o.last_used = Instant::now();
            return Ok(Handle {
                ledger: o.ledger.clone(),
                keys,
                snapshots: cfg.snapshots.clone(),
            });
        }
        if open.len() >= self.max_open {
            let victim = open
                .iter()
                .filter(|(_, o)| Arc::strong_count(&o.ledger) == 1)
                .min_by_key(|(_, o)| o.last_used)
                .map(|(n, _)| n.clone());
            match victim.and_then(|v| open.remove(&v)) {
                Some(o) => close(o.ledger),
                None => return Err(PoolError::Full(open.len())),
            }
        }
        // Opened under the pool's lock: two first requests for one ledger must not both
        // open it (the second would find it in use by this very process).
        let ledger = Arc::new(open_ledger(cfg, &keys)?);
        open.insert(
            name.clone(),
            Open {
                ledger: ledger.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(Handle {
            ledger,
            keys,
            snapshots: cfg.snapshots.clone(),
        })
    }

    /// Closes the ledgers unused for the idle time. Blocks.
    pub fn close_idle(&self) {
        let now = Instant::now();
        let idle: Vec<Arc<Ledger>> = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let names: Vec<LedgerName> = open
                .iter()
                .filter(|(_, o)| {
                    Arc::strong_count(&o.ledger) == 1
                        && now.duration_since(o.last_used) >= self.idle
                })
                .map(|(n, _)| n.clone())
                .collect();
            names
                .iter()
                .filter_map(|n| open.remove(n).map(|o| o.ledger))
                .collect()
        };
        for l in idle {
            close(l);
        }
    }

    /// Closes every ledger (at shutdown, once no request holds one). Blocks.
    pub fn close_all(&self) {
        let all: Vec<Arc<Ledger>> = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, o)| o.ledger)
            .collect();
        for l in all {
            close(l);
        }
    }

    /// How many ledgers are open.
    pub fn open_count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
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
fn open_ledger(cfg: &LedgerConfig, keys: &KeyDir) -> Result<Ledger, PoolError> {
    keys.check_outside(&cfg.dir)
        .map_err(|e| PoolError::Keys(e.to_string()))?;
    let key: SigningKey = caseledger_keyfile::read(&keys.ledger_key_path())
        .map_err(|e| PoolError::Keys(format!("ledger key: {e}")))?;
    let mut options = OpenOptions::default()
        .with_durability(Durability::Immediate)
        .with_ledger_key(key);
    if keys.kek_path().exists() {
        let kek = caseledger_keyfile::read_kek(keys.root())
            .map_err(|e| PoolError::Keys(format!("content key: {e}")))?;
        options = options.with_kek(kek);
    }
    Ok(Ledger::open(&cfg.dir, options)?)
}
