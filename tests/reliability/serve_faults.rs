//! Campaign 7 (issue 17): `caseledger serve` under faults.
//!
//! * **kill -9 while 64 HTTP clients append.** Each client sends progress notes with its own
//!   client event ids (`c<client>-<n>`), one at a time: half of them pre-signed by the
//!   author (the server queues a lone pre-signed event into the group commit from the
//!   request's task), half signed by the server (a blocking thread per request); a request
//!   that fails (refused,
//!   reset, timed out, `503`) is sent again, with the same id and content, until it is
//!   answered `200`, across as many restarts as it takes. The parent kills the server with
//!   SIGKILL at a seeded moment after the round's first acknowledgement, then starts it
//!   again on the same ledger; every third round it is killed once more 0-40 ms after that
//!   restart, while it opens (recovers) the ledger for the clients' first requests. After each restart, every receipt acknowledged since the
//!   previous check, and a seeded sample of older ones, must be at its seq with its entry
//!   hash (inclusion route), and the ledger must hold at most one unacknowledged event per
//!   client (the one in flight); every 5th round a snapshot taken while appends go on must
//!   verify clean. At the end (every id acknowledged): the acknowledged seqs are distinct
//!   and are exactly the seqs appended after the setup (so no event is in the ledger twice,
//!   or without its acknowledgement), every receipt is in the ledger as answered, and
//!   `caseledger verify` finds nothing. One client in eight, after each acknowledgement,
//!   sends the same request again: it must be answered with the same receipt, `replayed`.
//! * **disk full under the server.** The ledger on a small tmpfs and a filler file; notes
//!   of 8 KiB are posted until the disk is full: each refusal must be `507 storage_full`
//!   JSON with `Retry-After` (a 500 fails the campaign), the server stays up, and once the
//!   filler is deleted the refused request, sent again with its id, succeeds; nothing is
//!   half-written (every acknowledged receipt as answered, no entry without its
//!   acknowledgement, `caseledger verify` clean).
//!
//! Deliberately broken variants (`CASELEDGER_BREAK=`): `serve-fresh-id` (a client resends a
//! failed request under a new id: events appended twice must be caught), `serve-rollback`
//! (the ledger directory is put back to a copy taken before the round: acknowledged events
//! lost must be caught).

