//! Outside evidence after every write: once a command that seals (append, import, hold,
//! destroy, actor, clock-corrected) has made its write durable and printed its receipt,
//! the newest seal goes to each witness of `<KEYS>/witnesses.txt` (for a cosignature,
//! stored with the seal) and to the TSA of `<KEYS>/tsa.txt` (for a time-stamp token, in
//! `timestamps.log`).
//!
//! This never fails or blocks a write: the write is done before anything here starts,
//! every request has a short timeout, the whole step a budget of [`BUDGET`], and a witness
//! or TSA that is down costs one warning line on stderr (its name and why, never payload
//! content) and nothing else: the exit code stays the command's. A witness or TSA is asked
//! at most once per its `min-interval` seconds (0: at every seal); what it was not sent
//! meanwhile it gets with the next request, since the newest seal is always the one sent
//! (its consistency proof covers every seal in between). `witness sync` and `timestamp`
//! (from a timer) catch up whatever waits.
//!
//! The rate limiter's memory is `<KEYS>/evidence-state.json`, in the key directory and not
//! in the ledger: it is configuration-side state (when this machine last asked whom), not
//! evidence; the ledger directory is what snapshots, archives and auditors copy, and
//! `verify --read-only` treats it as evidence not to write to. It is guarded by
//! `evidence-state.lock`: a second process finding it held skips the step (the one holding
//! it is sending the newest seal).

use super::witness::{self as wit, Seal, Synced};
use super::Command;
use crate::keys::KeyDir;
use crate::output::{one_line, Out};
use anyhow::{anyhow, Context, Result};
use caseledger_store::Durability;
use caseledger_timestamp::config::{TsaConfig, CONFIG_FILE as TSA_FILE};
use caseledger_witness::client::{Http, Policy, SubmitError};
use caseledger_witness::config::{Witnesses, CONFIG_FILE as WITNESS_FILE};
use fs2::FileExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest the whole step may take after a write (every witness and the TSA).
pub(crate) const BUDGET: Duration = Duration::from_secs(6);
/// The longest one witness request may take (connect, send, answer); no retry.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest the TSA request may take.
const TSA_TIMEOUT: Duration = Duration::from_secs(4);
/// Below this much budget left, a request is not started.
const MIN_REQUEST: Duration = Duration::from_millis(500);

/// The rate limiter's file, in the key directory.
pub(crate) const STATE_FILE: &str = "evidence-state.json";
const LOCK_FILE: &str = "evidence-state.lock";

/// The ledger a sealing command wrote to, and its key directory flag.
pub(crate) struct Target {
    ledger: PathBuf,
    keys: Option<PathBuf>,
}

/// The ledger to send the newest seal of after `cmd`, when it is a command that seals and
/// `--no-sync` was not given.
pub(crate) fn target(cmd: &Command) -> Option<Target> {
    use super::{ActorCmd, HoldCmd};
    let (ledger, keys, sync) = match cmd {
        Command::Append(a) => (&a.ledger, &a.keys, &a.sync),
        Command::Import(a) => (&a.ledger, &a.keys, &a.sync),
        Command::ClockCorrected(a) => (&a.ledger, &a.keys, &a.sync),
        Command::Close(a) => (&a.ledger, &a.keys, &a.sync),
        Command::Actor(ActorCmd::Add(a)) => (&a.ledger, &a.keys, &a.sync),
        Command::Actor(ActorCmd::Revoke(a)) => (&a.ledger, &a.keys, &a.sync),
        Command::Hold(HoldCmd::Place(a) | HoldCmd::Release(a)) => (&a.ledger, &a.keys, &a.sync),
        Command::Destroy(a) if !a.dry_run => (&a.ledger, &a.keys, &a.sync),
        // Export appends (and seals) the record's `record_head`.
        Command::Export(a) => (&a.ledger, &a.keys, &a.sync),
        _ => return None,
    };
    (!sync.no_sync).then(|| Target {
        ledger: ledger.ledger.clone(),
        keys: keys.keys.clone(),
    })
}

/// When this machine last asked each witness (by name) and the TSA, seconds since the epoch.
#[derive(Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    witnesses: BTreeMap<String, u64>,
    #[serde(default)]
    tsa: Option<u64>,
}

fn due(last: Option<u64>, interval: u64, now: u64) -> bool {
    interval == 0 || last.is_none_or(|l| now.saturating_sub(l) >= interval || l > now)
}

/// Sends the newest seal of `t`'s ledger to its configured witnesses and TSA. Never fails:
/// a problem is one warning line.
pub(crate) fn after_write(t: &Target, out: &Out) {
    if let Err(e) = send(t, out) {
        warn(
            out,
            &format!("outside evidence: {}", one_line(&format!("{e:#}"))),
        );
    }
}

fn warn(out: &Out, msg: &str) {
    out.say(format!("caseledger: warning: {msg}"));
}

