//! The event model: what an author signs, what the ledger stores, and who may write what.
//!
//! Enum variants are only ever appended (their index is their encoding); fields
//! are never reordered. See docs/FORMAT.md.

use crate::encoding::{self, DecodeError, EncodeError};
use crate::hash;
use crate::ids::{
    ActorId, EntryHash, Nonce, PayloadCommitment, PublicKey, RecordId, Seq, SignatureBytes,
};
use crate::keys::{SignatureError, SigningKey};
use crate::sshsig;
use crate::time::{Date, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

// The entry format version lives beside the canonical encoding that refuses other
// versions; it is re-exported here, where the entry that carries it is defined.
pub use crate::encoding::FORMAT_VERSION;

/// A short, non-clinical text carried in a header (an origin, a hold's matter, a destruction
/// reason): 1-256 bytes of UTF-8 without control characters.
///
/// Headers outlive destruction, so these must never carry clinical content; keep them to
/// case numbers and policy references.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShortText(String);

/// The maximum length of a [`ShortText`], in bytes.
pub const MAX_SHORT_TEXT: usize = 256;

/// A value refused by a validating constructor in this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A header text was empty, too long, or had control characters.
    #[error("{what} must be 1-256 bytes of text without control characters")]
    BadText {
        /// Which field.
        what: &'static str,
    },
    /// An unknown kind name (ingest format, CLI).
    #[error("unknown event kind {0:?}")]
    UnknownKind(String),
    /// An unknown role name.
    #[error("unknown role {0:?}: expected admin, licensee or custodian")]
    UnknownRole(String),
    /// A time zone name the bundled IANA database does not know.
    #[error("unknown time zone {0:?}: expected an IANA name such as America/Chicago or UTC")]
    UnknownTimeZone(String),
    /// An unknown termination reason name.
    #[error("unknown termination reason {0:?}: expected unstated, completed, impairment, dual_relationship or other")]
    UnknownTerminationReason(String),
    /// A record event without a record id, or an administration event with one.
    #[error("{kind} events {}", if *.needs_record { "need a record id" } else { "must not name a record" })]
    RecordMismatch {
        /// The kind.
        kind: Kind,
        /// Whether the kind needs a record.
        needs_record: bool,
    },
    /// Administration events carry no payload.
    #[error("{0} events carry no payload")]
    PayloadNotAllowed(Kind),
}

impl ShortText {
    /// Validates a header text.
    pub fn new(s: impl Into<String>) -> Result<ShortText, ModelError> {
        let s = s.into();
        if s.is_empty() || s.len() > MAX_SHORT_TEXT || s.chars().any(char::is_control) {
            return Err(ModelError::BadText {
                what: "header text",
            });
        }
        // INVARIANT: 1-256 bytes, no control characters.
        Ok(ShortText(s))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for ShortText {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, ModelError> {
        ShortText::new(s)
    }
}
impl From<ShortText> for String {
    fn from(t: ShortText) -> String {
        t.0
    }
}
impl fmt::Display for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// What an actor may do. `admin` enrols and revokes actors; `licensee` writes clinical
/// events; `custodian` places and releases holds and destroys after retention.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Role {
    /// Enrols and revokes actors.
    Admin,
    /// Writes clinical events.
    Licensee,
    /// Places and releases holds; destroys records after retention.
    Custodian,
    /// The ledger itself (the reserved actor [`LEDGER_ACTOR`], signing with the ledger key
    /// named in genesis): writes `record_head` entries. Never enrolled.
    Ledger,
}

/// The reserved actor id of the ledger itself ([`Role::Ledger`]); it cannot be enrolled.
pub const LEDGER_ACTOR: &str = "ledger";

impl Role {
    /// The lower-case name used by the CLI and the ingest format.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Licensee => "licensee",
            Role::Custodian => "custodian",
            Role::Ledger => "ledger",
        }
    }
    /// Parses a lower-case role name.
    pub fn parse(s: &str) -> Result<Role, ModelError> {
        match s {
            "admin" => Ok(Role::Admin),
            "licensee" => Ok(Role::Licensee),
            "custodian" => Ok(Role::Custodian),
            _ => Err(ModelError::UnknownRole(s.chars().take(32).collect())),
        }
    }
}
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ledger-wide settings fixed at genesis.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LedgerSettings {
    /// The licensees are in private practice: (11)(F) (a written termination communication) applies.
    pub private_practice: bool,
    /// The practice's IANA time zone (e.g. `America/Chicago`): retention days are calendar
    /// days there, and "today" is the ledger clock's date there.
    pub time_zone: TimeZoneName,
    /// How far, in seconds, the system clock may step back before the store refuses to
    /// append until an admin records `clock_corrected`; smaller steps are clamped.
    pub clock_skew_secs: u32,
    /// How old, in seconds, a pre-signed event's `signed_at` may be when it is appended.
    pub max_signing_lag_secs: u32,
    /// How many days the practice keeps backups (reports state it beside each destruction:
    /// older backups may still hold destroyed content until they expire).
    pub backup_retention_days: u32,
}

