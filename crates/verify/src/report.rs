//! The retention report model: built only from a [`Verified`], canonical JSON, signed.
//!
//! # Schema `caseledger-retention-report/v1`
//!
//! Canonical JSON: `serde_json` compact output of the structs below, fields in declaration
//! order, no maps, records sorted by id, dates `YYYY-MM-DD`, hashes base64. Top level:
//! `schema`, `origin`, `as_of`, `checkpoint` (note, size, root, or null), `ledger` (size,
//! root, checkpoint_key_self_attested, signatures_checked_from), `integrity` (verdict
//! `verified` | `findings`, findings), `totals` (records and one count per status),
//! `records` (per record: id, status, opened_on, opened_seq, last_terminated_on,
//! retained_until, lawful_from, holds, destruction {seq, date, by, lawful} or null,
//! completeness [{item, status}], missing_items, entries). No payload content, ever.
//!
//! Signatures over the exact bytes: SSHSIG (namespace `caseledger-report`, for
//! `ssh-keygen -Y verify`) and raw Ed25519 (for `openssl pkeyutl -verify -rawin`).

use crate::finding::Finding;
use crate::verified::Verified;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::keys::SigningKey;
use caseledger_core::record::{Item, Service, Status};
use caseledger_core::sshsig::{self, REPORT_NAMESPACE};
use caseledger_core::{Date, PublicKey, SignatureBytes};
use serde::{Deserialize, Serialize};

/// The schema name of version 1.
pub const SCHEMA_V1: &str = "caseledger-retention-report/v1";

/// Why a report was not built, signed or verified.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The verification has findings and `include_findings` was not set.
    #[error("the ledger has {0} finding(s); refusing to report unless findings are included")]
    HasFindings(usize),
    /// Encoding failed.
    #[error("cannot encode the report: {0}")]
    Encode(String),
    /// Signing failed.
    #[error("cannot sign the report: {0}")]
    Sign(String),
    /// A signature does not verify, or was made by another key.
    #[error("report signature does not verify: {0}")]
    BadSignature(String),
}

/// The checkpoint a report was computed against.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportCheckpoint {
    /// The signed note text.
    pub note: String,
    /// Its size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
}

/// The ledger as verified.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LedgerSummary {
    /// Entries verified.
    pub size: u64,
    /// Root over all entries, base64.
    pub root: String,
    /// Checkpoints were checked with the key genesis names (no auditor key).
    pub checkpoint_key_self_attested: bool,
    /// Author signatures were checked from this seq on (0 unless resumed).
    pub signatures_checked_from: u64,
}

/// The integrity verdict.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Integrity {
    /// `verified` (no findings) or `findings`.
    pub verdict: String,
    /// Every finding.
    pub findings: Vec<Finding>,
}

/// Records per status.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// All records.
    pub records: u64,
    /// `open`.
    pub open: u64,
    /// `retained`.
    pub retained: u64,
    /// `eligible`.
    pub eligible: u64,
    /// `on_hold`.
    pub on_hold: u64,
    /// `destroyed_lawfully`.
    pub destroyed_lawfully: u64,
    /// `destroyed_early`.
    pub destroyed_early: u64,
    /// `content_missing`.
    pub content_missing: u64,
}

/// A destruction, as reported.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportDestruction {
    /// The destruction entry.
    pub seq: u64,
    /// Its ledger date.
    pub date: String,
    /// The custodian.
    pub by: String,
    /// Lawful when recorded.
    pub lawful: bool,
}

/// One completeness item.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CompletenessItem {
    /// The rule label, e.g. `11A_progress_notes`.
    pub item: String,
    /// `present`, `missing`, `none_recorded` or `not_applicable`.
    pub status: String,
}

/// One record in the report.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The record id.
    pub id: String,
    /// `open`, `retained`, `eligible`, `on_hold`, `destroyed_lawfully`, `destroyed_early`, `content_missing`.
    pub status: String,
    /// Claimed date of opening.
    pub opened_on: String,
    /// Seq of the opening.
    pub opened_seq: u64,
    /// The termination in force (null when service is open).
    pub last_terminated_on: Option<String>,
    /// Last day of retention (null when service is open).
    pub retained_until: Option<String>,
    /// First day destruction is lawful (null when service is open).
    pub lawful_from: Option<String>,
    /// Holds in force (matters).
    pub holds: Vec<String>,
    /// The destruction, if any.
    pub destruction: Option<ReportDestruction>,
    /// (11)(A)-(F), (3), (7) items.
    pub completeness: Vec<CompletenessItem>,
    /// Labels of the missing items.
    pub missing_items: Vec<String>,
    /// Entries of the record.
    pub entries: u64,
}

/// A retention report as of a date. Build it with [`RetentionReport::build`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RetentionReport {
    /// [`SCHEMA_V1`].
    pub schema: String,
    /// The ledger's origin.
    pub origin: String,
    /// The date statuses are computed for.
    pub as_of: String,
    /// The checkpoint it was computed against, if any matched.
    pub checkpoint: Option<ReportCheckpoint>,
    /// The ledger as verified.
    pub ledger: LedgerSummary,
    /// Verdict and findings.
    pub integrity: Integrity,
    /// Counts per status.
    pub totals: Totals,
    /// Records, sorted by id.
    pub records: Vec<ReportRecord>,
}

