//! Property tests: every type round-trips through the canonical encoding, and hostile bytes
//! never panic the strict decoder.

use caseledger_core::encoding::{decode_canonical, encode};
use caseledger_core::event::{
    AuthorSignature, ContentSeal, Entry, Event, EventKind, Kind, LedgerSettings, Placement, Role,
    ShortText, SignedEvent, TerminationReason, TimeZoneName, FORMAT_VERSION,
};
use caseledger_core::ids::{
    ActorId, Digest, EntryHash, Nonce, PayloadCommitment, PublicKey, RecordId, Seq, SignatureBytes,
};
use caseledger_core::merkle::CompactRange;
use caseledger_core::record::{RecordState, Registry};
use caseledger_core::time::{Date, Timestamp};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,64}"
}
fn date() -> impl Strategy<Value = Date> {
    (1900i16..=2100, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}
fn text() -> impl Strategy<Value = ShortText> {
    "[^\\p{Cc}]{1,60}".prop_map(|s| ShortText::new(s).unwrap())
}
fn b32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}
fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Admin),
        Just(Role::Licensee),
        Just(Role::Custodian),
        Just(Role::Ledger)
    ]
}

fn kind() -> impl Strategy<Value = EventKind> {
    let simple = proptest::sample::select(
        Kind::ALL
            .iter()
            .filter_map(|k| EventKind::simple(*k))
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        simple,
        (
            text(),
            id(),
            b32(),
            b32(),
            any::<bool>(),
            proptest::sample::select(vec!["UTC", "America/Chicago", "Europe/Berlin"]),
            any::<(u32, u32, u32)>()
        )
            .prop_map(|(o, a, k, l, p, tz, (skew, lag, backups))| {
                EventKind::Genesis {
                    origin: o,
                    admin: ActorId::new(a).unwrap(),
                    admin_key: PublicKey(k),
                    ledger_key: PublicKey(l),
                    settings: LedgerSettings {
                        private_practice: p,
                        time_zone: TimeZoneName::new(tz).unwrap(),
                        clock_skew_secs: skew,
                        max_signing_lag_secs: lag,
                        backup_retention_days: backups,
                    },
                }
            }),
        (id(), role(), b32()).prop_map(|(a, r, k)| EventKind::ActorEnrolled {
            actor: ActorId::new(a).unwrap(),
            role: r,
            public_key: PublicKey(k)
        }),
        id().prop_map(|a| EventKind::KeyRevoked {
            actor: ActorId::new(a).unwrap()
        }),
        (
            date(),
            proptest::sample::select(TerminationReason::ALL.to_vec())
        )
            .prop_map(|(d, reason)| EventKind::ServiceTerminated {
                terminated_on: d,
                reason
            }),
        text().prop_map(|r| EventKind::ClockCorrected { reason: r }),
        (any::<u64>(), any::<u64>()).prop_map(|(n, s)| EventKind::RecordHead {
            entries: n,
            last: Seq(s)
        }),
        any::<u64>().prop_map(|s| EventKind::Amendment { amends: Seq(s) }),
        text().prop_map(|m| EventKind::HoldPlaced { matter: m }),
        text().prop_map(|m| EventKind::HoldReleased { matter: m }),
        text().prop_map(|r| EventKind::Destruction {
            reason: r,
            citation: None
        }),
        text().prop_map(|r| EventKind::LedgerClosed { reason: r }),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        (
            proptest::option::of(id()),
            id(),
            kind(),
            date(),
            proptest::option::of(b32()),
            any::<[u8; 16]>(),
        ),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        (
            any::<u64>(),
            b32(),
            any::<i64>(),
            any::<i64>(),
            any::<bool>(),
        ),
        (
            proptest::option::of((any::<u64>(), proptest::option::of(any::<u64>()))),
            proptest::option::of((b32(), any::<u32>(), b32())),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |(
                (rec, author, kind, occurred_on, commitment, nonce),
                s1,
                s2,
                (seq, prev, at, signed_at, ssh),
                (placement, content, prev_registry),
            )| {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&s1);
                sig[32..].copy_from_slice(&s2);
                let sig = SignatureBytes(sig);
                Entry {
                    format_version: FORMAT_VERSION,
                    seq: Seq(seq),
                    prev: EntryHash(prev),
                    recorded_at: Timestamp(at),
                    placement: placement.map(|(ordinal, p)| Placement {
                        ordinal,
                        prev_in_record: p.map(Seq),
                    }),
                    prev_registry: prev_registry.map(Seq),
                    content: content.map(|(c, slot, w)| ContentSeal {
                        ciphertext: Digest(c),
                        key_slot: slot,
                        wrapped_key: Digest(w),
                    }),
                    event: SignedEvent {
                        event: Event {
                            record: rec.map(|r| RecordId::new(r).unwrap()),
                            author: ActorId::new(author).unwrap(),
                            kind,
                            occurred_on,
                            signed_at: Timestamp(signed_at),
                            commitment: commitment.map(PayloadCommitment),
                            nonce: Nonce(nonce),
                        },
                        signature: if ssh {
                            AuthorSignature::SshSig(sig)
                        } else {
                            AuthorSignature::Ed25519(sig)
                        },
                    },
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn entries_round_trip(e in entry()) {
        let bytes = e.to_bytes().unwrap();
        prop_assert_eq!(Entry::from_bytes(&bytes).unwrap(), e.clone());
        // The event is found in place without decoding, whatever the optional fields hold.
        let event_bytes = e.event.event.to_bytes().unwrap();
        prop_assert_eq!(
            caseledger_core::event::event_bytes_in_entry(&bytes),
            Some(event_bytes.as_slice())
        );
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(Entry::from_bytes(&longer).is_err());
        prop_assert!(Entry::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn flipped_entry_bytes_never_panic_and_decode_canonically_or_fail(e in entry(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = e.to_bytes().unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(d) = Entry::from_bytes(&bytes) {
            // Whatever decodes must re-encode to exactly these bytes.
            prop_assert_eq!(d.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Entry::from_bytes(&bytes);
        let _ = decode_canonical::<Registry>(&bytes);
        let _ = decode_canonical::<RecordState>(&bytes);
        let _ = decode_canonical::<CompactRange>(&bytes);
    }

    #[test]
    fn small_types_round_trip(d in date(), t in any::<i64>(), s in any::<u64>(), r in id(), x in b32()) {
        prop_assert_eq!(decode_canonical::<Date>(&encode(&d).unwrap()).unwrap(), d);
        prop_assert_eq!(decode_canonical::<Timestamp>(&encode(&Timestamp(t)).unwrap()).unwrap(), Timestamp(t));
        prop_assert_eq!(decode_canonical::<Seq>(&encode(&Seq(s)).unwrap()).unwrap(), Seq(s));
        let rid = RecordId::new(r).unwrap();
        prop_assert_eq!(decode_canonical::<RecordId>(&encode(&rid).unwrap()).unwrap(), rid);
        prop_assert_eq!(decode_canonical::<EntryHash>(&encode(&EntryHash(x)).unwrap()).unwrap(), EntryHash(x));
    }
}

#[test]
fn invalid_ids_and_dates_are_refused_by_the_decoder() {
    // A record id with a space, encoded by hand: length-prefixed string.
    let bad = encode(&"has space".to_string()).unwrap();
    assert!(decode_canonical::<RecordId>(&bad).is_err());
    // 2023-02-29 as (i16, u8, u8).
    let bad = encode(&(2023i16, 2u8, 29u8)).unwrap();
    assert!(decode_canonical::<Date>(&bad).is_err());
    // Option tag 2 is not canonical bincode.
    assert!(decode_canonical::<Option<u8>>(&[2, 0]).is_err());
}

/// `encode_into` (the store's allocation-reusing encoder) appends exactly `encode`'s bytes
/// after what the buffer holds.
#[test]
fn encode_into_appends_the_canonical_bytes() {
    use caseledger_core::encoding::encode_into;
    let v = (Seq(7), Date::new(2024, 2, 29).unwrap(), "note".to_owned());
    let mut buf = b"head".to_vec();
    encode_into(&v, &mut buf).unwrap();
    let mut want = b"head".to_vec();
    want.extend(encode(&v).unwrap());
    assert_eq!(buf, want);
}

/// Canonical means byte for byte: bytes that decode to a value whose encoding differs, even
/// at the same length (a map's entries out of order), are refused, so two byte strings
/// never stand for one value (each would hash and sign differently).
#[test]
fn same_length_but_different_bytes_are_not_canonical() {
    use caseledger_core::encoding::DecodeError;
    use std::collections::BTreeMap;
    let m: BTreeMap<u32, u32> = [(1, 10), (2, 20)].into_iter().collect();
    let bytes = encode(&m).unwrap();
    assert_eq!(decode_canonical::<BTreeMap<u32, u32>>(&bytes).unwrap(), m);
    // Length (8 bytes), then (key, value) pairs of 4 + 4 bytes: swap the two pairs.
    let mut swapped = bytes.clone();
    swapped[8..16].copy_from_slice(&bytes[16..24]);
    swapped[16..24].copy_from_slice(&bytes[8..16]);
    assert_eq!(
        decode_canonical::<BTreeMap<u32, u32>>(&swapped),
        Err(DecodeError::NonCanonical)
    );
}