/// Default [`LedgerSettings::clock_skew_secs`]: five minutes (an NTP step is far smaller).
pub const DEFAULT_CLOCK_SKEW_SECS: u32 = 300;
/// Default [`LedgerSettings::max_signing_lag_secs`]: 24 hours.
pub const DEFAULT_MAX_SIGNING_LAG_SECS: u32 = 24 * 3600;

impl LedgerSettings {
    /// Settings with the defaults for everything but the practice kind and time zone.
    pub fn new(private_practice: bool, time_zone: TimeZoneName) -> LedgerSettings {
        LedgerSettings {
            private_practice,
            time_zone,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            max_signing_lag_secs: DEFAULT_MAX_SIGNING_LAG_SECS,
            backup_retention_days: 0,
        }
    }
}

impl Default for LedgerSettings {
    fn default() -> LedgerSettings {
        LedgerSettings::new(false, TimeZoneName::utc())
    }
}

/// An IANA time zone name known to the bundled time zone database (`UTC`,
/// `America/Chicago`): validated so that every reader computes the same calendar days.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    /// Validates a name against the bundled IANA database.
    pub fn new(s: impl Into<String>) -> Result<TimeZoneName, ModelError> {
        let s = s.into();
        if s.is_empty() || s.len() > 64 || jiff::tz::db().get(&s).is_err() {
            return Err(ModelError::UnknownTimeZone(s.chars().take(64).collect()));
        }
        // INVARIANT: a name the bundled database resolves.
        Ok(TimeZoneName(s))
    }
    /// `UTC`.
    pub fn utc() -> TimeZoneName {
        TimeZoneName("UTC".to_owned())
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The zone (the name was validated, so this resolves; UTC if the database changed).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::db()
            .get(&self.0)
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }
}
impl TryFrom<String> for TimeZoneName {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, ModelError> {
        TimeZoneName::new(s)
    }
}
impl From<TimeZoneName> for String {
    fn from(t: TimeZoneName) -> String {
        t.0
    }
}
impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Why service was terminated, when the licensee states it. Rules (4) and (5): a
/// termination for impairment or for a dual relationship needs a written notice to the
/// client and a referral.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub enum TerminationReason {
    /// Not stated.
    #[default]
    Unstated,
    /// Service completed or ended by agreement or by the client.
    Completed,
    /// Rule (4): the licensee's competency is or could be impaired.
    Impairment,
    /// Rule (5): a dual relationship developed or was discovered.
    DualRelationship,
    /// Another reason.
    Other,
}

