//! The record rules at their edges: the cases a wrong comparison or a wrong default would
//! get wrong while every test in `state_machine.rs` still passed (found by mutation testing,
//! docs/RELIABILITY.md "Mutation testing"). Each test states the rule from the regulation or
//! docs/FORMAT.md, not the code's shape.

use caseledger_core::event::{
    Event, EventKind, LedgerSettings, Placement, Role, ShortText, TerminationReason,
};
use caseledger_core::ids::{ActorId, Nonce, PublicKey, RecordId, Seq};
use caseledger_core::keys::SigningKey;
use caseledger_core::record::{LedgerState, Registry, Step, Violation};
use caseledger_core::time::{Date, Timestamp};

const ORIGIN: &str = "edges.example/ledger";

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
fn text(s: &str) -> ShortText {
    ShortText::new(s).unwrap()
}
fn actor(s: &str) -> ActorId {
    ActorId::new(s).unwrap()
}
fn key(seed: u8) -> PublicKey {
    SigningKey::from_seed(&[seed; 32]).public_key()
}

/// A ledger in memory: genesis by `adm` (key seed 1, ledger key seed 2), licensee `lic`
/// (seed 3) and custodian `cus` (seed 4) enrolled on 2010-01-01.
struct Ledger {
    state: LedgerState,
    next: u64,
}

impl Ledger {
    fn new() -> Ledger {
        let mut l = Ledger {
            state: LedgerState::default(),
            next: 0,
        };
        l.admin(
            EventKind::Genesis {
                origin: text(ORIGIN),
                admin: actor("adm"),
                admin_key: key(1),
                ledger_key: key(2),
                settings: LedgerSettings::default(),
            },
            "2010-01-01",
        )
        .unwrap();
        l.enrol("lic", Role::Licensee, 3).unwrap();
        l.enrol("cus", Role::Custodian, 4).unwrap();
        l
    }

    fn event(&self, author: &str, record: Option<&str>, kind: EventKind, on: &str) -> Event {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.next.to_be_bytes());
        Event {
            record: record.map(|r| RecordId::new(r).unwrap()),
            author: actor(author),
            kind,
            occurred_on: d(on),
            signed_at: Timestamp::start_of(d(on)).unwrap(),
            commitment: None,
            nonce: Nonce(nonce),
        }
    }

    /// Appends `author`'s event, claimed on `occurred` and recorded at the start of
    /// `recorded` (UTC, the default time zone), with the placement the store would assign.
    fn run(
        &mut self,
        author: &str,
        record: Option<&str>,
        kind: EventKind,
        occurred: &str,
        recorded: &str,
    ) -> Result<(), Violation> {
        let ev = Event {
            occurred_on: d(occurred),
            ..self.event(author, record, kind, recorded)
        };
        let step = Step {
            seq: Seq(self.next),
            recorded_at: Timestamp::start_of(d(recorded)).unwrap(),
            placement: self.state.placement_for(ev.record.as_ref()),
            prev_registry: self.state.registry.last_change,
            event: &ev,
        };
        self.state.step(step)?;
        self.next += 1;
        Ok(())
    }

    fn admin(&mut self, kind: EventKind, on: &str) -> Result<(), Violation> {
        self.run("adm", None, kind, on, on)
    }

    fn enrol(&mut self, who: &str, role: Role, seed: u8) -> Result<(), Violation> {
        self.admin(
            EventKind::ActorEnrolled {
                actor: actor(who),
                role,
                public_key: key(seed),
            },
            "2010-01-01",
        )
    }

    fn revoke(&mut self, who: &str) -> Result<(), Violation> {
        self.admin(EventKind::KeyRevoked { actor: actor(who) }, "2012-03-01")
    }

    /// `lic` on record R, claimed and recorded on `on`.
    fn lic(&mut self, kind: EventKind, on: &str) -> Result<(), Violation> {
        self.run("lic", Some("R"), kind, on, on)
    }

    /// Record R opened on 2012-01-10, a progress note on 2012-02-10.
    fn with_record() -> Ledger {
        let mut l = Ledger::new();
        l.lic(EventKind::RecordOpened, "2012-01-10").unwrap();
        l.lic(EventKind::ProgressNote, "2012-02-10").unwrap();
        l
    }
}

