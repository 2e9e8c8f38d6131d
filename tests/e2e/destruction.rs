//! Destruction that destroys (issue 13, "Done when"), through the binary with a real key
//! directory (`init --keys K`):
//!
//! * a unique canary in every payload of a record (imported and appended, eight kinds) is,
//!   after a lawful `destroy`, in no file under the ledger directory or the key directory
//!   (raw bytes, sled's segments included; as text, hex and base64), nor is the record's
//!   wrapped key, record key or any entry key; an archive and a bundle exported afterwards
//!   hold none of it, nor an archive exported without content keys before it (which holds
//!   the ciphertext); `verify` finds nothing and the record's entries are still proven
//!   against the checkpoint from before the destruction. Before the destruction the CLI's
//!   export decrypts the canary from every payload, and the key store slot opened with the
//!   key directory's KEK gives exactly the keys that open them (the positive control);
//! * the guessing attack: a payload in a known format with one low-entropy field, every value
//!   of its range tried against every 32-byte value that survives the destruction (files,
//!   archive, bundle) under every derivation a verifier or the format uses; nothing matches
//!   without the KEK, while the same attack with the salt or record key the destruction
//!   erased finds the value. With the KEK, too, nothing matches: an imported line's request
//!   key is keyed through its record's key (docs/FORMAT.md §3), erased by the destruction.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::bundle::Bundle;
use caseledger_core::content::{open_payload, seal_payload_with_nonce, EntryKey, Kek, RecordKey};
use caseledger_core::event::Payload;
use caseledger_core::hash::{entry_hash, merkle_leaf, payload_commitment};
use caseledger_core::merkle::{verify_consistency, verify_inclusion, Hash, Sha256Hasher};
use caseledger_core::{RecordId, Seq};
use caseledger_testkit::cli::{bin_in, ok, stderr, stdout, Fixture};
use caseledger_testkit::ORIGIN;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The key directory, given to `init --keys` and to every later command.
const KEYS: &str = "K";

/// Runs `caseledger` in the fixture's directory with `CASELEDGER_KEYS=K`.
fn run(f: &Fixture, args: &[&str]) -> Output {
    bin_in(f.dir())
        .env("CASELEDGER_KEYS", f.path(KEYS))
        .args(args)
        .output()
        .expect("binary runs")
}

fn run_stdin(f: &Fixture, args: &[&str], stdin: &[u8]) -> Output {
    bin_in(f.dir())
        .env("CASELEDGER_KEYS", f.path(KEYS))
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .expect("binary runs")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).expect("JSON on stdout")
}

/// A ledger `L` with keys in `K`, a licensee `lic-1` and a custodian `cust-1`.
fn practice() -> Fixture {
    let f = Fixture::empty();
    ok(&run(&f, &["init", "L", "--origin", ORIGIN, "--keys", KEYS]));
    for (id, role) in [("lic-1", "licensee"), ("cust-1", "custodian")] {
        ok(&run(
            &f,
            &["actor", "add", "--ledger", "L", "--id", id, "--role", role],
        ));
    }
    f
}

/// One JSONL ingest line.
fn line(record: &str, kind: &str, on: &str, payload: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "record": record, "kind": kind, "occurred_on": on, "author": "lic-1",
    });
    if let Some(p) = payload {
        v["payload"] = p.into();
    }
    format!("{v}\n")
}

/// `append` as lic-1 with the payload from a file (outside L and K); returns the seq.
fn append_file(f: &Fixture, record: &str, kind: &str, on: &str, extra: &[&str], text: &str) -> u64 {
    let name = format!("in-{kind}.txt");
    f.write(&name, text.as_bytes());
    let mut args = vec![
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        record,
        "--kind",
        kind,
        "--occurred-on",
        on,
        "--payload-file",
        &name,
    ];
    args.extend_from_slice(extra);
    seq_of(&run(f, &args))
}

fn seq_of(o: &Output) -> u64 {
    let out = ok(o);
    out.strip_prefix("seq ")
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seq in {out:?}"))
}

/// A key store slot (docs/FORMAT.md §6, `keystore`), read by offset as an attacker would.
struct Slot {
    index: u32,
    state: u8,
    record: String,
    wrapped: Vec<u8>,
}

