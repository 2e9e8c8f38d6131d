//! Campaign 6: privacy and keys.
//!
//! * A canary string in every payload never appears in stdout, stderr, reports (JSON,
//!   HTML, CSV), logs (`RUST_LOG=trace`), error messages or findings, driving the
//!   `caseledger` binary through every command, including failures and a tampered payload;
//!   nor in the `Debug` output of the library types that hold payloads.
//! * Salted commitments: a dictionary of every date of the year does not find a committed
//!   date (and the same dictionary with the salt does: the attack is real).
//! * Private key files are 0600 and refused when group- or world-readable; key material
//!   never reaches any output.
//! * Destroyed content is unreadable afterwards (store API, archive, the files on disk),
//!   while the chain still verifies.

use crate::harness;
use caseledger_core::event::{Entry, EventKind, Payload};
use caseledger_core::hash::payload_commitment;
use caseledger_core::{Date, Seq, Timestamp};
use caseledger_store::OpenOptions;
use caseledger_testkit::campaign::CANARY;
use caseledger_testkit::{self as kit, campaign, cli, TestClock};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

fn assert_no_leak(what: &str, text: &str) {
    for f in campaign::leak_forms(CANARY) {
        assert!(
            !text.contains(&f),
            "clinical content leaked in {what} (as {f:?}):\n{}",
            &text[..text.len().min(2000)]
        );
    }
}

