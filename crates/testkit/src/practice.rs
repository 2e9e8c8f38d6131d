//! The verifier's practice ledger: four records over seven years (terminations, a
//! resumption, holds, a key rotation, a revocation, a lawful destruction), built with
//! deterministic nonces and salts so that its bytes are the same every run, and written by
//! the real store. Labels name the seqs tests tamper with.

use crate::tamper::{rechain, Item};
use crate::{actor, date, key, rid, text, Cast, TestClock};
use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::content::{seal_payload_with_nonce, RecordKey};
use caseledger_core::event::{
    ContentSeal, Entry, Event, EventKind, LedgerSettings, Payload, Placement, Role, SignedEvent,
    FORMAT_VERSION,
};
use caseledger_core::hash::{ciphertext_digest, entry_hash, merkle_leaf, wrapped_key_digest};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{CompactRange, MemoryNodes, Sha256Hasher};
use caseledger_core::{EntryHash, Hash, Nonce, Seq, Timestamp};
use caseledger_store::{Ledger, OpenOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The practice ledger's origin ([`Cast::PRACTICE`]).
pub const ORIGIN: &str = Cast::PRACTICE.origin;

/// The admin's key.
fn admin() -> SigningKey {
    Cast::PRACTICE.admin.key()
}

/// Builds signed events with deterministic nonces and salts.
pub struct Author {
    counter: u64,
}

impl Author {
    /// Nonces and salts count up from `start`.
    pub fn new(start: u64) -> Author {
        Author { counter: start }
    }
    /// A signed event and its payload.
    pub fn event(
        &mut self,
        key: &SigningKey,
        author: &str,
        record: Option<&str>,
        kind: EventKind,
        on: &str,
        payload: Option<&str>,
    ) -> (SignedEvent, Option<Payload>) {
        self.counter += 1;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.counter.to_be_bytes());
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a salt byte from the counter: wrapping is fine, it only varies salts"
        )]
        let salt = [self.counter as u8; 32];
        let payload = payload.map(|p| Payload::with_salt(salt, p.as_bytes().to_vec()));
        let ev = Event {
            record: record.map(rid),
            author: actor(author),
            kind,
            occurred_on: date(on),
            // Signed at the start of its ledger day: the ledger records it that day.
            signed_at: Timestamp::start_of(date(on)).unwrap(),
            commitment: payload.as_ref().map(Payload::commitment),
            nonce: Nonce(nonce),
        };
        (ev.sign(ORIGIN, key).unwrap(), payload)
    }
}

/// The deterministic content key of a test record (its id, padded): test only.
pub fn record_key(record: &caseledger_core::RecordId) -> RecordKey {
    let mut b = [0x5A; 32];
    let id = record.as_str().as_bytes();
    let n = id.len().min(32);
    b[..n].copy_from_slice(&id[..n]);
    RecordKey::from_bytes(b)
}

/// Turns signed events into chained entries as the store would write them
/// (`recorded_at` = the date's midnight + seq µs; placements; payloads encrypted with
/// [`record_key`], records' key slots numbered in order of their first payload).
pub fn chain(events: Vec<(SignedEvent, Option<Payload>, &str)>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut places: HashMap<caseledger_core::RecordId, (u64, Seq)> = HashMap::new();
    let mut slots: HashMap<caseledger_core::RecordId, u32> = HashMap::new();
    for (ev, payload, recorded) in events {
        let seq = out.len() as u64;
        let recorded_at = Timestamp(Timestamp::start_of(date(recorded)).unwrap().0 + seq as i64);
        let rec = ev.event.record.clone();
        let placement = rec.as_ref().map(|r| match places.get(r) {
            None => Placement {
                ordinal: 1,
                prev_in_record: None,
            },
            Some((n, last)) => Placement {
                ordinal: n + 1,
                prev_in_record: Some(*last),
            },
        });
        if let (Some(r), Some(p)) = (&rec, placement) {
            places.insert(r.clone(), (p.ordinal, Seq(seq)));
        }
        let (stored, content) = match (&payload, &rec) {
            (Some(p), Some(r)) => {
                let next = u32::try_from(slots.len()).unwrap();
                let slot = *slots.entry(r.clone()).or_insert(next);
                let rk = record_key(r);
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "a nonce byte from the seq: test ledgers are small"
                )]
                let stored = seal_payload_with_nonce(
                    &rk.entry_key(Seq(seq)),
                    ORIGIN,
                    r,
                    Seq(seq),
                    p,
                    [seq as u8; 24],
                );
                let wrapped = crate::kek().wrap_with_nonce(ORIGIN, r, slot, &rk, [0; 24]);
                let seal = ContentSeal {
                    ciphertext: ciphertext_digest(&stored),
                    key_slot: slot,
                    wrapped_key: wrapped_key_digest(&wrapped),
                };
                (Some(stored), Some(seal))
            }
            _ => (None, None),
        };
        out.push(Item {
            entry: Entry {
                format_version: FORMAT_VERSION,
                seq: Seq(seq),
                prev: EntryHash::ZERO,
                recorded_at,
                placement,
                // Set by `rechain` below, as the store would.
                prev_registry: None,
                content,
                event: ev,
            },
            payload: stored,
        });
    }
    rechain(&mut out);
    out
}

