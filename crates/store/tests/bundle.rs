//! `Ledger::export_bundle`: what it holds, that `caseledger-verify` finds it clean and
//! complete, that it is built from the entries and never from the `records` tree's derived
//! rows (tamper tests on the real sled trees), and its refusals. (`tests/e2e` checks that
//! `caseledger export` writes exactly these bytes.)

use caseledger_core::bundle::{Bundle, BundleEntry};
use caseledger_core::encoding::{decode_canonical, encode};
use caseledger_core::event::{Entry, Event, EventKind, Payload, Role, ShortText};
use caseledger_core::keys::SigningKey;
use caseledger_core::layout::{record_index_key, record_state_key, TREE_RECORDS};
use caseledger_core::note::NoteSigner;
use caseledger_core::record::RecordState;
use caseledger_core::{ActorId, Date, RecordId, Seq};
use caseledger_store::{CreateOptions, ExportError, Ledger, OpenOptions};
use caseledger_verify::bundle::{decode, verify_bundle};
use caseledger_verify::Policy;
use std::path::PathBuf;

const ORIGIN: &str = "example.org/bundle-test";
/// Client B's clinical text: no bundle of A may contain it.
const CANARY: &str = "CANARY-B-7f3e clinical text of client B";

struct Fx {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ledger: Ledger,
    signer: NoteSigner,
    lic: SigningKey,
    cust: SigningKey,
}

fn append_by(
    fx: &Fx,
    key: &SigningKey,
    author: &str,
    record: &str,
    kind: EventKind,
    content: Option<&str>,
) -> Seq {
    let on = Date::parse("2024-03-01").unwrap();
    let ev = Event::new(
        Some(RecordId::new(record).unwrap()),
        ActorId::new(author).unwrap(),
        kind,
        on,
    );
    let payload = content.map(|c| Payload::new(c.as_bytes().to_vec()));
    let (signed, payload) = ev.sign_with_payload(ORIGIN, key, payload).unwrap();
    fx.ledger.append(signed, payload).unwrap().seq
}

fn append(fx: &Fx, record: &str, kind: EventKind, content: Option<&str>) -> Seq {
    append_by(fx, &fx.lic, "lic", record, kind, content)
}

fn options() -> OpenOptions {
    // The store holds the ledger key and seals every commit.
    OpenOptions::default()
        .with_kek(caseledger_testkit::kek())
        .with_ledger_key(SigningKey::from_seed(&[2; 32]))
}

/// A ledger with a licensee, a custodian and two records: A (seqs 3, 5, 7, and a hold at
/// 8) and B (4, 6: B's note holds the canary). No checkpoint yet.
fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (admin, ledger_key, lic, cust) = (
        SigningKey::from_seed(&[1; 32]),
        SigningKey::from_seed(&[2; 32]),
        SigningKey::from_seed(&[3; 32]),
        SigningKey::from_seed(&[4; 32]),
    );
    let ledger = Ledger::create(
        &path,
        CreateOptions {
            origin: ShortText::new(ORIGIN).unwrap(),
            admin: ActorId::new("admin").unwrap(),
            admin_key: &admin,
            ledger_key: ledger_key.public_key(),
            settings: Default::default(),
            open: options(),
        },
    )
    .unwrap();
    let on = Date::parse("2024-03-01").unwrap();
    for (id, role, k) in [
        ("lic", Role::Licensee, &lic),
        ("cust", Role::Custodian, &cust),
    ] {
        let enrol = EventKind::ActorEnrolled {
            actor: ActorId::new(id).unwrap(),
            role,
            public_key: k.public_key(),
        };
        let ev = Event::new(None, ActorId::new("admin").unwrap(), enrol, on);
        let (signed, _) = ev.sign_with_payload(ORIGIN, &admin, None).unwrap();
        ledger.append(signed, None).unwrap();
    }
    let signer = NoteSigner::new(ORIGIN, ledger_key).unwrap();
    let fx = Fx {
        _dir: dir,
        path,
        ledger,
        signer,
        lic,
        cust,
    };
    append(&fx, "A", EventKind::RecordOpened, None);
    append(&fx, "B", EventKind::RecordOpened, None);
    append(&fx, "A", EventKind::ProgressNote, Some("note A1"));
    append(&fx, "B", EventKind::ProgressNote, Some(CANARY));
    append(&fx, "A", EventKind::Assessment, Some("assessment A"));
    let hold = EventKind::HoldPlaced {
        matter: ShortText::new("subpoena 2024-17").unwrap(),
    };
    let cust = fx.cust.clone();
    assert_eq!(append_by(&fx, &cust, "cust", "A", hold, None), Seq(8));
    fx
}

