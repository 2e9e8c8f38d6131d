//! `ledger-data/example/events.jsonl`, the example of docs/GUIDE.md, imports into a fresh
//! ledger and verifies, and the guide's auditor and investigator steps work on it, so
//! neither the example nor the guide can rot.

use caseledger_testkit::cli::{ok, Fixture};
use caseledger_testkit::ORIGIN;
use std::path::Path;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ledger-data/example/events.jsonl")
        .to_str()
        .expect("a UTF-8 path")
        .to_owned()
}

#[test]
fn the_guide_example_imports_and_verifies() {
    let f = Fixture::empty();
    ok(&f.run(&["init", "L", "--origin", ORIGIN, "--private-practice"]));
    let imported = f.run(&["import", "--ledger", "L", &example()]);
    ok(&imported);
    // 15 lines after genesis: the `amends` seq in the file counts on it.
    assert!(
        String::from_utf8_lossy(&imported.stderr).contains("ledger size 1 -> 16"),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    ok(&f.run(&["verify", "--ledger", "L"]));

    // The auditor's steps (GUIDE.md, "Checkpoints").
    let cp = ok(&f.run(&["checkpoint", "--ledger", "L"]));
    f.write("cp.txt", cp.as_bytes());
    let vkey = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write("ledger.vkey", vkey.as_bytes());
    ok(&f.run(&[
        "verify",
        "--ledger",
        "L",
        "--key",
        "ledger.vkey",
        "--trusted",
        "cp.txt",
    ]));

    // The investigator's steps (GUIDE.md, "Bundles and reports").
    ok(&f.run(&[
        "export",
        "--ledger",
        "L",
        "--record",
        "X-0001",
        "--out",
        "X-0001.bundle",
    ]));
    ok(&f.run(&[
        "verify",
        "--bundle",
        "X-0001.bundle",
        "--key",
        "ledger.vkey",
    ]));
    ok(&f.report(&[]));
    ok(&f.run(&[
        "report",
        "verify",
        "rep/report.json",
        "--key",
        "rep/report-key.pem",
    ]));
}
