//! `caseledger report retention|verify`: the signed retention report for investigators.

use super::ledger_ops::day_arg;
use super::{ReportRetentionArgs, ReportVerifyArgs};
use crate::output::Out;
use crate::render::sh_quote;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::keys::SigningKey;
use caseledger_core::sshsig::{allowed_signers_line, REPORT_NAMESPACE};
use caseledger_core::{Date, Timestamp};
use caseledger_keyfile::Signer;
use caseledger_verify::asof::{verify_as_of, AsOf};
use caseledger_verify::manifest::{sha256, Manifest, MANIFEST, MANIFEST_ED25519, MANIFEST_SIG};
use caseledger_verify::report::{
    fingerprint, verify_report, ReportContext, RetentionReport, SignedReport,
};
use caseledger_verify::{LedgerSource, Policy};
use serde_json::json;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The files of a report that its manifest covers.
const COVERED: [&str; 7] = [
    "report.json",
    "report.json.sig",
    "report.json.ed25519",
    "report.html",
    "report.csv",
    "allowed_signers",
    "report-key.pem",
];

/// Every file `report retention` writes into `--out`.
const FILES: [&str; 10] = [
    "report.json",
    "report.json.sig",
    "report.json.ed25519",
    "report.html",
    "report.csv",
    "allowed_signers",
    "report-key.pem",
    MANIFEST,
    MANIFEST_SIG,
    MANIFEST_ED25519,
];

/// The largest report file `report verify` reads.
const MAX_FILE: u64 = 1 << 30;

/// The instant the day `as_of` ends in `tz` (the start of the next day there).
pub(crate) fn end_of_day(as_of: Date, tz: &str) -> Result<(String, Timestamp)> {
    let (name, zone) = zone_of(tz)?;
    let next = as_of
        .next_day()
        .map_err(|e| anyhow!("--as-of {as_of}: {e}"))?;
    let start = next
        .civil()
        .to_zoned(zone)
        .map_err(|e| anyhow!("--as-of {as_of} in {tz}: {e}"))?;
    Ok((name, Timestamp(start.timestamp().as_microsecond())))
}

/// A time zone by its IANA name (`--tz`, or the practice's), with the name as reports show it.
fn zone_of(tz: &str) -> Result<(String, jiff::tz::TimeZone)> {
    let zone = jiff::tz::TimeZone::get(tz).map_err(|e| {
        anyhow!("--tz {tz:?}: not a time zone this system knows (an IANA name such as America/Chicago, or UTC): {e}")
    })?;
    let name = if tz.eq_ignore_ascii_case("utc") {
        "UTC".to_owned()
    } else {
        tz.to_owned()
    };
    Ok((name, zone))
}

/// The relying party's ledger keys (`--ledger-key`), checked here so a bad one is named by
/// this command's flag; bound to the ledger's origin with [`crate::keys::bind_keys`].
pub(crate) fn ledger_keys(args: &[String]) -> Result<Vec<crate::keys::LedgerKeyArg>> {
    crate::keys::ledger_key_args(args, "--ledger-key")
}

/// Verifies the whole ledger and folds the prefix before `cut`, with a progress bar.
pub(crate) fn run_as_of(
    src: &dyn LedgerSource,
    policy: &Policy,
    cut: Timestamp,
    out: &Out,
) -> Result<AsOf> {
    let pb = out.progress(src.len_hint().unwrap_or(0), "verifying");
    let progress = |p: caseledger_verify::Progress| {
        if let Some(t) = p.total {
            pb.set_length(t);
        }
        pb.set_position(p.done);
    };
    let a = verify_as_of(src, policy, cut, &progress);
    pb.finish_and_clear();
    a.map_err(|e| anyhow!("{e}"))
}

