//! The tamper suite: build the clean practice ledger, tamper with the real stored bytes,
//! verify, and assert the exact findings (kind and seq). One table: adding a scenario is
//! one line.
#![expect(
    clippy::cast_possible_truncation,
    reason = "test ledgers hold a few dozen entries: their seqs fit every integer type"
)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::checkpoint::{
    append_cosignature, cosign, sign_checkpoint, Checkpoint, CosignatureVerifier,
};
use caseledger_core::event::{Entry, EventKind, Role};
use caseledger_core::note::NoteSigner;
use caseledger_core::Timestamp;
use caseledger_testkit::practice::*;
use caseledger_testkit::tamper::*;
use caseledger_testkit::{actor, date, findings_text, key, text, verify_dir, Cast};
use caseledger_verify::{
    verify, AnchorKind, CheckpointSource, FindingKind as K, Policy, SledSource, Verified,
    VerifyError, PROGRESS_EVERY,
};
use std::path::Path;

type Tamper = fn(&mut Fixture) -> Policy;
/// `(kind, seq)`: a finding the verifier must report (seq `None`: ledger-wide).
type Expect = &'static [(K, Option<u64>)];

/// Seqs of the fixture used in expectations (see `caseledger_testkit::practice`).
const A_NOTE: u64 = 10;
const B_NOTE1: u64 = 15;
const C_NOTE1: u64 = 20;
const SIZE: u64 = 32;

fn run(fx: &Fixture, policy: &Policy) -> Verified {
    verify_dir(fx.path(), policy).unwrap()
}

/// The current stored items and a checkpoint over all of them (as an auditor would hold).
fn held_checkpoint(fx: &Fixture) -> String {
    let items = load(fx.path());
    checkpoint_note(items.len() as u64, root(&items, items.len() as u64))
}

/// Appends a forged event at the end, chained correctly (attacker with a key).
fn append_forged(
    fx: &mut Fixture,
    key_seed: u8,
    author: &str,
    record: &str,
    kind: EventKind,
    on: &str,
) {
    let (ev, p) = fx
        .author
        .event(&key(key_seed), author, Some(record), kind, on, None);
    let recorded_at = Timestamp::start_of(date(on)).unwrap();
    rewrite(fx.path(), |items| {
        let mut e = items[0].entry.clone();
        e.event = ev;
        e.recorded_at = recorded_at;
        items.push(Item {
            entry: e,
            payload: p.map(|p| p.to_stored()),
        });
    });
}

fn flip_note_signature(note: &str) -> String {
    // Flip one bit inside the signature bytes (after the 4-byte key id) of the first line.
    let (body, sigs) = note.split_once("\n\n").unwrap();
    let mut lines: Vec<String> = sigs.lines().map(str::to_owned).collect();
    let (prefix, b64) = lines[0].rsplit_once(' ').unwrap();
    let mut raw = B64.decode(b64).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    lines[0] = format!("{prefix} {}", B64.encode(raw));
    format!("{body}\n\n{}\n", lines.join("\n"))
}

fn witness() -> (CosignatureVerifier, caseledger_core::keys::SigningKey) {
    let k = key(9);
    (
        CosignatureVerifier::new("witness.example", k.public_key()).unwrap(),
        k,
    )
}

fn cosigned_final(fx: &Fixture) -> String {
    let items = load(fx.path());
    let cp = Checkpoint::new(ORIGIN, items.len() as u64, root(&items, items.len() as u64)).unwrap();
    let (_, wk) = witness();
    let line = cosign(&cp, "witness.example", &wk, 1_700_000_000).unwrap();
    append_cosignature(&sign_checkpoint(&cp, &Cast::PRACTICE.signer()), &line).unwrap()
}

fn witness_policy(quorum: usize) -> Policy {
    Policy {
        witnesses: vec![witness().0],
        quorum,
        ..Cast::PRACTICE.policy(vec![])
    }
}

/// The final checkpoint cosigned twice by the one witness key, under two names (two lines).
fn cosigned_twice_by_one_key(fx: &Fixture) -> String {
    let note = cosigned_final(fx);
    let items = load(fx.path());
    let cp = Checkpoint::new(ORIGIN, items.len() as u64, root(&items, items.len() as u64)).unwrap();
    let (_, wk) = witness();
    let line = cosign(&cp, "witness.example/again", &wk, 1_700_000_001).unwrap();
    append_cosignature(&note, &line).unwrap()
}

/// A policy listing the one witness key twice (`--witness K --witness K`), or under a
/// second name, and requiring two cosignatures.
fn one_witness_listed_twice(second_name: &str) -> Policy {
    let (w, k) = witness();
    let again = CosignatureVerifier::new(second_name, k.public_key()).unwrap();
    Policy {
        witnesses: vec![w, again],
        quorum: 2,
        ..Cast::PRACTICE.policy(vec![])
    }
}

