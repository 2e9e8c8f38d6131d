//! `report.csv`: what the report is about in its first lines, then one row per record
//! under a header row; RFC 4180 (CRLF line ends; fields with a comma, quote, CR or LF are
//! quoted, quotes doubled).
//!
//! The first lines are `name,value` pairs, so that the file alone says what it describes:
//! `report` (schema), `origin`, `as_of`, `time_zone`, `recorded_before`, `prefix_size`,
//! `prefix_root`, `prefix_checkpoint`, `integrity`, `anchor`, `signer`, `key_fingerprint`,
//! `produced_at`, `signature` (where the signature covering this file is),
//! `clock_corrections` (each `seq N at T by A, back S s: reason`, `; `-separated, or
//! `none`), `ledger_closed` (`seq N at T by A: reason`, or `no`); then an empty line;
//! then the header row.
//!
//! Columns: `record, status, opened_on, last_terminated_on, retained_until, lawful_from,
//! holds, destroyed_on, destroyed_by, destruction_lawful, destruction_seq,
//! backup_retention_days, entries`, one
//! column per completeness item (`present`, `missing`, `none_recorded`, `not_applicable`),
//! and `missing_items`. Lists inside a field (holds, missing items) are separated by `; `.
//!
//! A field that a spreadsheet would take for a formula (starting with `=`, `+`, `@`, a tab
//! or CR, or `-` in free text such as a hold's matter) is prefixed with `'`, so that opening
//! the file can never run anything.

use super::ITEMS;
use caseledger_verify::report::{ReportRecord, RetentionReport};

