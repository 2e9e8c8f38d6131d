//! A monitor of a tiled ledger (C2SP tlog-tiles, docs/FORMAT.md §11): what `caseledger
//! monitor` runs. It fetches the checkpoint, checks the ledger key's signature, and checks
//! the new tree against the last checkpoint it saw (its [`MonitorState`]) by recomputing
//! from tiles, without asking the server for proofs:
//!
//! * the entries of every new entry bundle hash to the leaves of their level-0 tile;
//! * the leaves after the old size extend the old tree's compact range (kept in the state)
//!   to the new checkpoint's root: the new tree holds the old one as its prefix;
//! * every node hash this run computes (the root of each full tile) equals the hash the
//!   tile above holds for it, and the right-edge tiles give the signed root, so the higher
//!   tiles other tlog clients read proofs from agree with the entries.
//!
//! Findings: a **rollback** (a smaller size than seen), a **fork** (the same size, another
//! root), an **inconsistent** checkpoint (a larger tree whose tiles match its root but do
//! not hold the old tree), **tiles that do not match** (bundles, tiles and the signed root
//! disagree), a checkpoint **not signed** by the key, and a **stale** checkpoint (unchanged
//! for longer than `max_age`). Memory is bounded: the compact range (`popcount(size)`
//! hashes), the level-0 tile and bundle being checked, and one tile per higher level.

use crate::client::{Http, TlsRoots};
use base64::Engine;
use caseledger_core::checkpoint::open_checkpoint;
use caseledger_core::merkle::{CompactRange, Hash, Sha256Hasher, TreeHasher};
use caseledger_core::note::NoteVerifier;
use caseledger_core::tile::{
    full_tile_root, parse_entry_bundle, parse_tile, root_from_tiles, tile_at, FromTilesError,
    TileId, TILE_HEIGHT,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where tiles come from: `Ok(None)` is "not there" (HTTP 404, no such file).
pub trait Fetch {
    /// The resource at `path` under the log's prefix (`checkpoint`, `tile/0/000`, …).
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String>;
}

/// The largest resource fetched: a full entry bundle or tile is under 9 KiB, a note with
/// 100 signature lines under 16 KiB.
const MAX_FETCH: u64 = 1 << 20;

/// A log over HTTP(S): `<prefix>/<path>`, with an optional bearer token (`caseledger serve`
/// wants one with the `read-proofs` scope; a static mirror wants none).
pub struct HttpLog {
    agent: ureq::Agent,
    prefix: String,
    token: Option<String>,
}

impl HttpLog {
    /// The log at `prefix` (`http://…` or `https://…`); each request ends within `timeout`.
    pub fn new(
        prefix: &str,
        token: Option<String>,
        timeout: Duration,
        roots: Option<&TlsRoots>,
    ) -> HttpLog {
        HttpLog {
            agent: Http::with_roots(timeout, roots).agent(),
            prefix: prefix.trim_end_matches('/').to_owned(),
            token,
        }
    }
}

impl Fetch for HttpLog {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let url = format!("{}/{path}", self.prefix);
        let mut req = self.agent.get(&url);
        if let Some(t) = &self.token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        let resp = req
            .call()
            .map_err(|e| format!("{path}: {}", crate::client::transport_why(&e)))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(format!("{path}: the server answered {status}"));
        }
        resp.into_body()
            .into_with_config()
            .limit(MAX_FETCH)
            .read_to_vec()
            .map(Some)
            .map_err(|e| format!("{path}: {}", crate::client::one_line(&e.to_string())))
    }
}

/// A log published as files (`caseledger publish --tiles DIR`), read from a directory.
pub struct DirLog(pub PathBuf);

impl Fetch for DirLog {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        // Paths are the monitor's own (`checkpoint`, canonical tile paths): never `..`.
        match std::fs::read(self.0.join(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{path}: {}", e.kind())),
        }
    }
}