fn slots(ledger: &Path) -> Vec<Slot> {
    let bytes = fs::read(ledger.join("keystore")).expect("the key store file");
    assert!(bytes.starts_with(b"caseledger keystore v2"));
    bytes[32..]
        .chunks_exact(160)
        .enumerate()
        .map(|(i, s)| Slot {
            index: u32::try_from(i).expect("slot index"),
            state: s[0],
            record: String::from_utf8_lossy(&s[2..2 + usize::from(s[1])]).into_owned(),
            wrapped: s[66..138].to_vec(),
        })
        .collect()
}

/// The record keys an attacker holding the ledger directory and the key directory's KEK
/// gets from the live slots of `record`.
fn record_keys(f: &Fixture, record: &str) -> Vec<(Vec<u8>, RecordKey)> {
    let kek: Kek = caseledger_keyfile::read_kek(&f.path(KEYS)).expect("the KEK");
    let rid = RecordId::new(record).expect("record id");
    slots(&f.ledger())
        .into_iter()
        .filter(|s| s.record == record)
        .filter_map(|s| {
            kek.unwrap(ORIGIN, &rid, s.index, &s.wrapped)
                .ok()
                .map(|k| (s.wrapped, k))
        })
        .collect()
}

/// The payloads of a bundle opened with the bundle's own entry keys: (seq, entry key,
/// stored bytes, payload).
fn opened(bundle: &Bundle) -> Vec<(u64, [u8; 32], Vec<u8>, Payload)> {
    bundle
        .entries
        .iter()
        .filter_map(|e| {
            let stored = e.payload.as_ref()?.0.clone();
            let key: [u8; 32] = e.key.as_ref()?.0.as_slice().try_into().expect("32 bytes");
            let p = open_payload(
                &EntryKey::from_bytes(key),
                ORIGIN,
                &bundle.record,
                Seq(e.seq),
                &stored,
            )
            .expect("the bundle's key opens its payload");
            Some((e.seq, key, stored, p))
        })
        .collect()
}

fn export(f: &Fixture, record: &str, out: &str) -> Bundle {
    ok(&run(
        f,
        &["export", "--ledger", "L", "--record", record, "--out", out],
    ));
    Bundle::from_json(&fs::read(f.path(out)).expect("bundle")).expect("a bundle")
}

/// Every form a secret could be stored or printed in: raw, hex (both cases), and base64 at
/// the three alignments (without the alignment-dependent ends).
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut v = vec![
        secret.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
    ];
    for skip in 0..3 {
        let e = B64.encode(&secret[skip..]);
        v.push(e.as_bytes()[4..e.len() - 4].to_vec());
    }
    v
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The files under `dirs` (recursively) holding any form of any secret: (file, what).
fn holders(dirs: &[PathBuf], secrets: &[(String, Vec<u8>)]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for d in dirs {
        let files = if d.is_dir() {
            caseledger_testkit::files_under(d)
        } else {
            vec![d.clone()]
        };
        for p in files {
            let b = fs::read(&p).expect("read");
            for (what, s) in secrets {
                if forms(s).iter().any(|form| find(&b, form)) {
                    found.push((p.clone(), what.clone()));
                }
            }
        }
    }
    found
}

/// Every file under the ledger directory and the key directory, and how many bytes.
fn scanned(f: &Fixture) -> (Vec<PathBuf>, u64) {
    let mut files = caseledger_testkit::files_under(&f.ledger());
    files.extend(caseledger_testkit::files_under(&f.path(KEYS)));
    let bytes = files
        .iter()
        .map(|p| fs::metadata(p).expect("meta").len())
        .sum();
    (files, bytes)
}

/// The checkpoint note's size and root.
fn size_root(note: &str) -> (u64, Hash) {
    let mut l = note.lines().skip(1);
    let size = l.next().and_then(|s| s.parse().ok()).expect("size line");
    let root = l.next().and_then(|s| s.parse().ok()).expect("root line");
    (size, root)
}

