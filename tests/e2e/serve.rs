//! Issue 15, `caseledger serve` as a child process on loopback, driven over real HTTP/1.1
//! (a few lines of std `TcpStream`, so malformed requests can be sent as they are):
//! appends with receipts, idempotent retries under a client event id, status, seal and
//! proofs; every scope refused without it; malformed requests answered 4xx with nothing
//! written; `503` + `Retry-After` when the ledger is held elsewhere or a body never arrives;
//! a snapshot verified while appends go on; graceful shutdown with an append in flight
//! answered and durable; destruction dry runs, records by status, actor enrolment with a
//! given public key (signed by the server, or pre-signed by an admin whose key is not on the
//! server) and revocation, each behind its scope; HTTPS with a certificate made in the test
//! (trusted, untrusted, plain HTTP to the TLS port, the connection cap and header timeout
//! under TLS, a key file others can read refused).

use caseledger_testkit::cli::{caseledger_bin, ok, stderr, stdout, today, Fixture};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

mod insider;
mod lone;
mod privacy;
mod schema;

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
    /// append (may have the server sign as lic-1, cust-1, admin), read-status, read-proofs,
    /// admin.
    all: String,
    /// read-status only.
    status: String,
    /// read-proofs only.
    proofs: String,
    /// append only, pre-signed events only (no sign_as).
    append_presigned: String,
    /// append, may have the server sign as lic-1, cust-1 and admin, but no admin scope.
    no_admin: String,
    /// report only (evidence bundles); `all` lacks it.
    report: String,
    /// every scope, but expired in 2020.
    expired: String,
    /// read-status, at most one request per second.
    paced: String,
    /// admin only, signs nothing through the server (no sign_as): an admin whose key is
    /// kept offline.
    offline_admin: String,
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
    serve_env(f, limits, &[])
}

/// [`serve_with`], the server run with more environment variables (e.g. `RUST_LOG`).
fn serve_env(f: &Fixture, limits: &str, env: &[(&str, &str)]) -> Served {
    let (all, all_h) = new_token(f);
    let (status, status_h) = new_token(f);
    let (proofs, proofs_h) = new_token(f);
    let (pre, pre_h) = new_token(f);
    let (no_admin, no_admin_h) = new_token(f);
    let (report, report_h) = new_token(f);
    let (expired, expired_h) = new_token(f);
    let (paced, paced_h) = new_token(f);
    let (offline_admin, offline_admin_h) = new_token(f);
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
report_key = "report.pem"
[[clients]]
name = "ehr"
token_sha256 = "{all_h}"
scopes = ["append", "read-status", "read-proofs", "admin"]
sign_as = ["lic-1", "cust-1", "admin"]
[[clients]]
name = "no-admin"
token_sha256 = "{no_admin_h}"
scopes = ["append", "read-status"]
sign_as = ["lic-1", "cust-1", "admin"]
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
[[clients]]
name = "auditor"
token_sha256 = "{report_h}"
scopes = ["report"]
[[clients]]
name = "expired"
token_sha256 = "{expired_h}"
scopes = ["append", "read-status", "read-proofs", "report", "admin"]
sign_as = ["lic-1"]
expires = "2020-01-01T00:00:00Z"
[[clients]]
name = "paced"
token_sha256 = "{paced_h}"
scopes = ["read-status"]
requests_per_sec = 1
[[clients]]
name = "offline-admin"
token_sha256 = "{offline_admin_h}"
scopes = ["admin"]
"#,
        keys = f.keys().display()
    );
    f.write("serve.toml", config.as_bytes());
    if !f.path("report.pem").exists() {
        ok(&f.run(&["keys", "generate", "--out", "report.pem"]));
    }
    let mut child = std::process::Command::new(caseledger_bin())
        .args(["serve", "--config", "serve.toml"])
        .current_dir(f.dir())
        .env_remove("CASELEDGER_KEYS")
        .env_remove("CASELEDGER_PASSPHRASE_FILE")
        .envs(env.iter().copied())
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
    let line = line.trim();
    let addr = line
        .strip_prefix("listening on http://")
        .or_else(|| line.strip_prefix("listening on https://"))
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
            report,
            expired,
            paced,
            offline_admin,
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
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    request_on(s, addr, method, path, token, content_type, body)
}