impl TerminationReason {
    /// Every reason, in wire order.
    pub const ALL: [TerminationReason; 5] = [
        TerminationReason::Unstated,
        TerminationReason::Completed,
        TerminationReason::Impairment,
        TerminationReason::DualRelationship,
        TerminationReason::Other,
    ];
    /// The snake_case name (ingest format, reports).
    pub fn name(self) -> &'static str {
        match self {
            TerminationReason::Unstated => "unstated",
            TerminationReason::Completed => "completed",
            TerminationReason::Impairment => "impairment",
            TerminationReason::DualRelationship => "dual_relationship",
            TerminationReason::Other => "other",
        }
    }
    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Result<TerminationReason, ModelError> {
        TerminationReason::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| ModelError::UnknownTerminationReason(s.chars().take(32).collect()))
    }
    /// Whether rules (4)/(5) require a written notice and a referral.
    pub fn needs_notice_and_referral(self) -> bool {
        matches!(
            self,
            TerminationReason::Impairment | TerminationReason::DualRelationship
        )
    }
}
impl fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened. The variant index is the wire tag: variants are only ever appended.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum EventKind {
    /// Seq 0: founds the ledger, enrols its first admin and names the checkpoint key.
    Genesis {
        /// The checkpoint origin line (C2SP), e.g. `example.org/practice-ledger`.
        origin: ShortText,
        /// The first admin's actor id; it signs this event.
        admin: ActorId,
        /// The first admin's public key.
        admin_key: PublicKey,
        /// The ledger (checkpoint) key's public half.
        ledger_key: PublicKey,
        /// Ledger-wide settings.
        settings: LedgerSettings,
    },
    /// An admin enrols an actor (or re-enrols a revoked one with a new key: key rotation).
    ActorEnrolled {
        /// Who.
        actor: ActorId,
        /// With which role.
        role: Role,
        /// Their signing key's public half.
        public_key: PublicKey,
    },
    /// An admin revokes an actor's key; the actor may sign nothing after this entry.
    KeyRevoked {
        /// Whose key.
        actor: ActorId,
    },
    /// A client record is opened.
    RecordOpened,
    /// Purposes, goals and techniques disclosed to the client (rule 3).
    Disclosure,
    /// The client was told about, and consented to, electronic recording (rule 7).
    RecordingConsent,
    /// (11)(A) presenting problem(s).
    PresentingProblem,
    /// (11)(A) assessment.
    Assessment,
    /// (11)(A) plan of action.
    PlanOfAction,
    /// (11)(A) progress note.
    ProgressNote,
    /// (11)(B) fee arrangement.
    FeeArrangement,
    /// (11)(C) date and substance of a contact with the client.
    Contact,
    /// (11)(D) notation and results of a formal consult with another provider.
    Consult,
    /// (11)(E) an evaluative report prepared or received.
    EvaluativeReport,
    /// (11)(F) the written communication of the date and reason for termination.
    TerminationNotice,
    /// Service terminated: starts the five-year retention clock (rule 12).
    ServiceTerminated {
        /// The date service terminated.
        terminated_on: Date,
        /// Why, when stated (rules (4) and (5) need to know).
        reason: TerminationReason,
    },
    /// Service resumed: clears the retention clock until the next termination.
    ServiceResumed,
    /// A referral (rule 6).
    Referral,
    /// A correction: the amended entry stays; the amendment (its reason is payload) follows.
    Amendment {
        /// The entry being corrected (same record, earlier seq).
        amends: Seq,
    },
    /// A legal hold: blocks destruction until released.
    HoldPlaced {
        /// The matter (a case number; never clinical content).
        matter: ShortText,
    },
    /// Releases the hold placed for the same matter.
    HoldReleased {
        /// The matter.
        matter: ShortText,
    },
    /// Lawful destruction after retention: the record's payloads and salts are removed.
    Destruction {
        /// The authority or policy (never clinical content).
        reason: ShortText,
        /// The external time the destroyer had seen when signing (format 4): lets the
        /// report say "lawful, attested" (docs/FORMAT.md §2, §9). `None`: no citation.
        citation: Option<crate::citation::TimeCitation>,
    },
    /// An admin acknowledges that the system clock was set back beyond the skew: this
    /// entry's `recorded_at` may be earlier than the entry before it (the only one that may).
    ClockCorrected {
        /// What happened and who fixed it (never clinical content).
        reason: ShortText,
    },
    /// Written by the ledger itself at export: the record has `entries` entries before this
    /// one, the last of them at `last`. Lets a bundle prove it holds all of them.
    RecordHead {
        /// How many entries of the record precede this one.
        entries: u64,
        /// The seq of the last of them.
        last: Seq,
    },
    /// An admin ends the ledger's life: nothing may be appended after this entry (the store
    /// refuses, the verifier reports any entry after it). The ledger stays readable,
    /// verifiable and reportable; export bundles before closing (an export appends).
    LedgerClosed {
        /// Why (a case or policy reference, never clinical content).
        reason: ShortText,
    },
}

macro_rules! kinds {
    ($($variant:ident => $name:literal, $role:ident, $record:literal;)*) => {
        /// An event kind without its fields: for role rules, names and completeness.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        pub enum Kind {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Kind {
            /// Every kind, in wire order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The snake_case name (ingest format, CLI, reports).
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => $name,)* }
            }
            /// Parses a snake_case name.
            pub fn parse(s: &str) -> Result<Kind, ModelError> {
                match s {
                    $($name => Ok(Kind::$variant),)*
                    _ => Err(ModelError::UnknownKind(s.chars().take(32).collect())),
                }
            }
            /// The one role allowed to write this kind.
            pub fn allowed_role(self) -> Role {
                match self { $(Kind::$variant => Role::$role,)* }
            }
            /// Whether this kind belongs to a client record (else it is ledger administration).
            pub fn has_record(self) -> bool {
                match self { $(Kind::$variant => $record,)* }
            }
        }
    };
}

