//! The retention report model: built only from an [`AsOf`] (a verification of the whole
//! ledger and the prefix recorded by the end of the as-of day), canonical JSON, signed.
//!
//! # Schema `caseledger-retention-report/v2`
//!
//! Canonical JSON: `serde_json` compact output of the structs below, fields in declaration
//! order, no maps, records sorted by id, dates `YYYY-MM-DD`, instants RFC 3339 UTC, hashes
//! base64. Top level: `schema`, `origin`, `as_of`, `time_zone`, `recorded_before` (the
//! cut: entries recorded at or after it are not part of the report), `produced_at`,
//! `signer` (identity, key, fingerprint), `rule` (the text applied), `prefix` (size, root,
//! last_recorded_at, checkpoint {note, size, root} or null), `integrity` (verdict
//! `verified` | `findings`, anchor, checkpoint_key_self_attested, findings),
//! `clock_corrections` (seq, recorded_at, by, previous, back_by_secs, reason),
//! `ledger_closed` (seq, recorded_at, by, reason, or null),
//! `totals`
//! (records and one count per status), `records` (per record: id, status, opened_on,
//! opened_seq, last_terminated_on, retained_until, lawful_from, holds, destruction {seq,
//! date, by, lawful, clock_corrected_seq, backup_retention_days} or null, completeness [{item, status}], missing_items, entries). No
//! payload content, ever.
//!
//! Given the same ledger prefix, keys and inputs, the bytes differ only in `produced_at`:
//! nothing in the report depends on entries recorded after the cut, except findings, which
//! concern the whole ledger as verified when the report is produced.
//!
//! Signatures over the exact bytes: SSHSIG (namespace `caseledger-report`, for
//! `ssh-keygen -Y verify`) and raw Ed25519 (for `openssl pkeyutl -verify -rawin`). Every
//! file of a report is covered by one signed manifest ([`crate::manifest`]).

use crate::anchor::AnchorKind;
use crate::asof::AsOf;
use crate::finding::Finding;
use crate::policy::Policy;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64_NO_PAD;
use base64::Engine;
use caseledger_core::keys::SigningKey;
use caseledger_core::record::{Item, Service, Status};
use caseledger_core::sshsig::{self, REPORT_NAMESPACE};
use caseledger_core::{Date, PublicKey, SignatureBytes, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The schema name of version 2.
pub const SCHEMA_V2: &str = "caseledger-retention-report/v2";

/// The rule a report applies.
pub const RULE_CITATION: &str =
    "Missouri Code of State Regulations, 20 CSR 2263-3.040 (Client Relationships)";

/// 20 CSR 2263-3.040 (12), verbatim.
pub const RULE_12: &str = "(12) For the purpose of these rules, the licensed social worker and temporary permit holder shall assure that professional records are maintained for at least five (5) years after the date of service is terminated.";

/// 20 CSR 2263-3.040 (11) and its items (A) to (F), verbatim.
pub const RULE_11: [&str; 7] = [
    "(11) A licensee rendering services to a client shall maintain professional records that include:",
    "(A) The presenting problem(s), assessment, plan of action, and progress notes;",
    "(B) The fee arrangement;",
    "(C) The date and substance of each contact with the client;",
    "(D) Notation and results of formal consults with other providers;",
    "(E) A copy of all evaluative reports prepared or received as a part of the professional relationship;",
    "(F) A copy of a written communication with the client identifying the date and reason for termination of professional service if the licensed social worker is in private practice.",
];

/// 20 CSR 2263-3.040 (4) and (5), verbatim: the written notice and the referral a
/// `service_terminated` for impairment or a dual relationship needs (item
/// `4_5_notice_and_referral`).
pub const RULE_4_5: [&str; 2] = [
    "(4) A licensee should be aware of his/her own mental health and emotional stability and the effect those have on his/her ability to provide appropriate services to clients. A licensee shall not undertake or continue a professional relationship with a client when the competency of the member is or reasonably could be expected to be impaired due to mental, emotional, physiologic, pharmacologic, or substance abuse conditions. If that condition develops after a professional relationship has been initiated, the member shall notify the client in writing of the termination of services and shall assist the client in obtaining services from another professional.",
    "(5) A licensee shall not undertake and/or continue a professional relationship with a client when the objectivity or competency of the member is, or reasonably could be expected to be, impaired because of present or previous familial, social, sexual, emotional, financial, supervisory, political, administrative, or legal relationship with the client. If that dual relationship develops or is discovered after the professional relationship has been initiated, the licensee shall terminate the professional relationship in an appropriate manner, shall notify the client in writing of this termination, and shall assist the client in obtaining services from another professional.",
];

pub use crate::anchor::{
    LEDGER_KEY_WORDS, SELF_ATTESTED_WORDS, TRUSTED_CHECKPOINT_WORDS, UNANCHORED_WORDS,
    WITNESS_QUORUM_WORDS,
};

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
    #[error("signature does not verify: {0}")]
    BadSignature(String),
}

