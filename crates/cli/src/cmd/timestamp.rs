//! `caseledger timestamp`: obtain an RFC 3161 time-stamp token over the newest seal from a
//! TSA and append it to `<DIR>/timestamps.log`; `caseledger timestamp verify`: check every
//! stored token offline against the relying party's TSA roots.
//!
//! Both read `checkpoints.log` directly and never open the store, so they run beside a
//! process that holds the ledger open (`serve`, a record system). The token is over the
//! seal's checkpoint body (the note text without signature lines): see
//! `caseledger_timestamp::log` and docs/FORMAT.md.

use super::{
    TimestampArgs, TimestampConfigArgs, TimestampConfigSetArgs, TimestampRenewArgs,
    TimestampVerifyArgs,
};
use crate::keys::KeyDir;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::layout::{LogError, LogRecords, CHECKPOINTS_LOG};
use caseledger_core::note::Note;
use caseledger_timestamp::config::{TsaConfig, CONFIG_FILE};
use caseledger_timestamp::log::{self as tslog, FILE_NAME};
use caseledger_timestamp::{check_response, client, verify_token, TimestampRequest, TrustedRoots};
use caseledger_timestamp::{Renewal, VerifiedTimestamp};
use fs2::FileExt;
use serde_json::json;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// Largest `checkpoints.log` / `timestamps.log` read (a seal is ~150 bytes, a token a few
/// KiB; this is tens of millions of seals).
const MAX_LOG: u64 = 4 << 30;

/// The seals of `checkpoints.log`: checkpoint body by size (all records of one size share a
/// body; a later record only adds signature lines). A torn final record is skipped; a
/// malformed one, or two bodies for one size, is an error (run `verify`).
fn seal_bodies(dir: &Path) -> Result<BTreeMap<u64, String>> {
    Ok(stored_seals(dir)?
        .into_iter()
        .map(|(size, (body, _))| (size, body))
        .collect())
}

/// The seals of `checkpoints.log` by size: (checkpoint body, the newest stored note, which
/// carries every cosignature stored so far). Errors as [`seal_bodies`].
pub(crate) fn stored_seals(dir: &Path) -> Result<BTreeMap<u64, (String, String)>> {
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
        let text = String::from_utf8_lossy(note).into_owned();
        let note = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let cp = Checkpoint::parse_body(note.text()).map_err(|e| bad(e.to_string()))?;
        if let Some((prev, _)) = bodies.insert(cp.size, (note.text().to_owned(), text)) {
            if prev != note.text() {
                return Err(bad(format!("two different seals of size {}", cp.size)));
            }
        }
    }
    Ok(bodies)
}

pub(crate) fn read_timestamps(dir: &Path) -> Result<Option<tslog::Parsed>> {
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

/// The TLS roots file of `--tls-roots` (or `tls-roots` in `tsa.txt`).
pub(crate) fn read_tls_roots(p: &Path) -> Result<client::TlsRoots> {
    let pem = std::fs::read(p).with_context(|| format!("--tls-roots {}", p.display()))?;
    client::TlsRoots::from_pem(&pem).with_context(|| format!("--tls-roots {}", p.display()))
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
    let Some(ledger) = &a.ledger else {
        bail!("timestamp: --ledger is required (or use `timestamp verify`)");
    };
    let dir = ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    // Without --tsa: the TSA configured in the key directory, with its chain and TLS roots
    // (flags given still win).
    let configured = match &a.tsa {
        Some(_) => None,
        None => Some(read_config(&config_path(dir, a.keys.get())?)?.ok_or_else(|| {
            anyhow!("timestamp: no --tsa, and no TSA configured (`caseledger timestamp config set`)")
        })?),
    };
    let url = a
        .tsa
        .as_deref()
        .or(configured.as_ref().map(TsaConfig::url))
        .unwrap_or_default();
    let chain = a
        .tsa_chain
        .as_deref()
        .or(configured.as_ref().map(TsaConfig::chain));
    let tls = a
        .tls_roots
        .as_deref()
        .or(configured.as_ref().and_then(TsaConfig::tls_roots));
    let roots = chain.map(read_roots).transpose()?;
    let tls_roots = tls.map(read_tls_roots).transpose()?;
    match obtain_newest(
        dir,
        url,
        roots.as_ref(),
        tls_roots.as_ref(),
        Duration::from_secs(a.timeout_secs),
    )? {
        Obtained::Already(size) => {
            out.say(format!(
                "the newest seal (size {size}) is already timestamped; nothing to do"
            ));
            if out.json {
                out.json_data(&json!({ "size": size, "new": false }))?;
            }
        }
        Obtained::New {
            size,
            gen_time,
            signer,
        } => {
            match &signer {
                Some(s) => out.say(format!(
                    "timestamped the seal of size {size}: genTime {gen_time} by {s} (chain verified)"
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
                    "chain_verified": signer.is_some(),
                }))?;
            }
        }
    }
    Ok(Outcome::Ok)
}

