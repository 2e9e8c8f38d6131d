//! `caseledger witness serve|add|list|remove|sync`: run a C2SP tlog-witness, and configure
//! the witnesses a ledger sends its newest seal to (`<KEYS>/witnesses.txt`).
//!
//! Every command that seals sends the newest seal to the configured witnesses once it is
//! durable (`super::evidence`, bounded in time, rate-limited, never failing the write);
//! `sync` sends it on demand (a timer catches up after a witness was down). `sync` says
//! which witnesses lag and exits 0 unless a witness reports a fork or a rollback (exit 1:
//! evidence against this ledger's history).

use super::ledger_ops::{open, origin_of};
use super::{
    WitnessAddArgs, WitnessLedgerArgs, WitnessRemoveArgs, WitnessServeArgs, WitnessSyncArgs,
};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::checkpoint::{append_cosignature, Checkpoint, CosignatureVerifier};
use caseledger_core::note::Note;
use caseledger_store::{Durability, Ledger};
use caseledger_witness::client::{self, Http, Policy, SubmitError};
use caseledger_witness::config::{ConfigError, WitnessEntry, Witnesses, CONFIG_FILE};
use caseledger_witness::server::{LogKeys, Witness};
use caseledger_witness::state::StateDir;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `caseledger witness serve`.
pub(crate) fn serve(a: WitnessServeArgs, out: &Out) -> Result<Outcome> {
    let key = crate::keys::read_private(&a.key)?;
    let name = crate::keys::key_name(a.name.as_deref(), &a.key);
    let logs_text = crate::io::read_text(&a.logs, "log key list")?;
    let logs = LogKeys::parse(&logs_text)
        .map_err(|e| anyhow!("log key list {}: {e}", a.logs.display()))?;
    let state = StateDir::open(&a.state).map_err(|e| anyhow!("{e}"))?;
    let witness = Witness::new(&name, key, logs, state).map_err(|e| match e {
        caseledger_witness::server::StartError::Name(e) => anyhow!("--name {name:?}: {e}"),
        e => anyhow!("{e}"),
    })?;
    let listener = std::net::TcpListener::bind(a.addr)
        .map_err(crate::io::io_why)
        .with_context(|| format!("--addr {}", a.addr))?;
    let addr = listener.local_addr().context("--addr")?;
    let url = format!("http://{addr}");
    let vkey = witness.verifier().to_vkey_string();
    let origins: Vec<String> = witness.logs().origins().map(str::to_owned).collect();
    out.say(format!(
        "witness {vkey} listening on {url} for {}: {}",
        crate::output::count(origins.len(), "log", "logs"),
        origins.join(", ")
    ));
    if out.json {
        out.json_data(&json!({ "url": url, "key": vkey, "logs": origins }))?;
    } else {
        out.data(&format!("{url}\n{vkey}"))?;
    }
    caseledger_witness::http::serve(listener, Arc::new(witness))
        .map_err(crate::io::io_why)
        .context("serving")?;
    Ok(Outcome::Ok)
}

/// The key directory of `ledger` and the witness config file in it.
pub(crate) fn config_path(ledger: &Path, keys: Option<&Path>) -> Result<PathBuf> {
    crate::io::check_ledger_dir(ledger)?;
    let kd = KeyDir::resolve(keys, ledger, || origin_of(ledger))?;
    Ok(kd.root().join(CONFIG_FILE))
}

/// The roots a witness's `tls-roots=` names (the witness list's own option).
pub(crate) fn witness_tls_roots(e: &WitnessEntry) -> Result<client::TlsRoots> {
    let p = e.tls_roots().unwrap_or_default();
    let pem = std::fs::read(p)
        .map_err(crate::io::io_why)
        .with_context(|| format!("witness {}: tls-roots {p}", e.name()))?;
    client::TlsRoots::from_pem(&pem).with_context(|| format!("witness {}: tls-roots {p}", e.name()))
}

pub(crate) fn read_config(path: &Path) -> Result<Witnesses> {
    if !path.exists() {
        return Ok(Witnesses::default());
    }
    let text = crate::io::read_text(path, "witness list")?;
    Witnesses::parse(&text).map_err(|e| anyhow!("witness list {}: {e}", path.display()))
}

fn write_config(path: &Path, w: &Witnesses) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        bail!("key directory {}: does not exist", dir.display());
    }
    crate::io::write_replace(path, w.to_text().as_bytes())
        .with_context(|| format!("witness list {}", path.display()))
}