/// [`request`] over a connected stream (plain TCP, or TLS in [`https_request`]).
fn request_on(
    mut s: impl Read + Write,
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Answer {
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
    let a = Answer {
        status,
        headers,
        body: body.to_owned(),
    };
    // Every answer of these tests, checked against docs/openapi.json (serve/schema.rs).
    if let Err(why) = schema::check(method, path, a.status, a.header("content-type"), &a.body) {
        panic!(
            "{method} {path} answered {} not as docs/openapi.json says: {why}\n{}",
            a.status, a.body
        );
    }
    a
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
    fn post_to(&self, token: &str, path: &str, body: &Value) -> Answer {
        request(
            &self.addr,
            "POST",
            path,
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

/// `n` posts of `body(i)` with token `t`, released at once; their answers in order.
fn race(s: &Served, t: &str, n: usize, body: &dyn Fn(usize) -> Value) -> Vec<Answer> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, b) = (&barrier, body(i));
                sc.spawn(move || {
                    barrier.wait();
                    s.post(t, &b)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Requests with one id sent at once (a retry racing the original): the store decides under
/// its writer lock, whether they meet in one group commit or not. Same content: one entry,
/// every answer the same receipt, one of them not a replay. Other content: one appended,
/// the rest `409`, nothing else written.
#[test]
fn concurrent_requests_with_one_id_append_once() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = s.tokens.all.clone();
    const N: usize = 8;
    let before = s.size();
    let same = race(&s, &t, N, &|_| note("race-1", "C-OPEN", "one note"));
    assert_eq!(s.size(), before + 1);
    let rs: Vec<Value> = same
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.json()["receipts"][0].clone()
        })
        .collect();
    assert_eq!(
        rs.iter().filter(|r| r["replayed"] == json!(false)).count(),
        1
    );
    for r in &rs {
        for k in ["seq", "hash", "recorded_at_us", "seal"] {
            assert_eq!(r[k], rs[0][k], "{k}");
        }
    }
    assert_eq!(rs[0]["seq"].as_u64(), Some(before));
    let other = race(&s, &t, N, &|i| {
        note("race-2", "C-OPEN", &format!("note {i}"))
    });
    assert_eq!(s.size(), before + 2);
    assert_eq!(other.iter().filter(|a| a.status == 200).count(), 1);
    for a in &other {
        assert!(
            a.status == 200 || a.status == 409,
            "{} {}",
            a.status,
            a.body
        );
    }
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
            // A repeated field: `Value` would keep the last one (fuzz finding F1).
            "repeated field",
            post(
                &events,
                Some("application/json"),
                good.replacen("\"id\"", "\"payload\":\"other\",\"id\"", 1)
                    .as_bytes(),
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
    // The live directory is the server's (a verifier is told it is in use, exit 3: busy)...
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

/// A destruction asked with `?dry_run=true`: the store's verdict today and why, the
/// record's retention facts, nothing written (not even the id); admin still required.
#[test]
fn a_destruction_dry_run_says_whether_it_is_lawful_and_writes_nothing() {
    let f = Fixture::small();
    let s = serve(&f);
    let tk = &s.tokens;
    let dry = format!("/v1/ledgers/{LEDGER}/events?dry_run=true");
    let destroy = |id: &str, record: &str| {
        json!({"id": id, "record": record, "kind": "destruction", "occurred_on": today(),
               "author": "cust-1", "reason": "retention policy"})
    };
    let before = s.size();
    // Terminated in 2025: still retained, so refused, and the answer says until when.
    let a = s.post_to(&tk.all, &dry, &destroy("d-new", "C-NEW"));
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(v["dry_run"], json!(true));
    assert_eq!(v["accepted"], json!(false), "{v}");
    assert_eq!(v["refused"]["line"], json!(1));
    let why = v["refused"]["message"].as_str().unwrap();
    assert!(
        why.contains("C-NEW") && why.contains("retained until"),
        "{why}"
    );
    let d = &v["destructions"][0];
    assert_eq!(d["status"], json!("retained"), "{v}");
    assert!(d["lawful_from"].as_str().unwrap() > today().as_str(), "{v}");
    // Terminated in 2019: eligible, lawful today.
    let a = s.post_to(&tk.all, &dry, &destroy("d-old", "C-OLD"));
    let v = a.json();
    assert_eq!((a.status, &v["accepted"]), (200, &json!(true)), "{v}");
    assert_eq!(v["refused"], Value::Null);
    assert_eq!(v["new_events"], json!(1));
    assert_eq!(v["destructions"][0]["status"], json!("eligible"));
    // An open record: refused as open.
    let v = s
        .post_to(&tk.all, &dry, &destroy("d-open", "C-OPEN"))
        .json();
    assert_eq!(v["accepted"], json!(false), "{v}");
    assert_eq!(v["destructions"][0]["status"], json!("open"));
    // Without admin: refused like the real thing.
    let a = s.post_to(&tk.no_admin, &dry, &destroy("d-old", "C-OLD"));
    assert_eq!(
        (a.status, a.kind().as_str()),
        (403, "forbidden"),
        "{}",
        a.body
    );
    // A bad flag: 400.
    let a = s.post_to(
        &tk.all,
        &format!("/v1/ledgers/{LEDGER}/events?dry_run=maybe"),
        &destroy("d-old", "C-OLD"),
    );
    assert_eq!(a.status, 400, "{}", a.body);
    // Nothing was written: the size, the record's status, and the id is still free.
    assert_eq!(s.size(), before);
    let st = s.get(
        Some(&tk.status),
        &format!("/v1/ledgers/{LEDGER}/records/C-OLD/status"),
    );
    assert_eq!(st.json()["status"], json!("eligible"), "{}", st.body);
    let a = s.post(&tk.all, &destroy("d-old", "C-OLD"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["receipts"][0]["replayed"], json!(false));
    assert_eq!(s.size(), before + 1);
}

/// `GET …/records?status=…`: the records of each status as of today, paged; read-status.
#[test]
fn records_are_listed_by_status_with_the_read_status_scope() {
    let f = Fixture::small();
    let s = serve(&f);
    let tk = &s.tokens;
    let list = |tok: &str, q: &str| {
        let a = s.get(Some(tok), &format!("/v1/ledgers/{LEDGER}/records{q}"));
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        a.json()
    };
    let ids = |v: &Value| -> Vec<String> {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["record"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&list(&tk.status, "?status=eligible")), ["C-OLD"]);
    assert_eq!(ids(&list(&tk.status, "?status=retained")), ["C-NEW"]);
    assert_eq!(ids(&list(&tk.status, "?status=open")), ["C-OPEN"]);
    assert_eq!(
        ids(&list(&tk.status, "?status=open,eligible")),
        ["C-OLD", "C-OPEN"]
    );
    let all = list(&tk.status, "");
    assert_eq!(ids(&all), ["C-NEW", "C-OLD", "C-OPEN"]);
    assert_eq!(all["next"], Value::Null);
    let c_new = &all["records"][0];
    assert!(c_new["retained_until"].is_string() && c_new["lawful_from"].is_string());
    // Paged: one at a time, `next` leads on.
    let p1 = list(&tk.status, "?limit=2");
    assert_eq!(ids(&p1), ["C-NEW", "C-OLD"]);
    assert_eq!(p1["next"], json!("C-OLD"));
    let p2 = list(&tk.status, "?limit=2&after=C-OLD");
    assert_eq!(ids(&p2), ["C-OPEN"]);
    assert_eq!(p2["next"], Value::Null);
    // A hold moves a record to on_hold; a destruction to destroyed_lawfully.
    let hold = json!({"record": "C-OPEN", "kind": "hold_placed", "occurred_on": "2025-05-03",
                      "author": "cust-1", "matter": "SC-2025-1"});
    assert_eq!(s.post(&tk.all, &hold).status, 200);
    let destroy = json!({"record": "C-OLD", "kind": "destruction", "occurred_on": today(),
                         "author": "cust-1", "reason": "retention policy"});
    assert_eq!(s.post(&tk.all, &destroy).status, 200);
    let v = list(&tk.status, "?status=on_hold");
    assert_eq!(ids(&v), ["C-OPEN"]);
    assert_eq!(v["records"][0]["holds"], json!(["SC-2025-1"]));
    assert_eq!(
        ids(&list(&tk.status, "?status=destroyed_lawfully")),
        ["C-OLD"]
    );
    assert!(ids(&list(&tk.status, "?status=eligible")).is_empty());
    // Bad parameters: 400; scope and token: 403, 401.
    for q in ["?status=held", "?limit=0", "?after=", "?colour=red"] {
        let a = s.get(
            Some(&tk.status),
            &format!("/v1/ledgers/{LEDGER}/records{q}"),
        );
        assert_eq!((a.status, a.kind().as_str()), (400, "bad_request"), "{q}");
    }
    let path = format!("/v1/ledgers/{LEDGER}/records?status=eligible");
    for tok in [&tk.proofs, &tk.append_presigned] {
        let a = s.get(Some(tok), &path);
        assert_eq!((a.status, a.kind().as_str()), (403, "forbidden"));
    }
    assert_eq!(s.get(None, &path).status, 401);
    assert_eq!(s.get(Some(&tk.all), &path).status, 200);
}

/// Enrolment with a public key the request gives (the server makes no key), revocation
/// as a `key_revoked` event; both only with the admin scope, nothing written without it.
#[test]
fn actors_are_enrolled_with_a_given_key_and_revoked_only_with_admin() {
    let f = Fixture::small();
    let s = serve(&f);
    let tk = &s.tokens;
    let actors = format!("/v1/ledgers/{LEDGER}/actors");
    let key = caseledger_core::keys::SigningKey::generate();
    let enrol = json!({"actor": "lic-9", "role": "licensee", "author": "admin",
                       "public_key": key.public_key().to_hex()});
    let revoke = json!({"kind": "key_revoked", "occurred_on": today(), "author": "admin",
                        "actor": "lic-9"});
    let before = s.size();
    // Without admin (even with the admin actor in sign_as): 403, nothing written.
    for tok in [&tk.no_admin, &tk.status, &tk.proofs, &tk.append_presigned] {
        let a = s.post_to(tok, &actors, &enrol);
        assert_eq!(
            (a.status, a.kind().as_str()),
            (403, "forbidden"),
            "{}",
            a.body
        );
    }
    assert_eq!(s.size(), before);
    // Malformed: 400, nothing written.
    let mut bad_key = enrol.clone();
    bad_key["public_key"] = json!("not a key");
    let mut private = enrol.clone();
    private["public_key"] = json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    let mut bad_role = enrol.clone();
    bad_role["role"] = json!("boss");
    let mut extra = enrol.clone();
    extra["private_key"] = json!("x");
    for body in [&bad_key, &private, &bad_role, &extra] {
        let a = s.post_to(&tk.all, &actors, body);
        assert_eq!(
            (a.status, a.kind().as_str()),
            (400, "bad_request"),
            "{}",
            a.body
        );
    }
    // Over the events route: still refused, pointing at this route.
    let mut line = revoke.clone();
    line["kind"] = json!("actor_enrolled");
    line["role"] = json!("licensee");
    let a = s.post(&tk.all, &line);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("/actors"), "{}", a.body);
    assert_eq!(s.size(), before);
    // With admin: enrolled, signed by the admin, with the given key; no key file made.
    let a = s.post_to(&tk.all, &actors, &enrol);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["receipt"]["seq"].as_u64(), Some(before));
    assert!(!f.keys().join("actors").join("lic-9.pem").exists());
    // Enrolled twice: the ledger refuses (422).
    let a = s.post_to(&tk.all, &actors, &enrol);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (422, "refused"),
        "{}",
        a.body
    );
    // Revocation: admin only.
    let a = s.post(&tk.no_admin, &revoke);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (403, "forbidden"),
        "{}",
        a.body
    );
    assert_eq!(s.size(), before + 1);
    let a = s.post(&tk.all, &revoke);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(s.size(), before + 2);
    // The ledger holds the key the request gave, revoked.
    assert_eq!(s.stop().code(), Some(0));
    let l = caseledger_store::Ledger::open(f.path("L"), Default::default()).unwrap();
    let reg = l.registry();
    let st = &reg.actors[&caseledger_core::ActorId::new("lic-9").unwrap()];
    assert_eq!(st.key, key.public_key());
    assert!(st.revoked && st.role.to_string() == "licensee", "{st:?}");
    l.close().unwrap();
}

/// Slowloris and connection exhaustion, over raw `TcpStream`s: with `max_connections = 2`,
/// a client dribbling its headers a byte at a time and one sending nothing hold both slots,
/// so a third, well-formed request waits (unanswered) until the header-read timeout closes
/// them, and is then answered; the dribbler is cut off although it kept sending.
#[test]
fn slow_header_clients_are_cut_off_and_connections_are_capped() {
    let f = Fixture::small();
    let s = serve_with(&f, "max_connections = 2\nheader_read_timeout_secs = 2");
    let started = std::time::Instant::now();
    let dribbler = {
        let addr = s.addr.clone();
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(&addr).unwrap();
            let head =
                format!("GET /v1/ledgers/{LEDGER}/checkpoint HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            // One byte every 100 ms for up to 10 s, until the server closes the connection.
            for b in head.bytes().chain(std::iter::repeat(b'a')).take(100) {
                if c.write_all(&[b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 256];
            let closed = matches!(c.read(&mut buf), Ok(0) | Err(_));
            (closed, started.elapsed())
        })
    };
    let mut silent = TcpStream::connect(&s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The third: accepted by the kernel, not served while both slots are held.
    let mut third = TcpStream::connect(&s.addr).unwrap();
    third
        .write_all(
            format!(
                "GET /v1/ledgers/{LEDGER}/checkpoint HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                s.tokens.all
            )
            .as_bytes(),
        )
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        third.read(&mut buf).is_err(),
        "answered while both connection slots were held"
    );
    // Both slow clients are closed at the header timeout; then the third is answered.
    third
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = third.read_to_end(&mut answer);
    let answered = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        answered >= Duration::from_millis(1500) && answered < Duration::from_secs(8),
        "{answered:?}"
    );
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(silent.read(&mut buf), Ok(0) | Err(_)));
    let (closed, at) = dribbler.join().unwrap();
    assert!(closed, "the dribbling client was never cut off");
    // Cut at about 2 s, although it sent a byte every 100 ms (10 s of headers).
    assert!(at < Duration::from_secs(6), "{at:?}");
    eprintln!("third answered after {answered:?}; dribbler closed by {at:?}");
}

