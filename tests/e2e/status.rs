//! A record's status on demand, through the binary: `status --record R` (open, retained
//! with the termination that started the clock and the later contact that moved it,
//! eligible, on hold, destroyed; `--as-of` over a ledger written with a clock we set),
//! `records --status S`, `destroy --dry-run` (writes nothing) and `destroy --all-eligible`
//! (exactly the eligible records; `--yes` required without a terminal). Every one of them
//! reads through the verifier: findings make it exit 1 with the count.

use caseledger_core::event::{Event, EventKind, LedgerSettings, Role, ShortText};
use caseledger_core::keys::SigningKey;
use caseledger_core::{ActorId, Date, Nonce, RecordId, Timestamp};
use caseledger_store::{CreateOptions, Ledger, OpenOptions};
use caseledger_testkit::cli::{fails, ok, run_in, stderr, stdout, Fixture};
use caseledger_testkit::tamper::db;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn json(f: &Fixture, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(&f.run(&a))).expect("JSON on stdout")
}

fn status(f: &Fixture, record: &str) -> String {
    ok(&f.run(&["status", "--ledger", "L", "--record", record]))
}

fn custodian(f: &Fixture, args: &[&str]) -> std::process::Output {
    let mut a = args.to_vec();
    a.extend_from_slice(&["--ledger", "L", "--author", "cust-1"]);
    f.run(&a)
}

/// The seq of an accepted append (`seq N <hash>` on stdout).
fn seq_of(o: &std::process::Output) -> u64 {
    ok(o)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("seq N <hash>")
}

/// `Fixture::small` plus records for the purge: C-OLD2 (terminated 2020, eligible),
/// C-HELD (terminated 2019, eligible but on hold) and C-MOVED (terminated 2019, a contact
/// dated 2024 keeps it until 2029).
fn purge_fixture() -> Fixture {
    let f = Fixture::small();
    let lines = [
        r#"{"record":"C-OLD2","kind":"record_opened","occurred_on":"2019-05-01","author":"lic-1"}"#,
        r#"{"record":"C-OLD2","kind":"progress_note","occurred_on":"2019-05-02","author":"lic-1","payload":"note SECRET-CLINICAL-C"}"#,
        r#"{"record":"C-OLD2","kind":"service_terminated","occurred_on":"2020-02-01","author":"lic-1"}"#,
        r#"{"record":"C-HELD","kind":"record_opened","occurred_on":"2018-01-01","author":"lic-1"}"#,
        r#"{"record":"C-HELD","kind":"service_terminated","occurred_on":"2019-02-01","author":"lic-1"}"#,
        r#"{"record":"C-MOVED","kind":"record_opened","occurred_on":"2018-01-01","author":"lic-1"}"#,
        r#"{"record":"C-MOVED","kind":"service_terminated","occurred_on":"2019-03-01","author":"lic-1"}"#,
        r#"{"record":"C-MOVED","kind":"contact","occurred_on":"2024-04-01","author":"lic-1","payload":"records request"}"#,
    ];
    f.write("more.jsonl", (lines.join("\n") + "\n").as_bytes());
    ok(&f.run(&["import", "--ledger", "L", "more.jsonl"]));
    ok(&custodian(
        &f,
        &["hold", "place", "--record", "C-HELD", "--matter", "SC-9"],
    ));
    f
}

