//! The insider campaign (issue 12): one table, one row per attack. Each row edits the real
//! stored bytes or files of the small ledger (`Fixture::small`, seqs below) as an insider
//! would — the sled trees through `caseledger_testkit::tamper`, `checkpoints.log`, the
//! `keystore` file, archive and bundle files — then runs the `caseledger` binary as the
//! auditor would (`verify --ledger/--archive/--bundle`, `--key`, `--trusted`, `--witness
//! --quorum`), and states what that run must give: a finding of a named kind at a seq
//! (exit 1), a refusal (exit 2, nothing signed), or no finding (exit 0) on clean ledgers.
//!
//! Rows marked `Missed` are limits stated as tests: an insider who holds the ledger key
//! re-seals a rewritten history, and a run anchored only by the ledger key passes it; the
//! row after each shows the outside evidence (a checkpoint the auditor kept) that catches it.
//! docs/THREAT-MODEL.md names these rows. Many attacks have detailed tests elsewhere (the
//! verifier's tamper suite, `crates/verify/tests/tamper.rs`; the e2e files `seals`,
//! `bundles`, `insider_evidence`, `tamper`); this table is the one place that reads
//! "attack → finding", one row per attack or class. Run one row with
//! `INSIDER_ROW=<name> cargo test -p caseledger-tests --test e2e -- insider`.

use caseledger_core::archive::ArchiveItem;
use caseledger_core::bundle::Bundle;
use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::event::{Entry, Event, EventKind, ShortText};
use caseledger_core::layout::{parse_checkpoints_log, record_index_key, TREE_RECORDS};
use caseledger_core::note::NoteSigner;
use caseledger_core::{ActorId, Date, Hash, RecordId, Timestamp};
use caseledger_testkit::cli::{caseledger_bin, ok, stderr, stdout, Fixture};
use caseledger_testkit::practice::root;
use caseledger_testkit::tamper::{self, read_archive, write_archive, Item};
use caseledger_testkit::ORIGIN;
use std::fs;

// The small ledger: 0 genesis, 1 lic-1, 2 cust-1 (each its own seal: sizes 1, 2, 3), the
// import 3..=9 (one seal: size 10), C-OPEN's note 10 (seal 11).
/// C-OLD's assessment (client C-OLD's text), terminated 2019: lawfully destroyable.
const OLD_ASSESSMENT: u64 = 4;
/// C-NEW's progress note (encrypted payload), terminated 2025-01-10: lawful from 2030.
const NEW_NOTE: u64 = 7;
/// The first entry after the small ledger (size 11).
const NEXT: u64 = 11;

/// What the auditor's run must give.
enum Expect {
    /// Exit 0 and no finding: a clean ledger (or an attack that failed, the row says how).
    Clean,
    /// Exit 0 and no finding although the history was rewritten: what the evidence given
    /// to this run cannot catch (a re-sealed rewrite, checked only with the ledger key).
    Missed,
    /// Exit 1, with at least these findings `(kind, seq)` (seq `None`: ledger-wide).
    Findings(&'static [(&'static str, Option<u64>)]),
    /// Exit 2 with one error line containing this text, and nothing written by the command
    /// (`checkpoints.log`, the files of the working directory and the ledger's verdict
    /// unchanged): the attack is refused before anything is signed.
    Refused(&'static str),
}
use Expect::{Clean, Findings, Missed, Refused};

/// One attack: its name, the tampering (returns the command the auditor runs, without
/// `--json`), and what that command must give.
type Tamper = fn(&Fixture) -> Vec<String>;