/// Runs `caseledger` in `cwd` with trace logging on; checks nothing leaked; returns it.
fn run(cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let o = cli::run_traced(cwd, args, stdin);
    let shown = format!("caseledger {}", args.join(" "));
    assert_no_leak(
        &format!("stdout of `{shown}`"),
        &String::from_utf8_lossy(&o.stdout),
    );
    assert_no_leak(
        &format!("stderr of `{shown}`"),
        &String::from_utf8_lossy(&o.stderr),
    );
    o
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn ok(o: &Output, what: &str) {
    assert_eq!(
        code(o),
        Some(0),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn canary_never_leaks_through_the_cli() {
    let tmp = kit::tempdir("privacy-cli");
    let w = tmp.path();
    ok(
        &run(
            w,
            &["init", "L", "--origin", "privacy.example/ledger"],
            None,
        ),
        "init",
    );
    ok(
        &run(
            w,
            &[
                "actor", "add", "--ledger", "L", "--id", "lic", "--role", "licensee",
            ],
            None,
        ),
        "actor add",
    );
    ok(
        &run(
            w,
            &[
                "actor",
                "add",
                "--ledger",
                "L",
                "--id",
                "cust",
                "--role",
                "custodian",
            ],
            None,
        ),
        "actor add",
    );
    // Import: every kind that carries content, each payload with the canary.
    let kinds = [
        "record_opened",
        "disclosure",
        "recording_consent",
        "presenting_problem",
        "assessment",
        "plan_of_action",
        "progress_note",
        "fee_arrangement",
        "contact",
        "consult",
        "evaluative_report",
        "termination_notice",
    ];
    let mut jsonl = String::new();
    for r in 0..3 {
        for k in kinds {
            jsonl.push_str(&format!(
                "{{\"record\":\"C-{r}\",\"kind\":\"{k}\",\"occurred_on\":\"2023-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY} {k} of client {r}\"}}\n"
            ));
        }
    }
    jsonl.push_str(&format!(
        "{{\"record\":\"C-0\",\"kind\":\"service_terminated\",\"occurred_on\":\"2023-05-01\",\"author\":\"lic\",\"payload\":\"{CANARY} reason\"}}\n"
    ));
    std::fs::write(w.join("in.jsonl"), &jsonl).expect("write jsonl");
    ok(
        &run(w, &["import", "--ledger", "L", "in.jsonl"], None),
        "import",
    );
    ok(&run(w, &["import", "--ledger", "L", "-"], Some(format!("{{\"record\":\"C-9\",\"kind\":\"record_opened\",\"occurred_on\":\"2023-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY} stdin\"}}\n").as_bytes())), "import stdin");
    // Failures whose input holds the canary: bad kind, bad date, unknown author, bad JSON,
    // replayed record opening, amendment of a missing seq, payload on an admin event.
    let bad_lines = [
        format!("{{\"record\":\"C-1\",\"kind\":\"bogus\",\"occurred_on\":\"2023-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY}\"}}"),
        format!("{{\"record\":\"C-1\",\"kind\":\"progress_note\",\"occurred_on\":\"2023-02-30\",\"author\":\"lic\",\"payload\":\"{CANARY}\"}}"),
        format!("{{\"record\":\"C-1\",\"kind\":\"progress_note\",\"occurred_on\":\"2023-04-11\",\"author\":\"nobody\",\"payload\":\"{CANARY}\"}}"),
        format!("{{\"record\":\"C-1\",\"kind\":\"progress_note\",\"occurred_on\":\"2023-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY}"),
        format!("{{\"record\":\"C-1\",\"kind\":\"record_opened\",\"occurred_on\":\"2023-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY}\"}}"),
        format!("{{\"record\":\"C-1\",\"kind\":\"amendment\",\"amends\":99999,\"occurred_on\":\"2023-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY}\"}}"),
        format!("{{\"record\":\"C-1\",\"kind\":\"progress_note\",\"occurred_on\":\"2999-04-11\",\"author\":\"lic\",\"payload\":\"{CANARY}\"}}"),
        format!("{{\"kind\":\"key_revoked\",\"actor\":\"lic\",\"occurred_on\":\"2023-04-11\",\"author\":\"admin\",\"payload\":\"{CANARY}\"}}"),
        format!("{CANARY} not json at all"),
    ];
    for (i, line) in bad_lines.iter().enumerate() {
        let f = format!("bad{i}.jsonl");
        std::fs::write(w.join(&f), format!("{line}\n")).expect("write");
        let o = run(w, &["import", "--ledger", "L", &f], None);
        assert_eq!(code(&o), Some(2), "bad line {i} was not refused");
        let o = run(w, &["--json", "import", "--ledger", "L", &f], None);
        assert_eq!(code(&o), Some(2), "bad line {i} was not refused (--json)");
    }
    let payload_file = w.join("note.txt");
    std::fs::write(&payload_file, format!("{CANARY} from a file")).expect("write");
    ok(
        &run(
            w,
            &[
                "append",
                "--ledger",
                "L",
                "--author",
                "lic",
                "--record",
                "C-1",
                "--kind",
                "progress_note",
                "--occurred-on",
                "2023-04-12",
                "--payload-file",
                "note.txt",
            ],
            None,
        ),
        "append",
    );
    let bad_appends: [&[&str]; 3] = [
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "cust",
            "--record",
            "C-1",
            "--kind",
            "progress_note",
            "--occurred-on",
            "2023-04-12",
            "--payload",
            CANARY,
        ],
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic",
            "--record",
            "C-77",
            "--kind",
            "progress_note",
            "--occurred-on",
            "2023-04-12",
            "--payload",
            CANARY,
        ],
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic",
            "--record",
            "C-1",
            "--kind",
            "progress_note",
            "--occurred-on",
            "not-a-date",
            "--payload",
            CANARY,
        ],
    ];
    for a in bad_appends {
        assert_eq!(
            code(&run(w, a, None)),
            Some(2),
            "a bad append was not refused: {a:?}"
        );
    }
    let cp = run(w, &["checkpoint", "--ledger", "L"], None);
    ok(&cp, "checkpoint");
    std::fs::write(w.join("cp.txt"), &cp.stdout).expect("write cp");
    // Reports as of today: the ledger's entries were recorded today.
    let today = caseledger_core::Timestamp::now()
        .date_utc()
        .expect("a date")
        .to_string();
    for args in [
        vec!["verify", "--ledger", "L"],
        vec!["--json", "verify", "--ledger", "L", "--trusted", "cp.txt"],
        vec!["prove", "inclusion", "--ledger", "L", "--seq", "5"],
        vec!["prove", "consistency", "--ledger", "L", "--from", "4"],
        vec![
            "export",
            "--ledger",
            "L",
            "--record",
            "C-1",
            "--out",
            "c1.bundle",
        ],
        vec!["verify", "--bundle", "c1.bundle"],
        vec!["--json", "verify", "--bundle", "c1.bundle"],
        vec!["archive", "export", "--ledger", "L", "--out", "all.archive"],
        vec!["verify", "--archive", "all.archive"],
        vec!["--json", "verify", "--archive", "all.archive"],
        vec![
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            &today,
            "--signing-key",
            "rk.pem",
            "--generate-key",
            "--out",
            "R",
            "--include-findings",
        ],
        vec!["keys", "export", "--ledger", "L", "--format", "pem"],
    ] {
        ok(&run(w, &args, None), &args.join(" "));
    }
    // The report files: JSON, HTML, CSV, signatures.
    let mut report_files = 0;
    for f in kit::files_under(&w.join("R")) {
        assert_no_leak(
            &format!("report file {}", f.display()),
            &String::from_utf8_lossy(&std::fs::read(&f).expect("read")),
        );
        report_files += 1;
    }
    assert!(report_files >= 3, "the report wrote too few files to check");

    // A falsified payload: the finding and the report must name it without showing it.
    tamper_a_payload(&w.join("L"));
    for args in [
        vec!["verify", "--ledger", "L"],
        vec!["--json", "verify", "--ledger", "L"],
        vec![
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            &today,
            "--signing-key",
            "rk.pem",
            "--out",
            "R2",
            "--include-findings",
        ],
    ] {
        let o = run(w, &args, None);
        assert!(
            matches!(code(&o), Some(0 | 1)),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = run(w, &["verify", "--ledger", "L"], None);
    assert_eq!(code(&o), Some(1), "a falsified payload was not a finding");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("commitment_mismatch")
            || String::from_utf8_lossy(&o.stderr).contains("commitment_mismatch"),
        "the finding does not name the commitment mismatch"
    );
    for f in kit::files_under(&w.join("R2")) {
        assert_no_leak(
            &format!("report file {}", f.display()),
            &String::from_utf8_lossy(&std::fs::read(&f).expect("read")),
        );
    }
    // The deliberately broken variant: a command that does print a payload must be caught.
    if harness::broken("print-payload") {
        run_leaky(w);
    }
    println!("privacy: canary absent from stdout/stderr of {} commands (RUST_LOG=trace), {report_files} report files, error messages, findings", 30 + bad_lines.len() * 2);
}

/// Runs `cat` on a payload file through the same leak check (used only by the broken variant).
fn run_leaky(w: &Path) {
    let o = std::process::Command::new("cat")
        .arg(w.join("note.txt"))
        .output()
        .expect("cat");
    assert_no_leak(
        "stdout of the deliberately leaky command",
        &String::from_utf8_lossy(&o.stdout),
    );
}

/// Flips one byte of one payload's content in the `payloads` tree (the CLI is not running).
fn tamper_a_payload(ledger: &Path) {
    let db = kit::tamper::db(ledger);
    let t = db.open_tree("payloads").expect("payloads tree");
    let (k, v) = t.iter().nth(3).expect("a payload").expect("read");
    let mut v = v.to_vec();
    let last = v.len() - 1;
    v[last] ^= 0x01;
    t.insert(k, v).expect("write");
    db.flush().expect("flush");
}

#[test]
fn debug_output_of_payload_holders_is_redacted() {
    let p = Payload::new(format!("{CANARY} note").into_bytes());
    assert_no_leak("Debug of Payload", &format!("{p:?} {p:#?}"));
    let item = caseledger_core::archive::ArchiveItem::Payload {
        seq: Seq(1),
        stored: p.to_stored(),
    };
    assert_no_leak("Debug of ArchiveItem", &format!("{item:?}"));
    let tmp = kit::tempdir("privacy-debug");
    let ledger = campaign::create_ledger(&tmp.path().join("L"));
    campaign::open_record(&ledger, "C-1");
    let r = campaign::note(&ledger, "C-1", 0).expect("append");
    let got = ledger.payload(r.seq).expect("read").expect("present");
    assert_no_leak("Debug of a payload read back", &format!("{got:?}"));
    assert_no_leak("Debug of the Ledger", &format!("{ledger:?}"));
    // A refused append's error (payload not matching its commitment).
    let (ev, _) = campaign::clinical("C-1", EventKind::ProgressNote, campaign::day(), "x");
    let wrong = Payload::new(format!("{CANARY} other").into_bytes());
    let e = ledger
        .append(ev, Some(wrong))
        .expect_err("mismatched payload refused");
    assert_no_leak("a refused append's error", &format!("{e} {e:?}"));
    ledger.close().expect("close");
    // What the verifier reads and reports.
    let src = caseledger_verify::SledSource::open(&tmp.path().join("L")).expect("source");
    let v = caseledger_verify::verify(&src, &campaign::policy(vec![]), &|_| {}).expect("verify");
    assert_no_leak("Debug of Verified", &format!("{v:?}"));
}

/// Regression test for B6 (docs/RELIABILITY.md): `caseledger_verify::source::StoredEntry`
/// derived `Debug`, which printed the payload bytes its own docs say are "never logged or
/// shown"; its `Debug` now shows lengths only.
#[test]
fn stored_entry_debug_is_redacted() {
    let tmp = kit::tempdir("privacy-stored");
    let ledger = campaign::create_ledger(&tmp.path().join("L"));
    campaign::open_record(&ledger, "C-1");
    ledger.close().expect("close");
    let src = caseledger_verify::SledSource::open(&tmp.path().join("L")).expect("source");
    use caseledger_verify::LedgerSource;
    for e in src.entries().expect("entries") {
        let e = e.expect("entry");
        assert_no_leak("Debug of a StoredEntry", &format!("{e:?}"));
    }
}

#[test]
fn salted_commitments_resist_a_date_dictionary() {
    // Content that is one of 365 values: the date of a contact.
    let committed_date = "2023-04-11";
    let p = Payload::new(committed_date.as_bytes().to_vec());
    let commitment = p.commitment();
    let mut dictionary = Vec::new();
    let mut d = Date::parse("2023-01-01").expect("date");
    while d.year() == 2023 {
        dictionary.push(d.to_string());
        d = d.next_day().expect("next day");
    }
    assert_eq!(dictionary.len(), 365);
    assert!(
        dictionary.iter().any(|x| x == committed_date),
        "the dictionary holds the committed date"
    );
    // Without the salt, every guess misses (tried with no salt, a zero salt, and blake3 of the text).
    let unsalted = |s: &str| {
        [
            payload_commitment(&[0; 32], s.as_bytes()).0,
            *blake3::hash(s.as_bytes()).as_bytes(),
            blake3::derive_key("caseledger payload v1", s.as_bytes()),
        ]
    };
    let hits = dictionary
        .iter()
        .filter(|s| unsalted(s).contains(&commitment.0))
        .count();
    // With the salt (which is destroyed with the payload) the same dictionary finds it:
    // the attack is real, and the salt is what stops it.
    let salted_hits = dictionary
        .iter()
        .filter(|s| payload_commitment(p.salt(), s.as_bytes()) == commitment)
        .count();
    assert_eq!(salted_hits, 1, "positive control");
    assert_eq!(hits, 0, "a dictionary of dates matched a salted commitment");
    // And two payloads with the same content get different commitments.
    assert_ne!(
        Payload::new(b"80".to_vec()).commitment(),
        Payload::new(b"80".to_vec()).commitment()
    );
    // The deliberately broken variant: a zero salt falls to the dictionary.
    if harness::broken("zero-salt") {
        let z = Payload::with_salt([0; 32], committed_date.as_bytes().to_vec());
        let hits = dictionary
            .iter()
            .filter(|s| unsalted(s).contains(&z.commitment().0))
            .count();
        assert_eq!(
            hits, 0,
            "a dictionary of dates matched a zero-salted commitment"
        );
    }
}

#[test]
fn private_key_files_are_0600_and_refused_when_readable() {
    let tmp = kit::tempdir("privacy-keys");
    let w = tmp.path();
    let init = run(w, &["init", "L", "--origin", "keys.example/ledger"], None);
    ok(&init, "init");
    ok(
        &run(
            w,
            &[
                "actor", "add", "--ledger", "L", "--id", "lic", "--role", "licensee",
            ],
            None,
        ),
        "actor add",
    );
    ok(
        &run(w, &["keys", "generate", "--out", "k.pem"], None),
        "keys generate",
    );
    let mut keys = vec![
        caseledger_testkit::cli::keys_in(w, "keys.example/ledger").join("ledger.pem"),
        caseledger_testkit::cli::keys_in(w, "keys.example/ledger").join("actors/admin.pem"),
        caseledger_testkit::cli::keys_in(w, "keys.example/ledger").join("actors/lic.pem"),
        w.join("k.pem"),
    ];
    keys.retain(|k| k.exists());
    assert_eq!(keys.len(), 4, "expected key files are missing");
    let mut secrets = Vec::new();
    for k in &keys {
        let mode = std::fs::metadata(k).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", k.display());
        let text = std::fs::read_to_string(k).expect("read key");
        // The base64 body of the PEM: must never be printed anywhere.
        secrets.extend(
            text.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_owned),
        );
        caseledger_keyfile::read(k).expect("a 0600 key reads");
    }
    for (mode, label) in [
        (0o640, "group-readable"),
        (0o604, "world-readable"),
        (0o660, "group-writable"),
        (0o644, "readable by all"),
    ] {
        for k in &keys {
            std::fs::set_permissions(k, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let e = caseledger_keyfile::read(k).expect_err("an unprotected key file was read");
            assert!(
                e.to_string().contains("UNPROTECTED") || e.to_string().contains("permissions"),
                "unclear: {e}"
            );
            assert!(
                !secrets.iter().any(|s| e.to_string().contains(s.as_str())),
                "the error shows the key"
            );
            std::fs::set_permissions(k, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        // Through the CLI: the ledger key seals every append, the actor key signs it.
        let ledger_key =
            caseledger_testkit::cli::keys_in(w, "keys.example/ledger").join("ledger.pem");
        std::fs::set_permissions(&ledger_key, std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        let o = run(
            w,
            &[
                "append",
                "--ledger",
                "L",
                "--author",
                "lic",
                "--record",
                "K-1",
                "--kind",
                "record_opened",
                "--occurred-on",
                "2023-04-11",
            ],
            None,
        );
        assert_eq!(code(&o), Some(2), "append sealed with a {label} ledger key");
        std::fs::set_permissions(&ledger_key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let lic = caseledger_testkit::cli::keys_in(w, "keys.example/ledger").join("actors/lic.pem");
        std::fs::set_permissions(&lic, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let o = run(
            w,
            &[
                "append",
                "--ledger",
                "L",
                "--author",
                "lic",
                "--record",
                "K-1",
                "--kind",
                "record_opened",
                "--occurred-on",
                "2023-04-11",
                "--payload",
                "x",
            ],
            None,
        );
        assert_eq!(code(&o), Some(2), "append signed with a {label} actor key");
        std::fs::set_permissions(&lic, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // Nothing any command printed holds key material.
    for args in [
        vec!["keys", "export", "--ledger", "L", "--format", "pem"],
        vec!["keys", "export", "--key", "k.pem", "--format", "ssh"],
        vec!["checkpoint", "--ledger", "L"],
    ] {
        let o = run(w, &args, None);
        ok(&o, &args.join(" "));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !secrets.iter().any(|s| all.contains(s.as_str())),
            "`{}` printed private key material",
            args.join(" ")
        );
    }
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        !secrets.iter().any(|s| all.contains(s.as_str())),
        "init printed private key material"
    );
}

#[test]
fn destroyed_content_is_unreadable_and_the_chain_still_verifies() {
    let tmp = kit::tempdir("privacy-destroy");
    let dir = tmp.path().join("L");
    // A clock we move: service ends in 2015; destruction is lawful from 2020-01-03.
    let now =
        TestClock::at_time(Timestamp::start_of(Date::parse("2015-01-05").expect("d")).expect("t"));
    let options = OpenOptions::default()
        .with_kek(caseledger_testkit::kek())
        .with_clock(now.fixed_clock());
    let ledger = campaign::create_ledger_with(&dir, options);
    let d = |s: &str| Date::parse(s).expect("date");
    let mut seqs = Vec::new();
    let (e, p) = campaign::clinical("GONE-1", EventKind::RecordOpened, d("2015-01-01"), "intake");
    seqs.push(ledger.append(e, Some(p)).expect("open").seq);
    for i in 0..5 {
        let (e, p) = campaign::clinical(
            "GONE-1",
            EventKind::ProgressNote,
            d("2015-01-01"),
            &format!("gone-note-{i}"),
        );
        seqs.push(ledger.append(e, Some(p)).expect("note").seq);
    }
    let (e, p) = campaign::clinical(
        "GONE-1",
        EventKind::ServiceTerminated {
            terminated_on: d("2015-01-02"),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        d("2015-01-02"),
        "ended",
    );
    seqs.push(ledger.append(e, Some(p)).expect("terminate").seq);
    // Another record that stays.
    let (e, p) = campaign::clinical("KEPT-1", EventKind::RecordOpened, d("2015-01-01"), "kept");
    let kept = ledger.append(e, Some(p)).expect("open kept").seq;
    let before = ledger
        .newest_seal()
        .map(|s| s.map(|(_, n)| n).unwrap_or_default())
        .expect("checkpoint");
    // Early destruction is refused.
    let early = ledger.append(
        campaign::custodial(
            "GONE-1",
            EventKind::Destruction {
                reason: caseledger_core::event::ShortText::new("policy 7").expect("t"),
                citation: None,
            },
            d("2015-01-01"),
        ),
        None,
    );
    assert!(
        early.is_err(),
        "destruction before retention ran out was accepted"
    );
    now.set(Timestamp::start_of(d("2020-01-03")).expect("t"));
    let destroy = campaign::custodial(
        "GONE-1",
        EventKind::Destruction {
            reason: caseledger_core::event::ShortText::new("policy 7").expect("t"),
            citation: None,
        },
        d("2020-01-03"),
    );
    ledger.append(destroy, None).expect("lawful destruction");
    for s in &seqs {
        assert!(
            ledger.payload(*s).expect("read").is_none(),
            "destroyed payload at seq {} still readable",
            s.0
        );
        assert!(
            ledger.entry(*s).expect("read").is_some(),
            "the entry itself must stay"
        );
    }
    assert!(
        ledger.payload(kept).expect("read").is_some(),
        "another record's payload was destroyed"
    );
    let after = ledger
        .newest_seal()
        .map(|s| s.map(|(_, n)| n).unwrap_or_default())
        .expect("checkpoint");
    ledger.close().expect("close");
    // The chain verifies, against the checkpoint from before the destruction too.
    let v = kit::verify_dir_settled(&dir, &campaign::policy(vec![before, after])).expect("verify");
    assert!(
        v.is_clean(),
        "after lawful destruction:\n{}",
        kit::findings_text(&v)
    );
    // Entries never hold content.
    let l = kit::open_settled(
        &dir,
        kit::Cast::CAMPAIGN.sealing(OpenOptions::default().with_kek(caseledger_testkit::kek())),
    )
    .expect("open");
    for s in 0..l.head().size {
        let b = l.entry_bytes(Seq(s)).expect("read").expect("entry");
        assert_no_leak("an entry's bytes", &String::from_utf8_lossy(&b));
        let _ = Entry::from_bytes(&b).expect("decodes");
    }
    // The archive exported afterwards has no destroyed content.
    let mut archive = Vec::new();
    l.export_archive(&mut archive, true).expect("export");
    drop(l);
    let text = String::from_utf8_lossy(&archive);
    let payload_frames = caseledger_core::archive::ArchiveReader::new(archive.as_slice())
        .expect("archive")
        .filter(|i| matches!(i, Ok(caseledger_core::archive::ArchiveItem::Payload { .. })))
        .count();
    assert!(
        payload_frames > 0,
        "positive control: the kept record's payloads are in the archive"
    );
    // Stored encrypted: no payload text, kept or destroyed, is in the archive.
    assert!(!text.contains("kept"), "plaintext in the archive");
    assert!(
        !text.contains("gone-note-"),
        "destroyed content is in the archive"
    );
    println!("destruction: {} payloads removed, chain verifies clean against checkpoints from before and after", seqs.len());
}

/// Destroyed content is in no file under the ledger directory. sled is log-structured (a
/// removed value stays in its segment until the segment is reused), so this holds because
/// payloads are stored encrypted under a record key that destruction erases from the key
/// store (format v2, docs/FORMAT.md §3a): the plaintext never reaches sled at all.
#[test]
fn destroyed_content_is_gone_from_the_raw_files() {
    let tmp = kit::tempdir("privacy-raw");
    let dir = tmp.path().join("L");
    let now =
        TestClock::at_time(Timestamp::start_of(Date::parse("2015-01-05").expect("d")).expect("t"));
    let options = OpenOptions::default()
        .with_kek(caseledger_testkit::kek())
        .with_clock(now.fixed_clock());
    let ledger = campaign::create_ledger_with(&dir, options);
    let d = |s: &str| Date::parse(s).expect("date");
    let (e, p) = campaign::clinical(
        "GONE-2",
        EventKind::RecordOpened,
        d("2015-01-01"),
        "DESTROY-ME-unique-text",
    );
    ledger.append(e, Some(p)).expect("open");
    let (e, p) = campaign::clinical(
        "GONE-2",
        EventKind::ServiceTerminated {
            terminated_on: d("2015-01-02"),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        d("2015-01-02"),
        "ended",
    );
    ledger.append(e, Some(p)).expect("terminate");
    now.set(Timestamp::start_of(d("2020-01-03")).expect("t"));
    let destroy = campaign::custodial(
        "GONE-2",
        EventKind::Destruction {
            reason: caseledger_core::event::ShortText::new("policy 7").expect("t"),
            citation: None,
        },
        d("2020-01-03"),
    );
    ledger.append(destroy, None).expect("lawful destruction");
    ledger.close().expect("close");
    let mut found = Vec::new();
    for f in kit::files_under(&dir) {
        let b = std::fs::read(&f).expect("read");
        if b.windows(21).any(|w| w == b"DESTROY-ME-unique-tex") {
            found.push(f);
        }
    }
    assert!(
        found.is_empty(),
        "destroyed content is still in these files: {found:?}"
    );
}
