//! `caseledger monitor URL --key K`: follows a served (`caseledger serve`) or published
//! (`publish --tiles`) ledger through its C2SP tiles. The checks are
//! `caseledger_witness::monitor`; this reads the key and token, keeps the state file, runs
//! the hook, and maps findings to exit 1. With `--every` it keeps running (what an auditor
//! leaves running under systemd or in a container), one round after another.

use super::MonitorArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Context, Result};
use caseledger_core::note::NoteVerifier;
use caseledger_witness::client::TlsRoots;
use caseledger_witness::monitor::{self, check, DirLog, Fetch, HttpLog, MonitorError, Run};
use serde_json::json;
use std::time::Duration;

/// The ledger key: a note verifier key `origin+hex8+base64`, or a file holding one.
fn read_key(k: &str) -> Result<NoteVerifier> {
    let text = if std::path::Path::new(k).is_file() {
        crate::io::read_text(std::path::Path::new(k), "--key")?
    } else {
        k.to_owned()
    };
    NoteVerifier::parse(text.trim()).map_err(|e| {
        anyhow!("--key: {e} (give the ledger's verifier key as `caseledger keys export --ledger DIR` prints it)")
    })
}

fn token(a: &MonitorArgs) -> Result<Option<String>> {
    if let Some(f) = &a.token_file {
        let t = crate::io::read_text(f, "--token-file")?;
        return Ok(Some(t.trim().to_owned()));
    }
    Ok(std::env::var("CASELEDGER_TOKEN")
        .ok()
        .filter(|t| !t.is_empty()))
}

/// `--every`: the pause between rounds. Milliseconds too (`200ms`), for tests and for
/// a monitor that follows a busy ledger closely; else as `--max-age` (`30s`, `5m`, `1h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Every(pub Duration);

impl std::str::FromStr for Every {
    type Err = String;
    fn from_str(s: &str) -> Result<Every, String> {
        let d = match s.trim().strip_suffix("ms") {
            Some(n) => n
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{s:?} is not a duration: e.g. 200ms, 30s, 5m"))?,
            None => Duration::from_secs(
                s.parse::<caseledger_verify::TimeSpan>()
                    .map_err(|e| e.to_string())?
                    .0,
            ),
        };
        if d.is_zero() {
            return Err("--every 0: give a pause longer than zero".into());
        }
        Ok(Every(d))
    }
}

impl std::fmt::Display for Every {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 == 0 {
            write!(f, "{}", caseledger_verify::TimeSpan(self.0.as_secs()))
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// The log the URL names: over HTTP(S), or a directory.
enum Log {
    Http(HttpLog),
    Dir(DirLog),
}

impl Fetch for Log {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Log::Http(l) => l.get(path),
            Log::Dir(l) => l.get(path),
        }
    }
}

fn open_log(a: &MonitorArgs) -> Result<Log> {
    if a.url.starts_with("http://") || a.url.starts_with("https://") {
        let roots = match &a.tls_roots {
            Some(p) => Some(
                TlsRoots::from_pem(&crate::io::read_file(p, "--tls-roots", 1 << 20)?)
                    .map_err(|e| anyhow!("--tls-roots {}: {e}", p.display()))?,
            ),
            None => None,
        };
        return Ok(Log::Http(HttpLog::new(
            &a.url,
            token(a)?,
            Duration::from_secs(a.timeout),
            roots.as_ref(),
        )));
    }
    let dir = std::path::PathBuf::from(&a.url);
    if !dir.is_dir() {
        return Err(anyhow!(
            "{}: neither an http(s):// URL nor a directory",
            a.url
        ));
    }
    Ok(Log::Dir(DirLog(dir)))
}

