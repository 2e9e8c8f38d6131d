//! Golden vectors: a small deterministic ledger built with fixed TEST keys. The test
//! rebuilds it and fails on any byte difference from `ledger-data/vectors/golden-ledger.json`.
//!
//! A change of bytes must never be an accident. If the format changes on purpose, update
//! docs/FORMAT.md, regenerate with `CASELEDGER_REGEN_GOLDEN=1 cargo test -p caseledger-core
//! --test golden`, and say so in the commit message.

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::content::{seal_payload_with_nonce, Kek, RecordKey};
use caseledger_core::event::{
    AuthorSignature, ContentSeal, Entry, Event, EventKind, LedgerSettings, Payload, Placement,
    Role, ShortText, TerminationReason, TimeZoneName, EVENT_SSHSIG_NAMESPACE, FORMAT_VERSION,
    LEDGER_ACTOR,
};
use caseledger_core::hash;
use caseledger_core::ids::{ActorId, EntryHash, Nonce, RecordId, Seq};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{CompactRange, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_core::record::{LedgerState, Step};
use caseledger_core::time::{Date, Timestamp};
use serde_json::{json, Value};

const ORIGIN: &str = "golden.caseledger.example/test-ledger";

fn path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ledger-data/vectors/golden-ledger.json")
}

