//! `report.html` as an investigator sees it: the committed sample practice is imported into
//! a fresh ledger, a retention report is written, and headless Chromium opens the page; the
//! tests assert on the DOM Chromium built (verdict, as-of date, each record in its status
//! table) and take a screenshot.
//!
//! Chromium is required (Debian package `chromium`; `.ci/run` installs it). When it is
//! missing these tests fail with a message saying so: they never skip silently. Set
//! `CASELEDGER_CHROMIUM` to use another binary, and `CASELEDGER_SCREENSHOT_DIR` to keep the
//! screenshots.

use caseledger_testkit::cli::{bin, bin_in};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Today (UTC): the sample is imported now, so a report as of an earlier day describes none
/// of it.
fn as_of() -> String {
    caseledger_core::Timestamp::now()
        .date_utc()
        .expect("a date")
        .to_string()
}

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger-data/sample/practice.jsonl")
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CASELEDGER_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "headless Chromium is required for the report.html tests but was not found at /usr/bin/chromium: \
         install it (`apt-get install -y chromium`; .ci/run does) or set CASELEDGER_CHROMIUM"
    );
}

/// Runs headless Chromium on `page` with `extra` arguments; returns stdout. Fails the test on
/// a non-zero exit or after 120 s.
fn run_chromium(page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("temp dir");
    // Output goes to files, not pipes: a page's DOM is larger than a pipe buffer, and a
    // child blocked on a full pipe would never exit.
    let stdout_path = profile.path().join("stdout");
    let stderr_path = profile.path().join("stderr");
    let browser = chromium();
    let mut cmd = std::process::Command::new(&browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!(
        "--user-data-dir={}",
        profile.path().join("profile").display()
    ))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
    .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start headless Chromium ({}): {e}; install it (`apt-get install -y chromium`; \
             .ci/run does) or set CASELEDGER_CHROMIUM",
            browser.display()
        )
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}): {stderr}");
    std::fs::read_to_string(&stdout_path).expect("chromium prints UTF-8")
}

/// The ledger from the committed sample and a report over it, in `dir`.
fn sample_report(dir: &Path) -> PathBuf {
    let ledger = dir.join("L");
    bin_in(dir)
        .args([
            "init",
            ledger.to_str().unwrap(),
            "--origin",
            "sample.example/practice",
            "--private-practice",
        ])
        .assert()
        .success();
    bin_in(dir)
        .args(["import", "--ledger", ledger.to_str().unwrap()])
        .arg(sample_path())
        .assert()
        .success();
    bin_in(dir)
        .args(["checkpoint", "--ledger", ledger.to_str().unwrap()])
        .assert()
        .success();
    ledger
}

fn write_report(
    ledger: &Path,
    key: &Path,
    out: &Path,
    include_findings: bool,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    let mut c = bin();
    c.args([
        "report",
        "retention",
        "--ledger",
        ledger.to_str().unwrap(),
        "--as-of",
        &as_of(),
        "--generate-key",
    ])
    .arg("--signing-key")
    .arg(key)
    .arg("--out")
    .arg(out)
    .args(extra);
    if include_findings {
        c.arg("--include-findings");
    }
    c.assert()
}

/// The ledger's verifier key, as a relying party would hold it.
fn ledger_vkey(ledger: &Path) -> String {
    let out = bin()
        .args(["keys", "export", "--ledger", ledger.to_str().unwrap()])
        .output()
        .expect("keys export runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The text of the `<section id="ID">` in `dom` (up to its closing tag; sections do not nest).
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id} is on the page"));
    let end = dom[start..]
        .find("</section>")
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

fn screenshot(page: &Path, dir: &Path, name: &str) {
    let png = match std::env::var_os("CASELEDGER_SCREENSHOT_DIR") {
        Some(d) => PathBuf::from(d).join(name),
        None => dir.join(name),
    };
    run_chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,1800".to_owned(),
            "--hide-scrollbars".to_owned(),
        ],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "a real screenshot"
    );
}

#[test]
fn the_committed_sample_is_what_the_generator_writes() {
    let out = bin()
        .args(["sample", "--clients", "200", "--seed", "42"])
        .output()
        .expect("sample runs");
    assert!(out.status.success());
    let committed =
        std::fs::read(sample_path()).expect("ledger-data/sample/practice.jsonl is committed");
    assert!(out.stdout == committed, "ledger-data/sample/practice.jsonl differs from `caseledger sample --clients 200 --seed 42`");
}

