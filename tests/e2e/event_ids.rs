//! Client event ids (`id` on an import line, `append --id`; DESIGN.md v2 principle 8): a
//! repeat returns the original receipt and appends nothing, a used id with other content
//! is refused (exit 2, the line named, nothing written), the same content under another id
//! is a new entry; after a lawful destruction no id text is in any file and the stored
//! request hash matches no guess.

use caseledger_core::layout::{SLED_DIR, TREE_NONCES};
use caseledger_store::{EventId, IdSeen, Ledger, OpenOptions, RequestDigest};
use caseledger_testkit::cli::{fails, ok, stderr, Fixture};
use caseledger_testkit::files_under;
use std::fs;

fn line(id: &str, record: &str, kind: &str, date: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","record":"{record}","kind":"{kind}","occurred_on":"{date}","author":"lic-1"{extra}}}"#
    )
}

fn write(f: &Fixture, name: &str, lines: &[String]) {
    f.write(name, (lines.join("\n") + "\n").as_bytes());
}

fn run_import(f: &Fixture, name: &str, receipts: &str) -> std::process::Output {
    f.run(&["import", "--ledger", "L", name, "--receipts", receipts])
}

fn import(f: &Fixture, name: &str, lines: &[String], receipts: &str) -> std::process::Output {
    write(f, name, lines);
    run_import(f, name, receipts)
}

