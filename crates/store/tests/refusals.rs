//! Every refusal of the append checks writes nothing: the ledger stays byte-identical and
//! the next valid append gets the next seq.
use caseledger_core::event::{EventKind, Payload, Role, SignedEvent};
use caseledger_core::ids::Seq;
use caseledger_core::record::Violation;
use caseledger_core::time::Timestamp;
use caseledger_store::{Durability, Ledger, StoreError};
use caseledger_testkit::*;

struct World {
    _dir: tempfile::TempDir,
    clock: TestClock,
    l: Ledger,
}

/// Records: A (open, a note), B (open), D (terminated 2015, destroyed 2020), H (terminated
/// 2015, under hold). Actor `old` was enrolled and revoked. Clock: 2020-01-11.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2015-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let today = clock.today();
    let old = caseledger_core::keys::SigningKey::from_seed(&[9; 32]);
    Cast::TEST.enrol(&l, "old", Role::Licensee, &old, today);
    let (e, p) = sign(
        "admin",
        &Cast::TEST.admin.key(),
        None,
        EventKind::KeyRevoked {
            actor: actor("old"),
        },
        today,
        None,
    );
    l.append(e, p).unwrap();
    for r in ["A", "B", "D", "H"] {
        let (e, p) = Cast::TEST.licensee_event(&clock, &rid(r), EventKind::RecordOpened, None);
        l.append(e, p).unwrap();
    }
    let (e, p) =
        Cast::TEST.licensee_event(&clock, &rid("A"), EventKind::ProgressNote, Some(b"note"));
    l.append(e, p).unwrap();
    for r in ["D", "H"] {
        let (e, p) = Cast::TEST.licensee_event(
            &clock,
            &rid(r),
            EventKind::ServiceTerminated {
                terminated_on: today,
                reason: caseledger_core::event::TerminationReason::Unstated,
            },
            None,
        );
        l.append(e, p).unwrap();
    }
    let (e, p) = Cast::TEST.custodian_event(
        &clock,
        &rid("H"),
        EventKind::HoldPlaced {
            matter: text("case 2019-77"),
        },
    );
    l.append(e, p).unwrap();
    clock.set_day("2020-01-11");
    let (e, p) = Cast::TEST.custodian_event(
        &clock,
        &rid("D"),
        EventKind::Destruction {
            reason: text("policy 4.2"),
            citation: None,
        },
    );
    l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.licensee_event(
        &clock,
        &rid("A"),
        EventKind::ServiceTerminated {
            terminated_on: clock.today(),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        None,
    );
    l.append(e, p).unwrap();
    World {
        _dir: dir,
        clock,
        l,
    }
}

/// Appends and expects a refusal matching `check`; asserts nothing changed.
fn refused(w: &World, item: (SignedEvent, Option<Payload>), check: impl Fn(&StoreError) -> bool) {
    let before = snapshot(&w.l);
    let head = w.l.head();
    let stats = w.l.stats();
    let err = w.l.append(item.0, item.1).unwrap_err();
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(w.l.head(), head);
    assert_eq!(w.l.stats().appended, stats.appended);
    assert_eq!(
        snapshot(&w.l),
        before,
        "a refused append changed the ledger"
    );
    // The next valid append gets the next seq.
    let (e, p) = Cast::TEST.licensee_event(&w.clock, &rid("B"), EventKind::Contact, None);
    assert_eq!(w.l.append(e, p).unwrap().seq, Seq(head.size));
}

fn violation(f: impl Fn(&Violation) -> bool) -> impl Fn(&StoreError) -> bool {
    move |e| matches!(e, StoreError::Refused(v) if f(v))
}

#[test]
fn bad_signature() {
    let w = world();
    let (mut e, p) = Cast::TEST.licensee_event(&w.clock, &rid("A"), EventKind::Contact, None);
    e.signature =
        caseledger_core::event::AuthorSignature::Ed25519(Cast::TEST.custodian.key().sign(b"x"));
    refused(&w, (e, p), |e| matches!(e, StoreError::BadSignature { .. }));
    // Signed by the right key over a different event.
    let (e1, _) = Cast::TEST.licensee_event(&w.clock, &rid("A"), EventKind::Contact, None);
    let (mut e2, p2) = Cast::TEST.licensee_event(&w.clock, &rid("A"), EventKind::Assessment, None);
    e2.signature = e1.signature;
    refused(&w, (e2, p2), |e| {
        matches!(e, StoreError::BadSignature { .. })
    });
}

