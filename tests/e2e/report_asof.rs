//! Reports true as of their date, through the binary: a ledger written with a clock we set
//! (by `caseledger-store`, as the CLI would have on those days), reported as of a past day,
//! then appended to and reported again as of the same day: the same report, apart from the
//! production time and the signatures. Also `report verify DIR` over the signed manifest,
//! `--tz`, and the refusal of a day to come.

use caseledger_core::event::{Event, EventKind, LedgerSettings, Payload, Role, ShortText};
use caseledger_core::keys::SigningKey;
use caseledger_core::{ActorId, Date, Nonce, RecordId, Timestamp};
use caseledger_store::{CreateOptions, Ledger, OpenOptions};
use caseledger_testkit::cli::{fails, ok, run_in, stderr, stdout};
use serde_json::Value;
use std::fs;
use std::path::Path;

const ORIGIN: &str = "example.org/asof-ledger";

fn admin_key() -> SigningKey {
    SigningKey::from_seed(&[0xB1; 32])
}
fn ledger_key() -> SigningKey {
    SigningKey::from_seed(&[0xB2; 32])
}
fn lic_key() -> SigningKey {
    SigningKey::from_seed(&[0xB3; 32])
}
fn cust_key() -> SigningKey {
    SigningKey::from_seed(&[0xB4; 32])
}
fn d(s: &str) -> Date {
    Date::parse(s).expect("date")
}
/// An instant, `YYYY-MM-DD` at `hour`:00 UTC.
fn at(day: &str, hour: i64) -> i64 {
    Timestamp::start_of(d(day)).expect("instant").0 + hour * 3_600_000_000
}

/// A ledger whose clock reads what the test sets (events are signed at that time too).
struct Clocked {
    now: caseledger_testkit::TestClock,
}

impl Clocked {
    fn options(&self) -> OpenOptions {
        OpenOptions::default()
            .with_clock(self.now.fixed_clock())
            .with_kek(caseledger_testkit::kek())
            .with_ledger_key(ledger_key())
    }
    fn set(&self, t: i64) {
        self.now.set(Timestamp(t));
    }
}

fn event(
    key: &SigningKey,
    author: &str,
    record: Option<&str>,
    kind: EventKind,
    on: &str,
    payload: Option<&str>,
) -> (caseledger_core::event::SignedEvent, Option<Payload>) {
    let payload = payload.map(|p| Payload::new(p.as_bytes().to_vec()));
    let ev = Event {
        record: record.map(|r| RecordId::new(r).expect("record id")),
        author: ActorId::new(author).expect("actor"),
        kind,
        occurred_on: d(on),
        signed_at: caseledger_testkit::signing_now(),
        commitment: payload.as_ref().map(Payload::commitment),
        nonce: Nonce::random(),
    };
    (ev.sign(ORIGIN, key).expect("sign"), payload)
}

fn append(l: &Ledger, e: (caseledger_core::event::SignedEvent, Option<Payload>)) {
    l.append(e.0, e.1).expect("append");
}

fn clinical(l: &Ledger, record: &str, kind: EventKind, on: &str) {
    append(
        l,
        event(
            &lic_key(),
            "lic-1",
            Some(record),
            kind,
            on,
            Some("SECRET note"),
        ),
    );
}