/// The SHA-256 fingerprint of a key as `ssh-keygen -l` prints it: `SHA256:` and the
/// unpadded base64 of the digest of the OpenSSH key blob.
pub fn fingerprint(key: &PublicKey) -> String {
    format!(
        "SHA256:{}",
        B64_NO_PAD.encode(Sha256::digest(key.to_ssh_blob()))
    )
}

pub use crate::clock::{exact, instant};

/// Who signed the report.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Signer {
    /// The reporting identity (the principal in `allowed_signers`).
    pub identity: String,
    /// The reporting public key, an OpenSSH `ssh-ed25519` line without comment.
    pub key: String,
    /// Its fingerprint, `SHA256:...` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// The rule text the report applies, quoted.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Rule {
    /// [`RULE_CITATION`].
    pub citation: String,
    /// [`RULE_12`].
    pub retention: String,
    /// [`RULE_11`].
    pub records: Vec<String>,
    /// [`RULE_4_5`].
    pub notice_and_referral: Vec<String>,
}

impl Rule {
    /// The rule as this version applies it.
    pub fn current() -> Rule {
        Rule {
            citation: RULE_CITATION.to_owned(),
            retention: RULE_12.to_owned(),
            records: RULE_11.iter().map(|s| (*s).to_owned()).collect(),
            notice_and_referral: RULE_4_5.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What a report states beyond the ledger: the day, its time zone, when, by whom.
#[derive(Clone, Debug)]
pub struct ReportContext {
    /// The as-of date.
    pub as_of: Date,
    /// The time zone whose end of `as_of` is the cut (IANA name, or `UTC`).
    pub time_zone: String,
    /// When the report is produced.
    pub produced_at: Timestamp,
    /// The reporting identity.
    pub identity: String,
    /// The reporting public key.
    pub key: PublicKey,
}

/// A signed checkpoint of exactly the prefix's size and root.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportCheckpoint {
    /// The signed note text.
    pub note: String,
    /// Its size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
}

/// The prefix of the ledger the report describes: every entry recorded before the cut.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Prefix {
    /// Entries in the prefix.
    pub size: u64,
    /// Merkle root over them, base64, computed by the verifier.
    pub root: String,
    /// `recorded_at` of the last entry in the prefix.
    pub last_recorded_at: Option<String>,
    /// A signed checkpoint of exactly this size and root, if the ledger holds one; null
    /// when the root is the verifier's computation only.
    pub checkpoint: Option<ReportCheckpoint>,
}

/// The checkpoint the auditor supplied that anchors the verdict.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AnchorCheckpoint {
    /// Its size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
}

/// What anchors the integrity verdict.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Anchor {
    /// [`crate::Anchor::name`]: `trusted_checkpoint`, `witness_quorum`, `ledger_key`,
    /// `none` or `self_attested`.
    pub kind: String,
    /// What that means, in the words `caseledger verify` uses ([`crate::Anchor::words`]).
    pub words: String,
    /// Ledger keys the relying party supplied (note keys).
    pub ledger_keys: Vec<String>,
    /// The checkpoint the auditor supplied that the ledger matches and that anchors the
    /// verdict (kind `trusted_checkpoint`); empty otherwise.
    pub trusted_checkpoints: Vec<AnchorCheckpoint>,
}

impl Anchor {
    /// The report's account of the verifier's anchor (never recomputed here), with the
    /// ledger keys the relying party supplied under `policy`.
    pub fn of(anchor: &crate::Anchor, policy: &Policy) -> Anchor {
        let trusted_checkpoints = match anchor.kind() {
            AnchorKind::AuditorCheckpoint { size, root } => vec![AnchorCheckpoint {
                size,
                root: root.to_string(),
            }],
            _ => Vec::new(),
        };
        Anchor {
            kind: anchor.name().to_owned(),
            words: anchor.words().to_owned(),
            ledger_keys: policy
                .trusted_keys
                .iter()
                .map(caseledger_core::note::NoteVerifier::to_vkey_string)
                .collect(),
            trusted_checkpoints,
        }
    }

    /// Nothing the relying party supplied anchors the verdict (self-attested, or nothing
    /// supplied held).
    pub fn is_self_attested(&self) -> bool {
        self.kind == "self_attested" || self.kind == "none"
    }
}

