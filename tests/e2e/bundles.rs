//! Complete bundles (issue 12, insider attack 2): `export` builds a bundle from the entries
//! themselves, appends the record's `record_head`, verifies it before writing it; `verify
//! --bundle` proves ordinals 1..n up to the head and names any omitted entry. Tampering is
//! done on the real sled trees and the real bundle file.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use caseledger_core::bundle::Bundle;
use caseledger_core::event::{Entry, EventKind};
use caseledger_core::layout::{record_index_key, TREE_PAYLOADS, TREE_RECORDS};
use caseledger_core::RecordId;
use caseledger_testkit::cli::{ok, stderr, stdout, Fixture};
use std::fs;

/// The small ledger's seqs: C-OLD's assessment (client C-OLD's clinical text) and C-NEW's
/// entries, and the hold placed on C-NEW here.
const OLD_ASSESSMENT: u64 = 4;
const NEW_NOTE: u64 = 7;
const HOLD: u64 = 11;

fn with_hold() -> Fixture {
    let f = Fixture::small();
    ok(&f.run(&[
        "hold", "place", "--ledger", "L", "--record", "C-NEW", "--author", "cust-1", "--matter",
        "SC-1",
    ]));
    f
}

fn sled_tree(f: &Fixture, tree: &str, edit: impl FnOnce(&sled::Tree)) {
    let db = caseledger_testkit::tamper::db(&f.ledger());
    edit(&db.open_tree(tree).unwrap());
    db.flush().unwrap();
}

fn entries_of(b: &Bundle) -> Vec<(u64, Entry)> {
    b.entries
        .iter()
        .map(|e| (e.seq, Entry::from_bytes(&e.entry.0).unwrap()))
        .collect()
}

fn read_bundle(f: &Fixture, name: &str) -> Bundle {
    Bundle::from_json(&fs::read(f.path(name)).unwrap()).unwrap()
}

/// (e) export, then `verify --bundle` says complete, with the record's status.
#[test]
fn export_then_verify_says_complete() {
    let f = with_hold();
    let o = f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]);
    ok(&o);
    let line = stderr(&o);
    // C-NEW: 6, 7, 8, the hold 11, the record_head 12 (the checkpoint covers 13 entries).
    assert!(
        line.contains("5 entries, complete: entries 1..5 of record C-NEW up to seq 12, proofs against checkpoint size 13"),
        "{line}"
    );
    let (seq, head) = entries_of(&read_bundle(&f, "b.json")).pop().unwrap();
    assert_eq!(seq, 12);
    assert_eq!(head.event.event.author.as_str(), "ledger");
    assert!(
        matches!(head.event.event.kind, EventKind::RecordHead { entries: 4, last } if last.0 == HOLD)
    );
    let v = f.run(&["verify", "--bundle", "b.json"]);
    let out = ok(&v);
    assert!(
        out.contains("complete: entries 1..5 of record C-NEW up to seq 12\n"),
        "{out}"
    );
    assert!(out.contains("status: on_hold"), "{out}");
    assert!(out.contains("lawful from: 2030-01-11\n"), "{out}");
    assert!(
        stderr(&v).contains("no findings (complete: entries 1..5 of record C-NEW up to seq 12)"),
        "{}",
        stderr(&v)
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&f.run(&["--json", "verify", "--bundle", "b.json"]))).unwrap();
    assert_eq!(j["complete"]["entries"], 5);
    assert_eq!(j["complete"]["record_head_seq"], 12);
    assert_eq!(j["status"], "on_hold");
    assert_eq!(j["lawful_from"], "2030-01-11");
}

/// Rolls C-NEW's state row in the real `records` tree back to before the hold (3 entries,
/// the latest seq 8): what now lists a record's entries (its chain starts at the row's
/// `last_seq`), as the per-entry index rows the store no longer writes once did.
fn roll_back_state_row_before_hold(f: &Fixture, rid: &RecordId) {
    use caseledger_core::encoding::{decode_canonical, encode};
    use caseledger_core::record::RecordState;
    let key = caseledger_core::layout::record_state_key(rid);
    sled_tree(f, TREE_RECORDS, |t| {
        let mut st: RecordState = decode_canonical(&t.get(&key).unwrap().unwrap()).unwrap();
        assert_eq!((st.entries, st.last_seq.0), (4, HOLD));
        st.entries = 3;
        st.last_seq = caseledger_core::Seq(8);
        t.insert(&key, encode(&st).unwrap()).unwrap();
    });
}

