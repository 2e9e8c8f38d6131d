//! Honest verdicts: every `verify` verdict names its anchor; without one (no `--key`,
//! `--trusted` or witness quorum: checkpoints checked only with the ledger key named in the
//! ledger itself) a clean run never says "intact" or "verified", and `--require-anchor` makes
//! it exit 1.

use caseledger_testkit::cli::{ok, stderr, stdout, Fixture};
use std::process::Output;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("JSON on stdout")
}

/// Everything the run printed, for people and for machines.
fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// The ledger key as a note verifier key.
fn vkey(f: &Fixture) -> String {
    stdout(&f.run(&["keys", "export", "--ledger", "L", "--format", "note"]))
        .trim()
        .to_owned()
}

#[track_caller]
fn assert_unanchored_words(o: &Output) {
    let text = all(o).to_lowercase();
    assert!(
        !text.contains("intact") && !text.contains("verified"),
        "an unanchored verdict must not say intact or verified:\n{text}"
    );
    assert!(
        stderr(o).contains("self-attested: checkpoints were checked with the ledger key named in the ledger itself — give --key/--trusted/--witness to anchor the verdict"),
        "{}",
        stderr(o)
    );
}

#[test]
fn a_clean_self_attested_run_says_no_findings_and_never_intact() {
    let f = Fixture::small();
    let o = f.run(&["verify", "--ledger", "L"]);
    ok(&o);
    assert_unanchored_words(&o);
    assert!(
        stderr(&o).contains("ledger L: no findings (11 entries); self-attested: "),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("anchor: self-attested: "),
        "{}",
        stdout(&o)
    );
    // An archive and a bundle alike.
    ok(&f.run(&["archive", "export", "--ledger", "L", "--out", "a.cla"]));
    let o = f.run(&["verify", "--archive", "a.cla"]);
    ok(&o);
    assert_unanchored_words(&o);
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let o = f.run(&["verify", "--bundle", "b.json"]);
    ok(&o);
    assert_unanchored_words(&o);
}

#[test]
fn require_anchor_fails_without_an_anchor_and_passes_with_the_key() {
    let f = Fixture::small();
    let o = f.run(&["verify", "--ledger", "L", "--require-anchor"]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert_unanchored_words(&o);
    assert!(stderr(&o).contains("(--require-anchor)"), "{}", stderr(&o));
    let key = vkey(&f);
    let o = f.run(&["verify", "--ledger", "L", "--require-anchor", "--key", &key]);
    ok(&o);
    assert!(
        stderr(&o).contains("ledger L: intact (11 entries, no findings); anchor: ledger-key: "),
        "{}",
        stderr(&o)
    );
    // A bundle: the same.
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let o = f.run(&["verify", "--bundle", "b.json", "--require-anchor"]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let key = stdout(&f.run(&["keys", "export", "--ledger", "L"]));
    ok(&f.run(&[
        "verify",
        "--bundle",
        "b.json",
        "--require-anchor",
        "--key",
        key.trim(),
    ]));
}

#[test]
fn json_carries_the_anchor() {
    let f = Fixture::small();
    let j = json(&ok(&f.run(&["--json", "verify", "--ledger", "L"])));
    assert_eq!(j["anchor"]["kind"], "self_attested");
    assert_eq!(j["anchor"]["anchored"], false);
    assert_eq!(j["anchor"]["covers"], serde_json::Value::Null);
    assert_eq!(
        (j["clean"].as_bool(), j["intact"].as_bool()),
        (Some(true), Some(false))
    );
    let key = vkey(&f);
    let j = json(&ok(
        &f.run(&["--json", "verify", "--ledger", "L", "--key", &key])
    ));
    assert_eq!(j["anchor"]["kind"], "ledger_key");
    assert_eq!(j["anchor"]["covers"], 11);
    assert_eq!(j["intact"], true);
    // A checkpoint the auditor holds, then one more entry: anchored up to the checkpoint's
    // size only, and the line says so.
    f.write(
        "cp.txt",
        stdout(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    let j = json(&ok(&f.run(&[
        "--json",
        "verify",
        "--ledger",
        "L",
        "--trusted",
        "cp.txt",
    ])));
    assert_eq!(j["anchor"]["kind"], "trusted_checkpoint");
    assert_eq!(
        (j["anchor"]["covers"].as_u64(), j["size"].as_u64()),
        (Some(11), Some(12))
    );
    let line = j["anchor"]["line"].as_str().unwrap();
    assert!(
        line.ends_with("(size 11 of 12 entries; the 1 after it are not anchored)"),
        "{line}"
    );
    // The bundle's JSON names it too.
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let j = json(&ok(&f.run(&["--json", "verify", "--bundle", "b.json"])));
    assert_eq!(j["anchor"]["kind"], "self_attested");
    assert_eq!(j["intact"], false);
    // The auditor's own copy of the bundle's checkpoint anchors it.
    f.write(
        "cp-head.txt",
        stdout(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    let j = json(&ok(&f.run(&[
        "--json",
        "verify",
        "--bundle",
        "b.json",
        "--trusted",
        "cp-head.txt",
        "--require-anchor",
    ])));
    assert_eq!(j["anchor"]["kind"], "trusted_checkpoint");
    // The export appended C-NEW's record_head (seq 12): its checkpoint covers 13 entries.
    assert_eq!(
        (j["anchor"]["covers"].as_u64(), j["intact"].as_bool()),
        (Some(13), Some(true))
    );
}
