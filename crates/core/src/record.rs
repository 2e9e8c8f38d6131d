//! The record state machine as one pure fold, and the retention rules.
//!
//! `store` calls [`check`] to refuse an unlawful append and [`apply`] to advance the state
//! it persists; `verify` calls the same two to judge what it replays (a violation becomes a
//! finding, and the effects are applied anyway so that replay can continue). One fold, two
//! users.
//!
//! Retention (rule 12): a record's retention clock starts at its last
//! `ServiceTerminated.terminated_on`, or at a later date of service or client contact the
//! record holds (see [`ServiceClass`]), whichever is later; retention ends five years after
//! that (Feb 29 + 5 years = Feb 28) and destruction is lawful from the next day, judged at
//! the date of the destruction's `recorded_at` (the ledger's clock) in the practice's time
//! zone (fixed in genesis), never at an author-claimed date. A `ServiceResumed` clears the clock. Service itself (not a contact)
//! is refused on a terminated record until `ServiceResumed`.
//!
//! ```
//! use caseledger_core::{record::retention_end, time::Date};
//! let end = retention_end(Date::parse("2024-02-29").unwrap()).unwrap();
//! assert_eq!(end.to_string(), "2029-02-28");
//! ```

use crate::event::{
    Event, EventKind, Kind, LedgerSettings, Placement, Role, ShortText, LEDGER_ACTOR,
};
use crate::ids::{ActorId, Nonce, PublicKey, RecordId, Seq};
use crate::time::{Date, TimeError, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Years a record is kept after service terminates (20 CSR 2263-3.040 (12)).
pub const RETENTION_YEARS: i16 = 5;
/// How far (in days) an author-claimed `occurred_on` may lie after the ledger's own date
/// (time-zone slack); anything later is refused as a date in the future.
pub const FUTURE_SLACK_DAYS: i64 = 1;

/// `start + 5 years`, Feb 29 clamped to Feb 28. `start` is the day the retention clock
/// starts: a termination date, or [`RecordState::retention_start`] for a record.
pub fn retention_end(start: Date) -> Result<Date, TimeError> {
    start.plus_years(RETENTION_YEARS)
}

/// The first day destruction is lawful: the day after [`retention_end`].
pub fn lawful_from(start: Date) -> Result<Date, TimeError> {
    retention_end(start)?.next_day()
}

/// How an event kind bears on service to the client: the one place the fold classifies
/// kinds for the after-termination rule, the retention clock and the (3) disclosure check.
/// See [`Kind::service_class`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ServiceClass {
    /// Sets the terms on which service is rendered (`disclosure`, `recording_consent`,
    /// `fee_arrangement`): opening or re-opening a professional relationship. Refused after
    /// termination until `service_resumed`; its date is a date of service.
    Terms,
    /// Renders service (`presenting_problem`, `assessment`, `plan_of_action`,
    /// `progress_note`, `consult`, `evaluative_report`). Refused after termination until
    /// `service_resumed`; its date is a date of service, and the earliest one is when the
    /// relationship began for (3).
    Renders,
    /// A contact with the client or part of ending service (`contact`, `termination_notice`,
    /// `referral`). Allowed after termination; its date is a date of client contact.
    Contact,
    /// Not itself service or contact: the record's lifecycle (`record_opened`,
    /// `service_terminated`, `service_resumed`), corrections (`amendment`), custody
    /// (`hold_placed`, `hold_released`, `destruction`) and ledger administration. Allowed
    /// after termination (subject to their own rules); their dates never move the clock.
    Other,
}

impl Kind {
    /// Which [`ServiceClass`] this kind is in. The reading of 20 CSR 2263-3.040 behind it:
    ///
    /// * (11)(A), (D), (E): presenting problems, assessments, plans of action, progress
    ///   notes, formal consults and evaluative reports prepared or received "as a part of
    ///   the professional relationship" record service being rendered: [`ServiceClass::Renders`].
    /// * (3) disclosure of purposes, goals, techniques, rules and limitations is made "at or
    ///   before the time [the relationship] is begun"; (7) informing the client about
    ///   electronic recording is "a condition of service"; (11)(B) a fee arrangement sets the
    ///   terms of service. Each opens (or re-opens) a relationship, so after termination it
    ///   means service is resuming and needs `service_resumed` first: [`ServiceClass::Terms`].
    /// * (11)(C) a `contact` (a records request, a call) happens after service ends too;
    ///   (11)(F) the written termination notice and (4)-(6) the referral that assists the
    ///   client in obtaining services elsewhere are part of terminating. They stay allowed
    ///   after termination: [`ServiceClass::Contact`].
    /// * Everything else records no service to the client: [`ServiceClass::Other`].
    ///
    /// Retention (12) runs "five years after the date of service is terminated". The clock
    /// starts at the last termination date or the latest date of service or contact
    /// (`Terms`, `Renders`, `Contact`), whichever is later: a late contact or termination
    /// notice can only keep a record longer, and keeping longer never breaks (12) while
    /// destroying early does, so the conservative reading wins.
    pub fn service_class(self) -> ServiceClass {
        match self {
            Kind::Disclosure | Kind::RecordingConsent | Kind::FeeArrangement => ServiceClass::Terms,
            Kind::PresentingProblem
            | Kind::Assessment
            | Kind::PlanOfAction
            | Kind::ProgressNote
            | Kind::Consult
            | Kind::EvaluativeReport => ServiceClass::Renders,
            Kind::Contact | Kind::TerminationNotice | Kind::Referral => ServiceClass::Contact,
            Kind::Genesis
            | Kind::ActorEnrolled
            | Kind::KeyRevoked
            | Kind::RecordOpened
            | Kind::ServiceTerminated
            | Kind::ServiceResumed
            | Kind::Amendment
            | Kind::HoldPlaced
            | Kind::HoldReleased
            | Kind::Destruction
            | Kind::ClockCorrected
            | Kind::RecordHead
            | Kind::LedgerClosed => ServiceClass::Other,
        }
    }