/// Drops entries from `from` on, as a torn or truncated store would hold them.
fn drop_from(dir: &Path, from: u64) {
    let n = load(dir).len() as u64;
    for s in from..n {
        edit_raw(dir, "entries", &s.to_be_bytes(), |_| None);
        edit_raw(dir, "payloads", &s.to_be_bytes(), |_| None);
    }
}

/// Re-signs every event with fresh keys (admin and ledger key too) and re-chains: a full
/// rewrite by someone who holds no original key. Fresh key = seed + 100.
fn rewrite_with_fresh_keys(fx: &mut Fixture) {
    let seed_of = |actor: &str, rotated: bool| -> u8 {
        match actor {
            "admin" => 1,
            "lic-1" => 3,
            "cust-1" => 4,
            "lic-2" if rotated => 6,
            "lic-2" => 5,
            _ => 7,
        }
    };
    rewrite(fx.path(), |items| {
        let mut rotated = false;
        for it in items.iter_mut() {
            let mut ev = it.entry.event.event.clone();
            match &mut ev.kind {
                EventKind::Genesis {
                    admin_key,
                    ledger_key,
                    ..
                } => {
                    *admin_key = key(101).public_key();
                    *ledger_key = key(102).public_key();
                }
                EventKind::ActorEnrolled {
                    actor, public_key, ..
                } => {
                    if actor.as_str() == "lic-2" && rotated {
                        *public_key = key(106).public_key();
                    } else {
                        *public_key = key(seed_of(actor.as_str(), false) + 100).public_key();
                    }
                }
                EventKind::KeyRevoked { actor } if actor.as_str() == "lic-2" => rotated = true,
                _ => {}
            }
            let s = seed_of(ev.author.as_str(), rotated) + 100;
            it.entry.event = ev.sign(ORIGIN, &key(s)).unwrap();
        }
    });
    let items = load(fx.path());
    clear_checkpoints(fx.path());
    let fresh = NoteSigner::new(ORIGIN, key(102)).unwrap();
    let n = items.len() as u64;
    add_checkpoint(
        fx.path(),
        &sign_checkpoint(
            &Checkpoint::new(ORIGIN, n, root(&items, n)).unwrap(),
            &fresh,
        ),
    );
}

// --- One-call tampering helpers, so each scenario below is one line. ---