kinds! {
    Genesis => "genesis", Admin, false;
    ActorEnrolled => "actor_enrolled", Admin, false;
    KeyRevoked => "key_revoked", Admin, false;
    RecordOpened => "record_opened", Licensee, true;
    Disclosure => "disclosure", Licensee, true;
    RecordingConsent => "recording_consent", Licensee, true;
    PresentingProblem => "presenting_problem", Licensee, true;
    Assessment => "assessment", Licensee, true;
    PlanOfAction => "plan_of_action", Licensee, true;
    ProgressNote => "progress_note", Licensee, true;
    FeeArrangement => "fee_arrangement", Licensee, true;
    Contact => "contact", Licensee, true;
    Consult => "consult", Licensee, true;
    EvaluativeReport => "evaluative_report", Licensee, true;
    TerminationNotice => "termination_notice", Licensee, true;
    ServiceTerminated => "service_terminated", Licensee, true;
    ServiceResumed => "service_resumed", Licensee, true;
    Referral => "referral", Licensee, true;
    Amendment => "amendment", Licensee, true;
    HoldPlaced => "hold_placed", Custodian, true;
    HoldReleased => "hold_released", Custodian, true;
    Destruction => "destruction", Custodian, true;
    ClockCorrected => "clock_corrected", Admin, false;
    RecordHead => "record_head", Ledger, true;
    LedgerClosed => "ledger_closed", Admin, false;
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl EventKind {
    /// The kind without its fields.
    pub fn kind(&self) -> Kind {
        match self {
            EventKind::Genesis { .. } => Kind::Genesis,
            EventKind::ActorEnrolled { .. } => Kind::ActorEnrolled,
            EventKind::KeyRevoked { .. } => Kind::KeyRevoked,
            EventKind::RecordOpened => Kind::RecordOpened,
            EventKind::Disclosure => Kind::Disclosure,
            EventKind::RecordingConsent => Kind::RecordingConsent,
            EventKind::PresentingProblem => Kind::PresentingProblem,
            EventKind::Assessment => Kind::Assessment,
            EventKind::PlanOfAction => Kind::PlanOfAction,
            EventKind::ProgressNote => Kind::ProgressNote,
            EventKind::FeeArrangement => Kind::FeeArrangement,
            EventKind::Contact => Kind::Contact,
            EventKind::Consult => Kind::Consult,
            EventKind::EvaluativeReport => Kind::EvaluativeReport,
            EventKind::TerminationNotice => Kind::TerminationNotice,
            EventKind::ServiceTerminated { .. } => Kind::ServiceTerminated,
            EventKind::ServiceResumed => Kind::ServiceResumed,
            EventKind::Referral => Kind::Referral,
            EventKind::Amendment { .. } => Kind::Amendment,
            EventKind::HoldPlaced { .. } => Kind::HoldPlaced,
            EventKind::HoldReleased { .. } => Kind::HoldReleased,
            EventKind::Destruction { .. } => Kind::Destruction,
            EventKind::ClockCorrected { .. } => Kind::ClockCorrected,
            EventKind::RecordHead { .. } => Kind::RecordHead,
            EventKind::LedgerClosed { .. } => Kind::LedgerClosed,
        }
    }

    /// The kind for a field-less kind; `None` for kinds that carry fields.
    pub fn simple(kind: Kind) -> Option<EventKind> {
        Some(match kind {
            Kind::RecordOpened => EventKind::RecordOpened,
            Kind::Disclosure => EventKind::Disclosure,
            Kind::RecordingConsent => EventKind::RecordingConsent,
            Kind::PresentingProblem => EventKind::PresentingProblem,
            Kind::Assessment => EventKind::Assessment,
            Kind::PlanOfAction => EventKind::PlanOfAction,
            Kind::ProgressNote => EventKind::ProgressNote,
            Kind::FeeArrangement => EventKind::FeeArrangement,
            Kind::Contact => EventKind::Contact,
            Kind::Consult => EventKind::Consult,
            Kind::EvaluativeReport => EventKind::EvaluativeReport,
            Kind::TerminationNotice => EventKind::TerminationNotice,
            Kind::ServiceResumed => EventKind::ServiceResumed,
            Kind::Referral => EventKind::Referral,
            _ => return None,
        })
    }
}

/// What an author signs. Carries no clinical content: ids, kinds, dates, and a commitment
/// to the payload. The signed message also binds the ledger's origin ([`hash::signing_message`]),
/// so an event signed for one ledger is refused by every other.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Event {
    /// The client record; `None` exactly for ledger administration kinds.
    pub record: Option<RecordId>,
    /// The enrolled actor who signs.
    pub author: ActorId,
    /// What happened.
    pub kind: EventKind,
    /// When it happened, as the author states it (never trusted for retention decisions).
    pub occurred_on: Date,
    /// When the author signed, by the author's clock: the store refuses an event older than
    /// the genesis `max_signing_lag_secs` (or from the future beyond the clock skew), so a
    /// signed event cannot be held back for years and appended later.
    pub signed_at: Timestamp,
    /// `BLAKE3-derive-key("caseledger payload v2", salt || payload)`, when there is a payload.
    pub commitment: Option<PayloadCommitment>,
    /// Random, chosen by the author: the same signed event can never be appended twice.
    pub nonce: Nonce,
}

