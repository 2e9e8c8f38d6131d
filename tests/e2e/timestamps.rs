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

/// The token records of `timestamps.log` (renewals skipped): (checkpoint body, DER
/// token). Parsed here from
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
        if rec.starts_with("caseledger-timestamp-renewal/v1\n") {
            continue;
        }
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

/// A TSA configured in the key directory (`timestamp config set`) gets the newest seal
/// after every write, the token verified against the configured chain before it is
/// stored; `status` shows it; a TSA that is down costs a warning line and nothing else.
#[test]
fn a_configured_tsa_timestamps_each_write_and_one_that_is_down_only_warns() {
    let f = Fixture::small();
    let tsa = Arc::new(TestTsa::new(&TsaOptions::default()));
    let ca = tsa.path("ca.pem");
    let (url, server) = tsa.serve(1);
    ok(&f.run(&[
        "timestamp",
        "config",
        "set",
        "--ledger",
        "L",
        "--tsa",
        &url,
        "--tsa-chain",
        ca.to_str().unwrap(),
    ]));
    let shown = ok(&f.run(&["timestamp", "config", "show", "--ledger", "L"]));
    assert!(shown.contains(&format!("url {url}\n")), "{shown}");
    assert!(f.keys().join("tsa.txt").exists());
    let o = f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None);
    ok(&o);
    let size = f.size();
    assert!(
        stderr(&o).contains(&format!("TSA timestamped size {size}: genTime ")),
        "{}",
        stderr(&o)
    );
    server.join().unwrap();
    // `timestamp` without --tsa uses the configured TSA: the seal is already timestamped.
    let again = f.run(&["timestamp", "--ledger", "L"]);
    assert!(
        stderr(&again).contains("already timestamped"),
        "{}",
        stderr(&again)
    );
    ok(&again);
    let tokens = stored(&f);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].0, newest_body(&f));
    assert!(tsa.openssl_verify(&tokens[0].1, tokens[0].0.as_bytes(), &ca, None));
    let st = ok(&f.run(&["status", "--ledger", "L"]));
    assert!(
        st.contains(&format!("timestamp: size {size}, genTime ")),
        "{st}"
    );
    assert!(
        st.contains("up to date (verified against the configured chain)"),
        "{st}"
    );
    // The TSA goes away: the write still succeeds, one warning, nothing stored.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}/tsa");
    ok(&f.run(&[
        "timestamp",
        "config",
        "set",
        "--ledger",
        "L",
        "--tsa",
        &down,
        "--tsa-chain",
        ca.to_str().unwrap(),
    ]));
    let o = f.append("lic-1", "C-OPEN", "contact", "2025-06-03", None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "caseledger: warning: the TSA ({down}) gave no token"
        )),
        "{err}"
    );
    assert!(!err.contains("SECRET"), "{err}");
    assert_eq!(stored(&f).len(), 1);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&f.run(&["--json", "status", "--ledger", "L"]))).unwrap();
    assert_eq!(v["timestamp"]["size"], size);
    assert_eq!(v["timestamp"]["behind"], 1);
    assert_eq!(v["timestamp"]["chain_verified"], true);
    ok(&f.run(&["timestamp", "config", "remove", "--ledger", "L"]));
    assert!(!f.keys().join("tsa.txt").exists());
}