fn receipt_lines(f: &Fixture, name: &str) -> Vec<String> {
    fs::read_to_string(f.path(name))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The request digest as docs/FORMAT.md §3 gives its bytes: BLAKE3 derive-key mode, context
/// "caseledger request digest v2", over `u8 len(name) || name || u32 BE len(value) || value`
/// for each field given, in the documented order.
fn documented_digest(fields: &[(&str, &[u8])]) -> RequestDigest {
    let mut m = Vec::new();
    for (name, value) in fields {
        m.push(u8::try_from(name.len()).unwrap());
        m.extend_from_slice(name.as_bytes());
        m.extend_from_slice(&u32::try_from(value.len()).unwrap().to_be_bytes());
        m.extend_from_slice(value);
    }
    RequestDigest(blake3::derive_key("caseledger request digest v2", &m))
}

#[test]
fn an_import_repeated_under_ids_appends_nothing_and_returns_the_original_receipts() {
    let f = Fixture::small();
    let first = [
        line("ehr-1", "C-ID", "record_opened", "2025-03-01", ""),
        line(
            "ehr-2",
            "C-ID",
            "progress_note",
            "2025-03-02",
            r#","payload":"note SECRET-CLINICAL-1""#,
        ),
        line(
            "ehr-3",
            "C-ID",
            "contact",
            "2025-03-03",
            r#","payload":"call SECRET-CLINICAL-2""#,
        ),
    ];
    ok(&import(&f, "a.jsonl", &first, "a.receipts"));
    let size = f.size();
    let original = receipt_lines(&f, "a.receipts");
    assert_eq!(original.len(), 3);
    // Another file (other digest, other line numbers) sends them again and one new event:
    // keyed by id, the three are known; the receipts are the originals, byte for byte.
    let second = [
        line(
            "ehr-4",
            "C-ID",
            "contact",
            "2025-03-04",
            r#","payload":"call SECRET-CLINICAL-3""#,
        ),
        first[2].clone(),
        first[0].clone(),
        // Formatting and key order are not content: the same request.
        r#"{ "author": "lic-1", "payload": "note SECRET-CLINICAL-1", "occurred_on": "2025-03-02", "kind": "progress_note", "record": "C-ID", "id": "ehr-2" }"#
            .to_owned(),
    ];
    let o = import(&f, "b.jsonl", &second, "b.receipts");
    let said = stderr(&ok_output(&o));
    assert!(
        said.contains("imported 1 event") && said.contains("3 lines were already in the ledger"),
        "{said}"
    );
    assert_eq!(f.size(), size + 1);
    let again = receipt_lines(&f, "b.receipts");
    assert_eq!(again.len(), 4);
    assert_eq!(again[1], original[2]);
    assert_eq!(again[2], original[0]);
    assert_eq!(again[3], original[1]);
    // Identical content under another id is a new entry.
    let other = [line(
        "ehr-2b",
        "C-ID",
        "progress_note",
        "2025-03-02",
        r#","payload":"note SECRET-CLINICAL-1""#,
    )];
    ok(&import(&f, "c.jsonl", &other, "c.receipts"));
    assert_eq!(f.size(), size + 2);
}

/// `ok` for an Output whose stderr the caller reads (ok returns stdout).
fn ok_output(o: &std::process::Output) -> std::process::Output {
    ok(o);
    o.clone()
}

#[test]
fn a_used_id_with_other_content_refuses_the_whole_file() {
    let f = Fixture::small();
    let first = [
        line("ehr-1", "C-ID", "record_opened", "2025-03-01", ""),
        line(
            "ehr-2",
            "C-ID",
            "progress_note",
            "2025-03-02",
            r#","payload":"note SECRET-CLINICAL-1""#,
        ),
    ];
    ok(&import(&f, "a.jsonl", &first, "a.receipts"));
    let seq = receipt_lines(&f, "a.receipts")[1].clone();
    let seq: serde_json::Value = serde_json::from_str(&seq).unwrap();
    let seq = seq["seq"].as_u64().unwrap();
    // A valid new line first: nothing of the file is written, it included.
    let changed = [
        line(
            "ehr-3",
            "C-ID",
            "contact",
            "2025-03-03",
            r#","payload":"call SECRET-CLINICAL-2""#,
        ),
        line(
            "ehr-2",
            "C-ID",
            "progress_note",
            "2025-03-02",
            r#","payload":"note SECRET-CLINICAL-EDITED""#,
        ),
    ];
    write(&f, "b.jsonl", &changed);
    let before = f.snapshot();
    let err = fails(&run_import(&f, "b.jsonl", "b.receipts"));
    assert!(
        err.contains("line 2: id: already recorded at seq")
            && err.contains(&format!("seq {seq} with other content"))
            && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(!err.contains("SECRET") && !err.contains("ehr-2"), "{err}");
    assert_eq!(before, f.snapshot(), "a refused file wrote something");
    // Within one file: the same id twice with other content names both lines.
    let twice = [
        line(
            "ehr-5",
            "C-ID",
            "contact",
            "2025-03-03",
            r#","payload":"a SECRET-CLINICAL-3""#,
        ),
        line(
            "ehr-5",
            "C-ID",
            "contact",
            "2025-03-03",
            r#","payload":"b SECRET-CLINICAL-4""#,
        ),
    ];
    write(&f, "c.jsonl", &twice);
    let before = f.snapshot();
    let err = fails(&run_import(&f, "c.jsonl", "c.receipts"));
    assert!(
        err.contains("line 2: id: line 1 gives the same id with other content"),
        "{err}"
    );
    assert_eq!(before, f.snapshot());
    // Ids are validated, and only events of a record take one.
    for (bad, want) in [
        (line(&"x".repeat(129), "C-ID", "contact", "2025-03-03", ""), "line 1: id: must be 1-128 bytes"),
        (line("a\\tb", "C-ID", "contact", "2025-03-03", ""), "line 1: id: must be printable text"),
        (
            r#"{"id":"adm-1","kind":"key_revoked","occurred_on":"2025-01-01","author":"admin","actor":"lic-1"}"#.to_owned(),
            "line 1: id: only events of a record take an id",
        ),
    ] {
        write(&f, "d.jsonl", &[bad]);
        let before = f.snapshot();
        let err = fails(&run_import(&f, "d.jsonl", "d.receipts"));
        assert!(err.contains(want), "{err}");
        assert_eq!(before, f.snapshot());
    }
}

#[test]
fn append_with_an_id_returns_the_original_receipt_and_refuses_other_content() {
    let f = Fixture::small();
    f.write("n1.txt", b"session SECRET-CLINICAL-A");
    f.write("n2.txt", b"session SECRET-CLINICAL-B");
    let append = |id: &str, file: &str| {
        f.run(&[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-1",
            "--record",
            "C-OPEN",
            "--kind",
            "progress_note",
            "--occurred-on",
            "2025-05-03",
            "--payload-file",
            file,
            "--id",
            id,
            "--receipts",
            "r.jsonl",
        ])
    };
    let first = ok(&append("ehr-77", "n1.txt"));
    let size = f.size();
    let repeat = append("ehr-77", "n1.txt");
    assert_eq!(ok(&repeat), first, "the same seq and entry hash");
    assert!(
        stderr(&repeat).contains("already recorded"),
        "{}",
        stderr(&repeat)
    );
    assert_eq!(f.size(), size);
    let receipts = receipt_lines(&f, "r.jsonl");
    assert_eq!(receipts.len(), 2);
    assert_eq!(
        receipts[0], receipts[1],
        "the original receipt, seal included"
    );
    let before = f.snapshot();
    let err = fails(&append("ehr-77", "n2.txt"));
    assert!(
        err.contains("--id: already recorded at seq") && err.contains("other content"),
        "{err}"
    );
    assert!(!err.contains("SECRET") && !err.contains("ehr-77"), "{err}");
    assert_eq!(before, f.snapshot());
    // The same content under another id is a new entry.
    let other = ok(&append("ehr-78", "n1.txt"));
    assert_ne!(other, first);
    assert_eq!(f.size(), size + 1);
    // An import line with the same fields is the same request as the append.
    let same = [line(
        "ehr-77",
        "C-OPEN",
        "progress_note",
        "2025-05-03",
        r#","payload":"session SECRET-CLINICAL-A""#,
    )];
    let o = import(&f, "i.jsonl", &same, "i.receipts");
    assert!(stderr(&ok_output(&o)).contains("1 line was already in the ledger"));
    assert_eq!(receipt_lines(&f, "i.receipts")[0], receipts[0]);
    assert_eq!(f.size(), size + 1);
}

/// After a lawful destruction of the record: no id text in any file of the ledger or key
/// directory, a repeat of the id is refused (its request can no longer be compared), and
/// the stored request hash matches no guess of a low-entropy field under any key an
/// insider holds (the KEK, the origin, none).
#[test]
fn after_destruction_no_id_survives_and_the_request_hash_cannot_be_matched() {
    let f = Fixture::small();
    let fee = |n: u32| format!("fee arrangement {n} per session");
    let lines = [
        line(
            "EHR-IDCANARY-1",
            "C-GONE",
            "record_opened",
            "2018-03-01",
            "",
        ),
        line(
            "EHR-IDCANARY-2",
            "C-GONE",
            "progress_note",
            "2018-03-02",
            &format!(r#","payload":"{}""#, fee(137)),
        ),
        line(
            "EHR-IDCANARY-3",
            "C-GONE",
            "service_terminated",
            "2019-01-15",
            "",
        ),
    ];
    ok(&import(&f, "a.jsonl", &lines, "a.receipts"));
    let id = EventId::new("EHR-IDCANARY-2").unwrap();
    let request = |n: u32| {
        documented_digest(&[
            ("record", b"C-GONE"),
            ("kind", b"progress_note"),
            ("occurred_on", b"2018-03-02"),
            ("author", b"lic-1"),
            ("payload", fee(n).as_bytes()),
        ])
    };
    let kek = caseledger_keyfile::read_kek(&f.keys()).unwrap();
    // Positive control: with the record key the documented digest of the true request
    // matches, and a neighbouring guess does not.
    let ledger = Ledger::open(f.ledger(), OpenOptions::default().with_kek(kek.clone())).unwrap();
    let seq = match ledger.event_id_seen(&id, &request(137)).unwrap() {
        IdSeen::Recorded(r) => r.seq,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ledger.event_id_seen(&id, &request(138)).unwrap(),
        IdSeen::Conflict { seq }
    );
    ledger.close().unwrap();
    ok(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-GONE",
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
    ]));
    // A repeat of the id now: refused, nothing written.
    write(&f, "b.jsonl", &lines[1..2]);
    let before = f.snapshot();
    let err = fails(&run_import(&f, "b.jsonl", "b.receipts"));
    assert!(
        err.contains("line 1: id: recorded at seq") && err.contains("erased"),
        "{err}"
    );
    assert_eq!(before, f.snapshot());
    let ledger = Ledger::open(f.ledger(), OpenOptions::default().with_kek(kek.clone())).unwrap();
    assert_eq!(
        ledger.event_id_seen(&id, &request(137)).unwrap(),
        IdSeen::KeyErased { seq }
    );
    ledger.close().unwrap();
    // No id text in any raw file (sled segments included); the record id, stored in the
    // clear, is the positive control that the scan reads those files.
    let mut record_seen = false;
    for p in files_under(&f.ledger())
        .into_iter()
        .chain(files_under(&f.keys()))
    {
        let b = fs::read(&p).unwrap();
        assert!(
            !b.windows(12).any(|w| w == b"EHR-IDCANARY"),
            "an id's text is in {}",
            p.display()
        );
        record_seen |= b.windows(6).any(|w| w == b"C-GONE");
    }
    assert!(record_seen, "the scan did not read the ledger's files");
    // The guessing attack on the raw row: every fee 0..10000 under every key at hand.
    let db = caseledger_sledio::open_db(&f.ledger().join(SLED_DIR), |c| c).unwrap();
    let mut row_key = vec![b'I'];
    row_key.extend_from_slice(&id.lookup_key(&kek));
    let row = db
        .open_tree(TREE_NONCES)
        .unwrap()
        .get(row_key)
        .unwrap()
        .unwrap()
        .to_vec();
    drop(db);
    assert_eq!(row.len(), 40);
    assert_eq!(row[..8], seq.0.to_be_bytes());
    let hash = &row[8..];
    let ctx = "caseledger event id request v2";
    let keys = [
        blake3::derive_key(ctx, kek.as_bytes()),
        blake3::derive_key(ctx, caseledger_testkit::ORIGIN.as_bytes()),
        blake3::derive_key("caseledger event id v2", kek.as_bytes()),
    ];
    for n in 0..10_000 {
        let d = request(n);
        assert_ne!(&d.0[..], hash);
        for k in &keys {
            assert_ne!(&blake3::keyed_hash(k, &d.0).as_bytes()[..], hash);
        }
    }
}
