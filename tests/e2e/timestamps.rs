//! `caseledger timestamp`: an RFC 3161 token over the newest seal from a test TSA
//! (`openssl ts -reply` behind a loopback HTTP server), appended to `timestamps.log`;
//! `timestamp verify` checks the stored tokens against the relying party's roots; the stored
//! token verifies with `openssl ts -verify` too.

use crate::tls;
use base64::Engine;
use caseledger_testkit::cli::{fails, ok, stderr, stdout, Fixture};
use caseledger_testkit::tsa::{TestTsa, TsaOptions};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

/// The records of `timestamps.log`: (checkpoint body, DER token). Parsed here from
/// docs/FORMAT.md's description, independently of the crate that writes it.
fn stored(f: &Fixture) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(f.ledger().join("timestamps.log")).expect("timestamps.log");
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').expect("length line");
        let len: usize = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
        let rec = std::str::from_utf8(&rest[nl + 1..nl + 1 + len]).unwrap();
        rest = &rest[nl + 1 + len..];
        let rec = rec
            .strip_prefix("caseledger-timestamp/v1\n")
            .expect("header");
        let (body, b64) = rec.split_once("\n\n").expect("blank line");
        let token = base64::engine::general_purpose::STANDARD
            .decode(b64.trim_end_matches('\n'))
            .expect("base64");
        out.push((format!("{body}\n"), token));
    }
    out
}

/// The newest seal's checkpoint body (the note text before its blank line).
fn newest_body(f: &Fixture) -> String {
    let note = ok(&f.run(&["checkpoint", "--ledger", "L"]));
    let (body, _) = note.split_once("\n\n").expect("a note");
    format!("{body}\n")
}

#[test]
fn tokens_over_seals_are_stored_verified_offline_and_refused_when_untrusted_or_tampered() {
    let f = Fixture::small();
    let tsa = Arc::new(TestTsa::new(&TsaOptions::default()));
    let ca = tsa.path("ca.pem");
    let ca = ca.to_str().unwrap();
    // Two real requests: the first seal, then a later one. A repeat for a seal already
    // timestamped sends nothing.
    let (url, server) = tsa.serve(2);
    let first = f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &url,
        "--tsa-chain",
        ca,
    ]);
    assert!(
        stderr(&first).contains("(chain verified)"),
        "{}",
        stderr(&first)
    );
    ok(&first);
    let log = f.ledger().join("timestamps.log");
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = f.run(&["timestamp", "--ledger", "L", "--tsa", &url]);
    assert!(stderr(&again).contains("already timestamped"));
    ok(&again);
    assert_eq!(stored(&f).len(), 1);
    let body1 = newest_body(&f);
    ok(&f.append("lic-1", "C-OPEN", "progress_note", "2025-05-03", None));
    let body2 = newest_body(&f);
    assert_ne!(body1, body2);
    let out = ok(&f.run(&["--json", "timestamp", "--ledger", "L", "--tsa", &url]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["new"].as_bool(), v["chain_verified"].as_bool()),
        (Some(true), Some(false))
    );
    server.join().unwrap();

    // Each stored token is over exactly the seal's checkpoint body, and openssl agrees.
    let tokens = stored(&f);
    assert_eq!(
        tokens.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        [body1.as_str(), body2.as_str()]
    );
    for (body, token) in &tokens {
        assert!(tsa.openssl_verify(token, body.as_bytes(), &tsa.path("ca.pem"), None));
    }

    // A snapshot (evidence copy) carries the tokens, and they verify there.
    ok(&f.run(&["snapshot", "--ledger", "L", "S"]));
    assert_eq!(
        std::fs::read(f.path("S").join("timestamps.log")).unwrap(),
        std::fs::read(&log).unwrap()
    );
    ok(&f.run(&["timestamp", "verify", "--ledger", "S", "--tsa-chain", ca]));

    // Offline verification with the relying party's roots: genTime per seal size.
    let o = f.run(&[
        "--json",
        "timestamp",
        "verify",
        "--ledger",
        "L",
        "--tsa-chain",
        ca,
    ]);
    let report = ok(&o);
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    let sizes: Vec<u64> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [f.size() - 1, f.size()]);
    assert!(stderr(&o).contains("2 time-stamp tokens verified"));

    // Roots the auditor does not share: every token refused, exit 1.
    let stranger = TestTsa::new(&TsaOptions::default());
    let other_ca = stranger.path("ca.pem");
    let o = f.run(&[
        "timestamp",
        "verify",
        "--ledger",
        "L",
        "--tsa-chain",
        other_ca.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("untrusted TSA certificate"),
        "{}",
        stderr(&o)
    );

    // Tamper with the stored bytes: one base64 character of the second token.
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.len() - 200;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&log, &bytes).unwrap();
    let o = f.run(&["timestamp", "verify", "--ledger", "L", "--tsa-chain", ca]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("token refused"));
    assert!(stderr(&o).contains("1 of 2 time-stamp tokens refused"));
    assert!(stdout(&o).is_empty());
}

#[test]
fn a_tsa_that_is_down_or_not_http_writes_nothing() {
    let f = Fixture::small();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}/");
    let line = fails(&f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &down,
        "--timeout-secs",
        "5",
    ]));
    assert!(line.contains("TSA request to"), "{line}");
    let line = fails(&f.run(&["timestamp", "--ledger", "L", "--tsa", "ftp://127.0.0.1:1/"]));
    assert!(line.contains("only http:// and https://"), "{line}");
    assert!(!f.ledger().join("timestamps.log").exists());
    let line = fails(&f.run(&[
        "timestamp",
        "verify",
        "--ledger",
        "L",
        "--tsa-chain",
        "missing.pem",
    ]));
    assert!(line.contains("TSA chain"), "{line}");
}

#[test]
fn an_https_tsa_behind_a_private_ca_is_reached_only_with_tls_roots() {
    let f = Fixture::small();
    let tsa = Arc::new(TestTsa::new(&TsaOptions::default()));
    let chain = tsa.path("ca.pem");
    let chain = chain.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = tls::TestPki::new(dir.path());
    let tls_ca = pki.ca_pem.to_str().unwrap();
    // Mozilla's roots do not hold the test CA: a certificate error, exit 2, nothing written.
    let (port, server) = tls::serve_once(&pki, |_, _| (500, String::new(), vec![]));
    let url = format!("https://127.0.0.1:{port}/");
    let line = fails(&f.run(&["timestamp", "--ledger", "L", "--tsa", &url]));
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(server.join().unwrap().is_err(), "no request got through");
    assert!(!f.ledger().join("timestamps.log").exists());
    // With the CA as --tls-roots, the test TSA's token comes back over TLS and is stored.
    let t = tsa.clone();
    let (port, server) = tls::serve_once(&pki, move |_, query| {
        (200, "application/timestamp-reply".into(), t.reply(query))
    });
    let url = format!("https://127.0.0.1:{port}/");
    ok(&f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &url,
        "--tls-roots",
        tls_ca,
        "--tsa-chain",
        chain,
    ]));
    server.join().unwrap().unwrap();
    let tokens = stored(&f);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].0, newest_body(&f));
    // A --tls-roots file without a certificate is refused before anything is sent.
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let empty = dir.path().join("empty.pem");
    let line = fails(&f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &url,
        "--tls-roots",
        empty.to_str().unwrap(),
    ]));
    assert!(line.contains("--tls-roots"), "{line}");
}