/// `caseledger witness add`.
pub(crate) fn add(a: WitnessAddArgs, out: &Out) -> Result<Outcome> {
    let path = config_path(&a.ledger.ledger, a.keys.get())?;
    let key_text = if Path::new(&a.key).is_file() {
        crate::io::read_text(Path::new(&a.key), "witness key")?
            .trim()
            .to_owned()
    } else {
        a.key.clone()
    };
    // Stored absolute (every later command reads it, from any directory) and checked now.
    let roots = match &a.tls_roots {
        Some(p) => {
            let abs = std::fs::canonicalize(p)
                .map_err(crate::io::io_why)
                .with_context(|| format!("--tls-roots {}", p.display()))?;
            let pem = crate::io::read_file(&abs, "--tls-roots", crate::io::MAX_SMALL_INPUT)?;
            client::TlsRoots::from_pem(&pem)
                .with_context(|| format!("--tls-roots {}", p.display()))?;
            Some(abs.display().to_string())
        }
        None => None,
    };
    let entry = WitnessEntry::new(&a.name, &a.url, &key_text)
        .and_then(|e| e.with_min_interval(a.min_interval))
        .and_then(|e| match &roots {
            Some(r) => e.with_tls_roots(r),
            None => Ok(e),
        })
        .map_err(|e| match e {
            // The parser's own words ("missing '+'") do not say what was wanted.
            ConfigError::BadKey(why) => anyhow!(
                "witness key {:?}: not a witness key ({why}); a witness key is one line \
                 `name+hex8+base64`, as `caseledger witness serve` prints it when it starts \
                 (\"witness <KEY> listening on …\") or as the witness's operator publishes \
                 it; give it, or a file holding it",
                a.key.chars().take(64).collect::<String>()
            ),
            e => anyhow!("{e}"),
        })?;
    let mut w = read_config(&path)?;
    w.add(entry).map_err(|e| match e {
        ConfigError::Duplicate(name) => anyhow!(
            "witness {name}: already configured in {}; to change its URL or key, remove it first (`caseledger witness remove --ledger {} {name}`)",
            path.display(),
            a.ledger.ledger.display()
        ),
        e => anyhow!("{e}"),
    })?;
    write_config(&path, &w)?;
    out.say(format!(
        "added witness {} ({} in {}); every write now sends it the newest seal (`caseledger witness sync` on demand)",
        a.name,
        crate::output::count(w.len(), "witness", "witnesses"),
        path.display()
    ));
    Ok(Outcome::Ok)
}

/// `caseledger witness remove`.
pub(crate) fn remove(a: WitnessRemoveArgs, out: &Out) -> Result<Outcome> {
    let path = config_path(&a.ledger.ledger, a.keys.get())?;
    let mut w = read_config(&path)?;
    if !w.remove(&a.name) {
        bail!("witness {:?}: not configured in {}", a.name, path.display());
    }
    write_config(&path, &w)?;
    out.say(format!(
        "removed witness {} (its cosignatures stay stored with their seals)",
        a.name
    ));
    Ok(Outcome::Ok)
}

/// The largest stored seal a witness cosigned, with the cosignature's time.
#[derive(Clone, Copy)]
pub(crate) struct LastCosigned {
    /// The seal's size.
    pub size: u64,
    /// The witness's timestamp in the cosignature (seconds since the epoch).
    pub timestamp: u64,
}

/// Scans the stored checkpoints, newest first, for a valid cosignature by `key`.
pub(crate) fn last_cosigned(
    stored: &[(u64, String)],
    key: &CosignatureVerifier,
) -> Option<LastCosigned> {
    stored.iter().rev().find_map(|(size, text)| {
        let note = Note::parse(text.as_bytes()).ok()?;
        let cp = Checkpoint::parse_body(note.text()).ok()?;
        note.signatures()
            .iter()
            .filter(|s| s.name == key.name() && s.key_id == key.key_id())
            .filter_map(|s| key.verify_line(&cp, &s.to_line()).ok())
            .max()
            .map(|timestamp| LastCosigned {
                size: *size,
                timestamp,
            })
    })
}

pub(crate) fn now_secs() -> u64 {
    u64::try_from(caseledger_core::Timestamp::now().0 / 1_000_000).unwrap_or(0)
}

