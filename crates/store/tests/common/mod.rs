//! Shared fixtures: deterministic keys, an injectable clock, event builders.
#![allow(dead_code)]

use caseledger_core::event::{Event, EventKind, Payload, Role, ShortText, SignedEvent};
use caseledger_core::ids::{ActorId, Nonce, RecordId};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::NoteSigner;
use caseledger_core::time::{Date, Timestamp};
use caseledger_store::{Clock, CreateOptions, Durability, Ledger, OpenOptions};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub const ORIGIN: &str = "example.org/test-ledger";

pub fn admin_key() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}
pub fn ledger_signing_key() -> SigningKey {
    SigningKey::from_seed(&[2; 32])
}
pub fn lic_key() -> SigningKey {
    SigningKey::from_seed(&[3; 32])
}
pub fn cust_key() -> SigningKey {
    SigningKey::from_seed(&[4; 32])
}
pub fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ledger_signing_key()).unwrap()
}
pub fn actor(s: &str) -> ActorId {
    ActorId::new(s).unwrap()
}
pub fn rid(s: &str) -> RecordId {
    RecordId::new(s).unwrap()
}
pub fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// A clock the test sets: microseconds since the epoch.
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

impl TestClock {
    pub fn at(day: &str) -> TestClock {
        let t = Timestamp::start_of(date(day)).unwrap().0 + 12 * 3600 * 1_000_000;
        TestClock(Arc::new(AtomicI64::new(t)))
    }
    pub fn set_day(&self, day: &str) {
        let t = Timestamp::start_of(date(day)).unwrap().0 + 12 * 3600 * 1_000_000;
        self.0.store(t, Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
    pub fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
    pub fn clock(&self) -> Clock {
        let c = self.0.clone();
        // Advances a microsecond per call so entries have distinct times.
        Arc::new(move || Timestamp(c.fetch_add(1, Ordering::SeqCst)))
    }
    pub fn options(&self, durability: Durability) -> OpenOptions {
        OpenOptions::default()
            .with_clock(self.clock())
            .with_durability(durability)
    }
    pub fn today(&self) -> Date {
        self.now().date_utc().unwrap()
    }
}

pub fn create(dir: &std::path::Path, clock: &TestClock, durability: Durability) -> Ledger {
    let admin = admin_key();
    Ledger::create(
        dir,
        CreateOptions {
            origin: ShortText::new(ORIGIN).unwrap(),
            admin: actor("admin"),
            admin_key: &admin,
            ledger_key: ledger_signing_key().public_key(),
            settings: Default::default(),
            open: clock.options(durability),
        },
    )
    .unwrap()
}

pub fn sign(
    author: &str,
    key: &SigningKey,
    record: Option<&RecordId>,
    kind: EventKind,
    on: Date,
    payload: Option<&[u8]>,
) -> (SignedEvent, Option<Payload>) {
    let payload = payload.map(|p| Payload::new(p.to_vec()));
    let ev = Event {
        record: record.cloned(),
        author: actor(author),
        kind,
        occurred_on: on,
        commitment: payload.as_ref().map(Payload::commitment),
        nonce: Nonce::random(),
    };
    (ev.sign(key).unwrap(), payload)
}

pub fn enrol(ledger: &Ledger, who: &str, role: Role, key: &SigningKey, on: Date) {
    let (e, p) = sign(
        "admin",
        &admin_key(),
        None,
        EventKind::ActorEnrolled {
            actor: actor(who),
            role,
            public_key: key.public_key(),
        },
        on,
        None,
    );
    ledger.append(e, p).unwrap();
}

/// A ledger with a licensee `lic` and a custodian `cust` enrolled.
pub fn standard(dir: &std::path::Path, clock: &TestClock, durability: Durability) -> Ledger {
    let l = create(dir, clock, durability);
    let today = clock.today();
    enrol(&l, "lic", Role::Licensee, &lic_key(), today);
    enrol(&l, "cust", Role::Custodian, &cust_key(), today);
    l
}

/// A licensee event on `record` today.
pub fn lic(
    clock: &TestClock,
    record: &RecordId,
    kind: EventKind,
    payload: Option<&[u8]>,
) -> (SignedEvent, Option<Payload>) {
    sign(
        "lic",
        &lic_key(),
        Some(record),
        kind,
        clock.today(),
        payload,
    )
}

/// A custodian event on `record` today.
pub fn cust(
    clock: &TestClock,
    record: &RecordId,
    kind: EventKind,
) -> (SignedEvent, Option<Payload>) {
    sign("cust", &cust_key(), Some(record), kind, clock.today(), None)
}

pub fn text(s: &str) -> ShortText {
    ShortText::new(s).unwrap()
}

/// Every entry's bytes, in order.
pub fn all_entry_bytes(l: &Ledger) -> Vec<Vec<u8>> {
    (0..l.head().size)
        .map(|i| l.entry_bytes(caseledger_core::Seq(i)).unwrap().unwrap())
        .collect()
}

/// The root recomputed from stored entry bytes with the reference recursion.
pub fn recomputed_root(l: &Ledger) -> [u8; 32] {
    use caseledger_core::hash::{entry_hash, merkle_leaf};
    use caseledger_core::merkle::{root_from_leaves, Sha256Hasher};
    let leaves: Vec<[u8; 32]> = all_entry_bytes(l)
        .iter()
        .map(|b| merkle_leaf(&entry_hash(b)))
        .collect();
    root_from_leaves(&Sha256Hasher, &leaves)
}

/// A byte-exact snapshot of the ledger's content (archive bytes).
pub fn snapshot(l: &Ledger) -> Vec<u8> {
    let mut v = Vec::new();
    l.export_archive(&mut v).unwrap();
    v
}
