//! Issue 14, witnesses over real HTTP on loopback: `caseledger witness serve` as a child
//! process, `witness add|list|sync` against it, the protocol's 409 with a stale size, a
//! witness killed with `kill -9` mid-stream and restarted, a witness that is down, a log
//! that goes backwards, and a split view shown to two witnesses. Every write sends the new
//! seal to the configured witnesses by itself: bounded in time when one is down or hangs,
//! rate-limited by `min-interval`, skipped with `--no-sync`; `status` shows the lag.

use crate::tls;
use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint, CosignatureVerifier};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{consistency_proof, root_at, Hash, MemoryNodes, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_testkit::cli::{caseledger_bin, fails, ok, stderr, stdout, Fixture};
use caseledger_witness::client::{self, Endpoint, Http, Policy, SubmitError, Transport};
use caseledger_witness::protocol::AddCheckpoint;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `caseledger witness serve` child process on 127.0.0.1 (any free port); also used by
/// `attested.rs`.
pub(crate) struct Served {
    child: Child,
    pub(crate) url: String,
    pub(crate) key: String,
}

impl Served {
    /// Starts a witness named `name` with key file `key` (created if missing), accepting the
    /// log keys in `logs`, remembering in `state`; waits for its URL line.
    pub(crate) fn start(cwd: &Path, name: &str, key: &str, logs: &str, state: &str) -> Served {
        Served::start_at(cwd, name, key, logs, state, "127.0.0.1:0")
    }

    /// As [`Served::start`], listening on `addr`.
    fn start_at(cwd: &Path, name: &str, key: &str, logs: &str, state: &str, addr: &str) -> Served {
        if !cwd.join(key).exists() {
            ok(&caseledger_testkit::cli::run_in(
                cwd,
                &["keys", "generate", "--out", key],
            ));
        }
        let mut child = std::process::Command::new(caseledger_bin())
            .args([
                "witness", "serve", "--addr", addr, "--key", key, "--logs", logs, "--state", state,
                "--name", name,
            ])
            .current_dir(cwd)
            .env("XDG_CONFIG_HOME", cwd.join(".config"))
            .env_remove("CASELEDGER_KEYS")
            .env_remove("CASELEDGER_PASSPHRASE_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("witness serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines.next().expect("a URL line").expect("utf-8");
        let key = lines.next().expect("a key line").expect("utf-8");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Served { child, url, key }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            key: CosignatureVerifier::parse(&self.key).expect("witness key"),
        }
    }

    /// `kill -9`.
    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The small ledger, its log key in `logs.txt`, and a witness `w1` serving it.
fn ledger_and_witness() -> (Fixture, Served) {
    let f = Fixture::small();
    let vkey = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write("logs.txt", vkey.as_bytes());
    let w = Served::start(f.dir(), "w1.example", "w1.pem", "logs.txt", "w1-state");
    (f, w)
}

fn sync(f: &Fixture, ledger: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["witness", "sync", "--ledger", ledger, "--timeout", "5"];
    args.extend_from_slice(extra);
    f.run(&args)
}

#[test]
fn sync_stores_a_cosignature_that_verifies_with_the_witness_key() {
    let (f, w) = ledger_and_witness();
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w.url, &w.key]));
    let listed = ok(&f.run(&["witness", "list", "--ledger", "L"]));
    assert!(
        listed.contains("w1\t") && listed.contains("never cosigned"),
        "{listed}"
    );
    let size = f.size();
    let o = sync(&f, "L", &[]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("w1: cosigned size {size} (from size 0)")),
        "{}",
        stderr(&o)
    );
    // Stored with the seal: `checkpoint` prints the seal with the witness's line.
    let note = ok(&f.run(&["checkpoint", "--ledger", "L"]));
    let body = note.split("\n\n").next().expect("body").to_owned() + "\n";
    let checkpoint = Checkpoint::parse_body(&body).expect("checkpoint");
    let line = note
        .lines()
        .find(|l| l.starts_with("\u{2014} w1.example "))
        .expect("the witness's line is stored");
    let ts = w
        .endpoint()
        .key
        .verify_line(&checkpoint, line)
        .expect("verifies");
    let now = u64::try_from(caseledger_core::Timestamp::now().0 / 1_000_000).unwrap();
    assert!(ts <= now && now - ts < 600, "a current timestamp: {ts}");
    // The verifier counts it for a relying party who names the witness.
    let o = f.run(&[
        "verify",
        "--ledger",
        "L",
        "--witness",
        &w.key,
        "--quorum",
        "1",
        "--require-anchor",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // The list shows the size and its age; a second sync has nothing to send.
    let listed = ok(&f.run(&["witness", "list", "--ledger", "L"]));
    assert!(
        listed.contains(&format!("cosigned size {size} of {size}")),
        "{listed}"
    );
    let o = sync(&f, "L", &[]);
    ok(&o);
    assert!(stderr(&o).contains("already cosigned"), "{}", stderr(&o));
    // The witness's latest checkpoint (GET extension) is that note's checkpoint.
    let latest = client::latest_checkpoint(
        &Http::new(Duration::from_secs(5)),
        &w.endpoint(),
        caseledger_testkit::ORIGIN,
    )
    .expect("answer")
    .expect("a checkpoint");
    assert!(latest.starts_with(&body), "{latest}");
    // Remove: the stored cosignature stays.
    ok(&f.run(&["witness", "remove", "--ledger", "L", "w1"]));
    assert!(ok(&f.run(&["checkpoint", "--ledger", "L"])).contains("\u{2014} w1.example "));
    let e = f.run(&["witness", "remove", "--ledger", "L", "w1"]);
    assert_eq!(e.status.code(), Some(2));
    // Bad input: one line, exit 2, nothing written.
    let before = std::fs::read(f.keys().join("witnesses.txt")).unwrap();
    for (url, key, why) in [
        (
            "ftp://w.example",
            w.key.as_str(),
            "must start with https:// or http://",
        ),
        ("http://w.example", "not-a-key", "witness key"),
    ] {
        let e = f.run(&["witness", "add", "--ledger", "L", "x", url, key]);
        assert_eq!(e.status.code(), Some(2));
        assert!(
            stderr(&e).contains(why) && stderr(&e).lines().count() == 1,
            "{}",
            stderr(&e)
        );
    }
    assert_eq!(
        std::fs::read(f.keys().join("witnesses.txt")).unwrap(),
        before
    );
}

#[test]
fn a_stale_size_gets_409_and_the_resend_from_the_witness_size_succeeds() {
    let (f, w) = ledger_and_witness();
    // A copy of the ledger that will not know about the witness's first cosignature.
    copy_dir(&f.ledger(), &f.path("L2"));
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w.url, &w.key]));
    let size = f.size();
    ok(&sync(&f, "L", &[]));
    // L2 grows by one entry (the same history plus one): it believes the witness holds
    // nothing (old 0), gets 409 with `size`, resends with a proof from `size`. (L2 shares
    // L's key directory, so its write would send the seal itself: --no-sync.)
    ok(&f.run(&[
        "append",
        "--ledger",
        "L2",
        "--author",
        "lic-1",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-06-01",
        "--no-sync",
    ]));
    let o = sync(&f, "L2", &[]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!(
            "w1: cosigned size {} (from size {size})",
            size + 1
        )),
        "{}",
        stderr(&o)
    );
    // Over the protocol itself: old 0 is answered 409 with the size held and the
    // `text/x.tlog.size` content type.
    let note = ok(&f.run(&["checkpoint", "--ledger", "L2"]));
    let body = AddCheckpoint {
        old: 0,
        proof: vec![],
        note,
    }
    .to_body();
    let r = Http::new(Duration::from_secs(5))
        .post(&format!("{}/add-checkpoint", w.url), body.as_bytes())
        .expect("an answer");
    assert_eq!(r.status, 409);
    assert_eq!(r.content_type.as_deref(), Some("text/x.tlog.size"));
    assert_eq!(r.body, format!("{}\n", size + 1).into_bytes());
}

