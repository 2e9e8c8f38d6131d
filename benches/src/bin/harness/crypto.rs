//! What content encryption costs (issue 13): AEAD seal and open per payload against raw
//! floors on the same bytes, its share of P3, and the key store's cost per destruction.
//!
//! The store cannot append a payload without a content key (KEK): opened without one it
//! refuses (`NoContentKey`), and administration events carry no payload. So "P3 without
//! encryption" is not a store mode; it is estimated from P3's own median and the measured
//! per-payload cost of exactly what the store's writer does per payload (HKDF entry key,
//! XChaCha20-Poly1305 of salt ‖ length ‖ content padded to 256 B, BLAKE3 digest of the
//! ciphertext), which runs serially on the writer thread while a batch is staged.

use crate::args::{Opts, Section};
use crate::plan::{Dirs, WritePath};
use crate::table::{Row, Table, Verdict};
use crate::util::{fail, log, Res};
use caseledger_bench::stats::{median, si};
use caseledger_bench::Workload;
use caseledger_core::content::{open_payload, seal_payload, RecordKey};
use caseledger_core::event::{Event, EventKind, Payload, Role, TerminationReason};
use caseledger_core::hash::ciphertext_digest;
use caseledger_core::ids::{ActorId, Nonce, Seq};
use caseledger_core::keys::SigningKey;
use caseledger_core::time::{Date, Timestamp};
use caseledger_store::{Clock, Durability, Ledger, OpenOptions};
use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Payloads per AEAD repetition.
const AEAD_N: usize = 4_000;