/// What a monitor keeps between runs (the `--state` file, JSON; docs/FORMAT.md §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorState {
    /// Format of this file: 1.
    pub version: u32,
    /// The log's origin.
    pub origin: String,
    /// The size of the last checkpoint checked.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The compact range at `size` (the roots of its complete subtrees, largest first,
    /// base64): what the next run extends with the new leaves.
    pub range: Vec<String>,
    /// The checkpoint note as last fetched (signatures included).
    pub note: String,
    /// When (Unix seconds) this monitor first fetched exactly that note.
    pub since: i64,
}

impl MonitorState {
    fn root_hash(&self) -> Result<Hash, MonitorError> {
        decode_hash(&self.root)
            .ok_or_else(|| MonitorError::State("root is not base64 of 32 bytes".into()))
    }

    fn compact_range(&self) -> Result<CompactRange, MonitorError> {
        let hashes = self
            .range
            .iter()
            .map(|h| decode_hash(h))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| MonitorError::State("range: not base64 of 32 bytes".into()))?;
        let r = CompactRange::from_parts(self.size, hashes)
            .map_err(|e| MonitorError::State(format!("range: {e}")))?;
        if r.root(&Sha256Hasher) != self.root_hash()? {
            return Err(MonitorError::State(
                "range does not hash to the root it keeps".into(),
            ));
        }
        Ok(r)
    }
}

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

fn decode_hash(s: &str) -> Option<Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|b| Hash::from_slice(&b))
}

/// What a run found wrong with the log (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    /// The checkpoint does not verify with the ledger key.
    #[error("bad signature: the checkpoint served is not signed by the ledger key ({0})")]
    BadSignature(String),
    /// A smaller tree than one seen before.
    #[error("rollback: the log serves a checkpoint of size {served}, smaller than the size {seen} this monitor saw")]
    Rollback {
        /// The size seen before.
        seen: u64,
        /// The size served now.
        served: u64,
    },
    /// The same size with another root.
    #[error("fork: the log serves a checkpoint of size {size} with another root than the one this monitor saw")]
    Fork {
        /// The size.
        size: u64,
    },
    /// A larger tree that does not hold the old one.
    #[error("inconsistent: the checkpoint of size {new} does not extend the checkpoint of size {old} this monitor saw (a fork)")]
    Inconsistent {
        /// The size seen before.
        old: u64,
        /// The size served now.
        new: u64,
    },
    /// Tiles, bundles and the signed root disagree.
    #[error("tiles do not match: {0}")]
    TilesMismatch(String),
    /// The checkpoint has not changed for too long.
    #[error("stale: the log's checkpoint (size {size}) has not changed for {age_secs} s (--max-age {max_secs} s)")]
    Stale {
        /// Its size.
        size: u64,
        /// Seconds since this monitor first saw it.
        age_secs: i64,
        /// The limit.
        max_secs: u64,
    },
}

impl Finding {
    /// A stable word for hooks and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::BadSignature(_) => "bad_signature",
            Finding::Rollback { .. } => "rollback",
            Finding::Fork { .. } => "fork",
            Finding::Inconsistent { .. } => "inconsistent",
            Finding::TilesMismatch(_) => "tiles_mismatch",
            Finding::Stale { .. } => "stale",
        }
    }
}

/// Why a run could not judge the log (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A fetch failed, or a resource the checkpoint needs is missing.
    #[error("fetching {0}")]
    Fetch(String),
    /// The state is unusable.
    #[error("monitor state: {0}")]
    State(String),
}

/// What a run concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// What is wrong (empty: consistent).
    pub findings: Vec<Finding>,
    /// The state to keep: the new checkpoint when there are no findings other than
    /// staleness, else the old state unchanged.
    pub state: Option<MonitorState>,
    /// The size before the run (0 without state) and after.
    pub sizes: (u64, u64),
    /// Entries whose hashes this run checked against tile leaves.
    pub entries_checked: u64,
    /// Resources fetched.
    pub fetches: u64,
}