impl Event {
    /// A fresh event: a random nonce, signed now (`signed_at` is the system clock), and no
    /// payload commitment yet (see [`Event::sign_with_payload`]).
    pub fn new(
        record: Option<RecordId>,
        author: ActorId,
        kind: EventKind,
        occurred_on: Date,
    ) -> Event {
        Event {
            record,
            author,
            kind,
            occurred_on,
            signed_at: Timestamp::now(),
            commitment: None,
            nonce: Nonce::random(),
        }
    }

    /// Commits to `payload` (or to none: any commitment already set is replaced) and signs
    /// for the ledger `origin` with the author's key. Returns the signed event and the
    /// payload with its salt, ready for `Ledger::append`. For a fresh salt give
    /// `Payload::new(content)`.
    ///
    /// ```
    /// use caseledger_core::event::{Event, EventKind, Payload};
    /// use caseledger_core::keys::SigningKey;
    /// use caseledger_core::{ActorId, Date, RecordId};
    /// let key = SigningKey::generate();
    /// let ev = Event::new(
    ///     Some(RecordId::new("C-1").unwrap()),
    ///     ActorId::new("lic").unwrap(),
    ///     EventKind::ProgressNote,
    ///     Date::parse("2024-03-01").unwrap(),
    /// );
    /// let origin = "example.org/ledger";
    /// let (signed, payload) = ev
    ///     .sign_with_payload(origin, &key, Some(Payload::new(b"note".to_vec())))
    ///     .unwrap();
    /// assert_eq!(signed.event.commitment, payload.map(|p| p.commitment()));
    /// assert!(signed.verify(origin, &key.public_key()).is_ok());
    /// // Bound to its ledger: another origin does not verify.
    /// assert!(signed.verify("example.org/other", &key.public_key()).is_err());
    /// ```
    pub fn sign_with_payload(
        mut self,
        origin: &str,
        key: &SigningKey,
        payload: Option<Payload>,
    ) -> Result<(SignedEvent, Option<Payload>), EncodeError> {
        self.commitment = payload.as_ref().map(Payload::commitment);
        Ok((self.sign(origin, key)?, payload))
    }

    /// Checks the shape rules that do not depend on ledger state: a record id exactly on
    /// record kinds, no payload on administration kinds or record heads.
    pub fn check_shape(&self) -> Result<(), ModelError> {
        let kind = self.kind.kind();
        if kind.has_record() != self.record.is_some() {
            return Err(ModelError::RecordMismatch {
                kind,
                needs_record: kind.has_record(),
            });
        }
        if (!kind.has_record() || kind == Kind::RecordHead) && self.commitment.is_some() {
            return Err(ModelError::PayloadNotAllowed(kind));
        }
        Ok(())
    }

    /// Canonical bytes of this event.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        encoding::encode(self)
    }

    /// The message an author signs for the ledger `origin`: [`hash::signing_message`] of
    /// this event's canonical bytes. Give it to a signer elsewhere (a KMS, a device) and
    /// attach the signature with [`Event::with_signature`].
    pub fn signing_message(&self, origin: &str) -> Result<Vec<u8>, EncodeError> {
        Ok(hash::signing_message(origin, &self.to_bytes()?))
    }

    /// Signs this event for the ledger `origin`: Ed25519 over [`Event::signing_message`].
    pub fn sign(self, origin: &str, key: &SigningKey) -> Result<SignedEvent, EncodeError> {
        let signature = AuthorSignature::Ed25519(key.sign(&self.signing_message(origin)?));
        Ok(self.with_signature(signature))
    }

    /// Attaches a signature made elsewhere (pre-signed events, ssh-agent). Nothing is
    /// checked here: the store verifies every signature before it appends.
    pub fn with_signature(self, signature: AuthorSignature) -> SignedEvent {
        SignedEvent {
            event: self,
            signature,
        }
    }
}

/// An author's signature over [`Event::signing_message`], by scheme. Both are Ed25519 with
/// the author's enrolled key; they differ in what the 64 bytes sign.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum AuthorSignature {
    /// Ed25519 (RFC 8032) over the signing message itself.
    Ed25519(SignatureBytes),
    /// Ed25519 over the SSHSIG signed data of the signing message (namespace
    /// [`EVENT_SSHSIG_NAMESPACE`], hash `sha512`): what `ssh-agent` and `ssh-keygen -Y sign`
    /// produce, so an author can sign with the key they already use for SSH.
    SshSig(SignatureBytes),
}