/// `caseledger report retention`.
pub(crate) fn retention(a: ReportRetentionArgs, out: &Out) -> Result<Outcome> {
    let now = Timestamp::now();
    let as_of_arg = day_arg(&a.as_of, "--as-of")?;
    let src = super::verify::open_ledger_source(&a.ledger.ledger)?;
    // Days are the practice's (genesis), as `status` and the retention fold count them,
    // unless --tz names another zone.
    let tz =
        a.tz.clone()
            .unwrap_or_else(|| super::verify::practice_zone(&src));
    let (_, zone) = zone_of(&tz)?;
    let today = now
        .date_in(&zone)
        .map_err(|e| anyhow!("the system clock: {e}"))?;
    let as_of = as_of_arg.unwrap_or(today);
    if as_of > today {
        bail!("--as-of {as_of}: after today ({today}, {tz}); a report describes the ledger as it stood at the end of a day, never a day to come");
    }
    let (time_zone, cut) = end_of_day(as_of, &tz)?;
    // Check every output before doing any work, so a refusal writes nothing.
    let o = a.out.display();
    match fs::metadata(&a.out) {
        Ok(m) if !m.is_dir() => bail!("--out {o}: exists and is not a directory"),
        Ok(_) => {
            for f in FILES {
                if fs::symlink_metadata(a.out.join(f)).is_ok() {
                    bail!("--out {o}: {f} already exists; refusing to overwrite a report");
                }
            }
        }
        Err(_) => {}
    }
    // The reporting key: a key file (generated on request), or ssh-agent.
    let (signer, generate): (Box<dyn Signer>, Option<(PathBuf, SigningKey)>) =
        match (&a.signing_key, &a.ssh_key) {
            (Some(path), _) if !path.exists() && !a.generate_key => bail!(
                "--signing-key {}: no such file; add --generate-key to create it (0600, and its \
                 .pub beside it), or create one with `caseledger keys generate --out {}`",
                path.display(),
                path.display()
            ),
            (Some(path), _) if path.exists() || !a.generate_key => {
                (Box::new(crate::keys::read_private(path)?), None)
            }
            (Some(path), _) => {
                let k = SigningKey::generate();
                (Box::new(k.clone()), Some((path.clone(), k)))
            }
            (None, Some(pub_file)) => (
                Box::new(
                    caseledger_keyfile::agent::AgentSigner::from_pub_file(pub_file)
                        .map_err(|e| anyhow!("--ssh-key: {e}"))?,
                ),
                None,
            ),
            (None, None) => bail!("usage: give --signing-key FILE or --ssh-key FILE.pub"),
        };
    let keys = ledger_keys(&a.ledger_key)?;
    let mut policy = super::verify::policy(&a.trusted, &[], &a.witness, a.quorum)?;
    super::verify::time_policy(&mut policy, a.tsa_chain.as_deref(), a.skew, a.max_staleness)?;
    crate::keys::bind_keys(&mut policy, &keys, "--ledger-key", || {
        super::verify::source_origin(&src)
    })?;
    let asof = run_as_of(&src, &policy, cut, out)?;
    drop(src);
    let v = asof.verified();
    if !v.is_clean() && !a.include_findings {
        for f in v.findings() {
            out.say(format!("finding: {f}"));
        }
        out.verdict(false, format!(
            "ledger {}: {}; refusing to write a retention report (use --include-findings to report them)",
            a.ledger.ledger.display(),
            crate::output::count(v.findings().len(), "finding", "findings")
        ));
        return Ok(Outcome::Findings);
    }
    if asof.size() == 0 && v.is_clean() {
        bail!("--as-of {as_of}: nothing had been recorded in ledger {} by the end of that day ({time_zone}); a report as of then would be empty", a.ledger.ledger.display());
    }
    if cut > now {
        out.say(format!(
            "note: {as_of} has not ended yet ({time_zone}): this report describes the entries recorded so far; one produced later the same day may describe more"
        ));
    }
    let identity = a.signer.clone().unwrap_or_else(|| v.origin().to_owned());
    let public = signer.public_key();
    let signers = allowed_signers_line(&identity, &public, REPORT_NAMESPACE)
        .map_err(|e| anyhow!("--signer {identity:?}: {e}"))?;
    let ctx = ReportContext {
        as_of,
        time_zone,
        produced_at: now,
        identity: identity.clone(),
        key: public,
    };
    let report = RetentionReport::build(&asof, &policy, &ctx, a.include_findings)
        .map_err(|e| anyhow!("{e}"))?;
    let bytes = report.to_canonical_json().map_err(|e| anyhow!("{e}"))?;
    let sig = sign_with(signer.as_ref(), &bytes)?;
    let html = crate::render::html(&report);
    let csv = crate::render::csv(&report);
    let pem = public.to_spki_pem();
    let contents: [(&str, &[u8]); 7] = [
        ("report.json", &bytes),
        ("report.json.sig", sig.sshsig_armored.as_bytes()),
        ("report.json.ed25519", &sig.raw_ed25519),
        ("report.html", html.as_bytes()),
        ("report.csv", csv.as_bytes()),
        ("allowed_signers", signers.as_bytes()),
        ("report-key.pem", pem.as_bytes()),
    ];
    debug_assert!(contents.iter().map(|c| c.0).eq(COVERED));
    let manifest = Manifest::of(contents.iter().copied())
        .map_err(|e| anyhow!("manifest: {e}"))?
        .to_bytes();
    let msig = sign_with(signer.as_ref(), &manifest)?;

    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&a.out)
        .map_err(crate::io::io_why)
        .with_context(|| format!("--out {o}"))?;
    if let Some((path, key)) = &generate {
        crate::keys::write_private(path, key, &identity)?;
        out.say(format!(
            "generated reporting key {} (mode 0600)",
            path.display()
        ));
    }
    let write =
        |name: &str, data: &[u8]| crate::io::write_new(&a.out.join(name), data, "report file");
    for (name, data) in contents {
        write(name, data)?;
    }
    write(MANIFEST, &manifest)?;
    write(MANIFEST_SIG, msig.sshsig_armored.as_bytes())?;
    write(MANIFEST_ED25519, &msig.raw_ed25519)?;

    if out.json {
        out.json_data(&json!({
            "out": o.to_string(),
            "as_of": report.as_of,
            "time_zone": report.time_zone,
            "recorded_before": report.recorded_before,
            "prefix_size": report.prefix.size,
            "records": report.totals.records,
            "verdict": report.integrity.verdict,
            "anchor": report.integrity.anchor.kind,
            "time_policy": report.integrity.time_policy,
            "findings": report.integrity.findings.len(),
            "signer": identity,
            "key_fingerprint": report.signer.fingerprint,
            "files": FILES,
        }))?;
    } else {
        out.say(format!(
            "wrote retention report as of the end of {as_of} ({}) to {o}: {} recorded by then, {}, integrity {} ({})",
            report.time_zone,
            crate::output::count(report.prefix.size, "entry", "entries"),
            crate::output::count(report.totals.records, "record", "records"),
            report.integrity.verdict,
            report.integrity.anchor.kind.replace('_', "-"),
        ));
        if let Some(t) = &report.integrity.time_policy {
            out.say(format!("time policy: {t}"));
        }
        // Each destruction's time basis: what its lawfulness rests on (issue 14).
        for r in &report.records {
            if let Some(d) = &r.destruction {
                let why = d
                    .citation
                    .as_ref()
                    .and_then(|c| c.why_not.as_deref())
                    .map(|w| format!(" (its citation does not count: {w})"))
                    .unwrap_or_default();
                out.say(format!(
                    "destruction of {} (seq {}): {}{why}",
                    r.id, d.seq, d.time_words
                ));
            }
        }
        let d = |f: &str| sh_quote(&a.out.join(f).display().to_string());
        out.say(format!(
            "signed by {identity} with key {}; check it with:\n  caseledger report verify {} --key {}\n  ssh-keygen -Y verify -f {} -I {} -n {REPORT_NAMESPACE} -s {} < {}\n  openssl pkeyutl -verify -pubin -inkey {} -rawin -in {} -sigfile {}",
            report.signer.fingerprint,
            sh_quote(&o.to_string()),
            sh_quote(&report.signer.key),
            d("allowed_signers"),
            sh_quote(&identity),
            d(MANIFEST_SIG),
            d(MANIFEST),
            d("report-key.pem"),
            d(MANIFEST),
            d(MANIFEST_ED25519),
        ));
    }
    if v.is_clean() {
        Ok(Outcome::Ok)
    } else {
        out.verdict(
            false,
            format!(
                "the report includes {}",
                crate::output::count(v.findings().len(), "finding", "findings")
            ),
        );
        Ok(Outcome::Findings)
    }
}