fn none() -> Policy {
    Policy::default()
}
fn holding(held: String) -> Policy {
    Policy {
        checkpoints: vec![held],
        ..Cast::PRACTICE.policy(vec![])
    }
}
fn checkpoint_at(fx: &Fixture, size: u64) -> String {
    checkpoint_note(size, root(&load(fx.path()), size))
}
/// Edits the raw stored bytes of one entry (no re-chaining).
fn edit_bytes(fx: &Fixture, seq: u64, f: impl FnOnce(&mut Vec<u8>)) {
    edit_raw(fx.path(), "entries", &seq.to_be_bytes(), |v| {
        let mut v = v.unwrap();
        f(&mut v);
        Some(v)
    });
}
/// Decodes, edits and re-encodes one entry in place (no re-chaining).
fn edit_entry(fx: &Fixture, seq: u64, f: impl FnOnce(&mut Entry)) {
    edit_bytes(fx, seq, |v| {
        let mut e = Entry::from_bytes(v).unwrap();
        f(&mut e);
        *v = e.to_bytes().unwrap();
    });
}
/// Edits one entry and re-chains everything after it (the attacker's view).
fn edit_rechained(fx: &Fixture, seq: u64, f: impl FnOnce(&mut Item)) {
    rewrite(fx.path(), |items| f(&mut items[seq as usize]));
}
fn edit_payload(fx: &Fixture, seq: u64, f: impl FnOnce(Option<Vec<u8>>) -> Option<Vec<u8>>) {
    edit_raw(fx.path(), "payloads", &seq.to_be_bytes(), f);
}
fn flip_last(mut v: Vec<u8>) -> Vec<u8> {
    *v.last_mut().unwrap() ^= 1;
    v
}
fn swap_entries(fx: &Fixture, a: u64, b: u64) {
    let items = load(fx.path());
    let (x, y) = (
        items[a as usize].entry.to_bytes().unwrap(),
        items[b as usize].entry.to_bytes().unwrap(),
    );
    edit_bytes(fx, a, |v| *v = y);
    edit_bytes(fx, b, |v| *v = x);
}
/// Inserts a signed contact for C-B at `at`: either chained only to its predecessor, with
/// the later entries shifted up unchanged, or with everything re-chained.
fn insert_entry(fx: &mut Fixture, at: usize, rechained: bool) {
    let (ev, _) = fx.author.event(
        &key(3),
        "lic-1",
        Some("C-B"),
        EventKind::Contact,
        "2016-01-05",
        None,
    );
    let mut items = load(fx.path());
    let mut e = items[at].entry.clone();
    e.event = ev;
    e.prev = caseledger_core::hash::entry_hash(&items[at - 1].entry.to_bytes().unwrap());
    items.insert(
        at,
        Item {
            entry: e,
            payload: None,
        },
    );
    if rechained {
        rechain(&mut items);
        return store(fx.path(), &items);
    }
    for (i, it) in items.iter().enumerate().skip(at) {
        edit_raw(fx.path(), "entries", &(i as u64).to_be_bytes(), |_| {
            Some(it.entry.to_bytes().unwrap())
        });
    }
}
/// The ledger grows, the auditor sees its newer checkpoint, then the old copy comes back.
fn restore_old_copy(fx: &mut Fixture) -> Policy {
    let old = load(fx.path());
    append_forged(fx, 3, "lic-1", "C-C", EventKind::ProgressNote, "2021-04-01");
    let newer = held_checkpoint(fx);
    store(fx.path(), &old);
    holding(newer)
}
fn foreign_checkpoint(fx: &Fixture, origin: &str, seed: u8, size: u64) -> String {
    let signer = NoteSigner::new(origin, key(seed)).unwrap();
    let items = load(fx.path());
    sign_checkpoint(
        &Checkpoint::new(origin, size, root(&items, size)).unwrap(),
        &signer,
    )
}
/// The final checkpoint with its witness cosignature bit-flipped.
fn bad_cosignature(fx: &Fixture) -> String {
    let note = cosigned_final(fx);
    let (body, sigs) = note.split_once("\n\n").unwrap();
    let lines: Vec<&str> = sigs.lines().collect();
    let flipped = flip_note_signature(&format!("{body}\n\n{}\n", lines[1]));
    format!(
        "{body}\n\n{}\n{}",
        lines[0],
        flipped.split_once("\n\n").unwrap().1
    )
}
fn append_to_log(fx: &Fixture, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(log_path(fx.path()))
        .unwrap()
        .write_all(bytes)
        .unwrap();
}
fn replay_event(fx: &Fixture, seq: u64) {
    rewrite(fx.path(), |items| {
        let mut e = items[seq as usize].clone();
        e.entry.recorded_at = items.last().unwrap().entry.recorded_at;
        items.push(e);
    });
}
fn enrol_by(fx: &mut Fixture, seed: u8, author: &str) {
    let (ev, _) = fx.author.event(
        &key(seed),
        author,
        None,
        EventKind::ActorEnrolled {
            actor: actor("x"),
            role: Role::Admin,
            public_key: key(50).public_key(),
        },
        "2021-04-01",
        None,
    );
    rewrite(fx.path(), |items| {
        let mut e = items[0].entry.clone();
        e.event = ev;
        e.recorded_at = Timestamp::start_of(date("2021-04-01")).unwrap();
        items.push(Item {
            entry: e,
            payload: None,
        });
    });
}
/// Re-chains the ledger, then forges one entry's registry pointer and re-chains by hand
/// (an attacker who knows the rule but wants the registry read wrong).
fn forged_pointer_rechained(fx: &Fixture, seq: u64) {
    let mut items = load(fx.path());
    rechain(&mut items);
    items[seq as usize].entry.prev_registry = Some(caseledger_core::Seq(0));
    let mut prev = caseledger_core::EntryHash::ZERO;
    for it in &mut items {
        it.entry.prev = prev;
        prev = caseledger_core::hash::entry_hash(&it.entry.to_bytes().unwrap());
    }
    store(fx.path(), &items);
}
/// Appends an admin's event at the end, chained correctly.
fn append_admin(fx: &mut Fixture, kind: EventKind) {
    append_admin_on(fx, kind, "2021-04-01");
}
/// Appends an admin's event dated and recorded on `on`, chained correctly.
fn append_admin_on(fx: &mut Fixture, kind: EventKind, on: &str) {
    let (ev, _) = fx.author.event(&key(1), "admin", None, kind, on, None);
    rewrite(fx.path(), |items| {
        let mut e = items[0].entry.clone();
        e.event = ev;
        e.placement = None;
        e.recorded_at = Timestamp::start_of(date(on)).unwrap();
        items.push(Item {
            entry: e,
            payload: None,
        });
    });
}
fn destroy(reason: &str) -> EventKind {
    EventKind::Destruction {
        reason: text(reason),
        citation: None,
    }
}