fn terminated_on(on: &str) -> EventKind {
    EventKind::ServiceTerminated {
        terminated_on: d(on),
        reason: TerminationReason::Completed,
    }
}

/// A termination may not be dated before service already recorded (it would shorten
/// retention), but "the date of service is terminated" may be the day of the last session:
/// dated on the latest service date, it is accepted.
#[test]
fn termination_on_the_day_of_the_last_service_is_accepted() {
    let mut l = Ledger::with_record();
    assert!(matches!(
        l.clone_state_run(terminated_on("2012-02-09"), "2012-02-20"),
        Err(Violation::TerminationBackdated { .. })
    ));
    l.run(
        "lic",
        Some("R"),
        terminated_on("2012-02-10"),
        "2012-02-10",
        "2012-02-20",
    )
    .unwrap();
    let r = &l.state.records[&RecordId::new("R").unwrap()];
    assert_eq!(r.retention_start(), Some(d("2012-02-10")));
}

impl Ledger {
    /// `run` of `lic`'s `kind` on R on a copy of the ledger (the ledger itself unchanged).
    fn clone_state_run(&self, kind: EventKind, recorded: &str) -> Result<(), Violation> {
        let mut copy = Ledger {
            state: self.state.clone(),
            next: self.next,
        };
        copy.run("lic", Some("R"), kind, recorded, recorded)
    }
}

/// The last-admin guard counts admins who can still sign: a revoked admin enrols nobody, so
/// revoking the only live admin is refused even when a revoked one is still listed.
#[test]
fn last_admin_guard_counts_only_live_admins() {
    let mut l = Ledger::new();
    l.enrol("adm2", Role::Admin, 5).unwrap();
    // Two live admins: either may be revoked.
    l.revoke("adm2").unwrap();
    assert_eq!(
        l.revoke("adm"),
        Err(Violation::LastAdmin(actor("adm"))),
        "adm2 is revoked: adm is the last admin who can enrol anyone"
    );
    // A live non-admin does not count either.
    assert!(l.state.registry.actors[&actor("lic")].role != Role::Admin);
    // Re-enrolled, adm2 counts again and adm may go.
    l.admin(
        EventKind::ActorEnrolled {
            actor: actor("adm2"),
            role: Role::Admin,
            public_key: key(6),
        },
        "2012-03-02",
    )
    .unwrap();
    l.admin(
        EventKind::KeyRevoked {
            actor: actor("adm"),
        },
        "2012-03-03",
    )
    .unwrap();
}

/// An amendment corrects an earlier entry of the same record: not itself, not a later one.
#[test]
fn amendment_may_not_name_itself() {
    let mut l = Ledger::with_record();
    let own = l.next;
    assert!(matches!(
        l.lic(EventKind::Amendment { amends: Seq(own) }, "2012-03-01"),
        Err(Violation::BadAmendmentTarget { amends, .. }) if amends == Seq(own)
    ));
    l.lic(
        EventKind::Amendment {
            amends: Seq(own - 1),
        },
        "2012-03-01",
    )
    .unwrap();
}

/// Rule 12 as the record states it: after termination the clock starts at the termination
/// (or a later service or contact date), retention runs five years, destruction is lawful
/// from the next day; while service is open none of these exists.
#[test]
fn record_states_its_retention_dates() {
    let mut l = Ledger::with_record();
    let r = &l.state.records[&RecordId::new("R").unwrap()];
    assert_eq!(
        (r.retention_start(), r.retained_until(), r.lawful_from()),
        (None, None, None)
    );
    l.lic(terminated_on("2012-03-01"), "2012-03-01").unwrap();
    let r = &l.state.records[&RecordId::new("R").unwrap()];
    assert_eq!(r.retention_start(), Some(d("2012-03-01")));
    assert_eq!(r.retained_until(), Some(d("2017-03-01")));
    assert_eq!(r.lawful_from(), Some(d("2017-03-02")));
    assert_eq!(
        caseledger_core::record::lawful_from(d("2012-03-01")).unwrap(),
        d("2017-03-02")
    );
}

