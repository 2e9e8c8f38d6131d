//! Retention reports rendered for people: [`html`](mod@html) (a page an investigator reads and prints)
//! and [`csv`](mod@csv) (one row per record, for a spreadsheet).
//!
//! Both render [`RetentionReport`] exactly as signed in `report.json`; neither adds
//! anything the model does not hold, so neither can carry payload content.

pub mod csv;
pub mod html;

pub use csv::csv;
pub use html::html;

use caseledger_verify::report::RetentionReport;

/// The report statuses in the order the page shows them, with a heading and a sentence
/// saying what the status means.
pub const STATUSES: [(&str, &str, &str); 7] = [
    ("open", "Open", "Service has not terminated; the retention clock has not started."),
    ("retained", "Retained", "Service terminated; the record must be kept until the date shown (rule 12: five years after termination)."),
    ("eligible", "Eligible for destruction", "Retention has run out and no hold is in force; the record may lawfully be destroyed."),
    ("on_hold", "On hold", "A hold is in force (an investigation or other matter); the record must not be destroyed."),
    ("destroyed_lawfully", "Destroyed lawfully", "Destroyed by a custodian after retention ran out, with no hold in force; the entries and their proofs remain."),
    ("destroyed_early", "Destroyed early (unlawful)", "Destroyed before retention ran out, while open, or under a hold."),
    ("content_missing", "Content missing (unauthorized destruction)", "Clinical content is gone without a lawful destruction."),
];

/// The completeness items in rule order: label in the model, short column heading, what the
/// rule asks for.
pub const ITEMS: [(&str, &str, &str); 12] = [
    (
        "11A_presenting_problem",
        "(11)(A) problem",
        "(11)(A) presenting problem(s)",
    ),
    ("11A_assessment", "(11)(A) assess.", "(11)(A) assessment"),
    (
        "11A_plan_of_action",
        "(11)(A) plan",
        "(11)(A) plan of action",
    ),
    (
        "11A_progress_notes",
        "(11)(A) notes",
        "(11)(A) progress notes",
    ),
    (
        "11B_fee_arrangement",
        "(11)(B) fee",
        "(11)(B) fee arrangement",
    ),
    (
        "11C_contacts",
        "(11)(C) contacts",
        "(11)(C) date and substance of each contact",
    ),
    (
        "11D_consults",
        "(11)(D) consults",
        "(11)(D) formal consults and their results (if any)",
    ),
    (
        "11E_evaluative_reports",
        "(11)(E) reports",
        "(11)(E) evaluative reports (if any)",
    ),
    (
        "11F_termination_notice",
        "(11)(F) term. notice",
        "(11)(F) written termination communication (private practice)",
    ),
    (
        "3_disclosure",
        "(3) disclosure",
        "(3) purposes, goals and techniques disclosed",
    ),
    (
        "7_recording_consent",
        "(7) recording",
        "(7) client told about electronic recording",
    ),
    (
        "4_5_notice_and_referral",
        "(4)(5) notice+referral",
        "(4)/(5) written notice of termination and referral (termination for impairment or a dual relationship)",
    ),
];

/// A word for a POSIX shell: single-quoted, each `'` written `'\''`. Commands printed for
/// people to paste (the HTML footer, the CLI's hints) quote every value this way.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A one-line account of what anchors the integrity verdict: the anchor's words, and the
/// keys or checkpoints the relying party supplied.
pub fn anchor_line(report: &RetentionReport) -> String {
    let a = &report.integrity.anchor;
    let mut s = format!("{}: {}", a.kind.replace('_', "-"), a.words);
    for c in &a.trusted_checkpoints {
        s.push_str(&format!("; checkpoint size {} root {}", c.size, c.root));
    }
    for k in &a.ledger_keys {
        s.push_str(&format!("; ledger key {k}"));
    }
    s
}

/// The number of records with at least one missing required item.
pub fn records_missing_items(report: &RetentionReport) -> usize {
    report
        .records
        .iter()
        .filter(|r| !r.missing_items.is_empty())
        .count()
}

