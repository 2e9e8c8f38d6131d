//! `caseledger timestamp`: obtain an RFC 3161 time-stamp token over the newest seal from a
//! TSA and append it to `<DIR>/timestamps.log`; `caseledger timestamp verify`: check every
//! stored token offline against the relying party's TSA roots.
//!
//! Both read `checkpoints.log` directly and never open the store, so they run beside a
//! process that holds the ledger open (`serve`, a record system). The token is over the
//! seal's checkpoint body (the note text without signature lines): see
//! `caseledger_timestamp::log` and docs/FORMAT.md.

use super::{TimestampArgs, TimestampVerifyArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::layout::{LogError, LogRecords, CHECKPOINTS_LOG};
use caseledger_core::note::Note;
use caseledger_timestamp::log::{self as tslog, FILE_NAME};
use caseledger_timestamp::{check_response, client, verify_token, TimestampRequest, TrustedRoots};
use fs2::FileExt;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// Largest `checkpoints.log` / `timestamps.log` read (a seal is ~150 bytes, a token a few
/// KiB; this is tens of millions of seals).
const MAX_LOG: u64 = 4 << 30;

/// The seals of `checkpoints.log`: checkpoint body by size (all records of one size share a
/// body; a later record only adds signature lines). A torn final record is skipped; a
/// malformed one, or two bodies for one size, is an error (run `verify`).
fn seal_bodies(dir: &Path) -> Result<BTreeMap<u64, String>> {
    let path = dir.join(CHECKPOINTS_LOG);
    let bytes = crate::io::read_file(&path, "checkpoints log", MAX_LOG)?;
    let mut bodies = BTreeMap::new();
    for rec in LogRecords::new(&bytes) {
        let note = match rec {
            Ok(n) => n,
            Err(LogError::TornTail { .. }) => break,
            Err(e) => bail!("{}: {e}; run `caseledger verify`", path.display()),
        };
        let bad = |e: String| anyhow!("{}: {e}; run `caseledger verify`", path.display());
        let note = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let cp = Checkpoint::parse_body(note.text()).map_err(|e| bad(e.to_string()))?;
        if let Some(prev) = bodies.insert(cp.size, note.text().to_owned()) {
            if prev != note.text() {
                return Err(bad(format!("two different seals of size {}", cp.size)));
            }
        }
    }
    Ok(bodies)
}

fn read_timestamps(dir: &Path) -> Result<Option<tslog::Parsed>> {
    let path = dir.join(FILE_NAME);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // Created, then a crash before the first record: no token yet.
        Ok(m) if m.is_file() && m.len() == 0 => return Ok(Some(tslog::Parsed::default())),
        _ => {}
    }
    let bytes = crate::io::read_file(&path, "timestamps log", MAX_LOG)?;
    let parsed = tslog::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(Some(parsed))
}

pub(crate) fn read_roots(path: &Path) -> Result<TrustedRoots> {
    let pem = crate::io::read_file(path, "TSA chain", crate::io::MAX_SMALL_INPUT)?;
    TrustedRoots::from_pem(&pem).map_err(|e| anyhow!("TSA chain {}: {e}", path.display()))
}

/// Appends one framed record and fsyncs it (and the directory when the file is new), under
/// an exclusive lock on the file so concurrent runs do not interleave.
fn append(dir: &Path, record: &[u8]) -> Result<()> {
    let path = dir.join(FILE_NAME);
    let p = path.display();
    let existed = path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(crate::io::io_why)
        .with_context(|| format!("timestamps log {p}"))?;
    f.lock_exclusive()
        .map_err(crate::io::io_why)
        .with_context(|| format!("timestamps log {p}: lock"))?;
    f.write_all(record)
        .and_then(|()| f.sync_all())
        .map_err(crate::io::io_why)
        .with_context(|| format!("timestamps log {p}"))?;
    if !existed {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(crate::io::io_why)
            .with_context(|| format!("ledger {}", dir.display()))?;
    }
    Ok(())
}