/// The scenarios: name, tampering (returns the auditor's policy), findings that must be
/// reported as `(kind, seq)`; an empty list means the ledger must verify with no finding.
#[rustfmt::skip]
const SCENARIOS: &[(&str, Tamper, Expect)] = &[
    // Zero findings: lawful destruction, reopened record, hold released, key revocation and
    // rotation are all in the fixture.
    ("clean", |_| none(), &[]),
    ("clean_with_trusted_key", |_| Cast::PRACTICE.policy(vec![]), &[]),
    ("clean_with_auditor_checkpoint", |fx| holding(held_checkpoint(fx)), &[]),
    ("clean_with_witness_quorum", |fx| { add_checkpoint(fx.path(), &cosigned_final(fx)); witness_policy(1) }, &[]),
    // Payloads.
    ("payload_byte_flip", |fx| { edit_payload(fx, C_NOTE1, |v| v.map(flip_last)); none() }, &[(K::CommitmentMismatch, Some(C_NOTE1))]),
    ("payload_removed_without_destruction", |fx| { edit_payload(fx, B_NOTE1, |_| None); none() }, &[(K::PayloadMissing, Some(B_NOTE1))]),
    ("payload_restored_after_destruction", |fx| { edit_payload(fx, A_NOTE, |_| Some(vec![7; 40])); none() }, &[(K::CommitmentMismatch, Some(A_NOTE)), (K::PayloadAfterDestruction, Some(A_NOTE))]),
    // Entries.
    ("entry_header_edit", |fx| { edit_entry(fx, C_NOTE1, |e| e.event.event.occurred_on = date("2016-07-03")); none() }, &[(K::BadSignature, Some(C_NOTE1)), (K::ChainBreak, Some(C_NOTE1 + 1)), (K::RootMismatch, None)]),
    ("entry_deleted_in_the_middle", |fx| { edit_raw(fx.path(), "entries", &C_NOTE1.to_be_bytes(), |_| None); none() }, &[(K::SeqGap, Some(C_NOTE1)), (K::ChainBreak, Some(C_NOTE1 + 1))]),
    ("two_entries_swapped", |fx| { swap_entries(fx, 15, 16); none() }, &[(K::SeqMismatch, Some(15)), (K::SeqMismatch, Some(16)), (K::ChainBreak, Some(15))]),
    ("entry_inserted", |fx| { insert_entry(fx, 16, false); none() }, &[(K::SeqMismatch, Some(17)), (K::ChainBreak, Some(17))]),
    ("entry_inserted_and_rechained", |fx| { insert_entry(fx, 16, true); none() }, &[(K::RootMismatch, None)]),
    // Seals (issue 12): every commit is sealed by the ledger key; without it, an edit that
    // removes the seals after it leaves the entries after the newest remaining seal unsealed.
    ("entries_after_the_newest_seal", |fx| { let at10 = checkpoint_at(fx, 10); clear_checkpoints(fx.path()); add_checkpoint(fx.path(), &at10); none() }, &[(K::UnsealedTail, Some(10))]),
    ("keyless_delete_rechain_and_remove_later_seals", |fx| { let at10 = checkpoint_at(fx, 10); rewrite(fx.path(), |items| { items.remove(C_NOTE1 as usize); }); clear_checkpoints(fx.path()); add_checkpoint(fx.path(), &at10); Cast::PRACTICE.policy(vec![]) }, &[(K::UnsealedTail, Some(10))]),
    ("keyless_delete_rechain_keeping_the_seals", |fx| { rewrite(fx.path(), |items| { items.remove(C_NOTE1 as usize); }); Cast::PRACTICE.policy(vec![]) }, &[(K::Truncation, Some(SIZE - 1))]),
    ("last_entries_dropped_stored_checkpoint", |fx| { drop_from(fx.path(), SIZE - 2); none() }, &[(K::Truncation, Some(SIZE - 2))]),
    ("last_entries_dropped_auditor_checkpoint", |fx| { let held = held_checkpoint(fx); drop_from(fx.path(), SIZE - 2); clear_checkpoints(fx.path()); holding(held) }, &[(K::Truncation, Some(SIZE - 2))]),
    ("old_copy_restored_auditor_holds_newer", restore_old_copy, &[(K::Truncation, Some(SIZE))]),
    ("whole_ledger_rewritten_with_fresh_key", |fx| { let held = held_checkpoint(fx); rewrite_with_fresh_keys(fx); holding(held) }, &[(K::LedgerKeyNotTrusted, Some(0)), (K::CheckpointUntrustedKey, None), (K::RootMismatch, None)]),
    ("author_signature_bit_flip", |fx| { edit_rechained(fx, C_NOTE1, |it| it.entry.event.signature.bytes_mut().0[5] ^= 1); none() }, &[(K::BadSignature, Some(C_NOTE1))]),
    ("recorded_at_regression", |fx| { edit_rechained(fx, C_NOTE1, |it| it.entry.recorded_at = Timestamp::start_of(date("2016-01-01")).unwrap()); none() }, &[(K::RecordedAtRegressed, Some(C_NOTE1))]),
    ("non_canonical_encoding", |fx| { edit_bytes(fx, C_NOTE1, |v| v[50] = 2); none() }, &[(K::MalformedEntry, Some(C_NOTE1))]),
    ("trailing_bytes", |fx| { edit_bytes(fx, C_NOTE1, |v| v.push(0)); none() }, &[(K::TrailingBytes, Some(C_NOTE1))]),
    ("unsupported_version", |fx| { edit_bytes(fx, C_NOTE1, |v| v[0] = 9); none() }, &[(K::UnsupportedVersion, Some(C_NOTE1))]),
    ("malformed_key", |fx| { edit_raw(fx.path(), "entries", b"zzzzzzzzz", |_| Some(vec![1, 2, 3])); none() }, &[(K::MalformedKey, Some(SIZE))]),
    // Lawfulness: events signed with the real keys, inserted by editing the trees, re-chained.
    ("destruction_before_retention_end", |fx| { append_forged(fx, 4, "cust-1", "C-B", destroy("policy"), "2021-03-05"); none() }, &[(K::UnlawfulDestruction, Some(SIZE))]),
    ("destruction_under_hold", |fx| { append_forged(fx, 4, "cust-1", "C-D", destroy("policy"), "2023-01-01"); none() }, &[(K::UnlawfulDestruction, Some(SIZE))]),
    ("event_after_destruction", |fx| { append_forged(fx, 3, "lic-1", "C-A", EventKind::ProgressNote, "2021-04-01"); none() }, &[(K::EventAfterDestruction, Some(SIZE))]),
    ("event_by_revoked_actor", |fx| { append_forged(fx, 7, "lic-3", "C-C", EventKind::ProgressNote, "2021-04-01"); none() }, &[(K::UnauthorizedAuthor, Some(SIZE))]),
    ("event_by_old_rotated_key", |fx| { append_forged(fx, 5, "lic-2", "C-C", EventKind::ProgressNote, "2021-04-01"); none() }, &[(K::BadSignature, Some(SIZE))]),
    ("event_by_wrong_role", |fx| { append_forged(fx, 4, "cust-1", "C-C", EventKind::ProgressNote, "2021-04-01"); none() }, &[(K::UnauthorizedAuthor, Some(SIZE))]),
    ("enrolment_by_non_admin", |fx| { enrol_by(fx, 3, "lic-1"); none() }, &[(K::UnauthorizedAuthor, Some(SIZE))]),
    ("replayed_event", |fx| { replay_event(fx, C_NOTE1); none() }, &[(K::ReplayedEvent, Some(SIZE))]),
    // Registry pointers (format 3): a forged `prev_registry`, in place or re-chained.
    ("prev_registry_edited_in_place", |fx| { edit_entry(fx, C_NOTE1, |e| e.prev_registry = Some(caseledger_core::Seq(0))); none() }, &[(K::PrevRegistryMismatch, Some(C_NOTE1)), (K::ChainBreak, Some(C_NOTE1 + 1))]),
    ("prev_registry_forged_and_rechained", |fx| { forged_pointer_rechained(fx, C_NOTE1); none() }, &[(K::PrevRegistryMismatch, Some(C_NOTE1))]),
    // Issue 14: entries after `ledger_closed` (signed with the real keys, re-chained).
    ("entry_after_close", |fx| { append_admin(fx, EventKind::LedgerClosed { reason: text("practice closed") }); append_forged(fx, 3, "lic-1", "C-C", EventKind::Contact, "2021-04-01"); none() }, &[(K::EntryAfterClose, Some(SIZE + 1))]),
    // Checkpoints.
    ("split_view", |fx| { add_checkpoint(fx.path(), &checkpoint_note(10, caseledger_core::Hash([9; 32]))); none() }, &[(K::SplitView, None), (K::RootMismatch, None)]),
    ("checkpoint_signed_by_unknown_key", |fx| { add_checkpoint(fx.path(), &foreign_checkpoint(fx, ORIGIN, 66, 20)); Cast::PRACTICE.policy(vec![]) }, &[(K::CheckpointUntrustedKey, None)]),
    ("checkpoint_signature_bit_flip", |fx| { edit_raw(fx.path(), "checkpoints", &SIZE.to_be_bytes(), |v| Some(flip_note_signature(&String::from_utf8(v.unwrap()).unwrap()).into_bytes())); none() }, &[(K::CheckpointBadSignature, None)]),
    ("checkpoint_log_signature_bit_flip", |fx| { append_log(fx.path(), &flip_note_signature(&checkpoint_at(fx, 20))); Cast::PRACTICE.policy(vec![]) }, &[(K::CheckpointBadSignature, None)]),
    // A torn final record (a write in flight, a crash) is no evidence of tampering: dropped.
    ("checkpoint_log_torn_tail_is_no_finding", |fx| { append_to_log(fx, b"300\nexample.org/pr"); none() }, &[]),
    // A record whose length line is not a number is malformed: a finding.
    ("checkpoint_log_malformed_record", |fx| { append_to_log(fx, b"3x0\nexample.org/pr"); none() }, &[(K::MalformedCheckpoint, None)]),
    ("checkpoint_of_another_origin", |fx| { add_checkpoint(fx.path(), &foreign_checkpoint(fx, "other.example/ledger", 2, 12)); none() }, &[(K::CheckpointWrongOrigin, None)]),
    ("cosignature_bit_flip", |fx| { add_checkpoint(fx.path(), &bad_cosignature(fx)); witness_policy(1) }, &[(K::CosignatureBadSignature, None), (K::WitnessQuorumNotMet, None)]),
    ("witness_quorum_not_met", |_| witness_policy(1), &[(K::WitnessQuorumNotMet, None)]),
    // One witness key counts once: listed twice, or signing two lines under two names.
    ("witness_listed_twice_counts_once", |fx| { add_checkpoint(fx.path(), &cosigned_final(fx)); one_witness_listed_twice("witness.example") }, &[(K::WitnessQuorumNotMet, None)]),
    ("witness_key_under_two_names_counts_once", |fx| { add_checkpoint(fx.path(), &cosigned_twice_by_one_key(fx)); one_witness_listed_twice("witness.example/again") }, &[(K::WitnessQuorumNotMet, None)]),
    // The auditor's cosigned copy counts though the stored note of that size has no cosignature.
    ("witness_cosignature_on_trusted_checkpoint_counts", |fx| { let mut p = witness_policy(1); p.checkpoints.push(cosigned_final(fx)); p }, &[]),
];