/// The key an event must be signed with (FORMAT §2): genesis by the admin key it names
/// itself; the ledger's own kinds by the ledger key; anything else by its author's current
/// key, revoked or not (the fold judges revocation); an unknown author has none.
#[test]
fn author_key_is_the_key_in_force() {
    let mut l = Ledger::with_record();
    let reg = &l.state.registry;
    let genesis = Event {
        kind: EventKind::Genesis {
            origin: text("other.example/ledger"),
            admin: actor("someone"),
            admin_key: key(9),
            ledger_key: key(10),
            settings: LedgerSettings::default(),
        },
        ..l.event(
            "someone",
            None,
            EventKind::LedgerClosed { reason: text("x") },
            "2012-03-01",
        )
    };
    assert_eq!(reg.author_key(&genesis), Some(key(9)));
    let head = l.event(
        "ledger",
        Some("R"),
        EventKind::RecordHead {
            entries: 2,
            last: Seq(4),
        },
        "2012-03-01",
    );
    assert_eq!(reg.author_key(&head), Some(key(2)));
    let note = l.event("lic", Some("R"), EventKind::ProgressNote, "2012-03-01");
    assert_eq!(reg.author_key(&note), Some(key(3)));
    let stranger = l.event("nobody", Some("R"), EventKind::ProgressNote, "2012-03-01");
    assert_eq!(reg.author_key(&stranger), None);
    l.revoke("lic").unwrap();
    assert_eq!(l.state.registry.author_key(&note), Some(key(3)));
    l.admin(
        EventKind::ActorEnrolled {
            actor: actor("lic"),
            role: Role::Licensee,
            public_key: key(7),
        },
        "2012-03-02",
    )
    .unwrap();
    assert_eq!(l.state.registry.author_key(&note), Some(key(7)));
    // Before genesis nobody has a key, not even the ledger.
    assert_eq!(Registry::default().author_key(&head), None);
    assert_eq!(Registry::default().author_key(&note), None);
}

/// The origin an event is signed for (FORMAT §2): genesis names its own; every later event
/// is signed for the ledger's; before genesis there is none to sign for.
#[test]
fn signing_origin_is_the_ledgers() {
    let l = Ledger::with_record();
    let note = l.event("lic", Some("R"), EventKind::ProgressNote, "2012-03-01");
    assert_eq!(l.state.registry.signing_origin(&note), Some(ORIGIN));
    assert_eq!(Registry::default().signing_origin(&note), None);
    let genesis = Event {
        kind: EventKind::Genesis {
            origin: text("other.example/ledger"),
            admin: actor("adm"),
            admin_key: key(1),
            ledger_key: key(2),
            settings: LedgerSettings::default(),
        },
        ..note.clone()
    };
    assert_eq!(
        l.state.registry.signing_origin(&genesis),
        Some("other.example/ledger")
    );
    assert_eq!(
        Registry::default().signing_origin(&genesis),
        Some("other.example/ledger")
    );
}

/// The refusal names what the entry carries and what was expected, in words an operator
/// can act on (the CLI prints this line).
#[test]
fn pointer_refusals_name_both_sides() {
    let v = Violation::PrevRegistryMismatch {
        found: None,
        expected: Some(Seq(3)),
    };
    assert_eq!(
        v.to_string(),
        "prev_registry none does not name the latest registry entry before it: expected seq 3"
    );
    let v = Violation::PlacementMismatch {
        found: caseledger_core::record::PlacementText(Some(Placement {
            ordinal: 1,
            prev_in_record: None,
        })),
        expected: caseledger_core::record::PlacementText(Some(Placement {
            ordinal: 3,
            prev_in_record: Some(Seq(5)),
        })),
    };
    assert_eq!(
        v.to_string(),
        "record placement ordinal 1, first of its record does not follow the record's entries: expected ordinal 3 after seq 5"
    );
    let v = Violation::PlacementMismatch {
        found: caseledger_core::record::PlacementText(None),
        expected: caseledger_core::record::PlacementText(None),
    };
    assert!(v.to_string().contains("placement none does not"), "{v}");
}

