//! Issue 15 with issue 14: a destruction posted to `caseledger serve` cites outside time
//! (`cite_witness`, `cite_timestamp`) exactly as `caseledger destroy --cite-…` does (the
//! shared `caseledger_serve::citation`), dry run included, and the report calls it
//! "lawful, attested by" the witness when it should. The witness is `caseledger witness
//! serve` on loopback, first on today's clock (its cosignature is the outside time that
//! first covers the record's termination), then on a clock six years on under `faketime`
//! (with the server and the auditor's report), so the cited time is past the attested
//! lawful date.

use caseledger_testkit::cli::{caseledger_bin, ok, stderr, today, Fixture};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Six years on: past the five years of retention from today's termination cover.
const LATER: &str = "+6y";

/// `caseledger ARGS` in the fixture's directory, under `faketime` when `fake`.
fn cmd(f: &Fixture, fake: bool, args: &[&str]) -> Command {
    let mut c = if fake {
        let mut c = Command::new("faketime");
        c.args(["-f", LATER]).arg(caseledger_bin());
        c
    } else {
        Command::new(caseledger_bin())
    };
    c.args(args)
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .env("NO_COLOR", "1")
        .env_remove("CASELEDGER_LEDGER")
        .env_remove("CASELEDGER_KEYS")
        .env_remove("CASELEDGER_PASSPHRASE_FILE")
        .env_remove("SSH_AUTH_SOCK");
    c
}

fn run(f: &Fixture, fake: bool, args: &[&str]) -> Output {
    cmd(f, fake, args)
        .output()
        .expect("caseledger runs (faketime installed: apt-get install faketime)")
}