pub(crate) fn run(a: MonitorArgs, out: &Out) -> Result<Outcome> {
    let key = read_key(&a.key)?;
    // Carried from round to round in memory too: without --state a running monitor still
    // sees a rollback or fork between its own rounds.
    let mut state = match &a.state {
        Some(p) => monitor::read_state(p).map_err(|e| anyhow!("--state: {e}"))?,
        None => None,
    };
    let max_age = a.max_age.map(|t| Duration::from_secs(t.0));
    let log = open_log(&a)?;
    let Some(every) = a.every else {
        let now = jiff::Timestamp::now().as_second();
        let r = check(&log, &key, state.as_ref(), now, max_age)
            .map_err(|e| anyhow!("monitor {}: {e}", a.url))?;
        return round(&a, out, None, state.as_ref(), &r);
    };
    let rounds = a.rounds.unwrap_or(u64::MAX);
    let mut unread = None;
    for n in 1..=rounds {
        if n > 1 {
            std::thread::sleep(every.0);
        }
        let now = jiff::Timestamp::now().as_second();
        match check(&log, &key, state.as_ref(), now, max_age) {
            Ok(r) => {
                unread = None;
                let outcome = round(&a, out, Some(n), state.as_ref(), &r)?;
                if outcome != Outcome::Ok {
                    return Ok(outcome);
                }
                if r.state.is_some() {
                    state = r.state;
                }
            }
            // The state file is ours: nothing a later round would change.
            Err(e @ MonitorError::State(_)) => return Err(anyhow!("monitor {}: {e}", a.url)),
            // A server restarting, a network gone for a while: the next round tries again
            // from the same state, so nothing is skipped (a stale log is --max-age's).
            Err(e) => {
                out.say(format!(
                    "round {n}: monitor {}: {e}; trying again in {every}",
                    a.url
                ));
                unread = Some(e);
            }
        }
    }
    match unread {
        Some(e) => Err(anyhow!("monitor {}: the last round: {e}", a.url)),
        None => Ok(Outcome::Ok),
    }
}

/// One round's outcome: the state written when it moved, the verdict (each finding, with
/// the hook) and the exit. `n` is the round's number with `--every`: its lines say it, one
/// JSON line each with `--json`, and a round that found the log unchanged prints nothing.
fn round(
    a: &MonitorArgs,
    out: &Out,
    n: Option<u64>,
    before: Option<&monitor::MonitorState>,
    r: &Run,
) -> Result<Outcome> {
    if let (Some(p), Some(s)) = (&a.state, &r.state) {
        if before != Some(s) {
            monitor::write_state(p, s).map_err(|e| anyhow!("--state: {e}"))?;
        }
    }
    let quiet = n.is_some_and(|n| n > 1) && r.findings.is_empty() && r.sizes.0 == r.sizes.1;
    let prefix = n.map_or_else(String::new, |n| format!("round {n}: "));
    if out.json && !quiet {
        let mut v = json!({
            "from_size": r.sizes.0,
            "size": r.sizes.1,
            "entries_checked": r.entries_checked,
            "fetches": r.fetches,
            "findings": r.findings.iter().map(|f| json!({"kind": f.kind(), "message": f.to_string()})).collect::<Vec<_>>(),
        });
        match n {
            // One line a round: a stream of JSON documents a reader splits on newlines.
            Some(n) => {
                v["round"] = json!(n);
                out.data(&v.to_string())?;
            }
            None => out.json_data(&v)?,
        }
    }
    if r.findings.is_empty() {
        if !out.json && !quiet {
            out.verdict(
                true,
                format!(
                    "{prefix}consistent: size {} (was {}), {} entries checked against their tiles",
                    r.sizes.1, r.sizes.0, r.entries_checked
                ),
            );
        }
        return Ok(Outcome::Ok);
    }
    for f in &r.findings {
        if !out.json {
            out.verdict(false, format!("{prefix}{f}"));
        }
        if let Some(hook) = &a.hook {
            // The hook learns what was found from its environment, never from a shell line
            // built with the message.
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(hook)
                .env("CASELEDGER_MONITOR_FINDING", f.kind())
                .env("CASELEDGER_MONITOR_MESSAGE", f.to_string())
                .env("CASELEDGER_MONITOR_URL", &a.url)
                .status()
                .context("--hook: could not run it")?;
            if !status.success() {
                out.say(format!("--hook exited with {status}"));
            }
        }
    }
    // A finding leaves the state as it was, so a monitor that went on would report the
    // same finding (and run the hook) every round: it stops, and whatever restarts it (a
    // service manager, the auditor) sees exit 1 and the line above.
    Ok(Outcome::Findings)
}