#[test]
fn a_witness_that_is_down_never_fails_sync_and_is_named() {
    let (f, w) = ledger_and_witness();
    // A port nothing listens on: bind one, then close it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w.url, &w.key]));
    let other =
        CosignatureVerifier::new("down.example", SigningKey::from_seed(&[8; 32]).public_key())
            .unwrap()
            .to_vkey_string();
    ok(&f.run(&[
        "witness",
        "add",
        "--ledger",
        "L",
        "down",
        &format!("http://{dead}"),
        &other,
    ]));
    let o = sync(&f, "L", &["--attempts", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("w1: cosigned size"), "{err}");
    assert!(
        err.contains(&format!(
            "down: lags (http://{dead}): unreachable after 2 attempts: connection refused"
        )),
        "{err}"
    );
    assert!(err.contains("1 of 2 witnesses did not cosign"), "{err}");
    let listed = ok(&f.run(&["witness", "list", "--ledger", "L"]));
    assert!(
        listed.contains("down\t") && listed.contains("never cosigned"),
        "{listed}"
    );
    // Appends go on while it is down.
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None));
}

#[test]
fn a_ledger_rolled_back_is_refused_and_is_evidence() {
    let (f, w) = ledger_and_witness();
    copy_dir(&f.ledger(), &f.path("OLD"));
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w.url, &w.key]));
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None));
    ok(&sync(&f, "L", &[]));
    // The old copy is what a rollback would restore: the witness has cosigned more.
    let o = sync(&f, "OLD", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("REFUSED, evidence"), "{}", stderr(&o));
    assert!(stderr(&o).contains("rolled back"), "{}", stderr(&o));
    // Protocol level: a smaller checkpoint with the right old size is a 400, and nothing
    // changes at the witness.
    let held = f.size();
    let old_note = ok(&f.run(&["checkpoint", "--ledger", "OLD"]));
    let body = AddCheckpoint {
        old: held,
        proof: vec![],
        note: old_note,
    }
    .to_body();
    let r = Http::new(Duration::from_secs(5))
        .post(&format!("{}/add-checkpoint", w.url), body.as_bytes())
        .unwrap();
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let latest = client::latest_checkpoint(
        &Http::new(Duration::from_secs(5)),
        &w.endpoint(),
        caseledger_testkit::ORIGIN,
    )
    .unwrap()
    .unwrap();
    assert!(
        latest.starts_with(&format!("{}\n{held}\n", caseledger_testkit::ORIGIN)),
        "{latest}"
    );
}

