//! Fixtures shared by caseledger's tests, in one copy: test keys and actors ([`Cast`]),
//! signed events ([`sign`], [`Member::sign`]), ledgers with genesis and enrolments
//! ([`Cast::create`], [`Cast::staffed`]), a clock the test sets ([`TestClock`]), the
//! verifier's practice ledger ([`practice`]), the attacker's tools that edit real sled trees
//! and files ([`tamper`]), the reliability campaigns' fixtures ([`campaign`]), the
//! `caseledger` binary runner ([`cli`]), server child processes and a raw HTTP client
//! ([`server`]) and an OpenSSL time-stamp authority ([`tsa`]).
//!
//! A thin layer over the public library API: everything here could be written in a test;
//! it is here so that it is written once. Test code: it panics (with the cause) rather than
//! returning errors.

pub mod campaign;
pub mod cli;
pub mod practice;
pub mod server;
pub mod static_http;
pub mod tamper;
pub mod tsa;

use caseledger_core::event::{
    Event, EventKind, LedgerSettings, Payload, Role, ShortText, SignedEvent,
};
use caseledger_core::hash::{entry_hash, merkle_leaf};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{root_from_leaves, Sha256Hasher};
use caseledger_core::note::{NoteSigner, NoteVerifier};
use caseledger_core::{ActorId, Date, Hash, Nonce, RecordId, Seq, Timestamp};
use caseledger_store::{Clock, CreateOptions, Durability, Ledger, OpenOptions};
use caseledger_verify::{verify, Policy, SledSource, Verified, VerifyError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The origin of the small test ledgers ([`Cast::TEST`] and the CLI's [`cli::Fixture`]).
pub const ORIGIN: &str = "example.org/test-ledger";

/// A deterministic test key: the seed byte repeated.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}
/// An actor id (panics on an invalid one).
pub fn actor(s: &str) -> ActorId {
    ActorId::new(s).unwrap()
}
/// A record id (panics on an invalid one).
pub fn rid(s: &str) -> RecordId {
    RecordId::new(s).unwrap()
}
/// A date `YYYY-MM-DD` (panics on an invalid one).
pub fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}
/// A short text (panics on an invalid one).
pub fn text(s: &str) -> ShortText {
    ShortText::new(s).unwrap()
}

thread_local! {
    /// The test clock of this thread's latest [`TestClock`]: events signed on this thread
    /// are signed at its time (a ledger recording at a test clock in 2020 refuses an event
    /// signed in 2026 as signed in the future).
    static SIGNING_CLOCK: std::cell::RefCell<Option<Arc<AtomicI64>>> =
        const { std::cell::RefCell::new(None) };
}

/// The time events are signed at on this thread: the latest [`TestClock`]'s, else now.
pub fn signing_now() -> Timestamp {
    SIGNING_CLOCK
        .with(|c| {
            c.borrow()
                .as_ref()
                .map(|a| Timestamp(a.load(Ordering::SeqCst)))
        })
        .unwrap_or_else(Timestamp::now)
}

/// The practice's content key (KEK) of every test ledger: fixed, public, test only.
pub fn kek() -> caseledger_core::content::Kek {
    caseledger_core::content::Kek::from_bytes([0x4B; 32])
}

/// A signed event by `author` with `key`, a random nonce, and the payload (fresh random
/// salt) it commits to, signed for [`ORIGIN`] at [`signing_now`].
pub fn sign(
    author: &str,
    key: &SigningKey,
    record: Option<&RecordId>,
    kind: EventKind,
    on: Date,
    payload: Option<&[u8]>,
) -> (SignedEvent, Option<Payload>) {
    sign_for(ORIGIN, author, key, record, kind, on, payload)
}

/// [`sign`] for the ledger `origin`.
pub fn sign_for(
    origin: &str,
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
        signed_at: signing_now(),
        commitment: payload.as_ref().map(Payload::commitment),
        nonce: Nonce::random(),
    };
    (ev.sign(origin, key).unwrap(), payload)
}