/// The integrity verdict over the whole ledger as verified when the report is produced.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Integrity {
    /// `verified` (no findings) or `findings`.
    pub verdict: String,
    /// What anchors it.
    pub anchor: Anchor,
    /// Checkpoints were checked with the key genesis names (as `verify --json` says).
    pub checkpoint_key_self_attested: bool,
    /// Every finding.
    pub findings: Vec<Finding>,
    /// The outside-time policy the verdict's clock checks rest on, in the words `verify`
    /// prints (`outside time from witnesses A, B (quorum 2) and TSA chain X; skew 5m`),
    /// when the relying party named witnesses or TSA roots; absent otherwise (and in
    /// reports made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_policy: Option<String>,
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
    /// Lawful when recorded (false too when a later `clock_corrected` showed it was
    /// recorded with a clock running ahead and unlawful at the corrected date).
    pub lawful: bool,
    /// The `clock_corrected` entry that showed the destruction was recorded with a clock
    /// running ahead and unlawful at the corrected date, if any.
    pub clock_corrected_seq: Option<u64>,
    /// The practice's backup retention in days (genesis `backup_retention_days`): backups
    /// taken before the destruction still hold the record's wrapped key until they expire.
    pub backup_retention_days: u32,
    /// What the lawfulness rests on ([`crate::attest`]): `attested`, `ledger_clock`,
    /// `claimed_dates_only` or `unlawful` (empty in reports made before format 4).
    #[serde(default)]
    pub time_basis: String,
    /// The same in words: `lawful, attested by <source>`, `lawful by the ledger's clock`,
    /// `lawful on claimed dates only`, `not lawful`.
    #[serde(default)]
    pub time_words: String,
    /// The external time the destruction cites, if any.
    #[serde(default)]
    pub citation: Option<ReportCitation>,
    /// The attested lawful date: from the first outside times covering the termination and
    /// the last service or contact entry (null when outside time covers neither).
    #[serde(default)]
    pub attested_lawful_from: Option<String>,
    /// The lawful date from the ledger's own `recorded_at` of those entries.
    #[serde(default)]
    pub ledger_lawful_from: Option<String>,
}

/// A destruction's time citation, as judged under the report's policy.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportCitation {
    /// `cosignature` or `timestamp`.
    pub kind: String,
    /// The cited checkpoint's size.
    pub size: u64,
    /// Whether it counts under the relying party's policy.
    pub counted: bool,
    /// Who gives the time (`witness <name>`, `TSA <subject>`), when it counts.
    pub by: Option<String>,
    /// The cited time T (RFC 3339 UTC), when it counts.
    pub time: Option<String>,
    /// Why it does not count, when it does not.
    pub why_not: Option<String>,
}

/// A `clock_corrected` entry in the prefix.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportClockCorrection {
    /// The entry.
    pub seq: u64,
    /// Its `recorded_at` (the corrected clock), RFC 3339 UTC.
    pub recorded_at: String,
    /// The admin who recorded it.
    pub by: String,
    /// The ledger clock before it (RFC 3339 UTC), if any.
    pub previous: Option<String>,
    /// How far the clock was set back, in seconds.
    pub back_by_secs: i64,
    /// The reason given.
    pub reason: String,
}

/// The ledger's close (`ledger_closed`), when the prefix holds it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportClose {
    /// The entry.
    pub seq: u64,
    /// Its `recorded_at`, RFC 3339 UTC.
    pub recorded_at: String,
    /// The admin who closed the ledger.
    pub by: String,
    /// The reason given.
    pub reason: String,
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
    /// [`SCHEMA_V2`].
    pub schema: String,
    /// The ledger's origin.
    pub origin: String,
    /// The date statuses are computed for; the ledger as it stood at its end.
    pub as_of: String,
    /// The time zone of `as_of`'s end (IANA name, or `UTC`).
    pub time_zone: String,
    /// The cut, RFC 3339 UTC: entries recorded at or after it are not part of the report.
    pub recorded_before: String,
    /// When the report was produced, RFC 3339 UTC to the second.
    pub produced_at: String,
    /// Who signed it.
    pub signer: Signer,
    /// The rule text applied.
    pub rule: Rule,
    /// The prefix described.
    pub prefix: Prefix,
    /// Verdict, anchor and findings.
    pub integrity: Integrity,
    /// `clock_corrected` entries in the prefix: when, by whom, how far back.
    pub clock_corrections: Vec<ReportClockCorrection>,
    /// The ledger's close, if the prefix holds a `ledger_closed`: nothing was appended
    /// after it (an entry after it is an `entry_after_close` finding).
    pub ledger_closed: Option<ReportClose>,
    /// Counts per status.
    pub totals: Totals,
    /// Records opened in the prefix, sorted by id.
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

