//! Every command's happy path on a small ledger built in a tempdir.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_testkit::cli::{bin, fails, ok, run_stdin, stderr, stdout, Fixture};
use caseledger_testkit::ORIGIN;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

#[test]
fn init_prints_the_verifier_key_and_makes_0600_keys() {
    let f = Fixture::empty();
    let out = ok(&f.run(&["init", "L", "--origin", ORIGIN]));
    let vkey = out.trim();
    assert!(vkey.starts_with(&format!("{ORIGIN}+")), "{vkey}");
    for k in [
        caseledger_testkit::keys_path!("ledger.pem"),
        caseledger_testkit::keys_path!("actors/admin.pem"),
    ] {
        let mode = fs::metadata(f.path(k)).expect(k).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{k}");
        assert!(fs::read_to_string(f.path(k))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    assert!(f.path("L/sled").is_dir() && f.path("L/checkpoints.log").is_file());
    // A second init into the same directory is refused and changes nothing.
    let line = fails(&f.run(&["init", "L", "--origin", ORIGIN]));
    assert!(line.contains("not empty"), "{line}");
    // --admin names the first admin.
    ok(&f.run(&[
        "init",
        "M",
        "--origin",
        "example.org/m",
        "--admin",
        "root-1",
    ]));
    assert!(caseledger_testkit::cli::keys_in(f.dir(), "example.org/m")
        .join("actors/root-1.pem")
        .is_file());
}

#[test]
fn verify_a_clean_ledger_with_the_key_and_a_trusted_checkpoint() {
    let f = Fixture::small();
    let v = f.run(&["verify", "--ledger", "L"]);
    let out = ok(&v);
    assert!(out.contains("entries: 11\n"), "{out}");
    // No key or checkpoint given: self-attested, never "intact".
    assert!(
        stderr(&v).contains("no findings (11 entries); self-attested: "),
        "{}",
        stderr(&v)
    );
    let vkey = stdout(&f.run(&["keys", "export", "--ledger", "L", "--format", "note"]));
    let cp = f.write(
        "cp.txt",
        stdout(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    let j = json(&ok(&f.run(&[
        "--json",
        "verify",
        "--ledger",
        "L",
        "--key",
        vkey.trim(),
        "--trusted",
        cp.to_str().unwrap(),
        "--save-state",
        "audit.state",
    ])));
    assert_eq!(j["intact"], true);
    assert_eq!(j["size"], 11);
    assert_eq!(j["checkpoint_key_self_attested"], false);
    assert_eq!(j["findings"].as_array().unwrap().len(), 0);
    // Verify from the saved state after more appends: only the new signatures are checked.
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    let j = json(&ok(&f.run(&[
        "--json",
        "verify",
        "--ledger",
        "L",
        "--key",
        vkey.trim(),
        "--from-state",
        "audit.state",
    ])));
    assert_eq!(
        (j["intact"].as_bool(), j["signatures_checked_from"].as_u64()),
        (Some(true), Some(11))
    );
    // CASELEDGER_LEDGER stands in for --ledger.
    let o = bin()
        .current_dir(f.dir())
        .env("CASELEDGER_LEDGER", f.ledger())
        .args(["verify"])
        .output()
        .unwrap();
    ok(&o);
    // The wrong key is a finding, not success.
    let other = stdout(&f.run(&["init", "M", "--origin", ORIGIN, "--keys", "mkeys"]));
    let o = f.run(&["verify", "--ledger", "L", "--key", other.trim()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn prove_inclusion_and_consistency_print_base64_json() {
    let f = Fixture::small();
    let inc = json(&ok(&f.run(&[
        "prove",
        "inclusion",
        "--ledger",
        "L",
        "--seq",
        "3",
    ])));
    assert_eq!(inc["leaf_index"], 3);
    assert_eq!(inc["tree_size"], 11);
    for h in inc["proof"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&inc["root"], &inc["leaf_hash"]])
    {
        assert_eq!(B64.decode(h.as_str().unwrap()).unwrap().len(), 32);
    }
    let inc = json(&ok(&f.run(&[
        "prove",
        "inclusion",
        "--ledger",
        "L",
        "--seq",
        "0",
        "--size",
        "4",
    ])));
    assert_eq!(inc["tree_size"], 4);
    let con = json(&ok(&f.run(&[
        "prove",
        "consistency",
        "--ledger",
        "L",
        "--from",
        "4",
    ])));
    assert_eq!(
        (con["size1"].as_u64(), con["size2"].as_u64()),
        (Some(4), Some(11))
    );
    assert!(!con["proof"].as_array().unwrap().is_empty());
    assert_eq!(con["root1"], inc["root"]);
    let line = fails(&f.run(&["prove", "inclusion", "--ledger", "L", "--seq", "11"]));
    assert!(line.contains("--seq 11"), "{line}");
}

#[test]
fn export_a_bundle_and_verify_it_offline() {
    let f = Fixture::small();
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let b = fs::read_to_string(f.path("b.json")).unwrap();
    assert!(
        !b.contains("C-OLD") && !b.contains("C-OPEN"),
        "a bundle must not reveal other records"
    );
    let v = f.run(&["verify", "--bundle", "b.json"]);
    assert!(ok(&v).contains("record: C-NEW\n"));
    assert!(
        stderr(&v).contains(
            "no findings (complete: entries 1..4 of record C-NEW up to seq 11); self-attested"
        ),
        "{}",
        stderr(&v)
    );
    let vkey = stdout(&f.run(&["keys", "export", "--ledger", "L"]));
    let j = json(&ok(&f.run(&[
        "--json",
        "verify",
        "--bundle",
        "b.json",
        "--key",
        vkey.trim(),
    ])));
    assert_eq!(j["intact"], true);
    assert_eq!(j["entries"], 4);
    // Refuses to overwrite; unknown record is an input error.
    fails(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let line = fails(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NONE", "--out", "c.json",
    ]));
    assert!(line.contains("C-NONE"), "{line}");
}

/// `caseledger export` writes exactly the library's `Ledger::export_bundle`, as JSON: a record
/// system embedding the store hands auditors the same bytes the CLI does.
#[test]
fn export_writes_the_library_bundle_byte_for_byte() {
    use caseledger_store::{Ledger, OpenOptions};
    let f = Fixture::small();
    for (record, out) in [("C-NEW", "new.json"), ("C-OLD", "old.json")] {
        ok(&f.run(&["export", "--ledger", "L", "--record", record, "--out", out]));
        let cli = fs::read(f.path(out)).unwrap();
        // The CLI appended the record's record_head (its last entry) and its commit was sealed:
        // the newest seal covers it. With the practice's content key, as the
        // CLI has it: the bundle carries the record's entry keys.
        let kek = caseledger_keyfile::read_kek(&f.keys()).unwrap();
        let ledger = Ledger::open(f.ledger(), OpenOptions::default().with_kek(kek)).unwrap();
        let rid = caseledger_core::RecordId::new(record).unwrap();
        let (_, note) = ledger.latest_checkpoint().unwrap().unwrap();
        let head = *ledger.record_entries(&rid).unwrap().last().unwrap();
        let lib = ledger.bundle_at(&rid, head, &note).unwrap();
        ledger.close().unwrap();
        assert_eq!(lib.to_json().unwrap(), cli, "{record}");
    }
}

#[test]
fn holds_block_destruction_and_refusals_name_the_lawful_date() {
    let f = Fixture::small();
    // Retention of C-NEW (terminated 2025-01-10) runs until 2030-01-10.
    let line = fails(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-NEW",
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
    ]));
    assert!(
        line.contains("retained until 2030-01-10") && line.contains("lawful from 2030-01-11"),
        "{line}"
    );
    // An open record cannot be destroyed.
    let line = fails(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-OPEN",
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
    ]));
    assert!(
        line.contains("not terminated") || line.contains("has not terminated"),
        "{line}"
    );
    // C-OLD (terminated 2019-01-15) is past retention, but a hold blocks it.
    ok(&f.run(&[
        "hold",
        "place",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--matter",
        "SC-2026-0001",
        "--author",
        "cust-1",
    ]));
    let before = f.snapshot();
    let line = fails(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
    ]));
    assert!(
        line.contains("hold") && line.contains("SC-2026-0001") && line.contains("2024-01-16"),
        "{line}"
    );
    assert_eq!(
        before,
        f.snapshot(),
        "a refused destruction wrote something"
    );
    // Only a custodian may place holds.
    fails(&f.run(&[
        "hold", "place", "--ledger", "L", "--record", "C-OLD", "--matter", "X-1", "--author",
        "lic-1",
    ]));
    ok(&f.run(&[
        "hold",
        "release",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--matter",
        "SC-2026-0001",
        "--author",
        "cust-1",
    ]));
    let out = ok(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        "C-OLD",
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
    ]));
    assert!(out.starts_with("seq "), "{out}");
    // Lawful destruction leaves a clean ledger; the bundle shows no payloads.
    ok(&f.run(&["verify", "--ledger", "L"]));
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-OLD", "--out", "old.json",
    ]));
    assert!(!fs::read_to_string(f.path("old.json"))
        .unwrap()
        .contains(&B64.encode("assessment text")));
    ok(&f.run(&["verify", "--bundle", "old.json"]));
    // Nothing may follow a destruction.
    fails(&f.append("lic-1", "C-OLD", "contact", "2025-01-01", None));
}

