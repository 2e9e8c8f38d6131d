//! Issue 11's walk-through through the binary: a progress note appended to a record whose
//! service ended years ago, without `service_resumed`, is refused (exit 2, one line naming
//! `service_resumed`, nothing written), so the same-day destruction stays refused; after
//! `service_resumed` the note goes in.

use caseledger_testkit::cli::{fails, ok, Fixture};

fn append(f: &Fixture, record: &str, kind: &str, on: &str) -> std::process::Output {
    f.append("lic-1", record, kind, on, Some("note.txt"))
}

#[test]
fn service_after_termination_is_refused_until_resumed() {
    // C-OLD: service terminated 2019-01-15, lawful to destroy from 2024-01-16.
    let f = Fixture::small();
    let before = f.snapshot();
    for kind in ["progress_note", "assessment", "fee_arrangement"] {
        let line = fails(&append(&f, "C-OLD", kind, "2025-06-01"));
        assert!(
            line.contains("C-OLD")
                && line.contains("2019-01-15")
                && line.contains(kind)
                && line.contains("append service_resumed first"),
            "{line}"
        );
        assert!(
            !line.contains("SECRET"),
            "payload content in an error: {line}"
        );
        assert_eq!(before, f.snapshot(), "a refused append wrote something");
    }
    // A records request (contact) after termination is accepted.
    ok(&append(&f, "C-OLD", "contact", "2025-06-01"));
    // ... and keeps the record five years from its own date: destruction is refused.
    let line = fails(&f.run(&[
        "destroy", "--ledger", "L", "--record", "C-OLD", "--author", "cust-1", "--reason", "RP-5",
    ]));
    assert!(line.contains("lawful from 2030-06-02"), "{line}");
    // service_resumed first, then the note is accepted.
    ok(&f.append("lic-1", "C-OLD", "service_resumed", "2025-06-01", None));
    ok(&append(&f, "C-OLD", "progress_note", "2025-06-01"));
    ok(&f.run(&["verify", "--ledger", "L"]));
}
