//! One integration-test binary (ripgrep style): each module drives `caseledger` as a user would.

#[test]
fn binary_prints_version() {
    let out = assert_cmd::Command::cargo_bin("caseledger")
        .expect("binary is built")
        .arg("--version")
        .output()
        .expect("binary runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("caseledger "));
}