    /// Whether an entry of this kind changes the [`Registry`] (beyond its clock): genesis,
    /// `actor_enrolled`, `key_revoked`, `ledger_closed`. Every entry's store-assigned
    /// `prev_registry` names the latest such entry before it, so the registry can be
    /// rebuilt from the chain of them (docs/FORMAT.md §2). `clock_corrected` is not one:
    /// it moves only the clock, which the head entry gives.
    pub fn changes_registry(self) -> bool {
        matches!(
            self,
            Kind::Genesis | Kind::ActorEnrolled | Kind::KeyRevoked | Kind::LedgerClosed
        )
    }

    /// Whether this kind records or opens service: refused on a terminated record until
    /// `service_resumed` ([`ServiceClass::Terms`] or [`ServiceClass::Renders`]).
    pub fn records_service(self) -> bool {
        matches!(
            self.service_class(),
            ServiceClass::Terms | ServiceClass::Renders
        )
    }

    /// Whether this kind's `occurred_on` is a date of service or client contact, which the
    /// retention clock may not start before.
    pub fn dates_service_or_contact(self) -> bool {
        self.service_class() != ServiceClass::Other
    }
}

/// Why an event is not allowed at this point of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Violation {
    /// Seq 0 must be a genesis event, and only seq 0.
    #[error("genesis must be the first entry and only the first")]
    GenesisPlacement,
    /// A record kind without a record id or an administration kind with one, or a payload on
    /// an administration kind.
    #[error("malformed event: {0}")]
    Shape(String),
    /// `recorded_at` earlier than the previous entry's (allowed only on `clock_corrected`).
    #[error("recorded_at {found} is earlier than the previous entry's {previous} (only clock_corrected may step back)")]
    RecordedAtRegressed {
        /// The previous entry's time.
        previous: Timestamp,
        /// This entry's time.
        found: Timestamp,
    },
    /// The author-claimed date is after the ledger's own date.
    #[error("occurred_on {occurred_on} is in the future of the ledger's clock ({today})")]
    OccurredInFuture {
        /// Claimed date.
        occurred_on: Date,
        /// The ledger's date.
        today: Date,
    },
    /// The same signed event (same nonce) was appended before.
    #[error("replay of the event first appended at seq {first}")]
    Replay {
        /// Where it was first appended.
        first: Seq,
    },
    /// The author is not enrolled.
    #[error("author {0} is not enrolled")]
    UnknownAuthor(ActorId),
    /// The author's key was revoked.
    #[error("author {0} was revoked")]
    AuthorRevoked(ActorId),
    /// The author's role may not write this kind.
    #[error("author {author} is {role}; {kind} needs {needed}")]
    RoleNotAllowed {
        /// Who.
        author: ActorId,
        /// Their role.
        role: Role,
        /// The kind.
        kind: Kind,
        /// The role the kind needs.
        needed: Role,
    },
    /// Enrolling an actor that is enrolled and not revoked.
    #[error("actor {0} is already enrolled")]
    AlreadyEnrolled(ActorId),
    /// Revoking an actor that is not enrolled or already revoked.
    #[error("actor {0} is not enrolled or already revoked")]
    NotEnrolled(ActorId),
    /// Revoking the last admin would leave nobody able to enrol.
    #[error("cannot revoke {0}: it is the last admin")]
    LastAdmin(ActorId),
    /// An event for a record that was never opened.
    #[error("record {0} was never opened")]
    RecordNotOpened(RecordId),
    /// A second `RecordOpened`.
    #[error("record {0} is already open")]
    RecordAlreadyOpened(RecordId),
    /// Any event after the record's destruction.
    #[error("record {record} was destroyed at seq {destroyed_at}")]
    AfterDestruction {
        /// The record.
        record: RecordId,
        /// Where it was destroyed.
        destroyed_at: Seq,
    },
    /// Terminating a record whose service is already terminated.
    #[error("record {0} is already terminated")]
    AlreadyTerminated(RecordId),
    /// Resuming a record that is not terminated.
    #[error("record {0} is not terminated")]
    NotTerminated(RecordId),
    /// A termination dated before service already recorded, or after the ledger's clock:
    /// it would shorten retention.
    #[error("termination date {terminated_on} is before the latest recorded service date {latest} of the record")]
    TerminationBackdated {
        /// Claimed termination date.
        terminated_on: Date,
        /// Latest `occurred_on` of the record so far.
        latest: Date,
    },
    /// An amendment pointing at nothing, a later entry, or another record's entry.
    #[error("amendment target seq {amends} is not an earlier entry of record {record}")]
    BadAmendmentTarget {
        /// The record.
        record: RecordId,
        /// The target.
        amends: Seq,
    },
    /// Placing a hold for a matter already held.
    #[error("a hold for {matter} is already in force on {record}")]
    HoldAlreadyPlaced {
        /// The record.
        record: RecordId,
        /// The matter.
        matter: ShortText,
    },
    /// Releasing a hold that is not in force.
    #[error("no hold for {matter} is in force on {record}")]
    HoldNotPlaced {
        /// The record.
        record: RecordId,
        /// The matter.
        matter: ShortText,
    },
    /// Destroying a record whose service has not terminated.
    #[error("record {0} is open (service not terminated): destruction is not lawful")]
    DestructionOfOpenRecord(RecordId),
    /// Destroying before retention has run out.
    #[error("record {record} is retained until {retained_until}; destruction is lawful from {lawful_from}")]
    DestructionBeforeRetentionEnd {
        /// The record.
        record: RecordId,
        /// Last day of retention.
        retained_until: Date,
        /// First lawful day.
        lawful_from: Date,
    },
    /// Destroying while holds are in force.
    #[error("record {record} is under hold ({}): destruction is not lawful", .matters.iter().map(ShortText::as_str).collect::<Vec<_>>().join(", "))]
    DestructionUnderHold {
        /// The record.
        record: RecordId,
        /// The matters in force.
        matters: Vec<ShortText>,
    },
    /// A date computation left the supported range.
    #[error("date out of range")]
    DateOutOfRange,
    /// Service recorded on a record whose service is terminated, without `service_resumed`.
    #[error("record {record}: service terminated on {terminated_on}; {kind} records service: append service_resumed first")]
    ServiceAfterTermination {
        /// The record.
        record: RecordId,
        /// The kind refused.
        kind: Kind,
        /// The termination in force.
        terminated_on: Date,
    },
    /// The store-assigned placement is not the record's next ordinal and previous seq (or a
    /// placement on an administration entry, or none on a record entry): an entry of the
    /// record was removed, inserted or moved.
    #[error("record placement {found} does not follow the record's entries: expected {expected}")]
    PlacementMismatch {
        /// What the entry carries.
        found: PlacementText,
        /// What the record's earlier entries imply.
        expected: PlacementText,
    },
    /// A `record_head` that does not state the record's entries as they are.
    #[error("record_head of {record} states {entries} entries ending at seq {last}; the record has {actual_entries} ending at seq {actual_last}")]
    RecordHeadMismatch {
        /// The record.
        record: RecordId,
        /// Stated count.
        entries: u64,
        /// Stated last seq.
        last: Seq,
        /// Actual count.
        actual_entries: u64,
        /// Actual last seq.
        actual_last: Seq,
    },
    /// The event was signed more than the genesis `max_signing_lag_secs` before it was
    /// recorded: a signed event held back (or an old signature replayed into the ledger).
    #[error("event signed at {signed_at} was recorded at {recorded_at}, more than the allowed {lag_secs} s later: sign it again")]
    SignedTooLongAgo {
        /// When the author signed.
        signed_at: Timestamp,
        /// When the ledger recorded it.
        recorded_at: Timestamp,
        /// The allowed lag.
        lag_secs: u32,
    },
    /// The event claims to be signed after the ledger recorded it (beyond the clock skew).
    #[error("event signed at {signed_at} is later than the ledger's clock ({recorded_at}) by more than the allowed skew of {skew_secs} s")]
    SignedInFuture {
        /// When the author says it signed.
        signed_at: Timestamp,
        /// When the ledger recorded it.
        recorded_at: Timestamp,
        /// The allowed skew.
        skew_secs: u32,
    },
    /// Enrolling the reserved actor id of the ledger itself.
    #[error("actor id {LEDGER_ACTOR:?} is reserved for the ledger itself")]
    ReservedActor,
    /// Any entry after the ledger's `ledger_closed`.
    #[error("the ledger was closed at seq {closed_at}: nothing may be appended after it")]
    AfterClose {
        /// The `ledger_closed` entry.
        closed_at: Seq,
    },
    /// The store-assigned `prev_registry` is not the seq of the latest registry entry
    /// before this one: a registry entry was removed, inserted or moved, or the pointer
    /// was forged.
    #[error("prev_registry {} does not name the latest registry entry before it: expected {}", SeqText(*.found), SeqText(*.expected))]
    PrevRegistryMismatch {
        /// What the entry carries.
        found: Option<Seq>,
        /// What the earlier entries imply.
        expected: Option<Seq>,
    },
}