/// `POST …/records/{id}/bundle` (scope `report`, which no other token has): the evidence
/// bundle `caseledger export` writes, its `record_head` appended, and it verifies.
#[test]
fn an_evidence_bundle_needs_the_report_scope_and_verifies() {
    let f = Fixture::small();
    let s = serve(&f);
    let tk = &s.tokens;
    let path = |r: &str| format!("/v1/ledgers/{LEDGER}/records/{r}/bundle");
    let before = s.size();
    for tok in [
        Some(tk.all.as_str()),
        Some(&tk.status),
        Some(&tk.proofs),
        Some(&tk.no_admin),
        None,
    ] {
        let a = request(&s.addr, "POST", &path("C-NEW"), tok, None, b"");
        let want = if tok.is_some() { 403 } else { 401 };
        assert_eq!(a.status, want, "{}", a.body);
    }
    let a = request(
        &s.addr,
        "POST",
        &path("C-NONE"),
        Some(&tk.report),
        None,
        b"",
    );
    assert_eq!(
        (a.status, a.kind().as_str()),
        (404, "not_found"),
        "{}",
        a.body
    );
    assert_eq!(s.size(), before);
    let a = request(&s.addr, "POST", &path("C-NEW"), Some(&tk.report), None, b"");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    // The record_head the export appended.
    assert_eq!(s.size(), before + 1);
    f.write("b.json", a.body.as_bytes());
    assert_eq!(s.stop().code(), Some(0));
    ok(&f.run(&["verify", "--bundle", "b.json"]));
    // The log names the route, never the record or its content.
    let log = std::fs::read_to_string(f.path("serve.log")).unwrap();
    assert!(log.contains("/records/{id}/bundle"), "{log}");
    assert!(!log.contains("C-NEW") && !log.contains("SECRET"), "{log}");
    // A closed ledger takes no record_head: 422, nothing appended.
    ok(&f.run(&[
        "close",
        "--ledger",
        "L",
        "--reason",
        "practice closed, policy R-9",
    ]));
    let s = serve(&f);
    let before = s.size();
    let a = request(
        &s.addr,
        "POST",
        &path("C-NEW"),
        Some(&s.tokens.report),
        None,
        b"",
    );
    assert_eq!(
        (a.status, a.kind().as_str()),
        (422, "refused"),
        "{}",
        a.body
    );
    assert!(a.body.contains("closed"), "{}", a.body);
    assert_eq!(s.size(), before);
}