fn trusted(fx: &Fx) -> Policy {
    Policy {
        trusted_keys: vec![fx.signer.verifier()],
        ..Policy::default()
    }
}

fn seqs(l: &[BundleEntry]) -> Vec<u64> {
    l.iter().map(|e| e.seq).collect()
}

/// Closes the ledger, lets `edit` change the real sled trees, and reopens it.
fn tamper_trees(fx: Fx, edit: impl FnOnce(&sled::Db)) -> Fx {
    let Fx {
        _dir,
        path,
        ledger,
        signer,
        lic,
        cust,
    } = fx;
    ledger.close().unwrap();
    {
        let db = caseledger_testkit::tamper::db(&path);
        edit(&db);
        db.flush().unwrap();
    }
    let ledger = Ledger::open(&path, options()).unwrap();
    Fx {
        _dir,
        path,
        ledger,
        signer,
        lic,
        cust,
    }
}

#[test]
fn a_bundle_holds_the_record_up_to_its_head_and_verifies_complete() {
    let fx = fixture();
    let rid = RecordId::new("A").unwrap();
    let b = fx.ledger.export_bundle(&rid, &fx.signer).unwrap();
    assert_eq!(b.format, "caseledger-bundle/v2");
    assert_eq!(b.origin, ORIGIN);
    assert_eq!(b.ledger_key, fx.signer.verifier().to_vkey_string());
    assert_eq!(b.record, rid);
    // The record_head is appended at seq 9 (author `ledger`, stating A's 4 entries ending
    // at the hold), then a checkpoint of the head is signed and stored.
    let head = fx.ledger.entry(Seq(9)).unwrap().unwrap();
    assert_eq!(head.event.event.author.as_str(), "ledger");
    assert_eq!(
        head.event.event.kind,
        EventKind::RecordHead {
            entries: 4,
            last: Seq(8)
        }
    );
    assert_eq!(
        head.placement.map(|p| (p.ordinal, p.prev_in_record)),
        Some((5, Some(Seq(8))))
    );
    assert_eq!(
        fx.ledger.latest_checkpoint().unwrap(),
        Some((10, b.checkpoint.clone()))
    );
    assert_eq!(seqs(&b.admin_entries), [0, 1, 2]);
    assert_eq!(seqs(&b.entries), [3, 5, 7, 8, 9]);
    for e in b.admin_entries.iter().chain(&b.entries) {
        assert_eq!(
            fx.ledger.entry_bytes(Seq(e.seq)).unwrap().unwrap(),
            e.entry.0
        );
        let proof: Vec<Vec<u8>> = e.proof.iter().map(|h| h.0.clone()).collect();
        let want = fx.ledger.inclusion_proof(Seq(e.seq), 10).unwrap();
        assert_eq!(proof, want.iter().map(|h| h.0.to_vec()).collect::<Vec<_>>());
    }
    assert!(b.admin_entries.iter().all(|e| e.payload.is_none()));
    let payloads: Vec<Option<Vec<u8>>> = b
        .entries
        .iter()
        .map(|e| {
            // Stored encrypted; the bundle carries this entry's key and nothing more.
            let p = e.payload.as_ref()?;
            let key: [u8; 32] = e.key.as_ref()?.0.as_slice().try_into().ok()?;
            let entry = Entry::from_bytes(&e.entry.0).ok()?;
            let rec = entry.event.event.record?;
            caseledger_core::content::open_payload(
                &caseledger_core::content::EntryKey::from_bytes(key),
                ORIGIN,
                &rec,
                Seq(e.seq),
                &p.0,
            )
            .ok()
            .map(|p| p.content().to_vec())
        })
        .collect();
    assert_eq!(
        payloads,
        [
            None,
            Some(b"note A1".to_vec()),
            Some(b"assessment A".to_vec()),
            None,
            None
        ]
    );
    // An auditor with the ledger key finds it clean and complete, from the JSON bytes.
    let json = b.to_json().unwrap();
    assert!(!String::from_utf8(json.clone()).unwrap().contains("CANARY"));
    let back = decode(&json).unwrap();
    assert_eq!(back, b);
    let v = verify_bundle(&back, &trusted(&fx)).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    let c = v.complete().expect("complete");
    assert_eq!((c.entries, c.head, c.checkpoint_size), (5, 9, 10));
    assert_eq!(
        c.to_string(),
        "complete: entries 1..5 of record A up to seq 9"
    );
    assert_eq!(v.status().map(|(s, _)| s.name()), Some("on_hold"));
    // The library rebuilds the same bundle from the head and checkpoint.
    assert_eq!(fx.ledger.bundle_at(&rid, Seq(9), &b.checkpoint).unwrap(), b);
}

