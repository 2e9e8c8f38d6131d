//! Table-driven tests of the record state machine and retention rules.
//!
//! Each case is a script of events on a fresh ledger (genesis, an admin, licensee `lic`,
//! custodian `cus`); every step but the last must be accepted; the last must give the
//! expected outcome.

use caseledger_core::event::{Event, EventKind, Kind, LedgerSettings, Role, ShortText};
use caseledger_core::ids::{ActorId, Nonce, RecordId, Seq};
use caseledger_core::keys::SigningKey;
use caseledger_core::record::{self, Item, LedgerState, ServiceClass, Status, Step, Violation};
use caseledger_core::time::{Date, Timestamp};

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
fn text(s: &str) -> ShortText {
    ShortText::new(s).unwrap()
}

/// One scripted step: who, which record, what, claimed date, ledger date.
struct S {
    author: &'static str,
    record: Option<&'static str>,
    kind: EventKind,
    occurred: &'static str,
    recorded: &'static str,
    nonce: Option<[u8; 16]>,
}

fn s(
    author: &'static str,
    record: &'static str,
    kind: EventKind,
    occurred: &'static str,
    recorded: &'static str,
) -> S {
    S {
        author,
        record: Some(record),
        kind,
        occurred,
        recorded,
        nonce: None,
    }
}
fn admin(kind: EventKind, recorded: &'static str) -> S {
    S {
        author: "adm",
        record: None,
        kind,
        occurred: recorded,
        recorded,
        nonce: None,
    }
}

struct Ledger {
    state: LedgerState,
    next: u64,
}

fn genesis(private_practice: bool) -> Ledger {
    let mut l = Ledger {
        state: LedgerState::default(),
        next: 0,
    };
    let k = SigningKey::from_seed(&[1; 32]);
    let g = EventKind::Genesis {
        origin: text("test.example/ledger"),
        admin: ActorId::new("adm").unwrap(),
        admin_key: k.public_key(),
        ledger_key: SigningKey::from_seed(&[2; 32]).public_key(),
        settings: LedgerSettings {
            private_practice,
            ..LedgerSettings::default()
        },
    };
    l.run(admin(g, "2010-01-01")).unwrap();
    for (id, role, seed) in [
        ("lic", Role::Licensee, 3u8),
        ("cus", Role::Custodian, 4),
        ("lic2", Role::Licensee, 5),
    ] {
        let kind = EventKind::ActorEnrolled {
            actor: ActorId::new(id).unwrap(),
            role,
            public_key: SigningKey::from_seed(&[seed; 32]).public_key(),
        };
        l.run(admin(kind, "2010-01-01")).unwrap();
    }
    l
}

impl Ledger {
    fn run(&mut self, st: S) -> Result<(), Violation> {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.next.to_be_bytes());
        let ev = Event {
            record: st.record.map(|r| RecordId::new(r).unwrap()),
            author: ActorId::new(st.author).unwrap(),
            kind: st.kind,
            occurred_on: d(st.occurred),
            signed_at: Timestamp::start_of(d(st.recorded)).unwrap(),
            commitment: None,
            nonce: Nonce(st.nonce.unwrap_or(nonce)),
        };
        let step = Step {
            seq: Seq(self.next),
            recorded_at: Timestamp::start_of(d(st.recorded)).unwrap(),
            placement: self.state.placement_for(ev.record.as_ref()),
            prev_registry: self.state.registry.last_change,
            event: &ev,
        };
        self.state.step(step)?;
        self.next += 1;
        Ok(())
    }
    fn record(&self, r: &str) -> &record::RecordState {
        &self.state.records[&RecordId::new(r).unwrap()]
    }
}

fn term(on: &'static str) -> EventKind {
    EventKind::ServiceTerminated {
        terminated_on: d(on),
        reason: caseledger_core::event::TerminationReason::Unstated,
    }
}
fn destroy() -> EventKind {
    EventKind::Destruction {
        reason: text("retention policy 7.2"),
        citation: None,
    }
}
fn hold(m: &str) -> EventKind {
    EventKind::HoldPlaced { matter: text(m) }
}
fn release(m: &str) -> EventKind {
    EventKind::HoldReleased { matter: text(m) }
}

/// The opening of record R, service from 2012.
fn opened(r: &'static str) -> Vec<S> {
    vec![
        s(
            "lic",
            r,
            EventKind::RecordOpened,
            "2012-01-10",
            "2012-01-10",
        ),
        s(
            "lic",
            r,
            EventKind::ProgressNote,
            "2012-02-10",
            "2012-02-10",
        ),
    ]
}

/// Record R opened in 2012 and terminated on 2012-03-01, then `more`.
fn after_term(more: Vec<S>) -> Vec<S> {
    with(
        with(
            opened("R"),
            vec![s(
                "lic",
                "R",
                term("2012-03-01"),
                "2012-03-01",
                "2012-03-01",
            )],
        ),
        more,
    )
}

/// A licensee event of `kind` on R, claimed and recorded on `on`.
fn lic(kind: EventKind, on: &'static str) -> S {
    s("lic", "R", kind, on, on)
}

/// Whether the outcome is the after-termination refusal for `kind`.
fn refused_after_termination(r: &Result<(), Violation>, kind: Kind) -> bool {
    matches!(r, Err(Violation::ServiceAfterTermination { kind: k, terminated_on, .. }) if *k == kind && terminated_on.to_string() == "2012-03-01")
}

fn outcome(script: Vec<S>) -> Result<(), Violation> {
    let mut l = genesis(false);
    let n = script.len();
    for (i, st) in script.into_iter().enumerate() {
        let r = l.run(st);
        if i + 1 < n {
            r.unwrap_or_else(|e| panic!("step {i} refused: {e}"));
        } else {
            return r;
        }
    }
    Ok(())
}

fn with(mut base: Vec<S>, more: Vec<S>) -> Vec<S> {
    base.extend(more);
    base
}