fn beside(report: &Path, ext: &str) -> PathBuf {
    let mut s = report.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// `caseledger report verify <DIR|report.json> --key <PUB>`.
pub(crate) fn verify(a: ReportVerifyArgs, out: &Out) -> Result<Outcome> {
    let key = crate::keys::public_arg(&a.key, "--key")?;
    if a.report.is_dir() {
        if a.sig.is_some() || a.ed25519.is_some() {
            bail!("usage: --sig and --ed25519 go with a report.json file, not a directory");
        }
        return verify_dir(&a.report, &key, out);
    }
    let bytes = crate::io::read_file(&a.report, "report", MAX_FILE)?;
    let sig_path = a.sig.clone().unwrap_or_else(|| beside(&a.report, ".sig"));
    let ed_path = a
        .ed25519
        .clone()
        .unwrap_or_else(|| beside(&a.report, ".ed25519"));
    let sshsig = crate::io::read_text(&sig_path, "SSH signature")?;
    let raw = crate::io::read_file(&ed_path, "Ed25519 signature", 1024)?;
    let raw: [u8; 64] = raw
        .try_into()
        .map_err(|_| anyhow!("Ed25519 signature {}: not 64 bytes", ed_path.display()))?;
    let signed = SignedReport {
        sshsig_armored: sshsig,
        raw_ed25519: raw,
    };
    let r = a.report.display();
    match verify_report(&bytes, &signed, &key) {
        Ok(()) => {
            if out.json {
                out.json_data(&json!({ "report": r.to_string(), "verified": true, "key": key.to_openssh("") }))?;
            }
            out.verdict(true, format!("report {r}: signatures verified (SSHSIG {REPORT_NAMESPACE} and Ed25519) with key {}", key.to_openssh("")));
            Ok(Outcome::Ok)
        }
        Err(e) => {
            if out.json {
                out.json_data(
                    &json!({ "report": r.to_string(), "verified": false, "why": e.to_string() }),
                )?;
            }
            out.verdict(false, format!("report {r}: {e}"));
            Ok(Outcome::Findings)
        }
    }
}

/// A file of a report directory: its bytes, or why it cannot be read as a regular file.
enum Read {
    Bytes(Vec<u8>),
    Missing,
    NotRegular,
}

fn read_member(dir: &Path, name: &str) -> Result<Read> {
    let p = dir.join(name);
    match fs::symlink_metadata(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Read::Missing),
        Err(e) => Err(crate::io::io_why(e)).with_context(|| format!("report file {}", p.display())),
        Ok(m) if !m.is_file() => Ok(Read::NotRegular),
        Ok(_) => Ok(Read::Bytes(crate::io::read_file(
            &p,
            "report file",
            MAX_FILE,
        )?)),
    }
}