/// `<KEYS>/tsa.txt` for the ledger at `dir`.
fn config_path(dir: &Path, keys: Option<&Path>) -> Result<PathBuf> {
    let kd = KeyDir::resolve(keys, dir, || super::ledger_ops::origin_of(dir))?;
    Ok(kd.root().join(CONFIG_FILE))
}

/// The TSA configuration at `path`, if there is one.
pub(crate) fn read_config(path: &Path) -> Result<Option<TsaConfig>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = crate::io::read_text(path, "TSA configuration")?;
    TsaConfig::parse(&text)
        .map(Some)
        .map_err(|e| anyhow!("TSA configuration {}: {e}", path.display()))
}

fn absolute(p: &Path, flag: &str) -> Result<PathBuf> {
    std::fs::canonicalize(p)
        .map_err(crate::io::io_why)
        .with_context(|| format!("{flag} {}", p.display()))
}

/// `caseledger timestamp config set`: checks the chain (and TLS roots) files parse, then
/// writes `<KEYS>/tsa.txt` with their absolute paths.
pub(crate) fn config_set(a: TimestampConfigSetArgs, out: &Out) -> Result<Outcome> {
    let dir = a.ledger.ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    let path = config_path(dir, a.keys.get())?;
    let chain = absolute(&a.tsa_chain, "--tsa-chain")?;
    read_roots(&chain)?;
    let tls = a
        .tls_roots
        .as_deref()
        .map(|p| absolute(p, "--tls-roots"))
        .transpose()?;
    if let Some(t) = &tls {
        read_tls_roots(t)?;
    }
    let cfg = TsaConfig::new(&a.tsa, &chain, tls.as_deref(), a.min_interval)
        .map_err(|e| anyhow!("{e}"))?;
    if let Some(d) = path.parent().filter(|d| !d.exists()) {
        bail!("key directory {}: does not exist", d.display());
    }
    crate::io::write_replace(&path, cfg.to_text().as_bytes())
        .with_context(|| format!("TSA configuration {}", path.display()))?;
    out.say(format!(
        "configured the TSA {} in {}: every write now asks it for a token over the newest seal{}",
        cfg.url(),
        path.display(),
        if cfg.min_interval() == 0 {
            String::new()
        } else {
            format!(" (at most once per {} s)", cfg.min_interval())
        }
    ));
    Ok(Outcome::Ok)
}

/// `caseledger timestamp config show`.
pub(crate) fn config_show(a: TimestampConfigArgs, out: &Out) -> Result<Outcome> {
    let dir = a.ledger.ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    let path = config_path(dir, a.keys.get())?;
    let cfg = read_config(&path)?;
    if out.json {
        out.json_data(&json!({
            "config": path.display().to_string(),
            "tsa": cfg.as_ref().map(|c| json!({
                "url": c.url(),
                "chain": c.chain().display().to_string(),
                "tls_roots": c.tls_roots().map(|p| p.display().to_string()),
                "min_interval": c.min_interval(),
            })),
        }))?;
    } else {
        match &cfg {
            Some(c) => out.data(&c.to_text())?,
            None => out.say(format!(
                "no TSA configured ({}): `caseledger timestamp config set --tsa URL --tsa-chain FILE`",
                path.display()
            )),
        }
    }
    Ok(Outcome::Ok)
}

/// `caseledger timestamp config remove`.
pub(crate) fn config_remove(a: TimestampConfigArgs, out: &Out) -> Result<Outcome> {
    let dir = a.ledger.ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    let path = config_path(dir, a.keys.get())?;
    if !path.exists() {
        bail!("no TSA configured ({})", path.display());
    }
    std::fs::remove_file(&path)
        .map_err(crate::io::io_why)
        .with_context(|| format!("TSA configuration {}", path.display()))?;
    out.say(format!(
        "removed the TSA configuration {} (the stored tokens stay in timestamps.log)",
        path.display()
    ));
    Ok(Outcome::Ok)
}

