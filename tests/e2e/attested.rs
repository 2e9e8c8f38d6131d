//! Issue 14, attested destruction (format 4) through the binary: `destroy --cite-witness`
//! against `caseledger witness serve` on loopback, `destroy --cite-timestamp` with the test
//! TSA, the report's words per destroyed record, and a citation edited in the stored entry
//! bytes. The small fixture's history is recorded in one sitting (today), so however good
//! the citation, nothing can read as attested: the lawful date computed from when outside
//! time first saw the termination is five years away.

use crate::witness::Served;
use caseledger_testkit::cli::{ok, stderr, stdout, Fixture};
use caseledger_testkit::tamper::db;
use caseledger_testkit::tsa::{TestTsa, TsaOptions};
use std::sync::Arc;

fn report_json(f: &Fixture) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(f.path("rep/report.json")).unwrap()).unwrap()
}

fn destruction_of<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    let rec = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .expect("the record is reported");
    &rec["destruction"]
}

fn destroy(f: &Fixture, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
        "--yes",
    ];
    args.extend_from_slice(extra);
    f.run(&args)
}

#[test]
fn a_destruction_in_one_sitting_citing_a_witness_is_not_attested_and_an_edited_citation_is_a_finding(
) {
    let f = Fixture::small();
    let vkey = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write("logs.txt", vkey.as_bytes());
    let w = Served::start(f.dir(), "w1.example", "w1.pem", "logs.txt", "w1-state");
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w.url, &w.key]));
    // Nothing to cite yet: one clear line, nothing written.
    let size = f.size();
    let o = destroy(&f, &["--cite-witness", "w1", "--no-sync"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--cite-witness w1: no stored seal carries a valid cosignature"),
        "{}",
        stderr(&o)
    );
    let o = destroy(&f, &["--cite-witness", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--cite-witness nosuch: no witness of that name"));
    let o = destroy(&f, &["--cite-timestamp"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("timestamps.log does not exist"),
        "{}",
        stderr(&o)
    );
    assert_eq!(f.size(), size, "a refused destroy wrote nothing");

    ok(&f.run(&["witness", "sync", "--ledger", "L", "--timeout", "5"]));
    // The destruction's own seal goes to the witness after the write (the quorum's).
    let out = ok(&destroy(&f, &["--cite-witness", "w1"]));
    let seq: u64 = out
        .strip_prefix("seq ")
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("a receipt");
    // The relying party names the witness: clean, the citation counts, but the history was
    // recorded today, so the destruction is lawful on its claimed dates only.
    let o = f.report(&["--witness", &w.key]);
    let said = ok(&o);
    assert!(
        said.contains(&format!(
            "destruction of C-OLD (seq {seq}): lawful on claimed dates only"
        )) || stderr(&o).contains(&format!(
            "destruction of C-OLD (seq {seq}): lawful on claimed dates only"
        )),
        "{said}\n{}",
        stderr(&o)
    );
    let r = report_json(&f);
    let d = destruction_of(&r, "C-OLD");
    assert_eq!(d["time_basis"], "claimed_dates_only", "{d}");
    assert_eq!(d["citation"]["kind"], "cosignature");
    assert_eq!(d["citation"]["counted"], true, "{d}");
    assert_eq!(d["citation"]["by"], "witness w1.example");
    assert!(d["attested_lawful_from"].as_str().unwrap() > "2031-01-01");

    // The citation's root edited in the stored entry bytes: a finding at the destruction.
    {
        let db = db(&f.ledger());
        let entries = db.open_tree("entries").unwrap();
        let mut v = entries.get(seq.to_be_bytes()).unwrap().unwrap().to_vec();
        // The cited body's third line is the root: 44 base64 characters after "\n<size>\n".
        // Searched in the bytes themselves (a lossy UTF-8 copy of an entry, whose hashes and
        // signatures are binary, would shift every offset after an invalid byte).
        let find = |from: usize, needle: &[u8]| {
            v[from..]
                .windows(needle.len())
                .position(|w| w == needle)
                .map(|p| from + p)
        };
        let at = find(0, b"example.org/test-ledger\n")
            .and_then(|o| find(o, b"\n").map(|n| n + 1))
            .and_then(|o| find(o, b"\n").map(|n| n + 1))
            .expect("the cited body in the entry");
        v[at] = if v[at] == b'A' { b'B' } else { b'A' };
        entries.insert(seq.to_be_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    let o = f.run(&["--json", "verify", "--ledger", "L", "--witness", &w.key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let bad: Vec<&serde_json::Value> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "bad_time_citation")
        .collect();
    assert_eq!(bad.len(), 1, "{j}");
    assert_eq!(bad[0]["seq"], seq);
    assert!(bad[0]["evidence"]["message"]
        .as_str()
        .unwrap()
        .contains("root is not the ledger's"));
}

#[test]
fn a_destruction_citing_a_token_before_the_attested_lawful_date_is_not_attested() {
    let f = Fixture::small();
    let tsa = Arc::new(TestTsa::new(&TsaOptions::default()));
    let ca = tsa.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let (url, server) = tsa.serve(1);
    ok(&f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &url,
        "--tsa-chain",
        ca,
    ]));
    server.join().unwrap();
    let out = ok(&destroy(&f, &["--cite-timestamp", "--no-sync"]));
    assert!(out.starts_with("seq "), "{out}");
    // Clean under the relying party's TSA roots; the token counts, but is from today.
    ok(&f.run(&["verify", "--ledger", "L", "--tsa-chain", ca]));
    ok(&f.report(&["--tsa-chain", ca]));
    let r = report_json(&f);
    let d = destruction_of(&r, "C-OLD");
    assert_eq!(d["citation"]["kind"], "timestamp");
    assert_eq!(d["citation"]["counted"], true, "{d}");
    assert!(
        d["citation"]["by"].as_str().unwrap().starts_with("TSA "),
        "{d}"
    );
    assert_eq!(d["time_basis"], "claimed_dates_only", "{d}");
    // Without the roots, the token cannot count: no finding, the reason is given.
    ok(&f.run(&["verify", "--ledger", "L"]));
    std::fs::remove_dir_all(f.path("rep")).unwrap();
    ok(&f.report(&[]));
    let r = report_json(&f);
    let d = destruction_of(&r, "C-OLD");
    assert_eq!(d["citation"]["counted"], false);
    assert!(d["citation"]["why_not"]
        .as_str()
        .unwrap()
        .contains("--tsa-chain"));
}