#[test]
fn unknown_revoked_and_wrong_role_authors() {
    let w = world();
    let stranger = caseledger_core::keys::SigningKey::from_seed(&[8; 32]);
    let today = w.clock.today();
    refused(
        &w,
        sign(
            "nobody",
            &stranger,
            Some(&rid("A")),
            EventKind::Contact,
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::UnknownAuthor(_))),
    );
    let old = caseledger_core::keys::SigningKey::from_seed(&[9; 32]);
    refused(
        &w,
        sign(
            "old",
            &old,
            Some(&rid("A")),
            EventKind::Contact,
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::AuthorRevoked(_))),
    );
    refused(
        &w,
        sign(
            "cust",
            &Cast::TEST.custodian.key(),
            Some(&rid("A")),
            EventKind::ProgressNote,
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::RoleNotAllowed { .. })),
    );
    refused(
        &w,
        sign(
            "lic",
            &Cast::TEST.licensee.key(),
            Some(&rid("H")),
            EventKind::Destruction {
                reason: text("x"),
                citation: None,
            },
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::RoleNotAllowed { .. })),
    );
    refused(
        &w,
        sign(
            "lic",
            &Cast::TEST.licensee.key(),
            None,
            EventKind::KeyRevoked {
                actor: actor("cust"),
            },
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::RoleNotAllowed { .. })),
    );
}

#[test]
fn record_state_machine() {
    let w = world();
    let c = &w.clock;
    refused(
        &w,
        Cast::TEST.licensee_event(c, &rid("D"), EventKind::ProgressNote, Some(b"late")),
        violation(|v| matches!(v, Violation::AfterDestruction { .. })),
    );
    refused(
        &w,
        Cast::TEST.licensee_event(c, &rid("NEVER"), EventKind::ProgressNote, None),
        violation(|v| matches!(v, Violation::RecordNotOpened(_))),
    );
    refused(
        &w,
        Cast::TEST.licensee_event(c, &rid("B"), EventKind::RecordOpened, None),
        violation(|v| matches!(v, Violation::RecordAlreadyOpened(_))),
    );
    // Amendments: another record's entry, a nonexistent one, a future one.
    let b_seq = w.l.record_entries(&rid("B")).unwrap()[0];
    refused(
        &w,
        Cast::TEST.licensee_event(
            c,
            &rid("A"),
            EventKind::Amendment { amends: b_seq },
            Some(b"fix"),
        ),
        violation(|v| matches!(v, Violation::BadAmendmentTarget { .. })),
    );
    refused(
        &w,
        Cast::TEST.licensee_event(
            c,
            &rid("A"),
            EventKind::Amendment {
                amends: Seq(1_000_000),
            },
            Some(b"fix"),
        ),
        violation(|v| matches!(v, Violation::BadAmendmentTarget { .. })),
    );
    // A valid amendment goes through.
    let a_note = w.l.record_entries(&rid("A")).unwrap()[1];
    let (e, p) = Cast::TEST.licensee_event(
        c,
        &rid("A"),
        EventKind::Amendment { amends: a_note },
        Some(b"fix"),
    );
    w.l.append(e, p).unwrap();
}

#[test]
fn destruction_before_retention_and_under_hold() {
    let w = world();
    let c = &w.clock;
    refused(
        &w,
        Cast::TEST.custodian_event(
            c,
            &rid("A"),
            EventKind::Destruction {
                reason: text("early"),
                citation: None,
            },
        ),
        violation(|v| matches!(v, Violation::DestructionBeforeRetentionEnd { .. })),
    );
    refused(
        &w,
        Cast::TEST.custodian_event(
            c,
            &rid("B"),
            EventKind::Destruction {
                reason: text("open"),
                citation: None,
            },
        ),
        violation(|v| matches!(v, Violation::DestructionOfOpenRecord(_))),
    );
    refused(
        &w,
        Cast::TEST.custodian_event(
            c,
            &rid("H"),
            EventKind::Destruction {
                reason: text("held"),
                citation: None,
            },
        ),
        violation(|v| matches!(v, Violation::DestructionUnderHold { .. })),
    );
    // Judged at the ledger's date, not the claimed one: backdating occurred_on does not help.
    refused(
        &w,
        sign(
            "cust",
            &Cast::TEST.custodian.key(),
            Some(&rid("A")),
            EventKind::Destruction {
                reason: text("x"),
                citation: None,
            },
            date("2030-01-01"),
            None,
        ),
        violation(|v| matches!(v, Violation::OccurredInFuture { .. })),
    );
    // Released hold: destruction becomes lawful.
    let (e, p) = Cast::TEST.custodian_event(
        c,
        &rid("H"),
        EventKind::HoldReleased {
            matter: text("case 2019-77"),
        },
    );
    w.l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.custodian_event(
        c,
        &rid("H"),
        EventKind::Destruction {
            reason: text("policy"),
            citation: None,
        },
    );
    w.l.append(e, p).unwrap();
}