/// A child in its own process group (faketime runs the binary as its own child): killed
/// whole when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `caseledger witness serve` named w1 on `addr` (key w1.pem, state w1-state): the child
/// and its first line (the URL) and second (its key).
fn witness(f: &Fixture, fake: bool, addr: &str) -> (Group, String, String) {
    let mut child = cmd(
        f,
        fake,
        &[
            "witness", "serve", "--addr", addr, "--key", "w1.pem", "--logs", "logs.txt", "--state",
            "w1-state", "--name", "w1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .process_group(0)
    .spawn()
    .expect("witness serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let key = lines.next().unwrap().unwrap();
    (Group(child), url, key)
}

/// `caseledger serve` six years on, with one client: append and admin, signing as cust-1.
fn serve(f: &Fixture, token_hash: &str) -> (Group, String) {
    let config = format!(
        "listen = \"127.0.0.1:0\"\n[ledgers.practice]\ndir = \"L\"\nkeys = \"{}\"\n[[clients]]\nname = \"custodian\"\ntoken_sha256 = \"{token_hash}\"\nscopes = [\"append\", \"admin\"]\nsign_as = [\"cust-1\"]\n",
        f.keys().display()
    );
    f.write("serve.toml", config.as_bytes());
    let mut child = cmd(f, true, &["serve", "--config", "serve.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(f.path("serve.log")).unwrap(),
        ))
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_owned();
    (Group(child), addr)
}

/// POSTs `body` to the events route (`query` appended): status and JSON answer.
fn post(addr: &str, token: &str, query: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1/ledgers/practice/events{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn destruction(record: &str, cite: Option<(&str, Value)>) -> Value {
    let mut v = json!({"record": record, "kind": "destruction", "occurred_on": today(),
                       "author": "cust-1", "reason": "policy R-7"});
    if let Some((k, c)) = cite {
        v[k] = c;
    }
    v
}

fn size(f: &Fixture, fake: bool) -> u64 {
    // `--wait`: a child just ended may not have let go of the ledger yet on a loaded machine.
    let o = run(
        f,
        fake,
        &["--json", "--wait", "10s", "verify", "--ledger", "L"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    v["size"]
        .as_u64()
        .or_else(|| v["entries"].as_u64())
        .unwrap_or_else(|| {
            panic!(
                "{:?}: {}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            )
        })
}

#[test]
fn a_destruction_posted_with_a_witness_citation_is_attested_when_the_time_says_so() {
    let f = Fixture::small();
    let vkey = ok(&run(&f, false, &["keys", "export", "--ledger", "L"]));
    f.write("logs.txt", vkey.as_bytes());
    ok(&run(&f, false, &["keys", "generate", "--out", "w1.pem"]));
    // Today: the witness cosigns the seal covering every entry, terminations included.
    let (w, url, wkey) = witness(&f, false, "127.0.0.1:0");
    ok(&run(
        &f,
        false,
        &["witness", "add", "--ledger", "L", "w1", &url, &wkey],
    ));
    ok(&run(
        &f,
        false,
        &["witness", "sync", "--ledger", "L", "--timeout", "5"],
    ));
    drop(w);
    // Six years on, the same witness (key, memory, address) cosigns a newer seal.
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let (_w, _, _) = witness(&f, true, addr);
    ok(&run(
        &f,
        true,
        &[
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
            &today(),
        ],
    ));
    ok(&run(
        &f,
        true,
        &["witness", "sync", "--ledger", "L", "--timeout", "5"],
    ));

    let (token, hash) = {
        let out = ok(&run(&f, false, &["serve", "--new-token"]));
        let mut l = out.lines();
        (l.next().unwrap().to_owned(), l.next().unwrap().to_owned())
    };
    let before = size(&f, true);
    let (server, addr) = serve(&f, &hash);
    // Refusals first, nothing written: no such witness (400); no token to cite (422); a
    // citation on another kind, both at once, a pre-signed destruction asking (400).
    let (st, a) = post(
        &addr,
        &token,
        "",
        &destruction("C-OLD", Some(("cite_witness", json!("nosuch")))),
    );
    assert_eq!(st, 400, "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no witness of that name"),
        "{a}"
    );
    let (st, a) = post(
        &addr,
        &token,
        "",
        &destruction("C-OLD", Some(("cite_timestamp", json!(true)))),
    );
    assert_eq!(st, 422, "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no time-stamp token"),
        "{a}"
    );
    let mut both = destruction("C-OLD", Some(("cite_witness", json!("w1"))));
    both["cite_timestamp"] = json!(true);
    assert_eq!(post(&addr, &token, "", &both).0, 400);
    let hold = json!({"record": "C-OLD", "kind": "hold_placed", "occurred_on": today(),
                      "author": "cust-1", "matter": "M-1", "cite_witness": "w1"});
    let (st, a) = post(&addr, &token, "", &hold);
    assert_eq!(st, 400, "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only destruction lines cite"),
        "{a}"
    );

    // A dry run says what it would cite, and writes nothing.
    let cited = destruction("C-OLD", Some(("cite_witness", json!("w1"))));
    let (st, a) = post(&addr, &token, "?dry_run=true", &cited);
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["accepted"], true, "{a}");
    assert_eq!(
        a["destructions"][0]["citation"]["kind"], "cosignature",
        "{a}"
    );
    assert_eq!(a["destructions"][0]["citation"]["size"], before, "{a}");
    // The witness by its key works as by its name; C-NEW is destroyed citing nothing.
    let (st, a) = post(
        &addr,
        &token,
        "",
        &json!({"events": [
            destruction("C-OLD", Some(("cite_witness", json!(wkey)))),
            destruction("C-NEW", None),
        ]}),
    );
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["receipts"][0]["seq"], before, "{a}");
    drop(server);

    // The auditor, naming the witness: C-OLD lawful, attested by w1 (its termination was
    // covered by w1 six years before the cited time); C-NEW, citing nothing, is lawful by
    // the ledger's clock only.
    let as_of = String::from_utf8(
        Command::new("faketime")
            .args(["-f", LATER, "date", "-u", "+%Y-%m-%d"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let o = run(
        &f,
        true,
        &[
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            as_of.trim(),
            "--signing-key",
            "rk.pem",
            "--generate-key",
            "--out",
            "rep",
            "--witness",
            &wkey,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value =
        serde_json::from_slice(&std::fs::read(f.path("rep/report.json")).unwrap()).unwrap();
    let of = |id: &str| {
        r["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["destruction"]
            .clone()
    };
    let d = of("C-OLD");
    assert_eq!(d["time_basis"], "attested", "{d}");
    assert_eq!(d["citation"]["kind"], "cosignature", "{d}");
    assert_eq!(d["citation"]["counted"], true, "{d}");
    assert_eq!(d["citation"]["by"], "witness w1", "{d}");
    assert_eq!(of("C-NEW")["time_basis"], "ledger_clock", "{}", of("C-NEW"));
    // Without the witness named, the same citation cannot count.
    std::fs::remove_dir_all(f.path("rep")).unwrap();
    let o = run(
        &f,
        true,
        &[
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            as_of.trim(),
            "--signing-key",
            "rk.pem",
            "--out",
            "rep",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value =
        serde_json::from_slice(&std::fs::read(f.path("rep/report.json")).unwrap()).unwrap();
    let d = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "C-OLD")
        .unwrap()["destruction"]
        .clone();
    assert_ne!(d["time_basis"], "attested", "{d}");
    assert_eq!(d["citation"]["counted"], false, "{d}");
}

#[test]
fn import_refuses_a_citation_field_and_writes_nothing() {
    let f = Fixture::small();
    let before = f.size();
    f.write(
        "cite.jsonl",
        format!(
            "{}\n",
            destruction("C-OLD", Some(("cite_witness", json!("w1"))))
        )
        .as_bytes(),
    );
    let o = run(&f, false, &["import", "--ledger", "L", "cite.jsonl"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cite_witness/cite_timestamp: import does not cite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(f.size(), before);
}
