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
use crate::time::{Date, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The entry format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;

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
}

impl Role {
    /// The lower-case name used by the CLI and the ingest format.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Licensee => "licensee",
            Role::Custodian => "custodian",
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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct LedgerSettings {
    /// The licensees are in private practice: (11)(F) (a written termination communication) applies.
    pub private_practice: bool,
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
/// to the payload.
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
    /// `BLAKE3-derive-key("caseledger payload v1", salt || payload)`, when there is a payload.
    pub commitment: Option<PayloadCommitment>,
    /// Random, chosen by the author: the same signed event can never be appended twice.
    pub nonce: Nonce,
}

impl Event {
    /// A fresh event: a random nonce, and no payload commitment yet (see
    /// [`Event::sign_with_payload`]).
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
            commitment: None,
            nonce: Nonce::random(),
        }
    }

    /// Commits to `payload` (or to none: any commitment already set is replaced) and signs
    /// with the author's key. Returns the signed event and the payload with its salt, ready
    /// for `Ledger::append`. For a fresh salt give `Payload::new(content)`.
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
    /// let (signed, payload) = ev.sign_with_payload(&key, Some(Payload::new(b"note".to_vec()))).unwrap();
    /// assert_eq!(signed.event.commitment, payload.map(|p| p.commitment()));
    /// assert!(signed.verify(&key.public_key()).is_ok());
    /// ```
    pub fn sign_with_payload(
        mut self,
        key: &SigningKey,
        payload: Option<Payload>,
    ) -> Result<(SignedEvent, Option<Payload>), EncodeError> {
        self.commitment = payload.as_ref().map(Payload::commitment);
        Ok((self.sign(key)?, payload))
    }

    /// Checks the shape rules that do not depend on ledger state: a record id exactly on
    /// record kinds, no payload on administration kinds.
    pub fn check_shape(&self) -> Result<(), ModelError> {
        let kind = self.kind.kind();
        if kind.has_record() != self.record.is_some() {
            return Err(ModelError::RecordMismatch {
                kind,
                needs_record: kind.has_record(),
            });
        }
        if !kind.has_record() && self.commitment.is_some() {
            return Err(ModelError::PayloadNotAllowed(kind));
        }
        Ok(())
    }

    /// Canonical bytes of this event.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        encoding::encode(self)
    }

    /// Signs this event: Ed25519 over [`hash::signing_message`] of its canonical bytes.
    pub fn sign(self, key: &SigningKey) -> Result<SignedEvent, EncodeError> {
        let msg = hash::signing_message(&self.to_bytes()?);
        let signature = key.sign(&msg);
        Ok(SignedEvent {
            event: self,
            signature,
        })
    }
}

/// An event and its author's signature, made before the ledger assigns a seq.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedEvent {
    /// The event.
    pub event: Event,
    /// Ed25519 over `signing_message(canonical bytes of event)`.
    pub signature: SignatureBytes,
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
    /// Verifies the author's signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignedEventError> {
        let msg = hash::signing_message(&self.event.to_bytes()?);
        key.verify(&msg, &self.signature)?;
        Ok(())
    }
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
    /// The ledger's clock when appended; never goes backwards.
    pub recorded_at: Timestamp,
    /// The author's signed event.
    pub event: SignedEvent,
}

/// Offset of the event in canonical entry bytes: `format_version (2) || seq (8) || prev (32)
/// || recorded_at (8)` come first (fixed width, docs/FORMAT.md §2).
pub const ENTRY_EVENT_OFFSET: usize = 2 + 8 + 32 + 8;
/// Length of the signature that ends canonical entry bytes.
pub const ENTRY_SIGNATURE_LEN: usize = 64;

/// The event's canonical bytes inside canonical entry bytes `E_i` (what its author signed,
/// after the domain prefix), without decoding: the bytes between the fixed-width header and
/// the trailing signature. `None` if `entry_bytes` is too short. The caller must still
/// decode the entry strictly; this only avoids re-encoding the event to check a signature.
pub fn event_bytes_in_entry(entry_bytes: &[u8]) -> Option<&[u8]> {
    let end = entry_bytes.len().checked_sub(ENTRY_SIGNATURE_LEN)?;
    entry_bytes.get(ENTRY_EVENT_OFFSET..end)
}

impl Entry {
    /// Canonical bytes `E_i`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        encoding::encode(self)
    }
    /// Decodes canonical bytes strictly (trailing bytes, non-canonical input and unknown
    /// format versions are errors).
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let e: Entry = encoding::decode_canonical(bytes)?;
        if e.format_version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(e.format_version));
        }
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
    /// The commitment an event carries.
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
            .sign_with_payload(&key, Some(payload.clone()))
            .unwrap();
        assert_eq!(back.as_ref(), Some(&payload));
        assert_eq!(signed.event.commitment, Some(payload.commitment()));
        signed.verify(&key.public_key()).unwrap();
        // Another key, or a changed event, does not verify.
        assert!(signed
            .verify(&SigningKey::from_seed(&[4; 32]).public_key())
            .is_err());
        let mut changed = signed.clone();
        changed.event.kind = EventKind::Assessment;
        assert!(changed.verify(&key.public_key()).is_err());
        // Two payloads of the same content get different salts, so different commitments.
        let (again, _) = event()
            .sign_with_payload(&key, Some(Payload::new(b"session note".to_vec())))
            .unwrap();
        assert_ne!(again.event.commitment, signed.event.commitment);
    }

    #[test]
    fn sign_without_payload_clears_a_commitment() {
        let key = SigningKey::from_seed(&[3; 32]);
        let mut ev = event();
        ev.commitment = Some(Payload::new(b"x".to_vec()).commitment());
        let (signed, payload) = ev.sign_with_payload(&key, None).unwrap();
        assert!(payload.is_none());
        assert_eq!(signed.event.commitment, None);
        signed.verify(&key.public_key()).unwrap();
    }
}