/// An optional seq as text in a [`Violation`] (`seq 7`, `none`).
struct SeqText(Option<Seq>);

impl std::fmt::Display for SeqText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(s) => write!(f, "seq {s}"),
        }
    }
}

/// A placement as text in a [`Violation`] (`ordinal 3 after seq 17`, `none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementText(pub Option<Placement>);

impl std::fmt::Display for PlacementText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(Placement {
                ordinal,
                prev_in_record: None,
            }) => write!(f, "ordinal {ordinal}, first of its record"),
            Some(Placement {
                ordinal,
                prev_in_record: Some(p),
            }) => write!(f, "ordinal {ordinal} after seq {p}"),
        }
    }
}

impl From<TimeError> for Violation {
    fn from(_: TimeError) -> Violation {
        Violation::DateOutOfRange
    }
}

/// An enrolled actor.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ActorState {
    /// Their role.
    pub role: Role,
    /// Their current key.
    pub key: PublicKey,
    /// Revoked: may sign nothing more (until re-enrolled with a new key).
    pub revoked: bool,
    /// Seq of the (latest) enrolment.
    pub enrolled_at: Seq,
}

/// Ledger-wide state of the fold: genesis facts, actors, the clock. Small (actors only).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    /// Origin, from genesis.
    pub origin: Option<ShortText>,
    /// The ledger (checkpoint) key, from genesis.
    pub ledger_key: Option<PublicKey>,
    /// Ledger-wide settings, from genesis.
    pub settings: LedgerSettings,
    /// Actors by id.
    pub actors: BTreeMap<ActorId, ActorState>,
    /// `recorded_at` of the latest entry.
    pub last_recorded_at: Option<Timestamp>,
    /// The seq of the latest entry whose kind changes the registry
    /// ([`Kind::changes_registry`]): what the next entry's `prev_registry` must be.
    pub last_change: Option<Seq>,
    /// The ledger's `ledger_closed`, once appended: nothing may follow it.
    pub closed: Option<Closure>,
}

/// The ledger's close: its `ledger_closed` entry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Closure {
    /// The `ledger_closed` entry.
    pub seq: Seq,
    /// Its `recorded_at` (the ledger's clock).
    pub at: Timestamp,
    /// The admin who closed it.
    pub by: ActorId,
    /// The stated reason (administration text).
    pub reason: ShortText,
}

impl Registry {
    /// The ledger's date of an instant: its calendar day in the practice's time zone.
    pub fn ledger_date(&self, at: Timestamp) -> Result<Date, TimeError> {
        at.date_in(&self.settings.time_zone.zone())
    }
}

impl Registry {
    /// The origin `event` must be signed for: its own, for genesis; else the ledger's
    /// (`None` before genesis).
    pub fn signing_origin<'a>(&'a self, event: &'a Event) -> Option<&'a str> {
        match &event.kind {
            EventKind::Genesis { origin, .. } => Some(origin.as_str()),
            _ => self.origin.as_ref().map(ShortText::as_str),
        }
    }

    /// The key that must have signed `event`, at this point of the ledger: the genesis'
    /// own admin key for genesis, else the author's current key (even if revoked or of the
    /// wrong role: [`check`] judges those). `None` when the author is unknown.
    pub fn author_key(&self, event: &Event) -> Option<PublicKey> {
        if let EventKind::Genesis { admin_key, .. } = &event.kind {
            return Some(*admin_key);
        }
        if event.kind.kind().allowed_role() == Role::Ledger {
            return self.ledger_key;
        }
        self.actors.get(&event.author).map(|a| a.key)
    }
}

/// Where a record's service stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Service {
    /// Service ongoing (opened or resumed).
    Open,
    /// Service terminated on this date.
    Terminated(Date),
}