#[test]
fn a_split_view_is_cosigned_by_two_witnesses_and_the_verifier_reports_it() {
    let (f, w1) = ledger_and_witness();
    let w2 = Served::start(f.dir(), "w2.example", "w2.pem", "logs.txt", "w2-state");
    // Two copies of one ledger (same key), each given a different next entry: two
    // checkpoints of one size with different roots.
    copy_dir(&f.ledger(), &f.path("L2"));
    copy_dir(&f.keys(), &f.path("K2"));
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None));
    ok(&f.run(&[
        "append",
        "--ledger",
        "L2",
        "--keys",
        "K2",
        "--author",
        "lic-1",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-06-03",
    ]));
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w1.url, &w1.key]));
    ok(&f.run(&[
        "witness", "add", "--ledger", "L2", "--keys", "K2", "w2", &w2.url, &w2.key,
    ]));
    ok(&sync(&f, "L", &[]));
    ok(&sync(&f, "L2", &["--keys", "K2"]));
    let a = ok(&f.run(&["checkpoint", "--ledger", "L"]));
    let b = ok(&f.run(&["checkpoint", "--ledger", "L2"]));
    assert_eq!(a.lines().nth(1), b.lines().nth(1), "same size");
    assert_ne!(a.lines().nth(2), b.lines().nth(2), "different roots");
    f.write("a.note", a.as_bytes());
    f.write("b.note", b.as_bytes());
    // The relying party holds both cosigned notes and names both witnesses.
    let o = f.run(&[
        "--json",
        "verify",
        "--ledger",
        "L",
        "--trusted",
        "a.note",
        "--trusted",
        "b.note",
        "--witness",
        &w1.key,
        "--witness",
        &w2.key,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"split_view"), "{kinds:?}");
    // A witness shown the other branch refuses it: that sync is evidence (exit 1).
    ok(&f.run(&[
        "witness", "add", "--ledger", "L2", "--keys", "K2", "w1", &w1.url, &w1.key,
    ]));
    let o = sync(&f, "L2", &["--keys", "K2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("w1: REFUSED, evidence"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("forked"), "{}", stderr(&o));
}

/// A synthetic log (a tree of `n` leaves), signed by `log`.
fn log_note(log: &NoteSigner, t: &MemoryNodes, size: u64) -> (String, Checkpoint) {
    let cp = Checkpoint::new(log.name(), size, root_at(&Sha256Hasher, t, size).unwrap()).unwrap();
    (sign_checkpoint(&cp, log), cp)
}

#[test]
fn a_witness_killed_mid_stream_keeps_every_cosignature_and_refuses_a_fork_after() {
    let f = Fixture::empty();
    let log = NoteSigner::new("example.org/stream", SigningKey::from_seed(&[4; 32])).unwrap();
    f.write("logs.txt", format!("{}\n", log.verifier()).as_bytes());
    const N: u64 = 400;
    let leaves: Vec<Hash> = (0..N)
        .map(|i| Hash(*blake3::hash(&i.to_be_bytes()).as_bytes()))
        .collect();
    let t = Arc::new(MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves));
    let w = Served::start(f.dir(), "w.example", "w.pem", "logs.txt", "state");
    let ep = w.endpoint();
    // A client streams checkpoints 1, 2, ... each from the last; every cosignature it
    // gets back is recorded. It stops at its first failure (the kill).
    let got = Arc::new(Mutex::new(Vec::<u64>::new()));
    let streamer = {
        let (t, got, log, ep) = (t.clone(), got.clone(), log.clone(), ep.clone());
        std::thread::spawn(move || {
            let http = Http::new(Duration::from_secs(5));
            let once = Policy {
                attempts: 1,
                ..Policy::default()
            };
            for size in 1..=N {
                let (note, cp) = log_note(&log, &t, size);
                let mut proof =
                    |m, n| consistency_proof(&Sha256Hasher, &*t, m, n).map_err(|e| e.to_string());
                match client::submit(&http, &ep, &note, &cp, size - 1, &mut proof, &once) {
                    Ok(c) => {
                        assert!(ep.key.verify_line(&cp, &c.line).is_ok());
                        got.lock().unwrap().push(size);
                    }
                    Err(e) => return e,
                }
            }
            SubmitError::TooManyConflicts(0)
        })
    };
    // Kill it once at least 25 cosignatures were handed out (bounded wait: 2000 x 5 ms).
    for _ in 0..2000 {
        if got.lock().unwrap().len() >= 25 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    w.kill9();
    let stopped = streamer.join().unwrap();
    assert!(
        matches!(stopped, SubmitError::Unreachable { .. }),
        "{stopped}"
    );
    let last = *got
        .lock()
        .unwrap()
        .last()
        .expect("some cosignatures before the kill");
    assert!(last < N, "the kill came mid-stream");
    // Restarted on the same state: it holds at least every size it answered 200 for (one
    // more if it persisted a request whose answer the kill cut off).
    let w = Served::start(f.dir(), "w.example", "w.pem", "logs.txt", "state");
    let http = Http::new(Duration::from_secs(5));
    let latest = client::latest_checkpoint(&http, &w.endpoint(), log.name())
        .unwrap()
        .unwrap();
    let held: u64 = latest.lines().nth(1).unwrap().parse().unwrap();
    assert!(
        held == last || held == last + 1,
        "held {held}, last answered {last}"
    );
    // It refuses a fork of the size it holds, and a checkpoint from before it.
    let fork_leaves: Vec<Hash> = (0..held)
        .map(|i| Hash([u8::try_from(i % 251).unwrap(); 32]))
        .collect();
    let fork = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &fork_leaves);
    let (note, cp) = log_note(&log, &fork, held);
    let mut none = |_, _| Ok(vec![]);
    let once = Policy {
        attempts: 1,
        ..Policy::default()
    };
    assert_eq!(
        client::submit(&http, &w.endpoint(), &note, &cp, held, &mut none, &once),
        Err(SubmitError::Fork { size: held })
    );
    let (note, cp) = log_note(&log, &t, held - 1);
    assert_eq!(
        client::submit(&http, &w.endpoint(), &note, &cp, 0, &mut none, &once),
        Err(SubmitError::Ahead {
            witness: held,
            size: held - 1
        })
    );
    // The honest log goes on from there.
    let (note, cp) = log_note(&log, &t, held + 1);
    let mut proof = |m, n| consistency_proof(&Sha256Hasher, &*t, m, n).map_err(|e| e.to_string());
    let c = client::submit(
        &http,
        &w.endpoint(),
        &note,
        &cp,
        0,
        &mut proof,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(c.from_size, held);
}

fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    // A ledger and a key directory must be private to their user.
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// An HTTPS proxy for one request in front of the plain-HTTP witness at `plain`.
fn tls_proxy(pki: &tls::TestPki, plain: &str) -> (String, std::thread::JoinHandle<tls::Seen>) {
    let plain = plain.trim_end_matches('/').to_owned();
    let (port, handle) = tls::serve_once(pki, move |line, body| {
        let path = line.split(' ').nth(1).unwrap_or("/");
        let r = Http::new(Duration::from_secs(10))
            .post(&format!("{plain}{path}"), body)
            .expect("the plain witness answers");
        (r.status, r.content_type.unwrap_or_default(), r.body)
    });
    (format!("https://127.0.0.1:{port}"), handle)
}

#[test]
fn sync_reaches_an_https_witness_behind_a_private_ca_only_with_tls_roots() {
    let (f, w) = ledger_and_witness();
    let dir = tempfile::tempdir().unwrap();
    let pki = tls::TestPki::new(dir.path());
    let size = f.size();
    // Mozilla's roots do not hold the test CA: the witness lags with a certificate error
    // (sync still exits 0: a witness that cannot be reached never fails it).
    let (url, proxy) = tls_proxy(&pki, &w.url);
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &url, &w.key]));
    let o = sync(&f, "L", &["--attempts", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("w1: lags") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(proxy.join().unwrap().is_err(), "no request got through");
    // With the test CA as --tls-roots the cosignature comes back over TLS and is stored.
    let (url, proxy) = tls_proxy(&pki, &w.url);
    ok(&f.run(&["witness", "remove", "--ledger", "L", "w1"]));
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &url, &w.key]));
    let ca = pki.ca_pem.to_str().unwrap();
    let o = sync(&f, "L", &["--attempts", "1", "--tls-roots", ca]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("w1: cosigned size {size} (from size 0)")),
        "{}",
        stderr(&o)
    );
    proxy.join().unwrap().unwrap();
    assert!(ok(&f.run(&["checkpoint", "--ledger", "L"])).contains("\u{2014} w1.example "));
    // Kept in the witness list (`witness add --tls-roots`), the roots serve the write's own
    // sync too, with no flag on the write.
    let (url, proxy) = tls_proxy(&pki, &w.url);
    ok(&f.run(&["witness", "remove", "--ledger", "L", "w1"]));
    ok(&f.run(&[
        "witness",
        "add",
        "--ledger",
        "L",
        "w1",
        &url,
        &w.key,
        "--tls-roots",
        ca,
    ]));
    let list = std::fs::read_to_string(f.keys().join("witnesses.txt")).unwrap();
    assert!(list.contains(&format!(" tls-roots={ca}\n")), "{list}");
    let o = f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None);
    let size = f.size();
    assert!(
        stderr(&o).contains(&format!("witness w1 cosigned size {size}")),
        "{}",
        stderr(&o)
    );
    proxy.join().unwrap().unwrap();
    // A file that holds no certificate is refused when the witness is added.
    f.write("empty.pem", b"not a certificate\n");
    let o = f.run(&[
        "witness",
        "add",
        "--ledger",
        "L",
        "w2",
        &url,
        &w.key,
        "--tls-roots",
        "empty.pem",
    ]);
    assert!(fails(&o).contains("--tls-roots"), "{}", stderr(&o));
}