/// `caseledger timestamp --ledger L --tsa URL [--tsa-chain FILE] [--tls-roots FILE]`.
pub(crate) fn obtain(a: TimestampArgs, out: &Out) -> Result<Outcome> {
    let (Some(ledger), Some(url)) = (&a.ledger, &a.tsa) else {
        bail!("timestamp: --ledger and --tsa are required (or use `timestamp verify`)");
    };
    let dir = ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    let roots = a.tsa_chain.as_deref().map(read_roots).transpose()?;
    let tls_roots = a
        .tls_roots
        .as_deref()
        .map(|p| -> Result<client::TlsRoots> {
            let pem = std::fs::read(p).with_context(|| format!("--tls-roots {}", p.display()))?;
            client::TlsRoots::from_pem(&pem).with_context(|| format!("--tls-roots {}", p.display()))
        })
        .transpose()?;
    let bodies = seal_bodies(dir)?;
    let (size, body) = bodies
        .iter()
        .next_back()
        .ok_or_else(|| anyhow!("ledger {}: holds no seal", dir.display()))?;
    if let Some(have) = read_timestamps(dir)? {
        if have.tokens.iter().any(|t| &t.body == body) {
            out.say(format!(
                "the newest seal (size {size}) is already timestamped; nothing to do"
            ));
            if out.json {
                out.json_data(&json!({ "size": size, "new": false }))?;
            }
            return Ok(Outcome::Ok);
        }
    }
    let request = TimestampRequest::new(body.as_bytes())?;
    let response = client::post_with_roots(
        url,
        request.to_der(),
        Duration::from_secs(a.timeout_secs),
        tls_roots.as_ref(),
    )?;
    let received = check_response(&response, &request)?;
    let verified = roots
        .as_ref()
        .map(|r| verify_token(received.to_der(), body.as_bytes(), r))
        .transpose()
        .context("the TSA's token does not verify against --tsa-chain; not stored")?;
    let record = tslog::frame(body, received.to_der()).map_err(|e| anyhow!("{e}"))?;
    append(dir, &record)?;
    let gen_time = received.gen_time().to_string();
    match &verified {
        Some(v) => out.say(format!(
            "timestamped the seal of size {size}: genTime {gen_time} by {} (chain verified)",
            v.signer()
        )),
        None => out.say(format!(
            "timestamped the seal of size {size}: genTime {gen_time} (not checked against a \
             trusted chain: give --tsa-chain, or run `timestamp verify`)"
        )),
    }
    if out.json {
        out.json_data(&json!({
            "size": size,
            "new": true,
            "gen_time": gen_time,
            "chain_verified": verified.is_some(),
        }))?;
    }
    Ok(Outcome::Ok)
}

/// `caseledger timestamp verify --ledger L --tsa-chain FILE`.
pub(crate) fn verify(a: TimestampVerifyArgs, out: &Out) -> Result<Outcome> {
    let dir = a.ledger.ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    let roots = read_roots(&a.tsa_chain)?;
    let parsed = read_timestamps(dir)?.ok_or_else(|| {
        anyhow!(
            "ledger {}: no {FILE_NAME} (obtain tokens with `caseledger timestamp --tsa URL`)",
            dir.display()
        )
    })?;
    let bodies = seal_bodies(dir)?;
    let mut findings = 0usize;
    let mut rows = Vec::new();
    for t in &parsed.tokens {
        let verdict = match verify_token(&t.token, t.body.as_bytes(), &roots) {
            Err(e) => Err(e.to_string()),
            Ok(_) if bodies.get(&t.size) != Some(&t.body) => {
                Err("the token is over a checkpoint that is not this ledger's seal".into())
            }
            Ok(v) => Ok(v),
        };
        match &verdict {
            Ok(v) => {
                out.say(format!(
                    "seal {}: genTime {} by {}",
                    t.size,
                    v.gen_time(),
                    v.signer()
                ));
                rows.push(json!({
                    "size": t.size, "ok": true, "gen_time": v.gen_time().to_string(),
                    "upper_bound": v.upper_bound().to_string(), "signer": v.signer(),
                    "serial": v.serial(), "policy": v.policy(),
                }));
            }
            Err(why) => {
                findings += 1;
                out.verdict(false, format!("seal {}: token refused: {why}", t.size));
                rows.push(json!({ "size": t.size, "ok": false, "why": why }));
            }
        }
    }
    if parsed.torn_tail {
        out.say("timestamps.log ends in a torn record (an interrupted append); it was ignored");
    }
    let n = parsed.tokens.len();
    if findings == 0 {
        out.verdict(
            true,
            format!(
                "{} verified as of {} genTime",
                crate::output::count(n, "time-stamp token", "time-stamp tokens"),
                if n == 1 { "its" } else { "their" }
            ),
        );
    } else {
        out.verdict(
            false,
            format!(
                "{findings} of {} refused",
                crate::output::count(n, "time-stamp token", "time-stamp tokens")
            ),
        );
    }
    if out.json {
        out.json_data(
            &json!({ "tokens": rows, "refused": findings, "torn_tail": parsed.torn_tail }),
        )?;
    }
    Ok(if findings == 0 {
        Outcome::Ok
    } else {
        Outcome::Findings
    })
}