/// A client's token past its `expires` instant: `401` on every route, nothing written.
#[test]
fn an_expired_token_is_refused_everywhere() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = &s.tokens.expired;
    let before = s.size();
    let a = s.post(t, &note("x-1", "C-OPEN", "n"));
    assert_eq!(
        (a.status, a.kind().as_str()),
        (401, "unauthorized"),
        "{}",
        a.body
    );
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    for p in ["records/C-OPEN/status", "records?status=open", "checkpoint"] {
        let a = s.get(Some(t), &format!("/v1/ledgers/{LEDGER}/{p}"));
        assert_eq!(a.status, 401, "{p}: {}", a.body);
    }
    let a = request(
        &s.addr,
        "POST",
        &format!("/v1/ledgers/{LEDGER}/records/C-NEW/bundle"),
        Some(t),
        None,
        b"",
    );
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(s.size(), before);
}

/// A client's `requests_per_sec`: beyond it `429` with `Retry-After`; a second later its
/// requests are answered again. Other clients are not slowed by it.
#[test]
fn a_client_over_its_rate_gets_429_with_retry_after() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = &s.tokens.paced;
    let status = format!("/v1/ledgers/{LEDGER}/records/C-OPEN/status");
    // An unknown ledger answers at once (no ledger opened), so the two requests are well
    // inside one second: the first takes the one token, the second finds none.
    let unknown = "/v1/ledgers/nope/records/C-OPEN/status";
    assert_eq!(s.get(Some(t), unknown).status, 404);
    let a = s.get(Some(t), &status);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (429, "rate_limited"),
        "{}",
        a.body
    );
    assert_eq!(a.header("retry-after"), Some("1"));
    // Another client meanwhile: not limited.
    for _ in 0..3 {
        assert_eq!(s.get(Some(&s.tokens.status), &status).status, 200);
    }
    std::thread::sleep(Duration::from_millis(1100));
    let a = s.get(Some(t), &status);
    assert_eq!(a.status, 200, "{}", a.body);
}