fn per_item(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// One repetition over `payloads`: µs per payload for (memcpy, BLAKE3, seal, open).
fn aead_rep(w: &Workload, payloads: &[(u64, Payload)]) -> Res<[f64; 4]> {
    let origin = w.origin();
    let key = RecordKey::generate();
    let n = payloads.len();
    // The writer has the record id at hand: not part of the timed work.
    let rids = payloads
        .iter()
        .map(|(i, _)| w.record_id(i % w.records))
        .collect::<Result<Vec<_>, _>>()?;
    // Floor 1: copy the stored plaintext (salt ‖ content), as an unencrypted store would.
    let t = Instant::now();
    for (_, p) in payloads {
        black_box(p.to_stored());
    }
    let copy = per_item(t.elapsed(), n);
    // Floor 2: BLAKE3 of the same bytes (the payload commitment every append computes).
    let t = Instant::now();
    for (_, p) in payloads {
        black_box(p.commitment());
    }
    let hash = per_item(t.elapsed(), n);
    // What the store's writer does per payload (keystore.rs `Content::seal`).
    let mut stored = Vec::with_capacity(n);
    let t = Instant::now();
    for ((i, p), rid) in payloads.iter().zip(&rids) {
        let seq = Seq(*i);
        let s = seal_payload(&key.entry_key(seq), origin, rid, seq, p);
        black_box(ciphertext_digest(&s));
        stored.push(s);
    }
    let seal = per_item(t.elapsed(), n);
    // What a read does (`Ledger::payload`: the entry key, decrypt, framing check).
    let t = Instant::now();
    for (((i, _), s), rid) in payloads.iter().zip(&stored).zip(&rids) {
        let seq = Seq(*i);
        black_box(
            open_payload(&key.entry_key(seq), origin, rid, seq, s)
                .map_err(|e| fail(format!("open: {e}")))?,
        );
    }
    let open = per_item(t.elapsed(), n);
    Ok([copy, hash, seal, open])
}

/// A clock the harness moves (forward only) between phases.
struct Hands(Arc<AtomicI64>);

impl Hands {
    fn clock(&self) -> Clock {
        let c = self.0.clone();
        Arc::new(move || Timestamp(c.load(Ordering::Relaxed)))
    }
    fn set(&self, t: Timestamp) {
        self.0.store(t.micros(), Ordering::Relaxed);
    }
}

/// Destructions measured per repetition (each of its own record), and as many plain appends.
const DESTRUCTIONS: u64 = 40;

/// One repetition: `DESTRUCTIONS` lawful destructions of records holding two encrypted
/// payloads each, one `Immediate` append at a time, interleaved with as many plain
/// `Immediate` appends (a contact note without payload on a live record). Returns the
/// medians (ms) of (plain append, destruction append) and of the raw key store slot
/// overwrite + fsync on a copy of the same file.
fn destruction_rep(dir: &std::path::Path) -> Res<(f64, f64, f64)> {
    let records = 2 * DESTRUCTIONS;
    let w = Workload::new(records);
    let hands = Hands(Arc::new(AtomicI64::new(Timestamp::now().micros())));
    let options = OpenOptions::default()
        .with_durability(Durability::Immediate)
        .with_kek(caseledger_bench::bench_kek())
        .with_ledger_key(w.ledger_key.clone())
        .with_clock(hands.clock());
    let l = Ledger::create_with_genesis(dir, w.genesis()?, options)?;
    let custodian = SigningKey::from_seed(&[4; 32]);
    let enrol_custodian = Event {
        record: None,
        author: ActorId::new(caseledger_bench::ADMIN)?,
        kind: EventKind::ActorEnrolled {
            actor: ActorId::new("custodian")?,
            role: Role::Custodian,
            public_key: custodian.public_key(),
        },
        occurred_on: w.occurred_on,
        signed_at: w.signed_at,
        commitment: None,
        nonce: Nonce::random(),
    }
    .sign(w.origin(), &w.admin)?;
    let batch = |items: Vec<(caseledger_core::event::SignedEvent, Option<Payload>)>| {
        l.append_batch(items)
            .map(|_| ())
            .map_err(|e| fail(format!("destruction setup: {e:?}")))
    };
    batch(vec![(w.enrolment()?, None), (enrol_custodian, None)])?;
    // Every record opened with a payload, then a second payload each (its key slot exists).
    let events = w.events(0..2 * records)?;
    batch(
        events
            .into_iter()
            .map(|(e, p)| (e, Some(p)))
            .collect::<Vec<_>>(),
    )?;
    // Service terminated for the records to be destroyed (the even ones).
    let licensee = ActorId::new(caseledger_bench::LICENSEE)?;
    let mut terminations = Vec::new();
    for r in (0..records).step_by(2) {
        let ev = Event {
            record: Some(w.record_id(r)?),
            author: licensee.clone(),
            kind: EventKind::ServiceTerminated {
                terminated_on: w.occurred_on,
                reason: TerminationReason::Completed,
            },
            occurred_on: w.occurred_on,
            signed_at: w.signed_at,
            commitment: None,
            nonce: Nonce::random(),
        };
        terminations.push((ev.sign(w.origin(), &w.licensee)?, None));
    }
    batch(terminations)?;
    // Retention (five years from the termination) is over by the ledger clock.
    let later = Date::new(2031, 6, 2)?;
    let now = Timestamp(Timestamp::start_of(later)?.micros() + 12 * 3_600_000_000);
    hands.set(now);
    let custodian_id = ActorId::new("custodian")?;
    let (mut plain, mut destroy) = (Vec::new(), Vec::new());
    for r in (0..records).step_by(2) {
        let d = Event {
            record: Some(w.record_id(r)?),
            author: custodian_id.clone(),
            kind: EventKind::Destruction {
                reason: caseledger_core::event::ShortText::new("retention-over")?,
                citation: None,
            },
            occurred_on: later,
            signed_at: now,
            commitment: None,
            nonce: Nonce::random(),
        }
        .sign(w.origin(), &custodian)?;
        let c = Event {
            record: Some(w.record_id(r + 1)?),
            author: licensee.clone(),
            kind: EventKind::Contact,
            occurred_on: later,
            signed_at: now,
            commitment: None,
            nonce: Nonce::random(),
        }
        .sign(w.origin(), &w.licensee)?;
        let t = Instant::now();
        l.append(c, None)?;
        plain.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        l.append(d, None)?;
        destroy.push(t.elapsed().as_secs_f64() * 1e3);
    }
    l.close()?;
    // The raw operation alone: overwrite one 160-byte slot in place and fsync, on a copy
    // of the key store just used (same size, same filesystem).
    let copy = dir.join("keystore-copy");
    std::fs::copy(dir.join("keystore"), &copy)?;
    let mut f = std::fs::OpenOptions::new().write(true).open(&copy)?;
    let mut raw = Vec::new();
    for i in 0..DESTRUCTIONS {
        let t = Instant::now();
        f.seek(SeekFrom::Start(32 + 160 * i))?;
        f.write_all(&[0u8; 160])?;
        f.sync_all()?;
        raw.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median(&plain), median(&destroy), median(&raw)))
}