/// The report's status vocabulary (FORMAT §9, GUIDE): what `report.json`, `records` and
/// `status` print. A renamed status breaks every reader of reports.
#[test]
fn status_names_are_the_report_vocabulary() {
    use caseledger_core::record::Status;
    let names = [
        (Status::Open, "open"),
        (
            Status::Retained {
                until: d("2017-03-01"),
            },
            "retained",
        ),
        (Status::Eligible, "eligible"),
        (Status::OnHold, "on_hold"),
        (Status::DestroyedLawfully, "destroyed_lawfully"),
        (Status::DestroyedEarly, "destroyed_early"),
        (Status::ContentMissing, "content_missing"),
    ];
    for (status, name) in names {
        assert_eq!(status.name(), name, "{status:?}");
    }
}

/// A history that reads like the store's trees: it knows the entries appended so far and
/// fails on a damaged row.
struct Trees<'a> {
    state: &'a LedgerState,
    damaged: Option<Seq>,
}

impl caseledger_core::record::History for Trees<'_> {
    type Error = String;
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>, String> {
        if Some(seq) == self.damaged {
            return Err(format!("row {seq} is damaged"));
        }
        Ok(caseledger_core::record::History::record_of(self.state, seq).unwrap_or(None))
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>, String> {
        Ok(caseledger_core::record::History::nonce_seen(self.state, nonce).unwrap_or(None))
    }
}

/// `try_check` (the store's entry point, over a history that can fail) judges exactly as
/// `check` does, and a history it could not read is an error of its own, never a verdict.
#[test]
fn try_check_judges_like_check_and_reports_unreadable_history() {
    use caseledger_core::record::{check, try_check, CheckError};
    let l = Ledger::with_record();
    let reg = &l.state.registry;
    let rec = l.state.records.get(&RecordId::new("R").unwrap());
    let cases = [
        // Lawful: an amendment of the record's own note.
        (EventKind::Amendment { amends: Seq(4) }, None),
        // Unlawful: an amendment of an administration entry; a destruction of an open record.
        (
            EventKind::Amendment { amends: Seq(1) },
            Some("amendment target"),
        ),
        (
            EventKind::Destruction {
                reason: text("policy"),
                citation: None,
            },
            Some("destruction is not lawful"),
        ),
    ];
    for (kind, refused) in cases {
        let author = if matches!(kind, EventKind::Destruction { .. }) {
            "cus"
        } else {
            "lic"
        };
        let ev = l.event(author, Some("R"), kind, "2012-03-01");
        let step = Step {
            seq: Seq(l.next),
            recorded_at: Timestamp::start_of(d("2012-03-01")).unwrap(),
            placement: l.state.placement_for(ev.record.as_ref()),
            prev_registry: reg.last_change,
            event: &ev,
        };
        let trees = Trees {
            state: &l.state,
            damaged: None,
        };
        let by_check = check(reg, rec, step, &l.state);
        let by_try = try_check(reg, rec, step, &trees);
        match refused {
            None => {
                assert_eq!(by_check, Ok(()));
                assert_eq!(by_try, Ok(()));
            }
            Some(words) => {
                let v = by_check.unwrap_err();
                assert!(v.to_string().contains(words), "{v}");
                assert_eq!(by_try, Err(CheckError::Violation(v)));
            }
        }
    }
    // The amended entry's row cannot be read: no verdict either way.
    let ev = l.event(
        "lic",
        Some("R"),
        EventKind::Amendment { amends: Seq(4) },
        "2012-03-01",
    );
    let step = Step {
        seq: Seq(l.next),
        recorded_at: Timestamp::start_of(d("2012-03-01")).unwrap(),
        placement: l.state.placement_for(ev.record.as_ref()),
        prev_registry: reg.last_change,
        event: &ev,
    };
    let trees = Trees {
        state: &l.state,
        damaged: Some(Seq(4)),
    };
    assert_eq!(
        try_check(reg, rec, step, &trees),
        Err(CheckError::History("row 4 is damaged".to_owned()))
    );
}