#[rustfmt::skip]
const ATTACKS: &[(&str, Tamper, Expect)] = &[
    // --- Clean ledgers: 0 findings. ---
    ("clean_small_ledger_with_the_ledger_key", verify_key, Clean),
    ("clean_lawful_destruction", |f| { destroy(f, "C-OLD"); verify_key(f) }, Clean),
    ("clean_reopened_record", |f| { reopen_new(f); verify_key(f) }, Clean),
    ("clean_key_rotation", |f| { rotate_lic1(f); verify_key(f) }, Clean),
    ("clean_crash_mid_commit", |f| { crash_mid_import(f); s(&["verify", "--ledger", "L", "--trusted", "receipts.jsonl"]) }, Clean),
    ("clean_archive_and_bundle", |f| { destroy(f, "C-OLD"); archive(f, "a.cla"); ok(&f.run(&["verify", "--archive", "a.cla"])); export_new(f); s(&["verify", "--bundle", "b.json"]) }, Clean),

    // --- Attack 1: keyless deletion / reorder / backdating, history re-chained. ---
    ("1_keyless_delete_rechain_empty_checkpoints", |f| { tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); keep_seals_upto(f, 0); verify_key(f) }, Findings(&[("unsealed_tail", Some(0))])),
    ("1_keyless_delete_rechain_keep_earlier_seals", |f| { tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); keep_seals_upto(f, 5); verify_key(f) }, Findings(&[("unsealed_tail", Some(3))])),
    ("1_keyless_delete_rechain_against_a_receipt", |f| { hold_checkpoint(f); tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); keep_seals_upto(f, 0); verify_held(f) }, Findings(&[("truncation", Some(10)), ("unsealed_tail", Some(0))])),
    ("1_keyless_delete_rechain_incremental_run", |f| { ok(&f.run(&["verify", "--ledger", "L", "--save-state", "audit.state"])); tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); keep_seals_upto(f, 5); s(&["verify", "--ledger", "L", "--key", "ledger.vkey", "--from-state", "audit.state"]) }, Findings(&[("unsealed_tail", Some(3))])),
    ("1_keyless_reorder_rechain", |f| { tamper::rewrite(&f.ledger(), |i| i.swap(4, 5)); keep_seals_upto(f, 4); verify_key(f) }, Findings(&[("unsealed_tail", Some(3))])),
    ("1_keyless_backdate_rechain", |f| { tamper::rewrite(&f.ledger(), |i| i[10].entry.recorded_at = day("2021-06-01")); keep_seals_upto(f, 10); verify_key(f) }, Findings(&[("unsealed_tail", Some(10)), ("recorded_at_regressed", Some(10))])),
    ("1_archive_backdated_verify_archive", |f| { backdated_archive(f); s(&["verify", "--archive", "edited.cla"]) }, Findings(&[("unsealed_tail", Some(0)), ("recorded_at_regressed", Some(10))])),
    ("1_archive_backdated_imported", |f| { backdated_archive(f); s(&["archive", "import", "edited.cla", "L2"]) }, Refused("archive refused at seq 10: refused: recorded_at 2021-06-01")),
    ("1_revoked_key_note_moved_before_revocation", |f| { revoked_note_before_revocation(f); keep_seals_upto(f, NEXT); verify_key(f) }, Findings(&[("unsealed_tail", Some(NEXT))])),

    // --- Attack 2: export does not trust the `records` index. ---
    // No index row per entry any more: what lists a record's entries is its state row's
    // chain start, rolled back here to before the hold; the export reads entries and
    // refuses (its record_head disagrees with the row), writing no bundle.
    ("2_state_row_rolled_back_before_hold_export_refused", |f| { state_row_rolled_back_before_hold(f); s(&["export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json"]) }, Refused("record_head")),
    ("2_index_row_added_bundle_holds_no_other_client", |f| { index_row_added(f); s(&["verify", "--bundle", "b.json"]) }, Clean),
    ("2_hold_entry_cut_from_the_bundle_file", |f| { export_new(f); cut_from_bundle(f, NEXT); s(&["verify", "--bundle", "cut.json"]) }, Findings(&[("bundle_incomplete", Some(NEXT))])),
    // A revocation cut from the bundle's administration entries: the next entry's
    // `prev_registry` (format 3) names it, so the bundle cannot hide it.
    ("2_revocation_cut_from_the_bundle_file", |f| { ok(&f.run(&["actor", "revoke", "--ledger", "L", "--id", "lic-1"])); export_new(f); cut_admin_from_bundle(f, NEXT); s(&["verify", "--bundle", "cut.json"]) }, Findings(&[("prev_registry_mismatch", Some(NEXT + 1))])),

    // --- Attack 3 and other derived state the store keeps in sled. ---
    ("3_flipped_compact_range_refused_nothing_signed", |f| { flip_compact_range(f); s(&["append", "--ledger", "L", "--author", "lic-1", "--record", "C-OPEN", "--kind", "contact", "--occurred-on", "2025-06-01"]) }, Refused("meta.compact_range disagrees")),
    // A destruction is judged only against a state row that equals the state rebuilt from
    // the record's own entries: an edited row (hold cleared) is refused, nothing erased.
    ("3_state_row_edited_destroy_under_hold_refused", |f| { export_new(f); state_row_made_destroyable(f, "C-NEW"); s(&["destroy", "--ledger", "L", "--record", "C-NEW", "--author", "cust-1", "--reason", "policy R-7"]) }, Refused("record state row of C-NEW disagrees with its entries")),
    // The registry is rebuilt at open from the sealed chain of `prev_registry` pointers
    // (format 3): a registry row planted in `meta` (format 2 kept one, and an old copy put
    // back let a revoked author append) is never read, and the revocation entry itself,
    // edited in sled, is refused at open (not under the newest seal's root).
    ("3_registry_row_planted_revoked_author_refused", |f| { revoked_author_restored(f); registry_row_planted(f); s(&["append", "--ledger", "L", "--author", "lic-1", "--record", "C-OPEN", "--kind", "contact", "--occurred-on", "2025-06-01"]) }, Refused("author lic-1 was revoked")),
    ("3_revocation_entry_edited_revoked_author_refused", |f| { revoked_author_restored(f); revocation_entry_edited(f); s(&["append", "--ledger", "L", "--author", "lic-1", "--record", "C-OPEN", "--kind", "contact", "--occurred-on", "2025-06-01"]) }, Refused("the registry chain is broken at seq 11")),

    // --- Issue 14: nothing after `ledger_closed` (the store refuses; a forged, re-sealed
    // entry after it is a finding). ---
    ("close_then_append_refused", |f| { close(f); s(&["append", "--ledger", "L", "--author", "lic-1", "--record", "C-OPEN", "--kind", "contact", "--occurred-on", "2025-06-01"]) }, Refused("the ledger was closed at seq 11")),
    ("key_holder_entry_after_close_resealed", |f| { close(f); note_after_close(f); reseal(f); verify_key(f) }, Findings(&[("entry_after_close", Some(12))])),

    // --- Attack 4: clock set forward to destroy early, then set back. ---
    ("4_clock_forward_destroy_then_corrected", |f| { forward_clock_destruction(f); verify_key(f) }, Findings(&[("destruction_under_forward_clock", Some(NEXT)), ("clock_ahead", Some(NEXT))])),

    // --- Attack 5: archive payload frames out of place. ---
    ("5_archive_extra_falsified_payload_frame", |f| { archive_extra_frame(f); s(&["verify", "--archive", "edited.cla"]) }, Findings(&[("stray_payload", Some(NEW_NOTE))])),
    ("5_archive_frames_after_destruction", |f| { archive_resurrected_frame(f); s(&["verify", "--archive", "edited.cla"]) }, Findings(&[("payload_after_destruction", Some(OLD_ASSESSMENT))])),

    // --- Attack 6: witness quorum. ---
    ("6_one_witness_listed_twice_quorum_2", |f| { let w = witnesses(f); s(&["verify", "--ledger", "L", "--trusted", "cp-cosigned.txt", "--witness", &w[0], "--witness", &w[0], "--quorum", "2"]) }, Refused("distinct --witness keys (1)")),
    ("6_one_witness_twice_plus_another_quorum_2", |f| { let w = witnesses(f); s(&["verify", "--ledger", "L", "--trusted", "cp-cosigned.txt", "--witness", &w[0], "--witness", &w[0], "--witness", &w[1], "--quorum", "2"]) }, Findings(&[("witness_quorum_not_met", None)])),
    ("6_cosigned_trusted_checkpoint_counts", |f| { let w = witnesses(f); s(&["verify", "--ledger", "L", "--trusted", "cp-cosigned.txt", "--witness", &w[0], "--quorum", "1"]) }, Clean),
    ("6_stored_checkpoint_without_cosignature", |f| { let w = witnesses(f); s(&["verify", "--ledger", "L", "--witness", &w[0], "--quorum", "1"]) }, Findings(&[("witness_quorum_not_met", None)])),

    // --- Without any key: a whole history forged with fresh keys (genesis too). Only the
    // auditor's own copy of the ledger key tells it apart. ---
    ("keyless_full_rewrite_with_fresh_keys_self_attested", |f| { forge_with_fresh_keys(f); s(&["verify", "--ledger", "L"]) }, Missed),
    ("keyless_full_rewrite_with_fresh_keys_with_the_ledger_key", |f| { forge_with_fresh_keys(f); verify_key(f) }, Findings(&[("ledger_key_not_trusted", Some(0))])),

    // --- The insider with the ledger key: re-sealed rewrites need outside evidence. ---
    ("key_holder_delete_rechain_reseal_with_only_the_ledger_key", |f| { tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); reseal(f); verify_key(f) }, Missed),
    ("key_holder_delete_rechain_reseal_against_a_receipt", |f| { hold_checkpoint(f); tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); reseal(f); verify_held(f) }, Findings(&[("truncation", Some(10))])),
    ("key_holder_delete_rechain_reseal_against_saved_state", |f| { ok(&f.run(&["verify", "--ledger", "L", "--save-state", "audit.state"])); tamper::rewrite(&f.ledger(), |i| { i.remove(5); }); reseal(f); s(&["verify", "--ledger", "L", "--key", "ledger.vkey", "--from-state", "audit.state"]) }, Findings(&[("truncation", Some(10))])),
    ("key_holder_revoked_note_before_revocation_with_only_the_ledger_key", |f| { revoked_note_before_revocation(f); reseal(f); verify_key(f) }, Missed),
    ("key_holder_revoked_note_before_revocation_against_a_receipt", |f| { revoked_note_before_revocation(f); reseal(f); verify_held(f) }, Findings(&[("root_mismatch", None)])),
    ("key_holder_revoked_note_before_revocation_against_saved_state", |f| { revoked_note(f, 11); reseal(f); s(&["verify", "--ledger", "L", "--key", "ledger.vkey", "--from-state", "audit.state"]) }, Findings(&[("root_mismatch", None)])),
    ("key_holder_note_by_revoked_key_appended_resealed", |f| { revoked_note(f, 12); reseal(f); verify_key(f) }, Findings(&[("unauthorized_author", Some(12))])),
    ("key_holder_unlawful_destruction_resealed", |f| { forged_destruction(f); reseal(f); verify_key(f) }, Findings(&[("unlawful_destruction", Some(NEXT))])),

    // --- The v1 tamper suite, one row per class (crates/verify/tests/tamper.rs has every case). ---
    ("v1_payload_byte_flip", |f| { tamper::edit_raw(&f.ledger(), "payloads", &NEW_NOTE.to_be_bytes(), |v| v.map(flip_last)); verify_key(f) }, Findings(&[("commitment_mismatch", Some(NEW_NOTE))])),
    ("v1_payload_removed_without_destruction", |f| { tamper::edit_raw(&f.ledger(), "payloads", &NEW_NOTE.to_be_bytes(), |_| None); verify_key(f) }, Findings(&[("payload_missing", Some(NEW_NOTE))])),
    ("v1_entry_byte_flip", |f| { tamper::edit_raw(&f.ledger(), "entries", &5u64.to_be_bytes(), |v| v.map(flip_middle)); verify_key(f) }, Findings(&[("chain_break", Some(6))])),
    ("v1_entry_deleted_not_rechained", |f| { tamper::edit_raw(&f.ledger(), "entries", &5u64.to_be_bytes(), |_| None); verify_key(f) }, Findings(&[("seq_gap", Some(5)), ("chain_break", Some(6))])),
    ("v1_entries_swapped_not_rechained", |f| { swap_raw(f, 4, 5); verify_key(f) }, Findings(&[("seq_mismatch", Some(4)), ("seq_mismatch", Some(5))])),
    ("v1_replayed_event", |f| { tamper::rewrite(&f.ledger(), |i| { let mut e = i[7].clone(); e.entry.recorded_at = i[10].entry.recorded_at; i.push(e); }); verify_key(f) }, Findings(&[("replayed_event", Some(NEXT))])),
    ("v1_truncation_stored_seal", |f| { drop_last(f); verify_key(f) }, Findings(&[("truncation", Some(10))])),
    ("v1_rollback_to_an_old_copy", |f| { rollback(f); verify_held(f) }, Findings(&[("truncation", Some(NEXT))])),
    ("v1_split_view", |f| { forged_seal(f, 10, Hash([9; 32])); verify_key(f) }, Findings(&[("split_view", None)])),
    ("v1_seal_signature_flip_in_the_log", |f| { flipped_seal_in_log(f); verify_key(f) }, Findings(&[("checkpoint_bad_signature", None)])),
    ("v1_key_store_slot_erased_without_destruction", |f| { tamper::erase_key_slots(&f.ledger(), "C-NEW"); verify_key(f) }, Findings(&[("content_key_erased", Some(NEW_NOTE))])),
];

