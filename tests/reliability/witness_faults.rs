//! Campaign 8 (issue 17): `caseledger witness serve` killed with SIGKILL while a log streams
//! `add-checkpoint` requests to it.
//!
//! A synthetic log (a Merkle tree of seeded leaves, its checkpoints signed by the log key the
//! witness trusts) sends checkpoints of growing sizes, each from the size it was last
//! cosigned at, through the project's witness client; every cosignature it gets back is
//! verified with the witness key and counted as acknowledged. The parent kills the witness
//! at a seeded moment after the round's first cosignature and starts it again on the same
//! state directory. Before the log may go on, the restarted witness must:
//!
//! * hold, for the log's origin, a checkpoint at least as large as every one it cosigned
//!   and answered (at most the one in flight more): no acknowledged cosignature forgotten;
//! * refuse a fork: a checkpoint of the size it holds with another root, and one a leaf
//!   larger whose first leaves differ (with that fork's own consistency proof);
//! * refuse the log's own older checkpoint (a rollback).
//!
//! Deliberately broken variant: `CASELEDGER_BREAK=witness-forget` empties the state
//! directory before the restart (a witness that does not persist what it signed).

use crate::harness;
use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint, CosignatureVerifier};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{consistency_proof, root_at, Hash, MemoryNodes, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_testkit::cli::Fixture;
use caseledger_testkit::server::ServerProc;
use caseledger_witness::client::{self, Endpoint, Http, Policy, SubmitError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

/// The log's note, signed by `log`, for the first `size` leaves of `t`.
fn log_note(log: &NoteSigner, t: &MemoryNodes, size: u64) -> (String, Checkpoint) {
    let cp = Checkpoint::new(
        log.name(),
        size,
        root_at(&Sha256Hasher, t, size).expect("root"),
    )
    .expect("checkpoint");
    (sign_checkpoint(&cp, log), cp)
}

fn leaf(i: u64, salt: u8) -> Hash {
    let mut b = i.to_be_bytes().to_vec();
    b.push(salt);
    Hash(*blake3::hash(&b).as_bytes())
}

#[test]
fn kill_9_of_the_witness_forgets_no_cosignature_and_never_cosigns_a_fork() {
    let kills = harness::count(20, 300);
    let n: u64 = harness::count(4_000, 40_000);
    let mut rng = ChaCha8Rng::seed_from_u64(harness::seed(18));
    let started = Instant::now();
    let f = Fixture::empty();
    let log = NoteSigner::new("example.org/stream", SigningKey::from_seed(&[4; 32])).expect("log");
    f.write("logs.txt", format!("{}\n", log.verifier()).as_bytes());
    let leaves: Vec<Hash> = (0..n).map(|i| leaf(i, 0)).collect();
    let t = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves);
    let start = || ServerProc::witness(f.dir(), "w.example", "w.pem", "logs.txt", "state");
    let endpoint = |w: &ServerProc| Endpoint {
        url: format!("http://{}", w.addr),
        key: CosignatureVerifier::parse(w.key.as_deref().expect("key")).expect("witness key"),
    };
    let http = Http::new(Duration::from_secs(5));
    let once = Policy {
        attempts: 1,
        ..Policy::default()
    };
    let forget = harness::broken("witness-forget");
    let (mut acked, mut cosignatures) = (0u64, 0u64);
    let (mut in_flight_kept, mut forks_refused, mut rollbacks_refused) = (0u64, 0u64, 0u64);
    let mut w = start();
    for k in 0..kills {
        // The log streams to it until a timer kills it, 5-80 ms (seeded) from now.
        let ep = endpoint(&w);
        let pid = w.pid().to_string();
        let delay = Duration::from_millis(rng.gen_range(5..80));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .expect("kill");
        });
        loop {
            let size = acked + rng.gen_range(1..=3);
            assert!(size <= n, "the log ran out of leaves: raise n");
            let (note, cp) = log_note(&log, &t, size);
            let mut proof =
                |a, b| consistency_proof(&Sha256Hasher, &t, a, b).map_err(|e| e.to_string());
            match client::submit(&http, &ep, &note, &cp, acked, &mut proof, &once) {
                Ok(c) => {
                    assert!(
                        ep.key.verify_line(&cp, &c.line).is_ok(),
                        "size {size}: a cosignature that does not verify"
                    );
                    acked = size;
                    cosignatures += 1;
                }
                Err(SubmitError::Unreachable { .. }) => break,
                Err(e) => panic!("round {k}: size {size} from {acked}: {e}"),
            }
        }
        killer.join().expect("killer");
        w.kill9();
        if forget {
            for e in std::fs::read_dir(f.path("state")).unwrap() {
                std::fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        w = start();
        let ep = endpoint(&w);
        let latest = client::latest_checkpoint(&http, &ep, log.name()).expect("latest answered");
        let held: u64 = latest
            .as_deref()
            .and_then(|n| n.lines().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(
            held >= acked,
            "after kill {k}: the witness holds size {held}, but cosigned and answered {acked}: an acknowledged cosignature was lost"
        );
        assert!(
            held <= acked + 3,
            "after kill {k}: the witness holds {held}, beyond the request in flight ({acked} + at most 3)"
        );
        in_flight_kept += u64::from(held > acked);
        // A fork of the size it holds, and one a leaf larger (with its own proof): refused.
        let fork_leaves: Vec<Hash> = (0..=held).map(|i| leaf(i, 1)).collect();
        let fork = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &fork_leaves);
        let mut fork_proof =
            |a, b| consistency_proof(&Sha256Hasher, &fork, a, b).map_err(|e| e.to_string());
        for size in [held, held + 1] {
            if size == 0 {
                continue;
            }
            let (note, cp) = log_note(&log, &fork, size);
            let r = client::submit(&http, &ep, &note, &cp, held, &mut fork_proof, &once);
            assert!(
                !matches!(r, Ok(_) | Err(SubmitError::Unreachable { .. })),
                "after kill {k}: a fork of size {size} was not refused by a witness holding {held}: {r:?}"
            );
            forks_refused += 1;
        }
        if held > 1 {
            rollbacks_refused += 1;
            // The log's own older checkpoint: refused (the witness is ahead).
            let (note, cp) = log_note(&log, &t, held - 1);
            let mut none = |_, _| Ok(vec![]);
            assert_eq!(
                client::submit(&http, &ep, &note, &cp, 0, &mut none, &once),
                Err(SubmitError::Ahead {
                    witness: held,
                    size: held - 1
                }),
                "after kill {k}: a rollback"
            );
        }
        // The honest log goes on from what the witness holds.
        acked = held;
    }
    w.kill9();
    println!(
        "witness kill -9: {kills} kills, {} cosignatures acknowledged up to size {}, 0 lost; {in_flight_kept} restarts held the checkpoint in flight when killed; {forks_refused} forks and {rollbacks_refused} rollbacks refused after restarts, {:.1} s",
        cosignatures,
        acked,
        started.elapsed().as_secs_f64()
    );
}