/// Builds the golden ledger. Every input is fixed: keys from constant seeds, nonces and
/// salts from the seq, timestamps from a fixed start.
fn build() -> Value {
    let admin = SigningKey::from_seed(&[0x01; 32]);
    let ledger = SigningKey::from_seed(&[0x02; 32]);
    let lic = SigningKey::from_seed(&[0x03; 32]);
    let cus = SigningKey::from_seed(&[0x04; 32]);
    let id = |s: &str| ActorId::new(s).unwrap();
    let rec = |s: &str| Some(RecordId::new(s).unwrap());
    let d = |s: &str| Date::parse(s).unwrap();
    let text = |s: &str| ShortText::new(s).unwrap();

    // (author key, author, record, kind, occurred_on, payload)
    type Row<'a> = (
        &'a SigningKey,
        &'a str,
        Option<RecordId>,
        EventKind,
        &'a str,
        Option<&'a str>,
    );
    let rows: Vec<Row> = vec![
        (
            &admin,
            "admin",
            None,
            EventKind::Genesis {
                origin: text(ORIGIN),
                admin: id("admin"),
                admin_key: admin.public_key(),
                ledger_key: ledger.public_key(),
                settings: LedgerSettings {
                    private_practice: true,
                    time_zone: TimeZoneName::new("America/Chicago").unwrap(),
                    clock_skew_secs: 300,
                    max_signing_lag_secs: 86_400,
                    backup_retention_days: 35,
                },
            },
            "2020-01-02",
            None,
        ),
        (
            &admin,
            "admin",
            None,
            EventKind::ActorEnrolled {
                actor: id("lic-01"),
                role: Role::Licensee,
                public_key: lic.public_key(),
            },
            "2020-01-02",
            None,
        ),
        (
            &admin,
            "admin",
            None,
            EventKind::ActorEnrolled {
                actor: id("custodian-01"),
                role: Role::Custodian,
                public_key: cus.public_key(),
            },
            "2020-01-02",
            None,
        ),
        (
            &lic,
            "lic-01",
            rec("C-0001"),
            EventKind::RecordOpened,
            "2020-01-06",
            None,
        ),
        (
            &lic,
            "lic-01",
            rec("C-0001"),
            EventKind::PresentingProblem,
            "2020-01-06",
            Some("Synthetic: client reports sleep disruption."),
        ),
        (
            &lic,
            "lic-01",
            rec("C-0001"),
            EventKind::ProgressNote,
            "2020-01-13",
            Some("Synthetic progress note one."),
        ),
        (
            &lic,
            "lic-01",
            rec("C-0002"),
            EventKind::RecordOpened,
            "2020-01-14",
            None,
        ),
        (
            &lic,
            "lic-01",
            rec("C-0002"),
            EventKind::FeeArrangement,
            "2020-01-14",
            Some("$80 per session"),
        ),
        (
            &lic,
            "lic-01",
            rec("C-0001"),
            EventKind::ServiceTerminated {
                terminated_on: d("2020-02-29"),
                reason: TerminationReason::Completed,
            },
            "2020-02-29",
            None,
        ),
        (
            &lic,
            "lic-01",
            rec("C-0001"),
            EventKind::TerminationNotice,
            "2020-03-02",
            Some("Synthetic termination letter."),
        ),
        (
            &cus,
            "custodian-01",
            rec("C-0002"),
            EventKind::HoldPlaced {
                matter: text("MO-2020-017"),
            },
            "2020-03-03",
            None,
        ),
        (
            &lic,
            "lic-01",
            rec("C-0002"),
            EventKind::Amendment { amends: Seq(7) },
            "2020-03-04",
            Some("Correction: fee is $85 per session."),
        ),
        // Signed through ssh-agent: the SSHSIG scheme (see `sign` below).
        (
            &lic,
            "lic-01",
            rec("C-0002"),
            EventKind::ProgressNote,
            "2020-03-04",
            Some("Synthetic progress note signed through ssh-agent."),
        ),
        // The system clock was set back half a second: the admin records it.
        (
            &admin,
            "admin",
            None,
            EventKind::ClockCorrected {
                reason: text("NTP step after a wrong manual setting"),
            },
            "2020-03-05",
            None,
        ),
        // Written by the ledger at export; `entries` and `last` are filled in from the fold.
        (
            &ledger,
            LEDGER_ACTOR,
            rec("C-0001"),
            EventKind::RecordHead {
                entries: 0,
                last: Seq(0),
            },
            "2020-03-05",
            None,
        ),
        // The admin ends the ledger's life: nothing may follow.
        (
            &admin,
            "admin",
            None,
            EventKind::LedgerClosed {
                reason: text("practice closed, policy R-9"),
            },
            "2020-03-05",
            None,
        ),
    ];
    // Content keys: the KEK, each record's key and key store slot, all from fixed bytes.
    let kek = Kek::from_bytes([0x05; 32]);
    let record_key = |r: &RecordId| match r.as_str() {
        "C-0001" => (RecordKey::from_bytes([0x11; 32]), 0u32),
        _ => (RecordKey::from_bytes([0x12; 32]), 1u32),
    };
    let wrapped = |r: &RecordId| {
        let (rk, slot) = record_key(r);
        kek.wrap_with_nonce(
            ORIGIN,
            r,
            slot,
            &rk,
            [u8::try_from(slot).unwrap() + 0xB0; 24],
        )
    };

    let mut state = LedgerState::default();
    let mut range = CompactRange::new();
    let mut prev = EntryHash::ZERO;
    let mut entries = vec![];
    let mut roots = vec![hex::encode(range.root(&Sha256Hasher))];
    let start = Timestamp::start_of(d("2020-03-05")).unwrap().micros();
    for (i, (key, author, record, kind, occurred, payload)) in rows.into_iter().enumerate() {
        let seq = Seq(i as u64);
        let payload = payload
            .map(|p| Payload::with_salt([u8::try_from(i).unwrap(); 32], p.as_bytes().to_vec()));
        let mut nonce = [0xA5u8; 16];
        nonce[8..].copy_from_slice(&seq.0.to_be_bytes());
        let placement = record.as_ref().map(|r| {
            state.records.get(r).map_or(
                Placement {
                    ordinal: 1,
                    prev_in_record: None,
                },
                |s| s.next_placement(),
            )
        });
        let kind = match (kind, record.as_ref().and_then(|r| state.records.get(r))) {
            (EventKind::RecordHead { .. }, Some(r)) => EventKind::RecordHead {
                entries: r.entries,
                last: r.last_seq,
            },
            (k, _) => k,
        };
        let recorded_at = match kind {
            EventKind::ClockCorrected { .. } => {
                Timestamp(start + 1_000_000 * (i as i64 - 1) - 500_000)
            }
            _ => Timestamp(start + 1_000_000 * i as i64),
        };
        let event = Event {
            record,
            author: id(author),
            kind,
            occurred_on: d(occurred),
            signed_at: Timestamp(recorded_at.micros() - 250_000),
            commitment: payload.as_ref().map(Payload::commitment),
            nonce: Nonce(nonce),
        };
        let msg = event.signing_message(ORIGIN).unwrap();
        let sshsig = event.kind == EventKind::ProgressNote && event.record == rec("C-0002");
        let signed = event.with_signature(if sshsig {
            AuthorSignature::SshSig(key.sign(&caseledger_core::sshsig::signed_data_sha512(
                EVENT_SSHSIG_NAMESPACE,
                &msg,
            )))
        } else {
            AuthorSignature::Ed25519(key.sign(&msg))
        });
        let stored = match (&payload, &signed.event.record) {
            (Some(p), Some(r)) => {
                let (rk, slot) = record_key(r);
                let ct = seal_payload_with_nonce(
                    &rk.entry_key(seq),
                    ORIGIN,
                    r,
                    seq,
                    p,
                    [u8::try_from(i).unwrap() + 0xC0; 24],
                );
                Some((
                    ct,
                    slot,
                    hex::encode(rk.entry_key(seq).as_bytes()),
                    wrapped(r),
                ))
            }
            _ => None,
        };
        let entry = Entry {
            format_version: FORMAT_VERSION,
            seq,
            prev,
            recorded_at,
            placement,
            prev_registry: state.registry.last_change,
            content: stored.as_ref().map(|(ct, slot, _, w)| ContentSeal {
                ciphertext: hash::ciphertext_digest(ct),
                key_slot: *slot,
                wrapped_key: hash::wrapped_key_digest(w),
            }),
            event: signed,
        };
        let rk_of = entry.event.event.record.as_ref().map(record_key);
        let opened = match (&stored, &entry.event.event.record, &rk_of) {
            (Some((ct, ..)), Some(r), Some((rk, _))) => Some(
                caseledger_core::content::open_payload(&rk.entry_key(seq), ORIGIN, r, seq, ct)
                    .unwrap(),
            ),
            _ => None,
        };
        assert_eq!(
            opened, payload,
            "golden ciphertext {i} opens to its payload"
        );
        entry
            .event
            .verify(
                ORIGIN,
                &state
                    .registry
                    .author_key(&entry.event.event)
                    .unwrap_or_else(|| {
                        // Genesis names its own key; the fold knows every other author.
                        admin.public_key()
                    }),
            )
            .unwrap_or_else(|e| panic!("golden entry {i} signature: {e}"));
        state
            .step(Step {
                seq,
                recorded_at: entry.recorded_at,
                placement: entry.placement,
                prev_registry: entry.prev_registry,
                event: &entry.event.event,
            })
            .unwrap_or_else(|v| panic!("golden entry {i} refused: {v}"));
        let bytes = entry.to_bytes().unwrap();
        assert_eq!(Entry::from_bytes(&bytes).unwrap(), entry);
        let h = hash::entry_hash(&bytes);
        let leaf = hash::merkle_leaf(&h);
        range.append(&Sha256Hasher, leaf).unwrap();
        roots.push(hex::encode(range.root(&Sha256Hasher)));
        entries.push(json!({
            "seq": seq.0,
            "kind": entry.event.event.kind.kind().name(),
            "entry_bytes": hex::encode(&bytes),
            "event_bytes": hex::encode(entry.event.event.to_bytes().unwrap()),
            "entry_hash": h.to_hex(),
            "merkle_leaf": hex::encode(leaf),
            "payload_plaintext": payload.as_ref().map(|p| hex::encode(p.to_stored())),
            "payload_stored": stored.as_ref().map(|(ct, ..)| hex::encode(ct)),
            "entry_key": stored.as_ref().map(|(_, _, k, _)| k.clone()),
            "commitment": payload.as_ref().map(|p| p.commitment().to_hex()),
        }));
        prev = h;
    }
    let cp = Checkpoint::new(ORIGIN, range.size(), range.root(&Sha256Hasher)).unwrap();
    let signer = NoteSigner::new(ORIGIN, ledger.clone()).unwrap();
    json!({
        "about": "caseledger golden vectors. TEST KEYS ONLY: the seeds below are public; never use them for real records. See docs/FORMAT.md.",
        "format_version": FORMAT_VERSION,
        "origin": ORIGIN,
        "test_key_seeds": {
            "admin": hex::encode([0x01u8; 32]),
            "ledger": hex::encode([0x02u8; 32]),
            "lic-01": hex::encode([0x03u8; 32]),
            "custodian-01": hex::encode([0x04u8; 32]),
        },
        "content_kek": hex::encode([0x05u8; 32]),
        "record_keys": {
            "C-0001": { "key": hex::encode([0x11u8; 32]), "slot": 0, "wrapped": hex::encode(wrapped(&RecordId::new("C-0001").unwrap())) },
            "C-0002": { "key": hex::encode([0x12u8; 32]), "slot": 1, "wrapped": hex::encode(wrapped(&RecordId::new("C-0002").unwrap())) },
        },
        "ledger_verifier_key": signer.verifier().to_vkey_string(),
        "entries": entries,
        "roots_by_size": roots,
        "checkpoint": sign_checkpoint(&cp, &signer),
        "encoding_config": "bincode 2.0.1 serde, little-endian, fixed-width integers, 1 MiB limit",
    })
}