/// The SSHSIG namespace of author signatures made through ssh-agent.
pub const EVENT_SSHSIG_NAMESPACE: &str = "caseledger-event";

impl AuthorSignature {
    /// The 64 signature bytes, to change in place (tamper tests).
    pub fn bytes_mut(&mut self) -> &mut SignatureBytes {
        match self {
            AuthorSignature::Ed25519(s) | AuthorSignature::SshSig(s) => s,
        }
    }
    /// The 64 signature bytes.
    pub fn bytes(&self) -> &SignatureBytes {
        match self {
            AuthorSignature::Ed25519(s) | AuthorSignature::SshSig(s) => s,
        }
    }
    /// What the 64 bytes sign, given the event's canonical bytes and the ledger origin:
    /// [`hash::signing_message`], or for [`AuthorSignature::SshSig`] its SSHSIG signed data.
    pub fn signed_bytes(&self, origin: &str, event_bytes: &[u8]) -> Vec<u8> {
        let msg = hash::signing_message(origin, event_bytes);
        match self {
            AuthorSignature::Ed25519(_) => msg,
            AuthorSignature::SshSig(_) => sshsig::signed_data_sha512(EVENT_SSHSIG_NAMESPACE, &msg),
        }
    }
    /// Verifies this signature over `message` (an [`Event::signing_message`]) with `key`.
    pub fn verify(&self, key: &PublicKey, message: &[u8]) -> Result<(), SignatureError> {
        match self {
            AuthorSignature::Ed25519(s) => key.verify(message, s),
            AuthorSignature::SshSig(s) => key.verify(
                &sshsig::signed_data_sha512(EVENT_SSHSIG_NAMESPACE, message),
                s,
            ),
        }
    }
}

/// An event and its author's signature, made before the ledger assigns a seq.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedEvent {
    /// The event.
    pub event: Event,
    /// Over `signing_message(origin, canonical bytes of event)`.
    pub signature: AuthorSignature,
}

/// Why an author's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignedEventError {
    /// The event could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The signature is bad or the key malformed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl SignedEvent {
    /// Verifies the author's signature, made for the ledger `origin`, with `key`.
    pub fn verify(&self, origin: &str, key: &PublicKey) -> Result<(), SignedEventError> {
        let msg = self.event.signing_message(origin)?;
        self.signature.verify(key, &msg)?;
        Ok(())
    }
}

/// Where an entry sits in its record, assigned by the store (not signed by the author):
/// a bundle holding ordinals 1..n, the last named by a `record_head`, holds all of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Placement {
    /// 1-based position of this entry among its record's entries.
    pub ordinal: u64,
    /// The seq of the record's previous entry (`None` for its first).
    pub prev_in_record: Option<Seq>,
}

/// What the store committed to about an entry's stored payload, assigned by the store: lets
/// a verifier without keys check the stored ciphertext and notice a record key erased
/// without a lawful destruction (docs/FORMAT.md §3a).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ContentSeal {
    /// `BLAKE3-derive-key("caseledger ciphertext v2", nonce || ciphertext)` of the stored payload.
    pub ciphertext: crate::ids::Digest,
    /// The key store slot of the record's wrapped content key.
    pub key_slot: u32,
    /// `BLAKE3-derive-key("caseledger wrapped key v2", wrapped record key)`.
    pub wrapped_key: crate::ids::Digest,
}

/// What the ledger stores at position `seq`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// [`FORMAT_VERSION`]; first, so a reader knows how to read the rest.
    pub format_version: u16,
    /// The position, 0-based.
    pub seq: Seq,
    /// The previous entry's hash (`EntryHash::ZERO` for seq 0).
    pub prev: EntryHash,
    /// The ledger's clock when appended; never goes backwards except at `clock_corrected`.
    pub recorded_at: Timestamp,
    /// The entry's place in its record; `Some` exactly for record kinds.
    pub placement: Option<Placement>,
    /// The seq of the latest entry *before* this one whose kind changes the registry
    /// ([`Kind::changes_registry`]: genesis, actor_enrolled, key_revoked, ledger_closed);
    /// `None` only for genesis. Assigned by the store (not signed by the author):
    /// `prev_registry(i) = max { j < i : kind(j) changes the registry }`.
    ///
    /// Why: the registry (who may sign what) is derived state, and a derived row can be
    /// rolled back by anyone with file access. These pointers put its position in sealed
    /// bytes: from the head, the chain `head -> prev_registry -> ... -> 0` names every
    /// registry entry, so the store rebuilds the registry at open from O(registry entries)
    /// reads, and the verifier reports a false pointer (`prev_registry_mismatch`).
    pub prev_registry: Option<Seq>,
    /// The stored payload's seal; `Some` exactly when the event commits to a payload.
    pub content: Option<ContentSeal>,
    /// The author's signed event.
    pub event: SignedEvent,
}

