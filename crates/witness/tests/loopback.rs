//! The witness served in-process on 127.0.0.1 (port 0) and the client over real HTTP:
//! cosignatures checked by an independent C2SP implementation (Cloudflare's `signed_note`,
//! a port of Go's sumdb/note), concurrent submissions for one origin, the request size
//! bound, the `GET /latest-checkpoint/<origin>` extension, and a slowloris client cut off.

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{consistency_proof, root_at, Hash, MemoryNodes, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_witness::client::{self, Endpoint, Http, Policy, Transport};
use caseledger_witness::http::{Limits, Running};
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
    start_with(dir, Limits::default())
}

fn start_with(dir: &std::path::Path, limits: Limits) -> (Running, Endpoint) {
    let logs = LogKeys::parse(&log().verifier().to_vkey_string()).unwrap();
    let w = Witness::new(
        "witness.example/w1",
        SigningKey::from_seed(&[12; 32]),
        logs,
        StateDir::open(dir).unwrap(),
    )
    .unwrap();
    let key = w.verifier().clone();
    let running = Running::start_with(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        Arc::new(w),
        limits,
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

/// Slowloris: a client that sends its request headers one byte at a time (never finishing
/// them) is disconnected once the connection's lifetime is over, while it still has bytes
/// to send; a connection that never sends anything is too; the slots it held are freed,
/// and a normal request on a new connection is answered.
#[test]
fn a_client_sending_headers_byte_by_byte_is_cut_off_after_a_bounded_time() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let t = tempfile::tempdir().unwrap();
    let lifetime = Duration::from_millis(1500);
    let (running, ep) = start_with(
        t.path(),
        Limits {
            lifetime,
            connections: 2,
        },
    );
    let addr = running.addr();
    // Two silent connections hold both slots for the lifetime, then are closed.
    let silent: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let head = b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nX-Slow: ";
    let started = Instant::now();
    let mut cut_after = None;
    // At most 20 s of dribbling, one byte per 100 ms, the header never ends.
    for i in 0..200 {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if slow.write_all(&[byte]).is_err() {
            cut_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(0) => {
                cut_after = Some(started.elapsed());
                break;
            }
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                cut_after = Some(started.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let cut_after = cut_after.expect("the slow client is disconnected");
    // It waited for a slot (the silent ones' lifetime), then had its own lifetime.
    assert!(
        cut_after < lifetime * 2 + Duration::from_secs(2),
        "{cut_after:?}"
    );
    assert!(cut_after >= lifetime, "{cut_after:?}");
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // Closed by the witness: end of stream (or a reset), never a timeout.
        match s.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
    }
    let r = Http::new(Duration::from_secs(5))
        .get(&format!("{}/latest-checkpoint/{ORIGIN}", ep.url))
        .unwrap();
    assert_eq!(r.status, 404);
}