#[test]
fn tamper_suite() {
    let mut failures = Vec::new();
    for (name, tamper, expect) in SCENARIOS {
        let mut fx = fixture();
        let policy = tamper(&mut fx);
        let v = match SledSource::open(fx.path()).and_then(|src| verify(&src, &policy, &|_| {})) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: error {e}"));
                continue;
            }
        };
        let got: Vec<(K, Option<u64>)> = v.findings().iter().map(|f| (f.kind, f.seq)).collect();
        if std::env::var_os("SHOW_FINDINGS").is_some() {
            eprintln!(
                "{name}:\n  {}",
                v.findings()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            );
        }
        if expect.is_empty() {
            if !v.is_clean() {
                failures.push(format!(
                    "{name}: expected no findings, got:\n  {}",
                    v.findings()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ));
            }
            continue;
        }
        for e in *expect {
            if !got.contains(e) {
                failures.push(format!(
                    "{name}: missing {:?} at {:?}; got:\n  {}",
                    e.0,
                    e.1,
                    v.findings()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixture_seqs_match_the_constants() {
    let fx = fixture();
    assert_eq!(fx.seq("A.note"), A_NOTE);
    assert_eq!(fx.seq("B.note1"), B_NOTE1);
    assert_eq!(fx.seq("C.note1"), C_NOTE1);
    assert_eq!(fx.size, SIZE);
}

#[test]
fn clean_ledger_state_is_what_happened() {
    let fx = fixture();
    let v = run(&fx, &Cast::PRACTICE.policy(vec![]));
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!(v.size(), SIZE);
    assert_eq!(v.origin(), ORIGIN);
    assert!(!v.checkpoint_key_self_attested());
    let cp = v.checkpoint().unwrap();
    assert_eq!(cp.size, SIZE);
    assert_eq!(cp.root, v.root());
    let a = v.records().iter().find(|r| r.id.as_str() == "C-A").unwrap();
    assert!(a.state.destroyed.as_ref().unwrap().lawful);
    assert_eq!(v.records().len(), 4);
    assert!(run(&fx, &Policy::default()).checkpoint_key_self_attested());
}

#[test]
fn progress_is_reported() {
    let fx = fixture();
    let src = SledSource::open(fx.path()).unwrap();
    let last = std::cell::Cell::new(None);
    verify(&src, &Policy::default(), &|p| last.set(Some(p))).unwrap();
    let p = last.get().unwrap();
    assert_eq!((p.done, p.total), (SIZE, Some(SIZE)));
}

#[test]
fn nothing_to_verify_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        SledSource::open(&dir.path().join("missing")),
        Err(VerifyError::NotFound(_))
    ));
    assert!(matches!(
        SledSource::open(dir.path()),
        Err(VerifyError::NotFound(_))
    ));
    store(dir.path(), &[]);
    let src = SledSource::open(dir.path()).unwrap();
    assert!(matches!(
        verify(&src, &Policy::default(), &|_| {}),
        Err(VerifyError::Empty(_))
    ));
}

#[test]
fn a_running_writer_makes_opening_fail_clearly() {
    let fx = fixture();
    let writer = caseledger_store::Ledger::open(
        fx.path(),
        caseledger_store::OpenOptions::default().with_kek(caseledger_testkit::kek()),
    )
    .unwrap();
    let err = SledSource::open(fx.path()).unwrap_err();
    assert!(matches!(err, VerifyError::InUse(_)), "{err}");
    assert!(err.to_string().contains("in use"));
    writer.close().unwrap();
    assert!(SledSource::open(fx.path()).is_ok());
}

#[test]
fn findings_never_carry_payload_content() {
    let fx = fixture();
    edit_raw(fx.path(), "payloads", &C_NOTE1.to_be_bytes(), |v| {
        v.map(|mut v| {
            v[33] ^= 1;
            v
        })
    });
    let v = run(&fx, &Policy::default());
    assert_eq!(v.findings()[0].kind, K::CommitmentMismatch);
    let json = serde_json::to_string(v.findings()).unwrap();
    assert!(!json.contains("te c1"), "{json}");
}

/// The witness quorum is counted on the newest size's root the ledger matches (judge.rs,
/// `check_quorum`): a conflicting note the ledger key also signed for that size is a split
/// view, but the witnesses' cosignatures on the ledger's own root still count and anchor.
#[test]
fn in_a_split_view_at_the_newest_size_the_quorum_counts_on_the_ledgers_root() {
    let fx = fixture();
    add_checkpoint(fx.path(), &cosigned_final(&fx));
    append_log(
        fx.path(),
        &checkpoint_note(SIZE, caseledger_core::Hash([9; 32])),
    );
    let v = run(&fx, &witness_policy(1));
    let kinds: Vec<K> = v.findings().iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&K::SplitView), "{}", findings_text(&v));
    assert!(
        !kinds.contains(&K::WitnessQuorumNotMet),
        "{}",
        findings_text(&v)
    );
    assert_eq!(
        v.anchor().kind(),
        AnchorKind::WitnessQuorum {
            size: SIZE,
            n: 1,
            of: 1
        }
    );
}

