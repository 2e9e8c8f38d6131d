//! `caseledger report retention|verify`: the signed retention report for investigators.

use super::ledger_ops::date_arg;
use super::{ReportRetentionArgs, ReportVerifyArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::keys::SigningKey;
use caseledger_core::sshsig::{allowed_signers_line, REPORT_NAMESPACE};
use caseledger_verify::report::{sign_report, verify_report, RetentionReport, SignedReport};
use serde_json::json;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The files `report retention` writes into `--out`.
const FILES: [&str; 7] = [
    "report.json",
    "report.json.sig",
    "report.json.ed25519",
    "report.html",
    "report.csv",
    "allowed_signers",
    "report-key.pem",
];

/// `caseledger report retention`.
pub(crate) fn retention(a: ReportRetentionArgs, out: &Out) -> Result<Outcome> {
    let as_of = date_arg(&a.as_of, "--as-of")?;
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
    let (key, generate) = if a.key.exists() || !a.generate_key {
        (crate::keys::read_private(&a.key)?, false)
    } else {
        (SigningKey::generate(), true)
    };
    let src = super::verify::open_ledger_source(&a.ledger.ledger)?;
    let policy = super::verify::policy(&a.trusted, &[], &[], None)?;
    let v = super::verify::run_source(&src, &policy, out)?;
    drop(src);
    if !v.is_clean() && !a.include_findings {
        for f in v.findings() {
            out.say(format!("finding: {f}"));
        }
        out.verdict(false, format!(
            "ledger {}: {} finding(s); refusing to write a retention report (use --include-findings to report them)",
            a.ledger.ledger.display(),
            v.findings().len()
        ));
        return Ok(Outcome::Findings);
    }
    let identity = a.identity.clone().unwrap_or_else(|| v.origin().to_owned());
    let signers = allowed_signers_line(&identity, &key.public_key(), REPORT_NAMESPACE)
        .map_err(|e| anyhow!("--identity {identity:?}: {e}"))?;
    let report =
        RetentionReport::build(&v, as_of, a.include_findings).map_err(|e| anyhow!("{e}"))?;
    let bytes = report.to_canonical_json().map_err(|e| anyhow!("{e}"))?;
    let sig = sign_report(&bytes, &key).map_err(|e| anyhow!("{e}"))?;
    let html = crate::render::html(&report);
    let csv = crate::render::csv(&report);

    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&a.out)
        .map_err(crate::io::io_why)
        .with_context(|| format!("--out {o}"))?;
    if generate {
        crate::keys::write_private(&a.key, &key, &identity)?;
        out.say(format!(
            "generated reporting key {} (mode 0600)",
            a.key.display()
        ));
    }
    let write =
        |name: &str, data: &[u8]| crate::io::write_new(&a.out.join(name), data, "report file");
    write("report.json", &bytes)?;
    write("report.json.sig", sig.sshsig_armored.as_bytes())?;
    write("report.json.ed25519", &sig.raw_ed25519)?;
    write("report.html", html.as_bytes())?;
    write("report.csv", csv.as_bytes())?;
    write("allowed_signers", signers.as_bytes())?;
    write("report-key.pem", key.public_key().to_spki_pem().as_bytes())?;

    let j = a.out.join("report.json");
    if out.json {
        out.json_data(&json!({
            "out": o.to_string(),
            "as_of": as_of.to_string(),
            "records": report.totals.records,
            "verdict": report.integrity.verdict,
            "findings": report.integrity.findings.len(),
            "identity": identity,
            "files": FILES,
        }))?;
    } else {
        out.say(format!(
            "wrote retention report as of {as_of} to {o}: {} records, integrity {}",
            report.totals.records, report.integrity.verdict
        ));
        out.say(format!(
            "check it with:\n  ssh-keygen -Y verify -f {} -I {identity} -n {REPORT_NAMESPACE} -s {}.sig < {}\n  openssl pkeyutl -verify -pubin -inkey {} -rawin -in {} -sigfile {}.ed25519",
            a.out.join("allowed_signers").display(),
            j.display(),
            j.display(),
            a.out.join("report-key.pem").display(),
            j.display(),
            j.display()
        ));
    }
    if v.is_clean() {
        Ok(Outcome::Ok)
    } else {
        out.verdict(
            false,
            format!("the report includes {} finding(s)", v.findings().len()),
        );
        Ok(Outcome::Findings)
    }
}

fn beside(report: &Path, ext: &str) -> PathBuf {
    let mut s = report.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// `caseledger report verify <report.json> --key <PUB>`.
pub(crate) fn verify(a: ReportVerifyArgs, out: &Out) -> Result<Outcome> {
    let key = crate::keys::public_arg(&a.key, "--key")?;
    let bytes = crate::io::read_file(&a.report, "report", 1 << 30)?;
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