/// A record's destruction.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Destroyed {
    /// The destruction entry.
    pub seq: Seq,
    /// Its ledger date (UTC date of `recorded_at`).
    pub on: Date,
    /// The custodian.
    pub by: ActorId,
    /// Whether it was lawful when recorded.
    pub lawful: bool,
}

/// Which (11)(A)-(F), (3) and (7) items a record holds, as a bit set over [`Kind`]s.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct KindsSeen(pub u32);

impl KindsSeen {
    /// Marks a kind seen.
    pub fn insert(&mut self, k: Kind) {
        self.0 |= 1 << (k as u32);
    }
    /// Whether a kind was seen.
    pub fn contains(self, k: Kind) -> bool {
        self.0 & (1 << (k as u32)) != 0
    }
}

/// The fold's state for one record. Small and bounded: no per-entry data.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RecordState {
    /// Seq of `RecordOpened` (or of the first entry seen, when replaying a faulty ledger).
    pub opened_seq: Seq,
    /// Claimed date of opening.
    pub opened_on: Date,
    /// Whether `RecordOpened` was seen.
    pub opened: bool,
    /// Service state.
    pub service: Service,
    /// Latest `occurred_on` seen on the record.
    pub latest_occurred_on: Date,
    /// Holds in force (matters), sorted.
    pub holds: Vec<ShortText>,
    /// Kinds seen.
    pub kinds: KindsSeen,
    /// Whether service was ever terminated.
    pub ever_terminated: bool,
    /// Set when destroyed.
    pub destroyed: Option<Destroyed>,
    /// Number of entries.
    pub entries: u64,
    /// Seq of the latest entry.
    pub last_seq: Seq,
    /// Latest `occurred_on` of a service or client-contact event
    /// ([`Kind::dates_service_or_contact`]): the retention clock never starts before it.
    pub last_service_or_contact_on: Option<Date>,
    /// Seq of the entry that set [`RecordState::last_service_or_contact_on`] (the first one
    /// recorded with that date): `status` names it as what moved the retention clock.
    pub last_service_or_contact_seq: Option<Seq>,
    /// Seq of the `ServiceTerminated` in force (`None` while service is open): `status`
    /// names it as what started the retention clock.
    pub terminated_seq: Option<Seq>,
    /// Earliest `occurred_on` of a [`ServiceClass::Renders`] event: when the professional
    /// relationship began, for (3).
    pub first_service_on: Option<Date>,
    /// Earliest `occurred_on` of a `disclosure`, for (3).
    pub first_disclosure_on: Option<Date>,
    /// Whether a termination for impairment or a dual relationship was ever recorded: rules
    /// (4) and (5) then need a written notice and a referral.
    pub terminated_for_4_5: bool,
}

impl RecordState {
    fn new(seq: Seq, on: Date) -> RecordState {
        RecordState {
            opened_seq: seq,
            opened_on: on,
            opened: false,
            service: Service::Open,
            latest_occurred_on: on,
            holds: Vec::new(),
            kinds: KindsSeen::default(),
            ever_terminated: false,
            destroyed: None,
            entries: 0,
            last_seq: seq,
            last_service_or_contact_on: None,
            last_service_or_contact_seq: None,
            terminated_seq: None,
            first_service_on: None,
            first_disclosure_on: None,
            terminated_for_4_5: false,
        }
    }

    /// The placement the record's next entry must carry.
    pub fn next_placement(&self) -> Placement {
        Placement {
            ordinal: self.entries + 1,
            prev_in_record: Some(self.last_seq),
        }
    }

    /// The day the retention clock starts, when service is terminated: the termination date
    /// in force, or the latest date of service or client contact the record holds if that
    /// is later (an event imported from history, a contact after termination). Whatever
    /// the order of events, no record is eligible earlier than five years after the latest
    /// date of service or contact in it.
    pub fn retention_start(&self) -> Option<Date> {
        match self.service {
            Service::Terminated(t) => Some(self.last_service_or_contact_on.map_or(t, |d| d.max(t))),
            Service::Open => None,
        }
    }

    /// Last day of retention, when service is terminated.
    pub fn retained_until(&self) -> Option<Date> {
        self.retention_start().and_then(|d| retention_end(d).ok())
    }

    /// First day destruction is lawful, when service is terminated.
    pub fn lawful_from(&self) -> Option<Date> {
        self.retention_start().and_then(|d| lawful_from(d).ok())
    }

    /// Whether a destruction recorded on `ledger_date` would be lawful; the violation if not.
    pub fn check_destruction(&self, record: &RecordId, ledger_date: Date) -> Result<(), Violation> {
        let Some(t) = self.retention_start() else {
            return Err(Violation::DestructionOfOpenRecord(record.clone()));
        };
        if !self.holds.is_empty() {
            return Err(Violation::DestructionUnderHold {
                record: record.clone(),
                matters: self.holds.clone(),
            });
        }
        let from = lawful_from(t)?;
        if ledger_date < from {
            return Err(Violation::DestructionBeforeRetentionEnd {
                record: record.clone(),
                retained_until: retention_end(t)?,
                lawful_from: from,
            });
        }
        Ok(())
    }

    /// The report status as of a date. `content_missing` is the verifier's finding that
    /// payloads are gone without a lawful destruction.
    pub fn status(&self, as_of: Date, content_missing: bool) -> Status {
        if let Some(d) = &self.destroyed {
            return if d.lawful {
                Status::DestroyedLawfully
            } else {
                Status::DestroyedEarly
            };
        }
        if content_missing {
            return Status::ContentMissing;
        }
        if !self.holds.is_empty() {
            return Status::OnHold;
        }
        match (self.service, self.retained_until()) {
            (Service::Terminated(_), Some(until)) if as_of <= until => Status::Retained { until },
            (Service::Terminated(_), Some(_)) => Status::Eligible,
            _ => Status::Open,
        }
    }

