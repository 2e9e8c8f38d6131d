//! Issue 17, the privacy canary against the served ledger. Every payload of the fixture and
//! of the requests here holds `SECRET-CLINICAL`. No answer to any client on any route (body
//! or headers, granted or refused, well formed or not), no tile or entry bundle, no line of
//! the server's log at `RUST_LOG=trace`, and no file of the ledger directory holds it in the
//! clear, as text, hex or base64. An evidence bundle for the `report` scope carries the
//! record's payloads encrypted with their entry keys (FORMAT §8); after the record's lawful
//! destruction it carries neither. (Record and actor ids are not clinical content: an
//! error may name them.)

use super::*;

const NEEDLE: &str = "SECRET-CLINICAL";

fn leak_forms() -> Vec<String> {
    caseledger_testkit::campaign::leak_forms(NEEDLE)
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in leak_forms() {
        assert!(
            !text.contains(&form),
            "clinical content in {what} (as {form:?}): {}",
            &text[..text.len().min(1500)]
        );
    }
}

fn assert_answer_clean(what: &str, a: &Answer) {
    assert_clean(&format!("the body of {what}"), a.body.as_bytes());
    for (n, v) in &a.headers {
        assert_clean(&format!("header {n} of {what}"), v.as_bytes());
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_clinical_content_reaches_any_client_log_tile_or_file() {
    // Positive controls: the scan finds the needle in each form it looks for.
    for form in leak_forms() {
        let text = format!("{{\"x\":\"..{form}..\"}}");
        assert!(std::panic::catch_unwind(|| assert_clean("a control", text.as_bytes())).is_err());
    }
    let f = Fixture::small();
    let s = serve_env(&f, "", &[("RUST_LOG", "trace")]);
    let tk = &s.tokens;
    let events = format!("/v1/ledgers/{LEDGER}/events");
    // Writes that carry the needle: accepted, replayed, refused for a changed body under the
    // same id, and malformed in every way the parser distinguishes.
    let a = s.post(&tk.all, &note("p-1", "C-OPEN", "note SECRET-CLINICAL-P1"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_answer_clean("an accepted append", &a);
    let a = s.post(&tk.all, &note("p-1", "C-OPEN", "note SECRET-CLINICAL-P1"));
    assert_eq!(
        a.json()["receipts"][0]["replayed"],
        json!(true),
        "{}",
        a.body
    );
    assert_answer_clean("a replayed append", &a);
    let a = s.post(&tk.all, &note("p-1", "C-OPEN", "other SECRET-CLINICAL-P2"));
    assert_eq!(a.status / 100, 4, "{}", a.body);
    assert_answer_clean("a changed body under a used id", &a);
    let batch = json!({"events": [note("p-2", "C-OPEN", "batch SECRET-CLINICAL-P3"),
                                  note("p-3", "C-OPEN", "batch SECRET-CLINICAL-P4")]});
    let a = s.post(&tk.all, &batch);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_answer_clean("a batch", &a);
    let size = s.size();
    let malformed: [(&str, &[u8]); 8] = [
        ("application/json", br#"{"record":"C-OPEN","payload":"SECRET-CLINICAL-M1","#),
        (
            "application/json",
            br#"{"id":"m2","record":"C-OPEN","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload":"a","payload":"SECRET-CLINICAL-M2"}"#,
        ),
        (
            "application/json",
            br#"{"id":"m3","record":"C-OPEN","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload":"x","memo":"SECRET-CLINICAL-M3"}"#,
        ),
        (
            "application/json",
            br#"{"id":"m4","record":"C-OPEN","kind":"SECRET-CLINICAL-M4","occurred_on":"2025-05-03","author":"lic-1","payload":"x"}"#,
        ),
        (
            "application/json",
            br#"{"id":"m5","record":"C-OPEN","kind":"progress_note","occurred_on":"SECRET-CLINICAL-M5","author":"lic-1","payload":"x"}"#,
        ),
        (
            "application/json",
            br#"{"id":"m6","record":"C-OPEN","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload":{"text":"SECRET-CLINICAL-M6"}}"#,
        ),
        (
            "text/plain",
            br#"{"id":"m7","record":"C-OPEN","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload":"SECRET-CLINICAL-M7"}"#,
        ),
        (
            "application/json",
            br#"{"id":"m8","record":"C-OPEN","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload_base64":"SECRET-CLINICAL-M8"}"#,
        ),
    ];
    for (i, (ct, body)) in malformed.iter().enumerate() {
        let a = request(&s.addr, "POST", &events, Some(&tk.all), Some(ct), body);
        assert_eq!(a.status / 100, 4, "malformed body {i}: {}", a.body);
        assert_answer_clean(&format!("malformed body {i}"), &a);
    }
    // Oversized, the needle at its start; and to a client without the scope, and none.
    let mut big = br#"{"id":"m9","record":"C-OPEN","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload":"SECRET-CLINICAL-M9 "#.to_vec();
    big.resize(MAX_BODY + 1024, b'x');
    let a = request(
        &s.addr,
        "POST",
        &events,
        Some(&tk.all),
        Some("application/json"),
        &big,
    );
    assert_eq!(a.status, 413, "{}", a.body);
    assert_answer_clean("an oversized body", &a);
    let body = note("m10", "C-OPEN", "SECRET-CLINICAL-M10").to_string();
    for tok in [
        Some(tk.status.as_str()),
        Some(&tk.expired),
        Some("clt_nope"),
        None,
    ] {
        let a = request(
            &s.addr,
            "POST",
            &events,
            tok,
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(a.status / 100, 4, "{}", a.body);
        assert_answer_clean("an append without the right token", &a);
    }
    assert_eq!(s.size(), size, "a refused request wrote something");

    // Every read route, to every client: granted or refused, nothing clinical.
    let reads = |s: &Served| {
        let size = s.size();
        let t0 = format!("tlog/tile/0/000.p/{size}");
        let te = format!("tlog/tile/entries/000.p/{size}");
        let mut paths: Vec<(&str, String)> = [
            "records?status=open",
            "records?status=eligible",
            "records?status=retained",
            "records?status=destroyed",
            "records/C-OPEN/status",
            "records/C-OLD/status",
            "checkpoint",
            "proofs/inclusion?seq=3",
            "proofs/consistency?from=2",
            "reports/retention",
            "tlog/checkpoint",
            t0.as_str(),
            te.as_str(),
        ]
        .iter()
        .map(|p| ("GET", format!("/v1/ledgers/{LEDGER}/{p}")))
        .collect();
        paths.push(("GET", "/openapi.json".to_owned()));
        for r in ["C-OPEN", "C-OLD", "C-NEW"] {
            paths.push(("POST", format!("/v1/ledgers/{LEDGER}/records/{r}/bundle")));
        }
        let tokens = [
            Some(s.tokens.all.as_str()),
            Some(&s.tokens.status),
            Some(&s.tokens.proofs),
            Some(&s.tokens.report),
            Some(&s.tokens.expired),
            Some("clt_nope"),
            None,
        ];
        let mut granted = 0;
        for (method, p) in &paths {
            for tok in tokens {
                let a = request(&s.addr, method, p, tok, None, b"");
                assert_answer_clean(&format!("{method} {p}"), &a);
                granted += usize::from(a.status == 200);
            }
        }
        // Each route answered someone: the scan read real answers, not only refusals.
        assert!(
            granted >= paths.len(),
            "{granted} of {} granted",
            paths.len()
        );
    };
    reads(&s);

    // The lawful destruction of C-OLD, over HTTP; then everything again.
    let d = json!({"id": "d-old", "record": "C-OLD", "kind": "destruction",
                   "occurred_on": today(), "author": "cust-1", "reason": "retention policy R-7"});
    let a = s.post(&tk.all, &d);
    assert_eq!(a.status, 200, "{}", a.body);
    reads(&s);
    let a = request(
        &s.addr,
        "POST",
        &format!("/v1/ledgers/{LEDGER}/records/C-OLD/bundle"),
        Some(&tk.report),
        None,
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let b = a.json();
    let entries = b["entries"].as_array().unwrap();
    assert!(entries.len() >= 3, "{b}");
    for e in entries {
        assert_eq!(
            (&e["payload"], &e["key"]),
            (&Value::Null, &Value::Null),
            "{e}"
        );
    }
    // A bundle of a live record does carry its (encrypted) payloads: the check above is real.
    let a = request(
        &s.addr,
        "POST",
        &format!("/v1/ledgers/{LEDGER}/records/C-NEW/bundle"),
        Some(&tk.report),
        None,
        b"",
    );
    assert!(a.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["payload"].is_string()));

    // A snapshot after the destruction (admin): among the files scanned below.
    let a = request(
        &s.addr,
        "POST",
        &format!("/v1/ledgers/{LEDGER}/snapshot"),
        Some(&tk.all),
        None,
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_answer_clean("a snapshot", &a);
    assert_eq!(s.stop().code(), Some(0));
    let log = std::fs::read(f.path("serve.log")).unwrap();
    // Trace logging was on: the log is not empty, so the scan below read real lines.
    assert!(log.len() > 1000, "{}", String::from_utf8_lossy(&log));
    assert_clean("the server's log", &log);
    let mut all = Vec::new();
    files(&f.path("L"), &mut all);
    files(&f.path("snaps"), &mut all);
    assert!(all.len() > 3);
    for p in all {
        assert_clean(&p.display().to_string(), &std::fs::read(&p).unwrap());
    }
}