/// One tile per level above 0, fetched when first needed: each node hash the run computes
/// is compared with the hash the tile of its level holds.
struct Rows<'a, F: Fetch> {
    log: &'a F,
    size: u64,
    held: Vec<Option<(TileId, Vec<Hash>)>>,
    fetches: u64,
}

impl<F: Fetch> Rows<'_, F> {
    fn tile(&mut self, t: TileId) -> Result<Vec<Hash>, MonitorError> {
        self.fetches += 1;
        let bytes = self.log.get(&t.path())?.ok_or_else(|| {
            MonitorError::Fetch(format!(
                "{}: not served, though the checkpoint of size {} needs it",
                t.path(),
                self.size
            ))
        })?;
        parse_tile(t, &bytes).ok_or_else(|| {
            MonitorError::Fetch(format!(
                "{}: {} bytes, not {}",
                t.path(),
                bytes.len(),
                t.byte_len()
            ))
        })
    }

    /// Node `index` of tree level `8·level` is `hash`: compare with the tile holding it;
    /// when that completes a full tile, its root goes one level up.
    fn push(&mut self, level: u8, index: u64, hash: Hash) -> Result<Option<Finding>, MonitorError> {
        let ti = index >> TILE_HEIGHT;
        let Some(t) = tile_at(level, ti, self.size) else {
            return Ok(None);
        };
        let slot = usize::from(level);
        if self.held.len() <= slot {
            self.held.resize_with(slot + 1, || None);
        }
        let current = self
            .held
            .get(slot)
            .and_then(|h| h.as_ref())
            .map(|(id, _)| *id);
        if current != Some(t) {
            let hashes = self.tile(t)?;
            if let Some(s) = self.held.get_mut(slot) {
                *s = Some((t, hashes));
            }
        }
        let pos = usize::try_from(index % 256).unwrap_or(usize::MAX);
        let Some(Some((_, hashes))) = self.held.get(slot) else {
            return Ok(None);
        };
        if hashes.get(pos) != Some(&hash) {
            return Ok(Some(Finding::TilesMismatch(format!(
                "{} holds another hash at position {pos} than the tiles below give",
                t.path()
            ))));
        }
        if pos == 255 {
            if let Some(up) = full_tile_root(hashes) {
                return self.push(level + 1, ti, up);
            }
        }
        Ok(None)
    }
}

impl From<String> for MonitorError {
    fn from(s: String) -> MonitorError {
        MonitorError::Fetch(s)
    }
}