#[test]
fn a_destroyed_records_canary_is_in_no_file_of_the_ledger_or_key_directory() {
    let f = practice();
    let canary = format!("CANARY-{:032x}", rand::random::<u128>());
    let kept_canary = format!("KEPT-{:032x}", rand::random::<u128>());
    // Import: five kinds, each payload with the canary; and a record that stays.
    let fee = serde_json::json!({"fee_usd": 80, "sliding_scale": true, "memo": canary}).to_string();
    let mut jsonl = String::new();
    for (kind, on, p) in [
        (
            "record_opened",
            "2018-03-01",
            format!("intake {canary} referred by GP"),
        ),
        (
            "presenting_problem",
            "2018-03-01",
            format!("{canary} low mood"),
        ),
        ("assessment", "2018-03-02", format!("assessment {canary}")),
        ("fee_arrangement", "2018-03-02", fee.clone()),
        ("plan_of_action", "2018-03-03", format!("plan: {canary}")),
    ] {
        jsonl.push_str(&line("C-GONE", kind, on, Some(&p)));
    }
    jsonl.push_str(&line(
        "C-KEPT",
        "record_opened",
        "2018-03-01",
        Some(&kept_canary),
    ));
    f.write("events.jsonl", jsonl.as_bytes());
    ok(&run(&f, &["import", "--ledger", "L", "events.jsonl"]));
    // Append: a note from a file, its amendment, a contact from stdin, the termination.
    let note = append_file(
        &f,
        "C-GONE",
        "progress_note",
        "2018-04-10",
        &[],
        &format!("note {canary}"),
    );
    let amends = note.to_string();
    append_file(
        &f,
        "C-GONE",
        "amendment",
        "2018-04-11",
        &["--amends", &amends],
        &format!("corrected: {canary}"),
    );
    seq_of(&run_stdin(
        &f,
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-1",
            "--record",
            "C-GONE",
            "--kind",
            "contact",
            "--occurred-on",
            "2018-05-01",
            "--payload",
            "-",
        ],
        format!("phone call {canary}").as_bytes(),
    ));
    append_file(
        &f,
        "C-GONE",
        "service_terminated",
        "2019-01-15",
        &["--reason", "completed"],
        &format!("closing summary {canary}"),
    );
    let planted = 9;

    // Positive control: before the destruction the canary is recoverable, from the CLI's
    // export and from the ledger and key directories alone.
    let before = export(&f, "C-GONE", "pre.bundle");
    let payloads = opened(&before);
    assert_eq!(
        payloads.len(),
        planted,
        "every planted payload is in the bundle"
    );
    for (seq, _, _, p) in &payloads {
        assert!(
            find(p.content(), canary.as_bytes()),
            "seq {seq}: the canary is not in its payload"
        );
    }
    let keys = record_keys(&f, "C-GONE");
    assert_eq!(keys.len(), 1, "one live slot of C-GONE opens with the KEK");
    let (wrapped, record_key) = &keys[0];
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("the canary".into(), canary.clone().into_bytes()),
        ("the wrapped record key".into(), wrapped.clone()),
        ("the record key".into(), record_key.as_bytes().to_vec()),
    ];
    for (seq, key, stored, _) in &payloads {
        // The key directory and the key store derive exactly the bundle's entry keys, and
        // those open the stored bytes: everything needed to read the record is there.
        assert_eq!(record_key.entry_key(Seq(*seq)).as_bytes(), key, "seq {seq}");
        assert!(open_payload(
            &EntryKey::from_bytes(*key),
            ORIGIN,
            &before.record,
            Seq(*seq),
            stored
        )
        .is_ok());
        secrets.push((format!("the entry key of seq {seq}"), key.to_vec()));
    }
    let dirs = [f.ledger(), f.path(KEYS)];
    let found = holders(&dirs, &secrets);
    // The scan finds what is there: the wrapped key in the key store. Payloads are stored
    // encrypted, so the canary was never in any file, even before the destruction.
    assert!(
        found
            .iter()
            .any(|(p, what)| p.ends_with("keystore") && what == "the wrapped record key"),
        "positive control: {found:?}"
    );
    assert!(
        !found.iter().any(|(_, what)| what == "the canary"),
        "plaintext stored: {found:?}"
    );
    // And it reaches sled's values: every payload's stored bytes are in sled's files.
    let ciphertexts: Vec<(String, Vec<u8>)> = payloads
        .iter()
        .map(|(seq, _, stored, _)| (format!("the stored payload of seq {seq}"), stored.clone()))
        .collect();
    let in_sled = |c: &[(String, Vec<u8>)]| {
        let mut seen: Vec<String> = holders(&[f.ledger().join("sled")], c)
            .into_iter()
            .map(|(_, what)| what)
            .collect();
        seen.sort();
        seen.dedup();
        seen.len()
    };
    assert_eq!(
        in_sled(&ciphertexts),
        planted,
        "positive control: sled is read"
    );
    // An archive taken before the destruction without content keys: the ciphertext, no key.
    ok(&run(
        &f,
        &["archive", "export", "--ledger", "L", "--out", "pre.cla"],
    ));
    let in_pre = holders(&[f.path("pre.cla")], &ciphertexts);
    assert_eq!(
        in_pre.len(),
        planted,
        "the earlier archive holds every ciphertext"
    );
    let cp_before = stdout(&run(&f, &["checkpoint", "--ledger", "L"]));
    f.write("cp-before.txt", cp_before.as_bytes());
    let (size_before, root_before) = size_root(&cp_before);

    // Lawful destruction (service ended 2019-01-15; retention ran out in 2024).
    let out = ok(&run(
        &f,
        &[
            "destroy",
            "--ledger",
            "L",
            "--record",
            "C-GONE",
            "--author",
            "cust-1",
            "--reason",
            "policy R-7",
        ],
    ));
    assert!(out.starts_with("seq "), "{out}");
    // And what is exported afterwards, beside the ledger.
    let after = export(&f, "C-GONE", "post.bundle");
    ok(&run(
        &f,
        &["archive", "export", "--ledger", "L", "--out", "a.cla"],
    ));
    ok(&run(
        &f,
        &[
            "archive",
            "export",
            "--ledger",
            "L",
            "--out",
            "a-keys.cla",
            "--with-content-keys",
        ],
    ));

    // Nothing of the record's content or keys is left in any file.
    let (files, bytes) = scanned(&f);
    // Ciphertext may stay in sled's old segments until sled reuses them: without the key it
    // is noise (measured, not a condition).
    let lingering = in_sled(&ciphertexts);
    assert!(
        files.iter().any(|p| p.starts_with(f.ledger().join("sled"))),
        "sled's files are scanned"
    );
    let mut everywhere = dirs.to_vec();
    everywhere.extend(["post.bundle", "a.cla", "a-keys.cla", "pre.cla"].map(|n| f.path(n)));
    let found = holders(&everywhere, &secrets);
    assert!(found.is_empty(), "after a lawful destruction: {found:?}");
    let gone: Vec<Slot> = slots(&f.ledger())
        .into_iter()
        .filter(|s| s.record == "C-GONE")
        .collect();
    assert!(!gone.is_empty());
    for s in &gone {
        assert_eq!(s.state, 2, "slot {} is erased", s.index);
        assert!(
            s.wrapped.iter().all(|&b| b == 0),
            "slot {} is zeroed",
            s.index
        );
    }
    assert!(record_keys(&f, "C-GONE").is_empty());
    assert!(
        after
            .entries
            .iter()
            .all(|e| e.payload.is_none() && e.key.is_none()),
        "the bundle after destruction carries no payload or key"
    );

    // The ledger verifies clean, against the checkpoint from before the destruction too.
    let v = json(&run(
        &f,
        &[
            "--json",
            "verify",
            "--ledger",
            "L",
            "--trusted",
            "cp-before.txt",
        ],
    ));
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["content_keys"], "checked", "{v}");
    for args in [
        vec!["verify", "--bundle", "post.bundle"],
        vec!["verify", "--archive", "a.cla"],
        vec!["verify", "--archive", "a-keys.cla"],
    ] {
        let o = run(&f, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    // The record's proofs: every entry of it (the destroyed ones and the destruction) is
    // included in the checkpoint from before the destruction or the newest one, and the
    // newest tree extends the old one.
    let con = json(&run(
        &f,
        &[
            "prove",
            "consistency",
            "--ledger",
            "L",
            "--from",
            &size_before.to_string(),
        ],
    ));
    let h = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.parse::<Hash>().ok())
            .expect("hash")
    };
    let hashes = |v: &serde_json::Value| -> Vec<Hash> {
        v.as_array().expect("array").iter().map(h).collect()
    };
    assert_eq!(h(&con["root1"]), root_before);
    let size_now = con["size2"].as_u64().expect("size2");
    verify_consistency(
        &Sha256Hasher,
        size_before,
        size_now,
        &hashes(&con["proof"]),
        &root_before,
        &h(&con["root2"]),
    )
    .expect("the tree after the destruction extends the one before");
    assert!(after.entries.len() > planted);
    for e in &after.entries {
        let leaf = merkle_leaf(&entry_hash(&e.entry.0));
        let (size, root) = if e.seq < size_before {
            (size_before, root_before)
        } else {
            (size_now, h(&con["root2"]))
        };
        let inc = json(&run(
            &f,
            &[
                "prove",
                "inclusion",
                "--ledger",
                "L",
                "--seq",
                &e.seq.to_string(),
                "--size",
                &size.to_string(),
            ],
        ));
        assert_eq!(h(&inc["leaf_hash"]), leaf, "seq {}", e.seq);
        verify_inclusion(
            &Sha256Hasher,
            e.seq,
            size,
            &leaf,
            &hashes(&inc["proof"]),
            &root,
        )
        .unwrap_or_else(|err| panic!("seq {}: {err:?}", e.seq));
    }
    // Destruction was of that record only: the kept record still opens.
    let kept = export(&f, "C-KEPT", "kept.bundle");
    let kept = opened(&kept);
    assert_eq!(kept.len(), 1);
    assert!(find(kept[0].3.content(), kept_canary.as_bytes()));
    println!(
        "destruction: canary of {planted} payloads, the wrapped and record keys and {planted} entry keys in none of {} files ({bytes} bytes) under L and K, nor in the archives and bundle exported afterwards; {lingering} of {planted} ciphertexts still in sled's segments (unreadable: the key is gone)",
        files.len()
    );
}