#[test]
fn insider_campaign() {
    let only = std::env::var("INSIDER_ROW").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, tamper_fn, expect) in ATTACKS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        ran += 1;
        // A panic in a row's tampering is that row's failure; the other rows still run.
        match std::panic::catch_unwind(|| run_row(*tamper_fn, expect)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{name}: {e}")),
            Err(_) => failures.push(format!("{name}: panicked (message above)")),
        }
    }
    assert!(ran > 0, "no row named {only:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn run_row(tamper_fn: Tamper, expect: &Expect) -> Result<(), String> {
    let f = Fixture::small();
    // The auditor's copy of the ledger's public key, taken before the attack.
    f.write(
        "ledger.vkey",
        ok(&f.run(&["keys", "export", "--ledger", "L"])).as_bytes(),
    );
    let args = tamper_fn(&f);
    // The insider leaves the files as private as the ledger's user has them (a test file
    // written with the umask would otherwise be refused for another reason).
    caseledger_store::modes::tighten(&f.ledger()).map_err(|e| format!("modes: {e}"))?;
    let before = matches!(expect, Refused(_)).then(|| f.snapshot());
    let mut full = vec!["--json"];
    full.extend(args.iter().map(String::as_str));
    let o = f.run(&full);
    let (out, err) = (stdout(&o), stderr(&o));
    let show = || format!("exit {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status.code());
    if std::env::var_os("INSIDER_SHOW").is_some() {
        eprintln!(
            "caseledger {}\n  exit {:?}: {}",
            args.join(" "),
            o.status.code(),
            err.trim_end()
        );
    }
    if out.contains("SECRET") || err.contains("SECRET") {
        return Err(format!("clinical content in the output\n{}", show()));
    }
    if let Refused(text) = expect {
        let lines: Vec<&str> = err.lines().collect();
        if o.status.code() != Some(2) || lines.len() != 1 || !lines[0].contains(text) {
            return Err(format!(
                "expected exit 2 with one line naming {text:?}\n{}",
                show()
            ));
        }
        if before != Some(f.snapshot()) {
            return Err("refused, but something was written (the log, a file, the verdict)".into());
        }
        return Ok(());
    }
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("verify --json: {e}\n{}", show()))?;
    let got: Vec<(String, Option<u64>)> = v["findings"]
        .as_array()
        .ok_or_else(|| format!("no findings array\n{}", show()))?
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("?").to_owned(),
                f["seq"].as_u64(),
            )
        })
        .collect();
    match expect {
        Clean | Missed => {
            if o.status.code() != Some(0) || !got.is_empty() {
                return Err(format!("expected exit 0 and no finding\n{}", show()));
            }
        }
        Findings(want) => {
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, s)| !got.iter().any(|(gk, gs)| gk == k && gs == s))
                .collect();
            if o.status.code() != Some(1) || !missing.is_empty() {
                return Err(format!(
                    "expected exit 1 with {want:?}, missing {missing:?}; got {got:?}\n{}",
                    show()
                ));
            }
        }
        Refused(_) => unreachable!("handled above"),
    }
    Ok(())
}