/// What [`obtain_newest`] did.
pub(crate) enum Obtained {
    /// The newest seal (this size) already has a token: nothing was sent.
    Already(u64),
    /// A token over the seal of `size` was stored.
    New {
        /// The seal's size.
        size: u64,
        /// The token's genTime (RFC 3339).
        gen_time: String,
        /// The TSA certificate's subject, when the token was verified against a chain.
        signer: Option<String>,
    },
}

/// Obtains a token over the newest seal of the ledger at `dir` from the TSA at `url` and
/// appends it to `timestamps.log`, unless that seal already has one. With `roots`, the
/// token is verified against them before it is stored (and not stored if it fails).
pub(crate) fn obtain_newest(
    dir: &Path,
    url: &str,
    roots: Option<&TrustedRoots>,
    tls_roots: Option<&client::TlsRoots>,
    timeout: Duration,
) -> Result<Obtained> {
    let bodies = seal_bodies(dir)?;
    let (size, body) = bodies
        .iter()
        .next_back()
        .ok_or_else(|| anyhow!("ledger {}: holds no seal", dir.display()))?;
    if let Some(have) = read_timestamps(dir)? {
        if have.tokens.iter().any(|t| &t.body == body) {
            return Ok(Obtained::Already(*size));
        }
    }
    let request = TimestampRequest::new(body.as_bytes())?;
    let response = client::post_with_roots(url, request.to_der(), timeout, tls_roots)?;
    let received = check_response(&response, &request)?;
    let verified = roots
        .map(|r| verify_token(received.to_der(), body.as_bytes(), r))
        .transpose()
        .context("the TSA's token does not verify against the trusted TSA chain; not stored")?;
    let record = tslog::frame(body, received.to_der()).map_err(|e| anyhow!("{e}"))?;
    append(dir, &record)?;
    Ok(Obtained::New {
        size: *size,
        gen_time: received.gen_time().to_string(),
        signer: verified.map(|v| v.signer().to_owned()),
    })
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
    // Which original tokens a standing renewal renews (directly; a chain renews its first
    // link's token through the first renewal).
    let renewed = {
        let mut known = originals(&parsed);
        let mut set = std::collections::HashSet::new();
        for r in &parsed.renewals {
            if check_renewal(r, &known, &roots).is_ok() {
                set.insert(r.old.clone());
                known.insert(
                    r.token.clone(),
                    (r.body.clone(), tslog::renewal_data(&r.old, &r.body)),
                );
            }
        }
        set
    };
    let now = jiff::Timestamp::now();
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
                let expired = v.valid_until() < now;
                let is_renewed = renewed.contains(&t.token);
                // Valid as of its genTime either way; after its certificates expire, what
                // keeps it from being forged later is a renewal obtained before (RFC 4998).
                let note = match (expired, is_renewed) {
                    (_, true) => " (renewed)".to_owned(),
                    (true, false) => format!(
                        " (its certificates expired on {} and it was not renewed: `timestamp renew` before expiry)",
                        v.valid_until()
                    ),
                    (false, false) => String::new(),
                };
                out.say(format!(
                    "seal {}: genTime {} by {}{note}",
                    t.size,
                    v.gen_time(),
                    v.signer()
                ));
                rows.push(json!({
                    "size": t.size, "ok": true, "gen_time": v.gen_time().to_string(),
                    "upper_bound": v.upper_bound().to_string(), "signer": v.signer(),
                    "serial": v.serial(), "policy": v.policy(),
                    "valid_until": v.valid_until().to_string(),
                    "expired": expired, "renewed": is_renewed,
                }));
            }
            Err(why) => {
                findings += 1;
                out.verdict(false, format!("seal {}: token refused: {why}", t.size));
                rows.push(json!({ "size": t.size, "ok": false, "why": why }));
            }
        }
    }
    let mut known = originals(&parsed);
    let mut renewal_rows = Vec::new();
    for r in &parsed.renewals {
        match check_renewal(r, &known, &roots) {
            Ok((old, new)) => {
                out.say(format!(
                    "seal {}: renewed at genTime {} by {} (the renewed token's certificates were valid until {})",
                    r.size,
                    new.gen_time(),
                    new.signer(),
                    old.valid_until()
                ));
                renewal_rows.push(json!({
                    "size": r.size, "ok": true, "gen_time": new.gen_time().to_string(),
                    "signer": new.signer(), "renewed_gen_time": old.gen_time().to_string(),
                    "renewed_valid_until": old.valid_until().to_string(),
                    "valid_until": new.valid_until().to_string(),
                }));
                known.insert(
                    r.token.clone(),
                    (r.body.clone(), tslog::renewal_data(&r.old, &r.body)),
                );
            }
            Err(why) => {
                findings += 1;
                out.verdict(false, format!("seal {}: renewal refused: {why}", r.size));
                renewal_rows.push(json!({ "size": r.size, "ok": false, "why": why }));
            }
        }
    }
    if parsed.torn_tail {
        out.say("timestamps.log ends in a torn record (an interrupted append); it was ignored");
    }
    let n = parsed.tokens.len() + parsed.renewals.len();
    let what = if parsed.renewals.is_empty() {
        crate::output::count(n, "time-stamp token", "time-stamp tokens")
    } else {
        format!("{n} time-stamp tokens and renewals")
    };
    if findings == 0 {
        out.verdict(
            true,
            format!(
                "{what} verified as of {} genTime",
                if n == 1 { "its" } else { "their" }
            ),
        );
    } else {
        out.verdict(false, format!("{findings} of {what} refused"));
    }
    if out.json {
        out.json_data(&json!({
            "tokens": rows, "renewals": renewal_rows, "refused": findings,
            "torn_tail": parsed.torn_tail,
        }))?;
    }
    Ok(if findings == 0 {
        Outcome::Ok
    } else {
        Outcome::Findings
    })
}