/// Runs the encryption rows (`--only crypto`); `p3` is P3's sealed median (events/s) from
/// this run, when P3 ran.
pub fn section(
    o: &Opts,
    dirs: &mut Dirs,
    wp: &WritePath,
    p3: Option<f64>,
    table: &mut Table,
) -> Res<()> {
    if !o.runs(Section::Crypto) {
        return Ok(());
    }
    let payloads: Vec<(u64, Payload)> = wp
        .events(AEAD_N as u64)
        .iter()
        .enumerate()
        .map(|(i, (_, p))| (i as u64 + 2, p.clone()))
        .collect();
    let len = payloads.first().map_or(0, |(_, p)| p.content().len());
    let mut reps: [Vec<f64>; 4] = Default::default();
    let (mut plain, mut destroy, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..o.reps {
        let m = aead_rep(&wp.w, &payloads)?;
        for (v, x) in reps.iter_mut().zip(m) {
            v.push(x);
        }
        let (p, d, k) = destruction_rep(&dirs.fresh("destroy"))?;
        log(format!(
            "rep {r}: per payload copy {:.2} µs, BLAKE3 {:.2} µs, seal {:.2} µs, open {:.2} µs; append {p:.2} ms, destruction {d:.2} ms, slot overwrite+fsync {k:.2} ms",
            m[0], m[1], m[2], m[3]
        ));
        plain.push(p);
        destroy.push(d);
        raw.push(k);
    }
    let [copy, hash, seal, open] = reps.each_ref().map(|v| median(v));
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    table.push(Row {
        target: format!("AEAD seal per payload ({len} B content)"),
        floor: format!("BLAKE3 {hash:.2} µs; memcpy {copy:.2} µs"),
        ours: format!("{seal:.2} µs"),
        ratio: format!("{:.1}x BLAKE3", seal / hash.max(1e-9)),
        goal: "-".to_owned(),
        verdict: Verdict::NotMeasured,
        note: format!(
            "HKDF entry key + XChaCha20-Poly1305 of salt‖len‖content padded to 256 B + BLAKE3 of the ciphertext (what the writer does per payload); {AEAD_N} payloads/rep; reps seal [{}] BLAKE3 [{}] memcpy [{}]",
            fmt(&reps[2]),
            fmt(&reps[1]),
            fmt(&reps[0])
        ),
    });
    table.push(Row {
        target: format!("AEAD open per payload ({len} B content)"),
        floor: format!("BLAKE3 {hash:.2} µs"),
        ours: format!("{open:.2} µs"),
        ratio: format!("{:.1}x BLAKE3", open / hash.max(1e-9)),
        goal: "-".to_owned(),
        verdict: Verdict::NotMeasured,
        note: format!(
            "HKDF entry key + decrypt + framing check (a payload read); reps [{}]",
            fmt(&reps[3])
        ),
    });
    if let Some(p3) = p3 {
        // P3 per event minus the writer's serial encryption time per event.
        let with = 1e6 / p3;
        let without = (with - seal).max(1e-9);
        let ratio = without / with;
        table.push(Row {
            target: "P3 content encryption cost: with vs without (estimated)".to_owned(),
            floor: format!("without {} ev/s", si(1e6 / without)),
            ours: format!("{} ev/s", si(p3)),
            ratio: format!("{:.0}%", ratio * 100.0),
            goal: ">= 90% (P3 drops <= 10%)".to_owned(),
            verdict: if ratio >= 0.9 {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note: format!(
                "the store cannot append payloads without a KEK (NoContentKey), so 'without' = P3's sealed median with the seal cost ({seal:.2} µs/payload, measured above) taken off each event's {with:.1} µs; record keys were made before the timed part (each record's first payload)"
            ),
        });
    }
    let (p, d, k) = (median(&plain), median(&destroy), median(&raw));
    table.push(Row {
        target: "Key store per destruction (Immediate, one writer)".to_owned(),
        floor: format!("plain append {p:.2} ms"),
        ours: format!("destruction {d:.2} ms"),
        ratio: format!("+{:.2} ms", d - p),
        goal: "-".to_owned(),
        verdict: Verdict::NotMeasured,
        note: format!(
            "{DESTRUCTIONS} lawful destructions/rep (records with 2 encrypted payloads: payload rows removed, sled flush, seal logged, then the key store slot overwritten + fsync), interleaved with as many plain Immediate appends; the slot overwrite + fsync alone (raw, on a copy of the file) {k:.2} ms; reps destruction [{}] plain [{}] raw [{}]",
            fmt(&destroy),
            fmt(&plain),
            fmt(&raw)
        ),
    });
    Ok(())
}
