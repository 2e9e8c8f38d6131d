//! Benchmarks for caseledger; see RESULTS.md.
//!
//! This library holds what the criterion benches and the `harness` binary share: a
//! deterministic workload of realistic signed events with 1 KiB payloads, made once through
//! `caseledger_core` and reused, so that every floor and every caseledger figure of one run
//! works on the same entry and payload bytes.
//!
//! * [`Workload`]: the keys, genesis, enrolment and the clinical events `0..n`, each a pure
//!   function of the workload seed and the event index (so a 1M-event ledger can be made in
//!   chunks without holding it in memory).
//! * [`Chain`]: turns signed events into canonical entry bytes (seq, prev, recorded_at), as the
//!   store would, for floors and in-memory verification.
//! * [`signature_parts`]: an event's signing message and raw Ed25519 signature, for the
//!   signature floors and benches.
//! * [`stats`]: medians and formatting helpers for the harness.

use caseledger_core::event::{
    Entry, Event, EventKind, LedgerSettings, Payload, ShortText, SignedEvent, FORMAT_VERSION,
};
use caseledger_core::hash;
use caseledger_core::keys::SigningKey;
use caseledger_core::{ActorId, Date, EntryHash, Nonce, RecordId, Seq, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Payload size of every clinical event, in bytes (the "1 KiB payloads").
pub const PAYLOAD_LEN: usize = 1024;

/// The admin's actor id.
pub const ADMIN: &str = "admin";
/// The licensee who writes every clinical event.
pub const LICENSEE: &str = "lic-01";

/// The clinical kinds cycled through after a record's `RecordOpened`.
const CYCLE: [EventKind; 10] = [
    EventKind::Disclosure,
    EventKind::RecordingConsent,
    EventKind::PresentingProblem,
    EventKind::Assessment,
    EventKind::PlanOfAction,
    EventKind::FeeArrangement,
    EventKind::ProgressNote,
    EventKind::Contact,
    EventKind::ProgressNote,
    EventKind::Consult,
];

/// Words the synthetic note text is made of (no real clinical content).
const WORDS: [&str; 16] = [
    "client",
    "session",
    "reported",
    "goals",
    "reviewed",
    "plan",
    "progress",
    "sleep",
    "work",
    "family",
    "coping",
    "skills",
    "practiced",
    "follow-up",
    "scheduled",
    "stable",
];

/// A deterministic benchmark workload.
pub struct Workload {
    /// The admin's key (signs genesis and the enrolment).
    pub admin: SigningKey,
    /// The licensee's key (signs every clinical event).
    pub licensee: SigningKey,
    /// The ledger (checkpoint) key.
    pub ledger_key: SigningKey,
    /// The number of distinct client records the events are spread over.
    pub records: u64,
    /// The date every event claims (`occurred_on`).
    pub occurred_on: Date,
    /// When every event is signed: the system clock when the workload was made (the store
    /// refuses events signed more than a day before it records them).
    pub signed_at: Timestamp,
    seed: u64,
}

/// Why the workload could not be made (never expected: every input is fixed).
#[derive(Debug)]
pub struct WorkloadError(pub String);

impl std::fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for WorkloadError {}

fn err(e: impl std::fmt::Display) -> WorkloadError {
    WorkloadError(e.to_string())
}

/// The origin of the benchmark ledger.
pub const BENCH_ORIGIN: &str = "bench.example.org/caseledger";

/// The benchmark ledger's content key (KEK): fixed, public, benchmarks only.
pub fn bench_kek() -> caseledger_core::content::Kek {
    caseledger_core::content::Kek::from_bytes([0xBE; 32])
}

impl Workload {
    /// A workload spreading its events over `records` client records.
    pub fn new(records: u64) -> Workload {
        Workload {
            admin: SigningKey::from_seed(&[1; 32]),
            licensee: SigningKey::from_seed(&[2; 32]),
            ledger_key: SigningKey::from_seed(&[3; 32]),
            records: records.max(1),
            occurred_on: Date::new(2024, 1, 2).expect("a valid literal date"),
            signed_at: Timestamp::now(),
            seed: 0x00ca_5e1e_d6e5,
        }
    }

    /// The licensee's public key as an `ed25519_dalek` key (for raw batch verification).
    pub fn licensee_verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, WorkloadError> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.licensee.public_key().0).map_err(err)
    }

    /// The origin line of the benchmark ledger.
    pub fn origin(&self) -> &'static str {
        BENCH_ORIGIN
    }

    /// The genesis event (seq 0), signed by the admin.
    pub fn genesis(&self) -> Result<SignedEvent, WorkloadError> {
        Event {
            record: None,
            author: ActorId::new(ADMIN).map_err(err)?,
            kind: EventKind::Genesis {
                origin: ShortText::new(self.origin()).map_err(err)?,
                admin: ActorId::new(ADMIN).map_err(err)?,
                admin_key: self.admin.public_key(),
                ledger_key: self.ledger_key.public_key(),
                settings: LedgerSettings::default(),
            },
            occurred_on: self.occurred_on,
            signed_at: self.signed_at,
            commitment: None,
            nonce: Nonce([0xA0; 16]),
        }
        .sign(self.origin(), &self.admin)
        .map_err(err)
    }

    /// The licensee's enrolment (seq 1), signed by the admin.
    pub fn enrolment(&self) -> Result<SignedEvent, WorkloadError> {
        Event {
            record: None,
            author: ActorId::new(ADMIN).map_err(err)?,
            kind: EventKind::ActorEnrolled {
                actor: ActorId::new(LICENSEE).map_err(err)?,
                role: caseledger_core::event::Role::Licensee,
                public_key: self.licensee.public_key(),
            },
            occurred_on: self.occurred_on,
            signed_at: self.signed_at,
            commitment: None,
            nonce: Nonce([0xA1; 16]),
        }
        .sign(self.origin(), &self.admin)
        .map_err(err)
    }

    /// The record id of record number `r`.
    pub fn record_id(&self, r: u64) -> Result<RecordId, WorkloadError> {
        RecordId::new(format!("C-{r:06}")).map_err(err)
    }

    /// Clinical event `i` (0-based; it lands at seq `i + 2`): a pure function of the seed and
    /// `i`. Record `i % records`; its first event opens it. A 1 KiB payload of synthetic text.
    pub fn event(&self, i: u64) -> Result<(SignedEvent, Payload), WorkloadError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let r = i % self.records;
        let round = i / self.records;
        let kind = if round == 0 {
            EventKind::RecordOpened
        } else {
            let k = usize::try_from((round - 1) % 10).unwrap_or(0);
            CYCLE[k].clone()
        };
        let mut text = String::with_capacity(PAYLOAD_LEN + 16);
        while text.len() < PAYLOAD_LEN {
            text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
            text.push(' ');
        }
        text.truncate(PAYLOAD_LEN);
        let payload = Payload::with_salt(rng.gen(), text.into_bytes());
        let event = Event {
            record: Some(self.record_id(r)?),
            author: ActorId::new(LICENSEE).map_err(err)?,
            kind,
            occurred_on: self.occurred_on,
            // Signed now: the store refuses events signed more than a day before it
            // records them (the benches run on the system clock).
            signed_at: self.signed_at,
            commitment: Some(payload.commitment()),
            nonce: Nonce(rng.gen()),
        };
        Ok((
            event.sign(self.origin(), &self.licensee).map_err(err)?,
            payload,
        ))
    }

    /// Clinical events `range`, signed in parallel on all cores.
    pub fn events(
        &self,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<(SignedEvent, Payload)>, WorkloadError> {
        range.into_par_iter().map(|i| self.event(i)).collect()
    }
}