/// Checks the log once. `state` is what the last run kept (`None`: the first run, which
/// checks every entry). `now` is Unix seconds; `max_age` the stale limit.
pub fn check(
    log: &impl Fetch,
    key: &NoteVerifier,
    state: Option<&MonitorState>,
    now: i64,
    max_age: Option<Duration>,
) -> Result<Run, MonitorError> {
    let mut fetches = 1;
    let note_bytes = log
        .get("checkpoint")?
        .ok_or_else(|| MonitorError::Fetch("checkpoint: not served".into()))?;
    let note = String::from_utf8(note_bytes)
        .map_err(|_| MonitorError::Fetch("checkpoint: not UTF-8".into()))?;
    let old_size = state.map_or(0, |s| s.size);
    let unchanged = |findings: Vec<Finding>, fetches| Run {
        findings,
        state: state.cloned(),
        sizes: (old_size, old_size),
        entries_checked: 0,
        fetches,
    };
    let signed = match open_checkpoint(&note, std::slice::from_ref(key)) {
        Ok(s) => s,
        Err(e) => {
            return Ok(unchanged(
                vec![Finding::BadSignature(e.to_string())],
                fetches,
            ))
        }
    };
    let cp = signed.checkpoint;
    let (old_range, old_root) = match state {
        Some(s) => {
            if s.origin != cp.origin {
                return Err(MonitorError::State(format!(
                    "it is of the log {:?}, the checkpoint served is of {:?}",
                    s.origin, cp.origin
                )));
            }
            (s.compact_range()?, s.root_hash()?)
        }
        None => (CompactRange::new(), Sha256Hasher.empty_root()),
    };
    if cp.size < old_size {
        return Ok(unchanged(
            vec![Finding::Rollback {
                seen: old_size,
                served: cp.size,
            }],
            fetches,
        ));
    }
    if cp.size == old_size && state.is_some() {
        if cp.root != old_root {
            return Ok(unchanged(vec![Finding::Fork { size: cp.size }], fetches));
        }
        // Nothing new; the note may carry new cosignatures.
        let mut kept = state.cloned();
        let mut findings = Vec::new();
        if let Some(k) = kept.as_mut() {
            if k.note != note {
                k.note = note;
                k.since = now;
            } else if let Some(max) = max_age {
                let age = now.saturating_sub(k.since);
                if age > i64::try_from(max.as_secs()).unwrap_or(i64::MAX) {
                    findings.push(Finding::Stale {
                        size: cp.size,
                        age_secs: age,
                        max_secs: max.as_secs(),
                    });
                }
            }
        }
        return Ok(Run {
            findings,
            state: kept,
            sizes: (old_size, old_size),
            entries_checked: 0,
            fetches,
        });
    }

    // The tree grew (or this is the first run): stream the new leaves.
    let new = cp.size;
    let mut range = old_range;
    let mut rows = Rows {
        log,
        size: new,
        held: Vec::new(),
        fetches: 0,
    };
    let mut checked = 0u64;
    let first_tile = old_size >> TILE_HEIGHT;
    let tiles = new.div_ceil(256);
    for ti in first_tile..tiles {
        let Some(t) = tile_at(0, ti, new) else {
            break;
        };
        fetches += 1;
        let leaves = rows.tile(t)?;
        let bundle = log.get(&t.entries_path())?.ok_or_else(|| {
            MonitorError::Fetch(format!(
                "{}: not served, though the checkpoint of size {new} needs it",
                t.entries_path()
            ))
        })?;
        let entries = match parse_entry_bundle(t, &bundle) {
            Ok(e) => e,
            Err(e) => {
                return Ok(unchanged(
                    vec![Finding::TilesMismatch(format!("{}: {e}", t.entries_path()))],
                    fetches + rows.fetches,
                ))
            }
        };
        for (j, (e, leaf)) in entries.iter().zip(&leaves).enumerate() {
            if Sha256Hasher.hash_leaf(&e.0) != *leaf {
                return Ok(unchanged(
                    vec![Finding::TilesMismatch(format!(
                        "entry {} of {} does not hash to leaf {j} of {}",
                        t.leaves().start + j as u64,
                        t.entries_path(),
                        t.path()
                    ))],
                    fetches + rows.fetches,
                ));
            }
        }
        checked += u64::from(t.width());
        for (j, leaf) in leaves.iter().enumerate() {
            if t.leaves().start + j as u64 >= old_size {
                range
                    .append(&Sha256Hasher, *leaf)
                    .map_err(|e| MonitorError::State(e.to_string()))?;
            }
        }
        if let Some(up) = full_tile_root(&leaves) {
            if let Some(f) = rows.push(1, ti, up)? {
                return Ok(unchanged(vec![f], fetches + rows.fetches));
            }
        }
    }
    // The right edge: the partial tiles of every level give the signed root.
    let edge = root_from_tiles(new, |t| rows.tile(t));
    fetches += rows.fetches;
    let tiles_root = match edge {
        Ok(r) => r,
        Err(FromTilesError::Get(e)) => return Err(e),
        Err(FromTilesError::Length(t)) => {
            return Err(MonitorError::Fetch(format!("{}: wrong length", t.path())))
        }
    };
    let extended = range.root(&Sha256Hasher);
    if extended != cp.root {
        let finding = if tiles_root == cp.root && old_size > 0 {
            // The tiles are the signed tree's, and that tree does not hold the old one.
            Finding::Inconsistent { old: old_size, new }
        } else {
            Finding::TilesMismatch(format!(
                "the tiles from size {old_size} to {new} do not hash to the checkpoint's root"
            ))
        };
        return Ok(unchanged(vec![finding], fetches));
    }
    if tiles_root != cp.root {
        return Ok(unchanged(
            vec![Finding::TilesMismatch(format!(
                "the right-edge tiles of size {new} do not hash to the checkpoint's root"
            ))],
            fetches,
        ));
    }
    let next = MonitorState {
        version: 1,
        origin: cp.origin.clone(),
        size: new,
        root: b64(&cp.root),
        range: range.hashes().iter().map(b64).collect(),
        note,
        since: now,
    };
    Ok(Run {
        findings: Vec::new(),
        state: Some(next),
        sizes: (old_size, new),
        entries_checked: checked,
        fetches,
    })
}