/// Every 32-byte window of every file under `paths` (recursively), and of `extra`.
fn windows32(paths: &[PathBuf], extra: &[Vec<u8>]) -> HashSet<[u8; 32]> {
    let mut set = HashSet::new();
    let mut add = |b: &[u8]| {
        for w in b.windows(32) {
            set.insert(<[u8; 32]>::try_from(w).expect("32 bytes"));
        }
    };
    for p in paths {
        let files = if p.is_dir() {
            caseledger_testkit::files_under(p)
        } else {
            vec![p.clone()]
        };
        for file in files {
            add(&fs::read(&file).expect("read"));
        }
    }
    for b in extra {
        add(b);
    }
    set
}

/// What a verifier or the format could derive from a guessed payload without the secrets a
/// destruction erases: plain hashes, the commitment with no or a zero salt (v1 and v2
/// contexts), the ciphertext digest of the text or of its unencrypted framing.
fn keyless_checks(guess: &[u8]) -> Vec<[u8; 32]> {
    let mut framed = vec![0u8; 32];
    framed.extend_from_slice(&u32::try_from(guess.len()).expect("short").to_le_bytes());
    framed.extend_from_slice(guess);
    framed.resize(framed.len().div_ceil(256) * 256, 0);
    let mut v = vec![
        *blake3::hash(guess).as_bytes(),
        payload_commitment(&[0; 32], guess).0,
        blake3::derive_key("caseledger payload v2", guess),
        blake3::derive_key("caseledger payload v1", guess),
        blake3::derive_key("caseledger ciphertext v2", guess),
        blake3::derive_key("caseledger ciphertext v2", &framed),
        *blake3::hash(&framed).as_bytes(),
    ];
    v.dedup();
    v
}