/// The ids `records` prints (first column), in order.
fn listed(o: &std::process::Output) -> Vec<String> {
    ok(o)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn status_of_open_retained_eligible_on_hold_and_destroyed_records() {
    let f = Fixture::small();
    // Open: the clock has not started.
    let s = status(&f, "C-OPEN");
    assert!(s.contains("status: open\n"), "{s}");
    assert!(s.contains("retained until: -\nlawful from: -\n"), "{s}");
    assert!(s.contains("the retention clock has not started"), "{s}");
    assert!(
        s.contains("last event: seq 10 progress_note on 2025-05-02"),
        "{s}"
    );
    assert!(
        s.contains("integrity: no findings in this run (11 entries); self-attested"),
        "{s}"
    );

    // Retained: C-NEW's termination (seq 8, 2025-01-10) started the clock; a contact dated
    // later moves it, and the why names both.
    let contact = seq_of(&f.append("lic-1", "C-NEW", "contact", "2025-06-01", Some("note.txt")));
    let s = status(&f, "C-NEW");
    assert!(s.contains("status: retained (until 2030-06-01)\n"), "{s}");
    assert!(
        s.contains("retained until: 2030-06-01\nlawful from: 2030-06-02\n"),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "why: service_terminated at seq 8 (terminated on 2025-01-10) started the clock; a later contact at seq {contact} (dated 2025-06-01) moved it: retention runs five years from 2025-06-01"
        )),
        "{s}"
    );
    assert!(s.contains("holds: none\n"), "{s}");
    // (11)(B) and (3) are missing from C-NEW; its (11)(C) contact is present now.
    assert!(s.contains("(11)(B) fee arrangement"), "{s}");
    assert!(!s.contains("(11)(C)"), "{s}");
    assert!(!s.contains("SECRET"), "payload content in status: {s}");
    let j = json(&f, &["status", "--ledger", "L", "--record", "C-NEW"]);
    assert_eq!(j["status"], "retained");
    assert_eq!(j["clock"]["termination_seq"], 8);
    assert_eq!(j["clock"]["terminated_on"], "2025-01-10");
    assert_eq!(j["clock"]["moved_by"]["seq"], contact);
    assert_eq!(j["clock"]["moved_by"]["kind"], "contact");
    assert_eq!(j["clock"]["moved_by"]["occurred_on"], "2025-06-01");
    assert_eq!(j["lawful_from"], "2030-06-02");
    assert_eq!(j["last_event"]["seq"], contact);
    assert_eq!(j["last_event"]["kind"], "contact");
    assert_eq!(j["integrity"]["clean"], true);
    assert_eq!(
        j["integrity"]["verified"], false,
        "self-attested is never 'verified'"
    );
    assert_eq!(j["integrity"]["anchor"], "self_attested");
    let missing: Vec<&str> = j["missing_items"]
        .as_array()
        .expect("missing_items")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(missing.contains(&"11B_fee_arrangement") && missing.contains(&"3_disclosure"));
    assert!(!missing.contains(&"11C_contacts"), "{missing:?}");

    // Eligible: no later date moved C-OLD's clock.
    let s = status(&f, "C-OLD");
    assert!(
        s.contains("status: eligible (destruction lawful since 2024-01-16)\n"),
        "{s}"
    );
    assert!(
        s.contains("why: service_terminated at seq 5 (terminated on 2019-01-15) started the clock; no later date of service or contact"),
        "{s}"
    );

    // On hold, with the matter.
    ok(&custodian(
        &f,
        &["hold", "place", "--record", "C-OLD", "--matter", "SC-1"],
    ));
    let s = status(&f, "C-OLD");
    assert!(
        s.contains("status: on_hold (SC-1)\nretained until: 2024-01-15\nlawful from: 2024-01-16\n"),
        "{s}"
    );
    assert!(s.contains("holds: SC-1\n"), "{s}");

    // Destroyed lawfully, after the release.
    ok(&custodian(
        &f,
        &["hold", "release", "--record", "C-OLD", "--matter", "SC-1"],
    ));
    let d = seq_of(&custodian(
        &f,
        &["destroy", "--record", "C-OLD", "--reason", "RP-5"],
    ));
    let s = status(&f, "C-OLD");
    let today = caseledger_testkit::cli::today();
    assert!(
        s.contains(&format!(
            "status: destroyed_lawfully (seq {d}, {today}, by cust-1)\n"
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "destruction: seq {d} on {today} by cust-1 (lawful)\n"
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!("last event: seq {d} destruction on ")),
        "{s}"
    );

    // Mistakes: exit 2, one line.
    let e = fails(&f.run(&["status", "--ledger", "L", "--record", "C-404"]));
    assert!(e.contains("record C-404: not in ledger L"), "{e}");
    let e = fails(&f.run(&[
        "status",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--as-of",
        "2099-01-01",
    ]));
    assert!(e.contains("after today"), "{e}");
    // Everything was recorded today: as of a past day, nothing of C-OLD was in the ledger.
    let e = fails(&f.run(&[
        "status",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--as-of",
        "2020-01-01",
    ]));
    assert!(
        e.contains("its first entry was recorded after that day"),
        "{e}"
    );
}