// --- The auditor's commands. ---

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// `verify --ledger L --key ledger.vkey`: anchored by the ledger key only (the auditor's
/// copy of it, taken before the attack).
fn verify_key(_: &Fixture) -> Vec<String> {
    s(&["verify", "--ledger", "L", "--key", "ledger.vkey"])
}

/// `verify --ledger L --trusted held.txt`: the checkpoint the auditor (or the record system,
/// as a receipt) kept from before the attack ([`hold_checkpoint`]).
fn verify_held(_: &Fixture) -> Vec<String> {
    s(&["verify", "--ledger", "L", "--trusted", "held.txt"])
}

/// The auditor keeps the newest seal (`caseledger checkpoint`) before the attack.
fn hold_checkpoint(f: &Fixture) {
    f.write(
        "held.txt",
        ok(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
}

// --- Lawful use. ---

fn destroy(f: &Fixture, record: &str) {
    ok(&f.run(&[
        "destroy",
        "--ledger",
        "L",
        "--record",
        record,
        "--author",
        "cust-1",
        "--reason",
        "policy R-7",
    ]));
}

fn append(f: &Fixture, author: &str, record: &str, kind: &str) {
    ok(&f.append(author, record, kind, "2026-01-05", None));
}

/// C-NEW (terminated) resumed, then served again.
fn reopen_new(f: &Fixture) {
    append(f, "lic-1", "C-NEW", "service_resumed");
    append(f, "lic-1", "C-NEW", "contact");
}

/// lic-1's key revoked and a new one enrolled; lic-1 signs with the new key.
fn rotate_lic1(f: &Fixture) {
    ok(&f.run(&["actor", "revoke", "--ledger", "L", "--id", "lic-1"]));
    ok(&f.run(&[
        "actor", "add", "--ledger", "L", "--id", "lic-1", "--role", "licensee",
    ]));
    append(f, "lic-1", "C-OPEN", "contact");
}

fn archive(f: &Fixture, name: &str) {
    ok(&f.run(&["archive", "export", "--ledger", "L", "--out", name]));
}

pub(crate) fn export_new(f: &Fixture) {
    ok(&f.run(&[
        "hold", "place", "--ledger", "L", "--record", "C-NEW", "--author", "cust-1", "--matter",
        "SC-1",
    ]));
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
}

/// `import` of 6,000 events (about 3 MB of entries) killed (SIGKILL) once its writes to the
/// ledger's files pass 256 KiB, so the kill lands while it commits; the record system kept
/// the receipt of the append before it.
fn crash_mid_import(f: &Fixture) {
    let lines: String = (0..6000)
        .map(|i| {
            format!("{{\"record\":\"C-OPEN\",\"kind\":\"contact\",\"occurred_on\":\"2025-06-01\",\"author\":\"lic-1\",\"payload\":\"contact {i}\"}}\n")
        })
        .collect();
    f.write("big.jsonl", lines.as_bytes());
    ok(&f.run(&[
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
        "--receipts",
        "receipts.jsonl",
    ]));
    let written = || -> u64 {
        caseledger_testkit::files_under(&f.ledger())
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    };
    let before = written();
    let mut child = std::process::Command::new(caseledger_bin())
        .args(["import", "--ledger", "L", "big.jsonl"])
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .env_remove("CASELEDGER_LEDGER")
        .env_remove("CASELEDGER_KEYS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn import");
    // Bounded (10 minutes): the import checks the whole file, then commits.
    for _ in 0..600_000 {
        if written() > before + 256 * 1024 || child.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the import ended before the kill: the row would not test a crash"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

// --- Attack 1 ---

/// Removes every stored seal and puts back those of size `<= n` (the insider without the
/// ledger key keeps the seals the edit did not break).
fn keep_seals_upto(f: &Fixture, n: u64) {
    let dir = f.ledger();
    let notes =
        parse_checkpoints_log(&fs::read(tamper::log_path(&dir)).expect("log")).expect("log");
    tamper::clear_checkpoints(&dir);
    fs::write(tamper::log_path(&dir), b"").expect("empty log");
    for note in notes.iter().filter(|n2| note_size(n2) <= n) {
        tamper::add_checkpoint(&dir, note);
    }
}

fn note_size(note: &str) -> u64 {
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a checkpoint size")
}

fn day(d: &str) -> Timestamp {
    Timestamp::start_of(Date::parse(d).expect("date")).expect("timestamp")
}

/// An archive exported, C-OPEN's note (seq 10) backdated to 2021 and the entries re-chained
/// in the file, the seals after it left out: `edited.cla`.
fn backdated_archive(f: &Fixture) {
    archive(f, "a.cla");
    let (origin, frames) = read_archive(&f.path("a.cla"));
    let mut items: Vec<Item> = frames
        .iter()
        .filter_map(|fr| match fr {
            ArchiveItem::Entry(b) => Some(Item {
                entry: Entry::from_bytes(b).expect("entry"),
                payload: None,
            }),
            _ => None,
        })
        .collect();
    items[10].entry.recorded_at = day("2021-06-01");
    tamper::rechain(&mut items);
    let mut entries = items.into_iter();
    let edited: Vec<ArchiveItem> = frames
        .into_iter()
        .filter(|fr| !matches!(fr, ArchiveItem::Checkpoint(n) if note_size(n) > 10))
        .map(|fr| match fr {
            ArchiveItem::Entry(_) => ArchiveItem::Entry(
                entries
                    .next()
                    .expect("entry")
                    .entry
                    .to_bytes()
                    .expect("bytes"),
            ),
            other => other,
        })
        .collect();
    write_archive(&f.path("edited.cla"), &origin, &edited);
}

/// lic-1's key is revoked (seq 11); the insider holding the revoked key file signs a note
/// and moves it before the revocation (seq 11, the revocation now 12), re-chained.
fn revoked_note_before_revocation(f: &Fixture) {
    revoked_note(f, 11);
}

/// lic-1's key is revoked (seq 11), the auditor keeps that seal and a resume state; a note
/// signed with the revoked key file is inserted at `at` and the entries re-chained.
fn revoked_note(f: &Fixture, at: usize) {
    ok(&f.run(&["actor", "revoke", "--ledger", "L", "--id", "lic-1"]));
    hold_checkpoint(f);
    ok(&f.run(&["verify", "--ledger", "L", "--save-state", "audit.state"]));
    let key = caseledger_keyfile::read(&f.keys().join("actors/lic-1.revoked-11.pem"))
        .expect("revoked key");
    let ev = Event::new(
        Some(rid("C-OPEN")),
        aid("lic-1"),
        EventKind::Contact,
        date("2025-06-01"),
    )
    .sign(ORIGIN, &key)
    .expect("sign");
    tamper::rewrite(&f.ledger(), |items| {
        // A copy of C-OPEN's record_opened (a record entry with no payload), recorded when
        // the revocation was, so that no time steps back.
        let mut it = items[9].clone();
        it.entry.event = ev;
        it.entry.recorded_at = items[11].entry.recorded_at;
        it.payload = None;
        items.insert(at, it);
    });
}

fn rid(s: &str) -> RecordId {
    RecordId::new(s).expect("record id")
}
fn aid(s: &str) -> ActorId {
    ActorId::new(s).expect("actor id")
}
fn date(s: &str) -> Date {
    Date::parse(s).expect("date")
}

// --- The insider with the ledger key ---

fn ledger_signer(f: &Fixture) -> NoteSigner {
    let key = caseledger_keyfile::read(&f.keys().join("ledger.pem")).expect("ledger key");
    NoteSigner::new(ORIGIN, key).expect("signer")
}

/// Removes every seal and signs one over the (rewritten) entries with the real ledger key.
fn reseal(f: &Fixture) {
    let dir = f.ledger();
    let items = tamper::load(&dir);
    let n = items.len() as u64;
    tamper::clear_checkpoints(&dir);
    let note = sign_checkpoint(
        &Checkpoint::new(ORIGIN, n, root(&items, n)).expect("cp"),
        &ledger_signer(f),
    );
    tamper::add_checkpoint(&dir, &note);
}

/// Every event re-signed with fresh keys (genesis names a fresh admin and ledger key, each
/// enrolment a fresh key), one entry removed, re-chained and sealed with the fresh ledger
/// key: a forgery by someone who holds none of the ledger's keys.
fn forge_with_fresh_keys(f: &Fixture) {
    let fresh = |actor: &str| {
        caseledger_testkit::key(match actor {
            "admin" => 101,
            "lic-1" => 103,
            "cust-1" => 104,
            _ => 105,
        })
    };
    tamper::rewrite(&f.ledger(), |items| {
        items.remove(5);
        for it in items.iter_mut() {
            let mut ev = it.entry.event.event.clone();
            match &mut ev.kind {
                EventKind::Genesis {
                    admin_key,
                    ledger_key,
                    ..
                } => {
                    *admin_key = fresh("admin").public_key();
                    *ledger_key = caseledger_testkit::key(102).public_key();
                }
                EventKind::ActorEnrolled {
                    actor, public_key, ..
                } => {
                    *public_key = fresh(actor.as_str()).public_key();
                }
                _ => {}
            }
            let key = fresh(ev.author.as_str());
            it.entry.event = ev.sign(ORIGIN, &key).expect("sign");
        }
    });
    let dir = f.ledger();
    let items = tamper::load(&dir);
    let n = items.len() as u64;
    tamper::clear_checkpoints(&dir);
    let signer = NoteSigner::new(ORIGIN, caseledger_testkit::key(102)).expect("signer");
    let note = sign_checkpoint(
        &Checkpoint::new(ORIGIN, n, root(&items, n)).expect("cp"),
        &signer,
    );
    tamper::add_checkpoint(&dir, &note);
}

/// A seal of `size` with a false `root`, signed with the real ledger key.
fn forged_seal(f: &Fixture, size: u64, root: Hash) {
    let note = sign_checkpoint(
        &Checkpoint::new(ORIGIN, size, root).expect("cp"),
        &ledger_signer(f),
    );
    tamper::add_checkpoint(&f.ledger(), &note);
}

/// cust-1 (real key) destroys C-NEW, lawful only from 2030, written straight into sled.
/// The admin closes the ledger (seq 11).
fn close(f: &Fixture) {
    ok(&f.run(&[
        "close",
        "--ledger",
        "L",
        "--reason",
        "practice closed, policy R-9",
    ]));
}

/// A note by lic-1 (its real key) appended after the close by rewriting the trees.
fn note_after_close(f: &Fixture) {
    let key = caseledger_keyfile::read(&f.keys().join("actors/lic-1.pem")).expect("lic-1 key");
    let ev = Event::new(
        Some(rid("C-OPEN")),
        aid("lic-1"),
        EventKind::Contact,
        date("2025-06-01"),
    )
    .sign(ORIGIN, &key)
    .expect("sign");
    tamper::rewrite(&f.ledger(), |items| {
        let mut it = items[9].clone();
        it.entry.event = ev;
        it.entry.recorded_at = items[11].entry.recorded_at;
        it.payload = None;
        items.push(it);
    });
}

fn forged_destruction(f: &Fixture) {
    let key = caseledger_keyfile::read(&f.keys().join("actors/cust-1.pem")).expect("cust-1 key");
    let kind = EventKind::Destruction {
        reason: ShortText::new("policy").expect("text"),
        citation: None,
    };
    let ev = Event::new(Some(rid("C-NEW")), aid("cust-1"), kind, date("2026-01-05"))
        .sign(ORIGIN, &key)
        .expect("sign");
    tamper::rewrite(&f.ledger(), |items| {
        let mut it = items[9].clone();
        it.entry.event = ev;
        it.entry.recorded_at = items[10].entry.recorded_at;
        it.payload = None;
        items.push(it);
    });
}

// --- Attack 2 ---

/// C-NEW's hold placed (seq NEXT), then its state row rolled back to the entry before it.
fn state_row_rolled_back_before_hold(f: &Fixture) {
    use caseledger_core::encoding::{decode_canonical, encode};
    use caseledger_core::record::RecordState;
    ok(&f.run(&[
        "hold", "place", "--ledger", "L", "--record", "C-NEW", "--author", "cust-1", "--matter",
        "SC-1",
    ]));
    let mut before = None;
    sled_tree(f, "entries", |t| {
        let e = Entry::from_bytes(&t.get(NEXT.to_be_bytes()).expect("get").expect("hold"))
            .expect("entry");
        before = e.placement.and_then(|p| p.prev_in_record);
    });
    let before = before.expect("the hold is not C-NEW's first entry");
    let key = caseledger_core::layout::record_state_key(&rid("C-NEW"));
    sled_tree(f, TREE_RECORDS, |t| {
        let mut st: RecordState =
            decode_canonical(&t.get(&key).expect("get").expect("state row")).expect("state");
        assert_eq!(st.last_seq.0, NEXT);
        st.entries -= 1;
        st.last_seq = before;
        t.insert(&key, encode(&st).expect("encode"))
            .expect("insert");
    });
}

fn index_row_added(f: &Fixture) {
    sled_tree(f, TREE_RECORDS, |t| {
        t.insert(
            record_index_key(&rid("C-NEW"), OLD_ASSESSMENT),
            &[] as &[u8],
        )
        .expect("insert");
    });
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.json",
    ]));
    let text = fs::read_to_string(f.path("b.json")).expect("bundle");
    assert!(
        !text.contains("C-OLD"),
        "another client's entry is in the bundle"
    );
    assert!(read_bundle(f, "b.json")
        .entries
        .iter()
        .all(|e| e.seq != OLD_ASSESSMENT));
}

fn cut_from_bundle(f: &Fixture, seq: u64) {
    let mut b = read_bundle(f, "b.json");
    b.entries.retain(|e| e.seq != seq);
    fs::write(f.path("cut.json"), b.to_json().expect("json")).expect("write");
}

fn cut_admin_from_bundle(f: &Fixture, seq: u64) {
    let mut b = read_bundle(f, "b.json");
    let before = b.admin_entries.len();
    b.admin_entries.retain(|e| e.seq != seq);
    assert_eq!(
        b.admin_entries.len() + 1,
        before,
        "seq {seq} is an admin entry"
    );
    fs::write(f.path("cut.json"), b.to_json().expect("json")).expect("write");
}

fn read_bundle(f: &Fixture, name: &str) -> Bundle {
    Bundle::from_json(&fs::read(f.path(name)).expect("bundle")).expect("bundle parses")
}

fn sled_tree(f: &Fixture, tree: &str, edit: impl FnOnce(&sled::Tree)) {
    let db = tamper::db(&f.ledger());
    edit(&db.open_tree(tree).expect("tree"));
    db.flush().expect("flush");
}

// --- Attack 3 ---

/// lic-1 revoked (seq 11); the insider puts the revoked key file back under its old name.
pub(crate) fn revoked_author_restored(f: &Fixture) {
    ok(&f.run(&["actor", "revoke", "--ledger", "L", "--id", "lic-1"]));
    let actors = f.keys().join("actors");
    fs::copy(
        actors.join("lic-1.revoked-11.pem"),
        actors.join("lic-1.pem"),
    )
    .expect("key back");
}

/// A registry row as format 2 kept it (`meta.registry`), from before the revocation: the
/// fold's registry with lic-1 live. The store no longer has or reads such a row.
pub(crate) fn registry_row_planted(f: &Fixture) {
    use caseledger_core::record::Registry;
    let mut reg = Registry::default();
    reg.actors.insert(
        ActorId::new("lic-1").unwrap(),
        caseledger_core::record::ActorState {
            role: caseledger_core::event::Role::Licensee,
            key: caseledger_core::keys::SigningKey::from_seed(&[9; 32]).public_key(),
            revoked: false,
            enrolled_at: caseledger_core::Seq(1),
        },
    );
    let row = caseledger_core::encoding::encode(&reg).expect("encode");
    tamper::edit_raw(&f.ledger(), "meta", b"registry", |_| Some(row));
}

/// The revocation entry (seq 11) edited in the real sled bytes so that it revokes nobody
/// enrolled: a registry rebuilt from it would let lic-1 sign again. (An admin entry comes
/// after it first: an edited head entry is already refused as `meta.head`, row 34.)
pub(crate) fn revocation_entry_edited(f: &Fixture) {
    ok(&f.run(&["clock-corrected", "--ledger", "L", "--reason", "NTP step"]));
    tamper::edit_raw(&f.ledger(), "entries", &11u64.to_be_bytes(), |v| {
        let mut e = Entry::from_bytes(&v.expect("entry 11")).expect("decodes");
        assert!(matches!(e.event.event.kind, EventKind::KeyRevoked { .. }));
        e.event.event.kind = EventKind::KeyRevoked {
            actor: ActorId::new("nobody").unwrap(),
        };
        Some(e.to_bytes().expect("encode"))
    });
}

/// The derived state row of `record` edited so the record looks destroyable today: its
/// holds released, service terminated in 2010, nothing later (an insider with file access;
/// its entries and placement fields are left as they are).
pub(crate) fn state_row_made_destroyable(f: &Fixture, record: &str) {
    use caseledger_core::encoding::{decode_canonical, encode};
    use caseledger_core::record::{RecordState, Service};
    let key = caseledger_core::layout::record_state_key(&rid(record));
    sled_tree(f, TREE_RECORDS, |t| {
        let mut st: RecordState =
            decode_canonical(&t.get(&key).expect("get").expect("state row")).expect("state");
        st.holds.clear();
        st.service = Service::Terminated(date("2010-01-04"));
        st.latest_occurred_on = date("2010-01-04");
        st.last_service_or_contact_on = Some(date("2010-01-04"));
        t.insert(&key, encode(&st).expect("encode"))
            .expect("insert");
    });
}

pub(crate) fn flip_compact_range(f: &Fixture) {
    tamper::edit_raw(&f.ledger(), "meta", b"compact_range", |v| v.map(flip_last));
}

// --- Attack 4 ---

/// `faketime -f +5y caseledger destroy` (C-NEW is lawful from 2030), then the real clock:
/// the next append is refused, the admin records `clock_corrected`, the practice goes on.
fn forward_clock_destruction(f: &Fixture) {
    let faked = std::process::Command::new("faketime")
        .args(["-f", "+5y"])
        .arg(caseledger_bin())
        .args([
            "destroy",
            "--ledger",
            "L",
            "--record",
            "C-NEW",
            "--author",
            "cust-1",
            "--reason",
            "policy R-7",
        ])
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .env_remove("CASELEDGER_LEDGER")
        .env_remove("CASELEDGER_KEYS")
        .output()
        .expect("faketime runs (apt-get install faketime)");
    assert!(
        faked.status.success(),
        "{}",
        String::from_utf8_lossy(&faked.stderr)
    );
    let refused = f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("clock-corrected"),
        "{}",
        stderr(&refused)
    );
    ok(&f.run(&[
        "clock-corrected",
        "--ledger",
        "L",
        "--reason",
        "clock was five years ahead",
    ]));
    ok(&f.append("lic-1", "C-OPEN", "contact", "2025-06-01", None));
}