#[test]
fn replay_and_payload_mismatch() {
    let w = world();
    let c = &w.clock;
    let item = Cast::TEST.licensee_event(c, &rid("B"), EventKind::Contact, Some(b"call"));
    w.l.append(item.0.clone(), item.1.clone()).unwrap();
    refused(
        &w,
        item.clone(),
        violation(|v| matches!(v, Violation::Replay { .. })),
    );
    // Same event, replayed in a batch alongside a valid one: the batch is refused whole.
    let head = w.l.head();
    let err =
        w.l.append_batch(vec![
            Cast::TEST.licensee_event(c, &rid("B"), EventKind::Contact, None),
            item,
        ])
        .unwrap_err();
    assert_eq!(err.index, Some(1));
    assert_eq!(w.l.head(), head);
    // Commitment without payload, payload without commitment, wrong payload.
    let (e, _) = Cast::TEST.licensee_event(c, &rid("B"), EventKind::Contact, Some(b"x"));
    refused(&w, (e, None), |e| {
        matches!(e, StoreError::PayloadMismatch { .. })
    });
    let (e, _) = Cast::TEST.licensee_event(c, &rid("B"), EventKind::Contact, None);
    refused(&w, (e, Some(Payload::new(b"x".to_vec()))), |e| {
        matches!(e, StoreError::PayloadMismatch { .. })
    });
    let (e, _) = Cast::TEST.licensee_event(c, &rid("B"), EventKind::Contact, Some(b"x"));
    refused(&w, (e, Some(Payload::new(b"y".to_vec()))), |e| {
        matches!(e, StoreError::PayloadMismatch { .. })
    });
}

#[test]
fn clock_regression_never_moves_recorded_at_backwards() {
    let w = world();
    let last = w.l.head().last_recorded_at;
    // A small step back (an NTP correction, within the genesis skew of 300 s) is clamped:
    // the entry is stamped with the last time.
    w.clock.set(Timestamp(last.0 - 120_000_000));
    let (e, p) = Cast::TEST.licensee_event(&w.clock, &rid("B"), EventKind::Contact, None);
    let rc = w.l.append(e, p).unwrap();
    assert_eq!(rc.recorded_at, last);
    assert_eq!(w.l.entry(rc.seq).unwrap().unwrap().recorded_at, last);
    // A large one (the clock set forward to destroy early, then set back) refuses every
    // append, naming how far and what to do, and writes nothing.
    w.clock.set_day("2019-06-01");
    let note = sign(
        "lic",
        &Cast::TEST.licensee.key(),
        Some(&rid("B")),
        EventKind::Contact,
        date("2019-06-01"),
        None,
    );
    let before = snapshot(&w.l);
    let err = w.l.append(note.0.clone(), note.1.clone()).unwrap_err();
    assert!(
        matches!(&err, StoreError::ClockBehind { skew_secs: 300, behind_secs, .. } if *behind_secs > 200 * 86_400)
            && err.to_string().contains("clock-corrected"),
        "{err:?}"
    );
    assert_eq!(
        snapshot(&w.l),
        before,
        "a refused append changed the ledger"
    );
    // Until an admin records the correction, stamped with the clock as it is; then the
    // ledger runs on the corrected clock.
    let (fix, _) = Cast::TEST.admin.sign(
        None,
        EventKind::ClockCorrected {
            reason: text("clock was set seven months ahead"),
        },
        date("2019-06-01"),
        None,
    );
    let rc = w.l.append(fix, None).unwrap();
    assert!(rc.recorded_at < last);
    let rc = w.l.append(note.0, note.1).unwrap();
    assert!(rc.recorded_at < last);
    // An event dated after the corrected clock's day is refused.
    refused(
        &w,
        sign(
            "lic",
            &Cast::TEST.licensee.key(),
            Some(&rid("B")),
            EventKind::Contact,
            date("2020-02-01"),
            None,
        ),
        violation(|v| matches!(v, Violation::OccurredInFuture { .. })),
    );
}