fn send(t: &Target, out: &Out) -> Result<()> {
    let started = Instant::now();
    let left = || BUDGET.saturating_sub(started.elapsed());
    let dir = t.ledger.as_path();
    let kd = KeyDir::resolve(t.keys.as_deref(), dir, || super::ledger_ops::origin_of(dir))?;
    let root = kd.root();
    let witnesses = wit::read_config(&root.join(WITNESS_FILE))?;
    let tsa = read_tsa(&root.join(TSA_FILE))?;
    if witnesses.is_empty() && tsa.is_none() {
        return Ok(());
    }
    let lock_path = root.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(crate::io::io_why)
        .with_context(|| format!("{}", lock_path.display()))?;
    if lock.try_lock_exclusive().is_err() {
        out.say("another caseledger process is sending the newest seal to the witnesses and TSA now; skipped here");
        return Ok(());
    }
    let state_path = root.join(STATE_FILE);
    // Only a rate limiter: a damaged file is replaced, never an error.
    let mut state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = wit::now_secs();
    let save = |state: &State| -> Result<()> {
        crate::io::write_replace(&state_path, serde_json::to_string(state)?.as_bytes())
            .with_context(|| format!("{}", state_path.display()))
    };
    send_witnesses(&witnesses, dir, &mut state, now, &left, &save, out)?;
    if let Some(cfg) = tsa {
        if due(state.tsa, cfg.min_interval(), now) {
            if left() < MIN_REQUEST {
                warn(out, "TSA not asked: the time budget after the write is spent; `caseledger timestamp` sends the newest seal");
            } else {
                state.tsa = Some(now);
                save(&state)?;
                timestamp(&cfg, dir, left().min(TSA_TIMEOUT), out);
            }
        }
    }
    drop(lock);
    Ok(())
}

fn read_tsa(path: &Path) -> Result<Option<TsaConfig>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = crate::io::read_text(path, "TSA configuration")?;
    TsaConfig::parse(&text)
        .map(Some)
        .map_err(|e| anyhow!("TSA configuration {}: {e}", path.display()))
}

fn send_witnesses(
    witnesses: &Witnesses,
    dir: &Path,
    state: &mut State,
    now: u64,
    left: &dyn Fn() -> Duration,
    save: &dyn Fn(&State) -> Result<()>,
    out: &Out,
) -> Result<()> {
    let due: Vec<_> = witnesses
        .iter()
        .filter(|e| {
            due(
                state.witnesses.get(e.name()).copied(),
                e.min_interval(),
                now,
            )
        })
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let ledger = super::ledger_ops::open(dir, Durability::Immediate)?;
    let (seal, stored) = wit::ledger_seals(&ledger, dir)?;
    let Some(seal) = seal else {
        return Ok(());
    };
    let seal = Seal::of(seal)?;
    let policy = Policy {
        attempts: 1,
        ..Policy::default()
    };
    for e in due {
        if wit::last_cosigned(&stored, e.key()).is_some_and(|l| l.size == seal.size) {
            continue;
        }
        if left() < MIN_REQUEST {
            warn(out, &format!(
                "witness {} not asked: the time budget after the write is spent; `caseledger witness sync` sends it the newest seal",
                e.name()
            ));
            continue;
        }
        // Counted before the request: a witness that hangs is rate-limited as well.
        state.witnesses.insert(e.name().to_owned(), now);
        save(state)?;
        let roots = match e.tls_roots() {
            Some(_) => match super::witness::witness_tls_roots(e) {
                Ok(r) => Some(r),
                Err(err) => {
                    warn(out, &format!(
                        "witness {} not asked: {}; `caseledger witness sync` sends it the newest seal",
                        e.name(),
                        one_line(&format!("{err:#}"))
                    ));
                    continue;
                }
            },
            None => None,
        };
        let transport = Http::with_roots(left().min(WITNESS_TIMEOUT), roots.as_ref());
        match wit::ask(&transport, e, &ledger, &seal, &stored, &policy) {
            Synced::Cosigned(c) => match wit::store_cosignature(&ledger, &seal, e, &c) {
                Ok(()) => out.say(format!("witness {} cosigned size {}", e.name(), seal.size)),
                Err(err) => warn(out, &one_line(&format!("{err:#}"))),
            },
            Synced::Already(_) => {}
            Synced::Failed(err) => {
                let evidence = matches!(err, SubmitError::Fork { .. } | SubmitError::Ahead { .. });
                if evidence {
                    warn(out, &format!(
                        "witness {} REFUSED the seal of size {}, evidence against this ledger's history: {err}; run `caseledger witness sync`",
                        e.name(),
                        seal.size
                    ));
                } else {
                    warn(out, &format!(
                        "witness {} did not cosign size {} ({err}); `caseledger witness sync` sends it the newest seal",
                        e.name(),
                        seal.size
                    ));
                }
            }
        }
    }
    ledger
        .close()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))
}

fn timestamp(cfg: &TsaConfig, dir: &Path, timeout: Duration, out: &Out) {
    let r = (|| -> Result<super::timestamp::Obtained> {
        let roots = super::timestamp::read_roots(cfg.chain())?;
        let tls = cfg
            .tls_roots()
            .map(super::timestamp::read_tls_roots)
            .transpose()?;
        super::timestamp::obtain_newest(dir, cfg.url(), Some(&roots), tls.as_ref(), timeout)
    })();
    match r {
        Ok(super::timestamp::Obtained::Already(_)) => {}
        Ok(super::timestamp::Obtained::New { size, gen_time, .. }) => {
            out.say(format!("TSA timestamped size {size}: genTime {gen_time}"));
        }
        Err(e) => warn(
            out,
            &format!(
                "the TSA ({}) gave no token: {}; `caseledger timestamp` sends the newest seal",
                cfg.url(),
                one_line(&format!("{e:#}"))
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn a_request_is_due_after_its_interval_or_when_the_clock_went_back() {
        assert!(due(None, 60, 1000));
        assert!(due(Some(1000), 0, 1000));
        assert!(!due(Some(990), 60, 1000));
        assert!(due(Some(940), 60, 1000));
        // A clock set back must not silence a witness until it catches up.
        assert!(due(Some(5000), 60, 1000));
    }
}