/// The import request key of line `line` of a file whose digest is `digest` (docs/FORMAT.md
/// §3): keyed by the KEK (or the origin, for a ledger without one).
fn request_key(secret: &[u8], digest: &[u8; 32], line: u64) -> [u8; 32] {
    let k = blake3::derive_key("caseledger import request v2", secret);
    let mut h = blake3::Hasher::new_keyed(&k);
    h.update(digest);
    h.update(&line.to_be_bytes());
    *h.finalize().as_bytes()
}

/// A record's import line secret (docs/FORMAT.md §3): dies with the record key.
fn line_secret(key: &[u8]) -> [u8; 32] {
    blake3::derive_key("caseledger import line v2", key)
}

/// The digest an import file is keyed on (docs/FORMAT.md §3): each line (1-based, this
/// file has no blank lines) hashed under `secret_of(line number)`.
fn file_digest(file: &[u8], secret_of: impl Fn(u64) -> [u8; 32]) -> [u8; 32] {
    let mut d = blake3::Hasher::new_derive_key("caseledger import file v2");
    for (i, l) in file
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let n = u64::try_from(i + 1).expect("line number");
        let mut h = blake3::Hasher::new_keyed(&secret_of(n));
        h.update(&n.to_be_bytes());
        h.update(l);
        d.update(h.finalize().as_bytes());
    }
    *d.finalize().as_bytes()
}