/// `report verify DIR`: the manifest's two signatures, then every file against it.
fn verify_dir(dir: &Path, key: &caseledger_core::PublicKey, out: &Out) -> Result<Outcome> {
    let d = dir.display().to_string();
    let fp = fingerprint(key);
    let fail = |problems: Vec<String>| -> Result<Outcome> {
        if out.json {
            out.json_data(&json!({ "report": d, "verified": false, "key_fingerprint": fp, "problems": problems }))?;
        }
        for p in &problems {
            out.say(format!("report {d}: {p}"));
        }
        out.verdict(
            false,
            format!(
                "report {d}: NOT verified: {}",
                problems.first().map_or("", String::as_str)
            ),
        );
        Ok(Outcome::Findings)
    };
    if fs::symlink_metadata(dir.join(MANIFEST)).is_err()
        && fs::symlink_metadata(dir.join("report.json")).is_err()
    {
        bail!("report {d}: not a report directory (neither {MANIFEST} nor report.json in it)");
    }
    let mut parts = Vec::new();
    for name in [MANIFEST, MANIFEST_SIG, MANIFEST_ED25519] {
        match read_member(dir, name)? {
            Read::Bytes(b) => parts.push(b),
            Read::Missing => return fail(vec![format!("{name}: missing")]),
            Read::NotRegular => return fail(vec![format!("{name}: not a regular file")]),
        }
    }
    let [manifest, sshsig, raw] = <[Vec<u8>; 3]>::try_from(parts)
        .map_err(|_| anyhow!("internal: three manifest files expected"))?;
    let Ok(sshsig) = String::from_utf8(sshsig) else {
        return fail(vec![format!("{MANIFEST_SIG}: not text")]);
    };
    let Ok(raw) = <[u8; 64]>::try_from(raw) else {
        return fail(vec![format!("{MANIFEST_ED25519}: not 64 bytes")]);
    };
    let signed = SignedReport {
        sshsig_armored: sshsig,
        raw_ed25519: raw,
    };
    if let Err(e) = verify_report(&manifest, &signed, key) {
        return fail(vec![format!("{MANIFEST}: {e} (key {fp})")]);
    }
    let m = match Manifest::parse(&manifest) {
        Ok(m) => m,
        Err(e) => return fail(vec![format!("{MANIFEST}: {e}")]),
    };
    let mut present = Vec::new();
    let rd = fs::read_dir(dir)
        .map_err(crate::io::io_why)
        .with_context(|| format!("report {d}"))?;
    for e in rd {
        let e = e
            .map_err(crate::io::io_why)
            .with_context(|| format!("report {d}"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if ![MANIFEST, MANIFEST_SIG, MANIFEST_ED25519].contains(&name.as_str()) {
            present.push(name);
        }
    }
    present.sort();
    let mut unreadable = Vec::new();
    let mut err = None;
    let problems = m.check(&present, |name| match read_member(dir, name) {
        Ok(Read::Bytes(b)) => Some(sha256(&b)),
        Ok(Read::Missing) => None,
        Ok(Read::NotRegular) => {
            unreadable.push(name.to_owned());
            Some([0; 32])
        }
        Err(e) => {
            err.get_or_insert(e);
            Some([0; 32])
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    if !problems.is_empty() {
        return fail(
            problems
                .iter()
                .map(|p| match p {
                    caseledger_verify::manifest::Problem::Changed(n) if unreadable.contains(n) => {
                        format!("{n}: not a regular file")
                    }
                    p => p.to_string(),
                })
                .collect(),
        );
    }
    let names: Vec<&str> = m.names().collect();
    if out.json {
        out.json_data(
            &json!({ "report": d, "verified": true, "key_fingerprint": fp, "files": names }),
        )?;
    }
    out.verdict(
        true,
        format!(
            "report {d}: manifest signatures verified (SSHSIG {REPORT_NAMESPACE} and Ed25519) with key {fp}; all {} files match it",
            names.len()
        ),
    );
    Ok(Outcome::Ok)
}

/// Both report signatures (SSHSIG in `caseledger-report`, raw Ed25519) by `signer`, a key
/// file or ssh-agent.
fn sign_with(signer: &dyn Signer, bytes: &[u8]) -> Result<SignedReport> {
    let sshsig_armored = signer
        .sign_sshsig(REPORT_NAMESPACE, bytes)
        .map_err(|e| anyhow!("signing the report: {e}"))?;
    let raw_ed25519 = signer
        .sign(bytes)
        .map_err(|e| anyhow!("signing the report: {e}"))?
        .0;
    Ok(SignedReport {
        sshsig_armored,
        raw_ed25519,
    })
}
