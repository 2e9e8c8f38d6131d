//! Test fixture: a small practice ledger written in the store's on-disk layout
//! (crates/store/src/layout.rs), and the attacker's tools to edit it.
// Test ledgers hold a few dozen entries: their seqs fit every integer type.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::event::{
    Entry, Event, EventKind, LedgerSettings, Payload, Role, ShortText, SignedEvent, FORMAT_VERSION,
};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{CompactRange, MemoryNodes, Sha256Hasher};
use caseledger_core::note::{NoteSigner, NoteVerifier};
use caseledger_core::{ActorId, Date, EntryHash, Nonce, RecordId, Seq, Timestamp};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const ORIGIN: &str = "example.org/practice-ledger";

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}
pub fn admin() -> SigningKey {
    key(1)
}
pub fn ledger_signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, key(2)).unwrap()
}
pub fn ledger_verifier() -> NoteVerifier {
    ledger_signer().verifier()
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
pub fn text(s: &str) -> ShortText {
    ShortText::new(s).unwrap()
}

/// One stored item: an entry and its stored payload value.
#[derive(Clone)]
pub struct Item {
    pub entry: Entry,
    pub payload: Option<Vec<u8>>,
}

/// Builds signed events with deterministic nonces and salts.
pub struct Author {
    counter: u64,
}

impl Author {
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
        let payload =
            payload.map(|p| Payload::with_salt([self.counter as u8; 32], p.as_bytes().to_vec()));
        let ev = Event {
            record: record.map(rid),
            author: actor(author),
            kind,
            occurred_on: date(on),
            commitment: payload.as_ref().map(Payload::commitment),
            nonce: Nonce(nonce),
        };
        (ev.sign(key).unwrap(), payload)
    }
}

/// Turns signed events into chained entries (`recorded_at` = the date's midnight + seq µs).
pub fn chain(events: Vec<(SignedEvent, Option<Payload>, &str)>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for (ev, payload, recorded) in events {
        let seq = out.len() as u64;
        let recorded_at = Timestamp(Timestamp::start_of(date(recorded)).unwrap().0 + seq as i64);
        out.push(Item {
            entry: Entry {
                format_version: FORMAT_VERSION,
                seq: Seq(seq),
                prev: EntryHash::ZERO,
                recorded_at,
                event: ev,
            },
            payload: payload.map(|p| p.to_stored()),
        });
    }
    rechain(&mut out);
    out
}

/// The attacker's view: renumber and re-chain every entry (prev = hash of the previous bytes).
pub fn rechain(items: &mut [Item]) {
    let mut prev = EntryHash::ZERO;
    for (i, it) in items.iter_mut().enumerate() {
        it.entry.seq = Seq(i as u64);
        it.entry.prev = prev;
        prev = entry_hash(&it.entry.to_bytes().unwrap());
    }
}

/// The practice: labels name the seqs tests tamper with.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub ldir: PathBuf,
    pub labels: HashMap<&'static str, u64>,
    pub size: u64,
    pub author: Author,
}

impl Fixture {
    pub fn path(&self) -> &Path {
        &self.ldir
    }
    pub fn seq(&self, label: &str) -> u64 {
        self.labels[label]
    }
}

/// The practice's events: (signed event, payload, ledger date), and labels of seqs.
/// Keys: admin 1, ledger 2, lic-1 3, cust-1 4, lic-2 5 (rotated to 6), lic-3 7 (revoked).
pub fn practice_events() -> (
    Vec<(SignedEvent, Option<Payload>, &'static str)>,
    HashMap<&'static str, u64>,
) {
    let mut a = Author::new(0);
    let mut evs: Vec<(SignedEvent, Option<Payload>, &str)> = Vec::new();
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
                private_practice: true
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
            terminated_on: date("2015-02-01")
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
            terminated_on: date("2016-03-01")
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
            terminated_on: date("2017-04-01")
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
            reason: text("retention-policy-7")
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
            terminated_on: date("2021-03-02")
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
    use caseledger_store::{Ledger, OpenOptions};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let ldir = dir.path().join("ledger");
    let (evs, labels) = practice_events();
    let now = Arc::new(AtomicI64::new(0));
    let clock_now = now.clone();
    let options = OpenOptions::default().with_clock(Arc::new(move || {
        Timestamp(clock_now.load(Ordering::SeqCst))
    }));
    let mut evs = evs.into_iter();
    let (genesis, _, on) = evs.next().unwrap();
    now.store(Timestamp::start_of(date(on)).unwrap().0, Ordering::SeqCst);
    let ledger = Ledger::create_with_genesis(&ldir, genesis, options).unwrap();
    for (i, (ev, payload, on)) in evs.enumerate() {
        now.store(
            Timestamp::start_of(date(on)).unwrap().0 + i as i64 + 1,
            Ordering::SeqCst,
        );
        ledger.append(ev, payload).unwrap();
        if ledger.head().size == 10 {
            ledger.checkpoint(&ledger_signer()).unwrap();
        }
    }
    ledger.checkpoint(&ledger_signer()).unwrap();
    let size = ledger.head().size;
    ledger.close().unwrap();
    Fixture {
        dir,
        ldir,
        labels,
        size,
        author: Author::new(1000),
    }
}

pub fn root(items: &[Item], size: u64) -> [u8; 32] {
    let mut r = CompactRange::new();
    for it in &items[..size as usize] {
        r.append(
            &Sha256Hasher,
            merkle_leaf(&entry_hash(&it.entry.to_bytes().unwrap())),
        )
        .unwrap();
    }
    r.root(&Sha256Hasher)
}

pub fn nodes(items: &[Item]) -> MemoryNodes {
    let leaves: Vec<[u8; 32]> = items
        .iter()
        .map(|it| merkle_leaf(&entry_hash(&it.entry.to_bytes().unwrap())))
        .collect();
    MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves)
}