#[test]
fn golden_ledger_is_byte_identical() {
    let built = serde_json::to_string_pretty(&build()).unwrap() + "\n";
    let p = path();
    if std::env::var_os("CASELEDGER_REGEN_GOLDEN").is_some() {
        std::fs::write(&p, &built).unwrap();
    }
    let stored = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with CASELEDGER_REGEN_GOLDEN=1)",
            p.display()
        )
    });
    if stored != built {
        let diff = stored
            .lines()
            .zip(built.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        panic!("golden vectors differ from what the code builds (first differing line: {diff:?}). If the format changed on purpose, update docs/FORMAT.md and regenerate.");
    }
}

#[test]
fn golden_entries_decode_strictly_and_chain() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let mut prev = EntryHash::ZERO;
    for e in v["entries"].as_array().unwrap() {
        let bytes = hex::decode(e["entry_bytes"].as_str().unwrap()).unwrap();
        let entry = Entry::from_bytes(&bytes).unwrap();
        assert_eq!(entry.prev, prev);
        assert_eq!(
            caseledger_core::event::event_bytes_in_entry(&bytes),
            Some(entry.event.event.to_bytes().unwrap().as_slice()),
            "the event sits between the fixed header and the signature"
        );
        let h = hash::entry_hash(&bytes);
        assert_eq!(h.to_hex(), e["entry_hash"].as_str().unwrap());
        prev = h;
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            Entry::from_bytes(&longer).is_err(),
            "trailing byte accepted"
        );
    }
}