/// Quotes one field as RFC 4180 requires, after defusing spreadsheet formulas.
fn field(value: &str, free_text: bool) -> String {
    let risky =
        value.starts_with(['=', '+', '@', '\t', '\r']) || (free_text && value.starts_with('-'));
    let v = if risky {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn row(out: &mut String, fields: &[String]) {
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// The `name,value` lines that head the file.
fn preamble(out: &mut String, r: &RetentionReport) {
    let checkpoint = match &r.prefix.checkpoint {
        Some(c) => format!("signed checkpoint of size {} and root {}", c.size, c.root),
        None => "none of exactly this size: the root is computed by the verifier".to_owned(),
    };
    let corrections = if r.clock_corrections.is_empty() {
        "none".to_owned()
    } else {
        r.clock_corrections
            .iter()
            .map(|c| {
                format!(
                    "seq {} at {} by {}, back {} s: {}",
                    c.seq, c.recorded_at, c.by, c.back_by_secs, c.reason
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let closed = r.ledger_closed.as_ref().map_or("no".to_owned(), |c| {
        format!(
            "seq {} at {} by {}: {}",
            c.seq, c.recorded_at, c.by, c.reason
        )
    });
    let pairs: [(&str, String); 16] = [
        ("report", r.schema.clone()),
        ("origin", r.origin.clone()),
        ("as_of", r.as_of.clone()),
        ("time_zone", r.time_zone.clone()),
        ("recorded_before", r.recorded_before.clone()),
        ("prefix_size", r.prefix.size.to_string()),
        ("prefix_root", r.prefix.root.clone()),
        ("prefix_checkpoint", checkpoint),
        (
            "integrity",
            format!("{} ({} findings)", r.integrity.verdict, r.integrity.findings.len()),
        ),
        ("anchor", super::anchor_line(r)),
        ("signer", r.signer.identity.clone()),
        ("key_fingerprint", r.signer.fingerprint.clone()),
        ("produced_at", r.produced_at.clone()),
        (
            "signature",
            "manifest.sha256 (SHA-256 of every file of the report) and its .sig and .ed25519 signatures".to_owned(),
        ),
        ("clock_corrections", corrections),
        ("ledger_closed", closed),
    ];
    for (k, v) in pairs {
        row(out, &[k.to_owned(), field(&v, true)]);
    }
    out.push_str("\r\n");
}

/// Renders the report as CSV: the preamble, an empty line, a header row, then one row per
/// record (sorted by id, as in the report).
pub fn csv(report: &RetentionReport) -> String {
    let mut out = String::with_capacity(1024 + report.records.len() * 220);
    preamble(&mut out, report);
    let mut header: Vec<String> = [
        "record",
        "status",
        "opened_on",
        "last_terminated_on",
        "retained_until",
        "lawful_from",
        "holds",
        "destroyed_on",
        "destroyed_by",
        "destruction_lawful",
        "destruction_seq",
        "backup_retention_days",
        "entries",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    header.extend(ITEMS.iter().map(|(l, _, _)| (*l).to_owned()));
    header.push("missing_items".to_owned());
    row(&mut out, &header);
    for r in &report.records {
        row(&mut out, &record(r));
    }
    out
}

fn record(r: &ReportRecord) -> Vec<String> {
    let opt = |o: &Option<String>| field(o.as_deref().unwrap_or(""), false);
    let d = r.destruction.as_ref();
    let mut f = vec![
        field(&r.id, false),
        field(&r.status, false),
        field(&r.opened_on, false),
        opt(&r.last_terminated_on),
        opt(&r.retained_until),
        opt(&r.lawful_from),
        field(&r.holds.join("; "), true),
        field(d.map_or("", |d| d.date.as_str()), false),
        field(d.map_or("", |d| d.by.as_str()), false),
        d.map_or(String::new(), |d| d.lawful.to_string()),
        d.map_or(String::new(), |d| d.seq.to_string()),
        d.map_or(String::new(), |d| d.backup_retention_days.to_string()),
        r.entries.to_string(),
    ];
    for (label, _, _) in ITEMS {
        let st = r
            .completeness
            .iter()
            .find(|c| c.item == label)
            .map_or("", |c| c.status.as_str());
        f.push(field(st, false));
    }
    f.push(field(&r.missing_items.join("; "), false));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture::report;

    #[test]
    fn rfc4180_quoting() {
        assert_eq!(field("plain", false), "plain");
        assert_eq!(field("a,b", false), "\"a,b\"");
        assert_eq!(field("say \"hi\"", false), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines", false), "\"two\nlines\"");
        assert_eq!(
            field("=HYPERLINK(\"x\")", true),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(field("-2+3", true), "'-2+3");
        assert_eq!(field("-record", false), "-record");
    }

    #[test]
    fn the_first_lines_say_what_the_file_describes() {
        let rep = crate::render::fixture::report_with(false, true);
        let text = csv(&rep);
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "report,caseledger-retention-report/v2");
        assert_eq!(lines[1], "origin,example.org/practice & co");
        assert_eq!(lines[2], "as_of,2026-11-28");
        assert_eq!(lines[3], "time_zone,America/Chicago");
        assert_eq!(lines[4], "recorded_before,2026-11-29T06:00:00Z");
        assert_eq!(lines[5], "prefix_size,120");
        assert_eq!(lines[6], "prefix_root,ROOTROOTROOT=");
        assert!(lines[7].starts_with("prefix_checkpoint,signed checkpoint of size 120"));
        assert_eq!(lines[8], "integrity,verified (0 findings)");
        assert!(lines[9].starts_with("anchor,self-attested: checkpoints were checked with the ledger key named in the ledger itself"));
        assert_eq!(lines[10], "signer,reports@practice");
        assert!(lines[11].starts_with("key_fingerprint,SHA256:"));
        assert_eq!(lines[12], "produced_at,2026-12-01T10:11:12Z");
        assert!(lines[13].starts_with("signature,manifest.sha256 "));
        assert_eq!(lines[14], "clock_corrections,none");
    }

    #[test]
    fn header_and_one_row_per_record() {
        let rep = report(true);
        let text = csv(&rep);
        assert!(text.ends_with("\r\n"));
        let (_, table) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = table.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1 + rep.records.len());
        assert!(lines[0].starts_with("record,status,opened_on,last_terminated_on,retained_until,"));
        assert!(lines[0].ends_with(",7_recording_consent,4_5_notice_and_referral,missing_items"));
        let cols = lines[0].split(',').count();
        assert_eq!(cols, 13 + 12 + 1);
        let retained = lines.iter().find(|l| l.starts_with("C-0002,")).unwrap();
        assert!(
            retained.starts_with("C-0002,retained,2019-03-04,2020-01-31,2025-01-31,2025-02-01,,")
        );
        assert!(retained.ends_with(",11B_fee_arrangement"));
        assert!(retained.contains(",missing,"));
        let destroyed = lines.iter().find(|l| l.starts_with("C-0005,")).unwrap();
        assert!(destroyed.contains(",2025-06-02,custodian-01,true,99,30,12,"));
        // The hold's matter has quotes and is quoted.
        let held = lines.iter().find(|l| l.starts_with("C-0004,")).unwrap();
        assert!(held.contains(",\"State Committee <investigation> & \"\"co\"\"\","));
    }
}
