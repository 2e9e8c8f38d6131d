//! Issue 15, `caseledger serve` as a child process on loopback, driven over real HTTP/1.1
//! (a few lines of std `TcpStream`, so malformed requests can be sent as they are):
//! appends with receipts, idempotent retries under a client event id, status, seal and
//! proofs; every scope refused without it; malformed requests answered 4xx with nothing
//! written; `503` + `Retry-After` when the ledger is held elsewhere or a body never arrives;
//! a snapshot verified while appends go on; graceful shutdown with an append in flight
//! answered and durable.

use caseledger_testkit::cli::{caseledger_bin, ok, stderr, stdout, today, Fixture};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A new client token from `caseledger serve --new-token`: (token, its SHA-256 hex).
fn new_token(f: &Fixture) -> (String, String) {
    let out = ok(&f.run(&["serve", "--new-token"]));
    let mut l = out.lines();
    let token = l.next().unwrap().to_owned();
    let hash = l.next().unwrap().to_owned();
    assert!(token.starts_with("clt_") && hash.len() == 64, "{out}");
    (token, hash)
}

/// The tokens of the test config: one client per role.
struct Tokens {
    /// append (may have the server sign as lic-1), read-status, read-proofs, admin.
    all: String,
    /// read-status only.
    status: String,
    /// read-proofs only.
    proofs: String,
    /// append only, pre-signed events only (no sign_as).
    append_presigned: String,
    /// append, may have the server sign as lic-1 and cust-1, but no admin scope.
    no_admin: String,
}

/// A running `caseledger serve`.
struct Served {
    child: Child,
    addr: String,
    tokens: Tokens,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LEDGER: &str = "practice";
/// The test server's body limit.
const MAX_BODY: usize = 256 * 1024;

fn serve(f: &Fixture) -> Served {
    serve_with(f, "")
}

/// [`serve`] with more `[limits]` lines.
fn serve_with(f: &Fixture, limits: &str) -> Served {
    let (all, all_h) = new_token(f);
    let (status, status_h) = new_token(f);
    let (proofs, proofs_h) = new_token(f);
    let (pre, pre_h) = new_token(f);
    let (no_admin, no_admin_h) = new_token(f);
    let config = format!(
        r#"listen = "127.0.0.1:0"
[limits]
max_body_bytes = {MAX_BODY}
idle_close_secs = 1
{limits}
[ledgers.{LEDGER}]
dir = "L"
keys = "{keys}"
snapshots = "snaps"
[[clients]]
name = "ehr"
token_sha256 = "{all_h}"
scopes = ["append", "read-status", "read-proofs", "admin"]
sign_as = ["lic-1", "cust-1"]
[[clients]]
name = "no-admin"
token_sha256 = "{no_admin_h}"
scopes = ["append", "read-status"]
sign_as = ["lic-1", "cust-1"]
[[clients]]
name = "status-only"
token_sha256 = "{status_h}"
scopes = ["read-status"]
[[clients]]
name = "proofs-only"
token_sha256 = "{proofs_h}"
scopes = ["read-proofs"]
[[clients]]
name = "presigned-only"
token_sha256 = "{pre_h}"
scopes = ["append"]
"#,
        keys = f.keys().display()
    );
    f.write("serve.toml", config.as_bytes());
    let mut child = std::process::Command::new(caseledger_bin())
        .args(["serve", "--config", "serve.toml"])
        .current_dir(f.dir())
        .env_remove("CASELEDGER_KEYS")
        .env_remove("CASELEDGER_PASSPHRASE_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(f.path("serve.log")).unwrap(),
        ))
        .spawn()
        .expect("caseledger serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_owned();
    Served {
        child,
        addr,
        tokens: Tokens {
            all,
            status,
            proofs,
            append_presigned: pre,
            no_admin,
        },
    }
}

/// An answer: status, headers (lowercase names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The error kind of a JSON error answer.
    fn kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// One request on its own connection; `path` is sent exactly as given.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(c) = content_type {
        head.push_str(&format!("Content-Type: {c}\r\n"));
    }
    head.push_str("\r\n");
    // The server may answer (413) before reading the whole body: a failed write is fine.
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