// --- Attack 5 ---

fn archive_extra_frame(f: &Fixture) {
    archive(f, "a.cla");
    let (origin, mut frames) = read_archive(&f.path("a.cla"));
    let at = frames
        .iter()
        .position(|fr| matches!(fr, ArchiveItem::Payload { seq, .. } if seq.0 == NEW_NOTE))
        .expect("C-NEW's payload frame");
    frames.insert(
        at + 1,
        ArchiveItem::Payload {
            seq: caseledger_core::Seq(NEW_NOTE),
            stored: [[0u8; 32].as_slice(), b"falsified note"].concat(),
        },
    );
    write_archive(&f.path("edited.cla"), &origin, &frames);
}

/// C-OLD's payload frame, kept from an archive taken before its lawful destruction,
/// appended after the last entry of an archive taken after it.
fn archive_resurrected_frame(f: &Fixture) {
    archive(f, "before.cla");
    destroy(f, "C-OLD");
    archive(f, "after.cla");
    let (_, old) = read_archive(&f.path("before.cla"));
    let (origin, mut frames) = read_archive(&f.path("after.cla"));
    let gone = old
        .into_iter()
        .find(|fr| matches!(fr, ArchiveItem::Payload { seq, .. } if seq.0 == OLD_ASSESSMENT))
        .expect("C-OLD's payload frame");
    let last = frames
        .iter()
        .rposition(|fr| matches!(fr, ArchiveItem::Entry(_)))
        .expect("entries");
    frames.insert(last + 1, gone);
    write_archive(&f.path("edited.cla"), &origin, &frames);
}