/// Each stored token's DER, with the seal body it is about and the exact bytes it is over.
type Known = HashMap<Vec<u8>, (String, Vec<u8>)>;

/// The original tokens: each is over its seal's body.
fn originals(parsed: &tslog::Parsed) -> Known {
    parsed
        .tokens
        .iter()
        .map(|t| {
            (
                t.token.clone(),
                (t.body.clone(), t.body.clone().into_bytes()),
            )
        })
        .collect()
}

/// A renewal stands when the token it renews is in the log (an original, or an earlier
/// renewal that stands) for the same seal and verifies as of its genTime, the new token is
/// over [`tslog::renewal_data`] and verifies as of its own genTime, and that genTime is
/// no later than the renewed token's certificates' expiry (a renewal obtained after it
/// proves nothing the old token could not be forged for).
fn check_renewal(
    r: &Renewal,
    known: &Known,
    roots: &TrustedRoots,
) -> std::result::Result<(VerifiedTimestamp, VerifiedTimestamp), String> {
    let (body, data) = known
        .get(&r.old)
        .ok_or("it renews a token that is not in this log (or whose renewal was refused)")?;
    if body != &r.body {
        return Err("it renews a token over another seal".into());
    }
    let old = verify_token(&r.old, data, roots).map_err(|e| format!("the renewed token: {e}"))?;
    let new = verify_token(&r.token, &tslog::renewal_data(&r.old, &r.body), roots)
        .map_err(|e| format!("the renewal token: {e}"))?;
    if new.gen_time() > old.valid_until() {
        return Err(format!(
            "obtained at {}, after the renewed token's certificates expired ({}): a renewal must come before expiry",
            new.gen_time(),
            old.valid_until()
        ));
    }
    if new.gen_time() < old.gen_time() {
        return Err("its genTime is before the renewed token's".into());
    }
    Ok((old, new))
}