impl Served {
    fn post(&self, token: &str, body: &Value) -> Answer {
        request(
            &self.addr,
            "POST",
            &format!("/v1/ledgers/{LEDGER}/events"),
            Some(token),
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }
    fn get(&self, token: Option<&str>, path: &str) -> Answer {
        request(&self.addr, "GET", path, token, None, b"")
    }
    /// The ledger's size, from its newest seal (every commit is sealed).
    fn size(&self) -> u64 {
        let a = self.get(
            Some(&self.tokens.all),
            &format!("/v1/ledgers/{LEDGER}/checkpoint"),
        );
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()["size"].as_u64().unwrap()
    }
    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        ok(&std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .output()
            .unwrap());
        self.child.wait().unwrap()
    }
}

fn note(id: &str, record: &str, payload: &str) -> Value {
    json!({"id": id, "record": record, "kind": "progress_note", "occurred_on": "2025-05-03",
           "author": "lic-1", "payload": payload})
}

#[test]
fn appends_are_durable_idempotent_and_proved() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = s.tokens.all.clone();
    let before = s.size();
    // One event: a receipt with its seq, entry hash and the seal covering it.
    let a = s.post(&t, &note("ehr-1", "C-OPEN", "first SECRET-CLINICAL-S1"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a
        .header("x-request-id")
        .is_some_and(|v| v.starts_with("r-")));
    let r = a.json()["receipts"][0].clone();
    assert_eq!(r["seq"].as_u64(), Some(before));
    assert_eq!(r["replayed"], json!(false));
    assert_eq!(r["hash"].as_str().unwrap().len(), 64);
    let seal = r["seal"].as_str().unwrap().to_owned();
    assert!(seal.contains(&format!("\n{}\n", before + 1)), "{seal}");
    // The retry: the original receipt, byte for byte, and nothing appended.
    let again = s.post(&t, &note("ehr-1", "C-OPEN", "first SECRET-CLINICAL-S1"));
    assert_eq!(again.status, 200, "{}", again.body);
    let r2 = again.json()["receipts"][0].clone();
    assert_eq!(r2["replayed"], json!(true));
    for k in ["seq", "hash", "recorded_at_us", "seal"] {
        assert_eq!(r2[k], r[k], "{k}");
    }
    assert_eq!(s.size(), before + 1);
    // Other content under the same id: 409, nothing written, the content not echoed.
    let c = s.post(&t, &note("ehr-1", "C-OPEN", "changed SECRET-CLINICAL-S2"));
    assert_eq!(
        (c.status, c.kind().as_str()),
        (409, "conflict"),
        "{}",
        c.body
    );
    assert!(!c.body.contains("SECRET") && !c.body.contains("ehr-1"));
    assert_eq!(s.size(), before + 1);
    // A batch: one repeat, two new (one given twice: one event).
    let b = s.post(
        &t,
        &json!({"events": [
            note("ehr-1", "C-OPEN", "first SECRET-CLINICAL-S1"),
            note("ehr-2", "C-OPEN", "second"),
            {"record": "C-OPEN", "kind": "contact", "occurred_on": "2025-05-04", "author": "lic-1"},
            note("ehr-2", "C-OPEN", "second"),
        ]}),
    );
    assert_eq!(b.status, 200, "{}", b.body);
    let rs = b.json()["receipts"].as_array().unwrap().clone();
    assert_eq!(rs.len(), 4);
    assert_eq!(rs[0]["seq"], r["seq"]);
    assert_eq!(rs[0]["replayed"], json!(true));
    assert_eq!(rs[1]["seq"].as_u64(), Some(before + 1));
    assert_eq!(rs[2]["seq"].as_u64(), Some(before + 2));
    assert_eq!(rs[3]["seq"], rs[1]["seq"]);
    assert_eq!(s.size(), before + 3);
    // Status, seal, proofs.
    let st = s.get(
        Some(&t),
        &format!("/v1/ledgers/{LEDGER}/records/C-OPEN/status"),
    );
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(st.json()["status"], json!("open"));
    let gone = s.get(
        Some(&t),
        &format!("/v1/ledgers/{LEDGER}/records/C-NONE/status"),
    );
    assert_eq!(gone.status, 404);
    let cp = s.get(Some(&t), &format!("/v1/ledgers/{LEDGER}/checkpoint"));
    let note_text = cp.json()["note"].as_str().unwrap().to_owned();
    let root_line = note_text.lines().nth(2).unwrap().to_owned();
    let size = before + 3;
    let inc = s.get(
        Some(&t),
        &format!("/v1/ledgers/{LEDGER}/proofs/inclusion?seq={before}&size={size}"),
    );
    assert_eq!(inc.status, 200, "{}", inc.body);
    let inc = inc.json();
    assert_eq!(inc["root"].as_str(), Some(root_line.as_str()));
    assert_eq!(inc["entry_hash"], r["hash"]);
    assert!(!inc["proof"].as_array().unwrap().is_empty());
    let con = s.get(
        Some(&t),
        &format!("/v1/ledgers/{LEDGER}/proofs/consistency?from={before}&to={size}"),
    );
    assert_eq!(con.status, 200, "{}", con.body);
    assert_eq!(con.json()["root2"].as_str(), Some(root_line.as_str()));
    let bad = s.get(
        Some(&t),
        &format!("/v1/ledgers/{LEDGER}/proofs/inclusion?seq={size}"),
    );
    assert_eq!((bad.status, bad.kind().as_str()), (400, "bad_request"));
    // The log names clients and routes, never payloads, ids or record ids.
    assert_eq!(s.stop().code(), Some(0));
    let log = std::fs::read_to_string(f.path("serve.log")).unwrap();
    assert!(
        log.contains("client=ehr") && log.contains("/v1/ledgers/{name}/events"),
        "{log}"
    );
    for secret in ["SECRET", "ehr-1", "C-OPEN"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
    // What the server acknowledged is in the ledger, and it verifies.
    assert_eq!(f.size(), size);
}

#[test]
fn every_route_needs_its_scope_and_a_valid_token() {
    let f = Fixture::small();
    let s = serve(&f);
    let tk = &s.tokens;
    let status = format!("/v1/ledgers/{LEDGER}/records/C-OPEN/status");
    let cp = format!("/v1/ledgers/{LEDGER}/checkpoint");
    let inc = format!("/v1/ledgers/{LEDGER}/proofs/inclusion?seq=1");
    let con = format!("/v1/ledgers/{LEDGER}/proofs/consistency?from=1");
    let before = s.size();
    // No token, a wrong token: 401 on every route.
    for tok in [None, Some("clt_wrong")] {
        for p in [&status, &cp, &inc, &con] {
            let a = s.get(tok, p);
            assert_eq!((a.status, a.kind().as_str()), (401, "unauthorized"), "{p}");
        }
        let a = request(
            &s.addr,
            "POST",
            &format!("/v1/ledgers/{LEDGER}/events"),
            tok,
            Some("application/json"),
            note("x", "C-OPEN", "n").to_string().as_bytes(),
        );
        assert_eq!(a.status, 401);
    }
    // Each scope's route with a token lacking it: 403; with it: 200.
    let forbidden = |tok: &str, p: &str| {
        let a = s.get(Some(tok), p);
        assert_eq!(
            (a.status, a.kind().as_str()),
            (403, "forbidden"),
            "{p}: {}",
            a.body
        );
    };
    forbidden(&tk.proofs, &status);
    forbidden(&tk.append_presigned, &status);
    assert_eq!(s.get(Some(&tk.status), &status).status, 200);
    for p in [&cp, &inc, &con] {
        forbidden(&tk.status, p);
        forbidden(&tk.append_presigned, p);
        assert_eq!(s.get(Some(&tk.proofs), p).status, 200, "{p}");
    }
    for tok in [&tk.status, &tk.proofs] {
        let a = s.post(tok, &note("x", "C-OPEN", "n"));
        assert_eq!((a.status, a.kind().as_str()), (403, "forbidden"));
    }
    // admin: the snapshot route.
    let snap = format!("/v1/ledgers/{LEDGER}/snapshot");
    for tok in [&tk.status, &tk.proofs, &tk.append_presigned] {
        let a = request(&s.addr, "POST", &snap, Some(tok), None, b"");
        assert_eq!(a.status, 403);
    }
    // append without sign_as: the server signs nothing for it (a pre-signed event only).
    let a = s.post(&tk.append_presigned, &note("x", "C-OPEN", "n"));
    assert_eq!(
        (a.status, a.kind().as_str()),
        (403, "forbidden"),
        "{}",
        a.body
    );
    assert_eq!(a.json()["error"]["line"], json!(1));
    // and with sign_as, not for another author.
    let mut other = note("y", "C-OPEN", "n");
    other["author"] = json!("lic-2");
    let a = s.post(&tk.all, &other);
    assert_eq!(a.status, 403, "{}", a.body);
    // Holds, destruction and revocation need admin, even with the custodian in sign_as.
    let hold = json!({"record": "C-OPEN", "kind": "hold_placed", "occurred_on": "2025-05-03",
                      "author": "cust-1", "matter": "SC-2025-1"});
    let destroy = json!({"record": "C-OLD", "kind": "destruction", "occurred_on": today(),
                         "author": "cust-1", "reason": "retention policy"});
    for body in [&hold, &destroy] {
        let a = s.post(&tk.no_admin, body);
        assert_eq!(
            (a.status, a.kind().as_str()),
            (403, "forbidden"),
            "{}",
            a.body
        );
    }
    assert_eq!(s.size(), before);
    // With admin: the hold is in force, the lawful destruction done.
    assert_eq!(s.post(&tk.all, &hold).status, 200);
    let st = s.get(Some(&tk.status), &status);
    assert_eq!(st.json()["status"], json!("on_hold"), "{}", st.body);
    assert_eq!(st.json()["holds"], json!(["SC-2025-1"]));
    let a = s.post(&tk.all, &destroy);
    assert_eq!(a.status, 200, "{}", a.body);
    let st = s.get(
        Some(&tk.status),
        &format!("/v1/ledgers/{LEDGER}/records/C-OLD/status"),
    );
    assert_eq!(
        st.json()["status"],
        json!("destroyed_lawfully"),
        "{}",
        st.body
    );
    assert_eq!(s.size(), before + 2);
}

#[test]
fn malformed_requests_are_4xx_and_write_nothing() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = s.tokens.all.clone();
    let events = format!("/v1/ledgers/{LEDGER}/events");
    let before = s.size();
    let post = |path: &str, ct: Option<&str>, body: &[u8]| {
        request(&s.addr, "POST", path, Some(&t), ct, body)
    };
    let good = note("m-1", "C-OPEN", "n").to_string();
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "oversized body",
            post(&events, Some("application/json"), &vec![b' '; MAX_BODY + 1]),
            413,
            "payload_too_large",
        ),
        (
            "bad JSON",
            post(&events, Some("application/json"), b"{\"record\": "),
            400,
            "bad_request",
        ),
        (
            "unknown field",
            post(
                &events,
                Some("application/json"),
                good.replace("\"id\"", "\"colour\":1,\"id\"").as_bytes(),
            ),
            400,
            "bad_request",
        ),
        (
            "unknown field beside a batch",
            post(
                &events,
                Some("application/json"),
                format!("{{\"events\":[{good}],\"x\":1}}").as_bytes(),
            ),
            400,
            "bad_request",
        ),
        (
            "wrong content type",
            post(&events, Some("text/plain"), good.as_bytes()),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            post(&events, None, good.as_bytes()),
            415,
            "unsupported_media_type",
        ),
        (
            "path traversal, encoded",
            post(
                "/v1/ledgers/..%2F..%2Fetc/events",
                Some("application/json"),
                good.as_bytes(),
            ),
            400,
            "bad_request",
        ),
        (
            "a ledger name that is a path",
            post("/v1/ledgers/%2Ftmp/events", Some("application/json"), good.as_bytes()),
            400,
            "bad_request",
        ),
        (
            "a ledger not served",
            post("/v1/ledgers/other/events", Some("application/json"), good.as_bytes()),
            404,
            "not_found",
        ),
        (
            "path traversal, raw",
            post("/v1/ledgers/../../etc/events", Some("application/json"), good.as_bytes()),
            404,
            "not_found",
        ),
        (
            "a batch with one bad event",
            post(
                &events,
                Some("application/json"),
                format!("{{\"events\":[{good},{{\"record\":\"C-OPEN\",\"kind\":\"nonsense\",\"occurred_on\":\"2025-05-03\",\"author\":\"lic-1\"}}]}}").as_bytes(),
            ),
            400,
            "bad_request",
        ),
        (
            "an event the ledger's rules refuse",
            post(
                &events,
                Some("application/json"),
                note("m-2", "C-NEVER-OPENED", "n").to_string().as_bytes(),
            ),
            422,
            "refused",
        ),
    ];
    for (what, a, status, kind) in cases {
        assert_eq!(a.status, status, "{what}: {}", a.body);
        assert_eq!(a.kind(), kind, "{what}: {}", a.body);
        assert!(
            a.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{what}"
        );
    }
    let line = post(
        &events,
        Some("application/json"),
        format!("{{\"events\":[{good},{{\"kind\":\"progress_note\"}}]}}").as_bytes(),
    );
    assert_eq!(line.json()["error"]["line"], json!(2), "{}", line.body);
    assert_eq!(s.size(), before, "nothing was written");
    assert_eq!(s.post(&t, &note("m-1", "C-OPEN", "n")).status, 200);
    assert_eq!(s.size(), before + 1);
}