/// (a) C-NEW's state row is rolled back to before its hold (the store keeps no index row
/// per entry to delete): the export reads the entries themselves, so its `record_head`
/// (4 entries, ending at the hold) disagrees with the row and is refused; no bundle without
/// the hold is written, and nothing is appended.
#[test]
fn a_state_row_rolled_back_before_the_hold_writes_no_bundle() {
    let f = with_hold();
    let rid = RecordId::new("C-NEW").unwrap();
    roll_back_state_row_before_hold(&f, &rid);
    let o = f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("record_head"), "{}", stderr(&o));
    assert!(!f.path("b.json").exists());
}

/// (b) An index row of C-NEW pointing at C-OLD's assessment is added (as ledgers written
/// before issue 18 kept, one per entry; nothing reads them now): the bundle file holds
/// none of C-OLD's entry, ciphertext or text, and the export succeeds.
#[test]
fn an_added_index_row_does_not_leak_another_clients_text() {
    let f = with_hold();
    let rid = RecordId::new("C-NEW").unwrap();
    let mut stored = Vec::new();
    sled_tree(&f, TREE_PAYLOADS, |t| {
        stored = t
            .get(OLD_ASSESSMENT.to_be_bytes())
            .unwrap()
            .unwrap()
            .to_vec();
    });
    let mut entry = Vec::new();
    sled_tree(&f, "entries", |t| {
        entry = t
            .get(OLD_ASSESSMENT.to_be_bytes())
            .unwrap()
            .unwrap()
            .to_vec();
    });
    sled_tree(&f, TREE_RECORDS, |t| {
        t.insert(record_index_key(&rid, OLD_ASSESSMENT), &[] as &[u8])
            .unwrap();
    });
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let text = fs::read_to_string(f.path("b.json")).unwrap();
    for canary in [
        "SECRET-CLINICAL-A",
        "C-OLD",
        &B64.encode(&stored),
        &B64.encode(&entry),
    ] {
        assert!(!text.contains(canary), "the bundle holds {canary}");
    }
    // Every payload the bundle can open (it carries entry keys) is C-NEW's own.
    let b = read_bundle(&f, "b.json");
    for e in &b.entries {
        let (Some(p), Some(k)) = (&e.payload, &e.key) else {
            continue;
        };
        let key =
            caseledger_core::content::EntryKey::from_bytes(k.0.as_slice().try_into().unwrap());
        let plain = caseledger_core::content::open_payload(
            &key,
            &b.origin,
            &rid,
            caseledger_core::Seq(e.seq),
            &p.0,
        )
        .unwrap();
        assert!(!String::from_utf8_lossy(plain.content()).contains("SECRET-CLINICAL-A"));
    }
    ok(&f.run(&["verify", "--bundle", "b.json"]));
}

/// (c) A middle entry and the tail entry removed from the bundle JSON: `verify --bundle`
/// names the missing ordinal and seq and the missing record_head, exit 1. (d) Without the
/// record_head alone: a finding too.
#[test]
fn omitted_entries_are_findings_naming_the_ordinal() {
    let f = with_hold();
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let clean = read_bundle(&f, "b.json");
    let mut b = clean.clone();
    b.entries.retain(|e| e.seq != NEW_NOTE);
    b.entries.pop();
    fs::write(f.path("cut.json"), b.to_json().unwrap()).unwrap();
    let v = f.run(&["verify", "--bundle", "cut.json"]);
    assert_eq!(v.status.code(), Some(1), "{}", stderr(&v));
    let out = stdout(&v);
    assert!(
        out.contains("finding: bundle_incomplete at seq 7 (record C-NEW): the record's entry ordinal 2 is missing from the bundle"),
        "{out}"
    );
    assert!(
        out.contains("finding: bundle_incomplete (record C-NEW): the bundle does not end in a record_head: the record's entries from ordinal 5 on (after seq 11) may have been left out"),
        "{out}"
    );
    assert!(out.contains("complete: NOT proven"), "{out}");
    // (d) Only the record_head left out.
    let mut b = clean;
    b.entries.pop();
    fs::write(f.path("nohead.json"), b.to_json().unwrap()).unwrap();
    let v = f.run(&["verify", "--bundle", "nohead.json"]);
    assert_eq!(v.status.code(), Some(1), "{}", stderr(&v));
    assert!(
        stdout(&v).contains("does not end in a record_head"),
        "{}",
        stdout(&v)
    );
}

/// Without the ledger key nothing is appended: the record_head is the ledger's to sign.
#[test]
fn export_without_the_ledger_key_appends_nothing() {
    let f = Fixture::small();
    let before = f.snapshot();
    fs::rename(f.keys().join("ledger.pem"), f.path("ledger.pem")).unwrap();
    let line = caseledger_testkit::cli::fails(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    assert!(
        line.contains("ledger key") && line.contains("ledger.pem"),
        "{line}"
    );
    assert!(!f.path("b.json").exists());
    fs::rename(f.path("ledger.pem"), f.keys().join("ledger.pem")).unwrap();
    assert_eq!(f.snapshot(), before);
}