#[test]
fn records_lists_exactly_the_records_with_a_status() {
    let f = purge_fixture();
    let o = f.run(&["records", "--ledger", "L", "--status", "eligible"]);
    assert_eq!(listed(&o), ["C-OLD", "C-OLD2"]);
    let out = stdout(&o);
    assert!(
        out.contains("C-OLD\teligible\t2024-01-15\t2024-01-16\t-\n"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("2 records eligible as of "),
        "{}",
        stderr(&o)
    );
    let o = f.run(&["records", "--ledger", "L", "--status", "on_hold"]);
    assert_eq!(listed(&o), ["C-HELD"]);
    assert!(stdout(&o).contains("\tSC-9\n"), "{}", stdout(&o));
    let o = f.run(&["records", "--ledger", "L", "--status", "retained"]);
    assert_eq!(listed(&o), ["C-MOVED", "C-NEW"]);
    assert!(stdout(&o).contains("C-MOVED\tretained\t2029-04-01\t2029-04-02"));
    let o = f.run(&["records", "--ledger", "L"]);
    assert_eq!(listed(&o).len(), 6);
    let j = json(&f, &["records", "--ledger", "L", "--status", "eligible"]);
    let ids: Vec<&str> = j["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["C-OLD", "C-OLD2"]);
    assert_eq!(j["records"][1]["lawful_from"], "2025-02-02");
    let e = fails(&f.run(&["records", "--ledger", "L", "--status", "purgeable"]));
    assert!(e.contains("possible values"), "{e}");
}

/// Every file under sled/, with its bytes.
fn sled_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(p: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(p).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.display().to_string(), fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("sled"), &mut out);
    out
}

#[test]
fn destroy_dry_run_says_lawful_or_refused_and_writes_nothing() {
    let f = purge_fixture();
    ok(&f.run(&["verify", "--ledger", "L"]));
    let before = f.snapshot();
    let sled = sled_files(&f.ledger());
    let size = f.size();

    let o = f.run(&["destroy", "--ledger", "L", "--record", "C-OLD", "--dry-run"]);
    let out = ok(&o);
    assert!(
        out.contains("would destroy C-OLD: the content of 1 of its 3 entries (its entries and proofs stay)\nlawful: retention ran out (lawful from 2024-01-16), no hold in force\n"),
        "{out}"
    );
    assert!(stderr(&o).contains("nothing written"), "{}", stderr(&o));
    // Refusals are stated, exit 0: the question was answered.
    let out = ok(&f.run(&["destroy", "--ledger", "L", "--record", "C-NEW", "--dry-run"]));
    assert!(
        out.contains("would be refused: record is retained until 2030-01-10; destruction is lawful from 2030-01-11"),
        "{out}"
    );
    let out = ok(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-HELD",
        "--dry-run",
    ]));
    assert!(
        out.contains("would be refused: record is under legal hold (SC-9); retention ran out (lawful from 2024-02-02)"),
        "{out}"
    );
    let out = ok(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-OPEN",
        "--dry-run",
    ]));
    assert!(
        out.contains("would be refused: service has not terminated"),
        "{out}"
    );
    let j = json(
        &f,
        &["destroy", "--ledger", "L", "--record", "C-OLD", "--dry-run"],
    );
    assert_eq!(j["lawful"], true);
    assert_eq!(j["refused"], Value::Null);
    assert_eq!(j["content"], 1);
    // --all-eligible --dry-run lists them and destroys nothing.
    let o = f.run(&["destroy", "--ledger", "L", "--all-eligible", "--dry-run"]);
    assert_eq!(listed(&o), ["C-OLD", "C-OLD2"]);

    assert_eq!(f.size(), size);
    assert_eq!(before, f.snapshot(), "a dry run wrote something");
    assert!(
        sled_files(&f.ledger()) == sled,
        "a dry run changed sled's files"
    );
    let e = fails(&f.run(&["destroy", "--ledger", "L", "--record", "C-404", "--dry-run"]));
    assert!(e.contains("record C-404: not in ledger L"), "{e}");
}