/// One actor of a [`Cast`]: its id and the seed of its key.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    /// The ledger origin it signs for (its cast's).
    pub origin: &'static str,
    /// The actor id.
    pub id: &'static str,
    /// The seed of its key ([`key`]).
    pub seed: u8,
}

impl Member {
    /// The actor id.
    pub fn actor(&self) -> ActorId {
        actor(self.id)
    }
    /// Its signing key.
    pub fn key(&self) -> SigningKey {
        key(self.seed)
    }
    /// An event by this member on `on` (see [`sign`]).
    pub fn sign(
        &self,
        record: Option<&RecordId>,
        kind: EventKind,
        on: Date,
        payload: Option<&[u8]>,
    ) -> (SignedEvent, Option<Payload>) {
        sign_for(self.origin, self.id, &self.key(), record, kind, on, payload)
    }
    /// An event by this member for the ledger `origin` (see [`sign_for`]).
    pub fn sign_for(
        &self,
        origin: &str,
        record: Option<&RecordId>,
        kind: EventKind,
        on: Date,
        payload: Option<&[u8]>,
    ) -> (SignedEvent, Option<Payload>) {
        sign_for(origin, self.id, &self.key(), record, kind, on, payload)
    }
}

/// Who acts in a test ledger: its origin, the admin, the ledger key, a licensee and a
/// custodian. Each suite keeps its own cast, so the values its assertions were written
/// against stay the same.
#[derive(Clone, Copy, Debug)]
pub struct Cast {
    /// The ledger origin.
    pub origin: &'static str,
    /// The administrator (signs genesis and enrolments).
    pub admin: Member,
    /// The seed of the ledger (checkpoint) key.
    pub ledger_seed: u8,
    /// The licensee.
    pub licensee: Member,
    /// The custodian.
    pub custodian: Member,
}

impl Cast {
    /// The store's tests: [`ORIGIN`], keys 1 (admin), 2 (ledger), 3 (`lic`), 4 (`cust`).
    pub const TEST: Cast = Cast {
        origin: ORIGIN,
        admin: Member {
            origin: ORIGIN,
            id: "admin",
            seed: 1,
        },
        ledger_seed: 2,
        licensee: Member {
            origin: ORIGIN,
            id: "lic",
            seed: 3,
        },
        custodian: Member {
            origin: ORIGIN,
            id: "cust",
            seed: 4,
        },
    };
    /// The verifier's practice ledger ([`practice`]): keys 1 to 4 as [`Cast::TEST`], actors
    /// `lic-1` and `cust-1`.
    pub const PRACTICE: Cast = Cast {
        origin: "example.org/practice-ledger",
        admin: Member {
            origin: "example.org/practice-ledger",
            id: "admin",
            seed: 1,
        },
        ledger_seed: 2,
        licensee: Member {
            origin: "example.org/practice-ledger",
            id: "lic-1",
            seed: 3,
        },
        custodian: Member {
            origin: "example.org/practice-ledger",
            id: "cust-1",
            seed: 4,
        },
    };
    /// The reliability campaigns ([`campaign`]): keys 0xA1 to 0xA4, `lic-01` and `cust-01`.
    pub const CAMPAIGN: Cast = Cast {
        origin: "reliability.caseledger.example/ledger",
        admin: Member {
            origin: "reliability.caseledger.example/ledger",
            id: "admin",
            seed: 0xA1,
        },
        ledger_seed: 0xA2,
        licensee: Member {
            origin: "reliability.caseledger.example/ledger",
            id: "lic-01",
            seed: 0xA3,
        },
        custodian: Member {
            origin: "reliability.caseledger.example/ledger",
            id: "cust-01",
            seed: 0xA4,
        },
    };