#[test]
fn enrolment_refusals() {
    let w = world();
    let today = w.clock.today();
    refused(
        &w,
        sign(
            "admin",
            &Cast::TEST.admin.key(),
            None,
            EventKind::ActorEnrolled {
                actor: actor("lic"),
                role: Role::Licensee,
                public_key: Cast::TEST.licensee.key().public_key(),
            },
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::AlreadyEnrolled(_))),
    );
    refused(
        &w,
        sign(
            "admin",
            &Cast::TEST.admin.key(),
            None,
            EventKind::KeyRevoked {
                actor: actor("admin"),
            },
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::LastAdmin(_))),
    );
    // A second genesis (signed for the origin it names, so the fold is what refuses it).
    refused(
        &w,
        caseledger_testkit::sign_for(
            "x",
            "admin",
            &Cast::TEST.admin.key(),
            None,
            EventKind::Genesis {
                origin: text("x"),
                admin: actor("admin"),
                admin_key: Cast::TEST.admin.key().public_key(),
                ledger_key: Cast::TEST.admin.key().public_key(),
                settings: Default::default(),
            },
            today,
            None,
        ),
        violation(|v| matches!(v, Violation::GenesisPlacement)),
    );
}

#[test]
fn key_rotation_is_honoured() {
    let w = world();
    let today = w.clock.today();
    let new_old = caseledger_core::keys::SigningKey::from_seed(&[10; 32]);
    // Re-enrol the revoked actor with a new key: the old key no longer signs.
    let (e, p) = sign(
        "admin",
        &Cast::TEST.admin.key(),
        None,
        EventKind::ActorEnrolled {
            actor: actor("old"),
            role: Role::Licensee,
            public_key: new_old.public_key(),
        },
        today,
        None,
    );
    w.l.append(e, p).unwrap();
    let old = caseledger_core::keys::SigningKey::from_seed(&[9; 32]);
    refused(
        &w,
        sign(
            "old",
            &old,
            Some(&rid("B")),
            EventKind::Contact,
            today,
            None,
        ),
        |e| matches!(e, StoreError::BadSignature { .. }),
    );
    w.l.append_batch(vec![sign(
        "old",
        &new_old,
        Some(&rid("B")),
        EventKind::Contact,
        today,
        None,
    )])
    .unwrap();
}