/// `GET …/reports/retention` (scope `report`): the verifier's retention report as of today,
/// signed with the configured reporting key, made from a snapshot that is then removed.
#[test]
fn a_signed_retention_report_needs_the_report_scope() {
    let f = Fixture::small();
    let s = serve(&f);
    let tk = &s.tokens;
    let path = format!("/v1/ledgers/{LEDGER}/reports/retention");
    for tok in [&tk.all, &tk.status, &tk.proofs] {
        let a = s.get(Some(tok), &path);
        assert_eq!(
            (a.status, a.kind().as_str()),
            (403, "forbidden"),
            "{}",
            a.body
        );
    }
    let a = s.get(Some(&tk.report), &format!("{path}?as_of=2999-01-01"));
    assert_eq!(
        (a.status, a.kind().as_str()),
        (400, "bad_request"),
        "{}",
        a.body
    );
    let before = s.size();
    let a = s.get(Some(&tk.report), &path);
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    let text = v["report_json"].as_str().unwrap();
    let report: Value = serde_json::from_str(text).unwrap();
    assert_eq!(report["as_of"], json!(today()), "{report}");
    assert_eq!(report["totals"]["records"], json!(3), "{report}");
    assert_eq!(
        report["integrity"]["verdict"],
        json!("verified"),
        "{report}"
    );
    let statuses: Vec<(&str, &str)> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("C-NEW", "retained"),
            ("C-OLD", "eligible"),
            ("C-OPEN", "open")
        ]
    );
    assert!(!text.contains("SECRET"));
    // Signed over the exact bytes by the configured key.
    use base64::Engine;
    let raw: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(v["ed25519"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sig = caseledger_verify::report::SignedReport {
        sshsig_armored: v["sshsig"].as_str().unwrap().to_owned(),
        raw_ed25519: raw,
    };
    let key = caseledger_core::PublicKey::from_hex(v["key"].as_str().unwrap()).unwrap();
    let configured = caseledger_keyfile::read(&f.path("report.pem"))
        .unwrap()
        .public_key();
    assert_eq!(key, configured);
    caseledger_verify::report::verify_report(text.as_bytes(), &sig, &key).unwrap();
    let mut tampered = text.as_bytes().to_vec();
    let i = text.find("eligible").unwrap();
    tampered[i] = b'E';
    assert!(caseledger_verify::report::verify_report(&tampered, &sig, &key).is_err());
    // Nothing appended; the snapshot it was made from is gone.
    assert_eq!(s.size(), before);
    let left: Vec<_> = std::fs::read_dir(f.path("snaps"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Custody: the admin signs the enrolment offline (here: with its key moved out of the
/// server's key directory) and the server appends it as signed, with a client that has
/// the `admin` scope but no `sign_as` (the server signs nothing for it). A field changed
/// after signing, or the signed `occurred_on` left out, writes nothing.
#[test]
fn an_enrolment_pre_signed_by_the_admin_is_appended_without_the_admins_key_on_the_server() {
    use base64::Engine;
    use caseledger_core::event::{AuthorSignature, Event, EventKind, Role};
    let f = Fixture::small();
    let offline = f.path("offline-admin.pem");
    std::fs::rename(f.keys().join("actors").join("admin.pem"), &offline).unwrap();
    let admin_key = caseledger_keyfile::read(&offline).unwrap();
    let s = serve(&f);
    let tk = &s.tokens;
    let actors = format!("/v1/ledgers/{LEDGER}/actors");
    let new_key = caseledger_core::keys::SigningKey::generate();
    let on = today();
    let event = Event {
        record: None,
        author: caseledger_core::ActorId::new("admin").unwrap(),
        kind: EventKind::ActorEnrolled {
            actor: caseledger_core::ActorId::new("lic-9").unwrap(),
            role: Role::parse("licensee").unwrap(),
            public_key: new_key.public_key(),
        },
        occurred_on: on.parse().unwrap(),
        signed_at: caseledger_core::Timestamp::now(),
        commitment: None,
        nonce: caseledger_core::ids::Nonce::random(),
    };
    // What the admin signs, from the CLI on the admin's machine (no ledger needed): the
    // enrolment line with the key in a file.
    f.write(
        "lic-9.pub",
        new_key.public_key().to_openssh("lic-9").as_bytes(),
    );
    let line = json!({
        "kind": "actor_enrolled", "occurred_on": on, "author": "admin", "actor": "lic-9",
        "role": "licensee", "signed_at": event.signed_at.to_string(),
        "nonce": hex(&event.nonce.0),
    });
    f.write("enrol.json", line.to_string().as_bytes());
    let m = ok(&f.run(&[
        "event-bytes",
        "--origin",
        caseledger_testkit::ORIGIN,
        "--public-key",
        "lic-9.pub",
        "--hex",
        "enrol.json",
    ]));
    assert_eq!(
        m.trim(),
        hex(&event.signing_message(caseledger_testkit::ORIGIN).unwrap())
    );
    let out = f.run(&[
        "event-bytes",
        "--origin",
        caseledger_testkit::ORIGIN,
        "enrol.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--public-key"), "{}", stderr(&out));
    let signed = event
        .clone()
        .sign(caseledger_testkit::ORIGIN, &admin_key)
        .unwrap();
    let AuthorSignature::Ed25519(sig) = signed.signature else {
        panic!("an Ed25519 signature")
    };
    let body = json!({
        "actor": "lic-9", "role": "licensee", "author": "admin", "occurred_on": on,
        "public_key": new_key.public_key().to_hex(),
        "signed_at": event.signed_at.to_string(),
        "nonce": hex(&event.nonce.0),
        "signature": base64::engine::general_purpose::STANDARD.encode(sig.0),
    });
    let before = s.size();
    // Unsigned, from a client the server signs nothing for: 403, pointing at the signature.
    let mut unsigned = body.clone();
    for k in ["signed_at", "nonce", "signature"] {
        unsigned.as_object_mut().unwrap().remove(k);
    }
    let a = s.post_to(&tk.offline_admin, &actors, &unsigned);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (403, "forbidden"),
        "{}",
        a.body
    );
    assert!(a.body.contains("signature"), "{}", a.body);
    // Changed after signing (the role): the ledger's signature check refuses it (422).
    let mut changed = body.clone();
    changed["role"] = json!("admin");
    let a = s.post_to(&tk.offline_admin, &actors, &changed);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (422, "refused"),
        "{}",
        a.body
    );
    assert!(a.body.contains("signature"), "{}", a.body);
    // Signed, but the signed date left out: 400.
    let mut no_date = body.clone();
    no_date.as_object_mut().unwrap().remove("occurred_on");
    let a = s.post_to(&tk.offline_admin, &actors, &no_date);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (400, "bad_request"),
        "{}",
        a.body
    );
    // Without the admin scope, pre-signed or not: 403.
    let a = s.post_to(&tk.append_presigned, &actors, &body);
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(s.size(), before);
    // As signed: appended.
    let a = s.post_to(&tk.offline_admin, &actors, &body);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["receipt"]["seq"].as_u64(), Some(before));
    // The same signed enrolment again: refused (its nonce is spent), nothing written.
    let a = s.post_to(&tk.offline_admin, &actors, &body);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (422, "refused"),
        "{}",
        a.body
    );
    assert_eq!(s.size(), before + 1);
    assert!(!f.keys().join("actors").join("admin.pem").exists());
    assert_eq!(s.stop().code(), Some(0));
    let l = caseledger_store::Ledger::open(f.path("L"), Default::default()).unwrap();
    let st = &l.registry().actors[&caseledger_core::ActorId::new("lic-9").unwrap()];
    assert_eq!(st.key, new_key.public_key());
    assert!(!st.revoked && st.role.to_string() == "licensee", "{st:?}");
    let entry = l
        .entry_bytes(caseledger_core::Seq(before))
        .unwrap()
        .unwrap();
    assert!(
        entry.windows(64).any(|w| w == sig.0),
        "the entry holds the admin's own signature"
    );
    l.close().unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A rustls client trusting only the CA in `ca` (PEM).
fn https_client(ca: &std::path::Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// One request over HTTPS; `Err` with rustls's reason when the handshake fails.
fn https_request(
    addr: &str,
    client: &std::sync::Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(client.clone(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // The handshake first: a refused certificate is an error here, not a missing answer.
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| e.to_string())?;
    }
    let bytes = body.map(Value::to_string).unwrap_or_default();
    let ct = body.map(|_| "application/json");
    Ok(request_on(
        tls,
        addr,
        method,
        path,
        token,
        ct,
        bytes.as_bytes(),
    ))
}

/// A test CA and a certificate for 127.0.0.1 in `f`'s `pki/` (the key 0600), and the
/// `[tls]` lines naming them.
fn make_pki(f: &Fixture, dir: &str) -> (crate::tls::TestPki, String) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(f.path(dir)).unwrap();
    let pki = crate::tls::TestPki::new(&f.path(dir));
    std::fs::set_permissions(
        f.path(dir).join("leaf.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let lines = format!("[tls]\ncert = \"{dir}/leaf.pem\"\nkey = \"{dir}/leaf.key\"\n");
    (pki, lines)
}

/// HTTPS with a certificate made in the test: a client trusting its CA appends and reads;
/// one trusting another CA fails the handshake (and the server logs why) with nothing
/// answered; plain HTTP to the TLS port gets one plain `400` saying to use https://.
#[test]
fn https_is_served_to_clients_that_trust_the_certificate_only() {
    let f = Fixture::small();
    let (pki, tls) = make_pki(&f, "pki");
    let s = serve_with(&f, &tls);
    let trusting = https_client(&pki.ca_pem);
    let events = format!("/v1/ledgers/{LEDGER}/events");
    let checkpoint = format!("/v1/ledgers/{LEDGER}/checkpoint");
    let a = https_request(
        &s.addr,
        &trusting,
        "POST",
        &events,
        Some(&s.tokens.all),
        Some(&note("tls-1", "C-OPEN", "over TLS")),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let seq = a.json()["receipts"][0]["seq"].as_u64().unwrap();
    let a = https_request(
        &s.addr,
        &trusting,
        "GET",
        &checkpoint,
        Some(&s.tokens.all),
        None,
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["size"].as_u64(), Some(seq + 1));
    // A client that trusts another CA: refused in the handshake.
    let (other, _) = make_pki(&f, "other-pki");
    let e = https_request(
        &s.addr,
        &https_client(&other.ca_pem),
        "POST",
        &events,
        Some(&s.tokens.all),
        Some(&note("tls-2", "C-OPEN", "never sent")),
    )
    .err()
    .expect("a client that does not trust the certificate");
    // (Both test CAs have one name, so rustls finds the issuer and its signature fails.)
    assert!(e.contains("invalid peer certificate"), "{e}");
    // Plain HTTP to the TLS port: one plain answer, nothing served.
    let a = s.get(Some(&s.tokens.all), &checkpoint);
    assert_eq!(
        (a.status, a.kind().as_str()),
        (400, "bad_request"),
        "{}",
        a.body
    );
    assert!(a.body.contains("https://"), "{}", a.body);
    let a = s.post(&s.tokens.all, &note("tls-3", "C-OPEN", "in the clear"));
    assert_eq!(a.status, 400, "{}", a.body);
    // Still serving; only the trusted append was written.
    let a = https_request(
        &s.addr,
        &trusting,
        "GET",
        &checkpoint,
        Some(&s.tokens.all),
        None,
    )
    .unwrap();
    assert_eq!(a.json()["size"].as_u64(), Some(seq + 1));
    assert_eq!(s.stop().code(), Some(0));
    let log = std::fs::read_to_string(f.path("serve.log")).unwrap();
    assert!(log.contains("TLS handshake failed"), "{log}");
    assert!(
        !log.contains("over TLS") && !log.contains("in the clear"),
        "{log}"
    );
}

/// With `[tls]`, SIGHUP reloads the certificate and key without a restart: a renewed pair
/// (from another CA here, so that the switch shows) is served from the next handshake; a
/// broken one is refused, logged, and the certificate in use stays.
#[test]
fn sighup_reloads_the_certificate_and_a_broken_pair_keeps_the_one_in_use() {
    let f = Fixture::small();
    let (old, tls) = make_pki(&f, "pki");
    let s = serve_with(&f, &tls);
    let checkpoint = format!("/v1/ledgers/{LEDGER}/checkpoint");
    let get = |client: &std::sync::Arc<rustls::ClientConfig>| {
        https_request(
            &s.addr,
            client,
            "GET",
            &checkpoint,
            Some(&s.tokens.all),
            None,
        )
        .map(|a| a.status)
    };
    let old_client = https_client(&old.ca_pem);
    assert_eq!(get(&old_client), Ok(200));
    let hup = || {
        ok(&std::process::Command::new("kill")
            .args(["-HUP", &s.child.id().to_string()])
            .output()
            .unwrap());
    };
    // The renewal: a new pair written over the files the config names, then SIGHUP.
    let (new, _) = make_pki(&f, "pki-renewed");
    let new_client = https_client(&new.ca_pem);
    assert!(get(&new_client).is_err(), "not before the reload");
    for file in ["leaf.pem", "leaf.key"] {
        std::fs::copy(f.path("pki-renewed").join(file), f.path("pki").join(file)).unwrap();
    }
    hup();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while get(&new_client).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate is never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let e = get(&old_client).expect_err("the old CA's client is refused now");
    assert!(e.contains("invalid peer certificate"), "{e}");
    // Half a file from a renewal script: refused, and HTTPS goes on with the pair in use.
    std::fs::write(
        f.path("pki/leaf.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    hup();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(f.path("serve.log")).unwrap();
        if log.contains("tls: reload refused") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&new_client), Ok(200));
    assert_eq!(s.stop().code(), Some(0));
    let log = std::fs::read_to_string(f.path("serve.log")).unwrap();
    assert!(
        log.contains("tls: certificate and key reloaded (SIGHUP)"),
        "{log}"
    );
}

/// Under TLS the connection cap and the header-read timeout still hold (a connection that
/// never starts its handshake holds the only slot until the timeout closes it, then the
/// waiting HTTPS client is answered); and a key file that others can read stops the start.
#[test]
fn tls_keeps_the_connection_cap_and_header_timeout_and_refuses_an_open_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::small();
    let (pki, tls) = make_pki(&f, "pki");
    let s = serve_with(
        &f,
        &format!("max_connections = 1\nheader_read_timeout_secs = 2\n{tls}"),
    );
    let mut silent = TcpStream::connect(&s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let a = https_request(
        &s.addr,
        &https_client(&pki.ca_pem),
        "GET",
        &format!("/v1/ledgers/{LEDGER}/checkpoint"),
        Some(&s.tokens.all),
        None,
    )
    .unwrap();
    let waited = started.elapsed();
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(silent.read(&mut buf), Ok(0) | Err(_)));
    assert_eq!(s.stop().code(), Some(0));
    // The key readable by others: refused before listening, exit 2, the file named.
    let key = f.path("pki").join("leaf.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = std::process::Command::new(caseledger_bin())
        .args(["serve", "--config", "serve.toml"])
        .current_dir(f.dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started with a key file others can read");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("UNPROTECTED PRIVATE KEY FILE") && err.contains("leaf.key"),
        "{err}"
    );
}

/// `GET /openapi.json` needs no token and answers exactly docs/openapi.json (which the
/// serve crate's tests hold to the code), listing every `/v1` route.
#[test]
fn the_openapi_document_is_served_without_a_token_and_is_the_committed_one() {
    let f = Fixture::small();
    let s = serve(&f);
    let a = s.get(None, "/openapi.json");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json"),
    )
    .unwrap();
    assert_eq!(a.body, committed);
    let v = a.json();
    assert!(v["paths"]["/v1/ledgers/{name}/events"]["post"].is_object());
    assert_eq!(
        v["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
