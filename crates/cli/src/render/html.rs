//! `report.html`: a self-contained page an investigator can read and print.
//!
//! Inline CSS only: no scripts, no external assets, nothing fetched. The integrity verdict
//! comes first (findings in red, in a table, when there are any), then the totals, the
//! records missing (11) items, and one table per status. Every string from the report is
//! HTML-escaped, even the ones whose characters are restricted (ids, dates).
//!
//! The verdict box is green only when the verdict is anchored by something the relying
//! party holds (a checkpoint or the ledger key); a self-attested verdict is an amber box
//! that says so in its headline, and findings are red. The footer prints the commands that
//! check the report with real values, shell-quoted, so they can be pasted as printed.

use super::{records_missing_items, sh_quote, total, ITEMS, STATUSES};
use caseledger_verify::report::{ReportRecord, RetentionReport};
use caseledger_verify::Finding;
use std::fmt::Write;

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
body { font: 13px/1.45 "DejaVu Sans", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #111; margin: 24px 28px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 17px; margin: 26px 0 4px; padding-bottom: 3px; border-bottom: 2px solid #333; }
h2 .count { font-weight: normal; color: #444; }
p.sub { margin: 0 0 12px; color: #333; }
p.what { margin: 2px 0 6px; color: #333; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 8px 0 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
code, .mono, pre { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 12px; }
code { word-break: break-all; }
pre { margin: 2px 0; white-space: pre-wrap; word-break: break-all; }
.verdict { border: 3px solid; padding: 12px 16px; margin: 18px 0 8px; }
.verdict .headline { font-size: 19px; font-weight: 700; margin: 0 0 4px; }
.verdict p { margin: 0; }
.verdict.ok { border-color: #1a7f37; background: #e9f7ee; color: #0b4d22; }
.verdict.bad { border-color: #b00020; background: #fdecee; color: #8a0018; }
.verdict.warn { border-color: #b35c00; background: #fff4e0; color: #5c2e00; }
.verdict.warn .headline { font-size: 21px; }
dd.bad { color: #b00020; font-weight: 700; }
blockquote { margin: 4px 0 8px 18px; padding-left: 10px; border-left: 3px solid #999; }
blockquote p { margin: 2px 0; }
table { border-collapse: collapse; margin: 6px 0 10px; }
table.wide { width: 100%; }
th, td { border: 1px solid #b8b8b8; padding: 3px 6px; text-align: left; vertical-align: top; }
thead th { background: #e8e8e8; font-size: 12px; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
tbody tr:nth-child(even) td { background: #f6f6f6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.item { text-align: center; white-space: nowrap; }
td.missing, tbody tr:nth-child(even) td.missing { color: #b00020; font-weight: 700; background: #fdecee; }
td.bad, tbody tr:nth-child(even) td.bad { color: #b00020; font-weight: 700; }
th.item { font-size: 11px; text-align: center; }
td.id { white-space: nowrap; font-weight: 600; }
td.date { white-space: nowrap; }
td.destr { min-width: 11em; }
table.records td, table.records th { padding: 2px 4px; font-size: 12px; }
table.records th.item { font-size: 10.5px; }
.seq { color: #555; font-size: 11px; }
.nw { white-space: nowrap; }
table.findings { width: 100%; }
table.findings th { background: #b00020; color: #fff; }
table.findings td { color: #5c0010; background: #fff7f8; }
.none { color: #555; font-style: italic; }
.legend { font-size: 12px; color: #333; }
footer { margin-top: 28px; font-size: 12px; color: #333; border-top: 1px solid #999; padding-top: 8px; }
@media print {
  body { margin: 0; font-size: 9pt; }
  table.records td, table.records th { font-size: 7.5pt; padding: 1px 3px; }
  td.destr { min-width: 9em; }
  .verdict, dd.bad, td.missing, table.findings th, thead th { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  h2 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// Renders the report as one self-contained HTML page.
pub fn html(report: &RetentionReport) -> String {
    let mut s = String::with_capacity(4096 + report.records.len() * 900);
    let origin = escape(&report.origin);
    let as_of = escape(&report.as_of);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"caseledger\">\n\
         <title>Retention report: {origin}, as of {as_of}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    );
    header(&mut s, report);
    verdict(&mut s, report);
    clock_corrections(&mut s, report);
    totals(&mut s, report);
    gaps(&mut s, report);
    for (status, title, what) in STATUSES {
        status_table(&mut s, report, status, title, what);
    }
    rule(&mut s, report);
    footer(&mut s, report);
    s.push_str("</body>\n</html>\n");
    s
}

fn header(s: &mut String, r: &RetentionReport) {
    let _ = write!(
        s,
        "<header>\n<h1>Retention report: {origin}</h1>\n\
         <p class=\"sub\">Client records under Missouri 20 CSR 2263-3.040 &mdash; the ledger as it stood at the end of \
         <strong id=\"as-of\">{as_of}</strong> ({tz})</p>\n\
         <dl class=\"meta\">\n<dt>Ledger</dt><dd>{origin}</dd>\n\
         <dt>As of</dt><dd>the end of {as_of} ({tz}): entries recorded from <code id=\"recorded-before\">{before}</code> on are not part of this report</dd>\n",
        origin = escape(&r.origin),
        as_of = escape(&r.as_of),
        tz = escape(&r.time_zone),
        before = escape(&r.recorded_before),
    );
    let p = &r.prefix;
    let _ = writeln!(
        s,
        "<dt>Entries described</dt><dd id=\"prefix\"><strong>{}</strong> (root <code>{}</code>){}</dd>",
        p.size,
        escape(&p.root),
        p.last_recorded_at
            .as_deref()
            .map(|t| format!(", the last recorded {}", escape(t)))
            .unwrap_or_default()
    );
    match &p.checkpoint {
        Some(c) => {
            let _ = writeln!(
                s,
                "<dt>Checkpoint</dt><dd id=\"checkpoint\">a signed checkpoint of size <strong>{}</strong>, root <code>{}</code>: exactly these entries</dd>",
                c.size,
                escape(&c.root)
            );
        }
        None => s.push_str("<dt>Checkpoint</dt><dd id=\"checkpoint\">none of exactly this size: the root is the verifier&#39;s computation over the entries</dd>\n"),
    }
    let _ = writeln!(
        s,
        "<dt>Integrity anchor</dt><dd id=\"anchor\" class=\"{}\">{}</dd>",
        if r.integrity.anchor.is_self_attested() {
            "bad"
        } else {
            ""
        },
        escape(&super::anchor_line(r))
    );
    if let Some(t) = &r.integrity.time_policy {
        let _ = writeln!(
            s,
            "<dt>Time policy</dt><dd id=\"time-policy\">{}</dd>",
            escape(t)
        );
    }
    let _ = write!(
        s,
        "<dt>Signed by</dt><dd id=\"signer\">{}, key <code>{}</code></dd>\n\
         <dt>Produced</dt><dd id=\"produced-at\">{}</dd>\n\
         <dt>Schema</dt><dd><code>{}</code></dd>\n</dl>\n</header>\n",
        escape(&r.signer.identity),
        escape(&r.signer.fingerprint),
        escape(&r.produced_at),
        escape(&r.schema)
    );
}

fn verdict(s: &mut String, r: &RetentionReport) {
    let findings = &r.integrity.findings;
    let anchor = &r.integrity.anchor;
    if r.integrity.verdict == "verified" && findings.is_empty() {
        let replayed = format!(
            "All entries of the ledger were replayed when this report was produced: hash chain, author signatures, \
             payload commitments, record rules and the Merkle root agree{}.",
            if r.prefix.checkpoint.is_some() { ", and the entries described match a signed checkpoint" } else { "" }
        );
        if anchor.is_self_attested() {
            let _ = write!(
                s,
                "<section id=\"verdict\" class=\"verdict warn\">\n<p class=\"headline\">SELF-ATTESTED: no findings, \
                 but nothing the reader holds anchors this verdict</p>\n\
                 <p>{replayed}</p>\n<p><strong>Self-attested:</strong> {}. A ledger rewritten together with its own key \
                 would pass the same checks. Ask for a report made with <code>--ledger-key</code> or <code>--trusted</code>, \
                 or verify the ledger with a key or checkpoint you hold.</p>\n</section>\n",
                escape(&anchor.words)
            );
        } else {
            let _ = write!(
                s,
                "<section id=\"verdict\" class=\"verdict ok\">\n<p class=\"headline\">Integrity verified: no findings</p>\n\
                 <p>{replayed}</p>\n<p>Anchor: {}.</p>\n</section>\n",
                escape(&super::anchor_line(r))
            );
        }
        return;
    }
    let _ = write!(
        s,
        "<section id=\"verdict\" class=\"verdict bad\">\n<p class=\"headline\">Integrity NOT verified: {} finding{}</p>\n\
         <p>The ledger shows tampering or violations of the record rules. Every finding is listed below; \
         statuses in this report are computed from the ledger as found.</p>\n<p>Anchor: {}.</p>\n</section>\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        escape(&super::anchor_line(r))
    );
    if findings.is_empty() {
        return;
    }
    // Expected/found columns only when some finding has them.
    let values = findings
        .iter()
        .any(|f| f.evidence.expected.is_some() || f.evidence.found.is_some());
    s.push_str(
        "<table class=\"findings\" id=\"findings\">\n<thead><tr><th class=\"num\">#</th><th>Finding</th><th class=\"num\">Seq</th>\
         <th>Record</th><th>What was found</th>",
    );
    s.push_str(if values {
        "<th>Expected</th><th>Found</th></tr></thead>\n<tbody>\n"
    } else {
        "</tr></thead>\n<tbody>\n"
    });
    for (i, f) in findings.iter().enumerate() {
        finding_row(s, i + 1, f, values);
    }
    s.push_str("</tbody>\n</table>\n");
}

fn finding_row(s: &mut String, n: usize, f: &Finding, values: bool) {
    let opt = |o: &Option<String>| {
        o.as_deref()
            .map(|v| format!("<code>{}</code>", escape(v)))
            .unwrap_or_default()
    };
    let mut what = escape(&f.evidence.message);
    if let Some(k) = &f.evidence.key {
        let _ = write!(what, "<br>key <code>{}</code>", escape(k));
    }
    for (source, note) in &f.evidence.checkpoints {
        let src = serde_json::to_value(source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            what,
            "<br>checkpoint ({}):<pre>{}</pre>",
            escape(&src),
            escape(note)
        );
    }
    let _ = write!(
        s,
        "<tr><td class=\"num\">{n}</td><td><strong>{}</strong></td><td class=\"num\">{}</td><td>{}</td><td>{what}</td>",
        escape(f.kind.name()),
        f.seq.map(|q| q.to_string()).unwrap_or_default(),
        f.record.as_ref().map(|r| escape(r.as_str())).unwrap_or_default(),
    );
    if values {
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td>",
            opt(&f.evidence.expected),
            opt(&f.evidence.found)
        );
    }
    s.push_str("</tr>\n");
}

/// The ledger clock's corrections (when, by whom, how far back).
fn clock_corrections(s: &mut String, r: &RetentionReport) {
    s.push_str("<section id=\"clock\">\n<h2>Ledger clock</h2>\n");
    if r.clock_corrections.is_empty() {
        s.push_str("<p class=\"none\">No clock correction was recorded.</p>\n");
    } else {
        s.push_str("<p class=\"what\">An admin recorded that the ledger clock was set back (clock_corrected). A destruction recorded before a correction with a later time than it was recorded with a clock running ahead, and is judged again at the corrected date.</p>\n<table>\n<thead><tr><th class=\"num\">Seq</th><th>Recorded at (corrected clock)</th><th>Clock before</th><th class=\"num\">Set back by (s)</th><th>By</th><th>Reason</th></tr></thead>\n<tbody>\n");
        for c in &r.clock_corrections {
            let _ = writeln!(
                s,
                "<tr><td class=\"num\">{}</td><td class=\"date\">{}</td><td class=\"date\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                c.seq,
                escape(&c.recorded_at),
                c.previous.as_deref().map(escape).unwrap_or_else(|| "&ndash;".to_owned()),
                c.back_by_secs,
                escape(&c.by),
                escape(&c.reason),
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if let Some(c) = &r.ledger_closed {
        let _ = writeln!(
            s,
            "<p class=\"what\">The ledger was closed at seq {} on {} by {}: {}. Nothing can be appended after it.</p>",
            c.seq,
            escape(&c.recorded_at),
            escape(&c.by),
            escape(&c.reason),
        );
    }
    s.push_str("</section>\n");
}

fn totals(s: &mut String, r: &RetentionReport) {
    s.push_str(
        "<section id=\"totals\">\n<h2>Totals</h2>\n<table class=\"totals\">\n\
         <thead><tr><th>Status</th><th class=\"num\">Records</th><th>Meaning</th></tr></thead>\n<tbody>\n",
    );
    for (status, title, what) in STATUSES {
        let n = total(r, status);
        let bad = n > 0 && matches!(status, "destroyed_early" | "content_missing");
        let _ = writeln!(
            s,
            "<tr id=\"total-{status}\"><td><a href=\"#status-{status}\">{title}</a></td><td class=\"num{}\">{n}</td><td>{what}</td></tr>",
            if bad { " bad" } else { "" }
        );
    }
    let missing = records_missing_items(r);
    let _ = write!(
        s,
        "</tbody>\n<tfoot><tr><th>All records</th><th class=\"num\" id=\"total-records\">{}</th><th></th></tr>\n\
         <tr><th><a href=\"#gaps\">Missing a required item</a></th><th class=\"num{}\">{missing}</th>\
         <th>Records lacking one or more items required by (11)(A)&ndash;(F), (3), (7) or (4)/(5)</th></tr></tfoot>\n</table>\n</section>\n",
        r.totals.records,
        if missing > 0 { " bad" } else { "" },
    );
}

fn item_title(label: &str) -> &str {
    ITEMS
        .iter()
        .find(|(l, _, _)| *l == label)
        .map_or(label, |(_, _, t)| t)
}

fn gaps(s: &mut String, r: &RetentionReport) {
    s.push_str("<section id=\"gaps\">\n<h2>Records missing required items</h2>\n");
    let with_gaps: Vec<&ReportRecord> = r
        .records
        .iter()
        .filter(|x| !x.missing_items.is_empty())
        .collect();
    if with_gaps.is_empty() {
        s.push_str("<p class=\"none\">No record lacks a required item.</p>\n</section>\n");
        return;
    }
    s.push_str("<table>\n<thead><tr><th>Record</th><th>Status</th><th>Missing</th></tr></thead>\n<tbody>\n");
    for x in with_gaps {
        let missing: Vec<String> = x
            .missing_items
            .iter()
            .map(|m| escape(item_title(m)))
            .collect();
        let _ = writeln!(
            s,
            "<tr><td class=\"id\"><a href=\"#record-{id}\">{id}</a></td><td>{}</td><td class=\"bad\">{}</td></tr>",
            escape(&x.status),
            missing.join("; "),
            id = escape(&x.id),
        );
    }
    s.push_str("</tbody>\n</table>\n</section>\n");
}

fn item_cell(status: Option<&str>) -> &'static str {
    match status {
        Some("present") => "<td class=\"item\" title=\"present\">&#10003;</td>",
        Some("missing") => "<td class=\"item missing\" title=\"missing\">MISSING</td>",
        Some("none_recorded") => {
            "<td class=\"item\" title=\"none recorded (not required)\">&ndash;</td>"
        }
        Some("not_applicable") => "<td class=\"item\" title=\"not applicable\">n/a</td>",
        _ => "<td class=\"item\" title=\"unknown\">?</td>",
    }
}

fn status_table(s: &mut String, r: &RetentionReport, status: &str, title: &str, what: &str) {
    let rows: Vec<&ReportRecord> = r.records.iter().filter(|x| x.status == status).collect();
    let _ = write!(
        s,
        "<section id=\"status-{status}\" class=\"status\">\n<h2>{title} <span class=\"count\">({} record{})</span></h2>\n<p class=\"what\">{what}</p>\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    if rows.is_empty() {
        s.push_str("<p class=\"none\">No records with this status.</p>\n</section>\n");
        return;
    }
    s.push_str(
        "<table class=\"wide records\">\n<thead><tr><th>Record</th><th>Opened</th><th>Last termination</th>\
         <th>Retained until</th><th>Holds in force</th><th>Destruction</th>",
    );
    for (_, short, long) in ITEMS {
        // The rule reference never breaks inside; the word after it goes below.
        let (rule, word) = short.split_once(' ').unwrap_or((short, ""));
        let _ = write!(
            s,
            "<th class=\"item\" title=\"{}\"><span class=\"nw\">{}</span><br>{}</th>",
            escape(long),
            escape(rule),
            escape(word)
        );
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for x in rows {
        record_row(s, x);
    }
    s.push_str("</tbody>\n</table>\n</section>\n");
}

fn record_row(s: &mut String, x: &ReportRecord) {
    let date = |d: &Option<String>| {
        d.as_deref()
            .map(escape)
            .unwrap_or_else(|| "&ndash;".to_owned())
    };
    let holds = if x.holds.is_empty() {
        "&ndash;".to_owned()
    } else {
        x.holds
            .iter()
            .map(|h| escape(h))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let destruction = match &x.destruction {
        None => "<td>&ndash;</td>".to_owned(),
        Some(d) => format!(
            "<td class=\"destr{}\">{} by {}, {} <span class=\"seq\">(seq {})</span>{}{}<br><span class=\"backup\">backups kept {} days may still hold the record key</span></td>",
            if d.lawful { "" } else { " bad" },
            escape(&d.date),
            escape(&d.by),
            if d.lawful { "lawful" } else { "UNLAWFUL" },
            d.seq,
            // What the lawfulness rests on (format 4 reports; older ones have no words).
            if d.lawful && !d.time_words.is_empty() {
                let why = d
                    .citation
                    .as_ref()
                    .and_then(|c| c.why_not.as_deref())
                    .map(|w| format!("; its time citation does not count: {}", escape(w)))
                    .unwrap_or_default();
                format!("<br><span class=\"basis\">{}{why}</span>", escape(&d.time_words))
            } else {
                String::new()
            },
            d.clock_corrected_seq
                .map(|c| format!("<br>recorded with a clock running ahead: unlawful at the date of clock_corrected <span class=\"seq\">(seq {c})</span>"))
                .unwrap_or_default(),
            d.backup_retention_days,
        ),
    };
    let _ = write!(
        s,
        "<tr id=\"record-{id}\"><td class=\"id\">{id}</td><td class=\"date\">{}</td><td class=\"date\">{}</td><td class=\"date\">{}</td><td>{holds}</td>{destruction}",
        escape(&x.opened_on),
        date(&x.last_terminated_on),
        date(&x.retained_until),
        id = escape(&x.id),
    );
    for (label, _, _) in ITEMS {
        let st = x
            .completeness
            .iter()
            .find(|c| c.item == label)
            .map(|c| c.status.as_str());
        s.push_str(item_cell(st));
    }
    s.push_str("</tr>\n");
}

fn rule(s: &mut String, r: &RetentionReport) {
    let _ = write!(
        s,
        "<section id=\"rule\">\n<h2>The rule applied</h2>\n<p class=\"what\">{}:</p>\n<blockquote>\n<p>{}</p>\n",
        escape(&r.rule.citation),
        escape(&r.rule.retention)
    );
    for line in &r.rule.records {
        let _ = writeln!(s, "<p>{}</p>", escape(line));
    }
    s.push_str("</blockquote>\n<p class=\"what\">Item (4)/(5), written notice of termination and referral:</p>\n<blockquote>\n");
    for line in &r.rule.notice_and_referral {
        let _ = writeln!(s, "<p>{}</p>", escape(line));
    }
    s.push_str("</blockquote>\n</section>\n");
}

/// The commands that check the report, as one would type them in its directory.
pub fn check_commands(r: &RetentionReport) -> Vec<String> {
    let id = sh_quote(&r.signer.identity);
    vec![
        format!("ssh-keygen -Y verify -f allowed_signers -I {id} -n caseledger-report -s manifest.sha256.sig < manifest.sha256"),
        "sha256sum -c manifest.sha256".to_owned(),
        "openssl pkeyutl -verify -pubin -inkey report-key.pem -rawin -in manifest.sha256 -sigfile manifest.sha256.ed25519".to_owned(),
        format!("ssh-keygen -Y verify -f allowed_signers -I {id} -n caseledger-report -s report.json.sig < report.json"),
        format!("caseledger report verify . --key {}", sh_quote(&r.signer.key)),
    ]
}

fn footer(s: &mut String, r: &RetentionReport) {
    let _ = write!(
        s,
        "<footer>\n<p class=\"legend\">Items: &#10003; present; <strong>MISSING</strong> required and absent; \
         &ndash; none recorded (not required); n/a not applicable ((11)(F) outside private practice or before any termination). \
         Retention (rule 12) ends five years after the last termination; destruction is lawful from the next day, judged at \
         the ledger&#39;s own date of the destruction.</p>\n\
         <p>This page renders <code>report.json</code> ({schema}) for reading and printing; the signed <code>report.json</code> \
         is authoritative. It contains no clinical content. <code>manifest.sha256</code> lists the SHA-256 of every file of \
         the report (this page, <code>report.json</code>, <code>report.csv</code>, the key files) and is signed by the \
         reporting key, fingerprint <code>{fp}</code>: compare it with the key you obtained from the practice. \
         In the report&#39;s directory, check it with standard tools (or the last line, with caseledger):</p>\n<pre id=\"check\">",
        schema = escape(&r.schema),
        fp = escape(&r.signer.fingerprint),
    );
    s.push_str(&escape(&check_commands(r).join("\n")));
    let _ = write!(
        s,
        "</pre>\n<p>Ledger {origin}, as of the end of {as_of} ({tz}); produced {at}.</p>\n</footer>\n",
        origin = escape(&r.origin),
        as_of = escape(&r.as_of),
        tz = escape(&r.time_zone),
        at = escape(&r.produced_at),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture::report;

    #[test]
    fn escapes_everything() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let page = html(&report(true));
        assert!(
            !page.contains("<script"),
            "no script, not even an escaped one as a tag"
        );
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("C-&lt;b&gt;6"));
        assert!(!page.contains("C-<b>6"));
        assert!(page.contains("State Committee &lt;investigation&gt; &amp; &quot;co&quot;"));
        assert!(page.contains("example.org/practice &amp; co"));
    }

    #[test]
    fn findings_come_first_and_in_red() {
        let page = html(&report(true));
        let verdict = page.find("id=\"verdict\"").unwrap();
        let findings = page.find("id=\"findings\"").unwrap();
        let totals = page.find("id=\"totals\"").unwrap();
        let first_status = page.find("id=\"status-open\"").unwrap();
        assert!(verdict < findings && findings < totals && totals < first_status);
        assert!(page.contains("class=\"verdict bad\""));
        assert!(page.contains("Integrity NOT verified: 1 finding<"));
        assert!(page.contains("commitment_mismatch"));
        let clean = html(&report(false));
        assert!(
            clean.contains("class=\"verdict ok\"")
                && clean.contains("Integrity verified: no findings")
        );
        assert!(!clean.contains("id=\"findings\""));
    }

    #[test]
    fn a_table_per_status_with_its_records() {
        let page = html(&report(false));
        for (status, _, _) in STATUSES {
            assert!(
                page.contains(&format!("id=\"status-{status}\"")),
                "{status}"
            );
        }
        let retained = page.find("id=\"status-retained\"").unwrap();
        let eligible = page.find("id=\"status-eligible\"").unwrap();
        let row = page.find("id=\"record-C-0002\"").unwrap();
        assert!(retained < row && row < eligible);
        assert!(
            page.contains("2025-06-02 by custodian-01, lawful <span class=\"seq\">(seq 99)</span>")
        );
        assert!(page.contains("UNLAWFUL"));
        assert!(page.contains("MISSING"));
        assert!(page.contains("id=\"as-of\">2026-11-28<"));
        assert!(page.contains("size <strong>120</strong>"));
        // content_missing has no records.
        assert!(page.contains("No records with this status."));
    }

    #[test]
    fn a_self_attested_verdict_is_not_green_and_says_so() {
        let page = html(&crate::render::fixture::report_with(false, true));
        assert!(page.contains("class=\"verdict warn\""));
        assert!(!page.contains("class=\"verdict ok\""));
        assert!(page.contains("SELF-ATTESTED: no findings"));
        assert!(page.contains(caseledger_verify::report::SELF_ATTESTED_WORDS));
        assert!(page.contains("<dd id=\"anchor\" class=\"bad\">self-attested: "));
        let anchored = html(&report(false));
        assert!(anchored.contains("class=\"verdict ok\""));
        assert!(anchored.contains("<dd id=\"anchor\" class=\"\">ledger-key: "));
    }

    #[test]
    fn it_states_the_day_the_prefix_the_signer_and_the_rule() {
        let page = html(&report(false));
        assert!(page.contains("id=\"as-of\">2026-11-28</strong> (America/Chicago)"));
        assert!(page.contains("<code id=\"recorded-before\">2026-11-29T06:00:00Z</code>"));
        assert!(page.contains("<dd id=\"prefix\"><strong>120</strong>"));
        assert!(page.contains("a signed checkpoint of size <strong>120</strong>"));
        assert!(page.contains("<dd id=\"signer\">reports@practice, key <code>SHA256:"));
        assert!(page.contains("<dd id=\"produced-at\">2026-12-01T10:11:12Z</dd>"));
        assert!(page.contains(&escape(caseledger_verify::report::RULE_12)));
        for line in caseledger_verify::report::RULE_11 {
            assert!(page.contains(&escape(line)), "{line}");
        }
        for line in caseledger_verify::report::RULE_4_5 {
            assert!(page.contains(&escape(line)), "{line}");
        }
    }

    #[test]
    fn destructions_state_backup_retention_and_clock_corrections_are_shown() {
        let mut rep = report(false);
        let page = html(&rep);
        assert!(page.contains("backups kept 30 days may still hold the record key"));
        assert!(page.contains("No clock correction was recorded."));
        // The (4)/(5) item has a column and a cell in every record row.
        assert!(page.contains("(4)/(5) written notice of termination and referral"));
        rep.clock_corrections
            .push(caseledger_verify::report::ReportClockCorrection {
                seq: 77,
                recorded_at: "2026-01-02T03:04:05Z".to_owned(),
                by: "admin".to_owned(),
                previous: Some("2031-01-02T03:04:05Z".to_owned()),
                back_by_secs: 157_766_400,
                reason: "clock <was> ahead".to_owned(),
            });
        if let Some(d) = rep.records[4].destruction.as_mut() {
            d.lawful = false;
            d.clock_corrected_seq = Some(77);
        }
        let page = html(&rep);
        assert!(page.contains("<td class=\"num\">157766400</td>"));
        assert!(page.contains("clock &lt;was&gt; ahead"));
        assert!(page.contains("recorded with a clock running ahead: unlawful at the date of clock_corrected <span class=\"seq\">(seq 77)</span>"));
    }

    #[test]
    fn the_check_commands_are_pasteable() {
        let r = report(false);
        let page = html(&r);
        for c in check_commands(&r) {
            assert!(page.contains(&escape(&c)), "{c}");
            assert!(!c.contains("<identity>") && !c.contains("-I <"), "{c}");
        }
        let cmds = check_commands(&r).join("\n");
        assert!(cmds.contains(
            "-I 'reports@practice' -n caseledger-report -s manifest.sha256.sig < manifest.sha256"
        ));
        assert!(cmds.contains("--key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample'"));
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn self_contained() {
        let page = html(&report(true));
        for bad in [
            "<script", "src=", "<link", "http://", "https://", "@import", "url(",
        ] {
            assert!(!page.contains(bad), "{bad}");
        }
    }
}