/// Days 1 and 2 (2025-03-10 12:00 UTC and 2025-03-11 03:00 UTC, still 2025-03-10 in Los
/// Angeles): genesis, two actors, C-A (terminated 2019) and C-B, a checkpoint at the end of
/// day 1. Returns the clock for later days.
fn build(dir: &Path) -> Clocked {
    let c = Clocked {
        now: caseledger_testkit::TestClock::at_time(Timestamp(at("2025-03-10", 12))),
    };
    let admin = admin_key();
    let l = Ledger::create(
        dir,
        CreateOptions {
            origin: ShortText::new(ORIGIN).expect("origin"),
            admin: ActorId::new("admin").expect("admin"),
            admin_key: &admin,
            ledger_key: ledger_key().public_key(),
            settings: LedgerSettings {
                private_practice: false,
                ..LedgerSettings::default()
            },
            open: c.options(),
        },
    )
    .expect("create");
    for (id, role, key) in [
        ("lic-1", Role::Licensee, lic_key()),
        ("cust-1", Role::Custodian, cust_key()),
    ] {
        append(
            &l,
            event(
                &admin,
                "admin",
                None,
                EventKind::ActorEnrolled {
                    actor: ActorId::new(id).expect("id"),
                    role,
                    public_key: key.public_key(),
                },
                "2019-01-01",
                None,
            ),
        );
    }
    clinical(&l, "C-A", EventKind::RecordOpened, "2019-01-02");
    clinical(&l, "C-A", EventKind::Assessment, "2019-01-03");
    clinical(
        &l,
        "C-A",
        EventKind::ServiceTerminated {
            terminated_on: d("2019-06-01"),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        "2019-06-01",
    );
    clinical(&l, "C-B", EventKind::RecordOpened, "2025-03-01");
    c.set(at("2025-03-11", 3));
    clinical(&l, "C-B", EventKind::ProgressNote, "2025-03-10");
    l.close().expect("close");
    c
}

/// Later: C-A destroyed (lawfully), C-C opened, a note on C-B, another checkpoint.
fn later(dir: &Path, c: &Clocked, hour: i64) {
    c.set(at("2025-04-01", hour));
    let l = Ledger::open(dir, c.options()).expect("open");
    append(
        &l,
        event(
            &cust_key(),
            "cust-1",
            Some("C-A"),
            EventKind::Destruction {
                reason: ShortText::new("retention policy 4").expect("reason"),
                citation: None,
            },
            "2025-04-01",
            None,
        ),
    );
    clinical(&l, "C-C", EventKind::RecordOpened, "2025-04-01");
    clinical(&l, "C-B", EventKind::ProgressNote, "2025-04-01");
    l.close().expect("close");
}

fn report(dir: &Path, out: &str, as_of: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "report",
        "retention",
        "--ledger",
        "L",
        "--as-of",
        as_of,
        "--signing-key",
        "rk.pem",
        "--generate-key",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).expect("read")).expect("json")
}

fn status(r: &Value, id: &str) -> Option<String> {
    r["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|x| x["id"] == id)
        .map(|x| x["status"].as_str().expect("status").to_owned())
}

/// A report file's text with its production time replaced by a fixed one.
fn normalised(dir: &Path, file: &str) -> String {
    let produced = json(&dir.join("report.json"))["produced_at"]
        .as_str()
        .expect("produced_at")
        .to_owned();
    let text = fs::read_to_string(dir.join(file)).expect("read");
    assert!(
        text.contains(&produced),
        "{file} states the production time"
    );
    text.replace(&produced, "PRODUCED-AT")
}

#[test]
fn a_past_report_is_the_same_today_and_after_more_entries() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let clock = build(&t.join("L"));
    ok(&report(t, "day1", "2025-03-10", &[]));
    let r1 = json(&t.join("day1/report.json"));
    // Entries recorded after the end of the day are not part of it: C-B's note recorded at
    // 03:00 UTC on the 11th is not counted; the checkpoint of exactly that size is named.
    assert_eq!(r1["as_of"], "2025-03-10");
    assert_eq!(r1["time_zone"], "UTC");
    assert_eq!(r1["recorded_before"], "2025-03-11T00:00:00Z");
    let size = r1["prefix"]["size"].as_u64().expect("size");
    assert_eq!(size, 1 + 2 + 4);
    assert_eq!(r1["prefix"]["checkpoint"]["size"], size);
    assert_eq!(r1["prefix"]["checkpoint"]["root"], r1["prefix"]["root"]);
    assert_eq!(status(&r1, "C-A").as_deref(), Some("eligible"));
    assert_eq!(status(&r1, "C-B").as_deref(), Some("open"));
    assert_eq!(status(&r1, "C-C"), None);
    assert_eq!(r1["integrity"]["anchor"]["kind"], "self_attested");

    // More entries, recorded weeks later: a destruction, a new record.
    later(&t.join("L"), &clock, 9);
    ok(&report(t, "again", "2025-03-10", &[]));
    for file in ["report.json", "report.csv", "report.html"] {
        assert_eq!(
            normalised(&t.join("day1"), file),
            normalised(&t.join("again"), file),
            "{file} as of a past day changed after entries were recorded later"
        );
    }
    // Only the production time and the signatures differ.
    ok(&run_in(
        t,
        &["report", "verify", "again", "--key", "day1/report-key.pem"],
    ));

    // As of the day of the destruction, it is done and the new record appears.
    ok(&report(t, "april", "2025-04-01", &[]));
    let r = json(&t.join("april/report.json"));
    assert_eq!(status(&r, "C-A").as_deref(), Some("destroyed_lawfully"));
    assert_eq!(status(&r, "C-C").as_deref(), Some("open"));
    assert!(r["prefix"]["size"].as_u64().expect("size") > size);

    // In Los Angeles, 03:00 UTC on the 11th is still the 10th: the note is in.
    ok(&report(
        t,
        "la",
        "2025-03-10",
        &["--tz", "America/Los_Angeles"],
    ));
    let la = json(&t.join("la/report.json"));
    assert_eq!(la["time_zone"], "America/Los_Angeles");
    assert_eq!(la["recorded_before"], "2025-03-11T07:00:00Z");
    assert_eq!(la["prefix"]["size"], size + 1);
    // Every commit is sealed: the day's last commit has its seal.
    assert_eq!(la["prefix"]["checkpoint"]["size"], size + 1);
    let csv = fs::read_to_string(t.join("la/report.csv")).expect("csv");
    assert!(csv.starts_with("report,caseledger-retention-report/v2\r\norigin,example.org/asof-ledger\r\nas_of,2025-03-10\r\ntime_zone,America/Los_Angeles\r\n"));
    assert!(csv.contains(&format!("\r\nprefix_size,{}\r\n", size + 1)));

    // Before the ledger existed, the report would be empty: refused. A day to come: refused.
    let line = fails(&report(t, "none", "2025-03-09", &[]));
    assert!(line.contains("nothing had been recorded"), "{line}");
    let line = fails(&report(t, "future", "2099-01-01", &[]));
    assert!(line.contains("--as-of 2099-01-01: after today"), "{line}");
    let line = fails(&report(t, "tz", "2025-03-10", &["--tz", "Mars/Olympus"]));
    assert!(line.contains("--tz"), "{line}");
    for d in ["none", "future", "tz"] {
        assert!(!t.join(d).exists(), "a refused report wrote {d}");
    }
}

