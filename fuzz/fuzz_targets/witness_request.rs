//! tlog-witness `add-checkpoint` request bodies (crates/witness), as the witness server
//! answers them: never panics; a body that parses prints back to exactly the input
//! (`old <size>`, canonical base64 proof lines, the note verbatim); a `200` answer is
//! only ever a cosignature, by this witness, of a checkpoint the log key signed.
#![no_main]

use caseledger_core::checkpoint::{open_checkpoint, CosignatureVerifier};
use caseledger_core::keys::SigningKey;
use caseledger_core::note::NoteSigner;
use caseledger_witness::protocol::{AddCheckpoint, Reply};
use caseledger_witness::server::{LogKeys, Witness};
use caseledger_witness::state::StateDir;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The golden ledger's origin and log key (ledger-data/vectors/golden-ledger.json, seed 02):
/// the seed corpus holds requests carrying its real checkpoint.
const ORIGIN: &str = "golden.caseledger.example/test-ledger";
const NOW: u64 = 1_700_000_000;

fn log() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_seed(&[2; 32])).expect("signer")
}

/// One state directory per fuzzing process (under fuzz/target, git-ignored). Every input
/// is judged by a witness with an empty memory, so that a finding replays: the witness is
/// kept across inputs while it cosigned nothing (its state is unchanged, and making one
/// per input, directory and all, would cost most of the time), and is made afresh on an
/// emptied directory after each cosignature.
fn state_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("witness-state-{}", std::process::id()))
    })
}

fn fresh_witness() -> Witness {
    let dir = state_dir();
    let _ = std::fs::remove_dir_all(dir);
    let logs = LogKeys::parse(&log().verifier().to_vkey_string()).expect("log keys");
    Witness::new(
        "witness.fuzz.example",
        witness_key(),
        logs,
        StateDir::open(dir).expect("state dir"),
    )
    .expect("witness")
}

fn witness_key() -> SigningKey {
    SigningKey::from_seed(&[9; 32])
}

fuzz_target!(|data: &[u8]| {
    static WITNESS: Mutex<Option<Witness>> = Mutex::new(None);
    if let Ok(req) = AddCheckpoint::parse(data) {
        assert_eq!(
            req.to_body().as_bytes(),
            data,
            "parse/print is not the identity"
        );
    }
    let mut slot = WITNESS.lock().unwrap_or_else(PoisonError::into_inner);
    let w = slot.get_or_insert_with(fresh_witness);
    assert!(
        w.latest_checkpoint(ORIGIN).is_none(),
        "a witness with a memory"
    );
    let reply = w.add_checkpoint(data, NOW);
    if let Reply::Cosigned(line) = reply {
        let req = AddCheckpoint::parse(data).expect("a cosigned request parses");
        let opened = open_checkpoint(&req.note, &[log().verifier()])
            .expect("a cosigned checkpoint is signed by the log key");
        let v = CosignatureVerifier::new("witness.fuzz.example", witness_key().public_key())
            .expect("v");
        assert_eq!(
            v.verify_line(&opened.checkpoint, &line)
                .expect("the cosignature verifies"),
            NOW
        );
        // It remembers what it cosigned (the rollback check of the next request).
        assert!(w.latest_checkpoint(ORIGIN).is_some());
        *slot = None;
    }
});