#[test]
fn a_guessing_attack_on_what_survives_a_destruction_matches_nothing_without_the_kek() {
    let f = practice();
    // Two payloads of a known format with one low-entropy field: a fee in 0..=1000
    // (appended) and a date in 2018 (imported; the file is the record system's usual
    // multi-line export, so its digest is not guessable from this one record).
    let fee_of = |n: u32| format!("{{\"fee_usd\": {n}}}");
    let date_of = |d: &str| format!("next session {d}");
    let fee = rand::random::<u32>() % 1001;
    let mut dates = Vec::new();
    let mut d = caseledger_core::Date::parse("2018-01-01").expect("date");
    while d.year() == 2018 {
        dates.push(d.to_string());
        d = d.next_day().expect("next day");
    }
    let date = dates[usize::try_from(rand::random::<u32>() % 365).expect("index")].clone();
    let mut jsonl = line("C-FEE", "record_opened", "2018-03-01", None);
    jsonl.push_str(&line(
        "C-FEE",
        "contact",
        "2018-03-02",
        Some(&date_of(&date)),
    ));
    jsonl.push_str(&line(
        "C-OTHER",
        "record_opened",
        "2018-03-02",
        Some(&format!("intake {:032x}", rand::random::<u128>())),
    ));
    f.write("events.jsonl", jsonl.as_bytes());
    ok(&run(&f, &["import", "--ledger", "L", "events.jsonl"]));
    let fee_seq = append_file(
        &f,
        "C-FEE",
        "fee_arrangement",
        "2018-03-03",
        &[],
        &fee_of(fee),
    );
    append_file(
        &f,
        "C-FEE",
        "service_terminated",
        "2019-01-15",
        &[],
        "ended",
    );
    // Before the destruction: the secrets it will erase (the salts inside the plaintext, the
    // record key), as the key directory and the key store give them.
    let bundle = export(&f, "C-FEE", "pre.bundle");
    let payloads = opened(&bundle);
    let (_, _, fee_stored, fee_payload) = payloads
        .iter()
        .find(|p| p.0 == fee_seq)
        .expect("the fee payload");
    assert_eq!(fee_payload.content(), fee_of(fee).as_bytes());
    let date_payload = &payloads
        .iter()
        .find(|p| p.3.content() == date_of(&date).as_bytes())
        .expect("the date payload")
        .3;
    let [(_, record_key)] = &record_keys(&f, "C-FEE")[..] else {
        panic!("one live slot for C-FEE");
    };
    let nonce: [u8; 24] = fee_stored[..24].try_into().expect("nonce");
    let rid = RecordId::new("C-FEE").expect("record");
    ok(&run(
        &f,
        &[
            "destroy",
            "--ledger",
            "L",
            "--record",
            "C-FEE",
            "--author",
            "cust-1",
            "--reason",
            "policy R-7",
        ],
    ));
    ok(&run(
        &f,
        &["archive", "export", "--ledger", "L", "--out", "a.cla"],
    ));
    let after = export(&f, "C-FEE", "post.bundle");
    // Everything that survives: every file of the ledger directory (entries with their
    // commitments and content seals, sled's old segments, request-key rows, the erased key
    // store slot) and of the key directory (the KEK included), the archive, the bundle's
    // decoded entries and proofs.
    let mut decoded: Vec<Vec<u8>> = Vec::new();
    for e in after.entries.iter().chain(&after.admin_entries) {
        decoded.push(e.entry.0.clone());
        decoded.extend(e.proof.iter().map(|p| p.0.clone()));
    }
    let survivors = windows32(
        &[
            f.ledger(),
            f.path(KEYS),
            f.path("a.cla"),
            f.path("post.bundle"),
        ],
        &decoded,
    );
    assert!(survivors.len() > 1000, "{}", survivors.len());
    let kek = *caseledger_keyfile::read_kek(&f.path(KEYS))
        .expect("the KEK survives")
        .as_bytes();
    // Without the erased secrets: no value of either range matches any keyless derivation,
    // nor a request key keyed as a ledger without a KEK keys it (by the origin), at every
    // line number of the import file rebuilt around the guess.
    let file_with = |g: &str| -> Vec<u8> {
        let old = serde_json::to_string(&date_of(&date)).expect("json");
        jsonl
            .replace(&old, &serde_json::to_string(g).expect("json"))
            .into_bytes()
    };
    let mut tried = 0usize;
    let mut hits = Vec::new();
    let mut kek_hits = Vec::new();
    let guesses: Vec<String> = (0..=1000u32)
        .map(fee_of)
        .chain(dates.iter().map(|d| date_of(d)))
        .collect();
    // The KEK's holder (the key directory survives a destruction) has the KEK's line
    // secret and the live C-OTHER's record key, not C-FEE's erased one (lines 1 and 2).
    let kek_secret = line_secret(&kek);
    let [(_, other_key)] = &record_keys(&f, "C-OTHER")[..] else {
        panic!("one live slot for C-OTHER");
    };
    let other_secret = line_secret(other_key.as_bytes());
    let fee_secret = line_secret(record_key.as_bytes());
    let secrets = |fee_lines: [u8; 32]| move |n: u64| if n == 3 { other_secret } else { fee_lines };
    let mut with_erased_key = Vec::new();
    for g in &guesses {
        let file = file_with(g);
        let mut checks = keyless_checks(g.as_bytes());
        let plain = *blake3::hash(&file).as_bytes();
        checks.extend((0..=4).map(|l| request_key(ORIGIN.as_bytes(), &plain, l)));
        for c in checks {
            tried += 1;
            if survivors.contains(&c) {
                hits.push(g.clone());
            }
        }
        // What the KEK's holder can derive: the whole file's hash (format before
        // 2026-12-02), or the per-line digest with the secrets it has.
        let digests = [
            plain,
            file_digest(&file, secrets(kek_secret)),
            file_digest(&file, |_| kek_secret),
            file_digest(&file, |_| other_secret),
        ];
        for digest in &digests {
            for l in 0..=4 {
                tried += 1;
                if survivors.contains(&request_key(&kek, digest, l)) {
                    kek_hits.push(g.clone());
                }
            }
        }
        // Positive control: with the record key the destruction erased, the same attack
        // confirms the destroyed line (once per line of the file).
        let digest = file_digest(&file, secrets(fee_secret));
        for l in 0..=4 {
            if survivors.contains(&request_key(&kek, &digest, l)) {
                with_erased_key.push(g.clone());
            }
        }
    }
    assert!(tried > guesses.len() * 12, "{tried}");
    assert!(
        hits.is_empty(),
        "guesses confirmed after destruction: {hits:?}"
    );
    // An imported line's request key commits to the file through per-line hashes keyed by
    // each line's record key: after the destruction, not even the KEK's holder (who can
    // rebuild the rest of the file) can recompute it to confirm a guess.
    assert!(
        kek_hits.is_empty(),
        "guesses confirmed with the KEK after destruction: {kek_hits:?}"
    );
    let expected: Vec<String> = std::iter::repeat_n(date_of(&date), 3).collect();
    assert_eq!(
        with_erased_key, expected,
        "positive control: the erased record key confirms the imported date"
    );
    // The same attack with what the destruction erased finds the value: the salt (inside
    // the plaintext) against the surviving commitment; the record key, salt and nonce
    // against the surviving content seal.
    let with_salt: Vec<u32> = (0..=1000)
        .filter(|&n| {
            survivors.contains(&payload_commitment(fee_payload.salt(), fee_of(n).as_bytes()).0)
        })
        .collect();
    assert_eq!(with_salt, vec![fee], "positive control: the salt");
    let entry_key = record_key.entry_key(Seq(fee_seq));
    let with_key: Vec<u32> = (0..=1000)
        .filter(|&n| {
            let p = Payload::with_salt(*fee_payload.salt(), fee_of(n).into_bytes());
            let stored = seal_payload_with_nonce(&entry_key, ORIGIN, &rid, Seq(fee_seq), &p, nonce);
            survivors.contains(&blake3::derive_key("caseledger ciphertext v2", &stored))
        })
        .collect();
    assert_eq!(with_key, vec![fee], "positive control: the record key");
    let dates_with_salt: Vec<&String> = dates
        .iter()
        .filter(|d| {
            survivors.contains(&payload_commitment(date_payload.salt(), date_of(d).as_bytes()).0)
        })
        .collect();
    assert_eq!(
        dates_with_salt,
        vec![&date],
        "positive control: the date's salt"
    );
    println!(
        "guessing attack: {tried} derivations of 1001 fees and 365 dates against {} surviving 32-byte values: 0 matches without the KEK; with the KEK: 0; with the erased salt or record key: 1 each (the imported date through its file's request keys, once per line)",
        survivors.len()
    );
}