/// `caseledger timestamp renew`: for each chain of tokens (an original and its renewals),
/// the newest token, when its certificates expire within `--before`, gets a new token over
/// it and the seal ([`tslog::renewal_data`]), appended as a renewal record.
pub(crate) fn renew(a: TimestampRenewArgs, out: &Out) -> Result<Outcome> {
    let dir = a.ledger.ledger.as_path();
    crate::io::check_ledger_dir(dir)?;
    let roots = read_roots(&a.tsa_chain)?;
    let tls = a.tls_roots.as_deref().map(read_tls_roots).transpose()?;
    // The same spans as `verify --skew` and `--max-staleness`.
    let within = jiff::SignedDuration::from_secs(i64::try_from(a.before.0).unwrap_or(i64::MAX));
    let parsed = read_timestamps(dir)?
        .ok_or_else(|| anyhow!("ledger {}: no {FILE_NAME}: nothing to renew", dir.display()))?;
    let mut known = originals(&parsed);
    for r in &parsed.renewals {
        if check_renewal(r, &known, &roots).is_ok() {
            known.insert(
                r.token.clone(),
                (r.body.clone(), tslog::renewal_data(&r.old, &r.body)),
            );
        }
    }
    // The heads: tokens no standing renewal renews. File order, originals first.
    let renewed: std::collections::HashSet<&[u8]> = parsed
        .renewals
        .iter()
        .filter(|r| known.contains_key(&r.token))
        .map(|r| r.old.as_slice())
        .collect();
    let heads = parsed
        .tokens
        .iter()
        .map(|t| (t.size, &t.token))
        .chain(parsed.renewals.iter().map(|r| (r.size, &r.token)))
        .filter(|(_, t)| known.contains_key(*t) && !renewed.contains(t.as_slice()));
    let now = jiff::Timestamp::now();
    let horizon = now
        .checked_add(within)
        .map_err(|_| anyhow!("--before {}: too far", a.before))?;
    let (mut renewed_n, mut refused, mut fine) = (0usize, 0usize, 0usize);
    let mut rows = Vec::new();
    for (size, token) in heads {
        let Some((body, data)) = known.get(token.as_slice()) else {
            continue;
        };
        let v = match verify_token(token, data, &roots) {
            Ok(v) => v,
            Err(e) => {
                refused += 1;
                out.verdict(
                    false,
                    format!("seal {size}: not renewed: the token does not verify: {e}"),
                );
                rows.push(json!({"size": size, "renewed": false, "why": e.to_string()}));
                continue;
            }
        };
        if v.valid_until() > horizon {
            fine += 1;
            continue;
        }
        if v.valid_until() < now {
            refused += 1;
            let why = format!(
                "its certificates expired on {}: too late to renew (a renewal must come before expiry)",
                v.valid_until()
            );
            out.verdict(false, format!("seal {size}: not renewed: {why}"));
            rows.push(json!({"size": size, "renewed": false, "why": why}));
            continue;
        }
        let renewal = tslog::renewal_data(token, body);
        let request = TimestampRequest::new(&renewal)?;
        let response = client::post_with_roots(
            &a.tsa,
            request.to_der(),
            Duration::from_secs(a.timeout_secs),
            tls.as_ref(),
        )?;
        let received = check_response(&response, &request)?;
        let new = verify_token(received.to_der(), &renewal, &roots)
            .context("the TSA's token does not verify against --tsa-chain; not stored")?;
        let late = if new.gen_time() > v.valid_until() {
            Some(format!(
                "the TSA's genTime {} is after the token's certificates expired ({}); not stored",
                new.gen_time(),
                v.valid_until()
            ))
        } else if new.gen_time() < v.gen_time() {
            Some(format!(
                "the TSA's genTime {} is before the token's own ({}); not stored",
                new.gen_time(),
                v.gen_time()
            ))
        } else {
            None
        };
        if let Some(why) = late {
            refused += 1;
            out.verdict(false, format!("seal {size}: not renewed: {why}"));
            rows.push(json!({"size": size, "renewed": false, "why": why}));
            continue;
        }
        let record =
            tslog::frame_renewal(body, token, received.to_der()).map_err(|e| anyhow!("{e}"))?;
        append(dir, &record)?;
        renewed_n += 1;
        out.say(format!(
            "seal {size}: renewed (certificates valid until {}): genTime {} by {}, valid until {}",
            v.valid_until(),
            new.gen_time(),
            new.signer(),
            new.valid_until()
        ));
        rows.push(json!({
            "size": size, "renewed": true, "gen_time": new.gen_time().to_string(),
            "renewed_valid_until": v.valid_until().to_string(),
            "valid_until": new.valid_until().to_string(),
        }));
    }
    out.say(format!(
        "{} renewed, {fine} not due (valid beyond {}), {refused} refused",
        crate::output::count(renewed_n, "token", "tokens"),
        a.before
    ));
    if out.json {
        out.json_data(
            &json!({ "renewals": rows, "renewed": renewed_n, "not_due": fine, "refused": refused }),
        )?;
    }
    Ok(if refused == 0 {
        Outcome::Ok
    } else {
        Outcome::Findings
    })
}