#[test]
fn a_second_export_states_the_first_head_and_appends_another() {
    let fx = fixture();
    let (a, b) = (RecordId::new("A").unwrap(), RecordId::new("B").unwrap());
    let first = fx.ledger.export_bundle(&a, &fx.signer).unwrap();
    append(&fx, "A", EventKind::Contact, None);
    let bb = fx.ledger.export_bundle(&b, &fx.signer).unwrap();
    assert_eq!(seqs(&bb.entries), [4, 6, 11]);
    let second = fx.ledger.export_bundle(&a, &fx.signer).unwrap();
    assert_eq!(seqs(&first.entries), [3, 5, 7, 8, 9]);
    assert_eq!(seqs(&second.entries), [3, 5, 7, 8, 9, 10, 12]);
    for bundle in [&first, &bb, &second] {
        let v = verify_bundle(bundle, &trusted(&fx)).unwrap();
        assert!(v.is_clean(), "{:?}", v.findings());
        assert!(v.complete().is_some());
    }
    // An older bundle stays what it was: complete up to its own head.
    let v = verify_bundle(&first, &trusted(&fx)).unwrap();
    assert_eq!(v.complete().unwrap().head, 9);
}

/// Insider attack 2, first half. The store keeps no index row per entry (a record's
/// entries are found along their placement chain from its state row), so what an insider
/// can edit to hide the hold is that row: rolled back to before the hold. A reader of
/// `record_entries` now misses the hold, as it did with a deleted index row, but the export
/// reads the entries themselves: its `record_head` (4 entries ending at the hold) disagrees
/// with the row, so nothing is exported or appended.
#[test]
fn a_state_row_rolled_back_before_the_hold_stops_the_export() {
    let fx = fixture();
    let a = RecordId::new("A").unwrap();
    let fx = tamper_trees(fx, |db| {
        let records = db.open_tree(TREE_RECORDS).unwrap();
        let key = record_state_key(&a);
        let mut st: RecordState = decode_canonical(&records.get(&key).unwrap().unwrap()).unwrap();
        assert_eq!((st.entries, st.last_seq), (4, Seq(8)));
        st.entries = 3;
        st.last_seq = Seq(7);
        records.insert(&key, encode(&st).unwrap()).unwrap();
    });
    // The chain from the edited row is consistent, and misses the hold...
    assert_eq!(
        fx.ledger.record_entries(&a).unwrap(),
        [Seq(3), Seq(5), Seq(7)]
    );
    // ...the export does not follow it.
    let e = fx.ledger.export_bundle(&a, &fx.signer).unwrap_err();
    assert!(matches!(e, ExportError::HeadRefused(_)), "{e}");
    assert!(e.to_string().contains("record_head"), "{e}");
    assert_eq!(fx.ledger.head().size, 9);
}