/// Offset of `placement` in canonical entry bytes: `format_version (2) || seq (8) || prev
/// (32) || recorded_at (8)` come first (fixed width, docs/FORMAT.md §2).
pub const ENTRY_HEADER_LEN: usize = 2 + 8 + 32 + 8;
/// Length of the signature that ends canonical entry bytes: the scheme (`u32`) and 64 bytes.
pub const ENTRY_SIGNATURE_LEN: usize = 4 + 64;
/// Encoded length of a `Some` [`Placement`] after its tag: ordinal, then `Option<Seq>`.
const PLACEMENT_FIXED: usize = 8;
/// Encoded length of a [`ContentSeal`]: two digests and a `u32`.
const CONTENT_SEAL_LEN: usize = 32 + 4 + 32;

/// The event's canonical bytes inside canonical entry bytes `E_i` (what its author signed,
/// after the domain prefix), without decoding: the bytes between the store-assigned fields
/// and the trailing signature. `None` if `entry_bytes` is too short or a tag is not 0/1.
/// The caller must still decode the entry strictly; this only avoids re-encoding the event
/// to check a signature.
pub fn event_bytes_in_entry(entry_bytes: &[u8]) -> Option<&[u8]> {
    let mut at = ENTRY_HEADER_LEN;
    match entry_bytes.get(at)? {
        0 => at += 1,
        1 => {
            at += 1 + PLACEMENT_FIXED;
            match entry_bytes.get(at)? {
                0 => at += 1,
                1 => at += 1 + 8,
                _ => return None,
            }
        }
        _ => return None,
    }
    // prev_registry: Option<Seq>.
    match entry_bytes.get(at)? {
        0 => at += 1,
        1 => at += 1 + 8,
        _ => return None,
    }
    match entry_bytes.get(at)? {
        0 => at += 1,
        1 => at += 1 + CONTENT_SEAL_LEN,
        _ => return None,
    }
    let end = entry_bytes.len().checked_sub(ENTRY_SIGNATURE_LEN)?;
    entry_bytes.get(at..end)
}

impl Entry {
    /// Canonical bytes `E_i`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        encoding::encode(self)
    }
    /// Decodes canonical bytes strictly (trailing bytes, non-canonical input and unknown
    /// format versions are errors). Entries of formats 1, 2 and 3 are refused by version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, DecodeError> {
        // The version comes first in every format: read it before anything else, so an
        // older entry is refused by its version rather than as a malformed current one.
        let version = bytes
            .first_chunk::<2>()
            .map(|v| u16::from_le_bytes(*v))
            .ok_or(DecodeError::Malformed(
                "entry shorter than its version".into(),
            ))?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let e: Entry = encoding::decode_canonical(bytes)?;
        Ok(e)
    }
    /// `h_i` of these bytes. The verifier hashes stored bytes, never re-encoded structs.
    pub fn hash_bytes(bytes: &[u8]) -> EntryHash {
        hash::entry_hash(bytes)
    }
}

/// Clinical content: stored apart from the entry with a 32-byte random salt, destroyed
/// with it. `Debug` shows only the length: payloads never reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    salt: [u8; 32],
    content: Vec<u8>,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload(<{} bytes redacted>)", self.content.len())
    }
}