/// Damage done to a copy of a report directory.
type Damage = fn(&Path);

#[test]
fn report_verify_checks_the_manifest_and_names_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    build(&t.join("L"));
    ok(&report(
        t,
        "rep",
        "2025-03-10",
        &["--signer", "records@asof.example"],
    ));
    let r = json(&t.join("rep/report.json"));
    assert_eq!(r["signer"]["identity"], "records@asof.example");
    let fp = r["signer"]["fingerprint"].as_str().expect("fingerprint");
    assert!(fp.starts_with("SHA256:"));
    let v = run_in(
        t,
        &["report", "verify", "rep", "--key", "rep/report-key.pem"],
    );
    ok(&v);
    assert!(stderr(&v).contains(fp), "{}", stderr(&v));
    let j = run_in(
        t,
        &[
            "--json",
            "report",
            "verify",
            "rep",
            "--key",
            "rep/report-key.pem",
        ],
    );
    ok(&j);
    let j: Value = serde_json::from_str(&stdout(&j)).expect("json");
    assert_eq!(j["verified"], true);
    assert_eq!(j["files"].as_array().expect("files").len(), 7);

    // Every damage is exit 1 and names the file.
    let cases: [(&str, Damage); 5] = [
        ("report.csv", |d| {
            let p = d.join("report.csv");
            let mut b = fs::read(&p).expect("read");
            b.push(b' ');
            fs::write(&p, b).expect("write");
        }),
        ("report.html", |d| {
            fs::remove_file(d.join("report.html")).expect("rm")
        }),
        ("notes.txt", |d| {
            fs::write(d.join("notes.txt"), b"x").expect("write")
        }),
        ("manifest.sha256", |d| {
            let p = d.join("manifest.sha256");
            let t = fs::read_to_string(&p).expect("read");
            fs::write(&p, t.replacen('0', "1", 1)).expect("write");
        }),
        ("manifest.sha256.sig", |d| {
            fs::remove_file(d.join("manifest.sha256.sig")).expect("rm")
        }),
    ];
    for (i, (name, damage)) in cases.iter().enumerate() {
        let copy = format!("copy{i}");
        fs::create_dir(t.join(&copy)).expect("mkdir");
        for e in fs::read_dir(t.join("rep")).expect("ls") {
            let e = e.expect("entry");
            fs::copy(e.path(), t.join(&copy).join(e.file_name())).expect("copy");
        }
        damage(&t.join(&copy));
        let o = run_in(
            t,
            &["report", "verify", &copy, "--key", "rep/report-key.pem"],
        );
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(name), "{name}: {}", stderr(&o));
    }
    // Another key: exit 1. A usage error (no such directory or file): exit 2.
    ok(&run_in(t, &["keys", "generate", "--out", "other.pem"]));
    let o = run_in(t, &["report", "verify", "rep", "--key", "other.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("manifest.sha256"), "{}", stderr(&o));
    fails(&run_in(
        t,
        &["report", "verify", "nowhere", "--key", "rep/report-key.pem"],
    ));
}