#[test]
fn a_snapshot_verifies_while_appends_go_on_and_shutdown_finishes_appends_in_flight() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = s.tokens.all.clone();
    let addr = s.addr.clone();
    let before = s.size();
    // A writer appends one event per request while the auditor takes a snapshot.
    let writer = {
        let (addr, t) = (addr.clone(), t.clone());
        std::thread::spawn(move || {
            for i in 0..30 {
                let body = note(&format!("w-{i}"), "C-OPEN", "n").to_string();
                let a = request(
                    &addr,
                    "POST",
                    &format!("/v1/ledgers/{LEDGER}/events"),
                    Some(&t),
                    Some("application/json"),
                    body.as_bytes(),
                );
                assert_eq!(a.status, 200, "{}", a.body);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // The live directory is the server's (a verifier is told it is in use, exit 3)...
    let live = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(live.status.code(), Some(3), "{}", stderr(&live));
    assert!(stderr(&live).contains("in use"), "{}", stderr(&live));
    // ...a snapshot taken meanwhile verifies clean.
    let snap = request(
        &addr,
        "POST",
        &format!("/v1/ledgers/{LEDGER}/snapshot"),
        Some(&t),
        None,
        b"",
    );
    assert_eq!(snap.status, 200, "{}", snap.body);
    let snap = snap.json();
    let path = snap["path"].as_str().unwrap().to_owned();
    assert!(snap["size"].as_u64().unwrap() >= before);
    let v = f.run(&["--json", "verify", "--ledger", &path]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    writer.join().unwrap();
    assert_eq!(s.size(), before + 30);
    // A batch in flight when SIGTERM arrives is completed and answered.
    let batch: Vec<Value> = (0..400)
        .map(|i| note(&format!("b-{i}"), "C-OPEN", "n"))
        .collect();
    let flight = {
        let (addr, t) = (addr.clone(), t.clone());
        let body = json!({ "events": batch }).to_string();
        std::thread::spawn(move || {
            request(
                &addr,
                "POST",
                &format!("/v1/ledgers/{LEDGER}/events"),
                Some(&t),
                Some("application/json"),
                body.as_bytes(),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    let code = s.stop();
    let a = flight.join().unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["receipts"].as_array().unwrap().len(), 400);
    assert_eq!(code.code(), Some(0));
    assert_eq!(f.size(), before + 430);
}

#[test]
fn a_ledger_held_by_another_process_is_busy_with_retry_after() {
    let f = Fixture::small();
    let s = serve(&f);
    // The server has not opened it yet; this process holds it (as a long CLI command would).
    let held = caseledger_store::Ledger::open(f.ledger(), caseledger_store::OpenOptions::default())
        .unwrap();
    let a = s.post(&s.tokens.all, &note("h-1", "C-OPEN", "n"));
    assert_eq!((a.status, a.kind().as_str()), (503, "busy"), "{}", a.body);
    assert_eq!(a.header("retry-after"), Some("1"));
    let size = held.head().size;
    held.close().unwrap();
    // The retry goes through, once.
    let a = s.post(&s.tokens.all, &note("h-1", "C-OPEN", "n"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["receipts"][0]["seq"].as_u64(), Some(size));
    assert_eq!(s.size(), size + 1);
}

#[test]
fn a_request_whose_body_never_arrives_times_out_with_retry_after_and_writes_nothing() {
    let f = Fixture::small();
    let s = serve_with(&f, "request_timeout_secs = 1");
    let before = s.size();
    // Headers announce 200 bytes; 10 arrive, then nothing.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v1/ledgers/{LEDGER}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"record\":",
        s.tokens.all
    );
    c.write_all(head.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 503"), "{text}");
    assert!(
        text.contains("retry-after: 1") && text.contains("\"busy\""),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(c);
    assert_eq!(s.size(), before);
}

/// examples/python/caseledger_client.py (standard library only) against the real server:
/// append, a retry answered with the original receipt, status, the inclusion proof checked
/// in Python against the seal, a conflicting retry refused.
#[test]
fn the_python_client_example_runs_against_the_server() {
    let f = Fixture::small();
    let s = serve(&f);
    let before = s.size();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/python/caseledger_client.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([
            &format!("http://{}", s.addr),
            &s.tokens.all,
            LEDGER,
            "C-OPEN",
            "lic-1",
        ])
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("verified") && text.contains("refused (409)"),
        "{text}"
    );
    assert_eq!(s.size(), before + 1);
}
