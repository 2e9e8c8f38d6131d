//! Bad input of every kind: exit 2, exactly one line on stderr, nothing written (the ledger
//! verifies identically afterwards).

use caseledger_testkit::cli::{fails, ok, Fixture};
use std::fs;

/// Bad files: missing, a directory, empty, random bytes, a path under a file (unreadable).
const BAD_FILES: [&str; 5] = [
    "missing.txt",
    "adir",
    "empty.txt",
    "random.bin",
    "note.txt/under-a-file",
];

fn with_bad_files() -> Fixture {
    let f = Fixture::small();
    fs::create_dir(f.path("adir")).unwrap();
    f.write("empty.txt", b"");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    f.write("random.bin", &random);
    f.write("fake-report.json", b"{}");
    f.write(
        "cp.txt",
        caseledger_testkit::cli::stdout(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    ok(&f.run(&["keys", "generate", "--out", "w.pem"]));
    f
}

#[test]
fn every_file_argument_refuses_bad_files() {
    let f = with_bad_files();
    let vkey = caseledger_testkit::cli::stdout(&f.run(&["keys", "export", "--ledger", "L"]));
    let vkey = vkey.trim();
    let templates: Vec<Vec<&str>> = vec![
        vec!["import", "--ledger", "L", "{F}"],
        vec!["import", "--ledger", "{F}", "events.jsonl"],
        vec!["verify", "--ledger", "{F}"],
        vec!["verify", "--archive", "{F}"],
        vec!["verify", "--bundle", "{F}"],
        vec!["verify", "--ledger", "L", "--trusted", "{F}"],
        vec!["verify", "--ledger", "L", "--key", "{F}"],
        vec![
            "cosign",
            "--key",
            "{F}",
            "--state",
            "w.json",
            "--log-key",
            vkey,
            "cp.txt",
        ],
        vec![
            "cosign",
            "--key",
            "w.pem",
            "--state",
            "w.json",
            "--log-key",
            vkey,
            "{F}",
        ],
        vec![
            "report",
            "verify",
            "{F}",
            "--key",
            caseledger_testkit::keys_path!("ledger.pub"),
        ],
        vec!["report", "verify", "fake-report.json", "--key", "{F}"],
        vec!["keys", "export", "--key", "{F}"],
        vec![
            "actor", "add", "--ledger", "L", "--id", "lic-9", "--role", "licensee", "--pubkey",
            "{F}",
        ],
        vec!["archive", "import", "{F}", "L9"],
        vec!["checkpoint", "--ledger", "L", "--add-cosigned", "{F}"],
        vec![
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            "2026-01-01",
            "--signing-key",
            "{F}",
            "--out",
            "rep9",
        ],
        vec![
            "export", "--ledger", "{F}", "--record", "C-NEW", "--out", "b9.json",
        ],
        vec!["prove", "inclusion", "--ledger", "{F}", "--seq", "1"],
    ];
    let before = f.snapshot();
    for t in &templates {
        for bad in BAD_FILES {
            let args: Vec<&str> = t
                .iter()
                .map(|a| if *a == "{F}" { bad } else { a })
                .collect();
            let o = f.run(&args);
            let line = std::panic::catch_unwind(|| fails(&o))
                .unwrap_or_else(|_| panic!("caseledger {}", args.join(" ")));
            let shown = bad.split('/').next().unwrap_or(bad);
            assert!(
                line.contains(shown),
                "the error must name the file: caseledger {}\n{line}",
                args.join(" ")
            );
        }
        assert_eq!(
            before,
            f.snapshot(),
            "something was written by: caseledger {}",
            t.join(" ")
        );
    }
    // A payload file: random bytes are a valid (binary) payload, the rest are not.
    for bad in ["missing.txt", "adir", "empty.txt", "note.txt/under-a-file"] {
        let line = fails(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", Some(bad)));
        assert!(line.contains(bad.split('/').next().unwrap()), "{line}");
    }
    assert_eq!(before, f.snapshot());
}

#[test]
fn malformed_and_missing_arguments() {
    let f = Fixture::small();
    let before = f.snapshot();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "subcommand"),
        (vec!["actor"], "subcommand"),
        (vec!["bogus"], "bogus"),
        (vec!["init", "L3"], "--origin"),
        (vec!["init", "L3", "--origin", "has space"], "--origin"),
        (
            vec!["init", "L3", "--origin", "o", "--admin", "bad id"],
            "--admin",
        ),
        (vec!["append", "--ledger", "L"], "--author"),
        (
            vec![
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
                "2024-02-30",
            ],
            "--occurred-on",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-1",
                "--record",
                "C-OPEN",
                "--kind",
                "chat",
                "--occurred-on",
                "2024-02-03",
            ],
            "--kind",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-1",
                "--record",
                "C OPEN",
                "--kind",
                "contact",
                "--occurred-on",
                "2024-02-03",
            ],
            "--record",
        ),
        (
            vec![
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
                "2024-02-03",
                "--payload",
                "SECRET",
            ],
            "--payload",
        ),
        (
            vec![
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
                "2024-02-03",
                "--amends",
                "1",
            ],
            "--amends",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-1",
                "--record",
                "C-OPEN",
                "--kind",
                "amendment",
                "--occurred-on",
                "2024-02-03",
            ],
            "--amends",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-1",
                "--record",
                "C-OPEN",
                "--kind",
                "genesis",
                "--occurred-on",
                "2024-02-03",
            ],
            "genesis",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "nobody",
                "--record",
                "C-OPEN",
                "--kind",
                "contact",
                "--occurred-on",
                "2024-02-03",
            ],
            "nobody",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-1",
                "--record",
                "C-NONE",
                "--kind",
                "contact",
                "--occurred-on",
                "2024-02-03",
            ],
            "C-NONE",
        ),
        (
            vec![
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
                "2099-01-01",
            ],
            "future",
        ),
        (
            vec![
                "append",
                "--ledger",
                "L",
                "--author",
                "cust-1",
                "--record",
                "C-OPEN",
                "--kind",
                "contact",
                "--occurred-on",
                "2025-06-01",
            ],
            "cust-1",
        ),
        (
            vec![
                "actor", "add", "--ledger", "L", "--id", "x", "--role", "boss",
            ],
            "boss",
        ),
        (
            vec![
                "actor", "add", "--ledger", "L", "--id", "bad id", "--role", "licensee",
            ],
            "--id",
        ),
        (
            vec![
                "actor", "add", "--ledger", "L", "--id", "lic-1", "--role", "licensee",
            ],
            "lic-1",
        ),
        (
            vec![
                "actor", "add", "--ledger", "L", "--id", "x2", "--role", "licensee", "--author",
                "lic-1",
            ],
            "lic-1",
        ),
        (
            vec!["actor", "revoke", "--ledger", "L", "--id", "ghost"],
            "ghost",
        ),
        (
            vec!["prove", "inclusion", "--ledger", "L", "--seq", "-1"],
            "-1",
        ),
        (
            vec![
                "prove",
                "inclusion",
                "--ledger",
                "L",
                "--seq",
                "1",
                "--size",
                "99",
            ],
            "--size",
        ),
        (
            vec!["prove", "consistency", "--ledger", "L", "--from", "20"],
            "--from",
        ),
        (
            vec![
                "hold", "place", "--ledger", "L", "--record", "C-OLD", "--author", "cust-1",
            ],
            "--matter",
        ),
        (
            vec![
                "hold",
                "release",
                "--ledger",
                "L",
                "--record",
                "C-OLD",
                "--author",
                "cust-1",
                "--matter",
                "never-held",
            ],
            "never-held",
        ),
        (
            vec![
                "destroy", "--ledger", "L", "--record", "C-OLD", "--author", "cust-1",
            ],
            "--reason",
        ),
        (
            vec![
                "destroy", "--ledger", "L", "--record", "C-OLD", "--author", "lic-1", "--reason",
                "r",
            ],
            "lic-1",
        ),
        (vec!["verify"], "--ledger"),
        (
            vec!["verify", "--ledger", "L", "--archive", "x"],
            "--archive",
        ),
        (
            vec!["verify", "--ledger", "L", "--quorum", "1"],
            "--witness",
        ),
        // A bundle carries no cosignatures or tokens: outside-time flags are refused with
        // it, not ignored (a quorum asked for could not be enforced).
        (
            vec!["verify", "--bundle", "b.json", "--witness", "w+00000000+AA"],
            "cannot be used with '--witness",
        ),
        (
            vec![
                "verify",
                "--bundle",
                "b.json",
                "--witness",
                "w+00000000+AA",
                "--quorum",
                "1",
            ],
            "cannot be used with: --witness <VKEY> --quorum",
        ),
        (
            vec!["verify", "--bundle", "b.json", "--tsa-chain", "ca.pem"],
            "cannot be used with '--tsa-chain",
        ),
        (
            vec!["verify", "--bundle", "b.json", "--max-staleness", "7d"],
            "cannot be used with '--max-staleness",
        ),
        (
            vec!["verify", "--ledger", "L", "--key", "not+a+key"],
            "--key",
        ),
        (
            vec![
                "report",
                "retention",
                "--ledger",
                "L",
                "--as-of",
                "2026-13-01",
                "--signing-key",
                "k.pem",
                "--out",
                "r",
            ],
            "--as-of",
        ),
        (
            vec![
                "report",
                "retention",
                "--ledger",
                "L",
                "--as-of",
                "2026-01-01",
                "--out",
                "r",
            ],
            "--signing-key",
        ),
        (
            vec![
                "keys",
                "export",
                "--key",
                caseledger_testkit::keys_path!("ledger.pem"),
                "--format",
                "xml",
            ],
            "xml",
        ),
        (vec!["keys", "export"], "--key"),
        (
            vec![
                "keys",
                "generate",
                "--out",
                caseledger_testkit::keys_path!("ledger.pem"),
            ],
            "ledger.pem",
        ),
        (vec!["completions", "tcsh"], "tcsh"),
        (vec!["sample", "--clients", "many"], "--clients"),
        (
            vec![
                "cosign",
                "--key",
                caseledger_testkit::keys_path!("ledger.pem"),
                "--state",
                "w.json",
                "x",
            ],
            "x",
        ),
        (
            vec!["export", "--ledger", "L", "--record", "C-NEW"],
            "--out",
        ),
        (vec!["archive", "export", "--ledger", "L"], "--out"),
    ];
    for (args, needle) in &cases {
        let o = f.run(args);
        let line = std::panic::catch_unwind(|| fails(&o))
            .unwrap_or_else(|_| panic!("caseledger {}", args.join(" ")));
        assert!(
            line.contains(needle),
            "caseledger {}: the error should mention {needle:?}:\n{line}",
            args.join(" ")
        );
        assert!(!line.contains("SECRET"), "{line}");
    }
    assert_eq!(before, f.snapshot(), "a refused command wrote something");
}