/// One stored event as the floors write it: the entry bytes and the `payloads` value.
#[derive(Clone)]
pub struct StoredPair {
    /// The seq (the key of both values, u64 BE).
    pub seq: u64,
    /// Canonical entry bytes `E_i`.
    pub entry: Vec<u8>,
    /// `salt || content`.
    pub payload: Vec<u8>,
}

/// Chains signed events into entries as the store does: seq, prev hash, recorded_at, the
/// record placement (payloads are not encrypted here: the floors stay raw).
pub struct Chain {
    next_seq: u64,
    prev: EntryHash,
    clock: i64,
    places: std::collections::HashMap<RecordId, (u64, Seq)>,
    last_change: Option<Seq>,
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new()
    }
}

impl Chain {
    /// An empty chain whose clock starts at 2024-06-01T00:00:00Z.
    pub fn new() -> Chain {
        let start = Date::new(2024, 6, 1)
            .ok()
            .and_then(|d| Timestamp::start_of(d).ok())
            .map_or(1_717_200_000_000_000, |t| t.0);
        Chain {
            next_seq: 0,
            prev: EntryHash::ZERO,
            clock: start,
            places: std::collections::HashMap::new(),
            last_change: None,
        }
    }

    /// Appends one signed event; returns its canonical entry bytes.
    pub fn push(&mut self, event: SignedEvent) -> Result<Vec<u8>, WorkloadError> {
        let seq = Seq(self.next_seq);
        let placement = event.event.record.as_ref().map(|r| {
            let p = match self.places.get(r) {
                None => caseledger_core::event::Placement {
                    ordinal: 1,
                    prev_in_record: None,
                },
                Some((n, last)) => caseledger_core::event::Placement {
                    ordinal: n + 1,
                    prev_in_record: Some(*last),
                },
            };
            self.places.insert(r.clone(), (p.ordinal, seq));
            p
        });
        let entry = Entry {
            format_version: FORMAT_VERSION,
            seq,
            prev: self.prev,
            recorded_at: Timestamp(self.clock),
            placement,
            prev_registry: self.last_change,
            content: None,
            event,
        };
        if entry.event.event.kind.kind().changes_registry() {
            self.last_change = Some(seq);
        }
        let bytes = entry.to_bytes().map_err(err)?;
        self.prev = hash::entry_hash(&bytes);
        self.next_seq += 1;
        self.clock += 1000;
        Ok(bytes)
    }