    /// (11)(A)-(F), (3) and (7) completeness.
    pub fn completeness(&self, settings: &LedgerSettings) -> Completeness {
        let req = |k: Kind| {
            if self.kinds.contains(k) {
                Item::Present
            } else {
                Item::Missing
            }
        };
        let opt = |k: Kind| {
            if self.kinds.contains(k) {
                Item::Present
            } else {
                Item::NoneRecorded
            }
        };
        let f = if self.kinds.contains(Kind::TerminationNotice) {
            Item::Present
        } else if settings.private_practice && self.ever_terminated {
            Item::Missing
        } else {
            Item::NotApplicable
        };
        // (3): disclosed at or before the relationship began (the first service date). A
        // disclosure dated after it does not meet the duty: reported as missing.
        let disclosure = match (self.first_disclosure_on, self.first_service_on) {
            (Some(disclosed), Some(began)) if disclosed > began => Item::Missing,
            (Some(_), _) => Item::Present,
            (None, _) => Item::Missing,
        };
        // (4), (5): after a termination for impairment or a dual relationship, a written
        // notice to the client and a referral to another professional.
        let notice_referral = if !self.terminated_for_4_5 {
            Item::NotApplicable
        } else if self.kinds.contains(Kind::TerminationNotice)
            && self.kinds.contains(Kind::Referral)
        {
            Item::Present
        } else {
            Item::Missing
        };
        Completeness {
            a_presenting_problem: req(Kind::PresentingProblem),
            a_assessment: req(Kind::Assessment),
            a_plan_of_action: req(Kind::PlanOfAction),
            a_progress_notes: req(Kind::ProgressNote),
            b_fee_arrangement: req(Kind::FeeArrangement),
            c_contacts: req(Kind::Contact),
            d_consults: opt(Kind::Consult),
            e_evaluative_reports: opt(Kind::EvaluativeReport),
            f_termination_notice: f,
            disclosure,
            recording_consent: opt(Kind::RecordingConsent),
            notice_and_referral_4_5: notice_referral,
        }
    }
}

/// A record's retention status as of a date (report vocabulary).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Status {
    /// Service ongoing.
    Open,
    /// Terminated; retained until the date (inclusive).
    Retained {
        /// Last day of retention.
        until: Date,
    },
    /// Retention has run out: may be destroyed.
    Eligible,
    /// A hold is in force.
    OnHold,
    /// Destroyed after retention, without hold, by a custodian.
    DestroyedLawfully,
    /// Destroyed before retention ran out or under hold.
    DestroyedEarly,
    /// Payloads missing without a lawful destruction.
    ContentMissing,
}

impl Status {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Retained { .. } => "retained",
            Status::Eligible => "eligible",
            Status::OnHold => "on_hold",
            Status::DestroyedLawfully => "destroyed_lawfully",
            Status::DestroyedEarly => "destroyed_early",
            Status::ContentMissing => "content_missing",
        }
    }
}

/// Whether a completeness item is in the record.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Item {
    /// At least one event of the kind.
    Present,
    /// Required and absent.
    Missing,
    /// Not required, none recorded (consults, evaluative reports, recording consent).
    NoneRecorded,
    /// Not required here ((F) outside private practice, or before any termination).
    NotApplicable,
}

/// Completeness of a record against 20 CSR 2263-3.040 (11)(A)-(F), (3) and (7).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Completeness {
    /// (11)(A) presenting problem(s).
    pub a_presenting_problem: Item,
    /// (11)(A) assessment.
    pub a_assessment: Item,
    /// (11)(A) plan of action.
    pub a_plan_of_action: Item,
    /// (11)(A) progress notes.
    pub a_progress_notes: Item,
    /// (11)(B) fee arrangement.
    pub b_fee_arrangement: Item,
    /// (11)(C) contacts.
    pub c_contacts: Item,
    /// (11)(D) formal consults (if any).
    pub d_consults: Item,
    /// (11)(E) evaluative reports (if any).
    pub e_evaluative_reports: Item,
    /// (11)(F) written termination communication (private practice).
    pub f_termination_notice: Item,
    /// (3) disclosure of purposes, goals, techniques, rules and limitations at or before the
    /// first service ([`RecordState::first_service_on`]): `Missing` when there is none, or
    /// when the earliest one is dated after the first service.
    pub disclosure: Item,
    /// (7) recording consent: presence only. The event model does not mark which sessions
    /// were recorded electronically, so "before a recorded session" cannot be checked.
    pub recording_consent: Item,
    /// (4), (5): a termination for impairment or a dual relationship needs a written
    /// termination notice and a referral (`NotApplicable` without such a termination).
    pub notice_and_referral_4_5: Item,
}

impl Completeness {
    /// `(label, item)` pairs in rule order, for reports.
    pub fn items(&self) -> [(&'static str, Item); 12] {
        [
            ("11A_presenting_problem", self.a_presenting_problem),
            ("11A_assessment", self.a_assessment),
            ("11A_plan_of_action", self.a_plan_of_action),
            ("11A_progress_notes", self.a_progress_notes),
            ("11B_fee_arrangement", self.b_fee_arrangement),
            ("11C_contacts", self.c_contacts),
            ("11D_consults", self.d_consults),
            ("11E_evaluative_reports", self.e_evaluative_reports),
            ("11F_termination_notice", self.f_termination_notice),
            ("3_disclosure", self.disclosure),
            ("7_recording_consent", self.recording_consent),
            ("4_5_notice_and_referral", self.notice_and_referral_4_5),
        ]
    }
    /// The labels of missing items.
    pub fn missing(&self) -> Vec<&'static str> {
        self.items()
            .iter()
            .filter(|(_, i)| *i == Item::Missing)
            .map(|(l, _)| *l)
            .collect()
    }
}

/// What the fold needs to know about earlier entries that its small state does not hold.
/// The store answers from its trees (and can fail: a read error, a corrupt row); the
/// verifier and [`LedgerState`] from in-memory maps (`Error = Infallible`). Fallible like
/// [`crate::merkle::NodeSource`].
pub trait History {
    /// Why the history could not answer.
    type Error;
    /// The record of the entry at `seq`, if that entry exists and belongs to a record.
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>, Self::Error>;
    /// The seq at which an event with this nonce was appended, if any.
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>, Self::Error>;
}

/// Why [`try_check`] did not allow an entry: the entry is unlawful, or the history it needed
/// could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError<E> {
    /// The entry is not allowed.
    #[error(transparent)]
    Violation(#[from] Violation),
    /// The history could not answer.
    #[error(transparent)]
    History(E),
}