#[test]
fn private_keys_readable_by_others_are_refused() {
    let f = Fixture::small();
    ok(&f.run(&["keys", "generate", "--out", "rk.pem"]));
    let before = f.snapshot();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            caseledger_testkit::keys_path!("actors/lic-1.pem"),
            vec![
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
                "2025-06-01",
            ],
        ),
        (
            caseledger_testkit::keys_path!("actors/lic-1.pem"),
            vec!["import", "--ledger", "L", "events.jsonl"],
        ),
        (
            caseledger_testkit::keys_path!("actors/admin.pem"),
            vec![
                "actor", "add", "--ledger", "L", "--id", "lic-2", "--role", "licensee",
            ],
        ),
        (
            caseledger_testkit::keys_path!("actors/cust-1.pem"),
            vec![
                "hold", "place", "--ledger", "L", "--record", "C-OLD", "--matter", "M-1",
                "--author", "cust-1",
            ],
        ),
        (
            caseledger_testkit::keys_path!("actors/cust-1.pem"),
            vec![
                "destroy", "--ledger", "L", "--record", "C-OLD", "--author", "cust-1", "--reason",
                "r",
            ],
        ),
        // The ledger key seals every append: an append reads it.
        (
            caseledger_testkit::keys_path!("ledger.pem"),
            vec![
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
                "2025-06-01",
            ],
        ),
        (
            "rk.pem",
            vec![
                "report",
                "retention",
                "--ledger",
                "L",
                "--as-of",
                "2026-01-01",
                "--signing-key",
                "rk.pem",
                "--out",
                "rep",
            ],
        ),
        ("rk.pem", vec!["keys", "export", "--key", "rk.pem"]),
        (
            "rk.pem",
            vec![
                "cosign",
                "--key",
                "rk.pem",
                "--state",
                "w.json",
                "--log-key",
                "x+1+x",
                "events.jsonl",
            ],
        ),
    ];
    for (key, args) in &cases {
        for mode in [0o644, 0o640, 0o604] {
            f.chmod(&f.path(key), mode);
            let line = fails(&f.run(args));
            f.chmod(&f.path(key), 0o600);
            let name = key.rsplit('/').next().unwrap();
            assert!(
                line.contains(name) && line.contains(&format!("{mode:04o}")),
                "caseledger {}: {line}",
                args.join(" ")
            );
        }
    }
    // The snapshot lists modes: restore happened, and nothing else changed.
    assert_eq!(before, f.snapshot());
}

#[test]
fn json_mode_errors_are_json_on_stdout() {
    let f = Fixture::small();
    for args in [
        vec![
            "--json",
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
            "2024-02-30",
        ],
        vec!["--json", "verify", "--bundle", "missing.json"],
        vec!["--json", "import", "--ledger", "L", "missing.jsonl"],
        vec![
            "--json", "destroy", "--ledger", "L", "--record", "C-NEW", "--author", "cust-1",
            "--reason", "r",
        ],
    ] {
        let o = f.run(&args);
        let line = fails(&o);
        // stdout is the error as one JSON document, the same message as the stderr line.
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("caseledger {}: stdout not JSON: {e}", args.join(" ")));
        assert_eq!(
            v["error"]["message"].as_str(),
            line.strip_prefix("caseledger: error: "),
            "caseledger {}",
            args.join(" ")
        );
        assert_eq!(v["error"]["exit_code"], 2);
    }
}
