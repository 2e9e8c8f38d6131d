//! The report's signatures check with the standard tools: `ssh-keygen -Y verify` and
//! `openssl pkeyutl -verify -rawin`; one changed byte makes both fail. The tools are
//! required (CI installs openssh-client and openssl): a missing tool fails the test.

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
    let report = std::fs::File::open(dir.join("rep/report.json")).unwrap();
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
            "rep/report.json.sig",
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