/// What [`check`] needs from the history for one entry, read before judging so that the
/// judging itself is pure and infallible.
struct Recalled {
    /// Where the event's nonce was first seen, if anywhere.
    first_seen: Option<Seq>,
    /// For an amendment: the record of the amended entry.
    amended_record: Option<RecordId>,
}

fn recall<H: History>(step: Step<'_>, history: &H) -> Result<Recalled, H::Error> {
    let first_seen = history.nonce_seen(&step.event.nonce)?;
    let amended_record = match step.event.kind {
        EventKind::Amendment { amends } if amends < step.seq => history.record_of(amends)?,
        _ => None,
    };
    Ok(Recalled {
        first_seen,
        amended_record,
    })
}

/// The placement the store assigns to the next entry: `None` for administration entries
/// (`has_record` false), ordinal 1 for a record's first entry (`record` is `None`), else the
/// record's [`RecordState::next_placement`].
pub fn expected_placement(has_record: bool, record: Option<&RecordState>) -> Option<Placement> {
    match (has_record, record) {
        (false, _) => None,
        (true, None) => Some(Placement {
            ordinal: 1,
            prev_in_record: None,
        }),
        (true, Some(r)) => Some(r.next_placement()),
    }
}

/// One entry as the fold sees it.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    /// Position.
    pub seq: Seq,
    /// The ledger's clock.
    pub recorded_at: Timestamp,
    /// The store-assigned placement in the record.
    pub placement: Option<Placement>,
    /// The store-assigned seq of the previous registry entry (`Entry::prev_registry`).
    pub prev_registry: Option<Seq>,
    /// The (signature-checked) event.
    pub event: &'a Event,
}

/// Checks the store-assigned `prev_registry` against the registry before the entry: it
/// must be the seq of the latest registry entry ([`Registry::last_change`]). Separate from
/// [`check`] so that a verifier reports it beside whatever else is wrong with the entry
/// (the store assigns it itself, and checks it on archived entries).
pub fn check_prev_registry(registry: &Registry, step: Step<'_>) -> Result<(), Violation> {
    if step.prev_registry == registry.last_change {
        Ok(())
    } else {
        Err(Violation::PrevRegistryMismatch {
            found: step.prev_registry,
            expected: registry.last_change,
        })
    }
}

/// Judges one entry against the state before it, with a history that cannot fail (in
/// memory). Pure: changes nothing.
///
/// `record` is the state of `step.event.record` (None when it has none yet). Signatures are
/// not checked here (callers batch them); everything else about lawfulness is.
pub fn check(
    registry: &Registry,
    record: Option<&RecordState>,
    step: Step<'_>,
    history: &impl History<Error = std::convert::Infallible>,
) -> Result<(), Violation> {
    let recalled = match recall(step, history) {
        Ok(r) => r,
        Err(never) => match never {},
    };
    judge(registry, record, step, &recalled)
}

/// [`check`] with a history that can fail (the store's trees).
pub fn try_check<H: History>(
    registry: &Registry,
    record: Option<&RecordState>,
    step: Step<'_>,
    history: &H,
) -> Result<(), CheckError<H::Error>> {
    let recalled = recall(step, history).map_err(CheckError::History)?;
    Ok(judge(registry, record, step, &recalled)?)
}

fn judge(
    registry: &Registry,
    record: Option<&RecordState>,
    step: Step<'_>,
    recalled: &Recalled,
) -> Result<(), Violation> {
    let ev = step.event;
    let kind = ev.kind.kind();
    if (step.seq == Seq::GENESIS) != (kind == Kind::Genesis) {
        return Err(Violation::GenesisPlacement);
    }
    if let Some(c) = &registry.closed {
        return Err(Violation::AfterClose { closed_at: c.seq });
    }
    ev.check_shape()
        .map_err(|e| Violation::Shape(e.to_string()))?;
    if let Some(prev) = registry.last_recorded_at {
        if step.recorded_at < prev && kind != Kind::ClockCorrected {
            return Err(Violation::RecordedAtRegressed {
                previous: prev,
                found: step.recorded_at,
            });
        }
    }
    let today = registry.ledger_date(step.recorded_at)?;
    let latest_allowed = today
        .civil()
        .checked_add(jiff::Span::new().days(FUTURE_SLACK_DAYS))
        .map_err(|_| Violation::DateOutOfRange)?;
    if ev.occurred_on.civil() > latest_allowed {
        return Err(Violation::OccurredInFuture {
            occurred_on: ev.occurred_on,
            today,
        });
    }
    if let Some(first) = recalled.first_seen {
        return Err(Violation::Replay { first });
    }
    let expected = expected_placement(ev.record.is_some(), record);
    if step.placement != expected {
        return Err(Violation::PlacementMismatch {
            found: PlacementText(step.placement),
            expected: PlacementText(expected),
        });
    }
    // A replayed event is named as one before its (necessarily stale) signing time.
    let settings = &registry.settings;
    let secs = |s: u32| i64::from(s) * 1_000_000;
    if ev.signed_at.micros()
        > step
            .recorded_at
            .micros()
            .saturating_add(secs(settings.clock_skew_secs))
    {
        return Err(Violation::SignedInFuture {
            signed_at: ev.signed_at,
            recorded_at: step.recorded_at,
            skew_secs: settings.clock_skew_secs,
        });
    }
    if step
        .recorded_at
        .micros()
        .saturating_sub(ev.signed_at.micros())
        > secs(settings.max_signing_lag_secs)
    {
        return Err(Violation::SignedTooLongAgo {
            signed_at: ev.signed_at,
            recorded_at: step.recorded_at,
            lag_secs: settings.max_signing_lag_secs,
        });
    }
    check_author(registry, ev, kind)?;
    match (&ev.kind, &ev.record) {
        (EventKind::Genesis { .. }, _) => Ok(()),
        (EventKind::ActorEnrolled { actor, .. }, _) if actor.as_str() == LEDGER_ACTOR => {
            Err(Violation::ReservedActor)
        }
        (EventKind::ClockCorrected { .. }, _) | (EventKind::LedgerClosed { .. }, _) => Ok(()),
        (EventKind::ActorEnrolled { actor, .. }, _) => match registry.actors.get(actor) {
            Some(a) if !a.revoked => Err(Violation::AlreadyEnrolled(actor.clone())),
            _ => Ok(()),
        },
        (EventKind::KeyRevoked { actor }, _) => match registry.actors.get(actor) {
            Some(a) if !a.revoked => {
                let admins = registry
                    .actors
                    .values()
                    .filter(|a| a.role == Role::Admin && !a.revoked)
                    .count();
                if a.role == Role::Admin && admins <= 1 {
                    Err(Violation::LastAdmin(actor.clone()))
                } else {
                    Ok(())
                }
            }
            _ => Err(Violation::NotEnrolled(actor.clone())),
        },
        (_, None) => Err(Violation::Shape(format!("{kind} events need a record id"))),
        (k, Some(rid)) => check_record_event(record, rid, k, step, today, recalled),
    }
}

