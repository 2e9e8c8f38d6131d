//! Issue 12, seals on every commit, through the binary: receipts a record system keeps and
//! `verify --trusted` accepts; `checkpoint` prints the newest seal and `export` signs
//! nothing; a keyless deletion is `unsealed_tail`; one flipped byte of `meta.compact_range`
//! makes the ledger refuse to open and sign nothing (attack 3).

use caseledger_core::layout::parse_checkpoints_log;
use caseledger_testkit::cli::{fails, ok, stdout, Fixture};
use caseledger_testkit::tamper;
use std::fs;

fn log_notes(f: &Fixture) -> Vec<String> {
    parse_checkpoints_log(&fs::read(f.ledger().join("checkpoints.log")).expect("log"))
        .expect("log parses")
}

fn verify_json(f: &Fixture, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["--json", "verify", "--ledger", "L"];
    args.extend_from_slice(extra);
    let o = f.run(&args);
    let v = serde_json::from_str(&stdout(&o)).expect("verify --json");
    (o.status.code(), v)
}

fn kinds(v: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_owned(),
                f["seq"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn receipts_carry_the_seal_and_verify_trusted_accepts_them() {
    let f = Fixture::small();
    let size = f.size();
    let o = f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-06-01",
        "--receipts",
        "receipts.jsonl",
    ]);
    ok(&o);
    // One JSON line, keys in the documented order, the seal of size + 1 already logged.
    let text = fs::read_to_string(f.path("receipts.jsonl")).expect("receipts");
    assert!(
        text.starts_with(&format!("{{\"seq\":{size},\"hash\":\"")),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    let r: serde_json::Value = serde_json::from_str(text.trim_end()).expect("json");
    let seal = r["seal"].as_str().expect("seal");
    assert!(seal.starts_with(&format!("{}\n{}\n", caseledger_testkit::ORIGIN, size + 1)));
    assert_eq!(log_notes(&f).last().map(String::as_str), Some(seal));
    let mode = fs::metadata(f.path("receipts.jsonl")).expect("meta");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    // `checkpoint` prints that seal; it signs nothing.
    let before = fs::read(f.ledger().join("checkpoints.log")).expect("log");
    assert_eq!(stdout(&ok_out(&f, &["checkpoint", "--ledger", "L"])), seal);
    assert_eq!(
        fs::read(f.ledger().join("checkpoints.log")).expect("log"),
        before
    );
    // `export` appends the record's record_head, a commit sealed like any other: the log
    // grows by exactly that one seal, which covers the head.
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-OPEN", "--out", "b.json",
    ]));
    let after = log_notes(&f);
    let before = parse_checkpoints_log(&before).expect("log parses");
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..]);
    // The receipts file anchors the verdict as a checkpoint the auditor holds.
    let (code, v) = verify_json(&f, &["--trusted", "receipts.jsonl", "--require-anchor"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["anchor"]["kind"], "trusted_checkpoint", "{v}");
    // `import --receipts` writes one line per imported event.
    f.write(
        "more.jsonl",
        b"{\"record\":\"C-OPEN\",\"kind\":\"contact\",\"occurred_on\":\"2025-06-02\",\"author\":\"lic-1\"}\n{\"record\":\"C-OPEN\",\"kind\":\"contact\",\"occurred_on\":\"2025-06-03\",\"author\":\"lic-1\"}\n",
    );
    ok(&f.run(&[
        "import",
        "--ledger",
        "L",
        "more.jsonl",
        "--receipts",
        "receipts.jsonl",
    ]));
    let text = fs::read_to_string(f.path("receipts.jsonl")).expect("receipts");
    assert_eq!(text.lines().count(), 3);
    let (code, v) = verify_json(&f, &["--trusted", "receipts.jsonl"]);
    assert_eq!(code, Some(0), "{v}");
}

fn ok_out(f: &Fixture, args: &[&str]) -> std::process::Output {
    let o = f.run(args);
    ok(&o);
    o
}

/// Attack 1 without the ledger key: delete an entry, re-chain the rest, empty both places
/// checkpoints are kept. The local seals are gone and cannot be re-signed: `unsealed_tail`
/// from seq 0. With a receipt kept by the record system, the rewrite is also a root
/// mismatch against it.
#[test]
fn keyless_deletion_and_rechain_is_an_unsealed_tail() {
    let f = Fixture::small();
    let o = f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-06-01",
        "--receipts",
        "receipts.jsonl",
    ]);
    ok(&o);
    let (code, _) = verify_json(&f, &[]);
    assert_eq!(code, Some(0));
    let dir = f.ledger();
    tamper::rewrite(&dir, |items| {
        items.remove(5);
    });
    tamper::clear_checkpoints(&dir);
    fs::write(tamper::log_path(&dir), b"").expect("empty log");
    let (code, v) = verify_json(&f, &[]);
    assert_eq!(code, Some(1), "{v}");
    assert!(
        kinds(&v).contains(&("unsealed_tail".to_owned(), Some(0))),
        "{v}"
    );
    let (code, v) = verify_json(&f, &["--trusted", "receipts.jsonl"]);
    assert_eq!(code, Some(1), "{v}");
    let k = kinds(&v);
    assert!(
        k.iter()
            .any(|(kind, _)| kind == "truncation" || kind == "root_mismatch"),
        "{v}"
    );
}

/// Attack 3: one flipped byte of `meta.compact_range` in the real sled tree. The next
/// command that opens the ledger to append refuses, naming the row; nothing is signed.
#[test]
fn a_flipped_compact_range_is_refused_and_nothing_is_signed() {
    let f = Fixture::small();
    let dir = f.ledger();
    tamper::edit_raw(&dir, "meta", b"compact_range", |v| {
        let mut v = v.expect("compact_range");
        let last = v.len() - 1;
        v[last] ^= 1;
        Some(v)
    });
    let before = f.snapshot();
    let line = fails(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    assert!(
        line.contains("meta.compact_range disagrees") && line.contains("nothing was signed"),
        "{line}"
    );
    let line = fails(&f.run(&["checkpoint", "--ledger", "L"]));
    assert!(line.contains("meta.compact_range"), "{line}");
    assert_eq!(before, f.snapshot(), "nothing signed or written");
}
