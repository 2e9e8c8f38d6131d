//! `caseledger import`: the JSONL ingest format, bad lines by number, nothing from a bad
//! line (nothing at all for a syntax error), replays refused, no clinical content in errors.

use caseledger_testkit::cli::{fails, ok, run_stdin, stderr, Fixture};

fn line(record: &str, kind: &str, date: &str, extra: &str) -> String {
    format!(
        r#"{{"record":"{record}","kind":"{kind}","occurred_on":"{date}","author":"lic-1"{extra}}}"#
    )
}

#[test]
fn a_bad_line_is_named_and_nothing_is_written() {
    let f = Fixture::small();
    let before = f.snapshot();
    let good = line("C-X", "record_opened", "2025-01-01", "");
    let cases: Vec<(String, &str)> = vec![
        (r#"{"record":"C-X","kind":"record_opened""#.to_owned(), "line 2: not valid JSON"),
        (line("C-X", "record_opened", "2025-01-01", r#","colour":"red""#), "line 2: unknown field `colour`"),
        (line("C-X", "record_opened", "2025-01-01", r#","payload":"SECRET-1","payload":"SECRET-2""#), "line 2: duplicate field `payload`"),
        (line("C-X", "record_opened", "01/02/2025", ""), "line 2: occurred_on"),
        (line("C X", "record_opened", "2025-01-01", ""), "line 2: record"),
        (line("C-X", "chat", "2025-01-01", ""), "line 2: kind"),
        (line("C-X", "SECRET-CLINICAL mixed into kind", "2025-01-01", ""), "line 2: kind: not a known event kind"),
        (line("C-X", "contact", "2025-01-01", r#","SECRET client said":"x""#), "line 2: an unknown field (its name is not shown"),
        (line("C-X", "amendment", "2025-01-01", r#","amends":"SECRET-CLINICAL""#), "line 2: amends"),
        (line("C-X", "amendment", "2025-01-01", ""), "line 2: amends: required"),
        (line("C-X", "contact", "2025-01-01", r#","payload":123"#), "line 2: payload"),
        (line("C-X", "contact", "2025-01-01", r#","payload_base64":"%%%""#), "line 2: payload_base64"),
        (line("C-X", "contact", "2025-01-01", r#","payload":"SECRET","payload_base64":"AA==""#), "line 2: payload_base64"),
        (line("C-X", "hold_placed", "2025-01-01", ""), "line 2: matter"),
        (line("C-X", "contact", "2025-01-01", r#","matter":"M-1""#), "line 2: matter"),
        (r#"{"kind":"actor_enrolled","occurred_on":"2025-01-01","author":"admin","actor":"x"}"#.to_owned(), "line 2: role"),
        (r#"{"kind":"actor_enrolled","occurred_on":"2025-01-01","author":"admin","actor":"x","role":"boss"}"#.to_owned(), "line 2: role"),
        (r#"{"kind":"key_revoked","occurred_on":"2025-01-01","author":"admin","record":"C-1","actor":"x"}"#.to_owned(), "line 2: record"),
        (r#"{"kind":"genesis","occurred_on":"2025-01-01","author":"admin"}"#.to_owned(), "line 2: kind: genesis"),
        (line("C-X", "contact", "2025-01-01", "").replace("lic-1", "ghost"), "line 2: author"),
        ("[1,2,3]".to_owned(), "line 2"),
        ("\u{1b}[31mSECRET".to_owned(), "line 2: not valid JSON"),
    ];
    for (bad, want) in &cases {
        let input = format!(
            "{good}\n{bad}\n{}\n",
            line("C-Y", "record_opened", "2025-01-01", "")
        );
        let o = run_stdin(f.dir(), &["import", "--ledger", "L", "-"], input.as_bytes());
        let err = std::panic::catch_unwind(|| fails(&o)).unwrap_or_else(|_| panic!("{bad}"));
        assert!(err.contains(want), "{bad}\nwanted {want:?} in:\n{err}");
        assert!(
            !err.contains("SECRET"),
            "clinical content in an error: {err}"
        );
    }
    assert_eq!(before, f.snapshot(), "a bad import wrote something");
    // Blank lines are skipped but keep the numbering.
    let o = run_stdin(
        f.dir(),
        &["import", "--ledger", "L", "-"],
        format!("\n\n{}\n", line("C-X", "hold_placed", "2025-01-01", "")).as_bytes(),
    );
    assert!(fails(&o).contains("line 3: matter"));
}

#[test]
fn a_refused_line_stops_the_import_after_the_lines_before_it() {
    let f = Fixture::small();
    let size = f.size();
    let input = [
        line("C-A", "record_opened", "2025-01-01", ""),
        line(
            "C-A",
            "contact",
            "2025-01-02",
            r#","payload":"SECRET-CALL""#,
        ),
        // Never opened: the store refuses line 3.
        line(
            "C-B",
            "contact",
            "2025-01-02",
            r#","payload":"SECRET-CALL""#,
        ),
        line("C-A", "contact", "2025-01-03", ""),
    ]
    .join("\n");
    f.write("in.jsonl", input.as_bytes());
    let err = fails(&f.run(&["import", "--ledger", "L", "in.jsonl"]));
    assert!(
        err.contains("line 3:") && err.contains("C-B") && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(!err.contains("SECRET"), "{err}");
    // The whole file is judged before the first write: nothing was written.
    assert_eq!(f.size(), size);
    ok(&f.run(&["verify", "--ledger", "L"]));
    // The corrected file runs as it is, without editing the lines that were fine.
    let fixed = input.replace(
        r#""record":"C-B","kind":"contact""#,
        r#""record":"C-A","kind":"contact""#,
    );
    assert_ne!(fixed, input);
    f.write("in.jsonl", fixed.as_bytes());
    let o = f.run(&["import", "--ledger", "L", "in.jsonl"]);
    ok(&o);
    let out = stderr(&o);
    assert!(out.contains("imported 4 events"), "{out}");
    assert_eq!(f.size(), size + 4);
}

#[test]
fn re_importing_a_file_appends_nothing_and_says_so() {
    let f = Fixture::small();
    let size = f.size();
    let o = f.run(&["import", "--ledger", "L", "events.jsonl"]);
    ok(&o);
    let out = stderr(&o);
    assert!(
        out.contains("imported 0 events") && out.contains("7 lines were already in the ledger"),
        "{out}"
    );
    assert_eq!(f.size(), size);
}

#[test]
fn actor_enrolled_lines_create_keys_and_payload_base64_works() {
    let f = Fixture::small();
    let input = [
        r#"{"kind":"actor_enrolled","occurred_on":"2025-01-01","author":"admin","actor":"lic-9","role":"licensee"}"#.to_owned(),
        r#"{"record":"C-9","kind":"record_opened","occurred_on":"2025-01-01","author":"lic-9"}"#.to_owned(),
        r#"{"record":"C-9","kind":"evaluative_report","occurred_on":"2025-01-02","author":"lic-9","payload_base64":"JVBERi0xLjQK"}"#.to_owned(),
        r#"{"kind":"key_revoked","occurred_on":"2025-01-03","author":"admin","actor":"lic-9"}"#.to_owned(),
    ]
    .join("\n");
    f.write("in.jsonl", input.as_bytes());
    let o = f.run(&["import", "--ledger", "L", "in.jsonl"]);
    ok(&o);
    assert!(stderr(&o).contains("imported 4 events"), "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(f.path(caseledger_testkit::keys_path!("actors/lic-9.pem")))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    ok(&f.run(&["verify", "--ledger", "L"]));
    // A refused enrolment leaves no key file behind.
    f.write("dup.jsonl", br#"{"kind":"actor_enrolled","occurred_on":"2025-01-01","author":"lic-1","actor":"lic-10","role":"licensee"}"#);
    fails(&f.run(&["import", "--ledger", "L", "dup.jsonl"]));
    assert!(!f
        .path(caseledger_testkit::keys_path!("actors/lic-10.pem"))
        .exists());
}