fn check_author(registry: &Registry, ev: &Event, kind: Kind) -> Result<(), Violation> {
    if let EventKind::Genesis { admin, .. } = &ev.kind {
        return if *admin == ev.author {
            Ok(())
        } else {
            Err(Violation::UnknownAuthor(ev.author.clone()))
        };
    }
    if kind.allowed_role() == Role::Ledger || ev.author.as_str() == LEDGER_ACTOR {
        // Only the ledger writes its kinds, and the ledger writes nothing else.
        return if kind.allowed_role() == Role::Ledger && ev.author.as_str() == LEDGER_ACTOR {
            Ok(())
        } else {
            Err(Violation::RoleNotAllowed {
                author: ev.author.clone(),
                role: if ev.author.as_str() == LEDGER_ACTOR {
                    Role::Ledger
                } else {
                    registry
                        .actors
                        .get(&ev.author)
                        .map_or(Role::Licensee, |a| a.role)
                },
                kind,
                needed: kind.allowed_role(),
            })
        };
    }
    let a = registry
        .actors
        .get(&ev.author)
        .ok_or_else(|| Violation::UnknownAuthor(ev.author.clone()))?;
    if a.revoked {
        return Err(Violation::AuthorRevoked(ev.author.clone()));
    }
    let needed = kind.allowed_role();
    if a.role != needed {
        return Err(Violation::RoleNotAllowed {
            author: ev.author.clone(),
            role: a.role,
            kind,
            needed,
        });
    }
    Ok(())
}

fn check_record_event(
    record: Option<&RecordState>,
    rid: &RecordId,
    kind: &EventKind,
    step: Step<'_>,
    today: Date,
    recalled: &Recalled,
) -> Result<(), Violation> {
    let Some(r) = record else {
        return if matches!(kind, EventKind::RecordOpened) {
            Ok(())
        } else {
            Err(Violation::RecordNotOpened(rid.clone()))
        };
    };
    if let EventKind::RecordHead { entries, last } = kind {
        // A head states the record as it is, destroyed or not (a destroyed record's proof
        // remains exportable).
        return if *entries == r.entries && *last == r.last_seq {
            Ok(())
        } else {
            Err(Violation::RecordHeadMismatch {
                record: rid.clone(),
                entries: *entries,
                last: *last,
                actual_entries: r.entries,
                actual_last: r.last_seq,
            })
        };
    }
    if let Some(d) = &r.destroyed {
        return Err(Violation::AfterDestruction {
            record: rid.clone(),
            destroyed_at: d.seq,
        });
    }
    if let Service::Terminated(terminated_on) = r.service {
        if kind.kind().records_service() {
            return Err(Violation::ServiceAfterTermination {
                record: rid.clone(),
                kind: kind.kind(),
                terminated_on,
            });
        }
    }
    match kind {
        EventKind::RecordOpened => Err(Violation::RecordAlreadyOpened(rid.clone())),
        EventKind::ServiceTerminated { terminated_on, .. } => {
            if matches!(r.service, Service::Terminated(_)) {
                return Err(Violation::AlreadyTerminated(rid.clone()));
            }
            if *terminated_on < r.latest_occurred_on {
                return Err(Violation::TerminationBackdated {
                    terminated_on: *terminated_on,
                    latest: r.latest_occurred_on,
                });
            }
            if terminated_on.civil() > today.civil() {
                return Err(Violation::OccurredInFuture {
                    occurred_on: *terminated_on,
                    today,
                });
            }
            Ok(())
        }
        EventKind::ServiceResumed => match r.service {
            Service::Terminated(_) => Ok(()),
            Service::Open => Err(Violation::NotTerminated(rid.clone())),
        },
        EventKind::Amendment { amends } => {
            if *amends < step.seq && recalled.amended_record.as_ref() == Some(rid) {
                Ok(())
            } else {
                Err(Violation::BadAmendmentTarget {
                    record: rid.clone(),
                    amends: *amends,
                })
            }
        }
        EventKind::HoldPlaced { matter } => {
            if r.holds.contains(matter) {
                Err(Violation::HoldAlreadyPlaced {
                    record: rid.clone(),
                    matter: matter.clone(),
                })
            } else {
                Ok(())
            }
        }
        EventKind::HoldReleased { matter } => {
            if r.holds.contains(matter) {
                Ok(())
            } else {
                Err(Violation::HoldNotPlaced {
                    record: rid.clone(),
                    matter: matter.clone(),
                })
            }
        }
        EventKind::Destruction { .. } => r.check_destruction(rid, today),
        _ => Ok(()),
    }
}

