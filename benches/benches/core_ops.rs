//! Criterion benches of caseledger's hot operations, on the workload's realistic entries
//! (1 KiB payloads): encode/decode an entry, the entry hash and payload commitment, Merkle
//! append, inclusion and consistency proofs (generation and verification) at 1M leaves, and
//! author signature verification, single and batched.
//!
//! Run with `cargo bench -p caseledger-bench --bench core_ops`.

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented public function"
)]

use caseledger_bench::{signature_parts, Chain, Workload};
use caseledger_core::event::Entry;
use caseledger_core::hash;
use caseledger_core::merkle::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion, CompactRange,
    MemoryNodes, Sha256Hasher, TreeHasher,
};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const H: Sha256Hasher = Sha256Hasher;
/// Tree size for the proof benches (the P6 size).
const TREE: u64 = 1_000_000;

fn entries(c: &mut Criterion) {
    let w = Workload::new(100);
    let mut chain = Chain::new();
    chain.push(w.genesis().expect("genesis")).expect("chain");
    chain
        .push(w.enrolment().expect("enrolment"))
        .expect("chain");
    let (ev, payload) = w.event(1234).expect("event");
    let bytes = chain.push(ev).expect("chain");
    let entry = Entry::from_bytes(&bytes).expect("decode");

    let mut g = c.benchmark_group("entry");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| {
        b.iter(|| black_box(&entry).to_bytes().expect("encode"))
    });
    g.bench_function("encode_into_reused_buf", |b| {
        let mut buf = Vec::with_capacity(512);
        b.iter(|| {
            buf.clear();
            caseledger_core::encoding::encode_into(black_box(&entry), &mut buf).expect("encode");
            buf.len()
        })
    });
    g.bench_function("decode_canonical", |b| {
        b.iter(|| Entry::from_bytes(black_box(&bytes)).expect("decode"))
    });
    g.bench_function("hash", |b| b.iter(|| hash::entry_hash(black_box(&bytes))));
    g.bench_function("payload_commitment_1KiB", |b| {
        b.iter(|| hash::payload_commitment(black_box(payload.salt()), black_box(payload.content())))
    });
    g.finish();
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<caseledger_core::Hash> =
        (0..TREE).map(|i| H.hash_leaf(&i.to_be_bytes())).collect();
    let tree = MemoryNodes::from_leaf_hashes(&H, &leaves);
    let root = tree.range().root(&H);
    let old_size = TREE / 3 + 17;
    let old_root = caseledger_core::merkle::root_at(&H, &tree, old_size).expect("root");
    let index = TREE / 2 + 12_345;
    let incl = inclusion_proof(&H, &tree, index, TREE).expect("proof");
    let cons = consistency_proof(&H, &tree, old_size, TREE).expect("proof");

    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("compact_range_append", |b| {
        b.iter_batched_ref(
            || {
                let mut r = CompactRange::new();
                for l in &leaves[..4096] {
                    r.append(&H, *l).expect("append");
                }
                r
            },
            |r| r.append(&H, black_box(leaves[4096])).expect("append"),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("inclusion_proof_1M", |b| {
        b.iter(|| inclusion_proof(&H, &tree, black_box(index), TREE).expect("proof"))
    });
    g.bench_function("consistency_proof_1M", |b| {
        b.iter(|| consistency_proof(&H, &tree, black_box(old_size), TREE).expect("proof"))
    });
    let leaf = leaves[usize::try_from(index).expect("index")];
    g.bench_function("verify_inclusion_1M", |b| {
        b.iter(|| verify_inclusion(&H, black_box(index), TREE, &leaf, &incl, &root).expect("ok"))
    });
    g.bench_function("verify_consistency_1M", |b| {
        b.iter(|| {
            verify_consistency(&H, black_box(old_size), TREE, &cons, &old_root, &root).expect("ok")
        })
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let w = Workload::new(100);
    let events = w.events(0..256).expect("events");
    let key = w.licensee.public_key();
    let vk = w.licensee_verifying_key().expect("key");
    let (msgs, sigs): (Vec<Vec<u8>>, Vec<ed25519_dalek::Signature>) = events
        .iter()
        .map(|(e, _)| signature_parts(e).expect("encode"))
        .unzip();

    let mut g = c.benchmark_group("signature");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signed_event_verify", |b| {
        b.iter(|| {
            events[0]
                .0
                .verify(w.origin(), black_box(&key))
                .expect("valid")
        })
    });
    g.bench_function("verify_strict_single", |b| {
        b.iter(|| {
            key.verify(black_box(&msgs[0]), events[0].0.signature.bytes())
                .expect("valid")
        })
    });
    for n in [16usize, 64, 256] {
        g.throughput(Throughput::Elements(n as u64));
        let refs: Vec<&[u8]> = msgs[..n].iter().map(Vec::as_slice).collect();
        let vks = vec![vk; n];
        g.bench_function(format!("verify_batch_{n}"), |b| {
            b.iter(|| ed25519_dalek::verify_batch(black_box(&refs), &sigs[..n], &vks).expect("ok"))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = entries, merkle, signatures
}
criterion_main!(benches);