#[test]
fn all_eligible_destroys_exactly_the_eligible_records_and_needs_yes_without_a_terminal() {
    let f = purge_fixture();
    let before = f.snapshot();
    // No terminal (stdin is not one under the test harness): --yes is required.
    let e = fails(&custodian(
        &f,
        &["destroy", "--all-eligible", "--reason", "RP-5"],
    ));
    assert!(
        e.contains("2 records eligible") && e.contains("pass --yes"),
        "{e}"
    );
    assert_eq!(before, f.snapshot(), "a refused purge wrote something");
    // Flags that do not go together.
    fails(&custodian(
        &f,
        &[
            "destroy",
            "--all-eligible",
            "--record",
            "C-OLD",
            "--reason",
            "RP-5",
        ],
    ));
    // --yes skips the terminal's question (newcomer::destroy_on_a_terminal_asks_unless_yes);
    // with --dry-run there is nothing to confirm.
    fails(&custodian(
        &f,
        &["destroy", "--record", "C-OLD", "--dry-run", "--yes"],
    ));

    let o = custodian(
        &f,
        &["destroy", "--all-eligible", "--reason", "RP-5", "--yes"],
    );
    let out = ok(&o);
    let err = stderr(&o);
    assert_eq!(listed(&o), ["C-OLD", "C-OLD2"], "{out}");
    assert!(out.contains("C-OLD2\tdestroyed\tseq "), "{out}");
    // Listed first, then the summary.
    assert!(
        err.contains("2 records eligible for destruction today")
            && err.contains("destroyed 2 of 2 eligible records"),
        "{err}"
    );
    assert!(!out.contains("SECRET") && !err.contains("SECRET"));
    let o = f.run(&["records", "--ledger", "L", "--status", "destroyed_lawfully"]);
    assert_eq!(listed(&o), ["C-OLD", "C-OLD2"]);
    let o = f.run(&["records", "--ledger", "L", "--status", "on_hold"]);
    assert_eq!(listed(&o), ["C-HELD"]);
    let o = f.run(&["records", "--ledger", "L", "--status", "eligible"]);
    assert!(listed(&o).is_empty());
    // Nothing left to purge: exit 0, no --yes needed.
    let o = custodian(&f, &["destroy", "--all-eligible", "--reason", "RP-5"]);
    ok(&o);
    assert!(
        stderr(&o).contains("no record is eligible"),
        "{}",
        stderr(&o)
    );
    ok(&f.run(&["verify", "--ledger", "L"]));
}