#[test]
#[rustfmt::skip] // One case per line: adding a case is adding a line.
fn table() {
    type Check = fn(&Result<(), Violation>) -> bool;
    let cases: Vec<(&str, Vec<S>, Check)> = vec![
        ("open then note is fine", opened("R"), |r| r.is_ok()),
        ("event on unopened record", vec![s("lic", "R", EventKind::ProgressNote, "2012-01-01", "2012-01-01")], |r| matches!(r, Err(Violation::RecordNotOpened(_)))),
        ("second open", with(opened("R"), vec![s("lic", "R", EventKind::RecordOpened, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::RecordAlreadyOpened(_)))),
        ("custodian may not write notes", with(opened("R"), vec![s("cus", "R", EventKind::ProgressNote, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::RoleNotAllowed { needed: Role::Licensee, .. }))),
        ("licensee may not destroy", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("lic", "R", destroy(), "2020-01-01", "2020-01-01")]), |r| matches!(r, Err(Violation::RoleNotAllowed { needed: Role::Custodian, .. }))),
        ("unknown author", with(opened("R"), vec![s("nobody", "R", EventKind::Contact, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::UnknownAuthor(_)))),
        ("revoked author", with(opened("R"), vec![admin(EventKind::KeyRevoked { actor: ActorId::new("lic").unwrap() }, "2012-03-01"), s("lic", "R", EventKind::Contact, "2012-03-02", "2012-03-02")]), |r| matches!(r, Err(Violation::AuthorRevoked(_)))),
        ("re-enrolment after revocation (key rotation)", with(opened("R"), vec![
            admin(EventKind::KeyRevoked { actor: ActorId::new("lic").unwrap() }, "2012-03-01"),
            admin(EventKind::ActorEnrolled { actor: ActorId::new("lic").unwrap(), role: Role::Licensee, public_key: SigningKey::from_seed(&[9; 32]).public_key() }, "2012-03-01"),
            s("lic", "R", EventKind::Contact, "2012-03-02", "2012-03-02")]), |r| r.is_ok()),
        ("enrol twice", vec![admin(EventKind::ActorEnrolled { actor: ActorId::new("lic").unwrap(), role: Role::Licensee, public_key: SigningKey::from_seed(&[9; 32]).public_key() }, "2012-03-01")], |r| matches!(r, Err(Violation::AlreadyEnrolled(_)))),
        ("revoke the last admin", vec![admin(EventKind::KeyRevoked { actor: ActorId::new("adm").unwrap() }, "2012-03-01")], |r| matches!(r, Err(Violation::LastAdmin(_)))),
        ("recorded_at regression", with(opened("R"), vec![s("lic", "R", EventKind::Contact, "2011-01-01", "2011-01-01")]), |r| matches!(r, Err(Violation::RecordedAtRegressed { .. }))),
        ("occurred in the future", with(opened("R"), vec![s("lic", "R", EventKind::Contact, "2012-03-05", "2012-03-01")]), |r| matches!(r, Err(Violation::OccurredInFuture { .. }))),
        ("one day of time-zone slack", with(opened("R"), vec![s("lic", "R", EventKind::Contact, "2012-03-02", "2012-03-01")]), |r| r.is_ok()),
        ("backdated termination", with(opened("R"), vec![s("lic", "R", term("2012-01-15"), "2012-01-15", "2012-03-01")]), |r| matches!(r, Err(Violation::TerminationBackdated { .. }))),
        ("terminate twice", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("lic", "R", term("2012-03-02"), "2012-03-02", "2012-03-02")]), |r| matches!(r, Err(Violation::AlreadyTerminated(_)))),
        ("resume open record", with(opened("R"), vec![s("lic", "R", EventKind::ServiceResumed, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::NotTerminated(_)))),
        ("amend own earlier entry", with(opened("R"), vec![s("lic", "R", EventKind::Amendment { amends: Seq(5) }, "2012-03-01", "2012-03-01")]), |r| r.is_ok()),
        ("amend another record's entry", with(opened("R"), vec![s("lic", "Q", EventKind::RecordOpened, "2012-02-11", "2012-02-11"), s("lic", "R", EventKind::Amendment { amends: Seq(6) }, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::BadAmendmentTarget { .. }))),
        ("amend a later entry", with(opened("R"), vec![s("lic", "R", EventKind::Amendment { amends: Seq(99) }, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::BadAmendmentTarget { .. }))),
        ("amend an admin entry", with(opened("R"), vec![s("lic", "R", EventKind::Amendment { amends: Seq(1) }, "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::BadAmendmentTarget { .. }))),
        ("destroy open record", with(opened("R"), vec![s("cus", "R", destroy(), "2020-01-01", "2020-01-01")]), |r| matches!(r, Err(Violation::DestructionOfOpenRecord(_)))),
        ("destroy on the last day of retention", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", destroy(), "2017-03-01", "2017-03-01")]), |r| matches!(r, Err(Violation::DestructionBeforeRetentionEnd { lawful_from, .. }) if lawful_from.to_string() == "2017-03-02")),
        ("destroy the day after", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", destroy(), "2017-03-02", "2017-03-02")]), |r| r.is_ok()),
        ("backdated destruction is judged at the ledger date", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", destroy(), "2012-03-01", "2017-03-02")]), |r| r.is_ok()),
        ("claimed date cannot make destruction lawful", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", destroy(), "2017-03-02", "2016-01-01")]), |r| matches!(r, Err(Violation::OccurredInFuture { .. }))),
        ("leap day: Feb 28 is still retained", with(opened("R"), vec![s("lic", "R", term("2012-02-29"), "2012-02-29", "2012-02-29"), s("cus", "R", destroy(), "2017-02-28", "2017-02-28")]), |r| matches!(r, Err(Violation::DestructionBeforeRetentionEnd { retained_until, lawful_from, .. }) if retained_until.to_string() == "2017-02-28" && lawful_from.to_string() == "2017-03-01")),
        ("leap day: Mar 1 is lawful", with(opened("R"), vec![s("lic", "R", term("2012-02-29"), "2012-02-29", "2012-02-29"), s("cus", "R", destroy(), "2017-03-01", "2017-03-01")]), |r| r.is_ok()),
        ("resumption clears the clock", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("lic", "R", EventKind::ServiceResumed, "2013-01-01", "2013-01-01"), s("cus", "R", destroy(), "2018-01-01", "2018-01-01")]), |r| matches!(r, Err(Violation::DestructionOfOpenRecord(_)))),
        ("the last termination counts", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("lic", "R", EventKind::ServiceResumed, "2013-01-01", "2013-01-01"), s("lic", "R", term("2014-06-30"), "2014-06-30", "2014-06-30"), s("cus", "R", destroy(), "2019-06-30", "2019-06-30")]), |r| matches!(r, Err(Violation::DestructionBeforeRetentionEnd { .. }))),
        ("hold blocks destruction", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", hold("MO-2019-17"), "2016-01-01", "2016-01-01"), s("cus", "R", destroy(), "2018-01-01", "2018-01-01")]), |r| matches!(r, Err(Violation::DestructionUnderHold { matters, .. }) if matters.len() == 1)),
        ("released hold allows destruction", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", hold("MO-2019-17"), "2016-01-01", "2016-01-01"), s("cus", "R", release("MO-2019-17"), "2017-06-01", "2017-06-01"), s("cus", "R", destroy(), "2018-01-01", "2018-01-01")]), |r| r.is_ok()),
        ("two holds, one released", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", hold("A"), "2016-01-01", "2016-01-01"), s("cus", "R", hold("B"), "2016-01-01", "2016-01-01"), s("cus", "R", release("A"), "2017-06-01", "2017-06-01"), s("cus", "R", destroy(), "2018-01-01", "2018-01-01")]), |r| matches!(r, Err(Violation::DestructionUnderHold { .. }))),
        ("hold placed twice", with(opened("R"), vec![s("cus", "R", hold("A"), "2012-03-01", "2012-03-01"), s("cus", "R", hold("A"), "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::HoldAlreadyPlaced { .. }))),
        ("release of no hold", with(opened("R"), vec![s("cus", "R", release("A"), "2012-03-01", "2012-03-01")]), |r| matches!(r, Err(Violation::HoldNotPlaced { .. }))),
        ("nothing after destruction", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", destroy(), "2018-01-01", "2018-01-01"), s("lic", "R", EventKind::Contact, "2018-01-02", "2018-01-02")]), |r| matches!(r, Err(Violation::AfterDestruction { destroyed_at: Seq(7), .. }))),
        ("no hold after destruction either", with(opened("R"), vec![s("lic", "R", term("2012-03-01"), "2012-03-01", "2012-03-01"), s("cus", "R", destroy(), "2018-01-01", "2018-01-01"), s("cus", "R", hold("A"), "2018-01-02", "2018-01-02")]), |r| matches!(r, Err(Violation::AfterDestruction { .. }))),
        ("replayed nonce", with(opened("R"), vec![S { nonce: Some({ let mut n = [0u8; 16]; n[..8].copy_from_slice(&5u64.to_be_bytes()); n }), ..s("lic", "R", EventKind::Contact, "2012-03-01", "2012-03-01") }]), |r| matches!(r, Err(Violation::Replay { first: Seq(5) }))),
        // Service after termination (issue 11): refused until service_resumed; contacts and the
        // parts of terminating stay allowed. One row per kind.
        ("presenting_problem after termination", after_term(vec![lic(EventKind::PresentingProblem, "2013-01-01")]), |r| refused_after_termination(r, Kind::PresentingProblem)),
        ("assessment after termination", after_term(vec![lic(EventKind::Assessment, "2013-01-01")]), |r| refused_after_termination(r, Kind::Assessment)),
        ("plan_of_action after termination", after_term(vec![lic(EventKind::PlanOfAction, "2013-01-01")]), |r| refused_after_termination(r, Kind::PlanOfAction)),
        ("progress_note after termination", after_term(vec![lic(EventKind::ProgressNote, "2013-01-01")]), |r| refused_after_termination(r, Kind::ProgressNote)),
        ("consult after termination", after_term(vec![lic(EventKind::Consult, "2013-01-01")]), |r| refused_after_termination(r, Kind::Consult)),
        ("evaluative_report after termination", after_term(vec![lic(EventKind::EvaluativeReport, "2013-01-01")]), |r| refused_after_termination(r, Kind::EvaluativeReport)),
        ("disclosure after termination", after_term(vec![lic(EventKind::Disclosure, "2013-01-01")]), |r| refused_after_termination(r, Kind::Disclosure)),
        ("recording_consent after termination", after_term(vec![lic(EventKind::RecordingConsent, "2013-01-01")]), |r| refused_after_termination(r, Kind::RecordingConsent)),
        ("fee_arrangement after termination", after_term(vec![lic(EventKind::FeeArrangement, "2013-01-01")]), |r| refused_after_termination(r, Kind::FeeArrangement)),
        ("a backdated note after termination is refused too", after_term(vec![s("lic", "R", EventKind::ProgressNote, "2012-02-20", "2013-01-01")]), |r| refused_after_termination(r, Kind::ProgressNote)),
        ("contact after termination (a records request)", after_term(vec![lic(EventKind::Contact, "2013-01-01")]), |r| r.is_ok()),
        ("termination_notice after termination", after_term(vec![lic(EventKind::TerminationNotice, "2012-03-05")]), |r| r.is_ok()),
        ("referral after termination", after_term(vec![lic(EventKind::Referral, "2012-03-05")]), |r| r.is_ok()),
        ("amendment after termination", after_term(vec![lic(EventKind::Amendment { amends: Seq(5) }, "2013-01-01")]), |r| r.is_ok()),
        ("hold after termination", after_term(vec![s("cus", "R", hold("A"), "2013-01-01", "2013-01-01")]), |r| r.is_ok()),
        ("hold released after termination", after_term(vec![s("cus", "R", hold("A"), "2013-01-01", "2013-01-01"), s("cus", "R", release("A"), "2013-02-01", "2013-02-01")]), |r| r.is_ok()),
        ("service_resumed after termination", after_term(vec![lic(EventKind::ServiceResumed, "2013-01-01")]), |r| r.is_ok()),
        ("resumed, then a note", after_term(vec![lic(EventKind::ServiceResumed, "2013-01-01"), lic(EventKind::ProgressNote, "2013-01-02")]), |r| r.is_ok()),
        ("resumed, then every service kind", after_term(vec![lic(EventKind::ServiceResumed, "2013-01-01"), lic(EventKind::Disclosure, "2013-01-01"), lic(EventKind::RecordingConsent, "2013-01-01"), lic(EventKind::FeeArrangement, "2013-01-01"), lic(EventKind::PresentingProblem, "2013-01-01"), lic(EventKind::Assessment, "2013-01-02"), lic(EventKind::PlanOfAction, "2013-01-02"), lic(EventKind::Consult, "2013-01-03"), lic(EventKind::EvaluativeReport, "2013-01-03"), lic(EventKind::ProgressNote, "2013-01-04")]), |r| r.is_ok()),
        ("resumed and terminated again: service refused again", after_term(vec![lic(EventKind::ServiceResumed, "2013-01-01"), lic(EventKind::ProgressNote, "2013-01-02"), lic(term("2013-02-01"), "2013-02-01"), lic(EventKind::ProgressNote, "2013-03-01")]), |r| matches!(r, Err(Violation::ServiceAfterTermination { terminated_on, .. }) if terminated_on.to_string() == "2013-02-01")),
        // The retention clock starts at the latest date of service or client contact when it
        // is later than the termination.
        ("a later contact moves the lawful date", after_term(vec![lic(EventKind::Contact, "2013-06-01"), s("cus", "R", destroy(), "2017-03-02", "2017-03-02")]), |r| matches!(r, Err(Violation::DestructionBeforeRetentionEnd { retained_until, lawful_from, .. }) if retained_until.to_string() == "2018-06-01" && lawful_from.to_string() == "2018-06-02")),
        ("a later contact: lawful the day after its fifth anniversary", after_term(vec![lic(EventKind::Contact, "2013-06-01"), s("cus", "R", destroy(), "2018-06-02", "2018-06-02")]), |r| r.is_ok()),
        ("a late termination notice moves the lawful date", after_term(vec![lic(EventKind::TerminationNotice, "2012-03-09"), s("cus", "R", destroy(), "2017-03-02", "2017-03-02")]), |r| matches!(r, Err(Violation::DestructionBeforeRetentionEnd { lawful_from, .. }) if lawful_from.to_string() == "2017-03-10")),
        ("a contact claimed before the termination does not move it", after_term(vec![s("lic", "R", EventKind::Contact, "2012-02-15", "2013-06-01"), s("cus", "R", destroy(), "2017-03-02", "2017-03-02")]), |r| r.is_ok()),
        ("an amendment or a hold does not move it", after_term(vec![lic(EventKind::Amendment { amends: Seq(5) }, "2014-01-01"), s("cus", "R", hold("A"), "2014-01-01", "2014-01-01"), s("cus", "R", release("A"), "2014-02-01", "2014-02-01"), s("cus", "R", destroy(), "2017-03-02", "2017-03-02")]), |r| r.is_ok()),
        ("leap day contact: Feb 28 is still retained", after_term(vec![lic(EventKind::Contact, "2016-02-29"), s("cus", "R", destroy(), "2021-02-28", "2021-02-28")]), |r| matches!(r, Err(Violation::DestructionBeforeRetentionEnd { retained_until, lawful_from, .. }) if retained_until.to_string() == "2021-02-28" && lawful_from.to_string() == "2021-03-01")),
        ("leap day contact: Mar 1 is lawful", after_term(vec![lic(EventKind::Contact, "2016-02-29"), s("cus", "R", destroy(), "2021-03-01", "2021-03-01")]), |r| r.is_ok()),
        ("second genesis", vec![admin(EventKind::Genesis { origin: text("x"), admin: ActorId::new("adm").unwrap(), admin_key: SigningKey::from_seed(&[1; 32]).public_key(), ledger_key: SigningKey::from_seed(&[1; 32]).public_key(), settings: LedgerSettings::default() }, "2012-01-01")], |r| matches!(r, Err(Violation::GenesisPlacement))),
        ("admin event naming a record", vec![S { record: Some("R"), ..admin(EventKind::KeyRevoked { actor: ActorId::new("lic").unwrap() }, "2012-03-01") }], |r| matches!(r, Err(Violation::Shape(_)))),
    ];
    let mut failed = vec![];
    for (name, script, ok) in cases {
        let r = outcome(script);
        if !ok(&r) {
            failed.push(format!("{name}: got {r:?}"));
        }
    }
    assert!(failed.is_empty(), "cases failed:\n{}", failed.join("\n"));
}

#[test]
fn status_as_of_dates() {
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    let r = l.record("R");
    assert_eq!(r.status(d("2030-01-01"), false), Status::Open);
    l.run(s(
        "lic",
        "R",
        term("2012-02-29"),
        "2012-02-29",
        "2012-03-01",
    ))
    .unwrap();
    let r = l.record("R");
    assert_eq!(
        r.status(d("2017-02-28"), false),
        Status::Retained {
            until: d("2017-02-28")
        }
    );
    assert_eq!(r.status(d("2017-03-01"), false), Status::Eligible);
    assert_eq!(r.status(d("2017-03-01"), true), Status::ContentMissing);
    l.run(s("cus", "R", hold("H-1"), "2013-01-01", "2013-01-01"))
        .unwrap();
    assert_eq!(l.record("R").status(d("2020-01-01"), false), Status::OnHold);
    l.run(s("cus", "R", release("H-1"), "2018-01-01", "2018-01-01"))
        .unwrap();
    l.run(s("cus", "R", destroy(), "2018-01-02", "2018-01-02"))
        .unwrap();
    let r = l.record("R");
    assert_eq!(r.status(d("2018-01-03"), false), Status::DestroyedLawfully);
    assert_eq!(
        r.destroyed.as_ref().map(|x| (x.seq, x.on)),
        Some((Seq(9), d("2018-01-02")))
    );
}

#[test]
fn forced_early_destruction_is_marked_unlawful() {
    // The verifier replays a ledger whose trees were edited: `force` applies what `check` refuses.
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    l.run(s(
        "lic",
        "R",
        term("2012-03-01"),
        "2012-03-01",
        "2012-03-01",
    ))
    .unwrap();
    let ev = Event {
        record: Some(RecordId::new("R").unwrap()),
        author: ActorId::new("cus").unwrap(),
        kind: destroy(),
        occurred_on: d("2013-01-01"),
        signed_at: Timestamp::start_of(d("2013-01-01")).unwrap(),
        commitment: None,
        nonce: Nonce([0xee; 16]),
    };
    let step = Step {
        seq: Seq(7),
        recorded_at: Timestamp::start_of(d("2013-01-01")).unwrap(),
        placement: l.state.placement_for(ev.record.as_ref()),
        prev_registry: l.state.registry.last_change,
        event: &ev,
    };
    assert!(matches!(
        l.state.step(step),
        Err(Violation::DestructionBeforeRetentionEnd { .. })
    ));
    l.state.force(step);
    assert_eq!(
        l.record("R").status(d("2014-01-01"), false),
        Status::DestroyedEarly
    );
}

#[test]
fn completeness_items() {
    let mut l = genesis(true);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    let c = l.record("R").completeness(&l.state.registry.settings);
    assert_eq!(c.a_progress_notes, Item::Present);
    assert_eq!(c.a_assessment, Item::Missing);
    assert_eq!(c.d_consults, Item::NoneRecorded);
    // (7) is presence only: the event model does not mark recorded sessions.
    assert_eq!(c.recording_consent, Item::NoneRecorded);
    assert!(!c.missing().contains(&"7_recording_consent"));
    assert_eq!(
        c.f_termination_notice,
        Item::NotApplicable,
        "(F) applies once service terminates"
    );
    l.run(s(
        "lic",
        "R",
        EventKind::RecordingConsent,
        "2012-02-11",
        "2012-02-11",
    ))
    .unwrap();
    let c = l.record("R").completeness(&l.state.registry.settings);
    assert_eq!(c.recording_consent, Item::Present);
    l.run(s(
        "lic",
        "R",
        term("2012-03-01"),
        "2012-03-01",
        "2012-03-01",
    ))
    .unwrap();
    let c = l.record("R").completeness(&l.state.registry.settings);
    assert_eq!(
        c.f_termination_notice,
        Item::Missing,
        "private practice: (F) required after termination"
    );
    l.run(s(
        "lic",
        "R",
        EventKind::TerminationNotice,
        "2012-03-02",
        "2012-03-02",
    ))
    .unwrap();
    let c = l.record("R").completeness(&l.state.registry.settings);
    assert_eq!(c.f_termination_notice, Item::Present);
    assert!(c.missing().contains(&"11A_assessment"));
    assert!(!c.missing().contains(&"11F_termination_notice"));
    // Outside private practice (F) is never required.
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    l.run(s(
        "lic",
        "R",
        term("2012-03-01"),
        "2012-03-01",
        "2012-03-01",
    ))
    .unwrap();
    assert_eq!(
        l.record("R")
            .completeness(&l.state.registry.settings)
            .f_termination_notice,
        Item::NotApplicable
    );
}

#[test]
fn service_after_termination_names_the_fix() {
    let r = outcome(after_term(vec![lic(EventKind::ProgressNote, "2013-01-01")]));
    let msg = r.unwrap_err().to_string();
    assert_eq!(
        msg,
        "record R: service terminated on 2012-03-01; progress_note records service: append service_resumed first"
    );
}

#[test]
fn service_classes_are_pinned() {
    // The one classification (Kind::service_class): a change here is a change of rule, and
    // docs/FORMAT.md §4 and docs/REGULATION.md must change with it.
    use ServiceClass::{Contact, Other, Renders, Terms};
    let expected = [
        (Kind::Genesis, Other),
        (Kind::ActorEnrolled, Other),
        (Kind::KeyRevoked, Other),
        (Kind::RecordOpened, Other),
        (Kind::Disclosure, Terms),
        (Kind::RecordingConsent, Terms),
        (Kind::PresentingProblem, Renders),
        (Kind::Assessment, Renders),
        (Kind::PlanOfAction, Renders),
        (Kind::ProgressNote, Renders),
        (Kind::FeeArrangement, Terms),
        (Kind::Contact, Contact),
        (Kind::Consult, Renders),
        (Kind::EvaluativeReport, Renders),
        (Kind::TerminationNotice, Contact),
        (Kind::ServiceTerminated, Other),
        (Kind::ServiceResumed, Other),
        (Kind::Referral, Contact),
        (Kind::Amendment, Other),
        (Kind::HoldPlaced, Other),
        (Kind::HoldReleased, Other),
        (Kind::Destruction, Other),
        (Kind::ClockCorrected, Other),
        (Kind::RecordHead, Other),
        (Kind::LedgerClosed, Other),
    ];
    assert_eq!(expected.len(), Kind::ALL.len());
    for (k, class) in expected {
        assert_eq!(k.service_class(), class, "{k}");
        assert_eq!(k.records_service(), matches!(class, Terms | Renders), "{k}");
        assert_eq!(k.dates_service_or_contact(), class != Other, "{k}");
    }
}

/// The walk-through of issue 11: service ended in 2021 and a progress note dated 2026 came
/// in without `service_resumed`. The fold refuses it; a verifier replaying a ledger that holds
/// it anyway (`force`) keeps the record until the note's date + 5 years, whatever the order.
#[test]
fn late_note_moves_eligibility_even_when_forced() {
    let mut l = genesis(false);
    l.run(s(
        "lic",
        "R",
        EventKind::RecordOpened,
        "2019-07-01",
        "2019-07-01",
    ))
    .unwrap();
    l.run(s(
        "lic",
        "R",
        EventKind::ProgressNote,
        "2021-05-01",
        "2021-05-01",
    ))
    .unwrap();
    l.run(s(
        "lic",
        "R",
        term("2021-05-31"),
        "2021-05-31",
        "2021-05-31",
    ))
    .unwrap();
    assert_eq!(
        l.record("R")
            .lawful_from()
            .map(|d| d.to_string())
            .as_deref(),
        Some("2026-06-01")
    );
    let note = Event {
        record: Some(RecordId::new("R").unwrap()),
        author: ActorId::new("lic").unwrap(),
        kind: EventKind::ProgressNote,
        occurred_on: d("2026-03-10"),
        signed_at: Timestamp::start_of(d("2026-03-10")).unwrap(),
        commitment: None,
        nonce: Nonce([0xab; 16]),
    };
    let step = Step {
        seq: Seq(l.next),
        recorded_at: Timestamp::start_of(d("2026-03-10")).unwrap(),
        placement: l.state.placement_for(note.record.as_ref()),
        prev_registry: l.state.registry.last_change,
        event: &note,
    };
    assert!(matches!(
        l.state.step(step),
        Err(Violation::ServiceAfterTermination {
            kind: Kind::ProgressNote,
            ..
        })
    ));
    l.state.force(step);
    let r = l.record("R");
    assert_eq!(r.retention_start(), Some(d("2026-03-10")));
    assert_eq!(r.retained_until(), Some(d("2031-03-10")));
    assert_eq!(r.lawful_from(), Some(d("2031-03-11")));
    assert_eq!(
        r.status(d("2026-06-01"), false),
        Status::Retained {
            until: d("2031-03-10")
        }
    );
    assert_eq!(
        r.status(d("2031-03-10"), false),
        Status::Retained {
            until: d("2031-03-10")
        }
    );
    assert_eq!(r.status(d("2031-03-11"), false), Status::Eligible);
    let rid = RecordId::new("R").unwrap();
    assert!(matches!(
        r.check_destruction(&rid, d("2026-03-10")),
        Err(Violation::DestructionBeforeRetentionEnd { lawful_from, .. }) if lawful_from == d("2031-03-11")
    ));
    assert!(r.check_destruction(&rid, d("2031-03-11")).is_ok());
}

/// A service date on Feb 29 that starts the clock: Feb 28 five years on is the last day.
#[test]
fn leap_day_service_date_when_forced() {
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    l.run(s(
        "lic",
        "R",
        term("2012-03-01"),
        "2012-03-01",
        "2012-03-01",
    ))
    .unwrap();
    let note = Event {
        record: Some(RecordId::new("R").unwrap()),
        author: ActorId::new("lic").unwrap(),
        kind: EventKind::Assessment,
        occurred_on: d("2016-02-29"),
        signed_at: Timestamp::start_of(d("2016-02-29")).unwrap(),
        commitment: None,
        nonce: Nonce([0xcd; 16]),
    };
    l.state.force(Step {
        seq: Seq(l.next),
        recorded_at: Timestamp::start_of(d("2016-02-29")).unwrap(),
        placement: l.state.placement_for(note.record.as_ref()),
        prev_registry: l.state.registry.last_change,
        event: &note,
    });
    let r = l.record("R");
    assert_eq!(r.retained_until(), Some(d("2021-02-28")));
    assert_eq!(r.lawful_from(), Some(d("2021-03-01")));
    assert_eq!(r.status(d("2021-03-01"), false), Status::Eligible);
}

/// (3): a disclosure at or before the first service is present; one dated after it, or none,
/// is missing. Judged on claimed dates, so the order of import does not matter.
#[test]
#[rustfmt::skip] // One case per line.
fn disclosure_at_or_before_first_service() {
    type Script = Vec<(EventKind, &'static str)>;
    let cases: Vec<(&str, Script, Item)> = vec![
        ("no disclosure", vec![(EventKind::Assessment, "2012-01-11")], Item::Missing),
        ("disclosure, no service yet", vec![(EventKind::Disclosure, "2012-01-10")], Item::Present),
        ("same day", vec![(EventKind::Disclosure, "2012-01-10"), (EventKind::PresentingProblem, "2012-01-10")], Item::Present),
        ("same day, service entered first", vec![(EventKind::PresentingProblem, "2012-01-10"), (EventKind::Disclosure, "2012-01-10")], Item::Present),
        ("before, imported after the service", vec![(EventKind::PresentingProblem, "2012-01-12"), (EventKind::Assessment, "2012-01-13"), (EventKind::Disclosure, "2012-01-11")], Item::Present),
        ("after the first service", vec![(EventKind::Assessment, "2012-01-11"), (EventKind::Disclosure, "2012-01-12")], Item::Missing),
        ("a contact and a fee arrangement before it are not service", vec![(EventKind::Contact, "2012-01-10"), (EventKind::FeeArrangement, "2012-01-10"), (EventKind::Disclosure, "2012-01-11"), (EventKind::Assessment, "2012-01-11")], Item::Present),
    ];
    for (name, script, want) in cases {
        let mut l = genesis(false);
        l.run(s(
            "lic",
            "R",
            EventKind::RecordOpened,
            "2012-01-10",
            "2012-01-10",
        ))
        .unwrap();
        for (kind, on) in script {
            // Recorded after every claimed date, so any claimed order is allowed.
            l.run(s("lic", "R", kind, on, "2012-02-01")).unwrap();
        }
        let c = l.record("R").completeness(&l.state.registry.settings);
        assert_eq!(c.disclosure, want, "{name}");
        assert_eq!(c.missing().contains(&"3_disclosure"), want == Item::Missing, "{name}");
    }
}

fn step_with(
    l: &Ledger,
    st: &S,
    placement: Option<caseledger_core::event::Placement>,
) -> (
    Event,
    Seq,
    Timestamp,
    Option<caseledger_core::event::Placement>,
) {
    let mut nonce = [0x77u8; 16];
    nonce[..8].copy_from_slice(&l.next.to_be_bytes());
    let ev = Event {
        record: st.record.map(|r| RecordId::new(r).unwrap()),
        author: ActorId::new(st.author).unwrap(),
        kind: st.kind.clone(),
        occurred_on: d(st.occurred),
        signed_at: Timestamp::start_of(d(st.recorded)).unwrap(),
        commitment: None,
        nonce: Nonce(nonce),
    };
    (
        ev,
        Seq(l.next),
        Timestamp::start_of(d(st.recorded)).unwrap(),
        placement,
    )
}

/// Store-assigned placement: an entry whose ordinal or previous seq does not follow its
/// record's entries (one removed or moved in between) is refused, and so is a placement on
/// an administration entry.
#[test]
fn placement_must_follow_the_record() {
    use caseledger_core::event::Placement;
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    let r = l.record("R");
    assert_eq!((r.entries, r.last_seq), (2, Seq(5)));
    let note = s(
        "lic",
        "R",
        EventKind::Assessment,
        "2012-02-11",
        "2012-02-11",
    );
    for wrong in [
        None,
        Some(Placement {
            ordinal: 4,
            prev_in_record: Some(Seq(5)),
        }),
        Some(Placement {
            ordinal: 3,
            prev_in_record: Some(Seq(4)),
        }),
        Some(Placement {
            ordinal: 3,
            prev_in_record: None,
        }),
    ] {
        let (ev, seq, at, p) = step_with(&l, &note, wrong);
        let got = l.state.clone().step(Step {
            seq,
            recorded_at: at,
            placement: p,
            prev_registry: l.state.registry.last_change,
            event: &ev,
        });
        assert!(
            matches!(got, Err(Violation::PlacementMismatch { .. })),
            "{wrong:?}: {got:?}"
        );
    }
    let (ev, seq, at, _) = step_with(&l, &note, None);
    let ok = Some(Placement {
        ordinal: 3,
        prev_in_record: Some(Seq(5)),
    });
    l.state
        .clone()
        .step(Step {
            seq,
            recorded_at: at,
            placement: ok,
            prev_registry: l.state.registry.last_change,
            event: &ev,
        })
        .unwrap();
    // Administration entries carry none.
    let enrol = admin(
        EventKind::KeyRevoked {
            actor: ActorId::new("lic2").unwrap(),
        },
        "2012-02-11",
    );
    let (ev, seq, at, _) = step_with(&l, &enrol, None);
    let got = l.state.clone().step(Step {
        seq,
        recorded_at: at,
        placement: ok,
        prev_registry: l.state.registry.last_change,
        event: &ev,
    });
    assert!(
        matches!(got, Err(Violation::PlacementMismatch { .. })),
        "{got:?}"
    );
    l.state
        .clone()
        .step(Step {
            seq,
            recorded_at: at,
            placement: None,
            prev_registry: l.state.registry.last_change,
            event: &ev,
        })
        .unwrap();
}

/// `record_head` is written by the ledger itself and must state the record as it is; it
/// may follow a destruction, and moves no date of the record.
#[test]
fn record_head_states_the_record() {
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    let head = |entries, last| EventKind::RecordHead {
        entries,
        last: Seq(last),
    };
    let by_ledger = |k| S {
        author: "ledger",
        ..s("lic", "R", k, "2012-02-12", "2012-02-12")
    };
    assert!(matches!(
        l.run(by_ledger(head(2, 4))),
        Err(Violation::RecordHeadMismatch {
            actual_entries: 2,
            ..
        })
    ));
    assert!(matches!(
        l.run(by_ledger(head(1, 5))),
        Err(Violation::RecordHeadMismatch { .. })
    ));
    // Only the ledger writes it, and the ledger writes nothing else.
    assert!(matches!(
        l.run(s("lic", "R", head(2, 5), "2012-02-12", "2012-02-12")),
        Err(Violation::RoleNotAllowed { .. })
    ));
    assert!(matches!(
        l.run(S {
            author: "ledger",
            ..s(
                "lic",
                "R",
                EventKind::ProgressNote,
                "2012-02-12",
                "2012-02-12"
            )
        }),
        Err(Violation::RoleNotAllowed { .. })
    ));
    l.run(by_ledger(head(2, 5))).unwrap();
    // Its (late) claimed date does not move the record's dates: a termination dated before
    // it is still accepted.
    l.run(s(
        "lic",
        "R",
        term("2012-02-12"),
        "2012-02-12",
        "2012-02-12",
    ))
    .unwrap();
    assert_eq!(l.record("R").entries, 4);
    // The actor id is reserved.
    assert!(matches!(
        l.run(admin(
            EventKind::ActorEnrolled {
                actor: ActorId::new("ledger").unwrap(),
                role: Role::Licensee,
                public_key: SigningKey::from_seed(&[9; 32]).public_key(),
            },
            "2012-02-13",
        )),
        Err(Violation::ReservedActor)
    ));
}

/// The ledger clock: only `clock_corrected` may step back, and the entries after it are
/// judged from the corrected time.
#[test]
fn only_clock_corrected_steps_back() {
    let mut l = genesis(false);
    l.run(s(
        "lic",
        "R",
        EventKind::RecordOpened,
        "2012-01-10",
        "2012-06-01",
    ))
    .unwrap();
    assert!(matches!(
        l.run(s(
            "lic",
            "R",
            EventKind::ProgressNote,
            "2012-01-11",
            "2012-05-01"
        )),
        Err(Violation::RecordedAtRegressed { .. })
    ));
    l.run(admin(
        EventKind::ClockCorrected {
            reason: text("clock was a month fast"),
        },
        "2012-05-01",
    ))
    .unwrap();
    l.run(s(
        "lic",
        "R",
        EventKind::ProgressNote,
        "2012-01-11",
        "2012-05-01",
    ))
    .unwrap();
    assert_eq!(
        l.state.registry.last_recorded_at,
        Some(Timestamp::start_of(d("2012-05-01")).unwrap())
    );
}

/// Rules (4) and (5): a termination for impairment or a dual relationship needs a written
/// notice and a referral, in any practice.
#[test]
fn termination_for_impairment_needs_notice_and_referral() {
    use caseledger_core::event::TerminationReason;
    for (reason, needs) in [
        (TerminationReason::Impairment, true),
        (TerminationReason::DualRelationship, true),
        (TerminationReason::Completed, false),
        (TerminationReason::Unstated, false),
    ] {
        let mut l = genesis(false);
        for st in opened("R") {
            l.run(st).unwrap();
        }
        let t = EventKind::ServiceTerminated {
            terminated_on: d("2012-03-01"),
            reason,
        };
        l.run(s("lic", "R", t, "2012-03-01", "2012-03-01")).unwrap();
        let c = l.record("R").completeness(&l.state.registry.settings);
        assert_eq!(
            c.notice_and_referral_4_5,
            if needs {
                Item::Missing
            } else {
                Item::NotApplicable
            },
            "{reason}"
        );
        l.run(s(
            "lic",
            "R",
            EventKind::TerminationNotice,
            "2012-03-02",
            "2012-03-02",
        ))
        .unwrap();
        let c = l.record("R").completeness(&l.state.registry.settings);
        assert_eq!(
            c.notice_and_referral_4_5 == Item::Missing,
            needs,
            "notice alone: {reason}"
        );
        l.run(s(
            "lic",
            "R",
            EventKind::Referral,
            "2012-03-02",
            "2012-03-02",
        ))
        .unwrap();
        let c = l.record("R").completeness(&l.state.registry.settings);
        assert_eq!(
            c.notice_and_referral_4_5,
            if needs {
                Item::Present
            } else {
                Item::NotApplicable
            },
            "{reason}"
        );
    }
}

/// "Today" is the ledger clock's date in the practice's time zone (genesis), not UTC: at
/// 02:00 UTC on the lawful day it is still the day before in Chicago.
#[test]
fn lawful_day_is_a_calendar_day_in_the_practice_time_zone() {
    use caseledger_core::event::TimeZoneName;
    let mut reg = caseledger_core::record::Registry::default();
    let at = Timestamp(Timestamp::start_of(d("2017-03-02")).unwrap().micros() + 2 * 3_600_000_000);
    assert_eq!(reg.ledger_date(at).unwrap(), d("2017-03-02"));
    reg.settings.time_zone = TimeZoneName::new("America/Chicago").unwrap();
    assert_eq!(reg.ledger_date(at).unwrap(), d("2017-03-01"));
    assert!(TimeZoneName::new("Mars/Olympus").is_err());
}

/// Issue 14: `ledger_closed` is an admin's, and nothing follows it (not even an admin's
/// entry or the ledger's own `record_head`); the registry keeps who closed it and when.
#[test]
fn nothing_follows_ledger_closed() {
    let mut l = genesis(false);
    for st in opened("R") {
        l.run(st).unwrap();
    }
    let close = |author| S {
        author,
        ..admin(
            EventKind::LedgerClosed {
                reason: text("practice closed"),
            },
            "2012-03-01",
        )
    };
    assert!(matches!(
        l.run(close("lic")),
        Err(Violation::RoleNotAllowed { .. })
    ));
    let at = l.next;
    l.run(close("adm")).unwrap();
    let c = l.state.registry.closed.clone().unwrap();
    assert_eq!((c.seq, c.by.as_str()), (Seq(at), "adm"));
    assert_eq!(l.state.registry.last_change, Some(Seq(at)));
    for st in [
        s(
            "lic",
            "R",
            EventKind::ProgressNote,
            "2012-03-01",
            "2012-03-01",
        ),
        admin(
            EventKind::ClockCorrected {
                reason: text("after close"),
            },
            "2012-03-01",
        ),
        close("adm"),
    ] {
        assert_eq!(l.run(st), Err(Violation::AfterClose { closed_at: Seq(at) }));
    }
}

/// Every entry's `prev_registry` is the seq of the latest registry entry before it
/// (genesis, enrolment, revocation, close; not `clock_corrected` or record entries);
/// anything else is refused.
#[test]
fn prev_registry_names_the_latest_registry_entry() {
    let mut l = genesis(false);
    // Genesis and three enrolments: seqs 0..=3.
    assert_eq!(l.state.registry.last_change, Some(Seq(3)));
    for st in opened("R") {
        l.run(st).unwrap();
    }
    l.run(admin(
        EventKind::ClockCorrected {
            reason: text("ntp"),
        },
        "2012-02-11",
    ))
    .unwrap();
    assert_eq!(l.state.registry.last_change, Some(Seq(3)));
    let note = s(
        "lic",
        "R",
        EventKind::Assessment,
        "2012-02-11",
        "2012-02-11",
    );
    for wrong in [None, Some(Seq(2)), Some(Seq(l.next - 1)), Some(Seq(l.next))] {
        let (ev, seq, at, _) = step_with(&l, &note, None);
        let got = l.state.clone().step(Step {
            seq,
            recorded_at: at,
            placement: l.state.placement_for(ev.record.as_ref()),
            prev_registry: wrong,
            event: &ev,
        });
        assert_eq!(
            got,
            Err(Violation::PrevRegistryMismatch {
                found: wrong,
                expected: Some(Seq(3)),
            }),
            "{wrong:?}"
        );
    }
    let revoke = admin(
        EventKind::KeyRevoked {
            actor: ActorId::new("lic2").unwrap(),
        },
        "2012-02-11",
    );
    let at = l.next;
    l.run(revoke).unwrap();
    assert_eq!(l.state.registry.last_change, Some(Seq(at)));
}