/// `date -u` `days` days from now, as faketime and the test TSA take it.
fn days_from_now(days: i64) -> String {
    let o = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .expect("date");
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// RFC 4998's idea: a token whose TSA certificate has since expired still stands through
/// a renewal obtained before the expiry (a new token over the old token's DER and the
/// seal), checked link by link by `timestamp verify`; a renewal whose genTime is after the
/// expiry is refused and not stored.
#[test]
fn a_renewal_before_expiry_keeps_an_expired_token_and_a_late_one_is_refused() {
    let f = Fixture::small();
    // TSA 1's certificate: issued 400 days ago for 365 days (expired 35 days ago).
    let mut tsa1 = TestTsa::new(&TsaOptions {
        ca_at: Some(days_from_now(-500)),
        tsa_at: Some(days_from_now(-400)),
        tsa_days: 365,
        ..TsaOptions::default()
    });
    tsa1.clock = Some(days_from_now(-380));
    // TSA 2's: issued 200 days ago for 365 days (valid 165 days more).
    let mut tsa2 = TestTsa::new(&TsaOptions {
        ca_at: Some(days_from_now(-500)),
        tsa_at: Some(days_from_now(-200)),
        tsa_days: 365,
        ..TsaOptions::default()
    });
    tsa2.clock = Some(days_from_now(-100));
    let chain = [
        std::fs::read(tsa1.path("ca.pem")).unwrap(),
        std::fs::read(tsa2.path("ca.pem")).unwrap(),
    ]
    .concat();
    let chain = f.write("chain.pem", &chain);
    let chain = chain.to_str().unwrap();
    let tsa1 = Arc::new(tsa1);
    let (url1, s1) = tsa1.serve(1);
    ok(&f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &url1,
        "--tsa-chain",
        chain,
    ]));
    s1.join().unwrap();
    let verify = |f: &Fixture| -> serde_json::Value {
        let o = f.run(&[
            "--json",
            "timestamp",
            "verify",
            "--ledger",
            "L",
            "--tsa-chain",
            chain,
        ]);
        serde_json::from_str(&ok(&o)).unwrap()
    };
    let v = verify(&f);
    assert_eq!(
        (
            v["tokens"][0]["expired"].as_bool(),
            v["tokens"][0]["renewed"].as_bool()
        ),
        (Some(true), Some(false))
    );
    // Run `renew` as it would have run 100 days ago (the CLI's clock and TSA 2's): the
    // token's certificate expires within 90 days, so it is renewed.
    let tsa2 = Arc::new(tsa2);
    let (url2, s2) = tsa2.serve(1);
    let faked = std::process::Command::new("faketime")
        .arg(days_from_now(-100))
        .arg(caseledger_testkit::cli::caseledger_bin())
        .args([
            "timestamp",
            "renew",
            "--ledger",
            "L",
            "--tsa",
            &url2,
            "--tsa-chain",
            chain,
        ])
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .output()
        .expect("faketime runs");
    assert!(
        stderr(&faked).contains("1 token renewed, 0 not due"),
        "{}",
        stderr(&faked)
    );
    ok(&faked);
    s2.join().unwrap();
    // The renewal record: its token is over the old token's DER followed by the seal's
    // body, as docs/FORMAT.md says, and openssl agrees.
    let log = std::fs::read_to_string(f.ledger().join("timestamps.log")).unwrap();
    let rec = log
        .split("caseledger-timestamp-renewal/v1\n")
        .nth(1)
        .expect("a renewal record");
    let (body, tokens) = rec.split_once("\n\n").unwrap();
    let mut lines = tokens.lines();
    let b64 = base64::engine::general_purpose::STANDARD;
    let old = b64.decode(lines.next().unwrap()).unwrap();
    let new = b64.decode(lines.next().unwrap()).unwrap();
    let original = stored(&f);
    assert_eq!(old, original[0].1);
    let data = [old.as_slice(), format!("{body}\n").as_bytes()].concat();
    assert!(tsa2.openssl_verify(&new, &data, &tsa2.path("ca.pem"), None));
    let v = verify(&f);
    assert_eq!(v["tokens"][0]["renewed"], true);
    assert_eq!(v["renewals"][0]["ok"], true);
    // A renewal whose genTime is after the old certificate's expiry: a second seal's token
    // from TSA 1 forty days ago (5 days before its expiry), renewed by a TSA whose clock is
    // 30 days ago (after it). Refused, exit 1, nothing stored.
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None));
    let mut tsa1b = Arc::try_unwrap(tsa1).ok().expect("one owner");
    tsa1b.clock = Some(days_from_now(-40));
    let tsa1b = Arc::new(tsa1b);
    let (url1, s1) = tsa1b.serve(1);
    ok(&f.run(&[
        "timestamp",
        "--ledger",
        "L",
        "--tsa",
        &url1,
        "--tsa-chain",
        chain,
    ]));
    s1.join().unwrap();
    let mut tsa2b = Arc::try_unwrap(tsa2).ok().expect("one owner");
    tsa2b.clock = Some(days_from_now(-30));
    let tsa2b = Arc::new(tsa2b);
    let (url2, s2) = tsa2b.serve(1);
    let before = std::fs::read(f.ledger().join("timestamps.log")).unwrap();
    let late = std::process::Command::new("faketime")
        .arg(days_from_now(-38))
        .arg(caseledger_testkit::cli::caseledger_bin())
        .args([
            "timestamp",
            "renew",
            "--ledger",
            "L",
            "--tsa",
            &url2,
            "--tsa-chain",
            chain,
        ])
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .output()
        .expect("faketime runs");
    s2.join().unwrap();
    assert_eq!(late.status.code(), Some(1), "{}", stderr(&late));
    assert!(
        stderr(&late).contains("is after the token's certificates expired"),
        "{}",
        stderr(&late)
    );
    assert_eq!(
        std::fs::read(f.ledger().join("timestamps.log")).unwrap(),
        before
    );
    // Now (real time) that token's certificate has expired: too late, nothing is asked.
    let o = f.run(&[
        "timestamp",
        "renew",
        "--ledger",
        "L",
        "--tsa",
        "http://127.0.0.1:1/",
        "--tsa-chain",
        chain,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("too late to renew"), "{}", stderr(&o));
    // A renewal's stored token tampered with: refused by `timestamp verify`.
    let mut bytes = std::fs::read(f.ledger().join("timestamps.log")).unwrap();
    let at = log.find("caseledger-timestamp-renewal/v1\n").unwrap() + rec.len() - 100;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(f.ledger().join("timestamps.log"), &bytes).unwrap();
    let o = f.run(&["timestamp", "verify", "--ledger", "L", "--tsa-chain", chain]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("renewal refused"), "{}", stderr(&o));
}