use crate::harness;
use caseledger_core::keys::SigningKey;
use caseledger_testkit::cli::{ok, run_in, stdout, Fixture};
use caseledger_testkit::server::{self, Answer, ServerProc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The served ledger's name.
pub const LEDGER: &str = "practice";

/// A ledger made with the CLI, its `serve.toml`, and client tokens.
pub struct Site {
    /// The working directory (keys under `.config`, the config, the log).
    pub f: Fixture,
    /// The ledger directory.
    pub ledger: PathBuf,
    /// append + read-proofs + admin, may have the server sign as `lic-1`.
    pub token: String,
    /// read-status only.
    pub status_token: String,
    /// every scope, expired in 2020.
    pub expired_token: String,
    /// Entries after the setup (genesis, the licensee, one record per client).
    pub base: u64,
}

fn new_token(f: &Fixture) -> (String, String) {
    let out = ok(&f.run(&["serve", "--new-token"]));
    let mut l = out.lines();
    let token = l.next().expect("token").to_owned();
    let hash = l.next().expect("hash").to_owned();
    (token, hash)
}

/// A ledger at `ledger` (default `<work>/L`) with a licensee `lic-1` and records `R-0` …
/// `R-<records-1>` opened, served by the config `serve.toml` with `limits` lines.
pub fn site(ledger: Option<&Path>, records: usize, limits: &str) -> Site {
    let f = Fixture::empty();
    let dir = ledger.map_or_else(|| f.path("L"), Path::to_path_buf);
    let d = dir.to_str().expect("utf-8 path");
    ok(&f.run(&[
        "init",
        d,
        "--origin",
        caseledger_testkit::ORIGIN,
        "--private-practice",
    ]));
    ok(&f.run(&[
        "actor", "add", "--ledger", d, "--id", "lic-1", "--role", "licensee",
    ]));
    let lines: Vec<String> = (0..records)
        .map(|c| {
            format!(r#"{{"record":"R-{c}","kind":"record_opened","occurred_on":"2025-05-01","author":"lic-1"}}"#)
        })
        .collect();
    f.write("open.jsonl", (lines.join("\n") + "\n").as_bytes());
    ok(&f.run(&["import", "--ledger", d, "open.jsonl"]));
    let (token, h) = new_token(&f);
    let (status_token, sh) = new_token(&f);
    let (expired_token, eh) = new_token(&f);
    let config = format!(
        r#"listen = "127.0.0.1:0"
[limits]
max_body_bytes = 262144
{limits}
[ledgers.{LEDGER}]
dir = "{d}"
keys = "{keys}"
snapshots = "snaps"
[[clients]]
name = "ehr"
token_sha256 = "{h}"
scopes = ["append", "read-proofs", "admin"]
sign_as = ["lic-1"]
[[clients]]
name = "status-only"
token_sha256 = "{sh}"
scopes = ["read-status"]
[[clients]]
name = "expired"
token_sha256 = "{eh}"
scopes = ["append", "read-status", "read-proofs", "report", "admin"]
sign_as = ["lic-1"]
expires = "2020-01-01T00:00:00Z"
"#,
        keys = f.keys().display()
    );
    f.write("serve.toml", config.as_bytes());
    let base = verify_clean(&f, &dir);
    Site {
        f,
        ledger: dir,
        token,
        status_token,
        expired_token,
        base,
    }
}

impl Site {
    /// Starts `caseledger serve` on this site.
    pub fn serve(&self) -> ServerProc {
        ServerProc::serve(self.f.dir(), "serve.toml", &self.f.path("serve.log"))
    }
}

/// `caseledger --json verify --ledger DIR`: asserts exit 0 and no finding; the size.
pub fn verify_clean(f: &Fixture, dir: &Path) -> u64 {
    let o = run_in(
        f.dir(),
        &["--json", "verify", "--ledger", dir.to_str().unwrap()],
    );
    let text = stdout(&o);
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        o.status.code() == Some(0) && v["findings"].as_array().is_some_and(Vec::is_empty),
        "verify {} is not clean (exit {:?}):\n{text}\n{}",
        dir.display(),
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    v["size"].as_u64().expect("size")
}

/// A note's payload: the canary, the id, padded to `len` bytes.
fn payload(id: &str, len: usize) -> String {
    let mut payload = format!("{} note {id} ", caseledger_testkit::campaign::CANARY);
    while payload.len() < len {
        payload.push('x');
    }
    payload
}

/// A progress note with client event id `id` on record `R-<record>`.
pub fn event(id: &str, record: usize, payload_len: usize) -> Value {
    json!({"id": id, "record": format!("R-{record}"), "kind": "progress_note",
           "occurred_on": "2025-05-03", "author": "lic-1", "payload": payload(id, payload_len)})
}

/// [`event`] pre-signed by `lic-1` (the server's lone pre-signed path: queued into the
/// group commit by the request's task, no blocking thread of its own).
fn presigned_event(key: &SigningKey, id: &str, record: usize, payload_len: usize) -> Value {
    let p = payload(id, payload_len);
    caseledger_testkit::server::presigned_note(key, "lic-1", Some(id), &format!("R-{record}"), &p)
}

/// POST one event; `Err` when no HTTP answer came.
pub fn post(addr: &str, token: &str, body: &Value, timeout: Duration) -> std::io::Result<Answer> {
    server::request(
        addr,
        "POST",
        &format!("/v1/ledgers/{LEDGER}/events"),
        Some(token),
        Some(body.to_string().as_bytes()),
        timeout,
    )
}

/// (seq, entry hash, replayed) of a one-event answer.
pub fn receipt(a: &Answer) -> Option<(u64, String, bool)> {
    let r = &a.json()["receipts"][0];
    Some((
        r["seq"].as_u64()?,
        r["hash"].as_str()?.to_owned(),
        r["replayed"].as_bool()?,
    ))
}

/// The entry hash at `seq`, from the inclusion route (None: not there or no answer).
pub fn entry_hash_at(addr: &str, token: &str, seq: u64) -> Option<String> {
    let a = server::request(
        addr,
        "GET",
        &format!("/v1/ledgers/{LEDGER}/proofs/inclusion?seq={seq}"),
        Some(token),
        None,
        Duration::from_secs(30),
    )
    .ok()?;
    (a.status == 200)
        .then(|| a.json()["entry_hash"].as_str().map(str::to_owned))
        .flatten()
}

/// The ledger's size from its newest seal.
pub fn size(addr: &str, token: &str) -> u64 {
    let a = server::request(
        addr,
        "GET",
        &format!("/v1/ledgers/{LEDGER}/checkpoint"),
        Some(token),
        None,
        Duration::from_secs(30),
    )
    .expect("checkpoint answered");
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["size"].as_u64().expect("size")
}

/// An acknowledged id and its receipt (seq, entry hash).
type Acked = (String, (u64, String));

/// What the clients share with the parent.
#[derive(Default)]
struct Shared {
    /// The server's address while it runs.
    addr: Mutex<Option<String>>,
    stop: AtomicBool,
    /// id → (seq, entry hash) as first acknowledged.
    acks: Mutex<BTreeMap<String, (u64, String)>>,
    /// Acknowledged ids in order (the parent checks those since its last check).
    order: Mutex<Vec<String>>,
    resent: AtomicU64,
    replays: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Shared {
    fn fail(&self, why: String) {
        let mut f = self.failures.lock().expect("lock");
        if f.len() < 20 {
            f.push(why);
        }
    }
}

/// One client: sends `c<client>-<n>` for n = 0, 1, … until told to stop, each until it is
/// acknowledged.
fn client(c: usize, token: String, sh: Arc<Shared>, replayer: bool, signer: Option<SigningKey>) {
    let fresh_ids = harness::broken("serve-fresh-id");
    // Signed once per id: a retry sends the same bytes, so the same request.
    let make = |id: &str| match &signer {
        Some(k) => presigned_event(k, id, c, 200),
        None => event(id, c, 200),
    };
    let mut n = 0u64;
    let mut pause = 1;
    while !sh.stop.load(Ordering::Relaxed) {
        let mut id = format!("c{c}-{n}");
        let mut first = true;
        let mut body = make(&id);
        let ack = loop {
            let addr = sh.addr.lock().expect("lock").clone();
            let Some(addr) = addr else {
                // Between a kill and the restart.
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            match post(&addr, &token, &body, Duration::from_secs(30)) {
                Ok(a) if a.status == 200 => match receipt(&a) {
                    Some(r) => break r,
                    None => {
                        sh.fail(format!("{id}: a 200 without a receipt: {}", a.body));
                        return;
                    }
                },
                // Busy (ledger still held by the dead server's lock being released, the
                // timeout): the protocol says send it again.
                Ok(a) if a.status == 503 => {}
                Ok(a) => {
                    sh.fail(format!("{id}: answered {} {}", a.status, a.body));
                    return;
                }
                Err(_) => {}
            }
            sh.resent.fetch_add(1, Ordering::Relaxed);
            if fresh_ids {
                // Broken on purpose: the failed request is given up, its content sent anew.
                n += 1;
                id = format!("c{c}-{n}");
                body = make(&id);
            }
            first = false;
            std::thread::sleep(Duration::from_millis(pause));
            pause = (pause * 2).min(20);
        };
        pause = 1;
        let (seq, hash, replayed) = ack;
        if replayed && first {
            sh.fail(format!("{id}: first sent, answered as a replay"));
        }
        {
            let mut acks = sh.acks.lock().expect("lock");
            if let Some((s0, h0)) = acks.get(&id) {
                if (*s0, h0) != (seq, &hash) {
                    sh.fail(format!("{id}: acknowledged twice, differently"));
                }
            } else {
                acks.insert(id.clone(), (seq, hash.clone()));
                sh.order.lock().expect("lock").push(id.clone());
            }
        }
        if replayer {
            // The same request again: the same receipt, replayed, nothing appended.
            if let Some(addr) = sh.addr.lock().expect("lock").clone() {
                if let Ok(a) = post(&addr, &token, &body, Duration::from_secs(30)) {
                    if a.status == 200 {
                        sh.replays.fetch_add(1, Ordering::Relaxed);
                        if receipt(&a) != Some((seq, hash.clone(), true)) {
                            sh.fail(format!("{id}: a replay answered {}", a.body));
                        }
                    }
                }
            }
        }
        n += 1;
    }
}

#[test]
fn kill_9_of_the_server_while_64_clients_append_loses_and_doubles_nothing() {
    const CLIENTS: usize = 64;
    let kills = harness::count(20, 300);
    let mut rng = ChaCha8Rng::seed_from_u64(harness::seed(17));
    let started = Instant::now();
    let s = site(
        None,
        CLIENTS,
        "request_timeout_secs = 20\nidle_close_secs = 300",
    );
    let sh = Arc::new(Shared::default());
    let mut srv = s.serve();
    *sh.addr.lock().unwrap() = Some(srv.addr.clone());
    // Half the clients pre-sign (the server's lone pre-signed path), half have the server
    // sign (its blocking path); a quarter of each kind replays every acknowledged request.
    let key = caseledger_keyfile::read(&s.f.keys().join("actors").join("lic-1.pem")).unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (t, sh) = (s.token.clone(), sh.clone());
            let signer = (c % 4 >= 2).then(|| key.clone());
            std::thread::spawn(move || client(c, t, sh, c % 8 == 0 || c % 8 == 2, signer))
        })
        .collect();
    let rollback = harness::broken("serve-rollback");
    let mut stale: Option<PathBuf> = None;
    let mut checked = 0usize;
    let (mut snapshots, mut sample_checks, mut recovery_kills) = (0u64, 0u64, 0u64);
    for k in 0..kills {
        // Kill at a seeded moment 0-150 ms after the round's first acknowledgement.
        let before = sh.order.lock().unwrap().len();
        let t0 = Instant::now();
        while sh.order.lock().unwrap().len() == before && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            sh.order.lock().unwrap().len() > before,
            "no append acknowledged within 60 s after restart {k}: {:?}",
            sh.failures.lock().unwrap()
        );
        if k % 5 == 4 {
            // A consistent copy taken while the clients append must verify clean.
            let a = server::request(
                &srv.addr,
                "POST",
                &format!("/v1/ledgers/{LEDGER}/snapshot"),
                Some(&s.token),
                Some(b"{}"),
                Duration::from_secs(60),
            )
            .expect("snapshot answered");
            assert_eq!(a.status, 200, "snapshot: {}", a.body);
            // Relative to the config file's directory.
            let path = s.f.dir().join(a.json()["path"].as_str().expect("path"));
            let n = verify_clean(&s.f, &path);
            assert_eq!(Some(n), a.json()["size"].as_u64(), "snapshot size");
            std::fs::remove_dir_all(&path).expect("remove snapshot");
            snapshots += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        *sh.addr.lock().unwrap() = None;
        srv.kill9();
        if rollback {
            // Broken on purpose: the ledger put back to where it was after an earlier kill
            // (a copy taken while no process had it open).
            if let Some(prev) = stale.take() {
                let _ = std::fs::remove_dir_all(&s.ledger);
                std::fs::rename(&prev, &s.ledger).expect("roll back");
            }
            let to = s.f.path(&format!("stale-{k}"));
            caseledger_testkit::copy_dir(&s.ledger, &to).expect("copy");
            stale = Some(to);
        }
        srv = s.serve();
        if k % 3 == 1 {
            // Killed again during recovery: the server opens the ledger lazily, on the
            // clients' first requests after the restart (sled's recovery of the killed
            // process's log, the registry walk, the head checked against the newest seal),
            // so a kill 0-40 ms after the restart lands in that open or in the first group
            // commits after it. What it was doing must be as crash-safe as an append.
            *sh.addr.lock().unwrap() = Some(srv.addr.clone());
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..40)));
            *sh.addr.lock().unwrap() = None;
            srv.kill9();
            recovery_kills += 1;
            srv = s.serve();
        }
        // Every receipt answered since the last check, and 32 older ones, as answered.
        let (new, old): (Vec<Acked>, Vec<Acked>) = {
            let order = sh.order.lock().unwrap();
            let acks = sh.acks.lock().unwrap();
            let new = order[checked..]
                .iter()
                .map(|id| (id.clone(), acks[id].clone()))
                .collect();
            let old = (0..32.min(checked))
                .map(|_| {
                    let id = &order[rng.gen_range(0..checked)];
                    (id.clone(), acks[id].clone())
                })
                .collect();
            checked = order.len();
            (new, old)
        };
        sample_checks += old.len() as u64;
        // Nothing twice so far: the ledger holds every acknowledged event, and at most one
        // more per client (the request each had in flight when the server died).
        let head = size(&srv.addr, &s.token);
        let acked = sh.acks.lock().unwrap().len() as u64;
        assert!(
            head >= s.base + acked && head <= s.base + acked + CLIENTS as u64,
            "after kill {k}: the ledger holds {} events after the setup for {acked} acknowledged ids and at most {CLIENTS} in flight",
            head - s.base
        );
        for (id, (seq, hash)) in new.iter().chain(&old) {
            let got = entry_hash_at(&srv.addr, &s.token, *seq);
            assert_eq!(
                got.as_deref(),
                Some(hash.as_str()),
                "after kill {k}: acknowledged {id} (seq {seq}) is not in the ledger as answered"
            );
        }
        *sh.addr.lock().unwrap() = Some(srv.addr.clone());
        let failures = sh.failures.lock().unwrap().clone();
        assert!(failures.is_empty(), "after kill {k}: {failures:#?}");
    }
    // Let every client finish the request it is on, then stop the server.
    sh.stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let failures = sh.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{failures:#?}");
    let acks = sh.acks.lock().unwrap().clone();
    let head = size(&srv.addr, &s.token);
    let mut missing = Vec::new();
    for (id, (seq, hash)) in &acks {
        if entry_hash_at(&srv.addr, &s.token, *seq).as_deref() != Some(hash.as_str()) {
            missing.push(id.clone());
        }
    }
    assert_eq!(srv.stop(), Some(0), "the server stops cleanly");
    let verified = verify_clean(&s.f, &s.ledger);
    assert_eq!(verified, head);
    assert!(
        missing.is_empty(),
        "{} acknowledged events are not in the ledger as answered, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Each id at its own seq, and every seq after the setup is some id's: nothing twice.
    let mut seqs: Vec<u64> = acks.values().map(|(s, _)| *s).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), acks.len(), "two ids acknowledged at one seq");
    assert_eq!(
        head - s.base,
        acks.len() as u64,
        "the ledger holds {} events after the setup for {} acknowledged ids: events appended twice or never acknowledged",
        head - s.base,
        acks.len()
    );
    assert!(
        seqs.iter().copied().eq(s.base..head),
        "acknowledged seqs are not the appended ones"
    );
    println!(
        "serve kill -9: {kills} kills (and {recovery_kills} more during the recovery after one), {CLIENTS} clients, {} events acknowledged (0 lost, 0 twice), {} requests sent again after a failure, {} replays answered with the original receipt, {} older receipts re-checked, {snapshots} snapshots verified clean, final ledger {head} entries verified clean, {:.1} s",
        acks.len(),
        sh.resent.load(Ordering::Relaxed),
        sh.replays.load(Ordering::Relaxed),
        sample_checks,
        started.elapsed().as_secs_f64()
    );
}