impl Ledger {
    /// `lic`'s contact on R signed at `signed_at`, recorded at `recorded_at`, on a copy.
    fn signed_then_recorded(
        &self,
        signed_at: Timestamp,
        recorded_at: Timestamp,
    ) -> Result<(), Violation> {
        let ev = Event {
            signed_at,
            occurred_on: d("2012-02-11"),
            ..self.event("lic", Some("R"), EventKind::Contact, "2012-02-11")
        };
        let mut state = self.state.clone();
        state.step(Step {
            seq: Seq(self.next),
            recorded_at,
            placement: state.placement_for(ev.record.as_ref()),
            prev_registry: state.registry.last_change,
            event: &ev,
        })
    }
}

/// Genesis bounds the gap between an author's signature and the ledger's clock (FORMAT §2):
/// signed at most `clock_skew_secs` after it was recorded, and recorded at most
/// `max_signing_lag_secs` after it was signed. Both bounds are inclusive, to the microsecond.
#[test]
fn signing_time_bounds_are_inclusive() {
    use caseledger_core::event::{DEFAULT_CLOCK_SKEW_SECS, DEFAULT_MAX_SIGNING_LAG_SECS};
    let l = Ledger::with_record();
    let at = Timestamp::start_of(d("2012-02-11")).unwrap().micros() + 12 * 3_600_000_000;
    let skew = i64::from(DEFAULT_CLOCK_SKEW_SECS) * 1_000_000;
    let lag = i64::from(DEFAULT_MAX_SIGNING_LAG_SECS) * 1_000_000;
    let rec = Timestamp(at);
    // Signed ahead of the ledger's clock: up to the skew.
    l.signed_then_recorded(Timestamp(at + skew), rec).unwrap();
    assert!(matches!(
        l.signed_then_recorded(Timestamp(at + skew + 1), rec),
        Err(Violation::SignedInFuture { skew_secs, .. }) if skew_secs == DEFAULT_CLOCK_SKEW_SECS
    ));
    // Signed at the same instant it is recorded: fine.
    l.signed_then_recorded(rec, rec).unwrap();
    // Held back: up to the lag.
    l.signed_then_recorded(Timestamp(at - lag), rec).unwrap();
    assert!(matches!(
        l.signed_then_recorded(Timestamp(at - lag - 1), rec),
        Err(Violation::SignedTooLongAgo { lag_secs, .. }) if lag_secs == DEFAULT_MAX_SIGNING_LAG_SECS
    ));
}

/// Revoking an actor already revoked is refused (there is nothing left to revoke), as is
/// revoking one never enrolled.
#[test]
fn revoking_twice_is_refused() {
    let mut l = Ledger::new();
    l.revoke("lic").unwrap();
    assert_eq!(l.revoke("lic"), Err(Violation::NotEnrolled(actor("lic"))));
    assert_eq!(
        l.revoke("nobody"),
        Err(Violation::NotEnrolled(actor("nobody")))
    );
}

/// Only the ledger writes its own kinds (`record_head`), and the ledger writes nothing else;
/// the refusal names the author's actual role, so the operator sees who tried what.
#[test]
fn ledger_kinds_refusal_names_the_authors_role() {
    let l = Ledger::with_record();
    let head = EventKind::RecordHead {
        entries: 2,
        last: Seq(4),
    };
    let try_as = |author: &str, kind: EventKind| {
        let mut copy = Ledger {
            state: l.state.clone(),
            next: l.next,
        };
        copy.run(author, Some("R"), kind, "2012-02-12", "2012-02-12")
    };
    for (author, role) in [("lic", Role::Licensee), ("cus", Role::Custodian)] {
        assert!(
            matches!(
                try_as(author, head.clone()),
                Err(Violation::RoleNotAllowed { role: r, needed: Role::Ledger, .. }) if r == role
            ),
            "{author}"
        );
    }
    assert!(matches!(
        try_as("ledger", EventKind::ProgressNote),
        Err(Violation::RoleNotAllowed {
            role: Role::Ledger,
            needed: Role::Licensee,
            ..
        })
    ));
}