/// Insider attack 2, second half: an index row of A pointing at B's note (the canary) is
/// added to the real `records` tree (as an older ledger kept them, one per entry). Nothing
/// reads such rows any more: `record_entries` ignores it, the bundle holds none of B's text,
/// and verifies complete.
#[test]
fn an_added_index_row_does_not_put_another_clients_text_in_the_bundle() {
    let fx = fixture();
    let a = RecordId::new("A").unwrap();
    let fx = tamper_trees(fx, |db| {
        let records = db.open_tree(TREE_RECORDS).unwrap();
        records
            .insert(record_index_key(&a, 6), &[] as &[u8])
            .unwrap();
    });
    assert_eq!(
        fx.ledger.record_entries(&a).unwrap(),
        [Seq(3), Seq(5), Seq(7), Seq(8)]
    );
    let b = fx.ledger.export_bundle(&a, &fx.signer).unwrap();
    assert_eq!(seqs(&b.entries), [3, 5, 7, 8, 9]);
    let json = b.to_json().unwrap();
    assert!(!String::from_utf8(json.clone()).unwrap().contains("CANARY"));
    // Neither B's entry nor its stored payload (encrypted under B's key) is in the file.
    let (entry_b, stored_b) = (
        fx.ledger.entry_bytes(Seq(6)).unwrap().unwrap(),
        fx.ledger.stored_payload(Seq(6)).unwrap().unwrap(),
    );
    let back: Bundle = decode(&json).unwrap();
    for e in back.admin_entries.iter().chain(&back.entries) {
        assert_ne!(e.entry.0, entry_b);
        assert_ne!(e.payload.as_ref().map(|p| &p.0), Some(&stored_b));
    }
    let v = verify_bundle(&b, &trusted(&fx)).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert!(v.complete().is_some());
}

/// A state row that disagrees with the entries (the store's derived fold state): the
/// store refuses the record_head the entries call for, and nothing is exported.
#[test]
fn a_tampered_state_row_stops_the_export() {
    let fx = fixture();
    let a = RecordId::new("A").unwrap();
    let b = RecordId::new("B").unwrap();
    let fx = tamper_trees(fx, |db| {
        // A's state row replaced by B's (2 entries ending at seq 6).
        let records = db.open_tree(TREE_RECORDS).unwrap();
        let b_state = records
            .get(caseledger_core::layout::record_state_key(&b))
            .unwrap()
            .unwrap();
        records
            .insert(caseledger_core::layout::record_state_key(&a), b_state)
            .unwrap();
    });
    let e = fx.ledger.export_bundle(&a, &fx.signer).unwrap_err();
    assert!(matches!(e, ExportError::HeadRefused(_)), "{e}");
    assert!(e.to_string().contains("record_head"), "{e}");
    // Nothing was appended or sealed: the newest seal is still the fixture's last commit's.
    assert_eq!(fx.ledger.head().size, 9);
    assert_eq!(fx.ledger.latest_checkpoint().unwrap().map(|c| c.0), Some(9));
}

#[test]
fn refusals() {
    let fx = fixture();
    let none = RecordId::new("NONE").unwrap();
    assert!(matches!(
        fx.ledger.export_bundle(&none, &fx.signer),
        Err(ExportError::NoSuchRecord)
    ));
    // Nothing was appended or signed for a record that does not exist.
    assert_eq!(fx.ledger.latest_checkpoint().unwrap().map(|c| c.0), Some(9));
    assert_eq!(fx.ledger.head().size, 9);
    let other = NoteSigner::new(ORIGIN, SigningKey::from_seed(&[9; 32])).unwrap();
    let e = fx
        .ledger
        .export_bundle(&RecordId::new("A").unwrap(), &other)
        .unwrap_err();
    assert!(matches!(e, ExportError::WrongLedgerKey), "{e}");
    assert_eq!(
        e.to_string(),
        "the signer's key is not this ledger's ledger key"
    );
    assert_eq!(fx.ledger.head().size, 9);
    // A head that the checkpoint does not cover.
    let note = fx.ledger.newest_seal().unwrap().unwrap().1;
    let e = fx
        .ledger
        .bundle_at(&RecordId::new("A").unwrap(), Seq(9), &note)
        .unwrap_err();
    assert!(
        matches!(e, ExportError::NotCovered { size: 9, head: 9 }),
        "{e}"
    );
}
