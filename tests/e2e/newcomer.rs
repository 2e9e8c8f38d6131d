//! What a newcomer meets (issue 16): every public-key form the tool writes works where a
//! ledger key is asked for; a ledger held by another process is exit 3 (not bad input) and
//! `--wait` waits for it; `--json` errors are JSON on stdout; no Rust Debug text reaches a
//! user; `destroy` on a terminal asks first.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use caseledger_testkit::cli::{fails, ok, stderr, stdout, Fixture};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn every_public_key_form_the_tool_writes_anchors_verify() {
    let f = Fixture::small();
    let pub_line = f.keys().join("ledger.pub");
    let pub_line = pub_line.to_str().expect("UTF-8 path");
    let pem = ok(&f.run(&["keys", "export", "--ledger", "L", "--format", "pem"]));
    f.write("ledger.pem.pub", pem.as_bytes());
    let note = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write("ledger.vkey", note.as_bytes());
    let ssh_text = std::fs::read_to_string(pub_line).expect("ledger.pub");
    // The bare 64-hex form: the raw key after the note key's algorithm byte.
    let hex_of = |note: &str| -> String {
        let raw = B64
            .decode(note.trim().splitn(3, '+').nth(2).expect("base64 part"))
            .expect("base64");
        assert_eq!(raw.len(), 33, "{note}");
        raw[1..].iter().map(|b| format!("{b:02x}")).collect()
    };
    let hex = hex_of(&note);
    for key in [
        pub_line,
        "ledger.pem.pub",
        "ledger.vkey",
        note.trim(),
        ssh_text.trim(),
        hex.as_str(),
    ] {
        let o = f.run(&["verify", "--ledger", "L", "--key", key]);
        ok(&o);
        assert!(
            stderr(&o).contains("intact") && stderr(&o).contains("ledger-key"),
            "--key {key}: {}",
            stderr(&o)
        );
        ok(&f.run(&[
            "status",
            "--ledger",
            "L",
            "--record",
            "C-OPEN",
            "--ledger-key",
            key,
        ]));
    }
    // Another key in the same form is not this ledger's: findings, not "intact".
    ok(&f.run(&["keys", "generate", "--out", "other.pem"]));
    let o = f.run(&["verify", "--ledger", "L", "--key", "other.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let other_note = ok(&f.run(&["keys", "export", "--key", "other.pem"]));
    let o = f.run(&["verify", "--ledger", "L", "--key", &hex_of(&other_note)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // cosign --log-key takes a file as verify --key does, in the same forms.
    let cp = ok(&f.run(&["checkpoint", "--ledger", "L"]));
    f.write("cp.txt", cp.as_bytes());
    ok(&f.run(&["keys", "generate", "--out", "w.pem"]));
    for (state, key) in [("s1.json", "ledger.vkey"), ("s2.json", pub_line)] {
        ok(&f.run(&[
            "cosign",
            "--key",
            "w.pem",
            "--state",
            state,
            "--log-key",
            key,
            "cp.txt",
        ]));
    }
    // Both forms are remembered as the same note key.
    let s1 = std::fs::read_to_string(f.path("s1.json")).expect("state");
    let s2 = std::fs::read_to_string(f.path("s2.json")).expect("state");
    assert!(
        s1.contains(note.trim()) && s2.contains(note.trim()),
        "{s1}\n{s2}"
    );
}

/// Holds the ledger's lock (`flock`, as another process would) for `secs` seconds.
fn hold_lock(f: &Fixture, secs: &str) -> std::process::Child {
    let child = Command::new("flock")
        .args(["-x", "L/lock", "sleep", secs])
        .current_dir(f.dir())
        .spawn()
        .expect("flock runs");
    // Until the lock is taken: a shared lock attempt fails from then on.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Command::new("flock")
        .args(["-n", "-s", "L/lock", "true"])
        .current_dir(f.dir())
        .status()
        .expect("flock runs")
        .success()
    {
        assert!(Instant::now() < deadline, "the lock was never taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_ledger_in_use_is_exit_3_and_wait_waits_for_it() {
    let f = Fixture::small();
    let append = [
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
        "2025-05-03",
    ];
    let before = f.snapshot();
    // Long enough for two refusals; `flock` passes the lock to `sleep`, so it is waited
    // for, not killed.
    let mut holder = hold_lock(&f, "3");
    let mut args = vec!["--json"];
    args.extend(append);
    let o = f.run(&args);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("in use"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON error");
    assert_eq!(v["error"]["kind"], "in_use");
    assert_eq!(v["error"]["exit_code"], 3);
    let o = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    holder.wait().expect("the holder ends");
    assert_eq!(before, f.snapshot(), "nothing was written");

    // --wait: the append waits until the holder lets go (after about 1.5 s), then succeeds.
    let holder = hold_lock(&f, "1.5");
    let start = Instant::now();
    let mut args = vec!["--wait", "20s"];
    args.extend(append);
    ok(&f.run(&args));
    assert!(start.elapsed() >= Duration::from_millis(700));
    let _ = holder.wait_with_output();
}

#[test]
fn json_errors_name_kind_file_and_line_on_stdout() {
    let f = Fixture::small();
    f.write(
        "bad.jsonl",
        b"{\"record\":\"C-OPEN\",\"kind\":\"contact\",\"occurred_on\":\"2025-05-03\",\"author\":\"lic-1\"}\n{\"record\":\"C-OPEN\",\"kind\":\"progres_note\",\"occurred_on\":\"2025-05-03\",\"author\":\"lic-1\"}\n",
    );
    let o = f.run(&["--json", "import", "--ledger", "L", "bad.jsonl"]);
    let line = fails(&o);
    assert!(line.contains("did you mean progress_note?"), "{line}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON error");
    assert_eq!(v["error"]["kind"], "input");
    assert_eq!(v["error"]["file"], "bad.jsonl");
    assert_eq!(v["error"]["line"], 2);
    assert_eq!(
        v["error"]["message"].as_str(),
        line.strip_prefix("caseledger: error: ")
    );
    let o = f.run(&["--json", "verfy"]);
    fails(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON error");
    assert_eq!(v["error"]["kind"], "usage");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("did you mean `verify`?")));
}

/// `file` and `line` of a `--json` error are fields the error carries, not words parsed
/// out of its message: a file name with a space in it, stdin (no file, still a line), and a
/// missing file (a file, no line).
#[test]
fn json_error_locations_are_fields_not_parsed_text() {
    let f = Fixture::small();
    let bad = b"{\"record\":\"C-OPEN\",\"kind\":\"progres_note\",\"occurred_on\":\"2025-05-03\",\"author\":\"lic-1\"}\n";
    f.write("two words.jsonl", bad);
    let o = f.run(&["--json", "import", "--ledger", "L", "two words.jsonl"]);
    fails(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON error");
    assert_eq!(v["error"]["file"], "two words.jsonl");
    assert_eq!(v["error"]["line"], 1);

    let o = caseledger_testkit::cli::run_stdin(
        f.dir(),
        &["--json", "import", "--ledger", "L", "-"],
        bad,
    );
    fails(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON error");
    assert_eq!(v["error"]["file"], serde_json::Value::Null);
    assert_eq!(v["error"]["line"], 1);

    let o = f.run(&["--json", "import", "--ledger", "L", "no such.jsonl"]);
    fails(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON error");
    assert_eq!(v["error"]["file"], "no such.jsonl");
    assert_eq!(v["error"]["line"], serde_json::Value::Null);
}

/// Rust Debug text (`Some(…)`, `Terminated(Date(…))`, a backtrace) in what a user reads.
pub(crate) fn debug_text(s: &str) -> Option<String> {
    if s.contains("backtrace") || s.contains("RUST_BACKTRACE") {
        return Some("backtrace".to_owned());
    }
    // A capitalised identifier glued to '(' is a Debug type wrapper; prose puts a space
    // before a parenthesis.
    let b = s.as_bytes();
    for (at, _) in s.match_indices('(') {
        let start = b[..at]
            .iter()
            .rposition(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .map_or(0, |p| p + 1);
        if at - start > 1 && b[start].is_ascii_uppercase() {
            return Some(s[start..s.len().min(at + 30)].to_owned());
        }
    }
    None
}

#[test]
fn no_rust_debug_text_reaches_stdout_or_stderr() {
    let f = Fixture::small();
    let runs: Vec<Vec<&str>> = vec![
        vec!["verify", "--ledger", "L"],
        vec!["--json", "verify", "--ledger", "L"],
        vec!["status", "--ledger", "L", "--record", "C-OLD"],
        vec!["--json", "status", "--ledger", "L", "--record", "C-NEW"],
        vec!["--json", "records", "--ledger", "L"],
        vec![
            "destroy",
            "--ledger",
            "L",
            "--record",
            "C-OPEN",
            "--dry-run",
        ],
        vec![
            "--json",
            "destroy",
            "--ledger",
            "L",
            "--record",
            "C-OLD",
            "--dry-run",
        ],
        vec![
            "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.bundle",
        ],
        vec!["verify", "--bundle", "b.bundle"],
        vec!["--json", "verify", "--bundle", "b.bundle"],
        vec![
            "--json", "export", "--ledger", "L", "--record", "C-OLD", "--out", "o.bundle",
        ],
        vec!["--json", "verify", "--bundle", "o.bundle"],
        vec!["verify", "--bundle", "missing.bundle"],
        vec![
            "--json",
            "prove",
            "inclusion",
            "--ledger",
            "L",
            "--seq",
            "2",
        ],
        vec!["--json", "witness", "list", "--ledger", "L"],
    ];
    for args in runs {
        let o = f.run(&args);
        for (what, text) in [("stdout", stdout(&o)), ("stderr", stderr(&o))] {
            assert_eq!(
                debug_text(&text),
                None,
                "caseledger {}: Debug text on {what}:\n{text}",
                args.join(" ")
            );
        }
    }
    // The bundle of a terminated record: its status is the documented word, dates ISO.
    let o = ok(&f.run(&["--json", "verify", "--bundle", "o.bundle"]));
    let v: serde_json::Value = serde_json::from_str(&o).expect("JSON");
    assert_eq!(v["status"], "eligible", "{o}");
    assert_eq!(v["retained_until"], "2024-01-15", "{o}");
}

/// Runs `caseledger args` on a pseudo-terminal (`script`), typing `answer`.
fn on_a_terminal(f: &Fixture, args: &str, answer: &str) -> std::process::Output {
    on_a_terminal_with(f, args, answer, &[("NO_COLOR", "1")])
}

/// [`on_a_terminal`] with these environment variables.
fn on_a_terminal_with(
    f: &Fixture,
    args: &str,
    answer: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    let bin = caseledger_testkit::cli::caseledger_bin();
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .env_remove("CASELEDGER_LEDGER")
        .env_remove("CASELEDGER_KEYS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("script runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        // After the prompt is up: script forwards what it reads to the terminal.
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(answer.as_bytes()).expect("type");
    }
    child.wait_with_output().expect("script ends")
}

#[test]
fn destroy_on_a_terminal_asks_unless_yes() {
    let f = Fixture::small();
    let destroy = "destroy --ledger L --record C-OLD --author cust-1 --reason RP-5";
    let before = f.snapshot();
    let o = on_a_terminal(&f, destroy, "no\n");
    let text = stdout(&o);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("Type yes to confirm"), "{text}");
    assert!(text.contains("not confirmed; nothing destroyed"), "{text}");
    assert_eq!(before, f.snapshot(), "nothing was written");
    let o = on_a_terminal(&f, destroy, "yes\n");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("destruction of C-OLD"),
        "{}",
        stdout(&o)
    );
    // --yes on a terminal does not ask; without a terminal nothing asks (scripts).
    let o = on_a_terminal(
        &f,
        "destroy --ledger L --record C-NEW --author cust-1 --reason RP-5 --yes",
        "",
    );
    assert!(!stdout(&o).contains("Type yes"), "{}", stdout(&o));
}

#[test]
fn close_on_a_terminal_asks_unless_yes() {
    let f = Fixture::small();
    let before = f.snapshot();
    let o = on_a_terminal(&f, "close --ledger L --reason practice-sold", "no\n");
    let text = stdout(&o);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("Type yes to confirm"), "{text}");
    assert!(text.contains("not confirmed; nothing written"), "{text}");
    assert_eq!(before, f.snapshot(), "nothing was written");
    let o = on_a_terminal(&f, "close --ledger L --reason practice-sold --yes", "");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(!stdout(&o).contains("Type yes"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("the close of the ledger"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn man_pages_exist_for_every_page_they_cite_and_completions_offer_kinds() {
    let f = Fixture::empty();
    ok(&f.run(&["man", "--dir", "man1"]));
    let dir = f.path("man1");
    let mut pages = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&dir).expect("man1") {
        pages.insert(e.expect("entry").file_name().to_string_lossy().into_owned());
    }
    assert!(pages.contains("caseledger.1") && pages.contains("caseledger-actor-add.1"));
    // Every `caseledger-…(1)` any page cites is a page here.
    for page in &pages {
        let text = std::fs::read_to_string(dir.join(page)).expect("page");
        for (at, _) in text.match_indices("caseledger-") {
            let rest = &text[at..];
            let Some(end) = rest.find("(1)") else {
                continue;
            };
            let name = &rest[..end];
            if name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                assert!(
                    pages.contains(&format!("{name}.1")),
                    "{page} cites {name}(1), which is not there"
                );
            }
        }
    }
    let main = ok(&f.run(&["man"]));
    assert_eq!(
        main,
        std::fs::read_to_string(dir.join("caseledger.1")).expect("main page")
    );
    for section in [
        ".SH \"EXAMPLES\"",
        ".SH \"FILES\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(main.contains(section), "no {section}");
    }
    assert!(main.contains("in use by another process"));
    // --help says the same about exit 3.
    let help = ok(&f.run(&["--help"]));
    assert!(help.contains("3 the ledger is in use"), "{help}");
    let bash = ok(&f.run(&["completions", "bash"]));
    for kind in ["progress_note", "termination_notice", "hold_placed"] {
        assert!(bash.contains(kind), "bash completions lack {kind}");
    }
}

#[test]
fn colour_only_on_a_terminal_that_is_not_dumb() {
    let f = Fixture::small();
    let verify = "verify --ledger L";
    let coloured = on_a_terminal_with(&f, verify, "", &[("TERM", "xterm")]);
    assert!(
        stdout(&coloured).contains("\x1b[3"),
        "{}",
        stdout(&coloured)
    );
    for env in [[("TERM", "dumb")], [("NO_COLOR", "1")]] {
        let o = on_a_terminal_with(&f, verify, "", &env);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        assert!(!stdout(&o).contains("\x1b[3"), "{env:?}: {}", stdout(&o));
    }
}

/// Today in `zone`, as `date` says.
fn date_in(zone: &str) -> String {
    let o = Command::new("date")
        .arg("+%F")
        .env("TZ", zone)
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A new ledger whose genesis time zone is on another calendar day than UTC right now, with
/// that zone and its day. One of the two zones always is (UTC+14 from 10:00 UTC, UTC-12
/// before 12:00 UTC).
fn ledger_in_a_zone_on_another_day() -> (Fixture, &'static str, String) {
    let utc = caseledger_testkit::cli::today();
    let (zone, day) = ["Pacific/Kiritimati", "Etc/GMT+12"]
        .into_iter()
        .map(|z| (z, date_in(z)))
        .find(|(_, d)| *d != utc)
        .expect("a zone on another day");
    let f = Fixture::empty();
    ok(&f.run(&[
        "init",
        "L",
        "--origin",
        caseledger_testkit::ORIGIN,
        "--time-zone",
        zone,
    ]));
    (f, zone, day)
}

#[test]
fn status_records_and_destroy_read_the_practices_day_not_the_utc_one() {
    let (f, zone, day) = ledger_in_a_zone_on_another_day();
    let o = ok(&f.run(&["--json", "records", "--ledger", "L"]));
    let v: serde_json::Value = serde_json::from_str(&o).expect("JSON");
    assert_eq!(v["as_of"], day.as_str(), "{zone}: {o}");
    let o = f.run(&["records", "--ledger", "L", "--as-of", &day]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("as of {day} (end of day {zone})")),
        "{}",
        stderr(&o)
    );
    let o = f.run(&["destroy", "--ledger", "L", "--all-eligible", "--dry-run"]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("today ({day}, {zone})")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn today_and_the_retention_report_are_the_practices_day_not_the_utc_one() {
    let (f, zone, day) = ledger_in_a_zone_on_another_day();
    ok(&f.run(&[
        "actor", "add", "--ledger", "L", "--id", "lic-1", "--role", "licensee",
    ]));
    ok(&f.run(&[
        "actor",
        "add",
        "--ledger",
        "L",
        "--id",
        "cust-1",
        "--role",
        "custodian",
    ]));
    // `--occurred-on today` is the practice's date, on append and on hold alike.
    ok(&f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-1",
        "--kind",
        "record_opened",
        "--occurred-on",
        "today",
    ]));
    ok(&f.run(&[
        "hold",
        "place",
        "--ledger",
        "L",
        "--record",
        "C-1",
        "--author",
        "cust-1",
        "--matter",
        "SC-1",
        "--occurred-on",
        "today",
    ]));
    let o = ok(&f.run(&["--json", "status", "--ledger", "L", "--record", "C-1"]));
    let v: serde_json::Value = serde_json::from_str(&o).expect("JSON");
    assert_eq!(v["entries"], 2, "{o}");
    assert_eq!(v["opened_on"], day.as_str(), "{zone}: {o}");
    assert_eq!(v["last_event"]["kind"], "hold_placed", "{o}");
    assert_eq!(v["last_event"]["occurred_on"], day.as_str(), "{zone}: {o}");
    let o = f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-1",
        "--kind",
        "contact",
        "--occurred-on",
        "tomorrow",
    ]);
    assert!(
        fails(&o).contains("expected an ISO date YYYY-MM-DD, or `today`"),
        "{}",
        stderr(&o)
    );

    // `report retention` ends the day in the practice's zone unless --tz names another.
    let report = |out: &str, tz: Option<&str>| -> serde_json::Value {
        let mut args = vec![
            "--json",
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            "today",
            "--signing-key",
            "r.pem",
            "--generate-key",
            "--out",
            out,
        ];
        if let Some(tz) = tz {
            args.extend(["--tz", tz]);
        }
        serde_json::from_str(&ok(&f.run(&args))).expect("JSON")
    };
    let v = report("rep", None);
    assert_eq!(v["time_zone"], zone, "{v}");
    assert_eq!(v["as_of"], day.as_str(), "{v}");
    let v = report("rep-utc", Some("UTC"));
    assert_eq!(v["time_zone"], "UTC", "{v}");
    assert_eq!(v["as_of"], caseledger_testkit::cli::today().as_str(), "{v}");
}