/// Issue 11's walk-through: service ended in 2021; a progress note dated 2026 with no
/// `service_resumed` is refused (and writes nothing), so a destruction the same day stays
/// refused; every service kind is refused the same way; contacts and the parts of
/// terminating are not; after `service_resumed` service is accepted again.
#[test]
fn service_after_termination_needs_service_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2019-07-01");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let w = World {
        _dir: dir,
        clock,
        l,
    };
    let c = &w.clock;
    let r = rid("R");
    for kind in [EventKind::RecordOpened, EventKind::Disclosure] {
        let (e, p) = Cast::TEST.licensee_event(c, &r, kind, None);
        w.l.append(e, p).unwrap();
    }
    c.set_day("2021-05-31");
    let (e, p) = Cast::TEST.licensee_event(c, &r, EventKind::ProgressNote, Some(b"last session"));
    w.l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.licensee_event(
        c,
        &r,
        EventKind::ServiceTerminated {
            terminated_on: date("2021-05-31"),
            reason: caseledger_core::event::TerminationReason::Unstated,
        },
        None,
    );
    w.l.append(e, p).unwrap();
    // B is the record `refused` appends to afterwards.
    let (e, p) = Cast::TEST.licensee_event(c, &rid("B"), EventKind::RecordOpened, None);
    w.l.append(e, p).unwrap();

    c.set_day("2026-06-01");
    refused(
        &w,
        Cast::TEST.licensee_event(c, &r, EventKind::ProgressNote, Some(b"note dated 2026")),
        violation(|v| {
            matches!(v, Violation::ServiceAfterTermination { kind: caseledger_core::event::Kind::ProgressNote, terminated_on, .. } if *terminated_on == date("2021-05-31"))
                && v.to_string().contains("append service_resumed first")
        }),
    );
    for kind in [
        EventKind::PresentingProblem,
        EventKind::Assessment,
        EventKind::PlanOfAction,
        EventKind::Consult,
        EventKind::EvaluativeReport,
        EventKind::Disclosure,
        EventKind::RecordingConsent,
        EventKind::FeeArrangement,
    ] {
        refused(
            &w,
            Cast::TEST.licensee_event(c, &r, kind, None),
            violation(|v| matches!(v, Violation::ServiceAfterTermination { .. })),
        );
    }
    // Nothing moved the clock: lawful from 2026-06-01, so the state is as before.
    let st = w.l.record_state(&r).unwrap().unwrap();
    assert_eq!(st.lawful_from(), Some(date("2026-06-01")));

    // A records request (contact) is allowed and, dated after the termination, keeps the
    // record five years from its own date.
    let (e, p) = Cast::TEST.licensee.sign(
        Some(&r),
        EventKind::Contact,
        date("2026-05-20"),
        Some(b"records request"),
    );
    w.l.append(e, p).unwrap();
    for kind in [EventKind::TerminationNotice, EventKind::Referral] {
        let (e, p) = Cast::TEST
            .licensee
            .sign(Some(&r), kind, date("2021-06-02"), None);
        w.l.append(e, p).unwrap();
    }
    let st = w.l.record_state(&r).unwrap().unwrap();
    assert_eq!(st.retention_start(), Some(date("2026-05-20")));
    assert_eq!(st.lawful_from(), Some(date("2031-05-21")));
    refused(
        &w,
        Cast::TEST.custodian_event(
            c,
            &r,
            EventKind::Destruction {
                reason: text("RP-5"),
                citation: None,
            },
        ),
        violation(
            |v| matches!(v, Violation::DestructionBeforeRetentionEnd { lawful_from, .. } if *lawful_from == date("2031-05-21")),
        ),
    );

    // service_resumed first, then the note goes in.
    let (e, p) = Cast::TEST.licensee_event(c, &r, EventKind::ServiceResumed, None);
    w.l.append(e, p).unwrap();
    let (e, p) =
        Cast::TEST.licensee_event(c, &r, EventKind::ProgressNote, Some(b"note dated 2026"));
    w.l.append(e, p).unwrap();
    refused(
        &w,
        Cast::TEST.custodian_event(
            c,
            &r,
            EventKind::Destruction {
                reason: text("RP-5"),
                citation: None,
            },
        ),
        violation(|v| matches!(v, Violation::DestructionOfOpenRecord(_))),
    );
}

/// A payload one byte over `MAX_PAYLOAD` (what one archive frame carries) is refused at
/// append, naming the limit, before it is hashed: a ledger never holds content it could not
/// archive and read back. The same check runs on every archived entry at import.
#[test]
fn payload_over_the_archive_frame_limit_is_refused() {
    use caseledger_core::archive::{MAX_FRAME, MAX_PAYLOAD};
    let w = world();
    let over = usize::try_from(MAX_PAYLOAD + 1).unwrap();
    // Zeroed memory is never touched: the length is refused first.
    let (e, _) = Cast::TEST.licensee_event(&w.clock, &rid("B"), EventKind::Contact, Some(b"x"));
    let big = || Some(Payload::new(vec![0u8; over]));
    refused(&w, (e.clone(), big()), |e| {
        matches!(e, StoreError::PayloadTooLarge { size, limit } if *size == MAX_PAYLOAD + 1 && *limit == MAX_PAYLOAD)
            && e.to_string().contains(&MAX_PAYLOAD.to_string())
    });
    // The batch path refuses it the same way.
    let err = w.l.append_batch(vec![(e, big())]).unwrap_err();
    assert!(
        matches!(err.error, StoreError::PayloadTooLarge { .. }),
        "{:?}",
        err.error
    );
    // The limit is what an encrypted payload's stored form (nonce, salt, length, padding to
    // 256, tag) leaves of an archive frame after its seq.
    assert_eq!(MAX_PAYLOAD, (MAX_FRAME - 8 - 24 - 16) / 256 * 256 - 36);
}