/// Reads a state file; `Ok(None)` when there is none yet.
pub fn read_state(path: &Path) -> Result<Option<MonitorState>, MonitorError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(MonitorError::State(format!(
                "{}: {}",
                path.display(),
                e.kind()
            )))
        }
    };
    let s: MonitorState = serde_json::from_str(&text)
        .map_err(|e| MonitorError::State(format!("{}: {e}", path.display())))?;
    if s.version != 1 {
        return Err(MonitorError::State(format!(
            "{}: version {} (this monitor reads 1)",
            path.display(),
            s.version
        )));
    }
    Ok(Some(s))
}

/// Replaces the state file atomically (temp file, fsync, rename, fsync of the directory),
/// mode 0600: a crash leaves the old state or the new one.
pub fn write_state(path: &Path, state: &MonitorState) -> Result<(), MonitorError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| MonitorError::State(format!("{}: {}", path.display(), e.kind()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut body =
        serde_json::to_vec_pretty(state).map_err(|e| MonitorError::State(e.to_string()))?;
    body.push(b'\n');
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
    use caseledger_core::ids::EntryHash;
    use caseledger_core::keys::SigningKey;
    use caseledger_core::merkle::{root_from_leaves, MemoryNodes, NodeId, NodeSource};
    use caseledger_core::note::NoteSigner;
    use caseledger_core::tile::{entry_bundle, parse_path, tile_bytes};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    const ORIGIN: &str = "example.org/monitored";

    fn signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, SigningKey::from_seed(&[7; 32])).unwrap()
    }

    /// A log in memory serving the tiles of `entries` (entry hash i = [seed; i]).
    struct Log {
        files: RefCell<BTreeMap<String, Vec<u8>>>,
    }

    fn entries(n: u64, seed: u8) -> Vec<EntryHash> {
        (0..n)
            .map(|i| {
                let mut h = [seed; 32];
                h[..8].copy_from_slice(&i.to_be_bytes());
                EntryHash(h)
            })
            .collect()
    }

    fn log(es: &[EntryHash]) -> Log {
        let leaves: Vec<Hash> = es.iter().map(|e| Sha256Hasher.hash_leaf(&e.0)).collect();
        let nodes = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves);
        let size = es.len() as u64;
        let mut files = BTreeMap::new();
        for t in caseledger_core::tile::tiles_of(size) {
            let hs: Vec<Hash> = (0..u64::from(t.width()))
                .map(|i| {
                    nodes
                        .node(NodeId::new(t.node_level(), t.first_node() + i).unwrap())
                        .unwrap()
                })
                .collect();
            files.insert(t.path(), tile_bytes(&hs));
            if t.level() == 0 {
                let r = t.leaves();
                files.insert(
                    t.entries_path(),
                    entry_bundle(
                        &es[usize::try_from(r.start).unwrap()..usize::try_from(r.end).unwrap()],
                    ),
                );
            }
        }
        let cp = Checkpoint::new(ORIGIN, size, root_from_leaves(&Sha256Hasher, &leaves)).unwrap();
        files.insert(
            "checkpoint".into(),
            sign_checkpoint(&cp, &signer()).into_bytes(),
        );
        Log {
            files: RefCell::new(files),
        }
    }

    impl Fetch for Log {
        fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
            if path != "checkpoint" {
                assert!(
                    parse_path(path).is_ok(),
                    "the monitor asked a non-canonical {path}"
                );
            }
            Ok(self.files.borrow().get(path).cloned())
        }
    }

    fn run(l: &Log, state: Option<&MonitorState>) -> Run {
        check(l, &signer().verifier(), state, 1_000, None).unwrap()
    }

    #[test]
    fn a_growing_log_is_followed_reading_only_new_tiles() {
        let all = entries(70_000, 1);
        let first = run(&log(&all[..600]), None);
        assert_eq!(first.findings, []);
        assert_eq!(first.entries_checked, 600);
        let s = first.state.unwrap();
        assert_eq!(s.size, 600);
        // From 600 to 70 000: every level-1 and level-2 hash computed is compared.
        let second = run(&log(&all), Some(&s));
        assert_eq!(second.findings, []);
        assert_eq!(second.sizes, (600, 70_000));
        // The bundle holding entry 600 again, then the new ones.
        assert_eq!(second.entries_checked, 70_000 - 512);
        let s2 = second.state.unwrap();
        // Unchanged: nothing fetched beyond the checkpoint.
        let third = run(&log(&all), Some(&s2));
        assert_eq!((third.findings.len(), third.fetches), (0, 1));
    }

    #[test]
    fn rollback_fork_and_inconsistency_are_findings_and_keep_the_state() {
        let a = entries(700, 1);
        let s = run(&log(&a[..500]), None).state.unwrap();
        let back = run(&log(&a[..499]), Some(&s));
        assert_eq!(
            back.findings,
            [Finding::Rollback {
                seen: 500,
                served: 499
            }]
        );
        assert_eq!(back.state.as_ref(), Some(&s));
        let mut b = a.clone();
        b[3] = EntryHash([9; 32]);
        let fork = run(&log(&b[..500]), Some(&s));
        assert_eq!(fork.findings, [Finding::Fork { size: 500 }]);
        let grown = run(&log(&b[..700]), Some(&s));
        assert_eq!(
            grown.findings,
            [Finding::Inconsistent { old: 500, new: 700 }]
        );
        assert_eq!(grown.state.as_ref(), Some(&s));
        assert_eq!(run(&log(&a), Some(&s)).findings, []);
    }

    #[test]
    fn tampered_tiles_and_bundles_are_findings() {
        let a = entries(600, 1);
        // A bundle entry changed: it no longer hashes to its leaf.
        let l = log(&a);
        l.files
            .borrow_mut()
            .get_mut("tile/entries/002.p/88")
            .unwrap()[5] ^= 1;
        let f = run(&l, None).findings;
        assert!(
            matches!(&f[..], [Finding::TilesMismatch(m)] if m.contains("entry 512")),
            "{f:?}"
        );
        // A level-1 hash changed: the root of full tile 1 does not match it.
        let l = log(&a);
        l.files.borrow_mut().get_mut("tile/1/000.p/2").unwrap()[40] ^= 1;
        let f = run(&l, None).findings;
        assert!(
            matches!(&f[..], [Finding::TilesMismatch(m)] if m.contains("tile/1/000.p/2")),
            "{f:?}"
        );
        // A leaf and its bundle entry changed together: the tiles do not hash to the root.
        let mut b = a.clone();
        b[599] = EntryHash([9; 32]);
        let l = log(&b);
        l.files.borrow_mut().insert(
            "checkpoint".into(),
            log(&a).files.borrow()["checkpoint"].clone(),
        );
        let f = run(&l, None).findings;
        assert!(matches!(&f[..], [Finding::TilesMismatch(_)]), "{f:?}");
        // Another key's signature.
        let other = NoteSigner::new(ORIGIN, SigningKey::from_seed(&[8; 32])).unwrap();
        let cp = Checkpoint::new(ORIGIN, 600, Hash([0; 32])).unwrap();
        l.files.borrow_mut().insert(
            "checkpoint".into(),
            sign_checkpoint(&cp, &other).into_bytes(),
        );
        assert_eq!(run(&l, None).findings[0].kind(), "bad_signature");
    }

    #[test]
    fn an_unchanged_checkpoint_goes_stale_after_max_age() {
        let l = log(&entries(10, 1));
        let s = run(&l, None).state.unwrap();
        let key = signer().verifier();
        let day = Some(Duration::from_secs(86_400));
        let fresh = check(&l, &key, Some(&s), 1_000 + 86_400, day).unwrap();
        assert_eq!(fresh.findings, []);
        let stale = check(&l, &key, Some(&s), 1_001 + 86_400, day).unwrap();
        assert_eq!(stale.findings[0].kind(), "stale");
    }

    #[test]
    fn states_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        assert_eq!(read_state(&p).unwrap(), None);
        let s = run(&log(&entries(300, 1)), None).state.unwrap();
        write_state(&p, &s).unwrap();
        assert_eq!(read_state(&p).unwrap(), Some(s.clone()));
        // A range that does not hash to the root it keeps is refused.
        let mut bad = s;
        bad.range.reverse();
        assert!(bad.compact_range().is_err());
    }
}