/// The count for a status name from the report's totals.
pub fn total(report: &RetentionReport, status: &str) -> u64 {
    let t = &report.totals;
    match status {
        "open" => t.open,
        "retained" => t.retained,
        "eligible" => t.eligible,
        "on_hold" => t.on_hold,
        "destroyed_lawfully" => t.destroyed_lawfully,
        "destroyed_early" => t.destroyed_early,
        "content_missing" => t.content_missing,
        _ => 0,
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A small hand-built report for the renderers' tests.
    use caseledger_verify::report::*;
    use caseledger_verify::{Finding, FindingKind};

    fn items(missing: &[&str]) -> Vec<CompletenessItem> {
        super::ITEMS
            .iter()
            .map(|(l, _, _)| CompletenessItem {
                item: (*l).to_owned(),
                status: if missing.contains(l) {
                    "missing"
                } else if l.starts_with("11D") || l.starts_with("11E") {
                    "none_recorded"
                } else {
                    "present"
                }
                .to_owned(),
            })
            .collect()
    }

    fn rec(id: &str, status: &str, missing: &[&str]) -> ReportRecord {
        let terminated = status != "open";
        ReportRecord {
            id: id.to_owned(),
            status: status.to_owned(),
            opened_on: "2019-03-04".to_owned(),
            opened_seq: 10,
            last_terminated_on: terminated.then(|| "2020-01-31".to_owned()),
            retained_until: terminated.then(|| "2025-01-31".to_owned()),
            lawful_from: terminated.then(|| "2025-02-01".to_owned()),
            holds: if status == "on_hold" {
                vec!["State Committee <investigation> & \"co\"".to_owned()]
            } else {
                vec![]
            },
            destruction: status.starts_with("destroyed").then(|| ReportDestruction {
                seq: 99,
                date: "2025-06-02".to_owned(),
                by: "custodian-01".to_owned(),
                lawful: status == "destroyed_lawfully",
                clock_corrected_seq: None,
                backup_retention_days: 30,
                time_basis: if status == "destroyed_lawfully" {
                    "ledger_clock"
                } else {
                    "unlawful"
                }
                .to_owned(),
                time_words: if status == "destroyed_lawfully" {
                    "lawful by the ledger's clock"
                } else {
                    "not lawful"
                }
                .to_owned(),
                citation: None,
                attested_lawful_from: None,
                ledger_lawful_from: terminated.then(|| "2025-02-01".to_owned()),
            }),
            missing_items: missing.iter().map(|s| (*s).to_owned()).collect(),
            completeness: items(missing),
            entries: 12,
        }
    }

    /// A report with one record per status and, if asked, a finding; anchored by a ledger
    /// key.
    pub fn report(with_finding: bool) -> RetentionReport {
        report_with(with_finding, false)
    }

    /// [`report`], self-attested if asked.
    pub fn report_with(with_finding: bool, self_attested: bool) -> RetentionReport {
        let records = vec![
            rec("C-0001", "open", &[]),
            rec("C-0002", "retained", &["11B_fee_arrangement"]),
            rec("C-0003", "eligible", &[]),
            rec("C-0004", "on_hold", &[]),
            rec("C-0005", "destroyed_lawfully", &[]),
            rec("C-<b>6", "destroyed_early", &[]),
        ];
        let findings = if with_finding {
            vec![Finding::new(
                FindingKind::CommitmentMismatch,
                Some(42),
                None,
                "payload does not match its commitment <script>",
            )
            .expected_found("aa", "bb")]
        } else {
            vec![]
        };
        let mut anchor = Anchor {
            kind: "self_attested".to_owned(),
            words: SELF_ATTESTED_WORDS.to_owned(),
            ledger_keys: Vec::new(),
            trusted_checkpoints: Vec::new(),
        };
        if !self_attested {
            anchor.kind = "ledger_key".to_owned();
            anchor.words = LEDGER_KEY_WORDS.to_owned();
            anchor.ledger_keys = vec!["example.org/practice+abcd1234+AAAA".to_owned()];
        }
        RetentionReport {
            schema: SCHEMA_V2.to_owned(),
            origin: "example.org/practice & co".to_owned(),
            as_of: "2026-11-28".to_owned(),
            time_zone: "America/Chicago".to_owned(),
            recorded_before: "2026-11-29T06:00:00Z".to_owned(),
            produced_at: "2026-12-01T10:11:12Z".to_owned(),
            signer: Signer {
                identity: "reports@practice".to_owned(),
                key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample".to_owned(),
                fingerprint: "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".to_owned(),
            },
            rule: Rule::current(),
            prefix: Prefix {
                size: 120,
                root: "ROOTROOTROOT=".to_owned(),
                last_recorded_at: Some("2026-11-28T17:00:00.000001Z".to_owned()),
                checkpoint: Some(ReportCheckpoint {
                    note: "example.org/practice\n120\nROOT=\n\n— example.org/practice abc=\n"
                        .to_owned(),
                    size: 120,
                    root: "ROOTROOTROOT=".to_owned(),
                }),
            },
            integrity: Integrity {
                verdict: if with_finding { "findings" } else { "verified" }.to_owned(),
                anchor,
                checkpoint_key_self_attested: self_attested,
                findings,
                time_policy: None,
            },
            clock_corrections: Vec::new(),
            ledger_closed: None,
            totals: Totals {
                records: 6,
                open: 1,
                retained: 1,
                eligible: 1,
                on_hold: 1,
                destroyed_lawfully: 1,
                destroyed_early: 1,
                content_missing: 0,
            },
            records,
        }
    }
}
