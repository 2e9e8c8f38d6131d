//! Tampering with the stored bytes is a finding (exit 1) that names the seq.

use caseledger_testkit::cli::{ok, stderr, stdout, Fixture};
use caseledger_testkit::tamper::db;

#[test]
fn a_flipped_payload_byte_is_a_commitment_mismatch_at_its_seq() {
    let f = Fixture::small();
    let inc: serde_json::Value =
        serde_json::from_str(&ok(&f.run(&["--json", "verify", "--ledger", "L"]))).unwrap();
    // No key or checkpoint given: clean, but self-attested, so never "intact".
    assert_eq!(
        (inc["clean"].clone(), inc["intact"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(inc["anchor"]["kind"], "self_attested");
    // The payload of seq 7 ("note SECRET-CLINICAL-B" on C-NEW).
    let seq: u64 = 7;
    {
        let db = db(&f.ledger());
        let payloads = db.open_tree("payloads").unwrap();
        let mut v = payloads
            .get(seq.to_be_bytes())
            .unwrap()
            .expect("a payload at seq 7")
            .to_vec();
        let last = v.len() - 1;
        v[last] ^= 0x01;
        payloads.insert(seq.to_be_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    let o = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("finding: commitment_mismatch at seq 7"),
        "{out}"
    );
    assert!(!out.contains("SECRET") && !stderr(&o).contains("SECRET"));
    let j: serde_json::Value =
        serde_json::from_str(&stdout(&f.run(&["--json", "verify", "--ledger", "L"]))).unwrap();
    assert_eq!(j["intact"], false);
    assert_eq!(j["findings"][0]["kind"], "commitment_mismatch");
    assert_eq!(j["findings"][0]["seq"], 7);
    assert_eq!(j["findings"][0]["record"], "C-NEW");
    // The report refuses a ledger with findings (exit 1) unless told to include them.
    let o = f.report(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        !f.path("rep").exists() && !f.path("rk.pem").exists(),
        "a refused report wrote something"
    );
    let o = f.report(&["--include-findings"]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.path("rep/report.json")).unwrap()).unwrap();
    assert_eq!(r["integrity"]["verdict"], "findings");
    ok(&f.run(&[
        "report",
        "verify",
        "rep/report.json",
        "--key",
        "rep/report-key.pem",
    ]));
}

#[test]
fn an_edited_entry_is_named_by_seq() {
    let f = Fixture::small();
    {
        let db = db(&f.ledger());
        let entries = db.open_tree("entries").unwrap();
        let seq: u64 = 5;
        let mut v = entries.get(seq.to_be_bytes()).unwrap().unwrap().to_vec();
        let mid = v.len() / 2;
        v[mid] ^= 0x40;
        entries.insert(seq.to_be_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    let o = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("at seq 5"), "{}", stdout(&o));
}

#[test]
fn a_truncated_ledger_is_caught_by_the_checkpoint_the_auditor_holds() {
    let f = Fixture::small();
    f.write(
        "held.txt",
        ok(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    {
        let db = db(&f.ledger());
        let entries = db.open_tree("entries").unwrap();
        entries.remove(10u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    std::fs::write(f.ledger().join("checkpoints.log"), b"").unwrap();
    let o = f.run(&["verify", "--ledger", "L", "--trusted", "held.txt"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("finding:"), "{}", stdout(&o));
}

#[test]
fn incremental_verification_reads_only_new_entries_and_still_catches_tampering_there() {
    let f = Fixture::small();
    // A full run saves the auditor's resume state.
    let o = f.run(&["verify", "--ledger", "L", "--save-state", "audit.state"]);
    ok(&o);
    assert!(
        stderr(&o).contains("saved resume state (size 11)"),
        "{}",
        stderr(&o)
    );
    let saved = std::fs::read(f.path("audit.state")).unwrap();
    // The practice goes on.
    f.write("more.txt", b"SECRET-CLINICAL-LATER");
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", Some("more.txt")));
    // Incremental: clean, says so, and rolls the state forward.
    let o = f.run(&[
        "--json",
        "verify",
        "--ledger",
        "L",
        "--from-state",
        "audit.state",
        "--save-state",
        "audit.state",
    ]);
    let j: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(
        (j["clean"].clone(), j["size"].clone()),
        (true.into(), 12.into())
    );
    assert_ne!(
        std::fs::read(f.path("audit.state")).unwrap(),
        saved,
        "state rolled forward"
    );
    // Tamper with the new entry's payload: the incremental run from the old state names it.
    std::fs::write(f.path("old.state"), &saved).unwrap();
    {
        let db = db(&f.ledger());
        let payloads = db.open_tree("payloads").unwrap();
        let mut v = payloads.get(11u64.to_be_bytes()).unwrap().unwrap().to_vec();
        let last = v.len() - 1;
        v[last] ^= 0x01;
        payloads.insert(11u64.to_be_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    let o = f.run(&["verify", "--ledger", "L", "--from-state", "old.state"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("finding: commitment_mismatch at seq 11"),
        "{out}"
    );
    assert!(out.contains("incremental: entries from seq 11"), "{out}");
    assert!(!out.contains("SECRET") && !stderr(&o).contains("SECRET"));
    // A damaged state file is an input error, not a verdict.
    let mut bad = saved.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(f.path("bad.state"), &bad).unwrap();
    let e = caseledger_testkit::cli::fails(&f.run(&[
        "verify",
        "--ledger",
        "L",
        "--from-state",
        "bad.state",
    ]));
    assert!(e.contains("resume state"), "{e}");
}

/// A record key erased in the real `keystore` file of a ledger with no destruction: an
/// unauthorized destruction, exit 1, at the record's first payload entry; never a word of
/// the content.
#[test]
fn an_erased_key_store_slot_without_destruction_is_content_key_erased() {
    let f = Fixture::small();
    let clean: serde_json::Value =
        serde_json::from_str(&ok(&f.run(&["--json", "verify", "--ledger", "L"]))).unwrap();
    assert_eq!(clean["content_keys"], "checked");
    assert_eq!(clean["clean"], true);
    let slots = caseledger_testkit::tamper::live_key_slots(&f.ledger(), "C-NEW");
    assert_eq!(slots.len(), 1);
    caseledger_testkit::tamper::erase_key_slots(&f.ledger(), "C-NEW");
    let o = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    // C-NEW's progress note (seq 7) is its first (and only) payload.
    assert!(
        out.contains("finding: content_key_erased at seq 7 (record C-NEW)"),
        "{out}"
    );
    assert!(out.contains("unauthorized destruction"), "{out}");
    assert!(!out.contains("SECRET") && !stderr(&o).contains("SECRET"));
    // The key store gone altogether: payloads cannot be read, said as a note, not a finding.
    std::fs::remove_file(caseledger_testkit::tamper::keystore_path(&f.ledger())).unwrap();
    let o = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("content keys absent"), "{}", stdout(&o));
}