/// The size a witness last cosigned, from `status --json`.
fn cosigned(f: &Fixture, name: &str) -> Option<u64> {
    let v: serde_json::Value =
        serde_json::from_str(&ok(&f.run(&["--json", "status", "--ledger", "L"]))).unwrap();
    v["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .expect("the witness is listed")["cosigned_size"]
        .as_u64()
}

#[test]
fn a_write_gets_its_seal_cosigned_without_sync_unless_no_sync() {
    let (f, w) = ledger_and_witness();
    ok(&f.run(&["witness", "add", "--ledger", "L", "w1", &w.url, &w.key]));
    assert_eq!(cosigned(&f, "w1"), None);
    let o = f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None);
    // The receipt first (stdout, and its line on stderr), then the witness.
    assert!(stdout(&o).starts_with("seq "), "{}", stdout(&o));
    let err = stderr(&o);
    let size = f.size();
    let receipt_at = err.find("appended contact").expect("receipt line");
    let cosigned_at = err
        .find(&format!("witness w1 cosigned size {size}"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(receipt_at < cosigned_at, "{err}");
    assert_eq!(cosigned(&f, "w1"), Some(size));
    // Stored with the seal: the checkpoint carries the witness's line, and `witness sync`
    // has nothing to send.
    let note = ok(&f.run(&["checkpoint", "--ledger", "L"]));
    assert!(note.contains("\u{2014} w1.example "), "{note}");
    assert!(stderr(&sync(&f, "L", &[])).contains("w1: already cosigned"));
    // Other sealing commands too (a hold), and --no-sync skips it.
    ok(&f.run(&[
        "hold", "place", "--ledger", "L", "--record", "C-OPEN", "--matter", "case-1", "--author",
        "cust-1",
    ]));
    assert_eq!(cosigned(&f, "w1"), Some(f.size()));
    // An export seals the record_head it appends: that seal is sent too.
    let o = f.run(&[
        "export",
        "--ledger",
        "L",
        "--record",
        "C-OPEN",
        "--out",
        "c-open.bundle",
    ]);
    ok(&o);
    assert_eq!(cosigned(&f, "w1"), Some(f.size()), "{}", stderr(&o));
    let o = f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-06-03",
        "--no-sync",
    ]);
    ok(&o);
    assert!(!stderr(&o).contains("witness"), "{}", stderr(&o));
    assert_eq!(cosigned(&f, "w1"), Some(f.size() - 1));
    let st = ok(&f.run(&["status", "--ledger", "L"]));
    assert!(st.contains(&format!("seal: size {}", f.size())), "{st}");
    assert!(
        st.contains(&format!("witness w1: cosigned size {} at ", f.size() - 1)),
        "{st}"
    );
    assert!(st.contains("s ago, 1 entry behind"), "{st}");
    assert!(st.contains("timestamp: none"), "{st}");
}