#[test]
fn archive_export_import_round_trips() {
    let f = Fixture::small();
    ok(&f.run(&["archive", "export", "--ledger", "L", "--out", "a.cla"]));
    let va = f.run(&["--json", "verify", "--archive", "a.cla"]);
    let va = json(&ok(&va));
    assert_eq!(va["clean"], true);
    // CASELEDGER_LEDGER does not get in the way of --archive.
    let o = bin()
        .current_dir(f.dir())
        .env("CASELEDGER_LEDGER", f.ledger())
        .args(["verify", "--archive", "a.cla"])
        .output()
        .unwrap();
    ok(&o);
    ok(&f.run(&["archive", "import", "a.cla", "L2"]));
    let v1 = json(&ok(&f.run(&["--json", "verify", "--ledger", "L"])));
    let v2 = json(&ok(&f.run(&["--json", "verify", "--ledger", "L2"])));
    assert_eq!(v1["root"], v2["root"]);
    assert_eq!(v1["root"], va["root"]);
    assert_eq!(v1["size"], v2["size"]);
    fails(&f.run(&["archive", "import", "a.cla", "L2"]));
    fails(&f.run(&["archive", "export", "--ledger", "L", "--out", "a.cla"]));
}

#[test]
fn report_retention_writes_signed_files_and_report_verify_checks_them() {
    let f = Fixture::small();
    let o = f.report(&[]);
    ok(&o);
    assert_eq!(
        fs::metadata(f.path("rk.pem")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for file in [
        "report.json",
        "report.json.sig",
        "report.json.ed25519",
        "report.html",
        "report.csv",
        "allowed_signers",
        "report-key.pem",
        "manifest.sha256",
        "manifest.sha256.sig",
        "manifest.sha256.ed25519",
    ] {
        assert!(f.path("rep").join(file).is_file(), "{file} missing");
    }
    // The directory verifies as a whole, with the key's fingerprint named.
    let v = f.run(&["report", "verify", "rep", "--key", "rep/report-key.pem"]);
    ok(&v);
    assert!(stderr(&v).contains("all 7 files match"), "{}", stderr(&v));
    assert_eq!(
        fs::read(f.path("rep/report.json.ed25519")).unwrap().len(),
        64
    );
    let report = fs::read_to_string(f.path("rep/report.json")).unwrap();
    let j = json(&report);
    assert_eq!(j["as_of"], caseledger_testkit::cli::today().as_str());
    assert_eq!(j["prefix"]["size"].as_u64(), Some(f.size()));
    assert_eq!(j["signer"]["identity"], caseledger_testkit::ORIGIN);
    assert_eq!(j["integrity"]["verdict"], "verified");
    assert_eq!(j["totals"]["records"], 3);
    for secret in ["SECRET", "assessment text", "improved sleep"] {
        for file in ["report.json", "report.html", "report.csv"] {
            let t = fs::read_to_string(f.path("rep").join(file)).unwrap();
            assert!(!t.contains(secret), "{file} carries clinical content");
        }
    }
    let status = |id: &str| {
        j["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("C-OLD"), "eligible");
    assert_eq!(status("C-NEW"), "retained");
    assert_eq!(status("C-OPEN"), "open");
    let v = f.run(&[
        "report",
        "verify",
        "rep/report.json",
        "--key",
        "rep/report-key.pem",
    ]);
    ok(&v);
    assert!(stderr(&v).contains("signatures verified"), "{}", stderr(&v));
    // The key in OpenSSH form works too; a different key does not.
    let ssh = stdout(&f.run(&["keys", "export", "--key", "rk.pem", "--format", "ssh"]));
    ok(&f.run(&["report", "verify", "rep/report.json", "--key", ssh.trim()]));
    ok(&f.run(&["keys", "generate", "--out", "other.pem"]));
    let o = f.run(&["report", "verify", "rep/report.json", "--key", "other.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // One changed byte and it fails (exit 1).
    let mut b = report.into_bytes();
    let i = b.iter().position(|&c| c == b'2').unwrap();
    b[i] = b'3';
    fs::write(f.path("rep/report.json"), b).unwrap();
    let o = f.run(&[
        "report",
        "verify",
        "rep/report.json",
        "--key",
        "rep/report-key.pem",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A second report into the same directory is refused.
    fails(&f.run(&[
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
    ]));
    // Without --generate-key a missing key is an error.
    let line = fails(&f.run(&[
        "report",
        "retention",
        "--ledger",
        "L",
        "--as-of",
        "2026-01-01",
        "--signing-key",
        "nokey.pem",
        "--out",
        "rep2",
    ]));
    assert!(line.contains("nokey.pem"), "{line}");
    assert!(!f.path("rep2").exists());
}

#[test]
fn keys_generate_and_export_never_print_a_private_key() {
    let f = Fixture::empty();
    ok(&f.run(&["keys", "generate", "--out", "k.pem"]));
    assert_eq!(
        fs::metadata(f.path("k.pem")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let line = fails(&f.run(&["keys", "generate", "--out", "k.pem"]));
    assert!(line.contains("k.pem") && line.contains("exists"), "{line}");
    let note = ok(&f.run(&[
        "keys",
        "export",
        "--key",
        "k.pem",
        "--format",
        "note",
        "--name",
        "witness.example",
    ]));
    assert!(note.starts_with("witness.example+"), "{note}");
    let pem = ok(&f.run(&["keys", "export", "--key", "k.pem", "--format", "pem"]));
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let ssh = ok(&f.run(&["keys", "export", "--key", "k.pem", "--format", "ssh"]));
    assert!(ssh.starts_with("ssh-ed25519 "), "{ssh}");
    let witness = ok(&f.run(&[
        "keys",
        "export",
        "--key",
        "k.pem",
        "--witness",
        "--name",
        "w1",
    ]));
    assert!(witness.starts_with("w1+"));
    for o in [&note, &pem, &ssh, &witness] {
        assert!(!o.contains("PRIVATE"));
    }
    // A public key file exports too.
    let p = f.write("k2.pub", pem.as_bytes());
    assert_eq!(
        ok(&f.run(&[
            "keys",
            "export",
            "--key",
            p.to_str().unwrap(),
            "--format",
            "ssh",
            "--name",
            "k"
        ])),
        ssh
    );
}

#[test]
fn completions_man_and_sample() {
    let f = Fixture::empty();
    for sh in ["bash", "zsh", "fish"] {
        assert!(ok(&f.run(&["completions", sh])).contains("caseledger"));
    }
    assert!(ok(&f.run(&["man"])).contains(".TH"));
    let a = ok(&f.run(&["sample", "--clients", "5", "--seed", "7"]));
    let b = ok(&f.run(&["sample", "--clients", "5", "--seed", "7"]));
    assert_eq!(a, b, "the sample is deterministic");
    ok(&f.run(&[
        "sample",
        "--clients",
        "5",
        "--seed",
        "7",
        "--out",
        "s.jsonl",
    ]));
    assert_eq!(fs::read_to_string(f.path("s.jsonl")).unwrap(), a);
    // It imports into a fresh ledger with no other step.
    ok(&f.run(&["init", "L", "--origin", ORIGIN]));
    let o = run_stdin(f.dir(), &["import", "--ledger", "L", "-"], a.as_bytes());
    ok(&o);
    ok(&f.run(&["checkpoint", "--ledger", "L"]));
    ok(&f.run(&["verify", "--ledger", "L"]));
}

#[test]
fn actor_add_revoke_and_key_rotation() {
    let f = Fixture::small();
    // A revoked actor can sign nothing more.
    ok(&f.run(&["actor", "revoke", "--ledger", "L", "--id", "lic-1"]));
    assert!(
        !f.path(caseledger_testkit::keys_path!("actors/lic-1.pem"))
            .exists(),
        "the revoked key is moved aside"
    );
    let line = fails(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    assert!(line.contains("lic-1"), "{line}");
    // Re-enrolment with a new key (rotation).
    ok(&f.run(&[
        "actor", "add", "--ledger", "L", "--id", "lic-1", "--role", "licensee",
    ]));
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    // An actor with an external public key (no key file written).
    ok(&f.run(&["keys", "generate", "--out", "ext.pem"]));
    ok(&f.run(&[
        "actor", "add", "--ledger", "L", "--id", "lic-ext", "--role", "licensee", "--pubkey",
        "ext.pub",
    ]));
    assert!(!f
        .path(caseledger_testkit::keys_path!("actors/lic-ext.pem"))
        .exists());
    // Enrolling twice is refused.
    fails(&f.run(&[
        "actor", "add", "--ledger", "L", "--id", "lic-ext", "--role", "licensee", "--pubkey",
        "ext.pub",
    ]));
    ok(&f.run(&["verify", "--ledger", "L"]));
}

#[test]
fn append_kinds_with_fields_and_stdin_payload() {
    let f = Fixture::small();
    let o = run_stdin(
        f.dir(),
        &[
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
            "2025-06-01",
            "--payload",
            "-",
        ],
        b"phone call",
    );
    let j = json(&ok(&o));
    let seq = j["seq"].as_u64().unwrap();
    ok(&f.run(&[
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
        "2025-06-02",
        "--amends",
        &seq.to_string(),
        "--payload-file",
        "note.txt",
    ]));
    // An amendment pointing at another record's entry is refused.
    fails(&f.run(&[
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
        "2025-06-02",
        "--amends",
        "4",
    ]));
    ok(&f.run(&["verify", "--ledger", "L"]));
}

#[test]
fn witness_cosigns_forward_only() {
    let f = Fixture::small();
    ok(&f.run(&["keys", "generate", "--out", "w1.pem"]));
    let wkey = ok(&f.run(&[
        "keys",
        "export",
        "--key",
        "w1.pem",
        "--witness",
        "--name",
        "w1",
    ]));
    let log_key = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write(
        "cp1.txt",
        ok(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    let c1 = ok(&f.run(&[
        "cosign",
        "--key",
        "w1.pem",
        "--name",
        "w1",
        "--state",
        "w.json",
        "--log-key",
        log_key.trim(),
        "cp1.txt",
    ]));
    assert!(
        c1.lines().filter(|l| l.starts_with('\u{2014}')).count() == 2,
        "{c1}"
    );
    f.write("cp1c.txt", c1.as_bytes());
    ok(&f.run(&["checkpoint", "--ledger", "L", "--add-cosigned", "cp1c.txt"]));
    // Grow the ledger; the witness needs a consistency proof.
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
    f.write(
        "cp2.txt",
        ok(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    let line = fails(&f.run(&[
        "cosign", "--key", "w1.pem", "--name", "w1", "--state", "w.json", "cp2.txt",
    ]));
    assert!(line.contains("consistency proof"), "{line}");
    f.write(
        "p.json",
        ok(&f.run(&["prove", "consistency", "--ledger", "L", "--from", "11"])).as_bytes(),
    );
    let c2 = ok(&f.run(&[
        "cosign", "--key", "w1.pem", "--name", "w1", "--state", "w.json", "--proof", "p.json",
        "cp2.txt",
    ]));
    f.write("cp2c.txt", c2.as_bytes());
    ok(&f.run(&["checkpoint", "--ledger", "L", "--add-cosigned", "cp2c.txt"]));
    // Going backwards is refused.
    let line = fails(&f.run(&[
        "cosign", "--key", "w1.pem", "--name", "w1", "--state", "w.json", "cp1.txt",
    ]));
    assert!(line.contains("backwards"), "{line}");
    // The same size again (with --ledger) is fine.
    ok(&f.run(&[
        "cosign", "--key", "w1.pem", "--name", "w1", "--state", "w.json", "--ledger", "L",
        "cp2.txt",
    ]));
    // A quorum the cosignatures do not meet is a finding.
    ok(&f.run(&["keys", "generate", "--out", "w2.pem"]));
    let w2 = ok(&f.run(&[
        "keys",
        "export",
        "--key",
        "w2.pem",
        "--witness",
        "--name",
        "w2",
    ]));
    let o = f.run(&[
        "verify",
        "--ledger",
        "L",
        "--witness",
        wkey.trim(),
        "--witness",
        w2.trim(),
        "--quorum",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("witness_quorum_not_met"),
        "{}",
        stdout(&o)
    );
    // The witness policy holds with the quorum.
    ok(&f.run(&[
        "verify",
        "--ledger",
        "L",
        "--witness",
        wkey.trim(),
        "--quorum",
        "1",
    ]));
}