/// "3m", "2h", "5d": how long ago.
pub(crate) fn age(ts: u64, now: u64) -> String {
    let s = now.saturating_sub(ts);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A stored checkpoint: its size and note.
pub(crate) type SizedNote = (u64, String);

/// The newest seal and every stored checkpoint.
pub(crate) fn ledger_seals(
    ledger: &Ledger,
    dir: &Path,
) -> Result<(Option<SizedNote>, Vec<SizedNote>)> {
    let seal = ledger
        .newest_seal()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?;
    let stored = ledger
        .checkpoints()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?;
    Ok((seal, stored))
}

/// `caseledger witness list`: each witness with the last seal it cosigned and how long ago.
pub(crate) fn list(a: WitnessLedgerArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let path = config_path(dir, a.keys.get())?;
    let w = read_config(&path)?;
    let ledger = open(dir, Durability::Immediate)?;
    let (seal, stored) = ledger_seals(&ledger, dir)?;
    let seal_size = seal.as_ref().map_or(0, |s| s.0);
    let now = now_secs();
    let mut rows = Vec::new();
    for e in w.iter() {
        let last = last_cosigned(&stored, e.key());
        rows.push(json!({
            "name": e.name(),
            "url": e.url(),
            "key": e.key().to_vkey_string(),
            "cosigned_size": last.map(|l| l.size),
            "cosigned_at": last.map(|l| l.timestamp),
            "age_seconds": last.map(|l| now.saturating_sub(l.timestamp)),
            "seal_size": seal_size,
            "lagging": last.is_none_or(|l| l.size < seal_size),
        }));
        if !out.json {
            let state = match last {
                Some(l) => format!(
                    "cosigned size {} of {seal_size}, {} ago",
                    l.size,
                    age(l.timestamp, now)
                ),
                None => format!("never cosigned (newest seal: size {seal_size})"),
            };
            out.data(&format!("{}\t{}\t{state}", e.name(), e.url()))?;
        }
    }
    if out.json {
        out.json_data(&json!({ "config": path.display().to_string(), "witnesses": rows }))?;
    } else if w.is_empty() {
        out.say(format!(
            "no witnesses configured ({}): add one with `caseledger witness add NAME URL KEY`",
            path.display()
        ));
    }
    Ok(Outcome::Ok)
}

/// What happened with one witness during `sync`.
pub(crate) enum Synced {
    Cosigned(client::Cosignature),
    Already(LastCosigned),
    Failed(SubmitError),
}

/// A seal to send: its size, signed note and checkpoint.
pub(crate) struct Seal {
    /// The tree size.
    pub size: u64,
    /// The signed note (with the cosignatures stored so far).
    pub note: String,
    /// The checkpoint the note signs.
    pub checkpoint: Checkpoint,
}

impl Seal {
    /// Parses a stored seal.
    pub(crate) fn of((size, note): SizedNote) -> Result<Seal> {
        let checkpoint = Checkpoint::parse_body(
            Note::parse(note.as_bytes())
                .map_err(|e| anyhow!("newest seal: {e}"))?
                .text(),
        )
        .map_err(|e| anyhow!("newest seal: {e}"))?;
        Ok(Seal {
            size,
            note,
            checkpoint,
        })
    }
}

/// Asks one witness to cosign `seal`, from the size it last cosigned (in `stored`); a
/// witness that already cosigned this size is not asked.
pub(crate) fn ask(
    transport: &Http,
    e: &WitnessEntry,
    ledger: &Ledger,
    seal: &Seal,
    stored: &[SizedNote],
    policy: &Policy,
) -> Synced {
    let last = last_cosigned(stored, e.key());
    match last {
        Some(l) if l.size == seal.size => Synced::Already(l),
        _ => {
            let from = last.map_or(0, |l| l.size);
            let mut proof =
                |m: u64, n: u64| ledger.consistency_proof(m, n).map_err(|e| e.to_string());
            match client::submit(
                transport,
                &e.endpoint(),
                &seal.note,
                &seal.checkpoint,
                from,
                &mut proof,
                policy,
            ) {
                Ok(c) => Synced::Cosigned(c),
                Err(err) => Synced::Failed(err),
            }
        }
    }
}

/// Stores a witness's cosignature with its seal (in the store and `checkpoints.log`).
pub(crate) fn store_cosignature(
    ledger: &Ledger,
    seal: &Seal,
    e: &WitnessEntry,
    c: &client::Cosignature,
) -> Result<()> {
    let merged = append_cosignature(&seal.note, &c.line)
        .map_err(|err| anyhow!("witness {}: {err}", e.name()))?;
    ledger
        .add_cosignature(seal.size, &merged)
        .map_err(|err| anyhow!("storing the cosignature of witness {}: {err}", e.name()))?;
    Ok(())
}

/// `caseledger witness sync`: sends the newest seal to every configured witness, stores
/// each cosignature with the seal.
pub(crate) fn sync(a: WitnessSyncArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let path = config_path(dir, a.keys.get())?;
    let witnesses = read_config(&path)?;
    if witnesses.is_empty() {
        out.say(format!(
            "no witnesses configured ({}): nothing to send",
            path.display()
        ));
        return Ok(Outcome::Ok);
    }
    if a.timeout == 0 || a.attempts == 0 {
        bail!("--timeout and --attempts must be at least 1");
    }
    let tls_roots = match &a.tls_roots {
        Some(p) => {
            let pem = std::fs::read(p).with_context(|| format!("--tls-roots {}", p.display()))?;
            Some(
                client::TlsRoots::from_pem(&pem)
                    .with_context(|| format!("--tls-roots {}", p.display()))?,
            )
        }
        None => None,
    };
    let ledger = open(dir, Durability::Immediate)?;
    let (seal, stored) = ledger_seals(&ledger, dir)?;
    let seal = Seal::of(seal.ok_or_else(|| anyhow!("ledger {}: holds no seal", dir.display()))?)?;
    let size = seal.size;
    let transport = Http::with_roots(Duration::from_secs(a.timeout), tls_roots.as_ref());
    // `--tls-roots` applies to every witness of this run; without it, a witness's own
    // `tls-roots=` from the list (read before any request, so a bad file is named first).
    let mut own = Vec::new();
    for e in witnesses.iter() {
        own.push(match (&tls_roots, e.tls_roots()) {
            (None, Some(_)) => Some(Http::with_roots(
                Duration::from_secs(a.timeout),
                Some(&witness_tls_roots(e)?),
            )),
            _ => None,
        });
    }
    let policy = Policy {
        attempts: a.attempts,
        ..Policy::default()
    };
    // Witnesses are asked one after another: the wait is bounded by
    // witnesses x attempts x timeout (plus backoff), and the ledger stays open meanwhile.
    let mut results = Vec::new();
    for (e, own) in witnesses.iter().zip(&own) {
        let r = ask(
            own.as_ref().unwrap_or(&transport),
            e,
            &ledger,
            &seal,
            &stored,
            &policy,
        );
        results.push((e, r));
    }
    // Store every cosignature with its seal, then report.
    let mut evidence = false;
    let mut rows = Vec::new();
    for (e, r) in &results {
        let row = match r {
            Synced::Cosigned(c) => {
                store_cosignature(&ledger, &seal, e, c)?;
                out.say(format!(
                    "{}: cosigned size {size} (from size {})",
                    e.name(),
                    c.from_size
                ));
                json!({"name": e.name(), "status": "cosigned", "size": size, "from_size": c.from_size, "timestamp": c.timestamp})
            }
            Synced::Already(l) => {
                out.say(format!("{}: already cosigned size {size}", e.name()));
                json!({"name": e.name(), "status": "cosigned", "size": l.size, "timestamp": l.timestamp})
            }
            Synced::Failed(err) => {
                let fork = matches!(err, SubmitError::Fork { .. } | SubmitError::Ahead { .. });
                evidence |= fork;
                let last = last_cosigned(&stored, e.key()).map(|l| l.size);
                let held = last.map_or_else(|| "never".to_owned(), |s| format!("size {s}"));
                out.say(format!(
                    "{}: {} ({}): {err}; last cosigned: {held}",
                    e.name(),
                    if fork { "REFUSED, evidence" } else { "lags" },
                    e.url()
                ));
                json!({"name": e.name(), "status": if fork { "conflict" } else { "lagging" }, "size": last, "error": err.to_string()})
            }
        };
        rows.push(row);
    }
    let lagging = results
        .iter()
        .filter(|(_, r)| matches!(r, Synced::Failed(_)))
        .count();
    if out.json {
        out.json_data(&json!({ "seal_size": size, "witnesses": rows }))?;
    }
    if lagging > 0 {
        out.say(format!(
            "{lagging} of {} did not cosign size {size}",
            crate::output::count(results.len(), "witness", "witnesses")
        ));
    }
    ledger
        .close()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?;
    Ok(if evidence {
        Outcome::Findings
    } else {
        Outcome::Ok
    })
}