/// The practice written to disk; labels name the seqs tests tamper with.
pub struct Fixture {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The ledger directory.
    pub ldir: PathBuf,
    /// Seqs by label (`"A.note"`, …; see [`practice_events`]).
    pub labels: HashMap<&'static str, u64>,
    /// The number of entries.
    pub size: u64,
    /// An author that continues the practice's nonces (for forged events).
    pub author: Author,
    /// The stored (encrypted) payloads of the destroyed record, as a backup taken before
    /// the destruction held them: what an insider could put back.
    pub kept: HashMap<u64, Vec<u8>>,
}

impl Fixture {
    /// The ledger directory.
    pub fn path(&self) -> &Path {
        &self.ldir
    }
    /// The seq labelled `label`.
    pub fn seq(&self, label: &str) -> u64 {
        self.labels[label]
    }
}

/// The practice's events with their ledger dates, one event per entry.
pub type PracticeEvents = Vec<(SignedEvent, Option<Payload>, &'static str)>;

/// The practice's events: (signed event, payload, ledger date), and labels of seqs.
/// Keys: admin 1, ledger 2, lic-1 3, cust-1 4, lic-2 5 (rotated to 6), lic-3 7 (revoked).
pub fn practice_events() -> (PracticeEvents, HashMap<&'static str, u64>) {
    let mut a = Author::new(0);
    let mut evs: PracticeEvents = Vec::new();
    let mut labels = HashMap::new();
    let lic1 = key(3);
    let cust = key(4);
    let lic2 = key(5);
    let lic2b = key(6);
    let lic3 = key(7);
    macro_rules! push {
        ($label:expr, $k:expr, $who:expr, $rec:expr, $kind:expr, $on:expr, $pl:expr) => {{
            let (e, p) = a.event($k, $who, $rec, $kind, $on, $pl);
            if let Some(l) = $label {
                labels.insert(l, evs.len() as u64);
            }
            evs.push((e, p, $on));
        }};
    }
    let none: Option<&'static str> = None;
    push!(
        none,
        &admin(),
        "admin",
        None,
        EventKind::Genesis {
            origin: text(ORIGIN),
            admin: actor("admin"),
            admin_key: admin().public_key(),
            ledger_key: key(2).public_key(),
            settings: LedgerSettings {
                private_practice: true,
                ..LedgerSettings::default()
            },
        },
        "2015-01-01",
        None
    );
    for (who, role, k) in [
        ("lic-1", Role::Licensee, &lic1),
        ("cust-1", Role::Custodian, &cust),
        ("lic-2", Role::Licensee, &lic2),
        ("lic-3", Role::Licensee, &lic3),
    ] {
        push!(
            none,
            &admin(),
            "admin",
            None,
            EventKind::ActorEnrolled {
                actor: actor(who),
                role,
                public_key: k.public_key()
            },
            "2015-01-01",
            None
        );
    }
    let a_ = Some("C-A");
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::RecordOpened,
        "2015-01-05",
        Some("intake")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::Disclosure,
        "2015-01-05",
        Some("disclosed")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::PresentingProblem,
        "2015-01-05",
        Some("problem")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::Assessment,
        "2015-01-06",
        None
    );
    push!(
        Some("A.plan"),
        &lic1,
        "lic-1",
        a_,
        EventKind::PlanOfAction,
        "2015-01-06",
        None
    );
    push!(
        Some("A.note"),
        &lic1,
        "lic-1",
        a_,
        EventKind::ProgressNote,
        "2015-01-07",
        Some("note text a")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::FeeArrangement,
        "2015-01-07",
        Some("$80")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::Contact,
        "2015-01-08",
        Some("phone call")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        a_,
        EventKind::ServiceTerminated {
            terminated_on: date("2015-02-01"),
            reason: caseledger_core::event::TerminationReason::Completed,
        },
        "2015-02-01",
        None
    );
    let b_ = Some("C-B");
    push!(
        Some("B.open"),
        &lic1,
        "lic-1",
        b_,
        EventKind::RecordOpened,
        "2016-01-04",
        None
    );
    push!(
        Some("B.note1"),
        &lic1,
        "lic-1",
        b_,
        EventKind::ProgressNote,
        "2016-01-05",
        Some("note b1")
    );
    push!(
        none,
        &lic1,
        "lic-1",
        b_,
        EventKind::ServiceTerminated {
            terminated_on: date("2016-03-01"),
            reason: caseledger_core::event::TerminationReason::Completed,
        },
        "2016-03-01",
        None
    );
    push!(
        none,
        &lic1,
        "lic-1",
        b_,
        EventKind::ServiceResumed,
        "2016-06-01",
        None
    );
    push!(
        Some("B.note2"),
        &lic2,
        "lic-2",
        b_,
        EventKind::ProgressNote,
        "2016-06-02",
        Some("note b2")
    );
    let c_ = Some("C-C");
    push!(
        none,
        &lic2,
        "lic-2",
        c_,
        EventKind::RecordOpened,
        "2016-07-01",
        None
    );
    push!(
        Some("C.note1"),
        &lic2,
        "lic-2",
        c_,
        EventKind::ProgressNote,
        "2016-07-02",
        Some("note c1")
    );
    push!(
        none,
        &cust,
        "cust-1",
        c_,
        EventKind::HoldPlaced {
            matter: text("case-17")
        },
        "2016-08-01",
        None
    );
    push!(
        none,
        &cust,
        "cust-1",
        c_,
        EventKind::HoldReleased {
            matter: text("case-17")
        },
        "2016-09-01",
        None
    );
    push!(
        none,
        &admin(),
        "admin",
        None,
        EventKind::KeyRevoked {
            actor: actor("lic-2")
        },
        "2017-01-01",
        None
    );
    push!(
        none,
        &admin(),
        "admin",
        None,
        EventKind::ActorEnrolled {
            actor: actor("lic-2"),
            role: Role::Licensee,
            public_key: lic2b.public_key()
        },
        "2017-01-02",
        None
    );
    push!(
        Some("C.note2"),
        &lic2b,
        "lic-2",
        c_,
        EventKind::ProgressNote,
        "2017-01-03",
        Some("note c2")
    );
    push!(
        none,
        &admin(),
        "admin",
        None,
        EventKind::KeyRevoked {
            actor: actor("lic-3")
        },
        "2017-02-01",
        None
    );
    let d_ = Some("C-D");
    push!(
        none,
        &lic1,
        "lic-1",
        d_,
        EventKind::RecordOpened,
        "2017-03-01",
        None
    );
    push!(
        none,
        &lic1,
        "lic-1",
        d_,
        EventKind::ServiceTerminated {
            terminated_on: date("2017-04-01"),
            reason: caseledger_core::event::TerminationReason::Completed,
        },
        "2017-04-01",
        None
    );
    push!(
        none,
        &cust,
        "cust-1",
        d_,
        EventKind::HoldPlaced {
            matter: text("inv-2")
        },
        "2017-05-01",
        None
    );
    push!(
        Some("A.destroyed"),
        &cust,
        "cust-1",
        a_,
        EventKind::Destruction {
            reason: text("retention-policy-7"),
            citation: None
        },
        "2021-03-01",
        None
    );
    push!(
        Some("B.terminated2"),
        &lic1,
        "lic-1",
        b_,
        EventKind::ServiceTerminated {
            terminated_on: date("2021-03-02"),
            reason: caseledger_core::event::TerminationReason::Completed,
        },
        "2021-03-02",
        None
    );
    (evs, labels)
}

