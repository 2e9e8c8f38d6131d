//! `Ledger::export_bundle`: what it holds, that `caseledger-verify` finds it clean, and its
//! refusals. (`tests/e2e` checks that `caseledger export` writes exactly these bytes.)

use caseledger_core::bundle::Bundle;
use caseledger_core::event::{Entry, Event, EventKind, Payload, Role, ShortText};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::NoteSigner;
use caseledger_core::{ActorId, Date, RecordId, Seq};
use caseledger_store::{BundleCheckpoint, CreateOptions, ExportError, Ledger, OpenOptions};
use caseledger_verify::bundle::{decode, verify_bundle};
use caseledger_verify::Policy;

const ORIGIN: &str = "example.org/bundle-test";

struct Fx {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    signer: NoteSigner,
    lic: SigningKey,
}

fn append(fx: &Fx, record: &str, kind: EventKind, content: Option<&str>) {
    let on = Date::parse("2024-03-01").unwrap();
    let ev = Event::new(
        Some(RecordId::new(record).unwrap()),
        ActorId::new("lic").unwrap(),
        kind,
        on,
    );
    let payload = content.map(|c| Payload::new(c.as_bytes().to_vec()));
    let (signed, payload) = ev.sign_with_payload(ORIGIN, &fx.lic, payload).unwrap();
    fx.ledger.append(signed, payload).unwrap();
}

/// A ledger with a licensee and two records (A: 3 entries, B: 2), every commit sealed.
fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let (admin, ledger_key, lic) = (
        SigningKey::from_seed(&[1; 32]),
        SigningKey::from_seed(&[2; 32]),
        SigningKey::from_seed(&[3; 32]),
    );
    let ledger = Ledger::create(
        dir.path().join("l"),
        CreateOptions {
            origin: ShortText::new(ORIGIN).unwrap(),
            admin: ActorId::new("admin").unwrap(),
            admin_key: &admin,
            ledger_key: ledger_key.public_key(),
            settings: Default::default(),
            open: OpenOptions::default()
                .with_kek(caseledger_testkit::kek())
                .with_ledger_key(ledger_key.clone()),
        },
    )
    .unwrap();
    let enrol = EventKind::ActorEnrolled {
        actor: ActorId::new("lic").unwrap(),
        role: Role::Licensee,
        public_key: lic.public_key(),
    };
    let on = Date::parse("2024-03-01").unwrap();
    let ev = Event::new(None, ActorId::new("admin").unwrap(), enrol, on);
    let (signed, _) = ev.sign_with_payload(ORIGIN, &admin, None).unwrap();
    ledger.append(signed, None).unwrap();
    let signer = NoteSigner::new(ORIGIN, ledger_key).unwrap();
    let fx = Fx {
        _dir: dir,
        ledger,
        signer,
        lic,
    };
    append(&fx, "A", EventKind::RecordOpened, None);
    append(&fx, "B", EventKind::RecordOpened, None);
    append(&fx, "A", EventKind::ProgressNote, Some("note A1"));
    append(&fx, "B", EventKind::ProgressNote, Some("note B1"));
    append(&fx, "A", EventKind::Assessment, Some("assessment A"));
    fx
}

fn trusted(fx: &Fx) -> Policy {
    Policy {
        trusted_keys: vec![fx.signer.verifier()],
        ..Policy::default()
    }
}

#[test]
fn a_bundle_holds_the_record_and_the_administration_and_verifies() {
    let fx = fixture();
    let rid = RecordId::new("A").unwrap();
    let b = fx
        .ledger
        .export_bundle(&rid, BundleCheckpoint::Latest)
        .unwrap();
    assert_eq!(b.format, "caseledger-bundle/v2");
    assert_eq!(b.origin, ORIGIN);
    assert_eq!(b.ledger_key, fx.signer.verifier().to_vkey_string());
    assert_eq!(b.record, rid);
    // The checkpoint is the newest seal, the head's.
    assert_eq!(
        fx.ledger.latest_checkpoint().unwrap(),
        Some((7, b.checkpoint.clone()))
    );
    let seqs =
        |l: &[caseledger_core::bundle::BundleEntry]| l.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&b.admin_entries), [0, 1]);
    assert_eq!(seqs(&b.entries), [2, 4, 6]);
    for e in b.admin_entries.iter().chain(&b.entries) {
        assert_eq!(
            fx.ledger.entry_bytes(Seq(e.seq)).unwrap().unwrap(),
            e.entry.0
        );
        let proof: Vec<Vec<u8>> = e.proof.iter().map(|h| h.0.clone()).collect();
        let want = fx.ledger.inclusion_proof(Seq(e.seq), 7).unwrap();
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
            let entry = caseledger_core::event::Entry::from_bytes(&e.entry.0).ok()?;
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
            Some(b"assessment A".to_vec())
        ]
    );
    for e in &b.entries {
        let entry = Entry::from_bytes(&e.entry.0).unwrap();
        assert_eq!(entry.event.event.record.as_ref(), Some(&rid));
    }
    // An auditor with the ledger key finds it clean, from the JSON bytes.
    let json = b.to_json().unwrap();
    assert!(!String::from_utf8(json.clone()).unwrap().contains("note B1"));
    let back = decode(&json).unwrap();
    assert_eq!(back, b);
    let v = verify_bundle(&back, &trusted(&fx)).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings());
    assert_eq!((v.entries(), v.checkpoint().map(|c| c.size)), (3, Some(7)));
}

#[test]
fn the_bundle_leads_to_the_newest_seal_and_export_signs_nothing() {
    let fx = fixture();
    let (a, b) = (RecordId::new("A").unwrap(), RecordId::new("B").unwrap());
    append(&fx, "A", EventKind::Contact, None);
    let note = fx.ledger.newest_seal().unwrap().unwrap().1;
    let log = std::fs::read(fx.ledger.dir().join("checkpoints.log")).unwrap();
    let signed = fx
        .ledger
        .export_bundle(&a, BundleCheckpoint::Latest)
        .unwrap();
    assert_eq!(signed.entries.len(), 4);
    assert_eq!(signed.checkpoint, note);
    assert!(verify_bundle(&signed, &trusted(&fx)).unwrap().is_clean());
    let bundle: Bundle = fx
        .ledger
        .export_bundle(&b, BundleCheckpoint::Latest)
        .unwrap();
    assert_eq!(bundle.checkpoint, note);
    assert!(verify_bundle(&bundle, &trusted(&fx)).unwrap().is_clean());
    // Nothing was signed or logged by the exports.
    assert_eq!(fx.ledger.latest_checkpoint().unwrap(), Some((8, note)));
    assert_eq!(
        std::fs::read(fx.ledger.dir().join("checkpoints.log")).unwrap(),
        log
    );
}

#[test]
fn refusals() {
    let fx = fixture();
    let none = RecordId::new("NONE").unwrap();
    assert!(matches!(
        fx.ledger.export_bundle(&none, BundleCheckpoint::Latest),
        Err(ExportError::NoSuchRecord)
    ));
}