/// Writes a synthetic published log for measuring `caseledger monitor` (not a test of
/// behaviour): `MONITOR_BENCH_DIR=DIR MONITOR_BENCH_SIZE=N cargo test -p caseledger-witness
/// --lib -- --ignored write_a_large_published_log`, then `caseledger monitor DIR --key K`
/// with the key it prints.
#[cfg(test)]
mod bench {
    use super::*;
    use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
    use caseledger_core::keys::SigningKey;
    use caseledger_core::note::NoteSigner;
    use caseledger_core::tile::{entry_bundle, tile_bytes, tiles_of};

    #[test]
    #[ignore = "writes a large directory; a measurement, run by hand"]
    fn write_a_large_published_log() {
        let dir = PathBuf::from(std::env::var("MONITOR_BENCH_DIR").unwrap());
        let size: u64 = std::env::var("MONITOR_BENCH_SIZE")
            .unwrap()
            .parse()
            .unwrap();
        let entry = |i: u64| {
            let mut h = [7u8; 32];
            h[..8].copy_from_slice(&i.to_be_bytes());
            caseledger_core::ids::EntryHash(h)
        };
        // Level by level, one row at a time: the hashes of level L+1 are the roots of
        // level L's full tiles.
        let mut row: Vec<Hash> = (0..size)
            .map(|i| Sha256Hasher.hash_leaf(&entry(i).0))
            .collect();
        let mut range = CompactRange::new();
        for h in &row {
            range.append(&Sha256Hasher, *h).unwrap();
        }
        let mut level = 0u8;
        for t in tiles_of(size) {
            while t.level() > level {
                row = row
                    .chunks_exact(256)
                    .map(|c| full_tile_root(c).unwrap())
                    .collect();
                level += 1;
            }
            let first = usize::try_from(t.first_node()).unwrap();
            let hs = &row[first..first + usize::from(t.width())];
            let p = dir.join(t.path());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, tile_bytes(hs)).unwrap();
            if t.level() == 0 {
                let es: Vec<_> = t.leaves().map(entry).collect();
                let p = dir.join(t.entries_path());
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, entry_bundle(&es)).unwrap();
            }
        }
        let signer = NoteSigner::new("bench.example/log", SigningKey::from_seed(&[9; 32])).unwrap();
        let cp = Checkpoint::new("bench.example/log", size, range.root(&Sha256Hasher)).unwrap();
        std::fs::write(dir.join("checkpoint"), sign_checkpoint(&cp, &signer)).unwrap();
        println!("{}", signer.verifier().to_vkey_string());
    }
}