pub fn checkpoint_note(size: u64, root: [u8; 32]) -> String {
    sign_checkpoint(
        &Checkpoint::new(ORIGIN, size, root).unwrap(),
        &ledger_signer(),
    )
}

/// Opens the ledger's sled database directly, as an attacker editing the trees would.
/// A ledger or verifier this process just dropped may hold sled's lock for a moment (its
/// flusher thread), so wait for it, bounded.
pub fn db(dir: &Path) -> sled::Db {
    let mut tries = 0;
    loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => return db,
            Err(sled::Error::Io(e)) if tries < 200 && e.to_string().contains("acquire lock") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(e) => panic!("open sled in {}: {e}", dir.display()),
        }
    }
}

/// Writes the entries and payloads trees from scratch (the store's layout).
pub fn store(dir: &Path, items: &[Item]) {
    let db = db(dir);
    let entries = db.open_tree("entries").unwrap();
    let payloads = db.open_tree("payloads").unwrap();
    entries.clear().unwrap();
    payloads.clear().unwrap();
    for it in items {
        let k = it.entry.seq.0.to_be_bytes();
        entries.insert(k, it.entry.to_bytes().unwrap()).unwrap();
        if let Some(p) = &it.payload {
            payloads.insert(k, p.clone()).unwrap();
        }
    }
    db.flush().unwrap();
}

/// Reads the entries and payloads trees back.
pub fn load(dir: &Path) -> Vec<Item> {
    let db = db(dir);
    let entries = db.open_tree("entries").unwrap();
    let payloads = db.open_tree("payloads").unwrap();
    entries
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            Item {
                entry: Entry::from_bytes(&v).unwrap(),
                payload: payloads.get(&k).unwrap().map(|p| p.to_vec()),
            }
        })
        .collect()
}

/// Edits the stored items as an attacker would, then re-chains and writes them back.
pub fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<Item>)) {
    let mut items = load(dir);
    edit(&mut items);
    rechain(&mut items);
    store(dir, &items);
}

/// Edits one raw tree value (no re-chaining).
pub fn edit_raw(
    dir: &Path,
    tree: &str,
    key: &[u8],
    edit: impl FnOnce(Option<Vec<u8>>) -> Option<Vec<u8>>,
) {
    let db = db(dir);
    let t = db.open_tree(tree).unwrap();
    let old = t.get(key).unwrap().map(|v| v.to_vec());
    match edit(old) {
        Some(v) => t.insert(key, v).unwrap(),
        None => t.remove(key).unwrap(),
    };
    db.flush().unwrap();
}

/// Stores a checkpoint note in the `checkpoints` tree and `checkpoints.log`, as the store does.
pub fn add_checkpoint(dir: &Path, note: &str) {
    let size = Checkpoint::parse_body(
        caseledger_core::note::Note::parse(note.as_bytes())
            .unwrap()
            .text(),
    )
    .unwrap()
    .size;
    edit_raw(dir, "checkpoints", &size.to_be_bytes(), |_| {
        Some(note.as_bytes().to_vec())
    });
    append_log(dir, note);
}

pub fn append_log(dir: &Path, note: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))
        .unwrap();
    write!(f, "{}\n{note}", note.len()).unwrap();
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.log")
}

/// Removes every stored checkpoint (tree and log).
pub fn clear_checkpoints(dir: &Path) {
    let db = db(dir);
    db.open_tree("checkpoints").unwrap().clear().unwrap();
    db.flush().unwrap();
    let _ = std::fs::remove_file(log_path(dir));
}