    /// The ledger (checkpoint) signing key.
    pub fn ledger_key(&self) -> SigningKey {
        key(self.ledger_seed)
    }
    /// The ledger's checkpoint signer.
    pub fn signer(&self) -> NoteSigner {
        NoteSigner::new(self.origin, self.ledger_key()).unwrap()
    }
    /// The auditor's verifier of the ledger's checkpoints.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer().verifier()
    }

    /// `Ledger::create` with this cast's genesis (default settings), nothing enrolled. The
    /// store holds the cast's ledger key (it seals every commit) unless `open` names a key
    /// or asks for unsealed appends.
    pub fn create(&self, dir: &Path, open: OpenOptions) -> Ledger {
        let admin_key = self.admin.key();
        let open = self.sealing(open);
        Ledger::create(
            dir,
            CreateOptions {
                origin: text(self.origin),
                admin: self.admin.actor(),
                admin_key: &admin_key,
                ledger_key: self.ledger_key().public_key(),
                settings: LedgerSettings::default(),
                open,
            },
        )
        .unwrap()
    }

    /// `open` with this cast's ledger key, unless it names a key or asks for unsealed appends.
    pub fn sealing(&self, open: OpenOptions) -> OpenOptions {
        if open.ledger_key.is_some() || open.unsealed {
            open
        } else {
            open.with_ledger_key(self.ledger_key())
        }
    }

    /// `Ledger::open` holding this cast's ledger key.
    pub fn open(&self, dir: &Path, open: OpenOptions) -> caseledger_store::Result<Ledger> {
        Ledger::open(dir, self.sealing(open))
    }

    /// Appends the admin's enrolment of `who` with `role` and `key`, on `on`.
    pub fn enrol(&self, ledger: &Ledger, who: &str, role: Role, key: &SigningKey, on: Date) {
        let (e, p) = self.admin.sign_for(
            self.origin,
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

    /// [`Cast::create`], then the licensee and the custodian enrolled on `on`.
    pub fn staffed(&self, dir: &Path, open: OpenOptions, on: Date) -> Ledger {
        let l = self.create(dir, open);
        let lic = self.licensee;
        let cust = self.custodian;
        self.enrol(&l, lic.id, Role::Licensee, &lic.key(), on);
        self.enrol(&l, cust.id, Role::Custodian, &cust.key(), on);
        l
    }

    /// [`Cast::staffed`] on `clock` (advancing) with `durability`, enrolled on its day.
    pub fn staffed_on(&self, dir: &Path, clock: &TestClock, durability: Durability) -> Ledger {
        self.staffed(dir, clock.options(durability), clock.today())
    }

    /// A licensee event on `record`, dated the clock's day.
    pub fn licensee_event(
        &self,
        clock: &TestClock,
        record: &RecordId,
        kind: EventKind,
        payload: Option<&[u8]>,
    ) -> (SignedEvent, Option<Payload>) {
        self.licensee
            .sign_for(self.origin, Some(record), kind, clock.today(), payload)
    }

    /// A custodian event on `record` (no payload), dated the clock's day.
    pub fn custodian_event(
        &self,
        clock: &TestClock,
        record: &RecordId,
        kind: EventKind,
    ) -> (SignedEvent, Option<Payload>) {
        self.custodian
            .sign_for(self.origin, Some(record), kind, clock.today(), None)
    }

    /// The auditor's policy: trusts the ledger key and the `checkpoints` given.
    pub fn policy(&self, checkpoints: Vec<String>) -> Policy {
        Policy {
            trusted_keys: vec![self.verifier()],
            checkpoints,
            ..Policy::default()
        }
    }

    /// [`Cast::policy`] that also expects the cast's origin.
    pub fn policy_with_origin(&self, checkpoints: Vec<String>) -> Policy {
        Policy {
            expected_origin: Some(self.origin.to_owned()),
            ..self.policy(checkpoints)
        }
    }
}

/// A clock the test sets: microseconds since the epoch.
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

/// Noon of `day`, in microseconds since the epoch.
fn noon(day: &str) -> i64 {
    Timestamp::start_of(date(day)).unwrap().0 + 12 * 3600 * 1_000_000
}

impl TestClock {
    /// A clock at noon (UTC) of `day`; events signed on this thread are signed by it.
    pub fn at(day: &str) -> TestClock {
        TestClock::at_time(Timestamp(noon(day)))
    }
    /// A clock at `t` exactly; events signed on this thread are signed by it.
    pub fn at_time(t: Timestamp) -> TestClock {
        let c = TestClock(Arc::new(AtomicI64::new(t.0)));
        SIGNING_CLOCK.with(|s| *s.borrow_mut() = Some(c.0.clone()));
        c
    }
    /// Moves the clock to noon of `day`.
    pub fn set_day(&self, day: &str) {
        self.0.store(noon(day), Ordering::SeqCst);
    }
    /// Moves the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
    /// The time now.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
    /// The day now (UTC).
    pub fn today(&self) -> Date {
        self.now().date_utc().unwrap()
    }
    /// A store clock that advances a microsecond per call, so entries have distinct times.
    pub fn clock(&self) -> Clock {
        let c = self.0.clone();
        Arc::new(move || Timestamp(c.fetch_add(1, Ordering::SeqCst)))
    }
    /// A store clock that reads the time set, without advancing it.
    pub fn fixed_clock(&self) -> Clock {
        let c = self.0.clone();
        Arc::new(move || Timestamp(c.load(Ordering::SeqCst)))
    }
    /// Open options with the advancing [`TestClock::clock`], `durability` and the test KEK.
    pub fn options(&self, durability: Durability) -> OpenOptions {
        OpenOptions::default()
            .with_clock(self.clock())
            .with_durability(durability)
            .with_kek(kek())
    }
}

/// Every entry's stored bytes, in order.
pub fn all_entry_bytes(l: &Ledger) -> Vec<Vec<u8>> {
    (0..l.head().size)
        .map(|i| l.entry_bytes(Seq(i)).unwrap().unwrap())
        .collect()
}

/// The root recomputed from entry bytes with the reference recursion.
pub fn root_of_entries<B: AsRef<[u8]>>(entries: &[B]) -> Hash {
    let leaves: Vec<Hash> = entries
        .iter()
        .map(|b| merkle_leaf(&entry_hash(b.as_ref())))
        .collect();
    root_from_leaves(&Sha256Hasher, &leaves)
}

/// The ledger's root recomputed from its stored entry bytes.
pub fn recomputed_root(l: &Ledger) -> Hash {
    root_of_entries(&all_entry_bytes(l))
}

/// A byte-exact snapshot of the ledger's content (archive bytes).
pub fn snapshot(l: &Ledger) -> Vec<u8> {
    let mut v = Vec::new();
    l.export_archive(&mut v, true).unwrap();
    v
}

/// Opens the sled trees of `dir` read-only and verifies them.
pub fn verify_dir(dir: &Path, policy: &Policy) -> Result<Verified, VerifyError> {
    let src = SledSource::open(dir)?;
    verify(&src, policy, &|_| {})
}

/// How long the `*_settled` helpers wait for a ledger in use.
const SETTLE: Duration = Duration::from_secs(5);

/// [`verify_dir`], retrying for up to 5 s while the ledger is reported in use: a process
/// spawned by a concurrent test holds inherited descriptors (and so the lock) between its
/// fork and exec, briefly, after this process closed its ledger.
pub fn verify_dir_settled(dir: &Path, policy: &Policy) -> Result<Verified, VerifyError> {
    let until = Instant::now() + SETTLE;
    loop {
        match verify_dir(dir, policy) {
            Err(VerifyError::InUse(_)) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// `Ledger::open`, retrying while in use (see [`verify_dir_settled`]).
pub fn open_settled(dir: &Path, options: OpenOptions) -> caseledger_store::Result<Ledger> {
    let until = Instant::now() + SETTLE;
    loop {
        match Ledger::open(dir, options.clone()) {
            Err(caseledger_store::StoreError::InUse { .. }) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// Every finding, one per line (for assertion messages).
pub fn findings_text(v: &Verified) -> String {
    v.findings().iter().map(|f| format!("  {f}\n")).collect()
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex to bytes, skipping pairs that are not hex (for lines a child printed).
pub fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .filter_map(|i| {
            h.get(2 * i..2 * i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Hex to bytes, `None` unless all of it is hex (for files read back).
pub fn hex_decode(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// A fresh temporary directory whose name starts with `prefix`.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir")
}

/// Copies a directory tree (files and directories only), keeping each one's mode (a
/// ledger's are private; the store refuses to write to a copy that is not).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}

/// Every regular file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}
