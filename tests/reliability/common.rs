//! Shared fixtures: fixed test keys, a ledger with a licensee and a custodian, event
//! builders with canary payloads, the child-process launcher, verification helpers.

#![allow(dead_code)]

use caseledger_core::event::{Event, EventKind, LedgerSettings, Payload, ShortText, SignedEvent};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::{NoteSigner, NoteVerifier};
use caseledger_core::{ActorId, Date, Nonce, RecordId, Timestamp};
use caseledger_store::{CreateOptions, Ledger, OpenOptions};
use caseledger_verify::{verify, Policy, SledSource, Verified, VerifyError};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ledger origin of every campaign ledger.
pub const ORIGIN: &str = "reliability.caseledger.example/ledger";
/// A string that must never appear outside the payload store (campaign 6).
pub const CANARY: &str = "CANARY-7f3e-clinical-secret";

/// Whether this is the long run (`CASELEDGER_TORTURE=full`).
pub fn full() -> bool {
    std::env::var("CASELEDGER_TORTURE").is_ok_and(|v| v == "full")
}

/// Whether the deliberately broken variant `what` was asked for (`CASELEDGER_BREAK=what`):
/// each campaign has one, run by hand to show the campaign can fail (docs/RELIABILITY.md).
pub fn broken(what: &str) -> bool {
    std::env::var("CASELEDGER_BREAK").is_ok_and(|v| v == what)
}

/// Short or full count.
pub fn count(short: u64, long: u64) -> u64 {
    if full() {
        long
    } else {
        short
    }
}

/// A campaign seed: `CASELEDGER_SEED` if set (to replay a failure), else fixed per campaign.
pub fn seed(campaign: u64) -> u64 {
    std::env::var("CASELEDGER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0000 + campaign)
}

pub fn admin_key() -> SigningKey {
    SigningKey::from_seed(&[0xA1; 32])
}
pub fn ledger_key() -> SigningKey {
    SigningKey::from_seed(&[0xA2; 32])
}
pub fn licensee_key() -> SigningKey {
    SigningKey::from_seed(&[0xA3; 32])
}
pub fn custodian_key() -> SigningKey {
    SigningKey::from_seed(&[0xA4; 32])
}
pub fn admin() -> ActorId {
    ActorId::new("admin").expect("id")
}
pub fn licensee() -> ActorId {
    ActorId::new("lic-01").expect("id")
}
pub fn custodian() -> ActorId {
    ActorId::new("cust-01").expect("id")
}
pub fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ledger_key()).expect("signer")
}
pub fn trusted() -> NoteVerifier {
    signer().verifier()
}

/// A date the ledger clock is never before.
pub fn day() -> Date {
    Date::parse("2024-01-02").expect("date")
}

fn sign(event: Event, key: &SigningKey) -> SignedEvent {
    event.sign(key).expect("sign")
}

/// Creates a ledger at `dir` (genesis, a licensee, a custodian), with `options`.
pub fn create_ledger_with(dir: &Path, options: OpenOptions) -> Ledger {
    let admin_key = admin_key();
    let ledger = Ledger::create(
        dir,
        CreateOptions {
            origin: ShortText::new(ORIGIN).expect("origin"),
            admin: admin(),
            admin_key: &admin_key,
            ledger_key: ledger_key().public_key(),
            settings: LedgerSettings::default(),
            open: options,
        },
    )
    .expect("create ledger");
    for (actor, role, key) in [
        (
            licensee(),
            caseledger_core::event::Role::Licensee,
            licensee_key(),
        ),
        (
            custodian(),
            caseledger_core::event::Role::Custodian,
            custodian_key(),
        ),
    ] {
        let ev = Event {
            record: None,
            author: admin(),
            kind: EventKind::ActorEnrolled {
                actor,
                role,
                public_key: key.public_key(),
            },
            // Early enough for any clock a campaign sets.
            occurred_on: Date::parse("2000-01-01").expect("date"),
            commitment: None,
            nonce: Nonce::random(),
        };
        ledger.append(sign(ev, &admin_key), None).expect("enrol");
    }
    ledger
}

/// [`create_ledger_with`] default options (Immediate durability, system clock).
pub fn create_ledger(dir: &Path) -> Ledger {
    create_ledger_with(dir, OpenOptions::default())
}

/// A licensee event on `record` with a payload holding the canary.
pub fn clinical(record: &str, kind: EventKind, on: Date, text: &str) -> (SignedEvent, Payload) {
    let payload = Payload::new(format!("{CANARY} {text}").into_bytes());
    let ev = Event {
        record: Some(RecordId::new(record).expect("record id")),
        author: licensee(),
        kind,
        occurred_on: on,
        commitment: Some(payload.commitment()),
        nonce: Nonce::random(),
    };
    (sign(ev, &licensee_key()), payload)
}

/// A custodian event on `record` (no payload).
pub fn custodial(record: &str, kind: EventKind, on: Date) -> SignedEvent {
    let ev = Event {
        record: Some(RecordId::new(record).expect("record id")),
        author: custodian(),
        kind,
        occurred_on: on,
        commitment: None,
        nonce: Nonce::random(),
    };
    sign(ev, &custodian_key())
}