#[test]
fn a_witness_that_is_down_or_hangs_never_fails_or_holds_up_a_write_and_sync_catches_up() {
    let f = Fixture::small();
    let vkey = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write("logs.txt", vkey.as_bytes());
    // "down": a port nothing listens on (bound, then closed); "hang": a listener that
    // accepts connections (the kernel's backlog) and never answers.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let key = |seed: u8, name: &str| {
        CosignatureVerifier::new(name, SigningKey::from_seed(&[seed; 32]).public_key())
            .unwrap()
            .to_vkey_string()
    };
    // The witness that will come up at the "down" address later.
    ok(&f.run(&["keys", "generate", "--out", "late.pem"]));
    let late_key = ok(&f.run(&[
        "keys",
        "export",
        "--key",
        "late.pem",
        "--witness",
        "--name",
        "late.example",
    ]));
    ok(&f.run(&[
        "witness",
        "add",
        "--ledger",
        "L",
        "down",
        &format!("http://{down}"),
        late_key.trim(),
    ]));
    ok(&f.run(&[
        "witness",
        "add",
        "--ledger",
        "L",
        "hang",
        &format!("http://{}", hang.local_addr().unwrap()),
        &key(9, "hang.example"),
    ]));
    let t = std::time::Instant::now();
    let o = f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None);
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("seq "), "{}", stdout(&o));
    // The budget is 6 s after the write; the write itself and the process take little.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let err = stderr(&o);
    let size = f.size();
    assert!(
        err.contains(&format!(
            "caseledger: warning: witness down did not cosign size {size} (unreachable after 1 attempt: connection refused)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "caseledger: warning: witness hang did not cosign size {size}"
        )),
        "{err}"
    );
    assert_eq!(err.matches("warning").count(), 2, "{err}");
    // The lag shows; the witness comes up; `witness sync` catches up.
    let st = ok(&f.run(&["status", "--ledger", "L"]));
    assert!(
        st.contains(&format!(
            "witness down: never cosigned, {size} entries behind"
        )),
        "{st}"
    );
    let _late = Served::start_at(
        f.dir(),
        "late.example",
        "late.pem",
        "logs.txt",
        "late-state",
        &down.to_string(),
    );
    let o = sync(&f, "L", &["--attempts", "1"]);
    assert!(
        stderr(&o).contains(&format!("down: cosigned size {size}")),
        "{}",
        stderr(&o)
    );
    assert_eq!(cosigned(&f, "down"), Some(size));
    drop(hang);
}

