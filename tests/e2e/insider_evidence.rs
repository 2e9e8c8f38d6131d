//! Issue 12, attacks 5 and 6 through the binary: `verify --archive` is at least as strict
//! as `archive import` about payload frames, and the witness quorum counts distinct keys,
//! including cosignatures on a checkpoint the auditor supplies with `--trusted`.

use caseledger_core::archive::ArchiveItem;
use caseledger_testkit::cli::{fails, ok, stderr, stdout, Fixture};
use caseledger_testkit::tamper::{read_archive, write_archive};

fn payload_seqs(items: &[ArchiveItem]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|it| match it {
            ArchiveItem::Payload { seq, .. } => Some(seq.0),
            _ => None,
        })
        .collect()
}

/// Verifies the archive: exit 1 with the finding, no clinical content; import refuses it.
fn caught(f: &Fixture, archive: &str, finding: &str, dir: &str) {
    let o = f.run(&["verify", "--archive", archive]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(finding), "{}", stdout(&o));
    assert!(!stdout(&o).contains("SECRET") && !stderr(&o).contains("SECRET"));
    let line = fails(&f.run(&["archive", "import", archive, dir]));
    assert!(line.contains("payload frame"), "{line}");
    assert!(!f.path(dir).exists() || std::fs::read_dir(f.path(dir)).unwrap().next().is_none());
}

#[test]
fn archive_payload_frames_out_of_place_are_findings_as_import_refuses_them() {
    let f = Fixture::small();
    ok(&f.run(&["archive", "export", "--ledger", "L", "--out", "before.cla"]));
    // C-OLD (terminated 2019-01-15) is past retention: destroyed lawfully.
    ok(&f.run(&[
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
    ok(&f.run(&["archive", "export", "--ledger", "L", "--out", "after.cla"]));
    ok(&f.run(&["verify", "--archive", "after.cla"]));
    let (_, old) = read_archive(&f.path("before.cla"));
    let (origin, items) = read_archive(&f.path("after.cla"));
    let kept = payload_seqs(&items);
    let destroyed: Vec<ArchiveItem> = old
        .into_iter()
        .filter(|it| matches!(it, ArchiveItem::Payload { seq, .. } if !kept.contains(&seq.0)))
        .collect();
    let [ArchiveItem::Payload { seq: gone, .. }] = destroyed.as_slice() else {
        panic!("C-OLD had one payload: {destroyed:?}");
    };
    let last_entry = items
        .iter()
        .rposition(|it| matches!(it, ArchiveItem::Entry(_)))
        .unwrap();
    // Attack: the destroyed record's payload frame, kept from the old archive, appended
    // after the last entry.
    let mut tampered = items.clone();
    tampered.insert(last_entry + 1, destroyed[0].clone());
    write_archive(&f.path("resurrected.cla"), &origin, &tampered);
    caught(
        &f,
        "resurrected.cla",
        &format!("payload_after_destruction at seq {gone} (record C-OLD)"),
        "L2",
    );
    // Attack: an extra, falsified payload frame right after C-NEW's genuine one (seq 7).
    let at = items
        .iter()
        .position(|it| matches!(it, ArchiveItem::Payload { seq, .. } if seq.0 == 7))
        .unwrap();
    let mut tampered = items.clone();
    tampered.insert(
        at + 1,
        ArchiveItem::Payload {
            seq: caseledger_core::Seq(7),
            stored: [[0u8; 32].as_slice(), b"falsified SECRET note"].concat(),
        },
    );
    write_archive(&f.path("extra.cla"), &origin, &tampered);
    caught(
        &f,
        "extra.cla",
        "stray_payload at seq 7 (record C-NEW)",
        "L3",
    );
}

#[test]
fn the_witness_quorum_counts_distinct_keys_and_trusted_cosignatures() {
    let f = Fixture::small();
    // The ledger stores its newest seal without cosignatures; the auditor holds w1's
    // cosigned copy (`cp-cosigned.txt`).
    let witness = crate::insider::witnesses(&f);
    let [w1, w2] = [witness[0].as_str(), witness[1].as_str()];
    // Without the auditor's copy, the stored checkpoint has no cosignature.
    let o = f.run(&["verify", "--ledger", "L", "--witness", w1, "--quorum", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("witness_quorum_not_met"),
        "{}",
        stdout(&o)
    );
    // With it, the cosignature counts (it was ignored before: the stored note came first).
    ok(&f.run(&[
        "verify",
        "--ledger",
        "L",
        "--trusted",
        "cp-cosigned.txt",
        "--witness",
        w1,
        "--quorum",
        "1",
    ]));
    // One key given twice is one witness: a quorum of 2 can never be met by it.
    let line = fails(&f.run(&[
        "verify",
        "--ledger",
        "L",
        "--trusted",
        "cp-cosigned.txt",
        "--witness",
        w1,
        "--witness",
        w1,
        "--quorum",
        "2",
    ]));
    assert!(line.contains("distinct --witness keys (1)"), "{line}");
    // With a second witness in the policy, w1's one cosignature counts once: not met.
    let o = f.run(&[
        "verify",
        "--ledger",
        "L",
        "--trusted",
        "cp-cosigned.txt",
        "--witness",
        w1,
        "--witness",
        w1,
        "--witness",
        w2,
        "--quorum",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("witness_quorum_not_met"),
        "{}",
        stdout(&o)
    );
}