// --- Attack 6 ---

/// Two witness keys (`w1.pem`, `w2.pem`); the newest seal cosigned by w1 as the auditor
/// holds it (`cp-cosigned.txt`); the ledger's stored copy has no cosignature. Returns the
/// two witness verifier keys.
pub(crate) fn witnesses(f: &Fixture) -> [String; 2] {
    let vkeys = ["w1", "w2"].map(|w| {
        ok(&f.run(&["keys", "generate", "--out", &format!("{w}.pem")]));
        ok(&f.run(&[
            "keys",
            "export",
            "--key",
            &format!("{w}.pem"),
            "--witness",
            "--name",
            w,
        ]))
        .trim()
        .to_owned()
    });
    let log_key = ok(&f.run(&["keys", "export", "--ledger", "L"]));
    f.write(
        "cp.txt",
        ok(&f.run(&["checkpoint", "--ledger", "L"])).as_bytes(),
    );
    let cosigned = ok(&f.run(&[
        "cosign",
        "--key",
        "w1.pem",
        "--name",
        "w1",
        "--state",
        "w.json",
        "--log-key",
        log_key.trim(),
        "cp.txt",
    ]));
    f.write("cp-cosigned.txt", cosigned.as_bytes());
    vkeys
}

// --- The v1 suite ---