/// A quorum met on a checkpoint the ledger no longer matches (the history was rewritten
/// after the witness cosigned) is no finding about the quorum, but it anchors nothing: the
/// anchor falls back to the newest checkpoint that matches (size 10, by the auditor's key).
#[test]
fn a_quorum_on_a_checkpoint_the_ledger_no_longer_matches_anchors_nothing() {
    let mut fx = fixture();
    add_checkpoint(fx.path(), &cosigned_final(&fx));
    insert_entry(&mut fx, 16, true);
    let v = run(&fx, &witness_policy(1));
    let kinds: Vec<K> = v.findings().iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&K::RootMismatch), "{}", findings_text(&v));
    assert!(
        !kinds.contains(&K::WitnessQuorumNotMet),
        "{}",
        findings_text(&v)
    );
    assert_eq!(v.anchor().kind(), AnchorKind::AuditorKey { size: 10 });
}

/// `witness_quorum_not_met` says how many valid cosignatures were found and how many the
/// policy requires, and adds how many distinct witness keys the policy names only when
/// they are fewer than the quorum (no ledger could then meet it).
#[test]
fn an_unmet_quorum_names_the_distinct_witnesses_only_when_they_are_too_few() {
    let quorum_message = |v: &Verified| {
        let f: Vec<_> = v
            .findings()
            .iter()
            .filter(|f| f.kind == K::WitnessQuorumNotMet)
            .collect();
        assert_eq!(f.len(), 1, "{}", findings_text(v));
        (
            f[0].evidence.message.clone(),
            f[0].evidence.expected.clone(),
            f[0].evidence.found.clone(),
        )
    };
    // One key listed twice, quorum 2: one distinct witness, fewer than the quorum.
    let fx = fixture();
    add_checkpoint(fx.path(), &cosigned_final(&fx));
    let v = run(&fx, &one_witness_listed_twice("witness.example"));
    assert_eq!(
        quorum_message(&v),
        (
            "the newest checkpoint has 1 valid cosignature(s) from distinct trusted witnesses; \
             the policy requires 2 (it names 1 distinct witness key(s))"
                .to_owned(),
            Some("2".to_owned()),
            Some("1".to_owned())
        )
    );
    // One witness, quorum 1, no cosignature: as many witnesses as the quorum, nothing added.
    let fx = fixture();
    let v = run(&fx, &witness_policy(1));
    assert_eq!(
        quorum_message(&v).0,
        "the newest checkpoint has 0 valid cosignature(s) from distinct trusted witnesses; \
         the policy requires 1"
    );
    // Two distinct witnesses, quorum 1, no cosignature: more than the quorum, nothing added.
    let other = CosignatureVerifier::new("witness2.example", key(10).public_key()).unwrap();
    let mut policy = witness_policy(1);
    policy.witnesses.push(other);
    let v = run(&fx, &policy);
    assert_eq!(
        quorum_message(&v).0,
        "the newest checkpoint has 0 valid cosignature(s) from distinct trusted witnesses; \
         the policy requires 1"
    );
}