#[test]
fn findings_exit_1_with_their_count_and_block_a_purge() {
    let f = purge_fixture();
    // Flip a byte of C-NEW's payload at seq 7: a commitment mismatch.
    {
        let db = db(&f.ledger());
        let payloads = db.open_tree("payloads").expect("payloads");
        let mut v = payloads
            .get(7u64.to_be_bytes())
            .expect("get")
            .expect("a payload at seq 7")
            .to_vec();
        let last = v.len() - 1;
        v[last] ^= 1;
        payloads.insert(7u64.to_be_bytes(), v).expect("insert");
        db.flush().expect("flush");
    }
    let o = f.run(&["status", "--ledger", "L", "--record", "C-OLD"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("status: eligible"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("integrity: NOT verified: 1 finding in this run"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("ledger L: 1 finding"), "{}", stderr(&o));
    let o = f.run(&["records", "--ledger", "L", "--status", "eligible"]);
    assert_eq!(o.status.code(), Some(1));
    let before = f.snapshot();
    let o = custodian(
        &f,
        &["destroy", "--all-eligible", "--reason", "RP-5", "--yes"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing to destroy"), "{}", stderr(&o));
    assert_eq!(before, f.snapshot(), "a refused purge wrote something");
}

/// A ledger written by the store with a clock we set: C-X opened in 2019, terminated on
/// 2020-01-05 (recorded 2020-01-10), then a contact dated 2024-03-01 (recorded 2024-03-02).
#[test]
fn status_as_of_a_past_day_is_the_ledger_as_it_stood_then() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = |s: &str| Date::parse(s).expect("date");
    let at = |s: &str| Timestamp::start_of(d(s)).expect("instant").0 + 12 * 3_600_000_000;
    let now = Arc::new(AtomicI64::new(at("2020-01-10")));
    let clock = now.clone();
    let admin = SigningKey::from_seed(&[0xC1; 32]);
    let lic = SigningKey::from_seed(&[0xC3; 32]);
    let l = Ledger::create(
        tmp.path().join("L"),
        CreateOptions {
            origin: ShortText::new("example.org/status-ledger").expect("origin"),
            admin: ActorId::new("admin").expect("admin"),
            admin_key: &admin,
            ledger_key: SigningKey::from_seed(&[0xC2; 32]).public_key(),
            settings: LedgerSettings {
                private_practice: false,
                ..LedgerSettings::default()
            },
            open: OpenOptions::default()
                .with_clock(Arc::new(move || Timestamp(clock.load(Ordering::SeqCst))))
                .with_ledger_key(SigningKey::from_seed(&[0xC2; 32])),
        },
    )
    .expect("create");
    let append = |key: &SigningKey, author: &str, record: Option<&str>, kind, on: &str| {
        let ev = Event {
            record: record.map(|r| RecordId::new(r).expect("id")),
            author: ActorId::new(author).expect("actor"),
            kind,
            occurred_on: d(on),
            signed_at: Timestamp(now.load(Ordering::SeqCst)),
            commitment: None,
            nonce: Nonce::random(),
        };
        l.append(
            ev.sign("example.org/status-ledger", key).expect("sign"),
            None,
        )
        .expect("append");
    };
    append(
        &admin,
        "admin",
        None,
        EventKind::ActorEnrolled {
            actor: ActorId::new("lic-1").expect("id"),
            role: Role::Licensee,
            public_key: lic.public_key(),
        },
        "2020-01-10",
    );
    append(
        &lic,
        "lic-1",
        Some("C-X"),
        EventKind::RecordOpened,
        "2019-06-01",
    );
    append(
        &lic,
        "lic-1",
        Some("C-X"),
        EventKind::ServiceTerminated {
            terminated_on: d("2020-01-05"),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        "2020-01-05",
    );
    now.store(at("2024-03-02"), Ordering::SeqCst);
    append(&lic, "lic-1", Some("C-X"), EventKind::Contact, "2024-03-01");
    drop(l);

    let run = |as_of: &str| {
        run_in(
            tmp.path(),
            &[
                "status", "--ledger", "L", "--record", "C-X", "--as-of", as_of,
            ],
        )
    };
    let e = fails(&run("2020-01-09"));
    assert!(
        e.contains("its first entry was recorded after that day"),
        "{e}"
    );
    // Before the contact was recorded: five years from the termination.
    let s = ok(&run("2024-03-01"));
    assert!(s.contains("status: retained (until 2025-01-05)\n"), "{s}");
    assert!(
        s.contains(
            "as of: 2024-03-01, end of day UTC (4 of the ledger's 5 entries recorded by then)"
        ),
        "{s}"
    );
    assert!(
        s.contains("started the clock; no later date of service or contact"),
        "{s}"
    );
    // After it: the contact moved the clock.
    let s = ok(&run("2024-03-02"));
    assert!(s.contains("status: retained (until 2029-03-01)\n"), "{s}");
    assert!(
        s.contains("service_terminated at seq 3 (terminated on 2020-01-05) started the clock; a later contact at seq 4 (dated 2024-03-01) moved it"),
        "{s}"
    );
    let s = ok(&run("today"));
    assert!(s.contains("status: retained (until 2029-03-01)\n"), "{s}");
    // As the report sees it on the same day.
    let o = run_in(
        tmp.path(),
        &["records", "--ledger", "L", "--as-of", "2024-03-01"],
    );
    assert_eq!(ok(&o), "C-X\tretained\t2025-01-05\t2025-01-06\t-\n");
}

/// Rules (4) and (5) through the binary: `service_terminated --reason impairment` needs a
/// written notice and a referral; `status` names the missing item until both are there, and
/// an unknown reason is refused (exit 2, nothing written).
#[test]
fn termination_for_impairment_needs_notice_and_referral() {
    let f = Fixture::small();
    let today = caseledger_testkit::cli::today();
    let size = f.size();
    let terminate = |reason: &str| {
        f.run(&[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-1",
            "--record",
            "C-OPEN",
            "--kind",
            "service_terminated",
            "--occurred-on",
            &today,
            "--reason",
            reason,
        ])
    };
    let line = fails(&terminate("SECRET-tired"));
    assert!(line.contains("--reason"), "{line}");
    assert!(!line.contains("SECRET"), "{line}");
    assert_eq!(f.size(), size);
    ok(&terminate("impairment"));
    let missing = |f: &Fixture| -> Vec<String> {
        json(f, &["status", "--ledger", "L", "--record", "C-OPEN"])["missing_items"]
            .as_array()
            .expect("missing_items")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(
        missing(&f).iter().any(|m| m == "4_5_notice_and_referral"),
        "{:?}",
        missing(&f)
    );
    ok(&f.append("lic-1", "C-OPEN", "termination_notice", &today, None));
    assert!(missing(&f).iter().any(|m| m == "4_5_notice_and_referral"));
    ok(&f.append("lic-1", "C-OPEN", "referral", &today, None));
    assert!(
        !missing(&f).iter().any(|m| m == "4_5_notice_and_referral"),
        "{:?}",
        missing(&f)
    );
}

/// Issue 14: `caseledger close` (an admin's signed `ledger_closed`) ends the ledger's life:
/// a licensee cannot close it, nothing is appended after it (exit 2, nothing written),
/// `status` says it is closed (since, by whom), the ledger still verifies, and the
/// retention report names the close.
#[test]
fn a_closed_ledger_says_so_and_takes_nothing_more() {
    let f = Fixture::small();
    let by_licensee = fails(&f.run(&[
        "close", "--ledger", "L", "--reason", "closing", "--author", "lic-1",
    ]));
    assert!(
        by_licensee.contains("refused: author lic-1 is licensee; ledger_closed needs admin"),
        "{by_licensee}"
    );
    let closed = seq_of(&f.run(&[
        "close",
        "--ledger",
        "L",
        "--reason",
        "practice closed, policy R-9",
    ]));
    assert_eq!(closed, 11);
    let before = f.snapshot();
    let refused = fails(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    assert!(
        refused.contains("the ledger was closed at seq 11: nothing may be appended after it"),
        "{refused}"
    );
    assert_eq!(f.snapshot(), before, "nothing written");
    let export = fails(&f.run(&[
        "export", "--ledger", "L", "--record", "C-OPEN", "--out", "b.json",
    ]));
    assert!(
        export.contains("the ledger was closed at seq 11: an export appends a record_head"),
        "{export}"
    );
    assert!(!f.path("b.json").exists());
    assert_eq!(f.snapshot(), before, "nothing written");
    let text = status(&f, "C-OPEN");
    assert!(
        text.contains("ledger: closed since ")
            && text.contains(
                " (seq 11) by admin: practice closed, policy R-9; nothing can be appended"
            ),
        "{text}"
    );
    let j = json(&f, &["status", "--ledger", "L", "--record", "C-OPEN"]);
    assert_eq!(j["ledger_closed"]["seq"], 11, "{j}");
    assert_eq!(j["ledger_closed"]["by"], "admin", "{j}");
    let verified = f.run(&["verify", "--ledger", "L"]);
    ok(&verified);
    assert!(
        stderr(&verified).contains(" by admin: practice closed, policy R-9")
            || stdout(&verified).contains(" by admin: practice closed, policy R-9"),
        "{}",
        stderr(&verified)
    );
    let vj = json(&f, &["verify", "--ledger", "L"]);
    assert_eq!(vj["ledger_closed"]["seq"], 11, "{vj}");
    ok(&f.report(&[]));
    let report: Value =
        serde_json::from_slice(&fs::read(f.path("rep/report.json")).expect("report.json"))
            .expect("report JSON");
    assert_eq!(report["ledger_closed"]["seq"], 11, "{report}");
    assert_eq!(
        report["ledger_closed"]["reason"],
        "practice closed, policy R-9"
    );
}