fn flip_last(mut v: Vec<u8>) -> Vec<u8> {
    if let Some(b) = v.last_mut() {
        *b ^= 1;
    }
    v
}

fn flip_middle(mut v: Vec<u8>) -> Vec<u8> {
    let mid = v.len() / 2;
    v[mid] ^= 0x40;
    v
}

fn swap_raw(f: &Fixture, a: u64, b: u64) {
    let db = tamper::db(&f.ledger());
    let t = db.open_tree("entries").expect("entries");
    let (x, y) = (
        t.get(a.to_be_bytes()).unwrap().unwrap(),
        t.get(b.to_be_bytes()).unwrap().unwrap(),
    );
    t.insert(a.to_be_bytes(), y).unwrap();
    t.insert(b.to_be_bytes(), x).unwrap();
    db.flush().unwrap();
}

/// The newest entry and its payload removed from sled; the log of seals left alone.
fn drop_last(f: &Fixture) {
    for tree in ["entries", "payloads"] {
        tamper::edit_raw(&f.ledger(), tree, &10u64.to_be_bytes(), |_| None);
    }
}

/// The auditor holds the seal of size 12; the whole directory is replaced by a copy taken
/// at size 11.
fn rollback(f: &Fixture) {
    caseledger_testkit::copy_dir(&f.ledger(), &f.path("old")).expect("copy");
    append(f, "lic-1", "C-OPEN", "contact");
    hold_checkpoint(f);
    fs::remove_dir_all(f.ledger()).expect("rm");
    fs::rename(f.path("old"), f.ledger()).expect("restore");
}

/// A copy of the size-10 seal with one signature bit flipped, appended to the log.
fn flipped_seal_in_log(f: &Fixture) {
    let notes =
        parse_checkpoints_log(&fs::read(tamper::log_path(&f.ledger())).expect("log")).expect("log");
    let note = notes.iter().find(|n| note_size(n) == 10).expect("seal 10");
    let (body, sig) = note.split_once("\n\n").expect("note");
    let (prefix, b64) = sig.trim_end().rsplit_once(' ').expect("sig line");
    use base64::Engine as _;
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("b64");
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let flipped = format!(
        "{body}\n\n{prefix} {}\n",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    tamper::append_log(&f.ledger(), &flipped);
}