/// Advances the state by one entry, whether or not [`check`] allowed it (the verifier keeps
/// replaying a faulty ledger; the store only applies what it checked). Returns the record's
/// new state through `record` (created on first sight).
pub fn apply(registry: &mut Registry, record: &mut Option<RecordState>, step: Step<'_>) {
    let ev = step.event;
    registry.last_recorded_at = Some(match ev.kind {
        // The correction restarts the clock at its own (earlier) time.
        EventKind::ClockCorrected { .. } => step.recorded_at,
        _ => registry
            .last_recorded_at
            .map_or(step.recorded_at, |p| p.max(step.recorded_at)),
    });
    // By kind, lawful or not: the pointer rule names every registry entry (the store only
    // ever appends lawful ones; the verifier applies faulty ones too and reports them).
    if ev.kind.kind().changes_registry() {
        registry.last_change = Some(step.seq);
    }
    match &ev.kind {
        EventKind::Genesis {
            origin,
            admin,
            admin_key,
            ledger_key,
            settings,
        } => {
            registry.origin = Some(origin.clone());
            registry.ledger_key = Some(*ledger_key);
            registry.settings = settings.clone();
            registry.actors.insert(
                admin.clone(),
                ActorState {
                    role: Role::Admin,
                    key: *admin_key,
                    revoked: false,
                    enrolled_at: step.seq,
                },
            );
            return;
        }
        EventKind::ActorEnrolled {
            actor,
            role,
            public_key,
        } => {
            registry.actors.insert(
                actor.clone(),
                ActorState {
                    role: *role,
                    key: *public_key,
                    revoked: false,
                    enrolled_at: step.seq,
                },
            );
            return;
        }
        EventKind::KeyRevoked { actor } => {
            if let Some(a) = registry.actors.get_mut(actor) {
                a.revoked = true;
            }
            return;
        }
        EventKind::LedgerClosed { reason } => {
            // The first close stands (a later one is reported by `check`).
            registry.closed.get_or_insert_with(|| Closure {
                seq: step.seq,
                at: step.recorded_at,
                by: ev.author.clone(),
                reason: reason.clone(),
            });
            return;
        }
        _ => {}
    }
    if ev.record.is_none() {
        return;
    }
    let r = record.get_or_insert_with(|| RecordState::new(step.seq, ev.occurred_on));
    if r.destroyed.is_some() {
        // Nothing changes a destroyed record; `check` reported the event.
        r.entries += 1;
        r.last_seq = step.seq;
        return;
    }
    let today = registry.ledger_date(step.recorded_at).ok();
    r.entries += 1;
    r.last_seq = step.seq;
    let kind = ev.kind.kind();
    r.kinds.insert(kind);
    if kind == Kind::RecordHead {
        // The ledger's own bookkeeping: no claimed date of the record moves.
        return;
    }
    if ev.occurred_on > r.latest_occurred_on {
        r.latest_occurred_on = ev.occurred_on;
    }
    let on = Some(ev.occurred_on);
    if kind.dates_service_or_contact() && r.last_service_or_contact_on < on {
        r.last_service_or_contact_on = on;
        r.last_service_or_contact_seq = Some(step.seq);
    }
    if kind.service_class() == ServiceClass::Renders {
        r.first_service_on = r
            .first_service_on
            .map_or(on, |d| Some(d.min(ev.occurred_on)));
    }
    if kind == Kind::Disclosure {
        r.first_disclosure_on = r
            .first_disclosure_on
            .map_or(on, |d| Some(d.min(ev.occurred_on)));
    }
    match &ev.kind {
        EventKind::RecordOpened if !r.opened => {
            r.opened = true;
            r.opened_seq = step.seq;
            r.opened_on = ev.occurred_on;
        }
        EventKind::ServiceTerminated {
            terminated_on,
            reason,
        } => {
            r.terminated_for_4_5 |= reason.needs_notice_and_referral();
            r.service = Service::Terminated(*terminated_on);
            r.terminated_seq = Some(step.seq);
            r.ever_terminated = true;
        }
        EventKind::ServiceResumed => {
            r.service = Service::Open;
            r.terminated_seq = None;
        }
        EventKind::HoldPlaced { matter } => {
            if let Err(pos) = r.holds.binary_search(matter) {
                r.holds.insert(pos, matter.clone());
            }
        }
        EventKind::HoldReleased { matter } => r.holds.retain(|m| m != matter),
        EventKind::Destruction { .. } => {
            let lawful = match (ev.record.as_ref(), today) {
                (Some(rid), Some(day)) => r.check_destruction(rid, day).is_ok(),
                _ => false,
            };
            r.destroyed = Some(Destroyed {
                seq: step.seq,
                on: today.unwrap_or(ev.occurred_on),
                by: ev.author.clone(),
                lawful,
            });
        }
        _ => {}
    }
}

/// The whole fold in memory: a registry and a map of record states, with the history the
/// fold needs (record of each seq, nonces). For tests, the sample generator, and small
/// ledgers; the verifier keeps its own compact history.
#[derive(Default, Debug, Clone)]
pub struct LedgerState {
    /// Ledger-wide state.
    pub registry: Registry,
    /// Records by id.
    pub records: HashMap<RecordId, RecordState>,
    record_of: Vec<Option<RecordId>>,
    nonces: HashMap<Nonce, Seq>,
}

impl History for LedgerState {
    type Error = std::convert::Infallible;
    fn record_of(&self, seq: Seq) -> Result<Option<RecordId>, Self::Error> {
        Ok(usize::try_from(seq.0)
            .ok()
            .and_then(|i| self.record_of.get(i))
            .cloned()
            .flatten())
    }
    fn nonce_seen(&self, nonce: &Nonce) -> Result<Option<Seq>, Self::Error> {
        Ok(self.nonces.get(nonce).copied())
    }
}

impl LedgerState {
    /// The placement the next entry of `record` must carry (`None` for administration).
    pub fn placement_for(&self, record: Option<&RecordId>) -> Option<Placement> {
        expected_placement(record.is_some(), record.and_then(|r| self.records.get(r)))
    }

    /// Checks then applies one entry; on a violation nothing changes.
    pub fn step(&mut self, step: Step<'_>) -> Result<(), Violation> {
        let rec = step.event.record.as_ref().and_then(|r| self.records.get(r));
        check(&self.registry, rec, step, self)?;
        check_prev_registry(&self.registry, step)?;
        self.force(step);
        Ok(())
    }

    /// Applies one entry without checking (replaying a faulty ledger).
    pub fn force(&mut self, step: Step<'_>) {
        let mut rec = step
            .event
            .record
            .as_ref()
            .and_then(|r| self.records.remove(r));
        apply(&mut self.registry, &mut rec, step);
        if let (Some(rid), Some(r)) = (step.event.record.clone(), rec) {
            self.records.insert(rid, r);
        }
        // Only contiguous seqs are remembered: a hostile seq must not allocate.
        if usize::try_from(step.seq.0).ok() == Some(self.record_of.len()) {
            self.record_of.push(step.event.record.clone());
        }
        self.nonces.entry(step.event.nonce).or_insert(step.seq);
    }
}