#[test]
fn chromium_shows_the_verdict_the_date_and_each_record_in_its_status_table() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ledger = sample_report(tmp.path());
    let out = tmp.path().join("report");
    let vkey = ledger_vkey(&ledger);
    write_report(
        &ledger,
        &tmp.path().join("report-key.pem"),
        &out,
        false,
        &["--ledger-key", &vkey],
    )
    .success();
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let page = out.join("report.html");
    let dom = run_chromium(&page, &["--dump-dom".to_owned()]);

    let day = as_of();
    assert!(dom.contains(&format!(
        "<title>Retention report: sample.example/practice, as of {day}</title>"
    )));
    let verdict = section(&dom, "verdict");
    assert!(verdict.contains("Integrity verified: no findings"));
    assert!(verdict.contains("verdict ok") && verdict.contains("ledger-key: "));
    assert!(!dom.contains("id=\"findings\""));
    assert!(dom.contains(&format!("id=\"as-of\">{day}<")));
    assert!(dom.contains(&format!(
        "<dd id=\"signer\">sample.example/practice, key <code>{}</code>",
        report["signer"]["fingerprint"].as_str().unwrap()
    )));
    assert!(dom.contains("(12) For the purpose of these rules"));
    let cp = &report["prefix"]["checkpoint"];
    assert!(dom.contains(&format!("size <strong>{}</strong>", cp["size"])));
    // The verdict comes before the totals, which come before the first status table.
    let (v, t, s) = (
        dom.find("id=\"verdict\"").unwrap(),
        dom.find("id=\"totals\"").unwrap(),
        dom.find("id=\"status-open\"").unwrap(),
    );
    assert!(v < t && t < s);

    // Every record is in its own status table and no other; the totals match.
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 200);
    for status in [
        "open",
        "retained",
        "eligible",
        "on_hold",
        "destroyed_lawfully",
        "destroyed_early",
        "content_missing",
    ] {
        let table = section(&dom, &format!("status-{status}"));
        let want: Vec<&str> = records
            .iter()
            .filter(|r| r["status"] == status)
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            table.matches("<tr id=\"record-").count(),
            want.len(),
            "rows in the {status} table"
        );
        for id in &want {
            assert!(
                table.contains(&format!("<tr id=\"record-{id}\">")),
                "{id} in the {status} table"
            );
        }
        let total = section(&dom, "totals");
        assert!(total.contains(&format!("id=\"total-{status}\"")));
        assert_eq!(report["totals"][status].as_u64(), Some(want.len() as u64));
    }
    // The sample's known cases: the hold in force, a lawful destruction, the gaps.
    let held = section(&dom, "status-on_hold");
    assert!(
        held.contains("record-C-0006")
            && held.contains("State Committee investigation SC-2024-0117")
    );
    assert!(section(&dom, "status-destroyed_lawfully").contains("by custodian-01, lawful"));
    assert!(section(&dom, "status-eligible").matches("<tr id=").count() > 0);
    let gaps = section(&dom, "gaps");
    for id in ["C-0013", "C-0029", "C-0041"] {
        assert!(gaps.contains(id), "{id} is listed as missing an item");
    }
    assert!(
        gaps.contains("(11)(B) fee arrangement")
            && gaps.contains("(11)(F) written termination communication")
    );
    // No clinical text reached the page.
    assert!(!dom.contains("SYNTHETIC SAMPLE") && !dom.contains("Progress note"));

    screenshot(&page, tmp.path(), "report-clean.png");
}

#[test]
fn chromium_shows_findings_first_in_red() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ledger = sample_report(tmp.path());
    // Falsify the stored checkpoint's root in checkpoints.log (one byte): its signature fails.
    let log = ledger.join("checkpoints.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let root_line = text
        .lines()
        .nth(3)
        .expect("a checkpoint in the log: length, origin, size, root");
    let at = text.find(root_line).unwrap();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&log, &bytes).unwrap();

    let out = tmp.path().join("report");
    write_report(&ledger, &tmp.path().join("report-key.pem"), &out, true, &[]).code(1);
    let page = out.join("report.html");
    let dom = run_chromium(&page, &["--dump-dom".to_owned()]);
    let verdict = section(&dom, "verdict");
    assert!(
        verdict.contains("Integrity NOT verified: 1 finding"),
        "{verdict}"
    );
    assert!(verdict.contains("verdict bad"));
    let (v, f, t) = (
        dom.find("id=\"verdict\"").unwrap(),
        dom.find("id=\"findings\"").unwrap(),
        dom.find("id=\"totals\"").unwrap(),
    );
    assert!(v < f && f < t, "findings come before the totals");
    assert!(dom[f..t].contains("checkpoint_bad_signature"));
    screenshot(&page, tmp.path(), "report-findings.png");
}

#[test]
fn chromium_shows_a_self_attested_verdict_as_such() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ledger = sample_report(tmp.path());
    let out = tmp.path().join("report");
    write_report(
        &ledger,
        &tmp.path().join("report-key.pem"),
        &out,
        false,
        &[],
    )
    .success();
    let page = out.join("report.html");
    let dom = run_chromium(&page, &["--dump-dom".to_owned()]);
    let verdict = section(&dom, "verdict");
    assert!(verdict.contains("verdict warn"), "{verdict}");
    assert!(!verdict.contains("verdict ok"), "{verdict}");
    assert!(verdict.contains("SELF-ATTESTED: no findings"), "{verdict}");
    assert!(
        verdict.contains("checkpoints were checked with the ledger key named in the ledger itself")
    );
    assert!(dom.contains("<dd id=\"anchor\" class=\"bad\">self-attested: "));
    screenshot(&page, tmp.path(), "report-self-attested.png");
}