/// A destroyed record's proof stays exportable: the ledger's `record_head` may follow the
/// destruction and states the record as it is, counting every entry after it too (and each
/// entry's placement follows the count).
#[test]
fn record_heads_after_destruction_count_every_entry() {
    let mut l = Ledger::with_record();
    l.lic(terminated_on("2012-03-01"), "2012-03-01").unwrap();
    l.run(
        "cus",
        Some("R"),
        EventKind::Destruction {
            reason: text("policy"),
            citation: None,
        },
        "2017-03-02",
        "2017-03-02",
    )
    .unwrap();
    let head = |entries, last| EventKind::RecordHead {
        entries,
        last: Seq(last),
    };
    let destroyed_at = l.next - 1;
    l.run(
        "ledger",
        Some("R"),
        head(4, destroyed_at),
        "2017-03-02",
        "2017-03-02",
    )
    .unwrap();
    let first_head = l.next - 1;
    l.run(
        "ledger",
        Some("R"),
        head(5, first_head),
        "2017-03-03",
        "2017-03-03",
    )
    .unwrap();
    let r = &l.state.records[&RecordId::new("R").unwrap()];
    assert_eq!((r.entries, r.last_seq), (6, Seq(first_head + 1)));
}

impl Ledger {
    /// Applies `lic`'s event on R without checking it (the verifier replaying a faulty
    /// ledger), claimed and recorded on `on`.
    fn force(&mut self, kind: EventKind, on: &str) {
        let ev = self.event("lic", Some("R"), kind, on);
        let step = Step {
            seq: Seq(self.next),
            recorded_at: Timestamp::start_of(d(on)).unwrap(),
            placement: self.state.placement_for(ev.record.as_ref()),
            prev_registry: self.state.registry.last_change,
            event: &ev,
        };
        self.state.force(step);
        self.next += 1;
    }
    fn r(&self) -> &caseledger_core::record::RecordState {
        &self.state.records[&RecordId::new("R").unwrap()]
    }
}

/// A record is opened once: its `record_opened` gives the opening seq and date `status`
/// prints. Replaying a faulty ledger, a record seen first through another entry is opened
/// by its `record_opened` when it comes, and a second `record_opened` moves nothing.
#[test]
fn the_first_record_opened_opens_the_record() {
    let mut l = Ledger::new();
    l.lic(EventKind::RecordOpened, "2012-01-10").unwrap();
    assert!(l.r().opened);
    assert_eq!(
        (l.r().opened_seq, l.r().opened_on),
        (Seq(3), d("2012-01-10"))
    );

    let mut l = Ledger::new();
    l.force(EventKind::ProgressNote, "2012-01-05");
    assert!(!l.r().opened, "a note is not an opening");
    l.force(EventKind::RecordOpened, "2012-01-10");
    assert!(l.r().opened);
    assert_eq!(
        (l.r().opened_seq, l.r().opened_on),
        (Seq(4), d("2012-01-10"))
    );
    l.force(EventKind::RecordOpened, "2012-02-01");
    assert_eq!(
        (l.r().opened_seq, l.r().opened_on),
        (Seq(4), d("2012-01-10")),
        "a second record_opened does not reopen"
    );
}

/// The entry `status` names as what moved the retention clock is the first one recorded
/// with the latest service or contact date (FORMAT: `last_service_or_contact_seq`); a
/// later entry of the same date does not take its place, a later date does.
#[test]
fn the_first_entry_of_the_latest_service_date_moves_the_clock() {
    let mut l = Ledger::with_record();
    l.lic(EventKind::Contact, "2012-02-20").unwrap();
    let first = Seq(l.next - 1);
    l.lic(EventKind::Contact, "2012-02-20").unwrap();
    assert_eq!(l.r().last_service_or_contact_on, Some(d("2012-02-20")));
    assert_eq!(l.r().last_service_or_contact_seq, Some(first));
    l.lic(EventKind::Contact, "2012-02-21").unwrap();
    assert_eq!(l.r().last_service_or_contact_seq, Some(Seq(l.next - 1)));
}