/// The practice as stored items (without the store), A's payloads removed by its destruction.
pub fn practice() -> (Vec<Item>, HashMap<&'static str, u64>) {
    let (evs, labels) = practice_events();
    let mut items = chain(evs);
    // The lawful destruction removed A's payloads.
    for it in &mut items {
        if it.entry.event.event.record == Some(rid("C-A")) {
            it.payload = None;
        }
    }
    (items, labels)
}

/// The clean practice written by the real store (`caseledger_store::Ledger`), with the
/// ledger's clock set to each event's date, checkpoints at size 10 and at the end.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ldir = dir.path().join("ledger");
    let (evs, labels) = practice_events();
    let mut evs = evs.into_iter();
    let (genesis, _, on) = evs.next().unwrap();
    let clock = TestClock::at_time(Timestamp::start_of(date(on)).unwrap());
    // Unsealed appends, then exactly two checkpoints (at 10 and at the end) signed by the
    // ledger key: the fixture the verifier's findings were written against. (Every commit
    // of a real ledger is sealed; the store's and the end-to-end tests cover that.)
    let options = OpenOptions::default()
        .with_clock(clock.fixed_clock())
        .with_kek(crate::kek())
        .with_unsealed(true);
    let ledger = Ledger::create_with_genesis(&ldir, genesis, options).unwrap();
    let mut at_ten = None;
    let mut kept = HashMap::new();
    for (i, (ev, payload, on)) in evs.enumerate() {
        clock.set(Timestamp(
            Timestamp::start_of(date(on)).unwrap().0 + i as i64 + 1,
        ));
        if let (caseledger_core::event::EventKind::Destruction { .. }, Some(r)) =
            (&ev.event.kind, &ev.event.record)
        {
            for s in ledger.record_entries(r).unwrap() {
                if let Some(p) = ledger.stored_payload(s).unwrap() {
                    kept.insert(s.0, p);
                }
            }
        }
        ledger.append(ev, payload).unwrap();
        if ledger.head().size == 10 {
            at_ten = Some(ledger.root());
        }
    }
    let size = ledger.head().size;
    let end = ledger.root();
    ledger.close().unwrap();
    crate::tamper::add_checkpoint(&ldir, &checkpoint_note(10, at_ten.unwrap()));
    crate::tamper::add_checkpoint(&ldir, &checkpoint_note(size, end));
    Fixture {
        dir,
        ldir,
        labels,
        size,
        author: Author::new(1000),
        kept,
    }
}

/// The Merkle root of the first `size` items.
pub fn root(items: &[Item], size: u64) -> Hash {
    let mut r = CompactRange::new();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "test ledgers hold a few dozen entries"
    )]
    let n = size as usize;
    for it in &items[..n] {
        r.append(
            &Sha256Hasher,
            merkle_leaf(&entry_hash(&it.entry.to_bytes().unwrap())),
        )
        .unwrap();
    }
    r.root(&Sha256Hasher)
}

/// Every node of the items' tree, in memory.
pub fn nodes(items: &[Item]) -> MemoryNodes {
    let leaves: Vec<Hash> = items
        .iter()
        .map(|it| merkle_leaf(&entry_hash(&it.entry.to_bytes().unwrap())))
        .collect();
    MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves)
}

/// A checkpoint note of the practice ledger at `size` with `root`.
pub fn checkpoint_note(size: u64, root: Hash) -> String {
    sign_checkpoint(
        &Checkpoint::new(ORIGIN, size, root).unwrap(),
        &Cast::PRACTICE.signer(),
    )
}