    /// The seq the next entry gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// The first `n` clinical events of `w` chained after genesis and enrolment, as stored pairs
/// (genesis and enrolment are included first, without payloads).
pub fn stored_pairs(w: &Workload, n: u64) -> Result<Vec<StoredPair>, WorkloadError> {
    chain_pairs(w, &w.events(0..n)?)
}

/// Genesis, enrolment and then `events` chained as the store would chain them, as stored
/// pairs: the same entry bytes (but for `recorded_at`) and exactly the same payload bytes.
pub fn chain_pairs(
    w: &Workload,
    events: &[(SignedEvent, Payload)],
) -> Result<Vec<StoredPair>, WorkloadError> {
    let mut chain = Chain::new();
    let mut out = Vec::with_capacity(events.len() + 2);
    for ev in [w.genesis()?, w.enrolment()?] {
        let seq = chain.next_seq();
        out.push(StoredPair {
            seq,
            entry: chain.push(ev)?,
            payload: Vec::new(),
        });
    }
    for (ev, p) in events {
        let seq = chain.next_seq();
        out.push(StoredPair {
            seq,
            entry: chain.push(ev.clone())?,
            payload: p.to_stored(),
        });
    }
    Ok(out)
}

/// The message `event` is signed over and its signature, as raw Ed25519 verification (the F5
/// floor, the signature benches) takes them.
pub fn signature_parts(
    event: &SignedEvent,
) -> Result<(Vec<u8>, ed25519_dalek::Signature), WorkloadError> {
    let message = event
        .signature
        .signed_bytes(BENCH_ORIGIN, &event.event.to_bytes().map_err(err)?);
    Ok((
        message,
        ed25519_dalek::Signature::from_bytes(&event.signature.bytes().0),
    ))
}

/// Small statistics helpers.
pub mod stats {
    /// The median of the samples (the mean of the middle two for an even count); 0 if empty.
    pub fn median(samples: &[f64]) -> f64 {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        }
    }

    /// A rate or size with an SI suffix: 12.3k, 4.56M.
    pub fn si(x: f64) -> String {
        let a = x.abs();
        if a >= 1e9 {
            format!("{:.2}G", x / 1e9)
        } else if a >= 1e6 {
            format!("{:.2}M", x / 1e6)
        } else if a >= 1e4 {
            format!("{:.1}k", x / 1e3)
        } else if a >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_deterministic_and_verifies() {
        let w = Workload::new(10);
        let (a, pa) = w.event(7).unwrap();
        let (b, pb) = w.event(7).unwrap();
        assert_eq!(a, b);
        assert_eq!(pa, pb);
        assert_eq!(pa.content().len(), PAYLOAD_LEN);
        a.verify(w.origin(), &w.licensee.public_key()).unwrap();
        assert_eq!(a.event.commitment, Some(pa.commitment()));
        assert_eq!(w.event(3).unwrap().0.event.kind, EventKind::RecordOpened);
        assert_eq!(w.event(13).unwrap().0.event.kind, EventKind::Disclosure);
    }

    #[test]
    fn stored_pairs_chain() {
        let w = Workload::new(4);
        let pairs = stored_pairs(&w, 8).unwrap();
        assert_eq!(pairs.len(), 10);
        for win in pairs.windows(2) {
            let next = Entry::from_bytes(&win[1].entry).unwrap();
            assert_eq!(next.prev, hash::entry_hash(&win[0].entry));
            assert_eq!(next.seq, Seq(win[1].seq));
        }
    }

    #[test]
    fn median_works() {
        assert_eq!(stats::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(stats::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(stats::median(&[]), 0.0);
    }
}
