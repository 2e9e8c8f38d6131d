//! The report's signatures check with the standard tools: `ssh-keygen -Y verify` and
//! `openssl pkeyutl -verify -rawin`, for `report.json` and for the manifest that covers
//! every file (`sha256sum -c` checks the files against it); one changed byte makes them
//! fail. The HTML footer's commands run as printed. The tools are required (CI installs
//! openssh-client, openssl and coreutils): a missing tool fails the test.

use caseledger_testkit::cli::{ok, Fixture};
use caseledger_testkit::ORIGIN;
use std::path::Path;
use std::process::{Command, Stdio};

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert!(
        found.status.success() && !path.is_empty(),
        "`{name}` is required by the report interop test (install openssh-client and openssl); it is not on PATH"
    );
    path
}

fn ssh_verify(dir: &Path) -> bool {
    ssh_verify_file(dir, "report.json")
}

/// `ssh-keygen -Y verify` of `rep/<file>` with `rep/<file>.sig`.
fn ssh_verify_file(dir: &Path, file: &str) -> bool {
    let report = std::fs::File::open(dir.join("rep").join(file)).unwrap();
    let sig = format!("rep/{file}.sig");
    Command::new(tool("ssh-keygen"))
        .current_dir(dir)
        .args([
            "-Y",
            "verify",
            "-f",
            "rep/allowed_signers",
            "-I",
            ORIGIN,
            "-n",
            "caseledger-report",
            "-s",
            &sig,
        ])
        .stdin(report)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen runs")
        .success()
}

fn openssl_verify(dir: &Path) -> bool {
    Command::new(tool("openssl"))
        .current_dir(dir)
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "rep/report-key.pem",
            "-rawin",
            "-in",
            "rep/report.json",
            "-sigfile",
            "rep/report.json.ed25519",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs")
        .success()
}

#[test]
fn report_signatures_verify_with_ssh_keygen_and_openssl() {
    let f = Fixture::small();
    ok(&f.report(&[]));
    assert!(
        ssh_verify(f.dir()),
        "ssh-keygen -Y verify rejected a good report signature"
    );
    assert!(
        openssl_verify(f.dir()),
        "openssl pkeyutl -verify rejected a good report signature"
    );
    let p = f.path("rep/report.json");
    let mut b = std::fs::read(&p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    std::fs::write(&p, b).unwrap();
    assert!(!ssh_verify(f.dir()), "ssh-keygen accepted a changed report");
    assert!(
        !openssl_verify(f.dir()),
        "openssl accepted a changed report"
    );
}

#[test]
fn the_manifest_signature_verifies_with_ssh_keygen_and_sha256sum_checks_the_files() {
    let f = Fixture::small();
    ok(&f.report(&[]));
    assert!(
        ssh_verify_file(f.dir(), "manifest.sha256"),
        "ssh-keygen -Y verify rejected a good manifest signature"
    );
    let sums = |dir: &Path| {
        Command::new(tool("sha256sum"))
            .current_dir(dir.join("rep"))
            .args(["-c", "--strict", "manifest.sha256"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("sha256sum runs")
            .success()
    };
    assert!(sums(f.dir()), "sha256sum -c rejected the report's files");
    // A changed CSV: the manifest still verifies, sha256sum says which file changed.
    let csv = f.path("rep/report.csv");
    let mut b = std::fs::read(&csv).unwrap();
    b[0] ^= 0x20;
    std::fs::write(&csv, &b).unwrap();
    assert!(!sums(f.dir()), "sha256sum accepted a changed report.csv");
    // A changed manifest: its signature fails.
    let m = f.path("rep/manifest.sha256");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replacen('a', "b", 1)).unwrap();
    assert!(
        !ssh_verify_file(f.dir(), "manifest.sha256"),
        "ssh-keygen accepted a changed manifest"
    );
}

/// `&lt;` and friends back to text, as a browser shows (and copies) them.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn the_html_footer_commands_run_as_printed() {
    let f = Fixture::small();
    ok(&f.report(&[]));
    let html = std::fs::read_to_string(f.path("rep/report.html")).unwrap();
    let start = html.find("<pre id=\"check\">").expect("the check commands") + 16;
    let end = start + html[start..].find("</pre>").unwrap();
    let commands = unescape(&html[start..end]);
    let mut ran = 0;
    for line in commands.lines() {
        assert!(!line.contains("<identity>"), "a placeholder: {line}");
        let (line, bin) = match line.strip_prefix("caseledger ") {
            // The caseledger line, with this build's binary.
            Some(rest) => (
                format!(
                    "'{}' {rest}",
                    caseledger_testkit::cli::caseledger_bin().display()
                ),
                "caseledger",
            ),
            None => {
                let bin = line.split(' ').next().unwrap().to_owned();
                tool(&bin);
                (line.to_owned(), "tool")
            }
        };
        let o = Command::new("sh")
            .current_dir(f.path("rep"))
            .args(["-c", &line])
            .env("NO_COLOR", "1")
            .output()
            .expect("sh runs");
        assert!(
            o.status.success(),
            "as printed in report.html ({bin}), `{line}` failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    assert_eq!(ran, 5, "{commands}");
}
