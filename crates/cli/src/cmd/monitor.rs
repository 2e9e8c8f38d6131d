//! `caseledger monitor URL --key K`: follows a served (`caseledger serve`) or published
//! (`publish --tiles`) ledger through its C2SP tiles. The checks are
//! `caseledger_witness::monitor`; this reads the key and token, keeps the state file, runs
//! the hook, and maps findings to exit 1.

use super::MonitorArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Context, Result};
use caseledger_core::note::NoteVerifier;
use caseledger_witness::client::TlsRoots;
use caseledger_witness::monitor::{self, check, DirLog, HttpLog, Run};
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

pub(crate) fn run(a: MonitorArgs, out: &Out) -> Result<Outcome> {
    let key = read_key(&a.key)?;
    let state = match &a.state {
        Some(p) => monitor::read_state(p).map_err(|e| anyhow!("--state: {e}"))?,
        None => None,
    };
    let now = jiff::Timestamp::now().as_second();
    let max_age = a.max_age.map(|t| Duration::from_secs(t.0));
    let result = if a.url.starts_with("http://") || a.url.starts_with("https://") {
        let roots = match &a.tls_roots {
            Some(p) => Some(
                TlsRoots::from_pem(&crate::io::read_file(p, "--tls-roots", 1 << 20)?)
                    .map_err(|e| anyhow!("--tls-roots {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let log = HttpLog::new(
            &a.url,
            token(&a)?,
            Duration::from_secs(a.timeout),
            roots.as_ref(),
        );
        check(&log, &key, state.as_ref(), now, max_age)
    } else {
        let dir = std::path::PathBuf::from(&a.url);
        if !dir.is_dir() {
            return Err(anyhow!(
                "{}: neither an http(s):// URL nor a directory",
                a.url
            ));
        }
        check(&DirLog(dir), &key, state.as_ref(), now, max_age)
    };
    let r: Run = result.map_err(|e| anyhow!("monitor {}: {e}", a.url))?;
    if let (Some(p), Some(s)) = (&a.state, &r.state) {
        if state.as_ref() != Some(s) {
            monitor::write_state(p, s).map_err(|e| anyhow!("--state: {e}"))?;
        }
    }
    if out.json {
        out.json_data(&json!({
            "from_size": r.sizes.0,
            "size": r.sizes.1,
            "entries_checked": r.entries_checked,
            "fetches": r.fetches,
            "findings": r.findings.iter().map(|f| json!({"kind": f.kind(), "message": f.to_string()})).collect::<Vec<_>>(),
        }))?;
    }
    if r.findings.is_empty() {
        if !out.json {
            out.verdict(
                true,
                format!(
                    "consistent: size {} (was {}), {} entries checked against their tiles",
                    r.sizes.1, r.sizes.0, r.entries_checked
                ),
            );
        }
        return Ok(Outcome::Ok);
    }
    for f in &r.findings {
        if !out.json {
            out.verdict(false, f.to_string());
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
    Ok(Outcome::Findings)
}