/// A tmpfs mounted for the test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let o = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(Mount(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&o.stderr).trim().to_owned())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn disk_full_under_the_server_is_507_and_appends_resume_when_space_returns() {
    let rounds = harness::count(1, 5);
    let root = caseledger_testkit::tempdir("serve-diskfull");
    for round in 0..rounds {
        let at = root.path().join(format!("mnt{round}"));
        let mount = match Mount::tmpfs(&at, "4m") {
            Ok(m) => m,
            Err(why) => {
                // CI runs as root; a developer's machine may not allow mounting.
                println!("SKIPPED serve disk full: mounting a tmpfs is not permitted here ({why})");
                return;
            }
        };
        // Never idle-closed during the test: appends must resume without it.
        let s = site(Some(&at.join("L")), 1, "idle_close_secs = 300");
        let filler = at.join("filler");
        std::fs::write(&filler, vec![0u8; 2 << 20]).expect("filler");
        let srv = s.serve();
        let pre_fill = harness::broken("serve-rollback").then(|| {
            let to = s.f.path("pre-fill");
            // While the server has not opened the ledger yet: a consistent copy.
            caseledger_testkit::copy_dir(&s.ledger, &to).expect("copy");
            to
        });
        let mut acks: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut refusals: BTreeMap<(u16, String), u64> = BTreeMap::new();
        let mut in_a_row = 0;
        let mut refused: Vec<(String, Value)> = Vec::new();
        for n in 0..4000 {
            let id = format!("d{round}-{n}");
            let body = event(&id, 0, 8 * 1024);
            let a = post(&srv.addr, &s.token, &body, Duration::from_secs(30))
                .expect("the server answers on a full disk");
            if a.status == 200 {
                let (seq, hash, _) = receipt(&a).expect("receipt");
                acks.insert(id, (seq, hash));
                in_a_row = 0;
                continue;
            }
            assert!(
                !a.body.contains(caseledger_testkit::campaign::CANARY),
                "an error holds clinical content: {}",
                a.body
            );
            *refusals.entry((a.status, a.kind())).or_default() += 1;
            assert!(
                a.status == 507 && a.kind() == "storage_full" && a.header("retry-after").is_some(),
                "an append on a full disk was answered {} {} (expected 507 storage_full with Retry-After)",
                a.status,
                a.body
            );
            // Refused, but perhaps written (a commit whose flush failed): sent again later.
            refused.push((id, body));
            in_a_row += 1;
            if in_a_row == 3 {
                break;
            }
        }
        assert!(!refused.is_empty(), "the disk never filled");
        let while_full = acks.len();
        // Space returns; every refused request, sent again with its id, is appended (once:
        // `replayed` if the refusal had in fact been written).
        std::fs::remove_file(&filler).expect("free space");
        let mut replayed_after = 0;
        for (id, body) in &refused {
            let mut resumed = None;
            let mut last = String::new();
            for _ in 0..100 {
                let a = post(&srv.addr, &s.token, body, Duration::from_secs(30)).expect("answered");
                if a.status == 200 {
                    resumed = receipt(&a);
                    break;
                }
                last = format!("{} {}", a.status, a.body);
                std::thread::sleep(Duration::from_millis(100));
            }
            let Some((seq, hash, replayed)) = resumed else {
                panic!("appends did not resume within 10 s of space returning: {last}");
            };
            replayed_after += u64::from(replayed);
            acks.insert(id.clone(), (seq, hash));
        }
        for n in 0..5 {
            let id = format!("after{round}-{n}");
            let a = post(
                &srv.addr,
                &s.token,
                &event(&id, 0, 200),
                Duration::from_secs(30),
            )
            .expect("answered");
            assert_eq!(a.status, 200, "after space returned: {}", a.body);
            let (seq, hash, _) = receipt(&a).expect("receipt");
            acks.insert(id, (seq, hash));
        }
        let head = size(&srv.addr, &s.token);
        for (id, (seq, hash)) in &acks {
            assert_eq!(
                entry_hash_at(&srv.addr, &s.token, *seq).as_deref(),
                Some(hash.as_str()),
                "{id}: acknowledged, not in the ledger as answered"
            );
        }
        assert_eq!(srv.stop(), Some(0));
        if let Some(copy) = pre_fill {
            std::fs::remove_dir_all(&s.ledger).expect("rm");
            // Copied, not renamed: the ledger is on the tmpfs.
            caseledger_testkit::copy_dir(&copy, &s.ledger).expect("roll back");
        }
        let verified = verify_clean(&s.f, &s.ledger);
        assert_eq!(verified, head, "the ledger's size after the server stopped");
        assert_eq!(
            head - s.base,
            acks.len() as u64,
            "entries appended without their acknowledgement (half-written or twice)"
        );
        println!(
            "serve disk full round {round}: tmpfs 4 MiB with a 2 MiB filler, {while_full} appends of 8 KiB acknowledged, then refused {refusals:?}; after freeing: the {} refused requests sent again and appended once ({replayed_after} of them had been written: replayed), 5 more appended, {head} entries verified clean",
            refused.len()
        );
        drop(mount);
    }
}
