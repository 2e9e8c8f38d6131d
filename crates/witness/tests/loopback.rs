//! The witness served in-process on 127.0.0.1 (port 0) and the client over real HTTP:
//! cosignatures checked by an independent C2SP implementation (Cloudflare's `signed_note`,
//! a port of Go's sumdb/note), concurrent submissions for one origin, the request size
//! bound, and the `GET /latest-checkpoint/<origin>` extension.

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{consistency_proof, root_at, Hash, MemoryNodes, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_witness::client::{self, Endpoint, Http, Policy, Transport};
use caseledger_witness::http::Running;
use caseledger_witness::protocol::MAX_REQUEST_BYTES;
use caseledger_witness::server::{LogKeys, Witness};
use caseledger_witness::state::StateDir;
use std::sync::Arc;
use std::time::Duration;

const ORIGIN: &str = "example.org/loopback";

fn log() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_seed(&[11; 32])).unwrap()
}

fn tree(n: u64) -> MemoryNodes {
    let leaves: Vec<Hash> = (0..n).map(|i| Hash(leaf(i))).collect();
    MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves)
}

fn leaf(i: u64) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(i.to_be_bytes()).into()
}

fn note(t: &MemoryNodes, size: u64) -> (String, Checkpoint) {
    let cp = Checkpoint::new(ORIGIN, size, root_at(&Sha256Hasher, t, size).unwrap()).unwrap();
    (sign_checkpoint(&cp, &log()), cp)
}

fn start(dir: &std::path::Path) -> (Running, Endpoint) {
    let logs = LogKeys::parse(&log().verifier().to_vkey_string()).unwrap();
    let w = Witness::new(
        "witness.example/w1",
        SigningKey::from_seed(&[12; 32]),
        logs,
        StateDir::open(dir).unwrap(),
    )
    .unwrap();
    let key = w.verifier().clone();
    let running = Running::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        Arc::new(w),
    )
    .unwrap();
    let ep = Endpoint {
        url: running.url(),
        key,
    };
    (running, ep)
}

/// cosignature/v1 (c2sp.org/tlog-cosignature) as a `signed_note` verifier, written from the
/// spec: the signature is `timestamp (8, big-endian) || Ed25519 over
/// "cosignature/v1\ntime <t>\n" || body`.
struct CosignatureV1 {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl signed_note::Verifier for CosignatureV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some((ts, sig)) = sig.split_first_chunk::<8>() else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        let mut m = format!("cosignature/v1\ntime {}\n", u64::from_be_bytes(*ts)).into_bytes();
        m.extend_from_slice(msg);
        self.key.verify_strict(&m, &sig).is_ok()
    }
}

#[test]
fn cosignatures_verify_with_an_independent_signed_note_implementation() {
    let t = tempfile::tempdir().unwrap();
    let (_running, ep) = start(t.path());
    let tr = tree(5);
    let (n, cp) = note(&tr, 5);
    let http = Http::new(Duration::from_secs(5));
    let mut none = |_, _| Ok(vec![]);
    let c = client::submit(&http, &ep, &n, &cp, 0, &mut none, &Policy::default()).unwrap();
    let cosigned = format!("{n}{}", c.line);
    // The key id from the independent implementation matches the one in our key string.
    let pk = ep.key.public_key().0;
    let mut raw = vec![0x04];
    raw.extend_from_slice(&pk);
    let id = signed_note::key_id(ep.key.name(), &raw);
    assert_eq!(id, ep.key.key_id());
    let list = signed_note::VerifierList::new(vec![
        Box::new(signed_note::StandardVerifier::new(&log().verifier().to_vkey_string()).unwrap()),
        Box::new(CosignatureV1 {
            name: ep.key.name().to_owned(),
            id,
            key: ed25519_dalek::VerifyingKey::from_bytes(&pk).unwrap(),
        }),
    ]);
    let parsed = signed_note::Note::from_bytes(cosigned.as_bytes()).unwrap();
    let (verified, unverified) = parsed.verify(&list).unwrap();
    assert_eq!(verified.len(), 2, "the log's signature and the cosignature");
    assert!(unverified.is_empty());
    // A cosignature over another checkpoint does not verify there.
    let (other, _) = note(&tree(6), 6);
    let forged = format!("{other}{}", c.line);
    let parsed = signed_note::Note::from_bytes(forged.as_bytes()).unwrap();
    assert!(parsed.verify(&list).is_err());
}

#[test]
fn concurrent_submissions_never_roll_the_witness_back() {
    let t = tempfile::tempdir().unwrap();
    let (_running, ep) = start(t.path());
    let tr = Arc::new(tree(64));
    // Four clients race with different sizes of one log, each from old 0 (409s tell them the
    // size held). Every size cosigned must be covered by what the witness ends up holding.
    let handles: Vec<_> = (0..4u64)
        .map(|k| {
            let (tr, ep) = (tr.clone(), ep.clone());
            std::thread::spawn(move || {
                let http = Http::new(Duration::from_secs(5));
                let policy = Policy {
                    max_conflicts: 8,
                    ..Policy::default()
                };
                let mut cosigned = Vec::new();
                for i in 0..8u64 {
                    let size = 1 + i * 8 + k * 2;
                    let (n, cp) = note(&tr, size);
                    let mut proof = |m, s| {
                        consistency_proof(&Sha256Hasher, &*tr, m, s).map_err(|e| e.to_string())
                    };
                    // A later size than ours may win the race: then ours is refused as
                    // behind (Ahead), never cosigned after it.
                    if let Ok(c) = client::submit(&http, &ep, &n, &cp, 0, &mut proof, &policy) {
                        cosigned.push((size, c.timestamp));
                    }
                }
                cosigned
            })
        })
        .collect();
    let all: Vec<(u64, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(!all.is_empty());
    let http = Http::new(Duration::from_secs(5));
    let latest = client::latest_checkpoint(&http, &ep, ORIGIN)
        .unwrap()
        .unwrap();
    let held: u64 = latest.lines().nth(1).unwrap().parse().unwrap();
    let max = all.iter().map(|(s, _)| *s).max().unwrap();
    assert_eq!(held, max, "the witness holds the largest size it cosigned");
}

#[test]
fn oversized_bodies_unknown_paths_and_the_latest_checkpoint_extension() {
    let t = tempfile::tempdir().unwrap();
    let (_running, ep) = start(t.path());
    let http = Http::new(Duration::from_secs(5));
    let big = vec![b'a'; MAX_REQUEST_BYTES + 1];
    let r = http
        .post(&format!("{}/add-checkpoint", ep.url), &big)
        .unwrap();
    assert_eq!(r.status, 413);
    let r = http.post(&format!("{}/nope", ep.url), b"x").unwrap();
    assert_eq!(r.status, 404);
    // Nothing cosigned yet: 404 for the origin.
    assert_eq!(client::latest_checkpoint(&http, &ep, ORIGIN).unwrap(), None);
    let tr = tree(3);
    let (n, cp) = note(&tr, 3);
    let mut none = |_, _| Ok(vec![]);
    let c = client::submit(&http, &ep, &n, &cp, 0, &mut none, &Policy::default()).unwrap();
    let latest = client::latest_checkpoint(&http, &ep, ORIGIN)
        .unwrap()
        .unwrap();
    assert_eq!(latest, format!("{n}{}", c.line));
    // The origin's slash may also be sent as is.
    let r = http
        .get(&format!("{}/latest-checkpoint/{ORIGIN}", ep.url))
        .unwrap();
    assert_eq!((r.status, r.body), (200, latest.into_bytes()));
}