/// The time fields of a reported destruction from the verifier's attestation; a destruction
/// the prefix shows unlawful is `unlawful` whatever the whole ledger says.
fn destruction_time(at: Option<&crate::attest::Attestation>, lawful: bool) -> ReportDestruction {
    let basis = match at {
        _ if !lawful => crate::attest::Basis::Unlawful,
        Some(a) => a.basis,
        None => crate::attest::Basis::ClaimedDatesOnly,
    };
    let words = match at {
        Some(a) if a.basis == basis => a.words(),
        _ => crate::attest::Attestation::words_of(basis),
    };
    ReportDestruction {
        seq: 0,
        date: String::new(),
        by: String::new(),
        lawful,
        clock_corrected_seq: None,
        backup_retention_days: 0,
        time_basis: basis.name().to_owned(),
        time_words: words,
        citation: at.and_then(|a| {
            Some(ReportCitation {
                kind: a.citation?.to_owned(),
                size: a.cited_size.unwrap_or(0),
                counted: a.cited_time.is_some(),
                by: a.cited_by.as_ref().map(ToString::to_string),
                time: a.cited_time.map(instant),
                why_not: a.not_counted.clone(),
            })
        }),
        attested_lawful_from: at
            .and_then(|a| a.attested_lawful_from)
            .map(|d| d.to_string()),
        ledger_lawful_from: at.and_then(|a| a.ledger_lawful_from).map(|d| d.to_string()),
    }
}

impl RetentionReport {
    /// Builds the report from a verification as of a cut, under the `policy` it ran with.
    /// Refuses a verification with findings unless `include_findings` (then they are in
    /// `integrity.findings`).
    pub fn build(
        a: &AsOf,
        policy: &Policy,
        ctx: &ReportContext,
        include_findings: bool,
    ) -> Result<RetentionReport, ReportError> {
        let v = a.verified();
        if !v.is_clean() && !include_findings {
            return Err(ReportError::HasFindings(v.findings().len()));
        }
        let as_of = ctx.as_of;
        let mut totals = Totals::default();
        let mut records = Vec::with_capacity(a.records().len());
        for r in a.records() {
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
            let completeness = s.completeness(&a.registry().settings);
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
                    clock_corrected_seq: v
                        .forward_clock_destructions()
                        .iter()
                        .find(|f| f.destruction == d.seq.0 && f.correction < a.size())
                        .map(|f| f.correction),
                    backup_retention_days: a.registry().settings.backup_retention_days,
                    ..destruction_time(v.attestation(d.seq.0), d.lawful)
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
            schema: SCHEMA_V2.to_owned(),
            origin: v.origin().to_owned(),
            as_of: as_of.to_string(),
            time_zone: ctx.time_zone.clone(),
            recorded_before: exact(a.cut()),
            produced_at: instant(ctx.produced_at),
            signer: Signer {
                identity: ctx.identity.clone(),
                key: ctx.key.to_openssh(""),
                fingerprint: fingerprint(&ctx.key),
            },
            rule: Rule::current(),
            prefix: Prefix {
                size: a.size(),
                root: a.root().to_string(),
                last_recorded_at: a.last_recorded_at().map(exact),
                checkpoint: a.checkpoint().map(|c| ReportCheckpoint {
                    note: c.note.clone(),
                    size: c.size,
                    root: c.root.to_string(),
                }),
            },
            integrity: Integrity {
                verdict: if v.is_clean() { "verified" } else { "findings" }.to_owned(),
                anchor: Anchor::of(v.anchor(), policy),
                checkpoint_key_self_attested: v.checkpoint_key_self_attested(),
                findings: v.findings().to_vec(),
                time_policy: v.outside_time().map(|o| o.policy.clone()),
            },
            clock_corrections: v
                .clock_corrections()
                .iter()
                .filter(|c| c.seq < a.size())
                .map(|c| ReportClockCorrection {
                    seq: c.seq,
                    recorded_at: exact(c.recorded_at),
                    by: c.by.as_str().to_owned(),
                    previous: c.previous.map(exact),
                    back_by_secs: c.back_by_secs,
                    reason: c.reason.clone(),
                })
                .collect(),
            ledger_closed: a.registry().closed.as_ref().map(|c| ReportClose {
                seq: c.seq.0,
                recorded_at: exact(c.at),
                by: c.by.as_str().to_owned(),
                reason: c.reason.as_str().to_owned(),
            }),
            totals,
            records,
        })
    }

    /// The canonical JSON bytes (compact, fixed field order): what is signed.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, ReportError> {
        serde_json::to_vec(self).map_err(|e| ReportError::Encode(e.to_string()))
    }
}

/// Two detached signatures over some bytes (a report, a manifest).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedReport {
    /// SSHSIG, armoured, namespace `caseledger-report` (`<file>.sig`).
    pub sshsig_armored: String,
    /// Raw Ed25519 over the bytes (`<file>.ed25519`).
    pub raw_ed25519: [u8; 64],
}

/// Signs bytes in both forms.
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