/// The store keeps each checkpoint in the `checkpoints` tree under its size (big-endian
/// u64); one found under another key is a `malformed_checkpoint` naming its size and the
/// key, and citing the note.
#[test]
fn a_checkpoint_stored_under_a_key_other_than_its_size_is_malformed() {
    let fx = fixture();
    let at10 = checkpoint_at(&fx, 10);
    edit_raw(fx.path(), "checkpoints", &10u64.to_be_bytes(), |v| {
        assert_eq!(
            v.as_deref(),
            Some(at10.as_bytes()),
            "the seal at 10 is stored"
        );
        None
    });
    edit_raw(fx.path(), "checkpoints", &7u64.to_be_bytes(), |_| {
        Some(at10.clone().into_bytes())
    });
    let v = run(&fx, &none());
    let got: Vec<_> = v
        .findings()
        .iter()
        .map(|f| {
            (
                f.kind,
                f.evidence.message.as_str(),
                f.evidence.expected.as_deref(),
                f.evidence.found.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(
            K::MalformedCheckpoint,
            "a checkpoint is stored under a key that is not its size",
            Some("10"),
            Some("0000000000000007")
        )]
    );
    assert!(v.findings()[0]
        .evidence
        .checkpoints
        .iter()
        .any(|(s, t)| *s == CheckpointSource::Stored && *t == at10));
}

/// Progress is reported every `PROGRESS_EVERY` entries read and once at the end, no more:
/// after the practice, entries that do not decode (each a finding, no signature to check)
/// take the ledger past `PROGRESS_EVERY` cheaply.
#[test]
fn progress_is_reported_every_progress_every_entries_and_at_the_end() {
    let fx = fixture();
    let n = PROGRESS_EVERY + 10;
    {
        let db = db(fx.path());
        let entries = db.open_tree("entries").unwrap();
        for s in SIZE..n {
            entries.insert(s.to_be_bytes(), vec![1, 2, 3]).unwrap();
        }
        db.flush().unwrap();
    }
    let src = SledSource::open(fx.path()).unwrap();
    let calls = std::cell::RefCell::new(Vec::new());
    verify(&src, &Policy::default(), &|p| {
        calls.borrow_mut().push((p.done, p.total));
    })
    .unwrap();
    assert_eq!(
        calls.into_inner(),
        [(PROGRESS_EVERY, Some(n)), (n, Some(n))]
    );
}

/// Only a destruction lawful at its own date is judged again at a later clock correction
/// (docs/DESIGN.md v2, principle 4; `clock.rs`): one already unlawful is reported once, as
/// `unlawful_destruction`, and a correction setting the clock back before it adds no
/// `destruction_under_forward_clock`.
#[test]
fn an_unlawful_destruction_is_not_judged_again_at_a_later_correction() {
    let mut fx = fixture();
    append_forged(&mut fx, 4, "cust-1", "C-B", destroy("policy"), "2021-03-05");
    append_admin_on(
        &mut fx,
        EventKind::ClockCorrected {
            reason: text("clock was ahead"),
        },
        "2021-03-01",
    );
    let v = run(&fx, &none());
    let got: Vec<(K, Option<u64>)> = v.findings().iter().map(|f| (f.kind, f.seq)).collect();
    assert!(
        got.contains(&(K::UnlawfulDestruction, Some(SIZE))),
        "{}",
        findings_text(&v)
    );
    assert!(
        !got.iter()
            .any(|(k, _)| *k == K::DestructionUnderForwardClock),
        "{}",
        findings_text(&v)
    );
    assert_eq!(v.clock_corrections().len(), 1);
    assert!(v.forward_clock_destructions().is_empty());
}

/// The origin the auditor expects is held to the one genesis names: the practice's own
/// origin verifies clean, another is `origin_mismatch` at genesis (seq 0) with both
/// origins as evidence. (An insider who re-creates the ledger under another origin, to
/// split it from the one the witnesses and reports know, is caught here.)
#[test]
fn genesis_is_held_to_the_origin_the_auditor_expects() {
    let fx = fixture();
    let expecting = |origin: &str| Policy {
        expected_origin: Some(origin.to_owned()),
        ..Cast::PRACTICE.policy(vec![])
    };
    let v = run(&fx, &expecting(ORIGIN));
    assert!(v.is_clean(), "{}", findings_text(&v));
    let v = run(&fx, &expecting("other.example/ledger"));
    let f = v
        .findings()
        .iter()
        .find(|f| f.kind == K::OriginMismatch && f.seq == Some(0))
        .unwrap_or_else(|| panic!("no origin_mismatch at genesis: {}", findings_text(&v)));
    assert_eq!(f.evidence.expected.as_deref(), Some("other.example/ledger"));
    assert_eq!(f.evidence.found.as_deref(), Some(ORIGIN));
}
