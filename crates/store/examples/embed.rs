//! A record system embedding caseledger: create a ledger (the store holds the ledger key and
//! seals every commit), append signed events keeping their receipts, export one record's
//! evidence bundle (the store appends its `record_head`, sealed like every commit), verify it
//! before handing it out, and verify it again as an auditor.
//! Run: `cargo run -p caseledger-store --example embed` (exits non-zero on any failure).

use caseledger_core::event::{Event, EventKind as K, Payload, Role, ShortText};
use caseledger_core::{content::Kek, keys::SigningKey, note::NoteSigner, ActorId, Date, RecordId};
use caseledger_store::{CreateOptions, Ledger, OpenOptions};
use caseledger_verify::{bundle, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, origin) = (tempfile::tempdir()?, "example.org/practice-ledger");
    let [admin_key, lic_key, ledger_key] = [(); 3].map(|()| SigningKey::generate());
    let (admin, lic) = (ActorId::new("admin")?, ActorId::new("lic-01")?);
    let d = Date::parse("2024-03-01")?;
    let options = CreateOptions {
        origin: ShortText::new(origin)?,
        admin: admin.clone(),
        admin_key: &admin_key,
        ledger_key: ledger_key.public_key(),
        settings: Default::default(),
        // The practice's content key: payloads are stored encrypted under per-record keys
        // it wraps. A real deployment keeps it in the key directory, never in the ledger.
        open: OpenOptions::default()
            .with_kek(Kek::generate())
            .with_ledger_key(ledger_key.clone()),
    };
    let ledger = Ledger::create(dir.path().join("ledger"), options)?;
    let kind = K::ActorEnrolled {
        actor: lic.clone(),
        role: Role::Licensee,
        public_key: lic_key.public_key(),
    };
    let mut events = vec![(&admin_key, Event::new(None, admin, kind, d), None)];
    let ev = |r: &str, kind| RecordId::new(r).map(|r| Event::new(Some(r), lic.clone(), kind, d));
    for (r, note) in [("C-0042", "Better sleep."), ("C-0043", "Intake.")] {
        events.push((&lic_key, ev(r, K::RecordOpened)?, None));
        events.push((&lic_key, ev(r, K::ProgressNote)?, Some(note)));
    }
    let mut receipts = Vec::new();
    for (key, event, content) in events {
        // Event::new chose a fresh nonce, Payload::new a fresh salt; the author signs both.
        let payload = content.map(|c| Payload::new(c.as_bytes().to_vec()));
        let (signed, payload) = event.sign_with_payload(origin, key, payload)?;
        // The receipt (seq, entry hash, the seal covering it) is the record system's to keep.
        receipts.push(ledger.append(signed, payload)?);
    }
    // Every acknowledged append is covered by a durable seal of the ledger key.
    let last = receipts.last().ok_or("no receipt")?;
    let seal = last.seal.as_ref().ok_or("no seal")?;
    assert!(seal.size > last.seq.get());
    // The ledger key signs the record's record_head; its commit is sealed like every other.
    let signer = NoteSigner::new(origin, ledger_key)?;
    let record = RecordId::new("C-0042")?;
    let exported = ledger.export_bundle(&record, &signer)?;
    let mut policy = Policy::default();
    policy.trusted_keys.push(signer.verifier());
    // Verified before it leaves the record system: never hand out a bundle that fails.
    let checked = bundle::verify_bundle(&exported, &policy)?;
    if !checked.is_clean() || checked.complete().is_none() {
        return Err(format!("bundle refused: {:?}", checked.findings()).into());
    }
    let json = exported.to_json()?;
    assert!(!std::str::from_utf8(&json)?.contains("C-0043"), "leaked");
    // The auditor holds only the bundle bytes and the ledger key they trust.
    let b = bundle::decode(&json)?;
    let v = bundle::verify_bundle(&b, &policy)?;
    assert!(v.is_clean(), "findings: {:?}", v.findings());
    let complete = v.complete().ok_or("not complete")?;
    // Opened, a note, and the record_head the export appended.
    assert!(complete.entries == 3 && v.entries() == 3 && !v.checkpoint_key_self_attested());
    println!("bundle of {record}: {complete}, verified");
    Ok(ledger.close()?)
}