impl Payload {
    /// A payload with a fresh random salt.
    pub fn new(content: Vec<u8>) -> Payload {
        Payload {
            salt: rand::random(),
            content,
        }
    }
    /// A payload with a given salt (tests, golden vectors, import).
    pub fn with_salt(salt: [u8; 32], content: Vec<u8>) -> Payload {
        Payload { salt, content }
    }
    /// The salt.
    pub fn salt(&self) -> &[u8; 32] {
        &self.salt
    }
    /// The content.
    pub fn content(&self) -> &[u8] {
        &self.content
    }
    /// The commitment an event carries: `BLAKE3-derive-key("caseledger payload v2", salt || content)`.
    pub fn commitment(&self) -> PayloadCommitment {
        hash::payload_commitment(&self.salt, &self.content)
    }
    /// The `payloads` tree value: `salt || content`.
    pub fn to_stored(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + self.content.len());
        v.extend_from_slice(&self.salt);
        v.extend_from_slice(&self.content);
        v
    }
    /// Splits a stored value; `None` when shorter than a salt.
    pub fn from_stored(bytes: &[u8]) -> Option<Payload> {
        let (salt, content) = bytes.split_first_chunk::<32>()?;
        Some(Payload {
            salt: *salt,
            content: content.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event::new(
            Some(RecordId::new("C-1").unwrap()),
            ActorId::new("lic").unwrap(),
            EventKind::ProgressNote,
            Date::parse("2024-03-01").unwrap(),
        )
    }

    #[test]
    fn new_events_get_fresh_nonces_and_no_commitment() {
        let (a, b) = (event(), event());
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.commitment, None);
        assert!(a.check_shape().is_ok());
    }

    #[test]
    fn sign_with_payload_round_trip_verifies() {
        let key = SigningKey::from_seed(&[3; 32]);
        let payload = Payload::new(b"session note".to_vec());
        let (signed, back) = event()
            .sign_with_payload("o.example", &key, Some(payload.clone()))
            .unwrap();
        assert_eq!(back.as_ref(), Some(&payload));
        assert_eq!(signed.event.commitment, Some(payload.commitment()));
        signed.verify("o.example", &key.public_key()).unwrap();
        // Another key, or a changed event, does not verify.
        assert!(signed
            .verify("o.example", &SigningKey::from_seed(&[4; 32]).public_key())
            .is_err());
        let mut changed = signed.clone();
        changed.event.kind = EventKind::Assessment;
        assert!(changed.verify("o.example", &key.public_key()).is_err());
        // Two payloads of the same content get different salts, so different commitments.
        let (again, _) = event()
            .sign_with_payload(
                "o.example",
                &key,
                Some(Payload::new(b"session note".to_vec())),
            )
            .unwrap();
        assert_ne!(again.event.commitment, signed.event.commitment);
    }

    /// The worked example of docs/FORMAT.md §3 ("Pre-signed events: the bytes to sign"):
    /// the same bytes `caseledger event-bytes` prints for the example line (tests/e2e/presigned.rs).
    pub(crate) const WORKED_EXAMPLE_MESSAGE_HEX: &str = concat!(
        "636173656c6564676572206576656e7420763200",
        "1b00000000000000",
        "6578616d706c652e6f72672f70726163746963652d6c6564676572",
        "01",
        "0300000000000000",
        "432d31",
        "0500000000000000",
        "6c69632d31",
        "09000000",
        "ea070c01",
        "00767149a3610600",
        "01",
        "c582d6cf0b7a8c69f3d092d3ca48a4bd984c4055adf703b960fddc2a36ae2fe5",
        "22222222222222222222222222222222",
    );

    #[test]
    fn the_worked_example_of_the_bytes_to_sign() {
        let payload = Payload::with_salt([0x11; 32], b"note".to_vec());
        let ev = Event {
            record: Some(RecordId::new("C-1").unwrap()),
            author: ActorId::new("lic-1").unwrap(),
            kind: EventKind::ProgressNote,
            occurred_on: Date::parse("2026-12-01").unwrap(),
            signed_at: Timestamp(1_796_203_800_000_000),
            commitment: Some(payload.commitment()),
            nonce: Nonce([0x22; 16]),
        };
        let msg = ev.signing_message("example.org/practice-ledger").unwrap();
        assert_eq!(hex::encode(&msg), WORKED_EXAMPLE_MESSAGE_HEX);
    }

    /// Entries of formats 1, 2 and 3 are refused by their version, with one clear message,
    /// before anything else is read.
    #[test]
    fn older_formats_are_refused_by_version() {
        let key = SigningKey::from_seed(&[3; 32]);
        let entry = Entry {
            format_version: FORMAT_VERSION,
            seq: Seq(1),
            prev: EntryHash([1; 32]),
            recorded_at: Timestamp(1),
            placement: None,
            prev_registry: Some(Seq(0)),
            content: None,
            event: event().sign("o.example", &key).unwrap(),
        };
        let bytes = entry.to_bytes().unwrap();
        assert_eq!(Entry::from_bytes(&bytes).unwrap(), entry);
        for old in [1u16, 2, 3] {
            let mut b = bytes.clone();
            b[..2].copy_from_slice(&old.to_le_bytes());
            let err = Entry::from_bytes(&b).unwrap_err();
            assert_eq!(err, DecodeError::UnsupportedVersion(old));
            assert!(err.to_string().starts_with(&format!(
                "this entry is format {old}; this build reads format 4 only"
            )));
        }
    }

    #[test]
    fn sign_without_payload_clears_a_commitment() {
        let key = SigningKey::from_seed(&[3; 32]);
        let mut ev = event();
        ev.commitment = Some(Payload::new(b"x".to_vec()).commitment());
        let (signed, payload) = ev.sign_with_payload("o.example", &key, None).unwrap();
        assert!(payload.is_none());
        assert_eq!(signed.event.commitment, None);
        signed.verify("o.example", &key.public_key()).unwrap();
    }
}