fn item_name(i: Item) -> &'static str {
    match i {
        Item::Present => "present",
        Item::Missing => "missing",
        Item::NoneRecorded => "none_recorded",
        Item::NotApplicable => "not_applicable",
    }
}

impl RetentionReport {
    /// Builds the report from a verification. Refuses a verification with findings unless
    /// `include_findings` (then they are in `integrity.findings`).
    pub fn build(
        v: &Verified,
        as_of: Date,
        include_findings: bool,
    ) -> Result<RetentionReport, ReportError> {
        if !v.is_clean() && !include_findings {
            return Err(ReportError::HasFindings(v.findings().len()));
        }
        let mut totals = Totals::default();
        let mut records = Vec::with_capacity(v.records().len());
        for r in v.records() {
            let s = &r.state;
            let status = s.status(as_of, r.content_missing);
            totals.records += 1;
            match status {
                Status::Open => totals.open += 1,
                Status::Retained { .. } => totals.retained += 1,
                Status::Eligible => totals.eligible += 1,
                Status::OnHold => totals.on_hold += 1,
                Status::DestroyedLawfully => totals.destroyed_lawfully += 1,
                Status::DestroyedEarly => totals.destroyed_early += 1,
                Status::ContentMissing => totals.content_missing += 1,
            }
            let completeness = s.completeness(v.registry().settings);
            records.push(ReportRecord {
                id: r.id.as_str().to_owned(),
                status: status.name().to_owned(),
                opened_on: s.opened_on.to_string(),
                opened_seq: s.opened_seq.0,
                last_terminated_on: match s.service {
                    Service::Terminated(d) => Some(d.to_string()),
                    Service::Open => None,
                },
                retained_until: s.retained_until().map(|d| d.to_string()),
                lawful_from: s.lawful_from().map(|d| d.to_string()),
                holds: s.holds.iter().map(|h| h.as_str().to_owned()).collect(),
                destruction: s.destroyed.as_ref().map(|d| ReportDestruction {
                    seq: d.seq.0,
                    date: d.on.to_string(),
                    by: d.by.as_str().to_owned(),
                    lawful: d.lawful,
                }),
                completeness: completeness
                    .items()
                    .iter()
                    .map(|(l, i)| CompletenessItem {
                        item: (*l).to_owned(),
                        status: item_name(*i).to_owned(),
                    })
                    .collect(),
                missing_items: completeness
                    .missing()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                entries: s.entries,
            });
        }
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(RetentionReport {
            schema: SCHEMA_V1.to_owned(),
            origin: v.origin().to_owned(),
            as_of: as_of.to_string(),
            checkpoint: v.checkpoint().map(|c| ReportCheckpoint {
                note: c.note.clone(),
                size: c.size,
                root: B64.encode(c.root),
            }),
            ledger: LedgerSummary {
                size: v.size(),
                root: B64.encode(v.root()),
                checkpoint_key_self_attested: v.checkpoint_key_self_attested(),
                signatures_checked_from: v.signatures_checked_from(),
            },
            integrity: Integrity {
                verdict: if v.is_clean() { "verified" } else { "findings" }.to_owned(),
                findings: v.findings().to_vec(),
            },
            totals,
            records,
        })
    }

    /// The canonical JSON bytes (compact, fixed field order): what is signed.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, ReportError> {
        serde_json::to_vec(self).map_err(|e| ReportError::Encode(e.to_string()))
    }
}

/// A report's two detached signatures.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedReport {
    /// SSHSIG, armoured, namespace `caseledger-report` (`report.json.sig`).
    pub sshsig_armored: String,
    /// Raw Ed25519 over the bytes (`report.json.ed25519`).
    pub raw_ed25519: [u8; 64],
}

/// Signs report bytes in both forms.
pub fn sign_report(bytes: &[u8], key: &SigningKey) -> Result<SignedReport, ReportError> {
    let sshsig_armored =
        sshsig::sign(key, REPORT_NAMESPACE, bytes).map_err(|e| ReportError::Sign(e.to_string()))?;
    Ok(SignedReport {
        sshsig_armored,
        raw_ed25519: key.sign(bytes).0,
    })
}

/// Verifies both signatures over `bytes` with `key`.
pub fn verify_report(bytes: &[u8], sig: &SignedReport, key: &PublicKey) -> Result<(), ReportError> {
    let signer = sshsig::verify(&sig.sshsig_armored, REPORT_NAMESPACE, bytes)
        .map_err(|e| ReportError::BadSignature(e.to_string()))?;
    if signer != *key {
        return Err(ReportError::BadSignature(
            "the SSH signature was made by another key".to_owned(),
        ));
    }
    key.verify(bytes, &SignatureBytes(sig.raw_ed25519))
        .map_err(|e| ReportError::BadSignature(e.to_string()))
}