/// Appends `RecordOpened` for `record`.
pub fn open_record(ledger: &Ledger, record: &str) -> caseledger_store::Receipt {
    let (e, p) = clinical(record, EventKind::RecordOpened, day(), "intake");
    ledger.append(e, Some(p)).expect("open record")
}

/// Appends one progress note to `record` (opened before).
pub fn note(
    ledger: &Ledger,
    record: &str,
    i: u64,
) -> caseledger_store::Result<caseledger_store::Receipt> {
    let (e, p) = clinical(
        record,
        EventKind::ProgressNote,
        day(),
        &format!("progress note {i}"),
    );
    ledger.append(e, Some(p))
}

/// The auditor's policy: trusts the ledger key and the checkpoints given.
pub fn policy(checkpoints: Vec<String>) -> Policy {
    Policy {
        trusted_keys: vec![trusted()],
        checkpoints,
        expected_origin: Some(ORIGIN.to_owned()),
        ..Policy::default()
    }
}

/// Opens the sled trees of `dir` read-only and verifies them.
pub fn verify_dir(dir: &Path, policy: &Policy) -> Result<Verified, VerifyError> {
    let src = SledSource::open(dir)?;
    verify(&src, policy, &|_| {})
}

/// [`verify_dir`], retrying for up to 5 s while the ledger is reported in use: a process
/// spawned by a concurrent test holds inherited descriptors (and so the lock) between its
/// fork and exec, briefly, after this process closed its ledger.
pub fn verify_dir_settled(dir: &Path, policy: &Policy) -> Result<Verified, VerifyError> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match verify_dir(dir, policy) {
            Err(VerifyError::InUse(_)) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// [`Ledger::open`], retrying while in use (see [`verify_dir_settled`]).
pub fn open_settled(dir: &Path, options: OpenOptions) -> caseledger_store::Result<Ledger> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match Ledger::open(dir, options.clone()) {
            Err(caseledger_store::StoreError::InUse { .. }) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// Every finding, one per line (for assertion messages).
pub fn findings_text(v: &Verified) -> String {
    v.findings().iter().map(|f| format!("  {f}\n")).collect()
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}

/// Every regular file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// A command that runs this test binary as child `mode` (see [`crate::child`]).
pub fn child_command(mode: &str, dir: &Path) -> Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut c = Command::new(exe);
    c.args([
        "--exact",
        "child::child_main",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env("CASELEDGER_CHILD", mode)
    .env("CASELEDGER_CHILD_DIR", dir)
    .env_remove("RUST_BACKTRACE")
    .stdin(Stdio::null());
    c
}

/// The end of a child run.
#[derive(Debug)]
pub struct ChildRun {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Whether the parent had to kill it (timeout).
    pub timed_out: bool,
    /// Everything printed.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

/// Runs a child to completion with a timeout (kills it after `limit`).
pub fn run_child(mut cmd: Command, limit: Duration) -> ChildRun {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let out = drain(&mut child, true);
    let err = drain(&mut child, false);
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    ChildRun {
        code: status.code(),
        timed_out,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn drain(child: &mut Child, stdout: bool) -> std::thread::JoinHandle<String> {
    let mut r: Box<dyn Read + Send> = if stdout {
        Box::new(child.stdout.take().expect("piped"))
    } else {
        Box::new(child.stderr.take().expect("piped"))
    };
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    })
}

/// Lines of a child's stdout that start with `tag ` (the rest of each line).
pub fn tagged<'a>(stdout: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    stdout
        .lines()
        .filter_map(move |l| l.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')))
}

/// Valid entry bytes to mutate: the golden ledger's entries, plus a fresh entry.
pub fn sample_entry_bytes() -> Vec<Vec<u8>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger-data/vectors/golden-ledger.json");
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            for e in v["entries"].as_array().into_iter().flatten() {
                if let Some(b) = e["entry_bytes"].as_str().and_then(hex_decode) {
                    out.push(b);
                }
            }
        }
    }
    let (ev, _) = clinical("C-0001", EventKind::ProgressNote, day(), "x");
    let entry = caseledger_core::event::Entry {
        format_version: caseledger_core::event::FORMAT_VERSION,
        seq: caseledger_core::Seq(7),
        prev: caseledger_core::EntryHash([9; 32]),
        recorded_at: Timestamp(1_700_000_000_000_000),
        event: ev,
    };
    out.push(entry.to_bytes().expect("encode"));
    out
}

fn hex_decode(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// A fresh temporary directory for one campaign.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir")
}

/// The `caseledger` binary of this build profile (built if missing).
pub fn cli_path() -> PathBuf {
    caseledger_tests::caseledger_bin()
}

/// Runs `caseledger` in `cwd` (trace logging on, no inherited ledger variable).
pub fn cli(cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut c = assert_cmd::Command::new(cli_path());
    c.current_dir(cwd)
        .args(args)
        .env("RUST_LOG", "trace")
        .env_remove("CASELEDGER_LEDGER");
    if let Some(s) = stdin {
        c.write_stdin(s.to_vec());
    }
    c.output().expect("caseledger runs")
}