#[test]
fn min_interval_limits_requests_per_witness_and_the_newest_seal_wins() {
    let (f, w) = ledger_and_witness();
    ok(&f.run(&[
        "witness",
        "add",
        "--ledger",
        "L",
        "w1",
        &w.url,
        &w.key,
        "--min-interval",
        "3600",
    ]));
    let first = f.size() + 1;
    let o = f.append("lic-1", "C-OPEN", "contact", "2025-06-02", None);
    assert!(stderr(&o).contains(&format!("witness w1 cosigned size {first}")));
    // Within the hour: nothing is sent, the seal waits.
    for day in ["2025-06-03", "2025-06-04"] {
        let o = f.append("lic-1", "C-OPEN", "contact", day, None);
        ok(&o);
        assert!(!stderr(&o).contains("witness"), "{}", stderr(&o));
    }
    assert_eq!(cosigned(&f, "w1"), Some(first));
    let state = std::fs::read_to_string(f.keys().join("evidence-state.json")).unwrap();
    assert!(state.contains("\"w1\""), "{state}");
    // `witness sync` is not rate-limited: the newest seal, with a proof from `first`.
    let o = sync(&f, "L", &[]);
    assert!(
        stderr(&o).contains(&format!(
            "w1: cosigned size {} (from size {first})",
            f.size()
        )),
        "{}",
        stderr(&o)
    );
}
